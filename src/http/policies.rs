//! Configuration (Autopilot) policies: create, list, read, update, delete.
//! <https://learn.microsoft.com/partner-center/developer/create-a-new-configuration-policy-for-the-specified-customer>
//! <https://learn.microsoft.com/partner-center/developer/get-a-list-of-a-customer-s-policies>

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::decode;
use super::error::Result;
use super::extract::{Customer, CustomerPath, CustomerSegment, JsonBody};
use super::partner::Tenant;
use super::respond::json_response;
use super::wire::{Attributes, Collection, no_content};
use crate::store::PolicyView;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/customers/{customer_id}/policies",
            get(list_policies).post(create_policy),
        )
        .route(
            "/v1/customers/{customer_id}/policies/{policy_id}",
            get(get_policy).put(update_policy).delete(delete_policy),
        )
}

#[derive(Debug, Deserialize)]
pub(crate) struct PolicyPath {
    customer_id: String,
    policy_id: String,
}

impl CustomerSegment for PolicyPath {
    fn customer_id(&self) -> &str {
        &self.customer_id
    }
}

/// `ConfigurationPolicy` on the wire.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyJson {
    id: String,
    name: String,
    category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    // The SDKs and the resource table say `devicesAssignedCount`; doc examples say
    // `devicesAssigned`. The emulator writes what the SDKs read.
    devices_assigned_count: usize,
    policy_settings: Vec<&'static str>,
    created_date: String,
    last_modified_date: String,
    attributes: Attributes,
}

impl From<PolicyView> for PolicyJson {
    fn from(v: PolicyView) -> Self {
        let p = v.policy;
        Self {
            id: p.id.to_string(),
            name: p.fields.name,
            category: p.category.as_str(),
            description: p.fields.description,
            devices_assigned_count: v.devices_assigned,
            policy_settings: p.fields.settings.iter().map(|s| s.as_str()).collect(),
            created_date: p.created_at.to_string(),
            last_modified_date: p.modified_at.to_string(),
            attributes: Attributes::of("ConfigurationPolicy"),
        }
    }
}

/// `GET /v1/customers/{customer_id}/policies`: the customer's policies in creation order.
///
/// 200 `ResourceCollection<ConfigurationPolicy>`; 400 (bad customer id), 401.
async fn list_policies(tenant: Tenant, Customer(customer): Customer) -> Result<Response> {
    let items = tenant
        .store()
        .list_policies(customer, tenant.state.clock.now());
    let items = items.into_iter().map(PolicyJson::from).collect();
    Ok(json_response(StatusCode::OK, &Collection::of(items)))
}

/// `POST /v1/customers/{customer_id}/policies`: create a policy.
///
/// **200** (not 201) with the created `ConfigurationPolicy`; 400 (bad body, unknown category or
/// setting), 401, 413, 415.
async fn create_policy(
    tenant: Tenant,
    Customer(customer): Customer,
    JsonBody(json): JsonBody,
) -> Result<Response> {
    let (category, fields) = decode::configuration_policy(&json, true)?;
    let created =
        tenant
            .store()
            .create_policy(customer, category, fields, tenant.state.clock.now());
    Ok(json_response(StatusCode::OK, &PolicyJson::from(created)))
}

/// `GET /v1/customers/{customer_id}/policies/{policy_id}`: one policy.
///
/// 200; 400 (bad customer id), 401, 404 (unknown policy).
async fn get_policy(
    tenant: Tenant,
    CustomerPath { customer, path }: CustomerPath<PolicyPath>,
) -> Result<Response> {
    let policy = tenant
        .store()
        .get_policy(customer, &path.policy_id, tenant.state.clock.now())?;
    Ok(json_response(StatusCode::OK, &PolicyJson::from(policy)))
}

/// `PUT /v1/customers/{customer_id}/policies/{policy_id}`: update `name`, `description` and
/// `policySettings`; `id`, `category` and the counts in the body are ignored.
///
/// 200 with the updated policy; 400, 401, 404 (unknown policy), 413, 415.
async fn update_policy(
    tenant: Tenant,
    CustomerPath { customer, path }: CustomerPath<PolicyPath>,
    JsonBody(json): JsonBody,
) -> Result<Response> {
    let (_, fields) = decode::configuration_policy(&json, false)?;
    let updated = tenant.store().update_policy(
        customer,
        &path.policy_id,
        fields,
        tenant.state.clock.now(),
    )?;
    Ok(json_response(StatusCode::OK, &PolicyJson::from(updated)))
}

/// `DELETE /v1/customers/{customer_id}/policies/{policy_id}`: delete a policy; devices that had
/// it lose the assignment.
///
/// 204; 400 (bad customer id), 401, 404 (unknown policy).
async fn delete_policy(
    tenant: Tenant,
    CustomerPath { customer, path }: CustomerPath<PolicyPath>,
) -> Result<Response> {
    tenant
        .store()
        .delete_policy(customer, &path.policy_id, tenant.state.clock.now())?;
    Ok(no_content())
}
