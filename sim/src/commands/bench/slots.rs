//! Slot movement: how many slots change owner when the operator resizes a RedisCluster from
//! `from` to `to` shards in the simulator, against the fewest any plan could move — every slot of
//! a departing master plus each staying master's surplus over its even share
//! ([`minimum_moves`]). Ownership is read from the fake Redis servers before and after the
//! reconciles of every round, and every slot a master gains counts as one move, so a slot moved
//! twice counts twice.

use std::collections::{BTreeMap, BTreeSet};

use redis_operator::ports::kube::ObjectRef;
use redis_operator::topology::slots::{NodeId, minimum_moves, plan_rebalance};
use serde_json::{Value, json};

use super::driver::{Driver, ready_for_current_spec};
use super::{
    BenchmarkError, CLUSTER_MANIFEST, MEASUREMENT_LIMIT_MILLISECONDS, documents, with_cluster_size,
};
use crate::engine::world::{World, WorldSettings};
use crate::fakes::redis::ServerKind;
use crate::oracles::{masters_of, servers_of};

/// One resize's slot movement.
#[derive(Clone, Debug, PartialEq)]
pub struct SlotRow {
    /// Shards before.
    pub from: u32,
    /// Shards after.
    pub to: u32,
    /// Slots that changed owner in the simulator.
    pub moved: Result<u64, String>,
    /// What the pure planner plans from the layout before the resize.
    pub planned: u64,
    /// The fewest moves possible.
    pub minimum: u64,
    /// Slots `redis-cli --cluster rebalance` moved for the same resize on real Redis, when a
    /// file with those counts was given.
    pub redis_cli: Option<u64>,
}

impl SlotRow {
    /// Moved over the minimum.
    pub fn ratio(&self) -> Option<f64> {
        let moved = *self.moved.as_ref().ok()?;
        (self.minimum > 0).then(|| moved as f64 / self.minimum as f64)
    }

    /// Exactly the minimum.
    pub fn target_met(&self) -> bool {
        self.moved
            .as_ref()
            .is_ok_and(|moved| *moved == self.minimum)
    }

    /// The row as JSON.
    pub fn json(&self) -> Value {
        json!({
            "from": self.from, "to": self.to, "moved": self.moved.as_ref().ok(),
            "error": self.moved.as_ref().err(), "planned": self.planned,
            "minimum": self.minimum, "ratio": self.ratio(),
            "redis_cli_rebalance_moved": self.redis_cli,
            "target": "ratio 1.0", "target_met": self.target_met(),
        })
    }
}

/// Slots owned by each master of `cluster`, by pod name.
fn owners(world: &World, cluster: &ObjectRef) -> BTreeMap<NodeId, BTreeSet<u16>> {
    let servers = world.redis.servers();
    servers_of(&servers, cluster)
        .into_iter()
        .filter(|server| {
            server.alive
                && server.kind == ServerKind::Cluster
                && server.cluster_master_id().is_none()
                && !server.slots.is_empty()
        })
        .map(|server| (server.pod.to_string(), server.slots.iter().collect()))
        .collect()
}

/// Slots each master in `now` owns that it did not own in `before`.
fn gained(before: &BTreeMap<NodeId, BTreeSet<u16>>, now: &BTreeMap<NodeId, BTreeSet<u16>>) -> u64 {
    let empty = BTreeSet::new();
    now.iter()
        .map(|(pod, slots)| {
            let had = before.get(pod).unwrap_or(&empty);
            slots.difference(had).count() as u64
        })
        .sum()
}

/// The leader pods a cluster of `shards` shards keeps.
fn leader_pods(cluster: &ObjectRef, shards: u32) -> BTreeSet<NodeId> {
    (0..shards)
        .map(|ordinal| format!("{}-leader-{ordinal}", cluster.name))
        .collect()
}

/// Resizes a converged cluster of `from` shards to `to` shards and counts the slots moved.
pub async fn measure_slot_movement(
    seed: u64,
    settings: &WorldSettings,
    from: u32,
    to: u32,
    redis_cli: Option<u64>,
) -> SlotRow {
    let mut planned = 0;
    let mut minimum = 0;
    let moved = async {
        let mut driver = Driver::new(seed, settings.clone());
        let manifests = with_cluster_size(documents(CLUSTER_MANIFEST)?, from);
        let Some(cluster) = driver.create(&manifests)?.first().cloned() else {
            return Err(BenchmarkError::Create {
                object: "RedisCluster".to_owned(),
                message: "the manifest holds no RedisCluster".to_owned(),
            });
        };
        driver
            .converge(
                MEASUREMENT_LIMIT_MILLISECONDS,
                &format!("RedisCluster at {from} shards"),
            )
            .await?;
        let mut layout = owners(&driver.world, &cluster);
        let targets = leader_pods(&cluster, to);
        minimum = u64::from(minimum_moves(&layout, &targets));
        planned = plan_rebalance(&layout, &targets).len() as u64;
        driver.patch_spec(&cluster, &json!({"clusterSize": to}))?;
        let masters = usize::try_from(to).unwrap_or(usize::MAX);
        let mut moved = 0;
        let done = driver
            .play_until(MEASUREMENT_LIMIT_MILLISECONDS, |world, _, _| {
                let now = owners(world, &cluster);
                moved += gained(&layout, &now);
                layout = now;
                ready_for_current_spec(world, &cluster)
                    && masters_of(world, &cluster).len() == masters
            })
            .await;
        if done {
            Ok(moved)
        } else {
            Err(BenchmarkError::NotReached {
                what: format!("RedisCluster at {to} shards"),
                seconds: MEASUREMENT_LIMIT_MILLISECONDS / 1000,
            })
        }
    }
    .await;
    SlotRow {
        from,
        to,
        moved: moved.map_err(|error| error.to_string()),
        planned,
        minimum,
        redis_cli,
    }
}
