//! Faults: `operator_crash` (the operator dies between two writes) and `stale_reads` (a watch
//! cache that falls behind) sit between the operator and the fakes; `scheduled` starts and heals
//! every fault a scenario names, the world's own (pod kills, node crashes and drains,
//! partitions) included.

pub mod operator_crash;
pub mod scheduled;
pub mod stale_reads;
