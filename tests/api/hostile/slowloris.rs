//! Stalled clients: a thousand slowloris connections do not stop the server answering others,
//! and each is closed once its timeout passes (quiet connections: `idle_timeout`; started
//! headers: `header_read_timeout`; bodies: `body_read_timeout`, answered 408). The timeouts are shortened here so that
//! nothing waits for the real ones (10 s and 30 s).

use std::time::Duration;

use partner_center_emulator::Config;
use serde_json::json;
use tokio::task::JoinSet;

use super::*;

const CONNECTIONS: usize = 1000;

/// The ways a client can stall, by what it sent before going quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stall {
    /// Connected and sent nothing.
    Silent,
    /// Part of a request line.
    RequestLine,
    /// A request line and some headers, never the blank line.
    Headers,
    /// A whole request, answered; then nothing more on the kept-alive connection.
    KeptAlive,
    /// Whole headers declaring 100 bytes of body, and 10 of them.
    Body,
}

const STALLS: [Stall; 5] = [
    Stall::Silent,
    Stall::RequestLine,
    Stall::Headers,
    Stall::KeptAlive,
    Stall::Body,
];

fn what_is_sent(stall: Stall) -> Vec<u8> {
    let path = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    match stall {
        Stall::Silent => Vec::new(),
        Stall::RequestLine => format!("POST {path}").into_bytes(),
        Stall::Headers => {
            format!("POST {path} HTTP/1.1\r\nHost: emulator\r\nAuthorization: {TOKEN}\r\n")
                .into_bytes()
        }
        Stall::KeptAlive => {
            format!("GET {path} HTTP/1.1\r\nHost: emulator\r\nAuthorization: {TOKEN}\r\n\r\n")
                .into_bytes()
        }
        Stall::Body => {
            let mut bytes = format!(
                "POST {path} HTTP/1.1\r\nHost: emulator\r\nAuthorization: {TOKEN}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            )
            .into_bytes();
            bytes.extend_from_slice(br#"{"batchId""#);
            bytes
        }
    }
}

async fn open_stalled(app: &TestApp, stall: Stall) -> TcpStream {
    let mut stream = TcpStream::connect(host(app)).await.expect("connect");
    stream.write_all(&what_is_sent(stall)).await.expect("write");
    stream
}

/// Reads exactly one response from a connection the server keeps open.
async fn read_one_response(stream: &mut TcpStream) -> RawResponse {
    let mut received = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed before the whole answer");
        received.extend_from_slice(&buf[..n]);
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("a Content-Length");
            if received.len() >= end + 4 + length {
                return parse_response(&received).expect("a response");
            }
        }
    }
}

fn with_timeouts(timeout: Duration) -> Config {
    let mut config = Config::for_tests();
    config.header_read_timeout = timeout;
    config.body_read_timeout = timeout;
    config.idle_timeout = timeout;
    config
}

#[tokio::test]
async fn idle_keep_alive_connections_outlive_the_header_timeout_while_stalled_heads_do_not() {
    // The real values are 4 minutes and 10 s; the ratio is what matters.
    let mut config = Config::for_tests();
    config.header_read_timeout = Duration::from_millis(300);
    config.idle_timeout = Duration::from_secs(3);
    let fixture = populated(config).await;
    let app = &fixture.app;
    let request = what_is_sent(Stall::KeptAlive);
    let mut pooled = open_stalled(app, Stall::KeptAlive).await;
    assert_eq!(read_one_response(&mut pooled).await.status, 200);
    let mut stalled = open_stalled(app, Stall::Headers).await;
    let started = std::time::Instant::now();
    // A started request still gets only the header timeout: closed, unanswered.
    assert!(parse_response(&read_to_close(&mut stalled).await).is_none());
    // A slow poller (every second, three header timeouts) reuses its idle connection.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        pooled.write_all(&request).await.expect("write");
        assert_eq!(read_one_response(&mut pooled).await.status, 200);
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    // Once idle past the idle timeout, the connection is closed without an answer.
    assert!(read_to_close(&mut pooled).await.is_empty());
}

