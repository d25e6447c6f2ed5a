//! The driver: one reconcile of one CR. Observe, plan, execute; when the API server rejects an
//! update as invalid, observe and plan once more knowing it, so the rejection is recorded (or the
//! StatefulSet recreated) in the same reconcile instead of being retried. An eviction refused by a
//! PodDisruptionBudget is handled the same way: the next plan reports it and does not repeat it.
//! An Event already published in this reconcile is not published again by a re-plan.

use crate::json_pointer::JsonPointer;
use std::time::Duration;

use tracing::{debug, instrument, warn};

use super::execute::{ExecutionError, ExecutionReport, execute};
use super::observe::{Observed, observe, observe_redis};
use super::plan::{describe, plan};
use super::plan_input::{PlanInput, RefusedEviction};
use super::{Context, Request};
use crate::api::Kind;
use crate::api::common::RejectedUpdate;
use crate::ports::kube::{ApiError, ObjectRef};
use crate::reconcile::difference::desired_hash;
use crate::topology::observation::RedisObservation;

/// How a reconcile ended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReconcileOutcome {
    /// Every request that ran, in order.
    pub executed: Vec<Request>,
    /// When to reconcile again; `None` waits for a change.
    pub requeue_after: Option<Duration>,
}

impl ReconcileOutcome {
    /// Requests that changed state (Events and reads excluded).
    pub fn writes(&self) -> usize {
        self.executed
            .iter()
            .filter(|request| !matches!(request, Request::Event(_)) && request.is_write())
            .count()
    }
}

/// Why a reconcile failed; the caller backs off and tries again.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Observation failed.
    #[error("failed to observe {object}: {source}")]
    Observe {
        /// The CR.
        object: String,
        /// The cause.
        source: ApiError,
    },
    /// A request failed.
    #[error("failed to reconcile {object}: {source}")]
    Execute {
        /// The CR.
        object: String,
        /// The cause.
        source: ExecutionError,
        /// What ran before the failure.
        executed: Vec<Request>,
    },
}

/// The most times one reconcile re-plans after rejections (one per owned object that could be
/// rejected is plenty).
const MAXIMUM_REPLANS: usize = 4;

/// Reconciles the CR `target` of `kind` once.
#[instrument(skip(context), fields(kind = kind.name(), namespace = %target.namespace, name = %target.name))]
pub async fn reconcile(
    context: &Context,
    kind: Kind,
    target: &ObjectRef,
) -> Result<ReconcileOutcome, ReconcileError> {
    let mut outcome = ReconcileOutcome::default();
    let mut rejections: Vec<RejectedUpdate> = Vec::new();
    let mut refused_evictions: Vec<RefusedEviction> = Vec::new();
    for _ in 0..=MAXIMUM_REPLANS {
        let observe_error = |source| ReconcileError::Observe {
            object: target.to_string(),
            source,
        };
        let observed = observe(context, kind, target)
            .await
            .map_err(observe_error)?;
        let design = match &observed.resource {
            Some(resource) => Some(context.designs.design(kind, target, resource)),
            None => {
                context.designs.forget(target);
                None
            }
        };
        let redis = match design.as_deref().map(|design| &design.validated) {
            Some(Ok(resource)) if !deleting(&observed) => {
                observe_redis(context, resource, &observed, target)
                    .await
                    .map_err(observe_error)?
            }
            _ => RedisObservation::default(),
        };
        let plan = plan(PlanInput {
            kind,
            target,
            observed: &observed,
            now: context.clock.now(),
            new_rejections: &rejections,
            refused_evictions: &refused_evictions,
            design: design.as_deref(),
            redis: &redis,
        });
        debug!(requests = plan.requests.len(), "planned");
        // A re-plan repeats the Events of the plans before it (a first rejection is still new to
        // the second plan); each is published once per reconcile.
        let requests: Vec<Request> = plan
            .requests
            .into_iter()
            .filter(|request| {
                !matches!(request, Request::Event(_)) || !outcome.executed.contains(request)
            })
            .collect();
        let ExecutionReport { completed, failure } = execute(context, requests).await;
        if outcome.executed.is_empty() {
            outcome.executed = completed;
        } else {
            outcome.executed.extend(completed);
        }
        outcome.requeue_after = plan.requeue_after;
        let Some((request, error)) = failure else {
            return Ok(outcome);
        };
        match (&request, &error) {
            (Request::Apply(object), ExecutionError::Api(ApiError::Invalid { message, .. }))
                if !rejections.iter().any(|rejection| {
                    Some(&rejection.object)
                        == ObjectRef::of(object)
                            .map(|reference| describe(&reference))
                            .as_ref()
                }) =>
            {
                let Some(reference) = ObjectRef::of(object) else {
                    break;
                };
                warn!(object = %reference, %message, "update rejected as invalid");
                rejections.push(RejectedUpdate {
                    object: describe(&reference),
                    desired_hash: desired_hash(object),
                    message: message.clone(),
                });
            }
            // A PodDisruptionBudget that allows no disruption now is a state to report and wait
            // out, not a failure to back off from: the next plan says so in the status.
            (
                Request::Evict(pod),
                ExecutionError::Api(ApiError::TooManyRequests { message, .. }),
            ) if !refused_evictions
                .iter()
                .any(|refused| refused.pod == pod.name) =>
            {
                warn!(pod = %pod, %message, "eviction refused");
                refused_evictions.push(RefusedEviction {
                    pod: pod.name.clone(),
                    message: message.clone(),
                });
            }
            _ => {
                return Err(ReconcileError::Execute {
                    object: target.to_string(),
                    source: error,
                    executed: outcome.executed,
                });
            }
        }
    }
    Ok(outcome)
}

fn deleting(observed: &Observed) -> bool {
    observed
        .resource
        .as_ref()
        .and_then(|resource| resource.at("/metadata/deletionTimestamp"))
        .is_some_and(|time| !time.is_null())
}
