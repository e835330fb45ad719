//! The access log: one line per HTTP request (websocket upgrades included) with its method,
//! path, status, duration, response bytes and request id, and never a token or credential.
//!
//! Tokens reach the server in `Authorization` (never logged: no header is) and in `?token=`
//! (a websocket cannot send headers from a browser). The query is therefore logged with its
//! keys but only the values of parameters known to hold no secret; every other value, `token`
//! first, is written as `REDACTED`. The line is written when the response body has been sent
//! (or dropped), so the duration and byte count are those of the whole answer.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

/// The `tracing` target of access lines, so an operator can filter them
/// (`--log info,sprintlog::access=off`).
pub const TARGET: &str = "sprintlog::access";

/// The request id header: taken from the request when a proxy set a well-formed one, else
/// made here; always echoed on the response.
pub const REQUEST_ID: &str = "x-request-id";

/// Query parameters whose values are logged: the routes' own parameters (times, cursors,
/// filters, formats), none of which is a secret. Any other value is redacted.
const PLAIN_PARAMS: [&str; 19] = [
    "at",
    "after",
    "before",
    "since",
    "limit",
    "item",
    "actor",
    "kind",
    "chapters",
    "format",
    "client_op_id",
    "dry_run",
    "from",
    "to",
    "minutes",
    "step",
    "start",
    "type",
    "view",
];

/// Middleware: notes the request, runs it, and logs when the response body is done.
pub async fn log(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let method = req.method().clone();
    let path = redacted_path(req.uri().path(), req.uri().query());
    let resp = next.run(req).await;
    let (mut parts, body) = resp.into_parts();
    if let Ok(v) = HeaderValue::from_str(&id) {
        parts.headers.insert(REQUEST_ID, v);
    }
    let line = Line {
        method,
        path,
        request_id: id,
        started,
        status: parts.status,
    };
    let body = Body::new(Counted {
        inner: body,
        bytes: 0,
        line: Some(line),
    });
    Response::from_parts(parts, body)
}

/// A request id a client or proxy may choose: short, and only characters that cannot forge
/// or break a log line.
fn well_formed_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// The path, and the query with every value not in [`PLAIN_PARAMS`] replaced by `REDACTED`.
pub fn redacted_path(path: &str, query: Option<&str>) -> String {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return path.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if PLAIN_PARAMS.contains(&k) => format!("{k}={v}"),
            Some((k, _)) => format!("{k}=REDACTED"),
            None if PLAIN_PARAMS.contains(&pair) => pair.to_owned(),
            // A bare word could be a token pasted without its name.
            None => "REDACTED".to_owned(),
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// What the access line says, minus the byte count the body adds up.
struct Line {
    method: Method,
    path: String,
    request_id: String,
    started: Instant,
    status: StatusCode,
}

impl Line {
    fn write(self, bytes: u64, complete: bool) {
        tracing::info!(
            target: TARGET,
            method = %self.method,
            path = %self.path,
            status = self.status.as_u16(),
            duration_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            bytes,
            complete,
            request_id = %self.request_id,
            "request"
        );
    }
}

/// The response body, counting the bytes sent; writes the access line at its end (or, for a
/// client that went away or a websocket upgrade, when it is dropped). Sizes pass through, so
/// `Content-Length` stays as the inner body set it.
struct Counted {
    inner: Body,
    bytes: u64,
    line: Option<Line>,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => {
                if let Some(line) = self.line.take() {
                    line.write(self.bytes, true);
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(line) = self.line.take() {
            // An empty body hyper never polled (a 204, a HEAD, an upgrade) is complete.
            let complete = self.inner.is_end_stream();
            line.write(self.bytes, complete);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_plain_parameters_keep_their_values() {
        assert_eq!(redacted_path("/healthz", None), "/healthz");
        assert_eq!(
            redacted_path("/ws/plannings/x", Some("token=abc&since=4")),
            "/ws/plannings/x?token=REDACTED&since=4"
        );
        assert_eq!(
            redacted_path("/api/x", Some("limit=5&secret=s&abc")),
            "/api/x?limit=5&secret=REDACTED&REDACTED"
        );
    }

    #[test]
    fn a_request_id_is_short_and_plain() {
        assert!(well_formed_id("abc-123_x.y"));
        assert!(!well_formed_id(""));
        assert!(!well_formed_id("a b"));
        assert!(!well_formed_id("a\"b"));
        assert!(!well_formed_id(&"a".repeat(65)));
    }
}
