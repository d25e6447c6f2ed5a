//! Planning: from what was observed to the next requests, as data. Pure: no client, no `.await`.
//!
//! The plan applies every owned object that differs from what the spec asks for, deletes owned
//! objects no longer asked for, keeps the finalizer, reports progress in the status, and on
//! deletion removes claims (unless kept) before it lets the CR go. A write the API server rejected
//! as invalid is not sent again until the spec changes what would be written; with the recreate
//! annotation a rejected StatefulSet is deleted with its pods orphaned, to be created anew.

use crate::json_pointer::JsonPointer;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use super::Request;
use super::difference::{desired_hash, needs_apply, set_applied_hash};
use super::plan_input::PlanInput;
use super::pod_problems::{PodsObserved, problem_events, replace_stuck_pods, troubled_pods};
use super::status::{
    ConditionType, StatusFacts, build_status, degraded_message, invalid_spec_facts,
    recorded_rejections, status_facts,
};
use super::topology_requests::{TopologyOutcome, plan_topology};
use crate::api::common::RejectedUpdate;
use crate::api::document::ValidatedResource;
use crate::api::{Kind, RECREATE_STATEFULSET_ANNOTATION, annotation_is_true, skips_reconcile};
use crate::ports::kube::{
    EventReason, EventRecord, EventType, ObjectRef, Propagation, ResourceType,
};
use crate::resources::group::PodGroup;
use crate::resources::names::{
    CLUSTER_FINALIZER, REDIS_FINALIZER, REPLICATION_FINALIZER, SENTINEL_FINALIZER,
};
use crate::resources::{DesiredObjects, groups_of};
use crate::topology::observation::PodInfo;

/// How soon to look again while something is changing.
pub const PROGRESS_REQUEUE: Duration = Duration::from_secs(5);
/// How soon to look again after this reconcile sent Redis a write: the topology moves in steps
/// that each wait for the last to take effect (a slot batch moved, a node met, a replica
/// attached), which Redis applies within about a second; waiting the full progress interval
/// between batches would make a scale-out last many times the pods' start.
pub const STEP_REQUEUE: Duration = Duration::from_secs(1);
/// How soon to look again once converged (watches bring changes sooner).
pub const RESYNC_REQUEUE: Duration = Duration::from_secs(300);
/// How soon to look again at a converged CR whose Redis topology can change on its own: Redis
/// Cluster and the sentinels fail over without any Kubernetes object changing, and until the
/// operator looks, the `-master` Service and the status name a master that was replaced.
pub const REDIS_POLL_REQUEUE: Duration = Duration::from_secs(10);
/// How soon to look again at a CR whose reconcile is paused by annotation.
pub const SKIP_REQUEUE: Duration = Duration::from_secs(30);

/// The requests of one reconcile and when to reconcile again.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Requests, in the order they must run.
    pub requests: Vec<Request>,
    /// When to reconcile again; `None` waits for a change (invalid spec).
    pub requeue_after: Option<Duration>,
}

/// The finalizer of a kind.
pub fn finalizer_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Redis => REDIS_FINALIZER,
        Kind::RedisReplication => REPLICATION_FINALIZER,
        Kind::RedisSentinel => SENTINEL_FINALIZER,
        Kind::RedisCluster => CLUSTER_FINALIZER,
    }
}

/// The next requests for the CR.
pub fn plan(input: PlanInput<'_>) -> Plan {
    let Some(resource) = &input.observed.resource else {
        return Plan::default();
    };
    let metadata = &resource["metadata"];
    if metadata
        .get("deletionTimestamp")
        .is_some_and(|time| !time.is_null())
    {
        return plan_deletion(input, resource);
    }
    let annotations: Option<std::collections::BTreeMap<String, String>> =
        serde_json::from_value(metadata["annotations"].clone()).ok();
    if skips_reconcile(input.kind, annotations.as_ref()) {
        return Plan {
            requests: Vec::new(),
            requeue_after: Some(SKIP_REQUEUE),
        };
    }
    match input
        .design
        .map(|design| (&design.validated, &design.desired))
    {
        Some((Ok(validated), desired)) => {
            plan_valid(input, resource, validated, desired, annotations.as_ref())
        }
        Some((Err(errors), _)) => {
            let message = errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            plan_invalid(input, resource, &message)
        }
        None => Plan::default(),
    }
}

