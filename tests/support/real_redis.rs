//! Real `redis-server` and `redis-sentinel` processes for tests: each bound to 127.0.0.1 on a free
//! port (never 6379), or to another loopback address of 127.0.0.0/8 on a port shared with other
//! processes, as pods with their own IPs listen on one port, in its own temporary directory, with optional password, ACL user, TLS and
//! cluster mode; killed and cleaned up on drop, also when a test panics.
//!
//! A missing `redis-server` fails the test with the packages to install; it never skips.

#![allow(dead_code)] // each test binary uses part of the harness

use std::collections::{BTreeMap, BTreeSet};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis_operator::api::validation::SecretKey;
use redis_operator::ports::kube::{
    ApiError, EventRecord, KubeApi, ObjectRef, Propagation, ResourceType,
};
use redis_operator::ports::redis::{
    RedisAdmin, RedisCommand, RedisEndpoint, RedisReply, TlsSecret,
};
use redis_operator::topology::observation::{PodInfo, ServerView};
use redis_operator::topology::replies::{parse_cluster_nodes, parse_info_replication};
use serde_json::{Value, json};

/// What to install when a Redis binary is missing.
pub const MISSING_REDIS: &str =
    "redis-server not found: install the Debian packages redis-server redis-sentinel redis-tools";

/// Namespace the endpoints and Secrets of the tests live in.
pub const NAMESPACE: &str = "tests";
/// The Secret holding the password.
pub const PASSWORD_SECRET: &str = "redis-password";
/// Its key.
pub const PASSWORD_KEY: &str = "password";
/// The Secret holding the TLS material.
pub const TLS_SECRET: &str = "redis-tls";
/// The ACL user of the ACL variant.
pub const ACL_USER: &str = "operator";

/// How long a process may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Ports handed out in this test binary, so parallel tests never get the same one.
fn handed_out() -> &'static Mutex<BTreeSet<u16>> {
    static PORTS: OnceLock<Mutex<BTreeSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(BTreeSet::new()))
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A port free on every one of `hosts` (loopback addresses), with its cluster bus port free too:
/// processes on different loopback addresses can then listen on the same port, as pods do.
pub fn free_port_on(hosts: &[&str]) -> u16 {
    loop {
        let port = free_port();
        let free_everywhere = hosts.iter().all(|host| {
            TcpListener::bind((*host, port)).is_ok()
                && TcpListener::bind((*host, port + 10_000)).is_ok()
        });
        if free_everywhere {
            return port;
        }
    }
}

/// A free port whose cluster bus port (port + 10000) is free too.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("failed to bind an ephemeral port on 127.0.0.1");
        if port == 6379 || port > 55_000 || !port_is_free(port + 10_000) {
            continue;
        }
        if handed_out().lock().unwrap().insert(port) {
            return port;
        }
    }
}

