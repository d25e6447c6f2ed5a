//! The stand-in kubelet of the real control plane tier: it runs the pods bound to the test nodes
//! as real `redis-server` (or sentinel) processes on loopback, and provisions the volumes their
//! claims ask for.
//!
//! Every 300 ms it lists pods and claims through the API server and:
//! - gives each claim without a volume a `hostPath` PersistentVolume pre-bound to it (the
//!   controller manager's binder completes the binding), so pods with claims get scheduled;
//! - starts each pod bound to one of its nodes: the pod gets its own address 127.0.x.y (its
//!   network namespace), a directory under the kubelet's directory (its file system), its volumes
//!   there (ConfigMap and Secret files written out, emptyDir directories, one directory per claim
//!   that outlives the pod), and its first container's command run with its environment
//!   (`value`, `status.podIP`, `metadata.name`, `metadata.namespace`, `spec.nodeName`, Secret and
//!   ConfigMap keys). Paths under the container's mount points are rewritten to the pod's
//!   directories in the command, the arguments and the ConfigMap files. Small wrappers first on
//!   the pod's `PATH` make `redis-server` (and `redis-sentinel`) bind to the pod's address only
//!   (`--bind`, `--bind-source-addr`), make `redis-cli -h 127.0.0.1` reach the pod's own address
//!   (the pod's loopback), and make `hostname` print the pod's host name;
//! - reports the pod `Running` with its `podIP` and the `Ready` condition from the container's
//!   readiness probe (an exec probe runs the pod's own probe script, a PING; a TCP probe
//!   connects), through the `pods/status` subresource, with the container's restart count;
//! - restarts a container whose process exited, after one second, at the same address with the
//!   same volumes;
//! - on deletion stops the process (SIGTERM, SIGKILL after the grace period, at most 10 s) and
//!   removes the pod with grace period 0, as a kubelet confirms a deletion.
//!
//! What it does not do: init containers, sidecars and the exporter are not run (only the first
//! container); images are ignored (the Debian `redis-server` runs whatever the image); liveness
//! probes are not run (a crash is seen as the process exiting); probes run every second whatever
//! their period, without initial delay; resources, security contexts and host networking are
//! ignored; node status is never updated after creation.

#![allow(dead_code)] // each test binary uses part of the harness

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Volume,
};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::json;

use super::control_plane::client_from_kubeconfig;

/// How often the kubelet looks at pods and claims.
const SYNC_PERIOD: Duration = Duration::from_millis(300);
/// How often readiness probes run.
const PROBE_PERIOD: Duration = Duration::from_secs(1);
/// How long a crashed container waits before it is restarted.
const RESTART_DELAY: Duration = Duration::from_secs(1);
/// The longest a stopping container gets between SIGTERM and SIGKILL.
const MAXIMUM_GRACE: Duration = Duration::from_secs(10);

/// Addresses handed out in this test binary (127.0.x.y), so pods of parallel control planes
/// never share one.
static NEXT_ADDRESS: AtomicU32 = AtomicU32::new(0);

/// The next loopback address on which every one of `ports` is free.
fn allocate_address(ports: &[u16]) -> Ipv4Addr {
    // Start in a block chosen by the process id, away from 127.0.0.x, which other tests use.
    let base = 10 + std::process::id() % 200;
    loop {
        let number = NEXT_ADDRESS.fetch_add(1, Ordering::SeqCst);
        let third = u8::try_from(1 + (base + number / 250) % 250).unwrap_or(1);
        let fourth = u8::try_from(1 + number % 250).unwrap_or(1);
        let address = Ipv4Addr::new(127, 0, third, fourth);
        if ports
            .iter()
            .all(|port| TcpListener::bind((address, *port)).is_ok())
        {
            return address;
        }
    }
}

