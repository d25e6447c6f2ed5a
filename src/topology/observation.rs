//! What the operator knows of each pod and of the Redis server or sentinel in it, as typed values
//! built from what observation read. Pure: no I/O.

use std::sync::Arc;

use serde_json::Value;

use super::replies::{ClusterNode, ReplicationInfo, SentinelMaster};
use crate::json_pointer::JsonPointer;
use crate::ports::clock::{Milliseconds, parse_rfc3339};
use crate::ports::redis::RedisEndpoint;
use crate::resources::names::{APP_LABEL, REDIS_ROLE_LABEL};

/// Label the StatefulSet controller puts on each pod: the revision of the template it runs.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// Restarts after which a container that failed last and is not ready counts as crash-looping
/// even while it briefly runs between back-offs.
const CRASH_LOOP_RESTARTS: u64 = 3;

/// Why a pod cannot start or keep running, as Kubernetes reports it in the pod's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PodProblemKind {
    /// The scheduler found no node for it (`PodScheduled` is False, reason `Unschedulable`).
    Unschedulable,
    /// Its image cannot be pulled (`ErrImagePull`, `ImagePullBackOff`, `InvalidImageName`).
    ImagePullFailed,
    /// A container keeps crashing (`CrashLoopBackOff`).
    CrashLooping,
    /// A container cannot be created (`CreateContainerConfigError`, `CreateContainerError`):
    /// a missing Secret or ConfigMap key, for example.
    ContainerNotCreated,
}

impl PodProblemKind {
    /// Whether a pod with this problem never ran a container: it holds no data of its own, so
    /// deleting it loses nothing.
    pub fn never_started(self) -> bool {
        !matches!(self, PodProblemKind::CrashLooping)
    }

    /// The words that say what is wrong, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            PodProblemKind::Unschedulable => "cannot be scheduled",
            PodProblemKind::ImagePullFailed => "cannot pull its image",
            PodProblemKind::CrashLooping => "keeps crashing",
            PodProblemKind::ContainerNotCreated => "cannot create its container",
        }
    }
}

/// A pod's problem and what Kubernetes says of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodProblem {
    /// What kind of problem.
    pub kind: PodProblemKind,
    /// Kubernetes' own words (the condition's or the container state's message and reason).
    pub detail: String,
}

impl PodProblem {
    /// Reads the problem from a pod's status: the scheduling condition first, then the waiting
    /// state of each container (init containers first).
    fn of(status: Option<&Value>) -> Option<PodProblem> {
        let status = status?;
        let unschedulable =
            status
                .get("conditions")
                .and_then(Value::as_array)
                .and_then(|conditions| {
                    conditions.iter().find(|condition| {
                        condition["type"] == "PodScheduled"
                            && condition["status"] == "False"
                            && condition["reason"] == "Unschedulable"
                    })
                });
        if let Some(condition) = unschedulable {
            return Some(PodProblem {
                kind: PodProblemKind::Unschedulable,
                detail: condition["message"]
                    .as_str()
                    .unwrap_or("no node fits the pod")
                    .to_owned(),
            });
        }
        ["initContainerStatuses", "containerStatuses"]
            .iter()
            .filter_map(|field| status.get(*field).and_then(Value::as_array))
            .flatten()
            .find_map(|container| {
                let container_name = container
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("a container");
                // Between back-offs a crash-looping container runs briefly: it still is one
                // while it keeps failing and has not become ready.
                let restarts = container
                    .get("restartCount")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let failed_last = container
                    .at("/lastState/terminated/exitCode")
                    .and_then(Value::as_i64)
                    .is_some_and(|code| code != 0);
                let ready = container
                    .get("ready")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let Some(waiting) = container.at("/state/waiting") else {
                    return (restarts >= CRASH_LOOP_RESTARTS && failed_last && !ready).then(|| {
                        PodProblem {
                            kind: PodProblemKind::CrashLooping,
                            detail: format!(
                                "{container_name}: restarted {restarts} times, last exit failed"
                            ),
                        }
                    });
                };
                let reason = waiting.get("reason").and_then(Value::as_str)?;
                let kind = match reason {
                    "ErrImagePull"
                    | "ImagePullBackOff"
                    | "InvalidImageName"
                    | "ErrImageNeverPull"
                    | "RegistryUnavailable" => PodProblemKind::ImagePullFailed,
                    "CrashLoopBackOff" => PodProblemKind::CrashLooping,
                    "CreateContainerConfigError" | "CreateContainerError" | "RunContainerError" => {
                        PodProblemKind::ContainerNotCreated
                    }
                    _ => return None,
                };
                let detail = match waiting.get("message").and_then(Value::as_str) {
                    Some(message) if !message.is_empty() => {
                        format!("{container_name}: {reason}: {message}")
                    }
                    _ => format!("{container_name}: {reason}"),
                };
                Some(PodProblem { kind, detail })
            })
    }
}

