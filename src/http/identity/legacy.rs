//! Partner Center's token exchange, `POST /v3/generatetoken` and the legacy `POST /generatetoken`:
//! an Entra token (`Authorization: Bearer`) exchanged for a Partner Center token, as the old
//! scripts and SDKs do it.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::token::lifetime_secs;
use super::{FORM_LIMIT, Form, epoch_seconds};
use crate::app::AppState;
use crate::http::body::read_limited;
use crate::http::error::ApiError;
use crate::http::respond::json_response;
use crate::identity::PARTNER_CENTER;
use crate::identity::tokens::{reissue, sign, verify_for};

/// The Azure AD Graph audience the legacy route still takes (app-only tokens of old scripts).
const AAD_GRAPH: &str = "https://graph.windows.net";

// EMULATOR: Microsoft documents no answer body (and asks clients not to decode the token); the
// emulator writes the shape the old SDKs read (`access_token`, `token_type`, `expires_in`), and
// the token is one of its own JWTs with the caller's identity, so it passes `--auth jwt`.
#[derive(Serialize)]
struct PartnerToken {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

/// `POST /v3/generatetoken`: takes Partner Center tokens only.
pub async fn generate_token_v3(State(state): State<AppState>, req: Request) -> Response {
    exchange(&state, req, &[PARTNER_CENTER]).await
}

/// `POST /generatetoken`: also takes Azure AD Graph (`https://graph.windows.net`) tokens.
pub async fn generate_token(State(state): State<AppState>, req: Request) -> Response {
    exchange(&state, req, &[PARTNER_CENTER, AAD_GRAPH]).await
}

/// `grant_type` of a form or JSON body (both documented media types).
fn grant_type(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => {
            Form::parse(body).get("grant_type").map(str::to_owned)
        }
        "application/json" | "text/json" => serde_json::from_slice::<serde_json::Value>(body)
            .ok()?
            .get("grant_type")?
            .as_str()
            .map(str::to_owned),
        _ => None,
    }
}

async fn exchange(state: &AppState, req: Request, audiences: &[&str]) -> Response {
    let (parts, body): (_, Body) = req.into_parts();
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
        .filter(|t| !t.is_empty());
    let bytes = match read_limited(&parts.headers, body, FORM_LIMIT).await {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response(),
    };
    if grant_type(&parts.headers, &bytes).as_deref() != Some("jwt_token") {
        return ApiError::invalid_input(
            "grant_type",
            "must be `jwt_token` (a form or JSON body, with the Entra token in `Authorization: Bearer`).",
        )
        .into_response();
    }
    let Some(bearer) = bearer else {
        return ApiError::unauthorized().into_response();
    };
    let now = epoch_seconds(state);
    let lifetime = lifetime_secs(state.config.token_lifetime);
    let token = state
        .keys
        .existing()
        .ok_or_else(|| "the token was not issued by this emulator".to_owned())
        .and_then(|key| {
            verify_for(&key, &bearer, now, audiences)
                .map_err(|e| e.to_string())
                .and_then(|c| sign(&key, &reissue(c, now, lifetime)))
        });
    match token {
        Ok(access_token) => json_response(
            StatusCode::OK,
            &PartnerToken {
                access_token,
                token_type: "bearer",
                expires_in: lifetime,
            },
        ),
        Err(why) => ApiError::token_refused(&why).into_response(),
    }
}
