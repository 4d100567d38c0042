//! Exporting the state as a document, in a stable order, for `GET /_emulator/state` and the
//! state file: a snapshot taken in an instant (pointers to each customer's copy-on-write
//! pieces), written out one device at a time, so no export holds the document in memory.

use std::collections::HashMap;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::schema::{
    ClockDoc, DeviceDoc, Document, JobDoc, JobEntryDoc, OemDeviceDoc, PolicyDoc, ScheduledDoc,
    VERSION,
};
use crate::domain::ids::{BatchKey, CustomerId, TenantId};
use crate::domain::job::{Job, Outcome};
use crate::domain::policy::Policy;
use crate::store::cow::Chunked;
use crate::store::{Batch, Customer, DeviceRecord, ForeignDevice, Group, IdentityDoc, Store};

/// The whole state at one moment, ready to be written as a [`Document`] (`version` set), in a
/// stable order, with every partner tenant that has data.
///
/// Taking it copies a pointer per piece of a thousand devices, batches or groups (`store/cow.rs`)
/// and the small rest of each customer (its policies, its jobs' pointers), not the devices: a
/// piece changed while the snapshot is alive is copied then, once, by the change. So a client
/// that never reads its export pins the pieces it was given, and costs memory only for what
/// changed since; writing it builds one device's entry at a time. The device index is not part
/// of it: an export reads devices in batch order.
#[derive(Debug)]
pub struct Snapshot {
    clock: Option<ClockDoc>,
    /// The state file's log that continues this snapshot (state files only).
    pub log: Option<String>,
    customers: Vec<(CustomerId, Frozen)>,
    partners: Vec<PartnerSnapshot>,
    identity: Option<IdentityDoc>,
    oem_devices: Vec<OemDeviceDoc>,
}

#[derive(Debug)]
struct PartnerSnapshot {
    tenant: TenantId,
    customers: Vec<(CustomerId, Frozen)>,
    oem_devices: Vec<OemDeviceDoc>,
}

impl Store {
    /// The whole registry at one moment (each registry's gate held exclusively for as long as
    /// it takes to copy pointers to each customer's pieces).
    pub fn snapshot(&self, clock: Option<ClockDoc>) -> Snapshot {
        let partners = self
            .partners
            .all()
            .into_iter()
            .filter_map(|(tenant, store)| {
                let (customers, oem_devices) = store.customers_now();
                (!customers.is_empty() || !oem_devices.is_empty()).then_some(PartnerSnapshot {
                    tenant,
                    customers,
                    oem_devices,
                })
            })
            .collect();
        let (customers, oem_devices) = self.customers_now();
        Snapshot {
            clock,
            log: None,
            customers,
            partners,
            identity: self.entra().export(),
            oem_devices,
        }
    }

    /// The whole registry as a document. It is built by writing the snapshot and reading it
    /// back, so there is one way to export; for tests and small states only.
    pub fn export(&self, clock: Option<ClockDoc>) -> Document {
        self.snapshot(clock).to_document()
    }

    /// This registry's customers, in customer order, and its OEM registry, at one moment.
    fn customers_now(&self) -> (Vec<(CustomerId, Frozen)>, Vec<OemDeviceDoc>) {
        // The gate is exclusive: no request is half-way through, so every customer and the
        // identity index they share are seen at one moment. Mostly pointers are copied under
        // it (one per thousand devices), so requests wait little, whatever the state's size.
        let (mut customers, oem): (Vec<(CustomerId, Frozen)>, _) = {
            let world = self.registry.exclusive();
            let customers = world
                .customers_sorted()
                .into_iter()
                .map(|(id, c)| (id, Frozen::of(&self.read(&c))))
                .collect();
            (customers, super::oem::docs(&world.oem()))
        };
        for (_, c) in &mut customers {
            c.jobs.sort_by_key(|j| (j.accepted_at, j.id));
        }
        (customers, oem)
    }
}

