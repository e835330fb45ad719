//! The timeline: one line per event — `(seq, time, actor, type, summary)` — for a scrub bar.
//!
//! Summaries are built from the event and the names in a projection, and never show a sealed
//! vote's value ("Ann voted on Login", not the card). Phase changes, sync start/end, the moves
//! of the room's focus, reveals and the commitment are *chapters*: the marks a scrubber jumps
//! between.

use crate::domain::event::Event;
use crate::domain::ids::{ItemId, ParticipantId};
use crate::domain::state::State;
use crate::domain::words;
use crate::read::Envelope;
use serde::Serialize;

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub seq: i64,
    pub at: i64,
    pub actor: ParticipantId,
    /// The step was the rule's ([`by_rule`]): show it as sprintlog's, not the actor's.
    pub by_rule: bool,
    #[serde(rename = "type")]
    pub kind: String,
    pub summary: String,
    pub chapter: bool,
    pub items: Vec<ItemId>,
}

/// Filters of a timeline query (all optional, combined with AND).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub item: Option<ItemId>,
    pub actor: Option<ParticipantId>,
    pub kind: Option<String>,
    pub chapters_only: bool,
}

impl Filter {
    pub fn accepts(&self, e: &Entry) -> bool {
        self.item.is_none_or(|i| e.items.contains(&i))
            && self.actor.is_none_or(|a| e.actor == a)
            && self.kind.as_deref().is_none_or(|k| e.kind == k)
            && (!self.chapters_only || e.chapter)
    }
}

/// The items an event is about.
pub fn items_of(event: &Event) -> Vec<ItemId> {
    use Event::*;
    match event {
        ItemProposed { item, .. }
        | ItemEdited { item, .. }
        | ItemWithdrawn { item, .. }
        | ItemRestored { item, .. }
        | ReadinessChecked { item, .. }
        | ReadinessOverridden { item, .. }
        | VoteCast { item, .. }
        | VoteWithdrawn { item, .. }
        | VotesRevealed { item, .. }
        | ItemFlagged { item, .. }
        | FlagCleared { item, .. }
        | ItemSentToAgenda { item, .. }
        | EstimateProposed { item, .. }
        | EstimateAgreed { item, .. }
        | TimerStarted { item, .. }
        | TimerExtended { item, .. }
        | TimerStopped { item, .. }
        | ItemReturnedToRefinement { item, .. } => vec![*item],
        FocusSet { item, .. } => item.iter().copied().collect(),
        CommentPosted { item, .. } => item.iter().copied().collect(),
        ItemsImported { items, .. } | ItemsCarriedOver { items, .. } => {
            items.iter().map(|n| n.item).collect()
        }
        ItemsRanked { order, .. } => order.clone(),
        RoundOpened { items, .. } | RevoteOpened { items, .. } => items.clone(),
        AgendaSet { items, .. } | ScopeCommitted { items, .. } | ScopeDrafted { items, .. } => {
            items.clone()
        }
        _ => Vec::new(),
    }
}

/// Whether an event starts a chapter.
pub fn is_chapter(event: &Event) -> bool {
    matches!(
        event,
        Event::PlanningCreated { .. }
            | Event::PhaseChanged { .. }
            | Event::SyncStarted { .. }
            | Event::SyncEnded { .. }
            | Event::FocusSet { .. }
            | Event::VotesRevealed { .. }
            | Event::ScopeCommitted { .. }
    )
}

/// A timeline line for an event of the log, with names from `names` (usually the current
/// state).
pub fn entry(envelope: &Envelope, names: &State) -> Entry {
    let event = &envelope.event;
    Entry {
        seq: envelope.seq,
        at: envelope.at,
        actor: envelope.actor,
        by_rule: by_rule(event),
        kind: event.kind().to_string(),
        summary: summary(envelope.actor, event, names),
        chapter: is_chapter(event),
        items: items_of(event),
    }
}

/// Who a rule-made step is credited to (see [`by_rule`]).
pub const RULE: &str = "sprintlog";

