//! Writing a scenario back as YAML, as the property suites print a failing case: the same
//! fields [`Scenario::parse`] reads, so that what is written reads back the same.

use serde_json::Value;

use crate::fakes::scheduler::Resources;

use super::{
    Action, ConditionExpectation, EventExpectation, Expectations, Fault, FieldExpectation, LinkEnd,
    NodeChoice, PodChoice, Scenario, Step, Target, WriteCount,
};

/// Adds a pod choice's fields (`pod`, or `target` and `role`) to a fault's mapping.
pub(super) fn pod_fields(choice: &PodChoice, map: &mut serde_json::Map<String, Value>) {
    match choice {
        PodChoice::Named(pod) => {
            map.insert("pod".to_owned(), Value::from(pod.clone()));
        }
        PodChoice::Random { target, role } => {
            map.insert("target".to_owned(), Value::from(target.text()));
            map.insert("role".to_owned(), Value::from(role.clone()));
        }
    }
}

/// Adds a node choice's fields (`node`, or `target`, or a pod's, or none) to a fault's mapping.
pub(super) fn node_fields(choice: &NodeChoice, map: &mut serde_json::Map<String, Value>) {
    match choice {
        NodeChoice::Named(node) => {
            map.insert("node".to_owned(), Value::from(node.clone()));
        }
        NodeChoice::Random(Some(target)) => {
            map.insert("target".to_owned(), Value::from(target.text()));
        }
        NodeChoice::Random(None) => {}
        NodeChoice::OfPod(choice) => pod_fields(choice, map),
    }
}

/// One pod as [`pod_fields`] writes it, or several by name.
fn pods_fields(choices: &[PodChoice], map: &mut serde_json::Map<String, Value>) {
    match choices {
        [choice] => pod_fields(choice, map),
        _ => {
            let pods: Vec<Value> = choices
                .iter()
                .filter_map(|choice| match choice {
                    PodChoice::Named(pod) => Some(Value::from(pod.clone())),
                    PodChoice::Random { .. } => None,
                })
                .collect();
            map.insert("pods".to_owned(), Value::Array(pods));
        }
    }
}

pub(super) fn fault_fields(fault: &Fault, map: &mut serde_json::Map<String, Value>) {
    let name = match fault {
        Fault::PodKill(choice) => {
            pod_fields(choice, map);
            "pod-kill"
        }
        Fault::ProcessCrash(choice) => {
            pod_fields(choice, map);
            "process-crash"
        }
        Fault::NodeCrash(choice) => {
            node_fields(choice, map);
            "node-crash"
        }
        Fault::NodeDrain(choice) => {
            node_fields(choice, map);
            "node-drain"
        }
        Fault::PartitionOperator(choices) => {
            pods_fields(choices, map);
            "partition-operator"
        }
        Fault::PartitionClients(choices) => {
            pods_fields(choices, map);
            "partition-clients"
        }
        Fault::PartitionSentinels(choice) => {
            pod_fields(choice, map);
            "partition-sentinels"
        }
        Fault::WatchGone => "watch-gone",
        Fault::IsolatePod(choice) => {
            pod_fields(choice, map);
            "isolate-pod"
        }
        Fault::OperatorCrash(count) => {
            let writes = match count {
                WriteCount::Exactly(writes) => Value::from(*writes),
                WriteCount::Random(_) => Value::from("random"),
            };
            map.insert("afterWrites".to_owned(), writes);
            "operator-crash"
        }
        Fault::OperatorPause => "operator-pause",
        Fault::StaleReads => "stale-reads",
        Fault::ApiOutage => "api-outage",
        Fault::SlowSync { keys_per_second } => {
            map.insert("keysPerSecond".to_owned(), Value::from(*keys_per_second));
            "slow-sync"
        }
        Fault::LostReply { through, count } => {
            map.insert("through".to_owned(), Value::from(through.name()));
            map.insert("count".to_owned(), Value::from(*count));
            "lost-reply"
        }
        Fault::ClockSkew { seconds } => {
            map.insert("seconds".to_owned(), Value::from(*seconds));
            "clock-skew"
        }
        Fault::Latency { between, steps } => {
            let ends = between
                .iter()
                .map(|end| match end {
                    LinkEnd::Operator => Value::from("operator"),
                    LinkEnd::Pod(PodChoice::Named(pod)) => Value::from(pod.clone()),
                    LinkEnd::Pod(choice) => {
                        let mut fields = serde_json::Map::new();
                        pod_fields(choice, &mut fields);
                        Value::Object(fields)
                    }
                })
                .collect();
            map.insert("between".to_owned(), Value::Array(ends));
            map.insert("steps".to_owned(), Value::from(*steps));
            "latency"
        }
        Fault::ApiErrors {
            verb,
            resource,
            error,
            count,
        } => {
            map.insert("verb".to_owned(), Value::from(verb.clone()));
            if let Some(resource) = resource {
                map.insert("resource".to_owned(), Value::from(resource.clone()));
            }
            map.insert("error".to_owned(), Value::from(error.clone()));
            map.insert("count".to_owned(), Value::from(*count));
            "api-errors"
        }
    };
    map.insert("fault".to_owned(), Value::from(name));
}

