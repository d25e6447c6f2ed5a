//! Offline validation: every reference example is accepted, and each invalid spec in the table is
//! rejected with an error at exactly the expected field path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

use redis_operator::api::Kind;
use redis_operator::api::document::{
    DocumentOutcome, check_document, read_documents, validate_value,
};
use redis_operator_sim::engine::world::merge_patch;
use serde_json::{Value, json};

fn base(kind: Kind) -> Value {
    let spec = match kind {
        Kind::Redis => json!({"kubernetesConfig": {"image": "redis:7"}}),
        Kind::RedisReplication => {
            json!({"clusterSize": 3, "kubernetesConfig": {"image": "redis:7"}})
        }
        Kind::RedisSentinel => json!({
            "clusterSize": 3,
            "kubernetesConfig": {"image": "redis:7"},
            "redisSentinelConfig": {"redisReplicationName": "replication"}
        }),
        Kind::RedisCluster => json!({"clusterSize": 3, "kubernetesConfig": {"image": "redis:7"}}),
    };
    json!({
        "apiVersion": "redis.redis.opstreelabs.in/v1beta2",
        "kind": kind.name(),
        "metadata": {"name": "example"},
        "spec": spec,
    })
}

fn error_paths(kind: Kind, patch: Value) -> Vec<String> {
    let mut document = base(kind);
    merge_patch(&mut document, &patch);
    match check_document(1, &document).outcome {
        DocumentOutcome::Invalid(errors) => errors.into_iter().map(|error| error.path).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_minimal_document_of_every_kind_is_valid() {
    for kind in Kind::ALL {
        assert_eq!(
            error_paths(kind, json!({})),
            Vec::<String>::new(),
            "{kind:?}"
        );
    }
}

#[test]
fn each_invalid_spec_names_exactly_the_offending_field() {
    use Kind::*;
    let table: Vec<(Kind, Value, &str)> = vec![
        (
            RedisCluster,
            json!({"spec": {"clusterSize": 2}}),
            "spec.clusterSize",
        ),
        (
            RedisCluster,
            json!({"spec": {"clusterSize": 16385}}),
            "spec.clusterSize",
        ),
        (
            RedisCluster,
            json!({"spec": {"redisFollower": {"replicas": 4}}}),
            "spec.redisFollower.replicas",
        ),
        (
            RedisCluster,
            json!({"spec": {"redisFollower": {"replicas": -3}}}),
            "spec.redisFollower.replicas",
        ),
        (
            RedisCluster,
            json!({"spec": {"redisLeader": {"replicas": 4}}}),
            "spec.redisLeader.replicas",
        ),
        (
            RedisCluster,
            json!({"spec": {"redisLeader": {"pdb": {"enabled": true, "minAvailable": 1, "maxUnavailable": 1}}}}),
            "spec.redisLeader.pdb",
        ),
        (
            RedisCluster,
            json!({"spec": {"redisFollower": {"pdb": {"enabled": true, "minAvailable": 4}}}}),
            "spec.redisFollower.pdb.minAvailable",
        ),
        (
            RedisCluster,
            json!({"spec": {"clusterVersion": "v5"}}),
            "spec.clusterVersion",
        ),
        (RedisCluster, json!({"spec": {"port": 70000}}), "spec.port"),
        (RedisCluster, json!({"spec": {"port": 60000}}), "spec.port"),
        (
            RedisCluster,
            json!({"spec": {"storage": {"nodeConfVolumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "1Gx"}}}}}}}),
            "spec.storage.nodeConfVolumeClaimTemplate.spec.resources.requests.storage",
        ),
        (
            RedisCluster,
            json!({"spec": {"redisLeader": {"resources": {"limits": {"cpu": "lots"}}}}}),
            "spec.redisLeader.resources.limits.cpu",
        ),
        (
            RedisCluster,
            json!({"spec": {"clusterSize": "three"}}),
            "spec.clusterSize",
        ),
        (
            RedisCluster,
            json!({"spec": {"clusterSize": null}}),
            "spec.clusterSize",
        ),
        (
            Redis,
            json!({"spec": {"kubernetesConfig": {"redisSecret": {"name": "secret"}}}}),
            "spec.kubernetesConfig.redisSecret.key",
        ),
        (
            Redis,
            json!({"spec": {"kubernetesConfig": {"redisSecret": {"key": "password"}}}}),
            "spec.kubernetesConfig.redisSecret.name",
        ),
        (
            Redis,
            json!({"spec": {"kubernetesConfig": {"resources": {"limits": {"cpu": "abc"}}}}}),
            "spec.kubernetesConfig.resources.limits.cpu",
        ),
        (
            Redis,
            json!({"spec": {"kubernetesConfig": {"resources": {"limits": {"memory": "128Mi"}, "requests": {"memory": "1Gi"}}}}}),
            "spec.kubernetesConfig.resources.requests.memory",
        ),
        (
            Redis,
            json!({"spec": {"kubernetesConfig": {"image": ""}}}),
            "spec.kubernetesConfig.image",
        ),
        (
            Redis,
            json!({"spec": {"kubernetesConfig": {"imagePullPolicy": "Sometimes"}}}),
            "spec.kubernetesConfig.imagePullPolicy",
        ),
        (
            Redis,
            json!({"spec": {"kubernetesConfig": {"service": {"serviceType": "Public"}}}}),
            "spec.kubernetesConfig.service.serviceType",
        ),
        (
            Redis,
            json!({"spec": {"kubernetesConfig": {"updateStrategy": {"type": "Sometimes"}}}}),
            "spec.kubernetesConfig.updateStrategy.type",
        ),
        (
            Redis,
            json!({"spec": {"kubernetesConfig": null}}),
            "spec.kubernetesConfig",
        ),
        (
            Redis,
            json!({"spec": {"redisExporter": {"enabled": true, "image": ""}}}),
            "spec.redisExporter.image",
        ),
        (
            Redis,
            json!({"spec": {"redisExporter": {"enabled": true, "image": "exporter", "port": 6379}}}),
            "spec.redisExporter.port",
        ),
        (
            Redis,
            json!({"spec": {"TLS": {"secret": {}}}}),
            "spec.TLS.secret.secretName",
        ),
        (
            Redis,
            json!({"spec": {"acl": {}}}),
            "spec.acl.secret.secretName",
        ),
        (
            Redis,
            json!({"spec": {"storage": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "1Gx"}}}}}}}),
            "spec.storage.volumeClaimTemplate.spec.resources.requests.storage",
        ),
        (
            Redis,
            json!({"spec": {"sidecars": [{"name": "redis-exporter", "image": "busybox"}]}}),
            "spec.sidecars[0].name",
        ),
        (
            Redis,
            json!({"spec": {"sidecars": [{"name": "tail", "image": "busybox", "mountPath": [{"name": "logs", "mountPath": "/logs"}]}]}}),
            "spec.sidecars[0].mountPath[0].name",
        ),
        (
            Redis,
            json!({"spec": {"initContainer": {"enabled": true, "image": " "}}}),
            "spec.initContainer.image",
        ),
        (
            Redis,
            json!({"spec": {"env": [{"name": "A", "value": "1", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]}}),
            "spec.env[0]",
        ),
        (
            Redis,
            json!({"spec": {"terminationGracePeriodSeconds": -1}}),
            "spec.terminationGracePeriodSeconds",
        ),
        (
            Redis,
            json!({"spec": {"clustersize": 3}}),
            "spec.clustersize",
        ),
        (Redis, json!({"metadata": {"name": null}}), "metadata.name"),
        (
            Redis,
            json!({"apiVersion": "redis.redis.opstreelabs.in/v1beta1"}),
            "apiVersion",
        ),
        (
            RedisReplication,
            json!({"spec": {"clusterSize": 0}}),
            "spec.clusterSize",
        ),
        (
            RedisReplication,
            json!({"spec": {"pdb": {"enabled": true, "maxUnavailable": -1}}}),
            "spec.pdb.maxUnavailable",
        ),
        (
            RedisSentinel,
            json!({"spec": {"redisSentinelConfig": null}}),
            "spec.redisSentinelConfig",
        ),
        (
            RedisSentinel,
            json!({"spec": {"redisSentinelConfig": {"redisReplicationName": ""}}}),
            "spec.redisSentinelConfig.redisReplicationName",
        ),
        (
            RedisSentinel,
            json!({"spec": {"redisSentinelConfig": {"quorum": "two"}}}),
            "spec.redisSentinelConfig.quorum",
        ),
        (
            RedisSentinel,
            json!({"spec": {"redisSentinelConfig": {"quorum": "5"}}}),
            "spec.redisSentinelConfig.quorum",
        ),
        (
            RedisSentinel,
            json!({"spec": {"redisSentinelConfig": {"redisPort": "70000"}}}),
            "spec.redisSentinelConfig.redisPort",
        ),
        (
            RedisSentinel,
            json!({"spec": {"redisSentinelConfig": {"redisReplicationPassword": {
                "configMapKeyRef": {"name": "settings", "key": "password"}}}}}),
            "spec.redisSentinelConfig.redisReplicationPassword",
        ),
        (
            RedisSentinel,
            json!({"spec": {"redisSentinelConfig": {"redisReplicationPassword": {
                "secretKeyRef": {"name": "", "key": "password"}}}}}),
            "spec.redisSentinelConfig.redisReplicationPassword.secretKeyRef",
        ),
        (
            RedisSentinel,
            json!({"spec": {"redisSentinelConfig": {"downAfterMilliseconds": "0"}}}),
            "spec.redisSentinelConfig.downAfterMilliseconds",
        ),
        (
            RedisSentinel,
            json!({"spec": {"redisSentinelConfig": {"masterGroupName": "my master"}}}),
            "spec.redisSentinelConfig.masterGroupName",
        ),
        (
            RedisSentinel,
            json!({"spec": {"clusterSize": 0}}),
            "spec.clusterSize",
        ),
    ];
    let mut failures = Vec::new();
    for (kind, patch, expected) in table {
        let paths = error_paths(kind, patch.clone());
        if paths != [expected] {
            failures.push(format!(
                "{kind:?} {patch}: expected [{expected}], got {paths:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_sentinel_without_cluster_size_gets_the_default_of_three() {
    let mut document = base(Kind::RedisSentinel);
    merge_patch(&mut document, &json!({"spec": {"clusterSize": null}}));
    let outcome = validate_value(Kind::RedisSentinel, &document);
    match outcome {
        Ok(redis_operator::api::document::ValidatedResource::RedisSentinel(_, validated)) => {
            assert_eq!(validated.size, 3);
            assert_eq!(validated.monitor.master_group_name, "myMaster");
            assert_eq!(validated.monitor.quorum, 2);
        }
        other => panic!("expected a valid sentinel, got {other:?}"),
    }
}

#[test]
fn broken_yaml_is_reported_not_panicked_on() {
    let documents = read_documents("kind: [unclosed\n");
    assert!(
        matches!(&documents[0].outcome, DocumentOutcome::Invalid(errors) if errors[0].message.starts_with("failed to parse YAML"))
    );
}

#[test]
fn every_reference_example_of_our_kinds_is_valid() {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/v0.19.0/examples");
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(directory) = pending.pop() {
        let entries = std::fs::read_dir(&directory).unwrap_or_else(|error| {
            panic!(
                "the reference examples must be at {}: {error}",
                directory.display()
            )
        });
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "yaml")
            {
                files.push(path);
            }
        }
    }
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a readable example");
        for document in read_documents(&text) {
            match document.outcome {
                DocumentOutcome::Valid(_) => checked += 1,
                DocumentOutcome::Invalid(errors) => panic!(
                    "{} document {} is invalid: {errors:?}",
                    file.display(),
                    document.index
                ),
                DocumentOutcome::Skipped | DocumentOutcome::Empty => {}
            }
        }
    }
    assert!(
        checked >= 50,
        "expected the reference examples, found only {checked} of our kinds"
    );
}

#[test]
fn the_shipped_examples_are_valid() {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples");
    let mut valid = 0;
    for entry in std::fs::read_dir(&directory).expect("deploy/examples exists") {
        let path = entry.expect("a directory entry").path();
        let text = std::fs::read_to_string(&path).expect("a readable example");
        for document in read_documents(&text) {
            match document.outcome {
                DocumentOutcome::Valid(_) => valid += 1,
                DocumentOutcome::Invalid(errors) => {
                    panic!("{} is invalid: {errors:?}", path.display())
                }
                DocumentOutcome::Skipped | DocumentOutcome::Empty => {}
            }
        }
    }
    assert_eq!(valid, 4, "one example per kind");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// The `spec_input` fuzz target's property, on arbitrary text and on mutated valid documents.
    #[test]
    fn reading_any_text_never_panics_and_names_every_field(text in ".{0,400}") {
        redis_operator::api::document::check_reading_is_total(text.as_bytes());
    }

    #[test]
    fn mutating_a_valid_document_never_panics(
        kind_index in 0usize..4,
        field in "(clusterSize|port|kubernetesConfig|redisExporter|pdb|storage|redisSentinelConfig|TLS|sidecars)",
        replacement in proptest::prelude::prop_oneof![
            proptest::prelude::Just(json!(null)),
            proptest::prelude::Just(json!(-1)),
            proptest::prelude::Just(json!("x")),
            proptest::prelude::Just(json!({})),
            proptest::prelude::Just(json!([{}])),
            proptest::prelude::Just(json!({"enabled": true})),
        ],
    ) {
        let kind = Kind::ALL[kind_index];
        let mut document = base(kind);
        merge_patch(&mut document, &json!({"spec": {field: replacement}}));
        let text = serde_json::to_string(&document).expect("JSON is YAML");
        redis_operator::api::document::check_reading_is_total(text.as_bytes());
    }
}
