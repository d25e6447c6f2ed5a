//! Fidelity of the fake StatefulSet controller (`sim/src/fakes/statefulset_controller.rs`)
//! against Kubernetes 1.34's when a pod made from an outdated template cannot be scheduled. Six
//! StatefulSets of three replicas, side by side: one for each podManagementPolicy (`Parallel`,
//! `OrderedReady`) and updateStrategy (`RollingUpdate`, `OnDelete`) whose template is finally
//! reverted, and one for each policy under `RollingUpdate` that gets a third template instead.
//! Each goes through the same steps on the real control plane of
//! `tests/support/control_plane.rs` (the stand-in kubelet runs the pods' `sleep`) and in the
//! simulator's fake cluster ([`World`]):
//!
//! 1. created, until its three pods are Running and Ready;
//! 2. its template given a nodeSelector no node matches;
//! 3. under `OnDelete`, ordinal 2 deleted by the test, as the operator would delete it (the
//!    other sets are left alone and looked at again);
//! 4. its template reverted to the original, or replaced by a third one that schedules.
//!
//! After each step, once both sides have settled, it compares for each ordinal whether the pod
//! exists, whether it is Pending or Running and Ready, which template its
//! `controller-revision-hash` comes from, and whether it was recreated since the previous step
//! (its uid changed); and the set's `status.currentRevision` and `status.updateRevision`.
//! Revisions are compared by the template they come from (original, bad, third), not by their
//! text, which differs between the sides (Kubernetes hashes its ControllerRevision, the fake the
//! template): each side's hashes are named after the set's `updateRevision` once the step that
//! introduced the template has settled.
//!
//! Settled means that the set's controller has seen its latest generation, that no pod is
//! terminating, that every pod is either Running and Ready or Pending and reported
//! `Unschedulable`, and that all this has stayed unchanged for [`QUIET_PERIOD`] on the real side
//! (polled, up to [`SETTLE_LIMIT`] a step) and for [`FAKE_QUIET_STEPS`] steps of the fake.
//!
//! Left out: the counts of the status (`readyReplicas`, `updatedReplicas`, `currentReplicas`,
//! `availableReplicas`), other pod conditions, what happens between two settled states (the
//! order of replacements, terminating pods: the fake removes a deleted pod at once), how long
//! either side takes (seconds there, steps here), partitions and `maxUnavailable`, volume claim
//! templates, and scaling.
//!
//! Fails, naming what to build, when the control plane binary is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use redis_operator::ports::kube::{KubeApi, ObjectRef, Propagation, ResourceType};
use redis_operator_sim::engine::world::World;
use serde_json::{Value, json};
use support::control_plane::{ControlPlane, default_nodes};

const NAMESPACE: &str = "default";
/// Pods of every set.
const REPLICAS: usize = 3;
/// The ordinal the steps are about: the one a rolling update replaces first, and the one the
/// test deletes under `OnDelete`.
const DELETED_ORDINAL: usize = 2;
/// A node label no node of either side carries: the bad template's nodeSelector.
const UNMATCHED_LABEL: &str = "disk";
const UNMATCHED_VALUE: &str = "nvme";
/// The annotation that makes the third template differ from the original.
const THIRD_ANNOTATION: &str = "fidelity.example.com/template";
/// The label the pods of a set carry, with the set's name, for its selector.
const APP_LABEL: &str = "app";
/// How long the real side gets to settle after a step.
const SETTLE_LIMIT: Duration = Duration::from_secs(40);
/// How long the real side must stay unchanged to count as settled: longer than the controller
/// takes to react to a pod it deleted or saw become Ready.
const QUIET_PERIOD: Duration = Duration::from_secs(5);
/// Between two looks at the real control plane.
const POLL: Duration = Duration::from_millis(500);
/// Steps (simulated seconds) the fake must stay unchanged to count as settled.
const FAKE_QUIET_STEPS: usize = 5;
/// Steps the fake gets to settle after a step of the test.
const FAKE_STEP_LIMIT: usize = 120;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PodManagement {
    OrderedReady,
    Parallel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UpdateStrategy {
    RollingUpdate,
    OnDelete,
}

/// The templates a set goes through; its revisions are named after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Template {
    Original,
    /// With a nodeSelector no node matches: its pods stay Pending.
    Bad,
    /// The original with an annotation: a new revision that schedules.
    Third,
}

