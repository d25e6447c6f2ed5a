//! `redis-sim apply`: applies manifests to a fresh simulated cluster, runs the operator until every
//! CR is Ready and a reconcile changes nothing, and reports a readable timeline: simulated time,
//! objects created, Events, status changes and the Redis topology as it forms.
//!
//! Everything here is deterministic: the same manifests give the same timeline, byte for byte.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use redis_operator::api::Kind;
use redis_operator::api::document::{DocumentOutcome, read_documents};
use redis_operator::ports::clock::{Clock, Milliseconds};
use redis_operator::ports::kube::{ObjectRef, ResourceType};
use serde_json::Value;

use crate::clock::SIMULATION_EPOCH;
use crate::redis::ServerKind;
use crate::world::World;

/// Simulated seconds after which `apply` gives up on convergence.
pub const DEFAULT_TIME_LIMIT_SECONDS: u64 = 1800;

/// What a run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The timeline and summary, one line each.
    pub lines: Vec<String>,
    /// Whether every CR converged and every oracle held.
    pub success: bool,
}

fn seconds(time: Milliseconds) -> String {
    let elapsed = time.saturating_sub(SIMULATION_EPOCH);
    format!("{:>5}.{:03}s", elapsed / 1000, elapsed % 1000)
}

/// A one-line summary of the Redis servers: masters with slots or replicas, replicas and whom
/// they follow, sentinels and what they monitor.
fn topology_line(world: &World) -> String {
    let servers = world.redis.servers();
    let by_ip: BTreeMap<&str, &str> = servers
        .iter()
        .map(|server| (server.ip.as_str(), server.pod.as_str()))
        .collect();
    let mut parts = Vec::new();
    for server in servers.iter().filter(|server| server.alive) {
        let part = match (server.kind, &server.master) {
            (ServerKind::Sentinel, _) => format!("{}=sentinel", server.pod),
            (_, Some((ip, _))) => format!(
                "{}→{}",
                server.pod,
                by_ip.get(ip.as_str()).copied().unwrap_or(ip.as_str())
            ),
            (ServerKind::Cluster, None) => {
                format!("{}=master[{} slots]", server.pod, server.slots.len())
            }
            (ServerKind::Plain, None) => format!("{}=master", server.pod),
        };
        parts.push(part);
    }
    parts.sort();
    parts.join(" ")
}

fn status_line(world: &World, target: &ObjectRef) -> String {
    let Some(object) = world.api.object(target) else {
        return "deleted".to_owned();
    };
    let status = &object["status"];
    let condition = |kind: &str| {
        status["conditions"]
            .as_array()
            .and_then(|conditions| {
                conditions
                    .iter()
                    .find(|condition| condition["type"] == kind)
            })
            .map(|condition| {
                format!(
                    "{}={} ({})",
                    kind,
                    condition["status"].as_str().unwrap_or("?"),
                    condition["message"].as_str().unwrap_or("")
                )
            })
            .unwrap_or_default()
    };
    let mut line = condition("Ready");
    if let Some(state) = status["state"].as_str() {
        let _ = write!(line, " state={state}");
    }
    if let Some(master) = status["masterNode"].as_str() {
        let _ = write!(line, " master={master}");
    }
    if let Some(address) = status["masterAddress"].as_str() {
        let _ = write!(line, " sentinels-agree-on={address}");
    }
    line
}

