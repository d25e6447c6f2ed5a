//! Lost replies: the next writes of the operator take effect, and the reply to each is lost on
//! its way back (a timeout or a connection reset after the server acted). The operator cannot
//! tell from the error whether the write happened; what it does next must be right either way
//! (a command sent again after it took effect, a state read back that it did not expect). A
//! switch the ports consult (`operator_ports`); it does no I/O itself.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use redis_operator::adapters::redis::RESPONSE_TIMEOUT;
use redis_operator::ports::clock::Milliseconds;

/// Which of the operator's writes a lost reply may hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyChannel {
    /// Commands to Redis servers and sentinels.
    Redis,
    /// Writes to the API server (apply, status, delete, eviction, finalizer removal).
    Api,
    /// Either: the next write of any kind.
    Any,
}

impl ReplyChannel {
    /// Every channel.
    pub const ALL: [ReplyChannel; 3] = [ReplyChannel::Redis, ReplyChannel::Api, ReplyChannel::Any];

    /// The scenario name: `redis`, `api` or `any`.
    pub fn name(self) -> &'static str {
        match self {
            ReplyChannel::Redis => "redis",
            ReplyChannel::Api => "api",
            ReplyChannel::Any => "any",
        }
    }

    /// The channel a scenario names, `None` for an unknown name.
    pub fn named(name: &str) -> Option<ReplyChannel> {
        ReplyChannel::ALL
            .into_iter()
            .find(|channel| channel.name() == name)
    }
}

#[derive(Debug, Default)]
struct Armed {
    redis: usize,
    api: usize,
    any: usize,
    /// Addresses whose round trip from the operator outlasts its reply timeout (the `latency`
    /// fault): every command to them times out, after taking effect when it writes.
    too_slow: BTreeSet<String>,
    /// The writes whose replies were lost and not yet reported, as timeline lines.
    lost: Vec<String>,
}

/// How many more replies are lost, by channel, and which were.
#[derive(Clone, Debug, Default)]
pub struct LostReplies {
    armed: Arc<Mutex<Armed>>,
}

impl LostReplies {
    fn lock(&self) -> MutexGuard<'_, Armed> {
        self.armed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Loses the replies of the next `count` writes through `channel` (more, when already armed).
    pub fn arm(&self, channel: ReplyChannel, count: usize) {
        let mut armed = self.lock();
        let slot = match channel {
            ReplyChannel::Redis => &mut armed.redis,
            ReplyChannel::Api => &mut armed.api,
            ReplyChannel::Any => &mut armed.any,
        };
        *slot = slot.saturating_add(count);
    }

    /// Loses no more replies.
    pub fn disarm(&self) {
        let mut armed = self.lock();
        armed.redis = 0;
        armed.api = 0;
        armed.any = 0;
    }

    /// Whether the reply to a write through `channel` (`Redis` or `Api`) that took effect is
    /// lost; records `what` it was when so.
    pub(crate) fn lose(&self, channel: ReplyChannel, what: impl FnOnce() -> String) -> bool {
        let mut armed = self.lock();
        let slot = match channel {
            ReplyChannel::Redis if armed.redis > 0 => &mut armed.redis,
            ReplyChannel::Api if armed.api > 0 => &mut armed.api,
            _ if armed.any > 0 => &mut armed.any,
            _ => return false,
        };
        *slot -= 1;
        armed.lost.push(format!(
            "lost-reply: {} took effect and its reply was lost",
            what()
        ));
        true
    }

    /// Sets the one-way latency between the operator and `address` (0 ends it); returns whether
    /// replies from there now time out. Only a round trip at or past the adapter's reply timeout
    /// shows in the step simulator, where a reconcile's calls take no time.
    pub fn set_operator_latency(&self, address: &str, one_way: Milliseconds) -> bool {
        let times_out = u128::from(one_way.saturating_mul(2)) >= RESPONSE_TIMEOUT.as_millis();
        let mut armed = self.lock();
        if times_out {
            armed.too_slow.insert(address.to_owned());
        } else {
            armed.too_slow.remove(address);
        }
        times_out
    }

    /// Whether replies from `address` arrive after the operator's timeout; records `what` a
    /// write was when its reply is lost so (`what` is `None` for a read, which takes no effect).
    pub(crate) fn times_out(&self, address: &str, what: Option<&dyn Fn() -> String>) -> bool {
        let mut armed = self.lock();
        if armed.too_slow.is_empty() || !armed.too_slow.contains(address) {
            return false;
        }
        if let Some(what) = what {
            armed.lost.push(format!(
                "latency: {} took effect and its reply came after the timeout",
                what()
            ));
        }
        true
    }

    /// The writes whose replies were lost since the last call, in order, each as a line for a
    /// timeline ("lost-reply: … took effect and its reply was lost").
    pub fn take_lost(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_armed_reply_is_lost_once_on_its_channel_or_any() {
        let lost = LostReplies::default();
        assert!(!lost.lose(ReplyChannel::Redis, || "unarmed".to_owned()));
        lost.arm(ReplyChannel::Api, 1);
        lost.arm(ReplyChannel::Any, 1);
        assert!(lost.lose(ReplyChannel::Api, || "apply a".to_owned()));
        assert!(lost.lose(ReplyChannel::Redis, || "SET on b".to_owned()));
        assert!(!lost.lose(ReplyChannel::Api, || "apply c".to_owned()));
        assert_eq!(
            lost.take_lost(),
            vec![
                "lost-reply: apply a took effect and its reply was lost",
                "lost-reply: SET on b took effect and its reply was lost"
            ]
        );
        assert!(lost.take_lost().is_empty());
        lost.arm(ReplyChannel::Redis, 5);
        lost.disarm();
        assert!(!lost.lose(ReplyChannel::Redis, || "disarmed".to_owned()));
    }

    #[test]
    fn every_reply_from_a_too_distant_address_times_out_until_it_is_cleared() {
        let lost = LostReplies::default();
        assert!(!lost.times_out("10.0.0.1", None));
        assert!(
            !lost.set_operator_latency("10.0.0.1", 2_000),
            "a 4 s round trip is in time"
        );
        assert!(!lost.times_out("10.0.0.1", None));
        assert!(lost.set_operator_latency("10.0.0.1", 3_000));
        assert!(lost.times_out("10.0.0.1", None));
        assert!(!lost.times_out("10.0.0.2", None));
        assert!(lost.times_out("10.0.0.1", Some(&|| "SET on redis-0".to_owned())));
        assert_eq!(
            lost.take_lost(),
            vec!["latency: SET on redis-0 took effect and its reply came after the timeout"]
        );
        assert!(!lost.set_operator_latency("10.0.0.1", 0));
        assert!(!lost.times_out("10.0.0.1", None));
    }
}
