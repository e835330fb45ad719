//! A browser tab of the `views` scenario: one websocket on a planning, holding the planning the
//! way the web client does — kept by the server's pushes ([`Model::Push`], `view=true`: whole
//! parts, then RFC 6902 patches) or refetched over REST after each batch of event frames
//! ([`Model::Refetch`], the web client before kept views) — and counting what it receives.

use crate::fanout::{forward_ack, Current, OpResult};
use crate::{stamped, Result};
use futures_util::StreamExt;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};

/// How a tab keeps its view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// Connects with `view=true` and applies the pushed parts and patches; no HTTP after joining.
    Push,
    /// Connects without `view`; after each batch of event frames (a quiet timer after the last
    /// one) reads `GET /api/plannings/{id}` and `GET …/inbox`, one fetch at a time.
    Refetch,
}

impl Model {
    pub fn name(self) -> &'static str {
        match self {
            Model::Push => "push",
            Model::Refetch => "refetch",
        }
    }
}

/// The kinds of websocket frame counted apart (which of them carry the bytes).
pub const FRAME_KINDS: [&str; 8] = [
    "event",
    "view_patch",
    "mine_patch",
    "view",
    "mine",
    "ack",
    "presence",
    "other",
];

fn kind_index(ty: &str) -> usize {
    match ty {
        "error" => 5,
        _ => FRAME_KINDS
            .iter()
            .position(|k| *k == ty)
            .unwrap_or(FRAME_KINDS.len() - 1),
    }
}

/// What every tab of a room received, added up (atomics: each tab is its own task).
#[derive(Default)]
pub struct Counters {
    frames: [AtomicU64; 8],
    /// Websocket bytes on the wire: each frame's payload and its header (server frames are
    /// unmasked: 2 bytes, 4 from 126 bytes of payload, 10 from 64 KiB).
    frame_bytes: [AtomicU64; 8],
    requests: AtomicU64,
    /// HTTP response bodies as received (gzip when the server compressed them)…
    body_bytes: AtomicU64,
    /// …and once decompressed.
    plain_bytes: AtomicU64,
    /// HTTP status lines and headers (their text: name, value, separators).
    header_bytes: AtomicU64,
    patch_failures: AtomicU64,
    fetch_errors: AtomicU64,
}

/// A reading of [`Counters`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Count {
    pub frames: [u64; 8],
    pub frame_bytes: [u64; 8],
    pub requests: u64,
    pub body_bytes: u64,
    pub plain_bytes: u64,
    pub header_bytes: u64,
    pub patch_failures: u64,
    pub fetch_errors: u64,
}

impl Counters {
    pub fn read(&self) -> Count {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Count {
            frames: std::array::from_fn(|i| load(&self.frames[i])),
            frame_bytes: std::array::from_fn(|i| load(&self.frame_bytes[i])),
            requests: load(&self.requests),
            body_bytes: load(&self.body_bytes),
            plain_bytes: load(&self.plain_bytes),
            header_bytes: load(&self.header_bytes),
            patch_failures: load(&self.patch_failures),
            fetch_errors: load(&self.fetch_errors),
        }
    }

    fn frame(&self, ty: &str, payload: usize) {
        let i = kind_index(ty);
        let header = match payload {
            0..=125 => 2,
            126..=65535 => 4,
            _ => 10,
        };
        self.frames[i].fetch_add(1, Ordering::Relaxed);
        self.frame_bytes[i].fetch_add((payload + header) as u64, Ordering::Relaxed);
    }
}

impl Count {
    pub fn minus(self, before: Count) -> Count {
        Count {
            frames: std::array::from_fn(|i| self.frames[i] - before.frames[i]),
            frame_bytes: std::array::from_fn(|i| self.frame_bytes[i] - before.frame_bytes[i]),
            requests: self.requests - before.requests,
            body_bytes: self.body_bytes - before.body_bytes,
            plain_bytes: self.plain_bytes - before.plain_bytes,
            header_bytes: self.header_bytes - before.header_bytes,
            patch_failures: self.patch_failures - before.patch_failures,
            fetch_errors: self.fetch_errors - before.fetch_errors,
        }
    }

