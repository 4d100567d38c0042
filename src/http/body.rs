//! Reading request bodies: content type, size limit, BOM, JSON syntax, each failure in the envelope.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::Value;

use super::error::ApiError;

/// Reads the whole body, answering 413 past `limit` (early when `Content-Length` says so).
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: u64) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::payload_too_large(limit));
    }
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit_usize).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::payload_too_large(limit))
        }
        Err(e) => Err(ApiError::invalid_input(
            "",
            &format!("the body could not be read to its end ({e})."),
        )),
    }
}

/// Whether the request declares a JSON body: `application/json` or `text/json`, any parameters.
fn is_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let raw = headers.get(header::CONTENT_TYPE);
    let text = raw.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = text.as_deref().map(|t| {
        t.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    match essence.as_deref() {
        Some("application/json" | "text/json") => Ok(()),
        _ => Err(ApiError::unsupported_media_type(text.as_deref())),
    }
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
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_input("", &format!("the body is not valid JSON ({e}).")))
}

/// Content type, then size, then syntax.
pub async fn read_json(headers: &HeaderMap, body: Body, limit: u64) -> Result<Value, ApiError> {
    is_json(headers)?;
    let bytes = read_limited(headers, body, limit).await?;
    parse_json(&bytes)
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
        assert!(is_json(&HeaderMap::new()).is_err());
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
