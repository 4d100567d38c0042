//! The active fault rules, how often each fired, and their seeded random draws.

use std::sync::Arc;

use uuid::Uuid;

use crate::domain::fault::{Effect, FaultRule};
use crate::domain::ids::CustomerId;
use crate::domain::timestamp::Timestamp;

/// A rule as listed: its id, the rule, and how often it fired.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultView {
    pub id: Uuid,
    pub rule: FaultRule,
    pub fired: u64,
}

#[derive(Debug)]
struct Active {
    view: FaultView,
    /// Each rule draws from its own generator, seeded from `--fault-seed` and the rule's ordinal,
    /// so its sequence does not depend on traffic that other rules see.
    rng: fastrand::Rng,
}

/// Rules in the order they were added; the first one that fires answers.
#[derive(Debug)]
pub struct FaultBook {
    seed: u64,
    next_ordinal: u64,
    rules: Vec<Active>,
    /// Moves on every change, firings included, so a reader can tell "nothing new" cheaply.
    version: u64,
    /// The rules to match a request against, shared so that matching (work that grows with the
    /// request's path and the rules' patterns) happens outside the lock.
    matchers: Arc<[(Uuid, FaultRule)]>,
}

impl FaultBook {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            next_ordinal: 0,
            rules: Vec::new(),
            version: 0,
            matchers: Arc::from(Vec::new()),
        }
    }

    pub fn add(&mut self, rule: FaultRule) -> FaultView {
        let rng = fastrand::Rng::with_seed(
            self.seed ^ self.next_ordinal.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        self.next_ordinal += 1;
        self.version += 1;
        let view = FaultView {
            id: Uuid::new_v4(),
            rule,
            fired: 0,
        };
        self.rules.push(Active {
            view: view.clone(),
            rng,
        });
        self.rebuild_matchers();
        view
    }

    pub fn list(&self) -> Vec<FaultView> {
        self.rules.iter().map(|a| a.view.clone()).collect()
    }

    pub fn remove(&mut self, id: Uuid) -> bool {
        let before = self.rules.len();
        self.rules.retain(|a| a.view.id != id);
        self.rebuild_matchers();
        self.version += 1;
        self.rules.len() != before
    }

    /// Clears the rules and restarts the ordinals, so the same rules added again draw the same
    /// sequences.
    pub fn clear(&mut self) {
        self.rules.clear();
        self.rebuild_matchers();
        self.next_ordinal = 0;
        self.version += 1;
    }

    /// A number that moves whenever a rule is added, removed or fires.
    pub fn version(&self) -> u64 {
        self.version
    }

    fn rebuild_matchers(&mut self) {
        self.matchers = self
            .rules
            .iter()
            .map(|a| (a.view.id, a.view.rule.clone()))
            .collect();
    }

    /// The rules as they are now, to match a request against without holding the lock.
    pub fn matchers(&self) -> Arc<[(Uuid, FaultRule)]> {
        Arc::clone(&self.matchers)
    }

    /// The first rule that fires for this request, counting it.
    #[cfg(test)]
    pub fn fire(
        &mut self,
        method: &str,
        path: &str,
        customer: Option<CustomerId>,
        now: Timestamp,
    ) -> Option<(Uuid, Effect)> {
        let matched = matching(&self.matchers(), method, path, customer, now);
        self.fire_matched(&matched)
    }

    /// Of the rules that matched a request (see [`matching`]), the first that fires, counting
    /// it. A rule removed in between is skipped; one added in between did not see the request.
    pub fn fire_matched(&mut self, matched: &[Uuid]) -> Option<(Uuid, Effect)> {
        if matched.is_empty() {
            return None;
        }
        for active in &mut self.rules {
            let rule = &active.view.rule;
            if !matched.contains(&active.view.id) {
                continue;
            }
            if rule.times.is_some_and(|t| active.view.fired >= t) {
                continue;
            }
            if let Some(p) = rule.probability
                && active.rng.f64() >= p
            {
                continue;
            }
            active.view.fired += 1;
            self.version += 1;
            return Some((active.view.id, rule.effect));
        }
        None
    }
}

/// The ids of the rules that match a request, in order: pure work, done outside the lock.
pub fn matching(
    rules: &[(Uuid, FaultRule)],
    method: &str,
    path: &str,
    customer: Option<CustomerId>,
    now: Timestamp,
) -> Vec<Uuid> {
    rules
        .iter()
        .filter(|(_, rule)| rule.matches(method, path, customer, now))
        .map(|(id, _)| *id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(times: Option<u64>, probability: Option<f64>) -> FaultRule {
        FaultRule {
            method: None,
            path: None,
            customer: None,
            effect: Effect::Status(503),
            times,
            probability,
            window: None,
        }
    }

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-11-21T10:00:00Z").unwrap()
    }

    #[test]
    fn a_times_rule_fires_exactly_that_often() {
        let mut book = FaultBook::new(0);
        book.add(rule(Some(2), None));
        let fired: Vec<bool> = (0..4)
            .map(|_| book.fire("GET", "/v1/x", None, now()).is_some())
            .collect();
        assert_eq!(fired, [true, true, false, false]);
        assert_eq!(book.list()[0].fired, 2);
    }

    #[test]
    fn probability_draws_replay_for_the_same_seed() {
        let sequence = |seed| {
            let mut book = FaultBook::new(seed);
            book.add(rule(None, Some(0.5)));
            (0..64)
                .map(|_| book.fire("GET", "/v1/x", None, now()).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(sequence(7), sequence(7));
        assert_ne!(sequence(7), sequence(8));
        let hits = sequence(7).iter().filter(|f| **f).count();
        assert!((16..48).contains(&hits), "{hits}");
    }
}
