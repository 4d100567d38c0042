//! The JWTs the mock Entra ID issues (v1-format access tokens, OIDC id tokens) and the check
//! `--auth jwt` makes of them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::SigningKey;

/// The Partner Center API's resource (v1 `resource=`, and the audience of its tokens).
pub const PARTNER_CENTER: &str = "https://api.partnercenter.microsoft.com";

/// Who a token is for: a user signed in through an app, or the app itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User {
        oid: Uuid,
        upn: String,
        name: String,
    },
    App {
        oid: Uuid,
        roles: Vec<String>,
    },
}

/// Everything an access token says, before it is signed.
#[derive(Debug, Clone)]
pub struct AccessGrant {
    pub tenant: Uuid,
    pub audience: String,
    pub client_id: String,
    /// `appidacr`: `0` public client, `1` secret, `2` certificate (client assertion).
    pub client_auth: &'static str,
    pub principal: Principal,
    /// The delegated scopes (`scp`) of a user token.
    pub scopes: String,
}

/// The claims of an access token, as Entra writes a v1 token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JwtClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub appid: String,
    pub appidacr: String,
    pub idp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idtyp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub oid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    pub sub: String,
    pub tid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    pub uti: String,
    pub ver: String,
}

/// The issuer of v1 tokens: Entra's, whatever host the emulator was reached on, because the
/// resource APIs (Partner Center, Graph) validate exactly this value.
pub fn v1_issuer(tenant: Uuid) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

/// A `sub` Entra-style: opaque, stable for one principal and app.
fn subject(oid: Uuid, client_id: &str) -> String {
    let digest = xxhash_rust::xxh3::xxh3_128(format!("{oid}/{client_id}").as_bytes());
    URL_SAFE_NO_PAD.encode(digest.to_be_bytes())
}

/// A fresh `uti` (Entra's token id): 22 base64url characters.
fn token_id() -> String {
    URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes())
}

impl AccessGrant {
    /// The claims of the token, issued at `now` (seconds since the epoch, emulator clock).
    // EMULATOR: every access token is v1-format, whatever endpoint issued it: Entra issues v1
    // tokens to Partner Center and Graph, the resources that matter here. App-only tokens carry
    // `roles` only when the seed declares them (Entra's come from admin consent).
    pub fn claims(&self, now: i64, lifetime_secs: i64) -> JwtClaims {
        let iss = v1_issuer(self.tenant);
        let (oid, name, upn, roles, scp, idtyp) = match &self.principal {
            Principal::User { oid, upn, name } => (
                *oid,
                Some(name.clone()),
                Some(upn.clone()),
                None,
                Some(self.scopes.clone()),
                None,
            ),
            Principal::App { oid, roles } => (
                *oid,
                None,
                None,
                (!roles.is_empty()).then(|| roles.clone()),
                None,
                Some("app".to_owned()),
            ),
        };
        JwtClaims {
            aud: self.audience.clone(),
            idp: iss.clone(),
            iss,
            iat: now,
            nbf: now,
            exp: now + lifetime_secs,
            appid: self.client_id.clone(),
            appidacr: self.client_auth.to_owned(),
            idtyp,
            name,
            oid: oid.to_string(),
            roles,
            scp,
            sub: subject(oid, &self.client_id),
            tid: self.tenant.to_string(),
            unique_name: upn.clone(),
            upn,
            uti: token_id(),
            ver: "1.0".to_owned(),
        }
    }
}

/// The claims of an OIDC id token (v2 shape; v1 adds `upn`/`unique_name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub oid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    pub sub: String,
    pub tid: String,
    pub uti: String,
    pub ver: String,
}

/// Builds an id token's claims for a user of `client_id`; `v2_issuer` is the issuer the
/// v2 metadata advertises (`None`: a v1 id token, issued by `sts.windows.net`).
#[allow(clippy::too_many_arguments)]
pub fn id_claims(
    tenant: Uuid,
    client_id: &str,
    oid: Uuid,
    upn: &str,
    name: &str,
    nonce: Option<String>,
    v2_issuer: Option<String>,
    now: i64,
    lifetime_secs: i64,
) -> IdClaims {
    let v2 = v2_issuer.is_some();
    IdClaims {
        aud: client_id.to_owned(),
        iss: v2_issuer.unwrap_or_else(|| v1_issuer(tenant)),
        iat: now,
        nbf: now,
        exp: now + lifetime_secs,
        name: name.to_owned(),
        nonce,
        oid: oid.to_string(),
        preferred_username: v2.then(|| upn.to_owned()),
        upn: (!v2).then(|| upn.to_owned()),
        unique_name: (!v2).then(|| upn.to_owned()),
        sub: subject(oid, client_id),
        tid: tenant.to_string(),
        uti: token_id(),
        ver: if v2 { "2.0" } else { "1.0" }.to_owned(),
    }
}

/// Signs claims as an RS256 JWT with the key's `kid`.
pub fn sign<T: Serialize>(key: &SigningKey, claims: &T) -> Result<String, String> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).map_err(|e| format!("signing failed: {e}"))
}

