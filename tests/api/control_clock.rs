//! `/_emulator/clock` and `/_emulator/reset`.

use partner_center_emulator::{AppState, Clock, Config};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_job_held_queued_by_the_manual_clock_finishes_after_an_advance() {
    let app = spawn_app().await;
    let clock = app.control(Method::GET, "/_emulator/clock", None).await;
    assert_eq!(clock.status(), StatusCode::OK);
    assert_eq!(
        clock.json::<serde_json::Value>().unwrap(),
        json!({"now": "2026-11-21T10:00:00Z", "mode": "manual"})
    );

    let location = app.create_batch(CUSTOMER, "B", json!([pk("K")])).await;
    assert_eq!(app.job(&location).await["status"], "queued");
    let advanced = app
        .control(
            Method::POST,
            "/_emulator/clock/advance",
            Some(&json!({"seconds": 2.5})),
        )
        .await;
    assert_eq!(
        advanced.json::<serde_json::Value>().unwrap(),
        json!({"now": "2026-11-21T10:00:02.5Z", "mode": "manual"})
    );
    assert_eq!(app.job(&location).await["status"], "processing");
    let set = app
        .control(
            Method::POST,
            "/_emulator/clock",
            Some(&json!({"now": "2026-11-21T12:00:00+01:00"})),
        )
        .await;
    assert_eq!(
        set.json::<serde_json::Value>().unwrap(),
        json!({"now": "2026-11-21T11:00:00Z", "mode": "manual"})
    );
    let job = app.job(&location).await;
    assert_eq!(job["status"], "finished");
    assert_eq!(job["completedTime"], "2026-11-21T10:00:03+00:00");
}

#[tokio::test]
async fn the_clock_refuses_to_go_backwards_or_move_when_it_follows_the_system() {
    let app = spawn_app().await;
    let back = app
        .control(
            Method::POST,
            "/_emulator/clock",
            Some(&json!({"now": "2026-11-21T09:00:00Z"})),
        )
        .await;
    assert_error(
        back,
        StatusCode::BAD_REQUEST,
        envelope(800002, "Invalid request input: the clock never moves backwards: 2026-11-21T09:00:00Z is before the current time 2026-11-21T10:00:00Z.", &[]),
    )
    .await;
    let negative = app
        .control(
            Method::POST,
            "/_emulator/clock/advance",
            Some(&json!({"seconds": -1})),
        )
        .await;
    assert_error(
        negative,
        StatusCode::BAD_REQUEST,
        envelope(
            800002,
            "Invalid request input: `seconds` must be a number of seconds from 0 to 31536000000 (1000 years), got -1.",
            &["seconds"],
        ),
    )
    .await;
    let missing = app
        .control(Method::POST, "/_emulator/clock/advance", Some(&json!({})))
        .await;
    assert_error(
        missing,
        StatusCode::BAD_REQUEST,
        envelope(
            800002,
            "Invalid request input: missing field `seconds`.",
            &[],
        ),
    )
    .await;

    let system = spawn_state(AppState::new(Config::for_tests(), Clock::system())).await;
    let refused = system
        .control(
            Method::POST,
            "/_emulator/clock/advance",
            Some(&json!({"seconds": 1})),
        )
        .await;
    assert_error(
        refused,
        StatusCode::BAD_REQUEST,
        envelope(800002, "Invalid request input: the clock follows system time; start with `--clock manual` to move it.", &[]),
    )
    .await;
    let mode = system.control(Method::GET, "/_emulator/clock", None).await;
    assert_eq!(mode.json::<serde_json::Value>().unwrap()["mode"], "system");
}

#[tokio::test]
async fn a_full_reset_clears_everything() {
    let app = spawn_app().await;
    app.create_batch(CUSTOMER, "B", json!([pk("K")])).await;
    app.create_policy(CUSTOMER, "P").await;
    app.control(
        Method::POST,
        "/_emulator/faults",
        Some(&json!({"path": "/nowhere", "status": 500})),
    )
    .await;
    let reset = app.control(Method::POST, "/_emulator/reset", None).await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
            .await["totalCount"],
        0
    );
    assert_eq!(
        app.get_json(&format!("/v1/customers/{CUSTOMER}/policies"))
            .await["totalCount"],
        0
    );
    let faults = app.control(Method::GET, "/_emulator/faults", None).await;
    assert_eq!(
        faults.json::<serde_json::Value>().unwrap(),
        json!({"faults": []})
    );
    let journal = app.control(Method::GET, "/_emulator/requests", None).await;
    // Only the two listings made after the reset.
    assert_eq!(
        journal.json::<serde_json::Value>().unwrap()["requests"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The device is free again.
    let location = app.create_batch(CUSTOMER, "B", json!([pk("K")])).await;
    app.finish_jobs();
    assert_eq!(
        app.job(&location).await["devicesStatus"][0]["status"],
        "finished"
    );
}

#[tokio::test]
async fn a_customer_reset_leaves_other_customers_intact() {
    let app = spawn_app().await;
    app.create_batch(CUSTOMER, "Mine", json!([pk("K1")])).await;
    let theirs = app
        .create_batch(OTHER_CUSTOMER, "Theirs", json!([pk("K2")]))
        .await;
    app.create_policy(OTHER_CUSTOMER, "Kept").await;
    let reset = app
        .control(
            Method::POST,
            &format!("/_emulator/reset?customer={CUSTOMER}"),
            None,
        )
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
            .await["totalCount"],
        0
    );
    assert_eq!(
        app.get_json(&format!("/v1/customers/{OTHER_CUSTOMER}/deviceBatches"))
            .await["totalCount"],
        1
    );
    assert_eq!(
        app.get_json(&format!("/v1/customers/{OTHER_CUSTOMER}/policies"))
            .await["totalCount"],
        1
    );
    app.finish_jobs();
    assert_eq!(app.job(&theirs).await["status"], "finished");
    let bad = app
        .control(Method::POST, "/_emulator/reset?customer=contoso", None)
        .await;
    assert_error(
        bad,
        StatusCode::BAD_REQUEST,
        envelope(
            800002,
            "Invalid request input: `customer` must be a GUID, got `contoso`.",
            &["customer"],
        ),
    )
    .await;
}

/// Found by schemathesis: an advance past the calendar's end is refused, not overflowed.
#[tokio::test]
async fn an_advance_of_more_than_1000_years_is_400() {
    let app = spawn_app().await;
    let response = app
        .control(
            Method::POST,
            "/_emulator/clock/advance",
            Some(&json!({"seconds": 1.7976931348623157e308})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let ok = app
        .control(
            Method::POST,
            "/_emulator/clock/advance",
            Some(&json!({"seconds": 31536000000u64})),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
}

/// Finished jobs are answered from a render cache; a reset must still make them unknown.
#[tokio::test]
async fn a_finished_job_polled_before_a_reset_is_not_found_after_it() {
    let app = spawn_app().await;
    let location = app.create_batch(CUSTOMER, "B", json!([pk("K")])).await;
    app.finish_jobs();
    let first = app.job(&location).await;
    assert_eq!(
        app.job(&location).await,
        first,
        "the cached answer is the same document"
    );
    app.control(Method::POST, "/_emulator/reset", None).await;
    let gone = app.get(&format!("/v1{location}")).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}
