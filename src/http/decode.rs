//! Request JSON → domain values, the way real clients send it: keys matched case-insensitively
//! (.NET sends PascalCase, CIPP camelCase, Java a mix), unknown and read-only keys ignored, `null`
//! taken as absent. Every failure names the field, e.g. `devices[3].serialNumber`.
//!
//! Size: ~400 lines of code for every Partner Center body (devices, policy updates, policies) and
//! ~85 of tests; they share the key-matching helpers. The device rules are not here: they are
//! [`crate::domain::device::DeviceSubmission::parse`]'s.

use serde_json::{Map, Value};

use super::error::ApiError;
use crate::domain::device::{DeviceProblem, DeviceSubmission, HardwareHash, RawDevice};
use crate::domain::ids::BatchId;
use crate::domain::policy::{PolicyCategory, PolicyFields, PolicySetting, dedup_settings};
use crate::store::PolicyUpdate;

pub type Object = Map<String, Value>;

pub use crate::json::{join, type_name};

/// The value under `key`, ignoring case. Two keys that differ only in case are ambiguous: 400.
pub fn get<'a>(obj: &'a Object, path: &str, key: &str) -> Result<Option<&'a Value>, ApiError> {
    let mut found = None;
    for (k, v) in obj {
        if k.eq_ignore_ascii_case(key) {
            if found.is_some() {
                return Err(ApiError::invalid_input(
                    &join(path, key),
                    "is given more than once (keys are matched ignoring case).",
                ));
            }
            found = Some(v);
        }
    }
    Ok(found)
}

/// An optional string field; `null` and absence are the same.
pub fn opt_string(obj: &Object, path: &str, key: &str) -> Result<Option<String>, ApiError> {
    opt_str(obj, path, key).map(|s| s.map(str::to_owned))
}

/// [`opt_string`] without the copy, for values that are only looked at (a 4 KB hardware hash is
/// digested, never kept).
pub fn opt_str<'a>(obj: &'a Object, path: &str, key: &str) -> Result<Option<&'a str>, ApiError> {
    match get(obj, path, key)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ApiError::invalid_input(
            &join(path, key),
            &format!("must be a string or null, got {}.", type_name(other)),
        )),
    }
}

/// How many characters of a client's value an error message quotes.
const QUOTED_CHARS: usize = 64;

/// `value` quoted for an error message: whole when short, else its start and its length, so that
/// a 10 MB value is neither sent back nor logged whole.
pub fn quoted(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(QUOTED_CHARS).collect();
    if chars.next().is_none() {
        format!("`{head}`")
    } else {
        format!("`{head}…` ({} characters)", value.chars().count())
    }
}

/// A type error for `path`; the whole body when `path` is empty.
fn wrong_type(path: &str, expected: &str, got: &Value) -> ApiError {
    let problem = format!("must be {expected}, got {}.", type_name(got));
    if path.is_empty() {
        ApiError::invalid_input("", &format!("the body {problem}"))
    } else {
        ApiError::invalid_input(path, &problem)
    }
}

pub fn as_object<'a>(v: &'a Value, path: &str, what: &str) -> Result<&'a Object, ApiError> {
    v.as_object().ok_or_else(|| wrong_type(path, what, v))
}

pub fn as_array<'a>(v: &'a Value, path: &str, what: &str) -> Result<&'a Vec<Value>, ApiError> {
    v.as_array().ok_or_else(|| wrong_type(path, what, v))
}

/// One `Device` of an upload, read as given. Only identifier fields are read; `Id`, `Policies`,
/// `CreatedBy`, `UploadedDate`, `AllowedOperations`, `Attributes`, `deviceBatchId` and others
/// are ignored. The rules are [`DeviceSubmission::parse`]'s.
fn raw_device<'a>(v: &'a Value, path: &str) -> Result<RawDevice<'a>, ApiError> {
    let obj = as_object(v, path, "a Device object")?;
    Ok(RawDevice {
        hardware_hash: opt_str(obj, path, "hardwareHash")?.and_then(HardwareHash::parse),
        product_key: opt_str(obj, path, "productKey")?,
        serial_number: opt_str(obj, path, "serialNumber")?,
        oem_manufacturer_name: opt_str(obj, path, "oemManufacturerName")?,
        model_name: opt_str(obj, path, "modelName")?,
    })
}

