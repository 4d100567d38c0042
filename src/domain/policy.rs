//! Configuration (Autopilot) policies: category and settings enums with their wire strings, and
//! the rules for creating and updating a policy.

use super::ids::PolicyId;
use super::timestamp::Timestamp;

/// Longest policy name accepted, in characters.
// EMULATOR: Partner Center documents no limits; these bound what a client can make the emulator
// hold (2,000 policies with 1 MB names once took 4 GiB).
pub const MAX_NAME_CHARS: usize = 256;
/// Longest policy description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// Why a policy's name or description is refused, if it is: (field, problem).
pub fn check_text(name: &str, description: Option<&str>) -> Result<(), (&'static str, String)> {
    let too_long = |field: &'static str, chars: usize, max: usize| {
        (
            field,
            format!("must be at most {max} characters (got {chars})."),
        )
    };
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(too_long("name", chars, MAX_NAME_CHARS));
    }
    if let Some(d) = description {
        let chars = d.chars().count();
        if chars > MAX_DESCRIPTION_CHARS {
            return Err(too_long("description", chars, MAX_DESCRIPTION_CHARS));
        }
    }
    Ok(())
}

/// `PolicyCategory`: the key of a device's `policies[]` entry and a policy's `category`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyCategory {
    None,
    Oobe,
}

impl PolicyCategory {
    pub const ACCEPTED: [&'static str; 2] = ["none", "o_o_b_e"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Oobe => "o_o_b_e",
        }
    }

    /// Reads the wire string, ignoring case.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "none" => Some(Self::None),
            "o_o_b_e" => Some(Self::Oobe),
            _ => None,
        }
    }
}

/// `PolicySettingsType`, serialized as an array of strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicySetting {
    None,
    RemoveOemPreinstalls,
    OobeUserNotLocalAdmin,
    SkipExpressSettings,
    SkipOemRegistration,
    SkipEula,
}

impl PolicySetting {
    pub const ALL: [Self; 6] = [
        Self::None,
        Self::RemoveOemPreinstalls,
        Self::OobeUserNotLocalAdmin,
        Self::SkipExpressSettings,
        Self::SkipOemRegistration,
        Self::SkipEula,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::RemoveOemPreinstalls => "remove_oem_preinstalls",
            Self::OobeUserNotLocalAdmin => "oobe_user_not_local_admin",
            Self::SkipExpressSettings => "skip_express_settings",
            Self::SkipOemRegistration => "skip_oem_registration",
            Self::SkipEula => "skip_eula",
        }
    }

    /// Reads the wire string, ignoring case.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw))
    }

    /// The accepted strings, for error messages.
    pub fn accepted() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

/// The fields a partner sets on a policy (create and update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFields {
    pub name: String,
    pub description: Option<String>,
    /// In the order given, each setting once.
    pub settings: Vec<PolicySetting>,
}

/// A stored configuration policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub id: PolicyId,
    pub category: PolicyCategory,
    pub fields: PolicyFields,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

impl Policy {
    pub fn new(category: PolicyCategory, fields: PolicyFields, now: Timestamp) -> Self {
        Self {
            id: PolicyId::new(),
            category,
            fields,
            created_at: now,
            modified_at: now,
        }
    }

    /// Applies an update: `id`, `category`, the counts and `createdDate` never change.
    pub fn update(&mut self, fields: PolicyFields, now: Timestamp) {
        self.fields = fields;
        self.modified_at = now;
    }
}

