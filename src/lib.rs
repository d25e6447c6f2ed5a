//! redis-operator: a Kubernetes operator for Redis in four shapes (standalone, replication,
//! sentinel and Redis Cluster), serving the v1beta2 API of group `redis.redis.opstreelabs.in`.
//!
//! The reconcile logic is written against ports (traits for the Kubernetes API and for Redis) so
//! that production and the deterministic simulator run the same code.

pub mod adapters;
pub mod api;
pub mod cli;
pub mod json_pointer;
pub mod operator;
pub mod ports;
pub mod reconcile;
pub mod resources;
pub mod topology;