/// How a set's template changes at the last step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Back to the original template.
    Revert,
    /// To the third template.
    Third,
}

/// One StatefulSet of the test.
struct Case {
    name: &'static str,
    pod_management: PodManagement,
    update_strategy: UpdateStrategy,
    ending: Ending,
}

fn cases() -> Vec<Case> {
    use Ending::{Revert, Third};
    use PodManagement::{OrderedReady, Parallel};
    use UpdateStrategy::{OnDelete, RollingUpdate as Rolling};
    let case = |name, pod_management, update_strategy, ending| Case {
        name,
        pod_management,
        update_strategy,
        ending,
    };
    vec![
        case("parallel-rolling-revert", Parallel, Rolling, Revert),
        case("ordered-rolling-revert", OrderedReady, Rolling, Revert),
        case("parallel-ondelete-revert", Parallel, OnDelete, Revert),
        case("ordered-ondelete-revert", OrderedReady, OnDelete, Revert),
        case("parallel-rolling-third", Parallel, Rolling, Third),
        case("ordered-rolling-third", OrderedReady, Rolling, Third),
    ]
}

/// The steps of the test, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Created,
    BadTemplate,
    /// Ordinal 2 deleted under `OnDelete`; nothing done to the other sets.
    OrdinalDeleted,
    /// The last step: the template reverted or replaced by the third.
    LastTemplate,
}

const STEPS: [Step; 4] = [
    Step::Created,
    Step::BadTemplate,
    Step::OrdinalDeleted,
    Step::LastTemplate,
];

impl Case {
    /// The template this step puts in place, if it changes the template.
    fn template_set_by(&self, step: Step) -> Option<Template> {
        match (step, self.ending) {
            (Step::Created, _) => Some(Template::Original),
            (Step::BadTemplate, _) => Some(Template::Bad),
            (Step::OrdinalDeleted, _) => None,
            (Step::LastTemplate, Ending::Revert) => Some(Template::Original),
            (Step::LastTemplate, Ending::Third) => Some(Template::Third),
        }
    }

    /// The template this step introduces for the first time, whose revision it names.
    fn template_introduced_by(&self, step: Step) -> Option<Template> {
        match (step, self.ending) {
            (Step::LastTemplate, Ending::Revert) => None,
            _ => self.template_set_by(step),
        }
    }

    fn deletes_ordinal_at(&self, step: Step) -> bool {
        step == Step::OrdinalDeleted && self.update_strategy == UpdateStrategy::OnDelete
    }

    fn step_label(&self, step: Step) -> &'static str {
        match (step, self.ending) {
            (Step::Created, _) => "created",
            (Step::BadTemplate, _) => "bad template",
            (Step::OrdinalDeleted, _) if self.update_strategy == UpdateStrategy::OnDelete => {
                "ordinal 2 deleted"
            }
            (Step::OrdinalDeleted, _) => "left alone",
            (Step::LastTemplate, Ending::Revert) => "reverted",
            (Step::LastTemplate, Ending::Third) => "third template",
        }
    }

    fn pod_name(&self, ordinal: usize) -> String {
        format!("{}-{ordinal}", self.name)
    }

    fn pod_template(&self, template: Template) -> Value {
        let mut pod_template = json!({
            "metadata": {"labels": {APP_LABEL: self.name}},
            "spec": {
                // A deleted pod's process is killed after this if SIGTERM has not stopped it
                // (`sleep` stops), so that no replacement waits for the stand-in kubelet's 10 s.
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}],
            },
        });
        match template {
            Template::Original => {}
            Template::Bad => {
                pod_template["spec"]["nodeSelector"] = json!({UNMATCHED_LABEL: UNMATCHED_VALUE});
            }
            Template::Third => {
                pod_template["metadata"]["annotations"] = json!({THIRD_ANNOTATION: "third"});
            }
        }
        pod_template
    }

    fn statefulset(&self) -> Value {
        let pod_management = match self.pod_management {
            PodManagement::OrderedReady => "OrderedReady",
            PodManagement::Parallel => "Parallel",
        };
        let update_strategy = match self.update_strategy {
            UpdateStrategy::RollingUpdate => "RollingUpdate",
            UpdateStrategy::OnDelete => "OnDelete",
        };
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": self.name, "namespace": NAMESPACE},
            "spec": {
                "replicas": REPLICAS,
                "serviceName": self.name,
                "podManagementPolicy": pod_management,
                "updateStrategy": {"type": update_strategy},
                "selector": {"matchLabels": {APP_LABEL: self.name}},
                "template": self.pod_template(Template::Original),
            },
        })
    }
}

