//! Runs a scenario in a fresh simulated cluster from a seed: applies its manifests, plays its
//! steps (edits, client writes, faults and their healing, waits, convergence), runs the operator
//! through the simulated controller (`engine::controller`), checks the oracles after every round,
//! and records a timeline (`engine::timeline`).
//!
//! Everything is deterministic: the same scenario and seed give the same timeline, byte for byte.
//! It must not reach outside the simulated cluster.

use std::collections::BTreeMap;
use std::sync::Arc;

use redis_operator::api::Kind;
use redis_operator::api::document::{DocumentOutcome, read_documents};
use redis_operator::ports::clock::{Clock, Milliseconds};
use redis_operator::ports::kube::{ObjectRef, Propagation, ResourceType};
use redis_operator::reconcile::driver::ReconcileError;
use serde_json::Value;

use crate::engine::clock::SIMULATION_EPOCH;
use crate::engine::controller::{QUIET_ROUNDS, SimulatedController, writes_of};
use crate::engine::scenario::{Action, Scenario, Target};
use crate::engine::timeline::{Entry, Failure, RunReport, TopologyShape, status_line};
use crate::engine::world::{World, merge_patch};
use crate::faults::scheduled::{ActiveFault, Undo};
use crate::oracles::Violation;
use crate::oracles::converged::check_converged;
use crate::oracles::invalid_spec::{spec_is_invalid, writes_beyond_the_status};
use crate::oracles::liveness::LivenessWatch;
use crate::oracles::safety::SafetyMonitor;
use crate::oracles::serving::ReadyPods;

pub(crate) struct Engine<'a> {
    pub(crate) world: World,
    pub(crate) scenario: &'a Scenario,
    pub(crate) seed: u64,
    /// The operator's controller: the CRs it watches and when each is due.
    pub(crate) controller: SimulatedController,
    pub(crate) report: RunReport,
    pub(crate) safety: SafetyMonitor,
    pub(crate) active: Vec<ActiveFault>,
    pub(crate) workloads: BTreeMap<Target, usize>,
    pub(crate) written: usize,
    pub(crate) seen_crashes: usize,
    /// How many times an operator-side fault armed earlier acted (a reply lost, the operator
    /// crashed): each act restarts the liveness bound of the `converge` under way.
    pub(crate) operator_fault_acts: usize,
    pub(crate) paused: bool,
    /// How long the operator stays down after the crash armed now (0: it restarts at once).
    pub(crate) operator_down_seconds: u64,
    pub(crate) step: usize,
    pub(crate) quiet_rounds: usize,
    pub(crate) seen_writes: usize,
    pub(crate) seen_events: usize,
    /// How many Events the API server held when the previous `expect` step ran.
    pub(crate) events_at_previous_expect: usize,
    pub(crate) last_status: BTreeMap<ObjectRef, String>,
    pub(crate) last_topology: String,
    /// What the last topology line was written from.
    pub(crate) last_topology_shape: TopologyShape,
    /// The API server version the statuses were last read at.
    pub(crate) statuses_seen_at: Option<u64>,
    /// CRs the serving oracle watches: those converged since the last fault that may take a
    /// master away (pod kill, process crash, node crash or drain, isolation).
    pub(crate) serving: Vec<(Kind, ObjectRef)>,
    /// The ready pods at an API server version, for the serving oracle.
    pub(crate) ready_pods: (Option<u64>, ReadyPods),
    /// Replications whose `-master` Service selects more than one pod, with the rounds in a row
    /// it has.
    pub(crate) multiple_masters: BTreeMap<ObjectRef, usize>,
}

pub(crate) fn kind_of(target: &Target) -> Option<(Kind, ObjectRef)> {
    let kind = Kind::from_name(&target.kind)?;
    let resource = match kind {
        Kind::Redis => ResourceType::Redis,
        Kind::RedisReplication => ResourceType::RedisReplication,
        Kind::RedisSentinel => ResourceType::RedisSentinel,
        Kind::RedisCluster => ResourceType::RedisCluster,
    };
    Some((
        kind,
        ObjectRef::new(resource, &target.namespace, &target.name),
    ))
}

