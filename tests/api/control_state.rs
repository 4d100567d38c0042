//! `/_emulator/seed`, `/_emulator/state`, start-up files and durable state across restarts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use partner_center_emulator::{Config, startup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const POLICY: &str = "15a04610-9229-4e80-94e0-0e826a09c9e2";
const DEVICE: &str = "7c141ea9-2816-4e15-a819-53f6856499ff";

fn seed_document() -> Value {
    json!({"customers": [{
        "id": CUSTOMER,
        "policies": [{"id": POLICY, "name": "Kiosk", "policySettings": ["skip_eula"]}],
        "batches": [{"id": "Lab", "creationDate": "2026-11-20T08:00:00Z", "devices": [
            {"id": DEVICE, "serialNumber": "2R9-ZNP67", "oemManufacturerName": "Dell Inc.", "modelName": "T7500", "policyId": POLICY},
            {"status": "otherTenant", "productKey": "TAKEN-ELSEWHERE"}
        ]}]
    }]})
}

#[tokio::test]
async fn a_seeded_state_is_served_and_its_foreign_devices_answer_808() {
    let app = spawn_app().await;
    let response = app
        .control(Method::POST, "/_emulator/seed", Some(&seed_document()))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().unwrap(),
        json!({"customers": 1, "batches": 1, "devices": 2, "policies": 1})
    );
    let devices = app
        .get_json(&format!(
            "/v1/customers/{CUSTOMER}/deviceBatches/Lab/devices"
        ))
        .await;
    assert_eq!(
        devices["items"],
        json!([{"id": DEVICE, "serialNumber": "2R9-ZNP67", "modelName": "T7500", "oemManufacturerName": "Dell Inc.",
                "policies": [{"key": "o_o_b_e", "value": "Kiosk"}], "uploadedDate": "2026-11-21T10:00:00+00:00",
                "attributes": {"objectType": "Device"}}])
    );
    let location = app
        .add_devices(CUSTOMER, "Lab", json!([pk("TAKEN-ELSEWHERE")]))
        .await;
    app.finish_jobs();
    assert_eq!(
        app.job(&location).await["devicesStatus"][0]["errorCode"],
        "808"
    );
}