/// What either side shows of one pod, hashes and uids as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PodSnapshot {
    uid: String,
    phase: String,
    ready: bool,
    unschedulable: bool,
    terminating: bool,
    revision: String,
}

/// What either side shows of one set and its pods.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Snapshot {
    generation: Option<i64>,
    observed_generation: Option<i64>,
    current_revision: Option<String>,
    update_revision: Option<String>,
    /// By ordinal.
    pods: Vec<Option<PodSnapshot>>,
}

/// Whether the pod has the condition `kind` with this status (and reason, when given).
fn has_condition(pod: &Value, kind: &str, status: &str, reason: Option<&str>) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|condition| {
            condition["type"] == kind
                && condition["status"] == status
                && reason.is_none_or(|reason| condition["reason"] == reason)
        })
}

impl Snapshot {
    /// The set and its pods, from the objects of either side (pods by name).
    fn of(case: &Case, set: &Value, pods: &BTreeMap<String, Value>) -> Snapshot {
        let text = |value: &Value| value.as_str().map(str::to_owned);
        let pods = (0..REPLICAS)
            .map(|ordinal| {
                let pod = pods.get(&case.pod_name(ordinal))?;
                Some(PodSnapshot {
                    uid: text(&pod["metadata"]["uid"]).unwrap_or_default(),
                    phase: text(&pod["status"]["phase"]).unwrap_or_default(),
                    ready: has_condition(pod, "Ready", "True", None),
                    unschedulable: has_condition(
                        pod,
                        "PodScheduled",
                        "False",
                        Some("Unschedulable"),
                    ),
                    terminating: !pod["metadata"]["deletionTimestamp"].is_null(),
                    revision: text(&pod["metadata"]["labels"]["controller-revision-hash"])
                        .unwrap_or_default(),
                })
            })
            .collect();
        Snapshot {
            generation: set["metadata"]["generation"].as_i64(),
            observed_generation: set["status"]["observedGeneration"].as_i64(),
            current_revision: text(&set["status"]["currentRevision"]),
            update_revision: text(&set["status"]["updateRevision"]),
            pods,
        }
    }

    /// Whether nothing is under way: the controller has seen the latest generation, and every
    /// pod has either started or been found unschedulable. (A quiet period must follow: the
    /// controller may not have made its next move yet.)
    fn at_rest(&self) -> bool {
        self.observed_generation.is_some()
            && self.observed_generation == self.generation
            && self.update_revision.is_some()
            && self.pods.iter().flatten().all(|pod| {
                !pod.terminating
                    && ((pod.phase == "Running" && pod.ready)
                        || (pod.phase == "Pending" && pod.unschedulable))
            })
    }
}

/// A pod's phase and readiness, as compared.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PodState {
    Pending,
    RunningReady,
    /// Anything else, as phase and readiness.
    Other(String),
}

/// What is compared of one pod.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PodObservation {
    state: PodState,
    /// The template its revision comes from; `None` for a revision no step introduced.
    template: Option<Template>,
    /// Its uid differs from the previous step's.
    recreated: bool,
}

/// What is compared of one set after a step.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Observation {
    /// By ordinal; `None` when the pod does not exist.
    pods: Vec<Option<PodObservation>>,
    current_revision: Option<Template>,
    update_revision: Option<Template>,
}

fn template_name(template: Option<Template>) -> &'static str {
    match template {
        Some(Template::Original) => "original",
        Some(Template::Bad) => "bad",
        Some(Template::Third) => "third",
        None => "unknown",
    }
}

impl fmt::Display for PodState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PodState::Pending => formatter.write_str("Pending"),
            PodState::RunningReady => formatter.write_str("Running+Ready"),
            PodState::Other(state) => formatter.write_str(state),
        }
    }
}

