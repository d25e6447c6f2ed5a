//! The production [`RedisAdmin`]: each [`RedisCommand`] sent with redis-rs over one multiplexed
//! connection per server, and each reply turned into the port's [`RedisReply`].
//!
//! Passwords and TLS material are read from the Kubernetes Secrets the endpoint names, through the
//! [`KubeApi`] port, and cached for a few seconds so a reconcile that talks to many pods reads each
//! Secret once. They never appear in a log line, an error message or a `Debug` output.
//!
//! The adapter must not retry, wait for topology changes, or interpret replies beyond their wire
//! shape: the parsers in `topology::replies` and the planners do that.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::ByteString;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ClientTlsConfig, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind,
    IntoConnectionInfo, RedisConnectionInfo, TlsCertificates, Value, cmd,
};

use crate::api::validation::SecretKey;
use crate::ports::kube::{KubeApi, ObjectRef, ResourceType};
use crate::ports::redis::{
    FailoverMode, RedisAdmin, RedisCommand, RedisEndpoint, RedisError, RedisReply, SlotState,
    TlsSecret,
};

/// How long opening a connection (TCP, TLS and the AUTH handshake) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a command may wait for its reply.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Added to a MIGRATE's own timeout: the server may use that timeout for each I/O with the
/// target, so the reply can take somewhat longer than the timeout itself.
pub const MIGRATE_TIMEOUT_MARGIN: Duration = Duration::from_secs(5);
/// How long a Secret read from the API is reused before it is read again, so a rotated password
/// is picked up quickly without reading the Secret for every command.
pub const SECRET_CACHE_LIFETIME: Duration = Duration::from_secs(10);

/// What identifies a connection: a server, and the credentials it was opened with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ConnectionKey {
    /// Namespace of the Secrets the credentials come from.
    namespace: String,
    /// Server address.
    host: String,
    /// Server port.
    port: u16,
    /// ACL user.
    user: Option<String>,
    /// Where the password comes from.
    password: Option<SecretKey>,
    /// Where the TLS material comes from.
    tls: Option<TlsSecret>,
}

impl ConnectionKey {
    fn of(endpoint: &RedisEndpoint) -> ConnectionKey {
        ConnectionKey {
            namespace: endpoint.namespace.clone(),
            host: endpoint.host.clone(),
            port: endpoint.port,
            user: endpoint.user.clone(),
            password: endpoint.password.clone(),
            tls: endpoint.tls.clone(),
        }
    }
}

/// The data of a Secret read from the API, with when it was read.
struct CachedSecret {
    /// Values by key, decoded.
    data: Arc<BTreeMap<String, Vec<u8>>>,
    /// When it was read.
    read_at: Instant,
}

/// Administrative access to real Redis servers and sentinels.
pub struct RedisAdapter {
    /// Where Secrets are read from.
    kube: Arc<dyn KubeApi>,
    /// Open connections, reused across calls.
    connections: Mutex<HashMap<ConnectionKey, MultiplexedConnection>>,
    /// Recently read Secrets, by namespace and name.
    secrets: Mutex<HashMap<(String, String), CachedSecret>>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never prints Secret contents; only how many connections are open.
        formatter
            .debug_struct("RedisAdapter")
            .field("connections", &self.connection_count())
            .finish_non_exhaustive()
    }
}

/// A command as it goes on the wire, with the secret it carries (to scrub from errors) and how
/// long its reply may take.
struct WireCommand {
    command: Cmd,
    secret: Option<String>,
    timeout: Duration,
}

impl RedisAdapter {
    /// An adapter that reads Secrets through `kube`.
    pub fn new(kube: Arc<dyn KubeApi>) -> RedisAdapter {
        RedisAdapter {
            kube,
            connections: Mutex::new(HashMap::new()),
            secrets: Mutex::new(HashMap::new()),
        }
    }

    /// How many connections are open.
    pub fn connection_count(&self) -> usize {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Closes the connections to `endpoint`'s server (for instance when its pod went away).
    pub fn forget(&self, endpoint: &RedisEndpoint) {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|key, _| !(key.host == endpoint.host && key.port == endpoint.port));
    }

