//! The `redis-operator` command line: `run` runs the controllers, `crd` prints the CRDs,
//! `validate` checks manifests offline, `render` prints the objects a CR becomes.
//!
//! Commands return the text to print and an exit code so that tests can run them without a
//! process; only `main` touches stdout and the exit status.

use std::fmt::Write as _;

use crate::api::Kind;
use crate::api::crd::{file_name, render_all_yaml, render_yaml};
use crate::api::document::{Document, DocumentOutcome, read_documents};
use crate::operator::options::{LogFormat, RUN_USAGE, RunOptions};
use crate::resources::desired_objects;

/// What a command printed and the exit code it asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// Text for standard output.
    pub stdout: String,
    /// Text for standard error.
    pub stderr: String,
    /// Process exit code: 0 success, 1 invalid input, 2 usage error.
    pub exit_code: i32,
}

/// Usage text.
pub const USAGE: &str = "\
usage: redis-operator <command> [arguments]

commands:
  run [flags]         run the controllers against the cluster (see `redis-operator run --help`)
  crd                 print the four CustomResourceDefinitions as YAML
  crd --output-dir DIR
                      write them into DIR, one file per kind (how crds/ is regenerated)
  validate FILE...    check manifests offline against the CRD schemas and the operator's rules;
                      exits 1 if any document of our kinds is invalid
  render FILE...      print every Kubernetes object the operator would create for each CR in the
                      files, as multi-document YAML; invalid CRs get the same errors as validate
  help                print this text
";

/// Runs the command named by `arguments` (without the program name).
pub fn run(arguments: &[String]) -> CommandOutput {
    match arguments.split_first() {
        Some((command, rest)) => match command.as_str() {
            "run" => run_operator(rest),
            "crd" if rest.is_empty() => print_crds(),
            "crd" if rest.len() == 2 && rest[0] == "--output-dir" => write_crds(&rest[1]),
            "validate" if !rest.is_empty() => validate_files(rest),
            "render" if !rest.is_empty() => render_files(rest),
            "help" | "--help" | "-h" => CommandOutput {
                stdout: USAGE.to_owned(),
                ..CommandOutput::default()
            },
            _ => usage_error(&format!(
                "unknown command or wrong arguments: {}",
                arguments.join(" ")
            )),
        },
        None => usage_error("no command given"),
    }
}

/// `run [flags]`: parses the flags, sets up logging and runs the operator until it is stopped.
fn run_operator(arguments: &[String]) -> CommandOutput {
    let options = match RunOptions::parse(arguments, &|name| std::env::var(name).ok()) {
        Ok(options) => options,
        Err(message) => {
            return CommandOutput {
                stderr: format!("redis-operator run: {message}\n{RUN_USAGE}"),
                exit_code: 2,
                ..CommandOutput::default()
            };
        }
    };
    if options.help {
        return CommandOutput {
            stdout: RUN_USAGE.to_owned(),
            ..CommandOutput::default()
        };
    }
    let failed = |message: String| CommandOutput {
        stderr: format!("redis-operator run: {message}\n"),
        exit_code: 1,
        ..CommandOutput::default()
    };
    if let Err(message) = install_logging(&options) {
        return failed(message);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return failed(format!("failed to start the async runtime: {error}")),
    };
    match runtime.block_on(crate::operator::run(options)) {
        Ok(()) => CommandOutput::default(),
        Err(error) => failed(error.to_string()),
    }
}

