//! The transition generator: fuzz bytes become a bounded world and a short sequence of events
//! and faults, played against the real reconcile with the oracles checked after every reconcile.

pub mod transition;
