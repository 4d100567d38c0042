//! The HTTP face of the emulator: routes, middleware and the server loop. Translates wire ⇄
//! domain and nothing more.

mod auth;
mod batch_status;
mod body;
mod bom;
mod control_auth;
mod customers;
mod deadline;
mod decode;
mod device_batches;
mod devices;
mod dispatch;
mod durable;
pub(crate) mod emulator;
mod encoding;
pub(crate) mod error;
mod extract;
pub(crate) mod fast;
// Entry points for the fuzz targets and property tests only: not in a release build.
#[cfg(any(test, fuzzing))]
pub(crate) mod fuzzing;
pub(crate) mod headers;
mod idempotency;
pub(crate) mod identity;
mod intercept;
mod links;
mod log;
pub(crate) mod normalize;
pub mod openapi;
mod paging;
pub mod partner;
mod policies;
mod respond;
mod server;
mod throttle;
pub(crate) mod transport;
mod wire;
mod write_timeout;

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};

use error::{ApiError, code};

pub(crate) use crate::app::AppState;
pub use server::{serve, serve_tls};

/// Every route [`router`] serves, as `(method, path template)` in the OpenAPI document's spelling
/// (`HEAD` is implied by `GET`). The contract test (`tests/api/contract.rs`) checks this list
/// against the document and probes each entry over HTTP, so a route must be listed here when it
/// is added to a router.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/customers/{customer-id}/deviceBatches"),
    ("POST", "/v1/customers/{customer-id}/deviceBatches"),
    (
        "GET",
        "/v1/customers/{customer-id}/deviceBatches/{devicebatch-id}/devices",
    ),
    (
        "POST",
        "/v1/customers/{customer-id}/deviceBatches/{devicebatch-id}/devices",
    ),
    (
        "PUT",
        "/v1/customers/{customer-id}/deviceBatches/{devicebatch-id}/devices/{device-id}",
    ),
    (
        "DELETE",
        "/v1/customers/{customer-id}/deviceBatches/{devicebatch-id}/devices/{device-id}",
    ),
    ("PATCH", "/v1/customers/{customer-id}/DevicePolicyUpdates"),
    (
        "GET",
        "/v1/customers/{customer-id}/batchJobStatus/{batchtracking-id}",
    ),
    ("GET", "/v1/customers/{customer-id}/policies"),
    ("POST", "/v1/customers/{customer-id}/policies"),
    ("GET", "/v1/customers/{customer-id}/policies/{policy-id}"),
    ("PUT", "/v1/customers/{customer-id}/policies/{policy-id}"),
    ("DELETE", "/v1/customers/{customer-id}/policies/{policy-id}"),
    ("GET", "/_emulator/health"),
    ("GET", "/_emulator/ca.pem"),
    ("GET", "/_emulator/openapi.yaml"),
    ("GET", "/_emulator/openapi.json"),
    ("GET", "/_emulator/clock"),
    ("POST", "/_emulator/clock"),
    ("POST", "/_emulator/clock/advance"),
    ("POST", "/_emulator/reset"),
    ("GET", "/_emulator/faults"),
    ("POST", "/_emulator/faults"),
    ("DELETE", "/_emulator/faults"),
    ("DELETE", "/_emulator/faults/{fault-id}"),
    ("GET", "/_emulator/requests"),
    ("DELETE", "/_emulator/requests"),
    ("POST", "/_emulator/seed"),
    ("GET", "/_emulator/state"),
    ("POST", "/{tenant}/oauth2/v2.0/token"),
    ("POST", "/{tenant}/oauth2/token"),
    ("GET", "/{tenant}/oauth2/v2.0/authorize"),
    ("GET", "/{tenant}/oauth2/authorize"),
    ("POST", "/{tenant}/oauth2/v2.0/devicecode"),
    ("POST", "/{tenant}/oauth2/devicecode"),
    ("GET", "/{tenant}/v2.0/.well-known/openid-configuration"),
    ("GET", "/{tenant}/.well-known/openid-configuration"),
    ("GET", "/common/discovery/instance"),
    ("GET", "/{tenant}/discovery/v2.0/keys"),
    ("GET", "/common/discovery/keys"),
    ("GET", "/common/userrealm/{username}"),
    ("POST", "/generatetoken"),
    ("POST", "/v3/generatetoken"),
    ("GET", "/_emulator/ui"),
    ("GET", "/_emulator/summary"),
    ("GET", "/_emulator/jobs"),
    ("GET", "/_emulator/jobs/{batchtracking-id}"),
    ("GET", "/_emulator/devices"),
];

