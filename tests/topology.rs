//! The Redis topology reached through the real reconcile against the fake cluster: cluster
//! bootstrap, scale-out and scale-in with every key kept, master loss, replication promotion,
//! sentinels following a failover without restarts, and an operator crash at every write of each.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

use std::collections::BTreeSet;

use redis_operator::api::Kind;
use redis_operator::ports::kube::{ObjectRef, ResourceType};
use redis_operator_sim::engine::world::World;
use redis_operator_sim::fakes::redis::{Server, ServerKind};
use serde_json::{Value, json};

const CLUSTER: &str = "
apiVersion: redis.redis.opstreelabs.in/v1beta2
kind: RedisCluster
metadata: {name: shop}
spec:
  clusterSize: 3
  persistenceEnabled: true
  kubernetesConfig: {image: redis:7.2}
  storage:
    volumeClaimTemplate: {spec: {resources: {requests: {storage: 1Gi}}}}
";

fn cluster_members(world: &World) -> Vec<Server> {
    world
        .redis
        .servers()
        .into_iter()
        .filter(|server| server.kind == ServerKind::Cluster && server.alive)
        .collect()
}

/// Checks the cluster the spec asks for: `shards` masters owning an even share of every slot once,
/// each with `replicas` replicas on other pods, and no key lost.
fn assert_cluster_shape(world: &World, shards: usize, replicas: usize) {
    let members = cluster_members(world);
    let masters: Vec<&Server> = members
        .iter()
        .filter(|server| server.master.is_none() && !server.slots.is_empty())
        .collect();
    assert_eq!(
        masters.len(),
        shards,
        "masters: {:?}",
        masters.iter().map(|server| &server.pod).collect::<Vec<_>>()
    );
    let mut owned = BTreeSet::new();
    for master in &masters {
        for slot in master.slots.iter() {
            assert!(owned.insert(slot), "slot {slot} owned twice");
        }
    }
    assert_eq!(owned.len(), 16384, "every slot owned");
    let counts: Vec<usize> = masters.iter().map(|master| master.slots.len()).collect();
    assert!(
        counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
        "balanced: {counts:?}"
    );
    for master in &masters {
        let followers: Vec<&Server> = members
            .iter()
            .filter(|server| {
                server
                    .master
                    .as_ref()
                    .is_some_and(|(ip, _)| ip == &master.ip)
            })
            .collect();
        assert_eq!(followers.len(), replicas, "replicas of {}", master.pod);
        assert!(followers.iter().all(|follower| follower.pod != master.pod));
    }
    let entry = &masters[0].ip;
    assert_eq!(
        world.lost_keys(entry),
        Vec::<String>::new(),
        "acknowledged keys lost"
    );
}

fn cluster_state(world: &World, target: &ObjectRef) -> (String, i64, i64) {
    let status = world.api.object(target).unwrap()["status"].clone();
    (
        status["state"].as_str().unwrap_or_default().to_owned(),
        status["readyLeaderReplicas"].as_i64().unwrap_or(0),
        status["readyFollowerReplicas"].as_i64().unwrap_or(0),
    )
}

async fn converge(world: &World, kind: Kind, target: &ObjectRef) -> usize {
    match world.converge(&[(kind, target.clone())], 600).await {
        Some(steps) => steps,
        None => {
            let status = world
                .api
                .object(target)
                .map(|object| object["status"].clone());
            let servers: Vec<String> = world
                .redis
                .servers()
                .iter()
                .map(|server| {
                    format!(
                        "{} {} master={:?} slots={} keys={} alive={}",
                        server.pod,
                        server.ip,
                        server.master,
                        server.slots.len(),
                        server.data.len(),
                        server.alive
                    )
                })
                .collect();
            let last = world.reconcile(kind, target).await;
            panic!(
                "{target} did not converge: {status:?}\n{}\nlast reconcile: {last:?}",
                servers.join("\n")
            )
        }
    }
}

fn any_master(world: &World) -> String {
    cluster_members(world)
        .into_iter()
        .find(|server| server.master.is_none() && !server.slots.is_empty())
        .unwrap()
        .ip
}