    pub fn ws_frames(&self) -> u64 {
        self.frames.iter().sum()
    }

    pub fn ws_bytes(&self) -> u64 {
        self.frame_bytes.iter().sum()
    }
}

/// When the tabs came to hold each seq after `base`: per seq, the latest time (realtime ns)
/// at which a tab's view first included it, the latest time the data that brought it there
/// reached the tab's socket, and how many tabs hold it.
pub struct Reached {
    base: u64,
    last_ns: Vec<AtomicU64>,
    arrived_ns: Vec<AtomicU64>,
    count: Vec<AtomicU32>,
    tabs: u32,
    /// Woken whenever a seq has reached every tab.
    pub all: tokio::sync::Notify,
}

impl Reached {
    pub fn new(base: u64, len: usize, tabs: usize) -> Self {
        Reached {
            base,
            last_ns: (0..len).map(|_| AtomicU64::new(0)).collect(),
            arrived_ns: (0..len).map(|_| AtomicU64::new(0)).collect(),
            count: (0..len).map(|_| AtomicU32::new(0)).collect(),
            tabs: tabs as u32,
            all: tokio::sync::Notify::new(),
        }
    }

    fn slot(&self, seq: u64) -> Option<usize> {
        let i = seq.checked_sub(self.base + 1)? as usize;
        (i < self.last_ns.len()).then_some(i)
    }

    /// Whether `seq` fits the table.
    pub fn holds(&self, seq: u64) -> bool {
        self.slot(seq).is_some()
    }

    /// A tab's view went from head `from` to head `to` at `now_ns`, with data that reached
    /// its socket at `arrived_ns`.
    fn advance(&self, from: i64, to: i64, now_ns: u64, arrived_ns: u64) {
        let from = from.max(self.base as i64) as u64 + 1;
        for seq in from..=to.max(0) as u64 {
            let Some(i) = self.slot(seq) else { break };
            self.last_ns[i].fetch_max(now_ns, Ordering::Relaxed);
            self.arrived_ns[i].fetch_max(arrived_ns, Ordering::Relaxed);
            if self.count[i].fetch_add(1, Ordering::Relaxed) + 1 == self.tabs {
                self.all.notify_one();
            }
        }
    }

    /// Whether every tab holds a view at `seq` or later.
    pub fn held_by_all(&self, seq: u64) -> bool {
        self.slot(seq)
            .is_some_and(|i| self.count[i].load(Ordering::Relaxed) >= self.tabs)
    }

    /// When the last tab came to hold `seq` (realtime ns; 0 if none yet).
    pub fn last_ns(&self, seq: u64) -> u64 {
        self.slot(seq)
            .map_or(0, |i| self.last_ns[i].load(Ordering::Relaxed))
    }

    /// When the data that brought the last tab to `seq` reached its socket (realtime ns).
    pub fn arrived_ns(&self, seq: u64) -> u64 {
        self.slot(seq)
            .map_or(0, |i| self.arrived_ns[i].load(Ordering::Relaxed))
    }
}

/// What a tab holds, shared with the driver (a std mutex: held for a frame's work, never
/// across an await).
#[derive(Debug)]
pub struct Held {
    /// The head the tab's view is at: push, the shared part's `at`; refetch, the last kept
    /// `GET /api/plannings/{id}`'s `head` (−1: none yet).
    pub at: i64,
    /// Push: the head of the own part.
    pub mine_at: i64,
    /// Push: the shared part and the own part as kept.
    pub view: Value,
    pub mine: Value,
    /// Refetch: the last kept answers (decompressed) of the view and of the inbox.
    pub view_body: Vec<u8>,
    pub inbox_body: Vec<u8>,
    inbox_at: i64,
    /// Refetch: a quiet timer is armed or a fetch is in flight.
    pub busy: bool,
    /// Pongs received (the driver's pings: every frame sent before a pong has arrived).
    pub pongs: u64,
}

