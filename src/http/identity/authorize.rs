//! `GET /{tenant}/oauth2[/v2.0]/authorize`, which consents at once and redirects with a code,
//! and `POST /{tenant}/oauth2[/v2.0]/devicecode`, which starts a device-code sign-in.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::token::Flavor;
use super::{EntraError, Form, Judge, opaque, read_form};
use crate::app::AppState;
use crate::http::respond::json_response;
use crate::identity::directory::TenantPath;
use crate::store::{AuthCode, DeviceCode, UserGrant};

/// How long an authorization code can be redeemed (Entra's codes last about ten minutes).
const CODE_LIFETIME: std::time::Duration = std::time::Duration::from_secs(600);
/// How long a device code can be polled, as Entra answers (`expires_in`).
pub const DEVICE_CODE_LIFETIME: u64 = 900;
/// The polling interval Entra asks for.
const INTERVAL: u64 = 5;
/// Where Entra sends users to enter their code.
// EMULATOR: nobody needs to visit it: the emulator approves device codes by itself.
const VERIFICATION_URI: &str = "https://microsoft.com/devicelogin";

pub async fn v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    authorize(&state, &tenant, Flavor::V2, req)
}

pub async fn v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    authorize(&state, &tenant, Flavor::V1, req)
}

fn authorize(state: &AppState, tenant: &str, flavor: Flavor, req: Request) -> Response {
    let query = Form::parse(req.uri().query().unwrap_or_default().as_bytes());
    let answer = consent(state, tenant, flavor, &query).and_then(|location| {
        HeaderValue::try_from(location).map_err(|_| {
            EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50_011,
                "The redirect URI cannot be written in a Location header.",
            )
        })
    });
    match answer {
        // A 302 without a body, as Entra redirects.
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(e) => e.render(state.clock.now(), req.headers()),
    }
}

/// `redirect_uri` with the answer's parameters appended to its query.
fn redirect(uri: &str, params: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        query.append_pair(k, v);
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{}", query.finish())
}

/// Checks the request and, when it is sound, signs the user in and answers the redirect.
// EMULATOR: there is no sign-in page: the request is consented at once for `login_hint`, or
// the tenant's default user. Errors before a usable `redirect_uri` is known are answered as
// Entra's JSON error (Entra shows an HTML page); `response_mode` is always `query`.
fn consent(state: &AppState, tenant: &str, flavor: Flavor, q: &Form) -> Result<String, EntraError> {
    let segment = tenant;
    let judge = Judge::of(state);
    let path = judge.tenant_path(tenant)?;
    let client_id = q.require("client_id")?;
    judge.check_app(client_id, tenant)?;
    let redirect_uri = q.require("redirect_uri")?;
    if !redirect_uri.contains(':')
        || redirect_uri.contains('#')
        || redirect_uri.chars().any(char::is_control)
    {
        return Err(EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50_011,
            format!(
                "The redirect URI '{redirect_uri}' specified in the request is not an absolute URI without a fragment."
            ),
        ));
    }
    let state_param = q.get("state");
    let refuse = |error: &str, description: &str| {
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(s) = state_param {
            params.push(("state", s));
        }
        Ok(redirect(redirect_uri, &params))
    };
    if q.get("response_type") != Some("code") {
        return refuse(
            "unsupported_response_type",
            "AADSTS700054: The emulator answers response_type 'code' only.",
        );
    }
    let scope = match flavor {
        Flavor::V2 => match q.get("scope") {
            Some(s) if crate::identity::Scopes::parse(s).is_ok() => s.to_owned(),
            _ => {
                return refuse(
                    "invalid_request",
                    "AADSTS900144: The request body must contain the following parameter: 'scope'.",
                );
            }
        },
        Flavor::V1 => crate::identity::Scopes::of_resource(
            q.get("resource").unwrap_or(crate::identity::PARTNER_CENTER),
        ),
    };
    let pkce = match (q.get("code_challenge"), q.get("code_challenge_method")) {
        (None, _) => None,
        (Some(c), m) => {
            let method = m.unwrap_or("plain");
            if !method.eq_ignore_ascii_case("S256") && !method.eq_ignore_ascii_case("plain") {
                return refuse(
                    "invalid_request",
                    "AADSTS501491: Invalid size of Code_Challenge parameter or code_challenge_method: use S256 or plain.",
                );
            }
            Some((method.to_owned(), c.to_owned()))
        }
    };
    let upn = q.get("login_hint").map(str::to_owned);
    let tenant = match path {
        TenantPath::Id(t) => t,
        TenantPath::Multi => upn
            .as_deref()
            .map_or(crate::identity::directory::DEFAULT_TENANT, |u| {
                judge.directory.home_of_user(u)
            }),
    };
    let upn = upn.unwrap_or_else(|| judge.directory.default_user_in(tenant, segment));
    if !judge.knows_user(&upn, tenant) {
        return refuse(
            "invalid_request",
            &format!(
                "AADSTS50034: The user account {upn} does not exist in the {tenant} directory."
            ),
        );
    }
    let code = opaque("1.");
    state.store.issue_code(
        code.clone(),
        AuthCode {
            grant: UserGrant {
                tenant,
                client_id: client_id.to_owned(),
                upn,
                scope,
            },
            redirect_uri: redirect_uri.to_owned(),
            pkce,
            nonce: q.get("nonce").map(str::to_owned),
            expires_at: state.clock.now().plus(CODE_LIFETIME),
            redeemed: false,
        },
    );
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = state_param {
        params.push(("state", s));
    }
    Ok(redirect(redirect_uri, &params))
}