/// What a test can see of one pod the kubelet runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRun {
    /// Namespace and name.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// The pod's address.
    pub address: Ipv4Addr,
    /// The process id of its container, when running.
    pub process_id: Option<u32>,
    /// How many times the container was restarted.
    pub restarts: u32,
    /// The pod's directory.
    pub directory: PathBuf,
}

/// The stand-in kubelet: a thread with its own runtime, stopped (with every pod process) on drop.
pub struct Kubelet {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pods: Arc<Mutex<BTreeMap<String, PodRun>>>,
    errors: Arc<Mutex<Vec<String>>>,
    held: Arc<Mutex<BTreeSet<String>>>,
}

impl Kubelet {
    /// Starts the kubelet for `nodes`, keeping pods and volumes under `directory`.
    pub fn start(kubeconfig: PathBuf, directory: PathBuf, nodes: BTreeSet<String>) -> Kubelet {
        let stop = Arc::new(AtomicBool::new(false));
        let pods = Arc::new(Mutex::new(BTreeMap::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let held = Arc::new(Mutex::new(BTreeSet::new()));
        let state = State {
            directory,
            nodes,
            running: BTreeMap::new(),
            provisioned: BTreeSet::new(),
            tools: Tools::find(),
            pods: pods.clone(),
            errors: errors.clone(),
            held: held.clone(),
        };
        let thread_stop = stop.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("failed to build the kubelet's runtime");
            runtime.block_on(run(kubeconfig, state, thread_stop));
        });
        Kubelet {
            stop,
            thread: Some(thread),
            pods,
            errors,
            held,
        }
    }

    /// The pods running now, by `namespace/name`.
    pub fn pods(&self) -> BTreeMap<String, PodRun> {
        self.pods
            .lock()
            .map(|pods| pods.clone())
            .unwrap_or_default()
    }

