//! Device batches: list a customer's batches, and create one with its first devices.
//! <https://learn.microsoft.com/partner-center/developer/get-the-list-of-device-batches-for-the-specified-customer>
//! <https://learn.microsoft.com/partner-center/developer/upload-a-list-of-devices-to-create-a-new-batch-for-the-specified-customer>

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;

use super::AppState;
use super::decode;
use super::error::Result;
use super::extract::{Customer, JsonBytes};
use super::partner::Tenant;
use super::respond::json_response;
use super::wire::{Attributes, Collection, Link, accepted};
use crate::domain::ids::CustomerId;
use crate::store::BatchView;

// EMULATOR: the real service names the partner tenant that created the batch; the emulator has
// no tenant directory, so every batch is created by this name.
pub const CREATED_BY: &str = "Partner Center Emulator";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(
        "/v1/customers/{customer_id}/deviceBatches",
        get(list_device_batches).post(create_device_batch),
    )
}

/// `DeviceBatch` on the wire.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceBatchJson {
    id: String,
    /// Not in the resource table or any SDK model, but in the docs' list example
    /// (`"finished"`): derived from the batch's upload jobs when read.
    status: &'static str,
    created_by: &'static str,
    creation_date: String,
    devices_count: usize,
    devices_link: Link,
    attributes: Attributes,
}

impl DeviceBatchJson {
    fn of(customer: CustomerId, batch: BatchView) -> Self {
        Self {
            // EMULATOR: the documented example writes a batch id's spaces as is; the id is
            // percent-encoded here so that ids with `/ ? # %` lead back to their batch.
            devices_link: Link {
                uri: super::links::batch_devices(customer, batch.id.as_str()),
                method: "GET",
                headers: Vec::new(),
            },
            id: batch.id.to_string(),
            status: batch.status.as_str(),
            created_by: CREATED_BY,
            creation_date: batch.created_at.to_string(),
            devices_count: batch.devices_count,
            attributes: Attributes::of("DeviceBatch"),
        }
    }
}

/// `GET /v1/customers/{customer_id}/deviceBatches`: the customer's batches in creation order.
///
/// 200 `ResourceCollection<DeviceBatch>`; 400 (bad customer id), 401.
async fn list_device_batches(tenant: Tenant, Customer(customer): Customer) -> Result<Response> {
    let batches = tenant
        .store()
        .list_batches(customer, tenant.state.clock.now());
    let items = batches
        .into_iter()
        .map(|b| DeviceBatchJson::of(customer, b))
        .collect();
    Ok(json_response(StatusCode::OK, &Collection::of(items)))
}

/// `POST /v1/customers/{customer_id}/deviceBatches`: create a batch and upload its devices.
///
/// 202 + `Location` of the upload job; 400 (bad customer id or body), 401, 409 (batch id taken),
/// 413, 415.
async fn create_device_batch(
    tenant: Tenant,
    Customer(customer): Customer,
    JsonBytes(bytes): JsonBytes,
) -> Result<Response> {
    let (batch, devices) = decode::device_batch_creation_request_bytes(&bytes)?;
    let tracking =
        tenant
            .store()
            .create_batch(customer, batch, devices, tenant.state.clock.now())?;
    Ok(accepted(customer, tracking))
}
