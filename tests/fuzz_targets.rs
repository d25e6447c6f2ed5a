//! The fuzz targets' bodies as ordinary tests: every committed seed and every crash the fuzzer
//! ever found (kept under `fuzz/regressions/`) passes, and proptest runs each body on generated
//! input with a modest case count (`spec_input`'s proptests live in `tests/validation.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use redis_operator::api::document::check_reading_is_total;
use redis_operator::topology::replies::checks::check_reply_parsing_is_total;
use redis_operator_sim::fuzz::transition::decode::Scenario;
use redis_operator_sim::fuzz::transition::{check_transition, run_scenario};

/// The files of `fuzz/<kind>/<target>/`, sorted; an empty list when the directory is absent.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&directory) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `body` on every seed and regression input of `target`; returns how many seeds ran.
fn run_committed_inputs(target: &str, body: impl Fn(&[u8])) -> usize {
    let seeds = inputs("corpus", target);
    for path in seeds.iter().chain(inputs("regressions", target).iter()) {
        let bytes = std::fs::read(path).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&bytes)));
        assert!(outcome.is_ok(), "{} fails {target}", path.display());
    }
    seeds.len()
}

#[test]
fn every_spec_input_seed_and_regression_passes() {
    let seeds = run_committed_inputs("spec_input", |bytes| {
        check_reading_is_total(bytes);
    });
    assert!(seeds >= 4, "the spec_input seed corpus is committed");
}

#[test]
fn every_redis_replies_seed_and_regression_passes() {
    let seeds = run_committed_inputs("redis_replies", |bytes| {
        check_reply_parsing_is_total(bytes);
    });
    assert!(seeds >= 8, "the redis_replies seed corpus is committed");
}

#[test]
fn the_redis_reply_seeds_are_accepted_by_the_parser_they_sample() {
    for path in inputs("corpus", "redis_replies") {
        let summary = check_reply_parsing_is_total(&std::fs::read(&path).unwrap());
        assert!(
            summary.accepted >= 1,
            "{} is a real reply, yet no parser accepts it: {summary:?}",
            path.display()
        );
    }
}

#[test]
fn every_reconcile_transition_seed_and_regression_passes() {
    let seeds = run_committed_inputs("reconcile_transition", |bytes| {
        check_transition(bytes);
    });
    assert!(
        seeds >= 8,
        "the reconcile_transition seed corpus is committed"
    );
}

#[test]
fn the_reconcile_seeds_decode_to_the_scenarios_their_names_promise() {
    for path in inputs("corpus", "reconcile_transition") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let scenario = Scenario::decode(&std::fs::read(&path).unwrap());
        let kind = scenario.shape.kind.name().to_lowercase();
        let expected = name.split('-').next().unwrap();
        let matches = match expected {
            "standalone" => kind == "redis",
            "replication" => kind == "redisreplication",
            "sentinel" => kind == "redissentinel",
            "cluster" => kind == "rediscluster",
            other => panic!("{name}: unknown scenario prefix {other}"),
        };
        assert!(matches, "{name} decodes to {scenario:?}");
        assert!(!scenario.events.is_empty(), "{name} has events");
    }
}

/// A cluster master whose pod restarts without its data before its replica is promoted: once a
/// known limit of the fake (it forgot the old node id, so the replica was never promoted and the
/// fuzzer excused the stall); the fake now keeps the old id in its peers' tables as Redis does,
/// and the operator heals the cluster with every oracle held.
#[test]
fn a_master_restarting_without_data_before_promotion_heals() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "fuzz/regressions/reconcile_transition/cluster-master-restarts-without-data-before-promotion",
    );
    let scenario = Scenario::decode(&std::fs::read(path).unwrap());
    let report = run_scenario(&scenario);
    assert!(report.violations.is_empty(), "{report}");
    assert!(report.converged, "{report}");
}

/// Text that looks like Redis replies, or bytes, or a seed with a few bytes changed.
fn reply_input() -> impl Strategy<Value = Vec<u8>> {
    let seeds: Vec<Vec<u8>> = inputs("corpus", "redis_replies")
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        (
            0..seeds.len(),
            proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)
        )
            .prop_map(move |(index, changes)| {
                let mut seed = seeds[index].clone();
                for (position, byte) in changes {
                    if !seed.is_empty() {
                        let length = seed.len();
                        seed[position % length] = byte;
                    }
                }
                seed
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The `redis_replies` fuzz target's property.
    #[test]
    fn parsing_any_reply_never_panics_and_round_trips(bytes in reply_input()) {
        check_reply_parsing_is_total(&bytes);
    }
}

proptest! {
    // Each case runs up to a few hundred reconciles; a failure prints its scenario and timeline,
    // so a short shrink is enough.
    // A fixed generator seed: every run explores the same cases, so a red CI run always means a
    // change broke something (`PROPTEST_RNG_SEED=N` or a long `scripts/fuzz` run explores others).
    // Open: bytes [27, 0, 1, 7, 24, 73, 238, 134, 215, 121, 207, 18] (a slot assigned by hand
    // during bootstrap) never converge; see docs/fuzzing.md.
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 64,
        rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_127),
        ..ProptestConfig::default()
    })]

    /// The `reconcile_transition` fuzz target's property, on short random scenarios.
    #[test]
    fn any_short_scenario_keeps_every_oracle(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        check_transition(&bytes);
    }
}

#[test]
fn a_spec_made_invalid_stops_every_write_but_the_status_until_it_is_repaired() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus/reconcile_transition/replication-invalid-size-while-the-master-dies");
    let scenario = Scenario::decode(&std::fs::read(path).unwrap());
    let report = run_scenario(&scenario);
    assert!(report.violations.is_empty(), "{report}");
    assert!(report.converged, "{report}");
    let timeline = &report.timeline;
    let broken = timeline
        .iter()
        .position(|entry| entry.contains("event BreakSpec"))
        .unwrap();
    let repaired = timeline
        .iter()
        .position(|entry| entry.contains("event RepairSpec"))
        .unwrap();
    let meanwhile: Vec<&String> = timeline[broken..repaired]
        .iter()
        .filter(|entry| !entry.contains(" event "))
        .collect();
    // The master's pod dies and comes back while the spec is invalid: the operator records why
    // it does nothing, and puts the replicas back under their master once the spec is repaired.
    assert_eq!(
        meanwhile,
        ["  api apply-status RedisReplication default/sessions"],
        "{timeline:#?}"
    );
    assert!(
        timeline[repaired..]
            .iter()
            .any(|entry| entry.contains("ReplicaOf")),
        "{timeline:#?}"
    );
}
