//! The OpenAPI document and the router agree: every documented operation is routed, every routed
//! operation is documented, the document is served as written, and its examples conform to it.

use std::collections::BTreeSet;

use partner_center_emulator::http::{ROUTES, openapi};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::schema::{DOCUMENT, check_fault_response, errors, escape};

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn documented_operations() -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in DOCUMENT["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            if METHODS.contains(&method.to_ascii_uppercase().as_str()) {
                operations.insert((method.to_ascii_uppercase(), path.clone()));
            } else {
                assert_eq!(method, "parameters", "{path}: unexpected key `{method}`");
            }
        }
    }
    operations
}

fn owned(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect()
}

#[test]
fn the_document_lists_exactly_the_routed_operations() {
    let documented = documented_operations();
    let routed = owned(ROUTES);
    assert_eq!(routed.len(), ROUTES.len(), "ROUTES has no repeats");
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routed but not documented: {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
}

/// Every `.route("…")` in `src/http` (outside unit tests) is a path listed in `ROUTES`, and
/// back: a route added to a router without being listed is caught here.
#[test]
fn the_routers_serve_exactly_the_listed_paths() {
    let shape = |template: &str| -> String {
        template
            .split('/')
            .map(|s| if s.starts_with('{') { "{}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    };
    let mut files = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/http"
    ))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    let mut in_source = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a source file");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (at, _) in code.match_indices(".route(") {
            let rest = code[at + ".route(".len()..].trim_start();
            let literal = rest
                .strip_prefix('"')
                .and_then(|r| r.split_once('"'))
                .map(|(path, _)| path)
                .unwrap_or_else(|| panic!("{}: a route path is a string literal", file.display()));
            in_source.insert(shape(literal));
        }
    }
    let listed: BTreeSet<String> = ROUTES.iter().map(|(_, p)| shape(p)).collect();
    assert_eq!(
        in_source, listed,
        "routers (left) and ROUTES (right) differ"
    );
}

/// A concrete path for a template: the test customer, and plausible ids for the rest.
fn concrete(template: &str) -> String {
    template
        .replace("{customer-id}", CUSTOMER)
        .replace("{devicebatch-id}", "probe-batch")
        .replace("{fault-id}", "7c141ea9-2816-4e15-a819-53f6856499ff")
        .split('/')
        .map(|s| {
            if s.starts_with('{') {
                "0127ed8e-ff72-4983-a3d8-e8d8bd378932"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the router's fallbacks (unknown route, or known route without this method) answered.
async fn reaches_a_handler(app: &TestApp, method: &str, path: &str) -> bool {
    let method = Method::from_bytes(method.as_bytes()).expect("a method");
    let response = app
        .client
        .request(method.clone(), app.url(path))
        .header("Authorization", TOKEN)
        .json(&json!({}))
        .send_checked()
        .await;
    let status = response.status();
    let body: Value = response.json().unwrap_or(Value::Null);
    let route_fallback = status == StatusCode::NOT_FOUND
        && body["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Not found: no route matches"));
    let method_fallback = status == StatusCode::METHOD_NOT_ALLOWED && body["code"] == 1001;
    !(route_fallback || method_fallback)
}

#[tokio::test]
async fn the_fallbacks_are_told_apart_from_handlers() {
    let app = spawn_app().await;
    let nowhere = format!("/v1/customers/{CUSTOMER}/nowhere");
    assert!(!reaches_a_handler(&app, "GET", &nowhere).await);
    assert!(!reaches_a_handler(&app, "DELETE", "/_emulator/health").await);
    assert!(reaches_a_handler(&app, "GET", "/_emulator/health").await);
    // A handler's own 404 is not the fallback's.
    let unknown_batch = format!("/v1/customers/{CUSTOMER}/deviceBatches/none/devices");
    assert!(reaches_a_handler(&app, "GET", &unknown_batch).await);
}

/// Over HTTP: on every documented or listed path, exactly the listed methods reach a handler.
#[tokio::test]
async fn exactly_the_listed_methods_reach_a_handler_on_every_path() {
    let app = spawn_app().await;
    let routed = owned(ROUTES);
    let paths: BTreeSet<String> = documented_operations()
        .into_iter()
        .map(|(_, p)| p)
        .chain(ROUTES.iter().map(|(_, p)| (*p).to_owned()))
        .collect();
    let mut mismatches = Vec::new();
    for template in &paths {
        for method in METHODS {
            let listed = routed.contains(&(method.to_owned(), template.clone()));
            if listed != reaches_a_handler(&app, method, &concrete(template)).await {
                mismatches.push(format!(
                    "{method} {template}: {}",
                    if listed {
                        "listed but not routed"
                    } else {
                        "routed but not listed"
                    }
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

/// Without a token, every Partner Center route's own methods (and `HEAD` where `GET` is) are 401,
/// and every other method is the 405 fallback's, not a 401: the token check runs on routed
/// methods only.
#[tokio::test]
async fn without_a_token_routed_methods_are_401_and_others_405() {
    let app = spawn_app().await;
    let routed = owned(ROUTES);
    let mut mismatches = Vec::new();
    for (_, template) in ROUTES.iter().filter(|(_, p)| p.starts_with("/v1/")) {
        for method in METHODS.iter().chain(&["HEAD", "OPTIONS"]) {
            let routed_as = if *method == "HEAD" { "GET" } else { method };
            let expected = if routed.contains(&(routed_as.to_owned(), (*template).to_owned())) {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::METHOD_NOT_ALLOWED
            };
            let status = app
                .client
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    app.url(&concrete(template)),
                )
                .send_checked()
                .await
                .status();
            if status != expected {
                mismatches.push(format!(
                    "{method} {template}: {status}, expected {expected}"
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

#[tokio::test]
async fn the_document_is_served_as_yaml_and_as_the_same_json() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/_emulator/openapi.yaml"))
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/yaml"
    );
    assert_eq!(response.text().unwrap(), openapi::YAML);

    let response = app
        .client
        .get(app.url("/_emulator/openapi.json"))
        .send_checked()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let served: Value = response.json().unwrap();
    let from_yaml: Value = serde_yaml_ng::from_str(openapi::YAML).unwrap();
    assert_eq!(served, from_yaml, "the JSON is the YAML, converted");
    assert_eq!(served["openapi"], "3.1.0");
}

/// Every `example` and `examples` value in the document validates against its schema.
#[test]
fn every_example_in_the_document_conforms_to_its_schema() {
    fn walk(pointer: &str, node: &Value, checked: &mut usize, problems: &mut Vec<String>) {
        let Some(object) = node.as_object() else {
            if let Some(items) = node.as_array() {
                for (i, item) in items.iter().enumerate() {
                    walk(&format!("{pointer}/{i}"), item, checked, problems);
                }
            }
            return;
        };
        let schema = if object.contains_key("schema") {
            Some(format!("{pointer}/schema"))
        } else if pointer.starts_with("/components/schemas/") {
            Some(pointer.to_owned())
        } else {
            None
        };
        if let Some(schema) = schema {
            let mut examples: Vec<(String, &Value)> = Vec::new();
            if let Some(example) = object.get("example") {
                examples.push((format!("{pointer}/example"), example));
            }
            if let Some(named) = object.get("examples").and_then(Value::as_object) {
                for (name, example) in named {
                    examples.push((format!("{pointer}/examples/{name}"), &example["value"]));
                }
            }
            for (at, example) in examples {
                *checked += 1;
                for problem in errors(&schema, example) {
                    problems.push(format!("{at}: {problem}"));
                }
            }
        }
        for (key, child) in object {
            if key != "example" && key != "examples" {
                walk(
                    &format!("{pointer}/{}", escape(key)),
                    child,
                    checked,
                    problems,
                );
            }
        }
    }
    let (mut checked, mut problems) = (0, Vec::new());
    walk("", &DOCUMENT, &mut checked, &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(checked >= 30, "only {checked} examples were checked");
}

/// Answers reach tests only through `send_checked`, so every one is validated against the
/// document; reqwest's own `send` would skip that.
#[test]
fn integration_tests_receive_answers_only_through_the_document_check() {
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/api"
    ))];
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a test directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a source file");
        let bare = text.matches(&[".send", "()"].concat()).count();
        assert_eq!(
            bare,
            0,
            "{}: use `.send_checked()` (helpers::SendChecked) instead of reqwest's `send()`, so the answer is validated against the OpenAPI document",
            file.display()
        );
    }
}

/// Fault answers (control plane) are checked by body shape, not per operation: the gateway's
/// throttling body for 429, the envelope otherwise. A wrong shape fails.
#[test]
fn fault_answers_are_checked_as_throttling_bodies_or_envelopes() {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    let throttled =
        br#"{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}"#;
    check_fault_response("POST", "/v1/x", 429, &headers, throttled);
    let envelope =
        br#"{"code": 800003, "description": "Injected.", "data": [], "source": "PartnerFD"}"#;
    headers.insert(
        "content-type",
        "application/json; charset=utf-8".parse().unwrap(),
    );
    check_fault_response("POST", "/v1/x", 503, &headers, envelope);
    let wrong = std::panic::catch_unwind(|| {
        check_fault_response("POST", "/v1/x", 429, &headers, envelope);
    });
    assert!(wrong.is_err(), "an envelope is not a throttling body");
}
