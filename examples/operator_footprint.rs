//! Measures the operator process's footprint on a real Kubernetes control plane: its resident
//! memory (`VmRSS` of `/proc/PID/status`) and CPU time (`utime + stime` of `/proc/PID/stat`),
//! idle with no custom resource, while it takes in 100 CRs of the four kinds at once, and while
//! it keeps reconciling them.
//!
//! The 100 CRs: the four examples of `deploy/examples/` (13 pods run as real servers by the
//! stand-in kubelet, which may reach Ready), and 24 of each kind more whose pods can never be
//! scheduled (a node selector no node matches), so they stay in progress and the operator keeps
//! looking at them, as with a cluster short of room. It prints a table of the figures and the
//! same as one JSON line.
//!
//! `cargo build --release --bin redis-operator && cargo run --release --example operator_footprint`
//! (`REDIS_OPERATOR_BINARY=PATH` measures another build). Needs the control plane that
//! `scripts/build-control-plane` builds and redis-server (Debian packages redis-server,
//! redis-tools); fails naming them when missing. Takes about three minutes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring program, not the operator

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::end_to_end::{
    Cluster, NAMESPACE, api_for, apply, documents, ready_condition, workspace_root,
};

/// How long the idle operator is watched.
const IDLE_PERIOD: Duration = Duration::from_secs(30);
/// The longest the intake phase lasts: until every CR is reconciled once, or this.
const INTAKE_LIMIT: Duration = Duration::from_secs(120);
/// How long the operator is watched reconciling the 100 CRs once it has taken them in.
const STEADY_PERIOD: Duration = Duration::from_secs(60);
/// How often memory is sampled.
const SAMPLE_PERIOD: Duration = Duration::from_millis(500);
/// CRs of each kind beside the examples.
const UNSCHEDULABLE_PER_KIND: usize = 24;
/// The node label the unschedulable CRs select on, which no node carries.
const UNSCHEDULABLE_SELECTOR: &str = "redis-operator-footprint/no-such-node";

/// The operator binary: `REDIS_OPERATOR_BINARY`, else `redis-operator` beside this example's
/// directory (`target/<profile>/`).
fn operator_binary() -> PathBuf {
    if let Some(binary) = std::env::var_os("REDIS_OPERATOR_BINARY") {
        return PathBuf::from(binary);
    }
    let example = std::env::current_exe().unwrap();
    let binary = example
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("redis-operator");
    assert!(
        binary.is_file(),
        "{} is missing: build it first with `cargo build --release --bin redis-operator` (or set REDIS_OPERATOR_BINARY)",
        binary.display()
    );
    binary
}

/// Resident memory of a process, in KiB.
fn resident_kibibytes(process_id: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{process_id}/status"))
        .unwrap_or_else(|error| panic!("failed to read /proc/{process_id}/status: {error}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{process_id}/status"))
}

/// User plus system CPU time of a process so far.
fn cpu_time(process_id: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{process_id}/stat"))
        .unwrap_or_else(|error| panic!("failed to read /proc/{process_id}/stat: {error}"));
    // Fields after the command name (which may hold spaces) start at field 3, `state`; utime and
    // stime are fields 14 and 15.
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = clock_ticks_per_second();
    Duration::from_millis(ticks * 1000 / per_second)
}

fn clock_ticks_per_second() -> u64 {
    let output = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("failed to run getconf CLK_TCK");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("getconf CLK_TCK printed no number")
}

/// What one phase measured.
struct Phase {
    name: &'static str,
    wall: Duration,
    cpu: Duration,
    resident_end: u64,
    resident_peak: u64,
}

impl Phase {
    fn cpu_percent(&self) -> f64 {
        100.0 * self.cpu.as_secs_f64() / self.wall.as_secs_f64()
    }
}

/// Samples memory every [`SAMPLE_PERIOD`] until `done` says so or `limit` passes; returns the
/// phase's figures and whether `done` was reached.
async fn measure<F, Fut>(
    name: &'static str,
    process_id: u32,
    limit: Duration,
    mut done: F,
) -> (Phase, bool)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    let cpu_before = cpu_time(process_id);
    let mut peak = resident_kibibytes(process_id);
    let mut reached = false;
    while started.elapsed() < limit {
        tokio::time::sleep(SAMPLE_PERIOD).await;
        peak = peak.max(resident_kibibytes(process_id));
        if done().await {
            reached = true;
            break;
        }
    }
    let phase = Phase {
        name,
        wall: started.elapsed(),
        cpu: cpu_time(process_id).saturating_sub(cpu_before),
        resident_end: resident_kibibytes(process_id),
        resident_peak: peak,
    };
    (phase, reached)
}

