//! Fidelity of the fake API server (`sim/src/api_server.rs`) against the real one: proptest
//! generates request sequences (create, server-side apply, update with a fresh or a stale
//! resourceVersion, status apply, delete with each propagation, finalizer removal, eviction,
//! list) over ConfigMaps, StatefulSets (valid and forbidden updates), Pods,
//! PodDisruptionBudgets and the operator's `Redis` resource, and sends each sequence to a fresh
//! `FakeApiServer` and, in a namespace of its own, to the real control plane of
//! `tests/support/control_plane.rs` through the production adapter. After every request it
//! compares the outcomes (success, or the error class and the API server's message) and then
//! the objects: existence, generation, labels, annotations, finalizers, owners, whether a
//! deletion is pending, and every field any request of the sequence wrote (volatile fields such
//! as uid, resourceVersion and timestamps are not compared; see the known limits below).
//!
//! Asynchronous controllers of the real control plane are waited for, not raced: objects are
//! compared until they agree or [`SETTLE_LIMIT`] passes (the garbage collector finishing a
//! deletion), and an eviction is sent only once the disruption controller has counted the
//! current pods. Pods use a scheduler name no scheduler serves, so they stay unbound: no kubelet
//! runs them and a deletion removes them at once, as the fake does.
//!
//! Known limits of the fake, kept out of the generated requests (docs/simulator.md):
//! - it applies no defaults, so every request sets the defaulted fields it varies
//!   (`replicas`, `podManagementPolicy`);
//! - it does not validate objects against their schemas (pods, CRDs): requests here are valid
//!   objects, and only StatefulSet updates are checked for forbidden changes;
//! - a budget's expected pods are the pods it selects, where Kubernetes asks their controllers
//!   for a percentage or `maxUnavailable`: budgets here use an integer `minAvailable`;
//! - one field manager: an update's ownership of fields is not tracked for a later apply;
//! - no admission: pods get no service account token volume, so a client's pod update (PUT),
//!   which Kubernetes refuses once it drops what admission added, is not generated (the
//!   operator never updates pods; the simulated kubelet writes back what it read);
//! - StatefulSets and budgets get status writes from the real controllers, so their stale
//!   updates are not generated either.
//!
//! `FIDELITY_SEQUENCES` sets the number of sequences (default 1000), `FIDELITY_SEED` the
//! generator's seed. Fails, naming what to build, when the control plane binary is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::PostParams;
use kube::core::Request;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use redis_operator::adapters::kube::{KubeAdapter, collection_path, send_request};
use redis_operator::ports::kube::{ApiError, KubeApi, ObjectRef, Propagation, ResourceType};
use redis_operator_sim::engine::clock::SimulatedClock;
use redis_operator_sim::fakes::api_server::FakeApiServer;
use serde_json::{Value, json};
use support::control_plane::ControlPlane;
use support::end_to_end::install_crds;

/// How long the real control plane's controllers get to agree with the fake after a request.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);
/// Between two looks at the real control plane while waiting.
const SETTLE_POLL: Duration = Duration::from_millis(20);
/// A scheduler name no scheduler serves: the test's pods stay unbound.
const NO_SCHEDULER: &str = "fidelity-unscheduled";
/// The finalizer requests put on objects to hold their deletion.
const FINALIZER: &str = "fidelity.example.com/hold";
/// Label every generated pod and most ConfigMaps carry; the budgets select it.
const APP: &str = "web";
/// Sequences by default.
const DEFAULT_SEQUENCES: u32 = 1000;
/// The generator's seed by default.
const DEFAULT_SEED: u64 = 20_261_127;

/// The kinds a sequence touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    ConfigMap,
    StatefulSet,
    Pod,
    Budget,
    Redis,
}

const KINDS: [Kind; 5] = [
    Kind::ConfigMap,
    Kind::StatefulSet,
    Kind::Pod,
    Kind::Budget,
    Kind::Redis,
];

impl Kind {
    fn resource(self) -> ResourceType {
        match self {
            Kind::ConfigMap => ResourceType::ConfigMap,
            Kind::StatefulSet => ResourceType::StatefulSet,
            Kind::Pod => ResourceType::Pod,
            Kind::Budget => ResourceType::PodDisruptionBudget,
            Kind::Redis => ResourceType::Redis,
        }
    }

