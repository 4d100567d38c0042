//! `POST /{tenant}/oauth2/v2.0/token` and `POST /{tenant}/oauth2/token`: every grant the mock
//! Entra ID takes, and the token answers in the v2 and v1 shapes.
//!
//! Size: over 600 lines because every grant (client credentials, client assertion, authorization
//! code with PKCE, device code, refresh token, password) shares the client check, the scope
//! rules and the answer shapes; splitting by grant would spread those over six files.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use uuid::Uuid;

use super::{EntraError, Form, Judge, opaque, read_form, signing_key};
use crate::app::AppState;
use crate::domain::timestamp::Timestamp;
use crate::http::respond::json_response;
use crate::identity::directory::{TenantPath, app_oid, user_oid};
use crate::identity::tokens::{AccessGrant, Principal, id_claims, sign};
use crate::identity::{ScopeError, Scopes, client_info};
use crate::store::UserGrant;

/// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, the only assertion type Entra takes.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The device-code grant type (v1 also takes the bare `device_code`).
pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The largest client assertion read.
// EMULATOR: Entra documents no limit; a certificate-signed assertion with an x5c chain is a
// few KiB, so this is generous.
pub const ASSERTION_LIMIT: usize = 16 * 1024;

/// The two protocol versions: the answer's shape and how the resource is named differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    V1,
    V2,
}

pub async fn v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    respond(&state, &tenant, Flavor::V2, req).await
}

pub async fn v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    respond(&state, &tenant, Flavor::V1, req).await
}

async fn respond(state: &AppState, tenant: &str, flavor: Flavor, req: Request) -> Response {
    let base = super::base_url(&req, state);
    let (parts, body) = req.into_parts();
    let ctx = Ctx {
        state,
        flavor,
        base: &base,
    };
    match token(&ctx, tenant, &parts.headers, body).await {
        Ok(response) => response,
        Err(e) => e.render(state.clock.now(), &parts.headers),
    }
}

/// How the client proved who it is (`appidacr`).
fn client_auth(
    form: &Form,
    judge: &Judge,
    client_id: &str,
    tenant: &str,
    confidential: bool,
) -> Result<&'static str, EntraError> {
    if let Some(assertion) = form.get("client_assertion") {
        let kind = form.get("client_assertion_type").unwrap_or_default();
        if kind != JWT_BEARER {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                700_022,
                format!("The client_assertion_type '{kind}' is not supported; use '{JWT_BEARER}'."),
            ));
        }
        if assertion.len() > ASSERTION_LIMIT || !looks_like_jwt(assertion) {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50_027,
                format!(
                    "JWT token is invalid or malformed: the client_assertion must be a signed JWT of at most {ASSERTION_LIMIT} characters."
                ),
            ));
        }
        judge.check_app(client_id, tenant)?;
        // EMULATOR: the assertion's signature is not checked (no certificates are registered).
        return Ok("2");
    }
    if let Some(secret) = form.get("client_secret") {
        judge.check_app(client_id, tenant)?;
        if judge.strict
            && let Some(app) = judge.directory.app(client_id)
            && !app.secrets.iter().any(|s| s == secret)
        {
            return Err(EntraError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7_000_215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                ),
            ));
        }
        return Ok("1");
    }
    if confidential {
        return Err(EntraError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7_000_218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    }
    judge.check_app(client_id, tenant)?;
    Ok("0")
}

/// Three base64url segments, the first two JSON objects: the shape of a JWS.
fn looks_like_jwt(raw: &str) -> bool {
    use base64::Engine;
    let parts: Vec<&str> = raw.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p.trim_end_matches('='))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|v| v.is_object())
        })
}

