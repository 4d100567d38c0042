//! The dashboard page and its JSON views: `/_emulator/ui`, `summary` (with its `ETag`), `jobs`,
//! `jobs/{id}` and `devices`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn the_page_is_html_that_may_only_talk_to_its_own_origin() {
    let app = spawn_app().await;
    let page = app.get("/_emulator/ui").await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("connect-src 'self'") && csp.contains("default-src 'none'"));
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // Only the page's own script and style run: they carry this answer's nonce.
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap()
        .to_owned();
    let html = page.text().unwrap();
    assert!(html.contains(&format!("<script nonce=\"{nonce}\">")));
    assert!(html.contains(&format!("<style nonce=\"{nonce}\">")));
    assert!(!html.contains(" style=\""), "no inline style attributes");
    assert!(html.contains("<main"), "the page has a main landmark");
    // Offline: nothing is loaded from another origin.
    assert!(!html.contains("http://") && !html.contains("https://"));
}

#[tokio::test]
async fn the_summary_counts_batches_and_jobs_and_answers_304_until_something_changes() {
    let app = spawn_app().await;
    let location = app
        .create_batch(CUSTOMER, "Lab", json!([pk("K1"), pk("K1"), pk("K2")]))
        .await;
    let first = app.get("/_emulator/summary").await;
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = first.json().unwrap();
    assert_eq!(body["mode"], "manual");
    assert_eq!(body["nextTransition"], "2026-11-21T10:00:01Z");
    assert_eq!(
        body["customers"],
        json!([{"id": CUSTOMER, "policies": 0, "jobs": {"queued": 1, "processing": 0, "finished": 0},
                "batches": [{"id": "Lab", "creationDate": "2026-11-21T10:00:00Z", "devicesCount": 0, "pendingCount": 2}]}])
    );

    let again = app
        .client
        .get(app.url("/_emulator/summary"))
        .header("If-None-Match", &etag)
        .send_checked()
        .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);

    app.finish_jobs();
    let moved = app
        .client
        .get(app.url("/_emulator/summary"))
        .header("If-None-Match", &etag)
        .send_checked()
        .await;
    assert_eq!(moved.status(), StatusCode::OK);
    let body: Value = moved.json().unwrap();
    assert_eq!(body["customers"][0]["batches"][0]["devicesCount"], 2);
    assert_eq!(body["customers"][0]["jobs"]["finished"], 1);
    assert!(body.get("nextTransition").is_none());

    // A Partner Center request lands in the journal, which the tag covers.
    let etag = app.get("/_emulator/summary").await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    app.job(&location).await;
    let after = app
        .client
        .get(app.url("/_emulator/summary"))
        .header("If-None-Match", &etag)
        .send_checked()
        .await;
    assert_eq!(after.status(), StatusCode::OK);

    // An upload changes the registry, which the last walk of it must not hide.
    app.add_devices(CUSTOMER, "Lab", json!([pk("K9")])).await;
    let body = app.get_json("/_emulator/summary").await;
    assert_eq!(body["customers"][0]["batches"][0]["pendingCount"], 1);
    assert_eq!(body["journalEntries"], 3);
}

#[tokio::test]
async fn jobs_are_listed_newest_first_and_their_outcomes_revealed_when_terminal() {
    let app = spawn_app().await;
    let first = app
        .create_batch(CUSTOMER, "Lab", json!([pk("K1"), pk("K1")]))
        .await;
    app.advance(1);
    let second = app.add_devices(CUSTOMER, "Lab", json!([pk("K3")])).await;
    let jobs: Value = app.get_json("/_emulator/jobs").await;
    assert_eq!(jobs["total"], 2);
    assert_eq!(jobs["jobs"][0]["trackingId"], tracking_id(&second));
    assert_eq!(jobs["jobs"][1]["trackingId"], tracking_id(&first));
    assert_eq!(jobs["jobs"][1]["status"], "processing");
    assert_eq!(jobs["jobs"][1]["kind"], "upload");
    assert_eq!(jobs["jobs"][1]["batch"], "Lab");
    assert!(jobs["jobs"][1].get("failed").is_none());

    let path = format!("/_emulator/jobs/{}", tracking_id(&first));
    let detail = app.get_json(&path).await;
    assert_eq!(detail["devicesStatus"][1]["status"], "processing");
    assert!(detail["devicesStatus"][1].get("errorCode").is_none());
    app.advance(2);
    let detail = app.get_json(&format!("{path}?failed=true")).await;
    assert_eq!(detail["job"]["failed"], 1);
    assert_eq!(
        detail["devicesStatus"],
        json!([{"position": 1, "productKey": "K1", "status": "finished_with_errors",
                "errorCode": "813", "errorDescription": "ZtdDeviceIsNotUnique"}])
    );
    let one = app.get_json(&format!("{path}?limit=1")).await;
    assert_eq!(one["nextOffset"], 1);
    let past = app
        .get_json(&format!("{path}?offset=99999999999999999999999999"))
        .await;
    assert_eq!(past["devicesStatus"], json!([]));

    let missing = app
        .get("/_emulator/jobs/0127ed8e-ff72-4983-a3d8-e8d8bd378932")
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let bad = app.get("/_emulator/jobs?limit=-1").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn devices_page_by_position_and_search_by_serial_number_or_product_key() {
    let app = spawn_app().await;
    let devices: Vec<Value> = (0..5)
        .map(|i| json!({"serialNumber": format!("SN-{i}"), "productKey": format!("PK-{i}")}))
        .collect();
    app.create_batch(CUSTOMER, "Lab", json!(devices)).await;
    let pending = app
        .get_json(&format!(
            "/_emulator/devices?customer={CUSTOMER}&batch=lab&limit=2"
        ))
        .await;
    assert_eq!(pending["positions"], 5);
    assert_eq!(pending["nextOffset"], 2);
    assert_eq!(pending["devices"][0]["listed"], false);
    app.finish_jobs();
    let last = app
        .get_json(&format!(
            "/_emulator/devices?customer={CUSTOMER}&batch=Lab&offset=4"
        ))
        .await;
    assert_eq!(last["devices"][0]["serialNumber"], "SN-4");
    assert_eq!(last["devices"][0]["listed"], true);
    assert!(last.get("nextOffset").is_none());

    let found = app.get_json("/_emulator/devices?q=pk-3").await;
    assert_eq!(found["devices"].as_array().unwrap().len(), 1);
    assert_eq!(found["devices"][0]["batch"], "Lab");
    assert_eq!(found["devices"][0]["customer"], CUSTOMER);

    for bad in [
        "/_emulator/devices",
        "/_emulator/devices?batch=Lab",
        "/_emulator/devices?q=x&batch=Lab",
        "/_emulator/devices?q=x&colour=red",
    ] {
        assert_eq!(
            app.get(bad).await.status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let missing = app
        .get(&format!(
            "/_emulator/devices?customer={CUSTOMER}&batch=nope"
        ))
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_journal_lists_without_bodies_when_asked() {
    let app = spawn_app().await;
    app.create_batch(CUSTOMER, "Lab", json!([pk("K1")])).await;
    let with = app.get_json("/_emulator/requests").await;
    assert!(with["requests"][0]["body"].as_str().unwrap().contains("K1"));
    let without = app.get_json("/_emulator/requests?bodies=false").await;
    assert!(without["requests"][0].get("body").is_none());
    assert_eq!(without["requests"][0]["bodyTruncated"], false);
    let bad = app.get("/_emulator/requests?bodies=maybe").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}
