//! The token check on Partner Center routes: presence (`--auth bearer`), or a verified token of
//! the mock Entra ID (`--auth jwt`), whose claims then ride along in the request's extensions.

use std::future::Future;

use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::partner::Partner;
use crate::config::AuthMode;
use crate::domain::ids::TenantId;

/// The token of `Authorization: Bearer <non-empty token>` (scheme in any case).
// `to_str` admits visible ASCII and tabs only, so ASCII trimming is all the trimming there is.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_ascii().split_once(' '))
        .filter(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer") && !token.trim_ascii().is_empty()
        })
        .map(|(_, token)| token.trim_ascii())
}

fn has_bearer(headers: &HeaderMap) -> bool {
    bearer(headers).is_some()
}

/// The route Partner Center documents as App+User only: creating a batch.
const APP_USER_ONLY: &str = "/v1/customers/{customer_id}/deviceBatches";

/// `--auth jwt`: the token must be one this emulator issued, unexpired on the emulator clock,
/// for Partner Center. Its claims are handed on as a [`crate::identity::AccessClaims`] extension,
/// and its `tid` as the request's [`Partner`].
fn verified(state: &AppState, req: &mut Request, route: &str) -> Result<(), ApiError> {
    let token = bearer(req.headers()).ok_or_else(ApiError::unauthorized)?;
    let key = state
        .keys
        .existing()
        .ok_or_else(|| ApiError::token_refused("the token was not issued by this emulator"))?;
    let now = state.clock.now().as_offset().unix_timestamp();
    let claims = crate::identity::tokens::verify(&key, token, now)
        .map_err(|e| ApiError::token_refused(&e.to_string()))?;
    let create_batch = req.method() == Method::POST && route == APP_USER_ONLY;
    if create_batch && claims.app_only {
        return Err(ApiError::app_only_forbidden());
    }
    req.extensions_mut()
        .insert(Partner(Some(TenantId::from(claims.tenant_id))));
    req.extensions_mut().insert(claims);
    Ok(())
}

/// Whether [`guard`] (and `--response-bom`) applies to a request routed to `route` (the matched
/// path template) with `method`: the Partner Center routes' own methods (`GET` answers `HEAD`
/// too), not their 405 fallback. The test below holds this table to [`super::ROUTES`].
pub fn guarded(route: &str, method: &Method) -> bool {
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let put = method == Method::PUT;
    let delete = method == Method::DELETE;
    match route {
        "/v1/customers/{customer_id}/deviceBatches"
        | "/v1/customers/{customer_id}/deviceBatches/{batch_id}/devices"
        | "/v1/customers/{customer_id}/policies" => get || post,
        "/v1/customers/{customer_id}/deviceBatches/{batch_id}/devices/{device_id}" => put || delete,
        "/v1/customers/{customer_id}/DevicePolicyUpdates" => method == Method::PATCH,
        "/v1/customers/{customer_id}/batchJobStatus/{tracking_id}" => get,
        "/v1/customers/{customer_id}/policies/{policy_id}" => get || put || delete,
        _ => false,
    }
}

/// The guard of every Partner Center route: the token check, then idempotent writes
/// ([`super::idempotency::idempotent_writes`], its own function in its own module). A step of
/// `per_request` rather than a route layer of its own, because every layer costs (BENCHMARKS.md,
/// "Middleware: two jobs in one layer" and "Per-request overhead, second pass").
///
/// Whoever names the request's partner tenant ([`Partner`]) does so before idempotent writes run,
/// so replays stay within that partner; the partner is copied onto the response for the journal.
/// With `--auth jwt` that is this guard, from the verified token's `tid`.
///
/// `route` is the matched path template (the router's `MatchedPath`, or the hand dispatcher's
/// template for the same route); `inner` the handler.
pub async fn guard<F, Fut>(state: &AppState, mut req: Request, route: &str, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let checked = match state.config.auth {
        AuthMode::Off => Ok(()),
        // EMULATOR: in `bearer` mode the token is not validated; any non-empty bearer token
        // stands for a signed-in partner.
        AuthMode::Bearer if has_bearer(req.headers()) => Ok(()),
        AuthMode::Bearer => Err(ApiError::unauthorized()),
        AuthMode::Jwt => verified(state, &mut req, route),
    };
    if let Err(e) = checked.and_then(|()| super::customers::check(state, &req)) {
        return e.into_response();
    }
    if let Some(throttled) = super::throttle::check(state, &req) {
        return throttled;
    }
    let partner = Partner::of(req.extensions());
    let mut response = super::idempotency::idempotent_writes(state, req, inner).await;
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
        async fn guarded_by(
            axum::extract::State(state): axum::extract::State<AppState>,
            route: axum::extract::MatchedPath,
            req: Request,
            next: axum::middleware::Next,
        ) -> Response {
            guard(&state, req, route.as_str(), |req| next.run(req)).await
        }
        let app: Router = Router::new()
            .route("/v1/customers/{customer_id}/deviceBatches", get(tenant))
            .route_layer(from_fn_with_state(state.clone(), guarded_by))
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

    /// `guarded` says yes exactly for the methods `ROUTES` lists on each Partner Center route
    /// (axum's spelling of the template; `HEAD` with `GET`), and covers every one of them.
    #[test]
    fn the_guarded_table_is_the_partner_center_routes() {
        const TEMPLATES: [&str; 7] = [
            "/v1/customers/{customer_id}/deviceBatches",
            "/v1/customers/{customer_id}/deviceBatches/{batch_id}/devices",
            "/v1/customers/{customer_id}/deviceBatches/{batch_id}/devices/{device_id}",
            "/v1/customers/{customer_id}/DevicePolicyUpdates",
            "/v1/customers/{customer_id}/batchJobStatus/{tracking_id}",
            "/v1/customers/{customer_id}/policies",
            "/v1/customers/{customer_id}/policies/{policy_id}",
        ];
        let same_route = |ours: &str, listed: &str| {
            ours.split('/').count() == listed.split('/').count()
                && ours
                    .split('/')
                    .zip(listed.split('/'))
                    .all(|(a, b)| a == b || (a.starts_with('{') && b.starts_with('{')))
        };
        let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
        for template in TEMPLATES {
            for method in methods {
                let routed_as = if method == "HEAD" { "GET" } else { method };
                let listed = super::super::ROUTES
                    .iter()
                    .any(|(m, path)| *m == routed_as && same_route(template, path));
                let method = Method::from_bytes(method.as_bytes()).unwrap();
                assert_eq!(guarded(template, &method), listed, "{method} {template}");
            }
        }
        for (method, path) in super::super::ROUTES {
            if path.starts_with("/v1/") {
                let ours = TEMPLATES.iter().find(|t| same_route(t, path));
                let method = Method::from_bytes(method.as_bytes()).unwrap();
                assert!(ours.is_some_and(|t| guarded(t, &method)), "{method} {path}");
            }
        }
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
