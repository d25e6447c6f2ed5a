//! Helpers shared by the integration tests that run real components.

pub mod control_plane;
pub mod end_to_end;
pub mod fleet;
pub mod kubelet;
pub mod real_redis;
pub mod rebalance;
