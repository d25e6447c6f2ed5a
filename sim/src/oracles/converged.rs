//! The state oracles, checked once the CRs converged: the `-master` Service and
//! `status.masterNode` name the real master, slots are owned exactly once and balanced, every
//! master has its replicas, the sentinels agree on the master, and disruption budgets follow the
//! CR's settings.

use redis_operator::json_pointer::JsonPointer;

use redis_operator::api::Kind;
use redis_operator::ports::kube::{ObjectRef, ResourceType};
use serde_json::Value;

use crate::engine::world::World;
use crate::fakes::redis::{Server, ServerKind};
use crate::oracles::{Violation, is_master, masters_of, servers_of};

pub(crate) fn spec_number(object: &Value, pointer: &str) -> Option<usize> {
    object
        .at(pointer)
        .and_then(Value::as_u64)
        .and_then(|number| usize::try_from(number).ok())
}

/// The state oracles, for a converged cluster.
pub fn check_converged(world: &World, targets: &[(Kind, ObjectRef)]) -> Vec<Violation> {
    let mut violations = Vec::new();
    let servers = world.redis.servers();
    for (kind, target) in targets {
        let Some(object) = world.api.object(target) else {
            continue;
        };
        match kind {
            Kind::RedisReplication => {
                check_replication(world, &servers, target, &object, &mut violations)
            }
            Kind::RedisCluster => check_cluster(&servers, target, &object, &mut violations),
            Kind::RedisSentinel => {
                check_sentinels(world, &servers, target, &object, &mut violations)
            }
            Kind::Redis => {}
        }
        check_disruption_budgets(world, *kind, target, &object, &mut violations);
    }
    violations
}

/// The PodDisruptionBudgets of a CR are there exactly when its `pdb` settings enable them, each
/// group's with its own `minAvailable` or `maxUnavailable`.
pub(crate) fn check_disruption_budgets(
    world: &World,
    kind: Kind,
    target: &ObjectRef,
    object: &Value,
    violations: &mut Vec<Violation>,
) {
    let groups: Vec<(String, &str)> = match kind {
        Kind::RedisCluster => vec![
            (format!("{}-leader", target.name), "/spec/redisLeader/pdb"),
            (
                format!("{}-follower", target.name),
                "/spec/redisFollower/pdb",
            ),
        ],
        Kind::RedisReplication => vec![(format!("{}-replication", target.name), "/spec/pdb")],
        Kind::RedisSentinel => vec![(format!("{}-sentinel", target.name), "/spec/pdb")],
        Kind::Redis => Vec::new(),
    };
    for (name, pointer) in groups {
        let settings = object.at(pointer);
        let enabled = settings
            .and_then(|settings| settings.get("enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let budget = world.api.object(&ObjectRef::new(
            ResourceType::PodDisruptionBudget,
            &target.namespace,
            &name,
        ));
        let problem = match (&budget, enabled) {
            (None, true) => Some("is enabled but the budget does not exist".to_owned()),
            (Some(_), false) => Some("is not enabled but the budget exists".to_owned()),
            (Some(budget), true) => ["minAvailable", "maxUnavailable"].iter().find_map(|field| {
                let wanted = settings
                    .and_then(|settings| settings.get(*field))
                    .and_then(Value::as_i64);
                let actual = budget.at(&format!("/spec/{field}")).and_then(Value::as_i64);
                (wanted != actual)
                    .then(|| format!("sets {field} {wanted:?} but the budget has {actual:?}"))
            }),
            (None, false) => None,
        };
        if let Some(problem) = problem {
            violations.push(Violation::new(
                "disruption budgets follow the CR's settings",
                format!(
                    "{target}: {} {problem} (PodDisruptionBudget {name})",
                    &pointer[1..].replace('/', ".")
                ),
            ));
        }
    }
}

