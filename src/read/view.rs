//! Per-viewer views: what one participant may see of an event or of the projection.
//!
//! Redaction happens here and only here, for live frames, catch-up, REST reads and listings,
//! and the views are allow-lists: a view type names every field it shows, and a view is built
//! by destructuring the domain type whole, so a field added to the projection does not compile
//! until it is classified here.
//! - a vote's card shows to its author only ([`may_see_card`], also the audit's rule);
//!   everyone else learns *that* the member voted. Values become public through
//!   `VotesRevealed`, which carries them, so a `VoteCast` never needs to be un-redacted later
//!   and a replay at any point stays sealed;
//! - token and invite hashes are never shown to anyone: the views have no field for them;
//! - a webhook URL shows only its origin (`scheme://host:port`) except to facilitators in the
//!   projection: incoming-webhook URLs often carry a credential in their path (Slack's do).
//!   Event views have no role at hand, so they always show the origin only.
//!
//! Times stay integers (microseconds, UTC) as the protocol says; every time a view shows, at any
//! depth, is a [`Utc`], which also writes an RFC 3339 UTC twin named `<field>_utc`, so a client
//! can show it in the viewer's own zone without doing epoch arithmetic. Event data is built the
//! same way, one type per kind ([`EventView`], in `events`).
//!
//! A projection view owns what it shows: it is built under the room's read lock and
//! serialised after the lock is released.

use crate::domain::deck::Deck;
use crate::domain::discussion::NeedsDiscussion;
use crate::domain::event::{
    CloseReason, Criterion, Event, ItemDraft, Phase, Policy, RevealedVote, Role, Schedule,
};
use crate::domain::fixed::Fixed2;
use crate::domain::ids::{
    CommentId, CriterionId, ItemId, ParticipantId, PlanningId, RoundId, SuggestionId, WebhookId,
};
use crate::domain::live::ScopeFigures;
use crate::domain::policy::Spread;
use crate::domain::slots::WorkDay;
use crate::domain::state::{
    Capacity, CoinFlip, Commitment, Flag, Focus, Goal, GoalSuggestion, Item, Origin, Participant,
    ReadinessCheck, Refinement, Round, ScheduleTime, ScopeDraft, SentReminder, State, Timer, Vote,
    Webhook,
};
use crate::read::comments::{CommentView, Discussion};
use crate::read::utc::Utc;
use crate::read::Envelope;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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

/// A vote in a round as one viewer sees it: that it was cast, and its card for its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoteView {
    Sealed,
    Mine(String),
}

impl VoteView {
    pub fn of(vote: &Vote, voter: ParticipantId, seer: Seer) -> Self {
        if may_see_card(seer, voter) {
            VoteView::Mine(vote.card.to_string())
        } else {
            VoteView::Sealed
        }
    }
}

impl Serialize for VoteView {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("voted", &true)?;
        if let VoteView::Mine(card) = self {
            map.serialize_entry("card", card)?;
        }
        map.end()
    }
}

/// The data of an event as `viewer` may see it (see [`EventView`]).
pub fn event_data(event: &Event, viewer: Viewer) -> Value {
    // A view holds no map with non-string keys, so it always becomes a JSON value; its
    // objects are sorted by key (serde_json's `Value`), as the wire has always had them.
    serde_json::to_value(EventView::of(event, viewer)).unwrap_or(Value::Null)
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
#[derive(Debug, Serialize)]
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

/// A participant as everyone sees them: no token hashes.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantView {
    id: ParticipantId,
    name: String,
    role: Role,
    removed: bool,
    #[serde(flatten)]
    joined_at: Utc,
    time_zone: Option<String>,
    work_start_minute: Option<u32>,
    work_end_minute: Option<u32>,
    work_days: Vec<WorkDay>,
    capacity: Option<Capacity>,
}

impl From<&Participant> for ParticipantView {
    fn from(p: &Participant) -> Self {
        let Participant {
            id,
            name,
            role,
            token_hashes: _,
            removed,
            joined_at,
            time_zone,
            work_start_minute,
            work_end_minute,
            work_days,
            capacity,
        } = p;
        ParticipantView {
            id: *id,
            name: name.clone(),
            role: *role,
            removed: *removed,
            joined_at: Utc::new("joined_at", *joined_at),
            time_zone: time_zone.clone(),
            work_start_minute: *work_start_minute,
            work_end_minute: *work_end_minute,
            work_days: work_days.clone(),
            capacity: capacity.clone(),
        }
    }
}

/// An item, with the UTC twin of the time it was proposed.
#[derive(Debug, Clone, Serialize)]
pub struct ItemView {
    id: ItemId,
    draft: ItemDraft,
    proposed_by: ParticipantId,
    #[serde(flatten)]
    proposed_at: Utc,
    source: Option<String>,
    withdrawn: bool,
    readiness: BTreeMap<CriterionId, ReadinessCheck>,
    readiness_overridden: bool,
    flag: Option<Flag>,
    proposed_estimate: Option<String>,
    estimate: Option<String>,
    points: Option<Fixed2>,
    rounds: Vec<RoundId>,
    returned_to_refinement: Option<RefinementView>,
}

