//! The OpenAPI document as a test oracle: every response a test receives is checked against the
//! operation and status it documents (body schema via `jsonschema`, media type, headers).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use jsonschema::Validator;
use partner_center_emulator::http::openapi;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// The document as the emulator serves it (the JSON `build.rs` converted).
pub static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(openapi::JSON).expect("the embedded OpenAPI JSON parses")
});

static VALIDATORS: LazyLock<Mutex<HashMap<String, Arc<Validator>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// `/` and `~` escaped for a JSON pointer segment.
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A JSON pointer written as a URI fragment (`{`, `}` and the like percent-encoded).
fn fragment(pointer: &str) -> String {
    pointer
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A validator for the schema at `pointer` (a JSON pointer into the document), with every
/// `$ref` resolved against the whole document.
pub fn validator(pointer: &str) -> Arc<Validator> {
    let mut cache = VALIDATORS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(v) = cache.get(pointer) {
        return v.clone();
    }
    // The document itself is the root resource: its OpenAPI keys are unknown keywords (ignored),
    // and `#/components/...` references resolve inside it.
    let mut root = DOCUMENT.clone();
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["$ref"] = json!(format!("#{}", fragment(pointer)));
    let built = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("the schema at {pointer} does not compile: {e}"));
    let built = Arc::new(built);
    cache.insert(pointer.to_owned(), built.clone());
    built
}

/// The errors of `instance` against the schema at `pointer`, one line each.
pub fn errors(pointer: &str, instance: &Value) -> Vec<String> {
    validator(pointer)
        .iter_errors(instance)
        .map(|e| format!("{} at `{}`", e, e.instance_path()))
        .collect()
}

/// Follows an OpenAPI `$ref` (to a response, header or parameter object) inside the document.
pub fn resolve(mut pointer: String) -> (String, &'static Value) {
    loop {
        let value = DOCUMENT
            .pointer(&pointer)
            .unwrap_or_else(|| panic!("the document has nothing at {pointer}"));
        match value.get("$ref").and_then(Value::as_str) {
            Some(target) => pointer = target.trim_start_matches('#').to_owned(),
            None => return (pointer, value),
        }
    }
}

/// The documented path template a request path matches, read from the request as Partner Center
/// clients may spell it: empty segments (`//`) ignored, and under `/v1/` (or `/v1.0/`) the fixed
/// segments in any case. Written from those rules, not with the emulator's `normalize`, so that
/// a bug there shows up here as an answer checked against the wrong operation.
pub fn template_of(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let versioned = segments
        .first()
        .is_some_and(|s| s.eq_ignore_ascii_case("v1") || s.eq_ignore_ascii_case("v1.0"));
    let paths = DOCUMENT["paths"].as_object().expect("paths");
    paths.keys().map(String::as_str).find(|template| {
        let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
        parts.len() == segments.len()
            && parts.iter().zip(&segments).enumerate().all(|(i, (t, s))| {
                let parameter = t.starts_with('{') && t.ends_with('}');
                parameter
                    || *t == *s
                    || (versioned && i == 0 && *t == "v1")
                    || (versioned && t.eq_ignore_ascii_case(s))
            })
    })
}

