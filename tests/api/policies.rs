//! Configuration policies and profile assignment end to end.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

fn policies_path() -> String {
    format!("/v1/customers/{CUSTOMER}/policies")
}

fn policy_json(
    id: &str,
    name: &str,
    description: Option<&str>,
    count: u64,
    modified: &str,
) -> Value {
    let mut p = json!({
        "id": id, "name": name, "category": "o_o_b_e", "devicesAssignedCount": count,
        "policySettings": ["oobe_user_not_local_admin", "skip_express_settings"],
        "createdDate": "2026-11-21T10:00:00+00:00", "lastModifiedDate": modified,
        "attributes": {"objectType": "ConfigurationPolicy"}
    });
    if let Some(d) = description {
        p["description"] = json!(d);
    }
    p
}

#[tokio::test]
async fn a_policy_is_created_with_200_listed_read_updated_and_deleted() {
    let app = spawn_app().await;
    // The documented create request.
    let body = json!({"name": "Windows 10 Enterprise E5", "category": "o_o_b_e",
                      "description": "test policy creation from API",
                      "policySettings": ["oobe_user_not_local_admin", "skip_express_settings"]});
    let response = app.post_json(&policies_path(), &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let created: Value = response.json().unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    let expected = policy_json(
        &id,
        "Windows 10 Enterprise E5",
        Some("test policy creation from API"),
        0,
        "2026-11-21T10:00:00+00:00",
    );
    assert_eq!(created, expected);
    assert_eq!(
        app.get_json(&policies_path()).await,
        json!({"totalCount": 1, "items": [expected.clone()], "attributes": {"objectType": "Collection"}})
    );
    assert_eq!(
        app.get_json(&format!("{}/{id}", policies_path())).await,
        expected
    );

    app.advance(60);
    // The SDK's update: category defaults to "none" and must not change the policy's.
    let update = json!({"Id": "other", "Name": "Renamed", "Category": "none", "DevicesAssignedCount": 9,
                        "PolicySettings": ["oobe_user_not_local_admin", "skip_express_settings"]});
    let response = app
        .send_json(Method::PUT, &format!("{}/{id}", policies_path()), &update)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().unwrap(),
        policy_json(&id, "Renamed", None, 0, "2026-11-21T10:01:00+00:00")
    );

    let response = app.delete(&format!("{}/{id}", policies_path())).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.bytes().len(), 0);
    for method in [Method::GET, Method::DELETE, Method::PUT] {
        let response = app
            .send_json(method, &format!("{}/{id}", policies_path()), &update)
            .await;
        assert_error(
            response,
            StatusCode::NOT_FOUND,
            envelope(
                1000,
                &format!("Not found: policy `{id}` was not found for this customer."),
                &[],
            ),
        )
        .await;
    }
}

#[tokio::test]
async fn invalid_policies_are_rejected_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"policySettings": []}),
            "Invalid request input: `name` is required: name the profile.",
            "name",
        ),
        (
            json!({"name": "P"}),
            "Invalid request input: `policySettings` is required: an array of settings from none, remove_oem_preinstalls, oobe_user_not_local_admin, skip_express_settings, skip_oem_registration, skip_eula.",
            "policySettings",
        ),
        (
            json!({"name": "P", "policySettings": ["skip_eula", "SkipEverything"]}),
            "Invalid request input: `policySettings[1]` must be one of none, remove_oem_preinstalls, oobe_user_not_local_admin, skip_express_settings, skip_oem_registration, skip_eula, got `SkipEverything`.",
            "policySettings[1]",
        ),
        (
            json!({"name": "P", "policySettings": [], "category": "oobe"}),
            "Invalid request input: `category` must be one of none, o_o_b_e, got `oobe`.",
            "category",
        ),
    ];
    for (body, description, field) in cases {
        let response = app.post_json(&policies_path(), &body).await;
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            envelope(800002, description, &[field]),
        )
        .await;
    }
    assert_eq!(
        app.get_json(&policies_path()).await["totalCount"],
        0,
        "nothing was created"
    );
}

