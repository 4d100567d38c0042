//! The emulated domain as plain Rust: identifiers, device identifier rules, the registry's upload
//! decisions and the job state machine. Nothing here knows about HTTP, tokio or locks.

pub mod device;
pub mod error;
pub mod fault;
pub mod ids;
pub mod job;
pub mod policy;
pub mod rate_limit;
pub mod registry;
pub mod timestamp;
pub mod upload;

pub use error::Error;
