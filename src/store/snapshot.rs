//! The seed and state document: one JSON format to seed the emulator, export it, and persist it.
//! Importing is all or nothing: the whole document is checked against the state before any of it
//! is applied, under the same lock.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Batch, Customer, DeviceRecord, ForeignDevice, Group, State, Store};
use crate::domain::device::{
    ACCEPTED_COMBINATIONS, DeviceSubmission, DeviceText, HardwareHash, Identity, MAX_FIELD_CHARS,
    identity_of, present_str,
};
use crate::domain::ids::{BatchId, BatchKey, CustomerId, DeviceId, PolicyId, TenantId, TrackingId};
use crate::domain::job::{DeviceError, Job, JobEntry, Outcome};
use crate::domain::policy::{
    Assignment, Policy, PolicyCategory, PolicyFields, PolicySetting, dedup_settings,
};
use crate::domain::timestamp::Timestamp;

/// The document version this emulator writes and reads.
pub const VERSION: u32 = 1;

/// The tenant that holds `otherTenant` devices seeded without a `tenant`.
pub const OTHER_TENANT: Uuid = Uuid::from_u128(0xffff_ffff_ffff_ffff_ffff_ffff_ffff_ffff);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Document {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// The clock when the document was written; read back only when state is restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockDoc>,
    pub customers: Vec<CustomerDoc>,
    /// Partner tenants' own data (`--auth jwt`), in tenant order; absent when there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partners: Vec<PartnerDoc>,
    /// The mock Entra ID's tenants, apps and users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<super::IdentityDoc>,
}

/// One partner tenant's world: customers in the same schema as the top-level ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartnerDoc {
    pub tenant_id: String,
    #[serde(default)]
    pub customers: Vec<CustomerDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClockDoc {
    pub now: String,
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomerDoc {
    pub id: String,
    /// `false`: the partner has no reseller relationship with this customer (403 code 20002
    /// under `--customers seeded`). Absent: it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batches: Vec<BatchDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub policy_settings: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchDoc {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<String>,
    #[serde(default)]
    pub devices: Vec<DeviceDoc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `registered` (default) or `otherTenant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_hash: Option<String>,
    /// 32 hex digits; exports carry this instead of the hash, which the emulator does not keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_hash_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oem_manufacturer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_date: Option<String>,
    /// When the device appears in listings (its upload job's completion); default `uploadedDate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_policy: Option<ScheduledDoc>,
}

/// A profile change that takes effect when a policy-update job completes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduledDoc {
    pub from: String,
    #[serde(default)]
    pub policy_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobDoc {
    pub id: String,
    pub accepted_at: String,
    pub started_at: String,
    pub completed_at: String,
    #[serde(default)]
    pub entries: Vec<JobEntryDoc>,
}

/// One device of a job: `deviceId` when it succeeded, `errorCode` when it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobEntryDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

/// What a seed added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeedSummary {
    pub customers: usize,
    pub batches: usize,
    pub devices: usize,
    pub policies: usize,
}

/// Why a document was refused: the entry (`customers[0].batches[1].devices[3]`) and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedError {
    pub path: String,
    pub problem: String,
}

fn fail<T>(path: impl Into<String>, problem: impl Into<String>) -> Result<T, SeedError> {
    Err(SeedError {
        path: path.into(),
        problem: problem.into(),
    })
}

fn time_at(
    raw: Option<&str>,
    default: Timestamp,
    path: impl FnOnce() -> String,
) -> Result<Timestamp, SeedError> {
    match raw {
        None => Ok(default),
        Some(r) => Timestamp::parse_rfc3339(r).map_or_else(
            || fail(path(), format!("must be an RFC 3339 time, got `{r}`.")),
            Ok,
        ),
    }
}

fn guid<T: From<Uuid>>(raw: &str, path: impl FnOnce() -> String) -> Result<T, SeedError> {
    Uuid::parse_str(raw.trim())
        .map(T::from)
        .or_else(|_| fail(path(), format!("must be a GUID, got `{raw}`.")))
}

fn digest(raw: &str, path: impl FnOnce() -> String) -> Result<Identity, SeedError> {
    Identity::from_hex(raw).map_or_else(
        || {
            fail(
                path(),
                format!("must be 32 hexadecimal digits, got `{raw}`."),
            )
        },
        Ok,
    )
}

/// A device of the document, checked; its batch slot and upload group are given when applied.
struct PlannedDevice {
    id: DeviceId,
    identity: Identity,
    hashed: bool,
    text: DeviceText,
    group: Group,
    assignment: Assignment,
}

