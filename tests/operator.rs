//! The controller process's parts that need no cluster: flag parsing with environment fallbacks,
//! the metrics and health endpoints over real loopback sockets, the error policy, and leader
//! election against an in-process mock API server (acquire, renew, lose, take over, release).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use redis_operator::api::Kind;
use redis_operator::operator::controller::{
    FIRST_BACKOFF, MAXIMUM_BACKOFF, Retry, api_resource, backoff, is_permanent, pod_owner,
    retry_after, sentinels_monitoring,
};
use redis_operator::operator::health::{Health, Role};
use redis_operator::operator::http::{bind, health_page, metrics_page, serve};
use redis_operator::operator::leader::{LeaseLock, LeaseOutcome};
use redis_operator::operator::metrics::{CountingRedis, Metrics};
use redis_operator::operator::options::{LogFormat, RunOptions};
use redis_operator::ports::clock::Clock;
use redis_operator::ports::kube::{ApiError, ObjectRef, ResourceType};
use redis_operator::ports::redis::{
    FailoverMode, RedisAdmin, RedisCommand, RedisEndpoint, RedisError, RedisReply,
};
use redis_operator::reconcile::Request as PlanRequest;
use redis_operator::reconcile::driver::ReconcileError;
use redis_operator::reconcile::execute::ExecutionError;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower_test::mock::{self, Handle};

fn arguments(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| (*word).to_owned()).collect()
}

#[test]
fn flags_win_over_the_environment_which_wins_over_defaults() {
    let environment = BTreeMap::from([
        ("REDIS_OPERATOR_NAMESPACES", "shop, billing"),
        ("REDIS_OPERATOR_LOG_FORMAT", "json"),
        ("REDIS_OPERATOR_LEADER_ELECTION", "false"),
        ("REDIS_OPERATOR_HEALTH_ADDRESS", "127.0.0.1:9000"),
    ]);
    let lookup = |name: &str| environment.get(name).map(|value| (*value).to_owned());
    let from_environment = RunOptions::parse(&[], &lookup).unwrap();
    assert_eq!(from_environment.namespaces, ["shop", "billing"]);
    assert_eq!(from_environment.log_format, LogFormat::Json);
    assert!(!from_environment.leader_election);
    assert_eq!(
        from_environment.health_address.to_string(),
        "127.0.0.1:9000"
    );
    assert_eq!(from_environment.metrics_address.to_string(), "0.0.0.0:8080");
    assert_eq!(from_environment.log_level, "info");

    let flags = RunOptions::parse(
        &arguments(&[
            "--namespace",
            "a",
            "--namespace=b,c",
            "--log-format",
            "text",
            "--leader-election",
            "--lease-namespace",
            "operators",
            "--log-level=redis_operator=debug",
        ]),
        &lookup,
    )
    .unwrap();
    assert_eq!(flags.namespaces, ["a", "b", "c"]);
    assert_eq!(flags.log_format, LogFormat::Text);
    assert!(flags.leader_election);
    assert_eq!(flags.lease_namespace.as_deref(), Some("operators"));
    assert_eq!(flags.log_level, "redis_operator=debug");

    let bad = BTreeMap::from([("REDIS_OPERATOR_LEADER_ELECTION", "yes")]);
    let error =
        RunOptions::parse(&[], &|name: &str| bad.get(name).map(|v| (*v).to_owned())).unwrap_err();
    assert!(
        error.starts_with("REDIS_OPERATOR_LEADER_ELECTION:"),
        "{error}"
    );
}

async fn http_get(address: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap();
    (status, body)
}

struct AnsweringRedis;

#[async_trait::async_trait]
impl RedisAdmin for AnsweringRedis {
    async fn execute(
        &self,
        endpoint: &RedisEndpoint,
        command: &RedisCommand,
    ) -> Result<RedisReply, RedisError> {
        match command {
            RedisCommand::Ping => Ok(RedisReply::Status("PONG".to_owned())),
            _ => Err(RedisError::Unreachable {
                endpoint: endpoint.to_string(),
                message: "refused".to_owned(),
            }),
        }
    }
}

fn endpoint() -> RedisEndpoint {
    RedisEndpoint {
        namespace: "shop".to_owned(),
        pod: "cache-leader-0".to_owned(),
        host: "10.0.0.1".to_owned(),
        port: 6379,
        password: None,
        user: None,
        tls: None,
    }
}

