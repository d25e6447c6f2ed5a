//! The property the `redis_replies` fuzz target and its proptest check: the parsers of the Redis
//! replies the operator reads (`CLUSTER NODES`, `CLUSTER INFO`, `INFO replication`, and the
//! sentinel replies) never panic on any input, every error they report says what failed, and
//! whatever they accept survives a render and parse round trip unchanged.
//!
//! Text replies are checked on the input as text; sentinel replies, which arrive as protocol
//! arrays, are checked on the input decoded as the Redis protocol (RESP2, plus the RESP3 map and
//! null types, which the adapter flattens the same way). This module must stay pure like the
//! parsers it checks: no I/O, no clock. Compiled only for tests and the `testing` feature, as it
//! needs the renderers.

use crate::ports::redis::RedisReply;
use crate::topology::replies::{
    ParseError, parse_cluster_info, parse_cluster_nodes, parse_info_replication,
    parse_keyspace_keys, parse_master_address, parse_sentinel_masters, parse_sentinel_peers,
    render_cluster_info, render_cluster_nodes, render_info_replication, render_keyspace,
    render_master_address, render_sentinel_masters, render_sentinel_peers,
};

/// How deeply nested arrays the protocol decoder follows (sentinel replies nest two levels).
const MAXIMUM_DEPTH: usize = 8;

/// What one check saw, so callers (and tests) can tell the input reached the parsers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplyCheckSummary {
    /// Parsers that accepted the input.
    pub accepted: usize,
    /// Parsers that rejected it with an error.
    pub rejected: usize,
    /// Whether the bytes decoded as a protocol reply (so the sentinel parsers ran on them).
    pub decoded_protocol: bool,
}

/// Checks every reply parser on `bytes`; panics (the fuzz target's crash) when a parser panics,
/// reports an error that does not say what failed, or accepts a reply that does not survive a
/// render and parse round trip.
pub fn check_reply_parsing_is_total(bytes: &[u8]) -> ReplyCheckSummary {
    let mut summary = ReplyCheckSummary::default();
    let text = String::from_utf8_lossy(bytes);

    match parse_cluster_nodes(&text) {
        Ok(nodes) => {
            summary.accepted += 1;
            let rendered = render_cluster_nodes(&nodes);
            assert_eq!(
                parse_cluster_nodes(&rendered).as_ref(),
                Ok(&nodes),
                "CLUSTER NODES round trip through {rendered:?}"
            );
        }
        Err(error) => summary.record_error(&error),
    }
    match parse_cluster_info(&text) {
        Ok(info) => {
            summary.accepted += 1;
            let rendered = render_cluster_info(&info);
            assert_eq!(
                parse_cluster_info(&rendered).as_ref(),
                Ok(&info),
                "CLUSTER INFO round trip through {rendered:?}"
            );
        }
        Err(error) => summary.record_error(&error),
    }
    match parse_info_replication(&text) {
        Ok(info) => {
            summary.accepted += 1;
            let rendered = render_info_replication(&info);
            assert_eq!(
                parse_info_replication(&rendered).as_ref(),
                Ok(&info),
                "INFO replication round trip through {rendered:?}"
            );
        }
        Err(error) => summary.record_error(&error),
    }
    match parse_keyspace_keys(&text) {
        Ok(keys) => {
            summary.accepted += 1;
            let rendered = render_keyspace(&[keys]);
            assert_eq!(
                parse_keyspace_keys(&rendered),
                Ok(keys),
                "INFO keyspace round trip through {rendered:?}"
            );
        }
        Err(error) => summary.record_error(&error),
    }

    let mut decoder = ProtocolDecoder { bytes, position: 0 };
    let Some(reply) = decoder.reply(0) else {
        return summary;
    };
    summary.decoded_protocol = true;
    match parse_sentinel_masters(&reply) {
        Ok(masters) => {
            summary.accepted += 1;
            let rendered = render_sentinel_masters(&masters);
            assert_eq!(
                parse_sentinel_masters(&rendered).as_ref(),
                Ok(&masters),
                "SENTINEL MASTERS round trip through {rendered:?}"
            );
        }
        Err(error) => summary.record_error(&error),
    }
    match parse_sentinel_peers(&reply) {
        Ok(peers) => {
            summary.accepted += 1;
            // Replica entries carry every field a sentinel entry does, and the optional ones.
            let rendered = render_sentinel_peers(&peers, true);
            assert_eq!(
                parse_sentinel_peers(&rendered).as_ref(),
                Ok(&peers),
                "SENTINEL REPLICAS round trip through {rendered:?}"
            );
        }
        Err(error) => summary.record_error(&error),
    }
    match parse_master_address(&reply) {
        Ok(address) => {
            summary.accepted += 1;
            let rendered =
                render_master_address(address.as_ref().map(|(ip, port)| (ip.as_str(), *port)));
            assert_eq!(
                parse_master_address(&rendered).as_ref(),
                Ok(&address),
                "SENTINEL GET-MASTER-ADDR-BY-NAME round trip through {rendered:?}"
            );
        }
        Err(error) => summary.record_error(&error),
    }
    summary
}

