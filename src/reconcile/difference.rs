//! Whether an owned object needs a write: the object the operator would apply, compared with the
//! live one.
//!
//! Two checks, both pure: the hash of what the operator last applied (recorded in an annotation
//! of the object) catches fields the operator stopped setting, which server-side apply then
//! removes; a subset comparison catches drift made by others. Fields the API server adds
//! (defaults, status, metadata) never count as a difference.

use crate::json_pointer::JsonPointer;
use serde_json::Value;

use crate::api::quantity::parse_quantity;
use crate::resources::config::ContentHasher;

/// Annotation on every applied object: hash of what the operator applied.
pub const APPLIED_HASH_ANNOTATION: &str = "redis.opstreelabs.in/applied-hash";

/// Hash of a desired object (without its applied-hash annotation).
pub fn desired_hash(desired: &Value) -> String {
    if applied_hash(desired).is_none() {
        return hash_of_json(desired);
    }
    let mut copy = desired.clone();
    remove_applied_hash(&mut copy);
    hash_of_json(&copy)
}

/// The applied-hash annotation of `object`, when it carries one.
fn applied_hash(object: &Value) -> Option<&Value> {
    object
        .at("/metadata/annotations")?
        .get(APPLIED_HASH_ANNOTATION)
}

/// [`content_hash`](crate::resources::config::content_hash) of the compact JSON text of `value`,
/// computed as the text is written.
fn hash_of_json(value: &Value) -> String {
    let mut hasher = ContentHasher::default();
    // Writing into the hasher cannot fail, and a `Value` always serializes.
    let _ = serde_json::to_writer(&mut hasher, value);
    hasher.finish()
}

fn remove_applied_hash(object: &mut Value) {
    if let Some(annotations) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(APPLIED_HASH_ANNOTATION);
    }
}

/// The desired object with its applied-hash annotation set.
pub fn with_applied_hash(mut desired: Value) -> Value {
    set_applied_hash(&mut desired);
    desired
}

/// Sets the applied-hash annotation of `desired` to the hash of the rest of it.
pub fn set_applied_hash(desired: &mut Value) {
    remove_applied_hash(desired);
    let hash = hash_of_json(desired);
    if let Some(metadata) = desired.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = metadata
            .entry("annotations")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(APPLIED_HASH_ANNOTATION.to_owned(), Value::from(hash));
        }
    }
}

/// True when applying `desired` (carrying its applied hash) would change `live`.
pub fn needs_apply(desired: &Value, live: Option<&Value>) -> bool {
    let Some(live) = live else { return true };
    applied_hash(desired) != applied_hash(live) || !is_subset(desired, live)
}

/// True when every field of `part` is present in `whole` with an equal value.
pub fn is_subset(part: &Value, whole: &Value) -> bool {
    match (part, whole) {
        (Value::Object(part), Value::Object(whole)) => {
            part.iter().all(|(key, value)| match whole.get(key) {
                Some(found) => is_subset(value, found),
                None => value.is_null() || is_empty_container(value),
            })
        }
        (Value::Array(part), Value::Array(whole)) => {
            part.len() == whole.len()
                && part
                    .iter()
                    .zip(whole)
                    .all(|(left, right)| is_subset(left, right))
        }
        (Value::Number(left), Value::Number(right)) => left.as_f64() == right.as_f64(),
        (Value::String(left), Value::String(right)) => left == right || same_quantity(left, right),
        (Value::Number(number), Value::String(text))
        | (Value::String(text), Value::Number(number)) => number
            .as_f64()
            .is_some_and(|value| same_quantity(&value.to_string(), text)),
        (left, right) => left == right,
    }
}

fn is_empty_container(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// The API server writes quantities in canonical form ("1000m" becomes "1"), so two texts that
/// are the same quantity are the same value.
fn same_quantity(left: &str, right: &str) -> bool {
    let starts_numeric = |text: &str| {
        text.starts_with(|character: char| character.is_ascii_digit() || character == '.')
    };
    starts_numeric(left)
        && starts_numeric(right)
        && matches!((parse_quantity(left), parse_quantity(right)), (Ok(a), Ok(b)) if (a - b).abs() <= f64::EPSILON * a.abs().max(1.0))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{APPLIED_HASH_ANNOTATION, desired_hash, is_subset, needs_apply, with_applied_hash};
    use crate::resources::config::content_hash;

    #[test]
    fn the_hash_is_that_of_the_json_text_without_the_applied_hash() {
        let plain = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"n": [1, 2]}});
        assert_eq!(desired_hash(&plain), content_hash(&plain.to_string()));
        let annotated = with_applied_hash(plain.clone());
        assert_eq!(
            annotated["metadata"]["annotations"][APPLIED_HASH_ANNOTATION],
            json!(desired_hash(&plain))
        );
        let mut stale = plain.clone();
        stale["metadata"]["annotations"] = json!({APPLIED_HASH_ANNOTATION: "old", "keep": "me"});
        let mut expected = plain;
        expected["metadata"]["annotations"] = json!({"keep": "me"});
        assert_eq!(desired_hash(&stale), content_hash(&expected.to_string()));
    }

    #[test]
    fn fields_the_api_server_adds_are_not_a_difference() {
        let desired =
            with_applied_hash(json!({"metadata": {"name": "a"}, "spec": {"ports": [{"port": 1}]}}));
        let mut live = desired.clone();
        live["metadata"]["resourceVersion"] = json!("7");
        live["spec"]["ports"][0]["targetPort"] = json!(1);
        live["status"] = json!({"ready": true});
        assert!(!needs_apply(&desired, Some(&live)));
    }

    #[test]
    fn drift_and_dropped_fields_are_a_difference() {
        let desired =
            with_applied_hash(json!({"metadata": {"name": "a"}, "spec": {"replicas": 3}}));
        let mut drifted = desired.clone();
        drifted["spec"]["replicas"] = json!(1);
        assert!(needs_apply(&desired, Some(&drifted)));
        let previous = with_applied_hash(
            json!({"metadata": {"name": "a"}, "spec": {"replicas": 3, "extra": 1}}),
        );
        assert!(
            needs_apply(&desired, Some(&previous)),
            "a field the operator stopped setting"
        );
        assert!(needs_apply(&desired, None));
    }

    #[test]
    fn canonical_quantities_equal_their_spelled_out_forms() {
        assert!(is_subset(&json!({"cpu": "1000m"}), &json!({"cpu": "1"})));
        assert!(is_subset(
            &json!({"memory": "1Gi"}),
            &json!({"memory": "1073741824"})
        ));
        assert!(!is_subset(&json!({"cpu": "100m"}), &json!({"cpu": "1"})));
        assert!(!is_subset(&json!({"name": "a"}), &json!({"name": "b"})));
    }
}
