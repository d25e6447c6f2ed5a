//! The operator's real planners and executor driving real `redis-server` processes through the
//! production Redis adapter: replication set-up and promotion of the most advanced replica;
//! cluster bootstrap, scale-out and scale-in with every key kept.
//!
//! The pods are processes on 127.0.0.1 (each on its own port); a StatefulSet growing or shrinking
//! is a process started or killed. Needs the Debian packages redis-server, redis-sentinel and
//! redis-tools (`scripts/test-all` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use redis_operator::adapters::RedisAdapter;
use redis_operator::ports::clock::{Clock, SystemClock};
use redis_operator::ports::redis::{RedisAdmin, RedisCommand, RedisReply};
use redis_operator::reconcile::execute::execute;
use redis_operator::reconcile::{Context, Request};
use redis_operator::topology::cluster::{ClusterInput, ClusterPhase, RedisStep, plan_cluster};
use redis_operator::topology::observation::{PodInfo, ServerView};
use redis_operator::topology::parse::{
    ReplicationRole, parse_cluster_nodes, parse_info_replication,
};
use redis_operator::topology::replication::{ReplicationInput, plan_replication};
use redis_operator_sim::redis::key_slot;
use support::real_redis::{RedisProcess, SecretStore, ServerOptions};

/// Rounds of observe, plan and execute before a test gives up.
const MAXIMUM_ROUNDS: usize = 600;
/// Pause between rounds, for gossip and replication to move.
const ROUND_PAUSE: Duration = Duration::from_millis(100);

/// Pods as processes, by pod name, with the adapter and executor the operator would use.
struct Fleet {
    pods: BTreeMap<String, (PodInfo, RedisProcess)>,
    adapter: Arc<RedisAdapter>,
    context: Context,
    options: ServerOptions,
}

impl Fleet {
    fn new(options: ServerOptions) -> Fleet {
        let store = SecretStore::new();
        let adapter = Arc::new(RedisAdapter::new(store.clone()));
        let context = Context {
            kube: store,
            redis: adapter.clone(),
            clock: Arc::new(SystemClock),
        };
        Fleet {
            pods: BTreeMap::new(),
            adapter,
            context,
            options,
        }
    }

    /// Starts the pod `group-ordinal` (a StatefulSet creating it).
    fn start(&mut self, group: &str, ordinal: u32) {
        let name = format!("{group}-{ordinal}");
        let process = RedisProcess::start(&name, self.options.clone());
        let pod = PodInfo {
            name: name.clone(),
            group: group.to_owned(),
            ordinal,
            ip: Some("127.0.0.1".to_owned()),
            node_name: Some("loopback".to_owned()),
            ready: true,
            ready_since: None,
            terminating: false,
            revision: None,
        };
        self.pods.insert(name, (pod, process));
    }

    /// Removes the pod (its process is killed with it).
    fn remove(&mut self, name: &str) {
        if let Some((_, process)) = self.pods.remove(name) {
            self.adapter.forget(&process.endpoint());
        }
    }

    fn process(&self, name: &str) -> &RedisProcess {
        &self.pods[name].1
    }

    /// What observe would see of every pod.
    async fn observe(&self, cluster: bool) -> Vec<ServerView> {
        let mut views = Vec::new();
        for (pod, process) in self.pods.values() {
            let endpoint = process.endpoint();
            let mut view = ServerView {
                pod: pod.clone(),
                endpoint: endpoint.clone(),
                replication: None,
                cluster_nodes: None,
                keys: None,
                error: None,
            };
            let result: Result<(), String> = async {
                let redis = self.adapter.as_ref();
                let reply = redis
                    .execute(&endpoint, &RedisCommand::InfoReplication)
                    .await
                    .map_err(|error| error.to_string())?;
                view.replication = Some(
                    parse_info_replication(reply.as_text().unwrap_or_default())
                        .map_err(|error| error.to_string())?,
                );
                if let RedisReply::Integer(count) = redis
                    .execute(&endpoint, &RedisCommand::DatabaseSize)
                    .await
                    .map_err(|error| error.to_string())?
                {
                    view.keys = u64::try_from(count).ok();
                }
                if cluster {
                    let reply = redis
                        .execute(&endpoint, &RedisCommand::ClusterNodes)
                        .await
                        .map_err(|error| error.to_string())?;
                    view.cluster_nodes = Some(
                        parse_cluster_nodes(reply.as_text().unwrap_or_default())
                            .map_err(|error| error.to_string())?,
                    );
                }
                Ok(())
            }
            .await;
            if let Err(error) = result {
                view.replication = None;
                view.error = Some(error);
            }
            views.push(view);
        }
        views
    }

    fn group_size(&self, group: &str) -> i32 {
        i32::try_from(
            self.pods
                .values()
                .filter(|(pod, _)| pod.group == group)
                .count(),
        )
        .unwrap()
    }