/// The 96 CRs whose pods are never scheduled: copies of the examples under other names.
fn unschedulable_resources() -> Vec<Value> {
    let mut resources = Vec::new();
    for file in [
        "redis-standalone.yaml",
        "redis-replication.yaml",
        "redis-sentinel.yaml",
        "redis-cluster.yaml",
    ] {
        let template = documents(&workspace_root().join("deploy/examples").join(file))
            .into_iter()
            .find(|document| document["kind"] != "Secret")
            .unwrap();
        for index in 0..UNSCHEDULABLE_PER_KIND {
            let mut resource = template.clone();
            let kind = template["kind"].as_str().unwrap().to_lowercase();
            resource["metadata"]["name"] = json!(format!("footprint-{kind}-{index:02}"));
            let selector = json!({UNSCHEDULABLE_SELECTOR: "true"});
            if kind == "rediscluster" {
                // A cluster's pods are placed per group.
                resource["spec"]["redisLeader"]["nodeSelector"] = selector.clone();
                resource["spec"]["redisFollower"]["nodeSelector"] = selector;
            } else {
                resource["spec"]["nodeSelector"] = selector;
            }
            if kind == "redissentinel" {
                resource["spec"]["redisSentinelConfig"]["redisReplicationName"] =
                    json!(format!("footprint-redisreplication-{index:02}"));
            }
            resources.push(resource);
        }
    }
    resources
}

/// How many of `resources` the operator has reconciled (their status names their generation),
/// and how many of those are Ready.
async fn reconciled_and_ready(cluster: &Cluster, resources: &[Value]) -> (usize, usize) {
    let (mut reconciled, mut ready) = (0, 0);
    for document in resources {
        let api = api_for(&cluster.client, &cluster.discovery, document, NAMESPACE);
        let Ok(live) = api
            .get(document["metadata"]["name"].as_str().unwrap())
            .await
        else {
            continue;
        };
        let observed = live
            .data
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64);
        if observed.is_some() && observed == live.metadata.generation {
            reconciled += 1;
            if ready_condition(&live).is_some_and(|(status, _)| status == "True") {
                ready += 1;
            }
        }
    }
    (reconciled, ready)
}

#[tokio::main]
async fn main() {
    let binary = operator_binary();
    let mut cluster = Cluster::start(&binary).await;
    let process_id = cluster.operator.process_id();
    let ready = Instant::now();
    while !cluster
        .operator
        .health("/readyz")
        .starts_with("HTTP/1.1 200")
    {
        cluster.operator.assert_running();
        assert!(
            ready.elapsed() < Duration::from_secs(60),
            "the operator is not ready 60 s after it started:\n{}",
            cluster.operator.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (idle, _) = measure("idle, no CR", process_id, IDLE_PERIOD, || async { false }).await;

    let mut examples = Vec::new();
    for file in [
        "redis-standalone.yaml",
        "redis-replication.yaml",
        "redis-sentinel.yaml",
        "redis-cluster.yaml",
    ] {
        examples.extend(cluster.apply_example(file).await);
    }
    let mut resources = examples.clone();
    for resource in unschedulable_resources() {
        apply(
            &cluster.client,
            &cluster.discovery,
            &resource,
            NAMESPACE,
            false,
        )
        .await
        .unwrap_or_else(|error| {
            panic!("failed to create {}: {error}", resource["metadata"]["name"])
        });
        resources.push(resource);
    }
    assert_eq!(resources.len(), 100);
    let (intake, _) = measure("taking in 100 CRs", process_id, INTAKE_LIMIT, || async {
        reconciled_and_ready(&cluster, &resources).await.0 == resources.len()
    })
    .await;
    cluster.operator.assert_running();
    let (reconciled, ready) = reconciled_and_ready(&cluster, &resources).await;
    println!(
        "{reconciled} of {} CRs reconciled for their generation {:.1} s after they were created, {ready} of them Ready (the examples' {} can be)",
        resources.len(),
        intake.wall.as_secs_f64(),
        examples.len()
    );

    let (steady, _) = measure("reconciling 100 CRs", process_id, STEADY_PERIOD, || async {
        false
    })
    .await;
    cluster.operator.assert_running();

    println!(
        "operator footprint ({}), process {process_id}",
        binary.display()
    );
    println!(
        "{:<22} {:>9} {:>9} {:>7} {:>13} {:>14}",
        "phase", "wall s", "CPU s", "CPU %", "RSS end MiB", "RSS peak MiB"
    );
    let mebibytes = |kibibytes: u64| kibibytes as f64 / 1024.0;
    let mut json_phases = Vec::new();
    for phase in [&idle, &intake, &steady] {
        println!(
            "{:<22} {:>9.1} {:>9.2} {:>7.1} {:>13.1} {:>14.1}",
            phase.name,
            phase.wall.as_secs_f64(),
            phase.cpu.as_secs_f64(),
            phase.cpu_percent(),
            mebibytes(phase.resident_end),
            mebibytes(phase.resident_peak)
        );
        json_phases.push(json!({
            "phase": phase.name,
            "wall_seconds": phase.wall.as_secs_f64(),
            "cpu_seconds": phase.cpu.as_secs_f64(),
            "resident_end_kib": phase.resident_end,
            "resident_peak_kib": phase.resident_peak,
        }));
    }
    println!("{}", json!({"operator_footprint": json_phases}));
}
