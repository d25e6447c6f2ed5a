//! The ports the simulated operator runs against: the Kubernetes port (over the stale-reads
//! wrapper and the fake API server) and the Redis port (over the fake fleet), with the
//! operator-side faults between them: a crash between two writes (`operator_crash`) and replies
//! lost after the write took effect, or arriving after the timeout from a pod too far away
//! (`lost_replies`). Reads pass through unchanged, unless the pod is that far away.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use redis_operator::ports::kube::{
    ApiError, EventRecord, KubeApi, ObjectRef, Propagation, ResourceType,
};
use redis_operator::ports::redis::{
    RedisAdmin, RedisCommand, RedisEndpoint, RedisError, RedisReply,
};
use serde_json::Value;

use crate::fakes::redis::FakeRedis;
use crate::faults::lost_replies::{LostReplies, ReplyChannel};
use crate::faults::operator_crash::{CrashSwitch, crashed, crashed_command};

/// The Kubernetes port with the operator-side faults.
pub struct FaultyKube {
    /// The port underneath.
    pub inner: Arc<dyn KubeApi>,
    /// Crashes the operator after a number of writes.
    pub crash: CrashSwitch,
    /// Loses the replies of writes that took effect.
    pub lost: LostReplies,
}

impl FaultyKube {
    /// Runs a write unless the operator crashed before it; loses its reply when the switch says
    /// so, after the write took effect.
    async fn write<T: Send>(
        &self,
        object: &ObjectRef,
        action: &str,
        call: impl std::future::Future<Output = Result<T, ApiError>> + Send,
    ) -> Result<T, ApiError> {
        if !self.crash.admit() {
            return Err(crashed(object, action));
        }
        let outcome = call.await;
        if outcome.is_ok()
            && self
                .lost
                .lose(ReplyChannel::Api, || format!("{action} {object}"))
        {
            return Err(ApiError::Transient {
                object: object.to_string(),
                action: action.to_owned(),
                message: "timed out waiting for the reply".to_owned(),
            });
        }
        outcome
    }
}

#[async_trait]
impl KubeApi for FaultyKube {
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
        let reference =
            ObjectRef::of(object).unwrap_or_else(|| ObjectRef::new(ResourceType::Event, "", "?"));
        self.write(&reference, "apply", self.inner.apply(object))
            .await
    }

    async fn apply_status(
        &self,
        object: &ObjectRef,
        status: &Value,
        resource_version: Option<&str>,
    ) -> Result<Value, ApiError> {
        self.write(
            object,
            "apply status of",
            self.inner.apply_status(object, status, resource_version),
        )
        .await
    }

    async fn delete(&self, object: &ObjectRef, propagation: Propagation) -> Result<(), ApiError> {
        self.write(object, "delete", self.inner.delete(object, propagation))
            .await
    }

    async fn evict(&self, pod: &ObjectRef) -> Result<(), ApiError> {
        self.write(pod, "evict", self.inner.evict(pod)).await
    }

    async fn publish_event(&self, event: &EventRecord) -> Result<(), ApiError> {
        self.inner.publish_event(event).await
    }

    async fn remove_finalizer(&self, object: &ObjectRef, finalizer: &str) -> Result<(), ApiError> {
        self.write(
            object,
            "remove a finalizer of",
            self.inner.remove_finalizer(object, finalizer),
        )
        .await
    }
}

/// The Redis port with the operator-side faults (reads always go through).
pub struct FaultyRedis {
    /// The fake fleet, answered directly rather than through the port: each call through the
    /// port boxes a future, and a migration sends tens of thousands of commands.
    pub inner: FakeRedis,
    /// Crashes the operator after a number of writes.
    pub crash: CrashSwitch,
    /// Loses the replies of commands that took effect.
    pub lost: LostReplies,
}

#[async_trait]
impl RedisAdmin for FaultyRedis {
    async fn execute(
        &self,
        endpoint: &RedisEndpoint,
        command: &RedisCommand,
    ) -> Result<RedisReply, RedisError> {
        let timed_out = || RedisError::Unreachable {
            endpoint: endpoint.to_string(),
            message: "timed out waiting for the reply".to_owned(),
        };
        let what = || format!("{} on {}", command.name(), endpoint.pod);
        if !command.is_write() {
            if self.lost.times_out(&endpoint.host, None) {
                return Err(timed_out());
            }
            return self.inner.answer(endpoint, command);
        }
        if !self.crash.admit() {
            return Err(crashed_command(&endpoint.to_string()));
        }
        let outcome = self.inner.answer(endpoint, command);
        // A rejected command changed nothing: only a reply to one that took effect is lost. A
        // reply too slow for the timeout is lost whatever it says.
        if self.lost.times_out(&endpoint.host, Some(&what))
            || (outcome.is_ok() && self.lost.lose(ReplyChannel::Redis, what))
        {
            return Err(timed_out());
        }
        outcome
    }
}
