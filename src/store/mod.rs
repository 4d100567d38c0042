//! The in-memory state: the only code that touches the maps of batches, devices, policies and jobs.
//!
//! Size: ~400 lines of code, the rest tests: the state's types, the lock helpers and the
//! customer-wide operations (reset, faults, journal); each resource's operations are in their own
//! file, the sharding machinery in `shards.rs`.
//!
//! # Locking
//!
//! Customers are isolated, so each has its own lock: a `DashMap` from customer id to that
//! customer's state behind a `Mutex` (`store/shards.rs`). One customer's requests are
//! linearizable (each holds its lock for the whole operation); requests for different customers
//! never take the same lock. Batch and policy counts span one customer's batches, devices and
//! policies only, so its lock covers them.
//!
//! The 806/808 rule spans customers (a device registered to one tenant must fail for every
//! other): a global identity index, sharded too, records each registered identity's owner. An
//! upload decides a device for registration by *claiming* its identity (check and insert in one
//! step under the identity's shard lock), so of two customers uploading one device at once the
//! second gets the 808, as if the other upload had come first. Every outcome is final before
//! the devices and the job are stored, and a rejected request (unknown batch, batch name taken)
//! is rejected before any claim, so it changes nothing.
//!
//! A world gate (an `RwLock`) is taken shared by every registry operation and exclusively by
//! reset (all, or one customer), seeding and import, export's snapshot, and retention's removal of
//! customers: those see every customer and the index at one moment, so they stay atomic. The
//! reset epoch changes only under the exclusive gate. Critical sections are short and never
//! await: request bodies are parsed before any lock is taken, and jobs are handed out as `Arc`s
//! so that large status documents are rendered after it is released.
//!
//! The OEM registry (`oemDevices`) is global to the store, beside the customers: uploads read
//! it under the shared gate; seeding and a full reset replace it under the exclusive one. Each
//! write pushes its log record (`document/log.rs`) while it still holds its customer's lock, so
//! per customer the log is in the order the writes were applied. A policy update's 810/811
//! looks for the ids its customer does not hold in the other customers' shards one at a time,
//! before taking its own lock (`policies.rs`), so no request holds two customer locks.
//!
//! Counts (`devicesCount`, `devicesAssignedCount`) are derived when read, never kept as counters,
//! so they cannot drift under concurrent uploads, assignments and deletions.
//!
//! Each partner tenant (`--auth jwt`) has a `Store` of its own, owned by the default one: its own
//! gate, customers and identity index, so these invariants hold within one partner's world (see
//! `store/partners.rs`).

mod batches;
mod cow;
mod customers;
mod device_ids;
pub mod document;
mod faults;
mod idempotency;
mod identity;
mod journal;
mod oem;
mod overview;
mod partners;
mod policies;
mod rate_limits;
mod retention;
mod shards;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use uuid::Uuid;

use crate::domain::Error;
use crate::domain::device::{DeviceText, Identity};
use crate::domain::fault::{Effect, FaultRule};
use crate::domain::ids::{BatchId, BatchKey, CustomerId, DeviceId, PolicyId, TenantId, TrackingId};
use crate::domain::job::{Job, Timings};
use crate::domain::policy::{Assignment, Policy};
use crate::domain::timestamp::Timestamp;
use document::log::Record;

pub use batches::{BatchView, Cursor, DevicePage, DeviceView};
pub use customers::CustomerAccess;
pub use document::{ClockDoc, Document, PartnerDoc, SeedError, SeedSummary, Snapshot, VERSION};
pub use faults::FaultView;
pub use idempotency::DEFAULT_MEMORY as IDEMPOTENCY_MEMORY;
pub use idempotency::{Claim, IdempotencyCache, IdempotencyKey, RecordedAnswer};
pub use identity::{
    AppDoc, AuthCode, DeviceCode, GRANT_LIMIT, IdentityDoc, TenantDoc, UserDoc, UserGrant,
};
pub use journal::DEFAULT_MEMORY as JOURNAL_MEMORY;
pub use journal::{BODY_LIMIT, JournalEntry, JournalFilter};
pub use overview::{BatchSummary, CustomerSummary, DeviceRow, JobKind, JobSummary, Summary};
pub use policies::{PolicyUpdate, PolicyView};
pub use retention::Pruned;

