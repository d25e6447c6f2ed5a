//! Fidelity of the simulator's fake Redis: the same scripted command sequences run against the
//! fake (`redis_operator_sim::fakes::redis::FakeRedis`) and against real `redis-server` processes
//! (through the production adapter), and what the operator would observe is compared: roles and
//! master links from INFO replication, replicas in sync and offsets advancing after writes,
//! CLUSTER NODES slot ownership, flags and migration markers, CLUSTER INFO state and counts, key
//! counts (DBSIZE, COUNTKEYSINSLOT, GETKEYSINSLOT), and the replies and error lines of rejected
//! commands. Two scripts compare time: a full resync's phases and duration (the diskless delay,
//! the link down, old keys served), and what a server loading its data files answers.
//!
//! What legitimately differs is normalised away: node ids, addresses and ports become node
//! indexes; epochs, ping times and replication ids are compared
//! only by which nodes share one (a history, or the one a promoted node continues). Everything else must match,
//! except the differences `docs/simulator.md` lists as known limits, which the test asserts as
//! they are so that a change in either side is noticed. Needs the Debian packages redis-server
//! and redis-tools (`scripts/test-all` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_operator::adapters::RedisAdapter;
use redis_operator::ports::redis::{
    FailoverMode, RedisAdmin, RedisCommand, RedisEndpoint, RedisError, RedisReply, SlotState,
};
use redis_operator::topology::replication::REPLICA_PRIORITY_PARAMETER;
use redis_operator::topology::replies::info_keyspace::parse_keyspace_keys;
use redis_operator::topology::replies::{
    ClusterInfo, MasterLinkDown, ReplicationRole, parse_cluster_info, parse_cluster_nodes,
    parse_info_replication,
};
use redis_operator_sim::fakes::redis::{
    ClientConnection, ClientError, FakeRedis, ServerKind, StopCause, key_slot,
};
use support::real_redis::{RedisProcess, SecretStore, ServerOptions, free_port};

/// How long the real servers may take to reach a checkpoint's state (gossip, replication).
const REAL_SETTLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Simulated milliseconds per tick of the fake, and ticks before a checkpoint gives up.
const FAKE_TICK_MILLISECONDS: u64 = 100;
const FAKE_SETTLE_TICKS: u64 = 600;

/// One node's line of CLUSTER NODES, with ids and addresses replaced by node indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LineFacts {
    node: usize,
    myself: bool,
    master: bool,
    replica: bool,
    master_of: Option<usize>,
    possibly_failed: bool,
    failed: bool,
    handshake: bool,
    no_address: bool,
    connected: bool,
    /// Another node's line holds the address that node answers at now (false for `myself`).
    at_current_address: bool,
    slots: Vec<(u16, u16)>,
    migrating: Vec<(u16, usize)>,
    importing: Vec<(u16, usize)>,
}

/// CLUSTER INFO without the epochs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct InfoFacts {
    state_ok: bool,
    slots_assigned: u32,
    slots_ok: u32,
    slots_possibly_failed: u32,
    slots_failed: u32,
    known_nodes: u32,
    size: u32,
}

impl From<ClusterInfo> for InfoFacts {
    fn from(info: ClusterInfo) -> InfoFacts {
        InfoFacts {
            // A real node reports the cluster_size it starts with (1) until its first state
            // update after the cluster has slots: only meaningful once slots are assigned.
            state_ok: info.state_ok,
            slots_assigned: info.slots_assigned,
            slots_ok: info.slots_ok,
            slots_possibly_failed: info.slots_possibly_failed,
            slots_failed: info.slots_failed,
            known_nodes: info.known_nodes,
            size: if info.slots_assigned == 0 {
                0
            } else {
                info.size
            },
        }
    }
}

/// What the operator observes of one node, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
struct NodeFacts {
    role: ReplicationRole,
    master: Option<usize>,
    link_up: bool,
    /// `master_link_down_since_seconds:-1`: a replica that has not completed a sync since it
    /// started or was pointed at its master.
    never_synced: bool,
    replicas: Vec<usize>,
    /// A replica's offset equals its master's; true for masters.
    in_sync: bool,
    keys: u64,
    /// `slave_priority`, printed by replicas.
    priority: Option<u32>,
    /// The other nodes on the same replication history (`master_replid`), and those whose
    /// history this one continues (its `master_replid2` is their `master_replid`): the ids
    /// themselves differ between the sides, their relations must not.
    same_history: Vec<usize>,
    continues: Vec<usize>,
    cluster: Option<Vec<LineFacts>>,
    cluster_info: Option<Result<InfoFacts, String>>,
}

impl NodeFacts {
    /// What is observed of a killed node: nothing answers.
    fn down() -> NodeFacts {
        NodeFacts {
            role: ReplicationRole::Master,
            master: None,
            link_up: false,
            never_synced: false,
            replicas: Vec::new(),
            in_sync: false,
            keys: 0,
            priority: None,
            same_history: Vec::new(),
            continues: Vec::new(),
            cluster: None,
            cluster_info: None,
        }
    }
}

/// Fake or real servers, reached through the `RedisAdmin` the operator would use.
enum Side {
    Fake {
        redis: FakeRedis,
        now: u64,
    },
    Real {
        processes: Vec<RedisProcess>,
        adapter: Arc<RedisAdapter>,
    },
}

/// A client's own connection to one server, kept across steps so that SELECT holds.
enum Client {
    Fake(ClientConnection),
    Real(redis::aio::MultiplexedConnection),
}

/// One side of the comparison: its servers, their endpoints, and their cluster node ids.
struct Bench {
    side: Side,
    endpoints: Vec<RedisEndpoint>,
    ids: Vec<String>,
    cluster: bool,
    /// What the script observed, by step: the transcript compared between the sides.
    transcript: Vec<(String, String)>,
    /// Replication offsets at the last checkpoint, by node.
    offsets: Vec<u64>,
    /// Nodes whose server was killed and not started again: observed as down.
    killed: Vec<bool>,
    /// How many times a node was moved to a new address (each move takes a fresh one).
    moves: usize,
    /// Each node's client connection, opened by its first client command.
    clients: BTreeMap<usize, Client>,
}

impl Bench {
    fn fake(count: usize, cluster: bool) -> Bench {
        let redis = FakeRedis::new();
        let kind = if cluster {
            ServerKind::Cluster
        } else {
            ServerKind::Plain
        };
        let endpoints: Vec<RedisEndpoint> = (0..count)
            .map(|index| RedisEndpoint {
                namespace: "fidelity".to_owned(),
                pod: format!("node-{index}"),
                host: format!("10.0.0.{}", index + 1),
                port: 6379,
                password: None,
                user: None,
                tls: None,
            })
            .collect();
        for endpoint in &endpoints {
            redis.start(
                &endpoint.pod,
                &endpoint.host,
                endpoint.port,
                kind,
                false,
                false,
            );
        }
        Bench::with(Side::Fake { redis, now: 0 }, endpoints, cluster)
    }

    fn real(count: usize, cluster: bool) -> Bench {
        let options = if cluster {
            ServerOptions::plain().cluster()
        } else {
            ServerOptions::plain()
        };
        let processes: Vec<RedisProcess> = (0..count)
            .map(|index| RedisProcess::start(&format!("node-{index}"), options.clone()))
            .collect();
        let endpoints = processes.iter().map(RedisProcess::endpoint).collect();
        let adapter = Arc::new(RedisAdapter::new(SecretStore::new()));
        Bench::with(Side::Real { processes, adapter }, endpoints, cluster)
    }

    fn with(side: Side, endpoints: Vec<RedisEndpoint>, cluster: bool) -> Bench {
        let count = endpoints.len();
        Bench {
            side,
            endpoints,
            ids: Vec::new(),
            cluster,
            transcript: Vec::new(),
            offsets: vec![0; count],
            killed: vec![false; count],
            moves: 0,
            clients: BTreeMap::new(),
        }
    }

    fn admin(&self) -> &dyn RedisAdmin {
        match &self.side {
            Side::Fake { redis, .. } => redis,
            Side::Real { adapter, .. } => adapter.as_ref(),
        }
    }

    async fn send(&self, node: usize, command: &RedisCommand) -> Result<RedisReply, RedisError> {
        self.admin().execute(&self.endpoints[node], command).await
    }

