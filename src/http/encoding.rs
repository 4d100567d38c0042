//! `Content-Encoding` of Partner Center request bodies: `gzip` is inflated (within `--max-body`,
//! so a small bomb cannot grow past the limit), `identity` passes, anything else is a 415 in the
//! envelope instead of a confusing "not valid JSON".

use std::io::Read;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use bytes::Bytes;
use flate2::read::MultiGzDecoder;

use super::error::{ApiError, code};

/// The body as the handlers should read it, with `Content-Encoding` removed and
/// `Content-Length` made the decoded length.
pub fn decode(headers: &mut HeaderMap, bytes: Bytes, limit: u64) -> Result<Bytes, ApiError> {
    // An empty body has nothing to decode, whatever a GET's headers claim.
    let Some(raw) = headers
        .get(header::CONTENT_ENCODING)
        .filter(|_| !bytes.is_empty())
    else {
        return Ok(bytes);
    };
    let encoding = String::from_utf8_lossy(raw.as_bytes())
        .trim()
        .to_ascii_lowercase();
    let decoded = match encoding.as_str() {
        "" | "identity" => bytes,
        "gzip" | "x-gzip" => {
            let mut out = Vec::new();
            MultiGzDecoder::new(&bytes[..])
                .take(limit.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|e| {
                    ApiError::invalid_input(
                        "",
                        &format!("the gzip-encoded body could not be decompressed ({e})."),
                    )
                })?;
            if out.len() as u64 > limit {
                return Err(ApiError::payload_too_large(limit));
            }
            Bytes::from(out)
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code::INVALID_INPUT,
                format!(
                    "Invalid request input: Content-Encoding `{}` is not supported; send the body uncompressed or with `gzip`.",
                    super::decode::quoted(&encoding).trim_matches('`')
                ),
            ));
        }
    };
    headers.remove(header::CONTENT_ENCODING);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(decoded.len()));
    Ok(decoded)
}
