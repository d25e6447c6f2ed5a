//! The sentinel planner: every sentinel monitors the replication set's master under the CR's
//! group name with the CR's settings, told at runtime, so that a failover never needs a restart.
//!
//! Pure. It never fights a failover: the master is what the majority of sentinels say once they
//! monitor; only a sentinel that disagrees with that majority, while no failover is in progress,
//! is told again. Before any sentinel monitors, the master is the replication set's observed one.

use std::collections::BTreeMap;

use super::blocked::Blocked;
use super::observation::{SentinelView, ServerView};
use super::replies::{ReplicationRole, SentinelMaster};
use crate::api::validation::SentinelMonitorSettings;
use crate::ports::redis::{RedisCommand, RedisEndpoint};

/// What the sentinel planner reads.
#[derive(Clone, Copy, Debug)]
pub struct SentinelInput<'a> {
    /// The sentinels, in ordinal order.
    pub sentinels: &'a [SentinelView],
    /// What they must monitor and how.
    pub monitor: &'a SentinelMonitorSettings,
    /// The servers of the monitored replication set.
    pub replication: &'a [ServerView],
    /// Desired number of sentinels.
    pub size: i32,
}

/// What the sentinel planner decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SentinelPlan {
    /// Commands, in order.
    pub commands: Vec<(RedisEndpoint, RedisCommand)>,
    /// The master address the sentinels agree on (`ip:port`).
    pub master_address: Option<String>,
    /// Whether every sentinel monitors the agreed master with the right settings.
    pub converged: bool,
    /// Why it cannot progress, when it cannot.
    pub blocked: Option<Blocked>,
}

fn monitored<'a>(view: &'a SentinelView, group: &str) -> Option<&'a SentinelMaster> {
    view.masters
        .as_ref()?
        .iter()
        .find(|master| master.name == group)
}

fn failover_in_progress(master: &SentinelMaster) -> bool {
    master
        .flags
        .iter()
        .any(|flag| flag.starts_with("failover") || flag == "o_down" || flag == "promoted")
}

/// The settings a monitoring sentinel must be told again, as SENTINEL SET commands.
fn setting_commands(
    master: Option<&SentinelMaster>,
    settings: &SentinelMonitorSettings,
) -> Vec<RedisCommand> {
    let group = &settings.master_group_name;
    let wanted = [
        (
            "quorum",
            u64::from(settings.quorum),
            master.map(|master| u64::from(master.quorum)),
        ),
        (
            "down-after-milliseconds",
            settings.down_after_milliseconds,
            master.map(|master| master.down_after_milliseconds),
        ),
        (
            "failover-timeout",
            settings.failover_timeout_milliseconds,
            master.map(|master| master.failover_timeout),
        ),
        (
            "parallel-syncs",
            u64::from(settings.parallel_syncs),
            master.map(|master| u64::from(master.parallel_syncs)),
        ),
    ];
    wanted
        .into_iter()
        // Right after SENTINEL MONITOR the quorum is already the one given there.
        .filter(|(option, _, _)| master.is_some() || *option != "quorum")
        .filter(|(_, value, current)| *current != Some(*value))
        .map(|(option, value, _)| RedisCommand::SentinelSet {
            group: group.clone(),
            option: option.to_owned(),
            value: value.to_string(),
        })
        .collect()
}

