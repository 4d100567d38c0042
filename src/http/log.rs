//! The outermost layer: the `MS-*` headers on every answer, and one log line per request
//! (method, matched route, status, latency, correlation id). Headers (and so `Authorization`)
//! and bodies are never logged. One layer for both, as both wrap every request: split, with the
//! auth/idempotency split, it costs ~14,000 more instructions a request (BENCHMARKS.md,
//! "Middleware: two jobs in one layer"); the headers themselves are [`super::headers`]' job, the
//! line's bytes [`crate::telemetry`]'s when the binary's subscriber is installed.

use std::future::Future;
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;

use super::headers::RequestIds;
use crate::telemetry::{self, RequestLine};

/// A step of [`super::per_request`], the outermost: `inner` is the rest of the request, `route`
/// its matched path template (the router's `MatchedPath`, or the hand dispatcher's spelling of
/// the same).
pub async fn observe<F, Fut>(req: Request, route: Option<&str>, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    // Latency is a measurement of real elapsed time, not emulated behaviour: it reads `Instant`.
    let started = Instant::now();
    let method = req.method().clone();
    // Cheap clones (reference counts), taken before the request is handed on.
    let uri = req.uri().clone();
    let ids = RequestIds::of(req.headers());
    let mut response = inner(req).await;
    ids.stamp(response.headers_mut());
    // Visible ASCII or a tab (`RequestIds` echoes nothing else), so the check passes; its ASCII
    // path is a few instructions where `from_utf8_lossy`'s chunking took ~270 a request.
    let correlation_id = match std::str::from_utf8(ids.correlation_id.as_bytes()) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(ids.correlation_id.as_bytes()),
    };
    let status = response.status().as_u16();
    let path = uri.path();
    let route = route.unwrap_or("-");
    // A container health check probes every few seconds; its lines would bury the rest.
    let probe = path == "/_emulator/health";
    let enabled = if probe {
        tracing::enabled!(tracing::Level::DEBUG)
    } else {
        tracing::enabled!(tracing::Level::INFO)
    };
    if !enabled {
        return response;
    }
    let latency = started.elapsed();
    let line = RequestLine {
        probe,
        method: method.as_str(),
        path,
        status,
        route,
        latency,
        correlation_id: &correlation_id,
    };
    if telemetry::write_request_line(&line) {
        return response;
    }
    // Another subscriber (an embedder's, a test's, colour on a terminal): a tracing event.
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if probe {
        tracing::debug!(
            http.status = status,
            latency_ms = format_args!("{latency_ms:.2}"),
            "{method} {path} {status}"
        );
        return response;
    }
    tracing::info!(
        http.method = %method,
        http.route = %route,
        http.status = status,
        latency_ms = format_args!("{latency_ms:.2}"),
        // Quoted and escaped: the value is the client's, and must not add fields or lines.
        correlation_id = ?correlation_id,
        "{method} {path} {status}"
    );
    response
}
