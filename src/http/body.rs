//! Reading request bodies: time limit, content type, size limit, BOM, JSON syntax, each failure
//! in the envelope.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderMap, header};
use bytes::BytesMut;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Frame, SizeHint};
use serde_json::Value;
use tokio::time::Sleep;

use super::AppState;
use super::error::ApiError;

/// A request body that fails with [`BodyTimedOut`] once its deadline passes, so a client that
/// sends headers and then stalls (or trickles) cannot hold a handler and its connection forever.
// The deadline is real time on purpose: it protects the server, it is not emulated behaviour.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("the body did not arrive within {}", humantime::format_duration(*.0))]
struct BodyTimedOut(Duration);

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        // Data that has arrived wins over a deadline passing at the same moment.
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(this.timeout))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request's body must arrive in full within `Config::body_read_timeout` of its headers (a
/// request without a body is passed on as it is). A step of [`super::per_request`].
pub fn read_deadline(state: &AppState, req: Request) -> Request {
    if req.body().is_end_stream() {
        return req;
    }
    let timeout = state.config.body_read_timeout;
    req.map(|inner| {
        Body::new(DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
        })
    })
}

/// The deadline's timeout, when it is what ended a body read.
fn timed_out(e: &(dyn StdError + 'static)) -> Option<Duration> {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if let Some(BodyTimedOut(timeout)) = err.downcast_ref() {
            return Some(*timeout);
        }
        cause = err.source();
    }
    None
}

/// The body's length as its `Content-Length` declares it, when it is a number.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// How much of a body must arrive before its declared length is reserved.
const PROVEN: usize = 1 << 20;

/// Reads the whole body, answering 413 past `limit` (early when `Content-Length` says so), and
/// 408 when the body's deadline passes first.
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: u64) -> Result<Bytes, ApiError> {
    let declared = declared_length(headers);
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::payload_too_large(limit));
    }
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    // One buffer of the declared size rather than one that doubles its way there: the doubling
    // leaves tens of MB of freed blocks behind in the allocator after each large upload. The
    // declared size is reserved only once 1 MiB has arrived, so a client that declares a large
    // body and stalls holds no more than that.
    let declared = declared
        .and_then(|len| usize::try_from(len).ok())
        .unwrap_or(0);
    let mut buffer = BytesMut::new();
    let mut limited = Limited::new(body, limit_usize);
    while let Some(frame) = limited.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    if buffer.len() + data.len() > PROVEN && buffer.capacity() < declared {
                        buffer.reserve(declared - buffer.len());
                    }
                    buffer.extend_from_slice(&data);
                }
            }
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(ApiError::payload_too_large(limit));
            }
            Err(e) => return Err(unreadable(&*e)),
        }
    }
    Ok(buffer.freeze())
}

/// The answer to a body that failed before its end: 408 when its deadline passed, else 400.
fn unreadable(e: &(dyn StdError + 'static)) -> ApiError {
    match timed_out(e) {
        Some(timeout) => ApiError::request_timeout(timeout),
        None => {
            ApiError::invalid_input("", &format!("the body could not be read to its end ({e})."))
        }
    }
}

/// [`read_json_bytes`] for a body already whole in memory, as a journaled request's is (the
/// journal read it, within the same limit): its one frame is handed on as it is, where
/// [`read_limited`] copies it into a new buffer (~1,000 instructions an upload). A body whose
/// size is unknown or past the limit is read by [`read_limited`], so the answers are the same.
pub async fn read_json_whole(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
) -> Result<Bytes, ApiError> {
    is_json(headers)?;
    let declared = declared_length(headers);
    let within = |len: u64| len <= limit;
    if !body.size_hint().exact().is_some_and(within) || !declared.is_none_or(within) {
        return read_limited(headers, body, limit).await;
    }
    let mut body = body;
    let mut whole: Option<Bytes> = None;
    let mut more = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let data = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Err(e) => return Err(unreadable(&e)),
        };
        match whole.take() {
            None if more.is_empty() => whole = Some(data),
            first => {
                if let Some(first) = first {
                    more.extend_from_slice(&first);
                }
                more.extend_from_slice(&data);
            }
        }
    }
    Ok(whole.unwrap_or_else(|| more.freeze()))
}

/// Whether the request declares a JSON body: `application/json` or `text/json`, any parameters,
/// any case. Compared in place: only a refusal copies the header, for its message.
fn is_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let raw = headers.get(header::CONTENT_TYPE);
    if raw.is_some_and(|v| declares_json(v.as_bytes())) {
        return Ok(());
    }
    let text = raw.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    Err(ApiError::unsupported_media_type(text.as_deref()))
}

