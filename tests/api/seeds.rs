//! The seed documents' requests replayed verbatim: PascalCase bodies, their headers, and the
//! exact documented answer.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

const SEED_CUSTOMER: &str = "c7f3c849-129f-4b85-a96d-4f8e88b315a3";

/// The request body of "Upload a list of devices to create a new batch", as the .NET SDK sends it.
const CREATE_BATCH_BODY: &str = r#"{
    "BatchId": "SDKTestDeviceBatch",
    "Devices": [{
            "Id": null,
            "SerialNumber": "1R9-ZNP67",
            "ProductKey": "00329-00000-0003-AA606",
            "HardwareHash": "DummyHash123",
            "Policies": null,
            "CreatedBy": null,
            "UploadedDate": "0001-01-01T00:00:00",
            "AllowedOperations": null,
            "Attributes": {
                "ObjectType": "Device"
            }
        }
    ],
    "Attributes": {
        "ObjectType": "DeviceBatchCreationRequest"
    }
}"#;

/// The request body of "Upload a list of devices to an existing batch".
const ADD_DEVICES_BODY: &str = r#"[{
        "Id": null,
        "SerialNumber": "2R9-ZNP67",
        "ProductKey": "00329-00000-0003-AA606",
        "HardwareHash": "DummyHash1234",
        "Policies": null,
        "CreatedBy": null,
        "UploadedDate": "0001-01-01T00:00:00",
        "AllowedOperations": null,
        "Attributes": {
            "ObjectType": "Device"
        }
    }, {
        "Id": null,
        "SerialNumber": "2R9-ZNP67",
        "ProductKey": "00329-00000-0003-AA606",
        "HardwareHash": "DummyHash12345",
        "Policies": null,
        "CreatedBy": null,
        "UploadedDate": "0001-01-01T00:00:00",
        "AllowedOperations": null,
        "Attributes": {
            "ObjectType": "Device"
        }
    }
]"#;

fn seed_request(
    app: &TestApp,
    path: &str,
    request_id: &str,
    correlation_id: &str,
    body: &'static str,
) -> reqwest::RequestBuilder {
    app.client
        .post(app.url(path))
        .header("Authorization", "Bearer <token>")
        .header("Accept", "application/json")
        .header("MS-RequestId", request_id)
        .header("MS-CorrelationId", correlation_id)
        .header("X-Locale", "en-US")
        .header(
            "MS-PartnerCenter-Application",
            "Partner Center .NET SDK Samples",
        )
        .header("Content-Type", "application/json")
        .header("Expect", "100-continue")
        .body(body)
}

/// Checks the documented 202: empty body, `Content-Length: 0`, no content type, relative
/// `Location` without `/v1`, ids echoed, `MS-CV`, `MS-ServerId` and `Date` present.
async fn assert_documented_202(
    response: Response,
    request_id: &str,
    correlation_id: &str,
) -> String {
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let headers = response.headers().clone();
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header("content-length").as_deref(), Some("0"));
    assert_eq!(header("content-type"), None);
    assert_eq!(header("ms-requestid").as_deref(), Some(request_id));
    assert_eq!(header("ms-correlationid").as_deref(), Some(correlation_id));
    let cv = header("ms-cv").unwrap();
    assert_eq!(cv.len(), 18, "{cv}");
    assert!(cv.ends_with(".0"));
    assert_eq!(header("ms-serverid").as_deref(), Some("030020525"));
    assert!(header("date").is_some());
    let location = header("location").unwrap();
    let prefix = format!("/customers/{SEED_CUSTOMER}/batchJobStatus/");
    assert!(location.starts_with(&prefix), "{location}");
    assert!(uuid::Uuid::parse_str(&tracking_id(&location)).is_ok());
    assert_eq!(response.bytes().len(), 0);
    location
}

#[tokio::test]
async fn the_create_batch_seed_request_gets_the_documented_answer() {
    let app = spawn_app().await;
    let (rid, cid) = (
        "c245d5f2-1de3-4ae0-9e42-95e38e3cb8ff",
        "e3f26e6a-044f-4371-ad52-0d91ce4200be",
    );
    let path = format!("/v1/customers/{SEED_CUSTOMER}/deviceBatches");
    let response = seed_request(&app, &path, rid, cid, CREATE_BATCH_BODY)
        .send_checked()
        .await;
    let location = assert_documented_202(response, rid, cid).await;

    app.finish_jobs();
    let job = redact_device_ids(app.job(&location).await);
    assert_eq!(
        job,
        json!({
            "batchTrackingId": tracking_id(&location),
            "status": "finished",
            "startedTime": "2026-11-21T10:00:01+00:00",
            "completedTime": "2026-11-21T10:00:03+00:00",
            "devicesStatus": [{
                "deviceId": "<guid>",
                "serialNumber": "1R9-ZNP67",
                "productKey": "00329-00000-0003-AA606",
                "status": "finished",
                "attributes": {"objectType": "DeviceUploadDetails"}
            }],
            "attributes": {"objectType": "BatchUploadDetails"}
        })
    );
}

#[tokio::test]
async fn the_add_devices_seed_request_gets_the_documented_answer() {
    let app = spawn_app().await;
    app.create_batch(SEED_CUSTOMER, "Test", json!([hash("SeedFirstHash")]))
        .await;
    let (rid, cid) = (
        "e286d69b-7f5f-4098-8999-21d3b54e4e47",
        "772871a9-399b-4f3b-b8c7-38f550e4f22a",
    );
    let path = format!("/v1/customers/{SEED_CUSTOMER}/deviceBatches/Test/devices");
    let response = seed_request(&app, &path, rid, cid, ADD_DEVICES_BODY)
        .send_checked()
        .await;
    let location = assert_documented_202(response, rid, cid).await;

    // Same product key, different hashes: two different devices, both registered.
    app.finish_jobs();
    let job = redact_device_ids(app.job(&location).await);
    let device = json!({
        "deviceId": "<guid>",
        "serialNumber": "2R9-ZNP67",
        "productKey": "00329-00000-0003-AA606",
        "status": "finished",
        "attributes": {"objectType": "DeviceUploadDetails"}
    });
    assert_eq!(
        job["devicesStatus"],
        Value::Array(vec![device.clone(), device])
    );
    assert_eq!(job["status"], "finished");
}

#[tokio::test]
async fn expect_100_continue_is_honoured() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let addr = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/customers/{SEED_CUSTOMER}/deviceBatches HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer t\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        CREATE_BATCH_BODY.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100 Continue"));
    stream
        .write_all(CREATE_BATCH_BODY.as_bytes())
        .await
        .unwrap();
    let n = stream.read(&mut buf).await.unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 202 Accepted"), "{answer}");
}