/// A pod of a group, as the topology planners need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    /// Pod name, `<statefulset>-<ordinal>`.
    pub name: String,
    /// The group (StatefulSet) it belongs to, from its `app` label.
    pub group: String,
    /// Ordinal within the StatefulSet.
    pub ordinal: u32,
    /// Pod IP, once it has one.
    pub ip: Option<String>,
    /// The Kubernetes node it runs on.
    pub node_name: Option<String>,
    /// Whether the pod is Ready.
    pub ready: bool,
    /// When the Ready condition last changed (RFC 3339).
    pub ready_since: Option<String>,
    /// When the pod was created (RFC 3339).
    pub created_at: Option<String>,
    /// Whether the pod is being deleted.
    pub terminating: bool,
    /// When its deletion was requested: the deletion timestamp less the grace period the
    /// API server added to it.
    pub deletion_requested_at: Option<Milliseconds>,
    /// The template revision the pod runs.
    pub revision: Option<String>,
    /// The `redis-role` label the operator last put on the pod.
    pub role_label: Option<String>,
    /// Whether the pod is in phase Pending (not bound, or no container started yet).
    pub pending: bool,
    /// Why the pod cannot start or keep running, when Kubernetes says so.
    pub problem: Option<PodProblem>,
}

impl PodInfo {
    /// A Ready, running pod `group-ordinal` at `ip` on `node_name`, with nothing else known of it:
    /// how benchmarks, tests and fleets of real servers describe pods to the planners.
    pub fn ready(group: &str, ordinal: u32, ip: &str, node_name: Option<String>) -> PodInfo {
        PodInfo {
            name: format!("{group}-{ordinal}"),
            group: group.to_owned(),
            ordinal,
            ip: Some(ip.to_owned()),
            node_name,
            ready: true,
            ready_since: None,
            created_at: None,
            terminating: false,
            deletion_requested_at: None,
            revision: None,
            role_label: None,
            pending: false,
            problem: None,
        }
    }

    /// Reads every pod object of `pods` that is a pod of a StatefulSet, in order.
    pub fn read_all(pods: &[std::sync::Arc<Value>]) -> Vec<PodInfo> {
        pods.iter()
            .filter_map(|pod| PodInfo::from_pod(pod))
            .collect()
    }

