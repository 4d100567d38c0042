//! `/_emulator/faults`: add, list and remove fault rules.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{from_json, objects_at, whole};
use crate::domain::fault::{Effect, FaultRule, Glob, Window};
use crate::domain::ids::CustomerId;
use crate::domain::timestamp::Timestamp;
use crate::http::AppState;
use crate::http::body::read_json;
use crate::http::error::{ApiError, Result};
use crate::http::extract::Path;
use crate::http::wire::{json_response, no_content};
use crate::store::FaultView;

/// A rule on the wire, as posted and as listed (`id` and `fired` only in answers).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RuleJson {
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    customer: Option<String>,
    #[serde(
        default,
        deserialize_with = "whole",
        skip_serializing_if = "Option::is_none"
    )]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    throttle: Option<ThrottleJson>,
    #[serde(
        default,
        deserialize_with = "whole",
        skip_serializing_if = "Option::is_none"
    )]
    delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    drop: Option<bool>,
    #[serde(
        default,
        deserialize_with = "whole",
        skip_serializing_if = "Option::is_none"
    )]
    times: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    probability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<WindowJson>,
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    fired: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ThrottleJson {
    #[serde(deserialize_with = "whole_required")]
    retry_after_seconds: u64,
}

fn whole_required<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    whole(deserializer)?
        .ok_or_else(|| serde::de::Error::custom("expected a whole number, got null"))
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WindowJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<String>,
}

// Bounds that keep a rule meaningful: a delay that outlives any client timeout, or a count past
// what JSON numbers carry exactly, is a mistake in the rule.
const MAX_DELAY_MS: u64 = 600_000;
const MAX_RETRY_AFTER: u64 = 86_400;
const MAX_TIMES: u64 = (1 << 53) - 1;

/// The methods Partner Center routes answer; methods are case-sensitive (RFC 9110).
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// An effect given as `null` is a mistake, not an absent effect.
fn no_null_effects(value: &Value, path: &str) -> Result<()> {
    for key in ["status", "throttle", "delayMs", "drop"] {
        if value.get(key).is_some_and(Value::is_null) {
            let field = if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            };
            return Err(ApiError::invalid_input(
                &field,
                "must not be null: give a value or leave it out.",
            ));
        }
    }
    Ok(())
}

fn rule_of(json: RuleJson, path: &str) -> Result<FaultRule> {
    let field = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    let bad = |name: &str, problem: String| ApiError::invalid_input(&field(name), &problem);
    if let Some(m) = &json.method
        && !METHODS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(m.trim()))
    {
        return Err(bad(
            "method",
            format!("must be one of {}, got `{m}`.", METHODS.join(", ")),
        ));
    }
    let effects = [
        json.status.is_some(),
        json.throttle.is_some(),
        json.delay_ms.is_some(),
        json.drop.is_some(),
    ];
    let effect = match (json.status, json.throttle, json.delay_ms, json.drop) {
        _ if effects.iter().filter(|e| **e).count() != 1 => {
            return Err(ApiError::invalid_input(
                path,
                "needs exactly one effect: `status`, `throttle`, `delayMs` or `drop`.",
            ));
        }
        (Some(s), ..) if (400..=599).contains(&s) => Effect::Status(s),
        (Some(s), ..) => {
            return Err(bad(
                "status",
                format!("must be a 4xx or 5xx status, got {s}."),
            ));
        }
        (_, Some(t), ..) => Effect::Throttle {
            retry_after_seconds: t.retry_after_seconds,
        },
        (_, _, Some(ms), _) => Effect::Delay { ms },
        (.., Some(true)) => Effect::Drop,
        (.., Some(false)) => return Err(bad("drop", "must be true when given.".into())),
        _ => return Err(ApiError::invalid_input(path, "needs an effect.")),
    };
    let customer = json
        .customer
        .map(|c| {
            CustomerId::parse(&c)
                .ok_or_else(|| bad("customer", format!("must be a GUID, got `{c}`.")))
        })
        .transpose()?;
    if json.times == Some(0) || json.times > Some(MAX_TIMES) {
        return Err(bad("times", format!("must be from 1 to {MAX_TIMES}.")));
    }
    if let Effect::Delay { ms } = effect
        && ms > MAX_DELAY_MS
    {
        return Err(bad(
            "delayMs",
            format!("must be at most {MAX_DELAY_MS} (10 minutes)."),
        ));
    }
    if let Effect::Throttle {
        retry_after_seconds,
    } = effect
        && retry_after_seconds > MAX_RETRY_AFTER
    {
        return Err(bad(
            "throttle.retryAfterSeconds",
            format!("must be at most {MAX_RETRY_AFTER} (a day)."),
        ));
    }
    if let Some(p) = json.probability
        && !(0.0..=1.0).contains(&p)
    {
        return Err(bad(
            "probability",
            format!("must be between 0 and 1, got {p}."),
        ));
    }
    let time = |raw: Option<String>, name: &str| {
        raw.map(|r| {
            Timestamp::parse_rfc3339(&r)
                .ok_or_else(|| bad(name, format!("must be an RFC 3339 time, got `{r}`.")))
        })
        .transpose()
    };
    let window = match json.window {
        None => None,
        Some(w) => Some(Window {
            from: time(w.from, "window.from")?,
            until: time(w.until, "window.until")?,
        }),
    };
    Ok(FaultRule {
        // Stored as the method it matches: `"get "` once was accepted and never fired.
        method: json.method.map(|m| m.trim().to_ascii_uppercase()),
        path: json.path.map(|p| Glob::new(&p)),
        customer,
        effect,
        times: json.times,
        probability: json.probability,
        window,
    })
}

fn json_of(view: FaultView) -> RuleJson {
    let rule = view.rule;
    let mut json = RuleJson {
        id: Some(view.id.to_string()),
        method: rule.method,
        path: rule.path.map(|g| g.as_str().to_owned()),
        customer: rule.customer.map(|c| c.to_string()),
        times: rule.times,
        probability: rule.probability,
        window: rule.window.map(|w| WindowJson {
            from: w.from.map(|t| t.rfc3339()),
            until: w.until.map(|t| t.rfc3339()),
        }),
        fired: Some(view.fired),
        ..RuleJson::default()
    };
    match rule.effect {
        Effect::Status(s) => json.status = Some(s),
        Effect::Throttle {
            retry_after_seconds,
        } => {
            json.throttle = Some(ThrottleJson {
                retry_after_seconds,
            })
        }
        Effect::Delay { ms } => json.delay_ms = Some(ms),
        Effect::Drop => json.drop = Some(true),
    }
    json
}

/// Reads a `--faults` file: a JSON array of rules, as `POST /_emulator/faults` takes them.
pub fn parse_rules(bytes: &[u8]) -> Result<Vec<FaultRule>, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Array(items) = value else {
        return Err("must be a JSON array of fault rules".into());
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let path = format!("[{i}]");
            objects_at(&item, &path, &["throttle", "window"]).map_err(|e| e.body.description)?;
            no_null_effects(&item, &path).map_err(|e| e.body.description)?;
            let json: RuleJson =
                from_json(item).map_err(|e| format!("{path}: {}", e.body.description))?;
            rule_of(json, &path).map_err(|e| e.body.description)
        })
        .collect()
}

/// `POST /_emulator/faults`: adds a rule. 201 with the stored rule (`id`, `fired`); 400.
pub async fn add_fault(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let json = read_json(&headers, body, state.config.max_body).await?;
    objects_at(&json, "", &["throttle", "window"])?;
    no_null_effects(&json, "")?;
    let rule = rule_of(from_json(json)?, "")?;
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
