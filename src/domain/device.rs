//! A device as a partner submits it: the one place its rules live (blank means absent, the
//! field length limit, hash trimming, the accepted identifier combinations and the identity
//! used to spot re-registration). Both request decoders and the document loader go through
//! [`DeviceSubmission::parse`]; nothing else can make a submission.
//!
//! Size: ~350 lines of code and ~160 of tests, kept in one file on purpose: it is the one place
//! the device rules live.

use std::sync::Arc;

use base64::Engine as _;
use xxhash_rust::xxh3::xxh3_128;

/// A hardware hash as the registry needs it: its digest and whether it could be a real
/// Autopilot hash. The hash itself (~4 KB) is dropped as soon as it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardwareHash {
    pub identity: Identity,
    /// Base64 whose decoded length is within [`PLAUSIBLE_HASH_BYTES`] (`--strict-hardware-hash`).
    pub plausible: bool,
}

/// The decoded sizes a real Autopilot ("4K") hardware hash has, with room on both sides.
///
/// EMULATOR: Microsoft publishes no bounds. What is public: Microsoft calls it the "4K hardware
/// hash"; oofhours.com's 2019 walkthrough of device registration says that for 802
/// `InvalidZtdHardwareHash` "the hardware hash should be exactly 4,096 characters (4K) long", and
/// its 2022 "Breaking down the Windows Autopilot hardware hash" decodes "a 4000-byte hash" (base64
/// text, so about 3,000 bytes decoded). 4,096 base64 characters are 3,072 bytes; 1 KiB to 8 KiB
/// takes every real hash (a third of that size up to twice the "4K" name) and refuses the short
/// placeholders (`DummyHash123`, `AAEC`) that a real registration would refuse too.
pub const PLAUSIBLE_HASH_BYTES: std::ops::RangeInclusive<usize> = 1024..=8192;

impl HardwareHash {
    /// The hash in `text`, trimmed; `None` when it is blank (a blank hash is an absent one).
    pub fn parse(text: &str) -> Option<Self> {
        let hash = text.trim();
        (!hash.is_empty()).then(|| Self {
            identity: Identity::of_hardware_hash(hash),
            plausible: is_plausible_hash(hash),
        })
    }

    /// A hash known only by its digest, as exports carry it. It was checked when first read.
    pub fn from_digest(identity: Identity) -> Self {
        Self {
            identity,
            plausible: true,
        }
    }
}

fn is_plausible_hash(hash: &str) -> bool {
    // The decoded length follows from the text's: refuse far-off sizes before decoding.
    let max_chars = PLAUSIBLE_HASH_BYTES.end().div_ceil(3) * 4;
    hash.len() <= max_chars
        && base64::engine::general_purpose::STANDARD
            .decode(hash)
            .is_ok_and(|bytes| PLAUSIBLE_HASH_BYTES.contains(&bytes.len()))
}

/// Longest serial number, product key, manufacturer or model accepted.
// EMULATOR: Partner Center documents no limits; SMBIOS strings and product keys are far shorter.
pub const MAX_FIELD_CHARS: usize = 1024;

/// A serial number, product key, manufacturer or model: non-blank text of at most
/// [`MAX_FIELD_CHARS`] characters. Kept as given (untrimmed): tuples must match SMBIOS exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceField(Box<str>);

