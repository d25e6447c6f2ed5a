//! What the end-to-end tests and the footprint measurement share: the manifests of the project
//! (`crds/`, `deploy/examples/`) read and server-side applied, the operator run as its own process
//! (`redis-operator run`) against a [`ControlPlane`], and reads of pods and of the real servers
//! (`redis-cli`).
//!
//! What it must not do: reach anything outside 127.0.0.0/8 or leave the operator's process behind
//! (it is killed on drop, also when a test panics).

#![allow(dead_code)] // each test binary uses part of the harness

use std::io::{Read, Write};
use std::net::TcpStream;
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

use super::control_plane::{ControlPlane, default_nodes, free_port, log_tail};
use super::real_redis::output_with_input;

/// The field manager of the tests' own writes.
pub const TEST_MANAGER: &str = "redis-operator-e2e";
/// How often [`Cluster::wait_for`] looks again.
pub const POLL_PERIOD: Duration = Duration::from_millis(500);
/// Namespace of the examples.
pub const NAMESPACE: &str = "default";

/// The root of the package's checkout.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The YAML documents of a file, as JSON.
pub fn documents(path: &Path) -> Vec<Value> {
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
pub fn yaml_files(directory: &Path) -> Vec<PathBuf> {
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
pub async fn install_crds(client: &Client) {
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
pub fn api_for(
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
pub async fn apply(
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
pub struct Operator {
    child: Child,
    log: PathBuf,
    health_port: u16,
}

impl Operator {
    /// Starts `binary` (`redis-operator`) with `run`, leader election and the control plane's
    /// kubeconfig, metrics and health on free loopback ports, logging into the plane's directory.
    pub fn start(plane: &ControlPlane, binary: &Path) -> Operator {
        let log = plane.directory().join("operator.log");
        let file = std::fs::File::create(&log).unwrap();
        let health_port = free_port();
        let child = Command::new(binary)
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
            .unwrap_or_else(|error| {
                panic!(
                    "failed to start the operator process {}: {error}",
                    binary.display()
                )
            });
        Operator {
            child,
            log,
            health_port,
        }
    }

    /// The operator's process id.
    pub fn process_id(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the end of the operator's log when its process has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "the operator exited with {status}:\n{}",
                log_tail(&self.log, 60)
            );
        }
    }

    /// The last lines of the operator's log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log, 60)
    }

    /// The status line and body of a GET on the health endpoint, or why it could not be reached
    /// (the operator may not listen yet).
    pub fn health(&self, path: &str) -> String {
        let mut stream = match TcpStream::connect(("127.0.0.1", self.health_port)) {
            Ok(stream) => stream,
            Err(error) => {
                return format!(
                    "failed to connect to the health endpoint 127.0.0.1:{}: {error}",
                    self.health_port
                );
            }
        };
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
pub fn ready_condition(object: &DynamicObject) -> Option<(String, String)> {
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
pub fn redis_cli(address: &str, port: u16, password: Option<&str>, arguments: &[&str]) -> String {
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
pub fn info_field(reply: &str, field: &str) -> Option<String> {
    reply.lines().find_map(|line| {
        line.trim()
            .strip_prefix(&format!("{field}:"))
            .map(str::to_owned)
    })
}

/// The pods of the examples' namespace whose labels match `selector`.
pub async fn pods_with(client: &Client, selector: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    api.list(&ListParams::default().labels(selector))
        .await
        .unwrap()
        .items
}

/// Whether the pod's `Ready` condition is True.
pub fn pod_is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|condition| condition.type_ == "Ready" && condition.status == "True")
        })
}

/// The pod's address; fails when it has none.
pub fn pod_ip(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|status| status.pod_ip.clone())
        .unwrap_or_else(|| panic!("pod {} has no IP", pod.name_any()))
}

/// A control plane with the CRDs installed and the operator running.
pub struct Cluster {
    // Dropped first: the operator stops before the control plane.
    /// The operator's process.
    pub operator: Operator,
    /// A client of the API server.
    pub client: Client,
    /// The API server's kinds, the operator's CRDs included.
    pub discovery: Discovery,
    /// The control plane with its nodes and stand-in kubelet.
    pub plane: ControlPlane,
}

impl Cluster {
    /// Starts a control plane with the default nodes, installs the CRDs and starts the operator
    /// `binary`.
    pub async fn start(binary: &Path) -> Cluster {
        let started = Instant::now();
        let plane = ControlPlane::start(default_nodes()).await;
        let client = plane.client().await;
        install_crds(&client).await;
        let discovery = Discovery::new(client.clone()).run().await.unwrap();
        eprintln!("control plane up in {:?}", started.elapsed());
        let operator = Operator::start(&plane, binary);
        Cluster {
            operator,
            client,
            discovery,
            plane,
        }
    }

    /// Applies every document of the example `file` of `deploy/examples/`; returns the CRs.
    pub async fn apply_example(&self, file: &str) -> Vec<Value> {
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
    pub async fn live(&self, document: &Value) -> DynamicObject {
        let api = api_for(&self.client, &self.discovery, document, NAMESPACE);
        api.get(document["metadata"]["name"].as_str().unwrap())
            .await
            .unwrap()
    }

    /// Waits until every CR has `Ready=True` written for its current generation (so a Ready
    /// condition left from before a change does not count); fails after `limit` with what each
    /// says, the pods, the kubelet's errors and the operator's log.
    pub async fn wait_until_ready(&mut self, resources: &[Value], limit: Duration) {
        self.wait_for_ready_condition(resources, limit, true).await;
    }

    /// Waits until every CR has `Ready=True`, whichever generation it was written for.
    pub async fn wait_until_ready_in_any_generation(
        &mut self,
        resources: &[Value],
        limit: Duration,
    ) {
        self.wait_for_ready_condition(resources, limit, false).await;
    }

    async fn wait_for_ready_condition(
        &mut self,
        resources: &[Value],
        limit: Duration,
        current_generation: bool,
    ) {
        let started = Instant::now();
        loop {
            self.operator.assert_running();
            self.plane.assert_components_running();
            let mut waiting = Vec::new();
            for document in resources {
                let object = self.live(document).await;
                let generation = object.metadata.generation;
                let observed = object
                    .data
                    .pointer("/status/observedGeneration")
                    .and_then(Value::as_i64);
                match ready_condition(&object) {
                    Some((status, _))
                        if status == "True" && (!current_generation || observed == generation) => {}
                    condition => waiting.push(format!(
                        "{} {} (generation {generation:?}, observed {observed:?}): {condition:?}",
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

    /// Runs `check` every [`POLL_PERIOD`] until it gives a value; fails after `limit` naming
    /// `what`, the last problem `check` reported and [`Cluster::context`], and at once when the
    /// operator or a control plane component has exited.
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        limit: Duration,
        mut check: impl AsyncFnMut(&Cluster) -> Result<T, String>,
    ) -> T {
        let started = Instant::now();
        loop {
            self.operator.assert_running();
            self.plane.assert_components_running();
            match check(&*self).await {
                Ok(value) => return value,
                Err(problem) => assert!(
                    started.elapsed() < limit,
                    "{what}: not so {limit:?} later: {problem}\n{}",
                    self.context().await
                ),
            }
            tokio::time::sleep(POLL_PERIOD).await;
        }
    }

    /// What a failure should show: every pod (see [`Cluster::describe_pods`]) and the end of the
    /// operator's log.
    pub async fn context(&self) -> String {
        format!(
            "pods:\n{}\noperator log:\n{}",
            self.describe_pods().await,
            self.operator.log_tail()
        )
    }

    /// One line per pod: node, phase, address, readiness, labels.
    pub async fn describe_pods(&self) -> String {
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
    pub async fn selected_by(&self, name: &str) -> Vec<String> {
        self.selected_by_matching(name, false).await
    }

    /// The Ready pods the Service `name` selects, by name: those a Service routes to.
    pub async fn ready_selected_by(&self, name: &str) -> Vec<String> {
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
    pub async fn replication_masters(&self, app: &str, password: &str) -> Vec<(String, String)> {
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

/// Runs `redis-cli` against a pod address with `input` as its standard input (one command a
/// line), following cluster redirections when `cluster` is set; returns the replies, one a line,
/// without the `-> Redirected` notes redis-cli prints when it follows one.
pub fn redis_cli_with_input(address: &str, port: u16, cluster: bool, input: &str) -> Vec<String> {
    let mut command = Command::new("redis-cli");
    if cluster {
        command.arg("-c");
    }
    command.args(["-h", address, "-p", &port.to_string()]);
    let output = output_with_input(command, input);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.starts_with("-> Redirected"))
        .map(str::to_owned)
        .collect()
}
