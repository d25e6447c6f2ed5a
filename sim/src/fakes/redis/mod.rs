//! Fake Redis servers and sentinels, one per pod address, answering the operator's commands with
//! the replies real Redis gives (rendered by the same format the operator parses).
//!
//! Modelled: 16 databases of string, hash, list and set keys, slots (CRC16 with hash tags),
//! client connections with their selected database, replication with offsets, full resync
//! and asynchronous propagation, Redis Cluster membership with gossip, config epochs, failure
//! detection after the node timeout and replica promotion, slot migration with MIGRATING and
//! IMPORTING, CLUSTER FAILOVER and its variants, FORGET with its ban, and sentinels that monitor,
//! agree and fail a master over. Time moves only through `tick`. Deterministic: ordered maps, no
//! randomness; node ids derive from a counter. Dataset lineages come from a process-wide counter,
//! but they are only compared with each other, never shown or ordered.
//!
//! The parts: `dataset` (databases, keys, slots and replication history), `slot_set` (slot
//! bitmaps), `commands` (what the operator sends), `client_commands` (what a client sends over
//! its connection), `replies` (what it reads), `cluster_bus` (gossip,
//! failure detection and promotion), `sentinel` (monitoring and failover). This file holds the
//! fleet — servers by address, partitions, the command log — and client reads and writes.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use redis_operator::ports::clock::Milliseconds;
use redis_operator::ports::redis::{RedisCommand, RedisEndpoint, RedisError, RedisReply};
use redis_operator::topology::replication::DEFAULT_REPLICA_PRIORITY;
use redis_operator::topology::replies::PreviousHistory;

mod client_commands;
mod cluster_bus;
mod commands;
pub mod dataset;
pub mod full_sync;
mod replication_delay;
mod replies;
mod sentinel;
pub mod slot_set;

pub use client_commands::{ClientConnection, ClientError, WRONGTYPE_MESSAGE};
pub use dataset::{DATABASES, Dataset, Value, key_slot};
pub use slot_set::{SLOT_WORDS, SlotSet};

use cluster_bus::{refresh_last_seen, tick_cluster};
use full_sync::{FullSync, Loading, SyncPhase};
use replication_delay::ReplicationDelay;
use sentinel::tick_sentinels;

/// Milliseconds without contact before cluster nodes mark a peer failed (the operator renders the
/// same value into redis.conf).
pub const NODE_TIMEOUT_MILLISECONDS: Milliseconds = 5000;
/// Milliseconds a forgotten node stays banned from gossip.
pub const FORGET_BAN_MILLISECONDS: Milliseconds = 60_000;

/// What a server runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// A standalone or replication Redis server.
    Plain,
    /// A Redis Cluster node.
    Cluster,
    /// A sentinel.
    Sentinel,
}

/// Who pointed a server at the master it replicates from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum LinkOrigin {
    /// The operator: REPLICAOF, CLUSTER REPLICATE, or the old master of a failover it started.
    #[default]
    Operator,
    /// The sentinels, reconfiguring the members of their group.
    Sentinels,
    /// Redis Cluster itself: a master that learnt a higher epoch for its slots follows their
    /// new owner.
    ClusterBus,
    /// Someone other than the operator sending commands (a human, another tool).
    Bystander,
}

/// Why a server's process stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopCause {
    /// A fault: the pod killed, the process crashed, its node crashed or was drained.
    Fault,
    /// Its pod was removed by anything else: the operator's delete or eviction, or a
    /// StatefulSet's rolling update or scale-in, which the operator asks for.
    Removal,
    /// The StatefulSet's rolling update replaced the pod of a standalone Redis for a template
    /// the user changed: a single server has nothing to hand its keys to, and without
    /// persistence they do not survive the restart the change needs (docs/operations.md).
    StandaloneUpdate,
}

/// Why a server dropped the dataset it held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscardCause {
    /// It restarted without persistence after it stopped for `StopCause`.
    Restart(StopCause),
    /// It learnt that a node with a higher config epoch owns slots it held keys in, and deleted
    /// those keys, as Redis does with a slot it loses (its "dirty slots").
    SlotLost {
        /// Who made that node take the slots.
        claimed_by: LinkOrigin,
    },
    /// A full resync from the master it follows.
    FullResync {
        /// Who pointed it at that master.
        origin: LinkOrigin,
        /// Whether this is the first sync since it was pointed there (otherwise the master's
        /// history changed under a link already in place: the master restarted or changed role).
        first_since_pointed: bool,
        /// When it was a master replaced in a failover while it was down or cut off: the last
        /// time the replica promoted in its place synced from it. What it acknowledged later is
        /// the asynchronous-replication window Redis itself loses.
        superseded_after: Option<Milliseconds>,
    },
}

impl DiscardCause {
    /// Whether a write acknowledged at `written_at` that this discard dropped may be lost: Redis
    /// itself or a fault dropped it, not the operator.
    pub fn excuses(self, written_at: Milliseconds) -> bool {
        match self {
            DiscardCause::Restart(cause) => {
                matches!(cause, StopCause::Fault | StopCause::StandaloneUpdate)
            }
            DiscardCause::SlotLost { claimed_by } => !matches!(claimed_by, LinkOrigin::Operator),
            DiscardCause::FullResync {
                origin,
                first_since_pointed,
                superseded_after,
            } => {
                in_a_failover_window(superseded_after, written_at)
                    || !first_since_pointed
                    || !matches!(origin, LinkOrigin::Operator)
            }
        }
    }
}

