//! The operator's replication and sentinel planners driving real `redis-server` and
//! `redis-sentinel` processes through the production Redis adapter: the set gets its master and
//! replicas, the sentinels are told what to monitor (monitor and timing settings at runtime),
//! then the master's process is killed; the sentinels fail over on their own, and the operator
//! follows the new master without a command that fights them and without restarting a sentinel.
//!
//! Each server listens on its own loopback address (127.0.0.2, .3, .4) on one shared port, as
//! pods with their own IPs do, because the sentinel planner tells the sentinels `pod IP:port`.
//! The sentinels listen on 127.0.0.1, each on its own port. Needs the Debian packages
//! redis-server, redis-sentinel and redis-tools (`scripts/test-all` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use redis_operator::adapters::RedisAdapter;
use redis_operator::api::validation::SentinelMonitorSettings;
use redis_operator::ports::clock::{Clock, SystemClock};
use redis_operator::ports::redis::{RedisAdmin, RedisCommand, RedisEndpoint};
use redis_operator::reconcile::execute::execute;
use redis_operator::reconcile::{Context, Request};
use redis_operator::topology::observation::{PodInfo, SentinelView, ServerView};
use redis_operator::topology::replication::{
    DEFAULT_REPLICA_PRIORITY, REPLICA_PRIORITY_PARAMETER, ReplicationInput, plan_replication,
};
use redis_operator::topology::replies::{
    ReplicationRole, parse_info_replication, parse_master_address, parse_sentinel_masters,
};
use redis_operator::topology::sentinel::{SentinelInput, plan_sentinels};
use support::real_redis::{
    RedisProcess, SecretStore, ServerOptions, free_port_on, observe_server, pod_info, wait_until,
};

/// The loopback addresses of the three servers (their pod IPs).
const SERVER_HOSTS: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
/// The group name the sentinels know the master by.
const GROUP: &str = "cache-master";
/// Keys written, and acknowledged by both replicas, before the master is killed.
const KEYS: usize = 500;
/// Rounds of observe, plan and execute before the test gives up.
const MAXIMUM_ROUNDS: usize = 300;
/// Pause between rounds.
const ROUND_PAUSE: Duration = Duration::from_millis(100);

/// A replication set and its sentinels as processes, with the adapter the operator would use.
struct SentinelFleet {
    servers: Vec<(PodInfo, RedisProcess)>,
    sentinels: Vec<(PodInfo, RedisProcess)>,
    adapter: Arc<RedisAdapter>,
    context: Context,
    settings: SentinelMonitorSettings,
    /// Every command the operator sent, in order, with the round it was planned in.
    sent: Vec<(usize, RedisEndpoint, RedisCommand)>,
}

/// What one round of the two planners decided.
struct Round {
    replication_converged: bool,
    sentinels_converged: bool,
    master: Option<String>,
    sentinel_master: Option<(String, u16)>,
    blocked: Option<String>,
}

impl SentinelFleet {
    fn start() -> SentinelFleet {
        let port = free_port_on(&SERVER_HOSTS);
        let servers = SERVER_HOSTS
            .iter()
            .zip(0..)
            .map(|(host, ordinal)| {
                let pod = pod_info("cache", ordinal, host);
                let process = RedisProcess::start_at(&pod.name, ServerOptions::plain(), host, port);
                (pod, process)
            })
            .collect();
        let sentinels = (0..3)
            .map(|ordinal| {
                let pod = pod_info("cache-sentinel", ordinal, "127.0.0.1");
                let process = RedisProcess::start(&pod.name, ServerOptions::plain().sentinel());
                (pod, process)
            })
            .collect();
        let store = SecretStore::new();
        let adapter = Arc::new(RedisAdapter::new(store.clone()));
        let context = Context {
            kube: store,
            redis: adapter.clone(),
            clock: Arc::new(SystemClock),
            designs: Arc::default(),
            cluster_tables: Arc::default(),
        };
        SentinelFleet {
            servers,
            sentinels,
            adapter,
            context,
            // Short timings so that a failover takes seconds; the planner sets them with
            // SENTINEL SET, as it does for the values of a CR.
            settings: SentinelMonitorSettings {
                replication_name: "cache".to_owned(),
                master_group_name: GROUP.to_owned(),
                redis_port: port,
                quorum: 2,
                parallel_syncs: 1,
                failover_timeout_milliseconds: 6000,
                down_after_milliseconds: 1000,
                auth_password: None,
            },
            sent: Vec::new(),
        }
    }

