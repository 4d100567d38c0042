//! Wire shapes shared by every resource: 202 answers, collections, links
//! and the `attributes` object every resource carries.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

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

const GUID: usize = uuid::fmt::Hyphenated::LENGTH;
const CUSTOMERS: &[u8] = b"/customers/";
const STATUS: &[u8] = b"/batchJobStatus/";

/// The `Location` of a job, `/customers/{customer}/batchJobStatus/{tracking}`: relative and
/// without `/v1`, exactly as Partner Center writes it (PowerShell reads the tracking id as
/// `Split('/')[4]`). Written into one buffer without `fmt`: every upload answers one, and
/// `format!` with the ids' `Display` cost ~1,000 instructions.
fn job_location(customer: CustomerId, tracking: TrackingId) -> HeaderValue {
    let mut text = [0u8; CUSTOMERS.len() + GUID + STATUS.len() + GUID];
    let (head, rest) = text.split_at_mut(CUSTOMERS.len());
    head.copy_from_slice(CUSTOMERS);
    let (id, rest) = rest.split_at_mut(GUID);
    customer.as_uuid().hyphenated().encode_lower(id);
    let (middle, id) = rest.split_at_mut(STATUS.len());
    middle.copy_from_slice(STATUS);
    tracking.as_uuid().hyphenated().encode_lower(id);
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("/"))
}

/// `202 Accepted`, empty body (`Content-Length: 0`), `Location` of the new job.
pub fn accepted(customer: CustomerId, tracking: TrackingId) -> Response {
    let location = job_location(customer, tracking);
    (StatusCode::ACCEPTED, [(header::LOCATION, location)]).into_response()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_location_is_the_ids_hyphenated_in_lower_case() {
        let customer = CustomerId::from(uuid::Uuid::from_u128(0xABC));
        let tracking = TrackingId::new();
        assert_eq!(
            job_location(customer, tracking).to_str().ok(),
            Some(format!("/customers/{customer}/batchJobStatus/{tracking}").as_str())
        );
    }
}
