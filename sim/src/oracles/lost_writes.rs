//! The lost-writes oracle: every write a client made and Redis acknowledged can be read back
//! with its value once the CRs converged, unless Redis itself or a fault lost it.
//!
//! The rule, exactly: an acknowledged write that cannot be read back is excused only when every
//! copy of it was dropped by a discard the fake Redis recorded as not the operator's doing —
//! - a server restarted without persistence after a fault stopped it (pod killed, process
//!   crashed, node crashed or drained): the fault destroyed that copy;
//! - the only server of a standalone `Redis` without persistence, restarted by its StatefulSet's
//!   rolling update for a template the user changed: nothing can keep its keys across the
//!   restart the change needs (a documented product rule, docs/operations.md);
//! - a full resync of a master that the sentinels or Redis Cluster replaced in a failover while
//!   it was down or cut off (the asynchronous-replication window Redis itself loses: what it
//!   acknowledged after the promoted replica's last sync from it, or all of it when that replica
//!   never synced from it);
//! - a full resync that the sentinels or Redis Cluster started by pointing a server at a new
//!   master, or that a link already in place started because the master's history changed under
//!   it (the master restarted empty or changed role, which its own discard accounts for);
//! - keys a node deleted with a slot it lost to a replica Redis Cluster promoted at a higher
//!   epoch (its dirty slots: the asynchronous-replication window of a failed master);
//! - and, with no discard at all, writes whose every copy is on a stopped master replaced while
//!   it was down, acknowledged after the promoted replica's last sync from it: the same window,
//!   when the master's pod is removed (a scale-in past it) before it comes back to be resynced.
//!
//! Everything else is held against the operator: a copy dropped by a REPLICAOF or CLUSTER
//! REPLICATE it sent to a server that was not superseded (onto a master without the write), by
//! keys deleted with a slot its own claim (CLUSTER SETSLOT NODE, CLUSTER FAILOVER) gave another
//! node at a higher epoch, by a restart after it removed the pod (delete, eviction, a rolling
//! update or scale-in it asked for), and a write no server dropped that is still unreadable (a
//! slot given to a node without its keys, the Service on the wrong master). There is no excuse
//! by time: a write made during a fault is excused only by what the fault did to it.
//!
//! It only reads the world.

use redis_operator::ports::kube::ObjectRef;

use crate::engine::clock::SIMULATION_EPOCH;
use crate::engine::run::Engine;
use crate::engine::world::World;
use crate::fakes::client_workload::AcknowledgedWrite;
use crate::fakes::redis::{Discard, DiscardCause, LinkOrigin, ServerKind, StopCause};
use crate::oracles::{Violation, is_master, servers_of};

/// An acknowledged write that can no longer be read and that the operator is held to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostWrite {
    /// The key.
    pub key: String,
    /// How it was lost.
    pub how: String,
}

/// Who an origin is, in words.
fn who(origin: LinkOrigin) -> &'static str {
    match origin {
        LinkOrigin::Operator => "the operator",
        LinkOrigin::Sentinels => "the sentinels",
        LinkOrigin::ClusterBus => "Redis Cluster",
        LinkOrigin::Bystander => "a bystander",
    }
}

/// The words for a discard the operator caused.
fn describe(discard: &Discard) -> String {
    let elapsed = discard.at.saturating_sub(SIMULATION_EPOCH);
    let (seconds, millis) = (elapsed / 1000, elapsed % 1000);
    let what = match discard.cause {
        DiscardCause::Restart(StopCause::Removal) => {
            "restarted empty after its pod was removed".to_owned()
        }
        DiscardCause::Restart(StopCause::Fault) => "restarted empty after a fault".to_owned(),
        DiscardCause::Restart(StopCause::StandaloneUpdate) => {
            "restarted empty for a new template of a standalone Redis without persistence"
                .to_owned()
        }
        DiscardCause::FullResync { origin, .. } => format!(
            "resynced from a master without it after {} pointed it there",
            who(origin)
        ),
        DiscardCause::SlotLost { claimed_by } => format!(
            "deleted it with a slot that {} made another node claim at a higher epoch",
            who(claimed_by)
        ),
    };
    format!("{} {what} at {seconds}.{millis:03}s", discard.pod)
}

