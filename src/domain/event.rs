//! Events: the facts of a planning, named in the past tense, each with a schema version.
//!
//! An event is stored as `(kind, version, payload)` where `payload` is canonical JSON of the
//! variant's fields. [`Event::encode`] and [`Event::decode`] are the only way in and out; decode
//! upcasts old versions so the rest of the code sees only the current shape.
//!
//! Events carry every value the projection needs (actors, times, ids) so that [`apply`] needs
//! nothing but the event. Secrets never appear: only SHA-256 hashes of tokens and invites.
//!
//! [`apply`]: super::state::State::apply

use super::card::Card;
use super::deck::Deck;
use super::discussion::DiscussionReason;
use super::fixed::Fixed2;
use super::ids::*;
use super::policy::{DivergencePolicy, FlagReason};
use super::slots::WorkDay;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Microseconds since the Unix epoch (UTC). The domain never reads a clock: times come in.
pub type Micros = i64;

/// A participant's role in one planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Product owner / scrum master: drafts, opens rounds, reveals, commits.
    Facilitator,
    /// Votes, comments, declares capacity.
    Member,
    /// Reads and comments, never votes.
    Observer,
}

/// Phases of a planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Draft,
    Async,
    Sync,
    Committed,
}

/// What a comment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentKind {
    Comment,
    Question,
    Answer,
}

/// Why a round closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Its deadline passed.
    Deadline,
    /// Every member voted on every item.
    AllVoted,
    /// The facilitator closed it early.
    Facilitator,
}

/// The content of a candidate item as proposed or imported.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemDraft {
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub acceptance_criteria: Vec<String>,
    /// Attachments as text or links (designs, documents).
    #[serde(default)]
    pub attachments: Vec<String>,
    #[serde(default)]
    pub dependencies: Vec<ItemId>,
    #[serde(default)]
    pub labels: Vec<String>,
    /// E.g. a Jira key.
    #[serde(default)]
    pub external_key: Option<String>,
}

/// A change to an item; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance_criteria: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<Vec<ItemId>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// An empty string clears the key.
    pub external_key: Option<String>,
}

impl ItemPatch {
    /// The draft with this patch applied (an empty `external_key` clears it).
    pub fn apply_to(&self, d: &mut ItemDraft) {
        if let Some(v) = &self.title {
            d.title = v.clone();
        }
        if let Some(v) = &self.description {
            d.description = v.clone();
        }
        if let Some(v) = &self.acceptance_criteria {
            d.acceptance_criteria = v.clone();
        }
        if let Some(v) = &self.attachments {
            d.attachments = v.clone();
        }
        if let Some(v) = &self.dependencies {
            d.dependencies = v.clone();
        }
        if let Some(v) = &self.labels {
            d.labels = v.clone();
        }
        if let Some(v) = &self.external_key {
            d.external_key = (!v.is_empty()).then(|| v.clone());
        }
    }
}

/// One new item with its id, as in `ItemsImported` and `ItemsCarriedOver`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewItem {
    pub item: ItemId,
    pub draft: ItemDraft,
}

/// A Definition of Ready criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    pub id: CriterionId,
    pub text: String,
}

/// A revealed vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealedVote {
    pub voter: ParticipantId,
    /// Inline: a planning keeps every revealed vote of its history (see `card`).
    pub card: Card,
}

/// Per-planning settings beyond the deck.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub divergence: DivergencePolicy,
    /// Most items in one round (1 to 8).
    pub batch_size: u32,
    /// Default round length in minutes when a round is opened without a deadline.
    pub default_deadline_minutes: u32,
    /// Points per card for decks whose cards are not numbers (t-shirt), or to override.
    pub point_table: BTreeMap<String, Fixed2>,
    /// A live round closes, and so reveals, as the last member votes (on by default; added in
    /// `PlanningCreated` and `PolicySet` v2). Off, the facilitator reveals it (`CloseRound`).
    /// Async rounds always close once everyone voted.
    #[serde(default = "auto_reveal_default")]
    pub auto_reveal: bool,
}

