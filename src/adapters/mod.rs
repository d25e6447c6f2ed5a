//! Production implementations of the ports: the only code that talks to real Redis servers (and,
//! later, to the Kubernetes API through kube's client).
//!
//! Adapters are thin: they translate the port's data to the wire and back, and classify errors.
//! They decide nothing about topology and never retry on their own; the reconcile does.

pub mod redis;

pub use self::redis::RedisAdapter;
