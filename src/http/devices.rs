//! Devices: list a batch's devices page by page, upload more, update or delete one, and assign
//! profiles to many with a policy-update job.
//! <https://learn.microsoft.com/partner-center/developer/get-a-list-of-devices-for-the-specified-batch-and-customer>
//! <https://learn.microsoft.com/partner-center/developer/upload-a-list-of-devices-for-the-specified-customer>
//! <https://learn.microsoft.com/partner-center/developer/update-a-list-of-devices-with-a-policy>
//! <https://learn.microsoft.com/partner-center/developer/delete-a-device-for-the-specified-customer>

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, patch, put};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::decode;
use super::error::{ApiError, Result};
use super::extract::{Customer, CustomerPath, CustomerSegment, JsonBody, JsonBytes};
use super::headers::MS_CONTINUATION_TOKEN;
use super::paging;
use super::partner::Tenant;
use super::respond::json_response;
use super::wire::{Attributes, Collection, KeyValue, Link, Links, accepted, no_content};
use crate::domain::Error;
use crate::domain::ids::CustomerId;
use crate::store::DeviceView;

/// Devices per page of `GET …/devices`, as documented.
pub const PAGE_SIZE: usize = 100;

/// The route of a batch's devices, whose `POST` the hand dispatcher answers under this name (the
/// router's `.route` keeps its literal, which the contract test reads; a test holds the two
/// equal).
pub(super) const DEVICES: &str = "/v1/customers/{customer_id}/deviceBatches/{batch_id}/devices";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/customers/{customer_id}/deviceBatches/{batch_id}/devices",
            get(list_devices).post(add_devices_to_batch),
        )
        .route(
            "/v1/customers/{customer_id}/deviceBatches/{batch_id}/devices/{device_id}",
            put(update_device).delete(delete_device),
        )
        .route(
            "/v1/customers/{customer_id}/DevicePolicyUpdates",
            patch(update_devices_with_policies),
        )
}

#[derive(Debug, Deserialize)]
pub(crate) struct BatchPath {
    customer_id: String,
    batch_id: String,
}

