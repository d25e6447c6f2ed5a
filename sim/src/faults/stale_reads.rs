//! A lagging watch cache between the operator and the fake API server: while a stale-reads fault
//! is on, the operator's gets and lists are answered from a copy of the store taken when the
//! fault began, while its writes reach the live server — the situation of a controller whose
//! informer cache has fallen behind. Reads are served live again when the fault ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use redis_operator::ports::kube::{
    ApiError, EventRecord, KubeApi, ObjectRef, Propagation, ResourceType,
};
use serde_json::Value;

use crate::fakes::api_server::FakeApiServer;

/// Switches stale reads on and off; cheap to clone, clones share the switch.
#[derive(Clone, Default)]
pub struct LagSwitch {
    frozen: Arc<Mutex<Option<FakeApiServer>>>,
}

impl LagSwitch {
    fn lock(&self) -> MutexGuard<'_, Option<FakeApiServer>> {
        self.frozen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// From now on reads see `live` as it is at this moment.
    pub fn freeze(&self, live: &FakeApiServer) {
        *self.lock() = Some(live.snapshot());
    }

    /// Reads see the live server again.
    pub fn thaw(&self) {
        *self.lock() = None;
    }

    /// Whether reads are stale now.
    pub fn is_frozen(&self) -> bool {
        self.lock().is_some()
    }

    fn reader(&self, live: &FakeApiServer) -> FakeApiServer {
        self.lock().clone().unwrap_or_else(|| live.clone())
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
        self.switch.reader(&self.live).get(object).await
    }

    async fn list(
        &self,
        resource: ResourceType,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Arc<Value>>, ApiError> {
        self.switch
            .reader(&self.live)
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
