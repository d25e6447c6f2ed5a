//! `redis-sim bench` with no scenario: the table of numbers that say the operator is fast and
//! cheap — Time to Ready against a model of the reference schedule, time to heal after a master
//! is lost, steady-state cost per reconcile, planner scaling, slot movement against the minimum,
//! and the simulator's own throughput — printed as text and written as JSON.
//!
//! Times of the operator come from the simulated clock (the fake API server's and fake Redis'
//! state read every round), never from wall time; only the planner's CPU time and the
//! simulator's throughput are measured on the machine. It prints figures and the targets they
//! are held to; it asserts nothing, so a slow machine never fails a test.

pub mod cost;
pub mod driver;
pub mod heal;
pub mod planner;
pub mod ready;
pub mod reference;
pub mod slots;
pub mod throughput;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use redis_operator::ports::clock::Milliseconds;
use serde_json::{Value, json};

use crate::commands::bench::throughput::{BenchReport, bench};
use crate::engine::run::block_on;
use crate::engine::scenario::{
    DEFAULT_MAXIMUM_START_LATENCY_MILLISECONDS, DEFAULT_MINIMUM_START_LATENCY_MILLISECONDS,
    Scenario,
};
use crate::engine::world::WorldSettings;
use cost::{CostRow, measure_steady_state};
use heal::{HealRow, measure_time_to_heal};
use planner::{AllocationCounter, PlannerRow, measure_planner};
use ready::{ReadyRow, measure_time_to_ready};
use slots::{SlotRow, measure_slot_movement};

/// The example RedisCluster (three shards, one replica each).
pub const CLUSTER_MANIFEST: &str = include_str!("../../../../deploy/examples/redis-cluster.yaml");
/// The example RedisReplication of three, with its password Secret.
pub const REPLICATION_MANIFEST: &str =
    include_str!("../../../../deploy/examples/redis-replication.yaml");
/// The example three sentinels over it.
pub const SENTINEL_MANIFEST: &str = include_str!("../../../../deploy/examples/redis-sentinel.yaml");
/// The example standalone Redis.
pub const STANDALONE_MANIFEST: &str =
    include_str!("../../../../deploy/examples/redis-standalone.yaml");

/// Simulated time any one measurement may take before it is reported as not reached.
pub const MEASUREMENT_LIMIT_MILLISECONDS: Milliseconds = 1_800_000;

/// Why a measurement could not be made.
#[derive(Clone, Debug, thiserror::Error)]
pub enum BenchmarkError {
    /// An object could not be created or changed.
    #[error("failed to create {object}: {message}")]
    Create {
        /// The object.
        object: String,
        /// What the API server said.
        message: String,
    },
    /// A manifest could not be read.
    #[error("failed to read the example manifest: {message}")]
    Manifest {
        /// The YAML error.
        message: String,
    },
    /// A state was not reached in time.
    #[error("failed to reach {what} within {seconds} simulated seconds")]
    NotReached {
        /// The state.
        what: String,
        /// The limit.
        seconds: u64,
    },
    /// A reconcile failed where the benchmark expected it to succeed.
    #[error("failed to reconcile {object}: {message}")]
    Reconcile {
        /// The CR.
        object: String,
        /// The error.
        message: String,
    },
}

/// The documents of a YAML stream, empty ones left out.
pub fn documents(text: &str) -> Result<Vec<Value>, BenchmarkError> {
    let mut values = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value: Value =
            serde::Deserialize::deserialize(document).map_err(|error: serde_yaml_ng::Error| {
                BenchmarkError::Manifest {
                    message: error.to_string(),
                }
            })?;
        if !value.is_null() {
            values.push(value);
        }
    }
    Ok(values)
}

