//! Status: conditions, counts and kind-specific fields computed from what was observed and
//! planned, built from each kind's API status type. Pure: it never writes; the plan writes the
//! result only when it differs from the live status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::api::common::{CommonStatus, RejectedUpdate};
use crate::api::{
    Kind, RedisClusterReason, RedisClusterStatus, RedisReplicationStatus, RedisSentinelStatus,
    RedisStatus,
};
use crate::ports::clock::Milliseconds;
use crate::resources::group::PodGroup;
use crate::topology::blocked::Blocked;
use crate::topology::observation::PodInfo;

use super::plan_input::{PlanInput, RefusedEviction};
use super::pod_problems::{PodsObserved, condition_reason, problem_sentence};
use super::topology_requests::TopologyOutcome;

/// The three standard conditions every kind carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionType {
    /// The CR serves as specified.
    Ready,
    /// The operator is changing something.
    Progressing,
    /// Something needs a person (invalid spec, rejected update, lost quorum).
    Degraded,
}

impl ConditionType {
    /// The condition's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::Progressing => "Progressing",
            ConditionType::Degraded => "Degraded",
        }
    }
}

/// Why a condition has its status: the CamelCase word of the condition's `reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionReason {
    /// Every pod is ready and Redis is in shape.
    Ready,
    /// Nothing to change.
    Converged,
    /// Pods are starting or Redis is being put in shape.
    NotReady,
    /// The spec does not validate.
    InvalidSpec,
    /// A topology planner refuses to progress, or the cluster failed.
    TopologyFailed,
    /// The API server rejected an update as invalid.
    UpdateRejected,
    /// The API server refused an eviction (a PodDisruptionBudget allows no disruption now).
    DisruptionBlocked,
    /// Nothing needs attention.
    Healthy,
    /// A pod cannot be scheduled on any node.
    PodUnschedulable,
    /// A pod's image cannot be pulled.
    ImagePullFailed,
    /// A pod's container keeps crashing.
    CrashLooping,
    /// A pod's container cannot be created.
    ContainerNotCreated,
}

impl ConditionReason {
    /// The condition's `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionReason::Ready => "Ready",
            ConditionReason::Converged => "Converged",
            ConditionReason::NotReady => "NotReady",
            ConditionReason::InvalidSpec => "InvalidSpec",
            ConditionReason::TopologyFailed => "TopologyFailed",
            ConditionReason::UpdateRejected => "UpdateRejected",
            ConditionReason::DisruptionBlocked => "DisruptionBlocked",
            ConditionReason::Healthy => "Healthy",
            ConditionReason::PodUnschedulable => "PodUnschedulable",
            ConditionReason::ImagePullFailed => "ImagePullFailed",
            ConditionReason::CrashLooping => "CrashLooping",
            ConditionReason::ContainerNotCreated => "ContainerNotCreated",
        }
    }
}

/// One condition as the plan wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionUpdate {
    /// Ready, Progressing or Degraded.
    pub condition_type: ConditionType,
    /// True or False.
    pub status: bool,
    /// Why.
    pub reason: ConditionReason,
    /// Human-readable message.
    pub message: String,
}

