//! What the property suites share: case counts from the environment, building a `Scenario`
//! value from generated steps, running it in the simulator from a generated seed, and turning a
//! failing run into a scenario file and a seed that replay it.
//!
//! A failing case is written (each shrinking step overwrites it, so the file ends as the
//! shortest history found) to `<target>/tmp/property-failures/<suite>.yaml`; its first line
//! names the seed. Copy it into `sim/tests/regressions/` to keep it as a regression.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use proptest::test_runner::{Config, RngSeed, TestCaseError};
use redis_operator_sim::engine::run::{block_on, run};
use redis_operator_sim::engine::scenario::{
    Action, DEFAULT_MAXIMUM_START_LATENCY_MILLISECONDS, DEFAULT_MINIMUM_START_LATENCY_MILLISECONDS,
    Expectations, Fault, PodChoice, ReplyChannel, Scenario, Step, Target, WriteCount,
};
use redis_operator_sim::engine::world::{WorldSettings, default_nodes};
use serde_json::Value;

/// Cases per suite: `PROPERTY_CASES` when set, otherwise the suite's default.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPERTY_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The generator's seed when `PROPERTY_SEED` is not set: the default run explores the same
/// cases every time, so `cargo test` and CI are reproducible.
pub const DEFAULT_PROPERTY_SEED: u64 = 20_261_127;

/// The generator's seed: `PROPERTY_SEED=N` for another fixed set of cases, `PROPERTY_SEED=random`
/// for new cases on every run (long explorations), otherwise [`DEFAULT_PROPERTY_SEED`].
pub fn rng_seed() -> RngSeed {
    match std::env::var("PROPERTY_SEED").ok().as_deref() {
        Some("random") => RngSeed::Random,
        Some(number) => RngSeed::Fixed(number.parse().unwrap_or_else(|_| {
            panic!("PROPERTY_SEED must be a number or random, got {number:?}")
        })),
        None => RngSeed::Fixed(DEFAULT_PROPERTY_SEED),
    }
}

/// The proptest configuration of a suite: its case count, the generator's seed ([`rng_seed`]),
/// shrinking bounded (each shrinking step replays a whole simulation; `PROPERTY_SHRINK_ITERS`
/// changes the bound), and no `.proptest-regressions` files: kept failures live as scenario
/// files in `sim/tests/regressions/`.
pub fn config(default_cases: u32) -> Config {
    Config {
        cases: cases(default_cases),
        rng_seed: rng_seed(),
        max_shrink_iters: std::env::var("PROPERTY_SHRINK_ITERS")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(32),
        failure_persistence: None,
        ..Config::default()
    }
}

/// A CR named in the `default` namespace.
pub fn target(kind: &str, name: &str) -> Target {
    Target {
        kind: kind.to_owned(),
        namespace: "default".to_owned(),
        name: name.to_owned(),
    }
}

/// An example manifest of `deploy/examples/` as YAML documents.
pub fn example(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/examples")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("failed to read {}: {error}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .filter(|value: &Value| !value.is_null())
        .collect()
}

