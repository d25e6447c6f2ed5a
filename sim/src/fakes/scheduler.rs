//! The scheduler of the fake cluster: picks a node for a pod the way kube-scheduler's filters and
//! scores would for the fields the operator sets — nodeSelector, required node affinity, taints
//! and tolerations, resource requests against the node's allocatable CPU, memory and pod count,
//! required and preferred pod anti-affinity, topologySpreadConstraints with maxSkew and
//! whenUnsatisfiable, and the default spreading of a set's pods over nodes and zones.
//!
//! Choosing a node is pure: it reads the nodes and the placed pods it is given. The scheduler
//! loop binds each pod it can place and, like kube-scheduler, writes `PodScheduled=False` with
//! reason `Unschedulable` and the per-node reasons on a pod no node fits.

use redis_operator::api::quantity::parse_quantity;
use redis_operator::json_pointer::JsonPointer;
use std::collections::BTreeMap;

use serde_json::Value;

use redis_operator::ports::kube::ResourceType;
use serde_json::json;

use crate::engine::world::World;

/// The node label holding the node's name.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
/// The node label the kubelet sets to the operating system.
pub const OPERATING_SYSTEM_LABEL: &str = "kubernetes.io/os";
/// The node label the kubelet sets to the processor architecture.
pub const ARCHITECTURE_LABEL: &str = "kubernetes.io/arch";
/// The node label holding the node's zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// A taint on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value.
    pub value: String,
    /// NoSchedule, PreferNoSchedule or NoExecute.
    pub effect: String,
}

/// What a node offers pods, or what a pod asks of one: CPU in millicores, memory in bytes, and a
/// number of pods (a pod asks for one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU, in thousandths of a core.
    pub cpu_millicores: u64,
    /// Memory, in bytes.
    pub memory_bytes: u64,
    /// Pods.
    pub pods: u64,
}

impl Resources {
    /// What every node offers unless a scenario says otherwise: the same as the nodes of the
    /// real control plane the end-to-end and fidelity tests run (32 cores, 128 GiB, 250 pods).
    pub const DEFAULT_ALLOCATABLE: Resources = Resources {
        cpu_millicores: 32_000,
        memory_bytes: 128 << 30,
        pods: 250,
    };

    fn plus(self, other: Resources) -> Resources {
        Resources {
            cpu_millicores: self.cpu_millicores.saturating_add(other.cpu_millicores),
            memory_bytes: self.memory_bytes.saturating_add(other.memory_bytes),
            pods: self.pods.saturating_add(other.pods),
        }
    }

    fn maximum(self, other: Resources) -> Resources {
        Resources {
            cpu_millicores: self.cpu_millicores.max(other.cpu_millicores),
            memory_bytes: self.memory_bytes.max(other.memory_bytes),
            pods: self.pods.max(other.pods),
        }
    }
}

/// A quantity in base units times `scale`, rounded up as Kubernetes rounds a request (`MilliValue`
/// for CPU, `Value` for memory); `None` when it does not parse or is negative.
pub fn scaled_quantity(text: &str, scale: f64) -> Option<u64> {
    let value = parse_quantity(text).ok()? * scale;
    // Quantities here are far below 2^53, where f64 holds integers exactly.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (value >= 0.0 && value.is_finite()).then(|| value.ceil() as u64)
}

/// One container's requests: `resources.requests`, each resource the container only limits
/// counted at its limit (the API server defaults a missing request to the limit).
fn container_requests(container: &Value) -> Resources {
    let amount = |resource: &str, scale: f64| {
        ["/resources/requests/", "/resources/limits/"]
            .iter()
            .find_map(|prefix| container.at(&format!("{prefix}{resource}")))
            .and_then(Value::as_str)
            .and_then(|text| scaled_quantity(text, scale))
            .unwrap_or(0)
    };
    Resources {
        cpu_millicores: amount("cpu", 1000.0),
        memory_bytes: amount("memory", 1.0),
        pods: 0,
    }
}

