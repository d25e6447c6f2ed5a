//! The controller process: watches, leader election, metrics and health endpoints around the
//! reconcile driver.
//!
//! Everything here is wiring. It decides when a CR is reconciled and what happens after a failure
//! (backoff), never what a reconcile does: that is the driver's, over the ports.

pub mod caches;
pub mod controller;
pub mod health;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod options;
pub mod process;

pub use options::RunOptions;
pub use process::{ProcessError, run};
