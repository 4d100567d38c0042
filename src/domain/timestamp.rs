//! Points in emulator time and the one way the API writes them.

use std::fmt;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An instant on the emulator clock, always UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn from_offset(dt: OffsetDateTime) -> Self {
        Self(dt.to_offset(time::UtcOffset::UTC))
    }

    /// For constants; `dt` must already be UTC.
    pub const fn from_offset_const(dt: OffsetDateTime) -> Self {
        Self(dt)
    }

    /// Parses RFC 3339 (`2026-11-21T10:00:00Z`, `…+01:00`, any fraction).
    pub fn parse_rfc3339(raw: &str) -> Option<Self> {
        OffsetDateTime::parse(raw.trim(), &Rfc3339)
            .ok()
            .map(Self::from_offset)
    }

    pub fn as_offset(&self) -> OffsetDateTime {
        self.0
    }

    /// The last instant the calendar holds (9999-12-31T23:59:59.999999999Z).
    pub const MAX: Self = Self(time::PrimitiveDateTime::MAX.assume_utc());

    /// Adds a duration, saturating at [`Timestamp::MAX`] instead of overflowing. (Saturating to
    /// the calendar's last midnight once moved a late instant backwards.)
    pub fn plus(self, d: Duration) -> Self {
        self.checked_plus(d).unwrap_or(Self::MAX)
    }

    /// Adds a duration; `None` past [`Timestamp::MAX`].
    pub fn checked_plus(self, d: Duration) -> Option<Self> {
        self.0
            .checked_add(time::Duration::try_from(d).ok()?)
            .map(Self)
    }

    /// Plain RFC 3339 with `Z`, for the control plane.
    pub fn rfc3339(&self) -> String {
        self.0.format(&Rfc3339).unwrap_or_else(|_| self.to_string())
    }
}

/// Writes the instant the way the .NET service does (Json.NET round-trip format): seconds, up to
/// seven fraction digits with trailing zeros trimmed (none at all when the fraction is zero), and
/// an explicit `+00:00` offset, e.g. `2026-11-21T10:00:00.1234567+00:00`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        let ticks = t.nanosecond() / 100;
        if ticks != 0 {
            let digits = format!("{ticks:07}");
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        f.write_str("+00:00")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn writes_seven_fraction_digits_with_trailing_zeros_trimmed() {
        let t = Timestamp::from_offset(datetime!(2026-11-21 10:00:00.123456789 UTC));
        assert_eq!(t.to_string(), "2026-11-21T10:00:00.1234567+00:00");
        let t = Timestamp::from_offset(datetime!(2026-11-21 10:00:00.5 UTC));
        assert_eq!(t.to_string(), "2026-11-21T10:00:00.5+00:00");
        let t = Timestamp::from_offset(datetime!(2026-11-21 10:00:00 UTC));
        assert_eq!(t.to_string(), "2026-11-21T10:00:00+00:00");
    }

    #[test]
    fn converts_other_offsets_to_utc() {
        let t = Timestamp::parse_rfc3339("2026-11-21T11:00:00+01:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-21T10:00:00+00:00");
        assert_eq!(t.rfc3339(), "2026-11-21T10:00:00Z");
    }

    #[test]
    fn adding_saturates_instead_of_overflowing() {
        let t = Timestamp::from_offset(datetime!(2026-11-21 10:00:00 UTC));
        assert_eq!(
            t.plus(Duration::from_millis(1500)).to_string(),
            "2026-11-21T10:00:01.5+00:00"
        );
        assert!(t.plus(Duration::MAX) > t);
        let late = Timestamp::from_offset(datetime!(9999-12-31 23:59:58 UTC));
        assert!(late.plus(Duration::from_secs(5)) >= late, "never backwards");
        assert_eq!(late.plus(Duration::from_secs(5)), Timestamp::MAX);
        assert_eq!(late.checked_plus(Duration::from_secs(5)), None);
    }
}
