//! The quick way to read a document's bytes: one pass that refuses what [`super::shape`] would
//! refuse, then serde straight into [`Document`], with no `serde_json::Value` tree between.
//!
//! It answers only when it succeeds; on any failure the caller reads the bytes the slow way,
//! whose messages name the entry. So it must never accept a document the slow way refuses:
//! the check below reads every value with `deserialize_any`, as parsing a `Value` does (same
//! grammar, same numbers, same nesting limit), and requires an object wherever `shape` does.
//! Serde straight into a struct and serde from a `Value` then agree on everything else; where
//! they differ (a duplicate key is an error here, the last one wins in a `Value`) this way
//! refuses and the slow way decides.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};

use super::Document;

/// Documents from this size on are checked and read on two threads at once.
const PARALLEL_FROM: usize = 4 << 20;

/// The document, or `None` where the slow way must decide (and name the problem).
pub(super) fn document(bytes: &[u8]) -> Option<Document> {
    let read = || serde_json::from_slice::<Document>(bytes).ok();
    if bytes.len() < PARALLEL_FROM {
        return if checked(bytes) { read() } else { None };
    }
    // A restore of a large state file is most of a start-up, and nothing else runs then: the
    // check and the read are independent passes over the same bytes, so they run side by side.
    // A read the check refuses is dropped unused.
    std::thread::scope(|scope| {
        let reader = std::thread::Builder::new()
            .name("state-read".into())
            .spawn_scoped(scope, read);
        let ok = checked(bytes);
        match reader {
            Ok(reader) => reader.join().ok().flatten().filter(|_| ok),
            // No thread to be had: one pass after the other.
            Err(_) => ok.then(read).flatten(),
        }
    })
}

/// Whether the bytes pass the check: a value the slow way reads, with objects where it wants them.
fn checked(bytes: &[u8]) -> bool {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    Node(Kind::Root).deserialize(&mut de).is_ok() && de.end().is_ok()
}

/// The objects `shape` looks into.
#[derive(Clone, Copy)]
enum Kind {
    Root,
    Partner,
    Customer,
    Batch,
    Device,
    Job,
    /// An entry that must be an object, whatever it holds.
    Other,
}

/// The keys `shape` looks at, read without allocating (a million devices have five each).
#[derive(Clone, Copy, PartialEq)]
enum Key {
    Customers,
    OemDevices,
    Partners,
    Policies,
    Batches,
    Devices,
    Jobs,
    Entries,
    Clock,
    ScheduledPolicy,
    Other,
}

impl Kind {
    /// The kind of the entries of the list under `key`, when `shape` requires them to be objects.
    fn list(self, key: Key) -> Option<Kind> {
        match (self, key) {
            (Kind::Root | Kind::Partner, Key::Customers) => Some(Kind::Customer),
            (Kind::Root | Kind::Partner, Key::OemDevices) => Some(Kind::Other),
            (Kind::Root, Key::Partners) => Some(Kind::Partner),
            (Kind::Customer, Key::Policies) => Some(Kind::Other),
            (Kind::Customer, Key::Batches) => Some(Kind::Batch),
            (Kind::Customer, Key::Jobs) => Some(Kind::Job),
            (Kind::Batch, Key::Devices) => Some(Kind::Device),
            (Kind::Job, Key::Entries) => Some(Kind::Other),
            _ => None,
        }
    }

    /// Whether the value under `key` must be an object or null (`objects_at` in `shape`).
    fn object_or_null(self, key: Key) -> bool {
        matches!(
            (self, key),
            (Kind::Root, Key::Clock) | (Kind::Device, Key::ScheduledPolicy)
        )
    }
}

/// An object of a kind: anything else is refused.
struct Node(Kind);

impl<'de> DeserializeSeed<'de> for Node {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if let Some(kind) = self.0.list(key) {
                map.next_value_seed(Any(Some(kind)))?;
            } else if self.0.object_or_null(key) {
                map.next_value_seed(ObjectOrNull)?;
            } else {
                map.next_value_seed(Any(None))?;
            }
        }
        Ok(())
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: Error>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "customers" => Key::Customers,
            "oemDevices" => Key::OemDevices,
            "partners" => Key::Partners,
            "policies" => Key::Policies,
            "batches" => Key::Batches,
            "devices" => Key::Devices,
            "jobs" => Key::Jobs,
            "entries" => Key::Entries,
            "clock" => Key::Clock,
            "scheduledPolicy" => Key::ScheduledPolicy,
            _ => Key::Other,
        })
    }
}

