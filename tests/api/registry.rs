//! The seeded world behind the device error catalogue: the OEM registry (`oemDevices`: 807 for
//! tuples it does not know, 814 for Entra-registered devices) and other tenants' devices and
//! profiles in policy updates (811, 810).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const MINE_POLICY: &str = "15a04610-9229-4e80-94e0-0e826a09c9e2";
const OTHER_POLICY: &str = "25a04610-9229-4e80-94e0-0e826a09c9e2";
const MINE_DEVICE: &str = "7c141ea9-2816-4e15-a819-53f6856499ff";
const OTHER_DEVICE: &str = "8c141ea9-2816-4e15-a819-53f6856499ff";

fn tuple(serial: &str, maker: &str) -> Value {
    json!({"serialNumber": serial, "oemManufacturerName": maker, "modelName": "Laptop 7"})
}

fn registered(serial: Option<&str>, key: Option<&str>) -> Value {
    let mut d = json!({"deviceId": "<guid>", "status": "finished", "attributes": {"objectType": "DeviceUploadDetails"}});
    if let Some(s) = serial {
        d["serialNumber"] = json!(s);
    }
    if let Some(k) = key {
        d["productKey"] = json!(k);
    }
    d
}

fn failed(serial: Option<&str>, key: Option<&str>, code: &str, name: &str) -> Value {
    let mut d = json!({"status": "finished_with_errors", "errorCode": code, "errorDescription": name,
                       "attributes": {"objectType": "DeviceUploadDetails"}});
    if let Some(s) = serial {
        d["serialNumber"] = json!(s);
    }
    if let Some(k) = key {
        d["productKey"] = json!(k);
    }
    d
}

async fn seed(app: &TestApp, doc: &Value) {
    let response = app
        .control(Method::POST, "/_emulator/seed", Some(doc))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text());
}

/// Uploads `devices` into a new batch and returns the finished job's `devicesStatus`.
async fn outcomes(app: &TestApp, batch: &str, devices: Value) -> Value {
    let location = app.create_batch(CUSTOMER, batch, devices).await;
    app.finish_jobs();
    redact_device_ids(app.job(&location).await)["devicesStatus"].clone()
}

#[tokio::test]
async fn tuples_a_seeded_oem_registry_does_not_know_fail_with_807() {
    let app = spawn_app().await;
    seed(
        &app,
        &json!({"customers": [], "oemDevices": [tuple("OEM-1", "Contoso")]}),
    )
    .await;
    let devices = json!([
        tuple("OEM-1", "Contoso"),
        tuple("OEM-2", "Contoso"),
        // Tuples match exactly, as SMBIOS strings do.
        tuple("OEM-1", "contoso"),
        // A product key is not a tuple registration: the registry is not asked.
        {"productKey": "K1", "serialNumber": "OEM-3"},
    ]);
    assert_eq!(
        outcomes(&app, "B", devices).await,
        json!([
            registered(Some("OEM-1"), None),
            failed(Some("OEM-2"), None, "807", "ZtdDeviceIsNotRegistered"),
            failed(Some("OEM-1"), None, "807", "ZtdDeviceIsNotRegistered"),
            registered(Some("OEM-3"), Some("K1"))
        ])
    );
}

#[tokio::test]
async fn without_oem_devices_every_tuple_registers() {
    let app = spawn_app().await;
    assert_eq!(
        outcomes(&app, "B", json!([tuple("ANY-1", "Contoso")])).await,
        json!([registered(Some("ANY-1"), None)])
    );
}

#[tokio::test]
async fn devices_seeded_as_entra_registered_fail_every_upload_with_814() {
    let app = spawn_app().await;
    let oem = json!([
        {"serialNumber": "AAD-1", "oemManufacturerName": "Contoso", "modelName": "Laptop 7", "aadRegistered": true},
        {"serialNumber": "AAD-2", "oemManufacturerName": "Contoso", "modelName": "Laptop 7",
         "hardwareHash": "T0EGBAEAHAAAAAoA", "aadRegistered": true},
        {"serialNumber": "AAD-3", "oemManufacturerName": "Contoso", "modelName": "Laptop 7",
         "productKey": "PK-AAD", "aadRegistered": true},
        tuple("FREE-1", "Contoso"),
    ]);
    seed(&app, &json!({"customers": [], "oemDevices": oem})).await;
    let devices = json!([
        tuple("AAD-1", "Contoso"),
        {"hardwareHash": "T0EGBAEAHAAAAAoA", "serialNumber": "whatever"},
        {"productKey": "PK-AAD"},
        tuple("FREE-1", "Contoso"),
    ]);
    let name = "ZtdDeviceAlreadyAadRegistered";
    assert_eq!(
        outcomes(&app, "B", devices).await,
        json!([
            failed(Some("AAD-1"), None, "814", name),
            failed(Some("whatever"), None, "814", name),
            failed(None, Some("PK-AAD"), "814", name),
            registered(Some("FREE-1"), None)
        ])
    );
}

fn two_customers() -> Value {
    let customer = |id: &str, policy: &str, device: &str, key: &str| {
        json!({"id": id,
               "policies": [{"id": policy, "name": format!("Profile {key}"), "policySettings": ["skip_eula"]}],
               "batches": [{"id": "Lab", "devices": [{"id": device, "productKey": key}]}]})
    };
    json!({"customers": [
        customer(CUSTOMER, MINE_POLICY, MINE_DEVICE, "MINE"),
        customer(OTHER_CUSTOMER, OTHER_POLICY, OTHER_DEVICE, "THEIRS")
    ]})
}

