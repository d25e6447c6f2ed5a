//! The Redis Cluster bus of the fake fleet, one gossip round per step: nodes learn peers from
//! every node they reach, mark a peer failed after the node timeout, promote a replica of a
//! failed master, settle slot ownership by config epoch (the UPDATE message), and honour the
//! ban FORGET sets. Rounds that can change nothing only note their time.
//!
//! It changes cluster tables and roles only; datasets move through replication and MIGRATE.

use std::collections::BTreeMap;
use std::sync::Arc;

use redis_operator::ports::clock::Milliseconds;
use redis_operator::topology::slots::SLOT_COUNT;

use super::{
    Discard, DiscardCause, Fleet, LinkOrigin, NODE_TIMEOUT_MILLISECONDS, Peer, SLOT_WORDS, Server,
    ServerKind, SlotSet,
};

/// What one node learnt in a gossip round: its address and peers.
pub(super) type GossipUpdate = (String, Arc<BTreeMap<String, Peer>>);

pub(super) fn tick_cluster(fleet: &mut Fleet, addresses: &[String]) {
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
    settled &= gossip(fleet, &cluster);
    settled &= yield_slots_to_higher_epochs(fleet, &cluster);
    settled &= promote_replicas_of_failed_masters(fleet, &cluster);
    fleet.settled_at = settled.then_some(fleet.membership_version);
}

/// One gossip exchange of every live node of `cluster`; returns whether it changed nothing but
/// last-seen times and left nothing for time to change.
fn gossip(fleet: &mut Fleet, cluster: &[String]) -> bool {
    let now = fleet.now;
    let mut settled = true;
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
        // Peers whose address answers with another node id: Redis drops the address of such a
        // peer (`noaddr`, shown as `:0@0`) and stops pinging it.
        let mut addresses_lost: Vec<String> = Vec::new();
        // The masters this node heard from in this round: their tables are its failure reports.
        let mut masters_heard: Vec<&Server> = Vec::new();
        for (id, peer) in server.peers.iter() {
            // A node is reached at the address this one knows it at, or reaches this one from
            // wherever it is now; Redis takes the address a known node pings from as its new
            // one (`nodeUpdateAddressIfNeeded`).
            let Some(peer_server) = reached_at_known_address(fleet, address, id, peer)
                .or_else(|| pinging_from_new_address(fleet, &by_id, server, id))
            else {
                settled = false;
                if answered_by_another(fleet, address, id, peer) {
                    addresses_lost.push(id.clone());
                }
                continue;
            };
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
            if peer_server.cluster_master.is_none() {
                masters_heard.push(peer_server);
            }
            learn_peers_of(&mut peers, server, peer_server, now);
        }
        if !addresses_lost.is_empty() {
            let table = Arc::make_mut(&mut peers);
            for id in addresses_lost {
                if let Some(peer) = table.get_mut(&id) {
                    peer.ip.clear();
                    peer.port = 0;
                }
            }
        }
        // Failure detection: a peer not reached for the node timeout is possibly failed (`fail?`);
        // reached again, it is neither.
        let mut flips: Vec<(String, bool)> = Vec::new();
        for (id, peer) in peers.iter() {
            // Redis neither pings nor fails a node without an address: it keeps the flags it
            // had when its address was dropped.
            if peer.ip.is_empty() {
                continue;
            }
            let seen = match last_seen.get(id) {
                Some(seen) => *seen,
                None => {
                    last_seen.insert(id.clone(), now);
                    now
                }
            };
            if now.saturating_sub(seen) >= NODE_TIMEOUT_MILLISECONDS {
                if !peer.possibly_failed && !peer.failed {
                    flips.push((id.clone(), true));
                }
            } else if seen == now && (peer.failed || peer.possibly_failed) {
                flips.push((id.clone(), false));
            }
        }
        if !flips.is_empty() {
            let table = Arc::make_mut(&mut peers);
            for (id, possibly_failed) in flips {
                if let Some(peer) = table.get_mut(&id) {
                    peer.possibly_failed = possibly_failed;
                    peer.failed = false;
                }
            }
        }
        mark_agreed_failures(&mut peers, server, &masters_heard);
        // Ownership by epoch: a slot belongs to the claimant with the highest epoch.
        resolve_ownership(&mut peers, server);
        if !Arc::ptr_eq(&peers, &server.peers)
            || peers
                .values()
                .any(|peer| peer.failed || peer.possibly_failed)
        {
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
    settled
}

/// The live cluster server the node at `from` reaches at the address its table holds for `peer`,
/// whichever node id it runs.
fn server_at_known_address<'a>(fleet: &'a Fleet, from: &str, peer: &Peer) -> Option<&'a Server> {
    if peer.ip.is_empty() {
        return None;
    }
    fleet.servers.get(&peer.ip).filter(|server| {
        server.alive
            && server.kind == ServerKind::Cluster
            && server.port == peer.port
            && !fleet.cut(from, &server.ip)
    })
}