/// The resource type whose kind is `kind`.
pub(crate) fn resource_named(kind: &str) -> Option<ResourceType> {
    ResourceType::ALL
        .into_iter()
        .find(|resource| resource.kind() == kind)
}

impl Engine<'_> {
    pub(crate) fn now(&self) -> Milliseconds {
        self.world.clock.now().saturating_sub(SIMULATION_EPOCH)
    }

    pub(crate) fn log(&mut self, kind: &'static str, text: String) {
        let time = self.now();
        self.report.entries.push(Entry { time, kind, text });
    }

    pub(crate) fn fail(&mut self, violation: Violation) {
        let time = self.now();
        self.log(
            "oracle",
            format!("{}: {}", violation.oracle, violation.message),
        );
        self.report.failures.push(Failure {
            step: self.step,
            time,
            violation,
        });
    }

    /// Creates the manifests' objects: Secrets and ConfigMaps first, then the CRs.
    pub(crate) fn apply_documents(&mut self, documents: &[(String, String)]) {
        let mut ordered: Vec<(String, Value, bool)> = Vec::new();
        for (file, text) in documents {
            let values: Vec<Value> = serde_yaml_ng::Deserializer::from_str(text)
                .filter_map(|document| serde::Deserialize::deserialize(document).ok())
                .collect();
            for (document, value) in read_documents(text).into_iter().zip(values) {
                let label = document.label();
                match document.outcome {
                    DocumentOutcome::Invalid(errors) => {
                        let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
                        self.fail(Violation {
                            oracle: "manifests are valid",
                            message: format!("{file}: {label} is invalid: {}", listed.join("; ")),
                        });
                    }
                    DocumentOutcome::Valid(_) => ordered.push((file.clone(), value, true)),
                    DocumentOutcome::Skipped => ordered.push((file.clone(), value, false)),
                    DocumentOutcome::Empty => {}
                }
            }
        }
        ordered.sort_by_key(|(_, _, ours)| *ours);
        for (file, value, _) in ordered {
            let yaml = serde_yaml_ng::to_string(&value).unwrap_or_default();
            match self.world.create_yaml(&yaml) {
                Ok((kind, reference)) => {
                    self.log("apply", format!("{reference} ({file})"));
                    if let Some(kind) = kind {
                        self.controller.watch(kind, reference);
                    }
                }
                Err(error) => self.fail(Violation {
                    oracle: "manifests are accepted",
                    message: format!("{file}: failed to apply: {error}"),
                }),
            }
        }
    }

    /// One round: the operator reconciles what is due, the oracles check it, time moves one step,
    /// clients write, faults that are over heal, and the timeline records what changed.
    pub(crate) async fn round(&mut self) {
        let mut writes = 0;
        if !self.paused {
            self.safety.before_round(&self.world);
            let mut order: Vec<usize> = (0..self.controller.targets().len()).collect();
            // Controllers of different kinds run concurrently: any order may happen.
            for index in (1..order.len()).rev() {
                let other = self.world.random.pick(index + 1).unwrap_or(index);
                order.swap(index, other);
            }
            for index in order {
                let Some((kind, target)) = self.controller.targets().get(index).cloned() else {
                    continue;
                };
                writes += self.reconcile_if_due(kind, &target).await;
            }
            let violations = self.safety.after_round(&self.world);
            for violation in violations {
                self.fail(violation);
            }
            for lost in self.world.lost_replies.take_lost() {
                self.operator_fault_acts += 1;
                self.log("fault", lost);
            }
            if self.world.crash.crashes() > self.seen_crashes {
                self.operator_crashed();
            }
        }
        let all_ready = self
            .controller
            .targets()
            .iter()
            .all(|(_, target)| self.world.is_ready(target));
        self.world.step();
        self.run_workloads();
        self.run_faults();
        self.observe();
        self.check_serving();
        self.check_master_services();
        self.quiet_rounds = if writes == 0 && all_ready && !self.paused {
            self.quiet_rounds + 1
        } else {
            0
        };
    }

    /// The operator crashed: it restarts with nothing but what the API server and Redis hold —
    /// no backoff, no cache — at once, or after being down for the crash's duration.
    fn operator_crashed(&mut self) {
        self.operator_fault_acts += 1;
        self.seen_crashes = self.world.crash.crashes();
        self.world.crash.disarm();
        self.world.context.designs = Arc::default();
        self.world.context.cluster_tables = Arc::default();
        self.controller.restart();
        self.safety.operator_restarted();
        let down = std::mem::take(&mut self.operator_down_seconds);
        if down == 0 {
            self.log("operator", "crashed and restarted".to_owned());
            return;
        }
        self.paused = true;
        let description = format!("operator down after its crash for {down} s");
        self.log("operator", description.clone());
        self.active.push(ActiveFault {
            description,
            end: Some(self.world.clock.now() + down * 1000),
            undo: Undo::RestartOperator,
        });
    }

    /// Reconciles `target` when something changed since its last reconcile or it is due; returns
    /// the writes it made.
    pub(crate) async fn reconcile_if_due(&mut self, kind: Kind, target: &ObjectRef) -> usize {
        // A frozen cache may show the reconcile an older spec than the one stored.
        let invalid_before = !self.world.lag.is_frozen()
            && self
                .world
                .api
                .object(target)
                .is_some_and(|object| spec_is_invalid(kind, &object));
        let Some(result) = self
            .controller
            .reconcile_if_due(&self.world, kind, target)
            .await
        else {
            return 0;
        };
        match &result {
            Err(error) => self.log("reconcile", format!("{target} failed: {error}")),
            Ok(_) => self.check_ready_is_true(kind, target),
        }
        if invalid_before {
            let executed = match &result {
                Ok(outcome) => outcome.executed.as_slice(),
                Err(ReconcileError::Execute { executed, .. }) => executed.as_slice(),
                Err(ReconcileError::Observe { .. }) => &[],
            };
            for violation in writes_beyond_the_status(target, executed) {
                self.fail(violation);
            }
        }
        if self.world.api.object(target).is_none() {
            self.log("deleted", format!("{target} is gone"));
            self.controller.forget(target);
        }
        writes_of(&result)
    }

    /// Where a client of `target` sends writes (see [`World::client_entry`]).
    pub(crate) fn client_entry(&self, target: &Target) -> Option<String> {
        let (kind, reference) = kind_of(target)?;
        self.world.client_entry(kind, &reference)
    }

    pub(crate) fn write(&mut self, target: &Target, keys: usize) -> usize {
        let Some(entry) = self.client_entry(target) else {
            return 0;
        };
        let Some((_, owner)) = kind_of(target) else {
            return 0;
        };
        let prefix = format!("{}:{}", target.name, self.written);
        self.written += keys;
        self.world.write_keys_for(&owner, &entry, &prefix, keys)
    }

    pub(crate) fn run_workloads(&mut self) {
        let workloads: Vec<(Target, usize)> = self
            .workloads
            .iter()
            .map(|(target, rate)| (target.clone(), *rate))
            .collect();
        for (target, rate) in workloads {
            self.write(&target, rate);
        }
    }

    /// Runs rounds until every timed fault has ended and every CR is Ready and quiet, at most
    /// `timeout` seconds; then checks the state oracles.
    pub(crate) async fn converge(&mut self, timeout: u64) {
        let limit = self.world.clock.now() + timeout * 1000;
        while self.active.iter().any(|fault| fault.end.is_some()) && self.world.clock.now() < limit
        {
            self.round().await;
        }
        self.quiet_rounds = 0;
        let start = self.world.clock.now();
        // Faults with no end (a drain or a cut held until a later step) are not over: no bound.
        let mut liveness = self.active.is_empty().then(|| self.watch_liveness(start));
        let mut accounted = self.operator_fault_acts;
        while self.world.clock.now() < limit {
            self.round().await;
            if liveness.is_some() && self.operator_fault_acts != accounted {
                // The fault acted now: the bound counts from now, or from when the operator is
                // back when the act took it down.
                accounted = self.operator_fault_acts;
                let acted = self.world.clock.now();
                let back = self
                    .active
                    .iter()
                    .filter_map(|fault| fault.end)
                    .fold(acted, Milliseconds::max);
                liveness = Some(self.watch_liveness(back));
            }
            if let Some(watch) = liveness.as_mut() {
                for violation in watch.check(&self.world) {
                    self.fail(violation);
                }
            }
            if self.quiet_rounds >= QUIET_ROUNDS && self.verify_quiet().await {
                let took = (self.world.clock.now() - start) / 1000;
                self.log(
                    "converged",
                    format!("every CR is Ready and a reconcile changes nothing ({took} s)"),
                );
                for violation in check_converged(&self.world, self.controller.targets()) {
                    self.fail(violation);
                }
                self.check_lost_keys();
                self.check_drains_finished();
                if !self.active.iter().any(|fault| {
                    matches!(
                        fault.undo,
                        Undo::DrainRound(_) | Undo::Rejoin(_) | Undo::RecoverNode(_)
                    )
                }) {
                    self.serving = self.controller.targets().to_vec();
                }
                return;
            }
        }
        let pending: Vec<String> = self
            .controller
            .targets()
            .iter()
            .map(|(_, target)| format!("{target}: {}", status_line(&self.world, target)))
            .collect();
        self.fail(Violation {
            oracle: "converges within the bound",
            message: format!("not converged after {timeout} s: {}", pending.join("; ")),
        });
    }

    /// Watches every CR for the liveness bound of faults that healed at `healed`, counted from
    /// then, or, while the operator backs off after failures the faults caused (an API outage, a
    /// lost reply, a crash after N writes), from its retry (at most MAXIMUM_BACKOFF away, tested
    /// with the controller).
    fn watch_liveness(&self, healed: Milliseconds) -> LivenessWatch {
        let start = self
            .controller
            .backoff_ends()
            .map_or(healed, |retry| retry.max(healed));
        LivenessWatch::start(&self.world, self.controller.targets(), start)
    }

    /// A reconcile of every CR, now, changes nothing.
    pub(crate) async fn verify_quiet(&mut self) -> bool {
        let quiet = self.controller.reconciles_write_nothing(&self.world).await;
        if !quiet {
            self.quiet_rounds = 0;
        }
        quiet
    }

    pub(crate) async fn play(&mut self, index: usize) {
        let Some(step) = self.scenario.steps.get(index).cloned() else {
            return;
        };
        self.step = step.index;
        if step.jitter > 0 {
            let delay = self.world.random.next_below(step.jitter + 1);
            for _ in 0..delay {
                self.round().await;
            }
        }
        match &step.action {
            Action::Wait(seconds) => {
                self.log("step", format!("wait {seconds} s"));
                for _ in 0..*seconds {
                    self.round().await;
                }
            }
            Action::Converge(timeout) => {
                self.log("step", format!("converge (at most {timeout} s)"));
                self.converge(*timeout).await;
            }
            Action::Apply(documents) => {
                self.log("step", "apply".to_owned());
                self.apply_documents(documents);
            }
            Action::Patch {
                target,
                spec,
                metadata,
            } => {
                self.log(
                    "step",
                    format!(
                        "patch {}/{}: spec {spec} metadata {metadata}",
                        target.kind, target.name
                    ),
                );
                let Some((_, reference)) = kind_of(target) else {
                    return;
                };
                match self.world.api.object(&reference).map(Arc::unwrap_or_clone) {
                    Some(mut object) => {
                        if !spec.is_null() {
                            merge_patch(&mut object["spec"], spec);
                        }
                        if !metadata.is_null() {
                            merge_patch(&mut object["metadata"], metadata);
                        }
                        match self.world.api.update(object) {
                            Ok(_) => self.excuse_an_edit_of_a_lone_master(&reference, spec),
                            Err(error) => {
                                self.log("rejected", format!("patch of {reference}: {error}"));
                            }
                        }
                    }
                    None => self.fail(Violation {
                        oracle: "scenario names existing objects",
                        message: format!("patch: {reference} does not exist"),
                    }),
                }
            }
            Action::Delete(target) => {
                self.log("step", format!("delete {}/{}", target.kind, target.name));
                if let Some((_, reference)) = kind_of(target) {
                    let _ = redis_operator::ports::kube::KubeApi::delete(
                        &self.world.api,
                        &reference,
                        Propagation::Background,
                    )
                    .await;
                }
            }
            Action::Write { target, keys } => {
                let acknowledged = self.write(target, *keys);
                self.log(
                    "step",
                    format!(
                        "write {keys} keys to {}/{}: {acknowledged} acknowledged",
                        target.kind, target.name
                    ),
                );
            }
            Action::Workload { target, per_second } => {
                self.log(
                    "step",
                    format!(
                        "workload {per_second} keys/s to {}/{}",
                        target.kind, target.name
                    ),
                );
                if *per_second == 0 {
                    self.workloads.remove(target);
                } else {
                    self.workloads.insert(target.clone(), *per_second);
                }
            }
            Action::Fault { fault, duration } => self.start_fault(fault, *duration),
            Action::Heal => {
                self.log("step", "heal".to_owned());
                self.heal_all();
            }
            Action::Expect(expectations) => {
                self.log("step", "expect".to_owned());
                self.expect(expectations);
            }
        }
    }
}

