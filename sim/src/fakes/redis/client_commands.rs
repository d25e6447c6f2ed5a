//! The commands a client sends over its own connection — SELECT, strings (GET, SET), hashes
//! (HSET, HGET, HGETALL), lists (RPUSH, LPUSH, LRANGE), sets (SADD, SMEMBERS), TYPE, DEL,
//! EXISTS, DBSIZE, FLUSHDB, FLUSHALL, PING — answered as Redis answers them, refusals included:
//! arity, WRONGTYPE, a replica's READONLY, LOADING, SELECT out of range or in cluster mode.
//!
//! A connection carries its selected database, as a Redis client connection does. It answers at
//! the server it is connected to: no MOVED or ASK redirection in cluster mode (the client
//! workload's writes route through [`FakeRedis::client_write`]). Not the operator's commands
//! (`commands` answers those), and no other data types (sorted sets, streams).

use std::sync::Arc;

use redis_operator::ports::redis::RedisReply;

use super::dataset::{DATABASES, Value};
use super::full_sync::LOADING_MESSAGE;
use super::{FakeRedis, Server, ServerKind, ok};

/// What a replica answers to a write.
const READONLY_MESSAGE: &str = "READONLY You can't write against a read only replica.";
/// What a command meeting a key of another kind answers.
pub const WRONGTYPE_MESSAGE: &str =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
/// What a command answers to an argument that should be an integer.
const NOT_AN_INTEGER_MESSAGE: &str = "ERR value is not an integer or out of range";

/// A client's connection to one server: where it is connected and the database it selected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConnection {
    address: String,
    database: u8,
}

impl ClientConnection {
    /// A new connection to the server at `address`, on database 0.
    pub fn new(address: &str) -> ClientConnection {
        ClientConnection {
            address: address.to_owned(),
            database: 0,
        }
    }

    /// The database it selected.
    pub fn database(&self) -> u8 {
        self.database
    }
}

/// Why a client command got no reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The server refused it with this error line, as Redis words it.
    Refused(String),
    /// No server answers at the address: none runs there, or clients are cut from it.
    Unreachable,
}

/// A command Redis knows: its arity as Redis counts it (the name included; negative for "at
/// least") and whether it writes.
struct Known {
    arity: i64,
    writes: bool,
}

/// The commands answered here, by lower-case name.
fn known(name: &str) -> Option<Known> {
    let (arity, writes) = match name {
        "ping" => (-1, false),
        "select" => (2, false),
        "get" | "type" | "hgetall" | "smembers" => (2, false),
        "hget" => (3, false),
        "lrange" => (4, false),
        "exists" => (-2, false),
        "dbsize" => (1, false),
        "set" | "rpush" | "lpush" | "sadd" => (-3, true),
        "hset" => (-4, true),
        "del" => (-2, true),
        "flushdb" | "flushall" => (-1, true),
        _ => return None,
    };
    Some(Known { arity, writes })
}

/// Whether `count` arguments (the name included) fit `arity`; HSET takes field-value pairs.
fn arity_fits(name: &str, arity: i64, count: usize) -> bool {
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    let fits = if arity >= 0 {
        count == arity
    } else {
        count >= -arity
    };
    fits && (name != "hset" || count % 2 == 0)
}

/// A text reply for each of `items`.
fn texts<'a>(items: impl Iterator<Item = &'a Arc<str>>) -> RedisReply {
    RedisReply::Array(
        items
            .map(|item| RedisReply::Text(item.to_string()))
            .collect(),
    )
}

/// A count as an integer reply.
fn count(count: usize) -> RedisReply {
    RedisReply::Integer(i64::try_from(count).unwrap_or(i64::MAX))
}

/// The value of `key` in the connection's database when it is of the kind `pick` accepts;
/// `Ok(None)` when there is no such key, WRONGTYPE when it holds another kind.
fn typed<'a, T>(
    server: &'a Server,
    database: u8,
    key: &str,
    pick: impl Fn(&'a Value) -> Option<T>,
) -> Result<Option<T>, ClientError> {
    match server.data.value(database, key) {
        None => Ok(None),
        Some(value) => pick(value)
            .map(Some)
            .ok_or_else(|| ClientError::Refused(WRONGTYPE_MESSAGE.to_owned())),
    }
}

