//! Replays every scenario kept in `sim/tests/regressions/`: shrunk failures of the property
//! suites (`properties_*.rs`), each from the seed on its first line (`# seed: N`) and from seeds
//! 0 and 1, and asserts every oracle holds. A failing property prints its scenario file and
//! seed; copying that file here keeps it as a regression once the cause is fixed.
//!
//! A few seconds per file on the shared 2-core machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use redis_operator_sim::engine::run::{block_on, run};
use redis_operator_sim::engine::scenario::Scenario;

fn regressions() -> Vec<PathBuf> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    files.sort();
    files
}

/// The seed a regression file names on its first line.
fn recorded_seed(text: &str) -> Option<u64> {
    text.lines()
        .next()?
        .strip_prefix("# seed:")?
        .trim()
        .parse()
        .ok()
}

#[test]
fn every_kept_regression_holds_every_oracle() {
    let files = regressions();
    assert!(
        !files.is_empty(),
        "sim/tests/regressions/ holds no scenario"
    );
    let mut failures = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let seed = recorded_seed(&text)
            .unwrap_or_else(|| panic!("{} does not start with `# seed: N`", file.display()));
        let scenario = Scenario::read(&file).unwrap();
        let mut seeds = vec![seed, 0, 1];
        seeds.dedup();
        for seed in seeds {
            let report = block_on(run(&scenario, seed)).unwrap();
            for failure in &report.failures {
                failures.push(format!(
                    "{} seed {seed}: step {}: {}: {}",
                    file.display(),
                    failure.step,
                    failure.violation.oracle,
                    failure.violation.message
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
