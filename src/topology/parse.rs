//! Parsers and renderers for the Redis replies the operator reads to learn a topology:
//! `CLUSTER NODES`, `CLUSTER INFO`, `INFO replication`, and the sentinel replies
//! `SENTINEL MASTERS`, `SENTINEL REPLICAS`, `SENTINEL SENTINELS` and
//! `SENTINEL GET-MASTER-ADDR-BY-NAME`.
//!
//! Every parser turns a reply into typed values and reports a [`ParseError`] that names the
//! reply, the line or entry, and the field it could not understand. Every renderer writes the
//! text (or reply shape) a real Redis 7 server produces, so that the simulator's fake Redis can
//! answer with it; for every value a renderer accepts, parsing the rendered reply gives the
//! value back.
//!
//! This module must stay pure: no I/O, no async, no clock, no logging. It must never panic,
//! whatever the input: no `unwrap`, no `expect`, no indexing that can go out of bounds, no
//! arithmetic that can overflow.

use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;
use std::str::FromStr;

use crate::ports::redis::RedisReply;

/// The highest hash slot of a Redis Cluster (slots are `0..=16383`).
const LAST_SLOT: u16 = 16383;

/// How many characters of an offending value an error message keeps.
const ERROR_VALUE_LIMIT: usize = 80;

/// Name of the `CLUSTER NODES` reply in error messages.
const CLUSTER_NODES: &str = "cluster nodes";
/// Name of the `CLUSTER INFO` reply in error messages.
const CLUSTER_INFO: &str = "cluster info";
/// Name of the `INFO replication` reply in error messages.
const INFO_REPLICATION: &str = "info replication";
/// Name of the `SENTINEL MASTERS` reply in error messages.
const SENTINEL_MASTERS: &str = "sentinel masters";
/// Name of the `SENTINEL REPLICAS` / `SENTINEL SENTINELS` reply in error messages.
const SENTINEL_PEERS: &str = "sentinel peers";
/// Name of the `SENTINEL GET-MASTER-ADDR-BY-NAME` reply in error messages.
const SENTINEL_MASTER_ADDRESS: &str = "sentinel master address";

/// Why a Redis reply could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A line, entry or reply does not have the expected shape.
    #[error("failed to parse {reply} at {location}: {reason}")]
    Malformed {
        /// Which reply was being parsed (for example `cluster nodes`).
        reply: &'static str,
        /// Where in the reply (for example `line 3` or `entry 2`).
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// A field the operator needs is absent.
    #[error("failed to parse {reply} at {location}: missing field {field}")]
    MissingField {
        /// Which reply was being parsed.
        reply: &'static str,
        /// Where in the reply.
        location: String,
        /// The name of the missing field.
        field: String,
    },
    /// A field is present but its value cannot be understood.
    #[error(
        "failed to parse {reply} at {location}: invalid {field} {value:?}, expected {expected}"
    )]
    InvalidField {
        /// Which reply was being parsed.
        reply: &'static str,
        /// Where in the reply.
        location: String,
        /// The name of the field.
        field: String,
        /// The offending value (shortened when long).
        value: String,
        /// What the value should look like.
        expected: &'static str,
    },
}

/// Builds a [`ParseError::Malformed`].
fn malformed(
    reply: &'static str,
    location: impl fmt::Display + Copy,
    reason: impl Into<String>,
) -> ParseError {
    ParseError::Malformed {
        reply,
        location: location.to_string(),
        reason: reason.into(),
    }
}

/// Builds a [`ParseError::MissingField`].
fn missing(reply: &'static str, location: impl fmt::Display + Copy, field: &str) -> ParseError {
    ParseError::MissingField {
        reply,
        location: location.to_string(),
        field: field.to_owned(),
    }
}

/// Builds a [`ParseError::InvalidField`], shortening the value so errors stay readable.
fn invalid(
    reply: &'static str,
    location: impl fmt::Display + Copy,
    field: &str,
    value: &str,
    expected: &'static str,
) -> ParseError {
    let mut shortened: String = value.chars().take(ERROR_VALUE_LIMIT).collect();
    if value.chars().nth(ERROR_VALUE_LIMIT).is_some() {
        shortened.push_str("...");
    }
    ParseError::InvalidField {
        reply,
        location: location.to_string(),
        field: field.to_owned(),
        value: shortened,
        expected,
    }
}

/// Parses a decimal number, reporting the field on failure.
fn parse_number<Number: FromStr>(
    reply: &'static str,
    location: impl fmt::Display + Copy,
    field: &str,
    value: &str,
) -> Result<Number, ParseError> {
    value.parse::<Number>().map_err(|_| {
        invalid(
            reply,
            location,
            field,
            value,
            "a non-negative decimal number",
        )
    })
}

/// A line of a reply, numbered from one; written out only when an error names it, as replies
/// are parsed on every reconcile and errors are rare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Line(usize);

impl fmt::Display for Line {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "line {}", self.0)
    }
}

// ---------------------------------------------------------------------------------------------
// CLUSTER NODES
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// INFO-style text (CLUSTER INFO, INFO replication)
// ---------------------------------------------------------------------------------------------

/// One `key:value` line of INFO-style text, with its location.
struct InfoLine<'text> {
    /// Where the line is, for errors.
    location: Line,
    /// The text before the first colon.
    key: &'text str,
    /// The text after the first colon, trimmed.
    value: &'text str,
}

/// Splits INFO-style text into `key:value` lines, skipping blank lines and `#` section headers.
fn info_lines<'text>(
    reply: &'static str,
    text: &'text str,
) -> Result<Vec<InfoLine<'text>>, ParseError> {
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let location = Line(index.saturating_add(1));
        let (key, value) = trimmed
            .split_once(':')
            .ok_or_else(|| malformed(reply, location, "expected a key:value line"))?;
        lines.push(InfoLine {
            location,
            key: key.trim(),
            value: value.trim(),
        });
    }
    Ok(lines)
}

/// The last line with this key, if any.
fn find_info_line<'lines, 'text>(
    lines: &'lines [InfoLine<'text>],
    key: &str,
) -> Option<&'lines InfoLine<'text>> {
    lines.iter().rev().find(|line| line.key == key)
}

/// The value of a required numeric field.
fn required_info_number<Number: FromStr>(
    reply: &'static str,
    lines: &[InfoLine<'_>],
    key: &str,
) -> Result<Number, ParseError> {
    let line = find_info_line(lines, key).ok_or_else(|| missing(reply, "reply", key))?;
    parse_number(reply, line.location, key, line.value)
}

// ---------------------------------------------------------------------------------------------
// CLUSTER INFO
// ---------------------------------------------------------------------------------------------

/// The fields of `CLUSTER INFO` the operator uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterInfo {
    /// `cluster_state:ok` (true) or `cluster_state:fail` (false).
    pub state_ok: bool,
    /// `cluster_slots_assigned`: slots bound to some node.
    pub slots_assigned: u32,
    /// `cluster_slots_ok`: slots whose node is healthy.
    pub slots_ok: u32,
    /// `cluster_slots_pfail`: slots whose node is possibly failed.
    pub slots_possibly_failed: u32,
    /// `cluster_slots_fail`: slots whose node is failed.
    pub slots_failed: u32,
    /// `cluster_known_nodes`: nodes known, including handshaking ones.
    pub known_nodes: u32,
    /// `cluster_size`: masters serving at least one slot.
    pub size: u32,
    /// `cluster_current_epoch`: the highest epoch seen.
    pub current_epoch: u64,
    /// `cluster_my_epoch`: the answering node's configuration epoch.
    pub my_epoch: u64,
}

