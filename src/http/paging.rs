//! `MS-ContinuationToken`: an opaque token naming the customer, the batch, the state generation
//! and the last device of the previous page.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use xxhash_rust::xxh3::xxh3_64;

use super::error::ApiError;
use crate::domain::Error;
use crate::domain::ids::{BatchKey, CustomerId};
use crate::store::Cursor;

fn batch_tag(batch: &str) -> u64 {
    let BatchKey(key) = BatchKey::of(batch);
    xxh3_64(key.as_bytes())
}

pub fn encode(customer: CustomerId, batch: &str, cursor: Cursor) -> String {
    let raw = format!(
        "{:x}.{customer}.{:x}.{}",
        cursor.epoch,
        batch_tag(batch),
        cursor.after
    );
    URL_SAFE_NO_PAD.encode(raw)
}

/// The cursor in `token`, if it is one of ours for this customer and batch.
pub fn decode(token: &str, customer: CustomerId, batch: &str) -> Option<Cursor> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split('.');
    let epoch = u64::from_str_radix(parts.next()?, 16).ok()?;
    let token_customer = CustomerId::parse(parts.next()?)?;
    let tag = u64::from_str_radix(parts.next()?, 16).ok()?;
    let after = parts.next()?.parse().ok()?;
    let ours = parts.next().is_none() && token_customer == customer && tag == batch_tag(batch);
    ours.then_some(Cursor { epoch, after })
}

/// The cursor named by a raw `MS-ContinuationToken` header value: `None` for no header or a blank
/// one (the first page), a 400 for a token that is not one of ours for this customer and batch.
pub fn cursor_from_header(
    raw: Option<&[u8]>,
    customer: CustomerId,
    batch: &str,
) -> Result<Option<Cursor>, ApiError> {
    let token = raw
        .map(|v| String::from_utf8_lossy(v).trim().to_owned())
        .filter(|t| !t.is_empty());
    match token {
        None => Ok(None),
        Some(t) => decode(&t, customer, batch)
            .map(Some)
            .ok_or_else(|| Error::StaleContinuationToken.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_only_for_its_customer_and_batch() {
        let c = CustomerId::parse("c7f3c849-129f-4b85-a96d-4f8e88b315a3").unwrap();
        let other = CustomerId::parse("47021739-3426-40bf-9601-61b4b6d7c793").unwrap();
        let cursor = Cursor {
            epoch: 0xdead_beef,
            after: 99,
        };
        let token = encode(c, "Batch A", cursor);
        assert_eq!(decode(&token, c, "batch a"), Some(cursor));
        assert_eq!(decode(&token, c, "Batch B"), None);
        assert_eq!(decode(&token, other, "Batch A"), None);
        assert_eq!(decode("garbage!", c, "Batch A"), None);
        assert_eq!(decode("", c, "Batch A"), None);
    }
}
