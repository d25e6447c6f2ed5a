//! Fake Redis servers and sentinels, one per pod address, answering the operator's commands with
//! the replies real Redis gives (rendered by the same format the operator parses).
//!
//! Modelled: string keys and slots (CRC16 with hash tags), replication with offsets, full resync
//! and asynchronous propagation, Redis Cluster membership with gossip, config epochs, failure
//! detection after the node timeout and replica promotion, slot migration with MIGRATING and
//! IMPORTING, CLUSTER FAILOVER and its variants, FORGET with its ban, and sentinels that monitor,
//! agree and fail a master over. Time moves only through `tick`. Deterministic: ordered maps, no
//! randomness; node ids derive from a counter. Dataset lineages come from a process-wide counter,
//! but they are only compared with each other, never shown or ordered.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use async_trait::async_trait;
use redis_operator::ports::clock::Milliseconds;
use redis_operator::ports::redis::{
    FailoverMode, RedisAdmin, RedisCommand, RedisEndpoint, RedisError, RedisReply, SlotState,
};
use redis_operator::topology::cluster::BUS_PORT_OFFSET;
use redis_operator::topology::replies::{
    ClusterInfo, ClusterNode, NodeAddress, NodeFlags, ReplicaEntry, ReplicationInfo,
    ReplicationRole, SentinelMaster, render_cluster_info, render_cluster_nodes,
    render_info_replication, render_master_address, render_sentinel_masters,
};
use redis_operator::topology::slots::SLOT_COUNT;

/// Milliseconds without contact before cluster nodes mark a peer failed (the operator renders the
/// same value into redis.conf).
pub const NODE_TIMEOUT_MILLISECONDS: Milliseconds = 5000;
/// Milliseconds a forgotten node stays banned from gossip.
pub const FORGET_BAN_MILLISECONDS: Milliseconds = 60_000;

/// The slot of a key, as Redis Cluster computes it (CRC16/XMODEM of the key or its hash tag).
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = match key.find('{') {
        Some(open) => match key[open + 1..].find('}') {
            Some(length) if length > 0 => &bytes[open + 1..open + 1 + length],
            _ => bytes,
        },
        None => bytes,
    };
    let mut crc: u16 = 0;
    for byte in hashed {
        crc = (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ *byte)];
    }
    crc % SLOT_COUNT
}

/// CRC16-CCITT (XMODEM, polynomial 0x1021) of every byte value, as Redis's `crc16.c` tabulates
/// it: one lookup per byte of a key instead of eight shifts.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut index = 0;
    while index < 256 {
        let mut crc = (index as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[index] = crc;
        index += 1;
    }
    table
};

/// A dataset of string keys, grouped by slot: slot queries read one group, and a key is found by
/// its slot first, so lookups compare small integers rather than keys.
///
/// Replicas follow their master's dataset by replaying its recent changes, as Redis replicas
/// apply the replication stream: each dataset belongs to a lineage (a history of changes) and
/// knows how far along it is. A dataset that changes on its own (a client write, MIGRATE) starts
/// a lineage of its own unless it already owns one, so a follower replays changes only from a
/// dataset whose history is its own history continued, and copies the whole dataset otherwise
/// (a full resync). Keys and values are shared strings: a replayed change or a copy copies
/// pointers, not text. The map is shared until changed, so a copy of a server (the oracles take
/// them) or a full resync costs nothing until the next change. The default dataset is empty and
/// owns no lineage.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    /// Keys and values by slot; a slot without keys has no entry.
    by_slot: Arc<BTreeMap<u16, SlotKeys>>,
    /// Number of keys.
    len: usize,
    /// The history this dataset is part of; 0 for none.
    lineage: u64,
    /// Changes of the lineage this dataset holds.
    version: u64,
    /// Whether this dataset's own changes make its lineage (it did not copy or follow it).
    owns_lineage: bool,
    /// Its latest changes, each with the version it made, oldest first: what followers replay.
    changes: Arc<VecDeque<(u64, Change)>>,
}

/// The keys of one slot and their values.
type SlotKeys = BTreeMap<Arc<str>, Arc<str>>;

/// One change of a dataset, as its followers replay it.
#[derive(Clone, Debug)]
enum Change {
    /// A key, its value and its slot (hashed once, where the change was made).
    Set(Arc<str>, Arc<str>, u16),
    /// A key and its slot.
    Remove(Arc<str>, u16),
}

/// How many changes a dataset keeps for its followers; one further behind copies the whole
/// dataset, as a Redis replica beyond the backlog does.
const CHANGES_KEPT: usize = 16_384;

/// The last lineage handed out. Lineages are only compared with each other, never shown, so
/// where the numbering starts changes nothing a run prints.
static LAST_LINEAGE: AtomicU64 = AtomicU64::new(0);

impl PartialEq for Dataset {
    /// Two datasets are equal when they hold the same keys and values, whatever their history.
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.by_slot == other.by_slot
    }
}

impl Eq for Dataset {}

impl Dataset {
    /// An empty dataset starting a lineage of its own.
    pub fn new() -> Dataset {
        Dataset {
            lineage: LAST_LINEAGE.fetch_add(1, Ordering::Relaxed) + 1,
            owns_lineage: true,
            ..Dataset::default()
        }
    }

    /// Stores a key.
    pub fn insert(&mut self, key: &str, value: &str) {
        let key: Arc<str> = Arc::from(key);
        let value: Arc<str> = Arc::from(value);
        self.own_lineage();
        let slot = key_slot(&key);
        self.apply(Change::Set(key, value, slot));
    }

    /// Removes a key; returns whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let slot = key_slot(key);
        let Some((key, _)) = self
            .by_slot
            .get(&slot)
            .and_then(|keys| keys.get_key_value(key))
        else {
            return false;
        };
        let key = Arc::clone(key);
        self.own_lineage();
        self.apply(Change::Remove(key, slot));
        true
    }

    /// Catches up with `master`: replays the changes it has and this dataset lacks when this
    /// dataset is an earlier point of the same history, copies it whole otherwise.
    pub fn follow(&mut self, master: &Dataset) {
        let same_history =
            self.lineage == master.lineage && master.lineage != 0 && self.version <= master.version;
        let replayable = same_history
            && (self.version == master.version
                || master
                    .changes
                    .front()
                    .is_some_and(|(first, _)| *first <= self.version + 1));
        if !replayable {
            self.by_slot = master.by_slot.clone();
            self.len = master.len;
            self.lineage = master.lineage;
            self.version = master.version;
            self.owns_lineage = false;
            self.changes = Arc::default();
            return;
        }
        // Kept changes have consecutive versions, so the first one missing is found by position.
        let first_kept = master.changes.front().map_or(0, |(version, _)| *version);
        let skipped = usize::try_from((self.version + 1).saturating_sub(first_kept)).unwrap_or(0);
        for (_, change) in master.changes.range(skipped.min(master.changes.len())..) {
            self.apply(change.clone());
        }
    }

    /// Whether following `master` would change nothing: both are at the same point of one
    /// history.
    fn holds_all_of(&self, master: &Dataset) -> bool {
        master.lineage != 0 && self.lineage == master.lineage && self.version == master.version
    }

    /// Starts a lineage of its own before a change of its own, unless it has one.
    fn own_lineage(&mut self) {
        if !self.owns_lineage {
            self.lineage = LAST_LINEAGE.fetch_add(1, Ordering::Relaxed) + 1;
            self.owns_lineage = true;
            self.changes = Arc::default();
        }
    }

    /// Applies `change` as the next version and keeps it for followers.
    fn apply(&mut self, change: Change) {
        match &change {
            Change::Set(key, value, slot) => {
                let replaced = Arc::make_mut(&mut self.by_slot)
                    .entry(*slot)
                    .or_default()
                    .insert(Arc::clone(key), Arc::clone(value));
                if replaced.is_none() {
                    self.len += 1;
                }
            }
            Change::Remove(key, slot) => {
                let by_slot = Arc::make_mut(&mut self.by_slot);
                if let Some(keys) = by_slot.get_mut(slot) {
                    if keys.remove(key).is_some() {
                        self.len -= 1;
                    }
                    if keys.is_empty() {
                        by_slot.remove(slot);
                    }
                }
            }
        }
        self.version += 1;
        let changes = Arc::make_mut(&mut self.changes);
        if changes.len() == CHANGES_KEPT {
            changes.pop_front();
        }
        changes.push_back((self.version, change));
    }

    /// A key's value, shared.
    fn shared_value(&self, key: &str) -> Option<&Arc<str>> {
        self.value_in_slot(key_slot(key), key)
    }

    /// The value of a key known to hash to `slot`.
    fn value_in_slot(&self, slot: u16, key: &str) -> Option<&Arc<str>> {
        self.by_slot.get(&slot)?.get(key)
    }

    /// A key's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.shared_value(key).map(AsRef::as_ref)
    }

    /// Whether the key exists.
    pub fn contains_key(&self, key: &str) -> bool {
        self.shared_value(key).is_some()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keys hashing to `slot`, in order.
    pub fn keys_in_slot(&self, slot: u16) -> impl Iterator<Item = &str> {
        self.by_slot
            .get(&slot)
            .into_iter()
            .flat_map(|keys| keys.keys().map(AsRef::as_ref))
    }

    /// Every key and value, by slot and then by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_slot
            .values()
            .flatten()
            .map(|(key, value)| (key.as_ref(), value.as_ref()))
    }
}

