//! Decoding fuzz bytes into a transition scenario: the CR's shape (kind, sizes, budgets,
//! persistence, sentinels), the warm-up, and the events and faults between reconciles, with the
//! manifests the shape stands for. Total: every byte string decodes, missing bytes read as zero,
//! and every scenario is bounded.

use redis_operator::api::Kind;
use serde_json::{Value, json};

use super::{IMAGES, MAXIMUM_EVENTS, MAXIMUM_WARM_UP_ROUNDS, NAMESPACE};

/// Reads a scenario from bytes; once the bytes run out every read gives zero.
pub(super) struct ByteReader<'input> {
    pub(super) bytes: &'input [u8],
    pub(super) position: usize,
}

impl ByteReader<'_> {
    pub(super) fn byte(&mut self) -> u8 {
        let byte = self.bytes.get(self.position).copied().unwrap_or(0);
        self.position = self.position.saturating_add(1);
        byte
    }

    /// A number in `0..bound` (`bound` > 0).
    pub(super) fn below(&mut self, bound: u8) -> u8 {
        self.byte() % bound.max(1)
    }

    pub(super) fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    pub(super) fn exhausted(&self) -> bool {
        self.position >= self.bytes.len()
    }
}

/// The first event selector byte that stands for a spec edit ([`Event::BreakSpec`] and
/// [`Event::RepairSpec`]).
const FIRST_SPEC_EDIT_SELECTOR: u8 = 252;
/// The first event selector byte that stands for [`Event::SlowSync`] (the two below the spec
/// edits; none of the inputs kept in fuzz/regressions used them as selectors).
const FIRST_SLOW_SYNC_SELECTOR: u8 = 250;
/// The first event selector byte that stands for [`Event::LostReplies`] (the two below the slow
/// syncs; none of the inputs kept in fuzz/regressions used them as selectors either).
const FIRST_LOST_REPLIES_SELECTOR: u8 = 248;
/// The selector byte that stands for [`Event::OperatorDown`], and the one below it for
/// [`Event::WatchGone`] (the two below the lost replies; none of the inputs kept in
/// fuzz/regressions used them as selectors).
const OPERATOR_DOWN_SELECTOR: u8 = 247;
/// The selector byte that stands for [`Event::Latency`], and the one below it for
/// [`Event::ClockSkew`] (the two below the stalled watches; none of the inputs kept in
/// fuzz/regressions used them as selectors).
const LATENCY_SELECTOR: u8 = 245;
/// The selector byte that stands for [`Event::UnsatisfiableEdit`] (the one below the clock
/// skew; none of the inputs kept in fuzz/regressions used it as a selector).
const UNSATISFIABLE_EDIT_SELECTOR: u8 = 243;

/// A PodDisruptionBudget setting of the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetChoice {
    /// `pdb: {enabled: true}` (the API's majority default).
    Default,
    /// `minAvailable`.
    MinAvailable(i32),
    /// `maxUnavailable`.
    MaxUnavailable(i32),
}

/// The CR (and, for a sentinel, the replication set it watches) a scenario starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The kind of the CR under test.
    pub kind: Kind,
    /// Pods of a replication set (for a sentinel: of the set it watches), or cluster shards.
    pub size: i32,
    /// Followers per shard of a cluster.
    pub followers_per_shard: i32,
    /// Sentinels of a RedisSentinel.
    pub sentinels: i32,
    /// Whether the data lives on volumes (and, for a cluster, `persistenceEnabled`).
    pub persistent: bool,
    /// The disruption budget, when enabled.
    pub budget: Option<BudgetChoice>,
    /// Index into the images.
    pub image: usize,
}

/// The address a fuzzed client writes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientRoute {
    /// Where the operator sends the set's clients (a replication set's `-master` Service, a
    /// cluster's masters): every write Redis acknowledges there is the set's, and the lost-writes
    /// oracle holds it.
    Published,
    /// Whatever server answers as a master, as a client configured with one pod's own address
    /// would write: a write acknowledged by a server the operator does not publish (a restarted
    /// pod before anyone pointed it) is not the set's, so no oracle holds it; it only puts data
    /// where the operator must not lose the set's.
    AnyMaster,
}

