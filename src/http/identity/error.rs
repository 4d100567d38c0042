//! `EntraError`: failures of the mock Entra ID, answered in Entra's own error shape.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use uuid::Uuid;

use crate::domain::timestamp::Timestamp;
use crate::http::respond::json_response;

/// An OAuth error as Entra answers it: `error`, an `AADSTS` code and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraError {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: u32,
    pub message: String,
}

/// The wire body: Entra's fields in Entra's order.
#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: String,
    error_codes: [u32; 1],
    timestamp: &'a str,
    trace_id: &'a str,
    correlation_id: &'a str,
    error_uri: String,
}

impl EntraError {
    pub fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            code,
            message: message.into(),
        }
    }

    /// 400 `invalid_request` AADSTS900144: a required parameter is missing.
    pub fn missing(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900_144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    /// 400 `invalid_request` AADSTS90002: the tenant path names no tenant (strict mode).
    pub fn unknown_tenant(tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90_002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        )
    }

    pub fn invalid_grant(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", code, message)
    }

    /// Renders the error at `now`: the description carries the AADSTS code, a trace id, the
    /// correlation id (the client's `client-request-id`, else new) and the timestamp.
    pub fn render(&self, now: Timestamp, headers: &HeaderMap) -> Response {
        let at = now.as_offset();
        let timestamp = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        let correlation_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Uuid::parse_str(v.trim()).ok())
            .unwrap_or_else(Uuid::new_v4)
            .to_string();
        let trace_id = Uuid::new_v4().to_string();
        let body = Body {
            error: self.error,
            error_description: format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.code, self.message
            ),
            error_codes: [self.code],
            timestamp: &timestamp,
            trace_id: &trace_id,
            correlation_id: &correlation_id,
            error_uri: format!("https://login.microsoftonline.com/error?code={}", self.code),
        };
        tracing::debug!(code = self.code, "sign-in refused: {:?}", self.message);
        json_response(self.status, &body)
    }
}