/// Plans the sentinels.
pub fn plan_sentinels(input: SentinelInput<'_>) -> SentinelPlan {
    let settings = input.monitor;
    let group = &settings.master_group_name;
    let mut plan = SentinelPlan::default();
    let answering: Vec<&SentinelView> = input
        .sentinels
        .iter()
        .filter(|view| view.masters.is_some())
        .collect();
    let mut votes: BTreeMap<(String, u16), usize> = BTreeMap::new();
    let mut failing_over = false;
    for view in &answering {
        if let Some(master) = monitored(view, group) {
            *votes.entry((master.ip.clone(), master.port)).or_default() += 1;
            failing_over |= failover_in_progress(master);
        }
    }
    // An address no pod of the set has any more, and that no server replicates from, is a master
    // the sentinels can never fail over from (they know no replica): the set's observed master
    // replaces it.
    let vanished = |host: &str| {
        !input.replication.is_empty()
            && !input
                .replication
                .iter()
                .any(|server| server.endpoint.host == host)
            && !input.replication.iter().any(|server| {
                server
                    .replication
                    .as_ref()
                    .is_some_and(|info| info.master_host.as_deref() == Some(host))
            })
    };
    // A majority of the whole set, as Redis counts it for a failover: sentinels that do not
    // answer (restarting, or cut off from the operator alone) may follow another master, and a
    // lone sentinel left on an old address must not decide for them.
    let set_size = input
        .sentinels
        .len()
        .max(usize::try_from(input.size).unwrap_or(0));
    let majority = votes
        .iter()
        .max_by_key(|(address, count)| (**count, std::cmp::Reverse((*address).clone())))
        .filter(|(_, count)| **count * 2 > set_size)
        .filter(|(address, _)| failing_over || !vanished(&address.0))
        .map(|(address, _)| address.clone());
    let observed_master = input
        .replication
        .iter()
        .filter(|server| server.answered())
        .find(|server| {
            server.replication.as_ref().is_some_and(|info| {
                info.role == ReplicationRole::Master && !info.replicas.is_empty()
            })
        })
        .or_else(|| {
            // A set of one has no replicas to prove its master.
            (input.replication.len() == 1)
                .then(|| input.replication.first())
                .flatten()
                .filter(|server| server.answered())
        })
        .map(|server| (server.endpoint.host.clone(), settings.redis_port));
    let Some(master) = majority.clone().or(observed_master) else {
        plan.blocked = Some(Blocked::Waiting(format!(
            "waiting for the RedisReplication {} to have a master with replicas",
            settings.replication_name
        )));
        return plan;
    };
    plan.master_address = Some(format!("{}:{}", master.0, master.1));
    let mut in_place = true;
    for view in &answering {
        let current = monitored(view, group);
        match current {
            Some(current)
                if (current.ip.as_str(), current.port) == (master.0.as_str(), master.1) =>
            {
                let sets = setting_commands(Some(current), settings);
                in_place &= sets.is_empty();
                plan.commands.extend(
                    sets.into_iter()
                        .map(|command| (view.endpoint.clone(), command)),
                );
            }
            Some(_) if failing_over => in_place = false,
            other => {
                in_place = false;
                if other.is_some() {
                    plan.commands.push((
                        view.endpoint.clone(),
                        RedisCommand::SentinelRemove(group.clone()),
                    ));
                }
                plan.commands.push((
                    view.endpoint.clone(),
                    RedisCommand::SentinelMonitor {
                        group: group.clone(),
                        host: master.0.clone(),
                        port: master.1,
                        quorum: settings.quorum,
                    },
                ));
                plan.commands.extend(
                    setting_commands(None, settings)
                        .into_iter()
                        .map(|command| (view.endpoint.clone(), command)),
                );
                if let Some(password) = &settings.auth_password {
                    plan.commands.push((
                        view.endpoint.clone(),
                        RedisCommand::SentinelSetAuthPass {
                            group: group.clone(),
                            password: password.clone(),
                        },
                    ));
                }
            }
        }
    }
    let all_answer = i32::try_from(answering.len()).is_ok_and(|count| count >= input.size);
    plan.converged = in_place && all_answer && !failing_over;
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::observation::PodInfo;
    use crate::topology::replies::{ReplicaEntry, ReplicationInfo};

    const GROUP: &str = "mymaster";

    fn settings() -> SentinelMonitorSettings {
        SentinelMonitorSettings {
            replication_name: "sessions".to_owned(),
            master_group_name: GROUP.to_owned(),
            redis_port: 6379,
            quorum: 2,
            parallel_syncs: 1,
            failover_timeout_milliseconds: 180_000,
            down_after_milliseconds: 5_000,
            auth_password: None,
        }
    }

    /// Sentinel `ordinal`: answering and monitoring `master`, answering and monitoring nothing
    /// (`Some(None)`), or not answering (`None`).
    fn sentinel(ordinal: u32, monitors: Option<Option<&str>>) -> SentinelView {
        let ip = format!("10.1.0.{ordinal}");
        let settings = settings();
        let masters = monitors.map(|master| {
            master
                .map(|host| SentinelMaster {
                    name: GROUP.to_owned(),
                    ip: host.to_owned(),
                    port: 6379,
                    flags: vec!["master".to_owned()],
                    quorum: settings.quorum,
                    replicas: 2,
                    other_sentinels: 2,
                    down_after_milliseconds: settings.down_after_milliseconds,
                    failover_timeout: settings.failover_timeout_milliseconds,
                    parallel_syncs: settings.parallel_syncs,
                    config_epoch: 1,
                })
                .into_iter()
                .collect()
        });
        let pod = PodInfo::ready("sessions-sentinel", ordinal, &ip, None);
        SentinelView {
            endpoint: ServerView::ready_pod(&pod.name, &pod.group, ordinal, &ip).endpoint,
            error: masters.is_none().then(|| "connection timed out".to_owned()),
            pod,
            masters,
        }
    }

    /// The replication set: `10.0.0.1` is master with `10.0.0.2` as its replica.
    fn replication() -> Vec<ServerView> {
        let mut master = ServerView::ready_pod("sessions-0", "sessions", 0, "10.0.0.1");
        master.replication = Some(ReplicationInfo {
            role: ReplicationRole::Master,
            master_host: None,
            master_port: None,
            master_link_up: false,
            master_sync_in_progress: false,
            master_link_down: None,
            replica_offset: None,
            replica_priority: None,
            master_replication_id: "a".repeat(40),
            master_offset: 100,
            previous_history: None,
            replicas: vec![ReplicaEntry {
                ip: "10.0.0.2".to_owned(),
                port: 6379,
                state: "online".to_owned(),
                offset: 100,
                lag: 0,
            }],
        });
        let mut replica = ServerView::ready_pod("sessions-1", "sessions", 1, "10.0.0.2");
        replica.replication = Some(ReplicationInfo {
            role: ReplicationRole::Replica,
            master_host: Some("10.0.0.1".to_owned()),
            master_port: Some(6379),
            master_link_up: true,
            master_sync_in_progress: false,
            master_link_down: None,
            replica_offset: Some(100),
            replica_priority: None,
            master_replication_id: "a".repeat(40),
            master_offset: 100,
            previous_history: None,
            replicas: Vec::new(),
        });
        vec![master, replica]
    }

    fn plan(sentinels: &[SentinelView]) -> SentinelPlan {
        let settings = settings();
        let replication = replication();
        plan_sentinels(SentinelInput {
            sentinels,
            monitor: &settings,
            replication: &replication,
            size: 3,
        })
    }

    #[test]
    fn sentinels_that_agree_are_followed() {
        let plan = plan(&[
            sentinel(0, Some(Some("10.0.0.2"))),
            sentinel(1, Some(Some("10.0.0.2"))),
            sentinel(2, None),
        ]);
        assert_eq!(plan.master_address.as_deref(), Some("10.0.0.2:6379"));
        assert!(plan.commands.is_empty(), "{plan:?}");
    }

    #[test]
    fn a_lone_answering_sentinel_is_no_majority_of_the_set() {
        // Two of three sentinels do not answer; the one that does follows an address that is
        // still a pod of the set but no longer its master.
        for sentinels in [
            vec![
                sentinel(0, Some(Some("10.0.0.2"))),
                sentinel(1, None),
                sentinel(2, None),
            ],
            vec![sentinel(0, Some(Some("10.0.0.2")))],
        ] {
            let plan = plan(&sentinels);
            assert_eq!(
                plan.master_address.as_deref(),
                Some("10.0.0.1:6379"),
                "the set's observed master, not the lone sentinel's: {plan:?}"
            );
            assert!(!plan.converged, "{plan:?}");
        }
    }
}
