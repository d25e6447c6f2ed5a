//! Redis as the operator uses it: typed administrative commands sent to one server at an address.
//!
//! Commands are data so that the planner can return them as requests, the simulator's fake Redis
//! can interpret them, and the production adapter can translate them to the wire protocol. The
//! operator never runs redis-cli or anything else inside a pod.

use std::fmt;

use async_trait::async_trait;

use crate::api::validation::SecretKey;

/// Where a Redis server (or sentinel) listens, which pod runs it, and how to authenticate.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RedisEndpoint {
    /// Namespace of the pod (and of the password Secret).
    pub namespace: String,
    /// Name of the pod, for messages and for mapping Redis nodes back to pods.
    pub pod: String,
    /// Pod IP address.
    pub host: String,
    /// Client port.
    pub port: u16,
    /// The Secret key holding the password, read by the adapter, never carried as text.
    pub password: Option<SecretKey>,
    /// The ACL user to authenticate as; `None` authenticates as the `default` user.
    pub user: Option<String>,
    /// Where the certificates are when the server speaks TLS; `None` for plain TCP.
    pub tls: Option<TlsSecret>,
}

/// The Secret holding the CA certificate, and the client certificate and key, a client presents
/// to a server that speaks TLS (the CR's `spec.TLS`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TlsSecret {
    /// Name of the Secret, in the endpoint's namespace.
    pub name: String,
    /// Key of the PEM CA certificate the server's certificate must chain to.
    pub ca_key: String,
    /// Key of the PEM certificate presented to the server.
    pub certificate_key: String,
    /// Key of the PEM private key of that certificate.
    pub private_key_key: String,
}

impl fmt::Display for RedisEndpoint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}/{} ({}:{})",
            self.namespace, self.pod, self.host, self.port
        )
    }
}

/// How a replica takes over its master's slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailoverMode {
    /// Coordinated with the master: no write is lost. The only mode used while the master answers.
    Coordinated,
    /// Without the master's agreement; used only when the master is unreachable.
    Force,
    /// Without the master or a majority; used by the operator only for a master whose identity
    /// is provably gone (its address answers under another node id) when no majority of masters
    /// answers to vote.
    Takeover,
}

/// What CLUSTER SETSLOT does to a slot.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SlotState {
    /// The slot is being moved into this node from the node with this id.
    Importing(String),
    /// The slot is being moved out of this node to the node with this id.
    Migrating(String),
    /// The slot belongs to the node with this id.
    Node(String),
    /// Clears importing/migrating state.
    Stable,
}

