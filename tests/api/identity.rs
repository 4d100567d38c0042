//! The mock Entra ID over HTTP: every grant, metadata, discovery, the JWKS, device codes,
//! authorize with PKCE, strict mode, determinism, the key across restarts, and bad input.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use partner_center_emulator::config::IdentityMode;
use partner_center_emulator::domain::timestamp::Timestamp;
use partner_center_emulator::identity::directory::{
    DEFAULT_TENANT, app_oid, derived_guid, user_oid,
};
use partner_center_emulator::{Config, startup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

pub const TENANT: &str = "4b6f1a2c-8d3e-4f5a-9b7c-1d2e3f4a5b6c";
pub const PC_DEFAULT: &str = "https://api.partnercenter.microsoft.com/.default";
pub const PC: &str = "https://api.partnercenter.microsoft.com";

/// T0 in seconds since the epoch, as JWTs write times.
pub fn t0() -> i64 {
    Timestamp::parse_rfc3339(T0)
        .unwrap()
        .as_offset()
        .unix_timestamp()
}

/// POSTs a form (no token) and returns the checked answer.
pub async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> Response {
    app.client
        .post(app.url(path))
        .form(form)
        .send_checked()
        .await
}

/// POSTs a form that must answer 200 with JSON, and returns the body.
pub async fn token_ok(app: &TestApp, path: &str, form: &[(&str, &str)]) -> Value {
    let response = post_form(app, path, form).await;
    let status = response.status();
    let body: Value = response.json().unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// An app-only Partner Center token from the v2 endpoint.
pub async fn app_token(app: &TestApp) -> String {
    let body = token_ok(
        app,
        &format!("/{TENANT}/oauth2/v2.0/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "app-1"),
            ("client_secret", "s"),
            ("scope", PC_DEFAULT),
        ],
    )
    .await;
    body["access_token"].as_str().unwrap().to_owned()
}

/// An app+user Partner Center token (password grant).
pub async fn user_token(app: &TestApp, scope: &str) -> String {
    let body = token_ok(
        app,
        &format!("/{TENANT}/oauth2/v2.0/token"),
        &[
            ("grant_type", "password"),
            ("client_id", "app-1"),
            ("username", "alice@contoso.com"),
            ("password", "pw"),
            ("scope", scope),
        ],
    )
    .await;
    body["access_token"].as_str().unwrap().to_owned()
}

/// A JWT's header and claims, unverified.
pub fn decode(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut part = || {
        let raw = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
        serde_json::from_slice::<Value>(&raw).unwrap()
    };
    (part(), part())
}

/// Claims with the random token id checked and replaced by `<uti>`.
fn redacted(mut claims: Value) -> Value {
    let uti = claims["uti"].as_str().unwrap();
    assert_eq!(uti.len(), 22, "uti {uti}");
    claims["uti"] = json!("<uti>");
    claims
}

/// Checks an Entra error: status, `error`, the AADSTS code, and the whole shape.
pub async fn assert_entra(
    response: Response,
    status: StatusCode,
    error: &str,
    code: u64,
) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], json!([code]), "{body}");
    // The emulator clock, as Entra writes it; the tests' clock starts at 2026-11-21 10:00:00Z.
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(
        timestamp.starts_with("2026-11-21 10:") && timestamp.len() == 20,
        "{timestamp}"
    );
    assert_eq!(
        body["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
    let description = body["error_description"].as_str().unwrap();
    let expected_tail = format!(
        "\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {timestamp}",
        body["trace_id"].as_str().unwrap(),
        body["correlation_id"].as_str().unwrap()
    );
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    assert!(description.ends_with(&expected_tail), "{description}");
    description[..description.len() - expected_tail.len()].to_owned()
}

#[tokio::test]
async fn client_credentials_v2_answer_an_app_only_v1_format_token() {
    let app = spawn_app().await;
    let body = token_ok(
        &app,
        &format!("/{TENANT}/oauth2/v2.0/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "app-1"),
            ("client_secret", "anything"),
            ("scope", PC_DEFAULT),
        ],
    )
    .await;
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(
        body,
        json!({"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": token})
    );
    let (header, claims) = decode(token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert!(header["kid"].is_string());
    let tenant: uuid::Uuid = TENANT.parse().unwrap();
    let oid = app_oid(tenant, "app-1").to_string();
    let iss = format!("https://sts.windows.net/{TENANT}/");
    assert_eq!(
        redacted(claims.clone()),
        json!({
            "aud": PC, "iss": iss, "iat": t0(), "nbf": t0(), "exp": t0() + 3600,
            "appid": "app-1", "appidacr": "1", "idp": iss, "idtyp": "app",
            "oid": oid, "sub": claims["sub"], "tid": TENANT, "uti": "<uti>", "ver": "1.0"
        })
    );
    assert_eq!(claims["sub"].as_str().unwrap().len(), 22);
}

#[tokio::test]
async fn client_assertions_are_taken_bounded_and_checked_for_shape() {
    let app = spawn_app().await;
    let path = format!("/{TENANT}/oauth2/v2.0/token");
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","x5t":"abc"}"#);
    let payload = URL_SAFE_NO_PAD.encode(br#"{"aud":"x","iss":"app-1","sub":"app-1"}"#);
    let assertion = format!("{header}.{payload}.c2ln");
    let jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    let body = token_ok(
        &app,
        &path,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "app-1"),
            ("client_assertion_type", jwt_bearer),
            ("client_assertion", &assertion),
            ("scope", PC_DEFAULT),
        ],
    )
    .await;
    let (_, claims) = decode(body["access_token"].as_str().unwrap());
    assert_eq!(claims["appidacr"], "2");

    let big = format!("{header}.{payload}.{}", "A".repeat(17 * 1024));
    for (kind, assertion, code) in [
        (jwt_bearer, big.as_str(), 50027),
        (jwt_bearer, "not-a-jwt", 50027),
        ("urn:other", assertion.as_str(), 700022),
    ] {
        let response = post_form(
            &app,
            &path,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "app-1"),
                ("client_assertion_type", kind),
                ("client_assertion", assertion),
                ("scope", PC_DEFAULT),
            ],
        )
        .await;
        assert_entra(response, StatusCode::BAD_REQUEST, "invalid_request", code).await;
    }
    // client_secret_basic, as the metadata advertises: form-encoded id and secret in Basic.
    let basic = app
        .client
        .post(app.url(&path))
        .basic_auth("app%2F1", Some("s%3Acret"))
        .form(&[("grant_type", "client_credentials"), ("scope", PC_DEFAULT)])
        .send_checked()
        .await;
    let body: Value = basic.json().unwrap();
    let (_, claims) = decode(body["access_token"].as_str().unwrap());
    assert_eq!(
        (claims["appid"].as_str(), claims["appidacr"].as_str()),
        (Some("app/1"), Some("1"))
    );
    let response = post_form(
        &app,
        &path,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "app-1"),
            ("scope", PC_DEFAULT),
        ],
    )
    .await;
    let message = assert_entra(
        response,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7000218,
    )
    .await;
    assert_eq!(
        message,
        "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
    );
}

