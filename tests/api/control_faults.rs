//! `/_emulator/faults` and `/_emulator/requests`.

use partner_center_emulator::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn add_rule(app: &TestApp, rule: Value) -> Value {
    let response = app
        .control(Method::POST, "/_emulator/faults", Some(&rule))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().unwrap()
}

#[tokio::test]
async fn a_times_2_throttle_fires_exactly_twice_then_service_is_normal() {
    let app = spawn_app().await;
    let rule = add_rule(
        &app,
        json!({"method": "GET", "path": "/v1/customers/*/deviceBatches", "throttle": {"retryAfterSeconds": 57}, "times": 2}),
    )
    .await;
    let id = rule["id"].as_str().unwrap().to_owned();
    assert_eq!(
        rule,
        json!({"id": id, "method": "GET", "path": "/v1/customers/*/deviceBatches", "throttle": {"retryAfterSeconds": 57}, "times": 2, "fired": 0})
    );
    let path = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    for _ in 0..2 {
        let response = app.get_faultable(&path).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get("retry-after").unwrap(), "57");
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/json"
        );
        assert!(response.headers().get("ms-requestid").is_some());
        assert_eq!(
            response.json::<Value>().unwrap(),
            json!({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."})
        );
    }
    assert_eq!(app.get(&path).await.status(), StatusCode::OK);
    let listed = app
        .control(Method::GET, "/_emulator/faults", None)
        .await
        .json::<Value>()
        .unwrap();
    assert_eq!(listed["faults"][0]["fired"], 2);
}

#[tokio::test]
async fn a_fault_answered_upload_creates_nothing() {
    let app = spawn_app().await;
    let rule = add_rule(
        &app,
        json!({"method": "POST", "customer": CUSTOMER, "status": 503, "times": 1}),
    )
    .await;
    let response = app
        .client
        .post(app.url(&format!("/v1/customers/{CUSTOMER}/deviceBatches")))
        .header("Authorization", TOKEN)
        .json(&json!({"batchId": "B", "devices": [pk("K")]}))
        .send_faultable()
        .await;
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        envelope(
            800003,
            &format!(
                "Fault injected by the emulator (rule {}).",
                rule["id"].as_str().unwrap()
            ),
            &[],
        ),
    )
    .await;
    assert_eq!(
        app.get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
            .await["totalCount"],
        0
    );
    // The retry goes through and the device is new.
    let location = app.create_batch(CUSTOMER, "B", json!([pk("K")])).await;
    app.finish_jobs();
    assert_eq!(
        app.job(&location).await["devicesStatus"][0]["status"],
        "finished"
    );
}

/// The statuses a probability rule gives to 40 requests.
async fn probability_sequence(seed: u64) -> Vec<u16> {
    let mut config = Config::for_tests();
    config.fault_seed = seed;
    let app = spawn_with(config).await;
    add_rule(&app, json!({"status": 500, "probability": 0.5})).await;
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(
            app.get_faultable(&format!("/v1/customers/{CUSTOMER}/policies"))
                .await
                .status()
                .as_u16(),
        );
    }
    statuses
}

#[tokio::test]
async fn a_probability_rule_replays_the_same_sequence_for_the_same_seed() {
    let first = probability_sequence(42).await;
    assert_eq!(first, probability_sequence(42).await);
    assert!(first.contains(&500) && first.contains(&200), "{first:?}");
    assert_ne!(first, probability_sequence(43).await);
}

#[tokio::test]
async fn a_drop_rule_closes_the_connection_without_an_answer() {
    let app = spawn_app().await;
    add_rule(&app, json!({"path": "/v1/**", "drop": true, "times": 1})).await;
    let dropped = app
        .client
        .get(app.url(&format!("/v1/customers/{CUSTOMER}/policies")))
        .header("Authorization", TOKEN)
        .send_unanswered()
        .await;
    assert!(dropped, "the first request gets no answer");
    assert_eq!(
        app.get(&format!("/v1/customers/{CUSTOMER}/policies"))
            .await
            .status(),
        StatusCode::OK
    );
    let journal = app
        .control(Method::GET, "/_emulator/requests", None)
        .await
        .json::<Value>()
        .unwrap();
    assert!(journal["requests"][0].get("status").is_none(), "{journal}");
    assert!(journal["requests"][0]["faultId"].is_string());
}

