//! The body of the `reconcile_transition` fuzz target (and of its proptest): bytes become a
//! bounded world — a CR of any kind with a valid spec, its children and Redis nodes in whatever
//! state a few reconciles and faults leave them — and a short sequence of events and faults; the
//! real reconcile runs against it and the simulator's oracles are checked after every reconcile.
//!
//! The oracles:
//! - no panic anywhere in the reconcile or the fakes;
//! - no destructive Redis command: a node holding keys no other live node holds is never made to
//!   follow a master that holds no keys (its keys would be discarded by the resync);
//! - no PodDisruptionBudget violation: the operator's evictions and deletions never take the
//!   ready pods a budget selects below what it requires;
//! - no write loop: once the faults stop, the same write is not rejected again and again, and a
//!   converged reconcile writes nothing, round after round;
//! - progress or a stated reason: once the faults stop, every CR becomes Ready, or its status
//!   says why not (a `Degraded` condition with a message);
//! - no acknowledged write lost by the operator: every key a client wrote and Redis acknowledged
//!   can still be read, unless a fault, Redis' own failover window or a command sent behind the
//!   operator's back dropped every copy of it (`oracles::lost_writes`, the same rule as the
//!   scenarios').
//!
//! Decoding is total: every byte string is a scenario (missing bytes read as zero), and every
//! scenario is bounded (at most [`MAXIMUM_EVENTS`] events, [`SETTLE_ROUNDS`] rounds to settle).
//! This module drives the world only through its public API; it must not change the fakes.
//! The parts: `decode` (bytes to a scenario and its manifests), `watched_redis` (the judged
//! Redis port); the rules themselves are the oracles' (`oracles::destructive_commands`,
//! `oracles::disruption_budgets`, `oracles::lost_writes`).

use redis_operator::json_pointer::JsonPointer;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use redis_operator::api::Kind;
use redis_operator::api::document::validate_value;
use redis_operator::api::validation::MINIMUM_CLUSTER_SHARDS;
use redis_operator::ports::clock::Clock;
use redis_operator::ports::kube::{ApiError, ObjectRef, ResourceType};
use redis_operator::ports::redis::{FailoverMode, RedisCommand, RedisEndpoint, SlotState};
use redis_operator::reconcile::driver::{ReconcileError, reconcile};
use redis_operator::reconcile::{Context, Request};
use serde_json::{Value, json};

use crate::engine::world::{STEP_MILLISECONDS, World};
use crate::fakes::api_server::Injection;
use crate::fakes::api_server::pod_is_ready;
use crate::fakes::redis::ServerKind;
use crate::fakes::scheduler::string_map;
use crate::faults::lost_replies::ReplyChannel;
use crate::faults::unsatisfiable_edit::{MISSING_IMAGE, UnsatisfiableEdit};
use crate::oracles::disruption_budgets::{CountedPod, budget_breach};
use crate::oracles::invalid_spec::{spec_is_invalid, writes_beyond_the_status};
use crate::oracles::liveness::{LivenessWatch, states_what_a_person_must_do};
use crate::oracles::lost_writes::describe_losses;

pub mod decode;
mod watched_redis;

use decode::{BudgetChoice, ClientRoute, Event, Scenario, Shape, manifests};
use watched_redis::{Findings, WatchedRedis};

/// The most events one scenario holds after its warm-up.
pub const MAXIMUM_EVENTS: usize = 10;
/// The most reconcile rounds of the warm-up before the events.
pub const MAXIMUM_WARM_UP_ROUNDS: u8 = 24;
/// Reconcile rounds allowed, once the faults stop, to converge or to say why not.
pub const SETTLE_ROUNDS: usize = 300;
/// Rounds run after convergence to look for an oscillation.
pub const ROUNDS_AFTER_CONVERGENCE: usize = 20;
/// Rounds of those that may still write (the fakes' gossip and bans may still change the world).
pub const MAXIMUM_WRITING_ROUNDS_AFTER_CONVERGENCE: usize = 5;
/// How many reconciles may see the same write rejected, once the faults stop, before it counts
/// as a loop.
pub const REJECTION_LOOP_LIMIT: usize = 8;
/// The namespace every object of a scenario lives in.
const NAMESPACE: &str = "default";
/// The two images a scenario switches between (a change means a rolling restart).
const IMAGES: [&str; 2] = ["redis:7.2", "redis:7.0"];
/// The sentinels' master group name (the API default).
const MASTER_GROUP: &str = "myMaster";