impl DeviceField {
    /// The field named `name` (its wire name, for the error): `None` when absent or blank,
    /// because the identifier rules count a field as present only when it holds text.
    pub fn parse(name: &'static str, value: Option<&str>) -> Result<Option<Self>, DeviceProblem> {
        Ok(checked(name, value)?.map(|text| Self(Box::from(text))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The field's text when present: `None` when absent or blank, an error past the length limit.
fn checked<'a>(
    name: &'static str,
    value: Option<&'a str>,
) -> Result<Option<&'a str>, DeviceProblem> {
    let Some(text) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    // No more bytes than the limit means no more characters: only longer text is counted.
    if text.len() > MAX_FIELD_CHARS {
        let chars = text.chars().count();
        if chars > MAX_FIELD_CHARS {
            return Err(DeviceProblem::TooLong { field: name, chars });
        }
    }
    Ok(Some(text))
}

/// Why fields do not make a device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceProblem {
    /// `field` is the wire name (`serialNumber`), for the caller to place in its path.
    #[error("must be at most {MAX_FIELD_CHARS} characters (got {chars}).")]
    TooLong { field: &'static str, chars: usize },
    #[error("carries none of the accepted identifier combinations: {}.", ACCEPTED_COMBINATIONS.join("; "))]
    NoIdentifiers,
}

/// A device's identifier fields as a client or a document gives them, before any rule applies.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawDevice<'a> {
    /// Already read with [`HardwareHash::parse`] (or [`HardwareHash::from_digest`]).
    pub hardware_hash: Option<HardwareHash>,
    pub product_key: Option<&'a str>,
    pub serial_number: Option<&'a str>,
    pub oem_manufacturer_name: Option<&'a str>,
    pub model_name: Option<&'a str>,
}

/// The identifier fields of one well-formed device: every field is within [`MAX_FIELD_CHARS`], and
/// its identity is known when it carries one of [`ACCEPTED_COMBINATIONS`]. An upload accepts a
/// device without one and fails it alone in the job (803, `domain/upload.rs`); the document loader
/// cannot register it ([`DeviceSubmission::registrable_identity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSubmission {
    hardware_hash: Option<HardwareHash>,
    /// Packed as the registry stores it: a submission makes one allocation for its text.
    text: DeviceText,
    identity: Option<Identity>,
}

/// The four descriptive fields, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextFields {
    pub serial_number: Option<DeviceField>,
    pub product_key: Option<DeviceField>,
    pub oem_manufacturer_name: Option<DeviceField>,
    pub model_name: Option<DeviceField>,
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
        // Joined on the stack when short (every product key and most tuples): an upload digests
        // each device, and a heap buffer was an allocation a device.
        let mut stack = [0u8; 256];
        let mut heap = Vec::new();
        let len = parts.iter().map(|p| p.len() + 1).sum();
        let bytes = match stack.get_mut(..len) {
            Some(bytes) => bytes,
            None => {
                heap.resize(len, 0);
                &mut heap[..]
            }
        };
        let mut at = 0;
        for part in parts {
            let end = at + part.len();
            bytes[at..end].copy_from_slice(part.as_bytes());
            bytes[end] = 0;
            at = end + 1;
        }
        Self(xxh3_128(bytes).to_le_bytes())
    }

    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.trim();
        if hex.len() != 32 || !hex.is_ascii() {
            return None;
        }
        // Digit by digit: a restore reads a million digests, and `from_str_radix` on each pair
        // was most of the time spent on them (and took a sign, `+f`, for a digit).
        fn digit(b: u8) -> Option<u8> {
            match b {
                b'0'..=b'9' => Some(b - b'0'),
                b'a'..=b'f' => Some(b - b'a' + 10),
                b'A'..=b'F' => Some(b - b'A' + 10),
                _ => None,
            }
        }
        let mut out = [0u8; 16];
        for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            *byte = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Some(Self(out))
    }
}

/// The identity rule, the only copy: the hash's identity when there is one, else the product
/// key's, else the tuple's; `None` when the fields carry none of [`ACCEPTED_COMBINATIONS`]
/// (every combination with a hash is satisfied by the hash alone).
fn identity_of(hash: Option<&HardwareHash>, text: TextRef<'_>) -> Option<Identity> {
    if let Some(hash) = hash {
        return Some(hash.identity);
    }
    if let Some(key) = text.product_key {
        return Some(Identity::tagged(&["productKey", key.trim()]));
    }
    match (
        text.serial_number,
        text.oem_manufacturer_name,
        text.model_name,
    ) {
        // Tuple registration is case sensitive (values must match SMBIOS exactly).
        (Some(s), Some(m), Some(n)) => Some(Identity::tagged(&["tuple", s, m, n])),
        _ => None,
    }
}