#[tokio::test]
async fn a_delay_rule_serves_normally_and_a_window_follows_the_emulator_clock() {
    let app = spawn_app().await;
    add_rule(&app, json!({"delayMs": 20, "times": 1})).await;
    assert_eq!(
        app.get(&format!("/v1/customers/{CUSTOMER}/policies"))
            .await
            .status(),
        StatusCode::OK
    );
    app.control(Method::DELETE, "/_emulator/faults", None).await;
    add_rule(&app, json!({"status": 500, "window": {"from": "2026-11-21T10:00:05Z", "until": "2026-11-21T10:00:10Z"}})).await;
    let path = format!("/v1/customers/{CUSTOMER}/policies");
    assert_eq!(app.get(&path).await.status(), StatusCode::OK);
    app.advance(5);
    assert_eq!(
        app.get_faultable(&path).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    app.advance(5);
    assert_eq!(app.get(&path).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn rules_are_validated_and_removed_one_by_one() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"path": "/v1/**"}),
            "Invalid request input: needs exactly one effect: `status`, `throttle`, `delayMs` or `drop`.",
            vec![],
        ),
        (
            json!({"status": 200}),
            "Invalid request input: `status` must be a 4xx or 5xx status, got 200.",
            vec!["status"],
        ),
        (
            json!({"status": 500, "probability": 2}),
            "Invalid request input: `probability` must be between 0 and 1, got 2.",
            vec!["probability"],
        ),
        (
            json!({"status": 500, "delay_ms": 5}),
            "Invalid request input: unknown field `delay_ms`, expected one of `method`, `path`, `customer`, `status`, `throttle`, `delayMs`, `drop`, `times`, `probability`, `window`.",
            vec![],
        ),
    ];
    for (rule, description, data) in cases {
        let response = app
            .control(Method::POST, "/_emulator/faults", Some(&rule))
            .await;
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            envelope(800002, description, &data),
        )
        .await;
    }
    let rule = add_rule(&app, json!({"status": 500})).await;
    let id = rule["id"].as_str().unwrap();
    let gone = app
        .control(Method::DELETE, &format!("/_emulator/faults/{id}"), None)
        .await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let again = app
        .control(Method::DELETE, &format!("/_emulator/faults/{id}"), None)
        .await;
    assert_error(
        again,
        StatusCode::NOT_FOUND,
        envelope(
            1000,
            &format!("Not found: fault rule `{id}` does not exist."),
            &[],
        ),
    )
    .await;
}

