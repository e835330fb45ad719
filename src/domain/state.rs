//! The projection of a planning: what its events add up to, and [`State::apply`].
//!
//! `apply` is total: it never fails and never reads anything but the event, so a replay of the
//! log from zero (or from a snapshot) always reaches the state the live fold reached. Maps are
//! `BTreeMap`s so a state serialises the same way every time (snapshots, equality in tests).

use super::card::{Card, Nonce};
use super::deck::Deck;
use super::event::*;
use super::fixed::Fixed2;
use super::ids::*;
use super::policy::FlagReason;
use super::slots::WorkDay;
use super::vec_map::VecMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A participant as the planning knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub id: ParticipantId,
    pub name: String,
    pub role: Role,
    /// SHA-256 hashes of the personal tokens that currently work.
    pub token_hashes: Vec<String>,
    pub removed: bool,
    pub joined_at: Micros,
    pub time_zone: Option<String>,
    pub work_start_minute: Option<u32>,
    pub work_end_minute: Option<u32>,
    /// The days a working day starts on (empty until a time zone is set).
    #[serde(default)]
    pub work_days: Vec<WorkDay>,
    pub capacity: Option<Capacity>,
}

/// A declared availability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub available_days: Fixed2,
    pub focus_factor: Fixed2,
    pub notes: Option<String>,
}

impl Capacity {
    /// Days of focused work: available days × focus factor (the team's capacity in points is
    /// the sum of these × velocity).
    pub fn focused_days(&self) -> Fixed2 {
        self.available_days.times(self.focus_factor)
    }
}

/// The latest readiness check of one criterion on one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessCheck {
    pub ok: bool,
    pub note: Option<String>,
    pub by: ParticipantId,
}

/// A flag on an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    pub reason: FlagReason,
    pub round: Option<RoundId>,
    pub note: Option<String>,
    pub by: ParticipantId,
}

/// A candidate backlog item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: ItemId,
    pub draft: ItemDraft,
    pub proposed_by: ParticipantId,
    pub proposed_at: Micros,
    /// Set when it came from an import or a carry-over.
    pub source: Option<String>,
    pub withdrawn: bool,
    pub readiness: BTreeMap<CriterionId, ReadinessCheck>,
    pub readiness_overridden: bool,
    pub flag: Option<Flag>,
    pub proposed_estimate: Option<String>,
    pub estimate: Option<String>,
    pub points: Option<Fixed2>,
    /// Rounds this item was part of, oldest first.
    pub rounds: Vec<RoundId>,
    /// Sent back to refinement (`ItemReturnedToRefinement`) and not moved on since: not edited,
    /// flagged, sent to the agenda, put in a round or agreed.
    #[serde(default)]
    pub returned_to_refinement: Option<Refinement>,
}

/// Why and when an item went back to refinement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refinement {
    pub note: Option<String>,
    pub by: ParticipantId,
    pub at: Micros,
}

impl Item {
    /// Criteria whose latest check failed (ignoring criteria no longer in the Definition of Ready).
    pub fn failing_criteria(&self, dor: &[Criterion]) -> Vec<CriterionId> {
        dor.iter()
            .filter(|c| self.readiness.get(&c.id).is_some_and(|r| !r.ok))
            .map(|c| c.id)
            .collect()
    }
}

/// A member's hidden vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub card: Card,
    pub nonce: Nonce,
}

/// An estimation round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    pub id: RoundId,
    pub items: Vec<ItemId>,
    /// Shared with the rounds before it that used the same deck.
    pub deck: Arc<Deck>,
    pub deadline: Micros,
    pub live: bool,
    pub opened_at: Micros,
    /// Who opened it (and so chose or accepted its deadline); absent in states saved before.
    #[serde(default)]
    pub opened_by: Option<ParticipantId>,
    pub previous: Option<RoundId>,
    pub closed: Option<CloseReason>,
    pub closed_at: Option<Micros>,
    /// item → voter → vote. Sealed: only views made for the voter may show the card.
    pub votes: VecMap<ItemId, VecMap<ParticipantId, Vote>>,
    /// Items whose votes are revealed, with the votes as revealed.
    pub revealed: VecMap<ItemId, Vec<RevealedVote>>,
}

impl Round {
    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }
}

