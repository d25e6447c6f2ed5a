//! What a request's path and query name: the resource, namespace, name and subresource, the
//! label selector (equality-based only), and the list options the facade refuses.

use redis_operator::json_pointer::JsonPointer;

use redis_operator::ports::kube::{ObjectRef, ResourceType};
use serde_json::Value;

use super::protocol::{Reply, Request, status};

/// What a path names.
#[derive(Clone, Debug)]
pub(super) struct Route {
    /// `v1` or `group/version`.
    pub(super) group_version: String,
    /// Empty for cluster-wide requests.
    pub(super) namespace: String,
    pub(super) plural: String,
    pub(super) name: Option<String>,
    pub(super) subresource: Option<String>,
    /// The fake's type, when the fake keeps this type.
    pub(super) resource: Option<ResourceType>,
}

impl Route {
    pub(super) fn is_watch(&self, request: &Request) -> bool {
        request.method == "GET"
            && self.name.is_none()
            && matches!(
                request.query.get("watch").map(String::as_str),
                Some("true" | "1")
            )
    }

    pub(super) fn reference(&self, resource: ResourceType) -> ObjectRef {
        ObjectRef::new(
            resource,
            &self.namespace,
            self.name.as_deref().unwrap_or_default(),
        )
    }

    pub(super) fn extra_key(&self, name: &str) -> (String, String, String, String) {
        (
            self.group_version.clone(),
            self.plural.clone(),
            self.namespace.clone(),
            name.to_owned(),
        )
    }
}

/// The types kept in the facade's own store.
pub(super) const EXTRA_TYPES: [(&str, &str, &str); 3] = [
    ("coordination.k8s.io/v1", "leases", "Lease"),
    ("events.k8s.io/v1", "events", "Event"),
    ("v1", "events", "Event"),
];

pub(super) fn route(request: &Request) -> Result<Route, Reply> {
    let segments: Vec<&str> = request
        .path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    let (group_version, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("v1".to_owned(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => {
            return Err(resource_not_found(request));
        }
    };
    let (namespace, rest) = match rest {
        ["namespaces", namespace, plural, rest @ ..] => (namespace.to_string(), {
            let mut all = vec![*plural];
            all.extend_from_slice(rest);
            all
        }),
        rest => (String::new(), rest.to_vec()),
    };
    let (plural, name, subresource) = match rest.as_slice() {
        [plural] => (plural.to_string(), None, None),
        [plural, name] => (plural.to_string(), Some(name.to_string()), None),
        [plural, name, subresource] => (
            plural.to_string(),
            Some(name.to_string()),
            Some(subresource.to_string()),
        ),
        _ => {
            return Err(resource_not_found(request));
        }
    };
    let resource = ResourceType::ALL.into_iter().find(|resource| {
        resource.api_version() == group_version
            && resource.plural() == plural
            && resource != &ResourceType::Event
    });
    let known_extra = EXTRA_TYPES
        .iter()
        .any(|(version, kind_plural, _)| *version == group_version && *kind_plural == plural);
    if resource.is_none() && !known_extra {
        return Err(resource_not_found(request));
    }
    Ok(Route {
        group_version,
        namespace,
        plural,
        name,
        subresource,
        resource,
    })
}

/// One requirement of a label selector.
pub(super) enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

pub(super) fn parse_selector(text: &str) -> Result<Vec<Requirement>, Reply> {
    let mut requirements = Vec::new();
    for term in text
        .split(',')
        .map(str::trim)
        .filter(|term| !term.is_empty())
    {
        let requirement = if let Some((key, value)) = term.split_once("!=") {
            Requirement::NotEquals(key.trim().to_owned(), value.trim().to_owned())
        } else if let Some((key, value)) = term.split_once("==") {
            Requirement::Equals(key.trim().to_owned(), value.trim().to_owned())
        } else if let Some((key, value)) = term.split_once('=') {
            Requirement::Equals(key.trim().to_owned(), value.trim().to_owned())
        } else if term.contains(' ') || term.contains('(') {
            return Err(status(
                400,
                "BadRequest",
                &format!("set-based label selector {term:?} is not supported by the facade"),
            ));
        } else if let Some(key) = term.strip_prefix('!') {
            Requirement::Absent(key.trim().to_owned())
        } else {
            Requirement::Exists(term.to_owned())
        };
        requirements.push(requirement);
    }
    Ok(requirements)
}

pub(super) fn selector_matches(requirements: &[Requirement], object: &Value) -> bool {
    let label = |key: &str| {
        object
            .at("/metadata/labels")
            .and_then(|labels| labels.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    requirements.iter().all(|requirement| match requirement {
        Requirement::Equals(key, value) => label(key).as_deref() == Some(value.as_str()),
        Requirement::NotEquals(key, value) => label(key).as_deref() != Some(value.as_str()),
        Requirement::Exists(key) => label(key).is_some(),
        Requirement::Absent(key) => label(key).is_none(),
    })
}

pub(super) fn refuse_unsupported_list_options(request: &Request) -> Result<(), Reply> {
    const UNSUPPORTED: [(&str, &str); 2] = [
        (
            "fieldSelector",
            "field selectors are not supported by the facade",
        ),
        (
            "continue",
            "continue tokens are not supported by the facade (lists are never paged)",
        ),
    ];
    for (option, message) in UNSUPPORTED {
        if request
            .query
            .get(option)
            .is_some_and(|value| !value.is_empty())
        {
            return Err(status(400, "BadRequest", message));
        }
    }
    Ok(())
}

pub(super) fn parse_body(request: &Request) -> Result<Value, Reply> {
    let parsed = if request.content_type.contains("yaml") {
        serde_yaml_ng::from_slice::<Value>(&request.body).map_err(|error| error.to_string())
    } else {
        serde_json::from_slice::<Value>(&request.body).map_err(|error| error.to_string())
    };
    parsed.map_err(|message| {
        status(
            400,
            "BadRequest",
            &format!("failed to parse the request body: {message}"),
        )
    })
}

/// The body's namespace, filled in from the path, and a check that the two agree.
pub(super) fn in_namespace(mut object: Value, route: &Route) -> Result<Value, Reply> {
    if route.namespace.is_empty() {
        return Ok(object);
    }
    let given = object
        .at("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match given {
        Some(namespace) if namespace != route.namespace => Err(status(
            400,
            "BadRequest",
            &format!(
                "the namespace of the object ({namespace}) does not match the namespace on the request ({})",
                route.namespace
            ),
        )),
        Some(_) => Ok(object),
        None => {
            if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                metadata.insert("namespace".to_owned(), Value::from(route.namespace.clone()));
            }
            Ok(object)
        }
    }
}

pub(super) fn list_kind(route: &Route) -> String {
    let kind = route
        .resource
        .map(ResourceType::kind)
        .or_else(|| {
            EXTRA_TYPES
                .iter()
                .find(|(version, plural, _)| {
                    *version == route.group_version && *plural == route.plural
                })
                .map(|(_, _, kind)| *kind)
        })
        .unwrap_or("Unknown");
    format!("{kind}List")
}

/// The 404 the API server answers for a path it serves nothing at.
fn resource_not_found(request: &Request) -> Reply {
    status(
        404,
        "NotFound",
        &format!(
            "the server could not find the requested resource {}",
            request.path
        ),
    )
}