    fn server(&self, name: &str) -> &RedisProcess {
        &self
            .servers
            .iter()
            .find(|(pod, _)| pod.name == name)
            .unwrap()
            .1
    }

    fn server_mut(&mut self, name: &str) -> &mut RedisProcess {
        &mut self
            .servers
            .iter_mut()
            .find(|(pod, _)| pod.name == name)
            .unwrap()
            .1
    }

    async fn observe_servers(&self) -> Vec<ServerView> {
        let mut views = Vec::new();
        for (pod, process) in &self.servers {
            let mut pod = pod.clone();
            pod.ready = process.pid().is_some();
            views.push(observe_server(self.adapter.as_ref(), pod, process.endpoint(), false).await);
        }
        views
    }

    async fn observe_sentinels(&self) -> Vec<SentinelView> {
        let mut views = Vec::new();
        for (pod, process) in &self.sentinels {
            let endpoint = process.endpoint();
            let (masters, error) = match self
                .adapter
                .execute(&endpoint, &RedisCommand::SentinelMasters)
                .await
            {
                Ok(reply) => match parse_sentinel_masters(&reply) {
                    Ok(masters) => (Some(masters), None),
                    Err(error) => (None, Some(error.to_string())),
                },
                Err(error) => (None, Some(error.to_string())),
            };
            views.push(SentinelView {
                pod: pod.clone(),
                endpoint,
                masters,
                error,
            });
        }
        views
    }

    /// The master address most sentinels report, as the operator's observe step computes it for
    /// a RedisReplication that a RedisSentinel manages.
    async fn sentinel_master(&self) -> Option<(String, u16)> {
        let mut votes: BTreeMap<(String, u16), usize> = BTreeMap::new();
        for (_, process) in &self.sentinels {
            let command = RedisCommand::SentinelMasterAddress(GROUP.to_owned());
            if let Ok(reply) = self.adapter.execute(&process.endpoint(), &command).await
                && let Ok(Some(address)) = parse_master_address(&reply)
            {
                *votes.entry(address).or_default() += 1;
            }
        }
        votes
            .into_iter()
            .filter(|(_, count)| count * 2 > self.sentinels.len())
            .max_by_key(|(_, count)| *count)
            .map(|(address, _)| address)
    }

    /// One reconcile of the RedisReplication (managed by sentinels) and one of the RedisSentinel:
    /// observe, plan, execute.
    async fn round(&mut self, round: usize) -> Round {
        let servers = self.observe_servers().await;
        let sentinel_master = self.sentinel_master().await;
        let replication = plan_replication(ReplicationInput {
            servers: &servers,
            size: 3,
            statefulset_replicas: None,
            managed_by_sentinel: true,
            sentinel_master: sentinel_master
                .as_ref()
                .map(|(host, port)| (host.as_str(), *port)),
            previous_master: None,
            now: SystemClock.now(),
            target_revision: None,
            failover_sentinel: None,
            data_survives_restart: false,
        });
        let sentinel_views = self.observe_sentinels().await;
        let sentinels = plan_sentinels(SentinelInput {
            sentinels: &sentinel_views,
            monitor: &self.settings,
            replication: &servers,
            size: 3,
        });
        let commands: Vec<(RedisEndpoint, RedisCommand)> = replication
            .commands
            .into_iter()
            .chain(sentinels.commands)
            .collect();
        self.sent.extend(
            commands
                .iter()
                .map(|(endpoint, command)| (round, endpoint.clone(), command.clone())),
        );
        let requests = commands
            .into_iter()
            .map(|(endpoint, command)| Request::Redis {
                endpoint: Arc::new(endpoint),
                command,
            })
            .collect();
        let report = execute(&self.context, requests).await;
        let blocked = report
            .failure
            .map(|(request, error)| format!("{request:?}: {error}"))
            .or(replication.blocked.map(|blocked| blocked.to_string()))
            .or(sentinels.blocked.map(|blocked| blocked.to_string()));
        Round {
            replication_converged: replication.converged,
            sentinels_converged: sentinels.converged,
            master: replication.master,
            sentinel_master,
            blocked,
        }
    }