    /// The pod `namespace/name`, when the kubelet runs it.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<PodRun> {
        self.pods().get(&format!("{namespace}/{name}")).cloned()
    }

    /// Kills the container process of a pod with SIGKILL (a crash); the kubelet restarts it.
    /// Returns false when the pod has no running process.
    pub fn crash(&self, namespace: &str, name: &str) -> bool {
        let Some(process_id) = self.pod(namespace, name).and_then(|pod| pod.process_id) else {
            return false;
        };
        signal(process_id, "KILL")
    }

    /// Keeps the container of pod `namespace/name` down: its process is killed (SIGKILL) and not
    /// restarted until [`Kubelet::release`], as a container that crashes on every start.
    pub fn hold_down(&self, namespace: &str, name: &str) {
        if let Ok(mut held) = self.held.lock() {
            held.insert(format!("{namespace}/{name}"));
        }
    }

    /// Lets a held-down container start again.
    pub fn release(&self, namespace: &str, name: &str) {
        if let Ok(mut held) = self.held.lock() {
            held.remove(&format!("{namespace}/{name}"));
        }
    }

    /// What went wrong so far (API errors, pods that could not be started), newest last.
    pub fn errors(&self) -> Vec<String> {
        self.errors
            .lock()
            .map(|errors| errors.clone())
            .unwrap_or_default()
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn signal(process_id: u32, name: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{name}"))
        .arg(process_id.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The real programs the pod wrappers call.
#[derive(Clone, Debug)]
struct Tools {
    redis_server: PathBuf,
    redis_cli: PathBuf,
}

impl Tools {
    fn find() -> Tools {
        let find = |name: &str| {
            std::env::var_os("PATH")
                .into_iter()
                .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
                .map(|directory| directory.join(name))
                .find(|candidate| candidate.is_file())
                .unwrap_or_else(|| {
                    panic!(
                        "{} ({name} is not on PATH)",
                        super::real_redis::MISSING_REDIS
                    )
                })
        };
        Tools {
            redis_server: find("redis-server"),
            redis_cli: find("redis-cli"),
        }
    }
}

/// One pod the kubelet runs.
struct Running {
    namespace: String,
    name: String,
    uid: String,
    address: Ipv4Addr,
    directory: PathBuf,
    launch: Launch,
    child: Option<Child>,
    exited_at: Option<Instant>,
    restarts: u32,
    ready: bool,
    last_probe: Option<Instant>,
    failures: i32,
    started_at: String,
    reported: Option<serde_json::Value>,
    stopping: Option<Instant>,
}

/// How to run a pod's container: everything resolved when the pod starts.
#[derive(Clone, Debug)]
struct Launch {
    container: String,
    image: String,
    command: Vec<String>,
    environment: BTreeMap<String, String>,
    probe: Probe,
    failure_threshold: i32,
    grace: Duration,
}

#[derive(Clone, Debug)]
enum Probe {
    Exec(Vec<String>),
    Tcp(u16),
    None,
}

struct State {
    directory: PathBuf,
    nodes: BTreeSet<String>,
    running: BTreeMap<String, Running>,
    provisioned: BTreeSet<String>,
    tools: Tools,
    pods: Arc<Mutex<BTreeMap<String, PodRun>>>,
    errors: Arc<Mutex<Vec<String>>>,
    held: Arc<Mutex<BTreeSet<String>>>,
}

impl State {
    fn error(&self, message: String) {
        if let Ok(mut errors) = self.errors.lock() {
            errors.push(message);
        }
    }

    fn publish(&self) {
        let runs = self
            .running
            .iter()
            .map(|(key, running)| {
                (
                    key.clone(),
                    PodRun {
                        namespace: running.namespace.clone(),
                        name: running.name.clone(),
                        address: running.address,
                        process_id: running.child.as_ref().map(Child::id),
                        restarts: running.restarts,
                        directory: running.directory.clone(),
                    },
                )
            })
            .collect();
        if let Ok(mut pods) = self.pods.lock() {
            *pods = runs;
        }
    }
}

async fn run(kubeconfig: PathBuf, mut state: State, stop: Arc<AtomicBool>) {
    let client = client_from_kubeconfig(&kubeconfig).await;
    while !stop.load(Ordering::SeqCst) {
        if let Err(message) = provision_volumes(&client, &mut state).await {
            state.error(message);
        }
        if let Err(message) = sync_pods(&client, &mut state).await {
            state.error(message);
        }
        state.publish();
        tokio::time::sleep(SYNC_PERIOD).await;
    }
    for running in state.running.values_mut() {
        stop_container(running, Duration::from_secs(2));
    }
    state.running.clear();
    state.publish();
}

/// Gives every claim without a volume a hostPath PersistentVolume pre-bound to it.
async fn provision_volumes(client: &Client, state: &mut State) -> Result<(), String> {
    let claims: Api<PersistentVolumeClaim> = Api::all(client.clone());
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let list = claims
        .list(&ListParams::default())
        .await
        .map_err(|error| format!("failed to list claims: {error}"))?;
    for claim in list {
        let uid = claim.metadata.uid.clone().unwrap_or_default();
        let bound = claim
            .spec
            .as_ref()
            .and_then(|spec| spec.volume_name.as_ref())
            .is_some();
        if bound || claim.metadata.deletion_timestamp.is_some() || state.provisioned.contains(&uid)
        {
            continue;
        }
        let namespace = claim.metadata.namespace.clone().unwrap_or_default();
        let name = claim.metadata.name.clone().unwrap_or_default();
        let spec = claim.spec.clone().unwrap_or_default();
        let storage = spec
            .resources
            .as_ref()
            .and_then(|resources| resources.requests.as_ref())
            .and_then(|requests| requests.get("storage"))
            .map_or_else(|| "1Gi".to_owned(), |quantity| quantity.0.clone());
        let path = claim_directory(&state.directory, &namespace, &name);
        std::fs::create_dir_all(&path)
            .map_err(|error| format!("failed to create {}: {error}", path.display()))?;
        let volume: PersistentVolume = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": format!("volume-{uid}")},
            "spec": {
                "capacity": {"storage": storage},
                "accessModes": spec.access_modes.clone().unwrap_or_else(|| vec!["ReadWriteOnce".to_owned()]),
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": spec.storage_class_name.clone().unwrap_or_default(),
                "volumeMode": spec.volume_mode.clone().unwrap_or_else(|| "Filesystem".to_owned()),
                "hostPath": {"path": path.display().to_string()},
                "claimRef": {
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "namespace": namespace, "name": name, "uid": uid,
                },
            },
        }))
        .map_err(|error| format!("failed to describe the volume of claim {namespace}/{name}: {error}"))?;
        match volumes.create(&PostParams::default(), &volume).await {
            Ok(_) => {}
            Err(kube::Error::Api(response)) if response.code == 409 => {}
            Err(error) => {
                return Err(format!(
                    "failed to create the volume of claim {namespace}/{name}: {error}"
                ));
            }
        }
        state.provisioned.insert(uid);
    }
    Ok(())
}