/// A comment, question or answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: CommentId,
    /// Posting order within the planning (0 for the first comment): a stable order for
    /// threads and the cursor of comment pages (`at` can tie within one group commit).
    pub n: u64,
    pub item: Option<ItemId>,
    pub kind: CommentKind,
    pub parent: Option<CommentId>,
    pub addressee: Option<ParticipantId>,
    pub text: String,
    pub by: ParticipantId,
    pub at: Micros,
    pub edited: bool,
    pub deleted: bool,
    pub resolved: bool,
    /// Answers posted to this question.
    pub answers: Vec<CommentId>,
}

/// The sprint goal and its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goal {
    pub text: String,
    /// Every wording, oldest first, with who wrote it.
    pub history: Vec<(String, ParticipantId)>,
    pub committed: bool,
}

/// A wording of the goal someone suggested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalSuggestion {
    pub id: SuggestionId,
    pub text: String,
    pub by: ParticipantId,
    pub at: Micros,
    /// The facilitator adopted it (`GoalAmended` naming it).
    pub adopted: bool,
}

/// The item the room discusses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Focus {
    pub item: ItemId,
    pub by: ParticipantId,
    /// Since when.
    pub at: Micros,
}

/// The time box running on the focused item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    pub item: ItemId,
    /// The whole box: its first length plus every extension.
    pub seconds: u32,
    pub started_at: Micros,
    /// When the box runs out (server time); a client shows the time left from it and the
    /// server's `now` (see docs/protocol.md).
    pub ends_at: Micros,
    pub by: ParticipantId,
}

/// The facilitator's draft of the scope, shared with the room before the commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeDraft {
    pub items: Vec<ItemId>,
    pub by: ParticipantId,
    pub at: Micros,
}

/// A recorded coin flip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoinFlip {
    pub question: String,
    pub options: Vec<String>,
    pub outcome: u32,
    pub by: ParticipantId,
    pub at: Micros,
}

/// The committed scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    pub items: Vec<ItemId>,
    pub points: Fixed2,
    pub capacity: Fixed2,
    pub over_capacity_confirmed: bool,
    pub by: ParticipantId,
    pub at: Micros,
}

/// The whole projection of one planning.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct State {
    /// `None` until `PlanningCreated`.
    pub planning: Option<PlanningId>,
    pub title: String,
    pub created_at: Micros,
    pub phase: Option<Phase>,
    pub deck: Deck,
    pub policy: Policy,
    pub schedule: Schedule,
    /// Who set each time of the schedule and when, by the time's field name; a time keeps its
    /// origin while later schedules leave it as it was (absent when set before events said who).
    #[serde(default)]
    pub schedule_origins: BTreeMap<ScheduleTime, Origin>,
    pub member_invite_hash: String,
    pub observer_invite_hash: String,
    pub participants: BTreeMap<ParticipantId, Participant>,
    pub goal: Option<Goal>,
    pub items: BTreeMap<ItemId, Item>,
    /// Backlog order set by the product owner; items not listed follow in proposal order.
    pub rank: Vec<ItemId>,
    /// Proposal order of all items (ties of `rank`).
    pub proposal_order: Vec<ItemId>,
    pub comments: BTreeMap<CommentId, Comment>,
    pub definition_of_ready: Vec<Criterion>,
    pub velocity: Option<Fixed2>,
    #[serde(deserialize_with = "rounds_sharing_decks")]
    pub rounds: BTreeMap<RoundId, Round>,
    /// Round ids in opening order.
    pub round_order: Vec<RoundId>,
    pub sync_running: bool,
    /// The live agenda: the items still to discuss, in order (an agreed item, one sent back to
    /// refinement and a withdrawn one leave it).
    pub agenda: Vec<ItemId>,
    /// Every item the agenda held since it was last set, in agenda order, those that left it
    /// included: where the focus stands once its item has left the agenda.
    #[serde(default)]
    pub agenda_order: Vec<ItemId>,
    /// The item the room discusses, while the live session runs (the facilitator's choice).
    #[serde(default)]
    pub focus: Option<Focus>,
    /// The time box on the focused item, while one runs.
    #[serde(default)]
    pub timer: Option<Timer>,
    /// The facilitator's draft of the scope to commit (none before the first, and after the
    /// commitment).
    #[serde(default)]
    pub scope_draft: Option<ScopeDraft>,
    /// Wordings of the goal suggested, oldest first.
    #[serde(default)]
    pub goal_suggestions: Vec<GoalSuggestion>,
    pub coin_flips: Vec<CoinFlip>,
    pub commitment: Option<Commitment>,
    /// Reminders sent: (participant, round).
    pub reminders: BTreeSet<(ParticipantId, Option<RoundId>)>,
    /// The same reminders with their times, in the order sent.
    #[serde(default)]
    pub reminder_log: Vec<SentReminder>,
    /// Registered outbound webhooks (removed ones are dropped).
    #[serde(default)]
    pub webhooks: BTreeMap<WebhookId, Webhook>,
    /// How often the schedule moved the live session and the estimation deadline.
    #[serde(default)]
    pub calendar_revisions: CalendarRevisions,
}

