//! The seams between the reconcile logic and the world: the Kubernetes API, Redis, and the clock.
//!
//! Production implements them over kube and redis-rs (`adapters`); the simulator implements them
//! over its fake cluster. Nothing here performs I/O itself.

pub mod clock;
pub mod kube;
pub mod redis;

pub use self::clock::Clock;
pub use self::kube::{
    ApiError, EventRecord, EventType, KubeApi, ObjectRef, Propagation, ResourceType,
};
pub use self::redis::{RedisAdmin, RedisCommand, RedisEndpoint, RedisError, RedisReply};
