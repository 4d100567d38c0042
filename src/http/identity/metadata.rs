//! OpenID metadata (v2 and v1), instance discovery, and the JWKS. URLs point at the host and
//! scheme the client used, so a client that found the emulator keeps talking to it.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use uuid::Uuid;

use super::{EntraError, Form, Judge, base_url, signing_key};
use crate::app::AppState;
use crate::http::respond::json_response;
use crate::identity::directory::TenantPath;
use crate::identity::tokens::v1_issuer;

/// The issuer of v2 id tokens and of the v2 metadata: `{base}/{tid}/v2.0`.
// EMULATOR: Entra's is always https://login.microsoftonline.com/{tid}/v2.0; the emulator names
// the host the client used, so metadata and tokens agree wherever it is reached.
pub fn v2_issuer(base: &str, tenant: Uuid) -> String {
    format!("{base}/{tenant}/v2.0")
}

/// The tenant as endpoints name it (its GUID, or `common`/`organizations`), and as issuers do
/// (`{tenantid}` for the multi-tenant ones).
fn tenant_names(judge: &Judge, segment: &str) -> Result<(String, String), EntraError> {
    Ok(match judge.tenant_path(segment)? {
        TenantPath::Id(t) => (t.to_string(), t.to_string()),
        TenantPath::Multi => (segment.to_ascii_lowercase(), "{tenantid}".to_owned()),
    })
}

const CLAIMS: [&str; 15] = [
    "sub",
    "iss",
    "cloud_instance_name",
    "cloud_instance_host_name",
    "cloud_graph_host_name",
    "msgraph_host",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "acr",
    "nonce",
    "preferred_username",
    "name",
    "tid",
];

