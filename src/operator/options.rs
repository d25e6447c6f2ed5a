//! The flags of `redis-operator run`, with `REDIS_OPERATOR_*` environment variables as fallbacks.
//!
//! Parsing is pure: the environment is passed in as a lookup so tests need no process
//! environment. A bad value is an error naming the flag (or variable) and what it accepts.

use std::net::SocketAddr;

/// Usage text of `redis-operator run`.
pub const RUN_USAGE: &str = "\
usage: redis-operator run [flags]

Runs the controllers of Redis, RedisReplication, RedisSentinel and RedisCluster against the
cluster of the in-cluster service account or, outside a cluster, the current kubeconfig context.

flags (each falls back to the environment variable named, then to the default):
  --namespace NAMESPACE      watch only this namespace; repeat it or give a comma-separated list
                             [REDIS_OPERATOR_NAMESPACES; default: all namespaces]
  --log-format json|text     log line format [REDIS_OPERATOR_LOG_FORMAT; default: text]
  --log-level FILTER         level or tracing filter, e.g. info or redis_operator=debug,kube=warn
                             [REDIS_OPERATOR_LOG_LEVEL; default: info]
  --metrics-address ADDRESS  where /metrics is served [REDIS_OPERATOR_METRICS_ADDRESS;
                             default: 0.0.0.0:8080]
  --health-address ADDRESS   where /healthz and /readyz are served [REDIS_OPERATOR_HEALTH_ADDRESS;
                             default: 0.0.0.0:8081]
  --leader-election          compete for a Lease so only one replica reconciles (the default)
  --no-leader-election       reconcile without a Lease (one replica only)
                             [REDIS_OPERATOR_LEADER_ELECTION=true|false]
  --lease-namespace NAMESPACE
                             namespace of the Lease [REDIS_OPERATOR_LEASE_NAMESPACE;
                             default: the service account's or kubeconfig context's namespace]
  --help                     print this text
";

/// Environment variable: namespaces to watch, comma-separated.
pub const NAMESPACES_ENV: &str = "REDIS_OPERATOR_NAMESPACES";
/// Environment variable: log format.
pub const LOG_FORMAT_ENV: &str = "REDIS_OPERATOR_LOG_FORMAT";
/// Environment variable: log level or filter.
pub const LOG_LEVEL_ENV: &str = "REDIS_OPERATOR_LOG_LEVEL";
/// Environment variable: metrics listen address.
pub const METRICS_ADDRESS_ENV: &str = "REDIS_OPERATOR_METRICS_ADDRESS";
/// Environment variable: health listen address.
pub const HEALTH_ADDRESS_ENV: &str = "REDIS_OPERATOR_HEALTH_ADDRESS";
/// Environment variable: whether to take part in leader election.
pub const LEADER_ELECTION_ENV: &str = "REDIS_OPERATOR_LEADER_ELECTION";
/// Environment variable: namespace of the Lease.
pub const LEASE_NAMESPACE_ENV: &str = "REDIS_OPERATOR_LEASE_NAMESPACE";
/// Environment variable naming this replica (set from the pod name by the Deployment).
pub const POD_NAME_ENV: &str = "POD_NAME";

/// Default metrics address.
pub const DEFAULT_METRICS_ADDRESS: &str = "0.0.0.0:8080";
/// Default health address.
pub const DEFAULT_HEALTH_ADDRESS: &str = "0.0.0.0:8081";
/// Default log filter.
pub const DEFAULT_LOG_LEVEL: &str = "info";

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Everything `run` was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter (a level or tracing directives).
    pub log_level: String,
    /// Where /metrics is served.
    pub metrics_address: SocketAddr,
    /// Where /healthz and /readyz are served.
    pub health_address: SocketAddr,
    /// Whether to compete for the leader Lease.
    pub leader_election: bool,
    /// Namespace of the Lease; `None` uses the client's default namespace.
    pub lease_namespace: Option<String>,
    /// `--help` was given: print [`RUN_USAGE`] and do nothing else.
    pub help: bool,
}

/// What a flag or variable holds before it is checked.
struct Raw {
    namespaces: Option<Vec<String>>,
    log_format: Option<(String, String)>,
    log_level: Option<(String, String)>,
    metrics_address: Option<(String, String)>,
    health_address: Option<(String, String)>,
    leader_election: Option<bool>,
    lease_namespace: Option<(String, String)>,
}

