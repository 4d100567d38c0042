//! The request journal: the last N Partner Center requests, newest last.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use crate::domain::fault::Glob;
use crate::domain::ids::{CustomerId, TenantId};
use crate::domain::timestamp::Timestamp;

/// How much of a request body the journal keeps.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Default of the memory the journal's entries may take (`--journal-memory`).
// EMULATOR: the journal's retention is the emulator's own; entries are client-sized (paths,
// ids, bodies), so a count alone did not bound memory (1,000 entries once took 394 MiB).
pub const DEFAULT_MEMORY: u64 = 64 << 20;

/// What an entry costs, roughly: its strings and its bookkeeping.
fn weight(e: &JournalEntry) -> usize {
    e.method.len()
        + e.path.len()
        + e.request_id.as_ref().map_or(0, String::len)
        + e.correlation_id.as_ref().map_or(0, String::len)
        + e.body.as_ref().map_or(0, Bytes::len)
        + 256
}

/// One received request. `Authorization` is never part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub time: Timestamp,
    /// Borrowed for the standard methods, so recording one allocates nothing for it.
    pub method: Cow<'static, str>,
    pub path: String,
    pub customer: Option<CustomerId>,
    /// The partner tenant the request was authenticated as, when partitioned (`--auth jwt`).
    pub partner: Option<TenantId>,
    /// `None` when a fault dropped the connection.
    pub status: Option<u16>,
    /// As the client sent them (not the ones the emulator minted).
    pub request_id: Option<String>,
    pub correlation_id: Option<String>,
    pub fault: Option<Uuid>,
    /// The request's bytes, shared with the request itself (up to [`BODY_LIMIT`]); readers
    /// turn them into text.
    pub body: Option<Bytes>,
    pub body_truncated: bool,
}

impl JournalEntry {
    /// Keeps the first [`BODY_LIMIT`] bytes of a body: the request's own buffer when it is
    /// within the limit (no copy), else a copy of its start, so that a journal entry never holds
    /// a 40 MB upload alive for 64 KiB of it.
    pub fn body_of(bytes: &Bytes) -> (Option<Bytes>, bool) {
        if bytes.is_empty() {
            return (None, false);
        }
        if bytes.len() <= BODY_LIMIT {
            return (Some(bytes.clone()), false);
        }
        (Some(Bytes::copy_from_slice(&bytes[..BODY_LIMIT])), true)
    }

    /// The body as text, as the journal shows it (invalid UTF-8 replaced).
    pub fn body_text(&self) -> Option<String> {
        self.body
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

/// Which entries a reader wants.
#[derive(Debug, Clone, Default)]
pub struct JournalFilter {
    pub customer: Option<CustomerId>,
    pub partner: Option<TenantId>,
    pub method: Option<String>,
    pub path: Option<Glob>,
    /// The newest N that match.
    pub limit: Option<usize>,
}

#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    /// Approximate bytes the entries take, and how many they may.
    bytes: usize,
    budget: usize,
    /// Shared so that a reader copies pointers under the lock and filters after it.
    entries: VecDeque<Arc<JournalEntry>>,
    /// Moves on every change, so a reader can tell "nothing new" without reading entries.
    version: u64,
}

impl Journal {
    pub fn new(capacity: usize, budget: u64) -> Self {
        Self {
            capacity,
            bytes: 0,
            budget: usize::try_from(budget).unwrap_or(usize::MAX),
            entries: VecDeque::new(),
            version: 0,
        }
    }

    pub fn record(&mut self, entry: JournalEntry) {
        if self.capacity == 0 {
            return;
        }
        self.version += 1;
        let w = weight(&entry);
        if w > self.budget {
            return;
        }
        while self.entries.len() >= self.capacity || self.bytes + w > self.budget {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(weight(&old));
        }
        self.bytes += w;
        self.entries.push_back(Arc::new(entry));
    }

    /// The entries as they are now, oldest first.
    pub fn snapshot(&self) -> Vec<Arc<JournalEntry>> {
        self.entries.iter().cloned().collect()
    }

    #[cfg(test)]
    pub fn query(&self, filter: &JournalFilter) -> Vec<JournalEntry> {
        query(&self.snapshot(), filter)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
        self.version += 1;
    }