pub(super) fn expectations_value(expectations: &Expectations) -> Value {
    let mut map = serde_json::Map::new();
    let targets = |targets: &[Target]| -> Value {
        Value::Array(
            targets
                .iter()
                .map(|target| Value::from(target.text()))
                .collect(),
        )
    };
    if !expectations.ready.is_empty() {
        map.insert("ready".to_owned(), targets(&expectations.ready));
    }
    if !expectations.masters.is_empty() {
        let masters: serde_json::Map<String, Value> = expectations
            .masters
            .iter()
            .map(|(target, count)| (target.text(), Value::from(*count)))
            .collect();
        map.insert("masters".to_owned(), Value::Object(masters));
    }
    if let Some(lost) = expectations.lost_keys {
        map.insert("lostKeys".to_owned(), Value::from(lost));
    }
    for (key, objects) in [
        ("absent", &expectations.absent),
        ("present", &expectations.present),
    ] {
        if !objects.is_empty() {
            map.insert(key.to_owned(), Value::from(objects.clone()));
        }
    }
    if !expectations.rejected.is_empty() {
        map.insert("rejected".to_owned(), targets(&expectations.rejected));
    }
    if !expectations.not_ready.is_empty() {
        map.insert("notReady".to_owned(), targets(&expectations.not_ready));
    }
    if !expectations.events.is_empty() {
        map.insert(
            "events".to_owned(),
            expectations.events.iter().map(event_value).collect(),
        );
    }
    if !expectations.conditions.is_empty() {
        map.insert(
            "conditions".to_owned(),
            expectations
                .conditions
                .iter()
                .map(condition_value)
                .collect(),
        );
    }
    if !expectations.fields.is_empty() {
        map.insert(
            "fields".to_owned(),
            expectations.fields.iter().map(field_value).collect(),
        );
    }
    Value::Object(map)
}

fn event_value(expectation: &EventExpectation) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("target".to_owned(), Value::from(expectation.target.text()));
    map.insert("reason".to_owned(), Value::from(expectation.reason.clone()));
    if let Some(event_type) = &expectation.event_type {
        map.insert("type".to_owned(), Value::from(event_type.clone()));
    }
    if let Some(text) = &expectation.message_contains {
        map.insert("messageContains".to_owned(), Value::from(text.clone()));
    }
    if let Some(count) = expectation.count {
        map.insert("count".to_owned(), Value::from(count));
    }
    if expectation.since_previous_expect {
        map.insert("since".to_owned(), Value::from("previous-expect"));
    }
    Value::Object(map)
}

fn condition_value(expectation: &ConditionExpectation) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("target".to_owned(), Value::from(expectation.target.text()));
    map.insert(
        "type".to_owned(),
        Value::from(expectation.condition_type.clone()),
    );
    map.insert(
        "status".to_owned(),
        Value::from(if expectation.status { "True" } else { "False" }),
    );
    if let Some(reason) = &expectation.reason {
        map.insert("reason".to_owned(), Value::from(reason.clone()));
    }
    if let Some(text) = &expectation.message_contains {
        map.insert("messageContains".to_owned(), Value::from(text.clone()));
    }
    Value::Object(map)
}

fn field_value(expectation: &FieldExpectation) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("object".to_owned(), Value::from(expectation.object.clone()));
    map.insert("path".to_owned(), Value::from(expectation.path.clone()));
    match &expectation.equals {
        Some(value) => map.insert("equals".to_owned(), value.clone()),
        None => map.insert("absent".to_owned(), Value::Bool(true)),
    };
    Value::Object(map)
}