/// Whether a write acknowledged at `written_at` by a master a failover replaced, after the
/// promoted replica's last sync from it at `superseded_after`, is in the window that failover
/// loses.
fn in_a_failover_window(superseded_after: Option<Milliseconds>, written_at: Milliseconds) -> bool {
    superseded_after.is_some_and(|after| written_at >= after)
}

/// A dataset a server dropped, with what it holds instead: the lost-writes oracle finds in
/// these who dropped the last copy of a write.
#[derive(Clone, Debug)]
pub struct Discard {
    /// When.
    pub at: Milliseconds,
    /// The pod whose server dropped it.
    pub pod: Arc<str>,
    /// Why.
    pub cause: DiscardCause,
    /// What it held before.
    pub dropped: Dataset,
    /// What it holds after.
    pub kept: Dataset,
}

impl Discard {
    /// Whether this discard dropped `value` of `key`.
    pub fn dropped_value(&self, key: &str, value: &str) -> bool {
        self.dropped.get(key) == Some(value) && self.kept.get(key) != Some(value)
    }
}

/// A cluster node's knowledge of another node.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Peer {
    /// The address this node reaches it at: the one it was introduced or last seen at. A peer
    /// that moves is reached again only once it pings this node from its new address or a node
    /// that reaches it tells of that address while this one holds it possibly failed.
    ip: String,
    port: u16,
    /// The hostname it announces (its pod's name), which Redis 7 spreads in ping extensions.
    hostname: String,
    master_id: Option<String>,
    slots: SlotSet,
    epoch: u64,
    /// `fail?`: this node has not reached it for the node timeout.
    possibly_failed: bool,
    /// `fail`: a majority of the masters serving slots agreed it failed (or a node that saw
    /// that agreement told this one).
    failed: bool,
    handshake: bool,
}

/// What a sentinel monitors under one group name.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Monitor {
    ip: String,
    port: u16,
    quorum: u32,
    down_after: u64,
    failover_timeout: u64,
    parallel_syncs: u32,
    epoch: u64,
    down_since: Option<Milliseconds>,
    /// Servers the sentinel knows as members of the group: replicas it saw following the
    /// master, and former masters, which it turns into replicas when they come back.
    members: BTreeSet<String>,
    /// Since when each member has been seen with the wrong role (a master, or a replica of
    /// another master).
    wrong_role_since: BTreeMap<String, Milliseconds>,
}

/// One server.
#[derive(Clone, Debug)]
pub struct Server {
    /// Pod name.
    pub pod: Arc<str>,
    /// Address.
    pub ip: String,
    /// Port.
    pub port: u16,
    /// What it runs.
    pub kind: ServerKind,
    /// Whether the process runs.
    pub alive: bool,
    /// Its dataset.
    pub data: Dataset,
    /// Offset of the replication stream it has applied.
    pub offset: u64,
    /// Whether it has a replication backlog: created when it first serves or follows a master,
    /// as in Redis. Without one, writes do not advance the offset.
    backlog: bool,
    replication_id: String,
    /// The history it continues (`master_replid2`, `second_repl_offset`): its former master's,
    /// kept when it was promoted, as Redis keeps it; none after a restart or a full resync.
    previous_history: Option<PreviousHistory>,
    /// Master it replicates from, when a replica.
    pub master: Option<(String, u16)>,
    /// `replica-priority`: the sentinels never promote a replica at 0. The configuration file's
    /// 100 after every start.
    pub replica_priority: u32,
    link_up: bool,
    /// Who pointed it at its master (or, in a cluster, at the master it follows).
    link_origin: LinkOrigin,
    /// Whether it synced from its master since it was pointed there.
    synced_since_pointed: bool,
    /// When a replica was promoted in its place while it was down or cut off: that replica's last
    /// sync from it (see [`DiscardCause::FullResync`]); cleared by the resync that turns it into
    /// a replica. A replica of such a master carries the master's time: it holds that master's
    /// later writes, which the same failover loses.
    superseded_after: Option<Milliseconds>,
    /// When it last synced from the master it follows now; `None` since it was pointed there
    /// until it syncs.
    last_synced_at: Option<Milliseconds>,
    /// Why its process stopped, while it is stopped.
    stopped_by: Option<StopCause>,
    /// The full resync it waits for or receives, until the dataset arrives.
    full_sync: Option<FullSync>,
    /// The dataset it loads (after a full resync, or from its files after a start).
    loading: Option<Loading>,
    // Cluster state.
    /// Cluster node id.
    pub node_id: String,
    epoch: u64,
    /// Who made it take slots at its current epoch: the operator (CLUSTER SETSLOT NODE, CLUSTER
    /// FAILOVER) or Redis Cluster (a replica promoted in place of a failed master).
    claim_origin: LinkOrigin,
    /// Slots it owns (cluster).
    pub slots: SlotSet,
    /// Slots it is migrating away, with the node each goes to.
    migrating: BTreeMap<u16, String>,
    /// Slots it is importing, with the node each comes from.
    importing: BTreeMap<u16, String>,
    cluster_master: Option<String>,
    /// Shared until changed: the gossip rounds and the kept CLUSTER NODES reply copy it.
    peers: Arc<BTreeMap<String, Peer>>,
    banned: imbl::OrdMap<String, Milliseconds>,
    last_seen: imbl::OrdMap<String, Milliseconds>,
    // Sentinel state.
    monitors: BTreeMap<String, Monitor>,
    /// Its last CLUSTER NODES reply and what it was rendered from.
    cluster_nodes_reply: RefCell<Option<RenderedClusterNodes>>,
}