#[tokio::test]
async fn a_request_served_for_longer_than_the_idle_timeout_leaves_a_whole_idle_timeout_after_it() {
    // The idle timeout counts from the answer: while a request is served (here its body comes
    // slowly, well within the body timeout) the connection is not idle, however long that takes.
    let idle = Duration::from_millis(400);
    let mut config = Config::for_tests();
    config.idle_timeout = idle;
    config.header_read_timeout = Duration::from_secs(5);
    config.body_read_timeout = Duration::from_secs(5);
    let fixture = populated(config).await;
    let app = &fixture.app;
    let body = r#"{"batchId":"slow-body","devices":[{"productKey":"SLOW-BODY-1"}]}"#;
    let head = format!(
        "POST /v1/customers/{CUSTOMER}/deviceBatches HTTP/1.1\r\nHost: emulator\r\n\
         Authorization: {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(host(app)).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write");
    stream
        .write_all(&body.as_bytes()[..10])
        .await
        .expect("write");
    // Twice the idle timeout and more into serving the request.
    tokio::time::sleep(idle * 2 + idle / 2).await;
    stream
        .write_all(&body.as_bytes()[10..])
        .await
        .expect("write");
    assert_eq!(read_one_response(&mut stream).await.status, 202);
    // Half an idle timeout after the answer the connection is still there for the next request.
    tokio::time::sleep(idle / 2).await;
    stream
        .write_all(&what_is_sent(Stall::KeptAlive))
        .await
        .expect("write");
    assert_eq!(read_one_response(&mut stream).await.status, 200);
    let answered = std::time::Instant::now();
    // Then, quiet, it is closed without an answer once its idle timeout has passed.
    assert!(read_to_close(&mut stream).await.is_empty());
    let quiet = answered.elapsed();
    assert!(
        quiet >= idle - Duration::from_millis(50),
        "closed after {quiet:?}"
    );
}

#[tokio::test]
async fn a_thousand_stalled_connections_do_not_stop_the_server_answering_others() {
    // Timeouts far longer than the test, so every stalled connection is surely open throughout.
    let fixture = populated(with_timeouts(Duration::from_secs(120))).await;
    let app = &fixture.app;
    let before = snapshot(app).await;
    let mut stalled = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let stall = STALLS[i % STALLS.len()];
        let mut stream = open_stalled(app, stall).await;
        if stall == Stall::KeptAlive {
            // Read the whole answer so that what follows is a connection idling between requests.
            let response = read_one_response(&mut stream).await;
            assert_eq!(response.status, 200);
        }
        stalled.push(stream);
    }
    // Others are answered meanwhile, in full.
    assert_eq!(snapshot(app).await, before);
    let health = app
        .client
        .get(app.url("/_emulator/health"))
        .send_checked()
        .await;
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    // ...while every stalled connection is still open and has been sent nothing more.
    let mut buf = [0u8; 1];
    for (i, stream) in stalled.iter().enumerate() {
        let read = stream.try_read(&mut buf);
        assert!(
            matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "connection {i} ({:?}): {read:?}",
            STALLS[i % STALLS.len()]
        );
    }
    drop(stalled);
    assert_eq!(snapshot(app).await, before);
}

#[tokio::test]
async fn stalled_connections_are_closed_once_their_timeout_passes() {
    let fixture = populated(with_timeouts(Duration::from_millis(500))).await;
    let app = &fixture.app;
    let before = snapshot(app).await;
    let mut readers = JoinSet::new();
    for i in 0..CONNECTIONS {
        let stall = STALLS[i % STALLS.len()];
        let mut stream = open_stalled(app, stall).await;
        // Each connection is read until the server closes it; `read_to_close` fails the test if
        // that takes longer than PATIENCE.
        readers.spawn(async move { (stall, read_to_close(&mut stream).await) });
    }
    let timed_out = json!({
        "code": 800002,
        "description": "Invalid request input: the body did not arrive within 500ms of the request headers; send it whole and without pauses.",
        "data": [],
        "source": "PartnerFD"
    });
    let mut closed = 0;
    while let Some(joined) = readers.join_next().await {
        let (stall, received) = joined.expect("reader");
        let response = parse_response(&received);
        match stall {
            Stall::Silent | Stall::RequestLine | Stall::Headers => {
                assert!(response.is_none(), "{stall:?}: {response:?}");
            }
            Stall::KeptAlive => {
                let response = response.expect("the answer to the one request");
                assert_eq!(response.status, 200);
                assert_eq!(response.json(), before[CUSTOMER]["batches"]);
            }
            Stall::Body => {
                let response = response.expect("a 408");
                assert_raw_error(&response, 408, timed_out.clone());
            }
        }
        closed += 1;
    }
    assert_eq!(closed, CONNECTIONS);
    assert_eq!(snapshot(app).await, before);
}
