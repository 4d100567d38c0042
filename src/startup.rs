//! Start-up: the clock from the flags, state restored from `--state-file` (or `--seed`), and
//! `--faults` loaded, before the first request is served.

use std::fs;

use crate::app::AppState;
use crate::clock::Clock;
use crate::config::{ClockMode, Config};
use crate::domain::timestamp::Timestamp;
use crate::fault_rules::parse_rules;
use crate::persist;
use crate::store::document;
use crate::tls::{self, Tls};

/// Builds the emulator's state from its configuration, or says why it cannot start.
pub fn build(config: Config) -> Result<AppState, String> {
    build_with_tls(config).map(|(state, _)| state)
}

/// [`build`], plus the HTTPS listener's TLS set-up when `--tls-bind` is given: the local CA is
/// read or made (in `--tls-dir`, else the user's data directory), or the user's certificate is
/// loaded. A missing, unreadable or mismatched certificate or key refuses start-up.
pub fn build_with_tls(mut config: Config) -> Result<(AppState, Option<Tls>), String> {
    let tls = match &config.tls_bind {
        Some(_) => {
            let dir = tls::resolve_dir(config.tls_dir.as_deref())?;
            let tls = tls::load(&config, &dir)?;
            // The token-signing key lives beside the CA, so it too survives restarts.
            config.tls_dir = Some(dir);
            Some(tls)
        }
        None => None,
    };
    let state = build_state(config)?;
    if let Some(pem) = tls.as_ref().and_then(|t| t.ca_pem.clone()) {
        let _ = state.ca_pem.set(pem);
    }
    Ok((state, tls))
}

fn build_state(config: Config) -> Result<AppState, String> {
    let restored = match &config.state_file {
        Some(path) => {
            let restored = persist::load(path)?;
            persist::prepare(path)?;
            Some(restored)
        }
        None => None,
    };
    let restored_clock = restored.as_ref().and_then(|r| r.clock.clone());
    let clock = match config.clock {
        ClockMode::System => Clock::system(),
        ClockMode::Manual => {
            // A restored manual clock resumes where it stopped, unless a start is given.
            let resumed = restored_clock
                .as_ref()
                .filter(|c| c.mode == "manual")
                .and_then(|c| Timestamp::parse_rfc3339(&c.now));
            Clock::manual(
                config
                    .clock_start
                    .or(resumed)
                    .unwrap_or_else(Clock::wall_time),
            )
        }
    };
    let faults = match &config.faults {
        Some(path) => {
            let bytes = fs::read(path)
                .map_err(|e| format!("cannot read --faults {}: {e}", path.display()))?;
            parse_rules(&bytes).map_err(|e| format!("--faults {}: {e}", path.display()))?
        }
        None => Vec::new(),
    };
    let has_state = restored.as_ref().is_some_and(persist::Restored::is_some);
    let seed = match (has_state, &config.seed) {
        (false, Some(path)) => {
            let bytes = fs::read(path)
                .map_err(|e| format!("cannot read --seed {}: {e}", path.display()))?;
            let doc = document::from_slice(&bytes)
                .map_err(|e| format!("--seed {} is not a seed document: {e}", path.display()))?;
            Some((doc, format!("--seed {}", path.display())))
        }
        (true, Some(path)) => {
            tracing::info!(
                "state restored from --state-file; --seed {} not applied",
                path.display()
            );
            None
        }
        _ => None,
    };
    let state = AppState::new(config, clock);
    // An existing token-signing key is read now: a corrupt one stops start-up, not a request.
    state.keys.preload()?;
    let source = state
        .config
        .state_file
        .as_ref()
        .map(|p| format!("state file {}", p.display()));
    let (snapshot, mut restored) = match restored {
        Some(mut r) => (r.doc.take(), Some(r)),
        None => (None, None),
    };
    for (doc, from) in snapshot
        .map(|d| (d, source.clone().unwrap_or_default()))
        .into_iter()
        .chain(seed)
    {
        let summary = state
            .store
            .import(&doc, state.clock.now())
            .map_err(|e| format!("{from}: {e}"))?;
        tracing::info!(
            "loaded {from}: {} customers, {} batches, {} devices, {} policies",
            summary.customers,
            summary.batches,
            summary.devices,
            summary.policies
        );
        // Freeing a million devices' worth of strings takes a noticeable moment; the emulator
        // need not wait for it before serving.
        std::thread::spawn(move || drop(doc));
    }
    if let (Some(r), Some(path)) = (restored.as_mut(), state.config.state_file.clone()) {
        let lines = std::mem::take(&mut r.lines);
        let now = state.clock.now();
        for (n, line) in lines.iter().enumerate() {
            state.store.replay(line, now).map_err(|e| {
                format!(
                    "the log of state file {} does not apply at record {} ({e}); refusing to start rather than lose it.",
                    path.display(),
                    n + 1
                )
            })?;
        }
        if !lines.is_empty() {
            tracing::info!(
                "replayed {} writes from the log of {}",
                lines.len(),
                path.display()
            );
        }
        std::thread::spawn(move || drop(lines));
        state.persistence.open(&state, &path, r)?;
    }
    for rule in faults {
        state.store.add_fault(rule);
    }
    Ok(state)
}

