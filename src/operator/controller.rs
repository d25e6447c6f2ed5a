//! One kube-runtime `Controller` per kind and watched namespace: it watches the CRs, the objects
//! they own (StatefulSets, Services, ConfigMaps, PodDisruptionBudgets), their pods (mapped back to
//! the CR by label) and, for RedisSentinel, the RedisReplication it monitors; each trigger runs the
//! reconcile driver once.
//!
//! It decides only when to run again: the requeue interval the reconcile asks for, exponential
//! backoff after transient errors, and waiting for a change after permanent ones. It must not
//! look inside objects beyond what mapping a trigger to its CR needs.

use crate::json_pointer::JsonPointer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{ObjectRef as RuntimeObjectRef, ReflectHandle, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::Value;
use tracing::{debug, warn};

use super::caches::{FirstSync, OwnedWatches};
use super::metrics::Metrics;
use crate::api::{API_GROUP, API_VERSION, Kind};
use crate::ports::kube::{ApiError, ObjectRef, ResourceType};
use crate::reconcile::driver::{ReconcileError, reconcile};
use crate::reconcile::execute::ExecutionError;
use crate::reconcile::{Context, Request};
use crate::resources::kinds::pod_identity;
use crate::resources::names::{INSTANCE_LABEL, SETUP_TYPE_LABEL};

/// The first wait after a transient failure; it doubles with each further failure.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// The longest wait after transient failures.
pub const MAXIMUM_BACKOFF: Duration = Duration::from_secs(300);
/// CRs of one kind reconciled at the same time (different CRs only; one CR never runs twice at
/// once).
pub const CONCURRENT_RECONCILES: u16 = 4;

/// The port's resource type of a kind.
pub fn resource_type(kind: Kind) -> ResourceType {
    match kind {
        Kind::Redis => ResourceType::Redis,
        Kind::RedisReplication => ResourceType::RedisReplication,
        Kind::RedisSentinel => ResourceType::RedisSentinel,
        Kind::RedisCluster => ResourceType::RedisCluster,
    }
}

/// The API resource of a kind, for dynamic watches (CRs are read as JSON so that one malformed
/// object cannot break the watch of all others; the reconcile validates it).
pub fn api_resource(kind: Kind) -> ApiResource {
    let resource = resource_type(kind);
    ApiResource {
        group: API_GROUP.to_owned(),
        version: API_VERSION.to_owned(),
        api_version: resource.api_version().to_owned(),
        kind: resource.kind().to_owned(),
        plural: resource.plural().to_owned(),
    }
}

/// Whether a reconcile error will not go away by trying again (the API server rejected what the
/// spec asks for): such CRs wait for a change instead of backing off.
pub fn is_permanent(error: &ReconcileError) -> bool {
    matches!(
        error,
        ReconcileError::Execute {
            source: ExecutionError::Api(ApiError::Invalid { .. }) | ExecutionError::Unnamed(_),
            ..
        } | ReconcileError::Observe {
            source: ApiError::Invalid { .. },
            ..
        }
    )
}

/// When a controller reconciles a CR again after a failed reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// The error will not go away by trying again: wait for a change of the CR or its objects.
    AwaitChange,
    /// Try again after `wait`; `failures` is the count of consecutive failures that lengthen the
    /// next wait.
    After {
        /// The wait.
        wait: Duration,
        /// Consecutive failures counted so far, this one included when it counts.
        failures: u32,
    },
}

/// What follows a failed reconcile, after `failures` counted failures in a row: a permanent
/// error waits for a change; a conflict (the reconcile wrote on a version older than the one
/// stored, which the next read repairs) is retried after the first backoff and does not lengthen
/// the waits after it, so that a CR whose writes met a lagging cache or a concurrent writer a few
/// times is not left minutes behind; any other transient error backs off exponentially.
pub fn retry_after(error: &ReconcileError, failures: u32) -> Retry {
    if is_permanent(error) {
        return Retry::AwaitChange;
    }
    if is_conflict(error) {
        return Retry::After {
            wait: FIRST_BACKOFF,
            failures,
        };
    }
    let failures = failures.saturating_add(1);
    Retry::After {
        wait: backoff(failures),
        failures,
    }
}

