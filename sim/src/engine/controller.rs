//! The operator's controller as the step tier runs it: which CRs it watches, when it reconciles
//! each — when anything it watches changed since that CR's last reconcile, when the delay the
//! reconcile asked for has passed (at most the resync), or when the wait after a failed
//! reconcile has passed (the production controller's `retry_after`) — and when the CRs count as
//! converged. `redis-sim run`, `apply` and
//! `explore`, the benchmarks and [`World::converge`] all reconcile through this one loop.
//!
//! It calls the operator's pure reconcile and reads the world's clock and API server version;
//! it steps the world only inside [`SimulatedController::converge`], and it checks no oracle.

use std::collections::BTreeMap;

use redis_operator::api::Kind;
use redis_operator::operator::controller::{Retry, retry_after};
use redis_operator::ports::clock::{Clock, Milliseconds};
use redis_operator::ports::kube::ObjectRef;
use redis_operator::reconcile::driver::{ReconcileError, ReconcileOutcome};

use crate::engine::world::World;

/// Milliseconds after which a controller reconciles a CR again when nothing changed (its resync).
pub const RESYNC_MILLISECONDS: Milliseconds = 30_000;

/// Rounds in a row in which every CR is Ready and no reconcile wrote, before a converging loop
/// checks that a reconcile of each CR writes nothing.
pub const QUIET_ROUNDS: usize = 2;

/// The result of one reconcile.
pub type ReconcileResult = Result<ReconcileOutcome, ReconcileError>;

/// When the operator reconciles a CR next.
#[derive(Clone, Copy, Debug, Default)]
struct Schedule {
    /// The API server version right after the last reconcile: any later change wakes the CR.
    seen_version: Option<u64>,
    /// When the CR is due even if nothing changes.
    due: Milliseconds,
    /// Failed reconciles in a row that lengthen the backoff.
    failures: u32,
}

/// The writes a reconcile made, for telling a quiet round from a busy one: a failed reconcile
/// counts as one, since it will be retried.
pub fn writes_of(result: &ReconcileResult) -> usize {
    match result {
        Ok(outcome) => outcome.writes(),
        Err(_) => 1,
    }
}

/// Milliseconds until a CR is reconciled again after a reconcile that succeeded: the delay it
/// asked for, at most the resync.
fn requeue_delay(outcome: &ReconcileOutcome) -> Milliseconds {
    outcome
        .requeue_after
        .map_or(RESYNC_MILLISECONDS, |delay| {
            Milliseconds::try_from(delay.as_millis()).unwrap_or(RESYNC_MILLISECONDS)
        })
        .min(RESYNC_MILLISECONDS)
}

/// Milliseconds of a wait.
fn milliseconds(wait: std::time::Duration) -> Milliseconds {
    Milliseconds::try_from(wait.as_millis()).unwrap_or(Milliseconds::MAX)
}

/// The simulated operator: the CRs it watches and when each is due.
#[derive(Debug, Default)]
pub struct SimulatedController {
    targets: Vec<(Kind, ObjectRef)>,
    schedules: BTreeMap<ObjectRef, Schedule>,
    /// Reconciles run so far, the forced ones of [`SimulatedController::reconcile_now`] included.
    pub reconciles: usize,
    /// Of those, the ones that failed.
    pub failed_reconciles: usize,
    /// The watches have stalled: a change wakes no reconcile; only due times do.
    watches_stalled: bool,
}

impl SimulatedController {
    /// A controller watching `targets`.
    pub fn watching(targets: &[(Kind, ObjectRef)]) -> SimulatedController {
        SimulatedController {
            targets: targets.to_vec(),
            ..SimulatedController::default()
        }
    }

    /// Starts watching a CR (once).
    pub fn watch(&mut self, kind: Kind, target: ObjectRef) {
        if !self.targets.iter().any(|(_, known)| *known == target) {
            self.targets.push((kind, target));
        }
    }

    /// Stops watching a CR (it was deleted).
    pub fn forget(&mut self, target: &ObjectRef) {
        self.targets.retain(|(_, known)| known != target);
        self.schedules.remove(target);
    }

    /// Every watched CR is reconciled at the next round, as after the watches re-list (a watch
    /// broken by an API server outage, or expired with 410 Gone, starts again with a list that
    /// triggers a reconcile of every object).
    pub fn relist(&mut self) {
        for schedule in self.schedules.values_mut() {
            schedule.seen_version = None;
        }
    }

