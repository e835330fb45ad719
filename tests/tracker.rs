//! Tracker connections over a real server and a local fake tracker that speaks the documented
//! endpoints: Jira Cloud (REST v3, enhanced JQL search with `nextPageToken`), Jira Data Center
//! (REST v2 search with `startAt`/`total`, the Agile sprint issues) and GitHub Issues (`Link`
//! pagination, labels). Imports page through every answer; write-backs go through the outbox,
//! are verified by reading the issue back, and end visibly: 429 with `Retry-After` and 5xx
//! retried, a refused field, an expired credential and a write that did not take reported as
//! failed. The credential appears in no response, export, log line or metric.

mod common;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::server::*;
use common::time::eventually;
use serde_json::{json, Value};
use sprintlog::config::{Limits, TrackerConfig};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The credential every test uses: it must show up nowhere.
const TOKEN: &str = "tok-SECRET-5f2c9a17e";
const EMAIL: &str = "bot@acme.test";
/// The story-points field's id.
const FIELD: &str = "customfield_10016";

// ---------------------------------------------------------------- captured logs

/// Every log line of this test binary's servers.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogSink;

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("sprintlog=trace,debug"))
            .with_ansi(false)
            .with_writer(|| LogSink)
            .try_init();
    });
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

// ---------------------------------------------------------------- the fake tracker

/// What the fake does with one write.
#[derive(Debug, Clone)]
enum Script {
    /// Answer with this status, JSON body and optional `Retry-After` (seconds).
    Answer(u16, Value, Option<u64>),
    /// Answer 204 (Jira) / 200 (GitHub) but change nothing.
    Ignore,
}

#[derive(Debug, Clone, Default)]
struct Issue {
    summary: String,
    labels: Vec<String>,
    points: Option<f64>,
}

#[derive(Default)]
struct Fake {
    /// The `Authorization` header value expected.
    auth: String,
    /// Every request refused with 401 (the credential expired).
    expired: AtomicBool,
    issues: Mutex<BTreeMap<String, Issue>>,
    /// Per issue key (Jira) or number (GitHub): answers to its next writes.
    script: Mutex<HashMap<String, VecDeque<Script>>>,
    /// `METHOD path?query` of every request, with the JSON body of searches.
    requests: Mutex<Vec<String>>,
    /// When (wall clock, microseconds) the last scripted answer with `Retry-After` went out.
    retry_after_sent: Mutex<Option<i64>>,
    base: OnceLock<String>,
}

/// Issues per page, whatever the client asks: trackers may send fewer than `maxResults`.
const PAGE: usize = 2;

