//! `--response-bom`: a UTF-8 byte order mark before the JSON bodies of Partner Center routes, for
//! testing clients that strip one unconditionally (or choke on one).

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

const BOM: &[u8] = "\u{feff}".as_bytes();

/// Prefixes a JSON body with the BOM; other answers pass as they are.
pub async fn prefix(response: Response) -> Response {
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Partner Center answers are small and already whole in memory.
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => {
            let mut with_bom = Vec::with_capacity(BOM.len() + bytes.len());
            with_bom.extend_from_slice(BOM);
            with_bom.extend_from_slice(&bytes);
            // hyper sets the new length from the body.
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(with_bom))
        }
        Err(_) => ApiError::internal().into_response(),
    }
}