pub(super) fn step_value(step: &Step) -> Value {
    let mut map = serde_json::Map::new();
    let entry = |target: &Target| Value::from(target.text());
    match &step.action {
        Action::Wait(seconds) => {
            map.insert("wait".to_owned(), Value::from(*seconds));
        }
        Action::Converge(timeout) => {
            map.insert(
                "converge".to_owned(),
                serde_json::json!({"timeout": timeout}),
            );
        }
        Action::Apply(documents) => {
            let inline: Vec<Value> = documents
                .iter()
                .map(|(_, text)| serde_json::json!({"inline": text}))
                .collect();
            map.insert("apply".to_owned(), Value::Array(inline));
        }
        Action::Patch {
            target,
            spec,
            metadata,
        } => {
            let mut patch = serde_json::Map::new();
            patch.insert("target".to_owned(), entry(target));
            if !spec.is_null() {
                patch.insert("spec".to_owned(), spec.clone());
            }
            if !metadata.is_null() {
                patch.insert("metadata".to_owned(), metadata.clone());
            }
            map.insert("patch".to_owned(), Value::Object(patch));
        }
        Action::Delete(target) => {
            map.insert("delete".to_owned(), entry(target));
        }
        Action::Write { target, keys } => {
            map.insert(
                "write".to_owned(),
                serde_json::json!({"target": entry(target), "keys": keys}),
            );
        }
        Action::Workload { target, per_second } => {
            map.insert(
                "workload".to_owned(),
                serde_json::json!({"target": entry(target), "keysPerSecond": per_second}),
            );
        }
        Action::Fault { fault, duration } => {
            fault_fields(fault, &mut map);
            if *duration > 0 {
                map.insert("duration".to_owned(), Value::from(*duration));
            }
        }
        Action::Heal => {
            map.insert("heal".to_owned(), serde_json::json!({}));
        }
        Action::Expect(expectations) => {
            map.insert("expect".to_owned(), expectations_value(expectations));
        }
    }
    if step.jitter > 0 {
        map.insert("jitter".to_owned(), Value::from(step.jitter));
    }
    Value::Object(map)
}

/// Labels every node gets from [`Node::new`]; the rest are the scenario's own.
pub(super) const WELL_KNOWN_NODE_LABELS: [&str; 4] = [
    crate::fakes::scheduler::HOSTNAME_LABEL,
    crate::fakes::scheduler::OPERATING_SYSTEM_LABEL,
    crate::fakes::scheduler::ARCHITECTURE_LABEL,
    crate::fakes::scheduler::ZONE_LABEL,
];

impl Scenario {
    /// The scenario as the document [`Scenario::parse`] reads (manifests inline), so that a
    /// generated or shrunk scenario can be saved as a file and replayed.
    pub fn to_value(&self) -> Value {
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|node| {
                let mut map = serde_json::Map::new();
                map.insert("name".to_owned(), Value::from(node.name.clone()));
                if let Some(zone) = node.labels.get(crate::fakes::scheduler::ZONE_LABEL) {
                    map.insert("zone".to_owned(), Value::from(zone.clone()));
                }
                let labels: serde_json::Map<String, Value> = node
                    .labels
                    .iter()
                    .filter(|(key, _)| !WELL_KNOWN_NODE_LABELS.contains(&key.as_str()))
                    .map(|(key, value)| (key.clone(), Value::from(value.clone())))
                    .collect();
                if !labels.is_empty() {
                    map.insert("labels".to_owned(), Value::Object(labels));
                }
                if !node.taints.is_empty() {
                    let taints: Vec<Value> = node
                        .taints
                        .iter()
                        .map(|taint| {
                            serde_json::json!({"key": taint.key, "value": taint.value, "effect": taint.effect})
                        })
                        .collect();
                    map.insert("taints".to_owned(), Value::Array(taints));
                }
                if node.allocatable != Resources::DEFAULT_ALLOCATABLE {
                    map.insert(
                        "allocatable".to_owned(),
                        serde_json::json!({
                            "cpu": format!("{}m", node.allocatable.cpu_millicores),
                            "memory": node.allocatable.memory_bytes.to_string(),
                            "pods": node.allocatable.pods,
                        }),
                    );
                }
                Value::Object(map)
            })
            .collect();
        let resources: Vec<Value> = self
            .resources
            .iter()
            .map(|(_, text)| serde_json::json!({"inline": text}))
            .collect();
        let steps: Vec<Value> = self.steps.iter().map(step_value).collect();
        let mut scenario = serde_json::json!({
            "name": self.name,
            "description": self.description,
            "cluster": {
                "nodes": nodes,
                "startLatencySeconds": [
                    self.settings.minimum_start_latency_milliseconds / 1000,
                    self.settings.maximum_start_latency_milliseconds / 1000,
                ],
                "nodeEvictionTimeoutSeconds": self.settings.node_eviction_timeout_milliseconds / 1000,
            },
            "resources": resources,
            "steps": steps,
        });
        if !self.settings.missing_images.is_empty() {
            scenario["cluster"]["missingImages"] = serde_json::json!(self.settings.missing_images);
        }
        scenario
    }

    /// The scenario as YAML in the format of docs/scenarios.md.
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(&self.to_value()).unwrap_or_default()
    }
}

impl serde::Serialize for Scenario {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}
