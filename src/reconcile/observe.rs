//! Observation: the only reads of a reconcile. The CR, the objects it owns, its pods and claims,
//! gathered into one `Observed` value that the pure steps work from.
//!
//! It must not write anything and must not decide anything.

use crate::json_pointer::JsonPointer;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use super::Context;
use crate::api::Kind;
use crate::ports::kube::{ApiError, ObjectRef, ResourceType};
use crate::ports::redis::{RedisCommand, RedisEndpoint};
use crate::resources::group::PodGroup;
use crate::resources::groups_of;
use crate::resources::kinds::pod_identity;
use crate::resources::names::{
    APP_LABEL, INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGED_BY_LABEL_VALUE, SETUP_TYPE_LABEL,
};
use crate::topology::observation::{PodInfo, RedisObservation, SentinelView, ServerView};
use crate::topology::replies::{
    ClusterNode, ParseError, parse_cluster_info, parse_cluster_nodes, parse_info_replication,
    parse_keyspace_keys, parse_master_address, parse_sentinel_masters,
};

/// The owned object types the operator diffs and prunes.
pub const OWNED_TYPES: [ResourceType; 4] = [
    ResourceType::ConfigMap,
    ResourceType::Service,
    ResourceType::StatefulSet,
    ResourceType::PodDisruptionBudget,
];

/// Everything one reconcile knows about a CR and its world.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// The CR, or `None` when it is gone.
    pub resource: Option<Value>,
    /// Objects the CR owns (labelled as ours and owned by this CR), by reference.
    pub children: BTreeMap<ObjectRef, Arc<Value>>,
    /// The CR's pods, sorted by name.
    pub pods: Vec<Arc<Value>>,
    /// The CR's PersistentVolumeClaims, sorted by name.
    pub claims: Vec<Arc<Value>>,
}

impl Observed {
    /// The live object a desired object corresponds to.
    pub fn live(&self, desired: &Value) -> Option<&Value> {
        ObjectRef::of(desired)
            .and_then(|reference| self.children.get(&reference))
            .map(AsRef::as_ref)
    }
}

/// Reads the CR `target` (of `kind`) and everything it owns.
pub async fn observe(
    context: &Context,
    kind: Kind,
    target: &ObjectRef,
) -> Result<Observed, ApiError> {
    let kube = context.kube.as_ref();
    let Some(resource) = kube.get(target).await? else {
        return Ok(Observed::default());
    };
    let uid = resource
        .at("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let instance_labels = BTreeMap::from([
        (INSTANCE_LABEL.to_owned(), target.name.clone()),
        (
            MANAGED_BY_LABEL.to_owned(),
            MANAGED_BY_LABEL_VALUE.to_owned(),
        ),
    ]);
    let mut children = BTreeMap::new();
    for resource_type in OWNED_TYPES {
        for object in kube
            .list(resource_type, &target.namespace, &instance_labels)
            .await?
        {
            if is_owned_by(&object, &uid)
                && let Some(reference) = ObjectRef::of(&object)
            {
                children.insert(reference, object);
            }
        }
    }
    let (setup_type, apps) = pod_identity(kind, &target.name);
    let setup_labels = BTreeMap::from([(SETUP_TYPE_LABEL.to_owned(), setup_type.to_owned())]);
    let ours = |object: &Value| {
        object
            .at(&format!("/metadata/labels/{APP_LABEL}"))
            .and_then(Value::as_str)
            .is_some_and(|app| apps.iter().any(|expected| expected == app))
    };
    let pods = list_pods(context, kind, target).await?;
    let claims = kube
        .list(
            ResourceType::PersistentVolumeClaim,
            &target.namespace,
            &setup_labels,
        )
        .await?
        .into_iter()
        .filter(|claim| ours(claim))
        .collect();
    Ok(Observed {
        resource: Some(resource),
        children,
        pods,
        claims,
    })
}