#[tokio::test]
async fn the_journal_records_requests_and_filters_them() {
    let app = spawn_app().await;
    app.client
        .post(app.url(&format!("/v1/customers/{CUSTOMER}/deviceBatches")))
        .header("Authorization", "Bearer secret-token")
        .header("MS-RequestId", "rid-1")
        .header("MS-CorrelationId", "cid-1")
        .json(&json!({"batchId": "B", "devices": [pk("K")]}))
        .send_checked()
        .await;
    app.get(&format!("/v1/customers/{OTHER_CUSTOMER}/policies"))
        .await;
    app.control(Method::GET, "/_emulator/health", None).await;

    let all = app
        .control(Method::GET, "/_emulator/requests", None)
        .await
        .json::<Value>()
        .unwrap();
    assert_eq!(
        all["requests"][0],
        json!({"time": "2026-11-21T10:00:00Z", "method": "POST", "path": format!("/v1/customers/{CUSTOMER}/deviceBatches"),
               "customer": CUSTOMER, "status": 202, "requestId": "rid-1", "correlationId": "cid-1",
               "body": "{\"batchId\":\"B\",\"devices\":[{\"productKey\":\"K\"}]}", "bodyTruncated": false})
    );
    assert_eq!(
        all["requests"].as_array().unwrap().len(),
        2,
        "control-plane calls are not journalled"
    );
    assert!(!all.to_string().contains("secret-token"));

    for (query, paths) in [
        (format!("customer={OTHER_CUSTOMER}"), vec!["policies"]),
        ("method=post".to_owned(), vec!["deviceBatches"]),
        ("path=/v1/customers/*/policies".to_owned(), vec!["policies"]),
        ("limit=1".to_owned(), vec!["policies"]),
    ] {
        let got = app
            .control(Method::GET, &format!("/_emulator/requests?{query}"), None)
            .await
            .json::<Value>()
            .unwrap();
        let got: Vec<String> = got["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["path"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(got, paths, "{query}");
    }
    assert_eq!(
        app.control(Method::DELETE, "/_emulator/requests", None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let empty = app
        .control(Method::GET, "/_emulator/requests", None)
        .await
        .json::<Value>()
        .unwrap();
    assert_eq!(empty, json!({"requests": []}));
}

#[tokio::test]
async fn the_journal_is_bounded_and_truncates_large_bodies() {
    let mut config = Config::for_tests();
    config.journal_size = 3;
    let app = spawn_with(config).await;
    let big = "x".repeat(70 * 1024);
    app.post_json(
        &format!("/v1/customers/{CUSTOMER}/policies"),
        &json!({"name": big, "policySettings": []}),
    )
    .await;
    for _ in 0..3 {
        app.get(&format!("/v1/customers/{CUSTOMER}/policies")).await;
    }
    let journal = app
        .control(Method::GET, "/_emulator/requests", None)
        .await
        .json::<Value>()
        .unwrap();
    let methods: Vec<&str> = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["GET", "GET", "GET"], "the oldest was dropped");

    let app = spawn_app().await;
    app.post_json(
        &format!("/v1/customers/{CUSTOMER}/policies"),
        &json!({"name": big, "policySettings": []}),
    )
    .await;
    let journal = app
        .control(Method::GET, "/_emulator/requests", None)
        .await
        .json::<Value>()
        .unwrap();
    assert_eq!(journal["requests"][0]["bodyTruncated"], true);
    assert_eq!(
        journal["requests"][0]["body"].as_str().unwrap().len(),
        64 * 1024
    );
}

/// Found by schemathesis: JSON Schema's `integer` includes `531.0`, and `null` is "absent".
#[tokio::test]
async fn whole_numbers_with_a_zero_fraction_and_null_window_bounds_are_accepted() {
    let app = spawn_app().await;
    let rule = add_rule(
        &app,
        json!({"status": 531.0, "times": 2.0, "window": {"from": "2000-01-01T00:00:00Z", "until": null}}),
    )
    .await;
    assert_eq!(rule["status"], 531);
    assert_eq!(rule["times"], 2);
    assert_eq!(rule["window"], json!({"from": "2000-01-01T00:00:00Z"}));
    let fraction = app
        .control(
            Method::POST,
            "/_emulator/faults",
            Some(&json!({"status": 500.5})),
        )
        .await;
    assert_eq!(fraction.status(), StatusCode::BAD_REQUEST);
}

/// Found by schemathesis: nested objects given as arrays, and counts past what JSON carries.
#[tokio::test]
async fn nested_arrays_and_unbounded_numbers_are_400() {
    let app = spawn_app().await;
    for (rule, description, field) in [
        (
            json!({"delayMs": 0, "window": [null, null]}),
            "Invalid request input: `window` must be an object, got an array.",
            "window",
        ),
        (
            json!({"drop": true, "times": 10_000_000_000_000_000u64}),
            "Invalid request input: `times` must be from 1 to 9007199254740991.",
            "times",
        ),
        (
            json!({"delayMs": 600001}),
            "Invalid request input: `delayMs` must be at most 600000 (10 minutes).",
            "delayMs",
        ),
    ] {
        let response = app
            .control(Method::POST, "/_emulator/faults", Some(&rule))
            .await;
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            envelope(800002, description, &[field]),
        )
        .await;
    }
    let huge = app
        .control(
            Method::POST,
            "/_emulator/faults",
            Some(&json!({"drop": true, "times": 4.9e20})),
        )
        .await;
    assert_eq!(huge.status(), StatusCode::BAD_REQUEST);
    let seed = app
        .control(Method::POST, "/_emulator/seed", Some(&json!({})))
        .await;
    assert_error(
        seed,
        StatusCode::BAD_REQUEST,
        envelope(
            800002,
            "Invalid request input: missing field `customers`.",
            &[],
        ),
    )
    .await;
}

/// Found by schemathesis: a limit past any integer type keeps everything.
#[tokio::test]
async fn a_huge_journal_limit_keeps_everything() {
    let app = spawn_app().await;
    app.get(&format!("/v1/customers/{CUSTOMER}/policies")).await;
    let journal = app
        .control(
            Method::GET,
            "/_emulator/requests?limit=494612982122566182249919676416",
            None,
        )
        .await
        .json::<Value>()
        .unwrap();
    assert_eq!(journal["requests"].as_array().unwrap().len(), 1);
    let bad = app
        .control(Method::GET, "/_emulator/requests?limit=-1", None)
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_long_path_against_many_double_stars_stalls_nobody() {
    // Once exponential backtracking under the lock every request takes: this one request froze
    // the whole server, health and DELETE /_emulator/faults included.
    let app = spawn_app().await;
    add_rule(
        &app,
        json!({"path": "/v1/**/**/**/**/**/**/**/**/**/**/zzz", "status": 503}),
    )
    .await;
    let long = format!("/v1{}", "/a".repeat(200));
    let answered = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let response = app.get_faultable(&long).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let response = app
            .control(
                Method::GET,
                &format!("/_emulator/requests?path={}/zzz", "/**".repeat(50)),
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let health = app.control(Method::GET, "/_emulator/health", None).await;
        assert_eq!(health.status(), StatusCode::OK);
    })
    .await;
    assert!(answered.is_ok(), "the server stalled on a glob");
}
