//! End-to-end tests against a real Kubernetes control plane on loopback (etcd, kube-apiserver,
//! kube-controller-manager and kube-scheduler built from source by `scripts/build-control-plane`),
//! with the stand-in kubelet of `tests/support/kubelet.rs` running pods as real `redis-server`
//! processes, and the operator as its own process (`redis-operator run`). The shared harness
//! (manifests, the operator's process, reads of pods and servers) is `tests/support/end_to_end.rs`.
//!
//! The tests start one control plane each and run one at a time (a 2-core machine runs one
//! control plane comfortably, not four).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams};
use kube::discovery::Discovery;
use kube::{Client, ResourceExt};
use redis_operator::api::crd::custom_resource_definition;
use redis_operator::api::{Kind, RECREATE_STATEFULSET_ANNOTATION};
use redis_operator::resources::names::{LEADER_LEASE_NAME, POD_NAME_LABEL};
use redis_operator::topology::replies::parse_cluster_nodes;
use redis_operator::topology::slots::SLOT_COUNT;
use serde_json::Value;
use support::control_plane::{ControlPlane, ZONE_LABEL, default_nodes};
use support::end_to_end::{
    Cluster, NAMESPACE, api_for, apply, documents, info_field, install_crds, pod_ip, pod_is_ready,
    pods_with, redis_cli, redis_cli_with_input, workspace_root, yaml_files,
};
use support::fleet::{key, value};

/// How long every example gets to become Ready.
const READY_LIMIT: Duration = Duration::from_secs(240);
/// How long sentinels may take to learn the replicas from the master they monitor.
const SENTINEL_DISCOVERY_LIMIT: Duration = Duration::from_secs(30);
/// How long a ready cluster's nodes may take to report cluster_state:ok.
const CLUSTER_STATE_LIMIT: Duration = Duration::from_secs(30);

/// Keys written on the replication set's master before a failover or a drain.
const REPLICATION_KEYS: usize = 500;

/// Writes [`REPLICATION_KEYS`] keys on the replication example's master at `address` and waits
/// until both replicas acknowledge them.
fn write_keys_acknowledged_by_both_replicas(address: &str) {
    let script = format!(
        "for i=1,{REPLICATION_KEYS} do redis.call('set','key:'..i,i) end return {REPLICATION_KEYS}"
    );
    let written = redis_cli(
        address,
        REDIS_PORT,
        Some("change-me"),
        &["eval", &script, "0"],
    );
    assert_eq!(written.trim(), REPLICATION_KEYS.to_string());
    let acknowledged = redis_cli(
        address,
        REDIS_PORT,
        Some("change-me"),
        &["wait", "2", "5000"],
    );
    assert_eq!(
        acknowledged.trim(),
        "2",
        "both replicas acknowledge the keys"
    );
}

/// One control plane at a time in this test binary.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The operator binary cargo built for these tests.
fn operator_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_redis-operator"))
}

/// Every document of the reference examples, `deploy/examples/` and the CRDs is accepted by the
/// real API server (server-side apply, dry run, strict field validation) once the CRDs are in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_and_example_manifests_are_accepted_by_the_api_server() {
    let _one = ONE_AT_A_TIME.lock().await;
    let plane = ControlPlane::start(default_nodes()).await;
    let client = plane.client().await;

    // The CRDs themselves, dry run first, then for real.
    let crd_files = yaml_files(&workspace_root().join("crds"));
    assert_eq!(crd_files.len(), 4, "{crd_files:?}");
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    for path in &crd_files {
        for document in documents(path) {
            apply(&client, &discovery, &document, NAMESPACE, true)
                .await
                .unwrap_or_else(|error| panic!("{} rejected: {error}", path.display()));
        }
    }
    install_crds(&client).await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();

    let reference = workspace_root().join("tests/compat/v0.19.0/examples");
    assert!(
        reference.is_dir(),
        "{} is missing: the compatibility corpus must sit beside the checkout",
        reference.display()
    );
    let mut files = yaml_files(&reference);
    files.extend(yaml_files(&workspace_root().join("deploy/examples")));
    let mut accepted = 0;
    let mut rejected = Vec::new();
    for path in &files {
        for document in documents(path) {
            match apply(&client, &discovery, &document, NAMESPACE, true).await {
                Ok(_) => accepted += 1,
                Err(error) => rejected.push(format!(
                    "{} {} {}: {error}",
                    path.display(),
                    document["kind"].as_str().unwrap_or_default(),
                    document["metadata"]["name"].as_str().unwrap_or_default()
                )),
            }
        }
    }
    assert!(
        rejected.is_empty(),
        "{} documents rejected ({accepted} accepted):\n{}",
        rejected.len(),
        rejected.join("\n")
    );
    assert!(accepted >= 70, "only {accepted} documents were checked");
    eprintln!("{accepted} documents from {} files accepted", files.len());
}

/// Kinds a rendering may hold whose API the bare control plane does not serve (they belong to
/// add-ons, e.g. the Prometheus operator's ServiceMonitor).
const ADD_ON_KINDS: &[&str] = &["ServiceMonitor"];

