//! Partner-tenant partitions: one whole [`Store`] per partner tenant (`tid`), so that partners
//! never see or collide with each other's data.
//!
//! # Design
//!
//! The default store (the one `AppState` holds) keeps today's unpartitioned data, the fault rules
//! and the journal, and owns a map of partner stores created on first use. A partner store is a
//! complete registry: its own customers, device identities (so 806/808 and
//! `ZtdDeviceIsNotUnique` apply within one partner's world only), jobs, idempotency records and
//! reset epoch (so a continuation token of one partner is stale in another). Reusing `Store`
//! keeps every rule in one place instead of threading a tenant key through each map and method.
//!
//! Requests without a partner (`--auth bearer` and `off`) use the default store directly: no map
//! lookup, lock or allocation is added to their path. A partner request takes the map's read lock
//! once to clone the `Arc` of its store, then runs exactly as a default request does.
//!
//! Partner stores' own fault rules and journal stay empty: the intercept layer uses the default
//! store's, before authentication names the partner. Lock order: a store's registry, then this
//! map, then partner registries in tenant order; handlers never hold two registry locks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use super::{Store, StoreOptions};
use crate::domain::ids::TenantId;

/// The partner stores, by tenant, in tenant order (which exports follow).
#[derive(Debug)]
pub(super) struct Partners {
    options: StoreOptions,
    log: Arc<super::document::log::Log>,
    map: RwLock<BTreeMap<TenantId, Arc<Store>>>,
    /// Changes of partner stores that were removed, so the total never moves back to a value
    /// persistence has already written.
    retired: AtomicU64,
}

impl Partners {
    pub(super) fn new(options: StoreOptions, log: Arc<super::document::log::Log>) -> Self {
        Self {
            log,
            options: StoreOptions {
                // Partner stores never record requests (see the module doc).
                journal_size: 0,
                ..options
            },
            map: RwLock::new(BTreeMap::new()),
            retired: AtomicU64::new(0),
        }
    }

    /// The store of a partner, created empty on first use.
    pub(super) fn get_or_create(&self, tenant: TenantId) -> Arc<Store> {
        if let Some(store) = self.get(tenant) {
            return store;
        }
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.entry(tenant)
            .or_insert_with(|| {
                self.retired.fetch_add(1, Ordering::Relaxed);
                Arc::new(Store::with_log(
                    self.options,
                    self.log.clone(),
                    Some(tenant),
                ))
            })
            .clone()
    }