    /// A number that moves whenever the entries change.
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Drops the entries of a customer, of a partner's requests, or of both at once (`None`
    /// matches any).
    pub fn forget(&mut self, customer: Option<CustomerId>, partner: Option<TenantId>) {
        self.version += 1;
        let mut freed = 0;
        self.entries.retain(|e| {
            let keep = !(customer.is_none_or(|c| e.customer == Some(c))
                && partner.is_none_or(|p| e.partner == Some(p)));
            if !keep {
                freed += weight(e);
            }
            keep
        });
        self.bytes = self.bytes.saturating_sub(freed);
    }
}

/// The entries that match, newest last.
pub fn query(entries: &[Arc<JournalEntry>], filter: &JournalFilter) -> Vec<JournalEntry> {
    let matching: Vec<&Arc<JournalEntry>> = entries
        .iter()
        .filter(|e| filter.customer.is_none_or(|c| e.customer == Some(c)))
        .filter(|e| filter.partner.is_none_or(|p| e.partner == Some(p)))
        .filter(|e| {
            filter
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(&e.method))
        })
        .filter(|e| filter.path.as_ref().is_none_or(|g| g.matches(&e.path)))
        .collect();
    let skip = filter.limit.map_or(0, |n| matching.len().saturating_sub(n));
    matching
        .into_iter()
        .skip(skip)
        .map(|e| JournalEntry::clone(e))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(method: &str, path: &str) -> JournalEntry {
        JournalEntry {
            time: Timestamp::parse_rfc3339("2026-11-21T10:00:00Z").unwrap(),
            method: method.to_owned().into(),
            path: path.into(),
            customer: None,
            partner: None,
            status: Some(200),
            request_id: None,
            correlation_id: None,
            fault: None,
            body: None,
            body_truncated: false,
        }
    }

    #[test]
    fn the_journal_is_bounded_and_filters_newest_last() {
        let mut j = Journal::new(3, DEFAULT_MEMORY);
        for i in 0..5 {
            j.record(entry(
                if i % 2 == 0 { "GET" } else { "POST" },
                &format!("/v1/{i}"),
            ));
        }
        let all = j.query(&JournalFilter::default());
        assert_eq!(
            all.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["/v1/2", "/v1/3", "/v1/4"]
        );
        let gets = j.query(&JournalFilter {
            method: Some("get".into()),
            limit: Some(1),
            ..Default::default()
        });
        assert_eq!(
            gets.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["/v1/4"]
        );
    }

    #[test]
    fn the_journal_is_bounded_in_bytes() {
        let mut j = Journal::new(1000, 100_000);
        for i in 0..100 {
            j.record(entry("GET", &format!("/v1/{i}/{}", "p".repeat(10_000))));
            assert!(j.bytes <= 100_000);
        }
        assert!(j.len() < 10, "{}", j.len());
        j.record(entry("GET", &"p".repeat(200_000)));
        assert!(j.bytes <= 100_000, "an entry over the budget is not kept");
    }

    #[test]
    fn bodies_are_kept_up_to_64_kib_and_marked_when_cut() {
        assert_eq!(JournalEntry::body_of(&Bytes::new()), (None, false));
        let (body, cut) = JournalEntry::body_of(&Bytes::from(vec![b'a'; BODY_LIMIT + 1]));
        assert_eq!((body.map(|b| b.len()), cut), (Some(BODY_LIMIT), true));
        let whole = Bytes::from(vec![b'b'; BODY_LIMIT]);
        let (body, cut) = JournalEntry::body_of(&whole);
        let body = body.unwrap();
        assert!(!cut);
        assert_eq!(
            body.as_ptr(),
            whole.as_ptr(),
            "a body within the limit is shared, not copied"
        );
    }

    #[test]
    fn a_body_cut_inside_a_character_reads_with_a_replacement() {
        let mut bytes = vec![b'a'; BODY_LIMIT - 1];
        bytes.extend_from_slice("é".as_bytes());
        let (body, cut) = JournalEntry::body_of(&Bytes::from(bytes));
        let mut e = entry("POST", "/v1/x");
        e.body = body;
        let text = e.body_text().unwrap();
        assert!(cut);
        assert!(text.ends_with('\u{fffd}'), "{}", &text[text.len() - 8..]);
    }
}
