//! `INFO replication`: the parser the observation uses to read a server's role, its master, its
//! replicas and offsets, and the renderer the simulator's fake Redis answers with.
//!
//! Pure and total like every reply parser: no I/O, no panic on any input. The renderer writes the
//! text Redis 7 prints and is compiled only for tests and the `testing` feature.

#[cfg(any(test, feature = "testing"))]
use std::fmt::Write as _;

use super::{
    INFO_REPLICATION, InfoLine, ParseError, find_info_line, info_lines, invalid, missing,
    parse_number, required_info_number,
};

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
    /// `master_link_down_since_seconds`, printed by a replica whose link is down.
    pub master_link_down: Option<MasterLinkDown>,
    /// `slave_repl_offset`, printed by replicas.
    pub replica_offset: Option<u64>,
    /// `slave_priority`, printed by replicas: Redis Sentinel never promotes a replica at 0.
    pub replica_priority: Option<u32>,
    /// `master_replid`: the replication history identifier.
    pub master_replication_id: String,
    /// `master_repl_offset`: the server's replication offset.
    pub master_offset: u64,
    /// `master_replid2` and `second_repl_offset`: the history this one continues, when it does
    /// (a promoted replica keeps its former master's up to the offset it was promoted at; a server
    /// that started empty or resynced in full continues none).
    pub previous_history: Option<PreviousHistory>,
    /// The `slaveN:` lines, in the order printed.
    pub replicas: Vec<ReplicaEntry>,
}

/// How long a replica's link to its master has been down: `master_link_down_since_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MasterLinkDown {
    /// `-1`: it has not completed a sync since it started or was pointed at this master (Redis'
    /// `repl_down_since` is 0). Its data age counts as infinite, so Redis Cluster never elects
    /// it in its master's place; only `CLUSTER FAILOVER FORCE` or `TAKEOVER` promote it.
    NeverSynced,
    /// Seconds since the link went down after a sync.
    Seconds(u64),
}

/// A replication history a server continues: `master_replid2` and `second_repl_offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviousHistory {
    /// `master_replid2`.
    pub replication_id: String,
    /// `second_repl_offset`: the first offset that is no longer part of that history.
    pub ends_at: u64,
}

/// The `master_replid2` Redis prints when a server continues no earlier history.
#[cfg(any(test, feature = "testing"))]
const NO_REPLICATION_ID: &str = "0000000000000000000000000000000000000000";

impl ReplicationInfo {
    /// Whether this server's history contains the history `replication_id` names: it is its
    /// current one, or the one it continued when it was promoted. A server that restarted
    /// without its data, or resynced in full from another master, contains neither.
    pub fn continues_history(&self, replication_id: &str) -> bool {
        self.master_replication_id == replication_id
            || self
                .previous_history
                .as_ref()
                .is_some_and(|previous| previous.replication_id == replication_id)
    }
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
    let master_link_down = find_info_line(replica_lines, "master_link_down_since_seconds")
        .map(|line| match line.value {
            "-1" => Ok(MasterLinkDown::NeverSynced),
            value => parse_number(
                INFO_REPLICATION,
                line.location,
                "master_link_down_since_seconds",
                value,
            )
            .map(MasterLinkDown::Seconds),
        })
        .transpose()?;
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
    let replica_priority = find_info_line(replica_lines, "slave_priority")
        .map(|line| {
            parse_number(
                INFO_REPLICATION,
                line.location,
                "slave_priority",
                line.value,
            )
        })
        .transpose()?;
    let master_replication_id = find_info_line(&lines, "master_replid")
        .ok_or_else(|| missing(INFO_REPLICATION, "reply", "master_replid"))?
        .value
        .to_owned();
    let master_offset = required_info_number(INFO_REPLICATION, &lines, "master_repl_offset")?;
    let previous_history = parse_previous_history(&lines)?;
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
        master_link_down,
        replica_offset,
        replica_priority,
        master_replication_id,
        master_offset,
        previous_history,
        replicas,
    })
}