#[tokio::test]
async fn export_reset_seed_round_trips_exactly() {
    let app = spawn_app().await;
    app.control(Method::POST, "/_emulator/seed", Some(&seed_document()))
        .await;
    app.create_batch(
        OTHER_CUSTOMER,
        "Fresh",
        json!([{"hardwareHash": "AAEC", "serialNumber": "S"}, pk("K")]),
    )
    .await;
    let pending = app
        .create_batch(CUSTOMER, "Pending", json!([pk("P1")]))
        .await;
    let exported = exported_state(&app).await;
    assert_eq!(exported["version"], 2);
    assert!(
        !exported.to_string().contains("AAEC"),
        "hashes are exported as digests only"
    );

    app.control(Method::POST, "/_emulator/reset", None).await;
    let mut reseed = exported.clone();
    reseed.as_object_mut().unwrap().remove("clock");
    let response = app
        .control(Method::POST, "/_emulator/seed", Some(&reseed))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let again = exported_state(&app).await;
    assert_eq!(again, exported);
    // The in-flight job came back with its schedule, and with its batch: the batch's status
    // follows it.
    let batch_status = || async {
        let batches = app
            .get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
            .await;
        let pending = batches["items"].as_array().unwrap().iter();
        pending
            .map(|b| (b["id"].clone(), b["status"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(app.job(&pending).await["status"], "queued");
    assert_eq!(
        batch_status().await,
        [
            (json!("Lab"), json!("finished")),
            (json!("Pending"), json!("queued"))
        ]
    );
    app.finish_jobs();
    assert_eq!(app.job(&pending).await["status"], "finished");
    assert_eq!(
        batch_status().await[1],
        (json!("Pending"), json!("finished"))
    );
}

#[tokio::test]
async fn an_invalid_seed_names_the_entry_and_applies_nothing() {
    let app = spawn_app().await;
    let mut doc = seed_document();
    doc["customers"][0]["batches"][0]["devices"][1] = json!({"serialNumber": "only-a-serial"});
    let response = app
        .control(Method::POST, "/_emulator/seed", Some(&doc))
        .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        envelope(
            800002,
            "Invalid request input: `customers[0].batches[0].devices[1]` carries none of the accepted identifier combinations: hardwareHash + productKey; hardwareHash + serialNumber; hardwareHash + productKey + serialNumber; hardwareHash only; productKey only; serialNumber + oemManufacturerName + modelName.",
            &["customers[0].batches[0].devices[1]"],
        ),
    )
    .await;
    let typo = app
        .control(
            Method::POST,
            "/_emulator/seed",
            Some(&json!({"customers": [{"id": CUSTOMER, "batchez": []}]})),
        )
        .await;
    assert_eq!(typo.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
            .await["totalCount"],
        0
    );
    assert_eq!(
        app.get_json(&format!("/v1/customers/{CUSTOMER}/policies"))
            .await["totalCount"],
        0
    );
}

/// The seed document with `count` finished jobs, each with one line.
fn document_with_jobs(count: usize) -> Value {
    let mut doc = seed_document();
    doc["customers"][0]["jobs"] = (0..count)
        .map(|n| {
            json!({
                "id": format!("5d1c3a2e-8f7b-4c6d-9e0a-{n:012x}"),
                "acceptedAt": "2026-11-20T08:00:00Z",
                "startedAt": "2026-11-20T08:00:01Z",
                "completedAt": "2026-11-20T08:00:03Z",
                "entries": [{"productKey": format!("PK-{n}"), "errorCode": "808"}]
            })
        })
        .collect();
    doc
}

/// A customer with many jobs has them read on a second thread while its devices are read: the
/// answers are those of one after the other, the devices' problem first.
#[tokio::test]
async fn a_seed_with_ten_thousand_jobs_is_read_whole_and_names_its_first_problem() {
    const JOBS: usize = 10_000;
    let app = spawn_app().await;
    let mut repeated = document_with_jobs(JOBS);
    repeated["customers"][0]["jobs"][JOBS - 1]["id"] =
        json!("5d1c3a2e-8f7b-4c6d-9e0a-000000000000");
    let response = app
        .control(Method::POST, "/_emulator/seed", Some(&repeated))
        .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        envelope(
            800002,
            "Invalid request input: `customers[0].jobs[9999].id` job `5d1c3a2e-8f7b-4c6d-9e0a-000000000000` already exists.",
            &["customers[0].jobs[9999].id"],
        ),
    )
    .await;
    let mut both = repeated.clone();
    both["customers"][0]["batches"][0]["devices"][1] = json!({"modelName": "M"});
    let response = app
        .control(Method::POST, "/_emulator/seed", Some(&both))
        .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        envelope(
            800002,
            "Invalid request input: `customers[0].batches[0].devices[1]` carries none of the accepted identifier combinations: hardwareHash + productKey; hardwareHash + serialNumber; hardwareHash + productKey + serialNumber; hardwareHash only; productKey only; serialNumber + oemManufacturerName + modelName.",
            &["customers[0].batches[0].devices[1]"],
        ),
    )
    .await;
    assert_eq!(exported_state(&app).await["customers"], json!([]));

    let response = app
        .control(
            Method::POST,
            "/_emulator/seed",
            Some(&document_with_jobs(JOBS)),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let exported = exported_state(&app).await;
    let jobs = exported["customers"][0]["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), JOBS);
    assert_eq!(
        jobs[JOBS - 1]["entries"][0]["productKey"],
        format!("PK-{}", JOBS - 1)
    );
    assert_eq!(
        exported["customers"][0]["batches"][0]["devices"][0]["serialNumber"],
        "2R9-ZNP67"
    );
}

/// A job line whose serial number no upload could have sent: it used to export back cut to
/// 65,535 characters, with the product key after it read back as `""`.
fn document_with_a_long_job_line(serial_chars: usize) -> Value {
    json!({"customers": [{
        "id": CUSTOMER,
        "jobs": [{
            "id": "5d1c3a2e-8f7b-4c6d-9e0a-1b2c3d4e5f60",
            "acceptedAt": "2026-11-20T08:00:00Z",
            "startedAt": "2026-11-20T08:00:01Z",
            "completedAt": "2026-11-20T08:00:03Z",
            "entries": [{"serialNumber": "S".repeat(serial_chars), "productKey": "PK-1", "errorCode": "808"}]
        }]
    }]})
}

#[tokio::test]
async fn a_job_line_over_the_field_limit_is_refused_not_truncated() {
    let app = spawn_app().await;
    let response = app
        .control(
            Method::POST,
            "/_emulator/seed",
            Some(&document_with_a_long_job_line(70_000)),
        )
        .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        envelope(
            800002,
            "Invalid request input: `customers[0].jobs[0].entries[0].serialNumber` must be at most 1024 characters (got 70000).",
            &["customers[0].jobs[0].entries[0].serialNumber"],
        ),
    )
    .await;

    // At the limit, the line exports back exactly, product key included.
    let at_limit = document_with_a_long_job_line(1024);
    let response = app
        .control(Method::POST, "/_emulator/seed", Some(&at_limit))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let exported = exported_state(&app).await;
    let line = &exported["customers"][0]["jobs"][0]["entries"][0];
    assert_eq!(line["serialNumber"], "S".repeat(1024));
    assert_eq!(line["productKey"], "PK-1");

    // The same document is refused, naming the same entry, by `--seed`.
    let err = start_up_error(&document_with_a_long_job_line(70_000), false);
    assert!(
        err.contains("customers[0].jobs[0].entries[0].serialNumber"),
        "{err}"
    );
}

/// `--seed`, `--state-file` and `POST /_emulator/seed` read a document with one loader: each
/// names the same failing entry, for a shape problem and for a rule problem alike.
#[tokio::test]
async fn every_loader_names_the_failing_entry() {
    let mut not_an_object = seed_document();
    not_an_object["customers"][0]["batches"][0]["devices"][1] = json!(["productKey", "K"]);
    let mut wrong_type = seed_document();
    wrong_type["customers"][0]["batches"][0]["devices"][1]["productKey"] = json!(5);
    let mut no_identifiers = seed_document();
    no_identifiers["customers"][0]["batches"][0]["devices"][1] = json!({"modelName": "M"});
    for (mut doc, entry) in [
        (not_an_object, "customers[0].batches[0].devices[1]"),
        (wrong_type, "customers[0].batches[0].devices[1].productKey"),
        (no_identifiers, "customers[0].batches[0].devices[1]"),
    ] {
        let app = spawn_app().await;
        let response = app
            .control(Method::POST, "/_emulator/seed", Some(&doc))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().unwrap();
        assert_eq!(body["data"], json!([entry]), "{body}");

        let err = start_up_error(&doc, false);
        assert!(err.contains(&format!("`{entry}` ")), "--seed: {err}");

        doc["version"] = json!(1);
        let err = start_up_error(&doc, true);
        assert!(err.contains(&format!("`{entry}` ")), "--state-file: {err}");
    }
}

/// `GET /_emulator/state`, as JSON.
async fn exported_state(app: &TestApp) -> Value {
    app.control(Method::GET, "/_emulator/state", None)
        .await
        .json::<Value>()
        .expect("the state is JSON")
}

/// Why start-up refuses `doc` written as the `--seed` file (or, with `state_file`, the
/// `--state-file`).
fn start_up_error(doc: &Value, state_file: bool) -> String {
    let dir = temp_dir();
    let file = dir.join("document.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let mut config = Config::for_tests();
    if state_file {
        config.state_file = Some(file);
    } else {
        config.seed = Some(file);
    }
    let err = startup::build(config).expect_err("start-up refuses the document");
    std::fs::remove_dir_all(dir).unwrap();
    err
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pce-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn seed_and_faults_files_are_loaded_at_start_up() {
    let dir = temp_dir();
    std::fs::write(dir.join("seed.json"), seed_document().to_string()).unwrap();
    std::fs::write(
        dir.join("faults.json"),
        json!([{"method": "DELETE", "status": 409}]).to_string(),
    )
    .unwrap();
    let mut config = Config::for_tests();
    config.seed = Some(dir.join("seed.json"));
    config.faults = Some(dir.join("faults.json"));
    config.clock = partner_center_emulator::config::ClockMode::Manual;
    config.clock_start = partner_center_emulator::domain::timestamp::Timestamp::parse_rfc3339(T0);
    let app = spawn_state(startup::build(config).unwrap()).await;
    assert_eq!(
        app.get_json(&format!("/v1/customers/{CUSTOMER}/policies"))
            .await["totalCount"],
        1
    );
    let faults = app
        .control(Method::GET, "/_emulator/faults", None)
        .await
        .json::<Value>()
        .unwrap();
    assert_eq!(faults["faults"][0]["status"], 409);

    std::fs::write(dir.join("bad.json"), json!([{"status": 200}]).to_string()).unwrap();
    let mut config = Config::for_tests();
    config.faults = Some(dir.join("bad.json"));
    let err = startup::build(config).unwrap_err();
    assert!(
        err.contains("[0].status` must be a 4xx or 5xx status, got 200."),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The emulator binary, started with `args`, its address read from its JSON log.
/// The binary on a manual clock at `T0` (see `helpers::Binary`).
struct Emulator;

impl Emulator {
    fn start(args: &[&str]) -> Binary {
        let mut all = vec!["--clock", "manual", "--clock-start", T0];
        all.extend(args);
        Binary::start(&all)
    }
}

/// Waits (real time: persistence runs on a real interval) until the state file mentions `needle`.
fn wait_for_file(path: &Path, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if on_disk(path).contains(needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} never mentioned {needle}", path.display());
}

async fn populate(app: &TestApp) -> (String, String) {
    let policy = app.create_policy(CUSTOMER, "Persisted profile").await;
    let location = app
        .create_batch(CUSTOMER, "Durable", json!([pk("K1"), pk("K2")]))
        .await;
    (policy["id"].as_str().unwrap().to_owned(), location)
}

async fn assert_restored(app: &TestApp, policy: &str, location: &str) {
    assert_eq!(
        app.get_json(&format!("/v1/customers/{CUSTOMER}/policies/{policy}"))
            .await["name"],
        "Persisted profile"
    );
    assert_eq!(
        app.get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
            .await["items"][0]["id"],
        "Durable"
    );
    // The job resumes where the (restored manual) clock says it is.
    assert_eq!(app.job(location).await["status"], "queued");
    let advanced = app
        .control(
            Method::POST,
            "/_emulator/clock/advance",
            Some(&json!({"seconds": 3})),
        )
        .await;
    assert_eq!(advanced.status(), StatusCode::OK);
    assert_eq!(app.job(location).await["status"], "finished");
    assert_eq!(
        app.get_json(&format!(
            "/v1/customers/{CUSTOMER}/deviceBatches/Durable/devices"
        ))
        .await["totalCount"],
        2
    );
}

#[tokio::test]
async fn state_survives_a_graceful_restart() {
    let dir = temp_dir();
    let file = dir.join("state.json");
    let file_arg = file.to_str().unwrap();
    let first = Emulator::start(&["--state-file", file_arg, "--persist-interval", "1h"]);
    let (policy, location) = populate(&first.app()).await;
    first.terminate();
    let second = Emulator::start(&["--state-file", file_arg]);
    assert_restored(&second.app(), &policy, &location).await;
    second.kill();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn state_survives_sigkill_after_the_persist_interval() {
    let dir = temp_dir();
    let file = dir.join("state.json");
    let file_arg = file.to_str().unwrap();
    let first = Emulator::start(&["--state-file", file_arg, "--persist-interval", "50ms"]);
    let (policy, location) = populate(&first.app()).await;
    wait_for_file(&file, "Durable");
    first.kill();
    let second = Emulator::start(&["--state-file", file_arg]);
    assert_restored(&second.app(), &policy, &location).await;
    second.kill();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_corrupt_state_file_refuses_start_up() {
    let dir = temp_dir();
    let file = dir.join("state.json");
    for (content, message) in [
        (
            "{\"version\": 1, \"customers\": [",
            "is not a valid state document",
        ),
        (
            "{\"version\": 99, \"customers\": []}",
            "has version 99, but this emulator reads versions 1 to 2",
        ),
    ] {
        std::fs::write(&file, content).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_partner-center-emulator"))
            .args([
                "--bind",
                "127.0.0.1:0",
                "--state-file",
                file.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{stderr}");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            content,
            "the file is left as it was"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Found by schemathesis: serde reads a struct from an array of its fields; the seed must not.
#[tokio::test]
async fn a_seed_that_is_not_an_object_is_400() {
    let app = spawn_app().await;
    let response = app
        .control(Method::POST, "/_emulator/seed", Some(&json!([null, null])))
        .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        envelope(
            800002,
            "Invalid request input: the document must be a JSON object, got an array.",
            &[],
        ),
    )
    .await;
}