fn auto_reveal_default() -> bool {
    true
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            divergence: DivergencePolicy::default(),
            batch_size: 6,
            default_deadline_minutes: 24 * 60,
            point_table: super::deck::default_point_table(),
            auto_reveal: auto_reveal_default(),
        }
    }
}

/// The schedule of a planning (times in UTC microseconds).
///
/// In `SetSchedule` absent times default from the sprint start (candidates shared 2 days
/// before, estimation deadline 1 day before, sync session at the start), the session length
/// to 45 minutes and the reminder lead to 60 minutes; `ScheduleSet` (v2) records the
/// resolved schedule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub sprint_start: Option<Micros>,
    pub sprint_end: Option<Micros>,
    pub candidates_shared_at: Option<Micros>,
    pub estimation_deadline: Option<Micros>,
    pub sync_start: Option<Micros>,
    pub sync_minutes: Option<u32>,
    /// The server moves the phase by the schedule: `draft → async` at `candidates_shared_at`,
    /// on to `sync` at `sync_start` (added in `ScheduleSet` v2).
    #[serde(default)]
    pub auto_phases: bool,
    /// Members with pending votes get one reminder this many minutes before a round's
    /// deadline; 0 turns reminders off (added in `ScheduleSet` v2).
    #[serde(default)]
    pub reminder_minutes: Option<u32>,
}

