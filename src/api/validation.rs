//! Semantic validation and defaults: one pure function per kind turns a spec into a validated spec,
//! or into every field error found, each naming its JSON path and what is wrong.
//!
//! The schema (see `schema`) already holds JSON types; this module holds the rules a schema cannot
//! say: sizes that can form the topology, references that must be complete, exclusive settings,
//! quantities that must parse. It never reads the cluster and never falls back silently.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::StatefulSetUpdateStrategy;
use k8s_openapi::api::core::v1::{
    EnvVar, EnvVarSource, PersistentVolumeClaim, ResourceRequirements, SecretVolumeSource,
    VolumeMount,
};

use super::cluster::RedisClusterSpec;
use super::common::{
    AclConfig, AdditionalVolume, ExistingPasswordSecret, InitContainer, KubernetesConfig,
    PodDisruptionBudgetConfig, PodSettings, RedisConfig, RedisExporter, Sidecar, TlsConfig,
};
use super::field_error::{FieldError, join};
use super::quantity::parse_quantity;
use super::replication::RedisReplicationSpec;
use super::sentinel::RedisSentinelSpec;
use super::standalone::RedisSpec;
use crate::resources::names::RESERVED_CONTAINER_NAMES;

/// The smallest number of masters a Redis Cluster can elect replicas with.
pub const MINIMUM_CLUSTER_SHARDS: i32 = 3;
/// Redis major versions a RedisCluster may declare.
pub const SUPPORTED_CLUSTER_VERSIONS: [&str; 3] = ["v6", "v7", "v8"];
const IMAGE_PULL_POLICIES: [&str; 3] = ["Always", "IfNotPresent", "Never"];
const UPDATE_STRATEGY_TYPES: [&str; 2] = ["RollingUpdate", "OnDelete"];

/// A key of a Secret: where the Redis password lives.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretKey {
    /// Secret name.
    pub name: String,
    /// Key within the Secret.
    pub key: String,
}

/// How much voluntary disruption a PodDisruptionBudget allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisruptionBudget {
    /// At least this many pods stay available.
    MinAvailable(i32),
    /// At most this many pods are unavailable.
    MaxUnavailable(i32),
}

/// Settings every kind derives the same way.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedCommon {
    /// The password Secret key, when Redis requires a password.
    pub password: Option<SecretKey>,
    /// Whether the exporter sidecar runs.
    pub exporter_enabled: bool,
}

/// A standalone Redis spec that passed validation.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedRedis {
    /// The spec with its defaults.
    pub spec: RedisSpec,
    /// Derived settings.
    pub common: ValidatedCommon,
}

/// A replication spec that passed validation.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedReplication {
    /// The spec with its defaults.
    pub spec: RedisReplicationSpec,
    /// Derived settings.
    pub common: ValidatedCommon,
    /// Redis pods: one master, the rest replicas.
    pub size: i32,
    /// The PodDisruptionBudget, when enabled.
    pub disruption_budget: Option<DisruptionBudget>,
}

/// Sentinel settings, parsed from the strings of the v1beta2 API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelMonitorSettings {
    /// The RedisReplication the sentinels monitor.
    pub replication_name: String,
    /// Name under which the sentinels know the master.
    pub master_group_name: String,
    /// Redis port of the replication set.
    pub redis_port: u16,
    /// Sentinels that must agree the master is down.
    pub quorum: u32,
    /// Replicas resynchronising at once after a failover.
    pub parallel_syncs: u32,
    /// Failover timeout in milliseconds.
    pub failover_timeout_milliseconds: u64,
    /// Milliseconds without an answer before the master is deemed down.
    pub down_after_milliseconds: u64,
    /// The Secret key holding the monitored servers' password
    /// (`spec.redisSentinelConfig.redisReplicationPassword`), given to the sentinels as
    /// auth-pass; `None` when the replication set has no password.
    pub auth_password: Option<SecretKey>,
}

