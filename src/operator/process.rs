//! The `redis-operator run` process: connects to the API server, serves metrics and health,
//! takes the leader Lease when asked to, runs the controllers, and stops on SIGTERM or SIGINT
//! (finishing the reconciles in flight and handing the Lease over) or when leadership is lost.
//!
//! It must not hold reconcile logic; the Redis port is handed in so that the process does not
//! depend on how Redis is reached.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::join_all;
use kube::Client;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::caches::{CachedKubeApi, FirstSync, OWNED_WATCHES, OwnedWatches};
use super::controller::{self, OwnedChanges, Shared};
use super::health::{Health, Role};
use super::http::{self, health_page, metrics_page};
use super::leader::LeaseLock;
use super::metrics::{CountingRedis, Metrics};
use super::options::{POD_NAME_ENV, RunOptions};
use crate::adapters::RedisAdapter;
use crate::adapters::kube::KubeAdapter;
use crate::api::Kind;
use crate::ports::RedisAdmin;
use crate::ports::clock::{Clock, SystemClock};
use crate::reconcile::Context;
use crate::resources::names::LEADER_LEASE_NAME;

/// Why the process stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// No API server could be reached or configured.
    #[error("failed to configure the Kubernetes client: {0}")]
    Client(String),
    /// An endpoint could not listen.
    #[error("{0}")]
    Listen(String),
    /// Signal handlers could not be installed.
    #[error("failed to install the signal handlers: {0}")]
    Signals(String),
    /// The shared watches could not be set up.
    #[error("{0}")]
    Watch(String),
    /// This replica led and lost the Lease; it exits so it never reconciles beside the new leader.
    #[error("failed to keep the leader lease: {0}")]
    LeadershipLost(String),
}

/// Resolves on SIGTERM or SIGINT.
async fn termination() -> Result<impl std::future::Future<Output = &'static str>, ProcessError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|error| ProcessError::Signals(error.to_string()))?;
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|error| ProcessError::Signals(error.to_string()))?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        }
    })
}

/// This replica's name in the Lease and in Events: the pod name when the Deployment sets
/// `POD_NAME`, else the host name, with the process id so two local runs differ.
fn identity() -> String {
    let host = std::env::var(POD_NAME_ENV)
        .or_else(|_| std::env::var("HOSTNAME"))
        .or_else(|_| std::fs::read_to_string("/etc/hostname").map(|name| name.trim().to_owned()))
        .unwrap_or_else(|_| "redis-operator".to_owned());
    format!("{host}_{}", std::process::id())
}

/// Runs the operator until a signal (Ok) or a lost Lease (Err).
pub async fn run(options: RunOptions) -> Result<(), ProcessError> {
    let client = connect().await?;
    let identity = identity();
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::new(if options.leader_election {
        Role::Standby
    } else {
        Role::Alone
    }));
    metrics.set_leader(options.leader_election.then_some(false));
    serve_endpoints(&options, &metrics, &health).await?;
    info!(
        metrics = %options.metrics_address,
        health = %options.health_address,
        namespaces = ?options.namespaces,
        leader_election = options.leader_election,
        %identity,
        "redis-operator starting"
    );
    let mut termination = Box::pin(termination().await?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);

    let lease = leader_lease(&options, &client, &identity, &clock);
    if let Some(lease) = &lease {
        tokio::select! {
            () = lease.acquire() => {}
            signal = &mut termination => {
                info!(signal, "stopping before acquiring the leader lease");
                return Ok(());
            }
        }
        health.set_role(Role::Leader);
        metrics.set_leader(Some(true));
    }

    let namespaces = watched_namespaces(&options);
    let owned: Vec<Arc<OwnedWatches>> = namespaces
        .iter()
        .map(|namespace| Arc::new(OwnedWatches::new(*namespace)))
        .collect();
    let context = reconcile_context(&client, &identity, &owned, &metrics, clock);
    let shared = Arc::new(Shared::new(context, Arc::clone(&metrics)));
    let unsynced = Arc::new(AtomicUsize::new(
        (Kind::ALL.len() + OWNED_WATCHES) * namespaces.len(),
    ));
    let first_sync = |what: &'static str, namespace: Option<&str>| -> FirstSync {
        let report_health = Arc::clone(&health);
        let report_unsynced = Arc::clone(&unsynced);
        let watched = namespace.map(str::to_owned);
        Box::new(move || {
            debug!(what, namespace = ?watched, "watch cache synced");
            if report_unsynced.fetch_sub(1, Ordering::AcqRel) == 1 {
                info!("watch caches synced");
                report_health.set_synced();
            }
        })
    };
    let (stops, runs) = start_controllers(&client, &namespaces, &owned, &shared, &first_sync)?;
    let mut controllers = tokio::spawn(join_all(runs));
    let lost = async {
        match &lease {
            Some(lease) => lease.hold().await,
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        signal = &mut termination => {
            info!(signal, "stopping: finishing the reconciles in flight");
            Ok(())
        }
        loss = lost => {
            error!(%loss, "lost the leader lease; stopping");
            Err(ProcessError::LeadershipLost(loss.to_string()))
        }
        _ = &mut controllers => {
            warn!("the controllers stopped");
            Ok(())
        }
    };
    for stop in stops {
        let _ = stop.send(());
    }
    if outcome.is_ok() {
        finish_reconciles(controllers, lease.as_deref()).await;
    }
    outcome
}

