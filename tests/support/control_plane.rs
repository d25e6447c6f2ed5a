//! A real Kubernetes control plane on loopback for end-to-end tests: etcd, kube-apiserver,
//! kube-controller-manager and kube-scheduler, each its own process of the program
//! `scripts/build-control-plane` builds from source (`target/control-plane/control-plane`), on
//! free ports of 127.0.0.1 in a temporary directory; Node objects labelled with zones; and the
//! stand-in kubelet of `tests/support/kubelet.rs`, which runs the pods bound to those nodes as
//! real `redis-server` processes.
//!
//! What it must not do: reach anything outside 127.0.0.0/8, leave a process behind (everything
//! is killed on drop, also when the test panics), or skip when the control plane binary is
//! missing (it fails naming `scripts/build-control-plane`).
//!
//! Choices, so the tests stay small and fast:
//! - The API server authenticates one static token (user `admin`, group `system:masters`); the
//!   controller manager, the scheduler, the kubelet and the operator all use it. Its serving
//!   certificate is the self-signed one it generates in `--cert-dir`; the kubeconfig trusts it.
//! - The node lifecycle controller is disabled: nodes are created Ready (status set once through
//!   `nodes/status`, the not-ready taint the API server adds on creation removed) and nothing
//!   marks them otherwise, so no Lease or heartbeat is needed.
//! - Controllers: service accounts and their tokens, namespaces, garbage collector, StatefulSet,
//!   disruption, endpoints, EndpointSlices, PersistentVolume binding and protection, the root CA
//!   publisher and the pod garbage collector. Nothing that needs a cloud or a real kubelet.
//! - EndpointSlices and Endpoints cannot hold loopback addresses (the API server rejects them),
//!   so Services of the pods get no endpoints here: tests check Service selectors against pod
//!   labels instead.

#![allow(dead_code)] // each test binary uses part of the harness

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

use super::kubelet::Kubelet;
use super::real_redis::temporary_directory;

/// The command that builds the control plane binary.
pub const BUILD_COMMAND: &str = "scripts/build-control-plane";
/// The static token every client of the test control plane presents.
pub const ADMIN_TOKEN: &str = "redis-operator-e2e-admin-token";
/// Label of a node's zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Label of a node's name.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// How long etcd and the API server get to become ready.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// The controllers the controller manager runs.
const CONTROLLERS: &[&str] = &[
    "serviceaccount-token-controller",
    "serviceaccount-controller",
    "namespace-controller",
    "garbage-collector-controller",
    "statefulset-controller",
    "disruption-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "persistentvolume-binder-controller",
    "persistentvolumeclaim-protection-controller",
    "persistentvolume-protection-controller",
    "root-ca-certificate-publisher-controller",
    "pod-garbage-collector-controller",
];

/// One node of the test cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestNode {
    /// Node name.
    pub name: String,
    /// Value of `topology.kubernetes.io/zone`.
    pub zone: String,
}

/// Six nodes, two in each of three zones (as the simulator's default): enough for a three-shard
/// cluster with one replica per shard spread by zone.
pub fn default_nodes() -> Vec<TestNode> {
    ["a", "b", "c"]
        .iter()
        .flat_map(|zone| {
            (1..=2).map(move |number| TestNode {
                name: format!("node-{zone}{number}"),
                zone: format!("zone-{zone}"),
            })
        })
        .collect()
}

/// The control plane binary, or a failure naming the command that builds it.
pub fn control_plane_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let binary = root.join("target/control-plane/control-plane");
    assert!(
        binary.is_file(),
        "{} is missing: build the Kubernetes control plane with `{BUILD_COMMAND}` (scripts/test-all runs it)",
        binary.display()
    );
    binary
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("failed to bind an ephemeral port on 127.0.0.1")
}

/// One component process, killed on drop.
struct Component {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Component {
    fn start(
        binary: &Path,
        name: &'static str,
        arguments: &[String],
        directory: &Path,
    ) -> Component {
        let log = directory.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("failed to create a component log file");
        let child = Command::new(binary)
            .arg(name)
            .args(arguments)
            .current_dir(directory)
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                file.try_clone().expect("failed to share a log file"),
            ))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|error| {
                panic!("failed to start {name} ({}): {error}", binary.display())
            });
        Component { name, child, log }
    }

    /// Fails with the end of the log when the process has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited with {status}:\n{}",
                self.name,
                log_tail(&self.log, 40)
            );
        }
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `lines` lines of a log file.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A running control plane with its nodes and stand-in kubelet.
pub struct ControlPlane {
    directory: PathBuf,
    kubeconfig: PathBuf,
    server: String,
    nodes: Vec<TestNode>,
    // Dropped first: the kubelet stops its pods while the API server still answers.
    kubelet: Option<Kubelet>,
    // Killed in reverse start order: scheduler, controller manager, API server, etcd.
    components: Vec<Component>,
}

