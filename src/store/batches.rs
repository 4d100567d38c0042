//! Batches and their devices: uploads, listings with paging, device update and deletion.
//!
//! Size: ~320 lines of code, the rest tests; one file because upload, paging and deletion share
//! the slab and index invariants of [`super::Customer`].

use std::collections::HashMap;
use std::sync::Arc;

use super::document::log::Record;
use super::shards::World;
use super::{Batch, Customer, DeviceRecord, Group, Store};
use crate::domain::Error;
use crate::domain::device::DeviceSubmission;
use crate::domain::ids::{BatchId, BatchKey, CustomerId, DeviceId, PolicyId, TrackingId};
use crate::domain::job::{Job, JobEntry, JobStatus, Outcome, batch_status};
use crate::domain::policy::Assignment;
use crate::domain::timestamp::Timestamp;
use crate::domain::upload::{self, Decision};

/// A batch as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchView {
    pub id: BatchId,
    pub created_at: Timestamp,
    /// Registered devices listed in the batch now.
    pub devices_count: usize,
    /// Derived from the upload jobs into the batch (`domain::job::batch_status`).
    pub status: JobStatus,
}

/// A device as the API shows it (never its hardware hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceView {
    pub id: DeviceId,
    pub serial_number: Option<String>,
    pub product_key: Option<String>,
    pub model_name: Option<String>,
    pub oem_manufacturer_name: Option<String>,
    /// The assigned profile's **name**: the service shows names on read, takes ids on write.
    pub policy_name: Option<String>,
    pub uploaded_at: Timestamp,
}

/// Where a page of a batch's devices resumes: after position `after` in the batch's upload
/// order, in the state generation `epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub epoch: u64,
    pub after: u64,
}

/// One page of a batch's devices, and the cursor of the next page when more remain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePage {
    pub devices: Vec<DeviceView>,
    pub next: Option<Cursor>,
}

impl Store {
    /// Creates a batch and a job uploading `devices` into it.
    pub fn create_batch(
        &self,
        customer: CustomerId,
        batch: BatchId,
        devices: Vec<DeviceSubmission>,
        now: Timestamp,
    ) -> Result<TrackingId, Error> {
        let screened = upload::screen(devices, self.strict_hardware_hash);
        let world = self.world();
        let shard = world.customer_or_default(customer);
        let mut cust = self.write(&shard);
        if let Some((_, existing)) = cust.batch(batch.as_str()) {
            return Err(Error::BatchAlreadyExists(existing.id.to_string()));
        }
        let slot = cust.batches.len() as u32;
        cust.batch_index.insert(batch.key().clone(), slot);
        cust.batches.push(Batch::new(batch, now));
        Ok(self.accept_upload(&world, &mut cust, customer, slot, screened, now))
    }

    /// Adds a job uploading `devices` into an existing batch.
    pub fn add_devices(
        &self,
        customer: CustomerId,
        batch: &str,
        devices: Vec<DeviceSubmission>,
        now: Timestamp,
    ) -> Result<TrackingId, Error> {
        let screened = upload::screen(devices, self.strict_hardware_hash);
        let world = self.world();
        let not_found = || Error::BatchNotFound(batch.to_owned());
        let shard = world.customer(customer).ok_or_else(not_found)?;
        let mut cust = self.write(&shard);
        let slot = cust
            .batch(batch)
            .map(|(slot, _)| slot)
            .ok_or_else(not_found)?;
        Ok(self.accept_upload(&world, &mut cust, customer, slot, screened, now))
    }

