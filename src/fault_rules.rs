//! Fault rules as JSON, read in one place for `POST /_emulator/faults` and a `--faults` file:
//! their shape, their bounds, and the [`FaultRule`] they make (what a rule does is
//! [`crate::domain::fault`]'s). A refusal is a [`json::Invalid`]: the rule's path (`[2].status`)
//! and the problem, for the HTTP layer to answer as a 400 and start-up to print.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::fault::{Effect, FaultRule, Glob, Window};
use crate::domain::ids::CustomerId;
use crate::domain::timestamp::Timestamp;
use crate::json::{self, Invalid, from_value, objects_at};
use crate::store::FaultView;

/// A rule from its JSON (`POST /_emulator/faults`); `path` is where it sits (`[2]` in a file).
pub fn rule_from_json(json: Value, path: &str) -> Result<FaultRule, Invalid> {
    if !json.is_object() {
        let what = if path.is_empty() { "the rule " } else { "" };
        let got = json::type_name(&json);
        return Err(Invalid::at(
            path,
            format!("{what}must be a JSON object, got {got}."),
        ));
    }
    objects_at(&json, path, &["throttle", "window"])?;
    no_null_effects(&json, path)?;
    let rule: RuleJson = from_value(json, "the rule").map_err(|e| Invalid {
        path: join_index(path, &e.path),
        problem: e.problem,
    })?;
    rule_of(rule, path)
}

/// `[0]` and `status` make `[0].status`; `[0]` and nothing make `[0]`.
fn join_index(path: &str, field: &str) -> String {
    match (path.is_empty(), field.is_empty()) {
        (true, _) => field.to_owned(),
        (false, true) => path.to_owned(),
        (false, false) => format!("{path}.{field}"),
    }
}

/// Reads a `--faults` file: a JSON array of rules, as `POST /_emulator/faults` takes them.
pub fn parse_rules(bytes: &[u8]) -> Result<Vec<FaultRule>, Invalid> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Invalid::at("", format!("is not valid JSON: {e}.")))?;
    let Value::Array(items) = value else {
        return Err(Invalid::at("", "must be a JSON array of fault rules."));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| rule_from_json(item, &format!("[{i}]")))
        .collect()
}

/// Reads a whole number that JSON may spell with a zero fraction (`531.0`), as JSON Schema's
/// `integer` allows.
fn whole<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::Deserialize as _;
    let Some(n) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let value = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    });
    value
        .and_then(|v| T::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!("expected a whole number in range, got {n}"))
        })
}

/// A rule on the wire, as posted and as listed (`id` and `fired` only in answers).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleJson {
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
fn no_null_effects(value: &Value, path: &str) -> Result<(), Invalid> {
    for key in ["status", "throttle", "delayMs", "drop"] {
        if value.get(key).is_some_and(Value::is_null) {
            let field = if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            };
            return Err(Invalid::at(
                field,
                "must not be null: give a value or leave it out.",
            ));
        }
    }
    Ok(())
}

fn rule_of(json: RuleJson, path: &str) -> Result<FaultRule, Invalid> {
    let field = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    let bad = |name: &str, problem: String| Invalid::at(field(name), problem);
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
            return Err(Invalid::at(
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
        _ => return Err(Invalid::at(path, "needs an effect.")),
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

/// A stored rule as it is listed.
pub fn json_of(view: FaultView) -> RuleJson {
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
