//! The replication planner: one master per RedisReplication, every other server its replica,
//! pod labels and the status following the real master.
//!
//! Pure. Safety rules it never breaks: a server holding keys is never made a replica of a server
//! holding none (the "empty master wipes its replicas" loss); no promotion while any replica still
//! has a live link to the master, or while sentinels manage the set; a master that disappeared is
//! replaced by the replica with the highest replication offset.

use super::blocked::Blocked;
use super::observation::{PodInfo, ServerView};
use super::replies::ReplicationRole;
use crate::ports::clock::{Milliseconds, parse_rfc3339};
use crate::ports::kube::EventReason;
use crate::ports::redis::{RedisCommand, RedisEndpoint};

/// The `CONFIG SET` parameter of a replica's priority for Sentinel's promotions.
pub const REPLICA_PRIORITY_PARAMETER: &str = "replica-priority";

/// Redis' default `replica-priority`, which a replica gets back once it has synced.
pub const DEFAULT_REPLICA_PRIORITY: u32 = 100;

/// How long a master's pod may be away before a replica is promoted without sentinels.
pub const MASTER_LOSS_GRACE_MILLISECONDS: u64 = 10_000;

/// What the replication planner reads.
#[derive(Clone, Copy, Debug)]
pub struct ReplicationInput<'a> {
    /// Every server of the set (pods with an address), in ordinal order.
    pub servers: &'a [ServerView],
    /// Desired number of servers.
    pub size: i32,
    /// The replicas the StatefulSet keeps now, as observed: it recreates a deleted pod of a lower
    /// ordinal.
    pub statefulset_replicas: Option<i32>,
    /// Whether sentinels manage failover for this set.
    pub managed_by_sentinel: bool,
    /// The master address the sentinels agree on, if they do.
    pub sentinel_master: Option<(&'a str, u16)>,
    /// The master recorded in the status.
    pub previous_master: Option<&'a str>,
    /// Now, to tell how long a master's pod has been away.
    pub now: Milliseconds,
    /// The template revision every pod should run, once the StatefulSet reports it.
    pub target_revision: Option<&'a str>,
    /// A sentinel to ask for a planned failover, with its group name, when sentinels manage the set.
    pub failover_sentinel: Option<(&'a RedisEndpoint, &'a str)>,
    /// Whether a server's keys survive its restart (its data is persisted on a volume): a master
    /// that is away then comes back with every write it acknowledged.
    pub data_survives_restart: bool,
}

/// What the replication planner decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicationPlan {
    /// Redis commands, in order.
    pub commands: Vec<(RedisEndpoint, RedisCommand)>,
    /// The pod running the master, once there is one.
    pub master: Option<String>,
    /// Whether every server is in place: one master, every other one replicating from it.
    pub converged: bool,
    /// Noteworthy facts for Events: (reason, message).
    pub events: Vec<(EventReason, String)>,
    /// Why it cannot progress, when it cannot.
    pub blocked: Option<Blocked>,
    /// Pods to evict for a rolling restart, one at a time.
    pub evictions: Vec<String>,
    /// Pods the StatefulSet must keep while the master runs on a pod a scale-in removes: it
    /// shrinks only once the master has handed over to a pod that stays.
    pub hold_replicas: Option<i32>,
}

fn keys(server: &ServerView) -> u64 {
    server.keys.unwrap_or(0)
}

fn offset(server: &ServerView) -> u64 {
    server
        .replication
        .as_ref()
        .map_or(0, |info| match info.role {
            ReplicationRole::Master => info.master_offset,
            ReplicationRole::Replica => info.replica_offset.unwrap_or(info.master_offset),
        })
}

/// Whether the server answers as a master (INFO replication `role:master`).
pub(crate) fn is_master(server: &ServerView) -> bool {
    server
        .replication
        .as_ref()
        .is_some_and(|info| info.role == ReplicationRole::Master)
}

fn replicas_connected(server: &ServerView) -> usize {
    server
        .replication
        .as_ref()
        .map_or(0, |info| info.replicas.len())
}

/// The best master among `candidates`: holding data first, then the most advanced offset, then
/// the one others already follow, then the lowest ordinal.
fn best<'a>(candidates: impl Iterator<Item = &'a ServerView>) -> Option<&'a ServerView> {
    candidates.max_by(|left, right| {
        (
            keys(left) > 0,
            offset(left),
            replicas_connected(left),
            std::cmp::Reverse(left.pod.ordinal),
        )
            .cmp(&(
                keys(right) > 0,
                offset(right),
                replicas_connected(right),
                std::cmp::Reverse(right.pod.ordinal),
            ))
    })
}

/// Whether the sentinels' master `host` is no pod of the set and no answering server replicates
/// from it.
fn sentinels_follow_a_vanished_master(
    input: &ReplicationInput<'_>,
    answered: &[&ServerView],
    host: &str,
) -> bool {
    // A replica held at priority 0 is one the sentinels can never promote.
    no_pod_has(input, host)
        && !answered.iter().any(|server| {
            server.replication.as_ref().is_some_and(|info| {
                info.master_host.as_deref() == Some(host) && info.replica_priority != Some(0)
            })
        })
}

/// Whether `host` is the address of no pod of the set (the pod it was is gone or was replaced).
fn no_pod_has(input: &ReplicationInput<'_>, host: &str) -> bool {
    !input
        .servers
        .iter()
        .any(|server| server.endpoint.host == host)
}

/// Whether `server` replicates from an address no pod of the set has.
fn follows_a_vanished_master(input: &ReplicationInput<'_>, server: &ServerView) -> bool {
    server
        .replication
        .as_ref()
        .and_then(|info| info.master_host.as_deref())
        .is_some_and(|host| no_pod_has(input, host))
}

/// Whether `server` is the one at `host`:`port`.
fn listens_at(server: &ServerView, host: &str, port: u16) -> bool {
    server.endpoint.host == host && server.endpoint.port == port
}

/// The pod the sentinels agree is the master, when the set is theirs to fail over and the address
/// is one of its pods, whether or not that pod answers the operator. The operator can be cut off
/// from a master the clients and sentinels still reach: the `-master` Service and the status must
/// then follow the sentinels, or clients write to a server the sentinels will turn into a replica.
fn sentinels_master_pod(input: &ReplicationInput<'_>) -> Option<String> {
    let (host, port) = input
        .sentinel_master
        .filter(|_| input.managed_by_sentinel)?;
    input
        .servers
        .iter()
        .find(|server| listens_at(server, host, port))
        .map(|server| server.pod.name.clone())
}

