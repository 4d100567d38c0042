//! The hand dispatcher against the router: the same requests sent to an emulator that answers
//! the hot routes by hand and to one that routes everything, in the same state on the same
//! clock, must get the same status, headers (in the same order) and bodies, and leave the same
//! journal. Ids the emulator mints (tracking ids, `MS-*` ids, fault rule ids) are replaced by
//! their order of first appearance in each answer, `MS-CV` and `Date` by a placeholder.

use partner_center_emulator::Config;
use partner_center_emulator::config::{AuthMode, CustomersMode};
use partner_center_emulator::domain::rate_limit::RateLimit;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;
use crate::regressions::log_of;

/// One answer, with what differs from run to run masked.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// Whether `s` holds a hyphenated GUID at `at`.
fn guid_at(s: &[u8], at: usize) -> bool {
    let Some(window) = s.get(at..at + 36) else {
        return false;
    };
    window.iter().enumerate().all(|(i, b)| match i {
        8 | 13 | 18 | 23 => *b == b'-',
        _ => b.is_ascii_hexdigit(),
    })
}

/// `text` with every GUID but the fixed customers' replaced by `<id-N>`, N its order of first
/// appearance in `seen`.
fn masked(text: &str, seen: &mut Vec<String>) -> String {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut at = 0;
    while at < bytes.len() {
        if guid_at(bytes, at) {
            let guid = text[at..at + 36].to_ascii_lowercase();
            if guid == CUSTOMER || guid == OTHER_CUSTOMER {
                out.push_str(&text[at..at + 36]);
            } else {
                let n = match seen.iter().position(|g| *g == guid) {
                    Some(n) => n,
                    None => {
                        seen.push(guid);
                        seen.len() - 1
                    }
                };
                out.push_str(&format!("<id-{n}>"));
            }
            at += 36;
        } else {
            let c = text[at..].chars().next().unwrap();
            out.push(c);
            at += c.len_utf8();
        }
    }
    out
}

struct Case {
    method: Method,
    /// `{T}` stands for the tracking id of each emulator's own set-up job.
    path: String,
    headers: Vec<(&'static str, &'static str)>,
    body: Option<&'static str>,
}

fn case(method: Method, path: &str) -> Case {
    Case {
        method,
        path: path.to_owned(),
        headers: vec![("Authorization", TOKEN)],
        body: None,
    }
}

impl Case {
    fn json(mut self, body: &'static str) -> Self {
        self.headers.push(("Content-Type", "application/json"));
        self.body = Some(body);
        self
    }

    fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }

    fn without_token(mut self) -> Self {
        self.headers.retain(|(name, _)| *name != "Authorization");
        self
    }
}

async fn send(app: &TestApp, tracking: &str, case: &Case) -> Answer {
    let path = case.path.replace("{T}", tracking);
    let mut request = app.client.request(case.method.clone(), app.url(&path));
    for (name, value) in &case.headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = case.body {
        request = request.body(body);
    }
    // Near misses get error answers the document does not list for their path, so every
    // error is checked as a fault's would be (the envelope, or the gateway's 429); a `HEAD`
    // answer has no body, which only the document check allows for.
    let response = if case.method == Method::HEAD {
        request.send_checked().await
    } else {
        request.send_faultable().await
    };
    let mut seen = Vec::new();
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = match name.as_str() {
                "date" | "ms-cv" => "<varies>".to_owned(),
                _ => masked(&String::from_utf8_lossy(value.as_bytes()), &mut seen),
            };
            (name.as_str().to_owned(), value)
        })
        .collect();
    let body = masked(&String::from_utf8_lossy(&response.bytes()), &mut seen);
    Answer {
        status,
        headers,
        body,
    }
}

