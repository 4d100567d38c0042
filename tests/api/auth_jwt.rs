//! `--auth jwt`: Partner Center routes take only unexpired Partner Center tokens this emulator
//! issued, and creating a batch needs a user.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use partner_center_emulator::Config;
use partner_center_emulator::config::AuthMode;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::identity::{PC_DEFAULT, app_token, decode, post_form, user_token};

async fn jwt_app() -> TestApp {
    let mut config = Config::for_tests();
    config.auth = AuthMode::Jwt;
    spawn_with(config).await
}

fn batches() -> String {
    format!("/v1/customers/{CUSTOMER}/deviceBatches")
}

async fn list_with(app: &TestApp, token: &str) -> Response {
    app.client
        .get(app.url(&batches()))
        .header("Authorization", format!("Bearer {token}"))
        .send_checked()
        .await
}

async fn create_with(app: &TestApp, token: &str, batch: &str) -> Response {
    app.client
        .post(app.url(&batches()))
        .header("Authorization", format!("Bearer {token}"))
        .json(&json!({"batchId": batch, "devices": [pk(batch)]}))
        .send_checked()
        .await
}

/// A 401 refusing the token, with the reason in the description.
async fn assert_refused(response: Response, why: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: Value = response.json().unwrap();
    assert_eq!(
        body,
        envelope(
            800001,
            &format!(
                "Partner Token missing in request context: {why}. Get a token for https://api.partnercenter.microsoft.com from this emulator's Entra ID (POST /{{tenant}}/oauth2/v2.0/token)."
            ),
            &[]
        )
    );
}

/// A token with another header and the same claims and signature.
fn with_header(token: &str, header: Value) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[0] = URL_SAFE_NO_PAD.encode(header.to_string());
    parts.join(".")
}

#[tokio::test]
async fn tokens_of_this_emulator_pass_and_others_are_401() {
    let app = jwt_app().await;
    // Before any token was issued, every token is foreign.
    assert_refused(
        list_with(&app, "abc").await,
        "the token was not issued by this emulator",
    )
    .await;
    let user = user_token(&app, PC_DEFAULT).await;
    assert_eq!(list_with(&app, &user).await.status(), StatusCode::OK);

    let (header, claims) = decode(&user);
    // alg none, no signature.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let response = list_with(&app, &none).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // HS256 signed with a guessable secret, our kid.
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: header["kid"].as_str().map(str::to_owned),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    assert_refused(
        list_with(&app, &hs).await,
        "the token is not a JWT this emulator issued (alg HS256, not RS256)",
    )
    .await;
    // Claims changed under the original signature.
    let mut forged = claims.clone();
    forged["tid"] = json!(OTHER_CUSTOMER);
    let parts: Vec<&str> = user.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged.to_string()),
        parts[2]
    );
    assert_refused(
        list_with(&app, &tampered).await,
        "the token's signature is not valid",
    )
    .await;
    // Another kid.
    let other_kid = with_header(
        &user,
        json!({"alg": "RS256", "typ": "JWT", "kid": "someone-else"}),
    );
    assert_refused(
        list_with(&app, &other_kid).await,
        "the token is not a JWT this emulator issued (unknown kid)",
    )
    .await;
    // Missing.
    let response = app.client.get(app.url(&batches())).send_checked().await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tokens_for_another_audience_or_expired_on_the_emulator_clock_are_401() {
    let app = jwt_app().await;
    let graph = user_token(&app, "https://graph.microsoft.com/.default").await;
    assert_refused(
        list_with(&app, &graph).await,
        "the token's audience `https://graph.microsoft.com` is not https://api.partnercenter.microsoft.com",
    )
    .await;
    let user = user_token(&app, PC_DEFAULT).await;
    let (_, claims) = decode(&user);
    app.advance(3599);
    assert_eq!(list_with(&app, &user).await.status(), StatusCode::OK);
    app.advance(1);
    assert_refused(
        list_with(&app, &user).await,
        &format!("the token expired at {} (emulator clock)", claims["exp"]),
    )
    .await;
}