#[tokio::test]
async fn password_v2_answers_id_token_refresh_token_and_client_info() {
    let app = spawn_app().await;
    let body = token_ok(
        &app,
        "/contoso.com/oauth2/v2.0/token",
        &[
            ("grant_type", "password"),
            ("client_id", "public-app"),
            ("username", "alice@contoso.com"),
            ("password", "pw"),
            ("scope", "https://api.partnercenter.microsoft.com/user_impersonation openid profile offline_access"),
            ("client_info", "1"),
        ],
    )
    .await;
    let tenant = derived_guid("tenant", "contoso.com");
    let oid = user_oid(tenant, "alice@contoso.com");
    let (access, id, refresh) = (
        body["access_token"].as_str().unwrap(),
        body["id_token"].as_str().unwrap(),
        body["refresh_token"].as_str().unwrap(),
    );
    let info = URL_SAFE_NO_PAD.encode(format!(r#"{{"uid":"{oid}","utid":"{tenant}"}}"#));
    assert_eq!(
        body,
        json!({
            "token_type": "Bearer",
            "scope": "https://api.partnercenter.microsoft.com/user_impersonation openid profile offline_access",
            "expires_in": 3600, "ext_expires_in": 3600,
            "access_token": access, "refresh_token": refresh, "id_token": id, "client_info": info
        })
    );
    let (_, claims) = decode(access);
    let iss = format!("https://sts.windows.net/{tenant}/");
    assert_eq!(
        redacted(claims.clone()),
        json!({
            "aud": PC, "iss": iss, "iat": t0(), "nbf": t0(), "exp": t0() + 3600,
            "appid": "public-app", "appidacr": "0", "idp": iss, "name": "alice",
            "oid": oid.to_string(), "scp": "user_impersonation", "sub": claims["sub"],
            "tid": tenant.to_string(), "unique_name": "alice@contoso.com",
            "upn": "alice@contoso.com", "uti": "<uti>", "ver": "1.0"
        })
    );
    // The id token is what MSAL checks: aud is the client, iss the v2 metadata's issuer.
    let (_, id_claims) = decode(id);
    assert_eq!(
        redacted(id_claims.clone()),
        json!({
            "aud": "public-app", "iss": format!("{}/{tenant}/v2.0", app.address),
            "iat": t0(), "nbf": t0(), "exp": t0() + 3600, "name": "alice",
            "oid": oid.to_string(), "preferred_username": "alice@contoso.com",
            "sub": id_claims["sub"], "tid": tenant.to_string(), "uti": "<uti>", "ver": "2.0"
        })
    );
    let metadata = app
        .client
        .get(app.url(&format!("/{tenant}/v2.0/.well-known/openid-configuration")))
        .send_checked()
        .await
        .json::<Value>()
        .unwrap();
    assert_eq!(metadata["issuer"], id_claims["iss"]);
}

#[tokio::test]
async fn refresh_tokens_keep_the_user_rotate_and_belong_to_their_client() {
    let app = spawn_app().await;
    let path = format!("/{TENANT}/oauth2/v2.0/token");
    let first = token_ok(
        &app,
        &path,
        &[
            ("grant_type", "password"),
            ("client_id", "app-1"),
            ("username", "bob@contoso.com"),
            ("password", "pw"),
            (
                "scope",
                "https://api.partnercenter.microsoft.com/.default offline_access",
            ),
        ],
    )
    .await;
    assert!(first.get("id_token").is_none(), "no openid, no id token");
    let rt = first["refresh_token"].as_str().unwrap();
    app.advance(60);
    let refreshed = token_ok(
        &app,
        &path,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "app-1"),
            ("refresh_token", rt),
        ],
    )
    .await;
    let new_rt = refreshed["refresh_token"].as_str().unwrap();
    assert_ne!(new_rt, rt);
    assert_eq!(
        refreshed["scope"],
        "https://api.partnercenter.microsoft.com/user_impersonation offline_access"
    );
    let (_, claims) = decode(refreshed["access_token"].as_str().unwrap());
    assert_eq!(claims["upn"], "bob@contoso.com");
    assert_eq!(claims["iat"], t0() + 60);
    assert_eq!(claims["exp"], t0() + 60 + 3600);
    // Another client cannot use it.
    let response = post_form(
        &app,
        &path,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "app-2"),
            ("refresh_token", new_rt),
        ],
    )
    .await;
    assert_entra(response, StatusCode::BAD_REQUEST, "invalid_grant", 70000).await;
    // Permissive: an unknown refresh token signs in the tenant's default user.
    let body = token_ok(
        &app,
        "/common/oauth2/v2.0/token",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "cipp"),
            ("client_secret", "s"),
            ("refresh_token", "0.AAAA-from-elsewhere"),
            (
                "scope",
                "https://api.partnercenter.microsoft.com/user_impersonation",
            ),
        ],
    )
    .await;
    let (_, claims) = decode(body["access_token"].as_str().unwrap());
    assert_eq!(claims["upn"], "admin@emulator.onmicrosoft.com");
    assert_eq!(claims["tid"], DEFAULT_TENANT.to_string());
    assert!(body["refresh_token"].is_string());
}

