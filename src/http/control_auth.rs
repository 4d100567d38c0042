//! Locks the control plane. With `--control-token`, every `/_emulator/*` route but `health` (for
//! container health checks) and the dashboard page (which holds no data) needs
//! `Authorization: Bearer <token>`: 401 otherwise. Without a token, requests that only a web page
//! of another site could have sent are refused: a cross-site `Origin`, a browser fetch whose
//! `Host` is a name the emulator does not go by (DNS rebinding), and writes that do not declare
//! JSON (a form or `text/plain` post needs no CORS preflight; `application/json` does).

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, code};
use crate::app::AppState;

/// Control-plane routes that stay open whatever the configuration.
const OPEN: [&str; 2] = ["/_emulator/health", "/_emulator/ui"];

/// The middleware on every control-plane route. It runs before any handler, so nothing (not
/// even the summary's 304) answers before it.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if OPEN.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let refused = match state.config.control_token.as_ref() {
        Some(token) => authorized(req.headers(), token.expose()),
        None => same_site(&state, req.method(), req.headers()),
    };
    match refused {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn authorized(headers: &HeaderMap, token: &str) -> Result<(), ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match given {
        Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => Ok(()),
        _ => Err(ApiError::control_unauthorized()),
    }
}

/// Compares without stopping at the first difference, so timing does not reveal a prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn same_site(state: &AppState, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
    };
    let origin = text("origin");
    let fetch_site = text("sec-fetch-site");
    // Browsers mark their requests; command-line clients and test frameworks do not.
    let browser = origin.is_some() || fetch_site.is_some() || text("sec-fetch-mode").is_some();
    let host = text("host").unwrap_or_default();
    if browser && !known_host(state, &host) {
        return Err(cross_site(&format!(
            "a browser request for the host `{host}`, which this emulator does not go by (use 127.0.0.1, localhost, or a name given with --tls-san)"
        )));
    }
    if let Some(origin) = &origin {
        let authority = origin
            .split_once("://")
            .map(|(_, rest)| rest.trim_end_matches('/'));
        if !authority.is_some_and(|a| a.eq_ignore_ascii_case(&host)) {
            return Err(cross_site(&format!(
                "a request from the page of another origin (`Origin: {origin}`)"
            )));
        }
    }
    if let Some(site) = fetch_site.as_deref()
        && !matches!(site, "same-origin" | "none")
    {
        return Err(cross_site(&format!(
            "a request from another site (`Sec-Fetch-Site: {site}`)"
        )));
    }
    let write = !matches!(*method, Method::GET | Method::HEAD);
    let content_type = text("content-type");
    let json = content_type.as_deref().is_some_and(|t| {
        let essence = t.split(';').next().unwrap_or("").trim();
        // `text/json`, which the bodies' parser also takes, needs a preflight too.
        essence.eq_ignore_ascii_case("application/json")
            || essence.eq_ignore_ascii_case("text/json")
    });
    let body = headers
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || headers.contains_key(header::TRANSFER_ENCODING);
    // A bodiless write from a command-line client (`curl -X POST …/reset`) needs no type; one a
    // browser sends, or one with a body, must say JSON, which no page can send cross-site
    // without a preflight the emulator never grants.
    if write && !json && (browser || body || content_type.is_some()) {
        return Err(ApiError::unsupported_media_type(content_type.as_deref()));
    }
    Ok(())
}

/// Whether `host` (a `Host` header, port included) names this emulator: an IP address,
/// `localhost` (and its subdomains), the real services' hosts it answers as, or a `--tls-san`.
fn known_host(state: &AppState, host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    }
    .trim_end_matches('.')
    .to_ascii_lowercase();
    name.parse::<IpAddr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || crate::tls::DEFAULT_SANS.contains(&name.as_str())
        || state
            .config
            .tls_san
            .iter()
            .any(|san| san.eq_ignore_ascii_case(&name))
}

fn cross_site(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        code::ACCESS_DENIED,
        format!(
            "Access denied: the control plane refuses {what}. Set --control-token to reach it from elsewhere with `Authorization: Bearer <token>`."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3cre"));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
    }
}
