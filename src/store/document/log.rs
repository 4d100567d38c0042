//! The append-only log of accepted writes beside the state file: what each write stored (ids
//! minted, times, per-device outcomes, the job), recorded by the store's write methods and
//! replayed on top of the snapshot at start-up.
//!
//! Records carry outcomes, never commands to decide again, and apply as upserts and removals by
//! id: replaying a record the snapshot already holds changes nothing. That is what lets a
//! compaction export the state while writes go on (the snapshot then holds a prefix of the log
//! that follows it) and makes replay independent of how customers' writes interleaved.
//!
//! Lines use the document's vocabulary (`BatchDoc`, `DeviceDoc`, `JobDoc`, `PolicyDoc`) and its
//! entry rules (`entries.rs`), so a device reads back exactly as a snapshot's would.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::SeedError;
use super::entries::{Planned, fail, guid, job, time_at};
use super::export::{device_doc_in, job_doc, policy_doc};
use super::import::{At, Planner};
use super::schema::{BatchDoc, ClockDoc, DeviceDoc, JobDoc, PolicyDoc, ScheduledDoc};
use crate::domain::ids::{BatchId, CustomerId, DeviceId, PolicyId, TenantId, TrackingId};
use crate::domain::job::Job;
use crate::domain::policy::{Assignment, Policy};
use crate::domain::timestamp::Timestamp;
use crate::store::{Batch, DeviceRecord, Group, Store};

/// What one accepted write stored, as the store recorded it (encoded later, off its lock).
#[derive(Debug)]
pub(in crate::store) enum Record {
    /// An upload: the batch (created by it or not), the devices it registered, its job.
    Upload {
        customer: CustomerId,
        batch: BatchId,
        created_at: Timestamp,
        group: (Timestamp, Timestamp),
        devices: Vec<DeviceRecord>,
        job: Arc<Job>,
    },
    /// Devices' assignments after a change (a device update, a policy-update job, a policy
    /// deletion), and the job or deleted policy that came with it.
    Assign {
        customer: CustomerId,
        devices: Vec<(DeviceId, Assignment)>,
        job: Option<Arc<Job>>,
        deleted_policy: Option<PolicyId>,
    },
    /// A policy as stored after its creation or update.
    Policy {
        customer: CustomerId,
        policy: Policy,
    },
    /// A deleted device.
    Delete {
        customer: CustomerId,
        device: DeviceId,
    },
    /// A reset: one customer, or (`None`) this store's whole world.
    Forget { customer: Option<CustomerId> },
    /// What a `--job-retention` pass forgot.
    Prune {
        jobs: Vec<(CustomerId, TrackingId)>,
        customers: Vec<CustomerId>,
    },
    /// A manual clock moved.
    Clock(ClockDoc),
    /// A write the log cannot express (a seed, whose minted ids are not recorded): durable only
    /// once a compaction that follows it has written the snapshot.
    Compact,
}

/// Records waiting to be appended, in the order the writes were applied.
#[derive(Debug, Default)]
pub struct Log {
    /// Off without `--state-file` (nothing would ever drain the records) and while restoring.
    enabled: AtomicBool,
    pending: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    records: Vec<Pushed>,
    /// How many records were ever pushed: the position of the latest.
    pushed: u64,
    /// Devices and other entries the waiting records hold (an upload counts its devices).
    weight: usize,
}

/// Entries waiting records may hold before the writer appends them, whatever
/// `--persist-interval` says: about 6 MiB of records (a device's record is ~100 bytes).
pub const PENDING_BUDGET: usize = 64 * 1024;

impl Log {
    /// Starts recording writes (after the state was restored).
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::Release);
    }

    /// Records a write; called with the writing customer's lock held (the exclusive world gate
    /// for resets, seeds and pruning), so each customer's records are in the order its writes
    /// were applied. Customers' records interleave freely: replay applies outcomes by id, and an
    /// identity passes between customers only through a release that is conditional on its owner.
    pub(in crate::store) fn push(&self, tenant: Option<TenantId>, record: impl FnOnce() -> Record) {
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        let record = record();
        let weight = match &record {
            Record::Upload { devices, .. } => devices.len().max(1),
            Record::Assign { devices, .. } => devices.len().max(1),
            _ => 1,
        };
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.records.push(Pushed { tenant, record });
        pending.pushed += 1;
        pending.weight += weight;
    }

    /// Whether the waiting records outgrew [`PENDING_BUDGET`], so the writer should append
    /// them now rather than at its next interval.
    pub fn over_budget(&self) -> bool {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .weight
            >= PENDING_BUDGET
    }

    /// The position of the latest record: a write answered after it was recorded is durable
    /// once the log is durable up to here.
    pub fn position(&self) -> u64 {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pushed
    }

    /// Takes the records waiting, and the position of the last of them.
    pub fn take(&self) -> (Vec<Pushed>, u64) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.weight = 0;
        (std::mem::take(&mut pending.records), pending.pushed)
    }
}