/// One customer as an export writes it: its copy-on-write collections share their pieces with
/// the live customer; policies and foreign devices (bounded in bytes) are copied, jobs by
/// pointer.
#[derive(Debug)]
struct Frozen {
    batches: Chunked<Batch>,
    devices: Chunked<Option<DeviceRecord>>,
    groups: Chunked<Group>,
    /// In acceptance order once the snapshot is taken.
    jobs: Vec<Arc<Job>>,
    policies: Vec<Policy>,
    foreign: Vec<ForeignDevice>,
    no_relationship: bool,
}

impl Frozen {
    fn of(c: &Customer) -> Self {
        Self {
            batches: c.batches.clone(),
            devices: c.devices.clone(),
            groups: c.groups.clone(),
            jobs: c.jobs.values().cloned().collect(),
            policies: c
                .policy_order
                .iter()
                .filter_map(|p| c.policies.get(p))
                .cloned()
                .collect(),
            foreign: c.foreign.clone(),
            no_relationship: c.no_relationship,
        }
    }

    fn device(&self, slot: u32) -> Option<&DeviceRecord> {
        self.devices.get(slot as usize)?.as_ref()
    }

    fn group(&self, d: &DeviceRecord) -> Group {
        self.groups
            .get(d.group as usize)
            .copied()
            .unwrap_or_default()
    }
}

impl Snapshot {
    /// The snapshot as a [`Document`] value (written and read back).
    pub fn to_document(&self) -> Document {
        // Writing to memory fails only on a bug in the serializer, and the document it writes
        // is the schema's own: neither can happen, so an empty document is never seen.
        serde_json::to_vec(self)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }
}

/// A sequence written from an iterator made when it is written.
struct SeqOf<F>(F);

impl<F, I> Serialize for SeqOf<F>
where
    F: Fn() -> I,
    I: IntoIterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

// The views below write exactly what `schema`'s types derive (field names, order and the
// fields left out when empty): `to_document` reads it back with them, and the tests compare.

impl Serialize for Snapshot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut doc = s.serialize_struct("Document", 7)?;
        doc.serialize_field("version", &VERSION)?;
        if let Some(clock) = &self.clock {
            doc.serialize_field("clock", clock)?;
        }
        if let Some(log) = &self.log {
            doc.serialize_field("log", log)?;
        }
        doc.serialize_field("customers", &Customers(&self.customers))?;
        if !self.partners.is_empty() {
            doc.serialize_field("partners", &SeqOf(|| self.partners.iter()))?;
        }
        if let Some(identity) = &self.identity {
            doc.serialize_field("identity", identity)?;
        }
        if !self.oem_devices.is_empty() {
            doc.serialize_field("oemDevices", &self.oem_devices)?;
        }
        doc.end()
    }
}

impl Serialize for PartnerSnapshot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut doc = s.serialize_struct("PartnerDoc", 3)?;
        doc.serialize_field("tenantId", &self.tenant.to_string())?;
        doc.serialize_field("customers", &Customers(&self.customers))?;
        if !self.oem_devices.is_empty() {
            doc.serialize_field("oemDevices", &self.oem_devices)?;
        }
        doc.end()
    }
}

/// A registry's customers, in the order taken.
struct Customers<'a>(&'a [(CustomerId, Frozen)]);

impl Serialize for Customers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(id, c)| CustomerView { id: *id, c }))
    }
}

/// One customer's entry, written from its state.
struct CustomerView<'a> {
    id: CustomerId,
    c: &'a Frozen,
}

