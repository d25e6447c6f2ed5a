//! A small world in which the operator's reconcile runs: the fake API server, a StatefulSet
//! controller and kubelet stand-in that turn StatefulSets into pods with addresses and claims, the
//! fake Redis fleet, and simulated time. Deterministic: one thread, ordered maps, addresses from a
//! counter.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

use redis_operator::api::Kind;
use redis_operator::ports::clock::Clock;
use redis_operator::ports::kube::{ApiError, KubeApi, ObjectRef, ResourceType};
use redis_operator::reconcile::Context;
use redis_operator::reconcile::driver::{ReconcileError, ReconcileOutcome, reconcile};
use redis_operator::resources::config::content_hash;
use serde_json::{Value, json};

use crate::api_server::FakeApiServer;
use crate::clock::SimulatedClock;
use crate::crash::{CrashSwitch, CrashingKube, CrashingRedis};
use crate::redis::{FakeRedis, ServerKind};

/// Milliseconds between simulation steps.
pub const STEP_MILLISECONDS: u64 = 1000;

/// The simulated cluster.
pub struct World {
    /// The API server.
    pub api: FakeApiServer,
    /// The Redis servers and sentinels.
    pub redis: FakeRedis,
    /// Time.
    pub clock: SimulatedClock,
    /// The ports the operator runs against (with the crash switch between them and the fakes).
    pub context: Context,
    /// Crashes the operator after a number of writes.
    pub crash: CrashSwitch,
    /// Keys a client wrote and Redis acknowledged, with their values.
    pub acknowledged: std::cell::RefCell<BTreeMap<String, String>>,
    held_down: std::cell::RefCell<BTreeMap<String, u64>>,
    next_address: Cell<u32>,
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    /// An empty world at the simulation epoch.
    pub fn new() -> World {
        let clock = SimulatedClock::new();
        let api = FakeApiServer::new(Arc::new(clock.clone()));
        let redis = FakeRedis::new();
        let crash = CrashSwitch::default();
        let context = Context {
            kube: Arc::new(CrashingKube {
                inner: Arc::new(api.clone()),
                switch: crash.clone(),
            }),
            redis: Arc::new(CrashingRedis {
                inner: Arc::new(redis.clone()),
                switch: crash.clone(),
            }),
            clock: Arc::new(clock.clone()),
        };
        World {
            api,
            redis,
            clock,
            context,
            crash,
            acknowledged: std::cell::RefCell::new(BTreeMap::new()),
            held_down: std::cell::RefCell::new(BTreeMap::new()),
            next_address: Cell::new(1),
        }
    }

    /// Creates an object from YAML (namespace `default` unless it names one); returns its kind (when
    /// it is one of ours) and reference.
    pub fn create_yaml(&self, yaml: &str) -> Result<(Option<Kind>, ObjectRef), ApiError> {
        let mut object: Value =
            serde_yaml_ng::from_str(yaml).map_err(|error| ApiError::Invalid {
                object: "<yaml>".to_owned(),
                message: error.to_string(),
            })?;
        if object.pointer("/metadata/namespace").is_none() {
            object["metadata"]["namespace"] = json!("default");
        }
        let kind = object["kind"].as_str().and_then(Kind::from_name);
        let stored = self.api.create(object)?;
        let reference = ObjectRef::of(&stored).ok_or_else(|| ApiError::Invalid {
            object: stored.to_string(),
            message: "the object names no known type".to_owned(),
        })?;
        Ok((kind, reference))
    }

    /// One reconcile of `target`.
    pub async fn reconcile(
        &self,
        kind: Kind,
        target: &ObjectRef,
    ) -> Result<ReconcileOutcome, ReconcileError> {
        reconcile(&self.context, kind, target).await
    }

    /// Advances time by one step: controllers act, Redis replicates and gossips.
    pub fn step(&self) {
        self.run_statefulsets();
        self.clock.advance(STEP_MILLISECONDS);
        self.redis.tick(self.clock.now());
    }

    /// Reconciles and steps until every target reports Ready and a reconcile of each writes
    /// nothing; returns the steps taken, or `None` when `maximum_steps` was not enough.
    pub async fn converge(
        &self,
        targets: &[(Kind, ObjectRef)],
        maximum_steps: usize,
    ) -> Option<usize> {
        let mut quiet_rounds = 0;
        for round in 0..maximum_steps {
            let mut writes = 0;
            for (kind, target) in targets {
                match self.reconcile(*kind, target).await {
                    Ok(outcome) => writes += outcome.writes(),
                    Err(_) => writes += 1,
                }
            }
            let all_ready = targets.iter().all(|(_, target)| self.is_ready(target));
            self.step();
            quiet_rounds = if writes == 0 && all_ready {
                quiet_rounds + 1
            } else {
                0
            };
            if quiet_rounds >= 2 {
                return Some(round);
            }
        }
        None
    }