/// A recorded write of one store (`tenant`: a partner's).
#[derive(Debug)]
pub struct Pushed {
    tenant: Option<TenantId>,
    record: Record,
}

impl Pushed {
    /// Its line; `None` for a write only a snapshot can hold (a seed).
    pub fn line(&self) -> Option<Line> {
        encode(self.tenant, &self.record)
    }

    /// Whether only a snapshot can hold it (a seed): it has no line.
    pub fn needs_snapshot(&self) -> bool {
        matches!(self.record, Record::Compact)
    }
}

/// One line of the log file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Line {
    /// The first line: the log's id, which the snapshot it continues names (`"log"`).
    Log(String),
    Clock(ClockDoc),
    Upload(UploadLine),
    Assign(AssignLine),
    Policy(PolicyLine),
    Delete(DeleteLine),
    Forget(ForgetLine),
    Prune(PruneLine),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partner: Option<String>,
    customer: String,
    batch: BatchDoc,
    job: JobDoc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partner: Option<String>,
    customer: String,
    /// `id`, `policyId` and `scheduledPolicy` of each device.
    devices: Vec<DeviceDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    job: Option<JobDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deleted_policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partner: Option<String>,
    customer: String,
    policy: PolicyDoc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partner: Option<String>,
    customer: String,
    device: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForgetLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    customer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PruneLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partner: Option<String>,
    /// `[customer, job]` pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    jobs: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    customers: Vec<String>,
}

fn assignment_doc(id: DeviceId, a: &Assignment) -> DeviceDoc {
    let (current, scheduled) = a.parts();
    DeviceDoc {
        id: Some(id.to_string()),
        policy_id: current.map(|p| p.to_string()),
        scheduled_policy: scheduled.map(|(from, p)| ScheduledDoc {
            from: from.rfc3339(),
            policy_id: p.map(|p| p.to_string()),
        }),
        ..DeviceDoc::default()
    }
}

/// The line of a record; `None` for [`Record::Compact`], which only a snapshot can hold.
fn encode(tenant: Option<TenantId>, record: &Record) -> Option<Line> {
    let partner = tenant.map(|t| t.to_string());
    Some(match record {
        Record::Upload {
            customer,
            batch,
            created_at,
            group,
            devices,
            job,
        } => {
            let group = Group {
                uploaded_at: group.0,
                listed_from: group.1,
            };
            Line::Upload(UploadLine {
                partner,
                customer: customer.to_string(),
                batch: BatchDoc {
                    id: batch.to_string(),
                    creation_date: Some(created_at.rfc3339()),
                    devices: devices.iter().map(|d| device_doc_in(group, d)).collect(),
                },
                job: job_doc(job),
            })
        }
        Record::Assign {
            customer,
            devices,
            job,
            deleted_policy,
        } => Line::Assign(AssignLine {
            partner,
            customer: customer.to_string(),
            devices: devices
                .iter()
                .map(|(id, a)| assignment_doc(*id, a))
                .collect(),
            job: job.as_deref().map(job_doc),
            deleted_policy: deleted_policy.map(|p| p.to_string()),
        }),
        Record::Policy { customer, policy } => Line::Policy(PolicyLine {
            partner,
            customer: customer.to_string(),
            policy: policy_doc(policy),
        }),
        Record::Delete { customer, device } => Line::Delete(DeleteLine {
            partner,
            customer: customer.to_string(),
            device: device.to_string(),
        }),
        Record::Forget { customer } => Line::Forget(ForgetLine {
            partner,
            customer: customer.map(|c| c.to_string()),
        }),
        Record::Prune { jobs, customers } => Line::Prune(PruneLine {
            partner,
            jobs: jobs
                .iter()
                .map(|(c, j)| (c.to_string(), j.to_string()))
                .collect(),
            customers: customers.iter().map(ToString::to_string).collect(),
        }),
        Record::Clock(clock) => Line::Clock(clock.clone()),
        Record::Compact => return None,
    })
}

fn customer_of(raw: &str) -> Result<CustomerId, SeedError> {
    guid(raw, || "customer".to_owned())
}

/// The assignment a log device line carries.
fn assignment_of(d: &DeviceDoc) -> Result<(DeviceId, Assignment), SeedError> {
    let id = guid(d.id.as_deref().unwrap_or_default(), || {
        "devices[].id".into()
    })?;
    let current = d
        .policy_id
        .as_deref()
        .map(|p| guid(p, || "devices[].policyId".into()))
        .transpose()?;
    let scheduled = match &d.scheduled_policy {
        None => None,
        Some(s) => {
            let from = time_at(Some(&s.from), Timestamp::MAX, || {
                "devices[].scheduledPolicy.from".into()
            })?;
            let policy = s
                .policy_id
                .as_deref()
                .map(|p| guid(p, || "devices[].scheduledPolicy.policyId".into()))
                .transpose()?;
            Some((from, policy))
        }
    };
    Ok((id, Assignment::from_parts(current, scheduled)))
}

