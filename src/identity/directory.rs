//! Who may sign in: the declared tenants, apps and users of the seed's `identity` section, and
//! the deterministic names the permissive mode gives everyone else.

use uuid::Uuid;
use xxhash_rust::xxh3::xxh3_128;

/// The tenant `common` and `organizations` resolve to when nothing names another one.
pub const DEFAULT_TENANT: Uuid = Uuid::from_u128(0x6d1a_3c9e_2b4f_4c71_9a08_5e3d_7f21_c0de);
/// The domain of [`DEFAULT_TENANT`].
pub const DEFAULT_DOMAIN: &str = "emulator.onmicrosoft.com";

/// A declared tenant: its id and the domain names that also name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: Uuid,
    pub domains: Vec<String>,
}

/// A declared app registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub client_id: String,
    pub secrets: Vec<String>,
    pub tenant: Uuid,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
}

/// A declared user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub upn: String,
    pub password: Option<String>,
    pub tenant: Uuid,
    pub display_name: Option<String>,
    pub refresh_token: Option<String>,
}

/// Every declared identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    pub tenants: Vec<Tenant>,
    pub apps: Vec<App>,
    pub users: Vec<User>,
}

/// What the `{tenant}` path segment names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantPath {
    /// A tenant id (declared or not).
    Id(Uuid),
    /// `common`, `organizations` or `consumers`: the signed-in identity decides.
    Multi,
}

/// A GUID derived from `kind` and `name`, the same on every run: the permissive mode names
/// undeclared tenants, users and apps with these, so a user keeps its oid across tokens.
pub fn derived_guid(kind: &str, name: &str) -> Uuid {
    let mut input = Vec::with_capacity(kind.len() + name.len() + 1);
    input.extend_from_slice(kind.as_bytes());
    input.push(0);
    input.extend_from_slice(name.as_bytes());
    // Version 4 and variant bits set so that strict GUID parsers accept it.
    uuid::Builder::from_random_bytes(xxh3_128(&input).to_be_bytes()).into_uuid()
}

impl Directory {
    pub fn tenant(&self, id: Uuid) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.id == id)
    }

    pub fn tenant_by_domain(&self, domain: &str) -> Option<&Tenant> {
        self.tenants
            .iter()
            .find(|t| t.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)))
    }

    pub fn app(&self, client_id: &str) -> Option<&App> {
        self.apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    pub fn user(&self, upn: &str) -> Option<&User> {
        self.users.iter().find(|u| u.upn.eq_ignore_ascii_case(upn))
    }

    pub fn user_by_refresh_token(&self, token: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.refresh_token.as_deref() == Some(token))
    }

    /// Reads the `{tenant}` segment. `None`: the segment names no tenant this directory knows
    /// and `strict` is on (AADSTS90002).
    pub fn resolve_path(&self, segment: &str, strict: bool) -> Option<TenantPath> {
        let lower = segment.to_ascii_lowercase();
        if matches!(lower.as_str(), "common" | "organizations" | "consumers") {
            return Some(TenantPath::Multi);
        }
        if let Ok(id) = Uuid::parse_str(segment) {
            return (!strict || self.tenant(id).is_some() || id == DEFAULT_TENANT)
                .then_some(TenantPath::Id(id));
        }
        if let Some(t) = self.tenant_by_domain(&lower) {
            return Some(TenantPath::Id(t.id));
        }
        if lower == DEFAULT_DOMAIN {
            return Some(TenantPath::Id(DEFAULT_TENANT));
        }
        (!strict).then(|| TenantPath::Id(derived_guid("tenant", &lower)))
    }

    /// The tenant a multi-tenant path resolves to for a user: the user's declared tenant, the
    /// declared tenant of the upn's domain, else the default tenant.
    pub fn home_of_user(&self, upn: &str) -> Uuid {
        if let Some(u) = self.user(upn) {
            return u.tenant;
        }
        upn.rsplit_once('@')
            .and_then(|(_, domain)| self.tenant_by_domain(domain))
            .map_or(DEFAULT_TENANT, |t| t.id)
    }

    /// The tenant a multi-tenant path resolves to for an app-only sign-in.
    pub fn home_of_app(&self, client_id: &str) -> Uuid {
        self.app(client_id).map_or(DEFAULT_TENANT, |a| a.tenant)
    }

    /// A domain name of a tenant, for the user names the emulator makes up.
    pub fn domain_of(&self, tenant: Uuid) -> String {
        if tenant == DEFAULT_TENANT {
            return DEFAULT_DOMAIN.to_owned();
        }
        self.tenant(tenant)
            .and_then(|t| t.domains.first().cloned())
            .unwrap_or_else(|| format!("{}.onmicrosoft.com", &tenant.simple().to_string()[..8]))
    }

    /// Who signs in when a flow names no user (device code, authorize without `login_hint`):
    /// the tenant's first declared user, else `admin@<its domain>`.
    pub fn default_user(&self, tenant: Uuid) -> String {
        self.default_user_in(tenant, "")
    }

    /// [`Directory::default_user`], where the path named the tenant by `segment`: an undeclared
    /// tenant named by a domain makes its user up in that domain (`admin@contoso.com`).
    pub fn default_user_in(&self, tenant: Uuid, segment: &str) -> String {
        if let Some(u) = self.users.iter().find(|u| u.tenant == tenant) {
            return u.upn.clone();
        }
        let named_by_domain = segment.contains('.') && Uuid::parse_str(segment).is_err();
        if named_by_domain && self.tenant(tenant).is_none() && tenant != DEFAULT_TENANT {
            return format!("admin@{}", segment.to_ascii_lowercase());
        }
        format!("admin@{}", self.domain_of(tenant))
    }
}

