//! Read-only views for the dashboard (`/_emulator/ui`): summaries, job lists, device pages and
//! device search. Each is one short pass under the registry lock, and none clones the state.

use std::sync::Arc;

use super::{Customer, DeviceRecord, Store, lock};
use crate::domain::Error;
use crate::domain::ids::{CustomerId, TenantId, TrackingId};
use crate::domain::job::{Job, Outcome};
use crate::domain::timestamp::Timestamp;

use super::DeviceView;

/// A batch with its device counts at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSummary {
    pub id: String,
    pub created_at: Timestamp,
    /// Devices listed now (the API's `devicesCount`).
    pub listed: usize,
    /// Devices accepted but not listed yet: their upload job is not terminal.
    pub pending: usize,
}

/// One customer's batches, policy count and jobs by status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSummary {
    pub id: CustomerId,
    pub batches: Vec<BatchSummary>,
    pub policies: usize,
    pub queued: usize,
    pub processing: usize,
    pub finished: usize,
}

/// Everything one store holds, summarised, and when the next job changes status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub customers: Vec<CustomerSummary>,
    pub next_transition: Option<Timestamp>,
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Upload,
    PolicyUpdate,
}

/// A job as the dashboard lists it.
#[derive(Debug, Clone)]
pub struct JobSummary {
    pub customer: CustomerId,
    pub kind: JobKind,
    /// The batch an upload went to, when one of its devices tells (an upload whose every device
    /// failed names none: jobs do not keep their batch).
    pub batch: Option<String>,
    pub job: Arc<Job>,
}

impl JobSummary {
    /// Devices whose outcome is a failure; only meaningful once the job is terminal.
    pub fn failed(&self) -> usize {
        self.job
            .entries
            .iter()
            .filter(|e| matches!(e.outcome, Outcome::Failed(_)))
            .count()
    }
}

/// A registered device, where it is, and whether listings show it yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    pub customer: CustomerId,
    pub batch: String,
    pub device: DeviceView,
    pub listed: bool,
}

/// One page of a batch's devices by position in upload order (deleted slots skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRows {
    pub devices: Vec<DeviceRow>,
    /// Positions in the batch, deleted devices included: what `offset` counts.
    pub positions: usize,
    pub next_offset: Option<usize>,
}

impl Customer {
    fn row(&self, customer: CustomerId, d: &DeviceRecord, now: Timestamp) -> DeviceRow {
        DeviceRow {
            customer,
            batch: self
                .batches
                .get(d.batch as usize)
                .map(|b| b.id.as_str().to_owned())
                .unwrap_or_default(),
            device: self.view(d, now),
            listed: self.is_listed(d, now),
        }
    }
}

fn summarize(customer: CustomerId, cust: &Customer, job: &Arc<Job>) -> JobSummary {
    // Only policy updates name devices by id; uploads learn theirs from the outcome.
    let kind = if job.entries.iter().any(|e| e.device_ref.is_some()) {
        JobKind::PolicyUpdate
    } else {
        JobKind::Upload
    };
    let batch = match kind {
        JobKind::PolicyUpdate => None,
        JobKind::Upload => job.entries.iter().find_map(|e| match e.outcome {
            Outcome::Succeeded(device) => cust
                .device_by_id(device)
                .and_then(|(_, d)| cust.batches.get(d.batch as usize))
                .map(|b| b.id.as_str().to_owned()),
            Outcome::Failed(_) => None,
        }),
    };
    JobSummary {
        customer,
        kind,
        batch,
        job: job.clone(),
    }
}

impl Store {
    /// Every partner tenant's store, in tenant order.
    pub fn partner_stores(&self) -> Vec<(TenantId, Arc<Store>)> {
        self.partners.all()
    }

    /// A number that moves whenever the journal changes.
    pub fn journal_version(&self) -> u64 {
        lock(&self.journal).version()
    }