/// What the request asks a token for: v2 scopes, or the v1 resource.
fn requested(form: &Form, flavor: Flavor, fallback: Option<&str>) -> Result<Scopes, EntraError> {
    match flavor {
        Flavor::V2 => {
            let raw = form
                .get("scope")
                .or(fallback)
                .ok_or_else(|| EntraError::missing("scope"))?;
            Scopes::parse(raw).map_err(|e| {
                let why = match e {
                    ScopeError::SeveralResources(a, b) => {
                        format!("it names more than one resource ('{a}' and '{b}')")
                    }
                    ScopeError::Empty => "it is empty".to_owned(),
                };
                EntraError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    70_011,
                    format!("The provided value for the input parameter 'scope' is not valid: {why}. The scope {raw} is not valid."),
                )
            })
        }
        Flavor::V1 => {
            let resource = match (form.get("resource"), fallback) {
                (Some(r), _) => r.trim().to_owned(),
                (None, Some(stored)) => {
                    Scopes::parse(stored)
                        .map_err(|_| EntraError::missing("resource"))?
                        .resource
                }
                (None, None) => return Err(EntraError::missing("resource")),
            };
            // v1 user sign-ins always answer an id token and a refresh token.
            Ok(Scopes {
                resource,
                names: vec![".default".to_owned()],
                oidc: vec!["openid".to_owned(), "offline_access".to_owned()],
            })
        }
    }
}

/// What a request asked for, in v2 syntax, to keep with a grant (see `UserGrant::scope`).
pub fn stored_scope(form: &Form, flavor: Flavor) -> Option<String> {
    match flavor {
        Flavor::V2 => form.get("scope").map(str::to_owned),
        Flavor::V1 => form.get("resource").map(Scopes::of_resource),
    }
}

/// What every step of a token request needs.
struct Ctx<'a> {
    state: &'a AppState,
    flavor: Flavor,
    /// `scheme://host` the client used: v2 id tokens carry the issuer the metadata advertises.
    base: &'a str,
}

/// A token request, read: what every grant starts from.
#[derive(Clone, Copy)]
struct Req<'a> {
    form: &'a Form,
    judge: &'a Judge,
    path: TenantPath,
    client_id: &'a str,
    tenant_segment: &'a str,
    now: Timestamp,
}

async fn token(
    ctx: &Ctx<'_>,
    tenant_segment: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, EntraError> {
    let state = ctx.state;
    let form = read_form(headers, body).await?.with_basic_client(headers);
    let grant_type = form.require("grant_type")?.to_owned();
    let judge = Judge::of(state);
    let path = judge.tenant_path(tenant_segment)?;
    let client_id = form.require("client_id")?.to_owned();
    let req = Req {
        form: &form,
        judge: &judge,
        path,
        client_id: &client_id,
        tenant_segment,
        now: state.clock.now(),
    };
    match grant_type.as_str() {
        "client_credentials" => client_credentials(ctx, &req).await,
        "password" => password(ctx, &req).await,
        "refresh_token" => refresh_token(ctx, &req).await,
        "authorization_code" => authorization_code(ctx, &req).await,
        DEVICE_CODE | "device_code" => device_code(ctx, &req).await,
        other => Err(EntraError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70_003,
            format!("The app requested an unsupported grant type '{other}'."),
        )),
    }
}

/// `client_credentials`: an app-only token for the app itself.
async fn client_credentials(ctx: &Ctx<'_>, req: &Req<'_>) -> Result<Response, EntraError> {
    let Req {
        form,
        judge,
        path,
        client_id,
        tenant_segment,
        now,
    } = *req;
    let flavor = ctx.flavor;
    let acr = client_auth(form, judge, client_id, tenant_segment, true)?;
    let scopes = requested(form, flavor, None)?;
    if flavor == Flavor::V2 && !scopes.is_default() {
        return Err(EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1_002_012,
            format!(
                "The provided value for scope {} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
                form.get("scope").unwrap_or_default()
            ),
        ));
    }
    let tenant = match path {
        TenantPath::Id(t) => t,
        TenantPath::Multi => judge.directory.home_of_app(client_id),
    };
    let roles = judge
        .directory
        .app(client_id)
        .map(|a| a.roles.clone())
        .unwrap_or_default();
    let grant = AccessGrant {
        tenant,
        audience: scopes.resource.clone(),
        client_id: client_id.to_owned(),
        client_auth: acr,
        principal: Principal::App {
            oid: app_oid(tenant, client_id),
            roles,
        },
        scopes: String::new(),
    };
    issue(ctx, grant, &scopes, None, now).await
}

