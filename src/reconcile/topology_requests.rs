//! Topology requests: picks the Redis planner for the kind, feeds it what was observed, and turns
//! its decisions into requests (Redis commands, evictions, pod labels) and the facts the status
//! reports. Pure: it never talks to Redis or to the API server, and it never writes the status.

use crate::json_pointer::JsonPointer;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::Request;
use super::plan_input::PlanInput;
use crate::api::document::ValidatedResource;
use crate::api::validation::{ValidatedCluster, ValidatedReplication, ValidatedSentinel};
use crate::ports::kube::{EventReason, ObjectRef, ResourceType};
use crate::resources::groups_of;
use crate::resources::names::{REDIS_ROLE_LABEL, REDIS_ROLE_MASTER, REDIS_ROLE_REPLICA};
use crate::topology::blocked::Blocked;
use crate::topology::cluster::{ClusterInput, ClusterPhase, RedisStep, plan_cluster};
use crate::topology::replication::{ReplicationInput, is_master, plan_replication};
use crate::topology::sentinel::{SentinelInput, plan_sentinels};

/// What the Redis planners decided, in the plan's terms.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TopologyOutcome {
    /// The cluster planner's steps, which run before `requests`. They become requests once, in
    /// the plan's own list: a migration batch holds thousands.
    pub steps: Vec<RedisStep>,
    /// Redis commands, evictions and pod label updates.
    pub requests: Vec<Request>,
    /// Whether Redis is in the shape the spec asks for.
    pub ready: bool,
    /// What the planner is doing when nothing blocks it.
    pub activity: String,
    /// Why the planner cannot progress, when it cannot.
    pub blocked: Option<Blocked>,
    /// The replication master pod.
    pub master_node: Option<String>,
    /// The master address the sentinels agree on.
    pub master_address: Option<String>,
    /// StatefulSet replica counts that must not shrink yet.
    pub hold_replicas: BTreeMap<String, i32>,
    /// (reason, message) for Normal Events.
    pub events: Vec<(EventReason, String)>,
    /// `redis-role` pod labels that follow Redis' roles. They run after the other requests and
    /// do not make the CR unready: they record what Redis already is.
    pub role_labels: Vec<Request>,
    /// `redis-role` labels that run before the topology's steps: the master label taken off a
    /// pod that is no longer the master, and put on the master when it already answers as one.
    /// A step that fails (a lost reply, a server gone) ends the reconcile; the `-master` Service
    /// must not send clients to a server the operator is about to make a replica meanwhile, as
    /// what it acknowledged would be lost when it follows the new master.
    pub labels_before_steps: Vec<Request>,
}

impl TopologyOutcome {
    /// A problem that needs a person: a step the planner refuses, or the cluster failed.
    pub fn needs_a_person(&self) -> Option<&Blocked> {
        self.blocked
            .as_ref()
            .filter(|blocked| blocked.needs_a_person())
    }

    /// What the planner is doing or waiting for, for the status.
    pub fn progress(&self) -> &str {
        self.blocked
            .as_ref()
            .map_or(self.activity.as_str(), Blocked::message)
    }

    /// Whether any step or request changes state.
    pub fn writes_pending(&self) -> bool {
        self.steps.iter().any(RedisStep::is_write) || self.requests.iter().any(Request::is_write)
    }

    /// Whether any Redis command or slot move among them changes state.
    pub fn redis_writes_pending(&self) -> bool {
        self.steps.iter().any(RedisStep::is_write)
            || self.requests.iter().any(|request| {
                matches!(
                    request,
                    Request::Redis { .. } | Request::MoveSlotKeys { .. }
                ) && request.is_write()
            })
    }
}

/// A planner step becomes the request that carries it out.
impl From<RedisStep> for Request {
    fn from(step: RedisStep) -> Request {
        match step {
            RedisStep::Command(endpoint, command) => Request::Redis { endpoint, command },
            RedisStep::MoveSlotKeys {
                source,
                target,
                slot,
            } => Request::MoveSlotKeys {
                source,
                target,
                slot,
            },
        }
    }
}

/// Runs the planner of the CR's kind.
pub fn plan_topology(input: PlanInput<'_>, validated: &ValidatedResource) -> TopologyOutcome {
    match validated {
        ValidatedResource::Redis(..) => TopologyOutcome {
            ready: true,
            ..TopologyOutcome::default()
        },
        ValidatedResource::RedisReplication(_, spec) => {
            replication_topology(input, validated, spec)
        }
        ValidatedResource::RedisSentinel(_, spec) => sentinel_topology(input, spec),
        ValidatedResource::RedisCluster(_, spec) => cluster_topology(input, validated, spec),
    }
}

