//! Device batches: create a batch with devices, and upload devices into an existing batch.
//! <https://learn.microsoft.com/partner-center/developer/upload-a-list-of-devices-to-create-a-new-batch-for-the-specified-customer>
//! <https://learn.microsoft.com/partner-center/developer/upload-a-list-of-devices-for-the-specified-customer>

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;

use super::AppState;
use super::body::read_json;
use super::decode;
use super::error::Result;
use super::extract::{Path, customer};
use super::wire::accepted;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/customers/{customer_id}/deviceBatches",
            post(create_device_batch),
        )
        .route(
            "/v1/customers/{customer_id}/deviceBatches/{batch_id}/devices",
            post(add_devices_to_batch),
        )
}

#[derive(Debug, Deserialize)]
pub(crate) struct CustomerPath {
    customer_id: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct BatchPath {
    customer_id: String,
    batch_id: String,
}

/// `POST /v1/customers/{customer_id}/deviceBatches`: create a batch and upload its devices.
///
/// 202 + `Location` of the upload job; 400 (bad customer id or body), 401, 409 (batch id taken),
/// 413, 415.
async fn create_device_batch(
    State(state): State<AppState>,
    Path(path): Path<CustomerPath>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let customer = customer(&path.customer_id)?;
    let json = read_json(&headers, body, state.config.max_body).await?;
    let (batch, devices) = decode::device_batch_creation_request(&json)?;
    let tracking = state
        .store
        .create_batch(customer, batch, devices, state.clock.now())?;
    Ok(accepted(customer, tracking))
}

/// `POST /v1/customers/{customer_id}/deviceBatches/{batch_id}/devices`: upload devices into an
/// existing batch (body: a JSON array of `Device`).
///
/// 202 + `Location` of the upload job; 400, 401, 404 (unknown batch), 413, 415.
async fn add_devices_to_batch(
    State(state): State<AppState>,
    Path(path): Path<BatchPath>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let customer = customer(&path.customer_id)?;
    let json = read_json(&headers, body, state.config.max_body).await?;
    let devices = decode::devices_to_add(&json)?;
    let tracking = state
        .store
        .add_devices(customer, &path.batch_id, devices, state.clock.now())?;
    Ok(accepted(customer, tracking))
}