/// A hasher for keys that are already uniformly random: server-minted GUIDs and 128-bit
/// digests. Hashing them again with SipHash costs more than the rest of an insert.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // FxHash's step, a word at a time.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by random ids or digests (see [`IdHasher`]).
type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// How the store behaves; fixed at start-up.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    pub timings: Timings,
    pub strict_hardware_hash: bool,
    pub journal_size: usize,
    /// Bytes the journal's entries may take (`--journal-memory`).
    pub journal_memory: u64,
    /// Bytes the `MS-RequestId` records may take (`--idempotency-memory`).
    pub idempotency_memory: u64,
    pub fault_seed: u64,
}

/// Shared emulator state. Cheap to share behind an `Arc`.
///
/// Besides the registry, it holds the control plane's state (fault rules, the journal and the
/// idempotency records), each behind its own lock; none of them is held with another lock.
/// The default store also owns the partner tenants' stores (see `store/partners.rs`).
#[derive(Debug)]
pub struct Store {
    /// Customers, each behind its own lock, and the identity index (see `store/shards.rs`).
    registry: shards::Registry,
    /// Counts changes to the registry, so persistence writes only when something changed.
    changes: AtomicU64,
    /// Replays of writes keyed by `MS-RequestId`.
    pub idempotency: IdempotencyCache,
    faults: Mutex<faults::FaultBook>,
    journal: Mutex<journal::Journal>,
    partners: partners::Partners,
    /// `--rate-limit` windows; only the default store's are used.
    rate_limits: Mutex<rate_limits::Windows>,
    timings: Timings,
    strict_hardware_hash: bool,
    /// The append-only log of accepted writes (`--state-file`), shared with the partners' stores.
    log: Arc<document::log::Log>,
    /// The partner tenant this store belongs to; `None` for the default store.
    tenant: Option<TenantId>,
}

fn rand_epoch() -> u64 {
    // The low half of a random GUID: unique enough to tell one reset from another.
    uuid::Uuid::new_v4().as_u64_pair().1
}

/// One customer's data. Devices live in a slab addressed by `u32` slots: batches list slots.
/// A deleted device's slot is taken by a later upload (`vacated`), and its entry in its batch's
/// list is marked [`VACANT`], so positions in a batch never shift and are never reused.
#[derive(Debug, Default)]
struct Customer {
    /// Its number in the identity index (`Identities::intern`), kept so that an upload does
    /// not look it up.
    tenant: u32,
    batches: cow::Chunked<Batch>,
    batch_index: HashMap<BatchKey, u32>,
    devices: cow::Chunked<Option<DeviceRecord>>,
    /// Empty slots of `devices`, taken before the slab grows.
    vacated: Vec<u32>,
    /// Not part of an export's snapshot (an export reads devices in batch order).
    device_ids: device_ids::DeviceIds,
    /// Upload times shared by the devices of one upload.
    groups: cow::Chunked<Group>,
    jobs: retention::Jobs,
    policies: HashMap<PolicyId, Policy>,
    /// Policy ids in creation order, for listing.
    policy_order: Vec<PolicyId>,
    /// Seeded devices registered to another tenant, kept so that exports reproduce them.
    foreign: Vec<ForeignDevice>,
    /// Seeded as `"relationship": false`: the partner has no reseller relationship with it.
    no_relationship: bool,
    /// When the last upload job into any of its batches ends: until then a batch's `status`
    /// needs its jobs read, after it every batch is `finished`.
    uploads_until: Option<Timestamp>,
}

impl Customer {
    fn new(id: CustomerId, tenant: u32) -> Self {
        Self {
            tenant,
            device_ids: device_ids::DeviceIds::for_customer(id),
            ..Self::default()
        }
    }

    /// Notes an upload job into one of the customer's batches, for [`Customer::uploads_until`].
    fn note_upload(&mut self, job: &Job) {
        if job.batch.is_some() && self.uploads_until.is_none_or(|t| t < job.completed_at) {
            self.uploads_until = Some(job.completed_at);
        }
    }

