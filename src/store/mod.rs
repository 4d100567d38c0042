//! The in-memory state: the only code that touches the maps of batches, devices and jobs.
//!
//! # Locking
//!
//! All registry state sits behind one `std::sync::Mutex`, as in mini-redis. The 806/808 rule
//! spans customers (a device registered to one tenant must fail for every other), and batch
//! device counts span batches and devices, so those invariants need one lock over all of them;
//! per-shard locks could not give that. Critical sections are short and never await: request
//! bodies are parsed before the lock is taken, and jobs are handed out as `Arc`s so that large
//! status documents are rendered after it is released.

mod idempotency;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::domain::Error;
use crate::domain::device::{DeviceSubmission, Identity};
use crate::domain::ids::{BatchId, BatchKey, CustomerId, DeviceId, TrackingId};
use crate::domain::job::{Job, JobEntry, Outcome, Timings};
use crate::domain::timestamp::Timestamp;
use crate::domain::upload::{self, Decision};

pub use idempotency::{Claim, IdempotencyCache, RecordedAnswer};

/// Shared emulator state. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    state: Mutex<State>,
    /// Replays of writes keyed by `MS-RequestId`; its own lock, never taken with `state`'s.
    pub idempotency: IdempotencyCache,
    timings: Timings,
    strict_hardware_hash: bool,
}

#[derive(Debug, Default)]
struct State {
    customers: HashMap<CustomerId, Customer>,
    /// Every registered device identity and the customer (tenant) that holds it.
    identities: HashMap<Identity, CustomerId>,
}

#[derive(Debug, Default)]
struct Customer {
    batches: HashMap<BatchKey, Batch>,
    devices: HashMap<DeviceId, DeviceRecord>,
    jobs: HashMap<TrackingId, Arc<Job>>,
}

#[derive(Debug)]
struct Batch {
    id: BatchId,
    created_at: Timestamp,
    /// Device ids in upload order.
    devices: Vec<DeviceId>,
}

/// A registered device. It is registered (for 806/808) from acceptance, and listed once the job
/// that uploaded it is terminal.
#[derive(Debug, Clone)]
pub struct DeviceRecord {
    pub id: DeviceId,
    pub batch: BatchKey,
    pub identity: Identity,
    pub serial_number: Option<String>,
    pub product_key: Option<String>,
    pub oem_manufacturer_name: Option<String>,
    pub model_name: Option<String>,
    pub uploaded_at: Timestamp,
    pub listed_from: Timestamp,
}