impl Default for Held {
    fn default() -> Self {
        Held {
            at: -1,
            mine_at: -1,
            view: Value::Null,
            mine: Value::Null,
            view_body: Vec::new(),
            inbox_body: Vec::new(),
            inbox_at: -1,
            busy: false,
            pongs: 0,
        }
    }
}

/// One tab: how it keeps its view, where it reads over REST, and where it reports.
pub struct Tab {
    pub model: Model,
    pub http: reqwest::Client,
    /// `GET /api/plannings/{id}` and `GET …/inbox`.
    pub view_url: String,
    pub inbox_url: String,
    pub token: String,
    /// The refetch model's quiet timer after the last event frame.
    pub quiet: Duration,
    pub counters: Arc<Counters>,
    pub reached: Arc<Reached>,
    pub held: Arc<Mutex<Held>>,
    /// Acks and refusals of the commands this tab sends.
    pub acks: mpsc::UnboundedSender<OpResult>,
    /// The facilitator's tab: keeps the seq and id of the last `RoundOpened` here.
    pub rounds: Option<Current>,
    /// Print the frames this tab receives while the sample is on (`--show-frames`).
    pub sample: Option<Arc<Sample>>,
    /// The kernel's receive stamps of the socket's reads (set once connected).
    pub stamps: Option<Arc<stamped::Stamps>>,
}

/// Frames to print to stderr from one tab, while `on`.
#[derive(Default)]
pub struct Sample {
    pub on: std::sync::atomic::AtomicBool,
    pub left: AtomicU64,
}

impl Sample {
    fn show(&self, text: &str) {
        let on = self.on.load(Ordering::Relaxed);
        if on
            && self
                .left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        {
            eprintln!("frame ({} B): {text}", text.len());
        }
    }
}

/// Both answers of one refetch.
struct Fetched {
    view: Vec<u8>,
    inbox: Vec<u8>,
}

type Fetch = Pin<Box<dyn Future<Output = Result<Fetched>> + Send>>;

/// What a frame means to the tab's loop.
#[derive(PartialEq, Eq)]
enum Seen {
    Event,
    CaughtUp,
    Other,
}