    fn batch(&self, name: &str) -> Option<(u32, &Batch)> {
        let slot = *self.batch_index.get(&BatchKey::of(name))?;
        Some((slot, self.batches.get(slot as usize)?))
    }

    fn device(&self, slot: u32) -> Option<&DeviceRecord> {
        self.devices.get(slot as usize)?.as_ref()
    }

    fn device_by_id(&self, id: DeviceId) -> Option<(u32, &DeviceRecord)> {
        let carried = self.device_ids.carried(id);
        if let Some(d) = self.device(carried).filter(|d| d.id == id) {
            return Some((carried, d));
        }
        let slot = self.device_ids.other(&id)?;
        Some((slot, self.device(slot)?))
    }

    /// The slot of the device with this id.
    fn slot_of(&self, id: DeviceId) -> Option<u32> {
        self.device_by_id(id).map(|(slot, _)| slot)
    }

    /// An id for the next device [`Customer::insert_device`] stores, which carries its slot.
    fn mint_device_id(&self) -> DeviceId {
        self.device_ids.mint(self.next_slot())
    }

    /// The slot the next stored device takes: an empty one first, else a new one at the end.
    fn next_slot(&self) -> u32 {
        self.vacated
            .last()
            .copied()
            .unwrap_or(self.devices.len() as u32)
    }

    fn group(&self, d: &DeviceRecord) -> Group {
        self.groups
            .get(d.group as usize)
            .copied()
            .unwrap_or_default()
    }

    fn is_listed(&self, d: &DeviceRecord, now: Timestamp) -> bool {
        self.group(d).listed_from <= now
    }

    fn add_group(&mut self, group: Group) -> u32 {
        if self.groups.last() == Some(&group) {
            return (self.groups.len() - 1) as u32;
        }
        self.groups.push(group);
        (self.groups.len() - 1) as u32
    }

    fn reserve_devices(&mut self, additional: usize) {
        self.devices.reserve(additional);
    }

    /// Puts a device in the slab (an empty slot first), its index and its batch.
    fn insert_device(&mut self, mut record: DeviceRecord) {
        let slot = self.next_slot();
        let reused = self.vacated.pop();
        if let Some(b) = self.batches.get_mut(record.batch as usize) {
            record.position = b.push(slot);
        }
        self.device_ids.inserted(record.id, slot);
        match reused.and_then(|slot| self.devices.get_mut(slot as usize)) {
            Some(empty) => *empty = Some(record),
            None => self.devices.push(Some(record)),
        }
    }

    /// Takes a device out of the slab, its index and its batch's list; its slot is reused.
    fn remove_device(&mut self, slot: u32) -> Option<DeviceRecord> {
        let record = self.devices.get_mut(slot as usize)?.take()?;
        self.device_ids.removed(record.id, slot);
        if let Some(b) = self.batches.get_mut(record.batch as usize) {
            b.vacate(record.position);
        }
        if self.device_ids.is_empty() {
            // Every slot is empty: give the slab back rather than keep it for reuse.
            self.devices = cow::Chunked::default();
            self.vacated = Vec::new();
            self.device_ids.release();
        } else {
            self.vacated.push(slot);
        }
        Some(record)
    }
}

/// A batch's entry for a deleted device (no slot is this large).
const VACANT: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Batch {
    id: BatchId,
    created_at: Timestamp,
    /// Device slots in upload order, [`VACANT`] where the device was deleted; a continuation
    /// token holds a device's position, counted from the batch's first upload.
    devices: cow::Chunked<u32>,
    /// Positions no longer in `devices`: leading pieces whose devices were all deleted are
    /// dropped, so a batch whose devices come and go does not grow.
    dropped: u64,
}

impl Batch {
    fn new(id: BatchId, created_at: Timestamp) -> Self {
        Self {
            id,
            created_at,
            devices: cow::Chunked::default(),
            dropped: 0,
        }
    }

    /// The position after the last device uploaded.
    fn end(&self) -> u64 {
        self.dropped + self.devices.len() as u64
    }

