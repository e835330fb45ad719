//! Chat messages: a webhook delivery reshaped into the incoming-webhook message of Slack
//! (Block Kit), Microsoft Teams (an Adaptive Card for a Workflows webhook) or Mattermost.
//!
//! The input is the generic body the outbox holds (`{planning, event, text, …}`), so the
//! message says what the generic `text` says, in the service's own markup, with two links: the
//! planning, and its "People & time" view, where each person downloads the live session and
//! the estimation deadline for their calendar, in their own zone. A channel is shared, so a
//! message never carries anyone's personal link.

use crate::domain::event::WebhookFormat;
use serde_json::{json, Value};

/// Adaptive Card schema version: 1.4 is what Teams renders everywhere a Workflows webhook
/// posts (desktop, web, mobile).
pub const ADAPTIVE_CARD_VERSION: &str = "1.4";

/// What every chat message says: the summary in plain words, and its links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The summary, as plain text (no markup, nothing escaped).
    pub text: String,
    /// The planning in the web client.
    pub planning_url: String,
    /// The planning's schedule view, with each person's calendar link.
    pub schedule_url: String,
}

impl Message {
    /// The message of a generic body, or `None` if the body is not one.
    pub fn of_generic(body: &Value, public_url: &str) -> Option<Message> {
        let planning = body.get("planning")?.as_str()?;
        let text = unescape_slack(body.get("text")?.as_str()?);
        let base = public_url.trim_end_matches('/');
        Some(Message {
            text,
            planning_url: format!("{base}/#/p/{planning}"),
            schedule_url: format!("{base}/#/p/{planning}/time"),
        })
    }
}

/// The body to send for `format`, or `None` for `generic` (sent as stored).
pub fn render(format: WebhookFormat, generic: &str, public_url: &str) -> Option<String> {
    let value: Value = serde_json::from_str(generic).ok()?;
    let message = Message::of_generic(&value, public_url)?;
    let body = match format {
        WebhookFormat::Generic => return None,
        WebhookFormat::Slack => slack(&message),
        WebhookFormat::Teams => teams(&message),
        WebhookFormat::Mattermost => mattermost(&message),
    };
    Some(body.to_string())
}

/// A Slack incoming webhook's message: `text` (the notification and screen-reader fallback)
/// and Block Kit `blocks`, a `section` with the summary and a `context` with the links.
/// Links are mrkdwn links, not buttons: a button would need an app to receive its clicks.
pub fn slack(m: &Message) -> Value {
    let text = escape_slack(&m.text);
    json!({
        "text": text,
        "blocks": [
            {
                "type": "section",
                "text": { "type": "mrkdwn", "text": text },
            },
            {
                "type": "context",
                "elements": [{
                    "type": "mrkdwn",
                    "text": format!(
                        "<{}|Open the planning> · <{}|Add it to your calendar>",
                        m.planning_url, m.schedule_url
                    ),
                }],
            },
        ],
    })
}

/// A Teams Workflows webhook's message: `type: message` with one attachment holding an
/// Adaptive Card (`contentType application/vnd.microsoft.card.adaptive`). The summary is a
/// plain `TextBlock`; the links are `Action.OpenUrl` buttons, which need no bot.
pub fn teams(m: &Message) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": ADAPTIVE_CARD_VERSION,
                "body": [{
                    "type": "TextBlock",
                    "text": escape_markdown(&m.text),
                    "wrap": true,
                }],
                "actions": [
                    { "type": "Action.OpenUrl", "title": "Open the planning", "url": m.planning_url },
                    { "type": "Action.OpenUrl", "title": "Add it to your calendar", "url": m.schedule_url },
                ],
            },
        }],
    })
}

/// A Mattermost incoming webhook's message: markdown `text` with the links, and one attachment
/// whose `fallback` is the plain summary (what notifications show).
pub fn mattermost(m: &Message) -> Value {
    let text = escape_markdown(&m.text);
    json!({
        "text": format!(
            "{text}\n[Open the planning]({}) · [Add it to your calendar]({})",
            m.planning_url, m.schedule_url
        ),
        "attachments": [{
            "fallback": m.text,
            "title": "Open the planning",
            "title_link": m.planning_url,
        }],
    })
}

/// `&`, `<` and `>` as Slack's mrkdwn asks, so a title cannot smuggle in `<!channel>` or a link.
pub fn escape_slack(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn unescape_slack(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Markdown's own characters escaped, and `@` followed by a zero-width space so a title such as
/// "@channel" or "@all" does not notify a whole channel.
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '~' | '|' | '<' | '>' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '@' => out.push_str("@\u{200B}"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(text: &str) -> String {
        json!({
            "delivery": "d",
            "planning": "0190c2a4-0000-7000-8000-000000000001",
            "event": { "kind": "SyncStarted", "seq": 3, "data": {} },
            "text": text,
        })
        .to_string()
    }

    #[test]
    fn generic_is_sent_as_stored() {
        assert_eq!(
            render(WebhookFormat::Generic, &generic("x"), "http://h"),
            None
        );
    }

    #[test]
    fn markup_in_a_title_stays_text() {
        let body = generic("S1 &lt;!channel&gt; &amp; @all *bold*: the live session started");
        let slack: Value =
            serde_json::from_str(&render(WebhookFormat::Slack, &body, "http://h/").unwrap())
                .unwrap();
        assert_eq!(
            slack["text"],
            "S1 &lt;!channel&gt; &amp; @all *bold*: the live session started"
        );
        let mm: Value =
            serde_json::from_str(&render(WebhookFormat::Mattermost, &body, "http://h").unwrap())
                .unwrap();
        let text = mm["text"].as_str().unwrap();
        assert!(
            text.starts_with("S1 \\<\\!channel\\> & @\u{200B}all \\*bold\\*"),
            "{text}"
        );
        assert!(text.contains("(http://h/#/p/0190c2a4-0000-7000-8000-000000000001)"));
        assert_eq!(
            mm["attachments"][0]["fallback"],
            "S1 <!channel> & @all *bold*: the live session started"
        );
    }
}