/// The router: Partner Center routes (bearer auth, idempotent writes), the control plane, and
/// the mock Entra ID.
pub fn router(state: AppState) -> Router {
    // `auth::guard` and `--response-bom` are steps of `per_request` (see `routed`), not route
    // layers of these routers.
    Router::new()
        .merge(device_batches::router())
        .merge(devices::router())
        .merge(policies::router())
        .merge(batch_status::router())
        .merge(
            emulator::router().route_layer(from_fn_with_state(state.clone(), control_auth::guard)),
        )
        .merge(identity::router())
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), per_request))
        .with_state(state)
}

/// What every request passes, outermost first: the `MS-*` headers and the log line, the body's
/// deadline, fault rules and the journal, then a panic turned into a 500 (so a panic is answered,
/// journaled and logged, never a dropped connection), then [`routed`]. One layer rather than
/// six: a `Router::layer` or `route_layer` wraps each route in a boxed service, and each call
/// clones the boxed services beneath it, so every extra layer costs allocations on every request
/// (BENCHMARKS.md, "Per-request overhead, second pass"). The hot routes skip the router and run
/// the same steps from [`dispatch`].
async fn per_request(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map(MatchedPath::as_str);
    let guarded = route.is_some_and(|route| auth::guarded(route, req.method()));
    steps(&state, req, route, guarded, |req| next.run(req)).await
}

/// The steps of [`per_request`] around `handler`, for a request of `route` (the matched path
/// template) that `auth::guarded` says is `guarded`.
async fn steps<F, Fut>(
    state: &AppState,
    req: Request,
    route: Option<&str>,
    guarded: bool,
    handler: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    log::observe(req, route, |req| async move {
        // Outside the journal, which reads every body: a stalled body must time out there too.
        let req = body::read_deadline(state, req);
        intercept::faults_and_journal(state, req, |req| async move {
            // Pinned in this future's own frame: a box a request would cost an allocation.
            let routed = std::pin::pin!(routed(state, req, route.unwrap_or(""), guarded, handler));
            Caught(routed).await
        })
        .await
    })
    .await
}

/// The steps after routing: `--durability sync` around every request (only with a state file to
/// wait for), then, on a Partner Center route, `--response-bom` outside [`auth::guard`] (so the
/// guard's 401s, 403s, 404s and 429s carry the BOM too). As route layers these ran on a route's
/// own methods only, not on its 405 fallback (axum swaps the fallback in unlayered), so a wrong
/// method is 405 with or without a token; [`auth::guarded`] keeps that.
async fn routed<F, Fut>(
    state: &AppState,
    req: Request,
    route: &str,
    guarded: bool,
    handler: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let sync = state.config.durability == crate::config::Durability::Sync
        && state.config.state_file.is_some();
    // One call site, so the request's future holds one `partner_center` future, not two.
    durable::sync_writes(state, req, sync, |req| {
        partner_center(state, req, route, guarded, handler)
    })
    .await
}

async fn partner_center<F, Fut>(
    state: &AppState,
    req: Request,
    route: &str,
    guarded: bool,
    handler: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    if !guarded {
        return handler(req).await;
    }
    let response = auth::guard(state, req, route, handler).await;
    if state.config.response_bom {
        bom::prefix(response).await
    } else {
        response
    }
}

/// A request's future whose panic becomes the one 500 envelope.
struct Caught<'a, F>(Pin<&'a mut F>);

impl<F: Future<Output = Response>> Future for Caught<'_, F> {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let inner = self.get_mut().0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll,
            Err(panic) => Poll::Ready(panic_response(panic)),
        }
    }
}

pub use dispatch::App;

/// The whole service as the server runs it: path normalisation (which must run before routing;
/// a `Router::layer` middleware runs after the route is chosen), then the hand dispatcher, which
/// hands what it does not serve itself to [`router`].
pub fn app(state: AppState) -> App {
    App::new(router(state.clone()), state)
}

async fn route_not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "Not found: no route matches `{method} {}`. Partner Center routes start with /v1/customers/{{customer-id}}/, the control plane with /_emulator/.",
        uri.path()
    ))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        code::METHOD_NOT_ALLOWED,
        format!(
            "Method not allowed: `{method}` is not supported on `{}`.",
            uri.path()
        ),
    )
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    ApiError::internal().into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        panic!("handler bug")
    }

    #[tokio::test]
    async fn a_panicking_handler_is_answered_500_code_800003() {
        let state = AppState::new(crate::Config::for_tests(), crate::Clock::system());
        let router: Router = Router::new()
            .route("/boom", get(boom))
            .layer(from_fn_with_state(state.clone(), per_request))
            .with_state(state);
        let response = router
            .oneshot(Request::builder().uri("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"code": 800003, "description": "Unexpected service error. This is an emulator bug: please report it with the request.", "data": [], "source": "PartnerFD"})
        );
    }
}
