//! Semantic validation and defaults: one pure function per kind turns a spec into a validated spec,
//! or into every field error found, each naming its JSON path and what is wrong.
//!
//! The schema (see `schema`) already holds JSON types; this module holds the rules a schema cannot
//! say: sizes that can form the topology, references that must be complete, exclusive settings,
//! quantities that must parse. It never reads the cluster and never falls back silently.
//!
//! Every message about a numeric field that is out of range or does not parse names the range the
//! field allows ("must be a whole number from 1 to 65535, got \"-1\"").

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
use crate::resources::names::{CLUSTER_BUS_PORT_OFFSET, RESERVED_CONTAINER_NAMES};

/// The smallest number of masters a Redis Cluster can elect replicas with.
pub const MINIMUM_CLUSTER_SHARDS: i32 = 3;
/// The largest number of masters a Redis Cluster can have: one per hash slot.
pub const MAXIMUM_CLUSTER_SHARDS: i32 = crate::topology::slots::SLOT_COUNT as i32;
/// The largest client port a Redis Cluster may use: its bus listens on the port plus 10000.
pub const MAXIMUM_CLUSTER_PORT: i64 = u16::MAX as i64 - CLUSTER_BUS_PORT_OFFSET as i64;
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

    /// Whether `value` lies in `range`; if not, records an error naming the range, with `why` (a
    /// parenthesised reason, or empty) after it.
    fn check_range(&mut self, path: &str, value: i64, range: WholeRange, why: &str) -> bool {
        if range.contains(value) {
            return true;
        }
        self.add(path, format!("{}{why}, got {value}", range.requirement()));
        false
    }

    /// A whole number written as a string (the sentinel settings of the v1beta2 API), if it parses
    /// and lies in `range`; otherwise records an error naming the range, with `why` after it.
    fn parse_in_range(
        &mut self,
        path: &str,
        text: &str,
        range: WholeRange,
        why: &str,
    ) -> Option<i64> {
        match text.trim().parse::<i64>() {
            Ok(value) if range.contains(value) => Some(value),
            _ => {
                self.add(path, format!("{}{why}, got {text:?}", range.requirement()));
                None
            }
        }
    }
}

/// The whole numbers a field allows, from `minimum` to `maximum` inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WholeRange {
    minimum: i64,
    maximum: i64,
}

impl WholeRange {
    /// From `minimum` to the largest 32-bit integer, the largest count or duration (in seconds
    /// or milliseconds) a Kubernetes object or a Redis configuration file holds.
    const fn at_least(minimum: i64) -> WholeRange {
        WholeRange {
            minimum,
            maximum: i32::MAX as i64,
        }
    }

    /// From `minimum` to `maximum`.
    const fn between(minimum: i64, maximum: i64) -> WholeRange {
        WholeRange { minimum, maximum }
    }

    fn contains(self, value: i64) -> bool {
        (self.minimum..=self.maximum).contains(&value)
    }

    /// The start of every message about a field with this range.
    fn requirement(self) -> String {
        format!(
            "must be a whole number from {} to {}",
            self.minimum, self.maximum
        )
    }
}

