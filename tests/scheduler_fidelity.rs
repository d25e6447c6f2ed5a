//! Fidelity of the fake scheduler (`sim/src/fakes/scheduler.rs`) against kube-scheduler: pods
//! with resource requests (set, left to their limits, in init containers), node selectors,
//! cordoned and tainted nodes are sent one after the other to the real control plane of
//! `tests/support/control_plane.rs` (six Ready nodes of 32 cores, 128 GiB and 250 pods). For each,
//! the fake is given the same nodes (read back from the API server) and the pods the real
//! scheduler placed so far, and must agree: a pod the real scheduler binds is one the fake can
//! place, on a node it accepts; a pod it leaves Pending is one the fake cannot place, and the
//! `Unschedulable` message begins with the fake's, word for word (Kubernetes appends the
//! sentences of its post-filter plugins, dynamic resource allocation and preemption, which the
//! fake does not write).
//!
//! Fails, naming what to build, when the control plane binary is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node as KubeNode, Pod};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use redis_operator_sim::fakes::scheduler::{
    Node, PlacedPod, Resources, Taint, choose_node, node_rejections, pod_requests, scaled_quantity,
    unschedulable_message,
};
use serde_json::{Value, json};
use support::control_plane::{ControlPlane, default_nodes};

/// How long the real scheduler gets to bind a pod or report it unschedulable.
const DECISION_LIMIT: Duration = Duration::from_secs(30);
const NAMESPACE: &str = "default";
/// The label every pod of the test carries.
const APP: &str = "fidelity";

/// The real nodes as the fake scheduler's nodes.
async fn fake_nodes(nodes: &Api<KubeNode>) -> Vec<Node> {
    let mut fake = Vec::new();
    for node in nodes.list(&Default::default()).await.unwrap().items {
        let node = serde_json::to_value(node).unwrap();
        let name = node["metadata"]["name"].as_str().unwrap();
        let mut converted = Node::new(name, "");
        converted.labels = serde_json::from_value(node["metadata"]["labels"].clone()).unwrap();
        converted.cordoned = node["spec"]["unschedulable"].as_bool().unwrap_or(false);
        converted.taints = node["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|taint| Taint {
                key: taint["key"].as_str().unwrap_or_default().to_owned(),
                value: taint["value"].as_str().unwrap_or_default().to_owned(),
                effect: taint["effect"].as_str().unwrap_or_default().to_owned(),
            })
            .collect();
        let allocatable = &node["status"]["allocatable"];
        let quantity = |name: &str, scale: f64| {
            scaled_quantity(allocatable[name].as_str().unwrap(), scale).unwrap()
        };
        converted.allocatable = Resources {
            cpu_millicores: quantity("cpu", 1000.0),
            memory_bytes: quantity("memory", 1.0),
            pods: quantity("pods", 1.0),
        };
        fake.push(converted);
    }
    fake
}

/// What the real scheduler did with a pod.
#[derive(Debug)]
enum Decision {
    Bound(String),
    Unschedulable(String),
}

async fn decision(pods: &Api<Pod>, name: &str) -> Decision {
    let started = Instant::now();
    loop {
        let pod = serde_json::to_value(pods.get(name).await.unwrap()).unwrap();
        if let Some(node) = pod["spec"]["nodeName"].as_str() {
            return Decision::Bound(node.to_owned());
        }
        let unschedulable = pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|condition| {
                condition["type"] == "PodScheduled" && condition["reason"] == "Unschedulable"
            });
        if let Some(condition) = unschedulable {
            return Decision::Unschedulable(condition["message"].as_str().unwrap().to_owned());
        }
        assert!(
            started.elapsed() < DECISION_LIMIT,
            "kube-scheduler neither bound {name} nor reported it unschedulable: {pod}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One pod of the sequence: its name and the spec fields that matter to the scheduler.
fn pod(name: &str, spec: Value) -> Value {
    let mut spec = spec;
    let container = json!({"name": "main", "image": "redis:7", "command": ["sleep", "3600"]});
    let mut containers = vec![container];
    if let Some(resources) = spec.get("resources").cloned() {
        containers[0]["resources"] = resources;
        spec.as_object_mut().unwrap().remove("resources");
    }
    spec["containers"] = Value::Array(containers);
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": APP}},
        "spec": spec,
    })
}

