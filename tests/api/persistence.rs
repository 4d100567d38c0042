//! Persistence failures are loud: an unwritable state directory refuses start-up, and a failing
//! save at run time turns `/_emulator/health` to 503 with the reason until a save succeeds.

use std::time::{Duration, Instant};

use partner_center_emulator::{Config, persist, startup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

#[test]
fn a_state_file_whose_directory_cannot_be_written_refuses_start_up() {
    // A directory that is not there: unwritable even for root, unlike a chmod.
    let dir = std::env::temp_dir().join(format!("pce-unwritable-{}", uuid::Uuid::new_v4()));
    let mut config = Config::for_tests();
    config.state_file = Some(dir.join("state.json"));
    let err = startup::build(config).unwrap_err();
    assert!(
        err.contains("cannot write in the directory of --state-file")
            && err.contains("refusing to start"),
        "{err}"
    );
    assert!(!dir.exists());
}

/// A fresh directory for a test's state file, and `state.json` in it.
fn state_dir(prefix: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("state.json");
    (dir, file)
}

/// The emulator built from `config` (which names a state file) with its writer running every
/// `interval`, as the binary runs them.
async fn spawn_persisting(config: Config, interval: Duration) -> TestApp {
    let file = config.state_file.clone().expect("a state file");
    let state = startup::build(config).unwrap();
    tokio::spawn(persist::run(state.clone(), file, interval));
    spawn_state(state).await
}

/// Polls health (real time: saves run on a real interval) until it answers `status`.
async fn health_becomes(app: &TestApp, status: StatusCode) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.control(Method::GET, "/_emulator/health", None).await;
        if response.status() == status {
            return response.json().unwrap();
        }
        assert!(Instant::now() < deadline, "health never answered {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_failing_save_makes_health_503_with_the_reason_until_a_save_succeeds() {
    let (dir, file) = state_dir("pce-failing");
    let mut config = Config::for_tests();
    config.state_file = Some(file.clone());
    let app = spawn_persisting(config, Duration::from_millis(10)).await;
    health_becomes(&app, StatusCode::OK).await;
    // The directory vanishes under the emulator (as a full disk or a read-only remount would
    // fail its writes).
    remove_state_dir(&dir).await;
    app.create_batch(CUSTOMER, "b1", json!([pk("PK1")])).await;
    let body = health_becomes(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    let description = body["description"].as_str().unwrap();
    assert!(
        description.starts_with("Persistence failing: cannot write state file")
            && description.contains("state.json"),
        "{body}"
    );
    std::fs::create_dir_all(&dir).unwrap();
    health_becomes(&app, StatusCode::OK).await;
    assert!(on_disk(&file).contains("b1"));
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            std::ffi::OsString::from("state.json"),
            std::ffi::OsString::from("state.json.log")
        ],
        "no temporary file left"
    );
    remove_state_dir(&dir).await;
}

#[tokio::test]
async fn under_durability_sync_writes_answer_503_and_change_nothing_while_saves_fail() {
    let (dir, file) = state_dir("pce-sync");
    let mut config = Config::for_tests();
    config.state_file = Some(file.clone());
    config.durability = partner_center_emulator::config::Durability::Sync;
    // Saves come when writes wait for them, not on this (long) interval.
    let app = spawn_persisting(config, Duration::from_secs(3600)).await;
    app.create_batch(CUSTOMER, "durable", json!([pk("PK1")]))
        .await;
    assert!(
        on_disk(&file).contains("durable"),
        "on disk when answered: {}",
        on_disk(&file)
    );
    // The directory vanishes under the emulator, as above.
    remove_state_dir(&dir).await;
    let path = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    let failed = app
        .post_json(&path, &json!({"batchId": "lost", "devices": [pk("PK2")]}))
        .await;
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = failed.json().unwrap();
    assert_eq!(body["code"], 800003);
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("--durability sync"),
        "{body}"
    );
    health_becomes(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    // While saves fail, a write is refused before it is applied.
    let refused = app
        .post_json(
            &path,
            &json!({"batchId": "refused", "devices": [pk("PK3")]}),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let batches = app.get_json(&path).await;
    assert!(!batches.to_string().contains("refused"), "{batches}");
    // Saves are retried every --persist-interval; one that succeeds turns health back to 200
    // (shown for the interval writer above).
}

/// Mounts a 1 MiB tmpfs, or says why it cannot (not root, no mount permission in a container).
fn small_tmpfs() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("pce-full-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&dir)
        .stderr(std::process::Stdio::null())
        .status();
    match mounted {
        Ok(status) if status.success() => Ok(dir),
        other => {
            let _ = std::fs::remove_dir(&dir);
            Err(format!("cannot mount a tmpfs ({other:?})"))
        }
    }
}

#[tokio::test]
async fn a_full_disk_turns_health_503_leaves_no_temporary_file_and_recovers() {
    let dir = match small_tmpfs() {
        Ok(dir) => dir,
        Err(why) => {
            eprintln!("skipped: the disk-full test needs a small tmpfs: {why}");
            return;
        }
    };
    // Unmounted however the test ends.
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _unmount = Unmount(dir.clone());
    let file = dir.join("state.json");
    let mut config = Config::for_tests();
    config.state_file = Some(file.clone());
    let app = spawn_persisting(config, Duration::from_millis(10)).await;
    // About 2 MB of state on a 1 MiB disk.
    let devices: Vec<Value> = (0..2_000)
        .map(|n| json!({"serialNumber": format!("SN{n}"), "oemManufacturerName": "Contoso", "modelName": "M".repeat(1000)}))
        .collect();
    let seed =
        json!({"customers": [{"id": CUSTOMER, "batches": [{"id": "big", "devices": devices}]}]});
    let seeded = app
        .control(Method::POST, "/_emulator/seed", Some(&seed))
        .await;
    assert_eq!(seeded.status(), StatusCode::OK);
    let body = health_becomes(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{body}"
    );
    let names = |dir: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "state.json" && n != "state.json.log")
            .collect()
    };
    let reset = app.control(Method::POST, "/_emulator/reset", None).await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    health_becomes(&app, StatusCode::OK).await;
    // Once a save succeeded nothing more is written; every failed save removed its temporary.
    assert_eq!(names(&dir), Vec::<String>::new(), "no temporary file left");
}

