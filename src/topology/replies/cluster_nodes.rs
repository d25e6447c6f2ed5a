//! `CLUSTER NODES`: the parser the observation uses to read a Redis Cluster's view of its nodes,
//! slots and migrations, and the renderer the simulator's fake Redis answers with.
//!
//! Pure and total like every reply parser: no I/O, no panic on any input. The renderer writes the
//! text Redis 7 prints and is compiled only for tests and the `testing` feature.

use std::fmt;
#[cfg(any(test, feature = "testing"))]
use std::fmt::Write as _;

use super::{CLUSTER_NODES, LAST_SLOT, Line, ParseError, invalid, missing, parse_number};

/// One line of `CLUSTER NODES`: a node of a Redis Cluster as seen by the server asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNode {
    /// The node's 40-character identifier.
    pub id: String,
    /// Where the node listens; `None` when the server does not know (`:0@0`).
    pub address: Option<NodeAddress>,
    /// The node's flags.
    pub flags: NodeFlags,
    /// The identifier of the master this node replicates; `None` for masters (`-`).
    pub master_id: Option<String>,
    /// Unix time in milliseconds of the pending ping, 0 when none is pending.
    pub ping_sent: u64,
    /// Unix time in milliseconds of the last pong received.
    pub pong_received: u64,
    /// The node's configuration epoch (its master's, for a replica).
    pub config_epoch: u64,
    /// Whether the cluster bus link to the node is up (`connected`).
    pub link_connected: bool,
    /// Slot ranges served, inclusive (`0-5460` is `(0, 5460)`, `5461` is `(5461, 5461)`).
    pub slots: Vec<(u16, u16)>,
    /// Slots being moved out of this node, with the destination node id (`[93->-id]`).
    pub migrating: Vec<(u16, String)>,
    /// Slots being moved into this node, with the source node id (`[93-<-id]`).
    pub importing: Vec<(u16, String)>,
}

impl ClusterNode {
    /// Whether the node is a master.
    pub fn is_master(&self) -> bool {
        self.flags.master
    }

    /// How many slots the node serves (ranges whose start is after their end count as empty).
    pub fn slot_count(&self) -> u32 {
        self.slots.iter().fold(0u32, |total, &(start, end)| {
            let size = if end >= start {
                u32::from(end - start).saturating_add(1)
            } else {
                0
            };
            total.saturating_add(size)
        })
    }
}

/// The address field of a `CLUSTER NODES` line: `ip:port@cport[,hostname]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddress {
    /// The IP address, without brackets for IPv6.
    pub ip: String,
    /// The client port.
    pub port: u16,
    /// The cluster bus port.
    pub bus_port: u16,
    /// The announced hostname, if any.
    pub hostname: Option<String>,
}

/// The flags field of a `CLUSTER NODES` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeFlags {
    /// `myself`: the node is the server that answered.
    pub myself: bool,
    /// `master`: the node is a master.
    pub master: bool,
    /// `slave` (or `replica`): the node is a replica.
    pub replica: bool,
    /// `fail?`: the answering server cannot reach the node.
    pub possibly_failed: bool,
    /// `fail`: a majority of masters agreed the node failed.
    pub failed: bool,
    /// `handshake`: the node is not yet trusted.
    pub handshake: bool,
    /// `noaddr`: the node's address is unknown.
    pub no_address: bool,
    /// `nofailover`: the replica will not attempt a failover.
    pub no_failover: bool,
}

/// Parses the text of `CLUSTER NODES`, one node per non-blank line.
///
/// Lines may end with `\n` or `\r\n`. Unknown flags are ignored; malformed fields are errors.
///
/// # Errors
///
/// Returns a [`ParseError`] naming the line and field of the first malformed line.
pub fn parse_cluster_nodes(text: &str) -> Result<Vec<ClusterNode>, ParseError> {
    let mut nodes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let location = Line(index.saturating_add(1));
        nodes.push(parse_cluster_node_line(line, location)?);
    }
    Ok(nodes)
}

