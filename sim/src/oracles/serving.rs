//! The serving oracle: while no fault that can take a master away is on, every converged CR
//! keeps, for a replication set, a ready master pod, and for a cluster, every slot owned by a live
//! master with a ready pod. Maintenance the operator does (rolling restarts, scale-in, failover,
//! StatefulSet recreation) must never leave a shard without a ready master. One exception, the
//! user's to make: an edit to a CR whose spec asks for shards of one pod (a replication set of
//! one, a cluster without followers whose keys survive a restart) may restart a master nobody can
//! take over from, so such an edit takes the CR out of the check until it converges again.

use redis_operator::json_pointer::JsonPointer;
use std::collections::{BTreeMap, BTreeSet};

use redis_operator::api::Kind;
use redis_operator::api::cluster::RedisCluster;
use redis_operator::api::validation::validate_cluster;
use redis_operator::ports::kube::{ObjectRef, ResourceType};
use redis_operator::resources::kinds::cluster_groups;
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

/// Whether a user's spec edit may restart a master nobody can take over from, by the user's
/// choice of a shard of one pod: `object` is the CR as the edit left it, `spec_edit` the merge
/// patch. Such a master restarts for a new template (a new image, requests, a nodeSelector…),
/// and until it is back, or the user reverts an edit no node can satisfy, its shard has no
/// master:
/// - a RedisReplication of one pod;
/// - a RedisCluster without followers whose leaders keep their keys across a restart (a master
///   whose keys would not survive is emptied first, and stays under the check).
///
/// A size change alone (`clusterSize`, `replicas` of a role) restarts nobody.
pub fn edit_may_restart_a_lone_master(kind: Kind, object: &Value, spec_edit: &Value) -> bool {
    let beyond_size = spec_edit.as_object().is_some_and(|fields| {
        fields.iter().any(|(field, value)| match field.as_str() {
            "clusterSize" => false,
            "redisLeader" | "redisFollower" => value
                .as_object()
                .is_none_or(|role| role.keys().any(|key| key != "replicas")),
            _ => true,
        })
    });
    beyond_size
        && match kind {
            Kind::RedisReplication => object
                .at("/spec/clusterSize")
                .and_then(Value::as_u64)
                .is_some_and(|size| size <= 1),
            Kind::RedisCluster => cluster_leaders_alone_and_persistent(object),
            Kind::Redis | Kind::RedisSentinel => false,
        }
}

/// A cluster whose spec asks for no followers and whose leaders keep their keys across a
/// restart, as the operator's own reading of the spec says.
fn cluster_leaders_alone_and_persistent(object: &Value) -> bool {
    let Ok(resource) = serde_json::from_value::<RedisCluster>(object.clone()) else {
        return false;
    };
    let Ok(validated) = validate_cluster(&resource.spec) else {
        return false;
    };
    let [leaders, _] = cluster_groups(&resource, &validated);
    validated.replicas_per_shard == 0 && leaders.persistence && leaders.data_claim.is_some()
}

impl Engine<'_> {
    /// Takes `target` out of the serving check until the next convergence, when a user's edit
    /// (`spec_edit`, now applied) may restart a master nobody can take over from.
    pub(crate) fn excuse_an_edit_of_a_lone_master(
        &mut self,
        target: &ObjectRef,
        spec_edit: &Value,
    ) {
        let Some(object) = self.world.api.object(target) else {
            return;
        };
        let Some((kind, _)) = self.serving.iter().find(|(_, known)| known == target) else {
            return;
        };
        if edit_may_restart_a_lone_master(*kind, &object, spec_edit) {
            self.serving.retain(|(_, known)| known != target);
            self.log(
                "oracle",
                format!(
                    "{target}: this edit may restart a master nobody can take over from (the \
                     spec asks for no replica); out of the serving check until it converges"
                ),
            );
        }
    }

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
