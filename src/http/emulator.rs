//! The control plane under `/_emulator/*`: emulator-only routes, no auth, never mixed with the
//! Partner Center routes.

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;

use super::AppState;
use super::wire::json_response;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/_emulator/health", get(health))
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
