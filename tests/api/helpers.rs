//! `spawn_app()` and typed helpers: a real emulator on 127.0.0.1:0 with a manual clock. Every
//! answer a test receives goes through [`SendChecked::send_checked`], which validates it against
//! the OpenAPI document before the test sees it.

use std::future::Future;
use std::time::Duration;

use partner_center_emulator::domain::timestamp::Timestamp;
use partner_center_emulator::{AppState, Clock, Config, serve};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::schema::{check_fault_response, check_response};

/// A whole answer, read and already checked against the document.
#[derive(Debug)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Response {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body as JSON. The body was read whole before it was checked, so nothing is awaited.
    pub fn json<T: DeserializeOwned>(self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.body)
    }

    pub fn bytes(self) -> Vec<u8> {
        self.body
    }

    pub fn text(self) -> Result<String, std::string::FromUtf8Error> {
        String::from_utf8(self.body)
    }
}

/// Sends a request, reads the whole answer and validates it against the OpenAPI document: the
/// documented operation, status, headers and body schema (see `schema::check_response`).
pub trait SendChecked {
    fn send_checked(self) -> impl Future<Output = Response> + Send;

    /// For requests a fault rule may answer: an error status is checked as a fault answer (the
    /// throttling body for 429, the envelope otherwise), anything else as `send_checked` does.
    fn send_faultable(self) -> impl Future<Output = Response> + Send;

    /// For requests a `drop` rule answers: true when the connection closed without an answer.
    fn send_unanswered(self) -> impl Future<Output = bool> + Send;

    /// For requests to a server that may be stopping or killed: `None` when no whole answer
    /// came, else the answer, checked as `send_checked` checks it.
    fn try_send_checked(self) -> impl Future<Output = Option<Response>> + Send;

    /// For requests that must fail before any answer (a TLS certificate the client refuses):
    /// the error, so a test can say which failure it expected.
    fn send_refused(self) -> impl Future<Output = reqwest::Error> + Send;
}

async fn send_and_read(builder: RequestBuilder) -> (String, String, Response) {
    let (client, request) = builder.build_split();
    let request = request.expect("a well-formed request");
    let method = request.method().as_str().to_owned();
    let path = request.url().path().to_owned();
    let response = client.execute(request).await.expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("whole body read").to_vec();
    (
        method,
        path,
        Response {
            status,
            headers,
            body,
        },
    )
}

impl SendChecked for RequestBuilder {
    async fn send_checked(self) -> Response {
        let (method, path, response) = send_and_read(self).await;
        let (status, headers, body) = (&response.status, &response.headers, &response.body);
        check_response(&method, &path, status.as_u16(), headers, body);
        response
    }

    async fn send_faultable(self) -> Response {
        let (method, path, response) = send_and_read(self).await;
        let (status, headers, body) = (&response.status, &response.headers, &response.body);
        if status.as_u16() >= 400 {
            check_fault_response(&method, &path, status.as_u16(), headers, body);
        } else {
            check_response(&method, &path, status.as_u16(), headers, body);
        }
        response
    }

    async fn send_unanswered(self) -> bool {
        let (client, request) = self.build_split();
        client
            .execute(request.expect("a well-formed request"))
            .await
            .is_err()
    }

    async fn try_send_checked(self) -> Option<Response> {
        let (client, request) = self.build_split();
        let request = request.expect("a well-formed request");
        let method = request.method().as_str().to_owned();
        let path = request.url().path().to_owned();
        let response = client.execute(request).await.ok()?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.ok()?.to_vec();
        check_response(&method, &path, status.as_u16(), &headers, &body);
        Some(Response {
            status,
            headers,
            body,
        })
    }

    async fn send_refused(self) -> reqwest::Error {
        let (client, request) = self.build_split();
        match client
            .execute(request.expect("a well-formed request"))
            .await
        {
            Ok(response) => panic!("expected no answer, got {}", response.status()),
            Err(e) => e,
        }
    }
}

