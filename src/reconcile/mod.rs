//! The reconcile pipeline: observe → validate → build → plan → execute → status, one driver for
//! all four kinds.
//!
//! Only `observe` and `execute` perform I/O, through the ports; `plan` and `status` are pure
//! functions of what was observed. The reconcile is level-triggered: it never branches on why it
//! ran, a converged run issues no write, and a crash after any write converges on the next run.

pub mod design;
pub mod difference;
pub mod driver;
pub mod execute;
pub mod observe;
pub mod plan;
pub mod plan_input;
pub mod pod_problems;
pub mod status;
pub mod topology_requests;

use std::sync::Arc;

use serde_json::Value;

use crate::ports::redis::{RedisCommand, RedisEndpoint};
use crate::ports::{Clock, EventRecord, KubeApi, ObjectRef, Propagation, RedisAdmin};

/// The ports a reconcile runs against.
#[derive(Clone)]
pub struct Context {
    /// The Kubernetes API.
    pub kube: Arc<dyn KubeApi>,
    /// Redis servers and sentinels.
    pub redis: Arc<dyn RedisAdmin>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The last design of each CR, so that an unchanged manifest is not validated and built
    /// again on every reconcile.
    pub designs: Arc<design::DesignMemo>,
    /// The last CLUSTER NODES reply of each pod with its parse, so that an unchanged reply is
    /// not parsed again on every reconcile.
    pub cluster_tables: Arc<observe::ClusterTables>,
}

/// One write (or Redis command) the plan asks for, as data.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// Server-side apply of an object.
    Apply(Value),
    /// Server-side apply of a CR's status.
    ApplyStatus {
        /// The CR.
        object: ObjectRef,
        /// The whole status.
        status: Value,
        /// The CR's resourceVersion the status was computed from: the write is refused if the
        /// CR changed since (a lagging cache, or a write by someone else in between).
        resource_version: Option<String>,
    },
    /// Removes a finalizer from a CR.
    RemoveFinalizer {
        /// The CR.
        object: ObjectRef,
        /// The finalizer.
        finalizer: String,
    },
    /// Deletes an object.
    Delete {
        /// The object.
        object: ObjectRef,
        /// What happens to its dependents.
        propagation: Propagation,
    },
    /// Evicts a pod through the Eviction API.
    Evict(ObjectRef),
    /// Publishes an Event.
    Event(EventRecord),
    /// Sends a command to a Redis server or sentinel.
    Redis {
        /// The server (shared, as a migration batch sends many commands to one server).
        endpoint: Arc<RedisEndpoint>,
        /// The command.
        command: RedisCommand,
    },
    /// Moves every key of a slot from one cluster node to another (GETKEYSINSLOT and MIGRATE
    /// until the source has none left in that slot).
    MoveSlotKeys {
        /// The node the slot migrates from.
        source: Arc<RedisEndpoint>,
        /// The node it imports into.
        target: Arc<RedisEndpoint>,
        /// The slot.
        slot: u16,
    },
}

impl Request {
    /// True for requests that change any state.
    pub fn is_write(&self) -> bool {
        match self {
            Request::Redis { command, .. } => command.is_write(),
            _ => true,
        }
    }
}
