//! The HTTPS listener over real TLS: clients that resolve Partner Center's and Entra ID's host
//! names to the emulator and trust only its CA, certificate names, CA reuse across restarts,
//! certificates users bring, and clients that never finish (or never start) a handshake.
//!
//! The reqwest client here is built without any built-in or platform roots, so the CA variables
//! these machines export (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, …) cannot make a test pass.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use partner_center_emulator::config::Config;
use partner_center_emulator::{AppState, serve, serve_tls, startup};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::*;

const HOSTS: [&str; 3] = [
    "api.partnercenter.microsoft.com",
    "login.microsoftonline.com",
    "login.windows.net",
];

/// An emulator with both listeners, built the way the binary builds it.
struct TlsApp {
    /// Plain HTTP, for the same state.
    http: TestApp,
    https: SocketAddr,
    ca_pem: Option<String>,
}

fn temp_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("pce-tls-test-{name}-{}", uuid::Uuid::new_v4()))
}

fn tls_config(dir: &Path) -> Config {
    let mut config = Config::for_tests();
    config.tls_bind = Some("127.0.0.1:0".into());
    config.tls_dir = Some(dir.to_path_buf());
    config.header_read_timeout = Duration::from_millis(500);
    config
}

async fn spawn_tls(config: Config) -> TlsApp {
    let (state, tls) = startup::build_with_tls(config).expect("start-up succeeds");
    let tls = tls.expect("TLS is configured");
    spawn_both(state, tls.server_config).await
}

async fn spawn_both(state: AppState, tls: Arc<rustls::ServerConfig>) -> TlsApp {
    let ca_pem = state.ca_pem.get().cloned();
    let https = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let https_addr = https.local_addr().expect("addr");
    tokio::spawn(serve_tls(https, tls, state.clone(), std::future::pending()));
    let http = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = format!("http://{}", http.local_addr().expect("addr"));
    tokio::spawn(serve(http, state, std::future::pending()));
    TlsApp {
        http: TestApp::at(&address),
        https: https_addr,
        ca_pem,
    }
}

/// A client that trusts only `ca_pem` and sends every name below to the emulator.
fn client_trusting(ca_pem: &str, https: SocketAddr, names: &[&str]) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("PEM"))
        .timeout(Duration::from_secs(10));
    for name in names {
        builder = builder.resolve(name, https);
    }
    builder.build().expect("client")
}

