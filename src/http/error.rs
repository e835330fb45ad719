//! The HTTP error type: one enum, mapped once to a status, a stable code and a message.
//!
//! Internal failures are logged with their details and shown to the client as a generic
//! message; domain refusals are shown as they are (they explain what to fix).

use crate::domain::DomainError;
use crate::engine::room::RoomError;
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("a valid token for this planning is required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("request body too large")]
    TooLarge,
    #[error("too many commands: slow down")]
    TooMany,
    /// The caller's budget of costly reads (`--read-rate`) is spent.
    #[error("too many history reads (past views, audit, digest, verify, exports): slow down")]
    TooManyReads,
    /// The per-IP connection cap.
    #[error("{0}")]
    TooManyConnections(String),
    /// The request's `Host` is not in `--allowed-hosts`.
    #[error("this server does not answer for that host name (see --allowed-hosts)")]
    BadHost,
    /// The database does not answer (`/readyz`).
    #[error("the database is unavailable: retry later")]
    Unavailable,
    /// The request took longer than the configured request timeout.
    #[error("the request took too long and was abandoned")]
    Timeout,
    /// A join with the token of someone who was removed from the planning.
    #[error("you were removed from this planning, so this link no longer lets you in: ask the facilitator to invite you again, and join as a new participant")]
    Removed,
    /// A join with a token that already joined under another name (or through another invite).
    #[error("this personal token has already joined this planning under another name: join again with the same name to get the same answer, or draw a new token to join as someone else")]
    TokenTaken,
    #[error(transparent)]
    Room(#[from] RoomError),
    /// A request body axum's `Json` extractor refused (see [`ApiJson`]).
    #[error("{message}")]
    Body {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
}

/// A JSON request body, refused with our error shape and plain words: 415
/// `unsupported_media_type` without a JSON content type, 400 `bad_json` when the body is not
/// JSON, 422 `invalid_body` when it is JSON of the wrong shape (the message names the field,
/// see [`crate::http::plain`]).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::Body {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
                message: "send the body as JSON, with Content-Type: application/json".into(),
            });
        }
        let ApiBytes(bytes) = ApiBytes::from_request(req, state).await?;
        crate::http::plain::json(&bytes, "the body")
            .map(ApiJson)
            .map_err(ApiError::from)
    }
}

/// `application/json`, or a `+json` type, as the body's declared content type.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl From<crate::http::plain::Unreadable> for ApiError {
    fn from(u: crate::http::plain::Unreadable) -> Self {
        use crate::http::plain::Unreadable;
        match u {
            Unreadable::Syntax(message) => ApiError::Body {
                status: StatusCode::BAD_REQUEST,
                code: "bad_json",
                message,
            },
            Unreadable::Shape(message) => ApiError::Body {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_body",
                message,
            },
        }
    }
}

/// The raw request body (`Bytes`), refusing an unreadable or over-limit body with the JSON
/// error shape (`413 too_large`) instead of axum's plain-text rejection.
#[derive(Debug)]
pub struct ApiBytes(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(ApiBytes)
            .map_err(|r| match r.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
                status => ApiError::Body {
                    status,
                    code: "bad_request",
                    message: "the request body could not be read".into(),
                },
            })
    }
}

/// The query string as a `T`, refused with 400 `bad_query` in plain words (the parameter
/// named, what it takes) when a parameter is not of its kind.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S>
    for ApiQuery<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        crate::http::plain::query(parts.uri.query().unwrap_or(""))
            .map(ApiQuery)
            .map_err(|message| ApiError::Body {
                status: StatusCode::BAD_REQUEST,
                code: "bad_query",
                message,
            })
    }
}

/// `axum::extract::Path`, with a segment it cannot read (not UTF-8 once decoded) refused as
/// 404 `not_found`: such an address names nothing here.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(_: axum::extract::rejection::PathRejection) -> Self {
        ApiError::Body {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: "nothing is at this address".into(),
        }
    }
}

/// A query value that is not one the parameter takes (a format not listed, a time not in
/// RFC 3339): 400 `bad_query`.
pub fn bad_query(message: impl Into<String>) -> ApiError {
    ApiError::Body {
        status: StatusCode::BAD_REQUEST,
        code: "bad_query",
        message: message.into(),
    }
}

/// A number outside its allowed range (a query parameter, a websocket `state_at`): 400
/// `out_of_range`, the message naming the parameter and its range.
pub fn out_of_range(name: &str, range: &str) -> ApiError {
    ApiError::Body {
        status: StatusCode::BAD_REQUEST,
        code: "out_of_range",
        message: format!("{name} must be {range}"),
    }
}

/// Checks an integer query parameter against its range `lo..=hi` (`hi: None`: no upper
/// bound), refusing with [`out_of_range`].
pub fn in_range<N>(name: &str, value: N, lo: N, hi: Option<N>) -> Result<N, ApiError>
where
    N: PartialOrd + std::fmt::Display + Copy,
{
    if value >= lo && hi.is_none_or(|hi| value <= hi) {
        return Ok(value);
    }
    Err(out_of_range(
        name,
        &match hi {
            Some(hi) => format!("{lo} to {hi}"),
            None => format!("{lo} or more"),
        },
    ))
}