#[tokio::test]
async fn a_profile_assigned_by_a_policy_update_job_shows_by_name_and_counts() {
    let app = spawn_app().await;
    let policy = app
        .create_policy(CUSTOMER, "AzureAD Join Default Profile")
        .await;
    let pid = policy["id"].as_str().unwrap().to_owned();
    let ids = app
        .registered_devices(CUSTOMER, "B", json!([pk("K1"), pk("K2")]))
        .await;

    let body = json!({"Devices": [
        {"Id": ids[0], "SerialNumber": null, "Policies": [{"Key": "o_o_b_e", "Value": pid}], "Attributes": {"ObjectType": "Device"}},
        {"Id": "9993-8627-3608-6844-6369-4361-72", "Policies": [{"Key": "o_o_b_e", "Value": pid}]},
        {"Id": ids[1], "Policies": [{"Key": "o_o_b_e", "Value": "15a04610-9229-4e80-94e0-0e826a09c9e2"}]}
    ], "Attributes": {"ObjectType": "DevicePolicyUpdateRequest"}});
    let response = app
        .send_json(
            Method::PATCH,
            &format!("/v1/customers/{CUSTOMER}/DevicePolicyUpdates"),
            &body,
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.headers().get("content-length").unwrap(), "0");
    let location = location(&response);

    // Not applied before the job is terminal.
    let policy_path = format!("{}/{pid}", policies_path());
    assert_eq!(app.get_json(&policy_path).await["devicesAssignedCount"], 0);
    app.finish_jobs();
    let job = app.job(&location).await;
    assert_eq!(
        job["devicesStatus"],
        json!([
            {"deviceId": ids[0], "productKey": "K1", "status": "finished", "attributes": {"objectType": "DeviceUploadDetails"}},
            {"deviceId": "9993-8627-3608-6844-6369-4361-72", "status": "finished_with_errors", "errorCode": "812",
             "errorDescription": "ZtdDeviceNotFound", "attributes": {"objectType": "DeviceUploadDetails"}},
            {"deviceId": ids[1], "productKey": "K2", "status": "finished_with_errors", "errorCode": "809",
             "errorDescription": "ZtdProfileIsNotRegistered", "attributes": {"objectType": "DeviceUploadDetails"}}
        ])
    );
    let devices = app
        .get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches/B/devices"))
        .await;
    assert_eq!(
        devices["items"][0]["policies"],
        json!([{"key": "o_o_b_e", "value": "AzureAD Join Default Profile"}])
    );
    assert_eq!(
        devices["items"][1]["policies"],
        json!([{"key": "o_o_b_e", "value": null}])
    );
    assert_eq!(app.get_json(&policy_path).await["devicesAssignedCount"], 1);

    // Deleting the device, or the policy, drops the assignment.
    app.delete(&format!(
        "/v1/customers/{CUSTOMER}/deviceBatches/B/devices/{}",
        ids[0]
    ))
    .await;
    assert_eq!(app.get_json(&policy_path).await["devicesAssignedCount"], 0);
}

#[tokio::test]
async fn deleting_a_policy_unassigns_its_devices() {
    let app = spawn_app().await;
    let policy = app.create_policy(CUSTOMER, "P").await;
    let ids = app
        .registered_devices(CUSTOMER, "B", json!([pk("K1")]))
        .await;
    let path = format!(
        "/v1/customers/{CUSTOMER}/deviceBatches/B/devices/{}",
        ids[0]
    );
    let assign = json!({"policies": [{"key": "o_o_b_e", "value": policy["id"]}]});
    app.send_json(Method::PUT, &path, &assign).await;
    app.delete(&format!(
        "{}/{}",
        policies_path(),
        policy["id"].as_str().unwrap()
    ))
    .await;
    let devices = app
        .get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches/B/devices"))
        .await;
    assert_eq!(
        devices["items"][0]["policies"],
        json!([{"key": "o_o_b_e", "value": null}])
    );
}