    /// Whether the CR's Ready condition is True.
    pub fn is_ready(&self, target: &ObjectRef) -> bool {
        self.api
            .object(target)
            .and_then(|object| object.pointer("/status/conditions").cloned())
            .and_then(|conditions| conditions.as_array().cloned())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|condition| condition["type"] == "Ready" && condition["status"] == "True")
            })
    }

    /// Keeps `pod` from being recreated for `milliseconds` (its node is down).
    pub fn hold_down(&self, pod: &str, milliseconds: u64) {
        self.held_down
            .borrow_mut()
            .insert(pod.to_owned(), self.clock.now() + milliseconds);
    }

    fn new_address(&self) -> String {
        let number = self.next_address.get();
        self.next_address.set(number + 1);
        format!(
            "10.{}.{}.{}",
            1 + number / 62_500,
            number / 250 % 250,
            number % 250 + 1
        )
    }

    /// The StatefulSet controller and the kubelet: pods for every ordinal (Parallel), with new
    /// addresses; claims from the templates that outlive pods; pods beyond the replica count
    /// removed; orphans adopted; RollingUpdate replaces outdated pods one at a time; status
    /// reported.
    pub fn run_statefulsets(&self) {
        for statefulset in self.api.objects(ResourceType::StatefulSet) {
            if statefulset.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            self.run_statefulset(&statefulset);
        }
        // Pods whose StatefulSet is gone and that nothing adopted keep running (orphans).
    }

    fn run_statefulset(&self, statefulset: &Value) {
        let text = |pointer: &str| {
            statefulset
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let name = text("/metadata/name");
        let namespace = text("/metadata/namespace");
        let uid = text("/metadata/uid");
        let replicas = statefulset
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let template = statefulset
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(Value::Null);
        let revision = format!("{name}-{}", &content_hash(&template.to_string())[..10]);
        let labels = template
            .pointer("/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        let setup_type = labels
            .get("redis_setup_type")
            .and_then(Value::as_str)
            .unwrap_or("standalone");
        let port = template
            .pointer("/spec/containers/0/ports/0/containerPort")
            .and_then(Value::as_u64)
            .and_then(|port| u16::try_from(port).ok())
            .unwrap_or(6379);
        let claim_templates: Vec<Value> = statefulset
            .pointer("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let config_map_name = template
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .and_then(|volumes| {
                volumes
                    .iter()
                    .find_map(|volume| volume.pointer("/configMap/name").and_then(Value::as_str))
            })
            .unwrap_or_default()
            .to_owned();
        let persistence = self
            .api
            .object(&ObjectRef::new(
                ResourceType::ConfigMap,
                &namespace,
                &config_map_name,
            ))
            .and_then(|config| {
                config
                    .pointer("/data/server.conf")
                    .and_then(Value::as_str)
                    .map(|text| text.contains("appendonly yes"))
            })
            .unwrap_or(false);
        let kind = match setup_type {
            "cluster" => ServerKind::Cluster,
            "sentinel" => ServerKind::Sentinel,
            _ => ServerKind::Plain,
        };
        let on_delete = statefulset
            .pointer("/spec/updateStrategy/type")
            .and_then(Value::as_str)
            == Some("OnDelete");
        let pods: BTreeMap<i64, Value> = self
            .api
            .objects(ResourceType::Pod)
            .into_iter()
            .filter(|pod| {
                pod.pointer("/metadata/namespace").and_then(Value::as_str)
                    == Some(namespace.as_str())
            })
            .filter_map(|pod| {
                let pod_name = pod
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)?
                    .to_owned();
                let ordinal = pod_name.strip_prefix(&format!("{name}-"))?.parse().ok()?;
                Some((ordinal, pod))
            })
            .collect();
        let mut ready = 0;
        let mut updated = 0;
        let mut rolled = false;
        for (ordinal, pod) in &pods {
            let pod_reference =
                ObjectRef::new(ResourceType::Pod, &namespace, &format!("{name}-{ordinal}"));
            let ip = pod
                .pointer("/status/podIP")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if *ordinal >= replicas || pod.pointer("/metadata/deletionTimestamp").is_some() {
                self.redis.stop(&ip);
                let _ = self.api.remove_pod_now(&pod_reference);
                continue;
            }
            let owners = pod
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if owners.is_empty() {
                let mut adopted = pod.clone();
                adopted["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name, "uid": uid, "controller": true}]);
                let _ = self.api.update(adopted);
            }
            let pod_revision = pod
                .pointer("/metadata/labels/controller-revision-hash")
                .and_then(Value::as_str);
            if pod_revision == Some(revision.as_str()) {
                updated += 1;
            } else if !on_delete && !rolled {
                // RollingUpdate: one outdated pod at a time is replaced.
                rolled = true;
                self.redis.stop(&ip);
                let _ = self.api.remove_pod_now(&pod_reference);
                continue;
            }
            ready += 1;
        }
        for ordinal in 0..replicas {
            if pods.contains_key(&ordinal) {
                continue;
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
            for claim_template in &claim_templates {
                let template_name = claim_template
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let claim = json!({
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": {
                        "name": format!("{template_name}-{pod_name}"),
                        "namespace": namespace,
                        "labels": claim_template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                    },
                    "spec": claim_template.get("spec").cloned().unwrap_or(json!({})),
                });
                let _ = self.api.create(claim);
            }
            let ip = self.new_address();
            let mut pod_labels = labels.clone();
            pod_labels["controller-revision-hash"] = json!(revision);
            pod_labels["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
            let now = redis_operator::ports::clock::rfc3339(self.clock.now());
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": pod_name, "namespace": namespace, "labels": pod_labels,
                    "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name, "uid": uid, "controller": true}],
                },
                "spec": {"nodeName": format!("node-{}", ordinal % 3)},
                "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]},
            });
            if self.api.create(pod).is_ok() {
                let keep = !claim_templates.is_empty();
                self.redis
                    .start(&pod_name, &ip, port, kind, keep && persistence, keep);
                ready += 1;
                updated += 1;
            }
        }
        if let Some(mut live) = self.api.object(&ObjectRef::new(
            ResourceType::StatefulSet,
            &namespace,
            &name,
        )) {
            let status = json!({
                "replicas": replicas, "readyReplicas": ready, "updatedReplicas": updated,
                "currentRevision": revision, "updateRevision": revision,
                "observedGeneration": live.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
            });
            if live.get("status") != Some(&status) {
                live["status"] = status;
                let _ = self.api.update(live);
            }
        }
    }

    /// Deletes a pod as a crash or `kubectl delete pod` would: its server stops; the StatefulSet
    /// controller recreates it with a new address at the next step.
    pub fn kill_pod(&self, namespace: &str, name: &str) {
        let reference = ObjectRef::new(ResourceType::Pod, namespace, name);
        if let Some(pod) = self.api.object(&reference) {
            if let Some(ip) = pod.pointer("/status/podIP").and_then(Value::as_str) {
                self.redis.stop(ip);
            }
            let _ = self.api.remove_pod_now(&reference);
        }
    }

    /// Addresses of the ready pods whose `app` label is `app`, by pod name.
    pub fn pod_addresses(&self, app: &str) -> BTreeMap<String, String> {
        self.api
            .objects(ResourceType::Pod)
            .into_iter()
            .filter(|pod| pod.pointer("/metadata/labels/app").and_then(Value::as_str) == Some(app))
            .filter_map(|pod| {
                Some((
                    pod.pointer("/metadata/name")?.as_str()?.to_owned(),
                    pod.pointer("/status/podIP")?.as_str()?.to_owned(),
                ))
            })
            .collect()
    }

    /// A client writes `count` keys through `entry` (any node of the set); acknowledged writes are
    /// remembered. Returns how many were acknowledged.
    pub fn write_keys(&self, entry: &str, prefix: &str, count: usize) -> usize {
        let mut acknowledged = 0;
        for index in 0..count {
            let key = format!("{prefix}:{index}");
            let value = format!("value-{index}-{}", self.clock.now());
            if self.redis.client_write(entry, &key, &value) {
                self.acknowledged.borrow_mut().insert(key, value);
                acknowledged += 1;
            }
        }
        acknowledged
    }

    /// Acknowledged keys that can no longer be read with their value through `entry`.
    pub fn lost_keys(&self, entry: &str) -> Vec<String> {
        self.acknowledged
            .borrow()
            .iter()
            .filter(|(key, value)| {
                self.redis.client_read(entry, key).as_deref() != Some(value.as_str())
            })
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Merges `patch` into the CR's spec, as `kubectl patch --type merge` would.
    pub fn patch_spec(&self, target: &ObjectRef, patch: &Value) -> Result<(), ApiError> {
        let Some(mut object) = self.api.object(target) else {
            return Err(ApiError::NotFound {
                object: target.to_string(),
            });
        };
        merge_patch(&mut object["spec"], patch);
        self.api.update(object).map(|_| ())
    }

    /// Names of the pods a Service's selector picks, sorted.
    pub fn pods_selected_by(&self, service: &ObjectRef) -> Vec<String> {
        let selector: BTreeMap<String, String> = self
            .api
            .object(service)
            .and_then(|service| serde_json::from_value(service["spec"]["selector"].clone()).ok())
            .unwrap_or_default();
        if selector.is_empty() {
            return Vec::new();
        }
        self.api
            .objects(ResourceType::Pod)
            .into_iter()
            .filter(|pod| {
                pod.pointer("/metadata/namespace").and_then(Value::as_str)
                    == Some(service.namespace.as_str())
            })
            .filter(|pod| {
                selector
                    .iter()
                    .all(|(key, value)| pod["metadata"]["labels"][key] == value.as_str())
            })
            .filter_map(|pod| pod["metadata"]["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// Stored objects of one type.
    pub fn objects(&self, resource: ResourceType) -> Vec<Value> {
        self.api.objects(resource)
    }

    /// The object, if stored.
    pub async fn get(&self, reference: &ObjectRef) -> Option<Value> {
        self.api.get(reference).await.ok().flatten()
    }
}

/// RFC 7386 merge patch: objects merge, null removes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}
