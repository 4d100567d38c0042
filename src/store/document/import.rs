//! Importing a document: every entry checked against the state (and the document itself)
//! before any of it is applied, under the same locks, so an import is all or nothing.

use std::collections::HashSet;
use std::sync::Arc;

use super::SeedError;
use super::entries::{Planned, PlannedDevice, fail, guid, job, time_at};
use super::schema::{CustomerDoc, Document, PartnerDoc, SeedSummary, VERSION};
use crate::domain::device::Identity;
use crate::domain::ids::{BatchId, BatchKey, CustomerId, DeviceId, PolicyId, TenantId, TrackingId};
use crate::domain::job::{Job, Outcome};
use crate::domain::policy::Policy;
use crate::domain::timestamp::Timestamp;
use crate::store::shards::World;
use crate::store::{Batch, Customer, DeviceRecord, ForeignDevice, Store, lock};

/// A device's raw upload times and what they parsed to.
pub(super) type LastTimes = (Option<String>, Option<String>, (Timestamp, Timestamp));

/// A set of random ids or digests (see `IdHasher`).
type IdSet<T> = HashSet<T, std::hash::BuildHasherDefault<crate::store::IdHasher>>;

/// The place of an entry in a list, `{base}.{list}[{index}]`, formatted only when an error
/// names it: a million devices should not cost a million strings.
pub(super) struct At<'a>(
    pub(super) &'a str,
    pub(super) &'static str,
    pub(super) usize,
);

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}[{}]", self.0, self.1, self.2)
    }
}

/// Everything one customer's entry adds, checked and ready to apply.
struct CustomerPlan {
    id: CustomerId,
    relationship: Option<bool>,
    policies: Vec<Policy>,
    batches: Vec<(Batch, Vec<PlannedDevice>)>,
    foreign: Vec<ForeignDevice>,
    jobs: Vec<Job>,
}

/// Checks a document against the state; nothing is changed.
pub(super) struct Planner<'a> {
    /// The registry checked against; `None` for entries checked on their own.
    pub(super) state: Option<&'a World<'a>>,
    pub(super) now: Timestamp,
    pub(super) identities: IdSet<Identity>,
    customers: HashSet<CustomerId>,
    /// The last (uploadedDate, listedFrom) parsed, and their times.
    pub(super) last_times: Option<LastTimes>,
}

impl<'a> Planner<'a> {
    /// A planner for one log line's entries, checked on their own.
    pub(super) fn detached(now: Timestamp) -> Self {
        Planner {
            state: None,
            now,
            identities: IdSet::default(),
            customers: HashSet::new(),
            last_times: None,
        }
    }