/// What the pod asks of a node, as kube-scheduler computes it: the sum of its containers'
/// requests or, when larger, the largest init container's; and one pod.
pub fn pod_requests(spec: &Value) -> Resources {
    let containers = array(spec.get("containers"))
        .iter()
        .map(container_requests)
        .fold(Resources::default(), Resources::plus);
    let init = array(spec.get("initContainers"))
        .iter()
        .map(container_requests)
        .fold(Resources::default(), Resources::maximum);
    Resources {
        pods: 1,
        ..containers.maximum(init)
    }
}

/// A node of the fake cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Node name.
    pub name: String,
    /// Labels, including the hostname and zone labels.
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// Whether the node runs (a crashed node runs nothing).
    pub up: bool,
    /// Whether new pods may be scheduled on it.
    pub cordoned: bool,
    /// What it offers the pods placed on it.
    pub allocatable: Resources,
}

impl Node {
    /// A Linux amd64 node named `name` in `zone`, up and schedulable, with the well-known labels
    /// a kubelet sets.
    pub fn new(name: &str, zone: &str) -> Node {
        let labels = BTreeMap::from([
            (HOSTNAME_LABEL.to_owned(), name.to_owned()),
            (OPERATING_SYSTEM_LABEL.to_owned(), "linux".to_owned()),
            (ARCHITECTURE_LABEL.to_owned(), "amd64".to_owned()),
            (ZONE_LABEL.to_owned(), zone.to_owned()),
        ]);
        Node {
            name: name.to_owned(),
            labels,
            taints: Vec::new(),
            up: true,
            cordoned: false,
            allocatable: Resources::DEFAULT_ALLOCATABLE,
        }
    }

    /// The node's zone.
    pub fn zone(&self) -> &str {
        self.labels.get(ZONE_LABEL).map_or("", String::as_str)
    }
}

/// A pod already placed on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedPod {
    /// Namespace.
    pub namespace: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Node it runs on.
    pub node: String,
    /// What it asks of the node ([`pod_requests`]).
    pub requests: Resources,
}

/// What the scheduler needs of the pod to place.
#[derive(Clone, Debug, PartialEq)]
pub struct PodToPlace<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// Labels.
    pub labels: &'a BTreeMap<String, String>,
    /// The pod spec (nodeSelector, affinity, tolerations, topologySpreadConstraints).
    pub spec: &'a Value,
}

