//! The HTTP side every tracker shares: the outbound policy on the site, authentication, one
//! request's answer sorted into what can be retried and what cannot, and redaction of the
//! credential from anything that may be shown.

use super::{Credential, Kind, Settings};
use crate::config::{TrackerConfig, WebhookConfig};
use crate::engine::webhook;
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde_json::Value;
use std::time::Duration;

/// Upper bound for one request, whatever `--tracker-timeout-ms` says: a write job must end
/// well within the scheduler's 30 s lease.
const MAX_TIMEOUT: Duration = Duration::from_secs(20);
/// How much of a tracker's error body a reason keeps.
const MAX_REASON: usize = 400;

/// What went wrong talking to a tracker. Every message is safe to show: the credential is
/// redacted from anything the tracker said.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// The connection's settings are unusable (bad site, refused by the outbound policy).
    #[error("{0}")]
    Config(String),
    /// 401/403: the credential is refused (expired, revoked, lacking a permission).
    #[error("the tracker refused the credential ({status}): {detail}")]
    Unauthorized { status: u16, detail: String },
    /// 400/422 and other client errors: the tracker refuses the request as it is.
    #[error("the tracker refused the request ({status}): {detail}")]
    Refused { status: u16, detail: String },
    /// 404: no such issue, project, board or sprint (or no permission to see it).
    #[error("not found in the tracker: {0}")]
    NotFound(String),
    /// 429: try again later.
    #[error("rate limited by the tracker (429)")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, a timeout, a connection failure: try again later.
    #[error("the tracker is unavailable: {0}")]
    Unavailable(String),
    /// An answer that is not what the documented API sends.
    #[error("unexpected answer from the tracker: {0}")]
    Protocol(String),
}

impl TrackerError {
    /// Whether the same request later may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            TrackerError::RateLimited { .. } | TrackerError::Unavailable(_)
        )
    }
}

/// How requests are authenticated.
enum Auth {
    /// Jira Cloud: basic auth with the account's email and an API token.
    Basic { user: String, token: String },
    /// Jira Data Center's personal access token, GitHub's token.
    Bearer(String),
}

/// An HTTP client bound to one connection's site and credential.
pub struct Client {
    http: reqwest::Client,
    site: Url,
    auth: Auth,
    /// Strings that must never be shown (the token, and the basic-auth header's value).
    secrets: Vec<String>,
}