/// One thing that happens to the world between reconciles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Reconcile rounds with nothing else happening.
    Rounds(u8),
    /// A pod dies; its node stays down for some seconds before the pod can come back.
    KillPod {
        /// Which pod (modulo the pods there are).
        pod: u8,
        /// Seconds the pod is held down.
        held_seconds: u8,
    },
    /// A pod's readiness changes (a failing probe, or it passing again).
    PodReadiness {
        /// Which pod.
        pod: u8,
        /// Ready or not.
        ready: bool,
    },
    /// The operator loses (or regains) its connection to a pod's Redis.
    OperatorPartition {
        /// Which pod.
        pod: u8,
        /// Cut or healed.
        cut: bool,
    },
    /// Two pods' Redis servers lose (or regain) their link.
    PeerPartition {
        /// One pod.
        left: u8,
        /// The other.
        right: u8,
        /// Cut or healed.
        cut: bool,
    },
    /// The operator crashes after some writes and restarts a few rounds later.
    Crash {
        /// Writes that go through before the crash.
        after_writes: u8,
    },
    /// The next call of an API verb fails.
    ApiFault {
        /// Which verb.
        verb: u8,
        /// Which error.
        error: u8,
    },
    /// The CR's size changes (replication pods, cluster shards, or sentinels).
    Resize {
        /// The new size, mapped into the kind's valid range.
        size: u8,
    },
    /// The image changes: every pod is restarted by the StatefulSet controller.
    ChangeImage,
    /// The data volume grows in the spec: the StatefulSet update is forbidden by the API server.
    GrowStorage,
    /// A client writes keys.
    ClientWrites {
        /// How many keys.
        count: u8,
        /// Through which address.
        route: ClientRoute,
    },
    /// The spec is edited into one the operator refuses (a resource quantity that does not
    /// parse, or a size out of range), as the API server lets through what only the operator
    /// validates.
    BreakSpec {
        /// Which edit.
        choice: u8,
    },
    /// The edits of [`Event::BreakSpec`] are undone.
    RepairSpec,
    /// Full resyncs and loads that start from now on move `20 × (1 + speed % 10)` keys a second
    /// (20 to 200), until the next such event or the end of the faults.
    SlowSync {
        /// The speed's byte.
        speed: u8,
    },
    /// The operator's next writes take effect and their replies are lost, for a few rounds:
    /// through Redis, the API server or either (`choice % 3`), `1 + choice / 3 % 3` of them.
    LostReplies {
        /// The channel's and the count's byte.
        choice: u8,
    },
    /// The operator crashes after `after_writes` more writes (within three rounds) and stays
    /// down `rounds` rounds, while Redis and Kubernetes' controllers go on; it restarts with
    /// nothing but what the API server and Redis hold.
    OperatorDown {
        /// Writes let through before the crash.
        after_writes: u8,
        /// Rounds it stays down.
        rounds: u8,
    },
    /// The operator's watch caches stop for the next `rounds` rounds, whatever events come
    /// meanwhile (the owned objects it reads stay as they were; CRs are read live), then list
    /// again.
    WatchGone {
        /// Rounds the caches stay stale.
        rounds: u8,
    },
    /// Messages between two pods (the replication stream between them), or between the
    /// operator and a pod when both bytes pick the same pod, take `steps` steps each way until
    /// the faults stop.
    Latency {
        /// One pod.
        left: u8,
        /// The other, or the same for the operator's link to `left`.
        right: u8,
        /// Steps each way (1 to 8).
        steps: u8,
    },
    /// The operator's clock runs `skew` (a signed byte) times ten seconds ahead of the world's
    /// (behind when negative), until the faults stop or the next such event.
    ClockSkew {
        /// The skew's byte, read as a signed number.
        skew: u8,
    },
    /// The spec is edited into one no node can satisfy (`choice % 4`: a nodeSelector no node
    /// matches, a required node affinity no node matches, a memory request no node can hold, an
    /// image the registry lacks); the edit is reverted when the faults stop.
    UnsatisfiableEdit {
        /// Which edit.
        choice: u8,
    },
    /// Someone sends a Redis command to a pod behind the operator's back.
    AdminCommand {
        /// The pod receiving it.
        pod: u8,
        /// Another pod the command names.
        other: u8,
        /// Which command.
        action: u8,
        /// A slot, for slot commands.
        slot: u16,
    },
}