/// Applies `documents` (text of YAML files) to a fresh world and runs until convergence or
/// `time_limit_seconds` of simulated time.
pub async fn apply(documents: &[(String, String)], time_limit_seconds: u64) -> Report {
    let world = World::new();
    let mut report = Report::default();
    let mut line = |text: String| report.lines.push(text);
    let mut targets: Vec<(Kind, ObjectRef)> = Vec::new();
    let mut invalid = false;
    // Secrets and ConfigMaps first: the CRs refer to them.
    let mut ordered: Vec<(String, Value, bool)> = Vec::new();
    for (file, text) in documents {
        let values: Vec<Value> = serde_yaml_ng::Deserializer::from_str(text)
            .filter_map(|document| serde::Deserialize::deserialize(document).ok())
            .collect();
        for (document, value) in read_documents(text).into_iter().zip(values) {
            let label = document.label();
            match document.outcome {
                DocumentOutcome::Invalid(errors) => {
                    invalid = true;
                    line(format!("{file}: {label} is invalid:"));
                    for error in errors {
                        line(format!("  {error}"));
                    }
                }
                DocumentOutcome::Valid(_) => ordered.push((file.clone(), value, true)),
                DocumentOutcome::Skipped => ordered.push((file.clone(), value, false)),
                DocumentOutcome::Empty => {}
            }
        }
    }
    ordered.sort_by_key(|(_, _, ours)| *ours);
    for (file, value, _) in ordered {
        let yaml = serde_yaml_ng::to_string(&value).unwrap_or_default();
        match world.create_yaml(&yaml) {
            Ok((Some(kind), reference)) => {
                line(format!(
                    "{} apply {} ({file})",
                    seconds(world.clock.now()),
                    reference
                ));
                targets.push((kind, reference));
            }
            Ok((None, reference)) => line(format!(
                "{} apply {} ({file})",
                seconds(world.clock.now()),
                reference
            )),
            Err(error) => {
                invalid = true;
                line(format!("{file}: failed to apply: {error}"));
            }
        }
    }
    if targets.is_empty() {
        line("no Redis, RedisReplication, RedisSentinel or RedisCluster to run".to_owned());
        report.success = false;
        return report;
    }
    let limit = SIMULATION_EPOCH + time_limit_seconds * 1000;
    let mut seen_events = 0;
    let mut seen_writes = 0;
    let mut last_topology = String::new();
    let mut last_status: BTreeMap<ObjectRef, String> = BTreeMap::new();
    let mut quiet_rounds = 0;
    let mut converged = false;
    let mut reconcile_errors = 0;
    while world.clock.now() < limit {
        let mut writes = 0;
        for (kind, target) in &targets {
            match world.reconcile(*kind, target).await {
                Ok(outcome) => writes += outcome.writes(),
                Err(error) => {
                    writes += 1;
                    reconcile_errors += 1;
                    line(format!(
                        "{} reconcile of {target} failed: {error}",
                        seconds(world.clock.now())
                    ));
                }
            }
        }
        let now = world.clock.now();
        let api_writes = world.api.writes();
        for write in api_writes.iter().skip(seen_writes) {
            let created = matches!(write.verb, "apply" | "create") && write.error.is_none();
            if created
                && matches!(
                    write.object.resource,
                    ResourceType::StatefulSet
                        | ResourceType::Service
                        | ResourceType::ConfigMap
                        | ResourceType::PodDisruptionBudget
                )
            {
                line(format!(
                    "{} write {} {}",
                    seconds(now),
                    write.verb,
                    write.object
                ));
            }
            if let Some(error) = &write.error {
                line(format!(
                    "{} rejected {} {}: {error}",
                    seconds(now),
                    write.verb,
                    write.object
                ));
            }
        }
        seen_writes = api_writes.len();
        let events = world.api.events();
        for event in events.iter().skip(seen_events) {
            line(format!(
                "{} event {} {} {}: {}",
                seconds(now),
                event.event_type.as_str(),
                event.regarding,
                event.reason,
                event.message
            ));
        }
        seen_events = events.len();
        for (_, target) in &targets {
            let status = status_line(&world, target);
            if last_status.get(target) != Some(&status) {
                line(format!("{} status {target}: {status}", seconds(now)));
                last_status.insert(target.clone(), status);
            }
        }
        let all_ready = targets.iter().all(|(_, target)| world.is_ready(target));
        world.step();
        let topology = topology_line(&world);
        if topology != last_topology {
            line(format!("{} redis {topology}", seconds(world.clock.now())));
            last_topology = topology;
        }
        quiet_rounds = if writes == 0 && all_ready {
            quiet_rounds + 1
        } else {
            0
        };
        if quiet_rounds >= 2 {
            converged = true;
            break;
        }
    }
    let elapsed = world.clock.now().saturating_sub(SIMULATION_EPOCH);
    line(String::new());
    line("summary:".to_owned());
    for (_, target) in &targets {
        line(format!("  {target}: {}", status_line(&world, target)));
    }
    let oracle_failures = oracles(&world, &targets);
    for failure in &oracle_failures {
        line(format!("  oracle violated: {failure}"));
    }
    line(format!(
        "  {} after {}.{:03} simulated seconds; {} API writes, {} Redis commands, {} Events, {} failed reconciles",
        if converged {
            "converged"
        } else {
            "did NOT converge"
        },
        elapsed / 1000,
        elapsed % 1000,
        world.api.writes().len(),
        world.redis.command_log().len(),
        world.api.events().len(),
        reconcile_errors
    ));
    report.success = converged && !invalid && oracle_failures.is_empty();
    report
}

/// The oracles that must hold once converged.
fn oracles(world: &World, targets: &[(Kind, ObjectRef)]) -> Vec<String> {
    let mut failures = Vec::new();
    let servers = world.redis.servers();
    for (kind, target) in targets {
        match kind {
            Kind::RedisReplication => {
                let selected = world.pods_selected_by(&ObjectRef::new(
                    ResourceType::Service,
                    &target.namespace,
                    &format!("{}-master", target.name),
                ));
                let masters: Vec<&str> = servers
                    .iter()
                    .filter(|server| {
                        server.alive && server.kind == ServerKind::Plain && server.master.is_none()
                    })
                    .filter(|server| server.pod.starts_with(&format!("{}-", target.name)))
                    .map(|server| server.pod.as_str())
                    .collect();
                if selected.len() != 1
                    || masters.len() != 1
                    || selected.first().map(String::as_str) != masters.first().copied()
                {
                    failures.push(format!("{target}: the -master Service selects {selected:?} but the masters are {masters:?}"));
                }
            }
            Kind::RedisCluster => {
                let prefix = format!("{}-", target.name);
                let mut owners = vec![0u8; 16384];
                for server in servers.iter().filter(|server| {
                    server.alive
                        && server.kind == ServerKind::Cluster
                        && server.master.is_none()
                        && server.pod.starts_with(&prefix)
                }) {
                    for slot in server.slots.iter() {
                        if let Some(count) = owners.get_mut(usize::from(slot)) {
                            *count = count.saturating_add(1);
                        }
                    }
                }
                let wrong = owners.iter().filter(|count| **count != 1).count();
                if wrong > 0 {
                    failures.push(format!(
                        "{target}: {wrong} slots are not owned exactly once"
                    ));
                }
            }
            Kind::Redis | Kind::RedisSentinel => {}
        }
    }
    failures
}
