//! Extractors whose rejections answer in the Partner Center envelope, and path parsing helpers.

use axum::extract::FromRequestParts;

use super::error::ApiError;
use crate::domain::ids::CustomerId;

/// `axum::extract::Path` with a Partner Center error body on rejection.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// The `{customer_id}` segment: a GUID, else 400 code 900118.
pub fn customer(raw: &str) -> Result<CustomerId, ApiError> {
    CustomerId::parse(raw).ok_or_else(|| ApiError::invalid_customer(raw))
}