/// Every manifest `scripts/check-deploy` rendered from deploy/ (the CRD kustomization, the
/// kustomize base and overlay, the Helm chart with its defaults and value variants) is accepted by
/// the real API server: server-side apply, dry run, strict field validation, each object in its
/// own namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_deployment_manifests_are_accepted_by_the_api_server() {
    let rendered = workspace_root().join("target/deploy-rendered");
    assert!(
        rendered.is_dir(),
        "{} is missing: run scripts/check-deploy (scripts/test-all does) to render deploy/",
        rendered.display()
    );
    let files = yaml_files(&rendered);
    assert!(
        files.len() >= 5,
        "only {} renderings in {}",
        files.len(),
        rendered.display()
    );

    let _one = ONE_AT_A_TIME.lock().await;
    let plane = ControlPlane::start(default_nodes()).await;
    let client = plane.client().await;
    install_crds(&client).await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    // A dry run cannot create an object in a namespace that does not exist: the namespaces the
    // renderings use are created first.
    let mut namespaces: Vec<String> = files
        .iter()
        .flat_map(|path| documents(path))
        .filter_map(|document| {
            if document["kind"] == "Namespace" {
                document["metadata"]["name"].as_str().map(str::to_owned)
            } else {
                document["metadata"]["namespace"]
                    .as_str()
                    .map(str::to_owned)
            }
        })
        .collect();
    namespaces.sort();
    namespaces.dedup();
    for namespace in &namespaces {
        let document = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": { "name": namespace },
        });
        apply(&client, &discovery, &document, NAMESPACE, false)
            .await
            .unwrap_or_else(|error| panic!("failed to create namespace {namespace}: {error}"));
    }

    let mut accepted = 0;
    let mut add_ons = 0;
    let mut rejected = Vec::new();
    for path in &files {
        for document in documents(path) {
            let kind = document["kind"].as_str().unwrap_or_default().to_owned();
            if ADD_ON_KINDS.contains(&kind.as_str()) {
                add_ons += 1;
                continue;
            }
            let namespace = document["metadata"]["namespace"]
                .as_str()
                .unwrap_or(NAMESPACE)
                .to_owned();
            match apply(&client, &discovery, &document, &namespace, true).await {
                Ok(_) => accepted += 1,
                Err(error) => rejected.push(format!(
                    "{} {kind} {namespace}/{}: {error}",
                    path.display(),
                    document["metadata"]["name"].as_str().unwrap_or_default()
                )),
            }
        }
    }
    assert!(
        rejected.is_empty(),
        "{} rendered documents rejected ({accepted} accepted):\n{}",
        rejected.len(),
        rejected.join("\n")
    );
    assert!(
        accepted >= 50,
        "only {accepted} rendered documents were checked"
    );
    eprintln!(
        "{accepted} rendered documents from {} renderings accepted; {add_ons} of add-on kinds ({}) not checked",
        files.len(),
        ADD_ON_KINDS.join(", ")
    );
}

/// Every CR of `deploy/examples/` reaches Ready on the real control plane with real servers:
/// the standalone server answers, the replication set has one master with two replicas, the
/// master Service selects it alone, the sentinels monitor that master, and the cluster's six
/// nodes agree on a healthy cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_reaches_ready_with_real_servers() {
    let _one = ONE_AT_A_TIME.lock().await;
    let started = Instant::now();
    let mut cluster = Cluster::start(operator_binary()).await;
    let mut resources = Vec::new();
    for path in yaml_files(&workspace_root().join("deploy/examples")) {
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        resources.extend(cluster.apply_example(&file).await);
    }
    assert_eq!(resources.len(), 4);
    let applied = Instant::now();
    cluster.wait_until_ready(&resources, READY_LIMIT).await;
    eprintln!(
        "every example Ready {:?} after it was applied ({:?} in all)",
        applied.elapsed(),
        started.elapsed()
    );
    let client = cluster.client.clone();

    // `kubectl get` prints each CR's Ready condition: the API server evaluates the CRDs'
    // printer columns on the status the operator wrote.
    for resource in &resources {
        let (headers, cells) = printed_row(&client, resource).await;
        let cell = |name: &str| {
            headers
                .iter()
                .position(|header| header == name)
                .map(|index| cells[index].clone())
                .unwrap_or_else(|| panic!("no {name} column in {headers:?} for {resource}"))
        };
        assert_eq!(cell("Ready"), "True", "{headers:?} {cells:?}");
        assert!(
            cell("Reason")
                .as_str()
                .is_some_and(|reason| !reason.is_empty()),
            "{headers:?} {cells:?}"
        );
        assert!(cell("Age").is_string(), "{headers:?} {cells:?}");
    }

    // The operator holds the leader Lease and, its caches synced, says it is ready.
    let leases: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let holder = leases
        .get(LEADER_LEASE_NAME)
        .await
        .unwrap()
        .spec
        .and_then(|spec| spec.holder_identity)
        .unwrap_or_default();
    assert!(
        holder.starts_with("operator-under-test"),
        "the Lease is held by {holder:?}"
    );
    let ready = cluster.operator.health("/readyz");
    assert!(ready.starts_with("HTTP/1.1 200"), "/readyz: {ready}");

    // Standalone: the server answers on its pod's address.
    let cache = pods_with(&client, "app=cache").await;
    assert_eq!(cache.len(), 1);
    assert_eq!(
        redis_cli(&pod_ip(&cache[0]), 6379, None, &["ping"]).trim(),
        "PONG"
    );

    // Replication: one master with both replicas attached, selected alone by the master Service.
    let sessions = pods_with(&client, "app=sessions").await;
    assert_eq!(sessions.len(), 3);
    let masters = cluster.replication_masters("sessions", "change-me").await;
    assert_eq!(masters.len(), 1, "masters: {masters:?}");
    let (master, master_address) = masters[0].clone();
    let reply = redis_cli(
        &master_address,
        6379,
        Some("change-me"),
        &["info", "replication"],
    );
    assert_eq!(
        info_field(&reply, "connected_slaves").as_deref(),
        Some("2"),
        "{reply}"
    );
    assert_eq!(
        cluster.selected_by("sessions-master").await,
        vec![master.clone()]
    );

    // Sentinel: every sentinel monitors the replication set's master.
    let sentinels = pods_with(&client, "app=sessions-sentinel").await;
    assert_eq!(sentinels.len(), 3);
    for sentinel in &sentinels {
        let reply = redis_cli(
            &pod_ip(sentinel),
            26379,
            Some("change-me"),
            &["sentinel", "masters"],
        );
        assert!(
            reply.contains(&master_address),
            "sentinel {} does not monitor {master_address}: {reply}",
            sentinel.name_any()
        );
    }
    // The sentinels learn the replicas from the master's INFO, which the master answers only
    // to a client that authenticated: both replicas listed proves the auth-pass works.
    for sentinel in &sentinels {
        let address = pod_ip(sentinel);
        cluster
            .wait_for(
                &format!(
                    "sentinel {} sees both replicas of {master_address}",
                    sentinel.name_any()
                ),
                SENTINEL_DISCOVERY_LIMIT,
                async |_: &Cluster| {
                    let reply = redis_cli(&address, 26379, None, &["sentinel", "masters"]);
                    if reply.contains("num-slaves\n2\n") {
                        Ok(())
                    } else {
                        Err(reply)
                    }
                },
            )
            .await;
    }

    // Cluster: six nodes, every slot served, state ok.
    let leaders = pods_with(&client, "app=orders-leader").await;
    let followers = pods_with(&client, "app=orders-follower").await;
    assert_eq!((leaders.len(), followers.len()), (3, 3));
    // A master whose slots were just assigned reports cluster_state:fail until Redis's own
    // writable delay (about two seconds after it started) has passed; the operator may already
    // have reported Ready by then, so the state is polled for a bounded time.
    let leader_address = pod_ip(&leaders[0]);
    let reply = cluster
        .wait_for(
            "the cluster reports cluster_state:ok",
            CLUSTER_STATE_LIMIT,
            async |_: &Cluster| {
                let reply = redis_cli(&leader_address, 6379, None, &["cluster", "info"]);
                if info_field(&reply, "cluster_state").as_deref() == Some("ok") {
                    Ok(reply)
                } else {
                    Err(reply)
                }
            },
        )
        .await;
    assert_eq!(
        info_field(&reply, "cluster_slots_assigned").as_deref(),
        Some("16384"),
        "{reply}"
    );
    assert_eq!(
        info_field(&reply, "cluster_known_nodes").as_deref(),
        Some("6"),
        "{reply}"
    );
}