/// Every fact a planning can record. Serialised adjacently tagged: `{"type": …, "data": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    // ---- room and people ----
    /// The planning exists; its creator is the first facilitator.
    PlanningCreated {
        planning: PlanningId,
        title: String,
        creator: ParticipantId,
        creator_name: String,
        /// SHA-256 of the creator's personal token.
        creator_token_hash: String,
        deck: Deck,
        policy: Policy,
        /// SHA-256 of the member and observer invite secrets.
        member_invite_hash: String,
        observer_invite_hash: String,
        at: Micros,
    },
    /// Someone joined through an invite; the invite decided the role.
    ParticipantJoined {
        participant: ParticipantId,
        name: String,
        role: Role,
        token_hash: String,
        at: Micros,
    },
    /// A participant changed their display name.
    ParticipantRenamed {
        participant: ParticipantId,
        name: String,
    },
    /// The facilitator changed someone's role.
    RoleChanged {
        participant: ParticipantId,
        role: Role,
        by: ParticipantId,
    },
    /// The facilitator removed a participant; all their tokens stop working.
    ParticipantRemoved {
        participant: ParticipantId,
        by: ParticipantId,
    },
    /// An invite link was replaced; the old one stops working.
    InviteRotated {
        role: Role,
        invite_hash: String,
        by: ParticipantId,
    },
    /// A participant got a new personal link (lost token or second device).
    ParticipantLinkReissued {
        participant: ParticipantId,
        token_hash: String,
        /// Whether the participant's earlier tokens stopped working.
        revoked_previous: bool,
        by: ParticipantId,
    },
    /// A participant set their IANA time zone and working hours (v2 added `work_days`).
    TimeZoneSet {
        participant: ParticipantId,
        time_zone: String,
        /// Working hours as minutes after local midnight, e.g. 540..1050 for 09:00–17:30.
        work_start_minute: Option<u32>,
        work_end_minute: Option<u32>,
        /// The days a working day starts on, Monday first.
        work_days: Vec<WorkDay>,
    },
    /// The phase moved.
    PhaseChanged {
        from: Phase,
        to: Phase,
        by: ParticipantId,
        at: Micros,
    },
    /// The schedule was set, resolved (v2 added `auto_phases` and `reminder_minutes`; v3 who
    /// set it and when, absent from older events).
    ScheduleSet {
        schedule: Schedule,
        #[serde(default)]
        by: Option<ParticipantId>,
        #[serde(default)]
        at: Option<Micros>,
    },
    /// Divergence policy, batch size, default deadline, point table or auto-reveal changed
    /// (v2 added `auto_reveal`).
    PolicySet { policy: Policy },

    // ---- goal ----
    /// The first draft of the sprint goal.
    GoalDrafted { text: String, by: ParticipantId },
    /// The goal was reworded; `suggestion` names the adopted wording when it was someone's
    /// suggestion (v2 added `suggestion`).
    GoalAmended {
        text: String,
        note: Option<String>,
        suggestion: Option<SuggestionId>,
        by: ParticipantId,
    },
    /// A member or the facilitator suggested a wording of the goal.
    GoalSuggested {
        suggestion: SuggestionId,
        text: String,
        by: ParticipantId,
        at: Micros,
    },
    /// The goal is final.
    GoalCommitted {
        text: String,
        by: ParticipantId,
        at: Micros,
    },

    // ---- items ----
    /// A candidate item was proposed.
    ItemProposed {
        item: ItemId,
        draft: ItemDraft,
        by: ParticipantId,
        at: Micros,
    },
    /// An item's content changed.
    ItemEdited {
        item: ItemId,
        patch: ItemPatch,
        by: ParticipantId,
    },
    /// An item was withdrawn from this planning.
    ItemWithdrawn {
        item: ItemId,
        reason: Option<String>,
        by: ParticipantId,
    },
    /// A withdrawn item was brought back.
    ItemRestored { item: ItemId, by: ParticipantId },
    /// A batch of items was imported (CSV, Jira…) as one fact.
    ItemsImported {
        items: Vec<NewItem>,
        source: String,
        by: ParticipantId,
        at: Micros,
    },
    /// The product owner set the backlog order (listed items first, in this order).
    ItemsRanked {
        order: Vec<ItemId>,
        by: ParticipantId,
    },
    /// Items came over from the team's previous planning.
    ItemsCarriedOver {
        from_planning: PlanningId,
        items: Vec<NewItem>,
        by: ParticipantId,
        at: Micros,
    },

    // ---- review ----
    /// A comment, question or answer (v2 added `kind`, `parent` and `addressee`).
    CommentPosted {
        comment: CommentId,
        item: Option<ItemId>,
        kind: CommentKind,
        parent: Option<CommentId>,
        addressee: Option<ParticipantId>,
        text: String,
        by: ParticipantId,
        at: Micros,
    },
    /// The author changed their comment.
    CommentEdited {
        comment: CommentId,
        text: String,
        by: ParticipantId,
    },
    /// A comment was deleted; it stays as a tombstone.
    CommentDeleted {
        comment: CommentId,
        by: ParticipantId,
    },
    /// A question was marked resolved.
    QuestionResolved {
        comment: CommentId,
        by: ParticipantId,
    },
    /// Someone checked an item against a Definition of Ready criterion.
    ReadinessChecked {
        item: ItemId,
        criterion: CriterionId,
        ok: bool,
        note: Option<String>,
        by: ParticipantId,
    },
    /// The facilitator set the team's Definition of Ready.
    DefinitionOfReadySet {
        criteria: Vec<Criterion>,
        by: ParticipantId,
    },
    /// The facilitator let a not-ready item into estimation anyway.
    ReadinessOverridden {
        item: ItemId,
        reason: String,
        by: ParticipantId,
    },

    // ---- capacity ----
    /// A participant declared their availability for the sprint.
    CapacityDeclared {
        participant: ParticipantId,
        available_days: Fixed2,
        focus_factor: Fixed2,
        notes: Option<String>,
        by: ParticipantId,
    },
    /// Points per focused person-day.
    VelocitySet {
        points_per_day: Fixed2,
        by: ParticipantId,
    },

    // ---- estimation ----
    /// A round of hidden votes opened over a batch of items.
    RoundOpened {
        round: RoundId,
        items: Vec<ItemId>,
        deck: Deck,
        deadline: Micros,
        /// Opened during the live session: everything is revealed when it closes.
        live: bool,
        by: ParticipantId,
        at: Micros,
    },
    /// A hidden vote (or a changed one). Only its author may see `card` and `nonce` before the
    /// votes are revealed; the nonce keeps a digest over the event from giving the card away.
    VoteCast {
        round: RoundId,
        item: ItemId,
        voter: ParticipantId,
        card: String,
        nonce: String,
    },
    /// A member took their vote back.
    VoteWithdrawn {
        round: RoundId,
        item: ItemId,
        voter: ParticipantId,
    },
    /// A round closed; what happens to each item follows as reveals, proposals and flags.
    RoundClosed {
        round: RoundId,
        reason: CloseReason,
        at: Micros,
    },
    /// The votes on one item of a round, now visible to everyone. `by` is the facilitator
    /// for a reveal in the live session, [`ParticipantId::SYSTEM`] for the rule's reveal as the
    /// round closed.
    VotesRevealed {
        round: RoundId,
        item: ItemId,
        votes: Vec<RevealedVote>,
        by: ParticipantId,
    },
    /// An item needs the live session.
    ItemFlagged {
        item: ItemId,
        reason: FlagReason,
        round: Option<RoundId>,
        note: Option<String>,
        by: ParticipantId,
    },
    /// The facilitator cleared an item's flag.
    FlagCleared { item: ItemId, by: ParticipantId },
    /// The facilitator sent an item to the live agenda without an async round; `reasons` are
    /// why it needed live discussion at that moment (see `discussion`), possibly none.
    ItemSentToAgenda {
        item: ItemId,
        reasons: Vec<DiscussionReason>,
        note: Option<String>,
        by: ParticipantId,
    },
    /// A converged round proposes an estimate.
    EstimateProposed {
        item: ItemId,
        round: RoundId,
        card: String,
    },
    /// The estimate is agreed.
    EstimateAgreed {
        item: ItemId,
        card: String,
        points: Option<Fixed2>,
        by: ParticipantId,
    },
    /// A new live round on items that need another vote.
    RevoteOpened {
        round: RoundId,
        items: Vec<ItemId>,
        previous: RoundId,
        deck: Deck,
        deadline: Micros,
        by: ParticipantId,
        at: Micros,
    },

    // ---- sync and decisions ----
    /// The live session started.
    SyncStarted { by: ParticipantId, at: Micros },
    /// The live agenda, in order.
    AgendaSet {
        items: Vec<ItemId>,
        by: ParticipantId,
    },
    /// A fair coin flip (server CSPRNG) between two or more options.
    CoinFlipped {
        question: String,
        options: Vec<String>,
        outcome: u32,
        by: ParticipantId,
        at: Micros,
    },
    /// The live session ended (the focus and the time box end with it).
    SyncEnded { by: ParticipantId, at: Micros },
    /// The facilitator moved the room's discussion to an item (`None`: to no item).
    FocusSet {
        item: Option<ItemId>,
        by: ParticipantId,
        at: Micros,
    },
    /// A time box of `seconds` started on the focused item; it ends at `ends_at`.
    TimerStarted {
        item: ItemId,
        seconds: u32,
        ends_at: Micros,
        by: ParticipantId,
        at: Micros,
    },
    /// The running time box got `seconds` more; it now ends at `ends_at`.
    TimerExtended {
        item: ItemId,
        seconds: u32,
        ends_at: Micros,
        by: ParticipantId,
        at: Micros,
    },
    /// The facilitator stopped the time box.
    TimerStopped {
        item: ItemId,
        by: ParticipantId,
        at: Micros,
    },
    /// An item went back to refinement: off the live agenda, its flag cleared, to be refined
    /// before it is estimated.
    ItemReturnedToRefinement {
        item: ItemId,
        note: Option<String>,
        by: ParticipantId,
        at: Micros,
    },
    /// The facilitator's draft selection for the commitment, shared with the room.
    ScopeDrafted {
        items: Vec<ItemId>,
        by: ParticipantId,
        at: Micros,
    },
    /// The scope is committed against capacity.
    ScopeCommitted {
        items: Vec<ItemId>,
        points: Fixed2,
        capacity: Fixed2,
        over_capacity_confirmed: bool,
        by: ParticipantId,
        at: Micros,
    },
    /// A reminder went out to a participant.
    ReminderSent {
        participant: ParticipantId,
        round: Option<RoundId>,
        at: Micros,
    },

    // ---- integrations ----
    /// An outbound webhook was registered. Its HMAC secret is not here: the log is shown to
    /// every participant and kept forever, so the secret lives in the server's
    /// `webhook_secrets` table instead (see `engine::webhook`).
    WebhookRegistered {
        webhook: WebhookId,
        url: String,
        /// Event kinds it receives (a subset of [`WEBHOOK_EVENT_KINDS`], never empty).
        events: Vec<String>,
        /// The shape of its bodies (added in v2; v1 webhooks are `generic`).
        format: WebhookFormat,
        by: ParticipantId,
        at: Micros,
    },
    /// A webhook was removed; nothing more is delivered to it.
    WebhookRemoved {
        webhook: WebhookId,
        by: ParticipantId,
    },
}