/// An item sent back to refinement in the live session: by whom, when and why.
#[derive(Debug, Clone, Serialize)]
pub struct RefinementView {
    note: Option<String>,
    by: ParticipantId,
    #[serde(flatten)]
    at: Utc,
}

impl From<&Refinement> for RefinementView {
    fn from(r: &Refinement) -> Self {
        let Refinement { note, by, at } = r;
        RefinementView {
            note: note.clone(),
            by: *by,
            at: Utc::new("at", *at),
        }
    }
}

impl From<&Item> for ItemView {
    fn from(i: &Item) -> Self {
        let Item {
            id,
            draft,
            proposed_by,
            proposed_at,
            source,
            withdrawn,
            readiness,
            readiness_overridden,
            flag,
            proposed_estimate,
            estimate,
            points,
            rounds,
            returned_to_refinement,
        } = i;
        ItemView {
            id: *id,
            draft: draft.clone(),
            proposed_by: *proposed_by,
            proposed_at: Utc::new("proposed_at", *proposed_at),
            source: source.clone(),
            withdrawn: *withdrawn,
            readiness: readiness.clone(),
            readiness_overridden: *readiness_overridden,
            flag: flag.clone(),
            proposed_estimate: proposed_estimate.clone(),
            estimate: estimate.clone(),
            points: *points,
            rounds: rounds.clone(),
            returned_to_refinement: returned_to_refinement.as_ref().map(RefinementView::from),
        }
    }
}

/// A schedule with the UTC twins of its times.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleView {
    #[serde(flatten)]
    sprint_start: Utc,
    #[serde(flatten)]
    sprint_end: Utc,
    #[serde(flatten)]
    candidates_shared_at: Utc,
    #[serde(flatten)]
    estimation_deadline: Utc,
    #[serde(flatten)]
    sync_start: Utc,
    sync_minutes: Option<u32>,
    auto_phases: bool,
    reminder_minutes: Option<u32>,
    /// Who set each time and when (in the planning's view; an event's schedule has none).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    origins: BTreeMap<ScheduleTime, OriginView>,
}

/// Who set a value and when.
#[derive(Debug, Clone, Serialize)]
pub struct OriginView {
    by: ParticipantId,
    #[serde(flatten)]
    at: Utc,
}

impl ScheduleView {
    /// The planning's schedule with who set each of its times.
    fn with_origins(s: &Schedule, origins: &BTreeMap<ScheduleTime, Origin>) -> Self {
        let mut view = ScheduleView::from(s);
        view.origins = origins
            .iter()
            .map(|(time, o)| {
                let at = Utc::new("at", o.at);
                (*time, OriginView { by: o.by, at })
            })
            .collect();
        view
    }
}

impl From<&Schedule> for ScheduleView {
    fn from(s: &Schedule) -> Self {
        let Schedule {
            sprint_start,
            sprint_end,
            candidates_shared_at,
            estimation_deadline,
            sync_start,
            sync_minutes,
            auto_phases,
            reminder_minutes,
        } = s;
        ScheduleView {
            sprint_start: Utc::maybe("sprint_start", *sprint_start),
            sprint_end: Utc::maybe("sprint_end", *sprint_end),
            candidates_shared_at: Utc::maybe("candidates_shared_at", *candidates_shared_at),
            estimation_deadline: Utc::maybe("estimation_deadline", *estimation_deadline),
            sync_start: Utc::maybe("sync_start", *sync_start),
            sync_minutes: *sync_minutes,
            auto_phases: *auto_phases,
            reminder_minutes: *reminder_minutes,
            origins: BTreeMap::new(),
        }
    }
}

/// A round: who voted, with the viewer's own cards only.
#[derive(Debug, Clone, Serialize)]
pub struct RoundView {
    id: RoundId,
    items: Vec<ItemId>,
    deck: Arc<Deck>,
    #[serde(flatten)]
    deadline: Utc,
    live: bool,
    #[serde(flatten)]
    opened_at: Utc,
    /// Who opened the round (null in rounds recorded before this was kept).
    opened_by: Option<ParticipantId>,
    previous: Option<RoundId>,
    closed: Option<CloseReason>,
    #[serde(flatten)]
    closed_at: Utc,
    votes: BTreeMap<ItemId, BTreeMap<ParticipantId, VoteView>>,
    revealed: BTreeMap<ItemId, Vec<RevealedVote>>,
    /// What the revealed votes of each item add up to.
    distribution: BTreeMap<ItemId, Distribution>,
}

