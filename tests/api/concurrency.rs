//! Many simultaneous uploads into one batch lose nothing and never deadlock.

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
