//! One integration-test binary (see the style guide): every module talks HTTP to a real server.

mod auth_jwt;
mod batches;
mod concurrency;
mod contract;
mod control_clock;
mod control_faults;
mod control_state;
mod customers;
mod dashboard;
mod devices;
mod errors;
mod healthcheck;
mod helpers;
mod hostile;
mod idempotency;
mod identity;
mod jobs;
mod links;
mod partners;
mod paths;
mod policies;
mod schema;
mod seeds;
mod throttling;
mod tls;
mod wire_options;
