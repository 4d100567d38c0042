//! Opt-in wire quirks for testing clients: `--response-bom`.

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
    let body = response.bytes().await.unwrap();
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
    assert!(unauthorized.bytes().await.unwrap().starts_with(BOM));
    // Not the control plane.
    let health = app
        .client
        .get(app.url("/_emulator/clock"))
        .send_checked()
        .await;
    assert!(!health.bytes().await.unwrap().starts_with(BOM));
}

#[tokio::test]
async fn by_default_json_bodies_have_no_bom() {
    let app = spawn_app().await;
    let response = app
        .get(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
        .await;
    assert!(response.bytes().await.unwrap().starts_with(b"{"));
}
