//! Hostile wire input, sent over raw TCP: bodies cut off mid-upload, header values with non-ASCII
//! and control bytes, and path segments with `%00`, `..` and 1,000 characters.

use partner_center_emulator::Config;

use serde_json::Value;

use super::*;

const UPLOAD: &[u8] =
    br#"{"batchId": "Truncated", "devices": [{"productKey": "PK-T1"}, {"productKey": "PK-T2"}]}"#;

/// The head of an upload that declares the whole of [`UPLOAD`], then its first `sent` bytes.
fn truncated(sent: usize, extra_headers: &str) -> Vec<u8> {
    let path = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    let mut bytes = request("POST", &path, extra_headers, UPLOAD);
    bytes.truncate(bytes.len() - UPLOAD.len() + sent);
    bytes
}

#[tokio::test]
async fn a_client_that_closes_mid_upload_changes_nothing() {
    let fixture = populated(Config::for_tests()).await;
    let app = &fixture.app;
    let before = snapshot(app).await;
    for extra in ["", "MS-RequestId: cut-1\r\n"] {
        // Closed outright: nobody is left to answer.
        let mut stream = TcpStream::connect(host(app)).await.expect("connect");
        stream
            .write_all(&truncated(40, extra))
            .await
            .expect("write");
        drop(stream);
        // Half-closed: the client still listens, and is told its body ended early.
        let mut stream = TcpStream::connect(host(app)).await.expect("connect");
        stream
            .write_all(&truncated(40, extra))
            .await
            .expect("write");
        stream.shutdown().await.expect("half-close");
        let received = read_to_close(&mut stream).await;
        let response = parse_response(&received).expect("an answer");
        assert_raw_error(
            &response,
            400,
            envelope(
                800002,
                "Invalid request input: the body could not be read to its end (error reading a body from connection).",
                &[],
            ),
        );
    }
    assert_eq!(snapshot(app).await, before);
    // The cut-off request left no trace: sent whole, with the same MS-RequestId, it goes through.
    let path = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    let whole = raw(
        app,
        &request("POST", &path, "MS-RequestId: cut-1\r\n", UPLOAD),
    )
    .await;
    assert_eq!(whole.map(|r| r.status), Some(202));
}

#[tokio::test]
async fn non_ascii_header_values_get_a_4xx_or_are_carried_as_bytes() {
    let fixture = populated(Config::for_tests()).await;
    let app = &fixture.app;
    let before = snapshot(app).await;
    let batches = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    let devices = format!("{batches}/{BATCH}/devices");

    // A token with non-ASCII bytes is not a token.
    let bytes =
        b"GET /v1/customers/c7f3c849-129f-4b85-a96d-4f8e88b315a3/deviceBatches HTTP/1.1\r\n\
        Host: emulator\r\nAuthorization: Bearer \xc3\xa9t\xc3\xa9\xff\r\nConnection: close\r\n\r\n";
    let response = raw(app, bytes).await.expect("an answer");
    assert_raw_error(
        &response,
        401,
        envelope(
            800001,
            "Partner Token missing in request context: send an `Authorization: Bearer <token>` header (any non-empty token is accepted).",
            &[],
        ),
    );
    assert_eq!(response.header("www-authenticate"), Some(&b"Bearer"[..]));

    // A content type with non-ASCII bytes is not JSON; it is quoted back as text.
    let body = br#"{"batchId": "X", "devices": [{"productKey": "PK-X"}]}"#;
    let mut bytes = request("POST", &batches, "", body);
    let at = bytes
        .windows(16)
        .position(|w| w == b"application/json")
        .expect("content type");
    bytes.splice(at + 16..at + 16, b"\xff\xfe; charset=\xe9".iter().copied());
    let response = raw(app, &bytes).await.expect("an answer");
    assert_raw_error(
        &response,
        415,
        envelope(
            800002,
            "Invalid request input: Content-Type `application/json\u{fffd}\u{fffd}; charset=\u{fffd}` is not supported; send `application/json` or `text/json`.",
            &[],
        ),
    );

    // A continuation token with non-ASCII bytes is not one of ours.
    let response = raw(
        app,
        &request(
            "GET",
            &devices,
            b"MS-ContinuationToken: \xc3\xa9\xff\r\n",
            b"",
        ),
    )
    .await
    .expect("an answer");
    assert_raw_error(
        &response,
        400,
        envelope(
            800002,
            "Invalid request input: `MS-ContinuationToken` is not valid for this batch: it is malformed, belongs to another batch, or predates a reset. Request the first page again without it.",
            &["MS-ContinuationToken"],
        ),
    );

    // Ids the client chose are echoed when they are visible ASCII; raw non-ASCII bytes are not
    // sent back (clients reject or mangle them): a fresh GUID answers instead.
    let response = raw(
        app,
        &request(
            "GET",
            &batches,
            b"MS-CorrelationId: \xc3\xa9\xff\r\nMS-RequestId: r\xe9q\r\n",
            b"",
        ),
    )
    .await
    .expect("an answer");
    assert_eq!(response.status, 200);
    for name in ["ms-correlationid", "ms-requestid"] {
        let minted = response.header(name).expect("the header");
        let minted = std::str::from_utf8(minted).expect("ASCII");
        assert!(uuid::Uuid::parse_str(minted).is_ok(), "{name}: {minted}");
    }
    assert_eq!(response.json(), before[CUSTOMER]["batches"]);

    // A write whose MS-RequestId is not ASCII is still idempotent, and still checked.
    let bad = br#"{"batchId": "", "devices": []}"#;
    let response = raw(
        app,
        &request("POST", &batches, b"MS-RequestId: \xff\r\n", bad),
    )
    .await
    .expect("an answer");
    assert_raw_error(
        &response,
        400,
        envelope(
            800002,
            "Invalid request input: `batchId` must be a non-empty string.",
            &["batchId"],
        ),
    );
    assert_eq!(snapshot(app).await, before);
}

