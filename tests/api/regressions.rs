//! The smaller findings of issue 13, one regression test each: log forging, non-ASCII header
//! echo, the clock at the calendar's end, fault methods with spaces, a BOM in the state file,
//! and the level injected faults are logged at.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use partner_center_emulator::{Config, startup};
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn raw_non_ascii_bytes_of_a_correlation_id_are_not_echoed() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url(&format!("/v1/customers/{CUSTOMER}/deviceBatches")))
        .header("Authorization", TOKEN)
        .header(
            "MS-CorrelationId",
            HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        )
        .send_checked()
        .await;
    let echoed = response.headers().get("ms-correlationid").unwrap();
    assert!(echoed.as_bytes().is_ascii());
    assert!(
        uuid::Uuid::parse_str(echoed.to_str().unwrap()).is_ok(),
        "a new GUID instead"
    );
    let plain = app
        .client
        .get(app.url(&format!("/v1/customers/{CUSTOMER}/deviceBatches")))
        .header("Authorization", TOKEN)
        .header("MS-CorrelationId", "my id 1")
        .send_checked()
        .await;
    assert_eq!(plain.headers().get("ms-correlationid").unwrap(), "my id 1");
}

#[tokio::test]
async fn the_clock_refuses_to_pass_the_end_of_the_calendar_and_jobs_still_finish() {
    let app = spawn_app().await;
    let set = app
        .control(
            Method::POST,
            "/_emulator/clock",
            Some(&json!({"now": "9999-12-31T23:59:50Z"})),
        )
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    let location = app.create_batch(CUSTOMER, "late", json!([pk("PK1")])).await;
    let past = app
        .control(
            Method::POST,
            "/_emulator/clock/advance",
            Some(&json!({"seconds": 60})),
        )
        .await;
    assert_error(
        past,
        StatusCode::CONFLICT,
        envelope(
            800002,
            "the clock cannot move past 9999-12-31T23:59:59Z, the end of the calendar: it is 9999-12-31T23:59:50Z; reset the emulator or advance by less.",
            &[],
        ),
    )
    .await;
    let clock: Value = app
        .control(Method::GET, "/_emulator/clock", None)
        .await
        .json()
        .unwrap();
    assert_eq!(
        clock["now"], "9999-12-31T23:59:50Z",
        "unchanged, never backwards"
    );
    app.finish_jobs();
    assert_eq!(app.job(&location).await["status"], "finished");
}

#[tokio::test]
async fn a_fault_method_with_spaces_or_lower_case_fires() {
    let app = spawn_app().await;
    let rule = app
        .control(
            Method::POST,
            "/_emulator/faults",
            Some(&json!({"method": "get ", "status": 503})),
        )
        .await;
    assert_eq!(rule.status(), StatusCode::CREATED);
    assert_eq!(rule.json::<Value>().unwrap()["method"], "GET");
    let response = app
        .get_faultable(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_state_file_with_a_utf8_bom_is_restored() {
    let dir = std::env::temp_dir().join(format!("pce-bom-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("state.json");
    let doc = json!({"version": 1, "customers": [{"id": CUSTOMER, "batches": [{"id": "bom", "devices": []}]}]});
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(serde_json::to_vec(&doc).unwrap());
    std::fs::write(&file, bytes).unwrap();
    let mut config = Config::for_tests();
    config.state_file = Some(file);
    let app = spawn_state(startup::build(config).unwrap()).await;
    let batches = app
        .get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
        .await;
    assert_eq!(batches["items"][0]["id"], "bom");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The binary's text log at debug level, after `requests` ran against it.
async fn text_log_of(requests: impl AsyncFnOnce(TestApp)) -> String {
    log_of("text", requests).await
}

/// The binary's log in `format` at debug level, after `requests` ran against it.
pub(crate) async fn log_of(format: &str, requests: impl AsyncFnOnce(TestApp)) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_partner-center-emulator"))
        .args(["--bind", "127.0.0.1:0", "--log-format", format])
        .env("RUST_LOG", "partner_center_emulator=debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        let mut buf = [0u8; 4096];
        let mut sent = false;
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            log.push_str(&String::from_utf8_lossy(&buf[..n]));
            if !sent && let Some(at) = log.find("listening on http://") {
                let addr: String = log[at + 20..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                let _ = tx.send(format!("http://{addr}"));
                sent = true;
            }
        }
        log
    });
    let address = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    requests(TestApp::at(&address)).await;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    reader.join().unwrap()
}

#[tokio::test]
async fn client_input_cannot_forge_log_lines_and_injected_faults_are_not_errors() {
    let log = text_log_of(async |app: TestApp| {
        // A batch id with a decoded newline, refused (debug level) with the id quoted.
        let response = app
            .client
            .get(app.url(&format!(
                "/v1/customers/{CUSTOMER}/deviceBatches/x%0AFORGED%20ERROR%20line/devices"
            )))
            .header("Authorization", TOKEN)
            .header("MS-CorrelationId", "c1 status=999 forged=yes")
            .send_checked()
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let rule = app
            .control(
                Method::POST,
                "/_emulator/faults",
                Some(&json!({"method": "GET", "status": 500})),
            )
            .await;
        assert_eq!(rule.status(), StatusCode::CREATED);
        let faulted = app
            .get_faultable(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
            .await;
        assert_eq!(faulted.status(), StatusCode::INTERNAL_SERVER_ERROR);
    })
    .await;
    assert!(
        !log.lines().any(|l| l.starts_with("FORGED")),
        "a forged line: {log}"
    );
    assert!(
        log.contains("correlation_id=\"c1 status=999 forged=yes\""),
        "{log}"
    );
    assert!(log.contains("fault injected"), "{log}");
    assert!(
        !log.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("ERROR")),
        "an injected fault is not an error: {log}"
    );
}

#[tokio::test]
async fn the_json_log_carries_the_correlation_id_as_sent() {
    let sent = "c1 \"quoted\" status=999";
    let log = log_of("json", async |app: TestApp| {
        let response = app
            .client
            .get(app.url(&format!("/v1/customers/{CUSTOMER}/deviceBatches")))
            .header("Authorization", TOKEN)
            .header("MS-CorrelationId", sent)
            .send_checked()
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    })
    .await;
    let line: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["http.route"] == "/v1/customers/{customer_id}/deviceBatches")
        .unwrap_or_else(|| panic!("no request line: {log}"));
    // The id itself, not the string of its `Debug` text (`"\"c1 …\""`).
    assert_eq!(line["correlation_id"], sent, "{log}");
    assert_eq!(line["http.status"], 200, "{log}");
}
