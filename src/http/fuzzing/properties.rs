//! Property tests: generated bodies (any JSON value at any depth, random bytes, valid requests with
//! one part mutated, truncated or re-cased) thrown at every decoder. A rejection is always a 4xx
//! envelope; re-casing keys never turns a valid request into a rejection; a cut-off body is a 400.

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Number, Value, json};

use super::*;

/// Every body decoder, with a valid body for it.
fn decoders() -> [(&'static str, Decoder, Value); 6] {
    [
        (
            "device batch creation",
            device_batch_creation_request,
            json!({"BatchId": "SDKTestDeviceBatch", "Devices": [
                {"HardwareHash": "DummyHash123", "ProductKey": "00329-00000-0003-AA606", "SerialNumber": "1R9-ZNP67"},
                {"serialNumber": "S", "oemManufacturerName": "M", "modelName": "X", "policies": [], "id": null}
            ]}),
        ),
        (
            "devices to add",
            devices_to_add,
            json!([{"hardwareHash": "H", "serialNumber": "S"}, {"productKey": "P"}]),
        ),
        (
            "policy create",
            configuration_policy_create,
            json!({"name": "N", "category": "o_o_b_e", "description": "D",
                   "policySettings": ["skip_eula", "remove_oem_preinstalls"]}),
        ),
        (
            "policy update",
            configuration_policy_update,
            json!({"id": "x", "name": "N", "description": null, "policySettings": ["skip_eula"],
                   "devicesAssignedCount": 1}),
        ),
        (
            "device policy update",
            device_policy_update_request,
            json!({"devices": [
                {"id": "D1", "policies": [{"key": "o_o_b_e", "value": "P"}]},
                {"id": "D2", "policies": [{"key": "o_o_b_e", "value": null}]}
            ]}),
        ),
        (
            "device update",
            device_update,
            json!({"id": "D", "serialNumber": "S", "policies": [{"key": "o_o_b_e", "value": "P"}]}),
        ),
    ]
}

/// Field names the decoders read, so generated objects hit them (in any case) as well as miss.
const KNOWN_KEYS: [&str; 16] = [
    "batchId",
    "devices",
    "hardwareHash",
    "productKey",
    "serialNumber",
    "oemManufacturerName",
    "modelName",
    "id",
    "policies",
    "key",
    "value",
    "name",
    "category",
    "description",
    "policySettings",
    "attributes",
];

const KNOWN_STRINGS: [&str; 6] = ["o_o_b_e", "none", "skip_eula", "", " ", "\u{0}"];

fn recased(s: &str, upper: &[bool]) -> String {
    s.chars()
        .zip(upper.iter().chain(std::iter::repeat(&false)))
        .map(|(c, &up)| {
            if up {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (prop::sample::select(&KNOWN_KEYS[..]), prop::collection::vec(any::<bool>(), 0..20))
            .prop_map(|(k, upper)| recased(k, &upper)),
        1 => any::<String>(),
    ]
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(&KNOWN_STRINGS[..]).prop_map(str::to_owned),
        any::<String>(),
        "[a-zA-Z0-9 -]{0,300}",
    ]
}

/// Any JSON value: every type, at every level, objects keyed by known fields or anything.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// The JSON pointer of every value inside `v`, `v` itself first.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(obj) => {
            for (k, item) in obj {
                pointers(
                    item,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    /// The value at the pointer becomes another value (of any type).
    Replace(Value),
    /// The value at the pointer disappears from its object or array.
    Remove,
    /// The object at the pointer gains a key (perhaps a known one in another case).
    Insert(String, Value),
}

fn mutate(template: &Value, selector: prop::sample::Index, mutation: Mutation) -> Value {
    let mut all = Vec::new();
    pointers(template, String::new(), &mut all);
    let target = &all[selector.index(all.len())];
    let mut v = template.clone();
    let (parent, last) = match target.rsplit_once('/') {
        Some((p, l)) => (p.to_owned(), Some(l.replace("~1", "/").replace("~0", "~"))),
        None => (String::new(), None),
    };
    match mutation {
        Mutation::Replace(new) => {
            if let Some(slot) = v.pointer_mut(target) {
                *slot = new;
            }
        }
        Mutation::Remove => match (v.pointer_mut(&parent), last) {
            (Some(Value::Object(obj)), Some(key)) => {
                obj.remove(&key);
            }
            (Some(Value::Array(items)), Some(i)) => {
                if let Ok(i) = i.parse::<usize>()
                    && i < items.len()
                {
                    items.remove(i);
                }
            }
            _ => v = Value::Null,
        },
        Mutation::Insert(key, new) => {
            if let Some(Value::Object(obj)) = v.pointer_mut(target) {
                obj.insert(key, new);
            } else if let Some(Value::Object(obj)) = v.pointer_mut(&parent) {
                obj.insert(key, new);
            }
        }
    }
    v
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => arb_json().prop_map(Mutation::Replace),
        1 => Just(Mutation::Remove),
        1 => (arb_key(), arb_json()).prop_map(|(k, v)| Mutation::Insert(k, v)),
    ]
}

/// Every key of `v`, at every level, re-cased by `upper` (cycled).
fn recase_keys(v: &Value, upper: &[bool]) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(|i| recase_keys(i, upper)).collect()),
        Value::Object(obj) => Value::Object(
            obj.iter()
                .enumerate()
                .map(|(n, (k, item))| {
                    let shift = n % upper.len().max(1);
                    let cased: Vec<bool> = upper
                        .iter()
                        .cycle()
                        .skip(shift)
                        .take(k.len())
                        .copied()
                        .collect();
                    (recased(k, &cased), recase_keys(item, upper))
                })
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

fn assert_envelope(
    what: &str,
    body: &[u8],
    result: Result<(), ApiError>,
) -> Result<(), TestCaseError> {
    if let Err(e) = result
        && let Some(problem) = envelope_problem(e)
    {
        return Err(TestCaseError::fail(format!(
            "{what}: {problem}\nbody: {}",
            String::from_utf8_lossy(body)
        )));
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config::with_cases(192))]

    #[test]
    fn any_json_value_is_accepted_or_answered_with_a_4xx_envelope(v in arb_json()) {
        let body = serde_json::to_vec(&v).unwrap_or_default();
        for (what, decoder, _) in decoders() {
            assert_envelope(what, &body, decoder(&body))?;
        }
    }

    #[test]
    fn random_bytes_are_answered_with_a_4xx_envelope(body in prop::collection::vec(any::<u8>(), 0..256)) {
        for (what, decoder, _) in decoders() {
            assert_envelope(what, &body, decoder(&body))?;
        }
        assert_envelope("continuation token", &body, continuation_token(&body))?;
    }

    #[test]
    fn the_fast_upload_decoder_agrees_with_the_tree_decoder_on_mutated_uploads(
        selector in any::<prop::sample::Index>(),
        mutation in arb_mutation(),
    ) {
        for (_, _, template) in decoders().into_iter().take(2) {
            let body = serde_json::to_vec(&mutate(&template, selector, mutation.clone())).unwrap_or_default();
            let tree = crate::http::body::parse_json(&body);
            if let Some(fast) = crate::http::fast::devices_to_add(&body) {
                let slow = tree.clone().and_then(|v| crate::http::decode::devices_to_add(&v));
                prop_assert_eq!(Some(fast), slow.ok());
            }
            if let Some(fast) = crate::http::fast::device_batch_creation_request(&body) {
                let slow = tree.and_then(|v| crate::http::decode::device_batch_creation_request(&v));
                prop_assert_eq!(Some(fast), slow.ok());
            }
        }
    }

    #[test]
    fn a_valid_request_with_one_part_mutated_is_accepted_or_a_4xx_envelope(
        selector in any::<prop::sample::Index>(),
        mutation in arb_mutation(),
    ) {
        for (what, decoder, template) in decoders() {
            let body = serde_json::to_vec(&mutate(&template, selector, mutation.clone())).unwrap_or_default();
            assert_envelope(what, &body, decoder(&body))?;
        }
    }

    #[test]
    fn keys_in_any_case_decode_like_the_documented_spelling(upper in prop::collection::vec(any::<bool>(), 1..24)) {
        for (what, decoder, template) in decoders() {
            let body = serde_json::to_vec(&recase_keys(&template, &upper)).unwrap_or_default();
            prop_assert_eq!(decoder(&body), Ok(()), "{}: {}", what, String::from_utf8_lossy(&body));
        }
    }

    #[test]
    fn a_valid_body_cut_short_is_a_400_envelope(cut in any::<prop::sample::Index>(), bom in any::<bool>()) {
        for (what, decoder, template) in decoders() {
            let full = serde_json::to_vec(&template).unwrap_or_default();
            let mut body = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
            body.extend_from_slice(&full[..cut.index(full.len())]);
            let result = decoder(&body);
            prop_assert_eq!(result.as_ref().map_err(|e| e.status.as_u16()), Err(400), "{}", what);
            assert_envelope(what, &body, result)?;
        }
    }

    #[test]
    fn any_continuation_token_is_refused_in_the_envelope_or_round_trips(
        raw in prop::collection::vec(any::<u8>(), 0..128),
        epoch in any::<u64>(),
        after in any::<u64>(),
        batch in any::<String>(),
    ) {
        assert_envelope("continuation token", &raw, continuation_token(&raw))?;
        prop_assert!(continuation_token_round_trips(epoch, after, &batch));
    }
}