/// What `--auth jwt` found in a verified token. Inserted into the request's extensions, so
/// handlers (and per-tenant partitioning) can read who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// `tid`: the partner tenant that signed in.
    pub tenant_id: Uuid,
    /// `oid`: the user, or the app's service principal.
    pub object_id: Uuid,
    /// `appid`: the client.
    pub app_id: String,
    /// No `scp`: an app-only (client credentials) token.
    pub app_only: bool,
    /// `upn` of an app+user token.
    pub upn: Option<String>,
    /// `scp` split on spaces (empty for app-only tokens).
    pub scopes: Vec<String>,
    /// `roles` of an app-only token.
    pub roles: Vec<String>,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the token is not a JWT this emulator issued ({0})")]
    Foreign(String),
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token expired at {0} (emulator clock)")]
    Expired(i64),
    #[error("the token is not valid before {0} (emulator clock)")]
    NotYetValid(i64),
    #[error("the token's audience `{0}` is not {PARTNER_CENTER}")]
    WrongAudience(String),
}

/// Verifies a bearer token against the signing key and the emulator clock (`now`, seconds).
/// jsonwebtoken checks only the algorithm (RS256 alone: `none` and HS256 fail) and the
/// signature; times are checked here, against the emulator clock, never the system's.
pub fn verify(key: &SigningKey, token: &str, now: i64) -> Result<AccessClaims, Rejection> {
    let c = verify_claims(key, token, now)?;
    let guid = |raw: &str, what: &str| {
        Uuid::parse_str(raw).map_err(|_| Rejection::Foreign(format!("{what} is not a GUID")))
    };
    Ok(AccessClaims {
        tenant_id: guid(&c.tid, "tid")?,
        object_id: guid(&c.oid, "oid")?,
        app_id: c.appid,
        app_only: c.scp.is_none(),
        upn: c.upn,
        scopes: c
            .scp
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        roles: c.roles.unwrap_or_default(),
    })
}

/// [`verify`], answering the token's claims as they are.
pub fn verify_claims(key: &SigningKey, token: &str, now: i64) -> Result<JwtClaims, Rejection> {
    verify_for(key, token, now, &[PARTNER_CENTER])
}

/// [`verify_claims`] for a token whose audience is one of `audiences`.
pub fn verify_for(
    key: &SigningKey,
    token: &str,
    now: i64,
    audiences: &[&str],
) -> Result<JwtClaims, Rejection> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| Rejection::Foreign(e.to_string()))?;
    if header.alg != Algorithm::RS256 {
        return Err(Rejection::Foreign(format!(
            "alg {:?}, not RS256",
            header.alg
        )));
    }
    if header.kid.as_deref() != Some(key.kid.as_str()) {
        return Err(Rejection::Foreign("unknown kid".to_owned()));
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<JwtClaims>(token, &key.decoding, &validation).map_err(
        |e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => Rejection::BadSignature,
            _ => Rejection::Foreign(e.to_string()),
        },
    )?;
    let c = data.claims;
    if now >= c.exp {
        return Err(Rejection::Expired(c.exp));
    }
    if now < c.nbf {
        return Err(Rejection::NotYetValid(c.nbf));
    }
    if !audiences.contains(&c.aud.trim_end_matches('/')) {
        return Err(Rejection::WrongAudience(c.aud));
    }
    Ok(c)
}

/// The same identity issued again at `now`, for Partner Center, with a new token id
/// (`/generatetoken`).
pub fn reissue(mut claims: JwtClaims, now: i64, lifetime_secs: i64) -> JwtClaims {
    claims.aud = PARTNER_CENTER.to_owned();
    claims.iat = now;
    claims.nbf = now;
    claims.exp = now + lifetime_secs;
    claims.uti = token_id();
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::keys::KeyStore;

    fn grant(audience: &str, principal: Principal) -> AccessGrant {
        AccessGrant {
            tenant: Uuid::from_u128(1),
            audience: audience.to_owned(),
            client_id: "app".to_owned(),
            client_auth: "1",
            principal,
            scopes: "user_impersonation".to_owned(),
        }
    }

    #[test]
    fn verification_follows_the_given_clock_and_the_audience() {
        let key = KeyStore::new(None).get().unwrap();
        let user = Principal::User {
            oid: Uuid::from_u128(2),
            upn: "a@b.com".to_owned(),
            name: "a".to_owned(),
        };
        let token = sign(&key, &grant(PARTNER_CENTER, user.clone()).claims(1000, 60)).unwrap();
        assert_eq!(
            verify(&key, &token, 1000),
            Ok(AccessClaims {
                tenant_id: Uuid::from_u128(1),
                object_id: Uuid::from_u128(2),
                app_id: "app".to_owned(),
                app_only: false,
                upn: Some("a@b.com".to_owned()),
                scopes: vec!["user_impersonation".to_owned()],
                roles: vec![],
            })
        );
        assert_eq!(verify(&key, &token, 1060), Err(Rejection::Expired(1060)));
        assert_eq!(verify(&key, &token, 999), Err(Rejection::NotYetValid(1000)));
        let graph = sign(&key, &grant(crate::identity::GRAPH, user).claims(1000, 60)).unwrap();
        assert!(matches!(
            verify(&key, &graph, 1000),
            Err(Rejection::WrongAudience(_))
        ));
        let app = Principal::App {
            oid: Uuid::from_u128(3),
            roles: vec!["R".to_owned()],
        };
        let token = sign(&key, &grant(PARTNER_CENTER, app).claims(1000, 60)).unwrap();
        let claims = verify(&key, &token, 1000).unwrap();
        assert!(claims.app_only);
        assert_eq!(claims.roles, ["R"]);
        assert!(claims.scopes.is_empty());
    }
}
