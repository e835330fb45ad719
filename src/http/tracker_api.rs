//! REST routes of a planning's tracker connection (see [`crate::engine::tracker`]):
//!
//! - `PUT /api/plannings/{id}/tracker`: set (or replace) the connection; `GET` shows it
//!   without its credential; `DELETE` forgets it, credential included;
//! - `POST /api/plannings/{id}/tracker/test`: checks the connection against the tracker;
//! - `POST /api/plannings/{id}/tracker/import[?dry_run=true]`: imports issues by JQL, board
//!   sprint, label or milestone through the backlog import's rules;
//! - `POST /api/plannings/{id}/tracker/writeback`: writes every agreed estimate back now;
//!   `GET` lists each item's latest write-back and where it stands.
//!
//! Everything but the state list is the facilitator's; the connection is checked before any
//! outbound request, so members cannot use it to probe the network. Shapes are in
//! `docs/protocol.md`.

use crate::domain::event::Role;
use crate::domain::DomainError;
use crate::engine::app::AppState;
use crate::engine::commands;
use crate::engine::tracker::{self, Credential, Query, Settings, TrackerError};
use crate::http::api::check_op;
use crate::http::caller::{Caller, IdempotencyKey};
use crate::http::error::{ApiError, ApiJson, ApiQuery};
use crate::read::import;
use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// The tracker routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/plannings/{id}/tracker",
            get(show).put(set).delete(clear),
        )
        .route("/api/plannings/{id}/tracker/test", post(test))
        .route("/api/plannings/{id}/tracker/import", post(import_issues))
        .route(
            "/api/plannings/{id}/tracker/writeback",
            post(write_back).get(write_states),
        )
}

impl From<TrackerError> for ApiError {
    fn from(e: TrackerError) -> Self {
        let (status, code) = match &e {
            TrackerError::Config(_) => (StatusCode::BAD_REQUEST, "tracker_invalid"),
            TrackerError::Unauthorized { .. } => (StatusCode::BAD_GATEWAY, "tracker_unauthorized"),
            TrackerError::Refused { .. } | TrackerError::NotFound(_) => {
                (StatusCode::BAD_GATEWAY, "tracker_refused")
            }
            TrackerError::RateLimited { .. } => (StatusCode::BAD_GATEWAY, "tracker_rate_limited"),
            TrackerError::Unavailable(_) | TrackerError::Protocol(_) => {
                (StatusCode::BAD_GATEWAY, "tracker_unavailable")
            }
        };
        ApiError::Body {
            status,
            code,
            message: e.to_string(),
        }
    }
}

fn facilitator(caller: &Caller) -> Result<(), ApiError> {
    if caller.role == Role::Facilitator {
        Ok(())
    } else {
        Err(DomainError::Forbidden {
            needed: "the facilitator",
        }
        .into())
    }
}

/// The connection as it may be shown: its settings, and that a credential is stored.
fn view(settings: &Settings) -> Value {
    let mut v = serde_json::to_value(settings).unwrap_or(Value::Null);
    v["credential"] = json!("stored");
    v
}