    fn customer(&mut self, doc: &CustomerDoc, path: &str) -> Result<CustomerPlan, SeedError> {
        let id: CustomerId = guid(&doc.id, || format!("{path}.id"))?;
        if !self.customers.insert(id) {
            return fail(path, format!("customer `{id}` appears more than once."));
        }
        // The gate is held exclusively: this lock never waits.
        let shard = self.state.and_then(|s| s.customer(id));
        let guard = shard.as_deref().map(lock);
        let existing = guard.as_deref();
        let mut policies = Vec::new();
        let mut policy_ids: HashSet<PolicyId> = existing
            .map(|c| c.policies.keys().copied().collect())
            .unwrap_or_default();
        for (j, p) in doc.policies.iter().enumerate() {
            let policy = self.policy(p, &format!("{path}.policies[{j}]"))?;
            if !policy_ids.insert(policy.id) {
                return fail(
                    format!("{path}.policies[{j}].id"),
                    format!("policy `{}` already exists.", policy.id),
                );
            }
            policies.push(policy);
        }
        let mut batch_keys: HashSet<BatchKey> = existing
            .map(|c| c.batch_index.keys().cloned().collect())
            .unwrap_or_default();
        let mut device_ids: IdSet<DeviceId> = existing
            .map(|c| c.devices.iter().flatten().map(|d| d.id).collect())
            .unwrap_or_default();
        // A customer's jobs are planned apart from its devices (they name no device), so a large
        // restore plans them on a second thread while this one plans the devices.
        let plan_jobs = move || -> Result<Vec<Job>, SeedError> {
            let mut job_ids: HashSet<TrackingId> = existing
                .map(|c| c.jobs.keys().copied().collect())
                .unwrap_or_default();
            let mut jobs = Vec::with_capacity(doc.jobs.len());
            for (n, j) in doc.jobs.iter().enumerate() {
                let job = job(j, &format!("{path}.jobs[{n}]"))?;
                if !job_ids.insert(job.id) {
                    return fail(
                        format!("{path}.jobs[{n}].id"),
                        format!("job `{}` already exists.", job.id),
                    );
                }
                jobs.push(job);
            }
            Ok(jobs)
        };
        let mut plan_batches = || -> Result<_, SeedError> {
            let (mut batches, mut foreign) = (Vec::new(), Vec::new());
            for (k, b) in doc.batches.iter().enumerate() {
                let bpath = format!("{path}.batches[{k}]");
                let batch_id = BatchId::parse(&b.id)
                    .or_else(|p| fail(format!("{bpath}.id"), format!("{p}.")))?;
                if !batch_keys.insert(batch_id.key().clone()) {
                    return fail(
                        format!("{bpath}.id"),
                        format!("batch `{}` already exists for this customer.", b.id),
                    );
                }
                let created_at = time_at(b.creation_date.as_deref(), self.now, || {
                    format!("{bpath}.creationDate")
                })?;
                let batch = Batch::new(batch_id, created_at);
                let mut records = Vec::new();
                for (m, d) in b.devices.iter().enumerate() {
                    let dpath = At(&bpath, "devices", m);
                    match self.device(id, d, &dpath, batch.id.key(), &policy_ids)? {
                        Planned::Registered(record) => {
                            if !device_ids.insert(record.id) {
                                return fail(
                                    format!("{dpath}.id"),
                                    format!("device `{}` already exists.", record.id),
                                );
                            }

                            records.push(*record);
                        }
                        Planned::Foreign(f) => foreign.push(*f),
                    }
                }
                batches.push((batch, records));
            }
            Ok((batches, foreign))
        };
        let (planned, jobs) = if doc.jobs.len() >= PARALLEL_JOBS {
            std::thread::scope(|scope| {
                let worker = std::thread::Builder::new()
                    .name("state-jobs".into())
                    .spawn_scoped(scope, plan_jobs);
                let planned = plan_batches();
                let jobs = match worker {
                    Ok(worker) => worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                    // No thread to be had: one after the other.
                    Err(_) => plan_jobs(),
                };
                (planned, jobs)
            })
        } else {
            let planned = plan_batches();
            let jobs = match planned {
                Ok(_) => plan_jobs(),
                Err(_) => Ok(Vec::new()),
            };
            (planned, jobs)
        };
        // The devices' failure first, as when the two were planned one after the other.
        let (batches, foreign) = planned?;
        let jobs = jobs?;
        Ok(CustomerPlan {
            id,
            relationship: doc.relationship,
            policies,
            batches,
            foreign,
            jobs,
        })
    }
}

/// A customer with this many jobs in a document has them planned on a second thread.
const PARALLEL_JOBS: usize = 10_000;

/// One registry's customers, checked against it and ready to apply.
type Plans = Vec<CustomerPlan>;

/// Checks customers against one registry's state; nothing is changed.
fn plan(
    state: &World<'_>,
    customers: &[CustomerDoc],
    base: &str,
    now: Timestamp,
) -> Result<Plans, SeedError> {
    let mut planner = Planner {
        state: Some(state),
        now,
        identities: IdSet::default(),
        customers: HashSet::new(),
        last_times: None,
    };
    customers
        .iter()
        .enumerate()
        .map(|(i, c)| planner.customer(c, &format!("{base}customers[{i}]")))
        .collect()
}

/// Applies checked plans to the registry they were checked against.
fn apply(state: &World<'_>, plans: Plans, summary: &mut SeedSummary) {
    summary.customers += plans.len();
    let identities = state.identities();
    for plan in plans {
        let shard = state.customer_or_default(plan.id);
        let mut guard = lock(&shard);
        let cust = &mut *guard;
        let me = identities.intern(plan.id);
        if let Some(relationship) = plan.relationship {
            cust.no_relationship = !relationship;
        }
        summary.policies += plan.policies.len();
        for p in plan.policies {
            cust.policy_order.push(p.id);
            cust.policies.insert(p.id, p);
        }
        summary.batches += plan.batches.len();
        let incoming: usize = plan.batches.iter().map(|(_, r)| r.len()).sum();
        cust.reserve_devices(incoming);
        for (batch, records) in plan.batches {
            summary.devices += records.len();
            let slot = cust.batches.len() as u32;
            cust.batch_index.insert(batch.id.key().clone(), slot);
            cust.batches.push(batch);
            for r in records {
                identities.insert(r.identity, me);
                let group = cust.add_group(r.group);
                cust.insert_device(DeviceRecord {
                    id: r.id,
                    identity: r.identity,
                    hashed: r.hashed,
                    text: r.text,
                    batch: slot,
                    position: 0,
                    group,
                    assignment: r.assignment,
                });
            }
        }
        summary.devices += plan.foreign.len();
        for f in plan.foreign {
            identities.insert(f.identity, identities.intern(f.tenant));
            cust.foreign.push(f);
        }
        for j in plan.jobs {
            cust.note_upload(&j);
            cust.jobs.insert(j.id, Arc::new(share_texts(cust, j)));
        }
    }
}