#[tokio::test]
async fn control_bytes_in_a_header_are_a_bare_400_from_the_http_layer() {
    let fixture = populated(Config::for_tests()).await;
    let app = &fixture.app;
    let before = snapshot(app).await;
    let path = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    let body = br#"{"batchId": "Ctl", "devices": [{"productKey": "PK-C"}]}"#;
    for header in [
        &b"X-Note: a\x01b\r\n"[..],
        b"X-Note: a\x00b\r\n",
        b"X-Note: a\x7fb\r\n",
        b"X-\xff: 1\r\n",
        b"X Note: 1\r\n",
    ] {
        // EMULATOR: requests hyper cannot parse are answered by hyper, without the envelope.
        let response = raw(app, &request("POST", &path, header, body))
            .await
            .expect("an answer");
        assert_eq!(response.status, 400, "{}", String::from_utf8_lossy(header));
        assert_eq!(response.header("content-length"), Some(&b"0"[..]));
        assert_eq!(response.body, b"");
    }
    assert_eq!(snapshot(app).await, before);
}

fn not_found(what: &str) -> Value {
    envelope(1000, &format!("Not found: {what}."), &[])
}

fn no_route(method: &str, path: &str) -> Value {
    envelope(
        1000,
        &format!(
            "Not found: no route matches `{method} {path}`. Partner Center routes start with /v1/customers/{{customer-id}}/, the control plane with /_emulator/."
        ),
        &[],
    )
}

