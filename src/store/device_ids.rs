//! Device ids that carry their slot, so a look-up by id reads the slab directly and a customer
//! keeps no id-to-slot map for the devices it registered itself.

use uuid::Uuid;

use super::IdMap;
use crate::domain::ids::{CustomerId, DeviceId, random_guid};

/// Odd, so multiplying by it permutes `u32`; [`INVERSE`] undoes it.
const MIX: u32 = 0x9E37_79B1;
const INVERSE: u32 = 0x0E8B_2F51;

/// Where a customer's devices are, by id.
///
/// An id the customer minted carries its slot in its last four bytes (which a version-4 GUID
/// leaves random), mixed with a key of the customer's so that the ids of one upload do not read
/// as a count. Any other id (restored from a state file, seeded, or that does not carry the
/// slot it ended up in) is kept in `others`. A map from every id to its slot cost 44 MB at a
/// million devices, a cache miss an upload's device, and a rehash of the whole map, under the
/// customer's lock, each time it grew.
#[derive(Debug, Default)]
pub(super) struct DeviceIds {
    key: u32,
    others: IdMap<DeviceId, u32>,
    live: usize,
}

impl DeviceIds {
    /// Keyed by the customer's id, so that a restart gives the same key: devices restored into
    /// the slots they had (one batch uploaded in order, say) need no entry in `others`.
    pub(super) fn for_customer(customer: CustomerId) -> Self {
        let b = customer.as_uuid().into_bytes();
        Self {
            key: u32::from_le_bytes([b[0], b[1], b[2], b[3]])
                ^ u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
            ..Self::default()
        }
    }

    /// A new random id that carries `slot`.
    pub(super) fn mint(&self, slot: u32) -> DeviceId {
        let mut bytes = *random_guid().as_bytes();
        bytes[12..].copy_from_slice(&(slot ^ self.key).wrapping_mul(MIX).to_be_bytes());
        DeviceId::from(Uuid::from_bytes(bytes))
    }

    /// The slot `id` carries, if this customer minted it: the caller checks the slab.
    pub(super) fn carried(&self, id: DeviceId) -> u32 {
        let b = id.as_uuid().into_bytes();
        u32::from_be_bytes([b[12], b[13], b[14], b[15]]).wrapping_mul(INVERSE) ^ self.key
    }

    /// The slot of an id that does not carry it.
    pub(super) fn other(&self, id: &DeviceId) -> Option<u32> {
        self.others.get(id).copied()
    }

    pub(super) fn inserted(&mut self, id: DeviceId, slot: u32) {
        self.live += 1;
        if self.carried(id) != slot {
            self.others.insert(id, slot);
        }
    }

    pub(super) fn removed(&mut self, id: DeviceId, slot: u32) {
        self.live = self.live.saturating_sub(1);
        if self.carried(id) != slot {
            self.others.remove(&id);
        }
    }

    /// Devices held.
    pub(super) fn len(&self) -> usize {
        self.live
    }

    pub(super) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Forgets the other ids' map, once no device is held.
    pub(super) fn release(&mut self) {
        self.others = IdMap::default();
        self.live = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_undone() {
        assert_eq!(MIX.wrapping_mul(INVERSE), 1);
        let ids = DeviceIds::for_customer(CustomerId::from(Uuid::from_u128(0x1234_5678 << 96 | 7)));
        for slot in [0, 1, 2, 1_000_000, u32::MAX - 1] {
            let id = ids.mint(slot);
            assert_eq!(ids.carried(id), slot);
            assert_eq!(id.as_uuid().get_version_num(), 4, "{id}");
        }
        // Another customer's key reads another slot.
        let other = DeviceIds {
            key: ids.key ^ 1,
            ..DeviceIds::default()
        };
        assert_ne!(other.carried(ids.mint(7)), 7);
    }

    #[test]
    fn only_ids_that_do_not_carry_their_slot_are_mapped() {
        let mut ids = DeviceIds::for_customer(CustomerId::from(Uuid::from_u128(9)));
        let minted = ids.mint(3);
        ids.inserted(minted, 3);
        assert_eq!(ids.others.len(), 0);
        let restored = DeviceId::new();
        let slot = ids.carried(restored).wrapping_add(1);
        ids.inserted(restored, slot);
        assert_eq!(ids.other(&restored), Some(slot));
        assert_eq!(ids.len(), 2);
        ids.removed(restored, slot);
        assert_eq!(ids.other(&restored), None);
        ids.removed(minted, 3);
        assert!(ids.is_empty());
    }
}
