//! End-to-end tests against a real Kubernetes control plane on loopback (etcd, kube-apiserver,
//! kube-controller-manager and kube-scheduler built from source by `scripts/build-control-plane`),
//! with the stand-in kubelet of `tests/support/kubelet.rs` running pods as real `redis-server`
//! processes, and the operator as its own process (`redis-operator run`).
//!
//! The tests start one control plane each and run one at a time (a 2-core machine runs one
//! control plane comfortably, not four).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Discovery;
use kube::{Client, ResourceExt};
use serde_json::Value;
use support::control_plane::{ControlPlane, default_nodes, free_port, log_tail};

/// The field manager of the tests' own writes.
const TEST_MANAGER: &str = "redis-operator-e2e";
/// Namespace of the examples.
const NAMESPACE: &str = "default";
/// How long every example gets to become Ready.
const READY_LIMIT: Duration = Duration::from_secs(240);

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
}

impl Operator {
    fn start(plane: &ControlPlane) -> Operator {
        let log = plane.directory().join("operator.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_redis-operator"))
            .arg("run")
            .args(["--metrics-address", &format!("127.0.0.1:{}", free_port())])
            .args(["--health-address", &format!("127.0.0.1:{}", free_port())])
            .args([
                "--no-leader-election",
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
        Operator { child, log }
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

/// Every CR of `deploy/examples/` reaches Ready on the real control plane with real servers:
/// the standalone server answers, the replication set has one master with two replicas, the
/// sentinels monitor that master, and the cluster's six nodes agree on a healthy cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_reaches_ready_with_real_servers() {
    let _one = ONE_AT_A_TIME.lock().await;
    let started = Instant::now();
    let mut plane = ControlPlane::start(default_nodes()).await;
    let client = plane.client().await;
    install_crds(&client).await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    eprintln!("control plane up in {:?}", started.elapsed());
    let mut operator = Operator::start(&plane);

    let mut resources = Vec::new();
    for path in yaml_files(&workspace_root().join("deploy/examples")) {
        for document in documents(&path) {
            apply(&client, &discovery, &document, NAMESPACE, false)
                .await
                .unwrap_or_else(|error| panic!("{} rejected: {error}", path.display()));
            if document["kind"] != "Secret" {
                resources.push(document);
            }
        }
    }
    assert_eq!(resources.len(), 4);

    let examples_applied = Instant::now();
    loop {
        operator.assert_running();
        plane.assert_components_running();
        let mut waiting = Vec::new();
        for document in &resources {
            let api = api_for(&client, &discovery, document, NAMESPACE);
            let name = document["metadata"]["name"].as_str().unwrap();
            let object = api.get(name).await.unwrap();
            match ready_condition(&object) {
                Some((status, _)) if status == "True" => {}
                condition => waiting.push(format!("{} {name}: {condition:?}", document["kind"])),
            }
        }
        if waiting.is_empty() {
            break;
        }
        if examples_applied.elapsed() > READY_LIMIT {
            let pods = pods_with(&client, "").await;
            let pod_lines: Vec<String> = pods
                .iter()
                .map(|pod| {
                    let status = pod.status.clone().unwrap_or_default();
                    format!(
                        "{} node={:?} phase={:?} ip={:?} ready={:?}",
                        pod.name_any(),
                        pod.spec.as_ref().and_then(|spec| spec.node_name.clone()),
                        status.phase,
                        status.pod_ip,
                        status
                            .conditions
                            .unwrap_or_default()
                            .iter()
                            .find(|condition| condition.type_ == "Ready")
                            .map(|condition| condition.status.clone())
                    )
                })
                .collect();
            panic!(
                "not Ready after {READY_LIMIT:?}:\n{}\npods:\n{}\nkubelet errors: {:#?}\noperator log:\n{}",
                waiting.join("\n"),
                pod_lines.join("\n"),
                plane.kubelet().errors(),
                operator.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!(
        "every example Ready {:?} after it was applied ({:?} in all)",
        examples_applied.elapsed(),
        started.elapsed()
    );

    // Standalone: the server answers on its pod's address.
    let cache = pods_with(&client, "app=cache").await;
    assert_eq!(cache.len(), 1);
    assert_eq!(
        redis_cli(&pod_ip(&cache[0]), 6379, None, &["ping"]).trim(),
        "PONG"
    );

    // Replication: one master (labelled so) with both replicas attached, and the master
    // Service selects exactly that pod.
    let sessions = pods_with(&client, "app=sessions").await;
    assert_eq!(sessions.len(), 3);
    let mut masters = Vec::new();
    for pod in &sessions {
        let reply = redis_cli(
            &pod_ip(pod),
            6379,
            Some("change-me"),
            &["info", "replication"],
        );
        if info_field(&reply, "role").as_deref() == Some("master") {
            assert_eq!(
                info_field(&reply, "connected_slaves").as_deref(),
                Some("2"),
                "{reply}"
            );
            masters.push(pod.clone());
        }
    }
    assert_eq!(
        masters.len(),
        1,
        "masters: {:?}",
        masters
            .iter()
            .map(ResourceExt::name_any)
            .collect::<Vec<_>>()
    );
    let master = &masters[0];
    let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let master_service = services.get("sessions-master").await.unwrap();
    let selector = master_service
        .spec
        .and_then(|spec| spec.selector)
        .unwrap_or_default();
    let master_labels = master.labels();
    assert!(
        !selector.is_empty()
            && selector
                .iter()
                .all(|(key, value)| master_labels.get(key) == Some(value)),
        "master Service selector {selector:?} does not select master {} {master_labels:?}",
        master.name_any()
    );
    for pod in &sessions {
        if pod.name_any() != master.name_any() {
            let labels = pod.labels();
            assert!(
                !selector
                    .iter()
                    .all(|(key, value)| labels.get(key) == Some(value)),
                "the master Service also selects replica {}",
                pod.name_any()
            );
        }
    }

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
            reply.contains(&pod_ip(master)),
            "sentinel {} does not monitor {}: {reply}",
            sentinel.name_any(),
            pod_ip(master)
        );
    }

    // Cluster: six nodes, every slot served, state ok.
    let leaders = pods_with(&client, "app=orders-leader").await;
    let followers = pods_with(&client, "app=orders-follower").await;
    assert_eq!((leaders.len(), followers.len()), (3, 3));
    let reply = redis_cli(&pod_ip(&leaders[0]), 6379, None, &["cluster", "info"]);
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
    drop(operator);
}
