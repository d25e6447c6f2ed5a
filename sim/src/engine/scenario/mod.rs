//! The scenario format (docs/scenarios.md): the fake cluster's nodes and knobs, the manifests to
//! apply, and a list of steps — waits, convergence, CR edits, client writes, faults with their
//! durations and expectations. This module only reads and checks scenario text; running one is
//! `run`'s job.
//!
//! Every error names the field it is about (`steps[3].fault: ...`), never panics.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::engine::world::{WorldSettings, default_nodes};
use crate::fakes::scheduler::Node;
pub use crate::faults::lost_replies::ReplyChannel;

mod reader;
mod writer;

use reader::Reader;

/// Simulated seconds `converge` waits when the step names no timeout.
pub const DEFAULT_CONVERGE_TIMEOUT_SECONDS: u64 = 900;

/// Shortest pod start latency (binding to server answering) of a scenario that does not set
/// `cluster.startLatencySeconds`.
pub const DEFAULT_MINIMUM_START_LATENCY_MILLISECONDS: u64 = 2000;

/// Longest pod start latency of a scenario that does not set `cluster.startLatencySeconds`.
pub const DEFAULT_MAXIMUM_START_LATENCY_MILLISECONDS: u64 = 4000;

/// A scenario as read from its file.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Its name (the file name when absent).
    pub name: String,
    /// What it exercises.
    pub description: String,
    /// The nodes of the fake cluster.
    pub nodes: Vec<Node>,
    /// Controller knobs.
    pub settings: WorldSettings,
    /// Manifests applied at the start, as (where they came from, YAML text).
    pub resources: Vec<(String, String)>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// A CR named as `Kind/name` or `Kind/namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// The CR's kind (Redis, RedisReplication, RedisSentinel, RedisCluster).
    pub kind: String,
    /// Namespace (`default` when not named).
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// Which pod a fault hits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodChoice {
    /// This pod.
    Named(String),
    /// A pod of the target chosen with the seeded generator: any, a master, or a replica.
    Random {
        /// The CR whose pods are candidates.
        target: Target,
        /// `any`, `master` or `replica`.
        role: String,
    },
}

/// Which node a fault hits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeChoice {
    /// This node.
    Named(String),
    /// A node chosen with the seeded generator among those running pods of the target (any node
    /// when no target is given).
    Random(Option<Target>),
    /// The node running a pod chosen as pod faults choose one (`pod`, or `target` with `role`):
    /// the node of the current master, for example.
    OfPod(PodChoice),
}

/// How many operator writes pass before a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteCount {
    /// Exactly this many.
    Exactly(usize),
    /// Drawn from `0..bound` with the seeded generator.
    Random(usize),
}

/// One end of a link the `latency` fault slows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEnd {
    /// The operator process.
    Operator,
    /// A pod's server.
    Pod(PodChoice),
}

