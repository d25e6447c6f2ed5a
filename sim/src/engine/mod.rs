//! The engine of the simulation: simulated time and the seeded generator, the world that holds
//! every fake, the scenario format, and the engine that plays a scenario round by round.
//!
//! It decides when things happen; what happens is the fakes' and the faults' job, and what is
//! allowed to happen is the oracles'.

pub mod clock;
pub mod controller;
pub mod random;
pub mod run;
pub mod scenario;
pub mod timeline;
pub mod world;
