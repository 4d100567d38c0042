//! The registry rules that decide, at acceptance, what each uploaded device's outcome will be.

use std::collections::HashSet;

use super::device::{DeviceSubmission, Identity};
use super::ids::CustomerId;
use super::job::DeviceError;

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
/// `owner_of` answers which customer (tenant) holds an identity now. Checks run in the order a
/// partner would want them reported: a malformed hash first (it cannot be matched at all), then a
/// repeat inside this upload (the first occurrence wins), then registration elsewhere.
/// A device without an accepted identifier combination fails with 803.
pub fn decide(
    customer: CustomerId,
    devices: &[DeviceSubmission],
    strict_hardware_hash: bool,
    owner_of: impl Fn(&Identity) -> Option<CustomerId>,
) -> Vec<Decision> {
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
                None => Decision::Register(identity),
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
        let decisions = decide(me, &devices, false, owner_of);
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
        let decisions = decide(customer(1), &devices, false, |_| None);
        assert!(matches!(decisions[0], Decision::Register(_)));
        assert!(matches!(decisions[1], Decision::Register(_)));
        assert_eq!(decisions[2], Decision::Fail(DeviceError::Duplicated));
    }

    #[test]
    fn strict_mode_fails_malformed_hashes_only() {
        let devices = [hash_only("DummyHash12345"), hash_only("AAEC")];
        let lax = decide(customer(1), &devices, false, |_| None);
        assert!(lax.iter().all(|d| matches!(d, Decision::Register(_))));
        let strict = decide(customer(1), &devices, true, |_| None);
        assert_eq!(strict[0], Decision::Fail(DeviceError::InvalidHardwareHash));
        assert!(matches!(strict[1], Decision::Register(_)));
    }
}
