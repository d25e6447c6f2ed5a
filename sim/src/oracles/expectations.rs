//! The expectations a scenario states at an `expect` step (docs/scenarios.md): CRs Ready, the
//! number of masters, a bound on lost keys, a rejected update reported, objects present or
//! absent. Each unmet expectation is a violation.

use redis_operator::json_pointer::JsonPointer;

use redis_operator::ports::kube::ObjectRef;
use serde_json::Value;

use crate::engine::run::{Engine, kind_of, resource_named};
use crate::engine::scenario::Expectations;
use crate::engine::timeline::status_line;
use crate::oracles::Violation;
use crate::oracles::lost_writes::lost_keys;

impl Engine<'_> {
    pub(crate) fn expect(&mut self, expectations: &Expectations) {
        for target in &expectations.ready {
            let Some((_, reference)) = kind_of(target) else {
                continue;
            };
            if !self.world.is_ready(&reference) {
                let status = status_line(&self.world, &reference);
                self.fail(Violation {
                    oracle: "expectation",
                    message: format!("{reference} is not Ready: {status}"),
                });
            }
        }
        for (target, count) in &expectations.masters {
            let Some((_, reference)) = kind_of(target) else {
                continue;
            };
            let masters = crate::oracles::masters_of(&self.world, &reference);
            if masters.len() != *count {
                self.fail(Violation {
                    oracle: "expectation",
                    message: format!("{reference} has masters {masters:?}, expected {count}"),
                });
            }
        }
        if let Some(allowed) = expectations.lost_keys {
            let targets = self.controller.targets().to_vec();
            let lost: usize = targets
                .iter()
                .map(|(_, target)| lost_keys(&self.world, target, &self.windows, true).len())
                .sum();
            if lost > allowed {
                self.fail(Violation {
                    oracle: "expectation",
                    message: format!("{lost} acknowledged keys lost, at most {allowed} allowed"),
                });
            }
        }
        for target in &expectations.rejected {
            let Some((_, reference)) = kind_of(target) else {
                continue;
            };
            if let Some(problem) = self.rejection_unreported(&reference) {
                self.fail(Violation {
                    oracle: "a rejected update is reported",
                    message: format!("{reference}: {problem}"),
                });
            }
        }
        for (objects, present) in [(&expectations.absent, false), (&expectations.present, true)] {
            for text in objects {
                let parts: Vec<&str> = text.split('/').collect();
                let [kind, namespace, name] = parts.as_slice() else {
                    continue;
                };
                let exists = resource_named(kind)
                    .and_then(|resource| {
                        self.world
                            .api
                            .object(&ObjectRef::new(resource, namespace, name))
                    })
                    .is_some();
                if exists != present {
                    self.fail(Violation {
                        oracle: "expectation",
                        message: format!(
                            "{text} should {}exist",
                            if present { "" } else { "not " }
                        ),
                    });
                }
            }
        }
    }

    /// Why a CR's rejected StatefulSet update is not reported as it must be (a True Degraded
    /// condition naming the StatefulSet, and a Warning Event `UpdateRejected` about the CR), or
    /// `None` when it is.
    pub(crate) fn rejection_unreported(&self, reference: &ObjectRef) -> Option<String> {
        let object = self.world.api.object(reference)?;
        let degraded = object
            .at("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|conditions| {
                conditions.iter().find(|condition| {
                    condition["type"] == "Degraded" && condition["status"] == "True"
                })
            })
            .and_then(|condition| condition["message"].as_str().map(str::to_owned));
        match degraded {
            None => return Some("no True Degraded condition".to_owned()),
            Some(message) if !message.contains("StatefulSet") => {
                return Some(format!(
                    "the Degraded condition does not name the StatefulSet: {message}"
                ));
            }
            Some(_) => {}
        }
        let reported = self.world.api.events_since(0).iter().any(|event| {
            &event.regarding == reference
                && event.event_type.as_str() == "Warning"
                && event.reason == "UpdateRejected"
        });
        (!reported).then(|| "no Warning Event UpdateRejected".to_owned())
    }
}
