//! Prometheus metrics of the operator, kept in memory and rendered in the text exposition format.
//!
//! A small registry of its own rather than a library: a handful of counters, gauges and one
//! histogram. It records what the controller reports and must not read the API or Redis itself.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::api::Kind;
use crate::ports::redis::{RedisAdmin, RedisCommand, RedisEndpoint, RedisError, RedisReply};
use crate::reconcile::Request;
use crate::reconcile::status::ConditionType;

/// Counter: reconciles run, by kind.
pub const RECONCILES_TOTAL: &str = "redis_operator_reconciles_total";
/// Counter: failed reconciles, by kind and reason.
pub const RECONCILE_ERRORS_TOTAL: &str = "redis_operator_reconcile_errors_total";
/// Histogram: how long a reconcile took, by kind.
pub const RECONCILE_DURATION_SECONDS: &str = "redis_operator_reconcile_duration_seconds";
/// Gauge: 1 when a CR's Ready condition is True, by kind, namespace and name.
pub const RESOURCE_READY: &str = "redis_operator_resource_ready";
/// Gauge: 1 when a CR's Degraded condition is True, by kind, namespace and name.
pub const RESOURCE_DEGRADED: &str = "redis_operator_resource_degraded";
/// Counter: Redis commands sent, by command name.
pub const REDIS_COMMANDS_TOTAL: &str = "redis_operator_redis_commands_total";
/// Counter: Redis commands that failed, by command name.
pub const REDIS_COMMAND_ERRORS_TOTAL: &str = "redis_operator_redis_command_errors_total";
/// Counter: failovers the operator started, by kind and command.
pub const FAILOVERS_TOTAL: &str = "redis_operator_failovers_total";
/// Counter: cluster slots whose keys the operator moved to another node, by kind.
pub const SLOT_MIGRATIONS_TOTAL: &str = "redis_operator_slot_migrations_total";
/// Gauge: 1 while this replica holds the leader Lease, 0 while it stands by.
pub const LEADER: &str = "redis_operator_leader";

