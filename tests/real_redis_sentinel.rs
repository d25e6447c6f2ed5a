//! The operator's replication and sentinel planners driving real `redis-server` and
//! `redis-sentinel` processes through the production Redis adapter: the set gets its master and
//! replicas, the sentinels are told what to monitor (monitor and timing settings at runtime),
//! then the master's process is killed; the sentinels fail over on their own, and the operator
//! follows the new master without a command that fights them and without restarting a sentinel.
//!
//! A second test runs one script on the simulator's fake sentinels and on real ones and compares
//! what it records: a master nobody reaches keeps its role through the failover (the
//! split-brain window) and, once back, is turned into a replica of the new master after the
//! wrong-role grace: not sooner, and not never.
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
use redis_operator::ports::redis::{RedisAdmin, RedisCommand, RedisEndpoint, RedisReply};
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

/// One side of the comparison of fake and real sentinels: three servers (node 0 the master, 1
/// and 2 its replicas) and three sentinels, reached through the fake or the production adapter.
enum SentinelSide {
    Fake {
        redis: redis_operator_sim::fakes::redis::FakeRedis,
        now: u64,
        servers: Vec<RedisEndpoint>,
        sentinels: Vec<RedisEndpoint>,
    },
    Real {
        /// Boxed: far larger than the fake's handle.
        fleet: Box<SentinelFleet>,
        servers: Vec<RedisEndpoint>,
        sentinels: Vec<RedisEndpoint>,
    },
}

/// Simulated milliseconds per tick of the fake.
const FAKE_TICK_MILLISECONDS: u64 = 100;
/// Pause between two observations while waiting for something, on both sides.
const POLL_MILLISECONDS: u64 = 250;

impl SentinelSide {
    fn fake() -> SentinelSide {
        use redis_operator_sim::fakes::redis::{FakeRedis, ServerKind};
        let redis = FakeRedis::new();
        // Three endpoints named `{group}-{index}` at `10.0.{subnet}.{index + 1}:{port}`.
        let endpoints = |group: &str, subnet: u32, port: u16| -> Vec<RedisEndpoint> {
            (0..3)
                .map(|index| RedisEndpoint {
                    namespace: "fidelity".to_owned(),
                    pod: format!("{group}-{index}"),
                    host: format!("10.0.{subnet}.{}", index + 1),
                    port,
                    password: None,
                    user: None,
                    tls: None,
                })
                .collect()
        };
        let servers = endpoints("cache", 0, 6379);
        let sentinels = endpoints("cache-sentinel", 1, 26379);
        for (endpoints, kind) in [
            (&servers, ServerKind::Plain),
            (&sentinels, ServerKind::Sentinel),
        ] {
            for endpoint in endpoints {
                redis.start(
                    &endpoint.pod,
                    &endpoint.host,
                    endpoint.port,
                    kind,
                    false,
                    false,
                );
            }
        }
        SentinelSide::Fake {
            redis,
            now: 0,
            servers,
            sentinels,
        }
    }

    fn real() -> SentinelSide {
        let fleet = SentinelFleet::start();
        let servers = fleet
            .servers
            .iter()
            .map(|(_, process)| process.endpoint())
            .collect();
        let sentinels = fleet
            .sentinels
            .iter()
            .map(|(_, process)| process.endpoint())
            .collect();
        SentinelSide::Real {
            fleet: Box::new(fleet),
            servers,
            sentinels,
        }
    }

    fn servers(&self) -> &[RedisEndpoint] {
        match self {
            SentinelSide::Fake { servers, .. } | SentinelSide::Real { servers, .. } => servers,
        }
    }

    fn sentinels(&self) -> &[RedisEndpoint] {
        match self {
            SentinelSide::Fake { sentinels, .. } | SentinelSide::Real { sentinels, .. } => {
                sentinels
            }
        }
    }