/// Whether an event is the rule's doing rather than its actor's: the divergence rule's flag and
/// proposed estimate, the reveal as a round closed, and a round closing because everyone voted
/// or its deadline passed. Its envelope's actor is whoever's command set it off (often the
/// last voter), so views credit these to [`RULE`] instead.
pub fn by_rule(event: &Event) -> bool {
    match event {
        Event::ItemFlagged { round, .. } => round.is_some(),
        Event::VotesRevealed { by, .. } => by.is_system(),
        Event::EstimateProposed { .. } => true,
        Event::RoundClosed { reason, .. } => {
            !matches!(reason, crate::domain::event::CloseReason::Facilitator)
        }
        _ => false,
    }
}

fn who(state: &State, p: ParticipantId) -> String {
    if p.is_system() {
        return "the server".into();
    }
    state
        .participants
        .get(&p)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| "someone".into())
}

fn title(state: &State, i: ItemId) -> String {
    state
        .items
        .get(&i)
        .map(|it| format!("“{}”", it.draft.title))
        .unwrap_or_else(|| "an item".into())
}

/// A one-line summary that reveals no sealed vote.
pub fn summary(actor: ParticipantId, event: &Event, s: &State) -> String {
    use Event::*;
    let a = who(s, actor);
    match event {
        PlanningCreated { title, .. } => format!("{a} created the planning “{title}”"),
        ParticipantJoined { name, role, .. } => {
            format!("{name} joined as {}", words::a(&label(role)))
        }
        ParticipantRenamed { name, .. } => format!("{a} is now called {name}"),
        RoleChanged {
            participant, role, ..
        } => {
            format!("{a} made {} {}", who(s, *participant), label(role))
        }
        ParticipantRemoved { participant, .. } => format!("{a} removed {}", who(s, *participant)),
        InviteRotated { role, .. } => format!("{a} rotated the {} invite", label(role)),
        ParticipantLinkReissued { participant, .. } => {
            format!("{a} re-issued the link of {}", who(s, *participant))
        }
        TimeZoneSet {
            participant,
            time_zone,
            ..
        } => {
            format!(
                "{} set their time zone to {time_zone}",
                who(s, *participant)
            )
        }
        PhaseChanged { to, .. } => format!("{a} moved the planning to {}", label(to)),
        ScheduleSet { .. } => format!("{a} set the schedule"),
        PolicySet { .. } => format!("{a} changed the planning's policy"),
        GoalDrafted { text, .. } => format!("{a} drafted the goal: {text}"),
        GoalAmended {
            text,
            suggestion: Some(id),
            ..
        } => format!(
            "{a} adopted {}'s wording of the goal: {text}",
            suggester(s, *id)
        ),
        GoalAmended { text, .. } => format!("{a} amended the goal: {text}"),
        GoalSuggested { text, .. } => format!("{a} suggested the goal: {text}"),
        GoalCommitted { text, .. } => format!("{a} committed the goal: {text}"),
        ItemProposed { draft, .. } => format!("{a} proposed “{}”", draft.title),
        ItemEdited { item, .. } => format!("{a} edited {}", title(s, *item)),
        ItemWithdrawn { item, .. } => format!("{a} withdrew {}", title(s, *item)),
        ItemRestored { item, .. } => format!("{a} restored {}", title(s, *item)),
        ItemsImported { items, source, .. } => {
            format!("{a} imported {} ({source})", words::items(items.len()))
        }
        ItemsRanked { order, .. } => format!("{a} ranked {}", words::items(order.len())),
        ItemsCarriedOver { items, .. } => {
            format!(
                "{a} carried over {} from the last planning",
                words::items(items.len())
            )
        }
        CommentPosted { kind, item, .. } => {
            let on = item
                .map(|i| format!(" on {}", title(s, i)))
                .unwrap_or_default();
            format!("{a} posted {}{on}", words::a(&label(kind)))
        }
        CommentEdited { .. } => format!("{a} edited a comment"),
        CommentDeleted { .. } => format!("{a} deleted a comment"),
        QuestionResolved { .. } => format!("{a} resolved a question"),
        ReadinessChecked { item, ok, .. } => format!(
            "{a} checked {} against the Definition of Ready: {}",
            title(s, *item),
            if *ok { "ok" } else { "not ready" }
        ),
        DefinitionOfReadySet { criteria, .. } => {
            format!(
                "{a} set the Definition of Ready ({})",
                words::plural(criteria.len(), "criterion", "criteria")
            )
        }
        ReadinessOverridden { item, .. } => {
            format!(
                "{a} let {} into estimation despite readiness",
                title(s, *item)
            )
        }
        CapacityDeclared {
            participant,
            available_days,
            ..
        } => format!(
            "{} declared {available_days} available days",
            who(s, *participant)
        ),
        VelocitySet { points_per_day, .. } => {
            format!("{a} set velocity to {points_per_day} points per focused day")
        }
        _ => live_summary(&a, event, s),
    }
}

