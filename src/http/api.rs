//! The REST API: plannings, joining, commands, reads (see docs/protocol.md for every route).

use crate::domain::command::Command;
use crate::domain::command::{CreatePlanning, Join, ReissueLink, RemoveParticipant, RotateInvite};
use crate::domain::deck::Deck;
use crate::domain::event::{Policy, Role};
use crate::domain::ids::{ParticipantId, PlanningId};
use crate::engine::app::AppState;
use crate::engine::auth::{hash_secret, new_secret};
use crate::engine::commands;
use crate::engine::room::RoomError;
use crate::engine::room::PAGE;
use crate::http::caller::{planning_id, Anonymous, Caller, IdempotencyKey};
use crate::http::error::ApiPath;
use crate::http::error::ApiQuery;
use crate::http::error::{bad_query, count_refusal, in_range, ApiError, ApiJson};
use crate::read::view::{self, Viewer};
use axum::extract::State as AxState;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// The planning routes: creating and joining, commands, reads of the log and its derivatives,
/// invites and personal links.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/plannings", post(create_planning))
        .route("/api/plannings/{id}", get(read_planning))
        .route("/api/plannings/{id}/join", post(join))
        .route("/api/plannings/{id}/commands", post(command))
        .route("/api/plannings/{id}/events", get(events))
        .route("/api/plannings/{id}/timeline", get(timeline))
        .route("/api/plannings/{id}/audit", get(audit))
        .route("/api/plannings/{id}/verify", get(verify))
        .route("/api/plannings/{id}/digest", get(digest))
        .route("/api/plannings/{id}/invites", post(rotate_invite))
        .route(
            "/api/plannings/{id}/participants/{pid}/link",
            post(reissue_link),
        )
        .route(
            "/api/plannings/{id}/participants/{pid}",
            delete(remove_participant),
        )
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
    /// The creator's token, drawn by the client (64 lowercase hex characters, as for `join`):
    /// with an `Idempotency-Key`, a creation sent again applies once and answers the same
    /// planning, token and invites. Without it the server draws one.
    #[serde(default)]
    pub token: Option<String>,
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
#[utoipa::path(
    post,
    path = "/api/plannings",
    tag = "plannings",
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn create_planning(
    AxState(app): AxState<AppState>,
    who: Anonymous,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Json<Value>, ApiError> {
    commands::admit(&app, &who.0)?;
    let created = open_planning(&app, body, key)
        .await
        .map_err(|e| count_refusal(&app, e))?;
    Ok(Json(created.to_json(&app.public_url)))
}

/// Creates a planning and registers its room: the one code path for every way a planning is
/// created (plain, or for a team).
pub async fn open_planning(
    app: &AppState,
    body: CreateBody,
    key: Option<String>,
) -> Result<NewPlanning, ApiError> {
    let token = client_token(body.token.as_deref(), key.as_deref())?;
    let (id, creator, member_invite, observer_invite) = match &key {
        // The planning, its creator and its invites follow from the token and the key, so a
        // retry decides the very same creation (and nobody without the token can aim at it).
        Some(key) => {
            let id = PlanningId(seeded_id(&token, key));
            let creator = participant_of(app, id, &token).await?;
            let invite = |purpose| commands::derived_for(app, id, creator, key, purpose);
            (
                id,
                creator,
                invite("member invite").await?,
                invite("observer invite").await?,
            )
        }
        None => {
            let id = PlanningId(Uuid::new_v4());
            let creator = match body.token {
                Some(_) => participant_of(app, id, &token).await?,
                None => ParticipantId(Uuid::new_v4()),
            };
            (id, creator, new_secret(), new_secret())
        }
    };
    let cmd = Command::CreatePlanning(CreatePlanning {
        title: body.title,
        creator_name: body.name,
        creator_token_hash: hash_secret(&token),
        deck: body.deck,
        policy: body.policy,
        member_invite_hash: hash_secret(&member_invite),
        observer_invite_hash: hash_secret(&observer_invite),
    });
    let (room, ack) = app.registry.create_at(id, creator, cmd).await?;
    Ok(NewPlanning {
        planning: room.shared.id,
        creator,
        token,
        member_invite,
        observer_invite,
        head: ack.head,
    })
}

/// What a client-drawn token must be.
const CLIENT_TOKEN: &str = "token must be 64 lowercase hex characters (32 random bytes)";

/// The participant a client-drawn token makes of its holder in `planning` (see
/// [`crate::engine::auth::participant_for_token`]).
async fn participant_of(
    app: &AppState,
    planning: PlanningId,
    token: &str,
) -> Result<ParticipantId, ApiError> {
    let key = commands::server_key(app).await?;
    Ok(ParticipantId(crate::engine::auth::participant_for_token(
        key,
        planning.0,
        &hash_secret(token),
    )))
}

/// The creator's token of a creation: the client's own (checked), or one drawn here. A key
/// needs the client's token: two clients who picked the same key would otherwise share one.
pub fn client_token(token: Option<&str>, key: Option<&str>) -> Result<String, ApiError> {
    match token {
        Some(t) if crate::engine::auth::is_client_token(t) => Ok(t.to_string()),
        Some(_) => Err(ApiError::BadRequest(CLIENT_TOKEN.into())),
        None if key.is_some() => Err(ApiError::BadRequest(format!(
            "an Idempotency-Key on a creation needs the client's own token: {CLIENT_TOKEN}"
        ))),
        None => Ok(new_secret()),
    }
}

/// The id of what a creation with `token` and `key` creates (a planning, a team): the same for
/// a retry, unguessable without the token.
pub fn seeded_id(token: &str, key: &str) -> Uuid {
    let token_hash = hash_secret(token);
    crate::engine::auth::derived_id(
        b"sprintlog created id\0",
        &[token_hash.as_bytes(), b"\0", key.as_bytes()],
    )
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

/// Takes one costly read from `caller`'s read budget (see [`commands::admit_read`]).
pub fn admit_read(app: &AppState, caller: &Caller) -> Result<(), ApiError> {
    commands::admit_read(app, &caller.token_hash).map_err(|_| ApiError::TooManyReads)
}

/// `POST /api/plannings/{id}/join`
#[utoipa::path(
    post,
    path = "/api/plannings/{id}/join",
    tag = "plannings",
    params(("id" = String, Path, description = "A planning's id.")),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn join(
    AxState(app): AxState<AppState>,
    who: Anonymous,
    ApiPath(id): ApiPath<String>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<JoinBody>,
) -> Result<Json<Value>, ApiError> {
    let id = planning_id(&id)?;
    let room = app
        .registry
        .get(id)
        .await?
        .ok_or(ApiError::NotFound("planning"))?;
    let (token, participant) =
        match body.token {
            Some(t) if crate::engine::auth::is_client_token(&t) => {
                // A participant who already holds the token keeps the id it has: one that
                // joined before ids were keyed, retrying, lands on itself.
                let hash = hash_secret(&t);
                let held = room.read(|l| l.state.participant_by_token(&hash).map(|p| p.id));
                let p = match held {
                    Some(p) => p,
                    None => participant_of(&app, id, &t).await?,
                };
                (t, p)
            }
            Some(_) => return Err(ApiError::BadRequest(CLIENT_TOKEN.into())),
            // The joiner has no identity yet to scope a key by: two joiners who picked the same
            // key would get the same token. Only a token the client drew itself names its join.
            None if key.is_some() => return Err(ApiError::BadRequest(
                "a join is retried safely with the token it chose (\"token\": 64 hex), not with \
                 an Idempotency-Key"
                    .into(),
            )),
            None => (new_secret(), ParticipantId(Uuid::new_v4())),
        };
    // A join has no token yet: the invite it presents is its rate limit's key.
    let invite_hash = hash_secret(&body.invite);
    commands::admit(&app, &invite_hash)?;
    // And its client's address: one client cannot join endlessly by cycling invites.
    commands::admit(&app, &who.0)?;
    let join = Command::Join(Join {
        name: body.name,
        invite_hash,
        token_hash: hash_secret(&token),
    });
    // A token whose holder was removed does not come back through the invite: its join would
    // answer as a retry with a token that no longer works.
    if room.read(|l| l.state.participants.get(&participant).map(|p| p.removed)) == Some(true) {
        return Err(count_refusal(&app, ApiError::Removed));
    }
    let op = format!("join:{participant}");
    let ack = commands::execute(&app, &room, participant, op, None, join)
        .await
        .map_err(|e| match e {
            // The op is the server's, not the client's: say what happened instead.
            commands::Refused::Room(RoomError::OpConflict(_)) => ApiError::TokenTaken,
            e => e.into(),
        })?;
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
    pub command: Command,
}

/// Checks a client op id: 1 to 128 printable ASCII characters, no spaces.
pub fn check_op(op: &str) -> Result<(), ApiError> {
    if op.is_empty() || op.len() > 128 || !op.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::BadRequest(
            "client_op_id must be 1 to 128 printable ASCII characters, no spaces".into(),
        ));
    }
    Ok(())
}

