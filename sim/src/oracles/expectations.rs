//! The expectations a scenario states at an `expect` step (docs/scenarios.md): CRs Ready or not,
//! the number of masters, a bound on lost keys, a rejected update reported, objects present or
//! absent, Events, conditions and object fields. Each unmet expectation is a violation; none
//! changes the world.

use redis_operator::json_pointer::JsonPointer;

use redis_operator::ports::kube::ObjectRef;
use serde_json::Value;
use std::sync::Arc;

use crate::engine::run::{Engine, kind_of, resource_named};
use crate::engine::scenario::{ConditionExpectation, EventExpectation, Expectations};
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
                .map(|(_, target)| lost_keys(&self.world, target).len())
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
        for target in &expectations.not_ready {
            let Some((_, reference)) = kind_of(target) else {
                continue;
            };
            if self.world.is_ready(&reference) {
                self.fail(Violation {
                    oracle: "expectation",
                    message: format!("{reference} is Ready, expected not Ready"),
                });
            }
        }
        for expectation in &expectations.events {
            if let Some(problem) = self.events_unmet(expectation) {
                self.fail(Violation {
                    oracle: "expectation",
                    message: problem,
                });
            }
        }
        for expectation in &expectations.conditions {
            if let Some(problem) = self.condition_unmet(expectation) {
                self.fail(Violation {
                    oracle: "expectation",
                    message: problem,
                });
            }
        }
        for expectation in &expectations.fields {
            let actual = self
                .object_named(&expectation.object)
                .and_then(|object| object.at(&expectation.path).cloned());
            if actual != expectation.equals {
                let wanted = expectation
                    .equals
                    .as_ref()
                    .map_or_else(|| "absent".to_owned(), ToString::to_string);
                let found = actual.map_or_else(|| "absent".to_owned(), |value| value.to_string());
                self.fail(Violation {
                    oracle: "expectation",
                    message: format!(
                        "{} {} is {found}, expected {wanted}",
                        expectation.object, expectation.path
                    ),
                });
            }
        }
        for (objects, present) in [(&expectations.absent, false), (&expectations.present, true)] {
            for text in objects {
                let exists = self.object_named(text).is_some();
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
        self.events_at_previous_expect = self.world.api.event_count();
    }

    /// The object named `Kind/namespace/name`, when it exists.
    fn object_named(&self, text: &str) -> Option<Arc<Value>> {
        let parts: Vec<&str> = text.split('/').collect();
        let [kind, namespace, name] = parts.as_slice() else {
            return None;
        };
        let resource = resource_named(kind)?;
        self.world
            .api
            .object(&ObjectRef::new(resource, namespace, name))
    }

    /// What is wrong with the Events about a CR, or `None` when they are as expected.
    fn events_unmet(&self, expectation: &EventExpectation) -> Option<String> {
        let (_, reference) = kind_of(&expectation.target)?;
        let since = if expectation.since_previous_expect {
            self.events_at_previous_expect
        } else {
            0
        };
        let matching: Vec<String> = self
            .world
            .api
            .events_since(since)
            .into_iter()
            .filter(|event| {
                event.regarding == reference
                    && event.reason == expectation.reason
                    && expectation
                        .event_type
                        .as_deref()
                        .is_none_or(|wanted| event.event_type.as_str() == wanted)
                    && expectation
                        .message_contains
                        .as_deref()
                        .is_none_or(|text| event.message.contains(text))
            })
            .map(|event| event.message)
            .collect();
        let met = match expectation.count {
            Some(count) => matching.len() == count,
            None => !matching.is_empty(),
        };
        (!met).then(|| {
            format!(
                "{reference}: {} Events {}{}{}, expected {}: {matching:?}",
                matching.len(),
                expectation.reason,
                expectation
                    .message_contains
                    .as_deref()
                    .map(|text| format!(" containing {text:?}"))
                    .unwrap_or_default(),
                if expectation.since_previous_expect {
                    " since the previous expect step"
                } else {
                    ""
                },
                expectation
                    .count
                    .map_or_else(|| "at least 1".to_owned(), |count| count.to_string()),
            )
        })
    }

    /// What is wrong with a CR's condition, or `None` when it is as expected.
    fn condition_unmet(&self, expectation: &ConditionExpectation) -> Option<String> {
        let (_, reference) = kind_of(&expectation.target)?;
        let object = self.world.api.object(&reference);
        let condition = object.as_ref().and_then(|object| {
            object
                .at("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|conditions| {
                    conditions
                        .iter()
                        .find(|condition| condition["type"] == expectation.condition_type.as_str())
                })
        });
        let Some(condition) = condition else {
            return Some(format!(
                "{reference} has no {} condition",
                expectation.condition_type
            ));
        };
        let status = if expectation.status { "True" } else { "False" };
        let met = condition["status"] == status
            && expectation
                .reason
                .as_deref()
                .is_none_or(|reason| condition["reason"] == reason)
            && expectation.message_contains.as_deref().is_none_or(|text| {
                condition["message"]
                    .as_str()
                    .is_some_and(|message| message.contains(text))
            });
        (!met).then(|| {
            format!(
                "{reference} condition {} is {} ({}: {}), expected {status}{}{}",
                expectation.condition_type,
                condition["status"],
                condition["reason"],
                condition["message"],
                expectation
                    .reason
                    .as_deref()
                    .map(|reason| format!(" with reason {reason}"))
                    .unwrap_or_default(),
                expectation
                    .message_contains
                    .as_deref()
                    .map(|text| format!(" and a message containing {text:?}"))
                    .unwrap_or_default(),
            )
        })
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