#[tokio::test]
async fn a_cluster_bootstraps_three_shards_each_with_a_replica_on_another_pod() {
    let world = World::new();
    let (kind, target) = world.create_yaml(CLUSTER).unwrap();
    let kind = kind.unwrap();
    converge(&world, kind, &target).await;
    assert_cluster_shape(&world, 3, 1);
    assert_eq!(cluster_state(&world, &target), ("Ready".to_owned(), 3, 3));
    let commands: BTreeSet<&str> = world
        .redis
        .command_log()
        .iter()
        .map(|record| record.command)
        .collect();
    for forbidden in ["CLUSTER RESET", "FLUSHALL", "FLUSHDB"] {
        assert!(!commands.contains(forbidden));
    }
}

#[tokio::test]
async fn scaling_out_and_back_in_moves_every_key_before_a_master_goes() {
    let world = World::new();
    let (kind, target) = world.create_yaml(CLUSTER).unwrap();
    let kind = kind.unwrap();
    converge(&world, kind, &target).await;
    assert_eq!(world.write_keys(&any_master(&world), "before", 1000), 1000);

    world
        .patch_spec(&target, &json!({"clusterSize": 6}))
        .unwrap();
    converge(&world, kind, &target).await;
    assert_cluster_shape(&world, 6, 1);
    assert_eq!(cluster_state(&world, &target), ("Ready".to_owned(), 6, 6));

    assert_eq!(world.write_keys(&any_master(&world), "middle", 500), 500);
    world
        .patch_spec(&target, &json!({"clusterSize": 3}))
        .unwrap();
    converge(&world, kind, &target).await;
    assert_cluster_shape(&world, 3, 1);
    let leaders = world.pod_addresses("shop-leader");
    assert_eq!(
        leaders.keys().cloned().collect::<Vec<_>>(),
        ["shop-leader-0", "shop-leader-1", "shop-leader-2"]
    );
    // No departing node is still known to a staying one.
    for member in cluster_members(&world) {
        let table = world.redis.server(&member.ip).unwrap();
        assert!(table.slots.len() <= 5462);
    }
}

#[tokio::test]
async fn a_killed_master_is_replaced_by_its_replica_and_rejoins_as_a_replica() {
    let world = World::new();
    let (kind, target) = world.create_yaml(CLUSTER).unwrap();
    let kind = kind.unwrap();
    converge(&world, kind, &target).await;
    assert_eq!(world.write_keys(&any_master(&world), "key", 300), 300);
    world.step();
    let victim = cluster_members(&world)
        .into_iter()
        .find(|server| &*server.pod == "shop-leader-1")
        .unwrap();
    assert!(victim.master.is_none(), "shop-leader-1 starts as a master");
    world.kill_pod("default", "shop-leader-1");
    world.hold_down("shop-leader-1", 15_000);
    converge(&world, kind, &target).await;
    assert_cluster_shape(&world, 3, 1);
    let returned = cluster_members(&world)
        .into_iter()
        .find(|server| &*server.pod == "shop-leader-1")
        .unwrap();
    assert!(
        returned.master.is_some(),
        "the old master came back as a replica"
    );
    assert_eq!(cluster_state(&world, &target).0, "Ready");
}

/// Writes (Kubernetes and Redis) the operator makes to bootstrap a cluster without faults.
async fn bootstrap_writes() -> usize {
    let world = World::new();
    let (kind, target) = world.create_yaml(CLUSTER).unwrap();
    converge(&world, kind.unwrap(), &target).await;
    world.api.writes().len() + world.redis.command_log().len()
}

/// Runs the operator with a crash after `crash_after` writes for a few reconciles, then without
/// crashes until it converges.
async fn reconcile_through_a_crash(
    world: &World,
    kind: Kind,
    target: &ObjectRef,
    crash_after: usize,
) {
    world.crash.arm(crash_after);
    for _ in 0..5 {
        let _ = world.reconcile(kind, target).await;
        world.step();
    }
    world.crash.disarm();
    converge(world, kind, target).await;
}

#[tokio::test]
async fn a_crash_at_every_write_of_a_bootstrap_still_converges() {
    let writes = bootstrap_writes().await;
    assert!(writes > 20, "a bootstrap takes {writes} writes");
    for crash_after in 0..writes {
        let world = World::new();
        let (kind, target) = world.create_yaml(CLUSTER).unwrap();
        reconcile_through_a_crash(&world, kind.unwrap(), &target, crash_after).await;
        assert_cluster_shape(&world, 3, 1);
    }
}

/// The first writes of a scaling step cover one slot's whole migration (IMPORTING, MIGRATING, the
/// key moves, both SETSLOT NODE) and the status write before it.
const SCALING_CRASH_POINTS: usize = 14;

