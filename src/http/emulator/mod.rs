//! The control plane under `/_emulator/*`: emulator-only routes, no auth, never mixed with the
//! Partner Center routes. Errors answer in the same envelope.

mod clock;
pub(crate) mod dashboard;
pub(crate) mod export;
mod faults;
mod requests;
pub(crate) mod state;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Serialize;

use super::AppState;
use super::openapi;
use super::respond::{json_bytes, json_response};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/_emulator/health", get(health))
        .route("/_emulator/ca.pem", get(ca_pem))
        .route("/_emulator/openapi.yaml", get(openapi_yaml))
        .route("/_emulator/openapi.json", get(openapi_json))
        .route(
            "/_emulator/clock",
            get(clock::get_clock).post(clock::set_clock),
        )
        .route("/_emulator/clock/advance", post(clock::advance_clock))
        .route("/_emulator/reset", post(state::reset))
        .route(
            "/_emulator/faults",
            get(faults::list_faults)
                .post(faults::add_fault)
                .delete(faults::clear_faults),
        )
        .route("/_emulator/faults/{id}", delete(faults::delete_fault))
        .route(
            "/_emulator/requests",
            get(requests::list_requests).delete(requests::clear_requests),
        )
        .route("/_emulator/seed", post(state::seed))
        .route("/_emulator/state", get(export::export_state))
        .route("/_emulator/ui", get(dashboard::page))
        .route("/_emulator/summary", get(dashboard::summary))
        .route("/_emulator/jobs", get(dashboard::list_jobs))
        .route("/_emulator/jobs/{id}", get(dashboard::job_detail))
        .route("/_emulator/devices", get(dashboard::list_devices))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

/// `GET /_emulator/health`: 200 `{"status":"ok","version":"<crate version>"}` once serving;
/// 503 in the envelope, with the reason, while `--state-file` cannot be written (so a container
/// is marked unhealthy instead of acknowledging writes it will lose).
async fn health(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    if let Some(reason) = state.persistence.failure() {
        return super::error::ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            super::error::code::UNEXPECTED,
            format!("Persistence failing: {reason}. Writes are not being saved."),
        )
        .into_response();
    }
    json_response(
        StatusCode::OK,
        &Health {
            status: "ok",
            version: env!("CARGO_PKG_VERSION"),
        },
    )
}

/// `GET /_emulator/ca.pem`: the local CA certificate to trust for the HTTPS listener (never a
/// key); 404 when the emulator has no CA of its own.
async fn ca_pem(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    match state.ca_pem.get() {
        Some(pem) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            )],
            pem.clone(),
        )
            .into_response(),
        None => super::error::ApiError::not_found(
            "No local CA: the emulator makes one only for its HTTPS listener (start it with --tls-bind), and not when it serves your --tls-cert.",
        )
        .into_response(),
    }
}

/// `GET /_emulator/openapi.yaml`: the OpenAPI document as maintained.
async fn openapi_yaml() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/yaml"),
        )],
        openapi::YAML,
    )
        .into_response()
}

/// `GET /_emulator/openapi.json`: the same document, converted to JSON at build time.
async fn openapi_json() -> Response {
    json_bytes(StatusCode::OK, openapi::JSON)
}

/// Reads a control-plane JSON body with serde, naming the failing field on error.
fn from_json<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, super::error::ApiError> {
    crate::json::from_value(value, "the body").map_err(Into::into)
}
