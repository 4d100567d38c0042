//! Exporting the state as a document, in a stable order, for `GET /_emulator/state` and the
//! state file.

use std::collections::HashMap;
use std::sync::Arc;

use super::schema::{
    BatchDoc, ClockDoc, CustomerDoc, DeviceDoc, Document, JobDoc, JobEntryDoc, PartnerDoc,
    PolicyDoc, ScheduledDoc, VERSION,
};
use crate::domain::ids::{BatchKey, CustomerId};
use crate::domain::job::{Job, Outcome};
use crate::domain::policy::Policy;
use crate::store::{Customer, DeviceRecord, ForeignDevice, Group, Store};

impl Store {
    /// The whole registry as a document (`version` set), in a stable order, with every partner
    /// tenant that has data.
    pub fn export(&self, clock: Option<ClockDoc>) -> Document {
        let partners = self
            .partners
            .all()
            .into_iter()
            .filter_map(|(tenant, store)| {
                let customers = store.customer_docs();
                let oem_devices = super::oem::docs(&store.world().oem());
                (!customers.is_empty() || !oem_devices.is_empty()).then(|| PartnerDoc {
                    tenant_id: tenant.to_string(),
                    customers,
                    oem_devices,
                })
            })
            .collect();
        let (identity, oem_devices) =
            (self.entra().export(), super::oem::docs(&self.world().oem()));
        Document {
            version: Some(VERSION),
            clock,
            log: None,
            customers: self.customer_docs(),
            partners,
            identity,
            oem_devices,
        }
    }

    /// This registry's customers as document entries, in customer order.
    fn customer_docs(&self) -> Vec<CustomerDoc> {
        // Copy under the lock (records share their text, so this is mostly memcpy), and build the
        // document after releasing it: writing a million devices must not stall every request.
        // The gate is exclusive for the copy: no request is half-way through, so every customer
        // and the identity index they share are seen at one moment.
        let snapshot: Vec<(CustomerId, Customer)> = {
            let world = self.registry.exclusive();
            world
                .customers_sorted()
                .into_iter()
                .map(|(id, c)| (id, self.read(&c).clone()))
                .collect()
        };
        snapshot
            .iter()
            .map(|(id, c)| {
                let policies = c
                    .policy_order
                    .iter()
                    .filter_map(|p| c.policies.get(p))
                    .map(policy_doc)
                    .collect();
                let mut foreign: HashMap<&BatchKey, Vec<&ForeignDevice>> = HashMap::new();
                for f in &c.foreign {
                    foreign.entry(&f.batch).or_default().push(f);
                }
                let batches = c
                    .batches
                    .iter()
                    .map(|b| {
                        let mut devices: Vec<DeviceDoc> = b
                            .devices
                            .iter()
                            .filter_map(|slot| c.device(*slot))
                            .map(|d| device_doc(c, d))
                            .collect();
                        devices.extend(
                            foreign
                                .get(b.id.key())
                                .into_iter()
                                .flatten()
                                .map(|f| foreign_doc(f)),
                        );
                        BatchDoc {
                            id: b.id.to_string(),
                            creation_date: Some(b.created_at.rfc3339()),
                            devices,
                        }
                    })
                    .collect();
                let mut jobs: Vec<&Arc<Job>> = c.jobs.values().collect();
                jobs.sort_by_key(|j| (j.accepted_at, j.id));
                CustomerDoc {
                    id: id.to_string(),
                    relationship: c.no_relationship.then_some(false),
                    policies,
                    batches,
                    jobs: jobs.into_iter().map(|j| job_doc(j)).collect(),
                }
            })
            .collect()
    }
}

pub(super) fn policy_doc(p: &Policy) -> PolicyDoc {
    PolicyDoc {
        id: Some(p.id.to_string()),
        name: p.fields.name.clone(),
        category: Some(p.category.as_str().to_owned()),
        description: p.fields.description.clone(),
        policy_settings: p
            .fields
            .settings
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        created_date: Some(p.created_at.rfc3339()),
        last_modified_date: Some(p.modified_at.rfc3339()),
    }
}

fn owned(field: Option<&str>) -> Option<String> {
    field.map(str::to_owned)
}

fn device_doc(c: &Customer, d: &DeviceRecord) -> DeviceDoc {
    device_doc_in(c.group(d), d)
}

/// A device's entry, given its upload's times.
pub(super) fn device_doc_in(group: Group, d: &DeviceRecord) -> DeviceDoc {
    let (current, scheduled) = d.assignment.parts();
    DeviceDoc {
        id: Some(d.id.to_string()),
        hardware_hash_digest: d.hashed.then(|| d.identity.hex()),
        product_key: owned(d.text.product_key()),
        serial_number: owned(d.text.serial_number()),
        oem_manufacturer_name: owned(d.text.oem_manufacturer_name()),
        model_name: owned(d.text.model_name()),
        uploaded_date: Some(group.uploaded_at.rfc3339()),
        listed_from: Some(group.listed_from.rfc3339()),
        policy_id: current.map(|p| p.to_string()),
        scheduled_policy: scheduled.map(|(from, p)| ScheduledDoc {
            from: from.rfc3339(),
            policy_id: p.map(|p| p.to_string()),
        }),
        ..DeviceDoc::default()
    }
}

fn foreign_doc(f: &ForeignDevice) -> DeviceDoc {
    // A foreign device was seeded with a hash exactly when its identity is not the one its
    // other fields give.
    let derived = f.text.identity_without_hash();
    DeviceDoc {
        status: Some("otherTenant".into()),
        tenant: Some(f.tenant.to_string()),
        hardware_hash_digest: (derived != Some(f.identity)).then(|| f.identity.hex()),
        product_key: owned(f.text.product_key()),
        serial_number: owned(f.text.serial_number()),
        oem_manufacturer_name: owned(f.text.oem_manufacturer_name()),
        model_name: owned(f.text.model_name()),
        ..DeviceDoc::default()
    }
}

pub(super) fn job_doc(j: &Job) -> JobDoc {
    JobDoc {
        id: j.id.to_string(),
        accepted_at: j.accepted_at.rfc3339(),
        started_at: j.started_at.rfc3339(),
        completed_at: j.completed_at.rfc3339(),
        batch_id: j.batch.as_ref().map(ToString::to_string),
        entries: j
            .entries
            .iter()
            .map(|e| {
                let (device_id, error_code) = match e.outcome {
                    Outcome::Succeeded(id) => (Some(id.to_string()), None),
                    Outcome::Failed(err) => (None, Some(err.code().to_owned())),
                };
                JobEntryDoc {
                    device_ref: e.device_ref.as_deref().map(str::to_owned),
                    serial_number: owned(e.text.serial_number()),
                    product_key: owned(e.text.product_key()),
                    device_id,
                    error_code,
                }
            })
            .collect(),
    }
}
