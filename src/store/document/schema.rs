//! The seed and state document's schema: what `--seed`, `--state-file`, `POST /_emulator/seed`
//! and `GET /_emulator/state` read and write. Shapes only; the rules are applied on import.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The document version this emulator writes. It reads every version up to it: version 2 added
/// `log` (the state file's append-only log that continues a snapshot), otherwise version 1.
pub const VERSION: u32 = 2;

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
    /// In a state file: the id of the log (`<state-file>.log`) that continues this snapshot.
    /// Seeding ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    pub customers: Vec<CustomerDoc>,
    /// Partner tenants' own data (`--auth jwt`), in tenant order; absent when there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partners: Vec<PartnerDoc>,
    /// The mock Entra ID's tenants, apps and users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<crate::store::IdentityDoc>,
    /// Devices OEMs registered with Autopilot; absent when there is none (uploads then take
    /// every tuple).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oem_devices: Vec<OemDeviceDoc>,
}

/// A device an OEM registered with Autopilot: a tuple upload of it succeeds once any is seeded,
/// and `aadRegistered` makes any upload of it fail with 814.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OemDeviceDoc {
    pub serial_number: String,
    pub oem_manufacturer_name: String,
    pub model_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_hash: Option<String>,
    /// 32 hex digits; exports carry this instead of the hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_hash_digest: Option<String>,
    /// `true`: the device is already registered in Entra ID (uploads of it fail with 814).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_registered: Option<bool>,
}

/// One partner tenant's world: customers in the same schema as the top-level ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartnerDoc {
    pub tenant_id: String,
    #[serde(default)]
    pub customers: Vec<CustomerDoc>,
    /// This partner's world's OEM registry, as the top-level `oemDevices`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oem_devices: Vec<OemDeviceDoc>,
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
    /// The batch an upload job uploads into (absent for policy updates); it gives the batch's
    /// `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
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
