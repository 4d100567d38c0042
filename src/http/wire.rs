//! Response helpers shared by every resource: JSON with the service's content type, 202 answers
//! and the `attributes` object every resource carries.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::ids::{CustomerId, TrackingId};

pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// `{"objectType": "..."}`, serialized last in every resource as the service does.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attributes {
    pub object_type: &'static str,
}

impl Attributes {
    pub const fn of(object_type: &'static str) -> Self {
        Self { object_type }
    }
}

/// A compact JSON body with `Content-Type: application/json; charset=utf-8` and no BOM.
pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(JSON_CONTENT_TYPE),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("response serialization failed: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE))],
                r#"{"code":800003,"description":"Unexpected service error.","data":[],"source":"PartnerFD"}"#,
            )
                .into_response()
        }
    }
}

/// The `Location` of a job: relative and without `/v1`, exactly as Partner Center writes it
/// (PowerShell reads the tracking id as `Split('/')[4]`).
pub fn job_location(customer: CustomerId, tracking: TrackingId) -> String {
    format!("/customers/{customer}/batchJobStatus/{tracking}")
}

/// `202 Accepted`, empty body (`Content-Length: 0`), `Location` of the new job.
pub fn accepted(customer: CustomerId, tracking: TrackingId) -> Response {
    let location = job_location(customer, tracking);
    match HeaderValue::try_from(location) {
        Ok(location) => (StatusCode::ACCEPTED, [(header::LOCATION, location)]).into_response(),
        // A GUID-only location is always a valid header value.
        Err(_) => super::error::ApiError::internal().into_response(),
    }
}
