//! The registry's layout: customers in a `DashMap`, each behind a lock of its own; the sharded
//! global device-identity index that decides 806/808 across customers; and the world gate that
//! lets reset, seeding and export act on every customer at once.
//!
//! Lock order, outermost first: the world gate, then one customer's lock, then the identity
//! index's shards and tenant table (each held only inside one call here). A `DashMap` shard is
//! never held while another lock is taken: customers are handed out as `Arc`s. Requests hold
//! the gate shared and at most one customer's lock, so different customers never wait on each
//! other; reset, seeding, export and the removal of customers hold the gate exclusively, so they
//! see (and change) every customer and the index as one consistent state.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::{Customer, IdHasher, identity::IdentityState, oem::OemRegistry, rand_epoch};
use crate::domain::device::Identity;
use crate::domain::ids::CustomerId;
use crate::domain::registry::Holder;
use crate::domain::upload::Registrations;

type IdBuild = BuildHasherDefault<IdHasher>;

/// One customer's state, locked on its own. Its large collections are shared copy-on-write
/// (`store/cow.rs`), so an export's snapshot of a customer is a few pointers per thousand
/// devices, taken in an instant (`document/export.rs`).
pub(super) type Shard = Arc<Mutex<Customer>>;

/// Every customer of one registry (the default one or a partner's), and what spans them.
#[derive(Debug)]
pub(super) struct Registry {
    /// Taken shared by every registry operation, exclusively by those that need all customers
    /// still at once. Uncontended it costs one atomic add and one subtract per request.
    gate: RwLock<()>,
    /// Changes on every reset, so continuation tokens from before it are recognised as stale.
    /// Written only under the exclusive gate, so it is stable for a request that holds it shared.
    epoch: AtomicU64,
    customers: DashMap<CustomerId, Shard, IdBuild>,
    /// Every registered device identity and the customer (tenant) that holds it.
    pub(super) identities: Identities,
    /// The mock Entra ID's declared directory and issued grants; its own lock, since no grant
    /// touches a customer.
    pub(super) identity: Mutex<IdentityState>,
    /// Devices OEMs registered with Autopilot (`oemDevices`), for 807 and 814. Read by uploads
    /// under the shared gate; written only by seeding and a full reset, under the exclusive gate,
    /// so its lock is never contended by a writer while requests run.
    oem: RwLock<OemRegistry>,
}

impl Registry {
    pub(super) fn new() -> Self {
        Self {
            gate: RwLock::new(()),
            epoch: AtomicU64::new(rand_epoch()),
            customers: DashMap::default(),
            identities: Identities::default(),
            identity: Mutex::default(),
            oem: RwLock::default(),
        }
    }

    /// The registry for one request: customers are locked one at a time, as needed.
    pub(super) fn shared(&self) -> World<'_> {
        World {
            registry: self,
            _gate: Gate::Shared(self.gate.read().unwrap_or_else(PoisonError::into_inner)),
        }
    }

    /// The registry with no request in it: for reset, seeding, export and removing customers.
    pub(super) fn exclusive(&self) -> World<'_> {
        World {
            registry: self,
            _gate: Gate::Exclusive(self.gate.write().unwrap_or_else(PoisonError::into_inner)),
        }
    }
}

#[derive(Debug)]
enum Gate<'a> {
    Shared(#[allow(dead_code)] RwLockReadGuard<'a, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'a, ()>),
}

/// The registry with its gate held (shared or exclusive).
#[derive(Debug)]
pub(super) struct World<'a> {
    registry: &'a Registry,
    _gate: Gate<'a>,
}

