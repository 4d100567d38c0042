//! `ApiError`: every failure answered in the Partner Center error envelope, mapped in one place.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::respond::{INTERNAL_DESCRIPTION, json_response};
use crate::domain;

/// Partner Center error codes the emulator answers with (the README's error table).
pub mod code {
    /// 401: "Partner Token missing in request context".
    pub const TOKEN_MISSING: u32 = 800_001;
    /// 400: "Invalid request input".
    pub const INVALID_INPUT: u32 = 800_002;
    /// 500: "Unexpected service error".
    pub const UNEXPECTED: u32 = 800_003;
    /// 400: "Invalid Customer Id".
    pub const INVALID_CUSTOMER: u32 = 900_118;
    /// 403: "Access denied".
    pub const ACCESS_DENIED: u32 = 2032;
    /// 404: "Not found".
    pub const NOT_FOUND: u32 = 1000;
    /// 403: "The partner id {0} has no commerce relationship with the customer id {1}."
    pub const NO_RELATIONSHIP: u32 = 20_002;
    /// 404: "Tenant not found".
    pub const TENANT_NOT_FOUND: u32 = 60_003;
    // EMULATOR: Microsoft documents no codes for these; ours are listed in the README.
    /// 405: method not allowed on an existing route.
    pub const METHOD_NOT_ALLOWED: u32 = 1001;
    /// 409: a batch with this id already exists for the customer.
    pub const BATCH_EXISTS: u32 = 1002;
    /// 409: an `MS-RequestId` reused with a different body, or while the first is in flight.
    pub const REQUEST_ID_REUSED: u32 = 1003;
}

/// Microsoft documents `description` as at most 1,024 characters; longer ones are cut here.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// `data` is bounded the same way: its entries together carry at most this many characters.
pub const MAX_DATA_CHARS: usize = 1024;

/// The wire envelope: `{"code", "description", "data", "source"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    pub code: u32,
    pub description: String,
    pub data: Vec<String>,
    pub source: &'static str,
}

/// A failed request: status, envelope and any extra header (`WWW-Authenticate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    challenge: bool,
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    pub fn new(status: StatusCode, code: u32, description: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                code,
                description: description.into(),
                data: Vec::new(),
                source: "PartnerFD",
            },
            challenge: false,
        }
    }

    pub fn with_data(mut self, data: Vec<String>) -> Self {
        self.body.data = data;
        self
    }

    pub fn unauthorized() -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            code::TOKEN_MISSING,
            "Partner Token missing in request context: send an `Authorization: Bearer <token>` header \
             (any non-empty token is accepted).",
        );
        e.challenge = true;
        e
    }

    /// 401 for a control-plane request without the `--control-token`.
    pub fn control_unauthorized() -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            code::TOKEN_MISSING,
            "Control-plane token missing or wrong: this emulator was started with --control-token; send `Authorization: Bearer <that token>`.",
        );
        e.challenge = true;
        e
    }

    /// 401 for a bearer token `--auth jwt` refuses (foreign, expired, wrong audience).
    pub fn token_refused(why: &str) -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            code::TOKEN_MISSING,
            format!(
                "Partner Token missing in request context: {why}. Get a token for https://api.partnercenter.microsoft.com from this emulator's Entra ID (POST /{{tenant}}/oauth2/v2.0/token)."
            ),
        );
        e.challenge = true;
        e
    }

    /// 403 for an app-only token on an operation Partner Center documents as App+User only.
    // EMULATOR: Microsoft documents no code for this refusal; 2032 is its "Access denied".
    pub fn app_only_forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            code::ACCESS_DENIED,
            "Access denied: this operation supports App+User credentials only; sign in a user (authorization code, device code, password or refresh token) instead of using client credentials.",
        )
    }

    pub fn invalid_customer(raw: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            code::INVALID_CUSTOMER,
            format!(
                "Invalid Customer Id: `{raw}` is not a GUID (expected e.g. 11111111-2222-3333-4444-555555555555)."
            ),
        )
    }

    /// 400 800002 naming the failing field.
    pub fn invalid_input(field: &str, problem: &str) -> Self {
        let description = if field.is_empty() {
            format!("Invalid request input: {problem}")
        } else {
            format!("Invalid request input: `{field}` {problem}")
        };
        let data = if field.is_empty() {
            vec![]
        } else {
            vec![field.to_owned()]
        };
        Self::new(StatusCode::BAD_REQUEST, code::INVALID_INPUT, description).with_data(data)
    }

    /// 404 60003 for a customer `--customers seeded` does not know.
    pub fn tenant_not_found(customer: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::TENANT_NOT_FOUND,
            format!(
                "Tenant not found: customer `{customer}` does not exist (--customers seeded knows only the customers of the seed and the state)."
            ),
        )
    }

    /// 403 20002 for a seeded customer marked `"relationship": false`.
    pub fn no_relationship(partner: &str, customer: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            code::NO_RELATIONSHIP,
            format!(
                "The partner id {partner} has no commerce relationship with the customer id {customer}."
            ),
        )
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code::NOT_FOUND, what)
    }

    pub fn payload_too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::INVALID_INPUT,
            format!(
                "Invalid request input: the body is larger than the {limit}-byte limit (see --max-body)."
            ),
        )
    }

    pub fn request_timeout(timeout: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            code::INVALID_INPUT,
            format!(
                "Invalid request input: the body did not arrive within {} of the request headers; send it whole and without pauses.",
                humantime::format_duration(timeout)
            ),
        )
    }

    pub fn unsupported_media_type(got: Option<&str>) -> Self {
        let got = got.map_or_else(
            || "no Content-Type".to_owned(),
            |g| format!("Content-Type `{g}`"),
        );
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::INVALID_INPUT,
            format!(
                "Invalid request input: {got} is not supported; send `application/json` or `text/json`."
            ),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::UNEXPECTED,
            INTERNAL_DESCRIPTION,
        )
    }
}

