//! The registry's cross-tenant rules as plain functions: which Autopilot code a profile
//! assignment or an OEM-registry lookup gives, decided from facts the store looks up.

use super::job::DeviceError;

/// Who holds a device or a profile that a request names by id, seen from the customer asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// The customer that asks.
    Customer,
    /// Another customer (tenant) in the same partner's world.
    OtherTenant,
    /// No one.
    Nobody,
}

/// What the seeded OEM registry knows about one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OemFacts {
    /// Seeded as already registered in Entra ID (`aadRegistered`).
    pub aad_registered: bool,
}

/// The outcome of assigning `profile` (`None`: removing the assignment) to `device` in a
/// policy update: the device is looked at first, as the service cannot check a profile against
/// a device it does not hold.
pub fn assignment(device: Holder, profile: Option<Holder>) -> Result<(), DeviceError> {
    match device {
        Holder::Nobody => return Err(DeviceError::DeviceNotFound),
        Holder::OtherTenant => return Err(DeviceError::DeviceRegisteredByOtherTenant),
        Holder::Customer => {}
    }
    match profile {
        None | Some(Holder::Customer) => Ok(()),
        Some(Holder::OtherTenant) => Err(DeviceError::ProfileAssignedToOtherTenant),
        Some(Holder::Nobody) => Err(DeviceError::PolicyNotFound),
    }
}

/// The OEM registry's verdict on an uploaded device that no tenant holds yet.
///
/// A device the registry knows as Entra-registered fails with 814 however it is identified. A
/// tuple-only upload (serial + manufacturer + model) needs the OEM to have registered the
/// device: when the registry is seeded and does not know it, 807 `ZtdDeviceIsNotRegistered`.
/// An empty registry is permissive, so that uploads work without one.
pub fn oem_check(
    tuple_only: bool,
    registry_seeded: bool,
    record: Option<OemFacts>,
) -> Result<(), DeviceError> {
    match record {
        Some(r) if r.aad_registered => Err(DeviceError::AlreadyAadRegistered),
        Some(_) => Ok(()),
        None if registry_seeded && tuple_only => Err(DeviceError::NotRegistered),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_check_the_device_then_the_profile() {
        use Holder::*;
        let cases = [
            (Nobody, Some(OtherTenant), Err(DeviceError::DeviceNotFound)),
            (
                OtherTenant,
                Some(Customer),
                Err(DeviceError::DeviceRegisteredByOtherTenant),
            ),
            (Customer, None, Ok(())),
            (Customer, Some(Customer), Ok(())),
            (
                Customer,
                Some(OtherTenant),
                Err(DeviceError::ProfileAssignedToOtherTenant),
            ),
            (Customer, Some(Nobody), Err(DeviceError::PolicyNotFound)),
        ];
        for (device, profile, expected) in cases {
            assert_eq!(
                assignment(device, profile),
                expected,
                "{device:?} {profile:?}"
            );
        }
    }

    #[test]
    fn the_oem_registry_refuses_unknown_tuples_only_once_seeded() {
        let known = Some(OemFacts {
            aad_registered: false,
        });
        let aad = Some(OemFacts {
            aad_registered: true,
        });
        assert_eq!(oem_check(true, false, None), Ok(()));
        assert_eq!(oem_check(true, true, None), Err(DeviceError::NotRegistered));
        assert_eq!(oem_check(false, true, None), Ok(()));
        assert_eq!(oem_check(true, true, known), Ok(()));
        assert_eq!(
            oem_check(false, true, aad),
            Err(DeviceError::AlreadyAadRegistered)
        );
    }
}
