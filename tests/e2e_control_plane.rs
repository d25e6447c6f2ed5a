//! End-to-end tests against a real Kubernetes control plane on loopback (etcd, kube-apiserver,
//! kube-controller-manager and kube-scheduler built from source by `scripts/build-control-plane`),
//! with the stand-in kubelet of `tests/support/kubelet.rs` running pods as real `redis-server`
//! processes, and the operator as its own process (`redis-operator run`).
//!
//! The tests start one control plane each and run one at a time (a 2-core machine runs one
//! control plane comfortably, not four).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Discovery;
use kube::{Client, ResourceExt};
use redis_operator::api::RECREATE_STATEFULSET_ANNOTATION;
use redis_operator::resources::names::LEADER_LEASE_NAME;
use serde_json::Value;
use support::control_plane::{ControlPlane, default_nodes, free_port, log_tail};

/// The field manager of the tests' own writes.
const TEST_MANAGER: &str = "redis-operator-e2e";
/// Namespace of the examples.
const NAMESPACE: &str = "default";
/// How long every example gets to become Ready.
const READY_LIMIT: Duration = Duration::from_secs(240);
/// How long sentinels may take to learn the replicas from the master they monitor.
const SENTINEL_DISCOVERY_LIMIT: Duration = Duration::from_secs(30);
/// How long a ready cluster's nodes may take to report cluster_state:ok.
const CLUSTER_STATE_LIMIT: Duration = Duration::from_secs(30);

/// One control plane at a time in this test binary.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The YAML documents of a file, as JSON.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("failed to read {}: {error}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|deserializer| {
            serde::Deserialize::deserialize(deserializer)
                .unwrap_or_else(|error| panic!("failed to parse {}: {error}", path.display()))
        })
        .filter(|document: &Value| !document.is_null())
        .collect()
}

