//! A real sprintlog server on an ephemeral port, and a small client for it (HTTP + websocket).

use super::time::eventually;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sprintlog::config::Limits;
use sprintlog::engine::clock::Clock;
use sprintlog::server::Server;
use sprintlog::store::{EventStore, JobKinds, JobStatus};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Which backend a test runs on.
pub enum Backend {
    Sqlite(super::SqliteDb),
    Postgres(super::PgDb),
    /// Another backend's database, not owned: for a second server (node) on the same
    /// database. The owner must outlive it.
    Shared(String),
}

impl Backend {
    pub fn url(&self) -> &str {
        match self {
            Backend::Sqlite(d) => &d.url,
            Backend::Postgres(d) => &d.url,
            Backend::Shared(url) => url,
        }
    }

    /// The same database, for another server to open (see [`Backend::Shared`]).
    pub fn shared(&self) -> Backend {
        Backend::Shared(self.url().to_string())
    }
}

/// A fresh SQLite backend.
pub fn sqlite() -> Backend {
    Backend::Sqlite(super::fresh_sqlite())
}

/// A fresh PostgreSQL backend, or `None` (skipped) without `SPRINTLOG_TEST_PG`.
pub async fn postgres(test: &str) -> Option<Backend> {
    super::fresh_pg(test).await.map(Backend::Postgres)
}

