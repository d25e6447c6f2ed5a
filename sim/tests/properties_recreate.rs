//! Property: edits a StatefulSet cannot take in place (its claim template) are recreated without
//! a moment of lost service when the CR carries `redis.opstreelabs.in/recreate-statefulset:
//! "true"`, and are reported and left alone otherwise.
//!
//! Each case is a RedisReplication (`sessions`, 3 pods) or a RedisCluster (`orders`, 3 shards
//! with a follower each) under a writing client, and one to four edits: a new storage request or
//! access mode in the claim template (invalid as a StatefulSet update), a new memory limit (a
//! valid template change the operator rolls out itself), new disruption budget settings, each
//! with or without an annotation change (`"true"`, other values such as `"false"`, `"yes"`,
//! `"True"`, or removing it). The generator knows whether the StatefulSet the API server holds
//! still differs in its claims from the CR: when it does and the annotation is not `"true"`,
//! the step waits 20 s and expects the StatefulSet still there and the rejection reported (a
//! True Degraded condition naming it and a Warning Event `UpdateRejected`); otherwise it expects
//! convergence, half the time behind a fault (`property_support::disturbance`: the operator
//! crashed and down for a while, its watches stalled then gone, or a container held down).
//! Oracles checked: every shard keeps a ready master at every round (while no fault that may
//! take a master away is on), no rejected write sent again unchanged while the CR is
//! unchanged, no bare delete of a ready pod, no acknowledged write lost, the disruption budgets
//! follow the settings.
//!
//! 256 cases by default, from a fixed generator seed (about 8 s on the shared 2-core machine in
//! the test profile, which builds the simulator at opt-level 2); `PROPERTY_CASES=2000
//! PROPERTY_SEED=random` for a long run (an early one, of 200 cases: 60 s, all passed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod property_support;

use property_support::{
    check, config, disturbance, example, expect_ready, manifest, scenario, step, target,
};
use proptest::prelude::*;
use redis_operator::api::RECREATE_STATEFULSET_ANNOTATION;
use redis_operator_sim::engine::scenario::{Action, Expectations, Fault, Scenario, Target};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
enum Subject {
    Replication,
    Cluster,
}

#[derive(Clone, Copy, Debug)]
enum Change {
    /// The claim template asks for more storage (invalid in place).
    Storage,
    /// The claim template's access mode flips (invalid in place).
    AccessMode,
    /// The memory limit changes (a valid template change).
    Memory,
    /// The disruption budget switches between maxUnavailable 1 and minAvailable 1.
    Budget,
}

#[derive(Clone, Debug)]
enum Annotation {
    Unchanged,
    Set(&'static str),
    Removed,
}

fn edit() -> impl Strategy<Value = (Change, Annotation)> {
    (
        prop_oneof![
            2 => Just(Change::Storage),
            1 => Just(Change::AccessMode),
            2 => Just(Change::Memory),
            1 => Just(Change::Budget),
        ],
        prop_oneof![
            2 => Just(Annotation::Unchanged),
            2 => Just(Annotation::Set("true")),
            1 => prop_oneof![Just("false"), Just("yes"), Just("True"), Just("")]
                .prop_map(Annotation::Set),
            1 => Just(Annotation::Removed),
        ],
    )
}

/// An edit, and the fault put in front of its convergence when the edit is one the operator
/// carries out.
type Edit = ((Change, Annotation), Option<(Fault, u64)>);

fn case() -> impl Strategy<Value = (Subject, Vec<Edit>, u64)> {
    prop_oneof![Just(Subject::Replication), Just(Subject::Cluster)].prop_flat_map(|subject| {
        (
            Just(subject),
            prop::collection::vec((edit(), disturbance(cr_of(subject))), 1..=4),
            any::<u64>(),
        )
    })
}

fn cr_of(subject: Subject) -> Target {
    match subject {
        Subject::Replication => target("RedisReplication", "sessions"),
        Subject::Cluster => target("RedisCluster", "orders"),
    }
}

/// What the claim template says: storage in Gi and access mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Claims {
    gibibytes: u32,
    read_write_many: bool,
}

