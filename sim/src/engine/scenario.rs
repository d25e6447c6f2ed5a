//! The scenario format (docs/scenarios.md): the fake cluster's nodes and knobs, the manifests to
//! apply, and a list of steps — waits, convergence, CR edits, client writes, faults with their
//! durations and expectations. This module only reads and checks scenario text; running one is
//! `run`'s job.
//!
//! Every error names the field it is about (`steps[3].fault: ...`), never panics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::engine::world::{WorldSettings, default_nodes};
use crate::fakes::scheduler::{Node, Taint};

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
}

/// How many operator writes pass before a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteCount {
    /// Exactly this many.
    Exactly(usize),
    /// Drawn from `0..bound` with the seeded generator.
    Random(usize),
}

/// A fault the schedule switches on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Deletes a pod (its StatefulSet recreates it with a new address).
    PodKill(PodChoice),
    /// Crashes a pod's server process (the kubelet restarts it at the same address).
    ProcessCrash(PodChoice),
    /// Crashes a node for `duration` seconds.
    NodeCrash(NodeChoice),
    /// Cordons a node and evicts its pods through the Eviction API; uncordons after `duration`.
    NodeDrain(NodeChoice),
    /// Cuts the operator off from pods.
    PartitionOperator(Vec<PodChoice>),
    /// Cuts one pod off from every other pod (the operator still reaches it).
    IsolatePod(PodChoice),
    /// Crashes the operator after a number of its writes; it restarts at the next reconcile.
    OperatorCrash(WriteCount),
    /// The operator receives no watch events and does not reconcile.
    OperatorPause,
    /// The operator's reads come from a cache frozen when the fault began.
    StaleReads,
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

struct Reader<'a> {
    file: &'a str,
    directory: PathBuf,
}