/// Once the controllers were asked to stop: waits for the reconciles in flight, then hands the
/// Lease over.
async fn finish_reconciles(controllers: JoinHandle<Vec<()>>, lease: Option<&LeaseLock>) {
    let _ = controllers.await;
    if let Some(lease) = lease
        && let Err(error) = lease.release().await
    {
        warn!(%error, "failed to release the leader lease");
    }
}

/// One controller per kind and namespace over the namespace's shared watches, which start here
/// too: the senders that stop the controllers, and the controllers' runs.
fn start_controllers(
    client: &Client,
    namespaces: &[Option<&str>],
    owned: &[Arc<OwnedWatches>],
    shared: &Arc<Shared>,
    first_sync: &dyn Fn(&'static str, Option<&str>) -> FirstSync,
) -> Result<
    (
        Vec<oneshot::Sender<()>>,
        Vec<impl Future<Output = ()> + Send + use<>>,
    ),
    ProcessError,
> {
    let mut stops = Vec::new();
    let mut runs = Vec::new();
    for (namespace, watches) in namespaces.iter().zip(owned) {
        for kind in Kind::ALL {
            let Some(changes) = OwnedChanges::subscribe(watches) else {
                return Err(ProcessError::Watch(format!(
                    "failed to subscribe the {} controller to the shared watches",
                    kind.name()
                )));
            };
            let built = controller::build(
                client,
                kind,
                *namespace,
                changes,
                first_sync(kind.name(), *namespace),
            );
            let (stop, stopped) = oneshot::channel();
            stops.push(stop);
            runs.push(controller::run(built, kind, Arc::clone(shared), stopped));
        }
        watches.start(client, &|what| first_sync(what, *namespace));
    }
    Ok((stops, runs))
}

/// A client of the API server configured from the environment (in-cluster or kubeconfig).
async fn connect() -> Result<Client, ProcessError> {
    let mut config = kube::Config::infer()
        .await
        .map_err(|error| ProcessError::Client(error.to_string()))?;
    // A 429 is an answer the reconcile acts on (an eviction a PodDisruptionBudget refuses), not a
    // request to try again: kube-client's default retry repeats it with exponential backoff, up
    // to 15 times, so a refused eviction held the reconcile for minutes before it was seen.
    // Failed reconciles are requeued with the controller's own backoff instead.
    config.default_retry = false;
    Client::try_from(config).map_err(|error| ProcessError::Client(error.to_string()))
}

/// Binds the metrics and health endpoints and serves them in the background.
async fn serve_endpoints(
    options: &RunOptions,
    metrics: &Arc<Metrics>,
    health: &Arc<Health>,
) -> Result<(), ProcessError> {
    let metrics_listener = http::bind(options.metrics_address, "--metrics-address")
        .await
        .map_err(ProcessError::Listen)?;
    let health_listener = http::bind(options.health_address, "--health-address")
        .await
        .map_err(ProcessError::Listen)?;
    let served_metrics = Arc::clone(metrics);
    tokio::spawn(http::serve(
        metrics_listener,
        Arc::new(move |path: &str| metrics_page(&served_metrics, path)),
    ));
    let served_health = Arc::clone(health);
    tokio::spawn(http::serve(
        health_listener,
        Arc::new(move |path: &str| health_page(&served_health, path)),
    ));
    Ok(())
}

/// The leader Lease this replica competes for, when leader election is on.
fn leader_lease(
    options: &RunOptions,
    client: &Client,
    identity: &str,
    clock: &Arc<dyn Clock>,
) -> Option<Arc<LeaseLock>> {
    options.leader_election.then(|| {
        let namespace = options
            .lease_namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_owned());
        Arc::new(LeaseLock::new(
            client.clone(),
            &namespace,
            LEADER_LEASE_NAME,
            identity,
            Arc::clone(clock),
        ))
    })
}

/// The namespaces to watch; `None` alone watches every namespace.
fn watched_namespaces(options: &RunOptions) -> Vec<Option<&str>> {
    if options.namespaces.is_empty() {
        vec![None]
    } else {
        options
            .namespaces
            .iter()
            .map(|name| Some(name.as_str()))
            .collect()
    }
}

/// The ports the reconciles run against: the API through the watch caches, Redis through the
/// adapter (counted for the metrics), and the system clock.
fn reconcile_context(
    client: &Client,
    identity: &str,
    owned: &[Arc<OwnedWatches>],
    metrics: &Arc<Metrics>,
    clock: Arc<dyn Clock>,
) -> Context {
    let api = Arc::new(KubeAdapter::new(client.clone(), Some(identity.to_owned())));
    // The Redis adapter reads password and TLS Secrets through the same API client.
    let redis: Arc<dyn RedisAdmin> = Arc::new(RedisAdapter::new(api.clone()));
    Context {
        kube: Arc::new(CachedKubeApi::new(api, owned.to_vec())),
        redis: Arc::new(CountingRedis::new(redis, Arc::clone(metrics))),
        clock,
        designs: Arc::default(),
        cluster_tables: Arc::default(),
    }
}