/// Parses the text of `CLUSTER INFO`; every field of [`ClusterInfo`] is required, others are
/// ignored.
///
/// # Errors
///
/// Returns a [`ParseError`] when a required field is missing or a line or value is malformed.
pub fn parse_cluster_info(text: &str) -> Result<ClusterInfo, ParseError> {
    let lines = info_lines(CLUSTER_INFO, text)?;
    let state_line = find_info_line(&lines, "cluster_state")
        .ok_or_else(|| missing(CLUSTER_INFO, "reply", "cluster_state"))?;
    let state_ok = match state_line.value {
        "ok" => true,
        "fail" => false,
        other => {
            return Err(invalid(
                CLUSTER_INFO,
                state_line.location,
                "cluster_state",
                other,
                "ok or fail",
            ));
        }
    };
    Ok(ClusterInfo {
        state_ok,
        slots_assigned: required_info_number(CLUSTER_INFO, &lines, "cluster_slots_assigned")?,
        slots_ok: required_info_number(CLUSTER_INFO, &lines, "cluster_slots_ok")?,
        slots_possibly_failed: required_info_number(CLUSTER_INFO, &lines, "cluster_slots_pfail")?,
        slots_failed: required_info_number(CLUSTER_INFO, &lines, "cluster_slots_fail")?,
        known_nodes: required_info_number(CLUSTER_INFO, &lines, "cluster_known_nodes")?,
        size: required_info_number(CLUSTER_INFO, &lines, "cluster_size")?,
        current_epoch: required_info_number(CLUSTER_INFO, &lines, "cluster_current_epoch")?,
        my_epoch: required_info_number(CLUSTER_INFO, &lines, "cluster_my_epoch")?,
    })
}

/// Renders `CLUSTER INFO` as Redis 7 prints it, with `\r\n` line ends (message statistics,
/// which the operator does not track, are printed as zero).
pub fn render_cluster_info(info: &ClusterInfo) -> String {
    let mut text = String::new();
    let state = if info.state_ok { "ok" } else { "fail" };
    let _ = write!(
        text,
        "cluster_state:{state}\r\n\
         cluster_slots_assigned:{}\r\n\
         cluster_slots_ok:{}\r\n\
         cluster_slots_pfail:{}\r\n\
         cluster_slots_fail:{}\r\n\
         cluster_known_nodes:{}\r\n\
         cluster_size:{}\r\n\
         cluster_current_epoch:{}\r\n\
         cluster_my_epoch:{}\r\n\
         cluster_stats_messages_sent:0\r\n\
         cluster_stats_messages_received:0\r\n\
         total_cluster_links_buffer_limit_exceeded:0\r\n",
        info.slots_assigned,
        info.slots_ok,
        info.slots_possibly_failed,
        info.slots_failed,
        info.known_nodes,
        info.size,
        info.current_epoch,
        info.my_epoch,
    );
    text
}

// ---------------------------------------------------------------------------------------------
// INFO replication
// ---------------------------------------------------------------------------------------------

/// The `role` of a Redis server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplicationRole {
    /// `role:master`.
    Master,
    /// `role:slave`.
    Replica,
}

/// One `slaveN:` line of `INFO replication`: a replica connected to the answering server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaEntry {
    /// The replica's IP address (`ip=`).
    pub ip: String,
    /// The replica's port (`port=`).
    pub port: u16,
    /// The replication state, for example `online`, `wait_bgsave` or `send_bulk` (`state=`).
    pub state: String,
    /// The replication offset the replica acknowledged (`offset=`).
    pub offset: u64,
    /// Seconds since the replica's last acknowledgement (`lag=`).
    pub lag: u64,
}

/// The fields of `INFO replication` the operator uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationInfo {
    /// `role`.
    pub role: ReplicationRole,
    /// `master_host`, printed by replicas.
    pub master_host: Option<String>,
    /// `master_port`, printed by replicas.
    pub master_port: Option<u16>,
    /// `master_link_status:up`.
    pub master_link_up: bool,
    /// `master_sync_in_progress:1`.
    pub master_sync_in_progress: bool,
    /// `slave_repl_offset`, printed by replicas.
    pub replica_offset: Option<u64>,
    /// `master_replid`: the replication history identifier.
    pub master_replication_id: String,
    /// `master_repl_offset`: the server's replication offset.
    pub master_offset: u64,
    /// The `slaveN:` lines, in the order printed.
    pub replicas: Vec<ReplicaEntry>,
}

/// Whether an INFO key is a `slaveN` replica line key (as opposed to `slave_repl_offset` etc.).
fn is_replica_line_key(key: &str) -> bool {
    key.strip_prefix("slave")
        .is_some_and(|index| !index.is_empty() && index.bytes().all(|byte| byte.is_ascii_digit()))
}

/// Parses the value of a `slaveN:` line: `ip=..,port=..,state=..,offset=..,lag=..`.
fn parse_replica_entry(line: &InfoLine<'_>) -> Result<ReplicaEntry, ParseError> {
    let location = &line.location;
    let mut pairs = Vec::new();
    for pair in line.value.split(',') {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            invalid(
                INFO_REPLICATION,
                location,
                line.key,
                line.value,
                "comma-separated key=value pairs",
            )
        })?;
        pairs.push((key, value));
    }
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
            .ok_or_else(|| missing(INFO_REPLICATION, location, &format!("{}.{name}", line.key)))
    };
    Ok(ReplicaEntry {
        ip: field("ip")?.to_owned(),
        port: parse_number(INFO_REPLICATION, location, "replica port", field("port")?)?,
        state: field("state")?.to_owned(),
        offset: parse_number(
            INFO_REPLICATION,
            location,
            "replica offset",
            field("offset")?,
        )?,
        lag: parse_number(INFO_REPLICATION, location, "replica lag", field("lag")?)?,
    })
}

/// Parses the text of `INFO replication` (other sections, if present, are ignored).
///
/// `role`, `master_replid` and `master_repl_offset` are required; replica-only fields are read
/// whenever present.
///
/// # Errors
///
/// Returns a [`ParseError`] when a required field is missing or a line or value is malformed.
pub fn parse_info_replication(text: &str) -> Result<ReplicationInfo, ParseError> {
    let lines = info_lines(INFO_REPLICATION, text)?;
    let role_line =
        find_info_line(&lines, "role").ok_or_else(|| missing(INFO_REPLICATION, "reply", "role"))?;
    let role = match role_line.value {
        "master" => ReplicationRole::Master,
        "slave" | "replica" => ReplicationRole::Replica,
        other => {
            return Err(invalid(
                INFO_REPLICATION,
                role_line.location,
                "role",
                other,
                "master or slave",
            ));
        }
    };
    // The replica block (master_host .. slave_repl_offset) means something only for a replica;
    // a master never prints it, and lines that look like it are ignored.
    let replica_lines: &[InfoLine<'_>] = if role == ReplicationRole::Replica {
        &lines
    } else {
        &[]
    };
    let master_host =
        find_info_line(replica_lines, "master_host").map(|line| line.value.to_owned());
    let master_port = find_info_line(replica_lines, "master_port")
        .map(|line| parse_number(INFO_REPLICATION, line.location, "master_port", line.value))
        .transpose()?;
    let master_link_up = match find_info_line(replica_lines, "master_link_status") {
        None => false,
        Some(line) => match line.value {
            "up" => true,
            "down" => false,
            other => {
                return Err(invalid(
                    INFO_REPLICATION,
                    line.location,
                    "master_link_status",
                    other,
                    "up or down",
                ));
            }
        },
    };
    let master_sync_in_progress = match find_info_line(replica_lines, "master_sync_in_progress") {
        None => false,
        Some(line) => match line.value {
            "1" => true,
            "0" => false,
            other => {
                return Err(invalid(
                    INFO_REPLICATION,
                    line.location,
                    "master_sync_in_progress",
                    other,
                    "0 or 1",
                ));
            }
        },
    };
    let replica_offset = find_info_line(replica_lines, "slave_repl_offset")
        .map(|line| {
            parse_number(
                INFO_REPLICATION,
                line.location,
                "slave_repl_offset",
                line.value,
            )
        })
        .transpose()?;
    let master_replication_id = find_info_line(&lines, "master_replid")
        .ok_or_else(|| missing(INFO_REPLICATION, "reply", "master_replid"))?
        .value
        .to_owned();
    let master_offset = required_info_number(INFO_REPLICATION, &lines, "master_repl_offset")?;
    let replicas = lines
        .iter()
        .filter(|line| is_replica_line_key(line.key))
        .map(parse_replica_entry)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReplicationInfo {
        role,
        master_host,
        master_port,
        master_link_up,
        master_sync_in_progress,
        replica_offset,
        master_replication_id,
        master_offset,
        replicas,
    })
}