    /// The store of a partner that has one.
    pub(super) fn get(&self, tenant: TenantId) -> Option<Arc<Store>> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&tenant)
            .cloned()
    }

    /// Every partner store, in tenant order.
    pub(super) fn all(&self) -> Vec<(TenantId, Arc<Store>)> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(t, s)| (*t, s.clone()))
            .collect()
    }

    /// Drops one partner's store, or all of them.
    pub(super) fn remove(&self, tenant: Option<TenantId>) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        let removed: Vec<Arc<Store>> = match tenant {
            Some(t) => map.remove(&t).into_iter().collect(),
            None => std::mem::take(&mut *map).into_values().collect(),
        };
        let changes: u64 = removed.iter().map(|s| s.changes() + 1).sum();
        self.retired.fetch_add(changes, Ordering::Relaxed);
    }

    /// A number that moves whenever a partner's registry may have changed.
    pub(super) fn changes(&self) -> u64 {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.values()
            .map(|s| s.changes())
            .fold(self.retired.load(Ordering::Relaxed), u64::wrapping_add)
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::super::tests::*;
    use super::super::{Claim, Document, Store};
    use crate::domain::Error;
    use crate::domain::ids::{BatchId, TenantId};
    use crate::domain::job::{DeviceError, Outcome};
    use crate::domain::policy::{PolicyCategory, PolicyFields};

    fn empty() -> Document {
        Document {
            version: Some(super::super::VERSION),
            ..Document::default()
        }
    }

    fn tenant(n: u128) -> TenantId {
        TenantId::from(Uuid::from_u128(0x7e00 + n))
    }

    fn outcomes(store: &Store, tracking: &str) -> Vec<Outcome> {
        let c = customer(1);
        let job = store.job(c, tracking).unwrap();
        job.entries.iter().map(|e| e.outcome).collect()
    }

    fn upload(store: &Store, keys: &[&str]) -> String {
        let devices = keys.iter().map(|k| pk(k)).collect();
        store
            .create_batch(customer(1), BatchId::parse("B").unwrap(), devices, t0())
            .unwrap()
            .to_string()
    }

    fn policy(store: &Store) -> String {
        let fields = PolicyFields {
            name: "P".into(),
            description: None,
            settings: vec![],
        };
        store
            .create_policy(customer(1), PolicyCategory::Oobe, fields, t0())
            .policy
            .id
            .to_string()
    }

    #[test]
    fn two_partners_register_the_same_devices_to_the_same_customer() {
        let root = store();
        let (a, b) = (root.partner(tenant(1)), root.partner(tenant(2)));
        let (ta, tb) = (upload(&a, &["K1", "K2"]), upload(&b, &["K1", "K2"]));
        for (store, t) in [(&a, &ta), (&b, &tb)] {
            assert!(
                outcomes(store, t)
                    .iter()
                    .all(|o| matches!(o, Outcome::Succeeded(_)))
            );
        }
        // The default data is a world of its own too.
        let t = upload(&root, &["K1"]);
        assert!(matches!(outcomes(&root, &t)[0], Outcome::Succeeded(_)));
        // Within one partner the registry rules still hold.
        let again = a
            .add_devices(customer(1), "B", vec![pk("K1"), pk("K3"), pk("K3")], t0())
            .unwrap();
        assert_eq!(
            outcomes(&a, &again.to_string())
                .iter()
                .map(|o| match o {
                    Outcome::Failed(e) => Some(*e),
                    Outcome::Succeeded(_) => None,
                })
                .collect::<Vec<_>>(),
            [
                Some(DeviceError::AlreadyAssigned),
                None,
                Some(DeviceError::Duplicated)
            ]
        );
        assert!(std::sync::Arc::ptr_eq(&a, &root.partner(tenant(1))));
    }

    #[test]
    fn a_partner_sees_only_its_own_batches_jobs_and_policies() {
        let root = store();
        let (a, b) = (root.partner(tenant(1)), root.partner(tenant(2)));
        let job = upload(&a, &["K1"]);
        let pol = policy(&a);
        assert_eq!(a.list_batches(customer(1), done()).len(), 1);
        assert!(b.list_batches(customer(1), done()).is_empty());
        assert!(root.list_batches(customer(1), done()).is_empty());
        assert_eq!(
            b.job(customer(1), &job),
            Err(Error::JobNotFound(job.clone()))
        );
        assert!(root.job(customer(1), &job).is_err());
        assert!(a.get_policy(customer(1), &pol, done()).is_ok());
        assert!(b.get_policy(customer(1), &pol, done()).is_err());
        assert!(b.list_policies(customer(1), done()).is_empty());
        assert!(b.list_devices(customer(1), "B", None, 10, done()).is_err());
    }

    #[test]
    fn idempotency_records_do_not_cross_partners() {
        let root = store();
        let (a, b) = (root.partner(tenant(1)), root.partner(tenant(2)));
        let key = crate::store::IdempotencyKey {
            customer: None,
            request: "POST /x r1".into(),
        };
        assert!(matches!(a.idempotency.claim(&key, 1), Claim::Proceed));
        assert!(matches!(b.idempotency.claim(&key, 2), Claim::Proceed));
        assert!(matches!(root.idempotency.claim(&key, 3), Claim::Proceed));
    }

    #[test]
    fn resets_reach_every_partner_or_just_the_one_named() {
        let root = store();
        let (a, b) = (root.partner(tenant(1)), root.partner(tenant(2)));
        for s in [&root, &a, &b] {
            upload(s, &["K1"]);
        }
        root.reset_customer(customer(1));
        for s in [&root, &a, &b] {
            assert!(s.list_batches(customer(1), done()).is_empty());
        }
        upload(&a, &["K1"]);
        upload(&b, &["K1"]);
        root.reset_partner_customer(tenant(1), customer(1));
        assert!(a.list_batches(customer(1), done()).is_empty());
        assert_eq!(b.list_batches(customer(1), done()).len(), 1);
        root.reset_partner(tenant(2));
        assert!(
            root.partner(tenant(2))
                .list_batches(customer(1), done())
                .is_empty()
        );
        upload(&root.partner(tenant(2)), &["K1"]);
        root.reset();
        assert!(root.export(None).partners.is_empty());
    }

    #[test]
    fn partners_export_and_import_exactly_and_an_unused_partner_exports_nothing() {
        let root = store();
        root.partner(tenant(3));
        assert_eq!(root.export(None), empty());
        let before = root.changes();
        upload(&root.partner(tenant(2)), &["K1"]);
        policy(&root.partner(tenant(1)));
        upload(&root, &["K1"]);
        assert_ne!(root.changes(), before);
        let exported = root.export(None);
        let tenants: Vec<&str> = exported
            .partners
            .iter()
            .map(|p| p.tenant_id.as_str())
            .collect();
        assert_eq!(tenants, [tenant(1).to_string(), tenant(2).to_string()]);
        root.reset();
        root.import(&exported, done()).unwrap();
        assert_eq!(root.export(None), exported);
        // Into a fresh emulator too (as a restart with --state-file does).
        let fresh = store();
        fresh.import(&exported, done()).unwrap();
        assert_eq!(fresh.export(None), exported);
    }

    #[test]
    fn a_bad_partner_entry_is_named_and_nothing_is_applied() {
        let root = store();
        let c = customer(1).to_string();
        let doc: Document = serde_json::from_value(serde_json::json!({
            "customers": [{"id": c, "batches": [{"id": "A", "devices": [{"productKey": "K"}]}]}],
            "partners": [
                {"tenantId": tenant(1).to_string(), "customers": [{"id": c, "batches": [{"id": "A", "devices": [{"productKey": "K"}]}]}]},
                {"tenantId": tenant(2).to_string(), "customers": [{"id": c, "batches": [{"id": "A", "devices": [{"productKey": "K"}, {"productKey": "K"}]}]}]}
            ]
        }))
        .unwrap();
        let err = root.import(&doc, t0()).unwrap_err();
        assert_eq!(err.path, "partners[1].customers[0].batches[0].devices[1]");
        assert_eq!(root.export(None), empty());
        let twice: Document = serde_json::from_value(serde_json::json!({
            "customers": [],
            "partners": [{"tenantId": tenant(1).to_string()}, {"tenantId": tenant(1).to_string()}]
        }))
        .unwrap();
        assert_eq!(root.import(&twice, t0()).unwrap_err().path, "partners[1]");
        let bad: Document = serde_json::from_value(
            serde_json::json!({"customers": [], "partners": [{"tenantId": "nope"}]}),
        )
        .unwrap();
        assert_eq!(
            root.import(&bad, t0()).unwrap_err().path,
            "partners[0].tenantId"
        );
    }
}