pub(crate) fn check_replication(
    world: &World,
    servers: &[Server],
    target: &ObjectRef,
    object: &Value,
    violations: &mut Vec<Violation>,
) {
    let masters = masters_of(world, target);
    let selected = world.master_service_pods(target);
    if masters.len() != 1 || selected != masters {
        violations.push(Violation::new(
            "the -master Service selects exactly the real master",
            format!(
                "{target}: the -master Service selects {selected:?} but the masters are {masters:?}"
            ),
        ));
    }
    let status_master = object.at("/status/masterNode").and_then(Value::as_str);
    if masters.len() == 1 && status_master != masters.first().map(String::as_str) {
        violations.push(Violation::new(
            "status.masterNode names the real master",
            format!(
                "{target}: status.masterNode is {status_master:?} but the master is {masters:?}"
            ),
        ));
    }
    let size = spec_number(object, "/spec/clusterSize").unwrap_or(1);
    if let Some(master) = masters.first() {
        let master_ip = servers
            .iter()
            .find(|server| *server.pod == **master)
            .map(|server| server.ip.clone())
            .unwrap_or_default();
        let following = servers_of(servers, target)
            .into_iter()
            .filter(|server| {
                server.alive
                    && server
                        .master
                        .as_ref()
                        .is_some_and(|(ip, _)| *ip == master_ip)
            })
            .count();
        if following + 1 < size {
            violations.push(Violation::new(
                "every master has its replicas",
                format!(
                    "{target}: {following} replicas follow {master}, expected {}",
                    size - 1
                ),
            ));
        }
    }
}

pub(crate) fn check_cluster(
    servers: &[Server],
    target: &ObjectRef,
    object: &Value,
    violations: &mut Vec<Violation>,
) {
    let mine = servers_of(servers, target);
    let masters: Vec<&&Server> = mine
        .iter()
        .filter(|server| {
            is_master(server) && server.kind == ServerKind::Cluster && !server.slots.is_empty()
        })
        .collect();
    let mut owners = vec![0u8; 16384];
    for server in &masters {
        for slot in server.slots.iter() {
            if let Some(count) = owners.get_mut(usize::from(slot)) {
                *count = count.saturating_add(1);
            }
        }
    }
    let wrong = owners.iter().filter(|count| **count != 1).count();
    if wrong > 0 {
        violations.push(Violation::new(
            "every slot is owned exactly once",
            format!("{target}: {wrong} slots are not owned exactly once"),
        ));
    }
    let leaders = spec_number(object, "/spec/redisLeader/replicas")
        .or_else(|| spec_number(object, "/spec/clusterSize"))
        .unwrap_or(3);
    if masters.len() != leaders {
        violations.push(Violation::new(
            "the cluster has the requested shards",
            format!(
                "{target}: {} masters hold slots, {leaders} requested",
                masters.len()
            ),
        ));
    }
    let counts: Vec<usize> = masters.iter().map(|server| server.slots.len()).collect();
    if let (Some(most), Some(least)) = (counts.iter().max(), counts.iter().min())
        && most - least > 1
    {
        violations.push(Violation::new(
            "slots are balanced",
            format!("{target}: masters own between {least} and {most} slots"),
        ));
    }
    let followers = spec_number(object, "/spec/redisFollower/replicas")
        .or_else(|| spec_number(object, "/spec/clusterSize"))
        .unwrap_or(leaders);
    let per_master = followers.checked_div(leaders).unwrap_or(0);
    for master in &masters {
        let replicas = mine
            .iter()
            .filter(|server| {
                server.alive && server.cluster_master_id() == Some(master.node_id.as_str())
            })
            .count();
        if replicas < per_master {
            violations.push(Violation::new(
                "every master has its replicas",
                format!(
                    "{target}: {} has {replicas} replicas, expected {per_master}",
                    master.pod
                ),
            ));
        }
    }
}

pub(crate) fn check_sentinels(
    world: &World,
    servers: &[Server],
    target: &ObjectRef,
    object: &Value,
    violations: &mut Vec<Violation>,
) {
    let Some(replication) = object
        .at("/spec/redisSentinelConfig/redisReplicationName")
        .and_then(Value::as_str)
    else {
        return;
    };
    let replication = ObjectRef::new(
        ResourceType::RedisReplication,
        &target.namespace,
        replication,
    );
    let masters = masters_of(world, &replication);
    let [master] = masters.as_slice() else {
        return;
    };
    let Some(master_ip) = servers
        .iter()
        .find(|server| *server.pod == **master)
        .map(|server| server.ip.clone())
    else {
        return;
    };
    for sentinel in servers_of(servers, target)
        .into_iter()
        .filter(|server| server.alive && server.kind == ServerKind::Sentinel)
    {
        let monitored = sentinel.monitored_masters();
        if !monitored.iter().any(|(_, ip, _)| *ip == master_ip) {
            violations.push(Violation::new(
                "sentinels agree with the master",
                format!("{target}: sentinel {} monitors {monitored:?}, the master is {master} ({master_ip})", sentinel.pod),
            ));
        }
    }
}