/// Why a scenario failed: one line per violated oracle.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransitionReport {
    /// Oracles violated, each with the object, pod or command concerned.
    pub violations: Vec<String>,
    /// Whether every CR converged once the faults stopped.
    pub converged: bool,
    /// Reconciles run.
    pub reconciles: usize,
    /// Redis commands the operator sent that change state.
    pub redis_writes: usize,
    /// Keys clients wrote and Redis acknowledged.
    pub acknowledged_keys: usize,
    /// What happened, in order: events, the operator's Redis writes and API writes (the last
    /// [`TIMELINE_LIMIT`] entries), for reading a failure.
    pub timeline: Vec<String>,
}

/// How many timeline entries a report keeps.
pub const TIMELINE_LIMIT: usize = 120;

impl fmt::Display for TransitionReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} reconciles, {} Redis writes, {} acknowledged keys, {}",
            self.reconciles,
            self.redis_writes,
            self.acknowledged_keys,
            if self.converged {
                "converged"
            } else {
                "did not converge"
            }
        )?;
        if !self.violations.is_empty() {
            write!(
                formatter,
                "\ntimeline (last {} entries):",
                self.timeline.len()
            )?;
            for entry in &self.timeline {
                write!(formatter, "\n  {entry}")?;
            }
        }
        for violation in &self.violations {
            write!(formatter, "\n  violated: {violation}")?;
        }
        Ok(())
    }
}

/// Runs the scenario `bytes` decode to and panics (the fuzz target's crash) when an oracle is
/// violated, printing the scenario and every violation.
pub fn check_transition(bytes: &[u8]) -> TransitionReport {
    let scenario = Scenario::decode(bytes);
    let report = run_scenario(&scenario);
    assert!(
        report.violations.is_empty(),
        "scenario {scenario:#?}\n{report}"
    );
    report
}

/// Runs a scenario and reports the oracles it violated.
pub fn run_scenario(scenario: &Scenario) -> TransitionReport {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(Run::new(scenario).play(scenario)),
        Err(error) => TransitionReport {
            violations: vec![format!("failed to start the async runtime: {error}")],
            ..TransitionReport::default()
        },
    }
}

/// A pod as seen before a reconcile.
struct PodSnapshot {
    labels: BTreeMap<String, String>,
    ready: bool,
}

/// Whether the scenario has started settling (faults stopped).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Faults,
    Settling,
}

/// One scenario run.
struct Run {
    world: World,
    context: Context,
    findings: Findings,
    targets: Vec<(Kind, ObjectRef)>,
    violations: Vec<String>,
    reconciles: usize,
    /// Rejections seen while settling, with how many reconciles saw each.
    settling_rejections: BTreeMap<String, usize>,
    operator_cuts: BTreeSet<String>,
    peer_cuts: BTreeSet<(String, String)>,
    /// Addresses given a latency from the operator ([`Event::Latency`]).
    far_from_operator: BTreeSet<String>,
    /// Pairs of addresses on a slow link ([`Event::Latency`]).
    slow_links: BTreeSet<(String, String)>,
    /// Simulated time until which some pod is held down (its return changes the world).
    held_until: u64,
    /// Rounds left before stalled watch caches list again ([`Event::WatchGone`]).
    stale_rounds_left: u8,
    /// The edits no node can satisfy, undone when the faults stop ([`Event::UnsatisfiableEdit`]).
    unsatisfiable_edits: Vec<u8>,
    shape: Shape,
}

impl Run {
    fn new(scenario: &Scenario) -> Run {
        let world = World::new();
        world
            .settings
            .borrow_mut()
            .missing_images
            .push(MISSING_IMAGE.to_owned());
        let findings = Findings::default();
        let context = Context {
            kube: world.context.kube.clone(),
            redis: Arc::new(WatchedRedis {
                inner: world.context.redis.clone(),
                fleet: world.redis.clone(),
                findings: findings.clone(),
            }),
            clock: world.context.clock.clone(),
            designs: world.context.designs.clone(),
            cluster_tables: world.context.cluster_tables.clone(),
        };
        Run {
            world,
            context,
            findings,
            targets: Vec::new(),
            violations: Vec::new(),
            reconciles: 0,
            settling_rejections: BTreeMap::new(),
            operator_cuts: BTreeSet::new(),
            peer_cuts: BTreeSet::new(),
            far_from_operator: BTreeSet::new(),
            slow_links: BTreeSet::new(),
            held_until: 0,
            stale_rounds_left: 0,
            unsatisfiable_edits: Vec::new(),
            shape: scenario.shape.clone(),
        }
    }

