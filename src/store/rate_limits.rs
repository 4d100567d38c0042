//! The sliding windows of `--rate-limit`, per partner tenant and per partner+customer.

use std::collections::HashMap;

use super::{Store, lock};
use crate::domain::ids::{CustomerId, TenantId};
use crate::domain::rate_limit::{RateLimit, Window};
use crate::domain::timestamp::Timestamp;

/// The windows by scope: `(partner, None)` for a partner, `(partner, Some(customer))` for a
/// partner+customer. `None` as partner is the default partner (without `--auth jwt`).
pub type Windows = HashMap<(Option<TenantId>, Option<CustomerId>), Window>;

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
        let mut windows = lock(&self.rate_limits);
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
        lock(&self.rate_limits).clear();
    }
}
