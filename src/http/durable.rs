//! `--durability sync`: a write is answered only once the state file holds it. Writes that
//! arrive while a save runs share the next one (group commit); while the file cannot be
//! written, writes answer 503 in the envelope and change nothing.

use std::future::Future;

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, code};
use crate::app::AppState;

/// A step of [`super::per_request`] around everything after routing (`inner`), when `enabled`
/// (`--durability sync` with a state file).
pub async fn sync_writes<F, Fut>(
    state: &AppState,
    req: Request,
    enabled: bool,
    inner: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let write = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    // The mock Entra ID's grants live in memory only (see README), so its writes wait for
    // nothing.
    let path = req.uri().path();
    let waits = enabled && write && (path.starts_with("/v1/") || path.starts_with("/_emulator/"));
    if waits && let Some(reason) = state.persistence.failure() {
        return unavailable(&reason).into_response();
    }
    // One call site for `inner`, so this future holds one of its futures, not two.
    let response = inner(req).await;
    if !waits {
        return response;
    }
    // Reads through POST (token requests, refused writes) change nothing and wait for nothing
    // beyond the last save.
    let position = state.store.log().position();
    match state.persistence.saved_up_to(position).await {
        Ok(()) => response,
        Err(reason) => unavailable(&reason).into_response(),
    }
}

fn unavailable(reason: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        code::UNEXPECTED,
        format!(
            "Service unavailable: --durability sync cannot save this write ({reason}). It may or may not have been applied; retry with the same MS-RequestId once /_emulator/health answers 200."
        ),
    )
}