/// A rendered CLUSTER NODES reply with the state it shows. It holds that state's shared parts
/// (peer table, slot bitmap), so they cannot change in place while it is kept: a change copies
/// them first, and the reply is rendered again when either is no longer the same allocation or
/// a plain field differs. Only a reply without slot markers is kept, so a migration's markers
/// are never copied for it. A quiet cluster is observed on every reconcile.
#[derive(Clone, Debug)]
struct RenderedClusterNodes {
    peers: Arc<BTreeMap<String, Peer>>,
    slots: SlotSet,
    node_id: String,
    ip: String,
    port: u16,
    epoch: u64,
    cluster_master: Option<String>,
    text: String,
}

impl RenderedClusterNodes {
    fn shows(&self, server: &Server) -> bool {
        Arc::ptr_eq(&self.peers, &server.peers)
            && self.slots.same_bitmap(&server.slots)
            && server.migrating.is_empty()
            && server.importing.is_empty()
            && self.node_id == server.node_id
            && self.ip == server.ip
            && self.port == server.port
            && self.epoch == server.epoch
            && self.cluster_master == server.cluster_master
    }
}

impl Server {
    /// Whether a write it acknowledged at `written_at` is in the window lost by a failover that
    /// replaced it (see [`DiscardCause::FullResync`]).
    pub fn lost_to_a_failover(&self, written_at: Milliseconds) -> bool {
        in_a_failover_window(self.superseded_after, written_at)
    }

    /// The address this cluster node's table holds for node `id`, if it knows one (not `noaddr`).
    fn table_address(&self, id: &str) -> Option<(String, u16)> {
        self.peers
            .get(id)
            .filter(|peer| !peer.ip.is_empty())
            .map(|peer| (peer.ip.clone(), peer.port))
    }

    /// For a sentinel: the masters it monitors, as (group name, address, port).
    pub fn monitored_masters(&self) -> Vec<(String, String, u16)> {
        self.monitors
            .iter()
            .map(|(group, monitor)| (group.clone(), monitor.ip.clone(), monitor.port))
            .collect()
    }

    /// For a cluster node: whether its CLUSTER INFO says `cluster_state:ok`.
    pub fn cluster_state_ok(&self) -> bool {
        replies::cluster_info(self).state_ok
    }

    /// For a cluster node: whether it is a replica (of the node with this id).
    pub fn cluster_master_id(&self) -> Option<&str> {
        self.cluster_master.as_deref()
    }

    /// Points it at a master to replicate from.
    fn point_at(&mut self, master: (String, u16), origin: LinkOrigin) {
        self.master = Some(master);
        self.pointed(origin);
    }

    /// Records who pointed it at the master it follows now: what its next full resync drops is
    /// held against them.
    fn pointed(&mut self, origin: LinkOrigin) {
        self.link_origin = origin;
        self.synced_since_pointed = false;
        self.last_synced_at = None;
        self.full_sync = None;
    }

    /// Whether it can carry on from `master` with a partial resync (PSYNC): it is at an earlier
    /// point of the master's replication history, or of the history the master continued when
    /// it was promoted. The fake has no backlog size: a replica of the same history is never too
    /// far behind for a partial resync (docs/simulator.md, known limits).
    fn continues_history_of(&self, master: &Server) -> bool {
        (self.replication_id == master.replication_id && self.offset <= master.offset)
            || master.previous_history.as_ref().is_some_and(|previous| {
                previous.replication_id == self.replication_id && self.offset < previous.ends_at
            })
    }

    /// Whether it loads a dataset at `now`, answering LOADING to all but INFO and CONFIG.
    pub fn loading_at(&self, now: Milliseconds) -> bool {
        self.loading.is_some_and(|loading| loading.runs_at(now))
    }

    /// The phase of the full resync it waits for or receives at `now`, if any.
    fn sync_phase(&self, now: Milliseconds) -> Option<SyncPhase> {
        self.full_sync.as_ref().map(|sync| sync.phase(now))
    }
}

/// Something the fleet recorded for the oracles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRecord {
    /// The pod the command went to.
    pub pod: Arc<str>,
    /// The command's name.
    pub command: &'static str,
    /// Keys the target held when the command arrived.
    pub keys_held: usize,
    /// For REPLICAOF host port: keys the new master held (an empty master over a node holding
    /// data would wipe it).
    pub master_keys: Option<usize>,
}