    async fn play(mut self, scenario: &Scenario) -> TransitionReport {
        for manifest in manifests(&scenario.shape) {
            let kind = manifest["kind"].as_str().and_then(Kind::from_name);
            if let Some(kind) = kind
                && let Err(errors) = validate_value(kind, &manifest)
            {
                self.violations.push(format!(
                    "the scenario's own spec is invalid ({errors:?}): {manifest}"
                ));
            }
            match self.world.create_yaml(&manifest.to_string()) {
                Ok((Some(kind), reference)) => self.targets.push((kind, reference)),
                Ok((None, reference)) => self
                    .violations
                    .push(format!("{reference} is not one of the operator's kinds")),
                Err(error) => self
                    .violations
                    .push(format!("failed to create the scenario's CR: {error}")),
            }
        }
        if !self.violations.is_empty() {
            return self.report(false);
        }
        for _ in 0..scenario.warm_up_rounds {
            self.round(Phase::Faults).await;
        }
        for event in &scenario.events {
            self.apply(event).await;
        }
        let converged = self.settle().await;
        self.report(converged)
    }

    fn report(self, converged: bool) -> TransitionReport {
        let findings = self.findings.lock();
        TransitionReport {
            violations: self.violations.clone(),
            converged,
            reconciles: self.reconciles,
            redis_writes: findings.writes,
            acknowledged_keys: self.world.acknowledged.borrow().len(),
            timeline: findings.timeline.iter().cloned().collect(),
        }
    }

    /// The pods of the scenario, by name.
    fn pods(&self) -> Vec<Arc<Value>> {
        self.world
            .objects(ResourceType::Pod)
            .into_iter()
            .filter(|pod| pod.at("/metadata/namespace").and_then(Value::as_str) == Some(NAMESPACE))
            .collect()
    }

    fn pod(&self, index: u8) -> Option<(String, String)> {
        let pods = self.pods();
        if pods.is_empty() {
            return None;
        }
        let pod = pods.get(usize::from(index) % pods.len())?;
        Some((
            pod.at("/metadata/name")?.as_str()?.to_owned(),
            pod.at("/status/podIP")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ))
    }

    /// Reconciles every target once, then steps the world.
    async fn round(&mut self, phase: Phase) -> (usize, bool) {
        let mut writes = 0;
        for index in 0..self.targets.len() {
            writes += self.reconcile_checked(index, phase).await;
        }
        for lost in self.world.lost_replies.take_lost() {
            self.findings.note(lost);
        }
        if self.stale_rounds_left > 0 {
            self.stale_rounds_left -= 1;
            if self.stale_rounds_left == 0 {
                self.world.lag.thaw();
            }
        }
        let ready = self
            .targets
            .iter()
            .all(|(_, target)| self.world.is_ready(target));
        self.world.step();
        (writes, ready)
    }

