//! Upload bodies decoded straight into typed values, for the common case of a valid request:
//! strings are borrowed from the request bytes, so a 4 KB hardware hash is digested where it
//! lies instead of being copied into a JSON tree (a 10,000-device upload is ~40 MB of them).
//!
//! Anything this path does not accept as a whole (a wrong type, a missing field, a device
//! without identifiers, …) returns `None`, and the caller decodes the same bytes with
//! [`super::decode`], which names the problem. So both paths accept exactly the same requests
//! with the same result; only the cost differs.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::domain::device::{DeviceSubmission, HardwareHash, RawDevice};
use crate::domain::ids::BatchId;

/// A JSON string, borrowed from the input when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Reads an object's members, matching `names` ignoring case (the slow path's rule), skipping
/// the others, and failing on a name given twice.
fn members<'de, A: MapAccess<'de>, const N: usize>(
    mut map: A,
    names: [&str; N],
    mut read: impl FnMut(usize, &mut A) -> Result<(), A::Error>,
) -> Result<(), A::Error> {
    let mut seen = [false; N];
    while let Some(key) = map.next_key::<Text<'de>>()? {
        match names.iter().position(|n| n.eq_ignore_ascii_case(&key.0)) {
            Some(i) if seen[i] => return Err(de::Error::custom("a key given twice")),
            Some(i) => {
                seen[i] = true;
                read(i, &mut map)?;
            }
            None => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(())
}

/// The identifier fields of one `Device`, borrowed.
#[derive(Default)]
struct Device<'a> {
    hardware_hash: Option<Text<'a>>,
    product_key: Option<Text<'a>>,
    serial_number: Option<Text<'a>>,
    oem_manufacturer_name: Option<Text<'a>>,
    model_name: Option<Text<'a>>,
}

fn text<'a>(t: &'a Option<Text<'_>>) -> Option<&'a str> {
    t.as_ref().map(|t| t.0.as_ref())
}

impl Device<'_> {
    fn raw(&self) -> RawDevice<'_> {
        RawDevice {
            hardware_hash: text(&self.hardware_hash).and_then(HardwareHash::parse),
            product_key: text(&self.product_key),
            serial_number: text(&self.serial_number),
            oem_manufacturer_name: text(&self.oem_manufacturer_name),
            model_name: text(&self.model_name),
        }
    }
}

/// The wire names [`Device`]'s members are read from, in the order its decoder numbers them.
const DEVICE_FIELDS: [&str; 5] = [
    "hardwareHash",
    "productKey",
    "serialNumber",
    "oemManufacturerName",
    "modelName",
];

impl<'de> Deserialize<'de> for Device<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Device<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Device object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Device<'de>, A::Error> {
                let mut device = Device::default();
                members(map, DEVICE_FIELDS, |i, map| {
                    let field = match i {
                        0 => &mut device.hardware_hash,
                        1 => &mut device.product_key,
                        2 => &mut device.serial_number,
                        3 => &mut device.oem_manufacturer_name,
                        _ => &mut device.model_name,
                    };
                    *field = map.next_value::<Option<Text<'de>>>()?;
                    Ok(())
                })?;
                Ok(device)
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// `DeviceBatchCreationRequest`'s two members.
struct Batch<'a> {
    batch_id: Option<Text<'a>>,
    devices: Option<Vec<Device<'a>>>,
}

impl<'de> Deserialize<'de> for Batch<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Batch<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a DeviceBatchCreationRequest object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Batch<'de>, A::Error> {
                let mut batch = Batch {
                    batch_id: None,
                    devices: None,
                };
                members(map, ["batchId", "devices"], |i, map| {
                    if i == 0 {
                        batch.batch_id = map.next_value()?;
                    } else {
                        batch.devices = map.next_value()?;
                    }
                    Ok(())
                })?;
                Ok(batch)
            }
        }
        deserializer.deserialize_map(V)
    }
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// A non-empty list of valid devices, or `None`. The rules are [`DeviceSubmission::parse`]'s.
fn submissions(devices: Vec<Device<'_>>) -> Option<Vec<DeviceSubmission>> {
    if devices.is_empty() {
        return None;
    }
    devices
        .iter()
        .map(|d| DeviceSubmission::parse(d.raw()).ok())
        .collect()
}

