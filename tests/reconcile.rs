//! The reconcile pipeline against the fake API server: converged reconciles write nothing, a
//! StatefulSet update rejected as invalid is recorded (or, with the annotation, the StatefulSet is
//! recreated with its pods orphaned), skip-reconcile writes nothing, and deletion honours
//! keepAfterDelete.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

use redis_operator::api::Kind;
use redis_operator::ports::kube::{ObjectRef, Propagation, ResourceType};
use redis_operator::reconcile::Request;
use redis_operator::reconcile::driver::ReconcileOutcome;
use redis_operator_sim::engine::world::World;
use redis_operator_sim::fakes::api_server::FakeApiServer;
use redis_operator_sim::fakes::garbage_collector::mark_deleted;
use serde_json::{Value, json};

struct Harness {
    world: World,
    api: FakeApiServer,
}

impl Harness {
    fn new() -> Harness {
        let world = World::new();
        let api = world.api.clone();
        Harness { world, api }
    }

    fn create(&self, yaml: &str) -> (Kind, ObjectRef) {
        let (kind, reference) = self.world.create_yaml(yaml).unwrap();
        (kind.unwrap(), reference)
    }

    async fn reconcile(&self, kind: Kind, target: &ObjectRef) -> ReconcileOutcome {
        self.world.reconcile(kind, target).await.unwrap()
    }

    /// The StatefulSet controller and kubelet stand-in: pods, addresses, Redis servers.
    fn run_pods(&self) {
        self.world.step();
    }

    async fn converge(&self, kind: Kind, target: &ObjectRef) {
        let steps = self.world.converge(&[(kind, target.clone())], 300).await;
        assert!(steps.is_some(), "{target} did not converge");
    }
}

fn example(file: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
}

fn kind_of(text: &str) -> String {
    let document: Value = serde_yaml_ng::from_str(&custom_resource(text)).unwrap();
    document["kind"].as_str().unwrap().to_owned()
}

fn custom_resource(text: &str) -> String {
    text.split("\n---\n")
        .find(|document| document.contains("redis.redis.opstreelabs.in/v1beta2"))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_converged_reconcile_issues_zero_writes_for_every_kind() {
    let cases = [
        "deploy/examples/redis-standalone.yaml",
        "deploy/examples/redis-replication.yaml",
        "deploy/examples/redis-sentinel.yaml",
        "deploy/examples/redis-cluster.yaml",
        "tests/compat/v0.19.0/examples/redis-cluster.yaml",
        "tests/compat/v0.19.0/examples/tls_enabled/redis-replication.yaml",
        "tests/compat/v0.19.0/examples/sidecar_features/sidecar.yaml",
        "tests/compat/v0.19.0/examples/external_service/clusterd.yaml",
        "tests/compat/v0.19.0/examples/redis_sentinel/sentinel.yaml",
    ];
    for case in cases {
        let harness = Harness::new();
        let text = example(case);
        if kind_of(&text) == "RedisSentinel" {
            let monitored = custom_resource(&example("deploy/examples/redis-replication.yaml"));
            let name = serde_yaml_ng::from_str::<Value>(&custom_resource(&text)).unwrap()["spec"]["redisSentinelConfig"]["redisReplicationName"]
                .as_str()
                .unwrap()
                .to_owned();
            let (replication_kind, replication) =
                harness.create(&monitored.replace("name: sessions\n", &format!("name: {name}\n")));
            harness.converge(replication_kind, &replication).await;
        }
        let (kind, target) = harness.create(&custom_resource(&text));
        let first = harness.reconcile(kind, &target).await;
        assert!(
            first.writes() > 0,
            "{case}: the first reconcile creates the objects"
        );
        harness.converge(kind, &target).await;
        let converged = harness.reconcile(kind, &target).await;
        assert_eq!(
            converged.writes(),
            0,
            "{case}: a converged reconcile wrote {:?}",
            converged.executed
        );
        let status = harness.api.object(&target).unwrap()["status"].clone();
        let ready = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|condition| condition["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "True", "{case}: {status}");
    }
}

const STANDALONE_WITH_STORAGE: &str = "
apiVersion: redis.redis.opstreelabs.in/v1beta2
kind: Redis
metadata: {name: cache, namespace: default}
spec:
  kubernetesConfig: {image: redis:7.2}
  storage:
    volumeClaimTemplate:
      spec:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 1Gi}}