/// Whether `object` names the CR with `uid` as its controller (any owner when the CR has no uid,
/// as with objects rendered offline).
fn is_owned_by(object: &Value, uid: &str) -> bool {
    object
        .at("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| {
            owners.iter().any(|owner| {
                uid.is_empty() || owner.get("uid").and_then(Value::as_str) == Some(uid)
            })
        })
}

/// Reads what every Redis server (and sentinel) of the CR says, and for a RedisSentinel the
/// servers of the set it monitors, for a RedisReplication the sentinels that manage it.
pub async fn observe_redis(
    context: &Context,
    resource: &crate::api::document::ValidatedResource,
    observed: &Observed,
    target: &ObjectRef,
) -> Result<RedisObservation, ApiError> {
    use crate::api::document::ValidatedResource;
    let mut observation = RedisObservation::default();
    let groups = groups_of(resource);
    match resource {
        ValidatedResource::RedisSentinel(_, validated) => {
            let Some(group) = groups.first() else {
                return Ok(observation);
            };
            for pod in PodInfo::read_all(&observed.pods) {
                let Some(endpoint) = endpoint_of(&pod, group, target) else {
                    continue;
                };
                let (masters, error) = match context
                    .redis
                    .execute(&endpoint, &RedisCommand::SentinelMasters)
                    .await
                {
                    Ok(reply) => match parse_sentinel_masters(&reply) {
                        Ok(masters) => (Some(masters), None),
                        Err(error) => (None, Some(error.to_string())),
                    },
                    Err(error) => (None, Some(error.to_string())),
                };
                observation.sentinels.push(SentinelView {
                    pod,
                    endpoint,
                    masters,
                    error,
                });
            }
            observation.monitored = observe_monitored_replication(
                context,
                &target.namespace,
                &validated.monitor.replication_name,
            )
            .await?;
        }
        ValidatedResource::RedisReplication(..) | ValidatedResource::RedisCluster(..) => {
            let cluster = matches!(resource, ValidatedResource::RedisCluster(..));
            // Read once for every group.
            let pods = PodInfo::read_all(&observed.pods);
            for group in &groups {
                for pod in pods.iter().filter(|pod| pod.group == group.app).cloned() {
                    observation
                        .servers
                        .push(observe_server(context, pod, group, target, cluster).await);
                }
            }
            if matches!(resource, ValidatedResource::RedisReplication(..)) {
                let (managed, master, failover_sentinel) =
                    observe_managing_sentinels(context, target).await?;
                observation.managed_by_sentinel = managed;
                observation.sentinel_master = master;
                observation.failover_sentinel = failover_sentinel;
            }
        }
        ValidatedResource::Redis(..) => {}
    }
    Ok(observation)
}

fn endpoint_of(pod: &PodInfo, group: &PodGroup<'_>, target: &ObjectRef) -> Option<RedisEndpoint> {
    if pod.terminating {
        return None;
    }
    Some(RedisEndpoint {
        namespace: target.namespace.clone(),
        pod: pod.name.clone(),
        host: pod.ip.clone()?,
        port: u16::try_from(group.port).ok()?,
        password: group.password.clone(),
        user: None,
        tls: crate::resources::config::tls_secret(group),
    })
}

/// One server's INFO replication, INFO keyspace and (for cluster nodes) CLUSTER NODES.
async fn observe_server(
    context: &Context,
    pod: PodInfo,
    group: &PodGroup<'_>,
    target: &ObjectRef,
    cluster: bool,
) -> ServerView {
    let endpoint = endpoint_of(&pod, group, target).unwrap_or_else(|| RedisEndpoint {
        namespace: target.namespace.clone(),
        pod: pod.name.clone(),
        host: String::new(),
        port: 0,
        password: None,
        user: None,
        tls: None,
    });
    let mut view = ServerView {
        pod,
        endpoint,
        replication: None,
        cluster_nodes: None,
        keys: None,
        cluster_state_ok: None,
        error: None,
    };
    if view.endpoint.host.is_empty() {
        view.error = Some("the pod has no address".to_owned());
        return view;
    }
    read_server(context, view, cluster).await
}