/// A sentinel spec that passed validation.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedSentinel {
    /// The spec with its defaults.
    pub spec: RedisSentinelSpec,
    /// Derived settings.
    pub common: ValidatedCommon,
    /// Sentinel pods.
    pub size: i32,
    /// What the sentinels monitor.
    pub monitor: SentinelMonitorSettings,
    /// The PodDisruptionBudget, when enabled.
    pub disruption_budget: Option<DisruptionBudget>,
}

/// A Redis Cluster spec that passed validation.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedCluster {
    /// The spec with its defaults.
    pub spec: RedisClusterSpec,
    /// Derived settings.
    pub common: ValidatedCommon,
    /// Shards, one leader each.
    pub shards: i32,
    /// Followers of each leader.
    pub replicas_per_shard: i32,
    /// Redis client port; the bus port is this plus 10000.
    pub port: u16,
    /// The leader PodDisruptionBudget, when enabled.
    pub leader_disruption_budget: Option<DisruptionBudget>,
    /// The follower PodDisruptionBudget, when enabled.
    pub follower_disruption_budget: Option<DisruptionBudget>,
}

/// Collects field errors while a spec is walked.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }

    fn finish<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }
}

/// Validates a standalone Redis spec.
pub fn validate_redis(spec: &RedisSpec) -> Result<ValidatedRedis, Vec<FieldError>> {
    let mut errors = Errors::default();
    let common = check_pod_settings(&spec.pod, DEFAULT_PORT, &mut errors);
    check_redis_config(spec.redis_config.as_ref(), "spec.redisConfig", &mut errors);
    check_acl(spec.acl.as_ref(), &mut errors);
    if let Some(storage) = &spec.storage {
        check_claim_template(
            storage.volume_claim_template.as_ref(),
            "spec.storage.volumeClaimTemplate",
            &mut errors,
        );
    }
    let volumes = spec
        .storage
        .as_ref()
        .and_then(|storage| storage.volume_mount.as_ref());
    check_volume_references(
        volumes,
        spec.pod.sidecars.as_deref(),
        "spec.storage.volumeMount",
        &mut errors,
    );
    errors.finish(ValidatedRedis {
        spec: spec.clone(),
        common,
    })
}

/// Validates a replication spec.
pub fn validate_replication(
    spec: &RedisReplicationSpec,
) -> Result<ValidatedReplication, Vec<FieldError>> {
    let mut errors = Errors::default();
    if spec.cluster_size < 1 {
        errors.add(
            "spec.clusterSize",
            format!("must be at least 1 (one master), got {}", spec.cluster_size),
        );
    }
    let common = check_pod_settings(&spec.pod, DEFAULT_PORT, &mut errors);
    check_redis_config(spec.redis_config.as_ref(), "spec.redisConfig", &mut errors);
    check_acl(spec.acl.as_ref(), &mut errors);
    if let Some(storage) = &spec.storage {
        check_claim_template(
            storage.volume_claim_template.as_ref(),
            "spec.storage.volumeClaimTemplate",
            &mut errors,
        );
    }
    let volumes = spec
        .storage
        .as_ref()
        .and_then(|storage| storage.volume_mount.as_ref());
    check_volume_references(
        volumes,
        spec.pod.sidecars.as_deref(),
        "spec.storage.volumeMount",
        &mut errors,
    );
    let disruption_budget = check_disruption_budget(
        spec.pdb.as_ref(),
        "spec.pdb",
        spec.cluster_size,
        &mut errors,
    );
    errors.finish(ValidatedReplication {
        spec: spec.clone(),
        common,
        size: spec.cluster_size,
        disruption_budget,
    })
}