/// A Redis command the operator may send.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RedisCommand {
    /// PING.
    Ping,
    /// INFO replication.
    InfoReplication,
    /// INFO keyspace.
    InfoKeyspace,
    /// DBSIZE.
    DatabaseSize,
    /// REPLICAOF host port.
    ReplicaOf {
        /// Master address.
        host: String,
        /// Master port.
        port: u16,
    },
    /// REPLICAOF NO ONE.
    ReplicaOfNoOne,
    /// CONFIG SET parameter value (only non-secret parameters; `masterauth` goes through
    /// `ConfigSetSecret`).
    ConfigSet {
        /// Parameter.
        parameter: String,
        /// Value.
        value: String,
    },
    /// CLUSTER MYID.
    ClusterMyId,
    /// CLUSTER NODES.
    ClusterNodes,
    /// CLUSTER INFO.
    ClusterInfo,
    /// CLUSTER SHARDS.
    ClusterShards,
    /// CLUSTER MEET ip port [bus-port].
    ClusterMeet {
        /// Address of a node to join.
        host: String,
        /// Its client port.
        port: u16,
        /// Its cluster bus port.
        bus_port: u16,
    },
    /// CLUSTER ADDSLOTSRANGE start end [start end ...] (inclusive ranges; Redis 7 and later).
    ClusterAddSlotsRange(Vec<(u16, u16)>),
    /// CLUSTER ADDSLOTS slot... (Redis 6).
    ClusterAddSlots(Vec<u16>),
    /// CLUSTER REPLICATE node-id.
    ClusterReplicate(String),
    /// CLUSTER SETSLOT slot IMPORTING|MIGRATING|NODE|STABLE.
    ClusterSetSlot {
        /// The slot.
        slot: u16,
        /// What to set.
        state: SlotState,
    },
    /// CLUSTER COUNTKEYSINSLOT slot.
    ClusterCountKeysInSlot(u16),
    /// CLUSTER GETKEYSINSLOT slot count.
    ClusterGetKeysInSlot {
        /// The slot.
        slot: u16,
        /// At most this many keys.
        count: u32,
    },
    /// MIGRATE host port "" 0 timeout [REPLACE] [AUTH2 ...] KEYS key... (the password, if any,
    /// is added by the adapter from the CR's secret, never stored in the command). The operator
    /// always sends REPLACE: a key is on both sides only when an earlier MIGRATE copied it and
    /// failed before deleting it at the source, where clients kept writing it; without REPLACE
    /// every retry answers BUSYKEY.
    Migrate {
        /// Target address.
        host: String,
        /// Target port.
        port: u16,
        /// Keys to move, as bytes: keys need not be UTF-8.
        keys: Vec<Vec<u8>>,
        /// Timeout in milliseconds.
        timeout_milliseconds: u64,
        /// REPLACE: overwrite a key the target already holds instead of failing with BUSYKEY.
        replace: bool,
    },
    /// CLUSTER FAILOVER [FORCE|TAKEOVER], sent to a replica.
    ClusterFailover(FailoverMode),
    /// CLUSTER FORGET node-id.
    ClusterForget(String),
    /// SENTINEL MASTERS.
    SentinelMasters,
    /// SENTINEL REPLICAS group.
    SentinelReplicas(String),
    /// SENTINEL SENTINELS group.
    SentinelSentinels(String),
    /// SENTINEL GET-MASTER-ADDR-BY-NAME group.
    SentinelMasterAddress(String),
    /// SENTINEL MONITOR group host port quorum.
    SentinelMonitor {
        /// Master group name.
        group: String,
        /// Master address.
        host: String,
        /// Master port.
        port: u16,
        /// Quorum.
        quorum: u32,
    },
    /// SENTINEL REMOVE group.
    SentinelRemove(String),
    /// SENTINEL SET group option value (non-secret options).
    SentinelSet {
        /// Master group name.
        group: String,
        /// Option, e.g. `down-after-milliseconds`.
        option: String,
        /// Value.
        value: String,
    },
    /// SENTINEL SET group auth-pass <password>, with the password read by the adapter from the
    /// Secret the CR names; the command carries only the reference.
    SentinelSetAuthPass {
        /// Master group name.
        group: String,
        /// The Secret key holding the monitored servers' password, in the endpoint's namespace.
        password: SecretKey,
    },
    /// SENTINEL RESET group: forget replicas and sentinels that are gone (never touches data).
    SentinelReset(String),
    /// SENTINEL FAILOVER group: the sentinels promote a replica now (a planned failover of a set
    /// they manage).
    SentinelFailover(String),
    /// FAILOVER TO host port, sent to a master: a coordinated handover to that replica, which
    /// first catches up so no acknowledged write is lost.
    FailoverTo {
        /// The replica to hand over to.
        host: String,
        /// Its port.
        port: u16,
    },
}