/// The records of writing commands, in chunks of fixed capacity: a migration sends tens of
/// thousands, and one growing vector copied all it held each time it grew.
#[derive(Default)]
struct CommandLog {
    chunks: Vec<Vec<CommandRecord>>,
    len: usize,
}

/// Records per chunk of a [`CommandLog`].
const COMMAND_LOG_CHUNK: usize = 4096;

impl CommandLog {
    fn push(&mut self, record: CommandRecord) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < COMMAND_LOG_CHUNK => chunk.push(record),
            _ => {
                let mut chunk = Vec::with_capacity(COMMAND_LOG_CHUNK);
                chunk.push(record);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    /// The records after the first `skip`, in order.
    fn since(&self, skip: usize) -> impl Iterator<Item = &CommandRecord> {
        let first_chunk = skip / COMMAND_LOG_CHUNK;
        self.chunks
            .iter()
            .skip(first_chunk)
            .flatten()
            .skip(skip % COMMAND_LOG_CHUNK)
    }
}

#[derive(Default)]
struct Fleet {
    servers: BTreeMap<String, Server>,
    now: Milliseconds,
    next_id: u64,
    commands: CommandLog,
    /// Who sends the commands [`Fleet::run`] executes: the operator unless a bystander's are run.
    command_origin: LinkOrigin,
    /// Every dataset a server dropped while it held keys, oldest first.
    discards: Vec<Discard>,
    /// Addresses servers left when their pod restarted elsewhere, with the pod.
    former_addresses: BTreeMap<String, Arc<str>>,
    /// Every command the operator sent, reads included, whether or not the server answered.
    commands_sent: u64,
    /// Counts starts and stops of servers, so that a kubelet can tell when nothing changed.
    liveness_version: u64,
    /// Addresses the operator cannot reach (partition operator ↔ pod).
    cut_from_operator: BTreeSet<String>,
    /// Pairs of addresses that cannot reach each other.
    cut_between: BTreeSet<(String, String)>,
    /// Addresses clients cannot reach (partition clients ↔ pod).
    cut_from_clients: BTreeSet<String>,
    /// Counts changes a gossip round reads: writing commands, servers starting, stopping or going,
    /// and partitions. Reads and client writes change no table and are not counted. Moved only by
    /// [`Fleet::membership_changed`].
    membership_version: u64,
    /// The `membership_version` at the end of a gossip round that changed nothing but when nodes
    /// last saw each other, and after which nothing can change by time alone: every node reached
    /// every peer it knows, none is marked failed, no ban is running. Until the version moves,
    /// later rounds would change nothing either, and only the last-seen times are refreshed.
    settled_at: Option<u64>,
    /// The time of the latest settled round whose last-seen refresh is not yet written: settled
    /// rounds only record it, and the refresh is written once, before anything changes what a
    /// round reads (every node then last saw every peer it knows at that time, exactly as if each
    /// settled round had written it).
    pending_refresh: Option<Milliseconds>,
    /// Keys per second of the transfers and loads that start now, when the `slow-sync` fault
    /// lowers it; normal speed otherwise.
    slow_sync: Option<u64>,
    /// Slow links between servers (the `latency` fault) and what crosses them late.
    replication_delay: ReplicationDelay,
}

/// The fake Redis fleet; cheap to clone, all clones share one fleet.
#[derive(Clone, Default)]
pub struct FakeRedis {
    fleet: Arc<Mutex<Fleet>>,
}

fn unreachable(endpoint: &RedisEndpoint, message: &str) -> RedisError {
    RedisError::Unreachable {
        endpoint: endpoint.to_string(),
        message: message.to_owned(),
    }
}

fn rejected(endpoint: &RedisEndpoint, command: &RedisCommand, message: &str) -> RedisError {
    RedisError::Rejected {
        endpoint: endpoint.to_string(),
        command: command.name().to_owned(),
        message: message.to_owned(),
    }
}

fn ok() -> RedisReply {
    RedisReply::Status("OK".to_owned())
}

impl Fleet {
    /// Something a gossip round reads is about to change: writes the refresh that settled rounds
    /// left pending, then moves the membership version.
    fn membership_changed(&mut self) {
        if let Some(at) = self.pending_refresh.take() {
            refresh_last_seen(self, at);
        }
        self.membership_version += 1;
    }

    fn connected(&self, left: &str, right: &str) -> bool {
        let alive = |ip: &str| self.servers.get(ip).is_some_and(|server| server.alive);
        alive(left) && alive(right) && !self.cut(left, right)
    }

    /// Whether a partition separates the two addresses.
    fn cut(&self, left: &str, right: &str) -> bool {
        !self.cut_between.is_empty()
            && (self
                .cut_between
                .contains(&(left.to_owned(), right.to_owned()))
                || self
                    .cut_between
                    .contains(&(right.to_owned(), left.to_owned())))
    }