impl World {
    /// Those of `writes` that cannot be read back through `entry` (or at all, without one) and
    /// that the rule of this module holds against the operator.
    pub fn blamed_losses<'write>(
        &self,
        entry: Option<&str>,
        writes: impl Iterator<Item = (&'write String, &'write AcknowledgedWrite)>,
    ) -> Vec<LostWrite> {
        let unreadable: Vec<(&String, &AcknowledgedWrite)> = match entry {
            Some(entry) => {
                let writes: Vec<_> = writes.collect();
                // A set: a run that lost many keys would otherwise compare each with each.
                let lost: std::collections::BTreeSet<String> = self
                    .lost_among(entry, writes.iter().copied())
                    .into_iter()
                    .collect();
                writes
                    .into_iter()
                    .filter(|(key, _)| lost.contains(*key))
                    .collect()
            }
            None => writes.collect(),
        };
        if unreadable.is_empty() {
            return Vec::new();
        }
        // Writes whose every copy is on stopped masters replaced while down, acknowledged after
        // the promoted replica's last sync: the window a failover loses, whether that master
        // comes back to be made a replica (its full resync drops them) or its pod is removed
        // first.
        let in_a_failover_window: std::collections::BTreeSet<&str> =
            self.redis.with_servers(|servers| {
                unreadable
                    .iter()
                    .filter(|(key, write)| {
                        let mut holders = servers
                            .values()
                            .filter(|server| server.data.get(key) == Some(write.value.as_str()))
                            .peekable();
                        holders.peek().is_some()
                            && holders
                                .all(|server| !server.alive && server.lost_to_a_failover(write.at))
                    })
                    .map(|(key, _)| key.as_str())
                    .collect()
            });
        self.redis.with_discards(|discards| {
            unreadable
                .into_iter()
                .filter_map(|(key, write)| {
                    let dropping: Vec<&Discard> = discards
                        .iter()
                        .filter(|discard| discard.dropped_value(key, &write.value))
                        .collect();
                    let how = match dropping
                        .iter()
                        .find(|discard| !discard.cause.excuses(write.at))
                    {
                        Some(discard) => describe(discard),
                        None if dropping.is_empty()
                            && in_a_failover_window.contains(key.as_str()) =>
                        {
                            return None;
                        }
                        None if dropping.is_empty() => {
                            "no server dropped it, yet it cannot be read where Redis serves it"
                                .to_owned()
                        }
                        None => return None,
                    };
                    Some(LostWrite {
                        key: key.clone(),
                        how,
                    })
                })
                .collect()
        })
    }
}

/// Acknowledged writes made for `target` that can no longer be read and that the operator is
/// held to (see the module's rule).
pub fn lost_keys(world: &World, target: &ObjectRef) -> Vec<LostWrite> {
    let servers = world.redis.servers();
    let entry = servers_of(&servers, target)
        .into_iter()
        .find(|server| {
            is_master(server) && (server.kind == ServerKind::Plain || !server.slots.is_empty())
        })
        .map(|server| server.ip.clone());
    let acknowledged = world.acknowledged.borrow();
    // Held against the CR the client wrote through: a RedisSentinel named as the replication it
    // monitors owns none of its keys.
    let owned = acknowledged
        .iter()
        .filter(|(_, write)| write.owner.as_ref() == Some(target));
    world.blamed_losses(entry.as_deref(), owned)
}

/// The words of a lost-writes violation: how many, and the first few with how each was lost.
pub fn describe_losses(lost: &[LostWrite]) -> String {
    let sample: Vec<String> = lost
        .iter()
        .take(3)
        .map(|write| format!("{} ({})", write.key, write.how))
        .collect();
    format!(
        "{} acknowledged keys lost, e.g. {}",
        lost.len(),
        sample.join(", ")
    )
}

