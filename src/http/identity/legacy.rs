//! Partner Center's legacy `POST /generatetoken`: an Entra token (`Authorization: Bearer`)
//! exchanged for a Partner Center token, as the old scripts and SDKs do it.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::token::lifetime_secs;
use super::{epoch_seconds, read_form};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::wire::json_response;
use crate::identity::tokens::{reissue, sign, verify_claims};

// EMULATOR: Microsoft no longer documents this answer; the emulator writes the shape the old
// SDKs read (`access_token`, `token_type`, `expires_in`), and the token is one of its own JWTs
// with the caller's identity, so it passes `--auth jwt`.
#[derive(Serialize)]
struct PartnerToken {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

pub async fn generate_token(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
        .filter(|t| !t.is_empty());
    let form = match read_form(&parts.headers, body).await {
        Ok(form) => form,
        Err(e) => return ApiError::invalid_input("", &e.message).into_response(),
    };
    if form.get("grant_type") != Some("jwt_token") {
        return ApiError::invalid_input(
            "grant_type",
            "must be `jwt_token` (a form body with the Entra token in `Authorization: Bearer`).",
        )
        .into_response();
    }
    let Some(bearer) = bearer else {
        return ApiError::unauthorized().into_response();
    };
    let now = epoch_seconds(&state);
    let lifetime = lifetime_secs(state.config.token_lifetime);
    let claims = state
        .keys
        .existing()
        .ok_or_else(|| "no token has been issued by this emulator yet".to_owned())
        .and_then(|key| {
            verify_claims(&key, &bearer, now)
                .map_err(|e| e.to_string())
                .and_then(|c| sign(&key, &reissue(c, now, lifetime)))
        });
    match claims {
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
