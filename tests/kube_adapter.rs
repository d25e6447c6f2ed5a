//! The production Kubernetes adapter against an in-process mock API server: the exact HTTP
//! requests it sends (method, path, query, content type, body) and how it maps error responses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

use std::collections::BTreeMap;

use http::{Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use redis_operator::adapters::kube::KubeAdapter;
use redis_operator::ports::kube::{
    ApiError, EventRecord, EventType, KubeApi, ObjectRef, Propagation, ResourceType,
};
use serde_json::{Value, json};
use tower_test::mock::{self, Handle};

type MockHandle = Handle<Request<Body>, Response<Body>>;

/// A request as the mock API server saw it.
#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    content_type: Option<String>,
    body: Value,
}

fn adapter() -> (KubeAdapter, MockHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    (
        KubeAdapter::new(client, Some("operator-0".to_owned())),
        handle,
    )
}

/// Takes the next request and answers it with `status` and `body`.
async fn answer(handle: &mut MockHandle, status: u16, body: Value) -> Seen {
    let (request, respond) = handle.next_request().await.expect("a request");
    let (parts, request_body) = request.into_parts();
    let bytes = request_body.collect_bytes().await.unwrap();
    let query = parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key.to_owned(), value.to_owned())
        })
        .collect();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query,
        content_type: parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap().to_owned()),
        body: if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        },
    };
    let response = Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    respond.send_response(response);
    seen
}

fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    })
}

fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

fn statefulset() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": { "name": "cache", "namespace": "shop" },
        "spec": { "replicas": 3 },
    })
}

static CLUSTER: std::sync::LazyLock<ObjectRef> =
    std::sync::LazyLock::new(|| ObjectRef::new(ResourceType::RedisCluster, "shop", "cache"));

#[tokio::test]
async fn apply_is_a_forced_server_side_apply_under_the_operator_field_manager() {
    let (adapter, mut handle) = adapter();
    let object = statefulset();
    let (result, seen) = tokio::join!(
        adapter.apply(&object),
        answer(&mut handle, 200, statefulset())
    );
    assert_eq!(result.unwrap(), statefulset());
    assert_eq!(seen.method, "PATCH");
    assert_eq!(
        seen.path,
        "/apis/apps/v1/namespaces/shop/statefulsets/cache"
    );
    assert_eq!(
        seen.query,
        query(&[("fieldManager", "redis-operator"), ("force", "true")])
    );
    assert_eq!(
        seen.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(seen.body, object);
}

#[tokio::test]
async fn status_apply_goes_through_the_status_subresource_with_force_and_its_precondition() {
    let (adapter, mut handle) = adapter();
    let status = json!({ "state": "Ready", "readyLeaderReplicas": 3 });
    let (result, seen) = tokio::join!(
        adapter.apply_status(&CLUSTER, &status, Some("41")),
        answer(&mut handle, 200, json!({ "status": status }))
    );
    result.unwrap();
    assert_eq!(seen.method, "PATCH");
    assert_eq!(
        seen.path,
        "/apis/redis.redis.opstreelabs.in/v1beta2/namespaces/shop/redisclusters/cache/status"
    );
    assert_eq!(
        seen.query,
        query(&[("fieldManager", "redis-operator"), ("force", "true")])
    );
    assert_eq!(
        seen.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(
        seen.body,
        json!({
            "apiVersion": "redis.redis.opstreelabs.in/v1beta2",
            "kind": "RedisCluster",
            "metadata": { "name": "cache", "namespace": "shop", "resourceVersion": "41" },
            "status": status,
        })
    );
}

#[tokio::test]
async fn get_returns_the_object_and_none_when_it_does_not_exist() {
    let (adapter, mut handle) = adapter();
    let pod = ObjectRef::new(ResourceType::Pod, "shop", "cache-leader-0");
    let live =
        json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "cache-leader-0" } });
    let (result, seen) = tokio::join!(adapter.get(&pod), answer(&mut handle, 200, live.clone()));
    assert_eq!(result.unwrap(), Some(live));
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/api/v1/namespaces/shop/pods/cache-leader-0");
    assert_eq!(seen.body, Value::Null);

    let (result, _) = tokio::join!(
        adapter.get(&pod),
        answer(
            &mut handle,
            404,
            status_body(404, "NotFound", "pods \"cache-leader-0\" not found")
        )
    );
    assert_eq!(result.unwrap(), None);
}

