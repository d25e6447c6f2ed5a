//! The Redis replies the operator reads to learn a topology, one module per reply format:
//! `CLUSTER NODES`, `CLUSTER INFO`, `INFO replication`, `INFO keyspace`, and the sentinel replies
//! `SENTINEL MASTERS`, `SENTINEL REPLICAS`, `SENTINEL SENTINELS` and
//! `SENTINEL GET-MASTER-ADDR-BY-NAME`. This module holds what they share: the error type, the
//! helpers that build it, and the reading of INFO-style `key:value` text.
//!
//! Every parser turns a reply into typed values and reports a [`ParseError`] that names the
//! reply, the line or entry, and the field it could not understand. Every renderer (compiled only
//! for tests and the `testing` feature, for the simulator and the fuzz checks) writes the text (or
//! reply shape) a real Redis 7 server produces; for every value a renderer accepts, parsing the
//! rendered reply gives the value back.
//!
//! These modules must stay pure: no I/O, no async, no clock, no logging. They must never panic,
//! whatever the input: no `unwrap`, no `expect`, no indexing that can go out of bounds, no
//! arithmetic that can overflow.

#[cfg(any(test, feature = "testing"))]
pub mod checks;
pub mod cluster_info;
pub mod cluster_nodes;
pub mod info_keyspace;
pub mod info_replication;
pub mod sentinel;

use std::fmt;
use std::str::FromStr;

#[cfg(any(test, feature = "testing"))]
pub use cluster_info::render_cluster_info;
pub use cluster_info::{ClusterInfo, parse_cluster_info};
#[cfg(any(test, feature = "testing"))]
pub use cluster_nodes::render_cluster_nodes;
pub use cluster_nodes::{ClusterNode, NodeAddress, NodeFlags, parse_cluster_nodes};
pub use info_keyspace::parse_keyspace_keys;
#[cfg(any(test, feature = "testing"))]
pub use info_keyspace::render_keyspace;
#[cfg(any(test, feature = "testing"))]
pub use info_replication::render_info_replication;
pub use info_replication::{
    MasterLinkDown, PreviousHistory, ReplicaEntry, ReplicationInfo, ReplicationRole,
    parse_info_replication,
};
pub use sentinel::{
    SentinelMaster, SentinelPeer, parse_master_address, parse_sentinel_masters,
    parse_sentinel_peers,
};
#[cfg(any(test, feature = "testing"))]
pub use sentinel::{render_master_address, render_sentinel_masters, render_sentinel_peers};

/// The highest hash slot of a Redis Cluster (slots are `0..=16383`).
const LAST_SLOT: u16 = 16383;

/// How many characters of an offending value an error message keeps.
const ERROR_VALUE_LIMIT: usize = 80;

/// Name of the `CLUSTER NODES` reply in error messages.
const CLUSTER_NODES: &str = "cluster nodes";
/// Name of the `CLUSTER INFO` reply in error messages.
const CLUSTER_INFO: &str = "cluster info";
/// Name of the `INFO keyspace` reply in error messages.
const INFO_KEYSPACE: &str = "info keyspace";
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

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn shortens_very_long_values_in_error_messages() {
        let long = "9".repeat(500);
        let error = parse_cluster_info(&format!("cluster_state:{long}\n")).unwrap_err();
        let ParseError::InvalidField { value, .. } = error else {
            panic!("unexpected error {error:?}");
        };
        assert_eq!(value.len(), ERROR_VALUE_LIMIT + 3);
    }

    /// IPv4 and IPv6 addresses as Redis prints them.
    pub(crate) fn ip() -> impl Strategy<Value = String> {
        prop_oneof![
            (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
                .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
            "[0-9a-f]{0,4}(:[0-9a-f]{0,4}){2,7}",
        ]
    }

    pub(crate) fn hostname() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9.-]{0,30}"
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
    }
}