/// `password`: a user signed in with a user name and password (ROPC).
async fn password(ctx: &Ctx<'_>, req: &Req<'_>) -> Result<Response, EntraError> {
    let Req {
        form,
        judge,
        path,
        client_id,
        tenant_segment,
        now,
    } = *req;
    let flavor = ctx.flavor;
    let acr = client_auth(form, judge, client_id, tenant_segment, false)?;
    let username = form.require("username")?.to_owned();
    let password = form.require("password")?;
    let scopes = requested(form, flavor, None)?;
    let tenant = match path {
        TenantPath::Id(t) => t,
        TenantPath::Multi => judge.directory.home_of_user(&username),
    };
    if judge.strict {
        let Some(user) = judge
            .directory
            .user(&username)
            .filter(|u| u.tenant == tenant)
        else {
            return Err(EntraError::invalid_grant(
                50_034,
                format!(
                    "The user account {username} does not exist in the {tenant} directory. To sign into this application, the account must be added to the directory."
                ),
            ));
        };
        if user.password.as_deref() != Some(password) {
            return Err(EntraError::invalid_grant(
                50_126,
                "Error validating credentials due to invalid username or password.",
            ));
        }
    }
    let user = UserGrant {
        tenant,
        client_id: client_id.to_owned(),
        upn: username,
        scope: stored_scope(form, flavor).unwrap_or_default(),
    };
    user_tokens(ctx, user, acr, &scopes, None, form, now).await
}

/// `refresh_token`: the user of an issued (or, permissively, any) refresh token, again.
async fn refresh_token(ctx: &Ctx<'_>, req: &Req<'_>) -> Result<Response, EntraError> {
    let Req {
        form,
        judge,
        path,
        client_id,
        tenant_segment,
        now,
    } = *req;
    let (state, flavor) = (ctx.state, ctx.flavor);
    let acr = client_auth(form, judge, client_id, tenant_segment, false)?;
    let raw = form.require("refresh_token")?;
    let user = if let Some(issued) = state.store.refresh_grant(raw) {
        if !issued.client_id.eq_ignore_ascii_case(client_id) {
            return Err(EntraError::invalid_grant(
                70_000,
                format!(
                    "The provided grant is invalid or malformed: the refresh token was issued to client '{}', not '{client_id}'.",
                    issued.client_id
                ),
            ));
        }
        issued
    } else if let Some(declared) = judge.directory.user_by_refresh_token(raw) {
        UserGrant {
            tenant: declared.tenant,
            client_id: client_id.to_owned(),
            upn: declared.upn.clone(),
            scope: String::new(),
        }
    } else if judge.strict {
        return Err(EntraError::invalid_grant(
            9_002_313,
            "Invalid request. Request is malformed or invalid. The refresh token was not issued by this emulator nor declared in its identity section.",
        ));
    } else {
        // EMULATOR: any refresh token signs in the tenant's default user in permissive mode.
        let tenant = match path {
            TenantPath::Id(t) => t,
            TenantPath::Multi => crate::identity::directory::DEFAULT_TENANT,
        };
        UserGrant {
            tenant,
            client_id: client_id.to_owned(),
            upn: judge.directory.default_user_in(tenant, tenant_segment),
            scope: String::new(),
        }
    };
    let fallback = (!user.scope.is_empty()).then(|| user.scope.clone());
    let mut scopes = requested(form, flavor, fallback.as_deref())?;
    if !scopes.wants("offline_access") {
        // A refresh always answers a new refresh token.
        scopes.oidc.push("offline_access".to_owned());
    }
    let user = UserGrant {
        scope: form
            .get(if flavor == Flavor::V2 {
                "scope"
            } else {
                "resource"
            })
            .map_or(user.scope.clone(), str::to_owned),
        ..user
    };
    user_tokens(ctx, user, acr, &scopes, None, form, now).await
}

