//! Team routes: teams with a roster, plannings created for a team (carry-over, derived
//! velocity), and "my plannings" for the tokens a browser holds.
//!
//! A team has no room: its stream is small and written rarely (create, roster, one link per
//! planning), so a handler reads it into a writer (the same write path as a planning's room,
//! which on a lost race reads on and decides again). Commands on plannings go through their
//! rooms.

use crate::domain::command::Command;
use crate::domain::command::{CarryOverItems, SetVelocity};
use crate::domain::event::{NewItem, Phase, Role};
use crate::domain::fixed::Fixed2;
use crate::domain::ids::{ItemId, ParticipantId, PlanningId, TeamId};
use crate::domain::team::{RosterEntry, RosterRole, TeamCommand, TeamState};
use crate::domain::State;
use crate::engine::app::AppState;
use crate::engine::auth::{constant_time_eq, hash_secret};
use crate::engine::commands;
use crate::engine::room::RoomError;
use crate::engine::writer::{Pending, Writer};
use crate::http::api::{open_planning, CreateBody, NewPlanning};
use crate::http::caller::{Anonymous, IdempotencyKey, Token};
use crate::http::error::ApiPath;
use crate::http::error::{count_refusal, ApiError, ApiJson};
use axum::extract::State as AxState;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// The team routes, and "my plannings".
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/teams", post(create_team))
        .route("/api/teams/{id}", get(read_team))
        .route("/api/teams/{id}/roster", put(set_roster))
        .route("/api/teams/{id}/plannings", post(create_team_planning))
        .route("/api/my-plannings", post(my_plannings))
}

/// Most tokens one "my plannings" request may carry.
pub const MAX_MY_PLANNINGS: usize = 50;
/// How many of the team's most recent committed plannings the derived velocity looks at.
pub const VELOCITY_WINDOW: usize = 3;

fn team_id(raw: &str) -> Result<TeamId, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound("team"))
}

/// Reads a team's stream into its writer; a stream that is not a team (a planning id) is
/// "not found".
async fn load_team(app: &AppState, id: TeamId) -> Result<Writer<TeamState>, ApiError> {
    let writer = Writer::<TeamState>::load(app.registry.deps().clone(), id.0)
        .await
        .map_err(|e| match e {
            RoomError::Codec(_) => ApiError::NotFound("team"),
            e => e.into(),
        })?;
    if writer.state().team.is_none() && writer.head() > 0 {
        return Err(ApiError::NotFound("team"));
    }
    Ok(writer)
}

/// Runs a team command through the team's writer (read afresh: a team's stream is short and
/// written rarely, so it has no room in memory).
/// With an `Idempotency-Key` (`key`) the command is recorded under it, so a retry applies once.
async fn run_team(
    app: &AppState,
    id: TeamId,
    cmd: TeamCommand,
    key: Option<&str>,
) -> Result<TeamState, ApiError> {
    let mut writer = load_team(app, id).await?;
    let op = match key {
        Some(key) => format!("key:{key}"),
        None => format!("team:{}", Uuid::new_v4()),
    };
    let pending = Pending::new(ParticipantId::SYSTEM, op, None, cmd);
    // Own task, like every append: a vanished client cannot cut it short.
    tokio::spawn(async move {
        let answer = writer.commit(std::slice::from_ref(&pending), &()).await;
        answer
            .into_iter()
            .next()
            .unwrap_or(Err(RoomError::Closed))
            .map(|_| writer.into_state())
    })
    .await
    .map_err(|_| ApiError::Room(RoomError::Closed))?
    .map_err(ApiError::from)
}

