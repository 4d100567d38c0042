//! `--job-retention`: finished jobs are forgotten once they have been terminal that long on the
//! emulator clock, and customers left with nothing (no batches, policies, jobs or seeded foreign
//! devices) with them, so a long-running emulator does not grow with every request it answered.

use std::time::Duration;

use crate::domain::timestamp::Timestamp;

use super::Store;

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
                c.jobs.values().any(|j| expired(j.completed_at)) || empty(&c)
            })
        };
        if !any {
            return pruned;
        }
        // Exclusive: a customer is removed only while no request can be writing into it.
        let world = self.world_exclusive();
        for (id, shard) in world.customers() {
            let gone = {
                let mut c = self.read(&shard);
                let before = c.jobs.len();
                c.jobs.retain(|_, j| !expired(j.completed_at));
                pruned.jobs += before - c.jobs.len();
                empty(&c)
            };
            if gone {
                drop(shard);
                world.remove_customer(id);
                pruned.customers += 1;
            }
        }
        pruned
    }
}
