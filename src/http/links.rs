//! Path segments percent-encoded for the links the emulator writes (`devicesLink`, `links.next`),
//! so a client that follows a link reaches the batch it names whatever characters its id has.

use std::fmt::Write;

use crate::domain::ids::CustomerId;

/// `segment` with every byte outside RFC 3986's unreserved set (`A-Z a-z 0-9 - . _ ~`)
/// percent-encoded, UTF-8 first. `/ ? # %` would otherwise end or change the path, `+` reads as a
/// space to some servers, and spaces and non-ASCII letters are not valid in a URI at all.
pub fn segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `/customers/{customer}/deviceBatches/{batch}/devices`, relative and without `/v1` as Partner
/// Center writes its links, the batch id encoded. The router decodes it back on the way in.
pub fn batch_devices(customer: CustomerId, batch: &str) -> String {
    format!(
        "/customers/{customer}/deviceBatches/{}/devices",
        segment(batch)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_characters_stay_and_everything_else_is_encoded() {
        assert_eq!(segment("Batch-1.a_b~"), "Batch-1.a_b~");
        assert_eq!(segment("a/b?c#d%e+f g"), "a%2Fb%3Fc%23d%25e%2Bf%20g");
        assert_eq!(segment("Größe"), "Gr%C3%B6%C3%9Fe");
    }
}