impl Serialize for CustomerView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.c;
        let mut foreign: HashMap<&BatchKey, Vec<&ForeignDevice>> = HashMap::new();
        for f in &c.foreign {
            foreign.entry(&f.batch).or_default().push(f);
        }

        let mut doc = s.serialize_struct("CustomerDoc", 5)?;
        doc.serialize_field("id", &self.id.to_string())?;
        if c.no_relationship {
            doc.serialize_field("relationship", &false)?;
        }
        if !c.policies.is_empty() {
            doc.serialize_field("policies", &SeqOf(|| c.policies.iter().map(policy_doc)))?;
        }
        if !c.batches.is_empty() {
            doc.serialize_field(
                "batches",
                &SeqOf(|| {
                    c.batches.iter().map(|b| BatchView {
                        c,
                        b,
                        foreign: foreign.get(b.id.key()).map_or(&[][..], Vec::as_slice),
                    })
                }),
            )?;
        }
        if !c.jobs.is_empty() {
            doc.serialize_field("jobs", &SeqOf(|| c.jobs.iter().map(|j| job_doc(j))))?;
        }
        doc.end()
    }
}

/// One batch's entry: its devices, then the foreign devices seeded into it.
struct BatchView<'a> {
    c: &'a Frozen,
    b: &'a Batch,
    foreign: &'a [&'a ForeignDevice],
}

impl Serialize for BatchView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (c, b) = (self.c, self.b);
        let mut doc = s.serialize_struct("BatchDoc", 3)?;
        doc.serialize_field("id", &b.id.to_string())?;
        doc.serialize_field("creationDate", &b.created_at.rfc3339())?;
        doc.serialize_field(
            "devices",
            &SeqOf(|| {
                b.devices
                    .iter()
                    .filter_map(|slot| c.device(*slot))
                    .map(|d| device_doc(c, d))
                    .chain(self.foreign.iter().map(|f| foreign_doc(f)))
            }),
        )?;
        doc.end()
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