    /// Keeps only the connections to servers among `live` and closes the others, so connections
    /// to pods that went away (whose addresses may be reused by new pods) do not pile up.
    pub fn retain(&self, live: &[RedisEndpoint]) {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|key, _| {
                live.iter()
                    .any(|endpoint| key.host == endpoint.host && key.port == endpoint.port)
            });
    }

    fn drop_connection(&self, key: &ConnectionKey) {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// The decoded data of Secret `namespace/name`, from the cache when read recently.
    async fn secret_data(
        &self,
        endpoint: &RedisEndpoint,
        name: &str,
    ) -> Result<Arc<BTreeMap<String, Vec<u8>>>, RedisError> {
        let cache_key = (endpoint.namespace.clone(), name.to_owned());
        if let Some(cached) = self
            .secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&cache_key)
            .filter(|cached| cached.read_at.elapsed() < SECRET_CACHE_LIFETIME)
        {
            return Ok(Arc::clone(&cached.data));
        }
        let reference = ObjectRef::new(ResourceType::Secret, &endpoint.namespace, name);
        let authentication = |message: String| RedisError::Authentication {
            endpoint: endpoint.to_string(),
            message,
        };
        let object = self
            .kube
            .get(&reference)
            .await
            .map_err(|error| authentication(format!("failed to read {reference}: {error}")))?
            .ok_or_else(|| authentication(format!("failed to find {reference}")))?;
        let mut data = BTreeMap::new();
        if let Some(entries) = object.get("data").and_then(serde_json::Value::as_object) {
            for (key, value) in entries {
                // The message names the key only: the value is secret.
                let bytes: ByteString = serde_json::from_value(value.clone()).map_err(|_| {
                    authentication(format!(
                        "failed to decode key {key} of {reference}: not base64"
                    ))
                })?;
                data.insert(key.clone(), bytes.0);
            }
        }
        let data = Arc::new(data);
        self.secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                cache_key,
                CachedSecret {
                    data: Arc::clone(&data),
                    read_at: Instant::now(),
                },
            );
        Ok(data)
    }

    /// The value of one key of a Secret.
    async fn secret_value(
        &self,
        endpoint: &RedisEndpoint,
        name: &str,
        key: &str,
    ) -> Result<Vec<u8>, RedisError> {
        let data = self.secret_data(endpoint, name).await?;
        data.get(key)
            .cloned()
            .ok_or_else(|| RedisError::Authentication {
                endpoint: endpoint.to_string(),
                message: format!(
                    "failed to find key {key} in Secret {}/{name}",
                    endpoint.namespace
                ),
            })
    }

    /// The endpoint's password, if it has one.
    async fn password(&self, endpoint: &RedisEndpoint) -> Result<Option<String>, RedisError> {
        match &endpoint.password {
            Some(secret) => self.secret_text(endpoint, secret).await.map(Some),
            None => Ok(None),
        }
    }

    /// A password kept in a Secret of the endpoint's namespace, as text.
    async fn secret_text(
        &self,
        endpoint: &RedisEndpoint,
        secret: &SecretKey,
    ) -> Result<String, RedisError> {
        let bytes = self
            .secret_value(endpoint, &secret.name, &secret.key)
            .await?;
        String::from_utf8(bytes).map_err(|_| RedisError::Authentication {
            endpoint: endpoint.to_string(),
            message: format!(
                "failed to read the password in key {} of Secret {}/{}: not UTF-8",
                secret.key, endpoint.namespace, secret.name
            ),
        })
    }

    /// The certificates a TLS connection to the endpoint presents and trusts.
    async fn certificates(
        &self,
        endpoint: &RedisEndpoint,
        tls: &TlsSecret,
    ) -> Result<TlsCertificates, RedisError> {
        let root_cert = self.secret_value(endpoint, &tls.name, &tls.ca_key).await?;
        let client_cert = self
            .secret_value(endpoint, &tls.name, &tls.certificate_key)
            .await?;
        let client_key = self
            .secret_value(endpoint, &tls.name, &tls.private_key_key)
            .await?;
        Ok(TlsCertificates {
            client_tls: Some(ClientTlsConfig {
                client_cert,
                client_key,
            }),
            root_cert: Some(root_cert),
        })
    }

    /// The client for the endpoint: its address, credentials and TLS settings.
    async fn client(&self, endpoint: &RedisEndpoint) -> Result<Client, RedisError> {
        let mut settings = RedisConnectionInfo::default();
        if let Some(password) = self.password(endpoint).await? {
            settings = settings.set_password(password);
        }
        if let Some(user) = &endpoint.user {
            settings = settings.set_username(user);
        }
        let invalid = |what: &str, error: redis::RedisError| RedisError::Authentication {
            endpoint: endpoint.to_string(),
            message: format!("failed to {what}: {}", describe(&error)),
        };
        match &endpoint.tls {
            None => {
                let info = ConnectionAddr::Tcp(endpoint.host.clone(), endpoint.port)
                    .into_connection_info()
                    .map_err(|error| invalid("build the connection settings", error))?
                    .set_redis_settings(settings);
                Client::open(info).map_err(|error| invalid("build the client", error))
            }
            Some(tls) => {
                let certificates = self.certificates(endpoint, tls).await?;
                let info = ConnectionAddr::TcpTls {
                    host: endpoint.host.clone(),
                    port: endpoint.port,
                    insecure: false,
                    tls_params: None,
                }
                .into_connection_info()
                .map_err(|error| invalid("build the connection settings", error))?
                .set_redis_settings(settings);
                let client = Client::build_with_tls(info, certificates)
                    .map_err(|error| invalid("load the certificates of the TLS Secret", error))?;
                // The server's certificate must chain to the CR's CA, but its names are not
                // compared with the address: pods are reached by IP, and their certificates
                // usually name the Services' DNS names instead.
                let info: ConnectionInfo = client.get_connection_info().clone();
                let mut address = info.addr().clone();
                address.set_danger_accept_invalid_hostnames(true);
                Client::open(info.set_addr(address))
                    .map_err(|error| invalid("build the TLS client", error))
            }
        }
    }

    /// The open connection to the endpoint, or a new one.
    async fn connection(
        &self,
        endpoint: &RedisEndpoint,
        key: &ConnectionKey,
    ) -> Result<MultiplexedConnection, RedisError> {
        if let Some(connection) = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            return Ok(connection.clone());
        }
        let client = self.client(endpoint).await?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            // Each command is bounded by its own timeout below (MIGRATE may need longer than
            // others), so the connection itself imposes none.
            .set_response_timeout(None);
        // The handshake (AUTH, CLIENT SETINFO) runs after the TCP connect; bound the whole.
        let connection = tokio::time::timeout(
            CONNECT_TIMEOUT.saturating_add(RESPONSE_TIMEOUT),
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| RedisError::Unreachable {
            endpoint: endpoint.to_string(),
            message: format!(
                "failed to connect within {} ms",
                CONNECT_TIMEOUT.saturating_add(RESPONSE_TIMEOUT).as_millis()
            ),
        })?
        .map_err(|error| connect_error(endpoint, &error))?;
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone(), connection.clone());
        Ok(connection)
    }

    /// The wire form of `command`, with the secrets it needs read from their Secrets.
    async fn wire_command(
        &self,
        endpoint: &RedisEndpoint,
        command: &RedisCommand,
    ) -> Result<WireCommand, RedisError> {
        let mut secret = None;
        let mut timeout = RESPONSE_TIMEOUT;
        let wire = match command {
            RedisCommand::Ping => cmd("PING"),
            RedisCommand::InfoReplication => words(&["INFO", "replication"]),
            RedisCommand::InfoKeyspace => words(&["INFO", "keyspace"]),
            RedisCommand::DatabaseSize => cmd("DBSIZE"),
            RedisCommand::ReplicaOf { host, port } => {
                let mut wire = cmd("REPLICAOF");
                wire.arg(host).arg(*port);
                wire
            }
            RedisCommand::ReplicaOfNoOne => words(&["REPLICAOF", "NO", "ONE"]),
            RedisCommand::ConfigSet { parameter, value } => {
                let mut wire = words(&["CONFIG", "SET"]);
                wire.arg(parameter).arg(value);
                wire
            }
            RedisCommand::ClusterMyId => words(&["CLUSTER", "MYID"]),
            RedisCommand::ClusterNodes => words(&["CLUSTER", "NODES"]),
            RedisCommand::ClusterInfo => words(&["CLUSTER", "INFO"]),
            RedisCommand::ClusterShards => words(&["CLUSTER", "SHARDS"]),
            RedisCommand::ClusterMeet {
                host,
                port,
                bus_port,
            } => {
                let mut wire = words(&["CLUSTER", "MEET"]);
                wire.arg(host).arg(*port).arg(*bus_port);
                wire
            }
            RedisCommand::ClusterAddSlotsRange(ranges) => {
                let mut wire = words(&["CLUSTER", "ADDSLOTSRANGE"]);
                for (start, end) in ranges {
                    wire.arg(*start).arg(*end);
                }
                wire
            }
            RedisCommand::ClusterAddSlots(slots) => {
                let mut wire = words(&["CLUSTER", "ADDSLOTS"]);
                for slot in slots {
                    wire.arg(*slot);
                }
                wire
            }
            RedisCommand::ClusterReplicate(node) => {
                let mut wire = words(&["CLUSTER", "REPLICATE"]);
                wire.arg(node);
                wire
            }
            RedisCommand::ClusterSetSlot { slot, state } => {
                let mut wire = words(&["CLUSTER", "SETSLOT"]);
                wire.arg(*slot);
                match state {
                    SlotState::Importing(node) => wire.arg("IMPORTING").arg(node),
                    SlotState::Migrating(node) => wire.arg("MIGRATING").arg(node),
                    SlotState::Node(node) => wire.arg("NODE").arg(node),
                    SlotState::Stable => wire.arg("STABLE"),
                };
                wire
            }
            RedisCommand::ClusterCountKeysInSlot(slot) => {
                let mut wire = words(&["CLUSTER", "COUNTKEYSINSLOT"]);
                wire.arg(*slot);
                wire
            }
            RedisCommand::ClusterGetKeysInSlot { slot, count } => {
                let mut wire = words(&["CLUSTER", "GETKEYSINSLOT"]);
                wire.arg(*slot).arg(*count);
                wire
            }
            RedisCommand::Migrate {
                host,
                port,
                keys,
                timeout_milliseconds,
                replace,
            } => {
                let mut wire = cmd("MIGRATE");
                wire.arg(host)
                    .arg(*port)
                    .arg("")
                    .arg(0)
                    .arg(*timeout_milliseconds);
                if *replace {
                    wire.arg("REPLACE");
                }
                // The target belongs to the same resource: same user, same password.
                if let Some(password) = self.password(endpoint).await? {
                    match &endpoint.user {
                        Some(user) => wire.arg("AUTH2").arg(user).arg(&password),
                        None => wire.arg("AUTH").arg(&password),
                    };
                    secret = Some(password);
                }
                wire.arg("KEYS");
                for key in keys {
                    wire.arg(key);
                }
                timeout = Duration::from_millis(*timeout_milliseconds)
                    .saturating_add(MIGRATE_TIMEOUT_MARGIN);
                wire
            }
            RedisCommand::ClusterFailover(mode) => {
                let mut wire = words(&["CLUSTER", "FAILOVER"]);
                match mode {
                    FailoverMode::Coordinated => {}
                    FailoverMode::Force => {
                        wire.arg("FORCE");
                    }
                    FailoverMode::Takeover => {
                        wire.arg("TAKEOVER");
                    }
                }
                wire
            }
            RedisCommand::ClusterForget(node) => {
                let mut wire = words(&["CLUSTER", "FORGET"]);
                wire.arg(node);
                wire
            }
            RedisCommand::SentinelMasters => words(&["SENTINEL", "MASTERS"]),
            RedisCommand::SentinelReplicas(group) => sentinel("REPLICAS", group),
            RedisCommand::SentinelSentinels(group) => sentinel("SENTINELS", group),
            RedisCommand::SentinelMasterAddress(group) => {
                sentinel("GET-MASTER-ADDR-BY-NAME", group)
            }
            RedisCommand::SentinelMonitor {
                group,
                host,
                port,
                quorum,
            } => {
                let mut wire = sentinel("MONITOR", group);
                wire.arg(host).arg(*port).arg(*quorum);
                wire
            }
            RedisCommand::SentinelRemove(group) => sentinel("REMOVE", group),
            RedisCommand::SentinelSet {
                group,
                option,
                value,
            } => {
                let mut wire = sentinel("SET", group);
                wire.arg(option).arg(value);
                wire
            }
            RedisCommand::SentinelSetAuthPass { group, password } => {
                let password = self.secret_text(endpoint, password).await?;
                let mut wire = sentinel("SET", group);
                if let Some(user) = &endpoint.user {
                    wire.arg("auth-user").arg(user);
                }
                wire.arg("auth-pass").arg(&password);
                secret = Some(password);
                wire
            }
            RedisCommand::SentinelReset(group) => sentinel("RESET", group),
            RedisCommand::SentinelFailover(group) => sentinel("FAILOVER", group),
            RedisCommand::FailoverTo { host, port } => {
                let mut wire = words(&["FAILOVER", "TO"]);
                wire.arg(host).arg(*port);
                wire
            }
        };
        Ok(WireCommand {
            command: wire,
            secret,
            timeout,
        })
    }
}

