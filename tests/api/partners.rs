//! Partner-tenant partitions over HTTP. Until `--auth jwt` names the partner from a verified
//! token, these tests serve the real app wrapped in a test-only layer that sets the `Partner`
//! extension from the `X-Test-Partner` header; the production binary has no such layer.

use partner_center_emulator::config::ClockMode;
use partner_center_emulator::domain::ids::TenantId;
use partner_center_emulator::domain::timestamp::Timestamp;
use partner_center_emulator::http::partner::Partner;
use partner_center_emulator::{AppState, Clock, Config, http, persist, startup};

use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::helpers::*;

const HEADER: &str = "x-test-partner";
const PARTNER_A: &str = "a0000000-0000-4000-8000-00000000000a";
const PARTNER_B: &str = "b0000000-0000-4000-8000-00000000000b";

/// What the jwt guard will do from a verified token, done here from a test header.
fn partner_from_header(mut req: Request<Incoming>) -> Request<Incoming> {
    let tenant = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(TenantId::parse);
    if let Some(t) = tenant {
        req.extensions_mut().insert(Partner(Some(t)));
    }
    req
}

/// Serves the real app behind the test-only layer; returns the default (unpartitioned) client.
async fn spawn_partitioned(state: AppState) -> TestApp {
    let clock = state.clock.clone();
    let job_takes = state.config.queued_for + state.config.processing_for;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("local addr"));
    let app = http::app(state)
        .map_request(partner_from_header as fn(Request<Incoming>) -> Request<Incoming>);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    TestApp {
        address,
        client: reqwest::Client::new(),
        clock,
        job_takes,
    }
}

fn new_state() -> AppState {
    AppState::new(
        Config::for_tests(),
        Clock::manual(Timestamp::parse_rfc3339(T0).expect("T0")),
    )
}

/// The same emulator, seen by a client signed in as `tenant`.
fn as_partner(app: &TestApp, tenant: &str) -> TestApp {
    let mut headers = HeaderMap::new();
    headers.insert(HEADER, HeaderValue::from_str(tenant).expect("ASCII"));
    TestApp {
        address: app.address.clone(),
        client: reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("client"),
        clock: app.clock.clone(),
        job_takes: app.job_takes,
    }
}