    /// Appends a device's slot; returns its position.
    fn push(&mut self, slot: u32) -> u32 {
        let position = self.end() as u32;
        self.devices.push(slot);
        position
    }

    /// Marks the device at `position` deleted, and drops what is deleted at the front.
    fn vacate(&mut self, position: u32) {
        let Some(i) = u64::from(position).checked_sub(self.dropped) else {
            return;
        };
        if let Some(entry) = self.devices.get_mut(i as usize) {
            *entry = VACANT;
        }
        self.dropped += self.devices.drop_front(|slot| *slot == VACANT) as u64;
    }

    /// The slots from position `from` on (deleted ones [`VACANT`]), with their positions.
    fn slots_from(&self, from: u64) -> impl Iterator<Item = (u64, u32)> {
        let from = from.max(self.dropped);
        self.devices
            .iter_from((from - self.dropped) as usize)
            .enumerate()
            .map(move |(i, slot)| (from + i as u64, *slot))
    }
}

/// When the devices of one upload were uploaded and when they are listed (their job's end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Group {
    uploaded_at: Timestamp,
    listed_from: Timestamp,
}

impl Default for Group {
    fn default() -> Self {
        let epoch = Timestamp::from_offset(time::OffsetDateTime::UNIX_EPOCH);
        Self {
            uploaded_at: epoch,
            listed_from: epoch,
        }
    }
}

/// A device seeded as "registered to another tenant": uploads of it answer 808.
#[derive(Debug, Clone)]
struct ForeignDevice {
    batch: BatchKey,
    tenant: CustomerId,
    identity: Identity,
    text: DeviceText,
}

/// A registered device. It is registered (for 806/808) from acceptance, and listed once the job
/// that uploaded it is terminal. Kept small: a million of them must fit in a few hundred MiB.
#[derive(Debug, Clone)]
struct DeviceRecord {
    id: DeviceId,
    identity: Identity,
    /// Whether `identity` is a hardware hash's digest (exported as `hardwareHashDigest`).
    hashed: bool,
    text: DeviceText,
    batch: u32,
    /// Its position in its batch's list (set by [`Customer::insert_device`]).
    position: u32,
    group: u32,
    assignment: Assignment,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every mutation is decided first and applied without fallible steps, so a panic cannot
    // leave half an upload behind: poisoning is safe to ignore.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Store {
    pub fn new(options: StoreOptions) -> Self {
        Self::with_log(options, Arc::default(), None)
    }

    /// A store whose writes are recorded in `log` as `tenant`'s.
    fn with_log(
        options: StoreOptions,
        log: Arc<document::log::Log>,
        tenant: Option<TenantId>,
    ) -> Self {
        let partners = partners::Partners::new(options, log.clone());
        Self {
            log,
            tenant,
            registry: shards::Registry::new(),
            changes: AtomicU64::new(0),
            idempotency: IdempotencyCache::with_budget(options.idempotency_memory),
            faults: Mutex::new(faults::FaultBook::new(options.fault_seed)),
            journal: Mutex::new(journal::Journal::new(
                options.journal_size,
                options.journal_memory,
            )),
            partners,
            rate_limits: Mutex::default(),
            timings: options.timings,
            strict_hardware_hash: options.strict_hardware_hash,
        }
    }