/// A command made of fixed words.
fn words(words: &[&str]) -> Cmd {
    let mut wire = Cmd::new();
    for word in words {
        wire.arg(*word);
    }
    wire
}

/// `SENTINEL <subcommand> <group>`.
fn sentinel(subcommand: &str, group: &str) -> Cmd {
    let mut wire = words(&["SENTINEL", subcommand]);
    wire.arg(group);
    wire
}

/// The error's text: the server's error line (`CODE detail`) for server errors, the library's
/// description otherwise.
fn describe(error: &redis::RedisError) -> String {
    match (error.code(), error.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_owned(),
        _ => error.to_string(),
    }
}

/// Whether the error means the connection can no longer be trusted.
fn is_connection_error(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_unrecoverable_error()
        || matches!(error.kind(), ErrorKind::Io | ErrorKind::Client)
}

/// Whether the error is the server refusing the credentials.
fn is_authentication_error(error: &redis::RedisError) -> bool {
    error.kind() == ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("WRONGPASS" | "NOAUTH"))
}

/// The port's error for a failure to open a connection.
fn connect_error(endpoint: &RedisEndpoint, error: &redis::RedisError) -> RedisError {
    if is_authentication_error(error) {
        RedisError::Authentication {
            endpoint: endpoint.to_string(),
            message: format!("failed to authenticate: {}", describe(error)),
        }
    } else if error.kind() == ErrorKind::InvalidClientConfig {
        RedisError::Authentication {
            endpoint: endpoint.to_string(),
            message: format!("failed to set up TLS: {}", describe(error)),
        }
    } else {
        RedisError::Unreachable {
            endpoint: endpoint.to_string(),
            message: format!("failed to connect: {}", describe(error)),
        }
    }
}

