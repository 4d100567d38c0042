//! Seeding the OEM registry: every `oemDevices` entry checked (the upload device rules, a full
//! serial/manufacturer/model tuple, keys not in the registry yet) before any is applied; and
//! the way back for exports.

use std::collections::HashSet;

use super::SeedError;
use super::entries::{device_path, digest, fail};
use super::schema::OemDeviceDoc;
use crate::domain::device::{DeviceSubmission, HardwareHash, Identity, RawDevice};
use crate::store::oem::{OemEntry, OemRegistry};

/// An entry, checked, with the keys it will be found by.
pub(super) struct PlannedOem {
    entry: OemEntry,
    keys: Vec<Identity>,
}

/// Checks `docs` against `registry`; nothing is changed.
pub(super) fn plan(
    registry: &OemRegistry,
    docs: &[OemDeviceDoc],
    base: &str,
) -> Result<Vec<PlannedOem>, SeedError> {
    let mut seen = HashSet::new();
    let mut planned = Vec::with_capacity(docs.len());
    for (i, d) in docs.iter().enumerate() {
        let path = format!("{base}oemDevices[{i}]");
        let hardware_hash = match (&d.hardware_hash_digest, d.hardware_hash.as_deref()) {
            (Some(_), Some(hash)) if !hash.trim().is_empty() => {
                return fail(
                    path,
                    "give `hardwareHash` or `hardwareHashDigest`, not both.",
                );
            }
            (Some(raw), _) => Some(HardwareHash::from_digest(digest(raw, || {
                format!("{path}.hardwareHashDigest")
            })?)),
            (None, hash) => hash.and_then(HardwareHash::parse),
        };
        let device = DeviceSubmission::parse(RawDevice {
            hardware_hash,
            product_key: d.product_key.as_deref(),
            serial_number: Some(&d.serial_number),
            oem_manufacturer_name: Some(&d.oem_manufacturer_name),
            model_name: Some(&d.model_name),
        })
        .or_else(|problem| fail(device_path(&path, &problem), problem.to_string()))?;
        let f = device.fields();
        if f.serial_number().is_none()
            || f.oem_manufacturer_name().is_none()
            || f.model_name().is_none()
        {
            return fail(
                path,
                "needs a non-empty serialNumber, oemManufacturerName and modelName (an OEM registers a device by its tuple).",
            );
        }
        let keys: Vec<Identity> = device.oem_keys().collect();
        if keys
            .iter()
            .any(|k| registry.contains(k) || !seen.insert(*k))
        {
            return fail(
                path,
                "is already in the OEM registry (the same hardware hash, product key or serial/manufacturer/model).",
            );
        }
        planned.push(PlannedOem {
            entry: OemEntry {
                text: device.text(),
                hash: device.hardware_hash().map(|h| h.identity),
                aad_registered: d.aad_registered.unwrap_or(false),
            },
            keys,
        });
    }
    Ok(planned)
}

/// Applies checked entries to the registry they were checked against.
pub(super) fn apply(registry: &mut OemRegistry, planned: Vec<PlannedOem>) {
    for p in planned {
        registry.insert(p.entry, &p.keys);
    }
}

/// The registry as document entries, in seeding order.
pub(super) fn docs(registry: &OemRegistry) -> Vec<OemDeviceDoc> {
    let owned = |s: Option<&str>| s.map(str::to_owned).unwrap_or_default();
    registry
        .entries()
        .iter()
        .map(|e| OemDeviceDoc {
            serial_number: owned(e.text.serial_number()),
            oem_manufacturer_name: owned(e.text.oem_manufacturer_name()),
            model_name: owned(e.text.model_name()),
            product_key: e.text.product_key().map(str::to_owned),
            hardware_hash: None,
            hardware_hash_digest: e.hash.map(|h| h.hex()),
            aad_registered: e.aad_registered.then_some(true),
        })
        .collect()
}