    /// Runs the cluster planner and the executor until the cluster is Ready with nothing left to
    /// do, shrinking each group (as its StatefulSet would) once the planner stops holding it.
    /// Returns the rounds it took.
    async fn converge_cluster(&mut self, leaders: &str, followers: &str, shards: u32) -> usize {
        let mut last_activity = String::new();
        let mut last_failure = String::new();
        for round in 0..MAXIMUM_ROUNDS {
            let views = self.observe(true).await;
            let live_replicas: BTreeMap<String, i32> = [leaders, followers]
                .iter()
                .map(|group| ((*group).to_owned(), self.group_size(group)))
                .collect();
            let plan = plan_cluster(&ClusterInput {
                servers: &views,
                leader_group: leaders,
                follower_group: followers,
                shards,
                replicas_per_shard: 1,
                major_version: 7,
                target_revisions: &BTreeMap::new(),
                live_replicas: &live_replicas,
            });
            last_activity.clone_from(&plan.activity);
            if let ClusterPhase::Failed(reason) = &plan.phase {
                panic!("the cluster planner gave up: {reason}");
            }
            // The StatefulSets shrink to what the spec asks, but never below what the planner holds.
            let mut removed = false;
            for (group, desired) in [(leaders, shards), (followers, shards)] {
                let floor = plan
                    .hold_replicas
                    .get(group)
                    .map_or(desired, |hold| desired.max(u32::try_from(*hold).unwrap()));
                let departing: Vec<String> = self
                    .pods
                    .values()
                    .filter(|(pod, _)| pod.group == group && pod.ordinal >= floor)
                    .map(|(pod, _)| pod.name.clone())
                    .collect();
                for name in departing {
                    self.remove(&name);
                    removed = true;
                }
            }
            let requests: Vec<Request> = plan
                .steps
                .into_iter()
                .map(|step| match step {
                    RedisStep::Command(endpoint, command) => Request::Redis { endpoint, command },
                    RedisStep::MoveSlotKeys {
                        source,
                        target,
                        slot,
                    } => Request::MoveSlotKeys {
                        source,
                        target,
                        slot,
                    },
                })
                .collect();
            if requests.is_empty() && plan.phase == ClusterPhase::Ready && !removed {
                return round;
            }
            let report = execute(&self.context, requests).await;
            if let Some((request, error)) = report.failure {
                last_failure = format!("{request:?}: {error}");
            }
            tokio::time::sleep(ROUND_PAUSE).await;
        }
        panic!(
            "the cluster did not converge in {MAXIMUM_ROUNDS} rounds; last activity: {last_activity}; last failure: {last_failure}"
        );
    }

    /// Runs the replication planner and the executor until the set is converged.
    async fn converge_replication(&mut self, size: i32, previous_master: Option<&str>) -> String {
        let mut last_blocked = None;
        for _ in 0..MAXIMUM_ROUNDS {
            let views = self.observe(false).await;
            let plan = plan_replication(ReplicationInput {
                servers: &views,
                size,
                managed_by_sentinel: false,
                sentinel_master: None,
                previous_master,
                now: SystemClock.now(),
                target_revision: None,
                failover_sentinel: None,
            });
            if plan.converged && plan.commands.is_empty() {
                return plan.master.unwrap();
            }
            last_blocked.clone_from(&plan.blocked);
            let requests = plan
                .commands
                .into_iter()
                .map(|(endpoint, command)| Request::Redis { endpoint, command })
                .collect();
            let report = execute(&self.context, requests).await;
            if let Some((request, error)) = report.failure {
                last_blocked = Some(format!("{request:?}: {error}"));
            }
            tokio::time::sleep(ROUND_PAUSE).await;
        }
        panic!("the replication set did not converge; last: {last_blocked:?}");
    }

    /// The master of each slot, by pod name, as the pod `asked` sees it.
    fn slot_owners(&self, asked: &str) -> Vec<String> {
        let text = self.process(asked).cli(&["CLUSTER", "NODES"]);
        let nodes = parse_cluster_nodes(&text).unwrap();
        let mut owners = vec![String::new(); 16384];
        for node in nodes.iter().filter(|node| node.is_master()) {
            let port = node.address.as_ref().unwrap().port;
            let name = self
                .pods
                .values()
                .find(|(_, process)| process.port == port)
                .map(|(pod, _)| pod.name.clone())
                .unwrap();
            for (start, end) in &node.slots {
                for slot in *start..=*end {
                    owners[usize::from(slot)].clone_from(&name);
                }
            }
        }
        owners
    }

    /// Sends `command key value?` for every key to the master of its slot, in one redis-cli per
    /// master; returns the replies by key index.
    fn by_owner(&self, asked: &str, keys: usize, command: impl Fn(usize) -> String) -> Vec<String> {
        let owners = self.slot_owners(asked);
        let mut batches: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for index in 0..keys {
            let owner = &owners[usize::from(key_slot(&key(index)))];
            assert!(
                !owner.is_empty(),
                "no master owns the slot of {}",
                key(index)
            );
            batches.entry(owner.clone()).or_default().push(index);
        }
        let mut replies = vec![String::new(); keys];
        for (owner, indexes) in batches {
            let input: String = indexes.iter().map(|index| command(*index) + "\n").collect();
            let output = self.process(&owner).cli_batch(&input);
            let lines: Vec<&str> = output.lines().collect();
            assert_eq!(
                lines.len(),
                indexes.len(),
                "replies of {owner}: {output:.400}"
            );
            for (index, line) in indexes.iter().zip(lines) {
                replies[*index] = line.to_owned();
            }
        }
        replies
    }
}

fn key(index: usize) -> String {
    format!("key:{index}")
}

fn value(index: usize) -> String {
    format!("value-{index}")
}

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

    // The master's pod is gone (its node was lost).
    fleet.remove(&master);
    let promoted = fleet.converge_replication(2, Some(&master)).await;
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