/// A fault the schedule switches on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Deletes a pod (its StatefulSet recreates it with a new address).
    PodKill(PodChoice),
    /// Crashes a pod's server process; the kubelet restarts it at the same address after 1 s,
    /// or after `duration` (a container held down, as in CrashLoopBackOff).
    ProcessCrash(PodChoice),
    /// Crashes a node for `duration` seconds.
    NodeCrash(NodeChoice),
    /// Cordons a node and evicts its pods through the Eviction API; uncordons after `duration`.
    NodeDrain(NodeChoice),
    /// Cuts the operator off from pods.
    PartitionOperator(Vec<PodChoice>),
    /// Cuts one pod off from every other pod (the operator still reaches it).
    IsolatePod(PodChoice),
    /// Cuts one pod's server and every sentinel off from each other (the pod still reaches the
    /// other servers, clients and the operator reach it).
    PartitionSentinels(PodChoice),
    /// Clients cannot reach these pods' servers (the servers and the operator still do).
    PartitionClients(Vec<PodChoice>),
    /// The operator's watches stall: changes wake no reconcile and its watch caches keep what
    /// they held; at the end the watches fail with 410 Gone and list again.
    WatchGone,
    /// Crashes the operator after a number of its writes; it restarts at the next reconcile,
    /// or stays down for `duration` first.
    OperatorCrash(WriteCount),
    /// The operator receives no watch events and does not reconcile.
    OperatorPause,
    /// The operator's reads come from a cache frozen when the fault began.
    StaleReads,
    /// Every request of the operator to the API server fails (503) until the fault heals.
    ApiOutage,
    /// Full resyncs and dataset loads that start while it lasts move `keys_per_second` (a
    /// replica on a slow network or disk, a large dataset): replicas stay out of sync, and
    /// restarted servers answer LOADING, for seconds.
    SlowSync {
        /// Keys a transfer sends, and a load reads, per second.
        keys_per_second: u64,
    },
    /// The next `count` writes of the operator through `through` take effect, and their replies
    /// are lost: the operator sees a timeout.
    LostReply {
        /// Redis commands, API writes, or the next of either.
        through: ReplyChannel,
        /// How many replies are lost.
        count: usize,
    },
    /// The operator's clock runs `seconds` ahead of the clock of the API server and the
    /// kubelets (behind when negative), whose timestamps it compares with its own.
    ClockSkew {
        /// Seconds the operator's clock is ahead; negative when behind.
        seconds: i64,
    },
    /// Messages between two ends take `steps` steps each way: the replication stream between two
    /// pods arrives that late; a pod whose round trip from the operator outlasts the operator's
    /// reply timeout answers none of its commands in time, though its writes take effect.
    Latency {
        /// The two ends of the slow link.
        between: [LinkEnd; 2],
        /// Steps each way.
        steps: u64,
    },
    /// The API server answers `count` calls of `verb` (on `resource` when named) with an error.
    ApiErrors {
        /// apply, apply-status, delete, evict, event, remove-finalizer, get or list.
        verb: String,
        /// The resource type, by kind name (StatefulSet, Pod, ...), or every type.
        resource: Option<String>,
        /// conflict, transient or too-many-requests.
        error: String,
        /// How many calls fail.
        count: usize,
    },
}

/// What a step does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Lets `seconds` of simulated time pass.
    Wait(u64),
    /// Waits for the timed faults to end, then until every CR is Ready and a reconcile changes
    /// nothing, at most `timeout` seconds; then checks the convergence oracles.
    Converge(u64),
    /// Applies more manifests.
    Apply(Vec<(String, String)>),
    /// Merges a patch into a CR's spec (and metadata, when given).
    Patch {
        /// The CR.
        target: Target,
        /// Merge patch of `spec`.
        spec: Value,
        /// Merge patch of `metadata` (annotations, labels).
        metadata: Value,
    },
    /// Deletes a CR.
    Delete(Target),
    /// A client writes `keys` keys through the CR's Service.
    Write {
        /// The CR.
        target: Target,
        /// How many keys.
        keys: usize,
    },
    /// A client keeps writing `per_second` keys each second (0 stops it).
    Workload {
        /// The CR.
        target: Target,
        /// Keys per second.
        per_second: usize,
    },
    /// Switches a fault on.
    Fault {
        /// The fault.
        fault: Fault,
        /// Seconds until it heals by itself (0: instantaneous or until `heal`).
        duration: u64,
    },
    /// Ends every active fault.
    Heal,
    /// Checks expectations now.
    Expect(Expectations),
}

/// Expectations checked by an `expect` step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expectations {
    /// CRs that must be Ready.
    pub ready: Vec<Target>,
    /// Number of masters per CR.
    pub masters: BTreeMap<Target, usize>,
    /// Acknowledged keys that may be lost (outside the fault windows); usually 0.
    pub lost_keys: Option<usize>,
    /// Objects that must not exist (`Kind/namespace/name` of any type).
    pub absent: Vec<String>,
    /// Objects that must exist.
    pub present: Vec<String>,
    /// CRs whose rejected StatefulSet update must be reported: a True Degraded condition naming
    /// the StatefulSet and a Warning Event `UpdateRejected`.
    pub rejected: Vec<Target>,
    /// CRs that must not be Ready.
    pub not_ready: Vec<Target>,
    /// Events about a CR since the run began.
    pub events: Vec<EventExpectation>,
    /// Conditions of a CR's status.
    pub conditions: Vec<ConditionExpectation>,
    /// Fields of any object.
    pub fields: Vec<FieldExpectation>,
}

