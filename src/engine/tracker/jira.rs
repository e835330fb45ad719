//! Jira: Cloud (REST v3, enhanced JQL search with `nextPageToken`) and Data Center / Server
//! (REST v2, search with `startAt`/`maxResults`/`total`); a board's sprint through the Agile
//! API (`/rest/agile/1.0`, `startAt` paging on both). The estimate is the story-points field's
//! number, written with `PUT …/issue/{key}` and read back with `GET …/issue/{key}?fields=`.

use super::{Client, Estimate, Query, Settings, Tracker, TrackerError};
use async_trait::async_trait;
use reqwest::Method;
use serde_json::{json, Value};

/// Issues asked for per page (Jira may send fewer; paging follows what it sends).
const PAGE: u64 = 100;
/// Pages followed at most, whatever the tracker says (a loop guard).
const MAX_PAGES: usize = 100;
/// The fields an import reads.
const FIELDS: [&str; 3] = ["summary", "description", "labels"];

/// A Jira site, Cloud or Data Center.
pub struct Jira {
    client: Client,
    cloud: bool,
    field: String,
}

impl Jira {
    pub fn new(client: Client, settings: &Settings) -> Jira {
        Jira {
            client,
            cloud: settings.kind == super::Kind::JiraCloud,
            field: settings.field.clone().unwrap_or_default(),
        }
    }

    /// `3` on Cloud, `2` on Data Center.
    fn version(&self) -> &'static str {
        if self.cloud {
            "3"
        } else {
            "2"
        }
    }

    /// Cloud's enhanced search: `POST /rest/api/3/search/jql`, following `nextPageToken`.
    async fn search_cloud(&self, jql: &str, cap: usize) -> Result<Vec<Value>, TrackerError> {
        let url = self.client.url(&["rest", "api", "3", "search", "jql"]);
        let mut issues = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut body = json!({ "jql": jql, "fields": FIELDS, "maxResults": PAGE });
            if let Some(t) = &token {
                body["nextPageToken"] = json!(t);
            }
            let req = self.client.request(Method::POST, url.clone()).json(&body);
            let (page, _) = self.client.json(req).await?;
            issues.extend(page_issues(&page)?);
            token = page
                .get("nextPageToken")
                .and_then(Value::as_str)
                .map(str::to_string);
            let last = page.get("isLast").and_then(Value::as_bool) == Some(true);
            if last || token.is_none() || issues.len() > cap {
                return Ok(issues);
            }
        }
        Ok(issues)
    }

    /// Offset paging (`startAt`, `maxResults`, `total`): Data Center's search and the Agile
    /// sprint issues on both.
    async fn search_offset(
        &self,
        segments: &[&str],
        jql: Option<&str>,
        cap: usize,
    ) -> Result<Vec<Value>, TrackerError> {
        let url = self.client.url(segments);
        let mut issues: Vec<Value> = Vec::new();
        for _ in 0..MAX_PAGES {
            let start = issues.len().to_string();
            let mut query = vec![
                ("startAt", start),
                ("maxResults", PAGE.to_string()),
                ("fields", FIELDS.join(",")),
            ];
            if let Some(jql) = jql {
                query.push(("jql", jql.to_string()));
            }
            let req = self.client.request(Method::GET, url.clone()).query(&query);
            let (page, _) = self.client.json(req).await?;
            let got = page_issues(&page)?;
            let total = page.get("total").and_then(Value::as_u64);
            let empty = got.is_empty();
            issues.extend(got);
            let done = match total {
                Some(total) => issues.len() as u64 >= total,
                None => page.get("isLast").and_then(Value::as_bool) == Some(true),
            };
            if done || empty || issues.len() > cap {
                return Ok(issues);
            }
        }
        Ok(issues)
    }
}

/// A page's `issues` array.
fn page_issues(page: &Value) -> Result<Vec<Value>, TrackerError> {
    page.get("issues")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| TrackerError::Protocol("a search page without an `issues` array".into()))
}

/// Points as shown and compared: `5`, `0.5` (hundredths, as the domain keeps them).
fn points_text(n: f64) -> String {
    crate::domain::fixed::Fixed2::from_hundredths((n * 100.0).round() as i64).to_string()
}

#[async_trait]
impl Tracker for Jira {
    async fn check(&self) -> Result<String, TrackerError> {
        let url = self.client.url(&["rest", "api", self.version(), "myself"]);
        let (me, _) = self
            .client
            .json(self.client.request(Method::GET, url))
            .await?;
        Ok(["displayName", "name", "accountId"]
            .iter()
            .find_map(|f| me.get(*f).and_then(Value::as_str))
            .unwrap_or("an account")
            .to_string())
    }

    async fn search(&self, query: &Query, cap: usize) -> Result<Vec<Value>, TrackerError> {
        let bad = |m: &str| Err(TrackerError::Config(m.into()));
        if query.label.is_some() || query.milestone.is_some() {
            return bad(
                "label and milestone are for GitHub; Jira imports by jql or board + sprint",
            );
        }
        match (query.jql.as_deref(), query.board, query.sprint) {
            (Some(jql), None, None) if !jql.trim().is_empty() => {
                if self.cloud {
                    self.search_cloud(jql, cap).await
                } else {
                    self.search_offset(&["rest", "api", "2", "search"], Some(jql), cap)
                        .await
                }
            }
            (None, Some(board), Some(sprint)) => {
                let (board, sprint) = (board.to_string(), sprint.to_string());
                let path = [
                    "rest",
                    "agile",
                    "1.0",
                    "board",
                    board.as_str(),
                    "sprint",
                    sprint.as_str(),
                    "issue",
                ];
                self.search_offset(&path, None, cap).await
            }
            _ => bad("give either jql, or board and sprint"),
        }
    }

    async fn current(&self, key: &str) -> Result<Option<String>, TrackerError> {
        let url = self
            .client
            .url(&["rest", "api", self.version(), "issue", key]);
        let req = self
            .client
            .request(Method::GET, url)
            .query(&[("fields", self.field.as_str())]);
        let (issue, _) = self.client.json(req).await?;
        match issue.get("fields").and_then(|f| f.get(&self.field)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64().map(points_text)),
            Some(other) => Ok(Some(other.to_string())),
        }
    }

    async fn write(&self, key: &str, estimate: &Estimate) -> Result<(), TrackerError> {
        let points = estimate.points.ok_or_else(|| no_points(estimate))?;
        let url = self
            .client
            .url(&["rest", "api", self.version(), "issue", key]);
        let mut fields = serde_json::Map::new();
        fields.insert(self.field.clone(), json!(points.as_f64()));
        let req = self
            .client
            .request(Method::PUT, url)
            .json(&json!({ "fields": fields }));
        self.client.send(req).await.map(|_| ())
    }

    fn expected(&self, estimate: &Estimate) -> Result<String, TrackerError> {
        let points = estimate.points.ok_or_else(|| no_points(estimate))?;
        Ok(points_text(points.as_f64()))
    }
}

fn no_points(estimate: &Estimate) -> TrackerError {
    TrackerError::Config(format!(
        "the estimate {} has no points for a story-points field (set the planning's point table)",
        estimate.card
    ))
}