    /// One reconcile of a target, with the per-reconcile oracles; returns its writes (a failed
    /// reconcile counts as one).
    async fn reconcile_checked(&mut self, index: usize, phase: Phase) -> usize {
        let Some((kind, target)) = self.targets.get(index).cloned() else {
            return 0;
        };
        let pods: BTreeMap<String, PodSnapshot> = self
            .pods()
            .iter()
            .filter_map(|pod| {
                Some((
                    pod.at("/metadata/name")?.as_str()?.to_owned(),
                    PodSnapshot {
                        labels: string_map(pod.at("/metadata/labels")),
                        ready: pod_is_ready(pod),
                    },
                ))
            })
            .collect();
        let budgets = self.world.objects(ResourceType::PodDisruptionBudget);
        let invalid = self
            .world
            .api
            .object(&target)
            .is_some_and(|object| spec_is_invalid(kind, &object));
        let writes_before = self.world.api.writes().len();
        {
            let mut findings = self.findings.lock();
            findings.destructive.clear();
            findings.rejected.clear();
        }
        let result = reconcile(&self.context, kind, &target).await;
        self.reconciles += 1;
        if let Err(error) = &result {
            self.findings
                .note(format!("  reconcile {} failed: {error}", self.reconciles));
        }
        for write in self.world.api.writes().iter().skip(writes_before) {
            {
                self.findings.note(format!(
                    "  api {} {}{}",
                    write.verb,
                    write.object,
                    write
                        .error
                        .as_ref()
                        .map(|error| format!(" rejected: {error}"))
                        .unwrap_or_default()
                ));
            }
        }
        let (executed, writes) = match &result {
            Ok(outcome) => (outcome.executed.clone(), outcome.writes()),
            Err(ReconcileError::Execute { executed, .. }) => (executed.clone(), 1),
            Err(ReconcileError::Observe { .. }) => (Vec::new(), 1),
        };

        let (destructive, mut rejected) = {
            let findings = self.findings.lock();
            (findings.destructive.clone(), findings.rejected.clone())
        };
        for finding in destructive {
            self.violations.push(format!(
                "reconcile {} of {target}: {finding}",
                self.reconciles
            ));
        }
        self.check_budgets(&target, &pods, &budgets, &executed);
        if invalid {
            for violation in writes_beyond_the_status(&target, &executed) {
                self.violations.push(format!(
                    "reconcile {}: {}: {}",
                    self.reconciles, violation.oracle, violation.message
                ));
            }
        }

        if phase == Phase::Settling {
            for write in self.world.api.writes().iter().skip(writes_before) {
                let Some(error) = &write.error else { continue };
                if matches!(
                    error,
                    ApiError::TooManyRequests { .. } | ApiError::Transient { .. }
                ) {
                    // Waiting on a budget or a flaky call is retried by design.
                    continue;
                }
                rejected.push(format!("{} {}: {error}", write.verb, write.object));
            }
            rejected.sort();
            rejected.dedup();
            for rejection in rejected {
                let count = self
                    .settling_rejections
                    .entry(rejection.clone())
                    .or_insert(0);
                *count += 1;
                if *count == REJECTION_LOOP_LIMIT {
                    self.violations.push(format!(
                        "{target}: the same write was rejected in {REJECTION_LOOP_LIMIT} reconciles after the faults stopped (a write loop): {rejection}"
                    ));
                }
            }
        }
        writes
    }

    /// The operator's evictions and pod deletions in one reconcile never take a budget's ready
    /// pods below what it requires.
    fn check_budgets(
        &mut self,
        target: &ObjectRef,
        pods: &BTreeMap<String, PodSnapshot>,
        budgets: &[Arc<Value>],
        executed: &[Request],
    ) {
        let removed: BTreeSet<&str> = executed
            .iter()
            .filter_map(|request| match request {
                Request::Evict(pod) => Some(pod.name.as_str()),
                Request::Delete { object, .. } if object.resource == ResourceType::Pod => {
                    Some(object.name.as_str())
                }
                _ => None,
            })
            .collect();
        if removed.is_empty() {
            return;
        }
        for budget in budgets {
            let pods = pods.iter().map(|(name, pod)| CountedPod {
                labels: &pod.labels,
                ready: pod.ready,
                removed: removed.contains(name.as_str()),
            });
            if let Some(breach) = budget_breach(budget, pods) {
                self.violations.push(format!(
                    "reconcile {} of {target}: removed {} ready pods ({removed:?}) of {} selected by {}, leaving {} ready where it requires {}",
                    self.reconciles,
                    breach.removed_ready,
                    breach.selected,
                    budget.at("/metadata/name").and_then(Value::as_str).unwrap_or("?"),
                    breach.ready_left(),
                    breach.required,
                ));
            }
        }
    }

    /// Where the scenario's client writes: as an application of its data-bearing CR would
    /// ([`World::client_entry`]: a replication set through its `-master` Service, so a server
    /// no client reaches, such as a restarted pod that answers as a master before anyone
    /// pointed it, takes no writes).
    fn client_entry(&self) -> Option<String> {
        self.targets
            .iter()
            .find_map(|(kind, target)| self.world.client_entry(*kind, target))
    }

    /// Any live master holding data: where the acknowledged writes are read back when no
    /// client entry is left (the check must not lapse because the `-master` Service selects
    /// nothing).
    fn any_master(&self) -> Option<String> {
        self.world.any_writable_master()
    }

    fn patch(&mut self, patch: &Value) {
        let Some((_, target)) = self.targets.last().cloned() else {
            return;
        };
        if let Err(error) = self.world.patch_spec(&target, patch) {
            self.violations
                .push(format!("failed to patch {target} with {patch}: {error}"));
        }
    }

