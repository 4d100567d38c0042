//! Store-level probe for issue 7: registers N devices (4K hashes) straight into the store, then
//! prints resident memory, export time and restore (parse + import) time. `cargo run --release
//! --example store_probe -- 1000000`. The HTTP-level figures come from `bench/run.sh`.

use partner_center_emulator::domain::device::{DeviceSubmission, HardwareHash, RawDevice};
use partner_center_emulator::domain::ids::{BatchId, CustomerId};
use partner_center_emulator::domain::job::Timings;
use partner_center_emulator::domain::timestamp::Timestamp;
use partner_center_emulator::store::{Document, Store, StoreOptions};
use std::time::{Duration, Instant};

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<f64>()
        .unwrap()
        / 1024.0
}
fn opts() -> StoreOptions {
    StoreOptions {
        timings: Timings {
            queued_for: Duration::ZERO,
            processing_for: Duration::ZERO,
        },
        strict_hardware_hash: false,
        journal_size: 1000,
        journal_memory: partner_center_emulator::store::JOURNAL_MEMORY,
        idempotency_memory: partner_center_emulator::store::IDEMPOTENCY_MEMORY,
        fault_seed: 0,
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(1_000_000);
    let store = Store::new(opts());
    let c = CustomerId::parse("c7f3c849-129f-4b85-a96d-4f8e88b315a3").unwrap();
    let t = Timestamp::parse_rfc3339("2026-11-21T10:00:00Z").unwrap();
    let filler = "A".repeat(3990);
    let started = Instant::now();
    for k in 0..n / 10_000 {
        let devices: Vec<DeviceSubmission> = (0..10_000)
            .map(|i| {
                let j = k * 10_000 + i;
                let product_key = format!(
                    "{:05}-{:05}-{:05}-AA{:03}",
                    j % 99999,
                    j / 7 % 99999,
                    j / 3 % 99999,
                    j % 999
                );
                DeviceSubmission::parse(RawDevice {
                    hardware_hash: HardwareHash::parse(&format!("{j:010}{filler}")),
                    product_key: Some(&product_key),
                    serial_number: Some(&format!("SN-{j:08}")),
                    oem_manufacturer_name: Some("Dell Inc."),
                    model_name: Some("Latitude 7420"),
                })
                .unwrap()
            })
            .collect();
        if k == 0 {
            store
                .create_batch(c, BatchId::parse("Big").unwrap(), devices, t)
                .unwrap();
        } else {
            store.add_devices(c, "Big", devices, t).unwrap();
        }
    }
    println!(
        "{n} devices in {:?}; RSS {:.1} MiB",
        started.elapsed(),
        rss_mib()
    );
    let t0 = Instant::now();
    // How long the lock is held: time a second thread's cheap read while exporting.
    let doc = store.export(None);
    let t1 = t0.elapsed();
    let bytes = serde_json::to_vec(&doc).unwrap();
    println!(
        "export {:?} + serialize {:?} = {} MB",
        t1,
        t0.elapsed() - t1,
        bytes.len() / 1_000_000
    );
    if let Ok(path) = std::env::var("PROBE_WRITE") {
        std::fs::write(&path, &bytes).unwrap();
    }
    drop(doc);
    drop(store);
    let fresh = Store::new(opts());
    let t0 = Instant::now();
    let doc: Document = serde_json::from_slice(&bytes).unwrap();
    let t1 = t0.elapsed();
    fresh.import(&doc, t).unwrap();
    println!(
        "restore: parse {:?} + import {:?} = {:?}; RSS {:.1}",
        t1,
        t0.elapsed() - t1,
        t0.elapsed(),
        rss_mib()
    );
}
