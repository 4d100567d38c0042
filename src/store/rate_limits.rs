//! The sliding windows of `--rate-limit`, per partner tenant and per partner+customer.

use std::collections::HashMap;

use super::{Store, lock};
use crate::domain::ids::{CustomerId, TenantId};
use crate::domain::rate_limit::{RateLimit, Window};
use crate::domain::timestamp::Timestamp;

/// The windows by scope: `(partner, None)` for a partner, `(partner, Some(customer))` for a
/// partner+customer. `None` as partner is the default partner (without `--auth jwt`).
#[derive(Debug, Default)]
pub struct Windows {
    map: HashMap<(Option<TenantId>, Option<CustomerId>), Window>,
    /// Idle windows are swept when the map reaches this size (then twice what is left), so a
    /// client that names a new customer in every request does not grow it for ever, and the
    /// sweep costs O(1) a request amortised.
    sweep_at: usize,
}

/// Below this many windows nothing is swept.
const SWEEP_FLOOR: usize = 1024;

impl Store {
    /// Counts a request against the partner's and the partner+customer's budgets, when both
    /// have room; else counts nothing and answers the whole seconds until both would.
    pub fn throttle(
        &self,
        limit: RateLimit,
        partner: Option<TenantId>,
        customer: Option<CustomerId>,
        now: Timestamp,
    ) -> Option<u64> {
        let mut guard = lock(&self.rate_limits);
        let Windows {
            map: windows,
            sweep_at,
        } = &mut *guard;
        if windows.len() >= (*sweep_at).max(SWEEP_FLOOR) {
            windows.retain(|(_, customer), w| {
                let budget = if customer.is_some() {
                    limit.customer
                } else {
                    limit.partner
                };
                !budget.is_some_and(|b| w.is_idle(now, b))
            });
            *sweep_at = windows.len() * 2;
        }
        let scopes = [
            limit.partner.map(|b| ((partner, None), b)),
            limit
                .customer
                .zip(customer)
                .map(|(b, c)| ((partner, Some(c)), b)),
        ];
        let wait = scopes
            .iter()
            .flatten()
            .filter_map(|(key, budget)| windows.entry(*key).or_default().wait(now, *budget))
            .max();
        if wait.is_none() {
            for (key, _) in scopes.iter().flatten() {
                windows.entry(*key).or_default().take(now);
            }
        }
        wait
    }

    /// Forgets every window (a reset).
    pub fn clear_rate_limits(&self) {
        lock(&self.rate_limits).map.clear();
    }
}