    /// Runs rounds until both planners are converged with nothing to send and `also` holds;
    /// returns the master pod and the round it converged in.
    async fn converge(
        &mut self,
        first_round: usize,
        what: &str,
        also: impl Fn(&SentinelFleet, &[SentinelView]) -> bool,
    ) -> (String, usize) {
        let mut last = String::new();
        for round in first_round..first_round + MAXIMUM_ROUNDS {
            let before = self.sent.len();
            let decided = self.round(round).await;
            let quiet = self.sent.len() == before;
            if decided.replication_converged && decided.sentinels_converged && quiet {
                let views = self.observe_sentinels().await;
                if also(self, &views) {
                    return (decided.master.unwrap(), round);
                }
            }
            last = format!(
                "replication converged {}, sentinels converged {}, sentinels' master {:?}, blocked {:?}",
                decided.replication_converged,
                decided.sentinels_converged,
                decided.sentinel_master,
                decided.blocked
            );
            tokio::time::sleep(ROUND_PAUSE).await;
        }
        panic!("{what} did not happen in {MAXIMUM_ROUNDS} rounds; last: {last}");
    }

    /// `run_id` and `process_id` of every sentinel, from INFO server.
    fn sentinel_identities(&self) -> Vec<(String, String, Option<u32>)> {
        self.sentinels
            .iter()
            .map(|(_, process)| {
                (
                    process.info_field("server", "run_id").unwrap(),
                    process.info_field("server", "process_id").unwrap(),
                    process.pid(),
                )
            })
            .collect()
    }
}

/// Every sentinel monitors the group with two replicas and knows the two other sentinels: they
/// can agree the master is down and elect a leader.
fn sentinels_know_each_other(_: &SentinelFleet, views: &[SentinelView]) -> bool {
    views.iter().all(|view| {
        view.masters.as_ref().is_some_and(|masters| {
            masters.iter().any(|master| {
                master.name == GROUP && master.replicas == 2 && master.other_sentinels == 2
            })
        })
    })
}

fn key(index: usize) -> String {
    format!("key:{index}")
}

fn value(index: usize) -> String {
    format!("value-{index}")
}

