//! The status of an asynchronous job (uploads and policy updates), derived from the clock on read.
//! <https://learn.microsoft.com/partner-center/developer/get-the-status-of-a-device-batch-upload>

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{ApiError, Result};
use super::extract::{CustomerPath, CustomerSegment};
use super::partner::Tenant;
use super::respond::{json_bytes, json_response};
use super::wire::Attributes;
use crate::domain::ids::CustomerId;
use crate::domain::job::{Job, Outcome};
use crate::domain::timestamp::Timestamp;

/// The route of a job's status, whose `GET` the hand dispatcher answers under this name (the
/// router's `.route` keeps its literal, which the contract test reads; a test holds the two
/// equal).
pub(super) const STATUS: &str = "/v1/customers/{customer_id}/batchJobStatus/{tracking_id}";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(
        "/v1/customers/{customer_id}/batchJobStatus/{tracking_id}",
        get(get_batch_upload_status),
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct JobPath {
    customer_id: String,
    tracking_id: String,
}

impl CustomerSegment for JobPath {
    fn customer_id(&self) -> &str {
        &self.customer_id
    }
}

/// `BatchUploadDetails` on the wire.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchUploadDetails<'a> {
    batch_tracking_id: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_time: Option<String>,
    devices_status: Vec<DeviceUploadDetails<'a>>,
    attributes: Attributes,
}

/// `DeviceUploadDetails` on the wire.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceUploadDetails<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    device_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_key: Option<&'a str>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'static str>,
    attributes: Attributes,
}

impl<'a> BatchUploadDetails<'a> {
    /// `in_progress`: `--device-status-while-running`, devices of a running job are `in-progress`.
    fn of(job: &'a Job, now: Timestamp, in_progress: bool) -> Self {
        let terminal = job.status_at(now).is_terminal();
        let devices_status = job
            .entries
            .iter()
            .map(|entry| {
                // Policy updates echo the device id they were given; uploads reveal the new id
                // once the job is terminal.
                let echoed = entry.device_ref.as_deref().map(str::to_owned);
                let (device_id, error) = match (terminal, entry.outcome) {
                    (false, _) => (echoed, None),
                    (true, Outcome::Succeeded(id)) => {
                        (echoed.or_else(|| Some(id.to_string())), None)
                    }
                    (true, Outcome::Failed(e)) => (echoed, Some(e)),
                };
                DeviceUploadDetails {
                    device_id,
                    serial_number: entry.text.serial_number(),
                    product_key: entry.text.product_key(),
                    // The docs' device statuses are `in-progress`, `finished` and
                    // `finished_with_errors`; by default devices follow the job's status.
                    status: if in_progress && !terminal {
                        "in-progress"
                    } else {
                        job.entry_status_at(entry, now).as_str()
                    },
                    error_code: error.map(|e| e.code()),
                    error_description: error.map(|e| e.description()),
                    attributes: Attributes::of("DeviceUploadDetails"),
                }
            })
            .collect();
        Self {
            batch_tracking_id: job.id.to_string(),
            status: job.status_at(now).as_str(),
            started_time: job.started_time(now).map(|t| t.to_string()),
            completed_time: job.completed_time(now).map(|t| t.to_string()),
            devices_status,
            attributes: Attributes::of("BatchUploadDetails"),
        }
    }
}

/// `GET /v1/customers/{customer_id}/batchJobStatus/{tracking_id}`: a job's `BatchUploadDetails`.
///
/// 200; 400 (bad customer id), 401, 404 (unknown tracking id, or another customer's).
async fn get_batch_upload_status(
    tenant: Tenant,
    CustomerPath { customer, path }: CustomerPath<JobPath>,
) -> Result<Response> {
    status(&tenant, customer, &path.tracking_id)
}

/// [`get_batch_upload_status`] once its path is read; the hand dispatcher's entry.
pub(super) fn status(tenant: &Tenant, customer: CustomerId, tracking_id: &str) -> Result<Response> {
    let job = tenant.store().job(customer, tracking_id)?;
    if let Some(bytes) = tenant.state.rendered_jobs.get(&job) {
        return Ok(json_bytes(StatusCode::OK, bytes));
    }
    let now = tenant.state.clock.now();
    let in_progress = tenant.state.config.device_status_while_running;
    let details = BatchUploadDetails::of(&job, now, in_progress);
    if !job.status_at(now).is_terminal() {
        return Ok(json_response(StatusCode::OK, &details));
    }
    let bytes = Bytes::from(serde_json::to_vec(&details).map_err(|_| ApiError::internal())?);
    tenant.state.rendered_jobs.put(&job, bytes.clone());
    Ok(json_bytes(StatusCode::OK, bytes))
}
