//! Latency between two servers (the `latency` fault): the replication stream from a master
//! reaches a replica on a slow link that much later, so the replica applies, and reports by its
//! offset, what the master held that long ago — a replica that is linked and behind, as on a
//! congested network. The fleet keeps the recent states of the servers on a slow link while one
//! is set, and nothing otherwise.
//!
//! Only the steady stream of an established link is delayed: a new link's sync, a full resync
//! (its duration is `slow-sync`'s), and the catch-up of a coordinated failover (in which Redis
//! pauses the master's clients until the replica reaches its offset) are not. Gossip and
//! sentinel pings between the two are not delayed either (docs/simulator.md, known limits).

use std::collections::{BTreeMap, VecDeque};

use redis_operator::ports::clock::Milliseconds;

use super::{Dataset, Fleet};

/// What a master had streamed at one moment: enough for a replica of the same history to
/// replay up to it.
#[derive(Clone, Debug)]
pub(super) struct StreamState {
    replication_id: String,
    offset: u64,
    data: Dataset,
}

/// The slow links and the recent states of the servers on them.
#[derive(Debug, Default)]
pub(super) struct ReplicationDelay {
    /// One-way delay of each slow pair of addresses, in milliseconds (keyed in either order).
    delays: BTreeMap<(String, String), Milliseconds>,
    /// The recent states of each server on a slow link, oldest first, with when each was.
    past: BTreeMap<String, VecDeque<(Milliseconds, StreamState)>>,
}

impl ReplicationDelay {
    /// Sets the one-way delay between two addresses; 0 makes the link fast again.
    pub(super) fn set(&mut self, left: &str, right: &str, delay: Milliseconds) {
        let pair = ordered(left, right);
        if delay == 0 {
            self.delays.remove(&pair);
        } else {
            self.delays.insert(pair, delay);
        }
        let slow: Vec<&String> = self
            .delays
            .keys()
            .flat_map(|(left, right)| [left, right])
            .collect();
        self.past.retain(|address, _| slow.contains(&address));
    }

    /// The one-way delay between two addresses; 0 when the link is fast.
    pub(super) fn between(&self, left: &str, right: &str) -> Milliseconds {
        if self.delays.is_empty() {
            return 0;
        }
        self.delays.get(&ordered(left, right)).copied().unwrap_or(0)
    }

    /// What `address` had streamed `delay` before `now`: the latest state recorded no later than
    /// that, or the oldest recorded when the link turned slow less than `delay` ago (what had
    /// arrived by then is all that arrived since).
    fn seen(&self, address: &str, now: Milliseconds, delay: Milliseconds) -> Option<&StreamState> {
        let states = self.past.get(address)?;
        let moment = now.saturating_sub(delay);
        states
            .iter()
            .rev()
            .find(|(at, _)| *at <= moment)
            .or_else(|| states.front())
            .map(|(_, state)| state)
    }
}

fn ordered(left: &str, right: &str) -> (String, String) {
    if left <= right {
        (left.to_owned(), right.to_owned())
    } else {
        (right.to_owned(), left.to_owned())
    }
}

impl Fleet {
    /// Records the state of every server on a slow link, and forgets states older than the
    /// longest delay needs.
    pub(super) fn record_streams(&mut self) {
        let delay = &mut self.replication_delay;
        let Some(longest) = delay.delays.values().max().copied() else {
            return;
        };
        let now = self.now;
        let addresses: Vec<String> = delay
            .delays
            .keys()
            .flat_map(|(left, right)| [left.clone(), right.clone()])
            .collect();
        for address in addresses {
            let Some(server) = self.servers.get(&address) else {
                continue;
            };
            let state = StreamState {
                replication_id: server.replication_id.clone(),
                offset: server.offset,
                data: server.data.clone(),
            };
            let states = delay.past.entry(address).or_default();
            states.push_back((now, state));
            // The newest state at or before `now - longest` is the oldest any replica needs.
            while states
                .get(1)
                .is_some_and(|(at, _)| *at <= now.saturating_sub(longest))
            {
                states.pop_front();
            }
        }
    }

