//! Runs a scenario in a fresh simulated cluster from a seed: applies its manifests, plays its
//! steps (edits, client writes, faults and their healing, waits, convergence), runs the operator
//! the way its controller would (on any change it watches, and again when the reconcile asked to
//! be requeued or a periodic resync is due), checks the oracles after every round, and records a
//! timeline.
//!
//! Everything is deterministic: the same scenario and seed give the same timeline, byte for byte.
//! It must not reach outside the simulated cluster.

use redis_operator::json_pointer::JsonPointer;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use redis_operator::api::Kind;
use redis_operator::api::document::{DocumentOutcome, read_documents};
use redis_operator::ports::clock::{Clock, Milliseconds};
use redis_operator::ports::kube::{ApiError, ObjectRef, Propagation, ResourceType};
use serde_json::{Value, json};

use crate::engine::clock::SIMULATION_EPOCH;
use crate::engine::controller::{QUIET_ROUNDS, SimulatedController, writes_of};
use crate::engine::scenario::{
    Action, Expectations, Fault, NodeChoice, PodChoice, Scenario, Target, WriteCount,
};
use crate::engine::world::{World, merge_patch};
use crate::fakes::api_server::Injection;
use crate::fakes::redis::{Server, ServerKind};
use crate::oracles::{
    FaultWindow, HEAL_SETTLE_MILLISECONDS, ReadyPods, SafetyMonitor, Violation, check_converged,
    check_serving, lost_keys, ready_pods, servers_of,
};

/// One line of the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Simulated milliseconds since the start.
    pub time: Milliseconds,
    /// step, apply, write, rejected, event, status, redis, fault, heal, reconcile, oracle.
    pub kind: &'static str,
    /// What happened.
    pub text: String,
}

/// An oracle that failed, where and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The scenario step during which it was seen.
    pub step: usize,
    /// Simulated milliseconds since the start.
    pub time: Milliseconds,
    /// The oracle and what was seen.
    pub violation: Violation,
}

/// What a run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The timeline.
    pub entries: Vec<Entry>,
    /// Oracle failures, in order.
    pub failures: Vec<Failure>,
    /// Simulated milliseconds the run took.
    pub simulated: Milliseconds,
    /// Reconciles run.
    pub reconciles: usize,
    /// Reconciles that failed (and were retried).
    pub failed_reconciles: usize,
    /// Writes the API server recorded.
    pub api_writes: usize,
    /// Redis commands that write.
    pub redis_commands: usize,
    /// Events published.
    pub events: usize,
    /// The final status line of each CR.
    pub final_status: Vec<(String, String)>,
}

impl RunReport {
    /// Whether every oracle held.
    pub fn success(&self) -> bool {
        self.failures.is_empty()
    }

    /// The timeline and summary as readable text.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for entry in &self.entries {
            let _ = writeln!(
                text,
                "{} {:<9} {}",
                seconds(entry.time),
                entry.kind,
                entry.text
            );
        }
        let _ = writeln!(text, "\nsummary of {} (seed {}):", self.scenario, self.seed);
        for (target, status) in &self.final_status {
            let _ = writeln!(text, "  {target}: {status}");
        }
        let _ = writeln!(
            text,
            "  {} simulated seconds; {} reconciles ({} failed), {} API writes, {} Redis commands, {} Events",
            self.simulated / 1000,
            self.reconciles,
            self.failed_reconciles,
            self.api_writes,
            self.redis_commands,
            self.events
        );
        if self.failures.is_empty() {
            let _ = writeln!(text, "  every oracle held");
        }
        for failure in &self.failures {
            let _ = writeln!(
                text,
                "  VIOLATED at step {} ({}): {}: {} — replay with --seed {}",
                failure.step,
                seconds(failure.time).trim(),
                failure.violation.oracle,
                failure.violation.message,
                self.seed
            );
        }
        text
    }

    /// The timeline and summary as JSON lines (one object per entry, then the summary).
    pub fn json_lines(&self) -> String {
        let mut text = String::new();
        for entry in &self.entries {
            let _ = writeln!(
                text,
                "{}",
                json!({"time_ms": entry.time, "kind": entry.kind, "text": entry.text})
            );
        }
        let failures: Vec<Value> = self
            .failures
            .iter()
            .map(|failure| {
                json!({"step": failure.step, "time_ms": failure.time, "oracle": failure.violation.oracle, "message": failure.violation.message})
            })
            .collect();
        let _ = writeln!(
            text,
            "{}",
            json!({
                "summary": {
                    "scenario": self.scenario, "seed": self.seed, "success": self.success(),
                    "simulated_ms": self.simulated, "reconciles": self.reconciles,
                    "failed_reconciles": self.failed_reconciles, "api_writes": self.api_writes,
                    "redis_commands": self.redis_commands, "events": self.events,
                    "final_status": self.final_status.iter().map(|(target, status)| json!({"object": target, "status": status})).collect::<Vec<_>>(),
                    "violations": failures,
                }
            })
        );
        text
    }
}

fn seconds(time: Milliseconds) -> String {
    format!("{:>5}.{:03}s", time / 1000, time % 1000)
}

/// A fault that is on, and how to end it.
#[derive(Clone, Debug)]
struct ActiveFault {
    description: String,
    end: Option<Milliseconds>,
    undo: Undo,
    window: Option<usize>,
}

#[derive(Clone, Debug)]
enum Undo {
    RecoverNode(String),
    DrainRound(String),
    RejoinOperator(Vec<String>),
    Rejoin(Vec<(String, String)>),
    Resume,
    Thaw,
}

