//! `--job-retention`: finished jobs are forgotten once they have been terminal that long on the
//! emulator clock, and customers left with nothing (no batches, policies, jobs or seeded foreign
//! devices) with them, so a long-running emulator does not grow with every request it answered.

use std::time::Duration;

use crate::domain::timestamp::Timestamp;

use super::Store;
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
        let any = {
            let state = self.state();
            state.customers.values().any(|c| {
                c.jobs.values().any(|j| expired(j.completed_at))
                    || (c.jobs.is_empty()
                        && c.batches.is_empty()
                        && c.policies.is_empty()
                        && c.foreign.is_empty())
            })
        };
        if !any {
            return pruned;
        }
        let mut state = self.write();
        let (mut jobs, mut customers) = (Vec::new(), Vec::new());
        state.customers.retain(|id, c| {
            c.jobs.retain(|j, job| {
                let keep = !expired(job.completed_at);
                if !keep {
                    jobs.push((*id, *j));
                }
                keep
            });
            let empty = c.jobs.is_empty()
                && c.batches.is_empty()
                && c.policies.is_empty()
                && c.foreign.is_empty();
            if empty {
                customers.push(*id);
            }
            !empty
        });
        pruned.jobs = jobs.len();
        pruned.customers = customers.len();
        self.record(|| Record::Prune { jobs, customers });
        pruned
    }
}
