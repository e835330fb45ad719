//! Per-viewer views: what one participant may see of an event or of the projection.
//!
//! Redaction happens here and only here, for live frames, catch-up, REST reads and listings:
//! - a `VoteCast` shows its `card` and `nonce` to its author only; everyone else learns *that*
//!   the member voted. Values become public through `VotesRevealed`, which carries them, so a
//!   `VoteCast` never needs to be un-redacted later and a replay at any point stays sealed;
//! - token and invite hashes are never shown to anyone;
//! - a webhook URL shows only its origin (`scheme://host:port`) except to facilitators in the
//!   projection: incoming-webhook URLs often carry a credential in their path (Slack's do).
//!   Event views have no role at hand, so they always show the origin only.
//!
//! Times stay integers (microseconds, UTC) as the protocol says; every deadline and session
//! time in an event's data and in a projection view also gets an RFC 3339 UTC twin named
//! `<field>_utc` ([`add_utc`]),
//! so a client can show it in the viewer's own zone without doing epoch arithmetic.

use crate::domain::event::Event;
use crate::domain::ids::ParticipantId;
use crate::domain::state::State;
use crate::read::Envelope;
use serde_json::{json, Map, Value};

/// Who is looking. `None` means an anonymous/public view (sees what every participant sees).
pub type Viewer = Option<ParticipantId>;

/// Who reads a vote that was cast and not revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seer {
    /// Anyone: what every participant sees (also a report that may be passed around).
    Public,
    /// One participant.
    Participant(ParticipantId),
    /// The operator's CLI, run against the database.
    Operator,
}

impl From<Viewer> for Seer {
    fn from(viewer: Viewer) -> Self {
        viewer.map_or(Seer::Public, Seer::Participant)
    }
}

/// The sealing rule, for every view and report: whether `seer` may see the card of a vote
/// `voter` cast. Revealed cards need no rule: `VotesRevealed` carries them to everyone, so a
/// cast vote is never un-redacted and a view at any point of the log stays sealed.
pub fn may_see_card(seer: Seer, voter: ParticipantId) -> bool {
    match seer {
        Seer::Public => false,
        Seer::Participant(me) => me == voter,
        Seer::Operator => true,
    }
}

/// Fields that hold secrets' hashes; removed from every view.
const HASH_FIELDS: &[&str] = &[
    "creator_token_hash",
    "member_invite_hash",
    "observer_invite_hash",
    "token_hash",
    "invite_hash",
    "token_hashes",
];

/// The data of an event as `viewer` may see it.
pub fn event_data(event: &Event, viewer: Viewer) -> Value {
    let mut data = event.data();
    if let Some(obj) = data.as_object_mut() {
        strip_hashes(obj);
        if let Event::VoteCast { voter, .. } = event {
            if !may_see_card(viewer.into(), *voter) {
                obj.remove("card");
                obj.remove("nonce");
            }
        }
        if let Event::WebhookRegistered { url, .. } = event {
            obj.insert("url".into(), Value::String(url_origin(url)));
        }
    }
    add_utc(&mut data);
    data
}

/// Whether an event looks different to different viewers (so a private frame is needed).
pub fn has_private_view(event: &Event) -> Option<ParticipantId> {
    match event {
        Event::VoteCast { voter, .. } => Some(*voter),
        _ => None,
    }
}

/// An event frame as sent over the websocket and listed over REST. A struct, not a JSON map,
/// so its keys keep this order on the wire — `type` and `seq` first: a client (or the load
/// tool) can route a frame by its first bytes, before the event's data — and so it is
/// serialised without building a map first.
#[derive(Debug, serde::Serialize)]
pub struct EventFrame {
    #[serde(rename = "type")]
    frame: &'static str,
    seq: i64,
    id: uuid::Uuid,
    actor: ParticipantId,
    at: i64,
    kind: &'static str,
    data: Value,
}

/// The frame of an event of the log as `viewer` may see it.
pub fn event_frame(envelope: &Envelope, viewer: Viewer) -> EventFrame {
    EventFrame {
        frame: "event",
        seq: envelope.seq,
        id: envelope.id,
        actor: envelope.actor,
        at: envelope.at,
        kind: envelope.event.kind(),
        data: event_data(&envelope.event, viewer),
    }
}

/// `scheme://host[:port]` of a URL, without credentials, path or query.
pub fn url_origin(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            match u.port() {
                Some(p) => format!("{}://{host}:{p}", u.scheme()),
                None => format!("{}://{host}", u.scheme()),
            }
        }
        Err(_) => String::new(),
    }
}

fn strip_hashes(obj: &mut Map<String, Value>) {
    for f in HASH_FIELDS {
        obj.remove(*f);
    }
}

