//! The Kubernetes API as the operator uses it: a thin facade of get, list, server-side apply,
//! status apply, delete, evict and events over JSON objects.
//!
//! Objects travel as `serde_json::Value` so that the production adapter and the fake API server
//! store and compare exactly what the API server would. Implementations must not retry: the
//! reconcile decides what to do with each error.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

/// The resource types the operator reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `v1` Service.
    Service,
    /// `v1` ConfigMap.
    ConfigMap,
    /// `policy/v1` PodDisruptionBudget.
    PodDisruptionBudget,
    /// `v1` Pod.
    Pod,
    /// `v1` PersistentVolumeClaim.
    PersistentVolumeClaim,
    /// `v1` Secret.
    Secret,
    /// `v1` Event.
    Event,
    /// `v1` Node (cluster-scoped).
    Node,
    /// Our `Redis`.
    Redis,
    /// Our `RedisReplication`.
    RedisReplication,
    /// Our `RedisSentinel`.
    RedisSentinel,
    /// Our `RedisCluster`.
    RedisCluster,
}

impl ResourceType {
    /// `apiVersion` of objects of this type.
    pub fn api_version(self) -> &'static str {
        match self {
            ResourceType::StatefulSet => "apps/v1",
            ResourceType::PodDisruptionBudget => "policy/v1",
            ResourceType::Redis
            | ResourceType::RedisReplication
            | ResourceType::RedisSentinel
            | ResourceType::RedisCluster => crate::api::API_GROUP_VERSION,
            _ => "v1",
        }
    }

    /// `kind` of objects of this type.
    pub fn kind(self) -> &'static str {
        match self {
            ResourceType::StatefulSet => "StatefulSet",
            ResourceType::Service => "Service",
            ResourceType::ConfigMap => "ConfigMap",
            ResourceType::PodDisruptionBudget => "PodDisruptionBudget",
            ResourceType::Pod => "Pod",
            ResourceType::PersistentVolumeClaim => "PersistentVolumeClaim",
            ResourceType::Secret => "Secret",
            ResourceType::Event => "Event",
            ResourceType::Node => "Node",
            ResourceType::Redis => "Redis",
            ResourceType::RedisReplication => "RedisReplication",
            ResourceType::RedisSentinel => "RedisSentinel",
            ResourceType::RedisCluster => "RedisCluster",
        }
    }

    /// Lower-case plural used in API paths.
    pub fn plural(self) -> &'static str {
        match self {
            ResourceType::StatefulSet => "statefulsets",
            ResourceType::Service => "services",
            ResourceType::ConfigMap => "configmaps",
            ResourceType::PodDisruptionBudget => "poddisruptionbudgets",
            ResourceType::Pod => "pods",
            ResourceType::PersistentVolumeClaim => "persistentvolumeclaims",
            ResourceType::Secret => "secrets",
            ResourceType::Event => "events",
            ResourceType::Node => "nodes",
            ResourceType::Redis => "redis",
            ResourceType::RedisReplication => "redisreplications",
            ResourceType::RedisSentinel => "redissentinels",
            ResourceType::RedisCluster => "redisclusters",
        }
    }

    /// Whether objects of this type live in a namespace.
    pub fn namespaced(self) -> bool {
        self != ResourceType::Node
    }

    /// The type whose `apiVersion` and `kind` are these, if the operator knows it.
    pub fn from_api_version_and_kind(api_version: &str, kind: &str) -> Option<ResourceType> {
        ResourceType::ALL
            .into_iter()
            .find(|resource| resource.api_version() == api_version && resource.kind() == kind)
    }

    /// Every type, in a fixed order.
    pub const ALL: [ResourceType; 13] = [
        ResourceType::StatefulSet,
        ResourceType::Service,
        ResourceType::ConfigMap,
        ResourceType::PodDisruptionBudget,
        ResourceType::Pod,
        ResourceType::PersistentVolumeClaim,
        ResourceType::Secret,
        ResourceType::Event,
        ResourceType::Node,
        ResourceType::Redis,
        ResourceType::RedisReplication,
        ResourceType::RedisSentinel,
        ResourceType::RedisCluster,
    ];
}

