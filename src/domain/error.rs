//! Domain failures, named for what went wrong; the HTTP layer alone maps them to status codes.

/// Something the registry refused. Input-shape problems are caught before the domain is reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("device batch `{0}` already exists for this customer")]
    BatchAlreadyExists(String),
    #[error("device batch `{0}` was not found for this customer")]
    BatchNotFound(String),
    #[error("batch tracking id `{0}` was not found for this customer")]
    JobNotFound(String),
    #[error("device `{0}` was not found in this batch")]
    DeviceNotFound(String),
    #[error("policy `{0}` was not found for this customer")]
    PolicyNotFound(String),
    #[error("the continuation token is not valid for this batch")]
    StaleContinuationToken,
}
