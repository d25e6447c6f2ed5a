//! The timeline of a run: what happened, when, in one line each — steps, applies, writes the
//! API server took or refused, Events, status changes, Redis topology changes, faults, heals and
//! oracle failures — and the report a run returns, as text or JSON lines.
//!
//! It reads the world and writes lines; it never changes the world.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use redis_operator::ports::clock::Milliseconds;
use redis_operator::ports::kube::{ObjectRef, ResourceType};
use serde_json::{Value, json};

use crate::engine::run::Engine;
use crate::engine::world::World;
use crate::fakes::redis::{Server, ServerKind};
use crate::oracles::Violation;

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

pub(crate) fn seconds(time: Milliseconds) -> String {
    format!("{:>5}.{:03}s", time / 1000, time % 1000)
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
pub(crate) type TopologyShape = Vec<(String, Arc<str>, bool, ServerKind, Option<String>, usize)>;

/// What [`topology_line`] shows of one server, borrowed from it.
pub(crate) type ShapeEntry<'server> = (
    &'server str,
    &'server Arc<str>,
    bool,
    ServerKind,
    Option<&'server str>,
    usize,
);

pub(crate) fn shape_entry(server: &Server) -> ShapeEntry<'_> {
    (
        &server.ip,
        &server.pod,
        server.alive,
        server.kind,
        server.master.as_ref().map(|(ip, _)| ip.as_str()),
        server.slots.len(),
    )
}

pub(crate) fn topology_shape(servers: &BTreeMap<String, Server>) -> TopologyShape {
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
pub(crate) fn shows_shape(servers: &BTreeMap<String, Server>, shape: &TopologyShape) -> bool {
    servers.values().map(shape_entry).eq(shape.iter().map(
        |(ip, pod, alive, kind, master, slots)| {
            (ip.as_str(), pod, *alive, *kind, master.as_deref(), *slots)
        },
    ))
}

/// [`topology_line`] of the servers, read in place.
pub(crate) fn describe_servers(servers: &BTreeMap<String, Server>) -> String {
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
    pub(crate) fn observe(&mut self) {
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
}
