//! `/_emulator/requests`: the journal of Partner Center requests.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::app::AppState;
use crate::domain::fault::Glob;
use crate::domain::ids::{CustomerId, TenantId};
use crate::http::error::{ApiError, Result};
use crate::http::respond::json_response;
use crate::http::wire::no_content;
use crate::store::{JournalEntry, JournalFilter};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryJson {
    time: String,
    method: String,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partner_tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fault_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    body_truncated: bool,
}

impl From<JournalEntry> for EntryJson {
    fn from(e: JournalEntry) -> Self {
        let body = e.body_text();
        Self {
            time: e.time.rfc3339(),
            method: e.method.into_owned(),
            path: e.path,
            customer: e.customer.map(|c| c.to_string()),
            partner_tenant: e.partner.map(|p| p.to_string()),
            status: e.status,
            request_id: e.request_id,
            correlation_id: e.correlation_id,
            fault_id: e.fault.map(|f| f.to_string()),
            body,
            body_truncated: e.body_truncated,
        }
    }
}

#[derive(Serialize)]
struct RequestList {
    requests: Vec<EntryJson>,
}

/// `GET /_emulator/requests?customer=&partnerTenant=&method=&path=&limit=&bodies=`:
/// `{"requests": [...]}`, newest last; `bodies=false` leaves the bodies out (the dashboard lists
/// entries every time the journal moves, and reads bodies only when asked).
pub async fn list_requests(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let mut filter = JournalFilter::default();
    let mut bodies = true;
    for (key, value) in query {
        match key.as_str() {
            "customer" => {
                filter.customer = Some(CustomerId::parse(&value).ok_or_else(|| {
                    ApiError::invalid_input("customer", &format!("must be a GUID, got `{value}`."))
                })?);
            }
            "partnerTenant" => {
                filter.partner = Some(TenantId::parse(&value).ok_or_else(|| {
                    ApiError::invalid_input(
                        "partnerTenant",
                        &format!("must be a GUID, got `{value}`."),
                    )
                })?);
            }
            "method" => filter.method = Some(value),
            "path" => filter.path = Some(Glob::new(&value)),
            "limit" => {
                let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                if !digits {
                    return Err(ApiError::invalid_input(
                        "limit",
                        &format!("must be a whole number, got `{value}`."),
                    ));
                }
                // A limit larger than any journal keeps everything.
                filter.limit = Some(value.parse().unwrap_or(usize::MAX));
            }
            "bodies" => {
                bodies = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::invalid_input(
                            "bodies",
                            &format!("must be true or false, got `{value}`."),
                        ));
                    }
                }
            }
            other => {
                return Err(ApiError::invalid_input(
                    other,
                    "is not a filter; use customer, partnerTenant, method, path, limit or bodies.",
                ));
            }
        }
    }
    let requests = state
        .store
        .requests(&filter)
        .into_iter()
        .map(|mut e| {
            if !bodies {
                e.body = None;
            }
            EntryJson::from(e)
        })
        .collect();
    Ok(json_response(StatusCode::OK, &RequestList { requests }))
}

/// `DELETE /_emulator/requests`: empties the journal. 204.
pub async fn clear_requests(State(state): State<AppState>) -> Response {
    state.store.clear_requests();
    no_content()
}