/// LRANGE's slice of a list of `length` elements, as Redis clamps `start` and `stop`.
fn list_range(length: usize, start: i64, stop: i64) -> std::ops::Range<usize> {
    let length = i64::try_from(length).unwrap_or(i64::MAX);
    let start = if start < 0 { length + start } else { start }.max(0);
    let stop = if stop < 0 { length + stop } else { stop }.min(length - 1);
    if start > stop || start >= length {
        return 0..0;
    }
    let index = |at: i64| usize::try_from(at).unwrap_or(0);
    index(start)..index(stop) + 1
}

impl FakeRedis {
    /// A client's command (`arguments`, the name first) over `connection`, answered as Redis
    /// answers it; SELECT changes the connection's database.
    pub fn client_command(
        &self,
        connection: &mut ClientConnection,
        arguments: &[&str],
    ) -> Result<RedisReply, ClientError> {
        let mut fleet = self.lock();
        let now = fleet.now;
        let reachable = !fleet.cut_from_clients.contains(&connection.address);
        let Some(server) = fleet
            .servers
            .get_mut(&connection.address)
            .filter(|server| server.alive && reachable)
        else {
            return Err(ClientError::Unreachable);
        };
        let refuse = |message: &str| Err(ClientError::Refused(message.to_owned()));
        let name = arguments.first().copied().unwrap_or_default();
        let lower = name.to_ascii_lowercase();
        let Some(Known { arity, writes }) = known(&lower) else {
            let quoted: String = arguments
                .iter()
                .skip(1)
                .map(|argument| format!("'{argument}' "))
                .collect();
            return refuse(&format!(
                "ERR unknown command '{name}', with args beginning with: {quoted}"
            ));
        };
        if !arity_fits(&lower, arity, arguments.len()) {
            return refuse(&format!(
                "ERR wrong number of arguments for '{lower}' command"
            ));
        }
        if writes && (server.master.is_some() || server.cluster_master.is_some()) {
            return refuse(READONLY_MESSAGE);
        }
        if server.loading_at(now) {
            return refuse(LOADING_MESSAGE);
        }
        let database = connection.database;
        let key = arguments.get(1).copied().unwrap_or_default();
        let rest = arguments.get(2..).unwrap_or_default();
        let reply = match lower.as_str() {
            "ping" => match arguments.get(1) {
                Some(message) if arguments.len() == 2 => RedisReply::Text((*message).to_owned()),
                Some(_) => return refuse("ERR wrong number of arguments for 'ping' command"),
                None => RedisReply::Status("PONG".to_owned()),
            },
            "select" => {
                let Ok(index) = key.parse::<i64>() else {
                    return refuse(NOT_AN_INTEGER_MESSAGE);
                };
                if server.kind == ServerKind::Cluster && index != 0 {
                    return refuse("ERR SELECT is not allowed in cluster mode");
                }
                match u8::try_from(index) {
                    Ok(index) if usize::from(index) < DATABASES => connection.database = index,
                    _ => return refuse("ERR DB index is out of range"),
                }
                ok()
            }
            "get" => match typed(server, database, key, Value::as_string)? {
                Some(text) => RedisReply::Text(text.to_string()),
                None => RedisReply::Nil,
            },
            "type" => RedisReply::Status(
                server
                    .data
                    .value(database, key)
                    .map_or("none", Value::type_name)
                    .to_owned(),
            ),
            "hget" => {
                let hash = typed(server, database, key, Value::as_hash)?;
                match hash.and_then(|hash| hash.get(rest[0])) {
                    Some(text) => RedisReply::Text(text.to_string()),
                    None => RedisReply::Nil,
                }
            }
            "hgetall" => {
                let hash = typed(server, database, key, Value::as_hash)?;
                texts(
                    hash.into_iter()
                        .flat_map(|hash| hash.iter())
                        .flat_map(|(field, text)| [field, text]),
                )
            }
            "lrange" => {
                let (Ok(start), Ok(stop)) = (rest[0].parse::<i64>(), rest[1].parse::<i64>()) else {
                    return refuse(NOT_AN_INTEGER_MESSAGE);
                };
                let list = typed(server, database, key, Value::as_list)?;
                match list {
                    Some(list) => texts(list.range(list_range(list.len(), start, stop))),
                    None => RedisReply::Array(Vec::new()),
                }
            }
            "smembers" => {
                let set = typed(server, database, key, Value::as_set)?;
                texts(set.into_iter().flat_map(|set| set.iter()))
            }
            "exists" => count(
                arguments[1..]
                    .iter()
                    .filter(|key| server.data.value(database, key).is_some())
                    .count(),
            ),
            "dbsize" => count(server.data.database_len(database)),
            _ => return write(server, database, &lower, key, rest),
        };
        Ok(reply)
    }
}

