//! One group of identical pods — a StatefulSet with its Services, configuration and disruption
//! budget — described once for all four kinds. Each kind maps its spec onto one group (a cluster
//! onto two: leaders and followers); every builder reads only this description.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, PersistentVolumeClaim, PodSecurityContext, Probe, ResourceRequirements,
    SecurityContext, Toleration, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::names::{
    APP_LABEL, CLUSTER_LABEL, COMPONENT_LABEL, INSTANCE_ANNOTATION, INSTANCE_LABEL,
    MANAGED_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_LABEL_VALUE, NAME_LABEL, NAME_LABEL_VALUE,
    NEVER_COPIED_ANNOTATIONS, ROLE_LABEL, SETUP_TYPE_LABEL,
};
use crate::api::common::{
    AclConfig, AdditionalVolume, InitContainer, KubernetesConfig, RedisExporter, Sidecar, TlsConfig,
};
use crate::api::validation::{DisruptionBudget, SecretKey};

/// The CR that owns a group: what every owned object's metadata is derived from.
#[derive(Clone, Debug, PartialEq)]
pub struct Owner {
    /// `apiVersion` of the CR.
    pub api_version: String,
    /// `kind` of the CR.
    pub kind: String,
    /// Name of the CR.
    pub name: String,
    /// Namespace of the CR and of everything it owns.
    pub namespace: String,
    /// UID of the CR (empty when rendering offline).
    pub uid: String,
    /// The CR's labels, copied onto owned objects (never into selectors).
    pub labels: BTreeMap<String, String>,
    /// The CR's annotations, minus the ignored ones, copied onto owned objects.
    pub annotations: BTreeMap<String, String>,
}