#[tokio::test]
async fn policy_updates_naming_another_tenants_device_or_profile_fail_with_811_and_810() {
    let app = spawn_app().await;
    seed(&app, &two_customers()).await;
    let update = |device: &str, policy: &str| json!({"id": device, "policies": [{"key": "o_o_b_e", "value": policy}]});
    let body = json!({"devices": [
        update(OTHER_DEVICE, MINE_POLICY),
        update(MINE_DEVICE, OTHER_POLICY),
        update("8d141ea9-2816-4e15-a819-53f6856499ff", MINE_POLICY),
        update(MINE_DEVICE, "35a04610-9229-4e80-94e0-0e826a09c9e2"),
        update(MINE_DEVICE, MINE_POLICY),
    ]});
    let path = format!("/v1/customers/{CUSTOMER}/DevicePolicyUpdates");
    let response = app.send_json(Method::PATCH, &path, &body).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = location(&response);
    app.finish_jobs();
    let line = |device: &str, key: Option<&str>, code: &str, name: &str| {
        let mut d = json!({"deviceId": device, "status": "finished_with_errors", "errorCode": code,
                           "errorDescription": name, "attributes": {"objectType": "DeviceUploadDetails"}});
        if let Some(k) = key {
            d["productKey"] = json!(k);
        }
        d
    };
    assert_eq!(
        app.job(&location).await["devicesStatus"],
        json!([
            line(OTHER_DEVICE, None, "811", "ZtdDeviceRegisteredByOtherTenant"),
            line(MINE_DEVICE, Some("MINE"), "810", "ZtdProfileAssignedToOtherTenant"),
            line("8d141ea9-2816-4e15-a819-53f6856499ff", None, "812", "ZtdDeviceNotFound"),
            line(MINE_DEVICE, Some("MINE"), "809", "ZtdProfileIsNotRegistered"),
            {"deviceId": MINE_DEVICE, "productKey": "MINE", "status": "finished",
             "attributes": {"objectType": "DeviceUploadDetails"}}
        ])
    );
    // The other tenant's device kept its (absent) profile.
    let theirs = app
        .get_json(&format!(
            "/v1/customers/{OTHER_CUSTOMER}/deviceBatches/Lab/devices"
        ))
        .await;
    assert_eq!(
        theirs["items"][0]["policies"],
        json!([{"key": "o_o_b_e", "value": null}])
    );
}

#[tokio::test]
async fn the_oem_registry_round_trips_through_export_and_seed() {
    let app = spawn_app().await;
    let oem = json!([
        {"serialNumber": "AAD-2", "oemManufacturerName": "Contoso", "modelName": "Laptop 7",
         "productKey": "PK-2", "hardwareHash": "T0EGBAEAHAAAAAoA", "aadRegistered": true},
        tuple("OEM-1", "Contoso"),
    ]);
    seed(&app, &json!({"customers": [], "oemDevices": oem})).await;
    let state = app.get_json("/_emulator/state").await;
    let digest = state["oemDevices"][0]["hardwareHashDigest"].clone();
    assert_eq!(digest.as_str().map(str::len), Some(32));
    assert_eq!(
        state["oemDevices"],
        json!([
            {"serialNumber": "AAD-2", "oemManufacturerName": "Contoso", "modelName": "Laptop 7",
             "productKey": "PK-2", "hardwareHashDigest": digest, "aadRegistered": true},
            tuple("OEM-1", "Contoso")
        ])
    );
    app.control(Method::POST, "/_emulator/reset", None).await;
    let mut reseed = state.clone();
    reseed.as_object_mut().unwrap().remove("clock");
    seed(&app, &reseed).await;
    assert_eq!(app.get_json("/_emulator/state").await, state);
    // The digest still finds the hash.
    assert_eq!(
        outcomes(
            &app,
            "B",
            json!([{"hardwareHash": "T0EGBAEAHAAAAAoA"}, tuple("X", "Contoso")])
        )
        .await,
        json!([
            failed(None, None, "814", "ZtdDeviceAlreadyAadRegistered"),
            failed(Some("X"), None, "807", "ZtdDeviceIsNotRegistered")
        ])
    );
}

#[tokio::test]
async fn an_invalid_oem_device_names_the_entry_and_applies_nothing() {
    let app = spawn_app().await;
    let cases = [
        (
            json!([tuple("OEM-1", "Contoso"), tuple("OEM-2", " ")]),
            "Invalid request input: `oemDevices[1]` needs a non-empty serialNumber, oemManufacturerName and modelName (an OEM registers a device by its tuple).",
            "oemDevices[1]",
        ),
        (
            json!([tuple("OEM-1", "Contoso"), {"serialNumber": "OEM-2", "oemManufacturerName": "Contoso",
                    "modelName": "Laptop 7", "productKey": "K"}, {"serialNumber": "OEM-3",
                    "oemManufacturerName": "Contoso", "modelName": "Laptop 7", "productKey": "K"}]),
            "Invalid request input: `oemDevices[2]` is already in the OEM registry (the same hardware hash, product key or serial/manufacturer/model).",
            "oemDevices[2]",
        ),
    ];
    for (oem, description, field) in cases {
        let doc = json!({"customers": [{"id": CUSTOMER}], "oemDevices": oem});
        let response = app
            .control(Method::POST, "/_emulator/seed", Some(&doc))
            .await;
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            envelope(800002, description, &[field]),
        )
        .await;
    }
    // Nothing was applied: the registry is still empty, so any tuple registers.
    let state = app.get_json("/_emulator/state").await;
    assert_eq!(state.get("oemDevices"), None);
    assert_eq!(state["customers"], json!([]));
    assert_eq!(
        outcomes(&app, "B", json!([tuple("NEW", "Contoso")])).await,
        json!([registered(Some("NEW"), None)])
    );
}
