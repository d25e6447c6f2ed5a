//! Bytes → the parsers of `CLUSTER NODES`, `CLUSTER INFO`, `INFO replication` (as text) and of
//! the sentinel replies (as a decoded protocol reply): never panic, errors say what failed, and
//! accepted replies survive a render and parse round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    redis_operator::topology::replies::checks::check_reply_parsing_is_total(bytes);
});
