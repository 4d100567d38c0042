//! Fault injection and the request journal, for Partner Center routes only: each request is
//! matched against the fault rules before it reaches its handler, and recorded once answered.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use uuid::Uuid;

use super::AppState;
use super::body::read_limited;
use super::error::{ApiError, code};
use super::headers::{MS_CORRELATION_ID, MS_REQUEST_ID};
use super::partner::Partner;
use crate::domain::fault::Effect;
use crate::domain::ids::CustomerId;
use crate::store::JournalEntry;

/// Marks a response that must not be sent: the server closes the connection instead.
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

fn sent(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// A method's name for the journal: borrowed for the standard ones, so most requests allocate
/// nothing for it.
fn method_name(method: &Method) -> Cow<'static, str> {
    let name = match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => return Cow::Owned(method.as_str().to_owned()),
    };
    Cow::Borrowed(name)
}

/// The body handed on once read: an empty one (most reads) costs no allocation, where a
/// `Body::from` an empty `Bytes` boxes it.
fn buffered(bytes: &Bytes) -> Body {
    if bytes.is_empty() {
        Body::empty()
    } else {
        Body::from(bytes.clone())
    }
}

/// A step of [`super::per_request`]: fault rules before the handler (`inner`), the journal
/// after it.
pub async fn faults_and_journal<F, Fut>(state: &AppState, req: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let path = req.uri().path().to_owned();
    if !path.starts_with("/v1/") {
        return inner(req).await;
    }
    let now = state.clock.now();
    let method = method_name(req.method());
    let customer = path.split('/').nth(3).and_then(CustomerId::parse);
    let (mut parts, body) = req.into_parts();
    let request_id = sent(&parts.headers, &MS_REQUEST_ID);
    let correlation_id = sent(&parts.headers, &MS_CORRELATION_ID);
    // The body is read once here so the journal can keep it; handlers read the buffered copy.
    let read = read_limited(&parts.headers, body, state.config.max_body)
        .await
        .and_then(|b| super::encoding::decode(&mut parts.headers, b, state.config.max_body));
    let (response, bytes, fault) = match read {
        Err(e) => (e.into_response(), Default::default(), None),
        Ok(bytes) => {
            let fault = state.store.fire_fault(&method, &path, customer, now);
            let response = match fault.map(|(_, effect)| effect) {
                // One call site for `inner`, so this future holds one of its futures, not two.
                effect @ (None | Some(Effect::Delay { .. })) => {
                    if let Some(Effect::Delay { ms }) = effect {
                        // Latency is real time by nature: it delays the answer, not the
                        // emulated clock.
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    inner(Request::from_parts(parts, buffered(&bytes))).await
                }
                Some(Effect::Status(status)) => injected_status(status, fault.map(|(id, _)| id)),
                Some(Effect::Throttle {
                    retry_after_seconds,
                }) => throttled(retry_after_seconds),
                Some(Effect::Drop) => {
                    let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    r.extensions_mut().insert(DropConnection);
                    r
                }
            };
            (response, bytes, fault.map(|(id, _)| id))
        }
    };
    let (body, body_truncated) = JournalEntry::body_of(&bytes);
    let dropped = response.extensions().get::<DropConnection>().is_some();
    state.store.record_request(JournalEntry {
        time: now,
        method,
        path,
        customer,
        partner: Partner::of(response.extensions()),
        status: (!dropped).then(|| response.status().as_u16()),
        request_id,
        correlation_id,
        fault,
        body,
        body_truncated,
    });
    response
}

/// A configured status in the Partner Center envelope, with the code the service uses for it.
fn injected_status(status: u16, rule: Option<Uuid>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let code = match status.as_u16() {
        401 => code::TOKEN_MISSING,
        404 => code::NOT_FOUND,
        s if s >= 500 => code::UNEXPECTED,
        _ => code::INVALID_INPUT,
    };
    let rule = rule.map(|r| r.to_string()).unwrap_or_default();
    ApiError::new(
        status,
        code,
        format!("Fault injected by the emulator (rule {rule})."),
    )
    .injected()
}

/// The API gateway's throttling answer, which is not the Partner Center envelope.
pub(super) fn throttled(retry_after_seconds: u64) -> Response {
    let body = serde_json::json!({
        "statusCode": 429,
        "message": format!("Rate limit is exceeded. Try again in {retry_after_seconds} seconds."),
    });
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::RETRY_AFTER, HeaderValue::from(retry_after_seconds)),
        ],
        body.to_string(),
    )
        .into_response()
}