impl fmt::Display for Observation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (ordinal, pod) in self.pods.iter().enumerate() {
            match pod {
                None => write!(formatter, "{ordinal}: absent")?,
                Some(pod) => write!(
                    formatter,
                    "{ordinal}: {} {}{}",
                    pod.state,
                    template_name(pod.template),
                    if pod.recreated { " (recreated)" } else { "" }
                )?,
            }
            formatter.write_str(" | ")?;
        }
        write!(
            formatter,
            "current {}, update {}",
            template_name(self.current_revision),
            template_name(self.update_revision)
        )
    }
}

/// What one side remembers of one set between steps: which template each revision hash comes
/// from, and the uids of its pods.
#[derive(Default)]
struct History {
    templates: BTreeMap<String, Template>,
    uids: Vec<Option<String>>,
}

impl History {
    /// The comparable observation of `snapshot`, naming the update revision after `introduced`
    /// (the template the step has just put in place for the first time).
    fn observe(&mut self, snapshot: &Snapshot, introduced: Option<Template>) -> Observation {
        if let (Some(template), Some(revision)) = (introduced, &snapshot.update_revision) {
            let known = *self.templates.entry(revision.clone()).or_insert(template);
            assert_eq!(
                known, template,
                "the revision {revision} of {template:?} is already that of {known:?}"
            );
        }
        let template_of = |revision: Option<&String>| {
            revision.and_then(|revision| self.templates.get(revision).copied())
        };
        let pods = snapshot
            .pods
            .iter()
            .enumerate()
            .map(|(ordinal, pod)| {
                let pod = pod.as_ref()?;
                let state = match (pod.phase.as_str(), pod.ready) {
                    ("Pending", false) => PodState::Pending,
                    ("Running", true) => PodState::RunningReady,
                    (phase, ready) => PodState::Other(format!("{phase} ready={ready}")),
                };
                let previous = self.uids.get(ordinal).cloned().flatten();
                Some(PodObservation {
                    state,
                    template: template_of(Some(&pod.revision)),
                    recreated: previous.is_some_and(|uid| uid != pod.uid),
                })
            })
            .collect();
        self.uids = snapshot
            .pods
            .iter()
            .map(|pod| pod.as_ref().map(|pod| pod.uid.clone()))
            .collect();
        Observation {
            pods,
            current_revision: template_of(snapshot.current_revision.as_ref()),
            update_revision: template_of(snapshot.update_revision.as_ref()),
        }
    }
}

/// The fields on which the two observations differ, each with both values.
fn differences(real: &Observation, fake: &Observation) -> Vec<String> {
    let mut found = Vec::new();
    for (ordinal, (real_pod, fake_pod)) in real.pods.iter().zip(&fake.pods).enumerate() {
        match (real_pod, fake_pod) {
            (Some(real_pod), Some(fake_pod)) => {
                if real_pod.state != fake_pod.state {
                    found.push(format!(
                        "pod {ordinal} state: real {}, fake {}",
                        real_pod.state, fake_pod.state
                    ));
                }
                if real_pod.template != fake_pod.template {
                    found.push(format!(
                        "pod {ordinal} revision: real {}, fake {}",
                        template_name(real_pod.template),
                        template_name(fake_pod.template)
                    ));
                }
                if real_pod.recreated != fake_pod.recreated {
                    found.push(format!(
                        "pod {ordinal} recreated: real {}, fake {}",
                        real_pod.recreated, fake_pod.recreated
                    ));
                }
            }
            (None, None) => {}
            (real_pod, fake_pod) => found.push(format!(
                "pod {ordinal} exists: real {}, fake {}",
                real_pod.is_some(),
                fake_pod.is_some()
            )),
        }
    }
    if real.current_revision != fake.current_revision {
        found.push(format!(
            "status.currentRevision: real {}, fake {}",
            template_name(real.current_revision),
            template_name(fake.current_revision)
        ));
    }
    if real.update_revision != fake.update_revision {
        found.push(format!(
            "status.updateRevision: real {}, fake {}",
            template_name(real.update_revision),
            template_name(fake.update_revision)
        ));
    }
    found
}

