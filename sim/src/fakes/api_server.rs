//! A fake Kubernetes API server with the semantics that break operators: resourceVersion and
//! generation, server-side apply with per-manager ownership, the status subresource, label
//! selectors, ownerReferences with background, foreground and orphan deletion, deletionTimestamp
//! and finalizers, and the StatefulSet update validation of Kubernetes 1.34.
//!
//! It stores JSON objects exactly as the real one would return them (minus managedFields). It is
//! deterministic: no clocks or randomness of its own; time comes from the simulator's clock.

use redis_operator::json_pointer::JsonPointer;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use redis_operator::ports::clock::{Clock, rfc3339};
use redis_operator::ports::kube::{
    ApiError, EventRecord, KubeApi, ObjectRef, Propagation, ResourceType,
};
use redis_operator::resources::names::FIELD_MANAGER;
use serde_json::{Map, Value, json};

/// The API server's message for a forbidden StatefulSet update, as Kubernetes 1.34 words it.
pub const FORBIDDEN_STATEFULSET_UPDATE: &str = "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

/// StatefulSet spec fields an update may change.
const MUTABLE_STATEFULSET_FIELDS: [&str; 7] = [
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

/// One write the API server accepted or refused, for oracles and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteRecord {
    /// apply, apply-status, delete, evict, event, remove-finalizer, create, update.
    pub verb: &'static str,
    /// The object written.
    pub object: ObjectRef,
    /// `None` when accepted, the error otherwise.
    pub error: Option<ApiError>,
}

/// Which calls an injected error hits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Injection {
    /// The verb (as in [`WriteRecord::verb`], or `get`/`list`).
    pub verb: &'static str,
    /// Only this type, when set.
    pub resource: Option<ResourceType>,
    /// The error returned instead of doing the call.
    pub error: ApiError,
}

#[derive(Clone, Default)]
pub(crate) struct State {
    /// Shared until changed: the simulated controllers and the oracles read every object of a
    /// kind every step, and copying them was most of the simulator's time.
    pub(crate) objects: BTreeMap<ObjectRef, Arc<Value>>,
    pub(crate) applied: BTreeMap<(ObjectRef, String), Value>,
    pub(crate) events: Vec<EventRecord>,
    pub(crate) writes: Vec<WriteRecord>,
    pub(crate) injections: Vec<Injection>,
    /// While set, every call through the Kubernetes port fails as an unavailable server's would.
    pub(crate) outage: bool,
    /// Gets and lists served through the Kubernetes port (the operator's reads).
    pub(crate) reads: u64,
    pub(crate) next_resource_version: u64,
    pub(crate) next_uid: u64,
}

/// The fake API server; cheap to clone, all clones share one store.
#[derive(Clone)]
pub struct FakeApiServer {
    state: Arc<Mutex<State>>,
    pub(crate) clock: Arc<dyn Clock>,
}

/// What the API server keeps of a new object's status: nothing (the status subresource is
/// written separately), except that a pod starts `Pending`.
fn reset_status_for_create(object: &mut Value, resource: ResourceType) {
    let Value::Object(map) = object else {
        return;
    };
    match resource {
        ResourceType::Pod => {
            map.insert("status".to_owned(), json!({"phase": "Pending"}));
        }
        ResourceType::ConfigMap | ResourceType::Secret | ResourceType::Event => {}
        _ => {
            map.remove("status");
        }
    }
}

/// `plural.group` as the API server names a resource in its messages (`configmaps`,
/// `statefulsets.apps`).
fn qualified_resource(resource: ResourceType) -> String {
    match resource.api_version().split_once('/') {
        Some((group, _)) => format!("{}.{group}", resource.plural()),
        None => resource.plural().to_owned(),
    }
}

/// Whether objects of `resource` carry `metadata.generation`: kinds with a spec the API server
/// versions (ConfigMaps, Secrets, Services and claims have none).
fn tracks_generation(resource: ResourceType) -> bool {
    !matches!(
        resource,
        ResourceType::ConfigMap
            | ResourceType::Secret
            | ResourceType::Service
            | ResourceType::PersistentVolumeClaim
            | ResourceType::Event
            | ResourceType::Node
    )
}

