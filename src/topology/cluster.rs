//! The Redis Cluster planner: a step machine over what was observed. Each reconcile finds the
//! first step that is not done — membership, bootstrap, unfinished slot migrations, stale entries,
//! replicas, rebalancing, scale-in cleanup, rolling restarts — and returns that step's commands.
//! A crash after any command is recovered by observing again: every step reads its precondition
//! from fresh observation, and every command it sends may be sent twice.
//!
//! Pure. Safety rules it never breaks: the number of shards comes from the spec alone (never from
//! a `master,fail` entry or a node count); slots are given only to a cluster where no node holds
//! keys or slots; keys of a slot are moved before its ownership changes; a departing master's pod
//! is kept until it holds no slot, no key, and every staying node forgot it; slots whose owner is
//! gone are reported, never reassigned over data that lives elsewhere; no command that erases
//! data exists in the operator's vocabulary.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::observation::ServerView;
use super::replies::{ClusterNode, MasterLinkDown};
use super::slots::{
    NodeId, SLOT_COUNT, SlotBits, balanced_by_ranges, even_ranges, plan_rebalance_batch,
};
use crate::ports::kube::EventReason;
use crate::ports::redis::{FailoverMode, RedisCommand, RedisEndpoint, SlotState};
use crate::resources::names::{CLUSTER_BUS_PORT_OFFSET, REDIS_ROLE_MASTER, REDIS_ROLE_REPLICA};

/// Slots migrated per reconcile at most, so that one reconcile stays short and observation stays
/// fresh.
pub const MIGRATION_BATCH: usize = 1024;
/// The cluster bus listens on the client port plus this: the offset the pods' configuration and
/// Services use, as the port type of Redis endpoints.
pub const BUS_PORT_OFFSET: u16 = CLUSTER_BUS_PORT_OFFSET as u16;

/// One thing to do to Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisStep {
    /// Send a command. The endpoint is shared: a migration batch sends thousands of commands to
    /// a handful of nodes.
    Command(Arc<RedisEndpoint>, RedisCommand),
    /// Move every key of `slot` from `source` to `target` (GETKEYSINSLOT and MIGRATE until the slot
    /// is empty on the source).
    MoveSlotKeys {
        /// The node the slot is migrating from.
        source: Arc<RedisEndpoint>,
        /// The node it is importing into.
        target: Arc<RedisEndpoint>,
        /// The slot.
        slot: u16,
    },
}

impl RedisStep {
    /// Whether the step changes Redis (moving keys always may).
    pub fn is_write(&self) -> bool {
        match self {
            RedisStep::Command(_, command) => command.is_write(),
            RedisStep::MoveSlotKeys { .. } => true,
        }
    }
}

/// Where the cluster is, in the words of the v1beta2 status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterPhase {
    /// Waiting for pods.
    Initializing,
    /// Joining nodes, assigning or moving slots, attaching replicas.
    Bootstrap,
    /// Every slot served by the intended masters with their replicas.
    Ready,
    /// Cannot progress without a person; the text says why.
    Failed(String),
}

/// What the cluster planner reads.
#[derive(Clone, Debug)]
pub struct ClusterInput<'a> {
    /// Every pod of both groups with what its server said.
    pub servers: &'a [ServerView],
    /// Name of the leader StatefulSet (and `app` label).
    pub leader_group: &'a str,
    /// Name of the follower StatefulSet.
    pub follower_group: &'a str,
    /// Shards the spec asks for.
    pub shards: u32,
    /// Followers per shard the spec asks for.
    pub replicas_per_shard: u32,
    /// Redis major version (ADDSLOTSRANGE needs 7).
    pub major_version: u8,
    /// The template revision each group's pods should run, once the StatefulSet reports it.
    pub target_revisions: &'a BTreeMap<String, String>,
    /// Live replicas of each group's StatefulSet.
    pub live_replicas: &'a BTreeMap<String, i32>,
    /// Whether a leader's keys and cluster identity survive a restart of its pod (a data claim,
    /// with persistence configured).
    pub leaders_keep_data_across_restarts: bool,
}

/// What the cluster planner decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterPlan {
    /// Redis work, in order.
    pub steps: Vec<RedisStep>,
    /// Pods to evict (rolling restart), one at a time.
    pub evictions: Vec<String>,
    /// StatefulSet replica counts that must not shrink yet (departing pods still hold data or are
    /// still known to the cluster).
    pub hold_replicas: BTreeMap<String, i32>,
    /// Phase for the status.
    pub phase: ClusterPhase,
    /// What the planner is doing or waiting for.
    pub activity: String,
    /// Noteworthy facts for Events: (reason, message).
    pub events: Vec<(EventReason, String)>,
    /// `redis-role` labels to put on pods whose label does not name their role: (pod, role).
    pub role_labels: Vec<(String, &'static str)>,
}

/// A node of the cluster that answered: its pod, its own line and its view of everyone.
struct Member<'a> {
    view: &'a ServerView,
    /// The view's endpoint, shared by every command planned for this node.
    endpoint: Arc<RedisEndpoint>,
    myself: &'a ClusterNode,
    table: &'a [ClusterNode],
    departing: bool,
}

impl Member<'_> {
    fn id(&self) -> &str {
        &self.myself.id
    }

    fn keys(&self) -> u64 {
        self.view.keys.unwrap_or(0)
    }

    /// Whether it is a replica that has not completed a sync since it started or was pointed at
    /// its master: Redis Cluster never elects it in its master's place.
    fn never_synced_from_its_master(&self) -> bool {
        self.view.replication.as_ref().is_some_and(|info| {
            !info.master_link_up && info.master_link_down == Some(MasterLinkDown::NeverSynced)
        })
    }

    /// Whether the node still holds data that exists nowhere else: slots, or keys as a master.
    /// A replica's keys are copies of its master's, so a departing replica may go at once.
    fn holds_data_to_move(&self) -> bool {
        self.owns_any() || (self.myself.is_master() && self.keys() > 0)
    }

    fn owned(&self) -> SlotBits {
        let mut owned = SlotBits::new();
        if self.myself.is_master() {
            owned.insert_ranges(&self.myself.slots);
        }
        owned
    }

    /// Whether this member is a master owning `slot`; reads the ranges instead of expanding them,
    /// as it is asked once per slot of every migration batch.
    fn owns(&self, slot: u16) -> bool {
        self.myself.is_master()
            && self
                .myself
                .slots
                .iter()
                .any(|(start, end)| *start <= slot && slot <= *end)
    }

    /// How many slots this master owns (CLUSTER NODES never lists a slot twice).
    fn owned_count(&self) -> usize {
        if !self.myself.is_master() {
            return 0;
        }
        self.myself
            .slots
            .iter()
            .filter(|(start, end)| start <= end && *start < 16384)
            .map(|(start, end)| usize::from(*end.min(&16383) - start) + 1)
            .sum()
    }

    /// Whether this member is a master owning at least one slot.
    fn owns_any(&self) -> bool {
        self.myself.is_master()
            && self
                .myself
                .slots
                .iter()
                .any(|(start, end)| start <= end && *start < 16384)
    }

    fn is_empty_master(&self) -> bool {
        self.myself.is_master() && self.myself.slots.is_empty() && self.keys() == 0
    }

    fn command(&self, command: RedisCommand) -> RedisStep {
        RedisStep::Command(Arc::clone(&self.endpoint), command)
    }
}

fn plan_with(phase: ClusterPhase, activity: impl Into<String>) -> ClusterPlan {
    ClusterPlan {
        steps: Vec::new(),
        evictions: Vec::new(),
        hold_replicas: BTreeMap::new(),
        phase,
        activity: activity.into(),
        events: Vec::new(),
        role_labels: Vec::new(),
    }
}

/// Plans the cluster's next step.
pub fn plan_cluster(input: &ClusterInput<'_>) -> ClusterPlan {
    let leaders = input.shards;
    let followers = input.shards * input.replicas_per_shard;
    let is_departing =
        |server: &ServerView| server.pod.ordinal >= desired_replicas(input, &server.pod.group);
    let expected_missing: Vec<String> = (0..leaders)
        .map(|ordinal| format!("{}-{ordinal}", input.leader_group))
        .chain((0..followers).map(|ordinal| format!("{}-{ordinal}", input.follower_group)))
        .filter(|name| {
            !input.servers.iter().any(|server| {
                &server.pod.name == name && server.answered() && server.myself().is_some()
            })
        })
        .collect();
    let members: Vec<Member<'_>> = input
        .servers
        .iter()
        .filter_map(|view| {
            let table = view.cluster_nodes.as_deref()?;
            let myself = table.iter().find(|node| node.flags.myself)?;
            view.answered().then(|| Member {
                view,
                endpoint: Arc::new(view.endpoint.clone()),
                myself,
                table,
                departing: is_departing(view),
            })
        })
        .collect();
    let hold_replicas = hold_for_departing(input, &members);
    let mut plan = step(input, &members, &expected_missing);
    plan.hold_replicas = hold_replicas;
    record_role_changes(input, &members, &mut plan);
    plan
}

