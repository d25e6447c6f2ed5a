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
