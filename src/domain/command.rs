//! Commands: what participants (and the server's scheduler) ask a planning to do.
//!
//! A command is decided against the current state into events or a [`DomainError`]; it never
//! changes anything itself. The wire form is internally tagged: `{"type": "CastVote", …}`.
//!
//! [`DomainError`]: super::error::DomainError

use super::deck::Deck;
use super::event::{
    CommentKind, ItemDraft, ItemPatch, Micros, NewItem, Phase, Policy, Role, Schedule,
    WebhookFormat,
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
    CreatePlanning(CreatePlanning),
    /// Join through an invite (the actor is the new participant's id).
    Join(Join),
    /// Change my display name.
    Rename(Rename),
    /// Facilitator: change a participant's role.
    ChangeRole(ChangeRole),
    /// Facilitator: remove a participant.
    RemoveParticipant(RemoveParticipant),
    /// Facilitator: replace the member or observer invite.
    RotateInvite(RotateInvite),
    /// Facilitator: give a participant a new personal link (anyone may rotate their own: a new
    /// link with `revoke_previous`).
    ReissueLink(ReissueLink),
    /// Set my IANA time zone and working hours (the zone must be in the tz database; days
    /// default to Monday–Friday).
    SetTimeZone(SetTimeZone),
    /// Facilitator: move to another phase (`committed` only by committing scope).
    ChangePhase(ChangePhase),
    /// Facilitator: set the schedule (absent times default from the sprint start).
    SetSchedule(SetSchedule),
    /// The server: move the phase as the schedule says (`async` at candidates shared, `sync`
    /// at the sync session start). Refused when not due or already past that phase.
    FollowSchedule(FollowSchedule),
    /// Facilitator: set the divergence policy, batch size, default deadline and point table.
    SetPolicy(SetPolicy),

    // ---- goal ----
    /// Facilitator: write the first draft of the goal.
    DraftGoal(DraftGoal),
    /// Facilitator: reword the goal.
    AmendGoal(AmendGoal),
    /// Facilitator: make the goal final.
    CommitGoal,
    /// Facilitator or member: suggest a wording of the goal, shown to everyone.
    SuggestGoal(SuggestGoal),
    /// Facilitator: adopt a suggested wording (an amendment recorded with its author).
    AdoptGoalSuggestion(AdoptGoalSuggestion),

    // ---- items ----
    /// Facilitator or member: propose a candidate item.
    ProposeItem(ProposeItem),
    /// Facilitator or the proposer: change an item.
    EditItem(EditItem),
    /// Facilitator or the proposer: withdraw an item.
    WithdrawItem(WithdrawItem),
    /// Facilitator or the proposer: bring a withdrawn item back to the backlog.
    RestoreItem(RestoreItem),
    /// Facilitator: import a batch of items at once (all or nothing).
    ImportItems(ImportItems),
    /// Facilitator: set the backlog order.
    RankItems(RankItems),
    /// Facilitator: bring items over from the team's previous planning.
    CarryOverItems(CarryOverItems),

    // ---- review ----
    /// Anyone: comment, ask or answer.
    PostComment(PostComment),
    /// The author: change a comment.
    EditComment(EditComment),
    /// The author or the facilitator: delete a comment (a tombstone remains).
    DeleteComment(DeleteComment),
    /// The asker, the addressee or the facilitator: mark a question resolved.
    ResolveQuestion(ResolveQuestion),
    /// Facilitator or member: check an item against a criterion.
    CheckReadiness(CheckReadiness),
    /// Facilitator: set the Definition of Ready.
    SetDefinitionOfReady(SetDefinitionOfReady),
    /// Facilitator: let a not-ready item into estimation.
    OverrideReadiness(OverrideReadiness),

    // ---- capacity ----
    /// Facilitator or member: declare availability (for myself, or the facilitator for someone).
    DeclareCapacity(DeclareCapacity),
    /// Facilitator: points per focused person-day.
    SetVelocity(SetVelocity),

    // ---- estimation ----
    /// Facilitator: open a round of hidden votes over 1..=batch_size items.
    OpenRound(OpenRound),
    /// Member: vote (again, to change it) on an item of an open round.
    CastVote(CastVote),
    /// Member: take my vote back.
    WithdrawVote(WithdrawVote),
    /// Facilitator (early) or the server (at the deadline): close a round.
    CloseRound(CloseRound),
    /// Facilitator, live: reveal the sealed votes of a flagged item.
    RevealVotes(RevealVotes),
    /// Facilitator or member: flag an item for the live session.
    FlagItem(FlagItem),
    /// Facilitator: clear an item's flag.
    ClearFlag(ClearFlag),
    /// Facilitator: send an item straight to the live agenda instead of an async round
    /// (typically one that needs live discussion, see `discussion`).
    SendToAgenda(SendToAgenda),
    /// Facilitator: agree estimates, one or many at once (e.g. all converged items).
    AgreeEstimates(AgreeEstimates),
    /// Facilitator, live: vote again on items of a closed round.
    Revote(Revote),

    // ---- sync and decisions ----
    /// Facilitator: start the live session; the agenda is the flagged items, `?` first, then the
    /// widest spread, then the rest by rank (see `agenda`).
    StartSync,
    /// Facilitator: set the live agenda.
    SetAgenda(SetAgenda),
    /// Facilitator: flip a fair coin between two or more options.
    FlipCoin(FlipCoin),
    /// Facilitator: end the live session.
    EndSync,
    /// Facilitator: commit scope; over capacity needs `confirm_over_capacity`.
    CommitScope(CommitScope),

    // ---- the live meeting ----
    /// Facilitator, live: move the room's discussion to an item (or to none).
    SetFocus(SetFocus),
    /// Facilitator, live: start a time box of 1 to 3600 seconds on the focused item.
    StartTimer(StartTimer),
    /// Facilitator, live: give the running time box more seconds.
    ExtendTimer(ExtendTimer),
    /// Facilitator, live: stop the running time box.
    StopTimer,
    /// Facilitator: send an item back to refinement (off the live agenda, flag cleared).
    ReturnToRefinement(ReturnToRefinement),
    /// Facilitator: share a draft selection of the items to commit, before `CommitScope`.
    DraftScope(DraftScope),

    /// Facilitator: have the server POST a JSON body to `url` on the given event kinds
    /// (see [`WEBHOOK_EVENT_KINDS`]; empty means all of them).
    ///
    /// [`WEBHOOK_EVENT_KINDS`]: super::event::WEBHOOK_EVENT_KINDS
    RegisterWebhook(RegisterWebhook),
    /// Facilitator: stop delivering to a webhook.
    RemoveWebhook(RemoveWebhook),
    /// The server: record a reminder sent to a participant (once per participant and round).
    RecordReminder(RecordReminder),
    /// The server: remind every member with pending votes in an open round, once each, when
    /// the schedule's reminder lead before its deadline has come.
    RemindVoters(RemindVoters),
}

