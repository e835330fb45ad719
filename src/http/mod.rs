//! The REST transport: one module per concern, each owning its routes, merged in [`router`].

pub mod access;
pub mod api;
pub mod calendar_api;
pub mod caller;
pub mod client;
pub mod comments;
pub mod error;
pub mod guard;
pub mod plain;
pub mod schedule_api;
pub mod teams;
pub mod tracker_api;
pub mod webhook_api;
pub mod workflow;

use crate::engine::app::AppState;
use crate::engine::{auth, metrics};
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use std::time::Duration;

/// The REST routes, the metrics and health probes, and the web client as the fallback; the
/// caller adds the websocket route and the state.
pub fn router(app: AppState) -> Router<AppState> {
    let timeout = Duration::from_secs(app.limits.request_timeout_secs.max(1));
    let api = Router::new()
        .merge(api::router())
        .merge(comments::router())
        .merge(webhook_api::router())
        .merge(workflow::router())
        .merge(schedule_api::router())
        .merge(calendar_api::router())
        .merge(teams::router())
        .merge(tracker_api::router())
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
        .route("/healthz", get(healthz))
        .route("/readyz", get(readiness))
        .route("/metrics", get(render_metrics))
        .fallback(client::serve)
        // Gzip for a client that asks (`Accept-Encoding`): a view, an audit or an export is
        // tens of kilobytes of repetitive JSON. Small answers (under 32 bytes) stay as they are.
        .layer(tower_http::compression::CompressionLayer::new())
}

/// `GET /healthz`: `ok` while the process serves (it does not look at the database).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "`ok`", content_type = "text/plain"))
)]
pub async fn healthz() -> &'static str {
    "ok"
}

/// How long `/readyz` waits for the database before answering that it is not ready.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /readyz`: `ready` once the database answers a read within [`READINESS_TIMEOUT`];
/// otherwise 503 `unavailable` (take the node out of rotation; `/healthz` stays 200 for a
/// process that is alive).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "`ready`", content_type = "text/plain"),
        (status = 503, description = "`unavailable`: the database does not answer."),
    )
)]
pub async fn readiness(
    axum::extract::State(app): axum::extract::State<AppState>,
) -> Result<&'static str, error::ApiError> {
    let probe = app.registry.store().head(uuid::Uuid::nil());
    match tokio::time::timeout(READINESS_TIMEOUT, probe).await {
        Ok(Ok(_)) => Ok("ready"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the database refuses");
            Err(error::ApiError::Unavailable)
        }
        Err(_) => {
            tracing::warn!("not ready: the database does not answer");
            Err(error::ApiError::Unavailable)
        }
    }
}

/// `GET /metrics`: Prometheus text, behind `--metrics-token` when one is set.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text format 0.0.4.", content_type = "text/plain"),
        (status = 401, description = "`--metrics-token` is set and was not given."),
    )
)]
pub async fn render_metrics(
    axum::extract::State(app): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<impl axum::response::IntoResponse, error::ApiError> {
    if let Some(want) = &app.limits.metrics_token {
        let given = caller::token_from(&headers, None).unwrap_or_default();
        if !auth::constant_time_eq(&given, want) {
            return Err(error::ApiError::Unauthorized);
        }
    }
    let text = metrics::render(
        app.metrics.clone(),
        app.refusals.clone(),
        app.limits.clone(),
    );
    Ok((
        [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        text,
    ))
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