/// A device's raw upload times and what they parsed to.
type LastTimes = (Option<String>, Option<String>, (Timestamp, Timestamp));

/// A set of random ids or digests (see `IdHasher`).
type IdSet<T> = HashSet<T, std::hash::BuildHasherDefault<super::IdHasher>>;

/// The place of an entry in a list, `{base}.{list}[{index}]`, formatted only when an error
/// names it: a million devices should not cost a million strings.
struct At<'a>(&'a str, &'static str, usize);

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}[{}]", self.0, self.1, self.2)
    }
}

/// Everything one customer's entry adds, checked and ready to apply.
struct CustomerPlan {
    id: CustomerId,
    policies: Vec<Policy>,
    batches: Vec<(Batch, Vec<PlannedDevice>)>,
    foreign: Vec<ForeignDevice>,
    jobs: Vec<Job>,
}

/// Checks a document against the state; nothing is changed.
struct Planner<'a> {
    state: &'a State,
    now: Timestamp,
    identities: IdSet<Identity>,
    customers: HashSet<CustomerId>,
    /// The last (uploadedDate, listedFrom) parsed, and their times.
    last_times: Option<LastTimes>,
}

impl Planner<'_> {
    fn customer(&mut self, doc: &CustomerDoc, path: &str) -> Result<CustomerPlan, SeedError> {
        let id: CustomerId = guid(&doc.id, || format!("{path}.id"))?;
        if !self.customers.insert(id) {
            return fail(path, format!("customer `{id}` appears more than once."));
        }
        let existing = self.state.customers.get(&id);
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
            .map(|c| c.device_index.keys().copied().collect())
            .unwrap_or_default();
        let (mut batches, mut foreign) = (Vec::new(), Vec::new());
        for (k, b) in doc.batches.iter().enumerate() {
            let bpath = format!("{path}.batches[{k}]");
            let batch_id =
                BatchId::parse(&b.id).or_else(|p| fail(format!("{bpath}.id"), format!("{p}.")))?;
            if !batch_keys.insert(batch_id.key().clone()) {
                return fail(
                    format!("{bpath}.id"),
                    format!("batch `{}` already exists for this customer.", b.id),
                );
            }
            let created_at = time_at(b.creation_date.as_deref(), self.now, || {
                format!("{bpath}.creationDate")
            })?;
            let batch = Batch {
                id: batch_id,
                created_at,
                devices: Vec::new(),
            };
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
        let mut job_ids: HashSet<TrackingId> = existing
            .map(|c| c.jobs.keys().copied().collect())
            .unwrap_or_default();
        let mut jobs = Vec::new();
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
        Ok(CustomerPlan {
            id,
            policies,
            batches,
            foreign,
            jobs,
        })
    }

    fn policy(&self, p: &PolicyDoc, path: &str) -> Result<Policy, SeedError> {
        let id = match &p.id {
            Some(raw) => guid(raw, || format!("{path}.id"))?,
            None => PolicyId::new(),
        };
        if p.name.trim().is_empty() {
            return fail(format!("{path}.name"), "must be a non-empty string.");
        }
        let category = match &p.category {
            None => PolicyCategory::Oobe,
            Some(c) => PolicyCategory::parse(c).map_or_else(
                || {
                    fail(
                        format!("{path}.category"),
                        format!("must be one of none, o_o_b_e, got `{c}`."),
                    )
                },
                Ok,
            )?,
        };
        let settings = p
            .policy_settings
            .iter()
            .enumerate()
            .map(|(i, s)| {
                PolicySetting::parse(s).map_or_else(
                    || {
                        fail(
                            format!("{path}.policySettings[{i}]"),
                            format!("must be one of {}, got `{s}`.", PolicySetting::accepted()),
                        )
                    },
                    Ok,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let created_at = time_at(p.created_date.as_deref(), self.now, || {
            format!("{path}.createdDate")
        })?;
        let modified_at = time_at(p.last_modified_date.as_deref(), created_at, || {
            format!("{path}.lastModifiedDate")
        })?;
        Ok(Policy {
            id,
            category,
            fields: PolicyFields {
                name: p.name.clone(),
                description: p.description.clone(),
                settings: dedup_settings(settings),
            },
            created_at,
            modified_at,
        })
    }

    fn device(
        &mut self,
        customer: CustomerId,
        d: &DeviceDoc,
        path: &At<'_>,
        batch: &BatchKey,
        policies: &HashSet<PolicyId>,
    ) -> Result<Planned, SeedError> {
        for (name, value) in [
            ("productKey", &d.product_key),
            ("serialNumber", &d.serial_number),
            ("oemManufacturerName", &d.oem_manufacturer_name),
            ("modelName", &d.model_name),
        ] {
            if value
                .as_ref()
                .is_some_and(|v| v.chars().count() > MAX_FIELD_CHARS)
            {
                return fail(
                    format!("{path}.{name}"),
                    format!("must be at most {MAX_FIELD_CHARS} characters."),
                );
            }
        }
        let hardware_hash = present_str(&d.hardware_hash).map(HardwareHash::of);
        let fields = [
            present_str(&d.serial_number),
            present_str(&d.product_key),
            present_str(&d.oem_manufacturer_name),
            present_str(&d.model_name),
        ];
        let text = DeviceText::new(fields);
        let identity = match (&d.hardware_hash_digest, &hardware_hash) {
            (Some(_), Some(_)) => {
                return fail(
                    path.to_string(),
                    "give `hardwareHash` or `hardwareHashDigest`, not both.",
                );
            }
            (Some(raw), None) => digest(raw, || format!("{path}.hardwareHashDigest"))?,
            (None, _) => match identity_of(
                hardware_hash.map(|h| h.identity),
                fields[1],
                fields[0],
                fields[2],
                fields[3],
            ) {
                Some(identity) => identity,
                None => {
                    return fail(
                        path.to_string(),
                        format!(
                            "carries none of the accepted identifier combinations: {}.",
                            ACCEPTED_COMBINATIONS.join("; ")
                        ),
                    );
                }
            },
        };
        if self.state.identities.contains(&identity) || !self.identities.insert(identity) {
            return fail(
                path.to_string(),
                "is already registered (the same hardware hash, product key or serial/manufacturer/model).",
            );
        }
        match d.status.as_deref().unwrap_or("registered") {
            "registered" => {}
            "otherTenant" => {
                let tenant: CustomerId = match &d.tenant {
                    Some(raw) => guid(raw, || format!("{path}.tenant"))?,
                    None => OTHER_TENANT.into(),
                };
                if tenant == customer {
                    return fail(
                        format!("{path}.tenant"),
                        "must differ from the customer (the device would be the customer's own).",
                    );
                }
                if d.id.is_some() || d.policy_id.is_some() || d.scheduled_policy.is_some() {
                    return fail(
                        path.to_string(),
                        "a device of another tenant has no `id`, `policyId` or `scheduledPolicy` here.",
                    );
                }
                return Ok(Planned::Foreign(Box::new(ForeignDevice {
                    batch: batch.clone(),
                    tenant,
                    identity,
                    text,
                })));
            }
            other => {
                return fail(
                    format!("{path}.status"),
                    format!("must be `registered` or `otherTenant`, got `{other}`."),
                );
            }
        }
        let known = |raw: &str, p: &str| -> Result<PolicyId, SeedError> {
            let id: PolicyId = guid(raw, || p.to_owned())?;
            if policies.contains(&id) {
                Ok(id)
            } else {
                fail(
                    p,
                    format!("names policy `{raw}`, which this customer does not have."),
                )
            }
        };
        let current = d
            .policy_id
            .as_deref()
            .map(|p| known(p, &format!("{path}.policyId")))
            .transpose()?;
        let scheduled = match &d.scheduled_policy {
            None => None,
            Some(s) => {
                let from = time_at(Some(&s.from), self.now, || {
                    format!("{path}.scheduledPolicy.from")
                })?;
                let policy = s
                    .policy_id
                    .as_deref()
                    .map(|p| known(p, &format!("{path}.scheduledPolicy.policyId")))
                    .transpose()?;
                Some((from, policy))
            }
        };
        let id = match &d.id {
            Some(raw) => guid(raw, || format!("{path}.id"))?,
            None => DeviceId::new(),
        };
        // The devices of one upload share both times: parse each distinct pair once.
        let raw = (d.uploaded_date.as_deref(), d.listed_from.as_deref());
        let (uploaded_at, listed_from) = match &self.last_times {
            Some((u, l, times)) if (u.as_deref(), l.as_deref()) == raw => *times,
            _ => {
                let uploaded_at = time_at(raw.0, self.now, || format!("{path}.uploadedDate"))?;
                let listed_from = time_at(raw.1, uploaded_at, || format!("{path}.listedFrom"))?;
                self.last_times = Some((
                    raw.0.map(str::to_owned),
                    raw.1.map(str::to_owned),
                    (uploaded_at, listed_from),
                ));
                (uploaded_at, listed_from)
            }
        };
        Ok(Planned::Registered(Box::new(PlannedDevice {
            id,
            identity,
            hashed: d.hardware_hash_digest.is_some() || hardware_hash.is_some(),
            text,
            group: Group {
                uploaded_at,
                listed_from,
            },
            assignment: Assignment::from_parts(current, scheduled),
        })))
    }
}

enum Planned {
    Registered(Box<PlannedDevice>),
    Foreign(Box<ForeignDevice>),
}

fn job(j: &JobDoc, path: &str) -> Result<Job, SeedError> {
    let entries = j
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let epath = format!("{path}.entries[{i}]");
            let outcome = match (&e.device_id, &e.error_code) {
                (Some(id), None) => Outcome::Succeeded(guid(id, || format!("{epath}.deviceId"))?),
                (None, Some(code)) => Outcome::Failed(DeviceError::from_code(code).map_or_else(
                    || {
                        fail(
                            format!("{epath}.errorCode"),
                            format!("`{code}` is not an error code the emulator reports."),
                        )
                    },
                    Ok,
                )?),
                _ => {
                    return fail(
                        &epath,
                        "needs exactly one of `deviceId` (succeeded) and `errorCode` (failed).",
                    );
                }
            };
            Ok(JobEntry {
                device_ref: e.device_ref.as_deref().map(Box::from),
                // Filled in when the job is applied, sharing the device's text where it can.
                text: DeviceText::default(),
                outcome,
            })
        })
        .collect::<Result<Vec<_>, SeedError>>()?;
    let t = |raw: &str, field: &str| {
        time_at(
            Some(raw),
            Timestamp::from_offset(time::OffsetDateTime::UNIX_EPOCH),
            || format!("{path}.{field}"),
        )
    };
    Ok(Job {
        id: guid(&j.id, || format!("{path}.id"))?,
        accepted_at: t(&j.accepted_at, "acceptedAt")?,
        started_at: t(&j.started_at, "startedAt")?,
        completed_at: t(&j.completed_at, "completedAt")?,
        entries,
    })
}

/// One registry's customers, checked against it and ready to apply.
type Plans<'d> = Vec<(CustomerPlan, &'d CustomerDoc)>;