/// Parses one non-blank `CLUSTER NODES` line.
fn parse_cluster_node_line(
    line: &str,
    location: impl fmt::Display + Copy,
) -> Result<ClusterNode, ParseError> {
    let mut fields = line.split_ascii_whitespace();
    let mut next_field = |name: &str| {
        fields
            .next()
            .ok_or_else(|| missing(CLUSTER_NODES, location, name))
    };
    let id = next_field("node id")?.to_owned();
    let address = parse_node_address(next_field("address")?, location)?;
    let flags = parse_node_flags(next_field("flags")?);
    let master_id = match next_field("master id")? {
        "-" => None,
        other => Some(other.to_owned()),
    };
    let ping_sent = parse_number(
        CLUSTER_NODES,
        location,
        "ping sent",
        next_field("ping sent")?,
    )?;
    let pong_received = parse_number(
        CLUSTER_NODES,
        location,
        "pong received",
        next_field("pong received")?,
    )?;
    let config_epoch = parse_number(
        CLUSTER_NODES,
        location,
        "config epoch",
        next_field("config epoch")?,
    )?;
    let link_connected = match next_field("link state")? {
        "connected" => true,
        "disconnected" => false,
        other => {
            return Err(invalid(
                CLUSTER_NODES,
                location,
                "link state",
                other,
                "connected or disconnected",
            ));
        }
    };
    let mut node = ClusterNode {
        id,
        address,
        flags,
        master_id,
        ping_sent,
        pong_received,
        config_epoch,
        link_connected,
        slots: Vec::new(),
        migrating: Vec::new(),
        importing: Vec::new(),
    };
    for entry in fields {
        parse_slot_entry(entry, location, &mut node)?;
    }
    Ok(node)
}

/// Parses the address field; an empty IP (as in `:0@0`) means the address is unknown.
fn parse_node_address(
    field: &str,
    location: impl fmt::Display + Copy,
) -> Result<Option<NodeAddress>, ParseError> {
    let (endpoint, extras) = match field.split_once(',') {
        Some((endpoint, extras)) => (endpoint, Some(extras)),
        None => (field, None),
    };
    // After the endpoint Redis 7 prints the hostname, and newer versions may add `key=value`
    // auxiliary fields; only the hostname matters here.
    let hostname = extras
        .and_then(|extras| extras.split(',').next())
        .filter(|name| !name.is_empty() && !name.contains('='))
        .map(str::to_owned);
    let (host_and_port, bus_port) = match endpoint.rsplit_once('@') {
        Some((host_and_port, bus)) => (
            host_and_port,
            parse_number::<u16>(CLUSTER_NODES, location, "cluster bus port", bus)?,
        ),
        None => (endpoint, 0),
    };
    let (ip, port_text) = if let Some(bracketed) = host_and_port.strip_prefix('[') {
        bracketed.split_once("]:").ok_or_else(|| {
            invalid(
                CLUSTER_NODES,
                location,
                "address",
                field,
                "ip:port@cport[,hostname]",
            )
        })?
    } else {
        host_and_port.rsplit_once(':').ok_or_else(|| {
            invalid(
                CLUSTER_NODES,
                location,
                "address",
                field,
                "ip:port@cport[,hostname]",
            )
        })?
    };
    let port = parse_number::<u16>(CLUSTER_NODES, location, "port", port_text)?;
    // Brackets only ever enclose the whole address; one left inside is no address at all.
    if ip.contains(['[', ']']) {
        return Err(invalid(
            CLUSTER_NODES,
            location,
            "address",
            field,
            "ip:port@cport[,hostname]",
        ));
    }
    if ip.is_empty() {
        return Ok(None);
    }
    Ok(Some(NodeAddress {
        ip: ip.to_owned(),
        port,
        bus_port,
        hostname,
    }))
}

/// Parses the comma-separated flags field, ignoring flags this module does not know.
fn parse_node_flags(field: &str) -> NodeFlags {
    let mut flags = NodeFlags::default();
    for flag in field.split(',') {
        match flag {
            "myself" => flags.myself = true,
            "master" => flags.master = true,
            "slave" | "replica" => flags.replica = true,
            "fail?" => flags.possibly_failed = true,
            "fail" => flags.failed = true,
            "handshake" => flags.handshake = true,
            "noaddr" => flags.no_address = true,
            "nofailover" => flags.no_failover = true,
            _ => {}
        }
    }
    flags
}

/// Parses a slot number no greater than 16383.
fn parse_slot(text: &str, location: impl fmt::Display + Copy) -> Result<u16, ParseError> {
    let slot = parse_number::<u16>(CLUSTER_NODES, location, "slot", text)?;
    if slot > LAST_SLOT {
        return Err(invalid(
            CLUSTER_NODES,
            location,
            "slot",
            text,
            "a slot between 0 and 16383",
        ));
    }
    Ok(slot)
}

