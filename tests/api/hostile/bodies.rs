//! Hostile bodies: every wrong JSON type at every level of every write, 10 MB strings, 100,000
//! levels of nesting, invalid UTF-8 and bodies over `--max-body`. Each is the exact 4xx envelope
//! and changes nothing.

use partner_center_emulator::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::*;

/// One JSON value of each type, with the name error messages give that type.
fn one_of_each_type() -> [(Value, &'static str); 6] {
    [
        (Value::Null, "null"),
        (json!(true), "a boolean"),
        (json!(42), "a number"),
        (json!("text"), "a string"),
        (json!([1]), "an array"),
        (json!({"k": 1}), "an object"),
    ]
}

/// What a `null` in a slot means.
#[derive(Clone, Copy)]
enum Null {
    /// `null` is the wrong type like any other.
    Wrong,
    /// `null` is "absent", and the field is required: this message.
    Required(&'static str),
    /// `null` is "absent" and allowed; not a hostile case.
    Allowed,
}

/// A place in a valid body, the type it must hold, and what a wrong type there is answered with:
/// `{field} {problem}`, where `{t}` in the problem stands for the type given.
struct Slot {
    pointer: String,
    right: &'static str,
    null: Null,
    field: String,
    problem: &'static str,
}

fn slot(
    pointer: &str,
    right: &'static str,
    null: Null,
    field: &str,
    problem: &'static str,
) -> Slot {
    Slot {
        pointer: pointer.to_owned(),
        right,
        null,
        field: field.to_owned(),
        problem,
    }
}

const SETTINGS: &str = "none, remove_oem_preinstalls, oobe_user_not_local_admin, skip_express_settings, skip_oem_registration, skip_eula";

/// The slots of a device's `policies` at `pointer`, named `field` in messages.
fn policies_slots(pointer: &str, field: &str, null: Null) -> Vec<Slot> {
    let entry = format!("{field}[0]");
    vec![
        slot(
            pointer,
            "an array",
            null,
            field,
            "must be an array of {\"key\", \"value\"} objects, got {t}.",
        ),
        slot(
            &format!("{pointer}/0"),
            "an object",
            Null::Wrong,
            &entry,
            "must be a {\"key\", \"value\"} object, got {t}.",
        ),
        slot(
            &format!("{pointer}/0/key"),
            "a string",
            Null::Required("is required and must be `o_o_b_e`."),
            &format!("{entry}.key"),
            "must be the string `o_o_b_e`, got {t}.",
        ),
        slot(
            &format!("{pointer}/0/value"),
            "a string",
            Null::Allowed,
            &format!("{entry}.value"),
            "must be a policy id (a string) or null, got {t}.",
        ),
    ]
}

fn policy_slots(creating: bool) -> Vec<Slot> {
    let mut slots = vec![
        slot(
            "",
            "an object",
            Null::Wrong,
            "",
            "the body must be a ConfigurationPolicy object, got {t}.",
        ),
        slot(
            "/name",
            "a string",
            Null::Required("is required: name the profile."),
            "name",
            "must be a string, got {t}.",
        ),
        slot(
            "/description",
            "a string",
            Null::Allowed,
            "description",
            "must be a string or null, got {t}.",
        ),
        slot(
            "/policySettings",
            "an array",
            Null::Required(
                "is required: an array of settings from none, remove_oem_preinstalls, oobe_user_not_local_admin, skip_express_settings, skip_oem_registration, skip_eula.",
            ),
            "policySettings",
            "must be an array of strings, got {t}.",
        ),
        slot(
            "/policySettings/0",
            "a string",
            Null::Wrong,
            "policySettings[0]",
            "must be one of SETTINGS, got {t}.",
        ),
    ];
    if creating {
        // An update ignores `category`, so only a create can get it wrong.
        slots.push(slot(
            "/category",
            "a string",
            Null::Allowed,
            "category",
            "must be one of none, o_o_b_e, got {t}.",
        ));
    }
    slots
}

/// A write route, a valid body for it, and its slots.
struct Write {
    method: Method,
    path: String,
    body: Value,
    slots: Vec<Slot>,
}

fn writes(fixture: &Populated) -> Vec<Write> {
    let batches = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    let policies = format!("/v1/customers/{CUSTOMER}/policies");
    let policy_body = json!({"name": "Renamed", "category": "o_o_b_e", "description": "D", "policySettings": ["skip_eula"]});
    let assignment = json!([{"key": "o_o_b_e", "value": fixture.policy}]);
    vec![
        Write {
            method: Method::POST,
            path: batches.clone(),
            body: json!({"batchId": "New Batch", "devices": [{"productKey": "PK-NEW", "serialNumber": "SN-NEW"}]}),
            slots: vec![
                slot(
                    "",
                    "an object",
                    Null::Wrong,
                    "",
                    "the body must be a DeviceBatchCreationRequest object, got {t}.",
                ),
                slot(
                    "/batchId",
                    "a string",
                    Null::Required("is required: name the new batch."),
                    "batchId",
                    "must be a string, got {t}.",
                ),
                slot(
                    "/devices",
                    "an array",
                    Null::Required("is required: list at least one Device."),
                    "devices",
                    "must be an array of Device objects, got {t}.",
                ),
                slot(
                    "/devices/0",
                    "an object",
                    Null::Wrong,
                    "devices[0]",
                    "must be a Device object, got {t}.",
                ),
                slot(
                    "/devices/0/productKey",
                    "a string",
                    Null::Allowed,
                    "devices[0].productKey",
                    "must be a string or null, got {t}.",
                ),
                slot(
                    "/devices/0/serialNumber",
                    "a string",
                    Null::Allowed,
                    "devices[0].serialNumber",
                    "must be a string or null, got {t}.",
                ),
            ],
        },
        Write {
            method: Method::POST,
            path: format!("{batches}/{BATCH}/devices"),
            body: json!([{"productKey": "PK-NEW"}]),
            slots: vec![
                slot(
                    "",
                    "an array",
                    Null::Wrong,
                    "",
                    "the body must be an array of Device objects, got {t}.",
                ),
                slot("/0", "an object", Null::Wrong, "[0]", "must be a Device object, got {t}."),
                slot(
                    "/0/productKey",
                    "a string",
                    Null::Allowed,
                    "[0].productKey",
                    "must be a string or null, got {t}.",
                ),
            ],
        },
        Write {
            method: Method::PUT,
            path: format!("{batches}/{BATCH}/devices/{}", fixture.devices[1]),
            body: json!({"policies": assignment}),
            slots: [
                vec![slot(
                    "",
                    "an object",
                    Null::Wrong,
                    "",
                    "the body must be a Device object, got {t}.",
                )],
                // `policies: null` leaves the profile alone: not a hostile case.
                policies_slots("/policies", "policies", Null::Allowed),
            ]
            .into_iter()
            .flatten()
            .collect(),
        },
        Write {
            method: Method::PATCH,
            path: format!("/v1/customers/{CUSTOMER}/DevicePolicyUpdates"),
            body: json!({"devices": [{"id": fixture.devices[1], "policies": assignment}]}),
            slots: [
                vec![
                    slot(
                        "",
                        "an object",
                        Null::Wrong,
                        "",
                        "the body must be a DevicePolicyUpdateRequest object, got {t}.",
                    ),
                    slot(
                        "/devices",
                        "an array",
                        Null::Required("is required: list the devices to update."),
                        "devices",
                        "must be an array of Device objects, got {t}.",
                    ),
                    slot(
                        "/devices/0",
                        "an object",
                        Null::Wrong,
                        "devices[0]",
                        "must be a Device object, got {t}.",
                    ),
                    slot(
                        "/devices/0/id",
                        "a string",
                        Null::Required("is required: the device id to update."),
                        "devices[0].id",
                        "must be a string or null, got {t}.",
                    ),
                ],
                policies_slots(
                    "/devices/0/policies",
                    "devices[0].policies",
                    Null::Required(
                        "is required: give one {\"key\": \"o_o_b_e\", \"value\": <policy id or null>} entry.",
                    ),
                ),
            ]
            .into_iter()
            .flatten()
            .collect(),
        },
        Write {
            method: Method::POST,
            path: policies.clone(),
            body: policy_body.clone(),
            slots: policy_slots(true),
        },
        Write {
            method: Method::PUT,
            path: format!("{policies}/{}", fixture.policy),
            body: policy_body,
            slots: policy_slots(false),
        },
    ]
}

fn with(body: &Value, pointer: &str, value: Value) -> Value {
    let mut body = body.clone();
    *body.pointer_mut(pointer).expect("the slot exists") = value;
    body
}

async fn send_raw(app: &TestApp, method: Method, path: &str, body: Vec<u8>) -> Response {
    app.client
        .request(method, app.url(path))
        .header("Authorization", TOKEN)
        .header("Content-Type", "application/json")
        .body(body)
        .send_checked()
        .await
}

#[tokio::test]
async fn every_wrong_json_type_at_every_level_is_a_400_naming_the_field() {
    let fixture = populated(Config::for_tests()).await;
    let app = &fixture.app;
    let before = snapshot(app).await;
    let mut cases = 0;
    for write in writes(&fixture) {
        for slot in &write.slots {
            for (value, type_name) in one_of_each_type() {
                let problem = match (&value, slot.null) {
                    (Value::Null, Null::Allowed) => continue,
                    (Value::Null, Null::Required(message)) => message.to_owned(),
                    _ if type_name == slot.right => continue,
                    _ => slot
                        .problem
                        .replace("{t}", type_name)
                        .replace("SETTINGS", SETTINGS),
                };
                let description = if slot.field.is_empty() {
                    format!("Invalid request input: {problem}")
                } else {
                    format!("Invalid request input: `{}` {problem}", slot.field)
                };
                let data: Vec<&str> = [slot.field.as_str()]
                    .into_iter()
                    .filter(|f| !f.is_empty())
                    .collect();
                let body = with(&write.body, &slot.pointer, value);
                let response = app
                    .send_json(write.method.clone(), &write.path, &body)
                    .await;
                assert_eq!(
                    response.status(),
                    StatusCode::BAD_REQUEST,
                    "{} {} {body}",
                    write.method,
                    write.path
                );
                assert_error(
                    response,
                    StatusCode::BAD_REQUEST,
                    envelope(800002, &description, &data),
                )
                .await;
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 156, "every slot of every write is tried");
    assert_eq!(snapshot(app).await, before);
    // Each valid body is accepted, so every case above failed on its slot alone.
    for write in writes(&fixture) {
        let response = app
            .send_json(write.method.clone(), &write.path, &write.body)
            .await;
        assert!(
            response.status().is_success(),
            "{} {}",
            write.method,
            write.path
        );
    }
}

/// Ten million bytes of one character.
fn ten_mb() -> String {
    "A".repeat(10_000_000)
}

#[tokio::test]
async fn ten_megabyte_strings_are_a_400_that_does_not_echo_them() {
    let fixture = populated(Config::for_tests()).await;
    let app = &fixture.app;
    let before = snapshot(app).await;
    let response = app
        .post_json(
            &format!("/v1/customers/{CUSTOMER}/deviceBatches"),
            &json!({"batchId": ten_mb(), "devices": [pk("PK-NEW")]}),
        )
        .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        envelope(
            800002,
            "Invalid request input: `batchId` must be at most 256 characters (got 10000000).",
            &["batchId"],
        ),
    )
    .await;
    let policies = format!("/v1/customers/{CUSTOMER}/policies");
    let cases = [
        (
            json!({"name": "N", "policySettings": [ten_mb()]}),
            "policySettings[0]",
            "must be one of none, remove_oem_preinstalls, oobe_user_not_local_admin, skip_express_settings, skip_oem_registration, skip_eula, got",
        ),
        (
            json!({"name": "N", "policySettings": [], "category": ten_mb()}),
            "category",
            "must be one of none, o_o_b_e, got",
        ),
    ];
    for (body, field, problem) in cases {
        let response = app.post_json(&policies, &body).await;
        let description = format!(
            "Invalid request input: `{field}` {problem} `{}…` (10000000 characters).",
            "A".repeat(64)
        );
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            envelope(800002, &description, &[field]),
        )
        .await;
    }
    let response = app
        .send_json(
            Method::PATCH,
            &format!("/v1/customers/{CUSTOMER}/DevicePolicyUpdates"),
            &json!({"devices": [{"id": "D", "policies": [{"key": ten_mb(), "value": null}]}]}),
        )
        .await;
    let description = format!(
        "Invalid request input: `devices[0].policies[0].key` must be `o_o_b_e` (the only category a profile is assigned under), got `{}…` (10000000 characters).",
        "A".repeat(64)
    );
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        envelope(800002, &description, &["devices[0].policies[0].key"]),
    )
    .await;
    assert_eq!(snapshot(app).await, before);
}

/// `depth` arrays nested in each other.
fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn a_hundred_thousand_levels_of_nesting_are_a_400_not_a_stack_overflow() {
    let fixture = populated(Config::for_tests()).await;
    let app = &fixture.app;
    let before = snapshot(app).await;
    let deep = nested_arrays(100_000);
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let batches = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    let cases = [
        (Method::POST, batches.clone(), deep.clone(), 128),
        (Method::POST, batches.clone(), deep_objects, 636),
        (
            Method::POST,
            batches.clone(),
            format!("{{\"batchId\": \"B\", \"devices\": {deep}}}"),
            155,
        ),
        (
            Method::POST,
            format!("{batches}/{BATCH}/devices"),
            deep.clone(),
            128,
        ),
        (
            Method::PATCH,
            format!("/v1/customers/{CUSTOMER}/DevicePolicyUpdates"),
            deep.clone(),
            128,
        ),
        (
            Method::POST,
            format!("/v1/customers/{CUSTOMER}/policies"),
            deep.clone(),
            128,
        ),
    ];
    for (method, path, body, column) in cases {
        let response = send_raw(app, method, &path, body.into_bytes()).await;
        let description = format!(
            "Invalid request input: the body is not valid JSON (recursion limit exceeded at line 1 column {column})."
        );
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            envelope(800002, &description, &[]),
        )
        .await;
    }
    // Within the limit, depth is just a wrong type.
    let response = send_raw(
        app,
        Method::POST,
        &batches,
        format!(
            "{{\"batchId\": \"B\", \"devices\": [{}]}}",
            nested_arrays(100)
        )
        .into_bytes(),
    )
    .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        envelope(
            800002,
            "Invalid request input: `devices[0]` must be a Device object, got an array.",
            &["devices[0]"],
        ),
    )
    .await;
    assert_eq!(snapshot(app).await, before);
}

