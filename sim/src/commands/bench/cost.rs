//! Steady-state cost: on a converged CR of each kind, what one reconcile costs — API writes
//! (the target is none), API reads (gets and lists), Redis commands, and Redis commands that
//! write — averaged over several reconciles one simulated second apart. Counted by the fake API
//! server and the fake Redis around each reconcile only, so the simulated controllers' own
//! writes are left out.

use redis_operator::api::Kind;
use serde_json::{Value, json};

use super::driver::Driver;
use super::{
    BenchmarkError, CLUSTER_MANIFEST, MEASUREMENT_LIMIT_MILLISECONDS, REPLICATION_MANIFEST,
    SENTINEL_MANIFEST, STANDALONE_MANIFEST, documents, with_cluster_size,
};
use crate::engine::world::WorldSettings;

/// Per-reconcile figures for one converged CR.
#[derive(Clone, Debug, PartialEq)]
pub struct CostRow {
    /// The CR.
    pub object: String,
    /// Reconciles averaged over.
    pub reconciles: u64,
    /// API writes (Events included) per reconcile.
    pub api_writes: f64,
    /// API gets and lists per reconcile.
    pub api_reads: f64,
    /// Redis commands per reconcile.
    pub redis_commands: f64,
    /// Redis commands that write, per reconcile.
    pub redis_writes: f64,
}

impl CostRow {
    /// No API write in steady state.
    pub fn target_met(&self) -> bool {
        self.api_writes == 0.0
    }

    /// The row as JSON.
    pub fn json(&self) -> Value {
        json!({
            "object": self.object, "reconciles": self.reconciles,
            "api_writes_per_reconcile": self.api_writes,
            "api_reads_per_reconcile": self.api_reads,
            "redis_commands_per_reconcile": self.redis_commands,
            "redis_writes_per_reconcile": self.redis_writes,
            "target": "0 API writes per reconcile",
            "target_met": self.target_met(),
        })
    }
}

/// Converges the CRs of `manifests`, then reconciles each of them `reconciles` times and counts.
async fn measure_set(
    seed: u64,
    settings: &WorldSettings,
    manifests: Vec<Value>,
    what: &str,
    reconciles: u64,
) -> Result<Vec<CostRow>, BenchmarkError> {
    let mut driver = Driver::new(seed, settings.clone());
    driver.create(&manifests)?;
    driver
        .converge(MEASUREMENT_LIMIT_MILLISECONDS, what)
        .await?;
    let targets: Vec<(Kind, redis_operator::ports::kube::ObjectRef)> = driver.targets().to_vec();
    let mut rows = Vec::new();
    for (kind, target) in targets {
        let (mut writes, mut reads, mut commands, mut redis_writes) = (0, 0, 0, 0);
        for _ in 0..reconciles {
            let world = &driver.world;
            let writes_before = world.api.writes().len();
            let reads_before = world.api.reads();
            let commands_before = world.redis.commands_sent();
            let redis_writes_before = world.redis.writes_sent();
            world
                .reconcile(kind, &target)
                .await
                .map_err(|source| BenchmarkError::Reconcile {
                    object: target.to_string(),
                    message: source.to_string(),
                })?;
            writes += world.api.writes().len() - writes_before;
            reads += world.api.reads() - reads_before;
            commands += world.redis.commands_sent() - commands_before;
            redis_writes += world.redis.writes_sent() - redis_writes_before;
            world.step();
        }
        let per = |count: u64| count as f64 / reconciles.max(1) as f64;
        rows.push(CostRow {
            object: format!("{} {}", kind.name(), target.name),
            reconciles,
            api_writes: per(u64::try_from(writes).unwrap_or(u64::MAX)),
            api_reads: per(reads),
            redis_commands: per(commands),
            redis_writes: per(u64::try_from(redis_writes).unwrap_or(u64::MAX)),
        });
    }
    Ok(rows)
}

/// The steady-state cost of a standalone Redis, a RedisReplication of three with three
/// sentinels, and a RedisCluster of `shards` shards with one replica each.
pub async fn measure_steady_state(
    seed: u64,
    settings: &WorldSettings,
    shards: u32,
    reconciles: u64,
) -> Vec<Result<CostRow, String>> {
    let sets: Vec<(String, Result<Vec<Value>, BenchmarkError>)> = vec![
        ("Redis".to_owned(), documents(STANDALONE_MANIFEST)),
        (
            "RedisReplication + RedisSentinel".to_owned(),
            documents(REPLICATION_MANIFEST).and_then(|mut manifests| {
                manifests.extend(documents(SENTINEL_MANIFEST)?);
                Ok(manifests)
            }),
        ),
        (
            format!("RedisCluster {shards}x1"),
            documents(CLUSTER_MANIFEST).map(|manifests| with_cluster_size(manifests, shards)),
        ),
    ];
    let mut rows = Vec::new();
    for (what, manifests) in sets {
        let measured = match manifests {
            Ok(manifests) => measure_set(seed, settings, manifests, &what, reconciles).await,
            Err(error) => Err(error),
        };
        match measured {
            Ok(measured) => rows.extend(measured.into_iter().map(Ok)),
            Err(error) => rows.push(Err(format!("{what}: {error}"))),
        }
    }
    rows
}
