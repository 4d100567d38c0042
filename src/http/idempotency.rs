//! `MS-RequestId` idempotency for writes: a retry with the same id, route and body replays the
//! first successful answer and changes nothing; the same id with another body is a 409.

use std::future::Future;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use xxhash_rust::xxh3::xxh3_128;

use super::AppState;
use super::body::read_limited;
use super::error::{ApiError, code};
use super::headers::MS_REQUEST_ID;
use super::partner::Partner;
use crate::domain::ids::CustomerId;
use crate::store::{Claim, IdempotencyKey, RecordedAnswer};

/// A path segment with its `%XX` escapes decoded, as the router decodes it for the handler;
/// `None` when the result is not UTF-8.
fn percent_decoded(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Headers a replay reproduces; the `MS-*` ones are set afresh for each answer.
const REPLAYED: [&str; 2] = ["location", "content-type"];

/// The last step before the handler (`inner`).
pub async fn idempotent_writes<F, Fut>(state: &AppState, req: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let is_write = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    // Reads skip the header lookup: idempotency is for writes only.
    let request_id = is_write
        .then(|| req.headers().get(MS_REQUEST_ID))
        .flatten()
        .filter(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let Some(request_id) = request_id else {
        return inner(req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes = match read_limited(&parts.headers, body, state.config.max_body).await {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response(),
    };
    // Batch ids and fixed segments are case-insensitive, so the key is too.
    let path = parts.uri.path().to_lowercase();
    let key = IdempotencyKey {
        customer: customer_of(&path),
        request: format!("{} {path} {request_id}", parts.method),
    };
    // Each partner tenant has its own records: the same MS-RequestId never replays across them.
    let partner = Partner::of(&parts.extensions).map(|t| state.store.partner(t));
    let idempotency = &partner.as_deref().unwrap_or(&state.store).idempotency;
    match idempotency.claim(&key, xxh3_128(&bytes)) {
        Claim::Replay(answer) => replay(answer),
        Claim::Mismatch => ApiError::new(
            StatusCode::CONFLICT,
            code::REQUEST_ID_REUSED,
            format!("MS-RequestId `{request_id}` was already used for a different request on this route; send a new MS-RequestId for a new request."),
        )
        .into_response(),
        Claim::InFlight => ApiError::new(
            StatusCode::CONFLICT,
            code::REQUEST_ID_REUSED,
            format!("A request with MS-RequestId `{request_id}` is still being processed; retry once it has been answered."),
        )
        .into_response(),
        Claim::Proceed => {
            let response = inner(Request::from_parts(parts, Body::from(bytes))).await;
            if !response.status().is_success() {
                idempotency.release(&key);
                return response;
            }
            let (parts, body) = response.into_parts();
            let Ok(collected) = body.collect().await else {
                idempotency.release(&key);
                return ApiError::internal().into_response();
            };
            let body = collected.to_bytes();
            let headers = REPLAYED
                .iter()
                .filter_map(|name| {
                    let v = parts.headers.get(*name)?;
                    Some(((*name).to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                })
                .collect();
            idempotency.complete(
                &key,
                RecordedAnswer {
                    status: parts.status.as_u16(),
                    headers,
                    body: body.to_vec(),
                },
            );
            Response::from_parts(parts, Body::from(body))
        }
    }
}

/// The customer a Partner Center path names (`/v1/customers/{id}/…`), parsed and
/// percent-decoded as the router decodes it for the handler, so that `reset?customer=` forgets
/// its writes whatever spelling of the GUID the route used (`{guid}`, no hyphens, `urn:uuid:`).
fn customer_of(path: &str) -> Option<CustomerId> {
    let rest = path.strip_prefix("/v1/customers/")?;
    let segment = rest.split('/').next()?;
    CustomerId::parse(&percent_decoded(segment)?)
}

fn replay(answer: RecordedAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    // A bare body: `(status, Vec<u8>)` would add `application/octet-stream` to a bodiless 202 or
    // 204; the recorded `content-type`, when the first answer had one, is restored below.
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status;
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
