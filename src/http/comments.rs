//! Routes for pages of a thread's older comments (the paging itself is [`crate::read::comments`]).

use crate::domain::ids::ItemId;
use crate::engine::app::AppState;
use crate::http::api::caller;
use crate::http::error::{ApiError, ApiQuery};
use crate::read::comments::{page, CommentView, PAGE_DEFAULT, PAGE_MAX};
use axum::extract::{Path, State as AxState};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// Comments posted before this posting number (`n`); the newest when absent.
    pub before: Option<u64>,
    pub limit: Option<usize>,
    pub token: Option<String>,
}

/// `GET /api/plannings/{id}/items/{item}/comments?before=&limit=`: a page of an item's thread.
pub async fn item_page(
    AxState(app): AxState<AppState>,
    Path((id, item)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<PageQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let item: ItemId = item.parse().map_err(|_| ApiError::NotFound("item"))?;
    respond(app, id, Some(item), q, headers).await
}

/// `GET /api/plannings/{id}/comments?before=&limit=`: a page of the planning's own thread
/// (comments on no item).
pub async fn planning_page(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    respond(app, id, None, q, headers).await
}

async fn respond(
    app: AppState,
    id: String,
    item: Option<ItemId>,
    q: PageQuery,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&app, &id, &headers, q.token.as_deref()).await?;
    let limit = q.limit.unwrap_or(PAGE_DEFAULT).clamp(1, PAGE_MAX);
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