    /// Reads a pod object; `None` for objects that are not pods of a StatefulSet.
    pub fn from_pod(pod: &Value) -> Option<PodInfo> {
        // Each section is found once: every pod of a CR is read on every reconcile.
        let metadata = pod.get("metadata");
        let labels = metadata.and_then(|metadata| metadata.get("labels"));
        let status = pod.get("status");
        let text = |section: Option<&Value>, field: &str| {
            section
                .and_then(|section| section.get(field))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let name = text(metadata, "name")?;
        let group = text(labels, APP_LABEL)?;
        let ordinal = name
            .rsplit_once('-')
            .and_then(|(_, ordinal)| ordinal.parse().ok())?;
        let ready_condition = status
            .and_then(|status| status.get("conditions"))
            .and_then(Value::as_array)
            .and_then(|conditions| {
                conditions
                    .iter()
                    .find(|condition| condition["type"] == "Ready")
            });
        let deletion = metadata.and_then(|metadata| metadata.get("deletionTimestamp"));
        Some(PodInfo {
            name,
            group,
            ordinal,
            ip: text(status, "podIP").filter(|ip| !ip.is_empty()),
            node_name: text(pod.get("spec"), "nodeName"),
            ready: ready_condition.is_some_and(|condition| condition["status"] == "True"),
            ready_since: ready_condition
                .and_then(|condition| condition.get("lastTransitionTime"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            created_at: text(metadata, "creationTimestamp"),
            terminating: deletion.is_some_and(|time| !time.is_null()),
            deletion_requested_at: deletion
                .and_then(Value::as_str)
                .and_then(parse_rfc3339)
                .map(|deadline| {
                    let grace_seconds = metadata
                        .and_then(|metadata| metadata.get("deletionGracePeriodSeconds"))
                        .and_then(Value::as_u64)
                        .unwrap_or(0);
                    deadline.saturating_sub(grace_seconds.saturating_mul(1000))
                }),
            revision: text(labels, REVISION_LABEL),
            role_label: text(labels, REDIS_ROLE_LABEL),
            pending: text(status, "phase").is_none_or(|phase| phase == "Pending"),
            problem: PodProblem::of(status),
        })
    }
}

/// One Redis server as observed: its pod, how to reach it, and what it said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerView {
    /// The pod.
    pub pod: PodInfo,
    /// How to reach the server.
    pub endpoint: RedisEndpoint,
    /// INFO replication, when the server answered.
    pub replication: Option<ReplicationInfo>,
    /// CLUSTER NODES, for cluster nodes that answered; shared with the parse the observation
    /// remembers for an unchanged reply.
    pub cluster_nodes: Option<Arc<Vec<ClusterNode>>>,
    /// Keys in the dataset of every database (INFO keyspace), when the server answered.
    pub keys: Option<u64>,
    /// For a cluster master that owns slots: whether its CLUSTER INFO says `cluster_state:ok`
    /// (it serves its slots). Not read from other servers.
    pub cluster_state_ok: Option<bool>,
    /// Why the server could not be read, when it could not.
    pub error: Option<String>,
}

impl ServerView {
    /// A ready pod's server at `ip:6379` with nothing read from it yet, for the planners' tests.
    #[cfg(test)]
    pub(crate) fn ready_pod(name: &str, group: &str, ordinal: u32, ip: &str) -> ServerView {
        let mut pod = PodInfo::ready(group, ordinal, ip, None);
        pod.name = name.to_owned();
        ServerView {
            pod,
            endpoint: RedisEndpoint {
                namespace: "default".to_owned(),
                pod: name.to_owned(),
                host: ip.to_owned(),
                port: 6379,
                password: None,
                user: None,
                tls: None,
            },
            replication: None,
            cluster_nodes: None,
            keys: None,
            cluster_state_ok: None,
            error: None,
        }
    }

    /// Whether the server answered every read.
    pub fn answered(&self) -> bool {
        self.error.is_none() && self.replication.is_some()
    }

    /// The node's own line of CLUSTER NODES.
    pub fn myself(&self) -> Option<&ClusterNode> {
        self.cluster_nodes
            .as_ref()?
            .iter()
            .find(|node| node.flags.myself)
    }
}

/// One sentinel as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelView {
    /// The pod.
    pub pod: PodInfo,
    /// How to reach the sentinel.
    pub endpoint: RedisEndpoint,
    /// SENTINEL MASTERS, when the sentinel answered.
    pub masters: Option<Vec<SentinelMaster>>,
    /// Why the sentinel could not be read, when it could not.
    pub error: Option<String>,
}

/// Everything observed of Redis for one CR.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedisObservation {
    /// The CR's Redis servers, by pod name order.
    pub servers: Vec<ServerView>,
    /// The CR's sentinels (RedisSentinel), by pod name order.
    pub sentinels: Vec<SentinelView>,
    /// For a RedisSentinel: the servers of the replication set it monitors.
    pub monitored: Vec<ServerView>,
    /// For a RedisReplication: the master address the sentinels that manage it agree on, and
    /// whether any sentinel manages it at all.
    pub sentinel_master: Option<(String, u16)>,
    /// For a RedisReplication: whether a RedisSentinel manages it (then the operator never
    /// promotes on its own).
    pub managed_by_sentinel: bool,
    /// For a RedisReplication managed by sentinels: one sentinel to ask for a planned failover,
    /// with the group name it knows the set by.
    pub failover_sentinel: Option<(RedisEndpoint, String)>,
}