impl Reader<'_> {
    fn error(&self, field: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_owned(),
            field: field.to_owned(),
            message: message.into(),
        }
    }

    fn object<'v>(
        &self,
        value: &'v Value,
        field: &str,
        allowed: &[&str],
    ) -> Result<&'v serde_json::Map<String, Value>, ScenarioError> {
        let map = value
            .as_object()
            .ok_or_else(|| self.error(field, "must be a mapping"))?;
        if let Some(unknown) = map.keys().find(|key| !allowed.contains(&key.as_str())) {
            return Err(self.error(
                &format!("{field}.{unknown}"),
                format!("unknown field (expected one of: {})", allowed.join(", ")),
            ));
        }
        Ok(map)
    }

    fn text(&self, value: Option<&Value>, field: &str) -> Result<String, ScenarioError> {
        match value {
            Some(Value::String(text)) => Ok(text.clone()),
            Some(_) => Err(self.error(field, "must be a string")),
            None => Err(self.error(field, "is required")),
        }
    }

    fn number(&self, value: Option<&Value>, field: &str) -> Result<Option<u64>, ScenarioError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.error(field, "must be a whole number of at least 0")),
        }
    }

    fn size(&self, value: Option<&Value>, field: &str) -> Result<usize, ScenarioError> {
        let number = self
            .number(value, field)?
            .ok_or_else(|| self.error(field, "is required"))?;
        usize::try_from(number).map_err(|_| self.error(field, "is too large"))
    }

    fn target(&self, value: Option<&Value>, field: &str) -> Result<Target, ScenarioError> {
        let text = self.text(value, field)?;
        let parts: Vec<&str> = text.split('/').collect();
        let (kind, namespace, name) = match parts.as_slice() {
            [kind, name] => (*kind, "default", *name),
            [kind, namespace, name] => (*kind, *namespace, *name),
            _ => {
                return Err(self.error(
                    field,
                    format!("{text:?} must be Kind/name or Kind/namespace/name"),
                ));
            }
        };
        if redis_operator::api::Kind::from_name(kind).is_none() {
            return Err(self.error(
                field,
                format!(
                    "{kind:?} is not one of Redis, RedisReplication, RedisSentinel, RedisCluster"
                ),
            ));
        }
        if name.is_empty() || namespace.is_empty() {
            return Err(self.error(field, format!("{text:?} has an empty name or namespace")));
        }
        Ok(Target {
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    fn resources(
        &self,
        value: &Value,
        field: &str,
    ) -> Result<Vec<(String, String)>, ScenarioError> {
        let items = value
            .as_array()
            .ok_or_else(|| self.error(field, "must be a list of {file: PATH} or {inline: YAML}"))?;
        let mut resources = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let field = format!("{field}[{index}]");
            let map = self.object(item, &field, &["file", "inline"])?;
            match (map.get("file"), map.get("inline")) {
                (Some(file), None) => {
                    let relative = self.text(Some(file), &format!("{field}.file"))?;
                    let path = self.directory.join(&relative);
                    let text = std::fs::read_to_string(&path).map_err(|error| {
                        self.error(
                            &format!("{field}.file"),
                            format!("failed to read {}: {error}", path.display()),
                        )
                    })?;
                    resources.push((relative, text));
                }
                (None, Some(inline)) => {
                    let text = self.text(Some(inline), &format!("{field}.inline"))?;
                    resources.push((format!("{}#{field}", self.file), text));
                }
                _ => return Err(self.error(&field, "needs exactly one of file and inline")),
            }
        }
        Ok(resources)
    }

    fn pod(
        &self,
        value: &serde_json::Map<String, Value>,
        field: &str,
    ) -> Result<PodChoice, ScenarioError> {
        if let Some(pod) = value.get("pod") {
            return Ok(PodChoice::Named(
                self.text(Some(pod), &format!("{field}.pod"))?,
            ));
        }
        let target = self.target(value.get("target"), &format!("{field}.target"))?;
        let role = match value.get("role") {
            None => "any".to_owned(),
            Some(role) => self.text(Some(role), &format!("{field}.role"))?,
        };
        if !["any", "master", "replica"].contains(&role.as_str()) {
            return Err(self.error(
                &format!("{field}.role"),
                format!("{role:?} is not one of any, master, replica"),
            ));
        }
        Ok(PodChoice::Random { target, role })
    }

    fn node(
        &self,
        value: &serde_json::Map<String, Value>,
        field: &str,
    ) -> Result<NodeChoice, ScenarioError> {
        if let Some(node) = value.get("node") {
            return Ok(NodeChoice::Named(
                self.text(Some(node), &format!("{field}.node"))?,
            ));
        }
        match value.get("target") {
            Some(target) => Ok(NodeChoice::Random(Some(
                self.target(Some(target), &format!("{field}.target"))?,
            ))),
            None => Ok(NodeChoice::Random(None)),
        }
    }

    fn fault(
        &self,
        map: &serde_json::Map<String, Value>,
        field: &str,
    ) -> Result<Fault, ScenarioError> {
        let name = self.text(map.get("fault"), &format!("{field}.fault"))?;
        let fault = match name.as_str() {
            "pod-kill" => Fault::PodKill(self.pod(map, field)?),
            "process-crash" => Fault::ProcessCrash(self.pod(map, field)?),
            "node-crash" => Fault::NodeCrash(self.node(map, field)?),
            "node-drain" => Fault::NodeDrain(self.node(map, field)?),
            "partition-operator" => {
                let pods = match map.get("pods") {
                    Some(Value::Array(pods)) => pods
                        .iter()
                        .enumerate()
                        .map(|(index, pod)| {
                            self.text(Some(pod), &format!("{field}.pods[{index}]"))
                                .map(PodChoice::Named)
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    Some(_) => {
                        return Err(
                            self.error(&format!("{field}.pods"), "must be a list of pod names")
                        );
                    }
                    None => vec![self.pod(map, field)?],
                };
                Fault::PartitionOperator(pods)
            }
            "isolate-pod" => Fault::IsolatePod(self.pod(map, field)?),
            "operator-crash" => match map.get("afterWrites") {
                Some(Value::String(text)) if text == "random" => {
                    Fault::OperatorCrash(WriteCount::Random(16))
                }
                value => Fault::OperatorCrash(WriteCount::Exactly(
                    self.size(value, &format!("{field}.afterWrites"))?,
                )),
            },
            "operator-pause" => Fault::OperatorPause,
            "stale-reads" => Fault::StaleReads,
            "api-errors" => {
                let verb = self.text(map.get("verb"), &format!("{field}.verb"))?;
                let verbs = [
                    "apply",
                    "apply-status",
                    "delete",
                    "evict",
                    "event",
                    "remove-finalizer",
                    "get",
                    "list",
                ];
                if !verbs.contains(&verb.as_str()) {
                    return Err(self.error(
                        &format!("{field}.verb"),
                        format!("{verb:?} is not one of {}", verbs.join(", ")),
                    ));
                }
                let error = match map.get("error") {
                    None => "transient".to_owned(),
                    Some(value) => self.text(Some(value), &format!("{field}.error"))?,
                };
                if !["conflict", "transient", "too-many-requests"].contains(&error.as_str()) {
                    return Err(self.error(
                        &format!("{field}.error"),
                        format!("{error:?} is not one of conflict, transient, too-many-requests"),
                    ));
                }
                let resource = match map.get("resource") {
                    None => None,
                    Some(value) => Some(self.text(Some(value), &format!("{field}.resource"))?),
                };
                Fault::ApiErrors {
                    verb,
                    resource,
                    error,
                    count: match map.get("count") {
                        None => 1,
                        value => self.size(value, &format!("{field}.count"))?,
                    },
                }
            }
            other => {
                return Err(self.error(
                    &format!("{field}.fault"),
                    format!("unknown fault {other:?} (expected one of: pod-kill, process-crash, node-crash, node-drain, partition-operator, isolate-pod, operator-crash, operator-pause, stale-reads, api-errors)"),
                ));
            }
        };
        Ok(fault)
    }

    fn expectations(&self, value: &Value, field: &str) -> Result<Expectations, ScenarioError> {
        let map = self.object(
            value,
            field,
            &[
                "ready", "masters", "lostKeys", "absent", "present", "rejected",
            ],
        )?;
        let mut expectations = Expectations::default();
        let list = |key: &str| -> Result<Vec<Value>, ScenarioError> {
            match map.get(key) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => Ok(items.clone()),
                Some(_) => Err(self.error(&format!("{field}.{key}"), "must be a list")),
            }
        };
        for (index, item) in list("ready")?.iter().enumerate() {
            expectations
                .ready
                .push(self.target(Some(item), &format!("{field}.ready[{index}]"))?);
        }
        for (index, item) in list("rejected")?.iter().enumerate() {
            expectations
                .rejected
                .push(self.target(Some(item), &format!("{field}.rejected[{index}]"))?);
        }
        if let Some(masters) = map.get("masters") {
            let masters = masters.as_object().ok_or_else(|| {
                self.error(
                    &format!("{field}.masters"),
                    "must be a mapping of Kind/name to a count",
                )
            })?;
            for (key, count) in masters {
                let target = self.target(
                    Some(&Value::String(key.clone())),
                    &format!("{field}.masters"),
                )?;
                let count = self.size(Some(count), &format!("{field}.masters.{key}"))?;
                expectations.masters.insert(target, count);
            }
        }
        if let Some(lost) = map.get("lostKeys") {
            expectations.lost_keys = Some(self.size(Some(lost), &format!("{field}.lostKeys"))?);
        }
        for (key, into) in [
            ("absent", &mut expectations.absent),
            ("present", &mut expectations.present),
        ] {
            for (index, item) in list(key)?.iter().enumerate() {
                let text = self.text(Some(item), &format!("{field}.{key}[{index}]"))?;
                if text.split('/').count() != 3 {
                    return Err(self.error(
                        &format!("{field}.{key}[{index}]"),
                        format!("{text:?} must be Kind/namespace/name"),
                    ));
                }
                into.push(text);
            }
        }
        Ok(expectations)
    }

    fn step(&self, value: &Value, index: usize) -> Result<Step, ScenarioError> {
        let field = format!("steps[{index}]");
        let actions = [
            "wait", "converge", "apply", "patch", "delete", "write", "workload", "fault", "heal",
            "expect",
        ];
        let map = value
            .as_object()
            .ok_or_else(|| self.error(&field, "must be a mapping"))?;
        let Some(action) = actions.iter().find(|action| map.contains_key(**action)) else {
            return Err(self.error(
                &field,
                format!("names no action (expected one of: {})", actions.join(", ")),
            ));
        };
        let jitter = self
            .number(map.get("jitter"), &format!("{field}.jitter"))?
            .unwrap_or(0);
        let duration = self
            .number(map.get("duration"), &format!("{field}.duration"))?
            .unwrap_or(0);
        let mut allowed: Vec<&str> = vec![action, "jitter"];
        let value = &map[*action];
        let action = match *action {
            "wait" => Action::Wait(
                self.number(Some(value), &format!("{field}.wait"))?
                    .ok_or_else(|| self.error(&format!("{field}.wait"), "is required"))?,
            ),
            "converge" => {
                let timeout = match value {
                    Value::Null => None,
                    Value::Object(options) => {
                        self.object(value, &format!("{field}.converge"), &["timeout"])?;
                        self.number(options.get("timeout"), &format!("{field}.converge.timeout"))?
                    }
                    other => self.number(Some(other), &format!("{field}.converge"))?,
                };
                Action::Converge(timeout.unwrap_or(DEFAULT_CONVERGE_TIMEOUT_SECONDS))
            }
            "apply" => Action::Apply(self.resources(value, &format!("{field}.apply"))?),
            "patch" => {
                let options = self.object(
                    value,
                    &format!("{field}.patch"),
                    &["target", "spec", "metadata"],
                )?;
                Action::Patch {
                    target: self.target(options.get("target"), &format!("{field}.patch.target"))?,
                    spec: options.get("spec").cloned().unwrap_or(Value::Null),
                    metadata: options.get("metadata").cloned().unwrap_or(Value::Null),
                }
            }
            "delete" => Action::Delete(self.target(Some(value), &format!("{field}.delete"))?),
            "write" => {
                let options = self.object(value, &format!("{field}.write"), &["target", "keys"])?;
                Action::Write {
                    target: self.target(options.get("target"), &format!("{field}.write.target"))?,
                    keys: self.size(options.get("keys"), &format!("{field}.write.keys"))?,
                }
            }
            "workload" => {
                let options = self.object(
                    value,
                    &format!("{field}.workload"),
                    &["target", "keysPerSecond"],
                )?;
                Action::Workload {
                    target: self
                        .target(options.get("target"), &format!("{field}.workload.target"))?,
                    per_second: self.size(
                        options.get("keysPerSecond"),
                        &format!("{field}.workload.keysPerSecond"),
                    )?,
                }
            }
            "fault" => {
                allowed.extend([
                    "duration",
                    "pod",
                    "pods",
                    "node",
                    "target",
                    "role",
                    "afterWrites",
                    "verb",
                    "resource",
                    "error",
                    "count",
                ]);
                Action::Fault {
                    fault: self.fault(map, &field)?,
                    duration,
                }
            }
            "heal" => Action::Heal,
            _ => Action::Expect(self.expectations(value, &format!("{field}.expect"))?),
        };
        self.object(&Value::Object(map.clone()), &field, &allowed)?;
        Ok(Step {
            index,
            action,
            jitter,
        })
    }
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
                &["nodes", "startLatencySeconds", "nodeEvictionTimeoutSeconds"],
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

/// Adds a pod choice's fields (`pod`, or `target` and `role`) to a fault's mapping.
fn pod_fields(choice: &PodChoice, map: &mut serde_json::Map<String, Value>) {
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

/// Adds a node choice's fields (`node`, or `target`, or none) to a fault's mapping.
fn node_fields(choice: &NodeChoice, map: &mut serde_json::Map<String, Value>) {
    match choice {
        NodeChoice::Named(node) => {
            map.insert("node".to_owned(), Value::from(node.clone()));
        }
        NodeChoice::Random(Some(target)) => {
            map.insert("target".to_owned(), Value::from(target.text()));
        }
        NodeChoice::Random(None) => {}
    }
}

fn fault_fields(fault: &Fault, map: &mut serde_json::Map<String, Value>) {
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
            match choices.as_slice() {
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
            "partition-operator"
        }
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

fn expectations_value(expectations: &Expectations) -> Value {
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
    Value::Object(map)
}

fn step_value(step: &Step) -> Value {
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
const WELL_KNOWN_NODE_LABELS: [&str; 4] = [
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
                Value::Object(map)
            })
            .collect();
        let resources: Vec<Value> = self
            .resources
            .iter()
            .map(|(_, text)| serde_json::json!({"inline": text}))
            .collect();
        let steps: Vec<Value> = self.steps.iter().map(step_value).collect();
        serde_json::json!({
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
        })
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

impl Reader<'_> {
    fn nodes(&self, value: &Value) -> Result<Vec<Node>, ScenarioError> {
        let items = value
            .as_array()
            .ok_or_else(|| self.error("cluster.nodes", "must be a list"))?;
        let mut nodes: Vec<Node> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let field = format!("cluster.nodes[{index}]");
            let map = self.object(item, &field, &["name", "zone", "labels", "taints"])?;
            let name = self.text(map.get("name"), &format!("{field}.name"))?;
            if nodes.iter().any(|node| node.name == name) {
                return Err(self.error(
                    &format!("{field}.name"),
                    format!("{name:?} is listed twice"),
                ));
            }
            let zone = match map.get("zone") {
                Some(zone) => self.text(Some(zone), &format!("{field}.zone"))?,
                None => "zone-a".to_owned(),
            };
            let mut node = Node::new(&name, &zone);
            if let Some(labels) = map.get("labels") {
                let labels: BTreeMap<String, String> = serde_json::from_value(labels.clone())
                    .map_err(|_| {
                        self.error(&format!("{field}.labels"), "must map strings to strings")
                    })?;
                node.labels.extend(labels);
            }
            if let Some(taints) = map.get("taints") {
                let taints = taints
                    .as_array()
                    .ok_or_else(|| self.error(&format!("{field}.taints"), "must be a list"))?;
                for (position, taint) in taints.iter().enumerate() {
                    let taint_field = format!("{field}.taints[{position}]");
                    let taint_map =
                        self.object(taint, &taint_field, &["key", "value", "effect"])?;
                    let effect =
                        self.text(taint_map.get("effect"), &format!("{taint_field}.effect"))?;
                    if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect.as_str()) {
                        return Err(self.error(
                            &format!("{taint_field}.effect"),
                            format!(
                                "{effect:?} is not one of NoSchedule, PreferNoSchedule, NoExecute"
                            ),
                        ));
                    }
                    node.taints.push(Taint {
                        key: self.text(taint_map.get("key"), &format!("{taint_field}.key"))?,
                        value: match taint_map.get("value") {
                            Some(value) => {
                                self.text(Some(value), &format!("{taint_field}.value"))?
                            }
                            None => String::new(),
                        },
                        effect,
                    });
                }
            }
            nodes.push(node);
        }
        if nodes.is_empty() {
            return Err(self.error("cluster.nodes", "must list at least one node"));
        }
        Ok(nodes)
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
  nodes: [{name: n1, zone: z1, labels: {disk: ssd}}, {name: n2, zone: z2, taints: [{key: k, value: v, effect: NoSchedule}]}]
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
                "resources: [{file: does-not-exist.yaml}]",
                "resources[0].file",
            ),
            ("steps: [{fault: api-errors, verb: patch}]", "steps[0].verb"),
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
