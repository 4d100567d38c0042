//! Job progression driven by the emulator clock, and the per-device outcomes.

use partner_center_emulator::Config;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_job_is_queued_then_processing_then_finished_as_the_clock_moves() {
    // The steps below are these timings: 1 s queued, then 2 s processing.
    let mut config = Config::for_tests();
    config.queued_for = std::time::Duration::from_secs(1);
    config.processing_for = std::time::Duration::from_secs(2);
    let app = spawn_with(config).await;
    let location = app
        .create_batch(
            CUSTOMER,
            "B1",
            json!([{"serialNumber": "S1", "productKey": "P1"}]),
        )
        .await;
    let id = tracking_id(&location);
    let device = |status: &str| {
        json!({"serialNumber": "S1", "productKey": "P1", "status": status,
               "attributes": {"objectType": "DeviceUploadDetails"}})
    };

    assert_eq!(
        app.job(&location).await,
        json!({"batchTrackingId": id, "status": "queued", "devicesStatus": [device("queued")],
               "attributes": {"objectType": "BatchUploadDetails"}})
    );

    app.advance(1);
    assert_eq!(
        app.job(&location).await,
        json!({"batchTrackingId": id, "status": "processing", "startedTime": "2026-11-21T10:00:01+00:00",
               "devicesStatus": [device("processing")], "attributes": {"objectType": "BatchUploadDetails"}})
    );

    app.advance(2);
    let response = app.get(&format!("/v1{location}")).await;
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/json; charset=utf-8"
    );
    // Key order as the service writes it: attributes last, absent values omitted.
    let text = response.text().unwrap();
    let device_id = text
        .split("\"deviceId\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        text,
        format!(
            r#"{{"batchTrackingId":"{id}","status":"finished","startedTime":"2026-11-21T10:00:01+00:00","completedTime":"2026-11-21T10:00:03+00:00","devicesStatus":[{{"deviceId":"{device_id}","serialNumber":"S1","productKey":"P1","status":"finished","attributes":{{"objectType":"DeviceUploadDetails"}}}}],"attributes":{{"objectType":"BatchUploadDetails"}}}}"#
        )
    );
}

#[tokio::test]
async fn configured_durations_drive_the_schedule() {
    let mut config = Config::for_tests();
    config.queued_for = std::time::Duration::ZERO;
    config.processing_for = std::time::Duration::from_secs(10);
    let app = spawn_with(config).await;
    let location = app.create_batch(CUSTOMER, "B", json!([pk("K")])).await;
    assert_eq!(app.job(&location).await["status"], "processing");
    app.advance(9);
    assert_eq!(app.job(&location).await["status"], "processing");
    app.advance(1);
    assert_eq!(app.job(&location).await["status"], "finished");
}

fn failed(
    serial: Option<&str>,
    key: Option<&str>,
    code: &str,
    description: &str,
) -> serde_json::Value {
    let mut d = json!({"status": "finished_with_errors", "errorCode": code, "errorDescription": description,
                       "attributes": {"objectType": "DeviceUploadDetails"}});
    if let Some(s) = serial {
        d["serialNumber"] = json!(s);
    }
    if let Some(k) = key {
        d["productKey"] = json!(k);
    }
    d
}

fn succeeded(key: &str) -> serde_json::Value {
    json!({"deviceId": "<guid>", "productKey": key, "status": "finished",
           "attributes": {"objectType": "DeviceUploadDetails"}})
}

#[tokio::test]
async fn outcomes_report_806_808_and_duplicates_and_the_batch_still_finishes() {
    let app = spawn_app().await;
    app.create_batch(CUSTOMER, "First", json!([pk("MINE")]))
        .await;
    app.create_batch(OTHER_CUSTOMER, "Theirs", json!([pk("THEIRS")]))
        .await;
    // Decided at acceptance: no need to wait for the first jobs to finish.
    let location = app
        .add_devices(
            CUSTOMER,
            "First",
            json!([pk("MINE"), pk("THEIRS"), pk("NEW"), pk("NEW")]),
        )
        .await;
    app.finish_jobs();
    let job = redact_device_ids(app.job(&location).await);
    assert_eq!(job["status"], "finished");
    assert_eq!(
        job["devicesStatus"],
        json!([
            failed(None, Some("MINE"), "806", "ZtdDeviceAlreadyAssigned"),
            failed(
                None,
                Some("THEIRS"),
                "808",
                "ZtdDeviceAssignedToOtherTenant"
            ),
            succeeded("NEW"),
            failed(None, Some("NEW"), "813", "ZtdDeviceIsNotUnique"),
        ])
    );
}

