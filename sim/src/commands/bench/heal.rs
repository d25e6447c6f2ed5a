//! Time to heal, in simulated time: a converged set loses its master pod; Redis (the sentinels,
//! or the cluster's replicas) promotes a replica; the operator then makes Kubernetes say so. For
//! a RedisReplication under sentinels that is the `-master` Service selecting the new master and
//! `status.masterNode` naming it; a RedisCluster has neither (cluster clients follow the
//! promotion through redirections), so its row reports how long after the promotion the CR is
//! Ready again with the killed pod back as a replica. A cluster master pod that comes back
//! within the cluster's node timeout is never failed over, so the cluster's killed pod is kept
//! from restarting for [`CLUSTER_HOLD_DOWN_MILLISECONDS`] (as when its node is down).

use redis_operator::json_pointer::JsonPointer;
use redis_operator::ports::clock::Milliseconds;
use redis_operator::ports::kube::{ObjectRef, ResourceType};
use serde_json::{Value, json};

use super::driver::{Driver, Moment, ready_for_current_spec};
use super::{
    BenchmarkError, CLUSTER_MANIFEST, MEASUREMENT_LIMIT_MILLISECONDS, REPLICATION_MANIFEST,
    SENTINEL_MANIFEST, documents, with_cluster_size,
};
use crate::engine::world::{World, WorldSettings};
use crate::oracles::masters_of;

/// How long the killed cluster master pod is kept from restarting, so that its replica is
/// promoted (the cluster's node timeout is 5 s).
pub const CLUSTER_HOLD_DOWN_MILLISECONDS: Milliseconds = 30_000;

/// The heal target for a set whose master the operator publishes.
pub const HEAL_TARGET_MILLISECONDS: Milliseconds = 1_000;

/// One failover's timings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealRow {
    /// What was measured.
    pub set: String,
    /// The pod killed and the pod promoted.
    pub killed: String,
    /// The pod Redis promoted.
    pub promoted: Option<String>,
    /// From the kill to the promotion.
    pub promotion: Option<Milliseconds>,
    /// From the promotion to the operator publishing it (or the CR Ready again, for a cluster).
    pub healed: Result<Milliseconds, String>,
    /// Whether the sub-second target applies (the set has a master to publish).
    pub target_applies: bool,
}

impl HealRow {
    /// Under a second after the promotion, where the target applies.
    pub fn target_met(&self) -> Option<bool> {
        self.target_applies.then(|| {
            self.healed
                .as_ref()
                .is_ok_and(|healed| *healed < HEAL_TARGET_MILLISECONDS)
        })
    }

    /// The row as JSON.
    pub fn json(&self) -> Value {
        json!({
            "set": self.set, "killed": self.killed, "promoted": self.promoted,
            "kill_to_promotion_ms": self.promotion,
            "promotion_to_healed_ms": self.healed.as_ref().ok(),
            "error": self.healed.as_ref().err(),
            "target": if self.target_applies { "under 1000 ms after the promotion" } else { "none (no master to publish)" },
            "target_met": self.target_met(),
        })
    }
}

/// The pod the `-master` Service selects, when exactly one.
fn master_service_pod(world: &World, replication: &ObjectRef) -> Option<String> {
    match world.master_service_pods(replication).as_slice() {
        [pod] => Some(pod.clone()),
        _ => None,
    }
}

fn status_master(world: &World, replication: &ObjectRef) -> Option<String> {
    world
        .api
        .object(replication)?
        .at("/status/masterNode")?
        .as_str()
        .map(str::to_owned)
}