/// The `redis-role` labels that do not match what each answering node is, and a `MasterChanged`
/// Event for every node the label last saw as a replica that now serves slots as a master —
/// whoever promoted it (Redis Cluster after a master was lost, or a failover the operator asked
/// for). The label is the record: once it is updated, a later reconcile does not report the same
/// change again, and an operator restart does not forget it.
fn record_role_changes(input: &ClusterInput<'_>, members: &[Member<'_>], plan: &mut ClusterPlan) {
    for member in members {
        let role = if member.myself.is_master() {
            REDIS_ROLE_MASTER
        } else {
            REDIS_ROLE_REPLICA
        };
        let previous = member.view.pod.role_label.as_deref();
        if previous == Some(role) {
            continue;
        }
        // A pod on its way out keeps its label: a label written after the pod is gone would
        // create a bare pod of that name (server-side apply creates what is missing).
        let leaving = member.view.pod.terminating || plan.evictions.contains(&member.view.pod.name);
        if !leaving {
            plan.role_labels.push((member.view.pod.name.clone(), role));
        }
        if previous != Some(REDIS_ROLE_REPLICA) || !member.owns_any() {
            continue;
        }
        // The former master: a pod still labelled master that no longer is one — back as this
        // node's replica, or not answering and failed in this node's table.
        let failed_here = |ip: &str| {
            member.table.iter().any(|node| {
                (node.flags.failed || node.flags.possibly_failed)
                    && node
                        .address
                        .as_ref()
                        .is_some_and(|address| address.ip == ip)
            })
        };
        let former: Vec<&str> = input
            .servers
            .iter()
            .filter(|server| server.pod.role_label.as_deref() == Some(REDIS_ROLE_MASTER))
            .filter(|server| {
                match members
                    .iter()
                    .find(|other| other.view.pod.name == server.pod.name)
                {
                    Some(other) => other.myself.master_id.as_deref() == Some(member.id()),
                    None => server.pod.ip.as_deref().is_some_and(failed_here),
                }
            })
            .map(|server| server.pod.name.as_str())
            .collect();
        let slots = member
            .myself
            .slots
            .iter()
            .map(|(start, end)| {
                if start == end {
                    start.to_string()
                } else {
                    format!("{start}-{end}")
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        plan.events.push((
            EventReason::MasterChanged,
            if former.is_empty() {
                format!(
                    "{} became the master of slots {slots}",
                    member.view.pod.name
                )
            } else {
                format!(
                    "{} became the master of slots {slots} in place of {}",
                    member.view.pod.name,
                    former.join(", ")
                )
            },
        ));
    }
}

/// Keeps a StatefulSet from shrinking below a departing pod that still holds slots or keys, or
/// that a staying node still knows.
fn hold_for_departing(input: &ClusterInput<'_>, members: &[Member<'_>]) -> BTreeMap<String, i32> {
    let mut hold = BTreeMap::new();
    let staying: Vec<&Member<'_>> = members.iter().filter(|member| !member.departing).collect();
    for departing in members.iter().filter(|member| member.departing) {
        let still_needed = departing.holds_data_to_move()
            || staying
                .iter()
                .any(|member| member.table.iter().any(|node| node.id == departing.id()));
        if still_needed {
            let minimum = i32::try_from(departing.view.pod.ordinal + 1).unwrap_or(i32::MAX);
            let entry = hold.entry(departing.view.pod.group.clone()).or_insert(0);
            *entry = (*entry).max(minimum);
        }
    }
    // A slot owner no staying member accounts for may be a departing pod that is not running
    // (killed, evicted, its node down): its slots live on its volume, so its StatefulSet must keep
    // (or get back) its ordinal until they have moved. Redis 7 names the pod in the announced
    // hostname; without one the owner's pod is unknown and no StatefulSet shrinks.
    let staying_ids: BTreeSet<&str> = staying.iter().map(|member| member.id()).collect();
    let departing_ids: BTreeSet<&str> = members
        .iter()
        .filter(|member| member.departing)
        .map(|member| member.id())
        .collect();
    // Every staying node lists the same owners: each is looked at once.
    let unaccounted_owners: BTreeMap<&str, &ClusterNode> = staying
        .iter()
        .flat_map(|member| member.table.iter())
        .filter(|node| node.is_master() && !node.slots.is_empty())
        .filter(|node| !staying_ids.contains(node.id.as_str()))
        .filter(|node| !departing_ids.contains(node.id.as_str()))
        .map(|node| (node.id.as_str(), node))
        .collect();
    for owner in unaccounted_owners.into_values() {
        let hostname = owner
            .address
            .as_ref()
            .and_then(|address| address.hostname.as_deref());
        match hostname.and_then(|hostname| pod_of_hostname(input, hostname)) {
            Some((group, ordinal)) => {
                if ordinal >= desired_replicas(input, group) {
                    let minimum = i32::try_from(ordinal + 1).unwrap_or(i32::MAX);
                    let entry = hold.entry(group.to_owned()).or_insert(0);
                    *entry = (*entry).max(minimum);
                }
            }
            None => {
                for (group, replicas) in input.live_replicas {
                    let entry = hold.entry(group.clone()).or_insert(0);
                    *entry = (*entry).max(*replicas);
                }
            }
        }
    }
    // Departing pods that did not answer are held too while their StatefulSet still counts them:
    // their data is unknown. A pod already being removed is not brought back for that.
    for server in input
        .servers
        .iter()
        .filter(|server| !server.answered() && !server.pod.terminating)
    {
        let departing = server.pod.ordinal >= desired_replicas(input, &server.pod.group);
        let counted = input
            .live_replicas
            .get(&server.pod.group)
            .is_some_and(|replicas| i64::from(server.pod.ordinal) < i64::from(*replicas));
        if departing && counted {
            let minimum = i32::try_from(server.pod.ordinal + 1).unwrap_or(i32::MAX);
            let entry = hold.entry(server.pod.group.clone()).or_insert(0);
            *entry = (*entry).max(minimum);
        }
    }
    hold
}

/// Pods the spec asks for in `group`.
fn desired_replicas(input: &ClusterInput<'_>, group: &str) -> u32 {
    if group == input.leader_group {
        input.shards
    } else {
        input.shards * input.replicas_per_shard
    }
}

/// The group and ordinal of the pod a node announces as its hostname (`<statefulset>-<ordinal>`,
/// the pod's name), when it is one of this cluster's pods.
fn pod_of_hostname<'a>(input: &ClusterInput<'a>, hostname: &str) -> Option<(&'a str, u32)> {
    [input.leader_group, input.follower_group]
        .into_iter()
        .find_map(|group| {
            let ordinal = hostname
                .strip_prefix(group)?
                .strip_prefix('-')?
                .parse()
                .ok()?;
            Some((group, ordinal))
        })
}

fn step(
    input: &ClusterInput<'_>,
    members: &[Member<'_>],
    expected_missing: &[String],
) -> ClusterPlan {
    let any_slots = members.iter().any(|member| !member.myself.slots.is_empty())
        || members
            .iter()
            .any(|member| member.table.iter().any(|node| !node.slots.is_empty()));
    if !expected_missing.is_empty() {
        let phase = if any_slots {
            ClusterPhase::Bootstrap
        } else {
            ClusterPhase::Initializing
        };
        return plan_with(
            phase,
            format!("waiting for {} to answer", expected_missing.join(", ")),
        );
    }
    let Some(seed) = seed(members) else {
        return plan_with(ClusterPhase::Initializing, "no cluster node answers yet");
    };
    // Before anything else: the replica of such a master resyncs from the empty server at its
    // address once the diskless delay has passed, and its keys are the only copy left.
    if let Some(plan) = take_over_from_vanished_owners(members) {
        return plan;
    }
    if let Some(plan) = step_meet(members, seed) {
        return plan;
    }
    if !any_slots {
        return step_bootstrap(input, members);
    }
    if let Some(plan) = step_finish_migrations(members) {
        return plan;
    }
    if let Some(plan) = step_resume_bootstrap(input, members) {
        return plan;
    }
    if let Some(plan) = step_lost_slots(input, members) {
        return plan;
    }
    if let Some(plan) = step_forget_stale(members) {
        return plan;
    }
    let emptied = emptied_before_restart(input, members);
    let targets = slot_targets(input, members, emptied);
    if let Some(plan) = step_take_back_from_departing(input, members, &targets) {
        return plan;
    }
    if let Some(plan) = step_replicas(input, members, &targets) {
        return plan;
    }
    if let Some(plan) = step_rebalance(input, members, &targets, emptied) {
        return plan;
    }
    if let Some(plan) = step_forget_departing(members) {
        return plan;
    }
    if let Some(failing) = members
        .iter()
        .find(|member| member.view.cluster_state_ok == Some(false))
    {
        return plan_with(
            ClusterPhase::Bootstrap,
            format!(
                "{} reports cluster_state:fail; waiting for Redis Cluster to recover or fail over",
                failing.view.pod.name
            ),
        );
    }
    if let Some(plan) = step_rolling_restart(input, members) {
        return plan;
    }
    // A replica whose link is down (a full resync under way: the master delays and streams its
    // dataset, the replica loads it) holds nothing its master could be rebuilt from, and Redis
    // Cluster would not elect it if the master failed now: the shard has no redundancy yet.
    if let Some(syncing) = members.iter().find(|member| {
        member.myself.master_id.is_some()
            && member
                .view
                .replication
                .as_ref()
                .is_some_and(|info| !info.master_link_up)
    }) {
        return plan_with(
            ClusterPhase::Bootstrap,
            format!(
                "waiting for {} to finish syncing from its master",
                syncing.view.pod.name
            ),
        );
    }
    plan_with(
        ClusterPhase::Ready,
        "every slot is served by its master and every master has its replicas",
    )
}

/// The node the others are introduced to: the one owning most slots (the cluster's heart), else
/// the first leader.
fn seed<'a, 'b>(members: &'b [Member<'a>]) -> Option<&'b Member<'a>> {
    members
        .iter()
        .filter(|member| !member.departing)
        .max_by(|left, right| {
            (left.owned_count(), std::cmp::Reverse(&left.view.pod.name))
                .cmp(&(right.owned_count(), std::cmp::Reverse(&right.view.pod.name)))
        })
}

fn knows_at(table: &[ClusterNode], id: &str, ip: &str) -> bool {
    table.iter().any(|node| {
        node.id == id
            && !node.flags.handshake
            && node
                .address
                .as_ref()
                .is_some_and(|address| address.ip == ip)
    })
}

fn bus_port(endpoint: &RedisEndpoint) -> u16 {
    endpoint.port.saturating_add(BUS_PORT_OFFSET)
}

fn meet(from: &Member<'_>, to: &Member<'_>) -> RedisStep {
    from.command(RedisCommand::ClusterMeet {
        host: to.view.endpoint.host.clone(),
        port: to.view.endpoint.port,
        bus_port: bus_port(&to.view.endpoint),
    })
}

/// Every node knows every other at its current address, or is introduced: to the seed, and the
/// seed to it. Pods that come back with a new address are introduced by their node id.
fn step_meet(members: &[Member<'_>], seed: &Member<'_>) -> Option<ClusterPlan> {
    // Departing nodes are never introduced again: once forgotten they must stay forgotten.
    let members: Vec<&Member<'_>> = members.iter().filter(|member| !member.departing).collect();
    let mut steps = Vec::new();
    for member in members.iter().filter(|member| member.id() != seed.id()) {
        if !knows_at(seed.table, member.id(), &member.view.endpoint.host) {
            steps.push(meet(seed, member));
        } else if !knows_at(member.table, seed.id(), &seed.view.endpoint.host) {
            steps.push(meet(member, seed));
        }
    }
    if !steps.is_empty() {
        let mut plan = plan_with(ClusterPhase::Bootstrap, "introducing nodes to each other");
        plan.steps = steps;
        return Some(plan);
    }
    // Each table is indexed once: scanning it per pair would make this cubic in the node count.
    let strangers = members.iter().any(|member| {
        let known: BTreeSet<(&str, &str)> = member
            .table
            .iter()
            .filter(|node| !node.flags.handshake)
            .filter_map(|node| {
                let address = node.address.as_ref()?;
                Some((node.id.as_str(), address.ip.as_str()))
            })
            .collect();
        members
            .iter()
            .filter(|other| other.id() != member.id())
            .any(|other| !known.contains(&(other.id(), other.view.endpoint.host.as_str())))
    });
    strangers.then(|| {
        plan_with(
            ClusterPhase::Bootstrap,
            "waiting for the nodes to learn of each other",
        )
    })
}

/// Slots go to the first `shards` leader pods in even ranges, only when no node holds a key.
fn step_bootstrap(input: &ClusterInput<'_>, members: &[Member<'_>]) -> ClusterPlan {
    if let Some(holder) = members.iter().find(|member| member.keys() > 0) {
        return plan_with(
            ClusterPhase::Failed(format!(
                "{} holds {} keys but no node owns a slot; refusing to assign slots over data",
                holder.view.pod.name,
                holder.keys()
            )),
            "waiting for a person",
        );
    }
    let ranges = even_ranges(usize::try_from(input.shards).unwrap_or(0));
    let mut plan = plan_with(ClusterPhase::Bootstrap, "assigning slots to the leaders");
    for (ordinal, range) in ranges.into_iter().enumerate() {
        let name = format!("{}-{ordinal}", input.leader_group);
        let Some(member) = members.iter().find(|member| member.view.pod.name == name) else {
            return plan_with(ClusterPhase::Bootstrap, format!("waiting for {name}"));
        };
        let command = if input.major_version >= 7 {
            RedisCommand::ClusterAddSlotsRange(vec![range])
        } else {
            RedisCommand::ClusterAddSlots((range.0..=range.1).collect())
        };
        plan.steps.push(member.command(command));
    }
    plan.events.push((
        EventReason::ClusterBootstrapped,
        format!(
            "assigned the {SLOT_COUNT} slots to {} leaders",
            input.shards
        ),
    ));
    plan
}

/// Adds to `steps` the sequence that moves `slot` from `source` to `target`, from wherever a
/// previous attempt stopped: markers already in place are not set again, a slot the target
/// already owns is not imported again, and the keys always move before the ownership changes.
fn push_migration_steps(
    steps: &mut Vec<RedisStep>,
    slot: u16,
    source: &Member<'_>,
    target: &Member<'_>,
) {
    let target_owns = target.owns(slot);
    let source_owns = source.owns(slot);
    let importing = target
        .myself
        .importing
        .iter()
        .any(|(marked, from)| *marked == slot && from == source.id());
    if !target_owns && !importing {
        steps.push(target.command(RedisCommand::ClusterSetSlot {
            slot,
            state: SlotState::Importing(source.id().to_owned()),
        }));
    }
    let migrating = source
        .myself
        .migrating
        .iter()
        .any(|(marked, to)| *marked == slot && to == target.id());
    if source_owns && !migrating {
        steps.push(source.command(RedisCommand::ClusterSetSlot {
            slot,
            state: SlotState::Migrating(target.id().to_owned()),
        }));
    }
    steps.push(RedisStep::MoveSlotKeys {
        source: Arc::clone(&source.endpoint),
        target: Arc::clone(&target.endpoint),
        slot,
    });
    steps.push(target.command(RedisCommand::ClusterSetSlot {
        slot,
        state: SlotState::Node(target.id().to_owned()),
    }));
    steps.push(source.command(RedisCommand::ClusterSetSlot {
        slot,
        state: SlotState::Node(target.id().to_owned()),
    }));
    // The other masters learn the new owner from the target's higher config epoch over the bus;
    // telling each of them too would multiply the commands per slot by the number of masters.
}

/// Migrations a crash left half done are finished before anything else changes. Only masters
/// take part in a migration (Redis refuses SETSLOT on a replica and towards one), so a marker
/// whose peer is not a master is closed with SETSLOT STABLE instead of being followed: a slot is
/// never handed to a replica. An import whose source no longer owns the slot is closed by claiming
/// the slot only when no other master owns it, by its own account or, while it does not answer,
/// in any table; a stray marker beside an answering owner is dropped, as claiming would take the
/// slot, and the keys behind it, from its real owner.
fn step_finish_migrations(members: &[Member<'_>]) -> Option<ClusterPlan> {
    let by_id: BTreeMap<&str, &Member<'_>> =
        members.iter().map(|member| (member.id(), member)).collect();
    let master = |id: &str| {
        by_id
            .get(id)
            .copied()
            .filter(|peer| peer.myself.is_master())
    };
    let stable = |member: &Member<'_>, slot: u16| {
        member.command(RedisCommand::ClusterSetSlot {
            slot,
            state: SlotState::Stable,
        })
    };
    let mut steps = Vec::new();
    let mut handled = BTreeSet::new();
    for member in members.iter().filter(|member| member.myself.is_master()) {
        for (slot, peer) in &member.myself.migrating {
            if !handled.insert(*slot) {
                continue;
            }
            match master(peer) {
                Some(target) => push_migration_steps(&mut steps, *slot, member, target),
                None if by_id.contains_key(peer.as_str()) => steps.push(stable(member, *slot)),
                // The target does not answer: it may still be importing; wait for it.
                None => {}
            }
        }
        for (slot, peer) in &member.myself.importing {
            if !handled.insert(*slot) {
                continue;
            }
            match master(peer) {
                // The source still owns the slot: finish the move from the top.
                Some(source) if source.owns(*slot) => {
                    push_migration_steps(&mut steps, *slot, source, member);
                }
                _ if owned_by_another_master(members, member, *slot) => {
                    steps.push(stable(member, *slot));
                }
                // A node that does not answer still owns the slot in some table: it may be
                // restarting or cut off with the keys not yet moved, and a claim would outrank it
                // and make Redis delete them when it comes back. Wait for it (or for its
                // replica to take over).
                _ if owner_out_of_reach(members, *slot) => {}
                // The source already gave the slot away (or is gone) and no other master claims
                // it: close the import by claiming the slot.
                _ => steps.push(member.command(RedisCommand::ClusterSetSlot {
                    slot: *slot,
                    state: SlotState::Node(member.id().to_owned()),
                })),
            }
        }
        if steps.len() >= MIGRATION_BATCH * 4 {
            break;
        }
    }
    (!steps.is_empty()).then(|| {
        let mut plan = plan_with(ClusterPhase::Bootstrap, "finishing slot migrations");
        plan.steps = steps;
        plan
    })
}

/// Whether an answering master other than `member` owns `slot` by its own account. Tables are
/// not asked: a source that gave the slot away still owns it in the others' tables until the new
/// owner's claim reaches them.
fn owned_by_another_master(members: &[Member<'_>], member: &Member<'_>, slot: u16) -> bool {
    members
        .iter()
        .any(|other| other.id() != member.id() && other.owns(slot))
}

/// Whether a master that does not answer owns `slot` in the table of a member that does.
fn owner_out_of_reach(members: &[Member<'_>], slot: u16) -> bool {
    members
        .iter()
        .flat_map(|member| member.table.iter())
        .filter(|node| node.is_master())
        .filter(|node| {
            node.slots
                .iter()
                .any(|(start, end)| *start <= slot && slot <= *end)
        })
        .any(|node| !members.iter().any(|member| member.id() == node.id))
}

/// A bootstrap interrupted between its ADDSLOTSRANGE commands leaves slots that no node has ever
/// claimed — no answering node owns them and no node's table names an owner for them. Those (and
/// only those) are given to the leader whose even range holds them, when no node holds keys
/// outside the slots it owns.
fn step_resume_bootstrap(input: &ClusterInput<'_>, members: &[Member<'_>]) -> Option<ClusterPlan> {
    let mut claimed = SlotBits::new();
    for node in members
        .iter()
        .flat_map(|member| member.table.iter())
        .filter(|node| node.is_master())
    {
        claimed.insert_ranges(&node.slots);
    }
    if claimed.count() == u32::from(SLOT_COUNT) {
        return None;
    }
    if members.iter().any(|member| {
        member.myself.slots.is_empty() && member.keys() > 0 && member.myself.is_master()
    }) {
        return None;
    }
    let ranges = even_ranges(usize::try_from(input.shards).unwrap_or(0));
    let mut plan = plan_with(
        ClusterPhase::Bootstrap,
        "assigning the slots no node has ever owned",
    );
    for (ordinal, (start, end)) in ranges.into_iter().enumerate() {
        let name = format!("{}-{ordinal}", input.leader_group);
        let Some(leader) = members
            .iter()
            .find(|member| member.view.pod.name == name && member.myself.is_master())
        else {
            continue;
        };
        let unclaimed: BTreeSet<u16> = (start..=end)
            .filter(|slot| !claimed.contains(*slot))
            .collect();
        if unclaimed.is_empty() {
            continue;
        }
        let command = if input.major_version >= 7 {
            RedisCommand::ClusterAddSlotsRange(super::slots::ranges_of(&unclaimed))
        } else {
            RedisCommand::ClusterAddSlots(unclaimed.into_iter().collect())
        };
        plan.steps.push(leader.command(command));
    }
    (!plan.steps.is_empty()).then_some(plan)
}

/// Slots no answering master owns: reported, and fixed only from a node that has them.
fn step_lost_slots(input: &ClusterInput<'_>, members: &[Member<'_>]) -> Option<ClusterPlan> {
    let mut owned = SlotBits::new();
    for member in members.iter().filter(|member| member.myself.is_master()) {
        owned.insert_ranges(&member.myself.slots);
    }
    if owned.count() == u32::from(SLOT_COUNT) {
        return None;
    }
    // Slots a failed master still owns in the others' tables are the cluster's own failover to
    // make (its replica takes over after the node timeout); wait for it.
    let failed_owners = absent_slot_owners(members);
    let has_replica = |id: &str| {
        members
            .iter()
            .any(|member| member.myself.master_id.as_deref() == Some(id))
    };
    let unrecoverable: Vec<&str> = failed_owners
        .iter()
        .copied()
        .filter(|id| !has_replica(id))
        .collect();
    let missing = u32::from(SLOT_COUNT) - owned.count();
    if let Some(plan) = forget_vanished_owners_without_replica(members, &unrecoverable) {
        return Some(plan);
    }
    if let Some(plan) = take_over_from_owners_no_replica_of_which_is_electable(input, members) {
        return Some(plan);
    }
    if unrecoverable.is_empty() && !failed_owners.is_empty() {
        return Some(plan_with(
            ClusterPhase::Bootstrap,
            format!("{missing} slots wait for the cluster to promote a replica of a failed master"),
        ));
    }
    Some(plan_with(
        ClusterPhase::Failed(format!(
            "{missing} slots have no reachable owner{}; the operator does not reassign slots whose data lives elsewhere — bring the owner's pod back with its data",
            if unrecoverable.is_empty() {
                String::new()
            } else {
                format!(" (last owned by {})", unrecoverable.join(", "))
            }
        )),
        "waiting for the owner of the lost slots",
    ))
}

/// Owners of slots that every table lists without an address: their server restarted in place
/// without its files, and its address now answers under another node id, so their identity (and
/// the keys that went with the process) is gone for good. Redis Cluster never pings a node
/// without an address: when none of the tables had failed it before its address was dropped, it
/// never fails it, and its replica is never promoted; when it was failed, Redis promotes its
/// replica only with the votes of a majority of the masters. The replica is the only copy of the
/// keys left (until it resyncs from the empty server at the old address, which it does after the
/// master's diskless delay), so the operator has the replica holding the most keys take over at
/// once: `CLUSTER FAILOVER FORCE` when a majority of the masters answers to grant it (unless
/// Redis is about to fail the owner over itself), `CLUSTER FAILOVER TAKEOVER` when none can —
/// the one case where the operator takes over without a majority, safe because the old identity
/// cannot come back.
fn take_over_from_vanished_owners(members: &[Member<'_>]) -> Option<ClusterPlan> {
    let absent = absent_slot_owners(members);
    let majority_answers = majority_of_masters_answers(members, &absent);
    let mut plan = plan_with(
        ClusterPhase::Bootstrap,
        "a replica takes over from a master that restarted without its data",
    );
    for owner in absent {
        if !vanished(members, owner) {
            continue;
        }
        let failed = members
            .iter()
            .flat_map(|member| member.table.iter())
            .any(|node| node.id == owner && node.flags.failed);
        let mode = match (majority_answers, failed) {
            (true, false) => FailoverMode::Force,
            // Redis Cluster fails it over with the majority's votes.
            (true, true) => continue,
            (false, _) => FailoverMode::Takeover,
        };
        let Some(heir) = heir_of(members, owner) else {
            continue;
        };
        plan.steps
            .push(heir.command(RedisCommand::ClusterFailover(mode)));
        plan.events.push((
            EventReason::FailoverPerformed,
            format!(
                "{} takes over the slots of node {owner}, whose server restarted without its data under another node id (Redis Cluster does not fail over a node without an address{})",
                heir.view.pod.name,
                if majority_answers {
                    ""
                } else {
                    "; no majority of masters answers to vote, so it takes over without one"
                }
            ),
        ));
    }
    (!plan.steps.is_empty()).then_some(plan)
}

/// Whether the answering masters that serve slots are a majority of those and the absent slot
/// owners: enough votes for `CLUSTER FAILOVER FORCE`.
fn majority_of_masters_answers(members: &[Member<'_>], absent: &BTreeSet<&str>) -> bool {
    let answering_masters = members
        .iter()
        .filter(|member| member.myself.is_master() && !member.myself.slots.is_empty())
        .count();
    answering_masters * 2 > answering_masters + absent.len()
}

/// The replica of `owner` to promote in its place: the one holding the most keys, the lowest
/// ordinal among equals.
fn heir_of<'members, 'view>(
    members: &'members [Member<'view>],
    owner: &str,
) -> Option<&'members Member<'view>> {
    members
        .iter()
        .filter(|member| member.myself.master_id.as_deref() == Some(owner))
        .max_by_key(|member| (member.keys(), std::cmp::Reverse(member.view.pod.ordinal)))
}

/// Absent slot owners whose replicas have all not completed a sync since they started or were
/// pointed at them (`master_link_down_since_seconds:-1`). Redis Cluster counts their data age
/// as infinite and never elects them, so the owner's slots would stay unserved for ever. Every
/// pod of the cluster answers (the step waits for them before this) and none under the owner's
/// id: the server that held it, and the keys that went with it, are gone for good. The replica
/// holding the most keys (a restarted replica's own files, or nothing) takes over:
/// `CLUSTER FAILOVER FORCE` when a majority of the masters answers to vote, `TAKEOVER` when none
/// can. A Warning Event says which keys are lost. An owner whose server may still come back
/// with its files (see [`identity_gone`]) is waited for instead.
fn take_over_from_owners_no_replica_of_which_is_electable(
    input: &ClusterInput<'_>,
    members: &[Member<'_>],
) -> Option<ClusterPlan> {
    let absent = absent_slot_owners(members);
    let majority_answers = majority_of_masters_answers(members, &absent);
    let mut plan = plan_with(
        ClusterPhase::Bootstrap,
        "a replica that never synced takes over from a master that is gone",
    );
    for owner in &absent {
        let mut replicas = members
            .iter()
            .filter(|member| member.myself.master_id.as_deref() == Some(*owner))
            .peekable();
        if replicas.peek().is_none()
            || !replicas.all(Member::never_synced_from_its_master)
            || !identity_gone(input, members, owner)
        {
            continue;
        }
        let Some(heir) = heir_of(members, owner) else {
            continue;
        };
        let mode = if majority_answers {
            FailoverMode::Force
        } else {
            FailoverMode::Takeover
        };
        plan.steps
            .push(heir.command(RedisCommand::ClusterFailover(mode)));
        plan.events.push((
            EventReason::SlotsLost,
            format!(
                "the keys in the slots of node {owner} are lost: its server is gone and its replica {} never completed a sync from it, so Redis Cluster does not elect it; it takes over and serves the slots with the {} keys it holds",
                heir.view.pod.name,
                heir.keys()
            ),
        ));
    }
    (!plan.steps.is_empty()).then_some(plan)
}

/// Whether no server can come back as node `id`, which no answering server is: the pod it
/// announced as its hostname answers under another id (its `nodes.conf` is gone), or, without a
/// hostname, every pod of the cluster answers, each under its own id.
fn identity_gone(input: &ClusterInput<'_>, members: &[Member<'_>], id: &str) -> bool {
    let hostname = members
        .iter()
        .flat_map(|member| member.table.iter())
        .filter(|node| node.id == id)
        .find_map(|node| node.address.as_ref()?.hostname.as_deref());
    match hostname {
        Some(hostname) => members
            .iter()
            .any(|member| member.view.pod.name == hostname),
        // Members are exactly the servers that answered as cluster nodes.
        None => members.len() == input.servers.len(),
    }
}

/// Whether every table that lists node `id` lists it without an address: its address answered
/// under another node id, so that identity is gone for good.
fn vanished(members: &[Member<'_>], id: &str) -> bool {
    let mut listed = members
        .iter()
        .flat_map(|member| member.table.iter())
        .filter(|node| node.id == id)
        .peekable();
    listed.peek().is_some() && listed.all(|node| node.flags.no_address)
}

/// Masters that own slots, have no replica that answers, and whose identity is gone (see
/// [`vanished`]): their server restarted without its data, so their keys are lost whatever the
/// operator does, and waiting for them would keep the slots unserved for ever. Every node
/// forgets them; their slots, unassigned then, are assigned again, empty, to the leader pods
/// that own those ranges (the bootstrap's resume step). A Warning Event says which keys are lost.
fn forget_vanished_owners_without_replica(
    members: &[Member<'_>],
    unrecoverable: &[&str],
) -> Option<ClusterPlan> {
    if unrecoverable.is_empty() || !unrecoverable.iter().all(|id| vanished(members, id)) {
        return None;
    }
    let mut plan = plan_with(
        ClusterPhase::Bootstrap,
        "forgetting masters that restarted without their data and had no replica",
    );
    for member in members {
        for id in unrecoverable {
            if member.table.iter().any(|node| node.id == *id)
                && member.myself.master_id.as_deref() != Some(*id)
            {
                plan.steps
                    .push(member.command(RedisCommand::ClusterForget((*id).to_owned())));
            }
        }
    }
    plan.events.push((
        EventReason::SlotsLost,
        format!(
            "the keys in the slots of node {} are lost: it restarted without its data and had no replica; its slots are served again, empty",
            unrecoverable.join(", ")
        ),
    ));
    Some(plan)
}

/// Masters that own slots in some answering node's table but do not answer themselves.
fn absent_slot_owners<'a>(members: &[Member<'a>]) -> BTreeSet<&'a str> {
    members
        .iter()
        .flat_map(|member| member.table.iter())
        .filter(|node| node.is_master() && !node.slots.is_empty())
        .filter(|node| !members.iter().any(|member| member.id() == node.id))
        .map(|node| node.id.as_str())
        .collect()
}

/// Entries for nodes that are gone (failed or without address, owning no slot, and not a node
/// that answered) are forgotten by every node that still lists them.
fn step_forget_stale(members: &[Member<'_>]) -> Option<ClusterPlan> {
    let live: BTreeSet<&str> = members.iter().map(Member::id).collect();
    let mut steps = Vec::new();
    for member in members {
        for node in member.table {
            let gone = node.flags.failed || node.flags.no_address;
            // A replica refuses to forget its own master ("Can't forget my master!"); it is
            // attached to a live master first (the replica step), and forgets the old one after.
            let own_master = member.myself.master_id.as_deref() == Some(node.id.as_str());
            if gone
                && node.slots.is_empty()
                && !live.contains(node.id.as_str())
                && !node.flags.myself
                && !own_master
            {
                steps.push(member.command(RedisCommand::ClusterForget(node.id.clone())));
            }
        }
    }
    (!steps.is_empty()).then(|| {
        let mut plan = plan_with(ClusterPhase::Bootstrap, "forgetting nodes that are gone");
        plan.steps = steps;
        plan
    })
}

/// The masters that should own slots: staying masters that own some, then empty staying masters on
/// leader pods (new shards), up to the number of shards; never `emptied`, a master whose slots
/// move away before it restarts.
fn slot_targets(
    input: &ClusterInput<'_>,
    members: &[Member<'_>],
    emptied: Option<&str>,
) -> BTreeSet<NodeId> {
    let staying = |member: &&Member<'_>| !member.departing && Some(member.id()) != emptied;
    let mut holders: Vec<&Member<'_>> = members
        .iter()
        .filter(staying)
        .filter(|member| member.myself.is_master() && !member.myself.slots.is_empty())
        .collect();
    holders.sort_by(|left, right| {
        right
            .owned_count()
            .cmp(&left.owned_count())
            .then(left.view.pod.name.cmp(&right.view.pod.name))
    });
    let wanted = usize::try_from(input.shards).unwrap_or(0);
    let mut targets: Vec<&Member<'_>> = holders.into_iter().take(wanted).collect();
    let mut newcomers: Vec<&Member<'_>> = members
        .iter()
        .filter(staying)
        .filter(|member| member.is_empty_master() && member.view.pod.group == input.leader_group)
        .collect();
    newcomers.sort_by_key(|member| member.view.pod.ordinal);
    for member in newcomers {
        if targets.len() >= wanted {
            break;
        }
        targets.push(member);
    }
    targets
        .into_iter()
        .map(|member| member.id().to_owned())
        .collect()
}

/// Too few staying masters hold slots, and a departing master does (Redis Cluster promoted a
/// follower over its leader, and the followers are going): a staying leader that replicates it
/// in sync takes its slots back by a coordinated CLUSTER FAILOVER (never FORCE), so the shard
/// keeps its keys and its place among the leaders instead of waiting for a master that never
/// comes.
fn step_take_back_from_departing(
    input: &ClusterInput<'_>,
    members: &[Member<'_>],
    targets: &BTreeSet<NodeId>,
) -> Option<ClusterPlan> {
    if targets.len() >= usize::try_from(input.shards).unwrap_or(0) {
        return None;
    }
    let departing_holder = |id: &str| {
        members.iter().find(|owner| {
            owner.id() == id
                && owner.departing
                && owner.myself.is_master()
                && !owner.myself.slots.is_empty()
        })
    };
    let (heir, holder) = members
        .iter()
        .filter(|member| !member.departing && member.view.pod.group == input.leader_group)
        .filter(|member| {
            member
                .view
                .replication
                .as_ref()
                .is_some_and(|info| info.master_link_up)
        })
        .find_map(|member| {
            let holder = departing_holder(member.myself.master_id.as_deref()?)?;
            Some((member, holder))
        })?;
    let mut plan = plan_with(
        ClusterPhase::Bootstrap,
        format!(
            "handing the slots of {} back to {}",
            holder.view.pod.name, heir.view.pod.name
        ),
    );
    plan_handover(&mut plan, heir, holder, ", which is leaving");
    Some(plan)
}

/// `heir`, a replica of `master` in sync with it, takes its slots with a coordinated CLUSTER
/// FAILOVER (never FORCE), reported as a planned failover; `why` ends the Event's message as written.
fn plan_handover(plan: &mut ClusterPlan, heir: &Member<'_>, master: &Member<'_>, why: &str) {
    plan.steps
        .push(heir.command(RedisCommand::ClusterFailover(FailoverMode::Coordinated)));
    plan.events.push((
        EventReason::PlannedFailover,
        format!(
            "{} takes over from {}{why}",
            heir.view.pod.name, master.view.pod.name
        ),
    ));
}

/// Every target master gets `replicas_per_shard` replicas from nodes that are free: empty masters
/// that are not targets, replicas of departing masters that hold nothing any more, and replicas
/// beyond a master's share. A replica goes to a master on another Kubernetes node where it can.
fn step_replicas(
    input: &ClusterInput<'_>,
    members: &[Member<'_>],
    targets: &BTreeSet<NodeId>,
) -> Option<ClusterPlan> {
    let replicas_of = |id: &str| -> Vec<&Member<'_>> {
        members
            .iter()
            .filter(|member| {
                !member.myself.is_master() && member.myself.master_id.as_deref() == Some(id)
            })
            .filter(|member| !member.departing)
            .collect()
    };
    let wanted = usize::try_from(input.replicas_per_shard).unwrap_or(0);
    let mut free: Vec<&Member<'_>> = Vec::new();
    for member in members.iter().filter(|member| !member.departing) {
        let is_target = targets.contains(member.id());
        if member.is_empty_master() && !is_target {
            free.push(member);
        } else if let Some(master) = member
            .myself
            .master_id
            .as_deref()
            .filter(|_| !member.myself.is_master())
        {
            let master_departing_and_empty = members
                .iter()
                .find(|candidate| candidate.id() == master)
                .is_none_or(|candidate| candidate.departing && !candidate.owns_any());
            let master_is_target = targets.contains(master);
            if master_departing_and_empty && !master_is_target {
                free.push(member);
            }
        }
    }
    // Replicas beyond a master's share are free too, the last ones first.
    for target in targets {
        let mut replicas = replicas_of(target);
        replicas.sort_by_key(|member| (member.view.pod.group.clone(), member.view.pod.ordinal));
        free.extend(replicas.into_iter().skip(wanted));
    }
    free.sort_by_key(|member| {
        (
            member.view.pod.group != input.follower_group,
            member.view.pod.ordinal,
        )
    });
    free.dedup_by_key(|member| member.id().to_owned());
    let mut steps = Vec::new();
    let mut taken = BTreeSet::new();
    let mut lacking: Vec<(&str, usize)> = targets
        .iter()
        .map(|target| (target.as_str(), replicas_of(target).len().min(wanted)))
        .filter(|(_, count)| *count < wanted)
        .collect();
    lacking.sort_by_key(|(id, count)| (*count, (*id).to_owned()));
    for (master_id, count) in lacking {
        let master_node = members
            .iter()
            .find(|member| member.id() == master_id)
            .and_then(|member| member.view.pod.node_name.clone());
        for _ in count..wanted {
            let choice = free
                .iter()
                .filter(|candidate| !taken.contains(candidate.id()) && candidate.id() != master_id)
                .min_by_key(|candidate| {
                    let same_node =
                        master_node.is_some() && candidate.view.pod.node_name == master_node;
                    (
                        same_node,
                        candidate.view.pod.group != input.follower_group,
                        candidate.view.pod.ordinal,
                    )
                });
            let Some(choice) = choice else { break };
            taken.insert(choice.id().to_owned());
            steps.push(choice.command(RedisCommand::ClusterReplicate(master_id.to_owned())));
        }
    }
    (!steps.is_empty()).then(|| {
        let mut plan = plan_with(
            ClusterPhase::Bootstrap,
            "attaching replicas to their masters",
        );
        plan.steps = steps;
        plan
    })
}

/// Moves the fewest slots that leave every target master with an even share and departing masters
/// with none, a batch per reconcile.
fn step_rebalance(
    input: &ClusterInput<'_>,
    members: &[Member<'_>],
    targets: &BTreeSet<NodeId>,
    emptied: Option<&str>,
) -> Option<ClusterPlan> {
    let wanted = usize::try_from(input.shards)
        .unwrap_or(0)
        .saturating_sub(usize::from(emptied.is_some()));
    if targets.len() < wanted {
        return Some(plan_with(
            ClusterPhase::Bootstrap,
            format!(
                "waiting for {} masters to receive slots, {} available",
                input.shards,
                targets.len()
            ),
        ));
    }
    let masters = || {
        members
            .iter()
            .filter(|member| member.myself.is_master())
            .filter(|member| !member.myself.slots.is_empty() || targets.contains(member.id()))
    };
    if balanced_by_ranges(
        masters().map(|member| (member.id(), member.myself.slots.as_slice())),
        targets,
    ) {
        return None;
    }
    let current: BTreeMap<NodeId, SlotBits> = masters()
        .map(|member| (member.id().to_owned(), member.owned()))
        .collect();
    let batch = plan_rebalance_batch(&current, targets, MIGRATION_BATCH);
    if batch.total == 0 {
        return None;
    }
    let by_id: BTreeMap<&str, &Member<'_>> =
        members.iter().map(|member| (member.id(), member)).collect();
    // Up to five steps per slot, reserved at once: growing a batch's vector by doubling copied it
    // into freshly mapped memory several times per reconcile.
    let mut steps = Vec::with_capacity(batch.moves.len() * 5);
    for slot_move in &batch.moves {
        let (Some(source), Some(target)) = (
            by_id.get(slot_move.from.as_str()),
            by_id.get(slot_move.to.as_str()),
        ) else {
            continue;
        };
        push_migration_steps(&mut steps, slot_move.slot, source, target);
    }
    let emptied_pod = emptied
        .and_then(|id| by_id.get(id))
        .map(|member| &member.view.pod.name);
    let (activity, event) = match emptied_pod {
        Some(pod) => (
            format!(
                "moving the slots of {pod} to the other masters before it restarts for a new template (its shard has no replica and its keys are not persisted): {} left to move",
                batch.total
            ),
            format!(
                "moving {} of {} slots away from {pod} before it restarts",
                batch.moves.len(),
                batch.total
            ),
        ),
        None => (
            format!("moving slots: {} left to move", batch.total),
            format!(
                "moving {} of {} slots to balance {} shards",
                batch.moves.len(),
                batch.total,
                input.shards
            ),
        ),
    };
    let mut plan = plan_with(ClusterPhase::Bootstrap, activity);
    plan.events.push((EventReason::SlotsMigrating, event));
    plan.steps = steps;
    Some(plan)
}

/// Departing nodes that hold nothing are forgotten by every staying node; then the StatefulSets
/// may shrink.
fn step_forget_departing(members: &[Member<'_>]) -> Option<ClusterPlan> {
    let mut steps = Vec::new();
    for departing in members.iter().filter(|member| member.departing) {
        if departing.holds_data_to_move() {
            return Some(plan_with(
                ClusterPhase::Bootstrap,
                format!(
                    "waiting for {} to hand over its data",
                    departing.view.pod.name
                ),
            ));
        }
        for staying in members.iter().filter(|member| !member.departing) {
            if staying.table.iter().any(|node| node.id == departing.id()) {
                steps.push(staying.command(RedisCommand::ClusterForget(departing.id().to_owned())));
            }
        }
    }
    (!steps.is_empty()).then(|| {
        let mut plan = plan_with(
            ClusterPhase::Bootstrap,
            "removing departing nodes from the cluster",
        );
        plan.events.push((
            EventReason::ScalingIn,
            "departing nodes hold no data; removing them".to_owned(),
        ));
        plan.steps = steps;
        plan
    })
}

/// Whether `member` runs a template other than its StatefulSet's current one.
fn is_outdated(input: &ClusterInput<'_>, member: &Member<'_>) -> bool {
    input
        .target_revisions
        .get(&member.view.pod.group)
        .is_some_and(|target| member.view.pod.revision.as_deref() != Some(target.as_str()))
}

/// Whether a pod is not ready or on its way out: no restart starts until every pod is back.
fn restart_in_progress(input: &ClusterInput<'_>) -> bool {
    input
        .servers
        .iter()
        .any(|server| !server.pod.ready || server.pod.terminating)
}

/// The next node to restart for a new template: replicas first, then masters, in group and
/// ordinal order.
fn next_to_restart<'m, 'a>(
    input: &ClusterInput<'_>,
    members: &'m [Member<'a>],
) -> Option<&'m Member<'a>> {
    members
        .iter()
        .filter(|member| is_outdated(input, member))
        .min_by_key(|member| {
            (
                member.myself.is_master(),
                member.view.pod.group.clone(),
                member.view.pod.ordinal,
            )
        })
}

/// The master whose slots move to the other masters before its pod restarts: the next to restart
/// when its shard has no replica to fail over to (the spec asks for none) and its keys would not
/// survive the restart. It stays out of the slot targets, empty, until it runs the new template,
/// and then gets its share back as a new shard.
fn emptied_before_restart<'m>(
    input: &ClusterInput<'_>,
    members: &'m [Member<'_>],
) -> Option<&'m str> {
    if input.leaders_keep_data_across_restarts || input.replicas_per_shard > 0 {
        return None;
    }
    next_to_restart(input, members)
        .filter(|next| next.myself.is_master())
        .map(Member::id)
}

/// Pods running an old template are restarted one at a time, replicas first; a master hands its
/// slots to an up-to-date, in-sync replica (CLUSTER FAILOVER, never FORCE) before its pod goes, and
/// a master without replicas whose keys would not survive the restart is emptied first (see
/// [`emptied_before_restart`]).
fn step_rolling_restart(input: &ClusterInput<'_>, members: &[Member<'_>]) -> Option<ClusterPlan> {
    if restart_in_progress(input) {
        return members
            .iter()
            .any(|member| is_outdated(input, member))
            .then(|| {
                // Mid-rollout: not converged until every pod runs the new template.
                plan_with(
                    ClusterPhase::Bootstrap,
                    "waiting for every pod to be ready before the next restart",
                )
            });
    }
    let next = next_to_restart(input, members)?;
    let mut plan = plan_with(
        ClusterPhase::Ready,
        format!("restarting {} for a new template", next.view.pod.name),
    );
    if next.myself.is_master() && !next.myself.slots.is_empty() {
        let in_sync_replica = members
            .iter()
            .filter(|member| member.myself.master_id.as_deref() == Some(next.id()))
            .filter(|member| !is_outdated(input, member))
            .find(|member| {
                member
                    .view
                    .replication
                    .as_ref()
                    .is_some_and(|info| info.master_link_up)
            });
        if let Some(replica) = in_sync_replica {
            plan_handover(&mut plan, replica, next, " before it restarts");
            return Some(plan);
        }
        if input.replicas_per_shard > 0 {
            plan.phase = ClusterPhase::Bootstrap;
            plan.activity = format!(
                "waiting for a replica of {} to be in sync",
                next.view.pod.name
            );
            return Some(plan);
        }
    }
    let emptied = emptied_before_restart(input, members) == Some(next.id());
    if emptied && next.holds_data_to_move() {
        // Its slots are still on their way to the other masters.
        plan.activity = format!(
            "waiting for the slots of {} to move before it restarts",
            next.view.pod.name
        );
        return Some(plan);
    }
    if !emptied && next.myself.is_master() && !next.myself.slots.is_empty() {
        plan.events.push((
            EventReason::LoneMasterRestarting,
            format!(
                "restarting {} for a new template: its shard has no replica, so its slots are \
                 served by nobody until it is back with its keys (or, if the new template cannot \
                 start, until the edit is reverted)",
                next.view.pod.name
            ),
        ));
    }
    plan.evictions.push(next.view.pod.name.clone());
    Some(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::replies::{
        MasterLinkDown, ReplicationInfo, ReplicationRole, parse_cluster_nodes,
    };

    const LEADERS: &str = "shop-leader";
    const FOLLOWERS: &str = "shop-follower";

    /// One node of a hand-written cluster: pod, node id, master (for replicas), slots, markers.
    struct Node {
        pod: String,
        id: String,
        master: Option<String>,
        slots: Vec<(u16, u16)>,
        markers: Vec<String>,
    }

    fn node_id(pod: &str) -> String {
        format!("{:0>40}", pod.replace('-', ""))
    }

    /// Three leaders with their even ranges and one replica each.
    fn three_shards() -> Vec<Node> {
        let mut nodes = Vec::new();
        for (ordinal, range) in even_ranges(3).into_iter().enumerate() {
            let leader = format!("{LEADERS}-{ordinal}");
            let follower = format!("{FOLLOWERS}-{ordinal}");
            nodes.push(Node {
                id: node_id(&leader),
                pod: leader.clone(),
                master: None,
                slots: vec![range],
                markers: Vec::new(),
            });
            nodes.push(Node {
                id: node_id(&follower),
                pod: follower,
                master: Some(node_id(&leader)),
                slots: Vec::new(),
                markers: Vec::new(),
            });
        }
        nodes
    }

    fn address(index: usize) -> String {
        format!("10.0.0.{}", index + 1)
    }

    /// What every node answers: all see the same table, each marks itself and its own markers;
    /// with `hostnames` every line carries the pod's name as Redis 7 announces it.
    fn views(nodes: &[Node], hostnames: bool) -> Vec<ServerView> {
        nodes
            .iter()
            .enumerate()
            .map(|(index, node)| {
                let table: String = nodes
                    .iter()
                    .enumerate()
                    .map(|(other_index, other)| {
                        let role = if other.master.is_some() {
                            "slave"
                        } else {
                            "master"
                        };
                        let flags = if other_index == index {
                            format!("myself,{role}")
                        } else {
                            role.to_owned()
                        };
                        let hostname = if hostnames {
                            format!(",{}", other.pod)
                        } else {
                            String::new()
                        };
                        let mut line = format!(
                            "{} {}:6379@16379{hostname} {flags} {} 0 0 1 connected",
                            other.id,
                            address(other_index),
                            other.master.as_deref().unwrap_or("-"),
                        );
                        for (start, end) in &other.slots {
                            line.push_str(&format!(" {start}-{end}"));
                        }
                        if other_index == index {
                            for marker in &other.markers {
                                line.push_str(&format!(" {marker}"));
                            }
                        }
                        line + "\n"
                    })
                    .collect();
                let (group, ordinal) = node.pod.rsplit_once('-').unwrap();
                ServerView {
                    replication: Some(ReplicationInfo {
                        role: if node.master.is_some() {
                            ReplicationRole::Replica
                        } else {
                            ReplicationRole::Master
                        },
                        master_host: None,
                        master_port: None,
                        master_link_up: node.master.is_some(),
                        master_sync_in_progress: false,
                        master_link_down: None,
                        replica_offset: None,
                        replica_priority: None,
                        master_replication_id: "0".repeat(40),
                        master_offset: 0,
                        previous_history: None,
                        replicas: Vec::new(),
                    }),
                    cluster_nodes: Some(Arc::new(parse_cluster_nodes(&table).unwrap())),
                    keys: Some(0),
                    cluster_state_ok: None,
                    ..ServerView::ready_pod(
                        &node.pod,
                        group,
                        ordinal.parse().unwrap(),
                        &address(index),
                    )
                }
            })
            .collect()
    }

    fn plan(nodes: &[Node]) -> ClusterPlan {
        plan_scaled(nodes, &Scaled::converged())
    }

    /// The cluster after Redis Cluster promoted shop-follower-1 in place of shop-leader-1, which
    /// came back as its replica; the pods carry `labels` as (pod, role).
    fn plan_after_failover(labels: &[(&str, &str)]) -> ClusterPlan {
        plan_after_failover_asking(labels, 1)
    }

    /// The same, with the spec asking for `replicas_per_shard` followers per shard.
    fn plan_after_failover_asking(labels: &[(&str, &str)], replicas_per_shard: u32) -> ClusterPlan {
        let mut nodes = three_shards();
        let leader = node_id(&format!("{LEADERS}-1"));
        let follower = node_id(&format!("{FOLLOWERS}-1"));
        for node in &mut nodes {
            if node.id == leader {
                node.master = Some(follower.clone());
                node.slots = Vec::new();
            } else if node.id == follower {
                node.master = None;
                node.slots = vec![even_ranges(3)[1]];
            }
        }
        let mut servers = views(&nodes, true);
        for server in &mut servers {
            server.pod.role_label = labels
                .iter()
                .find(|(pod, _)| *pod == server.pod.name)
                .map(|(_, role)| (*role).to_owned());
        }
        let no_revisions = BTreeMap::new();
        let live_replicas = BTreeMap::from([(LEADERS.to_owned(), 3), (FOLLOWERS.to_owned(), 3)]);
        plan_cluster(&ClusterInput {
            servers: &servers,
            leader_group: LEADERS,
            follower_group: FOLLOWERS,
            shards: 3,
            replicas_per_shard,
            major_version: 7,
            target_revisions: &no_revisions,
            live_replicas: &live_replicas,
            leaders_keep_data_across_restarts: false,
        })
    }

    #[test]
    fn a_leader_replicating_a_departing_follower_takes_its_slots_back_before_the_followers_go() {
        // Redis Cluster promoted shop-follower-1 over shop-leader-1; the spec now asks for no
        // followers, so shop-follower-1 is leaving with a third of the slots.
        let plan = plan_after_failover_asking(&[], 0);
        assert_eq!(plan.phase, ClusterPhase::Bootstrap, "{}", plan.activity);
        assert_eq!(
            forced_failovers(&plan),
            vec![(format!("{LEADERS}-1"), FailoverMode::Coordinated)],
            "{}",
            plan.activity
        );
    }

    #[test]
    fn a_failover_redis_cluster_performed_is_reported_once_through_the_role_labels() {
        let before = [
            ("shop-leader-0", REDIS_ROLE_MASTER),
            ("shop-leader-1", REDIS_ROLE_MASTER),
            ("shop-leader-2", REDIS_ROLE_MASTER),
            ("shop-follower-0", REDIS_ROLE_REPLICA),
            ("shop-follower-1", REDIS_ROLE_REPLICA),
            ("shop-follower-2", REDIS_ROLE_REPLICA),
        ];
        let plan = plan_after_failover(&before);
        let changes: Vec<&(EventReason, String)> = plan
            .events
            .iter()
            .filter(|(reason, _)| *reason == EventReason::MasterChanged)
            .collect();
        assert_eq!(changes.len(), 1, "{:?}", plan.events);
        assert_eq!(
            changes[0].1,
            format!(
                "shop-follower-1 became the master of slots {}-{} in place of shop-leader-1",
                even_ranges(3)[1].0,
                even_ranges(3)[1].1
            )
        );
        assert_eq!(
            plan.role_labels,
            vec![
                ("shop-leader-1".to_owned(), REDIS_ROLE_REPLICA),
                ("shop-follower-1".to_owned(), REDIS_ROLE_MASTER),
            ]
        );
        // Once the labels say what each node is, the change is not reported again.
        let after = [
            ("shop-leader-0", REDIS_ROLE_MASTER),
            ("shop-leader-1", REDIS_ROLE_REPLICA),
            ("shop-leader-2", REDIS_ROLE_MASTER),
            ("shop-follower-0", REDIS_ROLE_REPLICA),
            ("shop-follower-1", REDIS_ROLE_MASTER),
            ("shop-follower-2", REDIS_ROLE_REPLICA),
        ];
        let plan = plan_after_failover(&after);
        assert!(plan.role_labels.is_empty(), "{:?}", plan.role_labels);
        assert!(
            plan.events
                .iter()
                .all(|(reason, _)| *reason != EventReason::MasterChanged)
        );
        // Pods never labelled (a new cluster) are labelled without an Event.
        let plan = plan_after_failover(&[]);
        assert_eq!(plan.role_labels.len(), 6);
        assert!(
            plan.events
                .iter()
                .all(|(reason, _)| *reason != EventReason::MasterChanged)
        );
    }

    /// A cluster being scaled: the shards asked for, each StatefulSet's live replicas, pods that
    /// do not run (their nodes stay in the others' tables), whether hostnames are announced.
    struct Scaled<'a> {
        shards: u32,
        live_leaders: i32,
        live_followers: i32,
        absent: &'a [&'a str],
        hostnames: bool,
    }

    impl Scaled<'_> {
        fn converged() -> Self {
            Scaled {
                shards: 3,
                live_leaders: 3,
                live_followers: 3,
                absent: &[],
                hostnames: true,
            }
        }
    }

    fn plan_scaled(nodes: &[Node], scaled: &Scaled<'_>) -> ClusterPlan {
        plan_views(views(nodes, scaled.hostnames), scaled)
    }

    fn plan_views(servers: Vec<ServerView>, scaled: &Scaled<'_>) -> ClusterPlan {
        let servers: Vec<ServerView> = servers
            .into_iter()
            .filter(|view| !scaled.absent.contains(&view.pod.name.as_str()))
            .collect();
        let no_revisions = BTreeMap::new();
        let live_replicas = BTreeMap::from([
            (LEADERS.to_owned(), scaled.live_leaders),
            (FOLLOWERS.to_owned(), scaled.live_followers),
        ]);
        plan_cluster(&ClusterInput {
            servers: &servers,
            leader_group: LEADERS,
            follower_group: FOLLOWERS,
            shards: scaled.shards,
            replicas_per_shard: 1,
            major_version: 7,
            target_revisions: &no_revisions,
            live_replicas: &live_replicas,
            leaders_keep_data_across_restarts: false,
        })
    }

    /// The SETSLOT commands of a plan, as (pod, slot, state).
    fn slot_commands(plan: &ClusterPlan) -> Vec<(String, u16, SlotState)> {
        plan.steps
            .iter()
            .filter_map(|step| match step {
                RedisStep::Command(endpoint, RedisCommand::ClusterSetSlot { slot, state }) => {
                    Some((endpoint.pod.clone(), *slot, state.clone()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_master_restarted_in_place_without_its_data_is_taken_over_by_its_replica() {
        let leader = format!("{LEADERS}-1");
        let old_id = node_id(&leader);
        // The leader's pod answers under another id; every table lists its old id without an
        // address, not failed (Redis never pings it again).
        let mut servers = views(&three_shards(), true);
        for view in &mut servers {
            let table = Arc::make_mut(view.cluster_nodes.as_mut().unwrap());
            if view.pod.name == leader {
                // A new node: itself alone, no slots.
                table.retain(|node| node.flags.myself);
                table[0].id = "f".repeat(40);
                table[0].slots.clear();
                continue;
            }
            for node in table.iter_mut().filter(|node| node.id == old_id) {
                node.address = None;
                node.flags.no_address = true;
                node.link_connected = false;
            }
        }
        let forced = |plan: &ClusterPlan| -> Vec<String> {
            plan.steps
                .iter()
                .filter_map(|step| match step {
                    RedisStep::Command(
                        endpoint,
                        RedisCommand::ClusterFailover(FailoverMode::Force),
                    ) => Some(endpoint.pod.clone()),
                    _ => None,
                })
                .collect()
        };
        let plan = plan_views(servers.clone(), &Scaled::converged());
        assert_eq!(forced(&plan), vec![format!("{FOLLOWERS}-1")], "{plan:?}");
        assert!(
            plan.events
                .iter()
                .any(|(reason, _)| *reason == EventReason::FailoverPerformed)
        );
        // Failed in one table: Redis Cluster fails it over itself.
        let table = Arc::make_mut(servers[0].cluster_nodes.as_mut().unwrap());
        for node in table.iter_mut().filter(|node| node.id == old_id) {
            node.flags.failed = true;
        }
        let waiting = plan_views(servers, &Scaled::converged());
        assert!(forced(&waiting).is_empty(), "{waiting:?}");
    }

    /// shop-leader-1's pod came back under a new id without its files, and every table lists
    /// its old id failed at its old address; shop-follower-1 still follows the old id, its link
    /// down since `link_down`.
    fn plan_with_a_gone_master(link_down: MasterLinkDown, hostnames: bool) -> ClusterPlan {
        let leader = format!("{LEADERS}-1");
        let old_id = node_id(&leader);
        let new_id = "f".repeat(40);
        let mut servers = views(&three_shards(), hostnames);
        for view in &mut servers {
            let table = Arc::make_mut(view.cluster_nodes.as_mut().unwrap());
            // Every table lists the old id failed at the old address and the new id, met, at
            // the new one.
            let old = table.iter().position(|node| node.id == old_id).unwrap();
            let mut new = table[old].clone();
            new.id.clone_from(&new_id);
            new.slots.clear();
            if let Some(address) = new.address.as_mut() {
                address.ip = "10.0.0.99".to_owned();
            }
            table[old].flags.myself = false;
            table[old].flags.failed = true;
            table[old].link_connected = false;
            if view.pod.name == leader {
                view.pod.ip = Some("10.0.0.99".to_owned());
                view.endpoint.host = "10.0.0.99".to_owned();
            } else {
                new.flags.myself = false;
            }
            table.push(new);
            if view.pod.name == format!("{FOLLOWERS}-1") {
                let info = view.replication.as_mut().unwrap();
                info.master_link_up = false;
                info.master_link_down = Some(link_down);
            }
        }
        plan_views(servers, &Scaled::converged())
    }

    fn forced_failovers(plan: &ClusterPlan) -> Vec<(String, FailoverMode)> {
        plan.steps
            .iter()
            .filter_map(|step| match step {
                RedisStep::Command(endpoint, RedisCommand::ClusterFailover(mode)) => {
                    Some((endpoint.pod.clone(), *mode))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_gone_master_whose_replica_never_synced_is_taken_over_by_force() {
        for hostnames in [true, false] {
            let plan = plan_with_a_gone_master(MasterLinkDown::NeverSynced, hostnames);
            assert_eq!(
                forced_failovers(&plan),
                vec![(format!("{FOLLOWERS}-1"), FailoverMode::Force)],
                "{plan:?}"
            );
            assert!(
                plan.events
                    .iter()
                    .any(|(reason, _)| *reason == EventReason::SlotsLost),
                "{plan:?}"
            );
        }
        // A replica that synced before its link went down is Redis Cluster's to elect.
        let waiting = plan_with_a_gone_master(MasterLinkDown::Seconds(4), true);
        assert!(forced_failovers(&waiting).is_empty(), "{waiting:?}");
        assert_eq!(
            waiting.activity,
            format!(
                "{} slots wait for the cluster to promote a replica of a failed master",
                even_ranges(3)[1].1 - even_ranges(3)[1].0 + 1
            )
        );
    }

    #[test]
    fn a_master_whose_pod_does_not_answer_is_awaited_even_if_its_replica_never_synced() {
        // Without hostnames the old id may be the server of any pod that does not answer; a
        // departing pod (beyond the shrunk StatefulSet) is not among those the step waits for.
        let mut nodes = four_leaders();
        let departing = format!("{LEADERS}-3");
        let departing_id = node_id(&departing);
        nodes.push(Node {
            pod: format!("{FOLLOWERS}-3"),
            id: node_id(&format!("{FOLLOWERS}-3")),
            master: Some(departing_id.clone()),
            slots: Vec::new(),
            markers: Vec::new(),
        });
        let mut servers = views(&nodes, false);
        for view in &mut servers {
            if view.pod.name == format!("{FOLLOWERS}-3") {
                let info = view.replication.as_mut().unwrap();
                info.master_link_up = false;
                info.master_link_down = Some(MasterLinkDown::NeverSynced);
            }
        }
        let mut not_answering = servers
            .iter()
            .find(|view| view.pod.name == departing)
            .unwrap()
            .clone();
        not_answering.replication = None;
        not_answering.cluster_nodes = None;
        not_answering.keys = None;
        not_answering.error = Some("connection refused".to_owned());
        servers.retain(|view| view.pod.name != departing);
        servers.push(not_answering);
        let plan = plan_views(
            servers,
            &Scaled {
                shards: 3,
                live_leaders: 4,
                live_followers: 4,
                absent: &[],
                hostnames: false,
            },
        );
        assert!(forced_failovers(&plan).is_empty(), "{plan:?}");
    }

    #[test]
    fn a_cluster_whose_replica_still_syncs_is_not_ready() {
        let mut servers = views(&three_shards(), true);
        let follower = format!("{FOLLOWERS}-2");
        for view in &mut servers {
            if view.pod.name == follower {
                let info = view.replication.as_mut().unwrap();
                info.master_link_up = false;
                info.master_sync_in_progress = true;
            }
        }
        let plan = plan_views(servers, &Scaled::converged());
        assert_eq!(plan.phase, ClusterPhase::Bootstrap, "{plan:?}");
        assert!(plan.steps.is_empty());
        assert_eq!(
            plan.activity,
            format!("waiting for {follower} to finish syncing from its master")
        );
    }

    #[test]
    fn a_converged_cluster_plans_nothing() {
        let plan = plan(&three_shards());
        assert_eq!(plan.phase, ClusterPhase::Ready, "{plan:?}");
        assert!(plan.steps.is_empty());
    }

    #[test]
    fn a_migration_towards_a_replica_is_closed_not_followed() {
        let mut nodes = three_shards();
        let replica = node_id("shop-follower-1");
        nodes[0].markers.push(format!("[5->-{replica}]"));
        let plan = plan(&nodes);
        assert_eq!(
            slot_commands(&plan),
            vec![("shop-leader-0".to_owned(), 5, SlotState::Stable)],
            "{plan:?}"
        );
        assert!(
            !plan
                .steps
                .iter()
                .any(|step| matches!(step, RedisStep::MoveSlotKeys { .. })),
            "no key moves towards a replica: {plan:?}"
        );
    }

    #[test]
    fn an_import_of_a_slot_another_master_owns_is_dropped_not_claimed() {
        let mut nodes = three_shards();
        // leader-1 imports slot 5 "from" leader-2, but leader-0 owns it.
        let source = node_id("shop-leader-2");
        nodes[2].markers.push(format!("[5-<-{source}]"));
        let plan = plan(&nodes);
        assert_eq!(
            slot_commands(&plan),
            vec![("shop-leader-1".to_owned(), 5, SlotState::Stable)],
            "{plan:?}"
        );
    }

    #[test]
    fn an_import_whose_source_still_owns_the_slot_is_finished_with_its_keys() {
        let mut nodes = three_shards();
        let source = node_id("shop-leader-0");
        nodes[2].markers.push(format!("[5-<-{source}]"));
        let plan = plan(&nodes);
        let target = node_id("shop-leader-1");
        assert_eq!(
            slot_commands(&plan),
            vec![
                (
                    "shop-leader-0".to_owned(),
                    5,
                    SlotState::Migrating(target.clone())
                ),
                (
                    "shop-leader-1".to_owned(),
                    5,
                    SlotState::Node(target.clone())
                ),
                ("shop-leader-0".to_owned(), 5, SlotState::Node(target)),
            ],
            "{plan:?}"
        );
        assert!(
            plan.steps
                .iter()
                .any(|step| matches!(step, RedisStep::MoveSlotKeys { slot: 5, .. }))
        );
    }

    #[test]
    fn an_import_whose_slot_no_master_owns_is_closed_by_claiming_it() {
        let mut nodes = three_shards();
        // The source gave slot 5 away and nobody claimed it yet.
        nodes[0].slots[0].0 = 6;
        let source = node_id("shop-leader-0");
        nodes[2].markers.push(format!("[5-<-{source}]"));
        let plan = plan(&nodes);
        assert_eq!(
            slot_commands(&plan),
            vec![(
                "shop-leader-1".to_owned(),
                5,
                SlotState::Node(node_id("shop-leader-1"))
            )],
            "{plan:?}"
        );
    }

    #[test]
    fn markers_on_a_replica_are_left_alone() {
        let mut nodes = three_shards();
        let source = node_id("shop-leader-0");
        nodes[3].markers.push(format!("[5-<-{source}]"));
        let plan = plan(&nodes);
        assert!(slot_commands(&plan).is_empty(), "{plan:?}");
    }

    /// Four leaders with even ranges, the first three with a replica: a cluster asked to go back
    /// to three shards before the fourth leader's slots moved.
    fn four_leaders() -> Vec<Node> {
        let mut nodes = three_shards();
        let ranges = even_ranges(4);
        let mut leaders = nodes.iter_mut().filter(|node| node.master.is_none());
        for range in ranges.iter().take(3) {
            leaders.next().unwrap().slots = vec![*range];
        }
        let leader = format!("{LEADERS}-3");
        nodes.push(Node {
            id: node_id(&leader),
            pod: leader,
            master: None,
            slots: vec![ranges[3]],
            markers: Vec::new(),
        });
        nodes
    }

    /// Three shards without replicas, every pod on an old template; `keep_data` says whether a
    /// leader's keys survive a restart.
    fn plan_rollout_without_replicas(nodes: &[Node], keep_data: bool) -> ClusterPlan {
        let mut servers = views(nodes, true);
        for server in &mut servers {
            server.pod.revision = Some("old".to_owned());
        }
        let revisions = BTreeMap::from([(LEADERS.to_owned(), "new".to_owned())]);
        let live_replicas = BTreeMap::from([(LEADERS.to_owned(), 3), (FOLLOWERS.to_owned(), 0)]);
        plan_cluster(&ClusterInput {
            servers: &servers,
            leader_group: LEADERS,
            follower_group: FOLLOWERS,
            shards: 3,
            replicas_per_shard: 0,
            major_version: 7,
            target_revisions: &revisions,
            live_replicas: &live_replicas,
            leaders_keep_data_across_restarts: keep_data,
        })
    }

    fn leaders_only() -> Vec<Node> {
        three_shards()
            .into_iter()
            .filter(|node| node.master.is_none())
            .collect()
    }

    #[test]
    fn a_master_without_replicas_whose_keys_do_not_survive_a_restart_is_emptied_first() {
        let plan = plan_rollout_without_replicas(&leaders_only(), false);
        assert!(plan.evictions.is_empty(), "{plan:?}");
        let moved: Vec<(String, u16, SlotState)> = slot_commands(&plan);
        assert!(!moved.is_empty(), "{plan:?}");
        let source = node_id("shop-leader-0");
        assert!(
            moved.iter().all(|(pod, _, state)| match state {
                SlotState::Importing(from) => from == &source && pod != "shop-leader-0",
                SlotState::Migrating(to) | SlotState::Node(to) => to != &source,
                SlotState::Stable => false,
            }),
            "only shop-leader-0 gives slots, to the others: {plan:?}"
        );
    }

    #[test]
    fn an_emptied_master_restarts_without_getting_its_slots_back_first() {
        let mut nodes = leaders_only();
        nodes[0].slots = Vec::new();
        nodes[1].slots = vec![(0, 8191)];
        nodes[2].slots = vec![(8192, 16383)];
        let plan = plan_rollout_without_replicas(&nodes, false);
        assert_eq!(plan.evictions, vec!["shop-leader-0".to_owned()], "{plan:?}");
        assert!(slot_commands(&plan).is_empty(), "{plan:?}");
        assert!(
            plan.events
                .iter()
                .all(|(reason, _)| *reason != EventReason::LoneMasterRestarting),
            "an emptied master serves nothing: {plan:?}"
        );
    }

    #[test]
    fn a_master_whose_keys_survive_a_restart_restarts_in_place() {
        let plan = plan_rollout_without_replicas(&leaders_only(), true);
        assert_eq!(plan.evictions, vec!["shop-leader-0".to_owned()], "{plan:?}");
        assert!(plan.steps.is_empty(), "{plan:?}");
        assert!(
            plan.events
                .iter()
                .any(|(reason, _)| *reason == EventReason::LoneMasterRestarting),
            "the outage of its slots is announced: {plan:?}"
        );
    }

    /// Four leaders shrinking to three: shop-leader-1 imports the first slot of shop-leader-3,
    /// whose pod does not answer; with `given_away` shop-leader-3 had already given the slot up.
    fn plan_import_from_an_absent_source(given_away: bool) -> (u16, ClusterPlan) {
        let mut nodes = four_leaders();
        let source = node_id("shop-leader-3");
        let slot = even_ranges(4)[3].0;
        for node in &mut nodes {
            if node.pod == "shop-leader-1" {
                node.markers.push(format!("[{slot}-<-{source}]"));
            }
            if node.pod == "shop-leader-3" && given_away {
                node.slots[0].0 = slot + 1;
            }
        }
        let plan = plan_with_leader_3_absent(&nodes);
        (slot, plan)
    }

    #[test]
    fn an_import_from_a_source_that_does_not_answer_waits_while_a_table_names_it_owner() {
        let (slot, plan) = plan_import_from_an_absent_source(false);
        assert!(
            !slot_commands(&plan)
                .iter()
                .any(|(_, commanded, _)| *commanded == slot),
            "the slot stays with its owner while it is away: {plan:?}"
        );
    }

    #[test]
    fn an_import_from_a_source_that_gave_the_slot_up_and_went_away_is_closed_by_claiming_it() {
        let (slot, plan) = plan_import_from_an_absent_source(true);
        assert_eq!(
            slot_commands(&plan),
            vec![(
                "shop-leader-1".to_owned(),
                slot,
                SlotState::Node(node_id("shop-leader-1"))
            )],
            "{plan:?}"
        );
    }

    /// Four leaders of which shop-leader-3 departs (three shards asked) and does not answer,
    /// its StatefulSet still at four pods.
    fn plan_with_leader_3_absent(nodes: &[Node]) -> ClusterPlan {
        plan_scaled(
            nodes,
            &Scaled {
                live_leaders: 4,
                absent: &["shop-leader-3"],
                ..Scaled::converged()
            },
        )
    }

    #[test]
    fn a_departing_owner_whose_pod_is_missing_keeps_its_ordinal() {
        let plan = plan_with_leader_3_absent(&four_leaders());
        assert_eq!(plan.hold_replicas.get(LEADERS), Some(&4), "{plan:?}");
        assert_eq!(plan.hold_replicas.get(FOLLOWERS), None, "{plan:?}");
    }

    #[test]
    fn a_departing_owner_is_brought_back_when_its_statefulset_already_shrank() {
        let plan = plan_scaled(
            &four_leaders(),
            &Scaled {
                absent: &["shop-leader-3"],
                ..Scaled::converged()
            },
        );
        assert_eq!(plan.hold_replicas.get(LEADERS), Some(&4), "{plan:?}");
    }

    #[test]
    fn without_hostnames_an_unaccounted_owner_stops_every_shrink() {
        let plan = plan_scaled(
            &four_leaders(),
            &Scaled {
                live_leaders: 4,
                absent: &["shop-leader-3"],
                hostnames: false,
                ..Scaled::converged()
            },
        );
        assert_eq!(plan.hold_replicas.get(LEADERS), Some(&4), "{plan:?}");
        assert_eq!(plan.hold_replicas.get(FOLLOWERS), Some(&3), "{plan:?}");
    }

    #[test]
    fn a_missing_departing_node_without_slots_does_not_hold_its_statefulset() {
        let mut nodes = four_leaders();
        let ranges = even_ranges(3);
        let mut leaders = nodes.iter_mut().filter(|node| node.master.is_none());
        for range in &ranges {
            leaders.next().unwrap().slots = vec![*range];
        }
        leaders.next().unwrap().slots = Vec::new();
        let plan = plan_with_leader_3_absent(&nodes);
        assert!(plan.hold_replicas.is_empty(), "{plan:?}");
    }
}