struct Engine<'a> {
    world: World,
    scenario: &'a Scenario,
    seed: u64,
    /// The operator's controller: the CRs it watches and when each is due.
    controller: SimulatedController,
    report: RunReport,
    safety: SafetyMonitor,
    active: Vec<ActiveFault>,
    windows: Vec<FaultWindow>,
    workloads: BTreeMap<Target, usize>,
    written: usize,
    seen_crashes: usize,
    paused: bool,
    step: usize,
    quiet_rounds: usize,
    seen_writes: usize,
    seen_events: usize,
    last_status: BTreeMap<ObjectRef, String>,
    last_topology: String,
    /// What the last topology line was written from.
    last_topology_shape: TopologyShape,
    /// The API server version the statuses were last read at.
    statuses_seen_at: Option<u64>,
    /// CRs the serving oracle watches: those converged since the last fault that may take a
    /// master away (pod kill, process crash, node crash or drain, isolation).
    serving: Vec<(Kind, ObjectRef)>,
    /// The ready pods at an API server version, for the serving oracle.
    ready_pods: (Option<u64>, ReadyPods),
}

fn kind_of(target: &Target) -> Option<(Kind, ObjectRef)> {
    let kind = Kind::from_name(&target.kind)?;
    let resource = match kind {
        Kind::Redis => ResourceType::Redis,
        Kind::RedisReplication => ResourceType::RedisReplication,
        Kind::RedisSentinel => ResourceType::RedisSentinel,
        Kind::RedisCluster => ResourceType::RedisCluster,
    };
    Some((
        kind,
        ObjectRef::new(resource, &target.namespace, &target.name),
    ))
}

/// The resource type whose kind is `kind`.
fn resource_named(kind: &str) -> Option<ResourceType> {
    ResourceType::ALL
        .into_iter()
        .find(|resource| resource.kind() == kind)
}

/// The status summary of a CR: its Ready condition, state and master.
pub fn status_line(world: &World, target: &ObjectRef) -> String {
    let Some(object) = world.api.object(target) else {
        return "deleted".to_owned();
    };
    let status = &object["status"];
    let mut line = status["conditions"]
        .as_array()
        .and_then(|conditions| {
            conditions
                .iter()
                .find(|condition| condition["type"] == "Ready")
        })
        .map(|condition| {
            format!(
                "Ready={} ({})",
                condition["status"].as_str().unwrap_or("?"),
                condition["message"].as_str().unwrap_or("")
            )
        })
        .unwrap_or_default();
    if let Some(state) = status["state"].as_str() {
        let _ = write!(line, " state={state}");
    }
    if let Some(master) = status["masterNode"].as_str() {
        let _ = write!(line, " master={master}");
    }
    if let Some(address) = status["masterAddress"].as_str() {
        let _ = write!(line, " sentinels-agree-on={address}");
    }
    line
}

/// A one-line summary of the Redis servers: masters with slots, replicas and whom they follow,
/// sentinels.
pub fn topology_line(world: &World) -> String {
    world.redis.with_servers(describe_servers)
}

/// What [`topology_line`] shows of each server, without writing it: compared after every step.
type TopologyShape = Vec<(String, Arc<str>, bool, ServerKind, Option<String>, usize)>;

/// What [`topology_line`] shows of one server, borrowed from it.
type ShapeEntry<'server> = (
    &'server str,
    &'server Arc<str>,
    bool,
    ServerKind,
    Option<&'server str>,
    usize,
);

fn shape_entry(server: &Server) -> ShapeEntry<'_> {
    (
        &server.ip,
        &server.pod,
        server.alive,
        server.kind,
        server.master.as_ref().map(|(ip, _)| ip.as_str()),
        server.slots.len(),
    )
}

fn topology_shape(servers: &BTreeMap<String, Server>) -> TopologyShape {
    servers
        .values()
        .map(shape_entry)
        .map(|(ip, pod, alive, kind, master, slots)| {
            (
                ip.to_owned(),
                Arc::clone(pod),
                alive,
                kind,
                master.map(str::to_owned),
                slots,
            )
        })
        .collect()
}

/// Whether the servers still have `shape`, compared in place: most steps change nothing it
/// shows, and building the shape to compare copied every address.
fn shows_shape(servers: &BTreeMap<String, Server>, shape: &TopologyShape) -> bool {
    servers.values().map(shape_entry).eq(shape.iter().map(
        |(ip, pod, alive, kind, master, slots)| {
            (ip.as_str(), pod, *alive, *kind, master.as_deref(), *slots)
        },
    ))
}

/// [`topology_line`] of the servers, read in place.
fn describe_servers(servers: &BTreeMap<String, Server>) -> String {
    let by_ip: BTreeMap<&str, &str> = servers
        .values()
        .map(|server| (server.ip.as_str(), &*server.pod))
        .collect();
    let mut parts = Vec::new();
    for server in servers.values().filter(|server| server.alive) {
        let part = match (server.kind, &server.master) {
            (ServerKind::Sentinel, _) => format!("{}=sentinel", server.pod),
            (_, Some((ip, _))) => format!(
                "{}→{}",
                server.pod,
                by_ip.get(ip.as_str()).copied().unwrap_or(ip.as_str())
            ),
            (ServerKind::Cluster, None) => {
                format!("{}=master[{} slots]", server.pod, server.slots.len())
            }
            (ServerKind::Plain, None) => format!("{}=master", server.pod),
        };
        parts.push(part);
    }
    parts.sort();
    parts.join(" ")
}