/// Runs the emulator as the binary does: build the state, bind (HTTP, and HTTPS with
/// `--tls-bind`), serve until `shutdown`, then write the state file one last time.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let (state, tls) = build_with_tls(config)?;
    let config = state.config.clone();
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let tls_listener = match (&config.tls_bind, &tls) {
        (Some(addr), Some(tls)) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on --tls-bind {addr}: {e}"))?;
            Some((listener, tls.server_config.clone()))
        }
        _ => None,
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "listening on http://{addr}");
    }
    if let Some(Ok(addr)) = tls_listener.as_ref().map(|(l, _)| l.local_addr()) {
        tracing::info!(%addr, "listening on https://{addr}");
        if let Some(dir) = config
            .tls_dir
            .as_ref()
            .filter(|_| state.ca_pem.get().is_some())
        {
            tracing::info!(
                "HTTPS certificate signed by the local CA {}",
                dir.join(tls::CA_CERT_FILE).display()
            );
        }
    }
    let persisting = config
        .state_file
        .clone()
        .map(|path| tokio::spawn(persist::run(state.clone(), path, config.persist_interval)));
    // A system clock moves by itself: finished jobs past --job-retention are looked for every
    // few seconds (a manual clock prunes when it is moved).
    let pruning = config.job_retention.0.map(|retention| {
        let state = state.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                ticker.tick().await;
                let s = state.clone();
                let _ =
                    tokio::task::spawn_blocking(move || s.store.prune(s.clock.now(), retention))
                        .await;
            }
        })
    });
    // One signal stops both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stopping = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let https = tls_listener.map(|(listener, tls)| {
        tokio::spawn(crate::serve_tls(
            listener,
            tls,
            state.clone(),
            stopping(stopped.clone()),
        ))
    });
    let http = crate::serve(listener, state.clone(), stopping(stopped));
    let signal = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let (served, ()) = tokio::join!(http, signal);
    let served_tls = match https {
        Some(task) => task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string()))),
        None => Ok(()),
    };
    if let Some(task) = pruning {
        task.abort();
    }
    if let Some(task) = persisting {
        // A save the task started keeps running on its blocking thread; the final save below
        // waits for its turn.
        task.abort();
    }
    if let Some(path) = &config.state_file {
        persist::save(&state, path).map_err(|e| {
            format!(
                "cannot write state file {} on shutdown: {e}",
                path.display()
            )
        })?;
    }
    served.map_err(|e| format!("server failed: {e}"))?;
    served_tls.map_err(|e| format!("HTTPS server failed: {e}"))
}