/// Validates a sentinel spec.
pub fn validate_sentinel(spec: &RedisSentinelSpec) -> Result<ValidatedSentinel, Vec<FieldError>> {
    let mut errors = Errors::default();
    if spec.cluster_size < 1 {
        errors.add(
            "spec.clusterSize",
            format!("must be at least 1, got {}", spec.cluster_size),
        );
    }
    let common = check_pod_settings(&spec.pod, DEFAULT_PORT, &mut errors);
    check_volume_references(
        spec.volume_mount.as_ref(),
        spec.pod.sidecars.as_deref(),
        "spec.volumeMount",
        &mut errors,
    );
    let disruption_budget = check_disruption_budget(
        spec.pdb.as_ref(),
        "spec.pdb",
        spec.cluster_size,
        &mut errors,
    );
    let monitor = check_sentinel_config(spec, &mut errors);
    match monitor {
        Some(monitor) => errors.finish(ValidatedSentinel {
            spec: spec.clone(),
            common,
            size: spec.cluster_size,
            monitor,
            disruption_budget,
        }),
        None => Err(errors.0),
    }
}

/// Validates a Redis Cluster spec.
pub fn validate_cluster(spec: &RedisClusterSpec) -> Result<ValidatedCluster, Vec<FieldError>> {
    let mut errors = Errors::default();
    let shards = spec.cluster_size;
    if shards < MINIMUM_CLUSTER_SHARDS {
        errors.add(
            "spec.clusterSize",
            format!(
                "must be at least {MINIMUM_CLUSTER_SHARDS}: a Redis Cluster needs a majority of masters to fail over, got {shards}"
            ),
        );
    }
    let port = check_port(spec.port, "spec.port", &mut errors);
    if port.is_some_and(|port| port > u16::MAX - 10000) {
        errors.add(
            "spec.port",
            format!(
                "must leave room for the cluster bus port (port + 10000), got {}",
                spec.port
            ),
        );
    }
    if !SUPPORTED_CLUSTER_VERSIONS.contains(&spec.cluster_version.as_str()) {
        errors.add(
            "spec.clusterVersion",
            format!(
                "{:?} is not one of {}",
                spec.cluster_version,
                SUPPORTED_CLUSTER_VERSIONS.join(", ")
            ),
        );
    }
    check_kubernetes_config(&spec.kubernetes_config, &mut errors);
    let exporter_enabled = check_exporter(spec.redis_exporter.as_ref(), spec.port, &mut errors);
    check_tls(spec.tls.as_ref(), &mut errors);
    check_acl(spec.acl.as_ref(), &mut errors);
    check_resources(spec.resources.as_ref(), "spec.resources", &mut errors);
    check_init_container(spec.init_container.as_ref(), &mut errors);
    check_env(spec.env.as_deref(), "spec.env", &mut errors);
    if let Some(storage) = &spec.storage {
        check_claim_template(
            storage.volume_claim_template.as_ref(),
            "spec.storage.volumeClaimTemplate",
            &mut errors,
        );
        check_claim_template(
            storage.node_conf_volume_claim_template.as_ref(),
            "spec.storage.nodeConfVolumeClaimTemplate",
            &mut errors,
        );
    }
    let volumes = spec
        .storage
        .as_ref()
        .and_then(|storage| storage.volume_mount.as_ref());
    check_volume_references(
        volumes,
        spec.sidecars.as_deref(),
        "spec.storage.volumeMount",
        &mut errors,
    );
    check_sidecars(spec.sidecars.as_deref(), &mut errors);

    let leader = spec.redis_leader.clone().unwrap_or_default();
    let follower = spec.redis_follower.clone().unwrap_or_default();
    if let Some(leaders) = leader.replicas
        && leaders != shards
    {
        errors.add(
            "spec.redisLeader.replicas",
            format!(
                "must equal spec.clusterSize ({shards}): each shard has exactly one leader, got {leaders}"
            ),
        );
    }
    let followers = follower.replicas.unwrap_or(shards);
    let replicas_per_shard = if followers < 0 {
        errors.add(
            "spec.redisFollower.replicas",
            format!("must not be negative, got {followers}"),
        );
        0
    } else if shards > 0 && followers % shards != 0 {
        errors.add(
            "spec.redisFollower.replicas",
            format!(
                "must be a multiple of spec.clusterSize ({shards}) so every shard has the same number of followers, got {followers}"
            ),
        );
        0
    } else {
        followers.checked_div(shards).unwrap_or(0)
    };
    for (role, settings) in [("redisLeader", &leader), ("redisFollower", &follower)] {
        let path = format!("spec.{role}");
        check_redis_config(
            settings.redis_config.as_ref(),
            &join(&path, "redisConfig"),
            &mut errors,
        );
        check_resources(
            settings.resources.as_ref(),
            &join(&path, "resources"),
            &mut errors,
        );
        check_non_negative(
            settings.termination_grace_period_seconds,
            &join(&path, "terminationGracePeriodSeconds"),
            &mut errors,
        );
    }
    let leader_disruption_budget = check_disruption_budget(
        leader.pdb.as_ref(),
        "spec.redisLeader.pdb",
        shards,
        &mut errors,
    );
    let follower_disruption_budget = check_disruption_budget(
        follower.pdb.as_ref(),
        "spec.redisFollower.pdb",
        followers,
        &mut errors,
    );
    errors.finish(ValidatedCluster {
        spec: spec.clone(),
        common: ValidatedCommon {
            password: password_secret(&spec.kubernetes_config),
            exporter_enabled,
        },
        shards,
        replicas_per_shard,
        port: port.unwrap_or_default(),
        leader_disruption_budget,
        follower_disruption_budget,
    })
}

