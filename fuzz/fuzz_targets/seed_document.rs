//! Seed documents (`POST /_emulator/seed`, `--seed FILE`): any bytes are applied or rejected with
//! a 4xx envelope naming the offending entry, never a panic.
//!
//! Placeholder until the seed decoder exists: add a `fuzzing::seed_document(&[u8]) ->
//! Result<(), ApiError>` wrapper that parses and validates a seed document the way the handler
//! does (without applying it), uncomment the `[[bin]]` entry in ../Cargo.toml, and uncomment below.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|_body: &[u8]| {
    // partner_center_emulator::fuzzing::check(partner_center_emulator::fuzzing::seed_document(_body));
});