/// A non-empty list of devices whose every member carries accepted identifiers.
/// `prefix` is how the list is named in messages (`devices` in a batch request, empty for a bare array).
fn device_list(v: &Value, prefix: &str) -> Result<Vec<DeviceSubmission>, ApiError> {
    let items = as_array(v, prefix, "an array of Device objects")?;
    if items.is_empty() {
        let field = if prefix.is_empty() { "" } else { prefix };
        let problem = if prefix.is_empty() {
            "the body must be an array with at least one Device."
        } else {
            "must contain at least one Device."
        };
        return Err(ApiError::invalid_input(field, problem));
    }
    // A shape or length problem stops at the first device that has one. A well-formed device
    // without an accepted identifier combination does not make the request invalid: it fails
    // alone in the job with 803 MissingZtdSerialNumberAndProductKey (`domain/upload.rs`), as
    // Autopilot reports it per device.
    let mut devices = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("{prefix}[{i}]");
        let device = DeviceSubmission::parse(raw_device(item, &path)?).map_err(|problem| {
            let at = match problem {
                DeviceProblem::TooLong { field, .. } => join(&path, field),
                DeviceProblem::NoIdentifiers => path.clone(),
            };
            ApiError::invalid_input(&at, &problem.to_string())
        })?;
        devices.push(device);
    }
    Ok(devices)
}

/// `DeviceBatchCreationRequest`: `batchId` and `devices`.
pub fn device_batch_creation_request(
    v: &Value,
) -> Result<(BatchId, Vec<DeviceSubmission>), ApiError> {
    let obj = as_object(v, "", "a DeviceBatchCreationRequest object")?;
    let batch_id = match get(obj, "", "batchId")? {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_input(
                "batchId",
                "is required: name the new batch.",
            ));
        }
        Some(Value::String(s)) => BatchId::parse(s)
            .map_err(|problem| ApiError::invalid_input("batchId", &format!("{problem}.")))?,
        Some(other) => {
            return Err(ApiError::invalid_input(
                "batchId",
                &format!("must be a string, got {}.", type_name(other)),
            ));
        }
    };
    let devices = match get(obj, "", "devices")? {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_input(
                "devices",
                "is required: list at least one Device.",
            ));
        }
        Some(list) => device_list(list, "devices")?,
    };
    Ok((batch_id, devices))
}

/// The body of an upload to a new batch, from its bytes: the fast path for a valid request,
/// else [`device_batch_creation_request`] to name what is wrong.
pub fn device_batch_creation_request_bytes(
    bytes: &[u8],
) -> Result<(BatchId, Vec<DeviceSubmission>), ApiError> {
    match super::fast::device_batch_creation_request(bytes) {
        Some(decoded) => Ok(decoded),
        None => device_batch_creation_request(&super::body::parse_json(bytes)?),
    }
}

/// The body of an upload to an existing batch, from its bytes (see
/// [`device_batch_creation_request_bytes`]).
pub fn devices_to_add_bytes(bytes: &[u8]) -> Result<Vec<DeviceSubmission>, ApiError> {
    match super::fast::devices_to_add(bytes) {
        Some(decoded) => Ok(decoded),
        None => devices_to_add(&super::body::parse_json(bytes)?),
    }
}

/// The body of an upload to an existing batch: a bare JSON array of `Device`.
pub fn devices_to_add(v: &Value) -> Result<Vec<DeviceSubmission>, ApiError> {
    device_list(v, "")
}

/// One `{key, value}` entry of a device's `policies`: `key` must be `o_o_b_e`, `value` a policy
/// id or `null` (no profile). Returns the value.
fn policy_entry(v: &Value, path: &str) -> Result<Option<String>, ApiError> {
    let obj = as_object(v, path, "a {\"key\", \"value\"} object")?;
    let key_path = join(path, "key");
    match get(obj, path, "key")? {
        Some(Value::String(k)) if PolicyCategory::parse(k) == Some(PolicyCategory::Oobe) => {}
        Some(Value::String(k)) => {
            return Err(ApiError::invalid_input(
                &key_path,
                &format!(
                    "must be `o_o_b_e` (the only category a profile is assigned under), got {}.",
                    quoted(k)
                ),
            ));
        }
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_input(
                &key_path,
                "is required and must be `o_o_b_e`.",
            ));
        }
        Some(other) => {
            return Err(ApiError::invalid_input(
                &key_path,
                &format!("must be the string `o_o_b_e`, got {}.", type_name(other)),
            ));
        }
    }
    match get(obj, path, "value")? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::invalid_input(
            &join(path, "value"),
            &format!(
                "must be a policy id (a string) or null, got {}.",
                type_name(other)
            ),
        )),
    }
}