const DEFAULT_PORT: i32 = super::common::DEFAULT_REDIS_PORT;

fn check_pod_settings(pod: &PodSettings, redis_port: i32, errors: &mut Errors) -> ValidatedCommon {
    check_kubernetes_config(&pod.kubernetes_config, errors);
    let exporter_enabled = check_exporter(pod.redis_exporter.as_ref(), redis_port, errors);
    check_tls(pod.tls.as_ref(), errors);
    check_init_container(pod.init_container.as_ref(), errors);
    check_sidecars(pod.sidecars.as_deref(), errors);
    check_env(pod.env.as_deref(), "spec.env", errors);
    check_non_negative(
        pod.termination_grace_period_seconds,
        "spec.terminationGracePeriodSeconds",
        errors,
    );
    ValidatedCommon {
        password: password_secret(&pod.kubernetes_config),
        exporter_enabled,
    }
}

fn password_secret(config: &KubernetesConfig) -> Option<SecretKey> {
    let secret = config.redis_secret.as_ref()?;
    Some(SecretKey {
        name: secret.name.clone()?,
        key: secret.key.clone()?,
    })
}

fn check_kubernetes_config(config: &KubernetesConfig, errors: &mut Errors) {
    let path = "spec.kubernetesConfig";
    check_not_blank(&config.image, &join(path, "image"), errors);
    check_pull_policy(
        config.image_pull_policy.as_deref(),
        &join(path, "imagePullPolicy"),
        errors,
    );
    check_resources(config.resources.as_ref(), &join(path, "resources"), errors);
    check_password_secret(
        config.redis_secret.as_ref(),
        &join(path, "redisSecret"),
        errors,
    );
    for (index, secret) in config.image_pull_secrets.iter().flatten().enumerate() {
        if secret.name.trim().is_empty() {
            errors.add(
                &format!("{path}.imagePullSecrets[{index}].name"),
                "must name a Secret",
            );
        }
    }
    check_update_strategy(
        config.update_strategy.as_ref(),
        &join(path, "updateStrategy"),
        errors,
    );
    if let Some(seconds) = config.min_ready_seconds
        && seconds < 0
    {
        errors.add(
            &join(path, "minReadySeconds"),
            format!("must not be negative, got {seconds}"),
        );
    }
}

fn check_password_secret(secret: Option<&ExistingPasswordSecret>, path: &str, errors: &mut Errors) {
    let Some(secret) = secret else { return };
    if secret
        .name
        .as_deref()
        .is_none_or(|name| name.trim().is_empty())
    {
        errors.add(
            &join(path, "name"),
            "must name the Secret that holds the password",
        );
    }
    if secret
        .key
        .as_deref()
        .is_none_or(|key| key.trim().is_empty())
    {
        errors.add(
            &join(path, "key"),
            "must name the key of the Secret that holds the password",
        );
    }
}

