//! Durable state (`--state-file`): written atomically (temporary file, fsync, rename) after
//! changes at most every `--persist-interval`, and once more on graceful shutdown.
//!
//! Saves never overlap: the periodic writer and the final save take turns through
//! [`Persistence`], which also remembers a failing write, so `/_emulator/health` can say why.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::app::AppState;
use crate::store::{Document, document};

/// Reads a state file; `Ok(None)` when there is none yet. A file that exists but cannot be used
/// is an error: starting empty would silently lose the user's data.
pub fn load(path: &Path) -> Result<Option<Document>, String> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read state file {}: {e}", path.display())),
    };
    let invalid = |e: String| {
        format!(
            "state file {} is not a valid state document ({e}); refusing to start rather than lose it. \
             Fix or move the file, or start without --state-file.",
            path.display()
        )
    };
    // A file from another version says so, whatever its shape: when the document does not parse,
    // or parses with another version, the version alone is read to say why.
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: Option<u64>,
    }
    let parsed = document::from_slice(&bytes);
    let version = match &parsed {
        Ok(doc) => doc.version.map(u64::from),
        // `document::from_slice` accepts a UTF-8 BOM (editors on Windows write one); so does this.
        Err(_) => serde_json::from_slice::<Versioned>(
            bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes),
        )
        .ok()
        .and_then(|v| v.version),
    };
    match version {
        Some(v) if v == u64::from(crate::store::VERSION) => {}
        Some(v) => {
            return Err(format!(
                "state file {} has version {v}, but this emulator reads version {}; refusing to start.",
                path.display(),
                crate::store::VERSION
            ));
        }
        None if parsed.is_ok() => {
            return Err(format!(
                "state file {} has no version; refusing to start.",
                path.display()
            ));
        }
        None => {}
    }
    parsed.map(Some).map_err(|e| invalid(e.to_string()))
}

/// Whether the state file is being written successfully, and the turn of whoever writes it.
#[derive(Debug)]
pub struct Persistence {
    /// The store's change count that the file on disk holds (all changes up to it), and its
    /// waiters (`--durability sync`).
    saved: tokio::sync::watch::Sender<u64>,
    /// Wakes the writer when a write waits for its save.
    wanted: tokio::sync::Notify,
    /// Held for the whole of a save: a save still running when the final one starts (SIGTERM)
    /// once wrote the same temporary file, and lost the acknowledged writes of the later one.
    writing: Mutex<()>,
    /// Why the last save failed; `None` while saves succeed.
    failure: Mutex<Option<String>>,
}

impl Default for Persistence {
    fn default() -> Self {
        Self {
            saved: tokio::sync::watch::Sender::new(0),
            wanted: tokio::sync::Notify::new(),
            writing: Mutex::default(),
            failure: Mutex::default(),
        }
    }
}

impl Persistence {
    /// Waits until the state file holds every change up to `changes` (`--durability sync`);
    /// the reason when saving fails instead.
    pub async fn saved_up_to(&self, changes: u64) -> Result<(), String> {
        let mut saved = self.saved.subscribe();
        loop {
            if *saved.borrow_and_update() >= changes {
                return Ok(());
            }
            if let Some(reason) = self.failure() {
                return Err(reason);
            }
            self.wanted.notify_one();
            if saved.changed().await.is_err() {
                return Err("the state writer stopped".into());
            }
        }
    }

    /// Why the state file cannot be written, while that is so.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records the outcome of a save: the first failure is logged (not each retry, five times a
    /// second), and so is the recovery.
    fn record(&self, path: &Path, outcome: &io::Result<()>) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        match (outcome, failure.is_some()) {
            (Ok(()), true) => {
                tracing::info!("state file {} is written again", path.display());
                *failure = None;
            }
            (Ok(()), false) => {}
            (Err(e), was_failing) => {
                let reason = format!("cannot write state file {}: {e}", path.display());
                if !was_failing {
                    tracing::error!(
                        "{reason}; /_emulator/health answers 503 until a save succeeds"
                    );
                }
                *failure = Some(reason);
            }
        }
    }
}

/// Distinguishes the temporary files of one process's saves.
static TEMPORARY: AtomicU64 = AtomicU64::new(0);

