//! `GET deviceBatches`: every batch as soon as it is created, with its live device count.

use serde_json::json;

use crate::helpers::*;
use partner_center_emulator::Config;

fn batch_json(customer: &str, id: &str, count: u64, status: &str) -> serde_json::Value {
    json!({
        "id": id,
        "status": status,
        "createdBy": "Partner Center Emulator",
        "creationDate": "2026-11-21T10:00:00+00:00",
        "devicesCount": count,
        "devicesLink": {"uri": format!("/customers/{customer}/deviceBatches/{}/devices", id.replace(' ', "%20")), "method": "GET", "headers": []},
        "attributes": {"objectType": "DeviceBatch"}
    })
}

#[tokio::test]
async fn batches_are_listed_at_once_and_counted_when_their_devices_register() {
    let app = spawn_app().await;
    let path = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    assert_eq!(
        app.get_json(&path).await,
        json!({"totalCount": 0, "items": [], "attributes": {"objectType": "Collection"}})
    );
    app.create_batch(CUSTOMER, "Test batch", json!([pk("K1"), pk("K2")]))
        .await;
    app.create_batch(CUSTOMER, "Second", json!([pk("K1")]))
        .await;
    assert_eq!(
        app.get_json(&path).await,
        json!({"totalCount": 2, "items": [batch_json(CUSTOMER, "Test batch", 0, "queued"), batch_json(CUSTOMER, "Second", 0, "queued")],
               "attributes": {"objectType": "Collection"}})
    );
    app.finish_jobs();
    // The second batch's only device was an 806: registered devices only are counted.
    assert_eq!(
        app.get_json(&path).await,
        json!({"totalCount": 2, "items": [batch_json(CUSTOMER, "Test batch", 2, "finished"), batch_json(CUSTOMER, "Second", 0, "finished")],
               "attributes": {"objectType": "Collection"}})
    );
}

#[tokio::test]
async fn a_batch_status_follows_its_upload_jobs_on_the_clock() {
    // Arrange: 1 s queued, 2 s processing.
    let mut config = Config::for_tests();
    config.queued_for = std::time::Duration::from_secs(1);
    config.processing_for = std::time::Duration::from_secs(2);
    let app = spawn_with(config).await;
    let path = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    let status = |body: serde_json::Value| body["items"][0]["status"].clone();
    app.create_batch(CUSTOMER, "B", json!([pk("K1")])).await;
    // Act / Assert: each state of the only job, read back as the batch's.
    assert_eq!(status(app.get_json(&path).await), "queued");
    app.advance(1);
    assert_eq!(status(app.get_json(&path).await), "processing");
    app.advance(2);
    assert_eq!(status(app.get_json(&path).await), "finished");
    // A second upload into the batch makes it queued again, then processing.
    app.add_devices(CUSTOMER, "B", json!([pk("K2")])).await;
    assert_eq!(status(app.get_json(&path).await), "queued");
    app.advance(1);
    assert_eq!(status(app.get_json(&path).await), "processing");
    app.advance(2);
    assert_eq!(
        app.get_json(&path).await["items"][0],
        batch_json(CUSTOMER, "B", 2, "finished")
    );
}

#[tokio::test]
async fn another_customer_sees_none_of_the_batches() {
    let app = spawn_app().await;
    app.create_batch(CUSTOMER, "Mine", json!([pk("K1")])).await;
    assert_eq!(
        app.get_json(&format!("/v1/customers/{OTHER_CUSTOMER}/deviceBatches"))
            .await,
        json!({"totalCount": 0, "items": [], "attributes": {"objectType": "Collection"}})
    );
    let response = app
        .get(&format!(
            "/v1/customers/{OTHER_CUSTOMER}/deviceBatches/Mine/devices"
        ))
        .await;
    assert_error(
        response,
        reqwest::StatusCode::NOT_FOUND,
        envelope(
            1000,
            "Not found: device batch `Mine` was not found for this customer.",
            &[],
        ),
    )
    .await;
}