impl Tab {
    /// Reads the tab's socket until it closes (or the task is aborted). A refetch tab reads
    /// once on `caught_up` (the old client's first paint) and after each batch of events.
    pub async fn run(
        self,
        mut stream: impl futures_util::Stream<Item = tungstenite::Result<Message>> + Unpin,
    ) {
        let refetch = self.model == Model::Refetch;
        let mut timer: Option<Instant> = None;
        let mut fetch: Option<Fetch> = None;
        // The old client's `again`: the timer fired during a fetch, so one more follows it.
        let mut again = false;
        let mut busy = false;
        loop {
            let due = timer.unwrap_or_else(Instant::now);
            tokio::select! {
                msg = stream.next() => {
                    let text = match msg {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                        Some(Ok(_)) => continue,
                    };
                    match self.on_frame(&text) {
                        Seen::Event if refetch => timer = Some(Instant::now() + self.quiet),
                        Seen::CaughtUp if refetch && fetch.is_none() => fetch = Some(self.fetch()),
                        _ => {}
                    }
                }
                _ = tokio::time::sleep_until(due), if timer.is_some() => {
                    timer = None;
                    if fetch.is_some() {
                        again = true;
                    } else {
                        fetch = Some(self.fetch());
                    }
                }
                r = async { fetch.as_mut().expect("guarded").await }, if fetch.is_some() => {
                    fetch = None;
                    match r {
                        Ok(f) => self.fetched(f),
                        Err(e) => {
                            eprintln!("refetch: {e}");
                            self.counters.fetch_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if std::mem::take(&mut again) {
                        fetch = Some(self.fetch());
                    }
                }
            }
            let now_busy = timer.is_some() || fetch.is_some();
            if now_busy != busy {
                busy = now_busy;
                if let Ok(mut h) = self.held.lock() {
                    h.busy = busy;
                }
            }
        }
    }

    /// Counts a frame and does what it asks.
    fn on_frame(&self, text: &str) -> Seen {
        if let Some(sample) = &self.sample {
            sample.show(text);
        }
        let ty = frame_type(text);
        if ty == "pong" {
            // Only the driver's pings after the stream cause these: not counted.
            if let Ok(mut h) = self.held.lock() {
                h.pongs += 1;
            }
            return Seen::Other;
        }
        self.counters.frame(ty, text.len());
        match ty {
            "event" => {
                if let Some(current) = &self.rounds {
                    note_round(text, current);
                }
                Seen::Event
            }
            "view" | "mine" | "view_patch" | "mine_patch" => {
                match serde_json::from_str(text) {
                    Ok(frame) => self.keep(frame),
                    Err(_) => self.patch_failed(),
                }
                Seen::Other
            }
            "ack" | "error" => {
                forward_ack(text, &self.acks);
                Seen::Other
            }
            "caught_up" => Seen::CaughtUp,
            _ => Seen::Other,
        }
    }

    fn patch_failed(&self) {
        self.counters.patch_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Applies a frame of the kept view (docs/protocol.md, "Kept views"): a whole part
    /// replaces it; a patch applies when `base <= held < at` and is ignored when `at <= held`.
    /// A patch that cannot be applied is counted (a browser would reconnect).
    fn keep(&self, mut f: Value) {
        let ty = f["type"].as_str().unwrap_or_default().to_string();
        let Some(new_at) = f["at"].as_i64() else {
            return self.patch_failed();
        };
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        let h = &mut *held;
        let shared = ty.starts_with("view");
        let (doc, at) = if shared {
            (&mut h.view, &mut h.at)
        } else {
            (&mut h.mine, &mut h.mine_at)
        };
        match ty.as_str() {
            "view" | "mine" => *doc = f[ty.as_str()].take(),
            _ if new_at <= *at => return,
            _ => {
                let base = f["base"].as_i64().unwrap_or(i64::MAX);
                let ops: Option<json_patch::Patch> = serde_json::from_value(f["ops"].take()).ok();
                let applied = match ops {
                    Some(ops) if base <= *at && !doc.is_null() => {
                        json_patch::patch(doc, &ops).is_ok()
                    }
                    _ => false,
                };
                if !applied {
                    return self.patch_failed();
                }
            }
        }
        let from = std::mem::replace(at, new_at);
        if shared && new_at > from {
            let now = stamped::realtime_ns();
            // tungstenite reads only when its buffer holds no whole frame, so the newest stamp
            // is the one of the read that completed this frame.
            let arrived = self
                .stamps
                .as_ref()
                .map(|s| s.newest.load(Ordering::Relaxed))
                .filter(|&t| t > 0)
                .unwrap_or(now);
            self.reached.advance(from, new_at, now, arrived);
        }
    }

    /// One refetch: both reads at once, as the old client's `Promise.all`.
    fn fetch(&self) -> Fetch {
        let (http, counters, token) =
            (self.http.clone(), self.counters.clone(), self.token.clone());
        let (view_url, inbox_url) = (self.view_url.clone(), self.inbox_url.clone());
        Box::pin(async move {
            let (view, inbox) = tokio::join!(
                get(&http, &view_url, &token, &counters),
                get(&http, &inbox_url, &token, &counters)
            );
            Ok(Fetched {
                view: view?,
                inbox: inbox?,
            })
        })
    }

    /// Keeps a refetch's answers unless older than what is held (never back in time).
    fn fetched(&self, f: Fetched) {
        let now = stamped::realtime_ns();
        let head = top_level_u64(&f.view, "head").map_or(-1, |h| h as i64);
        let inbox_head = top_level_u64(&f.inbox, "head").map_or(-1, |h| h as i64);
        let Ok(mut h) = self.held.lock() else {
            return;
        };
        if inbox_head >= h.inbox_at {
            (h.inbox_body, h.inbox_at) = (f.inbox, inbox_head);
        }
        if head >= h.at {
            let from = std::mem::replace(&mut h.at, head);
            h.view_body = f.view;
            if head > from {
                // No kernel stamp on reqwest's sockets: held when read.
                self.reached.advance(from, head, now, now);
            }
        }
    }
}

/// `GET url` as a browser would (`Accept-Encoding: gzip`); counts the request, its headers and
/// its body on the wire and decompressed; returns the decompressed body.
async fn get(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    counters: &Counters,
) -> Result<Vec<u8>> {
    counters.requests.fetch_add(1, Ordering::Relaxed);
    let resp = http
        .get(url)
        .bearer_auth(token)
        .header(reqwest::header::ACCEPT_ENCODING, "gzip")
        .send()
        .await?;
    let status = resp.status();
    // "HTTP/1.1 200 OK\r\n", each "name: value\r\n", and the blank line.
    let headers: usize = resp
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + 17
        + 2;
    let gzip = resp
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .map(|v| v.as_bytes().to_vec());
    let body = resp.bytes().await?;
    counters
        .header_bytes
        .fetch_add(headers as u64, Ordering::Relaxed);
    counters
        .body_bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    let plain = match gzip.as_deref() {
        None | Some(b"identity") => body.to_vec(),
        Some(b"gzip") => {
            let mut out = Vec::with_capacity(body.len() * 8);
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out)?;
            out
        }
        Some(other) => {
            return Err(format!("GET {url}: unexpected encoding {other:?}").into());
        }
    };
    counters
        .plain_bytes
        .fetch_add(plain.len() as u64, Ordering::Relaxed);
    if !status.is_success() {
        return Err(format!("GET {url}: {status}").into());
    }
    Ok(plain)
}

/// The `type` of a frame: every server frame starts with it (`{"type":"…"`), so it is read
/// without parsing the JSON.
fn frame_type(text: &str) -> &str {
    text.split_once("\"type\":\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or("", |(ty, _)| ty)
}

/// Keeps the seq and round of a `RoundOpened` event frame in `current`.
fn note_round(text: &str, current: &Current) {
    if !text.contains("\"kind\":\"RoundOpened\"") {
        return;
    }
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    if let (Some(seq), Some(round)) = (v["seq"].as_u64(), v["data"]["round"].as_str()) {
        if let Ok(mut c) = current.lock() {
            *c = (seq, round.to_string());
        }
    }
}

/// The unsigned number under `key` at the top level of the JSON object `json`, found by a scan
/// that skips nested values and strings (cheaper than parsing a whole view for its head).
pub fn top_level_u64(json: &[u8], key: &str) -> Option<u64> {
    let quoted = format!("\"{key}\"");
    let (mut depth, mut i) = (0usize, 0usize);
    while i < json.len() {
        match json[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.checked_sub(1)?,
            b'"' => {
                let start = i;
                i += 1;
                while i < json.len() && json[i] != b'"' {
                    i += if json[i] == b'\\' { 2 } else { 1 };
                }
                if depth == 1 && json.get(start..=i) == Some(quoted.as_bytes()) {
                    let rest = &json[i + 1..];
                    let rest = rest.strip_prefix(b":")?;
                    let end = rest
                        .iter()
                        .position(|c| !c.is_ascii_digit())
                        .unwrap_or(rest.len());
                    return std::str::from_utf8(&rest[..end]).ok()?.parse().ok();
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The viewer's full view (docs/protocol.md, "Kept views"): the shared part with their own
/// part laid over it — each of their cards into their vote, their questions added to the
/// comments, their whole webhook URLs (facilitators) over the masked ones.
pub fn overlay(view: &mut Value, mine: &Value) {
    let me = mine["participant"].as_str().unwrap_or_default();
    for (round, items) in mine["cards"].as_object().into_iter().flatten() {
        for (item, card) in items.as_object().into_iter().flatten() {
            let vote = view.pointer_mut(&format!("/rounds/{round}/votes/{item}/{me}"));
            if let Some(vote) = vote.and_then(Value::as_object_mut) {
                vote.insert("card".into(), card.clone());
            }
        }
    }
    if let (Some(shown), Some(extra)) = (
        view["comments"].as_object_mut(),
        mine["comments"].as_object(),
    ) {
        shown.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if let Some(hooks) = mine.get("webhooks") {
        view["webhooks"] = hooks.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_head_is_read_at_the_top_level_only() {
        let body = br#"{"a":{"head":1,"x":"\"head\":2"},"b":[{"head":3}],"head":42,"z":1}"#;
        assert_eq!(top_level_u64(body, "head"), Some(42));
        assert_eq!(top_level_u64(br#"{"head":7}"#, "head"), Some(7));
        assert_eq!(top_level_u64(br#"{"a":{"head":7}}"#, "head"), None);
    }

    #[test]
    fn my_part_is_laid_over_the_shared_view() {
        let mut view = json!({
            "rounds": {"r1": {"votes": {"i1": {"me": {"voted": true}, "bo": {"voted": true}}}}},
            "comments": {"c1": {"text": "shared"}},
            "webhooks": {"w1": {"url": "https://hooks.example"}},
        });
        let mine = json!({
            "participant": "me",
            "cards": {"r1": {"i1": "5"}},
            "comments": {"c2": {"text": "for me"}},
            "webhooks": {"w1": {"url": "https://hooks.example/secret"}},
            "inbox": {},
        });
        overlay(&mut view, &mine);
        assert_eq!(view["rounds"]["r1"]["votes"]["i1"]["me"]["card"], "5");
        assert!(view["rounds"]["r1"]["votes"]["i1"]["bo"]
            .get("card")
            .is_none());
        assert_eq!(view["comments"].as_object().map(|c| c.len()), Some(2));
        assert_eq!(
            view["webhooks"]["w1"]["url"],
            "https://hooks.example/secret"
        );
    }

    #[test]
    fn a_tab_reaches_every_seq_up_to_its_head() {
        let r = Reached::new(10, 5, 2);
        r.advance(10, 12, 100, 90);
        r.advance(-1, 11, 200, 150);
        assert!(r.held_by_all(11) && !r.held_by_all(12));
        assert_eq!((r.last_ns(11), r.arrived_ns(11)), (200, 150));
        // Past the table's end (seq 15) nothing is recorded.
        r.advance(11, 20, 300, 300);
        assert!(r.held_by_all(12) && !r.held_by_all(15) && !r.holds(16));
        assert_eq!(r.last_ns(12), 300);
        r.advance(12, 15, 400, 400);
        assert!(r.held_by_all(15));
    }

    #[test]
    fn frames_are_counted_with_their_websocket_header() {
        let c = Counters::default();
        c.frame("view_patch", 100);
        c.frame("event", 200);
        c.frame("error", 10);
        c.frame("hello", 70_000);
        let n = c.read();
        assert_eq!(n.frame_bytes[1], 102);
        assert_eq!(n.frame_bytes[0], 204);
        assert_eq!(n.frames[5], 1);
        assert_eq!(n.frame_bytes[7], 70_010);
        assert_eq!(
            frame_type(r#"{"type":"view_patch","base":1}"#),
            "view_patch"
        );
    }
}
