//! Webhooks: registering and removing the URLs the server posts chosen events to.

use super::guard::{text, Actor};
use super::{limits, Result};
use crate::domain::error::DomainError;
use crate::domain::event::*;
use crate::domain::ids::*;
use crate::domain::words::quoted;

pub(super) fn register(
    a: &mut Actor,
    url: &str,
    events: &[String],
    format: WebhookFormat,
    url_checked: bool,
) -> Result<Vec<Event>> {
    a.facilitator()?;
    if !url_checked {
        return Err(DomainError::Invalid(
            "register webhooks with POST /api/plannings/{id}/webhooks \
             (the server must check the URL first)"
                .into(),
        ));
    }
    webhook_url(url)?;
    if a.state.webhooks.len() >= limits::WEBHOOKS {
        return Err(DomainError::Invalid(format!(
            "a planning has at most {} webhooks",
            limits::WEBHOOKS
        )));
    }
    Ok(vec![Event::WebhookRegistered {
        webhook: WebhookId::from_random(a.random16()),
        url: url.trim().to_string(),
        events: webhook_kinds(events)?,
        format,
        by: a.me,
        at: a.now,
    }])
}

pub(super) fn remove(a: &Actor, webhook: WebhookId) -> Result<Vec<Event>> {
    a.facilitator()?;
    if !a.state.webhooks.contains_key(&webhook) {
        return Err(DomainError::UnknownWebhook(webhook));
    }
    Ok(vec![Event::WebhookRemoved { webhook, by: a.me }])
}

/// The shape of a webhook URL: `http(s)://host…`, one line, bounded. Where it points is the
/// server's to check (DNS); the domain only keeps obvious garbage out of the log.
fn webhook_url(url: &str) -> Result<()> {
    let url = url.trim();
    text(url, "url", 1, limits::URL)?;
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or(DomainError::BadFormat {
            field: "url",
            expected: "http:// or https://",
        })?;
    if rest.is_empty() || rest.starts_with('/') || url.chars().any(char::is_whitespace) {
        return Err(DomainError::BadFormat {
            field: "url",
            expected: "a host after http:// or https://, without spaces",
        });
    }
    Ok(())
}