/// The manifests with every RedisCluster's `clusterSize` set to `shards`.
pub fn with_cluster_size(mut manifests: Vec<Value>, shards: u32) -> Vec<Value> {
    for manifest in &mut manifests {
        if manifest.get("kind").and_then(Value::as_str) == Some("RedisCluster") {
            manifest["spec"]["clusterSize"] = json!(shards);
        }
    }
    manifests
}

/// The machine the figures came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// Processors available to this process.
    pub processors: usize,
    /// The CPU model, from /proc/cpuinfo.
    pub cpu_model: String,
    /// Total memory, from /proc/meminfo.
    pub memory: String,
}

impl Machine {
    /// Reads this machine's description (fields it cannot read say "unknown").
    pub fn this() -> Machine {
        let field = |file: &str, name: &str| {
            std::fs::read_to_string(file)
                .ok()
                .and_then(|text| {
                    text.lines()
                        .find(|line| line.starts_with(name))
                        .and_then(|line| line.split_once(':'))
                        .map(|(_, value)| value.trim().to_owned())
                })
                .unwrap_or_else(|| "unknown".to_owned())
        };
        Machine {
            processors: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model: field("/proc/cpuinfo", "model name"),
            memory: field("/proc/meminfo", "MemTotal"),
        }
    }
}

/// What to measure, and how big.
#[derive(Clone, Debug)]
pub struct BenchmarkOptions {
    /// Seed of every simulated cluster.
    pub seed: u64,
    /// Pod start latencies.
    pub settings: WorldSettings,
    /// Shards of the cluster created, and the size it is scaled out to and back from.
    pub cluster_shards: (u32, u32),
    /// Reconciles averaged over for the steady-state cost.
    pub steady_reconciles: u64,
    /// Cluster sizes for the planner scaling.
    pub planner_shards: Vec<u32>,
    /// CPU seconds spent on each planner size at least.
    pub planner_cpu_seconds: f64,
    /// Resizes (from, to) for the slot movement.
    pub slot_cases: Vec<(u32, u32)>,
    /// `redis-cli --cluster rebalance` slot counts on real Redis, by (from, to).
    pub redis_cli_counts: BTreeMap<(u32, u32), u64>,
    /// The scenario the throughput is measured on, and how many seeds; none skips the row.
    pub throughput: Option<(Scenario, u64)>,
}

impl BenchmarkOptions {
    /// The full table: the simulator's default pod start latency (2–4 s), a 3-shard cluster
    /// scaled to 6 and back, planner sizes 3 to 300, five resizes; the throughput scenario is
    /// the caller's to give.
    pub fn full(throughput: Option<(Scenario, u64)>) -> BenchmarkOptions {
        BenchmarkOptions {
            seed: 0,
            settings: default_latency(),
            cluster_shards: (3, 6),
            steady_reconciles: 10,
            planner_shards: vec![3, 10, 50, 100, 300],
            planner_cpu_seconds: 0.5,
            slot_cases: vec![(3, 4), (3, 6), (6, 3), (5, 3), (10, 12)],
            redis_cli_counts: BTreeMap::new(),
            throughput,
        }
    }
}

/// The pod start latency of a scenario that sets none.
pub fn default_latency() -> WorldSettings {
    WorldSettings {
        minimum_start_latency_milliseconds: DEFAULT_MINIMUM_START_LATENCY_MILLISECONDS,
        maximum_start_latency_milliseconds: DEFAULT_MAXIMUM_START_LATENCY_MILLISECONDS,
        ..WorldSettings::default()
    }
}

/// Reads the slot counts of `redis-cli --cluster rebalance` from JSON:
/// `{"cases": [{"from": 3, "to": 4, "slots_moved": 4096}, ...]}`.
pub fn read_redis_cli_counts(text: &str) -> Result<BTreeMap<(u32, u32), u64>, String> {
    let value: Value = serde_json::from_str(text).map_err(|error| error.to_string())?;
    let cases = value
        .get("cases")
        .and_then(Value::as_array)
        .ok_or_else(|| "expected an object with a \"cases\" list".to_owned())?;
    let mut counts = BTreeMap::new();
    for (index, case) in cases.iter().enumerate() {
        let number = |field: &str| {
            case.get(field)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("cases[{index}].{field} must be a whole number"))
        };
        let from = u32::try_from(number("from")?).map_err(|error| error.to_string())?;
        let to = u32::try_from(number("to")?).map_err(|error| error.to_string())?;
        counts.insert((from, to), number("slots_moved")?);
    }
    Ok(counts)
}

