//! Observation: the only reads of a reconcile. The CR, the objects it owns, its pods and claims,
//! gathered into one `Observed` value that the pure steps work from.
//!
//! It must not write anything and must not decide anything.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Context;
use crate::api::Kind;
use crate::ports::kube::{ApiError, ObjectRef, ResourceType};
use crate::resources::kinds::pod_identity;
use crate::resources::names::{
    APP_LABEL, INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGED_BY_LABEL_VALUE, SETUP_TYPE_LABEL,
};

/// The owned object types the operator diffs and prunes.
pub const OWNED_TYPES: [ResourceType; 4] = [
    ResourceType::ConfigMap,
    ResourceType::Service,
    ResourceType::StatefulSet,
    ResourceType::PodDisruptionBudget,
];

/// Everything one reconcile knows about a CR and its world.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// The CR, or `None` when it is gone.
    pub resource: Option<Value>,
    /// Objects the CR owns (labelled as ours and owned by this CR), by reference.
    pub children: BTreeMap<ObjectRef, Value>,
    /// The CR's pods, sorted by name.
    pub pods: Vec<Value>,
    /// The CR's PersistentVolumeClaims, sorted by name.
    pub claims: Vec<Value>,
}

impl Observed {
    /// The live object a desired object corresponds to.
    pub fn live(&self, desired: &Value) -> Option<&Value> {
        ObjectRef::of(desired).and_then(|reference| self.children.get(&reference))
    }
}

/// Reads the CR `target` (of `kind`) and everything it owns.
pub async fn observe(
    context: &Context,
    kind: Kind,
    target: &ObjectRef,
) -> Result<Observed, ApiError> {
    let kube = context.kube.as_ref();
    let Some(resource) = kube.get(target).await? else {
        return Ok(Observed::default());
    };
    let uid = resource
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let instance_labels = BTreeMap::from([
        (INSTANCE_LABEL.to_owned(), target.name.clone()),
        (
            MANAGED_BY_LABEL.to_owned(),
            MANAGED_BY_LABEL_VALUE.to_owned(),
        ),
    ]);
    let mut children = BTreeMap::new();
    for resource_type in OWNED_TYPES {
        for object in kube
            .list(resource_type, &target.namespace, &instance_labels)
            .await?
        {
            if is_owned_by(&object, &uid)
                && let Some(reference) = ObjectRef::of(&object)
            {
                children.insert(reference, object);
            }
        }
    }
    let (setup_type, apps) = pod_identity(kind, &target.name);
    let setup_labels = BTreeMap::from([(SETUP_TYPE_LABEL.to_owned(), setup_type.to_owned())]);
    let ours = |object: &Value| {
        object
            .pointer(&format!("/metadata/labels/{APP_LABEL}"))
            .and_then(Value::as_str)
            .is_some_and(|app| apps.iter().any(|expected| expected == app))
    };
    let pods = kube
        .list(ResourceType::Pod, &target.namespace, &setup_labels)
        .await?
        .into_iter()
        .filter(|pod| ours(pod))
        .collect();
    let claims = kube
        .list(
            ResourceType::PersistentVolumeClaim,
            &target.namespace,
            &setup_labels,
        )
        .await?
        .into_iter()
        .filter(|claim| ours(claim))
        .collect();
    Ok(Observed {
        resource: Some(resource),
        children,
        pods,
        claims,
    })
}

/// Whether `object` names the CR with `uid` as its controller (any owner when the CR has no uid,
/// as with objects rendered offline).
fn is_owned_by(object: &Value, uid: &str) -> bool {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| {
            owners.iter().any(|owner| {
                uid.is_empty() || owner.get("uid").and_then(Value::as_str) == Some(uid)
            })
        })
}
