//! The registry rules that decide, at acceptance, what each uploaded device's outcome will be.

use std::collections::HashSet;

use super::device::{DeviceSubmission, Identity};
use super::job::DeviceError;
use super::registry::{Holder, OemFacts, oem_check};

/// What the registry will do with one device of an accepted upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Register the device under this identity.
    Register(Identity),
    /// Report this failure in `devicesStatus`.
    Fail(DeviceError),
}

/// The registry's index of device identities, as one upload sees it. The store answers it
/// from its global index; tests from a map.
pub trait Registrations {
    /// Who holds `identity` now.
    fn holder(&self, identity: &Identity) -> Holder;

    /// Registers `identity` to the uploading customer unless someone holds it, as one step
    /// (two customers claiming one identity at once cannot both get it). `Holder::Nobody`: it
    /// was free and is now the customer's; otherwise who held it, unchanged.
    fn claim(&mut self, identity: Identity) -> Holder;
}

/// What an upload says of each device on its own, before the registry is asked: the device's
/// identity, or the failure that needs no registry (a malformed hash, no accepted identifier
/// combination, a repeat within the upload). Worked out before the customer's lock is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screened {
    devices: Vec<DeviceSubmission>,
    verdicts: Vec<Result<Identity, DeviceError>>,
}

impl Screened {
    pub fn devices(&self) -> &[DeviceSubmission] {
        &self.devices
    }

    pub fn into_devices(self) -> Vec<DeviceSubmission> {
        self.devices
    }
}

/// Uploads up to this size spot repeats by comparing with the devices before: no set to
/// allocate and hash, for the uploads clients make most.
const COMPARED: usize = 32;

/// Screens an upload's devices. Checks run in the order a partner would want them reported: a
/// malformed hash first (it cannot be matched at all), then a missing identifier combination
/// (803), then a repeat inside this upload (813; the first occurrence wins).
pub fn screen(devices: Vec<DeviceSubmission>, strict_hardware_hash: bool) -> Screened {
    let mut seen = (devices.len() > COMPARED).then(|| HashSet::with_capacity(devices.len()));
    let mut out: Vec<Result<Identity, DeviceError>> = Vec::with_capacity(devices.len());
    for device in &devices {
        let verdict = if strict_hardware_hash && !device.hardware_hash_is_valid() {
            Err(DeviceError::InvalidHardwareHash)
        } else {
            match device.identity() {
                None => Err(DeviceError::MissingIdentifiers),
                Some(identity) => {
                    let repeat = match &mut seen {
                        Some(seen) => !seen.insert(identity),
                        None => out.contains(&Ok(identity)),
                    };
                    if repeat {
                        Err(DeviceError::Duplicated)
                    } else {
                        Ok(identity)
                    }
                }
            }
        };
        out.push(verdict);
    }
    Screened {
        devices,
        verdicts: out,
    }
}