fn build(subject: Subject, edits: &[Edit]) -> Scenario {
    let (cr, statefulsets, text) = match subject {
        Subject::Replication => (
            cr_of(subject),
            vec!["StatefulSet/default/sessions".to_owned()],
            manifest(&example("redis-replication.yaml")),
        ),
        Subject::Cluster => {
            let mut documents = example("redis-cluster.yaml");
            documents[0]["spec"]["clusterSize"] = json!(3);
            (
                cr_of(subject),
                vec![
                    "StatefulSet/default/orders-leader".to_owned(),
                    "StatefulSet/default/orders-follower".to_owned(),
                ],
                manifest(&documents),
            )
        }
    };
    let mut steps = vec![
        step(Action::Converge(300)),
        step(Action::Workload {
            target: cr.clone(),
            per_second: 2,
        }),
    ];
    let mut desired = Claims {
        gibibytes: 1,
        read_write_many: false,
    };
    let mut live = desired;
    let mut annotation_true = false;
    let mut memory = 256;
    let mut budget_min_available = false;
    for ((change, annotation), disturbance) in edits {
        let spec = match change {
            Change::Storage => {
                desired.gibibytes += 1;
                json!({"storage": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": format!("{}Gi", desired.gibibytes)}}}}}})
            }
            Change::AccessMode => {
                desired.read_write_many = !desired.read_write_many;
                let mode = if desired.read_write_many {
                    "ReadWriteMany"
                } else {
                    "ReadWriteOnce"
                };
                json!({"storage": {"volumeClaimTemplate": {"spec": {"accessModes": [mode]}}}})
            }
            Change::Memory => {
                memory += 32;
                json!({"kubernetesConfig": {"resources": {"limits": {"memory": format!("{memory}Mi")}}}})
            }
            Change::Budget => {
                budget_min_available = !budget_min_available;
                let pdb = if budget_min_available {
                    json!({"enabled": true, "minAvailable": 1, "maxUnavailable": null})
                } else {
                    json!({"enabled": true, "maxUnavailable": 1, "minAvailable": null})
                };
                match subject {
                    Subject::Replication => json!({"pdb": pdb}),
                    Subject::Cluster => json!({"redisLeader": {"pdb": pdb}}),
                }
            }
        };
        let metadata = match annotation {
            Annotation::Unchanged => Value::Null,
            Annotation::Set(value) => {
                annotation_true = *value == "true";
                let mut annotations = serde_json::Map::new();
                annotations.insert(RECREATE_STATEFULSET_ANNOTATION.to_owned(), json!(value));
                json!({"annotations": annotations})
            }
            Annotation::Removed => {
                annotation_true = false;
                let mut annotations = serde_json::Map::new();
                annotations.insert(RECREATE_STATEFULSET_ANNOTATION.to_owned(), Value::Null);
                json!({"annotations": annotations})
            }
        };
        steps.push(step(Action::Patch {
            target: cr.clone(),
            spec,
            metadata,
        }));
        if desired != live && !annotation_true {
            steps.push(step(Action::Wait(20)));
            steps.push(step(Action::Expect(Expectations {
                present: statefulsets.clone(),
                rejected: vec![cr.clone()],
                ..Expectations::default()
            })));
        } else {
            live = desired;
            if let Some((fault, duration)) = disturbance {
                steps.push(step(Action::Fault {
                    fault: fault.clone(),
                    duration: *duration,
                }));
            }
            steps.push(step(Action::Converge(900)));
            steps.push(step(expect_ready(
                std::slice::from_ref(&cr),
                statefulsets.clone(),
                Vec::new(),
            )));
        }
    }
    scenario(
        "property-recreate",
        format!("generated: {subject:?} under {edits:?}"),
        text,
        steps,
    )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn statefulset_recreation_keeps_serving_and_refusals_are_reported(
        (subject, edits, seed) in case()
    ) {
        check("recreate", &build(subject, &edits), seed)?;
    }
}
