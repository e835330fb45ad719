//! The view a connection keeps, in two parts: the shared view (the same for every viewer, so
//! a room builds and encodes it once per change) and a participant's own part (their cards,
//! the questions addressed to them, webhook URLs for a facilitator, their inbox).
//!
//! [`overlay`] is the one rule that puts them together: the shared view with a participant's
//! own part laid over it is exactly [`view::state_view`] for that participant, which a test
//! below checks on a planning with every kind of personal content.

use crate::domain::event::Micros;
use crate::domain::ids::{CommentId, ItemId, ParticipantId, RoundId, WebhookId};
use crate::domain::state::State;
use crate::read::comments::{CommentView, Discussion};
use crate::read::inbox::InboxView;
use crate::read::view::{self, StateView, WebhookView};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The part of the view every viewer shares: every vote sealed, no question picked out for
/// anyone, webhook URLs shown by their origin. `common`: what every view of `state` shares
/// (see [`view::Common`]).
pub fn shared(state: &State, common: &view::Common) -> StateView {
    view::state_view_with(state, None, common)
}

/// Whether `me` has a part of their own in the view of `state`: a card in a round, an open
/// question addressed to them, or webhook URLs shown whole. A participant without one sees
/// exactly the [`shared`] view ([`overlay`] lays nothing over it; a test below checks it), so
/// a room encodes that view once per head for all of them (`engine::snapshots`).
pub fn has_own_part(state: &State, me: ParticipantId, discussion: &Discussion) -> bool {
    let carded = state
        .rounds
        .values()
        .any(|r| r.votes.values().any(|per| per.contains_key(&me)));
    let whole_urls = !state.webhooks.is_empty() && view::is_facilitator(state, Some(me));
    carded || whole_urls || discussion.has_addressed(me)
}

/// One participant's own part of the view.
#[derive(Debug, Clone, Serialize)]
pub struct Mine {
    participant: ParticipantId,
    /// The participant's own cards, by round and item (the shared view shows only that they
    /// voted).
    cards: BTreeMap<RoundId, BTreeMap<ItemId, String>>,
    /// Open questions addressed to the participant, with the questions they answer; some may
    /// also be in the shared view.
    comments: BTreeMap<CommentId, CommentView>,
    /// For a facilitator: the webhooks with their whole URLs (the shared view shows origins).
    #[serde(skip_serializing_if = "Option::is_none")]
    webhooks: Option<BTreeMap<WebhookId, WebhookView>>,
    /// The participant's inbox, as `GET /api/plannings/{id}/inbox` answers it.
    inbox: InboxView,
}

/// `me`'s own part of the view of `state` at `now`; `discussion` is `state`'s.
pub fn mine(state: &State, me: ParticipantId, now: Micros, discussion: &Discussion) -> Mine {
    let cards = state
        .rounds
        .iter()
        .filter_map(|(id, r)| {
            let own: BTreeMap<ItemId, String> = r
                .votes
                .iter()
                .filter_map(|(item, per)| Some((*item, per.get(&me)?.card.to_string())))
                .collect();
            (!own.is_empty()).then_some((*id, own))
        })
        .collect();
    let webhooks = view::is_facilitator(state, Some(me)).then(|| {
        state
            .webhooks
            .iter()
            .map(|(id, w)| (*id, WebhookView::of(w, true)))
            .collect()
    });
    Mine {
        participant: me,
        cards,
        comments: discussion.addressed_to(me),
        webhooks,
        inbox: crate::domain::inbox::inbox(state, me, now).into(),
    }
}

