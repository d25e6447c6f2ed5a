//! Helpers shared by the integration tests that run real components.

pub mod fleet;
pub mod real_redis;
pub mod rebalance;