#[tokio::test]
async fn sentinels_fail_over_a_killed_master_and_the_operator_follows() {
    let mut fleet = SentinelFleet::start();
    let (master, round) = fleet
        .converge(
            0,
            "set-up of the set and its sentinels",
            sentinels_know_each_other,
        )
        .await;
    assert_eq!(master, "cache-0", "the lowest ordinal among empty masters");
    let applied: Vec<&RedisCommand> = fleet.sent.iter().map(|(_, _, command)| command).collect();
    assert!(
        applied.iter().any(|command| matches!(
            command,
            RedisCommand::SentinelSet { option, value, .. }
                if option == "down-after-milliseconds" && value == "1000"
        )),
        "the planner set the CR's timings at runtime: {applied:?}"
    );
    let views = fleet.observe_sentinels().await;
    for view in &views {
        let monitored = view.masters.as_ref().unwrap();
        assert_eq!(monitored.len(), 1);
        assert_eq!(
            (monitored[0].ip.as_str(), monitored[0].port),
            (SERVER_HOSTS[0], fleet.settings.redis_port)
        );
        assert_eq!(monitored[0].down_after_milliseconds, 1000);
        assert_eq!(monitored[0].failover_timeout, 6000);
    }

    // Writes the replicas acknowledged (WAIT) before the master dies.
    let writes: String = (0..KEYS)
        .map(|index| format!("SET {} {}\n", key(index), value(index)))
        .chain(std::iter::once("WAIT 2 5000\n".to_owned()))
        .collect();
    let output = fleet.server(&master).cli_batch(&writes);
    assert_eq!(
        output.lines().last(),
        Some("2"),
        "both replicas acknowledged every write"
    );
    let identities = fleet.sentinel_identities();

    let killed_at = fleet.sent.len();
    let killed = std::time::Instant::now();
    fleet.server_mut(&master).kill();
    let old_address = (SERVER_HOSTS[0].to_owned(), fleet.settings.redis_port);

    // The sentinels fail over on their own; the operator's rounds meanwhile wait, then follow.
    let mut round = round + 1;
    let promoted = loop {
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "the sentinels did not fail over within a minute; sent since the kill: {:?}",
            &fleet.sent[killed_at..]
        );
        let before = fleet.sent.len();
        let decided = fleet.round(round).await;
        round += 1;
        if let (Some(address), Some(master), true) = (
            decided.sentinel_master.as_ref(),
            decided.master.as_ref(),
            fleet.sent.len() == before,
        ) && *address != old_address
        {
            let survivors: Vec<&RedisProcess> = fleet
                .servers
                .iter()
                .filter(|(pod, _)| pod.name != *master && pod.name != "cache-0")
                .map(|(_, process)| process)
                .collect();
            let follows = survivors.iter().all(|process| {
                let info = parse_info_replication(&process.cli(&["INFO", "replication"])).unwrap();
                info.role == ReplicationRole::Replica
                    && info.master_host.as_deref() == Some(address.0.as_str())
                    && info.master_link_up
            });
            if follows {
                break master.clone();
            }
        }
        tokio::time::sleep(ROUND_PAUSE).await;
    };
    println!(
        "failover to {promoted} followed by the operator {:?} after the kill",
        killed.elapsed()
    );
    assert_ne!(promoted, master);

    // The kubelet restarts the killed container: it comes back empty (no persistence) as a
    // master; the sentinels and the operator agree it must replicate from the new master.
    fleet.server_mut(&master).restart();
    let (settled, _) = fleet
        .converge(
            round,
            "the old master rejoining as a replica",
            |fleet, views| {
                sentinels_know_each_other(fleet, views)
                    && views.iter().all(|view| {
                        view.masters.as_ref().is_some_and(|masters| {
                            masters.iter().all(|monitored| {
                                (monitored.ip.clone(), monitored.port) != old_address
                            })
                        })
                    })
            },
        )
        .await;
    assert_eq!(settled, promoted);

    // Nothing the operator sent since the kill fought the sentinels: no promotion of its own, no
    // sentinel told to monitor something else, and every REPLICAOF named the sentinels' master.
    let new_host = fleet.server(&promoted).host.clone();
    let since_kill = &fleet.sent[killed_at..];
    for (round, endpoint, command) in since_kill {
        let fights = match command {
            RedisCommand::ReplicaOf { host, port } => {
                *host != new_host || *port != fleet.settings.redis_port
            }
            RedisCommand::SentinelSet { .. } => false,
            // The returning server is held from promotion until it has synced, then released.
            RedisCommand::ConfigSet { parameter, .. } => parameter != REPLICA_PRIORITY_PARAMETER,
            _ => true,
        };
        assert!(
            !fights,
            "round {round}: {command:?} to {endpoint} fights the sentinels' failover; all since the kill: {since_kill:?}"
        );
    }
    assert_eq!(
        fleet.sentinel_identities(),
        identities,
        "no sentinel was restarted"
    );
    // Every replica, the returning one included, is promotable again.
    for (pod, process) in &fleet.servers {
        let info = parse_info_replication(&process.cli(&["INFO", "replication"])).unwrap();
        if info.role == ReplicationRole::Replica {
            assert_eq!(
                info.replica_priority,
                Some(DEFAULT_REPLICA_PRIORITY),
                "{}",
                pod.name
            );
        }
    }

    // Every acknowledged write is on the new master and on both of its replicas.
    let reads: String = (0..KEYS)
        .map(|index| format!("GET {}\n", key(index)))
        .collect();
    for (pod, process) in &fleet.servers {
        wait_until(
            &format!("{} holds {KEYS} keys", pod.name),
            Duration::from_secs(15),
            || process.cli(&["DBSIZE"]).trim() == KEYS.to_string(),
        );
        let output = process.cli_batch(&reads);
        let replies: Vec<&str> = output.lines().collect();
        let wrong: Vec<usize> = (0..KEYS)
            .filter(|index| replies.get(*index) != Some(&value(*index).as_str()))
            .collect();
        assert!(
            wrong.is_empty(),
            "{}: {} keys unreadable, first {}",
            pod.name,
            wrong.len(),
            key(wrong[0])
        );
    }
}
