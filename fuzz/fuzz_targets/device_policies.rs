//! Profile assignment bodies, both decoders on every input: `PATCH …/DevicePolicyUpdates`
//! (`DevicePolicyUpdateRequest`) and `PUT …/deviceBatches/{batch}/devices/{id}` (a `Device` whose
//! `policies` is read). Accepted or rejected with a 4xx envelope, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use partner_center_emulator::fuzzing::{check, device_policy_update_request, device_update};

fuzz_target!(|body: &[u8]| {
    check(device_policy_update_request(body));
    check(device_update(body));
});
