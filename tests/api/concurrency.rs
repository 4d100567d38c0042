//! Many simultaneous uploads into one batch lose nothing and never deadlock, and the same
//! devices raced into two customers (whose uploads take different locks) get exactly one owner.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_uploads_into_one_batch_lose_no_device() {
    let app = spawn_app().await;
    app.create_batch(CUSTOMER, "Shared", json!([pk("seed")]))
        .await;
    let (uploads, per_upload) = (64, 25);
    let tasks: Vec<_> = (0..uploads)
        .map(|u| {
            let client = app.client.clone();
            let url = app.url(&format!(
                "/v1/customers/{CUSTOMER}/deviceBatches/Shared/devices"
            ));
            tokio::spawn(async move {
                let devices: Vec<Value> =
                    (0..per_upload).map(|d| pk(&format!("K-{u}-{d}"))).collect();
                let response = client
                    .post(url)
                    .header("Authorization", TOKEN)
                    .json(&devices)
                    .send_checked()
                    .await;
                assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
                location(&response)
            })
        })
        .collect();
    let mut locations = Vec::new();
    for task in tasks {
        locations.push(task.await.unwrap());
    }
    let distinct: std::collections::HashSet<_> = locations.iter().collect();
    assert_eq!(distinct.len(), uploads);

    app.finish_jobs();
    for location in &locations {
        let job = app.job(location).await;
        let devices = job["devicesStatus"].as_array().unwrap();
        assert_eq!(devices.len(), per_upload);
        assert!(devices.iter().all(|d| d["status"] == "finished"), "{job}");
    }
    let batches = app
        .get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
        .await;
    assert_eq!(
        batches["items"][0]["devicesCount"],
        json!(1 + uploads * per_upload)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_devices_raced_into_two_customers_get_exactly_one_owner_each() {
    let app = spawn_app().await;
    let customers = [CUSTOMER, OTHER_CUSTOMER];
    for customer in customers {
        // A batch needs a device; each customer's first is its own.
        app.create_batch(customer, "Race", json!([pk(&format!("SEED-{customer}"))]))
            .await;
    }
    // Every key is uploaded twice by each customer, in uploads of 500 that start at once (large,
    // so that deciding one takes long enough for the other customer's to overlap it),
    // interleaved across the customers so that their uploads of one key overlap.
    let (keys, per_upload, rounds) = (2_000, 500, 2);
    let mut tasks = Vec::new();
    for round in 0..rounds {
        for chunk in 0..keys / per_upload {
            for customer in customers {
                let client = app.client.clone();
                let url = app.url(&format!(
                    "/v1/customers/{customer}/deviceBatches/Race/devices"
                ));
                tasks.push(tokio::spawn(async move {
                    let devices: Vec<Value> = (chunk * per_upload..(chunk + 1) * per_upload)
                        .map(|k| pk(&format!("RACE-{k}")))
                        .collect();
                    let response = client
                        .post(url)
                        .header("Authorization", TOKEN)
                        .header("MS-RequestId", uuid::Uuid::new_v4().to_string())
                        .json(&devices)
                        .send_checked()
                        .await;
                    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
                    (customer, round, location(&response))
                }));
            }
        }
    }
    let mut uploads = Vec::new();
    for task in tasks {
        uploads.push(task.await.unwrap());
    }
    assert_eq!(uploads.len(), rounds * 2 * keys / per_upload);

    app.finish_jobs();
    // key -> (customer, outcome) for every upload of it.
    let mut outcomes: std::collections::HashMap<String, Vec<(&str, String)>> =
        std::collections::HashMap::new();
    for (customer, _, location) in &uploads {
        let job = app.job(location).await;
        assert_eq!(job["status"], "finished", "{job}");
        let entries = job["devicesStatus"].as_array().unwrap();
        assert_eq!(entries.len(), per_upload);
        for e in entries {
            let outcome = match (e["status"].as_str(), e["errorCode"].as_str()) {
                (Some("finished"), None) => "registered".to_owned(),
                (_, Some(code)) => code.to_owned(),
                _ => panic!("neither registered nor failed: {e}"),
            };
            let key = e["productKey"].as_str().unwrap().to_owned();
            outcomes.entry(key).or_default().push((*customer, outcome));
        }
    }
    assert_eq!(outcomes.len(), keys);
    let mut won = std::collections::HashMap::<&str, Vec<String>>::new();
    for (key, seen) in &outcomes {
        assert_eq!(seen.len(), rounds * 2, "{key}: {seen:?}");
        let owners: Vec<&str> = seen
            .iter()
            .filter(|(_, o)| o == "registered")
            .map(|(c, _)| *c)
            .collect();
        assert_eq!(owners.len(), 1, "{key} has one owner: {seen:?}");
        let owner = owners[0];
        let mut rest: Vec<(&str, &str)> = seen
            .iter()
            .filter(|(_, o)| o != "registered")
            .map(|(c, o)| (*c, o.as_str()))
            .collect();
        rest.sort_unstable();
        let other = customers.into_iter().find(|c| *c != owner).unwrap();
        let mut expected = vec![(owner, "806"), (other, "808"), (other, "808")];
        expected.sort_unstable();
        assert_eq!(rest, expected, "{key}");
        won.entry(owner).or_default().push(key.clone());
    }
    // What each customer lists is exactly what it won, and the counts add up.
    let mut total = 0;
    for customer in customers {
        let batches = app
            .get_json(&format!("/v1/customers/{customer}/deviceBatches"))
            .await;
        let count = batches["items"][0]["devicesCount"].as_u64().unwrap() as usize;
        let mut listed = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = app
                .client
                .get(app.url(&format!(
                    "/v1/customers/{customer}/deviceBatches/Race/devices"
                )))
                .header("Authorization", TOKEN);
            if let Some(t) = &token {
                request = request.header("MS-ContinuationToken", t);
            }
            let page: Value = request.send_checked().await.json().unwrap();
            listed.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["productKey"].as_str().unwrap().to_owned())
                    .filter(|k| !k.starts_with("SEED-")),
            );
            match page.get("continuationToken").and_then(Value::as_str) {
                Some(next) => token = Some(next.to_owned()),
                None => break,
            }
        }
        listed.sort_unstable();
        let mut mine = won.remove(customer).unwrap_or_default();
        mine.sort_unstable();
        assert_eq!(listed, mine, "{customer}");
        assert_eq!(count, 1 + mine.len());
        total += count - 1;
    }
    assert_eq!(total, keys);
}
