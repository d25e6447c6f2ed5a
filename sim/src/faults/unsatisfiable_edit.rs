//! Spec edits no node of the simulated cluster can satisfy, and the patches that revert them: the
//! one definition the property generators and the transition fuzzer draw from. It only builds
//! merge patches; applying them, and naming the image the registry lacks in the world's
//! settings, is the caller's.

use redis_operator::api::Kind;
use serde_json::{Value, json};

/// An image the registry of the simulated cluster is told to lack (`cluster.missingImages`).
pub const MISSING_IMAGE: &str = "redis:7.2-does-not-exist";
/// A node label no node of the simulated cluster carries.
const LABEL_NO_NODE_HAS: (&str, &str) = ("disk", "nvme");
/// A memory request (and limit) no node of the simulated cluster holds.
const MEMORY_NO_NODE_HOLDS: &str = "1000Gi";

/// A spec edit no node can satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnsatisfiableEdit {
    /// A nodeSelector no node matches.
    NodeSelector,
    /// A required node affinity no node matches.
    NodeAffinity,
    /// A memory request no node can hold.
    Requests,
    /// An image the registry lacks.
    MissingImage,
}

impl UnsatisfiableEdit {
    /// Every edit, in the order the fuzzer's choice byte picks them.
    pub const ALL: [UnsatisfiableEdit; 4] = [
        UnsatisfiableEdit::NodeSelector,
        UnsatisfiableEdit::NodeAffinity,
        UnsatisfiableEdit::Requests,
        UnsatisfiableEdit::MissingImage,
    ];

    /// The merge patch that makes the spec of a `kind` CR one no node can satisfy, and the one
    /// that reverts it: to `resources` (the `kubernetesConfig.resources` before the edit, null
    /// for none) and to `image`. A cluster places its leaders and followers each by its own
    /// fields, so both get the placement edit.
    pub fn patches(self, kind: Kind, resources: &Value, image: &str) -> (Value, Value) {
        let (label, value) = LABEL_NO_NODE_HAS;
        let placement = match self {
            UnsatisfiableEdit::NodeSelector => ("nodeSelector", json!({label: value})),
            UnsatisfiableEdit::NodeAffinity => (
                "affinity",
                json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [
                        {"key": label, "operator": "In", "values": [value]}]}]}}}),
            ),
            UnsatisfiableEdit::Requests => {
                let memory = json!({"memory": MEMORY_NO_NODE_HOLDS});
                return (
                    json!({"kubernetesConfig": {"resources": {
                        "requests": memory.clone(), "limits": memory}}}),
                    json!({"kubernetesConfig": {"resources": resources}}),
                );
            }
            UnsatisfiableEdit::MissingImage => {
                return (
                    json!({"kubernetesConfig": {"image": MISSING_IMAGE}}),
                    json!({"kubernetesConfig": {"image": image}}),
                );
            }
        };
        let (field, value) = placement;
        if kind == Kind::RedisCluster {
            (
                json!({"redisLeader": {field: value.clone()}, "redisFollower": {field: value}}),
                json!({"redisLeader": {field: null}, "redisFollower": {field: null}}),
            )
        } else {
            (json!({field: value}), json!({field: null}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_gets_each_placement_edit_on_both_roles_and_every_revert_restores_what_was_there() {
        let (edit, revert) =
            UnsatisfiableEdit::NodeSelector.patches(Kind::RedisCluster, &Value::Null, "redis:7.2");
        assert_eq!(edit["redisLeader"]["nodeSelector"]["disk"], "nvme");
        assert_eq!(edit["redisFollower"]["nodeSelector"]["disk"], "nvme");
        assert!(revert["redisLeader"]["nodeSelector"].is_null());
        let resources = json!({"requests": {"memory": "128Mi"}});
        let (edit, revert) =
            UnsatisfiableEdit::Requests.patches(Kind::RedisReplication, &resources, "redis:7.2");
        assert_eq!(
            edit["kubernetesConfig"]["resources"]["limits"]["memory"],
            MEMORY_NO_NODE_HOLDS
        );
        assert_eq!(revert["kubernetesConfig"]["resources"], resources);
        let (edit, revert) =
            UnsatisfiableEdit::MissingImage.patches(Kind::Redis, &Value::Null, "redis:7.0");
        assert_eq!(edit["kubernetesConfig"]["image"], MISSING_IMAGE);
        assert_eq!(revert["kubernetesConfig"]["image"], "redis:7.0");
    }
}
