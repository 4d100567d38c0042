//! The one way a JSON answer is written: the service's content type, a compact body, and, should
//! serializing ever fail, the same 500 envelope [`ApiError::internal`] writes. A leaf: the error
//! type and the resource helpers both build on it.
//!
//! [`ApiError::internal`]: super::error::ApiError::internal

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// What [`super::error::ApiError::internal`] says; one text for every 500.
pub const INTERNAL_DESCRIPTION: &str =
    "Unexpected service error. This is an emulator bug: please report it with the request.";

/// `ApiError::internal()`'s envelope, written out for when serializing is what failed (a test
/// checks that the two agree).
const INTERNAL_BODY: &str = r#"{"code":800003,"description":"Unexpected service error. This is an emulator bug: please report it with the request.","data":[],"source":"PartnerFD"}"#;

/// A compact JSON body with `Content-Type: application/json; charset=utf-8` and no BOM.
pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => json_bytes(status, bytes),
        Err(e) => {
            tracing::error!("response serialization failed: {e}");
            json_bytes(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_BODY)
        }
    }
}

/// JSON already serialized (a rendered job, the OpenAPI document), with the same content type.
pub fn json_bytes(status: StatusCode, body: impl IntoResponse) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_serialization_answers_the_one_internal_error_envelope() {
        let expected = serde_json::to_string(&super::super::error::ApiError::internal().body);
        assert_eq!(expected.ok().as_deref(), Some(INTERNAL_BODY));
    }
}
