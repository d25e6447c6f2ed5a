//! Planner scaling: the CPU time and allocations of the pure half of a RedisCluster reconcile —
//! parsing what every server answered (`INFO replication`, `CLUSTER NODES`) into the observation,
//! and planning from it — for clusters of growing size, built directly as data (no simulator).
//! Two situations: a converged cluster (the steady-state reconcile) and the same cluster with
//! one shard added (the planner has to plan a rebalance).
//!
//! CPU time is this process's, measured over enough repetitions to dwarf the clock's 10 ms
//! resolution; allocations are counted by the caller's counter (the `redis-sim` binary installs
//! a counting global allocator), so the library itself never replaces the allocator.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use redis_operator::ports::redis::RedisEndpoint;
use redis_operator::topology::cluster::{ClusterInput, ClusterPhase, plan_cluster};
use redis_operator::topology::observation::{PodInfo, ServerView};
use redis_operator::topology::replies::{
    ClusterNode, NodeAddress, NodeFlags, ReplicationInfo, ReplicationRole, parse_cluster_nodes,
    parse_info_replication, render_cluster_nodes, render_info_replication,
};
use redis_operator::topology::slots::even_ranges;
use serde_json::{Value, json};

use crate::commands::bench::throughput::process_cpu_seconds;

/// Counts the allocations (and reallocations) the work it is given makes (the caller's global
/// allocator; `redis-sim` runs the work on a thread of its own to count it).
pub type AllocationCounter = fn(&mut (dyn FnMut() + Send)) -> u64;

/// Leader group (StatefulSet) name of the modelled cluster.
const LEADER_GROUP: &str = "bench-leader";
/// Follower group name of the modelled cluster.
const FOLLOWER_GROUP: &str = "bench-follower";
/// Client port of every modelled server.
const PORT: u16 = 6379;

/// One size's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannerRow {
    /// Shards (masters) the spec asks for.
    pub shards: u32,
    /// Which situation.
    pub situation: &'static str,
    /// `CLUSTER NODES` lines parsed per reconcile (every server lists every node).
    pub lines_parsed: u64,
    /// CPU microseconds to parse the replies into the observation, per reconcile.
    pub observe_microseconds: f64,
    /// CPU microseconds to plan, per reconcile.
    pub plan_microseconds: f64,
    /// Allocations per reconcile (observe and plan), when counted.
    pub allocations: Option<u64>,
    /// What the planner decided (phase, steps and activity), to show which path was timed.
    pub decision: String,
    /// Redis steps the planner returned.
    pub steps: usize,
    /// Repetitions timed.
    pub repetitions: u64,
}

impl PlannerRow {
    /// The row as JSON.
    pub fn json(&self) -> Value {
        json!({
            "shards": self.shards, "situation": self.situation, "lines_parsed": self.lines_parsed,
            "observe_cpu_microseconds": self.observe_microseconds,
            "plan_cpu_microseconds": self.plan_microseconds,
            "allocations": self.allocations,
            "observe_cpu_microseconds_per_shard": self.observe_microseconds / f64::from(self.shards.max(1)),
            "plan_cpu_microseconds_per_shard": self.plan_microseconds / f64::from(self.shards.max(1)),
            "allocations_per_shard": self.allocations.map(|count| count as f64 / f64::from(self.shards.max(1))),
            "decision": self.decision, "steps": self.steps, "repetitions": self.repetitions,
        })
    }
}

fn node_id(group: &str, ordinal: u32) -> String {
    // 40 hexadecimal characters, unique per pod.
    let tag = if group == LEADER_GROUP { 1u64 } else { 2u64 };
    format!("{tag:08x}{:032x}", u128::from(ordinal))
}

fn address(index: u32) -> String {
    format!(
        "10.{}.{}.{}",
        1 + index / 62_500,
        index / 250 % 250,
        index % 250 + 1
    )
}

/// What one server answers: its pod, `INFO replication`, `CLUSTER NODES` and DBSIZE.
type Replies = (PodInfo, String, String, u64);