/// The shape of a webhook's bodies: sprintlog's own JSON, or a chat service's incoming-webhook
/// message (the facilitator picks the one the receiving URL understands).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{delivery, planning, event, text, links}`, for receivers of one's own.
    #[default]
    Generic,
    /// A Slack incoming webhook's message: `text` and Block Kit `blocks`.
    Slack,
    /// A Microsoft Teams Workflows webhook's message carrying an Adaptive Card.
    Teams,
    /// A Mattermost incoming webhook's message: `text` and `attachments`.
    Mattermost,
}

/// The event kinds a webhook can subscribe to.
pub const WEBHOOK_EVENT_KINDS: &[&str] = &[
    "RoundClosed",
    "ItemFlagged",
    "SyncStarted",
    "ScopeCommitted",
    "ReminderSent",
];

/// Decoding a stored event failed: the log holds something this build cannot read.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("unknown event type {0:?}")]
    UnknownKind(String),
    #[error("unsupported version {version} of {kind}")]
    UnsupportedVersion { kind: String, version: i32 },
    #[error("malformed {kind} payload: {source}")]
    Malformed {
        kind: String,
        source: serde_json::Error,
    },
}

/// The one list of event kinds with their current schema versions: [`EVENT_KINDS`],
/// [`Event::kind`] and [`Event::current_version`] all derive from it. `kind` is an exhaustive
/// match, so a variant missing here (or a name here that is no variant) does not compile.
macro_rules! event_kinds {
    ($($kind:ident = $version:literal,)*) => {
        /// Every event type name, for coverage checks and docs.
        pub const EVENT_KINDS: &[&str] = &[$(stringify!($kind)),*];

        impl Event {
            /// The type name, as stored (the name serde tags the variant with, mapped statically
            /// so nobody serialises just to learn it).
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Event::$kind { .. } => stringify!($kind),)*
                }
            }

            /// The current schema version of an event type.
            pub fn current_version(kind: &str) -> i32 {
                match kind {
                    $(stringify!($kind) => $version,)*
                    _ => 1,
                }
            }
        }
    };
}