impl Fake {
    async fn start(auth: String, issues: &[(&str, &str, &[&str])]) -> Arc<Fake> {
        let fake = Arc::new(Fake {
            auth,
            issues: Mutex::new(
                issues
                    .iter()
                    .map(|(k, s, labels)| {
                        let issue = Issue {
                            summary: s.to_string(),
                            labels: labels.iter().map(|l| l.to_string()).collect(),
                            points: None,
                        };
                        (k.to_string(), issue)
                    })
                    .collect(),
            ),
            ..Fake::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        fake.base.set(format!("http://{addr}")).unwrap();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    fn base(&self) -> &str {
        self.base.get().unwrap()
    }

    fn allow(&self) -> String {
        self.base().trim_start_matches("http://").to_string()
    }

    fn script(&self, key: &str, answers: Vec<Script>) {
        self.script
            .lock()
            .unwrap()
            .insert(key.to_string(), answers.into());
    }

    fn points(&self, key: &str) -> Option<f64> {
        self.issues.lock().unwrap().get(key).and_then(|i| i.points)
    }

    fn labels(&self, key: &str) -> Vec<String> {
        self.issues.lock().unwrap()[key].labels.clone()
    }

    fn requests(&self, prefix: &str) -> Vec<String> {
        let all = self.requests.lock().unwrap();
        all.iter()
            .filter(|r| r.starts_with(prefix))
            .cloned()
            .collect()
    }

    fn jira_issue(&self, key: &str, issue: &Issue) -> Value {
        json!({
            "id": "10001", "key": key,
            "fields": {
                "summary": issue.summary,
                "description": {"type": "doc", "version": 1, "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "From Jira"}]}]},
                "labels": issue.labels,
            },
        })
    }

    /// One page of Jira issues from `start`, and whether more follow.
    fn jira_page(&self, start: usize) -> (Vec<Value>, usize, bool) {
        let issues = self.issues.lock().unwrap();
        let page: Vec<Value> = issues
            .iter()
            .skip(start)
            .take(PAGE)
            .map(|(k, i)| self.jira_issue(k, i))
            .collect();
        (page, issues.len(), start + PAGE < issues.len())
    }

    fn github_issue(&self, number: &str, issue: &Issue) -> Value {
        let labels: Vec<Value> = issue.labels.iter().map(|l| json!({ "name": l })).collect();
        json!({ "number": number.parse::<u64>().unwrap(), "title": issue.summary,
                "body": "From GitHub", "labels": labels, "state": "open" })
    }

    /// The next scripted answer to a write of `key`, if any.
    fn next_script(&self, key: &str) -> Option<Script> {
        self.script.lock().unwrap().get_mut(key)?.pop_front()
    }
}

fn answer(status: u16, body: Value, retry_after: Option<u64>) -> Response {
    let mut resp = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    if let Some(s) = retry_after {
        resp.headers_mut()
            .insert("retry-after", s.to_string().parse().unwrap());
    }
    resp
}

fn wall_micros() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    i64::try_from(now.unwrap().as_micros()).unwrap()
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    let q = uri.query()?;
    url_pairs(q)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{q}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn handle(
    AxState(f): AxState<Arc<Fake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let line = format!(
        "{method} {path}?{} {}",
        uri.query().unwrap_or(""),
        String::from_utf8_lossy(&body)
    );
    f.requests.lock().unwrap().push(line);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if f.expired.load(Ordering::SeqCst) || auth != f.auth {
        // Jira's shape; GitHub's is `{"message": "Bad credentials"}`. This one also echoes the
        // credential it got, as some proxies do: the server must not pass that on.
        return answer(
            401,
            json!({"errorMessages": [format!("You are not authenticated ({auth}).")], "message": "Bad credentials"}),
            None,
        );
    }
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["rest", "api", _, "myself"]) => {
            answer(200, json!({"displayName": "Sprint Bot"}), None)
        }
        ("POST", ["rest", "api", "3", "search", "jql"]) => {
            let start = body["nextPageToken"]
                .as_str()
                .map_or(0, |t| t.trim_start_matches("start-").parse().unwrap());
            let (issues, _, more) = f.jira_page(start);
            let mut page = json!({ "issues": issues, "isLast": !more });
            if more {
                page["nextPageToken"] = json!(format!("start-{}", start + PAGE));
            }
            answer(200, page, None)
        }
        ("GET", ["rest", "api", "2", "search"])
        | ("GET", ["rest", "agile", "1.0", "board", _, "sprint", _, "issue"]) => {
            let start: usize = query_param(&uri, "startAt").map_or(0, |s| s.parse().unwrap());
            let (issues, total, _) = f.jira_page(start);
            answer(
                200,
                json!({"startAt": start, "maxResults": PAGE, "total": total, "issues": issues}),
                None,
            )
        }
        ("GET", ["rest", "api", _, "issue", key]) => {
            let want = query_param(&uri, "fields").unwrap_or_default();
            let issues = f.issues.lock().unwrap();
            let Some(issue) = issues.get(*key) else {
                return answer(
                    404,
                    json!({"errorMessages": ["Issue does not exist"]}),
                    None,
                );
            };
            answer(
                200,
                json!({"key": key, "fields": { want: issue.points }}),
                None,
            )
        }
        ("PUT", ["rest", "api", _, "issue", key]) => {
            match f.next_script(key) {
                Some(Script::Answer(s, b, r)) => {
                    if r.is_some() {
                        *f.retry_after_sent.lock().unwrap() = Some(wall_micros());
                    }
                    return answer(s, b, r);
                }
                Some(Script::Ignore) => return StatusCode::NO_CONTENT.into_response(),
                None => {}
            }
            let mut issues = f.issues.lock().unwrap();
            let Some(issue) = issues.get_mut(*key) else {
                return answer(
                    404,
                    json!({"errorMessages": ["Issue does not exist"]}),
                    None,
                );
            };
            match body["fields"][FIELD].as_f64() {
                Some(n) => {
                    issue.points = Some(n);
                    StatusCode::NO_CONTENT.into_response()
                }
                None => answer(
                    400,
                    json!({"errorMessages": [], "errors": {FIELD: "Number value expected."}}),
                    None,
                ),
            }
        }
        ("GET", ["repos", "acme", "web"]) => answer(200, json!({"full_name": "acme/web"}), None),
        ("GET", ["repos", "acme", "web", "issues"]) | ("GET", ["repositories", "42", "issues"]) => {
            github_list(&f, &uri)
        }
        ("GET", ["repos", "acme", "web", "issues", n]) => {
            let issues = f.issues.lock().unwrap();
            match issues.get(*n) {
                Some(i) => answer(200, f.github_issue(n, i), None),
                None => answer(404, json!({"message": "Not Found"}), None),
            }
        }
        ("PATCH", ["repos", "acme", "web", "issues", n]) => {
            match f.next_script(n) {
                Some(Script::Answer(s, b, r)) => return answer(s, b, r),
                Some(Script::Ignore) => {
                    let issues = f.issues.lock().unwrap();
                    return answer(200, f.github_issue(n, &issues[*n]), None);
                }
                None => {}
            }
            let mut issues = f.issues.lock().unwrap();
            let issue = issues.get_mut(*n).unwrap();
            issue.labels = body["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_string())
                .collect();
            let issue = issue.clone();
            answer(200, f.github_issue(n, &issue), None)
        }
        _ => answer(
            404,
            json!({"errorMessages": [format!("no route {path}")]}),
            None,
        ),
    }
}

/// GitHub's issue list: open issues with the label, a pull request among them (the endpoint
/// lists those too), `Link: <…>; rel="next"` while more follow.
fn github_list(f: &Fake, uri: &Uri) -> Response {
    let label = query_param(uri, "labels").unwrap_or_default();
    let page: usize = query_param(uri, "page").map_or(1, |p| p.parse().unwrap());
    let issues = f.issues.lock().unwrap();
    let mut all: Vec<Value> = issues
        .iter()
        .filter(|(_, i)| i.labels.contains(&label))
        .map(|(n, i)| f.github_issue(n, i))
        .collect();
    all.insert(
        1,
        json!({"number": 999, "title": "A pull request", "labels": [{"name": label}],
                         "pull_request": {"url": "x"}}),
    );
    let start = (page - 1) * PAGE;
    let items: Vec<Value> = all.iter().skip(start).take(PAGE).cloned().collect();
    let mut resp = answer(200, Value::Array(items), None);
    if start + PAGE < all.len() {
        let next = format!(
            "<{}/repositories/42/issues?labels={label}&state=open&per_page=100&page={}>; rel=\"next\", \
             <{}/repositories/42/issues?page=9>; rel=\"last\"",
            f.base(),
            page + 1,
            f.base()
        );
        resp.headers_mut().insert("link", next.parse().unwrap());
    }
    resp
}

// ---------------------------------------------------------------- helpers

fn limits(fake: &Fake, max_attempts: u32) -> Limits {
    Limits {
        command_rate: 1000,
        command_burst: 1000,
        read_rate: 1000,
        read_burst: 1000,
        trackers: TrackerConfig {
            allow: vec![fake.allow()],
            backoff_ms: 50,
            max_attempts,
            timeout_ms: 5000,
        },
        ..Limits::default()
    }
}

fn basic() -> String {
    let raw = format!("{EMAIL}:{TOKEN}");
    format!("Basic {}", base64(raw.as_bytes()))
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() {
                char::from(A[((n >> (18 - 6 * i)) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

const JIRA_ISSUES: &[(&str, &str, &[&str])] = &[
    ("PRJ-1", "Login", &["auth"]),
    ("PRJ-2", "Logout", &[]),
    ("PRJ-3", "Reset password", &["auth"]),
    ("PRJ-4", "Profile page", &[]),
    ("PRJ-5", "Audit log", &["ops"]),
];

/// Every response body a test saw, to be searched for the credential.
#[derive(Default)]
struct Seen(Mutex<String>);

impl Seen {
    fn add(&self, v: &Value) -> Value {
        self.0.lock().unwrap().push_str(&v.to_string());
        v.clone()
    }
}

/// The credential is in no response seen, no read of the planning, export, audit, event
/// page, transfer export, metrics, or log line.
async fn assert_no_credential(t: &TestServer, c: &Created, seen: &Seen) {
    let p = &c.planning;
    let mut texts = vec![seen.0.lock().unwrap().clone()];
    for path in [
        format!("/api/plannings/{p}?token={}", c.token),
        format!("/api/plannings/{p}/events?token={}", c.token),
        format!("/api/plannings/{p}/audit?format=json&token={}", c.token),
        format!(
            "/api/plannings/{p}/export/estimates?format=csv&token={}",
            c.token
        ),
        format!("/api/plannings/{p}/tracker?token={}", c.token),
        format!("/api/plannings/{p}/tracker/writeback?token={}", c.token),
        "/metrics".to_string(),
    ] {
        let (status, text) = t.get_text(&path).await;
        assert!(status < 500, "{path}: {status}");
        texts.push(text);
    }
    let id = sprintlog::domain::ids::PlanningId(p.parse().unwrap());
    texts.push(
        sprintlog::engine::transfer::export(t.app().registry.store().as_ref(), id)
            .await
            .unwrap(),
    );
    texts.push(logs());
    let basic = basic();
    let encoded = basic.trim_start_matches("Basic ");
    for text in texts {
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
        assert!(
            !text.contains(encoded),
            "the basic credential leaked: {text}"
        );
    }
}

async fn connect(t: &TestServer, c: &Created, body: Value, seen: &Seen) {
    let (status, v) = t
        .put(
            &format!("/api/plannings/{}/tracker", c.planning),
            Some(&c.token),
            body,
        )
        .await;
    seen.add(&v);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["credential"], "stored");
}

fn cloud(fake: &Fake) -> Value {
    json!({"kind": "jira-cloud", "site": fake.base(), "field": FIELD, "email": EMAIL, "token": TOKEN})
}

/// Imports through the tracker route; returns the answer.
async fn import(t: &TestServer, c: &Created, query: Value, seen: &Seen) -> Value {
    let (status, v) = t
        .post(
            &format!("/api/plannings/{}/tracker/import", c.planning),
            Some(&c.token),
            query,
        )
        .await;
    seen.add(&v);
    assert_eq!(status, 200, "{v}");
    v
}

/// The planning's items: external key → item id.
async fn items(t: &TestServer, c: &Created) -> BTreeMap<String, String> {
    let st = t.state(&c.planning, &c.token).await;
    let mut out = BTreeMap::new();
    for id in st["state"]["rank"].as_array().unwrap() {
        let id = id.as_str().unwrap();
        let item = &st["state"]["items"][id];
        let key = item["external_key"]
            .as_str()
            .or_else(|| item["draft"]["external_key"].as_str())
            .unwrap_or_else(|| panic!("no key in {item}"));
        out.insert(key.to_string(), id.to_string());
    }
    out
}

/// Agrees `cards` (key → card) as the facilitator.
async fn agree(
    t: &TestServer,
    c: &Created,
    ids: &BTreeMap<String, String>,
    cards: &[(&str, &str)],
) {
    let estimates: Vec<Value> = cards
        .iter()
        .map(|(k, card)| json!({"item": ids[*k], "card": card}))
        .collect();
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "AgreeEstimates", "estimates": estimates}),
    )
    .await;
}

/// Each item's write-back state (key → row) once none is pending or retrying.
async fn settled(t: &TestServer, c: &Created, n: usize, seen: &Seen) -> BTreeMap<String, Value> {
    eventually(Duration::from_secs(20), "write-backs settled", || async {
        let (status, v) = t
            .get(
                &format!("/api/plannings/{}/tracker/writeback", c.planning),
                Some(&c.token),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        seen.add(&v);
        let rows = v["writes"].as_array().unwrap().clone();
        let done = rows.len() == n
            && rows
                .iter()
                .all(|r| matches!(r["state"].as_str(), Some("verified" | "failed")));
        done.then(|| {
            rows.into_iter()
                .map(|r| (r["key"].as_str().unwrap().to_string(), r))
                .collect()
        })
    })
    .await
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn jira_cloud_import_pages_by_next_page_token_and_a_second_import_adds_nothing() {
    capture_logs();
    let fake = Fake::start(basic(), JIRA_ISSUES).await;
    let t = TestServer::start_with(sqlite(), limits(&fake, 3)).await;
    let c = t.create("Sprint 7").await;
    let seen = Seen::default();
    connect(&t, &c, cloud(&fake), &seen).await;
    let (status, v) = t
        .post(
            &format!("/api/plannings/{}/tracker/test", c.planning),
            Some(&c.token),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, v["account"].as_str()),
        (200, Some("Sprint Bot")),
        "{v}"
    );
    // The dry run shows every page's issues and writes nothing.
    let jql = json!({"jql": "project = PRJ AND sprint in openSprints()"});
    let (status, preview) = t
        .post(
            &format!("/api/plannings/{}/tracker/import?dry_run=true", c.planning),
            Some(&c.token),
            jql.clone(),
        )
        .await;
    seen.add(&preview);
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["items"].as_array().unwrap().len(), 5, "{preview}");
    assert!(items(&t, &c).await.is_empty());
    // Three pages: no token, then the two tokens the answers carried.
    let searches = fake.requests("POST /rest/api/3/search/jql");
    assert_eq!(searches.len(), 3, "{searches:?}");
    assert!(
        searches[1].contains("\"nextPageToken\":\"start-2\""),
        "{searches:?}"
    );
    assert!(
        searches[2].contains("\"nextPageToken\":\"start-4\""),
        "{searches:?}"
    );

    let v = import(&t, &c, jql.clone(), &seen).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 5, "{v}");
    let ids = items(&t, &c).await;
    assert_eq!(
        ids.keys().collect::<Vec<_>>(),
        ["PRJ-1", "PRJ-2", "PRJ-3", "PRJ-4", "PRJ-5"]
    );
    let st = t.state(&c.planning, &c.token).await;
    let login = &st["state"]["items"][&ids["PRJ-1"]];
    assert!(login.to_string().contains("From Jira"), "{login}");
    // Again: every key is known, nothing new.
    let again = import(&t, &c, jql, &seen).await;
    assert_eq!(again["items"], json!([]), "{again}");
    assert_eq!(again["skipped"].as_array().unwrap().len(), 5, "{again}");
    assert_eq!(items(&t, &c).await.len(), 5);
    assert_no_credential(&t, &c, &seen).await;
}

#[tokio::test]
async fn jira_data_center_pages_by_start_at_for_jql_and_board_sprints() {
    capture_logs();
    let fake = Fake::start(format!("Bearer {TOKEN}"), JIRA_ISSUES).await;
    let t = TestServer::start_with(sqlite(), limits(&fake, 3)).await;
    let c = t.create("Sprint 8").await;
    let seen = Seen::default();
    let dc = json!({"kind": "jira-dc", "site": format!("{}/", fake.base()), "field": FIELD, "token": TOKEN});
    connect(&t, &c, dc, &seen).await;
    let v = import(&t, &c, json!({"jql": "project = PRJ"}), &seen).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 5, "{v}");
    let starts: Vec<String> = fake
        .requests("GET /rest/api/2/search")
        .iter()
        .map(|r| {
            let q = r.split_once('?').unwrap().1.split(' ').next().unwrap();
            url_pairs(q)
                .into_iter()
                .find(|(k, _)| k == "startAt")
                .unwrap()
                .1
        })
        .collect();
    assert_eq!(starts, ["0", "2", "4"]);
    // A board's sprint through the Agile API: the same issues, all known already.
    let v = import(&t, &c, json!({"board": 12, "sprint": 34}), &seen).await;
    assert_eq!(v["skipped"].as_array().unwrap().len(), 5, "{v}");
    assert_eq!(
        fake.requests("GET /rest/agile/1.0/board/12/sprint/34/issue")
            .len(),
        3
    );
    // An estimate written to Data Center's v2 issue endpoint with the bearer token.
    let ids = items(&t, &c).await;
    agree(&t, &c, &ids, &[("PRJ-2", "5")]).await;
    let (status, v) = t
        .post(
            &format!("/api/plannings/{}/tracker/writeback", c.planning),
            Some(&c.token),
            json!({}),
        )
        .await;
    seen.add(&v);
    assert_eq!(status, 200, "{v}");
    let rows = settled(&t, &c, 1, &seen).await;
    assert_eq!(rows["PRJ-2"]["state"], "verified", "{rows:?}");
    assert_eq!(fake.points("PRJ-2"), Some(5.0));
    assert_eq!(fake.requests("PUT /rest/api/2/issue/PRJ-2").len(), 1);
    // Agreed again and committed: the commitment's write is the item's latest.
    agree(&t, &c, &ids, &[("PRJ-2", "8")]).await;
    let p = &c.planning;
    t.ok(p, &c.token, json!({"type": "DraftGoal", "text": "g"}))
        .await;
    t.ok(p, &c.token, json!({"type": "ChangePhase", "to": "async"}))
        .await;
    let scope =
        json!({"type": "CommitScope", "items": [ids["PRJ-2"]], "confirm_over_capacity": true});
    t.ok(p, &c.token, scope).await;
    eventually(
        Duration::from_secs(10),
        "the commitment's write",
        || async { (fake.points("PRJ-2") == Some(8.0)).then_some(()) },
    )
    .await;
    let rows = settled(&t, &c, 1, &seen).await;
    assert_eq!(
        (
            rows["PRJ-2"]["state"].as_str(),
            rows["PRJ-2"]["estimate"].as_str()
        ),
        (Some("verified"), Some("8")),
        "{rows:?}"
    );
    assert_no_credential(&t, &c, &seen).await;
}

/// Commits scope on a Cloud connection whose writes meet every kind of answer.
#[tokio::test]
async fn committing_writes_back_each_estimate_verified_or_failed_with_its_reason() {
    capture_logs();
    let mut issues = JIRA_ISSUES.to_vec();
    issues.push(("PRJ-6", "Search", &[]));
    issues.push(("PRJ-7", "Export", &[]));
    let fake = Fake::start(basic(), &issues).await;
    let t = TestServer::start_with(sqlite(), limits(&fake, 3)).await;
    let c = t.create("Sprint 9").await;
    let seen = Seen::default();
    connect(&t, &c, cloud(&fake), &seen).await;
    import(&t, &c, json!({"jql": "project = PRJ"}), &seen).await;
    let ids = items(&t, &c).await;
    let refused = json!({"errorMessages": [], "errors": {FIELD: "Number value expected."}});
    // PRJ-1 verified at once; PRJ-2 after a 429 honouring Retry-After; PRJ-3 after a 503;
    // PRJ-4's field refuses the value; PRJ-5's write is accepted but does not take; PRJ-6
    // answers 502 every time and PRJ-7 429 every time: both given up after their last attempt.
    fake.script("PRJ-2", vec![Script::Answer(429, json!({}), Some(1))]);
    fake.script("PRJ-3", vec![Script::Answer(503, json!({}), None)]);
    fake.script("PRJ-4", vec![Script::Answer(400, refused, None)]);
    fake.script("PRJ-5", vec![Script::Ignore]);
    fake.script("PRJ-6", vec![Script::Answer(502, json!({}), None); 5]);
    fake.script("PRJ-7", vec![Script::Answer(429, json!({}), None); 5]);
    let cards = [
        ("PRJ-1", "3"),
        ("PRJ-2", "5"),
        ("PRJ-3", "8"),
        ("PRJ-4", "2"),
        ("PRJ-5", "1"),
        ("PRJ-6", "13"),
        ("PRJ-7", "21"),
    ];
    agree(&t, &c, &ids, &cards).await;
    let p = &c.planning;
    t.ok(
        p,
        &c.token,
        json!({"type": "DraftGoal", "text": "Ship auth"}),
    )
    .await;
    t.ok(p, &c.token, json!({"type": "ChangePhase", "to": "async"}))
        .await;
    let scope: Vec<&String> = ids.values().collect();
    t.ok(
        p,
        &c.token,
        json!({"type": "CommitScope", "items": scope, "confirm_over_capacity": true}),
    )
    .await;

    let rows = settled(&t, &c, 7, &seen).await;
    let state = |k: &str| rows[k]["state"].as_str().unwrap().to_string();
    let error = |k: &str| rows[k]["error"].as_str().unwrap_or("").to_string();
    assert_eq!(state("PRJ-1"), "verified", "{rows:?}");
    // The 429's `Retry-After: 1` set the retry's due time: a second after it was answered.
    let jobs = t
        .app()
        .registry
        .store()
        .jobs_of(c.planning.parse().unwrap(), "tracker_write")
        .await
        .unwrap();
    let (_, prj2) = jobs
        .iter()
        .find(|(j, _)| j.payload.contains("\"PRJ-2\""))
        .unwrap();
    let sent = fake.retry_after_sent.lock().unwrap().unwrap();
    assert!(
        prj2.due_at >= sent + 1_000_000,
        "retried before Retry-After"
    );
    assert_eq!(
        (state("PRJ-2"), rows["PRJ-2"]["attempts"].as_i64()),
        ("verified".into(), Some(1))
    );
    assert_eq!(
        (state("PRJ-3"), rows["PRJ-3"]["attempts"].as_i64()),
        ("verified".into(), Some(1))
    );
    assert_eq!(state("PRJ-4"), "failed");
    assert!(
        error("PRJ-4").contains("Number value expected"),
        "{}",
        error("PRJ-4")
    );
    assert_eq!(
        rows["PRJ-4"]["attempts"], 1,
        "a refused value is not retried"
    );
    assert_eq!(state("PRJ-5"), "failed");
    assert!(
        error("PRJ-5").contains("did not take"),
        "{}",
        error("PRJ-5")
    );
    assert_eq!(state("PRJ-6"), "failed");
    assert!(
        error("PRJ-6").contains("gave up after 3 attempts"),
        "{}",
        error("PRJ-6")
    );
    assert_eq!(fake.requests("PUT /rest/api/3/issue/PRJ-6").len(), 3);
    assert_eq!(state("PRJ-7"), "failed");
    assert!(
        error("PRJ-7").contains("gave up after 3 attempts: rate limited by the tracker (429)"),
        "{}",
        error("PRJ-7")
    );
    assert_eq!(fake.requests("PUT /rest/api/3/issue/PRJ-7").len(), 3);
    for (key, card) in [("PRJ-1", 3.0), ("PRJ-2", 5.0), ("PRJ-3", 8.0)] {
        assert_eq!(fake.points(key), Some(card), "{key}");
    }
    for key in ["PRJ-4", "PRJ-5", "PRJ-6", "PRJ-7"] {
        assert_eq!(fake.points(key), None, "{key}");
    }
    // Every verified write was read back.
    assert!(!fake.requests("GET /rest/api/3/issue/PRJ-1").is_empty());
    assert_eq!(
        t.metric("sprintlog_tracker_writes_verified_total").await,
        3.0
    );
    assert_eq!(t.metric("sprintlog_tracker_writes_failed_total").await, 4.0);
    assert!(
        logs().contains("tracker write-back failed"),
        "logs are captured"
    );
    assert_no_credential(&t, &c, &seen).await;
}

#[tokio::test]
async fn an_expired_credential_ends_the_write_back_reported_without_retries() {
    capture_logs();
    let fake = Fake::start(basic(), JIRA_ISSUES).await;
    let t = TestServer::start_with(sqlite(), limits(&fake, 5)).await;
    let c = t.create("Sprint 10").await;
    let seen = Seen::default();
    connect(&t, &c, cloud(&fake), &seen).await;
    import(&t, &c, json!({"jql": "project = PRJ"}), &seen).await;
    let ids = items(&t, &c).await;
    agree(&t, &c, &ids, &[("PRJ-1", "3"), ("PRJ-2", "5")]).await;
    fake.expired.store(true, Ordering::SeqCst);
    let (status, v) = t
        .post(
            &format!("/api/plannings/{}/tracker/test", c.planning),
            Some(&c.token),
            json!({}),
        )
        .await;
    seen.add(&v);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (502, Some("tracker_unauthorized")),
        "{v}"
    );
    let (status, v) = t
        .post(
            &format!("/api/plannings/{}/tracker/writeback", c.planning),
            Some(&c.token),
            json!({}),
        )
        .await;
    seen.add(&v);
    assert_eq!(
        (status, v["queued"].as_array().map(Vec::len)),
        (200, Some(2)),
        "{v}"
    );
    let rows = settled(&t, &c, 2, &seen).await;
    for row in rows.values() {
        assert_eq!(row["state"], "failed", "{row}");
        assert_eq!(row["attempts"], 1, "{row}");
        assert!(
            row["error"]
                .as_str()
                .unwrap()
                .contains("refused the credential (401)"),
            "{row}"
        );
    }
    assert_eq!(fake.requests("PUT").len(), 2, "one attempt each");
    // The credential renewed, a second push writes them.
    fake.expired.store(false, Ordering::SeqCst);
    let (status, _) = t
        .post(
            &format!("/api/plannings/{}/tracker/writeback", c.planning),
            Some(&c.token),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    eventually(
        Duration::from_secs(10),
        "the second push verified",
        || async {
            let (_, v) = t
                .get(
                    &format!("/api/plannings/{}/tracker/writeback", c.planning),
                    Some(&c.token),
                )
                .await;
            let rows = v["writes"].as_array().unwrap().clone();
            rows.iter().all(|r| r["state"] == "verified").then_some(())
        },
    )
    .await;
    assert_eq!(fake.points("PRJ-2"), Some(5.0));
    assert_no_credential(&t, &c, &seen).await;
}

#[tokio::test]
async fn connections_are_the_facilitators_and_their_sites_follow_the_outbound_policy() {
    capture_logs();
    let fake = Fake::start(basic(), JIRA_ISSUES).await;
    let open = TestServer::start_with(sqlite(), limits(&fake, 3)).await;
    let c = open.create("Sprint 11").await;
    let seen = Seen::default();
    let path = format!("/api/plannings/{}/tracker", c.planning);
    // A member may neither set nor read it.
    let (_, member) = open.join(&c.planning, &c.member_invite, "Ann").await;
    let (status, v) = open.put(&path, Some(&member), cloud(&fake)).await;
    seen.add(&v);
    assert_eq!(status, 403, "{v}");
    assert_eq!(open.get(&path, Some(&c.token)).await.0, 404);
    // Anyone may learn whether one is set (a page need not ask for a connection that is none).
    let states = format!("{path}/writeback");
    let connected = |tok: String| {
        let (open, states) = (&open, &states);
        async move { open.get(states, Some(&tok)).await.1["connected"].clone() }
    };
    assert_eq!(connected(member.clone()).await, json!(false));
    connect(&open, &c, cloud(&fake), &seen).await;
    assert_eq!(connected(member.clone()).await, json!(true));
    let (status, v) = open.get(&path, Some(&member)).await;
    assert_eq!(status, 403, "{v}");
    let (status, v) = open.get(&path, Some(&c.token)).await;
    seen.add(&v);
    assert_eq!(
        (status, v["kind"].as_str(), v["field"].as_str()),
        (200, Some("jira-cloud"), Some(FIELD))
    );
    // Settings a kind does not take are refused with what to fix.
    let mut no_email = cloud(&fake);
    no_email.as_object_mut().unwrap().remove("email");
    let (status, v) = open.put(&path, Some(&c.token), no_email).await;
    seen.add(&v);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("tracker_invalid")),
        "{v}"
    );
    // Cleared: gone, credential included.
    let (status, v) = open.delete(&path, Some(&c.token)).await;
    seen.add(&v);
    assert_eq!(status, 200, "{v}");
    assert_eq!(open.get(&path, Some(&c.token)).await.0, 404);
    assert_eq!(connected(c.token.clone()).await, json!(false));
    assert_eq!(
        open.app()
            .registry
            .store()
            .tracker_connection(c.planning.parse().unwrap())
            .await
            .unwrap(),
        None
    );
    assert_no_credential(&open, &c, &seen).await;

