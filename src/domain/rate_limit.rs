//! Throttling budgets (`--rate-limit`): so many requests per sliding window on the emulator
//! clock, per partner tenant and per partner+customer, as Partner Center throttles.

use std::collections::VecDeque;
use std::time::Duration;

use super::timestamp::Timestamp;

/// `N` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub requests: u32,
    pub window: Duration,
}

impl Budget {
    /// Parses `N/WINDOW`, e.g. `100/60s`, `500/1m`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (n, window) = raw
            .split_once('/')
            .ok_or_else(|| format!("`{raw}` is not a budget like `100/60s`"))?;
        let requests: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{n}` is not a number of requests"))?;
        let window = humantime::parse_duration(window.trim())
            .map_err(|e| format!("`{window}` is not a window like `60s`: {e}"))?;
        if requests == 0 || window.is_zero() {
            return Err(format!(
                "`{raw}`: a budget needs at least one request and a window longer than 0s"
            ));
        }
        Ok(Self { requests, window })
    }
}

/// The budgets of `--rate-limit partner=N/WINDOW,customer=N/WINDOW` (either may be left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimit {
    pub partner: Option<Budget>,
    pub customer: Option<Budget>,
}

impl RateLimit {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut limit = Self::default();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (scope, budget) = part.split_once('=').ok_or_else(|| {
                format!("`{part}` is not `partner=N/WINDOW` or `customer=N/WINDOW`")
            })?;
            let budget = Budget::parse(budget)?;
            match scope.trim() {
                "partner" => limit.partner = Some(budget),
                "customer" => limit.customer = Some(budget),
                other => {
                    return Err(format!(
                        "`{other}` is not a budget scope; use `partner` or `customer`"
                    ));
                }
            }
        }
        if limit.partner.is_none() && limit.customer.is_none() {
            return Err(format!("`{raw}` names no budget"));
        }
        Ok(limit)
    }
}

/// The requests one scope has made in the current window, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Window(VecDeque<Timestamp>);

impl Window {
    /// Forgets requests that have left the window ending at `now`.
    fn slide(&mut self, now: Timestamp, budget: Budget) {
        while self
            .0
            .front()
            .is_some_and(|&t| t.plus(budget.window) <= now)
        {
            self.0.pop_front();
        }
    }

    /// `None` when a request at `now` fits the budget; else the whole seconds until it would,
    /// rounded up (a client that waits that long gets through).
    pub fn wait(&mut self, now: Timestamp, budget: Budget) -> Option<u64> {
        self.slide(now, budget);
        if self.0.len() < budget.requests as usize {
            return None;
        }
        // A slot frees when the request `len - requests` places from the end leaves the window.
        let freeing = self.0[self.0.len() - budget.requests as usize];
        let nanos = (freeing.plus(budget.window).as_offset() - now.as_offset()).whole_nanoseconds();
        let nanos = u128::try_from(nanos).unwrap_or(0).max(1);
        Some(u64::try_from(nanos.div_ceil(1_000_000_000)).unwrap_or(u64::MAX))
    }

    /// Whether every request it counted has left the window ending at `now` (it can go).
    pub fn is_idle(&mut self, now: Timestamp, budget: Budget) -> bool {
        self.slide(now, budget);
        self.0.is_empty()
    }

    /// Counts a request made at `now`.
    pub fn take(&mut self, now: Timestamp) {
        self.0.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Timestamp {
        Timestamp::parse_rfc3339("2026-11-21T10:00:00Z")
            .expect("valid")
            .plus(Duration::from_millis(s))
    }

    #[test]
    fn a_full_window_names_the_whole_seconds_until_a_slot_frees() {
        let budget = Budget::parse("2/10s").expect("valid");
        let mut w = Window::default();
        for t in [0, 1_500] {
            assert_eq!(w.wait(at(t), budget), None);
            w.take(at(t));
        }
        assert_eq!(w.wait(at(2_000), budget), Some(8));
        assert_eq!(w.wait(at(9_999), budget), Some(1));
        assert_eq!(w.wait(at(10_000), budget), None);
    }

    #[test]
    fn specs_parse_and_bad_ones_say_why() {
        assert_eq!(
            RateLimit::parse("partner=500/1m,customer=100/60s"),
            Ok(RateLimit {
                partner: Some(Budget {
                    requests: 500,
                    window: Duration::from_secs(60)
                }),
                customer: Some(Budget {
                    requests: 100,
                    window: Duration::from_secs(60)
                }),
            })
        );
        assert!(RateLimit::parse("tenant=1/1s").is_err());
        assert!(RateLimit::parse("partner=0/1s").is_err());
        assert!(RateLimit::parse("").is_err());
    }
}
