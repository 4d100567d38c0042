//! The in-memory state: the only code that touches the maps of batches, devices, policies and jobs.
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

mod batches;
mod idempotency;
mod policies;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::domain::Error;
use crate::domain::device::Identity;
use crate::domain::ids::{BatchId, BatchKey, CustomerId, DeviceId, PolicyId, TrackingId};
use crate::domain::job::{Job, Timings};
use crate::domain::policy::{Assignment, Policy};
use crate::domain::timestamp::Timestamp;

pub use batches::{BatchView, Cursor, DevicePage, DeviceView};
pub use idempotency::{Claim, IdempotencyCache, RecordedAnswer};
pub use policies::{PolicyUpdate, PolicyView};

/// Shared emulator state. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    state: Mutex<State>,
    /// Replays of writes keyed by `MS-RequestId`; its own lock, never taken with `state`'s.
    pub idempotency: IdempotencyCache,
    timings: Timings,
    strict_hardware_hash: bool,
}

#[derive(Debug)]
struct State {
    /// Changes on every reset, so continuation tokens from before it are recognised as stale.
    epoch: u64,
    customers: HashMap<CustomerId, Customer>,
    /// Every registered device identity and the customer (tenant) that holds it.
    identities: HashMap<Identity, CustomerId>,
}

impl State {
    fn new() -> Self {
        Self {
            epoch: rand_epoch(),
            customers: HashMap::new(),
            identities: HashMap::new(),
        }
    }
}

fn rand_epoch() -> u64 {
    // The low half of a random GUID: unique enough to tell one reset from another.
    uuid::Uuid::new_v4().as_u64_pair().1
}

#[derive(Debug, Default)]
struct Customer {
    batches: HashMap<BatchKey, Batch>,
    /// Batch keys in creation order, for listing.
    batch_order: Vec<BatchKey>,
    devices: HashMap<DeviceId, DeviceRecord>,
    jobs: HashMap<TrackingId, Arc<Job>>,
    policies: HashMap<PolicyId, Policy>,
    /// Policy ids in creation order, for listing.
    policy_order: Vec<PolicyId>,
}

#[derive(Debug)]
struct Batch {
    id: BatchId,
    created_at: Timestamp,
    /// `(sequence, device)` in upload order. Sequences only grow, so a continuation token that
    /// holds one finds its place by binary search even after deletions.
    devices: Vec<(u64, DeviceId)>,
    next_seq: u64,
}

/// A registered device. It is registered (for 806/808) from acceptance, and listed once the job
/// that uploaded it is terminal.
#[derive(Debug, Clone)]
struct DeviceRecord {
    id: DeviceId,
    batch: BatchKey,
    identity: Identity,
    serial_number: Option<String>,
    product_key: Option<String>,
    oem_manufacturer_name: Option<String>,
    model_name: Option<String>,
    uploaded_at: Timestamp,
    listed_from: Timestamp,
    assignment: Assignment,
}

impl DeviceRecord {
    fn is_listed(&self, now: Timestamp) -> bool {
        self.listed_from <= now
    }
}

impl Store {
    pub fn new(timings: Timings, strict_hardware_hash: bool) -> Self {
        Self {
            state: Mutex::new(State::new()),
            idempotency: IdempotencyCache::default(),
            timings,
            strict_hardware_hash,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every mutation below is decided first and applied without fallible steps, so a panic
        // cannot leave half an upload behind: poisoning is safe to ignore.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
    use crate::domain::device::{DeviceSubmission, present};
    use std::time::Duration;
    use uuid::Uuid;

    pub fn store() -> Store {
        Store::new(
            Timings {
                queued_for: Duration::from_secs(1),
                processing_for: Duration::from_secs(2),
            },
            false,
        )
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
        DeviceSubmission {
            product_key: present(Some(key.into())),
            ..Default::default()
        }
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
}
