//! The node lifecycle of the fake cluster: nodes that crash and recover (a crashed node's
//! servers stop at once; its pods are removed after the eviction timeout), cordon, and
//! `kubectl drain` rounds through the Eviction API, which checks the disruption budgets.
//!
//! It changes nodes and asks for evictions; it never starts or stops pods itself beyond the
//! servers of a crashed node.

use redis_operator::json_pointer::JsonPointer;
use std::sync::Arc;

use redis_operator::ports::clock::Clock;
use redis_operator::ports::kube::{ObjectRef, ResourceType};
use serde_json::Value;

use crate::engine::world::World;
use crate::fakes::redis::StopCause;
use crate::fakes::scheduler::Node;

/// Six nodes, two in each of three zones: enough for a three-shard cluster with one replica per
/// shard under required pod anti-affinity by hostname.
pub fn default_nodes() -> Vec<Node> {
    ["a", "b", "c"]
        .iter()
        .flat_map(|zone| {
            (1..=2).map(move |number| {
                Node::new(&format!("node-{zone}{number}"), &format!("zone-{zone}"))
            })
        })
        .collect()
}

impl World {
    /// Keeps `pod` from being recreated for `milliseconds` (its node is down).
    pub fn hold_down(&self, pod: &str, milliseconds: u64) {
        self.controllers_seen.set(None);
        self.held_down
            .borrow_mut()
            .insert(pod.to_owned(), self.clock.now() + milliseconds);
    }

    /// The nodes.
    pub fn nodes(&self) -> Vec<Node> {
        self.nodes.borrow().clone()
    }

    /// Crashes a node: every server on it stops, its pods turn unready, and after the eviction
    /// timeout they are removed and recreated elsewhere. Returns false for an unknown node.
    pub fn crash_node(&self, name: &str) -> bool {
        let known = self.with_node(name, |node| node.up = false);
        if known {
            self.node_down_since
                .borrow_mut()
                .insert(name.to_owned(), self.clock.now());
            for pod in self.pods_on(name) {
                self.stop_pod_server(&pod, StopCause::Fault);
            }
        }
        known
    }

    /// Brings a crashed node back: its remaining pods restart their containers.
    pub fn recover_node(&self, name: &str) -> bool {
        self.node_down_since.borrow_mut().remove(name);
        self.with_node(name, |node| node.up = true)
    }

    /// Marks a node unschedulable (or schedulable again).
    pub fn cordon_node(&self, name: &str, cordoned: bool) -> bool {
        self.with_node(name, |node| node.cordoned = cordoned)
    }

    /// One round of `kubectl drain`: cordons the node and asks the Eviction API to evict every
    /// pod on it. Returns the pods still on the node (evictions refused by a disruption budget
    /// are retried at the next round).
    pub fn drain_node_round(&self, name: &str) -> Vec<String> {
        self.cordon_node(name, true);
        let mut remaining = Vec::new();
        for pod in self.pods_on(name) {
            let Some(reference) = ObjectRef::of(&pod) else {
                continue;
            };
            if self.api.evict_now(&reference).is_err() {
                remaining.push(reference.name.clone());
            } else {
                // The drain, not the operator, took the pod away.
                self.stop_pod_server(&pod, StopCause::Fault);
            }
        }
        remaining
    }

    pub(crate) fn with_node(&self, name: &str, change: impl FnOnce(&mut Node)) -> bool {
        self.controllers_seen.set(None);
        let mut nodes = self.nodes.borrow_mut();
        match nodes.iter_mut().find(|node| node.name == name) {
            Some(node) => {
                change(node);
                true
            }
            None => false,
        }
    }

    /// The pods bound to `node`.
    pub fn pods_on(&self, node: &str) -> Vec<Arc<Value>> {
        self.api
            .objects(ResourceType::Pod)
            .into_iter()
            .filter(|pod| pod.at("/spec/nodeName").and_then(Value::as_str) == Some(node))
            .collect()
    }
}