/// The replication planner's decisions: Redis commands, role labels, evictions for a rolling
/// restart, and the replicas a scale-in must keep until the master has handed over.
fn replication_topology(
    input: PlanInput<'_>,
    validated: &ValidatedResource,
    spec: &ValidatedReplication,
) -> TopologyOutcome {
    let redis = input.redis;
    let statefulset = groups_of(validated).first().and_then(|group| {
        input.observed.children.get(&ObjectRef::new(
            ResourceType::StatefulSet,
            &input.target.namespace,
            &group.statefulset_name,
        ))
    });
    let target_revision = statefulset
        .and_then(|statefulset| statefulset.at("/status/updateRevision"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let statefulset_replicas = statefulset
        .and_then(|statefulset| statefulset.at("/spec/replicas"))
        .and_then(Value::as_i64)
        .map(|replicas| i32::try_from(replicas).unwrap_or(i32::MAX));
    let previous_master = input
        .observed
        .resource
        .as_ref()
        .and_then(|resource| resource.at("/status/masterNode"))
        .and_then(Value::as_str);
    let decided = plan_replication(ReplicationInput {
        servers: &redis.servers,
        size: spec.size,
        statefulset_replicas,
        managed_by_sentinel: redis.managed_by_sentinel,
        sentinel_master: redis
            .sentinel_master
            .as_ref()
            .map(|(host, port)| (host.as_str(), *port)),
        previous_master,
        now: input.now,
        target_revision: target_revision.as_deref(),
        failover_sentinel: redis
            .failover_sentinel
            .as_ref()
            .map(|(endpoint, group)| (endpoint, group.as_str())),
        data_survives_restart: groups_of(validated)
            .first()
            .is_some_and(|group| group.data_claim.is_some() && group.persistence),
    });
    let mut requests: Vec<Request> = decided
        .commands
        .into_iter()
        .map(|(endpoint, command)| Request::Redis {
            endpoint: Arc::new(endpoint),
            command,
        })
        .collect();
    let (labels_before_steps, labels) = decided
        .master
        .as_deref()
        .map(|master| role_labels(input, master, &decided.evictions))
        .unwrap_or_default();
    requests.extend(decided.evictions.iter().map(|pod| {
        Request::Evict(ObjectRef::new(
            ResourceType::Pod,
            &input.target.namespace,
            pod,
        ))
    }));
    TopologyOutcome {
        requests,
        ready: decided.converged,
        activity: "placing the master and its replicas".to_owned(),
        blocked: decided.blocked,
        master_node: decided.master,
        events: decided.events,
        role_labels: labels,
        labels_before_steps,
        hold_replicas: groups_of(validated)
            .first()
            .zip(decided.hold_replicas)
            .map(|(group, minimum)| (group.statefulset_name.clone(), minimum))
            .into_iter()
            .collect(),
        ..TopologyOutcome::default()
    }
}

/// The sentinel planner's decisions: what each sentinel is told to monitor.
fn sentinel_topology(input: PlanInput<'_>, spec: &ValidatedSentinel) -> TopologyOutcome {
    let redis = input.redis;
    let decided = plan_sentinels(SentinelInput {
        sentinels: &redis.sentinels,
        monitor: &spec.monitor,
        replication: &redis.monitored,
        size: spec.size,
    });
    TopologyOutcome {
        requests: decided
            .commands
            .into_iter()
            .map(|(endpoint, command)| Request::Redis {
                endpoint: Arc::new(endpoint),
                command,
            })
            .collect(),
        ready: decided.converged,
        activity: "telling the sentinels what to monitor".to_owned(),
        blocked: decided.blocked,
        master_address: decided.master_address,
        ..TopologyOutcome::default()
    }
}

/// The cluster planner's decisions: its steps, evictions for a rolling restart, and the replicas
/// a scale-in must keep until slots have moved.
fn cluster_topology(
    input: PlanInput<'_>,
    validated: &ValidatedResource,
    spec: &ValidatedCluster,
) -> TopologyOutcome {
    let redis = input.redis;
    let groups = groups_of(validated);
    let (Some(leaders), Some(followers)) = (groups.first(), groups.get(1)) else {
        return TopologyOutcome::default();
    };
    let mut target_revisions = BTreeMap::new();
    let mut live_replicas = BTreeMap::new();
    for group in [leaders, followers] {
        let reference = ObjectRef::new(
            ResourceType::StatefulSet,
            &input.target.namespace,
            &group.statefulset_name,
        );
        if let Some(statefulset) = input.observed.children.get(&reference) {
            if let Some(revision) = statefulset
                .at("/status/updateRevision")
                .and_then(Value::as_str)
            {
                target_revisions.insert(group.app.clone(), revision.to_owned());
            }
            if let Some(replicas) = statefulset.at("/spec/replicas").and_then(Value::as_i64) {
                live_replicas.insert(
                    group.app.clone(),
                    i32::try_from(replicas).unwrap_or(i32::MAX),
                );
            }
        }
    }
    let decided = plan_cluster(&ClusterInput {
        servers: &redis.servers,
        leader_group: &leaders.app,
        follower_group: &followers.app,
        shards: u32::try_from(spec.shards).unwrap_or(0),
        replicas_per_shard: u32::try_from(spec.replicas_per_shard).unwrap_or(0),
        major_version: match leaders.mode {
            crate::resources::group::ServerMode::Cluster { major_version } => major_version,
            _ => 7,
        },
        target_revisions: &target_revisions,
        live_replicas: &live_replicas,
        leaders_keep_data_across_restarts: leaders.data_claim.is_some() && leaders.persistence,
    });
    let requests: Vec<Request> = decided
        .evictions
        .iter()
        .map(|pod| {
            Request::Evict(ObjectRef::new(
                ResourceType::Pod,
                &input.target.namespace,
                pod,
            ))
        })
        .collect();
    let evictions = requests.len();
    let (ready, blocked) = match decided.phase {
        ClusterPhase::Ready => (decided.steps.is_empty() && evictions == 0, None),
        ClusterPhase::Failed(reason) => (false, Some(Blocked::Refusing(reason))),
        ClusterPhase::Initializing | ClusterPhase::Bootstrap => (false, None),
    };
    TopologyOutcome {
        steps: decided.steps,
        requests,
        ready,
        activity: decided.activity,
        blocked,
        hold_replicas: decided.hold_replicas,
        events: decided.events,
        role_labels: decided
            .role_labels
            .iter()
            .map(|(pod, role)| role_label_request(input, pod, role))
            .collect(),
        ..TopologyOutcome::default()
    }
}

/// Pod label updates so that `redis-role` names the real master and the `-master` and
/// `-replica` Services select the right pods: those that run before the topology's steps (the
/// master label taken off, or put on a master already answering as one), then the rest. A pod
/// evicted in the same plan, or already terminating, is left alone: the labels run after the
/// evictions, and a label written on a pod that is gone would be an attempt to create it.
fn role_labels(
    input: PlanInput<'_>,
    master: &str,
    evicted: &[String],
) -> (Vec<Request>, Vec<Request>) {
    // Every pod is labelled, answering or not: a former master cut off from the operator (its
    // node down) still carries the master label, and the `-master` Service would send clients to
    // it the moment it is back, before anything makes it a replica; and the master the sentinels
    // agree on may be one the operator cannot reach while clients can.
    // The master label goes on after every other label came off: an operator that stops
    // between two label writes (a crash, a lost reply) leaves the `-master` Service selecting
    // no pod, where clients' writes fail, rather than two, where the old master's are lost.
    let mut before_steps = Vec::new();
    let mut promotion_before_steps = None;
    let mut after_steps = Vec::new();
    for server in input
        .redis
        .servers
        .iter()
        .filter(|server| !server.pod.terminating && !evicted.contains(&server.pod.name))
    {
        let chosen = server.pod.name == master;
        let wanted = if chosen {
            REDIS_ROLE_MASTER
        } else {
            REDIS_ROLE_REPLICA
        };
        let Some(pod) = input.observed.pods.iter().find(|pod| {
            pod.at("/metadata/name").and_then(Value::as_str) == Some(server.pod.name.as_str())
        }) else {
            continue;
        };
        let current = pod
            .at("/metadata/labels")
            .and_then(|labels| labels.get(REDIS_ROLE_LABEL))
            .and_then(Value::as_str);
        if current == Some(wanted) {
            continue;
        }
        let request = role_label_request(input, &server.pod.name, wanted);
        if !chosen {
            before_steps.push(request);
        } else if is_master(server) {
            promotion_before_steps = Some(request);
        } else {
            after_steps.push(request);
        }
    }
    before_steps.extend(promotion_before_steps);
    (before_steps, after_steps)
}

/// Puts the `redis-role` label `role` on the CR's pod `pod`.
fn role_label_request(input: PlanInput<'_>, pod: &str, role: &str) -> Request {
    Request::Apply(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod,
            "namespace": input.target.namespace,
            "labels": {REDIS_ROLE_LABEL: role},
        },
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::Kind;
    use crate::reconcile::observe::Observed;
    use crate::topology::observation::{RedisObservation, ServerView};

    fn pod(name: &str, role: &str) -> Arc<Value> {
        Arc::new(
            json!({"metadata": {"name": name, "namespace": "default", "labels": {REDIS_ROLE_LABEL: role}}}),
        )
    }

    /// The labels `role_labels` writes for `master` when sessions-0 answers as a master and
    /// sessions-1 does not answer, the pods carrying `current` labels.
    /// Each as (pod, label, whether it runs before the topology's steps).
    fn planned_labels(current: [&str; 2], master: &str) -> Vec<(String, String, bool)> {
        let observed = Observed {
            pods: vec![pod("sessions-0", current[0]), pod("sessions-1", current[1])],
            ..Observed::default()
        };
        let mut answering = ServerView::ready_pod("sessions-0", "sessions", 0, "10.0.0.1");
        answering.replication = Some(crate::topology::replies::ReplicationInfo {
            role: crate::topology::replies::ReplicationRole::Master,
            master_host: None,
            master_port: None,
            master_link_up: false,
            master_sync_in_progress: false,
            master_link_down: None,
            replica_offset: None,
            replica_priority: None,
            master_replication_id: "0".repeat(40),
            master_offset: 0,
            previous_history: None,
            replicas: Vec::new(),
        });
        let mut away = ServerView::ready_pod("sessions-1", "sessions", 1, "10.0.0.2");
        away.error = Some("timed out".to_owned());
        let redis = RedisObservation {
            servers: vec![answering, away],
            ..RedisObservation::default()
        };
        let target = ObjectRef::new(ResourceType::RedisReplication, "default", "sessions");
        let input = PlanInput {
            kind: Kind::RedisReplication,
            target: &target,
            observed: &observed,
            now: 0,
            new_rejections: &[],
            refused_evictions: &[],
            design: None,
            redis: &redis,
        };
        let (before_steps, after_steps) = role_labels(input, master, &[]);
        before_steps
            .into_iter()
            .map(|request| (true, request))
            .chain(after_steps.into_iter().map(|request| (false, request)))
            .filter_map(|(before, request)| match request {
                Request::Apply(object) => Some((
                    object["metadata"]["name"].as_str()?.to_owned(),
                    object["metadata"]["labels"][REDIS_ROLE_LABEL]
                        .as_str()?
                        .to_owned(),
                    before,
                )),
                _ => None,
            })
            .collect()
    }

    fn label(pod: &str, role: &str, before_steps: bool) -> (String, String, bool) {
        (pod.to_owned(), role.to_owned(), before_steps)
    }

    #[test]
    fn a_former_master_that_does_not_answer_loses_its_master_label_before_the_steps() {
        // sessions-1 was the master until its node went down; sessions-0 took over and answers
        // as a master: both labels are written before the steps, so a step that fails leaves no
        // client writing to sessions-1 when it returns; the master label last, so an operator
        // stopped between the two leaves the Service selecting no pod rather than both.
        assert_eq!(
            planned_labels([REDIS_ROLE_REPLICA, REDIS_ROLE_MASTER], "sessions-0"),
            vec![
                label("sessions-1", REDIS_ROLE_REPLICA, true),
                label("sessions-0", REDIS_ROLE_MASTER, true),
            ]
        );
    }

    #[test]
    fn a_master_the_operator_cannot_reach_gets_the_master_label_after_the_steps() {
        // The sentinels promoted sessions-1, which the operator is cut off from: the master
        // label waits for the steps, the replica label of sessions-0 does not.
        assert_eq!(
            planned_labels([REDIS_ROLE_MASTER, REDIS_ROLE_REPLICA], "sessions-1"),
            vec![
                label("sessions-0", REDIS_ROLE_REPLICA, true),
                label("sessions-1", REDIS_ROLE_MASTER, false),
            ]
        );
    }
}