    fn object_name(self, name: u8) -> String {
        let prefix = match self {
            Kind::ConfigMap => "config",
            Kind::StatefulSet => "set",
            Kind::Pod => "pod",
            Kind::Budget => "budget",
            Kind::Redis => "cache",
        };
        format!("{prefix}-{name}")
    }

    /// Variants of the body a write may send.
    fn variants(self) -> u8 {
        match self {
            Kind::ConfigMap => 5,
            Kind::StatefulSet => 6,
            Kind::Pod => 3,
            Kind::Budget => 3,
            Kind::Redis => 3,
        }
    }

    /// The labels a list of this kind selects by.
    fn list_selector(self) -> BTreeMap<String, String> {
        match self {
            Kind::ConfigMap | Kind::Pod => BTreeMap::from([("app".to_owned(), APP.to_owned())]),
            // StatefulSet lists would include nothing else; the real control plane's own pods
            // (created by the StatefulSet controller) are never listed.
            Kind::StatefulSet | Kind::Budget | Kind::Redis => BTreeMap::new(),
        }
    }
}

/// One generated request.
#[derive(Clone, Debug)]
enum Operation {
    Create(Kind, u8, u8),
    Apply(Kind, u8, u8),
    /// PUT with the resourceVersion read just before (`stale: false`) or the one the object was
    /// created with (`stale: true`).
    Update {
        kind: Kind,
        name: u8,
        variant: u8,
        stale: bool,
    },
    /// Server-side apply of a status variant (pods: Ready or not; Redis: a condition), without a
    /// resourceVersion, with the one read just before, or with the one the object was created
    /// with (refused once it changed).
    Status(Kind, u8, u8, Precondition),
    Delete(Kind, u8, Propagation),
    RemoveFinalizer(Kind, u8),
    Evict(u8),
    List(Kind),
}

impl Operation {
    /// The body variants this operation may send, for the compared fields.
    fn body(&self) -> Option<(Kind, u8, u8)> {
        match self {
            Operation::Create(kind, name, variant) | Operation::Apply(kind, name, variant) => {
                Some((*kind, *name, *variant))
            }
            Operation::Update {
                kind,
                name,
                variant,
                ..
            } => Some((*kind, *name, *variant)),
            _ => None,
        }
    }
}

/// The resourceVersion a write sends as its precondition.
#[derive(Clone, Copy, Debug)]
enum Precondition {
    None,
    Live,
    Stale,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop::sample::select(KINDS.to_vec())
}

fn written(kind: Kind) -> impl Strategy<Value = (Kind, u8, u8)> {
    (Just(kind), 0u8..2, 0u8..kind.variants())
}

fn operation() -> impl Strategy<Value = Operation> {
    let propagation = prop::sample::select(vec![
        Propagation::Background,
        Propagation::Foreground,
        Propagation::Orphan,
    ]);
    prop_oneof![
        3 => kind().prop_flat_map(written).prop_map(|(kind, name, variant)| Operation::Create(kind, name, variant)),
        4 => kind().prop_flat_map(written).prop_map(|(kind, name, variant)| Operation::Apply(kind, name, variant)),
        2 => (kind().prop_filter("stable resourceVersions, no admission-filled fields", |kind| matches!(kind, Kind::ConfigMap | Kind::Redis)).prop_flat_map(written), any::<bool>())
            .prop_map(|((kind, name, variant), stale)| Operation::Update { kind, name, variant, stale }),
        2 => (prop::sample::select(vec![Kind::Pod, Kind::Redis]), 0u8..2, 0u8..3, prop::sample::select(vec![Precondition::None, Precondition::Live, Precondition::Stale]))
            // A pod's resourceVersion moves on the real control plane as its controllers write it.
            .prop_map(|(kind, name, variant, precondition)| Operation::Status(kind, name, variant, if matches!(kind, Kind::Pod) { Precondition::None } else { precondition })),
        2 => (kind(), 0u8..2, propagation).prop_map(|(kind, name, propagation)| Operation::Delete(kind, name, propagation)),
        1 => (kind(), 0u8..2).prop_map(|(kind, name)| Operation::RemoveFinalizer(kind, name)),
        2 => (0u8..2).prop_map(Operation::Evict),
        1 => kind().prop_map(Operation::List),
    ]
}