/// Create the planning; the actor becomes its first facilitator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePlanning {
    pub title: String,
    pub creator_name: String,
    pub creator_token_hash: String,
    #[serde(default)]
    pub deck: Option<Deck>,
    #[serde(default)]
    pub policy: Option<Policy>,
    pub member_invite_hash: String,
    pub observer_invite_hash: String,
}

/// Join through an invite (the actor is the new participant's id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Join {
    pub name: String,
    pub invite_hash: String,
    pub token_hash: String,
}

/// Change my display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    pub name: String,
}

/// Facilitator: change a participant's role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    pub participant: ParticipantId,
    pub role: Role,
}

/// Facilitator: remove a participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveParticipant {
    pub participant: ParticipantId,
}

/// Facilitator: replace the member or observer invite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateInvite {
    pub role: Role,
    pub invite_hash: String,
}

/// Facilitator: give a participant a new personal link (anyone may rotate their own: a new
/// link with `revoke_previous`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReissueLink {
    pub participant: ParticipantId,
    pub token_hash: String,
    #[serde(default)]
    pub revoke_previous: bool,
}

/// Set my IANA time zone and working hours (the zone must be in the tz database; days
/// default to Monday–Friday).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetTimeZone {
    pub time_zone: String,
    #[serde(default)]
    pub work_start_minute: Option<u32>,
    #[serde(default)]
    pub work_end_minute: Option<u32>,
    #[serde(default)]
    pub work_days: Option<Vec<WorkDay>>,
}

/// Facilitator: move to another phase (`committed` only by committing scope).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePhase {
    pub to: Phase,
}

/// Facilitator: set the schedule (absent times default from the sprint start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetSchedule {
    pub schedule: Schedule,
}