#[tokio::test]
async fn invalid_utf8_and_lone_surrogates_are_a_400() {
    let fixture = populated(Config::for_tests()).await;
    let app = &fixture.app;
    let before = snapshot(app).await;
    let batches = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    let cases: [(&[u8], &str); 6] = [
        (
            b"{\"batchId\": \"\xff\xfe\", \"devices\": [{\"productKey\": \"P\"}]}",
            "invalid unicode code point at line 1 column 14",
        ),
        (
            b"{\"batchId\": \"\xc0\x80\", \"devices\": [{\"productKey\": \"P\"}]}",
            "invalid unicode code point at line 1 column 14",
        ),
        (
            b"{\"batchId\": \"B\", \"devices\": [{\"productKey\": \"\xed\xa0\x80\"}]}",
            "invalid unicode code point at line 1 column 46",
        ),
        (
            b"{\"batchId\": \"\\ud800\", \"devices\": [{\"productKey\": \"P\"}]}",
            "unexpected end of hex escape at line 1 column 20",
        ),
        (
            b"{\"\xff\": 1, \"batchId\": \"B\", \"devices\": [{\"productKey\": \"P\"}]}",
            "invalid unicode code point at line 1 column 3",
        ),
        // UTF-16 with its byte order mark, as PowerShell 5's `-Encoding Unicode` writes.
        (
            b"\xff\xfe{\x00\"\x00b\x00\"\x00:\x001\x00}\x00",
            "expected value at line 1 column 1",
        ),
    ];
    for (body, error) in cases {
        let response = send_raw(app, Method::POST, &batches, body.to_vec()).await;
        let description = format!("Invalid request input: the body is not valid JSON ({error}).");
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            envelope(800002, &description, &[]),
        )
        .await;
    }
    assert_eq!(snapshot(app).await, before);
}

