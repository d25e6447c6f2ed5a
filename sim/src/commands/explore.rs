//! `redis-sim explore`: plays a scenario under many seeds and keeps the runs that violate an
//! oracle (a panic counts as one), to be replayed with `redis-sim run --seed`.

use crate::engine::run::{block_on, run};
use crate::engine::scenario::Scenario;
use crate::engine::timeline::{Failure, RunReport};
use crate::oracles::Violation;

/// Runs `scenario` under each seed in `seeds`; returns the reports of the runs that failed and
/// how many ran. A panic in a run is reported as a failure of the "no panic" oracle.
pub fn explore(scenario: &Scenario, seeds: std::ops::Range<u64>) -> (Vec<RunReport>, usize) {
    let mut failed = Vec::new();
    let mut ran = 0;
    for seed in seeds {
        ran += 1;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(run(scenario, seed))
        }));
        match outcome {
            Ok(Some(report)) if report.success() => {}
            Ok(Some(report)) => failed.push(report),
            Ok(None) => failed.push(failed_before_running(
                scenario,
                seed,
                "the runtime starts",
                "failed to start the runtime".to_owned(),
            )),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                    .unwrap_or_default();
                failed.push(failed_before_running(scenario, seed, "no panic", message));
            }
        }
    }
    (failed, ran)
}

/// The report of a run that did not get to play: one failure of `oracle` at the start.
fn failed_before_running(
    scenario: &Scenario,
    seed: u64,
    oracle: &'static str,
    message: String,
) -> RunReport {
    RunReport {
        scenario: scenario.name.clone(),
        seed,
        failures: vec![Failure {
            step: 0,
            time: 0,
            violation: Violation { oracle, message },
        }],
        ..RunReport::default()
    }
}