#[tokio::test]
async fn the_metrics_endpoint_serves_every_metric_in_the_text_format() {
    let metrics = Arc::new(Metrics::default());
    let redis = CountingRedis::new(Arc::new(AnsweringRedis), Arc::clone(&metrics));
    redis
        .execute(&endpoint(), &RedisCommand::Ping)
        .await
        .unwrap();
    redis
        .execute(&endpoint(), &RedisCommand::ClusterNodes)
        .await
        .unwrap_err();
    let executed = [
        PlanRequest::Redis {
            endpoint: Arc::new(endpoint()),
            command: RedisCommand::ClusterFailover(FailoverMode::Coordinated),
        },
        PlanRequest::MoveSlotKeys {
            source: Arc::new(endpoint()),
            target: Arc::new(endpoint()),
            slot: 7,
        },
        PlanRequest::MoveSlotKeys {
            source: Arc::new(endpoint()),
            target: Arc::new(endpoint()),
            slot: 8,
        },
    ];
    metrics.record_reconcile(
        Kind::RedisCluster,
        Duration::from_millis(30),
        &executed,
        None,
    );
    metrics.record_reconcile(
        Kind::RedisCluster,
        Duration::from_secs(2),
        &[],
        Some("conflict"),
    );
    metrics.record_conditions(
        Kind::RedisCluster,
        "shop",
        "cache",
        &json!({ "conditions": [
            { "type": "Ready", "status": "True" },
            { "type": "Degraded", "status": "False" },
        ]}),
    );
    metrics.set_leader(Some(true));

    let listener = bind("127.0.0.1:0".parse().unwrap(), "--metrics-address")
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    let served = Arc::clone(&metrics);
    let server = tokio::spawn(serve(
        listener,
        Arc::new(move |path: &str| metrics_page(&served, path)),
    ));
    let (status, body) = http_get(address, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "# TYPE redis_operator_reconciles_total counter",
        "redis_operator_reconciles_total{kind=\"RedisCluster\"} 2",
        "redis_operator_reconcile_errors_total{kind=\"RedisCluster\",reason=\"conflict\"} 1",
        "# TYPE redis_operator_reconcile_duration_seconds histogram",
        "redis_operator_reconcile_duration_seconds_bucket{kind=\"RedisCluster\",le=\"0.05\"} 1",
        "redis_operator_reconcile_duration_seconds_bucket{kind=\"RedisCluster\",le=\"+Inf\"} 2",
        "redis_operator_reconcile_duration_seconds_count{kind=\"RedisCluster\"} 2",
        "redis_operator_resource_ready{kind=\"RedisCluster\",namespace=\"shop\",name=\"cache\"} 1",
        "redis_operator_resource_degraded{kind=\"RedisCluster\",namespace=\"shop\",name=\"cache\"} 0",
        "redis_operator_redis_commands_total{command=\"PING\"} 1",
        "redis_operator_redis_commands_total{command=\"CLUSTER NODES\"} 1",
        "redis_operator_redis_command_errors_total{command=\"CLUSTER NODES\"} 1",
        "redis_operator_failovers_total{kind=\"RedisCluster\",command=\"CLUSTER FAILOVER\"} 1",
        "redis_operator_slot_migrations_total{kind=\"RedisCluster\"} 2",
        "redis_operator_leader 1",
    ] {
        assert!(
            body.lines().any(|candidate| candidate == line),
            "missing {line:?} in:\n{body}"
        );
    }
    assert_eq!(http_get(address, "/other").await.0, 404);
    metrics.forget(Kind::RedisCluster, "shop", "cache");
    let (_, body) = http_get(address, "/metrics").await;
    assert!(!body.contains("name=\"cache\""), "{body}");
    server.abort();
}