impl CustomerSegment for BatchPath {
    fn customer_id(&self) -> &str {
        &self.customer_id
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct DevicePath {
    customer_id: String,
    batch_id: String,
    device_id: String,
}

impl CustomerSegment for DevicePath {
    fn customer_id(&self) -> &str {
        &self.customer_id
    }
}

/// `Device` on the wire: never the hardware hash, which the service does not return.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceJson {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oem_manufacturer_name: Option<String>,
    policies: [KeyValue; 1],
    uploaded_date: String,
    attributes: Attributes,
}

impl From<DeviceView> for DeviceJson {
    fn from(d: DeviceView) -> Self {
        Self {
            id: d.id.to_string(),
            serial_number: d.serial_number,
            product_key: d.product_key,
            model_name: d.model_name,
            oem_manufacturer_name: d.oem_manufacturer_name,
            policies: [KeyValue {
                key: "o_o_b_e",
                value: d.policy_name,
            }],
            uploaded_date: d.uploaded_at.to_string(),
            attributes: Attributes::of("Device"),
        }
    }
}

/// `GET /v1/customers/{customer_id}/deviceBatches/{batch_id}/devices`: one page of 100 devices in
/// upload order; the next page is asked for with the `MS-ContinuationToken` header.
///
/// 200 `ResourceCollection<Device>` with `continuationToken` and `links.next` while more remain,
/// else `"links": {}`; 400 (bad customer id, bad or stale token), 401, 404 (unknown batch).
async fn list_devices(
    tenant: Tenant,
    CustomerPath { customer, path }: CustomerPath<BatchPath>,
    headers: HeaderMap,
) -> Result<Response> {
    let raw_token = headers.get(MS_CONTINUATION_TOKEN).map(|v| v.as_bytes());
    let cursor = paging::cursor_from_header(raw_token, customer, &path.batch_id)?;
    let page = tenant.store().list_devices(
        customer,
        &path.batch_id,
        cursor,
        PAGE_SIZE,
        tenant.state.clock.now(),
    )?;
    let mut collection = Collection::of(page.devices.into_iter().map(DeviceJson::from).collect());
    let mut links = Links::default();
    if let Some(next) = page.next {
        let token = paging::encode(customer, &path.batch_id, next);
        links.next = Some(Link {
            uri: super::links::batch_devices(customer, &path.batch_id),
            method: "GET",
            headers: vec![KeyValue {
                key: "MS-ContinuationToken",
                value: Some(token.clone()),
            }],
        });
        collection.continuation_token = Some(token);
    }
    collection.links = Some(links);
    Ok(json_response(StatusCode::OK, &collection))
}

/// `POST /v1/customers/{customer_id}/deviceBatches/{batch_id}/devices`: upload devices into an
/// existing batch (body: a JSON array of `Device`).
///
/// 202 + `Location` of the upload job; 400, 401, 404 (unknown batch), 413, 415.
async fn add_devices_to_batch(
    tenant: Tenant,
    CustomerPath { customer, path }: CustomerPath<BatchPath>,
    JsonBytes(bytes): JsonBytes,
) -> Result<Response> {
    upload(&tenant, customer, &path.batch_id, &bytes)
}

/// [`add_devices_to_batch`] once its path and body are read; the hand dispatcher's entry.
pub(super) fn upload(
    tenant: &Tenant,
    customer: CustomerId,
    batch_id: &str,
    bytes: &[u8],
) -> Result<Response> {
    let devices = decode::devices_to_add_bytes(bytes)?;
    let tracking =
        tenant
            .store()
            .add_devices(customer, batch_id, devices, tenant.state.clock.now())?;
    Ok(accepted(customer, tracking))
}

/// `PUT /v1/customers/{customer_id}/deviceBatches/{batch_id}/devices/{device_id}`: change a
/// device's profile (`policies`, the only field a partner can change; the rest is ignored).
///
/// 200 with the updated `Device`; 400 (bad body, unknown policy), 401, 404 (unknown batch or
/// device), 413, 415.
async fn update_device(
    tenant: Tenant,
    CustomerPath { customer, path }: CustomerPath<DevicePath>,
    JsonBody(json): JsonBody,
) -> Result<Response> {
    let policy = decode::device_update(&json)?;
    let now = tenant.state.clock.now();
    let device = tenant
        .store()
        .update_device(customer, &path.batch_id, &path.device_id, policy, now)
        .map_err(|e| match e {
            Error::PolicyNotFound(id) => ApiError::invalid_input(
                "policies[0].value",
                &format!("names policy `{id}`, which this customer does not have."),
            ),
            other => other.into(),
        })?;
    Ok(json_response(StatusCode::OK, &DeviceJson::from(device)))
}

/// `DELETE /v1/customers/{customer_id}/deviceBatches/{batch_id}/devices/{device_id}`: unregister
/// a device (it can then be uploaded again).
///
/// 204; 400 (bad customer id), 401, 404 (unknown batch or device).
async fn delete_device(
    tenant: Tenant,
    CustomerPath { customer, path }: CustomerPath<DevicePath>,
) -> Result<Response> {
    tenant.store().delete_device(
        customer,
        &path.batch_id,
        &path.device_id,
        tenant.state.clock.now(),
    )?;
    Ok(no_content())
}

/// `PATCH /v1/customers/{customer_id}/DevicePolicyUpdates`: assign (or remove) profiles on many
/// devices with an asynchronous job.
///
/// 202 + `Location` of the job; per-device failures (unknown device or policy) are reported by
/// the job. 400, 401, 413, 415.
async fn update_devices_with_policies(
    tenant: Tenant,
    Customer(customer): Customer,
    JsonBody(json): JsonBody,
) -> Result<Response> {
    let updates = decode::device_policy_update_request(&json)?;
    let tracking =
        tenant
            .store()
            .update_device_policies(customer, updates, tenant.state.clock.now());
    Ok(accepted(customer, tracking))
}