/// Events about a CR: with `count`, exactly that many match; without, at least one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventExpectation {
    /// The CR the Events are about.
    pub target: Target,
    /// The Event's `reason`.
    pub reason: String,
    /// `Normal` or `Warning`; any when absent.
    pub event_type: Option<String>,
    /// Text the message must contain.
    pub message_contains: Option<String>,
    /// Exactly this many Events match.
    pub count: Option<usize>,
    /// Count only the Events published since the previous `expect` step (`since:
    /// previous-expect`) rather than since the run began (`since: start`, the default).
    pub since_previous_expect: bool,
}

/// A condition of a CR: its status, and optionally its reason and part of its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionExpectation {
    /// The CR.
    pub target: Target,
    /// The condition's `type` (Ready, Progressing, Degraded).
    pub condition_type: String,
    /// `True` or `False`.
    pub status: bool,
    /// The condition's `reason`.
    pub reason: Option<String>,
    /// Text the message must contain.
    pub message_contains: Option<String>,
}

/// A field of an object, found by a JSON pointer: equal to a value, or absent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldExpectation {
    /// The object, as `Kind/namespace/name` of any type.
    pub object: String,
    /// JSON pointer into the object (`/status/state`, `/metadata/labels/redis-role`).
    pub path: String,
    /// The value the field must have; `None` means the field must be absent.
    pub equals: Option<Value>,
}

/// One step: an action, optionally delayed by up to `jitter` seconds drawn from the seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Position in the file, for messages.
    pub index: usize,
    /// What it does.
    pub action: Action,
    /// Random extra delay before it, in seconds.
    pub jitter: u64,
}

/// A scenario that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}: {message}")]
pub struct ScenarioError {
    /// The scenario file.
    pub file: String,
    /// The field at fault (`steps[2].fault`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl Scenario {
    /// Reads a scenario file; paths in it are relative to the file's directory.
    pub fn read(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ScenarioError {
            file: file.clone(),
            field: "(file)".to_owned(),
            message: format!("failed to read: {error}"),
        })?;
        let directory = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Scenario::parse(&file, &directory, &text)
    }

    /// Reads scenario `text`; `directory` anchors relative paths.
    pub fn parse(file: &str, directory: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let reader = Reader {
            file,
            directory: directory.to_path_buf(),
        };
        let value: Value = serde_yaml_ng::from_str(text)
            .map_err(|error| reader.error("(document)", format!("is not YAML: {error}")))?;
        let map = reader.object(
            &value,
            "(document)",
            &["name", "description", "cluster", "resources", "steps"],
        )?;
        let name = match map.get("name") {
            Some(name) => reader.text(Some(name), "name")?,
            None => Path::new(file)
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        let description = match map.get("description") {
            Some(description) => reader.text(Some(description), "description")?,
            None => String::new(),
        };
        let mut nodes = default_nodes();
        let mut settings = WorldSettings {
            minimum_start_latency_milliseconds: DEFAULT_MINIMUM_START_LATENCY_MILLISECONDS,
            maximum_start_latency_milliseconds: DEFAULT_MAXIMUM_START_LATENCY_MILLISECONDS,
            ..WorldSettings::default()
        };
        if let Some(cluster) = map.get("cluster") {
            let cluster = reader.object(
                cluster,
                "cluster",
                &[
                    "nodes",
                    "startLatencySeconds",
                    "nodeEvictionTimeoutSeconds",
                    "missingImages",
                ],
            )?;
            if let Some(list) = cluster.get("nodes") {
                nodes = reader.nodes(list)?;
            }
            if let Some(latency) = cluster.get("startLatencySeconds") {
                let bounds: Vec<u64> = match latency {
                    Value::Array(items) => items
                        .iter()
                        .enumerate()
                        .map(|(index, item)| {
                            reader
                                .number(
                                    Some(item),
                                    &format!("cluster.startLatencySeconds[{index}]"),
                                )?
                                .ok_or_else(|| {
                                    reader.error("cluster.startLatencySeconds", "must hold numbers")
                                })
                        })
                        .collect::<Result<_, _>>()?,
                    other => vec![
                        reader
                            .number(Some(other), "cluster.startLatencySeconds")?
                            .unwrap_or(0),
                    ],
                };
                let (minimum, maximum) = match bounds.as_slice() {
                    [exact] => (*exact, *exact),
                    [minimum, maximum] if minimum <= maximum => (*minimum, *maximum),
                    _ => {
                        return Err(reader.error(
                            "cluster.startLatencySeconds",
                            "must be a number or [minimum, maximum] with minimum <= maximum",
                        ));
                    }
                };
                settings.minimum_start_latency_milliseconds = minimum * 1000;
                settings.maximum_start_latency_milliseconds = maximum * 1000;
            }
            if let Some(timeout) = reader.number(
                cluster.get("nodeEvictionTimeoutSeconds"),
                "cluster.nodeEvictionTimeoutSeconds",
            )? {
                settings.node_eviction_timeout_milliseconds = timeout * 1000;
            }
            if let Some(images) = cluster.get("missingImages") {
                let Value::Array(images) = images else {
                    return Err(reader.error("cluster.missingImages", "must be a list of images"));
                };
                settings.missing_images = images
                    .iter()
                    .enumerate()
                    .map(|(index, image)| {
                        reader.text(Some(image), &format!("cluster.missingImages[{index}]"))
                    })
                    .collect::<Result<_, _>>()?;
            }
        }
        let resources = match map.get("resources") {
            Some(resources) => reader.resources(resources, "resources")?,
            None => Vec::new(),
        };
        let steps = match map.get("steps") {
            Some(Value::Array(steps)) => steps
                .iter()
                .enumerate()
                .map(|(index, step)| reader.step(step, index))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(reader.error("steps", "must be a list")),
            None => vec![Step {
                index: 0,
                action: Action::Converge(DEFAULT_CONVERGE_TIMEOUT_SECONDS),
                jitter: 0,
            }],
        };
        Ok(Scenario {
            name,
            description,
            nodes,
            settings,
            resources,
            steps,
        })
    }
}

