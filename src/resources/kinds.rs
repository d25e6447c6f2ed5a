//! Maps each kind's validated spec onto its groups of pods: one for `Redis`, `RedisReplication`
//! and `RedisSentinel`, two (leaders and followers) for `RedisCluster`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;

use super::group::{Owner, PodGroup, ServerMode, copied_annotations};
use super::names::{
    FOLLOWER_ROLE, LEADER_ROLE, REPLICATION_PDB_SUFFIX, SENTINEL_SUFFIX, STANDALONE_SETUP_TYPE,
};
use super::statefulset::default_node_conf_claim;
use crate::api::common::{KubernetesConfig, PodSettings};
use crate::api::sentinel::SENTINEL_PORT;
use crate::api::validation::{
    ValidatedCluster, ValidatedRedis, ValidatedReplication, ValidatedSentinel,
};
use crate::api::{Redis, RedisCluster, RedisReplication, RedisSentinel};

/// The owner description of a CR.
pub fn owner_of<K: Resource<DynamicType = ()>>(resource: &K, config: &KubernetesConfig) -> Owner {
    let metadata: &ObjectMeta = resource.meta();
    Owner {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: metadata.name.clone().unwrap_or_default(),
        namespace: metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned()),
        uid: metadata.uid.clone().unwrap_or_default(),
        labels: metadata.labels.clone().unwrap_or_default(),
        annotations: copied_annotations(
            metadata.annotations.as_ref(),
            config.ignore_annotations.as_deref(),
        ),
    }
}

/// Fills the pod settings the three single-group kinds share.
fn single_group<'a>(
    owner: Owner,
    pod: &'a PodSettings,
    password: Option<crate::api::validation::SecretKey>,
    exporter_enabled: bool,
    statefulset_name: String,
    mode: ServerMode,
) -> PodGroup<'a> {
    let (setup_type, role, port) = match mode {
        ServerMode::Standalone => (
            STANDALONE_SETUP_TYPE,
            STANDALONE_SETUP_TYPE,
            crate::api::common::DEFAULT_REDIS_PORT,
        ),
        ServerMode::Replication => (
            "replication",
            "replication",
            crate::api::common::DEFAULT_REDIS_PORT,
        ),
        ServerMode::Sentinel => ("sentinel", "sentinel", SENTINEL_PORT),
        ServerMode::Cluster { .. } => (
            "cluster",
            LEADER_ROLE,
            crate::api::common::DEFAULT_REDIS_PORT,
        ),
    };
    PodGroup {
        owner,
        app: statefulset_name.clone(),
        disruption_budget_name: statefulset_name.clone(),
        statefulset_name,
        setup_type,
        role,
        replicas: 1,
        mode,
        port,
        kubernetes_config: &pod.kubernetes_config,
        password,
        exporter: pod.redis_exporter.as_ref().filter(|_| exporter_enabled),
        resources: pod.kubernetes_config.resources.as_ref(),
        pod_security_context: pod.pod_security_context.as_ref(),
        security_context: pod.security_context.as_ref(),
        priority_class_name: pod.priority_class_name.as_deref(),
        node_selector: pod.node_selector.as_ref(),
        tolerations: pod.tolerations.as_deref(),
        affinity: pod.affinity.as_ref(),
        topology_spread_constraints: None,
        tls: pod.tls.as_ref(),
        acl: None,
        readiness_probe: pod.readiness_probe.as_ref(),
        liveness_probe: pod.liveness_probe.as_ref(),
        init_container: pod.init_container.as_ref().filter(|init| init.is_enabled()),
        sidecars: pod.sidecars.as_deref().unwrap_or_default(),
        service_account_name: pod.service_account_name.as_deref(),
        termination_grace_period_seconds: pod.termination_grace_period_seconds,
        env: pod.env.as_deref().unwrap_or_default(),
        additional_config: None,
        data_claim: None,
        persistence: false,
        node_conf_claim: None,
        extra_volumes: None,
        host_network: false,
        disruption_budget: None,
        operator_orchestrates_restarts: false,
    }
}