/// Where the data of claim `namespace/name` lives; it outlives the pods that mount it.
fn claim_directory(directory: &Path, namespace: &str, name: &str) -> PathBuf {
    directory.join("volumes").join(namespace).join(name)
}

async fn sync_pods(client: &Client, state: &mut State) -> Result<(), String> {
    let pods_api: Api<Pod> = Api::all(client.clone());
    let pods = pods_api
        .list(&ListParams::default())
        .await
        .map_err(|error| format!("failed to list pods: {error}"))?;
    let mut present = BTreeSet::new();
    for pod in pods {
        let Some(node) = pod.spec.as_ref().and_then(|spec| spec.node_name.clone()) else {
            continue;
        };
        if !state.nodes.contains(&node) {
            continue;
        }
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let key = format!("{namespace}/{name}");
        let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);

        // A pod replaced under the same name (a StatefulSet recreates by name) is a new pod.
        if state
            .running
            .get(&key)
            .is_some_and(|running| running.uid != uid)
            && let Some(mut old) = state.running.remove(&key)
        {
            stop_container(&mut old, Duration::from_secs(1));
        }

        if pod.metadata.deletion_timestamp.is_some() {
            let grace = pod
                .metadata
                .deletion_grace_period_seconds
                .and_then(|seconds| u64::try_from(seconds).ok())
                .map_or(MAXIMUM_GRACE, Duration::from_secs)
                .min(MAXIMUM_GRACE);
            if let Some(mut running) = state.running.remove(&key) {
                stop_container(&mut running, grace);
            }
            let parameters = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(uid.clone()),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(&name, &parameters).await {
                Ok(_) => {}
                Err(kube::Error::Api(response)) if response.code == 404 || response.code == 409 => {
                }
                Err(error) => state.error(format!("failed to remove deleted pod {key}: {error}")),
            }
            continue;
        }
        present.insert(key.clone());

        if !state.running.contains_key(&key) {
            match prepare(client, state, &pod).await {
                Ok(running) => {
                    state.running.insert(key.clone(), running);
                }
                Err(message) => {
                    state.error(format!("failed to start pod {key}: {message}"));
                    continue;
                }
            }
        }
        let held = state.held.lock().is_ok_and(|held| held.contains(&key));
        let Some(running) = state.running.get_mut(&key) else {
            continue;
        };
        supervise(running, held);
        probe(running);
        let status = pod_status(running, &pod);
        if running.reported.as_ref() != Some(&status) {
            match api
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Strategic(json!({"status": status})),
                )
                .await
            {
                Ok(_) => running.reported = Some(status),
                Err(error) => {
                    let message = format!("failed to report the status of pod {key}: {error}");
                    state.error(message);
                }
            }
        }
    }
    // Pods removed without a graceful deletion (forced, or their namespace went).
    let gone: Vec<String> = state
        .running
        .keys()
        .filter(|key| !present.contains(*key))
        .cloned()
        .collect();
    for key in gone {
        if let Some(mut running) = state.running.remove(&key) {
            stop_container(&mut running, Duration::from_secs(1));
        }
    }
    Ok(())
}