    async fn apply(&mut self, event: &Event) {
        self.findings.note(format!(
            "t={}s event {event:?}",
            self.world
                .clock
                .now()
                .saturating_sub(crate::engine::clock::SIMULATION_EPOCH)
                / 1000
        ));
        match event {
            Event::Rounds(rounds) => {
                for _ in 0..*rounds {
                    self.round(Phase::Faults).await;
                }
                return;
            }
            Event::KillPod { pod, held_seconds } => {
                if let Some((name, _)) = self.pod(*pod) {
                    self.world.kill_pod(NAMESPACE, &name);
                    if *held_seconds > 0 {
                        let milliseconds = u64::from(*held_seconds) * 1000;
                        self.world.hold_down(&name, milliseconds);
                        self.held_until = self
                            .held_until
                            .max(self.world.clock.now().saturating_add(milliseconds));
                    }
                }
            }
            Event::PodReadiness { pod, ready } => {
                if let Some((name, _)) = self.pod(*pod) {
                    self.set_ready(&name, *ready);
                }
            }
            Event::OperatorPartition { pod, cut } => {
                if let Some((_, ip)) = self.pod(*pod) {
                    self.world.redis.set_operator_partition(&ip, *cut);
                    if *cut {
                        self.operator_cuts.insert(ip);
                    }
                }
            }
            Event::PeerPartition { left, right, cut } => {
                if let (Some((_, left)), Some((_, right))) = (self.pod(*left), self.pod(*right)) {
                    self.world.redis.set_partition(&left, &right, *cut);
                    if *cut {
                        self.peer_cuts.insert((left, right));
                    }
                }
            }
            Event::Latency { left, right, steps } => {
                let delay = u64::from(*steps) * STEP_MILLISECONDS;
                match (self.pod(*left), self.pod(*right)) {
                    (Some((left, ip)), Some((right, _))) if left == right => {
                        // Kept whether or not its replies time out: ending it is harmless.
                        self.world.lost_replies.set_operator_latency(&ip, delay);
                        self.far_from_operator.insert(ip);
                    }
                    (Some((left, left_ip)), Some((right, right_ip))) if left != right => {
                        self.world.redis.set_latency(&left_ip, &right_ip, delay);
                        self.slow_links.insert((left_ip, right_ip));
                    }
                    _ => {}
                }
            }
            Event::ClockSkew { skew } => {
                let skew = i64::from(i8::from_ne_bytes([*skew]));
                self.world.operator_clock.set(skew * 10_000);
            }
            Event::Crash { after_writes } => {
                self.world.crash.arm(usize::from(*after_writes));
                for _ in 0..3 {
                    self.round(Phase::Faults).await;
                }
                self.world.crash.disarm();
            }
            Event::ApiFault { verb, error } => {
                let verbs = ["apply", "apply-status", "delete", "evict", "list", "get"];
                let verb = verbs[usize::from(*verb) % verbs.len()];
                let error = if error.is_multiple_of(2) {
                    ApiError::Transient {
                        object: "injected".to_owned(),
                        action: verb.to_owned(),
                        message: "connection reset".to_owned(),
                    }
                } else {
                    ApiError::Conflict {
                        object: "injected".to_owned(),
                        message: "the object has been modified".to_owned(),
                    }
                };
                self.world.api.inject(Injection {
                    verb,
                    resource: None,
                    error,
                });
            }
            Event::Resize { size } => self.resize(*size),
            Event::ChangeImage => {
                self.shape.image = (self.shape.image + 1) % IMAGES.len();
                let image = IMAGES[self.shape.image];
                self.patch(&json!({"kubernetesConfig": {"image": image}}));
            }
            Event::GrowStorage => {
                if self.shape.persistent && self.shape.kind != Kind::RedisSentinel {
                    self.patch(&json!({"storage": {"volumeClaimTemplate": {"spec": {
                        "resources": {"requests": {"storage": "2Gi"}}}}}}));
                }
            }
            Event::BreakSpec { choice } => self.break_spec(*choice),
            Event::LostReplies { choice } => {
                let through = ReplyChannel::ALL[usize::from(*choice) % ReplyChannel::ALL.len()];
                self.world
                    .lost_replies
                    .arm(through, usize::from(1 + *choice / 3 % 3));
            }
            Event::OperatorDown {
                after_writes,
                rounds,
            } => {
                self.world.crash.arm(usize::from(*after_writes));
                let crashes = self.world.crash.crashes();
                for _ in 0..3 {
                    self.round(Phase::Faults).await;
                    if self.world.crash.crashes() > crashes {
                        break;
                    }
                }
                self.world.crash.disarm();
                if self.world.crash.crashes() > crashes {
                    // Down: the world goes on without the operator.
                    for _ in 0..*rounds {
                        self.world.step();
                    }
                    self.context.designs = Arc::default();
                    self.context.cluster_tables = Arc::default();
                }
            }
            Event::WatchGone { rounds } => {
                self.world.lag.freeze_types(
                    &self.world.api,
                    &redis_operator::operator::caches::CACHED_TYPES,
                );
                self.stale_rounds_left = *rounds;
            }
            Event::SlowSync { speed } => {
                let keys_per_second = 20 * (1 + u64::from(*speed % 10));
                self.world.redis.set_slow_sync(Some(keys_per_second));
            }
            Event::RepairSpec => self.repair_spec(),
            Event::UnsatisfiableEdit { choice } => {
                let (edit, _) = self.unsatisfiable_edit(*choice);
                self.patch(&edit);
                self.unsatisfiable_edits.push(*choice);
            }
            Event::ClientWrites { count, route } => {
                let published = self.client_entry();
                let entry = match route {
                    ClientRoute::Published => published.clone(),
                    ClientRoute::AnyMaster => self.any_master(),
                };
                if let Some(entry) = entry {
                    let count = usize::from(*count);
                    if Some(&entry) == published.as_ref() {
                        let prefix = format!("k{}", self.world.acknowledged.borrow().len());
                        self.world.write_keys(&entry, &prefix, count);
                    } else {
                        let prefix = format!("unpublished{}", self.world.clock.now());
                        self.world.write_unheld_keys(&entry, &prefix, count);
                    }
                }
            }
            Event::AdminCommand {
                pod,
                other,
                action,
                slot,
            } => self.admin_command(*pod, *other, *action, *slot).await,
        }
        // Every event is followed by one round, so the operator sees each state.
        self.round(Phase::Faults).await;
    }

