//! The emulator's one source of "now": the only code that reads real time.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;

use crate::domain::timestamp::Timestamp;

/// Source of "now" for every timestamp the API reports and every job transition.
///
/// `system()` follows real time; `manual(t0)` stands still until it is advanced or set, so tests
/// and CI runs decide exactly when a job moves on. Clones share one clock.
#[derive(Clone, Debug)]
pub struct Clock(Arc<Mode>);

#[derive(Debug)]
enum Mode {
    System,
    Manual(Mutex<Timestamp>),
}

/// Why a clock refused to move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    #[error("the clock follows system time; start with `--clock manual` to move it")]
    NotManual,
    #[error("the clock never moves backwards: {requested} is before the current time {now}")]
    Backwards { requested: String, now: String },
    #[error(
        "the clock cannot move past 9999-12-31T23:59:59Z, the end of the calendar: it is {now}"
    )]
    PastTheEnd { now: String },
}

impl Clock {
    pub fn system() -> Self {
        Self(Arc::new(Mode::System))
    }

    pub fn manual(start: Timestamp) -> Self {
        Self(Arc::new(Mode::Manual(Mutex::new(start))))
    }

    /// The real time now; used for a manual clock's default start.
    pub fn wall_time() -> Timestamp {
        Timestamp::from_offset(OffsetDateTime::now_utc())
    }

    pub fn now(&self) -> Timestamp {
        match &*self.0 {
            Mode::System => Self::wall_time(),
            Mode::Manual(now) => *now.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    pub fn is_manual(&self) -> bool {
        matches!(&*self.0, Mode::Manual(_))
    }

    /// Moves a manual clock forward by `by` and returns the new time.
    pub fn advance(&self, by: Duration) -> Result<Timestamp, ClockError> {
        match &*self.0 {
            Mode::System => Err(ClockError::NotManual),
            Mode::Manual(now) => {
                let mut now = now.lock().unwrap_or_else(PoisonError::into_inner);
                // Refused rather than saturated: a clock pinned at the calendar's end would
                // leave jobs unable to move on, and say nothing.
                *now = now
                    .checked_plus(by)
                    .ok_or_else(|| ClockError::PastTheEnd { now: now.rfc3339() })?;
                Ok(*now)
            }
        }
    }

    /// Sets a manual clock to `to`, which must not be in its past.
    pub fn set(&self, to: Timestamp) -> Result<Timestamp, ClockError> {
        match &*self.0 {
            Mode::System => Err(ClockError::NotManual),
            Mode::Manual(now) => {
                let mut now = now.lock().unwrap_or_else(PoisonError::into_inner);
                if to < *now {
                    return Err(ClockError::Backwards {
                        requested: to.rfc3339(),
                        now: now.rfc3339(),
                    });
                }
                *now = to;
                Ok(to)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_never_backwards() {
        let t0 = Timestamp::parse_rfc3339("2026-11-21T10:00:00Z").unwrap();
        let clock = Clock::manual(t0);
        assert_eq!(clock.now(), t0);
        let t1 = clock.advance(Duration::from_secs(5)).unwrap();
        assert_eq!(clock.clone().now(), t1);
        assert!(matches!(clock.set(t0), Err(ClockError::Backwards { .. })));
        assert_eq!(clock.set(t1), Ok(t1));
    }

    #[test]
    fn a_system_clock_cannot_be_moved() {
        let clock = Clock::system();
        assert_eq!(
            clock.advance(Duration::from_secs(1)),
            Err(ClockError::NotManual)
        );
        assert!(!clock.is_manual());
    }
}
