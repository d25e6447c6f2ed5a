//! The `RedisSentinel` kind: sentinels that watch a `RedisReplication` and fail it over.

use k8s_openapi::api::core::v1::{EnvVarSource, TopologySpreadConstraint};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{AdditionalVolume, CommonStatus, PodDisruptionBudgetConfig, PodSettings};

/// The number of sentinels when the CR does not say.
pub const DEFAULT_SENTINEL_COUNT: i32 = 3;
/// The port every sentinel listens on.
pub const SENTINEL_PORT: i32 = 26379;

fn default_sentinel_count() -> i32 {
    DEFAULT_SENTINEL_COUNT
}
fn default_master_group_name() -> String {
    "myMaster".to_owned()
}
fn default_redis_port() -> String {
    "6379".to_owned()
}
fn default_quorum() -> String {
    "2".to_owned()
}
fn default_parallel_syncs() -> String {
    "1".to_owned()
}
fn default_failover_timeout() -> String {
    "180000".to_owned()
}
fn default_down_after_milliseconds() -> String {
    "30000".to_owned()
}

/// The v1beta2 schema lists `clusterSize` as required even though it has a default; the API server
/// applies the default first, so both say the same, and ours says it the same way.
fn require_cluster_size(schema: &mut schemars::Schema) {
    if let Some(required) = schema
        .ensure_object()
        .entry("required")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()))
        .as_array_mut()
        && !required.iter().any(|name| name == "clusterSize")
    {
        required.insert(0, serde_json::Value::from("clusterSize"));
    }
}

/// Desired state of a group of sentinels.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "redis.redis.opstreelabs.in",
    version = "v1beta2",
    kind = "RedisSentinel",
    plural = "redissentinels",
    singular = "redissentinel",
    namespaced,
    derive = "PartialEq",
    status = "RedisSentinelStatus",
    doc = "RedisSentinel is the Schema for the redissentinels API",
    shortname = "rdssen",
    category = "redis-operator",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether the resource is Ready (its Ready condition)"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason","description":"Why it is Ready or not (the reason of its Ready condition)"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"Age of the sentinel set"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = require_cluster_size)]
pub struct RedisSentinelSpec {
    /// Number of sentinel pods.
    #[serde(default = "default_sentinel_count")]
    #[schemars(extend("minimum" = 1))]
    pub cluster_size: i32,
    /// Image, probes, scheduling and security of the pods.
    #[serde(flatten)]
    pub pod: PodSettings,
    /// What the sentinels monitor and how they fail it over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_sentinel_config: Option<RedisSentinelConfig>,
    /// PodDisruptionBudget over the sentinel pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdb: Option<PodDisruptionBudgetConfig>,
    /// Topology spread constraints of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
    /// Extra volumes and their mounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mount: Option<AdditionalVolume>,
}

/// The replication set the sentinels monitor and their failover settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisSentinelConfig {
    /// Extra sentinel.conf directives: the name of a ConfigMap in the CR's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_sentinel_config: Option<String>,
    /// Name of the `RedisReplication` in the same namespace that the sentinels monitor.
    pub redis_replication_name: String,
    /// Where the replication set's password comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_replication_password: Option<EnvVarSource>,
    /// Name under which the sentinels know the master.
    #[serde(default = "default_master_group_name")]
    pub master_group_name: String,
    /// Redis port of the replication set.
    #[serde(default = "default_redis_port")]
    pub redis_port: String,
    /// Sentinels that must agree the master is down before a failover.
    #[serde(default = "default_quorum")]
    pub quorum: String,
    /// Replicas that resynchronise with a new master at the same time.
    #[serde(default = "default_parallel_syncs")]
    pub parallel_syncs: String,
    /// Failover timeout in milliseconds.
    #[serde(default = "default_failover_timeout")]
    pub failover_timeout: String,
    /// Milliseconds without an answer before a sentinel deems the master down.
    #[serde(default = "default_down_after_milliseconds")]
    pub down_after_milliseconds: String,
}

impl Default for RedisSentinelConfig {
    fn default() -> Self {
        RedisSentinelConfig {
            additional_sentinel_config: None,
            redis_replication_name: String::new(),
            redis_replication_password: None,
            master_group_name: default_master_group_name(),
            redis_port: default_redis_port(),
            quorum: default_quorum(),
            parallel_syncs: default_parallel_syncs(),
            failover_timeout: default_failover_timeout(),
            down_after_milliseconds: default_down_after_milliseconds(),
        }
    }
}

/// Observed state of a group of sentinels.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisSentinelStatus {
    /// Sentinel pods that are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// The master address the sentinels agree on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_address: Option<String>,
    /// Generation and conditions.
    #[serde(flatten)]
    pub common: CommonStatus,
}