impl RoundView {
    /// `points`: the planning's point table, for the spread in points.
    fn of(r: &Round, seer: Seer, points: &BTreeMap<String, Fixed2>) -> Self {
        let Round {
            id,
            items,
            deck,
            deadline,
            live,
            opened_at,
            opened_by,
            previous,
            closed,
            closed_at,
            votes,
            revealed,
        } = r;
        let votes = votes
            .iter()
            .map(|(item, per_voter)| {
                let shown = per_voter
                    .iter()
                    .map(|(voter, vote)| (*voter, VoteView::of(vote, *voter, seer)))
                    .collect();
                (*item, shown)
            })
            .collect();
        RoundView {
            id: *id,
            items: items.clone(),
            deck: deck.clone(),
            deadline: Utc::new("deadline", *deadline),
            live: *live,
            opened_at: Utc::new("opened_at", *opened_at),
            opened_by: *opened_by,
            previous: *previous,
            closed: *closed,
            closed_at: Utc::maybe("closed_at", *closed_at),
            votes,
            revealed: revealed.iter().map(|(i, v)| (*i, v.clone())).collect(),
            distribution: revealed
                .iter()
                .map(|(item, votes)| (*item, Distribution::of(deck, votes, points)))
                .collect(),
        }
    }
}

/// The revealed votes on one item, read as the divergence rule reads them ([`Spread`]), so
/// every client shows the figures the flag and the proposed estimate came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Distribution {
    /// Revealed votes, `?` and `☕` included.
    votes: usize,
    /// Votes per card played (estimates and special cards).
    counts: BTreeMap<String, usize>,
    /// The lowest, highest and median estimate card (the upper median, as proposed); null
    /// when no vote is an estimate.
    low: Option<String>,
    high: Option<String>,
    median: Option<String>,
    /// How far apart the lowest and the highest estimate are in deck steps, and in points
    /// (null when either card has none).
    spread_steps: Option<usize>,
    spread_points: Option<Fixed2>,
}

impl Distribution {
    fn of(deck: &Deck, votes: &[RevealedVote], points: &BTreeMap<String, Fixed2>) -> Self {
        let mut counts = BTreeMap::new();
        for v in votes {
            *counts.entry(v.card.to_string()).or_insert(0) += 1;
        }
        let spread = Spread::of(deck, votes.iter().map(|v| v.card.as_str()));
        let card = |step: usize| deck.cards[step].clone();
        let points_of = |step: usize| deck.points(&deck.cards[step], points);
        Distribution {
            votes: votes.len(),
            counts,
            low: spread.map(|s| card(s.low)),
            high: spread.map(|s| card(s.high)),
            median: spread.map(|s| card(s.median)),
            spread_steps: spread.map(|s| s.steps()),
            spread_points: spread.and_then(|s| {
                let (low, high) = (points_of(s.low)?, points_of(s.high)?);
                Some(Fixed2::from_hundredths(
                    high.hundredths().saturating_sub(low.hundredths()),
                ))
            }),
        }
    }
}

/// A webhook, its URL masked to the origin unless the viewer may see it whole.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookView {
    id: WebhookId,
    url: String,
    events: Vec<String>,
    format: crate::domain::event::WebhookFormat,
    by: ParticipantId,
    #[serde(flatten)]
    at: Utc,
}

impl WebhookView {
    pub(crate) fn of(w: &Webhook, whole_url: bool) -> Self {
        let Webhook {
            id,
            url,
            events,
            format,
            by,
            at,
        } = w;
        WebhookView {
            id: *id,
            url: if whole_url {
                url.clone()
            } else {
                url_origin(url)
            },
            events: events.clone(),
            format: *format,
            by: *by,
            at: Utc::new("at", *at),
        }
    }
}

/// A coin flip.
#[derive(Debug, Clone, Serialize)]
pub struct CoinFlipView {
    question: String,
    options: Vec<String>,
    outcome: u32,
    by: ParticipantId,
    #[serde(flatten)]
    at: Utc,
}

impl From<&CoinFlip> for CoinFlipView {
    fn from(c: &CoinFlip) -> Self {
        let CoinFlip {
            question,
            options,
            outcome,
            by,
            at,
        } = c;
        CoinFlipView {
            question: question.clone(),
            options: options.clone(),
            outcome: *outcome,
            by: *by,
            at: Utc::new("at", *at),
        }
    }
}

/// The committed scope.
#[derive(Debug, Clone, Serialize)]
pub struct CommitmentView {
    items: Vec<ItemId>,
    points: Fixed2,
    capacity: Fixed2,
    over_capacity_confirmed: bool,
    by: ParticipantId,
    #[serde(flatten)]
    at: Utc,
}

impl From<&Commitment> for CommitmentView {
    fn from(c: &Commitment) -> Self {
        let Commitment {
            items,
            points,
            capacity,
            over_capacity_confirmed,
            by,
            at,
        } = c;
        CommitmentView {
            items: items.clone(),
            points: *points,
            capacity: *capacity,
            over_capacity_confirmed: *over_capacity_confirmed,
            by: *by,
            at: Utc::new("at", *at),
        }
    }
}

/// The item the room discusses.
#[derive(Debug, Clone, Serialize)]
pub struct FocusView {
    item: ItemId,
    by: ParticipantId,
    #[serde(flatten)]
    at: Utc,
}

impl From<&Focus> for FocusView {
    fn from(f: &Focus) -> Self {
        let Focus { item, by, at } = f;
        FocusView {
            item: *item,
            by: *by,
            at: Utc::new("at", *at),
        }
    }
}

