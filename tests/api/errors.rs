//! Every rejection answers in the Partner Center envelope with the right 4xx, and changes nothing.

use partner_center_emulator::Config;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

fn batches_path() -> String {
    format!("/v1/customers/{CUSTOMER}/deviceBatches")
}

#[tokio::test]
async fn a_missing_or_malformed_token_is_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    for auth in [None, Some("Bearer "), Some("Basic abc"), Some("token")] {
        let mut request = app.client.post(app.url(&batches_path())).json(&json!({}));
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let response = request.send_checked().await;
        assert_eq!(
            response.headers().get("www-authenticate").unwrap(),
            "Bearer"
        );
        assert_error(
            response,
            StatusCode::UNAUTHORIZED,
            envelope(
                800001,
                "Partner Token missing in request context: send an `Authorization: Bearer <token>` header (any non-empty token is accepted).",
                &[],
            ),
        )
        .await;
    }
}

#[tokio::test]
async fn auth_off_accepts_requests_without_a_token() {
    let mut config = Config::for_tests();
    config.auth = partner_center_emulator::config::AuthMode::Off;
    let app = spawn_with(config).await;
    let response = app
        .client
        .post(app.url(&batches_path()))
        .json(&json!({"batchId": "B", "devices": [pk("K")]}))
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_customer_id_that_is_not_a_guid_is_900118() {
    let app = spawn_app().await;
    let response = app
        .post_json("/v1/customers/contoso/deviceBatches", &json!({}))
        .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        envelope(
            900118,
            "Invalid Customer Id: `contoso` is not a GUID (expected e.g. 11111111-2222-3333-4444-555555555555).",
            &[],
        ),
    )
    .await;
}

async fn assert_invalid(app: &TestApp, path: &str, body: &str, description: &str, data: &[&str]) {
    let response = app
        .client
        .post(app.url(path))
        .header("Authorization", TOKEN)
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send_checked()
        .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        envelope(800002, description, data),
    )
    .await;
}

#[tokio::test]
async fn malformed_create_requests_name_the_failing_field() {
    let app = spawn_app().await;
    let p = batches_path();
    let cases: [(&str, &str, &[&str]); 11] = [
        (
            "{",
            "Invalid request input: the body is not valid JSON (EOF while parsing an object at line 1 column 1).",
            &[],
        ),
        (
            "",
            "Invalid request input: the body is empty; a JSON document is required.",
            &[],
        ),
        (
            "[]",
            "Invalid request input: the body must be a DeviceBatchCreationRequest object, got an array.",
            &[],
        ),
        (
            r#"{"devices": [{"productKey": "K"}]}"#,
            "Invalid request input: `batchId` is required: name the new batch.",
            &["batchId"],
        ),
        (
            r#"{"batchId": "", "devices": [{"productKey": "K"}]}"#,
            "Invalid request input: `batchId` must be a non-empty string.",
            &["batchId"],
        ),
        (
            r#"{"batchId": 7, "devices": [{"productKey": "K"}]}"#,
            "Invalid request input: `batchId` must be a string, got a number.",
            &["batchId"],
        ),
        (
            r#"{"batchId": "B"}"#,
            "Invalid request input: `devices` is required: list at least one Device.",
            &["devices"],
        ),
        (
            r#"{"batchId": "B", "devices": []}"#,
            "Invalid request input: `devices` must contain at least one Device.",
            &["devices"],
        ),
        (
            r#"{"batchId": "B", "devices": "x"}"#,
            "Invalid request input: `devices` must be an array of Device objects, got a string.",
            &["devices"],
        ),
        (
            r#"{"batchId": "B", "devices": [{"productKey": "K"}, 3]}"#,
            "Invalid request input: `devices[1]` must be a Device object, got a number.",
            &["devices[1]"],
        ),
        (
            r#"{"batchId": "B", "devices": [{"productKey": "K"}, {"productKey": "K2"}, {"productKey": "K3"}, {"serialNumber": true}]}"#,
            "Invalid request input: `devices[3].serialNumber` must be a string or null, got a boolean.",
            &["devices[3].serialNumber"],
        ),
    ];
    for (body, description, data) in cases {
        assert_invalid(&app, &p, body, description, data).await;
    }
    // Nothing was created by any of them.
    app.create_batch(CUSTOMER, "B", json!([pk("K")])).await;
}

#[tokio::test]
async fn devices_without_an_accepted_combination_fail_alone_with_803() {
    let app = spawn_app().await;
    let body = json!({"batchId": "B", "devices": [
        {"productKey": "OK"},
        {"serialNumber": "S-only"},
        {"hardwareHash": "", "productKey": "  "},
        {"serialNumber": "S", "oemManufacturerName": "M", "modelName": "N"}
    ]});
    // The request as a whole is valid: accepted, and each such device fails in the job.
    let location = app
        .create_batch(CUSTOMER, "B", body["devices"].clone())
        .await;
    app.finish_jobs();
    let job = app.job(&location).await;
    let statuses: Vec<(&str, Option<&str>, Option<&str>)> = job["devicesStatus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["status"].as_str().unwrap(),
                d["errorCode"].as_str(),
                d["errorDescription"].as_str(),
            )
        })
        .collect();
    let missing = Some("MissingZtdSerialNumberAndProductKey");
    assert_eq!(
        statuses,
        [
            ("finished", None, None),
            ("finished_with_errors", Some("803"), missing),
            ("finished_with_errors", Some("803"), missing),
            ("finished", None, None),
        ]
    );
}

