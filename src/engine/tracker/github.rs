//! GitHub Issues (REST): a repository's open issues with a label or in a milestone, paged by
//! the `Link` header; the estimate is a label `estimate: <card>` (GitHub issues have no
//! number field without a Projects board), written by replacing the issue's earlier
//! `estimate: …` label and read back from the issue's labels.
//!
//! Items are keyed `owner/name#number`, so a key from another repository is refused rather
//! than written to the wrong issue.

use super::{Client, Estimate, Query, Settings, Tracker, TrackerError};
use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde_json::{json, Value};

/// The estimate label's prefix.
pub const LABEL_PREFIX: &str = "estimate: ";
/// Pages followed at most (a loop guard).
const MAX_PAGES: usize = 100;

/// `owner/name` split in two, when it is that.
pub fn split_repo(repo: Option<&str>) -> Option<(String, String)> {
    let (owner, name) = repo?.trim().split_once('/')?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    (ok(owner) && ok(name)).then(|| (owner.to_string(), name.to_string()))
}

/// One repository's issues.
pub struct GitHub {
    client: Client,
    owner: String,
    name: String,
}

impl GitHub {
    pub fn new(client: Client, settings: &Settings) -> Result<GitHub, TrackerError> {
        let (owner, name) = split_repo(settings.repo.as_deref())
            .ok_or_else(|| TrackerError::Config("repo must be owner/name".into()))?;
        Ok(GitHub {
            client,
            owner,
            name,
        })
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
    }

    /// The issue number of a key of this repository (`owner/name#12`).
    fn number(&self, key: &str) -> Result<String, TrackerError> {
        let (repo, number) = key.rsplit_once('#').ok_or_else(|| {
            TrackerError::Config(format!("{key} is not an owner/name#number key"))
        })?;
        if !repo.eq_ignore_ascii_case(&format!("{}/{}", self.owner, self.name))
            || number.is_empty()
            || !number.chars().all(|c| c.is_ascii_digit())
        {
            return Err(TrackerError::Config(format!(
                "{key} is not an issue of {}/{}",
                self.owner, self.name
            )));
        }
        Ok(number.to_string())
    }

    fn issue_url(&self, number: &str) -> Url {
        self.client
            .url(&["repos", &self.owner, &self.name, "issues", number])
    }

    /// The issue's label names.
    async fn labels(&self, number: &str) -> Result<Vec<String>, TrackerError> {
        let req = self.request(Method::GET, self.issue_url(number));
        let (issue, _) = self.client.json(req).await?;
        let labels = issue
            .get("labels")
            .and_then(Value::as_array)
            .ok_or_else(|| TrackerError::Protocol("an issue without `labels`".into()))?;
        Ok(labels
            .iter()
            .filter_map(|l| l.get("name").and_then(Value::as_str).or(l.as_str()))
            .map(str::to_string)
            .collect())
    }

    /// An issue in the shape the import reads (Jira's).
    fn as_import_row(&self, issue: &Value) -> Value {
        let labels: Vec<Value> = issue
            .get("labels")
            .and_then(Value::as_array)
            .map(|ls| {
                ls.iter()
                    .filter_map(|l| l.get("name").cloned())
                    .filter(|n| !n.as_str().is_some_and(|n| n.starts_with(LABEL_PREFIX)))
                    .collect()
            })
            .unwrap_or_default();
        let number = issue.get("number").and_then(Value::as_u64);
        json!({
            "key": number.map(|n| format!("{}/{}#{n}", self.owner, self.name)),
            "fields": {
                "summary": issue.get("title").cloned().unwrap_or(Value::Null),
                "description": issue.get("body").cloned().unwrap_or(Value::Null),
                "labels": labels,
            },
        })
    }
}

/// The `rel="next"` target of a `Link` header (RFC 8288), if any.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

#[async_trait]
impl Tracker for GitHub {
    async fn check(&self) -> Result<String, TrackerError> {
        let url = self.client.url(&["repos", &self.owner, &self.name]);
        let (repo, _) = self.client.json(self.request(Method::GET, url)).await?;
        Ok(repo
            .get("full_name")
            .and_then(Value::as_str)
            .unwrap_or("the repository")
            .to_string())
    }

    async fn search(&self, query: &Query, cap: usize) -> Result<Vec<Value>, TrackerError> {
        if query.jql.is_some() || query.board.is_some() || query.sprint.is_some() {
            return Err(TrackerError::Config(
                "jql, board and sprint are for Jira; GitHub imports by label or milestone".into(),
            ));
        }
        let mut params = vec![("state", "open".to_string()), ("per_page", "100".into())];
        match (&query.label, &query.milestone) {
            (Some(l), None) => params.push(("labels", l.clone())),
            (None, Some(m)) => params.push(("milestone", m.clone())),
            _ => {
                return Err(TrackerError::Config(
                    "give either label or milestone".into(),
                ))
            }
        }
        let mut url = self
            .client
            .url(&["repos", &self.owner, &self.name, "issues"]);
        url.query_pairs_mut().extend_pairs(params);
        let mut issues = Vec::new();
        for _ in 0..MAX_PAGES {
            let (page, headers) = self.client.json(self.request(Method::GET, url)).await?;
            let list = page.as_array().ok_or_else(|| {
                TrackerError::Protocol("an issues page that is not a list".into())
            })?;
            // The issues endpoint lists pull requests too.
            issues.extend(
                list.iter()
                    .filter(|i| i.get("pull_request").is_none())
                    .map(|i| self.as_import_row(i)),
            );
            let Some(next) = next_link(&headers) else {
                break;
            };
            let next = Url::parse(&next)
                .ok()
                .filter(|u| self.client.same_site(u))
                .ok_or_else(|| TrackerError::Protocol("a next-page link to another site".into()))?;
            if issues.len() > cap {
                break;
            }
            url = next;
        }
        Ok(issues)
    }

    async fn current(&self, key: &str) -> Result<Option<String>, TrackerError> {
        let number = self.number(key)?;
        Ok(self
            .labels(&number)
            .await?
            .iter()
            .find_map(|l| l.strip_prefix(LABEL_PREFIX).map(str::to_string)))
    }

    async fn write(&self, key: &str, estimate: &Estimate) -> Result<(), TrackerError> {
        let number = self.number(key)?;
        let mut labels: Vec<String> = self
            .labels(&number)
            .await?
            .into_iter()
            .filter(|l| !l.starts_with(LABEL_PREFIX))
            .collect();
        labels.push(format!("{LABEL_PREFIX}{}", self.expected(estimate)?));
        let req = self
            .request(Method::PATCH, self.issue_url(&number))
            .json(&json!({ "labels": labels }));
        self.client.send(req).await.map(|_| ())
    }

    fn expected(&self, estimate: &Estimate) -> Result<String, TrackerError> {
        Ok(estimate.card.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            "<https://api.github.com/repositories/1/issues?page=1>; rel=\"prev\", \
             <https://api.github.com/repositories/1/issues?page=3>; rel=\"next\", \
             <https://api.github.com/repositories/1/issues?page=9>; rel=\"last\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/repositories/1/issues?page=3")
        );
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn repos_are_owner_slash_name() {
        assert_eq!(
            split_repo(Some("acme/web-app")),
            Some(("acme".into(), "web-app".into()))
        );
        for bad in ["acme", "/x", "a/b/c", "a b/c", ""] {
            assert_eq!(split_repo(Some(bad)), None, "{bad}");
        }
    }
}