/// The server `peer` (node `id` in the table of the node at `from`) runs in, when it answers at
/// the address the table holds for it.
fn reached_at_known_address<'a>(
    fleet: &'a Fleet,
    from: &str,
    id: &str,
    peer: &Peer,
) -> Option<&'a Server> {
    server_at_known_address(fleet, from, peer).filter(|server| server.node_id == id)
}

/// The server running node `id` when it pings `myself` from wherever it is: it knows `myself`
/// at its current address and reaches it.
fn pinging_from_new_address<'a>(
    fleet: &Fleet,
    by_id: &BTreeMap<&str, &'a Server>,
    myself: &Server,
    id: &str,
) -> Option<&'a Server> {
    let other = by_id.get(id).copied()?;
    let knows_me_here = other.peers.get(&myself.node_id).is_some_and(|entry| {
        !entry.handshake && entry.ip == myself.ip && entry.port == myself.port
    });
    (other.alive && knows_me_here && !fleet.cut(&myself.ip, &other.ip)).then_some(other)
}

/// Whether another live cluster node answers at the address the node at `from` knows node `id`
/// at: its handshake finds a different node id there.
fn answered_by_another(fleet: &Fleet, from: &str, id: &str, peer: &Peer) -> bool {
    server_at_known_address(fleet, from, peer).is_some_and(|other| other.node_id != id)
}

/// Redis' failure agreement (`markNodeAsFailingIfNeeded`): a peer `myself` holds possibly failed
/// turns failed when the masters that hold it possibly failed or failed, among those heard from
/// in this round and `myself` when it is a master, are a majority of the masters serving slots.
fn mark_agreed_failures(
    peers: &mut Arc<BTreeMap<String, Peer>>,
    myself: &Server,
    masters_heard: &[&Server],
) {
    let suspects: Vec<&String> = peers
        .iter()
        .filter(|(_, peer)| peer.possibly_failed && !peer.failed)
        .map(|(id, _)| id)
        .collect();
    if suspects.is_empty() {
        return;
    }
    let myself_serves = myself.cluster_master.is_none() && !myself.slots.is_empty();
    let size = peers
        .values()
        .filter(|peer| peer.master_id.is_none() && !peer.slots.is_empty())
        .count()
        + usize::from(myself_serves);
    let needed = size / 2 + 1;
    let agreed: Vec<String> = suspects
        .into_iter()
        .filter(|id| {
            let reports = masters_heard
                .iter()
                .filter(|master| {
                    master
                        .peers
                        .get(*id)
                        .is_some_and(|peer| peer.possibly_failed || peer.failed)
                })
                .count()
                + usize::from(myself.cluster_master.is_none());
            reports >= needed
        })
        .cloned()
        .collect();
    if agreed.is_empty() {
        return;
    }
    let table = Arc::make_mut(peers);
    for id in agreed {
        if let Some(peer) = table.get_mut(&id) {
            peer.failed = true;
            peer.possibly_failed = false;
        }
    }
}

/// Applies what the round taught about slot ownership; returns whether nothing changed.
fn yield_slots_to_higher_epochs(fleet: &mut Fleet, cluster: &[String]) -> bool {
    let mut settled = true;
    // A node that learns a higher-epoch owner of its slots loses them; a master left without
    // slots whose slots went to another node follows that node (the old master rejoining).
    for address in cluster {
        let Some(server) = fleet.servers.get(address) else {
            continue;
        };
        if !server.alive {
            continue;
        }
        let mut lost_to: Option<String> = None;
        let mut slots = server.slots.clone();
        // Keys in the slots it loses, and who made their new owner take them.
        let mut dirty: Vec<(u16, LinkOrigin)> = Vec::new();
        for (id, peer) in server.peers.iter() {
            // Like Redis, a higher config epoch wins whether or not its owner is reachable.
            if peer.epoch > server.epoch && slots.intersects(&peer.slots) {
                let claimed_by = fleet
                    .id_to_ip(id)
                    .and_then(|ip| fleet.servers.get(&ip))
                    .map_or(LinkOrigin::ClusterBus, |owner| owner.claim_origin);
                dirty.extend(
                    slots
                        .iter()
                        .filter(|slot| peer.slots.contains(slot))
                        .filter(|slot| server.data.keys_in_slot(*slot).next().is_some())
                        .map(|slot| (slot, claimed_by)),
                );
                slots.subtract(&peer.slots);
                lost_to = Some(id.clone());
                settled = false;
            }
        }
        if !dirty.is_empty() {
            delete_keys_in_lost_slots(fleet, address, &dirty);
        }
        if let Some(server) = fleet.servers.get_mut(address) {
            server.slots = slots;
            if let Some(new_master) =
                lost_to.filter(|_| server.slots.is_empty() && server.cluster_master.is_none())
            {
                server.cluster_master = Some(new_master);
                server.pointed(LinkOrigin::ClusterBus);
            }
        }
        // A replica replicates from the address its table holds for its master: one that moved
        // is followed once this node learnt where it went.
        if let Some(server) = fleet.servers.get_mut(address)
            && let Some(master_id) = server.cluster_master.as_deref()
            && let Some(following) = server.table_address(master_id)
            && server.master.as_ref() != Some(&following)
        {
            server.master = Some(following);
            settled = false;
        }
    }
    settled
}

