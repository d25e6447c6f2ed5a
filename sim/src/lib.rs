//! The deterministic fake cluster that runs the operator's reconcile code: a fake API server,
//! Kubernetes' own controllers, fake Redis servers and sentinels, faults, and the oracles that
//! judge each run. Every part is deterministic: the same inputs and seed give the same run.
//!
//! The parts, one folder each:
//! - `engine` — simulated time and randomness, the world that holds the fakes, the simulated
//!   operator controller loop, the scenario format and the engine that plays a scenario;
//! - `fakes` — the API server and its HTTP facade, Kubernetes' controllers, the scheduler,
//!   the kubelets, the node lifecycle, Redis and the client workload;
//! - `faults` — what can go wrong, and how each fault starts and heals;
//! - `oracles` — the properties a run must keep, one family of checks per file;
//! - `fuzz` — the transition generator behind the `reconcile_transition` fuzz target;
//! - `commands` — the `redis-sim` subcommands: apply, explore, bench.
//!
//! It implements the operator's ports and nothing else of the operator; it must never be a
//! dependency of the operator library itself.

pub mod commands;
pub mod engine;
pub mod fakes;
pub mod faults;
pub mod fuzz;
pub mod oracles;
