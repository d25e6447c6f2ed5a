//! Bytes → YAML/JSON documents → offline validation: never panics, every rejection names a field.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    redis_operator::api::document::check_reading_is_total(bytes);
});
