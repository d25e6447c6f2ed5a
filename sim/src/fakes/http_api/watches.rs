//! Watches: the changes after a resourceVersion streamed as `{"type", "object"}` lines in
//! chunks, with bookmarks, until the client goes, the timeout passes or the facade stops.

use std::time::Duration;

use redis_operator::ports::kube::ObjectRef;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::protocol::{Request, status, write_reply};
use super::routes::{Route, parse_selector, refuse_unsupported_list_options, selector_matches};
use super::{BOOKMARK_INTERVAL, Shared, WATCH_POLL_INTERVAL, record_changes};

pub(super) async fn write_chunk(stream: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    stream
        .write_all(format!("{:x}\r\n", data.len()).as_bytes())
        .await?;
    stream.write_all(data).await?;
    stream.write_all(b"\r\n").await?;
    stream.flush().await
}

pub(super) fn watch_line(event_type: &str, object: &Value) -> Vec<u8> {
    let mut line = json!({ "type": event_type, "object": object }).to_string();
    line.push('\n');
    line.into_bytes()
}

/// Streams the changes after the request's resourceVersion, as `{"type", "object"}` lines in
/// chunks, until the client goes, `timeoutSeconds` passes or the facade stops.
pub(super) async fn serve_watch(
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
