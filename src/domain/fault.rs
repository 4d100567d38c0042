//! Fault rules: which Partner Center requests a rule matches and what it does to them. Firing
//! (counts, random draws) is the store's; this is the pure matching.

use super::ids::CustomerId;
use super::timestamp::Timestamp;

/// What a firing rule does to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Answer this 4xx/5xx in the Partner Center envelope.
    Status(u16),
    /// Answer 429 with `Retry-After` and the gateway's throttling body.
    Throttle { retry_after_seconds: u64 },
    /// Wait this many milliseconds, then serve normally.
    Delay { ms: u64 },
    /// Close the connection without an answer.
    Drop,
}

/// A path pattern over normalised Partner Center paths: `*` matches within one segment, `**`
/// matches any number of segments. Letters match ignoring ASCII case.
///
/// Matching runs the pattern as a set of positions (an NFA) over the path's segments, so it
/// costs at most path segments × pattern segments segment comparisons, whatever the number of
/// `**`: a backtracking matcher was exponential in them, and ran under a lock every request
/// takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    raw: String,
    /// The pattern's segments; runs of `**` are collapsed to one, which matches the same paths.
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    AnySegments,
    Pattern(Vec<u8>),
}

impl Glob {
    pub fn new(pattern: &str) -> Self {
        let mut segments: Vec<Segment> = Vec::new();
        for s in pattern.split('/').filter(|s| !s.is_empty()) {
            if s == "**" {
                if segments.last() != Some(&Segment::AnySegments) {
                    segments.push(Segment::AnySegments);
                }
            } else {
                segments.push(Segment::Pattern(s.as_bytes().to_vec()));
            }
        }
        Self {
            raw: pattern.to_owned(),
            segments,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn matches(&self, path: &str) -> bool {
        self.matches_counting(path).0
    }

    /// Whether the path matches, and how many segment comparisons that took (for tests that
    /// bound the work rather than time it).
    pub fn matches_counting(&self, path: &str) -> (bool, u64) {
        let n = self.segments.len();
        let mut comparisons = 0u64;
        // `active[i]`: the path read so far can be matched by the pattern's first `i` segments.
        let mut active = vec![false; n + 1];
        let mut next = vec![false; n + 1];
        active[0] = true;
        self.close(&mut active);
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            next.iter_mut().for_each(|b| *b = false);
            let mut any = false;
            for i in 0..n {
                if !active[i] {
                    continue;
                }
                comparisons += 1;
                match &self.segments[i] {
                    Segment::AnySegments => {
                        next[i] = true;
                        any = true;
                    }
                    Segment::Pattern(p) => {
                        if segment_matches(p, segment.as_bytes()) {
                            next[i + 1] = true;
                            any = true;
                        }
                    }
                }
            }
            if !any {
                return (false, comparisons);
            }
            std::mem::swap(&mut active, &mut next);
            self.close(&mut active);
        }
        (active[n], comparisons)
    }

    /// A `**` may match no segment at all: reaching it reaches the position after it too.
    fn close(&self, active: &mut [bool]) {
        for i in 0..self.segments.len() {
            if active[i] && self.segments[i] == Segment::AnySegments {
                active[i + 1] = true;
            }
        }
    }
}

/// `*` within a segment: the classic two-pointer wildcard match, linear in practice.
fn segment_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] != b'*' && pattern[p].eq_ignore_ascii_case(&text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// When a rule may fire, on the emulator clock: `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl Window {
    pub fn contains(&self, now: Timestamp) -> bool {
        self.from.is_none_or(|f| now >= f) && self.until.is_none_or(|u| now < u)
    }
}

/// A fault rule as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// Upper-case HTTP method, or any.
    pub method: Option<String>,
    pub path: Option<Glob>,
    pub customer: Option<CustomerId>,
    pub effect: Effect,
    /// Fire on the next N matches only.
    pub times: Option<u64>,
    /// Fire with this probability on each match (seeded draw).
    pub probability: Option<f64>,
    pub window: Option<Window>,
}

impl FaultRule {
    /// Whether the request is one this rule is about (before counting and drawing).
    pub fn matches(
        &self,
        method: &str,
        path: &str,
        customer: Option<CustomerId>,
        now: Timestamp,
    ) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path.as_ref().is_none_or(|g| g.matches(path))
            && self.customer.is_none_or(|c| customer == Some(c))
            && self.window.is_none_or(|w| w.contains(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_match_within_a_segment_and_double_stars_across() {
        let g = Glob::new("/v1/customers/*/deviceBatches/*/devices");
        assert!(g.matches("/v1/customers/C/deviceBatches/My%20Batch/devices"));
        assert!(g.matches("/v1/customers/C/devicebatches/B/devices"));
        assert!(!g.matches("/v1/customers/C/deviceBatches"));
        assert!(!g.matches("/v1/customers/C/deviceBatches/B/devices/D"));
        assert!(Glob::new("/v1/**").matches("/v1/customers/C/policies/P"));
        assert!(Glob::new("/v1/**/devices").matches("/v1/customers/C/deviceBatches/B/devices"));
        assert!(Glob::new("/v1/customers/*/dev*").matches("/v1/customers/C/DevicePolicyUpdates"));
        assert!(!Glob::new("/v1/customers/*/x*y").matches("/v1/customers/C/xz"));
        assert!(Glob::new("/**/devices/**").matches("/devices"));
        assert!(Glob::new("/v1/**/**/b/**").matches("/v1/a/b/c"));
        assert!(!Glob::new("/v1/**/b/**/d").matches("/v1/a/b/c"));
        assert!(Glob::new("**").matches("/"));
        assert!(!Glob::new("/v1").matches("/"));
    }

    #[test]
    fn many_double_stars_against_a_long_path_take_linear_work() {
        // This pattern and path once took exponential time in a backtracking matcher.
        let glob = Glob::new("/v1/**/**/**/**/**/**/**/**/**/**/zzz");
        let path = format!("/v1{}", "/a".repeat(200));
        let (matched, comparisons) = glob.matches_counting(&path);
        assert!(!matched);
        assert!(comparisons <= 201 * 3, "{comparisons} comparisons");
        let glob = Glob::new(&format!("/v1{}/zzz", "/*/**".repeat(100)));
        let (matched, comparisons) = glob.matches_counting(&format!("{path}/zzz"));
        assert!(matched);
        assert!(comparisons <= 202 * 202, "{comparisons} comparisons");
    }

    #[test]
    fn a_rule_matches_on_every_given_condition() {
        let t = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
        let c = CustomerId::parse("c7f3c849-129f-4b85-a96d-4f8e88b315a3");
        let rule = FaultRule {
            method: Some("POST".into()),
            path: Some(Glob::new("/v1/customers/*/deviceBatches")),
            customer: c,
            effect: Effect::Drop,
            times: None,
            probability: None,
            window: Some(Window {
                from: Some(t("2026-11-21T10:00:00Z")),
                until: Some(t("2026-11-21T11:00:00Z")),
            }),
        };
        let path = "/v1/customers/c/deviceBatches";
        assert!(rule.matches("post", path, c, t("2026-11-21T10:00:00Z")));
        assert!(!rule.matches("GET", path, c, t("2026-11-21T10:00:00Z")));
        assert!(!rule.matches("POST", path, None, t("2026-11-21T10:00:00Z")));
        assert!(!rule.matches("POST", path, c, t("2026-11-21T11:00:00Z")));
        assert!(!rule.matches("POST", path, c, t("2026-11-21T09:59:59Z")));
    }
}