#[tokio::test]
async fn malformed_policy_updates_are_400_and_create_no_job() {
    let app = spawn_app().await;
    let path = format!("/v1/customers/{CUSTOMER}/DevicePolicyUpdates");
    let cases = [
        (
            json!({"devices": []}),
            "Invalid request input: `devices` must contain at least one Device.",
            "devices",
        ),
        (
            json!({"devices": [{"policies": [{"key": "o_o_b_e", "value": null}]}]}),
            "Invalid request input: `devices[0].id` is required: the device id to update.",
            "devices[0].id",
        ),
        (
            json!({"devices": [{"id": "D"}]}),
            "Invalid request input: `devices[0].policies` is required: give one {\"key\": \"o_o_b_e\", \"value\": <policy id or null>} entry.",
            "devices[0].policies",
        ),
        (
            json!({"devices": [{"id": "D", "policies": [{"key": "o_o_b_e", "value": 5}]}]}),
            "Invalid request input: `devices[0].policies[0].value` must be a policy id (a string) or null, got a number.",
            "devices[0].policies[0].value",
        ),
    ];
    for (body, description, field) in cases {
        let response = app.send_json(Method::PATCH, &path, &body).await;
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            envelope(800002, description, &[field]),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_stay_exact_under_concurrent_assignments_and_deletions() {
    let app = spawn_app().await;
    let policy = app.create_policy(CUSTOMER, "P").await;
    let pid = policy["id"].as_str().unwrap().to_owned();
    let devices: Vec<Value> = (0..60).map(|i| pk(&format!("K{i}"))).collect();
    let ids = app.registered_devices(CUSTOMER, "B", json!(devices)).await;
    let tasks: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let client = app.client.clone();
            let base = app.address.clone();
            let (id, pid) = (id.clone(), pid.clone());
            tokio::spawn(async move {
                let device = format!("{base}/v1/customers/{CUSTOMER}/deviceBatches/B/devices/{id}");
                let assign = json!({"policies": [{"key": "o_o_b_e", "value": pid}]});
                let r = client
                    .put(&device)
                    .header("Authorization", TOKEN)
                    .json(&assign)
                    .send_checked()
                    .await;
                assert_eq!(r.status(), StatusCode::OK);
                if i % 3 == 0 {
                    let r = client
                        .delete(&device)
                        .header("Authorization", TOKEN)
                        .send_checked()
                        .await;
                    assert_eq!(r.status(), StatusCode::NO_CONTENT);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        app.get_json(&format!("{}/{pid}", policies_path())).await["devicesAssignedCount"],
        40
    );
    assert_eq!(
        app.get_json(&format!("/v1/customers/{CUSTOMER}/deviceBatches"))
            .await["items"][0]["devicesCount"],
        40
    );
}

#[tokio::test]
async fn policy_names_and_descriptions_are_bounded() {
    let app = spawn_app().await;
    let path = format!("/v1/customers/{CUSTOMER}/policies");
    for (body, field) in [
        (
            json!({"name": "n".repeat(257), "policySettings": ["skip_eula"]}),
            "name",
        ),
        (
            json!({"name": "ok", "description": "d".repeat(1025), "policySettings": ["skip_eula"]}),
            "description",
        ),
    ] {
        let response = app.post_json(&path, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let error: Value = response.json().unwrap();
        assert_eq!(error["data"], json!([field]), "{error}");
    }
    let listed = app.get_json(&path).await;
    assert_eq!(listed["totalCount"], 0, "nothing was created");
    let longest = json!({"name": "n".repeat(256), "description": "d".repeat(1024), "policySettings": ["skip_eula"]});
    assert_eq!(
        app.post_json(&path, &longest).await.status(),
        StatusCode::OK
    );
}
