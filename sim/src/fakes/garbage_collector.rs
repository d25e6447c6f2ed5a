//! The garbage collector of the fake API server: deleting an owner deletes its dependents
//! (background and foreground propagation) or strips their owner references (orphan), and an
//! object with finalizers is only marked with a deletionTimestamp until they are removed.
//!
//! It runs inside the API server's write, under its lock, as the real collector's outcome would
//! be seen by the next read; it never waits or runs on its own.

use redis_operator::json_pointer::JsonPointer;
use std::sync::Arc;

use redis_operator::ports::clock::rfc3339;
use redis_operator::ports::kube::{ObjectRef, Propagation};
use serde_json::Value;

use crate::fakes::api_server::{FakeApiServer, State};

/// Marks an object as being deleted, as `kubectl delete` on an object with finalizers does.
pub fn mark_deleted(server: &FakeApiServer, reference: &ObjectRef) {
    let now = rfc3339(server.clock.now());
    let mut state = server.lock();
    FakeApiServer::remove_or_mark(&mut state, reference, Propagation::Background, &now);
}

impl FakeApiServer {
    /// Deletes dependents of `owner` (or orphans them).
    pub(crate) fn collect_garbage(
        state: &mut State,
        owner: &Value,
        propagation: Propagation,
        now: &str,
    ) {
        let Some(uid) = owner.at("/metadata/uid").and_then(Value::as_str) else {
            return;
        };
        let dependents: Vec<ObjectRef> = state
            .objects
            .iter()
            .filter(|(_, object)| {
                object
                    .at("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|owners| owners.iter().any(|reference| reference["uid"] == uid))
            })
            .map(|(reference, _)| reference.clone())
            .collect();
        for dependent in dependents {
            match propagation {
                Propagation::Orphan => {
                    if let Some(object) = state.objects.get_mut(&dependent)
                        && let Some(owners) = Arc::make_mut(object)
                            .pointer_mut("/metadata/ownerReferences")
                            .and_then(Value::as_array_mut)
                    {
                        owners.retain(|reference| reference["uid"] != uid);
                    }
                }
                Propagation::Background | Propagation::Foreground => {
                    Self::remove_or_mark(state, &dependent, propagation, now);
                }
            }
        }
    }

    pub(crate) fn remove_or_mark(
        state: &mut State,
        reference: &ObjectRef,
        propagation: Propagation,
        now: &str,
    ) {
        let Some(object) = state.objects.get(reference).cloned() else {
            return;
        };
        let has_finalizers = object
            .at("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|finalizers| !finalizers.is_empty());
        if has_finalizers {
            if let Some(stored) = state.objects.get_mut(reference).map(Arc::make_mut)
                && stored.at("/metadata/deletionTimestamp").is_none()
            {
                stored["metadata"]["deletionTimestamp"] = Value::from(now);
                // The API server counts a pending deletion as a change of the desired state.
                if let Some(generation) = stored.at("/metadata/generation").and_then(Value::as_i64)
                {
                    stored["metadata"]["generation"] = Value::from(generation + 1);
                }
                state.next_resource_version += 1;
            }
            return;
        }
        state.objects.remove(reference);
        state.next_resource_version += 1;
        Self::collect_garbage(state, &object, propagation, now);
    }
}
