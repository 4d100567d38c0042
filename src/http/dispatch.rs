//! The service the server runs: path normalisation, then a hand dispatcher that answers the hot
//! Partner Center routes (a device upload, a job's status) itself and hands every other request
//! to the router unchanged.
//!
//! Why: with every behaviour kept, the router's share of a request (matching, the `MatchedPath`
//! and URL-parameter extensions, a boxed service a route and layer, clones of those boxes, `Next`,
//! extractors that deserialize the path into `String`s) was most of what stood between the
//! emulator and the bare-axum floor (BENCHMARKS.md, "Per-request overhead, second pass"). The
//! hot routes run the very same steps ([`super::steps`]: log line and `MS-*` headers, body
//! deadline, faults and journal, panic catch, `--durability sync`, the auth guard with
//! idempotency, `--response-bom`) and the very same handler code, called directly. A request the
//! byte match is not sure of (another method, `HEAD`, an escape in a segment, a customer id that
//! is not a GUID) goes to the router, which answers it as it always has; a differential test
//! (`tests/api/dispatch.rs`) holds the two paths to the same bytes.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use tower::ServiceExt;

use super::AppState;
use super::body::read_json_whole;
use super::partner::{Partner, Tenant};
use super::{batch_status, devices, normalize};
use crate::domain::ids::CustomerId;

/// The router behind the hand dispatcher, and the state the hot routes need.
#[derive(Clone)]
pub struct App {
    router: Router,
    state: AppState,
}

impl App {
    pub(super) fn new(router: Router, state: AppState) -> Self {
        Self { router, state }
    }

    /// The answer to `req`. Not boxed itself (the server's connection holds it in place; only a
    /// hot route's steps are, below), unlike [`tower::Service::call`]'s.
    pub fn answer(&self, req: Request<Incoming>) -> impl Future<Output = Response> + Send + use<> {
        let req = req.map(body);
        // A path the match accepts is canonical already (every segment it reads is in its
        // documented spelling, none is empty), so the rewrite is skipped for it; any other is
        // rewritten and matched again.
        let (req, hot) = match self.hot(&req) {
            Some(hot) => (req, Some(hot)),
            None => {
                let req = normalize::rewrite(req);
                let hot = self.hot(&req);
                (req, hot)
            }
        };
        let target = match hot {
            Some(hot) => Target::Hot(hot, self.state.clone()),
            None => Target::Router(self.router.clone()),
        };
        async move {
            match target {
                // Boxed: the steps make a future of ~7 KB, and hyper moves the future it is
                // given (and this one moves its parts) several times a request; a box is moved
                // as a pointer, where the future would be copied whole each time.
                Target::Hot(hot, state) => Box::pin(hot.serve(&state, req)).await,
                Target::Router(router) => match router.oneshot(req).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                },
            }
        }
    }

    fn hot(&self, req: &Request) -> Option<Hot> {
        if self.state.config.hand_dispatch {
            Hot::of(req.method(), req.uri().path())
        } else {
            None
        }
    }
}

enum Target {
    Hot(Hot, AppState),
    Router(Router),
}

impl tower::Service<Request<Incoming>> for App {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let answer = self.answer(req);
        Box::pin(async move { Ok(answer.await) })
    }
}

/// The body as the router takes it. A body already at its end (a `GET`'s) becomes
/// `Body::empty()`, which costs no allocation, where `Body::new` boxes the connection's.
fn body(body: Incoming) -> Body {
    if body.is_end_stream() {
        Body::empty()
    } else {
        Body::new(body)
    }
}

/// A hot route, recognised in a canonical path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `POST /v1/customers/{customer_id}/deviceBatches/{batch_id}/devices`
    Upload,
    /// `GET /v1/customers/{customer_id}/batchJobStatus/{tracking_id}`
    Status,
}

impl Route {
    /// The route's template as the router spells it (its `MatchedPath`), for the log line and
    /// the auth guard.
    fn template(self) -> &'static str {
        match self {
            Route::Upload => devices::DEVICES,
            Route::Status => batch_status::STATUS,
        }
    }
}

/// A request the dispatcher answers itself: its route and the customer its path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hot {
    route: Route,
    customer: CustomerId,
}

/// A segment the router would hand to the handler exactly as it stands: not empty, and no
/// escape for the `Path` extractor to decode.
fn plain(segment: &str) -> bool {
    !segment.is_empty() && !segment.bytes().any(|b| b == b'/' || b == b'%')
}

impl Hot {
    /// The hot route `method` and the normalised `path` name, when the byte match is sure the
    /// router would route them there and its extractors would accept the path.
    fn of(method: &Method, path: &str) -> Option<Hot> {
        let rest = path.strip_prefix("/v1/customers/")?;
        // A customer GUID is 36 bytes in its usual spelling; any other length is looked for.
        let slash = match rest.as_bytes().get(36) {
            Some(b'/') => 36,
            _ => rest.bytes().position(|b| b == b'/')?,
        };
        let (customer, rest) = rest.split_at_checked(slash)?;
        let rest = rest.strip_prefix('/')?;
        let route = if *method == Method::POST {
            let batch = rest
                .strip_prefix("deviceBatches/")?
                .strip_suffix("/devices")?;
            plain(batch).then_some(Route::Upload)?
        } else if *method == Method::GET {
            let tracking = rest.strip_prefix("batchJobStatus/")?;
            plain(tracking).then_some(Route::Status)?
        } else {
            return None;
        };
        // No GUID spelling has a `%` or a `/`, so a customer that parses is a plain segment.
        let customer = CustomerId::parse(customer)?;
        Some(Hot { route, customer })
    }

