//! `POST …/policies` and `PUT …/policies/{id}` bodies (`ConfigurationPolicy`), both decoders on
//! every input: accepted or rejected with a 4xx envelope, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use partner_center_emulator::fuzzing::{
    check, configuration_policy_create, configuration_policy_update,
};

fuzz_target!(|body: &[u8]| {
    check(configuration_policy_create(body));
    check(configuration_policy_update(body));
});