/// `authorization_code`: redeems a code `authorize` issued, once, PKCE checked.
async fn authorization_code(ctx: &Ctx<'_>, req: &Req<'_>) -> Result<Response, EntraError> {
    let Req {
        form,
        judge,
        client_id,
        tenant_segment,
        now,
        ..
    } = *req;
    let (state, flavor) = (ctx.state, ctx.flavor);
    let acr = client_auth(form, judge, client_id, tenant_segment, false)?;
    let code = form.require("code")?;
    let redirect_uri = form.require("redirect_uri")?;
    let Some(issued) = state.store.redeem_code(code) else {
        return Err(EntraError::invalid_grant(
            9_002_313,
            "Invalid request. Request is malformed or invalid. The authorization code was not issued by this emulator.",
        ));
    };
    if issued.redeemed {
        return Err(EntraError::invalid_grant(
            54_005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        ));
    }
    if now >= issued.expires_at {
        return Err(EntraError::invalid_grant(
            70_008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        ));
    }
    if !issued.grant.client_id.eq_ignore_ascii_case(client_id)
        || issued.redirect_uri != redirect_uri
    {
        return Err(EntraError::invalid_grant(
            70_000,
            "The provided grant is invalid or malformed: the code was issued to another client or redirect_uri.",
        ));
    }
    if let Some((method, challenge)) = &issued.pkce {
        let verifier = form.get("code_verifier").unwrap_or_default();
        if !crate::identity::pkce_matches(method, challenge, verifier) {
            return Err(EntraError::invalid_grant(
                50_148,
                "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
            ));
        }
    }
    let fallback = issued.grant.scope.clone();
    let scopes = requested(form, flavor, Some(&fallback))?;
    user_tokens(ctx, issued.grant, acr, &scopes, issued.nonce, form, now).await
}

/// The device-code poll: pending until approved, then tokens once, expired after 15 minutes.
async fn device_code(ctx: &Ctx<'_>, req: &Req<'_>) -> Result<Response, EntraError> {
    let Req {
        form,
        judge,
        client_id,
        tenant_segment,
        now,
        ..
    } = *req;
    let (state, flavor) = (ctx.state, ctx.flavor);
    let acr = client_auth(form, judge, client_id, tenant_segment, false)?;
    // v1 names the device code `code`, v2 `device_code`.
    let name = if flavor == Flavor::V2 {
        "device_code"
    } else {
        "code"
    };
    let code = form.require(name)?;
    let Some(issued) = state.store.device_code(code) else {
        return Err(EntraError::invalid_grant(
            70_000,
            "The provided value for the input parameter 'device_code' is not valid: it was not issued by this emulator, or was already used.",
        ));
    };
    if now >= issued.expires_at {
        return Err(EntraError::new(
            StatusCode::BAD_REQUEST,
            "expired_token",
            70_019,
            "Verification code expired.",
        ));
    }
    if now < issued.approved_at {
        return Err(EntraError::new(
            StatusCode::BAD_REQUEST,
            "authorization_pending",
            70_016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        ));
    }
    state.store.forget_device_code(code);
    let scope = issued.grant.scope.clone();
    let scopes = requested(&Form::default(), flavor, Some(&scope))?;
    user_tokens(ctx, issued.grant, acr, &scopes, None, form, now).await
}