pub const T0: &str = "2026-11-21T10:00:00Z";
pub const CUSTOMER: &str = "c7f3c849-129f-4b85-a96d-4f8e88b315a3";
pub const OTHER_CUSTOMER: &str = "47021739-3426-40bf-9601-61b4b6d7c793";
pub const TOKEN: &str = "Bearer test-token";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: Clock,
    /// How long an upload job takes from acceptance to its result, with this app's timings.
    pub job_takes: Duration,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Config::for_tests()).await
}

pub async fn spawn_with(config: Config) -> TestApp {
    let clock = Clock::manual(Timestamp::parse_rfc3339(T0).expect("T0 is RFC 3339"));
    spawn_state(AppState::new(config, clock)).await
}

/// Serves an already built state (e.g. from `startup::build`).
pub async fn spawn_state(state: AppState) -> TestApp {
    let clock = state.clock.clone();
    let job_takes = state.config.queued_for + state.config.processing_for;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = format!("http://{}", listener.local_addr().expect("local addr"));
    tokio::spawn(serve(listener, state, std::future::pending()));
    TestApp {
        address,
        client: reqwest::Client::new(),
        clock,
        job_takes,
    }
}

impl TestApp {
    /// A client for an emulator running elsewhere (e.g. the binary); its clock is not reachable.
    pub fn at(address: &str) -> Self {
        TestApp {
            address: address.to_owned(),
            client: reqwest::Client::new(),
            clock: Clock::system(),
            job_takes: Duration::ZERO,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Moves the clock past the end of every job accepted so far, whatever the app's timings.
    pub fn finish_jobs(&self) {
        self.clock.advance(self.job_takes).expect("manual clock");
    }

    pub fn advance(&self, seconds: u64) {
        self.clock
            .advance(Duration::from_secs(seconds))
            .expect("manual clock");
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .header("Authorization", TOKEN)
            .json(body)
            .send_checked()
            .await
    }

    /// A control-plane call (no token), with an optional JSON body.
    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send_checked().await
    }

    /// A Partner Center GET that a fault rule may answer.
    pub async fn get_faultable(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("Authorization", TOKEN)
            .send_faultable()
            .await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("Authorization", TOKEN)
            .send_checked()
            .await
    }

    /// GETs a path that must answer 200 with JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap()),
            Some("application/json; charset=utf-8")
        );
        response.json().expect("JSON body")
    }

    pub async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> Response {
        self.client
            .request(method, self.url(path))
            .header("Authorization", TOKEN)
            .json(body)
            .send_checked()
            .await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .header("Authorization", TOKEN)
            .send_checked()
            .await
    }

    /// Uploads devices into a new batch, lets the job finish, and returns the device ids.
    pub async fn registered_devices(
        &self,
        customer: &str,
        batch: &str,
        devices: Value,
    ) -> Vec<String> {
        let location = self.create_batch(customer, batch, devices).await;
        self.finish_jobs();
        self.job(&location).await["devicesStatus"]
            .as_array()
            .expect("devicesStatus")
            .iter()
            .map(|d| d["deviceId"].as_str().expect("registered").to_owned())
            .collect()
    }

    /// Creates a policy and returns its body.
    pub async fn create_policy(&self, customer: &str, name: &str) -> Value {
        let body = json!({"name": name, "category": "o_o_b_e", "policySettings": ["skip_eula"]});
        let response = self
            .post_json(&format!("/v1/customers/{customer}/policies"), &body)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().expect("JSON body")
    }

    /// Creates a batch and returns the job's `Location`.
    pub async fn create_batch(&self, customer: &str, batch: &str, devices: Value) -> String {
        let body = json!({"batchId": batch, "devices": devices});
        let response = self
            .post_json(&format!("/v1/customers/{customer}/deviceBatches"), &body)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::ACCEPTED,
            "{:?}",
            response.text()
        );
        location(&response)
    }

    /// Uploads devices into a batch and returns the job's `Location`.
    pub async fn add_devices(&self, customer: &str, batch: &str, devices: Value) -> String {
        let path = format!("/v1/customers/{customer}/deviceBatches/{batch}/devices");
        let response = self.post_json(&path, &devices).await;
        assert_eq!(
            response.status(),
            StatusCode::ACCEPTED,
            "{:?}",
            response.text()
        );
        location(&response)
    }

    /// Reads a job by the `Location` it was given (relative, without `/v1`).
    pub async fn job(&self, location: &str) -> Value {
        let response = self.get(&format!("/v1{location}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().expect("JSON body")
    }
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .expect("ASCII")
        .to_owned()
}

/// The tracking id: PowerShell reads it as `Location.Split('/')[4]`.
pub fn tracking_id(location: &str) -> String {
    location
        .split('/')
        .nth(4)
        .expect("five segments")
        .to_owned()
}

/// Asserts an error answer: status, the whole envelope, and its content type.
pub async fn assert_error(response: Response, status: StatusCode, expected: Value) {
    assert_eq!(response.status(), status);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/json; charset=utf-8")
    );
    let body: Value = response.json().expect("JSON error body");
    assert_eq!(body, expected);
}