/// ACL, extra configuration and storage as `Redis` and `RedisReplication` declare them: data on a
/// claim persists (AOF and RDB), data without one lives and dies with the pod.
fn with_redis_storage<'a>(
    group: &mut PodGroup<'a>,
    acl: Option<&'a crate::api::common::AclConfig>,
    redis_config: Option<&'a crate::api::common::RedisConfig>,
    storage: Option<&'a crate::api::common::Storage>,
) {
    group.acl = acl;
    group.additional_config =
        redis_config.and_then(|config| config.additional_redis_config.as_deref());
    group.data_claim = storage.and_then(|storage| storage.volume_claim_template.as_ref());
    group.persistence = group.data_claim.is_some();
    group.extra_volumes = storage.and_then(|storage| storage.volume_mount.as_ref());
}

/// The group of a standalone Redis.
pub fn redis_group<'a>(resource: &Redis, validated: &'a ValidatedRedis) -> PodGroup<'a> {
    let spec = &validated.spec;
    let owner = owner_of(resource, &spec.pod.kubernetes_config);
    let name = owner.name.clone();
    let mut group = single_group(
        owner,
        &spec.pod,
        validated.common.password.clone(),
        validated.common.exporter_enabled,
        name,
        ServerMode::Standalone,
    );
    with_redis_storage(
        &mut group,
        spec.acl.as_ref(),
        spec.redis_config.as_ref(),
        spec.storage.as_ref(),
    );
    group
}

/// The group of a replication set.
pub fn replication_group<'a>(
    resource: &RedisReplication,
    validated: &'a ValidatedReplication,
) -> PodGroup<'a> {
    let spec = &validated.spec;
    let owner = owner_of(resource, &spec.pod.kubernetes_config);
    let name = owner.name.clone();
    let mut group = single_group(
        owner,
        &spec.pod,
        validated.common.password.clone(),
        validated.common.exporter_enabled,
        name.clone(),
        ServerMode::Replication,
    );
    group.replicas = validated.size;
    group.disruption_budget_name = format!("{name}{REPLICATION_PDB_SUFFIX}");
    group.disruption_budget = validated.disruption_budget;
    group.topology_spread_constraints = spec.topology_spread_constraints.as_deref();
    with_redis_storage(
        &mut group,
        spec.acl.as_ref(),
        spec.redis_config.as_ref(),
        spec.storage.as_ref(),
    );
    group.operator_orchestrates_restarts = true;
    group
}

/// The group of a set of sentinels.
pub fn sentinel_group<'a>(
    resource: &RedisSentinel,
    validated: &'a ValidatedSentinel,
) -> PodGroup<'a> {
    let spec = &validated.spec;
    let owner = owner_of(resource, &spec.pod.kubernetes_config);
    let statefulset_name = format!("{}{SENTINEL_SUFFIX}", owner.name);
    let mut group = single_group(
        owner,
        &spec.pod,
        validated.common.password.clone(),
        validated.common.exporter_enabled,
        statefulset_name,
        ServerMode::Sentinel,
    );
    group.replicas = validated.size;
    group.disruption_budget = validated.disruption_budget;
    group.topology_spread_constraints = spec.topology_spread_constraints.as_deref();
    group.additional_config = spec
        .redis_sentinel_config
        .as_ref()
        .and_then(|config| config.additional_sentinel_config.as_deref());
    group.extra_volumes = spec.volume_mount.as_ref();
    group
}