fn check_update_strategy(
    strategy: Option<&StatefulSetUpdateStrategy>,
    path: &str,
    errors: &mut Errors,
) {
    let Some(strategy) = strategy else { return };
    if let Some(kind) = strategy.type_.as_deref()
        && !UPDATE_STRATEGY_TYPES.contains(&kind)
    {
        errors.add(
            &join(path, "type"),
            format!(
                "{kind:?} is not one of {}",
                UPDATE_STRATEGY_TYPES.join(", ")
            ),
        );
    }
    if strategy.type_.as_deref() == Some("OnDelete") && strategy.rolling_update.is_some() {
        errors.add(
            &join(path, "rollingUpdate"),
            "must not be set when type is OnDelete",
        );
    }
    if let Some(partition) = strategy
        .rolling_update
        .as_ref()
        .and_then(|rolling| rolling.partition)
        && partition < 0
    {
        errors.add(
            &format!("{path}.rollingUpdate.partition"),
            format!("must not be negative, got {partition}"),
        );
    }
}

fn check_exporter(exporter: Option<&RedisExporter>, redis_port: i32, errors: &mut Errors) -> bool {
    let Some(exporter) = exporter else {
        return false;
    };
    let path = "spec.redisExporter";
    if !exporter.is_enabled() {
        return false;
    }
    check_not_blank(&exporter.image, &join(path, "image"), errors);
    check_pull_policy(
        exporter.image_pull_policy.as_deref(),
        &join(path, "imagePullPolicy"),
        errors,
    );
    check_resources(
        exporter.resources.as_ref(),
        &join(path, "resources"),
        errors,
    );
    check_env(exporter.env.as_deref(), &join(path, "env"), errors);
    if check_port(exporter.port, &join(path, "port"), errors).is_some()
        && exporter.port == redis_port
    {
        errors.add(
            &join(path, "port"),
            format!("must differ from the Redis port {redis_port}"),
        );
    }
    true
}

fn check_tls(tls: Option<&TlsConfig>, errors: &mut Errors) {
    let Some(tls) = tls else { return };
    check_secret_volume(Some(&tls.secret), "spec.TLS.secret", errors);
    for (field, value) in [("ca", &tls.ca), ("cert", &tls.cert), ("key", &tls.key)] {
        if value.as_deref().is_some_and(|key| key.trim().is_empty()) {
            errors.add(
                &format!("spec.TLS.{field}"),
                "must name a key of the TLS Secret",
            );
        }
    }
}

fn check_acl(acl: Option<&AclConfig>, errors: &mut Errors) {
    let Some(acl) = acl else { return };
    check_secret_volume(acl.secret.as_ref(), "spec.acl.secret", errors);
}

fn check_secret_volume(secret: Option<&SecretVolumeSource>, path: &str, errors: &mut Errors) {
    if secret
        .and_then(|secret| secret.secret_name.as_deref())
        .is_none_or(|name| name.trim().is_empty())
    {
        errors.add(&join(path, "secretName"), "must name a Secret");
    }
}

fn check_redis_config(config: Option<&RedisConfig>, path: &str, errors: &mut Errors) {
    if let Some(name) = config.and_then(|config| config.additional_redis_config.as_deref())
        && name.trim().is_empty()
    {
        errors.add(
            &join(path, "additionalRedisConfig"),
            "must name a ConfigMap",
        );
    }
}

fn check_init_container(init: Option<&InitContainer>, errors: &mut Errors) {
    let Some(init) = init.filter(|init| init.is_enabled()) else {
        return;
    };
    let path = "spec.initContainer";
    check_not_blank(&init.image, &join(path, "image"), errors);
    check_pull_policy(
        init.image_pull_policy.as_deref(),
        &join(path, "imagePullPolicy"),
        errors,
    );
    check_resources(init.resources.as_ref(), &join(path, "resources"), errors);
    check_env(init.env.as_deref(), &join(path, "env"), errors);
}