/// What every server of a cluster with `masters` masters (the first `slotted` of them owning
/// slots evenly, and keys) and one replica per master answers.
fn cluster_replies(masters: u32, slotted: u32) -> Vec<Replies> {
    let ranges = even_ranges(usize::try_from(slotted).unwrap_or(0));
    let mut nodes = Vec::new();
    for ordinal in 0..masters {
        let slots = usize::try_from(ordinal)
            .ok()
            .and_then(|index| ranges.get(index))
            .map(|range| vec![*range])
            .unwrap_or_default();
        nodes.push(node(LEADER_GROUP, ordinal, ordinal, None, slots));
    }
    for ordinal in 0..masters {
        nodes.push(node(
            FOLLOWER_GROUP,
            ordinal,
            masters + ordinal,
            Some(node_id(LEADER_GROUP, ordinal)),
            Vec::new(),
        ));
    }
    let mut replies = Vec::new();
    for (index, own) in nodes.iter().enumerate() {
        let table: Vec<ClusterNode> = nodes
            .iter()
            .enumerate()
            .map(|(other, node)| {
                let mut node = node.clone();
                node.flags.myself = other == index;
                node
            })
            .collect();
        let leader = own.master_id.is_none();
        let ordinal = u32::try_from(index).unwrap_or(0) % masters.max(1);
        let group = if leader { LEADER_GROUP } else { FOLLOWER_GROUP };
        let info = ReplicationInfo {
            role: if leader {
                ReplicationRole::Master
            } else {
                ReplicationRole::Replica
            },
            master_host: (!leader).then(|| address(ordinal)),
            master_port: (!leader).then_some(PORT),
            master_link_up: !leader,
            master_sync_in_progress: false,
            master_link_down: None,
            replica_offset: (!leader).then_some(1000),
            replica_priority: None,
            master_replication_id: format!("{:040x}", index),
            master_offset: 1000,
            previous_history: None,
            replicas: Vec::new(),
        };
        let ip = own
            .address
            .as_ref()
            .map(|address| address.ip.clone())
            .unwrap_or_default();
        let pod = PodInfo::ready(group, ordinal, &ip, Some(format!("node-{}", index % 6)));
        // A master that owns no slot yet holds no key, nor does its replica.
        let keys = if ordinal < slotted { 1000 } else { 0 };
        replies.push((
            pod,
            render_info_replication(&info),
            render_cluster_nodes(&table),
            keys,
        ));
    }
    replies
}

fn node(
    group: &str,
    ordinal: u32,
    index: u32,
    master_id: Option<String>,
    slots: Vec<(u16, u16)>,
) -> ClusterNode {
    ClusterNode {
        id: node_id(group, ordinal),
        address: Some(NodeAddress {
            ip: address(index),
            port: PORT,
            bus_port: PORT + 10_000,
            hostname: None,
        }),
        flags: NodeFlags {
            master: master_id.is_none(),
            replica: master_id.is_some(),
            ..NodeFlags::default()
        },
        master_id,
        ping_sent: 0,
        pong_received: 1,
        config_epoch: u64::from(ordinal) + 1,
        link_connected: true,
        slots,
        migrating: Vec::new(),
        importing: Vec::new(),
    }
}

/// Observe's pure half: the replies parsed into server views.
fn observe(replies: &[Replies]) -> Vec<ServerView> {
    replies
        .iter()
        .map(|(pod, info, nodes, keys)| {
            let replication = parse_info_replication(info);
            let cluster_nodes = parse_cluster_nodes(nodes);
            let error = match (&replication, &cluster_nodes) {
                (Err(error), _) | (_, Err(error)) => Some(error.to_string()),
                _ => None,
            };
            ServerView {
                endpoint: RedisEndpoint {
                    namespace: "default".to_owned(),
                    pod: pod.name.clone(),
                    host: pod.ip.clone().unwrap_or_default(),
                    port: PORT,
                    password: None,
                    user: None,
                    tls: None,
                },
                pod: pod.clone(),
                replication: replication.ok(),
                cluster_nodes: cluster_nodes.ok().map(Arc::new),
                keys: Some(*keys),
                cluster_state_ok: None,
                error,
            }
        })
        .collect()
}

