//! The lost-writes oracle: every write a client made and Redis acknowledged can be read back
//! with its value once the CRs converged, except where a fault could legitimately have cost it.

use redis_operator::json_pointer::JsonPointer;

use redis_operator::api::Kind;
use redis_operator::ports::clock::Milliseconds;
use redis_operator::ports::kube::ObjectRef;
use serde_json::Value;

use crate::engine::run::Engine;
use crate::engine::world::World;
use crate::fakes::redis::ServerKind;
use crate::oracles::{Violation, is_master, servers_of};

/// Milliseconds before a fault in which acknowledged writes may be lost: Redis replicates
/// asynchronously and the fake applies replication once per step.
pub const REPLICATION_WINDOW_MILLISECONDS: Milliseconds = 2000;

/// How long after a fault heals (beyond the pods' start latency) Redis may still lose writes to
/// it: a gossip round for a returning node's higher-epoch claims to reach an outdated master.
pub const HEAL_SETTLE_MILLISECONDS: Milliseconds = 2000;

/// A span of simulated time in which a fault could cost acknowledged writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultWindow {
    /// When the fault began.
    pub start: Milliseconds,
    /// When it ended (`None`: still on).
    pub end: Option<Milliseconds>,
}

/// Acknowledged keys written for `target` that can no longer be read, leaving
/// out those a fault may legitimately have cost: written within the replication window before a
/// fault or while it lasted, or — when the CR keeps no replica — written before any fault.
pub fn lost_keys(
    world: &World,
    target: &ObjectRef,
    windows: &[FaultWindow],
    has_replicas: bool,
) -> Vec<String> {
    let servers = world.redis.servers();
    let entry = servers_of(&servers, target)
        .into_iter()
        .find(|server| {
            is_master(server) && (server.kind == ServerKind::Plain || !server.slots.is_empty())
        })
        .map(|server| server.ip.clone());
    let acknowledged_keys = world.acknowledged.borrow();
    let acknowledged = acknowledged_keys
        .iter()
        // Held against the CR the client wrote through: a RedisSentinel named as the replication
        // it monitors owns none of its keys.
        .filter(|(_, write)| write.owner.as_ref() == Some(target))
        // A master its sentinels replaced loses what it acknowledged when they turn it into a
        // replica: Redis' own split-brain loss, whoever routed the client there.
        .filter(|(_, write)| !write.to_superseded_master)
        .filter(|(_, write)| {
            let at = write.at;
            !windows.iter().any(|window| {
                let end = window.end.unwrap_or(Milliseconds::MAX);
                if has_replicas {
                    at + REPLICATION_WINDOW_MILLISECONDS >= window.start && at <= end
                } else {
                    at <= end
                }
            })
        });
    let Some(entry) = entry else {
        return acknowledged.map(|(key, _)| key.clone()).collect();
    };
    world.lost_among(&entry, acknowledged)
}

impl Engine<'_> {
    pub(crate) fn check_lost_keys(&mut self) {
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
}

#[cfg(test)]
mod tests {
    use redis_operator::ports::kube::ResourceType;

    use super::*;
    use crate::fakes::client_workload::AcknowledgedWrite;

    #[test]
    fn a_write_is_held_against_the_cr_written_through_alone() {
        // A RedisSentinel named as the RedisReplication it monitors (as in deploy/examples) owns
        // none of the replication's keys: a key lost there is one loss, not two.
        let world = World::new();
        let replication = ObjectRef::new(ResourceType::RedisReplication, "default", "sessions");
        let sentinel = ObjectRef::new(ResourceType::RedisSentinel, "default", "sessions");
        world.acknowledged.borrow_mut().insert(
            "sessions:0:0".to_owned(),
            AcknowledgedWrite {
                value: "value-0".to_owned(),
                at: 1_000,
                owner: Some(replication.clone()),
                to_superseded_master: false,
            },
        );
        // No server holds the key: it is lost for the replication.
        assert_eq!(
            lost_keys(&world, &replication, &[], true),
            vec!["sessions:0:0".to_owned()]
        );
        assert!(lost_keys(&world, &sentinel, &[], true).is_empty());
    }
}
