//! The control plane under `/_emulator/*`: emulator-only routes, no auth, never mixed with the
//! Partner Center routes.

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::AppState;
use super::openapi;
use super::wire::{JSON_CONTENT_TYPE, json_response};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/_emulator/health", get(health))
        .route("/_emulator/openapi.yaml", get(openapi_yaml))
        .route("/_emulator/openapi.json", get(openapi_json))
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
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        )],
        openapi::JSON,
    )
        .into_response()
}
