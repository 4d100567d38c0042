//! The registry rules that decide, at acceptance, what each uploaded device's outcome will be.

use std::collections::HashSet;

use super::device::{DeviceSubmission, Identity};
use super::ids::CustomerId;
use super::job::DeviceError;
use super::registry::{OemFacts, oem_check};

/// What the registry will do with one device of an accepted upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Register the device under this identity.
    Register(Identity),
    /// Report this failure in `devicesStatus`.
    Fail(DeviceError),
}

/// Decides every device's outcome against the devices registered before this upload.
///
/// `owner_of` answers which customer (tenant) holds an identity now; `oem` what the seeded OEM
/// registry knows of a device, and whether any device is seeded in it. Checks run in the order a
/// partner would want them reported: a malformed hash first (it cannot be matched at all), then a
/// repeat inside this upload (the first occurrence wins), then registration to a tenant, then
/// the OEM registry (814, 807). A device without an accepted identifier combination fails with
/// 803.
pub fn decide(
    customer: CustomerId,
    devices: &[DeviceSubmission],
    strict_hardware_hash: bool,
    owner_of: impl Fn(&Identity) -> Option<CustomerId>,
    oem: (bool, impl Fn(&DeviceSubmission) -> Option<OemFacts>),
) -> Vec<Decision> {
    let (oem_seeded, oem_of) = oem;
    let mut seen = HashSet::with_capacity(devices.len());
    devices
        .iter()
        .map(|device| {
            if strict_hardware_hash && !device.hardware_hash_is_valid() {
                return Decision::Fail(DeviceError::InvalidHardwareHash);
            }
            let Some(identity) = device.identity() else {
                return Decision::Fail(DeviceError::MissingIdentifiers);
            };
            if !seen.insert(identity) {
                return Decision::Fail(DeviceError::Duplicated);
            }
            match owner_of(&identity) {
                // An empty registry is never asked: it costs the hot path nothing.
                None => match oem_check(
                    device.is_tuple_only(),
                    oem_seeded,
                    oem_seeded.then(|| oem_of(device)).flatten(),
                ) {
                    Ok(()) => Decision::Register(identity),
                    Err(e) => Decision::Fail(e),
                },
                Some(owner) if owner == customer => Decision::Fail(DeviceError::AlreadyAssigned),
                Some(_) => Decision::Fail(DeviceError::AssignedToOtherTenant),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::device::{HardwareHash, RawDevice};
    use base64::Engine as _;
    use uuid::Uuid;

    fn hash_only(h: &str) -> DeviceSubmission {
        DeviceSubmission::parse(RawDevice {
            hardware_hash: HardwareHash::parse(h),
            ..RawDevice::default()
        })
        .expect("a hash alone is an accepted combination")
    }

    fn customer(n: u128) -> CustomerId {
        Uuid::from_u128(n).into()
    }

    /// No OEM registry seeded.
    const NO_OEM: (bool, fn(&DeviceSubmission) -> Option<OemFacts>) = (false, |_| None);

    fn tuple(serial: &str) -> DeviceSubmission {
        DeviceSubmission::parse(RawDevice {
            serial_number: Some(serial),
            oem_manufacturer_name: Some("M"),
            model_name: Some("N"),
            ..RawDevice::default()
        })
        .expect("a tuple is an accepted combination")
    }

    #[test]
    fn a_seeded_oem_registry_refuses_unknown_tuples_and_aad_registered_devices() {
        let devices = [
            tuple("KNOWN"),
            tuple("AAD"),
            tuple("UNKNOWN"),
            hash_only("AAAA"),
        ];
        let oem_of = |d: &DeviceSubmission| match d.fields().serial_number.as_ref()?.as_str() {
            "KNOWN" => Some(OemFacts {
                aad_registered: false,
            }),
            "AAD" => Some(OemFacts {
                aad_registered: true,
            }),
            _ => None,
        };
        let decisions = decide(customer(1), &devices, false, |_| None, (true, oem_of));
        assert!(matches!(decisions[0], Decision::Register(_)));
        assert_eq!(
            decisions[1],
            Decision::Fail(DeviceError::AlreadyAadRegistered)
        );
        assert_eq!(decisions[2], Decision::Fail(DeviceError::NotRegistered));
        assert!(matches!(decisions[3], Decision::Register(_)));
        let permissive = decide(customer(1), &devices[2..], false, |_| None, NO_OEM);
        assert!(
            permissive
                .iter()
                .all(|d| matches!(d, Decision::Register(_)))
        );
    }

    #[test]
    fn new_devices_register_and_known_ones_fail_with_806_or_808() {
        let (me, other) = (customer(1), customer(2));
        let mine = hash_only("AAAA").identity().unwrap();
        let theirs = hash_only("BBBB").identity().unwrap();
        let owner_of = |i: &Identity| {
            if *i == mine {
                Some(me)
            } else if *i == theirs {
                Some(other)
            } else {
                None
            }
        };
        let devices = [hash_only("AAAA"), hash_only("BBBB"), hash_only("CCCC")];
        let decisions = decide(me, &devices, false, owner_of, NO_OEM);
        assert_eq!(decisions[0], Decision::Fail(DeviceError::AlreadyAssigned));
        assert_eq!(
            decisions[1],
            Decision::Fail(DeviceError::AssignedToOtherTenant)
        );
        assert!(matches!(decisions[2], Decision::Register(_)));
    }

    #[test]
    fn a_repeat_within_one_upload_fails_and_the_first_wins() {
        let devices = [hash_only("AAAA"), hash_only("BBBB"), hash_only("AAAA")];
        let decisions = decide(customer(1), &devices, false, |_| None, NO_OEM);
        assert!(matches!(decisions[0], Decision::Register(_)));
        assert!(matches!(decisions[1], Decision::Register(_)));
        assert_eq!(decisions[2], Decision::Fail(DeviceError::Duplicated));
    }

    #[test]
    fn strict_mode_fails_malformed_hashes_only() {
        let real = base64::engine::general_purpose::STANDARD.encode([7u8; 3072]);
        let devices = [hash_only("DummyHash12345"), hash_only(&real)];
        let lax = decide(customer(1), &devices, false, |_| None, NO_OEM);
        assert!(lax.iter().all(|d| matches!(d, Decision::Register(_))));
        let strict = decide(customer(1), &devices, true, |_| None, NO_OEM);
        assert_eq!(strict[0], Decision::Fail(DeviceError::InvalidHardwareHash));
        assert!(matches!(strict[1], Decision::Register(_)));
    }
}
