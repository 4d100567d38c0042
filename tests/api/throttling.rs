//! `--rate-limit`: per-partner and per-partner+customer budgets over a sliding window on the
//! emulator clock, answered with the gateway's 429 and an honest `Retry-After`.

use partner_center_emulator::Config;
use partner_center_emulator::domain::rate_limit::RateLimit;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

/// GETs a customer's batches: `None` when answered 200, else the 429's `Retry-After`.
async fn batches(app: &TestApp, customer: &str) -> Option<u64> {
    let response = app
        .get(&format!("/v1/customers/{customer}/deviceBatches"))
        .await;
    if response.status() == StatusCode::OK {
        return None;
    }
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("an integer Retry-After");
    let body: Value = response.json().unwrap();
    assert_eq!(
        body,
        json!({"statusCode": 429, "message": format!("Rate limit is exceeded. Try again in {retry_after} seconds.")})
    );
    Some(retry_after)
}

#[tokio::test]
async fn budgets_per_partner_and_customer_slide_on_the_emulator_clock() {
    let mut config = Config::for_tests();
    config.rate_limit = Some(RateLimit::parse("partner=3/10s,customer=2/10s").unwrap());
    let app = spawn_with(config).await;
    // The customer's budget: two requests in ten seconds.
    assert_eq!(batches(&app, CUSTOMER).await, None);
    assert_eq!(batches(&app, CUSTOMER).await, None);
    assert_eq!(batches(&app, CUSTOMER).await, Some(10));
    // Another customer still has room, within the partner's three.
    assert_eq!(batches(&app, OTHER_CUSTOMER).await, None);
    // Now the partner's budget is spent, for every customer.
    assert_eq!(batches(&app, OTHER_CUSTOMER).await, Some(10));
    app.advance(4);
    assert_eq!(batches(&app, OTHER_CUSTOMER).await, Some(6));
    // Refused requests did not count: waiting exactly Retry-After gets through.
    app.advance(6);
    assert_eq!(batches(&app, CUSTOMER).await, None);
    // The control plane is never throttled, and the journal lists the 429s.
    let journal = app
        .control(Method::GET, "/_emulator/requests", None)
        .await
        .json::<Value>()
        .unwrap();
    let throttled = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == 429)
        .count();
    assert_eq!(throttled, 3, "{journal}");
}

#[tokio::test]
async fn without_rate_limit_nothing_is_throttled() {
    let app = spawn_app().await;
    for _ in 0..20 {
        assert_eq!(batches(&app, CUSTOMER).await, None);
    }
}
