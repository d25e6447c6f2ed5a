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

use redis_operator::json_pointer::JsonPointer;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis_operator::ports::clock::{Clock, SystemClock, rfc3339};
use redis_operator::ports::kube::{
    ApiError, EventRecord, EventType, KubeApi, ObjectRef, Propagation, ResourceType,
};
use redis_operator::resources::names::FIELD_MANAGER;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::engine::world::merge_patch;
use crate::fakes::api_server::FakeApiServer;

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

/// One parsed request.
struct Request {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    content_type: String,
    body: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Decodes `%XX` escapes and `+` of a query component.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        decoded.push(byte);
                        index += 3;
                    }
                    Err(_) => {
                        decoded.push(b'%');
                        index += 1;
                    }
                }
            }
            b'+' => {
                decoded.push(b' ');
                index += 1;
            }
            byte => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Reads one request from `stream`, keeping bytes of the next one in `buffer`; `None` when the
/// client closed the connection.
async fn read_request(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> Result<Option<Request>, String> {
    let head_end = loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > MAXIMUM_REQUEST_BYTES {
            return Err("failed to read a request: the head is too large".to_owned());
        }
        let mut chunk = [0_u8; 8192];
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|error| format!("failed to read a request: {error}"))?;
        if read == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut content_length = 0_usize;
    let mut content_type = String::new();
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                content_length = value.parse().map_err(|_| {
                    format!("failed to read a request: bad Content-Length {value:?}")
                })?;
            }
            "content-type" => content_type = value.to_owned(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    buffer.drain(..head_end + 4);
    let body = if chunked {
        read_chunked_body(stream, buffer).await?
    } else {
        if content_length > MAXIMUM_REQUEST_BYTES {
            return Err("failed to read a request: the body is too large".to_owned());
        }
        while buffer.len() < content_length {
            let mut chunk = [0_u8; 8192];
            let read = stream
                .read(&mut chunk)
                .await
                .map_err(|error| format!("failed to read a request body: {error}"))?;
            if read == 0 {
                return Err("failed to read a request body: the connection closed".to_owned());
            }
            buffer.extend_from_slice(&chunk[..read]);
        }
        buffer.drain(..content_length).collect()
    };
    let (path, query_text) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let query = query_text
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect();
    Ok(Some(Request {
        method,
        path: path.to_owned(),
        query,
        content_type,
        body,
    }))
}

async fn read_chunked_body(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(end) = find(buffer, b"\r\n") {
                break end;
            }
            let mut chunk = [0_u8; 8192];
            let read = stream
                .read(&mut chunk)
                .await
                .map_err(|error| format!("failed to read a chunked body: {error}"))?;
            if read == 0 {
                return Err("failed to read a chunked body: the connection closed".to_owned());
            }
            buffer.extend_from_slice(&chunk[..read]);
        };
        let size_text = String::from_utf8_lossy(&buffer[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("failed to read a chunked body: bad chunk size {size_text:?}"))?;
        if body.len() + size > MAXIMUM_REQUEST_BYTES {
            return Err("failed to read a chunked body: too large".to_owned());
        }
        while buffer.len() < line_end + 2 + size + 2 {
            let mut chunk = [0_u8; 8192];
            let read = stream
                .read(&mut chunk)
                .await
                .map_err(|error| format!("failed to read a chunked body: {error}"))?;
            if read == 0 {
                return Err("failed to read a chunked body: the connection closed".to_owned());
            }
            buffer.extend_from_slice(&chunk[..read]);
        }
        body.extend_from_slice(&buffer[line_end + 2..line_end + 2 + size]);
        buffer.drain(..line_end + 2 + size + 2);
        if size == 0 {
            return Ok(body);
        }
    }
}

/// A reply: status code and JSON body.
struct Reply {
    code: u16,
    body: Value,
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    }
}

fn status(code: u16, reason: &str, message: &str) -> Reply {
    Reply {
        code,
        body: json!({
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }),
    }
}

fn success(body: Value) -> Reply {
    Reply { code: 200, body }
}

/// The Status the real API server answers an error of the port's class with.
fn error_reply(error: &ApiError) -> Reply {
    match error {
        ApiError::NotFound { object } => status(404, "NotFound", &format!("{object} not found")),
        ApiError::Conflict { message, .. } if message.ends_with("already exists") => {
            status(409, "AlreadyExists", message)
        }
        ApiError::Conflict { message, .. } => status(409, "Conflict", message),
        ApiError::Invalid { message, .. } => status(422, "Invalid", message),
        ApiError::TooManyRequests { message, .. } => status(429, "TooManyRequests", message),
        ApiError::Transient { .. } => status(500, "InternalError", &error.to_string()),
    }
}