/// Documents as one manifest text, the way a scenario's `inline` resource holds them.
pub fn manifest(documents: &[Value]) -> String {
    documents
        .iter()
        .map(|document| serde_yaml_ng::to_string(document).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

/// A step with no jitter.
pub fn step(action: Action) -> Step {
    Step {
        index: 0,
        action,
        jitter: 0,
    }
}

/// A merge patch of a CR's spec.
pub fn patch_spec(target: &Target, spec: Value) -> Action {
    Action::Patch {
        target: target.clone(),
        spec,
        metadata: Value::Null,
    }
}

/// Expectations with only `ready` and `present` set.
pub fn expect_ready(targets: &[Target], present: Vec<String>, absent: Vec<String>) -> Action {
    Action::Expect(Expectations {
        ready: targets.to_vec(),
        present,
        absent,
        ..Expectations::default()
    })
}

/// A scenario on the default six nodes with the default start latencies.
pub fn scenario(name: &str, description: String, resources: String, steps: Vec<Step>) -> Scenario {
    let steps = steps
        .into_iter()
        .enumerate()
        .map(|(index, step)| Step { index, ..step })
        .collect();
    Scenario {
        name: name.to_owned(),
        description,
        nodes: default_nodes(),
        settings: WorldSettings {
            minimum_start_latency_milliseconds: DEFAULT_MINIMUM_START_LATENCY_MILLISECONDS,
            maximum_start_latency_milliseconds: DEFAULT_MAXIMUM_START_LATENCY_MILLISECONDS,
            ..WorldSettings::default()
        },
        resources: vec![(format!("{name}.yaml"), resources)],
        steps,
    }
}

fn failures_directory() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("property-failures")
}

/// The text of a scenario file that replays `scenario` from `seed`.
pub fn regression_text(scenario: &Scenario, seed: u64) -> String {
    format!("# seed: {seed}\n{}", scenario.to_yaml())
}

/// Runs `scenario` from `seed` and fails the case when an oracle is violated (or the run
/// panics), with the oracles, the seed and the scenario file in the message.
pub fn check(suite: &str, scenario: &Scenario, seed: u64) -> Result<(), TestCaseError> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on(run(scenario, seed)).expect("failed to start the runtime")
    }));
    let problem = match outcome {
        Ok(report) if report.success() => return Ok(()),
        Ok(report) => report
            .failures
            .iter()
            .map(|failure| {
                format!(
                    "step {} at {} ms: {}: {}",
                    failure.step, failure.time, failure.violation.oracle, failure.violation.message
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Err(panic) => format!(
            "no panic: {}",
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                .unwrap_or_default()
        ),
    };
    let text = regression_text(scenario, seed);
    let directory = failures_directory();
    let _ = std::fs::create_dir_all(&directory);
    let file = directory.join(format!("{suite}.yaml"));
    let _ = std::fs::write(&file, &text);
    Err(TestCaseError::fail(format!(
        "{problem}\nseed {seed}; scenario written to {} (replay: redis-sim run FILE --seed {seed}):\n{text}",
        file.display()
    )))
}

/// Which of the operator's writes a lost-reply fault hits.
pub fn reply_channel() -> impl proptest::strategy::Strategy<Value = ReplyChannel> {
    use proptest::prelude::Just;
    // Arms written out rather than drawn from ReplyChannel::ALL: the strategy's shape fixes
    // which cases a seed generates.
    proptest::prop_oneof![
        Just(ReplyChannel::Redis),
        Just(ReplyChannel::Api),
        Just(ReplyChannel::Any)
    ]
}

/// A `converge` step's timeout after `replies_lost` lost replies since the last one: each may
/// fail a reconcile and lengthen the operator's backoff, by at most its maximum.
pub fn converge_after_lost_replies(timeout: u64, replies_lost: usize) -> Action {
    let backoff = redis_operator::operator::controller::MAXIMUM_BACKOFF.as_secs();
    let replies_lost = u64::try_from(replies_lost).unwrap_or(u64::MAX);
    Action::Converge(timeout.saturating_add(backoff.saturating_mul(replies_lost)))
}

/// A fault put in front of a convergence by the suites that do not draw faults of their own:
/// none (half the time), the operator crashed at its next write and down 10–90 s, its watches
/// stalled 10–90 s and then gone (410), or a container of `target`'s pods held down 10–60 s.
/// The crash comes at the next write, which the edit that follows always causes: one armed for
/// later writes could outlive a convergence that needed fewer and land in a later step's
/// timed expectation.
pub fn disturbance(
    target: Target,
) -> impl proptest::strategy::Strategy<Value = Option<(Fault, u64)>> {
    use proptest::prelude::{Just, Strategy};
    proptest::prop_oneof![
        3 => Just(None),
        1 => (10u64..=90).prop_map(|seconds| Some((
            Fault::OperatorCrash(WriteCount::Exactly(0)),
            seconds
        ))),
        1 => (10u64..=90).prop_map(|seconds| Some((Fault::WatchGone, seconds))),
        1 => (10u64..=60).prop_map(move |seconds| Some((
            Fault::ProcessCrash(PodChoice::Random {
                target: target.clone(),
                role: "any".to_owned(),
            }),
            seconds
        ))),
    ]
}
