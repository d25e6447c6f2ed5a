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
    let majority = votes
        .iter()
        .max_by_key(|(address, count)| (**count, std::cmp::Reverse((*address).clone())))
        .filter(|(_, count)| **count * 2 > answering.len())
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