fn generation_of(resource: &Value) -> Option<i64> {
    resource.at("/metadata/generation").and_then(Value::as_i64)
}

fn event(
    input: PlanInput<'_>,
    event_type: EventType,
    reason: EventReason,
    message: String,
) -> Request {
    Request::Event(EventRecord {
        regarding: input.target.clone(),
        event_type,
        reason: reason.as_str().to_owned(),
        message,
    })
}

/// Adds a status write when the computed status differs from the live one, on the condition
/// that the CR is still the version it was computed from: a status computed from a lagging cache
/// is refused rather than undoing a newer one. A status that names another master goes first: the
/// master a promotion or hand-over makes is recorded before Redis is changed, so a change Redis
/// made is never left unrecorded (the planner keeps a recorded master that comes back), and a
/// stale read stops the reconcile before it acts.
fn write_status(
    input: PlanInput<'_>,
    resource: &Value,
    facts: &StatusFacts,
    requests: &mut Vec<Request>,
) {
    let previous = resource.get("status").filter(|status| !status.is_null());
    let status = build_status(
        input.kind,
        facts,
        previous,
        generation_of(resource),
        input.now,
    );
    if previous == Some(&status) {
        return;
    }
    let read_version = resource
        .at("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let names_another_master =
        status.get("masterNode") != previous.and_then(|previous| previous.get("masterNode"));
    if names_another_master {
        requests.insert(
            0,
            Request::ApplyStatus {
                object: input.target.clone(),
                status,
                resource_version: read_version,
            },
        );
        return;
    }
    // The operator's own write of the CR earlier in this reconcile (its finalizer) moves its
    // version on.
    let rewritten = requests.iter().any(|request| {
        matches!(request, Request::Apply(object) if ObjectRef::of(object).as_ref() == Some(input.target))
    });
    requests.push(Request::ApplyStatus {
        object: input.target.clone(),
        status,
        resource_version: read_version.filter(|_| !rewritten),
    });
}

fn plan_invalid(input: PlanInput<'_>, resource: &Value, message: &str) -> Plan {
    let mut requests = Vec::new();
    // One Event per distinct reason: the Degraded condition already carries this one.
    if degraded_message(resource.get("status")) != message {
        requests.push(event(
            input,
            EventType::Warning,
            EventReason::InvalidSpec,
            format!("the spec is invalid: {message}"),
        ));
    }
    let facts = invalid_spec_facts(input.kind, message);
    write_status(input, resource, &facts, &mut requests);
    Plan {
        requests,
        requeue_after: None,
    }
}

fn has_finalizer(resource: &Value, finalizer: &str) -> bool {
    resource
        .at("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|finalizers| finalizers.iter().any(|entry| entry == finalizer))
}

fn plan_deletion(input: PlanInput<'_>, resource: &Value) -> Plan {
    let finalizer = finalizer_of(input.kind);
    if !has_finalizer(resource, finalizer) {
        return Plan::default();
    }
    let mut requests = Vec::new();
    // Read straight from the object: a CR whose spec never validated must still be deletable.
    let keep_claims = resource.at("/spec/storage/keepAfterDelete") == Some(&Value::Bool(true));
    if !keep_claims {
        for claim in &input.observed.claims {
            if claim.at("/metadata/deletionTimestamp").is_none()
                && let Some(reference) = ObjectRef::of(claim)
            {
                requests.push(Request::Delete {
                    object: reference,
                    propagation: Propagation::Background,
                });
            }
        }
    }
    requests.push(Request::RemoveFinalizer {
        object: input.target.clone(),
        finalizer: finalizer.to_owned(),
    });
    Plan {
        requests,
        requeue_after: None,
    }
}

fn plan_valid(
    input: PlanInput<'_>,
    resource: &Value,
    validated: &ValidatedResource,
    desired: &DesiredObjects,
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> Plan {
    let mut requests: Vec<Request> = finalizer_request(input, resource).into_iter().collect();
    let mut writes_pending = !requests.is_empty();
    let mut topology = plan_topology(input, validated);
    let desired = hold_statefulset_replicas(desired, &topology);
    let recreate = annotation_is_true(annotations, RECREATE_STATEFULSET_ANNOTATION);
    let previous_status = resource.get("status").filter(|status| !status.is_null());
    let recorded = active_rejections(&desired, recorded_rejections(previous_status));
    let rejections = sort_rejections(input, recreate, recorded, &mut requests);
    let recreating = recreate_statefulsets(input, &desired, &rejections.to_recreate, &mut requests);
    writes_pending |= !recreating.is_empty();
    writes_pending |= apply_desired(
        input,
        &desired,
        &recreating,
        &rejections.standing,
        &mut requests,
    );
    writes_pending |= topology.writes_pending();
    let redis_writes_pending = topology.redis_writes_pending();
    append_topology_requests(input, &mut topology, &mut requests);
    // After the topology's work and labels: a reconcile that fails before them does not report
    // what it did not do, and the next one reports it (the labels are the record of a master
    // change, so its Event is published only with them).
    for (reason, message) in &topology.events {
        let event_type = if reason.warns() {
            EventType::Warning
        } else {
            EventType::Normal
        };
        requests.push(event(input, event_type, *reason, message.clone()));
    }
    // A refusal is published once: when the live Degraded condition does not name it yet.
    if let Some(refusal) = topology.needs_a_person()
        && !degraded_message(previous_status).contains(refusal.message())
    {
        requests.push(event(
            input,
            EventType::Warning,
            EventReason::OperationRefused,
            refusal.to_string(),
        ));
    }
    for resize in claim_resizes(input, &desired) {
        writes_pending = true;
        requests.push(resize);
    }
    writes_pending |= delete_undesired(input, &desired, &mut requests);
    // Read once for the pod problems and the status.
    let groups = groups_of(validated);
    let pods = PodInfo::read_all(&input.observed.pods);
    let troubled = troubled_pods(&pods, &groups);
    writes_pending |=
        report_pod_problems(input, &groups, &troubled, previous_status, &mut requests);
    let facts = status_facts(
        input,
        &groups,
        &PodsObserved {
            all: &pods,
            troubled: &troubled,
        },
        writes_pending,
        &rejections.standing,
        &topology,
    );
    let converged = !writes_pending
        && facts
            .conditions
            .iter()
            .any(|condition| condition.condition_type == ConditionType::Ready && condition.status);
    write_status(input, resource, &facts, &mut requests);
    Plan {
        requests,
        requeue_after: Some(if converged {
            converged_requeue(input.kind)
        } else if redis_writes_pending || awaits_a_master(input.kind, &topology) {
            STEP_REQUEUE
        } else {
            PROGRESS_REQUEUE
        }),
    }
}

/// When to look again at a converged CR of `kind`.
fn converged_requeue(kind: Kind) -> Duration {
    match kind {
        Kind::Redis => RESYNC_REQUEUE,
        Kind::RedisReplication | Kind::RedisSentinel | Kind::RedisCluster => REDIS_POLL_REQUEUE,
    }
}

/// Events for pods that cannot start or keep running (each problem once), and the evictions
/// that replace pods stuck on a replaced template; returns whether it evicts any.
fn report_pod_problems(
    input: PlanInput<'_>,
    groups: &[PodGroup<'_>],
    troubled: &[&PodInfo],
    previous_status: Option<&Value>,
    requests: &mut Vec<Request>,
) -> bool {
    for (event_type, reason, message) in problem_events(previous_status, troubled) {
        requests.push(event(input, event_type, reason, message));
    }
    let replacements = replace_stuck_pods(input, groups, troubled);
    let replacing = !replacements.is_empty();
    for (eviction, message) in replacements {
        requests.push(eviction);
        requests.push(event(
            input,
            EventType::Normal,
            EventReason::StuckPodReplaced,
            message,
        ));
    }
    replacing
}

/// Adds the kind's finalizer to a CR that lacks it.
fn finalizer_request(input: PlanInput<'_>, resource: &Value) -> Option<Request> {
    let finalizer = finalizer_of(input.kind);
    (!has_finalizer(resource, finalizer)).then(|| {
        Request::Apply(json!({
            "apiVersion": crate::api::API_GROUP_VERSION,
            "kind": input.kind.name(),
            "metadata": {
                "name": input.target.name,
                "namespace": input.target.namespace,
                "finalizers": [finalizer],
            },
        }))
    })
}

/// The rejected updates of one reconcile, sorted.
struct SortedRejections {
    /// Rejections that stand: their objects are not sent again until the spec changes them.
    standing: Vec<RejectedUpdate>,
    /// Rejected StatefulSets the recreate annotation lets the operator recreate.
    to_recreate: Vec<RejectedUpdate>,
}

/// Sorts the recorded rejections and those of this reconcile, with a Warning Event for each new
/// one that stands. With the annotation, a StatefulSet whose update was rejected is recreated: on
/// the reconcile that sees the rejection, or on the first one after the annotation is set.
fn sort_rejections(
    input: PlanInput<'_>,
    recreate: bool,
    recorded: Vec<RejectedUpdate>,
    requests: &mut Vec<Request>,
) -> SortedRejections {
    let is_statefulset =
        |rejection: &RejectedUpdate| rejected_type(rejection) == Some(ResourceType::StatefulSet);
    let (mut to_recreate, mut standing): (Vec<_>, Vec<_>) = if recreate {
        recorded
            .into_iter()
            .partition(|rejection| is_statefulset(rejection))
    } else {
        (Vec::new(), recorded)
    };
    for rejection in input.new_rejections {
        if recreate && is_statefulset(rejection) {
            to_recreate.push(rejection.clone());
        } else {
            requests.push(event(
                input,
                EventType::Warning,
                EventReason::UpdateRejected,
                format!(
                    "the API server rejected the update of {}: {}{}",
                    rejection.object,
                    rejection.message,
                    if is_statefulset(rejection) {
                        format!("; set the annotation {RECREATE_STATEFULSET_ANNOTATION}: \"true\" to let the operator recreate it without stopping its pods")
                    } else {
                        String::new()
                    }
                ),
            ));
            standing.retain(|existing| existing.object != rejection.object);
            standing.push(rejection.clone());
        }
    }
    SortedRejections {
        standing,
        to_recreate,
    }
}

/// Deletes each rejected StatefulSet to recreate, its pods orphaned, with a Normal Event; returns
/// the names (`Kind name`) of those deleted, which are not applied in this reconcile.
fn recreate_statefulsets(
    input: PlanInput<'_>,
    desired: &DesiredObjects,
    to_recreate: &[RejectedUpdate],
    requests: &mut Vec<Request>,
) -> BTreeSet<String> {
    let mut recreating: BTreeSet<String> = BTreeSet::new();
    for rejection in to_recreate {
        let Some(object) = desired
            .objects
            .iter()
            .filter_map(ObjectRef::of)
            .find(|reference| describe(reference) == rejection.object)
        else {
            continue;
        };
        if !recreating.insert(rejection.object.clone()) {
            continue;
        }
        requests.push(Request::Delete {
            object: object.clone(),
            propagation: Propagation::Orphan,
        });
        requests.push(event(
            input,
            EventType::Normal,
            EventReason::StatefulSetRecreated,
            format!(
                "recreating {} because the API server rejected its update ({}); its pods are orphaned and keep serving until the new StatefulSet adopts them",
                describe(&object),
                rejection.message
            ),
        ));
    }
    recreating
}

/// Applies every desired object that differs from the live one, except those being recreated
/// and those whose same update stands rejected, with an Event for a notable change; returns
/// whether it applied any.
fn apply_desired(
    input: PlanInput<'_>,
    desired: &DesiredObjects,
    recreating: &BTreeSet<String>,
    rejections: &[RejectedUpdate],
    requests: &mut Vec<Request>,
) -> bool {
    let mut applied = false;
    for object in &desired.objects {
        let Some(reference) = ObjectRef::of(object) else {
            continue;
        };
        let name = describe(&reference);
        if recreating.contains(&name) {
            continue;
        }
        if rejections.iter().any(|rejection| {
            rejection.object == name && rejection.desired_hash == desired_hash(object)
        }) {
            continue;
        }
        let live = input.observed.children.get(&reference).map(AsRef::as_ref);
        if !needs_apply(object, live) {
            continue;
        }
        applied = true;
        requests.push(Request::Apply(object.clone()));
        if let Some(message) = change_event(&reference, object, live) {
            let reason = if live.is_none() {
                EventReason::Created
            } else if reference.resource == ResourceType::StatefulSet {
                EventReason::Scaling
            } else {
                EventReason::ConfigurationChanged
            };
            requests.push(event(input, EventType::Normal, reason, message));
        }
    }
    applied
}

/// Moves the topology's labels, steps and requests into the plan's requests: the labels that
/// must precede the steps, the steps, the requests, then the other labels.
fn append_topology_requests(
    input: PlanInput<'_>,
    topology: &mut TopologyOutcome,
    requests: &mut Vec<Request>,
) {
    // Room for the topology's steps and requests and the few writes that follow (status,
    // deletions).
    requests.reserve(
        topology.labels_before_steps.len() + topology.steps.len() + topology.requests.len() + 16,
    );
    requests.append(&mut topology.labels_before_steps);
    requests.extend(
        std::mem::take(&mut topology.steps)
            .into_iter()
            .map(Request::from),
    );
    // An eviction refused in this reconcile is not asked again until the next one: the budget
    // changes only as pods become ready or unready.
    requests.extend(
        std::mem::take(&mut topology.requests)
            .into_iter()
            .filter(|request| {
                !matches!(request, Request::Evict(pod)
                    if input.refused_evictions.iter().any(|refused| refused.pod == pod.name))
            }),
    );
    requests.append(&mut topology.role_labels);
}

/// Deletes every owned object the spec no longer asks for; returns whether it deletes any.
fn delete_undesired(
    input: PlanInput<'_>,
    desired: &DesiredObjects,
    requests: &mut Vec<Request>,
) -> bool {
    let desired_references: BTreeSet<ObjectRef> =
        desired.objects.iter().filter_map(ObjectRef::of).collect();
    let mut deleted = false;
    for reference in input.observed.children.keys() {
        if !desired_references.contains(reference) {
            deleted = true;
            requests.push(Request::Delete {
                object: reference.clone(),
                propagation: Propagation::Background,
            });
        }
    }
    deleted
}

/// A replication set without a master that answers: the sentinels (or the operator's own
/// failover) promote one within seconds, and the `-master` Service and the status should name it
/// as soon as it answers. Nothing the operator watches changes when Redis promotes, so it looks
/// again every step rather than at the progress interval.
fn awaits_a_master(kind: Kind, topology: &TopologyOutcome) -> bool {
    kind == Kind::RedisReplication && topology.master_node.is_none()
}

/// `Kind name`, the way rejections name objects.
pub fn describe(reference: &ObjectRef) -> String {
    format!("{} {}", reference.resource.kind(), reference.name)
}

/// The type of the object a rejection names (`Kind name`, as [`describe`] writes it).
fn rejected_type(rejection: &RejectedUpdate) -> Option<ResourceType> {
    let (kind, _) = rejection.object.split_once(' ')?;
    ResourceType::ALL
        .into_iter()
        .find(|resource| resource.kind() == kind)
}

/// Recorded rejections that still apply: the object is still desired. A rejection whose object
/// the spec now wants differently is dropped by the hash comparison at apply time.
fn active_rejections(
    desired: &DesiredObjects,
    recorded: Vec<RejectedUpdate>,
) -> Vec<RejectedUpdate> {
    let names: BTreeSet<String> = desired
        .objects
        .iter()
        .filter_map(ObjectRef::of)
        .map(|reference| describe(&reference))
        .collect();
    recorded
        .into_iter()
        .filter(|rejection| names.contains(&rejection.object))
        .filter(|rejection| {
            desired
                .objects
                .iter()
                .filter(|object| {
                    ObjectRef::of(object)
                        .is_some_and(|reference| describe(&reference) == rejection.object)
                })
                .any(|object| desired_hash(object) == rejection.desired_hash)
        })
        .collect()
}

fn change_event(reference: &ObjectRef, desired: &Value, live: Option<&Value>) -> Option<String> {
    let Some(live) = live else {
        return matches!(reference.resource, ResourceType::StatefulSet)
            .then(|| format!("created {}", describe(reference)));
    };
    match reference.resource {
        ResourceType::StatefulSet => {
            let replicas = |object: &Value| object.at("/spec/replicas").and_then(Value::as_i64);
            let (before, after) = (replicas(live), replicas(desired));
            (before != after).then(|| {
                format!(
                    "scaling {} from {} to {} pods",
                    describe(reference),
                    before.unwrap_or(0),
                    after.unwrap_or(0)
                )
            })
        }
        ResourceType::ConfigMap => (live.get("data") != desired.get("data"))
            .then(|| format!("configuration changed in {}", describe(reference))),
        _ => None,
    }
}

/// A StatefulSet never shrinks below a pod the topology still needs (scale-in moves data first):
/// the desired objects with each StatefulSet's replicas raised to the number the topology holds,
/// copied, and the raised ones hashed again, only when a hold raises one.
fn hold_statefulset_replicas<'desired>(
    desired: &'desired DesiredObjects,
    topology: &TopologyOutcome,
) -> Cow<'desired, DesiredObjects> {
    let raised = |object: &Value| -> Option<i64> {
        if object["kind"] != ResourceType::StatefulSet.kind() {
            return None;
        }
        let name = object.at("/metadata/name").and_then(Value::as_str)?;
        let minimum = i64::from(*topology.hold_replicas.get(name)?);
        let current = object.at("/spec/replicas").and_then(Value::as_i64)?;
        (current < minimum).then_some(minimum)
    };
    if !desired
        .objects
        .iter()
        .any(|object| raised(object).is_some())
    {
        return Cow::Borrowed(desired);
    }
    let mut held = desired.clone();
    for object in &mut held.objects {
        if let Some(minimum) = raised(object)
            && let Some(replicas) = object.pointer_mut("/spec/replicas")
        {
            *replicas = Value::from(minimum);
            set_applied_hash(object);
        }
    }
    Cow::Owned(held)
}

/// Requested storage of a claim (template) in bytes.
fn requested_storage(claim: &Value) -> Option<(String, f64)> {
    let text = claim
        .at("/spec/resources/requests/storage")?
        .as_str()?
        .to_owned();
    let bytes = crate::api::quantity::parse_quantity(&text).ok()?;
    Some((text, bytes))
}

/// Existing claims smaller than their template asks: grow them in place (the StorageClass decides
/// whether it can; the API server rejects the write otherwise). Claims never shrink.
fn claim_resizes(input: PlanInput<'_>, desired: &DesiredObjects) -> Vec<Request> {
    let mut requests = Vec::new();
    for statefulset in desired.of_type(ResourceType::StatefulSet) {
        let Some(name) = statefulset.at("/metadata/name").and_then(Value::as_str) else {
            continue;
        };
        for template in statefulset
            .at("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(template_name) = template.at("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            let Some((wanted_text, wanted)) = requested_storage(template) else {
                continue;
            };
            let prefix = format!("{template_name}-{name}-");
            for claim in &input.observed.claims {
                let Some(claim_name) = claim.at("/metadata/name").and_then(Value::as_str) else {
                    continue;
                };
                let is_ordinal = claim_name.strip_prefix(&prefix).is_some_and(|ordinal| {
                    !ordinal.is_empty() && ordinal.bytes().all(|byte| byte.is_ascii_digit())
                });
                if !is_ordinal || claim.at("/metadata/deletionTimestamp").is_some() {
                    continue;
                }
                if requested_storage(claim).is_some_and(|(_, current)| current < wanted) {
                    requests.push(Request::Apply(json!({
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {"name": claim_name, "namespace": input.target.namespace},
                        "spec": {"resources": {"requests": {"storage": wanted_text}}},
                    })));
                }
            }
        }
    }
    requests
}
