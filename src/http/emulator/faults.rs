//! `/_emulator/faults`: add, list and remove fault rules (read by [`crate::fault_rules`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::fault_rules::{RuleJson, json_of, rule_from_json};
use crate::http::error::{ApiError, Result};
use crate::http::extract::JsonBody;
use crate::http::extract::Path;
use crate::http::respond::json_response;
use crate::http::wire::no_content;

/// `POST /_emulator/faults`: adds a rule. 201 with the stored rule (`id`, `fired`); 400.
pub async fn add_fault(
    State(state): State<AppState>,
    JsonBody(json): JsonBody,
) -> Result<Response> {
    let rule = rule_from_json(json, "")?;
    Ok(json_response(
        StatusCode::CREATED,
        &json_of(state.store.add_fault(rule)),
    ))
}

#[derive(Serialize)]
struct FaultList {
    faults: Vec<RuleJson>,
}

/// `GET /_emulator/faults`: `{"faults": [...]}` in the order they are tried, with `fired` counts.
pub async fn list_faults(State(state): State<AppState>) -> Response {
    let faults = state.store.faults().into_iter().map(json_of).collect();
    json_response(StatusCode::OK, &FaultList { faults })
}

/// `DELETE /_emulator/faults`: removes every rule. 204.
pub async fn clear_faults(State(state): State<AppState>) -> Response {
    state.store.clear_faults();
    no_content()
}

/// `DELETE /_emulator/faults/{id}`: removes one rule. 204; 404 when there is no such rule.
pub async fn delete_fault(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response> {
    let known = Uuid::parse_str(id.trim()).is_ok_and(|uuid| state.store.remove_fault(uuid));
    if known {
        Ok(no_content())
    } else {
        Err(ApiError::not_found(format!(
            "Not found: fault rule `{id}` does not exist."
        )))
    }
}
