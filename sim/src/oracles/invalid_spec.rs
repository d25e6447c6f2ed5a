//! While a CR's spec is invalid, a reconcile of it writes nothing but that CR's status and its
//! Events: no child object is applied, deleted or evicted, and no command that changes Redis is
//! sent. What the last valid spec built stays as it is until the spec is valid again; a person
//! reads the reason in the status. A CR being deleted is not judged (its finalizer goes whatever
//! its spec says).
//!
//! Used by the scenarios after each reconcile (unless the operator's reads may lag, when the
//! reconcile may have seen an older, valid spec) and by the transition fuzzer, whose events
//! include edits that make the spec invalid and edits that repair it. It reads only.

use redis_operator::api::Kind;
use redis_operator::api::document::validate_value;
use redis_operator::json_pointer::JsonPointer;
use redis_operator::ports::kube::ObjectRef;
use redis_operator::reconcile::Request;
use serde_json::Value;

use super::Violation;

/// The oracle's name in reports.
pub const ORACLE: &str = "an invalid spec changes nothing";

/// Whether `object`, a CR of `kind`, has a spec the operator refuses and is not being deleted.
pub fn spec_is_invalid(kind: Kind, object: &Value) -> bool {
    let deleting = object
        .at("/metadata/deletionTimestamp")
        .is_some_and(|time| !time.is_null());
    !deleting && validate_value(kind, object).is_err()
}

/// The requests of a reconcile of `target`, whose spec is invalid, that write anything but its
/// status and Events.
pub fn writes_beyond_the_status(target: &ObjectRef, executed: &[Request]) -> Vec<Violation> {
    executed
        .iter()
        .filter(|request| request.is_write())
        .filter_map(|request| {
            let write = match request {
                Request::ApplyStatus { object, .. } if object == target => return None,
                Request::Event(_) => return None,
                Request::Apply(object) => format!(
                    "applied {} {}",
                    object["kind"].as_str().unwrap_or("an object"),
                    object
                        .at("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                ),
                Request::ApplyStatus { object, .. } => format!("wrote the status of {object}"),
                Request::RemoveFinalizer { object, .. } => {
                    format!("removed the finalizer of {object}")
                }
                Request::Delete { object, .. } => format!("deleted {object}"),
                Request::Evict(pod) => format!("evicted {pod}"),
                Request::Redis { endpoint, command } => {
                    format!("sent {command:?} to {}", endpoint.pod)
                }
                Request::MoveSlotKeys { source, slot, .. } => {
                    format!("moved the keys of slot {slot} from {}", source.pod)
                }
            };
            Some(Violation::new(
                ORACLE,
                format!("{target} has an invalid spec, and its reconcile {write}"),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_operator::ports::kube::ResourceType;
    use serde_json::json;

    fn cluster(size: i64) -> Value {
        json!({
            "apiVersion": "redis.redis.opstreelabs.in/v1beta2",
            "kind": "RedisCluster",
            "metadata": {"name": "shop", "namespace": "default"},
            "spec": {"clusterSize": size, "kubernetesConfig": {"image": "redis:7.2"}},
        })
    }

    #[test]
    fn a_spec_the_operator_refuses_is_invalid_until_its_deletion() {
        assert!(!spec_is_invalid(Kind::RedisCluster, &cluster(3)));
        assert!(spec_is_invalid(Kind::RedisCluster, &cluster(2)));
        let mut deleting = cluster(2);
        deleting["metadata"]["deletionTimestamp"] = json!("2026-12-06T00:00:00Z");
        assert!(!spec_is_invalid(Kind::RedisCluster, &deleting));
    }

    #[test]
    fn only_the_status_and_events_of_the_cr_itself_are_allowed() {
        let target = ObjectRef::new(ResourceType::RedisCluster, "default", "shop");
        let other = ObjectRef::new(ResourceType::RedisCluster, "default", "other");
        let status = |object: &ObjectRef| Request::ApplyStatus {
            object: object.clone(),
            status: json!({}),
            resource_version: None,
        };
        let allowed = [status(&target)];
        assert!(writes_beyond_the_status(&target, &allowed).is_empty());
        let forbidden = [
            status(&other),
            Request::Evict(ObjectRef::new(
                ResourceType::Pod,
                "default",
                "shop-leader-0",
            )),
            Request::Apply(json!({"kind": "StatefulSet", "metadata": {"name": "shop-leader"}})),
        ];
        let violations = writes_beyond_the_status(&target, &forbidden);
        assert_eq!(violations.len(), 3);
        assert!(
            violations[2]
                .message
                .contains("applied StatefulSet shop-leader")
        );
    }
}
