//! How many slots a scale-out or scale-in moves: the operator's cluster planner on one real
//! cluster, `redis-cli --cluster rebalance` on an identical one (same bootstrap by the operator,
//! same keys), and the fewest moves that can reach a balanced layout.
//!
//! Shared by the `rebalance_comparison` example (the full table) and a test (one small case).

#![allow(dead_code)] // the test uses part of it

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use super::fleet::{Fleet, key, value};
use super::real_redis::{MISSING_REDIS, RedisProcess, ServerOptions, wait_until};
use redis_operator::topology::replies::parse_cluster_nodes;
use redis_operator::topology::slots::SLOT_COUNT;

const LEADERS: &str = "shop-leader";
const FOLLOWERS: &str = "shop-follower";

/// The slots one resharding moved.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Comparison {
    /// `scale-out` or `scale-in`.
    pub direction: String,
    /// Masters before.
    pub from: u32,
    /// Masters after.
    pub to: u32,
    /// Keys in the cluster.
    pub keys: usize,
    /// Slot moves the operator's planner asked for and carried out.
    pub operator_moves: usize,
    /// Slots whose owner differs between before and after, on the operator's cluster.
    pub operator_owner_changes: usize,
    /// The fewest moves from the operator's starting layout to a balanced one.
    pub operator_minimum: usize,
    /// Slots `redis-cli --cluster rebalance` said it moved ("Moving N slots").
    pub redis_cli_moves: usize,
    /// Slots whose owner differs between before and after, on redis-cli's cluster.
    pub redis_cli_owner_changes: usize,
    /// The fewest moves from redis-cli's starting layout to a balanced one.
    pub redis_cli_minimum: usize,
    /// Slots per master after the operator's resharding, largest first.
    pub operator_layout: Vec<usize>,
    /// Slots per master after redis-cli's, largest first.
    pub redis_cli_layout: Vec<usize>,
}

/// Slots per master, by pod name, from a slot owner table.
fn counts(owners: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for owner in owners.iter().filter(|owner| !owner.is_empty()) {
        *counts.entry(owner.clone()).or_default() += 1;
    }
    counts
}

/// The fewest slot moves from `owned` to a balanced layout over `staying` masters: every master
/// ends with 16384 / m slots or one more, leaving masters with none; a master can only keep
/// slots it has, so the minimum is the sum over masters of max(0, owned - target), with the
/// extra slots of the remainder given to the masters that own the most.
pub fn minimum_moves(owned: &BTreeMap<String, usize>, staying: &[String]) -> usize {
    let masters = staying.len();
    let base = usize::from(SLOT_COUNT) / masters;
    let remainder = usize::from(SLOT_COUNT) % masters;
    let mut staying_owned: Vec<usize> = staying
        .iter()
        .map(|name| owned.get(name).copied().unwrap_or(0))
        .collect();
    staying_owned.sort_unstable_by(|left, right| right.cmp(left));
    let staying_moves: usize = staying_owned
        .iter()
        .enumerate()
        .map(|(rank, owned)| {
            let target = base + usize::from(rank < remainder);
            owned.saturating_sub(target)
        })
        .sum();
    let leaving_moves: usize = owned
        .iter()
        .filter(|(name, _)| !staying.contains(name))
        .map(|(_, owned)| *owned)
        .sum();
    staying_moves + leaving_moves
}

fn changes(before: &[String], after: &[String]) -> usize {
    before
        .iter()
        .zip(after)
        .filter(|(before, after)| before != after)
        .count()
}

fn layout(owners: &[String]) -> Vec<usize> {
    let mut layout: Vec<usize> = counts(owners).into_values().collect();
    layout.sort_unstable_by(|left, right| right.cmp(left));
    layout
}

/// Waits until every node says the cluster is ok with every slot assigned, and agrees with
/// `leader-0` on who owns each slot (gossip has spread what the last resharding did).
fn settle(fleet: &Fleet) {
    wait_until(
        "every node sees the same complete slot table",
        Duration::from_secs(30),
        || {
            let reference = fleet.slot_owners(&leader(0));
            fleet.pods.values().all(|(_, process)| {
                let info = process.cli(&["CLUSTER", "INFO"]);
                info.contains("cluster_state:ok")
                    && info.contains("cluster_slots_assigned:16384")
                    && fleet.slot_owners(&process.name) == reference
            })
        },
    );
}

