//! The `healthcheck` subcommand: asks a running emulator for `GET /_emulator/health`.

use std::process::ExitCode;

/// Exits 0 when the emulator at `url` answers 200 within 2 s, 1 otherwise.
pub async fn run(url: &str) -> ExitCode {
    eprintln!("healthcheck of {url}: not implemented yet");
    ExitCode::FAILURE
}
