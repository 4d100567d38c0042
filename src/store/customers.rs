//! Which customers exist for `--customers seeded`, and whether the partner may act for them.

use super::Store;
use crate::domain::ids::CustomerId;

/// What the partner's registry knows of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerAccess {
    /// In the seed or the state, with a reseller relationship.
    Known,
    /// In the seed, marked `"relationship": false`.
    NoRelationship,
    /// Neither seeded nor in the state.
    Unknown,
}

impl Store {
    pub fn customer_access(&self, customer: CustomerId) -> CustomerAccess {
        let world = self.world();
        match world.customer(customer) {
            None => CustomerAccess::Unknown,
            Some(c) if self.read(&c).no_relationship => CustomerAccess::NoRelationship,
            Some(_) => CustomerAccess::Known,
        }
    }
}