fn device_doc(c: &Frozen, d: &DeviceRecord) -> DeviceDoc {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::from_json;
    use super::*;
    use crate::domain::ids::BatchId;
    use crate::store::tests::*;

    /// A state with every field of the document that an export writes.
    fn everything() -> (Store, serde_json::Value) {
        let store = store();
        let (c, other) = (customer(1).to_string(), customer(2).to_string());
        let tenant = uuid::Uuid::from_u128(7).to_string();
        let device = |key: &str| {
            serde_json::json!({
                "id": uuid::Uuid::new_v4().to_string(),
                "productKey": key,
                "serialNumber": format!("S-{key}"),
                "oemManufacturerName": "Contoso",
                "modelName": "Laptop 9",
                "uploadedDate": "2026-11-21T09:00:00Z",
                "listedFrom": "2026-11-21T09:00:05Z",
            })
        };
        let (policy, job) = (uuid::Uuid::from_u128(11), uuid::Uuid::from_u128(12));
        let mut scheduled = device("K2");
        scheduled["policyId"] = policy.to_string().into();
        scheduled["scheduledPolicy"] =
            serde_json::json!({"from": "2026-11-21T11:00:00Z", "policyId": null});
        let doc = serde_json::json!({
            "customers": [
                {"id": c, "relationship": false,
                 "policies": [{"id": policy.to_string(), "name": "P", "category": "o_o_b_e",
                     "description": "d", "policySettings": ["remove_oem_preinstalls"],
                     "createdDate": "2026-11-21T08:00:00Z",
                     "lastModifiedDate": "2026-11-21T08:30:00Z"}],
                 "batches": [
                     {"id": "A", "creationDate": "2026-11-21T08:00:00Z",
                      "devices": [device("K1"), scheduled,
                          {"status": "otherTenant", "tenant": other, "productKey": "F1"}]},
                     {"id": "Empty", "creationDate": "2026-11-21T08:00:00Z", "devices": []}],
                 "jobs": [{"id": job.to_string(), "acceptedAt": "2026-11-21T09:00:00Z",
                     "startedAt": "2026-11-21T09:00:01Z", "completedAt": "2026-11-21T09:00:05Z",
                     "batchId": "A",
                     "entries": [
                         {"deviceRef": "r1", "serialNumber": "S-K1", "productKey": "K1",
                          "deviceId": uuid::Uuid::from_u128(13).to_string()},
                         {"productKey": "K9", "errorCode": "806"}]}]},
                {"id": other}
            ],
            "partners": [{"tenantId": tenant, "customers": [{"id": c,
                 "batches": [{"id": "P", "creationDate": "2026-11-21T08:00:00Z",
                     "devices": [device("K1")]}]}],
                 "oemDevices": [{"serialNumber": "S", "oemManufacturerName": "M",
                     "modelName": "N"}]}],
            "identity": {"tenants": [{"id": tenant, "domains": ["contoso.example"]}]},
            "oemDevices": [{"serialNumber": "S", "oemManufacturerName": "M", "modelName": "N",
                "productKey": "OK", "hardwareHash": "AAED", "aadRegistered": true}]
        });
        let parsed = from_json(doc).expect("the fixture is a valid document");
        store.import(&parsed, t0()).expect("the fixture applies");
        store
            .create_batch(
                customer(3),
                BatchId::parse("Hashed").unwrap(),
                vec![pk("K5")],
                t0(),
            )
            .unwrap();
        let snapshot = store.snapshot(Some(ClockDoc {
            now: "2026-11-21T10:00:00Z".into(),
            mode: "manual".into(),
        }));
        let written: serde_json::Value = serde_json::to_value(&snapshot).unwrap();
        (store, written)
    }

    #[test]
    fn a_snapshot_writes_exactly_what_the_schema_writes() {
        let store = everything().0;
        let mut snapshot = store.snapshot(Some(ClockDoc {
            now: "2026-11-21T10:00:00Z".into(),
            mode: "manual".into(),
        }));
        snapshot.log = Some("log-1".into());
        let streamed = serde_json::to_vec(&snapshot).unwrap();
        let doc = snapshot.to_document();
        // Every optional part is present, so a field the view misnames or leaves out shows.
        let c = &doc.customers[0];
        assert_eq!(c.relationship, Some(false));
        assert_eq!(c.policies[0].description.as_deref(), Some("d"));
        assert_eq!(c.batches[0].devices.len(), 3);
        assert!(c.batches[0].devices[1].scheduled_policy.is_some());
        assert_eq!(
            c.batches[0].devices[2].status.as_deref(),
            Some("otherTenant")
        );
        assert_eq!(c.jobs[0].batch_id.as_deref(), Some("A"));
        assert_eq!(c.jobs[0].entries[1].error_code.as_deref(), Some("806"));
        assert_eq!(doc.partners[0].oem_devices.len(), 1);
        assert!(doc.identity.is_some());
        assert!(doc.oem_devices[0].hardware_hash_digest.is_some());
        assert_eq!(doc.log.as_deref(), Some("log-1"));
        assert_eq!(doc.customers.len(), 3);
        assert_eq!(
            String::from_utf8(serde_json::to_vec(&doc).unwrap()),
            String::from_utf8(streamed)
        );
    }

    #[test]
    fn a_snapshot_keeps_its_moment_while_the_state_changes() {
        let (store, before) = everything();
        let snapshot = store.snapshot(Some(ClockDoc {
            now: "2026-11-21T10:00:00Z".into(),
            mode: "manual".into(),
        }));
        // Changes of every kind after the snapshot: a device deleted and its slot taken by a
        // new one, a new customer, a customer reset, retention.
        let k5 = store
            .list_devices(customer(3), "Hashed", None, 1, done())
            .unwrap()
            .devices[0]
            .id;
        store
            .delete_device(customer(3), "Hashed", &k5.to_string(), done())
            .unwrap();
        store
            .add_devices(customer(3), "Hashed", vec![pk("K6")], t0())
            .unwrap();
        store
            .create_batch(
                customer(4),
                BatchId::parse("New").unwrap(),
                vec![pk("K7")],
                t0(),
            )
            .unwrap();
        store.reset_customer(customer(1));
        store.prune(
            done().plus(Duration::from_secs(86_400)),
            Duration::from_secs(1),
        );
        assert_eq!(serde_json::to_value(&snapshot).unwrap(), before);
        assert_ne!(serde_json::to_value(store.snapshot(None)).unwrap(), before);
    }
}
