//! Identifier newtypes, so that a customer id, a batch id and a tracking id cannot be mixed up.

use std::fmt;

use uuid::Uuid;

/// Tenant id of a customer: a GUID in every Partner Center path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomerId(Uuid);

impl CustomerId {
    /// Parses the path segment; `None` when it is not a GUID.
    pub fn parse(raw: &str) -> Option<Self> {
        // .NET's Guid.Parse accepts the hyphenated, braced and bare-hex forms; so does `Uuid`.
        Uuid::parse_str(raw.trim()).ok().map(Self)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for CustomerId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Name of a device batch, chosen by the partner. It keeps its original case for display and is
/// compared case-insensitively (PowerShell and CIPP look batches up ignoring case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BatchId {
    name: String,
    key: BatchKey,
}

/// The case-folded form of a [`BatchId`] used for lookups.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BatchKey(pub String);

impl BatchKey {
    pub fn of(name: &str) -> Self {
        Self(name.to_lowercase())
    }
}

/// Longest batch id accepted on creation.
// EMULATOR: Partner Center documents no limit; 256 characters keeps paths and logs sane.
pub const MAX_BATCH_ID_CHARS: usize = 256;

impl BatchId {
    /// Validates a batch id given in a creation request.
    pub fn parse(name: &str) -> Result<Self, String> {
        if name.trim().is_empty() {
            return Err("must be a non-empty string".into());
        }
        let chars = name.chars().count();
        if chars > MAX_BATCH_ID_CHARS {
            return Err(format!(
                "must be at most {MAX_BATCH_ID_CHARS} characters (got {chars})"
            ));
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        // HTTP clients resolve `.` and `..` path segments away, so such a batch could never be
        // addressed again.
        if name == "." || name == ".." {
            return Err("cannot be `.` or `..` (clients drop such path segments)".into());
        }
        Ok(Self {
            key: BatchKey::of(name),
            name: name.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    pub fn key(&self) -> &BatchKey {
        &self.key
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A random (version 4) GUID from a fast thread-local generator rather than one system call per
/// id: ids only need to be unique, and an upload of 100,000 devices mints 100,000 of them.
pub fn random_guid() -> Uuid {
    let mut bytes = [0u8; 16];
    fastrand::fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

macro_rules! guid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(random_guid())
            }

            /// Parses a GUID; `None` for anything else (an unknown id, for the caller).
            pub fn parse(raw: &str) -> Option<Self> {
                Uuid::parse_str(raw.trim()).ok().map(Self)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

guid_id!(
    /// Tracking id of an asynchronous job, the last segment of the `Location` header.
    TrackingId
);
guid_id!(
    /// Server-assigned id of a registered device.
    DeviceId
);
guid_id!(
    /// Server-assigned id of a configuration (Autopilot) policy.
    PolicyId
);
guid_id!(
    /// Entra ID tenant of the signed-in partner (a token's `tid`): whose world a request sees.
    TenantId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_ids_accept_the_guid_forms_dotnet_accepts() {
        let id = "c7f3c849-129f-4b85-a96d-4f8e88b315a3";
        assert_eq!(CustomerId::parse(id).unwrap().to_string(), id);
        assert_eq!(
            CustomerId::parse("C7F3C849-129F-4B85-A96D-4F8E88B315A3")
                .unwrap()
                .to_string(),
            id
        );
        assert!(CustomerId::parse("{c7f3c849-129f-4b85-a96d-4f8e88b315a3}").is_some());
        assert!(CustomerId::parse("not-a-guid").is_none());
        assert!(CustomerId::parse("").is_none());
    }

    #[test]
    fn minted_guids_are_version_4_and_distinct() {
        let (a, b) = (random_guid(), random_guid());
        assert_eq!(a.get_version_num(), 4);
        assert_ne!(a, b);
    }

    #[test]
    fn batch_ids_keep_their_case_and_compare_without_it() {
        let a = BatchId::parse("Test Batch").unwrap();
        let b = BatchId::parse("test batch").unwrap();
        assert_eq!(a.as_str(), "Test Batch");
        assert_eq!(a.key(), b.key());
    }

    #[test]
    fn batch_ids_reject_blank_long_and_control_characters() {
        assert!(BatchId::parse("").is_err());
        assert!(BatchId::parse("   ").is_err());
        assert!(BatchId::parse(&"x".repeat(MAX_BATCH_ID_CHARS)).is_ok());
        assert!(BatchId::parse(&"x".repeat(MAX_BATCH_ID_CHARS + 1)).is_err());
        assert!(BatchId::parse("a\u{0}b").is_err());
        assert!(BatchId::parse("..").is_err());
        assert!(BatchId::parse("...").is_ok());
    }
}