/// Plans the replication set.
pub fn plan_replication(input: ReplicationInput<'_>) -> ReplicationPlan {
    let answered: Vec<&ServerView> = input
        .servers
        .iter()
        .filter(|server| server.answered())
        .collect();
    let mut plan = ReplicationPlan::default();
    if answered.is_empty() {
        plan.blocked = Some(Blocked::Waiting("no Redis server answers yet".to_owned()));
        plan.master = sentinels_master_pod(&input);
        // A scale-in asked for meanwhile must not remove the recorded master's pod while it may
        // come back with writes no other server has (the same rules as when others answer).
        plan.hold_replicas = input
            .previous_master
            .and_then(|name| recorded_master_may_return(&input, &answered, name))
            .and_then(|(_, hold)| hold);
        return plan;
    }
    let master = if input.managed_by_sentinel {
        match input.sentinel_master {
            // Sentinels that follow an address no pod of the set has any more, and that no server
            // replicates from, can never fail over (they know no replica to promote); sentinels
            // that monitor nothing (yet, or again after they restarted) cannot either. The set
            // first needs a master they can be told about, chosen by the rules that hold without
            // sentinels: the master live replicas follow, the recorded master while it may come
            // back, then its heirs, and never a restarted former replica over them.
            Some((host, _)) if sentinels_follow_a_vanished_master(&input, &answered, host) => {
                choose_master(&answered, input, &mut plan)
            }
            Some((host, port)) => answered
                .iter()
                .copied()
                .find(|server| listens_at(server, host, port)),
            None => choose_master(&answered, input, &mut plan),
        }
    } else {
        choose_master(&answered, input, &mut plan)
    };
    let Some(master) = master else {
        if plan.blocked.is_none() {
            plan.blocked = Some(Blocked::Waiting(if input.managed_by_sentinel {
                "waiting for the sentinels' master to answer".to_owned()
            } else {
                "no master, and no replica may be promoted yet".to_owned()
            }));
        }
        plan.master = sentinels_master_pod(&input);
        return plan;
    };
    plan.master = Some(master.pod.name.clone());
    if !is_master(master) {
        plan.commands
            .push((master.endpoint.clone(), RedisCommand::ReplicaOfNoOne));
        plan.events.push((
            EventReason::FailoverPerformed,
            format!(
                "promoted {} (replication offset {}) to master",
                master.pod.name,
                offset(master)
            ),
        ));
    }
    let mut in_place = is_master(master);
    for server in answered
        .iter()
        .filter(|server| server.pod.name != master.pod.name)
    {
        let info = server.replication.as_ref();
        let follows_master = info.is_some_and(|info| {
            info.role == ReplicationRole::Replica
                && info.master_host.as_deref() == Some(master.endpoint.host.as_str())
                && info.master_port == Some(master.endpoint.port)
        });
        let priority_change =
            replica_priority_change(master, server, follows_master, input.managed_by_sentinel).map(
                |priority| {
                    (
                        server.endpoint.clone(),
                        RedisCommand::ConfigSet {
                            parameter: REPLICA_PRIORITY_PARAMETER.to_owned(),
                            value: priority.to_string(),
                        },
                    )
                },
            );
        if follows_master {
            if let Some(change) = priority_change {
                in_place = false;
                plan.commands.push(change);
            }
            in_place &= info.is_some_and(|info| info.master_link_up);
            continue;
        }
        in_place = false;
        if keys(server) > 0 && keys(master) == 0 {
            plan.blocked = Some(Blocked::Refusing(format!(
                "{} holds {} keys and the master {} holds none; refusing to make it a replica, which would erase them",
                server.pod.name,
                keys(server),
                master.pod.name
            )));
            continue;
        }
        // Held in the same breath as it is pointed: a master's INFO does not show its priority,
        // so the hold is sent with every REPLICAOF that needs it.
        plan.commands.extend(priority_change);
        plan.commands.push((
            server.endpoint.clone(),
            RedisCommand::ReplicaOf {
                host: master.endpoint.host.clone(),
                port: master.endpoint.port,
            },
        ));
    }
    let all_present = i32::try_from(answered.len()).is_ok_and(|count| count >= input.size);
    plan.converged = in_place && all_present && plan.blocked.is_none();
    // A server on an ordinal a scale-in removes that answers as a master with keys (a replica
    // back from a restart with its volume, or a former master) may hold writes the master lacks,
    // and the operator cannot tell: its pod stays until it replicates from the master (the
    // REPLICAOF above), as the master's own pod stays until it hands over. So does a departing
    // pod that is ready but does not answer the operator: it may be such a server, cut off from
    // the operator alone or seen at an old address through a lagging cache. A departing pod that
    // is not ready (down, its node lost) is not waited for. With volumes, neither is a departing
    // pod the StatefulSet is about to recreate (deleted, or not yet in a lagging cache): it comes
    // back from its volume answering as a master with keys, which only then can be compared.
    let master_departs = departs(&input, master);
    let held_servers = input.servers.iter().filter(|server| {
        departs(&input, server)
            && if server.answered() {
                server.pod.name == master.pod.name || (is_master(server) && keys(server) > 0)
            } else {
                server.pod.ready && !server.pod.terminating
            }
    });
    let recreated_ordinals = (input.size..input.statefulset_replicas.unwrap_or(0))
        .filter(|_| input.data_survives_restart)
        .filter(|ordinal| {
            !input
                .servers
                .iter()
                .any(|server| i64::from(server.pod.ordinal) == i64::from(*ordinal))
        });
    plan.hold_replicas = held_servers
        .map(|server| i32::try_from(server.pod.ordinal + 1).unwrap_or(i32::MAX))
        .chain(recreated_ordinals.map(|ordinal| ordinal.saturating_add(1)))
        .max();
    if master_departs {
        plan.converged = false;
        if in_place && plan.blocked.is_none() {
            hand_over_before_scale_in(input, &answered, master, &mut plan);
        }
    }
    if plan.converged {
        rolling_restart(input, &answered, master, &mut plan);
    }
    match input.previous_master {
        Some(previous) if previous != master.pod.name && is_master(master) => plan.events.push((
            EventReason::MasterChanged,
            format!("the master moved from {previous} to {}", master.pod.name),
        )),
        None if is_master(master) => plan.events.push((
            EventReason::MasterElected,
            format!("{} is the master", master.pod.name),
        )),
        _ => {}
    }
    plan
}

/// Without sentinels: keep the master the replicas follow; otherwise the best master; promote a
/// replica only when the master is verifiably gone.
fn choose_master<'a>(
    answered: &[&'a ServerView],
    input: ReplicationInput<'_>,
    plan: &mut ReplicationPlan,
) -> Option<&'a ServerView> {
    let masters: Vec<&ServerView> = answered
        .iter()
        .copied()
        .filter(|server| is_master(server))
        .collect();
    let recorded_absence = input
        .previous_master
        .and_then(|name| recorded_master_may_return(&input, answered, name));
    // A recorded master whose keys survive its restart, away past the grace period with no
    // answering server replicating from it, is waited for whatever other servers follow: every
    // one of them has another history (see `recorded_master_may_return`).
    if let Some(absence) = recorded_absence
        .as_ref()
        .filter(|(reason, _)| reason.needs_a_person())
    {
        return wait(plan, absence.clone());
    }
    // A replica with a live link proves its master is alive, whether or not the operator can
    // reach it; the operator then changes nothing about who is master. A replica may follow
    // another replica (the old master's replicas stay on it after FAILOVER TO hands over): the
    // master is the end of that chain, never a replica the chain passes through.
    let followed: Vec<(String, u16)> = answered
        .iter()
        .filter_map(|server| {
            let info = server.replication.as_ref()?;
            (info.role == ReplicationRole::Replica && info.master_link_up).then(|| {
                (
                    info.master_host.clone().unwrap_or_default(),
                    info.master_port.unwrap_or(0),
                )
            })
        })
        .collect();
    let find = |host: &str, port: u16| {
        answered
            .iter()
            .copied()
            .find(|server| listens_at(server, host, port))
    };
    if let Some((host, port)) = followed
        .iter()
        .find(|(host, port)| find(host, *port).is_none())
    {
        plan.blocked = Some(Blocked::Waiting(format!(
            "replicas follow {host}:{port}, which the operator cannot reach"
        )));
        return None;
    }
    // A recorded master whose keys do not survive a restart, answering with a history of its
    // own (it continues no earlier one: it started empty and was never promoted since) while
    // replicas that lost its former address hold keys of another history, restarted without
    // its data after they lost it: what it holds are the writes clients made since, and the
    // replicas hold every write it acknowledged before. The most advanced of them takes over,
    // as Redis Sentinel would promote one of them, and the restarted master becomes its
    // replica: the writes made to it in between are the window a failover loses.
    if let Some(heir) = restarted_master_heir(&input, answered, &masters) {
        return Some(heir);
    }
    // Without sentinels only the operator fails over, and it records a new master before it
    // promotes it: a recorded master that answers with data wins over another master that a
    // replica the operator could not re-point (cut off from it) still follows — that one is the
    // old master back after the failover, and following it would discard the writes since.
    let recorded_with_data = input
        .previous_master
        .and_then(|name| {
            masters
                .iter()
                .copied()
                .find(|server| server.pod.name == name)
        })
        .filter(|recorded| keys(recorded) > 0);
    if let Some(master) = followed
        .iter()
        .filter_map(|(host, port)| find(host, *port))
        .find(|server| is_master(server))
    {
        return Some(
            recorded_with_data
                .filter(|_| !input.managed_by_sentinel)
                .unwrap_or(master),
        );
    }
    // The recorded master, still a master with data, stays: clients write to it through the
    // master Service, and the offsets of servers with different replication histories (two
    // masters after restarts) say nothing about which holds the newer writes.
    if let Some(recorded) = recorded_with_data {
        return Some(recorded);
    }
    // The recorded master does not answer. Choose another (promote a replica, or take a server
    // that answers as a master, such as a restarted or new pod) only when its pod is verifiably
    // away: not ready for the grace period, counted from the pod's latest change (it went unready,
    // its deletion was requested, or its replacement was created), or removed by a scale-in. A
    // ready pod that does not answer the operator may be cut off from the operator alone, and a
    // restarting or recreated one comes back with its data; a scale-in waits for it too, so the
    // writes its replicas had not received yet are not left behind on its volume.
    if let Some(absence) = recorded_absence {
        return wait(plan, absence);
    }
    // The recorded master is gone and another server takes its place. A pod that Kubernetes
    // reports ready (its own node's probe reaches its server) but that does not answer the
    // operator is cut off from the operator alone, and it may be the replica that received the
    // master's last writes: electing a server before it is heard from would make it a replica of
    // a less advanced one and erase those writes. The operator waits for it, as Redis Sentinel
    // cannot (it only compares the replicas it reaches); a replica that is down, or whose node
    // is lost, is not ready and is not waited for.
    if let Some(name) = input.previous_master
        && let Some(unheard) = input
            .servers
            .iter()
            .find(|server| !server.answered() && server.pod.ready && !server.pod.terminating)
    {
        plan.blocked = Some(Blocked::Waiting(format!(
            "the master {name} is gone and {} is ready but does not answer the operator; waiting to compare its replication offset before choosing a new master",
            unheard.pod.name
        )));
        return None;
    }
    // The recorded master does not answer and is gone. Its replicas carry its history up to its
    // last writes; a server answering as a master is a restarted or new pod whose history ended
    // earlier, so it does not win over them unless they hold nothing and it holds data. (A
    // recorded master that answers keeps its replicas, even while their first sync runs.)
    if let Some(heir) = input
        .previous_master
        .filter(|name| !answered.iter().any(|server| server.pod.name == *name))
        .and_then(|name| best(heirs_of(&input, answered, name)))
        && (keys(heir) > 0 || masters.iter().all(|master| keys(master) == 0))
    {
        return Some(heir);
    }
    if let Some(master) = best(masters.iter().copied()) {
        // A master holding no data while replicas hold some is a restarted, emptied master: a
        // replica with the data must win instead.
        let richest_replica = best(answered.iter().copied().filter(|server| !is_master(server)));
        match richest_replica {
            Some(replica) if keys(master) == 0 && keys(replica) > 0 => {}
            _ => return Some(master),
        }
    }
    best(answered.iter().copied().filter(|server| !is_master(server)))
}

