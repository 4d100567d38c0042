//! Bounded memory of write answers keyed by `MS-RequestId`, so that a retried write is replayed
//! instead of applied twice.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use crate::domain::ids::CustomerId;

/// How many write answers are remembered; the oldest is forgotten first.
// EMULATOR: Partner Center documents no retention; 10,000 answers covers any retry window while
// bounding memory (each entry holds at most a small response body).
pub const CAPACITY: usize = 10_000;

/// Default of the memory the records may take (`--idempotency-memory`).
// EMULATOR: as the count, the byte budget is the emulator's: keys (`MS-RequestId`) and answers
// are client-sized, so 10,000 records alone did not bound memory.
pub const DEFAULT_MEMORY: u64 = 64 << 20;

/// Bookkeeping per record beyond its key and answer bytes, roughly.
const RECORD_OVERHEAD: usize = 128;

/// What a write is remembered by: the customer it touched (parsed from the route, so every
/// spelling of the GUID is one customer), so that resetting the customer forgets it, and the
/// request itself (method, case-folded path and `MS-RequestId`), which the HTTP layer spells and
/// the store only compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    pub customer: Option<CustomerId>,
    pub request: String,
}

/// The parts of an answer that a replay must reproduce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a request finds when it claims its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First time: go ahead, then `complete` or `release`.
    Proceed,
    /// Same key and same body as an earlier successful write: answer this.
    Replay(RecordedAnswer),
    /// Same key, different body.
    Mismatch,
    /// Same key, still being processed by another request.
    InFlight,
}

#[derive(Debug)]
enum Slot {
    InFlight {
        fingerprint: u128,
    },
    Done {
        fingerprint: u128,
        answer: RecordedAnswer,
    },
}

#[derive(Debug)]
struct Inner {
    /// Approximate bytes the records take, and how many they may.
    bytes: usize,
    budget: usize,
    /// Each key with its generation.
    slots: HashMap<IdempotencyKey, (u64, Slot)>,
    /// Insertion order with the generation each key had, for eviction.
    order: VecDeque<(IdempotencyKey, u64)>,
    generation: u64,
}

impl Inner {
    fn new(budget: usize) -> Self {
        Self {
            bytes: 0,
            budget,
            slots: HashMap::new(),
            order: VecDeque::new(),
            generation: 0,
        }
    }

    fn remove(&mut self, key: &IdempotencyKey) {
        if let Some((_, slot)) = self.slots.remove(key) {
            self.bytes = self.bytes.saturating_sub(weight(key, &slot));
        }
    }
}

/// What a record costs: its key twice (map and eviction order), its answer, bookkeeping.
fn weight(key: &IdempotencyKey, slot: &Slot) -> usize {
    let answer = match slot {
        Slot::InFlight { .. } => 0,
        Slot::Done { answer, .. } => {
            answer.body.len()
                + answer
                    .headers
                    .iter()
                    .map(|(n, v)| n.len() + v.len())
                    .sum::<usize>()
        }
    };
    2 * key.request.len() + answer + RECORD_OVERHEAD
}

#[derive(Debug)]
pub struct IdempotencyCache(Mutex<Inner>);

impl Default for IdempotencyCache {
    fn default() -> Self {
        Self::with_budget(DEFAULT_MEMORY)
    }
}

impl IdempotencyCache {
    /// A cache whose records take at most about `bytes` (oldest forgotten first).
    pub fn with_budget(bytes: u64) -> Self {
        Self(Mutex::new(Inner::new(
            usize::try_from(bytes).unwrap_or(usize::MAX),
        )))
    }

    /// Claims `key` for a request whose body has `fingerprint`.
    pub fn claim(&self, key: &IdempotencyKey, fingerprint: u128) -> Claim {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match inner.slots.get(key) {
            Some((
                _,
                Slot::Done {
                    fingerprint: f,
                    answer,
                },
            )) if *f == fingerprint => Claim::Replay(answer.clone()),
            Some((_, Slot::InFlight { fingerprint: f })) if *f == fingerprint => Claim::InFlight,
            Some(_) => Claim::Mismatch,
            None => {
                inner.generation += 1;
                let generation = inner.generation;
                let slot = Slot::InFlight { fingerprint };
                inner.bytes += weight(key, &slot);
                inner.slots.insert(key.clone(), (generation, slot));
                inner.order.push_back((key.clone(), generation));
                evict(&mut inner);
                Claim::Proceed
            }
        }
    }

    /// Records the answer of a claimed request that succeeded.
    pub fn complete(&self, key: &IdempotencyKey, answer: RecordedAnswer) {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let budget = inner.budget;
        let mut added = 0;
        if let Some((_, slot)) = inner.slots.get_mut(key)
            && let Slot::InFlight { fingerprint } = *slot
        {
            let done = Slot::Done {
                fingerprint,
                answer,
            };
            added = weight(key, &done) - weight(key, slot);
            *slot = done;
        }
        inner.bytes += added;
        // An answer larger than the whole budget is not kept: a retry is then applied again,
        // as after any eviction.
        if weight(key, &Slot::InFlight { fingerprint: 0 }) + added > budget {
            inner.remove(key);
        }
        evict(&mut inner);
    }

    /// Forgets a claimed request that failed, so that the client may retry it.
    pub fn release(&self, key: &IdempotencyKey) {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(inner.slots.get(key), Some((_, Slot::InFlight { .. }))) {
            inner.remove(key);
        }
    }

