//! Operator crashes between any two writes: a switch that lets a given number of writes through
//! and then fails every write until disarmed, as if the operator process died there and
//! restarted with nothing but what it wrote. The ports consult it (`operator_ports`); it does
//! no I/O itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use redis_operator::ports::kube::{ApiError, ObjectRef};
use redis_operator::ports::redis::RedisError;

/// Writes left before the crash; `usize::MAX` when disarmed.
#[derive(Clone, Debug)]
pub struct CrashSwitch {
    remaining: Arc<AtomicUsize>,
    crashes: Arc<AtomicUsize>,
}

impl Default for CrashSwitch {
    fn default() -> Self {
        CrashSwitch {
            remaining: Arc::new(AtomicUsize::new(usize::MAX)),
            crashes: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl CrashSwitch {
    /// Lets `writes` more writes through, then crashes.
    pub fn arm(&self, writes: usize) {
        self.remaining.store(writes, Ordering::SeqCst);
    }

    /// No more crashes.
    pub fn disarm(&self) {
        self.remaining.store(usize::MAX, Ordering::SeqCst);
    }

    /// How many writes were refused because of a crash.
    pub fn crashes(&self) -> usize {
        self.crashes.load(Ordering::SeqCst)
    }

    /// True when this write may go through.
    pub(crate) fn admit(&self) -> bool {
        let remaining = self.remaining.load(Ordering::SeqCst);
        if remaining == usize::MAX {
            return true;
        }
        if remaining == 0 {
            self.crashes.fetch_add(1, Ordering::SeqCst);
            return false;
        }
        self.remaining.store(remaining - 1, Ordering::SeqCst);
        true
    }
}

/// What a write the crash stopped returns to the operator (which never sees it: it restarts).
pub(crate) fn crashed(object: &ObjectRef, action: &str) -> ApiError {
    ApiError::Transient {
        object: object.to_string(),
        action: action.to_owned(),
        message: "the operator crashed here".to_owned(),
    }
}

/// The same for a Redis command.
pub(crate) fn crashed_command(endpoint: &str) -> RedisError {
    RedisError::Unreachable {
        endpoint: endpoint.to_owned(),
        message: "the operator crashed here".to_owned(),
    }
}