fn check_sidecars(sidecars: Option<&[Sidecar]>, errors: &mut Errors) {
    let mut seen = BTreeSet::new();
    for (index, sidecar) in sidecars.unwrap_or_default().iter().enumerate() {
        let path = format!("spec.sidecars[{index}]");
        if sidecar.name.trim().is_empty() {
            errors.add(&join(&path, "name"), "must not be empty");
        } else if RESERVED_CONTAINER_NAMES.contains(&sidecar.name.as_str()) {
            errors.add(
                &join(&path, "name"),
                format!(
                    "{:?} is a container the operator runs; choose another name",
                    sidecar.name
                ),
            );
        } else if !seen.insert(sidecar.name.as_str()) {
            errors.add(
                &join(&path, "name"),
                format!("{:?} is used by another sidecar", sidecar.name),
            );
        }
        check_not_blank(&sidecar.image, &join(&path, "image"), errors);
        check_pull_policy(
            sidecar.image_pull_policy.as_deref(),
            &join(&path, "imagePullPolicy"),
            errors,
        );
        check_resources(
            sidecar.resources.as_ref(),
            &join(&path, "resources"),
            errors,
        );
        check_env(sidecar.env.as_deref(), &join(&path, "env"), errors);
    }
}

/// Every mount, of the Redis container and of the sidecars, must name a declared volume.
fn check_volume_references(
    volumes: Option<&AdditionalVolume>,
    sidecars: Option<&[Sidecar]>,
    path: &str,
    errors: &mut Errors,
) {
    let declared: BTreeSet<&str> = volumes
        .and_then(|volumes| volumes.volume.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|volume| volume.name.as_str())
        .collect();
    let check_mounts = |mounts: Option<&[VolumeMount]>, mounts_path: &str, errors: &mut Errors| {
        for (index, mount) in mounts.unwrap_or_default().iter().enumerate() {
            if !declared.contains(mount.name.as_str()) {
                errors.add(
                    &format!("{mounts_path}[{index}].name"),
                    format!("{:?} names no volume of {path}.volume", mount.name),
                );
            }
        }
    };
    check_mounts(
        volumes.and_then(|volumes| volumes.mount_path.as_deref()),
        &join(path, "mountPath"),
        errors,
    );
    for (index, sidecar) in sidecars.unwrap_or_default().iter().enumerate() {
        check_mounts(
            sidecar.mount_path.as_deref(),
            &format!("spec.sidecars[{index}].mountPath"),
            errors,
        );
    }
}

fn check_disruption_budget(
    pdb: Option<&PodDisruptionBudgetConfig>,
    path: &str,
    pods: i32,
    errors: &mut Errors,
) -> Option<DisruptionBudget> {
    let pdb = pdb.filter(|pdb| pdb.is_enabled())?;
    match (pdb.min_available, pdb.max_unavailable) {
        (Some(_), Some(_)) => {
            errors.add(path, "set minAvailable or maxUnavailable, not both");
            None
        }
        (Some(minimum), None) if minimum < 0 => {
            errors.add(
                &join(path, "minAvailable"),
                format!("must not be negative, got {minimum}"),
            );
            None
        }
        (Some(minimum), None) if minimum > pods => {
            errors.add(
                &join(path, "minAvailable"),
                format!(
                    "{minimum} is more than the {pods} pods it covers: no pod could ever be evicted"
                ),
            );
            None
        }
        (Some(minimum), None) => Some(DisruptionBudget::MinAvailable(minimum)),
        (None, Some(maximum)) if maximum < 0 => {
            errors.add(
                &join(path, "maxUnavailable"),
                format!("must not be negative, got {maximum}"),
            );
            None
        }
        (None, Some(maximum)) => Some(DisruptionBudget::MaxUnavailable(maximum)),
        // A majority stays up: the same default the v1beta2 API has always had.
        (None, None) => Some(DisruptionBudget::MinAvailable(pods / 2 + 1)),
    }
}

