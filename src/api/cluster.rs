//! The `RedisCluster` kind: a sharded Redis Cluster of leaders and followers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, PodSecurityContext, Probe, ResourceRequirements, SecurityContext, Toleration,
    TopologySpreadConstraint,
};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AclConfig, ClusterStorage, CommonStatus, DEFAULT_REDIS_PORT, InitContainer, KubernetesConfig,
    PodDisruptionBudgetConfig, RedisConfig, RedisExporter, Sidecar, TlsConfig,
};

/// The Redis major version when the CR does not say.
pub const DEFAULT_CLUSTER_VERSION: &str = "v7";

fn default_port() -> i32 {
    DEFAULT_REDIS_PORT
}
fn default_cluster_version() -> String {
    DEFAULT_CLUSTER_VERSION.to_owned()
}

/// Desired state of a Redis Cluster.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "redis.redis.opstreelabs.in",
    version = "v1beta2",
    kind = "RedisCluster",
    plural = "redisclusters",
    singular = "rediscluster",
    namespaced,
    derive = "PartialEq",
    status = "RedisClusterStatus",
    doc = "RedisCluster is the Schema for the redisclusters API",
    shortname = "rdscl",
    category = "redis-operator",
    printcolumn = r#"{"name":"ClusterSize","type":"integer","jsonPath":".spec.clusterSize","description":"Current cluster node count"}"#,
    printcolumn = r#"{"name":"ReadyLeaderReplicas","type":"integer","jsonPath":".status.readyLeaderReplicas","description":"Number of ready leader replicas"}"#,
    printcolumn = r#"{"name":"ReadyFollowerReplicas","type":"integer","jsonPath":".status.readyFollowerReplicas","description":"Number of ready follower replicas"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether the resource is Ready (its Ready condition)"}"#,
    printcolumn = r#"{"name":"State","type":"string","priority":1,"jsonPath":".status.state","description":"The current state of the Redis Cluster"}"#,
    printcolumn = r#"{"name":"Age","type":"date","priority":1,"jsonPath":".metadata.creationTimestamp","description":"Age of Cluster"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.reason","description":"The reason for the current state"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RedisClusterSpec {
    /// Number of shards: one leader each.
    pub cluster_size: i32,
    /// Image, resources, password and Service settings.
    pub kubernetes_config: KubernetesConfig,
    /// Run the pods in the host's network namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,
    /// Redis port; the cluster bus listens on this port plus 10000.
    #[serde(default = "default_port")]
    pub port: i32,
    /// Redis major version of the image: v6, v7 or v8.
    #[serde(default = "default_cluster_version")]
    pub cluster_version: String,
    /// Settings of the leader pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_leader: Option<RedisClusterRoleSpec>,
    /// Settings of the follower pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_follower: Option<RedisClusterRoleSpec>,
    /// The Prometheus exporter sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_exporter: Option<RedisExporter>,
    /// Persistent storage, including each node's nodes.conf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<ClusterStorage>,
    /// Pod-level security context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security_context: Option<PodSecurityContext>,
    /// Priority class of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// CPU and memory of the Redis containers of both roles unless a role sets its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// TLS for client and cluster bus traffic.
    #[serde(default, rename = "TLS", skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// ACL users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<AclConfig>,
    /// Init container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_container: Option<InitContainer>,
    /// Extra containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sidecars: Option<Vec<Sidecar>>,
    /// Service account of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Enable append-only-file persistence on the data volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_enabled: Option<bool>,
    /// Extra environment of the Redis containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
}

/// Settings of one role (leader or follower) of a Redis Cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisClusterRoleSpec {
    /// Pods of this role. Leaders: must equal clusterSize. Followers: a multiple of clusterSize,
    /// the replicas per shard times the shards (default one per shard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Extra redis.conf directives for this role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_config: Option<RedisConfig>,
    /// Affinity of this role's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// PodDisruptionBudget over this role's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdb: Option<PodDisruptionBudgetConfig>,
    /// Readiness probe; the default is a Redis PING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    /// Liveness probe; the default is a Redis PING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    /// Tolerations of this role's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// Node selector of this role's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Topology spread constraints of this role's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
    /// Security context of this role's Redis container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    /// Grace period for pod termination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// CPU and memory of this role's Redis container; falls back to `kubernetesConfig.resources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// Lifecycle state of a Redis Cluster, worded as the v1beta2 API words it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RedisClusterState {
    /// Pods are being created.
    Initializing,
    /// Nodes are being joined and slots assigned.
    Bootstrap,
    /// Every slot is served and every node is in place.
    Ready,
    /// The cluster cannot progress without help; `reason` says why.
    Failed,
}

/// Why a Redis Cluster is in its state: each reason belongs to one state and reads as the
/// v1beta2 status words it (`status.reason`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisClusterReason {
    /// The leader pods are starting.
    InitializingLeaders,
    /// The leader pods are ready; the follower pods are starting.
    InitializingFollowers,
    /// Every pod is ready; nodes are being joined, slots assigned or moved, replicas attached.
    Bootstrapping,
    /// Every slot is served and every node is in place.
    Ready,
    /// The cluster cannot progress without help; the text says why.
    Failed(String),
}

impl RedisClusterReason {
    /// The state this reason belongs to.
    pub fn state(&self) -> RedisClusterState {
        match self {
            RedisClusterReason::InitializingLeaders | RedisClusterReason::InitializingFollowers => {
                RedisClusterState::Initializing
            }
            RedisClusterReason::Bootstrapping => RedisClusterState::Bootstrap,
            RedisClusterReason::Ready => RedisClusterState::Ready,
            RedisClusterReason::Failed(_) => RedisClusterState::Failed,
        }
    }

    /// The sentence of `status.reason`.
    pub fn message(&self) -> &str {
        match self {
            RedisClusterReason::InitializingLeaders => "RedisCluster is initializing leaders",
            RedisClusterReason::InitializingFollowers => "RedisCluster is initializing followers",
            RedisClusterReason::Bootstrapping => "RedisCluster is bootstrapping",
            RedisClusterReason::Ready => "RedisCluster is ready",
            RedisClusterReason::Failed(why) => why,
        }
    }
}

/// Observed state of a Redis Cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "RedisClusterStatus defines the observed state of RedisCluster")]
pub struct RedisClusterStatus {
    /// Lifecycle state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub state: Option<RedisClusterState>,
    /// Why the cluster is in its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Leader pods that are ready.
    #[serde(default)]
    #[schemars(extend("default" = 0))]
    pub ready_leader_replicas: i32,
    /// Follower pods that are ready.
    #[serde(default)]
    #[schemars(extend("default" = 0))]
    pub ready_follower_replicas: i32,
    /// Generation and conditions.
    #[serde(flatten)]
    pub common: CommonStatus,
}