/// `POST /api/plannings/{id}/commands`
#[utoipa::path(
    post,
    path = "/api/plannings/{id}/commands",
    tag = "plannings",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn command(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CommandBody>,
) -> Result<Json<Value>, ApiError> {
    check_op(&body.client_op_id)?;
    let op = body.client_op_id.clone();
    let ack = commands::run(&app, &caller, op, body.expected_seq, body.command).await?;
    Ok(Json(json!({
        "client_op_id": body.client_op_id,
        "first": ack.first,
        "head": ack.head,
        "duplicate": ack.duplicate,
    })))
}

#[derive(Debug, Deserialize, Default)]
pub struct PlanningQuery {
    /// Show the planning as it was right after this seq.
    pub at: Option<i64>,
}

/// `GET /api/plannings/{id}[?at=SEQ]`: the projection as the caller may see it, now or as it
/// was right after `at` (redacted as of that moment: a vote unrevealed then stays hidden).
#[utoipa::path(
    get,
    path = "/api/plannings/{id}",
    tag = "plannings",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn read_planning(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PlanningQuery>,
) -> Result<Json<Value>, ApiError> {
    let me: Viewer = Some(caller.participant);
    let you =
        json!({ "participant": caller.participant, "role": caller.role, "name": caller.name });
    if let Some(at) = q.at {
        let head = caller.room.head();
        in_range("at", at, 0, Some(head))?;
        admit_read(&app, &caller)?;
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
    // Built under the read lock, serialised after it is released; the part every viewer's
    // view shares is the one the room keeps for its head (`engine::joins`).
    let room = &caller.room;
    let (head, state) = room.read(|l| {
        let at = room.joins().at(l.head);
        let common = at.common(&l.state, &app.metrics);
        (l.head, view::state_view_with(&l.state, me, common))
    });
    // The server's clock, beside the view rather than in it: a time box's time left is its
    // `ends_at` minus this (corrected for the client's own clock), while the view stays a
    // function of the log.
    let now = app.clock.now_micros();
    Ok(Json(json!({
        "planning": caller.room.shared.id,
        "head": head,
        "now": now,
        "now_utc": crate::read::utc::rfc3339(now),
        "you": you,
        "online": caller.room.online(),
        "state": state,
    })))
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    pub after: i64,
    #[serde(default)]
    pub limit: Option<i64>,
}

/// How long `GET …/events` waits for the planning to apply events it read from the log.
const EVENTS_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(1);

/// `GET /api/plannings/{id}/events?after=&limit=`: events after a seq, redacted for the caller.
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/events",
    tag = "history",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn events(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = in_range("limit", q.limit.unwrap_or(100), 1, Some(PAGE))?;
    in_range("after", q.after, 0, None)?;
    let mut stored = app
        .registry
        .store()
        .read(caller.room.shared.id.0, q.after, limit)
        .await?;
    // The answer's head is the planning's (what `GET /api/plannings/{id}` shows), and no
    // listed event is past it: the log may hold events the room has not applied yet.
    let last = stored.last().map_or(0, |e| e.seq);
    let head = caller.room.head_reaching(last, EVENTS_CATCH_UP).await;
    stored.retain(|e| e.seq <= head);
    let frames: Vec<view::EventFrame> = crate::engine::replay::envelopes(&stored)?
        .iter()
        .map(|e| view::event_frame(e, Some(caller.participant)))
        .collect();
    Ok(Json(json!({ "events": frames, "head": head })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    pub role: Role,
}

/// The op id and the secret of a write that hands one out: with an `Idempotency-Key`, the key
/// and a secret derived from it (a retry answers the same); without, a fresh op and secret.
async fn secret_for(
    app: &AppState,
    caller: &Caller,
    key: Option<String>,
    purpose: &str,
) -> Result<(String, String), ApiError> {
    Ok(match key {
        Some(op) => {
            let secret = commands::derived_secret(app, caller, &op, purpose).await?;
            (op, secret)
        }
        None => (format!("{purpose}:{}", Uuid::new_v4()), new_secret()),
    })
}

/// `POST /api/plannings/{id}/invites`: the facilitator replaces an invite; returns the new one.
#[utoipa::path(
    post,
    path = "/api/plannings/{id}/invites",
    tag = "plannings",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn rotate_invite(
    AxState(app): AxState<AppState>,
    caller: Caller,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<RotateBody>,
) -> Result<Json<Value>, ApiError> {
    let (op, invite) = secret_for(&app, &caller, key, "invite").await?;
    let rotate = Command::RotateInvite(RotateInvite {
        role: body.role,
        invite_hash: hash_secret(&invite),
    });
    let ack = commands::run(&app, &caller, op, None, rotate).await?;
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
#[utoipa::path(
    post,
    path = "/api/plannings/{id}/participants/{pid}/link",
    tag = "plannings",
    params(("id" = String, Path, description = "A planning's id."), ("pid" = String, Path, description = "A participant's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn reissue_link(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiPath((_, pid)): ApiPath<(String, String)>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<ReissueBody>,
) -> Result<Json<Value>, ApiError> {
    let participant: ParticipantId = pid.parse().map_err(|_| ApiError::NotFound("participant"))?;
    let (op, token) = secret_for(&app, &caller, key, "link").await?;
    let reissue = Command::ReissueLink(ReissueLink {
        participant,
        token_hash: hash_secret(&token),
        revoke_previous: body.revoke_previous,
    });
    let ack = commands::run(&app, &caller, op, None, reissue).await?;
    let planning = caller.room.shared.id;
    Ok(Json(json!({
        "participant": participant,
        "token": token,
        "link": format!("{}/#/p/{planning}?token={token}", app.public_url),
        "head": ack.head,
    })))
}

/// `DELETE /api/plannings/{id}/participants/{pid}`: remove a participant.
#[utoipa::path(
    delete,
    path = "/api/plannings/{id}/participants/{pid}",
    tag = "plannings",
    params(("id" = String, Path, description = "A planning's id."), ("pid" = String, Path, description = "A participant's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn remove_participant(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiPath((_, pid)): ApiPath<(String, String)>,
    IdempotencyKey(key): IdempotencyKey,
) -> Result<Json<Value>, ApiError> {
    let participant: ParticipantId = pid.parse().map_err(|_| ApiError::NotFound("participant"))?;
    let op = key.unwrap_or_else(|| format!("remove:{participant}"));
    let remove = Command::RemoveParticipant(RemoveParticipant { participant });
    let ack = commands::run(&app, &caller, op, None, remove).await?;
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
}

/// Most events one timeline request scans (filters may skip many): bounds the work per request;
/// the answer says where to continue.
const TIMELINE_SCAN: i64 = 5000;

/// `GET /api/plannings/{id}/timeline?after=&limit=&item=&actor=&type=&chapters=true`
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/timeline",
    tag = "history",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn timeline(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TimelineQuery>,
) -> Result<Json<Value>, ApiError> {
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
    let limit = in_range("limit", q.limit.unwrap_or(100), 1, Some(PAGE))? as usize;
    in_range("after", q.after, 0, None)?;
    let store = app.registry.store().clone();
    let planning = caller.room.shared.id;
    let head = caller.room.head();
    let mut entries = Vec::new();
    let mut pos = q.after;
    let scan_end = pos.saturating_add(TIMELINE_SCAN).min(head);
    // Entries are dated as they happened (a deadline's close at its deadline).
    let mut dater = crate::read::Dater::default();
    while entries.len() < limit && pos < scan_end {
        let page = store
            .read(planning.0, pos, PAGE.min(scan_end - pos))
            .await?;
        if page.is_empty() {
            break;
        }
        for e in crate::engine::replay::envelopes(&page)? {
            pos = e.seq;
            let entry = caller
                .room
                .read(|l| crate::read::timeline::entry(&dater.dated(&e), &l.state));
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
}

/// `GET /api/plannings/{id}/audit?format=json|md|csv`: the audit, redacted for the caller
/// (sealed votes stay sealed; only the operator's CLI sees them).
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/audit",
    tag = "history",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn audit(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    admit_read(&app, &caller)?;
    let format = q.format.as_deref().unwrap_or("json");
    let body = app
        .history
        .audit(&**app.registry.store(), caller.room.shared.id, format)
        .await?
        .ok_or_else(|| bad_query("format must be json, md or csv"))?;
    let content_type = match format {
        "csv" => "text/csv; charset=utf-8",
        "md" | "markdown" => "text/markdown; charset=utf-8",
        _ => "application/json",
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, content_type)],
        body.to_string(),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct DigestQuery {
    /// Changes after this seq; defaults to the caller's last action.
    pub since: Option<i64>,
    pub format: Option<String>,
}

/// `GET /api/plannings/{id}/digest?since=&format=json|md`: what others changed since a seq
/// (default: since the caller's last action), grouped by item.
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/digest",
    tag = "history",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn digest(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DigestQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    if let Some(since) = q.since {
        in_range("since", since, 0, None)?;
    }
    admit_read(&app, &caller)?;
    let log = app
        .history
        .log(&**app.registry.store(), caller.room.shared.id)
        .await?;
    let log = &log.events;
    let since = q
        .since
        .unwrap_or_else(|| crate::read::digest::last_activity(log, caller.participant));
    let d = caller
        .room
        .read(|l| crate::read::digest::build(log, &l.state, caller.participant, since));
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
        _ => Err(bad_query("format must be json or md")),
    }
}

/// `GET /api/plannings/{id}/verify` (token): checks the planning's hash chain against the log
/// and the stored head, so a participant can check the head hash printed on an audit; the
/// events found intact by an earlier request are not read again.
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/verify",
    tag = "history",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn verify(
    AxState(app): AxState<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    admit_read(&app, &caller)?;
    let check = app
        .history
        .verify(&**app.registry.store(), caller.room.shared.id)
        .await?;
    Ok(Json(match check {
        crate::store::ChainCheck::Intact { events, head_hash } => {
            json!({ "intact": true, "events": events, "head_hash": head_hash })
        }
        crate::store::ChainCheck::BrokenAt { seq, .. } => {
            json!({ "intact": false, "broken_at": seq, "reason": "altered" })
        }
        crate::store::ChainCheck::Missing { seq } => {
            json!({ "intact": false, "broken_at": seq, "reason": "missing" })
        }
    }))
}