/// The server: move the phase as the schedule says (`async` at candidates shared, `sync`
/// at the sync session start). Refused when not due or already past that phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowSchedule {
    pub to: Phase,
}

/// Facilitator: set the divergence policy, batch size, default deadline and point table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPolicy {
    pub policy: Policy,
}

/// Facilitator: write the first draft of the goal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftGoal {
    pub text: String,
}

/// Facilitator: reword the goal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendGoal {
    pub text: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// Facilitator or member: suggest a wording of the goal, shown to everyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuggestGoal {
    pub text: String,
}

/// Facilitator: adopt a suggested wording (an amendment recorded with its author).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdoptGoalSuggestion {
    pub suggestion: SuggestionId,
}

/// Facilitator or member: propose a candidate item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposeItem {
    pub draft: ItemDraft,
}

/// Facilitator or the proposer: change an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditItem {
    pub item: ItemId,
    pub patch: ItemPatch,
}

/// Facilitator or the proposer: withdraw an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawItem {
    pub item: ItemId,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Facilitator or the proposer: bring a withdrawn item back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreItem {
    pub item: ItemId,
}

/// Facilitator: import a batch of items at once (all or nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportItems {
    pub items: Vec<ItemDraft>,
    pub source: String,
}

/// Facilitator: set the backlog order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankItems {
    pub order: Vec<ItemId>,
}

/// Facilitator: bring items over from the team's previous planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarryOverItems {
    pub from_planning: PlanningId,
    pub items: Vec<NewItem>,
}

/// Anyone: comment, ask or answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostComment {
    #[serde(default)]
    pub item: Option<ItemId>,
    pub kind: CommentKind,
    #[serde(default)]
    pub parent: Option<CommentId>,
    #[serde(default)]
    pub addressee: Option<ParticipantId>,
    pub text: String,
}

/// The author: change a comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditComment {
    pub comment: CommentId,
    pub text: String,
}

/// The author or the facilitator: delete a comment (a tombstone remains).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteComment {
    pub comment: CommentId,
}

/// The asker, the addressee or the facilitator: mark a question resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveQuestion {
    pub comment: CommentId,
}

/// Facilitator or member: check an item against a criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckReadiness {
    pub item: ItemId,
    pub criterion: CriterionId,
    pub ok: bool,
    #[serde(default)]
    pub note: Option<String>,
}

/// Facilitator: set the Definition of Ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetDefinitionOfReady {
    pub criteria: Vec<String>,
}

/// Facilitator: let a not-ready item into estimation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideReadiness {
    pub item: ItemId,
    pub reason: String,
}

/// Facilitator or member: declare availability (for myself, or the facilitator for someone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclareCapacity {
    #[serde(default)]
    pub participant: Option<ParticipantId>,
    pub available_days: Fixed2,
    pub focus_factor: Fixed2,
    #[serde(default)]
    pub notes: Option<String>,
}

/// Facilitator: points per focused person-day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetVelocity {
    pub points_per_day: Fixed2,
}

/// Facilitator: open a round of hidden votes over 1..=batch_size items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenRound {
    pub items: Vec<ItemId>,
    #[serde(default)]
    pub deck: Option<Deck>,
    /// Defaults to now + the policy's default deadline.
    #[serde(default)]
    pub deadline: Option<Micros>,
}

/// Member: vote (again, to change it) on an item of an open round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CastVote {
    pub round: RoundId,
    pub item: ItemId,
    pub card: String,
}

/// Member: take my vote back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawVote {
    pub round: RoundId,
    pub item: ItemId,
}

/// Facilitator (early) or the server (at the deadline): close a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseRound {
    pub round: RoundId,
}

/// Facilitator, live: reveal the sealed votes of a flagged item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevealVotes {
    pub round: RoundId,
    pub item: ItemId,
}

/// Facilitator or member: flag an item for the live session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagItem {
    pub item: ItemId,
    #[serde(default)]
    pub note: Option<String>,
}

/// Facilitator: clear an item's flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearFlag {
    pub item: ItemId,
}

/// Facilitator: send an item straight to the live agenda instead of an async round
/// (typically one that needs live discussion, see `discussion`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendToAgenda {
    pub item: ItemId,
    #[serde(default)]
    pub note: Option<String>,
}