#[tokio::test]
async fn list_selects_by_labels_and_names_every_item_by_api_version_and_kind() {
    let (adapter, mut handle) = adapter();
    let labels = BTreeMap::from([
        ("app.kubernetes.io/instance".to_owned(), "cache".to_owned()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "redis-operator".to_owned(),
        ),
    ]);
    let list = json!({
        "apiVersion": "v1", "kind": "ConfigMapList", "metadata": {},
        "items": [
            { "metadata": { "name": "zeta", "namespace": "shop" } },
            { "metadata": { "name": "alpha", "namespace": "shop" } },
        ],
    });
    let (result, seen) = tokio::join!(
        adapter.list(ResourceType::ConfigMap, "shop", &labels),
        answer(&mut handle, 200, list)
    );
    let items = result.unwrap();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/api/v1/namespaces/shop/configmaps");
    assert_eq!(
        seen.query,
        query(&[(
            "labelSelector",
            "app.kubernetes.io%2Finstance%3Dcache%2Capp.kubernetes.io%2Fmanaged-by%3Dredis-operator"
        )])
    );
    let names: Vec<&str> = items
        .iter()
        .map(|item| item["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "zeta"]);
    for item in &items {
        assert_eq!(item["apiVersion"], "v1");
        assert_eq!(item["kind"], "ConfigMap");
        assert!(ObjectRef::of(item).is_some());
    }
}

#[tokio::test]
async fn delete_sends_each_propagation_policy_and_a_missing_object_is_not_an_error() {
    let (adapter, mut handle) = adapter();
    let statefulset = ObjectRef::new(ResourceType::StatefulSet, "shop", "cache-leader");
    for (propagation, policy) in [
        (Propagation::Background, "Background"),
        (Propagation::Foreground, "Foreground"),
        (Propagation::Orphan, "Orphan"),
    ] {
        let (result, seen) = tokio::join!(
            adapter.delete(&statefulset, propagation),
            answer(&mut handle, 200, status_body(200, "", ""))
        );
        result.unwrap();
        assert_eq!(seen.method, "DELETE");
        assert_eq!(
            seen.path,
            "/apis/apps/v1/namespaces/shop/statefulsets/cache-leader"
        );
        assert_eq!(seen.body["propagationPolicy"], policy, "{:?}", seen.body);
    }
    let (result, _) = tokio::join!(
        adapter.delete(&statefulset, Propagation::Background),
        answer(&mut handle, 404, status_body(404, "NotFound", "gone"))
    );
    result.unwrap();
}

#[tokio::test]
async fn evict_posts_a_policy_v1_eviction_and_maps_a_disruption_budget_refusal_to_too_many_requests()
 {
    let (adapter, mut handle) = adapter();
    let pod = ObjectRef::new(ResourceType::Pod, "shop", "cache-leader-1");
    let (result, seen) = tokio::join!(
        adapter.evict(&pod),
        answer(&mut handle, 201, status_body(201, "", ""))
    );
    result.unwrap();
    assert_eq!(seen.method, "POST");
    assert_eq!(
        seen.path,
        "/api/v1/namespaces/shop/pods/cache-leader-1/eviction"
    );
    assert_eq!(seen.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        seen.body,
        json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": { "name": "cache-leader-1", "namespace": "shop" },
        })
    );

    let message = "Cannot evict pod as it would violate the pod's disruption budget.";
    let (result, _) = tokio::join!(
        adapter.evict(&pod),
        answer(
            &mut handle,
            429,
            status_body(429, "TooManyRequests", message)
        )
    );
    assert_eq!(
        result.unwrap_err(),
        ApiError::TooManyRequests {
            object: "Pod shop/cache-leader-1".to_owned(),
            action: "evict".to_owned(),
            message: message.to_owned(),
        }
    );
}