fn namespace_list(source: &str, text: &str) -> Result<Vec<String>, String> {
    let mut namespaces = Vec::new();
    for name in text
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        if !is_dns_label(name) {
            return Err(format!(
                "{source}: {name:?} is not a namespace name (lower-case letters, digits and '-', at most 63)"
            ));
        }
        namespaces.push(name.to_owned());
    }
    Ok(namespaces)
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|character| {
            character.is_ascii_lowercase() || character.is_ascii_digit() || character == '-'
        })
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl RunOptions {
    /// Parses the flags after `run`; `environment` looks variables up.
    pub fn parse(
        arguments: &[String],
        environment: &dyn Fn(&str) -> Option<String>,
    ) -> Result<RunOptions, String> {
        let mut raw = Raw {
            namespaces: None,
            log_format: None,
            log_level: None,
            metrics_address: None,
            health_address: None,
            leader_election: None,
            lease_namespace: None,
        };
        let mut help = false;
        let mut index = 0;
        while index < arguments.len() {
            let argument = &arguments[index];
            index += 1;
            let (flag, inline) = match argument.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
                _ => (argument.as_str(), None),
            };
            let takes_value = matches!(
                flag,
                "--namespace"
                    | "--log-format"
                    | "--log-level"
                    | "--metrics-address"
                    | "--health-address"
                    | "--lease-namespace"
            );
            let value = if takes_value {
                match inline {
                    Some(value) => value,
                    None => {
                        let Some(value) = arguments.get(index) else {
                            return Err(format!("{flag}: a value is required"));
                        };
                        index += 1;
                        value.clone()
                    }
                }
            } else {
                if inline.is_some() {
                    return Err(format!("{flag}: takes no value"));
                }
                String::new()
            };
            let named = |value: String| Some((flag.to_owned(), value));
            match flag {
                "--namespace" => raw
                    .namespaces
                    .get_or_insert_with(Vec::new)
                    .extend(namespace_list(flag, &value)?),
                "--log-format" => raw.log_format = named(value),
                "--log-level" => raw.log_level = named(value),
                "--metrics-address" => raw.metrics_address = named(value),
                "--health-address" => raw.health_address = named(value),
                "--lease-namespace" => raw.lease_namespace = named(value),
                "--leader-election" => raw.leader_election = Some(true),
                "--no-leader-election" => raw.leader_election = Some(false),
                "--help" | "-h" => help = true,
                other => return Err(format!("unknown flag {other:?}")),
            }
        }
        let from_environment = |name: &str| environment(name).map(|value| (name.to_owned(), value));
        let namespaces = match raw.namespaces {
            Some(namespaces) => namespaces,
            None => match environment(NAMESPACES_ENV) {
                Some(text) => namespace_list(NAMESPACES_ENV, &text)?,
                None => Vec::new(),
            },
        };
        let log_format = match raw.log_format.or_else(|| from_environment(LOG_FORMAT_ENV)) {
            None => LogFormat::Text,
            Some((_, value)) if value == "text" => LogFormat::Text,
            Some((_, value)) if value == "json" => LogFormat::Json,
            Some((source, value)) => {
                return Err(format!(
                    "{source}: {value:?} is not a log format (json or text)"
                ));
            }
        };
        let log_level = match raw.log_level.or_else(|| from_environment(LOG_LEVEL_ENV)) {
            None => DEFAULT_LOG_LEVEL.to_owned(),
            Some((source, value)) => {
                tracing_subscriber::EnvFilter::try_new(&value).map_err(|error| {
                    format!("{source}: {value:?} is not a log level or filter: {error}")
                })?;
                value
            }
        };
        let address = |given: Option<(String, String)>, variable: &str, default: &str| {
            let (source, value) = given
                .or_else(|| from_environment(variable))
                .unwrap_or_else(|| ("default".to_owned(), default.to_owned()));
            value.parse::<SocketAddr>().map_err(|error| {
                format!("{source}: {value:?} is not a listen address like 0.0.0.0:8080: {error}")
            })
        };
        let metrics_address = address(
            raw.metrics_address,
            METRICS_ADDRESS_ENV,
            DEFAULT_METRICS_ADDRESS,
        )?;
        let health_address = address(
            raw.health_address,
            HEALTH_ADDRESS_ENV,
            DEFAULT_HEALTH_ADDRESS,
        )?;
        let leader_election = match raw.leader_election {
            Some(enabled) => enabled,
            None => match environment(LEADER_ELECTION_ENV).as_deref() {
                None | Some("true") => true,
                Some("false") => false,
                Some(other) => {
                    return Err(format!(
                        "{LEADER_ELECTION_ENV}: {other:?} is not true or false"
                    ));
                }
            },
        };
        let lease_namespace = match raw
            .lease_namespace
            .or_else(|| from_environment(LEASE_NAMESPACE_ENV))
        {
            None => None,
            Some((source, value)) => {
                if !is_dns_label(&value) {
                    return Err(format!("{source}: {value:?} is not a namespace name"));
                }
                Some(value)
            }
        };
        Ok(RunOptions {
            namespaces,
            log_format,
            log_level,
            metrics_address,
            health_address,
            leader_election,
            lease_namespace,
            help,
        })
    }
}
