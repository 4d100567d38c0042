//! Configuration policies and their assignment to devices by policy-update jobs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::document::log::Record;
use super::shards::World;
use super::{Customer, Store};
use crate::domain::Error;
use crate::domain::device::DeviceText;
use crate::domain::ids::{CustomerId, DeviceId, PolicyId, TrackingId};
use crate::domain::job::{DeviceError, Job, JobEntry, Outcome};
use crate::domain::policy::{Assignment, Policy, PolicyCategory, PolicyFields};
use crate::domain::registry::{self, Holder};
use crate::domain::timestamp::Timestamp;

/// A policy with its derived assignment count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyView {
    pub policy: Policy,
    /// Listed devices that have the policy assigned at the time of reading.
    pub devices_assigned: usize,
}

/// One device of a `DevicePolicyUpdateRequest`: its id as given, and the policy id to assign
/// (`None` removes the assignment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyUpdate {
    pub device: String,
    pub policy: Option<String>,
}

impl Customer {
    fn assigned_counts(&self, now: Timestamp) -> HashMap<PolicyId, usize> {
        let mut counts = HashMap::new();
        for d in self
            .devices
            .iter()
            .flatten()
            .filter(|d| self.is_listed(d, now))
        {
            if let Some(p) = d.assignment.at(now) {
                *counts.entry(p).or_insert(0) += 1;
            }
        }
        counts
    }

    fn policy_view(&self, id: PolicyId, now: Timestamp) -> Option<PolicyView> {
        let policy = self.policies.get(&id)?.clone();
        let devices_assigned = self
            .devices
            .iter()
            .flatten()
            .filter(|d| self.is_listed(d, now) && d.assignment.at(now) == Some(id))
            .count();
        Some(PolicyView {
            policy,
            devices_assigned,
        })
    }
}

impl Store {
    pub fn create_policy(
        &self,
        customer: CustomerId,
        category: PolicyCategory,
        fields: PolicyFields,
        now: Timestamp,
    ) -> PolicyView {
        let policy = Policy::new(category, fields, now);
        let world = self.world();
        let shard = world.customer_or_default(customer);
        let mut cust = self.write(&shard);
        cust.policy_order.push(policy.id);
        cust.policies.insert(policy.id, policy.clone());
        self.record(|| Record::Policy {
            customer,
            policy: policy.clone(),
        });
        PolicyView {
            policy,
            devices_assigned: 0,
        }
    }

    /// The customer's policies in creation order.
    pub fn list_policies(&self, customer: CustomerId, now: Timestamp) -> Vec<PolicyView> {
        let world = self.world();
        let Some(shard) = world.customer(customer) else {
            return Vec::new();
        };
        let cust = self.read(&shard);
        let counts = cust.assigned_counts(now);
        cust.policy_order
            .iter()
            .filter_map(|id| cust.policies.get(id))
            .map(|p| PolicyView {
                policy: p.clone(),
                devices_assigned: counts.get(&p.id).copied().unwrap_or(0),
            })
            .collect()
    }

    pub fn get_policy(
        &self,
        customer: CustomerId,
        policy: &str,
        now: Timestamp,
    ) -> Result<PolicyView, Error> {
        let world = self.world();
        PolicyId::parse(policy)
            .and_then(|id| {
                let shard = world.customer(customer)?;
                self.read(&shard).policy_view(id, now)
            })
            .ok_or_else(|| Error::PolicyNotFound(policy.to_owned()))
    }

    pub fn update_policy(
        &self,
        customer: CustomerId,
        policy: &str,
        fields: PolicyFields,
        now: Timestamp,
    ) -> Result<PolicyView, Error> {
        let world = self.world();
        let not_found = || Error::PolicyNotFound(policy.to_owned());
        let id = PolicyId::parse(policy).ok_or_else(not_found)?;
        let shard = world.customer(customer).ok_or_else(not_found)?;
        let mut cust = self.write(&shard);
        cust.policies
            .get_mut(&id)
            .ok_or_else(not_found)?
            .update(fields, now);
        if let Some(p) = cust.policies.get(&id) {
            self.record(|| Record::Policy {
                customer,
                policy: p.clone(),
            });
        }
        cust.policy_view(id, now).ok_or_else(not_found)
    }