impl Client {
    /// A client for `settings.site` after checking it against the outbound policy (the same
    /// rules as webhooks', with `--tracker-allow` as the allow-list), pinned to the address
    /// that was checked.
    pub async fn new(
        cfg: &TrackerConfig,
        settings: &Settings,
        credential: &Credential,
    ) -> Result<Client, TrackerError> {
        let policy = WebhookConfig {
            allow: cfg.allow.clone(),
            ..WebhookConfig::default()
        };
        let target = webhook::check_url(&policy, &settings.site)
            .await
            .map_err(|e| match e {
                webhook::UrlError::Internal { .. } | webhook::UrlError::Unresolvable(_) => {
                    tracing::info!(error = %e, "tracker site refused");
                    TrackerError::Config(
                        "the site's host does not resolve to public addresses only (private, \
                         loopback, link-local and similar ranges need the operator's \
                         --tracker-allow)"
                            .into(),
                    )
                }
                other => TrackerError::Config(other.to_string().replace("webhook", "tracker site")),
            })?;
        let timeout = Duration::from_millis(cfg.timeout_ms).min(MAX_TIMEOUT);
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("sprintlog/", env!("CARGO_PKG_VERSION")));
        if let Some(pin) = target.pin {
            builder = builder.resolve(&target.host, pin);
        }
        let http = builder
            .build()
            .map_err(|e| TrackerError::Config(format!("http client: {e}")))?;
        let token = credential.token.trim().to_string();
        let auth = match (settings.kind, &credential.email) {
            (Kind::JiraCloud, Some(email)) => Auth::Basic {
                user: email.trim().to_string(),
                token: token.clone(),
            },
            _ => Auth::Bearer(token.clone()),
        };
        let mut secrets = vec![token];
        if let Auth::Basic { user, token } = &auth {
            secrets.push(basic_value(user, token));
        }
        Ok(Client {
            http,
            site: target.url,
            auth,
            secrets,
        })
    }

    /// The site's URL with `segments` appended as path segments (each percent-encoded, so an
    /// issue key cannot add a path or a query).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.site.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Whether `url` is on the connection's own site (scheme, host and port): a pagination
    /// link elsewhere is not followed.
    pub fn same_site(&self, url: &Url) -> bool {
        url.origin() == self.site.origin()
    }

    /// A request to `url`, authenticated, asking for JSON.
    pub fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let req = self
            .http
            .request(method, url)
            .header(reqwest::header::ACCEPT, "application/json");
        match &self.auth {
            Auth::Basic { user, token } => req.basic_auth(user, Some(token)),
            Auth::Bearer(token) => req.bearer_auth(token),
        }
    }

    /// Sends `req`; a 2xx answer is returned, anything else sorted into a [`TrackerError`].
    pub async fn send(&self, req: RequestBuilder) -> Result<Response, TrackerError> {
        let resp = req.send().await.map_err(|e| {
            let what = if e.is_timeout() {
                "the request timed out".to_string()
            } else {
                crate::engine::webhook::describe_failure(&e.without_url())
            };
            TrackerError::Unavailable(self.redact(&what))
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp.text().await.unwrap_or_default();
        let detail = self.redact(&error_detail(&body));
        Err(match status {
            StatusCode::TOO_MANY_REQUESTS => TrackerError::RateLimited { retry_after },
            // GitHub's secondary rate limit is a 403 with `Retry-After`.
            StatusCode::FORBIDDEN if retry_after.is_some() => {
                TrackerError::RateLimited { retry_after }
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => TrackerError::Unauthorized {
                status: status.as_u16(),
                detail,
            },
            StatusCode::NOT_FOUND => TrackerError::NotFound(detail),
            s if s.is_server_error() => {
                TrackerError::Unavailable(format!("{} {detail}", s.as_u16()))
            }
            s => TrackerError::Refused {
                status: s.as_u16(),
                detail,
            },
        })
    }

    /// Sends `req` and reads a JSON answer.
    pub async fn json(
        &self,
        req: RequestBuilder,
    ) -> Result<(Value, reqwest::header::HeaderMap), TrackerError> {
        let resp = self.send(req).await?;
        let headers = resp.headers().clone();
        let body = resp
            .json::<Value>()
            .await
            .map_err(|e| TrackerError::Protocol(self.redact(&format!("not JSON: {e}"))))?;
        Ok((body, headers))
    }

    /// `text` with every secret of this connection replaced.
    pub fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .filter(|s| !s.is_empty())
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), "[redacted]"))
    }
}

/// The credentials part of a basic `Authorization` header (base64 of `user:token`), which a
/// tracker could echo.
fn basic_value(user: &str, token: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{user}:{token}").into_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What an error body says: Jira's `errorMessages` and `errors` (field → message), GitHub's
/// `message` and `errors`, else the start of the body.
fn error_detail(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return body.chars().take(MAX_REASON).collect();
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(msgs) = v.get("errorMessages").and_then(Value::as_array) {
        parts.extend(msgs.iter().filter_map(Value::as_str).map(str::to_string));
    }
    match v.get("errors") {
        Some(Value::Object(map)) => {
            parts.extend(map.iter().map(|(field, m)| match m.as_str() {
                Some(m) => format!("{field}: {m}"),
                None => format!("{field}: {m}"),
            }));
        }
        Some(Value::Array(list)) => parts.extend(list.iter().map(|e| match e.get("message") {
            Some(Value::String(m)) => m.clone(),
            _ => e.to_string(),
        })),
        _ => {}
    }
    if let Some(m) = v.get("message").and_then(Value::as_str) {
        parts.insert(0, m.to_string());
    }
    if parts.is_empty() {
        parts.push(v.to_string());
    }
    parts.join("; ").chars().take(MAX_REASON).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_values_are_standard_base64() {
        // RFC 7617's example.
        assert_eq!(
            basic_value("Aladdin", "open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_value("a", "b"), "YTpi");
        assert_eq!(basic_value("ab", "c"), "YWI6Yw==");
    }

    #[test]
    fn error_bodies_name_the_field_and_the_message() {
        let jira =
            r#"{"errorMessages":[],"errors":{"customfield_10016":"Number value expected."}}"#;
        assert_eq!(
            error_detail(jira),
            "customfield_10016: Number value expected."
        );
        let gh = r#"{"message":"Validation Failed","errors":[{"message":"bad label"}]}"#;
        assert_eq!(error_detail(gh), "Validation Failed; bad label");
        assert_eq!(error_detail("plain"), "plain");
    }
}
