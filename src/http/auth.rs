//! Bearer-token presence check on Partner Center routes (`--auth bearer`).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::partner::Partner;
use crate::config::AuthMode;

/// Whether `Authorization` is `Bearer <non-empty token>` (scheme in any case).
// EMULATOR: the token is not validated; any non-empty bearer token stands for a signed-in partner.
fn has_bearer(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()
        })
}

/// The guard of every Partner Center route: the bearer check, then idempotent writes. One layer
/// for both, since each layer costs a state clone and a boxed future on every request.
///
/// Whoever names the request's partner tenant ([`Partner`]) does so before idempotent writes run,
/// so replays stay within that partner; the partner is copied onto the response for the journal.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !(state.config.auth == AuthMode::Off || has_bearer(req.headers())) {
        return ApiError::unauthorized().into_response();
    }
    let partner = Partner::of(req.extensions());
    let mut response = super::idempotency::idempotent_writes(&state, req, next).await;
    if partner.is_some() {
        response.extensions_mut().insert(Partner(partner));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn auth(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn only_non_empty_bearer_tokens_pass() {
        assert!(has_bearer(&auth("Bearer abc")));
        assert!(has_bearer(&auth("bearer   abc")));
        assert!(!has_bearer(&auth("Bearer ")));
        assert!(!has_bearer(&auth("Bearer")));
        assert!(!has_bearer(&auth("Basic abc")));
        assert!(!has_bearer(&HeaderMap::new()));
    }
}