/// The body of `POST …/deviceBatches/{id}/devices`, when it is valid.
pub fn devices_to_add(bytes: &[u8]) -> Option<Vec<DeviceSubmission>> {
    let devices: Vec<Device<'_>> = serde_json::from_slice(strip_bom(bytes)).ok()?;
    submissions(devices)
}

/// The body of `POST …/deviceBatches`, when it is valid.
pub fn device_batch_creation_request(bytes: &[u8]) -> Option<(BatchId, Vec<DeviceSubmission>)> {
    let batch: Batch<'_> = serde_json::from_slice(strip_bom(bytes)).ok()?;
    let id = BatchId::parse(batch.batch_id?.0.as_ref()).ok()?;
    Some((id, submissions(batch.devices?)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::device::MAX_FIELD_CHARS;
    use crate::http::body::parse_json;
    use crate::http::decode;

    /// Whenever the fast path accepts a body, the slow path gives the same result.
    fn agree(body: &str) {
        let bytes = body.as_bytes();
        let slow = parse_json(bytes)
            .and_then(|v| decode::devices_to_add(&v))
            .ok();
        if let Some(fast) = devices_to_add(bytes) {
            assert_eq!(Some(fast), slow, "{body}");
        }
        let slow = parse_json(bytes)
            .and_then(|v| decode::device_batch_creation_request(&v))
            .ok();
        if let Some(fast) = device_batch_creation_request(bytes) {
            assert_eq!(Some(fast), slow, "{body}");
        }
    }

    #[test]
    fn the_fast_path_takes_valid_bodies_and_agrees_with_the_slow_one() {
        let valid = r#"[{"HardwareHash": "DummyHash123", "ProductKey": "00329", "SerialNumber": "1R9", "Id": null,
                         "Attributes": {"ObjectType": "Device"}, "Policies": [1, {"x": [[]]}]},
                        {"serialnumber": "S", "OEMManufacturerName": "M", "modelName": "X", "deviceBatchId": 7}]"#;
        assert_eq!(devices_to_add(valid.as_bytes()).map(|d| d.len()), Some(2));
        agree(valid);
        let batch = format!(r#"{{"BatchId": "B1", "Devices": {valid}, "Attributes": {{}}}}"#);
        assert!(device_batch_creation_request(batch.as_bytes()).is_some());
        agree(&batch);
        let bom = format!("\u{feff}{valid}");
        assert!(devices_to_add(bom.as_bytes()).is_some());
        agree(&bom);
    }

    #[test]
    fn anything_the_slow_path_names_is_left_to_it() {
        let long = "x".repeat(MAX_FIELD_CHARS + 1);
        for body in [
            "[]".to_owned(),
            "{}".to_owned(),
            "[3]".to_owned(),
            r#"[{"productKey": 5}]"#.to_owned(),
            r#"[{"productKey": "P", "ProductKey": "Q"}]"#.to_owned(),
            format!(r#"[{{"productKey": "P", "modelName": "{long}"}}]"#),
            r#"[{"productKey": "P"}] trailing"#.to_owned(),
            r#"{"batchId": "", "devices": [{"productKey": "P"}]}"#.to_owned(),
            r#"{"batchId": "B", "BATCHID": "C", "devices": [{"productKey": "P"}]}"#.to_owned(),
            r#"{"batchId": "B", "devices": null}"#.to_owned(),
            r#"{"batchId": "..", "devices": [{"productKey": "P"}]}"#.to_owned(),
        ] {
            assert!(devices_to_add(body.as_bytes()).is_none(), "{body}");
            assert!(
                device_batch_creation_request(body.as_bytes()).is_none(),
                "{body}"
            );
            agree(&body);
        }
    }

    #[test]
    fn escaped_strings_are_decoded_not_borrowed() {
        let body = r#"[{"productKey": "A\u0042C", "hardware\u0048ash": "AA\/EC"}]"#;
        let fast = devices_to_add(body.as_bytes()).unwrap();
        assert_eq!(fast[0].text().product_key(), Some("ABC"));
        assert_eq!(
            fast[0].hardware_hash(),
            HardwareHash::parse("AA/EC").as_ref()
        );
        agree(body);
    }
}