#[tokio::test]
async fn a_crash_at_every_write_of_a_slot_migration_keeps_every_key() {
    for crash_after in 0..SCALING_CRASH_POINTS {
        let world = World::new();
        let (kind, target) = world.create_yaml(CLUSTER).unwrap();
        let kind = kind.unwrap();
        converge(&world, kind, &target).await;
        for shards in [6, 3] {
            assert_eq!(
                world.write_keys(&any_master(&world), &format!("k{shards}"), 300),
                300
            );
            world
                .patch_spec(&target, &json!({"clusterSize": shards}))
                .unwrap();
            reconcile_through_a_crash(&world, kind, &target, crash_after).await;
            assert_cluster_shape(&world, shards, 1);
        }
        assert!(
            world.crash.crashes() > 0,
            "the crash after {crash_after} writes happened"
        );
    }
}

#[tokio::test]
async fn a_crash_while_a_lost_master_is_replaced_still_converges_without_loss() {
    for crash_after in 0..8 {
        let world = World::new();
        let (kind, target) = world.create_yaml(CLUSTER).unwrap();
        let kind = kind.unwrap();
        converge(&world, kind, &target).await;
        assert_eq!(world.write_keys(&any_master(&world), "key", 200), 200);
        world.step();
        world.kill_pod("default", "shop-leader-0");
        world.hold_down("shop-leader-0", 15_000);
        reconcile_through_a_crash(&world, kind, &target, crash_after).await;
        assert_cluster_shape(&world, 3, 1);
    }
}

const REPLICATION: &str = "
apiVersion: redis.redis.opstreelabs.in/v1beta2
kind: RedisReplication
metadata: {name: sessions}
spec:
  clusterSize: 3
  kubernetesConfig: {image: redis:7.2}
  storage:
    volumeClaimTemplate: {spec: {resources: {requests: {storage: 1Gi}}}}
";

fn replication_master(world: &World) -> Server {
    let masters: Vec<Server> = world
        .redis
        .servers()
        .into_iter()
        .filter(|server| {
            server.kind == ServerKind::Plain && server.alive && server.master.is_none()
        })
        .collect();
    assert_eq!(
        masters.len(),
        1,
        "one master: {:?}",
        masters.iter().map(|server| &server.pod).collect::<Vec<_>>()
    );
    masters.into_iter().next().unwrap()
}

fn master_service_pods(world: &World) -> Vec<String> {
    world.pods_selected_by(&ObjectRef::new(
        ResourceType::Service,
        "default",
        "sessions-master",
    ))
}

/// The `-master` Service selects exactly `master`, and the status names it.
fn assert_master_named(world: &World, target: &ObjectRef, master: &Server) {
    assert_eq!(master_service_pods(world), [master.pod.to_string()]);
    assert_eq!(
        world.api.object(target).unwrap()["status"]["masterNode"],
        &*master.pod
    );
}

#[tokio::test]
async fn a_replication_set_elects_one_master_that_the_master_service_and_status_name() {
    let world = World::new();
    let (kind, target) = world.create_yaml(REPLICATION).unwrap();
    converge(&world, kind.unwrap(), &target).await;
    let master = replication_master(&world);
    assert_master_named(&world, &target, &master);
}

#[tokio::test]
async fn without_sentinels_a_lost_master_is_replaced_by_the_most_advanced_replica_and_no_data_is_lost()
 {
    let world = World::new();
    let (kind, target) = world.create_yaml(REPLICATION).unwrap();
    let kind = kind.unwrap();
    converge(&world, kind, &target).await;
    let master = replication_master(&world);
    assert_eq!(world.write_keys(&master.ip, "session", 200), 200);
    world.step();
    world.kill_pod("default", &master.pod);
    converge(&world, kind, &target).await;
    let new_master = replication_master(&world);
    assert_eq!(world.lost_keys(&new_master.ip), Vec::<String>::new());
    assert_master_named(&world, &target, &new_master);
}