impl Target {
    /// The `Kind/namespace/name` text that names it in a scenario file.
    pub fn text(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse("test.yaml", Path::new("."), text)
    }

    #[test]
    fn reads_every_action() {
        let scenario = parse(
            r#"
name: all
cluster:
  nodes: [{name: n1, zone: z1}, {name: n2, zone: z2, taints: [{key: k, effect: NoSchedule}]}]
  startLatencySeconds: [1, 3]
resources:
  - inline: "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
steps:
  - converge: {timeout: 100}
  - write: {target: RedisCluster/orders, keys: 10}
  - workload: {target: RedisCluster/orders, keysPerSecond: 2}
  - patch: {target: RedisCluster/orders, spec: {clusterSize: 4}}
  - fault: pod-kill
    target: RedisCluster/orders
    role: master
    jitter: 5
  - fault: node-crash
    node: n1
    duration: 30
  - fault: api-errors
    verb: apply
    resource: StatefulSet
    error: conflict
    count: 2
  - fault: operator-crash
    afterWrites: random
  - heal: {}
  - wait: 10
  - delete: RedisCluster/orders
  - expect: {ready: [RedisCluster/orders], masters: {RedisCluster/orders: 4}, lostKeys: 0, absent: [StatefulSet/default/orders-leader]}
"#,
        )
        .unwrap();
        assert_eq!(scenario.nodes.len(), 2);
        assert_eq!(scenario.settings.maximum_start_latency_milliseconds, 3000);
        assert_eq!(scenario.steps.len(), 12);
        assert_eq!(scenario.steps[4].jitter, 5);
        assert!(matches!(
            scenario.steps[5].action,
            Action::Fault {
                fault: Fault::NodeCrash(NodeChoice::Named(_)),
                duration: 30
            }
        ));
    }