/// Facilitator: agree estimates, one or many at once (e.g. all converged items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreeEstimates {
    pub estimates: Vec<AgreedEstimate>,
}

/// Facilitator, live: vote again on items of a closed round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revote {
    pub previous: RoundId,
    pub items: Vec<ItemId>,
    #[serde(default)]
    pub deadline: Option<Micros>,
}

/// Facilitator: set the live agenda.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAgenda {
    pub items: Vec<ItemId>,
}

/// Facilitator: flip a fair coin between two or more options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlipCoin {
    pub question: String,
    pub options: Vec<String>,
}

/// Facilitator: commit scope; over capacity needs `confirm_over_capacity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitScope {
    pub items: Vec<ItemId>,
    #[serde(default)]
    pub confirm_over_capacity: bool,
}

/// Facilitator, live: move the room's discussion to an item (or to none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetFocus {
    pub item: Option<ItemId>,
}

/// Facilitator, live: start a time box of 1 to 3600 seconds on the focused item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartTimer {
    pub item: ItemId,
    pub seconds: u32,
}

/// Facilitator, live: give the running time box more seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendTimer {
    pub seconds: u32,
}

/// Facilitator: send an item back to refinement (off the live agenda, flag cleared).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnToRefinement {
    pub item: ItemId,
    #[serde(default)]
    pub note: Option<String>,
}

/// Facilitator: share a draft selection of the items to commit, before `CommitScope`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftScope {
    pub items: Vec<ItemId>,
}

/// Facilitator: have the server POST a JSON body to `url` on the given event kinds
/// (see [`WEBHOOK_EVENT_KINDS`]; empty means all of them).
///
/// [`WEBHOOK_EVENT_KINDS`]: super::event::WEBHOOK_EVENT_KINDS
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterWebhook {
    pub url: String,
    #[serde(default)]
    pub events: Vec<String>,
    /// The shape of the bodies (default `generic`).
    #[serde(default)]
    pub format: WebhookFormat,
    /// Set by the server once it has checked that the URL does not point into a private,
    /// loopback or link-local network (that needs DNS, which the pure domain cannot do).
    /// Never read from the wire, so a client cannot skip the check by sending this
    /// command through the generic command paths: only `POST …/webhooks` sets it.
    #[serde(skip_deserializing, default)]
    pub url_checked: bool,
}

/// Facilitator: stop delivering to a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveWebhook {
    pub webhook: WebhookId,
}

/// The server: record a reminder sent to a participant (once per participant and round).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordReminder {
    pub participant: ParticipantId,
    #[serde(default)]
    pub round: Option<RoundId>,
}

/// The server: remind every member with pending votes in an open round, once each, when
/// the schedule's reminder lead before its deadline has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemindVoters {
    pub round: RoundId,
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

#[cfg(test)]
mod wire_tests {
    use super::*;
    use serde_json::{json, Value};

    /// Each command is a struct in a newtype variant; the wire form stays the internally tagged
    /// object with the command's fields beside `type`.
    #[test]
    fn commands_keep_their_wire_form() {
        let round = "00000000-0000-0000-0000-000000000001";
        let item = "00000000-0000-0000-0000-000000000002";
        for wire in [
            json!({"type": "CastVote", "round": round, "item": item, "card": "5"}),
            json!({"type": "Rename", "name": "Fran"}),
            json!({"type": "CommitGoal"}),
            json!({"type": "WithdrawItem", "item": item, "reason": null}),
            json!({"type": "CommitScope", "items": [item], "confirm_over_capacity": true}),
        ] {
            let cmd: Command = serde_json::from_value(wire.clone()).unwrap();
            assert_eq!(serde_json::to_value(&cmd).unwrap(), wire);
        }
        let cmd = Command::Rename(Rename {
            name: "Fran".into(),
        });
        assert_eq!(
            serde_json::to_value(&cmd).unwrap(),
            json!({"type": "Rename", "name": "Fran"})
        );
        let unknown_field = json!({"type": "Rename", "name": "Fran", "extra": 1});
        assert!(serde_json::from_value::<Command>(unknown_field).is_err());
        let defaults: Command =
            serde_json::from_value(json!({"type": "WithdrawItem", "item": item})).unwrap();
        assert_eq!(defaults.kind(), "WithdrawItem");
        let _: Value = serde_json::to_value(defaults).unwrap();
    }
}