impl Store {
    /// Where this store's writes are recorded for `--state-file`.
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// Records a write of this store (see [`Log::push`]).
    pub(in crate::store) fn record(&self, record: impl FnOnce() -> Record) {
        self.log.push(self.tenant, record);
    }

    /// Applies one line of the log, as an upsert or removal by id: a line the state already
    /// holds changes nothing. `now` stands in for times the line leaves out (none it writes).
    pub fn replay(&self, line: &Line, now: Timestamp) -> Result<(), SeedError> {
        // The store a line is about: this one, or a partner's (created on first use).
        let target = |partner: &Option<String>| -> Result<Option<Arc<Store>>, SeedError> {
            partner
                .as_deref()
                .map(|raw| Ok(self.partner(guid::<TenantId>(raw, || "partner".into())?)))
                .transpose()
        };
        macro_rules! target {
            ($partner:expr) => {
                target($partner)?
            };
        }
        match line {
            Line::Log(_) | Line::Clock(_) => {}
            Line::Upload(u) => {
                let store = target!(&u.partner);
                let store = store.as_deref().unwrap_or(self);
                store.replay_upload(u, now)?;
            }
            Line::Assign(a) => {
                let store = target!(&a.partner);
                let store = store.as_deref().unwrap_or(self);
                let customer = customer_of(&a.customer)?;
                let devices = a
                    .devices
                    .iter()
                    .map(assignment_of)
                    .collect::<Result<Vec<_>, _>>()?;
                let job = a.job.as_ref().map(|j| job(j, "job")).transpose()?;
                let deleted: Option<PolicyId> = a
                    .deleted_policy
                    .as_deref()
                    .map(|p| guid(p, || "deletedPolicy".into()))
                    .transpose()?;
                let world = store.world();
                let shard = world.customer_or_default(customer);
                let mut guard = store.write(&shard);
                let cust = &mut *guard;
                if let Some(p) = deleted {
                    cust.policies.remove(&p);
                    cust.policy_order.retain(|id| *id != p);
                }
                for (id, assignment) in devices {
                    if let Some(slot) = cust.slot_of(id)
                        && let Some(Some(d)) = cust.devices.get_mut(slot as usize)
                    {
                        d.assignment = assignment;
                    }
                }
                if let Some(job) = job {
                    cust.jobs.insert(job.id, Arc::new(job));
                }
            }
            Line::Policy(p) => {
                let store = target!(&p.partner);
                let store = store.as_deref().unwrap_or(self);
                let customer = customer_of(&p.customer)?;
                let policy = Planner::detached(now).policy(&p.policy, "policy")?;
                let world = store.world();
                let shard = world.customer_or_default(customer);
                let mut cust = store.write(&shard);
                if !cust.policies.contains_key(&policy.id) {
                    cust.policy_order.push(policy.id);
                }
                cust.policies.insert(policy.id, policy);
            }
            Line::Delete(d) => {
                let store = target!(&d.partner);
                let store = store.as_deref().unwrap_or(self);
                let customer = customer_of(&d.customer)?;
                let device: DeviceId = guid(&d.device, || "device".into())?;
                let world = store.world();
                if let Some(shard) = world.customer(customer) {
                    let mut guard = store.write(&shard);
                    let cust = &mut *guard;
                    if let Some(slot) = cust.slot_of(device)
                        && let Some(record) = cust.remove_device(slot)
                    {
                        world.identities().release(&record.identity, customer);
                    }
                }
            }
            Line::Forget(f) => match (&f.partner, &f.customer) {
                (None, None) => {
                    self.world_exclusive().clear();
                    self.partners.remove(None);
                }
                (Some(raw), None) => {
                    let tenant: TenantId = guid(raw, || "partner".into())?;
                    self.partners.remove(Some(tenant));
                }
                (partner, Some(raw)) => {
                    let store = target!(partner);
                    let store = store.as_deref().unwrap_or(self);
                    store.clear_customer(customer_of(raw)?);
                }
            },
            Line::Prune(p) => {
                let store = target!(&p.partner);
                let store = store.as_deref().unwrap_or(self);
                let jobs = p
                    .jobs
                    .iter()
                    .map(|(c, j)| Ok((customer_of(c)?, guid::<TrackingId>(j, || "job".into())?)))
                    .collect::<Result<Vec<_>, SeedError>>()?;
                let customers = p
                    .customers
                    .iter()
                    .map(|c| customer_of(c))
                    .collect::<Result<Vec<_>, _>>()?;
                {
                    let world = store.world();
                    for (c, j) in jobs {
                        if let Some(shard) = world.customer(c) {
                            store.write(&shard).jobs.remove(&j);
                        }
                    }
                }
                for c in customers {
                    store.clear_customer(c);
                }
            }
        }
        Ok(())
    }

