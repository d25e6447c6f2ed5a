//! What one plan reads: the CR, what observation found, the clock, and what went wrong earlier in
//! the same reconcile. Shared by the plan and the topology requests it asks for.
//!
//! Data only: nothing here plans, observes or writes.

use super::design::Design;
use super::observe::Observed;
use crate::api::Kind;
use crate::api::common::RejectedUpdate;
use crate::ports::clock::Milliseconds;
use crate::ports::kube::ObjectRef;
use crate::topology::observation::RedisObservation;

/// An eviction the API server refused with 429: the pod and the API server's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedEviction {
    /// The pod's name.
    pub pod: String,
    /// Why the API server refused it.
    pub message: String,
}

/// Everything the plan reads.
#[derive(Clone, Copy, Debug)]
pub struct PlanInput<'a> {
    /// The CR's kind.
    pub kind: Kind,
    /// The CR.
    pub target: &'a ObjectRef,
    /// What observation found.
    pub observed: &'a Observed,
    /// Now.
    pub now: Milliseconds,
    /// Updates rejected as invalid during this reconcile, not yet in the status.
    pub new_rejections: &'a [RejectedUpdate],
    /// Evictions the API server refused during this reconcile (a PodDisruptionBudget allows no
    /// disruption now): not asked again in this reconcile, and reported in the status.
    pub refused_evictions: &'a [RefusedEviction],
    /// What the CR's manifest makes of it (when the CR exists): its validated spec and the
    /// objects it should own.
    pub design: Option<&'a Design>,
    /// What the Redis servers and sentinels said.
    pub redis: &'a RedisObservation,
}
