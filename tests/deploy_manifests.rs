//! The deployment manifests against the code: the role grants exactly what the reconcile does
//! through its Kubernetes port, and every rendered manifest (kustomize base and overlay, the Helm
//! chart with several value sets) survives a round trip through the Kubernetes API types, so a
//! misspelt or misplaced field cannot hide in a template. The rendering needs kustomize (or
//! kubectl) and helm; `scripts/check-deploy` builds helm when it is missing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use redis_operator::ports::kube::ResourceType;
use redis_operator::reconcile::observe::OWNED_TYPES;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn documents(text: &str, source: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|document| {
            Value::deserialize(document)
                .unwrap_or_else(|error| panic!("{source}: a document does not parse: {error}"))
        })
        .filter(|document| !document.is_null())
        .collect()
}

/// One permission: API group, resource (with subresource), verb.
type Grant = (String, String, String);

fn grants(rules: &Value) -> BTreeSet<Grant> {
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .unwrap_or_else(|| panic!("a rule field is not a list: {value}"))
            .iter()
            .map(|item| item.as_str().unwrap().to_owned())
            .collect()
    };
    let mut grants = BTreeSet::new();
    for rule in rules.as_array().unwrap() {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    grants.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    grants
}

/// The API group of a resource type, from the apiVersion the code uses for it.
fn group_of(resource: ResourceType) -> String {
    match resource.api_version().rsplit_once('/') {
        Some((group, _version)) => group.to_owned(),
        None => String::new(),
    }
}

/// What the reconcile does with each type through its port, as RBAC grants. The match is
/// exhaustive so that a new type cannot be added without deciding its permissions.
fn needed_grants() -> BTreeSet<Grant> {
    let mut needed = BTreeSet::new();
    let mut grant = |group: &str, resource: &str, verbs: &[&str]| {
        for verb in verbs {
            needed.insert((group.to_owned(), resource.to_owned(), (*verb).to_owned()));
        }
    };
    for resource in ResourceType::ALL {
        let group = group_of(resource);
        let plural = resource.plural();
        match resource {
            // Watched; the finalizer is added by apply and removed by a JSON patch; the status is
            // applied to its subresource; blockOwnerDeletion on owned objects needs update on the
            // owner's finalizers.
            ResourceType::Redis
            | ResourceType::RedisReplication
            | ResourceType::RedisSentinel
            | ResourceType::RedisCluster => {
                grant(&group, plural, &["get", "list", "watch", "patch"]);
                grant(&group, &format!("{plural}/status"), &["patch"]);
                grant(&group, &format!("{plural}/finalizers"), &["update"]);
            }
            // Owned objects: created and updated by server-side apply (authorized as create when
            // the object is new, as patch otherwise), pruned when no longer desired.
            ResourceType::StatefulSet
            | ResourceType::Service
            | ResourceType::ConfigMap
            | ResourceType::PodDisruptionBudget => {
                assert!(OWNED_TYPES.contains(&resource));
                grant(
                    &group,
                    plural,
                    &["get", "list", "watch", "create", "patch", "delete"],
                );
            }
            // Existing pods get the redis-role label; restarts go through the Eviction API.
            ResourceType::Pod => {
                grant(&group, plural, &["get", "list", "watch", "patch", "delete"]);
                grant(&group, "pods/eviction", &["create"]);
            }
            // Claims are created by the StatefulSet controller; resized and deleted here.
            ResourceType::PersistentVolumeClaim => {
                grant(&group, plural, &["get", "list", "watch", "patch", "delete"]);
            }
            // Passwords, TLS and ACL material: read only.
            ResourceType::Secret => grant(&group, plural, &["get", "list", "watch"]),
            ResourceType::Event => {
                grant("", plural, &["create", "patch"]);
                grant("events.k8s.io", plural, &["create", "patch"]);
            }
            // Cluster-scoped and read by no reconcile step (checked below), so not granted: a
            // namespace-scoped install could not grant it anyway.
            ResourceType::Node => {}
        }
    }
    needed
}