/// A fresh directory under the system's temporary directory.
pub fn temporary_directory(label: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let unique = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    let directory = std::env::temp_dir().join(format!(
        "redis-operator-test-{label}-{}-{unique}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&directory).expect("failed to create a temporary directory");
    directory
}

/// Fails loudly, naming the packages to install, when `name` cannot be run.
pub fn require_binary(name: &str) {
    let found = Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(found, "{MISSING_REDIS} ({name} could not be run)");
}

/// A CA and one certificate signed by it (valid for server and client use, naming 127.0.0.1 and
/// `redis.test`), generated with the `openssl` command.
#[derive(Debug)]
pub struct Certificates {
    /// Where the PEM files are.
    pub directory: PathBuf,
}

impl Certificates {
    /// Generates a new CA and certificate.
    pub fn generate() -> Arc<Certificates> {
        let directory = temporary_directory("tls");
        let run = |arguments: &[&str]| {
            let output = Command::new("openssl")
                .args(arguments)
                .current_dir(&directory)
                .output()
                .unwrap_or_else(|error| {
                    panic!("openssl not found ({error}): install the Debian package openssl")
                });
            assert!(
                output.status.success(),
                "openssl {arguments:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        let mut ca = vec!["req", "-x509", "-nodes", "-days", "2"];
        ca.extend(curve);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=redis-operator-test-ca",
        ]);
        run(&ca);
        let mut request = vec!["req", "-nodes"];
        request.extend(curve);
        request.extend([
            "-keyout",
            "tls.key",
            "-out",
            "tls.csr",
            "-subj",
            "/CN=redis.test",
        ]);
        run(&request);
        std::fs::write(
            directory.join("extensions.cnf"),
            "basicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth,clientAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:redis.test\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "extensions.cnf",
            "-out",
            "tls.crt",
        ]);
        Arc::new(Certificates { directory })
    }

    /// Path of one of the files (`ca.crt`, `tls.crt`, `tls.key`).
    pub fn path(&self, file: &str) -> String {
        self.directory.join(file).display().to_string()
    }

    /// Contents of one of the files.
    pub fn read(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.directory.join(file)).unwrap()
    }

    /// The TLS Secret a CR would name, holding these files under the default keys.
    pub fn secret(&self, name: &str) -> Value {
        secret(
            name,
            &[
                ("ca.crt", self.read("ca.crt")),
                ("tls.crt", self.read("tls.crt")),
                ("tls.key", self.read("tls.key")),
            ],
        )
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// How a server is started.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// `requirepass` and `masterauth` (for the default user, or the ACL user when set).
    pub password: Option<String>,
    /// Authenticate as this ACL user (the default user is then disabled).
    pub acl_user: Option<String>,
    /// Speak TLS only, with these certificates.
    pub tls: Option<Arc<Certificates>>,
    /// `cluster-enabled yes`.
    pub cluster: bool,
    /// Run `redis-sentinel` instead of `redis-server`.
    pub sentinel: bool,
}

impl ServerOptions {
    /// No authentication, no TLS.
    pub fn plain() -> ServerOptions {
        ServerOptions::default()
    }

    /// With a password.
    pub fn password(password: &str) -> ServerOptions {
        ServerOptions {
            password: Some(password.to_owned()),
            ..ServerOptions::default()
        }
    }

    /// With ACL user [`ACL_USER`] and its password; the default user is off.
    pub fn acl(password: &str) -> ServerOptions {
        ServerOptions {
            password: Some(password.to_owned()),
            acl_user: Some(ACL_USER.to_owned()),
            ..ServerOptions::default()
        }
    }

    /// TLS only.
    pub fn tls(certificates: &Arc<Certificates>) -> ServerOptions {
        ServerOptions {
            tls: Some(Arc::clone(certificates)),
            ..ServerOptions::default()
        }
    }

    /// Cluster mode.
    pub fn cluster(mut self) -> ServerOptions {
        self.cluster = true;
        self
    }

    /// A sentinel instead of a server.
    pub fn sentinel(mut self) -> ServerOptions {
        self.sentinel = true;
        self
    }
}

/// A running `redis-server` or `redis-sentinel`.
#[derive(Debug)]
pub struct RedisProcess {
    /// The loopback address it listens on (127.0.0.1 unless started with [`RedisProcess::start_at`]).
    pub host: String,
    /// The port it listens on (TLS port when TLS is on).
    pub port: u16,
    /// How it was started.
    pub options: ServerOptions,
    /// Its directory (configuration, data, log).
    pub directory: PathBuf,
    /// A name for messages and for its endpoint's pod.
    pub name: String,
    child: Option<Child>,
}

impl RedisProcess {
    /// Starts a process with `options` and waits until it answers PING.
    pub fn start(name: &str, options: ServerOptions) -> RedisProcess {
        RedisProcess::start_at(name, options, "127.0.0.1", free_port())
    }

    /// Starts a process listening on `host:port` (a loopback address and a port free there; see
    /// [`free_port_on`]) and waits until it answers PING. Its outgoing connections (replication,
    /// cluster bus) leave from `host` too, so that masters and sentinels see it at that address.
    pub fn start_at(name: &str, options: ServerOptions, host: &str, port: u16) -> RedisProcess {
        let mut process = RedisProcess {
            host: host.to_owned(),
            port,
            directory: temporary_directory(name),
            name: name.to_owned(),
            options,
            child: None,
        };
        process.write_config();
        process.launch();
        process
    }

    fn config_path(&self) -> PathBuf {
        let file = if self.options.sentinel {
            "sentinel.conf"
        } else {
            "redis.conf"
        };
        self.directory.join(file)
    }

    fn write_config(&self) {
        let mut lines = Vec::new();
        match &self.options.tls {
            Some(certificates) => {
                lines.push("port 0".to_owned());
                lines.push(format!("tls-port {}", self.port));
                lines.push(format!("tls-cert-file {}", certificates.path("tls.crt")));
                lines.push(format!("tls-key-file {}", certificates.path("tls.key")));
                lines.push(format!("tls-ca-cert-file {}", certificates.path("ca.crt")));
                lines.push("tls-auth-clients optional".to_owned());
                if !self.options.sentinel {
                    lines.push("tls-replication yes".to_owned());
                }
                if self.options.cluster {
                    lines.push("tls-cluster yes".to_owned());
                }
            }
            None => lines.push(format!("port {}", self.port)),
        }
        lines.push(format!("bind {}", self.host));
        // Protected mode refuses clients from other loopback addresses than 127.0.0.1.
        lines.push("protected-mode no".to_owned());
        if !self.options.sentinel && self.host != "127.0.0.1" {
            lines.push(format!("bind-source-addr {}", self.host));
            lines.push(format!("replica-announce-ip {}", self.host));
        }
        lines.push(format!("dir {}", self.directory.display()));
        lines.push(format!(
            "logfile {}",
            self.directory.join("server.log").display()
        ));
        lines.push("daemonize no".to_owned());
        if !self.options.sentinel {
            lines.push("save \"\"".to_owned());
            lines.push("appendonly no".to_owned());
        }
        match (&self.options.acl_user, &self.options.password) {
            (Some(user), Some(password)) => {
                lines.push("user default off".to_owned());
                lines.push(format!("user {user} on >{password} ~* &* +@all"));
                lines.push(format!("masteruser {user}"));
                lines.push(format!("masterauth {password}"));
            }
            (None, Some(password)) => {
                lines.push(format!("requirepass {password}"));
                if !self.options.sentinel {
                    lines.push(format!("masterauth {password}"));
                }
            }
            _ => {}
        }
        if self.options.cluster {
            lines.push("cluster-enabled yes".to_owned());
            lines.push("cluster-config-file nodes.conf".to_owned());
            lines.push("cluster-node-timeout 3000".to_owned());
            lines.push("cluster-allow-replica-migration no".to_owned());
        }
        lines.push(String::new());
        std::fs::write(self.config_path(), lines.join("\n")).unwrap();
    }

    fn spawn(&mut self) {
        let binary = if self.options.sentinel {
            "redis-sentinel"
        } else {
            "redis-server"
        };
        require_binary("redis-server");
        if self.options.sentinel {
            require_binary(binary);
        }
        let child = Command::new(binary)
            .arg(self.config_path())
            .current_dir(&self.directory)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("{MISSING_REDIS} ({binary}: {error})"));
        self.child = Some(child);
    }

    fn launch(&mut self) {
        self.spawn();
        self.wait_until_ready();
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "{} exited with {status} while starting; log:\n{}",
                    self.name,
                    self.log()
                );
            }
            if TcpStream::connect((self.host.as_str(), self.port)).is_ok()
                && self.cli(&["PING"]).trim() == "PONG"
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not answer PING within {START_TIMEOUT:?}; log:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log file.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.directory.join("server.log")).unwrap_or_default()
    }

    /// Kills the process (as a crash would) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The operating system's id of the running process, `None` once it was killed.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the process and starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// Kills the process and starts it again from its directory (its `nodes.conf` included) on
    /// `port`: a pod rescheduled with its volume and a new address.
    pub fn restart_on_port(&mut self, port: u16) {
        self.kill();
        self.port = port;
        self.write_config();
        self.launch();
    }

    /// Kills the process and starts it again without its cluster state (`nodes.conf`): a node
    /// whose pod keeps no files comes back as a new node, under a new id, knowing no peer.
    pub fn restart_without_cluster_state(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(self.directory.join("nodes.conf"));
        self.launch();
    }

    /// Kills the process and starts it again, returning as soon as it accepts connections:
    /// while it loads its data files it answers `LOADING` to most commands.
    pub fn restart_without_waiting(&mut self) {
        self.kill();
        self.spawn();
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect((self.host.as_str(), self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{} did not accept connections within {START_TIMEOUT:?}; log:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Writes `count` keys `key:N` with short values through `redis-cli --pipe`.
    pub fn populate(&self, count: usize) {
        let mut protocol = String::with_capacity(count * 40);
        for index in 0..count {
            let key = format!("key:{index}");
            protocol.push_str(&format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\nv\r\n",
                key.len()
            ));
        }
        let mut command = Command::new("redis-cli");
        command.args(self.cli_arguments()).arg("--pipe");
        let output = output_with_input(command, &protocol);
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.contains("errors: 0"),
            "{}: redis-cli --pipe: {text}{}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The arguments redis-cli needs to reach this process.
    fn cli_arguments(&self) -> Vec<String> {
        let mut arguments = vec![
            "-h".to_owned(),
            self.host.clone(),
            "-p".to_owned(),
            self.port.to_string(),
        ];
        if let Some(password) = &self.options.password {
            if let Some(user) = &self.options.acl_user {
                arguments.extend(["--user".to_owned(), user.clone()]);
            }
            arguments.extend([
                "--pass".to_owned(),
                password.clone(),
                "--no-auth-warning".to_owned(),
            ]);
        }
        if let Some(certificates) = &self.options.tls {
            arguments.extend([
                "--tls".to_owned(),
                "--cacert".to_owned(),
                certificates.path("ca.crt"),
                "--cert".to_owned(),
                certificates.path("tls.crt"),
                "--key".to_owned(),
                certificates.path("tls.key"),
            ]);
        }
        arguments
    }

    /// Runs one command with redis-cli and returns its output (errors included, as text).
    pub fn cli(&self, command: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(self.cli_arguments())
            .args(command)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("{MISSING_REDIS} (redis-cli: {error})"));
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    /// Runs many commands (one per line, redis-cli syntax) through one redis-cli, for bulk writes.
    pub fn cli_batch(&self, commands: &str) -> String {
        let mut command = Command::new("redis-cli");
        command.args(self.cli_arguments());
        let output = output_with_input(command, commands);
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    /// The value of one field of `INFO <section>`.
    pub fn info_field(&self, section: &str, field: &str) -> Option<String> {
        let text = self.cli(&["INFO", section]);
        text.lines().find_map(|line| {
            line.strip_prefix(field)
                .and_then(|rest| rest.strip_prefix(':'))
                .map(|value| value.trim().to_owned())
        })
    }

    /// The endpoint the operator would use for this process, with the Secrets of
    /// [`SecretStore::for_process`].
    pub fn endpoint(&self) -> RedisEndpoint {
        RedisEndpoint {
            namespace: NAMESPACE.to_owned(),
            pod: self.name.clone(),
            host: self.host.clone(),
            port: self.port,
            password: self.options.password.as_ref().map(|_| SecretKey {
                name: PASSWORD_SECRET.to_owned(),
                key: PASSWORD_KEY.to_owned(),
            }),
            user: self.options.acl_user.clone(),
            tls: self.options.tls.as_ref().map(|_| TlsSecret {
                name: TLS_SECRET.to_owned(),
                ca_key: "ca.crt".to_owned(),
                certificate_key: "tls.crt".to_owned(),
                private_key_key: "tls.key".to_owned(),
            }),
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// Waits until `condition` holds, polling every 100 ms, or panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A Secret object with `data` base64-encoded as the API server stores it.
pub fn secret(name: &str, data: &[(&str, Vec<u8>)]) -> Value {
    let data: BTreeMap<&str, k8s_openapi::ByteString> = data
        .iter()
        .map(|(key, value)| (*key, k8s_openapi::ByteString(value.clone())))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": data,
    })
}

/// A Kubernetes API that holds Secrets only: what the Redis adapter reads. Every other call
/// fails, so a test notices if the adapter ever writes.
#[derive(Debug, Default)]
pub struct SecretStore {
    secrets: Mutex<BTreeMap<String, Value>>,
    /// How many Secret reads reached the store.
    pub reads: AtomicU64,
}

impl SecretStore {
    /// An empty store.
    pub fn new() -> Arc<SecretStore> {
        Arc::new(SecretStore::default())
    }

    /// A store with the Secrets `process` needs.
    pub fn for_process(process: &RedisProcess) -> Arc<SecretStore> {
        let store = SecretStore::new();
        if let Some(password) = &process.options.password {
            store.put(secret(
                PASSWORD_SECRET,
                &[(PASSWORD_KEY, password.as_bytes().to_vec())],
            ));
        }
        if let Some(certificates) = &process.options.tls {
            store.put(certificates.secret(TLS_SECRET));
        }
        store
    }

    /// Stores (or replaces) a Secret.
    pub fn put(&self, secret: Value) {
        let name = secret["metadata"]["name"].as_str().unwrap().to_owned();
        self.secrets.lock().unwrap().insert(name, secret);
    }
}

fn not_supported(action: &str) -> ApiError {
    ApiError::Transient {
        object: "secret store".to_owned(),
        action: action.to_owned(),
        message: "the test's Kubernetes API holds Secrets only".to_owned(),
    }
}

#[async_trait]
impl KubeApi for SecretStore {
    async fn get(&self, object: &ObjectRef) -> Result<Option<Value>, ApiError> {
        if object.resource != ResourceType::Secret || object.namespace != NAMESPACE {
            return Ok(None);
        }
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self.secrets.lock().unwrap().get(&object.name).cloned())
    }

    async fn list(
        &self,
        _resource: ResourceType,
        _namespace: &str,
        _labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Arc<Value>>, ApiError> {
        Err(not_supported("list"))
    }

    async fn apply(&self, _object: &Value) -> Result<Value, ApiError> {
        Err(not_supported("apply"))
    }

    async fn apply_status(
        &self,
        _object: &ObjectRef,
        _status: &Value,
        _resource_version: Option<&str>,
    ) -> Result<Value, ApiError> {
        Err(not_supported("apply status of"))
    }

    async fn delete(&self, _object: &ObjectRef, _propagation: Propagation) -> Result<(), ApiError> {
        Err(not_supported("delete"))
    }

    async fn evict(&self, _pod: &ObjectRef) -> Result<(), ApiError> {
        Err(not_supported("evict"))
    }

    async fn publish_event(&self, _event: &EventRecord) -> Result<(), ApiError> {
        Err(not_supported("publish an event to"))
    }

    async fn remove_finalizer(
        &self,
        _object: &ObjectRef,
        _finalizer: &str,
    ) -> Result<(), ApiError> {
        Err(not_supported("remove a finalizer from"))
    }
}

/// A Ready pod `group-ordinal` at `ip`, as the topology planners see pods.
pub fn pod_info(group: &str, ordinal: u32, ip: &str) -> PodInfo {
    PodInfo::ready(group, ordinal, ip, Some("loopback".to_owned()))
}

/// What the operator's observe step reads of one server: INFO replication, DBSIZE and, for a
/// cluster node, CLUSTER NODES, parsed by the operator's parsers; a failure leaves the view with
/// an error and no replication facts, as observe does.
pub async fn observe_server(
    redis: &dyn RedisAdmin,
    pod: PodInfo,
    endpoint: RedisEndpoint,
    cluster: bool,
) -> ServerView {
    let mut view = ServerView {
        pod,
        endpoint: endpoint.clone(),
        replication: None,
        cluster_nodes: None,
        keys: None,
        cluster_state_ok: None,
        error: None,
    };
    let result: Result<(), String> = async {
        let reply = redis
            .execute(&endpoint, &RedisCommand::InfoReplication)
            .await
            .map_err(|error| error.to_string())?;
        view.replication = Some(
            parse_info_replication(reply.as_text().unwrap_or_default())
                .map_err(|error| error.to_string())?,
        );
        if let RedisReply::Integer(count) = redis
            .execute(&endpoint, &RedisCommand::DatabaseSize)
            .await
            .map_err(|error| error.to_string())?
        {
            view.keys = u64::try_from(count).ok();
        }
        if cluster {
            let reply = redis
                .execute(&endpoint, &RedisCommand::ClusterNodes)
                .await
                .map_err(|error| error.to_string())?;
            view.cluster_nodes = Some(Arc::new(
                parse_cluster_nodes(reply.as_text().unwrap_or_default())
                    .map_err(|error| error.to_string())?,
            ));
        }
        Ok(())
    }
    .await;
    if let Err(error) = result {
        view.replication = None;
        view.error = Some(error);
    }
    view
}

/// Runs `command` (a `redis-cli`) with `input` as its standard input and returns its output; fails
/// naming the packages to install when it cannot start.
pub fn output_with_input(mut command: Command, input: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{MISSING_REDIS} ({command:?}: {error})"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    output
}