/// Starts, or restarts after a crash, the container process.
fn supervise(running: &mut Running, held: bool) {
    if running.stopping.is_some() {
        return;
    }
    if held {
        if let Some(mut child) = running.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            running.exited_at = Some(Instant::now());
        }
        running.ready = false;
        return;
    }
    if let Some(child) = &mut running.child
        && let Ok(Some(_)) = child.try_wait()
    {
        running.child = None;
        running.exited_at = Some(Instant::now());
        running.ready = false;
    }
    if running.child.is_some() {
        return;
    }
    if let Some(exited) = running.exited_at {
        if exited.elapsed() < RESTART_DELAY {
            return;
        }
        running.restarts += 1;
    }
    running.exited_at = None;
    match spawn(running) {
        Ok(child) => running.child = Some(child),
        Err(_) => running.exited_at = Some(Instant::now()),
    }
}

fn spawn(running: &Running) -> std::io::Result<Child> {
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(running.directory.join("container.log"))?;
    let (program, arguments) = running
        .launch
        .command
        .split_first()
        .ok_or_else(|| std::io::Error::other("the container has no command"))?;
    Command::new(program)
        .args(arguments)
        .env_clear()
        .envs(&running.launch.environment)
        .current_dir(running.directory.join("root"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()
}

/// Runs the readiness probe once a second.
fn probe(running: &mut Running) {
    if running.child.is_none() {
        running.ready = false;
        running.failures = 0;
        return;
    }
    if running
        .last_probe
        .is_some_and(|last| last.elapsed() < PROBE_PERIOD)
    {
        return;
    }
    running.last_probe = Some(Instant::now());
    let success = match &running.launch.probe {
        Probe::Exec(command) => command.split_first().is_some_and(|(program, arguments)| {
            Command::new(program)
                .args(arguments)
                .env_clear()
                .envs(&running.launch.environment)
                .current_dir(running.directory.join("root"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        }),
        Probe::Tcp(port) => TcpStream::connect_timeout(
            &SocketAddr::from((running.address, *port)),
            Duration::from_secs(1),
        )
        .is_ok(),
        Probe::None => true,
    };
    if success {
        running.failures = 0;
        running.ready = true;
    } else {
        running.failures += 1;
        if running.failures >= running.launch.failure_threshold {
            running.ready = false;
        }
    }
}

/// The status the kubelet reports: Running with the pod's address, conditions and the
/// container's state.
fn pod_status(running: &Running, pod: &Pod) -> serde_json::Value {
    let ready = if running.ready { "True" } else { "False" };
    let started = running.child.is_some();
    let transition = |kind: &str, status: &str| {
        let previous = pod
            .status
            .as_ref()
            .and_then(|status| status.conditions.as_ref())
            .and_then(|conditions| conditions.iter().find(|condition| condition.type_ == kind));
        match previous {
            Some(condition) if condition.status == status => condition
                .last_transition_time
                .as_ref()
                .map(|time| time.0.to_string())
                .unwrap_or_else(|| running.started_at.clone()),
            _ => k8s_openapi::jiff::Timestamp::now().to_string(),
        }
    };
    let state = if started {
        json!({"running": {"startedAt": running.started_at}})
    } else {
        json!({"waiting": {"reason": "CrashLoopBackOff"}})
    };
    let address = running.address.to_string();
    json!({
        "phase": "Running",
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": address,
        "podIPs": [{"ip": address}],
        "startTime": running.started_at,
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": transition("Initialized", "True")},
            {"type": "ContainersReady", "status": ready, "lastTransitionTime": transition("ContainersReady", ready)},
            {"type": "Ready", "status": ready, "lastTransitionTime": transition("Ready", ready)},
        ],
        "containerStatuses": [{
            "name": running.launch.container,
            "image": running.launch.image,
            "imageID": "",
            "ready": running.ready,
            "started": started,
            "restartCount": running.restarts,
            "state": state,
        }],
    })
}

/// Stops the container: SIGTERM, then SIGKILL after `grace`.
fn stop_container(running: &mut Running, grace: Duration) {
    running.stopping = Some(Instant::now());
    if let Some(mut child) = running.child.take() {
        signal(child.id(), "TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Sets up a new pod: address, directories, volumes, wrappers, environment and command.
async fn prepare(client: &Client, state: &State, pod: &Pod) -> Result<Running, String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let container = spec
        .containers
        .first()
        .cloned()
        .ok_or("the pod has no container")?;
    let ports: Vec<u16> = spec
        .containers
        .iter()
        .flat_map(|container| container.ports.clone().unwrap_or_default())
        .filter_map(|port| u16::try_from(port.container_port).ok())
        .collect();
    let address = allocate_address(&ports);
    let directory = state
        .directory
        .join("pods")
        .join(format!("{namespace}_{name}_{}", &uid[..uid.len().min(8)]));
    let root = directory.join("root");
    let bin = directory.join("bin");
    for path in [&root, &bin] {
        std::fs::create_dir_all(path)
            .map_err(|error| format!("failed to create {}: {error}", path.display()))?;
    }

    // Mount points of the first container, longest first so nested paths win.
    let volumes: BTreeMap<String, Volume> = spec
        .volumes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|volume| (volume.name.clone(), volume))
        .collect();
    let mut mounts: Vec<(String, PathBuf)> = Vec::new();
    for mount in container.volume_mounts.clone().unwrap_or_default() {
        let Some(volume) = volumes.get(&mount.name) else {
            return Err(format!(
                "volume {} of mount {} is not in the pod",
                mount.name, mount.mount_path
            ));
        };
        let mut host = if let Some(claim) = &volume.persistent_volume_claim {
            claim_directory(&state.directory, &namespace, &claim.claim_name)
        } else {
            root.join(mount.mount_path.trim_start_matches('/'))
        };
        if let Some(sub_path) = mount.sub_path.as_ref().filter(|path| !path.is_empty()) {
            host = host.join(sub_path);
        }
        mounts.push((mount.mount_path.clone(), host));
    }
    mounts.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));

    for mount in container.volume_mounts.clone().unwrap_or_default() {
        let Some(volume) = volumes.get(&mount.name) else {
            continue;
        };
        let host = mounts
            .iter()
            .find(|(path, _)| *path == mount.mount_path)
            .map(|(_, host)| host.clone())
            .unwrap_or_else(|| root.join(mount.mount_path.trim_start_matches('/')));
        std::fs::create_dir_all(&host)
            .map_err(|error| format!("failed to create {}: {error}", host.display()))?;
        if let Some(source) = &volume.config_map {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
            let config_map = api
                .get(&source.name)
                .await
                .map_err(|error| format!("failed to read ConfigMap {}: {error}", source.name))?;
            for (key, value) in config_map.data.unwrap_or_default() {
                let file = item_path(&source.items, &key);
                write_file(
                    &host.join(file),
                    translate_paths(&value, &mounts).as_bytes(),
                )?;
            }
        } else if let Some(source) = &volume.secret {
            let secret_name = source.secret_name.clone().unwrap_or_default();
            let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
            let secret = api
                .get(&secret_name)
                .await
                .map_err(|error| format!("failed to read Secret {secret_name}: {error}"))?;
            for (key, value) in secret.data.unwrap_or_default() {
                let file = item_path(&source.items, &key);
                write_file(&host.join(file), &value.0)?;
            }
        }
    }

    let mut environment = BTreeMap::from([
        (
            "PATH".to_owned(),
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned())
            ),
        ),
        ("HOME".to_owned(), root.display().to_string()),
        (
            "HOSTNAME".to_owned(),
            spec.hostname.clone().unwrap_or_else(|| name.clone()),
        ),
    ]);
    for variable in container.env.clone().unwrap_or_default() {
        let value = match (&variable.value, &variable.value_from) {
            (Some(value), _) => value.clone(),
            (None, Some(source)) => {
                if let Some(field) = &source.field_ref {
                    match field.field_path.as_str() {
                        "status.podIP" => address.to_string(),
                        "metadata.name" => name.clone(),
                        "metadata.namespace" => namespace.clone(),
                        "spec.nodeName" => spec.node_name.clone().unwrap_or_default(),
                        "status.hostIP" => "127.0.0.1".to_owned(),
                        _ => String::new(),
                    }
                } else if let Some(selector) = &source.secret_key_ref {
                    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
                    let secret = api.get(&selector.name).await.map_err(|error| {
                        format!(
                            "failed to read Secret {} for {}: {error}",
                            selector.name, variable.name
                        )
                    })?;
                    secret
                        .data
                        .and_then(|data| data.get(&selector.key).cloned())
                        .map(|bytes| String::from_utf8_lossy(&bytes.0).into_owned())
                        .ok_or_else(|| {
                            format!(
                                "Secret {} has no key {} for {}",
                                selector.name, selector.key, variable.name
                            )
                        })?
                } else if let Some(selector) = &source.config_map_key_ref {
                    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
                    let config_map = api.get(&selector.name).await.map_err(|error| {
                        format!(
                            "failed to read ConfigMap {} for {}: {error}",
                            selector.name, variable.name
                        )
                    })?;
                    config_map
                        .data
                        .and_then(|data| data.get(&selector.key).cloned())
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            }
            (None, None) => String::new(),
        };
        environment.insert(variable.name.clone(), value);
    }

    write_wrappers(
        &bin,
        &state.tools,
        address,
        &spec.hostname.clone().unwrap_or_else(|| name.clone()),
    )?;

    let command: Vec<String> = container
        .command
        .clone()
        .unwrap_or_default()
        .into_iter()
        .chain(container.args.clone().unwrap_or_default())
        .map(|argument| translate_paths(&argument, &mounts))
        .collect();
    if command.is_empty() {
        return Err("the first container has neither command nor args (the image's entrypoint cannot be known)".to_owned());
    }
    let readiness = container.readiness_probe.clone();
    let probe = match &readiness {
        Some(probe) if probe.exec.is_some() => Probe::Exec(
            probe
                .exec
                .as_ref()
                .and_then(|exec| exec.command.clone())
                .unwrap_or_default()
                .iter()
                .map(|argument| translate_paths(argument, &mounts))
                .collect(),
        ),
        Some(probe) if probe.tcp_socket.is_some() => Probe::Tcp(
            probe
                .tcp_socket
                .as_ref()
                .and_then(|socket| port_number(&socket.port, &container))
                .unwrap_or(6379),
        ),
        _ => Probe::None,
    };
    let grace = spec
        .termination_grace_period_seconds
        .and_then(|seconds| u64::try_from(seconds).ok())
        .map_or(MAXIMUM_GRACE, Duration::from_secs)
        .min(MAXIMUM_GRACE);
    Ok(Running {
        namespace,
        name,
        uid,
        address,
        directory,
        launch: Launch {
            container: container.name.clone(),
            image: container.image.clone().unwrap_or_default(),
            command,
            environment,
            probe,
            failure_threshold: readiness
                .and_then(|probe| probe.failure_threshold)
                .unwrap_or(3)
                .max(1),
            grace,
        },
        child: None,
        exited_at: None,
        restarts: 0,
        ready: false,
        last_probe: None,
        failures: 0,
        started_at: k8s_openapi::jiff::Timestamp::now().to_string(),
        reported: None,
        stopping: None,
    })
}

fn port_number(
    port: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString,
    container: &Container,
) -> Option<u16> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match port {
        IntOrString::Int(number) => u16::try_from(*number).ok(),
        IntOrString::String(name) => container
            .ports
            .as_ref()?
            .iter()
            .find(|port| port.name.as_deref() == Some(name.as_str()))
            .and_then(|port| u16::try_from(port.container_port).ok()),
    }
}