    /// A replica at `promoted_ip` took over from the master at `old_ip`: when that master was
    /// down or cut off from it, what the master acknowledged after the replica's last sync from
    /// it is the window a failover loses. A master that was alive and reachable when the
    /// operator promoted a replica is not superseded: a promotion behind it loses nothing it may
    /// lose. When the sentinels or Redis Cluster (`chosen_by_redis`) promote a replica, the old
    /// master is superseded even when the replica still reaches it (the sentinels, not the
    /// replica, lost sight of it): what it acknowledges after the promotion is lost when it is
    /// made a replica, as Redis documents. When they promote a replica that never synced from
    /// that master, all the master acknowledged is that window; a replica the operator promotes
    /// without a sync excuses nothing, as the operator chose it.
    fn supersede(&mut self, old_ip: &str, promoted_ip: &str, chosen_by_redis: bool) {
        if !chosen_by_redis && self.connected(old_ip, promoted_ip) {
            return;
        }
        let last_sync = self
            .servers
            .get(promoted_ip)
            .and_then(|promoted| promoted.last_synced_at)
            .or(chosen_by_redis.then_some(0));
        // A master whose pod came back at a new address, with its data, is the same master.
        let old_ip = match self.former_addresses.get(old_ip) {
            Some(pod) if !self.servers.contains_key(old_ip) => self
                .servers
                .values()
                .find(|server| server.pod == *pod)
                .map(|server| server.ip.clone()),
            _ => Some(old_ip.to_owned()),
        };
        if let Some(old) = old_ip.and_then(|ip| self.servers.get_mut(&ip))
            && let Some(last_sync) = last_sync
        {
            old.superseded_after = Some(last_sync);
        }
    }

    fn id_to_ip(&self, id: &str) -> Option<String> {
        self.servers
            .values()
            .find(|server| server.kind == ServerKind::Cluster && server.node_id == id)
            .map(|server| server.ip.clone())
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!(
            "{:024x}{:016x}",
            self.next_id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            self.next_id
        )
    }

    /// The highest config epoch any node knows (Redis' `currentEpoch`), including epochs of
    /// nodes that live on only in their peers' tables.
    fn max_epoch(&self) -> u64 {
        self.servers
            .values()
            .flat_map(|server| {
                std::iter::once(server.epoch).chain(server.peers.values().map(|peer| peer.epoch))
            })
            .max()
            .unwrap_or(0)
    }

    /// Copies the master's dataset to a replica (full resync) when the link allows.
    fn sync_replica(&mut self, replica_ip: &str) {
        if self.replica_in_sync(replica_ip) {
            return;
        }
        let Some((master_ip, _)) = self
            .servers
            .get(replica_ip)
            .and_then(|server| server.master.clone())
        else {
            return;
        };
        let reachable = self.connected(replica_ip, &master_ip);
        if reachable && !self.full_sync_received(replica_ip, &master_ip) {
            return;
        }
        // Taken out while it follows the master, which lives in the same map.
        let mut data = match self.servers.get_mut(replica_ip) {
            Some(replica) if reachable => std::mem::take(&mut replica.data),
            _ => Dataset::default(),
        };
        let before = data.clone();
        let mut copied_whole = false;
        let master = self.servers.get(&master_ip).map(|master| {
            if reachable {
                copied_whole = data.follow(&master.data);
            }
            (
                master.offset,
                master.replication_id.clone(),
                master.previous_history.clone(),
                master.superseded_after,
            )
        });
        let now = self.now;
        let speed = self.sync_speed();
        let mut discard = None;
        let mut started_loading = false;
        if let Some(replica) = self.servers.get_mut(replica_ip) {
            if reachable && replica.full_sync.take().is_some() {
                replica.loading = Loading::of(data.len(), now, speed);
                started_loading = replica.loading.is_some();
            }
            if reachable {
                if copied_whole && !before.is_empty() {
                    discard = Some(Discard {
                        at: now,
                        pod: replica.pod.clone(),
                        cause: DiscardCause::FullResync {
                            origin: replica.link_origin,
                            first_since_pointed: !replica.synced_since_pointed,
                            superseded_after: replica.superseded_after,
                        },
                        dropped: before,
                        kept: data.clone(),
                    });
                }
                replica.data = data;
            }
            match (reachable, master) {
                (true, Some((offset, replication_id, previous_history, master_superseded))) => {
                    // A replica that held the history its new master continues carries on with
                    // it (a partial resync in Redis); any other starts over from the master's.
                    let continues = replica.replication_id == replication_id
                        || previous_history.as_ref().is_some_and(|previous| {
                            previous.replication_id == replica.replication_id
                        });
                    replica.previous_history = if continues { previous_history } else { None };
                    replica.offset = offset;
                    replica.backlog = true;
                    replica.replication_id = replication_id;
                    replica.link_up = true;
                    replica.synced_since_pointed = true;
                    // A replica of a master replaced in a failover holds what that master
                    // acknowledged after it was replaced: the same window Redis loses.
                    replica.superseded_after = master_superseded;
                    replica.last_synced_at = Some(now);
                }
                _ => {
                    // A transfer under way breaks with the link; the next one starts over.
                    replica.link_up = false;
                    replica.full_sync = None;
                }
            }
        }
        if let Some(discard) = discard {
            self.discards.push(discard);
        }
        // It stops answering PING: its readiness changes.
        if started_loading {
            self.liveness_version += 1;
        }
        let linked = self
            .servers
            .get(replica_ip)
            .is_some_and(|replica| replica.link_up);
        if linked && let Some(master) = self.servers.get_mut(&master_ip) {
            master.backlog = true;
        }
    }