#[tokio::test]
async fn readiness_reports_sync_and_the_leader_or_standby_role() {
    let health = Arc::new(Health::new(Role::Standby));
    let listener = bind("127.0.0.1:0".parse().unwrap(), "--health-address")
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    let served = Arc::clone(&health);
    let server = tokio::spawn(serve(
        listener,
        Arc::new(move |path: &str| health_page(&served, path)),
    ));
    assert_eq!(
        http_get(address, "/healthz").await,
        (200, "ok\n".to_owned())
    );
    assert_eq!(
        http_get(address, "/readyz").await,
        (
            200,
            "standby: waiting to acquire the leader lease\n".to_owned()
        )
    );
    health.set_role(Role::Leader);
    assert_eq!(
        http_get(address, "/readyz").await,
        (503, "leader: waiting for the caches to sync\n".to_owned())
    );
    health.set_synced();
    assert_eq!(
        http_get(address, "/readyz").await,
        (200, "leader: caches synced\n".to_owned())
    );
    let alone = Health::new(Role::Alone);
    assert_eq!(health_page(&alone, "/readyz").status, 503);
    alone.set_synced();
    assert_eq!(health_page(&alone, "/readyz").status, 200);
    server.abort();
}

#[test]
fn transient_failures_back_off_exponentially_to_a_cap_and_invalid_ones_wait_for_a_change() {
    assert_eq!(backoff(1), Duration::from_secs(5));
    assert_eq!(backoff(2), Duration::from_secs(10));
    assert_eq!(backoff(4), Duration::from_secs(40));
    assert_eq!(backoff(10), MAXIMUM_BACKOFF);
    assert_eq!(backoff(u32::MAX), MAXIMUM_BACKOFF);
    let failure = |source: ApiError| ReconcileError::Execute {
        object: "RedisCluster shop/cache".to_owned(),
        source: ExecutionError::Api(source),
        executed: Vec::new(),
    };
    assert!(is_permanent(&failure(ApiError::Invalid {
        object: "StatefulSet shop/cache-leader".to_owned(),
        message: "spec: Forbidden".to_owned(),
    })));
    assert!(!is_permanent(&failure(ApiError::Conflict {
        object: "StatefulSet shop/cache-leader".to_owned(),
        message: "changed".to_owned(),
    })));
    assert!(!is_permanent(&ReconcileError::Observe {
        object: ObjectRef::new(ResourceType::RedisCluster, "shop", "cache").to_string(),
        source: ApiError::Transient {
            object: "pods in shop".to_owned(),
            action: "list".to_owned(),
            message: "timeout".to_owned(),
        },
    }));
}

#[test]
fn conflicts_are_retried_soon_without_lengthening_the_backoff_of_other_failures() {
    let failure = |source: ApiError| ReconcileError::Execute {
        object: "RedisCluster shop/cache".to_owned(),
        source: ExecutionError::Api(source),
        executed: Vec::new(),
    };
    let conflict = failure(ApiError::Conflict {
        object: "RedisCluster shop/cache".to_owned(),
        message: "the object has been modified".to_owned(),
    });
    let unavailable = failure(ApiError::Transient {
        object: "StatefulSet shop/cache-leader".to_owned(),
        action: "apply".to_owned(),
        message: "connection refused".to_owned(),
    });
    let invalid = failure(ApiError::Invalid {
        object: "StatefulSet shop/cache-leader".to_owned(),
        message: "spec: Forbidden".to_owned(),
    });
    // Six conflicts in a row after two other failures: each retried after the first backoff,
    // and the next other failure waits as the third, not the ninth.
    let mut failures = 0;
    for _ in 0..2 {
        let Retry::After {
            failures: counted, ..
        } = retry_after(&unavailable, failures)
        else {
            panic!("a transient failure is retried");
        };
        failures = counted;
    }
    for _ in 0..6 {
        assert_eq!(
            retry_after(&conflict, failures),
            Retry::After {
                wait: FIRST_BACKOFF,
                failures: 2
            }
        );
    }
    assert_eq!(
        retry_after(&unavailable, failures),
        Retry::After {
            wait: backoff(3),
            failures: 3
        }
    );
    assert_eq!(retry_after(&invalid, 7), Retry::AwaitChange);
}

type MockHandle = Handle<Request<Body>, Response<Body>>;

struct TestClock(AtomicU64);

impl Clock for TestClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// 2026-01-01T00:00:00Z.
const START: u64 = 1_767_225_600_000;

fn lease_lock(identity: &str) -> (LeaseLock, MockHandle, Arc<TestClock>) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let clock = Arc::new(TestClock(AtomicU64::new(START)));
    let lock = LeaseLock::new(
        Client::new(service, "default"),
        "operators",
        "redis-operator-leader",
        identity,
        Arc::clone(&clock) as Arc<dyn Clock>,
    );
    (lock, handle, clock)
}