event_kinds! {
    PlanningCreated = 2,
    ParticipantJoined = 1,
    ParticipantRenamed = 1,
    RoleChanged = 1,
    ParticipantRemoved = 1,
    InviteRotated = 1,
    ParticipantLinkReissued = 1,
    TimeZoneSet = 2,
    PhaseChanged = 1,
    ScheduleSet = 3,
    PolicySet = 2,
    GoalDrafted = 1,
    GoalAmended = 2,
    GoalSuggested = 1,
    GoalCommitted = 1,
    ItemProposed = 1,
    ItemEdited = 1,
    ItemWithdrawn = 1,
    ItemRestored = 1,
    ItemsImported = 1,
    ItemsRanked = 1,
    ItemsCarriedOver = 1,
    CommentPosted = 2,
    CommentEdited = 1,
    CommentDeleted = 1,
    QuestionResolved = 1,
    ReadinessChecked = 1,
    DefinitionOfReadySet = 1,
    ReadinessOverridden = 1,
    CapacityDeclared = 1,
    VelocitySet = 1,
    RoundOpened = 1,
    VoteCast = 1,
    VoteWithdrawn = 1,
    RoundClosed = 1,
    VotesRevealed = 1,
    ItemFlagged = 1,
    FlagCleared = 1,
    ItemSentToAgenda = 1,
    EstimateProposed = 1,
    EstimateAgreed = 1,
    RevoteOpened = 1,
    SyncStarted = 1,
    AgendaSet = 1,
    CoinFlipped = 1,
    SyncEnded = 1,
    FocusSet = 1,
    TimerStarted = 1,
    TimerExtended = 1,
    TimerStopped = 1,
    ItemReturnedToRefinement = 1,
    ScopeDrafted = 1,
    ScopeCommitted = 1,
    ReminderSent = 1,
    WebhookRegistered = 2,
    WebhookRemoved = 1,
}