/// A device's `policies` in an update. `None`: not given. `Some(None)`: remove the profile
/// (`[]`, or a `null` value). `Some(Some(id))`: assign that policy.
fn device_policies(
    obj: &Object,
    path: &str,
    required: bool,
) -> Result<Option<Option<String>>, ApiError> {
    let field = join(path, "policies");
    let list = match get(obj, path, "policies")? {
        None | Some(Value::Null) if required => {
            return Err(ApiError::invalid_input(
                &field,
                "is required: give one {\"key\": \"o_o_b_e\", \"value\": <policy id or null>} entry.",
            ));
        }
        None | Some(Value::Null) => return Ok(None),
        Some(v) => as_array(v, &field, "an array of {\"key\", \"value\"} objects")?,
    };
    match list.as_slice() {
        [] if !required => Ok(Some(None)),
        [entry] => policy_entry(entry, &format!("{field}[0]")).map(Some),
        _ => Err(ApiError::invalid_input(
            &field,
            &format!("must hold exactly one `o_o_b_e` entry, got {}.", list.len()),
        )),
    }
}

/// `DevicePolicyUpdateRequest`: `devices`, each with `id` and one `o_o_b_e` policy entry.
pub fn device_policy_update_request(v: &Value) -> Result<Vec<PolicyUpdate>, ApiError> {
    let obj = as_object(v, "", "a DevicePolicyUpdateRequest object")?;
    let devices = match get(obj, "", "devices")? {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_input(
                "devices",
                "is required: list the devices to update.",
            ));
        }
        Some(v) => as_array(v, "devices", "an array of Device objects")?,
    };
    if devices.is_empty() {
        return Err(ApiError::invalid_input(
            "devices",
            "must contain at least one Device.",
        ));
    }
    devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let path = format!("devices[{i}]");
            let obj = as_object(d, &path, "a Device object")?;
            let id = opt_string(obj, &path, "id")?
                .filter(|id| !id.trim().is_empty())
                .ok_or_else(|| {
                    ApiError::invalid_input(
                        &join(&path, "id"),
                        "is required: the device id to update.",
                    )
                })?;
            let policy = device_policies(obj, &path, true)?.flatten();
            Ok(PolicyUpdate { device: id, policy })
        })
        .collect()
}

/// The body of `PUT …/devices/{id}`: only `policies` is read (see [`device_policies`]).
pub fn device_update(v: &Value) -> Result<Option<Option<String>>, ApiError> {
    let obj = as_object(v, "", "a Device object")?;
    device_policies(obj, "", false)
}