/// The four descriptive fields, borrowed and by name, wherever they are stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct TextRef<'a> {
    serial_number: Option<&'a str>,
    product_key: Option<&'a str>,
    oem_manufacturer_name: Option<&'a str>,
    model_name: Option<&'a str>,
}

impl TextFields {
    fn borrowed(&self) -> TextRef<'_> {
        TextRef {
            serial_number: self.serial_number.as_ref().map(DeviceField::as_str),
            product_key: self.product_key.as_ref().map(DeviceField::as_str),
            oem_manufacturer_name: self.oem_manufacturer_name.as_ref().map(DeviceField::as_str),
            model_name: self.model_name.as_ref().map(DeviceField::as_str),
        }
    }
}

impl DeviceSubmission {
    /// The only way to make a submission. Fields are checked in the order
    /// `productKey, serialNumber, oemManufacturerName, modelName`; the combinations give the
    /// identity (none when the device carries none of them).
    pub fn parse(raw: RawDevice<'_>) -> Result<Self, DeviceProblem> {
        let text = TextRef {
            product_key: checked("productKey", raw.product_key)?,
            serial_number: checked("serialNumber", raw.serial_number)?,
            oem_manufacturer_name: checked("oemManufacturerName", raw.oem_manufacturer_name)?,
            model_name: checked("modelName", raw.model_name)?,
        };
        Ok(Self {
            hardware_hash: raw.hardware_hash,
            identity: identity_of(raw.hardware_hash.as_ref(), text),
            text: DeviceText::pack(text),
        })
    }

    pub fn hardware_hash(&self) -> Option<&HardwareHash> {
        self.hardware_hash.as_ref()
    }

    pub fn fields(&self) -> &DeviceText {
        &self.text
    }

    /// What makes this device the same as another upload of it; `None` when it carries none of
    /// [`ACCEPTED_COMBINATIONS`] (an upload fails it with 803).
    pub fn identity(&self) -> Option<Identity> {
        self.identity
    }

    /// The identity of a device that is to be registered as it stands (a seeded one), which must
    /// carry an accepted combination.
    pub fn registrable_identity(&self) -> Result<Identity, DeviceProblem> {
        self.identity.ok_or(DeviceProblem::NoIdentifiers)
    }

    /// The descriptive fields, packed.
    pub fn text(&self) -> DeviceText {
        self.text.clone()
    }

    pub fn into_text(self) -> DeviceText {
        self.text
    }

    /// Whether the hardware hash (if any) could be a real one, for `--strict-hardware-hash`.
    pub fn hardware_hash_is_valid(&self) -> bool {
        self.hardware_hash.is_none_or(|h| h.plausible)
    }

    /// Every identity an OEM registry could know this device by: its hash's, its product key's
    /// and its serial/manufacturer/model tuple's, whichever it carries.
    pub fn oem_keys(&self) -> impl Iterator<Item = Identity> + '_ {
        let text = self.text.borrowed();
        let hash = self.hardware_hash.map(|h| h.identity);
        let key = text.product_key.and_then(|k| {
            identity_of(
                None,
                TextRef {
                    product_key: Some(k),
                    ..TextRef::default()
                },
            )
        });
        let tuple = identity_of(
            None,
            TextRef {
                product_key: None,
                ..text
            },
        );
        [hash, key, tuple].into_iter().flatten()
    }

    /// Whether the device is identified by its serial/manufacturer/model tuple alone (no hash,
    /// no product key): the registration that needs the OEM to have registered the device.
    pub fn is_tuple_only(&self) -> bool {
        self.hardware_hash.is_none() && self.text.product_key().is_none() && self.identity.is_some()
    }
}