#[tokio::test]
async fn an_event_is_an_events_k8s_io_v1_event_naming_the_object_and_its_uid() {
    let (adapter, mut handle) = adapter();
    let event = EventRecord {
        regarding: CLUSTER.clone(),
        event_type: EventType::Warning,
        reason: "ScalingIn".to_owned(),
        message: "moving 5461 slots off cache-leader-2".to_owned(),
    };
    let live = json!({
        "apiVersion": "redis.redis.opstreelabs.in/v1beta2", "kind": "RedisCluster",
        "metadata": { "name": "cache", "namespace": "shop", "uid": "1234-5678" },
    });
    let (result, (lookup, seen)) = tokio::join!(adapter.publish_event(&event), async {
        let lookup = answer(&mut handle, 200, live).await;
        let seen = answer(&mut handle, 201, json!({})).await;
        (lookup, seen)
    });
    result.unwrap();
    assert_eq!(lookup.method, "GET");
    assert_eq!(
        lookup.path,
        "/apis/redis.redis.opstreelabs.in/v1beta2/namespaces/shop/redisclusters/cache"
    );
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/apis/events.k8s.io/v1/namespaces/shop/events");
    let body = &seen.body;
    assert_eq!(body["type"], "Warning");
    assert_eq!(body["reason"], "ScalingIn");
    assert_eq!(body["note"], "moving 5461 slots off cache-leader-2");
    assert_eq!(body["action"], "Reconcile");
    assert_eq!(body["reportingController"], "redis-operator");
    assert_eq!(body["reportingInstance"], "operator-0");
    assert_eq!(
        body["regarding"],
        json!({
            "apiVersion": "redis.redis.opstreelabs.in/v1beta2",
            "kind": "RedisCluster",
            "name": "cache",
            "namespace": "shop",
            "uid": "1234-5678",
        })
    );
    assert_eq!(body["metadata"]["namespace"], "shop");
    assert!(
        body["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("cache.")
    );
}

#[tokio::test]
async fn removing_a_finalizer_is_a_json_patch_guarded_by_a_test_of_the_entry() {
    let (adapter, mut handle) = adapter();
    let live = json!({
        "apiVersion": "redis.redis.opstreelabs.in/v1beta2", "kind": "RedisCluster",
        "metadata": {
            "name": "cache", "namespace": "shop",
            "finalizers": ["example.com/other", "redisClusterFinalizer"],
        },
    });
    let (result, (lookup, seen)) = tokio::join!(
        adapter.remove_finalizer(&CLUSTER, "redisClusterFinalizer"),
        async {
            let lookup = answer(&mut handle, 200, live.clone()).await;
            let seen = answer(&mut handle, 200, live.clone()).await;
            (lookup, seen)
        }
    );
    result.unwrap();
    assert_eq!(lookup.method, "GET");
    assert_eq!(seen.method, "PATCH");
    assert_eq!(
        seen.path,
        "/apis/redis.redis.opstreelabs.in/v1beta2/namespaces/shop/redisclusters/cache"
    );
    assert_eq!(
        seen.content_type.as_deref(),
        Some("application/json-patch+json")
    );
    assert_eq!(
        seen.body,
        json!([
            { "op": "test", "path": "/metadata/finalizers/1", "value": "redisClusterFinalizer" },
            { "op": "remove", "path": "/metadata/finalizers/1" },
        ])
    );

    // A concurrent change makes the test fail: a conflict, not a removal of the wrong entry.
    let (result, _) = tokio::join!(
        adapter.remove_finalizer(&CLUSTER, "redisClusterFinalizer"),
        async {
            answer(&mut handle, 200, live.clone()).await;
            answer(
                &mut handle,
                422,
                status_body(
                    422,
                    "Invalid",
                    "the server rejected our request: testing value failed",
                ),
            )
            .await
        }
    );
    assert!(
        matches!(result, Err(ApiError::Conflict { .. })),
        "{result:?}"
    );

    // Without the finalizer (or the object) there is nothing to send.
    let without = json!({ "metadata": { "name": "cache", "finalizers": ["example.com/other"] } });
    let (result, _) = tokio::join!(
        adapter.remove_finalizer(&CLUSTER, "redisClusterFinalizer"),
        answer(&mut handle, 200, without)
    );
    result.unwrap();
    let (result, _) = tokio::join!(
        adapter.remove_finalizer(&CLUSTER, "redisClusterFinalizer"),
        answer(&mut handle, 404, status_body(404, "NotFound", "gone"))
    );
    result.unwrap();
}

#[tokio::test]
async fn error_responses_map_to_the_port_classes_naming_the_object() {
    let (adapter, mut handle) = adapter();
    let object = statefulset();
    let cases = [
        (
            404,
            "NotFound",
            "statefulsets.apps \"cache\" not found",
            ApiError::NotFound {
                object: "StatefulSet shop/cache".to_owned(),
            },
        ),
        (
            409,
            "Conflict",
            "Apply failed with 1 conflict",
            ApiError::Conflict {
                object: "StatefulSet shop/cache".to_owned(),
                message: "Apply failed with 1 conflict".to_owned(),
            },
        ),
        (
            422,
            "Invalid",
            "StatefulSet.apps \"cache\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas' are forbidden",
            ApiError::Invalid {
                object: "StatefulSet shop/cache".to_owned(),
                message: "StatefulSet.apps \"cache\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas' are forbidden".to_owned(),
            },
        ),
        (
            429,
            "TooManyRequests",
            "slow down",
            ApiError::TooManyRequests {
                object: "StatefulSet shop/cache".to_owned(),
                action: "apply".to_owned(),
                message: "slow down".to_owned(),
            },
        ),
    ];
    for (code, reason, message, expected) in cases {
        let (result, _) = tokio::join!(
            adapter.apply(&object),
            answer(&mut handle, code, status_body(code, reason, message))
        );
        assert_eq!(result.unwrap_err(), expected, "HTTP {code}");
    }
    let (result, _) = tokio::join!(
        adapter.apply(&object),
        answer(
            &mut handle,
            500,
            status_body(500, "InternalError", "etcdserver: request timed out")
        )
    );
    match result.unwrap_err() {
        ApiError::Transient {
            object,
            action,
            message,
        } => {
            assert_eq!(object, "StatefulSet shop/cache");
            assert_eq!(action, "apply");
            assert!(
                message.contains("etcdserver: request timed out"),
                "{message}"
            );
            assert!(message.contains("500"), "{message}");
        }
        other => panic!("expected a transient error, got {other:?}"),
    }
}