impl From<domain::Error> for ApiError {
    fn from(e: domain::Error) -> Self {
        use domain::Error as E;
        match &e {
            E::BatchAlreadyExists(_) => Self::new(
                StatusCode::CONFLICT,
                code::BATCH_EXISTS,
                format!(
                    "{e}: add devices to it with POST .../deviceBatches/{{id}}/devices, or choose another batchId."
                ),
            ),
            E::BatchNotFound(_)
            | E::JobNotFound(_)
            | E::DeviceNotFound(_)
            | E::PolicyNotFound(_) => Self::not_found(format!("Not found: {e}.")),
            E::StaleContinuationToken => Self::invalid_input(
                "MS-ContinuationToken",
                "is not valid for this batch: it is malformed, belongs to another batch, or predates a reset. Request the first page again without it.",
            ),
        }
    }
}

/// A JSON value refused where it was read (a control-plane body, a seed document).
impl From<crate::json::Invalid> for ApiError {
    fn from(e: crate::json::Invalid) -> Self {
        Self::invalid_input(&e.path, &e.problem)
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::invalid_input("", &format!("the path could not be read ({rejection})."))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::invalid_input(
            "",
            &format!("the query string could not be read ({rejection})."),
        )
    }
}

impl ErrorBody {
    /// The envelope cut to Microsoft's limits, whatever built it: the description to
    /// [`MAX_DESCRIPTION_CHARS`] (ending in `…`), `data` to its first entries that fit
    /// [`MAX_DATA_CHARS`].
    fn bounded(mut self) -> Self {
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            let mut cut: String = self
                .description
                .chars()
                .take(MAX_DESCRIPTION_CHARS - 1)
                .collect();
            cut.push('…');
            self.description = cut;
        }
        let mut used = 0;
        let keep = self
            .data
            .iter()
            .take_while(|entry| {
                used += entry.chars().count();
                used <= MAX_DATA_CHARS
            })
            .count();
        self.data.truncate(keep);
        self
    }
}

impl ApiError {
    /// The answer of a fault rule: logged as what it is (the emulator doing as told), not as a
    /// failure at ERROR.
    pub fn injected(self) -> Response {
        tracing::info!(
            code = self.body.code,
            "fault injected: {} {:?}",
            self.status.as_u16(),
            self.body.description
        );
        self.render()
    }

    fn render(mut self) -> Response {
        self.body = self.body.bounded();
        let mut response = json_response(self.status, &self.body);
        if self.challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Descriptions quote client input (a batch id may hold a decoded `%0A`): `{:?}` escapes
        // it, so one request cannot forge log lines.
        if self.status.is_server_error() {
            tracing::error!(
                code = self.body.code,
                "request failed: {:?}",
                self.body.description
            );
        } else {
            tracing::debug!(
                code = self.body.code,
                "request rejected: {:?}",
                self.body.description
            );
        }
        self.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_are_cut_to_microsofts_limits() {
        let body = ApiError::new(StatusCode::NOT_FOUND, code::NOT_FOUND, "x".repeat(5000))
            .with_data(vec!["d".repeat(600); 3])
            .body
            .bounded();
        assert_eq!(body.description.chars().count(), MAX_DESCRIPTION_CHARS);
        assert!(body.description.ends_with('…'));
        assert_eq!(body.data.len(), 1);
    }
}
