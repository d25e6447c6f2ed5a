//! The disruption controller and the Eviction API of the fake cluster: an eviction is refused
//! (429) when the pod's disruption budget has no room for one more disruption, refused (500)
//! when two budgets select the pod, and otherwise marks the pod `DisruptionTarget` and deletes
//! it. The budget's counts are computed on the spot from the pods it selects, where Kubernetes'
//! disruption controller keeps them in the budget's status.
//!
//! It never deletes a pod an eviction was not asked for.

use redis_operator::json_pointer::JsonPointer;
use std::collections::BTreeMap;
use std::sync::Arc;

use redis_operator::ports::clock::rfc3339;
use redis_operator::ports::kube::{ApiError, ObjectRef, Propagation, ResourceType};
use serde_json::{Value, json};

use crate::fakes::api_server::{
    FakeApiServer, State, WriteRecord, labels_match, not_found, pod_is_ready,
};

/// The Eviction API's refusal of `pod`, if it refuses, following its rules: a pod that is
/// pending, finished or already being deleted goes without a budget check; a pod that two
/// budgets select cannot be evicted at all; an unready pod goes while its budget has the healthy
/// pods it needs (unless it needs none); otherwise the budget's healthy pods minus the ones it
/// needs must leave room for one more disruption. The disruption controller's counts are computed
/// on the spot (Kubernetes evicts against the budget's status, which its controller keeps current).
fn eviction_refusal(state: &State, pod: &Value, reference: &ObjectRef) -> Option<ApiError> {
    let phase = pod
        .at("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    if matches!(phase, "Pending" | "Succeeded" | "Failed")
        || pod.at("/metadata/deletionTimestamp").is_some()
    {
        return None;
    }
    let labels = pod.at("/metadata/labels").cloned().unwrap_or(Value::Null);
    let budgets: Vec<(&Value, BTreeMap<String, String>)> = state
        .objects
        .iter()
        .filter(|(key, _)| {
            key.resource == ResourceType::PodDisruptionBudget
                && key.namespace == reference.namespace
        })
        .filter_map(|(_, budget)| {
            let selector: BTreeMap<String, String> =
                serde_json::from_value(budget.at("/spec/selector/matchLabels").cloned()?).ok()?;
            selector
                .iter()
                .all(|(name, value)| labels.get(name).and_then(Value::as_str) == Some(value))
                .then_some((budget.as_ref(), selector))
        })
        .collect();
    let (budget, selector) = match budgets.as_slice() {
        [] => return None,
        [only] => only,
        _ => {
            return Some(ApiError::Transient {
                object: reference.to_string(),
                action: "evict".to_owned(),
                message: "Internal error occurred: This pod has more than one PodDisruptionBudget, which the eviction subresource does not support. (HTTP 500, reason Some(\"InternalError\"))".to_owned(),
            });
        }
    };
    let covered: Vec<&Value> = state
        .objects
        .iter()
        .filter(|(other, _)| {
            other.resource == ResourceType::Pod && other.namespace == reference.namespace
        })
        .map(|(_, other)| other.as_ref())
        .filter(|other| labels_match(other, selector))
        .collect();
    let healthy = i64::try_from(covered.iter().filter(|other| pod_is_ready(other)).count()).ok()?;
    let expected = i64::try_from(covered.len()).ok()?;
    let desired = match (
        budget.at("/spec/minAvailable").and_then(Value::as_i64),
        budget.at("/spec/maxUnavailable").and_then(Value::as_i64),
    ) {
        (Some(minimum), _) => minimum,
        (None, Some(maximum)) => (expected - maximum).max(0),
        (None, None) => return None,
    };
    let always_allow_unready = budget
        .at("/spec/unhealthyPodEvictionPolicy")
        .and_then(Value::as_str)
        == Some("AlwaysAllow");
    if !pod_is_ready(pod) && (always_allow_unready || (healthy >= desired && desired > 0)) {
        return None;
    }
    (healthy - desired <= 0).then(|| ApiError::TooManyRequests {
        object: reference.to_string(),
        action: "evict".to_owned(),
        // The API server names the budget and its counts only in the Status' causes.
        message: "Cannot evict pod as it would violate the pod's disruption budget.".to_owned(),
    })
}

impl FakeApiServer {
    /// The Eviction API for a pod, recorded under `verb` ("evict" for the operator, "drain" for
    /// a node drain): refused with 429 when a disruption budget does not allow it.
    pub fn evict_as(&self, pod: &ObjectRef, verb: &'static str) -> Result<(), ApiError> {
        let mut state = self.lock();
        if let Some(error) = self.take_injection(&mut state, verb, ResourceType::Pod) {
            state.writes.push(WriteRecord {
                verb,
                object: pod.clone(),
                error: Some(error.clone()),
            });
            return Err(error);
        }
        let Some(target) = state.objects.get(pod).cloned() else {
            return Err(not_found(pod));
        };
        if let Some(error) = eviction_refusal(&state, &target, pod) {
            state.writes.push(WriteRecord {
                verb,
                object: pod.clone(),
                error: Some(error.clone()),
            });
            return Err(error);
        }
        state.writes.push(WriteRecord {
            verb,
            object: pod.clone(),
            error: None,
        });
        let now = rfc3339(self.clock.now());
        // The Eviction API marks the pod before deleting it (seen while finalizers hold it).
        if let Some(stored) = state.objects.get_mut(pod).map(Arc::make_mut) {
            let condition = json!({
                "type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                "message": "Eviction API: evicting", "lastTransitionTime": now,
            });
            match stored
                .pointer_mut("/status/conditions")
                .and_then(Value::as_array_mut)
            {
                Some(conditions) => {
                    if !conditions
                        .iter()
                        .any(|existing| existing["type"] == "DisruptionTarget")
                    {
                        conditions.push(condition);
                    }
                }
                None => stored["status"]["conditions"] = json!([condition]),
            }
        }
        Self::remove_or_mark(&mut state, pod, Propagation::Background, &now);
        Ok(())
    }

    /// A node drain's eviction of `pod` (see [`FakeApiServer::evict_as`]).
    pub fn evict_now(&self, pod: &ObjectRef) -> Result<(), ApiError> {
        self.evict_as(pod, "drain")
    }
}
