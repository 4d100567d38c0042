//! The token check on Partner Center routes: presence (`--auth bearer`), or a verified token of
//! the mock Entra ID (`--auth jwt`), whose claims then ride along in the request's extensions.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::partner::Partner;
use crate::config::AuthMode;
use crate::domain::ids::TenantId;

/// The token of `Authorization: Bearer <non-empty token>` (scheme in any case).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .map(|(_, token)| token.trim())
}

fn has_bearer(headers: &HeaderMap) -> bool {
    bearer(headers).is_some()
}

/// The route Partner Center documents as App+User only: creating a batch.
const APP_USER_ONLY: &str = "/v1/customers/{customer_id}/deviceBatches";

/// `--auth jwt`: the token must be one this emulator issued, unexpired on the emulator clock,
/// for Partner Center. Its claims are handed on as a [`crate::identity::AccessClaims`] extension,
/// and its `tid` as the request's [`Partner`].
fn verified(state: &AppState, req: &mut Request) -> Result<(), ApiError> {
    let token = bearer(req.headers()).ok_or_else(ApiError::unauthorized)?;
    let key = state
        .keys
        .existing()
        .ok_or_else(|| ApiError::token_refused("the token was not issued by this emulator"))?;
    let now = state.clock.now().as_offset().unix_timestamp();
    let claims = crate::identity::tokens::verify(&key, token, now)
        .map_err(|e| ApiError::token_refused(&e.to_string()))?;
    let create_batch = req.method() == Method::POST
        && req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|p| p.as_str() == APP_USER_ONLY);
    if create_batch && claims.app_only {
        return Err(ApiError::app_only_forbidden());
    }
    req.extensions_mut()
        .insert(Partner(Some(TenantId::from(claims.tenant_id))));
    req.extensions_mut().insert(claims);
    Ok(())
}

/// The guard of every Partner Center route: the token check, then idempotent writes
/// ([`super::idempotency::idempotent_writes`], its own function in its own module). One layer for
/// both because the merge pays: with the MS-headers/log merge it saves ~14,000 instructions a
/// request (BENCHMARKS.md, "Middleware: two jobs in one layer").
///
/// Whoever names the request's partner tenant ([`Partner`]) does so before idempotent writes run,
/// so replays stay within that partner; the partner is copied onto the response for the journal.
/// With `--auth jwt` that is this guard, from the verified token's `tid`.
pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let checked = match state.config.auth {
        AuthMode::Off => Ok(()),
        // EMULATOR: in `bearer` mode the token is not validated; any non-empty bearer token
        // stands for a signed-in partner.
        AuthMode::Bearer if has_bearer(req.headers()) => Ok(()),
        AuthMode::Bearer => Err(ApiError::unauthorized()),
        AuthMode::Jwt => verified(&state, &mut req),
    };
    if let Err(e) = checked.and_then(|()| super::customers::check(&state, &req)) {
        return e.into_response();
    }
    if let Some(throttled) = super::throttle::check(&state, &req) {
        return throttled;
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

    /// The claims `--auth jwt` verified reach the handler as an `AccessClaims` extension.
    #[tokio::test]
    async fn verified_claims_ride_along_in_the_extensions() {
        use crate::clock::Clock;
        use crate::config::Config;
        use crate::identity::AccessClaims;
        use crate::identity::tokens::{AccessGrant, Principal, sign};
        use axum::Router;
        use axum::body::Body;
        use axum::extract::Extension;
        use axum::middleware::from_fn_with_state;
        use axum::routing::get;
        use tower::ServiceExt;
        use uuid::Uuid;

        let mut config = Config::for_tests();
        config.auth = AuthMode::Jwt;
        let now =
            crate::domain::timestamp::Timestamp::parse_rfc3339("2026-11-21T10:00:00Z").unwrap();
        let state = AppState::new(config, Clock::manual(now));
        let key = state.keys.get().unwrap();
        let grant = AccessGrant {
            tenant: Uuid::from_u128(7),
            audience: crate::identity::PARTNER_CENTER.to_owned(),
            client_id: "app".to_owned(),
            client_auth: "1",
            principal: Principal::App {
                oid: Uuid::from_u128(8),
                roles: vec![],
            },
            scopes: String::new(),
        };
        let token = sign(&key, &grant.claims(now.as_offset().unix_timestamp(), 60)).unwrap();
        async fn tenant(Extension(claims): Extension<AccessClaims>) -> String {
            format!("{} {}", claims.tenant_id, claims.app_only)
        }
        let app: Router = Router::new()
            .route("/v1/customers/{customer_id}/deviceBatches", get(tenant))
            .route_layer(from_fn_with_state(state.clone(), guard))
            .with_state(state);
        let response = app
            .oneshot(
                Request::builder()
                    .uri("/v1/customers/c7f3c849-129f-4b85-a96d-4f8e88b315a3/deviceBatches")
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&body[..], format!("{} true", Uuid::from_u128(7)).as_bytes());
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
