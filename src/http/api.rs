//! The REST API: plannings, joining, commands, reads (see docs/protocol.md for every route).

use crate::domain::command::Command;
use crate::domain::deck::Deck;
use crate::domain::event::{Policy, Role};
use crate::domain::ids::{ParticipantId, PlanningId};
use crate::domain::{decide, Context, State};
use crate::engine::app::AppState;
use crate::engine::auth::{hash_secret, new_secret};
use crate::engine::room::{Live, Room, RoomError, PAGE};
use crate::http::error::ApiQuery;
use crate::http::error::{ApiError, ApiJson};
use crate::read::view::{self, Viewer};
use crate::store::{canonical, AppendRequest, NewEvent};
use axum::extract::{Path, State as AxState};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use uuid::Uuid;

/// The caller, authenticated by a personal token for one planning.
pub struct Caller {
    pub room: Arc<Room>,
    pub participant: ParticipantId,
    pub role: Role,
    pub name: String,
    pub token_hash: String,
}

/// The token from `Authorization: Bearer …` or `?token=`.
pub fn token_from(headers: &HeaderMap, query_token: Option<&str>) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .or_else(|| query_token.map(str::to_string))
        .filter(|t| !t.is_empty() && t.len() <= 256)
}

/// Parses a planning id from a path segment.
pub fn planning_id(raw: &str) -> Result<PlanningId, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound("planning"))
}

/// Loads the planning and finds the token's participant in it.
pub async fn authenticate(
    app: &AppState,
    id: PlanningId,
    token: Option<String>,
) -> Result<Caller, ApiError> {
    let token = token.ok_or(ApiError::Unauthorized)?;
    let room = app
        .registry
        .get(id)
        .await?
        .ok_or(ApiError::NotFound("planning"))?;
    let token_hash = hash_secret(&token);
    let who = room.read(|l| {
        l.state
            .participant_by_token(&token_hash)
            .map(|p| (p.id, p.role, p.name.clone()))
    });
    let (participant, role, name) = who.ok_or(ApiError::Unauthorized)?;
    Ok(Caller {
        room,
        participant,
        role,
        name,
        token_hash,
    })
}

