//! Seed documents (`POST /_emulator/seed`, `--seed FILE`): any bytes are imported into a fresh
//! store or rejected with a 4xx envelope naming the offending entry, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    partner_center_emulator::fuzzing::check(partner_center_emulator::fuzzing::seed_document(body));
});
