//! The CRDs in crds/ are exactly what the code generates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

use redis_operator::api::Kind;
use redis_operator::api::crd::{file_name, render_yaml};

#[test]
fn crds_directory_matches_the_generated_definitions() {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    for kind in Kind::ALL {
        let path = directory.join(file_name(kind));
        let generated = render_yaml(kind).expect("the CRD renders as YAML");
        let kept = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("failed to read {}: {error}", path.display()));
        assert!(
            kept == generated,
            "{} differs from the CRD the code generates; regenerate with \
             `cargo run -- crd --output-dir crds` and commit the result",
            path.display()
        );
    }
}

/// `kubectl get` on any of the four kinds shows whether it is Ready and why (its Ready
/// condition) and its age, beside the reference operator's own columns; each kind has a short
/// name, and `kubectl get redis-operator` lists all four.
#[test]
fn every_kind_prints_its_ready_condition_and_age() {
    let ready = r#".status.conditions[?(@.type=="Ready")]"#;
    let mut short_names = Vec::new();
    for kind in Kind::ALL {
        let definition = redis_operator::api::crd::custom_resource_definition(kind);
        let names = &definition.spec.names;
        assert_eq!(
            names.categories.as_deref(),
            Some(&["redis-operator".to_owned()][..]),
            "{kind:?}"
        );
        short_names.extend(names.short_names.clone().unwrap_or_default());
        let version = &definition.spec.versions[0];
        let columns = version.additional_printer_columns.as_deref().unwrap_or(&[]);
        let column = |name: &str| {
            columns
                .iter()
                .filter(|column| column.name == name)
                .map(|column| column.json_path.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(column("Ready"), vec![format!("{ready}.status")], "{kind:?}");
        assert_eq!(
            column("Age"),
            vec![".metadata.creationTimestamp"],
            "{kind:?}"
        );
        // The reference's RedisCluster already prints `.status.reason` as Reason; it stays.
        let reason = if kind == Kind::RedisCluster {
            ".status.reason".to_owned()
        } else {
            format!("{ready}.reason")
        };
        assert_eq!(column("Reason"), vec![reason], "{kind:?}");
    }
    let mut distinct = short_names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        4,
        "one short name per kind: {short_names:?}"
    );
    // A short name Kubernetes' own resources use would be ambiguous in kubectl.
    let built_in = [
        "cm", "crd", "csr", "deploy", "ds", "ep", "ev", "hpa", "ing", "limits", "netpol", "no",
        "ns", "pc", "pdb", "po", "pv", "pvc", "quota", "rc", "rs", "sa", "sc", "sts", "svc",
    ];
    for name in &short_names {
        assert!(
            !built_in.contains(&name.as_str()),
            "{name} is a Kubernetes short name"
        );
    }
}
