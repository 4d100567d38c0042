//! `MS-ContinuationToken` header values. The input is tried as the header itself and, so that the
//! fuzzer reaches the token's inner fields, as the decoded text of a token (base64url-encoded
//! here); both must be accepted or rejected with a 4xx envelope. Inputs of 16 bytes or more also
//! mint a token (epoch, position, batch name) that must read back for its batch and no other.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use partner_center_emulator::fuzzing::{
    check, continuation_token, continuation_token_round_trips,
};

fuzz_target!(|data: &[u8]| {
    check(continuation_token(data));
    check(continuation_token(URL_SAFE_NO_PAD.encode(data).as_bytes()));
    let after: Option<[u8; 8]> = data.get(8..16).and_then(|b| b.try_into().ok());
    if let (Some(epoch), Some(after)) = (data.first_chunk::<8>(), after) {
        let (epoch, after) = (u64::from_le_bytes(*epoch), u64::from_le_bytes(after));
        let batch = String::from_utf8_lossy(&data[16..]);
        assert!(
            continuation_token_round_trips(epoch, after, &batch),
            "token for ({epoch}, {after}, {batch:?}) does not round-trip"
        );
    }
});
