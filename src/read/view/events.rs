//! Event views: the data of an event as one viewer may see it, one Rust type per kind that
//! differs from the record.
//!
//! [`EventView::of`] destructures every event whole, so a field added to an event does not
//! compile until it is classified here: shown, hidden (token and invite hashes: the views have
//! no field for them), sealed (a vote's card and nonce, for its author only), masked (a webhook
//! URL, to its origin) or a time. A time is a [`Utc`], which writes its `<name>_utc` twin beside
//! it, nested times included (a schedule's, through [`ScheduleView`]). Kinds with none of these
//! show as the log records them ([`EventView::AsRecorded`]).
//!
//! `of` hands each kind to the function of its section (as in `domain::event`), so every match
//! stays short; each section function names only its own kinds.

use super::{may_see_card, url_origin, ScheduleView, Viewer};
use crate::domain::deck::Deck;
use crate::domain::event::{
    CloseReason, CommentKind, Event, ItemDraft, Micros, NewItem, Phase, Policy, Role, WebhookFormat,
};
use crate::domain::fixed::Fixed2;
use crate::domain::ids::{
    CommentId, ItemId, ParticipantId, PlanningId, RoundId, SuggestionId, WebhookId,
};
use crate::read::utc::Utc;
use serde::Serialize;

/// An event's data as one viewer sees it. Untagged: a view serialises as its fields only (the
/// frame around it names the kind).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum EventView<'a> {
    /// Nothing hidden, sealed, masked or timed: the data as the log records it.
    AsRecorded(Recorded<'a>),
    PlanningCreated {
        planning: &'a PlanningId,
        title: &'a str,
        creator: &'a ParticipantId,
        creator_name: &'a str,
        deck: &'a Deck,
        policy: &'a Policy,
        #[serde(flatten)]
        at: Utc,
    },
    ParticipantJoined {
        participant: &'a ParticipantId,
        name: &'a str,
        role: &'a Role,
        #[serde(flatten)]
        at: Utc,
    },
    InviteRotated {
        role: &'a Role,
        by: &'a ParticipantId,
    },
    ParticipantLinkReissued {
        participant: &'a ParticipantId,
        revoked_previous: &'a bool,
        by: &'a ParticipantId,
    },
    PhaseChanged {
        from: &'a Phase,
        to: &'a Phase,
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    ScheduleSet {
        schedule: ScheduleView,
        by: &'a Option<ParticipantId>,
        #[serde(flatten)]
        at: Utc,
    },
    GoalCommitted {
        text: &'a str,
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    ItemProposed {
        item: &'a ItemId,
        draft: &'a ItemDraft,
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    ItemsImported {
        items: &'a [NewItem],
        source: &'a str,
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    ItemsCarriedOver {
        from_planning: &'a PlanningId,
        items: &'a [NewItem],
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    CommentPosted {
        comment: &'a CommentId,
        item: &'a Option<ItemId>,
        kind: &'a CommentKind,
        parent: &'a Option<CommentId>,
        addressee: &'a Option<ParticipantId>,
        text: &'a str,
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    RoundOpened {
        round: &'a RoundId,
        items: &'a [ItemId],
        deck: &'a Deck,
        #[serde(flatten)]
        deadline: Utc,
        live: &'a bool,
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    RevoteOpened {
        round: &'a RoundId,
        items: &'a [ItemId],
        previous: &'a RoundId,
        deck: &'a Deck,
        #[serde(flatten)]
        deadline: Utc,
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    VoteCast {
        round: &'a RoundId,
        item: &'a ItemId,
        voter: &'a ParticipantId,
        /// The card and nonce, for the vote's author only.
        #[serde(flatten)]
        sealed: Option<Sealed<'a>>,
    },
    RoundClosed {
        round: &'a RoundId,
        reason: &'a CloseReason,
        #[serde(flatten)]
        at: Utc,
    },
    /// The session started or ended: who and when.
    SyncStartedOrEnded {
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    CoinFlipped {
        question: &'a str,
        options: &'a [String],
        outcome: &'a u32,
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    ScopeCommitted {
        items: &'a [ItemId],
        points: &'a Fixed2,
        capacity: &'a Fixed2,
        over_capacity_confirmed: &'a bool,
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    ReminderSent {
        participant: &'a ParticipantId,
        round: &'a Option<RoundId>,
        #[serde(flatten)]
        at: Utc,
    },
    WebhookRegistered {
        webhook: &'a WebhookId,
        /// The origin only: the path of an incoming-webhook URL often holds a credential.
        url: String,
        events: &'a [String],
        format: &'a WebhookFormat,
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    GoalSuggested {
        suggestion: &'a SuggestionId,
        text: &'a str,
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    FocusSet {
        item: &'a Option<ItemId>,
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    /// `TimerStarted` and `TimerExtended`.
    Timer {
        item: &'a ItemId,
        seconds: &'a u32,
        #[serde(flatten)]
        ends_at: Utc,
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    TimerStopped {
        item: &'a ItemId,
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    ItemReturnedToRefinement {
        item: &'a ItemId,
        note: &'a Option<String>,
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
    ScopeDrafted {
        items: &'a [ItemId],
        by: &'a ParticipantId,
        #[serde(flatten)]
        at: Utc,
    },
}

/// An event shown as recorded: its data, as [`Event::data`] has it.
#[derive(Debug)]
pub struct Recorded<'a>(&'a Event);

impl Serialize for Recorded<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.data().serialize(s)
    }
}

/// A vote's card and the nonce that seals it, as its author sees them.
#[derive(Debug, Serialize)]
pub struct Sealed<'a> {
    card: &'a str,
    nonce: &'a str,
}

fn at(at: &Micros) -> Utc {
    Utc::new("at", *at)
}

/// What a section function says of a kind that is not of its section.
const MISROUTED: &str = "EventView::of routes each kind to its section";

impl<'a> EventView<'a> {
    /// `event` as `viewer` may see it.
    pub fn of(event: &'a Event, viewer: Viewer) -> Self {
        use Event as E;
        match event {
            E::PlanningCreated { .. }
            | E::ParticipantJoined { .. }
            | E::ParticipantRenamed { .. }
            | E::RoleChanged { .. }
            | E::ParticipantRemoved { .. }
            | E::InviteRotated { .. }
            | E::ParticipantLinkReissued { .. }
            | E::TimeZoneSet { .. }
            | E::PhaseChanged { .. }
            | E::ScheduleSet { .. }
            | E::PolicySet { .. } => Self::people(event),
            E::GoalDrafted { .. }
            | E::GoalAmended { .. }
            | E::GoalCommitted { .. }
            | E::ItemProposed { .. }
            | E::ItemEdited { .. }
            | E::ItemWithdrawn { .. }
            | E::ItemRestored { .. }
            | E::ItemsImported { .. }
            | E::ItemsRanked { .. }
            | E::ItemsCarriedOver { .. } => Self::goal_and_items(event),
            E::CommentPosted { .. }
            | E::CommentEdited { .. }
            | E::CommentDeleted { .. }
            | E::QuestionResolved { .. }
            | E::ReadinessChecked { .. }
            | E::DefinitionOfReadySet { .. }
            | E::ReadinessOverridden { .. }
            | E::CapacityDeclared { .. }
            | E::VelocitySet { .. } => Self::review_and_capacity(event),
            E::RoundOpened { .. }
            | E::VoteCast { .. }
            | E::VoteWithdrawn { .. }
            | E::RoundClosed { .. }
            | E::VotesRevealed { .. }
            | E::ItemFlagged { .. }
            | E::FlagCleared { .. }
            | E::ItemSentToAgenda { .. }
            | E::EstimateProposed { .. }
            | E::EstimateAgreed { .. }
            | E::RevoteOpened { .. } => Self::estimation(event, viewer),
            E::SyncStarted { .. }
            | E::AgendaSet { .. }
            | E::CoinFlipped { .. }
            | E::SyncEnded { .. }
            | E::ScopeCommitted { .. }
            | E::ReminderSent { .. }
            | E::WebhookRegistered { .. }
            | E::WebhookRemoved { .. } => Self::sync_and_integrations(event),
            E::GoalSuggested { .. }
            | E::FocusSet { .. }
            | E::TimerStarted { .. }
            | E::TimerExtended { .. }
            | E::TimerStopped { .. }
            | E::ItemReturnedToRefinement { .. }
            | E::ScopeDrafted { .. } => Self::meeting(event),
        }
    }

    /// The live meeting's own events: focus, time boxes, refinement, the scope draft, goal
    /// suggestions.
    fn meeting(event: &'a Event) -> Self {
        use Event as E;
        match event {
            E::GoalSuggested {
                suggestion,
                text,
                by,
                at: time,
            } => Self::GoalSuggested {
                suggestion,
                text,
                by,
                at: at(time),
            },
            E::FocusSet { item, by, at: time } => Self::FocusSet {
                item,
                by,
                at: at(time),
            },
            E::TimerStarted {
                item,
                seconds,
                ends_at,
                by,
                at: time,
            }
            | E::TimerExtended {
                item,
                seconds,
                ends_at,
                by,
                at: time,
            } => Self::Timer {
                item,
                seconds,
                ends_at: Utc::new("ends_at", *ends_at),
                by,
                at: at(time),
            },
            E::TimerStopped { item, by, at: time } => Self::TimerStopped {
                item,
                by,
                at: at(time),
            },
            E::ItemReturnedToRefinement {
                item,
                note,
                by,
                at: time,
            } => Self::ItemReturnedToRefinement {
                item,
                note,
                by,
                at: at(time),
            },
            E::ScopeDrafted {
                items,
                by,
                at: time,
            } => Self::ScopeDrafted {
                items,
                by,
                at: at(time),
            },
            _ => unreachable!("{MISROUTED}"),
        }
    }

    fn people(event: &'a Event) -> Self {
        use Event as E;
        match event {
            E::PlanningCreated {
                planning,
                title,
                creator,
                creator_name,
                creator_token_hash: _,
                deck,
                policy,
                member_invite_hash: _,
                observer_invite_hash: _,
                at: time,
            } => Self::PlanningCreated {
                planning,
                title,
                creator,
                creator_name,
                deck,
                policy,
                at: at(time),
            },
            E::ParticipantJoined {
                participant,
                name,
                role,
                token_hash: _,
                at: time,
            } => Self::ParticipantJoined {
                participant,
                name,
                role,
                at: at(time),
            },
            E::InviteRotated {
                role,
                invite_hash: _,
                by,
            } => Self::InviteRotated { role, by },
            E::ParticipantLinkReissued {
                participant,
                token_hash: _,
                revoked_previous,
                by,
            } => Self::ParticipantLinkReissued {
                participant,
                revoked_previous,
                by,
            },
            E::PhaseChanged {
                from,
                to,
                by,
                at: time,
            } => Self::PhaseChanged {
                from,
                to,
                by,
                at: at(time),
            },
            E::ScheduleSet { schedule, by, at } => Self::ScheduleSet {
                schedule: schedule.into(),
                by,
                at: Utc::maybe("at", *at),
            },
            E::ParticipantRenamed {
                participant: _,
                name: _,
            }
            | E::RoleChanged {
                participant: _,
                role: _,
                by: _,
            }
            | E::ParticipantRemoved {
                participant: _,
                by: _,
            }
            | E::TimeZoneSet {
                participant: _,
                time_zone: _,
                work_start_minute: _,
                work_end_minute: _,
                work_days: _,
            }
            | E::PolicySet { policy: _ } => Self::AsRecorded(Recorded(event)),
            _ => unreachable!("{MISROUTED}"),
        }
    }

    fn goal_and_items(event: &'a Event) -> Self {
        use Event as E;
        match event {
            E::GoalCommitted { text, by, at: time } => Self::GoalCommitted {
                text,
                by,
                at: at(time),
            },
            E::ItemProposed {
                item,
                draft,
                by,
                at: time,
            } => Self::ItemProposed {
                item,
                draft,
                by,
                at: at(time),
            },
            E::ItemsImported {
                items,
                source,
                by,
                at: time,
            } => Self::ItemsImported {
                items,
                source,
                by,
                at: at(time),
            },
            E::ItemsCarriedOver {
                from_planning,
                items,
                by,
                at: time,
            } => Self::ItemsCarriedOver {
                from_planning,
                items,
                by,
                at: at(time),
            },
            E::GoalDrafted { text: _, by: _ }
            | E::GoalAmended {
                text: _,
                note: _,
                suggestion: _,
                by: _,
            }
            | E::ItemEdited {
                item: _,
                patch: _,
                by: _,
            }
            | E::ItemWithdrawn {
                item: _,
                reason: _,
                by: _,
            }
            | E::ItemRestored { item: _, by: _ }
            | E::ItemsRanked { order: _, by: _ } => Self::AsRecorded(Recorded(event)),
            _ => unreachable!("{MISROUTED}"),
        }
    }

    fn review_and_capacity(event: &'a Event) -> Self {
        use Event as E;
        match event {
            E::CommentPosted {
                comment,
                item,
                kind,
                parent,
                addressee,
                text,
                by,
                at: time,
            } => Self::CommentPosted {
                comment,
                item,
                kind,
                parent,
                addressee,
                text,
                by,
                at: at(time),
            },
            E::CommentEdited {
                comment: _,
                text: _,
                by: _,
            }
            | E::CommentDeleted { comment: _, by: _ }
            | E::QuestionResolved { comment: _, by: _ }
            | E::ReadinessChecked {
                item: _,
                criterion: _,
                ok: _,
                note: _,
                by: _,
            }
            | E::DefinitionOfReadySet { criteria: _, by: _ }
            | E::ReadinessOverridden {
                item: _,
                reason: _,
                by: _,
            }
            | E::CapacityDeclared {
                participant: _,
                available_days: _,
                focus_factor: _,
                notes: _,
                by: _,
            }
            | E::VelocitySet {
                points_per_day: _,
                by: _,
            } => Self::AsRecorded(Recorded(event)),
            _ => unreachable!("{MISROUTED}"),
        }
    }

    fn estimation(event: &'a Event, viewer: Viewer) -> Self {
        use Event as E;
        match event {
            E::RoundOpened {
                round,
                items,
                deck,
                deadline,
                live,
                by,
                at: time,
            } => Self::RoundOpened {
                round,
                items,
                deck,
                deadline: Utc::new("deadline", *deadline),
                live,
                by,
                at: at(time),
            },
            E::RevoteOpened {
                round,
                items,
                previous,
                deck,
                deadline,
                by,
                at: time,
            } => Self::RevoteOpened {
                round,
                items,
                previous,
                deck,
                deadline: Utc::new("deadline", *deadline),
                by,
                at: at(time),
            },
            E::VoteCast {
                round,
                item,
                voter,
                card,
                nonce,
            } => Self::VoteCast {
                round,
                item,
                voter,
                sealed: may_see_card(viewer.into(), *voter).then_some(Sealed { card, nonce }),
            },
            E::RoundClosed {
                round,
                reason,
                at: time,
            } => Self::RoundClosed {
                round,
                reason,
                at: at(time),
            },
            E::VoteWithdrawn {
                round: _,
                item: _,
                voter: _,
            }
            | E::VotesRevealed {
                round: _,
                item: _,
                votes: _,
                by: _,
            }
            | E::ItemFlagged {
                item: _,
                reason: _,
                round: _,
                note: _,
                by: _,
            }
            | E::FlagCleared { item: _, by: _ }
            | E::ItemSentToAgenda {
                item: _,
                reasons: _,
                note: _,
                by: _,
            }
            | E::EstimateProposed {
                item: _,
                round: _,
                card: _,
            }
            | E::EstimateAgreed {
                item: _,
                card: _,
                points: _,
                by: _,
            } => Self::AsRecorded(Recorded(event)),
            _ => unreachable!("{MISROUTED}"),
        }
    }

    fn sync_and_integrations(event: &'a Event) -> Self {
        use Event as E;
        match event {
            E::SyncStarted { by, at: time } | E::SyncEnded { by, at: time } => {
                Self::SyncStartedOrEnded { by, at: at(time) }
            }
            E::CoinFlipped {
                question,
                options,
                outcome,
                by,
                at: time,
            } => Self::CoinFlipped {
                question,
                options,
                outcome,
                by,
                at: at(time),
            },
            E::ScopeCommitted {
                items,
                points,
                capacity,
                over_capacity_confirmed,
                by,
                at: time,
            } => Self::ScopeCommitted {
                items,
                points,
                capacity,
                over_capacity_confirmed,
                by,
                at: at(time),
            },
            E::ReminderSent {
                participant,
                round,
                at: time,
            } => Self::ReminderSent {
                participant,
                round,
                at: at(time),
            },
            E::WebhookRegistered {
                webhook,
                url,
                events,
                format,
                by,
                at: time,
            } => Self::WebhookRegistered {
                webhook,
                url: url_origin(url),
                events,
                format,
                by,
                at: at(time),
            },
            E::AgendaSet { items: _, by: _ } | E::WebhookRemoved { webhook: _, by: _ } => {
                Self::AsRecorded(Recorded(event))
            }
            _ => unreachable!("{MISROUTED}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::event_data;
    use super::super::samples::{self, check_times};
    use crate::domain::ids::ParticipantId;

    #[test]
    fn every_time_of_every_event_has_its_utc_twin_and_nothing_else_has_one() {
        let other = Some(ParticipantId(uuid::Uuid::from_u128(99)));
        let mut problems = Vec::new();
        for event in samples::all() {
            for viewer in [None, other, Some(samples::VOTER)] {
                let data = event_data(&event, viewer);
                check_times(&data, event.kind(), &mut problems);
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn no_event_view_shows_a_hash_a_credential_or_another_voters_card() {
        let other = Some(ParticipantId(uuid::Uuid::from_u128(99)));
        for event in samples::all() {
            for viewer in [None, other, Some(samples::VOTER)] {
                let text = event_data(&event, viewer).to_string();
                let kind = event.kind();
                assert!(!text.contains(samples::HASH), "{kind}: {text}");
                assert!(!text.contains("hash"), "{kind}: {text}");
                assert!(
                    !text.contains("secret") && !text.contains("pw@"),
                    "{kind}: {text}"
                );
                if kind == "VoteCast" {
                    let sealed = !text.contains("card") && !text.contains("nonce");
                    assert_eq!(sealed, viewer != Some(samples::VOTER), "{text}");
                }
            }
        }
    }
}