    /// A replication step for the replica at `replica_ip`: over a slow link, it replays what its
    /// master had streamed one delay ago; otherwise, or when the link is not an established
    /// stream of one history, it syncs as [`Fleet::sync_replica`] does.
    pub(super) fn stream_to_replica(&mut self, replica_ip: &str) {
        let Some((master_ip, _)) = self
            .servers
            .get(replica_ip)
            .and_then(|replica| replica.master.clone())
        else {
            return;
        };
        let delay = self.replication_delay.between(replica_ip, &master_ip);
        if delay == 0 || !self.connected(replica_ip, &master_ip) {
            return self.sync_replica(replica_ip);
        }
        let Some(seen) = self
            .replication_delay
            .seen(&master_ip, self.now, delay)
            .cloned()
        else {
            return self.sync_replica(replica_ip);
        };
        let seen_at = self.now.saturating_sub(delay);
        let Some(replica) = self.servers.get_mut(replica_ip) else {
            return;
        };
        let streaming = replica.link_up
            && replica.full_sync.is_none()
            && replica.replication_id == seen.replication_id;
        if !streaming {
            return self.sync_replica(replica_ip);
        }
        if replica.offset >= seen.offset {
            // Nothing newer has arrived yet.
            return;
        }
        let mut data = replica.data.clone();
        if data.follow(&seen.data) {
            // Not a replay of the same history after all: the link resyncs as a fast one would.
            return self.sync_replica(replica_ip);
        }
        replica.data = data;
        replica.offset = seen.offset;
        replica.last_synced_at = Some(seen_at);
    }
}

#[cfg(test)]
mod tests {
    use redis_operator::ports::redis::{RedisCommand, RedisEndpoint};

    use super::super::{FakeRedis, ServerKind};
    use super::*;

    fn endpoint(index: usize) -> RedisEndpoint {
        RedisEndpoint {
            namespace: "default".to_owned(),
            pod: format!("redis-{index}"),
            host: format!("10.0.0.{index}"),
            port: 6379,
            password: None,
            user: None,
            tls: None,
        }
    }

    #[test]
    fn a_replica_on_a_slow_link_stays_linked_and_one_delay_behind_then_catches_up() {
        let redis = FakeRedis::new();
        let (master, replica) = (endpoint(1), endpoint(2));
        for server in [&master, &replica] {
            redis.start(
                &server.pod,
                &server.host,
                6379,
                ServerKind::Plain,
                false,
                false,
            );
        }
        let follow = RedisCommand::ReplicaOf {
            host: master.host.clone(),
            port: 6379,
        };
        assert!(redis.answer(&replica, &follow).is_ok());
        // The first sync is a full resync, which takes a while.
        let mut now = 0;
        while !redis
            .server(&replica.host)
            .is_some_and(|server| server.link_up)
        {
            assert!(now < 60_000, "the replica never linked");
            now += 1_000;
            redis.tick(now);
        }
        redis.set_latency(&master.host, &replica.host, 3_000);
        let offset = |address: &str| redis.server(address).map(|server| server.offset);
        let mut lag = Vec::new();
        for second in 0..6 {
            if second < 2 {
                assert!(redis.client_write(&master.host, &format!("key-{second}"), "value"));
            }
            now += 1_000;
            redis.tick(now);
            let replica_keys = redis.server(&replica.host).map(|server| server.data.len());
            lag.push((offset(&master.host) > offset(&replica.host), replica_keys));
        }
        // The writes of the first two seconds arrive three seconds late.
        assert_eq!(
            lag,
            vec![
                (true, Some(0)),
                (true, Some(0)),
                (true, Some(0)),
                (true, Some(1)),
                (false, Some(2)),
                (false, Some(2)),
            ]
        );
        let server = redis.server(&replica.host).expect("the replica runs");
        assert!(server.link_up, "a slow link is still up");
        redis.set_latency(&master.host, &replica.host, 0);
        assert!(redis.client_write(&master.host, "key-fast", "value"));
        redis.tick(now + 1_000);
        assert_eq!(offset(&master.host), offset(&replica.host));
    }

    #[test]
    fn a_slow_link_is_found_in_either_order_and_forgotten_at_zero() {
        let mut delay = ReplicationDelay::default();
        delay.set("10.0.0.2", "10.0.0.1", 3_000);
        assert_eq!(delay.between("10.0.0.1", "10.0.0.2"), 3_000);
        assert_eq!(delay.between("10.0.0.2", "10.0.0.1"), 3_000);
        assert_eq!(delay.between("10.0.0.1", "10.0.0.3"), 0);
        delay.set("10.0.0.1", "10.0.0.2", 0);
        assert_eq!(delay.between("10.0.0.1", "10.0.0.2"), 0);
    }

    #[test]
    fn a_replica_sees_the_latest_state_one_delay_old_or_the_oldest_kept() {
        let mut delay = ReplicationDelay::default();
        delay.set("master", "replica", 3_000);
        let state = |offset| StreamState {
            replication_id: "history".to_owned(),
            offset,
            data: Dataset::default(),
        };
        let states = delay.past.entry("master".to_owned()).or_default();
        for (at, offset) in [(10_000, 1), (11_000, 2), (12_000, 3), (13_000, 4)] {
            states.push_back((at, state(offset)));
        }
        let offset_seen = |now| delay.seen("master", now, 3_000).map(|state| state.offset);
        assert_eq!(
            offset_seen(12_000),
            Some(1),
            "before the oldest: the oldest"
        );
        assert_eq!(offset_seen(14_000), Some(2));
        assert_eq!(offset_seen(16_500), Some(4));
    }
}
