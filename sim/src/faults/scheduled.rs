//! The faults a scenario schedules (docs/scenarios.md): how each starts — on a pod or node
//! chosen by name or at random from the seed — how long it lasts, and how it heals. Pod kills,
//! process crashes (a container held down for a while), node crashes and drains (of a node
//! named, chosen, or running a chosen pod), partitions between the operator and pods, around a
//! pod, between a pod and the sentinels or between clients and pods, operator crashes (down for
//! a while) and pauses, stale reads, stalled watches that end in 410 Gone, injected API errors,
//! an API server outage, clock skew between the operator and the cluster, and slow links.
//!
//! It switches faults on and off in the world; judging what they cost is the oracles' job.

use redis_operator::json_pointer::JsonPointer;

use redis_operator::ports::clock::{Clock, Milliseconds};
use redis_operator::ports::kube::{ApiError, ObjectRef, ResourceType};

use crate::engine::run::{Engine, kind_of, resource_named};
use crate::engine::scenario::{Fault, LinkEnd, NodeChoice, PodChoice, WriteCount};
use crate::engine::world::STEP_MILLISECONDS;
use crate::fakes::api_server::Injection;
use crate::fakes::redis::ServerKind;
use crate::oracles::{Violation, servers_of};

/// A fault that is on, and how to end it.
#[derive(Clone, Debug)]
pub(crate) struct ActiveFault {
    pub(crate) description: String,
    pub(crate) end: Option<Milliseconds>,
    pub(crate) undo: Undo,
}

#[derive(Clone, Debug)]
pub(crate) enum Undo {
    RecoverNode(String),
    DrainRound(String),
    RejoinOperator(Vec<String>),
    Rejoin(Vec<(String, String)>),
    Resume,
    Thaw,
    EndOutage,
    NormalSync,
    /// The kubelet restarts a held-down container now.
    ReleaseCrashLoop(ObjectRef),
    /// The operator process starts again after being down.
    RestartOperator,
    /// Clients reach these addresses again.
    RejoinClients(Vec<String>),
    /// The watches fail with 410 Gone and list again.
    Relist,
    /// The operator's clock agrees with the world's again.
    EndClockSkew,
    /// The link between the operator and this address is fast again.
    OperatorLinkFast(String),
    /// The link between these two addresses is fast again.
    LinkFast(String, String),
}