/// The column names and the cells of `resource` as the API server prints it for `kubectl get
/// -o wide` (a Table, every column whatever its priority).
async fn printed_row(client: &Client, resource: &Value) -> (Vec<String>, Vec<Value>) {
    let kind = resource["kind"].as_str().unwrap();
    let plural = Kind::from_name(kind)
        .map(|kind| custom_resource_definition(kind).spec.names.plural)
        .unwrap_or_else(|| panic!("not a kind of the operator: {kind}"));
    let name = resource["metadata"]["name"].as_str().unwrap();
    let request = http::Request::get(format!(
        "/apis/{}/namespaces/{NAMESPACE}/{plural}/{name}",
        resource["apiVersion"].as_str().unwrap()
    ))
    .header(
        http::header::ACCEPT,
        "application/json;as=Table;v=v1;g=meta.k8s.io",
    )
    .body(Vec::new())
    .unwrap();
    let table: Value = client
        .request(request)
        .await
        .unwrap_or_else(|error| panic!("failed to read {kind} {name} as a table: {error}"));
    let headers = table["columnDefinitions"]
        .as_array()
        .unwrap_or_else(|| panic!("not a table: {table}"))
        .iter()
        .map(|column| column["name"].as_str().unwrap().to_owned())
        .collect();
    let cells = table["rows"][0]["cells"]
        .as_array()
        .unwrap_or_else(|| panic!("no row: {table}"))
        .clone();
    (headers, cells)
}

