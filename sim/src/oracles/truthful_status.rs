//! The truthful-status oracle: what the operator tells users is so.
//! - After each reconcile that succeeded, a CR it leaves `Ready=True` is ready in fact: a
//!   replication's `-master` Service selects one pod, whose server runs and is a master (it takes
//!   writes); every slot of a cluster is owned by a running master and every master with slots
//!   reports `cluster_state:ok`; a standalone Redis's server runs. The operator has just looked at
//!   Redis, so there is no grace here. Skipped while the operator reads a stale cache (the
//!   stale-reads fault), when what it sees is by definition behind.
//! - Every round: a replication's `-master` Service does not select two pods for more than
//!   [`MULTIPLE_MASTER_ROUNDS`] rounds in a row (clients would write to either).
//!
//! It only reads the world.

use std::collections::BTreeMap;

use redis_operator::api::Kind;
use redis_operator::json_pointer::JsonPointer;
use redis_operator::ports::kube::ObjectRef;
use redis_operator::topology::slots::SLOT_COUNT;

use crate::engine::run::Engine;
use crate::engine::world::World;
use crate::fakes::redis::{SLOT_WORDS, ServerKind};
use crate::oracles::{Violation, is_master, servers_of};

/// Rounds in a row a `-master` Service may select more than one pod (a hand-over relabels the
/// old master and the new one in two writes).
pub const MULTIPLE_MASTER_ROUNDS: usize = 2;

/// What in the world contradicts the `Ready=True` of `target`; `None` when nothing does, or
/// when the CR is not Ready (or is being deleted).
pub fn ready_contradiction(world: &World, kind: Kind, target: &ObjectRef) -> Option<String> {
    let object = world.api.object(target)?;
    if object.at("/metadata/deletionTimestamp").is_some() || !world.is_ready(target) {
        return None;
    }
    match kind {
        Kind::RedisReplication => {
            let selected = world.master_service_pods(target);
            let [pod] = selected.as_slice() else {
                return Some(format!("the -master Service selects {selected:?}"));
            };
            world.redis.with_servers(|servers| {
                let server = servers.values().find(|server| *server.pod == **pod);
                match server {
                    Some(server) if is_master(server) => None,
                    Some(server) if server.alive => Some(format!(
                        "{pod}, which the -master Service selects, is a replica"
                    )),
                    _ => Some(format!(
                        "{pod}, which the -master Service selects, does not run"
                    )),
                }
            })
        }
        Kind::RedisCluster => world.redis.with_servers(|servers| {
            let masters: Vec<_> = servers_of(servers.values(), target)
                .into_iter()
                .filter(|server| {
                    is_master(server)
                        && server.kind == ServerKind::Cluster
                        && !server.slots.is_empty()
                })
                .collect();
            let mut served = [0u64; SLOT_WORDS];
            for server in &masters {
                for (word, slots) in served.iter_mut().zip(server.slots.words()) {
                    *word |= slots;
                }
            }
            let served: u32 = served.iter().map(|word| word.count_ones()).sum();
            if served < u32::from(SLOT_COUNT) {
                return Some(format!(
                    "{} slots have no running master",
                    u32::from(SLOT_COUNT) - served
                ));
            }
            masters
                .iter()
                .find(|server| !server.cluster_state_ok())
                .map(|server| format!("{} reports cluster_state:fail", server.pod))
        }),
        Kind::Redis => world.redis.with_servers(|servers| {
            let running = servers_of(servers.values(), target)
                .into_iter()
                .any(|server| server.alive);
            (!running).then(|| "its server does not run".to_owned())
        }),
        Kind::RedisSentinel => None,
    }
}

impl Engine<'_> {
    /// After a reconcile of `target` that succeeded: its `Ready=True`, if it says so, is true.
    pub(crate) fn check_ready_is_true(&mut self, kind: Kind, target: &ObjectRef) {
        if self.world.lag.is_frozen() {
            return;
        }
        if let Some(contradiction) = ready_contradiction(&self.world, kind, target) {
            self.fail(Violation::new(
                "Ready=True only when ready",
                format!("{target} is Ready=True, but {contradiction}"),
            ));
        }
    }

    /// Every round: no replication's `-master` Service routes to two ready pods for more than
    /// [`MULTIPLE_MASTER_ROUNDS`] rounds in a row; reported once per stretch.
    pub(crate) fn check_master_services(&mut self) {
        let replications: Vec<ObjectRef> = self
            .controller
            .targets()
            .iter()
            .filter(|(kind, _)| *kind == Kind::RedisReplication)
            .map(|(_, target)| target.clone())
            .collect();
        let mut rounds: BTreeMap<ObjectRef, usize> = BTreeMap::new();
        for target in replications {
            let selected = self.world.master_service_endpoints(&target);
            if selected.len() < 2 {
                continue;
            }
            let count = self.multiple_masters.get(&target).copied().unwrap_or(0) + 1;
            if count == MULTIPLE_MASTER_ROUNDS + 1 {
                self.fail(Violation::new(
                    "the -master Service selects one pod",
                    format!(
                        "{target}: the -master Service selected {selected:?} for {count} rounds"
                    ),
                ));
            }
            rounds.insert(target, count);
        }
        self.multiple_masters = rounds;
    }
}