#[derive(Serialize)]
struct OpenIdV2 {
    token_endpoint: String,
    token_endpoint_auth_methods_supported: [&'static str; 3],
    jwks_uri: String,
    response_modes_supported: [&'static str; 3],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: [&'static str; 1],
    response_types_supported: [&'static str; 4],
    scopes_supported: [&'static str; 4],
    issuer: String,
    request_uri_parameter_supported: bool,
    userinfo_endpoint: &'static str,
    authorization_endpoint: String,
    device_authorization_endpoint: String,
    http_logout_supported: bool,
    frontchannel_logout_supported: bool,
    end_session_endpoint: String,
    claims_supported: [&'static str; 15],
    kerberos_endpoint: String,
    tenant_region_scope: Option<&'static str>,
    cloud_instance_name: &'static str,
    cloud_graph_host_name: &'static str,
    msgraph_host: &'static str,
    rbac_url: &'static str,
}

pub async fn openid_v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    let base = base_url(&req, &state);
    let judge = Judge::of(&state);
    match tenant_names(&judge, &tenant) {
        Err(e) => e.render(state.clock.now(), req.headers()),
        Ok((t, iss)) => json_response(
            StatusCode::OK,
            &OpenIdV2 {
                token_endpoint: format!("{base}/{t}/oauth2/v2.0/token"),
                token_endpoint_auth_methods_supported: [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                jwks_uri: format!("{base}/{t}/discovery/v2.0/keys"),
                response_modes_supported: ["query", "fragment", "form_post"],
                subject_types_supported: ["pairwise"],
                id_token_signing_alg_values_supported: ["RS256"],
                response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
                scopes_supported: ["openid", "profile", "email", "offline_access"],
                issuer: format!("{base}/{iss}/v2.0"),
                request_uri_parameter_supported: false,
                userinfo_endpoint: "https://graph.microsoft.com/oidc/userinfo",
                authorization_endpoint: format!("{base}/{t}/oauth2/v2.0/authorize"),
                device_authorization_endpoint: format!("{base}/{t}/oauth2/v2.0/devicecode"),
                http_logout_supported: true,
                frontchannel_logout_supported: true,
                end_session_endpoint: format!("{base}/{t}/oauth2/v2.0/logout"),
                claims_supported: CLAIMS,
                kerberos_endpoint: format!("{base}/{t}/kerberos"),
                tenant_region_scope: None,
                cloud_instance_name: "microsoftonline.com",
                cloud_graph_host_name: "graph.windows.net",
                msgraph_host: "graph.microsoft.com",
                rbac_url: "https://pas.windows.net",
            },
        ),
    }
}

#[derive(Serialize)]
struct OpenIdV1 {
    token_endpoint: String,
    token_endpoint_auth_methods_supported: [&'static str; 3],
    jwks_uri: String,
    response_modes_supported: [&'static str; 3],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: [&'static str; 1],
    response_types_supported: [&'static str; 4],
    scopes_supported: [&'static str; 1],
    issuer: String,
    microsoft_multi_refresh_token: bool,
    authorization_endpoint: String,
    device_authorization_endpoint: String,
    http_logout_supported: bool,
    frontchannel_logout_supported: bool,
    end_session_endpoint: String,
    claims_supported: [&'static str; 15],
    check_session_iframe: String,
    userinfo_endpoint: String,
    kerberos_endpoint: String,
    tenant_region_scope: Option<&'static str>,
    cloud_instance_name: &'static str,
    cloud_graph_host_name: &'static str,
    msgraph_host: &'static str,
    rbac_url: &'static str,
}

pub async fn openid_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    let base = base_url(&req, &state);
    let judge = Judge::of(&state);
    match tenant_names(&judge, &tenant) {
        Err(e) => e.render(state.clock.now(), req.headers()),
        Ok((t, iss)) => json_response(
            StatusCode::OK,
            &OpenIdV1 {
                token_endpoint: format!("{base}/{t}/oauth2/token"),
                token_endpoint_auth_methods_supported: [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                jwks_uri: format!("{base}/common/discovery/keys"),
                response_modes_supported: ["query", "fragment", "form_post"],
                subject_types_supported: ["pairwise"],
                id_token_signing_alg_values_supported: ["RS256"],
                response_types_supported: ["code", "id_token", "code id_token", "token id_token"],
                scopes_supported: ["openid"],
                issuer: match Uuid::parse_str(&iss) {
                    Ok(id) => v1_issuer(id),
                    Err(_) => "https://sts.windows.net/{tenantid}/".to_owned(),
                },
                microsoft_multi_refresh_token: true,
                authorization_endpoint: format!("{base}/{t}/oauth2/authorize"),
                device_authorization_endpoint: format!("{base}/{t}/oauth2/devicecode"),
                http_logout_supported: true,
                frontchannel_logout_supported: true,
                end_session_endpoint: format!("{base}/{t}/oauth2/logout"),
                claims_supported: CLAIMS,
                check_session_iframe: format!("{base}/{t}/oauth2/checksession"),
                userinfo_endpoint: format!("{base}/{t}/openid/userinfo"),
                kerberos_endpoint: format!("{base}/{t}/kerberos"),
                tenant_region_scope: None,
                cloud_instance_name: "microsoftonline.com",
                cloud_graph_host_name: "graph.windows.net",
                msgraph_host: "graph.microsoft.com",
                rbac_url: "https://pas.windows.net",
            },
        ),
    }
}

#[derive(Serialize)]
struct InstanceMetadata {
    preferred_network: String,
    preferred_cache: String,
    aliases: Vec<String>,
}

#[derive(Serialize)]
struct Instance {
    tenant_discovery_endpoint: String,
    #[serde(rename = "api-version")]
    api_version: &'static str,
    metadata: [InstanceMetadata; 1],
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=<authority>/oauth2/v2.0/authorize`:
/// where the authority's metadata is (MSAL asks before anything else).
pub async fn instance(State(state): State<AppState>, req: Request) -> Response {
    let base = base_url(&req, &state);
    let host = base
        .split_once("://")
        .map_or(base.as_str(), |(_, h)| h)
        .to_owned();
    let query = Form::parse(req.uri().query().unwrap_or_default().as_bytes());
    // The authority's tenant: the first path segment of `authorization_endpoint`.
    let endpoint = query.get("authorization_endpoint").unwrap_or_default();
    let path = endpoint
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, path)| path);
    let Some((tenant, rest)) = path
        .and_then(|p| p.split_once('/'))
        .filter(|(t, _)| !t.is_empty())
    else {
        return EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_instance",
            50_049,
            "Unknown or invalid instance: send `authorization_endpoint`, an https URL like https://login.microsoftonline.com/common/oauth2/v2.0/authorize.",
        )
        .render(state.clock.now(), req.headers());
    };
    let version = if rest.starts_with("oauth2/v2.0/") {
        "/v2.0"
    } else {
        ""
    };
    json_response(
        StatusCode::OK,
        &Instance {
            tenant_discovery_endpoint: format!(
                "{base}/{tenant}{version}/.well-known/openid-configuration"
            ),
            api_version: "1.1",
            metadata: [InstanceMetadata {
                preferred_network: host.clone(),
                preferred_cache: host.clone(),
                aliases: vec![host],
            }],
        },
    )
}

#[derive(Serialize)]
struct Jwk {
    kty: &'static str,
    #[serde(rename = "use")]
    use_: &'static str,
    kid: String,
    n: String,
    e: String,
    alg: &'static str,
}

#[derive(Serialize)]
struct Jwks {
    keys: [Jwk; 1],
}

/// The signing key as a JWK Set (made on first need, like every token).
// EMULATOR: no `x5t`/`x5c`: the key has no certificate.
pub async fn keys(State(state): State<AppState>, req: Request) -> Response {
    match signing_key(&state).await {
        Err(e) => e.render(state.clock.now(), req.headers()),
        Ok(key) => json_response(
            StatusCode::OK,
            &Jwks {
                keys: [Jwk {
                    kty: "RSA",
                    use_: "sig",
                    kid: key.kid.clone(),
                    n: key.n.clone(),
                    e: key.e.clone(),
                    alg: "RS256",
                }],
            },
        ),
    }
}

#[derive(Serialize)]
struct UserRealm {
    ver: &'static str,
    account_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain_name: Option<String>,
    cloud_instance_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cloud_audience_urn: Option<&'static str>,
}

/// `GET /common/userrealm/{username}?api-version=1.0`: whether a user's domain is managed
/// (MSAL asks before a username/password sign-in; `Federated` would send it to WS-Trust). Every
/// domain is managed, except in strict mode one no declared tenant owns (`Unknown`).
pub async fn user_realm(State(state): State<AppState>, Path(username): Path<String>) -> Response {
    let judge = Judge::of(&state);
    let domain = username
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .filter(|d| !d.is_empty());
    let known = domain
        .as_deref()
        .is_some_and(|d| !judge.strict || judge.directory.tenant_by_domain(d).is_some());
    json_response(
        StatusCode::OK,
        &UserRealm {
            ver: "1.0",
            account_type: if known { "Managed" } else { "Unknown" },
            domain_name: domain.filter(|_| known),
            cloud_instance_name: "microsoftonline.com",
            cloud_audience_urn: known.then_some("urn:federation:MicrosoftOnline"),
        },
    )
}