/// Removes `secret` from `text`, in case a server echoes an argument in its error line.
fn scrub(text: String, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if !secret.is_empty() && text.contains(secret) => {
            text.replace(secret, "<redacted>")
        }
        _ => text,
    }
}

/// Turns a redis-rs value into the port's reply; maps flatten to key, value, ...
fn to_reply(value: Value) -> Result<RedisReply, String> {
    Ok(match value {
        Value::Nil => RedisReply::Nil,
        Value::Int(number) => RedisReply::Integer(number),
        Value::BulkString(bytes) => match String::from_utf8(bytes) {
            Ok(text) => RedisReply::Text(text),
            Err(error) => RedisReply::Bytes(error.into_bytes()),
        },
        Value::Array(items) | Value::Set(items) | Value::Push { data: items, .. } => {
            RedisReply::Array(items.into_iter().map(to_reply).collect::<Result<_, _>>()?)
        }
        Value::SimpleString(text) => RedisReply::Status(text),
        Value::Okay => RedisReply::Status("OK".to_owned()),
        Value::Map(pairs) => {
            let mut items = Vec::with_capacity(pairs.len().saturating_mul(2));
            for (key, value) in pairs {
                items.push(to_reply(key)?);
                items.push(to_reply(value)?);
            }
            RedisReply::Array(items)
        }
        Value::Attribute { data, .. } => to_reply(*data)?,
        Value::Double(number) => RedisReply::Text(number.to_string()),
        Value::Boolean(truth) => RedisReply::Integer(i64::from(truth)),
        Value::VerbatimString { text, .. } => RedisReply::Text(text),
        Value::BigNumber(digits) => RedisReply::Text(String::from_utf8_lossy(&digits).into_owned()),
        Value::ServerError(error) => {
            return Err(match error.details() {
                Some(detail) => format!("{} {detail}", error.code()),
                None => error.code().to_owned(),
            });
        }
        // A reply shape added by a later redis-rs: reported rather than guessed at.
        other => {
            return Err(format!(
                "failed to read a reply of an unknown shape: {other:?}"
            ));
        }
    })
}