    /// Keys per second of a transfer or load that starts now.
    fn sync_speed(&self) -> u64 {
        self.slow_sync.unwrap_or(full_sync::NORMAL_KEYS_PER_SECOND)
    }

    /// Whether the replica at `replica_ip` may take the dataset of its master at `master_ip` now:
    /// at once when it continues the master's history (a partial resync), once the full
    /// resync's transfer has ended otherwise. Starts that full resync when none runs from this
    /// master at its current history.
    fn full_sync_received(&mut self, replica_ip: &str, master_ip: &str) -> bool {
        let (now, speed) = (self.now, self.sync_speed());
        let Some(master) = self.servers.get(master_ip) else {
            return true;
        };
        let (history, keys) = (master.replication_id.clone(), master.data.len());
        let continues = self
            .servers
            .get(replica_ip)
            .is_some_and(|replica| replica.continues_history_of(master));
        let Some(replica) = self.servers.get_mut(replica_ip) else {
            return true;
        };
        if continues {
            replica.full_sync = None;
            return true;
        }
        let current = replica
            .full_sync
            .as_ref()
            .filter(|sync| sync.master_ip == master_ip && sync.master_history == history);
        match current {
            Some(sync) => sync.phase(now) == SyncPhase::Received,
            None => {
                replica.full_sync = Some(FullSync::start(master_ip, &history, now, keys, speed));
                replica.link_up = false;
                false
            }
        }
    }

    /// Turns the server at `ip` into a master, as `REPLICAOF NO ONE`, a sentinel's promotion and
    /// `FAILOVER` do in Redis: it starts a new replication history and keeps the one it followed
    /// as its second, so the replicas of that history can continue from it.
    pub(super) fn promote(&mut self, ip: &str) {
        let replication_id = self.new_id();
        if let Some(server) = self.servers.get_mut(ip) {
            server.master = None;
            server.link_up = false;
            server.full_sync = None;
            let followed = std::mem::replace(&mut server.replication_id, replication_id);
            server.previous_history = Some(PreviousHistory {
                replication_id: followed,
                ends_at: server.offset.saturating_add(1),
            });
        }
    }

    /// Whether the replica at `replica_ip` is linked to its master and holds exactly what the
    /// master holds, so that [`Fleet::sync_replica`] would change nothing: every replica is synced
    /// every step, and most steps write nothing.
    fn replica_in_sync(&self, replica_ip: &str) -> bool {
        let Some(replica) = self.servers.get(replica_ip) else {
            return false;
        };
        let Some((master_ip, _)) = &replica.master else {
            return false;
        };
        let Some(master) = self.servers.get(master_ip) else {
            return false;
        };
        replica.link_up
            && replica.backlog
            && master.backlog
            && replica.offset == master.offset
            && replica.replication_id == master.replication_id
            && replica.data.holds_all_of(&master.data)
            && self.connected(replica_ip, master_ip)
    }
}

impl FakeRedis {
    /// An empty fleet.
    pub fn new() -> FakeRedis {
        FakeRedis::default()
    }

    fn lock(&self) -> MutexGuard<'_, Fleet> {
        self.fleet
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a server for `pod` at `ip`. A server that ran there before under the same pod keeps
    /// its data when `keep_data` and its cluster identity when `keep_identity` (nodes.conf).
    pub fn start(
        &self,
        pod: &str,
        ip: &str,
        port: u16,
        kind: ServerKind,
        keep_data: bool,
        keep_identity: bool,
    ) {
        let mut fleet = self.lock();
        let previous_address = fleet
            .servers
            .iter()
            .find(|(_, server)| &*server.pod == pod)
            .map(|(address, _)| address.clone());
        if let Some(address) = previous_address.as_ref().filter(|address| *address != ip) {
            fleet
                .former_addresses
                .insert(address.clone(), Arc::from(pod));
        }
        let previous = previous_address.and_then(|address| fleet.servers.remove(&address));
        let fresh_id = fleet.new_id();
        let replication_id = fleet.new_id();
        let mut server = Server {
            pod: Arc::from(pod),
            ip: ip.to_owned(),
            port,
            kind,
            alive: true,
            data: Dataset::new(),
            offset: 0,
            backlog: false,
            replication_id,
            previous_history: None,
            master: None,
            replica_priority: DEFAULT_REPLICA_PRIORITY,
            link_up: false,
            link_origin: LinkOrigin::Operator,
            synced_since_pointed: true,
            superseded_after: None,
            last_synced_at: None,
            stopped_by: None,
            full_sync: None,
            loading: None,
            node_id: fresh_id,
            epoch: 0,
            claim_origin: LinkOrigin::Operator,
            slots: SlotSet::default(),
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            cluster_master: None,
            peers: Arc::default(),
            banned: imbl::OrdMap::new(),
            last_seen: imbl::OrdMap::new(),
            monitors: BTreeMap::new(),
            cluster_nodes_reply: RefCell::default(),
        };
        if let Some(old) = previous {
            if keep_data {
                server.data = old.data;
                server.offset = old.offset;
                server.superseded_after = old.superseded_after;
                // It reads its files before it answers.
                server.loading = Loading::of(server.data.len(), fleet.now, fleet.sync_speed());
            } else if !old.data.is_empty() {
                let cause = if old.alive {
                    StopCause::Removal
                } else {
                    old.stopped_by.unwrap_or(StopCause::Removal)
                };
                let at = fleet.now;
                fleet.discards.push(Discard {
                    at,
                    pod: old.pod.clone(),
                    cause: DiscardCause::Restart(cause),
                    dropped: old.data,
                    kept: Dataset::default(),
                });
            }
            if keep_identity && kind == ServerKind::Cluster {
                server.node_id = old.node_id.clone();
                server.epoch = old.epoch;
                server.claim_origin = old.claim_origin;
                server.slots = old.slots;
                server.migrating = old.migrating.clone();
                server.importing = old.importing.clone();
                server.cluster_master = old.cluster_master.clone();
                server.link_origin = old.link_origin;
                server.peers = old.peers.clone();
                for peer in Arc::make_mut(&mut server.peers).values_mut() {
                    peer.failed = false;
                    peer.possibly_failed = false;
                }
            }
        }
        fleet.servers.insert(ip.to_owned(), server);
        fleet.liveness_version += 1;
        fleet.membership_changed();
    }