async fn answer(handle: &mut MockHandle, status: u16, body: Value) -> (String, String, Value) {
    let (request, respond) = handle.next_request().await.expect("a request");
    let (parts, request_body) = request.into_parts();
    let bytes = request_body.collect_bytes().await.unwrap();
    let sent = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    respond.send_response(
        Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap(),
    );
    (parts.method.to_string(), parts.uri.to_string(), sent)
}

fn not_found() -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found" })
}

fn conflict() -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": "the object has been modified" })
}

fn lease(holder: &str, renew: &str, resource_version: &str, transitions: i64) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": { "name": "redis-operator-leader", "namespace": "operators", "resourceVersion": resource_version },
        "spec": {
            "holderIdentity": holder, "leaseDurationSeconds": 15,
            "acquireTime": "2026-01-01T00:00:00.000000Z", "renewTime": renew,
            "leaseTransitions": transitions,
        },
    })
}

const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/operators/leases/redis-operator-leader";

#[tokio::test]
async fn a_missing_lease_is_created_and_then_renewed_with_its_resource_version() {
    let (lock, mut handle, clock) = lease_lock("operator-a");
    let (outcome, (read, created)) = tokio::join!(lock.try_acquire_or_renew(), async {
        let read = answer(&mut handle, 404, not_found()).await;
        let created = answer(&mut handle, 201, json!({})).await;
        (read, created)
    });
    assert_eq!(outcome.unwrap(), LeaseOutcome::Held);
    assert_eq!((read.0.as_str(), read.1.as_str()), ("GET", PATH));
    assert_eq!(created.0, "POST");
    assert_eq!(
        created.1,
        "/apis/coordination.k8s.io/v1/namespaces/operators/leases"
    );
    assert_eq!(
        created.2["spec"],
        json!({
            "holderIdentity": "operator-a", "leaseDurationSeconds": 15,
            "acquireTime": "2026-01-01T00:00:00.000000Z",
            "renewTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": 0,
        })
    );

    clock.0.store(START + 2_500, Ordering::SeqCst);
    let current = lease("operator-a", "2026-01-01T00:00:00.000000Z", "41", 0);
    let (outcome, (_, renewed)) = tokio::join!(lock.try_acquire_or_renew(), async {
        let read = answer(&mut handle, 200, current.clone()).await;
        let renewed = answer(&mut handle, 200, current.clone()).await;
        (read, renewed)
    });
    assert_eq!(outcome.unwrap(), LeaseOutcome::Held);
    assert_eq!((renewed.0.as_str(), renewed.1.as_str()), ("PUT", PATH));
    assert_eq!(renewed.2["metadata"]["resourceVersion"], "41");
    assert_eq!(
        renewed.2["spec"]["renewTime"],
        "2026-01-01T00:00:02.500000Z"
    );
    assert_eq!(
        renewed.2["spec"]["acquireTime"],
        "2026-01-01T00:00:00.000000Z"
    );
    assert_eq!(renewed.2["spec"]["leaseTransitions"], 0);
}

