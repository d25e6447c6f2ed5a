//! The operator loop the benchmarks measure with: a fresh simulated cluster, the CRs created in
//! it, and the operator reconciling each CR through the same [`SimulatedController`] as
//! `redis-sim run`, one round per simulated step. Conditions are checked before and after the reconciles of every round, so a
//! measurement reads the simulated clock at the round a change became visible.
//!
//! It measures nothing on its own and never reads wall time.

use redis_operator::json_pointer::JsonPointer;

use redis_operator::api::Kind;
use redis_operator::ports::clock::{Clock, Milliseconds};
use redis_operator::ports::kube::ObjectRef;
use serde_json::Value;

use super::BenchmarkError;
use crate::engine::clock::SIMULATION_EPOCH;
use crate::engine::controller::SimulatedController;
use crate::engine::world::{STEP_MILLISECONDS, World, WorldSettings, default_nodes};

/// A simulated cluster with the operator running in it.
pub struct Driver {
    /// The simulated cluster.
    pub world: World,
    /// The operator's controller: the CRs it watches and when each is due.
    pub controller: SimulatedController,
}

/// Where a round is when a condition is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// Before the operator reconciled in this round (what Redis and the kubelets did last step).
    BeforeReconciles,
    /// After the operator reconciled in this round.
    AfterReconciles,
}

impl Driver {
    /// An empty cluster with the default nodes, pods starting after `settings`' latencies, and
    /// random choices from `seed`.
    pub fn new(seed: u64, settings: WorldSettings) -> Driver {
        Driver {
            world: World::with_settings(seed, default_nodes(), settings),
            controller: SimulatedController::default(),
        }
    }

    /// Simulated milliseconds since the start.
    pub fn now(&self) -> Milliseconds {
        self.world.clock.now().saturating_sub(SIMULATION_EPOCH)
    }

    /// Creates every object of a YAML or JSON document (several separated by `---`), Secrets
    /// and ConfigMaps first; the operator starts watching the CRs among them. Returns the CRs.
    pub fn create(&mut self, documents: &[Value]) -> Result<Vec<ObjectRef>, BenchmarkError> {
        let mut ordered: Vec<&Value> = documents.iter().collect();
        ordered.sort_by_key(|document| {
            document
                .get("kind")
                .and_then(Value::as_str)
                .and_then(Kind::from_name)
                .is_some()
        });
        let mut created = Vec::new();
        for document in ordered {
            let text = document.to_string();
            let (kind, reference) =
                self.world
                    .create_yaml(&text)
                    .map_err(|source| BenchmarkError::Create {
                        object: describe(document),
                        message: source.to_string(),
                    })?;
            if let Some(kind) = kind {
                self.controller.watch(kind, reference.clone());
                created.push(reference);
            }
        }
        Ok(created)
    }

    /// Merges `patch` into the CR's spec, as `kubectl patch --type merge` would.
    pub fn patch_spec(&self, target: &ObjectRef, patch: &Value) -> Result<(), BenchmarkError> {
        self.world
            .patch_spec(target, patch)
            .map_err(|source| BenchmarkError::Create {
                object: target.to_string(),
                message: format!("failed to patch the spec: {source}"),
            })
    }

    /// Plays rounds for at most `limit` simulated milliseconds, calling `observe` with the world,
    /// the time and the moment before and after the reconciles of every round, until it returns
    /// true. Returns whether it did.
    pub async fn play_until(
        &mut self,
        limit: Milliseconds,
        mut observe: impl FnMut(&World, Milliseconds, Moment) -> bool,
    ) -> bool {
        let end = self.now() + limit;
        while self.now() <= end {
            if observe(&self.world, self.now(), Moment::BeforeReconciles) {
                return true;
            }
            self.controller.reconcile_due(&self.world).await;
            if observe(&self.world, self.now(), Moment::AfterReconciles) {
                return true;
            }
            self.world.step();
        }
        false
    }

    /// The first simulated time, within `limit` milliseconds, at which `condition` holds.
    pub async fn time_until(
        &mut self,
        limit: Milliseconds,
        mut condition: impl FnMut(&World) -> bool,
    ) -> Option<Milliseconds> {
        let mut reached = None;
        self.play_until(limit, |world, now, _| {
            let holds = condition(world);
            if holds {
                reached = Some(now);
            }
            holds
        })
        .await;
        reached
    }

    /// Plays rounds until the CRs converge (see [`SimulatedController::converge`]), at most
    /// `limit` simulated milliseconds; fails naming `what` otherwise.
    pub async fn converge(
        &mut self,
        limit: Milliseconds,
        what: &str,
    ) -> Result<(), BenchmarkError> {
        let rounds = usize::try_from(limit / STEP_MILLISECONDS + 1).unwrap_or(usize::MAX);
        match self.controller.converge(&self.world, rounds).await {
            Some(_) => Ok(()),
            None => Err(BenchmarkError::NotReached {
                what: what.to_owned(),
                seconds: limit / 1000,
            }),
        }
    }

    /// The CRs the operator watches.
    pub fn targets(&self) -> &[(Kind, ObjectRef)] {
        self.controller.targets()
    }
}

/// `Kind name` of a manifest, for messages.
fn describe(document: &Value) -> String {
    format!(
        "{} {}",
        document.get("kind").and_then(Value::as_str).unwrap_or("?"),
        document
            .at("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?")
    )
}

/// Whether the CR's status says Ready for its current spec (its `observedGeneration` is the
/// object's generation).
pub fn ready_for_current_spec(world: &World, target: &ObjectRef) -> bool {
    let Some(object) = world.api.object(target) else {
        return false;
    };
    let generation = object.at("/metadata/generation").and_then(Value::as_u64);
    let observed = object
        .at("/status/observedGeneration")
        .and_then(Value::as_u64);
    world.is_ready(target) && observed.is_some() && observed == generation
}