/// The summary of an event of estimation, the live session, reminders and webhooks, by `a`
/// (any other kind gets its name).
fn live_summary(a: &str, event: &Event, s: &State) -> String {
    use Event::*;
    match event {
        RoundOpened { items, .. } => format!("{a} opened a round on {}", words::items(items.len())),
        VoteCast { voter, item, .. } => format!("{} voted on {}", who(s, *voter), title(s, *item)),
        VoteWithdrawn { voter, item, .. } => {
            format!(
                "{} withdrew their vote on {}",
                who(s, *voter),
                title(s, *item)
            )
        }
        RoundClosed { reason, .. } => format!("the round closed ({})", label(reason)),
        VotesRevealed {
            item, votes, by, ..
        } => {
            let cards: Vec<String> = votes
                .iter()
                .map(|v| format!("{} {}", who(s, v.voter), v.card))
                .collect();
            if by.is_system() {
                format!(
                    "votes on {} revealed as the round closed: {}",
                    title(s, *item),
                    cards.join(", ")
                )
            } else {
                format!(
                    "{a} revealed the votes on {}: {}",
                    title(s, *item),
                    cards.join(", ")
                )
            }
        }
        ItemFlagged {
            item,
            reason,
            round: Some(_),
            ..
        } => format!(
            "{RULE} flagged {} for the live session by the divergence rule ({})",
            title(s, *item),
            label(reason)
        ),
        ItemFlagged { item, note, .. } => format!(
            "{a} flagged {} for the live session{}",
            title(s, *item),
            note.as_ref().map(|n| format!(": {n}")).unwrap_or_default()
        ),
        FlagCleared { item, .. } => format!("{a} cleared the flag on {}", title(s, *item)),
        ItemSentToAgenda { item, reasons, .. } => {
            let why: Vec<String> = reasons.iter().map(|r| r.code().replace('_', " ")).collect();
            if why.is_empty() {
                format!("{a} sent {} to the live agenda", title(s, *item))
            } else {
                format!(
                    "{a} sent {} to the live agenda ({})",
                    title(s, *item),
                    why.join(", ")
                )
            }
        }
        EstimateProposed { item, card, .. } => format!(
            "{RULE} proposed {card} for {} (the median of a converged round)",
            title(s, *item)
        ),
        EstimateAgreed { item, card, .. } => format!("{a} agreed {card} for {}", title(s, *item)),
        RevoteOpened { items, .. } => {
            format!("{a} opened a re-vote on {}", words::items(items.len()))
        }
        SyncStarted { .. } => format!("{a} started the live session"),
        AgendaSet { items, .. } => format!("{a} set the agenda ({})", words::items(items.len())),
        CoinFlipped {
            question,
            options,
            outcome,
            ..
        } => format!(
            "{a} flipped a coin on “{question}”: {}",
            options.get(*outcome as usize).cloned().unwrap_or_default()
        ),
        SyncEnded { .. } => format!("{a} ended the live session"),
        ScopeCommitted {
            items,
            points,
            capacity,
            ..
        } => format!(
            "{a} committed {}, {points} points against a capacity of {capacity}",
            words::items(items.len())
        ),
        ReminderSent { participant, .. } => format!("reminder sent to {}", who(s, *participant)),
        // The origin only: a webhook URL's path often holds a credential (see `view`).
        WebhookRegistered { url, .. } => format!(
            "{a} registered a webhook to {}",
            crate::read::view::url_origin(url)
        ),
        WebhookRemoved { .. } => format!("{a} removed a webhook"),
        _ => meeting_summary(a, event, s),
    }
}