/// Renders `INFO replication` as Redis 7 prints it, with `\r\n` line ends.
///
/// The replica-only block (`master_host` .. `replica_announced`) is printed only for
/// [`ReplicationRole::Replica`]; `master_host`, `master_port` and `slave_repl_offset` only when
/// set. Backlog fields the operator does not track are printed with neutral values.
pub fn render_info_replication(info: &ReplicationInfo) -> String {
    let mut text = String::from("# Replication\r\n");
    match info.role {
        ReplicationRole::Master => text.push_str("role:master\r\n"),
        ReplicationRole::Replica => {
            text.push_str("role:slave\r\n");
            if let Some(host) = &info.master_host {
                let _ = write!(text, "master_host:{host}\r\n");
            }
            if let Some(port) = info.master_port {
                let _ = write!(text, "master_port:{port}\r\n");
            }
            let link = if info.master_link_up { "up" } else { "down" };
            let _ = write!(text, "master_link_status:{link}\r\n");
            let last_io = if info.master_link_up { "0" } else { "-1" };
            let _ = write!(text, "master_last_io_seconds_ago:{last_io}\r\n");
            let syncing = u8::from(info.master_sync_in_progress);
            let _ = write!(text, "master_sync_in_progress:{syncing}\r\n");
            if let Some(offset) = info.replica_offset {
                let _ = write!(text, "slave_read_repl_offset:{offset}\r\n");
                let _ = write!(text, "slave_repl_offset:{offset}\r\n");
            }
            if !info.master_link_up {
                text.push_str("master_link_down_since_seconds:-1\r\n");
            }
            text.push_str("slave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\n");
        }
    }
    let _ = write!(text, "connected_slaves:{}\r\n", info.replicas.len());
    for (index, replica) in info.replicas.iter().enumerate() {
        let _ = write!(
            text,
            "slave{index}:ip={},port={},state={},offset={},lag={}\r\n",
            replica.ip, replica.port, replica.state, replica.offset, replica.lag
        );
    }
    let _ = write!(
        text,
        "master_failover_state:no-failover\r\n\
         master_replid:{}\r\n\
         master_replid2:0000000000000000000000000000000000000000\r\n\
         master_repl_offset:{}\r\n\
         second_repl_offset:-1\r\n\
         repl_backlog_active:1\r\n\
         repl_backlog_size:1048576\r\n\
         repl_backlog_first_byte_offset:1\r\n\
         repl_backlog_histlen:{}\r\n",
        info.master_replication_id, info.master_offset, info.master_offset,
    );
    text
}

// ---------------------------------------------------------------------------------------------
// Sentinel replies
// ---------------------------------------------------------------------------------------------

/// One entry of `SENTINEL MASTERS`: a master a sentinel monitors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelMaster {
    /// `name`: the name the master is monitored under.
    pub name: String,
    /// `ip`.
    pub ip: String,
    /// `port`.
    pub port: u16,
    /// `flags`, split at commas (for example `master`, `s_down`, `o_down`).
    pub flags: Vec<String>,
    /// `quorum`.
    pub quorum: u32,
    /// `num-slaves`: replicas known.
    pub replicas: u32,
    /// `num-other-sentinels`: other sentinels known.
    pub other_sentinels: u32,
    /// `down-after-milliseconds`.
    pub down_after_milliseconds: u64,
    /// `failover-timeout`, in milliseconds.
    pub failover_timeout: u64,
    /// `parallel-syncs`.
    pub parallel_syncs: u32,
    /// `config-epoch`.
    pub config_epoch: u64,
}

/// One entry of `SENTINEL REPLICAS` or `SENTINEL SENTINELS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelPeer {
    /// `name`: `ip:port` for replicas, the run id for sentinels.
    pub name: String,
    /// `ip`.
    pub ip: String,
    /// `port`.
    pub port: u16,
    /// `flags`, split at commas (for example `slave`, `s_down`, `disconnected`, `sentinel`).
    pub flags: Vec<String>,
    /// `master-link-status` (`ok` is true, `err` false); replicas only.
    pub master_link_up: Option<bool>,
    /// `slave-repl-offset`; replicas only.
    pub replica_offset: Option<u64>,
}

/// The fields of one sentinel entry: a flattened map of key, value, key, value...
struct SentinelFields<'reply> {
    /// Where the entry is, for errors.
    location: String,
    /// The reply being parsed, for errors.
    reply: &'static str,
    /// The key/value pairs, in order.
    pairs: Vec<(&'reply str, &'reply RedisReply)>,
}

impl<'reply> SentinelFields<'reply> {
    /// Reads an entry that must be an array of alternating text keys and values.
    fn new(
        reply: &'static str,
        location: String,
        entry: &'reply RedisReply,
    ) -> Result<Self, ParseError> {
        let RedisReply::Array(items) = entry else {
            return Err(malformed(
                reply,
                &location,
                "expected an array of key/value pairs",
            ));
        };
        let mut pairs = Vec::with_capacity(items.len() / 2);
        for chunk in items.chunks(2) {
            let [key, value] = chunk else {
                return Err(malformed(reply, &location, "a key has no value"));
            };
            let key = key
                .as_text()
                .ok_or_else(|| malformed(reply, &location, "a key is not a string"))?;
            pairs.push((key, value));
        }
        Ok(Self {
            location,
            reply,
            pairs,
        })
    }

    /// The value of a field as text, if present and a scalar.
    fn text(&self, name: &str) -> Result<Option<Cow<'reply, str>>, ParseError> {
        let Some((_, value)) = self.pairs.iter().find(|(key, _)| *key == name) else {
            return Ok(None);
        };
        scalar_text(value).map(Some).ok_or_else(|| {
            invalid(
                self.reply,
                &self.location,
                name,
                "(not a string)",
                "a string",
            )
        })
    }

    /// The value of a required field as text.
    fn required_text(&self, name: &str) -> Result<Cow<'reply, str>, ParseError> {
        self.text(name)?
            .ok_or_else(|| missing(self.reply, &self.location, name))
    }

    /// The value of a required numeric field.
    fn required_number<Number: FromStr>(&self, name: &str) -> Result<Number, ParseError> {
        let text = self.required_text(name)?;
        parse_number(self.reply, &self.location, name, &text)
    }

    /// The value of an optional numeric field.
    fn optional_number<Number: FromStr>(&self, name: &str) -> Result<Option<Number>, ParseError> {
        self.text(name)?
            .map(|text| parse_number(self.reply, &self.location, name, &text))
            .transpose()
    }

    /// The `flags` field split at commas.
    fn flags(&self) -> Result<Vec<String>, ParseError> {
        Ok(self
            .required_text("flags")?
            .split(',')
            .filter(|flag| !flag.is_empty())
            .map(str::to_owned)
            .collect())
    }
}