/// The essence of a `Content-Type` (before any `;`, trimmed) is a JSON type. A value with
/// non-ASCII bytes is read as text first, as it always was, so that Unicode spaces trim alike.
fn declares_json(value: &[u8]) -> bool {
    let json = |essence: &[u8]| {
        essence.eq_ignore_ascii_case(b"application/json")
            || essence.eq_ignore_ascii_case(b"text/json")
    };
    if value.is_ascii() {
        let end = value.iter().position(|&b| b == b';').unwrap_or(value.len());
        return json(value[..end].trim_ascii());
    }
    let text = String::from_utf8_lossy(value);
    json(text.split(';').next().unwrap_or("").trim().as_bytes())
}

/// Parses a JSON body, tolerating a UTF-8 BOM before it as the .NET service does.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_input(
            "",
            "the body is empty; a JSON document is required.",
        ));
    }
    // EMULATOR: serde_json refuses nesting deeper than 128 levels (a 400), so deep input cannot
    // overflow the stack.
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_input("", &format!("the body is not valid JSON ({e}).")))
}

/// Content type, then size; the bytes of a JSON body, for decoders that parse it themselves.
pub async fn read_json_bytes(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
) -> Result<Bytes, ApiError> {
    is_json(headers)?;
    read_limited(headers, body, limit).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_type(t: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(t));
        h
    }

    #[test]
    fn json_content_types_are_accepted_with_or_without_charset() {
        for t in [
            "application/json",
            "text/json",
            "application/json; charset=utf-8",
            "Text/JSON;charset=UTF-8",
        ] {
            assert!(is_json(&with_type(t)).is_ok(), "{t}");
        }
        assert!(is_json(&with_type("application/xml")).is_err());
        assert!(is_json(&with_type(" application/JSON ;x")).is_ok());
        assert!(is_json(&with_type("application/jsonx")).is_err());
        assert!(is_json(&with_type("")).is_err());
        assert!(declares_json(
            "application/json\u{a0}; charset=utf-8".as_bytes()
        ));
        assert!(!declares_json(b"application/json\xff"));
        assert!(is_json(&HeaderMap::new()).is_err());
    }

    /// A body whose client never sends anything.
    struct Stalled;

    impl HttpBody for Stalled {
        type Data = Bytes;
        type Error = axum::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_body_past_its_deadline_is_a_408_and_one_in_time_is_read() {
        let timeout = Duration::from_millis(20);
        let deadline = |inner| {
            Body::new(DeadlineBody {
                inner,
                deadline: Box::pin(tokio::time::sleep(timeout)),
                timeout,
            })
        };
        let e = read_limited(&HeaderMap::new(), deadline(Body::new(Stalled)), 10)
            .await
            .unwrap_err();
        assert_eq!(e.status, 408);
        assert_eq!(
            e.body.description,
            "Invalid request input: the body did not arrive within 20ms of the request headers; send it whole and without pauses."
        );
        let read = read_limited(&HeaderMap::new(), deadline(Body::from("[1]")), 10).await;
        assert_eq!(read.unwrap(), Bytes::from("[1]"));
        let e = read_json_whole(
            &with_type("application/json"),
            deadline(Body::new(Stalled)),
            10,
        )
        .await
        .unwrap_err();
        assert_eq!(e.status, 408);
    }

    #[tokio::test]
    async fn a_whole_body_is_handed_on_as_it_is() {
        let json = with_type("application/json");
        let bytes = Bytes::from_static(b"[1, 2]");
        let read = read_json_whole(&json, Body::from(bytes.clone()), 10)
            .await
            .unwrap();
        assert_eq!(read, bytes);
        assert_eq!(read.as_ptr(), bytes.as_ptr(), "not copied");
        let read = read_json_whole(&json, Body::empty(), 10).await.unwrap();
        assert!(read.is_empty());
        let e = read_json_whole(&json, Body::from(bytes.clone()), 5)
            .await
            .unwrap_err();
        assert_eq!(e.status, 413);
        let e = read_json_whole(&HeaderMap::new(), Body::from(bytes), 10)
            .await
            .unwrap_err();
        assert_eq!(e.status, 415);
    }

    #[test]
    fn a_bom_is_skipped_and_garbage_is_a_400() {
        assert_eq!(
            parse_json(b"\xEF\xBB\xBF[1]").unwrap(),
            serde_json::json!([1])
        );
        assert_eq!(parse_json(b"{").unwrap_err().status, 400);
        assert_eq!(parse_json(b"  ").unwrap_err().status, 400);
        assert_eq!(parse_json(b"\xff").unwrap_err().status, 400);
    }
}