/// The API server's conflict when a write's resourceVersion precondition names a version other
/// than the live one.
fn check_resource_version(
    reference: &ObjectRef,
    live: &Value,
    precondition: Option<&str>,
) -> Result<(), ApiError> {
    match precondition {
        Some(version)
            if live.at("/metadata/resourceVersion").and_then(Value::as_str) != Some(version) =>
        {
            Err(ApiError::Conflict {
                object: reference.to_string(),
                message: format!(
                    "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                    qualified_resource(reference.resource),
                    reference.name
                ),
            })
        }
        _ => Ok(()),
    }
}

pub(crate) fn not_found(object: &ObjectRef) -> ApiError {
    ApiError::NotFound {
        object: object.to_string(),
    }
}

pub(crate) fn labels_match(object: &Value, selector: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(key, value)| {
        object
            .at("/metadata/labels")
            .and_then(|labels| labels.get(key))
            .and_then(Value::as_str)
            == Some(value.as_str())
    })
}

/// Deep merge: objects merge key by key, anything else replaces. `metadata.finalizers` is a set.
fn merge(target: &mut Value, patch: &Value, path: &str) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                let child = format!("{path}/{key}");
                match target.get_mut(key) {
                    Some(existing) => merge(existing, value, &child),
                    None => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(target), Value::Array(patch)) if path == "/metadata/finalizers" => {
            for entry in patch {
                if !target.contains(entry) {
                    target.push(entry.clone());
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// Removes from `live` the fields `previous` set that `next` no longer sets (what server-side apply
/// does for fields a manager stops applying and owns alone).
fn remove_dropped(live: &mut Value, previous: &Value, next: &Value) {
    let (Value::Object(live), Value::Object(previous)) = (live, previous) else {
        return;
    };
    for (key, previous_value) in previous {
        match next.get(key) {
            None => {
                live.remove(key);
            }
            Some(next_value) => {
                if let Some(live_value) = live.get_mut(key) {
                    remove_dropped(live_value, previous_value, next_value);
                }
            }
        }
    }
}

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, child| !child.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Drops empty metadata lists and maps, as the API server's serialisation omits them.
fn omit_empty_metadata(object: &mut Value) {
    if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
        metadata.retain(|field, value| {
            !(matches!(
                field.as_str(),
                "labels" | "annotations" | "finalizers" | "ownerReferences"
            ) && (value.as_array().is_some_and(Vec::is_empty)
                || value.as_object().is_some_and(Map::is_empty)))
        });
    }
}

impl FakeApiServer {
    /// An empty API server reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> FakeApiServer {
        FakeApiServer {
            state: Arc::new(Mutex::new(State::default())),
            clock,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a simulator bug; the state is still the best we have.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes the next call of `verb` (on `resource`, when given) fail with `error`.
    pub fn inject(&self, injection: Injection) {
        self.lock().injections.push(injection);
    }

    /// The last resourceVersion handed out: it changes whenever any object changes, so a
    /// controller can tell whether anything it watches happened since it last looked.
    pub fn version(&self) -> u64 {
        self.lock().next_resource_version
    }

    /// A separate server holding a copy of everything stored now: what a watch cache that stops
    /// following the server at this moment would keep serving.
    pub fn snapshot(&self) -> FakeApiServer {
        FakeApiServer {
            state: Arc::new(Mutex::new(self.lock().clone())),
            clock: self.clock.clone(),
        }
    }

    /// The writes recorded after the first `skip`.
    pub fn writes_since(&self, skip: usize) -> Vec<WriteRecord> {
        self.lock().writes.iter().skip(skip).cloned().collect()
    }

    /// Starts (`true`) or ends an outage: meanwhile every call through the Kubernetes port fails.
    pub fn set_outage(&self, outage: bool) {
        self.lock().outage = outage;
    }

    /// How many Events were published so far.
    pub fn event_count(&self) -> usize {
        self.lock().events.len()
    }

    /// The Events published after the first `skip`.
    pub fn events_since(&self, skip: usize) -> Vec<EventRecord> {
        self.lock().events.iter().skip(skip).cloned().collect()
    }

    /// Gets and lists served so far through the Kubernetes port, the way the operator reads
    /// (the simulator's own look-ups with [`FakeApiServer::object`] and
    /// [`FakeApiServer::objects`] are not counted).
    pub fn reads(&self) -> u64 {
        self.lock().reads
    }

    /// Every write so far.
    pub fn writes(&self) -> Vec<WriteRecord> {
        self.lock().writes.clone()
    }

    /// Every Event so far.
    pub fn events(&self) -> Vec<EventRecord> {
        self.lock().events.clone()
    }

    /// Every stored object of `resource`, sorted by namespace and name.
    pub fn objects(&self, resource: ResourceType) -> Vec<Arc<Value>> {
        self.lock()
            .objects
            .range(ObjectRef::new(resource, "", "")..)
            .take_while(|(reference, _)| reference.resource == resource)
            .map(|(_, object)| Arc::clone(object))
            .collect()
    }

    /// The stored object, if any.
    pub fn object(&self, reference: &ObjectRef) -> Option<Arc<Value>> {
        self.lock().objects.get(reference).cloned()
    }

    /// Creates an object as a client (or a controller) would; fails with a conflict when it
    /// exists.
    pub fn create(&self, object: Value) -> Result<Value, ApiError> {
        let reference = ObjectRef::of(&object).ok_or_else(|| ApiError::Invalid {
            object: object.to_string(),
            message: "metadata.name: Required value".to_owned(),
        })?;
        let mut state = self.lock();
        if let Some(live) = state.objects.get(&reference) {
            let deleting = if live.at("/metadata/deletionTimestamp").is_some() {
                "object is being deleted: "
            } else {
                ""
            };
            return Err(ApiError::Conflict {
                object: reference.to_string(),
                message: format!(
                    "{deleting}{} \"{}\" already exists",
                    qualified_resource(reference.resource),
                    reference.name
                ),
            });
        }
        let mut object = object;
        reset_status_for_create(&mut object, reference.resource);
        let stored = self.initialise(&mut state, object, &reference);
        state
            .objects
            .insert(reference.clone(), Arc::new(stored.clone()));
        state.writes.push(WriteRecord {
            verb: "create",
            object: reference,
            error: None,
        });
        Ok(stored)
    }

    /// Replaces an object's content (as a controller's update would), keeping its identity and
    /// bumping its resourceVersion (and generation when the spec changed).
    pub fn update(&self, object: Value) -> Result<Value, ApiError> {
        self.write_update(object, false)
    }

    /// A client's update (PUT): like [`FakeApiServer::update`], but a resourceVersion in the
    /// request is a precondition, and the write is refused with the API server's conflict when
    /// the object changed since that version was read. The simulated controllers use `update`:
    /// they write what they have just read.
    pub fn replace(&self, object: Value) -> Result<Value, ApiError> {
        self.write_update(object, true)
    }

    /// An update, with the request's resourceVersion checked under the same lock as the write
    /// when `versioned`.
    fn write_update(&self, object: Value, versioned: bool) -> Result<Value, ApiError> {
        let reference = ObjectRef::of(&object).ok_or_else(|| ApiError::Invalid {
            object: object.to_string(),
            message: "metadata.name: Required value".to_owned(),
        })?;
        let mut state = self.lock();
        let Some(live) = state.objects.get(&reference).cloned() else {
            return Err(not_found(&reference));
        };
        if versioned {
            let precondition = object
                .at("/metadata/resourceVersion")
                .and_then(Value::as_str);
            check_resource_version(&reference, &live, precondition)?;
        }
        let mut next = object;
        for field in ["uid", "creationTimestamp", "generation"] {
            if let Some(value) = live.at(&format!("/metadata/{field}")) {
                next["metadata"][field] = value.clone();
            }
        }
        self.finish_write(&mut state, &reference, &live, next, "update")
    }

    fn initialise(&self, state: &mut State, mut object: Value, reference: &ObjectRef) -> Value {
        strip_nulls(&mut object);
        omit_empty_metadata(&mut object);
        state.next_uid += 1;
        state.next_resource_version += 1;
        let metadata = object
            .as_object_mut()
            .map(|map| map.entry("metadata").or_insert_with(|| json!({})));
        if let Some(Value::Object(metadata)) = metadata {
            metadata.insert(
                "uid".to_owned(),
                Value::from(format!("uid-{:06}", state.next_uid)),
            );
            metadata.insert(
                "resourceVersion".to_owned(),
                Value::from(state.next_resource_version.to_string()),
            );
            metadata.insert(
                "creationTimestamp".to_owned(),
                Value::from(rfc3339(self.clock.now())),
            );
            if tracks_generation(reference.resource) {
                metadata.insert("generation".to_owned(), Value::from(1));
            }
            if reference.resource.namespaced() {
                metadata.insert(
                    "namespace".to_owned(),
                    Value::from(reference.namespace.clone()),
                );
            }
        }
        object
    }

    fn finish_write(
        &self,
        state: &mut State,
        reference: &ObjectRef,
        live: &Value,
        mut next: Value,
        verb: &'static str,
    ) -> Result<Value, ApiError> {
        strip_nulls(&mut next);
        omit_empty_metadata(&mut next);
        if reference.resource == ResourceType::StatefulSet
            && !statefulset_update_allowed(live, &next)
        {
            let error = ApiError::Invalid {
                object: reference.to_string(),
                message: format!(
                    "StatefulSet.apps \"{}\" is invalid: {FORBIDDEN_STATEFULSET_UPDATE}",
                    reference.name
                ),
            };
            state.writes.push(WriteRecord {
                verb,
                object: reference.clone(),
                error: Some(error.clone()),
            });
            return Err(error);
        }
        if next == *live {
            state.writes.push(WriteRecord {
                verb,
                object: reference.clone(),
                error: None,
            });
            return Ok(next);
        }
        if tracks_generation(reference.resource) && live.get("spec") != next.get("spec") {
            let generation = live
                .at("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            next["metadata"]["generation"] = Value::from(generation + 1);
        }
        state.next_resource_version += 1;
        next["metadata"]["resourceVersion"] = Value::from(state.next_resource_version.to_string());
        let finished = next.at("/metadata/deletionTimestamp").is_some()
            && next
                .at("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
        state.writes.push(WriteRecord {
            verb,
            object: reference.clone(),
            error: None,
        });
        if finished {
            state.objects.remove(reference);
            state.next_resource_version += 1;
            Self::collect_garbage(
                state,
                live,
                Propagation::Background,
                &rfc3339(self.clock.now()),
            );
        } else {
            state
                .objects
                .insert(reference.clone(), Arc::new(next.clone()));
        }
        Ok(next)
    }

    pub(crate) fn take_injection(
        &self,
        state: &mut State,
        verb: &str,
        resource: ResourceType,
    ) -> Option<ApiError> {
        if state.outage {
            return Some(ApiError::Transient {
                object: resource.kind().to_owned(),
                action: verb.to_owned(),
                message: "the server is currently unable to handle the request (503)".to_owned(),
            });
        }
        let position = state.injections.iter().position(|injection| {
            injection.verb == verb && injection.resource.is_none_or(|wanted| wanted == resource)
        })?;
        Some(state.injections.remove(position).error)
    }
}

/// Whether a pod's Ready condition is True and it is not being deleted.
pub fn pod_is_ready(pod: &Value) -> bool {
    pod.at("/metadata/deletionTimestamp").is_none()
        && pod
            .at("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|condition| condition["type"] == "Ready" && condition["status"] == "True")
            })
}

/// Whether a StatefulSet update changes only the fields Kubernetes lets an update change.
pub fn statefulset_update_allowed(live: &Value, next: &Value) -> bool {
    let immutable = |object: &Value| {
        let mut spec = object.get("spec").cloned().unwrap_or(Value::Null);
        if let Value::Object(map) = &mut spec {
            for field in MUTABLE_STATEFULSET_FIELDS {
                map.remove(field);
            }
        }
        spec
    };
    live.get("spec").is_none() || immutable(live) == immutable(next)
}

#[async_trait]
impl KubeApi for FakeApiServer {
    async fn get(&self, object: &ObjectRef) -> Result<Option<Value>, ApiError> {
        let mut state = self.lock();
        state.reads += 1;
        if let Some(error) = self.take_injection(&mut state, "get", object.resource) {
            return Err(error);
        }
        Ok(state.objects.get(object).map(|object| Value::clone(object)))
    }

    async fn list(
        &self,
        resource: ResourceType,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Arc<Value>>, ApiError> {
        let mut state = self.lock();
        state.reads += 1;
        if let Some(error) = self.take_injection(&mut state, "list", resource) {
            return Err(error);
        }
        Ok(state
            .objects
            .iter()
            .filter(|(reference, object)| {
                reference.resource == resource
                    && (namespace.is_empty() || reference.namespace == namespace)
                    && labels_match(object, labels)
            })
            .map(|(_, object)| Arc::clone(object))
            .collect())
    }

    async fn apply(&self, object: &Value) -> Result<Value, ApiError> {
        let reference = ObjectRef::of(object).ok_or_else(|| ApiError::Invalid {
            object: object.to_string(),
            message: "apiVersion, kind and metadata.name are required".to_owned(),
        })?;
        let mut state = self.lock();
        if let Some(error) = self.take_injection(&mut state, "apply", reference.resource) {
            state.writes.push(WriteRecord {
                verb: "apply",
                object: reference,
                error: Some(error.clone()),
            });
            return Err(error);
        }
        let mut applied = object.clone();
        strip_nulls(&mut applied);
        // The status subresource is written only through apply_status.
        if let Value::Object(map) = &mut applied {
            map.remove("status");
        }
        let key = (reference.clone(), FIELD_MANAGER.to_owned());
        let result = match state.objects.get(&reference).cloned() {
            None => {
                if reference.resource.namespaced() && reference.namespace.is_empty() {
                    return Err(ApiError::Invalid {
                        object: reference.to_string(),
                        message: "metadata.namespace: Required value".to_owned(),
                    });
                }
                // As the real API server validates a create: a pod needs its containers (an
                // apply that only sets labels on a pod that is gone must not make a bare pod).
                if reference.resource == ResourceType::Pod
                    && applied
                        .at("/spec/containers")
                        .and_then(Value::as_array)
                        .is_none_or(Vec::is_empty)
                {
                    return Err(ApiError::Invalid {
                        object: reference.to_string(),
                        message: "spec.containers: Required value".to_owned(),
                    });
                }
                let mut created = applied.clone();
                reset_status_for_create(&mut created, reference.resource);
                let stored = self.initialise(&mut state, created, &reference);
                state
                    .objects
                    .insert(reference.clone(), Arc::new(stored.clone()));
                state.writes.push(WriteRecord {
                    verb: "apply",
                    object: reference.clone(),
                    error: None,
                });
                Ok(stored)
            }
            Some(live) => {
                let mut next = Value::clone(&live);
                if let Some(previous) = state.applied.get(&key) {
                    remove_dropped(&mut next, previous, &applied);
                }
                merge(&mut next, &applied, "");
                self.finish_write(&mut state, &reference, &live, next, "apply")
            }
        };
        if result.is_ok() {
            state.applied.insert(key, applied);
        }
        result
    }

    async fn apply_status(
        &self,
        object: &ObjectRef,
        status: &Value,
        resource_version: Option<&str>,
    ) -> Result<Value, ApiError> {
        let mut state = self.lock();
        if let Some(error) = self.take_injection(&mut state, "apply-status", object.resource) {
            state.writes.push(WriteRecord {
                verb: "apply-status",
                object: object.clone(),
                error: Some(error.clone()),
            });
            return Err(error);
        }
        let Some(live) = state.objects.get(object).cloned() else {
            return Err(not_found(object));
        };
        check_resource_version(object, &live, resource_version)?;
        let mut next = Value::clone(&live);
        if let Value::Object(map) = &mut next {
            map.insert("status".to_owned(), status.clone());
        }
        self.finish_write(&mut state, object, &live, next, "apply-status")
    }

    async fn delete(&self, object: &ObjectRef, propagation: Propagation) -> Result<(), ApiError> {
        let mut state = self.lock();
        if let Some(error) = self.take_injection(&mut state, "delete", object.resource) {
            state.writes.push(WriteRecord {
                verb: "delete",
                object: object.clone(),
                error: Some(error.clone()),
            });
            return Err(error);
        }
        let Some(live) = state.objects.get(object).cloned() else {
            return Ok(());
        };
        state.writes.push(WriteRecord {
            verb: "delete",
            object: object.clone(),
            error: None,
        });
        let now = rfc3339(self.clock.now());
        if propagation == Propagation::Orphan {
            Self::collect_garbage(&mut state, &live, Propagation::Orphan, &now);
        }
        Self::remove_or_mark(&mut state, object, propagation, &now);
        Ok(())
    }

    async fn evict(&self, pod: &ObjectRef) -> Result<(), ApiError> {
        self.evict_as(pod, "evict")
    }

    async fn publish_event(&self, event: &EventRecord) -> Result<(), ApiError> {
        let mut state = self.lock();
        if let Some(error) = self.take_injection(&mut state, "event", ResourceType::Event) {
            return Err(error);
        }
        state.events.push(event.clone());
        Ok(())
    }

    async fn remove_finalizer(&self, object: &ObjectRef, finalizer: &str) -> Result<(), ApiError> {
        let mut state = self.lock();
        if let Some(error) = self.take_injection(&mut state, "remove-finalizer", object.resource) {
            return Err(error);
        }
        let Some(live) = state.objects.get(object).cloned() else {
            return Ok(());
        };
        let mut next = Value::clone(&live);
        if let Some(finalizers) = next
            .pointer_mut("/metadata/finalizers")
            .and_then(Value::as_array_mut)
        {
            finalizers.retain(|entry| entry != finalizer);
        }
        for applied in state
            .applied
            .iter_mut()
            .filter(|((reference, _), _)| reference == object)
            .map(|(_, value)| value)
        {
            if let Some(finalizers) = applied
                .pointer_mut("/metadata/finalizers")
                .and_then(Value::as_array_mut)
            {
                finalizers.retain(|entry| entry != finalizer);
            }
        }
        self.finish_write(&mut state, object, &live, next, "remove-finalizer")
            .map(|_| ())
    }
}

impl FakeApiServer {
    /// Removes a pod at once, as the kubelet does when its containers have stopped (the
    /// controllers call this; the operator never does).
    pub fn remove_pod_now(&self, reference: &ObjectRef) -> Result<(), ApiError> {
        let mut state = self.lock();
        state
            .objects
            .remove(reference)
            .ok_or_else(|| not_found(reference))?;
        state.next_resource_version += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use redis_operator::ports::kube::{ApiError, KubeApi, ObjectRef, ResourceType};
    use serde_json::json;

    use super::FakeApiServer;
    use crate::engine::clock::SimulatedClock;

    fn server_with_pods(ready: usize) -> FakeApiServer {
        let server = FakeApiServer::new(Arc::new(SimulatedClock::new()));
        for index in 0..ready {
            let mut pod = server
                .create(json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("cache-{index}"), "namespace": "default", "labels": {"app": "cache"}},
                }))
                .unwrap();
            // The kubelet's status write: a new pod is Pending, which no budget protects.
            pod["status"] =
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
            server.update(pod).unwrap();
        }
        server
            .create(json!({
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": {"name": "cache", "namespace": "default"},
                "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "cache"}}},
            }))
            .unwrap();
        server
    }

    #[tokio::test]
    async fn an_eviction_the_budget_forbids_is_refused_with_429() {
        let server = server_with_pods(2);
        let pod = ObjectRef::new(ResourceType::Pod, "default", "cache-0");
        let refused = server.evict(&pod).await;
        assert!(
            matches!(refused, Err(ApiError::TooManyRequests { .. })),
            "{refused:?}"
        );
        assert!(server.object(&pod).is_some(), "the pod keeps running");
    }

    #[tokio::test]
    async fn an_eviction_the_budget_allows_removes_the_pod() {
        let server = server_with_pods(3);
        let pod = ObjectRef::new(ResourceType::Pod, "default", "cache-0");
        server.evict(&pod).await.unwrap();
        assert!(server.object(&pod).is_none());
        let second = server
            .evict(&ObjectRef::new(ResourceType::Pod, "default", "cache-1"))
            .await;
        assert!(
            matches!(second, Err(ApiError::TooManyRequests { .. })),
            "down to the budget: {second:?}"
        );
    }
}