/// Applies a writing command (its arity checked) to `server`'s database `database`, and moves
/// the replication offset as the write would.
fn write(
    server: &mut Server,
    database: u8,
    name: &str,
    key: &str,
    rest: &[&str],
) -> Result<RedisReply, ClientError> {
    let reply = match name {
        "set" => {
            if rest.len() != 1 {
                return Err(ClientError::Refused("ERR syntax error".to_owned()));
            }
            server
                .data
                .set(database, key, Value::String(Arc::from(rest[0])));
            ok()
        }
        "del" => {
            let removed = std::iter::once(key)
                .chain(rest.iter().copied())
                .filter(|key| server.data.remove_from(database, key))
                .count();
            // Removing nothing changes nothing: Redis propagates no write.
            if removed == 0 {
                return Ok(count(0));
            }
            count(removed)
        }
        "flushdb" | "flushall" => {
            let mode_known = key.is_empty()
                || key.eq_ignore_ascii_case("async")
                || key.eq_ignore_ascii_case("sync");
            if !rest.is_empty() || !mode_known {
                return Err(ClientError::Refused("ERR syntax error".to_owned()));
            }
            server.data.flush((name == "flushdb").then_some(database));
            ok()
        }
        "hset" => {
            let mut hash = typed(server, database, key, Value::as_hash)?
                .cloned()
                .unwrap_or_default();
            let fields = Arc::make_mut(&mut hash);
            let added = rest
                .chunks_exact(2)
                .filter(|pair| {
                    fields
                        .insert(Arc::from(pair[0]), Arc::from(pair[1]))
                        .is_none()
                })
                .count();
            server.data.set(database, key, Value::Hash(hash));
            count(added)
        }
        "rpush" | "lpush" => {
            let mut list = typed(server, database, key, Value::as_list)?
                .cloned()
                .unwrap_or_default();
            let elements = Arc::make_mut(&mut list);
            for element in rest {
                if name == "rpush" {
                    elements.push_back(Arc::from(*element));
                } else {
                    elements.push_front(Arc::from(*element));
                }
            }
            let length = elements.len();
            server.data.set(database, key, Value::List(list));
            count(length)
        }
        "sadd" => {
            let mut set = typed(server, database, key, Value::as_set)?
                .cloned()
                .unwrap_or_default();
            let members = Arc::make_mut(&mut set);
            let added = rest
                .iter()
                .filter(|member| members.insert(Arc::from(**member)))
                .count();
            server.data.set(database, key, Value::Set(set));
            count(added)
        }
        _ => {
            return Err(ClientError::Refused(format!(
                "ERR unknown command '{name}'"
            )));
        }
    };
    if server.backlog {
        server.offset += 1;
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use redis_operator::ports::redis::{RedisAdmin, RedisCommand, RedisEndpoint, RedisReply};

    use super::{ClientConnection, ClientError, READONLY_MESSAGE, WRONGTYPE_MESSAGE};
    use crate::fakes::redis::{FakeRedis, ServerKind};

    fn endpoint(host: &str) -> RedisEndpoint {
        RedisEndpoint {
            namespace: "test".to_owned(),
            pod: host.to_owned(),
            host: host.to_owned(),
            port: 6379,
            password: None,
            user: None,
            tls: None,
        }
    }

    fn fleet(kind: ServerKind, hosts: &[&str]) -> FakeRedis {
        let redis = FakeRedis::new();
        for host in hosts {
            redis.start(host, host, 6379, kind, false, false);
        }
        redis
    }

    /// Sends `line` (words separated by spaces) and renders the reply or error line.
    fn send(redis: &FakeRedis, connection: &mut ClientConnection, line: &str) -> String {
        let arguments: Vec<&str> = line.split(' ').collect();
        match redis.client_command(connection, &arguments) {
            Ok(reply) => format!("{reply:?}"),
            Err(ClientError::Refused(message)) => message,
            Err(ClientError::Unreachable) => "unreachable".to_owned(),
        }
    }

    fn text(value: &str) -> String {
        format!("{:?}", RedisReply::Text(value.to_owned()))
    }

    #[test]
    fn a_connection_writes_and_counts_in_the_database_it_selected() {
        let redis = fleet(ServerKind::Plain, &["a"]);
        let mut connection = ClientConnection::new("a");
        let mut other = ClientConnection::new("a");
        assert_eq!(
            send(&redis, &mut connection, "SELECT 16"),
            "ERR DB index is out of range"
        );
        assert_eq!(
            send(&redis, &mut connection, "SELECT -1"),
            "ERR DB index is out of range"
        );
        assert_eq!(
            send(&redis, &mut connection, "SELECT one"),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(send(&redis, &mut connection, "SELECT 5"), "Status(\"OK\")");
        assert_eq!(connection.database(), 5);
        send(&redis, &mut connection, "SET key five");
        assert_eq!(send(&redis, &mut connection, "DBSIZE"), "Integer(1)");
        assert_eq!(send(&redis, &mut other, "DBSIZE"), "Integer(0)");
        assert_eq!(send(&redis, &mut other, "GET key"), "Nil");
        assert_eq!(send(&redis, &mut connection, "GET key"), text("five"));
        // The operator's DBSIZE counts database 0.
        assert_eq!(
            redis.answer(&endpoint("a"), &RedisCommand::DatabaseSize),
            Ok(RedisReply::Integer(0))
        );
        send(&redis, &mut other, "SET key zero");
        assert_eq!(send(&redis, &mut other, "FLUSHDB"), "Status(\"OK\")");
        assert_eq!(send(&redis, &mut connection, "DBSIZE"), "Integer(1)");
        assert_eq!(send(&redis, &mut other, "FLUSHALL"), "Status(\"OK\")");
        assert_eq!(send(&redis, &mut connection, "DBSIZE"), "Integer(0)");
    }

    #[test]
    fn hashes_lists_and_sets_answer_as_redis_and_refuse_the_wrong_kind() {
        let redis = fleet(ServerKind::Plain, &["a"]);
        let mut connection = ClientConnection::new("a");
        let mut send = |line: &str| send(&redis, &mut connection, line);
        assert_eq!(send("HSET hash f 1 g 2"), "Integer(2)");
        assert_eq!(send("HSET hash f 3"), "Integer(0)");
        assert_eq!(
            send("HSET hash f"),
            "ERR wrong number of arguments for 'hset' command"
        );
        assert_eq!(send("HGET hash f"), text("3"));
        assert_eq!(send("HGET hash missing"), "Nil");
        assert_eq!(
            send("HGETALL hash"),
            format!(
                "Array([{}, {}, {}, {}])",
                text("f"),
                text("3"),
                text("g"),
                text("2")
            )
        );
        assert_eq!(send("RPUSH list b c"), "Integer(2)");
        assert_eq!(send("LPUSH list a z"), "Integer(4)");
        assert_eq!(
            send("LRANGE list 1 -2"),
            format!("Array([{}, {}])", text("a"), text("b"))
        );
        assert_eq!(send("LRANGE list 5 9"), "Array([])");
        assert_eq!(send("SADD set x y x"), "Integer(2)");
        assert_eq!(
            send("SMEMBERS set"),
            format!("Array([{}, {}])", text("x"), text("y"))
        );
        assert_eq!(send("SET string v"), "Status(\"OK\")");
        for (line, kind) in [
            ("TYPE hash", "hash"),
            ("TYPE list", "list"),
            ("TYPE set", "set"),
            ("TYPE string", "string"),
            ("TYPE missing", "none"),
        ] {
            assert_eq!(send(line), format!("Status(\"{kind}\")"));
        }
        for line in [
            "GET hash",
            "HGET list f",
            "LRANGE set 0 -1",
            "SADD string m",
            "HGETALL string",
        ] {
            assert_eq!(send(line), WRONGTYPE_MESSAGE, "{line}");
        }
        assert_eq!(
            send("GET"),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(send("DBSIZE"), "Integer(4)");
        assert_eq!(send("DEL hash set missing"), "Integer(2)");
        assert_eq!(send("SET string v EX"), "ERR syntax error");
    }

    #[test]
    fn replicas_receive_every_database_and_refuse_writes() {
        let redis = fleet(ServerKind::Plain, &["a", "b"]);
        let mut master = ClientConnection::new("a");
        send(&redis, &mut master, "SELECT 2");
        send(&redis, &mut master, "RPUSH before 1");
        redis
            .answer(
                &endpoint("b"),
                &RedisCommand::ReplicaOf {
                    host: "a".to_owned(),
                    port: 6379,
                },
            )
            .unwrap();
        // A full resync, then the replayed stream, carry database 2.
        for at in 1..=100 {
            redis.tick(at * 100);
        }
        send(&redis, &mut master, "SADD after m");
        redis.tick(10_100);
        let mut replica = ClientConnection::new("b");
        assert_eq!(send(&redis, &mut replica, "SET k v"), READONLY_MESSAGE);
        send(&redis, &mut replica, "SELECT 2");
        assert_eq!(send(&redis, &mut replica, "DBSIZE"), "Integer(2)");
        assert_eq!(send(&redis, &mut replica, "TYPE after"), "Status(\"set\")");
        send(&redis, &mut master, "FLUSHALL");
        redis.tick(10_200);
        assert_eq!(send(&redis, &mut replica, "DBSIZE"), "Integer(0)");
    }

    #[tokio::test]
    async fn cluster_nodes_keep_database_0_and_migrate_refuses_a_busy_key_without_replace() {
        let redis = fleet(ServerKind::Cluster, &["a", "b"]);
        let mut source = ClientConnection::new("a");
        let mut target = ClientConnection::new("b");
        assert_eq!(
            send(&redis, &mut source, "SELECT 1"),
            "ERR SELECT is not allowed in cluster mode"
        );
        assert_eq!(send(&redis, &mut source, "SELECT 0"), "Status(\"OK\")");
        send(&redis, &mut source, "HSET busy f source");
        send(&redis, &mut source, "SADD free m");
        send(&redis, &mut target, "SET busy target");
        let migrate = |replace: bool| RedisCommand::Migrate {
            host: "b".to_owned(),
            port: 6379,
            keys: vec![b"busy".to_vec(), b"free".to_vec()],
            timeout_milliseconds: 1000,
            replace,
        };
        let refused = redis.execute(&endpoint("a"), &migrate(false)).await;
        assert!(
            refused.as_ref().is_err_and(|error| {
                error.to_string().contains(
                "ERR Target instance replied with error: BUSYKEY Target key name already exists."
            )
            }),
            "{refused:?}"
        );
        // The free key moved, the busy one stayed on both sides.
        assert_eq!(send(&redis, &mut source, "TYPE free"), "Status(\"none\")");
        assert_eq!(send(&redis, &mut target, "TYPE free"), "Status(\"set\")");
        assert_eq!(send(&redis, &mut target, "GET busy"), text("target"));
        assert_eq!(
            redis.execute(&endpoint("a"), &migrate(true)).await,
            Ok(RedisReply::Status("OK".to_owned()))
        );
        assert_eq!(send(&redis, &mut target, "HGET busy f"), text("source"));
        assert_eq!(send(&redis, &mut source, "DBSIZE"), "Integer(0)");
        assert_eq!(
            redis.execute(&endpoint("a"), &migrate(true)).await,
            Ok(RedisReply::Status("NOKEY".to_owned()))
        );
    }
}
