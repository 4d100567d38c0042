//! The application state: configuration, clock, store, the identity signing keys and the
//! rendered-job cache, made once at start-up and shared by every request (mini-redis `Db`,
//! zero-to-production `startup.rs`). Free of HTTP: `startup`, `persist` and the server use it
//! alike.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytes::Bytes;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::ids::TrackingId;
use crate::domain::job::{Job, Timings};
use crate::store::{ClockDoc, Snapshot, Store, StoreOptions};

/// Everything a handler can reach, behind one `Arc`: each middleware layer clones the state for
/// every request, and one reference count is cheaper to share between cores than four.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// The shared parts of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    /// The emulator clock: the only source of "now" for jobs and timestamps.
    pub clock: Clock,
    pub store: Store,
    /// Status documents of terminal jobs, rendered once.
    pub rendered_jobs: RenderedJobs,
    /// The local CA certificate (PEM) behind the HTTPS listener, once start-up has made or read
    /// it; unset without TLS or with a certificate the user brought.
    pub ca_pem: std::sync::OnceLock<String>,
    /// The mock Entra ID's token-signing key (made or read on first need).
    pub keys: crate::identity::keys::KeyStore,
    /// The dashboard summary's last `ETag` and what it was computed from.
    pub dashboard: crate::http::emulator::dashboard::SummaryCache,
    /// Whether `--state-file` is being written, and whose turn it is to write it.
    pub persistence: crate::persist::Persistence,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(config: Config, clock: Clock) -> Self {
        let store = Store::new(StoreOptions {
            timings: Timings {
                queued_for: config.queued_for,
                processing_for: config.processing_for,
            },
            strict_hardware_hash: config.strict_hardware_hash,
            journal_size: config.journal_size,
            journal_memory: config.journal_memory,
            idempotency_memory: config.idempotency_memory,
            fault_seed: config.fault_seed,
        });
        let keys = crate::identity::keys::KeyStore::new(config.tls_dir.clone());
        Self(Arc::new(Shared {
            config,
            clock,
            store,
            rendered_jobs: RenderedJobs::default(),
            ca_pem: std::sync::OnceLock::new(),
            keys,
            dashboard: Default::default(),
            persistence: crate::persist::Persistence::default(),
        }))
    }
}

impl AppState {
    /// The whole state at this moment, with the clock, for `GET /_emulator/state` and the
    /// state file: cheap to take, written out as a document.
    pub fn snapshot(&self) -> Snapshot {
        let clock = ClockDoc {
            now: self.clock.now().rfc3339(),
            mode: if self.clock.is_manual() {
                "manual"
            } else {
                "system"
            }
            .to_owned(),
        };
        self.store.snapshot(Some(clock))
    }
}
/// Status documents of terminal jobs, rendered once: a terminal job never changes again, and
/// clients poll the same finished job over and over.
///
/// Entries hold a `Weak` to the job they were rendered from, so a job removed by a reset (and
/// any job that replaced it) is never answered from here.
#[derive(Debug, Default)]
pub struct RenderedJobs(Mutex<RenderCache>);

#[derive(Debug, Default)]
struct RenderCache {
    entries: HashMap<TrackingId, (Weak<Job>, Bytes)>,
    bytes: usize,
}

/// What the cache may hold before it starts over.
const RENDER_CACHE_BYTES: usize = 64 << 20;

impl RenderedJobs {
    pub fn get(&self, job: &Arc<Job>) -> Option<Bytes> {
        let cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (weak, bytes) = cache.entries.get(&job.id)?;
        Weak::ptr_eq(weak, &Arc::downgrade(job)).then(|| bytes.clone())
    }

    pub fn put(&self, job: &Arc<Job>, bytes: Bytes) {
        let mut cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.bytes + bytes.len() > RENDER_CACHE_BYTES {
            *cache = RenderCache::default();
        }
        cache.bytes += bytes.len();
        cache.entries.insert(job.id, (Arc::downgrade(job), bytes));
    }
}
