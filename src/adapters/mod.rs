//! Production implementations of the ports: the only code that talks to the Kubernetes API server
//! and to Redis servers over the network.
//!
//! Adapters are thin: they translate the port's data to the wire and back, and classify errors.
//! They decide nothing about topology and never retry on their own; the reconcile does.

pub mod kube;
pub mod redis;

pub use self::redis::RedisAdapter;