/// A set of slots as a bitmap shared until changed: cheap to clone, compare and intersect, as
/// the fake copies node tables on every gossip round and a server on every command. Its ranges
/// are worked out once per version of the bitmap and shared with its copies: every node's
/// CLUSTER NODES lists every master's ranges, on every reconcile.
#[derive(Clone)]
pub struct SlotSet {
    bits: Arc<[u64; SLOT_WORDS]>,
    count: u16,
    ranges: Arc<OnceLock<Vec<(u16, u16)>>>,
}

impl PartialEq for SlotSet {
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count && self.bits == other.bits
    }
}

impl Eq for SlotSet {}

/// Slots set in a bitmap.
fn count_of(bits: &[u64; SLOT_WORDS]) -> u16 {
    u16::try_from(bits.iter().map(|word| word.count_ones()).sum::<u32>()).unwrap_or(u16::MAX)
}

/// Words of the slot bitmap.
pub const SLOT_WORDS: usize = 256;

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet {
            bits: Arc::new([0; SLOT_WORDS]),
            count: 0,
            ranges: Arc::default(),
        }
    }
}

impl std::fmt::Debug for SlotSet {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{:?}", self.ranges())
    }
}

impl SlotSet {
    /// Whether both share one bitmap, which then cannot have changed in either.
    fn same_bitmap(&self, other: &SlotSet) -> bool {
        Arc::ptr_eq(&self.bits, &other.bits)
    }

    fn position(slot: u16) -> Option<(usize, u64)> {
        (slot < SLOT_COUNT).then(|| (usize::from(slot / 64), 1u64 << (slot % 64)))
    }

    /// Whether `slot` is in the set.
    pub fn contains(&self, slot: &u16) -> bool {
        Self::position(*slot)
            .is_some_and(|(word, bit)| self.bits.get(word).is_some_and(|value| value & bit != 0))
    }

    /// Adds a slot.
    pub fn insert(&mut self, slot: u16) {
        if self.contains(&slot) {
            return;
        }
        if let Some((word, bit)) = Self::position(slot)
            && let Some(value) = self.bits_to_change().get_mut(word)
        {
            *value |= bit;
            self.count += 1;
        }
    }

    /// Removes a slot.
    pub fn remove(&mut self, slot: &u16) {
        if !self.contains(slot) {
            return;
        }
        if let Some((word, bit)) = Self::position(*slot)
            && let Some(value) = self.bits_to_change().get_mut(word)
        {
            *value &= !bit;
            self.count -= 1;
        }
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Removes every slot.
    pub fn clear(&mut self) {
        *self = SlotSet::default();
    }

    /// Slots in ascending order; empty words are skipped whole.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.bits
            .iter()
            .zip(0u16..)
            .filter(|(bits, _)| **bits != 0)
            .flat_map(|(bits, word)| {
                (0u16..64)
                    .filter(move |bit| bits & (1u64 << bit) != 0)
                    .map(move |bit| word * 64 + bit)
            })
    }

    /// Adds every slot of `slots`.
    pub fn extend(&mut self, slots: impl IntoIterator<Item = u16>) {
        for slot in slots {
            self.insert(slot);
        }
    }

    /// Whether the two sets share a slot.
    pub fn intersects(&self, other: &SlotSet) -> bool {
        // Gossip asks this of every pair of tables every round, and mostly the answer is no:
        // one pass without a branch per word.
        !self.is_empty()
            && !other.is_empty()
            && self
                .bits
                .iter()
                .zip(other.bits.iter())
                .fold(0, |shared, (left, right)| shared | (left & right))
                != 0
    }

    /// The bitmap: bit `slot % 64` of word `slot / 64` is set for each slot in the set.
    pub fn words(&self) -> &[u64; SLOT_WORDS] {
        &self.bits
    }

    /// Adds the slots of `other`.
    pub fn union(&mut self, other: &SlotSet) {
        if other.is_empty() {
            return;
        }
        let bits = self.bits_to_change();
        for (left, right) in bits.iter_mut().zip(other.bits.iter()) {
            *left |= right;
        }
        self.count = count_of(bits);
    }

    /// Removes the slots of `other`.
    pub fn subtract(&mut self, other: &SlotSet) {
        if !self.intersects(other) {
            return;
        }
        let bits = self.bits_to_change();
        for (left, right) in bits.iter_mut().zip(other.bits.iter()) {
            *left &= !right;
        }
        self.count = count_of(bits);
    }

    /// Keeps the slots `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(u16) -> bool) {
        let dropped: Vec<u16> = self.iter().filter(|slot| !keep(*slot)).collect();
        for slot in dropped {
            self.remove(&slot);
        }
    }

    /// The bitmap, to be changed: its own copy, and its ranges forgotten.
    fn bits_to_change(&mut self) -> &mut [u64; SLOT_WORDS] {
        // Emptied in place when this set alone holds the ranges; a copy sharing them keeps them.
        match Arc::get_mut(&mut self.ranges) {
            Some(ranges) => {
                ranges.take();
            }
            None => self.ranges = Arc::default(),
        }
        Arc::make_mut(&mut self.bits)
    }

    /// Inclusive ranges, ascending.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        self.ranges.get_or_init(|| self.compute_ranges()).clone()
    }

    fn compute_ranges(&self) -> Vec<(u16, u16)> {
        let mut ranges: Vec<(u16, u16)> = Vec::new();
        for (bits, word) in self.bits.iter().zip(0u16..) {
            let first = word * 64;
            if *bits == u64::MAX {
                match ranges.last_mut() {
                    Some((_, end)) if *end + 1 == first => *end = first + 63,
                    _ => ranges.push((first, first + 63)),
                }
                continue;
            }
            if *bits == 0 {
                continue;
            }
            for bit in (0u16..64).filter(|bit| bits & (1u64 << bit) != 0) {
                let slot = first + bit;
                match ranges.last_mut() {
                    Some((_, end)) if *end + 1 == slot => *end = slot,
                    _ => ranges.push((slot, slot)),
                }
            }
        }
        ranges
    }
}

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

