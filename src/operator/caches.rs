//! Watch caches of the objects the operator owns, shared by the controllers of every kind, and the
//! `KubeApi` that serves reads from them.
//!
//! One watch per owned type (StatefulSets, Services, ConfigMaps, PodDisruptionBudgets, pods) and
//! watched namespace, filtered by the managed-by label (pods: by the setup-type label), feeds a reflector whose changes every
//! controller subscribes to (a change to an owned object triggers its CR's reconcile), and whose
//! store answers the reconcile's `list` and `get` of those types once it has synced. Everything
//! else — the CRs themselves (their spec must be the newest), claims, Secrets, every write —
//! goes to the API server.
//!
//! A read from a cache can lag the API server; the reconcile is built for that (it compares what
//! it reads with what it wants and applies the difference, which is idempotent). This module must
//! not decide anything about reconciles.

use crate::json_pointer::JsonPointer;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::Api;
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{ObjectRef as RuntimeObjectRef, ReflectHandle, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::debug;

use crate::ports::kube::{ApiError, EventRecord, KubeApi, ObjectRef, Propagation, ResourceType};
use crate::resources::names::{MANAGED_BY_LABEL, MANAGED_BY_LABEL_VALUE, SETUP_TYPE_LABEL};

/// How long a read of an owned type waits for its watch's first list before it asks the API
/// server instead (a watch that cannot list, e.g. for lack of permission, must not stall
/// reconciles for good).
pub const FIRST_LIST_WAIT: Duration = Duration::from_secs(10);
/// How often a waiting read looks again.
const FIRST_LIST_POLL: Duration = Duration::from_millis(20);
/// Changes a shared watch holds for its slowest subscriber before it waits for it.
const SUBSCRIBER_BUFFER: usize = 1024;

/// The types whose reads the watch caches answer; every other read goes to the API server.
pub const CACHED_TYPES: [ResourceType; 5] = [
    ResourceType::StatefulSet,
    ResourceType::Service,
    ResourceType::ConfigMap,
    ResourceType::PodDisruptionBudget,
    ResourceType::Pod,
];

/// Called once, when a watch cache has had its first complete list.
pub type FirstSync = Box<dyn FnOnce() + Send>;

/// Which objects a shared watch holds, and so which lists its cache can answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Objects with the managed-by label: lists that ask for it.
    Managed,
    /// Pods with a setup-type label, the operator's and those of StatefulSets it is taking over
    /// (which may lack the managed-by label until they roll): lists that ask for a setup type.
    SetUp,
}

impl Scope {
    fn selector(self) -> String {
        match self {
            Scope::Managed => format!("{MANAGED_BY_LABEL}={MANAGED_BY_LABEL_VALUE}"),
            Scope::SetUp => SETUP_TYPE_LABEL.to_owned(),
        }
    }

    /// Whether every object a list with `labels` asks for is within this scope.
    fn answers(self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Scope::Managed => {
                labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY_LABEL_VALUE)
            }
            Scope::SetUp => labels.contains_key(SETUP_TYPE_LABEL),
        }
    }
}

/// One shared watch of `K` in a namespace (all when `None`): its store, whether it has synced, and
/// the writer until the watch is started.
pub struct SharedWatch<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    writer: Mutex<Option<Writer<K>>>,
    reader: Store<K>,
    scope: Scope,
    synced: Arc<AtomicBool>,
}

