//! The design of a CR: what its manifest makes of it — the validated spec and, when valid, every
//! object it should own, each carrying its applied hash — and a memo of it per CR.
//!
//! Building the design is pure and depends on the manifest alone; it is the dearest part of a
//! converged reconcile (schema validation, building and serializing a dozen objects, hashing
//! them). The memo keeps the last design of each CR and returns it while the manifest is
//! unchanged, so a periodic reconcile of a healthy CR, or one that only wrote its status, does not
//! rebuild it. The memo must never change what a reconcile decides: a design is built from the
//! manifest without what the API server and the operator write into it (the status, the
//! resource version, the field managers), it is keyed by exactly that, and what the memo returns
//! is exactly what building would return. It performs no I/O.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use super::difference::set_applied_hash;
use crate::api::Kind;
use crate::api::document::{ValidatedResource, validate_value};
use crate::api::field_error::FieldError;
use crate::ports::kube::ObjectRef;
use crate::resources::{DesiredObjects, desired_objects};

/// What a CR's manifest makes of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Design {
    /// The spec validated, or what is wrong with it.
    pub validated: Result<ValidatedResource, Vec<FieldError>>,
    /// Every object a valid CR should own, each with its applied-hash annotation set; empty for
    /// an invalid CR.
    pub desired: DesiredObjects,
}

impl Design {
    /// Validates the manifest `resource` of `kind` and builds what it should own; the status,
    /// resource version and field managers of `resource` are not read.
    pub fn build(kind: Kind, resource: &Value) -> Design {
        Design::build_from_manifest(kind, &manifest_of(resource))
    }

    fn build_from_manifest(kind: Kind, manifest: &Value) -> Design {
        let validated = validate_value(kind, manifest);
        let desired = match &validated {
            Ok(valid) => {
                let mut desired = desired_objects(valid);
                for object in &mut desired.objects {
                    set_applied_hash(object);
                }
                desired
            }
            Err(_) => DesiredObjects::default(),
        };
        Design { validated, desired }
    }
}

/// The last design of each CR, with the manifest it was built from.
#[derive(Debug, Default)]
pub struct DesignMemo {
    designs: Mutex<BTreeMap<ObjectRef, (Value, Arc<Design>)>>,
}

impl DesignMemo {
    /// The design of the CR `target` whose object is `resource`: the remembered one when its
    /// manifest equals the one that design was built from, otherwise a new one, remembered in its
    /// place.
    pub fn design(&self, kind: Kind, target: &ObjectRef, resource: &Value) -> Arc<Design> {
        let remembered = self
            .lock()
            .get(target)
            .filter(|(manifest, _)| same_manifest(manifest, resource))
            .map(|(_, design)| Arc::clone(design));
        if let Some(design) = remembered {
            return design;
        }
        let manifest = manifest_of(resource);
        let design = Arc::new(Design::build_from_manifest(kind, &manifest));
        self.lock()
            .insert(target.clone(), (manifest, Arc::clone(&design)));
        design
    }

    /// Drops what is remembered of `target` (the CR is gone).
    pub fn forget(&self, target: &ObjectRef) {
        self.lock().remove(target);
    }

    /// How many CRs have a remembered design.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no design is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ObjectRef, (Value, Arc<Design>)>> {
        // The map is consistent after every statement that changes it, so a panic elsewhere while
        // the lock was held leaves nothing half-done.
        self.designs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the API server and the operator write into a CR, which its design must not read.
const WRITTEN_BY_OTHERS: [&str; 2] = ["resourceVersion", "managedFields"];

/// `resource` without its status, resource version and field managers.
fn manifest_of(resource: &Value) -> Value {
    let mut manifest = resource.clone();
    if let Some(object) = manifest.as_object_mut() {
        object.remove("status");
        if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in WRITTEN_BY_OTHERS {
                metadata.remove(field);
            }
        }
    }
    manifest
}

/// Whether `resource` is `manifest` once its status, resource version and field managers are
/// left out; compares in place, as most reconciles find the manifest unchanged.
fn same_manifest(manifest: &Value, resource: &Value) -> bool {
    let (Some(manifest), Some(resource)) = (manifest.as_object(), resource.as_object()) else {
        return manifest == resource;
    };
    let (left, right) = (
        entries_without(manifest, &["status"]),
        entries_without(resource, &["status"]),
    );
    left.len() == right.len()
        && left
            .iter()
            .zip(&right)
            .all(|((left_key, left_value), (right_key, right_value))| {
                left_key == right_key
                    && if *left_key == "metadata" {
                        same_metadata(left_value, right_value)
                    } else {
                        left_value == right_value
                    }
            })
}

