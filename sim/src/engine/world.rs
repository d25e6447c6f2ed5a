//! A small world in which the operator's reconcile runs: the fake API server, a StatefulSet
//! controller and kubelet stand-in that turn StatefulSets into pods with addresses and claims, the
//! fake Redis fleet, and simulated time. Deterministic: one thread, ordered maps, addresses from a
//! counter.

use redis_operator::json_pointer::JsonPointer;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

use redis_operator::api::Kind;
use redis_operator::ports::clock::{Clock, Milliseconds};
use redis_operator::ports::kube::{ApiError, KubeApi, ObjectRef, ResourceType};
use redis_operator::reconcile::Context;
use redis_operator::reconcile::driver::{ReconcileError, ReconcileOutcome, reconcile};
use redis_operator::resources::config::ContentHasher;
use serde_json::{Value, json};

use crate::engine::clock::SimulatedClock;
use crate::engine::random::SeededRandom;
use crate::fakes::api_server::FakeApiServer;
use crate::fakes::redis::{FakeRedis, ServerKind};
use crate::fakes::scheduler::{Node, PlacedPod, PodToPlace, choose_node};
use crate::faults::operator_crash::{CrashSwitch, CrashingKube, CrashingRedis};
use crate::faults::stale_reads::{LagSwitch, LaggingKube};

/// Milliseconds between simulation steps.
pub const STEP_MILLISECONDS: u64 = 1000;

/// A write a client made and Redis acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcknowledgedWrite {
    /// The value written.
    pub value: String,
    /// When it was written.
    pub at: Milliseconds,
}

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
    /// Makes the operator's reads stale.
    pub lag: LagSwitch,
    /// Keys a client wrote and Redis acknowledged, with their values and when they were written.
    pub acknowledged: std::cell::RefCell<BTreeMap<String, AcknowledgedWrite>>,
    /// The seeded source of every random choice of the run.
    pub random: SeededRandom,
    settings: std::cell::RefCell<WorldSettings>,
    nodes: std::cell::RefCell<Vec<Node>>,
    node_down_since: std::cell::RefCell<BTreeMap<String, Milliseconds>>,
    launches: std::cell::RefCell<BTreeMap<ObjectRef, Launch>>,
    /// Revision names by StatefulSet uid and generation: the template is part of the spec, so
    /// it changes only with the generation, and hashing it whenever anything changed was a
    /// large part of the controllers' work.
    revisions: std::cell::RefCell<BTreeMap<(String, i64), String>>,
    runtimes: std::cell::RefCell<BTreeMap<(ObjectRef, String), PodRuntime>>,
    held_down: std::cell::RefCell<BTreeMap<String, u64>>,
    controllers_seen: Cell<Option<(u64, u64)>>,
    next_address: Cell<u32>,
}

/// Milliseconds the kubelet waits before restarting a crashed container.
pub const RESTART_DELAY_MILLISECONDS: Milliseconds = 1000;

/// Knobs of the fake cluster's controllers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorldSettings {
    /// Shortest time from a pod's binding to its server answering.
    pub minimum_start_latency_milliseconds: Milliseconds,
    /// Longest such time; each pod draws from the range with the seeded generator.
    pub maximum_start_latency_milliseconds: Milliseconds,
    /// How long pods stay on a node that is down before they are removed (the taint-based
    /// eviction's tolerationSeconds).
    pub node_eviction_timeout_milliseconds: Milliseconds,
}

impl Default for WorldSettings {
    /// Pods start at once; nodes down for 300 s lose their pods, as with Kubernetes' defaults.
    fn default() -> Self {
        WorldSettings {
            minimum_start_latency_milliseconds: 0,
            maximum_start_latency_milliseconds: 0,
            node_eviction_timeout_milliseconds: 300_000,
        }
    }
}

/// How the kubelet runs a pod's server.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Launch {
    port: u16,
    kind: ServerKind,
    keep_data: bool,
    keep_identity: bool,
}