/// The replica that takes over from a recorded master that restarted without its data (see
/// `choose_master`): the most advanced of those that follow an address no pod has any more and
/// hold keys of a history the recorded master does not continue.
fn restarted_master_heir<'a>(
    input: &ReplicationInput<'_>,
    answered: &[&'a ServerView],
    masters: &[&ServerView],
) -> Option<&'a ServerView> {
    if input.data_survives_restart {
        return None;
    }
    let name = input.previous_master?;
    let recorded = masters
        .iter()
        .find(|server| server.pod.name == name)?
        .replication
        .as_ref()?;
    if recorded.previous_history.is_some() {
        return None;
    }
    best(answered.iter().copied().filter(|server| {
        !is_master(server)
            && keys(server) > 0
            && follows_a_vanished_master(input, server)
            && server
                .replication
                .as_ref()
                .is_some_and(|info| !recorded.continues_history(&info.master_replication_id))
    }))
}

/// Blocks the plan on why the recorded master is awaited, and keeps its pod while it is.
fn wait<'a>(
    plan: &mut ReplicationPlan,
    (reason, hold_replicas): (Blocked, Option<i32>),
) -> Option<&'a ServerView> {
    plan.blocked = Some(reason);
    plan.hold_replicas = hold_replicas;
    None
}

/// The answering replicas of the recorded master `name`: they follow its pod's address, or an
/// address no pod has any more (its pod was replaced since).
fn heirs_of<'a>(
    input: &ReplicationInput<'_>,
    answered: &[&'a ServerView],
    name: &str,
) -> impl Iterator<Item = &'a ServerView> {
    let recorded_host = input
        .servers
        .iter()
        .find(|server| server.pod.name == name)
        .map(|server| server.endpoint.host.as_str());
    answered.iter().copied().filter(move |server| {
        server.replication.as_ref().is_some_and(|info| {
            info.role == ReplicationRole::Replica
                && info
                    .master_host
                    .as_deref()
                    .is_some_and(|host| Some(host) == recorded_host || no_pod_has(input, host))
        })
    })
}

/// Why the operator waits for the recorded master `name` to come back with its data, when it
/// does, and the StatefulSet replicas that keep its pod while it waits (when a scale-in would
/// remove it). It waits while the pod is ready but does not answer the operator, while the pod
/// has been away for less than the grace period (counted from the pod's latest change, so a
/// replacement pod gets its own), while the pod is absent on an ordinal the StatefulSet still
/// keeps (it recreates the pod, which comes back with its volume; a scale-in waits for it), and,
/// when sentinels manage the set, as long as its pod exists. Past the grace period it still
/// waits, and says a person may decide otherwise, when the master's keys survive its restart and
/// no answering server replicates from it: every server that answers has another history (an
/// older master back from its own restart, or its replicas), so electing one would discard every
/// write the master acknowledged, not only the last ones an asynchronous replica may miss. It
/// does not wait for a pod a scale-in already removes (terminating on an ordinal the spec no
/// longer keeps, or gone from one the StatefulSet no longer keeps): a master that answers hands
/// over before its pod goes, and a status read from a lagging cache can name such a master after
/// it handed over.
fn recorded_master_may_return(
    input: &ReplicationInput<'_>,
    answered: &[&ServerView],
    name: &str,
) -> Option<(Blocked, Option<i32>)> {
    let waiting = || {
        Blocked::Waiting(format!(
            "the master {name} does not answer; waiting before choosing another"
        ))
    };
    let previous = input.servers.iter().find(|server| server.pod.name == name);
    if previous.is_some_and(ServerView::answered) {
        return None;
    }
    let ordinal = match previous {
        Some(previous) => i64::from(previous.pod.ordinal),
        None => ordinal_of(name)?,
    };
    let departing = ordinal >= i64::from(input.size);
    let hold = departing.then(|| i32::try_from(ordinal + 1).unwrap_or(i32::MAX));
    let Some(previous) = previous else {
        let recreated = input
            .statefulset_replicas
            .map_or(!departing, |replicas| ordinal < i64::from(replicas));
        return recreated.then(|| {
            (
                Blocked::Waiting(format!(
                    "the pod of the master {name} is gone; waiting for its StatefulSet to recreate it"
                )),
                hold,
            )
        });
    };
    if previous.pod.terminating && departing {
        return None;
    }
    if previous.pod.ready && !previous.pod.terminating {
        return Some((waiting(), hold));
    }
    // Failing over is the sentinels' work: when they cannot (no majority answers, or they
    // monitor nothing after a restart), the operator promotes no replica and elects no restarted
    // server in their place while the master's pod may still come back with the latest writes.
    if input.managed_by_sentinel {
        return Some((
            Blocked::Waiting(format!(
                "the master {name} does not answer; waiting for it, or for the sentinels to fail over"
            )),
            hold,
        ));
    }
    let away_for =
        away_since(&previous.pod).map_or(u64::MAX, |since| input.now.saturating_sub(since));
    if away_for < MASTER_LOSS_GRACE_MILLISECONDS {
        return Some((waiting(), hold));
    }
    // A replica held at priority 0 has not synced from this master's history yet.
    let without_heir = heirs_of(input, answered, name).all(|heir| {
        heir.replication
            .as_ref()
            .is_some_and(|info| info.replica_priority == Some(0))
    });
    (input.data_survives_restart && without_heir).then(|| {
        (
            Blocked::Refusing(format!(
                "the master {name} does not answer and no server that answers has synced from it: electing another would discard the writes it acknowledged, so the operator waits for its pod to come back with its data (to give those writes up, delete pod {name} and its PersistentVolumeClaim)"
            )),
            hold,
        )
    })
}

/// The ordinal of a StatefulSet's pod, from its name (`<statefulset>-<ordinal>`).
fn ordinal_of(pod: &str) -> Option<i64> {
    pod.rsplit_once('-')?.1.parse().ok()
}

/// The latest change that took the pod away: it went unready, its deletion was requested, or
/// it was created (a replacement that has not been ready yet).
fn away_since(pod: &PodInfo) -> Option<Milliseconds> {
    let ready_changed = (!pod.ready)
        .then(|| pod.ready_since.as_deref().and_then(parse_rfc3339))
        .flatten();
    let created = pod.created_at.as_deref().and_then(parse_rfc3339);
    [ready_changed, created, pod.deletion_requested_at]
        .into_iter()
        .flatten()
        .max()
}

