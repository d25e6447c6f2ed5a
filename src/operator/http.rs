//! A minimal HTTP/1.1 server for the metrics and health endpoints: GET only, one request per
//! connection, answers from a routing function.
//!
//! It serves a few short plain-text pages to Prometheus and the kubelet; it must not grow into a
//! general web server (no keep-alive, no request bodies, no TLS).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use super::health::Health;
use super::metrics::Metrics;

/// Content type of the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of the health pages.
const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
/// The longest request head read; anything longer is refused.
const MAXIMUM_REQUEST_HEAD: usize = 8192;
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// An answer: status code, content type and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// HTTP status code.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

impl Page {
    fn text(status: u16, body: impl Into<String>) -> Page {
        Page {
            status,
            content_type: TEXT_CONTENT_TYPE,
            body: body.into(),
        }
    }
}

/// The pages of the metrics address: `/metrics`.
pub fn metrics_page(metrics: &Metrics, path: &str) -> Page {
    match path {
        "/metrics" => Page {
            status: 200,
            content_type: METRICS_CONTENT_TYPE,
            body: metrics.render(),
        },
        _ => Page::text(404, "not found\n"),
    }
}

/// The pages of the health address: `/healthz` (the process serves) and `/readyz`.
pub fn health_page(health: &Health, path: &str) -> Page {
    match path {
        "/healthz" | "/livez" => Page::text(200, "ok\n"),
        "/readyz" => {
            let (ready, explanation) = health.readiness();
            Page::text(if ready { 200 } else { 503 }, format!("{explanation}\n"))
        }
        _ => Page::text(404, "not found\n"),
    }
}

/// Binds `address`; the error names the flag the address came from.
pub async fn bind(address: SocketAddr, flag: &str) -> Result<TcpListener, String> {
    TcpListener::bind(address)
        .await
        .map_err(|error| format!("failed to listen on {address} ({flag}): {error}"))
}

/// Serves `route` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, route: Arc<dyn Fn(&str) -> Page + Send + Sync>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let route = Arc::clone(&route);
        tokio::spawn(async move {
            if let Err(error) = answer(stream, route.as_ref()).await {
                debug!(%peer, %error, "failed to answer an HTTP request");
            }
        });
    }
}

async fn answer(
    mut stream: TcpStream,
    route: &(dyn Fn(&str) -> Page + Send + Sync),
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buffer = [0_u8; 1024];
    let read_head = async {
        while !head.windows(4).any(|window| window == b"\r\n\r\n") {
            let read = stream.read(&mut buffer).await?;
            if read == 0 || head.len() + read > MAXIMUM_REQUEST_HEAD {
                break;
            }
            head.extend_from_slice(&buffer[..read]);
        }
        Ok::<(), std::io::Error>(())
    };
    tokio::time::timeout(REQUEST_TIMEOUT, read_head)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request timed out"))??;
    let text = String::from_utf8_lossy(&head);
    let mut words = text.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (words.next().unwrap_or_default(), words.next());
    let page = match (method, target) {
        ("GET" | "HEAD", Some(target)) => route(target.split('?').next().unwrap_or_default()),
        (_, Some(_)) => Page::text(405, "only GET is served\n"),
        _ => Page::text(400, "bad request\n"),
    };
    let reason = match page.status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Bad Request",
    };
    let mut response = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        page.status,
        page.content_type,
        page.body.len()
    );
    if method != "HEAD" {
        response.push_str(&page.body);
    }
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