/// The running time box: a client shows the time left as `ends_at` minus its own reading of
/// the server's clock (see `now` in docs/protocol.md).
#[derive(Debug, Clone, Serialize)]
pub struct TimerView {
    item: ItemId,
    seconds: u32,
    #[serde(flatten)]
    started_at: Utc,
    #[serde(flatten)]
    ends_at: Utc,
    by: ParticipantId,
}

impl From<&Timer> for TimerView {
    fn from(t: &Timer) -> Self {
        let Timer {
            item,
            seconds,
            started_at,
            ends_at,
            by,
        } = t;
        TimerView {
            item: *item,
            seconds: *seconds,
            started_at: Utc::new("started_at", *started_at),
            ends_at: Utc::new("ends_at", *ends_at),
            by: *by,
        }
    }
}

/// The facilitator's draft of the scope (its figures are in `derived.scope_draft`).
#[derive(Debug, Clone, Serialize)]
pub struct ScopeDraftView {
    items: Vec<ItemId>,
    by: ParticipantId,
    #[serde(flatten)]
    at: Utc,
}

impl From<&ScopeDraft> for ScopeDraftView {
    fn from(d: &ScopeDraft) -> Self {
        let ScopeDraft { items, by, at } = d;
        ScopeDraftView {
            items: items.clone(),
            by: *by,
            at: Utc::new("at", *at),
        }
    }
}

/// A suggested wording of the goal.
#[derive(Debug, Clone, Serialize)]
pub struct GoalSuggestionView {
    id: SuggestionId,
    text: String,
    by: ParticipantId,
    #[serde(flatten)]
    at: Utc,
    adopted: bool,
}

impl From<&GoalSuggestion> for GoalSuggestionView {
    fn from(g: &GoalSuggestion) -> Self {
        let GoalSuggestion {
            id,
            text,
            by,
            at,
            adopted,
        } = g;
        GoalSuggestionView {
            id: *id,
            text: text.clone(),
            by: *by,
            at: Utc::new("at", *at),
            adopted: *adopted,
        }
    }
}

/// A reminder as sent.
#[derive(Debug, Clone, Serialize)]
pub struct ReminderView {
    participant: ParticipantId,
    round: Option<RoundId>,
    #[serde(flatten)]
    at: Utc,
}

impl From<&SentReminder> for ReminderView {
    fn from(r: &SentReminder) -> Self {
        let SentReminder {
            participant,
            round,
            at,
        } = r;
        ReminderView {
            participant: *participant,
            round: *round,
            at: Utc::new("at", *at),
        }
    }
}

/// Figures a client would otherwise recompute, so every view shows them the same way.
#[derive(Debug, Clone, Serialize)]
pub struct Derived {
    /// Team capacity in points.
    capacity_points: Fixed2,
    /// Per participant who declared a capacity: available days × focus factor.
    focused_days: BTreeMap<ParticipantId, Fixed2>,
    /// The points of the agreed estimates.
    agreed_points: Fixed2,
    /// Items a Definition-of-Ready check failed for (and no override): not ready.
    not_ready: Vec<ItemId>,
    /// Items that need the live call before any vote, with the reasons.
    needs_discussion: Vec<NeedsDiscussion>,
    /// The agenda `StartSync` would set now (flagged items and items sent to it), so the
    /// agenda shows before the session; ids only, like `AgendaSet`.
    proposed_agenda: Vec<ItemId>,
    /// Items a closed round proposed an estimate for that is not agreed yet, and that no open
    /// round is voting on again, in backlog order: what the facilitator can agree at once.
    converged: Vec<ItemId>,
    /// Per thread: how many comments, how many open questions, and where the pages of the
    /// comments the view leaves out start.
    discussion: Value,
    /// The item `SetFocus` moves on to ("next item"), see `domain::live`.
    next_on_agenda: Option<ItemId>,
    /// What the facilitator can do with the focused item now (command type names).
    focus_actions: Vec<String>,
    /// Per item whose revealed vote is a tie: the tied cards, in deck order.
    tied_cards: BTreeMap<ItemId, Vec<String>>,
    /// The scope draft's points against capacity.
    scope_draft: Option<ScopeFigures>,
    /// Once committed: every item, in the sprint or not.
    in_sprint: Option<BTreeMap<ItemId, bool>>,
    /// Who the estimation deadline, the live sync and each open async round's deadline fall
    /// outside the working hours of (see `domain::hours`).
    outside_hours: crate::domain::hours::OutsideHours,
}

