//! The oracles: the properties a run must keep, one family per file —
//! - `safety`: after every reconcile round (no destructive command on a node holding keys, no
//!   empty master over data, no bare delete of a ready pod, no eviction beyond a budget, no
//!   rejected write retried unchanged, no scale-in of a pod still holding data, no pod template
//!   change without a change of its owner CR);
//! - `serving`: after every round while no fault is on (every shard keeps a ready master);
//! - `converged`: once the CRs converged (master Service and status name the real master, slots
//!   owned once and balanced, replicas in place, sentinels agree, budgets as configured);
//! - `destructive_commands`: no command wipes data Redis holds (used by `safety` and by the
//!   transition fuzzer before each command);
//! - `disruption_budgets`: evictions and deletions within a budget (used by `safety` and by the
//!   transition fuzzer);
//! - `invalid_spec`: while a CR's spec is invalid, its reconciles write only its status and
//!   Events;
//! - `liveness`: once the last fault healed, every CR is Ready within the bound of its kind, or
//!   says what a person must do;
//! - `lost_writes`: acknowledged writes readable once converged;
//! - `node_drains`: a drain finishes once the CRs converged;
//! - `truthful_status`: after each reconcile, a CR left Ready=True is ready in fact; every round,
//!   a `-master` Service selects two pods for at most two rounds in a row;
//! - `expectations`: what a scenario's `expect` step states.
//!
//! Oracles only read the world; they never change it.

pub mod converged;
pub mod destructive_commands;
pub mod disruption_budgets;
pub mod expectations;
pub mod invalid_spec;
pub mod liveness;
pub mod lost_writes;
pub mod node_drains;
pub mod safety;
pub mod serving;
pub mod truthful_status;

use redis_operator::ports::kube::ObjectRef;

use crate::engine::world::World;
use crate::fakes::redis::{Server, ServerKind};

/// One oracle that did not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The oracle's name.
    pub oracle: &'static str,
    /// What was seen.
    pub message: String,
}

impl Violation {
    pub(crate) fn new(oracle: &'static str, message: String) -> Violation {
        Violation { oracle, message }
    }
}

/// The servers of a CR's pods (`<name>-...`), alive or not.
pub fn servers_of<'a>(
    servers: impl IntoIterator<Item = &'a Server>,
    target: &ObjectRef,
) -> Vec<&'a Server> {
    servers
        .into_iter()
        .filter(|server| {
            server
                .pod
                .strip_prefix(target.name.as_str())
                .is_some_and(|rest| rest.starts_with('-'))
        })
        .collect()
}

pub(crate) fn is_master(server: &Server) -> bool {
    server.alive
        && server.master.is_none()
        && server.cluster_master_id().is_none()
        && server.kind != ServerKind::Sentinel
}

/// The pods of a CR whose servers are masters now.
pub fn masters_of(world: &World, target: &ObjectRef) -> Vec<String> {
    let servers = world.redis.servers();
    let mut masters: Vec<String> = servers_of(&servers, target)
        .into_iter()
        .filter(|server| is_master(server))
        .filter(|server| server.kind == ServerKind::Plain || !server.slots.is_empty())
        .map(|server| server.pod.to_string())
        .collect();
    masters.sort();
    masters
}