/// The master's process of the sentinel-watched replication set dies and stays down: the
/// sentinels promote a replica, the operator labels it so the master Service routes to it alone
/// (the down pod is not Ready), and when the old pod's server comes back it replicates from the
/// new master with every acknowledged key and the master Service selects the new master only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_fails_over_and_the_master_service_follows() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(operator_binary()).await;
    let mut resources = cluster.apply_example("redis-replication.yaml").await;
    // The example as it is: the sentinels have no password of their own and reach the
    // password-protected servers with the auth-pass the operator reads from
    // `redisReplicationPassword`.
    let sentinel =
        documents(&workspace_root().join("deploy/examples/redis-sentinel.yaml")).remove(0);
    apply(
        &cluster.client,
        &cluster.discovery,
        &sentinel,
        NAMESPACE,
        false,
    )
    .await
    .unwrap();
    resources.push(sentinel);
    cluster.wait_until_ready(&resources, READY_LIMIT).await;

    let masters = cluster.replication_masters("sessions", "change-me").await;
    assert_eq!(masters.len(), 1, "masters: {masters:?}");
    let (old_master, old_address) = masters[0].clone();
    assert_eq!(
        cluster.selected_by("sessions-master").await,
        vec![old_master.clone()]
    );
    write_keys_acknowledged_by_both_replicas(&old_address);

    let killed = Instant::now();
    cluster.plane.kubelet().hold_down(NAMESPACE, &old_master);
    let (new_master, new_address) = loop {
        cluster.operator.assert_running();
        let masters = cluster.replication_masters("sessions", "change-me").await;
        // The down pod may keep its label (nobody can ask it its role), but it is not Ready,
        // so the Service routes to the new master alone.
        let selected = cluster.ready_selected_by("sessions-master").await;
        if let [(name, address)] = masters.as_slice()
            && *name != old_master
            && selected == vec![name.clone()]
        {
            break (name.clone(), address.clone());
        }
        assert!(
            killed.elapsed() < Duration::from_secs(90),
            "no failover 90 s after {old_master} went down: masters {masters:?}, master Service routes to {selected:?}\npods:\n{}\noperator log:\n{}",
            cluster.describe_pods().await,
            cluster.operator.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!(
        "{new_master} is master and the only Ready pod the master Service selects {:?} after {old_master} went down",
        killed.elapsed()
    );
    let keys = redis_cli(&new_address, 6379, Some("change-me"), &["dbsize"]);
    assert_eq!(
        keys.trim(),
        REPLICATION_KEYS.to_string(),
        "the new master has every acknowledged key"
    );

    // The old master's server comes back (empty: no persistence) and follows the new master.
    cluster.plane.kubelet().release(NAMESPACE, &old_master);
    let released = Instant::now();
    loop {
        cluster.operator.assert_running();
        let address = pods_with(
            &cluster.client,
            &format!("statefulset.kubernetes.io/pod-name={old_master}"),
        )
        .await
        .first()
        .and_then(|pod| pod.status.as_ref()?.pod_ip.clone())
        .unwrap();
        let reply = redis_cli(&address, 6379, Some("change-me"), &["info", "replication"]);
        let size = redis_cli(&address, 6379, Some("change-me"), &["dbsize"]);
        if info_field(&reply, "role").as_deref() == Some("slave")
            && info_field(&reply, "master_host").as_deref() == Some(new_address.as_str())
            && info_field(&reply, "master_link_status").as_deref() == Some("up")
            && size.trim() == REPLICATION_KEYS.to_string()
        {
            break;
        }
        assert!(
            released.elapsed() < Duration::from_secs(90),
            "{old_master} does not follow {new_master} 90 s after it came back: {reply}\noperator log:\n{}",
            cluster.operator.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Once the operator sees the old master's server as a replica, it relabels the pod.
    loop {
        let selected = cluster.selected_by("sessions-master").await;
        if selected == vec![new_master.clone()] {
            break;
        }
        assert!(
            released.elapsed() < Duration::from_secs(120),
            "the master Service still selects {selected:?}, not only {new_master}\noperator log:\n{}",
            cluster.operator.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    cluster.wait_until_ready(&resources, READY_LIMIT).await;
}

/// A change the API server refuses on a StatefulSet (a larger volume claim template) gets the
/// real 422: the operator reports it in a Warning Event and keeps the old StatefulSet; with the
/// recreate annotation it deletes the StatefulSet leaving its pod running and creates the new
/// one, which adopts the pod, and the CR is Ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_statefulset_update_is_reported_then_recreated_with_the_annotation() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(operator_binary()).await;
    let resources = cluster.apply_example("redis-standalone.yaml").await;
    cluster.wait_until_ready(&resources, READY_LIMIT).await;
    let statefulsets: Api<StatefulSet> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let original = statefulsets.get("cache").await.unwrap();
    let pod_before = pods_with(&cluster.client, "app=cache").await;
    assert_eq!(pod_before.len(), 1);
    let claim_size = |statefulset: &StatefulSet| {
        statefulset
            .spec
            .as_ref()
            .and_then(|spec| spec.volume_claim_templates.as_ref())
            .and_then(|templates| templates.first())
            .and_then(|claim| claim.spec.as_ref()?.resources.as_ref()?.requests.as_ref())
            .and_then(|requests| requests.get("storage"))
            .map(|quantity| quantity.0.clone())
    };
    assert_eq!(claim_size(&original).as_deref(), Some("1Gi"));

    // A larger claim template: the API server forbids that change of a StatefulSet.
    let redis = api_for(
        &cluster.client,
        &cluster.discovery,
        &resources[0],
        NAMESPACE,
    );
    redis
        .patch(
            "cache",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"storage": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "2Gi"}}}}}}})),
        )
        .await
        .unwrap();
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let changed = Instant::now();
    let rejection = loop {
        cluster.operator.assert_running();
        let found = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|event| event.reason.as_deref() == Some("UpdateRejected"));
        if let Some(event) = found {
            break event.note.unwrap_or_default();
        }
        assert!(
            changed.elapsed() < Duration::from_secs(60),
            "no UpdateRejected Event 60 s after the claim template grew\noperator log:\n{}",
            cluster.operator.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        rejection.contains("Forbidden") && rejection.contains("StatefulSet"),
        "the Event carries the API server's message: {rejection}"
    );
    let kept = statefulsets.get("cache").await.unwrap();
    assert_eq!(kept.metadata.uid, original.metadata.uid);
    assert_eq!(claim_size(&kept).as_deref(), Some("1Gi"));

    // With the annotation the StatefulSet is recreated around its running pod.
    redis
        .patch(
            "cache",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"annotations": {RECREATE_STATEFULSET_ANNOTATION: "true"}}})),
        )
        .await
        .unwrap();
    let annotated = Instant::now();
    loop {
        cluster.operator.assert_running();
        if let Some(recreated) = statefulsets.get_opt("cache").await.unwrap()
            && recreated.metadata.uid != original.metadata.uid
            && claim_size(&recreated).as_deref() == Some("2Gi")
        {
            break;
        }
        assert!(
            annotated.elapsed() < Duration::from_secs(60),
            "the StatefulSet was not recreated 60 s after the annotation\noperator log:\n{}",
            cluster.operator.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Not `wait_until_ready`: the operator then also grows the claim to 2Gi, which the API server
    // refuses for a volume no storage class provisions (403); that failure aborts every reconcile
    // before the status write, so the status stays at generation 1 (see docs/testing.md, "Found
    // by this tier").
    cluster
        .wait_until_ready_in_any_generation(&resources, READY_LIMIT)
        .await;
    let pod_after = pods_with(&cluster.client, "app=cache").await;
    assert_eq!(
        pod_after
            .iter()
            .map(|pod| pod.metadata.uid.clone())
            .collect::<Vec<_>>(),
        pod_before
            .iter()
            .map(|pod| pod.metadata.uid.clone())
            .collect::<Vec<_>>(),
        "the pod kept running through the recreation"
    );
    let current = statefulsets.get("cache").await.unwrap().metadata.uid;
    let owner = pod_after[0]
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default();
    assert!(
        owner
            .iter()
            .any(|reference| Some(&reference.uid) == current.as_ref()),
        "the new StatefulSet adopted the pod: {owner:?}"
    );
}

/// Keys written through the cluster before it is resized.
const CLUSTER_KEYS: usize = 500;
/// How long a resize gets to finish: the CR Ready for its new generation and the slots balanced
/// over the new masters.
const RESIZE_LIMIT: Duration = Duration::from_secs(240);
/// The cluster example's CR.
const CLUSTER_NAME: &str = "orders";
/// Its leaders' and followers' `app` labels and StatefulSet names.
const CLUSTER_LEADERS: &str = "orders-leader";
const CLUSTER_FOLLOWERS: &str = "orders-follower";
/// Redis's client port in the pods.
const REDIS_PORT: u16 = 6379;

/// What every node of the RedisCluster `orders` says, checked against `shards` masters with one
/// replica each: every pod of the leader and follower StatefulSets knows exactly `2 × shards`
/// nodes, `cluster_state:ok`, `shards` masters own all 16384 slots with at most one slot between
/// the largest and smallest share, no slot is migrating or importing. `Err` says what is off,
/// with the `CLUSTER NODES` of the node that said it.
async fn check_cluster_shape(client: &Client, shards: usize) -> Result<(), String> {
    let mut pods = pods_with(client, &format!("app={CLUSTER_LEADERS}")).await;
    pods.extend(pods_with(client, &format!("app={CLUSTER_FOLLOWERS}")).await);
    if pods.len() != 2 * shards {
        return Err(format!(
            "{} pods, expected {}: {:?}",
            pods.len(),
            2 * shards,
            pods.iter().map(ResourceExt::name_any).collect::<Vec<_>>()
        ));
    }
    for pod in &pods {
        let name = pod.name_any();
        let Some(address) = pod.status.as_ref().and_then(|status| status.pod_ip.clone()) else {
            return Err(format!("{name} has no address yet"));
        };
        let info = redis_cli(&address, REDIS_PORT, None, &["cluster", "info"]);
        if info_field(&info, "cluster_state").as_deref() != Some("ok") {
            return Err(format!("{name} says: {info}"));
        }
        let text = redis_cli(&address, REDIS_PORT, None, &["cluster", "nodes"]);
        let nodes = parse_cluster_nodes(&text)
            .map_err(|error| format!("{name}: unreadable CLUSTER NODES ({error}):\n{text}"))?;
        let owners: Vec<u32> = nodes
            .iter()
            .filter(|node| node.is_master() && node.slot_count() > 0)
            .map(|node| node.slot_count())
            .collect();
        let total: u32 = owners.iter().sum();
        let (smallest, largest) = (
            owners.iter().min().copied().unwrap_or(0),
            owners.iter().max().copied().unwrap_or(0),
        );
        let moving = nodes
            .iter()
            .any(|node| !node.migrating.is_empty() || !node.importing.is_empty());
        if nodes.len() != 2 * shards
            || owners.len() != shards
            || total != u32::from(SLOT_COUNT)
            || largest - smallest > 1
            || moving
        {
            return Err(format!(
                "{name} knows {} nodes, {} masters own {total} slots (shares {owners:?}), slots moving: {moving}; CLUSTER NODES:\n{text}",
                nodes.len(),
                owners.len()
            ));
        }
    }
    Ok(())
}

/// The address of a leader of the cluster, to enter it with `redis-cli -c`.
async fn cluster_entry(client: &Client) -> String {
    pod_ip(&pods_with(client, &format!("app={CLUSTER_LEADERS}")).await[0])
}

/// The keys each master of the cluster holds (`DBSIZE`), by pod name.
async fn keys_per_master(client: &Client) -> Vec<(String, u64)> {
    let mut counts = Vec::new();
    let mut pods = pods_with(client, &format!("app={CLUSTER_LEADERS}")).await;
    pods.extend(pods_with(client, &format!("app={CLUSTER_FOLLOWERS}")).await);
    for pod in pods {
        let address = pod_ip(&pod);
        let role = redis_cli(&address, REDIS_PORT, None, &["role"]);
        if role.lines().next() == Some("master") {
            let size = redis_cli(&address, REDIS_PORT, None, &["dbsize"]);
            counts.push((pod.name_any(), size.trim().parse().unwrap_or(0)));
        }
    }
    counts.sort();
    counts
}

/// Reads every test key back through the cluster and fails naming the first ones that are
/// missing or wrong, and when the masters hold more keys than were written (a copy left behind).
async fn assert_every_key_reads_back(client: &Client, after: &str) {
    let input: String = (0..CLUSTER_KEYS)
        .map(|index| format!("GET {}\n", key(index)))
        .collect();
    let replies = redis_cli_with_input(&cluster_entry(client).await, REDIS_PORT, true, &input);
    let wrong: Vec<String> = (0..CLUSTER_KEYS)
        .filter(|index| replies.get(*index) != Some(&value(*index)))
        .map(|index| format!("{} = {:?}", key(index), replies.get(index)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {CLUSTER_KEYS} keys do not read back after {after}; first: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    let counts = keys_per_master(client).await;
    let held: u64 = counts.iter().map(|(_, count)| count).sum();
    assert_eq!(
        held,
        u64::try_from(CLUSTER_KEYS).unwrap(),
        "the masters hold {counts:?} after {after}"
    );
    eprintln!("every key reads back after {after}; keys per master: {counts:?}");
}

/// Fails, saying `why`, unless the cluster has `masters` masters and each holds keys.
async fn assert_every_master_holds_keys(client: &Client, masters: usize, why: &str) {
    let counts = keys_per_master(client).await;
    assert!(
        counts.len() == masters && counts.iter().all(|(_, count)| *count > 0),
        "{why}: keys per master {counts:?}"
    );
}

/// Waits until the cluster is Ready for its current generation and has `shards` balanced
/// masters, with the `CLUSTER NODES` that disagreed on failure.
async fn wait_for_cluster_shape(cluster: &mut Cluster, resources: &[Value], shards: usize) {
    let started = Instant::now();
    cluster.wait_until_ready(resources, RESIZE_LIMIT).await;
    cluster
        .wait_for(
            &format!("the Ready cluster has {shards} balanced masters"),
            RESIZE_LIMIT,
            async |cluster: &Cluster| check_cluster_shape(&cluster.client, shards).await,
        )
        .await;
    eprintln!(
        "{shards} balanced masters, Ready, {:?} after the change",
        started.elapsed()
    );
}

/// Changes `spec.clusterSize` of the cluster example.
async fn resize_cluster(cluster: &Cluster, resources: &[Value], shards: i32) {
    api_for(
        &cluster.client,
        &cluster.discovery,
        &resources[0],
        NAMESPACE,
    )
    .patch(
        CLUSTER_NAME,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"clusterSize": shards}})),
    )
    .await
    .unwrap_or_else(|error| panic!("failed to set clusterSize {shards}: {error}"));
}