/// Logs to standard error, as text or JSON, filtered by `--log-level`.
fn install_logging(options: &RunOptions) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(&options.log_level)
        .map_err(|error| format!("--log-level: {error}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match options.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    installed.map_err(|error| format!("failed to set up logging: {error}"))
}

fn usage_error(message: &str) -> CommandOutput {
    CommandOutput {
        stderr: format!("redis-operator: {message}\n{USAGE}"),
        exit_code: 2,
        ..CommandOutput::default()
    }
}

fn print_crds() -> CommandOutput {
    match render_all_yaml() {
        Ok(yaml) => CommandOutput {
            stdout: yaml,
            ..CommandOutput::default()
        },
        Err(error) => CommandOutput {
            stderr: format!("redis-operator crd: failed to render the CRDs: {error}\n"),
            exit_code: 1,
            ..CommandOutput::default()
        },
    }
}

fn write_crds(directory: &str) -> CommandOutput {
    let mut output = CommandOutput::default();
    for kind in Kind::ALL {
        let path = std::path::Path::new(directory).join(file_name(kind));
        let written = render_yaml(kind)
            .map_err(|error| error.to_string())
            .and_then(|yaml| std::fs::write(&path, yaml).map_err(|error| error.to_string()));
        match written {
            Ok(()) => {
                let _ = writeln!(output.stdout, "wrote {}", path.display());
            }
            Err(error) => {
                let _ = writeln!(
                    output.stderr,
                    "redis-operator crd: failed to write {}: {error}",
                    path.display()
                );
                output.exit_code = 1;
            }
        }
    }
    output
}

/// Reads every file as manifests; a file that cannot be read is reported on stderr and counted.
fn read_files(paths: &[String], output: &mut CommandOutput) -> (Vec<(String, Document)>, usize) {
    let mut documents = Vec::new();
    let mut unreadable = 0;
    for path in paths {
        match std::fs::read_to_string(path) {
            Ok(text) => documents.extend(
                read_documents(&text)
                    .into_iter()
                    .map(|document| (path.clone(), document)),
            ),
            Err(error) => {
                let _ = writeln!(output.stderr, "{path}: failed to read: {error}");
                unreadable += 1;
            }
        }
    }
    (documents, unreadable)
}

/// `render FILE...`: the objects of every valid CR as YAML on stdout; errors on stderr.
pub fn render_files(paths: &[String]) -> CommandOutput {
    let mut output = CommandOutput::default();
    let (documents, mut invalid) = read_files(paths, &mut output);
    for (path, document) in documents {
        let label = document.label();
        match document.outcome {
            DocumentOutcome::Valid(resource) => {
                let _ = writeln!(
                    output.stdout,
                    "# {path}: document {} ({label})",
                    document.index
                );
                for object in desired_objects(&resource).objects {
                    match serde_yaml_ng::to_string(&object) {
                        Ok(yaml) => {
                            output.stdout.push_str("---\n");
                            output.stdout.push_str(&yaml);
                        }
                        Err(error) => {
                            let _ = writeln!(
                                output.stderr,
                                "{path}: failed to render {label}: {error}"
                            );
                            invalid += 1;
                        }
                    }
                }
            }
            DocumentOutcome::Invalid(errors) => {
                invalid += 1;
                let _ = writeln!(
                    output.stderr,
                    "{path}: document {} ({label}): invalid",
                    document.index
                );
                for error in errors {
                    let _ = writeln!(output.stderr, "  {error}");
                }
            }
            DocumentOutcome::Skipped | DocumentOutcome::Empty => {}
        }
    }
    output.exit_code = i32::from(invalid > 0);
    output
}

/// `validate FILE...`: one line per document, indented errors under invalid ones, a summary.
pub fn validate_files(paths: &[String]) -> CommandOutput {
    let mut output = CommandOutput::default();
    let (mut valid, mut skipped) = (0, 0);
    let (documents, mut invalid) = read_files(paths, &mut output);
    for (path, document) in documents {
        let label = document.label();
        let index = document.index;
        match document.outcome {
            DocumentOutcome::Valid(_) => {
                valid += 1;
                let _ = writeln!(output.stdout, "{path}: document {index} ({label}): valid");
            }
            DocumentOutcome::Invalid(errors) => {
                invalid += 1;
                let _ = writeln!(output.stdout, "{path}: document {index} ({label}): invalid");
                for error in errors {
                    let _ = writeln!(output.stdout, "  {error}");
                }
            }
            DocumentOutcome::Skipped => {
                skipped += 1;
                let _ = writeln!(
                    output.stdout,
                    "{path}: document {index} ({label}): skipped, not a kind of this operator"
                );
            }
            DocumentOutcome::Empty => {}
        }
    }
    let _ = writeln!(
        output.stdout,
        "{valid} valid, {invalid} invalid, {skipped} skipped"
    );
    output.exit_code = i32::from(invalid > 0);
    output
}