async fn statuses(app: &TestApp, location: &str) -> Vec<(String, Option<String>)> {
    app.job(location).await["devicesStatus"]
        .as_array()
        .expect("devicesStatus")
        .iter()
        .map(|d| {
            (
                d["status"].as_str().unwrap_or_default().to_owned(),
                d["errorCode"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

async fn state_doc(app: &TestApp) -> Value {
    app.control(Method::GET, "/_emulator/state", None)
        .await
        .json()
        .expect("JSON")
}

#[tokio::test]
async fn two_partners_upload_the_same_devices_to_the_same_customer() {
    let app = spawn_partitioned(new_state()).await;
    let (a, b) = (as_partner(&app, PARTNER_A), as_partner(&app, PARTNER_B));
    let devices = json!([
        {"serialNumber": "SN-1", "productKey": "K1"},
        {"serialNumber": "SN-2", "productKey": "K2"}
    ]);
    let la = a.create_batch(CUSTOMER, "Batch", devices.clone()).await;
    let lb = b.create_batch(CUSTOMER, "Batch", devices.clone()).await;
    let ld = app.create_batch(CUSTOMER, "Batch", devices.clone()).await;
    app.finish_jobs();
    let finished = vec![("finished".to_owned(), None); 2];
    assert_eq!(statuses(&a, &la).await, finished);
    assert_eq!(statuses(&b, &lb).await, finished);
    assert_eq!(statuses(&app, &ld).await, finished);
    // Within one partner the registry still answers 806 for a device it already holds.
    let again = a.add_devices(CUSTOMER, "Batch", json!([pk("K1")])).await;
    app.finish_jobs();
    assert_eq!(
        statuses(&a, &again).await,
        [("finished_with_errors".to_owned(), Some("806".to_owned()))]
    );
}

#[tokio::test]
async fn a_partner_sees_only_its_own_data_and_others_ids_are_404() {
    let app = spawn_partitioned(new_state()).await;
    let (a, b) = (as_partner(&app, PARTNER_A), as_partner(&app, PARTNER_B));
    let ids = a
        .registered_devices(CUSTOMER, "Mine", json!([pk("K1")]))
        .await;
    let location = a.create_batch(CUSTOMER, "Second", json!([pk("K2")])).await;
    let policy = a.create_policy(CUSTOMER, "P").await;
    let policy_id = policy["id"].as_str().expect("id");

    let batches = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    let policies = format!("/v1/customers/{CUSTOMER}/policies");
    assert_eq!(a.get_json(&batches).await["totalCount"], 2);
    assert_eq!(a.get_json(&policies).await["totalCount"], 1);
    for other in [&b, &app] {
        assert_eq!(other.get_json(&batches).await["totalCount"], 0);
        assert_eq!(other.get_json(&policies).await["totalCount"], 0);
        let not_found = [
            format!("/v1{location}"),
            format!("{policies}/{policy_id}"),
            format!("{batches}/Mine/devices"),
        ];
        for path in not_found {
            assert_eq!(
                other.get(&path).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        let device = format!("{batches}/Mine/devices/{}", ids[0]);
        assert_eq!(other.delete(&device).await.status(), StatusCode::NOT_FOUND);
        let response = other
            .send_json(
                Method::PUT,
                &format!("{policies}/{policy_id}"),
                &json!({"name": "Q", "policySettings": []}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    // A's data is untouched by B's attempts.
    assert_eq!(
        a.get(&format!("{policies}/{policy_id}")).await.status(),
        200
    );
}

#[tokio::test]
async fn an_ms_request_id_replays_only_within_its_partner() {
    let app = spawn_partitioned(new_state()).await;
    let (a, b) = (as_partner(&app, PARTNER_A), as_partner(&app, PARTNER_B));
    let path = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    let id = "33333333-3333-3333-3333-333333333333";
    let send = |app: &TestApp, body: Value| {
        app.client
            .post(app.url(&path))
            .header("Authorization", TOKEN)
            .header("MS-RequestId", id)
            .json(&body)
            .send_checked()
    };
    let first = send(&a, json!({"batchId": "B", "devices": [pk("K")]})).await;
    // B's request with the same id and another body is neither a replay nor a 409.
    let other = send(&b, json!({"batchId": "C", "devices": [pk("K")]})).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(other.status(), StatusCode::ACCEPTED);
    assert_ne!(location(&first), location(&other));
    let replay = send(&a, json!({"batchId": "B", "devices": [pk("K")]})).await;
    assert_eq!(location(&replay), location(&first));
    assert_eq!(
        b.get_json(&path).await["items"][0]["id"],
        "C",
        "B has its own batch, not A's"
    );
}

#[tokio::test]
async fn continuation_tokens_do_not_cross_partners() {
    let app = spawn_partitioned(new_state()).await;
    let (a, b) = (as_partner(&app, PARTNER_A), as_partner(&app, PARTNER_B));
    let many: Vec<Value> = (0..101).map(|i| pk(&format!("K{i}"))).collect();
    for p in [&a, &b] {
        p.create_batch(CUSTOMER, "Big", Value::Array(many.clone()))
            .await;
    }
    app.finish_jobs();
    let path = format!("/v1/customers/{CUSTOMER}/deviceBatches/Big/devices");
    let page = a.get_json(&path).await;
    let token = page["continuationToken"].as_str().expect("a next page");
    let resumed = |p: &TestApp| {
        p.client
            .get(p.url(&path))
            .header("Authorization", TOKEN)
            .header("MS-ContinuationToken", token)
            .send_checked()
    };
    assert_eq!(resumed(&a).await.status(), StatusCode::OK);
    assert_eq!(resumed(&b).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn reset_of_a_customer_clears_it_in_every_partner_or_in_the_one_named() {
    let app = spawn_partitioned(new_state()).await;
    let (a, b) = (as_partner(&app, PARTNER_A), as_partner(&app, PARTNER_B));
    let batches = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    let others = format!("/v1/customers/{OTHER_CUSTOMER}/deviceBatches");
    for p in [&app, &a, &b] {
        p.create_batch(CUSTOMER, "B", json!([pk("K")])).await;
        p.create_batch(OTHER_CUSTOMER, "B", json!([pk("K")])).await;
    }
    let reset = app
        .control(
            Method::POST,
            &format!("/_emulator/reset?customer={CUSTOMER}"),
            None,
        )
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    for p in [&app, &a, &b] {
        assert_eq!(p.get_json(&batches).await["totalCount"], 0);
        assert_eq!(p.get_json(&others).await["totalCount"], 1);
    }
    let only_a = format!("/_emulator/reset?customer={OTHER_CUSTOMER}&partnerTenant={PARTNER_A}");
    app.control(Method::POST, &only_a, None).await;
    assert_eq!(a.get_json(&others).await["totalCount"], 0);
    assert_eq!(b.get_json(&others).await["totalCount"], 1);
    assert_eq!(app.get_json(&others).await["totalCount"], 1);
    let bad = app
        .control(Method::POST, "/_emulator/reset?partnerTenant=nope", None)
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    app.control(Method::POST, "/_emulator/reset", None).await;
    assert_eq!(b.get_json(&others).await["totalCount"], 0);
    assert!(state_doc(&app).await.get("partners").is_none());
}

#[tokio::test]
async fn the_journal_records_and_filters_by_partner_tenant() {
    let app = spawn_partitioned(new_state()).await;
    let a = as_partner(&app, PARTNER_A);
    let path = format!("/v1/customers/{CUSTOMER}/policies");
    a.get(&path).await;
    app.get(&path).await;
    let all: Value = app
        .control(Method::GET, "/_emulator/requests", None)
        .await
        .json()
        .unwrap();
    assert_eq!(all["requests"][0]["partnerTenant"], PARTNER_A);
    assert!(all["requests"][1].get("partnerTenant").is_none());
    let filtered: Value = app
        .control(
            Method::GET,
            &format!("/_emulator/requests?partnerTenant={PARTNER_A}"),
            None,
        )
        .await
        .json()
        .unwrap();
    assert_eq!(filtered["requests"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn export_reset_seed_round_trips_partners_exactly() {
    let app = spawn_partitioned(new_state()).await;
    let (a, b) = (as_partner(&app, PARTNER_A), as_partner(&app, PARTNER_B));
    assert!(state_doc(&app).await.get("partners").is_none());
    b.registered_devices(CUSTOMER, "B", json!([pk("K")])).await;
    a.create_policy(CUSTOMER, "P").await;
    app.create_batch(CUSTOMER, "D", json!([pk("K")])).await;
    let exported = state_doc(&app).await;
    let tenants: Vec<&Value> = exported["partners"]
        .as_array()
        .expect("partners")
        .iter()
        .map(|p| &p["tenantId"])
        .collect();
    assert_eq!(tenants, [PARTNER_A, PARTNER_B]);
    app.control(Method::POST, "/_emulator/reset", None).await;
    let seeded = app
        .control(Method::POST, "/_emulator/seed", Some(&exported))
        .await;
    assert_eq!(seeded.status(), StatusCode::OK);
    assert_eq!(state_doc(&app).await, exported);
    assert_eq!(
        b.get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
            .await["items"][0]["devicesCount"],
        1
    );
    let bad = json!({"customers": [], "partners": [{"tenantId": PARTNER_A, "customers": [7]}]});
    let response = app
        .control(Method::POST, "/_emulator/seed", Some(&bad))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().unwrap();
    let description = body["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("`partners[0].customers[0]` must be an object"),
        "{description}"
    );
}

#[tokio::test]
async fn partners_survive_a_restart_with_a_state_file() {
    let file = std::env::temp_dir().join(format!("pce-partners-{}.json", uuid::Uuid::new_v4()));
    let config = || {
        let mut config = Config::for_tests();
        config.state_file = Some(file.clone());
        config.clock = ClockMode::Manual;
        config.clock_start = Timestamp::parse_rfc3339(T0);
        config
    };
    let first = startup::build(config()).expect("starts");
    let app = spawn_partitioned(first.clone()).await;
    let a = as_partner(&app, PARTNER_A);
    a.registered_devices(CUSTOMER, "Kept", json!([pk("K")]))
        .await;
    persist::save(&first, &file).expect("saved");
    let exported = state_doc(&app).await;

    let second = spawn_partitioned(startup::build(config()).expect("restarts")).await;
    let batches = format!("/v1/customers/{CUSTOMER}/deviceBatches");
    assert_eq!(
        as_partner(&second, PARTNER_A).get_json(&batches).await["items"][0]["id"],
        "Kept"
    );
    assert_eq!(second.get_json(&batches).await["totalCount"], 0);
    let mut restored = state_doc(&second).await;
    restored["clock"] = exported["clock"].clone();
    assert_eq!(restored, exported);
    std::fs::remove_file(&file).ok();
}

#[tokio::test]
async fn the_dashboard_views_name_the_partner_tenant_of_partitioned_data() {
    let app = spawn_partitioned(new_state()).await;
    let a = as_partner(&app, PARTNER_A);
    let location = a.create_batch(CUSTOMER, "Theirs", json!([pk("K1")])).await;
    app.create_batch(CUSTOMER, "Ours", json!([pk("K1")])).await;
    app.finish_jobs();
    let summary = app.get_json("/_emulator/summary").await;
    let customers = summary["customers"].as_array().expect("customers");
    assert_eq!(customers.len(), 2);
    assert!(customers[0].get("partnerTenant").is_none());
    assert_eq!(customers[0]["batches"][0]["id"], "Ours");
    assert_eq!(customers[1]["partnerTenant"], PARTNER_A);
    assert_eq!(customers[1]["batches"][0]["id"], "Theirs");

    let jobs = app
        .get_json(&format!("/_emulator/jobs?partnerTenant={PARTNER_A}"))
        .await;
    assert_eq!(jobs["total"], 1);
    assert_eq!(jobs["jobs"][0]["partnerTenant"], PARTNER_A);
    let detail = app
        .get_json(&format!(
            "/_emulator/jobs/{}?partnerTenant={PARTNER_A}",
            tracking_id(&location)
        ))
        .await;
    assert_eq!(detail["devicesStatus"][0]["status"], "finished");
    let other = app
        .get(&format!(
            "/_emulator/jobs/{}?partnerTenant={PARTNER_B}",
            tracking_id(&location)
        ))
        .await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);

    let devices = app
        .get_json(&format!(
            "/_emulator/devices?customer={CUSTOMER}&batch=Theirs&partnerTenant={PARTNER_A}"
        ))
        .await;
    assert_eq!(devices["devices"][0]["partnerTenant"], PARTNER_A);
    let found = app.get_json("/_emulator/devices?q=K1").await;
    assert_eq!(found["devices"].as_array().map(Vec::len), Some(2));
}