/// The cluster example (three shards, one follower each) with 500 keys written through the
/// cluster (`redis-cli -c`, so over every master) scales out to four shards: Ready again, four
/// masters own all 16384 slots evenly, every key reads back and the masters hold exactly the
/// keys written. Then back to three: three masters own every slot evenly, every node has
/// forgotten the departed ones, every key is still there, and the StatefulSets are back to three
/// replicas without the fourth shard's pods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_scales_out_and_back_in_keeping_every_key() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(operator_binary()).await;
    let resources = cluster.apply_example("redis-cluster.yaml").await;
    wait_for_cluster_shape(&mut cluster, &resources, 3).await;

    let input: String = (0..CLUSTER_KEYS)
        .map(|index| format!("SET {} {}\n", key(index), value(index)))
        .collect();
    let replies = redis_cli_with_input(
        &cluster_entry(&cluster.client).await,
        REDIS_PORT,
        true,
        &input,
    );
    assert_eq!(
        replies.iter().filter(|reply| *reply == "OK").count(),
        CLUSTER_KEYS,
        "replies to the writes: {replies:?}"
    );
    assert_every_master_holds_keys(&cluster.client, 3, "the keys are spread over the masters")
        .await;

    resize_cluster(&cluster, &resources, 4).await;
    wait_for_cluster_shape(&mut cluster, &resources, 4).await;
    assert_every_key_reads_back(&cluster.client, "the scale-out to 4 shards").await;
    assert_every_master_holds_keys(
        &cluster.client,
        4,
        "the new master received keys with its slots",
    )
    .await;

    resize_cluster(&cluster, &resources, 3).await;
    wait_for_cluster_shape(&mut cluster, &resources, 3).await;
    assert_every_key_reads_back(&cluster.client, "the scale-in to 3 shards").await;
    let statefulsets: Api<StatefulSet> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    for name in [CLUSTER_LEADERS, CLUSTER_FOLLOWERS] {
        let replicas = statefulsets
            .get(name)
            .await
            .unwrap()
            .spec
            .and_then(|spec| spec.replicas);
        assert_eq!(replicas, Some(3), "StatefulSet {name} replicas");
        assert!(
            pods_with(&cluster.client, &format!("{POD_NAME_LABEL}={name}-3"))
                .await
                .is_empty(),
            "pod {name}-3 is gone\n{}",
            cluster.context().await
        );
    }
}