impl<K> SharedWatch<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned
        + Serialize
        + Send
        + Sync
        + 'static,
{
    fn new(scope: Scope) -> SharedWatch<K> {
        let writer = Writer::new_shared(SUBSCRIBER_BUFFER, ());
        SharedWatch {
            scope,
            reader: writer.as_reader(),
            writer: Mutex::new(Some(writer)),
            synced: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A stream of the watch's changes for one controller; `None` once the watch has started.
    pub fn subscribe(&self) -> Option<ReflectHandle<K>> {
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()?
            .subscribe()
    }

    /// Starts the watch on `api`: it runs (retrying with backoff) until the process ends.
    fn start(&self, api: Api<K>, first_sync: FirstSync)
    where
        K::DynamicType: Eq + Hash + Clone,
    {
        let taken = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(writer) = taken else {
            return;
        };
        let synced = Arc::clone(&self.synced);
        let mut first_sync = Some(first_sync);
        let changes = watcher::watcher(
            api,
            watcher::Config::default().labels(&self.scope.selector()),
        )
        .default_backoff()
        .reflect_shared(writer)
        .for_each(move |event| {
            if matches!(event, Ok(watcher::Event::InitDone)) {
                synced.store(true, Ordering::Release);
                if let Some(report) = first_sync.take() {
                    report();
                }
            }
            if let Err(error) = event {
                debug!(%error, kind = K::kind(&()).as_ref(), "shared watch failed; retrying");
            }
            std::future::ready(())
        });
        tokio::spawn(changes);
    }

    /// The cached objects in `namespace` whose labels include `labels`, sorted by name; `None`
    /// before the first complete list.
    fn list(&self, namespace: &str, labels: &BTreeMap<String, String>) -> Option<Vec<Value>> {
        if !self.synced.load(Ordering::Acquire) || !self.scope.answers(labels) {
            return None;
        }
        let mut matching: Vec<Value> = self
            .reader
            .state()
            .iter()
            .filter(|object| object.meta().namespace.as_deref() == Some(namespace))
            .filter(|object| {
                let present = object.meta().labels.as_ref();
                labels
                    .iter()
                    .all(|(key, value)| present.and_then(|present| present.get(key)) == Some(value))
            })
            .filter_map(|object| serde_json::to_value(object.as_ref()).ok())
            .collect();
        matching.sort_by(|left, right| {
            left.at("/metadata/name")
                .and_then(Value::as_str)
                .cmp(&right.at("/metadata/name").and_then(Value::as_str))
        });
        Some(matching)
    }

    /// The cached object `namespace/name`: `Some(None)` when the synced cache does not hold it,
    /// `None` before the first complete list.
    fn get(&self, namespace: &str, name: &str) -> Option<Option<Value>> {
        if !self.synced.load(Ordering::Acquire) {
            return None;
        }
        let key = RuntimeObjectRef::<K>::new(name).within(namespace);
        Some(
            self.reader
                .get(&key)
                .and_then(|object| serde_json::to_value(object.as_ref()).ok()),
        )
    }
}

/// The shared watches of one watched namespace (all when `None`).
pub struct OwnedWatches {
    namespace: Option<String>,
    /// StatefulSets the operator manages.
    pub stateful_sets: SharedWatch<StatefulSet>,
    /// Services the operator manages.
    pub services: SharedWatch<Service>,
    /// ConfigMaps the operator manages.
    pub config_maps: SharedWatch<ConfigMap>,
    /// PodDisruptionBudgets the operator manages.
    pub budgets: SharedWatch<PodDisruptionBudget>,
    /// Pods with a setup-type label.
    pub pods: SharedWatch<Pod>,
}

/// How many watches `OwnedWatches::start` starts (one first-sync report each).
pub const OWNED_WATCHES: usize = 5;

impl OwnedWatches {
    /// Watches for `namespace` (all when `None`), not started yet: subscribe every controller
    /// first, then start them.
    pub fn new(namespace: Option<&str>) -> OwnedWatches {
        OwnedWatches {
            namespace: namespace.map(str::to_owned),
            stateful_sets: SharedWatch::new(Scope::Managed),
            services: SharedWatch::new(Scope::Managed),
            config_maps: SharedWatch::new(Scope::Managed),
            budgets: SharedWatch::new(Scope::Managed),
            pods: SharedWatch::new(Scope::SetUp),
        }
    }

    /// Starts the five watches; `first_sync` makes each one's report.
    pub fn start(&self, client: &Client, first_sync: &dyn Fn(&'static str) -> FirstSync) {
        let namespace = self.namespace.clone();
        let namespace = namespace.as_deref();
        self.stateful_sets
            .start(api_for(client, namespace), first_sync("StatefulSet"));
        self.services
            .start(api_for(client, namespace), first_sync("Service"));
        self.config_maps
            .start(api_for(client, namespace), first_sync("ConfigMap"));
        self.budgets.start(
            api_for(client, namespace),
            first_sync("PodDisruptionBudget"),
        );
        self.pods
            .start(api_for(client, namespace), first_sync("Pod"));
    }

    /// Whether a watch of this namespace serves `resource` but has not finished its first list.
    fn awaiting_first_list(&self, resource: ResourceType, namespace: &str) -> bool {
        if !self.covers(namespace) {
            return false;
        }
        let synced = match resource {
            ResourceType::StatefulSet => &self.stateful_sets.synced,
            ResourceType::Service => &self.services.synced,
            ResourceType::ConfigMap => &self.config_maps.synced,
            ResourceType::PodDisruptionBudget => &self.budgets.synced,
            ResourceType::Pod => &self.pods.synced,
            _ => return false,
        };
        !synced.load(Ordering::Acquire)
    }

    fn covers(&self, namespace: &str) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|watched| watched == namespace)
    }

    /// The synced cache's answer to a list of `resource`, or `None` when no cache serves it
    /// (another type, a selector broader than the watch's, or not synced yet).
    fn list(
        &self,
        resource: ResourceType,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Option<Vec<Value>> {
        if !self.covers(namespace) {
            return None;
        }
        match resource {
            ResourceType::StatefulSet => self.stateful_sets.list(namespace, labels),
            ResourceType::Service => self.services.list(namespace, labels),
            ResourceType::ConfigMap => self.config_maps.list(namespace, labels),
            ResourceType::PodDisruptionBudget => self.budgets.list(namespace, labels),
            ResourceType::Pod => self.pods.list(namespace, labels),
            _ => None,
        }
    }

    /// The synced cache's answer to a get, or `None` when no cache serves it. An object a cache
    /// does not hold may still exist without the managed-by label, so only held objects are
    /// answered from memory.
    fn get(&self, object: &ObjectRef) -> Option<Value> {
        if !self.covers(&object.namespace) {
            return None;
        }
        let (namespace, name) = (object.namespace.as_str(), object.name.as_str());
        match object.resource {
            ResourceType::StatefulSet => self.stateful_sets.get(namespace, name),
            ResourceType::Service => self.services.get(namespace, name),
            ResourceType::ConfigMap => self.config_maps.get(namespace, name),
            ResourceType::PodDisruptionBudget => self.budgets.get(namespace, name),
            ResourceType::Pod => self.pods.get(namespace, name),
            _ => None,
        }
        .flatten()
    }
}

fn api_for<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

/// A `KubeApi` that answers reads of owned objects from the shared watch caches and sends
/// everything else to `api`.
pub struct CachedKubeApi {
    api: Arc<dyn KubeApi>,
    watches: Vec<Arc<OwnedWatches>>,
    first_list_wait: Duration,
}

impl CachedKubeApi {
    /// Reads through `watches` (one per watched namespace) in front of `api`.
    pub fn new(api: Arc<dyn KubeApi>, watches: Vec<Arc<OwnedWatches>>) -> CachedKubeApi {
        CachedKubeApi {
            api,
            watches,
            first_list_wait: FIRST_LIST_WAIT,
        }
    }

    /// The same, waiting at most `wait` for a watch's first list (instead of
    /// [`FIRST_LIST_WAIT`]).
    pub fn with_first_list_wait(self, wait: Duration) -> CachedKubeApi {
        CachedKubeApi {
            first_list_wait: wait,
            ..self
        }
    }

    /// Waits (at most `first_list_wait`) for the watch serving `resource` in `namespace` to
    /// finish its first list. The controllers start reconciling as soon as their CRs are listed,
    /// usually before the owned objects' watches are; without the wait, every reconcile of the
    /// start-up burst would list from the API server what the watch is about to hold.
    async fn wait_for_first_list(&self, resource: ResourceType, namespace: &str) {
        let deadline = tokio::time::Instant::now() + self.first_list_wait;
        while self
            .watches
            .iter()
            .any(|watches| watches.awaiting_first_list(resource, namespace))
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(FIRST_LIST_POLL).await;
        }
    }
}

#[async_trait]
impl KubeApi for CachedKubeApi {
    async fn get(&self, object: &ObjectRef) -> Result<Option<Value>, ApiError> {
        self.wait_for_first_list(object.resource, &object.namespace)
            .await;
        if let Some(cached) = self.watches.iter().find_map(|watches| watches.get(object)) {
            return Ok(Some(cached));
        }
        self.api.get(object).await
    }

    async fn list(
        &self,
        resource: ResourceType,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Arc<Value>>, ApiError> {
        self.wait_for_first_list(resource, namespace).await;
        if let Some(cached) = self
            .watches
            .iter()
            .find_map(|watches| watches.list(resource, namespace, labels))
        {
            return Ok(cached.into_iter().map(Arc::new).collect());
        }
        self.api.list(resource, namespace, labels).await
    }

    async fn apply(&self, object: &Value) -> Result<Value, ApiError> {
        self.api.apply(object).await
    }

    async fn apply_status(
        &self,
        object: &ObjectRef,
        status: &Value,
        resource_version: Option<&str>,
    ) -> Result<Value, ApiError> {
        self.api
            .apply_status(object, status, resource_version)
            .await
    }

    async fn delete(&self, object: &ObjectRef, propagation: Propagation) -> Result<(), ApiError> {
        self.api.delete(object, propagation).await
    }

    async fn evict(&self, pod: &ObjectRef) -> Result<(), ApiError> {
        self.api.evict(pod).await
    }

    async fn publish_event(&self, event: &EventRecord) -> Result<(), ApiError> {
        self.api.publish_event(event).await
    }

    async fn remove_finalizer(&self, object: &ObjectRef, finalizer: &str) -> Result<(), ApiError> {
        self.api.remove_finalizer(object, finalizer).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use kube::runtime::watcher::Event;

    fn pod(namespace: &str, name: &str, labels: &[(&str, &str)]) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "namespace": namespace,
                "name": name,
                "labels": labels.iter().map(|(key, value)| (key.to_string(), value.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            }
        }))
        .unwrap()
    }

    /// A pod watch whose first list held `pods`.
    fn synced_pods(pods: Vec<Pod>) -> SharedWatch<Pod> {
        let watch = SharedWatch::<Pod>::new(Scope::SetUp);
        let mut writer = watch.writer.lock().unwrap().take().unwrap();
        writer.apply_watcher_event(&Event::Init);
        for pod in pods {
            writer.apply_watcher_event(&Event::InitApply(pod));
        }
        writer.apply_watcher_event(&Event::InitDone);
        watch.synced.store(true, Ordering::Release);
        watch
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    fn names<T: std::borrow::Borrow<Value>>(objects: &[T]) -> Vec<&str> {
        objects
            .iter()
            .map(|object| object.borrow()["metadata"]["name"].as_str().unwrap())
            .collect()
    }

    /// An API server that answers every list with nothing and counts the lists.
    #[derive(Default)]
    struct CountingApi {
        lists: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl KubeApi for CountingApi {
        async fn get(&self, _: &ObjectRef) -> Result<Option<Value>, ApiError> {
            Ok(None)
        }
        async fn list(
            &self,
            _: ResourceType,
            _: &str,
            _: &BTreeMap<String, String>,
        ) -> Result<Vec<Arc<Value>>, ApiError> {
            self.lists.fetch_add(1, Ordering::SeqCst);
            Ok(Vec::new())
        }
        async fn apply(&self, object: &Value) -> Result<Value, ApiError> {
            Ok(object.clone())
        }
        async fn apply_status(
            &self,
            _: &ObjectRef,
            status: &Value,
            _: Option<&str>,
        ) -> Result<Value, ApiError> {
            Ok(status.clone())
        }
        async fn delete(&self, _: &ObjectRef, _: Propagation) -> Result<(), ApiError> {
            Ok(())
        }
        async fn evict(&self, _: &ObjectRef) -> Result<(), ApiError> {
            Ok(())
        }
        async fn publish_event(&self, _: &EventRecord) -> Result<(), ApiError> {
            Ok(())
        }
        async fn remove_finalizer(&self, _: &ObjectRef, _: &str) -> Result<(), ApiError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_read_during_the_first_list_waits_for_it_instead_of_asking_the_api_server() {
        let watches = Arc::new(OwnedWatches::new(Some("default")));
        let api = Arc::new(CountingApi::default());
        let cached = CachedKubeApi::new(api.clone(), vec![Arc::clone(&watches)]);
        let syncing = Arc::clone(&watches);
        let first_list = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut writer = syncing.pods.writer.lock().unwrap().take().unwrap();
            writer.apply_watcher_event(&Event::Init);
            writer.apply_watcher_event(&Event::InitApply(pod(
                "default",
                "cache-0",
                &[(SETUP_TYPE_LABEL, "standalone")],
            )));
            writer.apply_watcher_event(&Event::InitDone);
            syncing.pods.synced.store(true, Ordering::Release);
        });
        let listed = cached
            .list(
                ResourceType::Pod,
                "default",
                &labels(&[(SETUP_TYPE_LABEL, "standalone")]),
            )
            .await
            .unwrap();
        first_list.await.unwrap();
        assert_eq!(names(&listed), ["cache-0"]);
        assert_eq!(api.lists.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_watch_that_never_lists_does_not_stall_reads_for_good() {
        let watches = Arc::new(OwnedWatches::new(Some("default")));
        let api = Arc::new(CountingApi::default());
        let cached = CachedKubeApi::new(api.clone(), vec![watches])
            .with_first_list_wait(Duration::from_millis(50));
        cached
            .list(ResourceType::StatefulSet, "default", &labels(&[]))
            .await
            .unwrap();
        // Types no watch serves, and other namespaces, go to the API server without waiting.
        cached
            .list(ResourceType::Pod, "elsewhere", &labels(&[]))
            .await
            .unwrap();
        assert_eq!(api.lists.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_synced_cache_answers_lists_within_its_scope_by_namespace_and_labels_sorted_by_name() {
        let watch = synced_pods(vec![
            pod(
                "default",
                "orders-leader-1",
                &[(SETUP_TYPE_LABEL, "cluster")],
            ),
            pod(
                "default",
                "orders-leader-0",
                &[(SETUP_TYPE_LABEL, "cluster")],
            ),
            pod("default", "cache-0", &[(SETUP_TYPE_LABEL, "standalone")]),
            pod("other", "orders-leader-0", &[(SETUP_TYPE_LABEL, "cluster")]),
        ]);
        let listed = watch
            .list("default", &labels(&[(SETUP_TYPE_LABEL, "cluster")]))
            .unwrap();
        assert_eq!(names(&listed), ["orders-leader-0", "orders-leader-1"]);
        assert_eq!(listed[0]["kind"], "Pod", "objects name their kind");
        assert_eq!(listed[0]["apiVersion"], "v1");
        assert!(
            watch
                .list("default", &labels(&[("app", "orders")]))
                .is_none(),
            "a list that does not ask for a setup type may include pods the cache does not hold"
        );
        assert_eq!(
            watch.get("other", "orders-leader-0").unwrap().unwrap()["metadata"]["namespace"],
            "other"
        );
        assert_eq!(watch.get("other", "missing"), Some(None));
    }

    #[test]
    fn a_cache_answers_nothing_before_its_first_complete_list() {
        let watch = SharedWatch::<Pod>::new(Scope::SetUp);
        assert!(
            watch
                .list("default", &labels(&[(SETUP_TYPE_LABEL, "cluster")]))
                .is_none()
        );
        assert!(watch.get("default", "cache-0").is_none());
    }

    #[test]
    fn managed_watches_answer_only_lists_that_ask_for_the_managed_by_label() {
        let managed = labels(&[(MANAGED_BY_LABEL, MANAGED_BY_LABEL_VALUE)]);
        assert!(Scope::Managed.answers(&managed));
        assert!(!Scope::Managed.answers(&labels(&[(MANAGED_BY_LABEL, "someone-else")])));
        assert!(!Scope::Managed.answers(&labels(&[("app", "orders")])));
        let watches = OwnedWatches::new(Some("team-a"));
        assert!(watches.covers("team-a"));
        assert!(!watches.covers("team-b"));
        assert!(OwnedWatches::new(None).covers("team-b"));
        assert!(
            watches
                .list(ResourceType::PersistentVolumeClaim, "team-a", &managed)
                .is_none(),
            "claims are not watched"
        );
    }
}