#[tokio::test]
async fn thousands_of_devices_without_identifiers_are_accepted_and_fail_alone() {
    let app = spawn_app().await;
    let devices: Vec<_> = (0..2000)
        .map(|i| json!({"modelName": format!("M{i}")}))
        .collect();
    let location = app.create_batch(CUSTOMER, "B", json!(devices)).await;
    app.finish_jobs();
    let job = app.job(&location).await;
    let statuses = job["devicesStatus"].as_array().unwrap();
    assert_eq!(statuses.len(), 2000);
    assert!(statuses.iter().all(|d| d["errorCode"] == "803"));
}

#[tokio::test]
async fn malformed_device_lists_name_the_device_by_index() {
    let app = spawn_app().await;
    app.create_batch(CUSTOMER, "B", json!([pk("K")])).await;
    let p = format!("/v1/customers/{CUSTOMER}/deviceBatches/B/devices");
    assert_invalid(
        &app,
        &p,
        "[]",
        "Invalid request input: the body must be an array with at least one Device.",
        &[],
    )
    .await;
    assert_invalid(
        &app,
        &p,
        r#"{"devices": []}"#,
        "Invalid request input: the body must be an array of Device objects, got an object.",
        &[],
    )
    .await;
}

#[tokio::test]
async fn a_batch_id_already_used_by_the_customer_is_409_in_any_case() {
    let app = spawn_app().await;
    app.create_batch(CUSTOMER, "Lab Batch", json!([pk("K1")]))
        .await;
    let response = app
        .post_json(
            &batches_path(),
            &json!({"batchId": "LAB BATCH", "devices": [pk("K2")]}),
        )
        .await;
    assert_error(
        response,
        StatusCode::CONFLICT,
        envelope(
            1002,
            "device batch `Lab Batch` already exists for this customer: add devices to it with POST .../deviceBatches/{id}/devices, or choose another batchId.",
            &[],
        ),
    )
    .await;
    // Another customer may use the same name.
    app.create_batch(OTHER_CUSTOMER, "Lab Batch", json!([pk("K3")]))
        .await;
}

#[tokio::test]
async fn unknown_batches_and_tracking_ids_are_404_code_1000() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            &format!("/v1/customers/{CUSTOMER}/deviceBatches/nope/devices"),
            &json!([pk("K")]),
        )
        .await;
    assert_error(
        response,
        StatusCode::NOT_FOUND,
        envelope(
            1000,
            "Not found: device batch `nope` was not found for this customer.",
            &[],
        ),
    )
    .await;
    let response = app
        .get(&format!(
            "/v1/customers/{CUSTOMER}/batchJobStatus/not-a-guid"
        ))
        .await;
    assert_error(
        response,
        StatusCode::NOT_FOUND,
        envelope(
            1000,
            "Not found: batch tracking id `not-a-guid` was not found for this customer.",
            &[],
        ),
    )
    .await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_an_unsupported_type_415() {
    let mut config = Config::for_tests();
    config.max_body = 64;
    let app = spawn_with(config).await;
    let response = app
        .post_json(
            &batches_path(),
            &json!({"batchId": "B", "devices": [pk(&"K".repeat(100))]}),
        )
        .await;
    assert_error(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        envelope(
            800002,
            "Invalid request input: the body is larger than the 64-byte limit (see --max-body).",
            &[],
        ),
    )
    .await;
    let response = app
        .client
        .post(app.url(&batches_path()))
        .header("Authorization", TOKEN)
        .header("Content-Type", "application/xml")
        .body("<x/>")
        .send_checked()
        .await;
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        envelope(
            800002,
            "Invalid request input: Content-Type `application/xml` is not supported; send `application/json` or `text/json`.",
            &[],
        ),
    )
    .await;
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_in_the_envelope() {
    let app = spawn_app().await;
    let response = app.get("/v1/customers/x/nothing-here").await;
    assert_error(
        response,
        StatusCode::NOT_FOUND,
        envelope(
            1000,
            "Not found: no route matches `GET /v1/customers/x/nothing-here`. Partner Center routes start with /v1/customers/{customer-id}/, the control plane with /_emulator/.",
            &[],
        ),
    )
    .await;
    let response = app
        .client
        .delete(app.url(&format!("/v1/customers/{CUSTOMER}/batchJobStatus/x")))
        .header("Authorization", TOKEN)
        .send_checked()
        .await;
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        envelope(
            1001,
            &format!("Method not allowed: `DELETE` is not supported on `/v1/customers/{CUSTOMER}/batchJobStatus/x`."),
            &[],
        ),
    )
    .await;
}

#[tokio::test]
async fn text_json_a_bom_and_nulls_are_accepted() {
    let app = spawn_app().await;
    let body = "\u{feff}{\"batchId\": \"B\", \"devices\": [{\"productKey\": \"K\", \"serialNumber\": null, \"Policies\": null}]}";
    let response = app
        .client
        .post(app.url(&batches_path()))
        .header("Authorization", TOKEN)
        .header("Content-Type", "text/json; charset=utf-8")
        .body(body)
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn the_health_endpoint_needs_no_token() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/_emulator/health"))
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/json; charset=utf-8"
    );
    let body: serde_json::Value = response.json().unwrap();
    assert_eq!(
        body,
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})
    );
}

#[tokio::test]
async fn every_answer_carries_the_ms_headers_even_errors() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/nowhere")).send_checked().await;
    let headers = response.headers();
    for name in [
        "ms-requestid",
        "ms-correlationid",
        "ms-cv",
        "ms-serverid",
        "date",
    ] {
        assert!(headers.contains_key(name), "{name}");
    }
    let minted = headers.get("ms-requestid").unwrap().to_str().unwrap();
    assert!(uuid::Uuid::parse_str(minted).is_ok());
}
