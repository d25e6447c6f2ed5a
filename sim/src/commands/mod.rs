//! The `redis-sim` subcommands that are more than a scenario run: `apply` (manifests as a
//! one-step scenario) and `bench` (the benchmark table and the simulator's throughput).

pub mod apply;
pub mod bench;
