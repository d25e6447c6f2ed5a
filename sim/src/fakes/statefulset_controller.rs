//! The StatefulSet controller of the fake cluster, as Kubernetes 1.34 runs it for the fields
//! the operator sets: pods created in ordinal order (one at a time under `OrderedReady`, all at
//! once under `Parallel`), claims from `volumeClaimTemplates` that outlive their pods, pods above
//! the replica count removed, `RollingUpdate` with a partition replacing the highest outdated
//! ordinal (under `OrderedReady` only while every pod is Running and Ready; under `Parallel`
//! whatever the outdated pod's health, stopping at an updated pod that is not ready), `OnDelete`
//! left to whoever deletes pods, orphans adopted, and the status kept current: ready and updated
//! counts, the update revision, and a current revision that only a completed `RollingUpdate`
//! advances (`tests/statefulset_fidelity.rs` compares this with Kubernetes 1.34's controller).
//!
//! It never starts servers; the kubelets do.

use redis_operator::json_pointer::JsonPointer;
use std::collections::BTreeMap;
use std::sync::Arc;

use redis_operator::ports::clock::Clock;
use redis_operator::ports::kube::{ObjectRef, ResourceType};
use redis_operator::resources::config::ContentHasher;
use redis_operator::resources::names::{SETUP_TYPE_LABEL, STANDALONE_SETUP_TYPE};
use serde_json::{Value, json};

use crate::engine::world::World;
use crate::fakes::api_server::pod_is_ready;
use crate::fakes::kubelet::Launch;
use crate::fakes::redis::StopCause;

/// How many StatefulSet revisions [`World`] remembers before it starts over.
pub(crate) const MAXIMUM_REMEMBERED_REVISIONS: usize = 64;

