//! The four v1beta2 kinds of API group `redis.redis.opstreelabs.in`, their CRDs, and the pure
//! validation that turns a spec into a validated spec with defaults merged.
//!
//! Nothing here talks to the API server or to Redis.

pub mod cluster;
pub mod common;
pub mod crd;
pub mod document;
pub mod field_error;
pub mod quantity;
pub mod replication;
pub mod schema;
pub mod sentinel;
pub mod standalone;
pub mod validation;

pub use cluster::{
    RedisCluster, RedisClusterReason, RedisClusterSpec, RedisClusterState, RedisClusterStatus,
};
pub use replication::{RedisReplication, RedisReplicationSpec, RedisReplicationStatus};
pub use sentinel::{RedisSentinel, RedisSentinelSpec, RedisSentinelStatus};
pub use standalone::{Redis, RedisSpec, RedisStatus};

/// The API group of the four kinds.
pub const API_GROUP: &str = "redis.redis.opstreelabs.in";
/// The only served and stored version.
pub const API_VERSION: &str = "v1beta2";
/// `apiVersion` as written in manifests.
pub const API_GROUP_VERSION: &str = "redis.redis.opstreelabs.in/v1beta2";

/// Annotation that, when "true", lets the operator recreate a StatefulSet whose update the API
/// server rejects as invalid (orphaning the pods so they keep serving).
pub const RECREATE_STATEFULSET_ANNOTATION: &str = "redis.opstreelabs.in/recreate-statefulset";
/// Annotation that, when "true", stops all writes for a CR of any kind.
pub const SKIP_RECONCILE_ANNOTATION: &str = "redis.opstreelabs.in/skip-reconcile";
/// Annotation that, when "true", stops all writes for a RedisCluster.
pub const CLUSTER_SKIP_RECONCILE_ANNOTATION: &str = "rediscluster.opstreelabs.in/skip-reconcile";
/// Annotation that, when "true", stops all writes for a RedisReplication.
pub const REPLICATION_SKIP_RECONCILE_ANNOTATION: &str =
    "redisreplication.opstreelabs.in/skip-reconcile";
/// Annotation that, when "true", stops all writes for a RedisSentinel.
pub const SENTINEL_SKIP_RECONCILE_ANNOTATION: &str = "redissentinel.opstreelabs.in/skip-reconcile";

/// The kinds this operator serves, in a fixed order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `Redis`: one standalone server.
    Redis,
    /// `RedisReplication`: one master and replicas.
    RedisReplication,
    /// `RedisSentinel`: sentinels over a replication set.
    RedisSentinel,
    /// `RedisCluster`: a sharded Redis Cluster.
    RedisCluster,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 4] = [
        Kind::Redis,
        Kind::RedisReplication,
        Kind::RedisSentinel,
        Kind::RedisCluster,
    ];

    /// The kind's name as written in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Redis => "Redis",
            Kind::RedisReplication => "RedisReplication",
            Kind::RedisSentinel => "RedisSentinel",
            Kind::RedisCluster => "RedisCluster",
        }
    }

    /// The kind named `name`, if it is one of ours.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The kind-specific skip-reconcile annotation; the generic one applies to every kind too.
    pub fn skip_reconcile_annotation(self) -> &'static str {
        match self {
            Kind::Redis => SKIP_RECONCILE_ANNOTATION,
            Kind::RedisReplication => REPLICATION_SKIP_RECONCILE_ANNOTATION,
            Kind::RedisSentinel => SENTINEL_SKIP_RECONCILE_ANNOTATION,
            Kind::RedisCluster => CLUSTER_SKIP_RECONCILE_ANNOTATION,
        }
    }
}

/// True when `annotations` holds `key` with the value exactly "true"; any other value means off.
pub fn annotation_is_true(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
    key: &str,
) -> bool {
    annotations
        .and_then(|map| map.get(key))
        .is_some_and(|value| value == "true")
}

/// True when the object's annotations ask the operator to make no writes for it.
pub fn skips_reconcile(
    kind: Kind,
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> bool {
    annotation_is_true(annotations, SKIP_RECONCILE_ANNOTATION)
        || annotation_is_true(annotations, kind.skip_reconcile_annotation())
}
