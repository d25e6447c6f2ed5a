//! The `redis-sim` subcommands beyond a single scenario run: `apply` (manifests as a one-step
//! scenario), `explore` (a scenario under many seeds) and `bench` (the benchmark table and the
//! simulator's throughput).

pub mod apply;
pub mod bench;
pub mod explore;
