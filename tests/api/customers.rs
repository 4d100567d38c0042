//! `--customers seeded`: unknown customers are 404 code 60003, seeded ones without a reseller
//! relationship 403 code 20002; `any` (the default) takes every GUID as a customer.

use partner_center_emulator::Config;
use partner_center_emulator::config::CustomersMode;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

/// The partner the emulator acts as without `--auth jwt` (the mock Entra ID's default tenant).
const DEFAULT_PARTNER: &str = "6d1a3c9e-2b4f-4c71-9a08-5e3d7f21c0de";

async fn seeded_app() -> TestApp {
    let mut config = Config::for_tests();
    config.customers = CustomersMode::Seeded;
    let app = spawn_with(config).await;
    let seed = json!({"customers": [
        {"id": CUSTOMER},
        {"id": OTHER_CUSTOMER, "relationship": false}
    ]});
    let response = app
        .control(Method::POST, "/_emulator/seed", Some(&seed))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    app
}

#[tokio::test]
async fn only_seeded_customers_exist_and_one_without_a_relationship_is_403() {
    let app = seeded_app().await;
    let unknown = "0f0e0d0c-0b0a-0908-0706-050403020100";
    for path in [
        format!("/v1/customers/{unknown}/deviceBatches"),
        format!("/v1/customers/{unknown}/policies"),
        format!("/v1/customers/{unknown}/batchJobStatus/{unknown}"),
    ] {
        assert_error(
            app.get(&path).await,
            StatusCode::NOT_FOUND,
            envelope(
                60003,
                &format!("Tenant not found: customer `{unknown}` does not exist (--customers seeded knows only the customers of the seed and the state)."),
                &[],
            ),
        )
        .await;
    }
    let no_relationship = envelope(
        20002,
        &format!(
            "The partner id {DEFAULT_PARTNER} has no commerce relationship with the customer id {OTHER_CUSTOMER}."
        ),
        &[],
    );
    assert_error(
        app.get(&format!("/v1/customers/{OTHER_CUSTOMER}/deviceBatches"))
            .await,
        StatusCode::FORBIDDEN,
        no_relationship.clone(),
    )
    .await;
    // Writes are refused the same way, and create nothing.
    let body = json!({"batchId": "B", "devices": [pk("K")]});
    for customer in [unknown, OTHER_CUSTOMER] {
        let response = app
            .post_json(&format!("/v1/customers/{customer}/deviceBatches"), &body)
            .await;
        assert!(
            [StatusCode::NOT_FOUND, StatusCode::FORBIDDEN].contains(&response.status()),
            "{customer}"
        );
    }
    let state = app.get_json("/_emulator/state").await;
    assert_eq!(
        state["customers"],
        json!([{"id": OTHER_CUSTOMER, "relationship": false}, {"id": CUSTOMER}])
    );
    // A seeded customer is served as before.
    let location = app.create_batch(CUSTOMER, "B", json!([pk("K")])).await;
    app.finish_jobs();
    assert_eq!(app.job(&location).await["status"], "finished");
    // A customer id that is not a GUID is still 400 900118, and a missing token 401 first.
    let response = app.get("/v1/customers/not-a-guid/deviceBatches").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = app
        .client
        .get(app.url(&format!("/v1/customers/{unknown}/deviceBatches")))
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn by_default_every_guid_is_a_customer() {
    let app = spawn_app().await;
    let unknown = "0f0e0d0c-0b0a-0908-0706-050403020100";
    let batches = app
        .get_json(&format!("/v1/customers/{unknown}/deviceBatches"))
        .await;
    assert_eq!(batches["totalCount"], 0);
}