/// A chunked upload of `body` in 100-byte chunks (no `Content-Length` to refuse it by).
fn chunked(path: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "POST {path} HTTP/1.1\r\nHost: emulator\r\nAuthorization: {TOKEN}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n{extra_headers}\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(100) {
        bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        bytes.extend_from_slice(chunk);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    bytes
}

#[tokio::test]
async fn a_body_over_max_body_is_a_413_however_it_is_framed() {
    let mut config = Config::for_tests();
    config.max_body = 1024;
    let fixture = populated(config).await;
    let app = &fixture.app;
    let before = snapshot(app).await;
    let path = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    let devices: Vec<Value> = (0..100).map(|i| pk(&format!("PK-{i:04}"))).collect();
    let big = serde_json::to_vec(&json!({"batchId": "Big", "devices": devices})).unwrap();
    assert!(big.len() > 1024);
    let too_large = json!({"code": 800002, "description": "Invalid request input: the body is larger than the 1024-byte limit (see --max-body).", "data": [], "source": "PartnerFD"});
    let mut declared_huge = request("POST", &path, "", b"[]");
    let at = declared_huge
        .windows(18)
        .position(|w| w == b"Content-Length: 2\r")
        .expect("the length header");
    declared_huge.splice(at..at + 17, b"Content-Length: 10000000000".iter().copied());
    let cases = [
        ("declared", request("POST", &path, "", &big)),
        ("chunked", chunked(&path, "", &big)),
        (
            "chunked, idempotent",
            chunked(&path, "MS-RequestId: big-1\r\n", &big),
        ),
        ("10 GB declared, 2 bytes sent", declared_huge),
    ];
    for (what, bytes) in cases {
        let response = raw(app, &bytes)
            .await
            .unwrap_or_else(|| panic!("{what}: no answer"));
        assert_raw_error(&response, 413, too_large.clone());
    }
    // Under the limit, the same framing goes through.
    let small = br#"{"batchId": "Small", "devices": [{"productKey": "PK-S"}]}"#;
    let response = raw(app, &chunked(&path, "MS-RequestId: small-1\r\n", small)).await;
    assert_eq!(response.map(|r| r.status), Some(202));
    let after: Value = snapshot(app).await;
    let listed: Vec<&str> = after[CUSTOMER]["batches"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [BATCH, "Small"]);
    assert_eq!(after[OTHER_CUSTOMER], before[OTHER_CUSTOMER]);
}
