//! `--customers seeded`: a customer id that is a GUID but not a customer of the seed or the state
//! is 404 code 60003, and a seeded customer without a reseller relationship is 403 code 20002,
//! so a client's handling of a wrong customer id or a lost relationship can be tested.

use axum::extract::Request;

use super::AppState;
use super::error::ApiError;
use super::partner::{Partner, Tenant};
use crate::config::CustomersMode;
use crate::domain::ids::CustomerId;
use crate::store::CustomerAccess;

/// The `{customer_id}` of a Partner Center request, when it is a GUID. The path is normalised
/// before routing: `/v1/customers/{id}/...`.
pub fn of_path(req: &Request) -> Option<CustomerId> {
    CustomerId::parse(req.uri().path().split('/').nth(3)?)
}

/// Checks the `{customer_id}` of a Partner Center request, after authentication (a 401 comes
/// first) and before the handler. A customer id that is not a GUID is left to the handler's 400.
pub fn check(state: &AppState, req: &Request) -> Result<(), ApiError> {
    if state.config.customers == CustomersMode::Any {
        return Ok(());
    }
    let Some(customer) = of_path(req) else {
        return Ok(());
    };
    let partner = Partner::of(req.extensions());
    match Tenant::of(state, partner).store().customer_access(customer) {
        CustomerAccess::Known => Ok(()),
        CustomerAccess::Unknown => Err(ApiError::tenant_not_found(&customer.to_string())),
        CustomerAccess::NoRelationship => {
            let partner = partner.map_or_else(
                || crate::identity::directory::DEFAULT_TENANT.to_string(),
                |t| t.to_string(),
            );
            Err(ApiError::no_relationship(&partner, &customer.to_string()))
        }
    }
}
