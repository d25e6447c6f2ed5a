//! Status: conditions, counts and kind-specific fields computed from what was observed and
//! planned. Pure; the plan writes the result only when it differs from the live status.

use serde_json::{Map, Value, json};

use crate::api::Kind;
use crate::api::common::RejectedUpdate;
use crate::ports::clock::{Milliseconds, rfc3339};

/// Condition type: the CR serves as specified.
pub const READY_CONDITION: &str = "Ready";
/// Condition type: the operator is changing something.
pub const PROGRESSING_CONDITION: &str = "Progressing";
/// Condition type: something needs a person (invalid spec, rejected update, lost quorum).
pub const DEGRADED_CONDITION: &str = "Degraded";

/// The reference words for a RedisCluster's states and reasons.
pub mod cluster_words {
    /// State while pods start.
    pub const INITIALIZING: &str = "Initializing";
    /// State while the cluster forms.
    pub const BOOTSTRAP: &str = "Bootstrap";
    /// State once every slot is served and every node is in place.
    pub const READY: &str = "Ready";
    /// State when the cluster cannot progress without help.
    pub const FAILED: &str = "Failed";
    /// Reason while leader pods start.
    pub const INITIALIZING_LEADERS: &str = "RedisCluster is initializing leaders";
    /// Reason while follower pods start.
    pub const INITIALIZING_FOLLOWERS: &str = "RedisCluster is initializing followers";
    /// Reason while the cluster forms.
    pub const BOOTSTRAPPING: &str = "RedisCluster is bootstrapping";
    /// Reason once ready.
    pub const IS_READY: &str = "RedisCluster is ready";
}

/// One condition as the plan wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionUpdate {
    /// Ready, Progressing or Degraded.
    pub condition_type: &'static str,
    /// True or False.
    pub status: bool,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
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
    /// RedisCluster state and reason.
    pub cluster_state: Option<(&'static str, String)>,
}

/// Conditions with transition times kept from `previous` where the status did not change.
pub fn merge_conditions(
    previous: Option<&Value>,
    updates: &[ConditionUpdate],
    generation: Option<i64>,
    now: Milliseconds,
) -> Vec<Value> {
    updates
        .iter()
        .map(|update| {
            let status = if update.status { "True" } else { "False" };
            let earlier = previous
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|condition| condition["type"] == update.condition_type);
            let transition = earlier
                .filter(|condition| condition["status"] == status)
                .and_then(|condition| condition.get("lastTransitionTime").cloned())
                .unwrap_or_else(|| Value::from(rfc3339(now)));
            let mut condition = json!({
                "type": update.condition_type,
                "status": status,
                "reason": update.reason,
                "message": update.message,
                "lastTransitionTime": transition,
            });
            if let Some(generation) = generation {
                condition["observedGeneration"] = Value::from(generation);
            }
            condition
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
    let mut status = Map::new();
    let ready = |index: usize| facts.ready_pods.get(index).map_or(0, |(_, count)| *count);
    match kind {
        Kind::Redis | Kind::RedisReplication | Kind::RedisSentinel => {
            status.insert("readyReplicas".to_owned(), Value::from(ready(0)));
        }
        Kind::RedisCluster => {
            status.insert("readyLeaderReplicas".to_owned(), Value::from(ready(0)));
            status.insert("readyFollowerReplicas".to_owned(), Value::from(ready(1)));
            if let Some((state, reason)) = &facts.cluster_state {
                status.insert("state".to_owned(), Value::from(*state));
                status.insert("reason".to_owned(), Value::from(reason.clone()));
            }
        }
    }
    // While no master answers, the status keeps naming the last one: the replication planner
    // waits for that pod to come back with its data before it chooses any other.
    if kind == Kind::RedisReplication
        && let Some(master) = facts.master_node.as_deref().or_else(|| {
            previous
                .and_then(|status| status.get("masterNode"))
                .and_then(Value::as_str)
        })
    {
        status.insert("masterNode".to_owned(), Value::from(master));
    }
    if kind == Kind::RedisSentinel
        && let Some(address) = &facts.master_address
    {
        status.insert("masterAddress".to_owned(), Value::from(address.clone()));
    }
    if let Some(generation) = generation {
        status.insert("observedGeneration".to_owned(), Value::from(generation));
    }
    let previous_conditions = previous.and_then(|status| status.get("conditions"));
    status.insert(
        "conditions".to_owned(),
        Value::Array(merge_conditions(
            previous_conditions,
            &facts.conditions,
            generation,
            now,
        )),
    );
    if !facts.rejected_updates.is_empty() {
        status.insert(
            "rejectedUpdates".to_owned(),
            serde_json::to_value(&facts.rejected_updates).unwrap_or(Value::Null),
        );
    }
    Value::Object(status)
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

    use super::{ConditionUpdate, StatusFacts, build_status, merge_conditions};
    use crate::api::Kind;

    fn ready(status: bool) -> ConditionUpdate {
        ConditionUpdate {
            condition_type: "Ready",
            status,
            reason: "Reason".to_owned(),
            message: "message".to_owned(),
        }
    }

    #[test]
    fn transition_time_changes_only_when_the_status_does() {
        let first = merge_conditions(None, &[ready(false)], Some(1), 1_000);
        let previous = json!(first);
        let same = merge_conditions(Some(&previous), &[ready(false)], Some(1), 99_000);
        assert_eq!(
            same[0]["lastTransitionTime"],
            first[0]["lastTransitionTime"]
        );
        let flipped = merge_conditions(Some(&previous), &[ready(true)], Some(1), 99_000);
        assert_eq!(flipped[0]["lastTransitionTime"], "1970-01-01T00:01:39Z");
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