/// The real control plane's side.
struct RealCluster {
    pods: Api<Pod>,
    sets: Api<StatefulSet>,
}

impl RealCluster {
    async fn create(&self, case: &Case) {
        let set: StatefulSet = serde_json::from_value(case.statefulset()).unwrap();
        self.sets
            .create(&PostParams::default(), &set)
            .await
            .unwrap();
    }

    /// Replaces the whole template (PUT), so that a nodeSelector it drops is gone. The
    /// controller's status writes can make the read stale: conflicts are retried.
    async fn set_template(&self, case: &Case, template: Template) {
        for _ in 0..10 {
            let mut set = serde_json::to_value(self.sets.get(case.name).await.unwrap()).unwrap();
            set["spec"]["template"] = case.pod_template(template);
            let set: StatefulSet = serde_json::from_value(set).unwrap();
            match self
                .sets
                .replace(case.name, &PostParams::default(), &set)
                .await
            {
                Ok(_) => return,
                Err(kube::Error::Api(response)) if response.code == 409 => {}
                Err(error) => panic!("{}: replacing the template failed: {error}", case.name),
            }
        }
        panic!("{}: the template update kept conflicting", case.name);
    }

    async fn delete_pod(&self, name: &str) {
        self.pods
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }

    async fn snapshots(&self, cases: &[Case]) -> Vec<Snapshot> {
        let parameters = ListParams::default();
        let pods = by_name(self.pods.list(&parameters).await.unwrap().items);
        let sets = by_name(self.sets.list(&parameters).await.unwrap().items);
        cases
            .iter()
            .map(|case| Snapshot::of(case, &sets[case.name], &pods))
            .collect()
    }

    /// Polls until every set is at rest and unchanged for [`QUIET_PERIOD`].
    async fn settle(&self, cases: &[Case], step: Step, plane: &ControlPlane) -> Vec<Snapshot> {
        let started = Instant::now();
        let mut last = self.snapshots(cases).await;
        let mut unchanged_since = Instant::now();
        loop {
            tokio::time::sleep(POLL).await;
            let now = self.snapshots(cases).await;
            if now != last {
                unchanged_since = Instant::now();
                last = now;
            } else if last.iter().all(Snapshot::at_rest)
                && unchanged_since.elapsed() >= QUIET_PERIOD
            {
                eprintln!(
                    "real side settled after step {step:?} in {:.1?}",
                    started.elapsed()
                );
                return last;
            }
            assert!(
                started.elapsed() < SETTLE_LIMIT,
                "the real side did not settle within {SETTLE_LIMIT:?} after step {step:?}: {:#?}\nkubelet errors: {:?}",
                cases
                    .iter()
                    .zip(&last)
                    .filter(|(_, snapshot)| !snapshot.at_rest())
                    .map(|(case, snapshot)| (case.name, snapshot))
                    .collect::<Vec<_>>(),
                plane.kubelet().errors()
            );
        }
    }
}

/// The simulator's side.
struct FakeCluster {
    world: World,
}

impl FakeCluster {
    fn create(&self, case: &Case) {
        self.world.api.create(case.statefulset()).unwrap();
    }

    fn set_template(&self, case: &Case, template: Template) {
        let reference = ObjectRef::new(ResourceType::StatefulSet, NAMESPACE, case.name);
        let mut set = Value::clone(&self.world.api.object(&reference).unwrap());
        set["spec"]["template"] = case.pod_template(template);
        self.world.api.replace(set).unwrap();
    }

    async fn delete_pod(&self, name: &str) {
        let reference = ObjectRef::new(ResourceType::Pod, NAMESPACE, name);
        self.world
            .api
            .delete(&reference, Propagation::Background)
            .await
            .unwrap();
    }

    fn snapshots(&self, cases: &[Case]) -> Vec<Snapshot> {
        let objects = |resource| {
            let objects = self.world.api.objects(resource);
            by_name(objects.into_iter().map(Arc::unwrap_or_clone).collect())
        };
        let pods = objects(ResourceType::Pod);
        let sets = objects(ResourceType::StatefulSet);
        cases
            .iter()
            .map(|case| Snapshot::of(case, &sets[case.name], &pods))
            .collect()
    }