/// The summary of an event of the live meeting — the focus, time boxes, refinement, the scope
/// draft — by `a` (any other kind gets its name).
fn meeting_summary(a: &str, event: &Event, s: &State) -> String {
    use crate::read::time_spent::clock_text;
    use Event::*;
    match event {
        FocusSet { item: Some(i), .. } => format!("{a} moved the discussion to {}", title(s, *i)),
        FocusSet { item: None, .. } => format!("{a} moved the discussion off the items"),
        TimerStarted { item, seconds, .. } => format!(
            "{a} started a time box of {} on {}",
            clock_text(u64::from(*seconds)),
            title(s, *item)
        ),
        TimerExtended { item, seconds, .. } => format!(
            "{a} gave {} {} more",
            title(s, *item),
            clock_text(u64::from(*seconds))
        ),
        TimerStopped { item, .. } => format!("{a} stopped the time box on {}", title(s, *item)),
        ItemReturnedToRefinement { item, note, .. } => format!(
            "{a} sent {} back to refinement{}",
            title(s, *item),
            note.as_ref().map(|n| format!(": {n}")).unwrap_or_default()
        ),
        ScopeDrafted { items, .. } => {
            format!("{a} drafted a scope of {}", words::items(items.len()))
        }
        other => format!("{a}: {}", other.kind()),
    }
}

/// The name of whoever suggested a wording of the goal.
fn suggester(s: &State, id: crate::domain::ids::SuggestionId) -> String {
    s.goal_suggestions
        .iter()
        .find(|g| g.id == id)
        .map_or_else(|| "someone".into(), |g| who(s, g.by))
}

/// The wire name of a unit enum value (`facilitator`, `async`, `spread`, …).
fn label<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{CommentKind, ItemDraft};
    use uuid::Uuid;

    /// One item reads "1 item", an answer "an answer"; rule-made steps are sprintlog's.
    #[test]
    fn summaries_read_as_plain_words() {
        let fran = ParticipantId(Uuid::from_u128(1));
        let item = ItemId(Uuid::from_u128(2));
        let round = crate::domain::ids::RoundId(Uuid::from_u128(3));
        let mut s = State::default();
        s.apply(&Event::ItemProposed {
            item,
            draft: ItemDraft {
                title: "Login".into(),
                ..Default::default()
            },
            by: fran,
            at: 0,
        });
        let opened = Event::RoundOpened {
            round,
            items: vec![item],
            deck: crate::domain::deck::Deck::fibonacci(),
            deadline: 1,
            live: false,
            by: fran,
            at: 0,
        };
        assert!(summary(fran, &opened, &s).ends_with("opened a round on 1 item"));
        let answer = Event::CommentPosted {
            comment: crate::domain::ids::CommentId(Uuid::from_u128(4)),
            item: Some(item),
            kind: CommentKind::Answer,
            parent: None,
            addressee: None,
            text: "yes".into(),
            by: fran,
            at: 0,
        };
        assert!(summary(fran, &answer, &s).ends_with("posted an answer on “Login”"));
        let flagged = Event::ItemFlagged {
            item,
            reason: crate::domain::policy::FlagReason::Spread,
            round: Some(round),
            note: None,
            by: fran,
        };
        assert!(by_rule(&flagged));
        assert_eq!(
            summary(fran, &flagged, &s),
            "sprintlog flagged “Login” for the live session by the divergence rule (spread)"
        );
        let proposed = Event::EstimateProposed {
            item,
            round,
            card: "3".into(),
        };
        assert!(by_rule(&proposed));
        assert!(!summary(fran, &proposed, &s).contains("someone"));
    }
}
