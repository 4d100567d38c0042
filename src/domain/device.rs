//! A device as a partner submits it: identifier rules and the identity used to spot re-registration.

use std::sync::Arc;

use base64::Engine as _;
use xxhash_rust::xxh3::xxh3_128;

/// A hardware hash as the registry needs it: its digest and whether it was valid base64. The
/// hash itself (~4 KB) is dropped as soon as it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardwareHash {
    pub identity: Identity,
    pub valid_base64: bool,
}

impl HardwareHash {
    pub fn of(hash: &str) -> Self {
        let hash = hash.trim();
        Self {
            identity: Identity::of_hardware_hash(hash),
            valid_base64: base64::engine::general_purpose::STANDARD
                .decode(hash)
                .is_ok_and(|bytes| !bytes.is_empty()),
        }
    }
}

/// The identifier fields of one uploaded device. Blank strings are stored as absent, because the
/// identifier rules count a field as present only when it holds text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceSubmission {
    pub hardware_hash: Option<HardwareHash>,
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

/// What makes two uploads the same physical device: a 128-bit digest of the hardware hash when
/// there is one, else of the product key, else of the serial/manufacturer/model tuple.
///
/// Only the digest is kept: the API never returns hashes, a 4K hash is ~4 KB, and a fixed-size
/// key keeps the registry of a million devices small. Each kind is digested with its own tag, so
/// a product key can never collide with a hash of the same text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity(pub [u8; 16]);

impl Identity {
    /// The digest of a hardware hash: what exports carry as `hardwareHashDigest`.
    pub fn of_hardware_hash(hash: &str) -> Self {
        Self(xxh3_128(hash.trim().as_bytes()).to_le_bytes())
    }

    fn tagged(parts: &[&str]) -> Self {
        let mut bytes = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
        for part in parts {
            bytes.extend_from_slice(part.as_bytes());
            bytes.push(0);
        }
        Self(xxh3_128(&bytes).to_le_bytes())
    }

    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.trim();
        if hex.len() != 32 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }
}

/// A device's descriptive fields (serial number, product key, manufacturer, model) packed into
/// one shared allocation: a registered device and the job lines that echo it share one copy.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct DeviceText {
    text: Option<Arc<str>>,
    /// End offsets of the first three fields; the fourth runs to the end.
    ends: [u16; 3],
    /// Bit i set: field i is present.
    present: u8,
}

/// Longest serial number, product key, manufacturer or model accepted.
// EMULATOR: Partner Center documents no limits; SMBIOS strings and product keys are far shorter.
pub const MAX_FIELD_CHARS: usize = 1024;

impl DeviceText {
    /// Packs the fields; each must be at most [`MAX_FIELD_CHARS`] characters (callers validate).
    pub fn new(fields: [Option<&str>; 4]) -> Self {
        let mut text = String::new();
        let mut ends = [0u16; 3];
        let mut present = 0u8;
        for (i, field) in fields.iter().enumerate() {
            if let Some(f) = field {
                present |= 1 << i;
                text.push_str(f);
            }
            if i < 3 {
                ends[i] = u16::try_from(text.len()).unwrap_or(u16::MAX);
            }
        }
        Self {
            text: (!text.is_empty() || present != 0).then(|| Arc::from(text)),
            ends,
            present,
        }
    }

    fn field(&self, i: usize) -> Option<&str> {
        if self.present & (1 << i) == 0 {
            return None;
        }
        let text = self.text.as_deref().unwrap_or("");
        let start = if i == 0 {
            0
        } else {
            usize::from(self.ends[i - 1])
        };
        let end = if i == 3 {
            text.len()
        } else {
            usize::from(self.ends[i])
        };
        text.get(start..end)
    }

    pub fn serial_number(&self) -> Option<&str> {
        self.field(0)
    }

    pub fn product_key(&self) -> Option<&str> {
        self.field(1)
    }

    pub fn oem_manufacturer_name(&self) -> Option<&str> {
        self.field(2)
    }

    pub fn model_name(&self) -> Option<&str> {
        self.field(3)
    }
}

