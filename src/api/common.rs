//! Blocks shared by the four kinds: image and Service settings, the password secret, the exporter
//! sidecar, extra Redis configuration, storage, TLS, ACL, sidecars, the init container and the
//! PodDisruptionBudget settings.
//!
//! These are wire types: field names and JSON types follow the v1beta2 API exactly. Defaults that the
//! schema states live here; every other rule lives in `validation`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSetUpdateStrategy;
use k8s_openapi::api::core::v1::{
    Affinity, ContainerPort, EnvVar, LocalObjectReference, PersistentVolumeClaim,
    PodSecurityContext, Probe, ResourceRequirements, SecretVolumeSource, SecurityContext,
    Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The port every Redis server listens on unless the CR says otherwise.
pub const DEFAULT_REDIS_PORT: i32 = 6379;
/// The port the Redis exporter serves metrics on unless the CR says otherwise.
pub const DEFAULT_EXPORTER_PORT: i32 = 9121;

pub(crate) fn default_exporter_port() -> i32 {
    DEFAULT_EXPORTER_PORT
}

/// Image, resources, password and Service settings of the Redis containers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "KubernetesConfig will be the JSON struct for Basic Redis Config")]
pub struct KubernetesConfig {
    /// Container image that runs redis-server (or redis-sentinel for RedisSentinel).
    pub image: String,
    /// Image pull policy: Always, IfNotPresent or Never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// CPU and memory requests and limits of the Redis container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Secret and key holding the Redis password; without it Redis runs without a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_secret: Option<ExistingPasswordSecret>,
    /// Secrets used to pull the images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    /// StatefulSet update strategy of the Redis pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_strategy: Option<StatefulSetUpdateStrategy>,
    /// Type and annotations of the client Services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceConfig>,
    /// Annotation keys on the CR that are not copied to the objects the operator creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_annotations: Option<Vec<String>>,
    /// Minimum seconds a new pod must be ready before it counts as available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
}

/// A key of an existing Secret that holds the Redis password.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "ExistingPasswordSecret is the struct to access the existing secret")]
pub struct ExistingPasswordSecret {
    /// Name of the Secret in the CR's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Key within the Secret whose value is the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// How the client Services are exposed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ServiceType {
    /// An external load balancer in front of the Service.
    LoadBalancer,
    /// A port on every node; RedisCluster gets one NodePort Service per pod.
    NodePort,
    /// A cluster-internal virtual IP.
    #[default]
    ClusterIP,
}

impl ServiceType {
    /// The value of a Service's `spec.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::NodePort => "NodePort",
            ServiceType::ClusterIP => "ClusterIP",
        }
    }
}

/// Type and annotations of the additional client Service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(
    description = "ServiceConfig define the type of service to be created and its annotations"
)]
pub struct ServiceConfig {
    /// Service type: LoadBalancer, NodePort or ClusterIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<ServiceType>,
    /// Annotations put on the Services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The Prometheus Redis exporter sidecar.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(
    description = "RedisExporter interface will have the information for redis exporter related stuff"
)]
pub struct RedisExporter {
    /// Whether the exporter sidecar runs; its port appears on the Services only when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Exporter image.
    pub image: String,
    /// CPU and memory of the exporter container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Image pull policy of the exporter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Port the exporter serves metrics on.
    #[serde(default = "default_exporter_port")]
    pub port: i32,
    /// Extra environment of the exporter container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    /// Security context of the exporter container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
}

impl RedisExporter {
    /// True when the exporter sidecar should run.
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(false)
    }
}

/// Extra redis.conf directives.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "RedisConfig defines the external configuration of Redis")]
pub struct RedisConfig {
    /// Name of a ConfigMap in the CR's namespace whose `redis-additional.conf` key is included
    /// into redis.conf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_redis_config: Option<String>,
}

/// Extra volumes mounted into the Redis pods.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "Additional Volume is provided by user that is mounted on the pods")]
pub struct AdditionalVolume {
    /// Volumes added to the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Vec<Volume>>,
    /// Where the Redis container mounts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<Vec<VolumeMount>>,
}

/// Persistent storage of Redis data.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "Storage is the inteface to add pvc and pv support in redis")]
pub struct Storage {
    /// Keep the PersistentVolumeClaims when the CR is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_after_delete: Option<bool>,
    /// Claim template of the data volume mounted at /data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_claim_template: Option<PersistentVolumeClaim>,
    /// Extra volumes and their mounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mount: Option<AdditionalVolume>,
}

