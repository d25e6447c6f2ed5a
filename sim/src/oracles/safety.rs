//! The safety oracles, checked after every reconcile round: no destructive command on a node
//! holding keys, no empty master put over data, no bare delete of a ready pod, no eviction beyond
//! a disruption budget, no rejected write retried unchanged, no scale-in of a pod still holding
//! slots or a master's keys, and no pod template change without a change of its owner CR.

use redis_operator::json_pointer::JsonPointer;
use std::collections::BTreeMap;
use std::sync::Arc;

use redis_operator::ports::kube::{ApiError, ObjectRef, ResourceType};
use serde_json::Value;

use crate::engine::world::{World, pod_is_ready};
use crate::fakes::redis::Server;
use crate::fakes::scheduler::string_map;
use crate::oracles::destructive_commands::command_violations;
use crate::oracles::disruption_budgets::{CountedPod, budget_breach};
use crate::oracles::{Violation, is_master};

/// What the safety oracles remember between rounds.
#[derive(Clone, Debug, Default)]
pub struct SafetyMonitor {
    seen_commands: usize,
    seen_writes: usize,
    rejected: BTreeMap<(String, ObjectRef, String), usize>,
    generations: BTreeMap<ObjectRef, Value>,
    pods_before: BTreeMap<ObjectRef, (Arc<Value>, bool)>,
    pods_version: Option<u64>,
    statefulsets: BTreeMap<ObjectRef, StatefulSetSeen>,
    /// The API server's version when CRs and StatefulSets were last looked at: what is checked
    /// of them can only change with a write.
    objects_version: Option<u64>,
}

/// What the safety oracles remember of a StatefulSet between rounds.
#[derive(Clone, Debug)]
pub(crate) struct StatefulSetSeen {
    replicas: u64,
    /// The StatefulSet as seen, shared with the API server's copy: its template is compared,
    /// not copied, whenever anything changed.
    statefulset: Arc<Value>,
    /// The owner CR's generation, labels and annotations when the template last changed: the
    /// template is built from these alone.
    owner_when_templated: Option<Value>,
}

/// The owner CR of an object (its first ownerReference), as a reference.
pub(crate) fn owner_of(object: &Value) -> Option<ObjectRef> {
    let owner = object.at("/metadata/ownerReferences/0")?;
    let kind = owner.get("kind")?.as_str()?;
    let resource = ResourceType::ALL
        .into_iter()
        .find(|resource| resource.kind() == kind)?;
    Some(ObjectRef::new(
        resource,
        object.at("/metadata/namespace")?.as_str()?,
        owner.get("name")?.as_str()?,
    ))
}

/// What a pod template is built from: the CR's generation (its spec), labels and annotations,
/// as the operator reads them now (while its reads are stale, the CR it read may be behind the
/// live one: a template it writes then follows the older CR, and the next, from the live CR, is
/// a change of the CR all the same).
pub(crate) fn template_inputs(world: &World, owner: &ObjectRef) -> Option<Value> {
    let object = world.lag.object_as_read(&world.api, owner)?;
    Some(serde_json::json!([
        object.at("/metadata/generation"),
        object.at("/metadata/labels"),
        object.at("/metadata/annotations"),
    ]))
}

/// Whether a server is a master that would take data with it: a cluster master owning slots,
/// or any master holding keys.
pub(crate) fn holds_what_must_move(server: &Server) -> bool {
    is_master(server) && (!server.slots.is_empty() || !server.data.is_empty())
}

impl SafetyMonitor {
    /// The operator restarted: a rejection it had not yet recorded in a status is news to it
    /// again, so each write rejected before may be sent once more.
    pub fn operator_restarted(&mut self) {
        self.rejected.clear();
    }

    /// Notes what is true before the operator acts.
    pub fn before_round(&mut self, world: &World) {
        let version = world.api.version();
        if self.pods_version == Some(version) {
            return;
        }
        self.pods_version = Some(version);
        self.pods_before = world
            .objects(ResourceType::Pod)
            .iter()
            .filter_map(|pod| Some((ObjectRef::of(pod)?, (Arc::clone(pod), pod_is_ready(pod)))))
            .collect();
    }

    /// Checks what the operator did in the round since [`SafetyMonitor::before_round`].
    pub fn after_round(&mut self, world: &World) -> Vec<Violation> {
        let mut violations = Vec::new();
        let (count, command_violations) =
            world
                .redis
                .with_commands_since(self.seen_commands, |commands| {
                    let mut count = 0;
                    let violations = command_violations(commands.inspect(|_| count += 1));
                    (count, violations)
                });
        self.seen_commands += count;
        violations.extend(command_violations);
        let version = world.api.version();
        let objects_changed = self.objects_version != Some(version);
        self.objects_version = Some(version);
        if objects_changed {
            self.note_generations(world);
        }
        let writes = world.api.writes_since(self.seen_writes);
        self.seen_writes += writes.len();
        let mut evicted: Vec<ObjectRef> = Vec::new();
        for write in &writes {
            match (&write.error, write.verb) {
                (Some(ApiError::Invalid { message, .. }), verb) => {
                    let key = (verb.to_owned(), write.object.clone(), message.clone());
                    let count = self.rejected.entry(key).or_insert(0);
                    *count += 1;
                    if *count > 1 {
                        violations.push(Violation::new(
                            "no rejected write retried unchanged",
                            format!(
                                "{verb} of {} rejected {} times with: {message}",
                                write.object, count
                            ),
                        ));
                    }
                }
                (None, "delete")
                    if write.object.resource == ResourceType::Pod
                        && self
                            .pods_before
                            .get(&write.object)
                            .is_some_and(|(_, ready)| *ready) =>
                {
                    violations.push(Violation::new(
                        "no bare delete of a ready pod",
                        format!("the operator deleted ready pod {}", write.object),
                    ));
                }
                (None, "evict") => evicted.push(write.object.clone()),
                _ => {}
            }
        }
        if !evicted.is_empty() {
            violations.extend(self.check_budgets(world, &evicted));
        }
        if objects_changed {
            violations.extend(self.check_statefulsets(world));
        }
        violations
    }