/// Any JSON value; with a kind, the entries of an array must be objects of that kind (`shape`
/// ignores a list key that holds something else: the types are checked later).
#[derive(Clone, Copy)]
struct Any(Option<Kind>);

impl<'de> DeserializeSeed<'de> for Any {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Any {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        match self.0 {
            Some(kind) => while seq.next_element_seed(Node(kind))?.is_some() {},
            None => while seq.next_element_seed(Any(None))?.is_some() {},
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        skip_entries(map)
    }
}

fn skip_entries<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_key_seed(Any(None))?.is_some() {
        map.next_value_seed(Any(None))?;
    }
    Ok(())
}

/// An object or null.
struct ObjectOrNull;

impl<'de> DeserializeSeed<'de> for ObjectOrNull {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectOrNull {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or null")
    }
    fn visit_unit<E: Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        skip_entries(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "c7f3c849-129f-4b85-a96d-4f8e88b315a3";

    fn slow(bytes: &[u8]) -> Result<Document, super::super::SeedError> {
        super::super::from_json(serde_json::from_slice(bytes).map_err(|e| {
            super::super::SeedError::at("", format!("the document is not JSON: {e}."))
        })?)
    }

    #[test]
    fn refuses_every_document_the_value_path_refuses() {
        let device = r#"{"productKey": "K"}"#;
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let refused = [
            "[]".to_owned(),
            "{} x".to_owned(),
            r#"{"customers": [[]]}"#.to_owned(),
            r#"{"oemDevices": [1]}"#.to_owned(),
            r#"{"partners": [[]]}"#.to_owned(),
            r#"{"partners": [{"customers": [["x"]]}]}"#.to_owned(),
            r#"{"partners": [{"oemDevices": ["x"]}]}"#.to_owned(),
            r#"{"clock": []}"#.to_owned(),
            format!(r#"{{"customers": [{{"id": "{C}", "policies": [[]]}}]}}"#),
            format!(
                r#"{{"customers": [{{"id": "{C}", "batches": [{{"id": "B", "devices": [{device}, [1]]}}]}}]}}"#
            ),
            format!(
                r#"{{"customers": [{{"id": "{C}", "batches": [{{"id": "B", "devices": [{{"productKey": "L", "scheduledPolicy": [1]}}]}}]}}]}}"#
            ),
            format!(r#"{{"customers": [{{"id": "{C}", "jobs": [{{"id": "j"}}, "x"]}}]}}"#),
            format!(
                r#"{{"customers": [{{"id": "{C}", "jobs": [{{"id": "k", "entries": [{{}}, 3]}}]}}]}}"#
            ),
            format!(r#"{{"customers": [{{"id": "{C}", "x": {deep}}}]}}"#),
            r#"{"customers": 1e400}"#.to_owned(),
        ];
        for doc in refused {
            assert!(slow(doc.as_bytes()).is_err(), "{doc}");
            assert!(document(doc.as_bytes()).is_none(), "{doc}");
            // Large enough to be checked and read on two threads.
            let large = padded(&doc);
            assert!(slow(large.as_bytes()).is_err(), "{doc}");
            assert!(document(large.as_bytes()).is_none(), "{doc}");
        }
    }

    /// The same document with whitespace after it up to the size read on two threads.
    fn padded(doc: &str) -> String {
        format!("{doc}{}", " ".repeat(PARALLEL_FROM))
    }

    #[test]
    fn reads_what_the_value_path_reads_and_leaves_duplicates_to_it() {
        let doc = format!(
            r#"{{"customers": [{{"id": "{C}", "batches": [{{"id": "B", "devices": [{{"productKey": "K", "scheduledPolicy": null}}]}}]}}]}}"#
        );
        assert_eq!(
            document(doc.as_bytes()),
            Some(slow(doc.as_bytes()).unwrap())
        );
        assert_eq!(
            document(padded(&doc).as_bytes()),
            Some(slow(doc.as_bytes()).unwrap())
        );
        let twice = format!(r#"{{"customers": [], "customers": [{{"id": "{C}"}}]}}"#);
        assert_eq!(document(twice.as_bytes()), None);
        assert_eq!(
            super::super::from_slice(twice.as_bytes()).unwrap(),
            slow(twice.as_bytes()).unwrap()
        );
    }
}
