//! The benchmark's baseline: the least an axum server can do for the routes `bench/run.sh` drives.
//!
//! It parses upload bodies into `serde_json::Value` and answers 202 with a `Location`, and answers
//! job-status reads with a fixed 200 JSON body of the same shape and size as the emulator's
//! finished 100-device job. Everything the emulator does beyond that (validation, the store,
//! journal, headers, logging) is what the benchmark's ratios measure.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde_json::{Value, json};

#[derive(Clone)]
struct Fixed {
    job: Bytes,
}

static NEXT_JOB: AtomicU64 = AtomicU64::new(1);

async fn upload(
    Path(path): Path<Vec<(String, String)>>,
    axum::Json(body): axum::Json<Value>,
) -> impl IntoResponse {
    // Keep the parsed body alive until here so the parse cannot be optimised away.
    std::hint::black_box(&body);
    let customer = path.first().map_or("", |(_, v)| v.as_str());
    let n = NEXT_JOB.fetch_add(1, Ordering::Relaxed);
    let location = format!("/customers/{customer}/batchJobStatus/00000000-0000-4000-8000-{n:012x}");
    (StatusCode::ACCEPTED, [(header::LOCATION, location)])
}

async fn job_status(State(fixed): State<Fixed>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        fixed.job.clone(),
    )
}

async fn health() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        r#"{"status":"ok","version":"baseline"}"#,
    )
}

/// A finished 100-device job as the emulator renders it, with its field lengths.
fn finished_job(devices: usize) -> Bytes {
    let entries: Vec<Value> = (0..devices)
        .map(|i| {
            json!({
                "deviceId": format!("6f1a0c2e-4b7d-4e8f-9a0b-{i:012x}"),
                "serialNumber": format!("SN-BENCH-{i:08}"),
                "productKey": format!("00329-00000-{i:05}-AA606"),
                "status": "finished",
                "attributes": {"objectType": "DeviceUploadDetails"}
            })
        })
        .collect();
    let job = json!({
        "batchTrackingId": "0b0f1d4c-7d1e-4c52-9d43-3f8e5a1b2c3d",
        "status": "finished",
        "startedTime": "2026-11-21T10:00:00.1234567+00:00",
        "completedTime": "2026-11-21T10:00:00.1234567+00:00",
        "devicesStatus": entries,
        "attributes": {"objectType": "BatchUploadDetails"}
    });
    Bytes::from(serde_json::to_vec(&job).unwrap_or_default())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut bind = "127.0.0.1:8081".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => bind = args.next().unwrap_or(bind),
            other => {
                eprintln!("pce-bench-baseline: unknown argument `{other}` (only --bind ADDR)");
                std::process::exit(2);
            }
        }
    }
    let app = Router::new()
        .route("/v1/customers/{customer_id}/deviceBatches", post(upload))
        .route(
            "/v1/customers/{customer_id}/deviceBatches/{batch_id}/devices",
            post(upload),
        )
        .route(
            "/v1/customers/{customer_id}/batchJobStatus/{tracking_id}",
            get(job_status),
        )
        .route("/_emulator/health", get(health))
        .with_state(Fixed {
            job: finished_job(100),
        });
    // The emulator sets TCP_NODELAY on every connection; so does the baseline.
    let listener = tokio::net::TcpListener::bind(&bind).await?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
