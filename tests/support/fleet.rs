//! Pods of a RedisCluster or RedisReplication as real `redis-server` processes on 127.0.0.1, with
//! the operator's observe, planners and executor run against them in rounds: the cluster and
//! replication tests and the rebalance comparison drive the operator through this fleet.

#![allow(dead_code)] // each test binary uses part of the fleet

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use redis_operator::adapters::RedisAdapter;
use redis_operator::ports::clock::{Clock, SystemClock};
use redis_operator::ports::redis::RedisEndpoint;
use redis_operator::reconcile::execute::execute;
use redis_operator::reconcile::observe::read_server;
use redis_operator::reconcile::{Context, Request};
use redis_operator::topology::cluster::{ClusterInput, ClusterPhase, plan_cluster};
use redis_operator::topology::observation::{PodInfo, ServerView};
use redis_operator::topology::replication::{ReplicationInput, plan_replication};
use redis_operator::topology::replies::parse_cluster_nodes;
use redis_operator_sim::fakes::redis::key_slot;

use super::real_redis::{RedisProcess, SecretStore, ServerOptions};

/// Rounds of observe, plan and execute before a test gives up.
pub const MAXIMUM_ROUNDS: usize = 600;
/// Pause between rounds, for gossip and replication to move.
pub const ROUND_PAUSE: Duration = Duration::from_millis(100);

/// Pods as processes, by pod name, with the adapter and executor the operator would use.
pub struct Fleet {
    /// The pods, by name, with their processes.
    pub pods: BTreeMap<String, (PodInfo, RedisProcess)>,
    /// Pods whose node was lost: still there, not ready for long, at an address where nothing
    /// answers any more.
    lost: BTreeMap<String, (PodInfo, RedisEndpoint)>,
    adapter: Arc<RedisAdapter>,
    context: Context,
    options: ServerOptions,
    /// Every slot move the cluster planner asked for and the executor carried out:
    /// (slot, source pod, target pod).
    pub slot_moves: Vec<(u16, String, String)>,
}

impl Fleet {
    pub fn new(options: ServerOptions) -> Fleet {
        let store = SecretStore::new();
        let adapter = Arc::new(RedisAdapter::new(store.clone()));
        let context = Context {
            kube: store,
            redis: adapter.clone(),
            clock: Arc::new(SystemClock),
            designs: Arc::default(),
            cluster_tables: Arc::default(),
        };
        Fleet {
            pods: BTreeMap::new(),
            lost: BTreeMap::new(),
            adapter,
            context,
            options,
            slot_moves: Vec::new(),
        }
    }

    /// Starts the pod `group-ordinal` (a StatefulSet creating it).
    pub fn start(&mut self, group: &str, ordinal: u32) {
        let name = format!("{group}-{ordinal}");
        let process = RedisProcess::start(&name, self.options.clone());
        let pod = PodInfo::ready(group, ordinal, "127.0.0.1", Some("loopback".to_owned()));
        self.pods.insert(name, (pod, process));
    }

    /// The pod is removed by a scale-in (its process is killed with it).
    pub fn scale_in(&mut self, name: &str) {
        if let Some((_, process)) = self.pods.remove(name) {
            self.adapter.forget(&process.endpoint());
        }
    }

    /// The pod's node is lost: its process is killed, and the pod stays, not ready since long
    /// before the grace period, as Kubernetes keeps it until the node is evicted.
    pub fn lose_node(&mut self, name: &str) {
        if let Some((mut pod, process)) = self.pods.remove(name) {
            let endpoint = process.endpoint();
            self.adapter.forget(&endpoint);
            drop(process);
            pod.ready = false;
            pod.ready_since = Some("1970-01-01T00:00:00Z".to_owned());
            self.lost.insert(name.to_owned(), (pod, endpoint));
        }
    }

    pub fn process(&self, name: &str) -> &RedisProcess {
        &self.pods[name].1
    }

    /// What observe would see of every pod.
    pub async fn observe(&self, cluster: bool) -> Vec<ServerView> {
        let mut views = Vec::new();
        for (pod, process) in self.pods.values() {
            let view = ServerView {
                pod: pod.clone(),
                endpoint: process.endpoint(),
                replication: None,
                cluster_nodes: None,
                keys: None,
                cluster_state_ok: None,
                error: None,
            };
            views.push(read_server(&self.context, view, cluster).await);
        }
        for (pod, endpoint) in self.lost.values() {
            views.push(ServerView {
                pod: pod.clone(),
                endpoint: endpoint.clone(),
                replication: None,
                cluster_nodes: None,
                keys: None,
                cluster_state_ok: None,
                error: Some("connection refused: the pod's node is lost".to_owned()),
            });
        }
        views
    }

    pub fn group_size(&self, group: &str) -> i32 {
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
    pub async fn converge_cluster(&mut self, leaders: &str, followers: &str, shards: u32) -> usize {
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
                leaders_keep_data_across_restarts: false,
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
                    self.scale_in(&name);
                    removed = true;
                }
            }
            let requests: Vec<Request> = plan.steps.into_iter().map(Request::from).collect();
            if requests.is_empty() && plan.phase == ClusterPhase::Ready && !removed {
                return round;
            }
            let report = execute(&self.context, requests).await;
            for request in &report.completed {
                if let Request::MoveSlotKeys {
                    source,
                    target,
                    slot,
                } = request
                {
                    self.slot_moves
                        .push((*slot, source.pod.clone(), target.pod.clone()));
                }
            }
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
    pub async fn converge_replication(
        &mut self,
        size: i32,
        previous_master: Option<&str>,
    ) -> String {
        let mut last_blocked = None;
        for _ in 0..MAXIMUM_ROUNDS {
            let views = self.observe(false).await;
            let plan = plan_replication(ReplicationInput {
                servers: &views,
                size,
                statefulset_replicas: None,
                managed_by_sentinel: false,
                sentinel_master: None,
                previous_master,
                now: SystemClock.now(),
                target_revision: None,
                failover_sentinel: None,
                // The harness's servers keep no data across a restart.
                data_survives_restart: false,
            });
            // The harness never recreates a removed pod, so a set missing pods counts as
            // converged once nothing is left to send and nothing blocks.
            if plan.commands.is_empty()
                && plan.blocked.is_none()
                && let Some(master) = plan.master
            {
                return master;
            }
            last_blocked = plan.blocked.as_ref().map(ToString::to_string);
            let requests = plan
                .commands
                .into_iter()
                .map(|(endpoint, command)| Request::Redis {
                    endpoint: Arc::new(endpoint),
                    command,
                })
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
    pub fn slot_owners(&self, asked: &str) -> Vec<String> {
        let text = self.process(asked).cli(&["CLUSTER", "NODES"]);
        let nodes = parse_cluster_nodes(&text).unwrap();
        let mut owners = vec![String::new(); 16384];
        for node in nodes
            .iter()
            .filter(|node| node.is_master() && !node.slots.is_empty())
        {
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
    pub fn by_owner(
        &self,
        asked: &str,
        keys: usize,
        command: impl Fn(usize) -> String,
    ) -> Vec<String> {
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

/// The test key of `index`.
pub fn key(index: usize) -> String {
    format!("key:{index}")
}

/// The test value of `index`.
pub fn value(index: usize) -> String {
    format!("value-{index}")
}
