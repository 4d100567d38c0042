//! Durable state (`--state-file`): a snapshot (the state document, written atomically:
//! temporary file, fsync, rename) and the append-only log of accepted writes that continues it
//! (`<state-file>.log`), appended and synced in groups, compacted into a new snapshot when it
//! has grown and on graceful shutdown.
//!
//! Compactions never overlap: the background one and the final one take turns through
//! [`Persistence`], which also remembers a failing write, so `/_emulator/health` can say why.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::app::AppState;
use crate::store::document::log::{Line, Pushed};
use crate::store::{ClockDoc, Document, document};

/// What start-up restores from `--state-file`: the snapshot, then the lines of the log(s) that
/// continue it, and where to keep appending.
#[derive(Debug, Default)]
pub struct Restored {
    /// The snapshot; `None` when there is none yet.
    pub doc: Option<Document>,
    /// The log lines to apply on top of it, in order.
    pub lines: Vec<Line>,
    /// The clock of the last clock line, else the snapshot's.
    pub clock: Option<ClockDoc>,
    /// The log file to continue: its id and the length of its whole lines (`None`: create it).
    log: (String, Option<u64>),
    /// `<state-file>.log.old` holds writes the snapshot may not: the next compaction must not
    /// rotate again before it has written a snapshot.
    old_in_use: bool,
    /// The snapshot leaves ids or dates out (written by hand): loading it mints them anew each
    /// time, so log lines naming them would not apply after a restart. Rewritten at once.
    incomplete: bool,
}

/// Whether a document leaves out an id or a date that loading it would mint.
fn incomplete(doc: &Document) -> bool {
    let customers = doc
        .customers
        .iter()
        .chain(doc.partners.iter().flat_map(|p| &p.customers));
    customers.into_iter().any(|c| {
        c.policies
            .iter()
            .any(|p| p.id.is_none() || p.created_date.is_none())
            || c.batches.iter().any(|b| {
                b.creation_date.is_none()
                    || b.devices.iter().any(|d| {
                        d.status.as_deref() != Some("otherTenant")
                            && (d.id.is_none() || d.uploaded_date.is_none())
                    })
            })
    })
}

impl Restored {
    /// Whether there is anything to restore.
    pub fn is_some(&self) -> bool {
        self.doc.is_some() || !self.lines.is_empty()
    }
}

/// The log beside a state file, and the one a compaction set aside.
pub fn log_paths(path: &Path) -> (PathBuf, PathBuf) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    (
        path.with_file_name(format!("{name}.log")),
        path.with_file_name(format!("{name}.log.old")),
    )
}

/// A log file read back: its id (`None` when a kill cut even that short), its lines, and the
/// length of its whole lines.
type LogFile = (Option<String>, Vec<Line>, u64);

/// Reads a log file; a last line a kill cut short is dropped: it was never acknowledged as
/// durable.
fn read_log(path: &Path) -> Result<Option<LogFile>, String> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let (mut id, mut lines, mut valid) = (None, Vec::new(), 0u64);
    let mut at = 0usize;
    while let Some(end) = bytes[at..].iter().position(|b| *b == b'\n') {
        let raw = &bytes[at..at + end];
        let line: Line = serde_json::from_slice(raw).map_err(|e| {
            format!(
                "{} line {} is not a log line ({e}); refusing to start rather than lose it. \
                 Fix or move the file, or start without --state-file.",
                path.display(),
                lines.len() + 1 + usize::from(id.is_some())
            )
        })?;
        match (line, &id) {
            (Line::Log(i), None) => id = Some(i),
            (line, Some(_)) => lines.push(line),
            (_, None) => {
                return Err(format!(
                    "{} does not start with its id; refusing to start.",
                    path.display()
                ));
            }
        }
        at += end + 1;
        valid = at as u64;
    }
    Ok(Some((id, lines, valid)))
}

