//! `redis-sim apply` on every reference example: each converges with every oracle holding, and
//! the same manifests give the same timeline byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

use std::path::{Path, PathBuf};

use redis_operator_sim::commands::apply::{DEFAULT_TIME_LIMIT_SECONDS, apply};

fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/compat/v0.19.0/examples")
}

fn read(paths: &[PathBuf]) -> Vec<(String, String)> {
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_else(|error| {
                panic!(
                    "the reference examples must be beside the checkout: {}: {error}",
                    path.display()
                )
            });
            (path.display().to_string(), text)
        })
        .collect()
}

/// Each example folder with its Secrets and ConfigMaps, and each top-level manifest; a sentinel
/// gets the replication set it monitors.
fn example_sets() -> Vec<Vec<PathBuf>> {
    let root = reference();
    let mut sets = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for entry in entries {
        let mut files: Vec<PathBuf> = if entry.is_dir() {
            std::fs::read_dir(&entry)
                .unwrap()
                .map(|file| file.unwrap().path())
                .filter(|file| {
                    file.extension()
                        .is_some_and(|extension| extension == "yaml")
                })
                .collect()
        } else if entry
            .extension()
            .is_some_and(|extension| extension == "yaml")
        {
            vec![entry.clone()]
        } else {
            continue;
        };
        files.sort();
        let monitors_replication = files.iter().any(|file| {
            std::fs::read_to_string(file)
                .unwrap()
                .contains("kind: RedisSentinel")
        });
        let has_replication = files.iter().any(|file| {
            std::fs::read_to_string(file)
                .unwrap()
                .contains("kind: RedisReplication")
        });
        if monitors_replication && !has_replication {
            files.push(root.join("redis-replication.yaml"));
        }
        sets.push(files);
    }
    sets
}

#[tokio::test]
async fn every_reference_example_converges_under_apply() {
    let sets = example_sets();
    assert!(sets.len() >= 20, "found {} example sets", sets.len());
    for files in sets {
        let report = apply(&read(&files), DEFAULT_TIME_LIMIT_SECONDS).await;
        assert!(
            report.success,
            "{files:?} did not converge:\n{}",
            report.lines.join("\n")
        );
    }
}

#[tokio::test]
async fn the_same_manifests_give_the_same_timeline() {
    let files = read(&[
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples/redis-cluster.yaml"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples/redis-replication.yaml"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples/redis-sentinel.yaml"),
    ]);
    let first = apply(&files, DEFAULT_TIME_LIMIT_SECONDS).await;
    let second = apply(&files, DEFAULT_TIME_LIMIT_SECONDS).await;
    assert!(first.success, "{}", first.lines.join("\n"));
    assert_eq!(first.lines, second.lines);
}

#[tokio::test]
async fn an_invalid_manifest_fails_the_run_with_its_field_errors() {
    let files = vec![(
        "broken.yaml".to_owned(),
        "apiVersion: redis.redis.opstreelabs.in/v1beta2\nkind: RedisCluster\nmetadata: {name: small}\nspec: {clusterSize: 2, kubernetesConfig: {image: redis:7}}\n".to_owned(),
    )];
    let report = apply(&files, 60).await;
    assert!(!report.success);
    assert!(
        report
            .lines
            .iter()
            .any(|line| line.contains("spec.clusterSize")),
        "{}",
        report.lines.join("\n")
    );
}