    /// Sends `command`, again if the connection failed: real sentinels close the clients of a
    /// server they reconfigure (`CLIENT KILL TYPE normal`), which breaks a pooled connection once.
    async fn send(&self, endpoint: &RedisEndpoint, command: &RedisCommand) -> RedisReply {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let reply = match self {
                SentinelSide::Fake { redis, .. } => redis.answer(endpoint, command),
                SentinelSide::Real { fleet, .. } => fleet.adapter.execute(endpoint, command).await,
            };
            match reply {
                Ok(reply) => return reply,
                Err(error) if attempts >= 3 => panic!("{command:?} to {endpoint}: {error}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Lets `milliseconds` pass: ticks for the fake, a sleep for the real processes.
    async fn pass(&mut self, milliseconds: u64) {
        match self {
            SentinelSide::Fake { redis, now, .. } => {
                let end = *now + milliseconds;
                while *now < end {
                    *now += FAKE_TICK_MILLISECONDS.min(end - *now);
                    redis.tick(*now);
                }
            }
            SentinelSide::Real { .. } => {
                tokio::time::sleep(Duration::from_millis(milliseconds)).await;
            }
        }
    }

    /// Milliseconds since the side started: simulated for the fake, measured for the real side.
    fn now(&self, started: std::time::Instant) -> u64 {
        match self {
            SentinelSide::Fake { now, .. } => *now,
            SentinelSide::Real { .. } => {
                u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
            }
        }
    }

    /// Makes node 0 unreachable to every other server and sentinel (`true`), or reachable again
    /// (`false`): the fake cuts its links both ways; the real process is stopped (SIGSTOP) or
    /// continued (SIGCONT), so that it keeps its state and its role while nobody reaches it.
    fn cut_off_node_0(&self, cut: bool) {
        match self {
            SentinelSide::Fake {
                redis,
                servers,
                sentinels,
                ..
            } => {
                for other in servers[1..].iter().chain(sentinels) {
                    redis.set_partition(&servers[0].host, &other.host, cut);
                }
            }
            SentinelSide::Real { fleet, .. } => {
                let process_id = fleet.servers[0].1.pid().unwrap();
                let signal = if cut { "-STOP" } else { "-CONT" };
                let status = std::process::Command::new("kill")
                    .args([signal, &process_id.to_string()])
                    .status()
                    .unwrap();
                assert!(status.success(), "kill {signal} {process_id}");
            }
        }
    }

    /// The index of the server at `host:port`.
    fn index_of(&self, host: &str, port: u16) -> Option<usize> {
        self.servers()
            .iter()
            .position(|endpoint| endpoint.host == host && endpoint.port == port)
    }

    /// A server's role as the operator reads it: `master`, or `replica of node N`.
    async fn role(&self, node: usize) -> String {
        let reply = self
            .send(&self.servers()[node], &RedisCommand::InfoReplication)
            .await;
        let info = parse_info_replication(reply.as_text().unwrap()).unwrap();
        match info.role {
            ReplicationRole::Master => "master".to_owned(),
            ReplicationRole::Replica => format!(
                "replica of node {:?}",
                self.index_of(
                    info.master_host.as_deref().unwrap_or_default(),
                    info.master_port.unwrap_or_default()
                )
            ),
        }
    }

    /// The master each sentinel names for the group, as a node index.
    async fn sentinel_masters(&self) -> Vec<Option<usize>> {
        let mut masters = Vec::new();
        for sentinel in self.sentinels() {
            let command = RedisCommand::SentinelMasterAddress(GROUP.to_owned());
            let reply = self.send(sentinel, &command).await;
            masters.push(
                parse_master_address(&reply)
                    .unwrap()
                    .and_then(|(host, port)| self.index_of(&host, port)),
            );
        }
        masters
    }

    /// Whether every sentinel monitors the group with two replicas and knows the two others.
    async fn sentinels_know_each_other(&self) -> bool {
        for sentinel in self.sentinels() {
            let reply = self.send(sentinel, &RedisCommand::SentinelMasters).await;
            let masters = parse_sentinel_masters(&reply).unwrap();
            if !masters.iter().any(|master| {
                master.name == GROUP && master.replicas == 2 && master.other_sentinels == 2
            }) {
                return false;
            }
        }
        true
    }
}

/// How long the script waits for the sentinels to set up, or to fail over, before it records that
/// they did not.
const SETTLE_MILLISECONDS: u64 = 30_000;
/// How long after node 0 returns the script waits for the sentinels to convert it.
const CONVERSION_WAIT_MILLISECONDS: u64 = 20_000;
/// Sooner than this after node 0 returns, a conversion would not be Redis' wrong-role grace
/// (`SENTINEL_PUBLISH_PERIOD * 4`, 8 seconds, with slack for the real side's clock).
const EARLIEST_CONVERSION_MILLISECONDS: u64 = 5_000;

/// Node 0 master with replicas 1 and 2, three sentinels monitoring it (quorum 2, down after 1 s);
/// node 0 is cut off from everyone until the sentinels promote a replica, then comes back. What
/// is recorded: that the sentinels set up and failed over to a replica the other replica follows,
/// node 0's role right after it returns (still a master: not demoted while unreachable), whether
/// it was converted to a replica of the new master within the wait and not before the grace, and
/// the roles and the sentinels' master at the end. Returns the transcript and how long after its
/// return node 0 was converted.
async fn former_master_script(side: &mut SentinelSide) -> (Vec<(String, String)>, Option<u64>) {
    let mut transcript = Vec::new();
    let master = side.servers()[0].clone();
    for replica in 1..3 {
        let command = RedisCommand::ReplicaOf {
            host: master.host.clone(),
            port: master.port,
        };
        let endpoint = side.servers()[replica].clone();
        side.send(&endpoint, &command).await;
    }
    for sentinel in side.sentinels().to_vec() {
        let monitor = RedisCommand::SentinelMonitor {
            group: GROUP.to_owned(),
            host: master.host.clone(),
            port: master.port,
            quorum: 2,
        };
        side.send(&sentinel, &monitor).await;
        for (option, value) in [
            ("down-after-milliseconds", "1000"),
            ("failover-timeout", "6000"),
        ] {
            let set = RedisCommand::SentinelSet {
                group: GROUP.to_owned(),
                option: option.to_owned(),
                value: value.to_owned(),
            };
            side.send(&sentinel, &set).await;
        }
    }
    let mut waited = 0;
    while !side.sentinels_know_each_other().await && waited < SETTLE_MILLISECONDS {
        side.pass(POLL_MILLISECONDS).await;
        waited += POLL_MILLISECONDS;
    }
    transcript.push((
        "sentinels know both replicas and each other".to_owned(),
        side.sentinels_know_each_other().await.to_string(),
    ));

    side.cut_off_node_0(true);
    // Node 0 is not asked while cut off: the real process is stopped and would not answer.
    let mut waited = 0;
    let promoted = loop {
        let masters = side.sentinel_masters().await;
        let named = masters.iter().filter(|named| **named == masters[0]).count();
        if let Some(Some(promoted)) = masters.first().copied().filter(|_| named >= 2)
            && promoted != 0
        {
            let other = 3 - promoted;
            if side.role(promoted).await == "master"
                && side.role(other).await == format!("replica of node {:?}", Some(promoted))
            {
                break Some(promoted);
            }
        }
        if waited >= SETTLE_MILLISECONDS {
            break None;
        }
        side.pass(POLL_MILLISECONDS).await;
        waited += POLL_MILLISECONDS;
    };
    transcript.push((
        "the sentinels promoted a replica that the other replica follows".to_owned(),
        promoted.is_some().to_string(),
    ));
    let Some(promoted) = promoted else {
        return (transcript, None);
    };
    println!("the sentinels promoted node {promoted}");

    side.cut_off_node_0(false);
    let started = std::time::Instant::now();
    let returned = side.now(started);
    transcript.push((
        "node 0 right after its return".to_owned(),
        side.role(0).await,
    ));
    let converted_role = format!("replica of node {:?}", Some(promoted));
    let mut converted = None;
    while side.now(started) - returned <= CONVERSION_WAIT_MILLISECONDS {
        if side.role(0).await == converted_role {
            converted = Some(side.now(started) - returned);
            break;
        }
        side.pass(POLL_MILLISECONDS).await;
    }
    transcript.push((
        format!(
            "node 0 converted to a replica of the new master between {EARLIEST_CONVERSION_MILLISECONDS} and {CONVERSION_WAIT_MILLISECONDS} ms after its return"
        ),
        converted
            .is_some_and(|after| after >= EARLIEST_CONVERSION_MILLISECONDS)
            .to_string(),
    ));
    // In the same order on both sides, whichever replica was promoted (real sentinels choose
    // between equally advanced replicas by run id, which is random).
    for (name, node) in [
        ("node 0 (the former master)", 0),
        ("the promoted replica", promoted),
        ("the other replica", 3 - promoted),
    ] {
        let role = side.role(node).await;
        let role = role.replace(&format!("node {:?}", Some(promoted)), "the new master");
        transcript.push((format!("{name} at the end"), role));
    }
    let masters = side.sentinel_masters().await;
    transcript.push((
        "every sentinel names the new master".to_owned(),
        masters
            .iter()
            .all(|named| *named == Some(promoted))
            .to_string(),
    ));
    (transcript, converted)
}

#[tokio::test]
async fn a_former_master_that_returns_after_a_sentinel_failover_is_demoted_as_real_sentinels_do() {
    let mut fake = SentinelSide::fake();
    let (fake_transcript, fake_converted) = former_master_script(&mut fake).await;
    let mut real = SentinelSide::real();
    let (real_transcript, real_converted) = former_master_script(&mut real).await;
    println!(
        "node 0 converted after its return: fake {fake_converted:?} ms (simulated), real {real_converted:?} ms\nreal: {real_transcript:#?}"
    );
    assert_eq!(
        real_transcript
            .iter()
            .map(|(step, _)| step)
            .collect::<Vec<_>>(),
        fake_transcript
            .iter()
            .map(|(step, _)| step)
            .collect::<Vec<_>>(),
        "both sides ran the same steps"
    );
    let differences: Vec<String> = fake_transcript
        .iter()
        .zip(&real_transcript)
        .filter(|((_, fake), (_, real))| fake != real)
        .map(|((step, fake), (_, real))| format!("  {step}\n    fake: {fake}\n    real: {real}"))
        .collect();
    assert!(
        differences.is_empty(),
        "the fake sentinels differ from real ones:\n{}\nfake: {fake_transcript:?}\nreal: {real_transcript:?}",
        differences.join("\n")
    );
    // What both sides agree on is what real sentinels do.
    assert_eq!(
        real_transcript[2].1, "master",
        "a master the sentinels cannot reach keeps its role"
    );
    assert_eq!(real_transcript[3].1, "true", "{real_transcript:?}");
}