impl Owner {
    /// The ownerReference every owned object carries: the CR controls it.
    pub fn reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

/// Copies annotations that may travel from the CR to what it owns.
pub fn copied_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    ignored: Option<&[String]>,
) -> BTreeMap<String, String> {
    annotations
        .into_iter()
        .flatten()
        .filter(|(key, _)| {
            !NEVER_COPIED_ANNOTATIONS.contains(&key.as_str())
                && !ignored.unwrap_or_default().contains(key)
                && !key.starts_with("redis.opstreelabs.in/")
                && !key.ends_with(".opstreelabs.in/skip-reconcile")
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// What program the pods run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerMode {
    /// A standalone Redis server.
    Standalone,
    /// A Redis server of a replication set.
    Replication,
    /// A Redis Cluster node of the given major version (6, 7, 8).
    Cluster {
        /// Redis major version.
        major_version: u8,
    },
    /// A sentinel.
    Sentinel,
}

/// Everything the builders need to know about one group of pods.
#[derive(Clone, Debug)]
pub struct PodGroup<'a> {
    /// The owning CR.
    pub owner: Owner,
    /// StatefulSet name; Services, the ConfigMap and (mostly) the PDB derive from it.
    pub statefulset_name: String,
    /// Value of the `redis_setup_type` label.
    pub setup_type: &'static str,
    /// Value of the `role` label.
    pub role: &'static str,
    /// Value of the `app` label.
    pub app: String,
    /// Name of the PodDisruptionBudget.
    pub disruption_budget_name: String,
    /// Pods in the group.
    pub replicas: i32,
    /// What the pods run.
    pub mode: ServerMode,
    /// Client port.
    pub port: i32,
    /// Image, pull policy, password, Service and update settings.
    pub kubernetes_config: &'a KubernetesConfig,
    /// The password Secret key, when Redis requires one.
    pub password: Option<SecretKey>,
    /// The exporter, only when enabled.
    pub exporter: Option<&'a RedisExporter>,
    /// CPU and memory of the main container.
    pub resources: Option<&'a ResourceRequirements>,
    /// Pod security context.
    pub pod_security_context: Option<&'a PodSecurityContext>,
    /// Main container security context.
    pub security_context: Option<&'a SecurityContext>,
    /// Priority class.
    pub priority_class_name: Option<&'a str>,
    /// Node selector.
    pub node_selector: Option<&'a BTreeMap<String, String>>,
    /// Tolerations.
    pub tolerations: Option<&'a [Toleration]>,
    /// Affinity.
    pub affinity: Option<&'a Affinity>,
    /// Topology spread constraints.
    pub topology_spread_constraints: Option<&'a [TopologySpreadConstraint]>,
    /// TLS.
    pub tls: Option<&'a TlsConfig>,
    /// ACL.
    pub acl: Option<&'a AclConfig>,
    /// The user's readiness probe, if any.
    pub readiness_probe: Option<&'a Probe>,
    /// The user's liveness probe, if any.
    pub liveness_probe: Option<&'a Probe>,
    /// Init container, only when enabled.
    pub init_container: Option<&'a InitContainer>,
    /// Sidecars.
    pub sidecars: &'a [Sidecar],
    /// Service account.
    pub service_account_name: Option<&'a str>,
    /// Termination grace period.
    pub termination_grace_period_seconds: Option<i64>,
    /// Extra environment of the main container.
    pub env: &'a [EnvVar],
    /// The user's additional configuration ConfigMap.
    pub additional_config: Option<&'a str>,
    /// Claim template of the data volume; `None` puts data on an emptyDir.
    pub data_claim: Option<&'a PersistentVolumeClaim>,
    /// Whether Redis persists its dataset (AOF and RDB) on the data volume.
    pub persistence: bool,
    /// Claim template of the nodes.conf volume (cluster only).
    pub node_conf_claim: Option<PersistentVolumeClaim>,
    /// Extra volumes and mounts.
    pub extra_volumes: Option<&'a AdditionalVolume>,
    /// Run in the host network namespace.
    pub host_network: bool,
    /// The PodDisruptionBudget, when enabled.
    pub disruption_budget: Option<DisruptionBudget>,
    /// Whether the operator orchestrates restarts itself (OnDelete unless the user chose).
    pub operator_orchestrates_restarts: bool,
}

impl PodGroup<'_> {
    /// Labels that select the group's pods; they never change over the objects' lives.
    pub fn selector_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (APP_LABEL.to_owned(), self.app.clone()),
            (SETUP_TYPE_LABEL.to_owned(), self.setup_type.to_owned()),
            (ROLE_LABEL.to_owned(), self.role.to_owned()),
        ])
    }

    /// Labels of every object of the group: the CR's labels, then the operator's, which win. A
    /// cluster's objects also carry [`CLUSTER_LABEL`], whichever role they serve.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.owner.labels.clone();
        labels.extend(self.selector_labels());
        labels.insert(NAME_LABEL.to_owned(), NAME_LABEL_VALUE.to_owned());
        labels.insert(INSTANCE_LABEL.to_owned(), self.owner.name.clone());
        labels.insert(COMPONENT_LABEL.to_owned(), self.role.to_owned());
        labels.insert(
            MANAGED_BY_LABEL.to_owned(),
            MANAGED_BY_LABEL_VALUE.to_owned(),
        );
        if self.is_cluster() {
            labels.insert(CLUSTER_LABEL.to_owned(), self.owner.name.clone());
        }
        labels
    }

    /// Annotations of every object of the group; [`INSTANCE_ANNOTATION`] names the CR, whichever
    /// group (sentinels, leaders, followers) the object belongs to.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let mut annotations = self.owner.annotations.clone();
        annotations.insert(MANAGED_ANNOTATION.to_owned(), "true".to_owned());
        annotations.insert(INSTANCE_ANNOTATION.to_owned(), self.owner.name.clone());
        annotations
    }

    /// Whether the group runs Redis Cluster nodes.
    pub fn is_cluster(&self) -> bool {
        matches!(self.mode, ServerMode::Cluster { .. })
    }
}