/// Parses one slot entry (`0-5460`, `5461`, `[93->-id]` or `[93-<-id]`) into `node`.
fn parse_slot_entry(
    entry: &str,
    location: impl fmt::Display + Copy,
    node: &mut ClusterNode,
) -> Result<(), ParseError> {
    if let Some(inner) = entry.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(|| {
            invalid(
                CLUSTER_NODES,
                location,
                "slot entry",
                entry,
                "[slot->-node-id] or [slot-<-node-id]",
            )
        })?;
        let (slot_text, peer, migrating) = if let Some((slot, peer)) = inner.split_once("->-") {
            (slot, peer, true)
        } else if let Some((slot, peer)) = inner.split_once("-<-") {
            (slot, peer, false)
        } else {
            return Err(invalid(
                CLUSTER_NODES,
                location,
                "slot entry",
                entry,
                "[slot->-node-id] or [slot-<-node-id]",
            ));
        };
        if peer.is_empty() {
            return Err(invalid(
                CLUSTER_NODES,
                location,
                "slot entry",
                entry,
                "a node id after the arrow",
            ));
        }
        let slot = parse_slot(slot_text, location)?;
        if migrating {
            node.migrating.push((slot, peer.to_owned()));
        } else {
            node.importing.push((slot, peer.to_owned()));
        }
        return Ok(());
    }
    let (start, end) = match entry.split_once('-') {
        Some((start, end)) => (parse_slot(start, location)?, parse_slot(end, location)?),
        None => {
            let slot = parse_slot(entry, location)?;
            (slot, slot)
        }
    };
    if start > end {
        return Err(invalid(
            CLUSTER_NODES,
            location,
            "slot range",
            entry,
            "a range whose start is not after its end",
        ));
    }
    node.slots.push((start, end));
    Ok(())
}

/// Renders nodes as `CLUSTER NODES` prints them, each line ending with `\n`.
///
/// Addresses are printed as Redis does (IPv6 without brackets, `:0@0` when unknown); flags in
/// Redis's order (`myself,master,slave,fail?,fail,handshake,noaddr,nofailover`, or `noflags`);
/// slot ranges, then migrating markers, then importing markers.
#[cfg(any(test, feature = "testing"))]
pub fn render_cluster_nodes(nodes: &[ClusterNode]) -> String {
    let mut text = String::new();
    for node in nodes {
        let address = match &node.address {
            Some(address) => {
                let mut rendered = format!("{}:{}@{}", address.ip, address.port, address.bus_port);
                if let Some(hostname) = &address.hostname {
                    rendered.push(',');
                    rendered.push_str(hostname);
                }
                rendered
            }
            None => ":0@0".to_owned(),
        };
        let _ = write!(
            text,
            "{} {} {} {} {} {} {} {}",
            node.id,
            address,
            render_node_flags(node.flags),
            node.master_id.as_deref().unwrap_or("-"),
            node.ping_sent,
            node.pong_received,
            node.config_epoch,
            if node.link_connected {
                "connected"
            } else {
                "disconnected"
            },
        );
        for &(start, end) in &node.slots {
            if start == end {
                let _ = write!(text, " {start}");
            } else {
                let _ = write!(text, " {start}-{end}");
            }
        }
        for (slot, peer) in &node.migrating {
            let _ = write!(text, " [{slot}->-{peer}]");
        }
        for (slot, peer) in &node.importing {
            let _ = write!(text, " [{slot}-<-{peer}]");
        }
        text.push('\n');
    }
    text
}