    /// The registry for one request: the world gate held shared.
    fn world(&self) -> shards::World<'_> {
        self.registry.shared()
    }

    /// The registry with every request shut out, for changes that span customers: counts the
    /// change for persistence and the dashboard.
    fn world_exclusive(&self) -> shards::World<'_> {
        let world = self.registry.exclusive();
        self.changes.fetch_add(1, Ordering::Relaxed);
        world
    }

    /// One customer's state for reading.
    fn read<'a>(&self, shard: &'a Mutex<Customer>) -> MutexGuard<'a, Customer> {
        lock(shard)
    }

    /// One customer's state for changing: counts the change for persistence and the dashboard.
    fn write<'a>(&self, shard: &'a Mutex<Customer>) -> MutexGuard<'a, Customer> {
        // Counted once the lock is held, so a reader that reads the count and then takes the lock
        // sees the change itself: a cache keyed by the count is never stale, at worst redone.
        let guard = lock(shard);
        self.changes.fetch_add(1, Ordering::Relaxed);
        guard
    }

    /// Records that a manual clock moved, so a restored state resumes from it.
    pub fn record_clock(&self, clock: ClockDoc) {
        self.record(|| Record::Clock(clock));
    }

    /// The mock Entra ID's state.
    fn entra(&self) -> MutexGuard<'_, identity::IdentityState> {
        lock(&self.registry.identity)
    }

    /// A number that moves whenever the registry, or a partner's, may have changed.
    pub fn changes(&self) -> u64 {
        self.changes
            .load(Ordering::Relaxed)
            .wrapping_add(self.partners.changes())
    }

    /// The store of a partner tenant, created empty on first use.
    pub fn partner(&self, tenant: TenantId) -> Arc<Store> {
        self.partners.get_or_create(tenant)
    }

    /// Clears everything: registry, every partner's data, idempotency records, journal and fault
    /// rules.
    pub fn reset(&self) {
        {
            // Recorded under the exclusive gate, so no write's record lands on the wrong side.
            let world = self.world_exclusive();
            world.clear();
            self.record(|| Record::Forget { customer: None });
        }
        self.idempotency.clear();
        self.partners.remove(None);
        lock(&self.journal).clear();
        lock(&self.faults).clear();
        self.clear_rate_limits();
    }

    /// Clears one partner tenant's whole world (and the journal entries of its requests).
    pub fn reset_partner(&self, tenant: TenantId) {
        self.partners.remove(Some(tenant));
        self.log
            .push(Some(tenant), || Record::Forget { customer: None });
        lock(&self.journal).forget(None, Some(tenant));
    }

    /// Clears one customer's batches, devices, policies, jobs, idempotency records and journal
    /// entries, in the default data and every partner's. Other customers, and the fault rules,
    /// are untouched.
    pub fn reset_customer(&self, customer: CustomerId) {
        self.clear_customer(customer);
        for (_, partner) in self.partners.all() {
            partner.clear_customer(customer);
        }
        lock(&self.journal).forget(Some(customer), None);
    }

    /// Clears one customer in one partner's world only (and the journal entries of that
    /// partner's requests for it).
    pub fn reset_partner_customer(&self, tenant: TenantId, customer: CustomerId) {
        if let Some(partner) = self.partners.get(tenant) {
            partner.clear_customer(customer);
        }
        lock(&self.journal).forget(Some(customer), Some(tenant));
    }

    /// Clears one customer's registry data and idempotency records in this store alone.
    fn clear_customer(&self, customer: CustomerId) {
        {
            // Exclusive: a request must not be writing into the customer being removed, and its
            // identities go with it in the same step.
            let world = self.world_exclusive();
            if let Some(cust) = world.remove_customer(customer) {
                for d in cust.devices.iter().flatten() {
                    world.identities().remove(&d.identity);
                }
                for f in &cust.foreign {
                    world.identities().remove(&f.identity);
                }
            }
            // Continuation tokens of the customer's old batches must not resume in new ones.
            world.renew_epoch();
            self.record(|| Record::Forget {
                customer: Some(customer),
            });
        }
        self.idempotency.forget_customer(customer);
    }

    pub fn add_fault(&self, rule: FaultRule) -> FaultView {
        lock(&self.faults).add(rule)
    }

    pub fn faults(&self) -> Vec<FaultView> {
        lock(&self.faults).list()
    }

    pub fn remove_fault(&self, id: Uuid) -> bool {
        lock(&self.faults).remove(id)
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// The first fault rule that fires for this request, if any (and counts it).
    pub fn fire_fault(
        &self,
        method: &str,
        path: &str,
        customer: Option<CustomerId>,
        now: Timestamp,
    ) -> Option<(Uuid, Effect)> {
        // Matching grows with the client's path; only the counting needs the lock.
        let rules = lock(&self.faults).matchers();
        let matched = faults::matching(&rules, method, path, customer, now);
        lock(&self.faults).fire_matched(&matched)
    }

    pub fn record_request(&self, entry: JournalEntry) {
        lock(&self.journal).record(entry);
    }

    pub fn requests(&self, filter: &JournalFilter) -> Vec<JournalEntry> {
        // Filtering grows with the client's `path` pattern: done on a snapshot, after the lock.
        let entries = lock(&self.journal).snapshot();
        journal::query(&entries, filter)
    }

    pub fn clear_requests(&self) {
        lock(&self.journal).clear();
    }

    /// A job of this customer, by the tracking id from a `Location` header.
    pub fn job(&self, customer: CustomerId, tracking: &str) -> Result<Arc<Job>, Error> {
        let not_found = || Error::JobNotFound(tracking.to_owned());
        let id = TrackingId::parse(tracking).ok_or_else(not_found)?;
        let world = self.world();
        let shard = world.customer(customer).ok_or_else(not_found)?;
        self.read(&shard)
            .jobs
            .get(&id)
            .cloned()
            .ok_or_else(not_found)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::device::{DeviceSubmission, RawDevice};
    use std::time::Duration;
    use uuid::Uuid;

    pub fn store() -> Store {
        Store::new(StoreOptions {
            timings: Timings {
                queued_for: Duration::from_secs(1),
                processing_for: Duration::from_secs(2),
            },
            strict_hardware_hash: false,
            journal_size: 10,
            journal_memory: JOURNAL_MEMORY,
            idempotency_memory: IDEMPOTENCY_MEMORY,
            fault_seed: 0,
        })
    }

    pub fn t0() -> Timestamp {
        Timestamp::parse_rfc3339("2026-11-21T10:00:00Z").unwrap()
    }

    pub fn done() -> Timestamp {
        t0().plus(Duration::from_secs(3))
    }

    pub fn customer(n: u128) -> CustomerId {
        CustomerId::from(Uuid::from_u128(n))
    }

    pub fn pk(key: &str) -> DeviceSubmission {
        DeviceSubmission::parse(RawDevice {
            product_key: Some(key),
            ..RawDevice::default()
        })
        .expect("a product key is an accepted identifier")
    }

    #[test]
    fn a_registered_device_and_its_job_line_stay_small() {
        // A million of each are held at once (BENCHMARKS.md, the million scenario): 8 bytes
        // more here is 16 MiB more there.
        assert_eq!(std::mem::size_of::<DeviceRecord>(), 96);
        assert_eq!(std::mem::size_of::<Option<DeviceRecord>>(), 96);
        assert_eq!(std::mem::size_of::<crate::domain::job::JobEntry>(), 56);
    }

    #[test]
    fn jobs_are_invisible_to_other_customers() {
        let store = store();
        let (a, b) = (customer(1), customer(2));
        let t = store
            .create_batch(a, BatchId::parse("B").unwrap(), vec![pk("K1")], t0())
            .unwrap();
        assert!(store.job(a, &t.to_string()).is_ok());
        assert_eq!(
            store.job(b, &t.to_string()),
            Err(Error::JobNotFound(t.to_string()))
        );
        assert!(store.job(a, "not-a-guid").is_err());
    }

    #[test]
    fn a_customer_reset_frees_its_devices_and_leaves_others_alone() {
        let store = store();
        let (a, b) = (customer(1), customer(2));
        store
            .create_batch(a, BatchId::parse("B").unwrap(), vec![pk("A1")], t0())
            .unwrap();
        store
            .create_batch(b, BatchId::parse("B").unwrap(), vec![pk("B1")], t0())
            .unwrap();
        store.reset_customer(a);
        assert!(store.list_batches(a, done()).is_empty());
        assert_eq!(store.list_batches(b, done())[0].devices_count, 1);
        // A's device is free again: B may now register it.
        let t = store.add_devices(b, "B", vec![pk("A1")], done()).unwrap();
        let job = store.job(b, &t.to_string()).unwrap();
        assert!(matches!(
            job.entries[0].outcome,
            crate::domain::job::Outcome::Succeeded(_)
        ));
    }
}
