//! Clock skew: the operator's clock runs ahead of, or behind, the clock of the API server and
//! the kubelets, whose timestamps it reads (a pod's `Ready` condition, a deletion timestamp). A
//! clock the operator's context holds; the fakes keep the simulation's own clock. It does no
//! I/O and moves no time itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use redis_operator::ports::clock::{Clock, Milliseconds};

use crate::engine::clock::SimulatedClock;

/// The simulation's clock as the operator reads it: shifted by a skew a fault sets.
#[derive(Clone, Debug, Default)]
pub struct SkewedClock {
    /// The simulation's clock.
    clock: SimulatedClock,
    /// Milliseconds the operator's clock is ahead (negative: behind).
    skew: Arc<AtomicI64>,
}

impl SkewedClock {
    /// The operator's clock over `clock`, without skew.
    pub fn over(clock: SimulatedClock) -> SkewedClock {
        SkewedClock {
            clock,
            skew: Arc::default(),
        }
    }

    /// Sets the skew: the operator's clock reads `milliseconds` ahead of the world's (behind
    /// when negative); 0 ends the skew.
    pub fn set(&self, milliseconds: i64) {
        self.skew.store(milliseconds, Ordering::SeqCst);
    }
}

impl Clock for SkewedClock {
    fn now(&self) -> Milliseconds {
        self.clock
            .now()
            .saturating_add_signed(self.skew.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_reads_the_world_clock_shifted_by_the_skew_either_way() {
        let world = SimulatedClock::new();
        let operator = SkewedClock::over(world.clone());
        assert_eq!(operator.now(), world.now());
        operator.set(90_000);
        assert_eq!(operator.now(), world.now() + 90_000);
        operator.set(-30_000);
        world.advance(1_000);
        assert_eq!(operator.now(), world.now() - 30_000);
        operator.set(0);
        assert_eq!(operator.now(), world.now());
    }
}
