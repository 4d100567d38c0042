//! `&[u8]` entry points into the request decoders, for the fuzz targets in `fuzz/` and the property
//! tests: each one takes what arrives on the wire and runs the code a handler runs on it. Built
//! only for tests and `--cfg fuzzing` (see `fuzz/README.md`); not a stable API.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::http::header;
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use serde_json::Value;

use super::body::parse_json;
use super::error::ApiError;
use super::{decode, paging};
use crate::domain::ids::CustomerId;
use crate::store::Cursor;

/// The customer and batch a fuzzed continuation token is checked against.
const CUSTOMER: &str = "c7f3c849-129f-4b85-a96d-4f8e88b315a3";
const BATCH: &str = "Fuzz Batch";

/// A body decoder as the fuzz targets and property tests call it.
pub type Decoder = fn(&[u8]) -> Result<(), ApiError>;

fn customer() -> CustomerId {
    CustomerId::parse(CUSTOMER).unwrap_or_else(|| unreachable!("a constant GUID"))
}

/// `POST …/deviceBatches`: a `DeviceBatchCreationRequest`.
pub fn device_batch_creation_request(body: &[u8]) -> Result<(), ApiError> {
    decode::device_batch_creation_request_bytes(body).map(drop)
}

/// `POST /_emulator/seed`: a seed document, decoded and imported into a fresh store (so every
/// entry rule runs), which is then dropped.
pub fn seed_document(body: &[u8]) -> Result<(), ApiError> {
    let doc = super::emulator::state::decode_seed(parse_json(body)?)?;
    let store = crate::store::Store::new(crate::store::StoreOptions {
        timings: crate::domain::job::Timings {
            queued_for: std::time::Duration::ZERO,
            processing_for: std::time::Duration::ZERO,
        },
        strict_hardware_hash: false,
        journal_size: 0,
        journal_memory: 0,
        idempotency_memory: 0,
        fault_seed: 0,
    });
    let now = crate::domain::timestamp::Timestamp::from_offset(time::OffsetDateTime::UNIX_EPOCH);
    store
        .import(&doc, now)
        .map(drop)
        .map_err(|e| ApiError::invalid_input(&e.path, &e.problem))
}

/// `POST …/deviceBatches/{id}/devices`: a bare array of `Device`.
pub fn devices_to_add(body: &[u8]) -> Result<(), ApiError> {
    decode::devices_to_add_bytes(body).map(drop)
}

/// `POST …/policies`: a `ConfigurationPolicy` to create.
pub fn configuration_policy_create(body: &[u8]) -> Result<(), ApiError> {
    decode::configuration_policy(&parse_json(body)?, true).map(drop)
}

/// `PUT …/policies/{id}`: a `ConfigurationPolicy` update.
pub fn configuration_policy_update(body: &[u8]) -> Result<(), ApiError> {
    decode::configuration_policy(&parse_json(body)?, false).map(drop)
}

/// `PATCH …/DevicePolicyUpdates`: a `DevicePolicyUpdateRequest`.
pub fn device_policy_update_request(body: &[u8]) -> Result<(), ApiError> {
    decode::device_policy_update_request(&parse_json(body)?).map(drop)
}

/// `PUT …/deviceBatches/{id}/devices/{device-id}`: a `Device` whose `policies` is read.
pub fn device_update(body: &[u8]) -> Result<(), ApiError> {
    decode::device_update(&parse_json(body)?).map(drop)
}

/// `GET …/devices` with this raw `MS-ContinuationToken` header value.
pub fn continuation_token(header_value: &[u8]) -> Result<(), ApiError> {
    paging::cursor_from_header(Some(header_value), customer(), BATCH).map(drop)
}

/// Whether a token minted for (`epoch`, `after`, `batch`) reads back as that cursor for the batch,
/// also spelt in lower case (batch ids are matched ignoring case), and is refused for another batch.
pub fn continuation_token_round_trips(epoch: u64, after: u64, batch: &str) -> bool {
    let cursor = Cursor { epoch, after };
    let token = paging::encode(customer(), batch, cursor);
    let read_for = |b: &str| paging::cursor_from_header(Some(token.as_bytes()), customer(), b);
    read_for(batch) == Ok(Some(cursor))
        && read_for(&batch.to_lowercase()) == Ok(Some(cursor))
        && read_for(&format!("{batch}~")).is_err()
}

/// Panics unless `result` is an acceptance or a rejection that [`envelope_problem`] finds nothing
/// wrong with: the oracle of every fuzz target.
pub fn check(result: Result<(), ApiError>) {
    if let Err(e) = result
        && let Some(problem) = envelope_problem(e)
    {
        panic!("a decoder rejection is not a 4xx envelope: {problem}");
    }
}