    #[test]
    fn a_scenario_written_as_yaml_reads_back_the_same() {
        let text = r#"
name: round-trip
description: every action and fault
cluster:
  nodes: [{name: n1, zone: z1, labels: {disk: ssd}, allocatable: {cpu: 1500m, memory: 4Gi, pods: 8}}, {name: n2, zone: z2, taints: [{key: k, value: v, effect: NoSchedule}], allocatable: {memory: 2G}}]
  startLatencySeconds: [1, 3]
  nodeEvictionTimeoutSeconds: 60
resources:
  - inline: "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
steps:
  - converge: {timeout: 100}
  - apply: [{inline: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"}]
  - write: {target: RedisCluster/orders, keys: 10}
  - workload: {target: RedisCluster/orders, keysPerSecond: 2}
  - patch: {target: RedisCluster/orders, spec: {clusterSize: 4}, metadata: {annotations: {a: b}}}
  - {fault: pod-kill, target: RedisCluster/orders, role: master, jitter: 5}
  - {fault: process-crash, pod: orders-leader-0}
  - {fault: node-crash, node: n1, duration: 30}
  - {fault: node-drain, target: RedisCluster/orders}
  - {fault: node-drain}
  - {fault: partition-operator, pods: [a, b], duration: 10}
  - {fault: partition-operator, target: RedisCluster/orders, role: replica, duration: 10}
  - {fault: isolate-pod, pod: a, duration: 5}
  - {fault: operator-crash, afterWrites: random}
  - {fault: operator-crash, afterWrites: 3}
  - {fault: operator-pause, duration: 4}
  - {fault: stale-reads, duration: 4}
  - {fault: api-errors, verb: apply, resource: StatefulSet, error: conflict, count: 2}
  - {fault: api-errors, verb: evict, error: too-many-requests, count: 1}
  - {fault: lost-reply, through: redis, count: 3}
  - {fault: lost-reply}
  - heal: {}
  - wait: 10
  - delete: RedisCluster/orders
  - expect: {ready: [RedisCluster/orders], masters: {RedisCluster/orders: 4}, lostKeys: 0, absent: [StatefulSet/default/orders-leader], present: [Service/default/x], rejected: [RedisCluster/orders]}
"#;
        let scenario = parse(text).unwrap();
        let again = parse(&scenario.to_yaml()).unwrap();
        assert_eq!(again.name, scenario.name);
        assert_eq!(again.description, scenario.description);
        assert_eq!(again.nodes, scenario.nodes);
        assert_eq!(again.settings, scenario.settings);
        assert_eq!(again.steps, scenario.steps);
        let texts = |scenario: &Scenario| -> Vec<String> {
            scenario
                .resources
                .iter()
                .map(|(_, text)| text.clone())
                .collect()
        };
        assert_eq!(texts(&again), texts(&scenario));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("steps: [{fault: pod-kil, pod: x}]", "steps[0].fault"),
            (
                "steps: [{write: {target: RedisCluster/orders}}]",
                "steps[0].write.keys",
            ),
            (
                "steps: [{write: {target: Orders/x, keys: 1}}]",
                "steps[0].write.target",
            ),
            (
                "steps: [{converge: {timeout: -1}}]",
                "steps[0].converge.timeout",
            ),
            ("steps: [{wait: 1, extra: 2}]", "steps[0].extra"),
            ("steps: [{nothing: 1}]", "steps[0]"),
            ("cluster: {nodes: []}", "cluster.nodes"),
            (
                "cluster: {nodes: [{name: n1, allocatable: {memory: lots}}]}",
                "cluster.nodes[0].allocatable.memory",
            ),
            (
                "cluster: {nodes: [{name: n1, allocatable: {gpu: 1}}]}",
                "cluster.nodes[0].allocatable.gpu",
            ),
            (
                "resources: [{file: does-not-exist.yaml}]",
                "resources[0].file",
            ),
            ("steps: [{fault: api-errors, verb: patch}]", "steps[0].verb"),
            (
                "steps: [{fault: lost-reply, through: network}]",
                "steps[0].through",
            ),
            ("steps: [{fault: lost-reply, count: -1}]", "steps[0].count"),
            (
                "steps: [{fault: pod-kill, target: RedisCluster/x, role: leader}]",
                "steps[0].role",
            ),
            ("unknown: 1", "(document).unknown"),
            (
                "steps: [{expect: {absent: [x]}}]",
                "steps[0].expect.absent[0]",
            ),
        ];
        for (text, field) in cases {
            let error = parse(text).unwrap_err();
            assert_eq!(error.field, field, "{text}: {error}");
        }
    }
}
