//! The node-drain oracle: a drain with no end that is still on must have emptied its node by
//! the time every CR converged — the operator may hold a drain back only while it moves data
//! or fails a master over, never for good.

use redis_operator::json_pointer::JsonPointer;

use redis_operator::ports::kube::ResourceType;
use serde_json::Value;

use crate::engine::run::Engine;
use crate::faults::scheduled::Undo;
use crate::oracles::Violation;

impl Engine<'_> {
    /// A node drain with no end that is still on must have emptied its node by the time every
    /// CR converged: the operator moved what the disruption budgets were waiting for.
    pub(crate) fn check_drains_finished(&mut self) {
        let drained: Vec<String> = self
            .active
            .iter()
            .filter(|fault| fault.end.is_none())
            .filter_map(|fault| match &fault.undo {
                Undo::DrainRound(node) => Some(node.clone()),
                _ => None,
            })
            .collect();
        for node in drained {
            let left: Vec<String> = self
                .world
                .objects(ResourceType::Pod)
                .iter()
                .filter(|pod| {
                    pod.at("/spec/nodeName").and_then(Value::as_str) == Some(node.as_str())
                })
                .filter_map(|pod| pod["metadata"]["name"].as_str().map(str::to_owned))
                .collect();
            if !left.is_empty() {
                self.fail(Violation {
                    oracle: "a blocked drain finishes",
                    message: format!(
                        "node {node} is still draining after convergence; pods left: {left:?}"
                    ),
                });
            }
        }
    }
}
