//! Time to Ready, in simulated time: from the change (CR created, `clusterSize` patched) to the
//! first round at which the CR's status says Ready for its current spec and Redis has the asked
//! number of masters; beside it, the reference schedule's time under the same pod start latency.

use redis_operator::ports::clock::Milliseconds;
use redis_operator::ports::kube::ObjectRef;
use serde_json::{Value, json};

use super::driver::{Driver, ready_for_current_spec};
use super::reference::{ReferenceOperation, reference_time_to_ready};
use super::{
    BenchmarkError, CLUSTER_MANIFEST, MEASUREMENT_LIMIT_MILLISECONDS, REPLICATION_MANIFEST,
    SENTINEL_MANIFEST, documents, with_cluster_size,
};
use crate::engine::world::{World, WorldSettings};
use crate::oracles::masters_of;

/// Slack over the longest pod start that a scale-out may take: joining the new masters, moving
/// their slots and attaching their replicas.
pub const SCALE_OUT_SLACK_MILLISECONDS: Milliseconds = 5_000;

/// One operation's Time to Ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyRow {
    /// What was done.
    pub operation: String,
    /// Simulated milliseconds until Ready, or why it was not reached.
    pub ours: Result<Milliseconds, String>,
    /// The reference schedule's time for the same operation.
    pub reference: Milliseconds,
    /// An absolute bound ours must also meet (scale-out: pod start plus slack).
    pub bound: Option<Milliseconds>,
}

impl ReadyRow {
    /// Ours over the reference's.
    pub fn ratio(&self) -> Option<f64> {
        let ours = *self.ours.as_ref().ok()?;
        (self.reference > 0).then(|| ours as f64 / self.reference as f64)
    }

    /// At most half the reference's time, and within the bound when there is one.
    pub fn target_met(&self) -> bool {
        match &self.ours {
            Ok(ours) => ours * 2 <= self.reference && self.bound.is_none_or(|bound| *ours <= bound),
            Err(_) => false,
        }
    }

    /// The row as JSON.
    pub fn json(&self) -> Value {
        json!({
            "operation": self.operation,
            "ours_ms": self.ours.as_ref().ok(),
            "error": self.ours.as_ref().err(),
            "reference_ms": self.reference,
            "ratio": self.ratio(),
            "bound_ms": self.bound,
            "target": "at most half the reference's time (scale-out: also at most the longest pod start plus 5 s)",
            "target_met": self.target_met(),
        })
    }
}

fn ready_with_masters(world: &World, target: &ObjectRef, masters: usize) -> bool {
    ready_for_current_spec(world, target) && masters_of(world, target).len() == masters
}

fn row(
    operation: String,
    ours: Result<Option<Milliseconds>, BenchmarkError>,
    reference: Milliseconds,
    bound: Option<Milliseconds>,
) -> ReadyRow {
    let ours = match ours {
        Ok(Some(time)) => Ok(time),
        Ok(None) => Err(format!(
            "not Ready within {} simulated seconds",
            MEASUREMENT_LIMIT_MILLISECONDS / 1000
        )),
        Err(error) => Err(error.to_string()),
    };
    ReadyRow {
        operation,
        ours,
        reference,
        bound,
    }
}