/// `master_replid2` and `second_repl_offset`: a history only when both name one (Redis prints
/// zeros and -1 when there is none; servers older than Redis 4 print neither).
fn parse_previous_history(lines: &[InfoLine<'_>]) -> Result<Option<PreviousHistory>, ParseError> {
    let ends_at = match find_info_line(lines, "second_repl_offset") {
        None => None,
        Some(line) if line.value == "-1" => None,
        Some(line) => Some(parse_number(
            INFO_REPLICATION,
            line.location,
            "second_repl_offset",
            line.value,
        )?),
    };
    let replication_id = find_info_line(lines, "master_replid2")
        .map(|line| line.value)
        .filter(|id| !id.is_empty() && id.bytes().any(|byte| byte != b'0'));
    Ok(replication_id
        .zip(ends_at)
        .map(|(replication_id, ends_at)| PreviousHistory {
            replication_id: replication_id.to_owned(),
            ends_at,
        }))
}

/// Renders `INFO replication` as Redis 7 prints it, with `\r\n` line ends.
///
/// The replica-only block (`master_host` .. `replica_announced`) is printed only for
/// [`ReplicationRole::Replica`]; `master_host`, `master_port` and `slave_repl_offset` only when
/// set. Backlog fields the operator does not track are printed with neutral values.
#[cfg(any(test, feature = "testing"))]
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
            match info.master_link_down {
                Some(MasterLinkDown::NeverSynced) => {
                    text.push_str("master_link_down_since_seconds:-1\r\n");
                }
                Some(MasterLinkDown::Seconds(seconds)) => {
                    let _ = write!(text, "master_link_down_since_seconds:{seconds}\r\n");
                }
                None => {}
            }
            if let Some(priority) = info.replica_priority {
                let _ = write!(text, "slave_priority:{priority}\r\n");
            }
            text.push_str("slave_read_only:1\r\nreplica_announced:1\r\n");
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
    let (previous_id, previous_end) = match &info.previous_history {
        Some(previous) => (
            previous.replication_id.as_str(),
            previous.ends_at.to_string(),
        ),
        None => (NO_REPLICATION_ID, "-1".to_owned()),
    };
    let _ = write!(
        text,
        "master_failover_state:no-failover\r\n\
         master_replid:{}\r\n\
         master_replid2:{previous_id}\r\n\
         master_repl_offset:{}\r\n\
         second_repl_offset:{previous_end}\r\n\
         repl_backlog_active:1\r\n\
         repl_backlog_size:1048576\r\n\
         repl_backlog_first_byte_offset:1\r\n\
         repl_backlog_histlen:{}\r\n",
        info.master_replication_id, info.master_offset, info.master_offset,
    );
    text
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::topology::replies::tests::{hostname, ip};

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
                master_link_down: None,
                replica_offset: None,
                replica_priority: None,
                master_replication_id: "8d3f1a6c0b2e4d5f7a9c1e3b5d7f9a1c3e5b7d9f".to_owned(),
                master_offset: 1_048_876,
                previous_history: None,
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
        assert_eq!(info.master_link_down, Some(MasterLinkDown::NeverSynced));
        assert_eq!(info.replica_offset, Some(1));
        assert_eq!(info.replica_priority, Some(100));
        assert_eq!(info.master_offset, 0);
        assert!(info.replicas.is_empty());
        let rendered = render_info_replication(&info);
        assert_eq!(parse_info_replication(&rendered).unwrap(), info);
        assert!(rendered.contains("\r\nrole:slave\r\nmaster_host:10.244.1.20\r\nmaster_port:6379\r\nmaster_link_status:down\r\n"));
    }

    #[test]
    fn reads_how_long_the_link_of_a_replica_has_been_down() {
        let down = REPLICA_REPLICATION_SAMPLE.replace(
            "master_link_down_since_seconds:-1",
            "master_link_down_since_seconds:42",
        );
        let info = parse_info_replication(&down).unwrap();
        assert_eq!(info.master_link_down, Some(MasterLinkDown::Seconds(42)));
        let bad = REPLICA_REPLICATION_SAMPLE.replace(
            "master_link_down_since_seconds:-1",
            "master_link_down_since_seconds:-2",
        );
        assert_eq!(
            parse_info_replication(&bad).unwrap_err().to_string(),
            "failed to parse info replication at line 15: invalid master_link_down_since_seconds \"-2\", \
             expected a non-negative decimal number"
        );
        let up = REPLICA_REPLICATION_SAMPLE.replace("master_link_down_since_seconds:-1\r\n", "");
        assert_eq!(parse_info_replication(&up).unwrap().master_link_down, None);
    }

    #[test]
    fn reads_the_history_a_promoted_server_continues() {
        let promoted = MASTER_REPLICATION_SAMPLE
            .replace(
                "master_replid2:0000000000000000000000000000000000000000",
                "master_replid2:5e1c2a7d9b3f4e6a8c0d2f4b6e8a0c2d4f6b8e0a",
            )
            .replace("second_repl_offset:-1", "second_repl_offset:1048000");
        let info = parse_info_replication(&promoted).unwrap();
        assert_eq!(
            info.previous_history,
            Some(PreviousHistory {
                replication_id: "5e1c2a7d9b3f4e6a8c0d2f4b6e8a0c2d4f6b8e0a".to_owned(),
                ends_at: 1_048_000,
            })
        );
        assert!(info.continues_history("5e1c2a7d9b3f4e6a8c0d2f4b6e8a0c2d4f6b8e0a"));
        assert!(info.continues_history("8d3f1a6c0b2e4d5f7a9c1e3b5d7f9a1c3e5b7d9f"));
        assert!(!info.continues_history("0123456789abcdef0123456789abcdef01234567"));
        let rendered = render_info_replication(&info);
        assert_eq!(parse_info_replication(&rendered).unwrap(), info);
        // A server that started empty continues nothing, whatever `second_repl_offset` says.
        let fresh = parse_info_replication(MASTER_REPLICATION_SAMPLE).unwrap();
        assert_eq!(fresh.previous_history, None);
        assert!(!fresh.continues_history("0000000000000000000000000000000000000000"));
        let malformed = promoted.replace("second_repl_offset:1048000", "second_repl_offset:soon");
        assert!(
            parse_info_replication(&malformed)
                .unwrap_err()
                .to_string()
                .contains("second_repl_offset"),
        );
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
            proptest::option::of(any::<u32>()),
            proptest::option::of(prop_oneof![
                Just(MasterLinkDown::NeverSynced),
                any::<u64>().prop_map(MasterLinkDown::Seconds),
            ]),
        );
        (
            replica_fields,
            "[0-9a-f]{40}",
            any::<u64>(),
            proptest::collection::vec(replica_entry(), 0..4),
            proptest::option::of(("[1-9a-f][0-9a-f]{39}", any::<u64>()).prop_map(
                |(replication_id, ends_at)| PreviousHistory {
                    replication_id,
                    ends_at,
                },
            )),
        )
            .prop_map(
                |(
                    (
                        is_replica,
                        master_host,
                        master_port,
                        link_up,
                        syncing,
                        replica_offset,
                        replica_priority,
                        master_link_down,
                    ),
                    master_replication_id,
                    master_offset,
                    replicas,
                    previous_history,
                )| {
                    if is_replica {
                        ReplicationInfo {
                            role: ReplicationRole::Replica,
                            master_host,
                            master_port,
                            master_link_up: link_up,
                            master_sync_in_progress: syncing,
                            master_link_down,
                            replica_offset,
                            replica_priority,
                            master_replication_id,
                            master_offset,
                            previous_history,
                            replicas,
                        }
                    } else {
                        ReplicationInfo {
                            role: ReplicationRole::Master,
                            master_host: None,
                            master_port: None,
                            master_link_up: false,
                            master_sync_in_progress: false,
                            master_link_down: None,
                            replica_offset: None,
                            replica_priority: None,
                            master_replication_id,
                            master_offset,
                            previous_history,
                            replicas,
                        }
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn replication_info_survives_a_render_and_parse_round_trip(info in replication_info()) {
            prop_assert_eq!(parse_info_replication(&render_info_replication(&info)), Ok(info));
        }
    }
}