/// The priority `server` must be given, when it must change. A replica that has not synced from
/// its master's history (pointed there just now, unable to reach the master and still holding
/// another history, or nothing) is held at priority 0 until its replication id is the master's;
/// then it gets Redis' default back. The priority lives in the server, so the hold outlasts the
/// master: it is what tells, once the master is lost, which replicas hold its history.
/// - Redis Sentinel promotes a replica by priority and offset alone, comparing offsets across
///   histories, and never promotes one at priority 0.
/// - Without sentinels the operator fails over itself, and a master whose keys survive its
///   restart is waited for rather than replaced by a held replica (see
///   [`recorded_master_may_return`]): a full resync takes seconds (the diskless delay, the
///   transfer, the load), and a master lost meanwhile holds writes no replica has.
fn replica_priority_change(
    master: &ServerView,
    server: &ServerView,
    follows_master: bool,
    managed_by_sentinel: bool,
) -> Option<u32> {
    let info = server.replication.as_ref()?;
    let master_info = master.replication.as_ref()?;
    let held = info.replica_priority == Some(0);
    let synced = info.master_replication_id == master_info.master_replication_id;
    if follows_master {
        if held {
            return synced.then_some(DEFAULT_REPLICA_PRIORITY);
        }
        // A replica the operator did not hold, still on another history: the master restarted
        // under it (a new replication id) and its full resync runs. Under sentinels it is left
        // alone: it holds the master's writes from before the restart, the right ones for the
        // sentinels to promote if the master is lost again. Without sentinels it is held, so
        // that the operator waits for a master whose keys survive rather than give up the
        // writes it took since its restart.
        return (!managed_by_sentinel && !synced).then_some(0);
    }
    // Pointed at the master now: held unless it already shares the master's history. A former
    // master that the master continues is held too: it holds writes past the point where the
    // master's history forked from its own.
    (!held && info.master_replication_id != master_info.master_replication_id).then_some(0)
}

/// Whether `server`'s pod is on an ordinal the spec no longer keeps.
fn departs(input: &ReplicationInput<'_>, server: &ServerView) -> bool {
    i64::from(server.pod.ordinal) >= i64::from(input.size)
}

/// The master runs on a pod a scale-in removes: it hands over to the most advanced in-sync
/// replica among the pods that stay (FAILOVER TO, or SENTINEL FAILOVER when sentinels manage the
/// set), and the StatefulSet keeps its pod until then.
fn hand_over_before_scale_in(
    input: ReplicationInput<'_>,
    answered: &[&ServerView],
    master: &ServerView,
    plan: &mut ReplicationPlan,
) {
    let successor = answered
        .iter()
        .copied()
        .filter(|server| i64::from(server.pod.ordinal) < i64::from(input.size))
        .filter(|server| {
            server
                .replication
                .as_ref()
                .is_some_and(|info| info.master_link_up)
        })
        .max_by_key(|server| (offset(server), std::cmp::Reverse(server.pod.ordinal)));
    let Some(successor) = successor else {
        plan.blocked = Some(Blocked::Waiting(format!(
            "waiting for a replica that stays to be in sync with {} before scaling in",
            master.pod.name
        )));
        return;
    };
    hand_over(
        plan,
        &input,
        master,
        successor,
        " before scaling in",
        "before the scale-in removes its pod",
    );
}

/// Pods running an old template restart one at a time once the set is in place: replicas first,
/// then the master hands over to its most advanced in-sync replica (FAILOVER TO, which waits for
/// the replica to catch up; or SENTINEL FAILOVER when sentinels manage the set) and restarts as a
/// replica.
fn rolling_restart(
    input: ReplicationInput<'_>,
    answered: &[&ServerView],
    master: &ServerView,
    plan: &mut ReplicationPlan,
) {
    let Some(revision) = input.target_revision else {
        return;
    };
    let outdated: Vec<&ServerView> = answered
        .iter()
        .copied()
        .filter(|server| server.pod.revision.as_deref() != Some(revision))
        .collect();
    if outdated.is_empty() {
        return;
    }
    plan.converged = false;
    if input
        .servers
        .iter()
        .any(|server| !server.pod.ready || server.pod.terminating)
    {
        plan.blocked = Some(Blocked::Waiting(
            "waiting for every pod to be ready before the next restart".to_owned(),
        ));
        return;
    }
    if let Some(replica) = outdated
        .iter()
        .find(|server| server.pod.name != master.pod.name)
    {
        plan.blocked = Some(Blocked::Waiting(format!(
            "restarting {} for a new template",
            replica.pod.name
        )));
        plan.evictions.push(replica.pod.name.clone());
        return;
    }
    let successor = answered
        .iter()
        .copied()
        .filter(|server| server.pod.name != master.pod.name)
        .filter(|server| {
            server
                .replication
                .as_ref()
                .is_some_and(|info| info.master_link_up)
        })
        .max_by_key(|server| (offset(server), std::cmp::Reverse(server.pod.ordinal)));
    let Some(successor) = successor else {
        // A set of one has nobody to hand over to: the restart is the only way.
        if input.size <= 1 {
            plan.evictions.push(master.pod.name.clone());
            plan.events.push((
                EventReason::LoneMasterRestarting,
                format!(
                    "restarting {}, the only pod of the set, for a new template: with no replica \
                     to take over, the set serves nothing until it is back (or, if the new \
                     template cannot start, until the edit is reverted)",
                    master.pod.name
                ),
            ));
        } else {
            plan.blocked = Some(Blocked::Waiting(format!(
                "waiting for a replica of {} to be in sync",
                master.pod.name
            )));
        }
        return;
    };
    hand_over(
        plan,
        &input,
        master,
        successor,
        "",
        "before it restarts for a new template",
    );
}

