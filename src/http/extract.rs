//! Extractors whose rejections answer in the Partner Center envelope (axum's
//! `customize-extractor-error` example): the path, the customer it names, and a JSON body read
//! with the emulator's content-type and size rules. Handlers take these and read as what they do.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::body::{parse_json, read_json_bytes};
use super::error::ApiError;
use crate::app::AppState;
use crate::domain::ids::CustomerId;

/// `axum::extract::Path` with a Partner Center error body on rejection.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// A path struct with a `{customer_id}` segment.
pub trait CustomerSegment {
    fn customer_id(&self) -> &str;
}

/// A path under `/v1/customers/{customer_id}/…`: the customer parsed (a GUID, else 400 with
/// code 900118, before the body is read) and the path's other segments in `path`.
#[derive(Debug)]
pub struct CustomerPath<T> {
    pub customer: CustomerId,
    pub path: T,
}

impl<S, T> FromRequestParts<S> for CustomerPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + CustomerSegment + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(path) = Path::<T>::from_request_parts(parts, state).await?;
        let raw = path.customer_id();
        let customer = CustomerId::parse(raw).ok_or_else(|| ApiError::invalid_customer(raw))?;
        Ok(Self { customer, path })
    }
}

/// The path of a route with no segment but the customer's.
#[derive(Debug, serde::Deserialize)]
pub struct OnlyCustomer {
    customer_id: String,
}

impl CustomerSegment for OnlyCustomer {
    fn customer_id(&self) -> &str {
        &self.customer_id
    }
}

/// The customer of a route with no other path segment.
#[derive(Debug)]
pub struct Customer(pub CustomerId);

impl<S: Send + Sync> FromRequestParts<S> for Customer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let CustomerPath { customer, .. } =
            CustomerPath::<OnlyCustomer>::from_request_parts(parts, state).await?;
        Ok(Self(customer))
    }
}

/// A JSON body's bytes, for decoders that parse them themselves: `application/json` or
/// `text/json` (else 415), at most `--max-body` (else 413).
#[derive(Debug)]
pub struct JsonBytes(pub Bytes);

impl FromRequest<AppState> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        read_json_bytes(&parts.headers, body, state.config.max_body)
            .await
            .map(Self)
    }
}

/// A JSON body, parsed (see [`JsonBytes`]; 400 naming the position when it is not JSON).
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        parse_json(&bytes).map(Self)
    }
}