";

/// Grows the data volume in the CR: the StatefulSet's volumeClaimTemplates change, which the API
/// server forbids in an update.
fn grow_storage(harness: &Harness, target: &ObjectRef, annotation: Option<&str>) {
    let mut resource = serde_json::Value::clone(&harness.api.object(target).unwrap());
    resource["spec"]["storage"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] =
        json!("2Gi");
    if let Some(value) = annotation {
        resource["metadata"]["annotations"] =
            json!({"redis.opstreelabs.in/recreate-statefulset": value});
    }
    harness.api.update(resource).unwrap();
}

fn statefulset_writes(harness: &Harness, verb: &str) -> usize {
    harness
        .api
        .writes()
        .iter()
        .filter(|write| write.verb == verb && write.object.resource == ResourceType::StatefulSet)
        .count()
}

#[tokio::test]
async fn a_rejected_statefulset_update_without_the_annotation_is_reported_once_and_not_retried() {
    for annotation in [None, Some("false"), Some("yes")] {
        let harness = Harness::new();
        let (kind, target) = harness.create(STANDALONE_WITH_STORAGE);
        harness.reconcile(kind, &target).await;
        harness.run_pods();
        harness.reconcile(kind, &target).await;
        let claim = ObjectRef::new(
            ResourceType::PersistentVolumeClaim,
            "default",
            "cache-cache-0",
        );
        assert_eq!(
            harness.api.object(&claim).unwrap()["spec"]["resources"]["requests"]["storage"],
            "1Gi",
            "the StatefulSet controller made the claim from the template"
        );
        grow_storage(&harness, &target, annotation);
        let applies_before = statefulset_writes(&harness, "apply");
        let outcome = harness.reconcile(kind, &target).await;
        assert_eq!(
            harness.api.object(&claim).unwrap()["spec"]["resources"]["requests"]["storage"],
            "2Gi",
            "the existing claim grows in place"
        );
        assert_eq!(
            statefulset_writes(&harness, "apply") - applies_before,
            1,
            "{annotation:?}: one rejected attempt"
        );
        assert!(
            !outcome
                .executed
                .iter()
                .any(|request| matches!(request, Request::Delete { .. }))
        );
        let status = harness.api.object(&target).unwrap()["status"].clone();
        let degraded = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|condition| condition["type"] == "Degraded")
            .unwrap();
        assert_eq!(degraded["status"], "True", "{status}");
        assert_eq!(degraded["reason"], "UpdateRejected");
        assert!(
            degraded["message"]
                .as_str()
                .unwrap()
                .contains("volumeClaimTemplates")
                || degraded["message"].as_str().unwrap().contains("Forbidden")
        );
        let warnings: Vec<_> = harness
            .api
            .events()
            .into_iter()
            .filter(|event| event.reason == "UpdateRejected")
            .collect();
        assert_eq!(warnings.len(), 1, "{annotation:?}: one Event");
        assert!(warnings[0].message.contains("recreate-statefulset"));
        for _ in 0..3 {
            let again = harness.reconcile(kind, &target).await;
            assert_eq!(
                again.writes(),
                0,
                "{annotation:?}: no retry loop: {:?}",
                again.executed
            );
        }
        assert_eq!(statefulset_writes(&harness, "apply") - applies_before, 1);
        assert_eq!(
            harness
                .api
                .events()
                .iter()
                .filter(|event| event.reason == "UpdateRejected")
                .count(),
            1
        );
    }
}

