//! The Redis brain of the operator, pure: parsing what Redis says, slot arithmetic, and the
//! planners that decide the next Redis commands for replication sets, sentinels and clusters.
//!
//! Nothing here talks to Redis or to Kubernetes; the reconcile pipeline observes, calls these
//! planners, and executes what they return.

pub mod blocked;
pub mod cluster;
pub mod observation;
pub mod replication;
pub mod replies;
pub mod sentinel;
pub mod slots;
