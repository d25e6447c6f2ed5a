//! The oracles: properties checked while a scenario runs. Safety oracles run after every
//! reconcile round (no destructive command on a node holding keys, no empty master over data, no
//! bare delete of a ready pod, no eviction beyond a disruption budget, no rejected write retried
//! unchanged, no scale-in of a pod still holding slots or a master's keys, no pod template change
//! without a change of its owner CR); the serving oracle (every shard keeps a ready master) runs
//! after every round while no fault is on; state oracles run once the cluster has converged (the
//! `-master` Service and `status.masterNode` name the real master, slots owned exactly once and
//! balanced, every master has its replicas, sentinels agree, disruption budgets follow the CR's
//! settings, no acknowledged write lost outside a fault's window).
//!
//! Oracles only read the world; they never change it.

use redis_operator::json_pointer::JsonPointer;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use redis_operator::api::Kind;
use redis_operator::ports::clock::Milliseconds;
use redis_operator::ports::kube::{ApiError, ObjectRef, ResourceType};
use redis_operator::topology::slots::SLOT_COUNT;
use serde_json::Value;

use crate::engine::world::{World, pod_is_ready};
use crate::fakes::redis::{CommandRecord, SLOT_WORDS, Server, ServerKind};

/// Commands that wipe a node's data or cluster state.
const DESTRUCTIVE_COMMANDS: [&str; 3] = ["CLUSTER RESET", "FLUSHALL", "FLUSHDB"];

/// Milliseconds before a fault in which acknowledged writes may be lost: Redis replicates
/// asynchronously and the fake applies replication once per step.
pub const REPLICATION_WINDOW_MILLISECONDS: Milliseconds = 2000;

/// How long after a fault heals (beyond the pods' start latency) Redis may still lose writes to
/// it: a gossip round for a returning node's higher-epoch claims to reach an outdated master.
pub const HEAL_SETTLE_MILLISECONDS: Milliseconds = 2000;

/// One oracle that did not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The oracle's name.
    pub oracle: &'static str,
    /// What was seen.
    pub message: String,
}

impl Violation {
    fn new(oracle: &'static str, message: String) -> Violation {
        Violation { oracle, message }
    }
}

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
struct StatefulSetSeen {
    replicas: u64,
    /// The StatefulSet as seen, shared with the API server's copy: its template is compared,
    /// not copied, whenever anything changed.
    statefulset: Arc<Value>,
    /// The owner CR's generation, labels and annotations when the template last changed: the
    /// template is built from these alone.
    owner_when_templated: Option<Value>,
}