/// What is wrong with `error` as a decoder rejection on the wire, if anything: it must be a 4xx
/// in the Partner Center envelope (`code`, a non-empty `description`, `data` naming fields that the
/// description mentions, `source: "PartnerFD"`) with the JSON content type.
pub fn envelope_problem(error: ApiError) -> Option<String> {
    let response = error.into_response();
    let status = response.status().as_u16();
    if !(400..500).contains(&status) {
        return Some(format!("status {status} is not a 4xx"));
    }
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    if content_type.as_ref().map(|v| v.as_bytes()) != Some(b"application/json; charset=utf-8") {
        return Some(format!("content type {content_type:?}"));
    }
    // The body of an `ApiError` is a complete in-memory buffer: one poll collects it.
    let collected =
        pin!(response.into_body().collect()).poll(&mut Context::from_waker(Waker::noop()));
    let bytes = match collected {
        Poll::Ready(Ok(c)) => c.to_bytes(),
        Poll::Ready(Err(e)) => return Some(format!("the body could not be read: {e}")),
        Poll::Pending => return Some("the body is not in memory".to_owned()),
    };
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return Some(format!("the body is not JSON ({e})")),
    };
    let Some(obj) = body.as_object() else {
        return Some(format!("the body is not an object: {body}"));
    };
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if keys != ["code", "data", "description", "source"] {
        return Some(format!("envelope keys {keys:?}"));
    }
    let description = obj["description"].as_str().unwrap_or_default();
    let data = obj["data"].as_array();
    let problem = if !obj["code"].is_u64() {
        "code is not a number"
    } else if description.is_empty() {
        "description is empty"
    } else if obj["source"] != "PartnerFD" {
        "source is not PartnerFD"
    } else if !data.is_some_and(|d| d.iter().all(Value::is_string)) {
        "data is not an array of strings"
    } else if !data.is_some_and(|d| {
        d.iter()
            .filter_map(Value::as_str)
            .all(|f| description.contains(f))
    }) {
        "data names a field the description does not"
    } else {
        return None;
    };
    Some(format!("{problem}: {body}"))
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_entry_point_accepts_a_valid_body_and_rejects_garbage_in_the_envelope() {
        let valid: [(Decoder, &str); 7] = [
            (
                seed_document,
                r#"{"customers": [{"id": "c7f3c849-129f-4b85-a96d-4f8e88b315a3", "batches": [{"id": "B", "devices": [{"productKey": "P"}]}]}]}"#,
            ),
            (
                device_batch_creation_request,
                r#"{"batchId": "B", "devices": [{"productKey": "P"}]}"#,
            ),
            (devices_to_add, r#"[{"hardwareHash": "H"}]"#),
            (
                configuration_policy_create,
                r#"{"name": "N", "policySettings": ["skip_eula"]}"#,
            ),
            (
                configuration_policy_update,
                r#"{"name": "N", "policySettings": []}"#,
            ),
            (
                device_policy_update_request,
                r#"{"devices": [{"id": "D", "policies": [{"key": "o_o_b_e", "value": "P"}]}]}"#,
            ),
            (device_update, r#"{"policies": []}"#),
        ];
        for (decoder, body) in valid {
            assert_eq!(decoder(body.as_bytes()), Ok(()), "{body}");
            check(decoder(body.as_bytes()));
            let e = decoder(b"{").unwrap_err();
            assert_eq!(envelope_problem(e), None);
            check(decoder(b"{"));
        }
    }

    #[test]
    fn continuation_tokens_are_checked_and_round_trip() {
        assert_eq!(continuation_token(b"  "), Ok(()));
        let e = continuation_token(b"\xff\xfe").unwrap_err();
        assert_eq!(e.body.data, ["MS-ContinuationToken"]);
        assert_eq!(envelope_problem(e), None);
        assert!(continuation_token_round_trips(7, 99, "Batch ß"));
        assert!(continuation_token_round_trips(u64::MAX, 0, ""));
    }

    #[test]
    fn an_envelope_that_breaks_a_rule_is_reported() {
        use axum::http::StatusCode;
        let server_error = ApiError::internal();
        assert_eq!(
            envelope_problem(server_error).as_deref(),
            Some("status 500 is not a 4xx")
        );
        let unnamed = ApiError::invalid_input("", "bad").with_data(vec!["devices[9]".into()]);
        assert!(
            envelope_problem(unnamed)
                .unwrap()
                .starts_with("data names a field the description does not")
        );
        let empty = ApiError::new(StatusCode::BAD_REQUEST, 1, "");
        assert!(
            envelope_problem(empty)
                .unwrap()
                .starts_with("description is empty")
        );
    }
}