/// The caller of a planning route: the planning from the path segment, the token from the
/// `Authorization` header or the `?token=` query parameter.
pub async fn caller(
    app: &AppState,
    planning: &str,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Result<Caller, ApiError> {
    authenticate(
        app,
        planning_id(planning)?,
        token_from(headers, query_token),
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    pub title: String,
    /// The creator's display name.
    pub name: String,
    #[serde(default)]
    pub deck: Option<Deck>,
    #[serde(default)]
    pub policy: Option<Policy>,
}

/// A planning just created, with the secrets handed out once.
pub struct NewPlanning {
    pub planning: PlanningId,
    pub creator: ParticipantId,
    pub token: String,
    pub member_invite: String,
    pub observer_invite: String,
    pub head: i64,
}

impl NewPlanning {
    /// The member or observer invite link.
    pub fn invite_link(&self, base: &str, role: Role) -> String {
        let invite = match role {
            Role::Observer => &self.observer_invite,
            _ => &self.member_invite,
        };
        format!("{base}/#/join/{}?invite={invite}", self.planning)
    }

    /// The creation response of `POST /api/plannings`.
    pub fn to_json(&self, base: &str) -> Value {
        let (planning, token) = (self.planning, &self.token);
        json!({
            "planning": planning,
            "participant": self.creator,
            "role": Role::Facilitator,
            "token": token,
            "member_invite": self.member_invite,
            "observer_invite": self.observer_invite,
            "links": {
                "facilitator": format!("{base}/#/p/{planning}?token={token}"),
                "member": self.invite_link(base, Role::Member),
                "observer": self.invite_link(base, Role::Observer),
            },
            "head": self.head,
        })
    }
}

/// `POST /api/plannings`
pub async fn create_planning(
    AxState(app): AxState<AppState>,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Json<Value>, ApiError> {
    let created = open_planning(&app, body).await?;
    Ok(Json(created.to_json(&app.public_url)))
}

/// Creates a planning and registers its room: the one code path for every way a planning is
/// created (plain, or for a team).
pub async fn open_planning(app: &AppState, body: CreateBody) -> Result<NewPlanning, ApiError> {
    // Its room joins the others in memory: make space first (refused when all are in use).
    app.registry.make_room()?;
    let token = new_secret();
    let member_invite = new_secret();
    let observer_invite = new_secret();
    let creator = ParticipantId(Uuid::new_v4());
    let cmd = Command::CreatePlanning {
        title: body.title,
        creator_name: body.name,
        creator_token_hash: hash_secret(&token),
        deck: body.deck,
        policy: body.policy,
        member_invite_hash: hash_secret(&member_invite),
        observer_invite_hash: hash_secret(&observer_invite),
    };
    let now = app.clock.now_micros();
    let events = {
        let mut rng = rand::rngs::OsRng;
        let mut ctx = Context {
            actor: creator,
            now,
            rng: &mut rng,
        };
        decide(&State::default(), &cmd, &mut ctx)?
    };
    let Some(crate::domain::Event::PlanningCreated { planning, .. }) = events.first().cloned()
    else {
        return Err(ApiError::BadRequest("could not create the planning".into()));
    };
    let op = format!("create:{planning}");
    let req = AppendRequest {
        planning_id: planning.0,
        expected_seq: 0,
        actor: creator.0,
        client_op_id: op,
        command_hash: crate::engine::auth::sha256_hex(
            canonical::to_canonical(&cmd).unwrap_or_default().as_bytes(),
        ),
        recorded_at: now,
        events: events
            .iter()
            .map(|e| {
                let (kind, version, payload) = e.encode();
                NewEvent {
                    event_id: crate::store::new_event_id(),
                    kind: kind.into(),
                    version,
                    payload,
                }
            })
            .collect(),
        jobs: Vec::new(),
    };
    // The append runs in its own task: a client that goes away mid-request cannot cut it short.
    let store = app.registry.store().clone();
    let appended = tokio::spawn(async move { store.append(req).await })
        .await
        .map_err(|_| ApiError::Room(RoomError::Closed))??;
    let mut live = Live::default();
    for e in &events {
        live.state.apply(e);
    }
    live.head = appended.last_seq;
    app.registry
        .insert(Room::spawn(app.registry.deps().clone(), planning, live));
    Ok(NewPlanning {
        planning,
        creator,
        token,
        member_invite,
        observer_invite,
        head: appended.last_seq,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    pub invite: String,
    pub name: String,
    /// The token the client wants, drawn by the client (64 lowercase hex characters, like the
    /// server's): a join retried with the same token applies once and answers the same
    /// participant. Without it the server draws one, and a retry joins a second time.
    #[serde(default)]
    pub token: Option<String>,
}

/// `POST /api/plannings/{id}/join`
pub async fn join(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<JoinBody>,
) -> Result<Json<Value>, ApiError> {
    let id = planning_id(&id)?;
    let room = app
        .registry
        .get(id)
        .await?
        .ok_or(ApiError::NotFound("planning"))?;
    let (token, participant) = match body.token {
        Some(t) if crate::engine::auth::is_client_token(&t) => {
            let p = crate::engine::auth::participant_for_token(id.0, &hash_secret(&t));
            (t, ParticipantId(p))
        }
        Some(_) => {
            return Err(ApiError::BadRequest(
                "token must be 64 lowercase hex characters (32 random bytes)".into(),
            ))
        }
        None => (new_secret(), ParticipantId(Uuid::new_v4())),
    };
    let ack = room
        .execute(
            participant,
            format!("join:{participant}"),
            None,
            Command::Join {
                name: body.name,
                invite_hash: hash_secret(&body.invite),
                token_hash: hash_secret(&token),
            },
        )
        .await?;
    let role = room.read(|l| l.state.participants.get(&participant).map(|p| p.role));
    let base = app.public_url.clone();
    Ok(Json(json!({
        "planning": id,
        "participant": participant,
        "role": role,
        "token": token,
        "link": format!("{base}/#/p/{id}?token={token}"),
        "head": ack.head,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandBody {
    pub client_op_id: String,
    #[serde(default)]
    pub expected_seq: Option<i64>,
    pub command: Value,
}

#[derive(Debug, Deserialize, Default)]
pub struct TokenQuery {
    pub token: Option<String>,
}

/// Checks a client op id: 1 to 128 printable ASCII characters.
pub fn check_op(op: &str) -> Result<(), ApiError> {
    if op.is_empty() || op.len() > 128 || !op.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::BadRequest(
            "client_op_id must be 1 to 128 printable ASCII characters".into(),
        ));
    }
    Ok(())
}

/// `POST /api/plannings/{id}/commands`
pub async fn command(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<TokenQuery>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CommandBody>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&app, &id, &headers, q.token.as_deref()).await?;
    check_op(&body.client_op_id)?;
    if !app.rate_check(&caller.token_hash) {
        return Err(ApiError::TooMany);
    }
    let command: Command = serde_json::from_value(body.command)
        .map_err(|e| ApiError::BadRequest(format!("invalid command: {e}")))?;
    let ack = caller
        .room
        .execute(
            caller.participant,
            body.client_op_id.clone(),
            body.expected_seq,
            command,
        )
        .await
        .inspect_err(|_| {
            app.metrics
                .commands_rejected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })?;
    Ok(Json(json!({
        "client_op_id": body.client_op_id,
        "first": ack.first,
        "head": ack.head,
        "duplicate": ack.duplicate,
    })))
}

#[derive(Debug, Deserialize, Default)]
pub struct PlanningQuery {
    pub token: Option<String>,
    /// Show the planning as it was right after this seq.
    pub at: Option<i64>,
}

/// `GET /api/plannings/{id}[?at=SEQ]`: the projection as the caller may see it, now or as it
/// was right after `at` (redacted as of that moment: a vote unrevealed then stays hidden).
pub async fn read_planning(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PlanningQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&app, &id, &headers, q.token.as_deref()).await?;
    let me: Viewer = Some(caller.participant);
    let you =
        json!({ "participant": caller.participant, "role": caller.role, "name": caller.name });
    if let Some(at) = q.at {
        let head = caller.room.head();
        if at < 0 || at > head {
            return Err(ApiError::BadRequest(format!("at must be 0 to {head}")));
        }
        let loaded = crate::engine::replay::state_at(
            &**app.registry.store(),
            caller.room.shared.id,
            Some(at),
        )
        .await?;
        return Ok(Json(json!({
            "planning": caller.room.shared.id,
            "at": loaded.head,
            "head": head,
            "you": you,
            "state": view::past_state_view(&loaded.state, me, caller.role == Role::Facilitator),
        })));
    }
    let body = caller.room.read(|l| {
        json!({
            "planning": caller.room.shared.id,
            "head": l.head,
            "you": you,
            "online": caller.room.online(),
            "state": view::state_view(&l.state, me),
        })
    });
    Ok(Json(body))
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    pub after: i64,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub token: Option<String>,
}

/// `GET /api/plannings/{id}/events?after=&limit=`: events after a seq, redacted for the caller.
pub async fn events(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&app, &id, &headers, q.token.as_deref()).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, PAGE);
    if q.after < 0 {
        return Err(ApiError::BadRequest("after must be 0 or more".into()));
    }
    let stored = app
        .registry
        .store()
        .read(caller.room.shared.id.0, q.after, limit)
        .await?;
    let decoded = crate::engine::room::decode_all(&stored)?;
    let frames: Vec<view::EventFrame> = stored
        .iter()
        .zip(&decoded)
        .map(|(s, e)| view::event_frame(s, e, Some(caller.participant)))
        .collect();
    let head = caller.room.read(|l| l.head);
    Ok(Json(json!({ "events": frames, "head": head })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    pub role: Role,
}

/// `POST /api/plannings/{id}/invites`: the facilitator replaces an invite; returns the new one.
pub async fn rotate_invite(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<TokenQuery>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RotateBody>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&app, &id, &headers, q.token.as_deref()).await?;
    let invite = new_secret();
    let ack = caller
        .room
        .execute(
            caller.participant,
            format!("rotate:{}", Uuid::new_v4()),
            None,
            Command::RotateInvite {
                role: body.role,
                invite_hash: hash_secret(&invite),
            },
        )
        .await?;
    let pid = caller.room.shared.id;
    Ok(Json(json!({
        "role": body.role,
        "invite": invite,
        "link": format!("{}/#/join/{pid}?invite={invite}", app.public_url),
        "head": ack.head,
    })))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReissueBody {
    #[serde(default)]
    pub revoke_previous: bool,
}

/// `POST /api/plannings/{id}/participants/{pid}/link`: a new personal link for someone.
pub async fn reissue_link(
    AxState(app): AxState<AppState>,
    Path((id, pid)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<TokenQuery>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ReissueBody>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&app, &id, &headers, q.token.as_deref()).await?;
    let participant: ParticipantId = pid.parse().map_err(|_| ApiError::NotFound("participant"))?;
    let token = new_secret();
    let ack = caller
        .room
        .execute(
            caller.participant,
            format!("reissue:{}", Uuid::new_v4()),
            None,
            Command::ReissueLink {
                participant,
                token_hash: hash_secret(&token),
                revoke_previous: body.revoke_previous,
            },
        )
        .await?;
    let planning = caller.room.shared.id;
    Ok(Json(json!({
        "participant": participant,
        "token": token,
        "link": format!("{}/#/p/{planning}?token={token}", app.public_url),
        "head": ack.head,
    })))
}

/// `DELETE /api/plannings/{id}/participants/{pid}`: remove a participant.
pub async fn remove_participant(
    AxState(app): AxState<AppState>,
    Path((id, pid)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<TokenQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&app, &id, &headers, q.token.as_deref()).await?;
    let participant: ParticipantId = pid.parse().map_err(|_| ApiError::NotFound("participant"))?;
    let ack = caller
        .room
        .execute(
            caller.participant,
            format!("remove:{participant}"),
            None,
            Command::RemoveParticipant { participant },
        )
        .await?;
    Ok(Json(
        json!({ "participant": participant, "head": ack.head }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct TimelineQuery {
    #[serde(default)]
    pub after: i64,
    #[serde(default)]
    pub limit: Option<i64>,
    pub item: Option<String>,
    pub actor: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub chapters: bool,
    pub token: Option<String>,
}

/// Most events one timeline request scans (filters may skip many): bounds the work per request;
/// the answer says where to continue.
const TIMELINE_SCAN: i64 = 5000;

/// `GET /api/plannings/{id}/timeline?after=&limit=&item=&actor=&type=&chapters=true`
pub async fn timeline(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<TimelineQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&app, &id, &headers, q.token.as_deref()).await?;
    let bad = |what: &str| ApiError::BadRequest(format!("{what} is not an id"));
    let filter = crate::read::timeline::Filter {
        item: q
            .item
            .as_deref()
            .map(|i| i.parse().map_err(|_| bad("item")))
            .transpose()?,
        actor: q
            .actor
            .as_deref()
            .map(|a| a.parse().map_err(|_| bad("actor")))
            .transpose()?,
        kind: q.kind.clone(),
        chapters_only: q.chapters,
    };
    let limit = q.limit.unwrap_or(100).clamp(1, PAGE) as usize;
    let store = app.registry.store().clone();
    let planning = caller.room.shared.id;
    let head = caller.room.head();
    let mut entries = Vec::new();
    let mut pos = q.after.max(0);
    let scan_end = pos.saturating_add(TIMELINE_SCAN).min(head);
    while entries.len() < limit && pos < scan_end {
        let page = store
            .read(planning.0, pos, PAGE.min(scan_end - pos))
            .await?;
        if page.is_empty() {
            break;
        }
        let events = crate::engine::room::decode_all(&page)?;
        for (s, e) in page.iter().zip(&events) {
            pos = s.seq;
            let entry = caller
                .room
                .read(|l| crate::read::timeline::entry(s, e, &l.state));
            if filter.accepts(&entry) {
                entries.push(entry);
                if entries.len() >= limit {
                    break;
                }
            }
        }
    }
    Ok(Json(json!({
        "entries": entries,
        "next_after": pos,
        "head": head,
        "done": pos >= head,
    })))
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    pub format: Option<String>,
    pub token: Option<String>,
}

/// `GET /api/plannings/{id}/audit?format=json|md|csv`: the audit, redacted for the caller
/// (sealed votes stay sealed; only the operator's CLI sees them).
pub async fn audit(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AuditQuery>,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let caller = caller(&app, &id, &headers, q.token.as_deref()).await?;
    let format = q.format.as_deref().unwrap_or("json");
    let body = crate::engine::replay::audit(
        &**app.registry.store(),
        caller.room.shared.id,
        crate::read::audit::Audience::Participant,
        format,
    )
    .await?
    .ok_or_else(|| ApiError::BadRequest("format must be json, md or csv".into()))?;
    let content_type = match format {
        "csv" => "text/csv; charset=utf-8",
        "md" | "markdown" => "text/markdown; charset=utf-8",
        _ => "application/json",
    };
    Ok(([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response())
}

#[derive(Debug, Deserialize)]
pub struct DigestQuery {
    /// Changes after this seq; defaults to the caller's last action.
    pub since: Option<i64>,
    pub format: Option<String>,
    pub token: Option<String>,
}

/// `GET /api/plannings/{id}/digest?since=&format=json|md`: what others changed since a seq
/// (default: since the caller's last action), grouped by item.
pub async fn digest(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DigestQuery>,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let caller = caller(&app, &id, &headers, q.token.as_deref()).await?;
    let log =
        crate::engine::replay::read_log(&**app.registry.store(), caller.room.shared.id).await?;
    let since = q
        .since
        .unwrap_or_else(|| crate::read::digest::last_activity(&log, caller.participant))
        .max(0);
    let d = caller
        .room
        .read(|l| crate::read::digest::build(&log, &l.state, caller.participant, since));
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(serde_json::to_value(&d).unwrap_or_default()).into_response()),
        "md" | "markdown" => Ok((
            [(
                axum::http::header::CONTENT_TYPE,
                "text/markdown; charset=utf-8",
            )],
            crate::read::digest::markdown(&d),
        )
            .into_response()),
        _ => Err(ApiError::BadRequest("format must be json or md".into())),
    }
}

/// `GET /api/plannings/{id}/verify` (token): recomputes the planning's hash chain from the log
/// now, so a participant can check the head hash printed on an audit against the stored log.
pub async fn verify(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<TokenQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&app, &id, &headers, q.token.as_deref()).await?;
    let check =
        crate::store::verify_chain(&**app.registry.store(), caller.room.shared.id.0).await?;
    Ok(Json(match check {
        crate::store::ChainCheck::Intact { events, head_hash } => {
            json!({ "intact": true, "events": events, "head_hash": head_hash })
        }
        crate::store::ChainCheck::BrokenAt { seq, .. } => {
            json!({ "intact": false, "broken_at": seq })
        }
    }))
}