/// The body a write sends; `owner` is the uid of `set-0` on the side that sends it, for the
/// ConfigMap variant owned by it.
fn body(kind: Kind, name: u8, variant: u8, namespace: &str, owner: Option<&str>) -> Value {
    let object_name = kind.object_name(name);
    let metadata =
        |labels: Value| json!({"name": object_name, "namespace": namespace, "labels": labels});
    match kind {
        Kind::ConfigMap => {
            let mut object = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": metadata(json!({"app": APP})),
                "data": {"mode": "a"},
            });
            match variant {
                1 => object["data"] = json!({"mode": "b", "extra": "x"}),
                2 => {
                    object["metadata"]["labels"] = json!({"tier": "cache"});
                    object["metadata"]["annotations"] = json!({"note": "kept"});
                    object.as_object_mut().unwrap().remove("data");
                }
                3 => object["metadata"]["finalizers"] = json!([FINALIZER]),
                4 => {
                    if let Some(uid) = owner {
                        object["metadata"]["ownerReferences"] = json!([{
                            "apiVersion": "apps/v1", "kind": "StatefulSet", "name": "set-0",
                            "uid": uid, "controller": true, "blockOwnerDeletion": true,
                        }]);
                    }
                }
                _ => {}
            }
            object
        }
        Kind::StatefulSet => {
            let app = format!("set-{name}");
            let mut object = json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": metadata(json!({"app": app})),
                "spec": {
                    "replicas": 0,
                    "serviceName": "set-headless",
                    "podManagementPolicy": "OrderedReady",
                    "selector": {"matchLabels": {"app": app}},
                    "template": {
                        "metadata": {"labels": {"app": app}},
                        "spec": {
                            "schedulerName": NO_SCHEDULER,
                            "containers": [{"name": "redis", "image": "redis:7.2"}],
                        },
                    },
                },
            });
            match variant {
                1 => object["spec"]["replicas"] = json!(1),
                2 => {
                    object["spec"]["template"]["spec"]["containers"][0]["image"] =
                        json!("redis:7.4")
                }
                3 => object["spec"]["serviceName"] = json!("other-headless"),
                4 => object["spec"]["podManagementPolicy"] = json!("Parallel"),
                5 => {
                    object["spec"]["volumeClaimTemplates"] = json!([{
                        "metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                    }]);
                }
                _ => {}
            }
            object
        }
        Kind::Pod => {
            let mut object = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": metadata(json!({"app": APP})),
                "spec": {
                    "schedulerName": NO_SCHEDULER,
                    "containers": [{"name": "redis", "image": "redis:7.2"}],
                },
            });
            match variant {
                1 => object["spec"]["containers"][0]["image"] = json!("redis:7.4"),
                2 => object["metadata"]["finalizers"] = json!([FINALIZER]),
                _ => {}
            }
            object
        }
        Kind::Budget => json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": metadata(json!({"app": APP})),
            "spec": {"minAvailable": variant, "selector": {"matchLabels": {"app": APP}}},
        }),
        Kind::Redis => {
            let image = if variant == 1 {
                "redis:7.4"
            } else {
                "redis:7.2"
            };
            let mut object = json!({
                "apiVersion": "redis.redis.opstreelabs.in/v1beta2", "kind": "Redis",
                "metadata": metadata(json!({"app": APP})),
                "spec": {"kubernetesConfig": {"image": image}},
            });
            if variant == 2 {
                object["metadata"]["finalizers"] = json!([FINALIZER]);
            }
            object
        }
    }
}

/// The status a status apply sends.
fn status_body(kind: Kind, variant: u8) -> Value {
    let ready = if variant == 1 { "False" } else { "True" };
    match kind {
        Kind::Pod => {
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]})
        }
        _ => json!({"conditions": [{
            "type": "Ready", "status": ready, "reason": if variant == 2 { "Scaling" } else { "Converged" },
            "message": "generated", "lastTransitionTime": "2026-01-01T00:00:00Z",
        }]}),
    }
}