/// Persistent storage of a Redis Cluster, which also keeps each node's nodes.conf.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "Node-conf needs to be added only in redis cluster")]
pub struct ClusterStorage {
    /// Keep the PersistentVolumeClaims when the CR is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_after_delete: Option<bool>,
    /// Claim template of the data volume mounted at /data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_claim_template: Option<PersistentVolumeClaim>,
    /// Extra volumes and their mounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mount: Option<AdditionalVolume>,
    /// Keep each node's nodes.conf on its own volume so a restarted pod keeps its cluster identity.
    #[serde(default)]
    #[schemars(extend("default" = false))]
    pub node_conf_volume: bool,
    /// Claim template of the nodes.conf volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_conf_volume_claim_template: Option<PersistentVolumeClaim>,
}

/// TLS for client and replication traffic.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "TLS Configuration for redis instances")]
pub struct TlsConfig {
    /// Key of the CA certificate in the secret (default `ca.crt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// Key of the server certificate in the secret (default `tls.crt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    /// Key of the private key in the secret (default `tls.key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Reference to secret which contains the certificates
    pub secret: SecretVolumeSource,
}

/// Redis ACL users loaded from a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "ACL configuration for redis instances")]
pub struct AclConfig {
    /// Secret whose `user.acl` key is the ACL file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolumeSource>,
}

/// An extra container in every Redis pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "Sidecar for each Redis pods")]
pub struct Sidecar {
    /// Container name; must not clash with the operator's own containers.
    pub name: String,
    /// Container image.
    pub image: String,
    /// Image pull policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// CPU and memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    /// Volume mounts, naming volumes of `storage.volumeMount.volume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<Vec<VolumeMount>>,
    /// Command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Container ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<ContainerPort>>,
    /// Security context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
}

/// A container that runs before Redis starts in every pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "InitContainer for each Redis pods")]
pub struct InitContainer {
    /// Whether the init container runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Image.
    pub image: String,
    /// Image pull policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// CPU and memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    /// Command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Security context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
}

impl InitContainer {
    /// True when the init container should run.
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(false)
    }
}

/// A PodDisruptionBudget over the pods of one StatefulSet.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(
    description = "RedisPodDisruptionBudget configure a PodDisruptionBudget on the resource (leader/follower)"
)]
pub struct PodDisruptionBudgetConfig {
    /// Whether the PodDisruptionBudget exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Pods that must stay available; exclusive with maxUnavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<i32>,
    /// Pods that may be unavailable; exclusive with minAvailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<i32>,
}

impl PodDisruptionBudgetConfig {
    /// True when the PodDisruptionBudget should exist.
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(false)
    }
}

/// Status fields every kind carries in addition to its own.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Standard conditions: Ready, Progressing and Degraded, each with a reason and message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// Updates the API server rejected as invalid and that the operator will not send again until
    /// the spec changes what it would write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_updates: Option<Vec<RejectedUpdate>>,
}

/// An update of an owned object that the API server rejected as invalid.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RejectedUpdate {
    /// Kind and name of the object, e.g. `StatefulSet cache`.
    pub object: String,
    /// Hash of the object the operator tried to write.
    pub desired_hash: String,
    /// The API server's message, naming the forbidden fields.
    pub message: String,
}

/// Pod settings that `Redis`, `RedisReplication` and `RedisSentinel` share, flattened into their
/// specs so that the wire format stays the flat v1beta2 one.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSettings {
    /// Image, resources, password and Service settings.
    pub kubernetes_config: KubernetesConfig,
    /// The Prometheus exporter sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_exporter: Option<RedisExporter>,
    /// Pod-level security context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security_context: Option<PodSecurityContext>,
    /// Security context of the Redis container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    /// Priority class of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Node selector of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Tolerations of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// Affinity of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// TLS for client and replication traffic.
    #[serde(default, rename = "TLS", skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Readiness probe; the default is a Redis PING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    /// Liveness probe; the default is a Redis PING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    /// Init container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_container: Option<InitContainer>,
    /// Extra containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sidecars: Option<Vec<Sidecar>>,
    /// Service account of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Grace period for pod termination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// Extra environment of the Redis container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
}