/// The leader and follower groups of a Redis Cluster, each from its own role's settings.
pub fn cluster_groups<'a>(
    resource: &RedisCluster,
    validated: &'a ValidatedCluster,
) -> [PodGroup<'a>; 2] {
    let spec = &validated.spec;
    let owner = owner_of(resource, &spec.kubernetes_config);
    let major_version = spec
        .cluster_version
        .trim_start_matches('v')
        .parse()
        .unwrap_or(7);
    let storage = spec.storage.as_ref();
    let persistence = spec.persistence_enabled.unwrap_or(false);
    let node_conf_claim = storage
        .filter(|storage| storage.node_conf_volume)
        .map(|storage| {
            storage
                .node_conf_volume_claim_template
                .clone()
                .unwrap_or_else(default_node_conf_claim)
        });
    let roles = [
        (
            LEADER_ROLE,
            spec.redis_leader.as_ref(),
            validated.shards,
            validated.leader_disruption_budget,
        ),
        (
            FOLLOWER_ROLE,
            spec.redis_follower.as_ref(),
            validated.shards * validated.replicas_per_shard,
            validated.follower_disruption_budget,
        ),
    ];
    roles.map(|(role, settings, replicas, disruption_budget)| {
        let statefulset_name = format!("{}-{role}", owner.name);
        PodGroup {
            owner: owner.clone(),
            app: statefulset_name.clone(),
            disruption_budget_name: statefulset_name.clone(),
            statefulset_name,
            setup_type: "cluster",
            role,
            replicas,
            mode: ServerMode::Cluster { major_version },
            port: spec.port,
            kubernetes_config: &spec.kubernetes_config,
            password: validated.common.password.clone(),
            exporter: spec
                .redis_exporter
                .as_ref()
                .filter(|_| validated.common.exporter_enabled),
            resources: settings
                .and_then(|settings| settings.resources.as_ref())
                .or(spec.kubernetes_config.resources.as_ref())
                .or(spec.resources.as_ref()),
            pod_security_context: spec.pod_security_context.as_ref(),
            security_context: settings.and_then(|settings| settings.security_context.as_ref()),
            priority_class_name: spec.priority_class_name.as_deref(),
            node_selector: settings.and_then(|settings| settings.node_selector.as_ref()),
            tolerations: settings.and_then(|settings| settings.tolerations.as_deref()),
            affinity: settings.and_then(|settings| settings.affinity.as_ref()),
            topology_spread_constraints: settings
                .and_then(|settings| settings.topology_spread_constraints.as_deref()),
            tls: spec.tls.as_ref(),
            acl: spec.acl.as_ref(),
            readiness_probe: settings.and_then(|settings| settings.readiness_probe.as_ref()),
            liveness_probe: settings.and_then(|settings| settings.liveness_probe.as_ref()),
            init_container: spec
                .init_container
                .as_ref()
                .filter(|init| init.is_enabled()),
            sidecars: spec.sidecars.as_deref().unwrap_or_default(),
            service_account_name: spec.service_account_name.as_deref(),
            termination_grace_period_seconds: settings
                .and_then(|settings| settings.termination_grace_period_seconds),
            env: spec.env.as_deref().unwrap_or_default(),
            additional_config: settings
                .and_then(|settings| settings.redis_config.as_ref())
                .and_then(|config| config.additional_redis_config.as_deref()),
            data_claim: storage
                .filter(|_| persistence)
                .and_then(|storage| storage.volume_claim_template.as_ref()),
            persistence,
            node_conf_claim: node_conf_claim.clone(),
            extra_volumes: storage.and_then(|storage| storage.volume_mount.as_ref()),
            host_network: spec.host_network.unwrap_or(false),
            disruption_budget,
            operator_orchestrates_restarts: true,
        }
    })
}

/// The `redis_setup_type` label and the `app` labels of the pods a CR of `kind` named `name`
/// owns. They follow from the kind and the name alone, so pods (also those a previous operator
/// created) can be found before the spec is read.
pub fn pod_identity(kind: crate::api::Kind, name: &str) -> (&'static str, Vec<String>) {
    use crate::api::Kind;
    match kind {
        Kind::Redis => (STANDALONE_SETUP_TYPE, vec![name.to_owned()]),
        Kind::RedisReplication => ("replication", vec![name.to_owned()]),
        Kind::RedisSentinel => ("sentinel", vec![format!("{name}{SENTINEL_SUFFIX}")]),
        Kind::RedisCluster => (
            "cluster",
            vec![
                format!("{name}-{LEADER_ROLE}"),
                format!("{name}-{FOLLOWER_ROLE}"),
            ],
        ),
    }
}