/// What a request came to, as compared between the two servers.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    Listed(Vec<String>),
    Refused {
        class: &'static str,
        message: String,
    },
}

fn outcome<T>(result: Result<T, ApiError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Done,
        Err(error) => {
            let (class, message) = match error {
                ApiError::Conflict { message, .. } => ("Conflict", message),
                ApiError::Invalid { message, .. } => ("Invalid", message),
                ApiError::NotFound { .. } => ("NotFound", String::new()),
                ApiError::TooManyRequests { message, .. } => ("TooManyRequests", message),
                ApiError::Transient { message, .. } => ("Transient", message),
            };
            Outcome::Refused { class, message }
        }
    }
}

/// One server under test with the requests the port lacks (create and update).
enum Side {
    Fake(FakeApiServer),
    Real {
        adapter: Box<KubeAdapter>,
        client: Client,
    },
}

impl Side {
    fn api(&self) -> &dyn KubeApi {
        match self {
            Side::Fake(server) => server,
            Side::Real { adapter, .. } => adapter.as_ref(),
        }
    }

    async fn create(&self, object: Value) -> Result<Value, ApiError> {
        match self {
            Side::Fake(server) => server.create(object),
            Side::Real { client, .. } => {
                let reference = ObjectRef::of(&object).unwrap();
                let request =
                    Request::new(collection_path(reference.resource, &reference.namespace))
                        .create(&PostParams::default(), serde_json::to_vec(&object).unwrap());
                send_request(client, request, &reference.to_string(), "create").await
            }
        }
    }

    async fn update(&self, object: Value) -> Result<Value, ApiError> {
        match self {
            Side::Fake(server) => server.replace(object),
            Side::Real { client, .. } => {
                let reference = ObjectRef::of(&object).unwrap();
                let request =
                    Request::new(collection_path(reference.resource, &reference.namespace))
                        .replace(
                            &reference.name,
                            &PostParams::default(),
                            serde_json::to_vec(&object).unwrap(),
                        );
                send_request(client, request, &reference.to_string(), "update").await
            }
        }
    }

    /// Every object of `kind` in `namespace` by name (the real side's StatefulSet pods, which
    /// the fake has no controller to create, are left out).
    async fn objects(&self, kind: Kind, namespace: &str) -> BTreeMap<String, Value> {
        let listed = self
            .api()
            .list(kind.resource(), namespace, &BTreeMap::new())
            .await
            .unwrap_or_else(|error| panic!("failed to list {kind:?}: {error}"));
        listed
            .into_iter()
            .filter_map(|object| {
                let name = object.pointer("/metadata/name")?.as_str()?.to_owned();
                (0..2)
                    .any(|index| kind.object_name(index) == name)
                    .then(|| (name, Arc::unwrap_or_clone(object)))
            })
            .collect()
    }
}

/// What a side remembers between requests: the resourceVersion each object was created with.
#[derive(Default)]
struct Memory {
    created_versions: BTreeMap<(Kind, u8), String>,
}

impl Memory {
    /// Keeps the resourceVersion a successful creation returned.
    fn remember_creation(&mut self, kind: Kind, name: u8, result: &Result<Value, ApiError>) {
        if let Ok(created) = result
            && let Some(version) = created
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
        {
            self.created_versions
                .insert((kind, name), version.to_owned());
        }
    }
}