/// Creates a RedisCluster of `small` shards (one replica each), grows it to `large`, shrinks it
/// back; then creates a RedisReplication of three and three sentinels over it. Pods start after
/// `settings`' latencies; random choices follow `seed`.
pub async fn measure_time_to_ready(
    seed: u64,
    settings: &WorldSettings,
    small: u32,
    large: u32,
) -> Vec<ReadyRow> {
    let pod_start = settings.maximum_start_latency_milliseconds;
    let mut rows = Vec::new();

    let mut driver = Driver::new(seed, settings.clone());
    let cluster = documents(CLUSTER_MANIFEST).and_then(|manifests| {
        let manifests = with_cluster_size(manifests, small);
        driver.create(&manifests)
    });
    let cluster = match cluster.map(|created| created.into_iter().next()) {
        Ok(Some(cluster)) => Ok(cluster),
        Ok(None) => Err(BenchmarkError::Create {
            object: "RedisCluster".to_owned(),
            message: "the manifest holds no RedisCluster".to_owned(),
        }),
        Err(error) => Err(error),
    };
    let shards = usize::try_from(small).unwrap_or(usize::MAX);
    let created = match &cluster {
        Ok(cluster) => {
            let start = driver.now();
            Ok(driver
                .time_until(MEASUREMENT_LIMIT_MILLISECONDS, |world| {
                    ready_with_masters(world, cluster, shards)
                })
                .await
                .map(|time| time - start))
        }
        Err(error) => Err(error.clone()),
    };
    rows.push(row(
        format!("RedisCluster {small}x1 created"),
        created,
        reference_time_to_ready(
            ReferenceOperation::ClusterCreate {
                shards: small,
                replicas: 1,
            },
            pod_start,
        ),
        None,
    ));
    for (from, to) in [(small, large), (large, small)] {
        let measured = match &cluster {
            Ok(cluster) => {
                resize(
                    &mut driver,
                    cluster,
                    to,
                    &format!("RedisCluster at {from} shards"),
                )
                .await
            }
            Err(error) => Err(error.clone()),
        };
        let (model, operation, bound) = if to > from {
            (
                ReferenceOperation::ClusterScaleOut { from, to },
                format!("scale-out {from}->{to}"),
                Some(pod_start + SCALE_OUT_SLACK_MILLISECONDS),
            )
        } else {
            (
                ReferenceOperation::ClusterScaleIn { from, to },
                format!("scale-in {from}->{to}"),
                None,
            )
        };
        rows.push(row(
            operation,
            measured,
            reference_time_to_ready(model, pod_start),
            bound,
        ));
    }

    let mut driver = Driver::new(seed, settings.clone());
    let replication =
        documents(REPLICATION_MANIFEST).and_then(|manifests| driver.create(&manifests));
    let replication_ready = match &replication {
        Ok(created) => match created.first() {
            Some(replication) => {
                let replication = replication.clone();
                Ok(driver
                    .time_until(MEASUREMENT_LIMIT_MILLISECONDS, |world| {
                        ready_with_masters(world, &replication, 1)
                    })
                    .await)
            }
            None => Err(BenchmarkError::Create {
                object: "RedisReplication".to_owned(),
                message: "the manifest holds no RedisReplication".to_owned(),
            }),
        },
        Err(error) => Err(error.clone()),
    };
    rows.push(row(
        "RedisReplication 3 created".to_owned(),
        replication_ready,
        reference_time_to_ready(ReferenceOperation::ReplicationCreate, pod_start),
        None,
    ));
    let sentinel_ready = async {
        driver
            .converge(MEASUREMENT_LIMIT_MILLISECONDS, "RedisReplication 3")
            .await?;
        let manifests = documents(SENTINEL_MANIFEST)?;
        let start = driver.now();
        let created = driver.create(&manifests)?;
        let Some(sentinel) = created.first().cloned() else {
            return Err(BenchmarkError::Create {
                object: "RedisSentinel".to_owned(),
                message: "the manifest holds no RedisSentinel".to_owned(),
            });
        };
        Ok(driver
            .time_until(MEASUREMENT_LIMIT_MILLISECONDS, |world| {
                ready_for_current_spec(world, &sentinel)
            })
            .await
            .map(|time| time - start))
    }
    .await;
    rows.push(row(
        "RedisSentinel 3 over it created".to_owned(),
        sentinel_ready,
        reference_time_to_ready(ReferenceOperation::SentinelCreate, pod_start),
        None,
    ));
    rows
}

/// Waits until the cluster is converged, patches `clusterSize` to `to`, and returns the
/// simulated milliseconds until it is Ready with `to` masters.
async fn resize(
    driver: &mut Driver,
    cluster: &ObjectRef,
    to: u32,
    before: &str,
) -> Result<Option<Milliseconds>, BenchmarkError> {
    driver
        .converge(MEASUREMENT_LIMIT_MILLISECONDS, before)
        .await?;
    let start = driver.now();
    driver.patch_spec(cluster, &json!({"clusterSize": to}))?;
    let masters = usize::try_from(to).unwrap_or(usize::MAX);
    Ok(driver
        .time_until(MEASUREMENT_LIMIT_MILLISECONDS, |world| {
            ready_with_masters(world, cluster, masters)
        })
        .await
        .map(|time| time - start))
}
