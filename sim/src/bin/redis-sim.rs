//! `redis-sim`: runs the operator in the deterministic simulated cluster.

use std::path::Path;
use std::process::ExitCode;

use redis_operator_sim::commands::apply::{DEFAULT_TIME_LIMIT_SECONDS, apply};
use redis_operator_sim::commands::bench::throughput::bench;
use redis_operator_sim::commands::bench::{BenchmarkOptions, measure, read_redis_cli_counts};
use redis_operator_sim::commands::explore::explore;
use redis_operator_sim::engine::run::{block_on, run};
use redis_operator_sim::engine::scenario::Scenario;

const USAGE: &str = "\
usage: redis-sim apply [--time-limit SECONDS] CR.yaml...
       redis-sim run SCENARIO.yaml [--seed N] [--json]
       redis-sim explore SCENARIO.yaml [--seeds N] [--first-seed N]
       redis-sim bench [--runs N] [--json [FILE.json]] [--redis-cli-counts FILE.json]
       redis-sim bench SCENARIO.yaml [--runs N] [--json]

  apply    applies the manifests (CRs with their Secrets and ConfigMaps) to a fresh simulated
           cluster, runs the operator until every CR is Ready and nothing changes, and prints the
           timeline; exits 1 when it does not converge or an oracle is violated
  run      plays a scenario (docs/scenarios.md) from a seed (default 0) and prints its timeline
           and summary (JSON lines with --json); exits 1 on any oracle violation
  explore  plays a scenario under N seeds (default 100) and prints the seeds that violate an
           oracle, to replay with `run --seed`; exits 1 when any does
  bench    without a scenario: measures the whole benchmark table (BENCHMARKS.md) — Time to
           Ready against the reference schedule, time to heal, steady-state cost, planner
           scaling, slot movement, and the simulator's throughput on
           sim/scenarios/cluster-lifecycle.yaml under N seeds (default 20) — and prints it;
           --json prints it as JSON instead, --json FILE.json also writes the JSON there;
           --redis-cli-counts reads the slots `redis-cli --cluster rebalance` moved on real
           Redis (JSON: a cases list of from, to and slots_moved); a missed target
           is printed, not an error
           with a scenario: plays it under N seeds (default 20) and prints scenarios per
           core-minute and simulated seconds per wall second
";

/// The lifecycle scenario the benchmark plays by default (relative to the repository root).
const DEFAULT_BENCH_SCENARIO: &str = "sim/scenarios/cluster-lifecycle.yaml";

/// mimalloc, able to count each thread's allocations for the planner benchmark; only this
/// binary replaces the allocator. The main thread runs with counting off (see `main`): counting
/// every allocation of a whole run cost a twentieth of its time.
#[global_allocator]
static ALLOCATOR: alloc_counter::AllocCounter<mimalloc::MiMalloc> =
    alloc_counter::AllocCounter(mimalloc::MiMalloc);

/// Allocations (and reallocations) `work` makes, counted on a thread of its own: a new thread
/// counts, the main thread does not.
fn allocations_during(work: &mut (dyn FnMut() + Send)) -> u64 {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let ((allocations, reallocations, _), ()) = alloc_counter::count_alloc(work);
                u64::try_from(allocations + reallocations).unwrap_or(u64::MAX)
            })
            .join()
            .unwrap_or(u64::MAX)
    })
}

fn usage_error(message: &str) -> ExitCode {
    eprint!("redis-sim: {message}\n{USAGE}");
    ExitCode::from(2)
}

fn number(words: &mut std::slice::Iter<'_, String>, flag: &str) -> Result<u64, ExitCode> {
    words
        .next()
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| usage_error(&format!("{flag} needs a whole number")))
}