    // Without --tracker-allow, a loopback site is refused before any request.
    let strict = TestServer::start_with(sqlite(), Limits::default()).await;
    let c = strict.create("Sprint 12").await;
    let before = fake.requests("").len();
    let (status, v) = strict
        .put(
            &format!("/api/plannings/{}/tracker", c.planning),
            Some(&c.token),
            cloud(&fake),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("tracker_invalid")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--tracker-allow"),
        "{v}"
    );
    assert_eq!(fake.requests("").len(), before);
}

#[tokio::test]
async fn github_issues_import_by_label_through_link_pages_and_estimates_become_labels() {
    capture_logs();
    let fake = Fake::start(
        format!("Bearer {TOKEN}"),
        &[
            ("1", "Login", &["sprint-1", "auth"]),
            ("2", "Logout", &["sprint-1", "estimate: 8"]),
            ("3", "Reset", &["sprint-1"]),
            ("4", "Later", &["backlog"]),
        ],
    )
    .await;
    let t = TestServer::start_with(sqlite(), limits(&fake, 3)).await;
    let c = t.create("Sprint 13").await;
    let seen = Seen::default();
    let gh = json!({"kind": "github", "site": fake.base(), "repo": "acme/web", "token": TOKEN});
    connect(&t, &c, gh, &seen).await;
    let (status, v) = t
        .post(
            &format!("/api/plannings/{}/tracker/test", c.planning),
            Some(&c.token),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, v["account"].as_str()),
        (200, Some("acme/web")),
        "{v}"
    );
    let v = import(&t, &c, json!({"label": "sprint-1"}), &seen).await;
    assert_eq!(
        v["items"].as_array().unwrap().len(),
        3,
        "the pull request is left out: {v}"
    );
    // Two pages: the second from the Link header's rel="next".
    assert_eq!(fake.requests("GET /repos/acme/web/issues?").len(), 1);
    assert_eq!(fake.requests("GET /repositories/42/issues?").len(), 1);
    let ids = items(&t, &c).await;
    assert_eq!(
        ids.keys().collect::<Vec<_>>(),
        ["acme/web#1", "acme/web#2", "acme/web#3"]
    );
    // Issue 3 "accepts" the label change but keeps its labels.
    fake.script("3", vec![Script::Ignore]);
    agree(
        &t,
        &c,
        &ids,
        &[
            ("acme/web#1", "3"),
            ("acme/web#2", "5"),
            ("acme/web#3", "2"),
        ],
    )
    .await;
    let (status, v) = t
        .post(
            &format!("/api/plannings/{}/tracker/writeback", c.planning),
            Some(&c.token),
            json!({}),
        )
        .await;
    seen.add(&v);
    assert_eq!(status, 200, "{v}");
    let rows = settled(&t, &c, 3, &seen).await;
    assert_eq!(rows["acme/web#1"]["state"], "verified", "{rows:?}");
    assert_eq!(rows["acme/web#2"]["state"], "verified", "{rows:?}");
    assert_eq!(rows["acme/web#3"]["state"], "failed", "{rows:?}");
    assert!(rows["acme/web#3"]["error"]
        .as_str()
        .unwrap()
        .contains("did not take"));
    assert_eq!(fake.labels("1"), ["sprint-1", "auth", "estimate: 3"]);
    // The earlier estimate label is replaced, not added to.
    assert_eq!(fake.labels("2"), ["sprint-1", "estimate: 5"]);
    assert_eq!(fake.labels("3"), ["sprint-1"]);
    assert_no_credential(&t, &c, &seen).await;
}

/// The connection and write-back states on PostgreSQL (the store parts differ per backend).
#[tokio::test]
async fn write_back_on_postgres() {
    let Some(backend) = postgres("tracker_write_back").await else {
        return;
    };
    capture_logs();
    let fake = Fake::start(basic(), JIRA_ISSUES).await;
    let t = TestServer::start_with(backend, limits(&fake, 3)).await;
    let c = t.create("Sprint 14").await;
    let seen = Seen::default();
    connect(&t, &c, cloud(&fake), &seen).await;
    import(&t, &c, json!({"jql": "project = PRJ"}), &seen).await;
    let ids = items(&t, &c).await;
    fake.script("PRJ-2", vec![Script::Answer(429, json!({}), Some(1))]);
    agree(&t, &c, &ids, &[("PRJ-1", "3"), ("PRJ-2", "5")]).await;
    let (status, _) = t
        .post(
            &format!("/api/plannings/{}/tracker/writeback", c.planning),
            Some(&c.token),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let rows = settled(&t, &c, 2, &seen).await;
    assert!(rows.values().all(|r| r["state"] == "verified"), "{rows:?}");
    assert_eq!(rows["PRJ-2"]["attempts"], 1);
    assert_no_credential(&t, &c, &seen).await;
}