/// Redis' dirty slots: a node that learns another owns, at a higher epoch, slots it still holds
/// keys in deletes those keys (and its replicas follow). Recorded as a discard, held against the
/// operator when its own claim made the new owner take the slots.
fn delete_keys_in_lost_slots(fleet: &mut Fleet, address: &str, dirty: &[(u16, LinkOrigin)]) {
    let now = fleet.now;
    let Some(server) = fleet.servers.get_mut(address) else {
        return;
    };
    // One discard per cause, so the operator's claims are told apart from Redis Cluster's own.
    let causes: std::collections::BTreeSet<LinkOrigin> =
        dirty.iter().map(|(_, claimed_by)| *claimed_by).collect();
    for origin in causes {
        let dropped = server.data.clone();
        let keys: Vec<String> = dirty
            .iter()
            .filter(|(_, claimed_by)| *claimed_by == origin)
            .flat_map(|(slot, _)| dropped.keys_in_slot(*slot))
            .map(str::to_owned)
            .collect();
        for key in &keys {
            server.data.remove(key);
            if server.backlog {
                server.offset += 1;
            }
        }
        fleet.discards.push(Discard {
            at: now,
            pod: server.pod.clone(),
            cause: DiscardCause::SlotLost { claimed_by: origin },
            dropped,
            kept: server.data.clone(),
        });
    }
}

/// Promotes replicas of masters a majority saw fail; returns whether none was promoted.
fn promote_replicas_of_failed_masters(fleet: &mut Fleet, cluster: &[String]) -> bool {
    let mut settled = true;
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
            // A replica that never completed a sync from that master has no data to serve: its
            // data age is past `cluster-replica-validity-factor`, and Redis does not elect it.
            .filter(|server| server.last_synced_at.is_some())
            .max_by_key(|server| (server.offset, std::cmp::Reverse(server.pod.clone())))
            .map(|server| server.ip.clone());
        let Some(candidate) = candidate else { continue };
        settled = false;
        let failed_slots = failed.slots.clone();
        let failed_node_id = failed.node_id.clone();
        fleet.supersede(failed_address, &candidate, true);
        let epoch = fleet.max_epoch() + 1;
        if let Some(server) = fleet.servers.get_mut(&candidate) {
            server.cluster_master = None;
            server.master = None;
            server.link_up = false;
            server.slots = failed_slots;
            server.epoch = epoch;
            server.claim_origin = LinkOrigin::ClusterBus;
        }
        if let Some(server) = fleet.servers.get_mut(failed_address) {
            // The failed master keeps its stale claim until it comes back and learns the new
            // epoch; live nodes stop counting it.
            server.epoch = server.epoch.min(epoch.saturating_sub(1));
        }
        follow_the_promoted_sibling(fleet, cluster, &failed_node_id, &candidate);
    }
    settled &= promote_replicas_of_vanished_masters(fleet, cluster, &masters_with_slots);
    settled
}

/// The other replicas of a failed master follow the replica promoted in its place (at
/// `promoted`) once they hear from it, as Redis Cluster's replicas do when their master is left
/// without slots (`cluster-allow-replica-migration`, on by default): they resync from it,
/// partially when they share its history.
fn follow_the_promoted_sibling(
    fleet: &mut Fleet,
    cluster: &[String],
    failed_id: &str,
    promoted: &str,
) {
    let Some(promoted_id) = fleet
        .servers
        .get(promoted)
        .map(|server| server.node_id.clone())
    else {
        return;
    };
    let siblings: Vec<String> = cluster
        .iter()
        .filter(|address| *address != promoted)
        .filter(|address| {
            fleet.servers.get(*address).is_some_and(|server| {
                server.alive && server.cluster_master.as_deref() == Some(failed_id)
            })
        })
        .filter(|address| fleet.connected(address, promoted))
        .cloned()
        .collect();
    for address in siblings {
        if let Some(server) = fleet.servers.get_mut(&address) {
            server.cluster_master = Some(promoted_id.clone());
            server.pointed(LinkOrigin::ClusterBus);
        }
    }
}

