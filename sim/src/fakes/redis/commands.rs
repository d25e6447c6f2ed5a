//! The commands the operator sends to a fake server, answered as Redis answers them: replication
//! (REPLICAOF), cluster membership and slots (MEET, ADDSLOTS, SETSLOT, MIGRATE, FORGET, FAILOVER,
//! RESET) and configuration, with Redis' refusals; each writing command is recorded for the
//! oracles.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use redis_operator::ports::redis::{
    FailoverMode, RedisAdmin, RedisCommand, RedisEndpoint, RedisError, RedisReply, SlotState,
};
use redis_operator::topology::replication::REPLICA_PRIORITY_PARAMETER;
use redis_operator::topology::replies::{
    render_cluster_info, render_info_replication, render_keyspace,
};

use super::cluster_bus::peer_of;
use super::dataset::{DATABASES, Value};
use super::full_sync::LOADING_MESSAGE;
use super::replies::{cluster_info, cluster_nodes_reply, info_replication};
use super::{
    CommandRecord, FORGET_BAN_MILLISECONDS, FakeRedis, Fleet, LinkOrigin, Peer, Server, ServerKind,
    ok, rejected, unreachable,
};

/// Why `server` refuses `CLUSTER SETSLOT slot state`, as Redis words it; `None` when it accepts.
pub(super) fn set_slot_refusal(server: &Server, slot: u16, state: &SlotState) -> Option<String> {
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

/// What a target answers when it already holds a key MIGRATE restores without REPLACE.
const BUSYKEY_MESSAGE: &str = "BUSYKEY Target key name already exists.";

impl Fleet {
    pub(super) fn run(
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
        // While it loads a dataset Redis answers INFO and CONFIG alone.
        if server.loading_at(self.now)
            && !matches!(
                command,
                RedisCommand::InfoReplication
                    | RedisCommand::InfoKeyspace
                    | RedisCommand::ConfigSet { .. }
            )
        {
            return reject(LOADING_MESSAGE);
        }
        let cluster = server.kind == ServerKind::Cluster;
        let sentinel = server.kind == ServerKind::Sentinel;
        match command {
            RedisCommand::Ping => Ok(RedisReply::Status("PONG".to_owned())),
            RedisCommand::InfoReplication if !sentinel => Ok(RedisReply::Text(
                render_info_replication(&info_replication(self, server)),
            )),
            // Every database that holds keys, as Redis lists them. A load under way counts the
            // keys read so far, database after database.
            RedisCommand::InfoKeyspace => {
                let mut left = match server.loading {
                    Some(loading) if loading.runs_at(self.now) => {
                        loading.loaded(server.data.len(), self.now)
                    }
                    _ => server.data.len(),
                };
                let keys: Vec<u64> = (0..DATABASES)
                    .map(|database| {
                        let length = u8::try_from(database)
                            .map_or(0, |database| server.data.database_len(database))
                            .min(left);
                        left -= length;
                        u64::try_from(length).unwrap_or(u64::MAX)
                    })
                    .collect();
                Ok(RedisReply::Text(render_keyspace(&keys)))
            }
            // The operator's connection never selects another database.
            RedisCommand::DatabaseSize => Ok(RedisReply::Integer(
                i64::try_from(server.data.database_len(0)).unwrap_or(i64::MAX),
            )),
            RedisCommand::ReplicaOf { host, port } if !cluster && !sentinel => {
                if let Some(server) = self.servers.get_mut(address) {
                    server.point_at((host.clone(), *port), self.command_origin);
                    server.link_up = false;
                }
                self.sync_replica(address);
                Ok(ok())
            }
            RedisCommand::ReplicaOfNoOne if !cluster && !sentinel => {
                if let Some((old_master, _)) = server.master.clone() {
                    self.supersede(&old_master, address, false);
                }
                self.promote(address);
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
                if self
                    .servers
                    .get(host)
                    .is_some_and(|replica| replica.full_sync.is_some())
                {
                    return reject("ERR FAILOVER target replica is not online.");
                }
                // The replica catches up first: no acknowledged write is lost.
                self.sync_replica(host);
                self.promote(host);
                // Only the old master turns into a replica of the new one; its other replicas
                // stay attached to it and so replicate through it (chained), as in Redis.
                if let Some(old) = self.servers.get_mut(address) {
                    old.point_at((host.clone(), *port), self.command_origin);
                }
                self.sync_replica(address);
                Ok(ok())
            }
            RedisCommand::ConfigSet { parameter, value }
                if parameter.eq_ignore_ascii_case(REPLICA_PRIORITY_PARAMETER)
                    || parameter.eq_ignore_ascii_case("slave-priority") =>
            {
                let Ok(priority) = value.parse::<u32>() else {
                    return reject(&format!(
                        "ERR CONFIG SET failed (possibly related to argument '{parameter}') - argument couldn't be parsed into an integer"
                    ));
                };
                if let Some(server) = self.servers.get_mut(address) {
                    server.replica_priority = priority;
                }
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
                // Redis replicates from the address its table holds for the master.
                let master_address = server.table_address(master_id);
                if let Some(server) = self.servers.get_mut(address) {
                    server.cluster_master = Some(master_id.clone());
                    server.master = master_address;
                    server.pointed(self.command_origin);
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
            RedisCommand::Migrate {
                host,
                keys,
                replace,
                ..
            } => {
                if !self.connected(address, host) {
                    return reject("IOERR error or timeout connecting to the target instance");
                }
                // The fake's keys are text; a key that is not UTF-8 names none of them. The
                // operator's connection never selects another database: keys move between
                // databases 0.
                let held: Vec<(String, Value)> = keys
                    .iter()
                    .filter_map(|key| std::str::from_utf8(key).ok())
                    .filter_map(|key| {
                        server
                            .data
                            .value(0, key)
                            .map(|value| (key.to_owned(), value.clone()))
                    })
                    .collect();
                if held.is_empty() {
                    return Ok(RedisReply::Status("NOKEY".to_owned()));
                }
                // The target restores each key; without REPLACE it refuses one it holds
                // (BUSYKEY), which stays at the source, and the first refusal is the reply.
                let mut moved = Vec::with_capacity(held.len());
                let mut refusal = None;
                if let Some(target) = self.servers.get_mut(host) {
                    for (key, value) in held {
                        if !replace && target.data.value(0, &key).is_some() {
                            refusal.get_or_insert(BUSYKEY_MESSAGE);
                            continue;
                        }
                        target.data.set(0, &key, value);
                        if target.backlog {
                            target.offset += 1;
                        }
                        moved.push(key);
                    }
                }
                if let Some(source) = self.servers.get_mut(address) {
                    for key in &moved {
                        source.data.remove(key);
                        if source.backlog {
                            source.offset += 1;
                        }
                    }
                }
                match refusal {
                    Some(message) => reject(&format!(
                        "ERR Target instance replied with error: {message}"
                    )),
                    None => Ok(ok()),
                }
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

    pub(super) fn add_slots(
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
    pub(super) fn set_slot(
        &mut self,
        address: &str,
        slot: u16,
        state: &SlotState,
        takes_slot: bool,
    ) {
        let epoch = if takes_slot { self.max_epoch() + 1 } else { 0 };
        let origin = self.command_origin;
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
                    server.claim_origin = origin;
                } else {
                    server.slots.remove(&slot);
                    if let Some(peer) = Arc::make_mut(&mut server.peers).get_mut(owner) {
                        peer.slots.insert(slot);
                    }
                }
            }
        }
    }

    pub(super) fn failover(
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
        // The replica talks to its master at the address its table holds for it.
        let master_reachable = master_ip.as_ref().is_some_and(|ip| {
            server
                .table_address(&master_id)
                .is_some_and(|(known_ip, _)| known_ip == *ip)
                && self.connected(address, ip)
        });
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
            // A replica still waiting for its full resync never reaches the master's offset:
            // Redis accepts the command and lets the manual failover time out.
            if self
                .servers
                .get(address)
                .is_some_and(|replica| replica.full_sync.is_some())
            {
                return Ok(ok());
            }
        }
        if let Some(ip) = &master_ip {
            self.supersede(ip, address, false);
        }
        // The slots its master serves, as the master says, or as its own table records them
        // when no server runs that node any more (it restarted under another id).
        let slots = master_ip
            .as_ref()
            .and_then(|ip| self.servers.get(ip))
            .map(|master| master.slots.clone())
            .or_else(|| server.peers.get(&master_id).map(|peer| peer.slots.clone()))
            .unwrap_or_default();
        let epoch = self.max_epoch() + 1;
        let my_id = server.node_id.clone();
        if let Some(me) = self.servers.get_mut(address) {
            me.cluster_master = None;
            me.master = None;
            me.slots = slots;
            me.epoch = epoch;
            me.claim_origin = self.command_origin;
        }
        if master_reachable && let Some(ip) = master_ip {
            let (my_ip, my_port) = (server.ip.clone(), server.port);
            if let Some(old) = self.servers.get_mut(&ip) {
                old.slots.clear();
                old.cluster_master = Some(my_id);
                old.point_at((my_ip, my_port), self.command_origin);
            }
            self.sync_replica(&ip);
        }
        Ok(ok())
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

    /// The reply to `command` sent by someone other than the operator (a human, another tool):
    /// the servers it points at a master record that origin.
    pub fn execute_as_bystander(
        &self,
        endpoint: &RedisEndpoint,
        command: &RedisCommand,
    ) -> Result<RedisReply, RedisError> {
        let mut fleet = self.lock();
        fleet.command_origin = LinkOrigin::Bystander;
        let reply = fleet.run(endpoint, command);
        fleet.command_origin = LinkOrigin::Operator;
        reply
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
