//! Operator crashes between any two writes: wrappers around the ports that let a given number of
//! writes through and then fail every write until disarmed, as if the operator process died there
//! and restarted with nothing but what it wrote.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use redis_operator::ports::kube::{
    ApiError, EventRecord, KubeApi, ObjectRef, Propagation, ResourceType,
};
use redis_operator::ports::redis::{
    RedisAdmin, RedisCommand, RedisEndpoint, RedisError, RedisReply,
};
use serde_json::Value;

use crate::fakes::redis::FakeRedis;

/// Writes left before the crash; `usize::MAX` when disarmed.
#[derive(Clone, Debug)]
pub struct CrashSwitch {
    remaining: Arc<AtomicUsize>,
    crashes: Arc<AtomicUsize>,
}

impl Default for CrashSwitch {
    fn default() -> Self {
        CrashSwitch {
            remaining: Arc::new(AtomicUsize::new(usize::MAX)),
            crashes: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl CrashSwitch {
    /// Lets `writes` more writes through, then crashes.
    pub fn arm(&self, writes: usize) {
        self.remaining.store(writes, Ordering::SeqCst);
    }

    /// No more crashes.
    pub fn disarm(&self) {
        self.remaining.store(usize::MAX, Ordering::SeqCst);
    }

    /// How many writes were refused because of a crash.
    pub fn crashes(&self) -> usize {
        self.crashes.load(Ordering::SeqCst)
    }

    /// True when this write may go through.
    fn admit(&self) -> bool {
        let remaining = self.remaining.load(Ordering::SeqCst);
        if remaining == usize::MAX {
            return true;
        }
        if remaining == 0 {
            self.crashes.fetch_add(1, Ordering::SeqCst);
            return false;
        }
        self.remaining.store(remaining - 1, Ordering::SeqCst);
        true
    }
}

fn crashed(object: &ObjectRef, action: &str) -> ApiError {
    ApiError::Transient {
        object: object.to_string(),
        action: action.to_owned(),
        message: "the operator crashed here".to_owned(),
    }
}

/// The Kubernetes port with crashes.
pub struct CrashingKube {
    /// The real port.
    pub inner: Arc<dyn KubeApi>,
    /// The switch.
    pub switch: CrashSwitch,
}

#[async_trait]
impl KubeApi for CrashingKube {
    async fn get(&self, object: &ObjectRef) -> Result<Option<Value>, ApiError> {
        self.inner.get(object).await
    }

    async fn list(
        &self,
        resource: ResourceType,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Arc<Value>>, ApiError> {
        self.inner.list(resource, namespace, labels).await
    }

    async fn apply(&self, object: &Value) -> Result<Value, ApiError> {
        if !self.switch.admit() {
            let reference = ObjectRef::of(object)
                .unwrap_or_else(|| ObjectRef::new(ResourceType::Event, "", "?"));
            return Err(crashed(&reference, "apply"));
        }
        self.inner.apply(object).await
    }

    async fn apply_status(
        &self,
        object: &ObjectRef,
        status: &Value,
        resource_version: Option<&str>,
    ) -> Result<Value, ApiError> {
        if !self.switch.admit() {
            return Err(crashed(object, "apply status of"));
        }
        self.inner
            .apply_status(object, status, resource_version)
            .await
    }

    async fn delete(&self, object: &ObjectRef, propagation: Propagation) -> Result<(), ApiError> {
        if !self.switch.admit() {
            return Err(crashed(object, "delete"));
        }
        self.inner.delete(object, propagation).await
    }

    async fn evict(&self, pod: &ObjectRef) -> Result<(), ApiError> {
        if !self.switch.admit() {
            return Err(crashed(pod, "evict"));
        }
        self.inner.evict(pod).await
    }

    async fn publish_event(&self, event: &EventRecord) -> Result<(), ApiError> {
        self.inner.publish_event(event).await
    }

    async fn remove_finalizer(&self, object: &ObjectRef, finalizer: &str) -> Result<(), ApiError> {
        if !self.switch.admit() {
            return Err(crashed(object, "remove a finalizer of"));
        }
        self.inner.remove_finalizer(object, finalizer).await
    }
}

/// The Redis port with crashes (reads always go through).
pub struct CrashingRedis {
    /// The fake fleet, answered directly rather than through the port: each call through the
    /// port boxes a future, and a migration sends tens of thousands of commands.
    pub inner: FakeRedis,
    /// The switch.
    pub switch: CrashSwitch,
}

#[async_trait]
impl RedisAdmin for CrashingRedis {
    async fn execute(
        &self,
        endpoint: &RedisEndpoint,
        command: &RedisCommand,
    ) -> Result<RedisReply, RedisError> {
        if command.is_write() && !self.switch.admit() {
            return Err(RedisError::Unreachable {
                endpoint: endpoint.to_string(),
                message: "the operator crashed here".to_owned(),
            });
        }
        self.inner.answer(endpoint, command)
    }
}