/// Sends `operation` to `side` and reports the outcome.
async fn perform(
    side: &Side,
    memory: &mut Memory,
    operation: &Operation,
    namespace: &str,
) -> Outcome {
    let api = side.api();
    let reference =
        |kind: Kind, name: u8| ObjectRef::new(kind.resource(), namespace, &kind.object_name(name));
    let owner_uid = async {
        api.get(&reference(Kind::StatefulSet, 0))
            .await
            .ok()
            .flatten()
            .and_then(|set| {
                set.pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
    };
    match operation {
        Operation::Create(kind, name, variant) => {
            let owner = owner_uid.await;
            let result = side
                .create(body(*kind, *name, *variant, namespace, owner.as_deref()))
                .await;
            memory.remember_creation(*kind, *name, &result);
            outcome(result)
        }
        Operation::Apply(kind, name, variant) => {
            let owner = owner_uid.await;
            let existed = api
                .get(&reference(*kind, *name))
                .await
                .ok()
                .flatten()
                .is_some();
            let result = api
                .apply(&body(*kind, *name, *variant, namespace, owner.as_deref()))
                .await;
            if !existed {
                memory.remember_creation(*kind, *name, &result);
            }
            outcome(result)
        }
        Operation::Update {
            kind,
            name,
            variant,
            stale,
        } => {
            let owner = owner_uid.await;
            let live = api.get(&reference(*kind, *name)).await.ok().flatten();
            let version = if *stale {
                memory.created_versions.get(&(*kind, *name)).cloned()
            } else {
                live.as_ref()
                    .and_then(|object| object.pointer("/metadata/resourceVersion"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let mut object = body(*kind, *name, *variant, namespace, owner.as_deref());
            if let Some(version) = version {
                object["metadata"]["resourceVersion"] = Value::from(version);
            }
            // An update replaces the whole object: the status it does not send is kept by
            // neither server for these kinds' main resource, so send the live one along.
            if let Some(status) = live.as_ref().and_then(|object| object.get("status")) {
                object["status"] = status.clone();
            }
            outcome(side.update(object).await)
        }
        Operation::Status(kind, name, variant, precondition) => {
            let version = match precondition {
                Precondition::None => None,
                Precondition::Live => api
                    .get(&reference(*kind, *name))
                    .await
                    .ok()
                    .flatten()
                    .and_then(|object| {
                        object
                            .pointer("/metadata/resourceVersion")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    }),
                Precondition::Stale => memory.created_versions.get(&(*kind, *name)).cloned(),
            };
            outcome(
                api.apply_status(
                    &reference(*kind, *name),
                    &status_body(*kind, *variant),
                    version.as_deref(),
                )
                .await,
            )
        }
        Operation::Delete(kind, name, propagation) => {
            outcome(api.delete(&reference(*kind, *name), *propagation).await)
        }
        Operation::RemoveFinalizer(kind, name) => outcome(
            api.remove_finalizer(&reference(*kind, *name), FINALIZER)
                .await,
        ),
        Operation::Evict(name) => outcome(api.evict(&reference(Kind::Pod, *name)).await),
        Operation::List(kind) => match api
            .list(kind.resource(), namespace, &kind.list_selector())
            .await
        {
            Ok(objects) => Outcome::Listed(
                objects
                    .iter()
                    .filter_map(|object| {
                        object
                            .pointer("/metadata/name")?
                            .as_str()
                            .map(str::to_owned)
                    })
                    .filter(|name| (0..2).any(|index| kind.object_name(index) == *name))
                    .collect(),
            ),
            Err(error) => outcome::<()>(Err(error)),
        },
    }
}

/// JSON pointers of every leaf of `value` (an empty object or array is a leaf).
fn leaf_paths(value: &Value, prefix: &str, paths: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                leaf_paths(
                    child,
                    &format!("{prefix}/{}", key.replace('~', "~0").replace('/', "~1")),
                    paths,
                );
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (index, child) in items.iter().enumerate() {
                leaf_paths(child, &format!("{prefix}/{index}"), paths);
            }
        }
        _ => {
            paths.insert(prefix.to_owned());
        }
    }
}

/// The compared fields of each kind: every field outside `metadata` some request of the
/// sequence writes.
fn vocabulary(sequence: &[Operation]) -> BTreeMap<Kind, BTreeSet<String>> {
    let mut paths: BTreeMap<Kind, BTreeSet<String>> = BTreeMap::new();
    for operation in sequence {
        let mut add = |kind: Kind, value: &Value, prefix: &str| {
            let entry = paths.entry(kind).or_default();
            leaf_paths(value, prefix, entry);
        };
        if let Some((kind, name, variant)) = operation.body() {
            let mut object = body(kind, name, variant, "namespace", Some("uid"));
            object.as_object_mut().unwrap().remove("metadata");
            add(kind, &object, "");
        }
        if let Operation::Status(kind, _, variant, _) = operation {
            add(*kind, &status_body(*kind, *variant), "/status");
        }
    }
    paths
}

/// What is compared of one object.
fn projection(object: &Value, paths: Option<&BTreeSet<String>>) -> Value {
    let metadata = |field: &str| {
        object
            .pointer(&format!("/metadata/{field}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let owners: Vec<Value> = object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|owners| {
            owners
                .iter()
                .map(|owner| json!([owner["kind"], owner["name"], owner["controller"]]))
                .collect()
        })
        .unwrap_or_default();
    let fields: BTreeMap<String, Value> = paths
        .into_iter()
        .flatten()
        .map(|path| {
            (
                path.clone(),
                object.pointer(path).cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    json!({
        "generation": metadata("generation"),
        "labels": metadata("labels"),
        "annotations": metadata("annotations"),
        "finalizers": metadata("finalizers"),
        "owners": owners,
        "deleting": object.pointer("/metadata/deletionTimestamp").is_some(),
        "fields": fields,
    })
}

async fn projections(
    side: &Side,
    namespace: &str,
    vocabulary: &BTreeMap<Kind, BTreeSet<String>>,
) -> BTreeMap<(Kind, String), Value> {
    let mut all = BTreeMap::new();
    for kind in KINDS {
        for (name, object) in side.objects(kind, namespace).await {
            all.insert((kind, name), projection(&object, vocabulary.get(&kind)));
        }
    }
    all
}

/// Waits until the disruption controller has counted the current pods for every budget.
async fn wait_for_budgets(real: &Side, namespace: &str) -> Result<(), String> {
    let deadline = Instant::now() + SETTLE_LIMIT;
    loop {
        let pods = real.objects(Kind::Pod, namespace).await;
        let budgets = real.objects(Kind::Budget, namespace).await;
        let healthy = pods
            .values()
            .filter(|pod| redis_operator_sim::fakes::api_server::pod_is_ready(pod))
            .count();
        let settled = budgets.values().all(|budget| {
            budget.pointer("/status/observedGeneration") == budget.pointer("/metadata/generation")
                && budget
                    .pointer("/status/currentHealthy")
                    .and_then(Value::as_u64)
                    == Some(healthy as u64)
        });
        if settled {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the disruption controller did not count {healthy} healthy pods in {SETTLE_LIMIT:?}: {budgets:?}"
            ));
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

/// Runs one sequence on both servers; the error names the request and the difference.
async fn check_sequence(
    client: &Client,
    namespace: &str,
    sequence: &[Operation],
) -> Result<(), String> {
    create_namespace(client, namespace).await;
    let fake = Side::Fake(FakeApiServer::new(Arc::new(SimulatedClock::new())));
    let real = Side::Real {
        adapter: Box::new(KubeAdapter::new(client.clone(), None)),
        client: client.clone(),
    };
    let vocabulary = vocabulary(sequence);
    let (mut fake_memory, mut real_memory) = (Memory::default(), Memory::default());
    let result = async {
        for (step, operation) in sequence.iter().enumerate() {
            if matches!(operation, Operation::Evict(_)) {
                wait_for_budgets(&real, namespace).await?;
            }
            if status_of_a_terminating_pod(&fake, operation, namespace).await {
                // The real pod garbage collector marks a terminating pod that no node runs
                // Failed, and merges status conditions by type; the fake models neither (see
                // docs/simulator.md), and the operator never writes a pod's status.
                continue;
            }
            let fake_outcome = perform(&fake, &mut fake_memory, operation, namespace).await;
            let real_outcome = perform(&real, &mut real_memory, operation, namespace).await;
            if fake_outcome != real_outcome {
                return Err(format!(
                    "step {step} {operation:?}: the fake answered {fake_outcome:?}, the API server {real_outcome:?}"
                ));
            }
            let expected = projections(&fake, namespace, &vocabulary).await;
            let deadline = Instant::now() + SETTLE_LIMIT;
            loop {
                let actual = projections(&real, namespace, &vocabulary).await;
                if actual == expected {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "step {step} {operation:?}: objects differ after {SETTLE_LIMIT:?}\nfake: {}\nreal: {}",
                        describe(&expected),
                        describe(&actual)
                    ));
                }
                tokio::time::sleep(SETTLE_POLL).await;
            }
        }
        Ok(())
    }
    .await;
    delete_namespace(client, namespace).await;
    result
}

/// Whether `operation` applies the status of a pod whose deletion was requested.
async fn status_of_a_terminating_pod(side: &Side, operation: &Operation, namespace: &str) -> bool {
    let Operation::Status(Kind::Pod, name, ..) = operation else {
        return false;
    };
    let reference = ObjectRef::new(
        Kind::Pod.resource(),
        namespace,
        &Kind::Pod.object_name(*name),
    );
    side.api()
        .get(&reference)
        .await
        .ok()
        .flatten()
        .is_some_and(|pod| pod.pointer("/metadata/deletionTimestamp").is_some())
}

fn describe(projections: &BTreeMap<(Kind, String), Value>) -> String {
    projections
        .iter()
        .map(|((kind, name), value)| format!("  {kind:?} {name}: {value}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A namespace with its `default` ServiceAccount (created here rather than waited for: pods
/// need it at admission).
async fn create_namespace(client: &Client, namespace: &str) {
    for (path, object) in [
        (
            "/api/v1/namespaces".to_owned(),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        ),
        (
            format!("/api/v1/namespaces/{namespace}/serviceaccounts"),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}}),
        ),
    ] {
        let request =
            Request::new(path).create(&PostParams::default(), serde_json::to_vec(&object).unwrap());
        match send_request(client, request, namespace, "create").await {
            Ok(_) | Err(ApiError::Conflict { .. }) => {}
            Err(error) => panic!("failed to prepare namespace {namespace}: {error}"),
        }
    }
}

async fn delete_namespace(client: &Client, namespace: &str) {
    let request = Request::new("/api/v1/namespaces").delete(namespace, &Default::default());
    if let Err(error) = send_request(client, request, namespace, "delete").await {
        panic!("failed to delete namespace {namespace}: {error}");
    }
}

/// Waits until the control plane serves the operator's resources completely: right after their
/// CRDs are Established, lists may still answer 429 while the storage initialises, and the
/// garbage collector learns of new resources only at its next discovery (a foreground deletion
/// waits for it). A probe object is deleted in the foreground until it goes.
async fn wait_until_served(client: &Client) {
    let adapter = KubeAdapter::new(client.clone(), None);
    let deadline = Instant::now() + Duration::from_secs(120);
    let probe = body(Kind::Redis, 9, 0, "default", None);
    let reference = ObjectRef::of(&probe).unwrap();
    loop {
        let gone = async {
            adapter.apply(&probe).await?;
            adapter.delete(&reference, Propagation::Foreground).await?;
            let wait_until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < wait_until {
                if adapter.get(&reference).await?.is_none() {
                    return Ok(true);
                }
                tokio::time::sleep(SETTLE_POLL).await;
            }
            Ok::<bool, ApiError>(false)
        }
        .await;
        match gone {
            Ok(true) => return,
            Ok(false) | Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            outcome => panic!(
                "the control plane did not serve and collect Redis resources within two minutes of installing the CRDs: {outcome:?}"
            ),
        }
    }
}

fn environment_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {text:?}")),
        Err(_) => default,
    }
}

#[test]
fn the_fake_api_server_answers_generated_requests_like_the_real_one() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let plane = runtime.block_on(ControlPlane::start(Vec::new()));
    let client = runtime.block_on(plane.client());
    runtime.block_on(install_crds(&client));
    runtime.block_on(wait_until_served(&client));
    let sequences = u32::try_from(environment_number(
        "FIDELITY_SEQUENCES",
        u64::from(DEFAULT_SEQUENCES),
    ))
    .unwrap();
    let seed = environment_number("FIDELITY_SEED", DEFAULT_SEED);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: sequences,
            failure_persistence: None,
            max_shrink_iters: 256,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let counter = AtomicU64::new(0);
    let started = Instant::now();
    let result = runner.run(&prop::collection::vec(operation(), 1..10), |sequence| {
        let namespace = format!("fidelity-{}", counter.fetch_add(1, Ordering::Relaxed));
        runtime
            .block_on(check_sequence(&client, &namespace, &sequence))
            .map_err(TestCaseError::fail)
    });
    let ran = counter.load(Ordering::Relaxed);
    eprintln!(
        "{ran} sequences (with shrinking) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if let Err(failure) = result {
        panic!("the fake API server differs from the real one: {failure}");
    }
}