fn read_scenario(path: &str) -> Result<Scenario, ExitCode> {
    Scenario::read(Path::new(path)).map_err(|error| {
        eprintln!("redis-sim: {error}");
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    alloc_counter::allow_alloc(run_command_line)
}

fn run_command_line() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = arguments.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let outcome = match command.as_str() {
        "apply" => apply_command(rest),
        "run" => run_command(rest),
        "explore" => explore_command(rest),
        "bench" => bench_command(rest),
        "--help" | "-h" | "help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(usage_error(&format!("unknown command {other:?}"))),
    };
    outcome.unwrap_or_else(|code| code)
}

fn apply_command(rest: &[String]) -> Result<ExitCode, ExitCode> {
    let mut time_limit = DEFAULT_TIME_LIMIT_SECONDS;
    let mut files = Vec::new();
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        if word == "--time-limit" {
            time_limit = number(&mut words, "--time-limit")?;
        } else if word.starts_with("--") {
            return Err(usage_error(&format!("apply: unknown flag {word:?}")));
        } else {
            files.push(word.clone());
        }
    }
    if files.is_empty() {
        return Err(usage_error("apply needs at least one file"));
    }
    let mut documents = Vec::new();
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(text) => documents.push((file.clone(), text)),
            Err(error) => {
                eprintln!("redis-sim: failed to read {file}: {error}");
                return Err(ExitCode::from(1));
            }
        }
    }
    let Some(report) = block_on(apply(&documents, time_limit)) else {
        eprintln!("redis-sim: failed to start the runtime");
        return Err(ExitCode::from(1));
    };
    for line in &report.lines {
        println!("{line}");
    }
    Ok(if report.success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_command(rest: &[String]) -> Result<ExitCode, ExitCode> {
    let mut seed = 0;
    let mut json = false;
    let mut file = None;
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--seed" => seed = number(&mut words, "--seed")?,
            "--json" => json = true,
            flag if flag.starts_with("--") => {
                return Err(usage_error(&format!("run: unknown flag {flag:?}")));
            }
            path if file.is_none() => file = Some(path.to_owned()),
            extra => {
                return Err(usage_error(&format!(
                    "run takes one scenario, got also {extra:?}"
                )));
            }
        }
    }
    let Some(file) = file else {
        return Err(usage_error("run needs a scenario file"));
    };
    let scenario = read_scenario(&file)?;
    let Some(report) = block_on(run(&scenario, seed)) else {
        eprintln!("redis-sim: failed to start the runtime");
        return Err(ExitCode::from(1));
    };
    if json {
        print!("{}", report.json_lines());
    } else {
        print!("{}", report.text());
    }
    Ok(if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn explore_command(rest: &[String]) -> Result<ExitCode, ExitCode> {
    let mut seeds = 100;
    let mut first = 0;
    let mut file = None;
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--seeds" => seeds = number(&mut words, "--seeds")?,
            "--first-seed" => first = number(&mut words, "--first-seed")?,
            flag if flag.starts_with("--") => {
                return Err(usage_error(&format!("explore: unknown flag {flag:?}")));
            }
            path if file.is_none() => file = Some(path.to_owned()),
            extra => {
                return Err(usage_error(&format!(
                    "explore takes one scenario, got also {extra:?}"
                )));
            }
        }
    }
    let Some(file) = file else {
        return Err(usage_error("explore needs a scenario file"));
    };
    let scenario = read_scenario(&file)?;
    let started = std::time::Instant::now();
    let (failed, ran) = explore(&scenario, first..first.saturating_add(seeds));
    let elapsed = started.elapsed().as_secs_f64();
    for report in &failed {
        for failure in &report.failures {
            println!(
                "seed {}: step {} at {} ms: {}: {}",
                report.seed,
                failure.step,
                failure.time,
                failure.violation.oracle,
                failure.violation.message
            );
        }
        println!("  replay: redis-sim run {file} --seed {}", report.seed);
    }
    println!(
        "{}: {ran} seeds from {first}, {} violated an oracle, {elapsed:.1} s wall",
        scenario.name,
        failed.len()
    );
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn bench_command(rest: &[String]) -> Result<ExitCode, ExitCode> {
    let mut runs = 20;
    let mut json = false;
    let mut json_file = None;
    let mut redis_cli_file = None;
    let mut file = None;
    let mut words = rest.iter().peekable();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--runs" => {
                runs = words
                    .next()
                    .and_then(|value| value.parse().ok())
                    .ok_or_else(|| usage_error("--runs needs a whole number"))?;
            }
            "--json" => {
                json = true;
                if let Some(path) = words.next_if(|next| next.ends_with(".json")) {
                    json_file = Some(path.clone());
                }
            }
            "--redis-cli-counts" => {
                let Some(path) = words.next() else {
                    return Err(usage_error("--redis-cli-counts needs a file"));
                };
                redis_cli_file = Some(path.clone());
            }
            flag if flag.starts_with("--") => {
                return Err(usage_error(&format!("bench: unknown flag {flag:?}")));
            }
            path if file.is_none() => file = Some(path.to_owned()),
            extra => {
                return Err(usage_error(&format!(
                    "bench takes one scenario, got also {extra:?}"
                )));
            }
        }
    }
    if runs == 0 {
        return Err(usage_error("--runs must be at least 1"));
    }
    let Some(file) = file else {
        return table_command(runs, json, json_file, redis_cli_file);
    };
    if json_file.is_some() || redis_cli_file.is_some() {
        return Err(usage_error(
            "bench SCENARIO takes --runs and --json only; FILE.json and --redis-cli-counts are for the table",
        ));
    }
    let scenario = read_scenario(&file)?;
    let report = bench(&scenario, runs);
    if json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    Ok(if report.failed_runs == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The whole benchmark table.
fn table_command(
    runs: u64,
    json: bool,
    json_file: Option<String>,
    redis_cli_file: Option<String>,
) -> Result<ExitCode, ExitCode> {
    let scenario = read_scenario(DEFAULT_BENCH_SCENARIO)?;
    let mut options = BenchmarkOptions::full(Some((scenario, runs)));
    if let Some(path) = redis_cli_file {
        let counts = std::fs::read_to_string(&path)
            .map_err(|error| error.to_string())
            .and_then(|text| read_redis_cli_counts(&text));
        match counts {
            Ok(counts) => options.redis_cli_counts = counts,
            Err(error) => {
                eprintln!("redis-sim: failed to read {path}: {error}");
                return Err(ExitCode::from(1));
            }
        }
    }
    let table = measure(&options, Some(allocations_during));
    let document = format!("{:#}\n", table.json());
    if let Some(path) = &json_file
        && let Err(error) = std::fs::write(path, &document)
    {
        eprintln!("redis-sim: failed to write {path}: {error}");
        return Err(ExitCode::from(1));
    }
    if json && json_file.is_none() {
        print!("{document}");
    } else {
        print!("{}", table.text());
    }
    Ok(ExitCode::SUCCESS)
}