/// Where key `key` of a ConfigMap or Secret volume goes: its item path, else the key itself.
fn item_path(items: &Option<Vec<k8s_openapi::api::core::v1::KeyToPath>>, key: &str) -> String {
    items
        .as_ref()
        .and_then(|items| items.iter().find(|item| item.key == key))
        .map_or_else(|| key.to_owned(), |item| item.path.clone())
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|error| format!("failed to create {}: {error}", parent.display()))?;
    }
    std::fs::write(path, contents)
        .map_err(|error| format!("failed to write {}: {error}", path.display()))
}

/// Rewrites container paths under a mount point to the pod's directories. A mount path matches
/// only as a whole path component (`/data` in `dir /data` and `/data/x`, not in `/database`).
pub fn translate_paths(text: &str, mounts: &[(String, PathBuf)]) -> String {
    let is_path_character =
        |character: char| character.is_ascii_alphanumeric() || "/._-".contains(character);
    let mut output = String::with_capacity(text.len());
    let mut index = 0;
    while index < text.len() {
        let rest = &text[index..];
        let before = text[..index].chars().next_back();
        let replaced = before
            .is_none_or(|character| !is_path_character(character))
            .then(|| {
                mounts.iter().find(|(path, _)| {
                    rest.starts_with(path.as_str())
                        && rest[path.len()..]
                            .chars()
                            .next()
                            .is_none_or(|next| next == '/' || !is_path_character(next))
                })
            })
            .flatten();
        if let Some((path, host)) = replaced {
            output.push_str(&host.display().to_string());
            index += path.len();
        } else {
            let character = rest.chars().next().unwrap_or_default();
            output.push(character);
            index += character.len_utf8();
        }
    }
    output
}

