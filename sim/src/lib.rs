//! The deterministic fake cluster that runs the operator's reconcile code: a fake API server,
//! Kubernetes' own controllers, fake Redis nodes and a turmoil network between them.
//!
//! It implements the operator's ports and nothing else of the operator; it must never be a
//! dependency of the operator library itself.

pub mod api_server;
pub mod apply;
pub mod bench;
pub mod benchmarks;
pub mod clock;
pub mod crash;
pub mod http_api;
pub mod lagging;
pub mod oracles;
pub mod random;
pub mod redis;
pub mod run;
pub mod scenario;
pub mod scheduler;
pub mod transition;
pub mod world;
