//! Simulated time: a clock that moves only when the simulation moves it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redis_operator::ports::clock::{Clock, Milliseconds};

/// The simulation's clock, shared by every fake.
#[derive(Clone, Debug, Default)]
pub struct SimulatedClock {
    now: Arc<AtomicU64>,
}

/// 2026-01-01T00:00:00Z, where every simulation starts.
pub const SIMULATION_EPOCH: Milliseconds = 1_767_225_600_000;

impl SimulatedClock {
    /// A clock at the simulation epoch.
    pub fn new() -> SimulatedClock {
        SimulatedClock {
            now: Arc::new(AtomicU64::new(SIMULATION_EPOCH)),
        }
    }

    /// Moves time forward.
    pub fn advance(&self, milliseconds: Milliseconds) {
        self.now.fetch_add(milliseconds, Ordering::SeqCst);
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> Milliseconds {
        self.now.load(Ordering::SeqCst)
    }
}