/// A decoded scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The starting CR.
    pub shape: Shape,
    /// Reconcile rounds (with the world stepping) before the events.
    pub warm_up_rounds: u8,
    /// The events, in order.
    pub events: Vec<Event>,
}

impl Scenario {
    /// Decodes any bytes into a bounded scenario.
    pub fn decode(bytes: &[u8]) -> Scenario {
        let mut reader = ByteReader { bytes, position: 0 };
        let kind = Kind::ALL[usize::from(reader.below(4))];
        let size = match kind {
            Kind::Redis => 1,
            Kind::RedisReplication => 1 + i32::from(reader.below(4)),
            Kind::RedisSentinel => 2 + i32::from(reader.below(2)),
            Kind::RedisCluster => 3 + i32::from(reader.below(2)),
        };
        let followers_per_shard = i32::from(reader.below(3));
        let sentinels = if reader.flag() { 3 } else { 1 };
        let persistent = reader.flag();
        let budget_pods = match kind {
            Kind::RedisSentinel => sentinels,
            _ => size,
        };
        let budget = match (kind, reader.below(4)) {
            (Kind::Redis, _) | (_, 0) => None,
            (_, 1) => Some(BudgetChoice::Default),
            (_, 2) => Some(BudgetChoice::MinAvailable(
                i32::from(reader.byte()) % (budget_pods + 1),
            )),
            _ => Some(BudgetChoice::MaxUnavailable(i32::from(reader.below(3)))),
        };
        let image = usize::from(reader.below(2));
        let warm_up_rounds = reader.below(MAXIMUM_WARM_UP_ROUNDS + 1);
        let mut events = Vec::new();
        while events.len() < MAXIMUM_EVENTS && !reader.exhausted() {
            let selector = reader.byte();
            // The thirteen highest selectors were added last: below them, a byte means what it
            // always meant, so the inputs kept in fuzz/regressions replay as they were found.
            let event = if selector >= FIRST_SPEC_EDIT_SELECTOR + 2 {
                Event::RepairSpec
            } else if selector >= FIRST_SPEC_EDIT_SELECTOR {
                Event::BreakSpec {
                    choice: reader.byte(),
                }
            } else if selector >= FIRST_SLOW_SYNC_SELECTOR {
                Event::SlowSync {
                    speed: reader.byte(),
                }
            } else if selector >= FIRST_LOST_REPLIES_SELECTOR {
                Event::LostReplies {
                    choice: reader.byte(),
                }
            } else if selector == OPERATOR_DOWN_SELECTOR {
                Event::OperatorDown {
                    after_writes: reader.below(24),
                    rounds: 1 + reader.below(30),
                }
            } else if selector == OPERATOR_DOWN_SELECTOR - 1 {
                Event::WatchGone {
                    rounds: 1 + reader.below(30),
                }
            } else if selector == LATENCY_SELECTOR {
                Event::Latency {
                    left: reader.byte(),
                    right: reader.byte(),
                    steps: 1 + reader.below(8),
                }
            } else if selector == LATENCY_SELECTOR - 1 {
                Event::ClockSkew {
                    skew: reader.byte(),
                }
            } else if selector == UNSATISFIABLE_EDIT_SELECTOR {
                Event::UnsatisfiableEdit {
                    choice: reader.byte(),
                }
            } else {
                match selector % 12 {
                    0 => Event::Rounds(1 + reader.below(6)),
                    1 => Event::KillPod {
                        pod: reader.byte(),
                        held_seconds: reader.below(20),
                    },
                    2 => Event::PodReadiness {
                        pod: reader.byte(),
                        ready: reader.flag(),
                    },
                    3 => Event::OperatorPartition {
                        pod: reader.byte(),
                        cut: !reader.flag(),
                    },
                    4 => Event::PeerPartition {
                        left: reader.byte(),
                        right: reader.byte(),
                        cut: !reader.flag(),
                    },
                    5 => Event::Crash {
                        after_writes: reader.below(24),
                    },
                    6 => Event::ApiFault {
                        verb: reader.byte(),
                        error: reader.byte(),
                    },
                    7 => Event::Resize {
                        size: reader.byte(),
                    },
                    8 => Event::ChangeImage,
                    9 => Event::GrowStorage,
                    10 => {
                        // One byte gives both, so inputs written before the route existed keep
                        // their count.
                        let choice = reader.byte();
                        Event::ClientWrites {
                            count: 1 + choice % 40,
                            route: if (choice / 40).is_multiple_of(2) {
                                ClientRoute::AnyMaster
                            } else {
                                ClientRoute::Published
                            },
                        }
                    }
                    _ => Event::AdminCommand {
                        pod: reader.byte(),
                        other: reader.byte(),
                        action: reader.byte(),
                        slot: u16::from_le_bytes([reader.byte(), reader.byte()]) % 16384,
                    },
                }
            };
            events.push(event);
        }
        Scenario {
            shape: Shape {
                kind,
                size,
                followers_per_shard,
                sentinels,
                persistent,
                budget,
                image,
            },
            warm_up_rounds,
            events,
        }
    }
}

