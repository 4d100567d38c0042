//! Every link the emulator writes leads back to what it names, whatever characters a batch id has.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

const AWKWARD_IDS: [&str; 8] = [
    "a/b",
    "what?now",
    "#1",
    "100%",
    "a+b",
    "two words",
    "Größe 批次",
    "all/ ?#%+ é",
];

/// GETs a link's `uri` as a client does: `/v1` prefixed, the link's headers sent.
async fn follow(app: &TestApp, link: &Value) -> Value {
    let uri = link["uri"].as_str().expect("uri");
    assert!(uri.is_ascii() && !uri.contains(' '), "{uri}");
    let mut request = app
        .client
        .get(app.url(&format!("/v1{uri}")))
        .header("Authorization", TOKEN);
    for h in link["headers"].as_array().expect("headers") {
        request = request.header(h["key"].as_str().unwrap(), h["value"].as_str().unwrap());
    }
    let response = request.send_checked().await;
    assert_eq!(response.status(), StatusCode::OK, "GET {uri}");
    response.json().expect("JSON body")
}

#[tokio::test]
async fn devices_link_and_links_next_lead_back_to_batches_with_awkward_ids() {
    let app = spawn_app().await;
    for (n, id) in AWKWARD_IDS.iter().enumerate() {
        // 101 devices: a second page, so `links.next` is written too.
        let devices: Vec<Value> = (0..101).map(|i| pk(&format!("PK-{n}-{i}"))).collect();
        let location = app.create_batch(CUSTOMER, id, json!(devices)).await;
        app.finish_jobs();
        assert_eq!(app.job(&location).await["status"], "finished");
    }
    let batches = app
        .get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
        .await;
    let items = batches["items"].as_array().expect("items");
    assert_eq!(items.len(), AWKWARD_IDS.len());
    for (n, batch) in items.iter().enumerate() {
        assert_eq!(batch["id"], AWKWARD_IDS[n]);
        let first = follow(&app, &batch["devicesLink"]).await;
        assert_eq!(first["totalCount"], 100, "{}", AWKWARD_IDS[n]);
        assert_eq!(first["items"][0]["productKey"], format!("PK-{n}-0"));
        let second = follow(&app, &first["links"]["next"]).await;
        assert_eq!(second["totalCount"], 1, "{}", AWKWARD_IDS[n]);
        assert_eq!(second["items"][0]["productKey"], format!("PK-{n}-100"));
        assert_eq!(second["links"], json!({}));
    }
    // Decoded on the way in: an upload addressed by the encoded id reaches the same batch.
    let location = app
        .add_devices(
            CUSTOMER,
            "all%2F%20%3F%23%25%2B%20%C3%A9",
            json!([pk("PK-extra")]),
        )
        .await;
    app.finish_jobs();
    assert_eq!(
        app.job(&location).await["devicesStatus"][0]["status"],
        "finished"
    );
}
