//! The facade's handlers: each request turned into a call of the fake API server (get, list,
//! apply, status, patch, delete, eviction), or served from the facade's own store for the types
//! the fake does not know (Leases, Events).

use redis_operator::json_pointer::JsonPointer;
use std::collections::BTreeMap;
use std::sync::Arc;

use redis_operator::ports::clock::{Clock, rfc3339};
use redis_operator::ports::kube::{
    ApiError, EventRecord, EventType, KubeApi, ObjectRef, Propagation, ResourceType,
};
use redis_operator::resources::names::FIELD_MANAGER;
use serde_json::{Value, json};

use super::Shared;
use super::protocol::{Reply, Request, error_reply, status, success};
use super::routes::{
    Route, in_namespace, list_kind, parse_body, parse_selector, refuse_unsupported_list_options,
    selector_matches,
};
use crate::engine::world::merge_patch;
use crate::fakes::api_server::FakeApiServer;

pub(super) async fn handle(shared: &Shared, route: &Route, request: &Request) -> Reply {
    match route.resource {
        Some(resource) => handle_fake(shared, route, resource, request)
            .await
            .unwrap_or_else(|reply| reply),
        None => {
            let reply = handle_extra(shared, route, request).unwrap_or_else(|reply| reply);
            // The fake keeps Events as records, which tests read; a refusal there is an error
            // the test injected.
            let written = matches!(request.method.as_str(), "POST" | "PATCH") && reply.code < 300;
            if route.plural == "events"
                && written
                && let Some(record) = event_record(&reply.body)
                && let Err(error) = shared.api.publish_event(&record).await
            {
                return error_reply(&error);
            }
            reply
        }
    }
}

pub(super) async fn handle_fake(
    shared: &Shared,
    route: &Route,
    resource: ResourceType,
    request: &Request,
) -> Result<Reply, Reply> {
    let api = &shared.api;
    let error = |error: ApiError| error_reply(&error);
    match (
        request.method.as_str(),
        route.name.as_deref(),
        route.subresource.as_deref(),
    ) {
        ("GET", None, None) => {
            refuse_unsupported_list_options(request)?;
            let requirements = parse_selector(
                request
                    .query
                    .get("labelSelector")
                    .map(String::as_str)
                    .unwrap_or_default(),
            )?;
            // Read the version first, so no change after it is missing from a watch started
            // from it.
            let version = api.version();
            let items: Vec<Value> = api
                .list(resource, &route.namespace, &BTreeMap::new())
                .await
                .map_err(error)?
                .into_iter()
                .filter(|object| selector_matches(&requirements, object))
                .map(Arc::unwrap_or_clone)
                .collect();
            Ok(success(json!({
                "apiVersion": resource.api_version(),
                "kind": list_kind(route),
                "metadata": { "resourceVersion": version.to_string() },
                "items": items,
            })))
        }
        ("GET", Some(_), None | Some("status")) => {
            match api.get(&route.reference(resource)).await.map_err(error)? {
                Some(object) => Ok(success(object)),
                None => Err(error_reply(&ApiError::NotFound {
                    object: route.reference(resource).to_string(),
                })),
            }
        }
        ("POST", None, None) => {
            let object = in_namespace(parse_body(request)?, route)?;
            Ok(Reply {
                code: 201,
                body: api.create(object).map_err(error)?,
            })
        }
        ("POST", Some(_), Some("eviction")) if resource == ResourceType::Pod => {
            api.evict(&route.reference(resource)).await.map_err(error)?;
            Ok(Reply {
                code: 201,
                body: json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Success", "code": 201}),
            })
        }
        ("PUT", Some(name), None) => {
            let object = named_body(request, route, name)?;
            Ok(success(api.replace(object).map_err(error)?))
        }
        ("PATCH", Some(name), subresource) => {
            patch_fake(shared, route, resource, name, subresource, request).await
        }
        ("DELETE", Some(_), None) => {
            let reference = route.reference(resource);
            if api.get(&reference).await.map_err(error)?.is_none() {
                return Err(error_reply(&ApiError::NotFound {
                    object: reference.to_string(),
                }));
            }
            let options = if request.body.is_empty() {
                Value::Null
            } else {
                parse_body(request)?
            };
            let policy = options
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| request.query.get("propagationPolicy").cloned());
            let propagation = match policy.as_deref() {
                None | Some("Background") => Propagation::Background,
                Some("Foreground") => Propagation::Foreground,
                Some("Orphan") => Propagation::Orphan,
                Some(other) => {
                    return Err(status(
                        400,
                        "BadRequest",
                        &format!(
                            "propagationPolicy {other:?} is not one of Background, Foreground, Orphan"
                        ),
                    ));
                }
            };
            api.delete(&reference, propagation).await.map_err(error)?;
            Ok(success(json!({
                "apiVersion": "v1", "kind": "Status", "metadata": {},
                "status": "Success", "details": { "name": reference.name, "kind": route.plural },
            })))
        }
        _ => Err(not_supported(request)),
    }
}