/// Removes repeated settings, keeping the first occurrence.
pub fn dedup_settings(settings: Vec<PolicySetting>) -> Vec<PolicySetting> {
    let mut out: Vec<PolicySetting> = Vec::with_capacity(settings.len());
    for s in settings {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_read_their_wire_strings_in_any_case() {
        assert_eq!(PolicyCategory::parse("O_O_B_E"), Some(PolicyCategory::Oobe));
        assert_eq!(PolicyCategory::parse("oobe"), None);
        assert_eq!(
            PolicySetting::parse("skip_eula"),
            Some(PolicySetting::SkipEula)
        );
        assert_eq!(PolicySetting::parse("SkipEula"), None);
        for s in PolicySetting::ALL {
            assert_eq!(PolicySetting::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn an_update_moves_only_the_modification_time() {
        let t0 = Timestamp::parse_rfc3339("2026-11-21T10:00:00Z").unwrap();
        let t1 = Timestamp::parse_rfc3339("2026-11-21T11:00:00Z").unwrap();
        let fields = PolicyFields {
            name: "A".into(),
            description: None,
            settings: vec![PolicySetting::SkipEula],
        };
        let mut p = Policy::new(PolicyCategory::Oobe, fields.clone(), t0);
        let id = p.id;
        p.update(
            PolicyFields {
                name: "B".into(),
                ..fields
            },
            t1,
        );
        assert_eq!(
            (p.id, p.created_at, p.modified_at, p.fields.name.as_str()),
            (id, t0, t1, "B")
        );
    }

    #[test]
    fn repeated_settings_are_kept_once() {
        use PolicySetting::*;
        assert_eq!(
            dedup_settings(vec![SkipEula, None, SkipEula]),
            vec![SkipEula, None]
        );
    }
}

/// A device's profile assignment over time: the one in force, and one scheduled by a
/// policy-update job that takes effect when that job completes. Reading it at a time gives the
/// assignment then, so nothing has to run when a job finishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    current: Option<PolicyId>,
    // Boxed: most devices never have a pending change, and every registered device carries one.
    scheduled: Option<Box<(Timestamp, Option<PolicyId>)>>,
}

impl Assignment {
    /// The policy assigned at `now`.
    pub fn at(&self, now: Timestamp) -> Option<PolicyId> {
        match self.scheduled.as_deref() {
            Some(&(from, policy)) if from <= now => policy,
            _ => self.current,
        }
    }

    /// Folds a scheduled change that has taken effect into the current one.
    fn settle(&mut self, now: Timestamp) {
        if let Some(&(from, policy)) = self.scheduled.as_deref()
            && from <= now
        {
            self.current = policy;
            self.scheduled = None;
        }
    }

    /// Schedules `policy` (or none) to take effect at `from`; a later change replaces an earlier
    /// pending one.
    pub fn schedule(&mut self, policy: Option<PolicyId>, from: Timestamp, now: Timestamp) {
        self.settle(now);
        self.scheduled = Some(Box::new((from, policy)));
    }

    /// Assigns `policy` (or none) at once, replacing anything pending.
    pub fn set(&mut self, policy: Option<PolicyId>) {
        self.current = policy;
        self.scheduled = None;
    }

    /// The assignment as a (current, scheduled) pair, for export.
    pub fn parts(&self) -> (Option<PolicyId>, Option<(Timestamp, Option<PolicyId>)>) {
        (self.current, self.scheduled.as_deref().copied())
    }

    pub fn from_parts(
        current: Option<PolicyId>,
        scheduled: Option<(Timestamp, Option<PolicyId>)>,
    ) -> Self {
        Self {
            current,
            scheduled: scheduled.map(Box::new),
        }
    }
}

#[cfg(test)]
mod assignment_tests {
    use super::*;

    #[test]
    fn a_scheduled_assignment_takes_effect_at_its_time() {
        let t = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
        let (p1, p2) = (PolicyId::new(), PolicyId::new());
        let mut a = Assignment::from_parts(Some(p1), None);
        a.schedule(
            Some(p2),
            t("2026-11-21T10:00:03Z"),
            t("2026-11-21T10:00:00Z"),
        );
        assert_eq!(a.at(t("2026-11-21T10:00:02Z")), Some(p1));
        assert_eq!(a.at(t("2026-11-21T10:00:03Z")), Some(p2));
        a.schedule(None, t("2026-11-21T10:00:09Z"), t("2026-11-21T10:00:05Z"));
        assert_eq!(a.at(t("2026-11-21T10:00:06Z")), Some(p2));
        assert_eq!(a.at(t("2026-11-21T10:00:09Z")), None);
        a.set(Some(p1));
        assert_eq!(a.at(t("2026-11-21T10:00:10Z")), Some(p1));
    }
}

impl Assignment {
    /// Drops every reference to a deleted policy, in force or scheduled.
    pub fn forget(&mut self, policy: PolicyId, now: Timestamp) {
        self.settle(now);
        if self.current == Some(policy) {
            self.current = None;
        }
        if let Some(pending) = self.scheduled.as_deref_mut()
            && pending.1 == Some(policy)
        {
            pending.1 = None;
        }
    }
}
