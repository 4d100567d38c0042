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
use super::wire::{JSON_CONTENT_TYPE, json_response};

pub use faults::parse_rules;

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
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        )],
        openapi::JSON,
    )
        .into_response()
}

/// Checks that the members `keys` of the object `value` (at `path`), when given, are objects or
/// `null`: serde would otherwise read a struct from an array of its fields.
fn objects_at(
    value: &serde_json::Value,
    path: &str,
    keys: &[&str],
) -> Result<(), super::error::ApiError> {
    for key in keys {
        if let Some(v) = value.get(*key)
            && !(v.is_object() || v.is_null())
        {
            let field = super::decode::join(path, key);
            return Err(super::error::ApiError::invalid_input(
                &field,
                &format!("must be an object, got {}.", super::decode::type_name(v)),
            ));
        }
    }
    Ok(())
}

/// Every object a seed document nests must be one (see [`objects_at`]).
pub fn seed_shape(doc: &serde_json::Value) -> Result<(), super::error::ApiError> {
    use serde_json::Value;
    let items = |v: &Value, key: &str| -> Vec<Value> {
        v.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let each =
        |list: Vec<Value>, path: &str| -> Result<Vec<(String, Value)>, super::error::ApiError> {
            list.into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let at = format!("{path}[{i}]");
                    if item.is_object() {
                        Ok((at, item))
                    } else {
                        Err(super::error::ApiError::invalid_input(
                            &at,
                            &format!(
                                "must be an object, got {}.",
                                super::decode::type_name(&item)
                            ),
                        ))
                    }
                })
                .collect()
        };
    objects_at(doc, "", &["clock"])?;
    let mut customers = each(items(doc, "customers"), "customers")?;
    for (ppath, partner) in each(items(doc, "partners"), "partners")? {
        customers.extend(each(
            items(&partner, "customers"),
            &format!("{ppath}.customers"),
        )?);
    }
    for (cpath, customer) in customers {
        each(items(&customer, "policies"), &format!("{cpath}.policies"))?;
        for (bpath, batch) in each(items(&customer, "batches"), &format!("{cpath}.batches"))? {
            for (dpath, device) in each(items(&batch, "devices"), &format!("{bpath}.devices"))? {
                objects_at(&device, &dpath, &["scheduledPolicy"])?;
            }
        }
        for (jpath, job) in each(items(&customer, "jobs"), &format!("{cpath}.jobs"))? {
            each(items(&job, "entries"), &format!("{jpath}.entries"))?;
        }
    }
    Ok(())
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

/// Reads a control-plane JSON body with serde, naming the failing field on error.
fn from_json<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, super::error::ApiError> {
    // serde would also read a struct from an array of its fields; the control plane takes objects.
    if !value.is_object() {
        return Err(super::error::ApiError::invalid_input(
            "",
            &format!(
                "the body must be a JSON object, got {}.",
                super::decode::type_name(&value)
            ),
        ));
    }
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