    /// Deletes a policy; devices that had it assigned (or scheduled) lose the assignment.
    pub fn delete_policy(
        &self,
        customer: CustomerId,
        policy: &str,
        now: Timestamp,
    ) -> Result<(), Error> {
        let world = self.world();
        let not_found = || Error::PolicyNotFound(policy.to_owned());
        let id = PolicyId::parse(policy).ok_or_else(not_found)?;
        let shard = world.customer(customer).ok_or_else(not_found)?;
        let mut guard = self.write(&shard);
        let cust = &mut *guard;
        cust.policies.remove(&id).ok_or_else(not_found)?;
        cust.policy_order.retain(|p| *p != id);
        let mut changed = Vec::new();
        let forgotten = |a: &Assignment| {
            let mut after = a.clone();
            after.forget(id, now);
            after
        };
        // Decided before changing: only the devices that change are copied from a snapshot.
        cust.devices.update_where(
            |d| {
                d.as_ref()
                    .is_some_and(|d| forgotten(&d.assignment) != d.assignment)
            },
            |d| {
                if let Some(d) = d {
                    d.assignment = forgotten(&d.assignment);
                    changed.push((d.id, d.assignment.clone()));
                }
            },
        );
        self.record(|| Record::Assign {
            customer,
            devices: changed,
            job: None,
            deleted_policy: Some(id),
        });
        Ok(())
    }

    /// Accepts a policy-update job: outcomes are decided now, assignments take effect when the
    /// job completes. A device or policy id held by another customer of this registry fails with
    /// 811 or 810 (`domain::registry::assignment`).
    pub fn update_device_policies(
        &self,
        customer: CustomerId,
        updates: Vec<PolicyUpdate>,
        now: Timestamp,
    ) -> TrackingId {
        let world = self.world();
        let shard = world.customer_or_default(customer);
        // Ids the customer does not hold are looked for in the other customers' shards, one at a
        // time and before this customer's lock is taken, so no two customer locks are ever held
        // at once. Each other customer is seen as of the moment its lock was held (its own
        // linearization); ids are minted by the server, so none can move between customers, and
        // a concurrent deletion or reset elsewhere only decides whether 811/810 or 801/806-style
        // "not found" is answered, either being an order in which the writes could have come.
        let (devices, profiles) = {
            let cust = self.read(&shard);
            let devices: HashSet<DeviceId> = updates
                .iter()
                .filter_map(|u| DeviceId::parse(&u.device))
                .filter(|id| cust.device_by_id(*id).is_none())
                .collect();
            let profiles: HashSet<PolicyId> = updates
                .iter()
                .filter_map(|u| u.policy.as_deref().and_then(PolicyId::parse))
                .filter(|p| !cust.policies.contains_key(p))
                .collect();
            (devices, profiles)
        };
        let (devices, profiles) = self.held_elsewhere(&world, customer, devices, profiles);
        let mut guard = self.write(&shard);
        let cust = &mut *guard;
        // Decided first (read only), applied after.
        let verdicts: Vec<_> = updates
            .iter()
            .map(|u| {
                let id = DeviceId::parse(&u.device);
                let device = holder(
                    id.is_some_and(|id| cust.device_by_id(id).is_some()),
                    id.is_some_and(|id| devices.contains(&id)),
                );
                let profile = u.policy.as_deref().map(|raw| {
                    let p = PolicyId::parse(raw);
                    holder(
                        p.is_some_and(|p| cust.policies.contains_key(&p)),
                        p.is_some_and(|p| profiles.contains(&p)),
                    )
                });
                registry::assignment(device, profile)
            })
            .collect();
        let schedule = Job::new(TrackingId::new(), now, self.timings, Vec::new());
        let entries = updates
            .into_iter()
            .zip(verdicts)
            .map(|(update, verdict)| {
                let record = DeviceId::parse(&update.device)
                    .and_then(|id| cust.slot_of(id))
                    .and_then(|slot| cust.devices.get_mut(slot as usize))
                    .and_then(Option::as_mut);
                let policy = update.policy.as_deref().and_then(PolicyId::parse);
                let (outcome, text) = match (record, verdict) {
                    (None, verdict) => (
                        Outcome::Failed(verdict.err().unwrap_or(DeviceError::DeviceNotFound)),
                        DeviceText::default(),
                    ),
                    (Some(d), Err(e)) => (Outcome::Failed(e), d.text.clone()),
                    (Some(d), Ok(())) => {
                        d.assignment.schedule(policy, schedule.completed_at, now);
                        (Outcome::Succeeded(d.id), d.text.clone())
                    }
                };
                JobEntry {
                    device_ref: Some(update.device.into_boxed_str()),
                    text,
                    outcome,
                }
            })
            .collect();
        let job = Job {
            entries,
            batch: None,
            ..schedule
        };
        let id = job.id;
        let job = Arc::new(job);
        cust.jobs.insert(id, job.clone());
        self.record(|| Record::Assign {
            customer,
            devices: job
                .entries
                .iter()
                .filter_map(|e| match e.outcome {
                    Outcome::Succeeded(d) => {
                        cust.device_by_id(d).map(|(_, r)| (d, r.assignment.clone()))
                    }
                    Outcome::Failed(_) => None,
                })
                .collect(),
            job: Some(job),
            deleted_policy: None,
        });
        id
    }
}