/// Every figure.
#[derive(Clone, Debug)]
pub struct BenchmarkTable {
    /// Where it ran.
    pub machine: Machine,
    /// The pod start latency used, in milliseconds (minimum, maximum).
    pub pod_start: (Milliseconds, Milliseconds),
    /// Time to Ready.
    pub ready: Vec<ReadyRow>,
    /// Time to heal.
    pub heal: Vec<HealRow>,
    /// Steady-state cost.
    pub cost: Vec<Result<CostRow, String>>,
    /// Planner scaling.
    pub planner: Vec<PlannerRow>,
    /// Slot movement.
    pub slots: Vec<SlotRow>,
    /// Simulator throughput.
    pub throughput: Option<BenchReport>,
}

/// Measures everything `options` asks for.
pub fn measure(
    options: &BenchmarkOptions,
    allocations: Option<AllocationCounter>,
) -> BenchmarkTable {
    let (small, large) = options.cluster_shards;
    let settings = &options.settings;
    let seed = options.seed;
    let simulated = block_on(async {
        let ready = measure_time_to_ready(seed, settings, small, large).await;
        let heal = measure_time_to_heal(seed, settings, small).await;
        let cost = measure_steady_state(seed, settings, small, options.steady_reconciles).await;
        let mut slots = Vec::new();
        for &(from, to) in &options.slot_cases {
            let redis_cli = options.redis_cli_counts.get(&(from, to)).copied();
            slots.push(measure_slot_movement(seed, settings, from, to, redis_cli).await);
        }
        (ready, heal, cost, slots)
    });
    let (ready, heal, cost, slots) = simulated.unwrap_or_default();
    let planner = options
        .planner_shards
        .iter()
        .flat_map(|&shards| measure_planner(shards, options.planner_cpu_seconds, allocations))
        .collect();
    let throughput = options
        .throughput
        .as_ref()
        .map(|(scenario, runs)| bench(scenario, *runs));
    BenchmarkTable {
        machine: Machine::this(),
        pod_start: (
            settings.minimum_start_latency_milliseconds,
            settings.maximum_start_latency_milliseconds,
        ),
        ready,
        heal,
        cost,
        planner,
        slots,
        throughput,
    }
}