#[tokio::test]
async fn a_rejected_statefulset_update_with_the_annotation_recreates_it_keeping_the_pods() {
    let harness = Harness::new();
    let (kind, target) = harness.create(STANDALONE_WITH_STORAGE);
    harness.reconcile(kind, &target).await;
    harness.run_pods();
    harness.reconcile(kind, &target).await;
    grow_storage(&harness, &target, Some("true"));
    let pod = ObjectRef::new(ResourceType::Pod, "default", "cache-0");
    let first = harness.reconcile(kind, &target).await;
    let deletes: Vec<&Request> = first
        .executed
        .iter()
        .filter(|request| matches!(request, Request::Delete { .. }))
        .collect();
    assert_eq!(
        deletes,
        [&Request::Delete {
            object: ObjectRef::new(ResourceType::StatefulSet, "default", "cache"),
            propagation: Propagation::Orphan
        }]
    );
    let orphan = harness.api.object(&pod).expect("the pod keeps running");
    assert_eq!(
        orphan["metadata"]["ownerReferences"],
        json!([]),
        "the pod is orphaned, not deleted"
    );
    let creates_before = statefulset_writes(&harness, "apply");
    let second = harness.reconcile(kind, &target).await;
    assert_eq!(
        statefulset_writes(&harness, "apply") - creates_before,
        1,
        "one create"
    );
    assert!(
        !second
            .executed
            .iter()
            .any(|request| matches!(request, Request::Delete { .. }))
    );
    let statefulset = harness
        .api
        .object(&ObjectRef::new(
            ResourceType::StatefulSet,
            "default",
            "cache",
        ))
        .unwrap();
    assert_eq!(
        statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        "2Gi"
    );
    assert!(
        harness
            .api
            .events()
            .iter()
            .any(|event| event.reason == "StatefulSetRecreated")
    );
    let settled = harness.reconcile(kind, &target).await;
    assert!(
        settled
            .executed
            .iter()
            .all(|request| matches!(request, Request::ApplyStatus { .. } | Request::Event(_))),
        "only the status catches up: {:?}",
        settled.executed
    );
    assert_eq!(harness.reconcile(kind, &target).await.writes(), 0);
}

#[tokio::test]
async fn skip_reconcile_stops_every_write() {
    for annotation in [
        "redis.opstreelabs.in/skip-reconcile",
        "rediscluster.opstreelabs.in/skip-reconcile",
    ] {
        let harness = Harness::new();
        let mut yaml = custom_resource(&example("deploy/examples/redis-cluster.yaml"));
        yaml = yaml.replace(
            "  name: orders\n",
            &format!("  name: orders\n  annotations: {{\"{annotation}\": \"true\"}}\n"),
        );
        let (kind, target) = harness.create(&yaml);
        let outcome = harness.reconcile(kind, &target).await;
        assert!(
            outcome.executed.is_empty(),
            "{annotation}: {:?}",
            outcome.executed
        );
        assert!(harness.api.objects(ResourceType::StatefulSet).is_empty());
    }
}

#[tokio::test]
async fn an_invalid_spec_is_reported_in_the_status_and_waits_for_a_change() {
    let harness = Harness::new();
    let (kind, target) = harness.create(
        "apiVersion: redis.redis.opstreelabs.in/v1beta2\nkind: RedisCluster\nmetadata: {name: tiny, namespace: default}\nspec: {clusterSize: 1, kubernetesConfig: {image: redis:7.2}}\n",
    );
    let outcome = harness.reconcile(kind, &target).await;
    assert_eq!(outcome.requeue_after, None);
    assert!(harness.api.objects(ResourceType::StatefulSet).is_empty());
    let status = harness.api.object(&target).unwrap()["status"].clone();
    let degraded = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|condition| condition["type"] == "Degraded")
        .unwrap();
    assert!(
        degraded["message"]
            .as_str()
            .unwrap()
            .contains("spec.clusterSize"),
        "{degraded}"
    );
    assert_eq!(
        harness.reconcile(kind, &target).await.executed,
        vec![],
        "reported once"
    );
}

#[tokio::test]
async fn deletion_removes_claims_unless_kept_and_then_the_finalizer() {
    for keep in [false, true] {
        let harness = Harness::new();
        let yaml = STANDALONE_WITH_STORAGE.replace(
            "  storage:\n",
            &format!("  storage:\n    keepAfterDelete: {keep}\n"),
        );
        let (kind, target) = harness.create(&yaml);
        harness.reconcile(kind, &target).await;
        harness
            .api
            .create(json!({
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "cache-cache-0", "namespace": "default", "labels": {"app": "cache", "redis_setup_type": "standalone", "role": "standalone"}},
            }))
            .unwrap();
        mark_deleted(&harness.api, &target);
        harness.reconcile(kind, &target).await;
        let claim = harness.api.object(&ObjectRef::new(
            ResourceType::PersistentVolumeClaim,
            "default",
            "cache-cache-0",
        ));
        assert_eq!(claim.is_some(), keep, "keepAfterDelete {keep}");
        assert!(
            harness.api.object(&target).is_none(),
            "the finalizer is removed and the CR is gone"
        );
        assert!(harness.world.get(&target).await.is_none());
    }
}

