//! Path tolerance, applied before routing: `/v1/` or `/v1.0/`, fixed segments in any case, and
//! repeated slashes collapsed (clients prefix the relative `Location` with `/v1/`, giving `//`).

use axum::http::{Request, Uri};

/// The fixed segments of Partner Center paths in their documented spelling, by position after
/// `/v1/customers/{id}/`.
const RESOURCES: [&str; 4] = [
    "deviceBatches",
    "batchJobStatus",
    "DevicePolicyUpdates",
    "policies",
];

/// Rewrites a raw path to the spelling the router knows. Segments that carry ids are untouched,
/// so their percent-encoding and case survive.
pub fn canonical_path(path: &str) -> String {
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments
        .first()
        .is_some_and(|s| s.eq_ignore_ascii_case("v1") || s.eq_ignore_ascii_case("v1.0"))
    {
        segments[0] = "v1";
        let fix = |segments: &mut Vec<&str>, at: usize, names: &[&'static str]| {
            if let Some(seg) = segments.get(at)
                && let Some(name) = names.iter().find(|n| n.eq_ignore_ascii_case(seg))
            {
                segments[at] = name;
            }
        };
        fix(&mut segments, 1, &["customers"]);
        fix(&mut segments, 3, &RESOURCES);
        if segments.get(3) == Some(&"deviceBatches") {
            fix(&mut segments, 5, &["devices"]);
        }
    }
    format!("/{}", segments.join("/"))
}

/// Whether [`canonical_path`] would change `path`, without allocating and in one pass over its
/// bytes: most requests are already canonical, and this runs for every one.
fn is_canonical(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    // The first six segments are all the rewrite looks at; an empty one (`//`, a trailing `/`)
    // anywhere is a rewrite.
    // `split` finds the slashes with `memchr`, cheaper than a loop over every byte.
    let mut segments = [""; 6];
    let mut count = 0;
    for segment in rest.split('/') {
        if segment.is_empty() {
            return false;
        }
        if let Some(slot) = segments.get_mut(count) {
            *slot = segment;
        }
        count += 1;
    }
    let present = |i: usize| (i < count).then(|| segments[i]);
    let exact = |seg: Option<&str>, names: &[&str]| match seg {
        Some(s) => names.contains(&s) || !names.iter().any(|n| n.eq_ignore_ascii_case(s)),
        None => true,
    };
    match segments[0] {
        "v1" => {}
        s if s.eq_ignore_ascii_case("v1") || s.eq_ignore_ascii_case("v1.0") => return false,
        _ => return true,
    }
    let resource = present(3);
    exact(present(1), &["customers"])
        && exact(resource, &RESOURCES)
        && (resource != Some("deviceBatches") || exact(present(5), &["devices"]))
}

/// Applies [`canonical_path`] to a request, keeping its query string.
pub fn rewrite<B>(mut req: Request<B>) -> Request<B> {
    let path = req.uri().path();
    if is_canonical(path) {
        return req;
    }
    let canonical = canonical_path(path);
    if canonical != path {
        let target = match req.uri().query() {
            Some(q) => format!("{canonical}?{q}"),
            None => canonical,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = target.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_fixed_segments_are_matched_in_any_case() {
        assert_eq!(
            canonical_path("/V1.0/Customers/C/batchjobstatus/T"),
            "/v1/customers/C/batchJobStatus/T"
        );
        assert_eq!(
            canonical_path("/v1/customers/C/DeviceBatches/My%20Batch/DEVICES"),
            "/v1/customers/C/deviceBatches/My%20Batch/devices"
        );
        assert_eq!(
            canonical_path("/v1/customers/C/devicepolicyupdates"),
            "/v1/customers/C/DevicePolicyUpdates"
        );
    }

    #[test]
    fn repeated_and_trailing_slashes_collapse() {
        assert_eq!(
            canonical_path("/v1//customers/C/batchJobStatus/T/"),
            "/v1/customers/C/batchJobStatus/T"
        );
        assert_eq!(canonical_path("//_emulator//health"), "/_emulator/health");
        assert_eq!(canonical_path("/"), "/");
    }

    #[test]
    fn id_segments_are_left_alone() {
        // A batch literally named "devices" keeps its place.
        assert_eq!(
            canonical_path("/v1/customers/C/deviceBatches/Policies/devices"),
            "/v1/customers/C/deviceBatches/Policies/devices"
        );
    }

    #[test]
    fn the_allocation_free_check_agrees_with_the_rewrite() {
        for path in [
            "/v1/customers/C/deviceBatches/B/devices",
            "/v1/customers/C/devicebatches/B/devices",
            "/v1/customers/C/deviceBatches/B/DEVICES",
            "/V1/customers/C/batchJobStatus/T",
            "/v1.0/customers/C/policies",
            "/v1//customers/C/policies",
            "/v1/customers/C/policies/",
            "/_emulator/health",
            "//_emulator/health",
            "/",
            "/v1",
            "/v1/Customers",
            "/v1/customers/C/deviceBatches/Policies/devices",
            "/v1/",
            "//",
            "/v1//",
            "/v1.0",
            "/V1",
            "/x/",
            "x",
            "",
            "/v1/customers/C/deviceBatches/B/devices/D/extra/more",
            "/v1/customers/C/deviceBatches/B/Devices/D",
            "/v1/customers/C/policies/P/",
        ] {
            assert_eq!(is_canonical(path), canonical_path(path) == path, "{path}");
        }
    }

    #[test]
    fn the_query_string_survives_a_rewrite() {
        let req = Request::builder()
            .uri("/v1//customers/C/deviceBatches?x=1")
            .body(())
            .unwrap();
        assert_eq!(
            rewrite(req).uri().to_string(),
            "/v1/customers/C/deviceBatches?x=1"
        );
    }
}