    /// Decides every device's outcome now and registers the new ones, under the customer's
    /// lock, so that the second of two quick uploads of one device sees the first. What the
    /// upload says on its own (`screened`: repeats, missing identifiers) was worked out before
    /// the lock, which is held only for what needs the registry.
    ///
    /// Every decision is final before anything is applied: a device is decided for registration
    /// by claiming its identity in the global index (check and insert in one step), so of two
    /// customers uploading one device at once the second gets its 808 as if the first upload
    /// had come first. Only then are the devices and the job stored.
    fn accept_upload(
        &self,
        world: &World<'_>,
        cust: &mut Customer,
        customer: CustomerId,
        batch: u32,
        screened: upload::Screened,
        now: Timestamp,
    ) -> TrackingId {
        let decisions = {
            let oem = world.oem();
            upload::decide(
                &screened,
                &mut world.identities().seen_by(cust.tenant),
                (oem.is_seeded(), |d: &DeviceSubmission| oem.facts(d)),
            )
        };
        let devices = screened.into_devices();
        let schedule = Job::new(TrackingId::new(), now, self.timings, Vec::new());
        // An upload that registers nothing adds no group: groups must not grow per request.
        let registers = decisions.iter().any(|d| matches!(d, Decision::Register(_)));
        let group = if registers {
            cust.add_group(Group {
                uploaded_at: now,
                listed_from: schedule.completed_at,
            })
        } else {
            0
        };
        cust.reserve_devices(devices.len());
        if let Some(b) = cust.batches.get_mut(batch as usize) {
            b.devices.reserve(devices.len());
        }
        let mut entries = Vec::with_capacity(devices.len());
        for (device, decision) in devices.into_iter().zip(decisions) {
            let hashed = device.hardware_hash().is_some();
            let text = device.into_text();
            let outcome = match decision {
                Decision::Fail(error) => Outcome::Failed(error),
                Decision::Register(identity) => {
                    let id = cust.mint_device_id();
                    cust.insert_device(DeviceRecord {
                        id,
                        identity,
                        hashed,
                        text: text.clone(),
                        batch,
                        position: 0,
                        group,
                        assignment: Assignment::default(),
                    });
                    Outcome::Succeeded(id)
                }
            };
            entries.push(JobEntry {
                device_ref: None,
                text,
                outcome,
            });
        }
        let job = Job {
            entries,
            batch: cust.batches.get(batch as usize).map(|b| b.id.clone()),
            ..schedule
        };
        let id = job.id;
        cust.note_upload(&job);
        let job = Arc::new(job);
        cust.jobs.insert(id, job.clone());
        let Some(b) = cust.batches.get(batch as usize) else {
            return id;
        };
        self.record(|| Record::Upload {
            customer,
            batch: b.id.clone(),
            created_at: b.created_at,
            group: (now, job.completed_at),
            devices: job
                .entries
                .iter()
                .filter_map(|e| match e.outcome {
                    Outcome::Succeeded(id) => cust.device_by_id(id).map(|(_, d)| d.clone()),
                    Outcome::Failed(_) => None,
                })
                .collect(),
            job: job.clone(),
        });
        id
    }

    /// The customer's batches in creation order, each with its listed device count at `now`.
    pub fn list_batches(&self, customer: CustomerId, now: Timestamp) -> Vec<BatchView> {
        let world = self.world();
        let Some(shard) = world.customer(customer) else {
            return Vec::new();
        };
        let cust = self.read(&shard);
        // Only running uploads can make a batch anything but `finished`; most jobs are finished,
        // and skipping them before hashing keeps a listing cheap with many jobs retained.
        let mut uploads: HashMap<&BatchKey, Vec<&Job>> = HashMap::new();
        let running = cust.uploads_until.is_some_and(|t| now < t);
        for job in cust.jobs.values().filter(|_| running) {
            if let Some(batch) = &job.batch
                && !job.status_at(now).is_terminal()
            {
                uploads.entry(batch.key()).or_default().push(job);
            }
        }
        cust.batches
            .iter()
            .map(|b| BatchView {
                id: b.id.clone(),
                created_at: b.created_at,
                status: batch_status(uploads.get(b.id.key()).into_iter().flatten().copied(), now),
                devices_count: b
                    .devices
                    .iter()
                    .filter_map(|slot| cust.device(*slot))
                    .filter(|d| cust.is_listed(d, now))
                    .count(),
            })
            .collect()
    }

