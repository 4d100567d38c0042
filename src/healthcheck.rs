//! The `healthcheck` subcommand: asks a running emulator for `GET /_emulator/health`, so that a
//! container image without a shell or curl can still be health-checked by its own binary.

use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long the whole check (connect, request, status line) may take.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Exits 0 when the emulator at `url` answers 200 within 2 s, 1 otherwise, saying why on stderr.
pub async fn run(url: &str) -> ExitCode {
    let started = Instant::now();
    match check(url, TIMEOUT).await {
        Ok(target) => {
            println!(
                "healthy: {target} answered 200 OK in {} ms",
                started.elapsed().as_millis()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why a health check failed.
#[derive(Debug)]
pub enum Unhealthy {
    BadUrl { url: String, reason: String },
    Connect { addr: String, error: std::io::Error },
    Timeout { target: String, after: Duration },
    Exchange { target: String, error: hyper::Error },
    Status { target: String, status: StatusCode },
}

impl fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl { url, reason } => write!(f, "bad URL `{url}`: {reason}"),
            Self::Connect { addr, error } => write!(f, "cannot connect to {addr}: {error}"),
            Self::Timeout { target, after } => {
                write!(f, "{target} did not answer within {}s", after.as_secs_f64())
            }
            Self::Exchange { target, error } => write!(f, "{target}: {error}"),
            Self::Status { target, status } => {
                write!(f, "{target} answered {status}, expected 200 OK")
            }
        }
    }
}

impl std::error::Error for Unhealthy {}

/// Checks `GET {base}/_emulator/health` and returns the URL it asked when that answered 200.
pub async fn check(base: &str, timeout: Duration) -> Result<String, Unhealthy> {
    let target = health_target(base)?;
    let shown = target.uri.to_string();
    match tokio::time::timeout(timeout, exchange(&target)).await {
        Ok(Ok(StatusCode::OK)) => Ok(shown),
        Ok(Ok(status)) => Err(Unhealthy::Status {
            target: shown,
            status,
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Unhealthy::Timeout {
            target: shown,
            after: timeout,
        }),
    }
}

/// Where to connect and what to ask for.
struct Target {
    /// `host:port` to connect to, with a wildcard bind address replaced by loopback.
    addr: String,
    uri: Uri,
}

/// Builds the health URL from a base URL such as `http://0.0.0.0:8080`.
fn health_target(base: &str) -> Result<Target, Unhealthy> {
    let bad = |reason: &str| Unhealthy::BadUrl {
        url: base.to_owned(),
        reason: reason.to_owned(),
    };
    let base_uri: Uri = base
        .parse()
        .map_err(|e| bad(&format!("{e}; expected http://host:port")))?;
    match base_uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(bad(&format!(
                "scheme `{other}` is not supported; the emulator speaks plain http://"
            )));
        }
        None => return Err(bad("no scheme; expected http://host:port")),
    }
    let host = match base_uri.host() {
        Some("") | None => return Err(bad("no host; expected http://host:port")),
        // The server may listen on every interface (`--bind 0.0.0.0:8080` in the container
        // image); that is not an address to connect to, but loopback reaches the same socket.
        Some("0.0.0.0") => "127.0.0.1",
        Some("[::]") => "[::1]",
        Some(host) => host,
    };
    let port = base_uri.port_u16().unwrap_or(80);
    let addr = format!("{host}:{port}");
    let path = base_uri.path().trim_end_matches('/');
    let uri = format!("http://{addr}{path}/_emulator/health")
        .parse()
        .map_err(|e| bad(&format!("{e}")))?;
    Ok(Target { addr, uri })
}

/// One request on one connection: a health check needs no pool.
async fn exchange(target: &Target) -> Result<StatusCode, Unhealthy> {
    let shown = || target.uri.to_string();
    let stream = TcpStream::connect(&target.addr)
        .await
        .map_err(|error| Unhealthy::Connect {
            addr: target.addr.clone(),
            error,
        })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| Unhealthy::Exchange {
            target: shown(),
            error,
        })?;
    // The connection task ends when `sender` is dropped or the server closes the socket.
    tokio::spawn(connection);
    let path = target
        .uri
        .path_and_query()
        .map_or("/_emulator/health", |p| p.as_str());
    let request = Request::get(path)
        .header(hyper::header::HOST, target.addr.as_str())
        .header(
            hyper::header::USER_AGENT,
            concat!(
                "partner-center-emulator-healthcheck/",
                env!("CARGO_PKG_VERSION")
            ),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| Unhealthy::BadUrl {
            url: shown(),
            reason: e.to_string(),
        })?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| Unhealthy::Exchange {
            target: shown(),
            error,
        })?;
    Ok(response.status())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(base: &str) -> (String, String) {
        let t = health_target(base).expect("a good URL");
        (t.addr, t.uri.to_string())
    }

    #[test]
    fn wildcard_binds_are_reached_through_loopback() {
        assert_eq!(
            target("http://0.0.0.0:8080"),
            (
                "127.0.0.1:8080".to_owned(),
                "http://127.0.0.1:8080/_emulator/health".to_owned()
            )
        );
        assert_eq!(
            target("http://[::]:9000/"),
            (
                "[::1]:9000".to_owned(),
                "http://[::1]:9000/_emulator/health".to_owned()
            )
        );
    }

    #[test]
    fn hosts_ports_and_prefixes_are_kept() {
        assert_eq!(
            target("http://emulator"),
            (
                "emulator:80".to_owned(),
                "http://emulator:80/_emulator/health".to_owned()
            )
        );
        assert_eq!(
            target("http://localhost:8080/behind/a/proxy/"),
            (
                "localhost:8080".to_owned(),
                "http://localhost:8080/behind/a/proxy/_emulator/health".to_owned()
            )
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let reason = |base: &str| match health_target(base) {
            Err(Unhealthy::BadUrl { reason, .. }) => reason,
            Err(other) => panic!("{base}: {other}"),
            Ok(_) => panic!("{base} was accepted"),
        };
        assert_eq!(
            reason("https://127.0.0.1:8080"),
            "scheme `https` is not supported; the emulator speaks plain http://"
        );
        assert_eq!(
            reason("127.0.0.1:8080"),
            "no scheme; expected http://host:port"
        );
        assert!(
            reason("http://bad host").ends_with("; expected http://host:port"),
            "{}",
            reason("http://bad host")
        );
    }
}