/// A device's descriptive fields (serial number, product key, manufacturer, model) packed into
/// one shared allocation: a registered device and the job lines that echo it share one copy.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct DeviceText {
    /// A header of four `char`s (the mask of present fields, then the end offsets of the first
    /// three fields in the text after it), then the fields; `None` when no field is present.
    /// The header lives in the allocation rather than beside the pointer, so a `DeviceText` is
    /// one pointer wide (16 bytes, not 24): a million devices and their job lines carry one each.
    text: Option<Arc<str>>,
}

// Four fields of MAX_FIELD_CHARS characters of at most 4 bytes give offsets below the surrogate
// range, so each is one `char` of the header: a `DeviceText` cannot truncate, because it is
// only made from fields that passed `checked` (a `DeviceField`, or a submission's text).
const _: () = assert!(4 * MAX_FIELD_CHARS * 4 < 0xD800);

thread_local! {
    /// At most four fields of [`MAX_FIELD_CHARS`] characters: 16 KiB a thread at worst.
    static PACK_BUFFER: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl DeviceText {
    pub fn new(fields: &TextFields) -> Self {
        Self::pack(fields.borrowed())
    }

    /// Packs checked fields (each within [`MAX_FIELD_CHARS`]).
    fn pack(fields: TextRef<'_>) -> Self {
        let TextRef {
            serial_number,
            product_key,
            oem_manufacturer_name,
            model_name,
        } = fields;
        let fields = [
            serial_number,
            product_key,
            oem_manufacturer_name,
            model_name,
        ];
        // The header first (from the fields' lengths), then the fields: one allocation.
        let mut header = [0u32; 4];
        let mut len = 0usize;
        for (i, field) in fields.iter().enumerate() {
            if let Some(f) = field {
                header[0] |= 1 << i;
                len += f.len();
            }
            if i < 3 {
                header[i + 1] = u32::try_from(len).unwrap_or(u32::MAX);
            }
        }
        if header[0] == 0 {
            return Self::default();
        }
        // Built in the thread's scratch buffer, then copied once into the shared allocation:
        // building a `String` to convert would allocate twice a device.
        PACK_BUFFER.with_borrow_mut(|text| {
            text.clear();
            text.extend(header.iter().map(|v| char::from_u32(*v).unwrap_or('\0')));
            for f in fields.into_iter().flatten() {
                text.push_str(f);
            }
            Self {
                text: Some(Arc::from(text.as_str())),
            }
        })
    }

    fn field(&self, i: usize) -> Option<&str> {
        let text = self.text.as_deref()?;
        let mut chars = text.chars();
        let mut header = [0usize; 4];
        for v in &mut header {
            *v = chars.next().map_or(0, |c| c as usize);
        }
        if header[0] & (1 << i) == 0 {
            return None;
        }
        let body = chars.as_str();
        let start = if i == 0 { 0 } else { header[i] };
        let end = if i == 3 { body.len() } else { header[i + 1] };
        body.get(start..end)
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

    fn borrowed(&self) -> TextRef<'_> {
        TextRef {
            serial_number: self.serial_number(),
            product_key: self.product_key(),
            oem_manufacturer_name: self.oem_manufacturer_name(),
            model_name: self.model_name(),
        }
    }

    /// The identity these fields give without a hardware hash: an export tells a hashed foreign
    /// device from the others by comparing it with the identity it holds.
    pub fn identity_without_hash(&self) -> Option<Identity> {
        identity_of(None, self.borrowed())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn device(
        hh: &str,
        pk: &str,
        sn: &str,
        mfr: &str,
        model: &str,
    ) -> Result<DeviceSubmission, DeviceProblem> {
        DeviceSubmission::parse(RawDevice {
            hardware_hash: HardwareHash::parse(hh),
            product_key: Some(pk),
            serial_number: Some(sn),
            oem_manufacturer_name: Some(mfr),
            model_name: Some(model),
        })
    }

    fn ok(hh: &str, pk: &str, sn: &str, mfr: &str, model: &str) -> DeviceSubmission {
        device(hh, pk, sn, mfr, model).unwrap()
    }

    #[test]
    fn each_documented_combination_is_accepted() {
        for (hh, pk, sn, mfr, model) in [
            ("H", "P", "", "", ""),
            ("H", "", "S", "", ""),
            ("H", "P", "S", "", ""),
            ("H", "", "", "", ""),
            ("", "P", "", "", ""),
            ("", "", "S", "M", "N"),
        ] {
            assert!(
                device(hh, pk, sn, mfr, model).is_ok(),
                "{hh} {pk} {sn} {mfr} {model}"
            );
        }
    }

    #[test]
    fn partial_tuples_and_blank_fields_are_rejected() {
        for (hh, pk, sn, mfr, model) in [
            ("", "", "", "", ""),
            ("", "", "S", "", ""),
            ("", "", "S", "M", ""),
            ("", "", "", "M", "N"),
            ("  ", " ", "S", "M", ""),
        ] {
            let d = device(hh, pk, sn, mfr, model).expect("well-formed");
            assert_eq!(d.identity(), None, "{hh:?} {pk:?} {sn:?} {mfr:?} {model:?}");
            assert_eq!(d.registrable_identity(), Err(DeviceProblem::NoIdentifiers));
        }
    }

    #[test]
    fn blank_fields_are_absent_and_given_ones_kept_as_given() {
        let d = ok(" AAEC ", " PK ", "  ", "", "N");
        assert_eq!(d.hardware_hash(), HardwareHash::parse("AAEC").as_ref());
        let text = d.text();
        assert_eq!(text.product_key(), Some(" PK "));
        assert_eq!(text.serial_number(), None);
        assert_eq!(text.oem_manufacturer_name(), None);
        assert_eq!(text.model_name(), Some("N"));
        assert_eq!(HardwareHash::parse(" \t"), None);
    }

    #[test]
    fn fields_are_bounded_and_the_first_too_long_one_is_named() {
        let at_limit = "é".repeat(MAX_FIELD_CHARS);
        let d = ok("", &at_limit, &at_limit, &at_limit, &at_limit);
        assert_eq!(d.text().model_name(), Some(at_limit.as_str()));
        assert_eq!(d.text().product_key(), Some(at_limit.as_str()));
        let long = "x".repeat(MAX_FIELD_CHARS + 1);
        assert_eq!(
            device("H", "P", &long, "", &long),
            Err(DeviceProblem::TooLong {
                field: "serialNumber",
                chars: MAX_FIELD_CHARS + 1
            })
        );
        // A hash is only digested, never kept: its length is bounded by --max-body alone.
        assert!(device(&"h".repeat(10_000), "", "", "", "").is_ok());
    }

    #[test]
    fn identity_prefers_hash_then_product_key_then_tuple() {
        let a = ok("HASH-A", "PK", "S", "M", "N");
        let b = ok("HASH-B", "PK", "S", "M", "N");
        // The seed examples reuse one product key across devices with different hashes.
        assert_ne!(a.identity(), b.identity());
        assert_eq!(a.identity(), Some(Identity::of_hardware_hash("HASH-A")));
        assert_eq!(
            ok("", "PK", "S", "M", "N").identity(),
            ok("", "PK", "", "", "").identity()
        );
        assert_ne!(
            ok("", "PK", "", "", "").identity(),
            ok("PK", "", "", "", "").identity()
        );
        assert_eq!(
            ok("", "", "S", "M", "N").identity(),
            ok("", "", "S", "M", "N").identity()
        );
        assert_ne!(
            ok("", "", "S", "M", "N").identity(),
            ok("", "", "s", "M", "N").identity()
        );
        assert_ne!(
            ok("", "", "SM", "N", "X").identity(),
            ok("", "", "S", "MN", "X").identity()
        );
        // The packed text gives the same identity when there is no hash.
        let tuple = ok("", "", "S", "M", "N");
        assert_eq!(tuple.text().identity_without_hash(), tuple.identity());
        assert_ne!(a.text().identity_without_hash(), a.identity());
    }

    #[test]
    fn identities_print_and_read_back_as_hex() {
        let id = Identity::of_hardware_hash("AAEC");
        assert_eq!(Identity::from_hex(&id.hex()), Some(id));
        assert_eq!(Identity::from_hex(&id.hex().to_uppercase()), Some(id));
        assert_eq!(Identity::from_hex("xyz"), None);
        // 32 characters, but not 32 hex digits: a sign, a space, a letter past `f`.
        for bad in ["+f", " f", "0g"] {
            let hex = format!("{bad}{}", &id.hex()[2..]);
            assert_eq!(Identity::from_hex(&hex), None, "{hex}");
        }
    }

    #[test]
    fn packed_text_gives_back_each_field() {
        type Fields = (
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        );
        let cases: [(DeviceSubmission, Fields); 2] = [
            (
                ok("H", "", "S", "", "Model"),
                (Some("S"), None, None, Some("Model")),
            ),
            (
                ok("", "K", "", "Maker", ""),
                (None, Some("K"), Some("Maker"), None),
            ),
        ];
        for (device, expected) in cases {
            let t = device.text();
            let got = (
                t.serial_number(),
                t.product_key(),
                t.oem_manufacturer_name(),
                t.model_name(),
            );
            assert_eq!(got, expected);
        }
        assert_eq!(DeviceText::default().serial_number(), None);
        // The longest fields, of multi-byte characters: offsets past a one-byte `char`.
        let long = |c: char| c.to_string().repeat(MAX_FIELD_CHARS);
        let (sn, pk, mfr, model) = (long('€'), long('k'), long('😀'), long('é'));
        let t = ok("", &pk, &sn, &mfr, &model).text();
        assert_eq!(t.serial_number(), Some(sn.as_str()));
        assert_eq!(t.product_key(), Some(pk.as_str()));
        assert_eq!(t.oem_manufacturer_name(), Some(mfr.as_str()));
        assert_eq!(t.model_name(), Some(model.as_str()));
        let t = ok("H", "", "", "", "").text();
        assert_eq!(t, DeviceText::default());
        // One pointer wide: every registered device and job line carries one.
        assert_eq!(std::mem::size_of::<DeviceText>(), 16);
    }

    fn base64_of(bytes: usize) -> String {
        base64::engine::general_purpose::STANDARD.encode(vec![0x4f_u8; bytes])
    }

    #[test]
    fn strict_hash_check_wants_base64_of_a_real_hash_size() {
        let plausible = |h: &str| ok(h, "", "", "", "").hardware_hash_is_valid();
        assert!(plausible(&base64_of(1024)));
        assert!(plausible(&base64_of(3072)));
        assert!(plausible(&base64_of(8192)));
        assert!(!plausible(&base64_of(1023)));
        assert!(!plausible(&base64_of(8193)));
        assert!(!plausible("AAEC"));
        assert!(!plausible("DummyHash12345"));
        assert!(!plausible(&format!("{}!", base64_of(3072))));
        assert!(ok("", "P", "", "", "").hardware_hash_is_valid());
        assert!(HardwareHash::from_digest(Identity([7; 16])).plausible);
    }

    #[test]
    fn oem_keys_are_every_identity_the_device_carries() {
        let tuple = ok("", "", "S", "M", "N");
        assert!(tuple.is_tuple_only());
        assert_eq!(
            tuple.oem_keys().collect::<Vec<_>>(),
            [tuple.identity().unwrap()]
        );
        let all = ok("AAEC", "K", "S", "M", "N");
        assert!(!all.is_tuple_only());
        let keys: Vec<_> = all.oem_keys().collect();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0], all.identity().unwrap());
        assert_eq!(keys[1], ok("", "K", "", "", "").identity().unwrap());
        assert_eq!(keys[2], tuple.identity().unwrap());
    }
}