/// Reads a snapshot's rounds with one copy of each distinct deck, as [`State::apply`] keeps
/// them (a snapshot writes the deck out in every round).
fn rounds_sharing_decks<'de, D>(d: D) -> Result<BTreeMap<RoundId, Round>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let mut rounds = BTreeMap::<RoundId, Round>::deserialize(d)?;
    let mut decks: Vec<Arc<Deck>> = Vec::new();
    for r in rounds.values_mut() {
        match decks.iter().find(|d| **d == r.deck) {
            Some(d) => r.deck = d.clone(),
            None => decks.push(r.deck.clone()),
        }
    }
    Ok(rounds)
}

/// How many times a schedule moved each calendar entry: the `SEQUENCE` of the live session's
/// and the estimation deadline's entries, so a calendar that imported one takes the new
/// time as an update of the same entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarRevisions {
    pub sync: u32,
    pub deadline: u32,
}

impl CalendarRevisions {
    fn follow(&mut self, old: &Schedule, new: &Schedule) {
        if (old.sync_start, old.sync_minutes) != (new.sync_start, new.sync_minutes) {
            self.sync = self.sync.saturating_add(1);
        }
        if old.estimation_deadline != new.estimation_deadline {
            self.deadline = self.deadline.saturating_add(1);
        }
    }
}

/// A time of the schedule, as its field is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleTime {
    SprintStart,
    SprintEnd,
    CandidatesSharedAt,
    EstimationDeadline,
    SyncStart,
}

impl ScheduleTime {
    /// Every time of a schedule with its value there.
    pub fn all(s: &Schedule) -> [(ScheduleTime, Option<Micros>); 5] {
        [
            (Self::SprintStart, s.sprint_start),
            (Self::SprintEnd, s.sprint_end),
            (Self::CandidatesSharedAt, s.candidates_shared_at),
            (Self::EstimationDeadline, s.estimation_deadline),
            (Self::SyncStart, s.sync_start),
        ]
    }
}

/// Who set a value, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub by: ParticipantId,
    pub at: Micros,
}

/// A reminder as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentReminder {
    pub participant: ParticipantId,
    pub round: Option<RoundId>,
    pub at: Micros,
}

/// An outbound webhook. Its secret is not part of the projection (see `WebhookRegistered`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    /// Event kinds delivered to it.
    pub events: Vec<String>,
    /// The shape of its bodies.
    #[serde(default)]
    pub format: WebhookFormat,
    pub by: ParticipantId,
    pub at: Micros,
}

impl Webhook {
    /// Whether events of `kind` go to this webhook.
    pub fn wants(&self, kind: &str) -> bool {
        self.events.iter().any(|k| k == kind)
    }
}

impl State {
    /// A new schedule's changed times take `origin` (none: their author is not known); a time
    /// left as it was keeps its origin, and a time removed loses it.
    fn note_schedule_origins(&mut self, new: &Schedule, origin: Option<(ParticipantId, Micros)>) {
        let old = ScheduleTime::all(&self.schedule);
        for ((time, before), (_, after)) in old.into_iter().zip(ScheduleTime::all(new)) {
            match (after, origin) {
                (Some(_), Some((by, at))) if after != before => {
                    self.schedule_origins.insert(time, Origin { by, at });
                }
                (Some(_), _) if after == before => {}
                _ => {
                    self.schedule_origins.remove(&time);
                }
            }
        }
    }