/// Reads a state file and its log. A file that exists but cannot be used is an error: starting
/// empty would silently lose the user's data.
pub fn load(path: &Path) -> Result<Restored, String> {
    let doc = load_snapshot(path)?;
    let expected = doc
        .as_ref()
        .and_then(|d| d.log.clone())
        .unwrap_or_else(|| FIRST_LOG.to_owned());
    let (log, old) = log_paths(path);
    let mut restored = Restored {
        incomplete: doc.as_ref().is_some_and(incomplete),
        clock: doc.as_ref().and_then(|d| d.clock.clone()),
        doc,
        ..Restored::default()
    };
    let current = read_log(&log)?;
    match read_log(&old)? {
        // Killed during a compaction, before its snapshot was in place: the set-aside log
        // continues the snapshot, and the current one continues it.
        Some((Some(id), lines, _)) if id == expected => {
            restored.lines = lines;
            restored.old_in_use = true;
            match current {
                Some((Some(id), lines, valid)) => {
                    restored.lines.extend(lines);
                    restored.log = (id, Some(valid));
                }
                _ => restored.log = (uuid::Uuid::new_v4().to_string(), None),
            }
        }
        // Otherwise a set-aside log is in the snapshot already (removed when the log opens).
        _ => match current {
            Some((Some(id), lines, valid)) if id == expected => {
                restored.lines = lines;
                restored.log = (id, Some(valid));
            }
            Some((Some(id), _, _)) => {
                return Err(format!(
                    "{} (log {id}) does not continue state file {} (which names log {expected}); \
                     refusing to start rather than apply it to the wrong state. Move one of them.",
                    log.display(),
                    path.display()
                ));
            }
            // No log, or one cut short before its first line: start it.
            _ => restored.log = (expected, None),
        },
    }
    for line in &restored.lines {
        if let Line::Clock(c) = line {
            restored.clock = Some(c.clone());
        }
    }
    Ok(restored)
}

/// The id of the log that continues a snapshot without one (version 1, or none yet).
const FIRST_LOG: &str = "0";