/// What the kubelet knows of a pod it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PodRuntime {
    start_at: Milliseconds,
    ip: Option<String>,
    restart_at: Option<Milliseconds>,
}

/// How many StatefulSet revisions [`World`] remembers before it starts over.
const MAXIMUM_REMEMBERED_REVISIONS: usize = 64;

/// The revision name of a StatefulSet's current template.
fn statefulset_revision(statefulset: &Value) -> String {
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

pub use crate::fakes::api_server::pod_is_ready;

/// Six nodes, two in each of three zones: enough for a three-shard cluster with one replica per
/// shard under required pod anti-affinity by hostname.
pub fn default_nodes() -> Vec<Node> {
    ["a", "b", "c"]
        .iter()
        .flat_map(|zone| {
            (1..=2).map(move |number| {
                Node::new(&format!("node-{zone}{number}"), &format!("zone-{zone}"))
            })
        })
        .collect()
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    /// An empty world at the simulation epoch with the default nodes, pods that start at once and seed 0.
    pub fn new() -> World {
        World::with_settings(0, default_nodes(), WorldSettings::default())
    }

    /// An empty world with these nodes and settings whose random choices follow `seed`.
    pub fn with_settings(seed: u64, nodes: Vec<Node>, settings: WorldSettings) -> World {
        let clock = SimulatedClock::new();
        let api = FakeApiServer::new(Arc::new(clock.clone()));
        let redis = FakeRedis::new();
        let crash = CrashSwitch::default();
        let lag = LagSwitch::default();
        let context = Context {
            kube: Arc::new(CrashingKube {
                inner: Arc::new(LaggingKube {
                    live: api.clone(),
                    switch: lag.clone(),
                }),
                switch: crash.clone(),
            }),
            redis: Arc::new(CrashingRedis {
                inner: redis.clone(),
                switch: crash.clone(),
            }),
            clock: Arc::new(clock.clone()),
            designs: Arc::default(),
            cluster_tables: Arc::default(),
        };
        World {
            api,
            redis,
            clock,
            context,
            crash,
            lag,
            acknowledged: std::cell::RefCell::new(BTreeMap::new()),
            random: SeededRandom::new(seed),
            settings: std::cell::RefCell::new(settings),
            nodes: std::cell::RefCell::new(nodes),
            node_down_since: std::cell::RefCell::new(BTreeMap::new()),
            launches: std::cell::RefCell::new(BTreeMap::new()),
            revisions: std::cell::RefCell::new(BTreeMap::new()),
            runtimes: std::cell::RefCell::new(BTreeMap::new()),
            held_down: std::cell::RefCell::new(BTreeMap::new()),
            controllers_seen: Cell::new(None),
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
        if object.at("/metadata/namespace").is_none() {
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
        self.api.object(target).is_some_and(|object| {
            object
                .at("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|conditions| {
                    conditions.iter().any(|condition| {
                        condition["type"] == "Ready" && condition["status"] == "True"
                    })
                })
        })
    }

    /// Keeps `pod` from being recreated for `milliseconds` (its node is down).
    pub fn hold_down(&self, pod: &str, milliseconds: u64) {
        self.controllers_seen.set(None);
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

    /// The controllers and the kubelet for one step: StatefulSets make pods, the scheduler binds
    /// them to nodes, the kubelet starts them after the start latency and reports readiness from
    /// the server's liveness, pods on nodes down for longer than the eviction timeout are removed.
    pub fn run_statefulsets(&self) {
        // Nothing to do when no object changed, no server started or stopped, and no timer of
        // the kubelets or the node lifecycle is running.
        let seen = (self.api.version(), self.redis.liveness_version());
        if self.controllers_seen.get() == Some(seen) && !self.timers_pending() {
            return;
        }
        for statefulset in self.api.objects(ResourceType::StatefulSet) {
            if statefulset.at("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            self.run_statefulset(&statefulset);
        }
        // Pods whose StatefulSet is gone and that nothing adopted keep running (orphans).
        self.schedule_pending_pods();
        self.run_kubelets();
        self.update_statefulset_statuses();
        self.controllers_seen
            .set(Some((self.api.version(), self.redis.liveness_version())));
    }

    /// Whether a kubelet or node-lifecycle timer may fire: a pod waiting to start or restart, a
    /// node down (its pods are evicted after a timeout), a pod held down.
    fn timers_pending(&self) -> bool {
        let now = self.clock.now();
        self.runtimes
            .borrow()
            .values()
            .any(|runtime| runtime.ip.is_none() || runtime.restart_at.is_some())
            || !self.node_down_since.borrow().is_empty()
            || self
                .held_down
                .borrow()
                .values()
                .any(|until| *until + STEP_MILLISECONDS >= now)
    }

    fn run_statefulset(&self, statefulset: &Value) {
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
        // RollingUpdate replaces the highest outdated ordinal at or above the partition, one at a
        // time, and only while every pod is Running and Ready.
        let outdated = pods
            .iter()
            .rev()
            .find(|(ordinal, pod)| {
                **ordinal >= partition
                    && **ordinal < replicas
                    && pod
                        .at("/metadata/labels/controller-revision-hash")
                        .and_then(Value::as_str)
                        != Some(revision.as_str())
            })
            .map(|(ordinal, _)| *ordinal);
        for (ordinal, pod) in &pods {
            let pod_reference =
                ObjectRef::new(ResourceType::Pod, &namespace, &format!("{name}-{ordinal}"));
            if *ordinal >= replicas
                || pod.at("/metadata/deletionTimestamp").is_some()
                || (!on_delete && all_ready && outdated == Some(*ordinal))
            {
                self.stop_pod_server(pod);
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
    fn revision_of(&self, statefulset: &Value) -> String {
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

    /// How the kubelet runs the server of a pod from `template`: its port, what it runs, and
    /// whether data and cluster identity survive a restart (a claim, and persistence configured).
    fn launch_settings(&self, namespace: &str, template: &Value, has_claim: bool) -> Launch {
        let setup_type = template
            .at("/metadata/labels/redis_setup_type")
            .and_then(Value::as_str)
            .unwrap_or("standalone");
        let port = template
            .at("/spec/containers/0/ports/0/containerPort")
            .and_then(Value::as_u64)
            .and_then(|port| u16::try_from(port).ok())
            .unwrap_or(6379);
        let config_map_name = template
            .at("/spec/volumes")
            .and_then(Value::as_array)
            .and_then(|volumes| {
                volumes
                    .iter()
                    .find_map(|volume| volume.at("/configMap/name").and_then(Value::as_str))
            })
            .unwrap_or_default()
            .to_owned();
        let persistence = self
            .api
            .object(&ObjectRef::new(
                ResourceType::ConfigMap,
                namespace,
                &config_map_name,
            ))
            .and_then(|config| {
                config
                    .at("/data/server.conf")
                    .and_then(Value::as_str)
                    .map(|text| text.contains("appendonly yes"))
            })
            .unwrap_or(false);
        let kind = match setup_type {
            "cluster" => ServerKind::Cluster,
            "sentinel" => ServerKind::Sentinel,
            _ => ServerKind::Plain,
        };
        Launch {
            port,
            kind,
            keep_data: has_claim && persistence,
            keep_identity: has_claim,
        }
    }

    /// Pods of StatefulSet `name`, by ordinal.
    fn pods_of(&self, namespace: &str, name: &str) -> BTreeMap<i64, Arc<Value>> {
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

    /// The scheduler: binds every pod without a node to the node [`choose_node`] picks.
    fn schedule_pending_pods(&self) {
        let pods = self.api.objects(ResourceType::Pod);
        // Runs whenever anything changed; most of the time every pod is bound already.
        if pods.iter().all(|pod| pod.at("/spec/nodeName").is_some()) {
            return;
        }
        let mut placed: Vec<PlacedPod> = pods
            .iter()
            .filter_map(|pod| {
                Some(PlacedPod {
                    namespace: pod.at("/metadata/namespace")?.as_str()?.to_owned(),
                    labels: serde_json::from_value(pod.at("/metadata/labels")?.clone()).ok()?,
                    node: pod.at("/spec/nodeName")?.as_str()?.to_owned(),
                })
            })
            .collect();
        let nodes = self.nodes.borrow().clone();
        for pod in pods {
            if pod.at("/spec/nodeName").is_some() {
                continue;
            }
            let mut pod = Value::clone(&pod);
            let namespace = pod["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let labels: BTreeMap<String, String> =
                serde_json::from_value(pod["metadata"]["labels"].clone()).unwrap_or_default();
            let spec = pod.get("spec").cloned().unwrap_or(json!({}));
            let candidate = PodToPlace {
                namespace: &namespace,
                labels: &labels,
                spec: &spec,
            };
            let Some(node) = choose_node(&candidate, &nodes, &placed) else {
                continue;
            };
            pod["spec"]["nodeName"] = json!(node);
            if self.api.update(pod).is_ok() {
                placed.push(PlacedPod {
                    namespace,
                    labels,
                    node,
                });
            }
        }
    }

    /// The kubelets: start bound pods after the start latency with a new address, restart a
    /// crashed server, report readiness as the probe would (the server answers), stop the server
    /// of a pod that is gone, and remove pods whose node has been down past the eviction timeout.
    fn run_kubelets(&self) {
        let now = self.clock.now();
        let pods = self.api.objects(ResourceType::Pod);
        let mut present = std::collections::BTreeSet::new();
        for pod in pods {
            let Some(reference) = ObjectRef::of(&pod) else {
                continue;
            };
            let uid = pod["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            present.insert((reference.clone(), uid.clone()));
            let Some(node_name) = pod.at("/spec/nodeName").and_then(Value::as_str) else {
                continue;
            };
            let node = self
                .nodes
                .borrow()
                .iter()
                .find(|node| node.name == node_name)
                .cloned();
            let node_up = node.as_ref().is_some_and(|node| node.up);
            let node_down_since = self.node_down_since.borrow().get(node_name).copied();
            if let Some(since) = node_down_since
                && !node_up
                && now >= since + self.settings.borrow().node_eviction_timeout_milliseconds
            {
                self.stop_pod_server(&pod);
                let _ = self.api.remove_pod_now(&reference);
                continue;
            }
            let launch = self.launches.borrow().get(&reference).cloned();
            let Some(launch) = launch else {
                // Not started by these controllers (an object created by a test): leave it be.
                continue;
            };
            let mut runtimes = self.runtimes.borrow_mut();
            let runtime = runtimes
                .entry((reference.clone(), uid.clone()))
                .or_insert_with(|| PodRuntime {
                    start_at: now + self.start_latency(),
                    ip: None,
                    restart_at: None,
                });
            let mut status_changed = false;
            // Copied only when the kubelet changes the pod's status.
            let mut next = Arc::clone(&pod);
            if node_up && runtime.ip.is_none() && now >= runtime.start_at {
                let ip = self.new_address();
                self.start_server(&reference.name, &ip, &launch);
                runtime.ip = Some(ip.clone());
                let status = &mut Arc::make_mut(&mut next)["status"];
                status["podIP"] = json!(ip);
                status["phase"] = json!("Running");
                status_changed = true;
            }
            if let Some(ip) = runtime.ip.clone() {
                let alive = self.redis.is_alive(&ip);
                if !node_up && alive {
                    self.redis.stop(&ip);
                } else if node_up && !alive {
                    // The container stopped (a crash, or the node came back): restart it after
                    // the restart delay, at the same address.
                    match runtime.restart_at {
                        Some(at) if now >= at => {
                            self.start_server(&reference.name, &ip, &launch);
                            runtime.restart_at = None;
                        }
                        Some(_) => {}
                        None => runtime.restart_at = Some(now + RESTART_DELAY_MILLISECONDS),
                    }
                }
            }
            let ready = node_up
                && runtime
                    .ip
                    .as_ref()
                    .is_some_and(|ip| self.redis.is_alive(ip));
            if pod_is_ready(&pod) != ready {
                Arc::make_mut(&mut next)["status"]["conditions"] = json!([{
                    "type": "Ready", "status": if ready { "True" } else { "False" },
                    "lastTransitionTime": redis_operator::ports::clock::rfc3339(now),
                }]);
                status_changed = true;
            }
            drop(runtimes);
            if status_changed {
                let _ = self.api.update(Arc::unwrap_or_clone(next));
            }
        }
        // Servers of pods that are gone stop.
        let gone: Vec<((ObjectRef, String), PodRuntime)> = self
            .runtimes
            .borrow()
            .iter()
            .filter(|(key, _)| !present.contains(*key))
            .map(|(key, runtime)| (key.clone(), runtime.clone()))
            .collect();
        for (key, runtime) in gone {
            if let Some(ip) = &runtime.ip {
                self.redis.stop(ip);
            }
            self.runtimes.borrow_mut().remove(&key);
        }
    }

    fn update_statefulset_statuses(&self) {
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
            let status = json!({
                "replicas": pods.len(), "readyReplicas": ready, "updatedReplicas": updated,
                "currentRevision": revision, "updateRevision": revision,
                "observedGeneration": statefulset.at("/metadata/generation").cloned().unwrap_or(json!(1)),
            });
            if statefulset.get("status") != Some(&status) {
                let mut next = Value::clone(&statefulset);
                next["status"] = status;
                let _ = self.api.update(next);
            }
        }
    }

    fn start_server(&self, pod: &str, ip: &str, launch: &Launch) {
        self.redis.start(
            pod,
            ip,
            launch.port,
            launch.kind,
            launch.keep_data,
            launch.keep_identity,
        );
    }

    fn stop_pod_server(&self, pod: &Value) {
        if let Some(ip) = pod.at("/status/podIP").and_then(Value::as_str) {
            self.redis.stop(ip);
        }
    }

    /// The knobs the world runs with.
    pub fn settings(&self) -> WorldSettings {
        self.settings.borrow().clone()
    }

    /// A start latency drawn from the settings' range.
    fn start_latency(&self) -> Milliseconds {
        let settings = self.settings.borrow();
        let spread = settings
            .maximum_start_latency_milliseconds
            .saturating_sub(settings.minimum_start_latency_milliseconds);
        let jitter = if spread == 0 {
            0
        } else {
            self.random.next_below(spread / STEP_MILLISECONDS + 1) * STEP_MILLISECONDS
        };
        settings.minimum_start_latency_milliseconds + jitter
    }

    /// The nodes.
    pub fn nodes(&self) -> Vec<Node> {
        self.nodes.borrow().clone()
    }

    /// Replaces the nodes (before pods are scheduled).
    pub fn set_nodes(&self, nodes: Vec<Node>) {
        self.controllers_seen.set(None);
        *self.nodes.borrow_mut() = nodes;
    }

    /// Crashes a node: every server on it stops, its pods turn unready, and after the eviction
    /// timeout they are removed and recreated elsewhere. Returns false for an unknown node.
    pub fn crash_node(&self, name: &str) -> bool {
        let known = self.with_node(name, |node| node.up = false);
        if known {
            self.node_down_since
                .borrow_mut()
                .insert(name.to_owned(), self.clock.now());
            for pod in self.pods_on(name) {
                self.stop_pod_server(&pod);
            }
        }
        known
    }

    /// Brings a crashed node back: its remaining pods restart their containers.
    pub fn recover_node(&self, name: &str) -> bool {
        self.node_down_since.borrow_mut().remove(name);
        self.with_node(name, |node| node.up = true)
    }

    /// Marks a node unschedulable (or schedulable again).
    pub fn cordon_node(&self, name: &str, cordoned: bool) -> bool {
        self.with_node(name, |node| node.cordoned = cordoned)
    }

    /// One round of `kubectl drain`: cordons the node and asks the Eviction API to evict every
    /// pod on it. Returns the pods still on the node (evictions refused by a disruption budget
    /// are retried at the next round).
    pub fn drain_node_round(&self, name: &str) -> Vec<String> {
        self.cordon_node(name, true);
        let mut remaining = Vec::new();
        for pod in self.pods_on(name) {
            let Some(reference) = ObjectRef::of(&pod) else {
                continue;
            };
            if self.api.evict_now(&reference).is_err() {
                remaining.push(reference.name.clone());
            }
        }
        remaining
    }

    fn with_node(&self, name: &str, change: impl FnOnce(&mut Node)) -> bool {
        self.controllers_seen.set(None);
        let mut nodes = self.nodes.borrow_mut();
        match nodes.iter_mut().find(|node| node.name == name) {
            Some(node) => {
                change(node);
                true
            }
            None => false,
        }
    }

    /// The pods bound to `node`.
    pub fn pods_on(&self, node: &str) -> Vec<Arc<Value>> {
        self.api
            .objects(ResourceType::Pod)
            .into_iter()
            .filter(|pod| pod.at("/spec/nodeName").and_then(Value::as_str) == Some(node))
            .collect()
    }

    /// Crashes the server process of a pod; the kubelet restarts it at the same address.
    pub fn crash_process(&self, namespace: &str, name: &str) -> bool {
        let reference = ObjectRef::new(ResourceType::Pod, namespace, name);
        match self.api.object(&reference) {
            Some(pod) if pod.at("/status/podIP").is_some() => {
                self.stop_pod_server(&pod);
                true
            }
            _ => false,
        }
    }

    /// Deletes a pod as a crash or `kubectl delete pod` would: its server stops; the StatefulSet
    /// controller recreates it with a new address at the next step.
    pub fn kill_pod(&self, namespace: &str, name: &str) {
        let reference = ObjectRef::new(ResourceType::Pod, namespace, name);
        if let Some(pod) = self.api.object(&reference) {
            if let Some(ip) = pod.at("/status/podIP").and_then(Value::as_str) {
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
            .filter(|pod| pod.at("/metadata/labels/app").and_then(Value::as_str) == Some(app))
            .filter_map(|pod| {
                Some((
                    pod.at("/metadata/name")?.as_str()?.to_owned(),
                    pod.at("/status/podIP")?.as_str()?.to_owned(),
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
                self.acknowledged.borrow_mut().insert(
                    key,
                    AcknowledgedWrite {
                        value,
                        at: self.clock.now(),
                    },
                );
                acknowledged += 1;
            }
        }
        acknowledged
    }

    /// Acknowledged keys that can no longer be read with their value through `entry`.
    pub fn lost_keys(&self, entry: &str) -> Vec<String> {
        self.lost_among(entry, self.acknowledged.borrow().iter())
    }

    /// Those of `writes` that can no longer be read with their value through `entry`, read
    /// under one look at the fleet.
    pub fn lost_among<'write>(
        &self,
        entry: &str,
        writes: impl Iterator<Item = (&'write String, &'write AcknowledgedWrite)>,
    ) -> Vec<String> {
        self.redis.with_client_reads(entry, |read| {
            writes
                .filter(|(key, write)| read(key).as_deref() != Some(write.value.as_str()))
                .map(|(key, _)| key.clone())
                .collect()
        })
    }

    /// Merges `patch` into the CR's spec, as `kubectl patch --type merge` would.
    pub fn patch_spec(&self, target: &ObjectRef, patch: &Value) -> Result<(), ApiError> {
        let Some(mut object) = self.api.object(target).map(Arc::unwrap_or_clone) else {
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
                pod.at("/metadata/namespace").and_then(Value::as_str)
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
    pub fn objects(&self, resource: ResourceType) -> Vec<Arc<Value>> {
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
