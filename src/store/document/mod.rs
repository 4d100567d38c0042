//! The seed and state document: one JSON format to seed the emulator, export it and persist it,
//! and one loader for it. `--state-file`, `--seed` and `POST /_emulator/seed` all read a
//! document with [`from_slice`] or [`from_json`] and apply it with [`Store::import`], so all
//! three accept the same documents and name a failing entry the same way
//! (`customers[0].batches[1].devices[3]`).
//!
//! [`schema`] is its shape, [`import`] its rules, [`export`] the way back.
//!
//! [`Store::import`]: crate::store::Store::import

mod direct;
mod entries;
mod export;
mod import;
pub mod log;
mod oem;
mod schema;

use serde_json::Value;

pub use export::Snapshot;

pub use schema::{
    BatchDoc, ClockDoc, CustomerDoc, DeviceDoc, Document, JobDoc, JobEntryDoc, OTHER_TENANT,
    OemDeviceDoc, PartnerDoc, PolicyDoc, ScheduledDoc, SeedSummary, VERSION,
};

use crate::json::{Invalid, objects_at, type_name};

/// Why a document was refused: the entry (`customers[0].batches[1].devices[3]`) and the problem.
pub type SeedError = Invalid;

/// A document from its bytes (a `--seed` or `--state-file` file).
pub fn from_slice(bytes: &[u8]) -> Result<Document, SeedError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // A `Value` tree of a million devices cost more than reading them; it stays the way that
    // names a refused entry.
    if let Some(doc) = direct::document(bytes) {
        return Ok(doc);
    }
    let json: Value = serde_json::from_slice(bytes)
        .map_err(|e| Invalid::at("", format!("the document is not JSON: {e}.")))?;
    from_json(json)
}

/// A document from its JSON: shapes and types, each failure naming its entry. The entries'
/// rules are checked when it is imported.
pub fn from_json(json: Value) -> Result<Document, SeedError> {
    shape(&json)?;
    crate::json::from_value(json, "the document")
}