#[tokio::test]
async fn a_refresh_token_from_one_endpoint_works_on_the_other() {
    let app = spawn_app().await;
    let v1 = token_ok(
        &app,
        &format!("/{TENANT}/oauth2/token"),
        &[
            ("grant_type", "password"),
            ("client_id", "app-1"),
            ("username", "frank@contoso.com"),
            ("password", "pw"),
            ("resource", PC),
        ],
    )
    .await;
    let v2 = token_ok(
        &app,
        &format!("/{TENANT}/oauth2/v2.0/token"),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "app-1"),
            ("refresh_token", v1["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(
        v2["scope"],
        "https://api.partnercenter.microsoft.com/user_impersonation offline_access"
    );
    let back = token_ok(
        &app,
        &format!("/{TENANT}/oauth2/token"),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "app-1"),
            ("refresh_token", v2["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(back["resource"], PC);
    let (_, claims) = decode(back["access_token"].as_str().unwrap());
    assert_eq!(claims["upn"], "frank@contoso.com");
}

#[tokio::test]
async fn v1_answers_carry_strings_expires_on_not_before_and_resource() {
    let app = spawn_app().await;
    let path = format!("/{TENANT}/oauth2/token");
    let body = token_ok(
        &app,
        &path,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "app-1"),
            ("client_secret", "s"),
            ("resource", PC),
        ],
    )
    .await;
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(
        body,
        json!({
            "token_type": "Bearer", "expires_in": "3600", "ext_expires_in": "3600",
            "expires_on": (t0() + 3600).to_string(), "not_before": t0().to_string(),
            "resource": PC, "access_token": at
        })
    );
    let body = token_ok(
        &app,
        &path,
        &[
            ("grant_type", "password"),
            ("client_id", "app-1"),
            ("username", "carol@contoso.com"),
            ("password", "pw"),
            ("resource", "https://graph.microsoft.com"),
        ],
    )
    .await;
    assert_eq!(body["scope"], "user_impersonation");
    assert_eq!(body["resource"], "https://graph.microsoft.com");
    let (_, id) = decode(body["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], format!("https://sts.windows.net/{TENANT}/"));
    assert_eq!(id["upn"], "carol@contoso.com");
    assert_eq!(id["ver"], "1.0");
    let (_, claims) = decode(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert!(body["refresh_token"].is_string());
}

fn location_query(response: &Response) -> (String, Vec<(String, String)>) {
    let location = location(response);
    let (base, query) = location.split_once('?').unwrap();
    let pairs = query
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (base.to_owned(), pairs)
}

#[tokio::test]
async fn authorize_redirects_with_a_code_that_redeems_once_with_pkce() {
    let app = spawn_app().await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(app.url("/organizations/oauth2/v2.0/authorize"))
        .query(&[
            ("client_id", "spa"),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost:5000/cb"),
            (
                "scope",
                "https://api.partnercenter.microsoft.com/user_impersonation openid offline_access",
            ),
            ("state", "s-1"),
            ("nonce", "n-1"),
            ("login_hint", "dana@contoso.com"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let (base, params) = location_query(&response);
    assert_eq!(base, "http://localhost:5000/cb");
    assert_eq!(params[0].0, "code");
    assert_eq!(params[1], ("state".to_owned(), "s-1".to_owned()));
    let code = params[0].1.clone();
    let path = "/organizations/oauth2/v2.0/token";
    let redeem = |verifier: &'static str| {
        let code = code.clone();
        let app = &app;
        async move {
            post_form(
                app,
                path,
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", "spa"),
                    ("code", &code),
                    ("redirect_uri", "http://localhost:5000/cb"),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    assert_entra(
        redeem("wrong").await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        50148,
    )
    .await;
    // The failed attempt used the code up, as Entra does.
    assert_entra(
        redeem(verifier).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        54005,
    )
    .await;

    let response = client
        .get(app.url("/organizations/oauth2/v2.0/authorize"))
        .query(&[
            ("client_id", "spa"),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost:5000/cb?x=1"),
            (
                "scope",
                "https://api.partnercenter.microsoft.com/user_impersonation openid",
            ),
            ("nonce", "n-2"),
            ("login_hint", "dana@contoso.com"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .send_checked()
        .await;
    let (base, params) = location_query(&response);
    assert_eq!(base, "http://localhost:5000/cb");
    assert_eq!(params[0], ("x".to_owned(), "1".to_owned()));
    let code = params[1].1.clone();
    let body = token_ok(
        &app,
        path,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", &code),
            ("redirect_uri", "http://localhost:5000/cb?x=1"),
            ("code_verifier", verifier),
        ],
    )
    .await;
    let (_, id) = decode(body["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "n-2");
    assert_eq!(id["preferred_username"], "dana@contoso.com");
    assert_eq!(id["tid"], DEFAULT_TENANT.to_string());
    assert!(body.get("refresh_token").is_none());

    // v1, plain PKCE, no login hint: the tenant's default user.
    let response = client
        .get(app.url(&format!("/{TENANT}/oauth2/authorize")))
        .query(&[
            ("client_id", "legacy"),
            ("response_type", "code"),
            ("redirect_uri", "urn:ietf:wg:oauth:2.0:oob"),
            ("code_challenge", "plain-secret"),
        ])
        .send_checked()
        .await;
    let (_, params) = location_query(&response);
    let body = token_ok(
        &app,
        &format!("/{TENANT}/oauth2/token"),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "legacy"),
            ("code", &params[0].1),
            ("redirect_uri", "urn:ietf:wg:oauth:2.0:oob"),
            ("code_verifier", "plain-secret"),
        ],
    )
    .await;
    assert_eq!(body["resource"], PC);
    let (_, claims) = decode(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["upn"],
        format!("admin@{}.onmicrosoft.com", &TENANT[..8])
    );

    // A refusal after redirect_uri is known is a redirect; before, a 400.
    let response = client
        .get(app.url("/common/oauth2/v2.0/authorize"))
        .query(&[
            ("client_id", "spa"),
            ("response_type", "token"),
            ("redirect_uri", "http://localhost/cb"),
            ("state", "s"),
        ])
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        location(&response),
        "http://localhost/cb?error=unsupported_response_type&error_description=AADSTS700054%3A+The+emulator+answers+response_type+%27code%27+only.&state=s"
    );
    let response = client
        .get(app.url("/common/oauth2/v2.0/authorize?client_id=spa&response_type=code"))
        .send_checked()
        .await;
    let message = assert_entra(response, StatusCode::BAD_REQUEST, "invalid_request", 900144).await;
    assert_eq!(
        message,
        "AADSTS900144: The request body must contain the following parameter: 'redirect_uri'."
    );
}

#[tokio::test]
async fn device_codes_are_pending_until_the_delay_passes_then_expire() {
    let mut config = Config::for_tests();
    config.device_code_approve_after = Duration::from_secs(30);
    let app = spawn_with(config).await;
    let start = token_ok(
        &app,
        "/common/oauth2/v2.0/devicecode",
        &[
            ("client_id", "cli"),
            (
                "scope",
                "https://api.partnercenter.microsoft.com/.default offline_access",
            ),
        ],
    )
    .await;
    let (user_code, device_code) = (
        start["user_code"].as_str().unwrap(),
        start["device_code"].as_str().unwrap(),
    );
    assert_eq!(user_code.len(), 9);
    assert_eq!(
        start,
        json!({
            "user_code": user_code, "device_code": device_code,
            "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900, "interval": 5,
            "message": format!("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code {user_code} to authenticate.")
        })
    );
    let poll = || async {
        post_form(
            &app,
            "/common/oauth2/v2.0/token",
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", "cli"),
                ("device_code", device_code),
            ],
        )
        .await
    };
    let message = assert_entra(
        poll().await,
        StatusCode::BAD_REQUEST,
        "authorization_pending",
        70016,
    )
    .await;
    assert_eq!(
        message,
        "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling."
    );
    app.advance(30);
    let response = poll().await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().unwrap();
    let (_, claims) = decode(body["access_token"].as_str().unwrap());
    assert_eq!(claims["upn"], "admin@emulator.onmicrosoft.com");
    assert_eq!(claims["iat"], t0() + 30);
    assert!(body["refresh_token"].is_string());
    // Used once.
    assert_entra(
        poll().await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        70000,
    )
    .await;

    // v1: numbers as strings, `verification_url`, and an expiry after 900 s.
    let start = token_ok(
        &app,
        &format!("/{TENANT}/oauth2/devicecode"),
        &[("client_id", "cli"), ("resource", PC)],
    )
    .await;
    assert_eq!(start["expires_in"], "900");
    assert_eq!(start["interval"], "5");
    assert_eq!(
        start["verification_url"],
        "https://microsoft.com/devicelogin"
    );
    app.advance(900);
    let response = post_form(
        &app,
        &format!("/{TENANT}/oauth2/token"),
        &[
            ("grant_type", "device_code"),
            ("client_id", "cli"),
            ("code", start["device_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"], "expired_token");
    assert_eq!(body["error_codes"], json!([70019]));
}

#[tokio::test]
async fn metadata_points_at_the_host_the_client_used() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"))
        .header("Host", "login.emulator.test:8443")
        .send_checked()
        .await;
    let v2: Value = response.json().unwrap();
    let tid = derived_guid("tenant", "contoso.onmicrosoft.com");
    let base = format!("http://login.emulator.test:8443/{tid}");
    assert_eq!(v2["issuer"], format!("{base}/v2.0"));
    assert_eq!(v2["token_endpoint"], format!("{base}/oauth2/v2.0/token"));
    assert_eq!(
        v2["authorization_endpoint"],
        format!("{base}/oauth2/v2.0/authorize")
    );
    assert_eq!(
        v2["device_authorization_endpoint"],
        format!("{base}/oauth2/v2.0/devicecode")
    );
    assert_eq!(v2["jwks_uri"], format!("{base}/discovery/v2.0/keys"));

    let common: Value = app
        .client
        .get(app.url("/common/v2.0/.well-known/openid-configuration"))
        .send_checked()
        .await
        .json()
        .unwrap();
    assert_eq!(
        common["issuer"],
        format!("{}/{{tenantid}}/v2.0", app.address)
    );
    assert_eq!(
        common["token_endpoint"],
        format!("{}/common/oauth2/v2.0/token", app.address)
    );

    let v1: Value = app
        .client
        .get(app.url(&format!("/{TENANT}/.well-known/openid-configuration")))
        .send_checked()
        .await
        .json()
        .unwrap();
    assert_eq!(v1["issuer"], format!("https://sts.windows.net/{TENANT}/"));
    assert_eq!(
        v1["token_endpoint"],
        format!("{}/{TENANT}/oauth2/token", app.address)
    );
    assert_eq!(
        v1["jwks_uri"],
        format!("{}/common/discovery/keys", app.address)
    );
    assert_eq!(v1["microsoft_multi_refresh_token"], true);
}

#[tokio::test]
async fn instance_discovery_answers_what_msal_asks() {
    let app = spawn_app().await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let response = app
        .client
        .get(app.url("/common/discovery/instance"))
        .query(&[
            ("api-version", "1.0"),
            (
                "authorization_endpoint",
                &format!("https://{host}/contoso.com/oauth2/v2.0/authorize"),
            ),
        ])
        .send_checked()
        .await;
    assert_eq!(
        response.json::<Value>().unwrap(),
        json!({
            "tenant_discovery_endpoint": format!("{}/contoso.com/v2.0/.well-known/openid-configuration", app.address),
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}]
        })
    );
    let response = app
        .client
        .get(app.url("/common/discovery/instance?api-version=1.1&authorization_endpoint=https://h/common/oauth2/authorize"))
        .send_checked()
        .await;
    let body: Value = response.json().unwrap();
    assert_eq!(
        body["tenant_discovery_endpoint"],
        format!("{}/common/.well-known/openid-configuration", app.address)
    );
    let response = app
        .client
        .get(app.url("/common/discovery/instance?api-version=1.1"))
        .send_checked()
        .await;
    assert_entra(response, StatusCode::BAD_REQUEST, "invalid_instance", 50049).await;
}

#[tokio::test]
async fn user_realms_are_managed() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/common/userrealm/alice@contoso.com?api-version=1.0"))
        .send_checked()
        .await;
    assert_eq!(
        response.json::<Value>().unwrap(),
        json!({"ver": "1.0", "account_type": "Managed", "domain_name": "contoso.com", "cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline"})
    );
    let mut config = Config::for_tests();
    config.identity = IdentityMode::Strict;
    let strict = spawn_with(config).await;
    let response = strict
        .client
        .get(strict.url("/common/userrealm/alice@contoso.com?api-version=1.0"))
        .send_checked()
        .await;
    assert_eq!(
        response.json::<Value>().unwrap(),
        json!({"ver": "1.0", "account_type": "Unknown", "cloud_instance_name": "microsoftonline.com"})
    );
}

#[tokio::test]
async fn tokens_verify_against_the_served_jwks() {
    let app = spawn_app().await;
    let token = user_token(&app, PC_DEFAULT).await;
    for path in [
        "/common/discovery/keys",
        &format!("/{TENANT}/discovery/v2.0/keys"),
        "/common/discovery/v2.0/keys",
    ] {
        let jwks: Value = app
            .client
            .get(app.url(path))
            .send_checked()
            .await
            .json()
            .unwrap();
        let key = &jwks["keys"][0];
        assert_eq!(
            (
                key["kty"].as_str(),
                key["use"].as_str(),
                key["alg"].as_str()
            ),
            (Some("RSA"), Some("sig"), Some("RS256"))
        );
        let (header, _) = decode(&token);
        assert_eq!(header["kid"], key["kid"]);
        let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
            key["n"].as_str().unwrap(),
            key["e"].as_str().unwrap(),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_audience(&[PC]);
        validation.set_issuer(&[format!("https://sts.windows.net/{TENANT}/")]);
        let verified = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
        assert_eq!(verified.claims["upn"], "alice@contoso.com");
        // 2048-bit modulus.
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(key["n"].as_str().unwrap())
                .unwrap()
                .len(),
            256
        );
    }
}

#[tokio::test]
async fn permissive_names_are_deterministic() {
    let app = spawn_app().await;
    let other = spawn_app().await;
    let mut oids = Vec::new();
    for (app, tenant) in [(&app, "fabrikam.com"), (&other, "FABRIKAM.com")] {
        let body = token_ok(
            app,
            &format!("/{tenant}/oauth2/v2.0/token"),
            &[
                ("grant_type", "password"),
                ("client_id", "app"),
                ("username", "Erin@fabrikam.com"),
                ("password", "x"),
                ("scope", PC_DEFAULT),
            ],
        )
        .await;
        let (_, claims) = decode(body["access_token"].as_str().unwrap());
        assert_eq!(
            claims["tid"],
            derived_guid("tenant", "fabrikam.com").to_string()
        );
        oids.push(claims["oid"].clone());
    }
    assert_eq!(oids[0], oids[1]);
}

/// The seed of the strict-mode tests.
pub fn identity_seed() -> Value {
    json!({"customers": [], "identity": {
        "tenants": [{"id": TENANT, "domains": ["contoso.onmicrosoft.com"]}],
        "apps": [{"clientId": "app-1", "secrets": ["s3cret"], "tenant": "contoso.onmicrosoft.com", "displayName": "Partner tool", "roles": ["Partner.ReadWrite"]}],
        "users": [{"upn": "alice@contoso.onmicrosoft.com", "password": "pw", "tenant": TENANT, "displayName": "Alice", "refreshToken": "seeded-rt"}]
    }})
}

#[tokio::test]
async fn strict_mode_accepts_only_declared_identities_with_entras_errors() {
    let mut config = Config::for_tests();
    config.identity = IdentityMode::Strict;
    let app = spawn_with(config).await;
    let seeded = app
        .control(Method::POST, "/_emulator/seed", Some(&identity_seed()))
        .await;
    assert_eq!(seeded.status(), StatusCode::OK);
    let path = format!("/{TENANT}/oauth2/v2.0/token");
    let cc = |client: &'static str, secret: &'static str| {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", secret),
            ("scope", PC_DEFAULT),
        ]
    };
    let body = token_ok(
        &app,
        "/contoso.onmicrosoft.com/oauth2/v2.0/token",
        &cc("app-1", "s3cret"),
    )
    .await;
    let (_, claims) = decode(body["access_token"].as_str().unwrap());
    assert_eq!(claims["roles"], json!(["Partner.ReadWrite"]));
    assert_eq!(claims["tid"], TENANT);

    let message = assert_entra(
        post_form(&app, &path, &cc("app-1", "wrong")).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7000215,
    )
    .await;
    assert!(
        message.starts_with("AADSTS7000215: Invalid client secret provided."),
        "{message}"
    );
    let message = assert_entra(
        post_form(&app, &path, &cc("nobody", "s3cret")).await,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700016,
    )
    .await;
    assert!(message.starts_with(&format!("AADSTS700016: Application with identifier 'nobody' was not found in the directory '{TENANT}'.")), "{message}");
    let message = assert_entra(
        post_form(
            &app,
            "/fabrikam.com/oauth2/v2.0/token",
            &cc("app-1", "s3cret"),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        90002,
    )
    .await;
    assert!(
        message.starts_with("AADSTS90002: Tenant 'fabrikam.com' not found."),
        "{message}"
    );

    let password = |user: &'static str, pw: &'static str| {
        vec![
            ("grant_type", "password"),
            ("client_id", "app-1"),
            ("username", user),
            ("password", pw),
            ("scope", PC_DEFAULT),
        ]
    };
    let body = token_ok(
        &app,
        "/organizations/oauth2/v2.0/token",
        &password("alice@contoso.onmicrosoft.com", "pw"),
    )
    .await;
    let (_, claims) = decode(body["access_token"].as_str().unwrap());
    assert_eq!(
        (claims["name"].as_str(), claims["tid"].as_str()),
        (Some("Alice"), Some(TENANT))
    );
    let message = assert_entra(
        post_form(
            &app,
            &path,
            &password("alice@contoso.onmicrosoft.com", "nope"),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        50126,
    )
    .await;
    assert_eq!(
        message,
        "AADSTS50126: Error validating credentials due to invalid username or password."
    );
    assert_entra(
        post_form(
            &app,
            &path,
            &password("mallory@contoso.onmicrosoft.com", "pw"),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        50034,
    )
    .await;

    let refresh = |rt: &'static str| {
        vec![
            ("grant_type", "refresh_token"),
            ("client_id", "app-1"),
            ("client_secret", "s3cret"),
            ("refresh_token", rt),
            ("scope", PC_DEFAULT),
        ]
    };
    let body = token_ok(&app, &path, &refresh("seeded-rt")).await;
    let (_, claims) = decode(body["access_token"].as_str().unwrap());
    assert_eq!(claims["upn"], "alice@contoso.onmicrosoft.com");
    assert_entra(
        post_form(&app, &path, &refresh("made-up")).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        9002313,
    )
    .await;

    // The metadata of an undeclared tenant is a 400, which MSAL reports as a bad authority.
    let response = app
        .client
        .get(app.url("/fabrikam.com/v2.0/.well-known/openid-configuration"))
        .send_checked()
        .await;
    assert_entra(response, StatusCode::BAD_REQUEST, "invalid_request", 90002).await;

    // Sign-ins that name no declared user are refused: authorize redirects with the error,
    // device codes are refused at once.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(app.url(&format!("/{TENANT}/oauth2/v2.0/authorize")))
        .query(&[
            ("client_id", "app-1"),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost/cb"),
            ("scope", PC_DEFAULT),
            ("login_hint", "zed@contoso.onmicrosoft.com"),
        ])
        .send_checked()
        .await;
    assert_eq!(
        location(&response),
        format!(
            "http://localhost/cb?error=invalid_request&error_description=AADSTS50034%3A+The+user+account+zed%40contoso.onmicrosoft.com+does+not+exist+in+the+{TENANT}+directory."
        )
    );
    let response = client
        .get(app.url(&format!("/{TENANT}/oauth2/v2.0/authorize")))
        .query(&[
            ("client_id", "app-1"),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost/cb"),
            ("scope", PC_DEFAULT),
        ])
        .send_checked()
        .await;
    assert!(location(&response).starts_with("http://localhost/cb?code="));
    let body = token_ok(
        &app,
        &format!("/{TENANT}/oauth2/v2.0/devicecode"),
        &[("client_id", "app-1"), ("scope", PC_DEFAULT)],
    )
    .await;
    assert!(body["device_code"].is_string());

    // A reset forgets the declared identities.
    app.control(Method::POST, "/_emulator/reset", None).await;
    assert_entra(
        post_form(&app, &path, &cc("app-1", "s3cret")).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        90002,
    )
    .await;
}

#[tokio::test]
async fn the_identity_section_round_trips_and_is_checked_whole() {
    let app = spawn_app().await;
    let seed = identity_seed();
    assert_eq!(
        app.control(Method::POST, "/_emulator/seed", Some(&seed))
            .await
            .status(),
        StatusCode::OK
    );
    let state: Value = app
        .control(Method::GET, "/_emulator/state", None)
        .await
        .json()
        .unwrap();
    assert_eq!(state["identity"], seed["identity"]);
    // Declaring the same app again is refused, naming the entry, and nothing is applied.
    let again = json!({"customers": [{"id": CUSTOMER}], "identity": {"apps": [{"clientId": "APP-1", "tenant": TENANT}]}});
    let response = app
        .control(Method::POST, "/_emulator/seed", Some(&again))
        .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        envelope(
            800002,
            "Invalid request input: `identity.apps[0]` app `APP-1` is declared more than once.",
            &["identity.apps[0]"],
        ),
    )
    .await;
    let after: Value = app
        .control(Method::GET, "/_emulator/state", None)
        .await
        .json()
        .unwrap();
    assert_eq!(after, state);
}

#[tokio::test]
async fn bad_input_is_answered_in_entras_shape() {
    let app = spawn_app().await;
    let path = format!("/{TENANT}/oauth2/v2.0/token");
    let response = app
        .client
        .post(app.url(&path))
        .json(&json!({"grant_type": "client_credentials"}))
        .send_checked()
        .await;
    let message = assert_entra(response, StatusCode::BAD_REQUEST, "invalid_request", 900144).await;
    assert_eq!(
        message,
        "AADSTS900144: The request body must contain the following parameter: 'grant_type'."
    );
    let message = assert_entra(
        post_form(&app, &path, &[("grant_type", "password")]).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
    )
    .await;
    assert_eq!(
        message,
        "AADSTS900144: The request body must contain the following parameter: 'client_id'."
    );
    let message = assert_entra(
        post_form(&app, &path, &[("grant_type", "magic"), ("client_id", "a")]).await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        70003,
    )
    .await;
    assert_eq!(
        message,
        "AADSTS70003: The app requested an unsupported grant type 'magic'."
    );
    let message = assert_entra(
        post_form(
            &app,
            &path,
            &[("grant_type", "password"), ("grant_type", "password")],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        9000411,
    )
    .await;
    assert_eq!(
        message,
        "AADSTS9000411: The request is not properly formatted. The parameter 'grant_type' is duplicated."
    );
    let two = [
        ("grant_type", "password"),
        ("client_id", "a"),
        ("username", "u@x.com"),
        ("password", "p"),
        (
            "scope",
            "https://graph.microsoft.com/User.Read https://api.partnercenter.microsoft.com/.default",
        ),
    ];
    assert_entra(
        post_form(&app, &path, &two).await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        70011,
    )
    .await;
    let not_default = [
        ("grant_type", "client_credentials"),
        ("client_id", "a"),
        ("client_secret", "s"),
        (
            "scope",
            "https://api.partnercenter.microsoft.com/user_impersonation",
        ),
    ];
    assert_entra(
        post_form(&app, &path, &not_default).await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        1002012,
    )
    .await;
    let missing_scope = [
        ("grant_type", "client_credentials"),
        ("client_id", "a"),
        ("client_secret", "s"),
    ];
    let message = assert_entra(
        post_form(&app, &path, &missing_scope).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
    )
    .await;
    assert!(message.ends_with("'scope'."));
    let huge = "a".repeat(300 * 1024);
    let response = post_form(
        &app,
        &path,
        &[("grant_type", "password"), ("client_id", &huge)],
    )
    .await;
    assert_entra(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
        90020,
    )
    .await;
    let garbage = app
        .client
        .post(app.url(&path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'=', b'&', b'%', b'z'])
        .send_checked()
        .await;
    assert_entra(garbage, StatusCode::BAD_REQUEST, "invalid_request", 900144).await;
    let v1 = post_form(
        &app,
        &format!("/{TENANT}/oauth2/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "a"),
            ("client_secret", "s"),
        ],
    )
    .await;
    let message = assert_entra(v1, StatusCode::BAD_REQUEST, "invalid_request", 900144).await;
    assert!(message.ends_with("'resource'."));
}

#[tokio::test]
async fn the_signing_key_is_kept_in_the_tls_dir_across_restarts() {
    let dir = std::env::temp_dir().join(format!("pce-tls-{}", uuid::Uuid::new_v4()));
    let mut config = Config::for_tests();
    config.tls_dir = Some(dir.join("nested"));
    let first = spawn_state(startup::build(config.clone()).unwrap()).await;
    let jwks = |app: &TestApp| {
        let url = app.url("/common/discovery/keys");
        let client = app.client.clone();
        async move {
            client
                .get(url)
                .send_checked()
                .await
                .json::<Value>()
                .unwrap()
        }
    };
    let before = jwks(&first).await;
    let file = dir.join("nested/token-signing-key.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let second = spawn_state(startup::build(config.clone()).unwrap()).await;
    assert_eq!(jwks(&second).await, before);
    std::fs::write(
        &file,
        "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = startup::build(config).unwrap_err();
    assert!(
        err.contains("token-signing-key.pem is not an RSA private key"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
