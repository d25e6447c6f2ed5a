//! The operator's real planners and executor driving real `redis-server` processes through the
//! production Redis adapter: replication set-up and promotion of the most advanced replica;
//! cluster bootstrap, scale-out and scale-in with every key kept.
//!
//! The pods are processes on 127.0.0.1 (each on its own port); a StatefulSet growing or shrinking
//! is a process started or killed. Needs the Debian packages redis-server, redis-sentinel and
//! redis-tools (`scripts/test-all` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

mod support;

use std::time::Duration;

use redis_operator::topology::replies::{
    ReplicationRole, parse_cluster_nodes, parse_info_replication,
};
use support::fleet::{Fleet, key, value};
use support::real_redis::{RedisProcess, ServerOptions};

#[tokio::test]
async fn replication_promotes_the_most_advanced_replica_when_the_master_is_gone() {
    let mut fleet = Fleet::new(ServerOptions::plain());
    for ordinal in 0..3 {
        fleet.start("cache", ordinal);
    }
    let master = fleet.converge_replication(3, None).await;
    let replicas: Vec<String> = fleet
        .pods
        .keys()
        .filter(|name| **name != master)
        .cloned()
        .collect();
    let batch = |range: std::ops::Range<usize>| -> String {
        range
            .map(|index| format!("SET {} {}\n", key(index), value(index)))
            .collect()
    };
    fleet.process(&master).cli_batch(&batch(0..100));
    support::real_redis::wait_until(
        "both replicas hold 100 keys",
        Duration::from_secs(15),
        || {
            replicas
                .iter()
                .all(|name| fleet.process(name).cli(&["DBSIZE"]).trim() == "100")
        },
    );

    // The lower-ordinal replica falls behind: it follows an address where nothing listens.
    let (behind, ahead) = (&replicas[0], &replicas[1]);
    let nowhere = support::real_redis::free_port().to_string();
    fleet
        .process(behind)
        .cli(&["REPLICAOF", "127.0.0.1", &nowhere]);
    fleet.process(&master).cli_batch(&batch(100..200));
    support::real_redis::wait_until(
        "the other replica holds 200 keys",
        Duration::from_secs(15),
        || fleet.process(ahead).cli(&["DBSIZE"]).trim() == "200",
    );

    // The master's node is lost (its pod stays, not ready); the set's size is still 3.
    fleet.lose_node(&master);
    let promoted = fleet.converge_replication(3, Some(&master)).await;
    assert_eq!(
        &promoted, ahead,
        "the replica with the highest offset is promoted"
    );
    support::real_redis::wait_until(
        "the set holds every key again",
        Duration::from_secs(15),
        || {
            [behind, ahead]
                .iter()
                .all(|name| fleet.process(name).cli(&["DBSIZE"]).trim() == "200")
        },
    );
    let info =
        parse_info_replication(&fleet.process(behind).cli(&["INFO", "replication"])).unwrap();
    assert_eq!(info.role, ReplicationRole::Replica);
    assert_eq!(info.master_port, Some(fleet.process(ahead).port));
}

#[tokio::test]
async fn replication_never_erases_a_server_whose_keys_are_outside_database_zero() {
    let mut fleet = Fleet::new(ServerOptions::plain());
    for ordinal in 0..2 {
        fleet.start("cache", ordinal);
    }
    // Two masters: cache-0 empty, cache-1 with keys in database 1 only (DBSIZE says 0).
    fleet
        .process("cache-1")
        .cli_batch("SELECT 1\nSET kept 1\nSET also 2\n");
    assert_eq!(fleet.process("cache-1").cli(&["DBSIZE"]).trim(), "0");
    let master = fleet.converge_replication(2, None).await;
    assert_eq!(master, "cache-1", "the server holding keys stays master");
    support::real_redis::wait_until(
        "both servers hold the keys of database 1",
        Duration::from_secs(15),
        || {
            ["cache-0", "cache-1"]
                .iter()
                .all(|name| fleet.process(name).cli(&["-n", "1", "DBSIZE"]).trim() == "2")
        },
    );
}

