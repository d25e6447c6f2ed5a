//! The benchmark table's code on tiny inputs: every row is measured, and the figures that are
//! facts of the design rather than of the machine hold — slots move exactly the minimum, a
//! converged CR costs no API write, the reference model is what the table prints beside ours.
//! No wall-clock figure is checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use redis_operator_sim::commands::bench::reference::{ReferenceOperation, reference_time_to_ready};
use redis_operator_sim::commands::bench::{
    BenchmarkOptions, default_latency, measure, read_redis_cli_counts,
};

fn tiny_options() -> BenchmarkOptions {
    BenchmarkOptions {
        seed: 1,
        settings: default_latency(),
        cluster_shards: (3, 4),
        steady_reconciles: 2,
        planner_shards: vec![3, 5],
        planner_cpu_seconds: 0.0,
        slot_cases: vec![(3, 4), (4, 3)],
        redis_cli_counts: BTreeMap::from([((3, 4), 4096)]),
        throughput: None,
    }
}

#[test]
fn the_table_measures_every_row_and_its_design_figures_hold() {
    let table = measure(&tiny_options(), None);

    let operations: Vec<&str> = table
        .ready
        .iter()
        .map(|row| row.operation.as_str())
        .collect();
    assert_eq!(
        operations,
        [
            "RedisCluster 3x1 created",
            "scale-out 3->4",
            "scale-in 4->3",
            "RedisReplication 3 created",
            "RedisSentinel 3 over it created"
        ]
    );
    for row in &table.ready {
        assert!(row.ours.is_ok(), "{}: {:?}", row.operation, row.ours);
    }
    let pod_start = default_latency().maximum_start_latency_milliseconds;
    assert_eq!(
        table.ready[1].reference,
        reference_time_to_ready(
            ReferenceOperation::ClusterScaleOut { from: 3, to: 4 },
            pod_start
        )
    );
    assert!(table.ready[1].bound.is_some(), "scale-out has a bound");

    assert_eq!(table.heal.len(), 2);
    for row in &table.heal {
        assert!(row.promoted.is_some(), "{}: no promotion", row.set);
        assert_ne!(row.promoted.as_deref(), Some(row.killed.as_str()));
        assert!(row.healed.is_ok(), "{}: {:?}", row.set, row.healed);
    }
    assert!(table.heal[0].target_met().is_some());
    assert!(table.heal[1].target_met().is_none());

    let costs: Vec<_> = table
        .cost
        .iter()
        .map(|row| row.as_ref().expect("each kind converges"))
        .collect();
    assert_eq!(
        costs.len(),
        4,
        "Redis, RedisReplication, RedisSentinel, RedisCluster"
    );
    for row in &costs {
        assert_eq!(row.api_writes, 0.0, "{} writes in steady state", row.object);
        assert!(row.api_reads > 0.0, "{} reads nothing", row.object);
    }

    assert_eq!(table.planner.len(), 4, "two situations for each size");
    for row in &table.planner {
        assert_eq!(row.allocations, None, "no counter was given");
        if row.situation == "converged" {
            assert!(
                row.decision.starts_with("Ready"),
                "{}: {}",
                row.shards,
                row.decision
            );
            assert_eq!(row.steps, 0);
        } else {
            assert!(
                row.decision.contains("moving slots") && row.steps > 0,
                "{} shards, one added: {}",
                row.shards,
                row.decision
            );
        }
    }

    assert_eq!(table.slots.len(), 2);
    for row in &table.slots {
        assert_eq!(row.moved, Ok(row.minimum), "{} -> {}", row.from, row.to);
        assert_eq!(row.planned, row.minimum);
        assert_eq!(row.ratio(), Some(1.0));
    }
    assert_eq!(table.slots[0].redis_cli, Some(4096));
    assert_eq!(table.slots[1].redis_cli, None);

    let json = table.json();
    for section in [
        "time_to_ready",
        "time_to_heal",
        "steady_state_cost",
        "planner_scaling",
        "slot_movement",
        "simulator_throughput",
        "operator_footprint",
        "machine",
    ] {
        assert!(json.get(section).is_some(), "JSON lacks {section}");
    }
    let text = table.text();
    for heading in [
        "1. Time to Ready",
        "2. Time to heal",
        "3. Steady-state cost",
        "4. Planner scaling",
        "5. Slot movement",
        "6. Simulator throughput",
        "7. Operator footprint: not measured",
    ] {
        assert!(text.contains(heading), "text lacks {heading:?}:\n{text}");
    }
}

#[test]
fn redis_cli_counts_are_read_by_resize_and_bad_files_are_named() {
    let counts =
        read_redis_cli_counts(r#"{"cases": [{"from": 3, "to": 6, "slots_moved": 8192}]}"#).unwrap();
    assert_eq!(counts, BTreeMap::from([((3, 6), 8192)]));
    let error = read_redis_cli_counts(r#"{"cases": [{"from": 3, "to": 6}]}"#).unwrap_err();
    assert!(error.contains("cases[0].slots_moved"), "{error}");
    assert!(read_redis_cli_counts("[]").is_err());
}
