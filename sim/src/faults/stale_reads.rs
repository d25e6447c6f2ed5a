//! A lagging watch cache between the operator and the fake API server: while a stale-reads fault
//! is on, the operator's gets and lists are answered from a copy of the store taken when the
//! fault began, while its writes reach the live server — the situation of a controller whose
//! informer cache has fallen behind. A watch-gone fault freezes only the types the operator's
//! watch caches serve. Reads are served live again when the fault ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use redis_operator::ports::kube::{
    ApiError, EventRecord, KubeApi, ObjectRef, Propagation, ResourceType,
};
use serde_json::Value;

use crate::fakes::api_server::FakeApiServer;

/// What a frozen cache answers: the store as it was, for some types or all.
#[derive(Clone)]
struct Frozen {
    snapshot: FakeApiServer,
    /// The types read from the snapshot; `None`: every type.
    types: Option<&'static [ResourceType]>,
}

/// Switches stale reads on and off; cheap to clone, clones share the switch.
#[derive(Clone, Default)]
pub struct LagSwitch {
    frozen: Arc<Mutex<Option<Frozen>>>,
}

impl LagSwitch {
    fn lock(&self) -> MutexGuard<'_, Option<Frozen>> {
        self.frozen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// From now on reads see `live` as it is at this moment.
    pub fn freeze(&self, live: &FakeApiServer) {
        *self.lock() = Some(Frozen {
            snapshot: live.snapshot(),
            types: None,
        });
    }

    /// From now on reads of `types` see `live` as it is at this moment; other reads stay live
    /// (the watch caches stop while reads of other types go to the API server).
    pub fn freeze_types(&self, live: &FakeApiServer, types: &'static [ResourceType]) {
        *self.lock() = Some(Frozen {
            snapshot: live.snapshot(),
            types: Some(types),
        });
    }

    /// Reads see the live server again.
    pub fn thaw(&self) {
        *self.lock() = None;
    }

    /// Whether some reads are stale now.
    pub fn is_frozen(&self) -> bool {
        self.lock().is_some()
    }

    /// The object as the operator reads it now: from the frozen copy while its type's reads are
    /// stale, else from `live`.
    pub fn object_as_read(&self, live: &FakeApiServer, object: &ObjectRef) -> Option<Arc<Value>> {
        self.reader(live, object.resource).object(object)
    }

    fn reader(&self, live: &FakeApiServer, resource: ResourceType) -> FakeApiServer {
        match self.lock().as_ref() {
            Some(frozen) if frozen.types.is_none_or(|types| types.contains(&resource)) => {
                frozen.snapshot.clone()
            }
            _ => live.clone(),
        }
    }
}

/// The Kubernetes port with a watch cache that can lag.
pub struct LaggingKube {
    /// The live server.
    pub live: FakeApiServer,
    /// The switch.
    pub switch: LagSwitch,
}

#[async_trait]
impl KubeApi for LaggingKube {
    async fn get(&self, object: &ObjectRef) -> Result<Option<Value>, ApiError> {
        self.switch
            .reader(&self.live, object.resource)
            .get(object)
            .await
    }

    async fn list(
        &self,
        resource: ResourceType,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Arc<Value>>, ApiError> {
        self.switch
            .reader(&self.live, resource)
            .list(resource, namespace, labels)
            .await
    }

    async fn apply(&self, object: &Value) -> Result<Value, ApiError> {
        self.live.apply(object).await
    }

    async fn apply_status(
        &self,
        object: &ObjectRef,
        status: &Value,
        resource_version: Option<&str>,
    ) -> Result<Value, ApiError> {
        self.live
            .apply_status(object, status, resource_version)
            .await
    }

    async fn delete(&self, object: &ObjectRef, propagation: Propagation) -> Result<(), ApiError> {
        self.live.delete(object, propagation).await
    }

    async fn evict(&self, pod: &ObjectRef) -> Result<(), ApiError> {
        self.live.evict(pod).await
    }

    async fn publish_event(&self, event: &EventRecord) -> Result<(), ApiError> {
        self.live.publish_event(event).await
    }

    async fn remove_finalizer(&self, object: &ObjectRef, finalizer: &str) -> Result<(), ApiError> {
        self.live.remove_finalizer(object, finalizer).await
    }
}