/// Serialises the named fields of a `State` into a JSON object, each on its own: the view
/// leaves out `comments` (see [`state_view`]), and serialising the whole projection first
/// would cost as much as the comments it then drops.
macro_rules! fields {
    ($state:expr; $($field:ident),* $(,)?) => {{
        let mut obj = Map::new();
        $(obj.insert(
            stringify!($field).to_string(),
            serde_json::to_value(&$state.$field).unwrap_or(Value::Null),
        );)*
        obj
    }};
}

/// Webhook URLs may carry credentials: only facilitators see more than their origin.
fn mask_webhook_urls(obj: &mut Map<String, Value>) {
    if let Some(hooks) = obj.get_mut("webhooks").and_then(Value::as_object_mut) {
        for hook in hooks.values_mut().filter_map(Value::as_object_mut) {
            let origin = hook.get("url").and_then(Value::as_str).map(url_origin);
            hook.insert("url".into(), origin.map_or(Value::Null, Value::String));
        }
    }
}

/// A past state (`?at=`, `state_at`) as `viewer` may see it today: redacted as
/// [`state_view`] redacts it at that point, and with the webhook URLs masked unless the viewer
/// is a facilitator *now* — someone demoted since must not read the URLs back through the past.
pub fn past_state_view(past: &State, viewer: Viewer, facilitator_now: bool) -> Value {
    let mut v = state_view(past, viewer);
    if !facilitator_now {
        if let Some(obj) = v.as_object_mut() {
            mask_webhook_urls(obj);
        }
    }
    v
}

/// The projection as `viewer` may see it, with a bounded part of the discussion (see
/// `crate::read::comments`: older comments are read page by page).
pub fn state_view(state: &State, viewer: Viewer) -> Value {
    let mut obj = fields!(state;
        planning, title, created_at, phase, deck, policy, schedule, participants, goal, items,
        rank, proposal_order, definition_of_ready, velocity, rounds, round_order, sync_running,
        agenda, coin_flips, commitment, reminders, reminder_log, webhooks,
    );
    let (comments, discussion) = crate::read::comments::bounded(state, viewer);
    obj.insert("comments".into(), comments);
    let mut v = Value::Object(obj);
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    if let Some(ps) = obj.get_mut("participants").and_then(Value::as_object_mut) {
        for p in ps.values_mut().filter_map(Value::as_object_mut) {
            strip_hashes(p);
        }
    }
    let facilitator = viewer
        .and_then(|me| state.participant(me))
        .is_some_and(|p| p.role == crate::domain::Role::Facilitator);
    if !facilitator {
        mask_webhook_urls(obj);
    }
    if let Some(rounds) = obj.get_mut("rounds").and_then(Value::as_object_mut) {
        for round in rounds.values_mut().filter_map(Value::as_object_mut) {
            let Some(votes) = round.get_mut("votes").and_then(Value::as_object_mut) else {
                continue;
            };
            for per_item in votes.values_mut().filter_map(Value::as_object_mut) {
                for (voter, vote) in per_item.iter_mut() {
                    let mine = voter
                        .parse()
                        .is_ok_and(|v| may_see_card(viewer.into(), ParticipantId(v)));
                    *vote = if mine {
                        json!({ "voted": true, "card": vote.get("card").cloned().unwrap_or(Value::Null) })
                    } else {
                        json!({ "voted": true })
                    };
                }
            }
        }
    }
    // Figures a client would otherwise recompute, so every view shows them the same way:
    // team capacity in points, the points of the agreed estimates, the items not ready.
    let agreed = state
        .ranked_items()
        .filter_map(|i| i.points)
        .fold(crate::domain::fixed::Fixed2::ZERO, |a, p| {
            a.saturating_add(p)
        });
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "derived".into(),
            json!({
                "capacity_points": state.capacity_points(),
                "agreed_points": agreed,
                // Items a Definition-of-Ready check failed for (and no override): not ready.
                "not_ready": state
                    .ranked_items()
                    .filter(|i| !i.readiness_overridden)
                    .filter(|i| !i.failing_criteria(&state.definition_of_ready).is_empty())
                    .map(|i| i.id)
                    .collect::<Vec<_>>(),
                // Items that need the live call before any vote, with the reasons.
                "needs_discussion": crate::domain::discussion::needs_discussion(state),
                // The agenda `StartSync` would set now (flagged items and items sent to it),
                // so the agenda shows before the session; ids only, like `AgendaSet`.
                "proposed_agenda": crate::domain::agenda::sync_agenda(state),
                // Per thread: how many comments, how many open questions, and where the
                // pages of the comments the view leaves out start.
                "discussion": discussion,
            }),
        );
    }
    add_utc(&mut v);
    v
}

/// Fields holding a deadline or a session time (microseconds since the epoch, UTC).
const TIME_FIELDS: &[&str] = &[
    "deadline",
    "opened_at",
    "closed_at",
    "sprint_start",
    "sprint_end",
    "candidates_shared_at",
    "estimation_deadline",
    "sync_start",
    "at",
    "created_at",
    "joined_at",
];

