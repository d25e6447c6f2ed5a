//! The destructive-command oracle: the operator never wipes data Redis holds. Judged two ways
//! on the same rule — from the fleet's command log after a round (`CLUSTER RESET`, `FLUSHALL` or
//! `FLUSHDB` on a node holding keys; REPLICAOF onto a master holding no keys while the node holds
//! some), and for the transition fuzzer before each writing command runs (a node that alone
//! holds keys made to follow a master that holds none: the resync would discard them).

use redis_operator::ports::redis::{RedisCommand, RedisEndpoint};

use crate::fakes::redis::{CommandRecord, FakeRedis, Server, ServerKind};
use crate::oracles::Violation;

/// Commands that wipe a node's data or cluster state.
const DESTRUCTIVE_COMMANDS: [&str; 3] = ["CLUSTER RESET", "FLUSHALL", "FLUSHDB"];

/// What the commands the operator sent break: destructive commands on nodes holding keys, and a
/// REPLICAOF that puts an empty master over data.
pub fn command_violations<'record>(
    commands: impl Iterator<Item = &'record CommandRecord>,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for record in commands {
        if DESTRUCTIVE_COMMANDS.contains(&record.command) && record.keys_held > 0 {
            violations.push(Violation::new(
                "no destructive command on a node holding keys",
                format!(
                    "{} sent to {} holding {} keys",
                    record.command, record.pod, record.keys_held
                ),
            ));
        }
        if record.master_keys == Some(0) && record.keys_held > 0 {
            violations.push(Violation::new(
                "no empty master over data",
                format!(
                    "REPLICAOF made {} (holding {} keys) follow a master holding none",
                    record.pod, record.keys_held
                ),
            ));
        }
    }
    violations
}

/// Why a command that replaces a node's dataset would lose keys, if it would.
pub fn discards_keys(
    fleet: &FakeRedis,
    endpoint: &RedisEndpoint,
    command: &RedisCommand,
) -> Option<String> {
    let servers = fleet.servers();
    let node = servers.iter().find(|server| server.ip == endpoint.host)?;
    let new_master: Option<&Server> = match command {
        RedisCommand::ReplicaOf { host, port } => {
            if node.master.as_ref() == Some(&(host.clone(), *port)) {
                return None;
            }
            servers.iter().find(|server| &server.ip == host)
        }
        RedisCommand::ClusterReplicate(master_id) => {
            let master = servers
                .iter()
                .find(|server| server.kind == ServerKind::Cluster && &server.node_id == master_id);
            if master
                .is_some_and(|master| node.master.as_ref().map(|(ip, _)| ip) == Some(&master.ip))
            {
                return None;
            }
            master
        }
        _ => return None,
    };
    if new_master.is_some_and(|master| !master.data.is_empty()) {
        return None;
    }
    let only_here = node
        .data
        .iter()
        .filter(|(key, _)| {
            !servers
                .iter()
                .any(|other| other.ip != node.ip && other.alive && other.data.contains_key(key))
        })
        .count();
    (only_here > 0).then(|| {
        format!(
            "{} sent to {} ({}), which alone holds {only_here} keys: the master it would follow holds none, so the resync discards them",
            command.name(),
            endpoint.pod,
            endpoint.host
        )
    })
}