fn check_sentinel_config(
    spec: &RedisSentinelSpec,
    errors: &mut Errors,
) -> Option<SentinelMonitorSettings> {
    let path = "spec.redisSentinelConfig";
    let Some(config) = &spec.redis_sentinel_config else {
        errors.add(
            path,
            "is required: it names the RedisReplication the sentinels monitor",
        );
        return None;
    };
    if config.redis_replication_name.trim().is_empty() {
        errors.add(
            &join(path, "redisReplicationName"),
            "must name a RedisReplication in the same namespace",
        );
    }
    let group = config.master_group_name.trim();
    if group.is_empty() || group.contains(char::is_whitespace) {
        errors.add(
            &join(path, "masterGroupName"),
            format!(
                "must be one word without spaces, got {:?}",
                config.master_group_name
            ),
        );
    }
    if let Some(name) = &config.additional_sentinel_config
        && name.trim().is_empty()
    {
        errors.add(
            &join(path, "additionalSentinelConfig"),
            "must name a ConfigMap",
        );
    }
    let number = |field: &str, text: &str, minimum: u64, errors: &mut Errors| -> Option<u64> {
        match text.trim().parse::<u64>() {
            Ok(value) if value >= minimum => Some(value),
            Ok(value) => {
                errors.add(
                    &join(path, field),
                    format!("must be at least {minimum}, got {value}"),
                );
                None
            }
            Err(_) => {
                errors.add(
                    &join(path, field),
                    format!("must be a whole number, got {text:?}"),
                );
                None
            }
        }
    };
    let redis_port = number("redisPort", &config.redis_port, 1, errors)
        .and_then(|port| u16::try_from(port).ok());
    if redis_port.is_none()
        && config
            .redis_port
            .trim()
            .parse::<u64>()
            .is_ok_and(|port| port >= 1)
    {
        errors.add(
            &join(path, "redisPort"),
            format!("must be at most 65535, got {}", config.redis_port),
        );
    }
    let quorum = number("quorum", &config.quorum, 1, errors);
    if let Some(quorum) = quorum
        && spec.cluster_size >= 1
        && quorum > spec.cluster_size as u64
    {
        errors.add(
            &join(path, "quorum"),
            format!(
                "{quorum} is more than the {} sentinels of spec.clusterSize: no failover could ever be agreed",
                spec.cluster_size
            ),
        );
    }
    let parallel_syncs = number("parallelSyncs", &config.parallel_syncs, 1, errors);
    let failover_timeout = number("failoverTimeout", &config.failover_timeout, 1, errors);
    let down_after = number(
        "downAfterMilliseconds",
        &config.down_after_milliseconds,
        1,
        errors,
    );
    let auth_password = replication_password(
        config.redis_replication_password.as_ref(),
        &join(path, "redisReplicationPassword"),
        errors,
    );
    Some(SentinelMonitorSettings {
        replication_name: config.redis_replication_name.clone(),
        master_group_name: config.master_group_name.clone(),
        redis_port: redis_port?,
        quorum: u32::try_from(quorum?).ok()?,
        parallel_syncs: u32::try_from(parallel_syncs?).ok()?,
        failover_timeout_milliseconds: failover_timeout?,
        down_after_milliseconds: down_after?,
        auth_password: auth_password?,
    })
}

/// The Secret key a `redisReplicationPassword` names: only `secretKeyRef` is meaningful, since
/// the operator reads the password itself and hands it to the sentinels at run time.
fn replication_password(
    source: Option<&EnvVarSource>,
    path: &str,
    errors: &mut Errors,
) -> Option<Option<SecretKey>> {
    let Some(source) = source else {
        return Some(None);
    };
    match &source.secret_key_ref {
        Some(reference)
            if !reference.name.trim().is_empty() && !reference.key.trim().is_empty() =>
        {
            Some(Some(SecretKey {
                name: reference.name.clone(),
                key: reference.key.clone(),
            }))
        }
        Some(_) => {
            errors.add(
                &join(path, "secretKeyRef"),
                "must give both the Secret's name and the key holding the password",
            );
            None
        }
        None => {
            errors.add(
                path,
                "must be a secretKeyRef naming the Secret and key that hold the replication set's password",
            );
            None
        }
    }
}