    /// Steps until every set is at rest and unchanged for [`FAKE_QUIET_STEPS`] steps.
    fn settle(&self, cases: &[Case], step: Step) -> Vec<Snapshot> {
        let mut last = self.snapshots(cases);
        let mut quiet_steps = 0;
        for taken in 1..=FAKE_STEP_LIMIT {
            self.world.step();
            let now = self.snapshots(cases);
            if now == last && now.iter().all(Snapshot::at_rest) {
                quiet_steps += 1;
                if quiet_steps == FAKE_QUIET_STEPS {
                    eprintln!("fake side settled after step {step:?} in {taken} steps");
                    return now;
                }
            } else {
                quiet_steps = 0;
            }
            last = now;
        }
        panic!(
            "the fake did not settle within {FAKE_STEP_LIMIT} steps after step {step:?}: {:#?}",
            cases
                .iter()
                .zip(&last)
                .map(|(case, snapshot)| (case.name, snapshot))
                .collect::<Vec<_>>()
        );
    }
}

/// One comparison of the run: a case after a step.
struct Compared {
    case: &'static str,
    step: &'static str,
    real: Observation,
    fake: Observation,
    real_snapshot: Snapshot,
    fake_snapshot: Snapshot,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_statefulset_controller_handles_pending_outdated_pods_like_kubernetes() {
    let started = Instant::now();
    let plane = ControlPlane::start(default_nodes()).await;
    let client = plane.client().await;
    let real = RealCluster {
        pods: Api::namespaced(client.clone(), NAMESPACE),
        sets: Api::namespaced(client, NAMESPACE),
    };
    let fake = FakeCluster {
        world: World::new(),
    };
    let cases = cases();
    let mut real_history: Vec<History> = cases.iter().map(|_| History::default()).collect();
    let mut fake_history: Vec<History> = cases.iter().map(|_| History::default()).collect();
    let mut compared = Vec::new();
    for step in STEPS {
        for case in &cases {
            if step == Step::Created {
                real.create(case).await;
                fake.create(case);
            } else if let Some(template) = case.template_set_by(step) {
                real.set_template(case, template).await;
                fake.set_template(case, template);
            }
            if case.deletes_ordinal_at(step) {
                real.delete_pod(&case.pod_name(DELETED_ORDINAL)).await;
                fake.delete_pod(&case.pod_name(DELETED_ORDINAL)).await;
            }
        }
        let fake_snapshots = fake.settle(&cases, step);
        let real_snapshots = real.settle(&cases, step, &plane).await;
        for (index, case) in cases.iter().enumerate() {
            let introduced = case.template_introduced_by(step);
            compared.push(Compared {
                case: case.name,
                step: case.step_label(step),
                real: real_history[index].observe(&real_snapshots[index], introduced),
                fake: fake_history[index].observe(&fake_snapshots[index], introduced),
                real_snapshot: real_snapshots[index].clone(),
                fake_snapshot: fake_snapshots[index].clone(),
            });
        }
    }
    eprintln!("compared in {:.1?}", started.elapsed());

    let mut report = Vec::new();
    for entry in &compared {
        eprintln!(
            "{} after {}:\n  real: {}\n  fake: {}",
            entry.case, entry.step, entry.real, entry.fake
        );
        let found = differences(&entry.real, &entry.fake);
        if !found.is_empty() {
            report.push(format!(
                "{} after {}: {}\n  real: {}\n  fake: {}\n  real as read: {:?}\n  fake as read: {:?}",
                entry.case,
                entry.step,
                found.join("; "),
                entry.real,
                entry.fake,
                entry.real_snapshot,
                entry.fake_snapshot
            ));
        }
    }
    assert!(
        report.is_empty(),
        "the fake StatefulSet controller differs from Kubernetes':\n{}",
        report.join("\n")
    );
}

/// Objects as JSON, by name.
fn by_name<T: serde::Serialize>(items: Vec<T>) -> BTreeMap<String, Value> {
    items
        .into_iter()
        .map(|item| {
            let item = serde_json::to_value(item).unwrap();
            (item["metadata"]["name"].as_str().unwrap().to_owned(), item)
        })
        .collect()
}