impl Store {
    pub fn new(timings: Timings, strict_hardware_hash: bool) -> Self {
        Self {
            state: Mutex::default(),
            idempotency: IdempotencyCache::default(),
            timings,
            strict_hardware_hash,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied upload: every mutation
        // below is decided first and applied without fallible steps, so poisoning is ignored.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates a batch and a job uploading `devices` into it.
    pub fn create_batch(
        &self,
        customer: CustomerId,
        batch: BatchId,
        devices: Vec<DeviceSubmission>,
        now: Timestamp,
    ) -> Result<TrackingId, Error> {
        let mut state = self.state();
        let key = batch.key().clone();
        let existing = state
            .customers
            .get(&customer)
            .and_then(|c| c.batches.get(&key));
        if let Some(existing) = existing {
            return Err(Error::BatchAlreadyExists(existing.id.to_string()));
        }
        state.customers.entry(customer).or_default().batches.insert(
            key.clone(),
            Batch {
                id: batch,
                created_at: now,
                devices: Vec::new(),
            },
        );
        Ok(self.accept_upload(&mut state, customer, &key, devices, now))
    }

    /// Adds a job uploading `devices` into an existing batch.
    pub fn add_devices(
        &self,
        customer: CustomerId,
        batch: &str,
        devices: Vec<DeviceSubmission>,
        now: Timestamp,
    ) -> Result<TrackingId, Error> {
        let mut state = self.state();
        let key = BatchKey::of(batch);
        let known = state
            .customers
            .get(&customer)
            .is_some_and(|c| c.batches.contains_key(&key));
        if !known {
            return Err(Error::BatchNotFound(batch.to_owned()));
        }
        Ok(self.accept_upload(&mut state, customer, &key, devices, now))
    }

    /// Decides every device's outcome now and registers the new ones, all under one lock, so
    /// that the second of two quick uploads of one device sees the first.
    fn accept_upload(
        &self,
        state: &mut State,
        customer: CustomerId,
        batch: &BatchKey,
        devices: Vec<DeviceSubmission>,
        now: Timestamp,
    ) -> TrackingId {
        let State {
            customers,
            identities,
        } = state;
        let decisions = upload::decide(customer, &devices, self.strict_hardware_hash, |i| {
            identities.get(i).copied()
        });
        let job_id = TrackingId::new();
        let schedule = Job::new(job_id, now, self.timings, Vec::new());
        let cust = customers.entry(customer).or_default();
        let mut entries = Vec::with_capacity(devices.len());
        let mut new_ids = Vec::new();
        for (device, decision) in devices.into_iter().zip(decisions) {
            let outcome = match decision {
                Decision::Fail(error) => Outcome::Failed(error),
                Decision::Register(identity) => {
                    let id = DeviceId::new();
                    identities.insert(identity.clone(), customer);
                    cust.devices.insert(
                        id,
                        DeviceRecord {
                            id,
                            batch: batch.clone(),
                            identity,
                            serial_number: device.serial_number.clone(),
                            product_key: device.product_key.clone(),
                            oem_manufacturer_name: device.oem_manufacturer_name,
                            model_name: device.model_name,
                            uploaded_at: now,
                            listed_from: schedule.completed_at,
                        },
                    );
                    new_ids.push(id);
                    Outcome::Succeeded(id)
                }
            };
            entries.push(JobEntry {
                serial_number: device.serial_number,
                product_key: device.product_key,
                outcome,
            });
        }
        if let Some(b) = cust.batches.get_mut(batch) {
            b.devices.extend(new_ids);
        }
        let job = Job {
            entries,
            ..schedule
        };
        cust.jobs.insert(job_id, Arc::new(job));
        job_id
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

    /// Number of devices of a batch that are listed at `now` (registered and job terminal).
    pub fn listed_device_count(
        &self,
        customer: CustomerId,
        batch: &str,
        now: Timestamp,
    ) -> Option<usize> {
        let state = self.state();
        let cust = state.customers.get(&customer)?;
        let b = cust.batches.get(&BatchKey::of(batch))?;
        Some(
            b.devices
                .iter()
                .filter_map(|id| cust.devices.get(id))
                .filter(|d| d.listed_from <= now)
                .count(),
        )
    }

    /// The batch's creation time and display id, if it exists.
    pub fn batch(&self, customer: CustomerId, batch: &str) -> Option<(BatchId, Timestamp)> {
        let state = self.state();
        let b = state
            .customers
            .get(&customer)?
            .batches
            .get(&BatchKey::of(batch))?;
        Some((b.id.clone(), b.created_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::device::present;
    use crate::domain::job::DeviceError;
    use std::time::Duration;
    use uuid::Uuid;

    fn store() -> Store {
        Store::new(
            Timings {
                queued_for: Duration::from_secs(1),
                processing_for: Duration::from_secs(2),
            },
            false,
        )
    }

    fn t0() -> Timestamp {
        Timestamp::parse_rfc3339("2026-11-21T10:00:00Z").unwrap()
    }

    fn pk(key: &str) -> DeviceSubmission {
        DeviceSubmission {
            product_key: present(Some(key.into())),
            ..Default::default()
        }
    }

    fn outcomes(store: &Store, c: CustomerId, t: TrackingId) -> Vec<Outcome> {
        let job = store.job(c, &t.to_string()).unwrap();
        job.entries.iter().map(|e| e.outcome).collect()
    }

    #[test]
    fn a_second_upload_of_a_device_fails_806_here_and_808_elsewhere() {
        let store = store();
        let (a, b) = (
            CustomerId::from(Uuid::from_u128(1)),
            CustomerId::from(Uuid::from_u128(2)),
        );
        store
            .create_batch(a, BatchId::parse("A").unwrap(), vec![pk("K1")], t0())
            .unwrap();
        let again = store.add_devices(a, "a", vec![pk("K1")], t0()).unwrap();
        assert_eq!(
            outcomes(&store, a, again),
            vec![Outcome::Failed(DeviceError::AlreadyAssigned)]
        );
        let other = store
            .create_batch(b, BatchId::parse("A").unwrap(), vec![pk("K1")], t0())
            .unwrap();
        assert_eq!(
            outcomes(&store, b, other),
            vec![Outcome::Failed(DeviceError::AssignedToOtherTenant)]
        );
    }

    #[test]
    fn batch_names_are_unique_per_customer_ignoring_case() {
        let store = store();
        let c = CustomerId::from(Uuid::from_u128(1));
        store
            .create_batch(c, BatchId::parse("Batch").unwrap(), vec![pk("K1")], t0())
            .unwrap();
        let err = store.create_batch(c, BatchId::parse("BATCH").unwrap(), vec![pk("K2")], t0());
        assert_eq!(err, Err(Error::BatchAlreadyExists("Batch".into())));
        assert_eq!(
            store.add_devices(c, "nope", vec![pk("K3")], t0()),
            Err(Error::BatchNotFound("nope".into()))
        );
    }

    #[test]
    fn devices_are_listed_only_once_their_job_is_terminal() {
        let store = store();
        let c = CustomerId::from(Uuid::from_u128(1));
        store
            .create_batch(
                c,
                BatchId::parse("B").unwrap(),
                vec![pk("K1"), pk("K2")],
                t0(),
            )
            .unwrap();
        assert_eq!(store.listed_device_count(c, "b", t0()), Some(0));
        let done = t0().plus(Duration::from_secs(3));
        assert_eq!(store.listed_device_count(c, "b", done), Some(2));
    }

    #[test]
    fn jobs_are_invisible_to_other_customers() {
        let store = store();
        let (a, b) = (
            CustomerId::from(Uuid::from_u128(1)),
            CustomerId::from(Uuid::from_u128(2)),
        );
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