/// Runs `scenario` from `seed`.
pub async fn run(scenario: &Scenario, seed: u64) -> RunReport {
    let world = World::with_settings(seed, scenario.nodes.clone(), scenario.settings.clone());
    let mut engine = Engine {
        world,
        scenario,
        seed,
        controller: SimulatedController::default(),
        report: RunReport {
            scenario: scenario.name.clone(),
            seed,
            ..RunReport::default()
        },
        safety: SafetyMonitor::default(),
        active: Vec::new(),
        workloads: BTreeMap::new(),
        written: 0,
        seen_crashes: 0,
        operator_fault_acts: 0,
        paused: false,
        operator_down_seconds: 0,
        step: 0,
        quiet_rounds: 0,
        seen_writes: 0,
        seen_events: 0,
        events_at_previous_expect: 0,
        last_status: BTreeMap::new(),
        last_topology: String::new(),
        last_topology_shape: TopologyShape::new(),
        statuses_seen_at: None,
        serving: Vec::new(),
        ready_pods: (None, ReadyPods::new()),
        multiple_masters: BTreeMap::new(),
    };
    engine.apply_documents(&scenario.resources);
    if engine.controller.targets().is_empty() && !scenario.resources.is_empty() {
        engine.fail(Violation {
            oracle: "manifests are valid",
            message: "no Redis, RedisReplication, RedisSentinel or RedisCluster to run".to_owned(),
        });
    }
    for index in 0..scenario.steps.len() {
        engine.play(index).await;
    }
    engine.heal_all();
    engine.report.simulated = engine.now();
    engine.report.reconciles = engine.controller.reconciles;
    engine.report.failed_reconciles = engine.controller.failed_reconciles;
    engine.report.api_writes = engine.world.api.writes_since(0).len();
    engine.report.redis_commands = engine.world.redis.writes_sent();
    engine.report.events = engine.world.api.events_since(0).len();
    engine.report.final_status = engine
        .controller
        .targets()
        .iter()
        .map(|(_, target)| (target.to_string(), status_line(&engine.world, target)))
        .collect();
    let _ = engine.seed;
    engine.report
}

/// Runs a future on a fresh single-threaded runtime (the simulator never waits on real time).
pub fn block_on<F: std::future::Future>(future: F) -> Option<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread().build().ok()?;
    Some(runtime.block_on(future))
}