#[test]
fn the_role_grants_exactly_what_the_reconcile_does() {
    let path = root().join("deploy/kustomize/base/cluster-role.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let role = documents(&text, &path.display().to_string()).remove(0);
    let granted = grants(&role["rules"]);
    let needed = needed_grants();
    let missing: Vec<_> = needed.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&needed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{}: missing grants {missing:?}, grants beyond what the operator does {extra:?}",
        path.display()
    );
}

#[test]
fn no_reconcile_step_reads_nodes_so_the_role_grants_none() {
    // Nodes are cluster-scoped: reading them would need a ClusterRole even when only some
    // namespaces are watched. If this fails, grant nodes in a ClusterRole in both the kustomize
    // base and the chart, and extend needed_grants.
    let mut pending: Vec<PathBuf> = ["src/reconcile", "src/resources", "src/topology"]
        .iter()
        .map(|directory| root().join(directory))
        .collect();
    let mut files_read = 0;
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            files_read += 1;
            assert!(
                !text.contains("ResourceType::Node"),
                "{} uses ResourceType::Node, which the operator's role does not grant",
                path.display()
            );
        }
    }
    assert!(files_read > 0, "no reconcile source file was read");
}

fn go_bin() -> Option<PathBuf> {
    let output = Command::new("go").args(["env", "GOPATH"]).output().ok()?;
    let gopath = String::from_utf8(output.stdout).ok()?;
    Some(Path::new(gopath.trim()).join("bin"))
}

fn on_path(program: &str) -> bool {
    Command::new(program).arg("--help").output().is_ok()
}

