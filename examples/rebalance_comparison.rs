//! Prints how many slots a scale-out (3 masters to 4, 5 and 6) and the scale-in back to 3 move
//! with the operator's cluster planner, with `redis-cli --cluster rebalance` on an identical real
//! cluster, and at the fewest possible, as a table and as JSON.
//!
//! `cargo run --example rebalance_comparison [keys] [--counts FILE]` (5000 keys unless given).
//! `--counts` also writes redis-cli's move counts in the form `redis-sim bench --redis-cli-counts`
//! reads (`scripts/bench` chains the two). Needs redis-server and redis-cli (Debian packages
//! redis-server and redis-tools) and fails when they are missing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring program, not the operator

#[path = "../tests/support/mod.rs"]
mod support;

use support::real_redis::require_binary;
use support::rebalance::{compare, table};

#[tokio::main]
async fn main() {
    require_binary("redis-server");
    require_binary("redis-cli");
    let mut keys: usize = 5000;
    let mut counts_file: Option<String> = None;
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        if argument == "--counts" {
            counts_file = Some(arguments.next().expect("--counts takes a file name"));
        } else {
            keys = argument.parse().unwrap_or_else(|_| {
                panic!("expected a number of keys or --counts FILE, got {argument}")
            });
        }
    }
    let mut rows = Vec::new();
    for to in [4, 5, 6] {
        let (scale_out, scale_in) = compare(3, to, keys).await;
        eprintln!("{}", table(&[scale_out.clone(), scale_in.clone()]));
        rows.push(scale_out);
        rows.push(scale_in);
    }
    println!("{}", table(&rows));
    println!("{}", serde_json::to_string_pretty(&rows).unwrap());
    if let Some(file) = counts_file {
        let cases: Vec<serde_json::Value> = rows
            .iter()
            .map(|row| {
                serde_json::json!({"from": row.from, "to": row.to, "slots_moved": row.redis_cli_moves})
            })
            .collect();
        let text = serde_json::to_string_pretty(&serde_json::json!({ "cases": cases })).unwrap();
        std::fs::write(&file, text)
            .unwrap_or_else(|error| panic!("failed to write {file}: {error}"));
        eprintln!("wrote redis-cli's move counts to {file}");
    }
}