impl World<'_> {
    pub(super) fn epoch(&self) -> u64 {
        self.registry.epoch.load(Ordering::Relaxed)
    }

    pub(super) fn identities(&self) -> &Identities {
        &self.registry.identities
    }

    pub(super) fn identity(&self) -> &Mutex<IdentityState> {
        &self.registry.identity
    }

    /// The OEM registry, for reading.
    pub(super) fn oem(&self) -> RwLockReadGuard<'_, OemRegistry> {
        self.registry
            .oem
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The OEM registry, for seeding: only with the gate held exclusively.
    pub(super) fn oem_mut(&self) -> RwLockWriteGuard<'_, OemRegistry> {
        debug_assert!(matches!(self._gate, Gate::Exclusive(_)));
        self.registry
            .oem
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A customer's state, if it has any.
    pub(super) fn customer(&self, id: CustomerId) -> Option<Shard> {
        self.registry
            .customers
            .get(&id)
            .map(|c| Arc::clone(c.value()))
    }

    /// A customer's state, created empty on first use.
    pub(super) fn customer_or_default(&self, id: CustomerId) -> Shard {
        // The read path first: creating takes the shard's write lock.
        if let Some(c) = self.customer(id) {
            return c;
        }
        // Interned before the customers' shard is locked: no shard is held while another lock
        // is taken.
        let tenant = self.registry.identities.intern(id);
        Arc::clone(
            self.registry
                .customers
                .entry(id)
                .or_insert_with(|| Arc::new(Mutex::new(super::Customer::new(id, tenant))))
                .value(),
        )
    }

    /// Every customer, in no particular order.
    pub(super) fn customers(&self) -> Vec<(CustomerId, Shard)> {
        self.registry
            .customers
            .iter()
            .map(|c| (*c.key(), Arc::clone(c.value())))
            .collect()
    }

    /// Every customer, in id order (as exports and the dashboard list them).
    pub(super) fn customers_sorted(&self) -> Vec<(CustomerId, Shard)> {
        let mut all = self.customers();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    /// Forgets a customer; only with the gate held exclusively, so that no request is writing
    /// into a customer that is no longer in the map.
    pub(super) fn remove_customer(&self, id: CustomerId) -> Option<Customer> {
        debug_assert!(matches!(self._gate, Gate::Exclusive(_)));
        let (_, shard) = self.registry.customers.remove(&id)?;
        Some(match Arc::try_unwrap(shard) {
            Ok(m) => m.into_inner().unwrap_or_else(PoisonError::into_inner),
            // Unreachable with the gate exclusive (no request holds a clone); take it to be safe.
            Err(shared) => std::mem::take(&mut *super::lock(&shared)),
        })
    }

    /// Starts a new generation: continuation tokens from before are stale.
    pub(super) fn renew_epoch(&self) {
        debug_assert!(matches!(self._gate, Gate::Exclusive(_)));
        self.registry.epoch.store(rand_epoch(), Ordering::Relaxed);
    }

    /// Forgets every customer and identity and the mock Entra ID's state.
    pub(super) fn clear(&self) {
        debug_assert!(matches!(self._gate, Gate::Exclusive(_)));
        self.registry.customers.clear();
        self.registry.identities.clear();
        *super::lock(&self.registry.identity) = IdentityState::default();
        *self.oem_mut() = OemRegistry::default();
        self.renew_epoch();
    }
}

/// The global device-identity index: which customer holds each registered identity. Sharded
/// (a `DashMap`), so uploads of different customers touch different locks unless they register
/// identities in the same shard, and then only for one insert each.
///
/// Owners are interned as `u32`, which halves the size of the largest map in the emulator (one
/// entry per registered device); the interning table only grows (a customer's number is kept
/// after it is reset), and only its first registration writes it.
#[derive(Debug, Default)]
pub(super) struct Identities {
    owners: DashMap<Identity, u32, IdBuild>,
    tenants: RwLock<Tenants>,
}

#[derive(Debug, Default)]
struct Tenants {
    ids: Vec<CustomerId>,
    index: HashMap<CustomerId, u32>,
}

/// The identity index from one customer's side: the rules of an upload ask it who holds an
/// identity, and claim the ones they register.
#[derive(Debug)]
pub(super) struct SeenBy<'a> {
    index: &'a Identities,
    me: u32,
}

impl SeenBy<'_> {
    fn holder_of(&self, owner: u32) -> Holder {
        if owner == self.me {
            Holder::Customer
        } else {
            Holder::OtherTenant
        }
    }
}

impl Registrations for SeenBy<'_> {
    fn holder(&self, identity: &Identity) -> Holder {
        self.index
            .owners
            .get(identity)
            .map_or(Holder::Nobody, |owner| self.holder_of(*owner))
    }

    fn claim(&mut self, identity: Identity) -> Holder {
        match self.index.claim(identity, self.me) {
            Claim::Claimed => Holder::Nobody,
            Claim::HeldBy(owner) => self.holder_of(owner),
        }
    }
}

/// What a claim found: the identity was free and is now held, or someone holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Claim {
    Claimed,
    HeldBy(u32),
}

impl Identities {
    fn tenants(&self) -> RwLockReadGuard<'_, Tenants> {
        self.tenants.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The customer's number in the index, assigned on first use.
    pub(super) fn intern(&self, customer: CustomerId) -> u32 {
        if let Some(t) = self.tenants().index.get(&customer) {
            return *t;
        }
        let mut tenants = self.tenants.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = tenants.index.get(&customer) {
            return *t;
        }
        let t = tenants.ids.len() as u32;
        tenants.ids.push(customer);
        tenants.index.insert(customer, t);
        t
    }

    #[cfg(test)]
    pub(super) fn owner(&self, identity: &Identity) -> Option<CustomerId> {
        let t = *self.owners.get(identity)?;
        self.tenants().ids.get(t as usize).copied()
    }