    /// Sends a command and records its reply (or error line) in the transcript.
    async fn step(&mut self, label: &str, node: usize, command: RedisCommand) {
        let outcome = match self.send(node, &command).await {
            // The order of GETKEYSINSLOT is unspecified (real Redis lists the newest key
            // first, the fake in key order): compared as a set.
            Ok(RedisReply::Array(mut keys))
                if matches!(command, RedisCommand::ClusterGetKeysInSlot { .. }) =>
            {
                keys.sort_by_key(|key| key.as_text().map(str::to_owned));
                format!("reply {:?}", RedisReply::Array(keys))
            }
            Ok(reply) => format!("reply {}", self.normalise(&format!("{reply:?}"))),
            Err(RedisError::Rejected { message, .. }) => {
                format!("rejected {}", self.normalise(&message))
            }
            Err(error) => format!("failed {error}"),
        };
        self.transcript
            .push((format!("{label} (node {node})"), outcome));
    }

    /// A client sends `line` (arguments separated by spaces) to `node` over its own connection
    /// and the reply or error line goes in the transcript. HGETALL and SMEMBERS list in an
    /// unspecified order (real Redis by insertion while small, the fake by field or member):
    /// compared as sorted pairs and members.
    async fn client(&mut self, node: usize, line: &str) {
        let arguments: Vec<&str> = line.split(' ').collect();
        let endpoint = self.endpoints[node].clone();
        let outcome = match (&self.side, self.clients.entry(node)) {
            (Side::Fake { redis, .. }, entry) => {
                let Client::Fake(connection) =
                    entry.or_insert_with(|| Client::Fake(ClientConnection::new(&endpoint.host)))
                else {
                    unreachable!("a fake bench opens fake connections")
                };
                match redis.client_command(connection, &arguments) {
                    Ok(reply) => Ok(reply),
                    Err(ClientError::Refused(message)) => Err(message),
                    Err(ClientError::Unreachable) => Err("unreachable".to_owned()),
                }
            }
            (Side::Real { .. }, entry) => {
                let client = match entry {
                    std::collections::btree_map::Entry::Occupied(client) => client.into_mut(),
                    std::collections::btree_map::Entry::Vacant(vacant) => {
                        let url = format!("redis://{}:{}/", endpoint.host, endpoint.port);
                        let connection = redis::Client::open(url)
                            .unwrap()
                            .get_multiplexed_async_connection()
                            .await
                            .unwrap();
                        vacant.insert(Client::Real(connection))
                    }
                };
                let Client::Real(connection) = client else {
                    unreachable!("a real bench opens real connections")
                };
                let mut command = redis::cmd(arguments[0]);
                for argument in &arguments[1..] {
                    command.arg(*argument);
                }
                match command.query_async::<redis::Value>(connection).await {
                    Ok(value) => Ok(reply_of(value)),
                    Err(error) => Err(match (error.code(), error.detail()) {
                        (Some(code), Some(detail)) => format!("{code} {detail}"),
                        (Some(code), None) => code.to_owned(),
                        _ => error.to_string(),
                    }),
                }
            }
        };
        let sorted = |mut items: Vec<RedisReply>, pairs: bool| {
            let text = |item: &RedisReply| item.as_text().unwrap_or_default().to_owned();
            if pairs {
                let mut pairs: Vec<(String, String)> = items
                    .chunks(2)
                    .map(|pair| (text(&pair[0]), pair.get(1).map(text).unwrap_or_default()))
                    .collect();
                pairs.sort();
                format!("pairs {pairs:?}")
            } else {
                items.sort_by_key(text);
                format!("reply {:?}", RedisReply::Array(items))
            }
        };
        let name = arguments[0].to_ascii_uppercase();
        let outcome = match outcome {
            Ok(RedisReply::Array(items)) if name == "HGETALL" || name == "SMEMBERS" => {
                sorted(items, name == "HGETALL")
            }
            Ok(reply) => format!("reply {reply:?}"),
            Err(message) => format!("error {message}"),
        };
        self.transcript
            .push((format!("client: {line} (node {node})"), outcome));
    }

    /// Restarts a node's server without its data or its cluster state: it comes back under a new
    /// node id (not in `ids`, so shown as an unknown node), knowing no peer.
    fn restart_afresh(&mut self, node: usize) {
        let endpoint = self.endpoints[node].clone();
        match &mut self.side {
            Side::Fake { redis, .. } => {
                redis.stop(&endpoint.host, StopCause::Fault);
                redis.start(
                    &endpoint.pod,
                    &endpoint.host,
                    endpoint.port,
                    ServerKind::Cluster,
                    false,
                    false,
                );
            }
            Side::Real { processes, .. } => processes[node].restart_without_cluster_state(),
        }
        self.killed[node] = false;
    }

    /// Starts a node's server again with its files (its data and `nodes.conf`) at a new address,
    /// as a pod rescheduled with its volume: the fake at another IP, the real one on another port.
    fn move_to_new_address(&mut self, node: usize) {
        self.moves += 1;
        let old = self.endpoints[node].clone();
        match &mut self.side {
            Side::Fake { redis, .. } => {
                let host = format!("10.0.{}.{}", self.moves, node + 1);
                redis.stop(&old.host, StopCause::Fault);
                redis.start(&old.pod, &host, old.port, ServerKind::Cluster, true, true);
                self.endpoints[node].host = host;
            }
            Side::Real { processes, .. } => {
                processes[node].restart_on_port(free_port());
                self.endpoints[node] = processes[node].endpoint();
            }
        }
        self.killed[node] = false;
    }

    /// Kills a node's server, as a crash or a deleted pod would, and leaves it down.
    fn kill(&mut self, node: usize) {
        let host = self.endpoints[node].host.clone();
        match &mut self.side {
            Side::Fake { redis, .. } => redis.stop(&host, StopCause::Fault),
            Side::Real { processes, .. } => processes[node].kill(),
        }
        self.killed[node] = true;
    }

    /// Lets `milliseconds` pass: ticks for the fake, a sleep for the real servers.
    async fn pass(&mut self, milliseconds: u64) {
        match &mut self.side {
            Side::Fake { redis, now } => {
                let end = *now + milliseconds;
                while *now < end {
                    *now += FAKE_TICK_MILLISECONDS.min(end - *now);
                    redis.tick(*now);
                }
            }
            Side::Real { .. } => tokio::time::sleep(Duration::from_millis(milliseconds)).await,
        }
    }

    /// Replaces node ids by `<node i>`.
    fn normalise(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (index, id) in self.ids.iter().enumerate() {
            text = text.replace(id, &format!("<node {index}>"));
        }
        text
    }

    async fn learn_ids(&mut self) {
        let mut ids = Vec::new();
        for node in 0..self.endpoints.len() {
            let reply = self.send(node, &RedisCommand::ClusterMyId).await.unwrap();
            ids.push(reply.as_text().unwrap().to_owned());
        }
        self.ids = ids;
    }

    /// A client writes `key` to `node` (which must serve it).
    fn write(&self, node: usize, key: &str, value: &str) {
        match &self.side {
            Side::Fake { redis, .. } => assert!(
                redis.client_write(&self.endpoints[node].host, key, value),
                "the fake refused a write of {key} to node {node}"
            ),
            Side::Real { processes, .. } => {
                let reply = processes[node].cli(&["SET", key, value]);
                assert_eq!(reply.trim(), "OK", "SET {key} on node {node}");
            }
        }
    }

    fn index_of(&self, host: &str, port: u16) -> Option<usize> {
        self.endpoints
            .iter()
            .position(|endpoint| endpoint.host == host && endpoint.port == port)
    }

    fn index_of_id(&self, id: &str) -> usize {
        self.ids
            .iter()
            .position(|known| known == id)
            .unwrap_or(usize::MAX)
    }