#[tokio::test]
async fn nul_dot_dot_and_long_path_segments_are_404s_that_touch_nothing() {
    let fixture = populated(Config::for_tests()).await;
    let app = &fixture.app;
    let before = snapshot(app).await;
    let c = format!("/v1/customers/{CUSTOMER}");
    let device = &fixture.devices[0];
    let policy = &fixture.policy;
    let long = "L".repeat(1000);
    let long_nul = "%00".repeat(1000);
    let devices_body = br#"[{"productKey": "PK-NEW"}]"#.to_vec();
    let put_body = br#"{"policies": []}"#.to_vec();
    let cases: Vec<(&str, String, Vec<u8>, u16, Value)> = vec![
        (
            "GET",
            format!("{c}/deviceBatches/%00/devices"),
            Vec::new(),
            404,
            not_found("device batch `\0` was not found for this customer"),
        ),
        (
            "POST",
            format!("{c}/deviceBatches/%00/devices"),
            devices_body.clone(),
            404,
            not_found("device batch `\0` was not found for this customer"),
        ),
        (
            "PUT",
            format!("{c}/deviceBatches/{BATCH}/devices/%00"),
            put_body.clone(),
            404,
            not_found("device `\0` was not found in this batch"),
        ),
        (
            "DELETE",
            format!("{c}/deviceBatches/{BATCH}/devices/{device}%00"),
            Vec::new(),
            404,
            not_found(&format!("device `{device}\0` was not found in this batch")),
        ),
        (
            "GET",
            "/v1/customers/%00/deviceBatches".to_owned(),
            Vec::new(),
            400,
            envelope(
                900118,
                "Invalid Customer Id: `\0` is not a GUID (expected e.g. 11111111-2222-3333-4444-555555555555).",
                &[],
            ),
        ),
        (
            "DELETE",
            format!("{c}/policies/{policy}%00"),
            Vec::new(),
            404,
            not_found(&format!(
                "policy `{policy}\0` was not found for this customer"
            )),
        ),
        (
            "GET",
            format!("{c}/batchJobStatus/%00"),
            Vec::new(),
            404,
            not_found("batch tracking id `\0` was not found for this customer"),
        ),
        (
            "GET",
            format!("{c}/deviceBatches/../devices"),
            Vec::new(),
            404,
            not_found("device batch `..` was not found for this customer"),
        ),
        (
            "DELETE",
            format!("{c}/deviceBatches/{BATCH}/devices/.."),
            Vec::new(),
            404,
            not_found("device `..` was not found in this batch"),
        ),
        (
            "DELETE",
            format!("{c}/deviceBatches/{BATCH}/devices/%2e%2e%2f{device}"),
            Vec::new(),
            404,
            not_found(&format!("device `../{device}` was not found in this batch")),
        ),
        (
            "DELETE",
            format!("{c}/deviceBatches/{BATCH}/devices/../devices/{device}"),
            Vec::new(),
            404,
            no_route(
                "DELETE",
                &format!("{c}/deviceBatches/{BATCH}/devices/../devices/{device}"),
            ),
        ),
        (
            "DELETE",
            format!("/_emulator/..{c}/policies/{policy}"),
            Vec::new(),
            404,
            no_route("DELETE", &format!("/_emulator/..{c}/policies/{policy}")),
        ),
        (
            "POST",
            format!("{c}/deviceBatches/{long}/devices"),
            devices_body.clone(),
            404,
            // Descriptions stop at Microsoft's 1,024 characters.
            envelope(
                1000,
                &format!(
                    "{}…",
                    format!("Not found: device batch `{long}` was not found for this customer.")
                        .chars()
                        .take(1023)
                        .collect::<String>()
                ),
                &[],
            ),
        ),
        (
            "GET",
            format!("{c}/deviceBatches/{long_nul}/devices"),
            Vec::new(),
            404,
            envelope(
                1000,
                &format!(
                    "{}…",
                    format!(
                        "Not found: device batch `{}` was not found for this customer.",
                        "\0".repeat(1000)
                    )
                    .chars()
                    .take(1023)
                    .collect::<String>()
                ),
                &[],
            ),
        ),
        (
            "POST",
            format!("{c}/deviceBatches"),
            format!(r#"{{"batchId": "{long}", "devices": [{{"productKey": "PK-NEW"}}]}}"#)
                .into_bytes(),
            400,
            envelope(
                800002,
                "Invalid request input: `batchId` must be at most 256 characters (got 1000).",
                &["batchId"],
            ),
        ),
        (
            "POST",
            format!("{c}/deviceBatches"),
            br#"{"batchId": "nul\u0000", "devices": [{"productKey": "PK-NEW"}]}"#.to_vec(),
            400,
            envelope(
                800002,
                "Invalid request input: `batchId` must not contain control characters.",
                &["batchId"],
            ),
        ),
    ];
    for (method, path, body, status, expected) in cases {
        let response = raw(app, &request(method, &path, b"", &body))
            .await
            .unwrap_or_else(|| panic!("{method} {path}: no answer"));
        assert_eq!(response.status, status, "{method} {path}");
        assert_raw_error(&response, status, expected);
    }
    assert_eq!(snapshot(app).await, before);
}

#[tokio::test]
async fn a_request_head_too_large_for_the_http_layer_is_a_bare_414_or_431() {
    let fixture = populated(Config::for_tests()).await;
    let app = &fixture.app;
    let before = snapshot(app).await;
    let c = format!("/v1/customers/{CUSTOMER}");
    // EMULATOR: hyper refuses these before the emulator sees them, without the envelope.
    let long_path = format!("{c}/deviceBatches/{}/devices", "L".repeat(70_000));
    // hyper checks its head limit (~400 KiB) between reads, so a head that arrives in one large
    // read can pass it; 4 MB cannot fit in any single read.
    let long_header = format!("X-Padding: {}\r\n", "p".repeat(4_000_000));
    let cases = [
        (request("GET", &long_path, b"", b""), 414),
        (
            request("GET", &format!("{c}/deviceBatches"), long_header, b""),
            431,
        ),
    ];
    for (bytes, status) in cases {
        // hyper gives up on a head over its buffer while the client is still sending it, and
        // closing with unread bytes resets the connection, which may overtake the 431: a closed
        // connection is the other right answer.
        let mut stream = TcpStream::connect(host(app)).await.expect("connect");
        let _ = stream.write_all(&bytes).await;
        if let Some(response) = parse_response(&read_to_close(&mut stream).await) {
            assert_eq!(response.status, status);
            assert_eq!(response.header("content-length"), Some(&b"0"[..]));
            assert_eq!(response.body, b"");
        } else {
            assert_eq!(status, 431, "the 414 comes once the whole head is read");
        }
    }
    assert_eq!(snapshot(app).await, before);
}
