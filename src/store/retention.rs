//! `--job-retention`: finished jobs are forgotten once they have been terminal that long on the
//! emulator clock, and customers left with nothing (no batches, policies, jobs or seeded foreign
//! devices) with them, so a long-running emulator does not grow with every request it answered.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::ids::TrackingId;
use crate::domain::job::Job;
use crate::domain::timestamp::Timestamp;

use super::{IdMap, Store};

/// A customer's jobs, with a lower bound of their completion times, so that a retention pass
/// skips a customer none of whose jobs can have expired without reading any of them (reading
/// each job of a customer with hundreds of thousands held its lock for tens of milliseconds
/// every pass).
#[derive(Debug, Default)]
pub(super) struct Jobs {
    map: IdMap<TrackingId, Arc<Job>>,
    /// No job here completes before it. Only `insert` lowers it and only `retain` (a retention
    /// pass, which reads every job anyway) raises it; a removal leaves it a lower bound.
    earliest: Option<Timestamp>,
}

impl Deref for Jobs {
    type Target = IdMap<TrackingId, Arc<Job>>;

    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl Jobs {
    pub(super) fn insert(&mut self, id: TrackingId, job: Arc<Job>) -> Option<Arc<Job>> {
        if self.earliest.is_none_or(|t| job.completed_at < t) {
            self.earliest = Some(job.completed_at);
        }
        self.map.insert(id, job)
    }

    pub(super) fn remove(&mut self, id: &TrackingId) -> Option<Arc<Job>> {
        self.map.remove(id)
    }

    /// Whether any job may be terminal since before `cutoff`, without reading the jobs.
    fn may_end_before(&self, cutoff: impl Fn(Timestamp) -> bool) -> bool {
        self.earliest.is_some_and(cutoff)
    }

    fn retain(&mut self, mut keep: impl FnMut(&TrackingId, &Arc<Job>) -> bool) {
        let mut earliest = None;
        self.map.retain(|id, job| {
            let kept = keep(id, job);
            if kept && earliest.is_none_or(|t| job.completed_at < t) {
                earliest = Some(job.completed_at);
            }
            kept
        });
        self.earliest = earliest;
    }
}
use super::document::log::Record;

/// What one pass forgot.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub jobs: usize,
    pub customers: usize,
}

impl Store {
    /// Forgets the jobs terminal for at least `retention` at `now`, then the empty customers,
    /// here and in every partner tenant's store.
    pub fn prune(&self, now: Timestamp, retention: Duration) -> Pruned {
        let mut pruned = self.prune_here(now, retention);
        for (_, partner) in self.partners.all() {
            let p = partner.prune_here(now, retention);
            pruned.jobs += p.jobs;
            pruned.customers += p.customers;
        }
        pruned
    }

    fn prune_here(&self, now: Timestamp, retention: Duration) -> Pruned {
        let expired = |completed: Timestamp| completed.plus(retention) <= now;
        let mut pruned = Pruned::default();
        // Looked at under the read guard first: most passes find nothing, and then count no
        // change (which would make persistence rewrite the file).
        let empty = |c: &super::Customer| {
            c.jobs.is_empty()
                && c.batches.is_empty()
                && c.policies.is_empty()
                && c.foreign.is_empty()
        };
        let any = {
            let world = self.world();
            world.customers().iter().any(|(_, shard)| {
                let c = self.read(shard);
                c.jobs.may_end_before(expired) || empty(&c)
            })
        };
        if !any {
            return pruned;
        }
        // Exclusive: a customer is removed only while no request can be writing into it, and the
        // record is pushed before any write that follows the pass.
        let world = self.world_exclusive();
        let (mut jobs, mut customers) = (Vec::new(), Vec::new());
        for (id, shard) in world.customers() {
            let gone = {
                let mut guard = self.read(&shard);
                // Copy-on-write: a customer with nothing to forget is left as it is, so a
                // pass during an export copies none of its pieces.
                if !guard.jobs.may_end_before(expired)
                    && !empty(&guard)
                    && !guard.groups_to_collect()
                {
                    continue;
                }
                let c = &mut *guard;
                c.jobs.retain(|j, job| {
                    let keep = !expired(job.completed_at);
                    if !keep {
                        jobs.push((id, *j));
                    }
                    keep
                });
                let gone = empty(c);
                if !gone {
                    c.collect_groups();
                }
                gone
            };
            if gone {
                drop(shard);
                world.remove_customer(id);
                customers.push(id);
            }
        }
        pruned.jobs = jobs.len();
        pruned.customers = customers.len();
        self.record(|| Record::Prune { jobs, customers });
        pruned
    }
}

