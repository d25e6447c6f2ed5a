//! The `Redis` kind: one standalone Redis server.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{AclConfig, CommonStatus, PodSettings, RedisConfig, Storage};

/// Desired state of a standalone Redis server.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "redis.redis.opstreelabs.in",
    version = "v1beta2",
    kind = "Redis",
    plural = "redis",
    singular = "redis",
    namespaced,
    derive = "PartialEq",
    status = "RedisStatus",
    doc = "Redis is the Schema for the redis API",
    shortname = "rds",
    category = "redis-operator",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether the resource is Ready (its Ready condition)"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason","description":"Why it is Ready or not (the reason of its Ready condition)"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"Age of the standalone server"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RedisSpec {
    /// Image, probes, scheduling and security of the pod.
    #[serde(flatten)]
    pub pod: PodSettings,
    /// Extra redis.conf directives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_config: Option<RedisConfig>,
    /// Persistent storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    /// ACL users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<AclConfig>,
}

/// Observed state of a standalone Redis server.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "RedisStatus defines the observed state of Redis")]
pub struct RedisStatus {
    /// Whether the Redis pod is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Generation and conditions.
    #[serde(flatten)]
    pub common: CommonStatus,
}
