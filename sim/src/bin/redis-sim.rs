//! `redis-sim`: runs the operator in the deterministic simulated cluster.

use std::process::ExitCode;

use redis_operator_sim::apply::{DEFAULT_TIME_LIMIT_SECONDS, apply};

const USAGE: &str = "\
usage: redis-sim apply [--time-limit SECONDS] CR.yaml...

  apply    applies the manifests (CRs with their Secrets and ConfigMaps) to a fresh simulated
           cluster, runs the operator until every CR is Ready and nothing changes, and prints the
           timeline; exits 1 when it does not converge or an oracle is violated
";

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = arguments.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    if command != "apply" {
        eprint!("redis-sim: unknown command {command:?}\n{USAGE}");
        return ExitCode::from(2);
    }
    let mut time_limit = DEFAULT_TIME_LIMIT_SECONDS;
    let mut files = Vec::new();
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        if word == "--time-limit" {
            match words.next().and_then(|value| value.parse().ok()) {
                Some(seconds) => time_limit = seconds,
                None => {
                    eprint!("redis-sim: --time-limit needs a number of seconds\n{USAGE}");
                    return ExitCode::from(2);
                }
            }
        } else {
            files.push(word.clone());
        }
    }
    if files.is_empty() {
        eprint!("redis-sim: apply needs at least one file\n{USAGE}");
        return ExitCode::from(2);
    }
    let mut documents = Vec::new();
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(text) => documents.push((file.clone(), text)),
            Err(error) => {
                eprintln!("redis-sim: failed to read {file}: {error}");
                return ExitCode::from(1);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("redis-sim: failed to start the runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let report = runtime.block_on(apply(&documents, time_limit));
    for line in &report.lines {
        println!("{line}");
    }
    if report.success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
