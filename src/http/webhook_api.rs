//! REST routes for outbound webhooks: register (returns the signing secret once), list, remove.
//!
//! Registration is a REST-only path, not a plain command: the URL must be checked against the
//! SSRF policy (DNS, so not in the pure domain) before `RegisterWebhook` is decided, and the
//! server must generate and keep the secret. The command's `url_checked` attestation cannot be
//! sent by clients, so the generic command paths refuse `RegisterWebhook`.

use crate::domain::command::Command;
use crate::domain::command::{RegisterWebhook, RemoveWebhook};
use crate::domain::event::{Event, Role, WebhookFormat};
use crate::domain::ids::WebhookId;
use crate::domain::DomainError;
use crate::engine::app::AppState;
use crate::engine::auth::new_secret;
use crate::engine::commands;
use crate::engine::room::decode_all;
use crate::engine::webhook;
use crate::http::api::check_op;
use crate::http::caller::{Caller, IdempotencyKey};
use crate::http::error::ApiPath;
use crate::http::error::{ApiError, ApiJson};
use axum::extract::State as AxState;
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// The webhook routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/plannings/{id}/webhooks", post(register).get(list))
        .route("/api/plannings/{id}/webhooks/{webhook}", delete(remove))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    pub url: String,
    /// Event kinds to receive; empty or absent means all of them.
    #[serde(default)]
    pub events: Vec<String>,
    /// The shape of the bodies: `generic` (default), `slack`, `teams` or `mattermost`.
    #[serde(default)]
    pub format: WebhookFormat,
    /// Idempotency key; a retry with the same key returns the same webhook and secret.
    #[serde(default)]
    pub client_op_id: Option<String>,
}

/// Only the facilitator manages webhooks; checked before any DNS lookup, so members cannot use
/// registration to probe which names resolve where.
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

/// The client's answer to a refused URL. Where a host resolves (or that it does not) stays in
/// the server's log: anyone can create a planning and so register webhooks, and the answer
/// must not let them map the operator's internal DNS (`db.internal resolves to 10.1.2.3`).
fn refusal(e: webhook::UrlError) -> ApiError {
    match e {
        webhook::UrlError::Internal { .. } | webhook::UrlError::Unresolvable(_) => {
            tracing::info!(error = %e, "webhook URL refused");
            ApiError::BadRequest(
                "the webhook URL's host does not resolve to public addresses only (private, \
                 loopback, link-local and similar ranges need the operator's --webhook-allow)"
                    .into(),
            )
        }
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// `POST /api/plannings/{id}/webhooks` `{url, events?, format?, client_op_id?}` →
/// `{webhook, url, events, format, secret, standard_secret, head}`.
#[utoipa::path(
    post,
    path = "/api/plannings/{id}/webhooks",
    tag = "webhooks",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn register(
    AxState(app): AxState<AppState>,
    caller: Caller,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Json<Value>, ApiError> {
    facilitator(&caller)?;
    // Admitted before the URL's DNS lookup: lookups cost too.
    commands::admit(&app, &caller.token_hash)?;
    let op = body
        .client_op_id
        .or(key)
        .unwrap_or_else(|| format!("webhook:{}", Uuid::new_v4()));
    check_op(&op)?;
    webhook::check_url(&app.limits.webhooks, &body.url)
        .await
        .map_err(refusal)?;
    let planning = caller.room.shared.id;
    let register = Command::RegisterWebhook(RegisterWebhook {
        url: body.url,
        events: body.events,
        format: body.format,
        url_checked: true,
    });
    let ack = commands::execute(
        &app,
        &caller.room,
        caller.participant,
        op.clone(),
        None,
        register,
    )
    .await?;
    // The webhook's id was drawn by the domain: read it from the event (this also answers a
    // retried registration, whose ack points at the original event).
    let store = app.registry.store().clone();
    let stored = store.read(planning.0, ack.first - 1, 1).await?;
    let Some(Event::WebhookRegistered {
        webhook,
        url,
        events,
        format,
        ..
    }) = decode_all(&stored)?.into_iter().next()
    else {
        return Err(ApiError::BadRequest(
            "this client_op_id was used for another command".into(),
        ));
    };
    // Stored after the event commits: if the server dies in between, deliveries wait (and
    // retry) until the facilitator retries this request with the same client_op_id.
    let secret = store
        .put_webhook_secret(planning.0, webhook.0, &new_secret(), app.clock.now_micros())
        .await?;
    Ok(Json(json!({
        "webhook": webhook,
        "url": url,
        "events": events,
        "format": format,
        "secret": secret,
        "standard_secret": webhook::standard_secret(&secret),
        "client_op_id": op,
        "head": ack.head,
    })))
}

/// `GET /api/plannings/{id}/webhooks`: the facilitator's list, full URLs, no secrets.
#[utoipa::path(
    get,
    path = "/api/plannings/{id}/webhooks",
    tag = "webhooks",
    params(("id" = String, Path, description = "A planning's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn list(caller: Caller) -> Result<Json<Value>, ApiError> {
    facilitator(&caller)?;
    let hooks: Vec<Value> = caller.room.read(|l| {
        l.state
            .webhooks
            .values()
            .map(|h| {
                json!({
                    "webhook": h.id,
                    "url": h.url,
                    "events": h.events,
                    "format": h.format,
                    "at": h.at,
                })
            })
            .collect()
    });
    Ok(Json(json!({ "webhooks": hooks })))
}

/// `DELETE /api/plannings/{id}/webhooks/{webhook}`: stop delivering; the secret is forgotten.
#[utoipa::path(
    delete,
    path = "/api/plannings/{id}/webhooks/{webhook}",
    tag = "webhooks",
    params(("id" = String, Path, description = "A planning's id."), ("webhook" = String, Path, description = "A webhook's id.")),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "Done; the body is described in docs/protocol.md."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn remove(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiPath((_, wid)): ApiPath<(String, String)>,
    IdempotencyKey(key): IdempotencyKey,
) -> Result<Json<Value>, ApiError> {
    let webhook: WebhookId = wid.parse().map_err(|_| ApiError::NotFound("webhook"))?;
    let op = key.unwrap_or_else(|| format!("remove-webhook:{webhook}"));
    let remove = Command::RemoveWebhook(RemoveWebhook { webhook });
    let ack = commands::run(&app, &caller, op, None, remove).await?;
    app.registry
        .store()
        .delete_webhook_secret(webhook.0)
        .await?;
    Ok(Json(json!({ "webhook": webhook, "head": ack.head })))
}
