//! The control plane under `/_emulator/*`: emulator-only routes, no auth, never mixed with the
//! Partner Center routes. Errors answer in the same envelope.

mod clock;
mod faults;
mod requests;
mod state;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use serde::Serialize;

use super::AppState;
use super::wire::json_response;

pub use faults::parse_rules;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/_emulator/health", get(health))
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
        .route("/_emulator/state", get(state::export_state))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

/// `GET /_emulator/health`: 200 `{"status":"ok","version":"<crate version>"}` once serving.
async fn health() -> Response {
    json_response(
        StatusCode::OK,
        &Health {
            status: "ok",
            version: env!("CARGO_PKG_VERSION"),
        },
    )
}

/// Reads a control-plane JSON body with serde, naming the failing field on error.
fn from_json<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, super::error::ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let message = e.inner().to_string();
        let mut path = e.path().to_string();
        // serde names an unknown key as its own path; the message names it already, so point at
        // the object that holds it.
        if message.starts_with("unknown field") {
            path = path
                .rsplit_once('.')
                .map_or_else(String::new, |(parent, _)| parent.to_owned());
        }
        let field = if path == "." { "" } else { path.as_str() };
        super::error::ApiError::invalid_input(field, &format!("{message}."))
    })
}