impl Derived {
    fn of(state: &State, discussion: Value) -> Self {
        let agreed = state
            .ranked_items()
            .filter_map(|i| i.points)
            .fold(Fixed2::ZERO, |a, p| a.saturating_add(p));
        Derived {
            capacity_points: state.capacity_points(),
            focused_days: state
                .participants
                .values()
                .filter_map(|p| Some((p.id, p.capacity.as_ref()?.focused_days())))
                .collect(),
            agreed_points: agreed,
            not_ready: state
                .ranked_items()
                .filter(|i| !i.readiness_overridden)
                .filter(|i| !i.failing_criteria(&state.definition_of_ready).is_empty())
                .map(|i| i.id)
                .collect(),
            needs_discussion: crate::domain::discussion::needs_discussion(state),
            proposed_agenda: crate::domain::agenda::sync_agenda(state),
            converged: state
                .ranked_items()
                .filter(|i| i.proposed_estimate.is_some() && i.estimate.is_none())
                .filter(|i| state.open_round_of(i.id).is_none())
                .map(|i| i.id)
                .collect(),
            discussion,
            next_on_agenda: crate::domain::live::next_on_agenda(state),
            focus_actions: crate::domain::live::focus_actions(state),
            tied_cards: crate::domain::live::tied_cards(state),
            scope_draft: crate::domain::live::scope_draft(state),
            in_sprint: crate::domain::live::in_sprint(state),
            outside_hours: crate::domain::hours::outside_hours(state),
        }
    }
}

/// The projection as one viewer may see it, with a bounded part of the discussion (see
/// `crate::read::comments`: older comments are read page by page).
#[derive(Debug, Clone, Serialize)]
pub struct StateView {
    planning: Option<PlanningId>,
    title: String,
    #[serde(flatten)]
    created_at: Utc,
    phase: Option<Phase>,
    deck: Deck,
    policy: Policy,
    schedule: ScheduleView,
    participants: BTreeMap<ParticipantId, ParticipantView>,
    goal: Option<Goal>,
    items: BTreeMap<ItemId, ItemView>,
    rank: Vec<ItemId>,
    proposal_order: Vec<ItemId>,
    comments: BTreeMap<CommentId, CommentView>,
    definition_of_ready: Vec<Criterion>,
    velocity: Option<Fixed2>,
    rounds: BTreeMap<RoundId, RoundView>,
    round_order: Vec<RoundId>,
    sync_running: bool,
    agenda: Vec<ItemId>,
    agenda_order: Vec<ItemId>,
    focus: Option<FocusView>,
    timer: Option<TimerView>,
    scope_draft: Option<ScopeDraftView>,
    goal_suggestions: Vec<GoalSuggestionView>,
    coin_flips: Vec<CoinFlipView>,
    commitment: Option<CommitmentView>,
    reminders: BTreeSet<(ParticipantId, Option<RoundId>)>,
    reminder_log: Vec<ReminderView>,
    webhooks: BTreeMap<WebhookId, WebhookView>,
    derived: Derived,
}

pub(crate) fn is_facilitator(state: &State, viewer: Viewer) -> bool {
    viewer
        .and_then(|me| state.participant(me))
        .is_some_and(|p| p.role == Role::Facilitator)
}

/// What every viewer's view of one state shares and what is costly to find in it: the
/// discussion (a scan of every comment, see [`Discussion`]) and the derived figures. A room
/// builds it once per head for all the views it serves at that head (`engine::snapshots`);
/// [`state_view`] builds it for one view.
#[derive(Debug, Clone)]
pub struct Common {
    discussion: Discussion,
    derived: Derived,
}

impl Common {
    pub fn of(state: &State) -> Self {
        let discussion = Discussion::of(state);
        Common {
            derived: Derived::of(state, discussion.summary().clone()),
            discussion,
        }
    }

    pub fn discussion(&self) -> &Discussion {
        &self.discussion
    }
}

/// The projection as `viewer` may see it.
pub fn state_view(state: &State, viewer: Viewer) -> StateView {
    state_view_with(state, viewer, &Common::of(state))
}

/// [`state_view`] from what every view of `state` shares, built once beforehand.
pub fn state_view_with(state: &State, viewer: Viewer, common: &Common) -> StateView {
    StateView::of(state, viewer, is_facilitator(state, viewer), common)
}

/// A past state (`?at=`, `state_at`) as `viewer` may see it today: redacted as
/// [`state_view`] redacts it at that point, and with the webhook URLs masked unless the viewer
/// is a facilitator *now* — someone demoted since must not read the URLs back through the past.
pub fn past_state_view(past: &State, viewer: Viewer, facilitator_now: bool) -> StateView {
    StateView::of(
        past,
        viewer,
        facilitator_now && is_facilitator(past, viewer),
        &Common::of(past),
    )
}

