//! Pods that cannot start or keep running: what the status says of them, the Events that report
//! them once, and the pods the operator replaces because the template they were created from is
//! gone. Pure: it reads what was observed and returns requests; it never writes.
//!
//! A pod created from a template the user has since replaced and that never started (no node
//! fits it, its image cannot be pulled, its container cannot be created) would otherwise stay
//! forever: a StatefulSet under `OnDelete` never replaces it, and one under `RollingUpdate` with
//! `OrderedReady` waits for it to be ready before it updates anything (Kubernetes documents the
//! remedy as a "forced rollback": delete the pod). Such a pod never ran Redis, so it holds no
//! data; the operator evicts it (the Eviction API lets a Pending pod go whatever the disruption
//! budget) and the StatefulSet creates it again from the current template.

use serde_json::Value;

use super::Request;
use super::plan_input::PlanInput;
use super::status::{ConditionReason, degraded_message};
use crate::json_pointer::JsonPointer;
use crate::ports::kube::{EventReason, EventType, ObjectRef, ResourceType};
use crate::resources::group::PodGroup;
use crate::topology::observation::{PodInfo, PodProblemKind};

/// One pod's problem as the status and Events say it: `pod sessions-2 cannot be scheduled: ...`.
pub fn problem_sentence(pod: &PodInfo) -> Option<String> {
    let problem = pod.problem.as_ref()?;
    Some(format!(
        "pod {} {}: {}",
        pod.name,
        problem.kind.describe(),
        problem.detail
    ))
}

/// The condition reason of a pod problem.
pub fn condition_reason(kind: PodProblemKind) -> ConditionReason {
    match kind {
        PodProblemKind::Unschedulable => ConditionReason::PodUnschedulable,
        PodProblemKind::ImagePullFailed => ConditionReason::ImagePullFailed,
        PodProblemKind::CrashLooping => ConditionReason::CrashLooping,
        PodProblemKind::ContainerNotCreated => ConditionReason::ContainerNotCreated,
    }
}

fn event_reason(kind: PodProblemKind) -> EventReason {
    match kind {
        PodProblemKind::Unschedulable => EventReason::PodUnschedulable,
        PodProblemKind::ImagePullFailed => EventReason::ImagePullFailed,
        PodProblemKind::CrashLooping => EventReason::CrashLooping,
        PodProblemKind::ContainerNotCreated => EventReason::ContainerNotCreated,
    }
}

/// The CR's pods as read once per reconcile, and those among them with a problem.
#[derive(Clone, Copy, Debug)]
pub struct PodsObserved<'a> {
    /// Every pod of a StatefulSet the CR's observation holds.
    pub all: &'a [PodInfo],
    /// Those of the CR's groups with a problem, not being deleted ([`troubled_pods`]).
    pub troubled: &'a [&'a PodInfo],
}

