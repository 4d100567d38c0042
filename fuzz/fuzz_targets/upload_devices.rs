//! `POST /v1/customers/{id}/deviceBatches/{batch}/devices` bodies (a bare array of `Device`): any
//! bytes are accepted or rejected with a 4xx envelope, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use partner_center_emulator::fuzzing::{check, devices_to_add};

fuzz_target!(|body: &[u8]| check(devices_to_add(body)));
