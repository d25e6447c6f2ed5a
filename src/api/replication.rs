//! The `RedisReplication` kind: one master and its replicas.

use k8s_openapi::api::core::v1::TopologySpreadConstraint;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AclConfig, CommonStatus, PodDisruptionBudgetConfig, PodSettings, RedisConfig, Storage,
};

/// Desired state of a Redis master with replicas.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "redis.redis.opstreelabs.in",
    version = "v1beta2",
    kind = "RedisReplication",
    plural = "redisreplications",
    singular = "redisreplication",
    namespaced,
    derive = "PartialEq",
    status = "RedisReplicationStatus",
    doc = "RedisReplication is the Schema for the redisreplications API",
    shortname = "rdsrep",
    category = "redis-operator",
    printcolumn = r#"{"name":"Master","type":"string","jsonPath":".status.masterNode","description":"The pod that runs the current master"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether the resource is Ready (its Ready condition)"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason","description":"Why it is Ready or not (the reason of its Ready condition)"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"Age of the replication set"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RedisReplicationSpec {
    /// Number of Redis pods: one master and `clusterSize - 1` replicas.
    pub cluster_size: i32,
    /// Image, probes, scheduling and security of the pods.
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
    /// PodDisruptionBudget over the Redis pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdb: Option<PodDisruptionBudgetConfig>,
    /// Topology spread constraints of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
}

/// Observed state of a replication set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "RedisStatus defines the observed state of Redis")]
pub struct RedisReplicationStatus {
    /// Name of the pod that runs the current master.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_node: Option<String>,
    /// Redis pods that are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Generation and conditions.
    #[serde(flatten)]
    pub common: CommonStatus,
}