/// A scalar reply as text (integers in decimal); `None` for arrays and nil.
fn scalar_text(reply: &RedisReply) -> Option<Cow<'_, str>> {
    match reply {
        RedisReply::Status(text) | RedisReply::Text(text) => Some(Cow::Borrowed(text)),
        RedisReply::Integer(number) => Some(Cow::Owned(number.to_string())),
        _ => None,
    }
}

/// The entries of a sentinel reply that lists instances.
fn sentinel_entries<'reply>(
    reply_name: &'static str,
    reply: &'reply RedisReply,
) -> Result<Vec<SentinelFields<'reply>>, ParseError> {
    let RedisReply::Array(entries) = reply else {
        return Err(malformed(
            reply_name,
            "reply",
            "expected an array of entries",
        ));
    };
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            SentinelFields::new(
                reply_name,
                format!("entry {}", index.saturating_add(1)),
                entry,
            )
        })
        .collect()
}

/// Parses the reply of `SENTINEL MASTERS`.
///
/// # Errors
///
/// Returns a [`ParseError`] naming the entry and field when the reply is not an array of
/// key/value arrays or a required field is missing or malformed.
pub fn parse_sentinel_masters(reply: &RedisReply) -> Result<Vec<SentinelMaster>, ParseError> {
    sentinel_entries(SENTINEL_MASTERS, reply)?
        .iter()
        .map(|fields| {
            Ok(SentinelMaster {
                name: fields.required_text("name")?.into_owned(),
                ip: fields.required_text("ip")?.into_owned(),
                port: fields.required_number("port")?,
                flags: fields.flags()?,
                quorum: fields.required_number("quorum")?,
                replicas: fields.required_number("num-slaves")?,
                other_sentinels: fields.required_number("num-other-sentinels")?,
                down_after_milliseconds: fields.required_number("down-after-milliseconds")?,
                failover_timeout: fields.required_number("failover-timeout")?,
                parallel_syncs: fields.required_number("parallel-syncs")?,
                config_epoch: fields.required_number("config-epoch")?,
            })
        })
        .collect()
}

/// Parses the reply of `SENTINEL REPLICAS <name>` or `SENTINEL SENTINELS <name>`.
///
/// # Errors
///
/// Returns a [`ParseError`] naming the entry and field when the reply is not an array of
/// key/value arrays or a required field is missing or malformed.
pub fn parse_sentinel_peers(reply: &RedisReply) -> Result<Vec<SentinelPeer>, ParseError> {
    sentinel_entries(SENTINEL_PEERS, reply)?
        .iter()
        .map(|fields| {
            let master_link_up = match fields.text("master-link-status")? {
                None => None,
                Some(status) => match status.as_ref() {
                    "ok" => Some(true),
                    "err" => Some(false),
                    other => {
                        return Err(invalid(
                            SENTINEL_PEERS,
                            &fields.location,
                            "master-link-status",
                            other,
                            "ok or err",
                        ));
                    }
                },
            };
            Ok(SentinelPeer {
                name: fields.required_text("name")?.into_owned(),
                ip: fields.required_text("ip")?.into_owned(),
                port: fields.required_number("port")?,
                flags: fields.flags()?,
                master_link_up,
                replica_offset: fields.optional_number("slave-repl-offset")?,
            })
        })
        .collect()
}

/// Parses the reply of `SENTINEL GET-MASTER-ADDR-BY-NAME`: nil (or an empty array) when the
/// master is unknown, otherwise an array of the IP and the port.
///
/// # Errors
///
/// Returns a [`ParseError`] when the reply has another shape or the port is not a port number.
pub fn parse_master_address(reply: &RedisReply) -> Result<Option<(String, u16)>, ParseError> {
    let location = "reply";
    match reply {
        RedisReply::Nil => Ok(None),
        RedisReply::Array(items) => match items.as_slice() {
            [] => Ok(None),
            [ip, port] => {
                let ip = scalar_text(ip).ok_or_else(|| {
                    invalid(
                        SENTINEL_MASTER_ADDRESS,
                        location,
                        "ip",
                        "(not a string)",
                        "a string",
                    )
                })?;
                let port_text = scalar_text(port).ok_or_else(|| {
                    invalid(
                        SENTINEL_MASTER_ADDRESS,
                        location,
                        "port",
                        "(not a string)",
                        "a string",
                    )
                })?;
                let port = parse_number(SENTINEL_MASTER_ADDRESS, location, "port", &port_text)?;
                Ok(Some((ip.into_owned(), port)))
            }
            _ => Err(malformed(
                SENTINEL_MASTER_ADDRESS,
                location,
                format!("expected 2 elements, got {}", items.len()),
            )),
        },
        _ => Err(malformed(
            SENTINEL_MASTER_ADDRESS,
            location,
            "expected nil or an array of ip and port",
        )),
    }
}

/// Appends a key and a text value to a flattened map.
fn push_field(items: &mut Vec<RedisReply>, key: &str, value: impl ToString) {
    items.push(RedisReply::Text(key.to_owned()));
    items.push(RedisReply::Text(value.to_string()));
}

/// Renders `SENTINEL MASTERS` as Redis 7 replies (RESP2: each entry a flat array of bulk-string
/// keys and values). Timing fields the operator does not track are printed as zero.
pub fn render_sentinel_masters(masters: &[SentinelMaster]) -> RedisReply {
    RedisReply::Array(
        masters
            .iter()
            .map(|master| {
                let mut items = Vec::new();
                push_field(&mut items, "name", &master.name);
                push_field(&mut items, "ip", &master.ip);
                push_field(&mut items, "port", master.port);
                push_field(&mut items, "runid", "");
                push_field(&mut items, "flags", master.flags.join(","));
                push_field(&mut items, "link-pending-commands", 0);
                push_field(&mut items, "link-refcount", 1);
                push_field(&mut items, "last-ping-sent", 0);
                push_field(&mut items, "last-ok-ping-reply", 0);
                push_field(&mut items, "last-ping-reply", 0);
                push_field(
                    &mut items,
                    "down-after-milliseconds",
                    master.down_after_milliseconds,
                );
                push_field(&mut items, "info-refresh", 0);
                push_field(&mut items, "role-reported", "master");
                push_field(&mut items, "role-reported-time", 0);
                push_field(&mut items, "config-epoch", master.config_epoch);
                push_field(&mut items, "num-slaves", master.replicas);
                push_field(&mut items, "num-other-sentinels", master.other_sentinels);
                push_field(&mut items, "quorum", master.quorum);
                push_field(&mut items, "failover-timeout", master.failover_timeout);
                push_field(&mut items, "parallel-syncs", master.parallel_syncs);
                RedisReply::Array(items)
            })
            .collect(),
    )
}