/// The tracking id of a job made in `app` for the cases to ask about.
async fn setup(app: &TestApp) -> String {
    let response = app
        .client
        .post(app.url(&format!("/v1/customers/{CUSTOMER}/deviceBatches")))
        .header("Authorization", TOKEN)
        .header("Content-Type", "application/json")
        .body(r#"{"batchId": "B", "devices": [{"productKey": "SETUP"}]}"#)
        .send_faultable()
        .await;
    response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.split('/').nth(4))
        // Refused (an auth or customer mode): a job id that exists nowhere.
        .unwrap_or("5d1cb1b6-52d0-4c3d-8f4c-2a1f0b7d9e31")
        .to_owned()
}

fn cases() -> Vec<Case> {
    let c = CUSTOMER;
    let devices = format!("/v1/customers/{c}/deviceBatches/B/devices");
    let status = format!("/v1/customers/{c}/batchJobStatus/{{T}}");
    let upper = c.to_uppercase();
    let bare = c.replace('-', "");
    vec![
        case(Method::POST, &devices).json(r#"[{"productKey": "K1"}]"#),
        case(Method::POST, &devices)
            .json(r#"[{"productKey": "K2"}, {"serialNumber": "S2", "oemManufacturerName": "O", "modelName": "M"}]"#)
            .header("MS-RequestId", "r-1")
            .header("MS-CorrelationId", "c-1"),
        // A retry replays; the same id with another body is a 409.
        case(Method::POST, &devices)
            .json(r#"[{"productKey": "K2"}, {"serialNumber": "S2", "oemManufacturerName": "O", "modelName": "M"}]"#)
            .header("MS-RequestId", "r-1"),
        case(Method::POST, &devices)
            .json(r#"[{"productKey": "K3"}]"#)
            .header("MS-RequestId", "r-1"),
        case(Method::POST, &devices).json(r#"[{"productKey": "K1"}]"#),
        case(Method::POST, &devices).json(r#"[{"productKey": "K4"}]"#).without_token(),
        case(Method::POST, &devices)
            .json(r#"[{"productKey": "K4"}]"#)
            .without_token()
            .header("Authorization", "Bearer "),
        case(Method::POST, &devices).json(r#"[{"productKey": "#),
        case(Method::POST, &devices).json(""),
        case(Method::POST, &devices).json(r#"{"productKey": "K5"}"#),
        case(Method::POST, &devices).json(r#"[{"hardwareHash": 5}]"#),
        case(Method::POST, &devices).json("\u{feff}[{\"productKey\": \"K6\"}]"),
        case(Method::POST, &devices)
            .json(r#"[{"productKey": "K7"}]"#)
            .header("Content-Type", "text/plain"),
        case(Method::POST, &devices)
            .header("Content-Type", "Text/JSON ; charset=utf-8")
            .json(r#"[{"productKey": "K8"}]"#),
        case(Method::POST, &devices).body_only(r#"[{"productKey": "K9"}]"#),
        case(Method::POST, &devices)
            .json(r#"[{"productKey": "K10"}]"#)
            .header("Content-Encoding", "gzip"),
        case(Method::POST, &format!("/v1/customers/{c}/deviceBatches/Nope/devices"))
            .json(r#"[{"productKey": "K11"}]"#),
        case(Method::POST, &format!("/v1/customers/{c}/deviceBatches/b/devices"))
            .json(r#"[{"productKey": "K12"}]"#),
        case(Method::POST, &format!("{devices}/")).json(r#"[{"productKey": "K13"}]"#),
        case(Method::POST, &format!("/v1//customers/{c}/deviceBatches/B/devices"))
            .json(r#"[{"productKey": "K14"}]"#),
        case(Method::POST, &format!("/V1.0/Customers/{c}/DEVICEBATCHES/B/Devices"))
            .json(r#"[{"productKey": "K15"}]"#),
        case(Method::POST, &format!("/v1/customers/{upper}/deviceBatches/B/devices"))
            .json(r#"[{"productKey": "K16"}]"#),
        case(Method::POST, &format!("/v1/customers/{bare}/deviceBatches/B/devices"))
            .json(r#"[{"productKey": "K17"}]"#),
        case(Method::POST, &format!("/v1/customers/%7B{c}%7D/deviceBatches/B/devices"))
            .json(r#"[{"productKey": "K18"}]"#),
        case(Method::POST, &format!("/v1/customers/{c}/deviceBatches/%42/devices"))
            .json(r#"[{"productKey": "K19"}]"#),
        case(Method::POST, &format!("/v1/customers/{c}/deviceBatches/B%20/devices"))
            .json(r#"[{"productKey": "K20"}]"#),
        case(Method::POST, &format!("/v1/customers/{c}/deviceBatches/%FF/devices"))
            .json(r#"[{"productKey": "K21"}]"#),
        case(Method::POST, "/v1/customers/not-a-guid/deviceBatches/B/devices")
            .json(r#"[{"productKey": "K22"}]"#),
        case(Method::POST, "/v1/customers/not-a-guid/deviceBatches/B/devices")
            .json(r#"[{"productKey": "K22"}]"#)
            .without_token(),
        case(Method::POST, &format!("/v1/customers/{OTHER_CUSTOMER}/deviceBatches/B/devices"))
            .json(r#"[{"productKey": "K23"}]"#),
        case(Method::POST, &format!("{devices}/D")).json(r#"[{"productKey": "K24"}]"#),
        case(Method::POST, &format!("{devices}/D/x")).json(r#"[{"productKey": "K25"}]"#),
        case(Method::PUT, &devices).json(r#"[{"productKey": "K26"}]"#),
        case(Method::PATCH, &devices).json(r#"[{"productKey": "K27"}]"#).without_token(),
        case(Method::GET, &devices),
        case(Method::HEAD, &devices),
        case(Method::OPTIONS, &devices),
        case(Method::GET, &status),
        case(Method::GET, &status).header("MS-CorrelationId", "c-2"),
        case(Method::GET, &status).without_token(),
        case(Method::GET, &status).without_token().header("Authorization", "Basic abc"),
        case(Method::HEAD, &status),
        case(Method::POST, &status).json("{}"),
        case(Method::DELETE, &status),
        case(Method::GET, &format!("{status}/")),
        case(Method::GET, &format!("{status}/x")),
        case(Method::GET, &format!("/v1/customers/{c}/batchjobstatus/{{T}}")),
        case(Method::GET, &format!("/v1.0/customers/{c}/batchJobStatus/{{T}}")),
        case(Method::GET, &format!("/v1/customers/{upper}/batchJobStatus/{{T}}")),
        case(Method::GET, &format!("/v1/customers/{bare}/batchJobStatus/{{T}}")),
        case(Method::GET, &format!("/v1/customers/{OTHER_CUSTOMER}/batchJobStatus/{{T}}")),
        case(Method::GET, "/v1/customers/not-a-guid/batchJobStatus/{T}"),
        case(Method::GET, &format!("/v1/customers/{c}/batchJobStatus/not-a-guid")),
        case(Method::GET, &format!("/v1/customers/{c}/batchJobStatus/%7B{{T}}%7D")),
        case(Method::GET, &format!("/v1/customers/{c}/batchJobStatus/ {{T}}")),
        case(
            Method::GET,
            &format!("/v1/customers/{c}/batchJobStatus/7d3e4b1c-93b5-4a43-9a7d-8a5b2e1f0c9d"),
        ),
        case(Method::GET, &format!("/v1/customers/{c}/batchJobStatus/{{T}}?x=1")),
        case(Method::GET, &format!("/v1/customers/{c}/batchJobStatus")),
        case(Method::GET, &format!("/v2/customers/{c}/batchJobStatus/{{T}}")),
    ]
}

impl Case {
    /// A body without a `Content-Type`.
    fn body_only(mut self, body: &'static str) -> Self {
        self.body = Some(body);
        self
    }
}

/// Runs every case against both emulators (each case twice: before and after the jobs end, so
/// that running and cached terminal job documents are both compared), then compares the
/// journals.
async fn same_answers(config: impl Fn() -> Config, faults: &[&'static str]) {
    let mut hand = config();
    hand.hand_dispatch = true;
    let mut routed = config();
    routed.hand_dispatch = false;
    let (hand, routed) = (spawn_with(hand).await, spawn_with(routed).await);
    let (hand_job, routed_job) = (setup(&hand).await, setup(&routed).await);
    for rule in faults {
        let add = case(Method::POST, "/_emulator/faults")
            .without_token()
            .json(rule);
        let by_hand = send(&hand, &hand_job, &add).await;
        assert_eq!(by_hand.status, 201, "{by_hand:?}");
        assert_eq!(by_hand, send(&routed, &routed_job, &add).await);
    }
    for round in 0..2 {
        for case in cases() {
            let by_hand = send(&hand, &hand_job, &case).await;
            let by_router = send(&routed, &routed_job, &case).await;
            assert_eq!(
                by_hand, by_router,
                "round {round}: {} {}",
                case.method, case.path
            );
        }
        hand.finish_jobs();
        routed.finish_jobs();
    }
    let journal = case(Method::GET, "/_emulator/requests").without_token();
    let by_hand = send(&hand, &hand_job, &journal).await;
    let by_router = send(&routed, &routed_job, &journal).await;
    assert_eq!(by_hand.status, 200);
    assert_eq!(by_hand, by_router, "the journals");
}

#[tokio::test]
async fn the_hand_dispatcher_answers_as_the_router_does() {
    same_answers(Config::for_tests, &[]).await;
}

#[tokio::test]
async fn the_hand_dispatcher_answers_as_the_router_does_with_fault_rules() {
    let faults = [
        r#"{"method": "POST", "path": "/v1/customers/*/deviceBatches/*/devices", "status": 503, "times": 2}"#,
        r#"{"method": "GET", "path": "/v1/customers/*/batchJobStatus/*", "throttle": {"retryAfterSeconds": 3}, "times": 3}"#,
    ];
    same_answers(Config::for_tests, &faults).await;
}

#[tokio::test]
async fn the_hand_dispatcher_answers_as_the_router_does_with_bom_and_rate_limits() {
    same_answers(
        || {
            let mut config = Config::for_tests();
            config.response_bom = true;
            config.rate_limit = Some(RateLimit::parse("customer=20/1m").expect("a budget"));
            config
        },
        &[],
    )
    .await;
}

#[tokio::test]
async fn the_hand_dispatcher_answers_as_the_router_does_for_unknown_customers_and_tokens() {
    same_answers(
        || {
            let mut config = Config::for_tests();
            config.customers = CustomersMode::Seeded;
            config
        },
        &[],
    )
    .await;
    same_answers(
        || {
            let mut config = Config::for_tests();
            config.auth = AuthMode::Jwt;
            config
        },
        &[],
    )
    .await;
}

/// The log line of a hot route names its route as the router would (`MatchedPath`).
#[tokio::test]
async fn the_log_line_of_a_hot_route_names_its_template() {
    let log = log_of("json", async |app: TestApp| {
        let location = app
            .create_batch(CUSTOMER, "B", serde_json::json!([pk("K")]))
            .await;
        let devices = format!("/v1/customers/{CUSTOMER}/deviceBatches/B/devices");
        let response = app
            .post_json(&devices, &serde_json::json!([pk("K2")]))
            .await;
        assert_eq!(response.status(), 202);
        let response = app.get(&format!("/v1{location}")).await;
        assert_eq!(response.status(), 200);
    })
    .await;
    let routes: Vec<(String, String)> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["http.route"].is_string())
        .map(|l| {
            (
                l["http.method"].as_str().unwrap_or_default().to_owned(),
                l["http.route"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .filter(|(_, route)| route.starts_with("/v1/"))
        .collect();
    let expected = [
        ("POST", "/v1/customers/{customer_id}/deviceBatches"),
        (
            "POST",
            "/v1/customers/{customer_id}/deviceBatches/{batch_id}/devices",
        ),
        (
            "GET",
            "/v1/customers/{customer_id}/batchJobStatus/{tracking_id}",
        ),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, r)| ((*m).to_owned(), (*r).to_owned()))
        .collect();
    assert_eq!(routes, expected, "{log}");
}