impl Engine<'_> {
    pub(crate) fn check_lost_keys(&mut self) {
        let targets = self.controller.targets().to_vec();
        for (_, target) in targets {
            let lost = lost_keys(&self.world, &target);
            if !lost.is_empty() {
                self.fail(Violation {
                    oracle: "no acknowledged write lost",
                    message: format!("{target}: {}", describe_losses(&lost)),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use redis_operator::ports::kube::ResourceType;

    use super::*;

    use redis_operator::ports::redis::{RedisCommand, RedisEndpoint};

    use crate::fakes::redis::StopCause;
    use crate::fakes::redis::full_sync::DISKLESS_SYNC_DELAY_MILLISECONDS;

    const MASTER: &str = "10.0.0.1";
    const REPLICA: &str = "10.0.0.2";

    fn endpoint(pod: &str, host: &str) -> RedisEndpoint {
        RedisEndpoint {
            namespace: "default".to_owned(),
            pod: pod.to_owned(),
            host: host.to_owned(),
            port: 6379,
            password: None,
            user: None,
            tls: None,
        }
    }

    /// A replication of two servers, `sessions-0` the master with three keys written, and the
    /// replication they belong to.
    fn two_servers(replica_follows: bool) -> (World, ObjectRef) {
        let world = World::new();
        let replication = ObjectRef::new(ResourceType::RedisReplication, "default", "sessions");
        world
            .redis
            .start("sessions-0", MASTER, 6379, ServerKind::Plain, true, true);
        world
            .redis
            .start("sessions-1", REPLICA, 6379, ServerKind::Plain, true, true);
        if replica_follows {
            replica_of(&world, "sessions-1", REPLICA, MASTER);
        }
        assert_eq!(world.write_keys_for(&replication, MASTER, "kept", 3), 3);
        world.redis.tick(FULL_SYNC_DONE_AT);
        (world, replication)
    }

    /// When a full resync started at 0 has ended.
    const FULL_SYNC_DONE_AT: u64 = DISKLESS_SYNC_DELAY_MILLISECONDS + 1_000;

    fn replica_of(world: &World, pod: &str, host: &str, master: &str) {
        let command = RedisCommand::ReplicaOf {
            host: master.to_owned(),
            port: 6379,
        };
        world.redis.answer(&endpoint(pod, host), &command).unwrap();
    }

    #[test]
    fn a_replicaof_the_operator_sends_onto_an_empty_master_is_held_against_it() {
        let (world, replication) = two_servers(false);
        replica_of(&world, "sessions-0", MASTER, REPLICA);
        world.redis.tick(2 * FULL_SYNC_DONE_AT);
        let lost = lost_keys(&world, &replication);
        assert_eq!(lost.len(), 3, "{lost:?}");
        assert!(lost[0].how.contains("after the operator pointed it there"));
    }

    #[test]
    fn a_restart_without_persistence_loses_writes_to_a_fault_but_not_to_a_removal() {
        for (cause, blamed) in [(StopCause::Fault, 0), (StopCause::Removal, 3)] {
            let (world, replication) = two_servers(false);
            world.redis.stop(MASTER, cause);
            world
                .redis
                .start("sessions-0", MASTER, 6379, ServerKind::Plain, false, false);
            assert_eq!(lost_keys(&world, &replication).len(), blamed, "{cause:?}");
        }
    }

    #[test]
    fn a_promotion_loses_only_the_window_of_a_master_cut_off_from_the_promoted_replica() {
        for (cut_off, blamed) in [(true, 0), (false, 2)] {
            let (world, replication) = two_servers(true);
            world.redis.set_partition(MASTER, REPLICA, cut_off);
            // Acknowledged by the master after its replica's last sync.
            assert_eq!(world.write_keys_for(&replication, MASTER, "late", 2), 2);
            let promote = RedisCommand::ReplicaOfNoOne;
            world
                .redis
                .answer(&endpoint("sessions-1", REPLICA), &promote)
                .unwrap();
            world.redis.set_partition(MASTER, REPLICA, false);
            replica_of(&world, "sessions-0", MASTER, REPLICA);
            world.redis.tick(2 * FULL_SYNC_DONE_AT);
            let lost = lost_keys(&world, &replication);
            assert_eq!(lost.len(), blamed, "cut off: {cut_off}: {lost:?}");
            // What the replica had synced is never lost.
            assert!(lost.iter().all(|write| write.key.starts_with("late")));
        }
    }

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
            },
        );
        // No server holds the key: it is lost for the replication.
        let lost = lost_keys(&world, &replication);
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].key, "sessions:0:0");
        assert!(lost_keys(&world, &sentinel).is_empty());
    }
}
