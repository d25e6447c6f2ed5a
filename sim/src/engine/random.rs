//! The simulator's only source of randomness: a seeded SplitMix64 generator. Every choice a run
//! makes at random (start latencies, fault targets, timings) draws from it in a fixed order, so a
//! seed replays a run exactly. Never seeded from the clock or the operating system.

use std::cell::Cell;

/// A seeded pseudo-random generator (SplitMix64); cheap, deterministic, not for cryptography.
#[derive(Clone, Debug, Default)]
pub struct SeededRandom {
    state: Cell<u64>,
}

impl SeededRandom {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> SeededRandom {
        SeededRandom {
            state: Cell::new(seed),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        let state = self.state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        self.state.set(state);
        let mut mixed = state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// A number in `0..bound` (0 when `bound` is 0).
    pub fn next_below(&self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        self.next_u64() % bound
    }

    /// An index into a collection of `length` elements, or `None` when it is empty.
    pub fn pick(&self, length: usize) -> Option<usize> {
        let bound = u64::try_from(length).ok().filter(|bound| *bound > 0)?;
        usize::try_from(self.next_below(bound)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let first = SeededRandom::new(42);
        let second = SeededRandom::new(42);
        let a: Vec<u64> = (0..8).map(|_| first.next_u64()).collect();
        let b: Vec<u64> = (0..8).map(|_| second.next_u64()).collect();
        assert_eq!(a, b);
        assert_ne!(
            a,
            (0..8)
                .map(|_| SeededRandom::new(43).next_u64())
                .collect::<Vec<_>>()
        );
        assert!((0..1000).all(|_| first.next_below(7) < 7));
        assert_eq!(first.pick(0), None);
    }
}
