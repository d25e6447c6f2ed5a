//! Liveness: once the last fault has healed, every CR is Ready within a bound stated per kind
//! ([`ready_bound`]), or by then its status says what a person must do — a `Degraded`
//! condition that is True with a message (the operator sets it only for problems that need a
//! person: a spec or update the API server refuses, a planner's refusal, a budget that allows no
//! eviction, a pod that cannot be scheduled, pulled, created or kept running). A CR that is Ready
//! once within its bound has met it; whatever happens later is another oracle's business.
//!
//! Used by the scenarios' `converge` steps (and so by the property suites) and by the transition
//! fuzzer once its faults stop. It reads the world only.

use std::collections::BTreeMap;

use redis_operator::api::Kind;
use redis_operator::json_pointer::JsonPointer;
use redis_operator::ports::clock::{Clock, Milliseconds};
use redis_operator::ports::kube::ObjectRef;
use serde_json::Value;

use super::Violation;
use crate::engine::world::World;

/// The oracle's name in reports.
pub const ORACLE: &str = "ready within the bound of its kind";

/// What any CR may take, whatever its size: pods to be scheduled and started (the fakes' start
/// latency), Redis to answer, a failover by Redis itself (a node timeout or a sentinel's
/// down-after period), the grace period the operator gives a recorded master that is away, and a
/// few retries after transient failures.
const BASE_MILLISECONDS: Milliseconds = 60_000;

/// What a Redis Cluster takes on top of that: a failover by the cluster's own vote, and the
/// slot moves of a scale-out or scale-in.
const CLUSTER_EXTRA_MILLISECONDS: Milliseconds = 60_000;

/// What each pod adds: a rolling restart replaces pods one at a time, each started and caught up
/// before the next (and, in a cluster, a master without replicas drains its slots first).
const PER_POD_MILLISECONDS: Milliseconds = 20_000;

/// How long after the last fault heals a CR of `kind` with `pods` pods may take to be Ready.
pub fn ready_bound(kind: Kind, pods: usize) -> Milliseconds {
    let extra = match kind {
        Kind::RedisCluster => CLUSTER_EXTRA_MILLISECONDS,
        Kind::Redis | Kind::RedisReplication | Kind::RedisSentinel => 0,
    };
    let pods = Milliseconds::try_from(pods).unwrap_or(Milliseconds::MAX);
    BASE_MILLISECONDS
        .saturating_add(extra)
        .saturating_add(PER_POD_MILLISECONDS.saturating_mul(pods))
}

/// The pods a CR's spec asks for: one for a standalone Redis, `clusterSize` for a replication
/// set or sentinels, leaders and followers for a cluster (followers default to one per leader).
pub fn pods_asked(kind: Kind, object: &Value) -> usize {
    let number = |pointer: &str| {
        object
            .at(pointer)
            .and_then(Value::as_u64)
            .and_then(|value| usize::try_from(value).ok())
    };
    let size = number("/spec/clusterSize").unwrap_or(1);
    match kind {
        Kind::Redis => 1,
        Kind::RedisReplication | Kind::RedisSentinel => size,
        Kind::RedisCluster => {
            let leaders = number("/spec/redisLeader/replicas").unwrap_or(size);
            let followers = number("/spec/redisFollower/replicas").unwrap_or(size);
            leaders.saturating_add(followers)
        }
    }
}

/// Whether a CR's status says what a person must do: `Degraded` True with a message.
pub fn states_what_a_person_must_do(object: &Value) -> bool {
    object
        .at("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions.iter().any(|condition| {
                condition["type"] == "Degraded"
                    && condition["status"] == "True"
                    && condition["message"]
                        .as_str()
                        .is_some_and(|message| !message.trim().is_empty())
            })
        })
}

/// The CRs not yet Ready since the last fault healed, each with its deadline.
#[derive(Clone, Debug, Default)]
pub struct LivenessWatch {
    deadlines: BTreeMap<ObjectRef, (Kind, Milliseconds)>,
}

impl LivenessWatch {
    /// Starts watching `targets` from `healed` (the moment the last fault healed), each with the
    /// bound of its kind and the pods its spec asks for now.
    pub fn start(world: &World, targets: &[(Kind, ObjectRef)], healed: Milliseconds) -> Self {
        let deadlines = targets
            .iter()
            .filter_map(|(kind, target)| {
                let object = world.api.object(target)?;
                let bound = ready_bound(*kind, pods_asked(*kind, &object));
                Some((target.clone(), (*kind, healed.saturating_add(bound))))
            })
            .collect();
        LivenessWatch { deadlines }
    }

    /// Checks every CR still watched: a Ready one, or a deleted one, is done; one past its
    /// deadline is done too, with a violation unless its status says what a person must do.
    pub fn check(&mut self, world: &World) -> Vec<Violation> {
        let now = world.clock.now();
        let mut violations = Vec::new();
        self.deadlines.retain(|target, (kind, deadline)| {
            let Some(object) = world.api.object(target) else {
                return false;
            };
            if world.is_ready(target) {
                return false;
            }
            if now < *deadline {
                return true;
            }
            if !states_what_a_person_must_do(&object) {
                let pods = pods_asked(*kind, &object);
                violations.push(Violation::new(
                    ORACLE,
                    format!(
                        "{target} is not Ready {} s after the last fault healed (the bound of a {} of {pods} pods) and its status names nothing a person must do: {}",
                        ready_bound(*kind, pods) / 1000,
                        kind.name(),
                        object.get("status").cloned().unwrap_or(Value::Null)
                    ),
                ));
            }
            false
        });
        violations
    }

    /// Whether every CR watched is done.
    pub fn is_done(&self) -> bool {
        self.deadlines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_bound_grows_with_the_pods_and_a_cluster_has_more_to_do() {
        assert_eq!(ready_bound(Kind::Redis, 1), 80_000);
        assert_eq!(ready_bound(Kind::RedisReplication, 3), 120_000);
        assert_eq!(ready_bound(Kind::RedisCluster, 6), 240_000);
        assert_eq!(
            ready_bound(Kind::RedisCluster, usize::MAX),
            Milliseconds::MAX
        );
    }

    #[test]
    fn a_cluster_asks_for_its_leaders_and_followers() {
        let cluster = json!({"spec": {"clusterSize": 3, "redisFollower": {"replicas": 0}}});
        assert_eq!(pods_asked(Kind::RedisCluster, &cluster), 3);
        let defaults = json!({"spec": {"clusterSize": 4}});
        assert_eq!(pods_asked(Kind::RedisCluster, &defaults), 8);
        assert_eq!(pods_asked(Kind::Redis, &defaults), 1);
        assert_eq!(pods_asked(Kind::RedisReplication, &json!({"spec": {}})), 1);
    }

    #[test]
    fn only_a_degraded_condition_with_a_message_names_what_a_person_must_do() {
        let with = |status: &str, message: &str| {
            json!({"status": {"conditions": [
                {"type": "Ready", "status": "False", "message": "waiting"},
                {"type": "Degraded", "status": status, "message": message},
            ]}})
        };
        assert!(states_what_a_person_must_do(&with(
            "True",
            "pod cache-0 cannot be scheduled"
        )));
        assert!(!states_what_a_person_must_do(&with("True", " ")));
        assert!(!states_what_a_person_must_do(&with(
            "False",
            "nothing needs attention"
        )));
        assert!(!states_what_a_person_must_do(&json!({"status": {}})));
    }
}