/// Whether a reconcile failed on a write refused for a stale version.
fn is_conflict(error: &ReconcileError) -> bool {
    matches!(
        error,
        ReconcileError::Execute {
            source: ExecutionError::Api(ApiError::Conflict { .. }),
            ..
        } | ReconcileError::Observe {
            source: ApiError::Conflict { .. },
            ..
        }
    )
}

/// The reason label of a failed reconcile.
pub fn error_reason(error: &ReconcileError) -> &'static str {
    let api_reason = |error: &ApiError| match error {
        ApiError::Conflict { .. } => "conflict",
        ApiError::Invalid { .. } => "invalid",
        ApiError::NotFound { .. } => "not_found",
        ApiError::TooManyRequests { .. } => "too_many_requests",
        ApiError::Transient { .. } => "api_transient",
    };
    match error {
        ReconcileError::Observe { source, .. } => api_reason(source),
        ReconcileError::Execute { source, .. } => match source {
            ExecutionError::Api(error) => api_reason(error),
            ExecutionError::Redis(crate::ports::redis::RedisError::Unreachable { .. }) => {
                "redis_unreachable"
            }
            ExecutionError::Redis(crate::ports::redis::RedisError::Rejected { .. }) => {
                "redis_rejected"
            }
            ExecutionError::Redis(crate::ports::redis::RedisError::Authentication { .. }) => {
                "redis_authentication"
            }
            ExecutionError::Unnamed(_) => "unnamed_object",
        },
    }
}

/// The wait before retrying after the `failures`-th consecutive transient failure.
pub fn backoff(failures: u32) -> Duration {
    let factor = 2_u32.saturating_pow(failures.saturating_sub(1).min(16));
    FIRST_BACKOFF.saturating_mul(factor).min(MAXIMUM_BACKOFF)
}

/// What every controller shares.
pub struct Shared {
    /// The ports.
    pub context: Context,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Consecutive failures per CR, for the backoff.
    failures: Mutex<HashMap<ObjectRef, u32>>,
}