/// The zone whose two nodes hold the drain test's pods.
const DRAINED_ZONE: &str = "zone-a";
/// How often a refused eviction is retried while the first pod is down (`kubectl drain` waits
/// 5 s; shorter keeps the test short).
const DRAIN_RETRY: Duration = Duration::from_secs(1);
/// How many times the second eviction is retried, and refused, while the first pod is down.
const HELD_RETRIES: usize = 3;
/// How long the second eviction may stay refused once the first pod may start again.
const EVICTION_LIMIT: Duration = Duration::from_secs(90);

/// The replication example's three pods are placed on the two nodes of one zone, then the node
/// holding two of them is drained as `kubectl drain` does: cordoned, and each pod evicted through
/// the policy/v1 Eviction subresource, retried while the API server refuses. With the budget's
/// `maxUnavailable: 1`, the first eviction succeeds; while the first pod's replacement is kept
/// from starting, the second one is refused with 429 naming the budget, on every retry; once the
/// replacement is Ready on the other node, it succeeds. The node ends empty, and the
/// RedisReplication is Ready again with every acknowledged key on its master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_drain_through_the_eviction_api_is_held_by_the_disruption_budget() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(operator_binary()).await;
    // Three pods on two nodes: one node holds two pods of the budget.
    let resources = apply_replication_example_with_node_selector(
        &cluster,
        serde_json::json!({ZONE_LABEL: DRAINED_ZONE}),
    )
    .await;
    cluster.wait_until_ready(&resources, READY_LIMIT).await;

    let masters = cluster.replication_masters("sessions", "change-me").await;
    assert_eq!(masters.len(), 1, "masters: {masters:?}");
    write_keys_acknowledged_by_both_replicas(&masters[0].1);

    // The budget allows one disruption once every pod is Ready (the disruption controller's
    // figure, which the Eviction API enforces).
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let budget = budgets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|budget| {
            budget
                .spec
                .as_ref()
                .and_then(|spec| spec.selector.as_ref()?.match_labels.as_ref()?.get("app"))
                .is_some_and(|app| app == "sessions")
        })
        .expect("a PodDisruptionBudget selects the pods of sessions")
        .name_any();
    let budget_ready = Instant::now();
    loop {
        let status = budgets
            .get(&budget)
            .await
            .unwrap()
            .status
            .unwrap_or_default();
        if status.current_healthy == 3 && status.disruptions_allowed == 1 {
            break;
        }
        assert!(
            budget_ready.elapsed() < Duration::from_secs(30),
            "the PodDisruptionBudget {budget} never allowed one disruption: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let on_node = |pods: &[Pod], node: &str| -> Vec<String> {
        let mut names: Vec<String> = pods
            .iter()
            .filter(|pod| {
                pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()) == Some(node)
            })
            .map(ResourceExt::name_any)
            .collect();
        names.sort();
        names
    };
    let pods = pods_with(&cluster.client, "app=sessions").await;
    let node = cluster
        .plane
        .nodes()
        .iter()
        .map(|node| node.name.clone())
        .max_by_key(|node| on_node(&pods, node).len())
        .unwrap();
    let drained = on_node(&pods, &node);
    assert!(
        drained.len() >= 2,
        "one node of {DRAINED_ZONE} holds two or three of the three pods\n{}",
        cluster.context().await
    );

    // Cordon, as `kubectl drain` does first, so the evicted pods come back on the other node.
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    nodes
        .patch(
            &node,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();

    let pods_api: Api<Pod> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let evict = |name: String| {
        let pods_api = pods_api.clone();
        async move { pods_api.evict(&name, &EvictParams::default()).await }
    };
    let first_evicted = Instant::now();
    evict(drained[0].clone())
        .await
        .unwrap_or_else(|error| panic!("the first eviction, within the budget, failed: {error}"));
    // The first pod's replacement is kept from starting until it is released, as a pod slow to
    // start on its new node: the stand-in kubelet otherwise has it Ready again within about two
    // seconds, and the budget with it. The hold is by name, so it covers the replacement the
    // StatefulSet controller creates once the evicted pod is gone. It starts after the eviction:
    // held before, the pod's server stops at once, and under load its probe could fail three
    // times before the eviction arrives, leaving the budget no disruption to allow.
    cluster.plane.kubelet().hold_down(NAMESPACE, &drained[0]);
    let refused = |result: Result<_, kube::Error>, when: &str| match result {
        Err(kube::Error::Api(response)) if response.code == 429 => assert!(
            response.message.contains("disruption budget"),
            "the refusal names the budget: {response:?}"
        ),
        other => panic!(
            "evicting {} {when} must exceed the budget (429), got {other:?}",
            drained[1]
        ),
    };
    refused(
        evict(drained[1].clone()).await,
        &format!(
            "right after {} ({:?} later)",
            drained[0],
            first_evicted.elapsed()
        ),
    );
    // `kubectl drain` retries a refused eviction: refused as long as the first pod is down.
    for _ in 0..HELD_RETRIES {
        tokio::time::sleep(DRAIN_RETRY).await;
        refused(
            evict(drained[1].clone()).await,
            &format!("while {} is down", drained[0]),
        );
    }
    let budget_status = budgets
        .get(&budget)
        .await
        .unwrap()
        .status
        .unwrap_or_default();
    assert_eq!(
        (
            budget_status.current_healthy,
            budget_status.disruptions_allowed
        ),
        (2, 0),
        "the budget counts two healthy pods and allows no disruption: {budget_status:?}"
    );
    cluster.plane.kubelet().release(NAMESPACE, &drained[0]);
    let released = Instant::now();
    let mut refusals = 1 + HELD_RETRIES;
    cluster
        .wait_for(
            &format!(
                "{} evicted after {} may start again",
                drained[1], drained[0]
            ),
            EVICTION_LIMIT,
            async |_: &Cluster| match evict(drained[1].clone()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(response)) if response.code == 429 => {
                    refusals += 1;
                    Err(format!(
                        "refused: {}; budget {:?}",
                        response.message,
                        budgets.get(&budget).await.unwrap().status
                    ))
                }
                Err(error) => panic!("evicting {} failed: {error}", drained[1]),
            },
        )
        .await;
    eprintln!(
        "{} evicted {:?} after {} was let start again, {:?} after it was evicted ({refusals} refusals)",
        drained[1],
        released.elapsed(),
        drained[0],
        first_evicted.elapsed()
    );
    // When the scheduler put all three pods on this node, the third goes the same way, once the
    // second one's replacement is Ready.
    for pod in &drained[2..] {
        cluster
            .wait_for(
                &format!("{pod} evicted"),
                EVICTION_LIMIT,
                async |_: &Cluster| {
                    evict(pod.clone())
                        .await
                        .map(|_| ())
                        .map_err(|error| format!("eviction refused: {error}"))
                },
            )
            .await;
    }
    // The first pod was back and Ready on another node when the second eviction got through.
    let first = pods_api.get(&drained[0]).await.unwrap();
    assert_ne!(
        first.spec.as_ref().and_then(|spec| spec.node_name.clone()),
        Some(node.clone()),
        "{} came back on the cordoned node",
        drained[0]
    );

    cluster.wait_until_ready(&resources, READY_LIMIT).await;
    let pods = pods_with(&cluster.client, "app=sessions").await;
    assert!(
        on_node(&pods, &node).is_empty() && pods.len() == 3 && pods.iter().all(pod_is_ready),
        "the drained node is empty and three pods are Ready elsewhere\n{}",
        cluster.context().await
    );
    let masters = cluster.replication_masters("sessions", "change-me").await;
    assert_eq!(masters.len(), 1, "masters: {masters:?}");
    let keys = redis_cli(&masters[0].1, REDIS_PORT, Some("change-me"), &["dbsize"]);
    assert_eq!(
        keys.trim(),
        REPLICATION_KEYS.to_string(),
        "the master {} has every acknowledged key after the drain",
        masters[0].0
    );
}

