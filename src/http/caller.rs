//! Who a request comes from: the [`Caller`] extractor (a planning's participant, from the
//! path's `{id}` and a personal token), the bare [`Token`], and for requests that present no
//! credential the [`Anonymous`] client's address (the key of their rate limit).

use crate::domain::ids::PlanningId;
use crate::engine::app::AppState;
use crate::engine::auth::hash_secret;
pub use crate::engine::commands::Caller;
use crate::http::api::check_op;
use crate::http::error::{ApiError, ApiQuery};
use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};

/// The token from `Authorization: Bearer …`, else from `?token=`.
pub fn token_from(headers: &HeaderMap, query_token: Option<&str>) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .or_else(|| query_token.map(str::to_string))
        .filter(|t| !t.is_empty() && t.len() <= 256)
}

/// Parses a planning id from a path segment.
pub fn planning_id(raw: &str) -> Result<PlanningId, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound("planning"))
}

/// The `?token=` parameter; other parameters belong to the route's own query type.
#[derive(Debug, Deserialize)]
struct TokenParam {
    #[serde(default)]
    token: Option<String>,
}

/// The request's token, if any (see [`token_from`]); routes that authenticate with something
/// other than a planning's personal token (a team's admin token) take this.
pub struct Token(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Token {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let ApiQuery(q) = ApiQuery::<TokenParam>::from_request_parts(parts, state).await?;
        Ok(Token(token_from(&parts.headers, q.token.as_deref())))
    }
}

/// Loads the planning and finds the token's participant in it.
pub async fn authenticate(
    app: &AppState,
    id: PlanningId,
    token: Option<String>,
) -> Result<Caller, ApiError> {
    let token = token.ok_or(ApiError::Unauthorized)?;
    let room = app
        .registry
        .get(id)
        .await?
        .ok_or(ApiError::NotFound("planning"))?;
    let token_hash = hash_secret(&token);
    let who = room.read(|l| {
        l.state
            .participant_by_token(&token_hash)
            .map(|p| (p.id, p.role, p.name.clone()))
    });
    let (participant, role, name) = who.ok_or(ApiError::Unauthorized)?;
    Ok(Caller {
        room,
        participant,
        role,
        name,
        token_hash,
    })
}

/// The caller of a planning route: the planning from the path's `{id}` segment, the token from
/// the `Authorization` header or the `?token=` query parameter.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, app)
            .await
            .map_err(|_| ApiError::NotFound("planning"))?;
        let id = params
            .iter()
            .find_map(|(name, value)| (name == "id").then(|| planning_id(value)))
            .ok_or(ApiError::NotFound("planning"))??;
        let Token(token) = Token::from_request_parts(parts, app).await?;
        authenticate(app, id, token).await
    }
}

/// The client's address: the peer's, unless the peer is a trusted proxy; then the right-most
/// `X-Forwarded-For` entry that is not a trusted proxy (entries left of it are the client's
/// own claims, which anyone can forge).
pub fn client_ip(app: &AppState, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let trusted = |ip: &IpAddr| app.limits.trusted_proxies.iter().any(|n| n.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .rev()
        .find(|a| !trusted(a))
        .unwrap_or(peer)
}

/// The rate-limit key of a write that presents no credential (creating a planning or a team):
/// its client's address (see [`client_ip`]). A server without peer addresses (no
/// `into_make_service_with_connect_info`) keys them all alike.
pub struct Anonymous(pub String);

impl FromRequestParts<AppState> for Anonymous {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(Anonymous(match peer {
            Some(ConnectInfo(addr)) => format!("ip:{}", client_ip(app, addr.ip(), &parts.headers)),
            None => "ip:unknown".into(),
        }))
    }
}

/// The `Idempotency-Key` header: the client's op id for a write, so that a retry applies once
/// and answers the same (see docs/protocol.md, *Writes*).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The write's [`IDEMPOTENCY_KEY`], if the client sent one (1 to 128 printable ASCII characters, no spaces).
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(raw) = parts.headers.get(IDEMPOTENCY_KEY) else {
            return Ok(IdempotencyKey(None));
        };
        let key = raw
            .to_str()
            .ok()
            .filter(|k| check_op(k).is_ok())
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "Idempotency-Key must be 1 to 128 printable ASCII characters, no spaces".into(),
                )
            })?;
        Ok(IdempotencyKey(Some(key.to_string())))
    }
}