    /// How many requests the journal holds.
    pub fn journal_len(&self) -> usize {
        lock(&self.journal).len()
    }

    /// A number that moves whenever a fault rule is added, removed or fires.
    pub fn faults_version(&self) -> u64 {
        lock(&self.faults).version()
    }

    /// Customers in id order with their batches' counts, and the next job transition after `now`.
    pub fn summary(&self, now: Timestamp) -> Summary {
        let world = self.world();
        let mut all = world.customers();
        all.sort_by_cached_key(|(c, _)| c.to_string());
        let mut next: Option<Timestamp> = None;
        let mut customers = Vec::with_capacity(all.len());
        for (id, shard) in &all {
            let cust = self.read(shard);
            let batches = cust
                .batches
                .iter()
                .map(|b| {
                    let (mut listed, mut pending) = (0, 0);
                    for d in b.devices.iter().filter_map(|slot| cust.device(*slot)) {
                        if cust.is_listed(d, now) {
                            listed += 1;
                        } else {
                            pending += 1;
                        }
                    }
                    BatchSummary {
                        id: b.id.as_str().to_owned(),
                        created_at: b.created_at,
                        listed,
                        pending,
                    }
                })
                .collect();
            let (mut queued, mut processing, mut finished) = (0, 0, 0);
            for job in cust.jobs.values() {
                match job.status_at(now) {
                    s if s.is_terminal() => finished += 1,
                    crate::domain::job::JobStatus::Queued => queued += 1,
                    _ => processing += 1,
                }
                for t in [job.started_at, job.completed_at] {
                    if t > now && next.is_none_or(|n| t < n) {
                        next = Some(t);
                    }
                }
            }
            customers.push(CustomerSummary {
                id: *id,
                batches,
                policies: cust.policies.len(),
                queued,
                processing,
                finished,
            });
        }
        Summary {
            customers,
            next_transition: next,
        }
    }

    /// The jobs of one customer, or of all, newest first.
    pub fn job_summaries(&self, customer: Option<CustomerId>) -> Vec<JobSummary> {
        let world = self.world();
        let mut jobs: Vec<JobSummary> = Vec::new();
        for (id, shard) in world.customers() {
            if customer.is_some_and(|c| c != id) {
                continue;
            }
            let cust = self.read(&shard);
            jobs.extend(cust.jobs.values().map(|job| summarize(id, &cust, job)));
        }
        jobs.sort_by(|a, b| {
            b.job
                .accepted_at
                .cmp(&a.job.accepted_at)
                .then_with(|| a.job.id.to_string().cmp(&b.job.id.to_string()))
        });
        jobs
    }

    /// A job by its tracking id, whichever customer it belongs to.
    pub fn job_summary(&self, id: TrackingId) -> Option<JobSummary> {
        let world = self.world();
        world.customers().into_iter().find_map(|(customer, shard)| {
            let cust = self.read(&shard);
            cust.jobs
                .get(&id)
                .map(|job| summarize(customer, &cust, job))
        })
    }

    /// Up to `limit` registered devices of a batch from position `offset` in upload order,
    /// listed or not yet. Positions are stable (deleted devices leave theirs), so any page costs
    /// the same.
    pub fn device_rows(
        &self,
        customer: CustomerId,
        batch: &str,
        offset: usize,
        limit: usize,
        now: Timestamp,
    ) -> Result<DeviceRows, Error> {
        let world = self.world();
        let not_found = || Error::BatchNotFound(batch.to_owned());
        let shard = world.customer(customer).ok_or_else(not_found)?;
        let cust = self.read(&shard);
        let (_, b) = cust.batch(batch).ok_or_else(not_found)?;
        let positions = b.end() as usize;
        let mut devices = Vec::with_capacity(limit.min(b.devices.len()));
        let mut position = (offset as u64).clamp(b.dropped, b.end()) as usize;
        for (at, slot) in b.slots_from(position as u64) {
            if devices.len() >= limit {
                break;
            }
            if let Some(d) = cust.device(slot) {
                devices.push(cust.row(customer, d, now));
            }
            position = at as usize + 1;
        }
        let next_offset = (position < positions).then_some(position);
        Ok(DeviceRows {
            devices,
            positions,
            next_offset,
        })
    }

