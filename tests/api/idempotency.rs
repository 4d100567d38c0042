//! `MS-RequestId` idempotency: a retried write replays the first answer and creates nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn post_with_id(app: &TestApp, path: &str, request_id: &str, body: &Value) -> Response {
    app.client
        .post(app.url(path))
        .header("Authorization", TOKEN)
        .header("MS-RequestId", request_id)
        .json(body)
        .send_checked()
        .await
}

#[tokio::test]
async fn a_retried_upload_replays_the_first_location_and_creates_nothing() {
    let app = spawn_app().await;
    let path = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    let body = json!({"batchId": "B", "devices": [pk("K")]});
    let first = post_with_id(&app, &path, "11111111-1111-1111-1111-111111111111", &body).await;
    let second = post_with_id(&app, &path, "11111111-1111-1111-1111-111111111111", &body).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    assert_eq!(location(&first), location(&second));
    assert_eq!(second.headers().get("content-length").unwrap(), "0");
    assert_eq!(
        second.headers().get("content-type"),
        None,
        "a replayed 202 has no Content-Type, like the first"
    );
    assert_eq!(
        second.headers().get("ms-requestid").unwrap(),
        "11111111-1111-1111-1111-111111111111"
    );
    // Without replay the second would have been a 409 (batch exists) and the device an 806.
    app.finish_jobs();
    let job = app.job(&location(&first)).await;
    assert_eq!(job["devicesStatus"][0]["status"], "finished");
}

#[tokio::test]
async fn the_same_request_id_with_another_body_is_409() {
    let app = spawn_app().await;
    let path = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    let id = "22222222-2222-2222-2222-222222222222";
    post_with_id(
        &app,
        &path,
        id,
        &json!({"batchId": "B", "devices": [pk("K")]}),
    )
    .await;
    let response = post_with_id(
        &app,
        &path,
        id,
        &json!({"batchId": "C", "devices": [pk("K2")]}),
    )
    .await;
    assert_error(
        response,
        StatusCode::CONFLICT,
        envelope(
            1003,
            &format!("MS-RequestId `{id}` was already used for a different request on this route; send a new MS-RequestId for a new request."),
            &[],
        ),
    )
    .await;
    // Batch C was not created.
    app.create_batch(CUSTOMER, "C", json!([pk("K3")])).await;
}

#[tokio::test]
async fn a_rejected_write_is_not_remembered_so_a_fixed_retry_goes_through() {
    let app = spawn_app().await;
    let path = format!("/v1/customers/{CUSTOMER}/deviceBatches/B/devices");
    let id = "33333333-3333-3333-3333-333333333333";
    let missing = post_with_id(&app, &path, id, &json!([pk("K")])).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    app.create_batch(CUSTOMER, "B", json!([pk("K0")])).await;
    let retry = post_with_id(&app, &path, id, &json!([pk("K")])).await;
    assert_eq!(retry.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_customer_reset_forgets_its_records_whatever_the_spelling_and_only_its_own() {
    let app = spawn_app().await;
    let bare = CUSTOMER.replace('-', "");
    let spellings = [
        format!("{{{CUSTOMER}}}"),
        bare.clone(),
        format!("urn:uuid:{CUSTOMER}"),
    ];
    // Another customer's write whose MS-RequestId contains this customer's path.
    let other_path = format!("/v1/customers/{OTHER_CUSTOMER}/deviceBatches");
    let other_id = format!("retry /v1/customers/{CUSTOMER}/ 1");
    let other_body = json!({"batchId": "O", "devices": [pk("OK")]});
    let other = post_with_id(&app, &other_path, &other_id, &other_body).await;
    assert_eq!(other.status(), StatusCode::ACCEPTED);
    for (n, spelling) in spellings.iter().enumerate() {
        let path = format!("/v1/customers/{}/deviceBatches", urlencode(spelling));
        let body = json!({"batchId": format!("B{n}"), "devices": [pk(&format!("K{n}"))]});
        let id = format!("22222222-2222-2222-2222-22222222222{n}");
        assert_eq!(
            post_with_id(&app, &path, &id, &body).await.status(),
            StatusCode::ACCEPTED
        );
        let reset = app
            .control(
                reqwest::Method::POST,
                &format!("/_emulator/reset?customer={CUSTOMER}"),
                None,
            )
            .await;
        assert_eq!(reset.status(), StatusCode::NO_CONTENT);
        // A retry after the reset is a new write, not a replay of a job that no longer exists.
        let retry = post_with_id(&app, &path, &id, &body).await;
        assert_eq!(retry.status(), StatusCode::ACCEPTED);
        let job = app.get(&format!("/v1{}", location(&retry))).await;
        assert_eq!(
            job.status(),
            StatusCode::OK,
            "{spelling}: the retry's job exists"
        );
    }
    // The other customer's record survived the resets: its retry replays.
    let replay = post_with_id(&app, &other_path, &other_id, &other_body).await;
    assert_eq!(location(&replay), location(&other));
}

fn urlencode(s: &str) -> String {
    s.replace('{', "%7B").replace('}', "%7D")
}