/// Who holds a device or profile: the customer asking, another customer, or no one.
fn holder(mine: bool, elsewhere: bool) -> Holder {
    if mine {
        Holder::Customer
    } else if elsewhere {
        Holder::OtherTenant
    } else {
        Holder::Nobody
    }
}

impl Store {
    /// Of the ids given, those another customer of this registry holds; each other customer is
    /// locked on its own, one after the other, and only when some id is left to look for.
    fn held_elsewhere(
        &self,
        world: &World<'_>,
        customer: CustomerId,
        mut devices: HashSet<DeviceId>,
        mut profiles: HashSet<PolicyId>,
    ) -> (HashSet<DeviceId>, HashSet<PolicyId>) {
        if devices.is_empty() && profiles.is_empty() {
            return (devices, profiles);
        }
        let (mut held_devices, mut held_profiles) = (HashSet::new(), HashSet::new());
        for (id, shard) in world.customers() {
            if id == customer {
                continue;
            }
            let other = self.read(&shard);
            devices.retain(|d| {
                let held = other.device_by_id(*d).is_some();
                if held {
                    held_devices.insert(*d);
                }
                !held
            });
            profiles.retain(|p| {
                let held = other.policies.contains_key(p);
                if held {
                    held_profiles.insert(*p);
                }
                !held
            });
            drop(other);
            if devices.is_empty() && profiles.is_empty() {
                break;
            }
        }
        (held_devices, held_profiles)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;
    use crate::domain::ids::BatchId;
    use crate::domain::policy::PolicySetting;

    fn fields(name: &str) -> PolicyFields {
        PolicyFields {
            name: name.into(),
            description: None,
            settings: vec![PolicySetting::SkipEula],
        }
    }

    #[test]
    fn an_assignment_counts_and_names_once_its_job_completes_and_a_deletion_undoes_it() {
        let store = store();
        let c = customer(1);
        store
            .create_batch(c, BatchId::parse("B").unwrap(), vec![pk("K")], t0())
            .unwrap();
        let device = store.list_devices(c, "B", None, 1, done()).unwrap().devices[0].id;
        let policy = store
            .create_policy(c, PolicyCategory::Oobe, fields("Profile"), done())
            .policy
            .id;
        let update = PolicyUpdate {
            device: device.to_string(),
            policy: Some(policy.to_string()),
        };
        store.update_device_policies(c, vec![update], done());
        assert_eq!(
            store
                .get_policy(c, &policy.to_string(), done())
                .unwrap()
                .devices_assigned,
            0
        );
        let later = done().plus(std::time::Duration::from_secs(3));
        assert_eq!(
            store
                .get_policy(c, &policy.to_string(), later)
                .unwrap()
                .devices_assigned,
            1
        );
        let listed = store.list_devices(c, "B", None, 1, later).unwrap();
        assert_eq!(listed.devices[0].policy_name.as_deref(), Some("Profile"));
        store.delete_policy(c, &policy.to_string(), later).unwrap();
        let listed = store.list_devices(c, "B", None, 1, later).unwrap();
        assert_eq!(listed.devices[0].policy_name, None);
    }

    #[test]
    fn unknown_devices_and_policies_fail_per_device() {
        let store = store();
        let c = customer(1);
        store
            .create_batch(c, BatchId::parse("B").unwrap(), vec![pk("K")], t0())
            .unwrap();
        let device = store.list_devices(c, "B", None, 1, done()).unwrap().devices[0].id;
        let job = store.update_device_policies(
            c,
            vec![
                PolicyUpdate {
                    device: "9993-8627".into(),
                    policy: None,
                },
                PolicyUpdate {
                    device: device.to_string(),
                    policy: Some(PolicyId::new().to_string()),
                },
            ],
            done(),
        );
        let job = store.job(c, &job.to_string()).unwrap();
        let outcomes: Vec<_> = job.entries.iter().map(|e| e.outcome).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Failed(DeviceError::DeviceNotFound),
                Outcome::Failed(DeviceError::PolicyNotFound)
            ]
        );
    }

    #[test]
    fn policies_of_one_customer_are_invisible_to_another() {
        let store = store();
        let p = store
            .create_policy(customer(1), PolicyCategory::Oobe, fields("P"), t0())
            .policy
            .id;
        assert_eq!(
            store.get_policy(customer(2), &p.to_string(), t0()),
            Err(Error::PolicyNotFound(p.to_string()))
        );
        assert!(
            store
                .delete_policy(customer(2), &p.to_string(), t0())
                .is_err()
        );
        assert_eq!(store.list_policies(customer(1), t0()).len(), 1);
    }
}