/// Renders `SENTINEL REPLICAS` (`replicas` true) or `SENTINEL SENTINELS` (`replicas` false) as
/// Redis 7 replies. `master-link-status` and `slave-repl-offset` are printed for replicas when
/// set, never for sentinels.
pub fn render_sentinel_peers(peers: &[SentinelPeer], replicas: bool) -> RedisReply {
    RedisReply::Array(
        peers
            .iter()
            .map(|peer| {
                let mut items = Vec::new();
                push_field(&mut items, "name", &peer.name);
                push_field(&mut items, "ip", &peer.ip);
                push_field(&mut items, "port", peer.port);
                push_field(&mut items, "runid", if replicas { "" } else { &peer.name });
                push_field(&mut items, "flags", peer.flags.join(","));
                push_field(&mut items, "link-pending-commands", 0);
                push_field(&mut items, "link-refcount", 1);
                push_field(&mut items, "last-ping-sent", 0);
                push_field(&mut items, "last-ok-ping-reply", 0);
                push_field(&mut items, "last-ping-reply", 0);
                push_field(&mut items, "down-after-milliseconds", 30000);
                if replicas {
                    push_field(&mut items, "info-refresh", 0);
                    push_field(&mut items, "role-reported", "slave");
                    push_field(&mut items, "role-reported-time", 0);
                    push_field(&mut items, "master-link-down-time", 0);
                    if let Some(link_up) = peer.master_link_up {
                        push_field(
                            &mut items,
                            "master-link-status",
                            if link_up { "ok" } else { "err" },
                        );
                    }
                    push_field(&mut items, "slave-priority", 100);
                    if let Some(offset) = peer.replica_offset {
                        push_field(&mut items, "slave-repl-offset", offset);
                    }
                    push_field(&mut items, "replica-announced", 1);
                } else {
                    push_field(&mut items, "last-hello-message", 0);
                    push_field(&mut items, "voted-leader", "?");
                    push_field(&mut items, "voted-leader-epoch", 0);
                }
                RedisReply::Array(items)
            })
            .collect(),
    )
}