/// The tokens of a user sign-in: the access token, and an id token, a refresh token and
/// `client_info` when asked for.
async fn user_tokens(
    ctx: &Ctx<'_>,
    user: UserGrant,
    acr: &'static str,
    scopes: &Scopes,
    nonce: Option<String>,
    form: &Form,
    now: Timestamp,
) -> Result<Response, EntraError> {
    let directory = ctx.state.store.directory();
    let oid = user_oid(user.tenant, &user.upn);
    let name = directory
        .user(&user.upn)
        .and_then(|u| u.display_name.clone())
        .unwrap_or_else(|| user.upn.split('@').next().unwrap_or_default().to_owned());
    let grant = AccessGrant {
        tenant: user.tenant,
        audience: scopes.resource.clone(),
        client_id: user.client_id.clone(),
        client_auth: acr,
        principal: Principal::User {
            oid,
            upn: user.upn.clone(),
            name: name.clone(),
        },
        scopes: scopes.delegated(),
    };
    let extras = UserExtras {
        oid,
        upn: user.upn.clone(),
        name,
        nonce,
        refresh: scopes.wants("offline_access").then(|| user.clone()),
        id_token: scopes.wants("openid"),
        client_info: form.get("client_info") == Some("1"),
    };
    issue(ctx, grant, scopes, Some(extras), now).await
}

/// What a user sign-in adds to the answer.
struct UserExtras {
    oid: Uuid,
    upn: String,
    name: String,
    nonce: Option<String>,
    refresh: Option<UserGrant>,
    id_token: bool,
    client_info: bool,
}

/// A token answer; which fields appear depends on the flavor and grant.
#[derive(Serialize)]
struct TokenBody {
    token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    expires_in: serde_json::Value,
    ext_expires_in: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<String>,
    access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_info: Option<String>,
}

async fn issue(
    ctx: &Ctx<'_>,
    grant: AccessGrant,
    scopes: &Scopes,
    user: Option<UserExtras>,
    now: Timestamp,
) -> Result<Response, EntraError> {
    let (state, flavor) = (ctx.state, ctx.flavor);
    let key = signing_key(state).await?;
    let lifetime = lifetime_secs(state.config.token_lifetime);
    let iat = now.as_offset().unix_timestamp();
    let sign_err =
        |e: String| EntraError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", 50_000, e);
    let access_token = sign(&key, &grant.claims(iat, lifetime)).map_err(sign_err)?;
    let mut body = TokenBody {
        token_type: "Bearer",
        scope: None,
        expires_in: lifetime.into(),
        ext_expires_in: lifetime.into(),
        expires_on: None,
        not_before: None,
        resource: None,
        access_token,
        refresh_token: None,
        id_token: None,
        client_info: None,
    };
    if let Some(u) = user {
        body.scope = Some(match flavor {
            Flavor::V2 => scopes.granted(),
            Flavor::V1 => scopes.delegated(),
        });
        if let Some(refresh) = u.refresh {
            let token = opaque("1.");
            state.store.issue_refresh_token(token.clone(), refresh);
            body.refresh_token = Some(token);
        }
        // EMULATOR: v1 id tokens are signed too (Entra's are unsigned); every reader accepts one.
        if u.id_token {
            let issuer =
                (flavor == Flavor::V2).then(|| super::metadata::v2_issuer(ctx.base, grant.tenant));
            let claims = id_claims(
                grant.tenant,
                &grant.client_id,
                u.oid,
                &u.upn,
                &u.name,
                u.nonce,
                issuer,
                iat,
                lifetime,
            );
            body.id_token = Some(sign(&key, &claims).map_err(sign_err)?);
        }
        if u.client_info {
            body.client_info = Some(client_info(u.oid, grant.tenant));
        }
    }
    if flavor == Flavor::V1 {
        body.expires_in = lifetime.to_string().into();
        body.ext_expires_in = lifetime.to_string().into();
        body.expires_on = Some((iat + lifetime).to_string());
        body.not_before = Some(iat.to_string());
        body.resource = Some(grant.audience.clone());
    }
    Ok(json_response(StatusCode::OK, &body))
}

pub fn lifetime_secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4).max(1)
}
