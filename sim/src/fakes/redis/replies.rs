//! What a fake server answers to the operator's reads — CLUSTER NODES, CLUSTER INFO, INFO
//! replication — built from its state and rendered by the operator's own renderers of the real
//! reply formats.

use std::sync::Arc;

use redis_operator::topology::cluster::BUS_PORT_OFFSET;
use redis_operator::topology::replies::{
    ClusterInfo, ClusterNode, MasterLinkDown, NodeAddress, NodeFlags, ReplicaEntry,
    ReplicationInfo, ReplicationRole, render_cluster_nodes,
};
use redis_operator::topology::slots::SLOT_COUNT;

use super::full_sync::SyncPhase;
use super::{Fleet, RenderedClusterNodes, Server, SlotSet};

/// The CLUSTER NODES reply of `server`, rendered again only when what it shows changed.
pub(super) fn cluster_nodes_reply(server: &Server) -> String {
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
pub(super) fn cluster_nodes(server: &Server) -> Vec<ClusterNode> {
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
        // A peer whose address answered with another node id has none (`:0@0`, `noaddr`).
        let no_address = peer.ip.is_empty();
        nodes.push(ClusterNode {
            id: id.clone(),
            address: (!no_address).then(|| NodeAddress {
                ip: peer.ip.clone(),
                port: peer.port,
                bus_port: peer.port.saturating_add(BUS_PORT_OFFSET),
                hostname: Some(peer.hostname.clone()),
            }),
            flags: NodeFlags {
                master: peer.master_id.is_none(),
                replica: peer.master_id.is_some(),
                possibly_failed: peer.possibly_failed && !peer.failed,
                failed: peer.failed,
                handshake: peer.handshake,
                no_address,
                ..NodeFlags::default()
            },
            master_id: peer.master_id.clone(),
            ping_sent: 0,
            pong_received: 0,
            config_epoch: peer.epoch,
            link_connected: !peer.failed && !peer.possibly_failed && !no_address,
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

/// CLUSTER INFO as `server` sees the cluster, by Redis' rules (`clusterUpdateState`): the state
/// is ok when every slot is served by a master not marked failed and the masters serving slots
/// that this node does not hold possibly failed or failed (itself included) are a majority.
pub(super) fn cluster_info(server: &Server) -> ClusterInfo {
    let masters = cluster_nodes(server)
        .into_iter()
        .filter(|node| node.flags.master)
        .collect::<Vec<_>>();
    let slots_where = |flag: fn(&ClusterNode) -> bool| -> u32 {
        masters
            .iter()
            .filter(|node| flag(node))
            .map(ClusterNode::slot_count)
            .sum()
    };
    let assigned = slots_where(|_| true);
    let failed = slots_where(|node| node.flags.failed);
    let possibly_failed = slots_where(|node| node.flags.possibly_failed);
    let serving: Vec<&ClusterNode> = masters
        .iter()
        .filter(|node| node.slot_count() > 0)
        .collect();
    let reachable = serving
        .iter()
        .filter(|node| !node.flags.failed && !node.flags.possibly_failed)
        .count();
    let in_majority = reachable > serving.len() / 2;
    let current_epoch = server
        .peers
        .values()
        .map(|peer| peer.epoch)
        .chain(std::iter::once(server.epoch))
        .max()
        .unwrap_or(0);
    ClusterInfo {
        state_ok: assigned == u32::from(SLOT_COUNT) && failed == 0 && in_majority,
        slots_assigned: assigned,
        slots_ok: assigned - failed - possibly_failed,
        slots_possibly_failed: possibly_failed,
        slots_failed: failed,
        known_nodes: u32::try_from(server.peers.len() + 1).unwrap_or(u32::MAX),
        size: u32::try_from(serving.len()).unwrap_or(u32::MAX),
        current_epoch,
        my_epoch: server.epoch,
    }
}

pub(super) fn info_replication(fleet: &Fleet, server: &Server) -> ReplicationInfo {
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
        .map(|replica| {
            // A replica waiting for (or receiving) a full resync is listed at offset 0.
            let (state, offset) = match replica.sync_phase(fleet.now) {
                Some(SyncPhase::Waiting) => ("wait_bgsave", 0),
                Some(SyncPhase::Transferring) => ("send_bulk", 0),
                Some(SyncPhase::Received) | None => ("online", replica.offset),
            };
            ReplicaEntry {
                ip: replica.ip.clone(),
                port: replica.port,
                state: state.to_owned(),
                offset,
                lag: 0,
            }
        })
        .collect();
    let loading = server.loading_at(fleet.now);
    match &server.master {
        Some((host, port)) => {
            let link_up = server.link_up && !loading && fleet.connected(&server.ip, host);
            // The link is up while it syncs, so the seconds since the last sync are the seconds
            // since it went down; none since the replica started or was pointed at this master
            // is Redis' `repl_down_since` of 0, printed as -1.
            let link_down = (!link_up).then(|| match server.last_synced_at {
                Some(synced_at) => {
                    MasterLinkDown::Seconds(fleet.now.saturating_sub(synced_at) / 1000)
                }
                None => MasterLinkDown::NeverSynced,
            });
            ReplicationInfo {
                role: ReplicationRole::Replica,
                master_host: Some(host.clone()),
                master_port: Some(*port),
                master_link_up: link_up,
                // From the start of the transfer to the end of its load.
                master_sync_in_progress: loading
                    || server.sync_phase(fleet.now) == Some(SyncPhase::Transferring),
                master_link_down: link_down,
                replica_offset: Some(server.offset),
                replica_priority: Some(server.replica_priority),
                master_replication_id: server.replication_id.clone(),
                master_offset: server.offset,
                previous_history: server.previous_history.clone(),
                replicas,
            }
        }
        None => ReplicationInfo {
            role: ReplicationRole::Master,
            master_host: None,
            master_port: None,
            master_link_up: false,
            master_sync_in_progress: false,
            master_link_down: None,
            replica_offset: None,
            replica_priority: None,
            master_replication_id: server.replication_id.clone(),
            master_offset: server.offset,
            previous_history: server.previous_history.clone(),
            replicas,
        },
    }
}