/// A webhook's event filter: known kinds, deduplicated in catalogue order; empty means all.
fn webhook_kinds(events: &[String]) -> Result<Vec<String>> {
    if let Some(bad) = events
        .iter()
        .find(|k| !WEBHOOK_EVENT_KINDS.contains(&k.as_str()))
    {
        return Err(DomainError::Invalid(format!(
            "webhooks can receive {}, not {}",
            WEBHOOK_EVENT_KINDS.join(", "),
            quoted(bad)
        )));
    }
    Ok(WEBHOOK_EVENT_KINDS
        .iter()
        .filter(|k| events.is_empty() || events.iter().any(|e| e == *k))
        .map(|k| k.to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use crate::domain::command::Command;
    use crate::domain::command::{CreatePlanning, Join, RegisterWebhook, RemoveWebhook};
    use crate::domain::error::DomainError;
    use crate::domain::event::*;
    use crate::domain::ids::*;
    use crate::domain::state::State;
    use uuid::Uuid;

    const FAC: ParticipantId = ParticipantId(Uuid::from_u128(1));
    const MEM: ParticipantId = ParticipantId(Uuid::from_u128(2));

    fn run(state: &State, actor: ParticipantId, cmd: Command) -> Result<Vec<Event>> {
        let mut rng = rand::rngs::OsRng;
        let mut ctx = Context {
            actor,
            now: 1_000,
            rng: &mut rng,
            max_participants: crate::domain::decide::limits::PARTICIPANTS,
        };
        decide(state, &cmd, &mut ctx)
    }

    fn given(state: &mut State, actor: ParticipantId, cmd: Command) -> Vec<Event> {
        let events = run(state, actor, cmd).expect("command accepted");
        for e in &events {
            state.apply(e);
        }
        events
    }

    fn planning() -> State {
        let mut s = State::default();
        given(
            &mut s,
            FAC,
            Command::CreatePlanning(CreatePlanning {
                title: "S1".into(),
                creator_name: "Fran".into(),
                creator_token_hash: "1".repeat(64),
                deck: None,
                policy: None,
                member_invite_hash: "2".repeat(64),
                observer_invite_hash: "3".repeat(64),
            }),
        );
        given(
            &mut s,
            MEM,
            Command::Join(Join {
                name: "Ann".into(),
                invite_hash: "2".repeat(64),
                token_hash: "4".repeat(64),
            }),
        );
        s
    }

    fn register(url: &str, events: &[&str]) -> Command {
        Command::RegisterWebhook(RegisterWebhook {
            url: url.into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            format: WebhookFormat::Generic,
            url_checked: true,
        })
    }

    #[test]
    fn the_facilitator_registers_and_removes_a_webhook() {
        let mut s = planning();
        let events = given(&mut s, FAC, register("http://hooks.example/x", &[]));
        let [Event::WebhookRegistered {
            webhook,
            url,
            events: kinds,
            by,
            ..
        }] = events.as_slice()
        else {
            panic!("{events:?}")
        };
        assert_eq!(url, "http://hooks.example/x");
        assert_eq!(kinds, &WEBHOOK_EVENT_KINDS.to_vec());
        assert_eq!(*by, FAC);
        assert!(s.webhooks[webhook].wants("ScopeCommitted"));
        let removed = given(
            &mut s,
            FAC,
            Command::RemoveWebhook(RemoveWebhook { webhook: *webhook }),
        );
        assert_eq!(
            removed,
            vec![Event::WebhookRemoved {
                webhook: *webhook,
                by: FAC
            }]
        );
        assert!(s.webhooks.is_empty());
        assert_eq!(
            run(
                &s,
                FAC,
                Command::RemoveWebhook(RemoveWebhook { webhook: *webhook })
            ),
            Err(DomainError::UnknownWebhook(*webhook))
        );
    }

    #[test]
    fn the_event_filter_is_validated_and_normalised() {
        let mut s = planning();
        let events = given(
            &mut s,
            FAC,
            register(
                "https://h/x",
                &["ScopeCommitted", "RoundClosed", "RoundClosed"],
            ),
        );
        let Event::WebhookRegistered { events: kinds, .. } = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(
            kinds,
            &vec!["RoundClosed".to_string(), "ScopeCommitted".into()]
        );
        assert!(matches!(
            run(&s, FAC, register("http://h/", &["VoteCast"])),
            Err(DomainError::Invalid(_))
        ));
    }

    #[test]
    fn members_unchecked_urls_and_bad_urls_are_refused() {
        let s = planning();
        assert!(matches!(
            run(&s, MEM, register("http://h/", &[])),
            Err(DomainError::Forbidden { .. })
        ));
        let unchecked = Command::RegisterWebhook(RegisterWebhook {
            url: "http://h/".into(),
            events: Vec::new(),
            format: WebhookFormat::Generic,
            url_checked: false,
        });
        assert!(matches!(
            run(&s, FAC, unchecked),
            Err(DomainError::Invalid(_))
        ));
        for bad in ["ftp://h/", "http://", "http:///x", "h/x", "http://a b/", ""] {
            assert!(
                matches!(
                    run(&s, FAC, register(bad, &[])),
                    Err(DomainError::BadFormat { field: "url", .. }
                        | DomainError::Empty { field: "url" })
                ),
                "{bad:?} accepted"
            );
        }
        let mut s = s;
        let id = WebhookId(Uuid::from_u128(9));
        assert_eq!(
            run(
                &s,
                MEM,
                Command::RemoveWebhook(RemoveWebhook { webhook: id })
            ),
            Err(DomainError::Forbidden {
                needed: "the facilitator"
            })
        );
        for _ in 0..limits::WEBHOOKS {
            given(&mut s, FAC, register("http://h/", &[]));
        }
        assert!(matches!(
            run(&s, FAC, register("http://h/", &[])),
            Err(DomainError::Invalid(_))
        ));
    }

    #[test]
    fn url_checked_never_comes_from_the_wire() {
        let cmd: Command = serde_json::from_str(
            r#"{"type":"RegisterWebhook","url":"http://10.0.0.1/","events":[]}"#,
        )
        .unwrap();
        assert!(matches!(
            cmd,
            Command::RegisterWebhook(RegisterWebhook {
                url_checked: false,
                ..
            })
        ));
        let forged = serde_json::from_str::<Command>(
            r#"{"type":"RegisterWebhook","url":"http://10.0.0.1/","url_checked":true}"#,
        );
        assert!(
            !matches!(
                forged,
                Ok(Command::RegisterWebhook(RegisterWebhook {
                    url_checked: true,
                    ..
                }))
            ),
            "{forged:?}"
        );
    }

    #[test]
    fn webhook_events_round_trip_through_the_codec() {
        let ev = Event::WebhookRegistered {
            webhook: WebhookId(Uuid::from_u128(3)),
            url: "http://h/".into(),
            events: vec!["SyncStarted".into()],
            format: WebhookFormat::Slack,
            by: FAC,
            at: 7,
        };
        for e in [
            ev,
            Event::WebhookRemoved {
                webhook: WebhookId(Uuid::from_u128(3)),
                by: FAC,
            },
        ] {
            let (kind, version, payload) = e.encode();
            assert!(EVENT_KINDS.contains(&kind));
            assert_eq!(version, if kind == "WebhookRegistered" { 2 } else { 1 });
            assert_eq!(Event::decode(kind, version, &payload).unwrap(), e);
        }
    }

    /// Registered before formats: sprintlog's own JSON.
    #[test]
    fn webhook_registered_v1_is_upcast_to_the_generic_format() {
        let v1 = r#"{"at":7,"by":"00000000-0000-0000-0000-000000000001","events":["SyncStarted"],"url":"http://h/","webhook":"00000000-0000-0000-0000-000000000003"}"#;
        let ev = Event::decode("WebhookRegistered", 1, v1).unwrap();
        assert!(matches!(
            ev,
            Event::WebhookRegistered {
                format: WebhookFormat::Generic,
                ..
            }
        ));
        assert!(Event::decode("WebhookRegistered", 2, v1).is_err());
    }
}