/// Lays a participant's own part (`mine`, as serialised) over the shared view (as
/// serialised): their cards into their votes, their questions into the comments, whole
/// webhook URLs over the masked ones.
pub fn overlay(view: &mut Value, mine: &Value) {
    let me = mine["participant"].as_str().unwrap_or_default().to_string();
    if let Some(cards) = mine["cards"].as_object() {
        for (round, items) in cards {
            for (item, card) in items.as_object().into_iter().flatten() {
                if let Some(vote) = view
                    .pointer_mut(&format!("/rounds/{round}/votes/{item}/{me}"))
                    .and_then(Value::as_object_mut)
                {
                    vote.insert("card".into(), card.clone());
                }
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
    use crate::domain::deck::Deck;
    use crate::domain::event::{CommentKind, Event, ItemDraft, Policy, Role};
    use crate::domain::ids::PlanningId;
    use crate::read::comments;
    use uuid::Uuid;

    fn value(v: &impl Serialize) -> Value {
        serde_json::to_value(v).expect("json")
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// A planning with every kind of personal content: cards of two members in an open round,
    /// two questions addressed to one of them, a webhook with a secret path.
    fn busy_planning() -> (State, Vec<ParticipantId>) {
        let (fac, ann, bo, obs) = (
            ParticipantId(id(1)),
            ParticipantId(id(2)),
            ParticipantId(id(3)),
            ParticipantId(id(4)),
        );
        let (item, round) = (ItemId(id(10)), RoundId(id(20)));
        let joined = |participant, role| Event::ParticipantJoined {
            participant,
            name: format!("{participant:?}"),
            role,
            token_hash: String::new(),
            at: 2,
        };
        let vote = |voter, card: &str| Event::VoteCast {
            round,
            item,
            voter,
            card: card.into(),
            nonce: "00".into(),
        };
        let question = |n, addressee| Event::CommentPosted {
            comment: CommentId(id(n)),
            item: Some(item),
            kind: CommentKind::Question,
            parent: None,
            addressee,
            text: format!("comment {n}"),
            by: fac,
            at: n as i64,
        };
        let mut events = vec![
            Event::PlanningCreated {
                planning: PlanningId(id(100)),
                title: "Sprint".into(),
                creator: fac,
                creator_name: "Fa".into(),
                creator_token_hash: String::new(),
                deck: Deck::fibonacci(),
                policy: Policy::default(),
                member_invite_hash: String::new(),
                observer_invite_hash: String::new(),
                at: 1,
            },
            joined(ann, Role::Member),
            joined(bo, Role::Member),
            joined(obs, Role::Observer),
            Event::ItemProposed {
                item,
                draft: ItemDraft {
                    title: "Login".into(),
                    ..ItemDraft::default()
                },
                by: fac,
                at: 3,
            },
            Event::RoundOpened {
                round,
                items: vec![item],
                deck: Deck::fibonacci(),
                deadline: 1_000_000,
                live: false,
                by: fac,
                at: 4,
            },
            vote(ann, "5"),
            vote(bo, "8"),
            Event::WebhookRegistered {
                webhook: WebhookId(id(30)),
                url: "https://hooks.example/services/T0/secret".into(),
                events: vec![],
                format: Default::default(),
                by: fac,
                at: 5,
            },
        ];
        // More questions than a thread shows, so the ones addressed to Ann are hers alone.
        events.extend((200..200 + 2 * comments::OPEN_SHOWN as u128).map(|n| question(n, None)));
        events.push(question(50, Some(ann)));
        events.push(question(51, Some(ann)));
        let mut state = State::default();
        events.iter().for_each(|e| state.apply(e));
        (state, vec![fac, ann, bo, obs])
    }

    /// [`shared`] and [`mine`] of `state`, each from one [`view::Common`].
    fn parts(state: &State, me: ParticipantId) -> (Value, Value) {
        let common = view::Common::of(state);
        (
            value(&shared(state, &common)),
            value(&mine(state, me, 0, common.discussion())),
        )
    }

    #[test]
    fn the_shared_view_with_my_part_is_my_view() {
        let (state, people) = busy_planning();
        for p in people {
            let (mut composed, mine) = parts(&state, p);
            overlay(&mut composed, &mine);
            assert_eq!(composed, value(&view::state_view(&state, Some(p))), "{p:?}");
        }
    }

    /// Whoever has no part of their own sees the shared view exactly (so a room may send them
    /// the one it encoded for everyone); each kind of own part counts.
    #[test]
    fn without_an_own_part_my_view_is_the_shared_one() {
        let (state, people) = busy_planning();
        let common = view::Common::of(&state);
        let own: Vec<bool> = people
            .iter()
            .map(|p| has_own_part(&state, *p, common.discussion()))
            .collect();
        // The facilitator sees webhook URLs whole, Ann has a card and questions, Bo a card;
        // the observer has nothing of their own.
        assert_eq!(own, [true, true, true, false]);
        let shared = value(&shared(&state, &common));
        for &p in &people {
            let mine = value(&view::state_view(&state, Some(p)));
            assert_eq!(
                mine == shared,
                !has_own_part(&state, p, common.discussion()),
                "{p:?}"
            );
        }
        // A question addressed to the observer gives them a part of their own (here it is also
        // among everyone's recent comments: counting it is only ever one view too many).
        let mut asked = state.clone();
        asked.apply(&Event::CommentPosted {
            comment: CommentId(id(52)),
            item: None,
            kind: CommentKind::Question,
            parent: None,
            addressee: Some(people[3]),
            text: "for the observer".into(),
            by: people[0],
            at: 52,
        });
        let common = view::Common::of(&asked);
        assert!(has_own_part(&asked, people[3], common.discussion()));
    }

    #[test]
    fn the_shared_view_holds_nothing_personal() {
        let (state, people) = busy_planning();
        let (shared, _) = parts(&state, people[0]);
        let text = shared.to_string();
        assert!(
            !text.contains("\"card\""),
            "a sealed card in the shared view"
        );
        assert!(
            !text.contains("secret"),
            "a webhook secret in the shared view"
        );
        let (_, ann) = parts(&state, people[1]);
        assert_eq!(ann["cards"].as_object().map(|c| c.len()), Some(1));
        assert!(
            !ann.to_string().contains("\"8\""),
            "Bo's card in Ann's part"
        );
        assert!(ann["comments"].as_object().is_some_and(|c| c.len() == 2));
        assert!(ann.get("webhooks").is_none());
        let (_, fac) = parts(&state, people[0]);
        assert!(fac["webhooks"].to_string().contains("secret"));
    }
}