    /// What the operator observes of every node, normalised, and the raw offsets.
    async fn observe(&self) -> (Vec<NodeFacts>, Vec<u64>) {
        let mut facts = Vec::new();
        let mut offsets = Vec::new();
        let mut infos = Vec::new();
        for node in 0..self.endpoints.len() {
            if self.killed[node] {
                infos.push(None);
                continue;
            }
            let reply = self
                .send(node, &RedisCommand::InfoReplication)
                .await
                .unwrap();
            infos.push(Some(
                parse_info_replication(reply.as_text().unwrap()).unwrap(),
            ));
        }
        for (node, info) in infos.iter().enumerate() {
            let Some(info) = info else {
                facts.push(NodeFacts::down());
                offsets.push(0);
                continue;
            };
            let master = info
                .master_host
                .as_ref()
                .and_then(|host| self.index_of(host, info.master_port.unwrap_or(0)));
            let in_sync = match (info.role, master) {
                (ReplicationRole::Master, _) => true,
                (ReplicationRole::Replica, Some(master)) => infos[master]
                    .as_ref()
                    .is_some_and(|master| info.replica_offset == Some(master.master_offset)),
                (ReplicationRole::Replica, None) => false,
            };
            let mut replicas: Vec<usize> = info
                .replicas
                .iter()
                .map(|entry| self.index_of(&entry.ip, entry.port).unwrap_or(usize::MAX))
                .collect();
            replicas.sort_unstable();
            let keys = match self.send(node, &RedisCommand::DatabaseSize).await.unwrap() {
                RedisReply::Integer(count) => u64::try_from(count).unwrap(),
                other => panic!("DBSIZE replied {other:?}"),
            };
            let (cluster, cluster_info) = if self.cluster {
                let text = self.send(node, &RedisCommand::ClusterNodes).await.unwrap();
                let mut lines: Vec<LineFacts> = parse_cluster_nodes(text.as_text().unwrap())
                    .unwrap()
                    .into_iter()
                    .map(|line| LineFacts {
                        node: self.index_of_id(&line.id),
                        myself: line.flags.myself,
                        master: line.flags.master,
                        replica: line.flags.replica,
                        master_of: line.master_id.as_deref().map(|id| self.index_of_id(id)),
                        possibly_failed: line.flags.possibly_failed,
                        failed: line.flags.failed,
                        handshake: line.flags.handshake,
                        no_address: line.flags.no_address,
                        connected: line.link_connected,
                        at_current_address: !line.flags.myself
                            && line.address.as_ref().is_some_and(|address| {
                                self.index_of(&address.ip, address.port)
                                    == Some(self.index_of_id(&line.id))
                            }),
                        slots: line.slots,
                        migrating: line
                            .migrating
                            .iter()
                            .map(|(slot, id)| (*slot, self.index_of_id(id)))
                            .collect(),
                        importing: line
                            .importing
                            .iter()
                            .map(|(slot, id)| (*slot, self.index_of_id(id)))
                            .collect(),
                    })
                    .collect();
                lines.sort_by_key(|line| line.node);
                let info = match self.send(node, &RedisCommand::ClusterInfo).await {
                    Ok(reply) => parse_cluster_info(reply.as_text().unwrap_or_default())
                        .map(InfoFacts::from)
                        .map_err(|error| error.to_string()),
                    Err(error) => Err(error.to_string()),
                };
                (Some(lines), Some(info))
            } else {
                (None, None)
            };
            offsets.push(info.master_offset);
            let others_with = |id: &str| -> Vec<usize> {
                (0..infos.len())
                    .filter(|other| {
                        *other != node
                            && infos[*other]
                                .as_ref()
                                .is_some_and(|other| other.master_replication_id == id)
                    })
                    .collect()
            };
            facts.push(NodeFacts {
                role: info.role,
                master,
                link_up: info.master_link_up,
                never_synced: info.master_link_down == Some(MasterLinkDown::NeverSynced),
                replicas,
                in_sync,
                keys,
                priority: info.replica_priority,
                same_history: others_with(&info.master_replication_id),
                continues: info
                    .previous_history
                    .as_ref()
                    .map(|previous| others_with(&previous.replication_id))
                    .unwrap_or_default(),
                cluster,
                cluster_info,
            });
        }
        (facts, offsets)
    }

