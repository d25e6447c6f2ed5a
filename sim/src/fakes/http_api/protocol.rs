//! The HTTP/1.1 side of the facade: reading a request (head, body, chunked bodies), decoding
//! its query, writing a reply, and serving one connection request after request.

use std::collections::BTreeMap;
use std::sync::Arc;

use redis_operator::ports::kube::ApiError;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::handlers::handle;
use super::routes::route;
use super::watches::serve_watch;
use super::{MAXIMUM_REQUEST_BYTES, Shared};

/// One parsed request.
pub(super) struct Request {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) query: BTreeMap<String, String>,
    pub(super) content_type: String,
    pub(super) body: Vec<u8>,
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Decodes `%XX` escapes and `+` of a query component.
pub(super) fn percent_decode(text: &str) -> String {
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
pub(super) async fn read_request(
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
        if !read_more(stream, buffer, "a request").await? {
            return Ok(None);
        }
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
            if !read_more(stream, buffer, "a request body").await? {
                return Err("failed to read a request body: the connection closed".to_owned());
            }
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

pub(super) async fn read_chunked_body(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(end) = find(buffer, b"\r\n") {
                break end;
            }
            if !read_more(stream, buffer, "a chunked body").await? {
                return Err("failed to read a chunked body: the connection closed".to_owned());
            }
        };
        let size_text = String::from_utf8_lossy(&buffer[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("failed to read a chunked body: bad chunk size {size_text:?}"))?;
        if body.len() + size > MAXIMUM_REQUEST_BYTES {
            return Err("failed to read a chunked body: too large".to_owned());
        }
        while buffer.len() < line_end + 2 + size + 2 {
            if !read_more(stream, buffer, "a chunked body").await? {
                return Err("failed to read a chunked body: the connection closed".to_owned());
            }
        }
        body.extend_from_slice(&buffer[line_end + 2..line_end + 2 + size]);
        buffer.drain(..line_end + 2 + size + 2);
        if size == 0 {
            return Ok(body);
        }
    }
}

/// A reply: status code and JSON body.
pub(super) struct Reply {
    pub(super) code: u16,
    pub(super) body: Value,
}

pub(super) fn reason_phrase(code: u16) -> &'static str {
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

pub(super) fn status(code: u16, reason: &str, message: &str) -> Reply {
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

pub(super) fn success(body: Value) -> Reply {
    Reply { code: 200, body }
}

/// The Status the real API server answers an error of the port's class with.
pub(super) fn error_reply(error: &ApiError) -> Reply {
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

pub(super) async fn write_reply(stream: &mut TcpStream, reply: &Reply) -> std::io::Result<()> {
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

pub(super) async fn serve_connection(mut stream: TcpStream, shared: Arc<Shared>) {
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

/// Reads what `stream` has next onto the end of `buffer`; false when the peer closed the
/// connection. `what` names what was being read, for the error.
async fn read_more(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    what: &str,
) -> Result<bool, String> {
    let mut chunk = [0_u8; 8192];
    let read = stream
        .read(&mut chunk)
        .await
        .map_err(|error| format!("failed to read {what}: {error}"))?;
    buffer.extend_from_slice(&chunk[..read]);
    Ok(read > 0)
}
