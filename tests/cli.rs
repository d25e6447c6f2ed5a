//! The command line: exit codes and output of `crd` and `validate`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

use redis_operator::cli::run;

fn arguments(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| (*word).to_owned()).collect()
}

#[test]
fn crd_prints_four_definitions() {
    let output = run(&arguments(&["crd"]));
    assert_eq!(output.exit_code, 0);
    assert_eq!(
        output
            .stdout
            .matches("kind: CustomResourceDefinition")
            .count(),
        4
    );
}

#[test]
fn validate_exits_one_and_names_the_field_of_an_invalid_document() {
    let directory = std::env::temp_dir().join(format!("redis-operator-cli-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let file = directory.join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n\
         apiVersion: redis.redis.opstreelabs.in/v1beta2\nkind: RedisCluster\n\
         metadata: {name: broken}\nspec:\n  clusterSize: 1\n  kubernetesConfig: {image: redis:7}\n",
    )
    .unwrap();
    let output = run(&arguments(&["validate", file.to_str().unwrap()]));
    std::fs::remove_dir_all(&directory).unwrap();
    assert_eq!(output.exit_code, 1, "{}", output.stdout);
    assert!(
        output.stdout.contains("document 1 (ConfigMap/c): skipped"),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("document 2 (RedisCluster/broken): invalid"),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("  spec.clusterSize: must be a whole number from 3 to 16384"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.ends_with("0 valid, 1 invalid, 1 skipped\n"),
        "{}",
        output.stdout
    );
}

#[test]
fn validate_reports_a_missing_file_as_invalid() {
    let output = run(&arguments(&["validate", "/nonexistent/manifest.yaml"]));
    assert_eq!(output.exit_code, 1);
    assert!(
        output
            .stderr
            .contains("/nonexistent/manifest.yaml: failed to read")
    );
}

#[test]
fn unknown_commands_are_usage_errors() {
    assert_eq!(run(&arguments(&["frobnicate"])).exit_code, 2);
    assert_eq!(run(&[]).exit_code, 2);
}

#[test]
fn render_prints_the_objects_of_every_reference_example() {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/v0.19.0/examples");
    let mut files = Vec::new();
    let mut pending = vec![root];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "yaml")
            {
                files.push(path.to_str().unwrap().to_owned());
            }
        }
    }
    files.sort();
    let output = run(&[vec!["render".to_owned()], files].concat());
    assert_eq!(output.exit_code, 0, "{}", output.stderr);
    let objects: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&output.stdout)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .filter(|object: &serde_json::Value| !object.is_null())
        .collect();
    let statefulsets = objects
        .iter()
        .filter(|object| object["kind"] == "StatefulSet")
        .count();
    let custom_resources = output
        .stdout
        .lines()
        .filter(|line| line.starts_with("# "))
        .count();
    assert!(custom_resources >= 50, "{custom_resources} CRs rendered");
    assert!(
        statefulsets >= custom_resources,
        "every CR has at least one StatefulSet"
    );
    for name in [
        "redis-cluster-leader",
        "redis-cluster-follower",
        "redis-sentinel-sentinel",
        "redis-replication-master",
        "redis-standalone-additional",
    ] {
        assert!(
            objects
                .iter()
                .any(|object| object["metadata"]["name"] == name),
            "{name} rendered"
        );
    }
}

#[test]
fn run_help_lists_every_flag() {
    let output = run(&arguments(&["run", "--help"]));
    assert_eq!(output.exit_code, 0, "{}", output.stderr);
    for flag in [
        "--namespace",
        "--log-format",
        "--log-level",
        "--metrics-address",
        "--health-address",
        "--leader-election",
        "--no-leader-election",
        "--lease-namespace",
    ] {
        assert!(
            output.stdout.contains(flag),
            "{flag} missing:\n{}",
            output.stdout
        );
    }
    for variable in [
        "REDIS_OPERATOR_NAMESPACES",
        "REDIS_OPERATOR_LOG_FORMAT",
        "REDIS_OPERATOR_LOG_LEVEL",
        "REDIS_OPERATOR_METRICS_ADDRESS",
        "REDIS_OPERATOR_HEALTH_ADDRESS",
        "REDIS_OPERATOR_LEADER_ELECTION",
        "REDIS_OPERATOR_LEASE_NAMESPACE",
    ] {
        assert!(output.stdout.contains(variable), "{variable} missing");
    }
}

#[test]
fn run_with_a_bad_flag_value_names_the_flag_and_exits_two() {
    for (words, expected) in [
        (
            &["run", "--log-format", "xml"][..],
            "redis-operator run: --log-format: \"xml\" is not a log format (json or text)",
        ),
        (
            &["run", "--metrics-address=localhost"][..],
            "redis-operator run: --metrics-address: \"localhost\" is not a listen address",
        ),
        (
            &["run", "--namespace", "Shop"][..],
            "redis-operator run: --namespace: \"Shop\" is not a namespace name",
        ),
        (
            &["run", "--log-level", "info,,=["][..],
            "redis-operator run: --log-level: \"info,,=[\" is not a log level or filter",
        ),
        (
            &["run", "--lease-namespace"][..],
            "redis-operator run: --lease-namespace: a value is required",
        ),
        (
            &["run", "--leader"][..],
            "redis-operator run: unknown flag \"--leader\"",
        ),
    ] {
        let output = run(&arguments(words));
        assert_eq!(output.exit_code, 2, "{words:?}");
        assert!(
            output.stderr.starts_with(expected),
            "{words:?}: {}",
            output.stderr
        );
    }
}