/// The owner CR of an object (its first ownerReference), as a reference.
fn owner_of(object: &Value) -> Option<ObjectRef> {
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

/// What a pod template is built from: the CR's generation (its spec), labels and annotations.
fn template_inputs(world: &World, owner: &ObjectRef) -> Option<Value> {
    let object = world.api.object(owner)?;
    Some(serde_json::json!([
        object.at("/metadata/generation"),
        object.at("/metadata/labels"),
        object.at("/metadata/annotations"),
    ]))
}

/// Whether a server is a master that would take data with it: a cluster master owning slots,
/// or any master holding keys.
fn holds_what_must_move(server: &Server) -> bool {
    is_master(server) && (!server.slots.is_empty() || !server.data.is_empty())
}

fn labels_of(object: &Value, pointer: &str) -> BTreeMap<String, String> {
    object
        .at(pointer)
        .cloned()
        .and_then(|labels| serde_json::from_value(labels).ok())
        .unwrap_or_default()
}

impl SafetyMonitor {
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
    fn note_generations(&mut self, world: &World) {
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
    fn check_statefulsets(&mut self, world: &World) -> Vec<Violation> {
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
    fn check_budgets(&self, world: &World, evicted: &[ObjectRef]) -> Vec<Violation> {
        let mut violations = Vec::new();
        for budget in world.objects(ResourceType::PodDisruptionBudget) {
            let namespace = budget["metadata"]["namespace"].as_str().unwrap_or_default();
            let selector = labels_of(&budget, "/spec/selector/matchLabels");
            let covered: Vec<(&ObjectRef, bool)> = self
                .pods_before
                .iter()
                .filter(|(pod, (object, _))| {
                    let labels = object.at("/metadata/labels");
                    pod.namespace == namespace
                        && !selector.is_empty()
                        && selector.iter().all(|(key, value)| {
                            labels
                                .and_then(|labels| labels.get(key))
                                .and_then(Value::as_str)
                                == Some(value.as_str())
                        })
                })
                .map(|(pod, (_, ready))| (pod, *ready))
                .collect();
            let evicted_here = covered
                .iter()
                .filter(|(pod, ready)| *ready && evicted.contains(pod))
                .count();
            let ready_before = covered.iter().filter(|(_, ready)| *ready).count();
            let minimum_available = match (
                budget.at("/spec/minAvailable").and_then(Value::as_u64),
                budget.at("/spec/maxUnavailable").and_then(Value::as_u64),
            ) {
                (Some(minimum), _) => usize::try_from(minimum).unwrap_or(usize::MAX),
                (None, Some(maximum)) => covered
                    .len()
                    .saturating_sub(usize::try_from(maximum).unwrap_or(0)),
                (None, None) => continue,
            };
            if evicted_here > 0 && ready_before.saturating_sub(evicted_here) < minimum_available {
                violations.push(Violation::new(
                    "no eviction beyond a disruption budget",
                    format!(
                        "{ready_before} ready pods under {namespace}/{} and {evicted_here} evicted in one round, below {minimum_available} required",
                        budget["metadata"]["name"].as_str().unwrap_or_default()
                    ),
                ));
            }
        }
        violations
    }
}

/// The servers of a CR's pods (`<name>-...`), alive or not.
pub fn servers_of<'a>(
    servers: impl IntoIterator<Item = &'a Server>,
    target: &ObjectRef,
) -> Vec<&'a Server> {
    servers
        .into_iter()
        .filter(|server| {
            server
                .pod
                .strip_prefix(target.name.as_str())
                .is_some_and(|rest| rest.starts_with('-'))
        })
        .collect()
}

/// What the commands the operator sent break: destructive commands on nodes holding keys, and a
/// REPLICAOF that puts an empty master over data.
fn command_violations<'record>(
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

fn is_master(server: &Server) -> bool {
    server.alive
        && server.master.is_none()
        && server.cluster_master_id().is_none()
        && server.kind != ServerKind::Sentinel
}

/// The pods of a CR whose servers are masters now.
pub fn masters_of(world: &World, target: &ObjectRef) -> Vec<String> {
    let servers = world.redis.servers();
    let mut masters: Vec<String> = servers_of(&servers, target)
        .into_iter()
        .filter(|server| is_master(server))
        .filter(|server| server.kind == ServerKind::Plain || !server.slots.is_empty())
        .map(|server| server.pod.to_string())
        .collect();
    masters.sort();
    masters
}

fn spec_number(object: &Value, pointer: &str) -> Option<usize> {
    object
        .at(pointer)
        .and_then(Value::as_u64)
        .and_then(|number| usize::try_from(number).ok())
}

/// The state oracles, for a converged cluster.
pub fn check_converged(world: &World, targets: &[(Kind, ObjectRef)]) -> Vec<Violation> {
    let mut violations = Vec::new();
    let servers = world.redis.servers();
    for (kind, target) in targets {
        let Some(object) = world.api.object(target) else {
            continue;
        };
        match kind {
            Kind::RedisReplication => {
                check_replication(world, &servers, target, &object, &mut violations)
            }
            Kind::RedisCluster => check_cluster(&servers, target, &object, &mut violations),
            Kind::RedisSentinel => {
                check_sentinels(world, &servers, target, &object, &mut violations)
            }
            Kind::Redis => {}
        }
        check_disruption_budgets(world, *kind, target, &object, &mut violations);
    }
    violations
}

/// The PodDisruptionBudgets of a CR are there exactly when its `pdb` settings enable them, each
/// group's with its own `minAvailable` or `maxUnavailable`.
fn check_disruption_budgets(
    world: &World,
    kind: Kind,
    target: &ObjectRef,
    object: &Value,
    violations: &mut Vec<Violation>,
) {
    let groups: Vec<(String, &str)> = match kind {
        Kind::RedisCluster => vec![
            (format!("{}-leader", target.name), "/spec/redisLeader/pdb"),
            (
                format!("{}-follower", target.name),
                "/spec/redisFollower/pdb",
            ),
        ],
        Kind::RedisReplication => vec![(format!("{}-replication", target.name), "/spec/pdb")],
        Kind::RedisSentinel => vec![(format!("{}-sentinel", target.name), "/spec/pdb")],
        Kind::Redis => Vec::new(),
    };
    for (name, pointer) in groups {
        let settings = object.at(pointer);
        let enabled = settings
            .and_then(|settings| settings.get("enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let budget = world.api.object(&ObjectRef::new(
            ResourceType::PodDisruptionBudget,
            &target.namespace,
            &name,
        ));
        let problem = match (&budget, enabled) {
            (None, true) => Some("is enabled but the budget does not exist".to_owned()),
            (Some(_), false) => Some("is not enabled but the budget exists".to_owned()),
            (Some(budget), true) => ["minAvailable", "maxUnavailable"].iter().find_map(|field| {
                let wanted = settings
                    .and_then(|settings| settings.get(*field))
                    .and_then(Value::as_i64);
                let actual = budget.at(&format!("/spec/{field}")).and_then(Value::as_i64);
                (wanted != actual)
                    .then(|| format!("sets {field} {wanted:?} but the budget has {actual:?}"))
            }),
            (None, false) => None,
        };
        if let Some(problem) = problem {
            violations.push(Violation::new(
                "disruption budgets follow the CR's settings",
                format!(
                    "{target}: {} {problem} (PodDisruptionBudget {name})",
                    &pointer[1..].replace('/', ".")
                ),
            ));
        }
    }
}

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

fn check_replication(
    world: &World,
    servers: &[Server],
    target: &ObjectRef,
    object: &Value,
    violations: &mut Vec<Violation>,
) {
    let masters = masters_of(world, target);
    let selected = world.pods_selected_by(&ObjectRef::new(
        ResourceType::Service,
        &target.namespace,
        &format!("{}-master", target.name),
    ));
    if masters.len() != 1 || selected != masters {
        violations.push(Violation::new(
            "the -master Service selects exactly the real master",
            format!(
                "{target}: the -master Service selects {selected:?} but the masters are {masters:?}"
            ),
        ));
    }
    let status_master = object.at("/status/masterNode").and_then(Value::as_str);
    if masters.len() == 1 && status_master != masters.first().map(String::as_str) {
        violations.push(Violation::new(
            "status.masterNode names the real master",
            format!(
                "{target}: status.masterNode is {status_master:?} but the master is {masters:?}"
            ),
        ));
    }
    let size = spec_number(object, "/spec/clusterSize").unwrap_or(1);
    if let Some(master) = masters.first() {
        let master_ip = servers
            .iter()
            .find(|server| *server.pod == **master)
            .map(|server| server.ip.clone())
            .unwrap_or_default();
        let following = servers_of(servers, target)
            .into_iter()
            .filter(|server| {
                server.alive
                    && server
                        .master
                        .as_ref()
                        .is_some_and(|(ip, _)| *ip == master_ip)
            })
            .count();
        if following + 1 < size {
            violations.push(Violation::new(
                "every master has its replicas",
                format!(
                    "{target}: {following} replicas follow {master}, expected {}",
                    size - 1
                ),
            ));
        }
    }
}

fn check_cluster(
    servers: &[Server],
    target: &ObjectRef,
    object: &Value,
    violations: &mut Vec<Violation>,
) {
    let mine = servers_of(servers, target);
    let masters: Vec<&&Server> = mine
        .iter()
        .filter(|server| {
            is_master(server) && server.kind == ServerKind::Cluster && !server.slots.is_empty()
        })
        .collect();
    let mut owners = vec![0u8; 16384];
    for server in &masters {
        for slot in server.slots.iter() {
            if let Some(count) = owners.get_mut(usize::from(slot)) {
                *count = count.saturating_add(1);
            }
        }
    }
    let wrong = owners.iter().filter(|count| **count != 1).count();
    if wrong > 0 {
        violations.push(Violation::new(
            "every slot is owned exactly once",
            format!("{target}: {wrong} slots are not owned exactly once"),
        ));
    }
    let leaders = spec_number(object, "/spec/redisLeader/replicas")
        .or_else(|| spec_number(object, "/spec/clusterSize"))
        .unwrap_or(3);
    if masters.len() != leaders {
        violations.push(Violation::new(
            "the cluster has the requested shards",
            format!(
                "{target}: {} masters hold slots, {leaders} requested",
                masters.len()
            ),
        ));
    }
    let counts: Vec<usize> = masters.iter().map(|server| server.slots.len()).collect();
    if let (Some(most), Some(least)) = (counts.iter().max(), counts.iter().min())
        && most - least > 1
    {
        violations.push(Violation::new(
            "slots are balanced",
            format!("{target}: masters own between {least} and {most} slots"),
        ));
    }
    let followers = spec_number(object, "/spec/redisFollower/replicas")
        .or_else(|| spec_number(object, "/spec/clusterSize"))
        .unwrap_or(leaders);
    let per_master = followers.checked_div(leaders).unwrap_or(0);
    for master in &masters {
        let replicas = mine
            .iter()
            .filter(|server| {
                server.alive && server.cluster_master_id() == Some(master.node_id.as_str())
            })
            .count();
        if replicas < per_master {
            violations.push(Violation::new(
                "every master has its replicas",
                format!(
                    "{target}: {} has {replicas} replicas, expected {per_master}",
                    master.pod
                ),
            ));
        }
    }
}

fn check_sentinels(
    world: &World,
    servers: &[Server],
    target: &ObjectRef,
    object: &Value,
    violations: &mut Vec<Violation>,
) {
    let Some(replication) = object
        .at("/spec/redisSentinelConfig/redisReplicationName")
        .and_then(Value::as_str)
    else {
        return;
    };
    let replication = ObjectRef::new(
        ResourceType::RedisReplication,
        &target.namespace,
        replication,
    );
    let masters = masters_of(world, &replication);
    let [master] = masters.as_slice() else {
        return;
    };
    let Some(master_ip) = servers
        .iter()
        .find(|server| *server.pod == **master)
        .map(|server| server.ip.clone())
    else {
        return;
    };
    for sentinel in servers_of(servers, target)
        .into_iter()
        .filter(|server| server.alive && server.kind == ServerKind::Sentinel)
    {
        let monitored = sentinel.monitored_masters();
        if !monitored.iter().any(|(_, ip, _)| *ip == master_ip) {
            violations.push(Violation::new(
                "sentinels agree with the master",
                format!("{target}: sentinel {} monitors {monitored:?}, the master is {master} ({master_ip})", sentinel.pod),
            ));
        }
    }
}

/// A span of simulated time in which a fault could cost acknowledged writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultWindow {
    /// When the fault began.
    pub start: Milliseconds,
    /// When it ended (`None`: still on).
    pub end: Option<Milliseconds>,
}

/// Acknowledged keys of `target` (keys named `<name>:...`) that can no longer be read, leaving
/// out those a fault may legitimately have cost: written within the replication window before a
/// fault or while it lasted, or — when the CR keeps no replica — written before any fault.
pub fn lost_keys(
    world: &World,
    target: &ObjectRef,
    windows: &[FaultWindow],
    has_replicas: bool,
) -> Vec<String> {
    let prefix = format!("{}:", target.name);
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
        .filter(|(key, _)| key.starts_with(&prefix))
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