fn media_type_essence(headers: &HeaderMap) -> Option<String> {
    headers
        .get("content-type")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// Checks one answer against the document: the operation for `method` and `path`, the response
/// for `status`, its media type, its required headers and their schemas, and its body schema.
/// A path or method the document does not have must be answered 404/405 in the error envelope.
pub fn check_response(method: &str, path: &str, status: u16, headers: &HeaderMap, body: &[u8]) {
    let what = format!("{method} {path} → {status}");
    let documented_method = if method == "HEAD" { "get" } else { method }.to_ascii_lowercase();
    let operation = template_of(path).and_then(|template| {
        DOCUMENT["paths"][template]
            .get(&documented_method)
            .map(|_| format!("/paths/{}/{documented_method}", escape(template)))
    });
    let Some(operation) = operation else {
        assert!(
            status == 404 || status == 405,
            "{what}: an undocumented route or method must answer 404 or 405"
        );
        // A HEAD answer has no body to check.
        if method != "HEAD" {
            check_json_body(&what, "/components/schemas/Error", headers, body);
        }
        return;
    };
    let (response, spec) = {
        let pointer = format!("{operation}/responses/{status}");
        assert!(
            DOCUMENT.pointer(&pointer).is_some(),
            "{what}: status {status} is not documented for this operation ({operation})"
        );
        resolve(pointer)
    };
    if let Some(documented) = spec.get("headers").and_then(Value::as_object) {
        for name in documented.keys() {
            let (header_pointer, header) = resolve(format!("{response}/headers/{}", escape(name)));
            let value = headers.get(name.as_str());
            if header["required"] == json!(true) {
                assert!(value.is_some(), "{what}: the `{name}` header is missing");
            }
            if let Some(value) = value {
                let value = json!(String::from_utf8_lossy(value.as_bytes()));
                let problems = errors(&format!("{header_pointer}/schema"), &value);
                assert!(
                    problems.is_empty(),
                    "{what}: header `{name}: {value}` does not match the document: {problems:?}"
                );
            }
        }
    }
    let content = spec.get("content").and_then(Value::as_object);
    let Some(content) = content else {
        assert!(
            body.is_empty(),
            "{what}: the document says no body, got {:?}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(
            media_type_essence(headers),
            None,
            "{what}: a bodiless answer carries no Content-Type"
        );
        return;
    };
    if method == "HEAD" {
        return;
    }
    let essence = media_type_essence(headers).unwrap_or_else(|| {
        panic!("{what}: the document says a body, and there is no Content-Type")
    });
    assert!(
        content.contains_key(&essence),
        "{what}: Content-Type `{essence}` is not documented (documented: {:?})",
        content.keys().collect::<Vec<_>>()
    );
    let schema = format!("{response}/content/{}/schema", escape(&essence));
    if essence == "application/json" {
        check_json_body(&what, &schema, headers, body);
    } else if essence == "application/x-pem-file" || essence == "text/html" {
        let text = String::from_utf8(body.to_vec())
            .unwrap_or_else(|e| panic!("{what}: a PEM or HTML body is UTF-8 ({e})"));
        let problems = errors(&schema, &Value::String(text));
        assert!(problems.is_empty(), "{what}: {problems:?}");
    } else {
        assert_eq!(
            essence, "application/yaml",
            "{what}: an unexpected media type"
        );
        let value: Value = serde_yaml_ng::from_slice(body)
            .unwrap_or_else(|e| panic!("{what}: the body is not YAML ({e})"));
        let problems = errors(&schema, &value);
        assert!(problems.is_empty(), "{what}: {problems:?}");
    }
}

fn check_json_body(what: &str, schema: &str, headers: &HeaderMap, body: &[u8]) {
    // The throttling answer is the API gateway's, with a bare `application/json`.
    if !what.ends_with("→ 429") {
        assert_eq!(
            headers.get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/json; charset=utf-8"[..]),
            "{what}: JSON bodies are `application/json; charset=utf-8`"
        );
    }
    // `--response-bom` puts a UTF-8 BOM before Partner Center JSON bodies.
    let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
    let value: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "{what}: the body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(body)
        )
    });
    let problems = errors(schema, &value);
    assert!(
        problems.is_empty(),
        "{what}: the body does not match the document's schema {schema}:\n  {}\nbody: {value}",
        problems.join("\n  ")
    );
}

/// Checks an answer that a fault rule gave instead of the emulator: the throttling body for a
/// 429, else the error envelope. Fault statuses are any 400..599, so they are not per operation.
pub fn check_fault_response(
    method: &str,
    path: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) {
    let what = format!("{method} {path} → {status}");
    assert!(
        (400..600).contains(&status),
        "{what}: a fault answers 400..599"
    );
    let schema = if status == 429 {
        "/components/schemas/Throttled"
    } else {
        "/components/schemas/Error"
    };
    check_json_body(&what, schema, headers, body);
}
