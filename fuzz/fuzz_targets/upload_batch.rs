//! `POST /v1/customers/{id}/deviceBatches` bodies (`DeviceBatchCreationRequest`): any bytes are
//! accepted or rejected with a 4xx envelope, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use partner_center_emulator::fuzzing::{check, device_batch_creation_request};

fuzz_target!(|body: &[u8]| check(device_batch_creation_request(body)));