    /// Registered devices whose serial number or product key contains `needle` (ignoring case),
    /// or whose id is `needle`, in one customer or all; at most `limit`.
    pub fn search_devices(
        &self,
        customer: Option<CustomerId>,
        needle: &str,
        limit: usize,
        now: Timestamp,
    ) -> Vec<DeviceRow> {
        let needle = needle.to_lowercase();
        let contains = |field: Option<&str>| {
            field.is_some_and(|f| {
                if f.is_ascii() && needle.is_ascii() {
                    f.as_bytes()
                        .windows(needle.len().max(1))
                        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
                } else {
                    f.to_lowercase().contains(&needle)
                }
            })
        };
        let world = self.world();
        let mut all = world.customers();
        all.sort_by_cached_key(|(c, _)| c.to_string());
        let mut found = Vec::new();
        for (id, shard) in &all {
            if customer.is_some_and(|c| c != *id) {
                continue;
            }
            let cust = self.read(shard);
            for d in cust.devices.iter().flatten() {
                if found.len() >= limit {
                    return found;
                }
                let text = &d.text;
                if contains(text.serial_number())
                    || contains(text.product_key())
                    || d.id.to_string() == needle
                {
                    found.push(cust.row(*id, d, now));
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;
    use crate::domain::ids::BatchId;

    #[test]
    fn summaries_count_listed_and_pending_devices_and_name_the_next_transition() {
        let store = store();
        let c = customer(1);
        let t = store
            .create_batch(
                c,
                BatchId::parse("B").unwrap(),
                vec![pk("K1"), pk("K1")],
                t0(),
            )
            .unwrap();
        let s = store.summary(t0());
        assert_eq!(s.customers.len(), 1);
        assert_eq!(
            (
                s.customers[0].batches[0].listed,
                s.customers[0].batches[0].pending
            ),
            (0, 1)
        );
        assert_eq!(s.customers[0].queued, 1);
        assert_eq!(
            s.next_transition,
            Some(t0().plus(std::time::Duration::from_secs(1)))
        );
        let s = store.summary(done());
        assert_eq!(s.customers[0].batches[0].listed, 1);
        assert_eq!(s.customers[0].finished, 1);
        assert_eq!(s.next_transition, None);
        let jobs = store.job_summaries(None);
        assert_eq!(jobs[0].job.id, t);
        assert_eq!(jobs[0].kind, JobKind::Upload);
        assert_eq!(jobs[0].batch.as_deref(), Some("B"));
        assert_eq!(jobs[0].failed(), 1);
    }

    #[test]
    fn device_pages_go_by_position_and_search_ignores_case() {
        let store = store();
        let c = customer(1);
        let devices = (0..5).map(|i| pk(&format!("Key-{i}"))).collect();
        store
            .create_batch(c, BatchId::parse("B").unwrap(), devices, t0())
            .unwrap();
        let page = store.device_rows(c, "b", 0, 2, done()).unwrap();
        assert_eq!(page.devices.len(), 2);
        assert_eq!(page.next_offset, Some(2));
        let last = store.device_rows(c, "B", 4, 2, done()).unwrap();
        assert_eq!((last.devices.len(), last.next_offset), (1, None));
        assert!(store.device_rows(c, "nope", 0, 2, done()).is_err());
        let found = store.search_devices(None, "KEY-3", 10, done());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].device.product_key.as_deref(), Some("Key-3"));
        assert_eq!(
            store
                .search_devices(Some(customer(2)), "key", 10, done())
                .len(),
            0
        );
        assert_eq!(store.search_devices(None, "key", 3, done()).len(), 3);
    }
}
