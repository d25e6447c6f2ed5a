//! Our CRDs (`crds/`) serve every field of the reference operator's CRDs (`tests/compat/`): for
//! each reference kind, every field path of its v1beta2 schema (properties, `[]` for array items,
//! `{}` for map values) exists in ours with the same type (an integer-or-string and a field that
//! keeps unknown fields are compared as such), every printer column the reference prints ours
//! prints, and the status subresource is there. Fields ours adds are allowed.
//!
//! Release v0.19.0 must show no difference at all. Release v0.26.0 must show exactly the ones
//! listed in `tests/compat/v0.26.0/not-yet-served.txt`: serving a field means taking its line
//! out, and losing one fails. `REDIS_OPERATOR_WRITE_NOT_YET_SERVED=1` rewrites that list from the
//! comparison (then read the diff).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::end_to_end::yaml_files;

const VERSION: &str = "v1beta2";
const NOT_YET_SERVED: &str = "tests/compat/v0.26.0/not-yet-served.txt";

fn workspace(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Every CustomResourceDefinition in the YAML files of `directory`, by kind.
fn definitions(directory: &Path) -> BTreeMap<String, Value> {
    let files = yaml_files(directory);
    let mut by_kind = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let document: Value = serde::Deserialize::deserialize(document)
                .unwrap_or_else(|error| panic!("failed to parse {}: {error}", file.display()));
            if document["kind"] == "CustomResourceDefinition" {
                let kind = document["spec"]["names"]["kind"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                by_kind.insert(kind, document);
            }
        }
    }
    assert!(
        !by_kind.is_empty(),
        "no CustomResourceDefinition in {}",
        directory.display()
    );
    by_kind
}

/// The type a schema node declares, as compared: `int-or-string`, `any` for a node that keeps
/// unknown fields without a type, or its `type` (empty when it has none).
fn declared_type(schema: &Value) -> String {
    if schema["x-kubernetes-int-or-string"] == true {
        return "int-or-string".to_owned();
    }
    match schema["type"].as_str() {
        Some(kind) => kind.to_owned(),
        None if schema["x-kubernetes-preserve-unknown-fields"] == true => "any".to_owned(),
        None => String::new(),
    }
}

/// Every field path under `schema`, with its declared type.
fn field_paths(schema: &Value, path: &str, paths: &mut BTreeMap<String, String>) {
    if !schema.is_object() {
        return;
    }
    let shown = if path.is_empty() { "." } else { path };
    paths.insert(shown.to_owned(), declared_type(schema));
    if let Some(properties) = schema["properties"].as_object() {
        for (name, child) in properties {
            field_paths(child, &format!("{path}.{name}"), paths);
        }
    }
    if schema["items"].is_object() {
        field_paths(&schema["items"], &format!("{path}[]"), paths);
    }
    if schema["additionalProperties"].is_object() {
        field_paths(
            &schema["additionalProperties"],
            &format!("{path}{{}}"),
            paths,
        );
    }
}

fn served_version<'a>(definition: &'a Value, kind: &str) -> Option<&'a Value> {
    definition["spec"]["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("the {kind} CRD lists no versions"))
        .iter()
        .find(|version| version["name"] == VERSION)
}

/// What ours lacks of the reference, one line per difference, sorted.
fn differences(reference_directory: &Path) -> Vec<String> {
    let ours = definitions(&workspace("crds"));
    let mut found = Vec::new();
    for (kind, reference) in definitions(reference_directory) {
        let Some(reference_version) = served_version(&reference, &kind) else {
            continue;
        };
        let Some(our_definition) = ours.get(&kind) else {
            found.push(format!("{kind}: no CRD"));
            continue;
        };
        let Some(our_version) = served_version(our_definition, &kind) else {
            found.push(format!("{kind}: version {VERSION} not served"));
            continue;
        };
        let (mut theirs, mut mine) = (BTreeMap::new(), BTreeMap::new());
        field_paths(
            &reference_version["schema"]["openAPIV3Schema"],
            "",
            &mut theirs,
        );
        field_paths(&our_version["schema"]["openAPIV3Schema"], "", &mut mine);
        for (path, their_type) in &theirs {
            match mine.get(path) {
                None => found.push(format!("{kind}: missing {path} ({their_type})")),
                Some(my_type)
                    if !their_type.is_empty()
                        && !my_type.is_empty()
                        && their_type != my_type
                        && their_type != "any"
                        && my_type != "any" =>
                {
                    found.push(format!(
                        "{kind}: type of {path} is {my_type}, the reference's {their_type}"
                    ));
                }
                Some(_) => {}
            }
        }
        let columns = |version: &Value| -> BTreeSet<String> {
            version["additionalPrinterColumns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|column| column["name"].as_str().map(str::to_owned))
                .collect()
        };
        for column in columns(reference_version).difference(&columns(our_version)) {
            found.push(format!("{kind}: printer column {column} missing"));
        }
        if reference_version["subresources"].get("status").is_some()
            && our_version["subresources"].get("status").is_none()
        {
            found.push(format!("{kind}: status subresource missing"));
        }
    }
    found.sort();
    found
}

#[test]
fn every_field_of_the_reference_v0_19_0_is_served() {
    let found = differences(&workspace("tests/compat/v0.19.0/crds"));
    assert!(
        found.is_empty(),
        "{} differences from the reference v0.19.0 CRDs:\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_reference_v0_26_0_fields_not_yet_served_are_exactly_the_listed_ones() {
    let found = differences(&workspace("tests/compat/v0.26.0/crds"));
    let list = workspace(NOT_YET_SERVED);
    if std::env::var_os("REDIS_OPERATOR_WRITE_NOT_YET_SERVED").is_some() {
        std::fs::write(&list, found.join("\n") + "\n").unwrap();
    }
    let listed: Vec<String> = std::fs::read_to_string(&list)
        .unwrap_or_else(|error| panic!("failed to read {NOT_YET_SERVED}: {error}"))
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    let found_set: BTreeSet<&String> = found.iter().collect();
    let listed_set: BTreeSet<&String> = listed.iter().collect();
    let now_served: Vec<&&String> = listed_set.difference(&found_set).collect();
    let lost: Vec<&&String> = found_set.difference(&listed_set).collect();
    assert!(
        now_served.is_empty() && lost.is_empty(),
        "the comparison with the reference v0.26.0 CRDs differs from {NOT_YET_SERVED}\n\
         listed but served now (take them out of the list):\n{now_served:#?}\n\
         not served and not listed (a field lost, or a new difference):\n{lost:#?}"
    );
}
