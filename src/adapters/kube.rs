//! The Kubernetes port over `kube::Client`: every call is one (or, for finalizer removal and
//! Events, two) plain API requests whose JSON travels untouched between the API server and the
//! reconcile.
//!
//! Writes are server-side applies under the one field manager [`FIELD_MANAGER`], forced, so the
//! operator owns the fields it sets; the status goes through the status subresource. API errors
//! are mapped onto the port's `ApiError` classes with the object named. This module must not
//! retry, cache decisions or interpret objects: the reconcile decides what every error means.

use crate::json_pointer::JsonPointer;
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::api::{DeleteParams, GetParams, ListParams, Patch, PatchParams, PropagationPolicy};
use kube::core::Request as RequestBuilder;
use kube::runtime::events::{Event, EventType as RecorderEventType, Recorder, Reporter};
use serde_json::{Value, json};

use crate::ports::kube::{
    ApiError, EventRecord, EventType, KubeApi, ObjectRef, Propagation, ResourceType,
};
use crate::resources::names::{EVENT_ACTION, EVENT_REPORTING_CONTROLLER, FIELD_MANAGER};

/// Content type of a JSON patch (RFC 6902).
const JSON_PATCH_CONTENT_TYPE: &str = "application/json-patch+json";

/// The production `KubeApi`: a `kube::Client` and an Event recorder reporting as
/// [`EVENT_REPORTING_CONTROLLER`].
#[derive(Clone)]
pub struct KubeAdapter {
    client: Client,
    recorder: Recorder,
}

impl KubeAdapter {
    /// An adapter over `client`; `instance` names this replica in Events (`reportingInstance`),
    /// usually the pod name.
    pub fn new(client: Client, instance: Option<String>) -> KubeAdapter {
        let reporter = Reporter {
            controller: EVENT_REPORTING_CONTROLLER.to_owned(),
            instance,
        };
        KubeAdapter {
            recorder: Recorder::new(client.clone(), reporter),
            client,
        }
    }

    /// The client, for the controller's watches.
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn send(
        &self,
        request: Result<http::Request<Vec<u8>>, kube::core::request::Error>,
        object: &str,
        action: &str,
    ) -> Result<Value, ApiError> {
        send_request(&self.client, request, object, action).await
    }
}

/// The path of the collection of `resource` objects in `namespace` (all namespaces when empty).
pub fn collection_path(resource: ResourceType, namespace: &str) -> String {
    let prefix = match resource.api_version() {
        "v1" => "/api/v1".to_owned(),
        group_version => format!("/apis/{group_version}"),
    };
    if resource.namespaced() && !namespace.is_empty() {
        format!("{prefix}/namespaces/{namespace}/{}", resource.plural())
    } else {
        format!("{prefix}/{}", resource.plural())
    }
}

fn builder(object: &ObjectRef) -> RequestBuilder {
    RequestBuilder::new(collection_path(object.resource, &object.namespace))
}

/// Sends a built request and reads the JSON reply; a request that could not be built, or an API
/// error, becomes the port's error naming `object` and `action`.
pub async fn send_request<E: std::fmt::Display>(
    client: &Client,
    request: Result<http::Request<Vec<u8>>, E>,
    object: &str,
    action: &str,
) -> Result<Value, ApiError> {
    let request = request.map_err(|error| ApiError::Transient {
        object: object.to_owned(),
        action: action.to_owned(),
        message: format!("failed to build the request: {error}"),
    })?;
    client
        .request::<Value>(request)
        .await
        .map_err(|error| api_error(error, object, action))
}

/// Maps a client error onto the port's classes, naming `object` and what was attempted.
pub fn api_error(error: kube::Error, object: &str, action: &str) -> ApiError {
    let object = object.to_owned();
    let action = action.to_owned();
    match error {
        kube::Error::Api(status) => {
            let message = status.message.clone();
            match status.code {
                404 => ApiError::NotFound { object },
                409 => ApiError::Conflict { object, message },
                422 => ApiError::Invalid { object, message },
                429 => ApiError::TooManyRequests {
                    object,
                    action,
                    message,
                },
                code => ApiError::Transient {
                    object,
                    action,
                    message: format!("{message} (HTTP {code}, reason {:?})", status.reason),
                },
            }
        }
        other => ApiError::Transient {
            object,
            action,
            message: other.to_string(),
        },
    }
}