/// A TCP port.
const PORT_RANGE: WholeRange = WholeRange::between(1, u16::MAX as i64);
/// Seconds of a 64-bit duration field (terminationGracePeriodSeconds).
const SECONDS_RANGE: WholeRange = WholeRange::between(0, i64::MAX);

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
    errors.check_range(
        "spec.clusterSize",
        spec.cluster_size.into(),
        WholeRange::at_least(1),
        " (one master, the rest replicas)",
    );
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
    errors.check_range(
        "spec.clusterSize",
        spec.cluster_size.into(),
        WholeRange::at_least(1),
        "",
    );
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
    errors.check_range(
        "spec.clusterSize",
        shards.into(),
        WholeRange::between(MINIMUM_CLUSTER_SHARDS.into(), MAXIMUM_CLUSTER_SHARDS.into()),
        &format!(
            " (a Redis Cluster needs a majority of at least {MINIMUM_CLUSTER_SHARDS} masters to fail over, and has {MAXIMUM_CLUSTER_SHARDS} slots: one master per slot at most)"
        ),
    );
    let port = errors
        .check_range(
            "spec.port",
            spec.port.into(),
            WholeRange::between(1, MAXIMUM_CLUSTER_PORT),
            &format!(" (the cluster bus listens on the port plus {CLUSTER_BUS_PORT_OFFSET})"),
        )
        .then(|| u16::try_from(spec.port).ok())
        .flatten();
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
    let replicas_per_shard = if !errors.check_range(
        "spec.redisFollower.replicas",
        followers.into(),
        WholeRange::at_least(0),
        &format!(" and a multiple of spec.clusterSize ({shards})"),
    ) {
        0
    } else if shards > 0 && followers % shards != 0 {
        errors.add(
            "spec.redisFollower.replicas",
            format!(
                "must be a multiple of spec.clusterSize ({shards}): 0, {shards}, {}, ... so every shard has the same number of followers, got {followers}",
                2 * i64::from(shards)
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
        if let Some(seconds) = settings.termination_grace_period_seconds {
            errors.check_range(
                &join(&path, "terminationGracePeriodSeconds"),
                seconds,
                SECONDS_RANGE,
                "",
            );
        }
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
    if let Some(seconds) = pod.termination_grace_period_seconds {
        errors.check_range(
            "spec.terminationGracePeriodSeconds",
            seconds,
            SECONDS_RANGE,
            "",
        );
    }
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
    if let Some(seconds) = config.min_ready_seconds {
        errors.check_range(
            &join(path, "minReadySeconds"),
            seconds.into(),
            WholeRange::at_least(0),
            "",
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
    {
        errors.check_range(
            &format!("{path}.rollingUpdate.partition"),
            partition.into(),
            WholeRange::at_least(0),
            "",
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
    if errors.check_range(&join(path, "port"), exporter.port.into(), PORT_RANGE, "")
        && exporter.port == redis_port
    {
        errors.add(
            &join(path, "port"),
            format!(
                "{} other than the Redis port {redis_port}, got {}",
                PORT_RANGE.requirement(),
                exporter.port
            ),
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
        (Some(minimum), None) => errors
            .check_range(
                &join(path, "minAvailable"),
                minimum.into(),
                WholeRange::between(0, pods.max(0).into()),
                &format!(" (the {pods} pods it covers; more and no pod could ever be evicted)"),
            )
            .then_some(DisruptionBudget::MinAvailable(minimum)),
        (None, Some(maximum)) => errors
            .check_range(
                &join(path, "maxUnavailable"),
                maximum.into(),
                WholeRange::at_least(0),
                "",
            )
            .then_some(DisruptionBudget::MaxUnavailable(maximum)),
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
    // Redis reads quorum, parallel-syncs and both timeouts as 32-bit integers.
    let mut number = |field: &str, text: &str, range: WholeRange, why: &str| {
        errors.parse_in_range(&join(path, field), text, range, why)
    };
    let redis_port = number("redisPort", &config.redis_port, PORT_RANGE, "")
        .and_then(|port| u16::try_from(port).ok());
    let quorum = if spec.cluster_size >= 1 {
        number(
            "quorum",
            &config.quorum,
            WholeRange::between(1, spec.cluster_size.into()),
            " (the sentinels of spec.clusterSize; more could never agree on a failover)",
        )
    } else {
        number("quorum", &config.quorum, WholeRange::at_least(1), "")
    };
    let parallel_syncs = number(
        "parallelSyncs",
        &config.parallel_syncs,
        WholeRange::at_least(1),
        "",
    );
    let failover_timeout = number(
        "failoverTimeout",
        &config.failover_timeout,
        WholeRange::at_least(1),
        " (milliseconds)",
    );
    let down_after = number(
        "downAfterMilliseconds",
        &config.down_after_milliseconds,
        WholeRange::at_least(1),
        " (milliseconds)",
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
        failover_timeout_milliseconds: u64::try_from(failover_timeout?).ok()?,
        down_after_milliseconds: u64::try_from(down_after?).ok()?,
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
                Ok(value) if value <= 0.0 => errors.add(
                    &field,
                    format!("must be a quantity above 0, got {:?}", quantity.0),
                ),
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
                    format!("must be a quantity of 0 or more, got {:?}", quantity.0),
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

fn check_not_blank(value: &str, path: &str, errors: &mut Errors) {
    if value.trim().is_empty() {
        errors.add(path, "must not be empty");
    }
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    use super::{validate_cluster, validate_redis, validate_replication, validate_sentinel};
    use crate::api::field_error::FieldError;

    fn spec<T: DeserializeOwned>(mut fields: Value) -> T {
        fields["kubernetesConfig"] = json!({"image": "redis:7"});
        serde_json::from_value(fields).unwrap()
    }

    /// The one error a spec gets, as `path: message`.
    fn only_error<T>(result: Result<T, Vec<FieldError>>) -> String {
        let errors = result.err().expect("the spec is invalid");
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors[0].to_string()
    }

    fn cluster(fields: Value) -> String {
        only_error(validate_cluster(&spec(fields)))
    }

    fn sentinel_config(config: Value) -> String {
        let mut config = config;
        config["redisReplicationName"] = json!("replication");
        only_error(validate_sentinel(&spec(
            json!({"clusterSize": 3, "redisSentinelConfig": config}),
        )))
    }

    #[test]
    fn a_cluster_of_more_shards_than_slots_is_rejected_with_the_range() {
        assert_eq!(
            cluster(json!({"clusterSize": 16385})),
            "spec.clusterSize: must be a whole number from 3 to 16384 (a Redis Cluster needs a \
             majority of at least 3 masters to fail over, and has 16384 slots: one master per \
             slot at most), got 16385"
        );
        assert!(cluster(json!({"clusterSize": 2})).starts_with(
            "spec.clusterSize: must be a whole number from 3 to 16384 (a Redis Cluster"
        ));
        assert!(
            validate_cluster(&spec(
                json!({"clusterSize": 16384, "redisFollower": {"replicas": 0}})
            ))
            .is_ok()
        );
    }

    #[test]
    fn a_sentinel_redis_port_out_of_range_names_the_port_range() {
        assert_eq!(
            sentinel_config(json!({"redisPort": "-1"})),
            "spec.redisSentinelConfig.redisPort: must be a whole number from 1 to 65535, got \"-1\""
        );
        assert_eq!(
            sentinel_config(json!({"redisPort": "70000"})),
            "spec.redisSentinelConfig.redisPort: must be a whole number from 1 to 65535, got \"70000\""
        );
        assert_eq!(
            sentinel_config(json!({"redisPort": "six"})),
            "spec.redisSentinelConfig.redisPort: must be a whole number from 1 to 65535, got \"six\""
        );
    }

    #[test]
    fn every_sentinel_setting_names_its_range() {
        assert_eq!(
            sentinel_config(json!({"quorum": "5"})),
            "spec.redisSentinelConfig.quorum: must be a whole number from 1 to 3 (the sentinels \
             of spec.clusterSize; more could never agree on a failover), got \"5\""
        );
        assert_eq!(
            sentinel_config(json!({"parallelSyncs": "0"})),
            "spec.redisSentinelConfig.parallelSyncs: must be a whole number from 1 to 2147483647, got \"0\""
        );
        assert_eq!(
            sentinel_config(json!({"failoverTimeout": "2147483648"})),
            "spec.redisSentinelConfig.failoverTimeout: must be a whole number from 1 to \
             2147483647 (milliseconds), got \"2147483648\""
        );
        assert_eq!(
            sentinel_config(json!({"downAfterMilliseconds": "soon"})),
            "spec.redisSentinelConfig.downAfterMilliseconds: must be a whole number from 1 to \
             2147483647 (milliseconds), got \"soon\""
        );
    }

    #[test]
    fn sizes_ports_and_counts_name_their_ranges() {
        assert_eq!(
            only_error(validate_replication(&spec(json!({"clusterSize": 0})))),
            "spec.clusterSize: must be a whole number from 1 to 2147483647 (one master, the rest \
             replicas), got 0"
        );
        assert_eq!(
            cluster(json!({"clusterSize": 3, "port": 60000})),
            "spec.port: must be a whole number from 1 to 55535 (the cluster bus listens on the \
             port plus 10000), got 60000"
        );
        assert_eq!(
            cluster(json!({"clusterSize": 3, "redisFollower": {"replicas": -3}})),
            "spec.redisFollower.replicas: must be a whole number from 0 to 2147483647 and a \
             multiple of spec.clusterSize (3), got -3"
        );
        assert_eq!(
            cluster(json!({"clusterSize": 3, "redisFollower": {"replicas": 4}})),
            "spec.redisFollower.replicas: must be a multiple of spec.clusterSize (3): 0, 3, 6, \
             ... so every shard has the same number of followers, got 4"
        );
        assert_eq!(
            cluster(
                json!({"clusterSize": 3, "redisLeader": {"pdb": {"enabled": true, "minAvailable": 4}}})
            ),
            "spec.redisLeader.pdb.minAvailable: must be a whole number from 0 to 3 (the 3 pods it \
             covers; more and no pod could ever be evicted), got 4"
        );
        assert_eq!(
            only_error(validate_replication(&spec(
                json!({"clusterSize": 3, "pdb": {"enabled": true, "maxUnavailable": -1}})
            ))),
            "spec.pdb.maxUnavailable: must be a whole number from 0 to 2147483647, got -1"
        );
        assert_eq!(
            only_error(validate_redis(&spec(json!({
                "redisExporter": {"enabled": true, "image": "exporter", "port": 0}
            })))),
            "spec.redisExporter.port: must be a whole number from 1 to 65535, got 0"
        );
        assert_eq!(
            only_error(validate_redis(&spec(json!({
                "redisExporter": {"enabled": true, "image": "exporter", "port": 6379}
            })))),
            "spec.redisExporter.port: must be a whole number from 1 to 65535 other than the Redis \
             port 6379, got 6379"
        );
        assert_eq!(
            only_error(validate_redis(&spec(
                json!({"terminationGracePeriodSeconds": -1})
            ))),
            "spec.terminationGracePeriodSeconds: must be a whole number from 0 to \
             9223372036854775807, got -1"
        );
    }

    #[test]
    fn kubernetes_config_counts_name_their_ranges() {
        let redis = |config: Value| {
            let mut fields: crate::api::standalone::RedisSpec = spec(json!({}));
            let mut kubernetes_config = json!({"image": "redis:7"});
            for (key, value) in config.as_object().into_iter().flatten() {
                kubernetes_config[key] = value.clone();
            }
            fields.pod.kubernetes_config = serde_json::from_value(kubernetes_config).unwrap();
            only_error(validate_redis(&fields))
        };
        assert_eq!(
            redis(json!({"minReadySeconds": -5})),
            "spec.kubernetesConfig.minReadySeconds: must be a whole number from 0 to 2147483647, got -5"
        );
        assert_eq!(
            redis(
                json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": -1}}})
            ),
            "spec.kubernetesConfig.updateStrategy.rollingUpdate.partition: must be a whole number \
             from 0 to 2147483647, got -1"
        );
    }
}