    /// A change of a CR's spec, labels or annotations (which its objects are built from) resets
    /// what counts as "the same" rejected write.
    pub(crate) fn note_generations(&mut self, world: &World) {
        let generations: BTreeMap<ObjectRef, Value> = [
            ResourceType::Redis,
            ResourceType::RedisReplication,
            ResourceType::RedisSentinel,
            ResourceType::RedisCluster,
        ]
        .into_iter()
        .flat_map(|resource| world.objects(resource))
        .filter_map(|object| {
            Some((
                ObjectRef::of(&object)?,
                serde_json::json!([
                    object.at("/metadata/generation"),
                    object.at("/metadata/labels"),
                    object.at("/metadata/annotations"),
                ]),
            ))
        })
        .collect();
        if generations != self.generations {
            self.rejected.clear();
            self.generations = generations;
        }
    }

    /// A StatefulSet shrinks only past pods whose servers hold no slots and, as masters, no
    /// keys (scale-in after the keys moved); its pod template changes only when its owner CR's
    /// spec, labels or annotations changed since the last template change (no restart of pods,
    /// sentinels included, for anything else).
    pub(crate) fn check_statefulsets(&mut self, world: &World) -> Vec<Violation> {
        let mut violations = Vec::new();
        let mut current = BTreeMap::new();
        for statefulset in world.objects(ResourceType::StatefulSet) {
            let Some(reference) = ObjectRef::of(&statefulset) else {
                continue;
            };
            let replicas = statefulset
                .at("/spec/replicas")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            let template = statefulset.at("/spec/template");
            let owner = owner_of(&statefulset);
            let owner_now = owner
                .as_ref()
                .and_then(|owner| template_inputs(world, owner));
            let mut seen = StatefulSetSeen {
                replicas,
                statefulset: Arc::clone(&statefulset),
                owner_when_templated: owner_now.clone(),
            };
            if let Some(previous) = self.statefulsets.get(&reference) {
                for ordinal in replicas..previous.replicas {
                    let pod = format!("{}-{ordinal}", reference.name);
                    let holding = world.redis.with_servers(|servers| {
                        servers
                            .values()
                            .find(|server| *server.pod == *pod && server.alive)
                            .filter(|server| holds_what_must_move(server))
                            .map(|server| (server.slots.len(), server.data.len()))
                    });
                    if let Some((slots, keys)) = holding {
                        violations.push(Violation::new(
                            "scale-in only after the keys moved",
                            format!(
                                "{reference} shrank from {} to {replicas} while {pod} was a master holding {slots} slots and {keys} keys",
                                previous.replicas,
                            ),
                        ));
                    }
                }
                if Arc::ptr_eq(&previous.statefulset, &statefulset)
                    || previous.statefulset.at("/spec/template") == template
                {
                    seen.owner_when_templated = previous.owner_when_templated.clone();
                } else if owner_now.is_some() && previous.owner_when_templated == owner_now {
                    violations.push(Violation::new(
                        "no pod restart without a change of the CR",
                        format!(
                            "the pod template of {reference} changed while {} kept its spec, labels and annotations",
                            owner.map(|owner| owner.to_string()).unwrap_or_default()
                        ),
                    ));
                }
            }
            current.insert(reference, seen);
        }
        self.statefulsets = current;
        violations
    }

    /// Every budget covering an evicted pod allowed all of this round's evictions together.
    pub(crate) fn check_budgets(&self, world: &World, evicted: &[ObjectRef]) -> Vec<Violation> {
        let mut violations = Vec::new();
        for budget in world.objects(ResourceType::PodDisruptionBudget) {
            let namespace = budget["metadata"]["namespace"].as_str().unwrap_or_default();
            let labels: Vec<(BTreeMap<String, String>, bool, bool)> = self
                .pods_before
                .iter()
                .filter(|(pod, _)| pod.namespace == namespace)
                .map(|(pod, (object, ready))| {
                    (
                        string_map(object.at("/metadata/labels")),
                        *ready,
                        evicted.contains(pod),
                    )
                })
                .collect();
            let pods = labels.iter().map(|(labels, ready, removed)| CountedPod {
                labels,
                ready: *ready,
                removed: *removed,
            });
            if let Some(breach) = budget_breach(&budget, pods) {
                violations.push(Violation::new(
                    "no eviction beyond a disruption budget",
                    format!(
                        "{} ready pods under {namespace}/{} and {} evicted in one round, below {} required",
                        breach.ready_before,
                        budget["metadata"]["name"].as_str().unwrap_or_default(),
                        breach.removed_ready,
                        breach.required,
                    ),
                ));
            }
        }
        violations
    }
}