/// Which object: type, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// The object's type.
    pub resource: ResourceType,
    /// Namespace; empty for cluster-scoped types.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// A reference to `namespace/name` of type `resource`.
    pub fn new(resource: ResourceType, namespace: &str, name: &str) -> ObjectRef {
        ObjectRef {
            resource,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The reference an object names in its own `apiVersion`, `kind` and `metadata`.
    pub fn of(object: &Value) -> Option<ObjectRef> {
        // Fields are read from their parents directly: every object is named this way on every
        // reconcile and every simulated step.
        fn text<'value>(parent: &'value Value, field: &str) -> Option<&'value str> {
            parent.get(field).and_then(Value::as_str)
        }
        let resource = ResourceType::from_api_version_and_kind(
            text(object, "apiVersion")?,
            text(object, "kind")?,
        )?;
        let metadata = object.get("metadata")?;
        Some(ObjectRef {
            resource,
            namespace: text(metadata, "namespace").unwrap_or_default().to_owned(),
            name: text(metadata, "name")?.to_owned(),
        })
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(formatter, "{} {}", self.resource.kind(), self.name)
        } else {
            write!(
                formatter,
                "{} {}/{}",
                self.resource.kind(),
                self.namespace,
                self.name
            )
        }
    }
}

/// What happens to an object's dependents when it is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents are deleted after the owner, by the garbage collector.
    Background,
    /// The owner stays until its dependents are gone.
    Foreground,
    /// Dependents are kept and lose the owner reference (pods of a StatefulSet keep serving).
    Orphan,
}

impl Propagation {
    /// The value of `propagationPolicy` in DeleteOptions.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Background => "Background",
            Propagation::Foreground => "Foreground",
            Propagation::Orphan => "Orphan",
        }
    }
}

/// Normal or Warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something needs attention.
    Warning,
}

impl EventType {
    /// The Event's `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Why the operator publishes an Event: the CamelCase word of the Event's `reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventReason {
    /// An owned object was created.
    Created,
    /// A StatefulSet's replica count changed.
    Scaling,
    /// An owned object's configuration changed.
    ConfigurationChanged,
    /// The spec does not validate.
    InvalidSpec,
    /// The API server rejected an update as invalid.
    UpdateRejected,
    /// A StatefulSet whose update was rejected is deleted (pods orphaned) to be created anew.
    StatefulSetRecreated,
    /// The operator promoted a replica because the master was gone.
    FailoverPerformed,
    /// The master changed, whoever changed it (the sentinels, Redis Cluster, the operator).
    MasterChanged,
    /// A replication set has its first master.
    MasterElected,
    /// The operator asks a replica to take over from a master about to restart or leave.
    PlannedFailover,
    /// The cluster's slots were assigned for the first time.
    ClusterBootstrapped,
    /// Slots move between masters.
    SlotsMigrating,
    /// Departing cluster nodes are removed.
    ScalingIn,
    /// A pod cannot be scheduled on any node.
    PodUnschedulable,
    /// A pod's image cannot be pulled.
    ImagePullFailed,
    /// A pod's container keeps crashing.
    CrashLooping,
    /// A pod's container cannot be created (a missing Secret or ConfigMap, for example).
    ContainerNotCreated,
    /// Every pod problem reported earlier is gone.
    PodsRecovered,
    /// The operator deletes a pod created from a template it has since replaced and that never
    /// started, so the StatefulSet creates it from the current template.
    StuckPodReplaced,
    /// A planner refuses a step that would lose data; nothing changes until a person acts or
    /// what it waits for comes back.
    OperationRefused,
    /// A master with no replica to take over restarts for a new template (the only pod of a
    /// replication set, a cluster master whose spec asks for no followers): its set, or its
    /// slots, serve nothing until it is back.
    LoneMasterRestarting,
    /// Keys are lost for good (a master restarted without its data and had no replica), and the
    /// slots they were in are served again, empty.
    SlotsLost,
}