    /// Up to `limit` listed devices of a batch in upload order, resuming after `cursor`. Seeking
    /// is by position, so any page costs the same.
    pub fn list_devices(
        &self,
        customer: CustomerId,
        batch: &str,
        cursor: Option<Cursor>,
        limit: usize,
        now: Timestamp,
    ) -> Result<DevicePage, Error> {
        let world = self.world();
        let not_found = || Error::BatchNotFound(batch.to_owned());
        let shard = world.customer(customer).ok_or_else(not_found)?;
        let cust = self.read(&shard);
        let (_, b) = cust.batch(batch).ok_or_else(not_found)?;
        let epoch = world.epoch();
        // A token's position may have been dropped since (every device up to it deleted): the
        // page then starts at the first device left.
        let start = match cursor {
            None => 0,
            Some(c) if c.epoch == epoch && c.after < b.end() => c.after + 1,
            Some(_) => return Err(Error::StaleContinuationToken),
        };
        let mut listed = b
            .slots_from(start)
            .filter_map(|(position, slot)| Some((position, cust.device(slot)?)))
            .filter(|(_, d)| cust.is_listed(d, now));
        let mut devices = Vec::with_capacity(limit.min(b.devices.len()));
        let mut last = None;
        for (position, d) in listed.by_ref().take(limit) {
            devices.push(cust.view(d, now));
            last = Some(position);
        }
        let next = match (last, listed.next()) {
            (Some(after), Some(_)) => Some(Cursor { epoch, after }),
            _ => None,
        };
        Ok(DevicePage { devices, next })
    }

    /// Replaces a listed device's profile assignment at once (`PUT …/devices/{id}`).
    pub fn update_device(
        &self,
        customer: CustomerId,
        batch: &str,
        device: &str,
        policy: Option<Option<String>>,
        now: Timestamp,
    ) -> Result<DeviceView, Error> {
        let world = self.world();
        let shard = world
            .customer(customer)
            .ok_or_else(|| Error::BatchNotFound(batch.to_owned()))?;
        let mut cust = self.write(&shard);
        let slot = cust.listed_device_in(batch, device, now)?;
        if let Some(policy) = policy {
            let policy = match policy {
                None => None,
                Some(raw) => Some(
                    PolicyId::parse(&raw)
                        .filter(|p| cust.policies.contains_key(p))
                        .ok_or(Error::PolicyNotFound(raw))?,
                ),
            };
            if let Some(Some(d)) = cust.devices.get_mut(slot as usize) {
                d.assignment.set(policy);
                let change = (d.id, d.assignment.clone());
                self.record(|| Record::Assign {
                    customer,
                    devices: vec![change],
                    job: None,
                    deleted_policy: None,
                });
            }
        }
        let d = cust
            .device(slot)
            .ok_or_else(|| Error::DeviceNotFound(device.to_owned()))?;
        Ok(cust.view(d, now))
    }

    /// Deletes a listed device: it is no longer registered and can be uploaded again.
    pub fn delete_device(
        &self,
        customer: CustomerId,
        batch: &str,
        device: &str,
        now: Timestamp,
    ) -> Result<(), Error> {
        let world = self.world();
        let shard = world
            .customer(customer)
            .ok_or_else(|| Error::BatchNotFound(batch.to_owned()))?;
        let mut cust = self.write(&shard);
        let slot = cust.listed_device_in(batch, device, now)?;
        if let Some(record) = cust.remove_device(slot) {
            world.identities().release(&record.identity, customer);
            self.record(|| Record::Delete {
                customer,
                device: record.id,
            });
        }
        Ok(())
    }
}

impl Customer {
    /// The slot of a device listed in `batch` at `now`, else the matching 404.
    fn listed_device_in(&self, batch: &str, device: &str, now: Timestamp) -> Result<u32, Error> {
        let (batch_slot, _) = self
            .batch(batch)
            .ok_or_else(|| Error::BatchNotFound(batch.to_owned()))?;
        DeviceId::parse(device)
            .and_then(|id| self.device_by_id(id))
            .filter(|(_, d)| d.batch == batch_slot && self.is_listed(d, now))
            .map(|(slot, _)| slot)
            .ok_or_else(|| Error::DeviceNotFound(device.to_owned()))
    }