/// Promotes replicas of masters that no server runs any more but that the live masters still
/// know, failed, with slots: a master whose process restarted without its `nodes.conf` came back
/// under a new node id, and the old id lives on only in its peers' tables. Redis Cluster fails
/// the old id over like any other master once the node timeout has passed (its address answers
/// with another id). Returns whether none was promoted.
fn promote_replicas_of_vanished_masters(
    fleet: &mut Fleet,
    cluster: &[String],
    masters_with_slots: &[String],
) -> bool {
    let mut settled = true;
    // Each vanished master's slots, as the first live master marking it failed records them,
    // with how many live masters mark it failed.
    let mut vanished: BTreeMap<String, (SlotSet, usize)> = BTreeMap::new();
    for address in masters_with_slots {
        let Some(voter) = fleet.servers.get(address).filter(|server| server.alive) else {
            continue;
        };
        for (id, peer) in voter.peers.iter() {
            if peer.failed
                && peer.master_id.is_none()
                && !peer.slots.is_empty()
                && fleet.id_to_ip(id).is_none()
            {
                vanished
                    .entry(id.clone())
                    .or_insert_with(|| (peer.slots.clone(), 0))
                    .1 += 1;
            }
        }
    }
    for (failed_id, (slots, voters)) in vanished {
        // The cluster's size counts the vanished master among the masters serving slots.
        if voters * 2 <= masters_with_slots.len() + 1 {
            continue;
        }
        let candidate = cluster
            .iter()
            .filter_map(|address| fleet.servers.get(address))
            .filter(|server| server.alive && server.cluster_master.as_deref() == Some(&failed_id))
            .filter(|server| server.last_synced_at.is_some())
            .max_by_key(|server| (server.offset, std::cmp::Reverse(server.pod.clone())))
            .map(|server| server.ip.clone());
        let Some(candidate) = candidate else { continue };
        settled = false;
        // Its old dataset is gone with the process that held it (a discard recorded at the
        // restart): there is no old master left to supersede.
        let epoch = fleet.max_epoch() + 1;
        if let Some(server) = fleet.servers.get_mut(&candidate) {
            server.cluster_master = None;
            server.master = None;
            server.link_up = false;
            server.slots = slots;
            server.epoch = epoch;
            server.claim_origin = LinkOrigin::ClusterBus;
        }
    }
    settled
}

/// What settled rounds leave: every live node saw every peer it knows, at `now`.
pub(super) fn refresh_last_seen(fleet: &mut Fleet, now: Milliseconds) {
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

/// Gossip from one reachable peer: `server` learns the nodes `peer_server` knows, their failure
/// marks and the addresses of nodes it cannot reach (a node it banned stays unknown until the ban
/// ends). Walks both tables in id order
/// together rather than looking each id up, as a round touches every pair of nodes.
pub(super) fn learn_peers_of(
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
        Address(&'a String, &'a Peer),
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
                } else if (mine.possibly_failed || mine.failed)
                    && !other.ip.is_empty()
                    && !other.possibly_failed
                    && !other.failed
                    && (other.ip != mine.ip || other.port != mine.port)
                {
                    // A node this one cannot reach, at another address in the table of a node
                    // that reaches it: Redis tries that address (`clusterProcessGossipSection`).
                    learnt.push(Learnt::Address(other_id, other));
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
                    mine.possibly_failed = false;
                }
            }
            Learnt::Address(id, other) => {
                if let Some(mine) = table.get_mut(id) {
                    mine.ip.clone_from(&other.ip);
                    mine.port = other.port;
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
pub(super) fn describes(peer: &Peer, server: &Server) -> bool {
    !peer.failed
        && !peer.possibly_failed
        && !peer.handshake
        && peer.port == server.port
        && peer.epoch == server.epoch
        && peer.ip == server.ip
        && *peer.hostname == *server.pod
        && peer.master_id == server.cluster_master
        && peer.slots == server.slots
}

pub(super) fn peer_of(server: &Server) -> Peer {
    Peer {
        ip: server.ip.clone(),
        hostname: server.pod.to_string(),
        port: server.port,
        master_id: server.cluster_master.clone(),
        slots: server.slots.clone(),
        epoch: server.epoch,
        possibly_failed: false,
        failed: false,
        handshake: false,
    }
}

/// Within one node's table: a slot claimed by several peers belongs to the claimant with the
/// highest config epoch; the others' claims are dropped.
pub(super) fn resolve_ownership(peers: &mut Arc<BTreeMap<String, Peer>>, myself: &Server) {
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
