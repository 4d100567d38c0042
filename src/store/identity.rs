//! The mock Entra ID's state: the declared directory (the seed's `identity` section) and the
//! authorization codes, device codes and refresh tokens the emulator has issued. Bounded, kept
//! with the registry (so a reset clears them), never persisted.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Store;
use super::document::SeedError;
use crate::domain::timestamp::Timestamp;
use crate::identity::directory::{App, Directory, Tenant, User};

/// How many of each kind of grant are remembered; the oldest are forgotten first.
// EMULATOR: Entra keeps refresh tokens for 90 days; the emulator keeps the last 10,000 of each
// kind, in memory only (a reset or restart forgets them).
pub const GRANT_LIMIT: usize = 10_000;

/// The seed's `identity` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityDoc {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<TenantDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<AppDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserDoc>,
}

impl IdentityDoc {
    fn is_empty(&self) -> bool {
        self.tenants.is_empty() && self.apps.is_empty() && self.users.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantDoc {
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppDoc {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// A declared tenant's id or one of its domains.
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// App roles its app-only tokens carry (`roles`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserDoc {
    pub upn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A declared tenant's id or one of its domains.
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// A refresh token that signs this user in (as if issued earlier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Who a grant signs in: a user of an app in a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGrant {
    pub tenant: Uuid,
    pub client_id: String,
    pub upn: String,
    /// The scopes first asked for, in v2 syntax (a v1 `resource` as `{resource}/.default`); a
    /// refresh that names none reuses them, on either endpoint.
    pub scope: String,
}

/// An authorization code, as `authorize` issued it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    pub grant: UserGrant,
    pub redirect_uri: String,
    /// `(method, challenge)` when the authorization request had PKCE.
    pub pkce: Option<(String, String)>,
    pub nonce: Option<String>,
    pub expires_at: Timestamp,
    pub redeemed: bool,
}

/// A device code and its sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCode {
    pub grant: UserGrant,
    pub approved_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Insertion-ordered map that forgets its oldest entries past [`GRANT_LIMIT`].
#[derive(Debug)]
struct Bounded<V> {
    map: HashMap<String, V>,
    order: VecDeque<String>,
}

impl<V> Default for Bounded<V> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<V> Bounded<V> {
    fn insert(&mut self, key: String, value: V) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > GRANT_LIMIT {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

/// The identity part of the store's state.
#[derive(Debug, Default)]
pub(super) struct IdentityState {
    doc: IdentityDoc,
    directory: Arc<Directory>,
    codes: Bounded<AuthCode>,
    devices: Bounded<DeviceCode>,
    refresh: Bounded<UserGrant>,
}

fn fail<T>(path: String, problem: impl Into<String>) -> Result<T, SeedError> {
    Err(SeedError {
        path,
        problem: problem.into(),
    })
}

/// Checks an `identity` section against what is already declared and returns the directory
/// with it added; nothing is changed.
pub(super) fn plan(
    current: &IdentityState,
    doc: &IdentityDoc,
) -> Result<(IdentityDoc, Directory), SeedError> {
    let mut dir = (*current.directory).clone();
    for (i, t) in doc.tenants.iter().enumerate() {
        let at = format!("identity.tenants[{i}]");
        let Ok(id) = Uuid::parse_str(t.id.trim()) else {
            return fail(
                format!("{at}.id"),
                format!("must be a GUID, got `{}`.", t.id),
            );
        };
        if dir.tenant(id).is_some() {
            return fail(at, format!("tenant `{id}` is declared more than once."));
        }
        for (j, d) in t.domains.iter().enumerate() {
            if d.trim().is_empty() || d.contains(['/', '@', ' ']) {
                return fail(
                    format!("{at}.domains[{j}]"),
                    format!("`{d}` is not a domain name."),
                );
            }
            if dir.tenant_by_domain(d).is_some()
                || t.domains[..j].iter().any(|e| e.eq_ignore_ascii_case(d))
            {
                return fail(
                    format!("{at}.domains[{j}]"),
                    format!("domain `{d}` names another tenant already."),
                );
            }
        }
        dir.tenants.push(Tenant {
            id,
            domains: t.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
        });
    }
    let tenant_of = |dir: &Directory, raw: &str, at: String| -> Result<Uuid, SeedError> {
        Uuid::parse_str(raw.trim())
            .ok()
            .and_then(|id| dir.tenant(id))
            .or_else(|| dir.tenant_by_domain(raw.trim()))
            .map(|t| t.id)
            .map_or_else(
                || {
                    fail(
                        at,
                        format!(
                            "`{raw}` is not a declared tenant (id or domain) of `identity.tenants`."
                        ),
                    )
                },
                Ok,
            )
    };
    for (i, a) in doc.apps.iter().enumerate() {
        let at = format!("identity.apps[{i}]");
        if a.client_id.trim().is_empty() {
            return fail(format!("{at}.clientId"), "must not be empty.");
        }
        if dir.app(&a.client_id).is_some() {
            return fail(
                at,
                format!("app `{}` is declared more than once.", a.client_id),
            );
        }
        let tenant = tenant_of(&dir, &a.tenant, format!("{at}.tenant"))?;
        dir.apps.push(App {
            client_id: a.client_id.trim().to_owned(),
            secrets: a.secrets.clone(),
            tenant,
            display_name: a.display_name.clone(),
            roles: a.roles.clone(),
        });
    }
    for (i, u) in doc.users.iter().enumerate() {
        let at = format!("identity.users[{i}]");
        if !u.upn.contains('@') || u.upn.trim() != u.upn {
            return fail(
                format!("{at}.upn"),
                format!(
                    "`{}` is not a user principal name like alice@contoso.com.",
                    u.upn
                ),
            );
        }
        if dir.user(&u.upn).is_some() {
            return fail(at, format!("user `{}` is declared more than once.", u.upn));
        }
        if let Some(rt) = &u.refresh_token
            && (rt.is_empty() || dir.user_by_refresh_token(rt).is_some())
        {
            return fail(
                format!("{at}.refreshToken"),
                "must be non-empty and unique.",
            );
        }
        let tenant = tenant_of(&dir, &u.tenant, format!("{at}.tenant"))?;
        dir.users.push(User {
            upn: u.upn.clone(),
            password: u.password.clone(),
            tenant,
            display_name: u.display_name.clone(),
            refresh_token: u.refresh_token.clone(),
        });
    }
    let mut merged = current.doc.clone();
    merged.tenants.extend(doc.tenants.iter().cloned());
    merged.apps.extend(doc.apps.iter().cloned());
    merged.users.extend(doc.users.iter().cloned());
    Ok((merged, dir))
}

impl IdentityState {
    pub(super) fn apply(&mut self, (doc, directory): (IdentityDoc, Directory)) {
        self.doc = doc;
        self.directory = Arc::new(directory);
    }

    pub(super) fn export(&self) -> Option<IdentityDoc> {
        (!self.doc.is_empty()).then(|| self.doc.clone())
    }
}

impl Store {
    /// The declared tenants, apps and users (shared; cheap to take).
    pub fn directory(&self) -> Arc<Directory> {
        self.entra().directory.clone()
    }

    pub fn issue_code(&self, code: String, grant: AuthCode) {
        self.entra().codes.insert(code, grant);
    }

    /// The code's grant, marked redeemed (a code works once); `None` when never issued.
    pub fn redeem_code(&self, code: &str) -> Option<AuthCode> {
        let mut entra = self.entra();
        let entry = entra.codes.map.get_mut(code)?;
        let found = entry.clone();
        entry.redeemed = true;
        Some(found)
    }

    pub fn issue_device_code(&self, code: String, grant: DeviceCode) {
        self.entra().devices.insert(code, grant);
    }

    pub fn device_code(&self, code: &str) -> Option<DeviceCode> {
        self.entra().devices.map.get(code).cloned()
    }

    /// Forgets a device code once it has been exchanged for tokens.
    pub fn forget_device_code(&self, code: &str) {
        self.entra().devices.map.remove(code);
    }

    pub fn issue_refresh_token(&self, token: String, grant: UserGrant) {
        self.entra().refresh.insert(token, grant);
    }

    pub fn refresh_grant(&self, token: &str) -> Option<UserGrant> {
        self.entra().refresh.map.get(token).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_are_bounded_oldest_first() {
        let mut b = Bounded::default();
        for i in 0..=GRANT_LIMIT {
            b.insert(i.to_string(), i);
        }
        assert_eq!(b.map.len(), GRANT_LIMIT);
        assert!(!b.map.contains_key("0"));
        assert!(b.map.contains_key(&GRANT_LIMIT.to_string()));
    }

    #[test]
    fn sections_must_name_declared_tenants_once() {
        let state = IdentityState::default();
        let doc: IdentityDoc = serde_json::from_value(serde_json::json!({
            "tenants": [{"id": "8a2b4d5e-0000-4000-8000-000000000001", "domains": ["contoso.com"]}],
            "apps": [{"clientId": "app", "secrets": ["s"], "tenant": "CONTOSO.com"}],
            "users": [{"upn": "a@contoso.com", "tenant": "8a2b4d5e-0000-4000-8000-000000000001"}]
        }))
        .unwrap();
        let (merged, dir) = plan(&state, &doc).unwrap();
        assert_eq!(merged, doc);
        assert_eq!(dir.apps[0].tenant, dir.tenants[0].id);
        let bad: IdentityDoc = serde_json::from_value(serde_json::json!({
            "users": [{"upn": "a@fabrikam.com", "tenant": "fabrikam.com"}]
        }))
        .unwrap();
        let err = plan(&state, &bad).unwrap_err();
        assert_eq!(err.path, "identity.users[0].tenant");
    }
}