/// Decides every device's outcome against the devices registered before this upload, and
/// claims the identities of the devices it decides to register: once it returns, every
/// `Register` identity is the customer's in `index`.
///
/// `oem` is what the seeded OEM registry knows of a device, and whether any device is seeded in
/// it. After the upload's own checks, registration to a tenant is reported first (806, 808),
/// then the OEM registry's verdict (814, 807).
///
/// The OEM verdict is worked out before the index is asked, so that a device the registry
/// accepts costs one step of the index (its claim) instead of a look-up and then a claim; a
/// device the OEM registry refuses is only looked up, as a tenant's hold is reported first.
pub fn decide(
    upload: &Screened,
    index: &mut impl Registrations,
    oem: (bool, impl Fn(&DeviceSubmission) -> Option<OemFacts>),
) -> Vec<Decision> {
    let (oem_seeded, oem_of) = oem;
    upload
        .devices
        .iter()
        .zip(&upload.verdicts)
        .map(|(device, screened)| {
            let identity = match *screened {
                Ok(identity) => identity,
                Err(e) => return Decision::Fail(e),
            };
            // An empty registry is never asked: it costs the hot path nothing.
            let verdict = oem_check(
                device.is_tuple_only(),
                oem_seeded,
                oem_seeded.then(|| oem_of(device)).flatten(),
            );
            let holder = match verdict {
                Ok(()) => index.claim(identity),
                Err(_) => index.holder(&identity),
            };
            match (holder, verdict) {
                (Holder::Nobody, Ok(())) => Decision::Register(identity),
                (Holder::Nobody, Err(e)) => Decision::Fail(e),
                (Holder::Customer, _) => Decision::Fail(DeviceError::AlreadyAssigned),
                (Holder::OtherTenant, _) => Decision::Fail(DeviceError::AssignedToOtherTenant),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::device::{HardwareHash, RawDevice};
    use base64::Engine as _;
    use std::collections::HashMap;

    fn hash_only(h: &str) -> DeviceSubmission {
        DeviceSubmission::parse(RawDevice {
            hardware_hash: HardwareHash::parse(h),
            ..RawDevice::default()
        })
        .expect("a hash alone is an accepted combination")
    }

    /// The index as a map; a claim of a free identity makes it the customer's.
    #[derive(Default)]
    struct Index(HashMap<Identity, Holder>);

    impl Registrations for Index {
        fn holder(&self, identity: &Identity) -> Holder {
            self.0.get(identity).copied().unwrap_or(Holder::Nobody)
        }

        fn claim(&mut self, identity: Identity) -> Holder {
            let held = self.holder(&identity);
            if held == Holder::Nobody {
                self.0.insert(identity, Holder::Customer);
            }
            held
        }
    }

    fn decide_all(
        devices: &[DeviceSubmission],
        strict: bool,
        index: &mut Index,
        oem: (bool, impl Fn(&DeviceSubmission) -> Option<OemFacts>),
    ) -> Vec<Decision> {
        decide(&screen(devices.to_vec(), strict), index, oem)
    }

    fn id(device: &DeviceSubmission) -> Identity {
        device
            .identity()
            .expect("an accepted combination has an identity")
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
        let oem_of = |d: &DeviceSubmission| match d.fields().serial_number()? {
            "KNOWN" => Some(OemFacts {
                aad_registered: false,
            }),
            "AAD" => Some(OemFacts {
                aad_registered: true,
            }),
            _ => None,
        };
        let mut index = Index::default();
        let decisions = decide_all(&devices, false, &mut index, (true, oem_of));
        assert!(matches!(decisions[0], Decision::Register(_)));
        assert_eq!(
            decisions[1],
            Decision::Fail(DeviceError::AlreadyAadRegistered)
        );
        assert_eq!(decisions[2], Decision::Fail(DeviceError::NotRegistered));
        assert!(matches!(decisions[3], Decision::Register(_)));
        // Only the devices decided for registration were claimed.
        let claimed = [&devices[0], &devices[3]].map(|d| (id(d), Holder::Customer));
        assert_eq!(index.0, HashMap::from(claimed));
        let permissive = decide_all(&devices[2..], false, &mut Index::default(), NO_OEM);
        assert!(
            permissive
                .iter()
                .all(|d| matches!(d, Decision::Register(_)))
        );
    }

    #[test]
    fn new_devices_register_and_known_ones_fail_with_806_or_808() {
        let devices = [hash_only("AAAA"), hash_only("BBBB"), hash_only("CCCC")];
        let mut index = Index(HashMap::from([
            (id(&devices[0]), Holder::Customer),
            (id(&devices[1]), Holder::OtherTenant),
        ]));
        let decisions = decide_all(&devices, false, &mut index, NO_OEM);
        assert_eq!(decisions[0], Decision::Fail(DeviceError::AlreadyAssigned));
        assert_eq!(
            decisions[1],
            Decision::Fail(DeviceError::AssignedToOtherTenant)
        );
        assert_eq!(decisions[2], Decision::Register(id(&devices[2])));
        assert_eq!(index.holder(&id(&devices[2])), Holder::Customer);
        // The claim is the registration: the same upload again finds every device held.
        let again = decide_all(&devices, false, &mut index, NO_OEM);
        assert_eq!(again[2], Decision::Fail(DeviceError::AlreadyAssigned));
    }

    #[test]
    fn a_tenants_hold_is_reported_before_the_oem_registrys_refusal() {
        let devices = [tuple("THEIRS"), tuple("MINE"), tuple("NOBODYS")];
        let mut index = Index(HashMap::from([
            (id(&devices[0]), Holder::OtherTenant),
            (id(&devices[1]), Holder::Customer),
        ]));
        let unknown = (true, |_: &DeviceSubmission| None);
        let decisions = decide_all(&devices, false, &mut index, unknown);
        assert_eq!(
            decisions,
            [
                Decision::Fail(DeviceError::AssignedToOtherTenant),
                Decision::Fail(DeviceError::AlreadyAssigned),
                Decision::Fail(DeviceError::NotRegistered),
            ]
        );
        assert_eq!(index.holder(&id(&devices[2])), Holder::Nobody);
    }

    #[test]
    fn a_repeat_within_one_upload_fails_and_the_first_wins() {
        let devices = [hash_only("AAAA"), hash_only("BBBB"), hash_only("AAAA")];
        let decisions = decide_all(&devices, false, &mut Index::default(), NO_OEM);
        assert!(matches!(decisions[0], Decision::Register(_)));
        assert!(matches!(decisions[1], Decision::Register(_)));
        assert_eq!(decisions[2], Decision::Fail(DeviceError::Duplicated));
    }

    #[test]
    fn repeats_are_found_alike_in_small_and_large_uploads() {
        for size in [3, COMPARED, COMPARED + 1, 100] {
            let devices: Vec<DeviceSubmission> = (0..size)
                .map(|i| hash_only(&format!("HASH{}", i % 7)))
                .collect();
            let screened = screen(devices.clone(), false);
            for (i, verdict) in screened.verdicts.iter().enumerate() {
                let expected = if i < 7 {
                    Ok(id(&devices[i]))
                } else {
                    Err(DeviceError::Duplicated)
                };
                assert_eq!(*verdict, expected, "device {i} of {size}");
            }
        }
    }

    #[test]
    fn strict_mode_fails_malformed_hashes_only() {
        let real = base64::engine::general_purpose::STANDARD.encode([7u8; 3072]);
        let devices = [hash_only("DummyHash12345"), hash_only(&real)];
        let lax = decide_all(&devices, false, &mut Index::default(), NO_OEM);
        assert!(lax.iter().all(|d| matches!(d, Decision::Register(_))));
        let strict = decide_all(&devices, true, &mut Index::default(), NO_OEM);
        assert_eq!(strict[0], Decision::Fail(DeviceError::InvalidHardwareHash));
        assert!(matches!(strict[1], Decision::Register(_)));
    }
}
