//! partner-center-emulator: a local, high-fidelity emulator of the Microsoft Partner Center
//! device-deployment REST API (Windows Autopilot device batches).
//!
//! # Layout
//!
//! - [`config`]: flags and `PCE_*` environment variables.
//! - [`clock`]: the emulator clock, the only reader of real time.
//! - [`domain`]: identifiers, device rules, upload decisions, the job state machine (plain Rust).
//! - [`store`]: the in-memory state behind one lock; the only code that touches the maps;
//!   [`store::document`] is the seed and state document and its one loader.
//! - `app`: [`AppState`], the state every request shares, and its construction.
//! - `json` (JSON paths and type names), `fault_rules` (fault rules as JSON, for
//!   `POST /_emulator/faults` and `--faults`): crate-private helpers.
//! - [`http`]: routes, middleware and the server loop; wire ⇄ domain translation only.
//! - [`identity`]: the mock Entra ID (directory, signing key, tokens), free of HTTP.
//! - [`startup`]: state at start-up (clock, restore, seed, faults); [`persist`]: `--state-file`.
//! - [`telemetry`]: logging set-up.
//! - [`tls`]: the local CA and server certificate of the HTTPS listener (`--tls-bind`).
//! - [`healthcheck`]: the `healthcheck` subcommand.
//!
//! `ARCHITECTURE.md` at the repository root says where each rule lives and how a request flows.
//!
//! Embedders and tests run the same stack as the binary:
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use partner_center_emulator::{AppState, Clock, Config, serve};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let state = AppState::new(Config::for_tests(), Clock::system());
//! serve(listener, state, std::future::pending()).await
//! # }
//! ```

pub(crate) mod app;
pub mod clock;
pub mod config;
pub mod domain;
pub(crate) mod fault_rules;
pub mod healthcheck;
pub mod http;
pub mod identity;
pub(crate) mod json;
pub mod persist;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;

pub use app::AppState;
pub use clock::Clock;
pub use config::Config;
pub use http::{serve, serve_tls};

/// Entry points into the request decoders for `fuzz/`; compiled only with `--cfg fuzzing`
/// (which `cargo fuzz` sets), never into a release build. Not a stable API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::http::fuzzing::*;
}