/// A JSON object of strings (labels, a node selector) as a map; anything else is empty.
pub fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn array(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Whether one requirement (`key`, `operator`, `values`) holds for `labels`.
fn requirement_holds(requirement: &Value, labels: &BTreeMap<String, String>) -> bool {
    let key = requirement["key"].as_str().unwrap_or_default();
    let values: Vec<&str> = array(requirement.get("values"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let present = labels.get(key).map(String::as_str);
    match requirement["operator"].as_str().unwrap_or_default() {
        "In" => present.is_some_and(|value| values.contains(&value)),
        "NotIn" => present.is_none_or(|value| !values.contains(&value)),
        "Exists" => present.is_some(),
        "DoesNotExist" => present.is_none(),
        "Gt" | "Lt" => {
            let threshold = values.first().and_then(|value| value.parse::<i64>().ok());
            let actual = present.and_then(|value| value.parse::<i64>().ok());
            match (actual, threshold, requirement["operator"].as_str()) {
                (Some(actual), Some(threshold), Some("Gt")) => actual > threshold,
                (Some(actual), Some(threshold), _) => actual < threshold,
                _ => false,
            }
        }
        _ => false,
    }
}

/// Whether a label selector (matchLabels and matchExpressions) selects `labels`. An absent
/// selector selects nothing, as in pod affinity terms.
pub fn selector_matches(selector: Option<&Value>, labels: &BTreeMap<String, String>) -> bool {
    let Some(selector) = selector.filter(|selector| selector.is_object()) else {
        return false;
    };
    string_map(selector.get("matchLabels"))
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value))
        && array(selector.get("matchExpressions"))
            .iter()
            .all(|requirement| requirement_holds(requirement, labels))
}

fn tolerates(tolerations: &[Value], taint: &Taint) -> bool {
    tolerations.iter().any(|toleration| {
        let effect_matches = toleration["effect"]
            .as_str()
            .is_none_or(|effect| effect.is_empty() || effect == taint.effect);
        let key = toleration["key"].as_str().unwrap_or_default();
        let key_matches = key.is_empty() || key == taint.key;
        let value_matches = match toleration["operator"].as_str().unwrap_or("Equal") {
            "Exists" => true,
            _ => toleration["value"].as_str().unwrap_or_default() == taint.value,
        };
        effect_matches && key_matches && value_matches
    })
}

/// Filters that depend only on the node: schedulable, taints (a node that is down carries the
/// unreachable taint), nodeSelector, required node affinity.
fn node_fits(node: &Node, spec: &Value) -> bool {
    node_misfit(node, spec).is_none()
}

/// Why the node cannot take the pod by the filters of [`node_fits`], in the words of the
/// scheduler's `Unschedulable` message and in the order of kube-scheduler's filter plugins
/// (NodeUnschedulable, TaintToleration, NodeAffinity); `None` when it can.
fn node_misfit(node: &Node, spec: &Value) -> Option<String> {
    if node.cordoned {
        return Some("node(s) were unschedulable".to_owned());
    }
    let tolerations = array(spec.get("tolerations"));
    let unreachable = Taint {
        key: "node.kubernetes.io/unreachable".to_owned(),
        value: String::new(),
        effect: "NoSchedule".to_owned(),
    };
    let down = (!node.up).then_some(&unreachable);
    if down
        .into_iter()
        .chain(&node.taints)
        .any(|taint| taint.effect != "PreferNoSchedule" && !tolerates(tolerations, taint))
    {
        // Kubernetes 1.34 names no taint here (checked by tests/scheduler_fidelity.rs).
        return Some("node(s) had untolerated taint(s)".to_owned());
    }
    let affinity_mismatch = || Some("node(s) didn't match Pod's node affinity/selector".to_owned());
    let node_selector = string_map(spec.get("nodeSelector"));
    if !node_selector
        .iter()
        .all(|(key, value)| node.labels.get(key) == Some(value))
    {
        return affinity_mismatch();
    }
    let terms = array(spec.at(
        "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms",
    ));
    if !terms.is_empty()
        && !terms.iter().any(|term| {
            array(term.get("matchExpressions"))
                .iter()
                .all(|requirement| requirement_holds(requirement, &node.labels))
        })
    {
        return affinity_mismatch();
    }
    None
}

/// What the pods placed on `node` ask of it.
fn requested_on(node: &str, placed: &[PlacedPod]) -> Resources {
    placed
        .iter()
        .filter(|other| other.node == node)
        .map(|other| other.requests)
        .fold(Resources::default(), Resources::plus)
}

/// Why the node has no room for `requests` (kube-scheduler's NodeResourcesFit reasons, every one
/// that applies): a request of zero is not checked, as in Kubernetes.
fn resource_misfits(node: &Node, requests: Resources, placed: &[PlacedPod]) -> Vec<String> {
    let used = requested_on(&node.name, placed);
    let free = |allocatable: u64, used: u64| allocatable.saturating_sub(used);
    let mut reasons = Vec::new();
    if used.pods.saturating_add(requests.pods) > node.allocatable.pods {
        reasons.push("Too many pods".to_owned());
    }
    if requests.cpu_millicores > 0
        && requests.cpu_millicores > free(node.allocatable.cpu_millicores, used.cpu_millicores)
    {
        reasons.push("Insufficient cpu".to_owned());
    }
    if requests.memory_bytes > 0
        && requests.memory_bytes > free(node.allocatable.memory_bytes, used.memory_bytes)
    {
        reasons.push("Insufficient memory".to_owned());
    }
    reasons
}

/// Why `node` refuses the pod of `spec` by its node filters (schedulable, taints, node
/// affinity) and, when those pass, by its resources, given the pods already `placed`: the reasons
/// of the first filter that fails, as kube-scheduler stops at a node's first failing plugin;
/// empty when the node could take the pod before the pod (anti-)affinity and spread rules.
pub fn node_rejections(node: &Node, spec: &Value, placed: &[PlacedPod]) -> Vec<String> {
    match node_misfit(node, spec) {
        Some(reason) => vec![reason],
        None => resource_misfits(node, pod_requests(spec), placed),
    }
}

/// The message of the `PodScheduled` condition the scheduler writes when no node fits the pod,
/// as Kubernetes words it: `0/6 nodes are available: 3 Insufficient memory, 3 node(s) didn't
/// match Pod's node affinity/selector.` — each reason with the number of nodes it excluded,
/// sorted as text. A node's first failing filter gives its reasons (the resource filter may give
/// several); nodes that pass every node and resource filter failed the pod (anti-)affinity or
/// topology spread rules. The sentences of the post-filter plugins Kubernetes appends (dynamic
/// resource allocation, preemption) are not written.
pub fn unschedulable_message(spec: &Value, nodes: &[Node], placed: &[PlacedPod]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for node in nodes {
        let reasons = node_rejections(node, spec, placed);
        let reasons = if reasons.is_empty() {
            vec![
                "node(s) didn't match pod anti-affinity rules or topology spread constraints"
                    .to_owned(),
            ]
        } else {
            reasons
        };
        for reason in reasons {
            *counts.entry(reason).or_default() += 1;
        }
    }
    let mut reasons: Vec<String> = counts
        .iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    reasons.sort();
    format!(
        "0/{} nodes are available: {}.",
        nodes.len(),
        reasons.join(", ")
    )
}

/// Sets or clears the pod's `PodScheduled=False` condition; returns whether it changed.
fn set_unschedulable(pod: &mut Value, message: Option<&str>) -> bool {
    let conditions = pod["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut kept: Vec<Value> = conditions
        .iter()
        .filter(|condition| condition["type"] != "PodScheduled")
        .cloned()
        .collect();
    if let Some(message) = message {
        kept.push(json!({
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
        }));
    }
    if kept == conditions {
        return false;
    }
    if pod["status"].is_null() {
        pod["status"] = json!({"phase": "Pending"});
    }
    pod["status"]["conditions"] = Value::Array(kept);
    true
}

/// Pods in the term's namespaces (the pod's own unless the term names others) that it selects.
fn term_selects(term: &Value, pod_namespace: &str, other: &PlacedPod) -> bool {
    let namespaces: Vec<&str> = array(term.get("namespaces"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let namespace_matches = if namespaces.is_empty() {
        other.namespace == pod_namespace
    } else {
        namespaces.contains(&other.namespace.as_str())
    };
    namespace_matches && selector_matches(term.get("labelSelector"), &other.labels)
}

fn domain<'a>(nodes: &'a BTreeMap<&str, &Node>, node: &str, key: &str) -> Option<&'a str> {
    nodes
        .get(node)
        .and_then(|node| node.labels.get(key))
        .map(String::as_str)
}

/// The node for `pod`, or `None` when no node passes the filters (the pod stays Pending).
pub fn choose_node(pod: &PodToPlace<'_>, nodes: &[Node], placed: &[PlacedPod]) -> Option<String> {
    let by_name: BTreeMap<&str, &Node> = nodes
        .iter()
        .map(|node| (node.name.as_str(), node))
        .collect();
    let spec = pod.spec;
    let anti_affinity_required =
        array(spec.at("/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution"));
    let anti_affinity_preferred =
        array(spec.at("/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution"));
    let spread = array(spec.get("topologySpreadConstraints"));
    let eligible: Vec<&Node> = nodes.iter().filter(|node| node_fits(node, spec)).collect();
    // Domains for spreading come from the nodes the pod could go to by its node filters.
    let spread_domains = |key: &str| -> BTreeMap<String, usize> {
        eligible
            .iter()
            .filter_map(|node| node.labels.get(key).cloned())
            .map(|value| (value, 0))
            .collect()
    };
    let requests = pod_requests(spec);
    let mut best: Option<(i64, &str)> = None;
    for node in &eligible {
        if !resource_misfits(node, requests, placed).is_empty() {
            continue;
        }
        let mut feasible = true;
        let mut score: i64 = 0;
        for term in anti_affinity_required {
            let key = term["topologyKey"].as_str().unwrap_or(HOSTNAME_LABEL);
            let here = node.labels.get(key).map(String::as_str);
            let clash = placed.iter().any(|other| {
                here.is_some()
                    && domain(&by_name, &other.node, key) == here
                    && term_selects(term, pod.namespace, other)
            });
            if clash {
                feasible = false;
            }
        }
        for weighted in anti_affinity_preferred {
            let term = &weighted["podAffinityTerm"];
            let weight = weighted["weight"].as_i64().unwrap_or(1);
            let key = term["topologyKey"].as_str().unwrap_or(HOSTNAME_LABEL);
            let here = node.labels.get(key).map(String::as_str);
            let clashes = placed
                .iter()
                .filter(|other| {
                    here.is_some()
                        && domain(&by_name, &other.node, key) == here
                        && term_selects(term, pod.namespace, other)
                })
                .count();
            score -= weight * i64::try_from(clashes).unwrap_or(i64::MAX / 1024) * 10;
        }
        for constraint in spread {
            let key = constraint["topologyKey"].as_str().unwrap_or(HOSTNAME_LABEL);
            let Some(here) = node.labels.get(key) else {
                feasible = false;
                continue;
            };
            let mut counts = spread_domains(key);
            for other in placed.iter().filter(|other| {
                other.namespace == pod.namespace
                    && selector_matches(constraint.get("labelSelector"), &other.labels)
            }) {
                if let Some(value) = domain(&by_name, &other.node, key)
                    && let Some(count) = counts.get_mut(value)
                {
                    *count += 1;
                }
            }
            let minimum = counts.values().copied().min().unwrap_or(0);
            let after = counts.get(here).copied().unwrap_or(0) + 1;
            let skew = i64::try_from(after - minimum.min(after)).unwrap_or(i64::MAX);
            let maximum_skew = constraint["maxSkew"].as_i64().unwrap_or(1);
            if skew > maximum_skew {
                if constraint["whenUnsatisfiable"].as_str() == Some("ScheduleAnyway") {
                    score -= (skew - maximum_skew) * 100;
                } else {
                    feasible = false;
                }
            }
        }
        if !feasible {
            continue;
        }
        // Default spreading: fewer pods of the same set on the node and in the zone score higher.
        let siblings = |same_domain: &dyn Fn(&PlacedPod) -> bool| {
            placed
                .iter()
                .filter(|other| {
                    other.namespace == pod.namespace
                        && other.labels.get("app") == pod.labels.get("app")
                        && same_domain(other)
                })
                .count()
        };
        let on_node = siblings(&|other| other.node == node.name);
        let in_zone =
            siblings(&|other| domain(&by_name, &other.node, ZONE_LABEL) == Some(node.zone()));
        score -= i64::try_from(on_node * 3 + in_zone).unwrap_or(i64::MAX / 4);
        if node
            .taints
            .iter()
            .any(|taint| taint.effect == "PreferNoSchedule")
        {
            score -= 1;
        }
        if best.is_none_or(|(best_score, _)| score > best_score) {
            best = Some((score, node.name.as_str()));
        }
    }
    best.map(|(_, name)| name.to_owned())
}

impl World {
    /// The scheduler: binds every pod without a node to the node [`choose_node`] picks.
    pub(crate) fn schedule_pending_pods(&self) {
        let pods = self.api.objects(ResourceType::Pod);
        // Runs whenever anything changed; most of the time every pod is bound already.
        if pods.iter().all(|pod| pod.at("/spec/nodeName").is_some()) {
            return;
        }
        let mut placed: Vec<PlacedPod> = pods
            .iter()
            .filter_map(|pod| {
                Some(PlacedPod {
                    namespace: pod.at("/metadata/namespace")?.as_str()?.to_owned(),
                    labels: serde_json::from_value(pod.at("/metadata/labels")?.clone()).ok()?,
                    node: pod.at("/spec/nodeName")?.as_str()?.to_owned(),
                    requests: pod_requests(pod.get("spec")?),
                })
            })
            .collect();
        let nodes = self.nodes.borrow().clone();
        for pod in pods {
            if pod.at("/spec/nodeName").is_some() {
                continue;
            }
            let mut pod = Value::clone(&pod);
            let namespace = pod["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let labels: BTreeMap<String, String> =
                serde_json::from_value(pod["metadata"]["labels"].clone()).unwrap_or_default();
            let spec = pod.get("spec").cloned().unwrap_or(json!({}));
            let candidate = PodToPlace {
                namespace: &namespace,
                labels: &labels,
                spec: &spec,
            };
            let Some(node) = choose_node(&candidate, &nodes, &placed) else {
                let message = unschedulable_message(&spec, &nodes, &placed);
                if set_unschedulable(&mut pod, Some(&message)) {
                    // A conflicting write retries on the next pass.
                    let _ = self.api.update(pod);
                }
                continue;
            };
            set_unschedulable(&mut pod, None);
            pod["spec"]["nodeName"] = json!(node);
            if self.api.update(pod).is_ok() {
                placed.push(PlacedPod {
                    namespace,
                    labels,
                    node,
                    requests: pod_requests(&spec),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn nodes() -> Vec<Node> {
        vec![
            Node::new("node-a1", "zone-a"),
            Node::new("node-b1", "zone-b"),
            Node::new("node-c1", "zone-c"),
        ]
    }

    fn labels(app: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("app".to_owned(), app.to_owned())])
    }

    fn placed(app: &str, node: &str) -> PlacedPod {
        PlacedPod {
            namespace: "default".to_owned(),
            labels: labels(app),
            node: node.to_owned(),
            requests: Resources {
                pods: 1,
                ..Resources::default()
            },
        }
    }

    #[test]
    fn spreads_a_set_over_nodes() {
        let pod_labels = labels("cache");
        let spec = json!({});
        let pod = PodToPlace {
            namespace: "default",
            labels: &pod_labels,
            spec: &spec,
        };
        let existing = vec![placed("cache", "node-a1"), placed("cache", "node-b1")];
        assert_eq!(
            choose_node(&pod, &nodes(), &existing).as_deref(),
            Some("node-c1")
        );
    }

    #[test]
    fn required_anti_affinity_leaves_the_pod_pending_when_every_node_has_one() {
        let pod_labels = labels("cache");
        let spec = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": HOSTNAME_LABEL}
        ]}}});
        let pod = PodToPlace {
            namespace: "default",
            labels: &pod_labels,
            spec: &spec,
        };
        let existing = vec![
            placed("cache", "node-a1"),
            placed("cache", "node-b1"),
            placed("cache", "node-c1"),
        ];
        assert_eq!(choose_node(&pod, &nodes(), &existing), None);
        assert_eq!(
            choose_node(&pod, &nodes(), &existing[..2]).as_deref(),
            Some("node-c1")
        );
    }

    #[test]
    fn node_selector_taints_and_cordon_filter_nodes() {
        let pod_labels = labels("cache");
        let mut all = nodes();
        all[0].cordoned = true;
        all[1].taints.push(Taint {
            key: "dedicated".to_owned(),
            value: "redis".to_owned(),
            effect: "NoSchedule".to_owned(),
        });
        all[2].up = false;
        let spec = json!({});
        let pod = PodToPlace {
            namespace: "default",
            labels: &pod_labels,
            spec: &spec,
        };
        assert_eq!(choose_node(&pod, &all, &[]), None);
        let tolerant = json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "redis", "effect": "NoSchedule"}]});
        let pod = PodToPlace {
            spec: &tolerant,
            ..pod
        };
        assert_eq!(choose_node(&pod, &all, &[]).as_deref(), Some("node-b1"));
        let selected = json!({"nodeSelector": {ZONE_LABEL: "zone-a"}});
        let pod = PodToPlace {
            spec: &selected,
            ..pod
        };
        all[0].cordoned = false;
        assert_eq!(choose_node(&pod, &all, &[]).as_deref(), Some("node-a1"));
    }

    #[test]
    fn topology_spread_with_do_not_schedule_respects_max_skew() {
        let pod_labels = labels("cache");
        let mut all = nodes();
        all.push(Node::new("node-a2", "zone-a"));
        let spec = json!({"topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": ZONE_LABEL, "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "cache"}}
        }], "nodeSelector": {ZONE_LABEL: "zone-a"}});
        let pod = PodToPlace {
            namespace: "default",
            labels: &pod_labels,
            spec: &spec,
        };
        // Only zone-a is eligible, so it is the only domain and any count there has skew 0.
        let existing = vec![placed("cache", "node-a1"), placed("cache", "node-a2")];
        assert!(choose_node(&pod, &all, &existing).is_some());
        let spec = json!({"topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": ZONE_LABEL, "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "cache"}}
        }], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": ZONE_LABEL, "operator": "In", "values": ["zone-a", "zone-b"]}]}
        ]}}}});
        let pod = PodToPlace { spec: &spec, ..pod };
        // zone-a holds 2 and zone-b 0: zone-a would make skew 3, so zone-b is the only choice.
        assert_eq!(
            choose_node(&pod, &all, &existing).as_deref(),
            Some("node-b1")
        );
    }

    #[test]
    fn requests_count_limits_where_unset_and_the_largest_init_container() {
        let spec = json!({
            "containers": [
                {"resources": {"requests": {"cpu": "250m", "memory": "1Gi"}}},
                {"resources": {"limits": {"cpu": "1", "memory": "512Mi"}}},
                {"resources": {"requests": {"cpu": "0.1"}, "limits": {"cpu": "2"}}},
            ],
            "initContainers": [{"resources": {"requests": {"memory": "4Gi"}}}],
        });
        assert_eq!(
            pod_requests(&spec),
            Resources {
                cpu_millicores: 1350,
                memory_bytes: 4 << 30,
                pods: 1,
            }
        );
        assert_eq!(
            pod_requests(&json!({"containers": [{"resources": {"requests": {"cpu": "x"}}}]})),
            Resources {
                pods: 1,
                ..Resources::default()
            },
            "a quantity that does not parse (the API server refuses it) asks for nothing"
        );
    }

    #[test]
    fn requests_beyond_what_is_left_on_every_node_leave_the_pod_pending_with_the_reasons() {
        let mut all = nodes();
        for node in &mut all {
            node.allocatable = Resources {
                cpu_millicores: 4000,
                memory_bytes: 8 << 30,
                pods: 2,
            };
        }
        let pod_labels = labels("cache");
        let spec =
            json!({"containers": [{"resources": {"requests": {"cpu": "3", "memory": "6Gi"}}}]});
        let pod = PodToPlace {
            namespace: "default",
            labels: &pod_labels,
            spec: &spec,
        };
        let holding = |node: &str, cpu_millicores: u64, memory_bytes: u64| PlacedPod {
            requests: Resources {
                cpu_millicores,
                memory_bytes,
                pods: 1,
            },
            ..placed("other", node)
        };
        let existing = vec![
            holding("node-a1", 2000, 0),
            holding("node-b1", 0, 4 << 30),
            holding("node-c1", 1000, 2 << 30),
        ];
        assert_eq!(
            choose_node(&pod, &all, &existing).as_deref(),
            Some("node-c1"),
            "node-c1 has exactly 3 cores and 6 GiB left"
        );
        let crowded = [existing.clone(), vec![placed("other", "node-c1")]].concat();
        assert_eq!(choose_node(&pod, &all, &crowded), None);
        assert_eq!(
            unschedulable_message(&spec, &all, &crowded),
            "0/3 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 Too many pods."
        );
    }

    #[test]
    fn the_first_failing_filter_names_each_node_in_the_message() {
        let mut all = nodes();
        all[0].cordoned = true;
        all[1].up = false;
        all[2].taints.push(Taint {
            key: "dedicated".to_owned(),
            value: "redis".to_owned(),
            effect: "NoSchedule".to_owned(),
        });
        all.push(Node::new("node-a2", "zone-a"));
        let spec = json!({"nodeSelector": {"disk": "ssd"},
            "containers": [{"resources": {"requests": {"memory": "1Ti"}}}]});
        assert_eq!(
            unschedulable_message(&spec, &all, &[]),
            "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, \
             1 node(s) were unschedulable, 2 node(s) had untolerated taint(s)."
        );
        let spec = json!({"containers": [{"resources": {"requests": {"memory": "1Ti"}}}]});
        assert!(
            unschedulable_message(&spec, &all, &[]).ends_with(": 1 Insufficient memory, 1 node(s) were unschedulable, 2 node(s) had untolerated taint(s).")
        );
    }
}