fn kustomize(directory: &str) -> String {
    let target = root().join(directory);
    let mut command = if on_path("kubectl") {
        let mut command = Command::new("kubectl");
        command.arg("kustomize");
        command
    } else {
        let binary = go_bin()
            .map(|bin| bin.join("kustomize"))
            .filter(|path| path.exists())
            .expect("kustomize is needed: install kubectl, or run scripts/check-deploy to build kustomize");
        let mut command = Command::new(binary);
        command.arg("build");
        command
    };
    let output = command.arg(&target).output().unwrap();
    assert!(
        output.status.success(),
        "failed to kustomize {directory}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn helm(values: &[(&str, &str)]) -> String {
    let binary = go_bin()
        .map(|bin| bin.join("helm"))
        .filter(|path| path.exists())
        .or_else(|| on_path("helm").then(|| PathBuf::from("helm")))
        .expect("helm v3 is needed: run scripts/check-deploy, which builds it with go install");
    let mut command = Command::new(binary);
    command
        .args(["template", "redis-operator"])
        .arg(root().join("deploy/helm/redis-operator"))
        .args(["--namespace", "redis-operator"])
        // helm built from source assumes Kubernetes 1.20 unless told.
        .args(["--kube-version", "v1.34.0"]);
    for (key, value) in values {
        command.args(["--set-json", &format!("{key}={value}")]);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "failed to helm template with {values:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Deserializes `object` as `T` and serializes it back: a field the API type does not have is
/// dropped on the way, a field of the wrong type fails.
fn round_trip<T: DeserializeOwned + serde::Serialize>(object: &Value, source: &str) {
    let typed: T = serde_json::from_value(object.clone()).unwrap_or_else(|error| {
        panic!(
            "{source}: {} {} does not fit the API type: {error}",
            object["kind"], object["metadata"]["name"]
        )
    });
    let back = serde_json::to_value(&typed).unwrap();
    assert!(
        same(object, &back),
        "{source}: {} {} has fields the API type does not know (or of the wrong shape):\n{}",
        object["kind"],
        object["metadata"]["name"],
        difference(object, &back, "")
    );
}

/// Equal as JSON, where numbers are equal by value (schema bounds are floats in the API types:
/// `minimum: 1` comes back as `1.0`).
fn same(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(left), Value::Number(right)) => left.as_f64() == right.as_f64(),
        (Value::Object(left), Value::Object(right)) => {
            left.len() == right.len()
                && left
                    .iter()
                    .all(|(key, value)| right.get(key).is_some_and(|other| same(value, other)))
        }
        (Value::Array(left), Value::Array(right)) => {
            left.len() == right.len()
                && left
                    .iter()
                    .zip(right)
                    .all(|(value, other)| same(value, other))
        }
        _ => expected == actual,
    }
}

fn difference(expected: &Value, actual: &Value, path: &str) -> String {
    match (expected, actual) {
        (Value::Object(left), Value::Object(right)) => left
            .iter()
            .map(|(key, value)| {
                let inner = format!("{path}/{key}");
                match right.get(key) {
                    Some(other) => difference(value, other, &inner),
                    None => format!("{inner} is dropped\n"),
                }
            })
            .collect(),
        (Value::Array(left), Value::Array(right)) if left.len() == right.len() => left
            .iter()
            .zip(right)
            .enumerate()
            .map(|(index, (value, other))| difference(value, other, &format!("{path}/{index}")))
            .collect(),
        _ if same(expected, actual) => String::new(),
        _ => format!("{path}: {expected} became {actual}\n"),
    }
}

fn check_rendering(text: &str, source: &str) -> BTreeSet<String> {
    let mut kinds = BTreeSet::new();
    for object in documents(text, source) {
        let kind = object["kind"].as_str().unwrap().to_owned();
        match kind.as_str() {
            "Namespace" => round_trip::<Namespace>(&object, source),
            "ServiceAccount" => round_trip::<ServiceAccount>(&object, source),
            "ClusterRole" => round_trip::<ClusterRole>(&object, source),
            "ClusterRoleBinding" => round_trip::<ClusterRoleBinding>(&object, source),
            "Role" => round_trip::<Role>(&object, source),
            "RoleBinding" => round_trip::<RoleBinding>(&object, source),
            "Deployment" => round_trip::<Deployment>(&object, source),
            "Service" => round_trip::<Service>(&object, source),
            "CustomResourceDefinition" => round_trip::<CustomResourceDefinition>(&object, source),
            // Not a Kubernetes API type; scripts/check-deploy checks its references.
            "ServiceMonitor" => {}
            other => panic!("{source}: unexpected kind {other}"),
        }
        kinds.insert(kind);
    }
    kinds
}

#[test]
fn every_rendered_manifest_fits_the_kubernetes_api_types() {
    for directory in [
        "deploy/crds",
        "deploy/kustomize/base",
        "deploy/kustomize/overlays/single-namespace",
    ] {
        let kinds = check_rendering(&kustomize(directory), directory);
        assert!(
            kinds.contains("CustomResourceDefinition"),
            "{directory}: no CRDs"
        );
    }
    let variants: [&[(&str, &str)]; 4] = [
        &[],
        &[("watchNamespaces", r#"["team-a","team-b"]"#)],
        &[
            ("metrics.serviceMonitor.enabled", "true"),
            ("leaderElection.enabled", "false"),
        ],
        &[
            ("imagePullSecrets", r#"[{"name":"registry-credentials"}]"#),
            ("nodeSelector", r#"{"kubernetes.io/os":"linux"}"#),
            (
                "tolerations",
                r#"[{"key":"dedicated","operator":"Equal","value":"operators","effect":"NoSchedule"}]"#,
            ),
            (
                "affinity",
                r#"{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"kubernetes.io/arch","operator":"In","values":["amd64"]}]}]}}}"#,
            ),
            ("priorityClassName", r#""system-cluster-critical""#),
            ("podAnnotations", r#"{"example.com/note":"x"}"#),
            ("extraEnv", r#"[{"name":"RUST_BACKTRACE","value":"1"}]"#),
            ("serviceAccount.annotations", r#"{"example.com/role":"x"}"#),
        ],
    ];
    for values in variants {
        let source = format!("helm template {values:?}");
        let kinds = check_rendering(&helm(values), &source);
        assert!(kinds.contains("Deployment"), "{source}: no Deployment");
    }
}

const CHART: &str = "deploy/helm/redis-operator";

/// Every key path of a values document (`a.b.c`), at any depth.
fn value_paths(value: &Value, prefix: &str, paths: &mut BTreeSet<String>) {
    if let Some(map) = value.as_object() {
        for (key, child) in map {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            paths.insert(path.clone());
            value_paths(child, &path, paths);
        }
    }
}

/// The schema node of `path`, walking `properties`; `None` where the schema has none.
fn schema_node<'a>(schema: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(schema, |node, key| node.get("properties")?.get(key))
}

/// Whether `path` is described by the schema: its own node, or a free-form ancestor (an object
/// the schema types without listing its properties, such as `resources`).
fn schema_describes(schema: &Value, path: &str) -> bool {
    let keys: Vec<&str> = path.split('.').collect();
    (1..=keys.len()).any(|length| {
        let prefix = keys[..length].join(".");
        schema_node(schema, &prefix)
            .is_some_and(|node| length == keys.len() || node.get("properties").is_none())
    })
}

/// The values the chart's README documents: the first cell of each row of its values table.
fn documented_values(readme: &str) -> Vec<String> {
    let table = readme
        .split("## Values")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the chart's README has a Values section");
    table
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|cell| cell.split('`').next())
        .map(str::to_owned)
        .collect()
}

/// The chart's README lists every value of `values.yaml` (a value of a free-form object, such as
/// `resources.limits.memory`, by that object) and nothing else; `values.schema.json` describes
/// every value, and declares no value of its own that `values.yaml` lacks besides the reference
/// chart's keys it refuses.
#[test]
fn the_chart_readme_and_schema_describe_exactly_the_values() {
    let chart = root().join(CHART);
    let values: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(chart.join("values.yaml")).unwrap())
            .unwrap();
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(chart.join("values.schema.json")).unwrap())
            .expect("values.schema.json is JSON");
    let readme = std::fs::read_to_string(chart.join("README.md")).unwrap();
    let mut paths = BTreeSet::new();
    value_paths(&values, "", &mut paths);
    let documented = documented_values(&readme);
    assert!(
        documented.len() >= 30,
        "the README's values table lists {documented:?}"
    );
    let documented_set: BTreeSet<&str> = documented.iter().map(String::as_str).collect();
    assert_eq!(
        documented_set.len(),
        documented.len(),
        "a value is listed twice"
    );
    for row in &documented {
        assert!(
            paths.contains(row),
            "the README documents {row}, which values.yaml does not have"
        );
    }
    for path in &paths {
        let keys: Vec<&str> = path.split('.').collect();
        let covered = (1..=keys.len())
            .any(|length| documented_set.contains(keys[..length].join(".").as_str()));
        let has_documented_descendant = documented
            .iter()
            .any(|row| row.starts_with(&format!("{path}.")));
        assert!(
            covered || has_documented_descendant,
            "values.yaml has {path}, which the README's values table does not list"
        );
        assert!(
            schema_describes(&schema, path),
            "values.schema.json does not describe {path}"
        );
    }
    let mut declared = BTreeSet::new();
    let mut pending = vec![(String::new(), &schema)];
    while let Some((prefix, node)) = pending.pop() {
        for (key, child) in node
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            let refused = child["description"]
                .as_str()
                .is_some_and(|text| text.starts_with("A value of the reference operator's chart"));
            if !refused {
                declared.insert(path.clone());
                pending.push((path, child));
            }
        }
    }
    let undeclared: Vec<&String> = declared.difference(&paths).collect();
    assert!(
        undeclared.is_empty(),
        "values.schema.json declares values that values.yaml lacks: {undeclared:?}"
    );
    assert_eq!(
        schema["additionalProperties"], false,
        "values.schema.json refuses unknown top-level keys"
    );
}