/// Every object a document nests must be one: serde would otherwise read a struct from an
/// array of its fields, and the error would not name the entry.
fn shape(doc: &Value) -> Result<(), SeedError> {
    fn each<'v>(
        parent: &'v Value,
        key: &str,
        path: &str,
    ) -> Result<Vec<(String, &'v Value)>, SeedError> {
        let list = parent.get(key).and_then(Value::as_array);
        list.into_iter()
            .flatten()
            .enumerate()
            .map(|(i, item)| {
                let at = format!("{}[{i}]", crate::json::join(path, key));
                if item.is_object() {
                    Ok((at, item))
                } else {
                    Err(Invalid::at(
                        at,
                        format!("must be an object, got {}.", type_name(item)),
                    ))
                }
            })
            .collect()
    }
    /// The same for the lists that hold a million entries: their paths are formatted only when
    /// one is refused (a path string per device cost more than parsing it).
    fn each_quiet<'v>(
        parent: &'v Value,
        key: &str,
        path: &dyn Fn() -> String,
    ) -> Result<Vec<(usize, &'v Value)>, SeedError> {
        let list = parent.get(key).and_then(Value::as_array);
        list.into_iter()
            .flatten()
            .enumerate()
            .map(|(i, item)| {
                if item.is_object() {
                    Ok((i, item))
                } else {
                    Err(Invalid::at(
                        format!("{}[{i}]", crate::json::join(&path(), key)),
                        format!("must be an object, got {}.", type_name(item)),
                    ))
                }
            })
            .collect()
    }
    objects_at(doc, "", &["clock"])?;
    let mut customers = each(doc, "customers", "")?;
    each(doc, "oemDevices", "")?;
    for (ppath, partner) in each(doc, "partners", "")? {
        customers.extend(each(partner, "customers", &ppath)?);
        each(partner, "oemDevices", &ppath)?;
    }
    for (cpath, customer) in customers {
        each(customer, "policies", &cpath)?;
        for (bpath, batch) in each(customer, "batches", &cpath)? {
            for (i, device) in each_quiet(batch, "devices", &|| bpath.clone())? {
                let refused = device
                    .get("scheduledPolicy")
                    .is_some_and(|v| !(v.is_object() || v.is_null()));
                if refused {
                    let dpath = format!("{}[{i}]", crate::json::join(&bpath, "devices"));
                    objects_at(device, &dpath, &["scheduledPolicy"])?;
                }
            }
        }
        let jobs = || crate::json::join(&cpath, "jobs");
        for (j, job) in each_quiet(customer, "jobs", &|| cpath.clone())? {
            each_quiet(job, "entries", &|| format!("{}[{j}]", jobs()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::device::{DeviceSubmission, HardwareHash, RawDevice};
    use crate::domain::ids::BatchId;
    use crate::domain::policy::{PolicyCategory, PolicyFields};
    use crate::store::tests::*;

    #[test]
    fn an_entry_that_is_not_an_object_is_named_at_every_depth() {
        let path = |doc: serde_json::Value| from_json(doc).unwrap_err().path;
        let c = "c7f3c849-129f-4b85-a96d-4f8e88b315a3";
        let device = serde_json::json!({"productKey": "K"});
        assert_eq!(
            path(
                serde_json::json!({"customers": [{"id": c, "batches": [{"id": "B", "devices": [device, [1]]}]}]})
            ),
            "customers[0].batches[0].devices[1]"
        );
        assert_eq!(
            path(
                serde_json::json!({"customers": [{"id": c, "batches": [{"id": "B", "devices": [device, {"productKey": "L", "scheduledPolicy": [1]}]}]}]})
            ),
            "customers[0].batches[0].devices[1].scheduledPolicy"
        );
        assert_eq!(
            path(
                serde_json::json!({"customers": [{"id": c}, {"id": c, "jobs": [{"id": "j"}, {"id": "k", "entries": [{}, 3]}]}]})
            ),
            "customers[1].jobs[1].entries[1]"
        );
        assert_eq!(
            path(serde_json::json!({"customers": [{"id": c, "jobs": [{"id": "j"}, "x"]}]})),
            "customers[0].jobs[1]"
        );
    }

    #[test]
    fn export_reset_import_round_trips_exactly() {
        let store = store();
        let c = customer(1);
        let p = store
            .create_policy(
                c,
                PolicyCategory::Oobe,
                PolicyFields {
                    name: "P".into(),
                    description: None,
                    settings: vec![],
                },
                t0(),
            )
            .policy
            .id;
        let hashed = DeviceSubmission::parse(RawDevice {
            hardware_hash: HardwareHash::parse("AAEC"),
            ..RawDevice::default()
        })
        .unwrap();
        store
            .create_batch(
                c,
                BatchId::parse("B").unwrap(),
                vec![pk("K1"), hashed],
                t0(),
            )
            .unwrap();
        let id = store.list_devices(c, "B", None, 1, done()).unwrap().devices[0].id;
        store
            .update_device(c, "B", &id.to_string(), Some(Some(p.to_string())), done())
            .unwrap();
        let doc = Document {
            customers: vec![CustomerDoc {
                id: customer(2).to_string(),
                relationship: None,
                policies: vec![],
                batches: vec![BatchDoc {
                    id: "Theirs".into(),
                    creation_date: None,
                    devices: vec![DeviceDoc {
                        status: Some("otherTenant".into()),
                        product_key: Some("FOREIGN".into()),
                        ..DeviceDoc::default()
                    }],
                }],
                jobs: vec![],
            }],
            oem_devices: vec![OemDeviceDoc {
                serial_number: "S".into(),
                oem_manufacturer_name: "M".into(),
                model_name: "N".into(),
                hardware_hash: Some("AAED".into()),
                aad_registered: Some(true),
                ..OemDeviceDoc::default()
            }],
            ..Document::default()
        };
        store.import(&doc, t0()).unwrap();

        let exported = store.export(None);
        assert_eq!(exported.oem_devices.len(), 1);
        assert!(exported.customers[0].jobs[0].batch_id.is_some());
        store.reset();
        store.import(&exported, done()).unwrap();
        assert_eq!(store.export(None), exported);
    }

    #[test]
    fn an_invalid_document_names_the_entry_and_applies_nothing() {
        let store = store();
        let doc: Document = serde_json::from_value(serde_json::json!({"customers": [
            {"id": customer(1).to_string(), "batches": [{"id": "A", "devices": [{"productKey": "K"}]}]},
            {"id": customer(2).to_string(), "batches": [{"id": "B", "devices": [{"productKey": "K"}]}]}
        ]}))
        .unwrap();
        let err = store.import(&doc, t0()).unwrap_err();
        assert_eq!(err.path, "customers[1].batches[0].devices[0]");
        assert!(store.list_batches(customer(1), t0()).is_empty());
    }
}