impl ControlPlane {
    /// Starts etcd, the API server, the controller manager and the scheduler, creates `nodes`
    /// Ready, starts the stand-in kubelet for them, and waits until the API server is ready and
    /// the `default` ServiceAccount exists (the controllers run).
    pub async fn start(nodes: Vec<TestNode>) -> ControlPlane {
        let binary = control_plane_binary();
        super::real_redis::require_binary("redis-server");
        let directory = temporary_directory("control-plane");
        let mut plane = ControlPlane {
            directory: directory.clone(),
            kubeconfig: directory.join("kubeconfig"),
            server: String::new(),
            nodes: nodes.clone(),
            kubelet: None,
            components: Vec::new(),
        };

        // etcd
        let etcd_client_port = free_port();
        let etcd_peer_port = free_port();
        let etcd_client = format!("http://127.0.0.1:{etcd_client_port}");
        let etcd_peer = format!("http://127.0.0.1:{etcd_peer_port}");
        plane.components.push(Component::start(
            &binary,
            "etcd",
            &[
                "--name=test".to_owned(),
                format!("--data-dir={}", directory.join("etcd").display()),
                format!("--listen-client-urls={etcd_client}"),
                format!("--advertise-client-urls={etcd_client}"),
                format!("--listen-peer-urls={etcd_peer}"),
                format!("--initial-advertise-peer-urls={etcd_peer}"),
                format!("--initial-cluster=test={etcd_peer}"),
                // Test data need not survive a power cut; fsync on a shared disk is slow.
                "--unsafe-no-fsync=true".to_owned(),
                "--log-level=warn".to_owned(),
            ],
            &directory,
        ));

        // Keys and credentials.
        let service_account_key = directory.join("service-account.key");
        let service_account_public_key = directory.join("service-account.pub");
        run_openssl(&[
            "genrsa",
            "-out",
            &service_account_key.display().to_string(),
            "2048",
        ]);
        run_openssl(&[
            "rsa",
            "-in",
            &service_account_key.display().to_string(),
            "-pubout",
            "-out",
            &service_account_public_key.display().to_string(),
        ]);
        let token_file = directory.join("tokens.csv");
        std::fs::write(
            &token_file,
            format!("{ADMIN_TOKEN},admin,admin,\"system:masters\"\n"),
        )
        .expect("failed to write the token file");

        // kube-apiserver
        let api_port = free_port();
        plane.server = format!("https://127.0.0.1:{api_port}");
        let certificate_directory = directory.join("apiserver-certificates");
        plane.components.push(Component::start(
            &binary,
            "kube-apiserver",
            &[
                format!("--etcd-servers={etcd_client}"),
                "--bind-address=127.0.0.1".to_owned(),
                "--advertise-address=127.0.0.1".to_owned(),
                format!("--secure-port={api_port}"),
                format!("--cert-dir={}", certificate_directory.display()),
                format!("--token-auth-file={}", token_file.display()),
                "--authorization-mode=RBAC".to_owned(),
                format!(
                    "--service-account-key-file={}",
                    service_account_public_key.display()
                ),
                format!(
                    "--service-account-signing-key-file={}",
                    service_account_key.display()
                ),
                "--service-account-issuer=https://kubernetes.default.svc".to_owned(),
                "--service-cluster-ip-range=10.96.0.0/16".to_owned(),
                // One client, few requests: fairness queues only add latency here.
                "--enable-priority-and-fairness=false".to_owned(),
                "--v=1".to_owned(),
            ],
            &directory,
        ));
        let certificate = certificate_directory.join("apiserver.crt");
        let deadline = Instant::now() + START_TIMEOUT;
        while !certificate.is_file() {
            plane.assert_components_running();
            assert!(
                Instant::now() < deadline,
                "kube-apiserver wrote no serving certificate in {START_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        std::fs::write(
            &plane.kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\n    certificate-authority: {}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: admin\n    namespace: default\ncurrent-context: test\nusers:\n- name: admin\n  user:\n    token: {ADMIN_TOKEN}\n",
                plane.server,
                certificate.display()
            ),
        )
        .expect("failed to write the kubeconfig");
        plane.wait_until_api_ready(deadline).await;

        // kube-controller-manager and kube-scheduler
        let kubeconfig = plane.kubeconfig.display().to_string();
        plane.components.push(Component::start(
            &binary,
            "kube-controller-manager",
            &[
                format!("--kubeconfig={kubeconfig}"),
                format!("--authentication-kubeconfig={kubeconfig}"),
                format!("--authorization-kubeconfig={kubeconfig}"),
                "--bind-address=127.0.0.1".to_owned(),
                format!("--secure-port={}", free_port()),
                "--leader-elect=false".to_owned(),
                format!("--controllers={}", CONTROLLERS.join(",")),
                format!(
                    "--service-account-private-key-file={}",
                    service_account_key.display()
                ),
                format!("--root-ca-file={}", certificate.display()),
                "--use-service-account-credentials=false".to_owned(),
                "--v=1".to_owned(),
            ],
            &directory,
        ));
        plane.components.push(Component::start(
            &binary,
            "kube-scheduler",
            &[
                format!("--kubeconfig={kubeconfig}"),
                format!("--authentication-kubeconfig={kubeconfig}"),
                format!("--authorization-kubeconfig={kubeconfig}"),
                "--bind-address=127.0.0.1".to_owned(),
                format!("--secure-port={}", free_port()),
                "--leader-elect=false".to_owned(),
                "--v=1".to_owned(),
            ],
            &directory,
        ));

        let client = plane.client().await;
        create_ready_nodes(&client, &nodes).await;
        plane.kubelet = Some(Kubelet::start(
            plane.kubeconfig.clone(),
            directory.join("kubelet"),
            nodes.iter().map(|node| node.name.clone()).collect(),
        ));

        // The ServiceAccount controller creates `default` in every namespace; pods cannot be
        // created before it exists.
        let accounts: Api<ServiceAccount> = Api::namespaced(client, "default");
        while accounts.get_opt("default").await.ok().flatten().is_none() {
            plane.assert_components_running();
            assert!(
                Instant::now() < deadline,
                "the controller manager created no `default` ServiceAccount in {START_TIMEOUT:?}:\n{}",
                plane.log_tail("kube-controller-manager", 40)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        plane
    }

    /// The kubeconfig file (token auth, trusting the API server's certificate).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The API server's URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The temporary directory holding logs, data and pods.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// The nodes.
    pub fn nodes(&self) -> &[TestNode] {
        &self.nodes
    }

    /// The stand-in kubelet.
    pub fn kubelet(&self) -> &Kubelet {
        self.kubelet
            .as_ref()
            .expect("the kubelet runs while the control plane does")
    }

    /// A client for the API server, from the kubeconfig.
    pub async fn client(&self) -> Client {
        client_from_kubeconfig(&self.kubeconfig).await
    }

    /// The last lines of a component's log (`etcd`, `kube-apiserver`, ...).
    pub fn log_tail(&self, component: &str, lines: usize) -> String {
        log_tail(&self.directory.join(format!("{component}.log")), lines)
    }

    /// Fails with a component's log when it has exited.
    pub fn assert_components_running(&mut self) {
        for component in &mut self.components {
            component.assert_running();
        }
    }

    async fn wait_until_api_ready(&mut self, deadline: Instant) {
        let client = self.client().await;
        loop {
            let request = http::Request::get("/readyz")
                .body(Vec::new())
                .expect("a GET request without a body is valid");
            match client.request_text(request).await {
                Ok(text) if text.trim() == "ok" => return,
                outcome => {
                    self.assert_components_running();
                    assert!(
                        Instant::now() < deadline,
                        "kube-apiserver not ready after {START_TIMEOUT:?} (last answer {outcome:?}):\n{}",
                        self.log_tail("kube-apiserver", 40)
                    );
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // The kubelet first (it stops the Redis processes), then the components in reverse.
        self.kubelet.take();
        while let Some(component) = self.components.pop() {
            drop(component);
        }
        if std::thread::panicking() {
            eprintln!(
                "control plane logs and pod directories kept in {}",
                self.directory.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.directory);
        }
    }
}

/// A client from a kubeconfig file.
pub async fn client_from_kubeconfig(path: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(path).expect("failed to read the test kubeconfig");
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("failed to load the test kubeconfig");
    // The tests see every answer as the API server gives it: a 429 (an eviction a budget
    // refuses) is not retried behind their back, as kube-client does by default.
    config.default_retry = false;
    Client::try_from(config).expect("failed to build a client from the test kubeconfig")
}

fn run_openssl(arguments: &[&str]) {
    let output = Command::new("openssl")
        .args(arguments)
        .output()
        .unwrap_or_else(|error| {
            panic!("failed to run openssl (install the Debian package openssl): {error}")
        });
    assert!(
        output.status.success(),
        "openssl {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Creates the nodes, labelled with their zone and host name, with room for many pods, Ready,
/// and without the not-ready taint the API server gives a new node.
async fn create_ready_nodes(client: &Client, nodes: &[TestNode]) {
    let api: Api<Node> = Api::all(client.clone());
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    for node in nodes {
        let object: Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node.name, "labels": BTreeMap::from([
                (ZONE_LABEL, node.zone.as_str()),
                (HOSTNAME_LABEL, node.name.as_str()),
                ("kubernetes.io/os", "linux"),
            ])},
        }))
        .expect("a Node document is a Node");
        api.create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|error| panic!("failed to create node {}: {error}", node.name));
        api.patch(
            &node.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"taints": null}})),
        )
        .await
        .unwrap_or_else(|error| {
            panic!("failed to remove the taints of node {}: {error}", node.name)
        });
        let resources = json!({"cpu": "32", "memory": "128Gi", "pods": "250"});
        api.patch_status(
            &node.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "capacity": resources, "allocatable": resources,
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "KubeletReady",
                    "message": "stand-in kubelet of the end-to-end tests",
                    "lastHeartbeatTime": now, "lastTransitionTime": now,
                }],
            }})),
        )
        .await
        .unwrap_or_else(|error| panic!("failed to mark node {} Ready: {error}", node.name));
    }
}
