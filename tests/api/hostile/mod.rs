//! Hostile input: a populated emulator, a snapshot of everything a client can list, and raw TCP
//! requests for what HTTP clients refuse to send. Every case ends with the state unchanged.

mod bodies;
mod slowloris;
mod wire;

use std::time::Duration;

use partner_center_emulator::Config;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// A batch of the fixture, and its devices.
pub const BATCH: &str = "Fixture";

/// An emulator holding two policies, a batch of three registered devices (the first with a
/// profile) and another customer's batch.
pub struct Populated {
    pub app: TestApp,
    pub devices: Vec<String>,
    pub policy: String,
}

pub async fn populated(config: Config) -> Populated {
    let app = spawn_with(config).await;
    let policy = app.create_policy(CUSTOMER, "Hostile Profile").await["id"]
        .as_str()
        .expect("policy id")
        .to_owned();
    app.create_policy(CUSTOMER, "Spare Profile").await;
    let devices = app
        .registered_devices(CUSTOMER, BATCH, json!([pk("PK-1"), pk("PK-2"), pk("PK-3")]))
        .await;
    app.registered_devices(OTHER_CUSTOMER, "Theirs", json!([pk("PK-9")]))
        .await;
    let response = app
        .send_json(
            reqwest::Method::PUT,
            &format!(
                "/v1/customers/{CUSTOMER}/deviceBatches/{BATCH}/devices/{}",
                devices[0]
            ),
            &json!({"policies": [{"key": "o_o_b_e", "value": policy}]}),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    Populated {
        app,
        devices,
        policy,
    }
}

/// Everything a client can list: each customer's batches, every page of each batch's devices,
/// and policies.
pub async fn snapshot(app: &TestApp) -> Value {
    let mut customers = serde_json::Map::new();
    for customer in [CUSTOMER, OTHER_CUSTOMER] {
        let batches = app
            .get_json(&format!("/v1/customers/{customer}/deviceBatches"))
            .await;
        let mut devices = serde_json::Map::new();
        for batch in batches["items"].as_array().expect("items") {
            let id = batch["id"].as_str().expect("batch id");
            devices.insert(id.to_owned(), all_devices(app, customer, id).await);
        }
        let policies = app
            .get_json(&format!("/v1/customers/{customer}/policies"))
            .await;
        customers.insert(
            customer.to_owned(),
            json!({"batches": batches, "devices": devices, "policies": policies}),
        );
    }
    Value::Object(customers)
}

async fn all_devices(app: &TestApp, customer: &str, batch: &str) -> Value {
    let path = format!("/v1/customers/{customer}/deviceBatches/{batch}/devices");
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut request = app
            .client
            .get(app.url(&path))
            .header("Authorization", TOKEN);
        if let Some(t) = &token {
            request = request.header("MS-ContinuationToken", t);
        }
        let page: Value = request.send_checked().await.json().expect("JSON");
        token = page["continuationToken"].as_str().map(str::to_owned);
        pages.push(page);
        if token.is_none() {
            return Value::Array(pages);
        }
    }
}

/// An answer read off the wire: status, headers (names lower-cased, values as bytes) and body.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Longest any single raw exchange may take before the test fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn host(app: &TestApp) -> &str {
    app.address.trim_start_matches("http://")
}

/// Writes `request` on a new connection and reads until the server closes it (requests made by
/// [`request`] say `Connection: close`). `None` when the server closed without answering.
pub async fn raw(app: &TestApp, request: &[u8]) -> Option<RawResponse> {
    let mut stream = TcpStream::connect(host(app)).await.expect("connect");
    stream.write_all(request).await.expect("write");
    parse_response(&read_to_close(&mut stream).await)
}

/// Everything the server sends until it closes the connection (a reset counts as a close).
pub async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server did not close the connection");
    received
}

/// Parses one HTTP/1.1 response with a `Content-Length` body (what the emulator writes).
pub fn parse_response(bytes: &[u8]) -> Option<RawResponse> {
    if bytes.is_empty() {
        return None;
    }
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(bytes)));
    let head = &bytes[..end];
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = String::from_utf8_lossy(lines.next().expect("status line")).into_owned();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let headers: Vec<(String, Vec<u8>)> = lines
        .map(|l| {
            let colon = l.iter().position(|&b| b == b':').expect("a header");
            let value = l[colon + 1..].trim_ascii().to_vec();
            (
                String::from_utf8_lossy(&l[..colon]).to_ascii_lowercase(),
                value,
            )
        })
        .collect();
    let body = bytes[end + 4..].to_vec();
    let response = RawResponse {
        status,
        headers,
        body,
    };
    if let Some(len) = response.header("content-length") {
        let len: usize = String::from_utf8_lossy(len).parse().expect("a length");
        assert_eq!(response.body.len(), len, "one whole response, then close");
    }
    Some(response)
}

/// A request head with the bearer token and `Connection: close`, then `body`. `extra_headers`
/// are raw bytes (each line ending in `\r\n`), so they may hold anything.
pub fn request(method: &str, path: &str, extra_headers: impl AsRef<[u8]>, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "{method} {path} HTTP/1.1\r\nHost: emulator\r\nAuthorization: {TOKEN}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(extra_headers.as_ref());
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body);
    bytes
}

/// Asserts an envelope answer read off the wire, whole.
pub fn assert_raw_error(response: &RawResponse, status: u16, expected: Value) {
    assert_eq!(
        response.status,
        status,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(
        response.header("content-type"),
        Some(&b"application/json; charset=utf-8"[..])
    );
    assert_eq!(response.json(), expected);
}