/// Fills `view` (its pod and endpoint set) with what the server says: INFO replication, the keys
/// of every database, and for a cluster node CLUSTER NODES and, when it owns slots, CLUSTER INFO.
/// Any failure leaves the view without replication and with the error.
pub async fn read_server(context: &Context, mut view: ServerView, cluster: bool) -> ServerView {
    let redis = context.redis.as_ref();
    let result: Result<(), String> = async {
        let reply = redis
            .execute(&view.endpoint, &RedisCommand::InfoReplication)
            .await
            .map_err(|error| error.to_string())?;
        let text = reply.as_text().unwrap_or_default();
        view.replication = Some(parse_info_replication(text).map_err(|error| error.to_string())?);
        // Every database counts: a server with keys only outside database 0 still holds data.
        let reply = redis
            .execute(&view.endpoint, &RedisCommand::InfoKeyspace)
            .await
            .map_err(|error| error.to_string())?;
        view.keys = Some(
            parse_keyspace_keys(reply.as_text().unwrap_or_default())
                .map_err(|error| error.to_string())?,
        );
        if cluster {
            let reply = redis
                .execute(&view.endpoint, &RedisCommand::ClusterNodes)
                .await
                .map_err(|error| error.to_string())?;
            let text = reply.as_text().unwrap_or_default();
            let table = context
                .cluster_tables
                .parse(&view.endpoint.namespace, &view.pod.name, text)
                .map_err(|error| error.to_string())?;
            // A master that owns slots says whether it serves them: the cluster is not ready
            // while any says `cluster_state:fail` (a master failed and not yet replaced).
            let owns_slots = table
                .iter()
                .any(|node| node.flags.myself && node.is_master() && !node.slots.is_empty());
            view.cluster_nodes = Some(table);
            if owns_slots {
                let reply = redis
                    .execute(&view.endpoint, &RedisCommand::ClusterInfo)
                    .await
                    .map_err(|error| error.to_string())?;
                let info = parse_cluster_info(reply.as_text().unwrap_or_default())
                    .map_err(|error| error.to_string())?;
                view.cluster_state_ok = Some(info.state_ok);
            }
        }
        Ok(())
    }
    .await;
    if let Err(error) = result {
        view.replication = None;
        view.error = Some(error);
    }
    view
}

/// The servers of the RedisReplication a RedisSentinel monitors (empty when it does not exist or
/// is invalid: the sentinel planner then waits).
async fn observe_monitored_replication(
    context: &Context,
    namespace: &str,
    name: &str,
) -> Result<Vec<ServerView>, ApiError> {
    let reference = ObjectRef::new(ResourceType::RedisReplication, namespace, name);
    let Some(object) = context.kube.get(&reference).await? else {
        return Ok(Vec::new());
    };
    let Ok(resource) = crate::api::document::validate_value(Kind::RedisReplication, &object) else {
        return Ok(Vec::new());
    };
    let replication = Observed {
        resource: Some(object),
        pods: list_pods(context, Kind::RedisReplication, &reference).await?,
        ..Observed::default()
    };
    let groups = groups_of(&resource);
    let mut servers = Vec::new();
    if let Some(group) = groups.first() {
        for pod in PodInfo::read_all(&replication.pods) {
            servers.push(observe_server(context, pod, group, &reference, false).await);
        }
    }
    Ok(servers)
}

/// Whether sentinels manage a set, the master they agree on, and a sentinel to ask for a failover.
type ManagingSentinels = (bool, Option<(String, u16)>, Option<(RedisEndpoint, String)>);

