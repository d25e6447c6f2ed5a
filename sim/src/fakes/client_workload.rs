//! The client workload: writes keys through a chosen server the way a client of the set would
//! (following the cluster's redirections), remembers every write Redis acknowledged, and reads
//! them back for the lost-writes oracle.
//!
//! It only writes keys and reads them; it never changes the topology.

use redis_operator::api::Kind;
use redis_operator::ports::clock::{Clock, Milliseconds};
use redis_operator::ports::kube::ObjectRef;

use crate::engine::world::World;
use crate::fakes::redis::{Server, ServerKind};
use crate::oracles::servers_of;

/// A write a client made and Redis acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcknowledgedWrite {
    /// The value written.
    pub value: String,
    /// When it was written.
    pub at: Milliseconds,
    /// The CR whose Service the client wrote through, when the write was made for one.
    pub owner: Option<ObjectRef>,
}

/// Whom the lost-writes oracle holds to a client's acknowledged writes.
#[derive(Clone, Copy)]
enum Holder<'owner> {
    /// The CR whose Service the client wrote through.
    Owner(&'owner ObjectRef),
    /// Whichever CR's servers hold the key.
    Anyone,
    /// No one: the writes went to a server no client of the set is sent to.
    Nobody,
}

/// Whether `server` takes a client's writes: a live master holding data (a standalone or
/// replication server, or a cluster master serving slots).
fn takes_client_writes(server: &Server) -> bool {
    server.alive
        && server.master.is_none()
        && match server.kind {
            ServerKind::Plain => true,
            ServerKind::Cluster => !server.slots.is_empty(),
            ServerKind::Sentinel => false,
        }
}

impl World {
    /// Where a client of the CR `reference` sends writes, as an application would: the ready pod
    /// the `-master` Service selects for a replication set (none while it selects no ready pod or
    /// several),
    /// any master serving slots of a cluster (the client follows redirections), the server of a
    /// standalone Redis. Sentinels hold no data.
    pub fn client_entry(&self, kind: Kind, reference: &ObjectRef) -> Option<String> {
        match kind {
            Kind::RedisSentinel => None,
            Kind::RedisReplication => {
                let selected = self.master_service_endpoints(reference);
                let [pod] = selected.as_slice() else {
                    return None;
                };
                self.redis.with_servers(|servers| {
                    servers
                        .values()
                        .find(|server| *server.pod == **pod && server.alive)
                        .map(|server| server.ip.clone())
                })
            }
            Kind::Redis | Kind::RedisCluster => self.redis.with_servers(|servers| {
                servers_of(servers.values(), reference)
                    .into_iter()
                    .find(|server| takes_client_writes(server))
                    .map(|server| server.ip.clone())
            }),
        }
    }

    /// The first server of any CR that takes client writes ([`takes_client_writes`]), whether or
    /// not the operator publishes it.
    pub fn any_writable_master(&self) -> Option<String> {
        self.redis.with_servers(|servers| {
            servers
                .values()
                .find(|server| takes_client_writes(server))
                .map(|server| server.ip.clone())
        })
    }

    /// A client writes `count` keys through `entry` (any node of the set); acknowledged writes are
    /// remembered. Returns how many were acknowledged.
    pub fn write_keys(&self, entry: &str, prefix: &str, count: usize) -> usize {
        self.write_keys_as(Holder::Anyone, entry, prefix, count)
    }

    /// A client writes `count` keys through `entry`, a server the operator does not publish as
    /// the set's master: Redis may acknowledge them, but they are not the set's writes, so they
    /// are not remembered and no oracle holds them. Returns how many were acknowledged.
    pub fn write_unheld_keys(&self, entry: &str, prefix: &str, count: usize) -> usize {
        self.write_keys_as(Holder::Nobody, entry, prefix, count)
    }

    /// A client of the CR `owner` writes `count` keys through `entry`; the lost-writes oracle
    /// holds each acknowledged write against that CR alone.
    pub fn write_keys_for(
        &self,
        owner: &ObjectRef,
        entry: &str,
        prefix: &str,
        count: usize,
    ) -> usize {
        self.write_keys_as(Holder::Owner(owner), entry, prefix, count)
    }

    fn write_keys_as(&self, holder: Holder, entry: &str, prefix: &str, count: usize) -> usize {
        let mut acknowledged = 0;
        for index in 0..count {
            let key = format!("{prefix}:{index}");
            let value = format!("value-{index}-{}", self.clock.now());
            if !self.redis.client_write(entry, &key, &value) {
                continue;
            }
            acknowledged += 1;
            let owner = match holder {
                Holder::Nobody => continue,
                Holder::Anyone => None,
                Holder::Owner(owner) => Some(owner.clone()),
            };
            self.acknowledged.borrow_mut().insert(
                key,
                AcknowledgedWrite {
                    value,
                    at: self.clock.now(),
                    owner,
                },
            );
        }
        acknowledged
    }

    /// Acknowledged keys that can no longer be read with their value through `entry`.
    pub fn lost_keys(&self, entry: &str) -> Vec<String> {
        self.lost_among(entry, self.acknowledged.borrow().iter())
    }

    /// Those of `writes` that can no longer be read with their value through `entry`, read
    /// under one look at the fleet.
    pub fn lost_among<'write>(
        &self,
        entry: &str,
        writes: impl Iterator<Item = (&'write String, &'write AcknowledgedWrite)>,
    ) -> Vec<String> {
        self.redis.with_client_reads(entry, |read| {
            writes
                .filter(|(key, write)| read(key).as_deref() != Some(write.value.as_str()))
                .map(|(key, _)| key.clone())
                .collect()
        })
    }
}