impl Shared {
    /// Shared state over `context`, recording into `metrics`.
    pub fn new(context: Context, metrics: Arc<Metrics>) -> Shared {
        Shared {
            context,
            metrics,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef, u32>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One controller's context: the shared state and its kind.
struct KindContext {
    shared: Arc<Shared>,
    kind: Kind,
}

fn target_of(kind: Kind, object: &DynamicObject) -> ObjectRef {
    ObjectRef::new(
        resource_type(kind),
        object.metadata.namespace.as_deref().unwrap_or_default(),
        object.metadata.name.as_deref().unwrap_or_default(),
    )
}

async fn reconcile_object(
    object: Arc<DynamicObject>,
    context: Arc<KindContext>,
) -> Result<Action, ReconcileError> {
    let kind = context.kind;
    let shared = &context.shared;
    let target = target_of(kind, &object);
    let started = Instant::now();
    let result = reconcile(&shared.context, kind, &target).await;
    let elapsed = started.elapsed();
    let executed: &[Request] = match &result {
        Ok(outcome) => &outcome.executed,
        Err(ReconcileError::Execute { executed, .. }) => executed,
        Err(ReconcileError::Observe { .. }) => &[],
    };
    shared.metrics.record_reconcile(
        kind,
        elapsed,
        executed,
        result.as_ref().err().map(error_reason),
    );
    record_conditions(shared, kind, &target, &object, executed);
    match result {
        Ok(outcome) => {
            shared.failures().remove(&target);
            debug!(writes = outcome.writes(), requeue_after = ?outcome.requeue_after, "reconciled");
            Ok(outcome
                .requeue_after
                .map_or_else(Action::await_change, Action::requeue))
        }
        Err(error) => Err(error),
    }
}

/// Ready and degraded gauges from the status just written, or else the one the CR carries; none
/// once the CR's finalizer is gone (it is being deleted).
fn record_conditions(
    shared: &Shared,
    kind: Kind,
    target: &ObjectRef,
    object: &DynamicObject,
    executed: &[Request],
) {
    if executed.iter().any(
        |request| matches!(request, Request::RemoveFinalizer { object, .. } if object == target),
    ) {
        shared.metrics.forget(kind, &target.namespace, &target.name);
        return;
    }
    let written = executed.iter().rev().find_map(|request| match request {
        Request::ApplyStatus { object, status, .. } if object == target => Some(status.clone()),
        _ => None,
    });
    let status = written
        .or_else(|| object.data.get("status").cloned())
        .unwrap_or(Value::Null);
    shared
        .metrics
        .record_conditions(kind, &target.namespace, &target.name, &status);
}

fn error_policy(
    object: Arc<DynamicObject>,
    error: &ReconcileError,
    context: Arc<KindContext>,
) -> Action {
    let target = target_of(context.kind, &object);
    let mut failures = context.shared.failures();
    let counted = failures.get(&target).copied().unwrap_or_default();
    match retry_after(error, counted) {
        Retry::AwaitChange => {
            warn!(object = %target, %error, "reconcile failed permanently; waiting for a change");
            failures.remove(&target);
            Action::await_change()
        }
        Retry::After {
            wait,
            failures: count,
        } => {
            failures.insert(target.clone(), count);
            warn!(object = %target, %error, failures = count, retry_in_seconds = wait.as_secs(), "reconcile failed");
            Action::requeue(wait)
        }
    }
}

fn dynamic_api(
    client: &Client,
    namespace: Option<&str>,
    resource: &ApiResource,
) -> Api<DynamicObject> {
    match namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, resource),
        None => Api::all_with(client.clone(), resource),
    }
}

/// The namespace and name of the CR a pod belongs to, from its instance label.
pub fn pod_owner(pod: &Pod) -> Option<(String, String)> {
    let namespace = pod.metadata.namespace.clone()?;
    let instance = pod.metadata.labels.as_ref()?.get(INSTANCE_LABEL)?.clone();
    Some((namespace, instance))
}

/// The namespace and name of every RedisSentinel among `sentinels` that monitors `replication`.
pub fn sentinels_monitoring(
    sentinels: &[Arc<DynamicObject>],
    replication: &DynamicObject,
) -> Vec<(String, String)> {
    let (Some(namespace), Some(name)) = (
        replication.metadata.namespace.as_deref(),
        replication.metadata.name.as_deref(),
    ) else {
        return Vec::new();
    };
    sentinels
        .iter()
        .filter(|sentinel| {
            sentinel.metadata.namespace.as_deref() == Some(namespace)
                && monitored_replication(sentinel) == Some(name)
        })
        .filter_map(|sentinel| Some((namespace.to_owned(), sentinel.metadata.name.clone()?)))
        .collect()
}

/// The name a RedisSentinel's spec gives the RedisReplication it monitors.
fn monitored_replication(sentinel: &DynamicObject) -> Option<&str> {
    sentinel
        .data
        .at("/spec/redisSentinelConfig/redisReplicationName")
        .and_then(Value::as_str)
}

/// The changes of the shared watches of owned objects, for one controller.
pub struct OwnedChanges {
    /// StatefulSet changes.
    pub stateful_sets: ReflectHandle<StatefulSet>,
    /// Service changes.
    pub services: ReflectHandle<Service>,
    /// ConfigMap changes.
    pub config_maps: ReflectHandle<ConfigMap>,
    /// PodDisruptionBudget changes.
    pub budgets: ReflectHandle<PodDisruptionBudget>,
    /// Pod changes.
    pub pods: ReflectHandle<Pod>,
}

impl OwnedChanges {
    /// Subscribes to `watches`; `None` once they have started.
    pub fn subscribe(watches: &OwnedWatches) -> Option<OwnedChanges> {
        Some(OwnedChanges {
            stateful_sets: watches.stateful_sets.subscribe()?,
            services: watches.services.subscribe()?,
            config_maps: watches.config_maps.subscribe()?,
            budgets: watches.budgets.subscribe()?,
            pods: watches.pods.subscribe()?,
        })
    }
}

/// A controller for `kind` in `namespace` (all when `None`), ready to run; `first_sync` runs when
/// its CR cache has first synced. Owned objects and pods come from the shared watches (`owned`),
/// so one watch per type serves every kind.
///
/// The controller is built on a reflector of its own so that the first sync is reported from the
/// watch stream itself: kube-runtime's `Store::wait_until_ready` keeps a single waker per store,
/// and the controller's runner already waits on it, so a second waiter could steal its wakeup.
pub fn build(
    client: &Client,
    kind: Kind,
    namespace: Option<&str>,
    owned: OwnedChanges,
    first_sync: FirstSync,
) -> Controller<DynamicObject> {
    let resource = api_resource(kind);
    let writer = Writer::new(resource.clone());
    let reader = writer.as_reader();
    let mut first_sync = Some(first_sync);
    let main = watcher::watcher(
        dynamic_api(client, namespace, &resource),
        watcher::Config::default(),
    )
    .reflect(writer)
    .inspect(move |event| {
        if matches!(event, Ok(watcher::Event::InitDone))
            && let Some(report) = first_sync.take()
        {
            report();
        }
    })
    .applied_objects();
    let (setup_type, _) = pod_identity(kind, "");
    let pod_resource = resource.clone();
    let mut controller = Controller::for_stream_with(main, reader, resource.clone())
        .owns_shared_stream(owned.stateful_sets)
        .owns_shared_stream(owned.services)
        .owns_shared_stream(owned.config_maps)
        .owns_shared_stream(owned.budgets)
        .watches_shared_stream_with(
            owned.pods,
            move |pod: Arc<Pod>| {
                let labels = pod.metadata.labels.as_ref()?;
                if labels.get(SETUP_TYPE_LABEL).map(String::as_str) != Some(setup_type) {
                    return None;
                }
                let (namespace, name) = pod_owner(&pod)?;
                Some(RuntimeObjectRef::new_with(&name, pod_resource.clone()).within(&namespace))
            },
            (),
        );
    if kind == Kind::RedisSentinel {
        let sentinels: Store<DynamicObject> = controller.store();
        let replication = api_resource(Kind::RedisReplication);
        let sentinel_resource = resource;
        controller = controller.watches_with(
            dynamic_api(client, namespace, &replication),
            replication.clone(),
            watcher::Config::default(),
            move |replication| {
                sentinels_monitoring(&sentinels.state(), &replication)
                    .into_iter()
                    .map(|(namespace, name)| {
                        RuntimeObjectRef::new_with(&name, sentinel_resource.clone())
                            .within(&namespace)
                    })
                    .collect::<Vec<_>>()
            },
        );
    }
    controller.with_config(
        kube::runtime::controller::Config::default().concurrency(CONCURRENT_RECONCILES),
    )
}

/// Runs `controller` for `kind` until `shutdown` resolves (then finishes the reconciles in
/// flight).
pub async fn run(
    controller: Controller<DynamicObject>,
    kind: Kind,
    shared: Arc<Shared>,
    shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let context = Arc::new(KindContext { shared, kind });
    controller
        .graceful_shutdown_on(async move {
            let _ = shutdown.await;
        })
        .run(reconcile_object, error_policy, context)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => debug!(kind = kind.name(), %object, "reconcile done"),
                Err(kube::runtime::controller::Error::ReconcilerFailed(..)) => {}
                Err(kube::runtime::controller::Error::ObjectNotFound(object)) => {
                    debug!(kind = kind.name(), %object, "the object is gone")
                }
                Err(error) => warn!(kind = kind.name(), %error, "watch failed; retrying"),
            }
        })
        .await;
}