    fn replay_upload(&self, u: &UploadLine, now: Timestamp) -> Result<(), SeedError> {
        let customer = customer_of(&u.customer)?;
        let batch = BatchId::parse(&u.batch.id).or_else(|p| fail("batch.id", format!("{p}.")))?;
        let created_at = time_at(u.batch.creation_date.as_deref(), now, || {
            "batch.creationDate".into()
        })?;
        // Each device's policies are its own line's: the log names only policies that existed.
        let policies: HashSet<PolicyId> = u
            .batch
            .devices
            .iter()
            .flat_map(|d| {
                let scheduled = d
                    .scheduled_policy
                    .as_ref()
                    .and_then(|s| s.policy_id.clone());
                d.policy_id.clone().into_iter().chain(scheduled)
            })
            .filter_map(|p| PolicyId::parse(&p))
            .collect();
        let mut planner = Planner::detached(now);
        let mut devices = Vec::with_capacity(u.batch.devices.len());
        for (i, d) in u.batch.devices.iter().enumerate() {
            match planner.device(
                customer,
                d,
                &At("batch", "devices", i),
                batch.key(),
                &policies,
            )? {
                Planned::Registered(p) => devices.push(*p),
                Planned::Foreign(_) => {
                    return fail(format!("batch.devices[{i}]"), "not registered.");
                }
            }
        }
        let job = job(&u.job, "job")?;
        let world = self.world();
        let shard = world.customer_or_default(customer);
        let mut guard = self.write(&shard);
        let cust = &mut *guard;
        let identities = world.identities();
        let me = identities.intern(customer);
        let slot = match cust.batch(batch.as_str()) {
            Some((slot, _)) => slot,
            None => {
                let slot = cust.batches.len() as u32;
                cust.batch_index.insert(batch.key().clone(), slot);
                cust.batches.push(Batch::new(batch, created_at));
                slot
            }
        };
        cust.reserve_devices(devices.len());
        for d in devices {
            if cust.slot_of(d.id).is_some() {
                continue;
            }
            identities.insert(d.identity, me);
            let group = cust.add_group(d.group);
            cust.insert_device(DeviceRecord {
                id: d.id,
                identity: d.identity,
                hashed: d.hashed,
                text: d.text,
                batch: slot,
                position: 0,
                group,
                assignment: d.assignment,
            });
        }
        cust.note_upload(&job);
        cust.jobs
            .insert(job.id, Arc::new(super::import::share_texts(cust, job)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::tests::*;
    use super::*;
    use crate::domain::job::{DeviceError, Outcome};

    /// Customers' records interleave in any order: here B's upload of a device A had deleted is
    /// logged before A's deletion (B claimed it as soon as A released it). Replayed in that
    /// order, the device must stay B's: the deletion releases an identity only from its owner.
    #[test]
    fn a_deletion_logged_after_another_customers_upload_of_the_device_keeps_it_theirs() {
        let live = store();
        live.log().enable();
        let (a, b, c) = (customer(1), customer(2), customer(3));
        live.create_batch(a, BatchId::parse("A").unwrap(), vec![pk("X")], t0())
            .unwrap();
        let device = live.list_devices(a, "A", None, 1, done()).unwrap().devices[0].id;
        live.delete_device(a, "A", &device.to_string(), done())
            .unwrap();
        live.create_batch(b, BatchId::parse("B").unwrap(), vec![pk("X")], done())
            .unwrap();
        let (pushed, _) = live.log().take();
        let lines: Vec<Line> = pushed.iter().filter_map(Pushed::line).collect();
        assert_eq!(lines.len(), 3);
        let restored = store();
        for i in [0, 2, 1] {
            restored.replay(&lines[i], done()).unwrap();
        }
        let later = done().plus(std::time::Duration::from_secs(3));
        let t = restored
            .create_batch(c, BatchId::parse("C").unwrap(), vec![pk("X")], later)
            .unwrap();
        let job = restored.job(c, &t.to_string()).unwrap();
        assert_eq!(
            job.entries[0].outcome,
            Outcome::Failed(DeviceError::AssignedToOtherTenant)
        );
        assert_eq!(restored.list_batches(b, later)[0].devices_count, 1);
        assert_eq!(restored.list_batches(a, later)[0].devices_count, 0);
    }
}