/// The v2 device-code answer.
#[derive(Serialize)]
struct DeviceV2 {
    user_code: String,
    device_code: String,
    verification_uri: &'static str,
    expires_in: u64,
    interval: u64,
    message: String,
}

/// The v1 answer: `verification_url`, and numbers as strings.
#[derive(Serialize)]
struct DeviceV1 {
    user_code: String,
    device_code: String,
    verification_url: &'static str,
    expires_in: String,
    interval: String,
    message: String,
}

pub async fn devicecode_v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    devicecode(&state, &tenant, Flavor::V2, req).await
}

pub async fn devicecode_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    devicecode(&state, &tenant, Flavor::V1, req).await
}

async fn devicecode(state: &AppState, tenant: &str, flavor: Flavor, req: Request) -> Response {
    let segment = tenant;
    let (parts, body) = req.into_parts();
    let answer = async {
        let form = read_form(&parts.headers, body).await?;
        let judge = Judge::of(state);
        let path = judge.tenant_path(tenant)?;
        let client_id = form.require("client_id")?;
        judge.check_app(client_id, tenant)?;
        let scope = match flavor {
            Flavor::V2 => {
                let s = form.require("scope")?;
                crate::identity::Scopes::parse(s).map_err(|_| {
                    EntraError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_scope",
                        70_011,
                        format!("The provided value for the input parameter 'scope' is not valid. The scope {s} is not valid."),
                    )
                })?;
                s.to_owned()
            }
            Flavor::V1 => crate::identity::Scopes::of_resource(form.require("resource")?),
        };
        let tenant = match path {
            TenantPath::Id(t) => t,
            TenantPath::Multi => crate::identity::directory::DEFAULT_TENANT,
        };
        let upn = judge.directory.default_user_in(tenant, segment);
        // EMULATOR: the user who will approve is decided now (the tenant's first declared user),
        // so strict mode refuses a tenant without one here rather than at the first poll.
        if !judge.knows_user(&upn, tenant) {
            return Err(EntraError::invalid_grant(
                50_034,
                format!("The user account {upn} does not exist in the {tenant} directory. Declare a user of this tenant in the seed's identity section."),
            ));
        }
        let now = state.clock.now();
        let device_code = opaque("DAQABAAEAAAA");
        let user_code = user_code();
        state.store.issue_device_code(
            device_code.clone(),
            DeviceCode {
                grant: UserGrant {
                    tenant,
                    client_id: client_id.to_owned(),
                    upn,
                    scope,
                },
                approved_at: now.plus(state.config.device_code_approve_after),
                expires_at: now.plus(std::time::Duration::from_secs(DEVICE_CODE_LIFETIME)),
            },
        );
        let message = format!(
            "To sign in, use a web browser to open the page {VERIFICATION_URI} and enter the code {user_code} to authenticate."
        );
        Ok::<_, EntraError>(match flavor {
            Flavor::V2 => json_response(
                StatusCode::OK,
                &DeviceV2 {
                    user_code,
                    device_code,
                    verification_uri: VERIFICATION_URI,
                    expires_in: DEVICE_CODE_LIFETIME,
                    interval: INTERVAL,
                    message,
                },
            ),
            Flavor::V1 => json_response(
                StatusCode::OK,
                &DeviceV1 {
                    user_code,
                    device_code,
                    verification_url: VERIFICATION_URI,
                    expires_in: DEVICE_CODE_LIFETIME.to_string(),
                    interval: INTERVAL.to_string(),
                    message,
                },
            ),
        })
    }
    .await;
    answer.unwrap_or_else(|e| e.render(state.clock.now(), &parts.headers))
}

/// Nine characters from an alphabet without look-alikes, as Entra's codes read (`ABCD1EFGH`).
fn user_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    uuid::Uuid::new_v4().as_bytes()[..9]
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}