/// Kills the master pod of a converged set (keeping it from restarting for `hold_down`
/// milliseconds) and times the promotion and what follows it. `healed` says whether the
/// operator has published `promoted`.
async fn kill_and_time(
    driver: &mut Driver,
    target: &ObjectRef,
    set: &str,
    hold_down: Milliseconds,
    target_applies: bool,
    healed: impl Fn(&World, &str) -> bool,
) -> Result<HealRow, BenchmarkError> {
    driver.converge(MEASUREMENT_LIMIT_MILLISECONDS, set).await?;
    let masters = masters_of(&driver.world, target);
    let Some(killed) = masters.first().cloned() else {
        return Err(BenchmarkError::NotReached {
            what: format!("{set} with a master"),
            seconds: MEASUREMENT_LIMIT_MILLISECONDS / 1000,
        });
    };
    let start = driver.now();
    if hold_down > 0 {
        driver.world.hold_down(&killed, hold_down);
    }
    driver.world.kill_pod(&target.namespace, &killed);
    let mut promoted: Option<(String, Milliseconds)> = None;
    let mut healed_at = None;
    driver
        .play_until(MEASUREMENT_LIMIT_MILLISECONDS, |world, now, moment| {
            if promoted.is_none() && moment == Moment::BeforeReconciles {
                // The pod that was killed comes back empty and may call itself master until it
                // is told otherwise; a promotion is a pod that was a replica turned master.
                let now_masters = masters_of(world, target);
                if let Some(pod) = now_masters
                    .iter()
                    .find(|pod| !masters.contains(pod) && **pod != killed)
                {
                    promoted = Some((pod.clone(), now));
                }
            }
            if let Some((pod, _)) = &promoted
                && healed(world, pod)
            {
                healed_at = Some(now);
                return true;
            }
            false
        })
        .await;
    Ok(HealRow {
        set: set.to_owned(),
        killed,
        promoted: promoted.as_ref().map(|(pod, _)| pod.clone()),
        promotion: promoted.as_ref().map(|(_, time)| time - start),
        healed: match (&promoted, healed_at) {
            (Some((_, promoted_at)), Some(healed_at)) => Ok(healed_at - promoted_at),
            (None, _) => Err(format!(
                "no replica promoted within {} simulated seconds",
                MEASUREMENT_LIMIT_MILLISECONDS / 1000
            )),
            (Some(_), None) => Err(format!(
                "not healed within {} simulated seconds",
                MEASUREMENT_LIMIT_MILLISECONDS / 1000
            )),
        },
        target_applies,
    })
}

/// A RedisReplication of three under three sentinels, and a RedisCluster of `shards` shards with
/// one replica each, each losing its master pod.
pub async fn measure_time_to_heal(
    seed: u64,
    settings: &WorldSettings,
    shards: u32,
) -> Vec<HealRow> {
    let mut rows = Vec::new();
    let replication = async {
        let mut driver = Driver::new(seed, settings.clone());
        let mut manifests = documents(REPLICATION_MANIFEST)?;
        manifests.extend(documents(SENTINEL_MANIFEST)?);
        let created = driver.create(&manifests)?;
        let Some(replication) = created
            .iter()
            .find(|target| target.resource == ResourceType::RedisReplication)
            .cloned()
        else {
            return Err(BenchmarkError::Create {
                object: "RedisReplication".to_owned(),
                message: "the manifest holds no RedisReplication".to_owned(),
            });
        };
        let published = replication.clone();
        kill_and_time(
            &mut driver,
            &replication,
            "RedisReplication 3 + RedisSentinel 3",
            0,
            true,
            move |world, pod| {
                master_service_pod(world, &published).as_deref() == Some(pod)
                    && status_master(world, &published).as_deref() == Some(pod)
            },
        )
        .await
    }
    .await;
    rows.push(
        replication.unwrap_or_else(|error| failed_row("RedisReplication + sentinels", &error)),
    );
    let cluster = async {
        let mut driver = Driver::new(seed, settings.clone());
        let manifests = with_cluster_size(documents(CLUSTER_MANIFEST)?, shards);
        let created = driver.create(&manifests)?;
        let Some(cluster) = created.first().cloned() else {
            return Err(BenchmarkError::Create {
                object: "RedisCluster".to_owned(),
                message: "the manifest holds no RedisCluster".to_owned(),
            });
        };
        let ready = cluster.clone();
        let masters = usize::try_from(shards).unwrap_or(usize::MAX);
        kill_and_time(
            &mut driver,
            &cluster,
            &format!(
                "RedisCluster {shards}x1 (pod held down {} s)",
                CLUSTER_HOLD_DOWN_MILLISECONDS / 1000
            ),
            CLUSTER_HOLD_DOWN_MILLISECONDS,
            false,
            move |world, _| {
                ready_for_current_spec(world, &ready) && masters_of(world, &ready).len() == masters
            },
        )
        .await
    }
    .await;
    rows.push(cluster.unwrap_or_else(|error| failed_row("RedisCluster", &error)));
    rows
}

fn failed_row(set: &str, error: &BenchmarkError) -> HealRow {
    HealRow {
        set: set.to_owned(),
        killed: String::new(),
        promoted: None,
        promotion: None,
        healed: Err(error.to_string()),
        target_applies: true,
    }
}
