//! The calendar routes: a participant's `.ics` of the live session and the estimation deadline
//! ([`crate::read::calendar`]), and the subscription link that fetches it without a token.
//!
//! - `GET /api/plannings/{id}/calendar.ics`: with the personal token (header or `?token=`), or
//!   with `?participant=<id>&key=<calendar key>`;
//! - `GET /api/plannings/{id}/calendar`: the caller's subscription link.
//!
//! Calendar apps fetch a subscription without headers, so the link carries a credential in
//! its query, and such URLs end up in proxies' and the apps' logs. The calendar key is not
//! the personal token: an HMAC of the server's key over the planning, the participant and
//! their current token hashes, it opens that participant's calendar and nothing else, and
//! reissuing the personal link (which changes the token hashes) retires it.

use crate::domain::ids::{ParticipantId, PlanningId};
use crate::domain::secret::same_hash;
use crate::engine::app::AppState;
use crate::engine::commands::server_key;
use crate::http::api::admit_read;
use crate::http::caller::{authenticate, planning_id, Caller, Token};
use crate::http::error::{ApiError, ApiQuery};
use crate::store::StoreError;
use axum::extract::{Path, State as AxState};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;

/// The calendar routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/plannings/{id}/calendar.ics", get(ics))
        .route("/api/plannings/{id}/calendar", get(link))
}

#[derive(Debug, Deserialize)]
pub struct CalendarQuery {
    #[serde(default)]
    participant: Option<String>,
    #[serde(default)]
    key: Option<String>,
}

/// The calendar key of `participant` (see the module docs).
async fn calendar_key(
    app: &AppState,
    planning: PlanningId,
    participant: ParticipantId,
    token_hashes: &[String],
) -> Result<String, StoreError> {
    let key = server_key(app).await?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    let mut hashes = token_hashes.to_vec();
    hashes.sort();
    let parts = [
        "calendar".as_bytes(),
        planning.0.as_bytes(),
        participant.0.as_bytes(),
    ];
    for part in parts.into_iter().chain(hashes.iter().map(String::as_bytes)) {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// `GET /api/plannings/{id}/calendar.ics` → `text/calendar`.
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/calendar.ics",
    tag = "calendar",
    params(("id" = String, Path, description = "A planning's id."),
        ("participant" = Option<String>, Query, description = "With `key`: a subscription link's participant."),
        ("key" = Option<String>, Query, description = "With `participant`: the calendar key from `GET …/calendar`.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn ics(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<CalendarQuery>,
    Token(token): Token,
) -> Result<Response, ApiError> {
    let planning = planning_id(&id)?;
    let (room, participant) = match (q.participant, q.key) {
        (Some(participant), Some(key)) => {
            let participant: ParticipantId =
                participant.parse().map_err(|_| ApiError::Unauthorized)?;
            let room = app
                .registry
                .get(planning)
                .await?
                .ok_or(ApiError::NotFound("planning"))?;
            let hashes = room.read(|l| {
                l.state
                    .participants
                    .get(&participant)
                    .filter(|p| !p.removed)
                    .map(|p| p.token_hashes.clone())
            });
            let hashes = hashes.ok_or(ApiError::Unauthorized)?;
            let expected = calendar_key(&app, planning, participant, &hashes).await?;
            if !same_hash(&expected, &key) {
                return Err(ApiError::Unauthorized);
            }
            crate::engine::commands::admit_read(&app, &expected)
                .map_err(|_| ApiError::TooManyReads)?;
            (room, participant)
        }
        _ => {
            let caller = authenticate(&app, planning, token).await?;
            admit_read(&app, &caller)?;
            (caller.room, caller.participant)
        }
    };
    let planning_url = format!("{}/#/p/{planning}", app.public_url);
    let now = app.clock.now_micros();
    let body = room
        .read(|l| crate::read::calendar::ics(planning, &l.state, participant, &planning_url, now));
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"sprintlog.ics\"",
            ),
            // Personal: never kept by a shared cache.
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        body,
    )
        .into_response())
}

/// `GET /api/plannings/{id}/calendar` → `{ics, webcal}`: the caller's subscription link, as
/// `https://…` (download) and `webcal://…` (subscribe).
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/calendar",
    tag = "calendar",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn link(
    AxState(app): AxState<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let planning = caller.room.shared.id;
    let hashes = caller.room.read(|l| {
        l.state
            .participants
            .get(&caller.participant)
            .map(|p| p.token_hashes.clone())
            .unwrap_or_default()
    });
    let key = calendar_key(&app, planning, caller.participant, &hashes).await?;
    let ics = format!(
        "{}/api/plannings/{planning}/calendar.ics?participant={}&key={key}",
        app.public_url, caller.participant
    );
    let webcal = ics
        .strip_prefix("https://")
        .or_else(|| ics.strip_prefix("http://"))
        .map(|rest| format!("webcal://{rest}"))
        .unwrap_or_default();
    Ok(Json(json!({ "ics": ics, "webcal": webcal })))
}