fn leader(ordinal: u32) -> String {
    format!("{LEADERS}-{ordinal}")
}

/// A cluster of `shards` masters with a replica each, bootstrapped by the operator, holding
/// `keys` keys.
async fn cluster_with_keys(shards: u32, keys: usize) -> Fleet {
    let mut fleet = Fleet::new(ServerOptions::plain().cluster());
    for ordinal in 0..shards {
        fleet.start(LEADERS, ordinal);
        fleet.start(FOLLOWERS, ordinal);
    }
    fleet.converge_cluster(LEADERS, FOLLOWERS, shards).await;
    settle(&fleet);
    let replies = fleet.by_owner(&leader(0), keys, |index| {
        format!("SET {} {}", key(index), value(index))
    });
    assert!(replies.iter().all(|reply| reply == "OK"), "every write OK");
    fleet
}

fn assert_every_key(fleet: &Fleet, keys: usize) {
    let replies = fleet.by_owner(&leader(0), keys, |index| format!("GET {}", key(index)));
    let wrong = (0..keys)
        .filter(|index| replies[*index] != value(*index))
        .count();
    assert_eq!(wrong, 0, "keys unreadable after the resharding");
}

/// Runs `redis-cli --cluster <arguments>` and returns its output; fails loudly when redis-cli is
/// missing or the command fails. A command refused because the nodes do not agree yet (gossip
/// still spreading a change) is retried for a while.
fn redis_cli_cluster(arguments: &[String]) -> String {
    let mut attempts = 0;
    loop {
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .args(arguments)
            .output()
            .unwrap_or_else(|error| panic!("{MISSING_REDIS} (redis-cli: {error})"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let not_agreed = text.contains("Please fix your cluster problems")
            || text.contains("Nodes don't agree about configuration");
        if output.status.success() && !not_agreed {
            return text;
        }
        attempts += 1;
        assert!(
            not_agreed && attempts < 60,
            "redis-cli --cluster {arguments:?} failed:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until redis-cli says every node agrees about the slots (rebalance refuses otherwise).
fn wait_for_agreement(entry: &str) {
    wait_until(
        "every node agrees about the slots",
        Duration::from_secs(30),
        || {
            let output = Command::new("redis-cli")
                .args(["--cluster", "check", entry])
                .output()
                .unwrap_or_else(|error| panic!("{MISSING_REDIS} (redis-cli: {error})"));
            let text = String::from_utf8_lossy(&output.stdout);
            text.contains("All nodes agree about slots configuration")
                && text.contains("All 16384 slots covered")
                && !text.contains("[WARNING]")
        },
    );
}

/// Total of the "Moving N slots" lines redis-cli prints.
fn moved_by_redis_cli(output: &str) -> usize {
    output
        .lines()
        // Lines may start with a colour code.
        .filter_map(|line| {
            line.find("Moving ")
                .map(|start| &line[start + "Moving ".len()..])
        })
        .filter_map(|rest| rest.split_whitespace().next())
        .filter_map(|count| count.parse::<usize>().ok())
        .sum()
}

fn address(process: &RedisProcess) -> String {
    format!("{}:{}", process.host, process.port)
}

/// Scales a cluster of `from` masters out to `to` and back in to `from`, once with the
/// operator's planner and once with redis-cli on an identical cluster; returns the scale-out
/// and the scale-in comparison.
pub async fn compare(from: u32, to: u32, keys: usize) -> (Comparison, Comparison) {
    // The operator: the StatefulSets grow, the planner reshards; then they shrink back.
    let mut ours = cluster_with_keys(from, keys).await;
    let start = ours.slot_owners(&leader(0));
    for ordinal in from..to {
        ours.start(LEADERS, ordinal);
        ours.start(FOLLOWERS, ordinal);
    }
    ours.slot_moves.clear();
    ours.converge_cluster(LEADERS, FOLLOWERS, to).await;
    settle(&ours);
    let out_moves = ours.slot_moves.len();
    let grown = ours.slot_owners(&leader(0));
    assert_every_key(&ours, keys);
    ours.slot_moves.clear();
    ours.converge_cluster(LEADERS, FOLLOWERS, from).await;
    settle(&ours);
    let in_moves = ours.slot_moves.len();
    let shrunk = ours.slot_owners(&leader(0));
    assert_every_key(&ours, keys);
    let all: Vec<String> = (0..to).map(leader).collect();
    let first: Vec<String> = (0..from).map(leader).collect();

    // redis-cli: the same bootstrap and keys; empty masters join with add-node and
    // `rebalance --cluster-use-empty-masters` fills them; `--cluster-weight <node>=0` empties
    // them again.
    let mut theirs = cluster_with_keys(from, keys).await;
    let entry = address(theirs.process(&leader(0)));
    let their_start = theirs.slot_owners(&leader(0));
    for ordinal in from..to {
        theirs.start(LEADERS, ordinal);
        let joining = address(theirs.process(&leader(ordinal)));
        redis_cli_cluster(&["add-node".to_owned(), joining, entry.clone()]);
    }
    // redis-cli reads the cluster from the entry node: every node must know every other.
    wait_until(
        "every node knows the masters that joined and says the cluster is ok",
        Duration::from_secs(30),
        || {
            theirs.pods.values().all(|(_, process)| {
                let nodes = parse_cluster_nodes(&process.cli(&["CLUSTER", "NODES"])).unwrap();
                // A joining node answers MIGRATE with CLUSTERDOWN until it says ok.
                nodes.len() == theirs.pods.len()
                    && nodes.iter().all(|node| !node.flags.handshake)
                    && process
                        .cli(&["CLUSTER", "INFO"])
                        .contains("cluster_state:ok")
            })
        },
    );
    wait_for_agreement(&entry);
    let output = redis_cli_cluster(&[
        "rebalance".to_owned(),
        entry.clone(),
        "--cluster-use-empty-masters".to_owned(),
    ]);
    let their_out_moves = moved_by_redis_cli(&output);
    wait_for_agreement(&entry);
    settle(&theirs);
    let their_grown = theirs.slot_owners(&leader(0));
    // redis-cli takes `--cluster-weight` once, followed by every `node=weight` pair.
    let mut arguments = vec![
        "rebalance".to_owned(),
        entry.clone(),
        "--cluster-weight".to_owned(),
    ];
    for ordinal in from..to {
        let id = theirs.process(&leader(ordinal)).cli(&["CLUSTER", "MYID"]);
        arguments.push(format!("{}=0", id.trim()));
    }
    let output = redis_cli_cluster(&arguments);
    let their_in_moves = moved_by_redis_cli(&output);
    wait_for_agreement(&entry);
    settle(&theirs);
    let their_shrunk = theirs.slot_owners(&leader(0));
    assert_every_key(&theirs, keys);

    let scale_out = Comparison {
        direction: "scale-out".to_owned(),
        from,
        to,
        keys,
        operator_moves: out_moves,
        operator_owner_changes: changes(&start, &grown),
        operator_minimum: minimum_moves(&counts(&start), &all),
        redis_cli_moves: their_out_moves,
        redis_cli_owner_changes: changes(&their_start, &their_grown),
        redis_cli_minimum: minimum_moves(&counts(&their_start), &all),
        operator_layout: layout(&grown),
        redis_cli_layout: layout(&their_grown),
    };
    let scale_in = Comparison {
        direction: "scale-in".to_owned(),
        from: to,
        to: from,
        keys,
        operator_moves: in_moves,
        operator_owner_changes: changes(&grown, &shrunk),
        operator_minimum: minimum_moves(&counts(&grown), &first),
        redis_cli_moves: their_in_moves,
        redis_cli_owner_changes: changes(&their_grown, &their_shrunk),
        redis_cli_minimum: minimum_moves(&counts(&their_grown), &first),
        operator_layout: layout(&shrunk),
        redis_cli_layout: layout(&their_shrunk),
    };
    (scale_out, scale_in)
}

/// The comparisons as a text table.
pub fn table(rows: &[Comparison]) -> String {
    let mut text = format!(
        "{:<10} {:>5} {:>6} | {:>9} {:>8} {:>7} | {:>9} {:>8} {:>7}\n",
        "direction",
        "from",
        "to",
        "operator",
        "changed",
        "minimum",
        "redis-cli",
        "changed",
        "minimum"
    );
    for row in rows {
        text.push_str(&format!(
            "{:<10} {:>5} {:>6} | {:>9} {:>8} {:>7} | {:>9} {:>8} {:>7}\n",
            row.direction,
            row.from,
            row.to,
            row.operator_moves,
            row.operator_owner_changes,
            row.operator_minimum,
            row.redis_cli_moves,
            row.redis_cli_owner_changes,
            row.redis_cli_minimum
        ));
    }
    text
}
