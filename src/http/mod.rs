//! The REST transport: one module per concern, each owning its routes, merged in [`router`].

pub mod api;
pub mod caller;
pub mod client;
pub mod comments;
pub mod error;
pub mod schedule_api;
pub mod teams;
pub mod webhook_api;
pub mod workflow;

use crate::engine::app::AppState;
use crate::engine::{auth, metrics};
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::Router;
use std::time::Duration;

/// The REST routes, the metrics and health probes, and the web client as the fallback; the
/// caller adds the websocket route and the state.
pub fn router(app: AppState) -> Router<AppState> {
    let timeout = Duration::from_secs(app.limits.request_timeout_secs.max(1));
    let api = Router::new()
        .route("/api/plannings", post(api::create_planning))
        .route("/api/plannings/{id}", get(api::read_planning))
        .route("/api/plannings/{id}/join", post(api::join))
        .route("/api/plannings/{id}/commands", post(api::command))
        .route("/api/plannings/{id}/events", get(api::events))
        .route("/api/plannings/{id}/timeline", get(api::timeline))
        .route("/api/plannings/{id}/comments", get(comments::planning_page))
        .route(
            "/api/plannings/{id}/items/{item}/comments",
            get(comments::item_page),
        )
        .route("/api/plannings/{id}/audit", get(api::audit))
        .route("/api/plannings/{id}/verify", get(api::verify))
        .route("/api/plannings/{id}/digest", get(api::digest))
        .route("/api/plannings/{id}/invites", post(api::rotate_invite))
        .route(
            "/api/plannings/{id}/participants/{pid}/link",
            post(api::reissue_link),
        )
        .route(
            "/api/plannings/{id}/participants/{pid}",
            delete(api::remove_participant),
        )
        .route(
            "/api/plannings/{id}/webhooks",
            post(webhook_api::register).get(webhook_api::list),
        )
        .route(
            "/api/plannings/{id}/webhooks/{webhook}",
            delete(webhook_api::remove),
        )
        .route("/api/plannings/{id}/import", post(workflow::import_items))
        .route("/api/plannings/{id}/inbox", get(workflow::inbox))
        .route("/api/plannings/{id}/slots", get(schedule_api::slots))
        .route(
            "/api/plannings/{id}/readiness",
            get(schedule_api::readiness),
        )
        .route(
            "/api/plannings/{id}/export/estimates",
            get(workflow::export_estimates),
        )
        .route("/api/teams", post(teams::create_team))
        .route("/api/teams/{id}", get(teams::read_team))
        .route("/api/teams/{id}/roster", put(teams::set_roster))
        .route(
            "/api/teams/{id}/plannings",
            post(teams::create_team_planning),
        )
        .route("/api/my-plannings", post(teams::my_plannings))
        .layer(DefaultBodyLimit::max(app.limits.max_body_bytes))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            count_refusals,
        ));
    Router::new()
        .merge(api)
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(render_metrics))
        .fallback(client::serve)
}

/// `GET /metrics`: Prometheus text, behind `--metrics-token` when one is set.
async fn render_metrics(
    axum::extract::State(app): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<String, error::ApiError> {
    if let Some(want) = &app.limits.metrics_token {
        let given = caller::token_from(&headers, None).unwrap_or_default();
        if !auth::constant_time_eq(&given, want) {
            return Err(error::ApiError::Unauthorized);
        }
    }
    Ok(app.metrics.render() + &metrics::render_limits(&app.limits))
}

/// Counts requests refused by the timeout and body-size layers, and gives the timeout's bare
/// 408 the JSON error shape every other refusal has. A body whose `Content-Length` is over the
/// limit is refused before it is read: the client gets its 413 at once instead of uploading a
/// body that is thrown away (and, with a client that writes it all before reading, instead of
/// a broken pipe when the server closes after reading only the limit).
async fn count_refusals(
    axum::extract::State(app): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use std::sync::atomic::Ordering::Relaxed;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > app.limits.max_body_bytes as u64) {
        app.metrics.bodies_too_large.fetch_add(1, Relaxed);
        return error::ApiError::Body {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "too_large",
            message: format!(
                "request bodies are limited to {} bytes",
                app.limits.max_body_bytes
            ),
        }
        .into_response();
    }
    let resp = next.run(req).await;
    match resp.status() {
        StatusCode::REQUEST_TIMEOUT => {
            app.metrics.request_timeouts.fetch_add(1, Relaxed);
            error::ApiError::Timeout.into_response()
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            app.metrics.bodies_too_large.fetch_add(1, Relaxed);
            resp
        }
        _ => resp,
    }
}