/// A cluster node's knowledge of another node.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Peer {
    ip: String,
    port: u16,
    /// The hostname it announces (its pod's name), which Redis 7 spreads in ping extensions.
    hostname: String,
    master_id: Option<String>,
    slots: SlotSet,
    epoch: u64,
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
    /// Master it replicates from, when a replica.
    pub master: Option<(String, u16)>,
    link_up: bool,
    // Cluster state.
    /// Cluster node id.
    pub node_id: String,
    epoch: u64,
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
    /// For a sentinel: the masters it monitors, as (group name, address, port).
    pub fn monitored_masters(&self) -> Vec<(String, String, u16)> {
        self.monitors
            .iter()
            .map(|(group, monitor)| (group.clone(), monitor.ip.clone(), monitor.port))
            .collect()
    }

    /// For a cluster node: whether it is a replica (of the node with this id).
    pub fn cluster_master_id(&self) -> Option<&str> {
        self.cluster_master.as_deref()
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
    /// Every command the operator sent, reads included, whether or not the server answered.
    commands_sent: u64,
    /// Counts starts and stops of servers, so that a kubelet can tell when nothing changed.
    liveness_version: u64,
    /// Addresses the operator cannot reach (partition operator ↔ pod).
    cut_from_operator: BTreeSet<String>,
    /// Pairs of addresses that cannot reach each other.
    cut_between: BTreeSet<(String, String)>,
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

    fn max_epoch(&self) -> u64 {
        self.servers
            .values()
            .map(|server| server.epoch)
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
        // Taken out while it follows the master, which lives in the same map.
        let mut data = match self.servers.get_mut(replica_ip) {
            Some(replica) if reachable => std::mem::take(&mut replica.data),
            _ => Dataset::default(),
        };
        let master = self.servers.get(&master_ip).map(|master| {
            if reachable {
                data.follow(&master.data);
            }
            (master.offset, master.replication_id.clone())
        });
        if let Some(replica) = self.servers.get_mut(replica_ip) {
            if reachable {
                replica.data = data;
            }
            match (reachable, master) {
                (true, Some((offset, replication_id))) => {
                    replica.offset = offset;
                    replica.backlog = true;
                    replica.replication_id = replication_id;
                    replica.link_up = true;
                }
                _ => replica.link_up = false,
            }
        }
        let linked = self
            .servers
            .get(replica_ip)
            .is_some_and(|replica| replica.link_up);
        if linked && let Some(master) = self.servers.get_mut(&master_ip) {
            master.backlog = true;
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
            master: None,
            link_up: false,
            node_id: fresh_id,
            epoch: 0,
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
            }
            if keep_identity && kind == ServerKind::Cluster {
                server.node_id = old.node_id.clone();
                server.epoch = old.epoch;
                server.slots = old.slots;
                server.migrating = old.migrating.clone();
                server.importing = old.importing.clone();
                server.cluster_master = old.cluster_master.clone();
                server.peers = old.peers.clone();
                for peer in Arc::make_mut(&mut server.peers).values_mut() {
                    peer.failed = false;
                }
            }
        }
        fleet.servers.insert(ip.to_owned(), server);
        fleet.liveness_version += 1;
        fleet.membership_changed();
    }

    /// Changes whenever a server starts or stops.
    pub fn liveness_version(&self) -> u64 {
        self.lock().liveness_version
    }

    /// Stops the server at `ip` (process crash or pod deletion); its state stays for a restart.
    pub fn stop(&self, ip: &str) {
        let mut fleet = self.lock();
        if let Some(server) = fleet.servers.get_mut(ip)
            && server.alive
        {
            server.alive = false;
            fleet.liveness_version += 1;
            fleet.membership_changed();
        }
    }

    /// Forgets the server of `pod` entirely (pod and volumes gone).
    pub fn remove_pod(&self, pod: &str) {
        let mut fleet = self.lock();
        fleet.servers.retain(|_, server| &*server.pod != pod);
        fleet.membership_changed();
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

    /// Reads every server, by address, without copying them (the oracles look at every server
    /// every step). `read` must not call back into the fleet.
    pub fn with_servers<T>(&self, read: impl FnOnce(&BTreeMap<String, Server>) -> T) -> T {
        read(&self.lock().servers)
    }

    /// Copies of every server, by address.
    pub fn servers(&self) -> Vec<Server> {
        self.lock().servers.values().cloned().collect()
    }

    /// A client write: to the master that serves the key (cluster) or to the server at `ip`.
    /// Returns whether it was acknowledged.
    pub fn client_write(&self, ip: &str, key: &str, value: &str) -> bool {
        let mut fleet = self.lock();
        let Some(server) = fleet.servers.get(ip) else {
            return false;
        };
        if !server.alive || server.master.is_some() || server.cluster_master.is_some() {
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
        match fleet.servers.get_mut(&target) {
            Some(server) if server.alive => {
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
        let addresses: Vec<String> = fleet.servers.keys().cloned().collect();
        // Replication: replicas follow their masters.
        for address in &addresses {
            let is_replica = fleet
                .servers
                .get(address)
                .is_some_and(|server| server.alive && server.master.is_some());
            if is_replica {
                fleet.sync_replica(address);
            }
        }
        tick_cluster(&mut fleet, &addresses);
        tick_sentinels(&mut fleet, &addresses);
    }
}

/// What one node learnt in a gossip round: its address and peers.
type GossipUpdate = (String, Arc<BTreeMap<String, Peer>>);

fn tick_cluster(fleet: &mut Fleet, addresses: &[String]) {
    let now = fleet.now;
    if fleet.settled_at == Some(fleet.membership_version) {
        fleet.pending_refresh = Some(now);
        return;
    }
    // Whether this round changes nothing but last-seen times and leaves nothing for time to
    // change (see `Fleet::settled_at`).
    let mut settled = true;
    let cluster: Vec<String> = addresses
        .iter()
        .filter(|address| {
            fleet
                .servers
                .get(*address)
                .is_some_and(|server| server.kind == ServerKind::Cluster)
        })
        .cloned()
        .collect();
    // Gossip: every live node refreshes what it knows of the peers it can reach, and learns the
    // peers they know (a node it banned stays unknown until the ban ends).
    // Every node's round reads the state before the round: the updates are applied after it.
    // When each node last saw its peers is read by its own round only, so the tables are taken
    // out for the round and changed in place rather than copied. Every address of `cluster` has
    // a server, so the tables and the snapshot below line up one to one.
    let mut last_seen_tables: Vec<imbl::OrdMap<String, Milliseconds>> = cluster
        .iter()
        .map(|address| {
            fleet
                .servers
                .get_mut(address)
                .map(|server| std::mem::take(&mut server.last_seen))
                .unwrap_or_default()
        })
        .collect();
    let snapshot: Vec<(&String, &Server)> = cluster
        .iter()
        .filter_map(|address| fleet.servers.get_key_value(address))
        .collect();
    let by_id: BTreeMap<&str, &Server> = snapshot
        .iter()
        .map(|(_, server)| (server.node_id.as_str(), *server))
        .collect();
    let mut updates: Vec<GossipUpdate> = Vec::new();
    for (&(address, server), last_seen) in snapshot.iter().zip(last_seen_tables.iter_mut()) {
        if !server.alive {
            continue;
        }
        // Copied only when something in the table changes: in a steady cluster a round only
        // refreshes when each peer was last seen.
        let mut peers = Arc::clone(&server.peers);
        // Lookups before inserts: ids are 40-character strings, and a round touches every pair.
        if server.banned.values().any(|until| *until > now) {
            settled = false;
        }
        for id in server.peers.keys() {
            let Some(peer_server) = by_id.get(id.as_str()).copied() else {
                settled = false;
                continue;
            };
            // The server is alive and keyed by its address, so this is `connected` without the
            // two address lookups.
            if !peer_server.alive || fleet.cut(address, &peer_server.ip) {
                settled = false;
                continue;
            }
            match last_seen.get_mut(id) {
                Some(seen) => *seen = now,
                None => {
                    last_seen.insert(id.clone(), now);
                }
            }
            if peers
                .get(id)
                .is_none_or(|peer| !describes(peer, peer_server))
            {
                Arc::make_mut(&mut peers).insert(id.clone(), peer_of(peer_server));
            }
            learn_peers_of(&mut peers, server, peer_server, now);
        }
        // Failure detection.
        let mut flips: Vec<(String, bool)> = Vec::new();
        for (id, peer) in peers.iter() {
            let seen = match last_seen.get(id) {
                Some(seen) => *seen,
                None => {
                    last_seen.insert(id.clone(), now);
                    now
                }
            };
            if now.saturating_sub(seen) >= NODE_TIMEOUT_MILLISECONDS {
                if !peer.failed {
                    flips.push((id.clone(), true));
                }
            } else if seen == now && peer.failed {
                flips.push((id.clone(), false));
            }
        }
        if !flips.is_empty() {
            let table = Arc::make_mut(&mut peers);
            for (id, failed) in flips {
                if let Some(peer) = table.get_mut(&id) {
                    peer.failed = failed;
                }
            }
        }
        // Ownership by epoch: a slot belongs to the claimant with the highest epoch.
        resolve_ownership(&mut peers, server);
        if !Arc::ptr_eq(&peers, &server.peers) || peers.values().any(|peer| peer.failed) {
            settled = false;
        }
        updates.push((address.clone(), peers));
    }
    for (address, last_seen) in cluster.iter().zip(last_seen_tables) {
        if let Some(server) = fleet.servers.get_mut(address) {
            server.last_seen = last_seen;
        }
    }
    for (address, peers) in updates {
        if let Some(server) = fleet.servers.get_mut(&address) {
            server.peers = peers;
        }
    }
    // A node that learns a higher-epoch owner of its slots loses them; a master left without
    // slots whose slots went to another node follows that node (the old master rejoining).
    for address in &cluster {
        let Some(server) = fleet.servers.get(address) else {
            continue;
        };
        if !server.alive {
            continue;
        }
        let mut lost_to: Option<String> = None;
        let mut slots = server.slots.clone();
        for (id, peer) in server.peers.iter() {
            // Like Redis, a higher config epoch wins whether or not its owner is reachable.
            if peer.epoch > server.epoch && slots.intersects(&peer.slots) {
                slots.subtract(&peer.slots);
                lost_to = Some(id.clone());
                settled = false;
            }
        }
        if let Some(server) = fleet.servers.get_mut(address) {
            server.slots = slots;
            if let Some(new_master) =
                lost_to.filter(|_| server.slots.is_empty() && server.cluster_master.is_none())
            {
                server.cluster_master = Some(new_master);
            }
        }
        let follow = fleet
            .servers
            .get(address)
            .and_then(|server| server.cluster_master.clone());
        if let Some(master_id) = follow
            && let Some(master_ip) = fleet.id_to_ip(&master_id)
        {
            let master_port = fleet
                .servers
                .get(&master_ip)
                .map_or(0, |master| master.port);
            if let Some(server) = fleet.servers.get_mut(address) {
                let following = Some((master_ip, master_port));
                if server.master != following {
                    server.master = following;
                    settled = false;
                }
            }
        }
    }
    // Replica promotion: the most advanced live replica of a failed master takes its slots when a
    // majority of the slot-owning masters agree it failed.
    let masters_with_slots: Vec<String> = cluster
        .iter()
        .filter(|address| {
            fleet
                .servers
                .get(*address)
                .is_some_and(|server| !server.slots.is_empty())
        })
        .cloned()
        .collect();
    for failed_address in &masters_with_slots {
        let Some(failed) = fleet.servers.get(failed_address) else {
            continue;
        };
        let voters = masters_with_slots
            .iter()
            .filter(|address| *address != failed_address)
            .filter(|address| {
                fleet.servers.get(*address).is_some_and(|server| {
                    server.alive
                        && server
                            .peers
                            .get(&failed.node_id)
                            .is_some_and(|peer| peer.failed)
                })
            })
            .count();
        if voters * 2 <= masters_with_slots.len() {
            continue;
        }
        let candidate = cluster
            .iter()
            .filter_map(|address| fleet.servers.get(address))
            .filter(|server| {
                server.alive && server.cluster_master.as_deref() == Some(failed.node_id.as_str())
            })
            .max_by_key(|server| (server.offset, std::cmp::Reverse(server.pod.clone())))
            .map(|server| server.ip.clone());
        let Some(candidate) = candidate else { continue };
        settled = false;
        let failed_slots = failed.slots.clone();
        let epoch = fleet.max_epoch() + 1;
        if let Some(server) = fleet.servers.get_mut(&candidate) {
            server.cluster_master = None;
            server.master = None;
            server.link_up = false;
            server.slots = failed_slots;
            server.epoch = epoch;
        }
        if let Some(server) = fleet.servers.get_mut(failed_address) {
            // The failed master keeps its stale claim until it comes back and learns the new
            // epoch; live nodes stop counting it.
            server.epoch = server.epoch.min(epoch.saturating_sub(1));
        }
    }
    fleet.settled_at = settled.then_some(fleet.membership_version);
}

/// What settled rounds leave: every live node saw every peer it knows, at `now`.
fn refresh_last_seen(fleet: &mut Fleet, now: Milliseconds) {
    for server in fleet.servers.values_mut() {
        if server.kind != ServerKind::Cluster || !server.alive {
            continue;
        }
        let Server {
            peers, last_seen, ..
        } = server;
        for id in peers.keys() {
            match last_seen.get_mut(id) {
                Some(seen) => *seen = now,
                None => {
                    last_seen.insert(id.clone(), now);
                }
            }
        }
    }
}

/// Gossip from one reachable peer: `server` learns the nodes `peer_server` knows and their failure
/// marks (a node it banned stays unknown until the ban ends). Walks both tables in id order
/// together rather than looking each id up, as a round touches every pair of nodes.
fn learn_peers_of(
    peers: &mut Arc<BTreeMap<String, Peer>>,
    server: &Server,
    peer_server: &Server,
    now: Milliseconds,
) {
    /// What `server` takes from one entry of the peer's table.
    enum Learnt<'a> {
        Unknown(&'a String, &'a Peer),
        Failure(&'a String),
        Owner(&'a String, &'a Peer),
    }
    let mut learnt: Vec<Learnt<'_>> = Vec::new();
    let mut known = peers.iter().peekable();
    for (other_id, other) in peer_server.peers.iter() {
        if other_id == &server.node_id
            || server
                .banned
                .get(other_id)
                .is_some_and(|until| *until > now)
        {
            continue;
        }
        while known.next_if(|(id, _)| *id < other_id).is_some() {}
        let mine = known
            .peek()
            .filter(|(id, _)| *id == other_id)
            .map(|(_, mine)| *mine);
        // Redis' UPDATE message: a peer that knows a higher-epoch owner of slots this node still
        // claims tells it that owner's slots and epoch, whether or not the owner is reachable;
        // without it a master back from a partition would keep serving slots its replica took
        // over while the new owner is down.
        let newer_owner_of_mine =
            other.epoch > server.epoch && other.slots.intersects(&server.slots);
        match mine {
            Some(mine) => {
                if newer_owner_of_mine && other.epoch > mine.epoch {
                    learnt.push(Learnt::Owner(other_id, other));
                } else if other.failed && !mine.failed {
                    learnt.push(Learnt::Failure(other_id));
                }
            }
            None => learnt.push(Learnt::Unknown(other_id, other)),
        }
    }
    drop(known);
    if learnt.is_empty() {
        return;
    }
    let table = Arc::make_mut(peers);
    for entry in learnt {
        match entry {
            Learnt::Unknown(id, other) => {
                table.insert(
                    id.clone(),
                    Peer {
                        handshake: false,
                        ..other.clone()
                    },
                );
            }
            Learnt::Failure(id) => {
                if let Some(mine) = table.get_mut(id) {
                    mine.failed = true;
                }
            }
            Learnt::Owner(id, other) => {
                if let Some(mine) = table.get_mut(id) {
                    mine.failed |= other.failed;
                    mine.slots = other.slots.clone();
                    mine.epoch = other.epoch;
                }
            }
        }
    }
}

/// Whether `peer` is what [`peer_of`] makes of `server`.
fn describes(peer: &Peer, server: &Server) -> bool {
    !peer.failed
        && !peer.handshake
        && peer.port == server.port
        && peer.epoch == server.epoch
        && peer.ip == server.ip
        && *peer.hostname == *server.pod
        && peer.master_id == server.cluster_master
        && peer.slots == server.slots
}

fn peer_of(server: &Server) -> Peer {
    Peer {
        ip: server.ip.clone(),
        hostname: server.pod.to_string(),
        port: server.port,
        master_id: server.cluster_master.clone(),
        slots: server.slots.clone(),
        epoch: server.epoch,
        failed: false,
        handshake: false,
    }
}

/// Within one node's table: a slot claimed by several peers belongs to the claimant with the
/// highest config epoch; the others' claims are dropped.
fn resolve_ownership(peers: &mut Arc<BTreeMap<String, Peer>>, myself: &Server) {
    // Fast path: no two claims overlap, nothing to resolve. One pass per peer without an early
    // exit: every node runs this every gossip round, and a branch per word costs more than
    // finishing the pass.
    let mut claimed: [u64; SLOT_WORDS] = *myself.slots.bits;
    let mut overlap = 0u64;
    for peer in peers.values() {
        for (word, bits) in claimed.iter_mut().zip(peer.slots.bits.iter()) {
            overlap |= *word & bits;
            *word |= bits;
        }
    }
    if overlap == 0 {
        return;
    }
    let peers = Arc::make_mut(peers);
    // Owner per slot: (epoch, claimant index), claimant 0 being this node itself.
    let ids: Vec<String> = peers.keys().cloned().collect();
    let mut owner: Vec<Option<(u64, usize)>> = vec![None; usize::from(SLOT_COUNT)];
    let mut claim = |slots: &SlotSet, epoch: u64, claimant: usize| {
        for slot in slots.iter() {
            if let Some(entry) = owner.get_mut(usize::from(slot))
                && entry.is_none_or(|(best, _)| epoch > best)
            {
                *entry = Some((epoch, claimant));
            }
        }
    };
    claim(&myself.slots, myself.epoch, 0);
    for (index, id) in ids.iter().enumerate() {
        if let Some(peer) = peers.get(id) {
            claim(&peer.slots, peer.epoch, index + 1);
        }
    }
    for (index, id) in ids.iter().enumerate() {
        if let Some(peer) = peers.get_mut(id) {
            peer.slots.retain(|slot| {
                owner
                    .get(usize::from(slot))
                    .copied()
                    .flatten()
                    .is_some_and(|(_, claimant)| claimant == index + 1)
            });
        }
    }
}

fn tick_sentinels(fleet: &mut Fleet, addresses: &[String]) {
    let now = fleet.now;
    let sentinels: Vec<String> = addresses
        .iter()
        .filter(|address| {
            fleet
                .servers
                .get(*address)
                .is_some_and(|server| server.kind == ServerKind::Sentinel && server.alive)
        })
        .cloned()
        .collect();
    let groups: BTreeSet<String> = sentinels
        .iter()
        .filter_map(|address| fleet.servers.get(address))
        .flat_map(|server| server.monitors.keys().cloned())
        .collect();
    for group in groups {
        // Each sentinel's view of whether its master is down.
        let mut down_votes = 0;
        let mut monitoring = 0;
        let mut quorum = u32::MAX;
        let mut master_address = None;
        for address in &sentinels {
            let reachable = {
                let Some(monitor) = fleet
                    .servers
                    .get(address)
                    .and_then(|server| server.monitors.get(&group))
                else {
                    continue;
                };
                master_address = Some((monitor.ip.clone(), monitor.port));
                quorum = quorum.min(monitor.quorum);
                fleet.connected(address, &monitor.ip)
                    && fleet
                        .servers
                        .get(&monitor.ip)
                        .is_some_and(|master| master.master.is_none())
            };
            monitoring += 1;
            if let Some(monitor) = fleet
                .servers
                .get_mut(address)
                .and_then(|server| server.monitors.get_mut(&group))
            {
                if reachable {
                    monitor.down_since = None;
                } else {
                    let since = *monitor.down_since.get_or_insert(now);
                    if now.saturating_sub(since) >= monitor.down_after {
                        down_votes += 1;
                    }
                }
            }
        }
        let Some((master_ip, _)) = master_address else {
            continue;
        };
        let majority = monitoring / 2 + 1;
        if down_votes < quorum.try_into().unwrap_or(usize::MAX) || down_votes < majority {
            continue;
        }
        sentinel_failover(fleet, &sentinels, &group, &master_ip);
    }
}

/// The sentinels of `group` promote the most advanced replica of the master at `master_ip`,
/// reconfigure the other replicas (and the old master, if it answers) to follow it, and record
/// the new address. Returns whether a replica was promoted.
fn sentinel_failover(
    fleet: &mut Fleet,
    sentinels: &[String],
    group: &str,
    master_ip: &str,
) -> bool {
    let candidate = fleet
        .servers
        .values()
        .filter(|server| server.alive && server.kind == ServerKind::Plain)
        .filter(|server| {
            server
                .master
                .as_ref()
                .is_some_and(|(ip, _)| ip == master_ip)
        })
        .max_by_key(|server| (server.offset, std::cmp::Reverse(server.pod.clone())))
        .map(|server| (server.ip.clone(), server.port));
    let Some((new_ip, new_port)) = candidate else {
        return false;
    };
    if let Some(server) = fleet.servers.get_mut(&new_ip) {
        server.master = None;
        server.link_up = false;
    }
    let followers: Vec<String> = fleet
        .servers
        .values()
        .filter(|server| server.kind == ServerKind::Plain && server.ip != new_ip)
        .filter(|server| {
            server
                .master
                .as_ref()
                .is_some_and(|(ip, _)| ip == master_ip)
                || server.ip == master_ip
        })
        .map(|server| server.ip.clone())
        .collect();
    for follower in followers {
        if let Some(server) = fleet.servers.get_mut(&follower) {
            server.master = Some((new_ip.clone(), new_port));
        }
        fleet.sync_replica(&follower);
    }
    for address in sentinels {
        if let Some(monitor) = fleet
            .servers
            .get_mut(address)
            .and_then(|server| server.monitors.get_mut(group))
        {
            monitor.ip = new_ip.clone();
            monitor.port = new_port;
            monitor.epoch += 1;
            monitor.down_since = None;
        }
    }
    true
}

/// The CLUSTER NODES reply of `server`, rendered again only when what it shows changed.
fn cluster_nodes_reply(server: &Server) -> String {
    let mut kept = server.cluster_nodes_reply.borrow_mut();
    if let Some(rendered) = kept.as_ref().filter(|rendered| rendered.shows(server)) {
        return rendered.text.clone();
    }
    let text = render_cluster_nodes(&cluster_nodes(server));
    if !server.migrating.is_empty() || !server.importing.is_empty() {
        *kept = None;
        return text;
    }
    *kept = Some(RenderedClusterNodes {
        peers: Arc::clone(&server.peers),
        slots: server.slots.clone(),
        node_id: server.node_id.clone(),
        ip: server.ip.clone(),
        port: server.port,
        epoch: server.epoch,
        cluster_master: server.cluster_master.clone(),
        text: text.clone(),
    });
    text
}

/// CLUSTER NODES as `server` sees the cluster.
fn cluster_nodes(server: &Server) -> Vec<ClusterNode> {
    let ranges = |slots: &SlotSet| slots.ranges();
    let mut nodes = vec![ClusterNode {
        id: server.node_id.clone(),
        address: Some(NodeAddress {
            ip: server.ip.clone(),
            port: server.port,
            bus_port: server.port.saturating_add(BUS_PORT_OFFSET),
            hostname: Some(server.pod.to_string()),
        }),
        flags: NodeFlags {
            myself: true,
            master: server.cluster_master.is_none(),
            replica: server.cluster_master.is_some(),
            ..NodeFlags::default()
        },
        master_id: server.cluster_master.clone(),
        ping_sent: 0,
        pong_received: 0,
        config_epoch: server.epoch,
        link_connected: true,
        slots: if server.cluster_master.is_none() {
            ranges(&server.slots)
        } else {
            Vec::new()
        },
        migrating: server
            .migrating
            .iter()
            .map(|(slot, id)| (*slot, id.clone()))
            .collect(),
        importing: server
            .importing
            .iter()
            .map(|(slot, id)| (*slot, id.clone()))
            .collect(),
    }];
    for (id, peer) in server.peers.iter() {
        nodes.push(ClusterNode {
            id: id.clone(),
            address: Some(NodeAddress {
                ip: peer.ip.clone(),
                port: peer.port,
                bus_port: peer.port.saturating_add(BUS_PORT_OFFSET),
                hostname: Some(peer.hostname.clone()),
            }),
            flags: NodeFlags {
                master: peer.master_id.is_none(),
                replica: peer.master_id.is_some(),
                failed: peer.failed,
                handshake: peer.handshake,
                ..NodeFlags::default()
            },
            master_id: peer.master_id.clone(),
            ping_sent: 0,
            pong_received: 0,
            config_epoch: peer.epoch,
            link_connected: !peer.failed,
            slots: if peer.master_id.is_none() {
                ranges(&peer.slots)
            } else {
                Vec::new()
            },
            migrating: Vec::new(),
            importing: Vec::new(),
        });
    }
    nodes
}

/// CLUSTER INFO as `server` sees the cluster: the state is ok when every slot is served by a
/// master not marked failed (the fake has no possibly-failed state, so that count stays zero).
fn cluster_info(server: &Server) -> ClusterInfo {
    let masters = cluster_nodes(server)
        .into_iter()
        .filter(|node| node.flags.master)
        .collect::<Vec<_>>();
    let assigned: u32 = masters.iter().map(ClusterNode::slot_count).sum();
    let failed: u32 = masters
        .iter()
        .filter(|node| node.flags.failed)
        .map(ClusterNode::slot_count)
        .sum();
    let size = masters.iter().filter(|node| node.slot_count() > 0).count();
    let current_epoch = server
        .peers
        .values()
        .map(|peer| peer.epoch)
        .chain(std::iter::once(server.epoch))
        .max()
        .unwrap_or(0);
    ClusterInfo {
        state_ok: assigned == u32::from(SLOT_COUNT) && failed == 0,
        slots_assigned: assigned,
        slots_ok: assigned - failed,
        slots_possibly_failed: 0,
        slots_failed: failed,
        known_nodes: u32::try_from(server.peers.len() + 1).unwrap_or(u32::MAX),
        size: u32::try_from(size).unwrap_or(u32::MAX),
        current_epoch,
        my_epoch: server.epoch,
    }
}

fn info_replication(fleet: &Fleet, server: &Server) -> ReplicationInfo {
    // Replicas attached to this server, whether it is a master or itself a replica (chained
    // replication, as after FAILOVER TO).
    let replicas = fleet
        .servers
        .values()
        .filter(|replica| {
            replica.alive
                && replica
                    .master
                    .as_ref()
                    .is_some_and(|(ip, _)| ip == &server.ip)
        })
        .filter(|replica| fleet.connected(&replica.ip, &server.ip))
        .map(|replica| ReplicaEntry {
            ip: replica.ip.clone(),
            port: replica.port,
            state: "online".to_owned(),
            offset: replica.offset,
            lag: 0,
        })
        .collect();
    match &server.master {
        Some((host, port)) => ReplicationInfo {
            role: ReplicationRole::Replica,
            master_host: Some(host.clone()),
            master_port: Some(*port),
            master_link_up: server.link_up && fleet.connected(&server.ip, host),
            master_sync_in_progress: false,
            replica_offset: Some(server.offset),
            master_replication_id: server.replication_id.clone(),
            master_offset: server.offset,
            replicas,
        },
        None => ReplicationInfo {
            role: ReplicationRole::Master,
            master_host: None,
            master_port: None,
            master_link_up: false,
            master_sync_in_progress: false,
            replica_offset: None,
            master_replication_id: server.replication_id.clone(),
            master_offset: server.offset,
            replicas,
        },
    }
}

/// Why `server` refuses `CLUSTER SETSLOT slot state`, as Redis words it; `None` when it accepts.
fn set_slot_refusal(server: &Server, slot: u16, state: &SlotState) -> Option<String> {
    if server.cluster_master.is_some() {
        return Some("ERR Please use SETSLOT only with masters.".to_owned());
    }
    // Whether this node knows `id`, and as a master (itself included), as Redis checks the node
    // a SETSLOT names.
    let peer_refusal = |id: &str, unknown: &str| {
        let known_master = if id == server.node_id {
            Some(true)
        } else {
            server.peers.get(id).map(|peer| peer.master_id.is_none())
        };
        match known_master {
            None => Some(format!("ERR {unknown} {id}")),
            Some(false) => Some("ERR Target node is not a master".to_owned()),
            Some(true) => None,
        }
    };
    match state {
        SlotState::Importing(source) => {
            if server.slots.contains(&slot) {
                return Some(format!("ERR I'm already the owner of hash slot {slot}"));
            }
            peer_refusal(source, "I don't know about node")
        }
        SlotState::Migrating(target) => {
            if !server.slots.contains(&slot) {
                return Some(format!("ERR I'm not the owner of hash slot {slot}"));
            }
            peer_refusal(target, "I don't know about node")
        }
        SlotState::Stable => None,
        SlotState::Node(owner) => {
            if let Some(refusal) = peer_refusal(owner, "Unknown node") {
                return Some(refusal);
            }
            let keys_left = server.data.keys_in_slot(slot).next().is_some();
            (owner != &server.node_id && server.slots.contains(&slot) && keys_left).then(|| {
                format!(
                    "ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
                )
            })
        }
    }
}

impl Fleet {
    fn run(
        &mut self,
        endpoint: &RedisEndpoint,
        command: &RedisCommand,
    ) -> Result<RedisReply, RedisError> {
        self.commands_sent += 1;
        if command.is_write() {
            self.membership_changed();
        }
        let address = endpoint.host.as_str();
        let Some(server) = self.servers.get(address) else {
            return Err(unreachable(endpoint, "connection refused"));
        };
        if !server.alive || self.cut_from_operator.contains(address) {
            return Err(unreachable(endpoint, "timed out"));
        }
        if command.is_write() {
            self.commands.push(CommandRecord {
                pod: server.pod.clone(),
                command: command.name(),
                keys_held: server.data.len(),
                master_keys: match command {
                    RedisCommand::ReplicaOf { host, .. } => {
                        self.servers.get(host).map(|master| master.data.len())
                    }
                    _ => None,
                },
            });
        }
        let reject = |message: &str| Err(rejected(endpoint, command, message));
        let cluster = server.kind == ServerKind::Cluster;
        let sentinel = server.kind == ServerKind::Sentinel;
        match command {
            RedisCommand::Ping => Ok(RedisReply::Status("PONG".to_owned())),
            RedisCommand::InfoReplication if !sentinel => Ok(RedisReply::Text(
                render_info_replication(&info_replication(self, server)),
            )),
            RedisCommand::InfoKeyspace => Ok(RedisReply::Text(format!(
                "# Keyspace\r\ndb0:keys={},expires=0,avg_ttl=0\r\n",
                server.data.len()
            ))),
            RedisCommand::DatabaseSize => Ok(RedisReply::Integer(
                i64::try_from(server.data.len()).unwrap_or(i64::MAX),
            )),
            RedisCommand::ReplicaOf { host, port } if !cluster && !sentinel => {
                if let Some(server) = self.servers.get_mut(address) {
                    server.master = Some((host.clone(), *port));
                    server.link_up = false;
                }
                self.sync_replica(address);
                Ok(ok())
            }
            RedisCommand::ReplicaOfNoOne if !cluster && !sentinel => {
                let replication_id = self.new_id();
                if let Some(server) = self.servers.get_mut(address) {
                    server.master = None;
                    server.link_up = false;
                    server.replication_id = replication_id;
                }
                Ok(ok())
            }
            RedisCommand::FailoverTo { host, port } if !cluster && !sentinel => {
                if server.master.is_some() {
                    return reject("ERR FAILOVER is not valid when server is a replica.");
                }
                let is_replica = self.servers.get(host).is_some_and(|replica| {
                    replica.alive && replica.master.as_ref().is_some_and(|(ip, _)| ip == address)
                });
                if !is_replica {
                    return reject("ERR FAILOVER target HOST and PORT is not a replica.");
                }
                // The replica catches up first: no acknowledged write is lost.
                self.sync_replica(host);
                if let Some(promoted) = self.servers.get_mut(host) {
                    promoted.master = None;
                    promoted.link_up = false;
                }
                // Only the old master turns into a replica of the new one; its other replicas
                // stay attached to it and so replicate through it (chained), as in Redis.
                if let Some(old) = self.servers.get_mut(address) {
                    old.master = Some((host.clone(), *port));
                }
                self.sync_replica(address);
                Ok(ok())
            }
            RedisCommand::ConfigSet { .. } => Ok(ok()),
            RedisCommand::ClusterMyId if cluster => Ok(RedisReply::Text(server.node_id.clone())),
            RedisCommand::ClusterNodes if cluster => {
                Ok(RedisReply::Text(cluster_nodes_reply(server)))
            }
            RedisCommand::ClusterMeet { host, port, .. } if cluster => {
                let Some(other) = self
                    .servers
                    .get(host)
                    .filter(|other| other.kind == ServerKind::Cluster)
                    .cloned()
                else {
                    return Ok(ok());
                };
                if !self.connected(address, host) {
                    return Ok(ok());
                }
                let now = self.now;
                let my_id = server.node_id.clone();
                let me_as_peer = peer_of(server);
                if let Some(me) = self.servers.get_mut(address) {
                    me.banned.remove(&other.node_id);
                    Arc::make_mut(&mut me.peers).insert(
                        other.node_id.clone(),
                        Peer {
                            port: *port,
                            ..peer_of(&other)
                        },
                    );
                    me.last_seen.insert(other.node_id.clone(), now);
                }
                if let Some(them) = self.servers.get_mut(host) {
                    them.banned.remove(&my_id);
                    Arc::make_mut(&mut them.peers).insert(my_id.clone(), me_as_peer);
                    them.last_seen.insert(my_id, now);
                }
                Ok(ok())
            }
            RedisCommand::ClusterAddSlotsRange(ranges) if cluster => {
                let slots: Vec<u16> = ranges
                    .iter()
                    .flat_map(|(start, end)| *start..=*end)
                    .collect();
                self.add_slots(endpoint, command, address, &slots)
            }
            RedisCommand::ClusterAddSlots(slots) if cluster => {
                self.add_slots(endpoint, command, address, slots)
            }
            RedisCommand::ClusterReplicate(master_id) if cluster => {
                if master_id == &server.node_id {
                    return reject("ERR Can't replicate myself");
                }
                if server.cluster_master.is_none()
                    && (!server.slots.is_empty() || !server.data.is_empty())
                {
                    return reject(
                        "ERR To set a master the node must be empty and without assigned slots.",
                    );
                }
                if !server.peers.contains_key(master_id) {
                    return reject(&format!("ERR Unknown node {master_id}"));
                }
                let master_ip = self.id_to_ip(master_id);
                let master_port = master_ip
                    .as_ref()
                    .and_then(|ip| self.servers.get(ip))
                    .map_or(0, |master| master.port);
                if let Some(server) = self.servers.get_mut(address) {
                    server.cluster_master = Some(master_id.clone());
                    server.master = master_ip.map(|ip| (ip, master_port));
                }
                self.sync_replica(address);
                Ok(ok())
            }
            RedisCommand::ClusterSetSlot { slot, state } if cluster => {
                if let Some(message) = set_slot_refusal(server, *slot, state) {
                    return reject(&message);
                }
                // Only a node that takes a slot bumps its epoch, so only it needs the fleet's
                // highest.
                let takes_slot =
                    matches!(state, SlotState::Node(owner) if owner == &server.node_id);
                self.set_slot(address, *slot, state, takes_slot);
                Ok(ok())
            }
            RedisCommand::ClusterCountKeysInSlot(slot) if cluster => Ok(RedisReply::Integer(
                i64::try_from(server.data.keys_in_slot(*slot).count()).unwrap_or(i64::MAX),
            )),
            RedisCommand::ClusterGetKeysInSlot { slot, count } if cluster => Ok(RedisReply::Array(
                server
                    .data
                    .keys_in_slot(*slot)
                    .take(usize::try_from(*count).unwrap_or(usize::MAX))
                    .map(|key| RedisReply::Text(key.to_owned()))
                    .collect(),
            )),
            RedisCommand::Migrate { host, keys, .. } => {
                if !self.connected(address, host) {
                    return reject("IOERR error or timeout connecting to the target instance");
                }
                let moved: Vec<(String, String)> = keys
                    .iter()
                    .filter_map(|key| {
                        server
                            .data
                            .get(key)
                            .map(|value| (key.clone(), value.to_owned()))
                    })
                    .collect();
                if let Some(target) = self.servers.get_mut(host) {
                    for (key, value) in &moved {
                        target.data.insert(key, value);
                        if target.backlog {
                            target.offset += 1;
                        }
                    }
                }
                if let Some(source) = self.servers.get_mut(address) {
                    for (key, _) in &moved {
                        source.data.remove(key);
                        if source.backlog {
                            source.offset += 1;
                        }
                    }
                }
                Ok(if moved.is_empty() {
                    RedisReply::Status("NOKEY".to_owned())
                } else {
                    ok()
                })
            }
            RedisCommand::ClusterFailover(mode) if cluster => {
                self.failover(endpoint, command, address, *mode)
            }
            RedisCommand::ClusterForget(id) if cluster => {
                if id == &server.node_id {
                    return reject("ERR I tried hard but I can't forget myself...");
                }
                if server.cluster_master.as_deref() == Some(id.as_str()) {
                    return reject("ERR Can't forget my master!");
                }
                if !server.peers.contains_key(id) {
                    return reject(&format!("ERR Unknown node {id}"));
                }
                let until = self.now + FORGET_BAN_MILLISECONDS;
                if let Some(server) = self.servers.get_mut(address) {
                    Arc::make_mut(&mut server.peers).remove(id);
                    server.last_seen.remove(id);
                    server.banned.insert(id.clone(), until);
                }
                Ok(ok())
            }
            RedisCommand::ClusterInfo if cluster => {
                Ok(RedisReply::Text(render_cluster_info(&cluster_info(server))))
            }
            RedisCommand::ClusterShards if cluster => reject("ERR not modelled by the simulator"),
            command if sentinel => self.sentinel(endpoint, address, command),
            _ => reject("ERR unknown command or wrong mode for this server"),
        }
    }

    fn add_slots(
        &mut self,
        endpoint: &RedisEndpoint,
        command: &RedisCommand,
        address: &str,
        slots: &[u16],
    ) -> Result<RedisReply, RedisError> {
        let taken: BTreeSet<u16> = self
            .servers
            .get(address)
            .map(|server| {
                server
                    .peers
                    .values()
                    .flat_map(|peer| peer.slots.iter())
                    .chain(server.slots.iter())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(slot) = slots.iter().find(|slot| taken.contains(slot)) {
            return Err(rejected(
                endpoint,
                command,
                &format!("ERR Slot {slot} is already busy"),
            ));
        }
        let epoch = self.max_epoch() + 1;
        if let Some(server) = self.servers.get_mut(address) {
            server.slots.extend(slots.iter().copied());
            if server.epoch == 0 {
                server.epoch = epoch;
            }
        }
        Ok(ok())
    }

    /// Applies a SETSLOT that `set_slot_refusal` let through to the server at `address`;
    /// `takes_slot` when it gives the slot to that server.
    fn set_slot(&mut self, address: &str, slot: u16, state: &SlotState, takes_slot: bool) {
        let epoch = if takes_slot { self.max_epoch() + 1 } else { 0 };
        let Some(server) = self.servers.get_mut(address) else {
            return;
        };
        match state {
            SlotState::Importing(source) => {
                server.importing.insert(slot, source.clone());
            }
            SlotState::Migrating(target) => {
                server.migrating.insert(slot, target.clone());
            }
            SlotState::Stable => {
                server.migrating.remove(&slot);
                server.importing.remove(&slot);
            }
            SlotState::Node(owner) => {
                server.migrating.remove(&slot);
                server.importing.remove(&slot);
                if takes_slot {
                    server.slots.insert(slot);
                    server.epoch = epoch;
                } else {
                    server.slots.remove(&slot);
                    if let Some(peer) = Arc::make_mut(&mut server.peers).get_mut(owner) {
                        peer.slots.insert(slot);
                    }
                }
            }
        }
    }

    fn failover(
        &mut self,
        endpoint: &RedisEndpoint,
        command: &RedisCommand,
        address: &str,
        mode: FailoverMode,
    ) -> Result<RedisReply, RedisError> {
        let Some(server) = self.servers.get(address).cloned() else {
            return Ok(ok());
        };
        let Some(master_id) = server.cluster_master.clone() else {
            return Err(rejected(
                endpoint,
                command,
                "ERR You should send CLUSTER FAILOVER to a replica",
            ));
        };
        let master_ip = self.id_to_ip(&master_id);
        let master_reachable = master_ip
            .as_ref()
            .is_some_and(|ip| self.connected(address, ip));
        if mode == FailoverMode::Coordinated && !master_reachable {
            return Err(rejected(
                endpoint,
                command,
                "ERR Master is down or failed, please use CLUSTER FAILOVER FORCE",
            ));
        }
        // Coordinated: the replica catches up with the master before it takes over, so no
        // acknowledged write is lost.
        if mode == FailoverMode::Coordinated {
            self.sync_replica(address);
        }
        let slots = master_ip
            .as_ref()
            .and_then(|ip| self.servers.get(ip))
            .map(|master| master.slots.clone())
            .unwrap_or_default();
        let epoch = self.max_epoch() + 1;
        let my_id = server.node_id.clone();
        if let Some(me) = self.servers.get_mut(address) {
            me.cluster_master = None;
            me.master = None;
            me.slots = slots;
            me.epoch = epoch;
        }
        if master_reachable && let Some(ip) = master_ip {
            let (my_ip, my_port) = (server.ip.clone(), server.port);
            if let Some(old) = self.servers.get_mut(&ip) {
                old.slots.clear();
                old.cluster_master = Some(my_id);
                old.master = Some((my_ip, my_port));
            }
            self.sync_replica(&ip);
        }
        Ok(ok())
    }

    fn sentinel(
        &mut self,
        endpoint: &RedisEndpoint,
        address: &str,
        command: &RedisCommand,
    ) -> Result<RedisReply, RedisError> {
        let Some(server) = self.servers.get(address).cloned() else {
            return Ok(ok());
        };
        match command {
            RedisCommand::SentinelMasters => {
                let masters: Vec<SentinelMaster> = server
                    .monitors
                    .iter()
                    .map(|(name, monitor)| SentinelMaster {
                        name: name.clone(),
                        ip: monitor.ip.clone(),
                        port: monitor.port,
                        flags: if monitor.down_since.is_some() {
                            vec!["master".to_owned(), "s_down".to_owned()]
                        } else {
                            vec!["master".to_owned()]
                        },
                        quorum: monitor.quorum,
                        replicas: u32::try_from(
                            self.servers
                                .values()
                                .filter(|replica| {
                                    replica
                                        .master
                                        .as_ref()
                                        .is_some_and(|(ip, _)| ip == &monitor.ip)
                                })
                                .count(),
                        )
                        .unwrap_or(u32::MAX),
                        other_sentinels: u32::try_from(
                            self.servers
                                .values()
                                .filter(|other| {
                                    other.kind == ServerKind::Sentinel
                                        && other.ip != server.ip
                                        && other.monitors.contains_key(name)
                                })
                                .count(),
                        )
                        .unwrap_or(u32::MAX),
                        down_after_milliseconds: monitor.down_after,
                        failover_timeout: monitor.failover_timeout,
                        parallel_syncs: monitor.parallel_syncs,
                        config_epoch: monitor.epoch,
                    })
                    .collect();
                Ok(render_sentinel_masters(&masters))
            }
            RedisCommand::SentinelMasterAddress(group) => Ok(render_master_address(
                server
                    .monitors
                    .get(group)
                    .map(|monitor| (monitor.ip.as_str(), monitor.port)),
            )),
            RedisCommand::SentinelMonitor {
                group,
                host,
                port,
                quorum,
            } => {
                if server.monitors.contains_key(group) {
                    return Err(rejected(endpoint, command, "ERR Duplicated master name"));
                }
                if let Some(server) = self.servers.get_mut(address) {
                    server.monitors.insert(
                        group.clone(),
                        Monitor {
                            ip: host.clone(),
                            port: *port,
                            quorum: *quorum,
                            down_after: 30_000,
                            failover_timeout: 180_000,
                            parallel_syncs: 1,
                            epoch: 0,
                            down_since: None,
                        },
                    );
                }
                Ok(ok())
            }
            RedisCommand::SentinelRemove(group) => {
                if let Some(server) = self.servers.get_mut(address) {
                    server.monitors.remove(group);
                }
                Ok(ok())
            }
            RedisCommand::SentinelSet {
                group,
                option,
                value,
            } => {
                let Some(monitor) = self
                    .servers
                    .get_mut(address)
                    .and_then(|server| server.monitors.get_mut(group))
                else {
                    return Err(rejected(
                        endpoint,
                        command,
                        "ERR No such master with that name",
                    ));
                };
                let number: u64 = value.parse().unwrap_or(0);
                match option.as_str() {
                    "quorum" => monitor.quorum = u32::try_from(number).unwrap_or(u32::MAX),
                    "down-after-milliseconds" => monitor.down_after = number,
                    "failover-timeout" => monitor.failover_timeout = number,
                    "parallel-syncs" => {
                        monitor.parallel_syncs = u32::try_from(number).unwrap_or(u32::MAX)
                    }
                    _ => {}
                }
                Ok(ok())
            }
            RedisCommand::SentinelFailover(group) => {
                let Some(master_ip) = server.monitors.get(group).map(|monitor| monitor.ip.clone())
                else {
                    return Err(rejected(
                        endpoint,
                        command,
                        "ERR No such master with that name",
                    ));
                };
                let sentinels: Vec<String> = self
                    .servers
                    .values()
                    .filter(|other| other.kind == ServerKind::Sentinel && other.alive)
                    .map(|other| other.ip.clone())
                    .collect();
                if sentinel_failover(self, &sentinels, group, &master_ip) {
                    Ok(ok())
                } else {
                    Err(rejected(
                        endpoint,
                        command,
                        "NOGOODSLAVE No suitable replica to promote",
                    ))
                }
            }
            RedisCommand::SentinelSetAuthPass { group, .. }
            | RedisCommand::SentinelReset(group) => {
                if !server.monitors.contains_key(group) {
                    return Err(rejected(
                        endpoint,
                        command,
                        "ERR No such master with that name",
                    ));
                }
                Ok(ok())
            }
            _ => Err(rejected(
                endpoint,
                command,
                "ERR unknown command for a sentinel",
            )),
        }
    }
}

impl FakeRedis {
    /// The reply of the server at `endpoint` to `command`, as the port's `execute` returns it.
    pub fn answer(
        &self,
        endpoint: &RedisEndpoint,
        command: &RedisCommand,
    ) -> Result<RedisReply, RedisError> {
        self.lock().run(endpoint, command)
    }
}

#[async_trait]
impl RedisAdmin for FakeRedis {
    async fn execute(
        &self,
        endpoint: &RedisEndpoint,
        command: &RedisCommand,
    ) -> Result<RedisReply, RedisError> {
        self.answer(endpoint, command)
    }
}

#[cfg(test)]
mod tests {
    use super::{Dataset, key_slot};

    fn keys(dataset: &Dataset) -> Vec<(String, String)> {
        dataset
            .iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect()
    }

    #[test]
    fn a_follower_replays_what_it_lacks_and_copies_a_foreign_history() {
        let mut master = Dataset::new();
        master.insert("a", "1");
        let mut replica = Dataset::default();
        replica.follow(&master);
        assert_eq!(keys(&replica), keys(&master));
        master.insert("b", "2");
        master.remove("a");
        replica.follow(&master);
        assert_eq!(keys(&replica), vec![("b".to_owned(), "2".to_owned())]);
        assert_eq!(replica.keys_in_slot(key_slot("a")).count(), 0);
        // A chained replica follows the replica.
        let mut chained = Dataset::default();
        chained.follow(&replica);
        master.insert("c", "3");
        replica.follow(&master);
        chained.follow(&replica);
        assert_eq!(keys(&chained), keys(&master));
    }

    #[test]
    fn a_promoted_replica_starts_its_own_history() {
        let mut old_master = Dataset::new();
        old_master.insert("a", "1");
        let mut promoted = Dataset::default();
        promoted.follow(&old_master);
        // Written after the replica's last sync: lost when the old master follows the new one.
        old_master.insert("late", "x");
        promoted.insert("b", "2");
        old_master.follow(&promoted);
        assert_eq!(keys(&old_master), keys(&promoted));
        assert!(old_master.get("late").is_none());
        // Ahead of the master it follows within one history: copied back, not replayed.
        let mut ahead = Dataset::default();
        ahead.follow(&promoted);
        promoted.insert("c", "3");
        let mut behind = Dataset::default();
        behind.follow(&promoted);
        promoted.remove("c");
        behind.follow(&ahead);
        assert_eq!(keys(&behind), keys(&ahead));
    }

    #[test]
    fn a_follower_beyond_the_kept_changes_copies_the_whole_dataset() {
        let mut master = Dataset::new();
        let mut replica = Dataset::default();
        replica.follow(&master);
        for index in 0..super::CHANGES_KEPT + 10 {
            master.insert(&format!("key-{index}"), "v");
        }
        replica.follow(&master);
        assert_eq!(keys(&replica), keys(&master));
        assert_eq!(replica.len(), super::CHANGES_KEPT + 10);
    }

    #[test]
    fn key_slots_match_redis() {
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("bar"), 5061);
        assert_eq!(
            key_slot("{user1000}.following"),
            key_slot("{user1000}.followers")
        );
        assert_eq!(key_slot("{}x"), key_slot("{}x"));
        assert_eq!(key_slot("123456789"), 12739);
    }
}
