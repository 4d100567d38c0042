//! A device as a partner submits it: identifier rules and the identity used to spot re-registration.

use base64::Engine as _;
use xxhash_rust::xxh3::xxh3_128;

/// The identifier fields of one uploaded device. Blank strings are stored as absent, because the
/// identifier rules count a field as present only when it holds text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceSubmission {
    pub hardware_hash: Option<String>,
    pub product_key: Option<String>,
    pub serial_number: Option<String>,
    pub oem_manufacturer_name: Option<String>,
    pub model_name: Option<String>,
}

/// The six documented combinations, in the documentation's order and words.
pub const ACCEPTED_COMBINATIONS: [&str; 6] = [
    "hardwareHash + productKey",
    "hardwareHash + serialNumber",
    "hardwareHash + productKey + serialNumber",
    "hardwareHash only",
    "productKey only",
    "serialNumber + oemManufacturerName + modelName",
];

/// What makes two uploads the same physical device.
///
/// The hardware hash when there is one, else the product key, else the serial/manufacturer/model
/// tuple. Hashes are kept as a 128-bit digest: the API never returns them, and a 4K hash is ~4 KB.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Identity {
    HardwareHash(u128),
    ProductKey(String),
    Tuple {
        serial_number: String,
        manufacturer: String,
        model: String,
    },
}

/// Keeps a value only when it has non-blank text.
pub fn present(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

impl DeviceSubmission {
    /// Whether the device carries one of [`ACCEPTED_COMBINATIONS`]. Every combination with a hash
    /// is satisfied by the hash alone, so the rule reduces to: hash, or product key, or the tuple.
    pub fn has_accepted_identifiers(&self) -> bool {
        self.hardware_hash.is_some()
            || self.product_key.is_some()
            || (self.serial_number.is_some()
                && self.oem_manufacturer_name.is_some()
                && self.model_name.is_some())
    }

    /// The device's identity; `None` only when [`Self::has_accepted_identifiers`] is false.
    pub fn identity(&self) -> Option<Identity> {
        if let Some(hash) = &self.hardware_hash {
            return Some(Identity::HardwareHash(xxh3_128(hash.trim().as_bytes())));
        }
        if let Some(key) = &self.product_key {
            return Some(Identity::ProductKey(key.trim().to_owned()));
        }
        match (
            &self.serial_number,
            &self.oem_manufacturer_name,
            &self.model_name,
        ) {
            // Tuple registration is case sensitive (values must match SMBIOS exactly).
            (Some(s), Some(m), Some(n)) => Some(Identity::Tuple {
                serial_number: s.clone(),
                manufacturer: m.clone(),
                model: n.clone(),
            }),
            _ => None,
        }
    }

    /// Whether the hardware hash (if any) is well-formed base64, for `--strict-hardware-hash`.
    pub fn hardware_hash_is_valid(&self) -> bool {
        match &self.hardware_hash {
            None => true,
            Some(h) => base64::engine::general_purpose::STANDARD
                .decode(h.trim())
                .is_ok_and(|bytes| !bytes.is_empty()),
        }
    }
}

/// Indices of the devices that carry none of the accepted combinations.
pub fn devices_without_identifiers(devices: &[DeviceSubmission]) -> Vec<usize> {
    devices
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.has_accepted_identifiers())
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(hh: &str, pk: &str, sn: &str, mfr: &str, model: &str) -> DeviceSubmission {
        let f = |s: &str| present(Some(s.to_owned()));
        DeviceSubmission {
            hardware_hash: f(hh),
            product_key: f(pk),
            serial_number: f(sn),
            oem_manufacturer_name: f(mfr),
            model_name: f(model),
        }
    }

    #[test]
    fn each_documented_combination_is_accepted() {
        for d in [
            device("H", "P", "", "", ""),
            device("H", "", "S", "", ""),
            device("H", "P", "S", "", ""),
            device("H", "", "", "", ""),
            device("", "P", "", "", ""),
            device("", "", "S", "M", "N"),
        ] {
            assert!(d.has_accepted_identifiers(), "{d:?}");
        }
    }

    #[test]
    fn partial_tuples_and_blank_fields_are_rejected() {
        for d in [
            device("", "", "", "", ""),
            device("", "", "S", "", ""),
            device("", "", "S", "M", ""),
            device("", "", "", "M", "N"),
            device("  ", " ", "S", "M", ""),
        ] {
            assert!(!d.has_accepted_identifiers(), "{d:?}");
        }
        let devices = [device("H", "", "", "", ""), device("", "", "S", "", "")];
        assert_eq!(devices_without_identifiers(&devices), vec![1]);
    }

    #[test]
    fn identity_prefers_hash_then_product_key_then_tuple() {
        let a = device("HASH-A", "PK", "S", "M", "N");
        let b = device("HASH-B", "PK", "S", "M", "N");
        // The seed examples reuse one product key across devices with different hashes.
        assert_ne!(a.identity(), b.identity());
        assert_eq!(
            device("", "PK", "S", "M", "N").identity(),
            Some(Identity::ProductKey("PK".into()))
        );
        assert_eq!(
            device("", "", "S", "M", "N").identity(),
            Some(Identity::Tuple {
                serial_number: "S".into(),
                manufacturer: "M".into(),
                model: "N".into()
            })
        );
        assert_ne!(
            device("", "", "S", "M", "N").identity(),
            device("", "", "s", "M", "N").identity()
        );
    }

    #[test]
    fn strict_hash_check_wants_non_empty_base64() {
        assert!(device("AAEC", "", "", "", "").hardware_hash_is_valid());
        assert!(!device("DummyHash12345", "", "", "", "").hardware_hash_is_valid());
        assert!(!device("not base64!", "", "", "", "").hardware_hash_is_valid());
        assert!(device("", "P", "", "", "").hardware_hash_is_valid());
    }
}
