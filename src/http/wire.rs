//! Wire shapes shared by every resource: 202 answers, collections, links
//! and the `attributes` object every resource carries.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;
use crate::domain::ids::{CustomerId, TrackingId};

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
        Err(_) => ApiError::internal().into_response(),
    }
}

/// `ResourceCollection<T>`: `totalCount` is the number of items in this answer, as in every
/// documented example (paged ones included).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Collection<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    pub total_count: usize,
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
    pub attributes: Attributes,
}

impl<T> Collection<T> {
    pub fn of(items: Vec<T>) -> Self {
        Self {
            continuation_token: None,
            total_count: items.len(),
            items,
            links: None,
            attributes: Attributes::of("Collection"),
        }
    }
}

/// `{"key": ..., "value": ...}`; a `None` value is written as `null`, never omitted.
#[derive(Debug, Clone, Serialize)]
pub struct KeyValue {
    pub key: &'static str,
    pub value: Option<String>,
}

/// A `Link`: `{"uri", "method", "headers"}`, with relative URIs without `/v1`.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub uri: String,
    pub method: &'static str,
    pub headers: Vec<KeyValue>,
}

/// `ResourceLinks`; only `next` is ever emitted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Links {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<Link>,
}

/// `204 No Content`, empty body.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}
