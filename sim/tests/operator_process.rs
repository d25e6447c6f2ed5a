//! The real `redis-operator run` process against the fake API server behind its HTTP facade:
//! every example in `deploy/examples/` reconciles to exactly the objects the builders describe,
//! the leader Lease is taken and released, the metrics count reconciles of every kind, an
//! invalid CR gets a status and an Event naming the field while the process keeps running, and
//! SIGTERM stops the process cleanly.
//!
//! The test runs the binary `cargo test --workspace` builds (`target/<profile>/redis-operator`);
//! run `cargo build --bin redis-operator` first when testing this package alone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use redis_operator::api::Kind;
use redis_operator::api::document::validate_value;
use redis_operator::operator::controller::resource_type;
use redis_operator::ports::clock::SystemClock;
use redis_operator::ports::kube::{EventType, ObjectRef, ResourceType};
use redis_operator::reconcile::difference::{is_subset, with_applied_hash};
use redis_operator::resources::desired_objects;
use redis_operator::resources::names::LEADER_LEASE_NAME;
use redis_operator_sim::fakes::api_server::FakeApiServer;
use redis_operator_sim::fakes::http_api::HttpApiServer;
use serde_json::Value;

/// How long the operator gets to write every object the examples need.
const CONVERGENCE_LIMIT: Duration = Duration::from_secs(60);
/// How long the operator gets to stop after SIGTERM.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(20);
const NAMESPACE: &str = "default";
const LEASE_GROUP_VERSION: &str = "coordination.k8s.io/v1";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `target/<profile>/redis-operator` beside this test's own executable in `target/<profile>/deps`,
/// or the binary `REDIS_OPERATOR_BINARY` names (for testing a build kept elsewhere).
fn operator_binary() -> PathBuf {
    if let Some(binary) = std::env::var_os("REDIS_OPERATOR_BINARY") {
        return PathBuf::from(binary);
    }
    let test = std::env::current_exe().unwrap();
    let profile_directory = test.parent().and_then(Path::parent).unwrap();
    let binary = profile_directory.join("redis-operator");
    let modified = |path: &Path| std::fs::metadata(path).and_then(|metadata| metadata.modified());
    let Ok(built) = modified(&binary) else {
        panic!(
            "{} is missing: build it with `cargo build --bin redis-operator` (cargo test --workspace builds it)",
            binary.display()
        );
    };
    let newest_source = newest_modification(&workspace_root().join("src"));
    assert!(
        newest_source <= built,
        "{} is older than the sources in src/: rebuild it with `cargo build --bin redis-operator`",
        binary.display()
    );
    binary
}