/// How long a deleted CR's objects, pods and claims get to go.
const DELETION_LIMIT: Duration = Duration::from_secs(90);

/// The objects of kind `K` in the examples' namespace that name `owner_uid` as their owner, as
/// `Kind/name`.
async fn owned_of_kind<K>(client: &Client, owner_uid: &str) -> Vec<String>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), NAMESPACE);
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|object| {
            object
                .meta()
                .owner_references
                .iter()
                .flatten()
                .any(|owner| owner.uid == owner_uid)
        })
        .map(|object| format!("{}/{}", K::kind(&()), object.name_any()))
        .collect()
}

/// The StatefulSets, Services, ConfigMaps and PodDisruptionBudgets that name the CR with
/// `owner_uid` as their owner, as `Kind/name`.
async fn owned_objects(client: &Client, owner_uid: &str) -> Vec<String> {
    let mut owned = owned_of_kind::<StatefulSet>(client, owner_uid).await;
    owned.extend(owned_of_kind::<Service>(client, owner_uid).await);
    owned.extend(owned_of_kind::<ConfigMap>(client, owner_uid).await);
    owned.extend(owned_of_kind::<PodDisruptionBudget>(client, owner_uid).await);
    owned.sort();
    owned
}

/// The claims the pods of `app` mount.
async fn claims_of(client: &Client, app: &str) -> Vec<String> {
    let mut claims: Vec<String> = pods_with(client, &format!("app={app}"))
        .await
        .iter()
        .filter_map(|pod| pod.spec.as_ref()?.volumes.clone())
        .flatten()
        .filter_map(|volume| Some(volume.persistent_volume_claim?.claim_name))
        .collect();
    claims.sort();
    claims
}