impl ConditionUpdate {
    /// A condition of `condition_type`.
    pub fn new(
        condition_type: ConditionType,
        status: bool,
        reason: ConditionReason,
        message: impl Into<String>,
    ) -> ConditionUpdate {
        ConditionUpdate {
            condition_type,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// What the status says, before it is shaped per kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusFacts {
    /// Ready pods per StatefulSet name.
    pub ready_pods: Vec<(String, i32)>,
    /// Conditions.
    pub conditions: Vec<ConditionUpdate>,
    /// Updates rejected as invalid and not to be retried.
    pub rejected_updates: Vec<RejectedUpdate>,
    /// The replication master pod, when known.
    pub master_node: Option<String>,
    /// The master address the sentinels agree on, when known.
    pub master_address: Option<String>,
    /// RedisCluster state, through its reason.
    pub cluster_state: Option<RedisClusterReason>,
}

/// `now` as a condition's transition time, to the second.
fn time_of(now: Milliseconds) -> Time {
    let seconds = i64::try_from(now / 1000).unwrap_or(i64::MAX);
    Time(Timestamp::from_second(seconds).unwrap_or(Timestamp::MAX))
}

/// Conditions with transition times kept from `previous` where the status did not change.
pub fn merge_conditions(
    previous: Option<&Value>,
    updates: &[ConditionUpdate],
    generation: Option<i64>,
    now: Milliseconds,
) -> Vec<Condition> {
    updates
        .iter()
        .map(|update| {
            let status = if update.status { "True" } else { "False" };
            let condition_type = update.condition_type.as_str();
            let earlier = previous
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|condition| condition["type"] == condition_type);
            let last_transition_time = earlier
                .filter(|condition| condition["status"] == status)
                .and_then(|condition| condition.get("lastTransitionTime"))
                .and_then(|time| serde_json::from_value(time.clone()).ok())
                .unwrap_or_else(|| time_of(now));
            Condition {
                type_: condition_type.to_owned(),
                status: status.to_owned(),
                reason: update.reason.as_str().to_owned(),
                message: update.message.clone(),
                last_transition_time,
                observed_generation: generation,
            }
        })
        .collect()
}

/// The whole status of a CR of `kind`.
pub fn build_status(
    kind: Kind,
    facts: &StatusFacts,
    previous: Option<&Value>,
    generation: Option<i64>,
    now: Milliseconds,
) -> Value {
    let ready = |index: usize| facts.ready_pods.get(index).map_or(0, |(_, count)| *count);
    let previous_conditions = previous.and_then(|status| status.get("conditions"));
    let common = CommonStatus {
        observed_generation: generation,
        conditions: Some(merge_conditions(
            previous_conditions,
            &facts.conditions,
            generation,
            now,
        )),
        rejected_updates: (!facts.rejected_updates.is_empty())
            .then(|| facts.rejected_updates.clone()),
    };
    match kind {
        Kind::Redis => to_json(&RedisStatus {
            ready_replicas: Some(ready(0)),
            common,
        }),
        // While no master answers, the status keeps naming the last one: the replication planner
        // waits for that pod to come back with its data before it chooses any other.
        Kind::RedisReplication => to_json(&RedisReplicationStatus {
            master_node: facts.master_node.clone().or_else(|| {
                previous
                    .and_then(|status| status.get("masterNode"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }),
            ready_replicas: Some(ready(0)),
            common,
        }),
        Kind::RedisSentinel => to_json(&RedisSentinelStatus {
            ready_replicas: Some(ready(0)),
            master_address: facts.master_address.clone(),
            common,
        }),
        Kind::RedisCluster => to_json(&RedisClusterStatus {
            state: facts.cluster_state.as_ref().map(RedisClusterReason::state),
            reason: facts
                .cluster_state
                .as_ref()
                .map(|reason| reason.message().to_owned()),
            ready_leader_replicas: ready(0),
            ready_follower_replicas: ready(1),
            common,
        }),
    }
}

/// A status as the JSON the API server stores.
fn to_json(status: &impl Serialize) -> Value {
    serde_json::to_value(status).unwrap_or(Value::Null)
}

/// Ready pods of the group whose `app` label is `app`.
fn ready_pods_of(pods: &[PodInfo], app: &str) -> i32 {
    let count = pods
        .iter()
        .filter(|pod| pod.group == app && pod.ready && !pod.terminating)
        .count();
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// The status of a CR whose spec does not validate: not ready, not progressing, degraded with
/// every field error in `message`.
pub fn invalid_spec_facts(kind: Kind, message: &str) -> StatusFacts {
    StatusFacts {
        // A cluster's state says the operator has stopped, and why, until the spec is fixed.
        cluster_state: (kind == Kind::RedisCluster)
            .then(|| RedisClusterReason::Failed(format!("the spec is invalid: {message}"))),
        conditions: vec![
            ConditionUpdate::new(
                ConditionType::Ready,
                false,
                ConditionReason::InvalidSpec,
                "the spec is invalid; see the Degraded condition",
            ),
            ConditionUpdate::new(
                ConditionType::Progressing,
                false,
                ConditionReason::InvalidSpec,
                "waiting for a valid spec",
            ),
            ConditionUpdate::new(
                ConditionType::Degraded,
                true,
                ConditionReason::InvalidSpec,
                message,
            ),
        ],
        ..StatusFacts::default()
    }
}

/// What the status of a valid CR says: pods ready per StatefulSet, the three conditions, the
/// rejected updates, and the kind's own fields.
pub fn status_facts(
    input: PlanInput<'_>,
    groups: &[PodGroup<'_>],
    pods: &PodsObserved<'_>,
    writes_pending: bool,
    rejections: &[RejectedUpdate],
    topology: &TopologyOutcome,
) -> StatusFacts {
    let troubled = pods.troubled;
    let ready_pods: Vec<(String, i32)> = groups
        .iter()
        .map(|group| {
            (
                group.statefulset_name.clone(),
                ready_pods_of(pods.all, &group.app),
            )
        })
        .collect();
    let pods_ready = |index: usize| {
        groups
            .get(index)
            .zip(ready_pods.get(index))
            .is_none_or(|(group, (_, ready))| *ready >= group.replicas)
    };
    let all_ready = (0..groups.len()).all(pods_ready);
    let needs_a_person = topology.needs_a_person();
    let ready = all_ready
        && !writes_pending
        && rejections.is_empty()
        && topology.ready
        && needs_a_person.is_none();
    let waiting: Vec<String> = groups
        .iter()
        .zip(&ready_pods)
        .filter(|(group, (_, ready))| *ready < group.replicas)
        .map(|(group, (name, ready))| format!("{name}: {ready} of {} pods ready", group.replicas))
        .collect();
    let (reason, message) = if ready {
        (
            ConditionReason::Ready,
            "every pod is ready and Redis is in shape".to_owned(),
        )
    } else if let Some(problem) = needs_a_person {
        (ConditionReason::TopologyFailed, problem.to_string())
    } else if !rejections.is_empty() {
        (
            ConditionReason::UpdateRejected,
            "an update was rejected; see the Degraded condition".to_owned(),
        )
    } else if !input.refused_evictions.is_empty() {
        (
            ConditionReason::DisruptionBlocked,
            "an eviction was refused; see the Degraded condition".to_owned(),
        )
    } else if let Some(first) = troubled.first().and_then(|pod| pod.problem.as_ref()) {
        (
            condition_reason(first.kind),
            format!(
                "{}; see the Degraded condition",
                if waiting.is_empty() {
                    "a pod cannot start or keep running".to_owned()
                } else {
                    waiting.join(", ")
                }
            ),
        )
    } else if !waiting.is_empty() {
        (ConditionReason::NotReady, waiting.join(", "))
    } else if !topology.ready {
        (ConditionReason::NotReady, topology.progress().to_owned())
    } else {
        (ConditionReason::NotReady, "applying changes".to_owned())
    };
    let degraded = degraded_condition(
        rejections,
        needs_a_person,
        input.refused_evictions,
        troubled,
    );
    let progressing = if ready {
        ConditionUpdate::new(
            ConditionType::Progressing,
            false,
            ConditionReason::Converged,
            "nothing to change",
        )
    } else {
        ConditionUpdate::new(
            ConditionType::Progressing,
            !degraded.status,
            reason,
            message.clone(),
        )
    };
    let cluster_state = (input.kind == Kind::RedisCluster).then(|| {
        if let Some(problem) = needs_a_person {
            RedisClusterReason::Failed(problem.to_string())
        } else if !pods_ready(0) {
            RedisClusterReason::InitializingLeaders
        } else if !all_ready {
            RedisClusterReason::InitializingFollowers
        } else if ready {
            RedisClusterReason::Ready
        } else {
            RedisClusterReason::Bootstrapping
        }
    });
    StatusFacts {
        ready_pods,
        conditions: vec![
            ConditionUpdate::new(ConditionType::Ready, ready, reason, message),
            progressing,
            degraded,
        ],
        rejected_updates: rejections.to_vec(),
        master_node: topology.master_node.clone(),
        master_address: topology.master_address.clone(),
        cluster_state,
    }
}

/// The Degraded condition: true with every problem that needs a person (rejected updates, a
/// planner's refusal or a failed cluster, refused evictions, pods that cannot start or keep
/// running), the first kind found as its reason.
fn degraded_condition(
    rejections: &[RejectedUpdate],
    needs_a_person: Option<&Blocked>,
    refused_evictions: &[RefusedEviction],
    troubled: &[&PodInfo],
) -> ConditionUpdate {
    let mut problems: Vec<String> = rejections
        .iter()
        .map(|rejection| format!("{}: {}", rejection.object, rejection.message))
        .collect();
    problems.extend(needs_a_person.map(ToString::to_string));
    problems.extend(refused_evictions.iter().map(|refused| {
        format!(
            "the API server refused to evict pod {} ({}); the operator waits until the PodDisruptionBudget allows it",
            refused.pod, refused.message
        )
    }));
    problems.extend(troubled.iter().filter_map(|pod| problem_sentence(pod)));
    let first_pod_problem = troubled
        .first()
        .and_then(|pod| pod.problem.as_ref())
        .map(|problem| condition_reason(problem.kind));
    let reason = if !rejections.is_empty() {
        ConditionReason::UpdateRejected
    } else if needs_a_person.is_some() {
        ConditionReason::TopologyFailed
    } else if !refused_evictions.is_empty() {
        ConditionReason::DisruptionBlocked
    } else if let Some(reason) = first_pod_problem {
        reason
    } else {
        ConditionReason::Healthy
    };
    if problems.is_empty() {
        ConditionUpdate::new(
            ConditionType::Degraded,
            false,
            reason,
            "nothing needs attention",
        )
    } else {
        ConditionUpdate::new(ConditionType::Degraded, true, reason, problems.join("; "))
    }
}

/// The message of a live status's `Degraded` condition when it is True, else the empty string:
/// what was already reported, so a problem is published as an Event once.
pub fn degraded_message(status: Option<&Value>) -> &str {
    status
        .and_then(|status| status.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|conditions| {
            conditions.iter().find(|condition| {
                condition["type"] == ConditionType::Degraded.as_str()
                    && condition["status"] == "True"
            })
        })
        .and_then(|condition| condition["message"].as_str())
        .unwrap_or("")
}

/// Rejected updates recorded in a live status.
pub fn recorded_rejections(status: Option<&Value>) -> Vec<RejectedUpdate> {
    status
        .and_then(|status| status.get("rejectedUpdates"))
        .and_then(|value| serde_json::from_value(value.clone()).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{
        ConditionReason, ConditionType, ConditionUpdate, StatusFacts, build_status,
        invalid_spec_facts, merge_conditions,
    };
    use crate::api::Kind;

    fn ready(status: bool) -> ConditionUpdate {
        ConditionUpdate::new(
            ConditionType::Ready,
            status,
            ConditionReason::NotReady,
            "message",
        )
    }

    #[test]
    fn transition_time_changes_only_when_the_status_does() {
        let first = merge_conditions(None, &[ready(false)], Some(1), 1_000);
        let previous = json!(first);
        let same = merge_conditions(Some(&previous), &[ready(false)], Some(1), 99_000);
        assert_eq!(same[0].last_transition_time, first[0].last_transition_time);
        let flipped = merge_conditions(Some(&previous), &[ready(true)], Some(1), 99_000);
        assert_eq!(
            json!(flipped[0])["lastTransitionTime"],
            "1970-01-01T00:01:39Z"
        );
    }

    #[test]
    fn an_invalid_cluster_spec_keeps_a_state_and_a_reason() {
        let status = build_status(
            Kind::RedisCluster,
            &invalid_spec_facts(
                Kind::RedisCluster,
                "spec.clusterSize: must be a whole number from 3 to 16384, got 20000",
            ),
            Some(&json!({"state": "Ready", "reason": "RedisCluster is ready"})),
            Some(3),
            5_000,
        );
        assert_eq!(status["state"], "Failed");
        assert_eq!(
            status["reason"],
            "the spec is invalid: spec.clusterSize: must be a whole number from 3 to 16384, got 20000"
        );
        let replication = build_status(
            Kind::RedisReplication,
            &invalid_spec_facts(Kind::RedisReplication, "x"),
            None,
            Some(1),
            0,
        );
        assert!(replication.get("state").is_none());
    }

    #[test]
    fn a_replication_status_keeps_its_master_while_none_answers() {
        let previous = json!({"masterNode": "sessions-0", "readyReplicas": 1});
        let unknown = build_status(
            Kind::RedisReplication,
            &StatusFacts::default(),
            Some(&previous),
            Some(2),
            5_000,
        );
        assert_eq!(unknown["masterNode"], "sessions-0");
        let moved = build_status(
            Kind::RedisReplication,
            &StatusFacts {
                master_node: Some("sessions-2".to_owned()),
                ..StatusFacts::default()
            },
            Some(&previous),
            Some(2),
            5_000,
        );
        assert_eq!(moved["masterNode"], "sessions-2");
    }
}