#[tokio::test]
async fn a_master_that_restarts_empty_never_wipes_its_replicas() {
    // No claim template: a restarted pod comes back with no data.
    let world = World::new();
    let yaml = REPLICATION.replace(
        "  storage:\n    volumeClaimTemplate: {spec: {resources: {requests: {storage: 1Gi}}}}\n",
        "",
    );
    let (kind, target) = world.create_yaml(&yaml).unwrap();
    let kind = kind.unwrap();
    converge(&world, kind, &target).await;
    let master = replication_master(&world);
    assert_eq!(world.write_keys(&master.ip, "session", 100), 100);
    world.step();
    world.kill_pod("default", &master.pod);
    world.step(); // the pod returns at once, empty, as a master
    converge(&world, kind, &target).await;
    let new_master = replication_master(&world);
    assert_eq!(
        world.lost_keys(&new_master.ip),
        Vec::<String>::new(),
        "the data survived on a replica"
    );
    assert!(
        world
            .redis
            .servers()
            .iter()
            .filter(|server| server.kind == ServerKind::Plain)
            .all(|server| server.data.len() == 100)
    );
}

const SENTINEL: &str = "
apiVersion: redis.redis.opstreelabs.in/v1beta2
kind: RedisSentinel
metadata: {name: watch}
spec:
  clusterSize: 3
  kubernetesConfig: {image: redis:7.2}
  redisSentinelConfig: {redisReplicationName: sessions, downAfterMilliseconds: '3000'}
";

#[tokio::test]
async fn sentinels_follow_a_failover_without_restarting_and_the_operator_follows_them() {
    let world = World::new();
    let (replication_kind, replication) = world.create_yaml(REPLICATION).unwrap();
    let (sentinel_kind, sentinel) = world.create_yaml(SENTINEL).unwrap();
    let targets = [
        (replication_kind.unwrap(), replication.clone()),
        (sentinel_kind.unwrap(), sentinel.clone()),
    ];
    world.converge(&targets, 600).await.unwrap();
    let master = replication_master(&world);
    let sentinels: Vec<Server> = world
        .redis
        .servers()
        .into_iter()
        .filter(|server| server.kind == ServerKind::Sentinel)
        .collect();
    assert_eq!(sentinels.len(), 3);
    assert_eq!(
        world.api.object(&sentinel).unwrap()["status"]["masterAddress"],
        Value::from(format!("{}:6379", master.ip))
    );
    let sentinel_pods_before: Vec<Value> = world
        .objects(ResourceType::Pod)
        .into_iter()
        .filter(|pod| pod["metadata"]["labels"]["app"] == "watch-sentinel")
        .map(|pod| pod["metadata"]["uid"].clone())
        .collect();
    assert_eq!(world.write_keys(&master.ip, "session", 50), 50);
    world.step();
    world.kill_pod("default", &master.pod);
    world.converge(&targets, 600).await.unwrap();
    eprintln!(
        "replication status: {}",
        world.api.object(&replication).unwrap()["status"]
    );
    eprintln!(
        "sentinel status: {}",
        world.api.object(&sentinel).unwrap()["status"]
    );
    for server in world.redis.servers() {
        eprintln!(
            "{} {} {:?} alive={} keys={}",
            server.pod,
            server.ip,
            server.master,
            server.alive,
            server.data.len()
        );
    }
    let new_master = replication_master(&world);
    assert_ne!(
        new_master.pod, master.pod,
        "the sentinels promoted a replica"
    );
    assert_eq!(world.lost_keys(&new_master.ip), Vec::<String>::new());
    assert_eq!(master_service_pods(&world), [new_master.pod.to_string()]);
    assert_eq!(
        world.api.object(&sentinel).unwrap()["status"]["masterAddress"],
        Value::from(format!("{}:6379", new_master.ip))
    );
    let sentinel_pods_after: Vec<Value> = world
        .objects(ResourceType::Pod)
        .into_iter()
        .filter(|pod| pod["metadata"]["labels"]["app"] == "watch-sentinel")
        .map(|pod| pod["metadata"]["uid"].clone())
        .collect();
    assert_eq!(
        sentinel_pods_before, sentinel_pods_after,
        "no sentinel pod restarted"
    );
}

/// Every pod of the app runs the StatefulSet's current template revision.
fn all_pods_current(world: &World, statefulset: &str) -> bool {
    let live = world
        .api
        .object(&ObjectRef::new(
            ResourceType::StatefulSet,
            "default",
            statefulset,
        ))
        .unwrap();
    let revision = live["status"]["updateRevision"].clone();
    world
        .objects(ResourceType::Pod)
        .into_iter()
        .filter(|pod| pod["metadata"]["labels"]["app"] == statefulset)
        .all(|pod| pod["metadata"]["labels"]["controller-revision-hash"] == revision)
}