#[tokio::test]
async fn under_durability_sync_a_write_that_changes_nothing_after_a_restore_is_answered() {
    // Once waited forever: the writer thought the restored state saved, the waiter did not.
    let (dir, file) = state_dir("pce-sync-restored");
    let doc = json!({"version": 1, "customers": [{"id": CUSTOMER, "batches": [{"id": "b", "devices": []}]}]});
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let mut config = Config::for_tests();
    config.state_file = Some(file.clone());
    config.durability = partner_center_emulator::config::Durability::Sync;
    let app = spawn_persisting(config, Duration::from_secs(3600)).await;
    let answered = tokio::time::timeout(Duration::from_secs(5), async {
        let refused = app
            .post_json(
                &format!("/v1/customers/{CUSTOMER}/deviceBatches"),
                &json!({"batchId": ""}),
            )
            .await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let not_allowed = app.control(Method::POST, "/_emulator/requests", None).await;
        assert_eq!(not_allowed.status(), StatusCode::METHOD_NOT_ALLOWED);
    })
    .await;
    assert!(
        answered.is_ok(),
        "a write waited for a save that never came"
    );
    remove_state_dir(&dir).await;
}

/// Every kind of write, answered under `--durability sync`, is restored from the snapshot and
/// its log by a process that never saved a snapshot after them (as after a SIGKILL): the state
/// reads back exactly, starting from a version-1 state file (today's users' files).
#[tokio::test]
async fn every_write_replays_from_the_log_onto_a_version_1_state_file() {
    let (dir, file) = state_dir("pce-replay");
    let v1 = json!({"version": 1, "customers": [{"id": OTHER_CUSTOMER, "batches": [{"id": "Old", "creationDate": "2026-11-20T08:00:00Z", "devices": [
        {"id": "7d0e5f6a-1b2c-4d3e-8f90-a1b2c3d4e5f6", "productKey": "OLD1", "uploadedDate": "2026-11-20T08:00:00Z", "listedFrom": "2026-11-20T08:00:03Z"}
    ]}]}]});
    std::fs::write(&file, serde_json::to_vec(&v1).unwrap()).unwrap();
    let config = || {
        let mut config = Config::for_tests();
        config.state_file = Some(file.clone());
        config.durability = partner_center_emulator::config::Durability::Sync;
        config.clock = partner_center_emulator::config::ClockMode::Manual;
        config.clock_start =
            partner_center_emulator::domain::timestamp::Timestamp::parse_rfc3339(T0);
        config
    };
    let app = spawn_persisting(config(), Duration::from_secs(3600)).await;
    let p1 = app.create_policy(CUSTOMER, "First").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let p2 = app.create_policy(CUSTOMER, "Second").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let policies = format!("/v1/customers/{CUSTOMER}/policies");
    let renamed = json!({"name": "First, renamed", "policySettings": ["skip_eula"]});
    let updated = app
        .send_json(Method::PUT, &format!("{policies}/{p1}"), &renamed)
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let ids = app
        .registered_devices(CUSTOMER, "B", json!([pk("K1"), pk("K2"), pk("K3")]))
        .await;
    app.add_devices(CUSTOMER, "B", json!([pk("K4"), pk("K1")]))
        .await;
    let device = |id: &str| format!("/v1/customers/{CUSTOMER}/deviceBatches/B/devices/{id}");
    let assign = json!({"policies": [{"key": "o_o_b_e", "value": p1}]});
    let assigned = app.send_json(Method::PUT, &device(&ids[0]), &assign).await;
    assert_eq!(assigned.status(), StatusCode::OK);
    let update =
        json!({"Devices": [{"Id": ids[1], "Policies": [{"Key": "o_o_b_e", "Value": p2}]}]});
    let scheduled = app
        .send_json(
            Method::PATCH,
            &format!("/v1/customers/{CUSTOMER}/DevicePolicyUpdates"),
            &update,
        )
        .await;
    assert_eq!(scheduled.status(), StatusCode::ACCEPTED);
    assert_eq!(
        app.delete(&device(&ids[2])).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&format!("{policies}/{p1}")).await.status(),
        StatusCode::NO_CONTENT
    );
    app.create_batch(OTHER_CUSTOMER, "Gone", json!([pk("K9")]))
        .await;
    let third = "0b9e3b5e-0c55-4c55-9a53-6d2f7f3c0001";
    app.create_batch(third, "Forgotten", json!([pk("K8")]))
        .await;
    let reset = app
        .control(
            Method::POST,
            &format!("/_emulator/reset?customer={third}"),
            None,
        )
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    // Past --job-retention (24 h): the finished jobs are pruned, and the clock move is kept.
    let advanced = app
        .control(
            Method::POST,
            "/_emulator/clock/advance",
            Some(&json!({"seconds": 90000})),
        )
        .await;
    assert_eq!(advanced.status(), StatusCode::OK);
    app.create_batch(CUSTOMER, "Late", json!([pk("K5")])).await;
    let exported = app
        .control(Method::GET, "/_emulator/state", None)
        .await
        .json::<Value>()
        .unwrap();
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("\"version\":1"),
        "the snapshot is still the version-1 file"
    );

    // A second process on the same files, the first never stopped: snapshot + log only.
    let mut restarted = config();
    restarted.clock_start = None;
    let second = spawn_state(startup::build(restarted).unwrap()).await;
    let restored = second
        .control(Method::GET, "/_emulator/state", None)
        .await
        .json::<Value>()
        .unwrap();
    assert_eq!(restored, exported);
    remove_state_dir(&dir).await;
}