    pub fn clear(&self) {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *inner = Inner::new(inner.budget);
    }

    /// Approximately how many bytes the records take.
    pub fn bytes(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).bytes
    }

    /// Forgets every record of a request about `customer`. Matched on the parsed id, not on
    /// text: a key spelled `{guid}` or `urn:uuid:` is that customer's, and an `MS-RequestId`
    /// that mentions the customer's path is not.
    pub fn forget_customer(&self, customer: CustomerId) {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut freed = 0;
        inner.slots.retain(|key, (_, slot)| {
            let keep = key.customer != Some(customer);
            if !keep {
                freed += weight(key, slot);
            }
            keep
        });
        inner.bytes = inner.bytes.saturating_sub(freed);
    }
}

/// Forgets the oldest records while there are too many or they take too much memory.
fn evict(inner: &mut Inner) {
    // Released keys leave stale entries in `order`; bound those too.
    while inner.slots.len() > CAPACITY
        || inner.order.len() > 2 * CAPACITY
        || inner.bytes > inner.budget
    {
        let Some((old, old_gen)) = inner.order.pop_front() else {
            break;
        };
        if inner.slots.get(&old).is_some_and(|(g, _)| *g == old_gen) {
            inner.remove(&old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(request: &str) -> IdempotencyKey {
        IdempotencyKey {
            customer: None,
            request: request.to_owned(),
        }
    }

    fn answer() -> RecordedAnswer {
        RecordedAnswer {
            status: 202,
            headers: vec![("location".into(), "/x".into())],
            body: vec![],
        }
    }

    #[test]
    fn replays_the_same_body_and_rejects_a_different_one() {
        let cache = IdempotencyCache::default();
        assert_eq!(cache.claim(&key("k"), 1), Claim::Proceed);
        assert_eq!(cache.claim(&key("k"), 1), Claim::InFlight);
        assert_eq!(cache.claim(&key("k"), 2), Claim::Mismatch);
        cache.complete(&key("k"), answer());
        assert_eq!(cache.claim(&key("k"), 1), Claim::Replay(answer()));
        assert_eq!(cache.claim(&key("k"), 2), Claim::Mismatch);
    }

    #[test]
    fn a_released_key_can_be_used_again() {
        let cache = IdempotencyCache::default();
        assert_eq!(cache.claim(&key("k"), 1), Claim::Proceed);
        cache.release(&key("k"));
        assert_eq!(cache.claim(&key("k"), 2), Claim::Proceed);
    }

    fn len(cache: &IdempotencyCache) -> usize {
        cache
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .slots
            .len()
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_goes_first() {
        let cache = IdempotencyCache::default();
        for i in 0..CAPACITY + 10 {
            let key = key(&i.to_string());
            assert_eq!(cache.claim(&key, 1), Claim::Proceed);
            cache.complete(&key, answer());
        }
        assert_eq!(len(&cache), CAPACITY);
        assert_eq!(cache.claim(&key("0"), 1), Claim::Proceed);
        assert_eq!(
            cache.claim(&key(&(CAPACITY + 9).to_string()), 1),
            Claim::Replay(answer())
        );
    }

    #[test]
    fn forgetting_a_customer_forgets_only_its_writes() {
        let cache = IdempotencyCache::default();
        let (a, b) = (
            CustomerId::from(uuid::Uuid::from_u128(1)),
            CustomerId::from(uuid::Uuid::from_u128(2)),
        );
        let of = |customer| IdempotencyKey {
            customer: Some(customer),
            request: "POST /v1/customers/x/devicebatches r1".into(),
        };
        for k in [of(a), of(b), key("POST /_emulator/faults r1")] {
            assert_eq!(cache.claim(&k, 1), Claim::Proceed);
            cache.complete(&k, answer());
        }
        cache.forget_customer(a);
        assert_eq!(cache.claim(&of(a), 1), Claim::Proceed);
        assert_eq!(cache.claim(&of(b), 1), Claim::Replay(answer()));
        assert_eq!(
            cache.claim(&key("POST /_emulator/faults r1"), 1),
            Claim::Replay(answer())
        );
    }

    #[test]
    fn records_are_bounded_in_bytes() {
        let cache = IdempotencyCache::with_budget(100_000);
        let big = RecordedAnswer {
            status: 200,
            headers: vec![],
            body: vec![b'x'; 10_000],
        };
        for n in 0..100 {
            let key = key(&format!("{n}{}", "k".repeat(1000)));
            assert_eq!(cache.claim(&key, 1), Claim::Proceed);
            cache.complete(&key, big.clone());
            assert!(cache.bytes() <= 100_000, "{} bytes", cache.bytes());
        }
        let newest = key(&format!("99{}", "k".repeat(1000)));
        assert_eq!(cache.claim(&newest, 1), Claim::Replay(big.clone()));
        let huge = RecordedAnswer {
            body: vec![b'x'; 200_000],
            ..big
        };
        assert_eq!(cache.claim(&key("huge"), 1), Claim::Proceed);
        cache.complete(&key("huge"), huge);
        assert_eq!(cache.claim(&key("huge"), 1), Claim::Proceed, "not kept");
        cache.clear();
        assert_eq!(cache.bytes(), 0);
    }
}
