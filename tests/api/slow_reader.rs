//! A client that requests `/_emulator/state` and never reads it costs a socket, not the state:
//! the document streams as the client reads, and the connection is closed once a write has
//! waited the write timeout. Memory is measured in BENCHMARKS.md, not here.

use std::time::Duration;

use partner_center_emulator::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

#[tokio::test]
async fn a_client_that_never_reads_the_export_is_disconnected_and_stalls_nobody() {
    let mut config = Config::for_tests();
    config.write_timeout = Duration::from_millis(500);
    let app = spawn_with(config).await;
    // About 12 MB of export: more than loopback's socket buffers hold.
    let model = "M".repeat(1000);
    let devices: Vec<Value> = (0..12_000)
        .map(|n| json!({"serialNumber": format!("SN{n}"), "oemManufacturerName": "Contoso", "modelName": model}))
        .collect();
    let seed =
        json!({"customers": [{"id": CUSTOMER, "batches": [{"id": "big", "devices": devices}]}]});
    let seeded = app
        .control(Method::POST, "/_emulator/seed", Some(&seed))
        .await;
    assert_eq!(seeded.status(), StatusCode::OK, "{:?}", seeded.text());
    let exported = app
        .control(Method::GET, "/_emulator/state", None)
        .await
        .bytes()
        .len();
    assert!(exported > 12_000_000, "{exported} bytes");

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr = app.address.trim_start_matches("http://").parse().unwrap();
    let mut stalled = socket.connect(addr).await.unwrap();
    stalled
        .write_all(b"GET /_emulator/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    // While it reads nothing, the server serves everyone else.
    let answered = tokio::time::timeout(Duration::from_secs(5), async {
        for _ in 0..3 {
            let health = app.control(Method::GET, "/_emulator/health", None).await;
            assert_eq!(health.status(), StatusCode::OK);
        }
    })
    .await;
    assert!(
        answered.is_ok(),
        "the stalled export held up other requests"
    );
    // Well past the write timeout (real time: it is a socket timeout, not emulated time).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut received = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stalled.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received += n,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection was never closed");
    assert!(
        received < exported,
        "the server gave up before the end: {received} of {exported} bytes"
    );
}