/// Loads the team and checks the admin token.
async fn admin(app: &AppState, id: &str, token: Token) -> Result<TeamState, ApiError> {
    let id = team_id(id)?;
    let token = token.0.ok_or(ApiError::Unauthorized)?;
    let state = load_team(app, id).await?.into_state();
    if state.team.is_none() {
        return Err(ApiError::NotFound("team"));
    }
    if !constant_time_eq(&hash_secret(&token), &state.admin_token_hash) {
        return Err(ApiError::Unauthorized);
    }
    Ok(state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTeamBody {
    pub name: String,
    #[serde(default)]
    pub roster: Vec<RosterEntry>,
    /// The admin token, drawn by the client (64 lowercase hex characters): with an
    /// `Idempotency-Key`, a creation sent again applies once and answers the same team.
    #[serde(default)]
    pub token: Option<String>,
}

/// `POST /api/teams`
#[utoipa::path(
    post,
    path = "/api/teams",
    tag = "teams",
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn create_team(
    AxState(app): AxState<AppState>,
    who: Anonymous,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<CreateTeamBody>,
) -> Result<Json<Value>, ApiError> {
    commands::admit(&app, &who.0)?;
    let admin_token = crate::http::api::client_token(body.token.as_deref(), key.as_deref())?;
    // With a key the team follows from the token and the key: a retry names the same team.
    let id = match &key {
        Some(key) => TeamId(crate::http::api::seeded_id(&admin_token, key)),
        None => TeamId(Uuid::new_v4()),
    };
    let state = run_team(
        &app,
        id,
        TeamCommand::CreateTeam {
            name: body.name,
            roster: body.roster,
            admin_token_hash: hash_secret(&admin_token),
        },
        key.as_deref(),
    )
    .await
    .map_err(|e| count_refusal(&app, e))?;
    Ok(Json(json!({
        "team": id,
        "name": state.name,
        "roster": state.roster,
        "admin_token": admin_token,
    })))
}

/// One planning of a team, as the team view shows it: what it committed and the focused
/// person-days the velocity divides by.
fn planning_summary(id: PlanningId, s: &State, head: i64) -> Value {
    json!({
        "planning": id,
        "title": s.title,
        "phase": s.phase,
        "head": head,
        "committed_points": s.commitment.as_ref().map(|c| c.points),
        "focused_days": s.commitment.as_ref().map(|_| focused_days(s)),
    })
}

/// `GET /api/teams/{id}` (admin token)
#[utoipa::path(
    get,
    path = "/api/teams/{id}",
    tag = "teams",
    params(("id" = String, Path, description = "A team's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn read_team(
    AxState(app): AxState<AppState>,
    ApiPath(id): ApiPath<String>,
    token: Token,
) -> Result<Json<Value>, ApiError> {
    let team = admin(&app, &id, token).await?;
    let mut plannings = Vec::new();
    let mut states = Vec::new();
    for p in &team.plannings {
        if let Some(room) = app.registry.get(*p).await? {
            let (summary, state) = room.read(|l| {
                let s = planning_summary(*p, &l.state, l.head);
                (s, l.state.clone())
            });
            plannings.push(summary);
            states.push(state);
        }
    }
    // The velocity the team's next planning would get: its committed plannings, newest first.
    let committed: Vec<&State> = states
        .iter()
        .rev()
        .filter(|s| s.commitment.is_some())
        .collect();
    Ok(Json(json!({
        "team": team.team,
        "name": team.name,
        "roster": team.roster,
        "plannings": plannings,
        "velocity": derived_velocity(&committed),
        "velocity_from": committed.len().min(VELOCITY_WINDOW),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterBody {
    pub roster: Vec<RosterEntry>,
}

/// `PUT /api/teams/{id}/roster` (admin token)
#[utoipa::path(
    put,
    path = "/api/teams/{id}/roster",
    tag = "teams",
    params(("id" = String, Path, description = "A team's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn set_roster(
    AxState(app): AxState<AppState>,
    ApiPath(id): ApiPath<String>,
    token: Token,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<RosterBody>,
) -> Result<Json<Value>, ApiError> {
    let team = admin(&app, &id, token).await?;
    commands::admit(&app, &team.admin_token_hash)?;
    let tid = team.team.ok_or(ApiError::NotFound("team"))?;
    let state = run_team(
        &app,
        tid,
        TeamCommand::SetRoster {
            roster: body.roster,
        },
        key.as_deref(),
    )
    .await
    .map_err(|e| count_refusal(&app, e))?;
    Ok(Json(json!({ "team": tid, "roster": state.roster })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamPlanningBody {
    pub title: String,
    /// The facilitator's display name.
    pub name: String,
    #[serde(default)]
    pub carry_over: bool,
    /// The planning's deck, as for `POST /api/plannings` (default Fibonacci).
    #[serde(default)]
    pub deck: Option<crate::domain::deck::Deck>,
}

/// Focused person-days of a planning: Σ(available days × focus factor) over its active,
/// non-observer participants — the same sum `State::capacity_points` multiplies by velocity.
fn focused_days(s: &State) -> Fixed2 {
    s.participants
        .values()
        .filter(|p| !p.removed && p.role != Role::Observer)
        .filter_map(|p| p.capacity.as_ref())
        .fold(Fixed2::ZERO, |acc, c| {
            acc.saturating_add(c.available_days.times(c.focus_factor))
        })
}

/// Velocity from past commitments: Σ committed points ÷ Σ focused person-days over the
/// team's most recent committed plannings (at most [`VELOCITY_WINDOW`]), rounded half up to
/// hundredths. `None` without a commitment, or when the result is outside 0 < v ≤ 1000.
pub fn derived_velocity(committed: &[&State]) -> Option<Fixed2> {
    let (mut points, mut days) = (0i128, 0i128);
    for s in committed.iter().take(VELOCITY_WINDOW) {
        let c = s.commitment.as_ref()?;
        points += i128::from(c.points.hundredths());
        days += i128::from(focused_days(s).hundredths());
    }
    if points <= 0 || days <= 0 {
        return None;
    }
    // points/days in hundredths = points*100/days, rounded half up (both are positive).
    let v = (points * 100 * 2 + days) / (days * 2);
    let v = Fixed2::from_hundredths(i64::try_from(v).ok()?);
    (v > Fixed2::ZERO && v <= Fixed2::from_int(1000)).then_some(v)
}

/// Items of a committed planning to carry over: not withdrawn, not committed, in backlog
/// order, with new ids; dependencies are dropped (they name items of the old planning).
pub fn carry_over_items(prev: &State, into: PlanningId) -> Vec<NewItem> {
    let Some(c) = prev.commitment.as_ref() else {
        return Vec::new();
    };
    prev.ranked_items()
        .filter(|i| !i.withdrawn && !c.items.contains(&i.id))
        .map(|i| {
            let mut draft = i.draft.clone();
            draft.dependencies.clear();
            // Named after the planning it goes to and the item it copies: carrying the same
            // items into the same planning again (a retry) is the same command.
            let parts = [into.0.as_bytes().as_slice(), i.id.0.as_bytes()];
            let id = crate::engine::auth::derived_id(b"sprintlog carried item\0", &parts);
            NewItem {
                item: ItemId(id),
                draft,
            }
        })
        .collect()
}

/// `POST /api/teams/{id}/plannings` (admin token)
#[utoipa::path(
    post,
    path = "/api/teams/{id}/plannings",
    tag = "teams",
    params(("id" = String, Path, description = "A team's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn create_team_planning(
    AxState(app): AxState<AppState>,
    ApiPath(id): ApiPath<String>,
    token: Token,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<TeamPlanningBody>,
) -> Result<Json<Value>, ApiError> {
    let team = admin(&app, &id, token).await?;
    commands::admit(&app, &team.admin_token_hash)?;
    let tid = team.team.ok_or(ApiError::NotFound("team"))?;
    // With a key, the facilitator's token is derived from it under the server key, and the
    // planning from both: a retry creates, links and fills the same planning once.
    let (token, planning_key) = match &key {
        Some(key) => {
            let (scope, who) = (PlanningId(tid.0), ParticipantId::SYSTEM);
            let token = commands::derived_for(&app, scope, who, key, "team planning token").await?;
            (Some(token), Some(format!("team {tid} {key}")))
        }
        None => (None, None),
    };
    let created: NewPlanning = open_planning(
        &app,
        CreateBody {
            title: body.title,
            name: body.name,
            deck: body.deck,
            policy: None,
            token,
        },
        planning_key,
    )
    .await
    .map_err(|e| count_refusal(&app, e))?;
    let planning = created.planning;
    // Earlier plannings, newest first (the link order is the creation order); not this one,
    // which a retry finds already linked.
    let mut earlier = Vec::new();
    for p in team.plannings.iter().rev().filter(|p| **p != planning) {
        if let Some(room) = app.registry.get(*p).await? {
            earlier.push(room.read(|l| l.state.clone()));
        }
    }
    let link = TeamCommand::LinkPlanning { planning };
    run_team(&app, tid, link, key.as_deref()).await?;
    let room = app
        .registry
        .get(planning)
        .await?
        .ok_or(ApiError::NotFound("planning"))?;
    let me = created.creator;
    // Carry over from the previous planning only, and only once it is committed: before
    // that, "uncommitted" is not decided yet.
    let mut carried = Vec::new();
    if let Some(prev) = earlier.first().filter(|_| body.carry_over) {
        let items = carry_over_items(prev, planning);
        if let (Some(from), false) = (prev.planning, items.is_empty()) {
            carried = items.iter().map(|n| n.item).collect();
            room.execute(
                me,
                "team:carry-over".into(),
                None,
                Command::CarryOverItems(CarryOverItems {
                    from_planning: from,
                    items,
                }),
            )
            .await?;
        }
    }
    let committed: Vec<&State> = earlier.iter().filter(|s| s.commitment.is_some()).collect();
    let velocity = derived_velocity(&committed);
    if let Some(points_per_day) = velocity {
        room.execute(
            me,
            "team:velocity".into(),
            None,
            Command::SetVelocity(SetVelocity { points_per_day }),
        )
        .await?;
    }
    let base = app.public_url.clone();
    let roster: Vec<Value> = team
        .roster
        .iter()
        .map(|e| {
            let role = match e.role {
                RosterRole::Member => Role::Member,
                RosterRole::Observer => Role::Observer,
            };
            json!({
                "name": e.name,
                "time_zone": e.time_zone,
                "role": e.role,
                "link": created.invite_link(&base, role),
            })
        })
        .collect();
    let mut out = created.to_json(&base);
    out["head"] = json!(room.head());
    out["team"] = json!(tid);
    out["roster"] = json!(roster);
    out["carried_over"] = json!(carried);
    out["velocity"] = json!(velocity);
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MyToken {
    pub planning: String,
    pub token: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MyPlanningsBody {
    pub tokens: Vec<MyToken>,
}

/// `POST /api/my-plannings`: what each held token opens. Invalid tokens (or plannings that do
/// not exist) are left out without saying which, so the route tells nothing about others.
#[utoipa::path(
    post,
    path = "/api/my-plannings",
    tag = "teams",
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn my_plannings(
    AxState(app): AxState<AppState>,
    ApiJson(body): ApiJson<MyPlanningsBody>,
) -> Result<Json<Value>, ApiError> {
    if body.tokens.len() > MAX_MY_PLANNINGS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_MY_PLANNINGS} tokens"
        )));
    }
    let now = app.clock.now_micros();
    let mut rows: Vec<(bool, String, Value)> = Vec::new();
    for t in body.tokens {
        let Ok(id) = t.planning.parse::<PlanningId>() else {
            continue;
        };
        if t.token.is_empty() || t.token.len() > 256 {
            continue;
        }
        // A stream that is not a planning (a team) fails to load: simply not one of yours.
        let Ok(Some(room)) = app.registry.get(id).await else {
            continue;
        };
        let hash = hash_secret(&t.token);
        let row = room.read(|l| {
            let p = l.state.participant_by_token(&hash)?;
            let pending = crate::domain::inbox::inbox(&l.state, p.id, now)
                .pending_votes
                .len();
            let open = l.state.phase != Some(Phase::Committed);
            Some((
                open,
                l.state.title.clone(),
                json!({
                    "planning": id,
                    "title": l.state.title,
                    "phase": l.state.phase,
                    "participant": p.id,
                    "role": p.role,
                    "name": p.name,
                    "head": l.head,
                    "pending_votes": pending,
                }),
            ))
        });
        if let Some(row) = row {
            if !rows
                .iter()
                .any(|(_, _, v)| v["planning"] == row.2["planning"])
            {
                rows.push(row);
            }
        }
    }
    // Open ones first, then by title.
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let plannings: Vec<Value> = rows.into_iter().map(|(_, _, v)| v).collect();
    Ok(Json(json!({ "plannings": plannings })))
}