impl Engine<'_> {
    pub(crate) fn run_faults(&mut self) {
        let now = self.world.clock.now();
        let mut index = 0;
        while index < self.active.len() {
            let fault = self.active[index].clone();
            if let Undo::DrainRound(node) = &fault.undo {
                let remaining = self.world.drain_node_round(node);
                if remaining.is_empty() && fault.end.is_none() {
                    self.log("fault", format!("{} finished", fault.description));
                }
            }
            if fault.end.is_some_and(|end| end <= now) {
                self.active.remove(index);
                self.undo(&fault);
            } else {
                index += 1;
            }
        }
    }

    pub(crate) fn undo(&mut self, fault: &ActiveFault) {
        match &fault.undo {
            Undo::RecoverNode(node) => {
                self.world.recover_node(node);
            }
            Undo::DrainRound(node) => {
                self.world.cordon_node(node, false);
            }
            Undo::RejoinOperator(addresses) => {
                for address in addresses {
                    self.world.redis.set_operator_partition(address, false);
                }
            }
            Undo::Rejoin(pairs) => {
                for (left, right) in pairs {
                    self.world.redis.set_partition(left, right, false);
                }
            }
            Undo::Resume => self.paused = false,
            Undo::Thaw => self.world.lag.thaw(),
            Undo::EndOutage => {
                self.world.api.set_outage(false);
                self.controller.relist();
            }
            Undo::NormalSync => self.world.redis.set_slow_sync(None),
            Undo::ReleaseCrashLoop(pod) => {
                self.world.release_crash_loop(&pod.namespace, &pod.name);
            }
            Undo::RestartOperator => {
                self.paused = false;
                self.controller.restart();
            }
            Undo::RejoinClients(addresses) => {
                for address in addresses {
                    self.world.redis.set_client_partition(address, false);
                }
            }
            Undo::Relist => {
                self.world.lag.thaw();
                self.controller.stall_watches(false);
            }
            Undo::EndClockSkew => self.world.operator_clock.set(0),
            Undo::OperatorLinkFast(address) => {
                self.world.lost_replies.set_operator_latency(address, 0);
            }
            Undo::LinkFast(left, right) => self.world.redis.set_latency(left, right, 0),
        }
        self.log("heal", fault.description.clone());
    }

    pub(crate) fn resolve_pod(&self, choice: &PodChoice) -> Option<ObjectRef> {
        match choice {
            PodChoice::Named(name) => self
                .world
                .objects(ResourceType::Pod)
                .iter()
                .filter_map(|pod| ObjectRef::of(pod))
                .find(|pod| &pod.name == name),
            PodChoice::Random { target, role } => {
                let (_, reference) = kind_of(target)?;
                let servers = self.world.redis.servers();
                let candidates: Vec<String> = servers_of(&servers, &reference)
                    .into_iter()
                    .filter(|server| server.alive)
                    .filter(|server| {
                        let replica =
                            server.master.is_some() || server.cluster_master_id().is_some();
                        match role.as_str() {
                            "master" => {
                                !replica
                                    && server.kind != ServerKind::Sentinel
                                    && (server.kind == ServerKind::Plain
                                        || !server.slots.is_empty())
                            }
                            "replica" => replica,
                            _ => true,
                        }
                    })
                    .map(|server| server.pod.to_string())
                    .collect();
                let pod = candidates.get(self.world.random.pick(candidates.len())?)?;
                Some(ObjectRef::new(ResourceType::Pod, &reference.namespace, pod))
            }
        }
    }

    pub(crate) fn resolve_node(&self, choice: &NodeChoice) -> Option<String> {
        match choice {
            NodeChoice::Named(name) => Some(name.clone()),
            NodeChoice::OfPod(choice) => {
                let pod = self.resolve_pod(choice)?;
                self.world
                    .api
                    .object(&pod)?
                    .at("/spec/nodeName")?
                    .as_str()
                    .map(str::to_owned)
            }
            NodeChoice::Random(target) => {
                let mut candidates: Vec<String> = match target.as_ref().and_then(kind_of) {
                    Some((_, reference)) => self
                        .world
                        .objects(ResourceType::Pod)
                        .iter()
                        .filter(|pod| {
                            pod["metadata"]["namespace"] == reference.namespace.as_str()
                                && pod["metadata"]["name"].as_str().is_some_and(|name| {
                                    name.starts_with(&format!("{}-", reference.name))
                                })
                        })
                        .filter_map(|pod| pod.at("/spec/nodeName")?.as_str().map(str::to_owned))
                        .collect(),
                    None => self
                        .world
                        .nodes()
                        .into_iter()
                        .filter(|node| node.up)
                        .map(|node| node.name)
                        .collect(),
                };
                candidates.sort();
                candidates.dedup();
                candidates
                    .get(self.world.random.pick(candidates.len())?)
                    .cloned()
            }
        }
    }

    pub(crate) fn pod_address(&self, pod: &ObjectRef) -> Option<String> {
        self.world
            .api
            .object(pod)?
            .at("/status/podIP")?
            .as_str()
            .map(str::to_owned)
    }

    /// Cuts `address` off from every server `chosen` picks (itself never); returns the pairs cut.
    fn cut_off(
        &self,
        address: &str,
        chosen: impl Fn(&crate::fakes::redis::Server) -> bool,
    ) -> Vec<(String, String)> {
        let pairs: Vec<(String, String)> = self
            .world
            .redis
            .servers()
            .into_iter()
            .filter(|server| server.ip != address && chosen(server))
            .map(|server| (address.to_owned(), server.ip))
            .collect();
        for (left, right) in &pairs {
            self.world.redis.set_partition(left, right, true);
        }
        pairs
    }

    /// The addresses of the pods chosen (those that exist and have one).
    fn pod_addresses(&self, choices: &[PodChoice]) -> Vec<String> {
        choices
            .iter()
            .filter_map(|choice| self.resolve_pod(choice))
            .filter_map(|pod| self.pod_address(&pod))
            .collect()
    }

    pub(crate) fn start_fault(&mut self, fault: &Fault, duration: u64) {
        let now = self.world.clock.now();
        let end = (duration > 0).then(|| now + duration * 1000);
        let mut risks_data = false;
        let (description, undo) = match fault {
            Fault::PodKill(choice) => {
                self.kill_or_crash_pod(fault, choice, 0);
                return;
            }
            Fault::ProcessCrash(choice) => {
                let Some(pod) = self.kill_or_crash_pod(fault, choice, duration) else {
                    return;
                };
                if end.is_none() {
                    return;
                }
                (
                    format!("{pod}'s container held down"),
                    Undo::ReleaseCrashLoop(pod),
                )
            }
            Fault::NodeCrash(choice) | Fault::NodeDrain(choice) => {
                let Some(node) = self.resolve_node(choice) else {
                    self.log("fault", format!("{fault:?}: no such node; skipped"));
                    return;
                };
                risks_data = true;
                if matches!(fault, Fault::NodeCrash(_)) {
                    if !self.world.crash_node(&node) {
                        self.fail(Violation {
                            oracle: "scenario names existing objects",
                            message: format!("node-crash: no node {node:?}"),
                        });
                        return;
                    }
                    (format!("node-crash {node}"), Undo::RecoverNode(node))
                } else {
                    self.world.drain_node_round(&node);
                    (format!("node-drain {node}"), Undo::DrainRound(node))
                }
            }
            Fault::PartitionOperator(choices) => {
                let addresses = self.pod_addresses(choices);
                for address in &addresses {
                    self.world.redis.set_operator_partition(address, true);
                }
                (
                    format!("partition-operator from {addresses:?}"),
                    Undo::RejoinOperator(addresses),
                )
            }
            Fault::IsolatePod(choice) => {
                let Some(pod) = self.resolve_pod(choice) else {
                    self.log("fault", format!("{fault:?}: no such pod; skipped"));
                    return;
                };
                let Some(address) = self.pod_address(&pod) else {
                    return;
                };
                risks_data = true;
                let pairs = self.cut_off(&address, |server| server.ip != address);
                (format!("isolate-pod {pod}"), Undo::Rejoin(pairs))
            }
            Fault::OperatorCrash(count) => {
                self.arm_operator_crash(count, duration);
                return;
            }
            Fault::PartitionSentinels(choice) => {
                let Some(address) = self
                    .resolve_pod(choice)
                    .and_then(|pod| self.pod_address(&pod))
                else {
                    self.log("fault", format!("{fault:?}: no such pod; skipped"));
                    return;
                };
                risks_data = true;
                let pairs = self.cut_off(&address, |server| server.kind == ServerKind::Sentinel);
                (
                    format!("partition-sentinels from {address}"),
                    Undo::Rejoin(pairs),
                )
            }
            Fault::PartitionClients(choices) => {
                let addresses = self.pod_addresses(choices);
                for address in &addresses {
                    self.world.redis.set_client_partition(address, true);
                }
                (
                    format!("partition-clients from {addresses:?}"),
                    Undo::RejoinClients(addresses),
                )
            }
            Fault::WatchGone => {
                self.world.lag.freeze_types(
                    &self.world.api,
                    &redis_operator::operator::caches::CACHED_TYPES,
                );
                self.controller.stall_watches(true);
                ("watch-gone".to_owned(), Undo::Relist)
            }
            Fault::OperatorPause => {
                self.paused = true;
                ("operator-pause".to_owned(), Undo::Resume)
            }
            Fault::StaleReads => {
                self.world.lag.freeze(&self.world.api);
                ("stale-reads".to_owned(), Undo::Thaw)
            }
            Fault::ApiOutage => {
                self.world.api.set_outage(true);
                ("api-outage".to_owned(), Undo::EndOutage)
            }
            Fault::SlowSync { keys_per_second } => {
                self.world.redis.set_slow_sync(Some(*keys_per_second));
                (
                    format!("slow-sync at {keys_per_second} keys/s"),
                    Undo::NormalSync,
                )
            }
            Fault::ClockSkew { seconds } => {
                self.world.operator_clock.set(seconds.saturating_mul(1000));
                (
                    format!("clock-skew: the operator's clock {seconds:+} s off"),
                    Undo::EndClockSkew,
                )
            }
            Fault::Latency { between, steps } => {
                let Some((description, undo)) = self.slow_link(between, *steps) else {
                    self.log("fault", format!("{fault:?}: no such pod; skipped"));
                    return;
                };
                (description, undo)
            }
            Fault::ApiErrors {
                verb,
                resource,
                error,
                count,
            } => {
                self.inject_api_errors(verb, resource.as_deref(), error, *count);
                return;
            }
            Fault::LostReply { through, count } => {
                self.world.lost_replies.arm(*through, *count);
                self.log(
                    "fault",
                    format!(
                        "lost-reply: the replies to the operator's next {count} writes through {} are lost",
                        through.name()
                    ),
                );
                return;
            }
        };
        if risks_data {
            self.serving.clear();
        }
        self.log(
            "fault",
            match end {
                Some(_) => format!("{description} for {duration} s"),
                None => format!("{description} until healed"),
            },
        );
        self.active.push(ActiveFault {
            description,
            end,
            undo,
        });
    }

    /// A pod-kill or process-crash (its container held down for `duration` seconds when not 0):
    /// Redis may lose the writes the pod's server acknowledged last. Returns the pod.
    fn kill_or_crash_pod(
        &mut self,
        fault: &Fault,
        choice: &PodChoice,
        duration: u64,
    ) -> Option<ObjectRef> {
        let Some(pod) = self.resolve_pod(choice) else {
            self.log("fault", format!("{fault:?}: no such pod; skipped"));
            return None;
        };
        self.serving.clear();
        if matches!(fault, Fault::PodKill(_)) {
            self.world.kill_pod(&pod.namespace, &pod.name);
            self.log("fault", format!("pod-kill {pod}"));
        } else {
            self.world
                .crash_process(&pod.namespace, &pod.name, duration * 1000);
            self.log("fault", format!("process-crash {pod}"));
        }
        Some(pod)
    }

    /// Slows the link between two ends by `steps` steps each way (see [`Fault::Latency`]);
    /// `None` when an end names no pod with an address.
    fn slow_link(&self, between: &[LinkEnd; 2], steps: u64) -> Option<(String, Undo)> {
        let delay = steps.saturating_mul(STEP_MILLISECONDS);
        let address = |end: &LinkEnd| match end {
            LinkEnd::Operator => Some(None),
            LinkEnd::Pod(choice) => self
                .resolve_pod(choice)
                .and_then(|pod| self.pod_address(&pod))
                .map(Some),
        };
        match (address(&between[0])?, address(&between[1])?) {
            (Some(left), Some(right)) => {
                self.world.redis.set_latency(&left, &right, delay);
                Some((
                    format!("latency {steps} steps between {left} and {right}"),
                    Undo::LinkFast(left, right),
                ))
            }
            (Some(pod), None) | (None, Some(pod)) => {
                let times_out = self.world.lost_replies.set_operator_latency(&pod, delay);
                let effect = if times_out {
                    "every reply after the timeout"
                } else {
                    "within the reply timeout"
                };
                Some((
                    format!("latency {steps} steps between the operator and {pod} ({effect})"),
                    Undo::OperatorLinkFast(pod),
                ))
            }
            (None, None) => None,
        }
    }

    /// An operator-crash: the operator dies after the next `count` writes, and stays down for
    /// `duration` seconds.
    fn arm_operator_crash(&mut self, count: &WriteCount, duration: u64) {
        let writes = match count {
            WriteCount::Exactly(writes) => *writes,
            WriteCount::Random(bound) => usize::try_from(
                self.world
                    .random
                    .next_below(u64::try_from(*bound).unwrap_or(1)),
            )
            .unwrap_or(0),
        };
        self.world.crash.arm(writes);
        self.operator_down_seconds = duration;
        self.log(
            "fault",
            match duration {
                0 => format!("operator-crash after {writes} more writes"),
                _ => format!("operator-crash after {writes} more writes, down for {duration} s"),
            },
        );
    }

    /// An api-errors fault: the next `count` calls of `verb` (on `resource`, or any) fail with
    /// `error`.
    fn inject_api_errors(&mut self, verb: &str, resource: Option<&str>, error: &str, count: usize) {
        let object = resource.unwrap_or("any object").to_owned();
        let api_error = match error {
            "conflict" => ApiError::Conflict {
                object: object.clone(),
                message: "the object has been modified; please apply your changes to the latest version and try again".to_owned(),
            },
            "too-many-requests" => ApiError::TooManyRequests {
                object: object.clone(),
                action: verb.to_owned(),
                message: "the server is throttling requests".to_owned(),
            },
            _ => ApiError::Transient {
                object: object.clone(),
                action: verb.to_owned(),
                message: "the server timed out".to_owned(),
            },
        };
        let verb: &'static str = match verb {
            "apply" => "apply",
            "apply-status" => "apply-status",
            "delete" => "delete",
            "evict" => "evict",
            "event" => "event",
            "remove-finalizer" => "remove-finalizer",
            "get" => "get",
            _ => "list",
        };
        let resource = resource.and_then(resource_named);
        for _ in 0..count {
            self.world.api.inject(Injection {
                verb,
                resource,
                error: api_error.clone(),
            });
        }
        self.log(
            "fault",
            format!("api-errors: the next {count} {verb} calls on {object} fail with {error}"),
        );
    }

    pub(crate) fn heal_all(&mut self) {
        for fault in std::mem::take(&mut self.active) {
            self.undo(&fault);
        }
    }
}
