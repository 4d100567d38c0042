//! Devices of a batch: paging, update, deletion, isolation.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

fn devices_path(batch: &str) -> String {
    format!("/v1/customers/{CUSTOMER}/deviceBatches/{batch}/devices")
}

fn device_json(id: &str, policy: Value) -> Value {
    json!({
        "id": id,
        "serialNumber": "2R9-ZNP67",
        "productKey": "00329-00000-0003-AA606",
        "modelName": "Precision WorkStation T7500",
        "oemManufacturerName": "Dell Inc.",
        "policies": [{"key": "o_o_b_e", "value": policy}],
        "uploadedDate": "2026-11-21T10:00:00+00:00",
        "attributes": {"objectType": "Device"}
    })
}

fn full_device() -> Value {
    json!({"hardwareHash": "SECRET-HASH", "serialNumber": "2R9-ZNP67", "productKey": "00329-00000-0003-AA606",
           "modelName": "Precision WorkStation T7500", "oemManufacturerName": "Dell Inc."})
}

#[tokio::test]
async fn a_device_is_listed_with_every_field_but_its_hardware_hash_once_registered() {
    let app = spawn_app().await;
    let location = app
        .create_batch(CUSTOMER, "B", json!([full_device()]))
        .await;
    let empty = json!({"totalCount": 0, "items": [], "links": {}, "attributes": {"objectType": "Collection"}});
    assert_eq!(
        app.get_json(&devices_path("B")).await,
        empty,
        "not listed before the job is terminal"
    );
    app.finish_jobs();
    let id = app.job(&location).await["devicesStatus"][0]["deviceId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get_json(&devices_path("b")).await,
        json!({"totalCount": 1, "items": [device_json(&id, Value::Null)], "links": {},
               "attributes": {"objectType": "Collection"}})
    );
}

#[tokio::test]
async fn paging_across_250_devices_gives_three_pages_without_repeats_or_losses() {
    let app = spawn_app().await;
    let devices: Vec<Value> = (0..250).map(|i| pk(&format!("K{i:03}"))).collect();
    app.create_batch(CUSTOMER, "Big batch", json!(devices))
        .await;
    app.finish_jobs();

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let mut request = app
            .client
            .get(app.url(&devices_path("Big%20batch")))
            .header("Authorization", TOKEN);
        if let Some(t) = &token {
            request = request.header("MS-ContinuationToken", t);
        }
        let page: Value = request.send_checked().await.json().unwrap();
        let items = page["items"].as_array().unwrap();
        sizes.push(items.len());
        assert_eq!(page["totalCount"], json!(items.len()));
        seen.extend(
            items
                .iter()
                .map(|d| d["productKey"].as_str().unwrap().to_owned()),
        );
        match page.get("continuationToken").and_then(Value::as_str) {
            Some(next) => {
                assert_eq!(
                    page["links"],
                    json!({"next": {"uri": format!("/customers/{CUSTOMER}/deviceBatches/Big%20batch/devices"),
                                    "method": "GET", "headers": [{"key": "MS-ContinuationToken", "value": next}]}})
                );
                token = Some(next.to_owned());
            }
            None => {
                assert_eq!(page["links"], json!({}));
                break;
            }
        }
    }
    assert_eq!(sizes, [100, 100, 50]);
    let expected: Vec<String> = (0..250).map(|i| format!("K{i:03}")).collect();
    assert_eq!(seen, expected, "upload order, nothing repeated or lost");
}

#[tokio::test]
async fn a_bad_or_foreign_continuation_token_is_400() {
    let app = spawn_app().await;
    let devices: Vec<Value> = (0..101).map(|i| pk(&format!("K{i}"))).collect();
    app.create_batch(CUSTOMER, "A", json!(devices)).await;
    app.create_batch(CUSTOMER, "Other", json!([pk("X")])).await;
    app.finish_jobs();
    let page = app.get_json(&devices_path("A")).await;
    let token = page["continuationToken"].as_str().unwrap().to_owned();
    let expected = envelope(
        800002,
        "Invalid request input: `MS-ContinuationToken` is not valid for this batch: it is malformed, belongs to another batch, or predates a reset. Request the first page again without it.",
        &["MS-ContinuationToken"],
    );
    for (batch, token) in [("A", "not-a-token"), ("Other", token.as_str())] {
        let response = app
            .client
            .get(app.url(&devices_path(batch)))
            .header("Authorization", TOKEN)
            .header("MS-ContinuationToken", token)
            .send_checked()
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, expected.clone()).await;
    }
    let response = app.get(&devices_path("Missing")).await;
    assert_error(
        response,
        StatusCode::NOT_FOUND,
        envelope(
            1000,
            "Not found: device batch `Missing` was not found for this customer.",
            &[],
        ),
    )
    .await;
}