/// Upper bounds of the reconcile duration buckets, in seconds.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Clone, Debug, Default)]
struct Histogram {
    bucket_counts: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct State {
    reconciles: BTreeMap<&'static str, u64>,
    errors: BTreeMap<(&'static str, &'static str), u64>,
    durations: BTreeMap<&'static str, Histogram>,
    conditions: BTreeMap<(&'static str, String, String), (bool, bool)>,
    redis_commands: BTreeMap<&'static str, u64>,
    redis_command_errors: BTreeMap<&'static str, u64>,
    failovers: BTreeMap<(&'static str, &'static str), u64>,
    slot_migrations: BTreeMap<&'static str, u64>,
    leader: Option<bool>,
}

/// The operator's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    state: Mutex<State>,
}

impl Metrics {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the counters inconsistent in a way that
        // matters more than losing them, so a poisoned lock is used as is.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one reconcile of `kind` that took `duration`, with the requests it executed (also
    /// those before a failure) and, when it failed, the reason.
    pub fn record_reconcile(
        &self,
        kind: Kind,
        duration: Duration,
        executed: &[Request],
        error_reason: Option<&'static str>,
    ) {
        let mut state = self.lock();
        *state.reconciles.entry(kind.name()).or_default() += 1;
        if let Some(reason) = error_reason {
            *state.errors.entry((kind.name(), reason)).or_default() += 1;
        }
        let seconds = duration.as_secs_f64();
        let histogram = state.durations.entry(kind.name()).or_default();
        histogram.count += 1;
        histogram.sum += seconds;
        for (index, bound) in DURATION_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                histogram.bucket_counts[index] += 1;
            }
        }
        for request in executed {
            match request {
                Request::Redis { command, .. } if is_failover(command) => {
                    *state
                        .failovers
                        .entry((kind.name(), command.name()))
                        .or_default() += 1;
                }
                Request::MoveSlotKeys { .. } => {
                    *state.slot_migrations.entry(kind.name()).or_default() += 1;
                }
                _ => {}
            }
        }
    }

    /// Sets the ready and degraded gauges of one CR from its status conditions.
    pub fn record_conditions(&self, kind: Kind, namespace: &str, name: &str, status: &Value) {
        let condition_is_true = |condition_type: ConditionType| {
            status
                .get("conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|condition| {
                    condition["type"] == condition_type.as_str() && condition["status"] == "True"
                })
        };
        let values = (
            condition_is_true(ConditionType::Ready),
            condition_is_true(ConditionType::Degraded),
        );
        self.lock()
            .conditions
            .insert((kind.name(), namespace.to_owned(), name.to_owned()), values);
    }

    /// Drops the gauges of a CR that is gone.
    pub fn forget(&self, kind: Kind, namespace: &str, name: &str) {
        self.lock()
            .conditions
            .remove(&(kind.name(), namespace.to_owned(), name.to_owned()));
    }

    /// Counts one Redis command sent, and whether it failed.
    pub fn record_redis_command(&self, command: &RedisCommand, failed: bool) {
        let mut state = self.lock();
        *state.redis_commands.entry(command.name()).or_default() += 1;
        if failed {
            *state
                .redis_command_errors
                .entry(command.name())
                .or_default() += 1;
        }
    }

    /// Whether this replica leads (`Some(true)`), stands by (`Some(false)`), or does not take
    /// part in leader election (`None`, the gauge is not exported).
    pub fn set_leader(&self, leader: Option<bool>) {
        self.lock().leader = leader;
    }

    /// Everything, in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let state = self.lock();
        let mut text = String::new();
        header(
            &mut text,
            RECONCILES_TOTAL,
            "counter",
            "Reconciles run, by kind.",
        );
        for (kind, count) in &state.reconciles {
            sample(&mut text, RECONCILES_TOTAL, &[("kind", kind)], *count);
        }
        header(
            &mut text,
            RECONCILE_ERRORS_TOTAL,
            "counter",
            "Reconciles that failed, by kind and reason.",
        );
        for ((kind, reason), count) in &state.errors {
            sample(
                &mut text,
                RECONCILE_ERRORS_TOTAL,
                &[("kind", kind), ("reason", reason)],
                *count,
            );
        }
        header(
            &mut text,
            RECONCILE_DURATION_SECONDS,
            "histogram",
            "How long reconciles took, by kind.",
        );
        for (kind, histogram) in &state.durations {
            let bucket = format!("{RECONCILE_DURATION_SECONDS}_bucket");
            for (bound, count) in DURATION_BUCKETS.iter().zip(histogram.bucket_counts) {
                sample(
                    &mut text,
                    &bucket,
                    &[("kind", kind), ("le", &bound.to_string())],
                    count,
                );
            }
            sample(
                &mut text,
                &bucket,
                &[("kind", kind), ("le", "+Inf")],
                histogram.count,
            );
            sample(
                &mut text,
                &format!("{RECONCILE_DURATION_SECONDS}_sum"),
                &[("kind", kind)],
                histogram.sum,
            );
            sample(
                &mut text,
                &format!("{RECONCILE_DURATION_SECONDS}_count"),
                &[("kind", kind)],
                histogram.count,
            );
        }
        for (name, help, pick) in [
            (
                RESOURCE_READY,
                "1 when the resource's Ready condition is True.",
                0,
            ),
            (
                RESOURCE_DEGRADED,
                "1 when the resource's Degraded condition is True.",
                1,
            ),
        ] {
            header(&mut text, name, "gauge", help);
            for ((kind, namespace, resource), (ready, degraded)) in &state.conditions {
                let value = if pick == 0 { *ready } else { *degraded };
                sample(
                    &mut text,
                    name,
                    &[("kind", kind), ("namespace", namespace), ("name", resource)],
                    u64::from(value),
                );
            }
        }
        header(
            &mut text,
            REDIS_COMMANDS_TOTAL,
            "counter",
            "Redis commands sent, by command.",
        );
        for (command, count) in &state.redis_commands {
            sample(
                &mut text,
                REDIS_COMMANDS_TOTAL,
                &[("command", command)],
                *count,
            );
        }
        header(
            &mut text,
            REDIS_COMMAND_ERRORS_TOTAL,
            "counter",
            "Redis commands that failed, by command.",
        );
        for (command, count) in &state.redis_command_errors {
            sample(
                &mut text,
                REDIS_COMMAND_ERRORS_TOTAL,
                &[("command", command)],
                *count,
            );
        }
        header(
            &mut text,
            FAILOVERS_TOTAL,
            "counter",
            "Failovers the operator started, by kind and command.",
        );
        for ((kind, command), count) in &state.failovers {
            sample(
                &mut text,
                FAILOVERS_TOTAL,
                &[("kind", kind), ("command", command)],
                *count,
            );
        }
        header(
            &mut text,
            SLOT_MIGRATIONS_TOTAL,
            "counter",
            "Cluster slots whose keys were moved to another node, by kind.",
        );
        for (kind, count) in &state.slot_migrations {
            sample(&mut text, SLOT_MIGRATIONS_TOTAL, &[("kind", kind)], *count);
        }
        if let Some(leader) = state.leader {
            header(
                &mut text,
                LEADER,
                "gauge",
                "1 while this replica holds the leader Lease, 0 while it stands by.",
            );
            sample(&mut text, LEADER, &[], u64::from(leader));
        }
        text
    }
}

/// Commands that hand a master's role to another server.
fn is_failover(command: &RedisCommand) -> bool {
    matches!(
        command,
        RedisCommand::ClusterFailover(_)
            | RedisCommand::FailoverTo { .. }
            | RedisCommand::SentinelFailover(_)
    )
}

fn header(text: &mut String, name: &str, metric_type: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} {metric_type}");
}

fn sample(text: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    text.push_str(name);
    if !labels.is_empty() {
        let rendered: Vec<String> = labels
            .iter()
            .map(|(key, value)| format!("{key}=\"{}\"", escape_label(value)))
            .collect();
        let _ = write!(text, "{{{}}}", rendered.join(","));
    }
    let _ = writeln!(text, " {value}");
}

/// A label value with backslash, double quote and newline escaped as the format requires.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A `RedisAdmin` that counts every command (reads during observation included) before handing it
/// to the real one.
pub struct CountingRedis {
    inner: Arc<dyn RedisAdmin>,
    metrics: Arc<Metrics>,
}

impl CountingRedis {
    /// Counts the commands sent through `inner` in `metrics`.
    pub fn new(inner: Arc<dyn RedisAdmin>, metrics: Arc<Metrics>) -> CountingRedis {
        CountingRedis { inner, metrics }
    }
}

#[async_trait]
impl RedisAdmin for CountingRedis {
    async fn execute(
        &self,
        endpoint: &RedisEndpoint,
        command: &RedisCommand,
    ) -> Result<RedisReply, RedisError> {
        let result = self.inner.execute(endpoint, command).await;
        self.metrics.record_redis_command(command, result.is_err());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::escape_label;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
