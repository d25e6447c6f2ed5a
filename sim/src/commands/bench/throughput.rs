//! `redis-sim bench`: how fast the simulator plays a scenario — scenarios per core-minute and
//! simulated seconds per wall second — measured over several seeds. Prints figures; it asserts
//! nothing, so a slow machine never fails a test.

use std::time::Instant;

use serde_json::json;

use crate::engine::run::{block_on, run};
use crate::engine::scenario::Scenario;

/// Figures of one benchmark.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchReport {
    /// The scenario's name.
    pub scenario: String,
    /// Runs made (one per seed).
    pub runs: u64,
    /// Runs in which an oracle failed.
    pub failed_runs: u64,
    /// Wall-clock seconds for all runs.
    pub wall_seconds: f64,
    /// CPU seconds the process spent on them (user and system).
    pub cpu_seconds: f64,
    /// Simulated seconds over all runs.
    pub simulated_seconds: f64,
}

impl BenchReport {
    /// Scenarios played per minute of one core's CPU time.
    pub fn scenarios_per_core_minute(&self) -> f64 {
        if self.cpu_seconds > 0.0 {
            self.runs as f64 * 60.0 / self.cpu_seconds
        } else {
            0.0
        }
    }

    /// Simulated seconds per wall-clock second.
    pub fn simulated_per_wall_second(&self) -> f64 {
        if self.wall_seconds > 0.0 {
            self.simulated_seconds / self.wall_seconds
        } else {
            0.0
        }
    }

    /// A readable table.
    pub fn text(&self) -> String {
        format!(
            "scenario                      {}\n\
             runs (seeds)                  {}\n\
             runs violating an oracle      {}\n\
             simulated time per run        {:.0} s\n\
             wall time                     {:.2} s\n\
             CPU time                      {:.2} s\n\
             scenarios per core-minute     {:.1} (target 1000)\n\
             simulated s per wall s        {:.0}\n",
            self.scenario,
            self.runs,
            self.failed_runs,
            self.simulated_seconds / self.runs.max(1) as f64,
            self.wall_seconds,
            self.cpu_seconds,
            self.scenarios_per_core_minute(),
            self.simulated_per_wall_second()
        )
    }

    /// The figures as one JSON object.
    pub fn json(&self) -> String {
        json!({
            "scenario": self.scenario, "runs": self.runs, "failed_runs": self.failed_runs,
            "wall_seconds": self.wall_seconds, "cpu_seconds": self.cpu_seconds,
            "simulated_seconds": self.simulated_seconds,
            "scenarios_per_core_minute": self.scenarios_per_core_minute(),
            "simulated_seconds_per_wall_second": self.simulated_per_wall_second(),
        })
        .to_string()
    }
}

/// CPU seconds this process has used, from /proc/self/stat (user + system clock ticks); `None`
/// where that file is not available.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports in USER_HZ, which is 100 on every architecture it supports.
    Some((user + system) / 100.0)
}

/// Plays `scenario` under seeds `0..runs`, one after the other on this thread.
pub fn bench(scenario: &Scenario, runs: u64) -> BenchReport {
    let started = Instant::now();
    let cpu_before = process_cpu_seconds();
    let mut failed_runs = 0;
    let mut simulated = 0.0;
    for seed in 0..runs {
        match block_on(run(scenario, seed)) {
            Some(report) => {
                simulated += report.simulated as f64 / 1000.0;
                if !report.success() {
                    failed_runs += 1;
                }
            }
            None => failed_runs += 1,
        }
    }
    let wall_seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = match (cpu_before, process_cpu_seconds()) {
        (Some(before), Some(after)) if after > before => after - before,
        _ => wall_seconds,
    };
    BenchReport {
        scenario: scenario.name.clone(),
        runs,
        failed_runs,
        wall_seconds,
        cpu_seconds,
        simulated_seconds: simulated,
    }
}