#[tokio::test]
async fn deleting_a_device_unregisters_it_and_updates_the_count() {
    let app = spawn_app().await;
    let ids = app
        .registered_devices(CUSTOMER, "B", json!([pk("K1"), pk("K2")]))
        .await;
    let response = app
        .delete(&format!("{}/{}", devices_path("B"), ids[0]))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers().get("ms-requestid").is_some());
    assert_eq!(response.bytes().len(), 0);
    let batches = app
        .get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
        .await;
    assert_eq!(batches["items"][0]["devicesCount"], 1);

    let again = app
        .delete(&format!("{}/{}", devices_path("B"), ids[0]))
        .await;
    assert_error(
        again,
        StatusCode::NOT_FOUND,
        envelope(
            1000,
            &format!(
                "Not found: device `{}` was not found in this batch.",
                ids[0]
            ),
            &[],
        ),
    )
    .await;
    let wrong_batch = app
        .delete(&format!("{}/{}", devices_path("Nope"), ids[1]))
        .await;
    assert_eq!(wrong_batch.status(), StatusCode::NOT_FOUND);
    // Another customer cannot delete it, even knowing the id.
    let foreign = app
        .delete(&format!(
            "/v1/customers/{OTHER_CUSTOMER}/deviceBatches/B/devices/{}",
            ids[1]
        ))
        .await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);

    // The deleted device can be uploaded again.
    let location = app.add_devices(CUSTOMER, "B", json!([pk("K1")])).await;
    app.finish_jobs();
    assert_eq!(
        app.job(&location).await["devicesStatus"][0]["status"],
        "finished"
    );
}

#[tokio::test]
async fn put_changes_only_the_profile_and_answers_the_updated_device() {
    let app = spawn_app().await;
    let ids = app
        .registered_devices(CUSTOMER, "B", json!([full_device()]))
        .await;
    let policy = app.create_policy(CUSTOMER, "Kiosk").await;
    let path = format!("{}/{}", devices_path("B"), ids[0]);
    let body = json!({"Id": "ignored", "SerialNumber": "CHANGED", "HardwareHash": "X", "UploadedDate": "0001-01-01T00:00:00",
                      "Policies": [{"Key": "o_o_b_e", "Value": policy["id"]}]});
    let response = app.send_json(Method::PUT, &path, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().unwrap(),
        device_json(&ids[0], json!("Kiosk"))
    );

    let unassign = app
        .send_json(Method::PUT, &path, &json!({"policies": []}))
        .await;
    assert_eq!(
        unassign.json::<Value>().unwrap(),
        device_json(&ids[0], Value::Null)
    );

    let unknown = app
        .send_json(
            Method::PUT,
            &path,
            &json!({"policies": [{"key": "o_o_b_e", "value": "nope"}]}),
        )
        .await;
    assert_error(
        unknown,
        StatusCode::BAD_REQUEST,
        envelope(800002, "Invalid request input: `policies[0].value` names policy `nope`, which this customer does not have.", &["policies[0].value"]),
    )
    .await;
    let bad_key = app
        .send_json(
            Method::PUT,
            &path,
            &json!({"policies": [{"key": "none", "value": null}]}),
        )
        .await;
    assert_error(
        bad_key,
        StatusCode::BAD_REQUEST,
        envelope(800002, "Invalid request input: `policies[0].key` must be `o_o_b_e` (the only category a profile is assigned under), got `none`.", &["policies[0].key"]),
    )
    .await;
    let missing = app
        .send_json(
            Method::PUT,
            &format!("{}/{}", devices_path("B"), uuid::Uuid::nil()),
            &json!({}),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}