/// The revision name of a StatefulSet's current template.
pub(crate) fn statefulset_revision(statefulset: &Value) -> String {
    let name = statefulset
        .at("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let template = statefulset.at("/spec/template").unwrap_or(&Value::Null);
    // The hash of the template's compact JSON text, taken as the text is written.
    let mut hasher = ContentHasher::default();
    // Writing into the hasher cannot fail, and a `Value` always serializes.
    let _ = serde_json::to_writer(&mut hasher, template);
    format!("{name}-{}", &hasher.finish()[..10])
}

impl World {
    pub(crate) fn run_statefulset(&self, statefulset: &Value) {
        let text = |pointer: &str| {
            statefulset
                .at(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let name = text("/metadata/name");
        let namespace = text("/metadata/namespace");
        let uid = text("/metadata/uid");
        let replicas = statefulset
            .at("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let template = statefulset.at("/spec/template").unwrap_or(&Value::Null);
        let revision = self.revision_of(statefulset);
        let claim_templates: &[Value] = statefulset
            .at("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        // Worked out for the first pod created: this runs whenever anything changed, and most
        // of the time every pod exists.
        let mut launch: Option<Launch> = None;
        let ordered_ready = statefulset
            .at("/spec/podManagementPolicy")
            .and_then(Value::as_str)
            .is_none_or(|policy| policy == "OrderedReady");
        let on_delete = statefulset
            .at("/spec/updateStrategy/type")
            .and_then(Value::as_str)
            == Some("OnDelete");
        let partition = statefulset
            .at("/spec/updateStrategy/rollingUpdate/partition")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let pods = self.pods_of(&namespace, &name);
        let all_ready = pods.len() == usize::try_from(replicas).unwrap_or(0)
            && pods.values().all(|pod| pod_is_ready(pod));
        let replaced = if on_delete {
            None
        } else {
            rolling_update_target(
                &pods,
                replicas,
                partition,
                &revision,
                ordered_ready,
                all_ready,
            )
        };
        for (ordinal, pod) in &pods {
            let pod_reference =
                ObjectRef::new(ResourceType::Pod, &namespace, &format!("{name}-{ordinal}"));
            let updated = replaced == Some(*ordinal);
            if *ordinal >= replicas || pod.at("/metadata/deletionTimestamp").is_some() || updated {
                let standalone = pod
                    .at(&format!("/metadata/labels/{SETUP_TYPE_LABEL}"))
                    .and_then(Value::as_str)
                    == Some(STANDALONE_SETUP_TYPE);
                let cause = if updated && standalone && *ordinal < replicas {
                    StopCause::StandaloneUpdate
                } else {
                    StopCause::Removal
                };
                self.stop_pod_server(pod, cause);
                let _ = self.api.remove_pod_now(&pod_reference);
                continue;
            }
            let owned = pod
                .at("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|owners| !owners.is_empty());
            if !owned {
                let mut adopted = Value::clone(pod);
                adopted["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name, "uid": uid, "controller": true}]);
                let _ = self.api.update(adopted);
            }
        }
        for ordinal in 0..replicas {
            if pods.contains_key(&ordinal) {
                continue;
            }
            // OrderedReady creates an ordinal only once every lower one is Running and Ready.
            if ordered_ready
                && (0..ordinal).any(|lower| !pods.get(&lower).is_some_and(|pod| pod_is_ready(pod)))
            {
                break;
            }
            let pod_name = format!("{name}-{ordinal}");
            if self
                .held_down
                .borrow()
                .get(&pod_name)
                .is_some_and(|until| *until > self.clock.now())
            {
                continue;
            }
            for claim_template in claim_templates {
                let template_name = claim_template
                    .at("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let claim = json!({
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": {
                        "name": format!("{template_name}-{pod_name}"),
                        "namespace": namespace,
                        "labels": claim_template.at("/metadata/labels").cloned().unwrap_or(json!({})),
                    },
                    "spec": claim_template.get("spec").cloned().unwrap_or(json!({})),
                });
                let _ = self.api.create(claim);
            }
            let mut pod_labels = template
                .at("/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            pod_labels["controller-revision-hash"] = json!(revision);
            pod_labels["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": pod_name, "namespace": namespace, "labels": pod_labels,
                    "annotations": template.at("/metadata/annotations").cloned().unwrap_or(json!({})),
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name, "uid": uid, "controller": true}],
                },
                "spec": template.get("spec").cloned().unwrap_or(json!({})),
                "status": {"phase": "Pending"},
            });
            if self.api.create(pod).is_ok() {
                let launch = launch.get_or_insert_with(|| {
                    self.launch_settings(&namespace, template, !claim_templates.is_empty())
                });
                self.launches.borrow_mut().insert(
                    ObjectRef::new(ResourceType::Pod, &namespace, &pod_name),
                    launch.clone(),
                );
            }
        }
    }

    /// [`statefulset_revision`], remembered per uid and generation.
    pub(crate) fn revision_of(&self, statefulset: &Value) -> String {
        let uid = statefulset.at("/metadata/uid").and_then(Value::as_str);
        let generation = statefulset
            .at("/metadata/generation")
            .and_then(Value::as_i64);
        let (Some(uid), Some(generation)) = (uid, generation) else {
            return statefulset_revision(statefulset);
        };
        let key = (uid.to_owned(), generation);
        if let Some(revision) = self.revisions.borrow().get(&key) {
            return revision.clone();
        }
        let revision = statefulset_revision(statefulset);
        let mut revisions = self.revisions.borrow_mut();
        // Old generations are never asked again; a handful of StatefulSets keep this small.
        if revisions.len() >= MAXIMUM_REMEMBERED_REVISIONS {
            revisions.clear();
        }
        revisions.insert(key, revision.clone());
        revision
    }

    /// Pods of StatefulSet `name`, by ordinal.
    pub(crate) fn pods_of(&self, namespace: &str, name: &str) -> BTreeMap<i64, Arc<Value>> {
        self.api
            .objects(ResourceType::Pod)
            .into_iter()
            .filter(|pod| pod.at("/metadata/namespace").and_then(Value::as_str) == Some(namespace))
            .filter_map(|pod| {
                let pod_name = pod.at("/metadata/name").and_then(Value::as_str)?.to_owned();
                let ordinal = pod_name.strip_prefix(&format!("{name}-"))?.parse().ok()?;
                Some((ordinal, pod))
            })
            .collect()
    }

    pub(crate) fn update_statefulset_statuses(&self) {
        for statefulset in self.api.objects(ResourceType::StatefulSet) {
            let namespace = statefulset["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default();
            let name = statefulset["metadata"]["name"].as_str().unwrap_or_default();
            let replicas = statefulset
                .at("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let revision = self.revision_of(&statefulset);
            let pods = self.pods_of(namespace, name);
            let in_range = || pods.iter().filter(|(ordinal, _)| **ordinal < replicas);
            let ready = in_range().filter(|(_, pod)| pod_is_ready(pod)).count();
            let updated = in_range()
                .filter(|(_, pod)| {
                    pod.at("/metadata/labels/controller-revision-hash")
                        .and_then(Value::as_str)
                        == Some(revision.as_str())
                })
                .count();
            // The current revision is the one the set had before the latest change of its
            // template; only a RollingUpdate that updated every pod, all of them ready, makes the
            // update revision current (Kubernetes' completeRollingUpdate). Under OnDelete it
            // never advances by itself.
            let rolling_update = statefulset
                .at("/spec/updateStrategy/type")
                .and_then(Value::as_str)
                .is_none_or(|strategy| strategy == "RollingUpdate");
            let expected = usize::try_from(replicas).unwrap_or(0);
            let rolled_out = rolling_update
                && updated == expected
                && ready == expected
                && pods.len() == expected;
            let current = match statefulset
                .at("/status/currentRevision")
                .and_then(Value::as_str)
            {
                Some(current) if !rolled_out => current.to_owned(),
                _ => revision.clone(),
            };
            let status = json!({
                "replicas": pods.len(), "readyReplicas": ready, "updatedReplicas": updated,
                "currentRevision": current, "updateRevision": revision,
                "observedGeneration": statefulset.at("/metadata/generation").cloned().unwrap_or(json!(1)),
            });
            if statefulset.get("status") != Some(&status) {
                let mut next = Value::clone(&statefulset);
                next["status"] = status;
                let _ = self.api.update(next);
            }
        }
    }
}

/// The ordinal a RollingUpdate deletes now, to be created again from the update revision, as
/// Kubernetes 1.34 chooses it: under `OrderedReady` nothing while any pod is not Running and
/// Ready (the controller stops at the first such pod before it updates anything); under
/// `Parallel` it walks down from the highest ordinal to the partition, takes the first pod of
/// another revision that is not terminating, whatever its own health (so a Pending pod of an
/// outdated template is replaced), and stops at a pod of the update revision that is not ready
/// or is terminating, a missing pod counting as such.
fn rolling_update_target(
    pods: &BTreeMap<i64, Arc<Value>>,
    replicas: i64,
    partition: i64,
    revision: &str,
    ordered_ready: bool,
    all_ready: bool,
) -> Option<i64> {
    if ordered_ready && !all_ready {
        return None;
    }
    for ordinal in (partition.max(0)..replicas).rev() {
        // A missing pod is created first, from the update revision, in the same pass: a pod
        // that is not ready yet, at which the update stops.
        let pod = pods.get(&ordinal)?;
        let terminating = pod.at("/metadata/deletionTimestamp").is_some();
        let outdated = pod
            .at("/metadata/labels/controller-revision-hash")
            .and_then(Value::as_str)
            != Some(revision);
        if outdated && !terminating {
            return Some(ordinal);
        }
        if terminating || !pod_is_ready(pod) {
            return None;
        }
    }
    None
}
