//! Prints how many slots a scale-out (3 masters to 4, 5 and 6) and the scale-in back to 3 move
//! with the operator's cluster planner, with `redis-cli --cluster rebalance` on an identical real
//! cluster, and at the fewest possible, as a table and as JSON.
//!
//! `cargo run --example rebalance_comparison [keys]` (5000 keys unless given). Needs redis-server
//! and redis-cli (Debian packages redis-server and redis-tools) and fails when they are missing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring program, not the operator

#[path = "../tests/support/mod.rs"]
mod support;

use support::real_redis::require_binary;
use support::rebalance::{compare, table};

#[tokio::main]
async fn main() {
    require_binary("redis-server");
    require_binary("redis-cli");
    let keys: usize = std::env::args()
        .nth(1)
        .map(|text| text.parse().expect("the argument is a number of keys"))
        .unwrap_or(5000);
    let mut rows = Vec::new();
    for to in [4, 5, 6] {
        let (scale_out, scale_in) = compare(3, to, keys).await;
        eprintln!("{}", table(&[scale_out.clone(), scale_in.clone()]));
        rows.push(scale_out);
        rows.push(scale_in);
    }
    println!("{}", table(&rows));
    println!("{}", serde_json::to_string_pretty(&rows).unwrap());
}