#[tokio::test]
async fn cluster_bootstrap_scale_out_and_scale_in_keep_every_key() {
    const KEYS: usize = 10_000;
    let (leaders, followers) = ("shop-leader", "shop-follower");
    let mut fleet = Fleet::new(ServerOptions::plain().cluster());
    for ordinal in 0..3 {
        fleet.start(leaders, ordinal);
        fleet.start(followers, ordinal);
    }
    let rounds = fleet.converge_cluster(leaders, followers, 3).await;
    println!("bootstrap of 3 masters and 3 replicas: {rounds} rounds");
    assert_cluster(&fleet, 3);

    let replies = fleet.by_owner("shop-leader-0", KEYS, |index| {
        format!("SET {} {}", key(index), value(index))
    });
    assert!(replies.iter().all(|reply| reply == "OK"));

    for shards in [4, 5] {
        fleet.start(leaders, shards - 1);
        fleet.start(followers, shards - 1);
        let rounds = fleet.converge_cluster(leaders, followers, shards).await;
        println!("scale-out to {shards} masters: {rounds} rounds");
        assert_cluster(&fleet, shards as usize);
        assert_every_key(&fleet, KEYS);
    }

    let rounds = fleet.converge_cluster(leaders, followers, 3).await;
    println!("scale-in to 3 masters: {rounds} rounds");
    assert_eq!(fleet.pods.len(), 6, "departing pods are gone");
    assert_cluster(&fleet, 3);
    assert_every_key(&fleet, KEYS);
}

/// `shards` masters owning every slot once, evenly, each with one replica, as every node sees it
/// once gossip has spread (the planner reads each node's own line; the others learn by gossip,
/// and a node turns its state to ok a moment after it sees every slot covered).
fn assert_cluster(fleet: &Fleet, shards: usize) {
    let shape = |process: &RedisProcess| -> Result<Vec<u32>, String> {
        let nodes = parse_cluster_nodes(&process.cli(&["CLUSTER", "NODES"])).unwrap();
        let masters: Vec<_> = nodes.iter().filter(|node| node.is_master()).collect();
        let counts: Vec<u32> = masters.iter().map(|node| node.slot_count()).collect();
        let replicas_each: Vec<usize> = masters
            .iter()
            .map(|master| {
                nodes
                    .iter()
                    .filter(|node| node.master_id.as_deref() == Some(master.id.as_str()))
                    .count()
            })
            .collect();
        let settled = masters
            .iter()
            .all(|node| node.migrating.is_empty() && node.importing.is_empty());
        let ok = process
            .cli(&["CLUSTER", "INFO"])
            .contains("cluster_state:ok");
        if nodes.len() == fleet.pods.len()
            && masters.len() == shards
            && counts.iter().sum::<u32>() == 16384
            && replicas_each.iter().all(|count| *count == 1)
            && settled
            && ok
        {
            Ok(counts)
        } else {
            Err(format!(
                "{} nodes, slot counts {counts:?}, replicas {replicas_each:?}, settled {settled}, ok {ok}",
                nodes.len()
            ))
        }
    };
    for (_, process) in fleet.pods.values() {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let counts = loop {
            let seen = match shape(process) {
                Ok(counts) => break counts,
                Err(seen) => seen,
            };
            assert!(
                std::time::Instant::now() < deadline,
                "{} never saw {shards} balanced shards with one replica each: {seen}",
                process.name
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(
            counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
            "balanced: {counts:?}"
        );
    }
}

fn assert_every_key(fleet: &Fleet, keys: usize) {
    let replies = fleet.by_owner("shop-leader-0", keys, |index| format!("GET {}", key(index)));
    let wrong: Vec<usize> = (0..keys)
        .filter(|index| replies[*index] != value(*index))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} keys unreadable, e.g. {}: {:?}",
        wrong.len(),
        key(wrong[0]),
        replies[wrong[0]]
    );
    let total: u64 = fleet
        .pods
        .values()
        .map(|(_, process)| process)
        .filter(|process| {
            parse_info_replication(&process.cli(&["INFO", "replication"]))
                .unwrap()
                .role
                == ReplicationRole::Master
        })
        .map(|process| process.cli(&["DBSIZE"]).trim().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, keys as u64);
}