impl Engine<'_> {
    fn now(&self) -> Milliseconds {
        self.world.clock.now().saturating_sub(SIMULATION_EPOCH)
    }

    fn log(&mut self, kind: &'static str, text: String) {
        let time = self.now();
        self.report.entries.push(Entry { time, kind, text });
    }

    fn fail(&mut self, violation: Violation) {
        let time = self.now();
        self.log(
            "oracle",
            format!("{}: {}", violation.oracle, violation.message),
        );
        self.report.failures.push(Failure {
            step: self.step,
            time,
            violation,
        });
    }

    /// Creates the manifests' objects: Secrets and ConfigMaps first, then the CRs.
    fn apply_documents(&mut self, documents: &[(String, String)]) {
        let mut ordered: Vec<(String, Value, bool)> = Vec::new();
        for (file, text) in documents {
            let values: Vec<Value> = serde_yaml_ng::Deserializer::from_str(text)
                .filter_map(|document| serde::Deserialize::deserialize(document).ok())
                .collect();
            for (document, value) in read_documents(text).into_iter().zip(values) {
                let label = document.label();
                match document.outcome {
                    DocumentOutcome::Invalid(errors) => {
                        let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
                        self.fail(Violation {
                            oracle: "manifests are valid",
                            message: format!("{file}: {label} is invalid: {}", listed.join("; ")),
                        });
                    }
                    DocumentOutcome::Valid(_) => ordered.push((file.clone(), value, true)),
                    DocumentOutcome::Skipped => ordered.push((file.clone(), value, false)),
                    DocumentOutcome::Empty => {}
                }
            }
        }
        ordered.sort_by_key(|(_, _, ours)| *ours);
        for (file, value, _) in ordered {
            let yaml = serde_yaml_ng::to_string(&value).unwrap_or_default();
            match self.world.create_yaml(&yaml) {
                Ok((kind, reference)) => {
                    self.log("apply", format!("{reference} ({file})"));
                    if let Some(kind) = kind {
                        self.controller.watch(kind, reference);
                    }
                }
                Err(error) => self.fail(Violation {
                    oracle: "manifests are accepted",
                    message: format!("{file}: failed to apply: {error}"),
                }),
            }
        }
    }

    /// One round: the operator reconciles what is due, the oracles check it, time moves one step,
    /// clients write, faults that are over heal, and the timeline records what changed.
    async fn round(&mut self) {
        let mut writes = 0;
        if !self.paused {
            self.safety.before_round(&self.world);
            let mut order: Vec<usize> = (0..self.controller.targets().len()).collect();
            // Controllers of different kinds run concurrently: any order may happen.
            for index in (1..order.len()).rev() {
                let other = self.world.random.pick(index + 1).unwrap_or(index);
                order.swap(index, other);
            }
            for index in order {
                let Some((kind, target)) = self.controller.targets().get(index).cloned() else {
                    continue;
                };
                writes += self.reconcile_if_due(kind, &target).await;
            }
            let violations = self.safety.after_round(&self.world);
            for violation in violations {
                self.fail(violation);
            }
            if self.world.crash.crashes() > self.seen_crashes {
                // The operator restarts with nothing but what the API server and Redis hold.
                self.seen_crashes = self.world.crash.crashes();
                self.world.crash.disarm();
                self.world.context.designs = Arc::default();
                self.world.context.cluster_tables = Arc::default();
                self.log("operator", "crashed and restarted".to_owned());
            }
        }
        let all_ready = self
            .controller
            .targets()
            .iter()
            .all(|(_, target)| self.world.is_ready(target));
        self.world.step();
        self.run_workloads();
        self.run_faults();
        self.observe();
        self.check_serving();
        self.quiet_rounds = if writes == 0 && all_ready && !self.paused {
            self.quiet_rounds + 1
        } else {
            0
        };
    }

    /// Reconciles `target` when something changed since its last reconcile or it is due; returns
    /// the writes it made.
    async fn reconcile_if_due(&mut self, kind: Kind, target: &ObjectRef) -> usize {
        let Some(result) = self
            .controller
            .reconcile_if_due(&self.world, kind, target)
            .await
        else {
            return 0;
        };
        if let Err(error) = &result {
            self.log("reconcile", format!("{target} failed: {error}"));
        }
        if self.world.api.object(target).is_none() {
            self.log("deleted", format!("{target} is gone"));
            self.controller.forget(target);
        }
        writes_of(&result)
    }

    /// Where a client of `target` sends writes: the pod the `-master` Service selects for a
    /// replication, any master of a cluster (the client follows redirections), the server of a
    /// standalone Redis.
    fn client_entry(&self, target: &Target) -> Option<String> {
        let (kind, reference) = kind_of(target)?;
        if kind == Kind::RedisReplication {
            let selected = self.world.pods_selected_by(&ObjectRef::new(
                ResourceType::Service,
                &reference.namespace,
                &format!("{}-master", reference.name),
            ));
            let [pod] = selected.as_slice() else {
                return None;
            };
            return self.world.redis.with_servers(|servers| {
                servers
                    .values()
                    .find(|server| *server.pod == **pod && server.alive)
                    .map(|server| server.ip.clone())
            });
        }
        self.world.redis.with_servers(|servers| {
            servers_of(servers.values(), &reference)
                .into_iter()
                .find(|server| {
                    server.alive
                        && server.master.is_none()
                        && server.kind != ServerKind::Sentinel
                        && (server.kind == ServerKind::Plain || !server.slots.is_empty())
                })
                .map(|server| server.ip.clone())
        })
    }

    fn write(&mut self, target: &Target, keys: usize) -> usize {
        let Some(entry) = self.client_entry(target) else {
            return 0;
        };
        let prefix = format!("{}:{}", target.name, self.written);
        self.written += keys;
        self.world.write_keys(&entry, &prefix, keys)
    }

    /// Every CR converged since the last fault that may take a master away still has a ready
    /// master per shard; a CR that fails this is reported once, then left until it converges.
    fn check_serving(&mut self) {
        if self.serving.is_empty() {
            return;
        }
        let version = self.world.api.version();
        if self.ready_pods.0 != Some(version) {
            self.ready_pods = (Some(version), ready_pods(&self.world));
        }
        let mut failed = Vec::new();
        for (kind, target) in &self.serving {
            if let Some(violation) = check_serving(&self.world, *kind, target, &self.ready_pods.1) {
                failed.push((target.clone(), violation));
            }
        }
        for (target, violation) in failed {
            self.serving.retain(|(_, known)| *known != target);
            self.fail(violation);
        }
    }

    /// A node drain with no end that is still on must have emptied its node by the time every
    /// CR converged: the operator moved what the disruption budgets were waiting for.
    fn check_drains_finished(&mut self) {
        let drained: Vec<String> = self
            .active
            .iter()
            .filter(|fault| fault.end.is_none())
            .filter_map(|fault| match &fault.undo {
                Undo::DrainRound(node) => Some(node.clone()),
                _ => None,
            })
            .collect();
        for node in drained {
            let left: Vec<String> = self
                .world
                .objects(ResourceType::Pod)
                .iter()
                .filter(|pod| {
                    pod.at("/spec/nodeName").and_then(Value::as_str) == Some(node.as_str())
                })
                .filter_map(|pod| pod["metadata"]["name"].as_str().map(str::to_owned))
                .collect();
            if !left.is_empty() {
                self.fail(Violation {
                    oracle: "a blocked drain finishes",
                    message: format!(
                        "node {node} is still draining after convergence; pods left: {left:?}"
                    ),
                });
            }
        }
    }

    fn run_workloads(&mut self) {
        let workloads: Vec<(Target, usize)> = self
            .workloads
            .iter()
            .map(|(target, rate)| (target.clone(), *rate))
            .collect();
        for (target, rate) in workloads {
            self.write(&target, rate);
        }
    }

    fn run_faults(&mut self) {
        let now = self.world.clock.now();
        let mut index = 0;
        while index < self.active.len() {
            let fault = self.active[index].clone();
            if let Undo::DrainRound(node) = &fault.undo {
                let remaining = self.world.drain_node_round(node);
                if remaining.is_empty() && fault.end.is_none() {
                    self.log("fault", format!("{} finished", fault.description));
                }
            }
            if fault.end.is_some_and(|end| end <= now) {
                self.active.remove(index);
                self.undo(&fault);
            } else {
                index += 1;
            }
        }
    }

    fn undo(&mut self, fault: &ActiveFault) {
        let now = self.world.clock.now();
        match &fault.undo {
            Undo::RecoverNode(node) => {
                self.world.recover_node(node);
            }
            Undo::DrainRound(node) => {
                self.world.cordon_node(node, false);
            }
            Undo::RejoinOperator(addresses) => {
                for address in addresses {
                    self.world.redis.set_operator_partition(address, false);
                }
            }
            Undo::Rejoin(pairs) => {
                for (left, right) in pairs {
                    self.world.redis.set_partition(left, right, false);
                }
            }
            Undo::Resume => self.paused = false,
            Undo::Thaw => self.world.lag.thaw(),
        }
        // Redis keeps acting on a fault after it heals: a crashed node's servers start again
        // (the start latency) and their claims reach the other nodes a gossip round later, so a
        // write an outdated master acknowledges meanwhile is Redis' own loss, not the operator's.
        let settle =
            self.world.settings().maximum_start_latency_milliseconds + HEAL_SETTLE_MILLISECONDS;
        if let Some(window) = fault.window.and_then(|index| self.windows.get_mut(index)) {
            window.end = Some(now + settle);
        }
        self.log("heal", fault.description.clone());
    }

    fn observe(&mut self) {
        let writes = self.world.api.writes_since(self.seen_writes);
        self.seen_writes += writes.len();
        for write in writes {
            let created = matches!(write.verb, "apply" | "create") && write.error.is_none();
            if created
                && matches!(
                    write.object.resource,
                    ResourceType::StatefulSet
                        | ResourceType::Service
                        | ResourceType::ConfigMap
                        | ResourceType::PodDisruptionBudget
                )
            {
                self.log("write", format!("{} {}", write.verb, write.object));
            }
            if write.verb == "delete" && write.error.is_none() {
                self.log("write", format!("delete {}", write.object));
            }
            if let Some(error) = &write.error {
                self.log(
                    "rejected",
                    format!("{} {}: {error}", write.verb, write.object),
                );
            }
        }
        let events = self.world.api.events_since(self.seen_events);
        self.seen_events += events.len();
        for event in events {
            self.log(
                "event",
                format!(
                    "{} {} {}: {}",
                    event.event_type.as_str(),
                    event.regarding,
                    event.reason,
                    event.message
                ),
            );
        }
        // Statuses are read from the API server: unchanged while its version is.
        let version = self.world.api.version();
        if self.statuses_seen_at != Some(version) {
            self.statuses_seen_at = Some(version);
            let targets: Vec<ObjectRef> = self
                .controller
                .targets()
                .iter()
                .map(|(_, target)| target.clone())
                .collect();
            for target in targets {
                let status = status_line(&self.world, &target);
                if self.last_status.get(&target) != Some(&status) {
                    self.log("status", format!("{target}: {status}"));
                    self.last_status.insert(target, status);
                }
            }
        }
        // The line is written only when what it shows changed.
        let last_shape = &self.last_topology_shape;
        let unchanged = self
            .world
            .redis
            .with_servers(|servers| shows_shape(servers, last_shape));
        if !unchanged {
            let shape = self.world.redis.with_servers(topology_shape);
            let topology = topology_line(&self.world);
            if topology != self.last_topology {
                self.log("redis", topology.clone());
                self.last_topology = topology;
            }
            self.last_topology_shape = shape;
        }
    }

    fn resolve_pod(&self, choice: &PodChoice) -> Option<ObjectRef> {
        match choice {
            PodChoice::Named(name) => self
                .world
                .objects(ResourceType::Pod)
                .iter()
                .filter_map(|pod| ObjectRef::of(pod))
                .find(|pod| &pod.name == name),
            PodChoice::Random { target, role } => {
                let (_, reference) = kind_of(target)?;
                let servers = self.world.redis.servers();
                let candidates: Vec<String> = servers_of(&servers, &reference)
                    .into_iter()
                    .filter(|server| server.alive)
                    .filter(|server| {
                        let replica =
                            server.master.is_some() || server.cluster_master_id().is_some();
                        match role.as_str() {
                            "master" => {
                                !replica
                                    && server.kind != ServerKind::Sentinel
                                    && (server.kind == ServerKind::Plain
                                        || !server.slots.is_empty())
                            }
                            "replica" => replica,
                            _ => true,
                        }
                    })
                    .map(|server| server.pod.to_string())
                    .collect();
                let pod = candidates.get(self.world.random.pick(candidates.len())?)?;
                Some(ObjectRef::new(ResourceType::Pod, &reference.namespace, pod))
            }
        }
    }

    fn resolve_node(&self, choice: &NodeChoice) -> Option<String> {
        match choice {
            NodeChoice::Named(name) => Some(name.clone()),
            NodeChoice::Random(target) => {
                let mut candidates: Vec<String> = match target.as_ref().and_then(kind_of) {
                    Some((_, reference)) => self
                        .world
                        .objects(ResourceType::Pod)
                        .iter()
                        .filter(|pod| {
                            pod["metadata"]["namespace"] == reference.namespace.as_str()
                                && pod["metadata"]["name"].as_str().is_some_and(|name| {
                                    name.starts_with(&format!("{}-", reference.name))
                                })
                        })
                        .filter_map(|pod| pod.at("/spec/nodeName")?.as_str().map(str::to_owned))
                        .collect(),
                    None => self
                        .world
                        .nodes()
                        .into_iter()
                        .filter(|node| node.up)
                        .map(|node| node.name)
                        .collect(),
                };
                candidates.sort();
                candidates.dedup();
                candidates
                    .get(self.world.random.pick(candidates.len())?)
                    .cloned()
            }
        }
    }

    fn pod_address(&self, pod: &ObjectRef) -> Option<String> {
        self.world
            .api
            .object(pod)?
            .at("/status/podIP")?
            .as_str()
            .map(str::to_owned)
    }

    fn start_fault(&mut self, fault: &Fault, duration: u64) {
        let now = self.world.clock.now();
        let end = (duration > 0).then(|| now + duration * 1000);
        let mut risks_data = false;
        let (description, undo) = match fault {
            Fault::PodKill(choice) | Fault::ProcessCrash(choice) => {
                let Some(pod) = self.resolve_pod(choice) else {
                    self.log("fault", format!("{fault:?}: no such pod; skipped"));
                    return;
                };
                self.windows.push(FaultWindow {
                    start: now,
                    end: Some(now),
                });
                self.serving.clear();
                if matches!(fault, Fault::PodKill(_)) {
                    self.world.kill_pod(&pod.namespace, &pod.name);
                    self.log("fault", format!("pod-kill {pod}"));
                } else {
                    self.world.crash_process(&pod.namespace, &pod.name);
                    self.log("fault", format!("process-crash {pod}"));
                }
                return;
            }
            Fault::NodeCrash(choice) | Fault::NodeDrain(choice) => {
                let Some(node) = self.resolve_node(choice) else {
                    self.log("fault", format!("{fault:?}: no such node; skipped"));
                    return;
                };
                risks_data = true;
                if matches!(fault, Fault::NodeCrash(_)) {
                    if !self.world.crash_node(&node) {
                        self.fail(Violation {
                            oracle: "scenario names existing objects",
                            message: format!("node-crash: no node {node:?}"),
                        });
                        return;
                    }
                    (format!("node-crash {node}"), Undo::RecoverNode(node))
                } else {
                    self.world.drain_node_round(&node);
                    (format!("node-drain {node}"), Undo::DrainRound(node))
                }
            }
            Fault::PartitionOperator(choices) => {
                let addresses: Vec<String> = choices
                    .iter()
                    .filter_map(|choice| self.resolve_pod(choice))
                    .filter_map(|pod| self.pod_address(&pod))
                    .collect();
                for address in &addresses {
                    self.world.redis.set_operator_partition(address, true);
                }
                (
                    format!("partition-operator from {addresses:?}"),
                    Undo::RejoinOperator(addresses),
                )
            }
            Fault::IsolatePod(choice) => {
                let Some(pod) = self.resolve_pod(choice) else {
                    self.log("fault", format!("{fault:?}: no such pod; skipped"));
                    return;
                };
                let Some(address) = self.pod_address(&pod) else {
                    return;
                };
                risks_data = true;
                let pairs: Vec<(String, String)> = self
                    .world
                    .redis
                    .servers()
                    .into_iter()
                    .filter(|server| server.ip != address)
                    .map(|server| (address.clone(), server.ip))
                    .collect();
                for (left, right) in &pairs {
                    self.world.redis.set_partition(left, right, true);
                }
                (format!("isolate-pod {pod}"), Undo::Rejoin(pairs))
            }
            Fault::OperatorCrash(count) => {
                let writes = match count {
                    WriteCount::Exactly(writes) => *writes,
                    WriteCount::Random(bound) => usize::try_from(
                        self.world
                            .random
                            .next_below(u64::try_from(*bound).unwrap_or(1)),
                    )
                    .unwrap_or(0),
                };
                self.world.crash.arm(writes);
                self.log(
                    "fault",
                    format!("operator-crash after {writes} more writes"),
                );
                return;
            }
            Fault::OperatorPause => {
                self.paused = true;
                ("operator-pause".to_owned(), Undo::Resume)
            }
            Fault::StaleReads => {
                self.world.lag.freeze(&self.world.api);
                ("stale-reads".to_owned(), Undo::Thaw)
            }
            Fault::ApiErrors {
                verb,
                resource,
                error,
                count,
            } => {
                let object = resource.clone().unwrap_or_else(|| "any object".to_owned());
                let api_error = match error.as_str() {
                    "conflict" => ApiError::Conflict {
                        object: object.clone(),
                        message: "the object has been modified; please apply your changes to the latest version and try again".to_owned(),
                    },
                    "too-many-requests" => ApiError::TooManyRequests {
                        object: object.clone(),
                        action: verb.clone(),
                        message: "the server is throttling requests".to_owned(),
                    },
                    _ => ApiError::Transient {
                        object: object.clone(),
                        action: verb.clone(),
                        message: "the server timed out".to_owned(),
                    },
                };
                let verb: &'static str = match verb.as_str() {
                    "apply" => "apply",
                    "apply-status" => "apply-status",
                    "delete" => "delete",
                    "evict" => "evict",
                    "event" => "event",
                    "remove-finalizer" => "remove-finalizer",
                    "get" => "get",
                    _ => "list",
                };
                let resource = resource.as_deref().and_then(resource_named);
                for _ in 0..*count {
                    self.world.api.inject(Injection {
                        verb,
                        resource,
                        error: api_error.clone(),
                    });
                }
                self.log(
                    "fault",
                    format!(
                        "api-errors: the next {count} {verb} calls on {object} fail with {error}"
                    ),
                );
                return;
            }
        };
        if risks_data {
            self.serving.clear();
        }
        let window = risks_data.then(|| {
            self.windows.push(FaultWindow {
                start: now,
                end: None,
            });
            self.windows.len() - 1
        });
        self.log(
            "fault",
            match end {
                Some(_) => format!("{description} for {duration} s"),
                None => format!("{description} until healed"),
            },
        );
        self.active.push(ActiveFault {
            description,
            end,
            undo,
            window,
        });
    }

    fn heal_all(&mut self) {
        for fault in std::mem::take(&mut self.active) {
            self.undo(&fault);
        }
    }

    /// Runs rounds until every timed fault has ended and every CR is Ready and quiet, at most
    /// `timeout` seconds; then checks the state oracles.
    async fn converge(&mut self, timeout: u64) {
        let limit = self.world.clock.now() + timeout * 1000;
        while self.active.iter().any(|fault| fault.end.is_some()) && self.world.clock.now() < limit
        {
            self.round().await;
        }
        self.quiet_rounds = 0;
        let start = self.world.clock.now();
        while self.world.clock.now() < limit {
            self.round().await;
            if self.quiet_rounds >= QUIET_ROUNDS && self.verify_quiet().await {
                let took = (self.world.clock.now() - start) / 1000;
                self.log(
                    "converged",
                    format!("every CR is Ready and a reconcile changes nothing ({took} s)"),
                );
                for violation in check_converged(&self.world, self.controller.targets()) {
                    self.fail(violation);
                }
                self.check_lost_keys();
                self.check_drains_finished();
                if !self.active.iter().any(|fault| {
                    matches!(
                        fault.undo,
                        Undo::DrainRound(_) | Undo::Rejoin(_) | Undo::RecoverNode(_)
                    )
                }) {
                    self.serving = self.controller.targets().to_vec();
                }
                return;
            }
        }
        let pending: Vec<String> = self
            .controller
            .targets()
            .iter()
            .map(|(_, target)| format!("{target}: {}", status_line(&self.world, target)))
            .collect();
        self.fail(Violation {
            oracle: "converges within the bound",
            message: format!("not converged after {timeout} s: {}", pending.join("; ")),
        });
    }

    /// A reconcile of every CR, now, changes nothing.
    async fn verify_quiet(&mut self) -> bool {
        let quiet = self.controller.reconciles_write_nothing(&self.world).await;
        if !quiet {
            self.quiet_rounds = 0;
        }
        quiet
    }

    fn check_lost_keys(&mut self) {
        let targets = self.controller.targets().to_vec();
        for (kind, target) in targets {
            let object = self.world.api.object(&target);
            let number = |pointer: &str| {
                object
                    .as_ref()
                    .and_then(|object| object.at(pointer))
                    .and_then(Value::as_u64)
            };
            let has_replicas = match kind {
                Kind::RedisCluster => {
                    number("/spec/redisFollower/replicas")
                        .or_else(|| number("/spec/clusterSize"))
                        .unwrap_or(0)
                        > 0
                }
                Kind::RedisReplication => number("/spec/clusterSize").unwrap_or(1) > 1,
                Kind::Redis | Kind::RedisSentinel => false,
            };
            let lost = lost_keys(&self.world, &target, &self.windows, has_replicas);
            if !lost.is_empty() {
                let sample: Vec<&String> = lost.iter().take(5).collect();
                self.fail(Violation {
                    oracle: "no acknowledged write lost",
                    message: format!(
                        "{target}: {} acknowledged keys lost, e.g. {sample:?}",
                        lost.len()
                    ),
                });
            }
        }
    }

    fn expect(&mut self, expectations: &Expectations) {
        for target in &expectations.ready {
            let Some((_, reference)) = kind_of(target) else {
                continue;
            };
            if !self.world.is_ready(&reference) {
                let status = status_line(&self.world, &reference);
                self.fail(Violation {
                    oracle: "expectation",
                    message: format!("{reference} is not Ready: {status}"),
                });
            }
        }
        for (target, count) in &expectations.masters {
            let Some((_, reference)) = kind_of(target) else {
                continue;
            };
            let masters = crate::oracles::masters_of(&self.world, &reference);
            if masters.len() != *count {
                self.fail(Violation {
                    oracle: "expectation",
                    message: format!("{reference} has masters {masters:?}, expected {count}"),
                });
            }
        }
        if let Some(allowed) = expectations.lost_keys {
            let targets = self.controller.targets().to_vec();
            let lost: usize = targets
                .iter()
                .map(|(_, target)| lost_keys(&self.world, target, &self.windows, true).len())
                .sum();
            if lost > allowed {
                self.fail(Violation {
                    oracle: "expectation",
                    message: format!("{lost} acknowledged keys lost, at most {allowed} allowed"),
                });
            }
        }
        for target in &expectations.rejected {
            let Some((_, reference)) = kind_of(target) else {
                continue;
            };
            if let Some(problem) = self.rejection_unreported(&reference) {
                self.fail(Violation {
                    oracle: "a rejected update is reported",
                    message: format!("{reference}: {problem}"),
                });
            }
        }
        for (objects, present) in [(&expectations.absent, false), (&expectations.present, true)] {
            for text in objects {
                let parts: Vec<&str> = text.split('/').collect();
                let [kind, namespace, name] = parts.as_slice() else {
                    continue;
                };
                let exists = resource_named(kind)
                    .and_then(|resource| {
                        self.world
                            .api
                            .object(&ObjectRef::new(resource, namespace, name))
                    })
                    .is_some();
                if exists != present {
                    self.fail(Violation {
                        oracle: "expectation",
                        message: format!(
                            "{text} should {}exist",
                            if present { "" } else { "not " }
                        ),
                    });
                }
            }
        }
    }

    /// Why a CR's rejected StatefulSet update is not reported as it must be (a True Degraded
    /// condition naming the StatefulSet, and a Warning Event `UpdateRejected` about the CR), or
    /// `None` when it is.
    fn rejection_unreported(&self, reference: &ObjectRef) -> Option<String> {
        let object = self.world.api.object(reference)?;
        let degraded = object
            .at("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|conditions| {
                conditions.iter().find(|condition| {
                    condition["type"] == "Degraded" && condition["status"] == "True"
                })
            })
            .and_then(|condition| condition["message"].as_str().map(str::to_owned));
        match degraded {
            None => return Some("no True Degraded condition".to_owned()),
            Some(message) if !message.contains("StatefulSet") => {
                return Some(format!(
                    "the Degraded condition does not name the StatefulSet: {message}"
                ));
            }
            Some(_) => {}
        }
        let reported = self.world.api.events_since(0).iter().any(|event| {
            &event.regarding == reference
                && event.event_type.as_str() == "Warning"
                && event.reason == "UpdateRejected"
        });
        (!reported).then(|| "no Warning Event UpdateRejected".to_owned())
    }

    async fn play(&mut self, index: usize) {
        let Some(step) = self.scenario.steps.get(index).cloned() else {
            return;
        };
        self.step = step.index;
        if step.jitter > 0 {
            let delay = self.world.random.next_below(step.jitter + 1);
            for _ in 0..delay {
                self.round().await;
            }
        }
        match &step.action {
            Action::Wait(seconds) => {
                self.log("step", format!("wait {seconds} s"));
                for _ in 0..*seconds {
                    self.round().await;
                }
            }
            Action::Converge(timeout) => {
                self.log("step", format!("converge (at most {timeout} s)"));
                self.converge(*timeout).await;
            }
            Action::Apply(documents) => {
                self.log("step", "apply".to_owned());
                self.apply_documents(documents);
            }
            Action::Patch {
                target,
                spec,
                metadata,
            } => {
                self.log(
                    "step",
                    format!(
                        "patch {}/{}: spec {spec} metadata {metadata}",
                        target.kind, target.name
                    ),
                );
                let Some((_, reference)) = kind_of(target) else {
                    return;
                };
                match self.world.api.object(&reference).map(Arc::unwrap_or_clone) {
                    Some(mut object) => {
                        if !spec.is_null() {
                            merge_patch(&mut object["spec"], spec);
                        }
                        if !metadata.is_null() {
                            merge_patch(&mut object["metadata"], metadata);
                        }
                        if let Err(error) = self.world.api.update(object) {
                            self.log("rejected", format!("patch of {reference}: {error}"));
                        }
                    }
                    None => self.fail(Violation {
                        oracle: "scenario names existing objects",
                        message: format!("patch: {reference} does not exist"),
                    }),
                }
            }
            Action::Delete(target) => {
                self.log("step", format!("delete {}/{}", target.kind, target.name));
                if let Some((_, reference)) = kind_of(target) {
                    let _ = redis_operator::ports::kube::KubeApi::delete(
                        &self.world.api,
                        &reference,
                        Propagation::Background,
                    )
                    .await;
                }
            }
            Action::Write { target, keys } => {
                let acknowledged = self.write(target, *keys);
                self.log(
                    "step",
                    format!(
                        "write {keys} keys to {}/{}: {acknowledged} acknowledged",
                        target.kind, target.name
                    ),
                );
            }
            Action::Workload { target, per_second } => {
                self.log(
                    "step",
                    format!(
                        "workload {per_second} keys/s to {}/{}",
                        target.kind, target.name
                    ),
                );
                if *per_second == 0 {
                    self.workloads.remove(target);
                } else {
                    self.workloads.insert(target.clone(), *per_second);
                }
            }
            Action::Fault { fault, duration } => self.start_fault(fault, *duration),
            Action::Heal => {
                self.log("step", "heal".to_owned());
                self.heal_all();
            }
            Action::Expect(expectations) => {
                self.log("step", "expect".to_owned());
                self.expect(expectations);
            }
        }
    }
}