    /// Lets time pass (ticks for the fake, waiting for the real servers) until `settled` holds,
    /// then records what the operator observes; records that it never settled otherwise.
    ///
    /// Offsets are compared (as advanced or not since the last checkpoint) only when
    /// `compare_offsets`: real masters also advance them with the PINGs they send their replicas
    /// every few seconds, so without writes in between whether they moved is a matter of timing.
    async fn checkpoint(
        &mut self,
        label: &str,
        compare_offsets: bool,
        settled: impl Fn(&[NodeFacts]) -> bool,
    ) {
        let deadline = Instant::now() + REAL_SETTLE_TIMEOUT;
        let mut ticks = 0;
        let (facts, offsets, reached) = loop {
            let (facts, offsets) = self.observe().await;
            if settled(&facts) {
                break (facts, offsets, true);
            }
            match &mut self.side {
                Side::Fake { redis, now } => {
                    if ticks == FAKE_SETTLE_TICKS {
                        break (facts, offsets, false);
                    }
                    ticks += 1;
                    *now += FAKE_TICK_MILLISECONDS;
                    redis.tick(*now);
                }
                Side::Real { .. } => {
                    if Instant::now() > deadline {
                        break (facts, offsets, false);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let advanced: Vec<bool> = offsets
            .iter()
            .zip(&self.offsets)
            .map(|(now, before)| now > before)
            .collect();
        self.offsets = offsets;
        self.transcript
            .push((format!("{label}: settled"), reached.to_string()));
        if compare_offsets {
            self.transcript.push((
                format!("{label}: offsets advanced"),
                format!("{advanced:?}"),
            ));
        }
        for (node, facts) in facts.iter().enumerate() {
            self.transcript
                .push((format!("{label}: node {node}"), format!("{facts:?}")));
        }
    }
}

/// A real server's reply as the port's, for the client commands' replies.
fn reply_of(value: redis::Value) -> RedisReply {
    match value {
        redis::Value::Nil => RedisReply::Nil,
        redis::Value::Int(number) => RedisReply::Integer(number),
        redis::Value::BulkString(bytes) => RedisReply::Text(String::from_utf8(bytes).unwrap()),
        redis::Value::Array(items) => RedisReply::Array(items.into_iter().map(reply_of).collect()),
        redis::Value::SimpleString(text) => RedisReply::Status(text),
        redis::Value::Okay => RedisReply::Status("OK".to_owned()),
        other => panic!("a reply the client commands do not give: {other:?}"),
    }
}

/// Every node sees the same slot owners and replica links as every other (gossip has spread),
/// nobody is in handshake, and every replica is in sync.
fn agreed(facts: &[NodeFacts]) -> bool {
    /// Each node's line as (node, master, master of, slots).
    type Shape = Vec<(usize, bool, Option<usize>, Vec<(u16, u16)>)>;
    let shape = |node: &NodeFacts| -> Option<Shape> {
        node.cluster.as_ref().map(|lines| {
            lines
                .iter()
                .map(|line| (line.node, line.master, line.master_of, line.slots.clone()))
                .collect()
        })
    };
    let first = shape(&facts[0]);
    facts.iter().all(|node| {
        shape(node) == first
            && node.in_sync
            && (node.role == ReplicationRole::Master || node.link_up)
            && node.cluster.as_ref().is_none_or(|lines| {
                lines.len() == facts.len()
                    && lines
                        .iter()
                        .all(|line| !line.handshake && line.connected && !line.possibly_failed)
            })
    })
}

/// `agreed`, and every node says the cluster is ok.
fn agreed_and_ok(facts: &[NodeFacts]) -> bool {
    agreed(facts)
        && facts.iter().all(|node| {
            node.cluster_info
                .as_ref()
                .is_none_or(|info| info.as_ref().is_ok_and(|info| info.state_ok))
        })
}

/// Whether a node's `CLUSTER INFO` says the cluster is ok (a plain or silent node passes).
fn cluster_ok(node: &NodeFacts) -> bool {
    node.cluster_info
        .as_ref()
        .is_none_or(|info| info.as_ref().is_ok_and(|info| info.state_ok))
}

/// The replication script: three plain servers become a master and two replicas, take writes,
/// hand the master over with FAILOVER TO, and one replica is detached; rejected FAILOVERs.
async fn replication_script(bench: &mut Bench) {
    let endpoint = |bench: &Bench, node: usize| bench.endpoints[node].clone();
    bench.checkpoint("fresh", false, |_| true).await;
    for replica in [1, 2] {
        let master = endpoint(bench, 0);
        bench
            .step(
                "REPLICAOF node 0",
                replica,
                RedisCommand::ReplicaOf {
                    host: master.host,
                    port: master.port,
                },
            )
            .await;
    }
    bench
        .checkpoint("replicas attached", false, |facts| {
            agreed(facts) && facts[0].replicas.len() == 2
        })
        .await;
    // The priority the operator holds a replica at until it has synced, which Sentinel never
    // promotes, and an argument Redis refuses.
    for value in ["0", "high"] {
        bench
            .step(
                &format!("CONFIG SET replica-priority {value}"),
                2,
                RedisCommand::ConfigSet {
                    parameter: REPLICA_PRIORITY_PARAMETER.to_owned(),
                    value: value.to_owned(),
                },
            )
            .await;
    }
    bench
        .checkpoint("node 2 at priority 0", false, |facts| {
            agreed(facts) && facts[2].priority == Some(0)
        })
        .await;
    for index in 0..20 {
        bench.write(0, &format!("key:{index}"), &format!("value-{index}"));
    }
    bench
        .checkpoint("after 20 writes", true, |facts| {
            agreed(facts) && facts.iter().all(|node| node.keys == 20)
        })
        .await;
    let target = endpoint(bench, 1);
    bench
        .step(
            "FAILOVER TO node 1, sent to a replica",
            2,
            RedisCommand::FailoverTo {
                host: target.host.clone(),
                port: target.port,
            },
        )
        .await;
    let myself = endpoint(bench, 0);
    bench
        .step(
            "FAILOVER TO itself",
            0,
            RedisCommand::FailoverTo {
                host: myself.host,
                port: myself.port,
            },
        )
        .await;
    bench
        .step(
            "FAILOVER TO node 1",
            0,
            RedisCommand::FailoverTo {
                host: target.host,
                port: target.port,
            },
        )
        .await;
    bench
        .checkpoint("after the handover", false, |facts| {
            agreed(facts)
                && facts[1].role == ReplicationRole::Master
                && facts[0].role == ReplicationRole::Replica
                && facts[1].same_history.len() == 2
        })
        .await;
    bench
        .step("REPLICAOF NO ONE", 2, RedisCommand::ReplicaOfNoOne)
        .await;
    for index in 20..25 {
        bench.write(1, &format!("key:{index}"), &format!("value-{index}"));
    }
    bench
        .checkpoint("node 2 detached, 5 more writes", true, |facts| {
            agreed(facts)
                && facts[1].replicas.len() == 1
                && facts[0].keys == 25
                && facts[0].same_history == vec![1]
        })
        .await;
}

/// Keys whose slot is `slot`'s, made with a hash tag found by search.
fn keys_in_one_slot(range: std::ops::RangeInclusive<u16>, count: usize) -> (u16, Vec<String>) {
    let tag = (0..)
        .map(|number| format!("tag{number}"))
        .find(|tag| range.contains(&key_slot(tag)))
        .unwrap();
    let keys = (0..count)
        .map(|index| format!("{{{tag}}}:{index}"))
        .collect();
    (key_slot(&tag), keys)
}

/// Node 0 meets the three others at their current addresses.
async fn meet_the_others(bench: &mut Bench, label: &str) {
    for node in 1..4 {
        let other = bench.endpoints[node].clone();
        bench
            .step(
                &format!("{label} node {node}"),
                0,
                RedisCommand::ClusterMeet {
                    host: other.host,
                    port: other.port,
                    bus_port: other.port + 10_000,
                },
            )
            .await;
    }
}

/// `meet_and_assign_slots`, then node 3 replicates node 0; checked at `label` once formed.
async fn form_with_a_replica_of_node_0(bench: &mut Bench, label: &str) {
    meet_and_assign_slots(bench).await;
    let master = bench.ids[0].clone();
    bench
        .step(
            "REPLICATE node 0",
            3,
            RedisCommand::ClusterReplicate(master),
        )
        .await;
    bench.checkpoint(label, false, agreed_and_ok).await;
}

/// Node 0 meets the three others, and nodes 0 to 2 take a third of the slots each.
async fn meet_and_assign_slots(bench: &mut Bench) {
    bench.learn_ids().await;
    meet_the_others(bench, "CLUSTER MEET").await;
    bench.checkpoint("met", false, agreed).await;
    for (node, range) in [(0, (0, 5460)), (1, (5461, 10922)), (2, (10923, 16383))] {
        bench
            .step(
                "CLUSTER ADDSLOTSRANGE",
                node,
                RedisCommand::ClusterAddSlotsRange(vec![range]),
            )
            .await;
    }
}

/// The cluster script: four nodes meet, three take the slots, the fourth replicates the first;
/// keys are written, one slot migrates with MIGRATING/IMPORTING and MIGRATE, the replica takes
/// over with CLUSTER FAILOVER; rejected ADDSLOTS, REPLICATE, FAILOVER, FORGET and SETSLOT (on a
/// replica, naming a replica or an unknown node, of an owned or a foreign slot).
async fn cluster_script(bench: &mut Bench) {
    meet_and_assign_slots(bench).await;
    bench
        .checkpoint("slots assigned", false, agreed_and_ok)
        .await;
    bench
        .step(
            "ADDSLOTS of an owned slot",
            1,
            RedisCommand::ClusterAddSlots(vec![0]),
        )
        .await;
    bench
        .step(
            "ADDSLOTSRANGE over owned slots",
            3,
            RedisCommand::ClusterAddSlotsRange(vec![(100, 200)]),
        )
        .await;
    let ids = bench.ids.clone();
    bench
        .step(
            "REPLICATE itself",
            3,
            RedisCommand::ClusterReplicate(ids[3].clone()),
        )
        .await;
    bench
        .step(
            "REPLICATE from a master with slots",
            0,
            RedisCommand::ClusterReplicate(ids[1].clone()),
        )
        .await;
    bench
        .step(
            "CLUSTER FAILOVER on a master",
            0,
            RedisCommand::ClusterFailover(FailoverMode::Coordinated),
        )
        .await;
    bench
        .step(
            "CLUSTER FORGET itself",
            0,
            RedisCommand::ClusterForget(ids[0].clone()),
        )
        .await;
    bench
        .step(
            "REPLICATE node 0",
            3,
            RedisCommand::ClusterReplicate(ids[0].clone()),
        )
        .await;
    bench
        .checkpoint("replica attached", false, agreed_and_ok)
        .await;
    // SETSLOT is for masters only, and names masters only (node 3 is now a replica).
    let unknown = "0123456789abcdef0123456789abcdef01234567".to_owned();
    let misdirected_slot_states = [
        (
            "SETSLOT on a replica",
            3,
            SlotState::Importing(ids[1].clone()),
        ),
        (
            "SETSLOT MIGRATING to a replica",
            0,
            SlotState::Migrating(ids[3].clone()),
        ),
        (
            "SETSLOT IMPORTING from a replica",
            1,
            SlotState::Importing(ids[3].clone()),
        ),
        (
            "SETSLOT NODE to a replica",
            0,
            SlotState::Node(ids[3].clone()),
        ),
        (
            "SETSLOT IMPORTING from an unknown node",
            1,
            SlotState::Importing(unknown.clone()),
        ),
        (
            "SETSLOT NODE to an unknown node",
            0,
            SlotState::Node(unknown),
        ),
    ];
    for (step, node, state) in misdirected_slot_states {
        bench
            .step(step, node, RedisCommand::ClusterSetSlot { slot: 0, state })
            .await;
    }

    let (slot, moving) = keys_in_one_slot(0..=5460, 10);
    for key in &moving {
        bench.write(0, key, "moving");
    }
    let staying: Vec<String> = (0..)
        .map(|index| format!("staying:{index}"))
        .filter(|key| key_slot(key) <= 5460 && key_slot(key) != slot)
        .take(20)
        .collect();
    for key in &staying {
        bench.write(0, key, "staying");
    }
    bench
        .checkpoint("30 keys written", true, agreed_and_ok)
        .await;
    bench
        .step(
            "COUNTKEYSINSLOT",
            0,
            RedisCommand::ClusterCountKeysInSlot(slot),
        )
        .await;
    bench
        .step(
            "SETSLOT IMPORTING",
            1,
            RedisCommand::ClusterSetSlot {
                slot,
                state: SlotState::Importing(ids[0].clone()),
            },
        )
        .await;
    bench
        .step(
            "SETSLOT MIGRATING",
            0,
            RedisCommand::ClusterSetSlot {
                slot,
                state: SlotState::Migrating(ids[1].clone()),
            },
        )
        .await;
    bench.checkpoint("slot migrating", false, |_| true).await;
    bench
        .step(
            "SETSLOT NODE while keys remain",
            0,
            RedisCommand::ClusterSetSlot {
                slot,
                state: SlotState::Node(ids[1].clone()),
            },
        )
        .await;
    bench
        .step(
            "GETKEYSINSLOT",
            0,
            RedisCommand::ClusterGetKeysInSlot { slot, count: 100 },
        )
        .await;
    let target = bench.endpoints[1].clone();
    bench
        .step(
            "MIGRATE",
            0,
            RedisCommand::Migrate {
                host: target.host.clone(),
                port: target.port,
                keys: moving.iter().map(|key| key.clone().into_bytes()).collect(),
                timeout_milliseconds: 5000,
                replace: true,
            },
        )
        .await;
    bench
        .step(
            "MIGRATE of keys already moved",
            0,
            RedisCommand::Migrate {
                host: target.host,
                port: target.port,
                keys: moving.iter().map(|key| key.clone().into_bytes()).collect(),
                timeout_milliseconds: 5000,
                replace: true,
            },
        )
        .await;
    hand_slot_to_node_1(bench, slot).await;
    bench.checkpoint("slot moved", true, agreed_and_ok).await;
    bench
        .step(
            "SETSLOT IMPORTING of an owned slot",
            1,
            RedisCommand::ClusterSetSlot {
                slot,
                state: SlotState::Importing(ids[0].clone()),
            },
        )
        .await;
    bench
        .step(
            "SETSLOT MIGRATING of a slot not owned",
            0,
            RedisCommand::ClusterSetSlot {
                slot,
                state: SlotState::Migrating(ids[1].clone()),
            },
        )
        .await;
    bench
        .step(
            "CLUSTER FAILOVER",
            3,
            RedisCommand::ClusterFailover(FailoverMode::Coordinated),
        )
        .await;
    bench
        .checkpoint("replica took over", false, |facts| {
            agreed_and_ok(facts) && facts[3].role == ReplicationRole::Master
        })
        .await;
    bench
        .step("CLUSTER SHARDS", 0, RedisCommand::ClusterShards)
        .await;
}

/// After a MIGRATE of `slot`'s keys from node 0 to node 1: both count the slot's keys, then
/// node 1, node 0 and node 2 are told node 1 owns it.
async fn hand_slot_to_node_1(bench: &mut Bench, slot: u16) {
    for node in [0, 1] {
        bench
            .step(
                "COUNTKEYSINSLOT after MIGRATE",
                node,
                RedisCommand::ClusterCountKeysInSlot(slot),
            )
            .await;
    }
    let owner = bench.ids[1].clone();
    for node in [1, 0, 2] {
        bench
            .step(
                "SETSLOT NODE node 1",
                node,
                RedisCommand::ClusterSetSlot {
                    slot,
                    state: SlotState::Node(owner.clone()),
                },
            )
            .await;
    }
}

/// Differences `docs/simulator.md` lists as known limits of the fake: (step, what the fake
/// answers). The operator never sends CLUSTER SHARDS; the fake does not model it.
const KNOWN_CLUSTER_DIFFERENCES: [(&str, &str); 1] = [(
    "CLUSTER SHARDS (node 0)",
    "rejected ERR not modelled by the simulator",
)];

/// The steps whose outcome differs, as (step, fake, real).
fn differences(fake: &Bench, real: &Bench) -> Vec<(String, String, String)> {
    assert_eq!(
        fake.transcript.len(),
        real.transcript.len(),
        "both sides ran the same steps"
    );
    fake.transcript
        .iter()
        .zip(&real.transcript)
        .filter(|((_, fake), (_, real))| fake != real)
        .map(|((step, fake), (_, real))| (step.clone(), fake.clone(), real.clone()))
        .collect()
}

/// The part of `left` and `right` that differs, with some context before it.
fn differing_parts(left: &str, right: &str) -> (String, String) {
    let prefix = left
        .chars()
        .zip(right.chars())
        .take_while(|(left, right)| left == right)
        .count();
    let suffix = left
        .chars()
        .rev()
        .zip(right.chars().rev())
        .take_while(|(left, right)| left == right)
        .count();
    let start = prefix.saturating_sub(60);
    let cut = |text: &str| -> String {
        let length = text.chars().count();
        let end = length.saturating_sub(suffix).max(prefix);
        text.chars().skip(start).take(end - start).collect()
    };
    (cut(left), cut(right))
}

fn report(script: &str, found: &[(String, String, String)]) -> String {
    let mut text = format!("{script}: {} differences\n", found.len());
    for (step, fake, real) in found {
        let (fake, real) = differing_parts(fake, real);
        text.push_str(&format!(
            "  {step}\n    fake: …{fake}…\n    real: …{real}…\n"
        ));
    }
    text
}

/// Whether this node's table holds node 0's old id without an address (`noaddr`): another id
/// answered at it.
fn old_id_of_node_0_without_address(facts: &NodeFacts) -> bool {
    facts
        .cluster
        .as_ref()
        .is_some_and(|lines| lines.iter().any(|line| line.node == 0 && line.no_address))
}

/// `form_with_a_replica_of_node_0`, then ten keys written on node 0 and replicated to node 3.
async fn form_with_ten_keys_replicated(bench: &mut Bench) {
    form_with_a_replica_of_node_0(bench, "replica attached").await;
    let (_, keys) = keys_in_one_slot(0..=5460, 10);
    for key in &keys {
        bench.write(0, key, "value");
    }
    bench
        .checkpoint("formed, 10 keys replicated", false, |facts| {
            agreed_and_ok(facts) && facts[3].keys == 10
        })
        .await;
}

/// Three masters and a replica of node 0; node 0's server restarts at once without its files,
/// as a container restarted in place without a volume: it comes back under a new node id knowing
/// no peer. The others find another id answering at its address and drop the address of its old
/// id (`noaddr`), which they then never ping, so never fail: no failover happens, the old id
/// keeps its slots and the cluster reads `ok`, while the replica, which replicates from the
/// address, resyncs from the new empty server and loses the keys (Redis' own loss; the operator
/// must forget the old id and give its slots a home).
async fn restart_afresh_script(bench: &mut Bench) {
    form_with_ten_keys_replicated(bench).await;
    bench.restart_afresh(0);
    // The adapter's connection to the old process is broken: the first command finds out and
    // the next dials again, as the operator's next reconcile would.
    let _ = bench.send(0, &RedisCommand::Ping).await;
    bench
        .checkpoint("node 0 restarted afresh", false, |facts| {
            facts[1..].iter().all(old_id_of_node_0_without_address) && facts[3].link_up
        })
        .await;
    // Nobody fails a node without an address: no failover, ever.
    bench.pass(8_000).await;
    bench
        .checkpoint("8 s later", false, |facts| {
            facts[1..].iter().all(old_id_of_node_0_without_address) && facts[3].link_up
        })
        .await;
}

/// A cluster master with a synced replica is killed and stays down past the node timeout: the
/// other masters fail it and its replica is elected in its place, with the keys. Then the
/// master's pod comes back at the same address without its files, under a new node id: an
/// empty node that knows no peer (its own cluster is not ok), while the others, finding another
/// id at the old id's address, drop that address (`noaddr`) and stay ok.
async fn killed_master_script(bench: &mut Bench) {
    form_with_ten_keys_replicated(bench).await;
    bench.kill(0);
    bench
        .checkpoint(
            "the replica elected after the node timeout",
            false,
            |facts| facts[3].role == ReplicationRole::Master && facts[1..].iter().all(cluster_ok),
        )
        .await;
    bench.restart_afresh(0);
    let _ = bench.send(0, &RedisCommand::Ping).await;
    bench
        .checkpoint("node 0 back afresh", false, |facts| {
            facts[0].keys == 0
                && facts[1..]
                    .iter()
                    .all(|node| cluster_ok(node) && old_id_of_node_0_without_address(node))
        })
        .await;
}

#[tokio::test]
async fn a_killed_cluster_master_is_replaced_by_its_replica_after_the_node_timeout_as_on_real_redis()
 {
    assert_script_alike(4, true, "killed master", killed_master_script).await;
}

#[tokio::test]
async fn a_cluster_master_restarted_in_place_without_its_files_leaves_what_real_redis_leaves() {
    assert_script_alike(4, true, "restart afresh", restart_afresh_script).await;
}

/// Runs `script` on `nodes` fake servers, then on as many real ones (cluster nodes when
/// `cluster`); returns both benches, the fake first.
async fn run_on_both_sides(
    nodes: usize,
    cluster: bool,
    script: impl AsyncFn(&mut Bench),
) -> (Bench, Bench) {
    let mut fake = Bench::fake(nodes, cluster);
    script(&mut fake).await;
    let mut real = Bench::real(nodes, cluster);
    script(&mut real).await;
    (fake, real)
}

/// Runs `script` on both sides and asserts they settled alike (`assert_settled_alike`).
async fn assert_script_alike(
    nodes: usize,
    cluster: bool,
    label: &str,
    script: impl AsyncFn(&mut Bench),
) {
    let (fake, real) = run_on_both_sides(nodes, cluster, script).await;
    assert_settled_alike(&fake, &real, label);
}

/// Every checkpoint of a script settled on both sides, and the transcripts match.
fn assert_settled_alike(fake: &Bench, real: &Bench, script: &str) {
    let settled: Vec<&(String, String)> = real
        .transcript
        .iter()
        .chain(&fake.transcript)
        .filter(|(step, _)| step.ends_with("settled"))
        .collect();
    assert!(
        settled.iter().all(|(_, outcome)| outcome == "true"),
        "every checkpoint of {script} settled on both sides (real first): {settled:?}"
    );
    let found = differences(fake, real);
    assert!(found.is_empty(), "{}", report(script, &found));
}

/// A master dies before its new replica completed its first sync (the master still waits out
/// its diskless delay): the replica reports `master_link_down_since_seconds:-1`, and once the
/// others have failed the master Redis Cluster never elects it (its data age counts as
/// infinite), however long one waits; `CLUSTER FAILOVER FORCE` promotes it, without keys.
async fn never_synced_script(bench: &mut Bench) {
    meet_and_assign_slots(bench).await;
    bench
        .checkpoint("slots assigned", false, agreed_and_ok)
        .await;
    let (_, keys) = keys_in_one_slot(0..=5460, 10);
    for key in &keys {
        bench.write(0, key, "value");
    }
    let master = bench.ids[0].clone();
    bench
        .step(
            "REPLICATE node 0",
            3,
            RedisCommand::ClusterReplicate(master),
        )
        .await;
    bench
        .checkpoint("replica waits for its first sync", false, |facts| {
            facts[3].role == ReplicationRole::Replica
                && facts[3].never_synced
                && facts[0].replicas == vec![3]
                // Gossip has told every node whose replica node 3 is.
                && facts.iter().all(|node| {
                    node.cluster.as_ref().is_some_and(|lines| {
                        lines
                            .iter()
                            .any(|line| line.node == 3 && line.master_of == Some(0))
                    })
                })
        })
        .await;
    bench.kill(0);
    let failed_everywhere = |facts: &[NodeFacts]| {
        facts[1..].iter().all(|node| {
            node.cluster
                .as_ref()
                .is_some_and(|lines| lines.iter().any(|line| line.node == 0 && line.failed))
        })
    };
    bench
        .checkpoint("node 0 failed", false, failed_everywhere)
        .await;
    // Well past the node timeout and the election delay of either side.
    bench.pass(12_000).await;
    bench
        .checkpoint("12 s later", false, |facts| {
            failed_everywhere(facts) && facts[3].role == ReplicationRole::Replica
        })
        .await;
    bench
        .step(
            "CLUSTER FAILOVER FORCE",
            3,
            RedisCommand::ClusterFailover(FailoverMode::Force),
        )
        .await;
    bench
        .checkpoint("node 3 took over", false, |facts| {
            facts[3].role == ReplicationRole::Master
                && facts[1..].iter().all(|node| {
                    node.cluster_info
                        .as_ref()
                        .is_some_and(|info| info.as_ref().is_ok_and(|info| info.state_ok))
                })
        })
        .await;
}

#[tokio::test]
async fn a_cluster_replica_that_never_synced_is_elected_by_force_only_as_on_real_redis() {
    assert_script_alike(4, true, "never synced", never_synced_script).await;
}

/// Every server of a cluster restarts at once with its files at a new address (pods rescheduled
/// with their volumes): each node knows the others only at their old addresses, where nothing
/// answers, so each holds the others possibly failed (no majority can agree on a failure) and
/// the cluster stays failed however long one waits. Once node 0 meets the others at their new
/// addresses, as the operator introduces them, its pings tell them where it is and its gossip
/// where the others are, and the cluster heals, the replica following its master's new address.
async fn new_addresses_script(bench: &mut Bench) {
    form_with_a_replica_of_node_0(bench, "formed").await;
    for node in 0..4 {
        bench.kill(node);
    }
    for node in 0..4 {
        bench.move_to_new_address(node);
    }
    let stranded = |facts: &[NodeFacts]| {
        facts.iter().all(|node| {
            node.cluster.as_ref().is_some_and(|lines| {
                lines
                    .iter()
                    .filter(|line| !line.myself)
                    .all(|line| line.possibly_failed && !line.at_current_address)
            })
        })
    };
    bench
        .checkpoint("restarted at new addresses", false, stranded)
        .await;
    bench.pass(8_000).await;
    bench.checkpoint("8 s later", false, stranded).await;
    meet_the_others(bench, "CLUSTER MEET at the new address of").await;
    bench
        .checkpoint("introduced again", false, |facts| {
            agreed_and_ok(facts)
                && facts.iter().all(|node| {
                    node.cluster.as_ref().is_some_and(|lines| {
                        lines
                            .iter()
                            .filter(|line| !line.myself)
                            .all(|line| line.at_current_address)
                    })
                })
        })
        .await;
}

#[tokio::test]
async fn a_cluster_restarted_at_new_addresses_heals_only_once_introduced_as_on_real_redis() {
    assert_script_alike(4, true, "new addresses", new_addresses_script).await;
}

/// What a replica and its master show of a full resync: the replica's link and sync flags and
/// its key count (or the error DBSIZE gets), and the state and offset the master lists it with.
async fn sync_facts(bench: &Bench, replica: usize, master: usize) -> String {
    let info = |reply: Result<RedisReply, RedisError>| {
        parse_info_replication(reply.unwrap().as_text().unwrap()).unwrap()
    };
    let replica_info = info(bench.send(replica, &RedisCommand::InfoReplication).await);
    let keys = match bench.send(replica, &RedisCommand::DatabaseSize).await {
        Ok(reply) => format!("{reply:?}"),
        Err(RedisError::Rejected { message, .. }) => message,
        Err(error) => format!("failed {error}"),
    };
    let master_info = info(bench.send(master, &RedisCommand::InfoReplication).await);
    let listed: Vec<(String, bool)> = master_info
        .replicas
        .iter()
        .map(|entry| (entry.state.clone(), entry.offset == 0))
        .collect();
    format!(
        "link up {}, sync in progress {}, keys {keys}, listed by the master as (state, offset 0) {listed:?}",
        replica_info.master_link_up, replica_info.master_sync_in_progress
    )
}

/// A full resync on a server that held a key of its own: while the master waits out the
/// diskless delay the replica's link is down and it serves its old key, the master lists it as
/// `wait_bgsave` at offset 0 and refuses FAILOVER TO it; the link comes up after the delay
/// (about 5 s; the fake's is exactly 5 s) with the master's keys in place of its own.
async fn full_sync_script(bench: &mut Bench) {
    for index in 0..20 {
        bench.write(0, &format!("key:{index}"), &format!("value-{index}"));
    }
    bench.write(1, "stale", "from before");
    let master = bench.endpoints[0].clone();
    bench
        .step(
            "REPLICAOF node 0",
            1,
            RedisCommand::ReplicaOf {
                host: master.host.clone(),
                port: master.port,
            },
        )
        .await;
    let started = Instant::now();
    // Time for the replica to connect and ask for the sync (a few milliseconds on loopback).
    bench.pass(300).await;
    let facts = sync_facts(bench, 1, 0).await;
    bench.transcript.push(("after 0.3 s".to_owned(), facts));
    let replica = bench.endpoints[1].clone();
    bench
        .step(
            "FAILOVER TO the syncing replica",
            0,
            RedisCommand::FailoverTo {
                host: replica.host,
                port: replica.port,
            },
        )
        .await;
    bench.pass(1_700).await;
    let facts = sync_facts(bench, 1, 0).await;
    bench.transcript.push(("after 2 s".to_owned(), facts));
    let mut waited = 2_000;
    loop {
        let reply = bench.send(1, &RedisCommand::InfoReplication).await.unwrap();
        let info = parse_info_replication(reply.as_text().unwrap()).unwrap();
        if info.master_link_up || waited > 10_000 {
            break;
        }
        bench.pass(100).await;
        waited += 100;
    }
    // The fake counts simulated time; the real side, wall-clock time since REPLICAOF.
    let waited = match bench.side {
        Side::Fake { .. } => waited,
        Side::Real { .. } => u64::try_from(started.elapsed().as_millis()).unwrap(),
    };
    bench.transcript.push((
        "the link came up between 4 and 7 s".to_owned(),
        (4_000..=7_000).contains(&waited).to_string(),
    ));
    // A real master lists the replica `online` only at its first REPLCONF ACK after the
    // transfer, which replicas send every second: up to a second (more on a loaded machine)
    // after the replica's link came up.
    for _ in 0..30 {
        let reply = bench.send(0, &RedisCommand::InfoReplication).await.unwrap();
        let info = parse_info_replication(reply.as_text().unwrap()).unwrap();
        if info.replicas.iter().all(|entry| entry.state == "online") {
            break;
        }
        bench.pass(100).await;
    }
    let facts = sync_facts(bench, 1, 0).await;
    bench.transcript.push(("after the sync".to_owned(), facts));
}

#[tokio::test]
async fn a_full_resync_shows_what_real_redis_shows_and_takes_as_long() {
    let (fake, real) = run_on_both_sides(2, false, full_sync_script).await;
    let found = differences(&fake, &real);
    assert!(found.is_empty(), "{}", report("full resync", &found));
    assert!(
        fake.transcript.iter().any(
            |(step, outcome)| step == "the link came up between 4 and 7 s" && outcome == "true"
        ),
        "{:?}",
        fake.transcript
    );
}

/// What a server answers, while it loads its data files, to each command the operator sends:
/// the error line, or the shape of the reply (the role INFO replication gives, whether INFO
/// keyspace counts fewer keys than the files hold).
async fn loading_transcript(
    admin: &dyn RedisAdmin,
    endpoint: &RedisEndpoint,
    total: u64,
) -> Vec<(String, String)> {
    let commands = [
        ("PING", RedisCommand::Ping),
        ("DBSIZE", RedisCommand::DatabaseSize),
        ("REPLICAOF NO ONE", RedisCommand::ReplicaOfNoOne),
        ("CLUSTER NODES", RedisCommand::ClusterNodes),
        ("INFO replication", RedisCommand::InfoReplication),
        (
            "CONFIG SET replica-priority",
            RedisCommand::ConfigSet {
                parameter: REPLICA_PRIORITY_PARAMETER.to_owned(),
                value: "100".to_owned(),
            },
        ),
        ("INFO keyspace", RedisCommand::InfoKeyspace),
    ];
    let mut transcript = Vec::new();
    for (label, command) in commands {
        let outcome = match admin.execute(endpoint, &command).await {
            Ok(reply) => match command {
                RedisCommand::InfoReplication => format!(
                    "role {:?}",
                    parse_info_replication(reply.as_text().unwrap())
                        .unwrap()
                        .role
                ),
                RedisCommand::InfoKeyspace => {
                    let keys = parse_keyspace_keys(reply.as_text().unwrap()).unwrap();
                    format!("counts fewer keys than its files hold: {}", keys < total)
                }
                _ => format!("reply {reply:?}"),
            },
            Err(RedisError::Rejected { message, .. }) => format!("rejected {message}"),
            Err(error) => format!("failed {error}"),
        };
        transcript.push((label.to_owned(), outcome));
    }
    transcript
}

#[tokio::test]
async fn a_server_loading_its_data_files_answers_what_real_redis_answers() {
    // Real: three million keys saved to dump.rdb, read back at start (about a second).
    let real_keys = 3_000_000;
    let mut real = RedisProcess::start("loading", ServerOptions::plain());
    real.populate(real_keys);
    assert_eq!(real.cli(&["SAVE"]).trim(), "OK");
    let adapter = RedisAdapter::new(SecretStore::new());
    real.restart_without_waiting();
    let real_transcript = loading_transcript(
        &adapter,
        &real.endpoint(),
        u64::try_from(real_keys).unwrap(),
    )
    .await;
    // Fake: a server restarted with its data kept, loading it slowly enough to be seen.
    let redis = FakeRedis::new();
    let fake_keys = 2_000;
    let endpoint = RedisEndpoint {
        namespace: "fidelity".to_owned(),
        pod: "loading".to_owned(),
        host: "10.0.0.1".to_owned(),
        port: 6379,
        password: None,
        user: None,
        tls: None,
    };
    redis.start(
        &endpoint.pod,
        &endpoint.host,
        6379,
        ServerKind::Plain,
        false,
        false,
    );
    for index in 0..fake_keys {
        assert!(redis.client_write(&endpoint.host, &format!("key:{index}"), "v"));
    }
    redis.stop(&endpoint.host, StopCause::Fault);
    redis.set_slow_sync(Some(1_000));
    redis.start(
        &endpoint.pod,
        &endpoint.host,
        6379,
        ServerKind::Plain,
        true,
        false,
    );
    redis.tick(500);
    let fake_transcript = loading_transcript(&redis, &endpoint, fake_keys).await;
    assert_eq!(
        fake_transcript, real_transcript,
        "fake (left) and real (right) while loading"
    );
    assert!(
        real_transcript
            .iter()
            .any(|(_, outcome)| outcome.starts_with("rejected LOADING")),
        "the real server was still loading: {real_transcript:?}"
    );
    // Once loaded the fake answers again, with every key.
    redis.tick(3_000);
    assert_eq!(
        redis
            .answer(&endpoint, &RedisCommand::DatabaseSize)
            .unwrap(),
        RedisReply::Integer(2_000)
    );
}

#[tokio::test]
async fn replication_observations_match_real_redis() {
    let (fake, real) = run_on_both_sides(3, false, replication_script).await;
    let found = differences(&fake, &real);
    assert!(
        real.transcript
            .iter()
            .all(|(step, outcome)| !step.ends_with("settled") || outcome == "true"),
        "every checkpoint settled on real Redis: {:?}",
        real.transcript
            .iter()
            .filter(|(step, _)| step.ends_with("settled"))
            .collect::<Vec<_>>()
    );
    assert!(found.is_empty(), "{}", report("replication", &found));
}

#[tokio::test]
async fn cluster_observations_match_real_redis() {
    let (fake, real) = run_on_both_sides(4, true, cluster_script).await;
    let found = differences(&fake, &real);
    assert!(
        real.transcript
            .iter()
            .all(|(step, outcome)| !step.ends_with("settled") || outcome == "true"),
        "every checkpoint settled on real Redis: {:?}",
        real.transcript
            .iter()
            .filter(|(step, _)| step.ends_with("settled"))
            .collect::<Vec<_>>()
    );
    let unexpected: Vec<(String, String, String)> = found
        .iter()
        .filter(|(step, fake, real)| {
            !KNOWN_CLUSTER_DIFFERENCES.iter().any(|(known, answer)| {
                step == known && fake == answer && real.starts_with("reply Array([")
            })
        })
        .cloned()
        .collect();
    assert!(unexpected.is_empty(), "{}", report("cluster", &unexpected));
    let steps: Vec<&str> = found.iter().map(|(step, _, _)| step.as_str()).collect();
    let known: Vec<&str> = KNOWN_CLUSTER_DIFFERENCES
        .iter()
        .map(|(step, _)| *step)
        .collect();
    assert_eq!(
        steps, known,
        "a known difference went away: update docs/simulator.md and this list"
    );
}

/// A MIGRATE of `keys` from node `source` to node `target`, with REPLACE or without.
fn migrate(bench: &Bench, target: usize, keys: &[&str], replace: bool) -> RedisCommand {
    RedisCommand::Migrate {
        host: bench.endpoints[target].host.clone(),
        port: bench.endpoints[target].port,
        keys: keys.iter().map(|key| key.as_bytes().to_vec()).collect(),
        timeout_milliseconds: 5000,
        replace,
    }
}

/// Databases, kinds of values and BUSYKEY on plain servers: node 1 replicates node 0 while a
/// client writes strings, a hash, a list and a set in database 3 and a string in database 0
/// (SELECT out of range, WRONGTYPE, arity and a replica's READONLY refused); MIGRATE from node 0
/// to the standalone node 2, which holds one of the keys, is refused with BUSYKEY without
/// REPLACE and overwrites with it; node 2 then replicates node 0 (a full resync, which carries
/// database 3), and FLUSHALL empties every database everywhere.
async fn databases_types_and_busykey_script(bench: &mut Bench) {
    bench.checkpoint("fresh", false, |_| true).await;
    let master = bench.endpoints[0].clone();
    let replica_of_node_0 = RedisCommand::ReplicaOf {
        host: master.host,
        port: master.port,
    };
    bench
        .step("REPLICAOF node 0", 1, replica_of_node_0.clone())
        .await;
    bench
        .checkpoint("replica attached", false, |facts| {
            agreed(facts) && facts[0].replicas.len() == 1
        })
        .await;
    for line in [
        "SELECT 16",
        "SELECT -1",
        "SELECT three",
        "SELECT 3",
        "SET text three",
        "HSET hash f 1 g 2",
        "HSET hash f 3",
        "HSET hash f",
        "RPUSH list a b c",
        "LPUSH list z",
        "SADD set x y x",
        "DBSIZE",
        "TYPE text",
        "TYPE hash",
        "TYPE list",
        "TYPE set",
        "TYPE missing",
        "GET hash",
        "HGET list f",
        "LRANGE set 0 -1",
        "SADD text m",
        "GET",
        "HGET hash f",
        "HGETALL hash",
        "LRANGE list 1 -2",
        "SMEMBERS set",
        "SELECT 0",
        "SET zero 0",
        "DBSIZE",
    ] {
        bench.client(0, line).await;
    }
    bench
        .checkpoint("written in databases 0 and 3", false, |facts| {
            agreed(facts) && facts[1].keys == 1
        })
        .await;
    // The operator counts the keys of every database from INFO keyspace.
    for node in [0, 1] {
        bench
            .step("INFO keyspace", node, RedisCommand::InfoKeyspace)
            .await;
    }
    for line in [
        "SET refused v",
        "DBSIZE",
        "SELECT 3",
        "DBSIZE",
        "GET text",
        "HGETALL hash",
        "LRANGE list 0 -1",
        "SMEMBERS set",
        "TYPE set",
    ] {
        bench.client(1, line).await;
    }
    // BUSYKEY: node 2 already holds `busy`.
    for line in ["SET busy source", "HSET moved f v"] {
        bench.client(0, line).await;
    }
    bench.client(2, "SET busy target").await;
    let without_replace = migrate(bench, 2, &["busy", "moved"], false);
    bench
        .step("MIGRATE without REPLACE", 0, without_replace)
        .await;
    for line in ["TYPE busy", "TYPE moved"] {
        bench.client(0, line).await;
    }
    for line in ["GET busy", "HGETALL moved"] {
        bench.client(2, line).await;
    }
    let with_replace = migrate(bench, 2, &["busy"], true);
    bench.step("MIGRATE with REPLACE", 0, with_replace).await;
    bench.client(0, "TYPE busy").await;
    bench.client(2, "GET busy").await;
    // A full resync carries every database.
    bench.step("REPLICAOF node 0", 2, replica_of_node_0).await;
    bench
        .checkpoint("node 2 attached", false, |facts| {
            agreed(facts) && facts[0].replicas.len() == 2
        })
        .await;
    for line in ["DBSIZE", "GET busy", "SELECT 3", "DBSIZE", "HGETALL hash"] {
        bench.client(2, line).await;
    }
    bench.client(0, "FLUSHALL").await;
    bench
        .checkpoint("flushed", false, |facts| {
            agreed(facts) && facts.iter().all(|node| node.keys == 0)
        })
        .await;
    for node in [0, 1, 2] {
        bench.client(node, "DBSIZE").await;
    }
}

#[tokio::test]
async fn databases_kinds_of_values_and_busykey_behave_as_on_real_redis() {
    assert_script_alike(
        3,
        false,
        "databases, types and BUSYKEY",
        databases_types_and_busykey_script,
    )
    .await;
}

/// Databases and kinds of values in a cluster: SELECT of any database but 0 refused; a string,
/// a hash, a list and a set in one slot are counted and listed by COUNTKEYSINSLOT and
/// GETKEYSINSLOT, migrate to node 1 with their values, and are read there once it owns the slot.
async fn cluster_types_script(bench: &mut Bench) {
    meet_and_assign_slots(bench).await;
    bench
        .checkpoint("slots assigned", false, agreed_and_ok)
        .await;
    let (slot, keys) = keys_in_one_slot(0..=5460, 4);
    let [text, hash, list, set] = [&keys[0], &keys[1], &keys[2], &keys[3]];
    for line in [
        "SELECT 1".to_owned(),
        "SELECT 16".to_owned(),
        "SELECT 0".to_owned(),
        format!("SET {text} v"),
        format!("HSET {hash} f 1 g 2"),
        format!("RPUSH {list} a b"),
        format!("SADD {set} m n"),
        "DBSIZE".to_owned(),
    ] {
        bench.client(0, &line).await;
    }
    bench
        .step(
            "COUNTKEYSINSLOT",
            0,
            RedisCommand::ClusterCountKeysInSlot(slot),
        )
        .await;
    bench
        .step(
            "GETKEYSINSLOT",
            0,
            RedisCommand::ClusterGetKeysInSlot { slot, count: 100 },
        )
        .await;
    let ids = bench.ids.clone();
    for (node, state) in [
        (1, SlotState::Importing(ids[0].clone())),
        (0, SlotState::Migrating(ids[1].clone())),
    ] {
        bench
            .step(
                "SETSLOT",
                node,
                RedisCommand::ClusterSetSlot { slot, state },
            )
            .await;
    }
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let moving = migrate(bench, 1, &keys, true);
    bench.step("MIGRATE", 0, moving).await;
    hand_slot_to_node_1(bench, slot).await;
    bench.checkpoint("slot moved", false, agreed_and_ok).await;
    for line in [
        format!("TYPE {text}"),
        format!("TYPE {hash}"),
        format!("TYPE {list}"),
        format!("TYPE {set}"),
        format!("GET {text}"),
        format!("HGETALL {hash}"),
        format!("LRANGE {list} 0 -1"),
        format!("SMEMBERS {set}"),
        format!("GET {set}"),
        "DBSIZE".to_owned(),
    ] {
        bench.client(1, &line).await;
    }
}

/// Dirty slots: node 1 takes a slot of node 0 without its keys (IMPORTING, then SETSLOT NODE
/// on node 1 alone, which bumps its epoch without consensus); node 0, which still holds keys
/// in the slot and is not importing it, learns the higher-epoch claim by gossip, gives the slot
/// up and deletes those keys, keeping the keys of its other slots.
async fn dirty_slots_script(bench: &mut Bench) {
    meet_and_assign_slots(bench).await;
    bench
        .checkpoint("slots assigned", false, agreed_and_ok)
        .await;
    let (slot, lost) = keys_in_one_slot(0..=2000, 5);
    for key in &lost {
        bench.write(0, key, "dirty");
    }
    let (_, kept) = keys_in_one_slot(3000..=5460, 3);
    for key in &kept {
        bench.write(0, key, "kept");
    }
    bench
        .checkpoint("8 keys written on node 0", false, |facts| {
            agreed_and_ok(facts) && facts[0].keys == 8
        })
        .await;
    let ids = bench.ids.clone();
    for state in [
        SlotState::Importing(ids[0].clone()),
        SlotState::Node(ids[1].clone()),
    ] {
        bench
            .step(
                "SETSLOT on node 1 alone",
                1,
                RedisCommand::ClusterSetSlot { slot, state },
            )
            .await;
    }
    bench
        .checkpoint("node 0 gave the slot up", false, |facts| {
            agreed_and_ok(facts) && facts[0].keys == 3
        })
        .await;
    for node in [0, 1] {
        bench
            .step(
                "COUNTKEYSINSLOT of the slot taken",
                node,
                RedisCommand::ClusterCountKeysInSlot(slot),
            )
            .await;
    }
}

#[tokio::test]
async fn a_node_that_loses_a_slot_to_a_higher_epoch_deletes_its_keys_there_as_real_redis_does() {
    assert_script_alike(4, true, "dirty slots", dirty_slots_script).await;
}

#[tokio::test]
async fn cluster_nodes_refuse_select_and_migrate_keys_of_every_kind_as_real_redis_does() {
    assert_script_alike(4, true, "cluster types", cluster_types_script).await;
}