/// Reads the snapshot; `Ok(None)` when there is none yet.
fn load_snapshot(path: &Path) -> Result<Option<Document>, String> {
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
        Some(v) if (1..=u64::from(crate::store::VERSION)).contains(&v) => {}
        Some(v) => {
            return Err(format!(
                "state file {} has version {v}, but this emulator reads versions 1 to {}; refusing to start.",
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

/// Whether the state file is being written successfully, the log being appended, and the turn
/// of whoever compacts.
#[derive(Debug)]
pub struct Persistence {
    /// The log position that is durable (every write recorded up to it), and its waiters
    /// (`--durability sync`).
    saved: tokio::sync::watch::Sender<u64>,
    /// Wakes the writer when a write waits for its append.
    wanted: tokio::sync::Notify,
    /// Held for the whole of a compaction: one at a time, and the final one (SIGTERM) waits for
    /// one under way.
    writing: Mutex<()>,
    /// Why the last append or compaction failed; `None` while they succeed.
    failure: Mutex<Option<String>>,
    /// The open log; `None` without `--state-file`.
    appender: Mutex<Option<Appender>>,
}

impl Default for Persistence {
    fn default() -> Self {
        Self {
            saved: tokio::sync::watch::Sender::new(0),
            wanted: tokio::sync::Notify::new(),
            writing: Mutex::default(),
            failure: Mutex::default(),
            appender: Mutex::default(),
        }
    }
}

/// The log file being appended to.
#[derive(Debug)]
struct Appender {
    state_file: PathBuf,
    file: Option<File>,
    id: String,
    /// The length of the log's whole, synced lines: a failed append is cut back to it.
    len: u64,
    /// Records not yet on disk (kept across a failed append, to be retried). Kept as records
    /// and encoded a line at a time while appending: the encoded lines of a large append
    /// (tens of MiB) would otherwise stay allocated for good.
    unwritten: Vec<Pushed>,
    /// The position of the last record in `unwritten` (or on disk).
    taken: u64,
    /// The position on disk (synced).
    durable: u64,
    /// Positions of writes only a snapshot can hold (a seed; 0 for a snapshot to rewrite, the
    /// first line of a lost log), each until a compaction that started after it was taken:
    /// nothing from the earliest on is durable before.
    barriers: Vec<u64>,
    /// A compaction is due whatever the log's size (a seed, a lost log, a new state file).
    compact: bool,
    /// `<state-file>.log.old` exists: the last rotation's compaction has not finished.
    rotated: bool,
    /// The snapshot's size, which bounds the log's before a compaction.
    snapshot_len: u64,
}

/// The buffer an append encodes its lines into, a write to the log each time it fills.
const APPEND_BUFFER: usize = 256 << 10;

/// The log grows to this much beyond a quarter of the snapshot before it is compacted, so a
/// restore replays at most about a quarter of the state again.
const LOG_SLACK: u64 = 16 << 20;

impl Appender {
    /// The position a write must be at or before to be durable now.
    fn saved(&self) -> u64 {
        match self.barriers.iter().min() {
            Some(b) => self.durable.min(b.saturating_sub(1)),
            None => self.durable,
        }
    }

    fn log_path(&self) -> PathBuf {
        log_paths(&self.state_file).0
    }

    fn due(&self) -> bool {
        self.compact || self.len > self.snapshot_len / 4 + LOG_SLACK
    }

    /// Takes the recorded writes and appends them, synced.
    fn flush(&mut self, state: &AppState) -> io::Result<()> {
        let (records, upto) = state.store.log().take();
        let first = upto + 1 - records.len() as u64;
        for (i, record) in records.into_iter().enumerate() {
            if record.needs_snapshot() {
                self.compact = true;
                self.barriers.push(first + i as u64);
            } else {
                self.unwritten.push(record);
            }
        }
        self.taken = upto;
        if !self.unwritten.is_empty() {
            let log_path = self.log_path();
            let file = match &mut self.file {
                Some(file) => file,
                None => return Err(io::Error::other("the log is not open")),
            };
            // A failed append may have left part of a line: cut back to whole lines first.
            file.set_len(self.len)?;
            file.seek(SeekFrom::Start(self.len))?;
            let mut out = Counted {
                inner: io::BufWriter::with_capacity(APPEND_BUFFER, &mut *file),
                bytes: 0,
            };
            for line in self.unwritten.iter().filter_map(Pushed::line) {
                serde_json::to_writer(&mut out, &line).map_err(io::Error::other)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            let written = out.bytes;
            drop(out);
            file.sync_data()?;
            self.len += written;
            self.unwritten = Vec::new();
            // An open file outlives its directory entry: a log removed under the emulator takes
            // every later append with it, so only a new snapshot can make them durable.
            let same = match (fs::metadata(&log_path), file.metadata()) {
                (Ok(on_disk), Ok(open)) => {
                    on_disk.ino() == open.ino() && on_disk.dev() == open.dev()
                }
                _ => false,
            };
            if !same {
                self.compact = true;
                self.barriers.push(self.durable + 1);
                return Err(io::Error::other(format!(
                    "the log {} was removed or replaced",
                    log_path.display()
                )));
            }
        }
        self.durable = self.taken;
        Ok(())
    }

    /// Starts a new log (the current one set aside as `.log.old`, unless the last compaction
    /// left one there); returns the position the snapshot must hold.
    fn rotate(&mut self) -> io::Result<u64> {
        let (log, old) = log_paths(&self.state_file);
        if !self.rotated {
            match fs::rename(&log, &old) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            self.rotated = true;
            let id = uuid::Uuid::new_v4().to_string();
            self.file = None;
            let (file, len) = create_log(&log, &id)?;
            self.file = Some(file);
            self.id = id;
            self.len = len;
        } else if !log.exists() {
            let (file, len) = create_log(&log, &self.id)?;
            self.file = Some(file);
            self.len = len;
        }
        sync_dir(&log)?;
        Ok(self.taken)
    }
}

/// Creates a log file holding its id line, synced.
fn create_log(path: &Path, id: &str) -> io::Result<(File, u64)> {
    let mut file = File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)?;
    let mut header = serde_json::to_vec(&Line::Log(id.to_owned())).map_err(io::Error::other)?;
    header.push(b'\n');
    file.write_all(&header)?;
    file.sync_all()?;
    Ok((file, header.len() as u64))
}

fn sync_dir(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl Persistence {
    /// Opens the log that continues the restored state (start-up, after the restore) and starts
    /// recording writes.
    pub fn open(&self, state: &AppState, path: &Path, restored: &Restored) -> Result<(), String> {
        let (log, old) = log_paths(path);
        if !restored.old_in_use {
            let _ = fs::remove_file(&old);
        }
        let (id, valid) = restored.log.clone();
        let opened = match valid {
            Some(len) => File::options()
                .read(true)
                .write(true)
                .open(&log)
                .and_then(|f| f.set_len(len).map(|()| (f, len))),
            None => create_log(&log, &id),
        };
        let (file, len) =
            opened.map_err(|e| format!("cannot open the log {}: {e}", log.display()))?;
        let snapshot_len = fs::metadata(path).map(|m| m.len()).ok();
        *self.appender.lock().unwrap_or_else(PoisonError::into_inner) = Some(Appender {
            state_file: path.to_path_buf(),
            file: Some(file),
            id,
            len,
            unwritten: Vec::new(),
            taken: 0,
            durable: 0,
            // Writes naming what a hand-written snapshot's load minted are durable only once the
            // snapshot holds those ids.
            barriers: if restored.incomplete {
                vec![0]
            } else {
                Vec::new()
            },
            // No snapshot yet (a `--seed` may have been applied), or one whose minted ids no
            // log line may name: the first turn writes one.
            // A compaction a kill interrupted is finished at once: until then every restore
            // replays the set-aside log as well.
            compact: snapshot_len.is_none() || restored.incomplete || restored.old_in_use,
            rotated: restored.old_in_use,
            snapshot_len: snapshot_len.unwrap_or(0),
        });
        state.store.log().enable();
        Ok(())
    }

    /// Waits until the log holds every write recorded up to `position` (`--durability sync`);
    /// the reason when writing fails instead.
    pub async fn saved_up_to(&self, position: u64) -> Result<(), String> {
        let mut saved = self.saved.subscribe();
        loop {
            if *saved.borrow_and_update() >= position {
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

    /// Records the outcome of an append or a compaction: the first failure is logged (not
    /// each retry), and so is the recovery.
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
                        "{reason}; /_emulator/health answers 503 until a write succeeds"
                    );
                }
                *failure = Some(reason);
            }
        }
    }

    /// Tells waiters what is durable now (and, on a failure, to look at it).
    fn publish(&self, appender: &Appender) {
        let saved = appender.saved();
        self.saved.send_modify(|s| *s = (*s).max(saved));
    }

    /// Appends the writes recorded so far; returns whether a compaction is due.
    fn flush(&self, state: &AppState, path: &Path) -> bool {
        let mut guard = self.appender.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(appender) = guard.as_mut() else {
            return false;
        };
        let flushed = appender.flush(state);
        // While a compaction is owed (a seed, a lost log), a good append is not recovery.
        if flushed.is_err() || !appender.compact {
            self.record(path, &flushed);
        }
        self.publish(appender);
        appender.due()
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
    write_atomic_with(path, |out| out.write_all(bytes)).map(drop)
}

/// [`write_atomic`] with the content written by `write` as it is made (a snapshot of a million
/// devices is never held in memory as a whole); answers the file's length.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<u64> {
    let tmp = path.with_file_name(format!(
        "{}{}-{}.tmp",
        temporary_prefix(path),
        std::process::id(),
        TEMPORARY.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut out = Counted {
            inner: io::BufWriter::with_capacity(1 << 20, File::create(&tmp)?),
            bytes: 0,
        };
        write(&mut out)?;
        let len = out.bytes;
        let file = out
            .inner
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        Ok(len)
    })();
    match written {
        Ok(len) => {
            // The rename itself is durable only once the directory is synced.
            sync_dir(path)?;
            Ok(len)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// A writer that counts what went through it.
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
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

/// Compacts: sets the log aside, writes the whole state as the snapshot that the new log
/// continues, then removes the old log. Writes go on meanwhile (the world gate is held only
/// while pointers to each customer's pieces are copied); the snapshot may then hold some of the new log's first records,
/// which replay as no-ops. Waits for a compaction under way first.
pub fn save(state: &AppState, path: &Path) -> io::Result<()> {
    let persistence = &state.persistence;
    let _turn = persistence
        .writing
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let compacted = compact(state, path);
    persistence.record(path, &compacted);
    let mut guard = persistence
        .appender
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(appender) = guard.as_mut() {
        persistence.publish(appender);
    }
    compacted
}

fn write_json(out: &mut dyn Write, snapshot: &crate::store::Snapshot) -> io::Result<()> {
    serde_json::to_writer(out, snapshot).map_err(io::Error::other)
}

fn compact(state: &AppState, path: &Path) -> io::Result<()> {
    let persistence = &state.persistence;
    let (id, covered) = {
        let mut guard = persistence
            .appender
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(appender) = guard.as_mut() else {
            // Not opened (a test's state): a plain snapshot.
            let snapshot = state.snapshot();
            return write_atomic_with(path, |out| write_json(out, &snapshot)).map(drop);
        };
        // The current log must be whole before it is set aside; a log that was lost is
        // replaced by the snapshot, so its failure does not stop the compaction.
        if let Err(e) = appender.flush(state)
            && appender.file.is_some()
            && fs::metadata(appender.log_path()).is_ok()
        {
            return Err(e);
        }
        let covered = appender.rotate()?;
        (appender.id.clone(), covered)
    };
    let mut snapshot = state.snapshot();
    snapshot.log = Some(id);
    let len = write_atomic_with(path, |out| write_json(out, &snapshot))?;
    drop(snapshot);
    let old = log_paths(path).1;
    match fs::remove_file(&old) {
        Ok(()) => sync_dir(&old)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut guard = persistence
        .appender
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(appender) = guard.as_mut() {
        appender.rotated = false;
        appender.durable = appender.durable.max(covered);
        appender.snapshot_len = len;
        // A barrier taken after the rotation waits for the next compaction.
        appender.barriers.retain(|b| *b > covered);
        appender.compact = !appender.barriers.is_empty();
    }
    Ok(())
}

/// How often the writer looks whether the records waiting outgrew their budget.
const BUDGET_CHECK: Duration = Duration::from_millis(100);

/// Appends recorded writes every `interval`, whenever a write waits for its append
/// (`--durability sync`: the writes that arrive during one append share the next) and whenever
/// the records waiting outgrow `log::PENDING_BUDGET`, and compacts in the background when the
/// log has grown, until the task is dropped.
pub async fn run(state: AppState, path: PathBuf, interval: Duration) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Looks more often whether the waiting records outgrew their budget: under a long interval
    // a million devices' records would otherwise be held (~100 MiB) until it ends.
    let mut budget = tokio::time::interval(BUDGET_CHECK);
    budget.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut compacting: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = budget.tick() => {
                if !state.store.log().over_budget() {
                    continue;
                }
            }
            () = state.persistence.wanted.notified() => {}
        }
        let (s, p) = (state.clone(), path.clone());
        let due = match tokio::task::spawn_blocking(move || s.persistence.flush(&s, &p)).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!("state writer failed: {e}");
                false
            }
        };
        let idle = compacting.as_ref().is_none_or(|c| c.is_finished());
        if due && idle {
            let (s, p) = (state.clone(), path.clone());
            compacting = Some(tokio::task::spawn_blocking(move || {
                let _ = save(&s, &p);
            }));
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
        fs::write(&path, b"{\"version\":3}").unwrap();
        assert!(load(&path).unwrap_err().contains("version 3"));
        fs::write(&path, b"garbage").unwrap();
        assert!(load(&path).unwrap_err().contains("refusing to start"));
        assert!(!load(&dir.join("missing.json")).unwrap().is_some());
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod log_tests {
    use super::*;

    fn clock(now: &str) -> String {
        format!("{{\"clock\":{{\"now\":\"{now}\",\"mode\":\"manual\"}}}}\n")
    }

    /// Which logs continue which snapshot: every case a kill can leave behind.
    #[test]
    fn a_restore_replays_exactly_the_logs_that_continue_the_snapshot() {
        let dir = std::env::temp_dir().join(format!("pce-logs-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        let (log, old) = log_paths(&path);
        let snapshot = |id: &str| {
            fs::write(
                &path,
                format!("{{\"version\":2,\"log\":\"{id}\",\"customers\":[]}}"),
            )
            .unwrap();
        };
        let t1 = "2026-11-21T10:00:01Z";
        let t2 = "2026-11-21T10:00:02Z";
        // Killed during a compaction, before its snapshot: the old log, then the new one.
        snapshot("X");
        fs::write(&old, format!("{{\"log\":\"X\"}}\n{}", clock(t1))).unwrap();
        fs::write(&log, format!("{{\"log\":\"Y\"}}\n{}", clock(t2))).unwrap();
        let r = load(&path).unwrap();
        assert_eq!((r.lines.len(), r.old_in_use), (2, true));
        assert_eq!(r.clock.unwrap().now, t2);
        // After its snapshot: the old log is in it already.
        snapshot("Y");
        let r = load(&path).unwrap();
        assert_eq!((r.lines.len(), r.old_in_use), (1, false));
        // A last line a kill cut short is dropped, and the log continues after the whole ones.
        let whole = format!("{{\"log\":\"Y\"}}\n{}", clock(t1));
        fs::write(&log, format!("{whole}{{\"clock\":{{\"no")).unwrap();
        let r = load(&path).unwrap();
        assert_eq!(r.lines.len(), 1);
        assert_eq!(r.log, ("Y".to_owned(), Some(whole.len() as u64)));
        // A log of another snapshot refuses start-up; so does a corrupt whole line.
        snapshot("Z");
        assert!(load(&path).unwrap_err().contains("does not continue"));
        snapshot("Y");
        fs::write(&log, "{\"log\":\"Y\"}\nnot json\n").unwrap();
        assert!(load(&path).unwrap_err().contains("line 2"));
        // A version-1 snapshot is continued by the first log.
        fs::remove_file(&old).unwrap();
        fs::write(&path, b"{\"version\":1,\"customers\":[]}").unwrap();
        fs::write(&log, format!("{{\"log\":\"0\"}}\n{}", clock(t1))).unwrap();
        assert_eq!(load(&path).unwrap().lines.len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