#[tokio::test]
async fn a_template_change_restarts_a_replication_set_replicas_first_without_losing_a_write() {
    let world = World::new();
    let (kind, target) = world.create_yaml(REPLICATION).unwrap();
    let kind = kind.unwrap();
    converge(&world, kind, &target).await;
    let master = replication_master(&world);
    assert_eq!(world.write_keys(&master.ip, "session", 100), 100);
    world
        .patch_spec(
            &target,
            &json!({"kubernetesConfig": {"resources": {"requests": {"cpu": "200m"}}}}),
        )
        .unwrap();
    converge(&world, kind, &target).await;
    assert!(
        all_pods_current(&world, "sessions"),
        "every pod restarted into the new template"
    );
    let new_master = replication_master(&world);
    assert_ne!(
        new_master.pod, master.pod,
        "the master handed over before restarting"
    );
    assert_eq!(world.lost_keys(&new_master.ip), Vec::<String>::new());
    assert!(
        world
            .api
            .events()
            .iter()
            .any(|event| event.reason == "PlannedFailover")
    );
}

#[tokio::test]
async fn a_template_change_restarts_a_cluster_with_planned_failovers_and_no_lost_key() {
    let world = World::new();
    let (kind, target) = world.create_yaml(CLUSTER).unwrap();
    let kind = kind.unwrap();
    converge(&world, kind, &target).await;
    assert_eq!(world.write_keys(&any_master(&world), "order", 300), 300);
    world
        .patch_spec(
            &target,
            &json!({"kubernetesConfig": {"resources": {"requests": {"cpu": "200m"}}}}),
        )
        .unwrap();
    converge(&world, kind, &target).await;
    assert!(all_pods_current(&world, "shop-leader") && all_pods_current(&world, "shop-follower"));
    assert_cluster_shape(&world, 3, 1);
    let commands: Vec<&str> = world
        .redis
        .command_log()
        .iter()
        .map(|record| record.command)
        .collect();
    assert!(
        commands.contains(&"CLUSTER FAILOVER"),
        "masters handed over before restarting"
    );
}

#[tokio::test]
async fn a_template_change_under_sentinels_hands_the_master_over_through_them() {
    let world = World::new();
    let (replication_kind, replication) = world.create_yaml(REPLICATION).unwrap();
    let (sentinel_kind, sentinel) = world.create_yaml(SENTINEL).unwrap();
    let targets = [
        (replication_kind.unwrap(), replication.clone()),
        (sentinel_kind.unwrap(), sentinel.clone()),
    ];
    world.converge(&targets, 600).await.unwrap();
    let master = replication_master(&world);
    assert_eq!(world.write_keys(&master.ip, "session", 100), 100);
    world
        .patch_spec(
            &replication,
            &json!({"kubernetesConfig": {"resources": {"requests": {"cpu": "200m"}}}}),
        )
        .unwrap();
    world.converge(&targets, 600).await.unwrap();
    assert!(all_pods_current(&world, "sessions"));
    let new_master = replication_master(&world);
    assert_ne!(new_master.pod, master.pod);
    assert_eq!(world.lost_keys(&new_master.ip), Vec::<String>::new());
    let commands: Vec<&str> = world
        .redis
        .command_log()
        .iter()
        .map(|record| record.command)
        .collect();
    assert!(
        commands.contains(&"SENTINEL FAILOVER"),
        "the sentinels made the handover"
    );
    assert!(
        !commands.contains(&"FAILOVER"),
        "the operator did not go around the sentinels"
    );
    assert_eq!(
        world.api.object(&sentinel).unwrap()["status"]["masterAddress"],
        Value::from(format!("{}:6379", new_master.ip))
    );
}

#[tokio::test]
async fn restarting_every_pod_of_a_cluster_at_once_keeps_every_key() {
    let world = World::new();
    let (kind, target) = world.create_yaml(CLUSTER).unwrap();
    let kind = kind.unwrap();
    converge(&world, kind, &target).await;
    assert_eq!(world.write_keys(&any_master(&world), "order", 500), 500);
    world.step();
    let pods: Vec<String> = world
        .objects(ResourceType::Pod)
        .into_iter()
        .map(|pod| pod["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    for pod in &pods {
        world.kill_pod("default", pod);
    }
    // Every pod comes back with a new address; nodes.conf and data are on their claims.
    converge(&world, kind, &target).await;
    assert_cluster_shape(&world, 3, 1);
}