    /// Changes whenever a server starts or stops, or starts or ends loading a dataset.
    pub fn liveness_version(&self) -> u64 {
        self.lock().liveness_version
    }

    /// Stops the server at `ip` (process crash or pod deletion) for `cause`; its state stays for
    /// a restart.
    pub fn stop(&self, ip: &str, cause: StopCause) {
        let mut fleet = self.lock();
        if let Some(server) = fleet.servers.get_mut(ip)
            && server.alive
        {
            server.alive = false;
            server.stopped_by = Some(cause);
            fleet.liveness_version += 1;
            fleet.membership_changed();
        }
    }

    /// Cuts (or heals) the operator's access to `ip`.
    pub fn set_operator_partition(&self, ip: &str, cut: bool) {
        let mut fleet = self.lock();
        fleet.membership_changed();
        if cut {
            fleet.cut_from_operator.insert(ip.to_owned());
        } else {
            fleet.cut_from_operator.remove(ip);
        }
    }

    /// Cuts (or heals) clients' access to `ip`: their writes to it, or redirected to it, fail.
    pub fn set_client_partition(&self, ip: &str, cut: bool) {
        let mut fleet = self.lock();
        if cut {
            fleet.cut_from_clients.insert(ip.to_owned());
        } else {
            fleet.cut_from_clients.remove(ip);
        }
    }

    /// Cuts (or heals) the link between two servers.
    pub fn set_partition(&self, left: &str, right: &str, cut: bool) {
        let mut fleet = self.lock();
        fleet.membership_changed();
        let pair = (left.to_owned(), right.to_owned());
        if cut {
            fleet.cut_between.insert(pair);
        } else {
            fleet.cut_between.remove(&pair);
        }
    }

    /// Sets the one-way latency between two servers (0 ends it): the replication stream between
    /// them arrives that much later (see `replication_delay`).
    pub fn set_latency(&self, left: &str, right: &str, delay: Milliseconds) {
        let mut fleet = self.lock();
        fleet.replication_delay.set(left, right, delay);
        // What the servers hold now is what had crossed the link when it turned slow.
        fleet.record_streams();
    }

    /// Every command the operator sent that writes, with the keys its target held.
    pub fn command_log(&self) -> Vec<CommandRecord> {
        self.lock().commands.since(0).cloned().collect()
    }

    /// How many commands the operator has sent, reads included, answered or not.
    pub fn commands_sent(&self) -> u64 {
        self.lock().commands_sent
    }

    /// How many writing commands the operator has sent (the length of [`FakeRedis::command_log`]).
    pub fn writes_sent(&self) -> usize {
        self.lock().commands.len
    }

    /// Reads the commands recorded after the first `skip` in place.
    pub fn with_commands_since<T>(
        &self,
        skip: usize,
        read: impl FnOnce(&mut dyn Iterator<Item = &CommandRecord>) -> T,
    ) -> T {
        let fleet = self.lock();
        read(&mut fleet.commands.since(skip))
    }

    /// A copy of the server at `ip`.
    pub fn server(&self, ip: &str) -> Option<Server> {
        self.lock().servers.get(ip).cloned()
    }

    /// Whether a server process runs at `ip`.
    pub fn is_alive(&self, ip: &str) -> bool {
        self.lock()
            .servers
            .get(ip)
            .is_some_and(|server| server.alive)
    }

    /// Whether the server at `ip` runs and answers PING (it does not while it loads a dataset):
    /// what the pods' readiness probe checks.
    pub fn answers_ping(&self, ip: &str) -> bool {
        let fleet = self.lock();
        fleet
            .servers
            .get(ip)
            .is_some_and(|server| server.alive && !server.loading_at(fleet.now))
    }

