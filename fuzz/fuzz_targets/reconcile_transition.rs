//! Bytes → a bounded starting world (a CR of any kind with a valid spec, children and Redis
//! nodes in any state) and a short sequence of events and faults; the real reconcile runs
//! against the simulator and the simulator's oracles are checked after every reconcile.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    redis_operator_sim::fuzz::transition::check_transition(bytes);
});