    fn resize(&mut self, size: u8) {
        let minimum_for_budget = match self.shape.budget {
            Some(BudgetChoice::MinAvailable(count)) => count,
            _ => 0,
        };
        match self.shape.kind {
            Kind::Redis => {}
            Kind::RedisReplication => {
                let size = (1 + i32::from(size % 5)).max(minimum_for_budget);
                self.shape.size = size;
                self.patch(&json!({"clusterSize": size}));
            }
            Kind::RedisSentinel => {
                let sentinels = if size.is_multiple_of(2) { 1 } else { 3 };
                let sentinels = sentinels.max(minimum_for_budget);
                self.shape.sentinels = sentinels;
                let quorum = if sentinels >= 3 { "2" } else { "1" };
                self.patch(&json!({"clusterSize": sentinels,
                    "redisSentinelConfig": {"quorum": quorum}}));
            }
            Kind::RedisCluster => {
                let shards = (3 + i32::from(size % 3)).max(minimum_for_budget);
                self.shape.size = shards;
                self.patch(&json!({"clusterSize": shards,
                    "redisFollower": {"replicas": shards * self.shape.followers_per_shard}}));
            }
        }
    }

    /// Makes the spec of the CR under test one the operator refuses: a memory request that is
    /// no quantity, or a size out of the kind's range.
    fn break_spec(&mut self, choice: u8) {
        let size_out_of_range = match self.shape.kind {
            Kind::Redis => None,
            Kind::RedisReplication | Kind::RedisSentinel => Some(0),
            Kind::RedisCluster => Some(MINIMUM_CLUSTER_SHARDS - 1),
        };
        match size_out_of_range.filter(|_| choice % 2 == 1) {
            Some(size) => self.patch(&json!({"clusterSize": size})),
            None => self.patch(&json!({"kubernetesConfig": {
                "resources": {"requests": {"memory": "plenty"}}}})),
        }
    }

    /// Undoes every edit of `break_spec`: the size is the shape's again.
    fn repair_spec(&mut self) {
        let mut repair = json!({"kubernetesConfig": {"resources": null}});
        match self.shape.kind {
            Kind::Redis => {}
            Kind::RedisReplication | Kind::RedisCluster => {
                repair["clusterSize"] = json!(self.shape.size);
            }
            Kind::RedisSentinel => repair["clusterSize"] = json!(self.shape.sentinels),
        }
        self.patch(&repair);
    }

