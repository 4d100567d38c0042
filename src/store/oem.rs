//! The seeded OEM registry (`oemDevices`): the devices OEMs have registered with Autopilot,
//! found by every identity they carry. Uploads consult it through `domain::registry`.

use super::IdMap;
use crate::domain::device::{DeviceSubmission, DeviceText, Identity};
use crate::domain::registry::OemFacts;

/// One seeded OEM device.
#[derive(Debug, Clone)]
pub(super) struct OemEntry {
    /// Serial number, manufacturer, model and product key, as seeded.
    pub(super) text: DeviceText,
    /// The hardware hash's digest, when one was seeded.
    pub(super) hash: Option<Identity>,
    pub(super) aad_registered: bool,
}

/// The registry: entries in seeding order, and an index from every key of each entry.
#[derive(Debug, Default, Clone)]
pub(super) struct OemRegistry {
    entries: Vec<OemEntry>,
    index: IdMap<Identity, u32>,
}

impl OemRegistry {
    /// Whether any device is seeded; an empty registry lets every tuple through.
    pub(super) fn is_seeded(&self) -> bool {
        !self.entries.is_empty()
    }

    /// What the registry knows of a device, by the first of its identities it holds.
    pub(super) fn facts(&self, device: &DeviceSubmission) -> Option<OemFacts> {
        let slot = device
            .oem_keys()
            .find_map(|k| self.index.get(&k).copied())?;
        let entry = self.entries.get(slot as usize)?;
        Some(OemFacts {
            aad_registered: entry.aad_registered,
        })
    }

    pub(super) fn contains(&self, key: &Identity) -> bool {
        self.index.contains_key(key)
    }

    /// Adds an entry under `keys` (checked not to be in the registry already).
    pub(super) fn insert(&mut self, entry: OemEntry, keys: &[Identity]) {
        let slot = self.entries.len() as u32;
        self.entries.push(entry);
        for k in keys {
            self.index.insert(*k, slot);
        }
    }

    pub(super) fn entries(&self) -> &[OemEntry] {
        &self.entries
    }
}