const REPLICATION_OF_TWO_WITH_A_STRICT_BUDGET: &str = "
apiVersion: redis.redis.opstreelabs.in/v1beta2
kind: RedisReplication
metadata: {name: sessions, namespace: default}
spec:
  clusterSize: 2
  kubernetesConfig: {image: redis:7.2}
  pdb: {enabled: true, minAvailable: 2}
";

fn condition(harness: &Harness, target: &ObjectRef, condition_type: &str) -> Value {
    let status = harness.api.object(target).unwrap()["status"].clone();
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|condition| condition["type"] == condition_type)
        .cloned()
        .unwrap_or_else(|| panic!("no {condition_type} condition in {status}"))
}

fn evictions(outcome: &ReconcileOutcome) -> usize {
    outcome
        .executed
        .iter()
        .filter(|request| matches!(request, Request::Evict(_)))
        .count()
}

#[tokio::test]
async fn a_rollout_held_by_a_budget_that_allows_no_disruption_says_so_and_resumes_when_it_does() {
    let harness = Harness::new();
    let (kind, target) = harness.create(REPLICATION_OF_TWO_WITH_A_STRICT_BUDGET);
    harness.converge(kind, &target).await;

    harness
        .world
        .patch_spec(
            &target,
            &json!({"kubernetesConfig": {"image": "redis:7.4"}}),
        )
        .unwrap();
    // The StatefulSet takes the new template; the operator then restarts the pods one at a time
    // through the Eviction API, which the budget (2 of 2 must stay available) refuses.
    let mut refused = false;
    for _ in 0..20 {
        // A refused eviction ends the reconcile normally: it is a state, not an error.
        harness.reconcile(kind, &target).await;
        harness.run_pods();
        let degraded = condition(&harness, &target, "Degraded");
        if degraded["reason"] == "DisruptionBlocked" {
            assert_eq!(degraded["status"], "True");
            let message = degraded["message"].as_str().unwrap();
            assert!(
                message.contains("refused to evict pod sessions-"),
                "{message}"
            );
            assert!(message.contains("disruption budget"), "{message}");
            assert_eq!(condition(&harness, &target, "Ready")["status"], "False");
            refused = true;
            break;
        }
    }
    assert!(refused, "the refused eviction never reached the status");
    for _ in 0..3 {
        let outcome = harness.reconcile(kind, &target).await;
        assert!(
            evictions(&outcome) <= 1,
            "a refused eviction is asked once per reconcile: {:?}",
            outcome.executed
        );
        assert_eq!(
            condition(&harness, &target, "Degraded")["reason"],
            "DisruptionBlocked"
        );
    }

    // The budget now allows one pod down: the rollout finishes.
    harness
        .world
        .patch_spec(&target, &json!({"pdb": {"minAvailable": 1}}))
        .unwrap();
    harness.converge(kind, &target).await;
    let degraded = condition(&harness, &target, "Degraded");
    assert_eq!(degraded["status"], "False", "{degraded}");
    let pods = harness.api.objects(ResourceType::Pod);
    assert_eq!(pods.len(), 2);
    for pod in pods {
        assert_eq!(
            pod["spec"]["containers"][0]["image"], "redis:7.4",
            "{} runs the new image",
            pod["metadata"]["name"]
        );
    }
}

#[tokio::test]
async fn two_statefulset_updates_rejected_in_one_reconcile_are_reported_once_each() {
    // The leader and follower StatefulSets of a cluster share the storage template: growing it is
    // rejected for both in the same reconcile, which re-plans after each rejection.
    let harness = Harness::new();
    let (kind, target) = harness.create(&example("deploy/examples/redis-cluster.yaml"));
    harness.converge(kind, &target).await;
    grow_storage(&harness, &target, None);
    harness.reconcile(kind, &target).await;
    let mut warnings: Vec<String> = harness
        .api
        .events()
        .into_iter()
        .filter(|event| event.reason == "UpdateRejected")
        .map(|event| event.message)
        .collect();
    warnings.sort();
    assert_eq!(
        warnings.len(),
        2,
        "one Event per StatefulSet: {warnings:#?}"
    );
    assert!(warnings[0].contains("orders-follower"), "{warnings:#?}");
    assert!(warnings[1].contains("orders-leader"), "{warnings:#?}");
}
