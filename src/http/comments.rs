//! Routes for pages of a thread's older comments (the paging itself is [`crate::read::comments`]).

use crate::domain::ids::ItemId;
use crate::engine::app::AppState;
use crate::http::caller::Caller;
use crate::http::error::ApiPath;
use crate::http::error::{in_range, ApiError, ApiQuery};
use crate::read::comments::{page, CommentView, PAGE_DEFAULT, PAGE_MAX};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

/// The comment paging routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/plannings/{id}/comments", get(planning_page))
        .route("/api/plannings/{id}/items/{item}/comments", get(item_page))
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// Comments posted before this posting number (`n`); the newest when absent.
    pub before: Option<u64>,
    pub limit: Option<usize>,
}

/// `GET /api/plannings/{id}/items/{item}/comments?before=&limit=`: a page of an item's thread.
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/items/{item}/comments",
    tag = "comments",
    params(("id" = String, Path, description = "A planning's id."), ("item" = String, Path, description = "An item's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn item_page(
    caller: Caller,
    ApiPath((_, item)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let item: ItemId = item.parse().map_err(|_| ApiError::NotFound("item"))?;
    respond(caller, Some(item), q)
}

/// `GET /api/plannings/{id}/comments?before=&limit=`: a page of the planning's own thread
/// (comments on no item).
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/comments",
    tag = "comments",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn planning_page(
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    respond(caller, None, q)
}

fn respond(caller: Caller, item: Option<ItemId>, q: PageQuery) -> Result<Json<Value>, ApiError> {
    let limit = in_range("limit", q.limit.unwrap_or(PAGE_DEFAULT), 1, Some(PAGE_MAX))?;
    // Built under the read lock, serialised after it is released.
    let (head, comments, before) = caller.room.read(|l| {
        if item.is_some_and(|i| !l.state.items.contains_key(&i)) {
            return Err(ApiError::NotFound("item"));
        }
        let (comments, before) = page(&l.state, item, q.before, limit);
        let comments: Vec<CommentView> = comments
            .iter()
            .map(|c| CommentView::of(&l.state, c))
            .collect();
        Ok((l.head, comments, before))
    })?;
    Ok(Json(json!({
        "planning": caller.room.shared.id,
        "item": item,
        "head": head,
        "comments": comments,
        "before": before,
    })))
}