/// A seed mints ids the log does not record: under `--durability sync` its answer waits for a
/// snapshot that holds it, and so does every write after it.
#[tokio::test]
async fn under_durability_sync_a_seed_is_answered_once_the_snapshot_holds_it() {
    let (dir, file) = state_dir("pce-sync-seed");
    let mut config = Config::for_tests();
    config.state_file = Some(file.clone());
    config.durability = partner_center_emulator::config::Durability::Sync;
    let app = spawn_persisting(config, Duration::from_secs(3600)).await;
    for n in 0..3 {
        let seed = json!({"customers": [{"id": CUSTOMER, "batches": [{"id": format!("Seeded{n}"), "devices": [pk(&format!("S{n}"))]}]}]});
        let seeded = app
            .control(Method::POST, "/_emulator/seed", Some(&seed))
            .await;
        assert_eq!(seeded.status(), StatusCode::OK);
        let snapshot = std::fs::read_to_string(&file).unwrap();
        assert!(snapshot.contains(&format!("Seeded{n}")), "{snapshot}");
        app.create_batch(
            CUSTOMER,
            &format!("After{n}"),
            json!([pk(&format!("A{n}"))]),
        )
        .await;
        assert!(on_disk(&file).contains(&format!("After{n}")));
    }
    remove_state_dir(&dir).await;
}

#[tokio::test]
async fn records_past_their_budget_are_appended_before_a_long_interval_ends() {
    let (dir, file) = state_dir("pce-budget");
    let mut config = Config::for_tests();
    config.state_file = Some(file.clone());
    config.max_body = 64 << 20;
    let app = spawn_persisting(config, Duration::from_secs(3600)).await;
    health_becomes(&app, StatusCode::OK).await;
    let log = file.with_file_name("state.json.log");
    let logged = || std::fs::metadata(&log).map_or(0, |m| m.len());
    // A fresh state file is compacted on the writer's first tick, which may end after health
    // answers: wait for the snapshot and a log whose size holds still (its first line names the
    // snapshot it continues).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut header = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = logged();
        if file.exists() && now > 0 && now == header {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first compaction never ended"
        );
        header = now;
    }
    // Under budget: the records wait for the interval (an hour), nothing is appended.
    app.create_batch(CUSTOMER, "small", json!([pk("SMALL")]))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(logged(), header);
    // Past it (one upload of more devices than the budget): appended within a budget check.
    let devices: Vec<Value> = (0..persist_budget())
        .map(|i| pk(&format!("K{i}")))
        .collect();
    app.create_batch(CUSTOMER, "large", Value::Array(devices))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while logged() == header {
        assert!(
            Instant::now() < deadline,
            "the records past the budget were never appended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("SMALL") && text.contains("K0"),
        "{}",
        &text[..200.min(text.len())]
    );
    remove_state_dir(&dir).await;
}

fn persist_budget() -> usize {
    partner_center_emulator::store::document::log::PENDING_BUDGET
}