#[tokio::test]
async fn a_lease_renewed_by_another_replica_is_lost_and_a_racing_write_loses_on_conflict() {
    let (lock, mut handle, clock) = lease_lock("operator-a");
    let theirs = lease("operator-b", "2026-01-01T00:00:00.000000Z", "50", 1);
    let (outcome, _) = tokio::join!(
        lock.try_acquire_or_renew(),
        answer(&mut handle, 200, theirs.clone())
    );
    assert_eq!(
        outcome.unwrap(),
        LeaseOutcome::HeldByOther("operator-b".to_owned())
    );

    // Our own renewal racing a takeover: the resourceVersion no longer matches.
    let ours = lease("operator-a", "2026-01-01T00:00:00.000000Z", "51", 1);
    let (outcome, (_, replaced)) = tokio::join!(lock.try_acquire_or_renew(), async {
        let read = answer(&mut handle, 200, ours.clone()).await;
        let replaced = answer(&mut handle, 409, conflict()).await;
        (read, replaced)
    });
    assert_eq!(replaced.2["metadata"]["resourceVersion"], "51");
    assert_eq!(
        outcome.unwrap(),
        LeaseOutcome::HeldByOther("operator-a".to_owned())
    );

    // Another replica's lease that stops being renewed is taken over once it has gone unrenewed
    // for its whole duration by our clock.
    clock.0.store(START + 10_000, Ordering::SeqCst);
    let (outcome, _) = tokio::join!(
        lock.try_acquire_or_renew(),
        answer(&mut handle, 200, theirs.clone())
    );
    assert_eq!(
        outcome.unwrap(),
        LeaseOutcome::HeldByOther("operator-b".to_owned())
    );
    clock.0.store(START + 26_000, Ordering::SeqCst);
    let (outcome, (_, taken)) = tokio::join!(lock.try_acquire_or_renew(), async {
        let read = answer(&mut handle, 200, theirs.clone()).await;
        let taken = answer(&mut handle, 200, theirs.clone()).await;
        (read, taken)
    });
    assert_eq!(outcome.unwrap(), LeaseOutcome::Held);
    assert_eq!(taken.0, "PUT");
    assert_eq!(taken.2["metadata"]["resourceVersion"], "50");
    assert_eq!(taken.2["spec"]["holderIdentity"], "operator-a");
    assert_eq!(taken.2["spec"]["leaseTransitions"], 2);
    assert_eq!(
        taken.2["spec"]["acquireTime"],
        "2026-01-01T00:00:26.000000Z"
    );
}

#[tokio::test]
async fn releasing_hands_the_lease_over_only_when_held() {
    let (lock, mut handle, _clock) = lease_lock("operator-a");
    let ours = lease("operator-a", "2026-01-01T00:00:00.000000Z", "60", 0);
    let (result, (_, released)) = tokio::join!(lock.release(), async {
        let read = answer(&mut handle, 200, ours.clone()).await;
        let released = answer(&mut handle, 200, ours.clone()).await;
        (read, released)
    });
    result.unwrap();
    assert_eq!(released.0, "PUT");
    assert_eq!(released.2["spec"]["holderIdentity"], "");
    assert_eq!(released.2["spec"]["leaseDurationSeconds"], 1);
    assert_eq!(released.2["metadata"]["resourceVersion"], "60");

    let theirs = lease("operator-b", "2026-01-01T00:00:00.000000Z", "61", 0);
    let (result, _) = tokio::join!(lock.release(), answer(&mut handle, 200, theirs));
    result.unwrap();
}

#[test]
fn a_pod_triggers_the_cr_its_instance_label_names() {
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "metadata": {
            "name": "cache-leader-0", "namespace": "shop",
            "labels": { "app.kubernetes.io/instance": "cache", "redis_setup_type": "cluster" },
        },
    }))
    .unwrap();
    assert_eq!(
        pod_owner(&pod),
        Some(("shop".to_owned(), "cache".to_owned()))
    );
    let unlabelled: k8s_openapi::api::core::v1::Pod =
        serde_json::from_value(json!({ "metadata": { "name": "other", "namespace": "shop" } }))
            .unwrap();
    assert_eq!(pod_owner(&unlabelled), None);
}

#[test]
fn a_replication_change_triggers_the_sentinels_in_its_namespace_that_monitor_it() {
    let sentinel = |namespace: &str, name: &str, replication: &str| {
        let object: kube::api::DynamicObject = serde_json::from_value(json!({
            "apiVersion": "redis.redis.opstreelabs.in/v1beta2", "kind": "RedisSentinel",
            "metadata": { "name": name, "namespace": namespace },
            "spec": { "redisSentinelConfig": { "redisReplicationName": replication } },
        }))
        .unwrap();
        Arc::new(object)
    };
    let sentinels = [
        sentinel("shop", "watcher", "cache"),
        sentinel("shop", "elsewhere", "sessions"),
        sentinel("billing", "same-name-other-namespace", "cache"),
        sentinel("shop", "second-watcher", "cache"),
    ];
    let replication = kube::api::DynamicObject::new("cache", &api_resource(Kind::RedisReplication))
        .within("shop");
    assert_eq!(
        sentinels_monitoring(&sentinels, &replication),
        [
            ("shop".to_owned(), "watcher".to_owned()),
            ("shop".to_owned(), "second-watcher".to_owned()),
        ]
    );
}
