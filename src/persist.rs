//! Durable state (`--state-file`): written atomically (temporary file, fsync, rename) after
//! changes at most every `--persist-interval`, and once more on graceful shutdown.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
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
        Err(_) => serde_json::from_slice::<Versioned>(&bytes)
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

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one, whole.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    // The rename itself is durable only once the directory is synced.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Exports the state and writes it.
pub fn save(state: &AppState, path: &Path) -> io::Result<()> {
    let bytes = serde_json::to_vec(&state.export()).map_err(io::Error::other)?;
    write_atomic(path, &bytes)
}

/// Writes the state whenever it changed, checking every `interval`, until the task is dropped.
pub async fn run(state: AppState, path: PathBuf, interval: Duration) {
    let mut written = state.store.changes();
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let changes = state.store.changes();
        if changes == written {
            continue;
        }
        let (s, p) = (state.clone(), path.clone());
        match tokio::task::spawn_blocking(move || save(&s, &p)).await {
            Ok(Ok(())) => written = changes,
            Ok(Err(e)) => tracing::error!("cannot write state file {}: {e}", path.display()),
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
        assert!(load(&path).unwrap().is_some());
        fs::write(&path, b"{\"version\":2}").unwrap();
        assert!(load(&path).unwrap_err().contains("version 2"));
        fs::write(&path, b"garbage").unwrap();
        assert!(load(&path).unwrap_err().contains("refusing to start"));
        assert_eq!(load(&dir.join("missing.json")), Ok(None));
        fs::remove_dir_all(&dir).unwrap();
    }
}