/// `key=value,...` of a label selector requiring all of `labels`.
fn label_selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Items of a list response; a list's items carry no `apiVersion` and `kind`, so they are set
/// here (the reconcile names objects by them).
fn list_items(list: Value, resource: ResourceType) -> Vec<Value> {
    let mut items: Vec<Value> = match list {
        Value::Object(mut map) => match map.remove("items") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    for item in &mut items {
        if let Some(map) = item.as_object_mut() {
            map.insert("apiVersion".to_owned(), Value::from(resource.api_version()));
            map.insert("kind".to_owned(), Value::from(resource.kind()));
        }
    }
    items.sort_by(|left, right| {
        let name = |item: &Value| {
            item.at("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        name(left).cmp(&name(right))
    });
    items
}

/// The JSON patch that removes entry `index` of the finalizers only if it still is `finalizer`.
pub fn finalizer_removal_patch(index: usize, finalizer: &str) -> Value {
    let path = format!("/metadata/finalizers/{index}");
    json!([
        { "op": "test", "path": path, "value": finalizer },
        { "op": "remove", "path": path },
    ])
}

fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

#[async_trait]
impl KubeApi for KubeAdapter {
    async fn get(&self, object: &ObjectRef) -> Result<Option<Value>, ApiError> {
        let described = object.to_string();
        match self
            .send(
                builder(object).get(&object.name, &GetParams::default()),
                &described,
                "get",
            )
            .await
        {
            Ok(value) => Ok(Some(value)),
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn list(
        &self,
        resource: ResourceType,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Arc<Value>>, ApiError> {
        let described = if namespace.is_empty() {
            format!("{} in all namespaces", resource.plural())
        } else {
            format!("{} in {namespace}", resource.plural())
        };
        let mut parameters = ListParams::default();
        if !labels.is_empty() {
            parameters = parameters.labels(&label_selector(labels));
        }
        let request = RequestBuilder::new(collection_path(resource, namespace)).list(&parameters);
        let list = self.send(request, &described, "list").await?;
        Ok(list_items(list, resource)
            .into_iter()
            .map(Arc::new)
            .collect())
    }

    async fn apply(&self, object: &Value) -> Result<Value, ApiError> {
        let Some(reference) = ObjectRef::of(object) else {
            return Err(ApiError::Invalid {
                object: object
                    .at("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("an unnamed object")
                    .to_owned(),
                message: "failed to apply an object without a known apiVersion, kind and name"
                    .to_owned(),
            });
        };
        let request =
            builder(&reference).patch(&reference.name, &apply_params(), &Patch::Apply(object));
        self.send(request, &reference.to_string(), "apply").await
    }

    async fn apply_status(
        &self,
        object: &ObjectRef,
        status: &Value,
        resource_version: Option<&str>,
    ) -> Result<Value, ApiError> {
        let mut body = json!({
            "apiVersion": object.resource.api_version(),
            "kind": object.resource.kind(),
            "metadata": { "name": object.name, "namespace": object.namespace },
            "status": status,
        });
        // The API server takes a resourceVersion in an applied object as a precondition.
        if let Some(version) = resource_version {
            body["metadata"]["resourceVersion"] = Value::from(version);
        }
        let request = builder(object).patch_subresource(
            "status",
            &object.name,
            &apply_params(),
            &Patch::Apply(&body),
        );
        self.send(request, &object.to_string(), "apply the status of")
            .await
    }

    async fn delete(&self, object: &ObjectRef, propagation: Propagation) -> Result<(), ApiError> {
        let parameters = DeleteParams {
            propagation_policy: Some(match propagation {
                Propagation::Background => PropagationPolicy::Background,
                Propagation::Foreground => PropagationPolicy::Foreground,
                Propagation::Orphan => PropagationPolicy::Orphan,
            }),
            ..DeleteParams::default()
        };
        match self
            .send(
                builder(object).delete(&object.name, &parameters),
                &object.to_string(),
                "delete",
            )
            .await
        {
            Ok(_) | Err(ApiError::NotFound { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn evict(&self, pod: &ObjectRef) -> Result<(), ApiError> {
        let eviction = json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": { "name": pod.name, "namespace": pod.namespace },
        });
        let path = format!(
            "{}/{}/eviction",
            collection_path(ResourceType::Pod, &pod.namespace),
            pod.name
        );
        let request = serde_json::to_vec(&eviction)
            .map_err(kube::core::request::Error::SerializeBody)
            .and_then(|body| {
                http::Request::post(path)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .map_err(kube::core::request::Error::BuildRequest)
            });
        self.send(request, &pod.to_string(), "evict").await?;
        Ok(())
    }

    async fn publish_event(&self, event: &EventRecord) -> Result<(), ApiError> {
        let regarding = &event.regarding;
        // `kubectl describe` finds Events by the object's uid, so the reference carries it when
        // the object still exists.
        let uid = self.get(regarding).await.ok().flatten().and_then(|object| {
            object
                .at("/metadata/uid")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let reference = ObjectReference {
            api_version: Some(regarding.resource.api_version().to_owned()),
            kind: Some(regarding.resource.kind().to_owned()),
            name: Some(regarding.name.clone()),
            namespace: (!regarding.namespace.is_empty()).then(|| regarding.namespace.clone()),
            uid,
            ..ObjectReference::default()
        };
        let published = Event {
            type_: match event.event_type {
                EventType::Normal => RecorderEventType::Normal,
                EventType::Warning => RecorderEventType::Warning,
            },
            reason: event.reason.clone(),
            note: Some(event.message.clone()),
            action: EVENT_ACTION.to_owned(),
            secondary: None,
        };
        self.recorder
            .publish(&published, &reference)
            .await
            .map_err(|error| api_error(error, &regarding.to_string(), "publish an Event about"))
    }

    async fn remove_finalizer(&self, object: &ObjectRef, finalizer: &str) -> Result<(), ApiError> {
        let Some(live) = self.get(object).await? else {
            return Ok(());
        };
        let Some(index) = live
            .at("/metadata/finalizers")
            .and_then(Value::as_array)
            .and_then(|entries| entries.iter().position(|entry| entry == finalizer))
        else {
            return Ok(());
        };
        let path = format!(
            "{}/{}",
            collection_path(object.resource, &object.namespace),
            object.name
        );
        let request = serde_json::to_vec(&finalizer_removal_patch(index, finalizer))
            .map_err(kube::core::request::Error::SerializeBody)
            .and_then(|body| {
                http::Request::patch(path)
                    .header(http::header::CONTENT_TYPE, JSON_PATCH_CONTENT_TYPE)
                    .body(body)
                    .map_err(kube::core::request::Error::BuildRequest)
            });
        let action = format!("remove finalizer {finalizer} from");
        match self.send(request, &object.to_string(), &action).await {
            Ok(_) | Err(ApiError::NotFound { .. }) => Ok(()),
            // A failed test operation means the list changed since it was read: the same
            // finalizer moved or went away. That is a conflict, for the next reconcile to re-read.
            Err(ApiError::Invalid { object, message }) => {
                Err(ApiError::Conflict { object, message })
            }
            Err(error) => Err(error),
        }
    }
}