    pub(super) fn view(&self, d: &DeviceRecord, now: Timestamp) -> DeviceView {
        let text = &d.text;
        DeviceView {
            id: d.id,
            serial_number: text.serial_number().map(str::to_owned),
            product_key: text.product_key().map(str::to_owned),
            model_name: text.model_name().map(str::to_owned),
            oem_manufacturer_name: text.oem_manufacturer_name().map(str::to_owned),
            policy_name: d
                .assignment
                .at(now)
                .and_then(|p| self.policies.get(&p))
                .map(|p| p.fields.name.clone()),
            uploaded_at: self.group(d).uploaded_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;
    use crate::domain::job::DeviceError;

    fn outcomes(store: &Store, c: CustomerId, t: TrackingId) -> Vec<Outcome> {
        let job = store.job(c, &t.to_string()).unwrap();
        job.entries.iter().map(|e| e.outcome).collect()
    }

    fn batch(name: &str) -> BatchId {
        BatchId::parse(name).unwrap()
    }

    #[test]
    fn a_second_upload_of_a_device_fails_806_here_and_808_elsewhere() {
        let store = store();
        let (a, b) = (customer(1), customer(2));
        store
            .create_batch(a, batch("A"), vec![pk("K1")], t0())
            .unwrap();
        let again = store.add_devices(a, "a", vec![pk("K1")], t0()).unwrap();
        assert_eq!(
            outcomes(&store, a, again),
            vec![Outcome::Failed(DeviceError::AlreadyAssigned)]
        );
        let other = store
            .create_batch(b, batch("A"), vec![pk("K1")], t0())
            .unwrap();
        assert_eq!(
            outcomes(&store, b, other),
            vec![Outcome::Failed(DeviceError::AssignedToOtherTenant)]
        );
    }

    #[test]
    fn two_customers_uploading_the_same_devices_at_once_get_one_owner_each() {
        // Both uploads decide at the same moment (a barrier), so both find most devices free:
        // the claim, check and insert in one step, must keep the second from registering them.
        let store = store();
        let (a, b) = (customer(1), customer(2));
        let keys: Vec<String> = (0..20_000).map(|k| format!("RACE-{k}")).collect();
        for c in [a, b] {
            store
                .create_batch(c, batch("R"), vec![pk(&format!("SEED-{c}"))], t0())
                .unwrap();
        }
        let barrier = std::sync::Barrier::new(2);
        let jobs: Vec<(CustomerId, TrackingId)> = std::thread::scope(|s| {
            let handles: Vec<_> = [a, b]
                .into_iter()
                .map(|c| {
                    let (store, barrier, keys) = (&store, &barrier, &keys);
                    s.spawn(move || {
                        let devices = keys.iter().map(|k| pk(k)).collect();
                        barrier.wait();
                        (c, store.add_devices(c, "R", devices, t0()).unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut registered = vec![0u32; keys.len()];
        for (c, t) in &jobs {
            for (k, outcome) in outcomes(&store, *c, *t).into_iter().enumerate() {
                match outcome {
                    Outcome::Succeeded(_) => registered[k] += 1,
                    Outcome::Failed(DeviceError::AssignedToOtherTenant) => {}
                    unexpected => panic!("{c} device {k}: {unexpected:?}"),
                }
            }
        }
        assert!(
            registered.iter().all(|n| *n == 1),
            "every device has one owner"
        );
        let listed: usize = [a, b]
            .into_iter()
            .map(|c| store.list_batches(c, done())[0].devices_count - 1)
            .sum();
        assert_eq!(listed, keys.len());
    }

    #[test]
    fn batch_names_are_unique_per_customer_ignoring_case() {
        let store = store();
        let c = customer(1);
        store
            .create_batch(c, batch("Batch"), vec![pk("K1")], t0())
            .unwrap();
        let err = store.create_batch(c, batch("BATCH"), vec![pk("K2")], t0());
        assert_eq!(err, Err(Error::BatchAlreadyExists("Batch".into())));
        assert_eq!(
            store.add_devices(c, "nope", vec![pk("K3")], t0()),
            Err(Error::BatchNotFound("nope".into()))
        );
    }

    #[test]
    fn devices_are_listed_and_counted_only_once_their_job_is_terminal() {
        let store = store();
        let c = customer(1);
        store
            .create_batch(c, batch("B"), vec![pk("K1"), pk("K2")], t0())
            .unwrap();
        assert_eq!(store.list_batches(c, t0())[0].devices_count, 0);
        assert!(
            store
                .list_devices(c, "b", None, 100, t0())
                .unwrap()
                .devices
                .is_empty()
        );
        assert_eq!(store.list_batches(c, done())[0].devices_count, 2);
        assert_eq!(
            store
                .list_devices(c, "b", None, 100, done())
                .unwrap()
                .devices
                .len(),
            2
        );
    }

    #[test]
    fn pages_resume_after_the_cursor_even_across_deletions() {
        let store = store();
        let c = customer(1);
        let keys: Vec<_> = (0..5).map(|i| pk(&format!("K{i}"))).collect();
        store.create_batch(c, batch("B"), keys, t0()).unwrap();
        let first = store.list_devices(c, "B", None, 2, done()).unwrap();
        assert_eq!(first.devices.len(), 2);
        let cursor = first.next.unwrap();
        // Deleting a device already seen does not shift the next page.
        store
            .delete_device(c, "B", &first.devices[0].id.to_string(), done())
            .unwrap();
        let second = store.list_devices(c, "B", Some(cursor), 2, done()).unwrap();
        let keys: Vec<_> = second
            .devices
            .iter()
            .map(|d| d.product_key.clone().unwrap())
            .collect();
        assert_eq!(keys, ["K2", "K3"]);
        let third = store.list_devices(c, "B", second.next, 2, done()).unwrap();
        assert_eq!(third.devices.len(), 1);
        assert_eq!(third.next, None);
        let stale = Cursor {
            epoch: cursor.epoch ^ 1,
            after: 0,
        };
        assert_eq!(
            store.list_devices(c, "B", Some(stale), 2, done()),
            Err(Error::StaleContinuationToken)
        );
    }

    #[test]
    fn a_deleted_device_can_be_uploaded_again() {
        let store = store();
        let c = customer(1);
        store
            .create_batch(c, batch("B"), vec![pk("K")], t0())
            .unwrap();
        let id = store.list_devices(c, "B", None, 1, done()).unwrap().devices[0].id;
        assert_eq!(
            store.delete_device(c, "other", &id.to_string(), done()),
            Err(Error::BatchNotFound("other".into()))
        );
        store
            .delete_device(c, "B", &id.to_string(), done())
            .unwrap();
        assert_eq!(
            store.delete_device(c, "B", &id.to_string(), done()),
            Err(Error::DeviceNotFound(id.to_string()))
        );
        let again = store.add_devices(c, "B", vec![pk("K")], done()).unwrap();
        assert!(matches!(
            outcomes(&store, c, again)[0],
            Outcome::Succeeded(_)
        ));
    }

    /// Every listed device of a batch, a thousand a page.
    fn all(store: &Store, c: CustomerId, b: &str, now: Timestamp) -> Vec<DeviceView> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.list_devices(c, b, cursor, 1000, now).unwrap();
            out.extend(page.devices);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return out,
            }
        }
    }

    /// Deletes every device of the batch listed at `now`, one by one, by id.
    fn delete_all(store: &Store, c: CustomerId, b: &str, now: Timestamp) {
        for d in all(store, c, b, now) {
            store.delete_device(c, b, &d.id.to_string(), now).unwrap();
        }
        assert!(all(store, c, b, now).is_empty(), "{b} is empty");
    }

    fn keys(devices: &[DeviceView]) -> Vec<String> {
        devices
            .iter()
            .map(|d| d.product_key.clone().unwrap())
            .collect()
    }

    /// (slab length, vacated slots, batch `b`'s list length and dropped positions)
    fn layout(store: &Store, c: CustomerId, b: &str) -> (usize, usize, usize, u64) {
        let world = store.world();
        let shard = world.customer(c).unwrap();
        let cust = store.read(&shard);
        let (_, batch) = cust.batch(b).unwrap();
        (
            cust.devices.len(),
            cust.vacated.len(),
            batch.devices.len(),
            batch.dropped,
        )
    }

    #[test]
    fn deleted_devices_leave_their_slots_to_later_uploads_and_their_batch_shrinks() {
        let store = store();
        let c = customer(1);
        let later = done().plus(std::time::Duration::from_secs(10));
        let old: Vec<_> = (0..3000).map(|i| pk(&format!("OLD{i}"))).collect();
        store.create_batch(c, batch("B"), old, t0()).unwrap();
        let first = store.list_devices(c, "B", None, 1000, done()).unwrap();
        let cursor = first.next.unwrap();
        let listed = all(&store, c, "B", done());
        for d in &listed[..2100] {
            store
                .delete_device(c, "B", &d.id.to_string(), done())
                .unwrap();
        }
        // Two whole pieces of 1,024 deleted devices left the batch's list; its positions did
        // not move, and a token into the dropped part resumes at the first device left.
        assert_eq!(layout(&store, c, "B"), (3000, 2100, 3000 - 2048, 2048));
        let resumed = store.list_devices(c, "B", Some(cursor), 2, done()).unwrap();
        assert_eq!(keys(&resumed.devices), ["OLD2100", "OLD2101"]);
        let after = store.list_devices(c, "B", resumed.next, 1, done()).unwrap();
        assert_eq!(keys(&after.devices), ["OLD2102"]);

        // A new batch's devices take the empty slots: the slab does not grow.
        let new: Vec<_> = (0..2100).map(|i| pk(&format!("NEW{i}"))).collect();
        store.create_batch(c, batch("D"), new, done()).unwrap();
        assert_eq!(layout(&store, c, "B").0, 3000);
        assert_eq!(layout(&store, c, "B").1, 0);
        let expected: Vec<String> = (0..2100).map(|i| format!("NEW{i}")).collect();
        assert_eq!(keys(&all(&store, c, "D", later)), expected);
        let expected: Vec<String> = (2100..3000).map(|i| format!("OLD{i}")).collect();
        assert_eq!(keys(&all(&store, c, "B", later)), expected);
        let batches = store.list_batches(c, later);
        assert_eq!(
            batches.iter().map(|b| b.devices_count).collect::<Vec<_>>(),
            [900, 2100]
        );

        // With every device deleted, the slab and the lists are given back.
        for b in ["B", "D"] {
            delete_all(&store, c, b, later);
        }
        assert_eq!(layout(&store, c, "B"), (0, 0, 0, 3000));
        assert_eq!(layout(&store, c, "D"), (0, 0, 0, 2100));
        assert_eq!(
            store.list_devices(c, "B", Some(cursor), 5, later),
            Ok(DevicePage {
                devices: Vec::new(),
                next: None
            })
        );
    }

    #[test]
    fn a_deleted_devices_id_names_nothing_once_its_slot_is_taken() {
        let store = store();
        let c = customer(1);
        let later = done().plus(std::time::Duration::from_secs(10));
        store
            .create_batch(c, batch("B"), vec![pk("A"), pk("B")], t0())
            .unwrap();
        let gone = all(&store, c, "B", done())[0].id.to_string();
        store.delete_device(c, "B", &gone, done()).unwrap();
        // The next device takes the deleted one's slot, under an id of its own.
        store.add_devices(c, "B", vec![pk("C")], done()).unwrap();
        let listed = all(&store, c, "B", later);
        assert_eq!(keys(&listed), ["B", "C"]);
        assert_eq!(layout(&store, c, "B").0, 2, "the slab did not grow");
        assert!(listed.iter().all(|d| d.id.to_string() != gone));
        assert_eq!(
            store.delete_device(c, "B", &gone, later),
            Err(Error::DeviceNotFound(gone.clone()))
        );
        delete_all(&store, c, "B", later);
    }

    #[test]
    fn devices_restored_into_other_slots_are_found_by_their_ids() {
        let store = store();
        let c = customer(1);
        let later = done().plus(std::time::Duration::from_secs(10));
        // Two batches uploaded in turn, then a deletion: an export lists them batch by batch,
        // so an import gives most devices another slot than the id was minted for.
        store
            .create_batch(c, batch("A"), vec![pk("A0")], t0())
            .unwrap();
        store
            .create_batch(c, batch("B"), vec![pk("B0")], t0())
            .unwrap();
        for i in 1..50 {
            store
                .add_devices(c, "A", vec![pk(&format!("A{i}"))], t0())
                .unwrap();
            store
                .add_devices(c, "B", vec![pk(&format!("B{i}"))], t0())
                .unwrap();
        }
        let gone = all(&store, c, "A", done())[7].id.to_string();
        store.delete_device(c, "A", &gone, done()).unwrap();
        let exported = store.export(None);
        store.reset();
        store.import(&exported, done()).unwrap();
        assert_eq!(store.export(None), exported);
        assert_eq!(
            store.delete_device(c, "A", &gone, later),
            Err(Error::DeviceNotFound(gone.clone()))
        );
        // A later upload mints ids for the slots the import left free.
        store.add_devices(c, "A", vec![pk("A50")], later).unwrap();
        let now = later.plus(std::time::Duration::from_secs(10));
        for b in ["A", "B"] {
            assert_eq!(all(&store, c, b, now).len(), 50);
            delete_all(&store, c, b, now);
        }
    }
}