/// The prefix of the temporary files beside `path`.
fn temporary_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    format!(".{name}.")
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one, whole.
/// A failed write removes its temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_file_name(format!(
        "{}{}-{}.tmp",
        temporary_prefix(path),
        std::process::id(),
        TEMPORARY.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename itself is durable only once the directory is synced.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Checks at start-up that the state file's directory takes a write (an unwritable directory
/// refuses start-up rather than losing every write), and removes temporary files an earlier
/// process left behind when it was killed mid-save.
pub fn prepare(path: &Path) -> Result<(), String> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir.to_path_buf(),
        None => PathBuf::from("."),
    };
    let prefix = temporary_prefix(path);
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    let probe = path.with_file_name(format!("{prefix}probe.tmp"));
    let written =
        File::create(&probe).and_then(|mut f| f.write_all(b"probe").and_then(|()| f.sync_all()));
    let _ = fs::remove_file(&probe);
    written.map_err(|e| {
        format!(
            "cannot write in the directory of --state-file {} ({e}); refusing to start rather than lose every write.",
            path.display()
        )
    })
}

/// Exports the state and writes it, waiting for a save already under way to finish first.
pub fn save(state: &AppState, path: &Path) -> io::Result<()> {
    let persistence = &state.persistence;
    let _turn = persistence
        .writing
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    // Read before the export: every change counted so far is in it (a write counts its change
    // while it holds the lock the export then waits for).
    let changes = state.store.changes();
    let written = serde_json::to_vec(&state.export())
        .map_err(io::Error::other)
        .and_then(|bytes| write_atomic(path, &bytes));
    persistence.record(path, &written);
    match &written {
        Ok(()) => {
            persistence.saved.send_if_modified(|saved| {
                let newer = changes > *saved;
                *saved = (*saved).max(changes);
                newer
            });
        }
        // Waiters learn of the failure.
        Err(_) => persistence.saved.send_modify(|_| {}),
    }
    written
}

/// Writes the state whenever it changed, checking every `interval` and whenever a write waits
/// for its save (`--durability sync`: the writes that arrive during one save share the next),
/// until the task is dropped.
pub async fn run(state: AppState, path: PathBuf, interval: Duration) {
    let mut written = state.store.changes();
    if path.exists() {
        // The state was restored from this file: it holds every change so far.
        state.persistence.saved.send_replace(written);
    } else {
        // Nothing on disk yet (a `--seed` may have been applied): the first tick saves.
        written = u64::MAX;
    }
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = state.persistence.wanted.notified() => {}
        }
        let changes = state.store.changes();
        // A failed save is retried even when nothing changed since.
        if changes == written && state.persistence.failure().is_none() {
            continue;
        }
        let (s, p) = (state.clone(), path.clone());
        match tokio::task::spawn_blocking(move || save(&s, &p)).await {
            Ok(Ok(())) => written = changes,
            // Logged (once) by `save`.
            Ok(Err(_)) => {}
            Err(e) => tracing::error!("state writer failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_file_whole_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("pce-persist-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        write_atomic(&path, b"{\"version\":1}").unwrap();
        write_atomic(&path, b"{\"version\":1,\"customers\":[]}").unwrap();
        assert_eq!(
            fs::read(&path).unwrap(),
            b"{\"version\":1,\"customers\":[]}"
        );
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::write(dir.join(".state.json.1-2.tmp"), b"left by a kill").unwrap();
        prepare(&path).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        assert!(load(&path).unwrap().is_some());
        fs::write(&path, b"\xEF\xBB\xBF{\"version\":1,\"customers\":[]}").unwrap();
        assert!(load(&path).unwrap().is_some(), "a BOM is accepted");
        fs::write(&path, b"{\"version\":2}").unwrap();
        assert!(load(&path).unwrap_err().contains("version 2"));
        fs::write(&path, b"garbage").unwrap();
        assert!(load(&path).unwrap_err().contains("refusing to start"));
        assert_eq!(load(&dir.join("missing.json")), Ok(None));
        fs::remove_dir_all(&dir).unwrap();
    }
}