/// The spec of the CR under test (and of the replication set a sentinel watches).
pub(super) fn manifests(shape: &Shape) -> Vec<Value> {
    let budget = shape.budget.map(|budget| match budget {
        BudgetChoice::Default => json!({"enabled": true}),
        BudgetChoice::MinAvailable(count) => json!({"enabled": true, "minAvailable": count}),
        BudgetChoice::MaxUnavailable(count) => json!({"enabled": true, "maxUnavailable": count}),
    });
    let mut common = json!({"kubernetesConfig": {"image": IMAGES[shape.image % IMAGES.len()]}});
    if shape.persistent {
        common["storage"] = json!({"volumeClaimTemplate": {"spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}});
    }
    let resource = |kind: Kind, name: &str, spec: Value| {
        json!({
            "apiVersion": "redis.redis.opstreelabs.in/v1beta2",
            "kind": kind.name(),
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec,
        })
    };
    match shape.kind {
        Kind::Redis => vec![resource(Kind::Redis, "cache", common)],
        Kind::RedisReplication => {
            let mut spec = common;
            spec["clusterSize"] = json!(shape.size);
            if let Some(budget) = budget {
                spec["pdb"] = budget;
            }
            vec![resource(Kind::RedisReplication, "sessions", spec)]
        }
        Kind::RedisSentinel => {
            let mut replication = common.clone();
            replication["clusterSize"] = json!(shape.size);
            let mut sentinel = json!({
                "clusterSize": shape.sentinels,
                "kubernetesConfig": {"image": IMAGES[shape.image % IMAGES.len()]},
                "redisSentinelConfig": {
                    "redisReplicationName": "sessions",
                    "quorum": if shape.sentinels >= 3 { "2" } else { "1" },
                    "downAfterMilliseconds": "5000",
                },
            });
            if let Some(budget) = budget {
                sentinel["pdb"] = budget;
            }
            vec![
                resource(Kind::RedisReplication, "sessions", replication),
                resource(Kind::RedisSentinel, "watch", sentinel),
            ]
        }
        Kind::RedisCluster => {
            let mut spec = common;
            spec["clusterSize"] = json!(shape.size);
            spec["clusterVersion"] = json!("v7");
            spec["persistenceEnabled"] = json!(shape.persistent);
            spec["redisFollower"] = json!({"replicas": shape.size * shape.followers_per_shard});
            if let Some(budget) = budget {
                spec["redisLeader"]["pdb"] = budget.clone();
                if shape.followers_per_shard > 0 {
                    // The followers' budget covers their own pods.
                    spec["redisFollower"]["pdb"] = match shape.budget {
                        Some(BudgetChoice::MinAvailable(count)) => json!({"enabled": true,
                            "minAvailable": count.min(shape.size * shape.followers_per_shard)}),
                        _ => budget,
                    };
                }
            }
            vec![resource(Kind::RedisCluster, "shop", spec)]
        }
    }
}