/// The pod's view of the network and its name: `redis-server` and `redis-sentinel` bind to the
/// pod's address only, `redis-cli` to 127.0.0.1 or localhost reaches the pod's own address, and
/// `hostname` prints the pod's host name.
fn write_wrappers(
    bin: &Path,
    tools: &Tools,
    address: Ipv4Addr,
    hostname: &str,
) -> Result<(), String> {
    let server = tools.redis_server.display();
    let cli = tools.redis_cli.display();
    let server_wrapper = format!(
        "#!/bin/sh\n# The pod's network: listen and connect from the pod's own address only.\nexec {server} \"$@\" --bind {address} --bind-source-addr {address}\n"
    );
    let sentinel_wrapper = format!("#!/bin/sh\nexec {server} \"$@\" --sentinel --bind {address}\n");
    let cli_wrapper = format!(
        "#!/bin/sh\n# The pod's loopback is the pod's own address.\ncount=$#\nprevious=\nfor argument in \"$@\"; do\n  if [ \"$previous\" = -h ] && {{ [ \"$argument\" = 127.0.0.1 ] || [ \"$argument\" = localhost ]; }}; then\n    argument={address}\n  fi\n  set -- \"$@\" \"$argument\"\n  previous=$argument\ndone\nshift \"$count\"\nexec {cli} \"$@\"\n"
    );
    let hostname_wrapper = format!("#!/bin/sh\necho {hostname}\n");
    for (name, text) in [
        ("redis-server", server_wrapper),
        ("redis-sentinel", sentinel_wrapper),
        ("redis-cli", cli_wrapper),
        ("hostname", hostname_wrapper),
    ] {
        let path = bin.join(name);
        write_file(&path, text.as_bytes())?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|error| format!("failed to make {} executable: {error}", path.display()))?;
    }
    Ok(())
}