/// The cases, in order: those that bind take their requests from the nodes the later ones see.
fn cases() -> Vec<(&'static str, Value)> {
    let cores = |cpu: &str| json!({"requests": {"cpu": cpu}});
    vec![
        (
            "memory-beyond-every-node",
            json!({"resources": {"requests": {"memory": "200Gi"}}}),
        ),
        (
            "cpu-and-memory-beyond-every-node",
            json!({"resources": {"requests": {"cpu": "40", "memory": "200Gi"}}}),
        ),
        (
            "limit-only-beyond-every-node",
            json!({"resources": {"limits": {"memory": "200Gi"}}}),
        ),
        (
            "init-container-beyond-every-node",
            json!({"initContainers": [{"name": "init", "image": "redis:7", "command": ["true"],
                "resources": {"requests": {"cpu": "33"}}}]}),
        ),
        (
            "zone-a-first",
            json!({"nodeSelector": {"topology.kubernetes.io/zone": "zone-a"}, "resources": cores("20")}),
        ),
        (
            "zone-a-second",
            json!({"nodeSelector": {"topology.kubernetes.io/zone": "zone-a"}, "resources": cores("20")}),
        ),
        (
            "zone-a-full",
            json!({"nodeSelector": {"topology.kubernetes.io/zone": "zone-a"}, "resources": cores("20")}),
        ),
        (
            "zone-a-small-fits",
            json!({"nodeSelector": {"topology.kubernetes.io/zone": "zone-a"}, "resources": cores("12")}),
        ),
        ("no-requests", json!({})),
        ("cordoned-and-tainted", json!({"resources": cores("40")})),
        (
            "selector-on-a-cordoned-node",
            json!({"nodeSelector": {"kubernetes.io/hostname": "node-b1"}}),
        ),
        (
            "tolerated-taint-and-too-much-cpu",
            json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "redis", "effect": "NoSchedule"}],
                "nodeSelector": {"kubernetes.io/hostname": "node-c1"}, "resources": cores("33")}),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_scheduler_places_and_refuses_pods_like_kube_scheduler() {
    let plane = ControlPlane::start(default_nodes()).await;
    let client = plane.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let nodes: Api<KubeNode> = Api::all(client.clone());
    let mut placed: Vec<PlacedPod> = Vec::new();
    let mut compared = BTreeMap::new();
    for (name, spec) in cases() {
        if name == "cordoned-and-tainted" {
            nodes
                .patch(
                    "node-b1",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"unschedulable": true}})),
                )
                .await
                .unwrap();
            nodes
                .patch(
                    "node-c1",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"taints": [
                        {"key": "dedicated", "value": "redis", "effect": "NoSchedule"}]}})),
                )
                .await
                .unwrap();
            // The scheduler's node cache follows the API server by watch.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let document = pod(name, spec);
        let object: Pod = serde_json::from_value(document.clone()).unwrap();
        pods.create(&PostParams::default(), &object).await.unwrap();
        let real = decision(&pods, name).await;
        let fake_nodes = fake_nodes(&nodes).await;
        let spec = &document["spec"];
        let labels = BTreeMap::from([("app".to_owned(), APP.to_owned())]);
        let candidate = redis_operator_sim::fakes::scheduler::PodToPlace {
            namespace: NAMESPACE,
            labels: &labels,
            spec,
        };
        match &real {
            Decision::Bound(node) => {
                let fake_node = fake_nodes.iter().find(|fake| fake.name == *node).unwrap();
                let rejections = node_rejections(fake_node, spec, &placed);
                assert!(
                    rejections.is_empty(),
                    "{name}: kube-scheduler bound it to {node}, which the fake refuses: {rejections:?}"
                );
                assert!(
                    choose_node(&candidate, &fake_nodes, &placed).is_some(),
                    "{name}: kube-scheduler bound it to {node}; the fake places it nowhere"
                );
                placed.push(PlacedPod {
                    namespace: NAMESPACE.to_owned(),
                    labels,
                    node: node.clone(),
                    requests: pod_requests(spec),
                });
            }
            Decision::Unschedulable(message) => {
                let fake = choose_node(&candidate, &fake_nodes, &placed);
                assert_eq!(
                    fake, None,
                    "{name}: kube-scheduler left it Pending ({message}); the fake places it"
                );
                // Kubernetes appends its post-filter plugins' sentences (dynamic resource
                // allocation, preemption) after the filters' reasons.
                let expected = unschedulable_message(spec, &fake_nodes, &placed);
                let after = message.strip_prefix(expected.as_str());
                assert!(
                    after.is_some_and(|rest| rest.is_empty() || rest.starts_with(' ')),
                    "{name}: the Unschedulable messages differ\n  kube-scheduler: {message}\n  fake:           {expected}"
                );
                // A pending pod would be retried whenever the cluster changes.
                pods.delete(name, &DeleteParams::default()).await.unwrap();
            }
        }
        compared.insert(name, real);
    }
    eprintln!("{compared:#?}");
    let bound = compared
        .values()
        .filter(|decision| matches!(decision, Decision::Bound(_)))
        .count();
    assert!(
        bound >= 3 && compared.len() - bound >= 6,
        "the sequence exercises both outcomes: {compared:#?}"
    );
}