/// `policySettings`: a required array of `PolicySettingsType` strings.
fn policy_settings(obj: &Object) -> Result<Vec<PolicySetting>, ApiError> {
    let list = match get(obj, "", "policySettings")? {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_input(
                "policySettings",
                &format!(
                    "is required: an array of settings from {}.",
                    PolicySetting::accepted()
                ),
            ));
        }
        Some(v) => as_array(v, "policySettings", "an array of strings")?,
    };
    let settings = list
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let path = format!("policySettings[{i}]");
            let parsed = s.as_str().and_then(PolicySetting::parse);
            parsed.ok_or_else(|| {
                let got = s.as_str().map_or_else(|| type_name(s).to_owned(), quoted);
                ApiError::invalid_input(
                    &path,
                    &format!("must be one of {}, got {got}.", PolicySetting::accepted()),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(dedup_settings(settings))
}

/// A `ConfigurationPolicy` body. `name` and `policySettings` are required; `category` is read on
/// create only (`o_o_b_e` when absent) and ignored on update, like `id` and the counts.
pub fn configuration_policy(
    v: &Value,
    creating: bool,
) -> Result<(PolicyCategory, PolicyFields), ApiError> {
    let obj = as_object(v, "", "a ConfigurationPolicy object")?;
    let name = match get(obj, "", "name")? {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => {
            return Err(ApiError::invalid_input(
                "name",
                "must be a non-empty string.",
            ));
        }
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_input(
                "name",
                "is required: name the profile.",
            ));
        }
        Some(other) => {
            return Err(ApiError::invalid_input(
                "name",
                &format!("must be a string, got {}.", type_name(other)),
            ));
        }
    };
    let description = opt_string(obj, "", "description")?;
    crate::domain::policy::check_text(&name, description.as_deref())
        .map_err(|(field, problem)| ApiError::invalid_input(field, &problem))?;
    let settings = policy_settings(obj)?;
    // EMULATOR: an absent category defaults to `o_o_b_e`, the only category profiles have.
    let category = match (creating, get(obj, "", "category")?) {
        (false, _) | (true, None | Some(Value::Null)) => PolicyCategory::Oobe,
        (true, Some(c)) => c.as_str().and_then(PolicyCategory::parse).ok_or_else(|| {
            let got = c.as_str().map_or_else(|| type_name(c).to_owned(), quoted);
            ApiError::invalid_input(
                "category",
                &format!(
                    "must be one of {}, got {got}.",
                    PolicyCategory::ACCEPTED.join(", ")
                ),
            )
        })?,
    };
    Ok((
        category,
        PolicyFields {
            name,
            description,
            settings,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::device::MAX_FIELD_CHARS;
    use serde_json::json;

    #[test]
    fn keys_match_in_any_case_and_unknown_keys_are_ignored() {
        let (batch, devices) = device_batch_creation_request(&json!({
            "BATCHID": "B1",
            "Devices": [{"HardwareHash": "H", "serialnumber": "S", "Id": null, "Attributes": {"ObjectType": "Device"}, "deviceBatchId": 7}],
            "Attributes": {"ObjectType": "DeviceBatchCreationRequest"}
        }))
        .unwrap();
        assert_eq!(batch.as_str(), "B1");
        assert_eq!(
            devices[0].hardware_hash(),
            HardwareHash::parse("H").as_ref()
        );
        assert_eq!(devices[0].text().serial_number(), Some("S"));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let err =
            devices_to_add(&json!([{"productKey": "P"}, {"productKey": "P", "serialNumber": 5}]))
                .unwrap_err();
        assert_eq!(
            err.body.description,
            "Invalid request input: `[1].serialNumber` must be a string or null, got a number."
        );
        let err =
            device_batch_creation_request(&json!({"batchId": "B", "devices": {}})).unwrap_err();
        assert_eq!(err.body.data, vec!["devices".to_owned()]);
    }

    #[test]
    fn devices_without_identifiers_are_left_to_the_job() {
        let (_, devices) = device_batch_creation_request(&json!({
            "batchId": "B",
            "devices": [{"serialNumber": "S"}, {"productKey": "P"}, {"modelName": ""}]
        }))
        .expect("a valid request");
        assert_eq!(devices.len(), 3);
        assert_eq!(devices[0].identity(), None);
        assert_eq!(devices[2].identity(), None);
    }

    #[test]
    fn identifier_fields_are_bounded_but_hashes_are_not() {
        let long = "x".repeat(MAX_FIELD_CHARS + 1);
        let err = devices_to_add(&json!([{"productKey": "P", "modelName": long}])).unwrap_err();
        assert_eq!(err.body.data, vec!["[0].modelName".to_owned()]);
        assert_eq!(
            err.body.description,
            "Invalid request input: `[0].modelName` must be at most 1024 characters (got 1025)."
        );
        assert!(devices_to_add(&json!([{"hardwareHash": "h".repeat(10_000)}])).is_ok());
    }

    #[test]
    fn long_values_are_quoted_by_their_start_and_length() {
        assert_eq!(quoted("skip_eula"), "`skip_eula`");
        assert_eq!(quoted(&"é".repeat(64)), format!("`{}`", "é".repeat(64)));
        assert_eq!(
            quoted(&"é".repeat(65)),
            format!("`{}…` (65 characters)", "é".repeat(64))
        );
    }

    #[test]
    fn keys_differing_only_in_case_are_ambiguous() {
        let err =
            device_batch_creation_request(&json!({"batchId": "a", "BatchId": "b", "devices": []}))
                .unwrap_err();
        assert_eq!(err.body.data, vec!["batchId".to_owned()]);
    }
}
