//! The serving oracle: while no fault that can take a master away is on, every converged CR
//! keeps, for a replication set, a ready master pod, and for a cluster, every slot owned by a live
//! master with a ready pod. Maintenance the operator does (rolling restarts, scale-in, failover,
//! StatefulSet recreation) must never leave a shard without a ready master.

use redis_operator::json_pointer::JsonPointer;
use std::collections::{BTreeMap, BTreeSet};

use redis_operator::api::Kind;
use redis_operator::ports::kube::{ObjectRef, ResourceType};
use redis_operator::topology::slots::SLOT_COUNT;
use serde_json::Value;

use crate::engine::run::Engine;
use crate::engine::world::{World, pod_is_ready};
use crate::fakes::redis::SLOT_WORDS;
use crate::oracles::{Violation, is_master, servers_of};

/// The names of the ready pods of each namespace.
pub type ReadyPods = BTreeMap<String, BTreeSet<String>>;

/// The ready pods the API server holds now; they change only with a write to it, so a caller may
/// keep them while its version stays put.
pub fn ready_pods(world: &World) -> ReadyPods {
    let mut ready = ReadyPods::new();
    for pod in world.objects(ResourceType::Pod) {
        if !pod_is_ready(&pod) {
            continue;
        }
        if let (Some(namespace), Some(name)) = (
            pod.at("/metadata/namespace").and_then(Value::as_str),
            pod.at("/metadata/name").and_then(Value::as_str),
        ) {
            ready
                .entry(namespace.to_owned())
                .or_default()
                .insert(name.to_owned());
        }
    }
    ready
}

/// The serving oracle: every shard of a CR has a master whose pod is ready — for a replication
/// set, a ready master pod; for a cluster, every slot owned by a live master with a ready pod.
/// Meant for moments with no fault on: the operator's own changes (scaling, rolling restarts,
/// StatefulSet recreation) must never leave a shard without a ready master.
///
/// `ready_pods` is [`ready_pods`] of the world as it is now.
pub fn check_serving(
    world: &World,
    kind: Kind,
    target: &ObjectRef,
    ready_pods: &ReadyPods,
) -> Option<Violation> {
    let object = world.api.object(target)?;
    if object.at("/metadata/deletionTimestamp").is_some() {
        return None;
    }
    let no_pods = BTreeSet::new();
    let ready_pods = ready_pods.get(&target.namespace).unwrap_or(&no_pods);
    let problem = world.redis.with_servers(|servers| {
        let serving = servers_of(servers.values(), target)
            .into_iter()
            .filter(|server| is_master(server) && ready_pods.contains(&*server.pod));
        match kind {
            Kind::RedisReplication => {
                (serving.count() == 0).then(|| "no master pod is ready".to_owned())
            }
            Kind::RedisCluster => {
                // Checked every step: the union is taken in place, not in a shared set.
                let mut served = [0u64; SLOT_WORDS];
                for server in serving {
                    for (word, slots) in served.iter_mut().zip(server.slots.words()) {
                        *word |= slots;
                    }
                }
                // Counted only when some slot is missing: the bitmap covers the slots exactly.
                if served.iter().all(|word| *word == u64::MAX) {
                    return None;
                }
                let served: u32 = served.iter().map(|word| word.count_ones()).sum();
                Some(format!(
                    "{} slots have no ready master",
                    u32::from(SLOT_COUNT) - served
                ))
            }
            Kind::Redis | Kind::RedisSentinel => None,
        }
    })?;
    Some(Violation::new(
        "every shard keeps a ready master",
        format!("{target}: {problem}"),
    ))
}

impl Engine<'_> {
    /// Every CR converged since the last fault that may take a master away still has a ready
    /// master per shard; a CR that fails this is reported once, then left until it converges.
    pub(crate) fn check_serving(&mut self) {
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
}
