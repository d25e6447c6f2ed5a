//! A model of the reference reconcile schedule, to compare our Time to Ready against: how long a
//! controller takes that adds one cluster master per reconcile and requeues 60 s after each
//! cluster command and 10 s after anything else, under the same pod start latency.
//!
//! Assumptions, all in the reference schedule's favour where there is a choice:
//! - the change is seen at once (the first reconcile runs at time 0);
//! - a reconcile that creates or resizes StatefulSets requeues after 10 s, and the pods it asks
//!   for all answer `pod start` milliseconds after that reconcile (they start in parallel);
//! - while pods are not ready the controller checks again every 10 s; the reconcile that finds
//!   them ready goes on with the next step at once;
//! - each cluster command (a master joined with its slots, one rebalance, the replicas attached,
//!   one master's slots moved off and the master removed, the departing replicas forgotten) is
//!   one reconcile followed by a 60 s requeue; replicas attach all in one reconcile;
//! - any other Redis configuration (REPLICAOF, SENTINEL MONITOR) is one reconcile followed by a
//!   10 s requeue;
//! - the reconcile after the last step finds everything done and reports Ready at once.
//!
//! Pure: no clock, no I/O.

use redis_operator::ports::clock::Milliseconds;

/// Requeue after a reconcile that sent a cluster command.
pub const CLUSTER_COMMAND_REQUEUE_MILLISECONDS: Milliseconds = 60_000;

/// Requeue after any other reconcile.
pub const OTHER_REQUEUE_MILLISECONDS: Milliseconds = 10_000;

/// One reconcile's work in the reference schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferenceStep {
    /// Creates or resizes StatefulSets; the pods asked for start now.
    ApplyStatefulSets,
    /// Checks every 10 s until the pods asked for by the last `ApplyStatefulSets` answer.
    WaitForPods,
    /// One cluster command, then a 60 s requeue.
    ClusterCommand,
    /// Other Redis configuration, then a 10 s requeue.
    Configure,
}

/// An operation whose Time to Ready the model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferenceOperation {
    /// A RedisCluster created with `shards` masters and `replicas` replicas per shard.
    ClusterCreate {
        /// Masters.
        shards: u32,
        /// Replicas per master.
        replicas: u32,
    },
    /// A RedisCluster grown from `from` to `to` shards.
    ClusterScaleOut {
        /// Shards before.
        from: u32,
        /// Shards after.
        to: u32,
    },
    /// A RedisCluster shrunk from `from` to `to` shards.
    ClusterScaleIn {
        /// Shards before.
        from: u32,
        /// Shards after.
        to: u32,
    },
    /// A RedisReplication (or the sentinels over one) created.
    ReplicationCreate,
    /// A RedisSentinel created over a ready RedisReplication.
    SentinelCreate,
}

/// The reconciles the reference schedule needs for `operation`, in order.
pub fn reference_steps(operation: ReferenceOperation) -> Vec<ReferenceStep> {
    use ReferenceStep::{ApplyStatefulSets, ClusterCommand, Configure, WaitForPods};
    let commands = |count: u32| {
        std::iter::repeat_n(ClusterCommand, usize::try_from(count).unwrap_or(usize::MAX))
    };
    match operation {
        ReferenceOperation::ClusterCreate { shards, replicas } => {
            let mut steps = vec![ApplyStatefulSets, WaitForPods];
            steps.extend(commands(shards));
            if replicas > 0 {
                steps.push(ClusterCommand);
            }
            steps
        }
        ReferenceOperation::ClusterScaleOut { from, to } => {
            let mut steps = vec![ApplyStatefulSets, WaitForPods];
            // One reconcile per joining master, one rebalance, the new replicas attached.
            steps.extend(commands(to.saturating_sub(from)));
            steps.extend([ClusterCommand, ClusterCommand]);
            steps
        }
        ReferenceOperation::ClusterScaleIn { from, to } => {
            // One reconcile per departing master, its replicas forgotten, the StatefulSets shrunk.
            let mut steps: Vec<ReferenceStep> = commands(from.saturating_sub(to)).collect();
            steps.extend([ClusterCommand, ApplyStatefulSets]);
            steps
        }
        ReferenceOperation::ReplicationCreate | ReferenceOperation::SentinelCreate => {
            vec![ApplyStatefulSets, WaitForPods, Configure]
        }
    }
}

/// Milliseconds from the change to the reconcile that reports Ready, when the reference
/// schedule plays `steps` and pods take `pod_start` milliseconds to answer.
pub fn reference_schedule(steps: &[ReferenceStep], pod_start: Milliseconds) -> Milliseconds {
    let mut now: Milliseconds = 0;
    let mut pods_asked_at: Milliseconds = 0;
    for step in steps {
        match step {
            ReferenceStep::ApplyStatefulSets => {
                pods_asked_at = now;
                now += OTHER_REQUEUE_MILLISECONDS;
            }
            ReferenceStep::WaitForPods => {
                while now < pods_asked_at + pod_start {
                    now += OTHER_REQUEUE_MILLISECONDS;
                }
            }
            ReferenceStep::ClusterCommand => now += CLUSTER_COMMAND_REQUEUE_MILLISECONDS,
            ReferenceStep::Configure => now += OTHER_REQUEUE_MILLISECONDS,
        }
    }
    now
}

/// The reference schedule's Time to Ready for `operation`.
pub fn reference_time_to_ready(
    operation: ReferenceOperation,
    pod_start: Milliseconds,
) -> Milliseconds {
    reference_schedule(&reference_steps(operation), pod_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_three_shard_cluster_with_replicas_takes_four_cluster_commands_after_the_first_poll() {
        // 0 s StatefulSets, 10 s pods seen ready, three masters and the replicas at 60 s each.
        let time = reference_time_to_ready(
            ReferenceOperation::ClusterCreate {
                shards: 3,
                replicas: 1,
            },
            4_000,
        );
        assert_eq!(time, 10_000 + 4 * 60_000);
    }

    #[test]
    fn pods_slower_than_the_poll_are_waited_for_in_ten_second_steps() {
        let time = reference_time_to_ready(
            ReferenceOperation::ClusterCreate {
                shards: 3,
                replicas: 0,
            },
            25_000,
        );
        assert_eq!(time, 30_000 + 3 * 60_000);
    }

    #[test]
    fn scale_out_adds_each_master_then_rebalances_then_attaches_replicas() {
        let time = reference_time_to_ready(
            ReferenceOperation::ClusterScaleOut { from: 3, to: 6 },
            4_000,
        );
        assert_eq!(time, 10_000 + (3 + 2) * 60_000);
    }

    #[test]
    fn scale_in_removes_each_master_then_shrinks_the_statefulsets() {
        let time =
            reference_time_to_ready(ReferenceOperation::ClusterScaleIn { from: 6, to: 3 }, 4_000);
        assert_eq!(time, (3 + 1) * 60_000 + 10_000);
    }

    #[test]
    fn replication_and_sentinels_need_one_poll_and_one_configuration() {
        for operation in [
            ReferenceOperation::ReplicationCreate,
            ReferenceOperation::SentinelCreate,
        ] {
            assert_eq!(reference_time_to_ready(operation, 4_000), 20_000);
        }
    }

    #[test]
    fn more_shards_never_take_less_time() {
        let mut previous = 0;
        for shards in 1..20 {
            let time = reference_time_to_ready(
                ReferenceOperation::ClusterCreate {
                    shards,
                    replicas: 1,
                },
                4_000,
            );
            assert!(time > previous, "{shards} shards: {time} <= {previous}");
            previous = time;
        }
    }
}