impl StateView {
    /// `whole_urls`: whether the viewer sees webhook URLs beyond their origin.
    fn of(state: &State, viewer: Viewer, whole_urls: bool, common: &Common) -> Self {
        let State {
            planning,
            title,
            created_at,
            phase,
            deck,
            policy,
            schedule,
            schedule_origins,
            member_invite_hash: _,
            observer_invite_hash: _,
            participants,
            goal,
            items,
            rank,
            proposal_order,
            comments: _,
            definition_of_ready,
            velocity,
            rounds,
            round_order,
            sync_running,
            agenda,
            agenda_order,
            focus,
            timer,
            scope_draft,
            goal_suggestions,
            coin_flips,
            commitment,
            reminders,
            reminder_log,
            webhooks,
            // The calendar's SEQUENCE numbers (`read::calendar`), not part of the view.
            calendar_revisions: _,
        } = state;
        let seer = Seer::from(viewer);
        // A bounded part of the comments (see `crate::read::comments`).
        let comments = common.discussion.shown_to(viewer);
        StateView {
            planning: *planning,
            title: title.clone(),
            created_at: Utc::new("created_at", *created_at),
            phase: *phase,
            deck: deck.clone(),
            policy: policy.clone(),
            schedule: ScheduleView::with_origins(schedule, schedule_origins),
            participants: participants.iter().map(|(id, p)| (*id, p.into())).collect(),
            goal: goal.clone(),
            items: items.iter().map(|(id, i)| (*id, i.into())).collect(),
            rank: rank.clone(),
            proposal_order: proposal_order.clone(),
            comments,
            definition_of_ready: definition_of_ready.clone(),
            velocity: *velocity,
            rounds: rounds
                .iter()
                .map(|(id, r)| (*id, RoundView::of(r, seer, &policy.point_table)))
                .collect(),
            round_order: round_order.clone(),
            sync_running: *sync_running,
            agenda: agenda.clone(),
            agenda_order: agenda_order.clone(),
            focus: focus.as_ref().map(FocusView::from),
            timer: timer.as_ref().map(TimerView::from),
            scope_draft: scope_draft.as_ref().map(ScopeDraftView::from),
            goal_suggestions: goal_suggestions
                .iter()
                .map(GoalSuggestionView::from)
                .collect(),
            coin_flips: coin_flips.iter().map(CoinFlipView::from).collect(),
            commitment: commitment.as_ref().map(CommitmentView::from),
            reminders: reminders.clone(),
            reminder_log: reminder_log.iter().map(ReminderView::from).collect(),
            webhooks: webhooks
                .iter()
                .map(|(id, w)| (*id, WebhookView::of(w, whole_urls)))
                .collect(),
            derived: common.derived.clone(),
        }
    }
}

mod events;
#[cfg(test)]
mod samples;