/// Whether two `metadata` objects are equal once the fields others write are left out.
fn same_metadata(manifest: &Value, resource: &Value) -> bool {
    match (manifest.as_object(), resource.as_object()) {
        (Some(manifest), Some(resource)) => {
            entries_without(manifest, &WRITTEN_BY_OTHERS)
                == entries_without(resource, &WRITTEN_BY_OTHERS)
        }
        _ => manifest == resource,
    }
}

/// The entries of `object` in key order, but those named in `skipped`.
fn entries_without<'object>(
    object: &'object serde_json::Map<String, Value>,
    skipped: &[&str],
) -> Vec<(&'object str, &'object Value)> {
    object
        .iter()
        .filter(|(key, _)| !skipped.contains(&key.as_str()))
        .map(|(key, value)| (key.as_str(), value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::kube::ResourceType;
    use serde_json::json;

    fn cluster(size: u64) -> Value {
        json!({
            "apiVersion": "redis.redis.opstreelabs.in/v1beta2",
            "kind": "RedisCluster",
            "metadata": {"name": "orders", "namespace": "default", "uid": "0c6f"},
            "spec": {
                "clusterSize": size,
                "kubernetesConfig": {"image": "quay.io/opstree/redis:v7.0.12"},
            },
        })
    }

    #[test]
    fn a_remembered_design_is_the_one_building_gives() {
        let memo = DesignMemo::default();
        let target = ObjectRef::new(ResourceType::RedisCluster, "default", "orders");
        let first = memo.design(Kind::RedisCluster, &target, &cluster(3));
        assert!(first.validated.is_ok());
        assert!(!first.desired.objects.is_empty());
        let again = memo.design(Kind::RedisCluster, &target, &cluster(3));
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(*again, Design::build(Kind::RedisCluster, &cluster(3)));
    }

    #[test]
    fn what_others_write_into_the_cr_does_not_change_its_design() {
        let memo = DesignMemo::default();
        let target = ObjectRef::new(ResourceType::RedisCluster, "default", "orders");
        let first = memo.design(Kind::RedisCluster, &target, &cluster(3));
        let mut written = cluster(3);
        written["status"] = json!({"state": "Ready", "readyLeaderReplicas": 3});
        written["metadata"]["resourceVersion"] = json!("42");
        written["metadata"]["managedFields"] = json!([{"manager": "redis-operator"}]);
        let again = memo.design(Kind::RedisCluster, &target, &written);
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(*again, Design::build(Kind::RedisCluster, &written));
        // A label is part of the manifest.
        let mut labelled = written.clone();
        labelled["metadata"]["labels"] = json!({"team": "payments"});
        let relabelled = memo.design(Kind::RedisCluster, &target, &labelled);
        assert!(!Arc::ptr_eq(&first, &relabelled));
        assert_eq!(*relabelled, Design::build(Kind::RedisCluster, &labelled));
    }

    #[test]
    fn a_changed_manifest_is_designed_anew() {
        let memo = DesignMemo::default();
        let target = ObjectRef::new(ResourceType::RedisCluster, "default", "orders");
        let three = memo.design(Kind::RedisCluster, &target, &cluster(3));
        let six = memo.design(Kind::RedisCluster, &target, &cluster(6));
        assert_ne!(three.desired, six.desired);
        assert_eq!(*six, Design::build(Kind::RedisCluster, &cluster(6)));
        assert_eq!(memo.len(), 1);
        memo.forget(&target);
        assert!(memo.is_empty());
    }

    #[test]
    fn an_invalid_manifest_owns_nothing() {
        let invalid = json!({
            "apiVersion": "redis.redis.opstreelabs.in/v1beta2",
            "kind": "RedisCluster",
            "metadata": {"name": "orders", "namespace": "default"},
            "spec": {"clusterSize": "three"},
        });
        let design = Design::build(Kind::RedisCluster, &invalid);
        assert!(design.validated.is_err());
        assert!(design.desired.objects.is_empty());
    }

    #[test]
    fn every_desired_object_carries_its_applied_hash() {
        let design = Design::build(Kind::RedisCluster, &cluster(3));
        for object in &design.desired.objects {
            assert!(
                object["metadata"]["annotations"]
                    [crate::reconcile::difference::APPLIED_HASH_ANNOTATION]
                    .is_string(),
                "{object}"
            );
        }
    }
}