/// A planned failover from `master` to `successor`: through the sentinels when they manage the
/// set (they must agree on the new master), else `FAILOVER TO` on the master, which waits for the
/// successor to catch up before it steps down. `why` ends the status line and `before` the Event.
fn hand_over(
    plan: &mut ReplicationPlan,
    input: &ReplicationInput<'_>,
    master: &ServerView,
    successor: &ServerView,
    why: &str,
    before: &str,
) {
    let command = match input.failover_sentinel {
        Some((sentinel, group)) => (
            sentinel.clone(),
            RedisCommand::SentinelFailover(group.to_owned()),
        ),
        None => (
            master.endpoint.clone(),
            RedisCommand::FailoverTo {
                host: successor.endpoint.host.clone(),
                port: successor.endpoint.port,
            },
        ),
    };
    plan.commands.push(command);
    plan.blocked = Some(Blocked::Waiting(format!(
        "handing the master over from {} to {}{why}",
        master.pod.name, successor.pod.name
    )));
    plan.events.push((
        EventReason::PlannedFailover,
        format!(
            "{} takes over from {} {before}",
            successor.pod.name, master.pod.name
        ),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::replies::{PreviousHistory, ReplicationInfo};

    fn address(ordinal: u32) -> String {
        format!("10.0.0.{}", ordinal + 1)
    }

    /// Pod `sessions-<ordinal>` answering as a master (`follows: None`) or as a replica of the
    /// pod with ordinal `follows`, link up, holding keys.
    fn server(ordinal: u32, follows: Option<u32>, offset: u64) -> ServerView {
        let name = format!("sessions-{ordinal}");
        ServerView {
            keys: Some(10),
            cluster_state_ok: None,
            replication: Some(ReplicationInfo {
                role: if follows.is_some() {
                    ReplicationRole::Replica
                } else {
                    ReplicationRole::Master
                },
                master_host: follows.map(address),
                master_port: follows.map(|_| 6379),
                master_link_up: follows.is_some(),
                master_sync_in_progress: false,
                master_link_down: None,
                replica_offset: follows.map(|_| offset),
                replica_priority: None,
                master_replication_id: "0".repeat(40),
                master_offset: offset,
                previous_history: None,
                replicas: Vec::new(),
            }),
            ..ServerView::ready_pod(&name, "sessions", ordinal, &address(ordinal))
        }
    }

    fn input<'a>(
        servers: &'a [ServerView],
        size: i32,
        previous_master: &'a str,
    ) -> ReplicationInput<'a> {
        ReplicationInput {
            servers,
            size,
            statefulset_replicas: None,
            managed_by_sentinel: false,
            sentinel_master: None,
            previous_master: Some(previous_master),
            now: 0,
            target_revision: None,
            failover_sentinel: None,
            data_survives_restart: false,
        }
    }

    fn plan(servers: &[ServerView], size: i32, previous_master: &str) -> ReplicationPlan {
        plan_replication(input(servers, size, previous_master))
    }

    /// The server of `ordinal`, its pod ready, not answering the operator (`error`).
    fn silent(ordinal: u32, error: &str) -> ServerView {
        let mut server = server(ordinal, None, 0);
        server.replication = None;
        server.keys = None;
        server.error = Some(error.to_owned());
        server
    }

    /// The server of `ordinal`, not answering, its pod unready since `since` (RFC 3339).
    fn away(ordinal: u32, error: &str, since: &str) -> ServerView {
        let mut server = silent(ordinal, error);
        server.pod.ready = false;
        server.pod.ready_since = Some(since.to_owned());
        server
    }

    #[test]
    fn a_set_of_one_restarts_its_only_master_for_a_new_template_and_warns_while_a_larger_set_hands_over()
     {
        let mut only = server(0, None, 40);
        only.pod.revision = Some("old".to_owned());
        let servers = [only];
        let restarted = plan_replication(ReplicationInput {
            target_revision: Some("new"),
            ..input(&servers, 1, "sessions-0")
        });
        assert_eq!(
            restarted.evictions,
            vec!["sessions-0".to_owned()],
            "{restarted:?}"
        );
        assert!(
            restarted
                .events
                .iter()
                .any(|(reason, _)| *reason == EventReason::LoneMasterRestarting),
            "{restarted:?}"
        );
        // Two pods, the replica already on the new template and in sync: the master hands over
        // instead of restarting, and nobody is warned.
        let mut master = server(0, None, 40);
        master.pod.revision = Some("old".to_owned());
        let mut replica = server(1, Some(0), 40);
        replica.pod.revision = Some("new".to_owned());
        let servers = [master, replica];
        let handed_over = plan_replication(ReplicationInput {
            target_revision: Some("new"),
            ..input(&servers, 2, "sessions-0")
        });
        assert!(handed_over.evictions.is_empty(), "{handed_over:?}");
        assert!(
            matches!(
                handed_over.commands.as_slice(),
                [(_, RedisCommand::FailoverTo { .. })]
            ),
            "{handed_over:?}"
        );
        assert!(
            handed_over
                .events
                .iter()
                .all(|(reason, _)| *reason != EventReason::LoneMasterRestarting),
            "{handed_over:?}"
        );
    }

    #[test]
    fn while_no_server_answers_a_scale_in_keeps_the_pod_of_the_recorded_master() {
        // Scaled from two pods to one while the master sessions-1 is down for a moment and the
        // replica sessions-0 is being recreated: nobody answers, and sessions-1's volume holds
        // writes sessions-0 may lack.
        let mut master = away(1, "connection refused", "1970-01-01T00:00:17Z");
        master.pod.ready = false;
        let mut replica = silent(0, "the pod has no address");
        replica.pod.ready = false;
        let servers = [replica, master];
        let plan = plan_replication(ReplicationInput {
            statefulset_replicas: Some(2),
            now: 19_000,
            data_survives_restart: true,
            ..input(&servers, 1, "sessions-1")
        });
        assert_eq!(plan.hold_replicas, Some(2), "{plan:?}");
        assert!(plan.commands.is_empty(), "{plan:?}");
        // Its pod already terminating for the scale-in: not waited for.
        let mut servers = servers;
        servers[1].pod.terminating = true;
        let plan = plan_replication(ReplicationInput {
            statefulset_replicas: Some(1),
            now: 19_000,
            data_survives_restart: true,
            ..input(&servers, 1, "sessions-1")
        });
        assert_eq!(plan.hold_replicas, None, "{plan:?}");
    }

    #[test]
    fn the_sentinels_master_cut_off_from_the_operator_is_still_named_the_master() {
        // The sentinels promoted sessions-2, which the operator cannot reach; sessions-1, the
        // master it knew, answers as a master.
        let unreachable = silent(2, "connection timed out");
        let servers = [server(0, Some(1), 40), server(1, None, 40), unreachable];
        let master_host = address(2);
        let plan = plan_replication(ReplicationInput {
            managed_by_sentinel: true,
            sentinel_master: Some((master_host.as_str(), 6379)),
            ..input(&servers, 3, "sessions-1")
        });
        assert_eq!(plan.master.as_deref(), Some("sessions-2"), "{plan:?}");
        assert!(plan.commands.is_empty(), "{plan:?}");
        assert!(!plan.converged, "{plan:?}");
        assert_eq!(
            plan.blocked,
            Some(Blocked::Waiting(
                "waiting for the sentinels' master to answer".to_owned()
            ))
        );
    }

    #[test]
    fn under_sentinels_a_server_pointed_at_another_history_is_held_from_promotion_until_synced() {
        // The sentinels promoted sessions-1; sessions-0, the former master, answers as a master
        // with its own history (the operator reaches it, sessions-1 may not).
        let mut former = server(0, None, 50);
        former.replication.as_mut().unwrap().master_replication_id = "a".repeat(40);
        let mut promoted = server(1, None, 40);
        promoted.replication.as_mut().unwrap().master_replication_id = "b".repeat(40);
        let mut servers = [former, promoted, server(2, Some(1), 40)];
        servers[2]
            .replication
            .as_mut()
            .unwrap()
            .master_replication_id = "b".repeat(40);
        let master_host = address(1);
        let planned = |servers: &[ServerView]| {
            plan_replication(ReplicationInput {
                managed_by_sentinel: true,
                sentinel_master: Some((master_host.as_str(), 6379)),
                ..input(servers, 3, "sessions-1")
            })
        };
        let priority = |value: u32| RedisCommand::ConfigSet {
            parameter: REPLICA_PRIORITY_PARAMETER.to_owned(),
            value: value.to_string(),
        };
        let pointed = planned(&servers);
        assert_eq!(
            pointed.commands,
            vec![
                (servers[0].endpoint.clone(), priority(0)),
                (
                    servers[0].endpoint.clone(),
                    RedisCommand::ReplicaOf {
                        host: address(1),
                        port: 6379
                    }
                ),
            ],
            "{pointed:?}"
        );
        // A server the operator refuses to point (the master holds nothing, it holds keys) is not
        // held either: a master's INFO does not show its priority, so the hold goes with the
        // REPLICAOF alone.
        let mut refused = servers.clone();
        refused[1].keys = Some(0);
        let refusing = planned(&refused);
        assert!(
            !refusing
                .commands
                .iter()
                .any(|(endpoint, _)| *endpoint == refused[0].endpoint),
            "{refusing:?}"
        );
        // Still on its own history (it cannot reach the master): held, nothing to send.
        servers[0] = server(0, Some(1), 50);
        let info = servers[0].replication.as_mut().unwrap();
        info.master_replication_id = "a".repeat(40);
        info.master_link_up = false;
        info.replica_priority = Some(0);
        assert!(planned(&servers).commands.is_empty());
        // Synced: released.
        let info = servers[0].replication.as_mut().unwrap();
        info.master_replication_id = "b".repeat(40);
        info.master_link_up = true;
        let released = planned(&servers);
        assert_eq!(
            released.commands,
            vec![(
                servers[0].endpoint.clone(),
                priority(DEFAULT_REPLICA_PRIORITY)
            )],
            "{released:?}"
        );
        assert!(!released.converged, "{released:?}");
        // A replica already following the master is left alone, whatever its history: after the
        // master's restart its replicas hold its writes under another id.
        let info = servers[2].replication.as_mut().unwrap();
        info.master_replication_id = "c".repeat(40);
        info.master_link_up = false;
        servers[0] = server(0, Some(1), 40);
        servers[0]
            .replication
            .as_mut()
            .unwrap()
            .master_replication_id = "b".repeat(40);
        assert!(planned(&servers).commands.is_empty());
        // A server pointed at the master with the master's own history is not held.
        servers[0] = server(0, None, 50);
        servers[0]
            .replication
            .as_mut()
            .unwrap()
            .master_replication_id = "b".repeat(40);
        servers[0].keys = Some(10);
        let same = planned(&servers);
        assert_eq!(
            same.commands,
            vec![(
                servers[0].endpoint.clone(),
                RedisCommand::ReplicaOf {
                    host: address(1),
                    port: 6379
                }
            )],
            "{same:?}"
        );
    }

    #[test]
    fn sentinels_that_cannot_fail_over_leave_no_choice_to_a_restarted_stale_replica() {
        // The master sessions-0 is away far beyond the grace period, its pod still there;
        // sessions-2 still follows it; sessions-1 restarted as a master with older data. No
        // sentinel majority agrees on a master, or the sentinels follow an address no pod has.
        let away = away(0, "no route to host", "1970-01-01T00:00:01Z");
        let mut replica = server(2, Some(0), 900);
        replica.replication.as_mut().unwrap().master_link_up = false;
        let servers = [away, server(1, None, 600), replica];
        for sentinel_master in [None, Some(("10.9.9.9", 6379))] {
            let plan = plan_replication(ReplicationInput {
                managed_by_sentinel: true,
                sentinel_master,
                now: 600_000,
                ..input(&servers, 3, "sessions-0")
            });
            assert_eq!(plan.master, None, "{sentinel_master:?}: {plan:?}");
            assert!(plan.commands.is_empty(), "{sentinel_master:?}: {plan:?}");
            assert!(
                matches!(&plan.blocked, Some(Blocked::Waiting(why)) if why.contains("sessions-0")),
                "{plan:?}"
            );
        }
    }

    #[test]
    fn a_converged_set_plans_nothing() {
        let servers = [
            server(0, None, 40),
            server(1, Some(0), 40),
            server(2, Some(0), 40),
        ];
        let plan = plan(&servers, 3, "sessions-0");
        assert!(plan.converged, "{plan:?}");
        assert!(plan.commands.is_empty(), "{plan:?}");
    }

    #[test]
    fn after_a_hand_over_the_chain_of_replicas_ends_at_the_new_master() {
        // FAILOVER TO moved the master from sessions-2 to sessions-0; sessions-1 still follows
        // sessions-2, now a replica, and sessions-2 reports a higher offset than its new master.
        let servers = [
            server(0, None, 30),
            server(1, Some(2), 40),
            server(2, Some(0), 40),
        ];
        let plan = plan(&servers, 1, "sessions-2");
        assert_eq!(plan.master.as_deref(), Some("sessions-0"), "{plan:?}");
        assert_eq!(
            plan.commands,
            vec![(
                servers[1].endpoint.clone(),
                RedisCommand::ReplicaOf {
                    host: address(0),
                    port: 6379
                }
            )],
            "sessions-1 is re-pointed; nobody is promoted"
        );
        assert!(
            plan.events
                .iter()
                .all(|(reason, _)| *reason != EventReason::FailoverPerformed),
            "{plan:?}"
        );
    }

    #[test]
    fn of_two_masters_after_restarts_the_recorded_one_stays_whatever_the_offsets() {
        // Both pods restarted: sessions-1 came back first, was elected and took writes on a new
        // replication history; sessions-0 returned with its older data and a larger offset.
        let servers = [server(0, None, 500), server(1, None, 20)];
        let plan = plan(&servers, 2, "sessions-1");
        assert_eq!(plan.master.as_deref(), Some("sessions-1"), "{plan:?}");
        assert_eq!(
            plan.commands,
            vec![(
                servers[0].endpoint.clone(),
                RedisCommand::ReplicaOf {
                    host: address(1),
                    port: 6379
                }
            )]
        );
    }

    #[test]
    fn while_the_recorded_master_restarts_no_other_master_is_chosen() {
        // The only master (size 1) is restarting; a new pod of a scale-out answers as an empty
        // master: electing it would later erase the returning master's data.
        let away = away(0, "connection refused", "1970-01-01T00:00:16Z");
        let mut fresh = server(2, None, 0);
        fresh.keys = Some(0);
        let servers = [away, fresh];
        let plan = plan_replication(ReplicationInput {
            now: 20_000,
            ..input(&servers, 3, "sessions-0")
        });
        assert_eq!(plan.master, None, "{plan:?}");
        assert!(plan.commands.is_empty(), "{plan:?}");
    }

    #[test]
    fn a_replica_of_the_lost_master_wins_over_a_restarted_former_master() {
        // sessions-1 was the master until it was killed; sessions-0 was promoted and took
        // writes, then its node went down for longer than the grace period. sessions-1 came back
        // as a master with its older data; sessions-2 still follows sessions-0, link down.
        let away = away(0, "no route to host", "1970-01-01T00:00:26Z");
        let restarted = server(1, None, 500);
        let mut heir = server(2, Some(0), 880);
        if let Some(info) = heir.replication.as_mut() {
            info.master_link_up = false;
        }
        let servers = [away, restarted, heir];
        let plan = plan_replication(ReplicationInput {
            now: 37_000,
            ..input(&servers, 3, "sessions-0")
        });
        assert_eq!(plan.master.as_deref(), Some("sessions-2"), "{plan:?}");
        assert_eq!(
            plan.commands,
            vec![
                (servers[2].endpoint.clone(), RedisCommand::ReplicaOfNoOne),
                (
                    servers[1].endpoint.clone(),
                    RedisCommand::ReplicaOf {
                        host: address(2),
                        port: 6379
                    }
                ),
            ]
        );
    }

    #[test]
    fn replicas_still_syncing_from_an_empty_recorded_master_leave_it_the_master() {
        // A new set: sessions-0 was elected while every server was empty; its replicas' first
        // sync has not finished, so their links are down.
        let mut servers = [
            server(0, None, 0),
            server(1, Some(0), 0),
            server(2, Some(0), 0),
        ];
        for server in &mut servers {
            server.keys = Some(0);
            if let Some(info) = server.replication.as_mut() {
                info.master_link_up = false;
            }
        }
        let plan = plan(&servers, 3, "sessions-0");
        assert_eq!(plan.master.as_deref(), Some("sessions-0"), "{plan:?}");
        assert!(plan.commands.is_empty(), "{plan:?}");
    }

    #[test]
    fn a_replica_following_a_server_the_operator_cannot_reach_blocks_any_promotion() {
        let mut servers = vec![server(1, Some(0), 40), server(2, None, 10)];
        servers[1].keys = Some(0);
        let plan = plan(&servers, 3, "sessions-0");
        assert_eq!(plan.master, None, "{plan:?}");
        assert!(
            plan.blocked
                .as_ref()
                .is_some_and(|why| why.message().contains("cannot reach")),
            "{plan:?}"
        );
    }

    /// sessions-0, the only master with data, restarting; sessions-2, a new pod of a scale-out,
    /// answers as an empty master.
    fn master_away_and_an_empty_newcomer(away: ServerView) -> [ServerView; 2] {
        let mut fresh = server(2, None, 0);
        fresh.keys = Some(0);
        [away, fresh]
    }

    fn recreated_pod(created_at: &str) -> ServerView {
        let mut recreated = ServerView::ready_pod("sessions-0", "sessions", 0, "");
        recreated.error = Some("the pod has no address".to_owned());
        recreated.pod.ip = None;
        recreated.pod.ready = false;
        recreated.pod.created_at = Some(created_at.to_owned());
        recreated
    }

    #[test]
    fn a_recreated_master_pod_gets_the_grace_period_from_its_creation() {
        // The replacement pod has no Ready condition yet, only its creation time.
        let servers = master_away_and_an_empty_newcomer(recreated_pod("1970-01-01T00:00:16Z"));
        let waiting = plan_replication(ReplicationInput {
            now: 20_000,
            ..input(&servers, 3, "sessions-0")
        });
        assert_eq!(waiting.master, None, "{waiting:?}");
        assert!(waiting.commands.is_empty(), "{waiting:?}");
        let given_up = plan_replication(ReplicationInput {
            now: 16_000 + MASTER_LOSS_GRACE_MILLISECONDS,
            ..input(&servers, 3, "sessions-0")
        });
        assert_eq!(
            given_up.master.as_deref(),
            Some("sessions-2"),
            "{given_up:?}"
        );
    }

    /// sessions-1, the recorded master, away since its pod was recreated at 16 s; sessions-0, an
    /// older master back from its own restart, with sessions-2 as its replica (`heir`: sessions-2
    /// follows sessions-1 instead).
    fn recorded_master_away_beside_an_older_master(heir: bool) -> [ServerView; 3] {
        let mut away = recreated_pod("1970-01-01T00:00:16Z");
        away.pod.name = "sessions-1".to_owned();
        away.pod.ordinal = 1;
        away.endpoint.host = address(1);
        let mut replica = if heir {
            server(2, Some(1), 30)
        } else {
            server(2, Some(0), 30)
        };
        if let Some(info) = replica.replication.as_mut() {
            // A replica of the master that is away has lost its link.
            info.master_link_up = !heir;
        }
        [server(0, None, 20), away, replica]
    }

    #[test]
    fn a_persisted_master_no_answering_server_replicates_from_is_awaited_past_the_grace_period() {
        let servers = recorded_master_away_beside_an_older_master(false);
        let past_the_grace_period = |data_survives_restart| {
            plan_replication(ReplicationInput {
                now: 16_000 + MASTER_LOSS_GRACE_MILLISECONDS,
                data_survives_restart,
                ..input(&servers, 3, "sessions-1")
            })
        };
        let persisted = past_the_grace_period(true);
        assert_eq!(persisted.master, None, "{persisted:?}");
        assert!(persisted.commands.is_empty(), "{persisted:?}");
        let blocked = persisted.blocked.as_ref().unwrap();
        assert!(blocked.needs_a_person(), "{persisted:?}");
        assert!(
            blocked
                .message()
                .contains("delete pod sessions-1 and its PersistentVolumeClaim"),
            "{persisted:?}"
        );
        // Without persistence the master comes back empty: nothing is gained by waiting.
        let lost = past_the_grace_period(false);
        assert_eq!(lost.master.as_deref(), Some("sessions-0"), "{lost:?}");
    }

    #[test]
    fn a_persisted_master_away_past_the_grace_period_gives_way_to_its_replica() {
        let servers = recorded_master_away_beside_an_older_master(true);
        let plan = plan_replication(ReplicationInput {
            now: 16_000 + MASTER_LOSS_GRACE_MILLISECONDS,
            data_survives_restart: true,
            ..input(&servers, 3, "sessions-1")
        });
        // Its replica holds its writes up to the last ones: Redis' own asynchronous window.
        assert_eq!(plan.master.as_deref(), Some("sessions-2"), "{plan:?}");
    }

    #[test]
    fn a_persisted_master_whose_replica_never_synced_from_it_is_awaited_not_replaced() {
        // sessions-1 restarted from its volume; the operator pointed sessions-2 at it and held it
        // at priority 0, and sessions-1 was lost before the full resync ended: sessions-2 holds
        // an older history, without the writes sessions-1 took since its restart.
        let mut servers = recorded_master_away_beside_an_older_master(true);
        servers[2].replication.as_mut().unwrap().replica_priority = Some(0);
        let plan = |data_survives_restart| {
            plan_replication(ReplicationInput {
                now: 16_000 + MASTER_LOSS_GRACE_MILLISECONDS,
                data_survives_restart,
                ..input(&servers, 3, "sessions-1")
            })
        };
        let persisted = plan(true);
        assert_eq!(persisted.master, None, "{persisted:?}");
        assert!(
            persisted
                .blocked
                .as_ref()
                .is_some_and(|blocked| blocked.needs_a_person()),
            "{persisted:?}"
        );
        // Without a volume the master comes back empty: its replica is the best there is.
        assert_eq!(plan(false).master.as_deref(), Some("sessions-2"));
    }

    #[test]
    fn without_sentinels_a_replica_still_syncing_from_a_restarted_master_is_held() {
        // sessions-0 restarted in place (a new replication id); sessions-1 still follows it,
        // its full resync under way, on the history from before the restart.
        let mut servers = [server(0, None, 40), server(1, Some(0), 30)];
        servers[0]
            .replication
            .as_mut()
            .unwrap()
            .master_replication_id = "b".repeat(40);
        let info = servers[1].replication.as_mut().unwrap();
        info.master_replication_id = "a".repeat(40);
        info.master_link_up = false;
        let hold = (
            servers[1].endpoint.clone(),
            RedisCommand::ConfigSet {
                parameter: REPLICA_PRIORITY_PARAMETER.to_owned(),
                value: "0".to_owned(),
            },
        );
        let plain = plan(&servers, 2, "sessions-0");
        assert_eq!(plain.commands, vec![hold], "{plain:?}");
        // Under sentinels it is left alone: the sentinels may promote it if the master is lost
        // again, and it holds the writes from before the restart.
        let sentinels = plan_replication(ReplicationInput {
            managed_by_sentinel: true,
            sentinel_master: Some((address(0).as_str(), 6379)),
            ..input(&servers, 2, "sessions-0")
        });
        assert!(sentinels.commands.is_empty(), "{sentinels:?}");
    }

    #[test]
    fn a_recorded_master_with_data_wins_over_an_old_master_a_cut_off_replica_still_follows() {
        // sessions-0 was promoted while sessions-1 was away; sessions-2, cut off from the
        // operator meanwhile, still follows sessions-1, which came back with its own keys.
        let servers = [
            server(0, None, 40),
            server(1, None, 30),
            server(2, Some(1), 30),
        ];
        let plan = plan(&servers, 3, "sessions-0");
        assert_eq!(plan.master.as_deref(), Some("sessions-0"), "{plan:?}");
        // Under sentinels the master a replica follows is theirs to choose.
        let sentinels = plan_replication(ReplicationInput {
            managed_by_sentinel: true,
            ..input(&servers, 3, "sessions-0")
        });
        assert_eq!(
            sentinels.master.as_deref(),
            Some("sessions-1"),
            "{sentinels:?}"
        );
    }

    #[test]
    fn a_recorded_master_back_without_its_data_gives_way_to_the_replicas_of_its_former_history() {
        // sessions-0, the master, was recreated at a new address without a volume and took six
        // writes on a history of its own; its replicas still follow its former address and hold
        // the 21 keys it acknowledged before.
        let mut restarted = server(0, None, 6);
        restarted.keys = Some(6);
        restarted.endpoint.host = "10.0.0.9".to_owned();
        restarted.pod.ip = Some("10.0.0.9".to_owned());
        restarted
            .replication
            .as_mut()
            .unwrap()
            .master_replication_id = "b".repeat(40);
        let heir = |ordinal: u32, offset: u64| {
            let mut heir = server(ordinal, Some(0), offset);
            heir.keys = Some(21);
            let info = heir.replication.as_mut().unwrap();
            info.master_link_up = false;
            info.master_replication_id = "a".repeat(40);
            heir
        };
        let mut servers = [restarted, heir(1, 300), heir(2, 290)];
        let yielded = plan(&servers, 3, "sessions-0");
        assert_eq!(yielded.master.as_deref(), Some("sessions-1"), "{yielded:?}");
        assert_eq!(
            yielded.commands,
            vec![
                (servers[1].endpoint.clone(), RedisCommand::ReplicaOfNoOne),
                // Held until it has synced: it holds another history.
                (
                    servers[0].endpoint.clone(),
                    RedisCommand::ConfigSet {
                        parameter: REPLICA_PRIORITY_PARAMETER.to_owned(),
                        value: "0".to_owned(),
                    }
                ),
                (
                    servers[0].endpoint.clone(),
                    RedisCommand::ReplicaOf {
                        host: address(1),
                        port: 6379
                    }
                ),
                (
                    servers[2].endpoint.clone(),
                    RedisCommand::ReplicaOf {
                        host: address(1),
                        port: 6379
                    }
                ),
            ]
        );
        // With its keys on a volume, the recorded master came back with every write: it stays.
        let persisted = plan_replication(ReplicationInput {
            data_survives_restart: true,
            ..input(&servers, 3, "sessions-0")
        });
        assert_eq!(
            persisted.master.as_deref(),
            Some("sessions-0"),
            "{persisted:?}"
        );
        // A master the operator promoted continues the history of the replicas that lost their
        // former master: it holds everything they hold, and stays.
        servers[0].replication.as_mut().unwrap().previous_history = Some(PreviousHistory {
            replication_id: "a".repeat(40),
            ends_at: 301,
        });
        let promoted = plan(&servers, 3, "sessions-0");
        assert_eq!(
            promoted.master.as_deref(),
            Some("sessions-0"),
            "{promoted:?}"
        );
    }

    #[test]
    fn no_replica_is_promoted_while_a_ready_one_does_not_answer_the_operator() {
        // sessions-1, the master, is away past the grace period; sessions-0 answers behind it;
        // sessions-2 is ready (its node's probe reaches it) but cut off from the operator, and may
        // hold writes sessions-0 never received.
        let away = away(1, "connection timed out", "1970-01-01T00:00:01Z");
        let cut_off = silent(2, "connection timed out");
        let mut servers = [server(0, Some(1), 30), away, cut_off];
        servers[0].replication.as_mut().unwrap().master_link_up = false;
        let planned = |servers: &[ServerView]| {
            plan_replication(ReplicationInput {
                now: 1_000 + MASTER_LOSS_GRACE_MILLISECONDS,
                data_survives_restart: true,
                ..input(servers, 3, "sessions-1")
            })
        };
        let waiting = planned(&servers);
        assert_eq!(waiting.master, None, "{waiting:?}");
        assert!(waiting.commands.is_empty(), "{waiting:?}");
        assert!(
            matches!(&waiting.blocked, Some(Blocked::Waiting(why)) if why.contains("sessions-2")),
            "{waiting:?}"
        );
        // Heard from again, the most advanced replica is promoted.
        servers[2] = server(2, Some(1), 40);
        servers[2].replication.as_mut().unwrap().master_link_up = false;
        let heard = planned(&servers);
        assert_eq!(heard.master.as_deref(), Some("sessions-2"), "{heard:?}");
        // A replica that is not ready (down, or its node lost) is not waited for.
        servers[2] = silent(2, "connection refused");
        servers[2].pod.ready = false;
        let down = planned(&servers);
        assert_eq!(down.master.as_deref(), Some("sessions-0"), "{down:?}");
    }

    #[test]
    fn a_terminating_master_pod_gets_the_grace_period_from_its_deletion() {
        let mut terminating = server(0, None, 500);
        terminating.replication = None;
        terminating.error = Some("connection refused".to_owned());
        terminating.pod.terminating = true;
        terminating.pod.ready_since = Some("1970-01-01T00:00:01Z".to_owned());
        terminating.pod.deletion_requested_at = Some(15_000);
        let servers = master_away_and_an_empty_newcomer(terminating);
        let plan = plan_replication(ReplicationInput {
            now: 20_000,
            ..input(&servers, 3, "sessions-0")
        });
        assert_eq!(plan.master, None, "{plan:?}");
    }

    #[test]
    fn a_master_without_a_pod_is_awaited_while_the_statefulset_keeps_its_ordinal() {
        // Two new pods answer as masters, empty; neither follows the other; sessions-0 has no pod
        // for a moment (deleted, not yet recreated): it comes back with its volume.
        let servers = [server(1, None, 0), server(2, None, 0)];
        let kept = plan(&servers, 3, "sessions-0");
        assert_eq!(kept.master, None, "{kept:?}");
        assert!(
            matches!(&kept.blocked, Some(Blocked::Waiting(why)) if why.contains("recreate")),
            "{kept:?}"
        );
        assert!(kept.commands.is_empty(), "{kept:?}");
        // A scale-in already removed it: nothing will bring it back.
        let servers = [server(0, None, 0), server(1, None, 0)];
        let removed = plan(&servers, 2, "sessions-3");
        assert_eq!(removed.master.as_deref(), Some("sessions-0"), "{removed:?}");
        let removed = plan_replication(ReplicationInput {
            statefulset_replicas: Some(2),
            ..input(&servers, 2, "sessions-3")
        });
        assert_eq!(removed.master.as_deref(), Some("sessions-0"), "{removed:?}");
        // The scale-in is asked for while the pod is gone, before the StatefulSet shrank: it
        // keeps the ordinal until the master is back.
        let pending = plan_replication(ReplicationInput {
            statefulset_replicas: Some(4),
            ..input(&servers, 2, "sessions-3")
        });
        assert_eq!(pending.master, None, "{pending:?}");
        assert_eq!(pending.hold_replicas, Some(4), "{pending:?}");
    }

    #[test]
    fn a_scale_in_keeps_the_pod_of_a_master_that_is_away() {
        // The scale-in to one pod arrives while the master sessions-1 restarts: its replica
        // sessions-0 may lack its latest writes, which are on sessions-1's volume.
        let away = away(1, "connection refused", "1970-01-01T00:00:10Z");
        let mut replica = server(0, Some(1), 880);
        replica.replication.as_mut().unwrap().master_link_up = false;
        let servers = [replica, away];
        let plan = plan_replication(ReplicationInput {
            now: 12_000,
            ..input(&servers, 1, "sessions-1")
        });
        assert_eq!(plan.master, None, "{plan:?}");
        assert!(plan.commands.is_empty(), "{plan:?}");
        assert_eq!(plan.hold_replicas, Some(2), "{plan:?}");
        // Away for longer than the grace period, it is replaced: the replica is promoted and
        // the scale-in goes on.
        let plan = plan_replication(ReplicationInput {
            now: 60_000,
            ..input(&servers, 1, "sessions-1")
        });
        assert_eq!(plan.master.as_deref(), Some("sessions-0"), "{plan:?}");
        assert_eq!(plan.hold_replicas, None, "{plan:?}");
    }

    #[test]
    fn a_scale_in_keeps_a_departing_server_that_answers_as_a_master_with_keys() {
        // The scale-in to one pod arrives while sessions-1 is back from a restart with its
        // volume, answering as a master with keys the operator cannot compare with the master's.
        let servers = [
            server(0, None, 40),
            server(1, None, 12),
            server(2, Some(0), 40),
        ];
        let held = plan(&servers, 1, "sessions-0");
        assert_eq!(held.master.as_deref(), Some("sessions-0"), "{held:?}");
        assert_eq!(held.hold_replicas, Some(2), "{held:?}");
        assert!(
            held.commands.contains(&(
                servers[1].endpoint.clone(),
                RedisCommand::ReplicaOf {
                    host: address(0),
                    port: 6379
                }
            )),
            "{held:?}"
        );
        // Once it replicates from the master, its pod may go with the replica's.
        let servers = [
            server(0, None, 40),
            server(1, Some(0), 40),
            server(2, Some(0), 40),
        ];
        let released = plan(&servers, 1, "sessions-0");
        assert_eq!(released.hold_replicas, None, "{released:?}");
        // An empty server answering as a master holds nothing to lose.
        let mut empty = server(1, None, 0);
        empty.keys = Some(0);
        let servers = [server(0, None, 40), empty, server(2, Some(0), 40)];
        assert_eq!(plan(&servers, 1, "sessions-0").hold_replicas, None);
    }

    #[test]
    fn a_scale_in_keeps_a_departing_pod_that_is_ready_but_does_not_answer() {
        // sessions-2 is ready but silent: cut off from the operator, or seen at the address it
        // had before a restart through a lagging cache, it may answer as a master with keys.
        let servers = [
            server(0, None, 40),
            server(1, Some(0), 40),
            silent(2, "connection refused"),
        ];
        let held = plan(&servers, 1, "sessions-0");
        assert_eq!(held.master.as_deref(), Some("sessions-0"), "{held:?}");
        assert_eq!(held.hold_replicas, Some(3), "{held:?}");
        // Down (not ready) or already going, it is not waited for.
        let servers = [
            server(0, None, 40),
            server(1, Some(0), 40),
            away(2, "connection refused", "2026-01-01T00:00:00Z"),
        ];
        assert_eq!(plan(&servers, 1, "sessions-0").hold_replicas, None);
        let mut terminating = silent(2, "connection refused");
        terminating.pod.terminating = true;
        let servers = [server(0, None, 40), server(1, Some(0), 40), terminating];
        assert_eq!(plan(&servers, 1, "sessions-0").hold_replicas, None);
    }

    #[test]
    fn a_scale_in_with_volumes_waits_for_a_departing_pod_its_statefulset_recreates() {
        // sessions-2 was deleted (or a lagging cache does not list it yet) while the StatefulSet
        // still keeps three pods: it comes back from its volume, possibly a master with keys.
        let servers = [server(0, None, 40), server(1, Some(0), 40)];
        let with_volumes = |statefulset_replicas, data_survives_restart| {
            plan_replication(ReplicationInput {
                statefulset_replicas: Some(statefulset_replicas),
                data_survives_restart,
                ..input(&servers, 1, "sessions-0")
            })
        };
        assert_eq!(with_volumes(3, true).hold_replicas, Some(3));
        // Without volumes it comes back empty; once the StatefulSet keeps fewer, it never does.
        assert_eq!(with_volumes(3, false).hold_replicas, None);
        assert_eq!(with_volumes(2, true).hold_replicas, None);
    }

    #[test]
    fn a_recorded_master_away_on_a_departing_ordinal_is_not_awaited() {
        // A status read from a lagging cache still names sessions-1, which handed over to
        // sessions-0 before the scale-in to one pod began deleting it.
        let mut departing = server(1, Some(0), 40);
        departing.replication = None;
        departing.error = Some("connection refused".to_owned());
        departing.pod.terminating = true;
        departing.pod.deletion_requested_at = Some(14_000);
        let servers = [server(0, None, 40), departing];
        let plan = plan_replication(ReplicationInput {
            now: 15_000,
            ..input(&servers, 1, "sessions-1")
        });
        assert_eq!(plan.master.as_deref(), Some("sessions-0"), "{plan:?}");
    }
}