async fn write_reply(stream: &mut TcpStream, reply: &Reply) -> std::io::Result<()> {
    let body = reply.body.to_string();
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        reply.code,
        reason_phrase(reply.code),
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await
}

async fn serve_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buffer = Vec::new();
    loop {
        let request = match read_request(&mut stream, &mut buffer).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(message) => {
                let _ = write_reply(&mut stream, &status(400, "BadRequest", &message)).await;
                return;
            }
        };
        shared
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(format!(
                "{} {}{}",
                request.method,
                request.path,
                if request.query.is_empty() {
                    String::new()
                } else {
                    format!("?{:?}", request.query)
                }
            ));
        let written = match route(&request) {
            Ok(route) if route.is_watch(&request) => {
                serve_watch(&mut stream, &shared, &route, &request).await
            }
            Ok(route) => {
                let reply = handle(&shared, &route, &request).await;
                write_reply(&mut stream, &reply).await
            }
            Err(reply) => write_reply(&mut stream, &reply).await,
        };
        if written.is_err() {
            return;
        }
    }
}

/// What a path names.
#[derive(Clone, Debug)]
struct Route {
    /// `v1` or `group/version`.
    group_version: String,
    /// Empty for cluster-wide requests.
    namespace: String,
    plural: String,
    name: Option<String>,
    subresource: Option<String>,
    /// The fake's type, when the fake keeps this type.
    resource: Option<ResourceType>,
}

impl Route {
    fn is_watch(&self, request: &Request) -> bool {
        request.method == "GET"
            && self.name.is_none()
            && matches!(
                request.query.get("watch").map(String::as_str),
                Some("true" | "1")
            )
    }

    fn reference(&self, resource: ResourceType) -> ObjectRef {
        ObjectRef::new(
            resource,
            &self.namespace,
            self.name.as_deref().unwrap_or_default(),
        )
    }

    fn extra_key(&self, name: &str) -> (String, String, String, String) {
        (
            self.group_version.clone(),
            self.plural.clone(),
            self.namespace.clone(),
            name.to_owned(),
        )
    }
}

/// The types kept in the facade's own store.
const EXTRA_TYPES: [(&str, &str, &str); 3] = [
    ("coordination.k8s.io/v1", "leases", "Lease"),
    ("events.k8s.io/v1", "events", "Event"),
    ("v1", "events", "Event"),
];

