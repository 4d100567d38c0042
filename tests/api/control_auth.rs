//! `--control-token`, and without it the refusal of requests a web page of another site sent.

use partner_center_emulator::Config;
use partner_center_emulator::config::Secret;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

const CONTROL: &str = "s3cret-control";

async fn locked() -> TestApp {
    let mut config = Config::for_tests();
    config.control_token = Some(Secret::new(CONTROL));
    spawn_with(config).await
}

#[tokio::test]
async fn with_a_control_token_every_control_route_but_health_and_the_page_needs_it() {
    let app = locked().await;
    app.create_batch(CUSTOMER, "kept", json!([pk("PK1")])).await;
    for (method, path) in [
        (Method::GET, "/_emulator/state"),
        (Method::GET, "/_emulator/summary"),
        (Method::GET, "/_emulator/requests"),
        (Method::GET, "/_emulator/clock"),
        (Method::POST, "/_emulator/reset"),
        (Method::DELETE, "/_emulator/faults"),
    ] {
        for auth in [
            None,
            Some("Bearer wrong"),
            Some(CONTROL),
            Some("Basic s3cret-control"),
        ] {
            let mut request = app.client.request(method.clone(), app.url(path));
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
                    "Control-plane token missing or wrong: this emulator was started with --control-token; send `Authorization: Bearer <that token>`.",
                    &[],
                ),
            )
            .await;
        }
    }
    // Nothing was reset.
    assert_eq!(
        app.get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
            .await["totalCount"],
        1
    );
    let bearer = format!("Bearer {CONTROL}");
    let state = app
        .client
        .get(app.url("/_emulator/state"))
        .header("Authorization", &bearer)
        .send_checked()
        .await;
    assert_eq!(state.status(), StatusCode::OK);
    // The summary's 304 shortcut comes after the token check.
    let summary = app
        .client
        .get(app.url("/_emulator/summary"))
        .header("Authorization", &bearer)
        .send_checked()
        .await;
    let etag = summary.headers().get("etag").unwrap().clone();
    let unauthorized = app
        .client
        .get(app.url("/_emulator/summary"))
        .header("If-None-Match", etag.clone())
        .send_checked()
        .await;
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    let cached = app
        .client
        .get(app.url("/_emulator/summary"))
        .header("If-None-Match", etag)
        .header("Authorization", &bearer)
        .send_checked()
        .await;
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    for open in ["/_emulator/health", "/_emulator/ui"] {
        let response = app.client.get(app.url(open)).send_checked().await;
        assert_eq!(response.status(), StatusCode::OK, "{open}");
    }
    let reset = app
        .client
        .post(app.url("/_emulator/reset"))
        .header("Authorization", &bearer)
        .send_checked()
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_healthcheck_subcommand_works_with_a_control_token() {
    let app = locked().await;
    let address = app.address.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_partner-center-emulator"))
            .args(["healthcheck", "--url", &address])
            .env("PCE_CONTROL_TOKEN", CONTROL)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[tokio::test]
async fn without_a_token_a_web_page_of_another_site_can_neither_write_nor_read() {
    let app = spawn_app().await;
    app.create_batch(CUSTOMER, "kept", json!([pk("PK1")])).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    // A cross-site form post, as `<form method=post enctype=text/plain>` sends it.
    let form = app
        .client
        .post(app.url("/_emulator/reset"))
        .header("Origin", "http://evil.example")
        .header("Content-Type", "text/plain")
        .header("Sec-Fetch-Site", "cross-site")
        .body("x=1")
        .send_checked()
        .await;
    assert_eq!(form.status(), StatusCode::FORBIDDEN);
    // The same without Origin (an old browser): the type alone is refused.
    let plain = app
        .client
        .post(app.url("/_emulator/reset"))
        .header("Content-Type", "text/plain")
        .body("x=1")
        .send_checked()
        .await;
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // DNS rebinding: the page's own origin, under the attacker's name.
    let rebound = app
        .client
        .get(app.url("/_emulator/state"))
        .header("Host", "attacker.example:80")
        .header("Sec-Fetch-Site", "same-origin")
        .send_checked()
        .await;
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    let other_origin = app
        .client
        .get(app.url("/_emulator/state"))
        .header("Origin", "http://localhost:3000")
        .send_checked()
        .await;
    assert_eq!(other_origin.status(), StatusCode::FORBIDDEN);
    // A browser write must say JSON even without a body.
    let bodiless = app
        .client
        .post(app.url("/_emulator/reset"))
        .header("Origin", format!("http://{host}"))
        .header("Sec-Fetch-Site", "same-origin")
        .send_checked()
        .await;
    assert_eq!(bodiless.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        app.get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
            .await["totalCount"],
        1,
        "nothing was reset"
    );
    // The dashboard's own calls: same origin, JSON on every write, bodiless or not.
    for (method, path) in [
        (Method::DELETE, "/_emulator/requests"),
        (Method::DELETE, "/_emulator/faults"),
        (Method::POST, "/_emulator/reset"),
    ] {
        let response = app
            .client
            .request(method, app.url(path))
            .header("Origin", format!("http://{host}"))
            .header("Sec-Fetch-Site", "same-origin")
            .header("Content-Type", "application/json")
            .send_checked()
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
    }
    let read = app
        .client
        .get(app.url("/_emulator/state"))
        .header("Sec-Fetch-Site", "same-origin")
        .header("Host", "localhost")
        .send_checked()
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    // Command-line clients send no browser headers: a bare `curl -X POST …/reset` works.
    let curl = app.control(Method::POST, "/_emulator/reset", None).await;
    assert_eq!(curl.status(), StatusCode::NO_CONTENT);
}