    /// The index as the upload of the customer numbered `me` sees it.
    pub(super) fn seen_by(&self, me: u32) -> SeenBy<'_> {
        SeenBy { index: self, me }
    }

    pub(super) fn contains(&self, identity: &Identity) -> bool {
        self.owners.contains_key(identity)
    }

    /// Registers the identity to `owner` unless someone holds it already. The check and the
    /// insert are one step under the identity's shard lock, so of two customers claiming one
    /// identity at once exactly one gets it.
    pub(super) fn claim(&self, identity: Identity, owner: u32) -> Claim {
        match self.owners.entry(identity) {
            Entry::Occupied(held) => Claim::HeldBy(*held.get()),
            Entry::Vacant(free) => {
                free.insert(owner);
                Claim::Claimed
            }
        }
    }

    /// Registers the identity to `owner` whoever held it (seeding, whose plan checked it).
    pub(super) fn insert(&self, identity: Identity, owner: u32) {
        self.owners.insert(identity, owner);
    }

    pub(super) fn remove(&self, identity: &Identity) {
        self.owners.remove(identity);
    }

    /// Frees the identity if `owner` holds it (a device seeded as another tenant's keeps it).
    pub(super) fn release(&self, identity: &Identity, owner: CustomerId) {
        let Some(t) = self.tenants().index.get(&owner).copied() else {
            return;
        };
        self.owners.remove_if(identity, |_, held| *held == t);
    }

    fn clear(&self) {
        self.owners.clear();
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.owners.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use uuid::Uuid;

    fn customer(n: u128) -> CustomerId {
        CustomerId::from(Uuid::from_u128(n))
    }

    fn identity(n: u32) -> Identity {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&n.to_le_bytes());
        Identity(bytes)
    }

    #[test]
    fn interning_is_stable_and_owners_map_back_to_customers() {
        let index = Identities::default();
        let (a, b) = (index.intern(customer(1)), index.intern(customer(2)));
        assert_ne!(a, b);
        assert_eq!(index.intern(customer(1)), a);
        assert_eq!(index.claim(identity(7), a), Claim::Claimed);
        assert_eq!(index.claim(identity(7), b), Claim::HeldBy(a));
        assert_eq!(index.owner(&identity(7)), Some(customer(1)));
        assert_eq!(index.owner(&identity(8)), None);
        assert!(index.contains(&identity(7)));
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn release_frees_only_what_the_customer_holds() {
        let index = Identities::default();
        let (a, b) = (index.intern(customer(1)), index.intern(customer(2)));
        index.insert(identity(1), a);
        index.insert(identity(2), b);
        index.release(&identity(1), customer(2));
        index.release(&identity(2), customer(2));
        // Never interned: nothing it could hold.
        index.release(&identity(1), customer(3));
        assert_eq!(index.owner(&identity(1)), Some(customer(1)));
        assert!(!index.contains(&identity(2)));
        index.remove(&identity(1));
        assert_eq!(index.len(), 0);
    }

    #[test]
    fn racing_claims_give_every_identity_exactly_one_owner() {
        let index = Identities::default();
        let threads = 4;
        let per_thread = 5_000;
        let barrier = Barrier::new(threads);
        let won: Vec<Vec<u32>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (index, barrier) = (&index, &barrier);
                    s.spawn(move || {
                        let me = index.intern(customer(t as u128 + 1));
                        barrier.wait();
                        (0..per_thread)
                            .filter(|n| index.claim(identity(*n), me) == Claim::Claimed)
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<u32> = won.iter().flatten().copied().collect();
        assert_eq!(all.len(), per_thread as usize, "each identity won once");
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), per_thread as usize);
        for (t, mine) in won.iter().enumerate() {
            for n in mine {
                assert_eq!(index.owner(&identity(*n)), Some(customer(t as u128 + 1)));
            }
        }
    }

    #[test]
    fn a_shared_world_hands_out_one_lock_per_customer_and_an_exclusive_one_clears_all() {
        let registry = Registry::new();
        let epoch = registry.shared().epoch();
        {
            let world = registry.shared();
            let a = world.customer_or_default(customer(1));
            let b = world.customer_or_default(customer(2));
            assert!(!Arc::ptr_eq(&a, &b));
            assert!(Arc::ptr_eq(&a, &world.customer_or_default(customer(1))));
            // Two customers' locks are held at once: neither waits on the other.
            let (_ga, _gb) = (super::super::lock(&a), super::super::lock(&b));
            assert_eq!(world.customers_sorted().len(), 2);
            assert!(world.customer(customer(3)).is_none());
        }
        let world = registry.exclusive();
        assert!(world.remove_customer(customer(1)).is_some());
        assert!(world.remove_customer(customer(1)).is_none());
        world.clear();
        assert!(world.customers().is_empty());
        assert_ne!(world.epoch(), epoch);
    }
}
