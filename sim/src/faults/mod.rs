//! Faults: `clock_skew` (the operator's clock against the world's), `operator_crash` (the operator dies between two writes), `lost_replies` (a write takes
//! effect and its reply is lost) and `stale_reads` (a watch cache that falls behind) sit between
//! the operator and the fakes, in `operator_ports` and the stale-reads wrapper; `scheduled`
//! starts and heals every fault a scenario names, the world's own (pod kills, node crashes and
//! drains, partitions) included.

pub mod clock_skew;
pub mod lost_replies;
pub mod operator_crash;
pub mod operator_ports;
pub mod scheduled;
pub mod stale_reads;
pub mod unsatisfiable_edit;