impl RedisCommand {
    /// The command's name as Redis knows it, for messages and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            RedisCommand::Ping => "PING",
            RedisCommand::InfoReplication | RedisCommand::InfoKeyspace => "INFO",
            RedisCommand::DatabaseSize => "DBSIZE",
            RedisCommand::ReplicaOf { .. } | RedisCommand::ReplicaOfNoOne => "REPLICAOF",
            RedisCommand::ConfigSet { .. } => "CONFIG SET",
            RedisCommand::ClusterMyId => "CLUSTER MYID",
            RedisCommand::ClusterNodes => "CLUSTER NODES",
            RedisCommand::ClusterInfo => "CLUSTER INFO",
            RedisCommand::ClusterShards => "CLUSTER SHARDS",
            RedisCommand::ClusterMeet { .. } => "CLUSTER MEET",
            RedisCommand::ClusterAddSlotsRange(_) => "CLUSTER ADDSLOTSRANGE",
            RedisCommand::ClusterAddSlots(_) => "CLUSTER ADDSLOTS",
            RedisCommand::ClusterReplicate(_) => "CLUSTER REPLICATE",
            RedisCommand::ClusterSetSlot { .. } => "CLUSTER SETSLOT",
            RedisCommand::ClusterCountKeysInSlot(_) => "CLUSTER COUNTKEYSINSLOT",
            RedisCommand::ClusterGetKeysInSlot { .. } => "CLUSTER GETKEYSINSLOT",
            RedisCommand::Migrate { .. } => "MIGRATE",
            RedisCommand::ClusterFailover(_) => "CLUSTER FAILOVER",
            RedisCommand::ClusterForget(_) => "CLUSTER FORGET",
            RedisCommand::SentinelMasters => "SENTINEL MASTERS",
            RedisCommand::SentinelReplicas(_) => "SENTINEL REPLICAS",
            RedisCommand::SentinelSentinels(_) => "SENTINEL SENTINELS",
            RedisCommand::SentinelMasterAddress(_) => "SENTINEL GET-MASTER-ADDR-BY-NAME",
            RedisCommand::SentinelMonitor { .. } => "SENTINEL MONITOR",
            RedisCommand::SentinelRemove(_) => "SENTINEL REMOVE",
            RedisCommand::SentinelSet { .. } | RedisCommand::SentinelSetAuthPass { .. } => {
                "SENTINEL SET"
            }
            RedisCommand::SentinelReset(_) => "SENTINEL RESET",
            RedisCommand::SentinelFailover(_) => "SENTINEL FAILOVER",
            RedisCommand::FailoverTo { .. } => "FAILOVER",
        }
    }

    /// True for commands that change a server's state.
    pub fn is_write(&self) -> bool {
        !matches!(
            self,
            RedisCommand::Ping
                | RedisCommand::InfoReplication
                | RedisCommand::InfoKeyspace
                | RedisCommand::DatabaseSize
                | RedisCommand::ClusterMyId
                | RedisCommand::ClusterNodes
                | RedisCommand::ClusterInfo
                | RedisCommand::ClusterShards
                | RedisCommand::ClusterCountKeysInSlot(_)
                | RedisCommand::ClusterGetKeysInSlot { .. }
                | RedisCommand::SentinelMasters
                | RedisCommand::SentinelReplicas(_)
                | RedisCommand::SentinelSentinels(_)
                | RedisCommand::SentinelMasterAddress(_)
        )
    }
}

/// A reply in the shape of the Redis protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisReply {
    /// `+OK` and other simple strings.
    Status(String),
    /// A bulk or verbatim string.
    Text(String),
    /// A bulk string that is not UTF-8 (a binary key).
    Bytes(Vec<u8>),
    /// An integer.
    Integer(i64),
    /// An array (or map, flattened to key, value, ...).
    Array(Vec<RedisReply>),
    /// Nil.
    Nil,
}

impl RedisReply {
    /// The reply as text, for replies that are strings.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            RedisReply::Status(text) | RedisReply::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The reply's bytes, for replies that are strings, UTF-8 or not.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            RedisReply::Status(text) | RedisReply::Text(text) => Some(text.as_bytes()),
            RedisReply::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }
}

/// Why a Redis command failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedisError {
    /// The server could not be reached or did not answer in time.
    #[error("failed to reach {endpoint}: {message}")]
    Unreachable {
        /// The server.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// The server answered with an error (e.g. `ERR`, `LOADING`, `MOVED`).
    #[error("failed to run {command} on {endpoint}: {message}")]
    Rejected {
        /// The server.
        endpoint: String,
        /// The command name.
        command: String,
        /// The server's error line.
        message: String,
    },
    /// The password or certificates could not be loaded.
    #[error("failed to authenticate to {endpoint}: {message}")]
    Authentication {
        /// The server.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
}

/// Administrative access to Redis servers and sentinels.
#[async_trait]
pub trait RedisAdmin: Send + Sync {
    /// Sends `command` to the server at `endpoint` and returns its reply.
    async fn execute(
        &self,
        endpoint: &RedisEndpoint,
        command: &RedisCommand,
    ) -> Result<RedisReply, RedisError>;
}