#[tokio::test]
async fn creating_a_batch_needs_a_user_other_operations_take_an_app() {
    let app = jwt_app().await;
    let app_only = app_token(&app).await;
    let user = user_token(&app, PC_DEFAULT).await;
    let response = create_with(&app, &app_only, "AppOnly").await;
    assert_error(
        response,
        StatusCode::FORBIDDEN,
        envelope(
            2032,
            "Access denied: this operation supports App+User credentials only; sign in a user (authorization code, device code, password or refresh token) instead of using client credentials.",
            &[],
        ),
    )
    .await;
    assert_eq!(
        create_with(&app, &user, "Lab").await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(list_with(&app, &app_only).await.status(), StatusCode::OK);
    let add = app
        .client
        .post(app.url(&format!("{}/Lab/devices", batches())))
        .header("Authorization", format!("Bearer {app_only}"))
        .json(&json!([pk("K2")]))
        .send_checked()
        .await;
    assert_eq!(add.status(), StatusCode::ACCEPTED);
    let policies = app
        .client
        .request(
            Method::GET,
            app.url(&format!("/v1/customers/{CUSTOMER}/policies")),
        )
        .header("Authorization", format!("Bearer {app_only}"))
        .send_checked()
        .await;
    assert_eq!(policies.status(), StatusCode::OK);
}

#[tokio::test]
async fn generatetoken_exchanges_an_entra_token_for_a_partner_center_token() {
    let app = jwt_app().await;
    let user = user_token(&app, PC_DEFAULT).await;
    app.advance(10);
    let response = app
        .client
        .post(app.url("/generatetoken"))
        .header("Authorization", format!("Bearer {user}"))
        .form(&[("grant_type", "jwt_token")])
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(
        body,
        json!({"access_token": token, "token_type": "bearer", "expires_in": 3600})
    );
    let (_, before) = decode(&user);
    let (_, after) = decode(token);
    assert_eq!(after["upn"], before["upn"]);
    assert_eq!(
        after["iat"].as_i64(),
        before["iat"].as_i64().map(|t| t + 10)
    );
    assert_eq!(
        create_with(&app, token, "ViaGenerateToken").await.status(),
        StatusCode::ACCEPTED
    );

    let wrong_grant = app
        .client
        .post(app.url("/generatetoken"))
        .header("Authorization", format!("Bearer {user}"))
        .form(&[("grant_type", "client_credentials")])
        .send_checked()
        .await;
    assert_error(
        wrong_grant,
        StatusCode::BAD_REQUEST,
        envelope(
            800002,
            "Invalid request input: `grant_type` must be `jwt_token` (a form or JSON body, with the Entra token in `Authorization: Bearer`).",
            &["grant_type"],
        ),
    )
    .await;
    let foreign = app
        .client
        .post(app.url("/generatetoken"))
        .header("Authorization", "Bearer not.a.jwt")
        .form(&[("grant_type", "jwt_token")])
        .send_checked()
        .await;
    assert_eq!(foreign.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn v3_generatetoken_takes_partner_center_tokens_only_and_json_bodies() {
    let app = jwt_app().await;
    let exchange = |path: &'static str, token: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url(path))
                .header("Authorization", format!("Bearer {token}"))
                .json(&json!({"grant_type": "jwt_token"}))
                .send_checked()
                .await
        }
    };
    let user = user_token(&app, PC_DEFAULT).await;
    let response = exchange("/v3/generatetoken", user).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().unwrap();
    assert_eq!(
        create_with(&app, body["access_token"].as_str().unwrap(), "V3")
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    // An Azure AD Graph token: the legacy route still takes it (and answers a Partner Center
    // token), v3 does not.
    let aad_graph = crate::identity::token_ok(
        &app,
        "/contoso.com/oauth2/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "app"),
            ("client_secret", "s"),
            ("resource", "https://graph.windows.net"),
        ],
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_refused(
        exchange("/v3/generatetoken", aad_graph.clone()).await,
        "the token's audience `https://graph.windows.net` is not https://api.partnercenter.microsoft.com",
    )
    .await;
    let response = exchange("/generatetoken", aad_graph).await;
    let body: Value = response.json().unwrap();
    let (_, claims) = decode(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "https://api.partnercenter.microsoft.com");
    assert_eq!(
        list_with(&app, body["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn bearer_mode_stays_lenient() {
    let app = spawn_app().await;
    let response = post_form(&app, "/common/oauth2/v2.0/token", &[("grant_type", "x")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(list_with(&app, "anything").await.status(), StatusCode::OK);
}