#[async_trait]
impl RedisAdmin for RedisAdapter {
    async fn execute(
        &self,
        endpoint: &RedisEndpoint,
        command: &RedisCommand,
    ) -> Result<RedisReply, RedisError> {
        let key = ConnectionKey::of(endpoint);
        let wire = self.wire_command(endpoint, command).await?;
        let mut connection = self.connection(endpoint, &key).await?;
        let name = command.name();
        let outcome = tokio::time::timeout(
            wire.timeout,
            wire.command.query_async::<Value>(&mut connection),
        )
        .await;
        let secret = wire.secret.as_deref();
        match outcome {
            Err(_) => {
                self.drop_connection(&key);
                Err(RedisError::Unreachable {
                    endpoint: endpoint.to_string(),
                    message: format!(
                        "failed to get a reply to {name} within {} ms",
                        wire.timeout.as_millis()
                    ),
                })
            }
            Ok(Err(error)) if is_authentication_error(&error) => {
                self.drop_connection(&key);
                Err(RedisError::Authentication {
                    endpoint: endpoint.to_string(),
                    message: scrub(
                        format!("failed to run {name}: {}", describe(&error)),
                        secret,
                    ),
                })
            }
            Ok(Err(error)) if is_connection_error(&error) => {
                self.drop_connection(&key);
                Err(RedisError::Unreachable {
                    endpoint: endpoint.to_string(),
                    message: scrub(
                        format!("failed to run {name}: {}", describe(&error)),
                        secret,
                    ),
                })
            }
            Ok(Err(error)) => Err(RedisError::Rejected {
                endpoint: endpoint.to_string(),
                command: name.to_owned(),
                message: scrub(describe(&error), secret),
            }),
            Ok(Ok(value)) => to_reply(value).map_err(|message| RedisError::Rejected {
                endpoint: endpoint.to_string(),
                command: name.to_owned(),
                message: scrub(message, secret),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_flatten_to_key_value_arrays() {
        let value = Value::Map(vec![(
            Value::SimpleString("name".to_owned()),
            Value::BulkString(b"shop".to_vec()),
        )]);
        assert_eq!(
            to_reply(value),
            Ok(RedisReply::Array(vec![
                RedisReply::Status("name".to_owned()),
                RedisReply::Text("shop".to_owned()),
            ]))
        );
    }

    #[test]
    fn scalar_values_keep_their_shape() {
        assert_eq!(
            to_reply(Value::Okay),
            Ok(RedisReply::Status("OK".to_owned()))
        );
        assert_eq!(to_reply(Value::Nil), Ok(RedisReply::Nil));
        assert_eq!(to_reply(Value::Int(-3)), Ok(RedisReply::Integer(-3)));
        assert_eq!(to_reply(Value::Boolean(true)), Ok(RedisReply::Integer(1)));
    }

    #[test]
    fn a_bulk_string_that_is_not_utf8_keeps_its_bytes() {
        let key = vec![b'k', 0xff, 0xfe];
        assert_eq!(
            to_reply(Value::BulkString(key.clone())),
            Ok(RedisReply::Bytes(key.clone()))
        );
        assert_eq!(
            RedisReply::Bytes(key.clone()).as_bytes(),
            Some(key.as_slice())
        );
        assert_eq!(RedisReply::Bytes(key).as_text(), None);
    }

    #[test]
    fn secrets_are_scrubbed_from_messages() {
        assert_eq!(
            scrub("ERR bad s3cret here".to_owned(), Some("s3cret")),
            "ERR bad <redacted> here"
        );
        assert_eq!(scrub("ERR plain".to_owned(), Some("")), "ERR plain");
        assert_eq!(scrub("ERR plain".to_owned(), None), "ERR plain");
    }
}