    /// The patch that makes the spec of the CR under test one no node can satisfy, and the patch
    /// that reverts it (to the image the shape has now).
    fn unsatisfiable_edit(&self, choice: u8) -> (Value, Value) {
        UnsatisfiableEdit::ALL[usize::from(choice) % UnsatisfiableEdit::ALL.len()].patches(
            self.shape.kind,
            &Value::Null,
            IMAGES[self.shape.image],
        )
    }

    fn set_ready(&mut self, name: &str, ready: bool) {
        let reference = ObjectRef::new(ResourceType::Pod, NAMESPACE, name);
        let Some(mut pod) = self.world.api.object(&reference).map(Arc::unwrap_or_clone) else {
            return;
        };
        let status = if ready { "True" } else { "False" };
        if let Some(conditions) = pod
            .pointer_mut("/status/conditions")
            .and_then(Value::as_array_mut)
        {
            for condition in conditions.iter_mut() {
                if condition["type"] == "Ready" {
                    condition["status"] = json!(status);
                }
            }
        }
        let _ = self.world.api.update(pod);
    }

    /// Sends a command to a pod's server behind the operator's back: the roles and slot states
    /// a scenario can start from are whatever these leave.
    async fn admin_command(&mut self, pod: u8, other: u8, action: u8, slot: u16) {
        let (Some((name, ip)), Some((_, other_ip))) = (self.pod(pod), self.pod(other)) else {
            return;
        };
        let Some(server) = self.world.redis.server(&ip) else {
            return;
        };
        let other_server = self.world.redis.server(&other_ip);
        let other_id = other_server
            .as_ref()
            .map(|server| server.node_id.clone())
            .unwrap_or_default();
        let command = match server.kind {
            ServerKind::Plain => match action % 2 {
                0 => RedisCommand::ReplicaOf {
                    host: other_ip.clone(),
                    port: other_server.map_or(6379, |server| server.port),
                },
                _ => RedisCommand::ReplicaOfNoOne,
            },
            ServerKind::Cluster => match action % 4 {
                0 => RedisCommand::ClusterFailover(FailoverMode::Force),
                1 => RedisCommand::ClusterSetSlot {
                    slot,
                    state: SlotState::Migrating(other_id),
                },
                2 => RedisCommand::ClusterSetSlot {
                    slot,
                    state: SlotState::Importing(other_id),
                },
                _ => RedisCommand::ClusterForget(other_id),
            },
            ServerKind::Sentinel => match action % 2 {
                0 => RedisCommand::SentinelFailover(MASTER_GROUP.to_owned()),
                _ => RedisCommand::SentinelRemove(MASTER_GROUP.to_owned()),
            },
        };
        let endpoint = RedisEndpoint {
            namespace: NAMESPACE.to_owned(),
            pod: name,
            host: ip,
            port: server.port,
            password: None,
            user: None,
            tls: None,
        };
        // Sent as a bystander (another tool, a human), not through the operator's port: what its
        // resyncs drop is not held against the operator.
        let _ = self.world.redis.execute_as_bystander(&endpoint, &command);
    }