impl Event {
    /// Encodes as `(kind, version, canonical JSON payload)`.
    pub fn encode(&self) -> (&'static str, i32, String) {
        let kind = self.kind();
        // A Value's objects are BTreeMaps (no `preserve_order`), so this is canonical text.
        let payload = self.data().to_string();
        (kind, Self::current_version(kind), payload)
    }

    /// The event's data (its payload, as [`Event::encode`] stores it) as a JSON value.
    pub fn data(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut m)) => m.remove("data").unwrap_or_default(),
            _ => serde_json::Value::Null,
        }
    }

    /// Decodes a stored event, upcasting older versions to the current shape.
    pub fn decode(kind: &str, version: i32, payload: &str) -> Result<Event, CodecError> {
        if !EVENT_KINDS.contains(&kind) {
            return Err(CodecError::UnknownKind(kind.to_string()));
        }
        let current = Self::current_version(kind);
        if version < 1 || version > current {
            return Err(CodecError::UnsupportedVersion {
                kind: kind.to_string(),
                version,
            });
        }
        let malformed = |source| CodecError::Malformed {
            kind: kind.to_string(),
            source,
        };
        let mut data: serde_json::Value = serde_json::from_str(payload).map_err(malformed)?;
        upcast(kind, version, &mut data);
        let tagged = serde_json::json!({ "type": kind, "data": data });
        serde_json::from_value(tagged).map_err(malformed)
    }
}