/// A running server on 127.0.0.1:0 with its database.
pub struct TestServer {
    pub server: Option<Server>,
    pub base: String,
    pub ws_base: String,
    pub http: reqwest::Client,
    pub backend: Backend,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, Limits::default()).await
    }

    pub async fn start_with(backend: Backend, limits: Limits) -> TestServer {
        Self::start_full(backend, None, limits, Clock::system()).await
    }

    /// Starts a server whose time is `clock` (a manual clock: the test moves time itself).
    pub async fn start_clocked(backend: Backend, limits: Limits, clock: &Clock) -> TestServer {
        Self::start_full(backend, None, limits, clock.clone()).await
    }

    /// Starts a server on `store`, which must be (or wrap) a store on `backend`'s database.
    pub async fn start_on(
        backend: Backend,
        store: Arc<dyn EventStore>,
        limits: Limits,
    ) -> TestServer {
        Self::start_full(backend, Some(store), limits, Clock::system()).await
    }

    /// Starts a server on `store` (default: one opened on `backend`) with `limits` and `clock`.
    pub async fn start_full(
        backend: Backend,
        store: Option<Arc<dyn EventStore>>,
        limits: Limits,
        clock: Clock,
    ) -> TestServer {
        let store = match store {
            Some(store) => store,
            None => sprintlog::store::open(backend.url())
                .await
                .expect("open store"),
        };
        let bind = "127.0.0.1:0".parse().unwrap();
        let server = Server::start_clocked(store, bind, limits, None, clock)
            .await
            .expect("start server");
        let addr = server.addr;
        TestServer {
            server: Some(server),
            base: format!("http://{addr}"),
            ws_base: format!("ws://{addr}"),
            http: reqwest::Client::new(),
            backend,
        }
    }

    /// Stops the server (graceful), keeping the database.
    pub async fn stop(&mut self) -> Backend {
        if let Some(s) = self.server.take() {
            let store = s.app.registry.store().clone();
            s.shutdown().await;
            store.close().await;
        }
        std::mem::replace(&mut self.backend, sqlite())
    }

    /// Sends `req` with `token` as its bearer; returns (status, JSON body or `Null`).
    async fn send(&self, req: reqwest::RequestBuilder, token: Option<&str>) -> (u16, Value) {
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().await.expect("http request");
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.send(self.http.post(self.url(path)).json(&body), token)
            .await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.send(self.http.put(self.url(path)).json(&body), token)
            .await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send(self.http.get(self.url(path)), token).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send(self.http.delete(self.url(path)), token).await
    }

    /// `GET path`; returns (status, body as text) — for `/metrics` and `/healthz`.
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("http request");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// `POST path` with a raw body sent as `application/json`; returns (status, body as text),
    /// so tests can check that even refusals of malformed bodies are JSON.
    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: String) -> (u16, String) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("http request");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// POSTs the head of a request whose body would be `len` bytes of `content_type`, and no
    /// body: the server must refuse it by its `Content-Length` alone. (A client that writes
    /// the whole body first races the server's close and can fail with a broken pipe before
    /// it reads the answer.)
    pub async fn post_oversized(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        len: usize,
    ) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = self.base.trim_start_matches("http://");
        let mut tcp = tokio::net::TcpStream::connect(host).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: {content_type}\r\nContent-Length: {len}\r\n\r\n"
        );
        tcp.write_all(head.as_bytes())
            .await
            .expect("write the head");
        // The answer has a Content-Length; read until its body is complete.
        let mut got = Vec::new();
        let answer = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let mut buf = [0u8; 4096];
                let n = tcp.read(&mut buf).await.expect("read the answer");
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let want = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= want || n == 0 {
                        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
                        return (status.unwrap_or(0), body.to_string());
                    }
                }
                assert!(n > 0, "{path}: closed before answering: {text:?}");
            }
        })
        .await;
        answer.expect("an answer within 10 s, without the body")
    }

    /// The running server.
    pub fn app(&self) -> &sprintlog::engine::app::AppState {
        &self.server.as_ref().expect("server running").app
    }

    /// Jobs the scheduler has run since this server started.
    pub fn jobs_run(&self) -> u64 {
        self.app()
            .metrics
            .jobs_run
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When the next job (of any kind, claimed or not) is due, if any is left.
    pub async fn pending_job(&self) -> Option<i64> {
        self.next_due(JobKinds::All).await
    }

    /// When the next job of `kinds` that is not done is due (a claimed one: its lease's end).
    pub async fn next_due(&self, kinds: JobKinds<'_>) -> Option<i64> {
        let store = self.app().registry.store().clone();
        store.next_job_due(kinds).await.expect("next job")
    }

    /// The stored status of the job `key`.
    pub async fn job(&self, key: &str) -> JobStatus {
        let store = self.app().registry.store().clone();
        let status = store.job_status(key).await.expect("job status");
        status.unwrap_or_else(|| panic!("no job {key}"))
    }

    /// Waits (10 s at most) until the job `key` is done for good — run, found nothing to do,
    /// delivered or given up; returns its status. A done job is never claimed again.
    pub async fn job_done(&self, key: &str) -> JobStatus {
        eventually(
            Duration::from_secs(10),
            &format!("job {key} done"),
            || async {
                let status = self.job(key).await;
                status.done_at.is_some().then_some(status)
            },
        )
        .await
    }

    /// The value of an unlabelled metric in `/metrics` (0 when missing).
    pub async fn metric(&self, name: &str) -> f64 {
        let (_, text) = self.get_text("/metrics").await;
        text.lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .find_map(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Creates a planning; returns the creation response.
    pub async fn create(&self, title: &str) -> Created {
        let (status, body) = self
            .post(
                "/api/plannings",
                None,
                json!({ "title": title, "name": "Fran" }),
            )
            .await;
        assert_eq!(status, 200, "create: {body}");
        Created {
            planning: body["planning"].as_str().unwrap().to_string(),
            participant: body["participant"].as_str().unwrap().to_string(),
            token: body["token"].as_str().unwrap().to_string(),
            member_invite: body["member_invite"].as_str().unwrap().to_string(),
            observer_invite: body["observer_invite"].as_str().unwrap().to_string(),
        }
    }

    /// Joins with an invite; returns (participant id, token).
    pub async fn join(&self, planning: &str, invite: &str, name: &str) -> (String, String) {
        let (status, body) = self
            .post(
                &format!("/api/plannings/{planning}/join"),
                None,
                json!({ "invite": invite, "name": name }),
            )
            .await;
        assert_eq!(status, 200, "join: {body}");
        (
            body["participant"].as_str().unwrap().to_string(),
            body["token"].as_str().unwrap().to_string(),
        )
    }

    /// Sends a command over REST; returns (status, body).
    pub async fn command(
        &self,
        planning: &str,
        token: &str,
        op: &str,
        command: Value,
    ) -> (u16, Value) {
        self.post(
            &format!("/api/plannings/{planning}/commands"),
            Some(token),
            json!({ "client_op_id": op, "command": command }),
        )
        .await
    }

    /// Sends a command that must succeed; returns the head after it.
    pub async fn ok(&self, planning: &str, token: &str, command: Value) -> i64 {
        let op = uuid::Uuid::new_v4().to_string();
        let (status, body) = self.command(planning, token, &op, command.clone()).await;
        assert_eq!(status, 200, "command {command} failed: {body}");
        body["head"].as_i64().unwrap()
    }

    /// Moves the planning to `async`, proposes one item and opens a round on it (default
    /// deadline), as its facilitator: the set-up most round tests start from. Returns the
    /// item's and the round's ids.
    pub async fn round_on_new_item(&self, c: &Created, title: &str) -> (String, String) {
        let p = &c.planning;
        self.ok(p, &c.token, json!({"type": "ChangePhase", "to": "async"}))
            .await;
        self.ok(
            p,
            &c.token,
            json!({"type": "ProposeItem", "draft": {"title": title}}),
        )
        .await;
        let last = |v: &Value, list: &str| {
            v["state"][list]
                .as_array()
                .and_then(|l| l.last())
                .and_then(Value::as_str)
                .expect("an id")
                .to_string()
        };
        let item = last(&self.state(p, &c.token).await, "rank");
        self.ok(p, &c.token, json!({"type": "OpenRound", "items": [item]}))
            .await;
        let round = last(&self.state(p, &c.token).await, "round_order");
        (item, round)
    }

    /// The planning as `token` sees it.
    pub async fn state(&self, planning: &str, token: &str) -> Value {
        let (status, body) = self
            .get(&format!("/api/plannings/{planning}"), Some(token))
            .await;
        assert_eq!(status, 200, "read: {body}");
        body
    }

    /// Opens a websocket as `token`, resuming after `since`.
    pub async fn ws(&self, planning: &str, token: &str, since: i64) -> Ws {
        let url = format!(
            "{}/ws/plannings/{planning}?token={token}&since={since}",
            self.ws_base
        );
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connect");
        Ws { socket }
    }
}

impl TestServer {
    /// Opens a websocket that keeps a view (`view=true`), resuming after `since`.
    pub async fn ws_keeping_view(&self, planning: &str, token: &str, since: i64) -> Ws {
        let url = format!(
            "{}/ws/plannings/{planning}?token={token}&since={since}&view=true",
            self.ws_base
        );
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connect");
        Ws { socket }
    }

    /// Opens a websocket over a TCP socket with a small receive buffer (`recv_buffer` bytes),
    /// so a client that stops reading backs the server up quickly (slow-consumer tests).
    pub async fn ws_small_window(
        &self,
        planning: &str,
        token: &str,
        since: i64,
        recv_buffer: u32,
    ) -> Ws {
        let addr = self.server.as_ref().expect("server running").addr;
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.set_recv_buffer_size(recv_buffer).expect("SO_RCVBUF");
        let stream = sock.connect(addr).await.expect("tcp connect");
        let url = format!(
            "{}/ws/plannings/{planning}?token={token}&since={since}",
            self.ws_base
        );
        let (socket, _) =
            tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
                .await
                .expect("ws handshake");
        Ws { socket }
    }

    /// The HTTP status of a websocket upgrade the server refuses (panics if it accepts).
    pub async fn ws_refused(&self, planning: &str, token: &str) -> u16 {
        let url = format!("{}/ws/plannings/{planning}?token={token}", self.ws_base);
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
            Err(e) => panic!("ws upgrade failed without an HTTP status: {e}"),
            Ok(_) => panic!("ws upgrade was accepted"),
        }
    }
}

pub struct Created {
    pub planning: String,
    pub participant: String,
    pub token: String,
    pub member_invite: String,
    pub observer_invite: String,
}

pub struct Ws {
    pub socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// What the socket said.
#[derive(Debug)]
pub enum Got {
    Frame(Value),
    Closed(Option<u16>),
    Timeout,
}

impl Ws {
    /// Next frame (JSON), close, or timeout.
    pub async fn next(&mut self, wait: Duration) -> Got {
        loop {
            match tokio::time::timeout(wait, self.socket.next()).await {
                Err(_) => return Got::Timeout,
                Ok(None) => return Got::Closed(None),
                Ok(Some(Err(_))) => return Got::Closed(None),
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Got::Frame(serde_json::from_str(&t).expect("server sends JSON"))
                }
                Ok(Some(Ok(Message::Close(c)))) => {
                    return Got::Closed(c.map(|c| u16::from(c.code)))
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Next JSON frame, panicking otherwise.
    pub async fn frame(&mut self) -> Value {
        match self.next(Duration::from_secs(10)).await {
            Got::Frame(v) => v,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Reads frames until one of `type`; returns it and the event frames seen on the way.
    pub async fn until(&mut self, ty: &str) -> (Value, Vec<Value>) {
        let mut events = Vec::new();
        loop {
            let f = self.frame().await;
            if f["type"] == ty {
                return (f, events);
            }
            if f["type"] == "event" {
                events.push(f);
            }
        }
    }

    /// Reads frames until the event with `seq` arrives; returns the events seen (inclusive).
    pub async fn events_until(&mut self, seq: i64) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            let f = self.frame().await;
            if f["type"] == "event" {
                let s = f["seq"].as_i64().unwrap();
                events.push(f);
                if s >= seq {
                    return events;
                }
            }
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.socket
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("ws send");
    }

    /// Sends frames in one write (queued, then flushed once): the server reads them as a burst.
    pub async fn send_all(&mut self, frames: &[Value]) {
        for v in frames {
            self.socket
                .feed(Message::Text(v.to_string().into()))
                .await
                .expect("ws feed");
        }
        self.socket.flush().await.expect("ws flush");
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.to_string().into()))
            .await
            .expect("ws send");
    }
}