    /// Makes transfers and loads that start from now on run at `keys_per_second` (the
    /// `slow-sync` fault); `None` restores normal speed.
    pub fn set_slow_sync(&self, keys_per_second: Option<u64>) {
        self.lock().slow_sync = keys_per_second;
    }

    /// Reads every server, by address, without copying them (the oracles look at every server
    /// every step). `read` must not call back into the fleet.
    pub fn with_servers<T>(&self, read: impl FnOnce(&BTreeMap<String, Server>) -> T) -> T {
        read(&self.lock().servers)
    }

    /// Copies of every server, by address.
    pub fn servers(&self) -> Vec<Server> {
        self.lock().servers.values().cloned().collect()
    }

    /// Reads every dataset a server dropped while it held keys, oldest first.
    pub fn with_discards<T>(&self, read: impl FnOnce(&[Discard]) -> T) -> T {
        read(&self.lock().discards)
    }

    /// A client write: to the master that serves the key (cluster) or to the server at `ip`.
    /// Returns whether it was acknowledged.
    pub fn client_write(&self, ip: &str, key: &str, value: &str) -> bool {
        let mut fleet = self.lock();
        let Some(server) = fleet.servers.get(ip) else {
            return false;
        };
        if !server.alive
            || server.master.is_some()
            || server.cluster_master.is_some()
            || fleet.cut_from_clients.contains(ip)
        {
            return false;
        }
        let target = if server.kind == ServerKind::Cluster {
            let slot = key_slot(key);
            let owner = fleet
                .servers
                .values()
                .filter(|candidate| candidate.alive && candidate.kind == ServerKind::Cluster)
                .filter(|candidate| candidate.slots.contains(&slot))
                .max_by_key(|candidate| candidate.epoch)
                .map(|candidate| candidate.ip.clone());
            let Some(owner) = owner else { return false };
            // A slot being migrated: a key already moved lives on the importing node (ASK).
            match fleet.servers.get(&owner) {
                Some(owner_server)
                    if owner_server.migrating.contains_key(&slot)
                        && !owner_server.data.contains_key(key) =>
                {
                    let importer = owner_server
                        .migrating
                        .get(&slot)
                        .and_then(|id| fleet.id_to_ip(id));
                    match importer {
                        Some(importer) => importer,
                        None => owner,
                    }
                }
                _ => owner,
            }
        } else {
            ip.to_owned()
        };
        let now = fleet.now;
        if fleet.cut_from_clients.contains(&target) {
            return false;
        }
        match fleet.servers.get_mut(&target) {
            Some(server) if server.alive && !server.loading_at(now) => {
                server.data.insert(key, value);
                if server.backlog {
                    server.offset += 1;
                }
                true
            }
            _ => false,
        }
    }

    /// The value of `key` wherever the cluster (or the server at `ip`) serves it.
    pub fn client_read(&self, ip: &str, key: &str) -> Option<String> {
        self.with_client_reads(ip, |read| read(key).map(|value| value.to_string()))
    }

    /// Hands `reads` a reader that answers as [`FakeRedis::client_read`] does, for reading many
    /// keys under one look at the fleet.
    pub fn with_client_reads<T>(
        &self,
        ip: &str,
        reads: impl FnOnce(&dyn Fn(&str) -> Option<Arc<str>>) -> T,
    ) -> T {
        let fleet = self.lock();
        let entry = fleet.servers.get(ip);
        let masters: Vec<&Server> = fleet
            .servers
            .values()
            .filter(|candidate| {
                candidate.alive
                    && candidate.kind == ServerKind::Cluster
                    && candidate.cluster_master.is_none()
            })
            .collect();
        let read = |key: &str| -> Option<Arc<str>> {
            let server = entry?;
            if server.kind != ServerKind::Cluster {
                return server.data.shared_value(key).cloned();
            }
            let slot = key_slot(key);
            masters
                .iter()
                .filter(|candidate| {
                    candidate.slots.contains(&slot) || candidate.importing.contains_key(&slot)
                })
                .find_map(|candidate| candidate.data.value_in_slot(slot, key).cloned())
        };
        reads(&read)
    }

    /// Moves simulated time to `now`: replication, gossip, failure detection, promotions and
    /// sentinel failovers happen here.
    pub fn tick(&self, now: Milliseconds) {
        let mut fleet = self.lock();
        fleet.now = now;
        let mut loads_ended = false;
        for server in fleet.servers.values_mut() {
            if server.loading.is_some_and(|loading| !loading.runs_at(now)) {
                server.loading = None;
                loads_ended = true;
            }
        }
        // Those servers answer PING again: their readiness changes.
        if loads_ended {
            fleet.liveness_version += 1;
        }
        fleet.record_streams();
        let addresses: Vec<String> = fleet.servers.keys().cloned().collect();
        // Replication: replicas follow their masters (late over a slow link).
        for address in &addresses {
            let is_replica = fleet
                .servers
                .get(address)
                .is_some_and(|server| server.alive && server.master.is_some());
            if is_replica {
                fleet.stream_to_replica(address);
            }
        }
        tick_cluster(&mut fleet, &addresses);
        tick_sentinels(&mut fleet, &addresses);
    }
}