/// Brings an old payload up to the current version, one version step at a time.
fn upcast(kind: &str, mut version: i32, data: &mut serde_json::Value) {
    while version < Event::current_version(kind) {
        match (kind, version, data.as_object_mut()) {
            ("CommentPosted", 1, Some(obj)) => {
                // v1 had only plain comments: no kind, no thread, no addressee.
                obj.insert("kind".into(), "comment".into());
                obj.entry("parent").or_insert(serde_json::Value::Null);
                obj.entry("addressee").or_insert(serde_json::Value::Null);
            }
            ("TimeZoneSet", 1, Some(obj)) => {
                // v1 had no working days: it meant Monday to Friday.
                obj.insert("work_days".into(), serde_json::json!(WorkDay::WEEKDAYS));
            }
            ("PlanningCreated" | "PolicySet", 1, Some(obj)) => {
                // v1 policies had no auto-reveal: a live round closed as the last member voted.
                if let Some(policy) = obj.get_mut("policy").and_then(|v| v.as_object_mut()) {
                    policy.insert("auto_reveal".into(), true.into());
                }
            }
            ("GoalAmended", 1, Some(obj)) => {
                // v1 amendments were the facilitator's own wording.
                obj.insert("suggestion".into(), serde_json::Value::Null);
            }
            ("WebhookRegistered", 1, Some(obj)) => {
                // v1 webhooks were all sent sprintlog's own JSON.
                obj.insert("format".into(), "generic".into());
            }
            ("ScheduleSet", 1, Some(obj)) => {
                // v1 schedules were advisory only: no automatic phases, no reminders.
                if let Some(sched) = obj.get_mut("schedule").and_then(|v| v.as_object_mut()) {
                    sched.insert("auto_phases".into(), false.into());
                    sched.insert("reminder_minutes".into(), 0.into());
                }
            }
            ("ScheduleSet", 2, Some(obj)) => {
                // v2 did not say who set the schedule: its times have no known author.
                obj.entry("by").or_insert(serde_json::Value::Null);
                obj.entry("at").or_insert(serde_json::Value::Null);
            }
            _ => {}
        }
        version += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_posted_v1_is_upcast_to_v2() {
        let v1 = r#"{"at":5,"by":"00000000-0000-0000-0000-000000000001","comment":"00000000-0000-0000-0000-000000000002","item":null,"text":"hello"}"#;
        let ev = Event::decode("CommentPosted", 1, v1).unwrap();
        match &ev {
            Event::CommentPosted {
                kind,
                parent,
                addressee,
                text,
                ..
            } => {
                assert_eq!(*kind, CommentKind::Comment);
                assert_eq!(*parent, None);
                assert_eq!(*addressee, None);
                assert_eq!(text, "hello");
            }
            other => panic!("decoded to {other:?}"),
        }
        let (kind, version, payload) = ev.encode();
        assert_eq!((kind, version), ("CommentPosted", 2));
        assert_eq!(Event::decode(kind, version, &payload).unwrap(), ev);
    }

    #[test]
    fn time_zone_set_and_schedule_set_v1_are_upcast_to_v2() {
        let v1 = r#"{"participant":"00000000-0000-0000-0000-000000000001","time_zone":"Europe/Berlin","work_start_minute":540,"work_end_minute":1050}"#;
        let ev = Event::decode("TimeZoneSet", 1, v1).unwrap();
        assert!(matches!(
            &ev,
            Event::TimeZoneSet { work_days, .. } if *work_days == WorkDay::WEEKDAYS.to_vec()
        ));
        assert_eq!(ev.encode().1, 2);
        let v1 = r#"{"schedule":{"sprint_start":5,"sprint_end":null,"candidates_shared_at":null,"estimation_deadline":null,"sync_start":null,"sync_minutes":45}}"#;
        let ev = Event::decode("ScheduleSet", 1, v1).unwrap();
        let Event::ScheduleSet { schedule, by, at } = &ev else {
            panic!("{ev:?}")
        };
        assert_eq!((by, at), (&None, &None));
        assert!(!schedule.auto_phases);
        assert_eq!(schedule.reminder_minutes, Some(0));
        assert_eq!(schedule.sprint_start, Some(5));
        let (kind, version, payload) = ev.encode();
        assert_eq!(Event::decode(kind, version, &payload).unwrap(), ev);
    }

    /// Stored before events said who set the schedule: the same schedule, no author; and a
    /// current one round-trips with its author.
    #[test]
    fn schedule_set_v2_is_upcast_to_v3_without_an_author() {
        let v2 = r#"{"schedule":{"auto_phases":true,"candidates_shared_at":3,"estimation_deadline":4,"reminder_minutes":60,"sprint_end":9,"sprint_start":5,"sync_minutes":45,"sync_start":5}}"#;
        let ev = Event::decode("ScheduleSet", 2, v2).unwrap();
        let Event::ScheduleSet { schedule, by, at } = &ev else {
            panic!("{ev:?}")
        };
        assert_eq!((by, at), (&None, &None));
        assert_eq!(
            (schedule.sync_start, schedule.sprint_end),
            (Some(5), Some(9))
        );
        assert!(schedule.auto_phases);
        let (kind, version, payload) = ev.encode();
        assert_eq!((kind, version), ("ScheduleSet", 3));
        assert_eq!(Event::decode(kind, version, &payload).unwrap(), ev);

        let by = ParticipantId(uuid::Uuid::from_u128(7));
        let ev = Event::ScheduleSet {
            schedule: schedule.clone(),
            by: Some(by),
            at: Some(11),
        };
        let (_, version, payload) = ev.encode();
        assert!(payload.contains(r#""at":11,"by":"00000000-0000-0000-0000-000000000007""#));
        assert_eq!(Event::decode("ScheduleSet", version, &payload).unwrap(), ev);
    }

    /// Stored before auto-reveal and goal suggestions: a live round closed as the last member
    /// voted, and every amendment was the facilitator's own wording.
    #[test]
    fn policy_and_goal_amended_v1_are_upcast_to_v2() {
        let policy = r#"{"batch_size":6,"default_deadline_minutes":1440,"divergence":{"flag_unsure":true,"quorum_percent":50,"spread_steps":2},"point_table":{"M":3.0}}"#;
        let ev = Event::decode("PolicySet", 1, &format!(r#"{{"policy":{policy}}}"#)).unwrap();
        let Event::PolicySet { policy: p } = &ev else {
            panic!("{ev:?}")
        };
        assert!(p.auto_reveal);
        assert_eq!(p.batch_size, 6);
        let (kind, version, payload) = ev.encode();
        assert_eq!((kind, version), ("PolicySet", 2));
        assert_eq!(Event::decode(kind, version, &payload).unwrap(), ev);

        let created = format!(
            r#"{{"at":1,"creator":"00000000-0000-0000-0000-000000000001","creator_name":"Fran","creator_token_hash":"{h}","deck":{{"kind":"fibonacci","cards":["1","2"]}},"member_invite_hash":"{h}","observer_invite_hash":"{h}","planning":"00000000-0000-0000-0000-000000000002","policy":{policy},"title":"S"}}"#,
            h = "a".repeat(64)
        );
        let ev = Event::decode("PlanningCreated", 1, &created).unwrap();
        assert!(matches!(&ev, Event::PlanningCreated { policy, .. } if policy.auto_reveal));
        assert_eq!(ev.encode().1, 2);

        let v1 = r#"{"by":"00000000-0000-0000-0000-000000000001","note":null,"text":"Ship"}"#;
        let ev = Event::decode("GoalAmended", 1, v1).unwrap();
        assert!(matches!(&ev, Event::GoalAmended { suggestion: None, text, .. } if text == "Ship"));
        let (kind, version, payload) = ev.encode();
        assert_eq!(version, 2);
        assert_eq!(Event::decode(kind, version, &payload).unwrap(), ev);
    }

    #[test]
    fn unknown_kinds_and_versions_are_errors() {
        assert!(matches!(
            Event::decode("Nope", 1, "{}"),
            Err(CodecError::UnknownKind(_))
        ));
        assert!(matches!(
            Event::decode("SyncEnded", 7, "{}"),
            Err(CodecError::UnsupportedVersion { .. })
        ));
        assert!(matches!(
            Event::decode("SyncEnded", 1, "{"),
            Err(CodecError::Malformed { .. })
        ));
    }

    #[test]
    fn encoding_is_canonical() {
        let ev = Event::SyncStarted {
            by: ParticipantId::SYSTEM,
            at: 42,
        };
        let (_, _, payload) = ev.encode();
        assert_eq!(
            payload,
            r#"{"at":42,"by":"00000000-0000-0000-0000-000000000000"}"#
        );
    }
}
