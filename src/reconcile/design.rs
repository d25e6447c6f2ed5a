//! The design of a CR: what its manifest makes of it — the validated spec and, when valid, every
//! object it should own, each carrying its applied hash — and a memo of it per CR.
//!
//! Building the design is pure and depends on the manifest alone; it is the dearest part of a
//! converged reconcile (schema validation, building and serializing a dozen objects, hashing
//! them). The memo keeps the last design of each CR and returns it while the manifest is
//! unchanged, so a periodic reconcile of a healthy CR does not rebuild it. The memo must never
//! change what a reconcile decides: it is keyed by the whole manifest, and what it returns is
//! exactly what building would return. It performs no I/O.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use super::difference::set_applied_hash;
use crate::api::Kind;
use crate::api::document::{ValidatedResource, validate_value};
use crate::api::validation::FieldError;
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
    /// Validates the manifest `resource` of `kind` and builds what it should own.
    pub fn build(kind: Kind, resource: &Value) -> Design {
        let validated = validate_value(kind, resource);
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
    /// The design of the CR `target` whose manifest is `resource`: the remembered one when the
    /// manifest equals the one it was built from, otherwise a new one, remembered in its place.
    pub fn design(&self, kind: Kind, target: &ObjectRef, resource: &Value) -> Arc<Design> {
        let remembered = self
            .lock()
            .get(target)
            .filter(|(manifest, _)| *manifest == *resource)
            .map(|(_, design)| Arc::clone(design));
        if let Some(design) = remembered {
            return design;
        }
        let design = Arc::new(Design::build(kind, resource));
        self.lock()
            .insert(target.clone(), (resource.clone(), Arc::clone(&design)));
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
