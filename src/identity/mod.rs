//! The mock Entra ID's rules, free of HTTP: who may sign in ([`directory`]), the signing key
//! ([`keys`]), the tokens and their verification ([`tokens`]), scopes and PKCE.

pub mod directory;
pub mod keys;
pub mod tokens;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use tokens::{AccessClaims, PARTNER_CENTER};

/// Scopes of OpenID Connect itself, which name no resource.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

/// Microsoft Graph, the resource a v2 scope without one means.
pub const GRAPH: &str = "https://graph.microsoft.com";

/// A v2 `scope` parameter, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes {
    /// The one resource the scopes name (the audience of the access token).
    pub resource: String,
    /// The resource's scope names (`.default`, `user_impersonation`, `User.Read`).
    pub names: Vec<String>,
    /// The OIDC scopes asked for (`openid`, `offline_access`, ...).
    pub oidc: Vec<String>,
}

/// Why a `scope` parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    /// More than one resource in one request.
    SeveralResources(String, String),
    /// Nothing but white space.
    Empty,
}

impl Scopes {
    /// Reads a space-separated v2 scope list: `https://api.partnercenter.microsoft.com/.default`,
    /// `api://x/y`, bare names (Graph's), and the OIDC scopes.
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        let mut resource: Option<String> = None;
        let mut names = Vec::new();
        let mut oidc = Vec::new();
        for scope in raw.split_whitespace() {
            if OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(scope)) {
                oidc.push(scope.to_ascii_lowercase());
                continue;
            }
            let (res, name) = match scope.rsplit_once('/') {
                Some((res, name)) if !res.is_empty() => {
                    (res.trim_end_matches('/').to_owned(), name.to_owned())
                }
                _ => (GRAPH.to_owned(), scope.to_owned()),
            };
            match &resource {
                Some(r) if !r.eq_ignore_ascii_case(&res) => {
                    return Err(ScopeError::SeveralResources(r.clone(), res));
                }
                _ => resource = Some(res),
            }
            if !name.is_empty() {
                names.push(name);
            }
        }
        if resource.is_none() && oidc.is_empty() {
            return Err(ScopeError::Empty);
        }
        Ok(Self {
            resource: resource.unwrap_or_else(|| GRAPH.to_owned()),
            names,
            oidc,
        })
    }

    /// Whether this asks for `.default` (required by client credentials).
    pub fn is_default(&self) -> bool {
        !self.names.is_empty() && self.names.iter().all(|n| n == ".default")
    }

    /// The delegated scopes a user token carries (`scp`): the names asked for, with `.default`
    /// standing for `user_impersonation`, the permission partner apps are consented to.
    pub fn delegated(&self) -> String {
        let mut out: Vec<&str> = self
            .names
            .iter()
            .map(|n| {
                if n == ".default" {
                    "user_impersonation"
                } else {
                    n.as_str()
                }
            })
            .collect();
        if out.is_empty() {
            out.push("user_impersonation");
        }
        out.dedup();
        out.join(" ")
    }

    /// The `scope` of a v2 answer: the granted scopes on the resource, then the OIDC ones.
    pub fn granted(&self) -> String {
        self.delegated()
            .split(' ')
            .map(|s| format!("{}/{s}", self.resource))
            .chain(self.oidc.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A v1 `resource` as the v2 scope that means the same (`{resource}/.default`).
    pub fn of_resource(resource: &str) -> String {
        format!("{}/.default", resource.trim().trim_end_matches('/'))
    }

    pub fn wants(&self, oidc_scope: &str) -> bool {
        self.oidc.iter().any(|s| s == oidc_scope)
    }
}

/// Checks a PKCE `code_verifier` against the challenge the authorization request gave.
pub fn pkce_matches(method: &str, challenge: &str, verifier: &str) -> bool {
    if method.eq_ignore_ascii_case("S256") {
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref()) == challenge
    } else {
        verifier == challenge
    }
}

/// `client_info`: base64url JSON `{"uid": oid, "utid": tid}`, which MSAL reads to key its cache.
pub fn client_info(oid: uuid::Uuid, tenant: uuid::Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!(r#"{{"uid":"{oid}","utid":"{tenant}"}}"#))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_name_one_resource_and_the_oidc_extras() {
        let s =
            Scopes::parse("https://api.partnercenter.microsoft.com/.default offline_access openid")
                .unwrap();
        assert_eq!(s.resource, PARTNER_CENTER);
        assert!(s.is_default());
        assert_eq!(s.delegated(), "user_impersonation");
        assert_eq!(
            s.granted(),
            "https://api.partnercenter.microsoft.com/user_impersonation offline_access openid"
        );
        let g = Scopes::parse("User.Read Mail.Read").unwrap();
        assert_eq!(
            (g.resource.as_str(), g.delegated().as_str()),
            (GRAPH, "User.Read Mail.Read")
        );
        assert_eq!(
            Scopes::parse("api://x/y https://graph.microsoft.com/.default"),
            Err(ScopeError::SeveralResources("api://x".into(), GRAPH.into()))
        );
        assert_eq!(Scopes::parse("  "), Err(ScopeError::Empty));
        let app =
            Scopes::parse(&Scopes::of_resource("00000003-0000-0000-c000-000000000000")).unwrap();
        assert_eq!(app.resource, "00000003-0000-0000-c000-000000000000");
    }

    #[test]
    fn pkce_follows_rfc_7636() {
        // The RFC's appendix B example.
        assert!(pkce_matches(
            "S256",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!pkce_matches(
            "S256",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "x"
        ));
        assert!(pkce_matches("plain", "abc", "abc"));
    }

    #[test]
    fn client_info_is_base64url_json() {
        let info = client_info(uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        let json = URL_SAFE_NO_PAD.decode(info).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"uid":"00000000-0000-0000-0000-000000000001","utid":"00000000-0000-0000-0000-000000000002"}"#
        );
    }
}