/// Pods of the CR's groups that have a problem and are not being deleted, in order.
pub fn troubled_pods<'a>(pods: &'a [PodInfo], groups: &[PodGroup<'_>]) -> Vec<&'a PodInfo> {
    pods.iter()
        .filter(|pod| pod.problem.is_some() && !pod.terminating)
        .filter(|pod| groups.iter().any(|group| group.app == pod.group))
        .collect()
}

/// Events for the pod problems: a Warning for each problem the live Degraded condition does not
/// already name (so each is reported once, not on every reconcile), and a Normal `PodsRecovered`
/// when the condition named pod problems and none is left.
pub fn problem_events(
    previous_status: Option<&Value>,
    troubled: &[&PodInfo],
) -> Vec<(EventType, EventReason, String)> {
    let reported = degraded_message(previous_status);
    // Reported once per pod and kind of problem: Kubernetes' words change while the cause does
    // not (ErrImagePull and ImagePullBackOff alternate, a crash loop's back-off grows).
    let mut events: Vec<(EventType, EventReason, String)> = troubled
        .iter()
        .filter_map(|pod| {
            let kind = pod.problem.as_ref()?.kind;
            let already = format!("pod {} {}: ", pod.name, kind.describe());
            if reported.contains(&already) {
                return None;
            }
            Some((
                EventType::Warning,
                event_reason(kind),
                problem_sentence(pod)?,
            ))
        })
        .collect();
    let reported_pod_problems = [
        PodProblemKind::Unschedulable,
        PodProblemKind::ImagePullFailed,
        PodProblemKind::CrashLooping,
        PodProblemKind::ContainerNotCreated,
    ]
    .iter()
    .any(|kind| reported.contains(&format!(" {}: ", kind.describe())));
    if troubled.is_empty() && reported_pod_problems {
        events.push((
            EventType::Normal,
            EventReason::PodsRecovered,
            "every pod that could not start or keep running has recovered".to_owned(),
        ));
    }
    events
}

/// The revision the StatefulSet creates the pod of `ordinal` from, as Kubernetes does: the update
/// revision, except below a `RollingUpdate` partition, where it is the current one. Under
/// `OnDelete` the current revision never advances by itself (only a completed `RollingUpdate`
/// advances it), so a pod of that revision, such as one created before the user fixed the
/// template, is outdated too.
fn creation_revision(statefulset: &Value, ordinal: u32) -> Option<&str> {
    let update_revision = statefulset
        .at("/status/updateRevision")
        .and_then(Value::as_str)?;
    let rolling_update = statefulset
        .at("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        .is_none_or(|strategy| strategy == "RollingUpdate");
    let partition = statefulset
        .at("/spec/updateStrategy/rollingUpdate/partition")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if rolling_update && i64::from(ordinal) < partition {
        return Some(
            statefulset
                .at("/status/currentRevision")
                .and_then(Value::as_str)
                .unwrap_or(update_revision),
        );
    }
    Some(update_revision)
}

/// Evictions of pods created from a replaced template that never started, with a Normal Event
/// each. A pod qualifies when its StatefulSet's status describes its live spec, the pod runs
/// another revision than the one the StatefulSet would create it from ([`creation_revision`]),
/// it is Pending and Kubernetes says why it cannot start.
pub fn replace_stuck_pods(
    input: PlanInput<'_>,
    groups: &[PodGroup<'_>],
    troubled: &[&PodInfo],
) -> Vec<(Request, String)> {
    troubled
        .iter()
        .filter(|pod| pod.pending)
        .filter(|pod| {
            pod.problem
                .as_ref()
                .is_some_and(|problem| problem.kind.never_started())
        })
        .filter_map(|pod| {
            let group = groups.iter().find(|group| group.app == pod.group)?;
            let statefulset = input.observed.children.get(&ObjectRef::new(
                ResourceType::StatefulSet,
                &input.target.namespace,
                &group.statefulset_name,
            ))?;
            // The status must describe the live spec, and the pod must run another revision
            // than the one the StatefulSet would create it from again: replacing it from the
            // same template would change nothing.
            let observed = statefulset.at("/status/observedGeneration").and_then(Value::as_i64);
            if observed.is_none() || observed != statefulset.at("/metadata/generation").and_then(Value::as_i64) {
                return None;
            }
            let creation_revision = creation_revision(statefulset, pod.ordinal)?;
            let outdated = pod
                .revision
                .as_deref()
                .is_some_and(|revision| revision != creation_revision);
            outdated.then(|| {
                (
                    Request::Evict(ObjectRef::new(
                        ResourceType::Pod,
                        &input.target.namespace,
                        &pod.name,
                    )),
                    format!(
                        "replacing pod {}, created from a template that has since changed and never started ({}), so that {} creates it from the current template",
                        pod.name,
                        problem_sentence(pod).unwrap_or_default(),
                        group.statefulset_name
                    ),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::topology::observation::PodInfo;

    fn pod(status: Value, revision: &str) -> PodInfo {
        PodInfo::from_pod(&json!({
            "metadata": {"name": "sessions-2", "labels": {"app": "sessions", "controller-revision-hash": revision}},
            "status": status,
        }))
        .unwrap()
    }

    fn unschedulable() -> Value {
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/6 nodes are available: 6 node(s) didn't match Pod's node affinity/selector."}]})
    }

    #[test]
    fn a_pod_is_created_again_from_the_update_revision_except_below_a_rolling_update_partition() {
        let statefulset = |strategy: Value| {
            json!({"spec": {"updateStrategy": strategy},
                "status": {"currentRevision": "first", "updateRevision": "fixed"}})
        };
        // Under OnDelete the current revision is still the set's first one long after the user
        // fixed the template: a Pending pod of that first revision is outdated.
        let on_delete = statefulset(json!({"type": "OnDelete"}));
        assert_eq!(creation_revision(&on_delete, 0), Some("fixed"));
        assert_eq!(creation_revision(&on_delete, 2), Some("fixed"));
        let partitioned =
            statefulset(json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}));
        assert_eq!(creation_revision(&partitioned, 1), Some("first"));
        assert_eq!(creation_revision(&partitioned, 2), Some("fixed"));
        let rolling = statefulset(json!({"type": "RollingUpdate"}));
        assert_eq!(creation_revision(&rolling, 0), Some("fixed"));
        assert_eq!(creation_revision(&json!({"status": {}}), 0), None);
    }

    #[test]
    fn a_pod_problem_is_read_from_the_scheduling_condition_or_the_container_state() {
        let pending = pod(unschedulable(), "a");
        assert_eq!(
            problem_sentence(&pending).unwrap(),
            "pod sessions-2 cannot be scheduled: 0/6 nodes are available: 6 node(s) didn't match Pod's node affinity/selector."
        );
        let pulling = pod(
            json!({"phase": "Pending", "containerStatuses": [{"name": "redis",
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"redis:nope\""}}}]}),
            "a",
        );
        assert_eq!(
            pulling.problem.as_ref().unwrap().kind,
            PodProblemKind::ImagePullFailed
        );
        assert!(
            problem_sentence(&pulling)
                .unwrap()
                .contains("redis: ImagePullBackOff: Back-off pulling image")
        );
        let crashing = pod(
            json!({"phase": "Running", "containerStatuses": [{"name": "redis",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
            "a",
        );
        assert_eq!(
            crashing.problem.as_ref().unwrap().kind,
            PodProblemKind::CrashLooping
        );
        let starting = pod(
            json!({"phase": "Pending", "containerStatuses": [{"name": "redis",
                "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
            "a",
        );
        assert_eq!(starting.problem, None, "starting is not a problem");
    }

    #[test]
    fn a_crash_loop_stays_one_problem_between_back_offs_and_is_reported_once() {
        let waiting = pod(
            json!({"phase": "Running", "containerStatuses": [{"name": "redis", "restartCount": 4, "ready": false,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}},
                "lastState": {"terminated": {"exitCode": 1}}}]}),
            "a",
        );
        let running = pod(
            json!({"phase": "Running", "containerStatuses": [{"name": "redis", "restartCount": 5, "ready": false,
                "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1}}}]}),
            "a",
        );
        assert_eq!(
            running.problem.as_ref().unwrap().kind,
            PodProblemKind::CrashLooping
        );
        let first = problem_events(None, &[&waiting]);
        assert_eq!(first.len(), 1);
        let status = json!({"conditions": [{"type": "Degraded", "status": "True",
            "reason": "CrashLooping", "message": first[0].2}]});
        // Kubernetes' words changed (the back-off, the state); the problem did not.
        assert!(problem_events(Some(&status), &[&running]).is_empty());
        let recovered = pod(
            json!({"phase": "Running", "containerStatuses": [{"name": "redis", "restartCount": 5, "ready": true,
                "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1}}}]}),
            "a",
        );
        assert_eq!(recovered.problem, None);
    }

    #[test]
    fn each_problem_is_reported_once_and_its_end_once() {
        let pending = pod(unschedulable(), "a");
        let first = problem_events(None, &[&pending]);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].0, EventType::Warning);
        assert_eq!(first[0].1, EventReason::PodUnschedulable);
        let status = json!({"conditions": [{"type": "Degraded", "status": "True",
            "reason": "PodUnschedulable", "message": first[0].2}]});
        assert!(problem_events(Some(&status), &[&pending]).is_empty());
        let recovered = problem_events(Some(&status), &[]);
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].1, EventReason::PodsRecovered);
        let healthy = json!({"conditions": [{"type": "Degraded", "status": "False",
            "reason": "Healthy", "message": "nothing needs attention"}]});
        assert!(problem_events(Some(&healthy), &[]).is_empty());
    }
}
