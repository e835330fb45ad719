//! REST conveniences of the async → sync workflow: backlog import, personal inbox, write-back.
//!
//! - `POST /api/plannings/{id}/import?format=csv|jira`: parses the raw body
//!   ([`crate::read::import`]) and runs `ImportItems` through the room;
//! - `GET /api/plannings/{id}/inbox`: the caller's inbox and who hasn't voted
//!   ([`crate::domain::inbox`]);
//! - `GET /api/plannings/{id}/export/estimates?format=csv|json`: agreed estimates for a tracker
//!   ([`crate::read::export`]).
//!
//! Shapes are documented in `docs/protocol.md`.

use crate::domain::command::Command;
use crate::domain::command::ImportItems;
use crate::domain::event::{Event, Role};
use crate::domain::DomainError;
use crate::engine::app::AppState;
use crate::engine::commands;
use crate::engine::room::decode_all;
use crate::http::api::check_op;
use crate::http::caller::{Caller, IDEMPOTENCY_KEY};
use crate::http::error::ApiQuery;
use crate::http::error::{bad_query, ApiBytes, ApiError};
use crate::read::import::{self, Format, ImportError};
use axum::extract::State as AxState;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// The workflow routes: import, inbox, export.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/plannings/{id}/import", post(import_items))
        .route("/api/plannings/{id}/inbox", get(inbox))
        .route(
            "/api/plannings/{id}/export/estimates",
            get(export_estimates),
        )
}

/// Header carrying a client op id for the import (the query parameter wins, then
/// `Idempotency-Key`).
pub const OP_HEADER: &str = "x-client-op-id";

#[derive(Debug, Deserialize, Default)]
pub struct ImportQuery {
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub client_op_id: Option<String>,
    /// Parse and answer the preview ([`import::preview`]); nothing is written.
    #[serde(default)]
    pub dry_run: bool,
}

/// An import refused as a whole, or any other API error.
pub enum ImportFailure {
    Invalid(ImportError),
    Api(ApiError),
}

impl<E: Into<ApiError>> From<E> for ImportFailure {
    fn from(e: E) -> Self {
        ImportFailure::Api(e.into())
    }
}

impl IntoResponse for ImportFailure {
    fn into_response(self) -> Response {
        match self {
            ImportFailure::Api(e) => e.into_response(),
            ImportFailure::Invalid(e) => (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": {
                    "code": "import_invalid",
                    "message": e.message,
                    "rows": e.rows,
                }})),
            )
                .into_response(),
        }
    }
}

/// The format from `?format=`, else from the content type.
fn import_format(q: Option<&str>, headers: &HeaderMap) -> Result<Format, ApiError> {
    if let Some(f) = q {
        return Format::parse(f).ok_or_else(|| bad_query("format must be csv or jira"));
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.starts_with("text/csv") {
        Ok(Format::Csv)
    } else if ct.starts_with("application/json") {
        Ok(Format::Jira)
    } else {
        Err(ApiError::BadRequest(
            "give ?format=csv or ?format=jira".into(),
        ))
    }
}

/// `POST /api/plannings/{id}/import?format=csv|jira` (facilitator).
#[utoipa::path(
    post,
    path = "/api/plannings/{id}/import",
    tag = "backlog",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn import_items(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<Json<Value>, ImportFailure> {
    if caller.role != Role::Facilitator {
        return Err(DomainError::Forbidden {
            needed: "the facilitator",
        }
        .into());
    }
    let op = match q.client_op_id.clone().or_else(|| {
        [IDEMPOTENCY_KEY, OP_HEADER]
            .iter()
            .find_map(|h| headers.get(*h)?.to_str().ok())
            .map(str::to_string)
    }) {
        Some(op) => {
            check_op(&op)?;
            op
        }
        None => format!("import:{}", Uuid::new_v4()),
    };
    let format = import_format(q.format.as_deref(), &headers)?;
    commands::admit(&app, &caller.token_hash)?;
    let text = std::str::from_utf8(&body).map_err(|e| {
        ImportFailure::Invalid(ImportError {
            message: format!("the body is not valid UTF-8 (at byte {})", e.valid_up_to()),
            rows: Vec::new(),
        })
    })?;
    if q.dry_run {
        let preview = import::preview(format, text).map_err(ImportFailure::Invalid)?;
        let mut body = serde_json::to_value(preview).unwrap_or(Value::Null);
        body["dry_run"] = json!(true);
        return Ok(Json(body));
    }
    let drafts = import::parse(format, text).map_err(ImportFailure::Invalid)?;
    let (ack, items) = import_drafts(&app, &caller, op.clone(), drafts, format.source()).await?;
    Ok(Json(json!({
        "client_op_id": op,
        "items": items,
        "first": ack.first,
        "head": ack.head,
        "duplicate": ack.duplicate,
    })))
}

/// Imports `drafts` as one command and answers with its ack and the new items' ids, read from
/// the event itself (for a retried import too: `first` is the original event). The file import
/// and the tracker import both end here.
pub async fn import_drafts(
    app: &AppState,
    caller: &Caller,
    op: String,
    drafts: Vec<crate::domain::event::ItemDraft>,
    source: &str,
) -> Result<(crate::engine::room::Ack, Vec<Value>), ApiError> {
    let import = Command::ImportItems(ImportItems {
        items: drafts,
        source: source.into(),
    });
    let ack = commands::execute(app, &caller.room, caller.participant, op, None, import).await?;
    let stored = app
        .registry
        .store()
        .read(caller.room.shared.id.0, ack.first - 1, 1)
        .await?;
    let items = decode_all(&stored)?
        .into_iter()
        .find_map(|e| match e {
            Event::ItemsImported { items, .. } => {
                Some(items.into_iter().map(|n| json!(n.item)).collect())
            }
            _ => None,
        })
        .unwrap_or_default();
    Ok((ack, items))
}

/// `GET /api/plannings/{id}/inbox`: the caller's inbox.
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/inbox",
    tag = "backlog",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn inbox(
    AxState(app): AxState<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let now = app.clock.now_micros();
    // Built under the read lock, serialised after it is released.
    let (head, inbox) = caller.room.read(|l| {
        let inbox = crate::domain::inbox::inbox(&l.state, caller.participant, now);
        (l.head, crate::read::inbox::InboxView::from(inbox))
    });
    let mut body = serde_json::to_value(inbox).unwrap_or(Value::Null);
    body["head"] = json!(head);
    Ok(Json(body))
}

#[derive(Debug, Deserialize, Default)]
pub struct ExportQuery {
    #[serde(default)]
    pub format: Option<String>,
}

/// `GET /api/plannings/{id}/export/estimates?format=csv|json` (any participant).
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/export/estimates",
    tag = "backlog",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn export_estimates(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    crate::http::api::admit_read(&app, &caller)?;
    let rows = caller.room.read(|l| crate::read::export::rows(&l.state));
    let planning = caller.room.shared.id;
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(crate::read::export::to_json(&rows)).into_response()),
        "csv" => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"estimates-{planning}.csv\""),
                ),
            ],
            crate::read::export::to_csv(&rows),
        )
            .into_response()),
        _ => Err(bad_query("format must be csv or json")),
    }
}
