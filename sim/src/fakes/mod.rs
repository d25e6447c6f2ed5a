//! Fakes of everything the operator talks to or depends on: the Kubernetes API server (and an
//! HTTP facade over it for the real process), Kubernetes' controllers, the scheduler, the
//! kubelets and the node lifecycle, and Redis servers and sentinels.
//!
//! Each fake follows the real component's rules for what the operator uses, compared with the
//! real one by the fidelity tests; docs/simulator.md lists where they still differ.

pub mod api_server;
pub mod client_workload;
pub mod disruption_controller;
pub mod garbage_collector;
pub mod http_api;
pub mod kubelet;
pub mod node_lifecycle;
pub mod redis;
pub mod scheduler;
pub mod statefulset_controller;
