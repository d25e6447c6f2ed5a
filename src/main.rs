//! The `redis-operator` binary: parses the command line and prints what the command returns.

use std::io::Write as _;

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let output = redis_operator::cli::run(&arguments);
    let _ = std::io::stdout().write_all(output.stdout.as_bytes());
    let _ = std::io::stderr().write_all(output.stderr.as_bytes());
    std::process::exit(output.exit_code);
}