/// Renders the reply of `SENTINEL GET-MASTER-ADDR-BY-NAME`: nil when the master is unknown.
pub fn render_master_address(address: Option<(&str, u16)>) -> RedisReply {
    match address {
        None => RedisReply::Nil,
        Some((ip, port)) => RedisReply::Array(vec![
            RedisReply::Text(ip.to_owned()),
            RedisReply::Text(port.to_string()),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

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

    /// A Redis 7 `CLUSTER INFO` reply of a healthy three-master cluster.
    const CLUSTER_INFO_SAMPLE: &str = "cluster_state:ok\r\n\
        cluster_slots_assigned:16384\r\n\
        cluster_slots_ok:16384\r\n\
        cluster_slots_pfail:0\r\n\
        cluster_slots_fail:0\r\n\
        cluster_known_nodes:6\r\n\
        cluster_size:3\r\n\
        cluster_current_epoch:6\r\n\
        cluster_my_epoch:2\r\n\
        cluster_stats_messages_ping_sent:1483972\r\n\
        cluster_stats_messages_pong_sent:1483968\r\n\
        cluster_stats_messages_sent:2967940\r\n\
        cluster_stats_messages_ping_received:1483968\r\n\
        cluster_stats_messages_pong_received:1483972\r\n\
        cluster_stats_messages_received:2967940\r\n\
        total_cluster_links_buffer_limit_exceeded:0\r\n";

    #[test]
    fn parses_a_realistic_cluster_info_reply() {
        let info = parse_cluster_info(CLUSTER_INFO_SAMPLE).unwrap();
        assert_eq!(
            info,
            ClusterInfo {
                state_ok: true,
                slots_assigned: 16384,
                slots_ok: 16384,
                slots_possibly_failed: 0,
                slots_failed: 0,
                known_nodes: 6,
                size: 3,
                current_epoch: 6,
                my_epoch: 2,
            }
        );
        assert_eq!(
            parse_cluster_info(&render_cluster_info(&info)).unwrap(),
            info
        );
        assert!(
            render_cluster_info(&info)
                .starts_with("cluster_state:ok\r\ncluster_slots_assigned:16384\r\n")
        );
    }

    #[test]
    fn parses_a_failed_cluster_info_with_plain_newlines() {
        let text = CLUSTER_INFO_SAMPLE
            .replace("\r\n", "\n")
            .replace("cluster_state:ok", "cluster_state:fail")
            .replace("cluster_slots_pfail:0", "cluster_slots_pfail:5461");
        let info = parse_cluster_info(&text).unwrap();
        assert!(!info.state_ok);
        assert_eq!(info.slots_possibly_failed, 5461);
        assert!(render_cluster_info(&info).starts_with("cluster_state:fail\r\n"));
    }

    #[test]
    fn reports_missing_and_invalid_cluster_info_fields() {
        let without_size = CLUSTER_INFO_SAMPLE.replace("cluster_size:3\r\n", "");
        assert_eq!(
            parse_cluster_info(&without_size).unwrap_err().to_string(),
            "failed to parse cluster info at reply: missing field cluster_size"
        );
        let bad_state = CLUSTER_INFO_SAMPLE.replace("cluster_state:ok", "cluster_state:maybe");
        assert_eq!(
            parse_cluster_info(&bad_state).unwrap_err().to_string(),
            "failed to parse cluster info at line 1: invalid cluster_state \"maybe\", expected ok or fail"
        );
        assert_eq!(
            parse_cluster_info("cluster_state:ok\r\ngarbage\r\n")
                .unwrap_err()
                .to_string(),
            "failed to parse cluster info at line 2: expected a key:value line"
        );
    }

    /// Redis 7 `INFO replication` of a master with two replicas.
    const MASTER_REPLICATION_SAMPLE: &str = "# Replication\r\n\
        role:master\r\n\
        connected_slaves:2\r\n\
        slave0:ip=10.244.1.21,port=6379,state=online,offset=1048876,lag=0\r\n\
        slave1:ip=fd00:10:244::22,port=6379,state=wait_bgsave,offset=0,lag=1\r\n\
        master_failover_state:no-failover\r\n\
        master_replid:8d3f1a6c0b2e4d5f7a9c1e3b5d7f9a1c3e5b7d9f\r\n\
        master_replid2:0000000000000000000000000000000000000000\r\n\
        master_repl_offset:1048876\r\n\
        second_repl_offset:-1\r\n\
        repl_backlog_active:1\r\n\
        repl_backlog_size:1048576\r\n\
        repl_backlog_first_byte_offset:1\r\n\
        repl_backlog_histlen:1048876\r\n";

    /// Redis 7 `INFO replication` of a replica still synchronising with its master.
    const REPLICA_REPLICATION_SAMPLE: &str = "# Replication\r\n\
        role:slave\r\n\
        master_host:10.244.1.20\r\n\
        master_port:6379\r\n\
        master_link_status:down\r\n\
        master_last_io_seconds_ago:-1\r\n\
        master_sync_in_progress:1\r\n\
        slave_read_repl_offset:1\r\n\
        slave_repl_offset:1\r\n\
        master_sync_total_bytes:-1\r\n\
        master_sync_read_bytes:0\r\n\
        master_sync_left_bytes:-1\r\n\
        master_sync_perc:-0.00\r\n\
        master_sync_last_io_seconds_ago:0\r\n\
        master_link_down_since_seconds:-1\r\n\
        slave_priority:100\r\n\
        slave_read_only:1\r\n\
        replica_announced:1\r\n\
        connected_slaves:0\r\n\
        master_failover_state:no-failover\r\n\
        master_replid:5e1c2a7d9b3f4e6a8c0d2f4b6e8a0c2d4f6b8e0a\r\n\
        master_replid2:0000000000000000000000000000000000000000\r\n\
        master_repl_offset:0\r\n\
        second_repl_offset:-1\r\n\
        repl_backlog_active:0\r\n\
        repl_backlog_size:1048576\r\n\
        repl_backlog_first_byte_offset:0\r\n\
        repl_backlog_histlen:0\r\n";

    #[test]
    fn parses_the_replication_info_of_a_master_with_replicas() {
        let info = parse_info_replication(MASTER_REPLICATION_SAMPLE).unwrap();
        assert_eq!(
            info,
            ReplicationInfo {
                role: ReplicationRole::Master,
                master_host: None,
                master_port: None,
                master_link_up: false,
                master_sync_in_progress: false,
                replica_offset: None,
                master_replication_id: "8d3f1a6c0b2e4d5f7a9c1e3b5d7f9a1c3e5b7d9f".to_owned(),
                master_offset: 1_048_876,
                replicas: vec![
                    ReplicaEntry {
                        ip: "10.244.1.21".to_owned(),
                        port: 6379,
                        state: "online".to_owned(),
                        offset: 1_048_876,
                        lag: 0,
                    },
                    ReplicaEntry {
                        ip: "fd00:10:244::22".to_owned(),
                        port: 6379,
                        state: "wait_bgsave".to_owned(),
                        offset: 0,
                        lag: 1,
                    },
                ],
            }
        );
        let rendered = render_info_replication(&info);
        assert_eq!(parse_info_replication(&rendered).unwrap(), info);
        assert!(rendered.starts_with("# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"));
        assert!(rendered.contains(
            "\r\nslave1:ip=fd00:10:244::22,port=6379,state=wait_bgsave,offset=0,lag=1\r\n"
        ));
    }

    #[test]
    fn parses_the_replication_info_of_a_syncing_replica() {
        let info = parse_info_replication(REPLICA_REPLICATION_SAMPLE).unwrap();
        assert_eq!(info.role, ReplicationRole::Replica);
        assert_eq!(info.master_host.as_deref(), Some("10.244.1.20"));
        assert_eq!(info.master_port, Some(6379));
        assert!(!info.master_link_up);
        assert!(info.master_sync_in_progress);
        assert_eq!(info.replica_offset, Some(1));
        assert_eq!(info.master_offset, 0);
        assert!(info.replicas.is_empty());
        let rendered = render_info_replication(&info);
        assert_eq!(parse_info_replication(&rendered).unwrap(), info);
        assert!(rendered.contains("\r\nrole:slave\r\nmaster_host:10.244.1.20\r\nmaster_port:6379\r\nmaster_link_status:down\r\n"));
    }

    #[test]
    fn reads_an_ipv6_master_host_and_ignores_other_info_sections() {
        let text = "# Server\r\nredis_version:7.2.4\r\n\r\n# Replication\r\nrole:slave\r\n\
            master_host:fd00::1\r\nmaster_port:6380\r\nmaster_link_status:up\r\n\
            master_sync_in_progress:0\r\nslave_repl_offset:42\r\nconnected_slaves:0\r\n\
            master_replid:abc\r\nmaster_repl_offset:42\r\n";
        let info = parse_info_replication(text).unwrap();
        assert_eq!(info.master_host.as_deref(), Some("fd00::1"));
        assert_eq!(info.master_port, Some(6380));
        assert!(info.master_link_up);
        assert!(!info.master_sync_in_progress);
    }

    #[test]
    fn reports_bad_replication_fields_with_their_line() {
        let bad_port =
            MASTER_REPLICATION_SAMPLE.replace("port=6379,state=online", "port=x,state=online");
        assert_eq!(
            parse_info_replication(&bad_port).unwrap_err().to_string(),
            "failed to parse info replication at line 4: invalid replica port \"x\", \
             expected a non-negative decimal number"
        );
        let missing_lag = MASTER_REPLICATION_SAMPLE.replace(",lag=1", "");
        assert_eq!(
            parse_info_replication(&missing_lag)
                .unwrap_err()
                .to_string(),
            "failed to parse info replication at line 5: missing field slave1.lag"
        );
        let bad_role = MASTER_REPLICATION_SAMPLE.replace("role:master", "role:leader");
        assert!(parse_info_replication(&bad_role).is_err());
        let no_replid = MASTER_REPLICATION_SAMPLE.replace("master_replid:", "master_replid_:");
        assert_eq!(
            parse_info_replication(&no_replid).unwrap_err().to_string(),
            "failed to parse info replication at reply: missing field master_replid"
        );
        assert!(parse_info_replication("").is_err());
    }

    fn text(value: &str) -> RedisReply {
        RedisReply::Text(value.to_owned())
    }

    fn flat_map(pairs: &[(&str, &str)]) -> RedisReply {
        RedisReply::Array(
            pairs
                .iter()
                .flat_map(|(key, value)| [text(key), text(value)])
                .collect(),
        )
    }

    #[test]
    fn parses_a_realistic_sentinel_masters_reply() {
        let reply = RedisReply::Array(vec![flat_map(&[
            ("name", "mymaster"),
            ("ip", "10.244.1.30"),
            ("port", "6379"),
            ("runid", "b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3"),
            ("flags", "master,s_down"),
            ("link-pending-commands", "0"),
            ("link-refcount", "1"),
            ("last-ping-sent", "0"),
            ("last-ok-ping-reply", "512"),
            ("last-ping-reply", "512"),
            ("down-after-milliseconds", "5000"),
            ("info-refresh", "4093"),
            ("role-reported", "master"),
            ("role-reported-time", "1205378"),
            ("config-epoch", "3"),
            ("num-slaves", "2"),
            ("num-other-sentinels", "2"),
            ("quorum", "2"),
            ("failover-timeout", "60000"),
            ("parallel-syncs", "1"),
        ])]);
        let masters = parse_sentinel_masters(&reply).unwrap();
        assert_eq!(
            masters,
            vec![SentinelMaster {
                name: "mymaster".to_owned(),
                ip: "10.244.1.30".to_owned(),
                port: 6379,
                flags: vec!["master".to_owned(), "s_down".to_owned()],
                quorum: 2,
                replicas: 2,
                other_sentinels: 2,
                down_after_milliseconds: 5000,
                failover_timeout: 60000,
                parallel_syncs: 1,
                config_epoch: 3,
            }]
        );
        assert_eq!(
            parse_sentinel_masters(&render_sentinel_masters(&masters)).unwrap(),
            masters
        );
        assert_eq!(
            parse_sentinel_masters(&RedisReply::Array(Vec::new())).unwrap(),
            Vec::new()
        );
    }

    #[test]
    fn accepts_integer_and_status_values_in_sentinel_replies() {
        let reply = RedisReply::Array(vec![RedisReply::Array(vec![
            text("name"),
            RedisReply::Status("mymaster".to_owned()),
            text("ip"),
            text("10.0.0.1"),
            text("port"),
            RedisReply::Integer(6379),
            text("flags"),
            text("master"),
            text("quorum"),
            RedisReply::Integer(2),
            text("num-slaves"),
            RedisReply::Integer(0),
            text("num-other-sentinels"),
            RedisReply::Integer(0),
            text("down-after-milliseconds"),
            RedisReply::Integer(30000),
            text("failover-timeout"),
            RedisReply::Integer(180000),
            text("parallel-syncs"),
            RedisReply::Integer(1),
            text("config-epoch"),
            RedisReply::Integer(0),
        ])]);
        let masters = parse_sentinel_masters(&reply).unwrap();
        assert_eq!(masters[0].port, 6379);
        assert_eq!(masters[0].failover_timeout, 180_000);
    }

    #[test]
    fn reports_malformed_sentinel_masters_replies() {
        assert_eq!(
            parse_sentinel_masters(&RedisReply::Nil)
                .unwrap_err()
                .to_string(),
            "failed to parse sentinel masters at reply: expected an array of entries"
        );
        assert_eq!(
            parse_sentinel_masters(&RedisReply::Array(vec![RedisReply::Array(vec![text(
                "name"
            )])]))
            .unwrap_err()
            .to_string(),
            "failed to parse sentinel masters at entry 1: a key has no value"
        );
        assert_eq!(
            parse_sentinel_masters(&RedisReply::Array(vec![flat_map(&[("name", "m")])]))
                .unwrap_err()
                .to_string(),
            "failed to parse sentinel masters at entry 1: missing field ip"
        );
        let negative = RedisReply::Array(vec![RedisReply::Array(vec![
            text("name"),
            text("m"),
            text("ip"),
            text("10.0.0.1"),
            text("port"),
            RedisReply::Integer(-1),
        ])]);
        assert_eq!(
            parse_sentinel_masters(&negative).unwrap_err().to_string(),
            "failed to parse sentinel masters at entry 1: invalid port \"-1\", \
             expected a non-negative decimal number"
        );
    }

    #[test]
    fn parses_realistic_sentinel_replicas_and_sentinels_replies() {
        let replicas = RedisReply::Array(vec![
            flat_map(&[
                ("name", "10.244.1.31:6379"),
                ("ip", "10.244.1.31"),
                ("port", "6379"),
                ("runid", "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"),
                ("flags", "slave"),
                ("link-pending-commands", "0"),
                ("link-refcount", "1"),
                ("last-ping-sent", "0"),
                ("last-ok-ping-reply", "733"),
                ("last-ping-reply", "733"),
                ("down-after-milliseconds", "5000"),
                ("info-refresh", "8213"),
                ("role-reported", "slave"),
                ("role-reported-time", "1205370"),
                ("master-link-down-time", "0"),
                ("master-link-status", "ok"),
                ("master-host", "10.244.1.30"),
                ("master-port", "6379"),
                ("slave-priority", "100"),
                ("slave-repl-offset", "884512"),
                ("replica-announced", "1"),
            ]),
            flat_map(&[
                ("name", "10.244.2.31:6379"),
                ("ip", "10.244.2.31"),
                ("port", "6379"),
                ("flags", "slave,s_down,disconnected"),
                ("master-link-status", "err"),
                ("slave-repl-offset", "0"),
            ]),
        ]);
        let peers = parse_sentinel_peers(&replicas).unwrap();
        assert_eq!(
            peers[0],
            SentinelPeer {
                name: "10.244.1.31:6379".to_owned(),
                ip: "10.244.1.31".to_owned(),
                port: 6379,
                flags: vec!["slave".to_owned()],
                master_link_up: Some(true),
                replica_offset: Some(884_512),
            }
        );
        assert_eq!(peers[1].master_link_up, Some(false));
        assert_eq!(peers[1].flags, vec!["slave", "s_down", "disconnected"]);
        assert_eq!(
            parse_sentinel_peers(&render_sentinel_peers(&peers, true)).unwrap(),
            peers
        );

        let sentinels = RedisReply::Array(vec![flat_map(&[
            ("name", "7e3a1b9c5d2f4e6a8b0c1d3e5f7a9b2c4d6e8f0a"),
            ("ip", "10.244.3.40"),
            ("port", "26379"),
            ("runid", "7e3a1b9c5d2f4e6a8b0c1d3e5f7a9b2c4d6e8f0a"),
            ("flags", "sentinel"),
            ("link-pending-commands", "0"),
            ("link-refcount", "1"),
            ("last-ping-sent", "0"),
            ("last-ok-ping-reply", "91"),
            ("last-ping-reply", "91"),
            ("down-after-milliseconds", "5000"),
            ("last-hello-message", "1349"),
            ("voted-leader", "?"),
            ("voted-leader-epoch", "0"),
        ])]);
        let peers = parse_sentinel_peers(&sentinels).unwrap();
        assert_eq!(peers[0].port, 26379);
        assert_eq!(peers[0].flags, vec!["sentinel"]);
        assert_eq!(peers[0].master_link_up, None);
        assert_eq!(peers[0].replica_offset, None);
        assert_eq!(
            parse_sentinel_peers(&render_sentinel_peers(&peers, false)).unwrap(),
            peers
        );
    }

    #[test]
    fn rejects_an_unknown_master_link_status() {
        let reply = RedisReply::Array(vec![flat_map(&[
            ("name", "a"),
            ("ip", "10.0.0.1"),
            ("port", "6379"),
            ("flags", "slave"),
            ("master-link-status", "maybe"),
        ])]);
        assert_eq!(
            parse_sentinel_peers(&reply).unwrap_err().to_string(),
            "failed to parse sentinel peers at entry 1: invalid master-link-status \"maybe\", \
             expected ok or err"
        );
    }

    #[test]
    fn parses_master_addresses_and_unknown_masters() {
        assert_eq!(parse_master_address(&RedisReply::Nil).unwrap(), None);
        assert_eq!(
            parse_master_address(&RedisReply::Array(Vec::new())).unwrap(),
            None
        );
        let reply = RedisReply::Array(vec![text("10.244.1.30"), text("6379")]);
        assert_eq!(
            parse_master_address(&reply).unwrap(),
            Some(("10.244.1.30".to_owned(), 6379))
        );
        assert_eq!(render_master_address(Some(("10.244.1.30", 6379))), reply);
        assert_eq!(render_master_address(None), RedisReply::Nil);
        assert!(parse_master_address(&RedisReply::Array(vec![text("10.0.0.1")])).is_err());
        assert!(parse_master_address(&RedisReply::Array(vec![text("a"), text("port")])).is_err());
        assert!(parse_master_address(&RedisReply::Integer(1)).is_err());
        assert!(
            parse_master_address(&RedisReply::Array(vec![RedisReply::Nil, text("1")])).is_err()
        );
    }

    #[test]
    fn shortens_very_long_values_in_error_messages() {
        let long = "9".repeat(500);
        let error = parse_cluster_info(&format!("cluster_state:{long}\n")).unwrap_err();
        let ParseError::InvalidField { value, .. } = error else {
            panic!("unexpected error {error:?}");
        };
        assert_eq!(value.len(), ERROR_VALUE_LIMIT + 3);
    }

    // ----------------------------------------------------------------------------------------
    // Property tests
    // ----------------------------------------------------------------------------------------

    fn node_id() -> impl Strategy<Value = String> {
        "[0-9a-f]{40}"
    }

    fn ip() -> impl Strategy<Value = String> {
        prop_oneof![
            (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
                .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
            "[0-9a-f]{0,4}(:[0-9a-f]{0,4}){2,7}",
        ]
    }

    fn hostname() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9.-]{0,30}"
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

    fn cluster_info() -> impl Strategy<Value = ClusterInfo> {
        (
            any::<bool>(),
            proptest::array::uniform6(any::<u32>()),
            any::<u64>(),
            any::<u64>(),
        )
            .prop_map(|(state_ok, counts, current_epoch, my_epoch)| {
                let [
                    slots_assigned,
                    slots_ok,
                    slots_possibly_failed,
                    slots_failed,
                    known_nodes,
                    size,
                ] = counts;
                ClusterInfo {
                    state_ok,
                    slots_assigned,
                    slots_ok,
                    slots_possibly_failed,
                    slots_failed,
                    known_nodes,
                    size,
                    current_epoch,
                    my_epoch,
                }
            })
    }

    fn replica_entry() -> impl Strategy<Value = ReplicaEntry> {
        (
            ip(),
            any::<u16>(),
            "[a-z_]{1,12}",
            any::<u64>(),
            any::<u64>(),
        )
            .prop_map(|(ip, port, state, offset, lag)| ReplicaEntry {
                ip,
                port,
                state,
                offset,
                lag,
            })
    }

    fn replication_info() -> impl Strategy<Value = ReplicationInfo> {
        let replica_fields = (
            any::<bool>(),
            proptest::option::of(prop_oneof![ip(), hostname()]),
            proptest::option::of(any::<u16>()),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(any::<u64>()),
        );
        (
            replica_fields,
            "[0-9a-f]{40}",
            any::<u64>(),
            proptest::collection::vec(replica_entry(), 0..4),
        )
            .prop_map(
                |(
                    (is_replica, master_host, master_port, link_up, syncing, replica_offset),
                    master_replication_id,
                    master_offset,
                    replicas,
                )| {
                    if is_replica {
                        ReplicationInfo {
                            role: ReplicationRole::Replica,
                            master_host,
                            master_port,
                            master_link_up: link_up,
                            master_sync_in_progress: syncing,
                            replica_offset,
                            master_replication_id,
                            master_offset,
                            replicas,
                        }
                    } else {
                        ReplicationInfo {
                            role: ReplicationRole::Master,
                            master_host: None,
                            master_port: None,
                            master_link_up: false,
                            master_sync_in_progress: false,
                            replica_offset: None,
                            master_replication_id,
                            master_offset,
                            replicas,
                        }
                    }
                },
            )
    }

    fn sentinel_flags() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec("[a-z_?]{1,12}", 0..4)
    }

    fn sentinel_master() -> impl Strategy<Value = SentinelMaster> {
        (
            ("[A-Za-z0-9._-]{1,20}", ip(), any::<u16>(), sentinel_flags()),
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()),
            (any::<u64>(), any::<u64>(), any::<u64>()),
        )
            .prop_map(
                |(
                    (name, ip, port, flags),
                    (quorum, replicas, other_sentinels, parallel_syncs),
                    (down_after_milliseconds, failover_timeout, config_epoch),
                )| SentinelMaster {
                    name,
                    ip,
                    port,
                    flags,
                    quorum,
                    replicas,
                    other_sentinels,
                    down_after_milliseconds,
                    failover_timeout,
                    parallel_syncs,
                    config_epoch,
                },
            )
    }

    fn sentinel_peer(replica: bool) -> impl Strategy<Value = SentinelPeer> {
        (
            "[A-Za-z0-9.:_-]{1,40}",
            ip(),
            any::<u16>(),
            sentinel_flags(),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<u64>()),
        )
            .prop_map(
                move |(name, ip, port, flags, master_link_up, replica_offset)| SentinelPeer {
                    name,
                    ip,
                    port,
                    flags,
                    master_link_up: master_link_up.filter(|_| replica),
                    replica_offset: replica_offset.filter(|_| replica),
                },
            )
    }

    fn arbitrary_reply() -> impl Strategy<Value = RedisReply> {
        let leaf = prop_oneof![
            Just(RedisReply::Nil),
            any::<i64>().prop_map(RedisReply::Integer),
            ".{0,12}".prop_map(RedisReply::Status),
            prop_oneof![
                ".{0,12}",
                Just("name".to_owned()),
                Just("ip".to_owned()),
                Just("port".to_owned()),
                Just("flags".to_owned()),
                Just("quorum".to_owned()),
                Just("master-link-status".to_owned()),
                Just("6379".to_owned()),
            ]
            .prop_map(RedisReply::Text),
        ];
        leaf.prop_recursive(3, 64, 12, |inner| {
            proptest::collection::vec(inner, 0..12).prop_map(RedisReply::Array)
        })
    }

    /// Text made of fragments that look like Redis replies, so parsers get past the first field.
    fn reply_like_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just(" ".to_owned()),
                Just("\n".to_owned()),
                Just("\r\n".to_owned()),
                Just(":".to_owned()),
                Just("@".to_owned()),
                Just(",".to_owned()),
                Just("-".to_owned()),
                Just("[".to_owned()),
                Just("]".to_owned()),
                Just("->-".to_owned()),
                Just("-<-".to_owned()),
                Just("=".to_owned()),
                Just("master".to_owned()),
                Just("slave".to_owned()),
                Just("connected".to_owned()),
                Just("role:".to_owned()),
                Just("slave0:".to_owned()),
                Just("cluster_state:".to_owned()),
                "[0-9]{1,6}",
                ".{0,6}",
            ],
            0..60,
        )
        .prop_map(|fragments| fragments.concat())
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_text_never_panics(text in ".*") {
            let _ = parse_cluster_nodes(&text);
            let _ = parse_cluster_info(&text);
            let _ = parse_info_replication(&text);
        }

        #[test]
        fn parsing_reply_like_text_never_panics(text in reply_like_text()) {
            let _ = parse_cluster_nodes(&text);
            let _ = parse_cluster_info(&text);
            let _ = parse_info_replication(&text);
        }

        #[test]
        fn parsing_arbitrary_sentinel_replies_never_panics(reply in arbitrary_reply()) {
            let _ = parse_sentinel_masters(&reply);
            let _ = parse_sentinel_peers(&reply);
            let _ = parse_master_address(&reply);
        }

        #[test]
        fn cluster_nodes_survive_a_render_and_parse_round_trip(
            nodes in proptest::collection::vec(cluster_node(), 0..6)
        ) {
            let rendered = render_cluster_nodes(&nodes);
            prop_assert_eq!(parse_cluster_nodes(&rendered), Ok(nodes));
        }

        #[test]
        fn cluster_info_survives_a_render_and_parse_round_trip(info in cluster_info()) {
            prop_assert_eq!(parse_cluster_info(&render_cluster_info(&info)), Ok(info));
        }

        #[test]
        fn replication_info_survives_a_render_and_parse_round_trip(info in replication_info()) {
            prop_assert_eq!(parse_info_replication(&render_info_replication(&info)), Ok(info));
        }

        #[test]
        fn sentinel_masters_survive_a_render_and_parse_round_trip(
            masters in proptest::collection::vec(sentinel_master(), 0..4)
        ) {
            prop_assert_eq!(parse_sentinel_masters(&render_sentinel_masters(&masters)), Ok(masters));
        }

        #[test]
        fn sentinel_replicas_survive_a_render_and_parse_round_trip(
            peers in proptest::collection::vec(sentinel_peer(true), 0..4)
        ) {
            prop_assert_eq!(parse_sentinel_peers(&render_sentinel_peers(&peers, true)), Ok(peers));
        }

        #[test]
        fn sentinel_sentinels_survive_a_render_and_parse_round_trip(
            peers in proptest::collection::vec(sentinel_peer(false), 0..4)
        ) {
            prop_assert_eq!(parse_sentinel_peers(&render_sentinel_peers(&peers, false)), Ok(peers));
        }

        #[test]
        fn master_addresses_survive_a_render_and_parse_round_trip(
            address in proptest::option::of((ip(), any::<u16>()))
        ) {
            let rendered = render_master_address(address.as_ref().map(|(ip, port)| (ip.as_str(), *port)));
            prop_assert_eq!(parse_master_address(&rendered), Ok(address));
        }
    }
}