    /// The route's answer, through the same steps as the router's.
    async fn serve(self, state: &AppState, req: Request) -> Response {
        let route = self.route.template();
        let mut response = super::steps(state, req, Some(route), true, |req| {
            self.handler(state, req)
        })
        .await;
        // The router's outermost route future does this (its inner ones do not), after the
        // `MS-*` headers, so the headers come in the same order.
        set_content_length(&mut response);
        response
    }

    /// The handler, as the router's extractors would have called it.
    async fn handler(self, state: &AppState, req: Request) -> Response {
        let tenant = Tenant::of(state, Partner::of(req.extensions()));
        let answer = match self.route {
            Route::Upload => {
                let (parts, body) = req.into_parts();
                // The journal has read the body: it is whole in memory.
                match read_json_whole(&parts.headers, body, state.config.max_body).await {
                    // The path is `…/deviceBatches/{batch_id}/devices`.
                    Ok(bytes) => {
                        let batch = parts.uri.path().rsplit('/').nth(1).unwrap_or_default();
                        devices::upload(&tenant, self.customer, batch, &bytes)
                    }
                    Err(e) => Err(e),
                }
            }
            Route::Status => {
                // The path is `…/batchJobStatus/{tracking_id}`.
                let tracking = req.uri().path().rsplit('/').next().unwrap_or_default();
                batch_status::status(&tenant, self.customer, tracking)
            }
        };
        answer.into_response()
    }
}

/// What axum's route future does to every answer: a `Content-Length` when the body's size is
/// known and the header is absent.
fn set_content_length(response: &mut Response) {
    if response.headers().contains_key(CONTENT_LENGTH) {
        return;
    }
    if let Some(size) = response.body().size_hint().exact() {
        let value = if size == 0 {
            HeaderValue::from_static("0")
        } else {
            HeaderValue::from(size)
        };
        response.headers_mut().insert(CONTENT_LENGTH, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "c7f3c849-129f-4b85-a96d-4f8e88b315a3";

    fn hot(method: Method, path: &str) -> Option<Route> {
        Hot::of(&method, path).map(|h| h.route)
    }

    #[test]
    fn the_two_hot_routes_are_recognised() {
        let upload = format!("/v1/customers/{C}/deviceBatches/B/devices");
        let status = format!("/v1/customers/{C}/batchJobStatus/T");
        assert_eq!(hot(Method::POST, &upload), Some(Route::Upload));
        assert_eq!(hot(Method::GET, &status), Some(Route::Status));
        let customer = Hot::of(&Method::GET, &status).map(|h| h.customer);
        assert_eq!(customer, CustomerId::parse(C));
    }

    /// The templates are the router's own: a request routed there reports the same
    /// `MatchedPath`, and the auth guard covers them.
    #[tokio::test]
    async fn the_templates_are_the_routers() {
        use axum::extract::MatchedPath;
        let state = AppState::new(crate::Config::for_tests(), crate::Clock::system());
        for (route, method, path) in [
            (
                Route::Upload,
                Method::POST,
                format!("/v1/customers/{C}/deviceBatches/B/devices"),
            ),
            (
                Route::Status,
                Method::GET,
                format!("/v1/customers/{C}/batchJobStatus/T"),
            ),
        ] {
            assert!(super::super::auth::guarded(route.template(), &method));
            let probe =
                axum::middleware::from_fn(|req: Request, _: axum::middleware::Next| async move {
                    let matched = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map(|m| m.as_str().to_owned());
                    matched.unwrap_or_default().into_response()
                });
            let router = super::super::router(state.clone()).layer(probe);
            let request = Request::builder()
                .method(method)
                .uri(&path)
                .body(Body::empty())
                .unwrap();
            let response = router.oneshot(request).await.unwrap();
            let body = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            assert_eq!(&body[..], route.template().as_bytes(), "{path}");
        }
    }

    #[test]
    fn anything_unsure_is_left_to_the_router() {
        for (method, path) in [
            (
                Method::GET,
                format!("/v1/customers/{C}/deviceBatches/B/devices"),
            ),
            (Method::HEAD, format!("/v1/customers/{C}/batchJobStatus/T")),
            (
                Method::PUT,
                format!("/v1/customers/{C}/deviceBatches/B/devices"),
            ),
            (Method::POST, format!("/v1/customers/{C}/batchJobStatus/T")),
            (
                Method::POST,
                format!("/v1/customers/{C}/deviceBatches/B/devices/D"),
            ),
            (
                Method::POST,
                format!("/v1/customers/{C}/deviceBatches/devices"),
            ),
            (
                Method::POST,
                format!("/v1/customers/{C}/deviceBatches//devices"),
            ),
            (
                Method::POST,
                format!("/v1/customers/{C}/deviceBatches/A/B/devices"),
            ),
            (
                Method::POST,
                format!("/v1/customers/{C}/deviceBatches/B%20/devices"),
            ),
            (Method::GET, format!("/v1/customers/{C}/batchJobStatus/T/")),
            (Method::GET, format!("/v1/customers/{C}/batchJobStatus/T/x")),
            (Method::GET, format!("/v1/customers/{C}/batchJobStatus/%54")),
            (Method::GET, format!("/v1/customers/{C}/batchJobStatus")),
            (
                Method::GET,
                "/v1/customers/not-a-guid/batchJobStatus/T".to_owned(),
            ),
            (
                Method::GET,
                "/v1/customers/c7f3c849%2D129f-4b85-a96d-4f8e88b315a3/batchJobStatus/T".to_owned(),
            ),
            (Method::GET, format!("/v1/customers/{C}/batchjobstatus/T")),
            (Method::GET, format!("/v1.0/customers/{C}/batchJobStatus/T")),
            (Method::GET, format!("/v2/customers/{C}/batchJobStatus/T")),
        ] {
            assert_eq!(hot(method.clone(), &path), None, "{method} {path}");
        }
    }
}