fn seconds(milliseconds: Milliseconds) -> String {
    format!("{:.1} s", milliseconds as f64 / 1000.0)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

impl BenchmarkTable {
    /// Whether every target with a figure is met.
    pub fn all_targets_met(&self) -> bool {
        self.ready.iter().all(ReadyRow::target_met)
            && self.heal.iter().all(|row| row.target_met() != Some(false))
            && self
                .cost
                .iter()
                .all(|row| row.as_ref().is_ok_and(CostRow::target_met))
            && self.slots.iter().all(SlotRow::target_met)
            && self
                .throughput
                .as_ref()
                .is_none_or(|report| report.scenarios_per_core_minute() >= 1000.0)
    }

    /// The table as text.
    pub fn text(&self) -> String {
        let mut text = String::new();
        let machine = &self.machine;
        let _ = writeln!(
            text,
            "machine: {} processors, {}, {} memory; pod start latency {}–{} (simulated)",
            machine.processors,
            machine.cpu_model,
            machine.memory,
            seconds(self.pod_start.0),
            seconds(self.pod_start.1)
        );

        self.write_ready_section(&mut text);
        self.write_heal_section(&mut text);
        self.write_cost_section(&mut text);
        self.write_planner_section(&mut text);
        self.write_slots_section(&mut text);
        self.write_throughput_section(&mut text);
        self.write_footprint_section(&mut text);
        text
    }

    /// Section 1: Time to Ready against the reference schedule.
    fn write_ready_section(&self, text: &mut String) {
        let _ = writeln!(
            text,
            "\n1. Time to Ready (simulated)          ours  reference  ratio  target"
        );
        for row in &self.ready {
            match &row.ours {
                Ok(ours) => {
                    let bound = row
                        .bound
                        .map(|bound| format!(", ≤ {}", seconds(bound)))
                        .unwrap_or_default();
                    let _ = writeln!(
                        text,
                        "   {:<32} {:>7} {:>9}  {:>5.3}  ≤ 0.5{bound}: {}",
                        row.operation,
                        seconds(*ours),
                        seconds(row.reference),
                        row.ratio().unwrap_or(f64::NAN),
                        verdict(row.target_met())
                    );
                }
                Err(error) => {
                    let _ = writeln!(
                        text,
                        "   {:<32} {error}; reference {}: MISSED",
                        row.operation,
                        seconds(row.reference)
                    );
                }
            }
        }
    }

    /// Section 2: time to heal after a master is lost.
    fn write_heal_section(&self, text: &mut String) {
        let _ = writeln!(
            text,
            "\n2. Time to heal (simulated)                     kill→promotion  promotion→healed  target"
        );
        for row in &self.heal {
            let promotion = row.promotion.map(seconds).unwrap_or_else(|| "—".to_owned());
            let healed = match &row.healed {
                Ok(healed) => seconds(*healed),
                Err(error) => error.clone(),
            };
            let target = match row.target_met() {
                Some(met) => format!("< 1 s: {}", verdict(met)),
                None => "none: Ready again (no master to publish)".to_owned(),
            };
            let _ = writeln!(
                text,
                "   {:<44} {promotion:>14}  {healed:>16}  {target}",
                row.set
            );
        }
    }

    /// Section 3: steady-state cost per reconcile.
    fn write_cost_section(&self, text: &mut String) {
        let _ = writeln!(
            text,
            "\n3. Steady-state cost per reconcile         API writes  API reads  Redis commands  Redis writes  target"
        );
        for row in &self.cost {
            match row {
                Ok(row) => {
                    let _ = writeln!(
                        text,
                        "   {:<38} {:>10.2} {:>10.2} {:>15.2} {:>13.2}  0 writes: {}",
                        row.object,
                        row.api_writes,
                        row.api_reads,
                        row.redis_commands,
                        row.redis_writes,
                        verdict(row.target_met())
                    );
                }
                Err(error) => {
                    let _ = writeln!(text, "   {error}: MISSED");
                }
            }
        }
    }

    /// Section 4: planner CPU and allocations by cluster size.
    fn write_planner_section(&self, text: &mut String) {
        let _ = writeln!(
            text,
            "\n4. Planner scaling (CPU per reconcile)  shards  lines   observe µs  plan µs  allocations  per shard: observe µs  plan µs  allocations"
        );
        for row in &self.planner {
            let shards = f64::from(row.shards.max(1));
            let allocations = row
                .allocations
                .map_or_else(|| "—".to_owned(), |count| count.to_string());
            let allocations_per_shard = row.allocations.map_or_else(
                || "—".to_owned(),
                |count| format!("{:.0}", count as f64 / shards),
            );
            let _ = writeln!(
                text,
                "   {:<35} {:>6} {:>6} {:>12.1} {:>8.1} {:>12}  {:>20.2} {:>8.2} {:>12}",
                row.situation,
                row.shards,
                row.lines_parsed,
                row.observe_microseconds,
                row.plan_microseconds,
                allocations,
                row.observe_microseconds / shards,
                row.plan_microseconds / shards,
                allocations_per_shard
            );
        }
        for row in &self.planner {
            let expected = if row.situation == "converged" {
                row.decision.starts_with("Ready")
            } else {
                row.steps > 0
            };
            if !expected {
                let _ = writeln!(
                    text,
                    "   note: the {}-shard cluster ({}) was planned as {}",
                    row.shards, row.situation, row.decision
                );
            }
        }
    }

    /// Section 5: slots moved against the minimum.
    fn write_slots_section(&self, text: &mut String) {
        let _ = writeln!(
            text,
            "\n5. Slot movement            moved  planned  minimum  ratio  redis-cli rebalance  target"
        );
        for row in &self.slots {
            let moved = match &row.moved {
                Ok(moved) => moved.to_string(),
                Err(error) => error.clone(),
            };
            let redis_cli = row
                .redis_cli
                .map_or_else(|| "not given".to_owned(), |count| count.to_string());
            let _ = writeln!(
                text,
                "   {:>2} -> {:<2} shards {:>12} {:>8} {:>8} {:>6.3}  {redis_cli:>19}  1.0: {}",
                row.from,
                row.to,
                moved,
                row.planned,
                row.minimum,
                row.ratio().unwrap_or(f64::NAN),
                verdict(row.target_met())
            );
        }
    }

    /// Section 6: the simulator's throughput.
    fn write_throughput_section(&self, text: &mut String) {
        let _ = writeln!(text, "\n6. Simulator throughput");
        match &self.throughput {
            Some(report) => {
                let _ = writeln!(
                    text,
                    "   {} x{} ({} violated an oracle): {:.1} scenarios per core-minute (target 1000: {}), {:.0} simulated s per wall s",
                    report.scenario,
                    report.runs,
                    report.failed_runs,
                    report.scenarios_per_core_minute(),
                    verdict(report.scenarios_per_core_minute() >= 1000.0),
                    report.simulated_per_wall_second()
                );
            }
            None => {
                let _ = writeln!(text, "   not measured");
            }
        }
    }

    /// Section 7: the operator's footprint.
    fn write_footprint_section(&self, text: &mut String) {
        let _ = writeln!(
            text,
            "\n7. Operator footprint: not measured (needs a real control plane)"
        );
        let _ = writeln!(
            text,
            "\nevery target met: {}",
            if self.all_targets_met() { "yes" } else { "no" }
        );
    }

    /// The table as one JSON document.
    pub fn json(&self) -> Value {
        json!({
            "machine": {
                "processors": self.machine.processors,
                "cpu_model": self.machine.cpu_model,
                "memory": self.machine.memory,
            },
            "pod_start_latency_ms": {"minimum": self.pod_start.0, "maximum": self.pod_start.1},
            "time_to_ready": self.ready.iter().map(ReadyRow::json).collect::<Vec<_>>(),
            "time_to_heal": self.heal.iter().map(HealRow::json).collect::<Vec<_>>(),
            "steady_state_cost": self.cost.iter().map(|row| match row {
                Ok(row) => row.json(),
                Err(error) => json!({"error": error, "target_met": false}),
            }).collect::<Vec<_>>(),
            "planner_scaling": self.planner.iter().map(PlannerRow::json).collect::<Vec<_>>(),
            "slot_movement": self.slots.iter().map(SlotRow::json).collect::<Vec<_>>(),
            "simulator_throughput": self.throughput.as_ref().map(|report| json!({
                "scenario": report.scenario, "runs": report.runs, "failed_runs": report.failed_runs,
                "scenarios_per_core_minute": report.scenarios_per_core_minute(),
                "simulated_seconds_per_wall_second": report.simulated_per_wall_second(),
                "target": "1000 scenarios per core-minute",
                "target_met": report.scenarios_per_core_minute() >= 1000.0,
            })),
            "operator_footprint": "not measured: needs a real control plane",
            "all_targets_met": self.all_targets_met(),
        })
    }
}