/// The stored connection, or 404.
async fn connection(app: &AppState, caller: &Caller) -> Result<(Settings, Credential), ApiError> {
    tracker::load(app, caller.room.shared.id)
        .await?
        .ok_or(ApiError::NotFound("tracker connection"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetBody {
    pub kind: tracker::Kind,
    pub site: String,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub repo: Option<String>,
    /// Jira Cloud: the account's email (basic auth with the token).
    #[serde(default)]
    pub email: Option<String>,
    /// The API token (Cloud), personal access token (Data Center) or GitHub token.
    pub token: String,
}

/// `PUT /api/plannings/{id}/tracker` `{kind, site, field?, repo?, email?, token}` → the
/// connection without its credential.
#[utoipa::path(
    put,
    path = "/api/plannings/{id}/tracker",
    tag = "trackers",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn set(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SetBody>,
) -> Result<Json<Value>, ApiError> {
    facilitator(&caller)?;
    commands::admit(&app, &caller.token_hash)?;
    let settings = Settings {
        kind: body.kind,
        site: body.site.trim().trim_end_matches('/').to_string(),
        field: body.field.map(|f| f.trim().to_string()),
        repo: body.repo.map(|r| r.trim().to_string()),
    };
    let credential = Credential {
        email: body.email.map(|e| e.trim().to_string()),
        token: body.token,
    };
    tracker::validate(&settings, &credential)?;
    // The outbound policy now, so a refused site is refused when it is set, not at the first
    // write-back (it is checked again at every use: DNS may change).
    tracker::Client::new(&app.limits.trackers, &settings, &credential).await?;
    let config = serde_json::to_string(&settings).unwrap_or_default();
    let secret = serde_json::to_string(&credential).unwrap_or_default();
    app.registry
        .store()
        .put_tracker_connection(
            caller.room.shared.id.0,
            &config,
            &secret,
            app.clock.now_micros(),
        )
        .await?;
    Ok(Json(view(&settings)))
}

/// `GET /api/plannings/{id}/tracker`: the connection without its credential.
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/tracker",
    tag = "trackers",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn show(
    AxState(app): AxState<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    facilitator(&caller)?;
    let (settings, _) = connection(&app, &caller).await?;
    Ok(Json(view(&settings)))
}

/// `DELETE /api/plannings/{id}/tracker`: forgets the connection and its credential; write-backs
/// still queued then fail with a reason.
#[utoipa::path(
    delete,
    path = "/api/plannings/{id}/tracker",
    tag = "trackers",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn clear(
    AxState(app): AxState<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    facilitator(&caller)?;
    app.registry
        .store()
        .delete_tracker_connection(caller.room.shared.id.0)
        .await?;
    Ok(Json(json!({ "cleared": true })))
}

/// `POST /api/plannings/{id}/tracker/test` → `{ok: true, account}`, or the tracker's refusal.
#[utoipa::path(
    post,
    path = "/api/plannings/{id}/tracker/test",
    tag = "trackers",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn test(
    AxState(app): AxState<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    facilitator(&caller)?;
    commands::admit(&app, &caller.token_hash)?;
    let (settings, credential) = connection(&app, &caller).await?;
    let t = tracker::connect(&app.limits.trackers, &settings, &credential).await?;
    let account = t.check().await?;
    Ok(Json(json!({ "ok": true, "account": account })))
}

#[derive(Debug, Deserialize, Default)]
pub struct ImportQuery {
    /// Answer the preview; nothing is written.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    #[serde(default)]
    pub jql: Option<String>,
    #[serde(default)]
    pub board: Option<u64>,
    #[serde(default)]
    pub sprint: Option<u64>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub milestone: Option<String>,
    #[serde(default)]
    pub client_op_id: Option<String>,
}

/// `POST /api/plannings/{id}/tracker/import[?dry_run=true]` `{jql | board+sprint | label |
/// milestone, client_op_id?}`: every page of the tracker's answer through the import's rules.
/// Issues whose key an item of the planning already has are skipped (`skipped`), so importing
/// the same query again adds only what is new.
#[utoipa::path(
    post,
    path = "/api/plannings/{id}/tracker/import",
    tag = "trackers",
    params(("id" = String, Path, description = "A planning's id."),
        ("dry_run" = Option<bool>, Query, description = "Preview: write nothing.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn import_issues(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ImportQuery>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<ImportBody>,
) -> Result<Json<Value>, crate::http::workflow::ImportFailure> {
    facilitator(&caller)?;
    let op = body
        .client_op_id
        .or(key)
        .unwrap_or_else(|| format!("tracker-import:{}", Uuid::new_v4()));
    check_op(&op)?;
    commands::admit(&app, &caller.token_hash)?;
    let (settings, credential) = connection(&app, &caller).await?;
    let t = tracker::connect(&app.limits.trackers, &settings, &credential).await?;
    let query = Query {
        jql: body.jql,
        board: body.board,
        sprint: body.sprint,
        label: body.label,
        milestone: body.milestone,
    };
    let issues = t
        .search(&query, crate::domain::decide::limits::IMPORT)
        .await?;
    let mut preview = import::preview_issues(&issues);
    let known: std::collections::BTreeSet<String> = caller.room.read(|l| {
        l.state
            .ranked_items()
            .filter_map(|i| i.draft.external_key.clone())
            .collect()
    });
    let (skipped, fresh): (Vec<_>, Vec<_>) = preview.items.into_iter().partition(|r| {
        r.draft
            .external_key
            .as_ref()
            .is_some_and(|k| known.contains(k))
    });
    preview.items = fresh;
    let skipped: Vec<Value> = skipped
        .iter()
        .map(|r| json!({ "line": r.line, "key": r.draft.external_key }))
        .collect();
    if q.dry_run {
        let mut out = serde_json::to_value(&preview).unwrap_or(Value::Null);
        out["dry_run"] = json!(true);
        out["fetched"] = json!(issues.len());
        out["skipped"] = json!(skipped);
        return Ok(Json(out));
    }
    if preview.items.is_empty() && preview.rows.is_empty() && !issues.is_empty() {
        return Ok(Json(json!({
            "client_op_id": op, "items": [], "skipped": skipped, "fetched": issues.len(),
        })));
    }
    let drafts =
        import::finish_preview(preview).map_err(crate::http::workflow::ImportFailure::Invalid)?;
    let (ack, items) = crate::http::workflow::import_drafts(
        &app,
        &caller,
        op.clone(),
        drafts,
        settings.kind.source(),
    )
    .await?;
    Ok(Json(json!({
        "client_op_id": op,
        "items": items,
        "skipped": skipped,
        "fetched": issues.len(),
        "first": ack.first,
        "head": ack.head,
        "duplicate": ack.duplicate,
    })))
}

/// `POST /api/plannings/{id}/tracker/writeback` → `{queued: [{item, key}], skipped: [{item,
/// reason}]}`: one write job per agreed estimate, now.
#[utoipa::path(
    post,
    path = "/api/plannings/{id}/tracker/writeback",
    tag = "trackers",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn write_back(
    AxState(app): AxState<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    facilitator(&caller)?;
    commands::admit(&app, &caller.token_hash)?;
    connection(&app, &caller).await?;
    let planning = caller.room.shared.id;
    // The clock is the generation: a second push writes again.
    let now = app.clock.now_micros();
    let (jobs, skipped) = caller
        .room
        .read(|l| tracker::write_jobs(planning, &l.state, now, now));
    tracker::queue(&app, &jobs).await?;
    let queued: Vec<Value> = jobs
        .iter()
        .filter_map(|j| serde_json::from_str::<tracker::WritePayload>(&j.payload).ok())
        .map(|p| json!({ "item": p.item, "key": p.key, "estimate": p.estimate.card }))
        .collect();
    Ok(Json(json!({ "queued": queued, "skipped": skipped })))
}

/// `GET /api/plannings/{id}/tracker/writeback` (any participant): each item's latest
/// write-back: `pending`, `retrying` (with the last error), `verified` or `failed` (with why).
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/tracker/writeback",
    tag = "trackers",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn write_states(
    AxState(app): AxState<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    crate::http::api::admit_read(&app, &caller)?;
    let jobs = app
        .registry
        .store()
        .jobs_of(caller.room.shared.id.0, tracker::WRITE_JOB)
        .await?;
    // Whether a connection is set, so a page learns it without asking for one that is not there.
    let connected = tracker::load(&app, caller.room.shared.id).await?.is_some();
    Ok(Json(
        json!({ "connected": connected, "writes": tracker::write_states(jobs) }),
    ))
}
