//! The rules for each entry of a document (a policy, a device, a job), checked one at a time
//! by the [`Planner`] with paths that name the entry.

use std::collections::HashSet;

use uuid::Uuid;

use super::SeedError;
use super::import::{At, Planner};
use super::schema::{DeviceDoc, JobDoc, OTHER_TENANT, PolicyDoc};
use crate::domain::device::{
    DeviceField, DeviceProblem, DeviceSubmission, DeviceText, HardwareHash, Identity, RawDevice,
    TextFields,
};
use crate::domain::ids::{BatchId, BatchKey, CustomerId, DeviceId, PolicyId};
use crate::domain::job::{DeviceError, Job, JobEntry, Outcome};
use crate::domain::policy::{
    Assignment, Policy, PolicyCategory, PolicyFields, PolicySetting, dedup_settings,
};
use crate::domain::timestamp::Timestamp;
use crate::store::{ForeignDevice, Group};

pub(super) fn fail<T>(path: impl Into<String>, problem: impl Into<String>) -> Result<T, SeedError> {
    Err(SeedError {
        path: path.into(),
        problem: problem.into(),
    })
}

pub(super) fn time_at(
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

pub(super) fn guid<T: From<Uuid>>(
    raw: &str,
    path: impl FnOnce() -> String,
) -> Result<T, SeedError> {
    Uuid::parse_str(raw.trim())
        .map(T::from)
        .or_else(|_| fail(path(), format!("must be a GUID, got `{raw}`.")))
}

pub(super) fn digest(raw: &str, path: impl FnOnce() -> String) -> Result<Identity, SeedError> {
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
pub(super) struct PlannedDevice {
    pub(super) id: DeviceId,
    pub(super) identity: Identity,
    pub(super) hashed: bool,
    pub(super) text: DeviceText,
    pub(super) group: Group,
    pub(super) assignment: Assignment,
}

impl Planner<'_> {
    pub(super) fn policy(&self, p: &PolicyDoc, path: &str) -> Result<Policy, SeedError> {
        let id = match &p.id {
            Some(raw) => guid(raw, || format!("{path}.id"))?,
            None => PolicyId::new(),
        };
        if let Err((field, problem)) =
            crate::domain::policy::check_text(&p.name, p.description.as_deref())
        {
            return fail(format!("{path}.{field}"), problem);
        }
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

    pub(super) fn device(
        &mut self,
        customer: CustomerId,
        d: &DeviceDoc,
        path: &At<'_>,
        batch: &BatchKey,
        policies: &HashSet<PolicyId>,
    ) -> Result<Planned, SeedError> {
        let hardware_hash = match (&d.hardware_hash_digest, d.hardware_hash.as_deref()) {
            (Some(_), Some(hash)) if !hash.trim().is_empty() => {
                return fail(
                    path.to_string(),
                    "give `hardwareHash` or `hardwareHashDigest`, not both.",
                );
            }
            (Some(raw), _) => Some(HardwareHash::from_digest(digest(raw, || {
                format!("{path}.hardwareHashDigest")
            })?)),
            (None, hash) => hash.and_then(HardwareHash::parse),
        };
        let submission = DeviceSubmission::parse(RawDevice {
            hardware_hash,
            product_key: d.product_key.as_deref(),
            serial_number: d.serial_number.as_deref(),
            oem_manufacturer_name: d.oem_manufacturer_name.as_deref(),
            model_name: d.model_name.as_deref(),
        })
        .and_then(|s| s.registrable_identity().map(|identity| (s, identity)))
        .or_else(|problem| fail(device_path(path, &problem), problem.to_string()))?;
        let (submission, identity) = submission;
        let text = submission.text();
        if self
            .state
            .is_some_and(|s| s.identities().contains(&identity))
            || !self.identities.insert(identity)
        {
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
            hashed: submission.hardware_hash().is_some(),
            text,
            group: Group {
                uploaded_at,
                listed_from,
            },
            assignment: Assignment::from_parts(current, scheduled),
        })))
    }
}

/// Where a device's problem is: the field that is too long, else the device.
pub(super) fn device_path(device: &impl std::fmt::Display, problem: &DeviceProblem) -> String {
    match problem {
        DeviceProblem::TooLong { field, .. } => format!("{device}.{field}"),
        DeviceProblem::NoIdentifiers => device.to_string(),
    }
}

pub(super) enum Planned {
    Registered(Box<PlannedDevice>),
    Foreign(Box<ForeignDevice>),
}

pub(super) fn job(j: &JobDoc, path: &str) -> Result<Job, SeedError> {
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
            let field = |name, value: &Option<String>| {
                DeviceField::parse(name, value.as_deref())
                    .or_else(|problem| fail(device_path(&epath, &problem), problem.to_string()))
            };
            let text = TextFields {
                serial_number: field("serialNumber", &e.serial_number)?,
                product_key: field("productKey", &e.product_key)?,
                ..TextFields::default()
            };
            Ok(JobEntry {
                device_ref: e.device_ref.as_deref().map(Box::from),
                // Replaced when the job is applied by the device's own, shared, where it matches.
                text: DeviceText::new(&text),
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
        batch: j
            .batch_id
            .as_deref()
            .map(|raw| {
                BatchId::parse(raw).or_else(|p| fail(format!("{path}.batchId"), format!("{p}.")))
            })
            .transpose()?,
    })
}