/// Runs `scenario` from `seed`.
pub async fn run(scenario: &Scenario, seed: u64) -> RunReport {
    let world = World::with_settings(seed, scenario.nodes.clone(), scenario.settings.clone());
    let mut engine = Engine {
        world,
        scenario,
        seed,
        controller: SimulatedController::default(),
        report: RunReport {
            scenario: scenario.name.clone(),
            seed,
            ..RunReport::default()
        },
        safety: SafetyMonitor::default(),
        active: Vec::new(),
        windows: Vec::new(),
        workloads: BTreeMap::new(),
        written: 0,
        seen_crashes: 0,
        paused: false,
        step: 0,
        quiet_rounds: 0,
        seen_writes: 0,
        seen_events: 0,
        last_status: BTreeMap::new(),
        last_topology: String::new(),
        last_topology_shape: TopologyShape::new(),
        statuses_seen_at: None,
        serving: Vec::new(),
        ready_pods: (None, ReadyPods::new()),
    };
    engine.apply_documents(&scenario.resources);
    if engine.controller.targets().is_empty() && !scenario.resources.is_empty() {
        engine.fail(Violation {
            oracle: "manifests are valid",
            message: "no Redis, RedisReplication, RedisSentinel or RedisCluster to run".to_owned(),
        });
    }
    for index in 0..scenario.steps.len() {
        engine.play(index).await;
    }
    engine.heal_all();
    engine.report.simulated = engine.now();
    engine.report.reconciles = engine.controller.reconciles;
    engine.report.failed_reconciles = engine.controller.failed_reconciles;
    engine.report.api_writes = engine.world.api.writes_since(0).len();
    engine.report.redis_commands = engine.world.redis.writes_sent();
    engine.report.events = engine.world.api.events_since(0).len();
    engine.report.final_status = engine
        .controller
        .targets()
        .iter()
        .map(|(_, target)| (target.to_string(), status_line(&engine.world, target)))
        .collect();
    let _ = engine.seed;
    engine.report
}

