//! The `MS-*` headers on every answer: `MS-RequestId` and `MS-CorrelationId` echoed (or minted),
//! a fresh `MS-CV`, and `MS-ServerId`. hyper adds `Date`.

use std::cell::RefCell;

use crate::domain::ids::random_guid;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;
use bytes::BytesMut;

pub const MS_REQUEST_ID: HeaderName = HeaderName::from_static("ms-requestid");
pub const MS_CORRELATION_ID: HeaderName = HeaderName::from_static("ms-correlationid");
pub const MS_CV: HeaderName = HeaderName::from_static("ms-cv");
pub const MS_SERVER_ID: HeaderName = HeaderName::from_static("ms-serverid");
pub const MS_CONTINUATION_TOKEN: HeaderName = HeaderName::from_static("ms-continuationtoken");

// EMULATOR: the real service names the front-end machine that answered; one emulator is one machine.
const SERVER_ID: &str = "030020525";

/// The ids of the request being served, for its answer and its log line.
#[derive(Debug, Clone)]
pub struct RequestIds {
    pub request_id: HeaderValue,
    pub correlation_id: HeaderValue,
}

thread_local! {
    /// Where minted header values live: each is a slice of a shared block, so minting one costs
    /// no allocation (one per block of [`ARENA_BLOCK`] bytes, ~300 requests' ids).
    static ARENA: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

const ARENA_BLOCK: usize = 16 * 1024;

/// A header value of these visible ASCII bytes, carved from the thread's arena.
fn minted(text: &[u8], fallback: &'static str) -> HeaderValue {
    let bytes = ARENA.with(|arena| {
        let mut arena = arena.borrow_mut();
        if arena.capacity() - arena.len() < text.len() {
            *arena = BytesMut::with_capacity(ARENA_BLOCK);
        }
        arena.extend_from_slice(text);
        arena.split().freeze()
    });
    HeaderValue::from_maybe_shared(bytes).unwrap_or_else(|_| HeaderValue::from_static(fallback))
}

fn guid() -> HeaderValue {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    random_guid().hyphenated().encode_lower(&mut text);
    minted(&text, "00000000-0000-0000-0000-000000000000")
}

/// A correlation vector as the service writes it: 16 base64 characters and `.0`.
fn correlation_vector() -> HeaderValue {
    let mut random = [0u8; 12];
    fastrand::fill(&mut random);
    let mut text = *b"AAAAAAAAAAAAAAAA.0";
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(random, &mut text[..16]);
    minted(&text, "AAAAAAAAAAAAAAAA.0")
}

/// The client's value when it sent a non-blank one of visible ASCII, else a new GUID. Raw
/// non-ASCII bytes are not echoed: HTTP gives them no meaning, and clients reject or mangle
/// them in an answer.
fn echo_or_mint(headers: &HeaderMap, name: &HeaderName) -> HeaderValue {
    headers
        .get(name)
        .filter(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
        .filter(|v| {
            v.as_bytes()
                .iter()
                .all(|b| (0x20..0x7f).contains(b) || *b == b'\t')
        })
        .cloned()
        .unwrap_or_else(guid)
}

impl RequestIds {
    /// The request's ids: the client's when it sent non-blank ones, else new GUIDs.
    pub fn of(headers: &HeaderMap) -> Self {
        Self {
            request_id: echo_or_mint(headers, &MS_REQUEST_ID),
            correlation_id: echo_or_mint(headers, &MS_CORRELATION_ID),
        }
    }

    /// Sets the `MS-*` headers every answer carries.
    pub fn stamp(&self, headers: &mut HeaderMap) {
        headers.reserve(4);
        headers.insert(MS_REQUEST_ID, self.request_id.clone());
        headers.insert(MS_CORRELATION_ID, self.correlation_id.clone());
        headers.insert(MS_CV, correlation_vector());
        headers.insert(MS_SERVER_ID, HeaderValue::from_static(SERVER_ID));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_vectors_have_the_documented_shape() {
        let cv = correlation_vector();
        let cv = cv.to_str().unwrap();
        assert_eq!(cv.len(), 18);
        assert!(cv.ends_with(".0"));
        assert!(
            cv[..16]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        );
    }

    #[test]
    fn minted_ids_are_distinct_guids_across_arena_blocks() {
        let ids: Vec<HeaderValue> = (0..2 * ARENA_BLOCK / 36 + 10).map(|_| guid()).collect();
        let distinct: std::collections::HashSet<&[u8]> = ids.iter().map(|v| v.as_bytes()).collect();
        assert_eq!(distinct.len(), ids.len());
        for id in &ids {
            let text = id.to_str().unwrap();
            assert_eq!(
                uuid::Uuid::parse_str(text).unwrap().get_version_num(),
                4,
                "{text}"
            );
            assert_eq!(text, text.to_lowercase());
        }
    }
}
