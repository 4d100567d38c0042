//! Opt-in wire quirks for testing clients: `--response-bom`, `--device-status-while-running`.

use partner_center_emulator::Config;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

const BOM: &[u8] = "\u{feff}".as_bytes();

#[tokio::test]
async fn response_bom_prefixes_partner_center_json_bodies_only() {
    let mut config = Config::for_tests();
    config.response_bom = true;
    let app = spawn_with(config).await;
    let response = app
        .get(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let length: usize = response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = response.bytes();
    assert_eq!(body.len(), length);
    let rest = body.strip_prefix(BOM).expect("a BOM first");
    let value: Value = serde_json::from_slice(rest).expect("JSON after the BOM");
    assert_eq!(value["totalCount"], 0);
    // Errors of Partner Center routes too.
    let unauthorized = app
        .client
        .get(app.url(&format!("/v1/customers/{CUSTOMER}/deviceBatches")))
        .send_checked()
        .await;
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    assert!(unauthorized.bytes().starts_with(BOM));
    // Not the control plane.
    let health = app
        .client
        .get(app.url("/_emulator/clock"))
        .send_checked()
        .await;
    assert!(!health.bytes().starts_with(BOM));
}

#[tokio::test]
async fn by_default_json_bodies_have_no_bom() {
    let app = spawn_app().await;
    let response = app
        .get(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
        .await;
    assert!(response.bytes().starts_with(b"{"));
}

#[tokio::test]
async fn device_status_while_running_shows_in_progress_until_the_job_is_terminal() {
    // The steps below are these timings: 1 s queued, then 2 s processing.
    let mut config = Config::for_tests();
    config.device_status_while_running = true;
    config.queued_for = std::time::Duration::from_secs(1);
    config.processing_for = std::time::Duration::from_secs(2);
    let app = spawn_with(config).await;
    let location = app
        .create_batch(CUSTOMER, "B", serde_json::json!([pk("K1"), pk("K1")]))
        .await;
    for (advance, job_status) in [(0, "queued"), (1, "processing")] {
        app.advance(advance);
        let job = app.job(&location).await;
        assert_eq!(job["status"], job_status);
        for device in job["devicesStatus"].as_array().unwrap() {
            assert_eq!(device["status"], "in-progress");
        }
    }
    app.finish_jobs();
    let job = app.job(&location).await;
    assert_eq!(job["devicesStatus"][0]["status"], "finished");
    assert_eq!(job["devicesStatus"][1]["status"], "finished_with_errors");
}

async fn post_encoded(app: &TestApp, encoding: &str, body: Vec<u8>) -> Response {
    app.client
        .post(app.url(&format!("/v1/customers/{CUSTOMER}/deviceBatches")))
        .header("Authorization", TOKEN)
        .header("Content-Type", "application/json")
        .header("Content-Encoding", encoding)
        .body(body)
        .send_checked()
        .await
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn gzip_request_bodies_are_accepted_and_other_encodings_are_415() {
    let mut config = Config::for_tests();
    config.max_body = 4096;
    let app = spawn_with(config).await;
    let body = serde_json::json!({"batchId": "Zipped", "devices": [pk("K1")]}).to_string();
    let response = post_encoded(&app, "gzip", gzip(body.as_bytes())).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_error(
        post_encoded(&app, "br", body.clone().into_bytes()).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        envelope(800002, "Invalid request input: Content-Encoding `br` is not supported; send the body uncompressed or with `gzip`.", &[]),
    )
    .await;
    let garbage = post_encoded(&app, "gzip", body.clone().into_bytes()).await;
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    // Decompressed past --max-body: 413, however small the compressed body.
    let bomb = gzip(&vec![b' '; 100_000]);
    assert!(bomb.len() < 4096);
    let response = post_encoded(&app, "gzip", bomb).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Only the gzip upload was created.
    let batches = app
        .get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
        .await;
    assert_eq!(batches["totalCount"], 1);
}