/// Whether a RedisSentinel in the namespace manages the replication set `target`, and the master
/// address a majority of its sentinels report (a majority of the sentinel set's size).
async fn observe_managing_sentinels(
    context: &Context,
    target: &ObjectRef,
) -> Result<ManagingSentinels, ApiError> {
    let sentinels = context
        .kube
        .list(
            ResourceType::RedisSentinel,
            &target.namespace,
            &BTreeMap::new(),
        )
        .await?;
    let mut managed = false;
    let mut votes: BTreeMap<(String, u16), usize> = BTreeMap::new();
    let mut set_size = 0;
    let mut failover_sentinel = None;
    for object in sentinels {
        let Ok(crate::api::document::ValidatedResource::RedisSentinel(resource, validated)) =
            crate::api::document::validate_value(Kind::RedisSentinel, &object)
        else {
            continue;
        };
        if validated.monitor.replication_name != target.name {
            continue;
        }
        managed = true;
        let sentinel_reference = ObjectRef::new(
            ResourceType::RedisSentinel,
            &target.namespace,
            resource.metadata.name.as_deref().unwrap_or_default(),
        );
        let validated_resource =
            crate::api::document::ValidatedResource::RedisSentinel(resource, validated.clone());
        let groups = groups_of(&validated_resource);
        let Some(group) = groups.first() else {
            continue;
        };
        let mut asked_here = 0;
        for pod in
            PodInfo::read_all(&list_pods(context, Kind::RedisSentinel, &sentinel_reference).await?)
        {
            let Some(endpoint) = endpoint_of(&pod, group, &sentinel_reference) else {
                continue;
            };
            asked_here += 1;
            let command =
                RedisCommand::SentinelMasterAddress(validated.monitor.master_group_name.clone());
            if let Ok(reply) = context.redis.execute(&endpoint, &command).await
                && let Ok(Some(address)) = parse_master_address(&reply)
            {
                *votes.entry(address).or_default() += 1;
                failover_sentinel.get_or_insert_with(|| {
                    (
                        endpoint.clone(),
                        validated.monitor.master_group_name.clone(),
                    )
                });
            }
        }
        // The majority is of the sentinel set, not of the pods that happen to exist: sentinels
        // whose pods are gone or starting may follow another master.
        set_size += asked_here.max(usize::try_from(validated.size).unwrap_or(0));
    }
    let master = votes
        .into_iter()
        .filter(|(_, count)| count * 2 > set_size)
        .max_by_key(|(_, count)| *count)
        .map(|(address, _)| address);
    Ok((managed, master, failover_sentinel))
}

/// The pods of a CR of `kind`, found by the labels its kind and name imply.
async fn list_pods(
    context: &Context,
    kind: Kind,
    target: &ObjectRef,
) -> Result<Vec<Arc<Value>>, ApiError> {
    let (setup_type, apps) = pod_identity(kind, &target.name);
    let labels = BTreeMap::from([(SETUP_TYPE_LABEL.to_owned(), setup_type.to_owned())]);
    Ok(context
        .kube
        .list(ResourceType::Pod, &target.namespace, &labels)
        .await?
        .into_iter()
        .filter(|pod| {
            pod.at(&format!("/metadata/labels/{APP_LABEL}"))
                .and_then(Value::as_str)
                .is_some_and(|app| apps.iter().any(|expected| expected == app))
        })
        .collect())
}

/// Bytes of CLUSTER NODES replies remembered, at most; past it everything is forgotten and
/// parsed again. Pods come and go and the memo must not grow with them: a reply grows with the
/// cluster (about 150 bytes per node, listed by every node), and the parses take about twice the
/// text. 4 MiB holds every reply of a few hundred small clusters or of one 80-shard cluster.
const MAXIMUM_REMEMBERED_BYTES: usize = 4 << 20;

/// The last CLUSTER NODES reply of each pod with its parse. Every reconcile reads every node's
/// table, and in a settled cluster the replies do not change: an identical reply gets the
/// remembered parse. Parsing is a function of the text alone, so a reply that differs in any
/// byte is parsed again; what pod a reply came from only decides which one it replaces.
#[derive(Debug, Default)]
pub struct ClusterTables {
    tables: Mutex<RememberedTables>,
}

/// A reply and its parse.
type RememberedTable = (String, Arc<Vec<ClusterNode>>);