impl std::fmt::Debug for DeviceText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceText")
            .field("serial_number", &self.serial_number())
            .field("product_key", &self.product_key())
            .field("oem_manufacturer_name", &self.oem_manufacturer_name())
            .field("model_name", &self.model_name())
            .finish()
    }
}

/// The identity of a device with these (present) fields: the hash's when there is one, else the
/// product key's, else the tuple's.
pub fn identity_of(
    hash: Option<Identity>,
    product_key: Option<&str>,
    serial_number: Option<&str>,
    manufacturer: Option<&str>,
    model: Option<&str>,
) -> Option<Identity> {
    if hash.is_some() {
        return hash;
    }
    if let Some(key) = product_key {
        return Some(Identity::tagged(&["productKey", key.trim()]));
    }
    match (serial_number, manufacturer, model) {
        // Tuple registration is case sensitive (values must match SMBIOS exactly).
        (Some(s), Some(m), Some(n)) => Some(Identity::tagged(&["tuple", s, m, n])),
        _ => None,
    }
}

/// A borrowed value, only when it has non-blank text.
pub fn present_str(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
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
            return Some(hash.identity);
        }
        if let Some(key) = &self.product_key {
            return Some(Identity::tagged(&["productKey", key.trim()]));
        }
        match (
            &self.serial_number,
            &self.oem_manufacturer_name,
            &self.model_name,
        ) {
            // Tuple registration is case sensitive (values must match SMBIOS exactly).
            (Some(s), Some(m), Some(n)) => Some(Identity::tagged(&["tuple", s, m, n])),
            _ => None,
        }
    }

    /// The descriptive fields, packed.
    pub fn text(&self) -> DeviceText {
        DeviceText::new([
            self.serial_number.as_deref(),
            self.product_key.as_deref(),
            self.oem_manufacturer_name.as_deref(),
            self.model_name.as_deref(),
        ])
    }

    /// Whether the hardware hash (if any) is well-formed base64, for `--strict-hardware-hash`.
    pub fn hardware_hash_is_valid(&self) -> bool {
        self.hardware_hash.is_none_or(|h| h.valid_base64)
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
            hardware_hash: f(hh).map(|h| HardwareHash::of(&h)),
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
        assert_eq!(a.identity(), Some(Identity::of_hardware_hash("HASH-A")));
        assert_eq!(
            device("", "PK", "S", "M", "N").identity(),
            device("", "PK", "", "", "").identity()
        );
        assert_ne!(
            device("", "PK", "", "", "").identity(),
            device("PK", "", "", "", "").identity()
        );
        assert_eq!(
            device("", "", "S", "M", "N").identity(),
            device("", "", "S", "M", "N").identity()
        );
        assert_ne!(
            device("", "", "S", "M", "N").identity(),
            device("", "", "s", "M", "N").identity()
        );
        assert_ne!(
            device("", "", "SM", "N", "X").identity(),
            device("", "", "S", "MN", "X").identity()
        );
    }

    #[test]
    fn identities_print_and_read_back_as_hex() {
        let id = Identity::of_hardware_hash("AAEC");
        assert_eq!(Identity::from_hex(&id.hex()), Some(id));
        assert_eq!(Identity::from_hex("xyz"), None);
    }

    #[test]
    fn packed_text_gives_back_each_field() {
        let t = DeviceText::new([Some("S"), None, Some(""), Some("Model")]);
        assert_eq!(
            (
                t.serial_number(),
                t.product_key(),
                t.oem_manufacturer_name(),
                t.model_name()
            ),
            (Some("S"), None, Some(""), Some("Model"))
        );
        assert_eq!(DeviceText::default().serial_number(), None);
    }

    #[test]
    fn strict_hash_check_wants_non_empty_base64() {
        assert!(device("AAEC", "", "", "", "").hardware_hash_is_valid());
        assert!(!device("DummyHash12345", "", "", "", "").hardware_hash_is_valid());
        assert!(!device("not base64!", "", "", "", "").hardware_hash_is_valid());
        assert!(device("", "P", "", "", "").hardware_hash_is_valid());
    }
}
