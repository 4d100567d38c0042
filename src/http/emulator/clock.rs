//! `/_emulator/clock`: read, advance or set the emulator clock.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::from_json;
use crate::app::AppState;
use crate::clock::{Clock, ClockError};
use crate::domain::timestamp::Timestamp;
use crate::http::error::{ApiError, Result, code};
use crate::http::extract::JsonBody;
use crate::http::respond::json_response;

#[derive(Serialize)]
struct ClockJson {
    now: String,
    mode: &'static str,
}

fn answer(clock: &Clock) -> Response {
    json_response(
        StatusCode::OK,
        &ClockJson {
            now: clock.now().rfc3339(),
            mode: if clock.is_manual() {
                "manual"
            } else {
                "system"
            },
        },
    )
}

/// `GET /_emulator/clock`: `{"now": "<RFC 3339>", "mode": "system"|"manual"}`.
pub async fn get_clock(State(state): State<AppState>) -> Response {
    answer(&state.clock)
}

/// The largest single advance: far beyond any job schedule, well within the calendar.
const MAX_ADVANCE: Duration = Duration::from_secs(1000 * 365 * 24 * 3600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: f64,
}

/// `POST /_emulator/clock/advance` `{"seconds": n}`: moves a manual clock forward.
///
/// 200 with the clock; 400 on a system clock or a negative, missing or non-finite amount; 409
/// when the amount would take the clock past the end of the calendar.
pub async fn advance_clock(
    State(state): State<AppState>,
    JsonBody(json): JsonBody,
) -> Result<Response> {
    let Advance { seconds } = from_json(json)?;
    let by = Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| *d <= MAX_ADVANCE)
        .ok_or_else(|| {
            ApiError::invalid_input(
                "seconds",
                &format!(
                    "must be a number of seconds from 0 to {} (1000 years), got {seconds}.",
                    MAX_ADVANCE.as_secs()
                ),
            )
        })?;
    state.clock.advance(by).map_err(|e| match e {
        // A valid amount that the clock's current time cannot take: a conflict with the state,
        // not bad input (the same request succeeds after a reset).
        ClockError::PastTheEnd { .. } => ApiError::new(
            StatusCode::CONFLICT,
            code::INVALID_INPUT,
            format!("{e}; reset the emulator or advance by less."),
        ),
        e => ApiError::invalid_input("", &format!("{e}.")),
    })?;
    prune(&state);
    Ok(answer(&state.clock))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetClock {
    now: String,
}

/// `POST /_emulator/clock` `{"now": "<RFC 3339>"}`: sets a manual clock, never backwards.
///
/// 200 with the clock; 400 on a system clock, an unparsable time, or one in the past.
pub async fn set_clock(
    State(state): State<AppState>,
    JsonBody(json): JsonBody,
) -> Result<Response> {
    let SetClock { now } = from_json(json)?;
    let to = Timestamp::parse_rfc3339(&now).ok_or_else(|| {
        ApiError::invalid_input(
            "now",
            &format!("must be an RFC 3339 time like 2026-11-21T10:00:00Z, got `{now}`."),
        )
    })?;
    state
        .clock
        .set(to)
        .map_err(|e| ApiError::invalid_input("", &format!("{e}.")))?;
    prune(&state);
    Ok(answer(&state.clock))
}

/// Jobs past `--job-retention` go as soon as the clock says so: a manual clock moves only here.
/// The move is recorded for `--state-file`, so a restart resumes from it.
fn prune(state: &AppState) {
    state.store.record_clock(crate::store::ClockDoc {
        now: state.clock.now().rfc3339(),
        mode: "manual".to_owned(),
    });
    if let Some(retention) = state.config.job_retention.0 {
        state.store.prune(state.clock.now(), retention);
    }
}
