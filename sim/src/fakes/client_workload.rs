//! The client workload: writes keys through a chosen server the way a client of the set would
//! (following the cluster's redirections), remembers every write Redis acknowledged, and reads
//! them back for the lost-writes oracle.
//!
//! It only writes keys and reads them; it never changes the topology.

use redis_operator::ports::clock::{Clock, Milliseconds};
use redis_operator::ports::kube::ObjectRef;

use crate::engine::world::World;

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

impl World {
    /// A client writes `count` keys through `entry` (any node of the set); acknowledged writes are
    /// remembered. Returns how many were acknowledged.
    pub fn write_keys(&self, entry: &str, prefix: &str, count: usize) -> usize {
        self.write_keys_as(None, entry, prefix, count)
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
        self.write_keys_as(Some(owner), entry, prefix, count)
    }

    fn write_keys_as(
        &self,
        owner: Option<&ObjectRef>,
        entry: &str,
        prefix: &str,
        count: usize,
    ) -> usize {
        let mut acknowledged = 0;
        for index in 0..count {
            let key = format!("{prefix}:{index}");
            let value = format!("value-{index}-{}", self.clock.now());
            if self.redis.client_write(entry, &key, &value) {
                self.acknowledged.borrow_mut().insert(
                    key,
                    AcknowledgedWrite {
                        value,
                        at: self.clock.now(),
                        owner: owner.cloned(),
                    },
                );
                acknowledged += 1;
            }
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