pub fn envelope(code: u32, description: &str, data: &[&str]) -> Value {
    json!({"code": code, "description": description, "data": data, "source": "PartnerFD"})
}

/// Replaces each `deviceId` (checked to be a GUID) with "<guid>" so whole bodies can be compared.
pub fn redact_device_ids(mut job: Value) -> Value {
    if let Some(devices) = job["devicesStatus"].as_array_mut() {
        for d in devices {
            if let Some(id) = d.get("deviceId").and_then(Value::as_str) {
                assert!(uuid::Uuid::parse_str(id).is_ok(), "deviceId {id} is a GUID");
                d["deviceId"] = json!("<guid>");
            }
        }
    }
    job
}

pub fn pk(key: &str) -> Value {
    json!({"productKey": key})
}

pub fn hash(h: &str) -> Value {
    json!({"hardwareHash": h})
}

/// What a `--state-file` holds on disk: the snapshot and the logs that continue it (the one a
/// compaction under way set aside, and the current one).
pub fn on_disk(state_file: &std::path::Path) -> String {
    let mut text = std::fs::read_to_string(state_file).unwrap_or_default();
    for suffix in [".log.old", ".log"] {
        let mut log = state_file.as_os_str().to_owned();
        log.push(suffix);
        text += &std::fs::read_to_string(log).unwrap_or_default();
    }
    text
}

/// The real binary on `127.0.0.1:0` with a JSON log, its address read from the log: the one
/// helper for the tests that start, signal, kill and restart the process.
pub struct Binary {
    child: std::process::Child,
    pub address: String,
}

impl Binary {
    /// Starts the binary with `args` after `--bind 127.0.0.1:0 --log-format json`; waits (up to
    /// two minutes: a large state takes a while to restore in a debug build) for its address.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_partner-center-emulator"))
            .args(["--bind", "127.0.0.1:0", "--log-format", "json"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(log) = serde_json::from_str::<Value>(&line)
                    && let Some(addr) = log["addr"].as_str()
                {
                    let _ = tx.send(format!("http://{addr}"));
                }
            }
        });
        let address = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the emulator logs its address");
        Self { child, address }
    }

    pub fn app(&self) -> TestApp {
        TestApp::at(&self.address)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`-TERM`, `-KILL`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    pub fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().expect("the binary exits")
    }

    /// SIGTERM, and the graceful stop exits 0.
    pub fn terminate(self) {
        self.signal("-TERM");
        let exit = self.wait();
        assert!(exit.success(), "graceful stop exits 0: {exit:?}");
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(mut self) {
        self.child.kill().expect("killed");
        self.child.wait().expect("the binary exits");
    }
}

/// Removes a test's state directory once the emulator's background writer has let go of it: a
/// compaction or log append still under way may create a file in it while it is being removed
/// (`Directory not empty`), so removal is retried for up to a second.
pub async fn remove_state_dir(dir: &std::path::Path) {
    for attempt in 0.. {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => return,
            Err(_) if attempt < 50 => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => panic!("cannot remove {}: {e}", dir.display()),
        }
    }
}