impl super::Customer {
    /// Whether [`Self::collect_groups`] has anything to do.
    fn groups_to_collect(&self) -> bool {
        self.groups.len() > self.device_ids.len() + 1024
    }

    /// Drops the upload groups no device refers to any more (their devices were deleted), once
    /// they outnumber the live devices: a customer that uploads and deletes for ever must not
    /// grow with every upload. Renumbers the devices' groups, keeping their order.
    pub(super) fn collect_groups(&mut self) {
        if !self.groups_to_collect() {
            return;
        }
        let mut used = vec![false; self.groups.len()];
        for d in self.devices.iter().flatten() {
            if let Some(u) = used.get_mut(d.group as usize) {
                *u = true;
            }
        }
        let mut renumbered = vec![0u32; self.groups.len()];
        let mut kept = 0u32;
        for (i, u) in used.iter().enumerate() {
            if *u {
                renumbered[i] = kept;
                kept += 1;
            }
        }
        for d in self.devices.iter_mut().flatten() {
            d.group = renumbered.get(d.group as usize).copied().unwrap_or(0);
        }
        self.groups = self
            .groups
            .iter()
            .zip(&used)
            .filter_map(|(g, u)| u.then_some(*g))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::*;
    use crate::domain::ids::BatchId;
    use crate::domain::job::Outcome;

    fn groups(store: &super::Store) -> usize {
        let world = store.world();
        world
            .customers()
            .iter()
            .map(|(_, c)| store.read(c).groups.len())
            .sum()
    }

    #[test]
    fn upload_groups_stay_bounded_by_the_live_devices() {
        let store = store();
        let c = customer(1);
        let batch = BatchId::parse("B").unwrap();
        store.create_batch(c, batch, vec![pk("K0")], t0()).unwrap();
        // Repeats register nothing, so they add no group.
        for _ in 0..2_000 {
            store.add_devices(c, "B", vec![pk("K0")], t0()).unwrap();
        }
        assert_eq!(groups(&store), 1);
        // Uploaded and deleted one by one: every upload a group, every device gone.
        for n in 1..=2_000 {
            let at = t0().plus(Duration::from_secs(n));
            let t = store
                .add_devices(c, "B", vec![pk(&format!("K{n}"))], at)
                .unwrap();
            let job = store.job(c, &t.to_string()).unwrap();
            let Outcome::Succeeded(id) = job.entries[0].outcome else {
                panic!("registered")
            };
            let listed = job.completed_at;
            store
                .delete_device(c, "B", &id.to_string(), listed)
                .unwrap();
        }
        assert_eq!(groups(&store), 2_001);
        let later = t0().plus(Duration::from_secs(10_000));
        store.prune(later, Duration::from_secs(1));
        assert_eq!(groups(&store), 1, "only the live device's group is left");
        let page = store.list_devices(c, "B", None, 10, later).unwrap();
        assert_eq!(page.devices.len(), 1);
        assert_eq!(page.devices[0].uploaded_at, t0(), "its upload time is kept");
    }

    #[test]
    fn jobs_are_forgotten_in_the_order_they_end_pass_after_pass() {
        let store = store();
        let c = customer(1);
        store
            .create_batch(c, BatchId::parse("B").unwrap(), vec![pk("K0")], t0())
            .unwrap();
        // Uploaded a minute apart, so each ends a minute after the one before.
        let tracking: Vec<String> = (1..=3u64)
            .map(|n| {
                let at = t0().plus(Duration::from_secs(60 * n));
                let t = store.add_devices(c, "B", vec![pk(&format!("K{n}"))], at);
                t.unwrap().to_string()
            })
            .collect();
        let ended = |n: usize| store.job(c, &tracking[n]).unwrap().completed_at;
        let kept =
            |store: &super::Store| tracking.iter().filter(|t| store.job(c, t).is_ok()).count();
        let retention = Duration::from_secs(3_600);
        // A second before the first upload has been terminal an hour: only the batch's creation
        // goes, then nothing, pass after pass.
        let before = ended(0).plus(retention - Duration::from_secs(1));
        assert_eq!(store.prune(before, retention).jobs, 1);
        assert_eq!(store.prune(before, retention).jobs, 0);
        assert_eq!(store.prune(before, retention).jobs, 0);
        assert_eq!(kept(&store), 3);
        // Then one at a time: each pass's lower bound is the next job's end, not the first's.
        for n in 0..3 {
            let at = ended(n).plus(retention);
            assert_eq!(store.prune(at, retention).jobs, 1, "job {n}");
            assert_eq!(store.prune(at, retention).jobs, 0, "job {n}, again");
            assert_eq!(kept(&store), 2 - n);
        }
    }
}