fn newest_modification(directory: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        let modified = if path.is_dir() {
            newest_modification(&path)
        } else {
            std::fs::metadata(&path).unwrap().modified().unwrap()
        };
        newest = newest.max(modified);
    }
    newest
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let value = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |value, (index, byte)| {
                value | u32::from(*byte) << (16 - 8 * index)
            });
        for position in 0..4 {
            if position <= chunk.len() {
                text.push(char::from(
                    ALPHABET[(value >> (18 - 6 * position) & 63) as usize],
                ));
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// The example manifests, each document as JSON in the test namespace; Secrets carry `data` as
/// the API server stores them.
fn example_documents() -> Vec<Value> {
    let directory = workspace_root().join("deploy/examples");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    paths.sort();
    let mut documents = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        for deserializer in serde_yaml_ng::Deserializer::from_str(&text) {
            let mut document: Value = serde::Deserialize::deserialize(deserializer).unwrap();
            if document.is_null() {
                continue;
            }
            document["metadata"]["namespace"] = Value::from(NAMESPACE);
            if let Some(Value::Object(strings)) = document
                .as_object_mut()
                .and_then(|map| map.remove("stringData"))
            {
                for (key, value) in strings {
                    document["data"][key] =
                        Value::from(base64(value.as_str().unwrap_or_default().as_bytes()));
                }
            }
            documents.push(document);
        }
    }
    documents
}

/// A RedisReplication the validation rejects: `spec.clusterSize` 0.
fn invalid_replication() -> Value {
    serde_json::json!({
        "apiVersion": "redis.redis.opstreelabs.in/v1beta2",
        "kind": "RedisReplication",
        "metadata": { "name": "broken", "namespace": NAMESPACE },
        "spec": { "clusterSize": 0, "kubernetesConfig": { "image": "redis:7.2" } },
    })
}

fn kind_of(reference: &ObjectRef) -> Option<Kind> {
    Kind::ALL
        .into_iter()
        .find(|kind| resource_type(*kind) == reference.resource)
}

/// What is still missing or different, for each example CR: the objects its builders describe
/// compared with the stored ones, and a status with a reason.
fn differences(api: &FakeApiServer, resources: &[ObjectRef]) -> Vec<String> {
    let mut differences = Vec::new();
    for reference in resources {
        let kind = kind_of(reference).unwrap();
        let live = api.object(reference).unwrap();
        let validated = match validate_value(kind, &live) {
            Ok(validated) => validated,
            Err(errors) => panic!("example {reference} is invalid: {errors:?}"),
        };
        let desired = desired_objects(&validated);
        assert!(!desired.objects.is_empty(), "{reference} owns no objects");
        for object in desired.objects {
            let object = with_applied_hash(object);
            let owned = ObjectRef::of(&object).unwrap();
            match api.object(&owned) {
                None => differences.push(format!("{owned} of {reference} is missing")),
                Some(stored) if !is_subset(&object, &stored) => differences.push(format!(
                    "{owned} of {reference} differs from the builders' object"
                )),
                Some(_) => {}
            }
        }
        let conditions = live
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !conditions.iter().any(|condition| {
            condition["type"] == "Ready"
                && condition["reason"]
                    .as_str()
                    .is_some_and(|reason| !reason.is_empty())
        }) {
            differences.push(format!(
                "{reference} has no Ready condition with a reason yet"
            ));
        }
    }
    differences
}

fn http_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
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

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Kills the child if the test fails before it stops it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn lease_holder(server: &HttpApiServer) -> Option<String> {
    server
        .extra_object(LEASE_GROUP_VERSION, "leases", NAMESPACE, LEADER_LEASE_NAME)
        .and_then(|lease| {
            lease
                .pointer("/spec/holderIdentity")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_process_reconciles_every_example_against_the_facade() {
    let binary = operator_binary();
    let api = FakeApiServer::new(Arc::new(SystemClock));
    let server = HttpApiServer::start(api.clone()).await.unwrap();

    let mut resources = Vec::new();
    for document in example_documents() {
        let stored = api.create(document).unwrap();
        let reference = ObjectRef::of(&stored).unwrap();
        if kind_of(&reference).is_some() {
            resources.push(reference);
        }
    }
    let kinds: Vec<&str> = resources
        .iter()
        .map(|reference| reference.resource.kind())
        .collect();
    for kind in Kind::ALL {
        assert!(
            kinds.contains(&resource_type(kind).kind()),
            "deploy/examples/ has no {}",
            kind.name()
        );
    }
    let broken = ObjectRef::of(&api.create(invalid_replication()).unwrap()).unwrap();

    let directory = std::env::temp_dir().join(format!("operator-process-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let kubeconfig = directory.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: facade\n  cluster:\n    server: {}\ncontexts:\n- name: facade\n  context:\n    cluster: facade\n    user: tester\n    namespace: {NAMESPACE}\ncurrent-context: facade\nusers:\n- name: tester\n  user:\n    token: not-a-secret\n",
            server.url()
        ),
    )
    .unwrap();
    let log = directory.join("operator.log");
    let metrics_port = free_port();
    let health_port = free_port();
    let started = Instant::now();
    let child = Command::new(&binary)
        .arg("run")
        .args(["--metrics-address", &format!("127.0.0.1:{metrics_port}")])
        .args(["--health-address", &format!("127.0.0.1:{health_port}")])
        .args([
            "--leader-election",
            "--log-level",
            "info,redis_operator=debug",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAME", "operator-under-test")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::options().append(true).open(&log).unwrap(),
        ))
        .spawn()
        .unwrap();
    let mut child = Running(child);

    let mut remaining = differences(&api, &resources);
    while !remaining.is_empty() {
        if let Some(exit) = child.0.try_wait().unwrap() {
            panic!("the operator exited early with {exit}:\n{}", log_tail(&log));
        }
        assert!(
            started.elapsed() < CONVERGENCE_LIMIT,
            "after {CONVERGENCE_LIMIT:?} still: {remaining:#?}\noperator log:\n{}",
            log_tail(&log)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        remaining = differences(&api, &resources);
    }
    let converged = started.elapsed();

    // Pods never start (no kubelet), so no CR is Ready; each says why.
    for reference in &resources {
        let live = api.object(reference).unwrap();
        let ready = live
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|conditions| {
                conditions
                    .iter()
                    .find(|condition| condition["type"] == "Ready")
            })
            .cloned()
            .unwrap();
        assert_eq!(ready["status"], "False", "{reference}: {ready}");
    }

    let holder = lease_holder(&server);
    assert!(
        holder
            .as_deref()
            .is_some_and(|holder| holder.starts_with("operator-under-test_")),
        "the Lease is held by {holder:?}"
    );

    // The invalid CR: a status and a Warning Event naming the field.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let degraded = api
            .object(&broken)
            .and_then(|live| {
                live.pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .cloned()
            })
            .unwrap_or_default()
            .into_iter()
            .find(|condition| condition["type"] == "Degraded");
        let event = api.events().into_iter().find(|event| {
            event.regarding == broken
                && event.event_type == EventType::Warning
                && event.message.contains("spec.clusterSize")
        });
        if let (Some(degraded), Some(_)) = (&degraded, &event)
            && degraded["reason"] == "InvalidSpec"
            && degraded["message"]
                .as_str()
                .is_some_and(|message| message.contains("spec.clusterSize"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{broken}: condition {degraded:?}, event {event:?}\nEvent requests: {:?}\n{}",
            server
                .requests()
                .iter()
                .filter(|request| request.contains("events"))
                .collect::<Vec<_>>(),
            log_tail(&log)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A reconcile is counted when it ends; a cluster's may still be waiting on its pods' Redis
    // (which nothing serves here) after its objects exist, so the counts are polled.
    let counted = |metrics: &str, kind: Kind| {
        metrics.lines().any(|line| {
            line.starts_with(&format!(
                "redis_operator_reconciles_total{{kind=\"{}\"}}",
                kind.name()
            )) && line
                .rsplit(' ')
                .next()
                .and_then(|count| count.parse::<f64>().ok())
                .is_some_and(|count| count >= 1.0)
        })
    };
    let metrics_deadline = Instant::now() + Duration::from_secs(30);
    let mut metrics = http_get(metrics_port, "/metrics");
    while !Kind::ALL.iter().all(|kind| counted(&metrics, *kind))
        && Instant::now() < metrics_deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
        metrics = http_get(metrics_port, "/metrics");
    }
    for kind in Kind::ALL {
        assert!(
            counted(&metrics, kind),
            "no reconcile of {} counted:\n{metrics}",
            kind.name()
        );
    }
    assert!(
        metrics.contains("redis_operator_leader 1"),
        "the metrics do not say this replica leads:\n{metrics}"
    );
    // Reconciles read owned objects from the shared watch caches: the StatefulSets were listed
    // by the watch, not by each reconcile (of which there were at least one per CR).
    let statefulset_lists = server
        .requests()
        .iter()
        .filter(|request| {
            request.starts_with("GET ")
                && request.contains("/statefulsets")
                && !request.contains("\"watch\"")
        })
        .count();
    assert!(
        (1..=2).contains(&statefulset_lists),
        "{statefulset_lists} StatefulSet lists; the watch lists them, reconciles read its cache:\n{:#?}",
        server.requests()
    );
    // Ready once every controller's CR cache has had its first list.
    let ready_deadline = Instant::now() + Duration::from_secs(30);
    let mut ready = http_get(health_port, "/readyz");
    while !ready.starts_with("HTTP/1.1 200") && Instant::now() < ready_deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ready = http_get(health_port, "/readyz");
    }
    assert!(
        ready.starts_with("HTTP/1.1 200"),
        "/readyz: {ready}\n{}",
        log_tail(&log)
    );
    let health = http_get(health_port, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "/healthz: {health}");
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "the operator stopped:\n{}",
        log_tail(&log)
    );
    let signalled = Instant::now();
    let sent = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "failed to send SIGTERM");
    let exit = loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            signalled.elapsed() < SHUTDOWN_LIMIT,
            "the operator did not stop within {SHUTDOWN_LIMIT:?} of SIGTERM:\n{}",
            log_tail(&log)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        exit.success(),
        "the operator exited with {exit}:\n{}",
        log_tail(&log)
    );
    assert_eq!(
        lease_holder(&server).as_deref(),
        Some(""),
        "the Lease was not released"
    );
    let writes = api.writes();
    let applies = writes.iter().filter(|write| write.verb == "apply").count();
    println!(
        "converged in {converged:?} with {applies} applies over {} requests; stopped in {:?}",
        server.requests().len(),
        signalled.elapsed()
    );
    let _ = std::fs::remove_dir_all(&directory);
    let _ = ResourceType::ALL;
}