/// The replication example (budget enabled, no `keepAfterDelete`) and the standalone example with
/// `spec.storage.keepAfterDelete: true` are deleted. The operator lets each go (finalizer
/// removed); the garbage collector removes their StatefulSets, Services, ConfigMaps and budget,
/// and the pods with their StatefulSets. The replication set's claims are deleted with it; the
/// standalone server's claim stays, bound, with the data its server wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_resource_collects_what_it_owns_and_keeps_claims_only_when_asked() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(operator_binary()).await;
    let mut resources = cluster.apply_example("redis-replication.yaml").await;
    let mut kept =
        documents(&workspace_root().join("deploy/examples/redis-standalone.yaml")).remove(0);
    kept["spec"]["storage"]["keepAfterDelete"] = Value::Bool(true);
    apply(&cluster.client, &cluster.discovery, &kept, NAMESPACE, false)
        .await
        .unwrap();
    resources.push(kept);
    cluster.wait_until_ready(&resources, READY_LIMIT).await;

    // What each CR owns and mounts before the deletion.
    let mut before = Vec::new();
    for (document, apps) in resources.iter().zip([&["sessions"][..], &["cache"][..]]) {
        let live = cluster.live(document).await;
        let name = live.name_any();
        assert!(
            !live.finalizers().is_empty(),
            "{name} carries the operator's finalizer: {:?}",
            live.finalizers()
        );
        let uid = live.uid().unwrap();
        let owned = owned_objects(&cluster.client, &uid).await;
        for kind in ["StatefulSet/", "Service/", "ConfigMap/"] {
            assert!(
                owned.iter().any(|object| object.starts_with(kind)),
                "{name} owns a {kind}: {owned:?}"
            );
        }
        let mut claims = Vec::new();
        for app in apps {
            claims.extend(claims_of(&cluster.client, app).await);
        }
        assert!(!claims.is_empty(), "the pods of {name} mount claims");
        before.push((document.clone(), name, uid, owned, claims));
    }
    assert!(
        before[0]
            .3
            .iter()
            .any(|object| object.starts_with("PodDisruptionBudget/")),
        "sessions owns its budget: {:?}",
        before[0].3
    );
    // A key on the kept claim, saved to disk, so the claim holds the server's data.
    let cache = pods_with(&cluster.client, "app=cache").await;
    let cache_address = pod_ip(&cache[0]);
    assert_eq!(
        redis_cli(&cache_address, REDIS_PORT, None, &["set", "kept", "yes"]).trim(),
        "OK"
    );
    assert_eq!(
        redis_cli(&cache_address, REDIS_PORT, None, &["save"]).trim(),
        "OK"
    );

    for (document, name, ..) in &before {
        api_for(&cluster.client, &cluster.discovery, document, NAMESPACE)
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|error| panic!("failed to delete {name}: {error}"));
    }
    let deleted = Instant::now();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    cluster
        .wait_for(
            "the deleted CRs, what they own, their pods and the claims not kept are gone",
            DELETION_LIMIT,
            async |cluster: &Cluster| {
                let mut remaining = Vec::new();
                for (document, name, uid, _, claim_names) in &before {
                    let api = api_for(&cluster.client, &cluster.discovery, document, NAMESPACE);
                    if let Some(live) = api.get_opt(name).await.unwrap() {
                        remaining.push(format!(
                            "{name} itself (finalizers {:?})",
                            live.finalizers()
                        ));
                    }
                    remaining.extend(owned_objects(&cluster.client, uid).await);
                    if *name == "sessions" {
                        for claim in claim_names {
                            if let Some(live) = claims.get_opt(claim).await.unwrap() {
                                remaining.push(format!(
                                    "PersistentVolumeClaim/{claim} (deleting: {})",
                                    live.metadata.deletion_timestamp.is_some()
                                ));
                            }
                        }
                    }
                }
                let pods = pods_with(&cluster.client, "").await;
                remaining.extend(pods.iter().map(|pod| format!("Pod/{}", pod.name_any())));
                if remaining.is_empty() {
                    Ok(())
                } else {
                    Err(format!("still there: {remaining:?}"))
                }
            },
        )
        .await;
    eprintln!(
        "both CRs, what they own and the replication set's claims gone {:?} after the deletion",
        deleted.elapsed()
    );

    // The kept claim is still there, not being deleted, bound to its volume with the data.
    for claim in &before[1].4 {
        let live =
            claims.get_opt(claim).await.unwrap().unwrap_or_else(|| {
                panic!("the claim {claim} of cache (keepAfterDelete) was deleted")
            });
        assert!(
            live.metadata.deletion_timestamp.is_none(),
            "the claim {claim} of cache (keepAfterDelete) is being deleted"
        );
        assert_eq!(
            live.status.and_then(|status| status.phase).as_deref(),
            Some("Bound"),
            "the claim {claim} stays bound"
        );
    }
    // The standalone server created again under the same name mounts the kept claim and loads
    // what it saved.
    apply(
        &cluster.client,
        &cluster.discovery,
        &before[1].0,
        NAMESPACE,
        false,
    )
    .await
    .unwrap();
    let recreated = vec![before[1].0.clone()];
    cluster.wait_until_ready(&recreated, READY_LIMIT).await;
    assert_eq!(
        claims_of(&cluster.client, "cache").await,
        before[1].4,
        "the new pod mounts the kept claim"
    );
    let cache = pods_with(&cluster.client, "app=cache").await;
    assert_eq!(
        redis_cli(&pod_ip(&cache[0]), REDIS_PORT, None, &["get", "kept"]).trim(),
        "yes",
        "the server created again loads the data saved on the kept claim"
    );
}

/// Applies `deploy/examples/redis-replication.yaml` with the RedisReplication's nodeSelector set
/// to `node_selector`; returns the RedisReplication as applied.
async fn apply_replication_example_with_node_selector(
    cluster: &Cluster,
    node_selector: Value,
) -> Vec<Value> {
    let path = workspace_root().join("deploy/examples/redis-replication.yaml");
    let mut resources = Vec::new();
    for mut document in documents(&path) {
        if document["kind"] == "RedisReplication" {
            document["spec"]["nodeSelector"] = node_selector.clone();
            resources.push(document.clone());
        }
        apply(
            &cluster.client,
            &cluster.discovery,
            &document,
            NAMESPACE,
            false,
        )
        .await
        .unwrap_or_else(|error| panic!("{} rejected: {error}", path.display()));
    }
    resources
}

/// A label no node has: a pod whose nodeSelector asks for it stays Pending.
const MISSING_NODE_LABEL: (&str, &str) = ("disk", "nvme");

/// A replication set created with a nodeSelector no node matches, then fixed by the user. Its
/// StatefulSet is OnDelete, whose current revision stays the first one (Kubernetes advances it
/// only when a RollingUpdate completes), so the Pending pods run that current revision while the
/// controller would create them from the update revision: the operator replaces them, and the set
/// becomes Ready. (Before, it kept pods of the current revision as ones the controller would
/// create again, and they stayed Pending forever.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replication_set_created_unschedulable_becomes_ready_once_fixed() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(operator_binary()).await;
    let resources = apply_replication_example_with_node_selector(
        &cluster,
        serde_json::json!({MISSING_NODE_LABEL.0: MISSING_NODE_LABEL.1}),
    )
    .await;
    let replication = resources[0].clone();
    cluster
        .wait_for(
            "the set reports its pods cannot be scheduled",
            Duration::from_secs(60),
            async |cluster: &Cluster| {
                let live = cluster.live(&replication).await;
                let degraded = live
                    .data
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .and_then(|conditions| {
                        conditions
                            .iter()
                            .find(|condition| condition["type"] == "Degraded")
                    })
                    .cloned()
                    .unwrap_or(Value::Null);
                if degraded["reason"] == "PodUnschedulable" {
                    Ok(())
                } else {
                    Err(format!("Degraded is {degraded}"))
                }
            },
        )
        .await;
    let api = api_for(&cluster.client, &cluster.discovery, &replication, NAMESPACE);
    api.patch(
        "sessions",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"nodeSelector": null}})),
    )
    .await
    .unwrap();
    cluster.wait_until_ready(&resources, READY_LIMIT).await;
    let masters = cluster.replication_masters("sessions", "change-me").await;
    assert_eq!(masters.len(), 1, "masters: {masters:?}");
    let statefulsets: Api<StatefulSet> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let status = statefulsets
        .get("sessions")
        .await
        .unwrap()
        .status
        .unwrap_or_default();
    assert_ne!(
        status.current_revision, status.update_revision,
        "the case this test is about: under OnDelete the current revision is still the first one"
    );
}