#[tokio::test]
async fn a_device_is_identified_by_hash_then_product_key_then_tuple() {
    let app = spawn_app().await;
    app.create_batch(
        CUSTOMER,
        "B",
        json!([
            {"hardwareHash": "H1", "productKey": "SHARED"},
            {"serialNumber": "S", "oemManufacturerName": "Dell Inc.", "modelName": "T7500"}
        ]),
    )
    .await;
    let location = app
        .add_devices(
            CUSTOMER,
            "B",
            json!([
                {"hardwareHash": "H2", "productKey": "SHARED"},
                {"hardwareHash": "H1"},
                {"serialNumber": "S", "oemManufacturerName": "DELL INC.", "modelName": "T7500"},
                {"serialNumber": "S", "oemManufacturerName": "Dell Inc.", "modelName": "T7500"}
            ]),
        )
        .await;
    app.finish_jobs();
    let statuses: Vec<String> = app.job(&location).await["devicesStatus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        statuses,
        [
            "finished",
            "finished_with_errors",
            "finished",
            "finished_with_errors"
        ]
    );
}

/// A base64 hash of `bytes` decoded bytes.
fn hash_of(bytes: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(vec![0x4f_u8; bytes])
}

#[tokio::test]
async fn strict_hardware_hash_fails_implausible_hashes_only_when_enabled() {
    let mut config = Config::for_tests();
    config.strict_hardware_hash = true;
    let app = spawn_with(config).await;
    // Not base64; base64 but far too short; a few bytes too long; a real hash's 3,072 bytes; the
    // bounds 1,024 and 8,192.
    let devices = json!([
        {"hardwareHash": "DummyHash12345", "serialNumber": "S1"},
        hash("AAEC"),
        hash(&hash_of(8193)),
        hash(&hash_of(3072)),
        hash(&hash_of(1024)),
        hash(&hash_of(8192)),
    ]);
    let location = app.create_batch(CUSTOMER, "B", devices).await;
    app.finish_jobs();
    let job = redact_device_ids(app.job(&location).await);
    let registered = json!({"deviceId": "<guid>", "status": "finished", "attributes": {"objectType": "DeviceUploadDetails"}});
    assert_eq!(
        job["devicesStatus"],
        json!([
            failed(Some("S1"), None, "802", "InvalidZtdHardwareHash"),
            failed(None, None, "802", "InvalidZtdHardwareHash"),
            failed(None, None, "802", "InvalidZtdHardwareHash"),
            registered,
            registered,
            registered
        ])
    );

    let lax = spawn_app().await;
    let location = lax
        .create_batch(CUSTOMER, "B", json!([hash("DummyHash12345")]))
        .await;
    lax.finish_jobs();
    assert_eq!(
        lax.job(&location).await["devicesStatus"][0]["status"],
        "finished"
    );
}

#[tokio::test]
async fn jobs_of_one_customer_are_not_found_through_another() {
    let app = spawn_app().await;
    let location = app.create_batch(CUSTOMER, "B", json!([pk("K")])).await;
    let id = tracking_id(&location);
    let response = app
        .get(&format!(
            "/v1/customers/{OTHER_CUSTOMER}/batchJobStatus/{id}"
        ))
        .await;
    assert_error(
        response,
        reqwest::StatusCode::NOT_FOUND,
        envelope(
            1000,
            &format!("Not found: batch tracking id `{id}` was not found for this customer."),
            &[],
        ),
    )
    .await;
}

#[tokio::test]
async fn finished_jobs_are_forgotten_after_the_job_retention_and_empty_customers_with_them() {
    let mut config = partner_center_emulator::Config::for_tests();
    config.job_retention =
        partner_center_emulator::config::Retention(Some(std::time::Duration::from_secs(3600)));
    let app = spawn_with(config).await;
    let location = app.create_batch(CUSTOMER, "kept", json!([pk("PK1")])).await;
    let policy = app.create_policy(OTHER_CUSTOMER, "gone").await;
    let deleted = app
        .delete(&format!(
            "/v1/customers/{OTHER_CUSTOMER}/policies/{}",
            policy["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(deleted.status(), reqwest::StatusCode::NO_CONTENT);
    app.advance(3);
    assert_eq!(app.job(&location).await["status"], "finished");
    // Not yet: terminal for less than the retention.
    app.advance(3590);
    assert_eq!(app.job(&location).await["status"], "finished");
    let advanced = app
        .control(
            reqwest::Method::POST,
            "/_emulator/clock/advance",
            Some(&json!({"seconds": 10})),
        )
        .await;
    assert_eq!(advanced.status(), reqwest::StatusCode::OK);
    let job = app.get(&format!("/v1{location}")).await;
    assert_eq!(job.status(), reqwest::StatusCode::NOT_FOUND);
    // The batch and its devices stay; the customer with nothing left goes.
    let batches = app
        .get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
        .await;
    assert_eq!(batches["totalCount"], 1);
    let state: serde_json::Value = app
        .control(reqwest::Method::GET, "/_emulator/state", None)
        .await
        .json()
        .unwrap();
    let ids: Vec<&str> = state["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [CUSTOMER]);
}
