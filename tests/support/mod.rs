//! Helpers shared by the integration tests that run real components.

pub mod real_redis;