/// Adds an RFC 3339 UTC twin `<field>_utc` next to every time field, at any depth.
pub fn add_utc(v: &mut Value) {
    match v {
        Value::Object(obj) => {
            let twins: Vec<(String, Value)> = obj
                .iter()
                .filter(|(k, _)| TIME_FIELDS.contains(&k.as_str()))
                .filter_map(|(k, t)| {
                    let at = t.as_i64()?;
                    Some((
                        format!("{k}_utc"),
                        Value::String(crate::read::utc::rfc3339(at)),
                    ))
                })
                .collect();
            for child in obj.values_mut() {
                add_utc(child);
            }
            obj.extend(twins);
        }
        Value::Array(items) => items.iter_mut().for_each(add_utc),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{ItemId, RoundId};
    use uuid::Uuid;

    #[test]
    fn deadlines_and_session_times_carry_a_utc_twin() {
        let ev = Event::RoundOpened {
            round: RoundId(Uuid::from_u128(1)),
            items: vec![ItemId(Uuid::from_u128(2))],
            deck: crate::domain::deck::Deck::default(),
            deadline: 1_781_600_400_000_000,
            live: false,
            by: ParticipantId(Uuid::from_u128(3)),
            at: 1_781_596_800_000_000,
        };
        let data = event_data(&ev, None);
        assert_eq!(data["deadline"], 1_781_600_400_000_000_i64);
        assert_eq!(data["deadline_utc"], "2026-06-16T09:00:00Z");
        assert_eq!(data["at_utc"], "2026-06-16T08:00:00Z");
        let mut nested =
            json!({"schedule": {"sync_start": 0, "sync_minutes": 45}, "list": [{"at": 0}]});
        add_utc(&mut nested);
        assert_eq!(nested["schedule"]["sync_start_utc"], "1970-01-01T00:00:00Z");
        assert!(nested["schedule"].get("sync_minutes_utc").is_none());
        assert_eq!(nested["list"][0]["at_utc"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn event_frames_start_with_their_type_and_seq() {
        let ev = Event::VoteWithdrawn {
            round: RoundId(Uuid::from_u128(1)),
            item: ItemId(Uuid::from_u128(2)),
            voter: ParticipantId(Uuid::from_u128(3)),
        };
        let envelope = Envelope {
            seq: 42,
            id: Uuid::from_u128(5),
            actor: ParticipantId(Uuid::from_u128(3)),
            at: 7,
            event: ev,
        };
        let text = serde_json::to_string(&event_frame(&envelope, None)).unwrap();
        assert!(text.starts_with(r#"{"type":"event","seq":42,"#), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["kind"], "VoteWithdrawn");
        assert_eq!(v["at"], 7);
        assert_eq!(v["actor"], Uuid::from_u128(3).to_string());
        assert_eq!(v["data"]["voter"], Uuid::from_u128(3).to_string());
    }

    #[test]
    fn a_vote_is_sealed_for_everyone_but_its_author() {
        let voter = ParticipantId(Uuid::from_u128(7));
        let ev = Event::VoteCast {
            round: RoundId(Uuid::from_u128(1)),
            item: ItemId(Uuid::from_u128(2)),
            voter,
            card: "13".into(),
            nonce: "ab".into(),
        };
        let other = event_data(&ev, Some(ParticipantId(Uuid::from_u128(8))));
        assert!(other.get("card").is_none() && other.get("nonce").is_none());
        assert!(!other.to_string().contains("13"));
        assert!(event_data(&ev, None).get("card").is_none());
        assert_eq!(event_data(&ev, Some(voter))["card"], "13");
    }

    /// `State` fields a view never shows: secrets' hashes, and `comments` (a view carries a
    /// bounded part of them, see `crate::read::comments`).
    const NOT_IN_VIEW: &[&str] = &["comments", "member_invite_hash", "observer_invite_hash"];

    /// A field added to `State` must be added to the view's list (or to `NOT_IN_VIEW`).
    #[test]
    fn the_view_lists_every_field_of_the_state() {
        let all = serde_json::to_value(State::default()).unwrap();
        let view = state_view(&State::default(), None);
        for key in all.as_object().unwrap().keys() {
            assert!(
                view.get(key).is_some() != NOT_IN_VIEW.contains(&key.as_str()) || key == "comments",
                "State field {key} is neither in the view nor in NOT_IN_VIEW"
            );
        }
    }

    #[test]
    fn webhook_urls_show_only_their_origin_in_events() {
        let ev = Event::WebhookRegistered {
            webhook: crate::domain::ids::WebhookId(Uuid::from_u128(1)),
            url: "https://user:pw@hooks.example:8443/services/T0/B0/secret?x=1".into(),
            events: vec!["SyncStarted".into()],
            by: ParticipantId(Uuid::from_u128(2)),
            at: 1,
        };
        let data = event_data(&ev, None);
        assert_eq!(data["url"], "https://hooks.example:8443");
        assert!(!data.to_string().contains("secret"));
    }
}