/// The remembered replies and their parses, with the bytes of text they hold.
#[derive(Debug, Default)]
struct RememberedTables {
    /// By (namespace, pod): the last reply and its parse.
    by_pod: BTreeMap<(String, String), RememberedTable>,
    /// Bytes of the replies in `by_pod`.
    bytes: usize,
}

impl ClusterTables {
    /// The parse of `text`, the CLUSTER NODES reply of pod `pod` in `namespace`.
    pub fn parse(
        &self,
        namespace: &str,
        pod: &str,
        text: &str,
    ) -> Result<Arc<Vec<ClusterNode>>, ParseError> {
        let key = (namespace.to_owned(), pod.to_owned());
        if let Some((_, table)) = self
            .lock()
            .by_pod
            .get(&key)
            .filter(|(kept, _)| kept == text)
        {
            return Ok(Arc::clone(table));
        }
        let table = Arc::new(parse_cluster_nodes(text)?);
        let mut tables = self.lock();
        if let Some((replaced, _)) = tables.by_pod.remove(&key) {
            tables.bytes -= replaced.len();
        }
        if tables.bytes + text.len() > MAXIMUM_REMEMBERED_BYTES {
            *tables = RememberedTables::default();
        }
        if text.len() <= MAXIMUM_REMEMBERED_BYTES {
            tables.bytes += text.len();
            tables
                .by_pod
                .insert(key, (text.to_owned(), Arc::clone(&table)));
        }
        Ok(table)
    }

    /// How many pods have a remembered reply.
    pub fn len(&self) -> usize {
        self.lock().by_pod.len()
    }

    /// Bytes of the remembered replies.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Whether no reply is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, RememberedTables> {
        // The map is consistent after every statement that changes it, so a panic elsewhere
        // while it was held leaves nothing half done.
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::ClusterTables;
    use std::sync::Arc;

    const TABLE: &str = "3f1c0b7e9d2a4c6b8e0f1a3c5e7d9b1f2a4c6e80 10.244.1.17:6379@16379 myself,master - 0 0 1 connected 0-16383\n";

    #[test]
    fn an_unchanged_reply_gets_the_remembered_parse_and_a_changed_one_is_parsed_again() {
        let tables = ClusterTables::default();
        let first = tables.parse("default", "orders-leader-0", TABLE).unwrap();
        let again = tables.parse("default", "orders-leader-0", TABLE).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let changed = TABLE.replace("0-16383", "0-8191");
        let reparsed = tables
            .parse("default", "orders-leader-0", &changed)
            .unwrap();
        assert!(!Arc::ptr_eq(&first, &reparsed));
        assert_eq!(reparsed[0].slots, vec![(0, 8191)]);
        // Another pod with the same reply has its own entry; a malformed reply is an error and
        // leaves what is remembered alone.
        tables.parse("default", "orders-leader-1", TABLE).unwrap();
        assert_eq!(tables.len(), 2);
        assert_eq!(tables.bytes(), changed.len() + TABLE.len());
        assert!(
            tables
                .parse("default", "orders-leader-1", "not a table")
                .is_err()
        );
        let kept = tables.parse("default", "orders-leader-1", TABLE).unwrap();
        assert_eq!(*kept, *first);
    }

    #[test]
    fn the_memo_starts_over_past_its_byte_budget() {
        let tables = ClusterTables::default();
        let pods = super::MAXIMUM_REMEMBERED_BYTES / TABLE.len() + 1;
        for pod in 0..pods {
            tables
                .parse("default", &format!("orders-leader-{pod}"), TABLE)
                .unwrap();
        }
        assert!(tables.bytes() <= super::MAXIMUM_REMEMBERED_BYTES);
        assert!(tables.len() < pods);
        // Whatever was forgotten is parsed again, to the same table.
        let again = tables.parse("default", "orders-leader-0", TABLE).unwrap();
        assert_eq!(again[0].slots, vec![(0, 16383)]);
    }
}
