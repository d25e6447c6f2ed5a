//! Faults the simulator injects between the operator and the fakes: operator crashes between
//! writes and a watch cache that falls behind. Faults of the world itself (pod kills, node
//! crashes, partitions) are switches on the fakes that the engine turns on and off.

pub mod operator_crash;
pub mod stale_reads;
