//! A participant's inbox as the API shows it: the domain's inbox
//! ([`crate::domain::inbox`]) with the UTC twins of its times ([`Utc`]).

use crate::domain::ids::{CommentId, ItemId, ParticipantId, RoundId};
use crate::domain::inbox::{Inbox, InboxReminder, MyFlag, OpenQuestion, PendingVote, RoundStatus};
use crate::read::utc::Utc;
use serde::Serialize;

/// One participant's inbox.
#[derive(Debug, Clone, Serialize)]
pub struct InboxView {
    participant: ParticipantId,
    pending_votes: Vec<PendingVoteView>,
    questions: Vec<QuestionView>,
    flagged: Vec<MyFlag>,
    reminders: Vec<ReminderView>,
    rounds: Vec<RoundStatusView>,
}

#[derive(Debug, Clone, Serialize)]
struct PendingVoteView {
    round: RoundId,
    item: ItemId,
    title: String,
    #[serde(flatten)]
    deadline: Utc,
}

#[derive(Debug, Clone, Serialize)]
struct QuestionView {
    comment: CommentId,
    item: Option<ItemId>,
    by: ParticipantId,
    text: String,
    #[serde(flatten)]
    at: Utc,
}

#[derive(Debug, Clone, Serialize)]
struct ReminderView {
    round: RoundId,
    #[serde(flatten)]
    deadline: Utc,
    #[serde(flatten)]
    at: Utc,
}

#[derive(Debug, Clone, Serialize)]
struct RoundStatusView {
    round: RoundId,
    items: Vec<ItemId>,
    #[serde(flatten)]
    deadline: Utc,
    live: bool,
    not_voted: Vec<ParticipantId>,
}

impl From<Inbox> for InboxView {
    fn from(inbox: Inbox) -> Self {
        let Inbox {
            participant,
            pending_votes,
            questions,
            flagged,
            reminders,
            rounds,
        } = inbox;
        InboxView {
            participant,
            pending_votes: pending_votes.into_iter().map(pending_vote).collect(),
            questions: questions.into_iter().map(question).collect(),
            flagged,
            reminders: reminders.into_iter().map(reminder).collect(),
            rounds: rounds.into_iter().map(round_status).collect(),
        }
    }
}

fn pending_vote(v: PendingVote) -> PendingVoteView {
    let PendingVote {
        round,
        item,
        title,
        deadline,
    } = v;
    PendingVoteView {
        round,
        item,
        title,
        deadline: Utc::new("deadline", deadline),
    }
}

fn question(q: OpenQuestion) -> QuestionView {
    let OpenQuestion {
        comment,
        item,
        by,
        text,
        at,
    } = q;
    QuestionView {
        comment,
        item,
        by,
        text,
        at: Utc::new("at", at),
    }
}

fn reminder(r: InboxReminder) -> ReminderView {
    let InboxReminder {
        round,
        deadline,
        at,
    } = r;
    ReminderView {
        round,
        deadline: Utc::new("deadline", deadline),
        at: Utc::new("at", at),
    }
}

fn round_status(r: RoundStatus) -> RoundStatusView {
    let RoundStatus {
        round,
        items,
        deadline,
        live,
        not_voted,
    } = r;
    RoundStatusView {
        round,
        items,
        deadline: Utc::new("deadline", deadline),
        live,
        not_voted,
    }
}