/// A user's object id: declared users and made-up ones alike, from tenant and upn.
pub fn user_oid(tenant: Uuid, upn: &str) -> Uuid {
    derived_guid("user", &format!("{tenant}/{}", upn.to_ascii_lowercase()))
}

/// The object id of an app's service principal in a tenant.
pub fn app_oid(tenant: Uuid, client_id: &str) -> Uuid {
    derived_guid(
        "app",
        &format!("{tenant}/{}", client_id.to_ascii_lowercase()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory() -> Directory {
        Directory {
            tenants: vec![Tenant {
                id: Uuid::from_u128(7),
                domains: vec!["contoso.onmicrosoft.com".into(), "contoso.com".into()],
            }],
            apps: vec![],
            users: vec![User {
                upn: "Alice@contoso.com".into(),
                password: Some("pw".into()),
                tenant: Uuid::from_u128(7),
                display_name: None,
                refresh_token: None,
            }],
        }
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        assert_eq!(
            derived_guid("tenant", "a.com"),
            derived_guid("tenant", "a.com")
        );
        assert_ne!(
            derived_guid("tenant", "a.com"),
            derived_guid("user", "a.com")
        );
        assert_eq!(derived_guid("tenant", "a.com").get_version_num(), 4);
        let t = Uuid::from_u128(1);
        assert_eq!(user_oid(t, "Bob@x.com"), user_oid(t, "bob@x.com"));
        assert_ne!(
            user_oid(t, "bob@x.com"),
            user_oid(Uuid::from_u128(2), "bob@x.com")
        );
    }

    #[test]
    fn tenant_segments_resolve_by_id_domain_or_derivation() {
        let d = directory();
        assert_eq!(d.resolve_path("common", true), Some(TenantPath::Multi));
        assert_eq!(
            d.resolve_path("Organizations", false),
            Some(TenantPath::Multi)
        );
        assert_eq!(
            d.resolve_path("CONTOSO.com", true),
            Some(TenantPath::Id(Uuid::from_u128(7)))
        );
        assert_eq!(d.resolve_path("fabrikam.com", true), None);
        assert_eq!(
            d.resolve_path("fabrikam.com", false),
            Some(TenantPath::Id(derived_guid("tenant", "fabrikam.com")))
        );
        let other = Uuid::from_u128(9).to_string();
        assert_eq!(d.resolve_path(&other, true), None);
        assert_eq!(
            d.resolve_path(&other, false),
            Some(TenantPath::Id(Uuid::from_u128(9)))
        );
    }

    #[test]
    fn users_find_their_home_tenant() {
        let d = directory();
        assert_eq!(d.home_of_user("alice@contoso.com"), Uuid::from_u128(7));
        assert_eq!(
            d.home_of_user("carol@contoso.onmicrosoft.com"),
            Uuid::from_u128(7)
        );
        assert_eq!(d.home_of_user("dave@elsewhere.com"), DEFAULT_TENANT);
        assert_eq!(d.default_user(Uuid::from_u128(7)), "Alice@contoso.com");
        assert_eq!(
            d.default_user(DEFAULT_TENANT),
            "admin@emulator.onmicrosoft.com"
        );
        let fabrikam = derived_guid("tenant", "fabrikam.com");
        assert_eq!(
            d.default_user_in(fabrikam, "Fabrikam.com"),
            "admin@fabrikam.com"
        );
        assert_eq!(
            d.default_user_in(Uuid::from_u128(7), "contoso.com"),
            "Alice@contoso.com"
        );
    }
}