    /// Applies one event. Events are facts: nothing here can refuse them. Every kind is routed
    /// to the section that owns it (the match is exhaustive, so a new kind must be routed).
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::PlanningCreated { .. }
            | Event::ParticipantJoined { .. }
            | Event::ParticipantRenamed { .. }
            | Event::RoleChanged { .. }
            | Event::ParticipantRemoved { .. }
            | Event::InviteRotated { .. }
            | Event::ParticipantLinkReissued { .. }
            | Event::TimeZoneSet { .. } => self.apply_people(event.clone()),
            Event::PhaseChanged { .. }
            | Event::ScheduleSet { .. }
            | Event::PolicySet { .. }
            | Event::GoalDrafted { .. }
            | Event::GoalAmended { .. }
            | Event::GoalSuggested { .. }
            | Event::GoalCommitted { .. }
            | Event::ItemProposed { .. }
            | Event::ItemEdited { .. }
            | Event::ItemWithdrawn { .. }
            | Event::ItemRestored { .. }
            | Event::ItemsImported { .. }
            | Event::ItemsCarriedOver { .. }
            | Event::ItemsRanked { .. } => self.apply_backlog(event.clone()),
            Event::CommentPosted { .. }
            | Event::CommentEdited { .. }
            | Event::CommentDeleted { .. }
            | Event::QuestionResolved { .. }
            | Event::ReadinessChecked { .. }
            | Event::DefinitionOfReadySet { .. }
            | Event::ReadinessOverridden { .. }
            | Event::CapacityDeclared { .. }
            | Event::VelocitySet { .. } => self.apply_review(event.clone()),
            Event::RoundOpened { .. }
            | Event::RevoteOpened { .. }
            | Event::VoteCast { .. }
            | Event::VoteWithdrawn { .. }
            | Event::RoundClosed { .. }
            | Event::VotesRevealed { .. }
            | Event::ItemFlagged { .. }
            | Event::FlagCleared { .. }
            | Event::ItemSentToAgenda { .. }
            | Event::EstimateProposed { .. }
            | Event::EstimateAgreed { .. } => self.apply_estimation(event.clone()),
            Event::SyncStarted { .. }
            | Event::AgendaSet { .. }
            | Event::CoinFlipped { .. }
            | Event::SyncEnded { .. }
            | Event::ScopeCommitted { .. }
            | Event::ReminderSent { .. }
            | Event::WebhookRegistered { .. }
            | Event::WebhookRemoved { .. } => self.apply_sync(event.clone()),
            Event::FocusSet { .. }
            | Event::TimerStarted { .. }
            | Event::TimerExtended { .. }
            | Event::TimerStopped { .. }
            | Event::ItemReturnedToRefinement { .. }
            | Event::ScopeDrafted { .. } => self.apply_meeting(event.clone()),
        }
    }

    /// Applies an event of participants, invites, links and time zones.
    fn apply_people(&mut self, event: Event) {
        match event {
            Event::PlanningCreated {
                planning,
                title,
                creator,
                creator_name,
                creator_token_hash,
                deck,
                policy,
                member_invite_hash,
                observer_invite_hash,
                at,
            } => {
                self.planning = Some(planning);
                self.title = title;
                self.created_at = at;
                self.phase = Some(Phase::Draft);
                self.deck = deck;
                self.policy = policy;
                self.member_invite_hash = member_invite_hash;
                self.observer_invite_hash = observer_invite_hash;
                self.participants.insert(
                    creator,
                    Participant::new(
                        creator,
                        creator_name,
                        Role::Facilitator,
                        creator_token_hash,
                        at,
                    ),
                );
            }
            Event::ParticipantJoined {
                participant,
                name,
                role,
                token_hash,
                at,
            } => {
                self.participants.insert(
                    participant,
                    Participant::new(participant, name, role, token_hash, at),
                );
            }
            Event::ParticipantRenamed { participant, name } => {
                if let Some(p) = self.participants.get_mut(&participant) {
                    p.name = name;
                }
            }
            Event::RoleChanged {
                participant, role, ..
            } => {
                if let Some(p) = self.participants.get_mut(&participant) {
                    p.role = role;
                }
                // Only members vote: someone who stops being one loses their votes in open
                // rounds, as a removed participant does.
                if role != Role::Member {
                    self.drop_open_votes(participant);
                }
            }
            Event::ParticipantRemoved { participant, .. } => {
                if let Some(p) = self.participants.get_mut(&participant) {
                    p.removed = true;
                    p.token_hashes.clear();
                }
                // A removed member's votes no longer count in rounds still open.
                self.drop_open_votes(participant);
            }
            Event::InviteRotated {
                role, invite_hash, ..
            } => match role {
                Role::Observer => self.observer_invite_hash = invite_hash,
                _ => self.member_invite_hash = invite_hash,
            },
            Event::ParticipantLinkReissued {
                participant,
                token_hash,
                revoked_previous,
                ..
            } => {
                if let Some(p) = self.participants.get_mut(&participant) {
                    if revoked_previous {
                        p.token_hashes.clear();
                    }
                    p.token_hashes.push(token_hash);
                }
            }
            Event::TimeZoneSet {
                participant,
                time_zone,
                work_start_minute,
                work_end_minute,
                work_days,
            } => {
                if let Some(p) = self.participants.get_mut(&participant) {
                    p.time_zone = Some(time_zone);
                    p.work_start_minute = work_start_minute;
                    p.work_end_minute = work_end_minute;
                    p.work_days = work_days;
                }
            }
            _ => {}
        }
    }

    /// Applies an event of the schedule, the goal and the items.
    fn apply_backlog(&mut self, event: Event) {
        match event {
            Event::PhaseChanged { to, .. } => self.phase = Some(to),
            Event::ScheduleSet { schedule, by, at } => {
                self.calendar_revisions.follow(&self.schedule, &schedule);
                self.note_schedule_origins(&schedule, by.zip(at));
                self.schedule = schedule;
            }
            Event::PolicySet { policy } => self.policy = policy,
            Event::GoalDrafted { text, by } => {
                self.goal = Some(Goal {
                    text: text.clone(),
                    history: vec![(text, by)],
                    committed: false,
                })
            }
            Event::GoalAmended {
                text,
                by,
                suggestion,
                ..
            } => {
                // An adopted suggestion's wording is its author's.
                let mut author = by;
                if let Some(s) = self
                    .goal_suggestions
                    .iter_mut()
                    .find(|s| Some(s.id) == suggestion)
                {
                    s.adopted = true;
                    author = s.by;
                }
                if let Some(g) = self.goal.as_mut() {
                    g.text = text.clone();
                    g.history.push((text, author));
                }
            }
            Event::GoalSuggested {
                suggestion,
                text,
                by,
                at,
            } => self.goal_suggestions.push(GoalSuggestion {
                id: suggestion,
                text,
                by,
                at,
                adopted: false,
            }),
            Event::GoalCommitted { text, .. } => {
                if let Some(g) = self.goal.as_mut() {
                    g.text = text;
                    g.committed = true;
                }
            }
            Event::ItemProposed {
                item,
                draft,
                by,
                at,
            } => self.add_item(item, draft, by, at, None),
            Event::ItemEdited { item, patch, .. } => {
                if let Some(it) = self.items.get_mut(&item) {
                    patch.apply_to(&mut it.draft);
                    it.returned_to_refinement = None;
                }
            }
            Event::ItemWithdrawn { item, .. } => {
                if let Some(it) = self.items.get_mut(&item) {
                    it.withdrawn = true;
                    it.flag = None;
                }
                self.agenda.retain(|i| *i != item);
                if let Some(d) = self.scope_draft.as_mut() {
                    d.items.retain(|i| *i != item);
                }
            }
            Event::ItemRestored { item, .. } => {
                if let Some(it) = self.items.get_mut(&item) {
                    it.withdrawn = false;
                }
            }
            Event::ItemsImported {
                items,
                source,
                by,
                at,
            } => {
                for n in items {
                    self.add_item(n.item, n.draft, by, at, Some(format!("import:{source}")));
                }
            }
            Event::ItemsCarriedOver {
                from_planning,
                items,
                by,
                at,
            } => {
                for n in items {
                    self.add_item(
                        n.item,
                        n.draft,
                        by,
                        at,
                        Some(format!("carried-over:{from_planning}")),
                    );
                }
            }
            Event::ItemsRanked { order, .. } => {
                let mut rank = order.clone();
                rank.extend(self.rank.iter().filter(|i| !order.contains(i)).copied());
                self.rank = rank;
            }
            _ => {}
        }
    }

    /// Applies an event of the discussion, readiness and capacity.
    fn apply_review(&mut self, event: Event) {
        match event {
            Event::CommentPosted {
                comment,
                item,
                kind,
                parent,
                addressee,
                text,
                by,
                at,
            } => {
                if kind == CommentKind::Answer {
                    if let Some(q) = parent.and_then(|p| self.comments.get_mut(&p)) {
                        q.answers.push(comment);
                    }
                }
                // Comments are never removed (a deletion leaves a tombstone), so the count so
                // far numbers them in posting order.
                let n = self.comments.len() as u64;
                self.comments.insert(
                    comment,
                    Comment {
                        id: comment,
                        n,
                        item,
                        kind,
                        parent,
                        addressee,
                        text,
                        by,
                        at,
                        edited: false,
                        deleted: false,
                        resolved: false,
                        answers: Vec::new(),
                    },
                );
            }
            Event::CommentEdited { comment, text, .. } => {
                if let Some(c) = self.comments.get_mut(&comment) {
                    c.text = text;
                    c.edited = true;
                }
            }
            Event::CommentDeleted { comment, .. } => {
                if let Some(c) = self.comments.get_mut(&comment) {
                    c.text.clear();
                    c.deleted = true;
                }
            }
            Event::QuestionResolved { comment, .. } => {
                if let Some(c) = self.comments.get_mut(&comment) {
                    c.resolved = true;
                }
            }
            Event::ReadinessChecked {
                item,
                criterion,
                ok,
                note,
                by,
            } => {
                if let Some(it) = self.items.get_mut(&item) {
                    it.readiness
                        .insert(criterion, ReadinessCheck { ok, note, by });
                }
            }
            Event::DefinitionOfReadySet { criteria, .. } => self.definition_of_ready = criteria,
            Event::ReadinessOverridden { item, .. } => {
                if let Some(it) = self.items.get_mut(&item) {
                    it.readiness_overridden = true;
                }
            }
            Event::CapacityDeclared {
                participant,
                available_days,
                focus_factor,
                notes,
                ..
            } => {
                if let Some(p) = self.participants.get_mut(&participant) {
                    p.capacity = Some(Capacity {
                        available_days,
                        focus_factor,
                        notes,
                    });
                }
            }
            Event::VelocitySet { points_per_day, .. } => self.velocity = Some(points_per_day),
            _ => {}
        }
    }

    /// Applies an event of rounds, votes, flags and estimates.
    fn apply_estimation(&mut self, event: Event) {
        match event {
            Event::RoundOpened {
                round,
                items,
                deck,
                deadline,
                live,
                by,
                at,
            } => self.open_round(round, items, deck, deadline, live, (at, by), None),
            Event::RevoteOpened {
                round,
                items,
                previous,
                deck,
                deadline,
                by,
                at,
            } => self.open_round(round, items, deck, deadline, true, (at, by), Some(previous)),
            Event::VoteCast {
                round,
                item,
                voter,
                card,
                nonce,
            } => {
                if let Some(r) = self.rounds.get_mut(&round) {
                    let vote = Vote {
                        card: card.into(),
                        nonce: nonce.into(),
                    };
                    r.votes.get_or_default(item).insert(voter, vote);
                }
            }
            Event::VoteWithdrawn { round, item, voter } => {
                if let Some(votes) = self
                    .rounds
                    .get_mut(&round)
                    .and_then(|r| r.votes.get_mut(&item))
                {
                    votes.remove(&voter);
                }
            }
            Event::RoundClosed { round, reason, at } => {
                if let Some(r) = self.rounds.get_mut(&round) {
                    r.closed = Some(reason);
                    r.closed_at = Some(at);
                    // No vote comes after the close: the history keeps no spare slots.
                    r.votes.values_mut().for_each(VecMap::shrink_to_fit);
                }
            }
            Event::VotesRevealed {
                round, item, votes, ..
            } => {
                if let Some(r) = self.rounds.get_mut(&round) {
                    r.revealed.insert(item, votes);
                }
            }
            Event::ItemFlagged {
                item,
                reason,
                round,
                note,
                by,
            } => {
                if let Some(it) = self.items.get_mut(&item) {
                    it.flag = Some(Flag {
                        reason,
                        round,
                        note,
                        by,
                    });
                    it.proposed_estimate = None;
                    it.returned_to_refinement = None;
                }
                self.join_agenda(item);
            }
            Event::FlagCleared { item, .. } => {
                if let Some(it) = self.items.get_mut(&item) {
                    it.flag = None;
                }
            }
            Event::ItemSentToAgenda { item, note, by, .. } => {
                if let Some(it) = self.items.get_mut(&item) {
                    it.flag = Some(Flag {
                        reason: FlagReason::Discussion,
                        round: None,
                        note,
                        by,
                    });
                    it.proposed_estimate = None;
                    it.returned_to_refinement = None;
                }
                self.join_agenda(item);
            }
            Event::EstimateProposed { item, card, .. } => {
                if let Some(it) = self.items.get_mut(&item) {
                    it.proposed_estimate = Some(card);
                }
            }
            Event::EstimateAgreed {
                item, card, points, ..
            } => {
                if let Some(it) = self.items.get_mut(&item) {
                    it.estimate = Some(card);
                    it.points = points;
                    it.proposed_estimate = None;
                    it.flag = None;
                    it.returned_to_refinement = None;
                }
                // Settled: off the agenda (the log keeps the path).
                self.agenda.retain(|i| *i != item);
            }
            _ => {}
        }
    }

    /// Applies an event of the live session, the commitment, reminders and webhooks.
    fn apply_sync(&mut self, event: Event) {
        match event {
            Event::SyncStarted { .. } => self.sync_running = true,
            Event::AgendaSet { items, .. } => {
                self.agenda_order = items.clone();
                self.agenda = items;
            }
            Event::CoinFlipped {
                question,
                options,
                outcome,
                by,
                at,
            } => self.coin_flips.push(CoinFlip {
                question,
                options,
                outcome,
                by,
                at,
            }),
            Event::SyncEnded { .. } => self.end_session(),
            Event::ScopeCommitted {
                items,
                points,
                capacity,
                over_capacity_confirmed,
                by,
                at,
            } => {
                self.commitment = Some(Commitment {
                    items,
                    points,
                    capacity,
                    over_capacity_confirmed,
                    by,
                    at,
                });
                self.end_session();
                self.scope_draft = None;
            }
            Event::ReminderSent {
                participant,
                round,
                at,
            } => {
                self.reminders.insert((participant, round));
                self.reminder_log.push(SentReminder {
                    participant,
                    round,
                    at,
                });
            }
            Event::WebhookRegistered {
                webhook,
                url,
                events,
                format,
                by,
                at,
            } => {
                self.webhooks.insert(
                    webhook,
                    Webhook {
                        id: webhook,
                        url,
                        events,
                        format,
                        by,
                        at,
                    },
                );
            }
            Event::WebhookRemoved { webhook, .. } => {
                self.webhooks.remove(&webhook);
            }
            _ => {}
        }
    }
    /// Applies an event of the live meeting: the focus, the time box, items sent back to
    /// refinement and the scope draft.
    fn apply_meeting(&mut self, event: Event) {
        match event {
            Event::FocusSet { item, by, at } => {
                // A time box belongs to its item: moving on ends it.
                if self.timer.as_ref().is_some_and(|t| Some(t.item) != item) {
                    self.timer = None;
                }
                self.focus = item.map(|item| Focus { item, by, at });
            }
            Event::TimerStarted {
                item,
                seconds,
                ends_at,
                by,
                at,
            } => {
                self.timer = Some(Timer {
                    item,
                    seconds,
                    started_at: at,
                    ends_at,
                    by,
                })
            }
            Event::TimerExtended {
                seconds, ends_at, ..
            } => {
                if let Some(t) = self.timer.as_mut() {
                    t.seconds = t.seconds.saturating_add(seconds);
                    t.ends_at = ends_at;
                }
            }
            Event::TimerStopped { .. } => self.timer = None,
            Event::ItemReturnedToRefinement { item, note, by, at } => {
                if let Some(it) = self.items.get_mut(&item) {
                    it.flag = None;
                    it.proposed_estimate = None;
                    it.returned_to_refinement = Some(Refinement { note, by, at });
                }
                self.agenda.retain(|i| *i != item);
            }
            Event::ScopeDrafted { items, by, at } => {
                self.scope_draft = Some(ScopeDraft { items, by, at })
            }
            _ => {}
        }
    }

    /// The live session is over: nobody discusses anything any more.
    fn end_session(&mut self) {
        self.sync_running = false;
        self.focus = None;
        self.timer = None;
    }

    /// An item flagged or sent to the agenda during the session joins the end of the agenda.
    fn join_agenda(&mut self, item: ItemId) {
        if self.sync_running && !self.agenda.contains(&item) {
            self.agenda.push(item);
            if !self.agenda_order.contains(&item) {
                self.agenda_order.push(item);
            }
        }
    }

    /// Forgets a participant's votes in the rounds still open.
    fn drop_open_votes(&mut self, participant: ParticipantId) {
        for round in self.rounds.values_mut().filter(|r| r.is_open()) {
            for votes in round.votes.values_mut() {
                votes.remove(&participant);
            }
        }
    }

    fn add_item(
        &mut self,
        id: ItemId,
        draft: ItemDraft,
        by: ParticipantId,
        at: Micros,
        source: Option<String>,
    ) {
        self.items.insert(
            id,
            Item {
                id,
                draft,
                proposed_by: by,
                proposed_at: at,
                source,
                withdrawn: false,
                readiness: BTreeMap::new(),
                readiness_overridden: false,
                flag: None,
                proposed_estimate: None,
                estimate: None,
                points: None,
                rounds: Vec::new(),
                returned_to_refinement: None,
            },
        );
        self.proposal_order.push(id);
        self.rank.push(id);
    }

    #[allow(clippy::too_many_arguments)]
    fn open_round(
        &mut self,
        id: RoundId,
        items: Vec<ItemId>,
        deck: Deck,
        deadline: Micros,
        live: bool,
        (at, by): (Micros, ParticipantId),
        previous: Option<RoundId>,
    ) {
        for i in &items {
            if let Some(it) = self.items.get_mut(i) {
                it.rounds.push(id);
                it.proposed_estimate = None;
                it.returned_to_refinement = None;
            }
        }
        // Rounds mostly use the planning's deck: one copy serves them all.
        let deck = match self.round_order.last().and_then(|r| self.rounds.get(r)) {
            Some(last) if *last.deck == deck => last.deck.clone(),
            _ => Arc::new(deck),
        };
        self.rounds.insert(
            id,
            Round {
                id,
                items,
                deck,
                deadline,
                live,
                opened_at: at,
                opened_by: Some(by),
                previous,
                closed: None,
                closed_at: None,
                votes: VecMap::new(),
                revealed: VecMap::new(),
            },
        );
        self.round_order.push(id);
    }

    /// Folds events into a fresh state.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a Event>) -> State {
        let mut s = State::default();
        for e in events {
            s.apply(e);
        }
        s
    }

    // ---- queries used by decide and by views ----

    /// An active (not removed) participant.
    pub fn participant(&self, id: ParticipantId) -> Option<&Participant> {
        self.participants.get(&id).filter(|p| !p.removed)
    }

    /// The participant a token hash belongs to, if it still works.
    pub fn participant_by_token(&self, token_hash: &str) -> Option<&Participant> {
        self.participants.values().find(|p| {
            !p.removed
                && p.token_hashes
                    .iter()
                    .any(|h| crate::domain::secret::same_hash(h, token_hash))
        })
    }

    /// Active members (the voters).
    pub fn members(&self) -> impl Iterator<Item = &Participant> {
        self.participants
            .values()
            .filter(|p| !p.removed && p.role == Role::Member)
    }

    /// Items in backlog order (withdrawn ones left out).
    pub fn ranked_items(&self) -> impl Iterator<Item = &Item> {
        self.rank
            .iter()
            .filter_map(|i| self.items.get(i))
            .filter(|i| !i.withdrawn)
    }

    /// The open round an item is in, if any.
    pub fn open_round_of(&self, item: ItemId) -> Option<&Round> {
        self.rounds
            .values()
            .find(|r| r.is_open() && r.items.contains(&item))
    }

    /// Team capacity in points: Σ(days × focus) × velocity (zero without a velocity).
    pub fn capacity_points(&self) -> Fixed2 {
        let focused_days = self
            .participants
            .values()
            .filter(|p| !p.removed && p.role != Role::Observer)
            .filter_map(|p| p.capacity.as_ref())
            .fold(Fixed2::ZERO, |acc, c| acc.saturating_add(c.focused_days()));
        focused_days.times(self.velocity.unwrap_or(Fixed2::ZERO))
    }

    /// Members who have not voted on every item of an open round.
    pub fn not_voted(&self, round: &Round) -> Vec<ParticipantId> {
        self.members()
            .filter(|m| {
                round
                    .items
                    .iter()
                    .any(|i| !round.votes.get(i).is_some_and(|v| v.contains_key(&m.id)))
            })
            .map(|m| m.id)
            .collect()
    }
}

impl Participant {
    fn new(id: ParticipantId, name: String, role: Role, token_hash: String, at: Micros) -> Self {
        Participant {
            id,
            name,
            role,
            token_hashes: vec![token_hash],
            removed: false,
            joined_at: at,
            time_zone: None,
            work_start_minute: None,
            work_end_minute: None,
            work_days: Vec::new(),
            capacity: None,
        }
    }
}