    /// Stops every fault, then runs until every CR converges or the rounds run out, and checks
    /// the end-state oracles.
    async fn settle(&mut self) -> bool {
        self.findings.note(format!(
            "t={}s faults stop",
            self.world
                .clock
                .now()
                .saturating_sub(crate::engine::clock::SIMULATION_EPOCH)
                / 1000
        ));
        self.world.crash.disarm();
        self.world.lost_replies.disarm();
        self.stale_rounds_left = 0;
        self.world.lag.thaw();
        // Transfers and loads under way keep their speed; new ones run at normal speed.
        self.world.redis.set_slow_sync(None);
        for ip in std::mem::take(&mut self.operator_cuts) {
            self.world.redis.set_operator_partition(&ip, false);
        }
        for (left, right) in std::mem::take(&mut self.peer_cuts) {
            self.world.redis.set_partition(&left, &right, false);
        }
        for ip in std::mem::take(&mut self.far_from_operator) {
            self.world.lost_replies.set_operator_latency(&ip, 0);
        }
        for (left, right) in std::mem::take(&mut self.slow_links) {
            self.world.redis.set_latency(&left, &right, 0);
        }
        self.world.operator_clock.set(0);
        for choice in std::mem::take(&mut self.unsatisfiable_edits) {
            let (_, revert) = self.unsatisfiable_edit(choice);
            self.patch(&revert);
        }
        let names: Vec<String> = self
            .pods()
            .iter()
            .filter_map(|pod| Some(pod.at("/metadata/name")?.as_str()?.to_owned()))
            .collect();
        for name in names {
            self.set_ready(&name, true);
        }
        let mut quiet = 0;
        let mut converged = false;
        // The last fault heals when the last pod held down may come back.
        let healed = self.world.clock.now().max(self.held_until);
        let mut liveness = LivenessWatch::start(&self.world, &self.targets, healed);
        for _ in 0..SETTLE_ROUNDS {
            let (writes, ready) = self.round(Phase::Settling).await;
            self.check_liveness(&mut liveness);
            // A pod still held down comes back later: the world is not done changing.
            let returned = self.world.clock.now() > self.held_until;
            quiet = if writes == 0 && ready && returned {
                quiet + 1
            } else {
                0
            };
            if quiet >= 2 {
                converged = true;
                break;
            }
        }
        if converged {
            // Idempotence: once a reconcile writes nothing (the last round's step may have
            // changed the world), reconciling the unchanged world again writes nothing.
            for index in 0..self.targets.len() {
                let mut quiet = false;
                for _ in 0..MAXIMUM_EVENTS {
                    if self.reconcile_checked(index, Phase::Settling).await == 0 {
                        quiet = true;
                        break;
                    }
                }
                let writes = self.reconcile_checked(index, Phase::Settling).await;
                if quiet && writes > 0 {
                    let statuses = self.statuses();
                    self.violations.push(format!(
                        "a reconcile right after one that wrote nothing, with nothing changed between, wrote {writes} times; {statuses}"
                    ));
                }
            }
            // No oscillation: the world may still settle (gossip, bans expiring), but the
            // operator must not keep writing round after round.
            let mut writing_rounds = 0;
            for _ in 0..ROUNDS_AFTER_CONVERGENCE {
                let (writes, _) = self.round(Phase::Settling).await;
                if writes > 0 {
                    writing_rounds += 1;
                }
            }
            if writing_rounds > MAXIMUM_WRITING_ROUNDS_AFTER_CONVERGENCE {
                let statuses = self.statuses();
                self.violations.push(format!(
                    "the operator wrote in {writing_rounds} of {ROUNDS_AFTER_CONVERGENCE} rounds after converging (an oscillation); {statuses}"
                ));
            }
        } else {
            self.check_stated_reason();
        }
        if let Some(entry) = self.client_entry().or_else(|| self.any_master()) {
            let acknowledged = self.world.acknowledged.borrow();
            let lost = self.world.blamed_losses(Some(&entry), acknowledged.iter());
            if !lost.is_empty() {
                self.violations.push(describe_losses(&lost));
            }
        }
        converged
    }

    /// Every target's status, for messages.
    fn statuses(&self) -> String {
        self.targets
            .iter()
            .map(|(_, target)| {
                let status = self
                    .world
                    .api
                    .object(target)
                    .and_then(|object| object.get("status").cloned())
                    .unwrap_or(Value::Null);
                format!("{target}: {status}")
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Every CR is Ready within the bound of its kind once the faults stop, or says what a
    /// person must do (`oracles::liveness`).
    fn check_liveness(&mut self, liveness: &mut LivenessWatch) {
        if liveness.is_done() {
            return;
        }
        for violation in liveness.check(&self.world) {
            let statuses = self.servers_line();
            self.violations.push(format!(
                "{}: {}; servers: {statuses}",
                violation.oracle, violation.message
            ));
        }
    }

    /// A CR that did not become Ready says why in a `Degraded` condition.
    fn check_stated_reason(&mut self) {
        for (_, target) in self.targets.clone() {
            if self.world.is_ready(&target) {
                continue;
            }
            let object = self.world.api.object(&target);
            let stated = object.as_deref().is_some_and(states_what_a_person_must_do);
            let status = object
                .and_then(|object| object.get("status").cloned())
                .unwrap_or(Value::Null);
            if !stated {
                let servers = self.servers_line();
                self.violations.push(format!(
                    "{target} made no progress in {SETTLE_ROUNDS} rounds after the faults stopped and states no reason (no Degraded condition): status {status}; servers: {servers}"
                ));
            }
        }
    }

    /// Every server of the world, one phrase each, for messages.
    fn servers_line(&self) -> String {
        self.world
            .redis
            .servers()
            .iter()
            .map(|server| {
                format!(
                    "{} {} alive={} id={:.8} master={:?} slots={} keys={}",
                    server.pod,
                    server.ip,
                    server.alive,
                    server.node_id,
                    server.master,
                    server.slots.len(),
                    server.data.len()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}