pub use events::EventView;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::card::Card;
    use uuid::Uuid;

    /// The wire form of event data, byte for byte, for kinds that show each kind of field:
    /// hidden hashes, a sealed vote, a deadline, a nested time, a masked URL, a plain event.
    #[test]
    fn event_data_keeps_its_wire_form() {
        let all = samples::all();
        let wire = |kind: &str, viewer: Viewer| {
            let event = all.iter().find(|e| e.kind() == kind).unwrap();
            event_data(event, viewer).to_string()
        };
        let other = Some(ParticipantId(Uuid::from_u128(99)));
        let (fran, ann) = (
            "00000000-0000-0000-0000-000000000002",
            "00000000-0000-0000-0000-000000000003",
        );
        let (item, round) = (
            "00000000-0000-0000-0000-000000000004",
            "00000000-0000-0000-0000-000000000005",
        );
        let deck = r#"{"cards":["0","1","2","3","5","8","13","21"],"kind":"fibonacci"}"#;
        let expected = [
            (
                "PlanningCreated",
                None,
                format!(
                    r#"{{"at":1781596800000000,"at_utc":"2026-06-16T08:00:00Z","creator":"{fran}","creator_name":"Fran","deck":{deck},"planning":"00000000-0000-0000-0000-000000000001","policy":{{"auto_reveal":true,"batch_size":6,"default_deadline_minutes":1440,"divergence":{{"flag_unsure":true,"quorum_percent":50,"spread_steps":2}},"point_table":{{"L":5,"M":3,"S":2,"XL":8,"XS":1}}}},"title":"Sprint 1"}}"#
                ),
            ),
            (
                "ParticipantJoined",
                other,
                format!(
                    r#"{{"at":1781596860000000,"at_utc":"2026-06-16T08:01:00Z","name":"Ann","participant":"{ann}","role":"member"}}"#
                ),
            ),
            (
                "VoteCast",
                other,
                format!(r#"{{"item":"{item}","round":"{round}","voter":"{ann}"}}"#),
            ),
            (
                "VoteCast",
                Some(samples::VOTER),
                format!(
                    r#"{{"card":"13","item":"{item}","nonce":"ab12","round":"{round}","voter":"{ann}"}}"#
                ),
            ),
            (
                "RoundOpened",
                None,
                format!(
                    r#"{{"at":1781597280000000,"at_utc":"2026-06-16T08:08:00Z","by":"{fran}","deadline":1781600400000000,"deadline_utc":"2026-06-16T09:00:00Z","deck":{deck},"items":["{item}"],"live":false,"round":"{round}"}}"#
                ),
            ),
            (
                "ScheduleSet",
                None,
                format!(
                    r#"{{"at":1781596980000000,"at_utc":"2026-06-16T08:03:00Z","by":"{fran}","schedule":{{"auto_phases":true,"candidates_shared_at":1782028800000000,"candidates_shared_at_utc":"2026-06-21T08:00:00Z","estimation_deadline":1782115200000000,"estimation_deadline_utc":"2026-06-22T08:00:00Z","reminder_minutes":60,"sprint_end":1783411200000000,"sprint_end_utc":"2026-07-07T08:00:00Z","sprint_start":1782201600000000,"sprint_start_utc":"2026-06-23T08:00:00Z","sync_minutes":45,"sync_start":1782201600000000,"sync_start_utc":"2026-06-23T08:00:00Z"}}}}"#
                ),
            ),
            (
                "WebhookRegistered",
                None,
                format!(
                    r#"{{"at":1781597340000000,"at_utc":"2026-06-16T08:09:00Z","by":"{fran}","events":["SyncStarted"],"format":"slack","url":"https://hooks.example:8443","webhook":"00000000-0000-0000-0000-000000000008"}}"#
                ),
            ),
            (
                "CommentPosted",
                None,
                format!(
                    r#"{{"addressee":"{ann}","at":1781597220000000,"at_utc":"2026-06-16T08:07:00Z","by":"{fran}","comment":"00000000-0000-0000-0000-000000000006","item":"{item}","kind":"question","parent":"00000000-0000-0000-0000-00000000000b","text":"Which IdP?"}}"#
                ),
            ),
            (
                "GoalDrafted",
                None,
                format!(r#"{{"by":"{fran}","text":"Ship login"}}"#),
            ),
            (
                "SyncStarted",
                None,
                format!(
                    r#"{{"at":1781600700000000,"at_utc":"2026-06-16T09:05:00Z","by":"{fran}"}}"#
                ),
            ),
        ];
        for (kind, viewer, json) in expected {
            assert_eq!(wire(kind, viewer), json, "{kind} seen by {viewer:?}");
        }
    }

    fn distribution(deck: Deck, cards: &[&str]) -> Value {
        let votes: Vec<RevealedVote> = cards
            .iter()
            .enumerate()
            .map(|(i, card)| RevealedVote {
                voter: ParticipantId(Uuid::from_u128(i as u128)),
                card: Card::new(card),
            })
            .collect();
        let table = crate::domain::deck::default_point_table();
        serde_json::to_value(Distribution::of(&deck, &votes, &table)).unwrap()
    }

    #[test]
    fn a_revealed_items_figures_are_the_divergence_rules() {
        use crate::domain::policy::{DivergencePolicy, Verdict};
        let d = distribution(Deck::fibonacci(), &["13", "1", "?", "☕", "13"]);
        assert_eq!(
            d,
            serde_json::json!({
                "votes": 5, "counts": {"1": 1, "13": 2, "?": 1, "☕": 1},
                "low": "1", "high": "13", "median": "13", "spread_steps": 5, "spread_points": 12,
            })
        );
        // A converged item: the median shown is the estimate the rule proposed.
        let cards = ["3", "5", "5", "3"];
        let d = distribution(Deck::fibonacci(), &cards);
        let verdict = DivergencePolicy::default().judge(&Deck::fibonacci(), cards, 4);
        assert_eq!(
            verdict,
            Verdict::Converged {
                proposed: d["median"].as_str().unwrap().into()
            }
        );
        assert_eq!(
            (d["spread_steps"].clone(), d["spread_points"].clone()),
            (1.into(), 2.into())
        );
        // Points from the point table (t-shirt sizes), none for a card without points.
        let d = distribution(Deck::t_shirt(), &["XS", "L"]);
        assert_eq!(d["spread_points"], 4);
        let d = distribution(Deck::custom(vec!["a".into(), "b".into()]), &["a", "b"]);
        assert_eq!(
            (d["spread_steps"].clone(), d["spread_points"].clone()),
            (1.into(), Value::Null)
        );
        // No estimate among the votes: counts only.
        let d = distribution(Deck::fibonacci(), &["?", "☕"]);
        assert_eq!(d["votes"], 2);
        for figure in ["low", "high", "median", "spread_steps", "spread_points"] {
            assert!(d[figure].is_null(), "{figure}: {d}");
        }
    }

    #[test]
    fn the_projection_carries_distributions_focused_days_and_converged_items() {
        let mut state = State::default();
        for e in samples::all() {
            state.apply(&e);
        }
        let v = serde_json::to_value(state_view(&state, None)).unwrap();
        let (round, item) = (
            Uuid::from_u128(5).to_string(),
            Uuid::from_u128(4).to_string(),
        );
        // The samples reveal one 13 on the round.
        let d = &v["rounds"][&round]["distribution"][&item];
        assert_eq!(
            (d["votes"].clone(), d["median"].clone()),
            (1.into(), "13".into())
        );
        let voter = samples::VOTER.to_string();
        assert_eq!(
            v["derived"]["focused_days"],
            serde_json::json!({ voter: 6.8 })
        );

        // Converged: an estimate proposed and not agreed, and no open round voting again.
        let converged = |s: &State| {
            let v = serde_json::to_value(state_view(s, None)).unwrap();
            v["derived"]["converged"].clone()
        };
        let mut s = State::default();
        let all = samples::all();
        let kind = |k: &str| all.iter().find(|e| e.kind() == k).unwrap().clone();
        for k in [
            "PlanningCreated",
            "ItemProposed",
            "RoundOpened",
            "RoundClosed",
        ] {
            s.apply(&kind(k));
        }
        assert_eq!(converged(&s), serde_json::json!([]));
        s.apply(&kind("EstimateProposed"));
        assert_eq!(converged(&s), serde_json::json!([item]));
        let mut agreed = s.clone();
        agreed.apply(&kind("EstimateAgreed"));
        assert_eq!(converged(&agreed), serde_json::json!([]), "agreed");
        s.apply(&kind("RevoteOpened"));
        assert_eq!(converged(&s), serde_json::json!([]), "voted on again");
    }

    /// Every time the projection shows, at any depth, has its twin, and nothing else has one.
    #[test]
    fn every_time_of_the_projection_has_its_utc_twin() {
        let mut state = State::default();
        for e in samples::all() {
            state.apply(&e);
        }
        let mut problems = Vec::new();
        for viewer in [None, Some(samples::VOTER)] {
            let view = serde_json::to_value(state_view(&state, viewer)).unwrap();
            samples::check_times(&view, "state", &mut problems);
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }

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
        let mut state = State::default();
        state.schedule.sync_start = Some(0);
        state.schedule.sync_minutes = Some(45);
        let v = serde_json::to_value(state_view(&state, None)).unwrap();
        assert_eq!(v["schedule"]["sync_start_utc"], "1970-01-01T00:00:00Z");
        assert!(v["schedule"].get("sync_minutes_utc").is_none());
        assert!(v["schedule"]["sprint_start"].is_null());
        assert!(v["schedule"].get("sprint_start_utc").is_none());
        assert_eq!(v["created_at_utc"], "1970-01-01T00:00:00Z");
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
        let vote = Vote {
            card: "13".into(),
            nonce: "ab".into(),
        };
        let json = |seer| serde_json::to_string(&VoteView::of(&vote, voter, seer)).unwrap();
        assert_eq!(json(Seer::Public), r#"{"voted":true}"#);
        assert_eq!(
            json(Seer::Participant(ParticipantId(Uuid::from_u128(8)))),
            r#"{"voted":true}"#
        );
        assert_eq!(
            json(Seer::Participant(voter)),
            r#"{"voted":true,"card":"13"}"#
        );
        assert_eq!(json(Seer::Operator), r#"{"voted":true,"card":"13"}"#);
    }

    /// `State` fields a view never shows: secrets' hashes, and the calendar's SEQUENCE numbers
    /// (they show in the `.ics`). (`comments` shows in part.)
    const NOT_IN_VIEW: &[&str] = &[
        "member_invite_hash",
        "observer_invite_hash",
        "calendar_revisions",
    ];
    /// Fields shown inside the view's `schedule` (as `origins`), not beside it.
    const IN_SCHEDULE: &[&str] = &["schedule_origins"];

    /// Every field of `State` is in the view or in `NOT_IN_VIEW` (the view's builder
    /// destructures `State` whole, so a new field does not compile until classified; this
    /// checks the classification reaches the wire).
    #[test]
    fn the_view_lists_every_field_of_the_state() {
        let all = serde_json::to_value(State::default()).unwrap();
        let view = serde_json::to_value(state_view(&State::default(), None)).unwrap();
        for key in all.as_object().unwrap().keys() {
            let shown = view.get(key).is_some() || IN_SCHEDULE.contains(&key.as_str());
            assert!(
                shown != NOT_IN_VIEW.contains(&key.as_str()),
                "State field {key} is neither in the view nor in NOT_IN_VIEW"
            );
        }
    }

    #[test]
    fn no_hash_reaches_a_view() {
        let p = ParticipantId(Uuid::from_u128(1));
        let mut state = State::default();
        let secret = "f".repeat(64);
        for e in [
            Event::PlanningCreated {
                planning: PlanningId(Uuid::from_u128(9)),
                title: "S".into(),
                creator: p,
                creator_name: "Fran".into(),
                creator_token_hash: secret.clone(),
                deck: Deck::default(),
                policy: Policy::default(),
                member_invite_hash: secret.clone(),
                observer_invite_hash: secret.clone(),
                at: 1,
            },
            Event::InviteRotated {
                role: Role::Member,
                invite_hash: secret.clone(),
                by: p,
            },
            Event::ParticipantLinkReissued {
                participant: p,
                token_hash: secret.clone(),
                revoked_previous: false,
                by: p,
            },
        ] {
            assert!(!event_data(&e, Some(p)).to_string().contains(&secret));
            state.apply(&e);
        }
        let view = serde_json::to_string(&state_view(&state, Some(p))).unwrap();
        assert!(!view.contains(&secret), "{view}");
        assert!(!view.contains("hash"), "{view}");
    }

    #[test]
    fn webhook_urls_show_only_their_origin_in_events() {
        let ev = Event::WebhookRegistered {
            webhook: crate::domain::ids::WebhookId(Uuid::from_u128(1)),
            url: "https://user:pw@hooks.example:8443/services/T0/B0/secret?x=1".into(),
            events: vec!["SyncStarted".into()],
            format: Default::default(),
            by: ParticipantId(Uuid::from_u128(2)),
            at: 1,
        };
        let data = event_data(&ev, None);
        assert_eq!(data["url"], "https://hooks.example:8443");
        assert!(!data.to_string().contains("secret"));
    }
}