impl From<crate::engine::replay::ReplayError> for ApiError {
    fn from(e: crate::engine::replay::ReplayError) -> Self {
        match e {
            crate::engine::replay::ReplayError::Store(e) => e.into(),
            crate::engine::replay::ReplayError::Codec(e) => ApiError::Room(RoomError::Codec(e)),
        }
    }
}

impl From<crate::engine::commands::Refused> for ApiError {
    fn from(e: crate::engine::commands::Refused) -> Self {
        match e {
            crate::engine::commands::Refused::RateLimited => ApiError::TooMany,
            crate::engine::commands::Refused::Room(e) => ApiError::Room(e),
        }
    }
}

impl From<crate::engine::commands::RateLimited> for ApiError {
    fn from(_: crate::engine::commands::RateLimited) -> Self {
        ApiError::TooMany
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Room(RoomError::Store(e))
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError::Room(RoomError::Domain(e))
    }
}

/// Counts a write's refusal by its code in `/metrics` (for writes that do not go through
/// [`crate::engine::commands::execute`], which counts its own), and passes it on.
pub fn count_refusal(app: &crate::engine::app::AppState, e: ApiError) -> ApiError {
    app.refusals.count(&e.code());
    e
}

/// Status, code and client-facing message of a room error (shared with websocket error frames);
/// the code is [`crate::engine::commands::code`]'s, the one `/metrics` counts.
pub fn describe_room_error(e: &RoomError) -> (StatusCode, String, String) {
    let code = crate::engine::commands::code(e).to_string();
    let retry =
        |what: &str| format!("{what}: nothing was written; retry with the same client_op_id");
    let (status, message) = match e {
        RoomError::Domain(d) => (domain_status(d), d.to_string()),
        RoomError::Conflict { .. } | RoomError::OpConflict(_) => {
            (StatusCode::CONFLICT, e.to_string())
        }
        RoomError::Store(s) if s.fault().is_some() => {
            tracing::error!(error = %s, "storage refuses writes");
            match s.fault() {
                Some(crate::store::StorageFault::Full) => (
                    StatusCode::INSUFFICIENT_STORAGE,
                    retry("the server's storage is full") + " once the operator has made room",
                ),
                _ => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    retry("the server's storage is read-only") + " once the operator has fixed it",
                ),
            }
        }
        RoomError::Store(s) if s.is_retriable() => {
            tracing::warn!(error = %s, "storage unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "storage is unavailable, retry with the same client_op_id".into(),
            )
        }
        RoomError::ServerFull | RoomError::Busy => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        RoomError::Closed => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down, retry with the same client_op_id".into(),
        ),
        RoomError::Store(_) | RoomError::Codec(_) => {
            tracing::error!(error = %e, "internal error");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
        }
    };
    (status, code, message)
}

fn domain_status(d: &DomainError) -> StatusCode {
    use DomainError::*;
    match d {
        Forbidden { .. } | NotAParticipant | InvalidInvite => StatusCode::FORBIDDEN,
        UnknownParticipant(_)
        | UnknownItem(_)
        | UnknownRound(_)
        | UnknownComment(_)
        | UnknownCriterion(_)
        | UnknownWebhook(_)
        | UnknownSuggestion(_)
        | NoPlanning => StatusCode::NOT_FOUND,
        d if d.is_input() => StatusCode::BAD_REQUEST,
        _ => StatusCode::CONFLICT,
    }
}

impl ApiError {
    /// The stable code of this refusal (as in the JSON body and `/metrics`).
    pub fn code(&self) -> String {
        self.parts().1
    }

    fn parts(&self) -> (StatusCode, String, String) {
        match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request".into(), m.clone()),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized".into(),
                self.to_string(),
            ),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden".into(), m.clone()),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found".into(), self.to_string()),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large".into(),
                self.to_string(),
            ),
            ApiError::TooMany => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited".into(),
                self.to_string(),
            ),
            ApiError::TooManyReads => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited".into(),
                self.to_string(),
            ),
            ApiError::TooManyConnections(m) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_connections".into(),
                m.clone(),
            ),
            ApiError::BadHost => (StatusCode::BAD_REQUEST, "bad_host".into(), self.to_string()),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable".into(),
                self.to_string(),
            ),
            ApiError::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "timeout".into(),
                self.to_string(),
            ),
            ApiError::Removed => (StatusCode::FORBIDDEN, "removed".into(), self.to_string()),
            ApiError::TokenTaken => (StatusCode::CONFLICT, "op_conflict".into(), self.to_string()),
            ApiError::Room(e) => describe_room_error(e),
            ApiError::Body {
                status,
                code,
                message,
            } => (*status, (*code).into(), message.clone()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let mut body = json!({ "error": { "code": code, "message": message } });
        if let ApiError::Room(RoomError::Conflict { head, .. }) = &self {
            body["error"]["head"] = json!(head);
        }
        (status, Json(body)).into_response()
    }
}
