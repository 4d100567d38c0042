//! `/_emulator/reset`, `/_emulator/seed` and `/_emulator/state`: clear, load and export state.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::app::AppState;
use crate::domain::ids::{CustomerId, TenantId};
use crate::http::error::{ApiError, Result};
use crate::http::extract::JsonBody;
use crate::http::respond::json_response;
use crate::http::wire::no_content;
use crate::store::Document;

/// `POST /_emulator/reset[?customer=<guid>][&partnerTenant=<guid>]`: clears everything
/// (batches, devices, policies, jobs, idempotency records, journal, faults, every partner
/// tenant's data); or one customer's data, in the default data and every partner's; or, with
/// `partnerTenant`, only within that partner tenant's data (all of it without `customer`).
/// 204; 400.
pub async fn reset(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    if let Some(other) = query
        .keys()
        .find(|k| !matches!(k.as_str(), "customer" | "partnerTenant"))
    {
        return Err(ApiError::invalid_input(
            other,
            "is not a reset option; use customer=<guid> and/or partnerTenant=<guid>.",
        ));
    }
    let customer = query
        .get("customer")
        .map(|raw| {
            CustomerId::parse(raw).ok_or_else(|| {
                ApiError::invalid_input("customer", &format!("must be a GUID, got `{raw}`."))
            })
        })
        .transpose()?;
    let partner = query
        .get("partnerTenant")
        .map(|raw| {
            TenantId::parse(raw).ok_or_else(|| {
                ApiError::invalid_input("partnerTenant", &format!("must be a GUID, got `{raw}`."))
            })
        })
        .transpose()?;
    match (customer, partner) {
        (None, None) => state.store.reset(),
        (Some(customer), None) => state.store.reset_customer(customer),
        (None, Some(partner)) => state.store.reset_partner(partner),
        (Some(customer), Some(partner)) => state.store.reset_partner_customer(partner, customer),
    }
    Ok(no_content())
}

/// A seed document's JSON as a [`Document`] (shape and types; the entries are checked when it is
/// imported).
pub(crate) fn decode_seed(json: serde_json::Value) -> Result<Document> {
    Ok(crate::store::document::from_json(json)?)
}

/// `POST /_emulator/seed`: loads a seed document atomically. 200 with what was added; 400 naming
/// the offending entry, with nothing applied.
pub async fn seed(State(state): State<AppState>, JsonBody(json): JsonBody) -> Result<Response> {
    let doc = decode_seed(json)?;
    let summary = state.store.import(&doc, state.clock.now())?;
    Ok(json_response(StatusCode::OK, &summary))
}
