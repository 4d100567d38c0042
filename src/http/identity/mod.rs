//! The mock Entra ID: token, authorize and device-code endpoints (v1 and v2), OpenID metadata,
//! instance discovery, the JWKS, and Partner Center's legacy `/generatetoken`. Served by the same
//! router, on paths that cannot collide with `/v1/…` or `/_emulator/…`.

mod authorize;
mod error;
mod legacy;
mod metadata;
mod token;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::routing::{get, post};
use bytes::Bytes;

use super::AppState;
use super::body::read_limited;
use super::transport::Transport;
use crate::config::IdentityMode;
use crate::identity::directory::{Directory, TenantPath};
use crate::identity::keys::SigningKey;
pub use error::EntraError;

/// The largest form body the token endpoints read.
// EMULATOR: Entra documents no limit; forms are small, and this keeps them cheap to parse.
pub const FORM_LIMIT: u64 = 256 * 1024;

// EMULATOR: unknown paths and methods here fall through to the router's 404/405, answered in
// the Partner Center envelope like every other route (Entra answers them with HTML or nothing).
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token::v2))
        .route("/{tenant}/oauth2/token", post(token::v1))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize::v2))
        .route("/{tenant}/oauth2/authorize", get(authorize::v1))
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(authorize::devicecode_v2),
        )
        .route(
            "/{tenant}/oauth2/devicecode",
            post(authorize::devicecode_v1),
        )
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(metadata::openid_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(metadata::openid_v1),
        )
        .route("/common/discovery/instance", get(metadata::instance))
        .route("/{tenant}/discovery/v2.0/keys", get(metadata::keys))
        .route("/common/discovery/keys", get(metadata::keys))
        .route("/common/userrealm/{username}", get(metadata::user_realm))
        .route("/generatetoken", post(legacy::generate_token))
        .route("/v3/generatetoken", post(legacy::generate_token_v3))
}

/// `scheme://host` as the client reached the emulator: metadata URLs must lead back here.
pub fn base_url<B>(req: &Request<B>, state: &AppState) -> String {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes().all(|b| b.is_ascii_graphic())
                && !h.contains(['/', '\\', '@', '?', '#'])
        })
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| state.config.bind.clone());
    format!("{}://{host}", Transport::of(req).scheme())
}

/// A form body's parameters, in order.
#[derive(Debug, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(bytes: &[u8]) -> Self {
        Self(
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// A parameter's value; empty values count as absent, as Entra counts them.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, EntraError> {
        self.get(name).ok_or_else(|| EntraError::missing(name))
    }

    /// Adds the client of `Authorization: Basic` (`client_secret_basic`, RFC 6749 §2.3.1:
    /// form-encoded id and secret, base64) where the body names none.
    pub fn with_basic_client(mut self, headers: &HeaderMap) -> Self {
        use base64::Engine;
        let credentials = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .and_then(|(_, b64)| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
            })
            .and_then(|raw| String::from_utf8(raw).ok());
        let Some((id, secret)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
            return self;
        };
        let decoded = |raw: &str| {
            form_urlencoded::parse(format!("v={raw}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        for (name, value) in [
            ("client_id", decoded(id)),
            ("client_secret", decoded(secret)),
        ] {
            if self.get(name).is_none() && !value.is_empty() {
                self.0.push((name.to_owned(), value));
            }
        }
        self
    }

    /// The first parameter given more than once (a set: a hostile body may name many).
    fn duplicate(&self) -> Option<&str> {
        let mut seen = std::collections::HashSet::with_capacity(self.0.len());
        self.0
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|k| !seen.insert(*k))
    }
}

/// Reads a form body as the token endpoints do: limited in size, duplicated parameters
/// refused. Another content type reads as an empty form, so the first required parameter is
/// reported missing, as Entra does.
pub async fn read_form(headers: &HeaderMap, body: axum::body::Body) -> Result<Form, EntraError> {
    // EMULATOR: Entra's answers to oversized or stalled bodies are undocumented; these are
    // Entra-shaped (413 AADSTS90020, 408 AADSTS90014).
    let bytes: Bytes = read_limited(headers, body, FORM_LIMIT).await.map_err(|e| {
        let status = e.status;
        EntraError::new(
            status,
            "invalid_request",
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                90_020
            } else {
                90_014
            },
            format!("The request body could not be read: {}", e.body.description),
        )
    })?;
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Ok(Form::default());
    }
    let form = Form::parse(&bytes);
    if let Some(name) = form.duplicate() {
        return Err(EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9_000_411,
            format!("The request is not properly formatted. The parameter '{name}' is duplicated."),
        ));
    }
    Ok(form)
}

/// The directory and mode a sign-in is judged by.
pub struct Judge {
    pub directory: Arc<Directory>,
    pub strict: bool,
}

impl Judge {
    // EMULATOR: `--identity permissive` (the default) signs in any client, secret, user and
    // password, naming them deterministically; only `strict` checks the seed's directory.
    pub fn of(state: &AppState) -> Self {
        Self {
            directory: state.store.directory(),
            strict: state.config.identity == IdentityMode::Strict,
        }
    }

    pub fn tenant_path(&self, segment: &str) -> Result<TenantPath, EntraError> {
        self.directory
            .resolve_path(segment, self.strict)
            .ok_or_else(|| EntraError::unknown_tenant(segment))
    }

    /// Whether `upn` may sign in to `tenant`: anyone in permissive mode, a declared user of that
    /// tenant in strict mode.
    pub fn knows_user(&self, upn: &str, tenant: uuid::Uuid) -> bool {
        !self.strict || self.directory.user(upn).is_some_and(|u| u.tenant == tenant)
    }

    /// In strict mode, the app must be declared: AADSTS700016 otherwise.
    pub fn check_app(&self, client_id: &str, tenant: &str) -> Result<(), EntraError> {
        if self.strict && self.directory.app(client_id).is_none() {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                700_016,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
                ),
            ));
        }
        Ok(())
    }
}

/// The signing key, made on a blocking thread the first time (RSA generation takes a while).
pub async fn signing_key(state: &AppState) -> Result<Arc<SigningKey>, EntraError> {
    if let Some(key) = state.keys.existing() {
        return Ok(key);
    }
    let s = state.clone();
    let made = tokio::task::spawn_blocking(move || s.keys.get())
        .await
        .unwrap_or_else(|e| Err(format!("key generation failed: {e}")));
    made.map_err(|e| {
        tracing::error!("{e}");
        EntraError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            50_000,
            format!("There was an error issuing a token: {e}"),
        )
    })
}

/// The emulator clock in whole seconds since the epoch, as JWT times are written.
pub fn epoch_seconds(state: &AppState) -> i64 {
    state.clock.now().as_offset().unix_timestamp()
}

/// A fresh opaque secret (codes, refresh tokens): 64 base64url characters.
pub fn opaque(prefix: &str) -> String {
    use base64::Engine;
    let mut bytes = Vec::with_capacity(48);
    for _ in 0..3 {
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}