/// Checks customers against one registry's state; nothing is changed.
fn plan<'d>(
    state: &State,
    customers: &'d [CustomerDoc],
    base: &str,
    now: Timestamp,
) -> Result<Plans<'d>, SeedError> {
    let mut planner = Planner {
        state,
        now,
        identities: IdSet::default(),
        customers: HashSet::new(),
        last_times: None,
    };
    customers
        .iter()
        .enumerate()
        .map(|(i, c)| Ok((planner.customer(c, &format!("{base}customers[{i}]"))?, c)))
        .collect()
}

/// Applies checked plans to the registry they were checked against.
fn apply(state: &mut State, plans: Plans<'_>, summary: &mut SeedSummary) {
    summary.customers += plans.len();
    for (plan, customer_doc) in plans {
        let State {
            customers,
            identities,
            ..
        } = &mut *state;
        let cust = customers.entry(plan.id).or_default();
        if let Some(relationship) = customer_doc.relationship {
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
        identities.reserve(incoming + plan.foreign.len());
        for (batch, records) in plan.batches {
            summary.devices += records.len();
            let slot = cust.batches.len() as u32;
            cust.batch_index.insert(batch.id.key().clone(), slot);
            cust.batches.push(batch);
            for r in records {
                identities.insert(r.identity, plan.id);
                let group = cust.add_group(r.group);
                cust.insert_device(DeviceRecord {
                    id: r.id,
                    identity: r.identity,
                    hashed: r.hashed,
                    text: r.text,
                    batch: slot,
                    group,
                    assignment: r.assignment,
                });
            }
        }
        summary.devices += plan.foreign.len();
        for f in plan.foreign {
            identities.insert(f.identity, f.tenant);
            cust.foreign.push(f);
        }
        for (j, jd) in plan.jobs.into_iter().zip(&customer_doc.jobs) {
            cust.jobs.insert(j.id, Arc::new(job_texts(cust, j, jd)));
        }
    }
}

impl Store {
    /// Adds a document's customers, policies, batches, devices and jobs, all or nothing: the
    /// top-level customers to this registry, each `partners` entry to that partner's.
    pub fn import(&self, doc: &Document, now: Timestamp) -> Result<SeedSummary, SeedError> {
        if let Some(v) = doc.version
            && v != VERSION
        {
            return fail(
                "version",
                format!("{v} is not supported; this emulator reads version {VERSION}."),
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
        let mut state = self.write();
        // The directory is the emulator's, not a partner's: it lives in the root registry.
        let identity = doc
            .identity
            .as_ref()
            .map(|i| super::identity::plan(&state.identity, i))
            .transpose()?;
        let own = plan(&state, &doc.customers, "", now)?;
        let stores: Vec<Arc<Store>> = partners
            .iter()
            .filter(|(_, _, p)| !p.customers.is_empty())
            .map(|(t, _, _)| self.partner(*t))
            .collect();
        let mut guards: Vec<_> = stores.iter().map(|s| s.write()).collect();
        let mut theirs = Vec::with_capacity(guards.len());
        for ((_, i, p), guard) in partners
            .iter()
            .filter(|(_, _, p)| !p.customers.is_empty())
            .zip(&guards)
        {
            theirs.push(plan(guard, &p.customers, &format!("partners[{i}]."), now)?);
        }
        let mut summary = SeedSummary::default();
        apply(&mut state, own, &mut summary);
        for (guard, plans) in guards.iter_mut().zip(theirs) {
            apply(guard, plans, &mut summary);
        }
        if let Some(identity) = identity {
            state.identity.apply(identity);
        }
        Ok(summary)
    }

    /// The whole registry as a document (`version` set), in a stable order, with every partner
    /// tenant that has data.
    pub fn export(&self, clock: Option<ClockDoc>) -> Document {
        let partners = self
            .partners
            .all()
            .into_iter()
            .filter_map(|(tenant, store)| {
                let customers = store.customer_docs();
                (!customers.is_empty()).then(|| PartnerDoc {
                    tenant_id: tenant.to_string(),
                    customers,
                })
            })
            .collect();
        Document {
            version: Some(VERSION),
            clock,
            customers: self.customer_docs(),
            partners,
            identity: self.state().identity.export(),
        }
    }

    /// This registry's customers as document entries, in customer order.
    fn customer_docs(&self) -> Vec<CustomerDoc> {
        // Copy under the lock (records share their text, so this is mostly memcpy), and build the
        // document after releasing it: writing a million devices must not stall every request.
        let mut snapshot: Vec<(CustomerId, Customer)> = {
            let state = self.state();
            state
                .customers
                .iter()
                .map(|(id, c)| (*id, c.clone()))
                .collect()
        };
        snapshot.sort_by_key(|(id, _)| *id);
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

fn policy_doc(p: &Policy) -> PolicyDoc {
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
    let (current, scheduled) = d.assignment.parts();
    let group = c.group(d);
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
    let derived = DeviceSubmission {
        hardware_hash: None,
        product_key: owned(f.text.product_key()),
        serial_number: owned(f.text.serial_number()),
        oem_manufacturer_name: owned(f.text.oem_manufacturer_name()),
        model_name: owned(f.text.model_name()),
    }
    .identity();
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

/// Gives a job's lines their text: a registered device's own (shared, as after an upload) when
/// it still matches, else the line's.
fn job_texts(c: &Customer, mut job: Job, doc: &JobDoc) -> Job {
    for (e, d) in job.entries.iter_mut().zip(&doc.entries) {
        let (serial, key) = (d.serial_number.as_deref(), d.product_key.as_deref());
        e.text = match e.outcome {
            Outcome::Succeeded(id) => c
                .device_by_id(id)
                .map(|(_, device)| &device.text)
                .filter(|t| t.serial_number() == serial && t.product_key() == key)
                .cloned(),
            Outcome::Failed(_) => None,
        }
        .unwrap_or_else(|| DeviceText::new([serial, key, None, None]));
    }
    job
}

fn job_doc(j: &Job) -> JobDoc {
    JobDoc {
        id: j.id.to_string(),
        accepted_at: j.accepted_at.rfc3339(),
        started_at: j.started_at.rfc3339(),
        completed_at: j.completed_at.rfc3339(),
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
    use super::super::tests::*;
    use super::*;

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
        let hashed = DeviceSubmission {
            hardware_hash: Some(HardwareHash::of("AAEC")),
            ..Default::default()
        };
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
            ..Document::default()
        };
        store.import(&doc, t0()).unwrap();

        let exported = store.export(None);
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
