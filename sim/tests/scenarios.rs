//! Every scenario in sim/scenarios/ runs clean from seed 0 and a few more seeds, the same seed
//! gives the same timeline byte for byte, and bad scenarios are refused with the field named.
//! Takes about a minute on 2 cores; `redis-sim explore` runs many more seeds outside CI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use redis_operator_sim::commands::explore::explore;
use redis_operator_sim::engine::run::run;
use redis_operator_sim::engine::scenario::Scenario;

fn scenarios() -> Vec<PathBuf> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 6, "found only {files:?}");
    files
}

/// Seeds each scenario runs under in `cargo test` (set SIMULATOR_SEEDS for more).
fn seeds() -> u64 {
    std::env::var("SIMULATOR_SEEDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(3)
}

#[test]
fn every_scenario_holds_every_oracle() {
    for file in scenarios() {
        let scenario = Scenario::read(&file).unwrap();
        let (failed, ran) = explore(&scenario, 0..seeds());
        assert_eq!(ran as u64, seeds());
        let messages: Vec<String> = failed
            .iter()
            .flat_map(|report| {
                report.failures.iter().map(move |failure| {
                    format!(
                        "{} seed {}: {}: {}",
                        report.scenario,
                        report.seed,
                        failure.violation.oracle,
                        failure.violation.message
                    )
                })
            })
            .collect();
        assert!(messages.is_empty(), "{}", messages.join("\n"));
    }
}

#[tokio::test]
async fn the_same_seed_gives_the_same_timeline() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/cluster-faults.yaml");
    let scenario = Scenario::read(&file).unwrap();
    let first = run(&scenario, 7).await;
    let second = run(&scenario, 7).await;
    assert!(first.success(), "{}", first.text());
    assert_eq!(first.text(), second.text());
    assert_eq!(first.json_lines(), second.json_lines());
    let other = run(&scenario, 8).await;
    assert_ne!(first.text(), other.text(), "the seed must change the run");
}

#[tokio::test]
async fn a_broken_operator_promise_is_reported_with_the_oracle_and_the_seed() {
    // A scenario expecting what cannot be: six masters on a three-shard cluster.
    let text = "
resources:
  - file: ../../deploy/examples/redis-cluster.yaml
steps:
  - converge: {timeout: 300}
  - expect: {masters: {RedisCluster/orders: 6}, absent: [StatefulSet/default/orders-leader]}
";
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let scenario = Scenario::parse("impossible.yaml", &directory, text).unwrap();
    let report = run(&scenario, 11).await;
    assert!(!report.success());
    assert_eq!(report.failures.len(), 2, "{}", report.text());
    assert!(report.failures.iter().all(|failure| failure.step == 1));
    assert!(report.text().contains("replay with --seed 11"));
    assert!(report.json_lines().contains("\"oracle\":\"expectation\""));
}

#[test]
fn redis_sim_run_exits_one_on_a_violation_and_names_the_field_of_a_bad_scenario() {
    let binary = env!("CARGO_BIN_EXE_redis-sim");
    let directory = std::env::temp_dir().join(format!("redis-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let bad = directory.join("bad.yaml");
    std::fs::write(&bad, "steps: [{fault: pod-kil, pod: x}]\n").unwrap();
    let output = std::process::Command::new(binary)
        .args(["run", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("steps[0].fault"), "{stderr}");
    let output = std::process::Command::new(binary)
        .args(["run", bad.to_str().unwrap(), "--seed", "x"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--seed needs a whole number"));
    std::fs::remove_dir_all(&directory).unwrap();
}
