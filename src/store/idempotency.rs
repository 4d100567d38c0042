//! Bounded memory of write answers keyed by `MS-RequestId`, so that a retried write is replayed
//! instead of applied twice.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use crate::domain::ids::CustomerId;

/// How many write answers are remembered; the oldest is forgotten first.
// EMULATOR: Partner Center documents no retention; 10,000 answers covers any retry window while
// bounding memory (each entry holds at most a small response body).
pub const CAPACITY: usize = 10_000;

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

#[derive(Debug, Default)]
struct Inner {
    /// Each key with its generation and the customer its route names (parsed, so every spelling
    /// of the GUID is one customer).
    slots: HashMap<String, (u64, Option<CustomerId>, Slot)>,
    /// Insertion order with the generation each key had, for eviction.
    order: VecDeque<(String, u64)>,
    generation: u64,
}

#[derive(Debug, Default)]
pub struct IdempotencyCache(Mutex<Inner>);

impl IdempotencyCache {
    /// Claims `key` for a request about `customer` whose body has `fingerprint`.
    pub fn claim(&self, key: &str, customer: Option<CustomerId>, fingerprint: u128) -> Claim {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match inner.slots.get(key) {
            Some((
                _,
                _,
                Slot::Done {
                    fingerprint: f,
                    answer,
                },
            )) if *f == fingerprint => Claim::Replay(answer.clone()),
            Some((_, _, Slot::InFlight { fingerprint: f })) if *f == fingerprint => Claim::InFlight,
            Some(_) => Claim::Mismatch,
            None => {
                inner.generation += 1;
                let generation = inner.generation;
                inner.slots.insert(
                    key.to_owned(),
                    (generation, customer, Slot::InFlight { fingerprint }),
                );
                inner.order.push_back((key.to_owned(), generation));
                // Released keys leave stale entries in `order`; bound those too.
                while inner.slots.len() > CAPACITY || inner.order.len() > 2 * CAPACITY {
                    let Some((old, old_gen)) = inner.order.pop_front() else {
                        break;
                    };
                    if inner.slots.get(&old).is_some_and(|(g, _, _)| *g == old_gen) {
                        inner.slots.remove(&old);
                    }
                }
                Claim::Proceed
            }
        }
    }

    /// Records the answer of a claimed request that succeeded.
    pub fn complete(&self, key: &str, answer: RecordedAnswer) {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, slot)) = inner.slots.get_mut(key)
            && let Slot::InFlight { fingerprint } = *slot
        {
            *slot = Slot::Done {
                fingerprint,
                answer,
            };
        }
    }

    /// Forgets a claimed request that failed, so that the client may retry it.
    pub fn release(&self, key: &str) {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(inner.slots.get(key), Some((_, _, Slot::InFlight { .. }))) {
            inner.slots.remove(key);
        }
    }

    pub fn clear(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Inner::default();
    }

    /// Forgets every record of a request about `customer`. Matched on the parsed id, not on
    /// text: a key spelled `{guid}` or `urn:uuid:` is that customer's, and an `MS-RequestId`
    /// that mentions the customer's path is not.
    pub fn forget_customer(&self, customer: CustomerId) {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        inner.slots.retain(|_, (_, c, _)| *c != Some(customer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(cache.claim("k", None, 1), Claim::Proceed);
        assert_eq!(cache.claim("k", None, 1), Claim::InFlight);
        assert_eq!(cache.claim("k", None, 2), Claim::Mismatch);
        cache.complete("k", answer());
        assert_eq!(cache.claim("k", None, 1), Claim::Replay(answer()));
        assert_eq!(cache.claim("k", None, 2), Claim::Mismatch);
    }

    #[test]
    fn a_released_key_can_be_used_again() {
        let cache = IdempotencyCache::default();
        assert_eq!(cache.claim("k", None, 1), Claim::Proceed);
        cache.release("k");
        assert_eq!(cache.claim("k", None, 2), Claim::Proceed);
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
            let key = i.to_string();
            assert_eq!(cache.claim(&key, None, 1), Claim::Proceed);
            cache.complete(&key, answer());
        }
        assert_eq!(len(&cache), CAPACITY);
        assert_eq!(cache.claim("0", None, 1), Claim::Proceed);
        assert_eq!(
            cache.claim(&(CAPACITY + 9).to_string(), None, 1),
            Claim::Replay(answer())
        );
    }
}
