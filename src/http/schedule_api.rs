//! REST routes of the schedule and the async practices, thin over pure functions:
//!
//! - `GET /api/plannings/{id}/slots?from=&to=&minutes=&step=&limit=`: sync slots inside most
//!   participants' working hours ([`crate::domain::slots`]);
//! - `GET /api/plannings/{id}/fit?start=&minutes=`: who a time (a deadline, or a session of
//!   `minutes`) falls inside and outside the working hours of, for a warning before it is set
//!   ([`crate::domain::slots::fit`]);
//! - `GET /api/plannings/{id}/readiness`: whether async prep is likely to work, with the plain
//!   advice ([`crate::domain::readiness`]).
//!
//! Shapes are documented in `docs/protocol.md`.

use crate::domain::event::Micros;
use crate::domain::slots::{self, SlotError, SlotMember, SlotQuery};
use crate::domain::state::State;
use crate::engine::app::AppState;
use crate::http::caller::Caller;
use crate::http::error::{bad_query, in_range, out_of_range, ApiError, ApiQuery};
use axum::extract::State as AxState;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

/// The schedule routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/plannings/{id}/slots", get(slots))
        .route("/api/plannings/{id}/fit", get(fit))
        .route("/api/plannings/{id}/readiness", get(readiness))
}

#[derive(Debug, Deserialize, Default)]
pub struct SlotsQuery {
    /// RFC 3339 (`2026-06-16T00:00:00Z`); default: now.
    #[serde(default)]
    pub from: Option<String>,
    /// RFC 3339; default: `from` + 7 days.
    #[serde(default)]
    pub to: Option<String>,
    /// Default: the schedule's session length, else 45.
    #[serde(default)]
    pub minutes: Option<u32>,
    #[serde(default)]
    pub step: Option<u32>,
    #[serde(default)]
    pub limit: Option<usize>,
}

const DAY: Micros = 24 * 3600 * 1_000_000;

fn parse_time(raw: &str, what: &str) -> Result<Micros, ApiError> {
    raw.parse::<jiff::Timestamp>()
        .map(|t| t.as_microsecond())
        .map_err(|_| {
            bad_query(format!(
                "{what} must be an RFC 3339 time, e.g. 2026-06-16T09:00:00Z"
            ))
        })
}

/// The participants who attend the live session with their working hours; those without a
/// time zone are returned apart, with their names.
pub fn attendees(state: &State) -> (Vec<SlotMember>, Vec<Value>) {
    let (placed, unplaced) = crate::domain::hours::attendees(state);
    let unplaced = unplaced
        .into_iter()
        .map(
            |id| json!({"participant": id, "name": state.participant(id).map(|p| p.name.as_str())}),
        )
        .collect();
    (placed, unplaced)
}

/// `GET /api/plannings/{id}/slots` (any participant).
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/slots",
    tag = "schedule",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn slots(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SlotsQuery>,
) -> Result<Json<Value>, ApiError> {
    let from = match &q.from {
        Some(raw) => parse_time(raw, "from")?,
        None => app.clock.now_micros(),
    };
    let to = match &q.to {
        Some(raw) => parse_time(raw, "to")?,
        None => from.saturating_add(7 * DAY),
    };
    let (members, unplaced, minutes) = caller.room.read(|l| {
        let (m, u) = attendees(&l.state);
        (m, u, l.state.schedule.sync_minutes)
    });
    let query = SlotQuery {
        from,
        to,
        minutes: in_range(
            "minutes",
            q.minutes.or(minutes).unwrap_or(45),
            1,
            Some(slots::MAX_SLOT_MINUTES),
        )?,
        step_minutes: q.step.unwrap_or(15),
        limit: in_range("limit", q.limit.unwrap_or(5), 1, Some(slots::MAX_SLOTS))?,
    };
    let found = slots::find_slots(&members, &query).map_err(|e| match e {
        SlotError::BadWindow => out_of_range(
            "to",
            "after from, at most 31 days later (from defaults to now, to to 7 days after from)",
        ),
        SlotError::BadStep => out_of_range("step", "one of 5, 10, 15, 20, 30 or 60"),
        e => ApiError::BadRequest(e.to_string()),
    })?;
    let mut body = json!({
        "from": query.from,
        "from_utc": crate::read::utc::rfc3339(query.from),
        "to": query.to,
        "to_utc": crate::read::utc::rfc3339(query.to),
        "minutes": query.minutes,
        "members": members.len(),
        "without_time_zone": unplaced,
        "slots": found,
    });
    for slot in body["slots"].as_array_mut().into_iter().flatten() {
        // Slot bounds are session times too: give them their UTC twins.
        if let (Some(s), Some(e)) = (slot["start"].as_i64(), slot["end"].as_i64()) {
            slot["start_utc"] = json!(crate::read::utc::rfc3339(s));
            slot["end_utc"] = json!(crate::read::utc::rfc3339(e));
        }
    }
    Ok(Json(body))
}

#[derive(Debug, Deserialize, Default)]
pub struct FitQuery {
    /// RFC 3339: the deadline, or the session's start.
    pub start: String,
    /// The session's length; 0 (default) for an instant such as a deadline.
    #[serde(default)]
    pub minutes: u32,
}

/// `GET /api/plannings/{id}/fit` (any participant): who `start` (for `minutes`) falls inside
/// and outside the working hours of, measured as the slot finder measures.
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/fit",
    tag = "schedule",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn fit(caller: Caller, ApiQuery(q): ApiQuery<FitQuery>) -> Result<Json<Value>, ApiError> {
    let start = parse_time(&q.start, "start")?;
    in_range("minutes", q.minutes, 0, Some(slots::MAX_SLOT_MINUTES))?;
    let end = start.saturating_add(q.minutes as Micros * 60_000_000);
    let (members, unplaced) = caller.room.read(|l| attendees(&l.state));
    let slot = slots::fit(&members, start, end);
    Ok(Json(json!({
        "start": start,
        "start_utc": crate::read::utc::rfc3339(start),
        "end": end,
        "end_utc": crate::read::utc::rfc3339(end),
        "inside": slot.inside,
        "outside": slot.outside,
        "without_time_zone": unplaced,
    })))
}

/// `GET /api/plannings/{id}/readiness` (any participant).
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/readiness",
    tag = "schedule",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn readiness(caller: Caller) -> Result<Json<Value>, ApiError> {
    let body = caller.room.read(|l| {
        let mut v =
            serde_json::to_value(crate::domain::readiness::report(&l.state)).unwrap_or(Value::Null);
        v["head"] = json!(l.head);
        v
    });
    Ok(Json(body))
}
