//! `--rate-limit`: a Partner Center request beyond its partner's or partner+customer's budget
//! gets the gateway's 429 with an integer `Retry-After` a client can trust.

use axum::extract::Request;
use axum::response::Response;

use super::AppState;
use super::partner::Partner;

/// The 429 for a request over budget, after authentication and the customer check; `None` lets
/// it through and counts it. Without `--auth jwt` every request is the one default partner's.
pub fn check(state: &AppState, req: &Request) -> Option<Response> {
    let limit = state.config.rate_limit?;
    let wait = state.store.throttle(
        limit,
        Partner::of(req.extensions()),
        super::customers::of_path(req),
        state.clock.now(),
    )?;
    Some(super::intercept::throttled(wait))
}
