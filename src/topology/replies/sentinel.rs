//! The sentinel replies: `SENTINEL MASTERS`, `SENTINEL REPLICAS`, `SENTINEL SENTINELS` and
//! `SENTINEL GET-MASTER-ADDR-BY-NAME`, which arrive as protocol arrays; the parsers the
//! observation uses and the renderers the simulator's fake sentinels answer with.
//!
//! Pure and total like every reply parser: no I/O, no panic on any input. The renderers write the
//! reply shapes Redis 7 sends and are compiled only for tests and the `testing` feature.

use std::borrow::Cow;
use std::str::FromStr;

use super::{
    ParseError, SENTINEL_MASTER_ADDRESS, SENTINEL_MASTERS, SENTINEL_PEERS, invalid, malformed,
    missing, parse_number,
};
use crate::ports::redis::RedisReply;

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
#[cfg(any(test, feature = "testing"))]
fn push_field(items: &mut Vec<RedisReply>, key: &str, value: impl ToString) {
    items.push(RedisReply::Text(key.to_owned()));
    items.push(RedisReply::Text(value.to_string()));
}

/// Renders `SENTINEL MASTERS` as Redis 7 replies (RESP2: each entry a flat array of bulk-string
/// keys and values). Timing fields the operator does not track are printed as zero.
#[cfg(any(test, feature = "testing"))]
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
#[cfg(any(test, feature = "testing"))]
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
#[cfg(any(test, feature = "testing"))]
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
    use crate::topology::replies::tests::ip;

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

    proptest! {
        #[test]
        fn parsing_arbitrary_sentinel_replies_never_panics(reply in arbitrary_reply()) {
            let _ = parse_sentinel_masters(&reply);
            let _ = parse_sentinel_peers(&reply);
            let _ = parse_master_address(&reply);
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