    /// The watches stall (`true`): changes stop waking reconciles, while the delays reconciles
    /// asked for and the resync still run them; or they fail with 410 Gone and list again
    /// (`false`), which reconciles every CR.
    pub fn stall_watches(&mut self, stalled: bool) {
        self.watches_stalled = stalled;
        if !stalled {
            self.relist();
        }
    }

    /// The operator process restarted: its backoffs are gone and its first lists reconcile
    /// every CR at once.
    pub fn restart(&mut self) {
        self.schedules.clear();
        self.watches_stalled = false;
    }

    /// When the last of the CRs backing off after failed reconciles is tried again; `None` when
    /// none is backing off.
    pub fn backoff_ends(&self) -> Option<Milliseconds> {
        self.schedules
            .values()
            .filter(|schedule| schedule.failures > 0)
            .map(|schedule| schedule.due)
            .max()
    }

    /// The CRs watched, in the order they were first seen.
    pub fn targets(&self) -> &[(Kind, ObjectRef)] {
        &self.targets
    }

    /// Reconciles `target` when something changed since its last reconcile or it is due;
    /// `None` when it was not due.
    pub async fn reconcile_if_due(
        &mut self,
        world: &World,
        kind: Kind,
        target: &ObjectRef,
    ) -> Option<ReconcileResult> {
        let now = world.clock.now();
        let schedule = self.schedules.get(target).copied().unwrap_or_default();
        let changed = schedule.seen_version != Some(world.api.version());
        // A CR never reconciled yet has no schedule: its first list wakes it even while the
        // watches stall.
        let woken = changed && (!self.watches_stalled || schedule.seen_version.is_none());
        if !woken && now < schedule.due {
            return None;
        }
        let result = self.reconcile_now(world, kind, target).await;
        let next = match &result {
            Ok(outcome) => Schedule {
                seen_version: Some(world.api.version()),
                due: now + requeue_delay(outcome),
                failures: 0,
            },
            Err(error) => match retry_after(error, schedule.failures) {
                // Production waits for a change; the resync bounds the wait as after a success.
                Retry::AwaitChange => Schedule {
                    seen_version: Some(world.api.version()),
                    due: now + RESYNC_MILLISECONDS,
                    failures: 0,
                },
                Retry::After { wait, failures } => Schedule {
                    seen_version: Some(world.api.version()),
                    due: now.saturating_add(milliseconds(wait)),
                    failures,
                },
            },
        };
        self.schedules.insert(target.clone(), next);
        Some(result)
    }

    /// Reconciles `target` now, whether due or not, without changing when it is due next.
    pub async fn reconcile_now(
        &mut self,
        world: &World,
        kind: Kind,
        target: &ObjectRef,
    ) -> ReconcileResult {
        self.reconciles += 1;
        let result = world.reconcile(kind, target).await;
        if result.is_err() {
            self.failed_reconciles += 1;
        }
        result
    }

    /// Reconciles every watched CR that is due, in the order they were first seen; returns the
    /// writes made (see [`writes_of`]).
    pub async fn reconcile_due(&mut self, world: &World) -> usize {
        let mut writes = 0;
        for (kind, target) in self.targets.clone() {
            if let Some(result) = self.reconcile_if_due(world, kind, &target).await {
                writes += writes_of(&result);
            }
        }
        writes
    }

    /// Whether a reconcile of every watched CR, now, writes nothing.
    pub async fn reconciles_write_nothing(&mut self, world: &World) -> bool {
        for (kind, target) in self.targets.clone() {
            if writes_of(&self.reconcile_now(world, kind, &target).await) > 0 {
                return false;
            }
        }
        true
    }

    /// Plays rounds (the due reconciles, then a step of the world) until every watched CR is
    /// Ready, [`QUIET_ROUNDS`] rounds in a row wrote nothing and a reconcile of each CR then
    /// writes nothing; returns the rounds played, or `None` when `maximum_rounds` were not
    /// enough.
    pub async fn converge(&mut self, world: &World, maximum_rounds: usize) -> Option<usize> {
        let mut quiet_rounds = 0;
        for round in 0..maximum_rounds {
            let writes = self.reconcile_due(world).await;
            let all_ready = self
                .targets
                .iter()
                .all(|(_, target)| world.is_ready(target));
            world.step();
            quiet_rounds = if writes == 0 && all_ready {
                quiet_rounds + 1
            } else {
                0
            };
            if quiet_rounds >= QUIET_ROUNDS {
                if self.reconciles_write_nothing(world).await {
                    return Some(round);
                }
                quiet_rounds = 0;
            }
        }
        None
    }
}
