//! Path tolerance as real clients need it: `/v1.0/`, segment case, `//`, encoded batch ids.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn version_prefix_and_segment_case_are_tolerated() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            &format!("/V1.0/Customers/{CUSTOMER}/DeviceBatches"),
            &json!({"batchId": "B", "devices": [pk("K")]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = tracking_id(&location(&response));
    let response = app
        .get(&format!("/v1/customers/{CUSTOMER}/batchjobstatus/{id}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_location_prefixed_with_v1_slash_works_despite_the_double_slash() {
    let app = spawn_app().await;
    let location = app.create_batch(CUSTOMER, "B", json!([pk("K")])).await;
    // CIPP: "https://api.partnercenter.microsoft.com/v1/" + Location.
    let response = app.get(&format!("/v1/{location}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .post_json(
            &format!("/v1//customers/{CUSTOMER}/deviceBatches/B/devices"),
            &json!([pk("K2")]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn batch_ids_with_spaces_are_percent_decoded_and_matched_ignoring_case() {
    let app = spawn_app().await;
    app.create_batch(CUSTOMER, "Test batch", json!([pk("K1")]))
        .await;
    let response = app
        .post_json(
            &format!("/v1/customers/{CUSTOMER}/deviceBatches/TEST%20BATCH/devices"),
            &json!([pk("K2")]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let batches = app
        .get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
        .await;
    assert_eq!(
        batches["items"][0]["id"], "Test batch",
        "the original case is kept"
    );
}