#[tokio::test]
async fn partner_center_and_entra_host_names_are_served_with_a_certificate_the_ca_signed() {
    let dir = temp_dir("hosts");
    let app = spawn_tls(tls_config(&dir)).await;
    let ca = app.ca_pem.clone().expect("a local CA");
    let client = client_trusting(&ca, app.https, &[&HOSTS[..], &["localhost"]].concat());
    let port = app.https.port();
    for host in HOSTS.iter().chain(&["localhost", "127.0.0.1"]) {
        let response = client
            .get(format!("https://{host}:{port}/_emulator/health"))
            .send_checked()
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{host}");
        let body: serde_json::Value = response.json().expect("JSON");
        assert_eq!(body["status"], "ok", "{host}");
    }
    // The CA the emulator serves is the one in the directory, and the one that verified above.
    let served = app
        .http
        .control(reqwest::Method::GET, "/_emulator/ca.pem", None)
        .await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(
        served.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/x-pem-file"[..])
    );
    let on_disk = std::fs::read_to_string(dir.join("ca.pem")).expect("ca.pem");
    assert_eq!(served.text().expect("text"), on_disk);
    assert_eq!(on_disk, ca);
    assert!(!on_disk.contains("PRIVATE KEY"));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_name_the_certificate_does_not_carry_is_refused_by_the_client() {
    let dir = temp_dir("foreign-name");
    let app = spawn_tls(tls_config(&dir)).await;
    let ca = app.ca_pem.clone().expect("a local CA");
    let client = client_trusting(&ca, app.https, &["graph.microsoft.com"]);
    let err = client
        .get(format!(
            "https://graph.microsoft.com:{}/_emulator/health",
            app.https.port()
        ))
        .send_refused()
        .await;
    let chain = format!("{err:?}");
    assert!(chain.contains("NotValidForName"), "{chain}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_client_that_trusts_another_ca_is_refused() {
    let dir = temp_dir("other-ca");
    let other = temp_dir("other-ca-2");
    let app = spawn_tls(tls_config(&dir)).await;
    let other_ca = partner_center_emulator::tls::ca_pem(&other).expect("another CA");
    let client = client_trusting(&other_ca, app.https, &HOSTS);
    let err = client
        .get(format!(
            "https://api.partnercenter.microsoft.com:{}/_emulator/health",
            app.https.port()
        ))
        .send_refused()
        .await;
    assert!(format!("{err:?}").contains("UnknownIssuer"), "{err:?}");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&other).ok();
}

#[tokio::test]
async fn extra_names_from_tls_san_are_in_the_certificate() {
    let dir = temp_dir("san");
    let mut config = tls_config(&dir);
    config.tls_san = vec!["emulator".into(), "pce.test".into()];
    let app = spawn_tls(config).await;
    let ca = app.ca_pem.clone().expect("a local CA");
    let client = client_trusting(&ca, app.https, &["emulator", "pce.test"]);
    for host in ["emulator", "pce.test"] {
        let response = client
            .get(format!(
                "https://{host}:{}/_emulator/health",
                app.https.port()
            ))
            .send_checked()
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_ca_is_made_once_and_reused_across_restarts() {
    let dir = temp_dir("restart");
    let first = spawn_tls(tls_config(&dir)).await;
    let ca = first.ca_pem.clone().expect("a local CA");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in ["ca-key.pem", "server-key.pem"] {
            let mode = std::fs::metadata(dir.join(key))
                .expect(key)
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
    }
    // A second emulator on the same directory: same CA, so a client set up once keeps working.
    let second = spawn_tls(tls_config(&dir)).await;
    assert_eq!(second.ca_pem.as_deref(), Some(ca.as_str()));
    let client = client_trusting(&ca, second.https, &HOSTS);
    let response = client
        .get(format!(
            "https://login.microsoftonline.com:{}/_emulator/health",
            second.https.port()
        ))
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn partner_center_routes_behave_the_same_over_https_and_share_state_with_http() {
    let dir = temp_dir("routes");
    let app = spawn_tls(tls_config(&dir)).await;
    let ca = app.ca_pem.clone().expect("a local CA");
    let client = client_trusting(&ca, app.https, &HOSTS);
    let base = format!(
        "https://api.partnercenter.microsoft.com:{}",
        app.https.port()
    );
    let response = client
        .post(format!("{base}/v1/customers/{CUSTOMER}/deviceBatches"))
        .header("Authorization", TOKEN)
        .json(&json!({"batchId": "over-tls", "devices": [pk("PK-TLS-1")]}))
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.headers().get("content-length").unwrap(), "0");
    let location = location(&response);
    assert!(location.starts_with(&format!("/customers/{CUSTOMER}/batchJobStatus/")));
    // The same emulator state answers on the plain listener.
    let batches = app
        .http
        .get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
        .await;
    assert_eq!(batches["items"][0]["id"], "over-tls");
    // Errors are the same envelope.
    let response = client
        .get(format!("{base}/v1/customers/{CUSTOMER}/deviceBatches"))
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    std::fs::remove_dir_all(&dir).ok();
}

/// A raw TLS connection to the emulator as `api.partnercenter.microsoft.com`.
async fn raw_tls(ca_pem: &str, https: SocketAddr) -> tokio_rustls::client::TlsStream<TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("PEM"))
        .expect("a CA certificate");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(https).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("api.partnercenter.microsoft.com")
        .expect("a DNS name");
    connector.connect(name, tcp).await.expect("handshake")
}

async fn read_until(stream: &mut (impl AsyncReadExt + Unpin), needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer within 5 s")
            .expect("read");
        assert!(
            n > 0,
            "closed before {needle:?}: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn expect_100_continue_and_keep_alive_work_over_tls() {
    let dir = temp_dir("expect");
    let app = spawn_tls(tls_config(&dir)).await;
    let ca = app.ca_pem.clone().expect("a local CA");
    let mut tls = raw_tls(&ca, app.https).await;
    let body = json!({"batchId": "expect", "devices": [pk("PK-EXPECT")]}).to_string();
    let head = format!(
        "POST /v1/customers/{CUSTOMER}/deviceBatches HTTP/1.1\r\nHost: api.partnercenter.microsoft.com\r\nAuthorization: {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.expect("write head");
    let interim = read_until(&mut tls, "\r\n\r\n").await;
    assert!(
        interim.starts_with("HTTP/1.1 100 Continue\r\n"),
        "{interim}"
    );
    tls.write_all(body.as_bytes()).await.expect("write body");
    let answer = read_until(&mut tls, "content-length: 0\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 202 Accepted\r\n"), "{answer}");
    // The connection stays open for the next request.
    tls.write_all(
        b"GET /_emulator/health HTTP/1.1\r\nHost: api.partnercenter.microsoft.com\r\n\r\n",
    )
    .await
    .expect("write");
    let health = read_until(&mut tls, "\"status\":\"ok\"").await;
    assert!(health.contains("HTTP/1.1 200 OK\r\n"), "{health}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Reads until the peer closes; `None` if it has not within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read_all).await.ok()?;
    Some(seen)
}

#[tokio::test]
async fn a_handshake_that_never_completes_is_closed_after_the_header_timeout() {
    let dir = temp_dir("stall");
    let app = spawn_tls(tls_config(&dir)).await;
    let mut silent = TcpStream::connect(app.https).await.expect("connect");
    // Half a ClientHello, then nothing.
    silent
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .expect("write");
    let started = std::time::Instant::now();
    let got = closed_within(&mut silent, Duration::from_secs(5))
        .await
        .expect("closed by the server well before 5 s");
    assert!(got.is_empty(), "nothing is answered: {got:?}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    // Others are served meanwhile and after.
    let ca = app.ca_pem.clone().expect("a local CA");
    let response = client_trusting(&ca, app.https, &HOSTS)
        .get(format!(
            "https://api.partnercenter.microsoft.com:{}/_emulator/health",
            app.https.port()
        ))
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn plain_http_on_the_tls_port_gets_no_http_answer_and_harms_nothing() {
    let dir = temp_dir("plain");
    let app = spawn_tls(tls_config(&dir)).await;
    let mut plain = TcpStream::connect(app.https).await.expect("connect");
    plain
        .write_all(b"GET /_emulator/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let got = closed_within(&mut plain, Duration::from_secs(5))
        .await
        .expect("closed");
    // At most a TLS alert record (content type 21), never an HTTP answer.
    assert!(got.is_empty() || got[0] == 0x15, "{got:?}");
    assert!(!String::from_utf8_lossy(&got).contains("HTTP/1.1"));
    let ca = app.ca_pem.clone().expect("a local CA");
    let response = client_trusting(&ca, app.https, &HOSTS)
        .get(format!(
            "https://login.windows.net:{}/_emulator/health",
            app.https.port()
        ))
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    std::fs::remove_dir_all(&dir).ok();
}

/// A self-signed certificate for Partner Center's host, and its key, as PEM.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf, String) {
    std::fs::create_dir_all(dir).expect("dir");
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec![
        "api.partnercenter.microsoft.com".to_owned(),
        "login.microsoftonline.com".to_owned(),
    ])
    .expect("params");
    let cert = params.self_signed(&key).expect("cert");
    let cert_path = dir.join("mine.pem");
    let key_path = dir.join("mine-key.pem");
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (cert_path, key_path, cert.pem())
}

#[tokio::test]
async fn a_certificate_the_user_brings_is_served_and_no_ca_is_made() {
    let dir = temp_dir("byo");
    let (cert, key, pem) = self_signed(&dir);
    let mut config = tls_config(&dir.join("unused"));
    config.tls_cert = Some(cert);
    config.tls_key = Some(key);
    let app = spawn_tls(config).await;
    assert!(app.ca_pem.is_none());
    assert!(!dir.join("unused").join("ca.pem").exists());
    let client = client_trusting(&pem, app.https, &HOSTS);
    let response = client
        .get(format!(
            "https://api.partnercenter.microsoft.com:{}/_emulator/health",
            app.https.port()
        ))
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .http
        .control(reqwest::Method::GET, "/_emulator/ca.pem", None)
        .await;
    assert_error(
        response,
        StatusCode::NOT_FOUND,
        envelope(
            1000,
            "No local CA: the emulator makes one only for its HTTPS listener (start it with --tls-bind), and not when it serves your --tls-cert.",
            &[],
        ),
    )
    .await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn without_tls_there_is_no_ca_to_serve() {
    let app = spawn_app().await;
    let response = app
        .control(reqwest::Method::GET, "/_emulator/ca.pem", None)
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[test]
fn a_missing_unreadable_or_mismatched_certificate_refuses_start_up() {
    let dir = temp_dir("bad");
    let (cert, key, _) = self_signed(&dir);
    let (_, other_key, _) = self_signed(&dir.join("other"));
    let with = |cert: &Path, key: &Path| {
        let mut config = tls_config(&dir.join("ca"));
        config.tls_cert = Some(cert.to_path_buf());
        config.tls_key = Some(key.to_path_buf());
        startup::build_with_tls(config).expect_err("refused")
    };
    let missing = dir.join("nope.pem");
    assert_eq!(
        with(&missing, &key),
        format!(
            "cannot read --tls-cert {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    assert_eq!(
        with(&cert, &missing),
        format!(
            "cannot read --tls-key {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").expect("write");
    assert_eq!(
        with(&garbage, &key),
        format!(
            "--tls-cert {} holds no CERTIFICATE block",
            garbage.display()
        )
    );
    let err = with(&cert, &garbage);
    assert!(
        err.starts_with(&format!(
            "--tls-key {} holds no PEM private key",
            garbage.display()
        )),
        "{err}"
    );
    let err = with(&cert, &other_key);
    assert!(
        err.starts_with(&format!(
            "--tls-cert {} and --tls-key {} cannot be used together:",
            cert.display(),
            other_key.display()
        )),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn run_binary(args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_partner-center-emulator"));
    command.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("PCE_") {
            command.env_remove(key);
        }
    }
    command.output().expect("the binary ran")
}

#[test]
fn the_ca_subcommand_prints_the_ca_and_makes_one_if_needed() {
    let dir = temp_dir("subcommand");
    let dir_arg = dir.to_str().expect("UTF-8 path");
    let first = run_binary(&["ca", "--tls-dir", dir_arg]);
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let printed = String::from_utf8(first.stdout).expect("UTF-8");
    assert_eq!(
        printed,
        std::fs::read_to_string(dir.join("ca.pem")).expect("ca.pem")
    );
    assert!(printed.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(!printed.contains("PRIVATE KEY"));
    let again = run_binary(&["ca", "--tls-dir", dir_arg]);
    assert_eq!(String::from_utf8(again.stdout).expect("UTF-8"), printed);
    // Half a CA is reported, not replaced.
    std::fs::remove_file(dir.join("ca-key.pem")).expect("remove");
    let broken = run_binary(&["ca", "--tls-dir", dir_arg]);
    assert_eq!(broken.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(broken.stderr).expect("UTF-8"),
        format!(
            "partner-center-emulator ca: {} exists but {} does not: restore the key, or remove both to make a new CA\n",
            dir.join("ca.pem").display(),
            dir.join("ca-key.pem").display()
        )
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_ipv6_loopback_address_is_in_the_certificate() {
    // Machines without IPv6 loopback cannot run this; they prove nothing either way.
    let Ok(listener) = TcpListener::bind("[::1]:0").await else {
        return;
    };
    let dir = temp_dir("ipv6");
    let (state, tls) = startup::build_with_tls(tls_config(&dir)).expect("start-up succeeds");
    let tls = tls.expect("TLS is configured");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve_tls(
        listener,
        tls.server_config,
        state,
        std::future::pending(),
    ));
    let ca = tls.ca_pem.expect("a local CA");
    let response = client_trusting(&ca, addr, &[])
        .get(format!("https://[::1]:{}/_emulator/health", addr.port()))
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    std::fs::remove_dir_all(&dir).ok();
}

/// The mock Entra ID over HTTPS: metadata names `https` and the host the client used, tokens
/// carry the same issuer, the signing key lives beside the CA, and `--auth jwt` takes them.
#[tokio::test]
async fn entra_metadata_and_tokens_over_https_name_the_host_the_client_used() {
    let dir = temp_dir("entra");
    let mut config = tls_config(&dir);
    config.auth = partner_center_emulator::config::AuthMode::Jwt;
    let app = spawn_tls(config).await;
    let ca = app.ca_pem.clone().expect("a local CA");
    let client = client_trusting(&ca, app.https, &HOSTS);
    let port = app.https.port();
    let login = format!("https://login.microsoftonline.com:{port}");
    let metadata: serde_json::Value = client
        .get(format!(
            "{login}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
        ))
        .send_checked()
        .await
        .json()
        .expect("JSON");
    let tid = partner_center_emulator::identity::directory::derived_guid(
        "tenant",
        "contoso.onmicrosoft.com",
    );
    assert_eq!(metadata["issuer"], format!("{login}/{tid}/v2.0"));
    assert_eq!(
        metadata["token_endpoint"],
        format!("{login}/{tid}/oauth2/v2.0/token")
    );
    let token: serde_json::Value = client
        .post(metadata["token_endpoint"].as_str().expect("a URL"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "app"),
            ("username", "alice@contoso.onmicrosoft.com"),
            ("password", "pw"),
            (
                "scope",
                "https://api.partnercenter.microsoft.com/.default openid",
            ),
        ])
        .send_checked()
        .await
        .json()
        .expect("JSON");
    let (_, id) = crate::identity::decode(token["id_token"].as_str().expect("an id token"));
    assert_eq!(id["iss"], metadata["issuer"]);
    assert!(dir.join("token-signing-key.pem").exists());
    let access = token["access_token"].as_str().expect("an access token");
    let response = client
        .get(format!(
            "https://api.partnercenter.microsoft.com:{port}/v1/customers/{CUSTOMER}/deviceBatches"
        ))
        .header("Authorization", format!("Bearer {access}"))
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    std::fs::remove_dir_all(&dir).ok();
}