impl EventReason {
    /// The Event's `reason` field.
    pub fn as_str(self) -> &'static str {
        match self {
            EventReason::Created => "Created",
            EventReason::Scaling => "Scaling",
            EventReason::ConfigurationChanged => "ConfigurationChanged",
            EventReason::InvalidSpec => "InvalidSpec",
            EventReason::UpdateRejected => "UpdateRejected",
            EventReason::StatefulSetRecreated => "StatefulSetRecreated",
            EventReason::FailoverPerformed => "FailoverPerformed",
            EventReason::MasterChanged => "MasterChanged",
            EventReason::MasterElected => "MasterElected",
            EventReason::PlannedFailover => "PlannedFailover",
            EventReason::ClusterBootstrapped => "ClusterBootstrapped",
            EventReason::SlotsMigrating => "SlotsMigrating",
            EventReason::ScalingIn => "ScalingIn",
            EventReason::PodUnschedulable => "PodUnschedulable",
            EventReason::ImagePullFailed => "ImagePullFailed",
            EventReason::CrashLooping => "CrashLooping",
            EventReason::ContainerNotCreated => "ContainerNotCreated",
            EventReason::PodsRecovered => "PodsRecovered",
            EventReason::StuckPodReplaced => "StuckPodReplaced",
            EventReason::OperationRefused => "OperationRefused",
            EventReason::LoneMasterRestarting => "LoneMasterRestarting",
            EventReason::SlotsLost => "SlotsLost",
        }
    }

    /// Whether its Event is a Warning: something a person should know went wrong.
    pub fn warns(self) -> bool {
        matches!(
            self,
            EventReason::OperationRefused
                | EventReason::SlotsLost
                | EventReason::LoneMasterRestarting
        )
    }
}

/// A Kubernetes Event about one object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventRecord {
    /// The object the Event is about (the CR).
    pub regarding: ObjectRef,
    /// Normal or Warning.
    pub event_type: EventType,
    /// CamelCase reason, e.g. `ScalingOut`.
    pub reason: String,
    /// What happened, for people; never contains a password.
    pub message: String,
}

/// Why an API call failed, in the classes the reconcile treats differently.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 409: the object changed since it was read, or a field manager conflict.
    #[error("failed to write {object}: conflict: {message}")]
    Conflict {
        /// The object.
        object: String,
        /// The API server's message.
        message: String,
    },
    /// 422: the API server rejected the object as invalid (e.g. a forbidden StatefulSet update).
    #[error("failed to write {object}: invalid: {message}")]
    Invalid {
        /// The object.
        object: String,
        /// The API server's message, naming the forbidden fields.
        message: String,
    },
    /// 404: the object does not exist.
    #[error("failed to find {object}")]
    NotFound {
        /// The object.
        object: String,
    },
    /// 429: e.g. an eviction a PodDisruptionBudget does not allow right now.
    #[error("failed to {action} {object}: too many requests: {message}")]
    TooManyRequests {
        /// The object.
        object: String,
        /// What was attempted.
        action: String,
        /// The API server's message.
        message: String,
    },
    /// Anything else that may work on a later try: timeouts, 5xx, connection errors.
    #[error("failed to {action} {object}: {message}")]
    Transient {
        /// The object or collection.
        object: String,
        /// What was attempted.
        action: String,
        /// What went wrong.
        message: String,
    },
}

/// The Kubernetes API.
#[async_trait]
pub trait KubeApi: Send + Sync {
    /// The object, or `None` when it does not exist.
    async fn get(&self, object: &ObjectRef) -> Result<Option<Value>, ApiError>;

    /// Objects of `resource` in `namespace` whose labels include all of `labels`, sorted by name.
    /// Shared: an implementation that holds the objects hands them out without copying them.
    async fn list(
        &self,
        resource: ResourceType,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Arc<Value>>, ApiError>;

    /// Server-side apply of `object` (which names itself) with the operator's field manager,
    /// forcing conflicts; returns the stored object.
    async fn apply(&self, object: &Value) -> Result<Value, ApiError>;

    /// Server-side apply of `status` to the status subresource of `object`. With a
    /// `resource_version`, the write is refused with a conflict when the object changed since that
    /// version was read: a status computed from a lagging cache must not undo a newer one.
    async fn apply_status(
        &self,
        object: &ObjectRef,
        status: &Value,
        resource_version: Option<&str>,
    ) -> Result<Value, ApiError>;

    /// Deletes the object; a missing object is not an error.
    async fn delete(&self, object: &ObjectRef, propagation: Propagation) -> Result<(), ApiError>;

    /// Evicts a pod through the Eviction API, which honours PodDisruptionBudgets (429 when not
    /// allowed now).
    async fn evict(&self, pod: &ObjectRef) -> Result<(), ApiError>;

    /// Records an Event.
    async fn publish_event(&self, event: &EventRecord) -> Result<(), ApiError>;

    /// Removes `finalizer` from the object's finalizers, whoever added it (a JSON patch guarded by
    /// a test of the entry, so a concurrent change fails with a conflict instead of removing the
    /// wrong entry). A missing object or finalizer is not an error.
    async fn remove_finalizer(&self, object: &ObjectRef, finalizer: &str) -> Result<(), ApiError>;
}
