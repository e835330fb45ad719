//! Commands: what participants (and the server's scheduler) ask a planning to do.
//!
//! A command is decided against the current state into events or a [`DomainError`]; it never
//! changes anything itself. The wire form is internally tagged: `{"type": "CastVote", …}`.
//!
//! [`DomainError`]: super::error::DomainError

use super::deck::Deck;
use super::event::{
    CommentKind, ItemDraft, ItemPatch, Micros, NewItem, Phase, Policy, Role, Schedule,
};
use super::fixed::Fixed2;
use super::ids::*;
use super::slots::WorkDay;
use serde::{Deserialize, Serialize};

/// Every command a planning accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum Command {
    // ---- room and people ----
    /// Create the planning; the actor becomes its first facilitator.
    CreatePlanning {
        title: String,
        creator_name: String,
        creator_token_hash: String,
        #[serde(default)]
        deck: Option<Deck>,
        #[serde(default)]
        policy: Option<Policy>,
        member_invite_hash: String,
        observer_invite_hash: String,
    },
    /// Join through an invite (the actor is the new participant's id).
    Join {
        name: String,
        invite_hash: String,
        token_hash: String,
    },
    /// Change my display name.
    Rename { name: String },
    /// Facilitator: change a participant's role.
    ChangeRole {
        participant: ParticipantId,
        role: Role,
    },
    /// Facilitator: remove a participant.
    RemoveParticipant { participant: ParticipantId },
    /// Facilitator: replace the member or observer invite.
    RotateInvite { role: Role, invite_hash: String },
    /// Facilitator: give a participant a new personal link (anyone may rotate their own: a new
    /// link with `revoke_previous`).
    ReissueLink {
        participant: ParticipantId,
        token_hash: String,
        #[serde(default)]
        revoke_previous: bool,
    },
    /// Set my IANA time zone and working hours (the zone must be in the tz database; days
    /// default to Monday–Friday).
    SetTimeZone {
        time_zone: String,
        #[serde(default)]
        work_start_minute: Option<u32>,
        #[serde(default)]
        work_end_minute: Option<u32>,
        #[serde(default)]
        work_days: Option<Vec<WorkDay>>,
    },
    /// Facilitator: move to another phase (`committed` only by committing scope).
    ChangePhase { to: Phase },
    /// Facilitator: set the schedule (absent times default from the sprint start).
    SetSchedule { schedule: Schedule },
    /// The server: move the phase as the schedule says (`async` at candidates shared, `sync`
    /// at the sync session start). Refused when not due or already past that phase.
    FollowSchedule { to: Phase },
    /// Facilitator: set the divergence policy, batch size, default deadline and point table.
    SetPolicy { policy: Policy },

    // ---- goal ----
    /// Facilitator: write the first draft of the goal.
    DraftGoal { text: String },
    /// Facilitator: reword the goal.
    AmendGoal {
        text: String,
        #[serde(default)]
        note: Option<String>,
    },
    /// Facilitator: make the goal final.
    CommitGoal,

    // ---- items ----
    /// Facilitator or member: propose a candidate item.
    ProposeItem { draft: ItemDraft },
    /// Facilitator or the proposer: change an item.
    EditItem { item: ItemId, patch: ItemPatch },
    /// Facilitator or the proposer: withdraw an item.
    WithdrawItem {
        item: ItemId,
        #[serde(default)]
        reason: Option<String>,
    },
    /// Facilitator: import a batch of items at once (all or nothing).
    ImportItems {
        items: Vec<ItemDraft>,
        source: String,
    },
    /// Facilitator: set the backlog order.
    RankItems { order: Vec<ItemId> },
    /// Facilitator: bring items over from the team's previous planning.
    CarryOverItems {
        from_planning: PlanningId,
        items: Vec<NewItem>,
    },

    // ---- review ----
    /// Anyone: comment, ask or answer.
    PostComment {
        #[serde(default)]
        item: Option<ItemId>,
        kind: CommentKind,
        #[serde(default)]
        parent: Option<CommentId>,
        #[serde(default)]
        addressee: Option<ParticipantId>,
        text: String,
    },
    /// The author: change a comment.
    EditComment { comment: CommentId, text: String },
    /// The author or the facilitator: delete a comment (a tombstone remains).
    DeleteComment { comment: CommentId },
    /// The asker, the addressee or the facilitator: mark a question resolved.
    ResolveQuestion { comment: CommentId },
    /// Facilitator or member: check an item against a criterion.
    CheckReadiness {
        item: ItemId,
        criterion: CriterionId,
        ok: bool,
        #[serde(default)]
        note: Option<String>,
    },
    /// Facilitator: set the Definition of Ready.
    SetDefinitionOfReady { criteria: Vec<String> },
    /// Facilitator: let a not-ready item into estimation.
    OverrideReadiness { item: ItemId, reason: String },

    // ---- capacity ----
    /// Facilitator or member: declare availability (for myself, or the facilitator for someone).
    DeclareCapacity {
        #[serde(default)]
        participant: Option<ParticipantId>,
        available_days: Fixed2,
        focus_factor: Fixed2,
        #[serde(default)]
        notes: Option<String>,
    },
    /// Facilitator: points per focused person-day.
    SetVelocity { points_per_day: Fixed2 },

    // ---- estimation ----
    /// Facilitator: open a round of hidden votes over 1..=batch_size items.
    OpenRound {
        items: Vec<ItemId>,
        #[serde(default)]
        deck: Option<Deck>,
        /// Defaults to now + the policy's default deadline.
        #[serde(default)]
        deadline: Option<Micros>,
    },
    /// Member: vote (again, to change it) on an item of an open round.
    CastVote {
        round: RoundId,
        item: ItemId,
        card: String,
    },
    /// Member: take my vote back.
    WithdrawVote { round: RoundId, item: ItemId },
    /// Facilitator (early) or the server (at the deadline): close a round.
    CloseRound { round: RoundId },
    /// Facilitator, live: reveal the sealed votes of a flagged item.
    RevealVotes { round: RoundId, item: ItemId },
    /// Facilitator or member: flag an item for the live session.
    FlagItem {
        item: ItemId,
        #[serde(default)]
        note: Option<String>,
    },
    /// Facilitator: clear an item's flag.
    ClearFlag { item: ItemId },
    /// Facilitator: send an item straight to the live agenda instead of an async round
    /// (typically one that needs live discussion, see `discussion`).
    SendToAgenda {
        item: ItemId,
        #[serde(default)]
        note: Option<String>,
    },
    /// Facilitator: agree estimates, one or many at once (e.g. all converged items).
    AgreeEstimates { estimates: Vec<AgreedEstimate> },
    /// Facilitator, live: vote again on items of a closed round.
    Revote {
        previous: RoundId,
        items: Vec<ItemId>,
        #[serde(default)]
        deadline: Option<Micros>,
    },

    // ---- sync and decisions ----
    /// Facilitator: start the live session; the agenda is the flagged items, `?` first, then the
    /// widest spread, then the rest by rank (see `agenda`).
    StartSync,
    /// Facilitator: set the live agenda.
    SetAgenda { items: Vec<ItemId> },
    /// Facilitator: flip a fair coin between two or more options.
    FlipCoin {
        question: String,
        options: Vec<String>,
    },
    /// Facilitator: end the live session.
    EndSync,
    /// Facilitator: commit scope; over capacity needs `confirm_over_capacity`.
    CommitScope {
        items: Vec<ItemId>,
        #[serde(default)]
        confirm_over_capacity: bool,
    },
    /// Facilitator: have the server POST a JSON body to `url` on the given event kinds
    /// (see [`WEBHOOK_EVENT_KINDS`]; empty means all of them).
    ///
    /// [`WEBHOOK_EVENT_KINDS`]: super::event::WEBHOOK_EVENT_KINDS
    RegisterWebhook {
        url: String,
        #[serde(default)]
        events: Vec<String>,
        /// Set by the server once it has checked that the URL does not point into a private,
        /// loopback or link-local network (that needs DNS, which the pure domain cannot do).
        /// Never read from the wire, so a client cannot skip the check by sending this
        /// command through the generic command paths: only `POST …/webhooks` sets it.
        #[serde(skip_deserializing, default)]
        url_checked: bool,
    },
    /// Facilitator: stop delivering to a webhook.
    RemoveWebhook { webhook: WebhookId },
    /// The server: record a reminder sent to a participant (once per participant and round).
    RecordReminder {
        participant: ParticipantId,
        #[serde(default)]
        round: Option<RoundId>,
    },
    /// The server: remind every member with pending votes in an open round, once each, when
    /// the schedule's reminder lead before its deadline has come.
    RemindVoters { round: RoundId },
}