/// Renders flags in the order Redis prints them.
#[cfg(any(test, feature = "testing"))]
fn render_node_flags(flags: NodeFlags) -> String {
    let names = [
        (flags.myself, "myself"),
        (flags.master, "master"),
        (flags.replica, "slave"),
        (flags.possibly_failed, "fail?"),
        (flags.failed, "fail"),
        (flags.handshake, "handshake"),
        (flags.no_address, "noaddr"),
        (flags.no_failover, "nofailover"),
    ];
    let set: Vec<&str> = names
        .iter()
        .filter(|(present, _)| *present)
        .map(|(_, name)| *name)
        .collect();
    if set.is_empty() {
        "noflags".to_owned()
    } else {
        set.join(",")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::topology::replies::tests::{hostname, ip};

    /// A Redis 7.2 `CLUSTER NODES` reply as seen from a master in the middle of resharding and
    /// of a failure: hostnames, a migrating and an importing slot, a replica, a possibly failed
    /// node, a failed node, a handshake, a node without address and an IPv6 node.
    const CLUSTER_NODES_SAMPLE: &str = "\
3f1c0b7e9d2a4c6b8e0f1a3c5e7d9b1f2a4c6e80 10.244.1.17:6379@16379,redis-cluster-leader-0.redis-cluster-leader-headless myself,master - 0 1718000000000 1 connected 0-5460 [5461->-9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b]\r
9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b 10.244.2.9:6379@16379,redis-cluster-leader-1.redis-cluster-leader-headless master - 0 1718000001234 2 connected 5461-10922 [5461-<-3f1c0b7e9d2a4c6b8e0f1a3c5e7d9b1f2a4c6e80]\r
c0ffee00112233445566778899aabbccddeeff00 10.244.3.4:6379@16379 master,fail? - 1718000000500 1717999990000 3 disconnected 10923-16382 16383\r
aa11bb22cc33dd44ee55ff6677889900aabbccdd 10.244.1.18:6379@16379 slave,nofailover 3f1c0b7e9d2a4c6b8e0f1a3c5e7d9b1f2a4c6e80 0 1718000002000 1 connected\r
deadbeefdeadbeefdeadbeefdeadbeefdeadbeef 10.244.4.2:6379@16379 slave,fail 9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b 1718000000100 1717999000000 2 disconnected\r
0123456789abcdef0123456789abcdef01234567 10.244.5.6:6379@16379 handshake - 1718000003000 0 0 disconnected\r
fedcba9876543210fedcba9876543210fedcba98 :0@0 master,noaddr - 1718000000000 1717990000000 4 disconnected\r
1111222233334444555566667777888899990000 fd00:10:244::7:6379@16379 slave c0ffee00112233445566778899aabbccddeeff00 0 1718000004000 3 connected\r
\r
";

    fn hex_id(character: char) -> String {
        std::iter::repeat_n(character, 40).collect()
    }

    #[test]
    fn parses_a_realistic_cluster_nodes_reply_with_every_kind_of_line() {
        let nodes = parse_cluster_nodes(CLUSTER_NODES_SAMPLE).unwrap();
        assert_eq!(nodes.len(), 8);

        let myself = &nodes[0];
        assert_eq!(myself.id, "3f1c0b7e9d2a4c6b8e0f1a3c5e7d9b1f2a4c6e80");
        assert_eq!(
            myself.address,
            Some(NodeAddress {
                ip: "10.244.1.17".to_owned(),
                port: 6379,
                bus_port: 16379,
                hostname: Some("redis-cluster-leader-0.redis-cluster-leader-headless".to_owned()),
            })
        );
        assert!(myself.flags.myself && myself.flags.master && !myself.flags.replica);
        assert!(myself.is_master());
        assert_eq!(myself.master_id, None);
        assert_eq!(myself.pong_received, 1_718_000_000_000);
        assert_eq!(myself.config_epoch, 1);
        assert!(myself.link_connected);
        assert_eq!(myself.slots, vec![(0, 5460)]);
        assert_eq!(myself.slot_count(), 5461);
        assert_eq!(
            myself.migrating,
            vec![(5461, "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b".to_owned())]
        );
        assert!(myself.importing.is_empty());

        let importer = &nodes[1];
        assert_eq!(
            importer.importing,
            vec![(5461, "3f1c0b7e9d2a4c6b8e0f1a3c5e7d9b1f2a4c6e80".to_owned())]
        );
        assert_eq!(importer.slot_count(), 5462);

        let possibly_failed = &nodes[2];
        assert!(possibly_failed.flags.possibly_failed && !possibly_failed.flags.failed);
        assert!(!possibly_failed.link_connected);
        assert_eq!(possibly_failed.slots, vec![(10923, 16382), (16383, 16383)]);
        assert_eq!(possibly_failed.slot_count(), 5461);
        assert_eq!(possibly_failed.ping_sent, 1_718_000_000_500);

        let replica = &nodes[3];
        assert!(replica.flags.replica && replica.flags.no_failover && !replica.is_master());
        assert_eq!(
            replica.master_id.as_deref(),
            Some("3f1c0b7e9d2a4c6b8e0f1a3c5e7d9b1f2a4c6e80")
        );
        assert_eq!(replica.slot_count(), 0);

        assert!(nodes[4].flags.failed && nodes[4].flags.replica);
        assert!(nodes[5].flags.handshake && !nodes[5].flags.master);
        assert_eq!(nodes[6].address, None);
        assert!(nodes[6].flags.no_address);

        let ipv6 = &nodes[7];
        assert_eq!(
            ipv6.address,
            Some(NodeAddress {
                ip: "fd00:10:244::7".to_owned(),
                port: 6379,
                bus_port: 16379,
                hostname: None,
            })
        );
    }

    #[test]
    fn renders_the_cluster_nodes_sample_back_to_the_same_nodes() {
        let nodes = parse_cluster_nodes(CLUSTER_NODES_SAMPLE).unwrap();
        let rendered = render_cluster_nodes(&nodes);
        assert_eq!(parse_cluster_nodes(&rendered).unwrap(), nodes);
        let first_line = rendered.lines().next().unwrap();
        assert_eq!(
            first_line,
            "3f1c0b7e9d2a4c6b8e0f1a3c5e7d9b1f2a4c6e80 \
             10.244.1.17:6379@16379,redis-cluster-leader-0.redis-cluster-leader-headless \
             myself,master - 0 1718000000000 1 connected 0-5460 \
             [5461->-9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b]"
        );
        assert!(rendered.contains(" :0@0 master,noaddr - "));
        assert!(rendered.contains(" fd00:10:244::7:6379@16379 slave "));
        assert!(rendered.contains(" 10923-16382 16383\n"));
    }

    #[test]
    fn accepts_bracketed_ipv6_replica_flag_noflags_and_unknown_flags() {
        let line = format!(
            "{} [::1]:7000@17000,node-a replica,some-future-flag {} 0 0 5 connected\n\
             {} 10.0.0.1:7001@17001 noflags - 0 0 0 connected\n",
            hex_id('a'),
            hex_id('b'),
            hex_id('c'),
        );
        let nodes = parse_cluster_nodes(&line).unwrap();
        let address = nodes[0].address.as_ref().unwrap();
        assert_eq!(address.ip, "::1");
        assert_eq!(address.port, 7000);
        assert_eq!(address.bus_port, 17000);
        assert_eq!(address.hostname.as_deref(), Some("node-a"));
        assert!(nodes[0].flags.replica);
        assert_eq!(
            nodes[0].flags,
            NodeFlags {
                replica: true,
                ..NodeFlags::default()
            }
        );
        assert_eq!(nodes[1].flags, NodeFlags::default());
        assert!(render_cluster_nodes(&nodes[1..]).contains(" noflags - "));
    }

    #[test]
    fn ignores_auxiliary_fields_after_the_hostname_and_an_empty_hostname() {
        let text = format!(
            "{} 10.0.0.1:6379@16379,,shard-id=abc myself,master - 0 0 1 connected\n\
             {} 10.0.0.2:6379@16379,host-b,shard-id=abc master - 0 0 2 connected\n",
            hex_id('a'),
            hex_id('b'),
        );
        let nodes = parse_cluster_nodes(&text).unwrap();
        assert_eq!(nodes[0].address.as_ref().unwrap().hostname, None);
        assert_eq!(
            nodes[1].address.as_ref().unwrap().hostname.as_deref(),
            Some("host-b")
        );
    }

    #[test]
    fn reports_the_line_and_field_of_a_malformed_cluster_nodes_line() {
        let text = format!(
            "{} 10.0.0.1:6379@16379 master - 0 0 1 connected 0-100\n\n{} 10.0.0.2:6379@16379 master - 0 0 x connected\n",
            hex_id('a'),
            hex_id('b'),
        );
        let error = parse_cluster_nodes(&text).unwrap_err();
        assert_eq!(
            error,
            ParseError::InvalidField {
                reply: "cluster nodes",
                location: "line 3".to_owned(),
                field: "config epoch".to_owned(),
                value: "x".to_owned(),
                expected: "a non-negative decimal number",
            }
        );
        assert_eq!(
            error.to_string(),
            "failed to parse cluster nodes at line 3: invalid config epoch \"x\", \
             expected a non-negative decimal number"
        );
    }

    #[test]
    fn rejects_truncated_lines_bad_slots_and_bad_link_states() {
        let id = hex_id('a');
        let bad = [
            format!("{id} 10.0.0.1:6379@16379 master - 0 0 1"),
            format!("{id} 10.0.0.1:6379@16379 master - 0 0 1 connected 16384"),
            format!("{id} 10.0.0.1:6379@16379 master - 0 0 1 connected 10-5"),
            format!("{id} 10.0.0.1:6379@16379 master - 0 0 1 connected [5->-]"),
            format!("{id} 10.0.0.1:6379@16379 master - 0 0 1 connected [5=>{id}]"),
            format!("{id} 10.0.0.1:6379@16379 master - 0 0 1 connected [5->-{id}"),
            format!("{id} 10.0.0.1:6379@16379 master - 0 0 1 linked"),
            format!("{id} 10.0.0.1:99999@16379 master - 0 0 1 connected"),
            format!("{id} 10.0.0.1 master - 0 0 1 connected"),
            format!("{id} [::1:6379@16379 master - 0 0 1 connected"),
            format!("{id} 10.0.0.1:6379@16379 master - -1 0 1 connected"),
        ];
        for text in bad {
            let error = parse_cluster_nodes(&text).unwrap_err();
            assert!(
                error
                    .to_string()
                    .starts_with("failed to parse cluster nodes at line 1"),
                "{text:?} gave {error}"
            );
        }
        assert_eq!(parse_cluster_nodes("").unwrap(), Vec::new());
        assert_eq!(parse_cluster_nodes("\r\n\n  \n").unwrap(), Vec::new());
    }

    #[test]
    fn counts_slots_without_overflow_even_for_odd_ranges() {
        let mut node = parse_cluster_nodes(&format!(
            "{} 10.0.0.1:6379@16379 master - 0 0 1 connected 0-16383",
            hex_id('a')
        ))
        .unwrap()
        .remove(0);
        assert_eq!(node.slot_count(), 16384);
        node.slots = vec![(10, 5), (0, u16::MAX)];
        assert_eq!(node.slot_count(), 65536);
        node.slots = vec![(0, u16::MAX); 70_000];
        assert_eq!(node.slot_count(), u32::MAX);
    }

    // Property tests

    fn node_id() -> impl Strategy<Value = String> {
        "[0-9a-f]{40}"
    }

    fn node_address() -> impl Strategy<Value = NodeAddress> {
        (
            ip(),
            any::<u16>(),
            any::<u16>(),
            proptest::option::of(hostname()),
        )
            .prop_map(|(ip, port, bus_port, hostname)| NodeAddress {
                ip,
                port,
                bus_port,
                hostname,
            })
    }

    fn node_flags() -> impl Strategy<Value = NodeFlags> {
        proptest::array::uniform8(any::<bool>()).prop_map(|bits| {
            let [
                myself,
                master,
                replica,
                possibly_failed,
                failed,
                handshake,
                no_address,
                no_failover,
            ] = bits;
            NodeFlags {
                myself,
                master,
                replica,
                possibly_failed,
                failed,
                handshake,
                no_address,
                no_failover,
            }
        })
    }

    fn slot() -> impl Strategy<Value = u16> {
        0..=LAST_SLOT
    }

    fn slot_range() -> impl Strategy<Value = (u16, u16)> {
        (slot(), slot()).prop_map(|(a, b)| (a.min(b), a.max(b)))
    }

    fn cluster_node() -> impl Strategy<Value = ClusterNode> {
        (
            (
                node_id(),
                proptest::option::of(node_address()),
                node_flags(),
                proptest::option::of(node_id()),
            ),
            (any::<u64>(), any::<u64>(), any::<u64>(), any::<bool>()),
            (
                proptest::collection::vec(slot_range(), 0..6),
                proptest::collection::vec((slot(), node_id()), 0..3),
                proptest::collection::vec((slot(), node_id()), 0..3),
            ),
        )
            .prop_map(
                |(
                    (id, address, flags, master_id),
                    (ping_sent, pong_received, config_epoch, link_connected),
                    (slots, migrating, importing),
                )| ClusterNode {
                    id,
                    address,
                    flags,
                    master_id,
                    ping_sent,
                    pong_received,
                    config_epoch,
                    link_connected,
                    slots,
                    migrating,
                    importing,
                },
            )
    }

    proptest! {
        #[test]
        fn cluster_nodes_survive_a_render_and_parse_round_trip(
            nodes in proptest::collection::vec(cluster_node(), 0..6)
        ) {
            let rendered = render_cluster_nodes(&nodes);
            prop_assert_eq!(parse_cluster_nodes(&rendered), Ok(nodes));
        }
    }
}