fn plan(servers: &[ServerView], shards: u32) -> (ClusterPhase, usize, String) {
    let live_replicas = BTreeMap::from([
        (
            LEADER_GROUP.to_owned(),
            i32::try_from(shards).unwrap_or(i32::MAX),
        ),
        (
            FOLLOWER_GROUP.to_owned(),
            i32::try_from(shards).unwrap_or(i32::MAX),
        ),
    ]);
    let revisions = BTreeMap::new();
    let decided = plan_cluster(&ClusterInput {
        servers,
        leader_group: LEADER_GROUP,
        follower_group: FOLLOWER_GROUP,
        shards,
        replicas_per_shard: 1,
        major_version: 7,
        target_revisions: &revisions,
        live_replicas: &live_replicas,
        leaders_keep_data_across_restarts: false,
    });
    (decided.phase, decided.steps.len(), decided.activity)
}

/// Times observe and plan for `shards` shards: converged, and with one more shard whose
/// master (with its replica) has joined but owns no slot yet. Each is repeated until at least
/// `minimum_cpu_seconds` of CPU time were spent (and at least once).
pub fn measure_planner(
    shards: u32,
    minimum_cpu_seconds: f64,
    allocations: Option<AllocationCounter>,
) -> Vec<PlannerRow> {
    let mut rows = Vec::new();
    for (situation, masters, slotted) in [
        ("converged", shards, shards),
        ("one shard added", shards + 1, shards),
    ] {
        let replies = cluster_replies(masters, slotted);
        let lines_parsed = replies
            .iter()
            .map(|(_, _, nodes, _)| nodes.lines().count() as u64)
            .sum();
        let allocations_per_reconcile = allocations.map(|count| {
            let mut decided = None;
            let allocations = count(&mut || {
                let servers = observe(&replies);
                decided = Some((plan(&servers, masters), servers));
            });
            drop(decided);
            allocations
        });
        let mut repetitions = 0u64;
        let mut observe_seconds = 0.0;
        let mut plan_seconds = 0.0;
        let mut decision = String::new();
        let mut planned_steps = 0;
        let cpu_started = process_cpu_seconds();
        loop {
            // Wall time splits the work between observe and plan; CPU time of the whole loop
            // scales both, so that other processes on the machine do not inflate the figures.
            let started = Instant::now();
            let servers = observe(&replies);
            let observed = Instant::now();
            let (phase, steps, activity) = plan(&servers, masters);
            let planned = Instant::now();
            observe_seconds += observed.duration_since(started).as_secs_f64();
            plan_seconds += planned.duration_since(observed).as_secs_f64();
            repetitions += 1;
            if decision.is_empty() {
                decision = format!("{phase:?}, {steps} steps: {activity}");
                planned_steps = steps;
            }
            let spent = match (cpu_started, process_cpu_seconds()) {
                (Some(before), Some(after)) => after - before,
                _ => observe_seconds + plan_seconds,
            };
            if spent >= minimum_cpu_seconds {
                break;
            }
        }
        let wall = observe_seconds + plan_seconds;
        let cpu = match (cpu_started, process_cpu_seconds()) {
            (Some(before), Some(after)) if after > before => after - before,
            _ => wall,
        };
        let scale = if wall > 0.0 {
            cpu.min(wall) / wall
        } else {
            1.0
        };
        let per_repetition = 1e6 / repetitions as f64;
        rows.push(PlannerRow {
            shards: masters,
            situation,
            lines_parsed,
            observe_microseconds: observe_seconds * scale * per_repetition,
            plan_microseconds: plan_seconds * scale * per_repetition,
            allocations: allocations_per_reconcile,
            decision,
            steps: planned_steps,
            repetitions,
        });
    }
    rows
}
