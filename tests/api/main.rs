//! One integration-test binary (see the style guide): every module talks HTTP to a real server.

mod batches;
mod concurrency;
mod devices;
mod errors;
mod helpers;
mod hostile;
mod idempotency;
mod jobs;
mod paths;
mod policies;
mod seeds;