impl ReplyCheckSummary {
    /// Counts a rejection after checking that its message says which reply, where and what.
    fn record_error(&mut self, error: &ParseError) {
        self.rejected += 1;
        let message = error.to_string();
        assert!(
            message.starts_with("failed to parse "),
            "a parse error reads \"failed to parse ...\": {message:?}"
        );
        let (reply, location) = match error {
            ParseError::Malformed {
                reply, location, ..
            }
            | ParseError::MissingField {
                reply, location, ..
            }
            | ParseError::InvalidField {
                reply, location, ..
            } => (reply, location),
        };
        assert!(
            !reply.is_empty() && !location.is_empty(),
            "a parse error names the reply and where in it: {error:?}"
        );
    }
}

/// Reads one reply in the Redis protocol from the front of a byte slice. Returns `None` for
/// anything that is not a complete, well-formed reply; never reads past the end.
struct ProtocolDecoder<'input> {
    bytes: &'input [u8],
    position: usize,
}

impl ProtocolDecoder<'_> {
    /// The bytes up to the next CRLF, which is consumed.
    fn line(&mut self) -> Option<&[u8]> {
        let rest = self.bytes.get(self.position..)?;
        let end = rest.windows(2).position(|pair| pair == b"\r\n")?;
        self.position = self.position.checked_add(end)?.checked_add(2)?;
        rest.get(..end)
    }

    /// A signed decimal length or integer on its own line.
    fn number(&mut self) -> Option<i64> {
        std::str::from_utf8(self.line()?).ok()?.parse().ok()
    }

    /// `count` nested replies; `None` when the input ends first.
    fn replies(&mut self, count: i64, depth: usize) -> Option<Vec<RedisReply>> {
        let count = usize::try_from(count).ok()?;
        // Every reply takes at least three bytes, so a count beyond that is a lie.
        let remaining = self.bytes.len().saturating_sub(self.position);
        if count > remaining / 3 {
            return None;
        }
        (0..count).map(|_| self.reply(depth + 1)).collect()
    }

    fn reply(&mut self, depth: usize) -> Option<RedisReply> {
        if depth > MAXIMUM_DEPTH {
            return None;
        }
        let marker = *self.bytes.get(self.position)?;
        self.position += 1;
        match marker {
            b'+' | b'-' => Some(RedisReply::Status(
                String::from_utf8_lossy(self.line()?).into_owned(),
            )),
            b':' => self.number().map(RedisReply::Integer),
            b'_' => self.line().map(|_| RedisReply::Nil),
            b'$' | b'=' => {
                let length = self.number()?;
                if length < 0 {
                    return Some(RedisReply::Nil);
                }
                let length = usize::try_from(length).ok()?;
                let end = self.position.checked_add(length)?;
                let body = self.bytes.get(self.position..end)?;
                if self.bytes.get(end..end.checked_add(2)?)? != b"\r\n" {
                    return None;
                }
                self.position = end + 2;
                Some(RedisReply::Text(String::from_utf8_lossy(body).into_owned()))
            }
            b'*' => {
                let count = self.number()?;
                if count < 0 {
                    return Some(RedisReply::Nil);
                }
                self.replies(count, depth).map(RedisReply::Array)
            }
            b'%' => {
                let pairs = self.number()?;
                self.replies(pairs.checked_mul(2)?, depth)
                    .map(RedisReply::Array)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_sentinel_reply_in_the_protocol() {
        let input = b"*1\r\n*4\r\n$4\r\nname\r\n$8\r\nmymaster\r\n$2\r\nip\r\n:7\r\n";
        let mut decoder = ProtocolDecoder {
            bytes: input,
            position: 0,
        };
        assert_eq!(
            decoder.reply(0),
            Some(RedisReply::Array(vec![RedisReply::Array(vec![
                RedisReply::Text("name".to_owned()),
                RedisReply::Text("mymaster".to_owned()),
                RedisReply::Text("ip".to_owned()),
                RedisReply::Integer(7),
            ])]))
        );
    }

    #[test]
    fn refuses_truncated_and_lying_protocol_input() {
        for input in [
            &b"*2\r\n$4\r\nname\r\n"[..],
            b"$10\r\nshort\r\n",
            b"*999999999\r\n",
            b"%-3\r\n",
            b"?\r\n",
        ] {
            let mut decoder = ProtocolDecoder {
                bytes: input,
                position: 0,
            };
            assert_eq!(decoder.reply(0), None, "{input:?}");
        }
    }

    #[test]
    fn a_real_master_address_reply_is_accepted_and_survives_the_round_trip() {
        let summary = check_reply_parsing_is_total(b"*2\r\n$9\r\n10.0.0.12\r\n$4\r\n6379\r\n");
        assert!(summary.decoded_protocol);
        assert!(summary.accepted >= 1, "{summary:?}");
    }
}