fn check_claim_template(template: Option<&PersistentVolumeClaim>, path: &str, errors: &mut Errors) {
    let Some(spec) = template.and_then(|template| template.spec.as_ref()) else {
        return;
    };
    if let Some(requests) = spec
        .resources
        .as_ref()
        .and_then(|resources| resources.requests.as_ref())
    {
        for (name, quantity) in requests {
            let field = format!("{path}.spec.resources.requests.{name}");
            match parse_quantity(&quantity.0) {
                Ok(value) if value <= 0.0 => {
                    errors.add(&field, format!("must be positive, got {:?}", quantity.0))
                }
                Ok(_) => {}
                Err(message) => errors.add(&field, message),
            }
        }
    }
}

fn check_resources(resources: Option<&ResourceRequirements>, path: &str, errors: &mut Errors) {
    let Some(resources) = resources else { return };
    let parse_all = |field: &str, errors: &mut Errors| {
        let mut parsed = std::collections::BTreeMap::new();
        let quantities = match field {
            "limits" => resources.limits.as_ref(),
            _ => resources.requests.as_ref(),
        };
        for (name, quantity) in quantities.into_iter().flatten() {
            let quantity_path = format!("{path}.{field}.{name}");
            match parse_quantity(&quantity.0) {
                Ok(value) if value < 0.0 => errors.add(
                    &quantity_path,
                    format!("must not be negative, got {:?}", quantity.0),
                ),
                Ok(value) => {
                    parsed.insert(name.clone(), value);
                }
                Err(message) => errors.add(&quantity_path, message),
            }
        }
        parsed
    };
    let limits = parse_all("limits", errors);
    let requests = parse_all("requests", errors);
    for (name, request) in &requests {
        if let Some(limit) = limits.get(name)
            && request > limit
        {
            errors.add(
                &format!("{path}.requests.{name}"),
                format!("must not exceed the limit {path}.limits.{name}"),
            );
        }
    }
}

fn check_env(env: Option<&[EnvVar]>, path: &str, errors: &mut Errors) {
    for (index, variable) in env.unwrap_or_default().iter().enumerate() {
        if variable.name.trim().is_empty() {
            errors.add(&format!("{path}[{index}].name"), "must not be empty");
        }
        if variable.value.is_some() && variable.value_from.is_some() {
            errors.add(
                &format!("{path}[{index}]"),
                "set value or valueFrom, not both",
            );
        }
    }
}

fn check_pull_policy(policy: Option<&str>, path: &str, errors: &mut Errors) {
    if let Some(policy) = policy
        && !IMAGE_PULL_POLICIES.contains(&policy)
    {
        errors.add(
            path,
            format!(
                "{policy:?} is not one of {}",
                IMAGE_PULL_POLICIES.join(", ")
            ),
        );
    }
}

fn check_port(port: i32, path: &str, errors: &mut Errors) -> Option<u16> {
    match u16::try_from(port) {
        Ok(port) if port >= 1 => Some(port),
        _ => {
            errors.add(
                path,
                format!("must be a port between 1 and 65535, got {port}"),
            );
            None
        }
    }
}

fn check_not_blank(value: &str, path: &str, errors: &mut Errors) {
    if value.trim().is_empty() {
        errors.add(path, "must not be empty");
    }
}

fn check_non_negative(value: Option<i64>, path: &str, errors: &mut Errors) {
    if let Some(value) = value
        && value < 0
    {
        errors.add(path, format!("must not be negative, got {value}"));
    }
}
