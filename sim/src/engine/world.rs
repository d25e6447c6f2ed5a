//! The world in which the operator's reconcile runs: the fake API server, the fake Redis fleet,
//! simulated time, the seeded generator, and the state of Kubernetes' controllers (the
//! StatefulSet controller, the scheduler, the kubelets and the node lifecycle, each in its own
//! file under `fakes/`), which `step` runs once per simulated second. Deterministic: one thread,
//! ordered maps, addresses from a counter.
//!
//! It holds the fakes and moves time; it decides nothing about when the operator runs (that is
//! `engine::controller`) or what a run must keep (the oracles).

use redis_operator::json_pointer::JsonPointer;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

use redis_operator::api::Kind;
use redis_operator::ports::clock::{Clock, Milliseconds};
use redis_operator::ports::kube::{ApiError, KubeApi, ObjectRef, ResourceType};
use redis_operator::reconcile::Context;
use redis_operator::reconcile::driver::{ReconcileError, ReconcileOutcome, reconcile};
use redis_operator::resources::names::MASTER_SUFFIX;
use serde_json::{Value, json};

use crate::engine::clock::SimulatedClock;
use crate::engine::controller::SimulatedController;
use crate::engine::random::SeededRandom;
use crate::fakes::api_server::FakeApiServer;
use crate::fakes::client_workload::AcknowledgedWrite;
use crate::fakes::kubelet::{Launch, PodRuntime};
pub use crate::fakes::node_lifecycle::default_nodes;
use crate::fakes::redis::FakeRedis;
use crate::fakes::scheduler::Node;
use crate::faults::clock_skew::SkewedClock;
use crate::faults::lost_replies::LostReplies;
use crate::faults::operator_crash::CrashSwitch;
use crate::faults::operator_ports::{FaultyKube, FaultyRedis};
use crate::faults::stale_reads::{LagSwitch, LaggingKube};

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
    /// The ports the operator runs against (with the operator-side faults between them and the
    /// fakes).
    pub context: Context,
    /// Crashes the operator after a number of writes.
    pub crash: CrashSwitch,
    /// Loses the replies of the operator's next writes.
    pub lost_replies: LostReplies,
    /// Makes the operator's reads stale.
    pub lag: LagSwitch,
    /// The operator's clock, skewed by the clock-skew fault.
    pub operator_clock: SkewedClock,
    /// Keys a client wrote and Redis acknowledged, with their values and when they were written.
    pub acknowledged: std::cell::RefCell<BTreeMap<String, AcknowledgedWrite>>,
    /// The seeded source of every random choice of the run.
    pub random: SeededRandom,
    pub(crate) settings: std::cell::RefCell<WorldSettings>,
    pub(crate) nodes: std::cell::RefCell<Vec<Node>>,
    pub(crate) node_down_since: std::cell::RefCell<BTreeMap<String, Milliseconds>>,
    pub(crate) launches: std::cell::RefCell<BTreeMap<ObjectRef, Launch>>,
    /// Revision names by StatefulSet uid and generation: the template is part of the spec, so
    /// it changes only with the generation, and hashing it whenever anything changed was a
    /// large part of the controllers' work.
    pub(crate) revisions: std::cell::RefCell<BTreeMap<(String, i64), String>>,
    pub(crate) runtimes: std::cell::RefCell<BTreeMap<(ObjectRef, String), PodRuntime>>,
    pub(crate) held_down: std::cell::RefCell<BTreeMap<String, u64>>,
    pub(crate) controllers_seen: Cell<Option<(u64, u64)>>,
    pub(crate) next_address: Cell<u32>,
}

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
    /// Images the registry does not have: a pod that needs one waits in ImagePullBackOff.
    pub missing_images: Vec<String>,
}

impl Default for WorldSettings {
    /// Pods start at once; nodes down for 300 s lose their pods, as with Kubernetes' defaults.
    fn default() -> Self {
        WorldSettings {
            minimum_start_latency_milliseconds: 0,
            maximum_start_latency_milliseconds: 0,
            node_eviction_timeout_milliseconds: 300_000,
            missing_images: Vec::new(),
        }
    }
}

pub use crate::fakes::api_server::pod_is_ready;

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
        let lost_replies = LostReplies::default();
        let lag = LagSwitch::default();
        let operator_clock = SkewedClock::over(clock.clone());
        let context = Context {
            kube: Arc::new(FaultyKube {
                inner: Arc::new(LaggingKube {
                    live: api.clone(),
                    switch: lag.clone(),
                }),
                crash: crash.clone(),
                lost: lost_replies.clone(),
            }),
            redis: Arc::new(FaultyRedis {
                inner: redis.clone(),
                crash: crash.clone(),
                lost: lost_replies.clone(),
            }),
            clock: Arc::new(operator_clock.clone()),
            designs: Arc::default(),
            cluster_tables: Arc::default(),
        };
        World {
            api,
            redis,
            clock,
            context,
            crash,
            lost_replies,
            lag,
            operator_clock,
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

    /// Runs the operator on `targets` through a fresh [`SimulatedController`] until they
    /// converge (see [`SimulatedController::converge`]); returns the rounds taken, or `None` when
    /// `maximum_steps` rounds were not enough.
    pub async fn converge(
        &self,
        targets: &[(Kind, ObjectRef)],
        maximum_steps: usize,
    ) -> Option<usize> {
        SimulatedController::watching(targets)
            .converge(self, maximum_steps)
            .await
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

    /// The controllers and the kubelet for one step: StatefulSets make pods, the scheduler binds
    /// them to nodes, the kubelet starts them after the start latency and reports readiness from
    /// the server's liveness, pods on nodes down for longer than the eviction timeout are removed.
    pub fn run_statefulsets(&self) {
        // Nothing to do when no object changed, no server started or stopped, and no timer of
        // the kubelets or the node lifecycle is running. What this pass writes counts as a
        // change for the next one, as a watch event would: a pod the kubelet reports ready lets
        // an OrderedReady set create its next pod, a pod deleted for a rolling update is created
        // again.
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
        self.controllers_seen.set(Some(seen));
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

    /// The knobs the world runs with.
    pub fn settings(&self) -> WorldSettings {
        self.settings.borrow().clone()
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

    /// Names of the ready pods the `-master` Service of `replication` selects, sorted: its
    /// endpoints, where clients' connections go (it does not publish pods that are not ready).
    pub fn master_service_endpoints(&self, replication: &ObjectRef) -> Vec<String> {
        let mut selected = self.master_service_pods(replication);
        selected.retain(|name| {
            self.api
                .object(&ObjectRef::new(
                    ResourceType::Pod,
                    &replication.namespace,
                    name,
                ))
                .is_some_and(|pod| crate::fakes::api_server::pod_is_ready(&pod))
        });
        selected
    }

    /// Names of the pods the `-master` Service of the replication set `replication` selects,
    /// sorted.
    pub fn master_service_pods(&self, replication: &ObjectRef) -> Vec<String> {
        self.pods_selected_by(&ObjectRef::new(
            ResourceType::Service,
            &replication.namespace,
            &format!("{}{MASTER_SUFFIX}", replication.name),
        ))
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
