//! A Kubernetes REST facade over [`FakeApiServer`], served over plain HTTP/1.1 on a loopback
//! port, so that the real `redis-operator run` process (kube's client, kube-runtime's watchers and
//! controllers, the leader Lease) can run against the fake API server.
//!
//! It translates requests into calls of the fake's own methods (its `KubeApi` implementation,
//! `create`, `update`) and adds only what the fake does not keep: a change log for watches
//! (filled by diffing the fake's objects whenever its resourceVersion moves), and a small store
//! for the types the fake does not know (`coordination.k8s.io/v1` Leases and Events of both API
//! groups; Events are also handed to the fake as `EventRecord`s). It must not hold object
//! semantics of its own beyond that: resourceVersion, generation, apply, status, ownership and
//! garbage collection stay in the fake.
//!
//! Scope: the requests the operator and kube-runtime send. Set-based label selectors, field
//! selectors, pagination, JSON patches other than the finalizer removal, and field managers other
//! than the operator's are refused with an error rather than served wrongly.
//!
//! The parts: `protocol` (HTTP/1.1 requests and replies), `routes` (what a path and query
//! name), `handlers` (each request as a call of the fake), `watches` (streamed changes). This
//! file holds the server, its change log and its own store.

use redis_operator::json_pointer::JsonPointer;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis_operator::ports::clock::SystemClock;
use redis_operator::ports::kube::{ObjectRef, ResourceType};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::fakes::api_server::FakeApiServer;

mod handlers;
mod protocol;
mod routes;
mod watches;

use protocol::serve_connection;

/// How often the change log looks for changes in the fake.
const CHANGE_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How often a watch looks for new entries in the change log.
const WATCH_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How often a watch that asked for bookmarks gets one (also how soon a dropped watch is noticed).
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);
/// The largest request head or body accepted.
const MAXIMUM_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// One change the change log recorded.
#[derive(Clone, Debug)]
struct Change {
    /// ADDED, MODIFIED or DELETED.
    event_type: &'static str,
    /// The resourceVersion of the change.
    version: u64,
    reference: ObjectRef,
    object: Value,
}

#[derive(Default)]
struct ChangeLog {
    /// The fake's objects as last seen.
    seen: BTreeMap<ObjectRef, Value>,
    /// Every change so far, in the order seen.
    changes: Vec<Change>,
    /// Every change up to this resourceVersion is in `changes`.
    logged_through: u64,
}

/// What the facade keeps besides the fake: objects of types the fake does not know.
#[derive(Default)]
struct ExtraStore {
    /// Keyed by (API group/version, plural, namespace, name).
    objects: BTreeMap<(String, String, String, String), Value>,
    next_version: u64,
    next_uid: u64,
}

struct Shared {
    api: FakeApiServer,
    clock: SystemClock,
    log: Mutex<ChangeLog>,
    extra: Mutex<ExtraStore>,
    requests: Mutex<Vec<String>>,
    stopping: watch::Receiver<bool>,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, ChangeLog> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn extra(&self) -> MutexGuard<'_, ExtraStore> {
        self.extra
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The facade, listening until dropped or stopped.
pub struct HttpApiServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl HttpApiServer {
    /// Serves `api` on a free port of 127.0.0.1.
    pub async fn start(api: FakeApiServer) -> std::io::Result<HttpApiServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopping) = watch::channel(false);
        let shared = Arc::new(Shared {
            api,
            clock: SystemClock,
            log: Mutex::new(ChangeLog::default()),
            extra: Mutex::new(ExtraStore::default()),
            requests: Mutex::new(Vec::new()),
            stopping,
        });
        record_changes(&shared);
        tokio::spawn(poll_changes(Arc::clone(&shared)));
        tokio::spawn(accept(listener, Arc::clone(&shared)));
        Ok(HttpApiServer {
            address,
            shared,
            stop,
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its base URL, for a kubeconfig.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A stored object of a type the fake does not keep (Leases, Events), by API group/version
    /// (`coordination.k8s.io/v1`), plural, namespace and name.
    pub fn extra_object(
        &self,
        group_version: &str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        self.shared
            .extra()
            .objects
            .get(&(
                group_version.to_owned(),
                plural.to_owned(),
                namespace.to_owned(),
                name.to_owned(),
            ))
            .cloned()
    }

    /// Every request served so far, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Stops accepting connections and ends every watch.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for HttpApiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Every object the fake stores, by reference.
fn all_objects(api: &FakeApiServer) -> BTreeMap<ObjectRef, Value> {
    ResourceType::ALL
        .into_iter()
        .flat_map(|resource| api.objects(resource))
        .map(Arc::unwrap_or_clone)
        .filter_map(|object| ObjectRef::of(&object).map(|reference| (reference, object)))
        .collect()
}

fn resource_version(object: &Value) -> u64 {
    object
        .at("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}

/// Diffs the fake's objects against the last look and logs what changed.
fn record_changes(shared: &Shared) {
    // Read the version first: every change up to it is then in the objects read below.
    let version = shared.api.version();
    if shared.log().logged_through == version && version != 0 {
        return;
    }
    let now = all_objects(&shared.api);
    let mut log = shared.log();
    let mut changes = Vec::new();
    for (reference, object) in &now {
        match log.seen.get(reference) {
            None => changes.push(Change {
                event_type: "ADDED",
                version: resource_version(object),
                reference: reference.clone(),
                object: object.clone(),
            }),
            Some(previous) if previous != object => changes.push(Change {
                event_type: "MODIFIED",
                version: resource_version(object),
                reference: reference.clone(),
                object: object.clone(),
            }),
            Some(_) => {}
        }
    }
    // The fake does not say when an object went; the version read above is no earlier.
    let deletion_version = shared.api.version().max(version);
    for (reference, object) in &log.seen {
        if !now.contains_key(reference) {
            let mut object = object.clone();
            object["metadata"]["resourceVersion"] = Value::from(deletion_version.to_string());
            changes.push(Change {
                event_type: "DELETED",
                version: deletion_version,
                reference: reference.clone(),
                object,
            });
        }
    }
    log.changes.extend(changes);
    log.seen = now;
    log.logged_through = version;
}

async fn poll_changes(shared: Arc<Shared>) {
    let mut stopping = shared.stopping.clone();
    loop {
        record_changes(&shared);
        tokio::select! {
            () = tokio::time::sleep(CHANGE_POLL_INTERVAL) => {}
            _ = stopping.changed() => return,
        }
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut stopping = shared.stopping.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
                }
            }
            _ = stopping.changed() => return,
        }
    }
}