impl Store {
    /// Adds a document's customers, policies, batches, devices and jobs, all or nothing: the
    /// top-level customers to this registry, each `partners` entry to that partner's.
    pub fn import(&self, doc: &Document, now: Timestamp) -> Result<SeedSummary, SeedError> {
        if let Some(v) = doc.version
            && !(1..=VERSION).contains(&v)
        {
            return fail(
                "version",
                format!("{v} is not supported; this emulator reads versions 1 to {VERSION}."),
            );
        }
        // Partner registries are locked in tenant order, so two imports cannot deadlock.
        let mut partners: Vec<(TenantId, usize, &PartnerDoc)> = Vec::new();
        for (i, p) in doc.partners.iter().enumerate() {
            let tenant: TenantId = guid(&p.tenant_id, || format!("partners[{i}].tenantId"))?;
            if partners.iter().any(|(t, _, _)| *t == tenant) {
                return fail(
                    format!("partners[{i}]"),
                    format!("partner tenant `{tenant}` appears more than once."),
                );
            }
            partners.push((tenant, i, p));
        }
        partners.sort_by_key(|(t, _, _)| *t);
        // Exclusive, here and in each partner's registry: the plan is checked against a state no
        // request can change before it is applied.
        let state = self.world_exclusive();
        // The directory is the emulator's, not a partner's: it lives in the root registry.
        let identity = doc
            .identity
            .as_ref()
            .map(|i| crate::store::identity::plan(&lock(state.identity()), i))
            .transpose()?;
        let own = plan(&state, &doc.customers, "", now)?;
        let own_oem = super::oem::plan(&state.oem(), &doc.oem_devices, "")?;
        let has_data = |p: &PartnerDoc| !p.customers.is_empty() || !p.oem_devices.is_empty();
        let stores: Vec<Arc<Store>> = partners
            .iter()
            .filter(|(_, _, p)| has_data(p))
            .map(|(t, _, _)| self.partner(*t))
            .collect();
        let guards: Vec<_> = stores.iter().map(|s| s.world_exclusive()).collect();
        let mut theirs = Vec::with_capacity(guards.len());
        for ((_, i, p), guard) in partners.iter().filter(|(_, _, p)| has_data(p)).zip(&guards) {
            let base = format!("partners[{i}].");
            theirs.push((
                plan(guard, &p.customers, &base, now)?,
                super::oem::plan(&guard.oem(), &p.oem_devices, &base)?,
            ));
        }
        let mut summary = SeedSummary::default();
        apply(&state, own, &mut summary);
        super::oem::apply(&mut state.oem_mut(), own_oem);
        for (guard, (plans, oem)) in guards.iter().zip(theirs) {
            apply(guard, plans, &mut summary);
            super::oem::apply(&mut guard.oem_mut(), oem);
        }
        if let Some(identity) = identity {
            lock(state.identity()).apply(identity);
        }
        // Ids minted for entries without one are in no record: only a snapshot holds a seed.
        self.record(|| super::log::Record::Compact);
        Ok(summary)
    }
}

/// Gives a job's lines a registered device's own text (shared, as after an upload) when it
/// still matches the line's.
pub(super) fn share_texts(c: &Customer, mut job: Job) -> Job {
    for e in &mut job.entries {
        if let Outcome::Succeeded(id) = e.outcome
            && let Some((_, device)) = c.device_by_id(id)
            && device.text.serial_number() == e.text.serial_number()
            && device.text.product_key() == e.text.product_key()
        {
            e.text = device.text.clone();
        }
    }
    job
}