/// One estimate in [`Command::AgreeEstimates`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreedEstimate {
    pub item: ItemId,
    pub card: String,
}

impl Command {
    /// The idempotency hash: SHA-256 of the command's canonical JSON (see [`canonical::hash`]).
    ///
    /// [`canonical::hash`]: super::canonical::hash
    pub fn hash(&self) -> String {
        super::canonical::hash(self)
    }

    /// The type name, as on the wire.
    pub fn kind(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored hashes are compared when a command is retried: the recipe must never change.
    #[test]
    fn the_hash_is_sha256_of_the_canonical_json_and_stays_put() {
        let wire = r#"{"type":"CastVote","round":"00000000-0000-0000-0000-000000000001",
            "item":"00000000-0000-0000-0000-000000000002","card":"5"}"#;
        let cmd: Command = serde_json::from_str(wire).unwrap();
        assert_eq!(
            super::super::canonical::to_canonical(&cmd).unwrap(),
            r#"{"card":"5","item":"00000000-0000-0000-0000-000000000002","round":"00000000-0000-0000-0000-000000000001","type":"CastVote"}"#
        );
        assert_eq!(
            cmd.hash(),
            "166b7fc71f6c51cd3753b16eeabf28c62e752a2783a31a9769112f36e05ff567"
        );
    }
}
