//! Builders of the Kubernetes objects each kind owns, and the names, labels and ports they use.
//!
//! Builders are pure: a validated spec in, objects out; no client, no `.await`.

pub mod config;
pub mod disruption_budget;
pub mod group;
pub mod kinds;
pub mod names;
pub mod service;
pub mod statefulset;

use serde::Serialize;
use serde_json::Value;

use self::group::PodGroup;
use crate::api::document::ValidatedResource;
use crate::ports::kube::ResourceType;

/// The objects a CR should own, in the order they are applied: configuration first (pods need
/// it), then Services, StatefulSets and PodDisruptionBudgets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DesiredObjects {
    /// Each object as JSON, with `apiVersion` and `kind`.
    pub objects: Vec<Value>,
}

impl DesiredObjects {
    /// The desired objects of one type.
    pub fn of_type(&self, resource: ResourceType) -> impl Iterator<Item = &Value> {
        self.objects.iter().filter(move |object| {
            crate::ports::kube::ObjectRef::of(object)
                .is_some_and(|reference| reference.resource == resource)
        })
    }
}

fn to_value<T: Serialize>(resource: ResourceType, object: &T) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("apiVersion".to_owned(), Value::from(resource.api_version()));
        map.insert("kind".to_owned(), Value::from(resource.kind()));
    }
    value
}

/// The groups of pods of a validated CR.
pub fn groups_of(resource: &ValidatedResource) -> Vec<PodGroup<'_>> {
    match resource {
        ValidatedResource::Redis(object, validated) => vec![kinds::redis_group(object, validated)],
        ValidatedResource::RedisReplication(object, validated) => {
            vec![kinds::replication_group(object, validated)]
        }
        ValidatedResource::RedisSentinel(object, validated) => {
            vec![kinds::sentinel_group(object, validated)]
        }
        ValidatedResource::RedisCluster(object, validated) => {
            kinds::cluster_groups(object, validated).into()
        }
    }
}

/// Every object the CR should own.
pub fn desired_objects(resource: &ValidatedResource) -> DesiredObjects {
    let groups = groups_of(resource);
    let mut objects = Vec::new();
    for group in &groups {
        objects.push(to_value(
            ResourceType::ConfigMap,
            &config::build_config_map(group),
        ));
    }
    for group in &groups {
        for service in service::build_group_services(group) {
            objects.push(to_value(ResourceType::Service, &service));
        }
        if matches!(resource, ValidatedResource::RedisReplication(..)) {
            for service in service::build_replication_role_services(group) {
                objects.push(to_value(ResourceType::Service, &service));
            }
        }
        for service in service::build_node_port_services(group) {
            objects.push(to_value(ResourceType::Service, &service));
        }
    }
    for group in &groups {
        objects.push(to_value(
            ResourceType::StatefulSet,
            &statefulset::build_statefulset(group),
        ));
    }
    for group in &groups {
        if let Some(budget) = disruption_budget::build_disruption_budget(group) {
            objects.push(to_value(ResourceType::PodDisruptionBudget, &budget));
        }
    }
    DesiredObjects { objects }
}