/// Runs `scenario` under each seed in `seeds`; returns the reports of the runs that failed and
/// how many ran. A panic in a run is reported as a failure of the "no panic" oracle.
pub fn explore(scenario: &Scenario, seeds: std::ops::Range<u64>) -> (Vec<RunReport>, usize) {
    let mut failed = Vec::new();
    let mut ran = 0;
    for seed in seeds {
        ran += 1;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(run(scenario, seed))
        }));
        match outcome {
            Ok(Some(report)) if report.success() => {}
            Ok(Some(report)) => failed.push(report),
            Ok(None) => failed.push(RunReport {
                scenario: scenario.name.clone(),
                seed,
                failures: vec![Failure {
                    step: 0,
                    time: 0,
                    violation: Violation {
                        oracle: "the runtime starts",
                        message: "failed to start the runtime".to_owned(),
                    },
                }],
                ..RunReport::default()
            }),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                    .unwrap_or_default();
                failed.push(RunReport {
                    scenario: scenario.name.clone(),
                    seed,
                    failures: vec![Failure {
                        step: 0,
                        time: 0,
                        violation: Violation {
                            oracle: "no panic",
                            message,
                        },
                    }],
                    ..RunReport::default()
                });
            }
        }
    }
    (failed, ran)
}

/// Runs a future on a fresh single-threaded runtime (the simulator never waits on real time).
pub fn block_on<F: std::future::Future>(future: F) -> Option<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread().build().ok()?;
    Some(runtime.block_on(future))
}