pub(super) async fn patch_fake(
    shared: &Shared,
    route: &Route,
    resource: ResourceType,
    name: &str,
    subresource: Option<&str>,
    request: &Request,
) -> Result<Reply, Reply> {
    let api = &shared.api;
    let error = |error: ApiError| error_reply(&error);
    let reference = route.reference(resource);
    if request.content_type.starts_with("application/apply-patch") {
        let manager = request
            .query
            .get("fieldManager")
            .map(String::as_str)
            .unwrap_or_default();
        if manager != FIELD_MANAGER {
            return Err(status(
                400,
                "BadRequest",
                &format!("fieldManager {manager:?}: the facade applies only as {FIELD_MANAGER:?}"),
            ));
        }
        let object = named_body(request, route, name)?;
        return match subresource {
            None => Ok(success(api.apply(&object).await.map_err(error)?)),
            Some("status") => {
                let status_value = object.get("status").cloned().unwrap_or(Value::Null);
                let resource_version = object
                    .at("/metadata/resourceVersion")
                    .and_then(Value::as_str);
                Ok(success(
                    api.apply_status(&reference, &status_value, resource_version)
                        .await
                        .map_err(error)?,
                ))
            }
            Some(other) => Err(status(
                404,
                "NotFound",
                &format!("subresource {other:?} is not served by the facade"),
            )),
        };
    }
    if request.content_type.starts_with("application/json-patch") && subresource.is_none() {
        return remove_finalizer_patch(api, &reference, request).await;
    }
    Err(status(
        415,
        "UnsupportedMediaType",
        &format!(
            "patch content type {:?} on {} is not supported by the facade",
            request.content_type, reference
        ),
    ))
}

/// The one JSON patch the operator sends: test that finalizer N is F, then remove it.
pub(super) async fn remove_finalizer_patch(
    api: &FakeApiServer,
    reference: &ObjectRef,
    request: &Request,
) -> Result<Reply, Reply> {
    let operations = parse_body(request)?;
    let unsupported = || {
        status(
            415,
            "UnsupportedMediaType",
            "the facade serves only the JSON patch that tests and removes one finalizer",
        )
    };
    let [test, remove] = operations.as_array().map(Vec::as_slice).unwrap_or_default() else {
        return Err(unsupported());
    };
    let path = test["path"].as_str().unwrap_or_default();
    if test["op"] != "test"
        || remove["op"] != "remove"
        || remove["path"] != test["path"]
        || !path.starts_with("/metadata/finalizers/")
    {
        return Err(unsupported());
    }
    let Some(finalizer) = test["value"].as_str() else {
        return Err(unsupported());
    };
    let live = api
        .get(reference)
        .await
        .map_err(|error| error_reply(&error))?
        .ok_or_else(|| {
            error_reply(&ApiError::NotFound {
                object: reference.to_string(),
            })
        })?;
    if live.at(path).and_then(Value::as_str) != Some(finalizer) {
        return Err(status(
            422,
            "Invalid",
            &format!(
                "the server rejected our request due to an error in our request: testing value {path} failed"
            ),
        ));
    }
    api.remove_finalizer(reference, finalizer)
        .await
        .map_err(|error| error_reply(&error))?;
    let updated = api
        .get(reference)
        .await
        .map_err(|error| error_reply(&error))?
        .unwrap_or(Value::Null);
    Ok(success(updated))
}

