//! The in-memory state: the only code that touches the maps of batches, devices, policies and jobs.
//!
//! Size: ~440 lines of code, the rest tests: the state's types, the lock and the customer-wide
//! operations (reset, faults, journal); each resource's operations are in their own file.
//!
//! # Locking
//!
//! All registry state sits behind one `std::sync::Mutex`, as in mini-redis. The 806/808 rule
//! spans customers (a device registered to one tenant must fail for every other), and batch and
//! policy counts span batches, devices and policies, so those invariants need one lock over all
//! of them; per-shard locks could not give that. Critical sections are short and never await:
//! request bodies are parsed before the lock is taken, and jobs are handed out as `Arc`s so that
//! large status documents are rendered after it is released.
//!
//! Counts (`devicesCount`, `devicesAssignedCount`) are derived when read, never kept as counters,
//! so they cannot drift under concurrent uploads, assignments and deletions.
//!
//! Each partner tenant (`--auth jwt`) has a `Store` of its own, owned by the default one: its own
//! lock and registry, so these invariants hold within one partner's world (see
//! `store/partners.rs`).

mod batches;
mod customers;
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
pub use document::{ClockDoc, Document, PartnerDoc, SeedError, SeedSummary, VERSION};
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
/// idempotency records), each behind its own lock; no two of these locks are ever held at once.
/// The default store also owns the partner tenants' stores (see `store/partners.rs`).
#[derive(Debug)]
pub struct Store {
    state: Mutex<State>,
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

#[derive(Debug)]
struct State {
    /// Changes on every reset, so continuation tokens from before it are recognised as stale.
    epoch: u64,
    customers: HashMap<CustomerId, Customer>,
    /// Every registered device identity and the customer (tenant) that holds it.
    identities: Identities,
    /// The mock Entra ID's declared directory and issued grants.
    identity: identity::IdentityState,
    /// Devices OEMs registered with Autopilot (`oemDevices`), for 807 and 814.
    oem: oem::OemRegistry,
}

/// Registered identities and their owners. Owners are interned as `u32`, which halves the size
/// of the largest map in the emulator (one entry per registered device).
#[derive(Debug, Default)]
struct Identities {
    owners: IdMap<Identity, u32>,
    tenants: Vec<CustomerId>,
    tenant_index: HashMap<CustomerId, u32>,
}

impl Identities {
    fn owner(&self, identity: &Identity) -> Option<CustomerId> {
        let t = *self.owners.get(identity)?;
        self.tenants.get(t as usize).copied()
    }

    fn contains(&self, identity: &Identity) -> bool {
        self.owners.contains_key(identity)
    }

    fn insert(&mut self, identity: Identity, owner: CustomerId) {
        let t = match self.tenant_index.get(&owner) {
            Some(t) => *t,
            None => {
                let t = self.tenants.len() as u32;
                self.tenants.push(owner);
                self.tenant_index.insert(owner, t);
                t
            }
        };
        self.owners.insert(identity, t);
    }

    fn remove(&mut self, identity: &Identity) {
        self.owners.remove(identity);
    }

    fn reserve(&mut self, additional: usize) {
        self.owners.reserve(additional);
    }
}

impl State {
    fn new() -> Self {
        Self {
            epoch: rand_epoch(),
            customers: HashMap::new(),
            identities: Identities::default(),
            identity: identity::IdentityState::default(),
            oem: oem::OemRegistry::default(),
        }
    }
}

fn rand_epoch() -> u64 {
    // The low half of a random GUID: unique enough to tell one reset from another.
    uuid::Uuid::new_v4().as_u64_pair().1
}

/// One customer's data. Devices live in a slab addressed by `u32` slots: batches list slots,
/// and a deleted device leaves an empty slot behind, so positions in a batch never shift.
#[derive(Debug, Default, Clone)]
struct Customer {
    batches: Vec<Batch>,
    batch_index: HashMap<BatchKey, u32>,
    devices: Vec<Option<DeviceRecord>>,
    device_index: IdMap<DeviceId, u32>,
    /// Upload times shared by the devices of one upload.
    groups: Vec<Group>,
    jobs: IdMap<TrackingId, Arc<Job>>,
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
        let slot = *self.device_index.get(&id)?;
        Some((slot, self.device(slot)?))
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
        self.device_index.reserve(additional);
    }

    /// Puts a device in the slab, its index and its batch.
    fn insert_device(&mut self, record: DeviceRecord) {
        let slot = self.devices.len() as u32;
        if let Some(b) = self.batches.get_mut(record.batch as usize) {
            b.devices.push(slot);
        }
        self.device_index.insert(record.id, slot);
        self.devices.push(Some(record));
    }
}

#[derive(Debug, Clone)]
struct Batch {
    id: BatchId,
    created_at: Timestamp,
    /// Device slots in upload order; a continuation token holds a position in this list.
    devices: Vec<u32>,
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
            state: Mutex::new(State::new()),
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

    /// The registry for reading.
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The registry for changing: counts the change for persistence and the dashboard.
    fn write(&self) -> MutexGuard<'_, State> {
        // Counted once the lock is held, so a reader that reads the count and then takes the lock
        // sees the change itself: a cache keyed by the count is never stale, at worst redone.
        let guard = lock(&self.state);
        self.changes.fetch_add(1, Ordering::Relaxed);
        guard
    }

    /// Records that a manual clock moved, so a restored state resumes from it.
    pub fn record_clock(&self, clock: ClockDoc) {
        self.record(|| Record::Clock(clock));
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
            let mut state = self.write();
            *state = State::new();
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
            let mut state = self.write();
            if let Some(cust) = state.customers.remove(&customer) {
                for d in cust.devices.iter().flatten() {
                    state.identities.remove(&d.identity);
                }
                for f in &cust.foreign {
                    state.identities.remove(&f.identity);
                }
            }
            // Continuation tokens of the customer's old batches must not resume in new ones.
            state.epoch = rand_epoch();
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
        let state = self.state();
        state
            .customers
            .get(&customer)
            .and_then(|c| c.jobs.get(&id))
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