/// The `.yaml` files under `directory`, recursively, sorted; kustomizations left out.
fn yaml_files(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("failed to read {}: {error}", directory.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if path
            .extension()
            .is_some_and(|extension| extension == "yaml")
            && path
                .file_name()
                .is_some_and(|name| name != "kustomization.yaml")
        {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Creates the operator's CRDs from `crds/` and waits until each is Established.
async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for path in yaml_files(&workspace_root().join("crds")) {
        for document in documents(&path) {
            let name = document["metadata"]["name"].as_str().unwrap().to_owned();
            api.patch(
                &name,
                &PatchParams::apply(TEST_MANAGER),
                &Patch::Apply(&document),
            )
            .await
            .unwrap_or_else(|error| panic!("failed to apply CRD {name}: {error}"));
            names.push(name);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for name in names {
        loop {
            let established = api.get(&name).await.ok().is_some_and(|crd| {
                crd.status
                    .and_then(|status| status.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|condition| condition.type_ == "Established" && condition.status == "True")
            });
            if established {
                break;
            }
            assert!(Instant::now() < deadline, "CRD {name} not Established");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// An API for the kind of `document` in `namespace` (ignored for cluster-scoped kinds).
fn api_for(
    client: &Client,
    discovery: &Discovery,
    document: &Value,
    namespace: &str,
) -> Api<DynamicObject> {
    let api_version = document["apiVersion"].as_str().unwrap_or_default();
    let kind = document["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let (resource, capabilities) = discovery
        .resolve_gvk(&GroupVersionKind::gvk(group, version, kind))
        .unwrap_or_else(|| panic!("the API server serves no {api_version} {kind}"));
    if capabilities.scope == kube::discovery::Scope::Namespaced {
        Api::namespaced_with(client.clone(), namespace, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    }
}

/// Server-side applies `document` (dry run or for real) with strict field validation.
async fn apply(
    client: &Client,
    discovery: &Discovery,
    document: &Value,
    namespace: &str,
    dry_run: bool,
) -> Result<DynamicObject, kube::Error> {
    let api = api_for(client, discovery, document, namespace);
    let name = document["metadata"]["name"].as_str().unwrap_or_default();
    let mut parameters = PatchParams::apply(TEST_MANAGER).validation_strict();
    if dry_run {
        parameters = parameters.dry_run();
    }
    let mut document = document.clone();
    if let Some(metadata) = document["metadata"].as_object_mut() {
        metadata.remove("namespace");
    }
    api.patch(name, &parameters, &Patch::Apply(&document)).await
}

/// The operator as its own process, killed on drop.
struct Operator {
    child: Child,
    log: PathBuf,
    health_port: u16,
}

impl Operator {
    fn start(plane: &ControlPlane) -> Operator {
        let log = plane.directory().join("operator.log");
        let file = std::fs::File::create(&log).unwrap();
        let health_port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_redis-operator"))
            .arg("run")
            .args(["--metrics-address", &format!("127.0.0.1:{}", free_port())])
            .args(["--health-address", &format!("127.0.0.1:{health_port}")])
            .args([
                "--leader-election",
                "--log-level",
                "info,redis_operator=debug",
            ])
            .env("KUBECONFIG", plane.kubeconfig())
            .env("POD_NAME", "operator-under-test")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("failed to start the operator process");
        Operator {
            child,
            log,
            health_port,
        }
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "the operator exited with {status}:\n{}",
                log_tail(&self.log, 60)
            );
        }
    }

    fn log_tail(&self) -> String {
        log_tail(&self.log, 60)
    }

    /// The status line and body of a GET on the health endpoint.
    fn health(&self, path: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.health_port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of the `Ready` condition of a custom resource, with its reason and message.
fn ready_condition(object: &DynamicObject) -> Option<(String, String)> {
    let conditions = object.data.pointer("/status/conditions")?.as_array()?;
    let ready = conditions
        .iter()
        .find(|condition| condition["type"] == "Ready")?;
    Some((
        ready["status"].as_str().unwrap_or_default().to_owned(),
        format!(
            "{}: {}",
            ready["reason"].as_str().unwrap_or_default(),
            ready["message"].as_str().unwrap_or_default()
        ),
    ))
}

/// Runs `redis-cli` against a pod address.
fn redis_cli(address: &str, port: u16, password: Option<&str>, arguments: &[&str]) -> String {
    let mut command = Command::new("redis-cli");
    command.args(["-h", address, "-p", &port.to_string()]);
    if let Some(password) = password {
        command.env("REDISCLI_AUTH", password);
    }
    let output = command
        .args(arguments)
        .output()
        .unwrap_or_else(|error| panic!("failed to run redis-cli: {error}"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The value of `field` in an INFO-style reply.
fn info_field(reply: &str, field: &str) -> Option<String> {
    reply.lines().find_map(|line| {
        line.trim()
            .strip_prefix(&format!("{field}:"))
            .map(str::to_owned)
    })
}

async fn pods_with(client: &Client, selector: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    api.list(&ListParams::default().labels(selector))
        .await
        .unwrap()
        .items
}

fn pod_is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|condition| condition.type_ == "Ready" && condition.status == "True")
        })
}

fn pod_ip(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|status| status.pod_ip.clone())
        .unwrap_or_else(|| panic!("pod {} has no IP", pod.name_any()))
}

/// Every document of the reference examples, `deploy/examples/` and the CRDs is accepted by the
/// real API server (server-side apply, dry run, strict field validation) once the CRDs are in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_and_example_manifests_are_accepted_by_the_api_server() {
    let _one = ONE_AT_A_TIME.lock().await;
    let plane = ControlPlane::start(default_nodes()).await;
    let client = plane.client().await;

    // The CRDs themselves, dry run first, then for real.
    let crd_files = yaml_files(&workspace_root().join("crds"));
    assert_eq!(crd_files.len(), 4, "{crd_files:?}");
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    for path in &crd_files {
        for document in documents(path) {
            apply(&client, &discovery, &document, NAMESPACE, true)
                .await
                .unwrap_or_else(|error| panic!("{} rejected: {error}", path.display()));
        }
    }
    install_crds(&client).await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();

    let reference = workspace_root().join("../shared/compat/reference-v1beta2");
    assert!(
        reference.is_dir(),
        "{} is missing: the compatibility corpus must sit beside the checkout",
        reference.display()
    );
    let mut files = yaml_files(&reference);
    files.extend(yaml_files(&workspace_root().join("deploy/examples")));
    let mut accepted = 0;
    let mut rejected = Vec::new();
    for path in &files {
        for document in documents(path) {
            match apply(&client, &discovery, &document, NAMESPACE, true).await {
                Ok(_) => accepted += 1,
                Err(error) => rejected.push(format!(
                    "{} {} {}: {error}",
                    path.display(),
                    document["kind"].as_str().unwrap_or_default(),
                    document["metadata"]["name"].as_str().unwrap_or_default()
                )),
            }
        }
    }
    assert!(
        rejected.is_empty(),
        "{} documents rejected ({accepted} accepted):\n{}",
        rejected.len(),
        rejected.join("\n")
    );
    assert!(accepted >= 70, "only {accepted} documents were checked");
    eprintln!("{accepted} documents from {} files accepted", files.len());
}

/// Kinds a rendering may hold whose API the bare control plane does not serve (they belong to
/// add-ons, e.g. the Prometheus operator's ServiceMonitor).
const ADD_ON_KINDS: &[&str] = &["ServiceMonitor"];

/// Every manifest `scripts/check-deploy` rendered from deploy/ (the CRD kustomization, the
/// kustomize base and overlay, the Helm chart with its defaults and value variants) is accepted by
/// the real API server: server-side apply, dry run, strict field validation, each object in its
/// own namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_deployment_manifests_are_accepted_by_the_api_server() {
    let rendered = workspace_root().join("target/deploy-rendered");
    assert!(
        rendered.is_dir(),
        "{} is missing: run scripts/check-deploy (scripts/test-all does) to render deploy/",
        rendered.display()
    );
    let files = yaml_files(&rendered);
    assert!(
        files.len() >= 5,
        "only {} renderings in {}",
        files.len(),
        rendered.display()
    );

    let _one = ONE_AT_A_TIME.lock().await;
    let plane = ControlPlane::start(default_nodes()).await;
    let client = plane.client().await;
    install_crds(&client).await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    // A dry run cannot create an object in a namespace that does not exist: the namespaces the
    // renderings use are created first.
    let mut namespaces: Vec<String> = files
        .iter()
        .flat_map(|path| documents(path))
        .filter_map(|document| {
            if document["kind"] == "Namespace" {
                document["metadata"]["name"].as_str().map(str::to_owned)
            } else {
                document["metadata"]["namespace"]
                    .as_str()
                    .map(str::to_owned)
            }
        })
        .collect();
    namespaces.sort();
    namespaces.dedup();
    for namespace in &namespaces {
        let document = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": { "name": namespace },
        });
        apply(&client, &discovery, &document, NAMESPACE, false)
            .await
            .unwrap_or_else(|error| panic!("failed to create namespace {namespace}: {error}"));
    }

    let mut accepted = 0;
    let mut add_ons = 0;
    let mut rejected = Vec::new();
    for path in &files {
        for document in documents(path) {
            let kind = document["kind"].as_str().unwrap_or_default().to_owned();
            if ADD_ON_KINDS.contains(&kind.as_str()) {
                add_ons += 1;
                continue;
            }
            let namespace = document["metadata"]["namespace"]
                .as_str()
                .unwrap_or(NAMESPACE)
                .to_owned();
            match apply(&client, &discovery, &document, &namespace, true).await {
                Ok(_) => accepted += 1,
                Err(error) => rejected.push(format!(
                    "{} {kind} {namespace}/{}: {error}",
                    path.display(),
                    document["metadata"]["name"].as_str().unwrap_or_default()
                )),
            }
        }
    }
    assert!(
        rejected.is_empty(),
        "{} rendered documents rejected ({accepted} accepted):\n{}",
        rejected.len(),
        rejected.join("\n")
    );
    assert!(
        accepted >= 50,
        "only {accepted} rendered documents were checked"
    );
    eprintln!(
        "{accepted} rendered documents from {} renderings accepted; {add_ons} of add-on kinds ({}) not checked",
        files.len(),
        ADD_ON_KINDS.join(", ")
    );
}

/// A control plane with the CRDs installed and the operator running.
struct Cluster {
    // Dropped first: the operator stops before the control plane.
    operator: Operator,
    client: Client,
    discovery: Discovery,
    plane: ControlPlane,
}

impl Cluster {
    async fn start() -> Cluster {
        let started = Instant::now();
        let plane = ControlPlane::start(default_nodes()).await;
        let client = plane.client().await;
        install_crds(&client).await;
        let discovery = Discovery::new(client.clone()).run().await.unwrap();
        eprintln!("control plane up in {:?}", started.elapsed());
        let operator = Operator::start(&plane);
        Cluster {
            operator,
            client,
            discovery,
            plane,
        }
    }

    /// Applies every document of the example `file` of `deploy/examples/`; returns the CRs.
    async fn apply_example(&self, file: &str) -> Vec<Value> {
        let path = workspace_root().join("deploy/examples").join(file);
        let mut resources = Vec::new();
        for document in documents(&path) {
            apply(&self.client, &self.discovery, &document, NAMESPACE, false)
                .await
                .unwrap_or_else(|error| panic!("{} rejected: {error}", path.display()));
            if document["apiVersion"]
                .as_str()
                .is_some_and(|version| version.starts_with("redis.redis.opstreelabs.in/"))
            {
                resources.push(document);
            }
        }
        resources
    }

    /// The live object of a CR document.
    async fn live(&self, document: &Value) -> DynamicObject {
        let api = api_for(&self.client, &self.discovery, document, NAMESPACE);
        api.get(document["metadata"]["name"].as_str().unwrap())
            .await
            .unwrap()
    }

    /// Waits until every CR has `Ready=True`; fails after `limit` with what each says, the pods,
    /// the kubelet's errors and the operator's log.
    async fn wait_until_ready(&mut self, resources: &[Value], limit: Duration) {
        let started = Instant::now();
        loop {
            self.operator.assert_running();
            self.plane.assert_components_running();
            let mut waiting = Vec::new();
            for document in resources {
                let object = self.live(document).await;
                match ready_condition(&object) {
                    Some((status, _)) if status == "True" => {}
                    condition => waiting.push(format!(
                        "{} {}: {condition:?}",
                        document["kind"],
                        object.name_any()
                    )),
                }
            }
            if waiting.is_empty() {
                return;
            }
            if started.elapsed() > limit {
                panic!(
                    "not Ready after {limit:?}:\n{}\npods:\n{}\nkubelet errors: {:#?}\noperator log:\n{}",
                    waiting.join("\n"),
                    self.describe_pods().await,
                    self.plane.kubelet().errors(),
                    self.operator.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// One line per pod: node, phase, address, readiness, labels.
    async fn describe_pods(&self) -> String {
        pods_with(&self.client, "")
            .await
            .iter()
            .map(|pod| {
                let status = pod.status.clone().unwrap_or_default();
                format!(
                    "{} node={:?} phase={:?} ip={:?} ready={:?} labels={:?}",
                    pod.name_any(),
                    pod.spec.as_ref().and_then(|spec| spec.node_name.clone()),
                    status.phase,
                    status.pod_ip,
                    status
                        .conditions
                        .unwrap_or_default()
                        .iter()
                        .find(|condition| condition.type_ == "Ready")
                        .map(|condition| condition.status.clone()),
                    pod.labels()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The pods the Service `name` selects, by name.
    async fn selected_by(&self, name: &str) -> Vec<String> {
        self.selected_by_matching(name, false).await
    }

    /// The Ready pods the Service `name` selects, by name: those a Service routes to.
    async fn ready_selected_by(&self, name: &str) -> Vec<String> {
        self.selected_by_matching(name, true).await
    }

    async fn selected_by_matching(&self, name: &str, only_ready: bool) -> Vec<String> {
        let services: Api<Service> = Api::namespaced(self.client.clone(), NAMESPACE);
        let selector = services
            .get(name)
            .await
            .unwrap()
            .spec
            .and_then(|spec| spec.selector)
            .unwrap_or_default();
        assert!(!selector.is_empty(), "Service {name} has no selector");
        let selector = selector
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut names: Vec<String> = pods_with(&self.client, &selector)
            .await
            .iter()
            .filter(|pod| !only_ready || pod_is_ready(pod))
            .map(ResourceExt::name_any)
            .collect();
        names.sort();
        names
    }

    /// The replication set's pods that say `role:master`, by name with their address.
    async fn replication_masters(&self, app: &str, password: &str) -> Vec<(String, String)> {
        let mut masters = Vec::new();
        for pod in pods_with(&self.client, &format!("app={app}")).await {
            let Some(address) = pod.status.as_ref().and_then(|status| status.pod_ip.clone()) else {
                continue;
            };
            let reply = redis_cli(&address, 6379, Some(password), &["info", "replication"]);
            if info_field(&reply, "role").as_deref() == Some("master") {
                masters.push((pod.name_any(), address));
            }
        }
        masters
    }
}

/// Every CR of `deploy/examples/` reaches Ready on the real control plane with real servers:
/// the standalone server answers, the replication set has one master with two replicas, the
/// master Service selects it alone, the sentinels monitor that master, and the cluster's six
/// nodes agree on a healthy cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_reaches_ready_with_real_servers() {
    let _one = ONE_AT_A_TIME.lock().await;
    let started = Instant::now();
    let mut cluster = Cluster::start().await;
    let mut resources = Vec::new();
    for path in yaml_files(&workspace_root().join("deploy/examples")) {
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        resources.extend(cluster.apply_example(&file).await);
    }
    assert_eq!(resources.len(), 4);
    let applied = Instant::now();
    cluster.wait_until_ready(&resources, READY_LIMIT).await;
    eprintln!(
        "every example Ready {:?} after it was applied ({:?} in all)",
        applied.elapsed(),
        started.elapsed()
    );
    let client = cluster.client.clone();

    // The operator holds the leader Lease and, its caches synced, says it is ready.
    let leases: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let holder = leases
        .get(LEADER_LEASE_NAME)
        .await
        .unwrap()
        .spec
        .and_then(|spec| spec.holder_identity)
        .unwrap_or_default();
    assert!(
        holder.starts_with("operator-under-test"),
        "the Lease is held by {holder:?}"
    );
    let ready = cluster.operator.health("/readyz");
    assert!(ready.starts_with("HTTP/1.1 200"), "/readyz: {ready}");

    // Standalone: the server answers on its pod's address.
    let cache = pods_with(&client, "app=cache").await;
    assert_eq!(cache.len(), 1);
    assert_eq!(
        redis_cli(&pod_ip(&cache[0]), 6379, None, &["ping"]).trim(),
        "PONG"
    );

    // Replication: one master with both replicas attached, selected alone by the master Service.
    let sessions = pods_with(&client, "app=sessions").await;
    assert_eq!(sessions.len(), 3);
    let masters = cluster.replication_masters("sessions", "change-me").await;
    assert_eq!(masters.len(), 1, "masters: {masters:?}");
    let (master, master_address) = masters[0].clone();
    let reply = redis_cli(
        &master_address,
        6379,
        Some("change-me"),
        &["info", "replication"],
    );
    assert_eq!(
        info_field(&reply, "connected_slaves").as_deref(),
        Some("2"),
        "{reply}"
    );
    assert_eq!(
        cluster.selected_by("sessions-master").await,
        vec![master.clone()]
    );

    // Sentinel: every sentinel monitors the replication set's master.
    let sentinels = pods_with(&client, "app=sessions-sentinel").await;
    assert_eq!(sentinels.len(), 3);
    for sentinel in &sentinels {
        let reply = redis_cli(
            &pod_ip(sentinel),
            26379,
            Some("change-me"),
            &["sentinel", "masters"],
        );
        assert!(
            reply.contains(&master_address),
            "sentinel {} does not monitor {master_address}: {reply}",
            sentinel.name_any()
        );
    }
    // The sentinels learn the replicas from the master's INFO, which the master answers only
    // to a client that authenticated: both replicas listed proves the auth-pass works.
    for sentinel in &sentinels {
        let deadline = Instant::now() + SENTINEL_DISCOVERY_LIMIT;
        let reply = loop {
            let reply = redis_cli(&pod_ip(sentinel), 26379, None, &["sentinel", "masters"]);
            if reply.contains("num-slaves\n2\n") || Instant::now() > deadline {
                break reply;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert!(
            reply.contains("num-slaves\n2\n"),
            "sentinel {} does not see both replicas of {master_address}: {reply}",
            sentinel.name_any()
        );
    }

    // Cluster: six nodes, every slot served, state ok.
    let leaders = pods_with(&client, "app=orders-leader").await;
    let followers = pods_with(&client, "app=orders-follower").await;
    assert_eq!((leaders.len(), followers.len()), (3, 3));
    // A master whose slots were just assigned reports cluster_state:fail until Redis's own
    // writable delay (about two seconds after it started) has passed; the operator may already
    // have reported Ready by then, so the state is polled for a bounded time.
    let deadline = Instant::now() + CLUSTER_STATE_LIMIT;
    let reply = loop {
        let reply = redis_cli(&pod_ip(&leaders[0]), 6379, None, &["cluster", "info"]);
        if info_field(&reply, "cluster_state").as_deref() == Some("ok") || Instant::now() > deadline
        {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        info_field(&reply, "cluster_state").as_deref(),
        Some("ok"),
        "{reply}"
    );
    assert_eq!(
        info_field(&reply, "cluster_slots_assigned").as_deref(),
        Some("16384"),
        "{reply}"
    );
    assert_eq!(
        info_field(&reply, "cluster_known_nodes").as_deref(),
        Some("6"),
        "{reply}"
    );
}

/// The master's process of the sentinel-watched replication set dies and stays down: the
/// sentinels promote a replica, the operator labels it so the master Service routes to it alone
/// (the down pod is not Ready), and when the old pod's server comes back it replicates from the
/// new master with every acknowledged key and the master Service selects the new master only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_fails_over_and_the_master_service_follows() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start().await;
    let mut resources = cluster.apply_example("redis-replication.yaml").await;
    // The example as it is: the sentinels have no password of their own and reach the
    // password-protected servers with the auth-pass the operator reads from
    // `redisReplicationPassword`.
    let sentinel =
        documents(&workspace_root().join("deploy/examples/redis-sentinel.yaml")).remove(0);
    apply(
        &cluster.client,
        &cluster.discovery,
        &sentinel,
        NAMESPACE,
        false,
    )
    .await
    .unwrap();
    resources.push(sentinel);
    cluster.wait_until_ready(&resources, READY_LIMIT).await;

    let masters = cluster.replication_masters("sessions", "change-me").await;
    assert_eq!(masters.len(), 1, "masters: {masters:?}");
    let (old_master, old_address) = masters[0].clone();
    assert_eq!(
        cluster.selected_by("sessions-master").await,
        vec![old_master.clone()]
    );
    let written = redis_cli(
        &old_address,
        6379,
        Some("change-me"),
        &[
            "eval",
            "for i=1,500 do redis.call('set','key:'..i,i) end return 500",
            "0",
        ],
    );
    assert_eq!(written.trim(), "500");
    let acknowledged = redis_cli(
        &old_address,
        6379,
        Some("change-me"),
        &["wait", "2", "5000"],
    );
    assert_eq!(
        acknowledged.trim(),
        "2",
        "both replicas acknowledge the keys"
    );

    let killed = Instant::now();
    cluster.plane.kubelet().hold_down(NAMESPACE, &old_master);
    let (new_master, new_address) = loop {
        cluster.operator.assert_running();
        let masters = cluster.replication_masters("sessions", "change-me").await;
        // The down pod may keep its label (nobody can ask it its role), but it is not Ready,
        // so the Service routes to the new master alone.
        let selected = cluster.ready_selected_by("sessions-master").await;
        if let [(name, address)] = masters.as_slice()
            && *name != old_master
            && selected == vec![name.clone()]
        {
            break (name.clone(), address.clone());
        }
        assert!(
            killed.elapsed() < Duration::from_secs(90),
            "no failover 90 s after {old_master} went down: masters {masters:?}, master Service routes to {selected:?}\npods:\n{}\noperator log:\n{}",
            cluster.describe_pods().await,
            cluster.operator.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!(
        "{new_master} is master and the only Ready pod the master Service selects {:?} after {old_master} went down",
        killed.elapsed()
    );
    let keys = redis_cli(&new_address, 6379, Some("change-me"), &["dbsize"]);
    assert_eq!(
        keys.trim(),
        "500",
        "the new master has every acknowledged key"
    );

    // The old master's server comes back (empty: no persistence) and follows the new master.
    cluster.plane.kubelet().release(NAMESPACE, &old_master);
    let released = Instant::now();
    loop {
        cluster.operator.assert_running();
        let address = pods_with(
            &cluster.client,
            &format!("statefulset.kubernetes.io/pod-name={old_master}"),
        )
        .await
        .first()
        .and_then(|pod| pod.status.as_ref()?.pod_ip.clone())
        .unwrap();
        let reply = redis_cli(&address, 6379, Some("change-me"), &["info", "replication"]);
        let size = redis_cli(&address, 6379, Some("change-me"), &["dbsize"]);
        if info_field(&reply, "role").as_deref() == Some("slave")
            && info_field(&reply, "master_host").as_deref() == Some(new_address.as_str())
            && info_field(&reply, "master_link_status").as_deref() == Some("up")
            && size.trim() == "500"
        {
            break;
        }
        assert!(
            released.elapsed() < Duration::from_secs(90),
            "{old_master} does not follow {new_master} 90 s after it came back: {reply}\noperator log:\n{}",
            cluster.operator.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Once the operator sees the old master's server as a replica, it relabels the pod.
    loop {
        let selected = cluster.selected_by("sessions-master").await;
        if selected == vec![new_master.clone()] {
            break;
        }
        assert!(
            released.elapsed() < Duration::from_secs(120),
            "the master Service still selects {selected:?}, not only {new_master}\noperator log:\n{}",
            cluster.operator.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    cluster.wait_until_ready(&resources, READY_LIMIT).await;
}

/// A change the API server refuses on a StatefulSet (a larger volume claim template) gets the
/// real 422: the operator reports it in a Warning Event and keeps the old StatefulSet; with the
/// recreate annotation it deletes the StatefulSet leaving its pod running and creates the new
/// one, which adopts the pod, and the CR is Ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_statefulset_update_is_reported_then_recreated_with_the_annotation() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start().await;
    let resources = cluster.apply_example("redis-standalone.yaml").await;
    cluster.wait_until_ready(&resources, READY_LIMIT).await;
    let statefulsets: Api<StatefulSet> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let original = statefulsets.get("cache").await.unwrap();
    let pod_before = pods_with(&cluster.client, "app=cache").await;
    assert_eq!(pod_before.len(), 1);
    let claim_size = |statefulset: &StatefulSet| {
        statefulset
            .spec
            .as_ref()
            .and_then(|spec| spec.volume_claim_templates.as_ref())
            .and_then(|templates| templates.first())
            .and_then(|claim| claim.spec.as_ref()?.resources.as_ref()?.requests.as_ref())
            .and_then(|requests| requests.get("storage"))
            .map(|quantity| quantity.0.clone())
    };
    assert_eq!(claim_size(&original).as_deref(), Some("1Gi"));

    // A larger claim template: the API server forbids that change of a StatefulSet.
    let redis = api_for(
        &cluster.client,
        &cluster.discovery,
        &resources[0],
        NAMESPACE,
    );
    redis
        .patch(
            "cache",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"storage": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "2Gi"}}}}}}})),
        )
        .await
        .unwrap();
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let changed = Instant::now();
    let rejection = loop {
        cluster.operator.assert_running();
        let found = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|event| event.reason.as_deref() == Some("UpdateRejected"));
        if let Some(event) = found {
            break event.note.unwrap_or_default();
        }
        assert!(
            changed.elapsed() < Duration::from_secs(60),
            "no UpdateRejected Event 60 s after the claim template grew\noperator log:\n{}",
            cluster.operator.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        rejection.contains("Forbidden") && rejection.contains("StatefulSet"),
        "the Event carries the API server's message: {rejection}"
    );
    let kept = statefulsets.get("cache").await.unwrap();
    assert_eq!(kept.metadata.uid, original.metadata.uid);
    assert_eq!(claim_size(&kept).as_deref(), Some("1Gi"));

    // With the annotation the StatefulSet is recreated around its running pod.
    redis
        .patch(
            "cache",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"annotations": {RECREATE_STATEFULSET_ANNOTATION: "true"}}})),
        )
        .await
        .unwrap();
    let annotated = Instant::now();
    loop {
        cluster.operator.assert_running();
        if let Some(recreated) = statefulsets.get_opt("cache").await.unwrap()
            && recreated.metadata.uid != original.metadata.uid
            && claim_size(&recreated).as_deref() == Some("2Gi")
        {
            break;
        }
        assert!(
            annotated.elapsed() < Duration::from_secs(60),
            "the StatefulSet was not recreated 60 s after the annotation\noperator log:\n{}",
            cluster.operator.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    cluster.wait_until_ready(&resources, READY_LIMIT).await;
    let pod_after = pods_with(&cluster.client, "app=cache").await;
    assert_eq!(
        pod_after
            .iter()
            .map(|pod| pod.metadata.uid.clone())
            .collect::<Vec<_>>(),
        pod_before
            .iter()
            .map(|pod| pod.metadata.uid.clone())
            .collect::<Vec<_>>(),
        "the pod kept running through the recreation"
    );
    let current = statefulsets.get("cache").await.unwrap().metadata.uid;
    let owner = pod_after[0]
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default();
    assert!(
        owner
            .iter()
            .any(|reference| Some(&reference.uid) == current.as_ref()),
        "the new StatefulSet adopted the pod: {owner:?}"
    );
}