/// The fake's record of an Event, from either Event API's object.
pub(super) fn event_record(event: &Value) -> Option<EventRecord> {
    let regarding = event
        .get("regarding")
        .or_else(|| event.get("involvedObject"))?;
    // An ObjectReference names the object at its top level, not under metadata.
    let text = |field: &str| regarding.get(field).and_then(Value::as_str);
    let resource = ResourceType::from_api_version_and_kind(text("apiVersion")?, text("kind")?)?;
    let reference = ObjectRef::new(
        resource,
        text("namespace").unwrap_or_default(),
        text("name")?,
    );
    let event_type = match event.get("type").and_then(Value::as_str) {
        Some("Warning") => EventType::Warning,
        _ => EventType::Normal,
    };
    Some(EventRecord {
        regarding: reference,
        event_type,
        reason: event
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        message: event
            .get("note")
            .or_else(|| event.get("message"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    })
}

pub(super) fn handle_extra(
    shared: &Shared,
    route: &Route,
    request: &Request,
) -> Result<Reply, Reply> {
    let now = rfc3339(shared.clock.now());
    let mut extra = shared.extra();
    let conflict = |name: &str| {
        status(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                route.plural
            ),
        )
    };
    let missing = |name: &str| {
        status(
            404,
            "NotFound",
            &format!("{} \"{name}\" not found", route.plural),
        )
    };
    match (request.method.as_str(), route.name.as_deref()) {
        ("GET", Some(name)) => extra
            .objects
            .get(&route.extra_key(name))
            .cloned()
            .map(success)
            .ok_or_else(|| missing(name)),
        ("GET", None) => {
            let items: Vec<Value> = extra
                .objects
                .iter()
                .filter(|((version, plural, namespace, _), _)| {
                    *version == route.group_version
                        && *plural == route.plural
                        && (route.namespace.is_empty() || *namespace == route.namespace)
                })
                .map(|(_, object)| object.clone())
                .collect();
            Ok(success(json!({
                "apiVersion": route.group_version,
                "kind": list_kind(route),
                "metadata": { "resourceVersion": extra.next_version.to_string() },
                "items": items,
            })))
        }
        ("POST", None) => {
            let mut object = in_namespace(parse_body(request)?, route)?;
            let generated = object
                .at("/metadata/generateName")
                .and_then(Value::as_str)
                .map(|prefix| format!("{prefix}{:05x}", extra.next_uid + 1));
            let Some(name) = object
                .at("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or(generated)
            else {
                return Err(status(422, "Invalid", "metadata.name: Required value"));
            };
            object["metadata"]["name"] = Value::from(name.clone());
            let key = route.extra_key(&name);
            if extra.objects.contains_key(&key) {
                return Err(status(
                    409,
                    "AlreadyExists",
                    &format!("{} \"{name}\" already exists", route.plural),
                ));
            }
            extra.next_version += 1;
            extra.next_uid += 1;
            object["metadata"]["resourceVersion"] = Value::from(extra.next_version.to_string());
            object["metadata"]["uid"] = Value::from(format!("extra-uid-{:06}", extra.next_uid));
            object["metadata"]["creationTimestamp"] = Value::from(now);
            extra.objects.insert(key, object.clone());
            Ok(Reply {
                code: 201,
                body: object,
            })
        }
        ("PUT", Some(name)) => {
            let mut object = in_namespace(parse_body(request)?, route)?;
            let key = route.extra_key(name);
            let Some(live) = extra.objects.get(&key) else {
                return Err(missing(name));
            };
            if object.at("/metadata/resourceVersion") != live.at("/metadata/resourceVersion") {
                return Err(conflict(name));
            }
            for field in ["uid", "creationTimestamp"] {
                if let Some(value) = live.at(&format!("/metadata/{field}")).cloned() {
                    object["metadata"][field] = value;
                }
            }
            extra.next_version += 1;
            object["metadata"]["resourceVersion"] = Value::from(extra.next_version.to_string());
            extra.objects.insert(key, object.clone());
            Ok(success(object))
        }
        ("PATCH", Some(name)) if request.content_type.starts_with("application/merge-patch") => {
            let patch = parse_body(request)?;
            let key = route.extra_key(name);
            let Some(live) = extra.objects.get(&key).cloned() else {
                return Err(missing(name));
            };
            let mut object = live;
            merge_patch(&mut object, &patch);
            extra.next_version += 1;
            object["metadata"]["resourceVersion"] = Value::from(extra.next_version.to_string());
            extra.objects.insert(key, object.clone());
            Ok(success(object))
        }
        ("DELETE", Some(name)) => match extra.objects.remove(&route.extra_key(name)) {
            Some(_) => Ok(success(json!({
                "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Success",
            }))),
            None => Err(missing(name)),
        },
        _ => Err(not_supported(request)),
    }
}

/// The request's body as an object of the route's namespace that names the object the URL
/// names.
fn named_body(request: &Request, route: &Route, name: &str) -> Result<Value, Reply> {
    let object = in_namespace(parse_body(request)?, route)?;
    if object.at("/metadata/name").and_then(Value::as_str) != Some(name) {
        return Err(status(
            400,
            "BadRequest",
            "the name of the object does not match the name on the URL",
        ));
    }
    Ok(object)
}

/// The facade's 405 for a method it does not serve on a path.
fn not_supported(request: &Request) -> Reply {
    status(
        405,
        "MethodNotAllowed",
        &format!(
            "{} {} is not supported by the facade",
            request.method, request.path
        ),
    )
}