fn route(request: &Request) -> Result<Route, Reply> {
    let segments: Vec<&str> = request
        .path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    let (group_version, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("v1".to_owned(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => {
            return Err(status(
                404,
                "NotFound",
                &format!(
                    "the server could not find the requested resource {}",
                    request.path
                ),
            ));
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
            return Err(status(
                404,
                "NotFound",
                &format!(
                    "the server could not find the requested resource {}",
                    request.path
                ),
            ));
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
        return Err(status(
            404,
            "NotFound",
            &format!(
                "the server could not find the requested resource {}",
                request.path
            ),
        ));
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
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

fn parse_selector(text: &str) -> Result<Vec<Requirement>, Reply> {
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

fn selector_matches(requirements: &[Requirement], object: &Value) -> bool {
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

fn refuse_unsupported_list_options(request: &Request) -> Result<(), Reply> {
    if request
        .query
        .get("fieldSelector")
        .is_some_and(|selector| !selector.is_empty())
    {
        return Err(status(
            400,
            "BadRequest",
            "field selectors are not supported by the facade",
        ));
    }
    if request
        .query
        .get("continue")
        .is_some_and(|token| !token.is_empty())
    {
        return Err(status(
            400,
            "BadRequest",
            "continue tokens are not supported by the facade (lists are never paged)",
        ));
    }
    Ok(())
}

fn parse_body(request: &Request) -> Result<Value, Reply> {
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
fn in_namespace(mut object: Value, route: &Route) -> Result<Value, Reply> {
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

fn list_kind(route: &Route) -> String {
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

async fn handle(shared: &Shared, route: &Route, request: &Request) -> Reply {
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

async fn handle_fake(
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
            let object = in_namespace(parse_body(request)?, route)?;
            if object.at("/metadata/name").and_then(Value::as_str) != Some(name) {
                return Err(status(
                    400,
                    "BadRequest",
                    "the name of the object does not match the name on the URL",
                ));
            }
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
        _ => Err(status(
            405,
            "MethodNotAllowed",
            &format!(
                "{} {} is not supported by the facade",
                request.method, request.path
            ),
        )),
    }
}

async fn patch_fake(
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
        let object = in_namespace(parse_body(request)?, route)?;
        if object.at("/metadata/name").and_then(Value::as_str) != Some(name) {
            return Err(status(
                400,
                "BadRequest",
                "the name of the object does not match the name on the URL",
            ));
        }
        return match subresource {
            None => Ok(success(api.apply(&object).await.map_err(error)?)),
            Some("status") => {
                let status_value = object.get("status").cloned().unwrap_or(Value::Null);
                Ok(success(
                    api.apply_status(&reference, &status_value)
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
async fn remove_finalizer_patch(
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
fn event_record(event: &Value) -> Option<EventRecord> {
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

fn handle_extra(shared: &Shared, route: &Route, request: &Request) -> Result<Reply, Reply> {
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
        _ => Err(status(
            405,
            "MethodNotAllowed",
            &format!(
                "{} {} is not supported by the facade",
                request.method, request.path
            ),
        )),
    }
}

async fn write_chunk(stream: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    stream
        .write_all(format!("{:x}\r\n", data.len()).as_bytes())
        .await?;
    stream.write_all(data).await?;
    stream.write_all(b"\r\n").await?;
    stream.flush().await
}

fn watch_line(event_type: &str, object: &Value) -> Vec<u8> {
    let mut line = json!({ "type": event_type, "object": object }).to_string();
    line.push('\n');
    line.into_bytes()
}

/// Streams the changes after the request's resourceVersion, as `{"type", "object"}` lines in
/// chunks, until the client goes, `timeoutSeconds` passes or the facade stops.
async fn serve_watch(
    stream: &mut TcpStream,
    shared: &Shared,
    route: &Route,
    request: &Request,
) -> std::io::Result<()> {
    let Some(resource) = route.resource else {
        return write_reply(
            stream,
            &status(
                405,
                "MethodNotAllowed",
                "watching this type is not supported by the facade",
            ),
        )
        .await;
    };
    let requirements = match refuse_unsupported_list_options(request).and_then(|()| {
        parse_selector(
            request
                .query
                .get("labelSelector")
                .map(String::as_str)
                .unwrap_or_default(),
        )
    }) {
        Ok(requirements) => requirements,
        Err(reply) => return write_reply(stream, &reply).await,
    };
    let bookmarks = request
        .query
        .get("allowWatchBookmarks")
        .is_some_and(|value| value == "true");
    let timeout = request
        .query
        .get("timeoutSeconds")
        .and_then(|seconds| seconds.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let deadline = tokio::time::Instant::now() + timeout;
    let matches = |reference: &ObjectRef, object: &Value| {
        reference.resource == resource
            && (route.namespace.is_empty() || reference.namespace == route.namespace)
            && selector_matches(&requirements, object)
    };
    stream
        .write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .await?;
    stream.flush().await?;
    record_changes(shared);
    let since: Option<u64> = request
        .query
        .get("resourceVersion")
        .filter(|version| !version.is_empty() && *version != "0")
        .and_then(|version| version.parse().ok());
    let (initial, mut cursor) = {
        let log = shared.log();
        let initial: Vec<Vec<u8>> = match since {
            Some(since) => log
                .changes
                .iter()
                .filter(|change| {
                    change.version > since && matches(&change.reference, &change.object)
                })
                .map(|change| watch_line(change.event_type, &change.object))
                .collect(),
            // No version: the current objects first, as ADDED.
            None => log
                .seen
                .iter()
                .filter(|(reference, object)| matches(reference, object))
                .map(|(_, object)| watch_line("ADDED", object))
                .collect(),
        };
        (initial, log.changes.len())
    };
    for line in initial {
        write_chunk(stream, &line).await?;
    }
    let since = since.unwrap_or(0);
    let mut stopping = shared.stopping.clone();
    let mut next_bookmark = tokio::time::Instant::now() + BOOKMARK_INTERVAL;
    loop {
        tokio::select! {
            () = tokio::time::sleep(WATCH_POLL_INTERVAL) => {}
            _ = stopping.changed() => break,
        }
        if tokio::time::Instant::now() >= deadline || *stopping.borrow() {
            break;
        }
        let (lines, logged_through) = {
            let log = shared.log();
            let lines: Vec<Vec<u8>> = log.changes[cursor..]
                .iter()
                .filter(|change| {
                    change.version > since && matches(&change.reference, &change.object)
                })
                .map(|change| watch_line(change.event_type, &change.object))
                .collect();
            cursor = log.changes.len();
            (lines, log.logged_through)
        };
        for line in lines {
            write_chunk(stream, &line).await?;
        }
        if tokio::time::Instant::now() >= next_bookmark {
            next_bookmark = tokio::time::Instant::now() + BOOKMARK_INTERVAL;
            if bookmarks {
                let bookmark = json!({
                    "apiVersion": resource.api_version(),
                    "kind": resource.kind(),
                    "metadata": { "resourceVersion": logged_through.to_string() },
                });
                write_chunk(stream, &watch_line("BOOKMARK", &bookmark)).await?;
            }
        }
    }
    stream.write_all(b"0\r\n\r\n").await?;
    stream.flush().await
}
