//! Property: node drains through the Eviction API, rolling updates and scale-ins never take
//! ready pods below what the PodDisruptionBudgets allow, the operator disrupts pods only through
//! evictions or planned failovers, each budget follows its own group's settings, and a drain the
//! budgets hold back finishes once the operator moved what it must.
//!
//! Each case is a RedisCluster (`orders`, 3 shards with a follower each, leader and follower
//! budgets drawn separately) or a RedisReplication (`sessions`, 3 pods), with budgets drawn
//! among disabled, `maxUnavailable` 1–2 and `minAvailable` 1–2, under a writing client, and one
//! to four operations: drain a node running the CR's pods (until healed, or for 30–120 s), a
//! rolling update (new memory limit), a scale-out and back in, new budget settings; each
//! followed by a convergence (a drain with no end is then healed), half the time behind a
//! fault (`property_support::disturbance`: the operator crashed and down for a while, its
//! watches stalled then gone, or a container held down). The run ends with a
//! convergence and expects the CR Ready. Oracles checked: no eviction by the operator beyond a
//! budget, no bare delete of a ready pod, the budgets exist exactly when enabled and carry
//! their group's numbers, a drain with no end has emptied its node by convergence, the
//! StatefulSet shrinks only past emptied pods, every shard keeps a ready master while no fault
//! is on, no acknowledged write lost outside a fault's window.
//!
//! 256 cases by default, from a fixed generator seed (about 12 s on the shared 2-core machine in
//! the test profile, which builds the simulator at opt-level 2); `PROPERTY_CASES=2000
//! PROPERTY_SEED=random` for a long run (an early one, of 200 cases: 89 s, all passed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod property_support;

use property_support::{
    check, config, disturbance, example, expect_ready, manifest, patch_spec, scenario, step, target,
};
use proptest::prelude::*;
use redis_operator_sim::engine::scenario::{Action, Fault, NodeChoice, Scenario, Target};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
enum Subject {
    Replication,
    Cluster,
}

#[derive(Clone, Copy, Debug)]
enum Budget {
    Disabled,
    MaxUnavailable(u32),
    MinAvailable(u32),
}

impl Budget {
    fn settings(self) -> Value {
        match self {
            Budget::Disabled => {
                json!({"enabled": false, "minAvailable": null, "maxUnavailable": null})
            }
            Budget::MaxUnavailable(count) => {
                json!({"enabled": true, "maxUnavailable": count, "minAvailable": null})
            }
            Budget::MinAvailable(count) => {
                json!({"enabled": true, "minAvailable": count, "maxUnavailable": null})
            }
        }
    }
}

fn budget() -> impl Strategy<Value = Budget> {
    prop_oneof![
        Just(Budget::Disabled),
        (1u32..=2).prop_map(Budget::MaxUnavailable),
        (1u32..=2).prop_map(Budget::MinAvailable),
    ]
}

/// Budgets of the groups: the replication's, or the cluster's leader and follower.
type Budgets = (Budget, Budget);

#[derive(Clone, Debug)]
enum Operation {
    /// Drain a node of the CR for this long (`None`: until healed after convergence).
    Drain(Option<u64>),
    RollingUpdate,
    ScaleOutAndIn,
    NewBudgets(Budgets),
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        3 => prop_oneof![Just(None), (30u64..=120).prop_map(Some)].prop_map(Operation::Drain),
        1 => Just(Operation::RollingUpdate),
        1 => Just(Operation::ScaleOutAndIn),
        1 => (budget(), budget()).prop_map(Operation::NewBudgets),
    ]
}

/// An operation, and the fault put in front of the convergence that follows it.
type Disturbed = (Operation, Option<(Fault, u64)>);

fn case() -> impl Strategy<Value = (Subject, Budgets, Vec<Disturbed>, u64)> {
    prop_oneof![Just(Subject::Replication), Just(Subject::Cluster)].prop_flat_map(|subject| {
        (
            Just(subject),
            (budget(), budget()),
            prop::collection::vec((operation(), disturbance(cr_of(subject))), 1..=4),
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

fn budget_patch(subject: Subject, budgets: Budgets) -> Value {
    match subject {
        Subject::Replication => json!({"pdb": budgets.0.settings()}),
        Subject::Cluster => json!({
            "redisLeader": {"pdb": budgets.0.settings()},
            "redisFollower": {"pdb": budgets.1.settings()},
        }),
    }
}

fn strip_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, value| !value.is_null());
        map.values_mut().for_each(strip_nulls);
    }
}

fn build(subject: Subject, budgets: Budgets, operations: &[Disturbed]) -> Scenario {
    let (cr, text) = match subject {
        Subject::Replication => {
            let mut documents = example("redis-replication.yaml");
            let mut pdb = budgets.0.settings();
            strip_nulls(&mut pdb);
            documents[1]["spec"]["pdb"] = pdb;
            (cr_of(subject), manifest(&documents))
        }
        Subject::Cluster => {
            let mut documents = example("redis-cluster.yaml");
            documents[0]["spec"]["clusterSize"] = json!(3);
            for (group, budget) in [("redisLeader", budgets.0), ("redisFollower", budgets.1)] {
                let mut pdb = budget.settings();
                strip_nulls(&mut pdb);
                documents[0]["spec"][group]["pdb"] = pdb;
            }
            (cr_of(subject), manifest(&documents))
        }
    };
    let size = |cr: &Target, shards: u32| match subject {
        Subject::Replication => patch_spec(cr, json!({"clusterSize": shards})),
        Subject::Cluster => patch_spec(
            cr,
            json!({"clusterSize": shards, "redisFollower": {"replicas": shards}}),
        ),
    };
    let mut steps = vec![
        step(Action::Converge(300)),
        step(Action::Workload {
            target: cr.clone(),
            per_second: 2,
        }),
    ];
    let mut memory = 256;
    for (operation, disturbance) in operations {
        if let Some((fault, duration)) = disturbance {
            steps.push(step(Action::Fault {
                fault: fault.clone(),
                duration: *duration,
            }));
        }
        match operation {
            Operation::Drain(duration) => {
                steps.push(step(Action::Fault {
                    fault: Fault::NodeDrain(NodeChoice::Random(Some(cr.clone()))),
                    duration: duration.unwrap_or(0),
                }));
                steps.push(step(Action::Converge(900)));
                steps.push(step(Action::Heal));
            }
            Operation::RollingUpdate => {
                memory += 32;
                steps.push(step(patch_spec(
                    &cr,
                    json!({"kubernetesConfig": {"resources": {"limits": {"memory": format!("{memory}Mi")}}}}),
                )));
                steps.push(step(Action::Converge(900)));
            }
            Operation::ScaleOutAndIn => {
                steps.push(step(size(&cr, 4)));
                steps.push(step(Action::Converge(900)));
                steps.push(step(size(&cr, 3)));
                steps.push(step(Action::Converge(900)));
            }
            Operation::NewBudgets(budgets) => {
                steps.push(step(patch_spec(&cr, budget_patch(subject, *budgets))));
                steps.push(step(Action::Converge(900)));
            }
        }
    }
    steps.push(step(Action::Converge(900)));
    steps.push(step(expect_ready(
        std::slice::from_ref(&cr),
        Vec::new(),
        Vec::new(),
    )));
    scenario(
        "property-disruption",
        format!("generated: {subject:?} with budgets {budgets:?} under {operations:?}"),
        text,
        steps,
    )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn voluntary_disruptions_respect_the_budgets(
        (subject, budgets, operations, seed) in case()
    ) {
        check("disruption", &build(subject, budgets, &operations), seed)?;
    }
}
