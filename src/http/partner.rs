//! The partner tenant a request acts for, and the registry that follows from it.
//!
//! Authentication names the partner by inserting [`Partner`] into the request's extensions
//! (the `--auth jwt` guard, from the verified token's `tid`). Handlers take [`Tenant`] instead of
//! `State<AppState>`: it carries the state and, for a partner, that partner's store (see
//! `crate::store` for why each partner has a whole store). A request without `Partner`, or with
//! `Partner(None)`, uses the default store exactly as before partitions existed.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::Extensions;
use axum::http::request::Parts;

use super::AppState;
use crate::domain::ids::TenantId;
use crate::store::Store;

/// The partner tenant of a request: `None` is the default, unpartitioned data (`--auth bearer`
/// and `off`). Also put on the response, so the journal can record it.
// EMULATOR: data is partitioned by the token's `tid` alone; Partner Center keys access by the
// partner's customer relationships, and a customer's devices are the customer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Partner(pub Option<TenantId>);

impl Partner {
    /// The partner named in these extensions, if any.
    pub fn of(extensions: &Extensions) -> Option<TenantId> {
        extensions.get::<Partner>().and_then(|p| p.0)
    }
}

/// The state, with the registry of the request's partner.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub state: AppState,
    partner: Option<Arc<Store>>,
}

impl Tenant {
    /// The state and registry for a partner (`None`: the default registry).
    pub fn of(state: &AppState, partner: Option<TenantId>) -> Self {
        Self {
            partner: partner.map(|t| state.store.partner(t)),
            state: state.clone(),
        }
    }

    /// The registry this request reads and writes.
    pub fn store(&self) -> &Store {
        self.partner.as_deref().unwrap_or(&self.state.store)
    }
}

impl FromRequestParts<AppState> for Tenant {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(Self::of(state, Partner::of(&parts.extensions)))
    }
}
