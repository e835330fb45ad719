//! The one entry for writes: who issues them ([`Caller`]), admission by the caller's rate
//! limit ([`admit`]), execution through the room ([`run`]), and the refusals counted by code
//! for `/metrics` ([`Refusals`]). REST and the websocket share it, so a token has one budget
//! however many connections and requests it spreads its commands over. Secrets a write hands
//! out are derived from its op id ([`derived_secret`]), so a retry answers the same one.

use crate::domain::command::Command;
use crate::domain::event::Role;
use crate::domain::ids::{ParticipantId, PlanningId};
use crate::engine::app::AppState;
use crate::engine::auth::new_secret;
use crate::engine::room::{Ack, Room, RoomError};
use crate::store::StoreError;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

/// A participant of one planning, authenticated by a personal token.
pub struct Caller {
    pub room: Arc<Room>,
    pub participant: ParticipantId,
    pub role: Role,
    pub name: String,
    /// The SHA-256 of the token: the key of the caller's rate limit and of revocations.
    pub token_hash: String,
}

/// The caller's bucket is empty: the command was not looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited;

/// Why [`run`] did not apply a command.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("too many commands: slow down and retry with the same op")]
    RateLimited,
    #[error(transparent)]
    Room(#[from] RoomError),
}

impl From<RateLimited> for Refused {
    fn from(_: RateLimited) -> Self {
        Refused::RateLimited
    }
}

/// The code a refusal is known by on the wire and in `/metrics`.
pub const RATE_LIMITED: &str = "rate_limited";

/// Takes one command from the bucket of `key` (a token's hash, or for a route without a
/// personal token the credential it presents), without waiting. Refusals are counted.
pub fn admit(app: &AppState, key: &str) -> Result<(), RateLimited> {
    if app.buckets.try_take(key) {
        return Ok(());
    }
    app.metrics.rate_limited.fetch_add(1, Relaxed);
    app.refusals.count(RATE_LIMITED);
    Err(RateLimited)
}

/// Takes one costly read (a past view, the audit, digest, verification or an export)
/// from the read bucket of `key` (a token's hash), without waiting. Refusals are counted.
pub fn admit_read(app: &AppState, key: &str) -> Result<(), RateLimited> {
    if app.read_buckets.try_take(key) {
        return Ok(());
    }
    app.metrics.rate_limited.fetch_add(1, Relaxed);
    app.refusals.count(RATE_LIMITED);
    Err(RateLimited)
}

/// Admits and executes one command of `who` through its room; a refusal is counted by code.
pub async fn run(
    app: &AppState,
    who: &Caller,
    op: String,
    expected: Option<i64>,
    command: Command,
) -> Result<Ack, Refused> {
    admit(app, &who.token_hash)?;
    execute(app, &who.room, who.participant, op, expected, command).await
}

/// Executes an admitted command through `room` and counts a refusal.
pub async fn execute(
    app: &AppState,
    room: &Room,
    actor: ParticipantId,
    op: String,
    expected: Option<i64>,
    command: Command,
) -> Result<Ack, Refused> {
    let result = room.execute(actor, op, expected, command).await;
    if let Err(e) = &result {
        refused(app, e);
    }
    Ok(result?)
}

/// Counts a command the room refused (for a transport that waits for the room's answer itself).
pub fn refused(app: &AppState, e: &RoomError) {
    app.metrics.commands_rejected.fetch_add(1, Relaxed);
    app.refusals.count(code(e));
}

/// The stable code of a room's refusal (documented in docs/protocol.md).
pub fn code(e: &RoomError) -> &'static str {
    match e {
        RoomError::Domain(d) => d.code(),
        RoomError::Conflict { .. } => "conflict",
        RoomError::OpConflict(_) => "op_conflict",
        RoomError::Store(s) => match s.fault() {
            Some(crate::store::StorageFault::Full) => "storage_full",
            Some(_) => "storage_read_only",
            None if s.is_retriable() => "unavailable",
            None => "internal",
        },
        RoomError::Codec(_) => "internal",
        RoomError::ServerFull => "server_full",
        RoomError::Busy => "busy",
        RoomError::Closed => "unavailable",
    }
}

/// The row of the secrets table that holds the server's derivation key: not a webhook's (those
/// are random version 4 uuids; this one is version 8).
const SERVER_KEY_ID: uuid::Uuid = uuid::Uuid::from_u128(0x7370_7269_6e74_8000_8000_0000_6b65_7900);

/// The server's key for [`derived_secret`]: drawn once per database and kept in its secrets
/// table (beside the log, never in it), so every node and every restart derives the same.
pub async fn server_key(app: &AppState) -> Result<&str, StoreError> {
    let key = app.server_key.get_or_try_init(|| async {
        let store = app.registry.store();
        let secret = new_secret();
        store
            .put_webhook_secret(
                uuid::Uuid::nil(),
                SERVER_KEY_ID,
                &secret,
                app.clock.now_micros(),
            )
            .await
    });
    key.await.map(String::as_str)
}

/// The secret `who`'s write with op id `op` hands out, for `purpose` (an invite, a personal
/// link): HMAC-SHA256(server key, planning ‖ actor ‖ op ‖ purpose) in hex, the shape of a
/// drawn one. The server stores only its hash, so a retry (same op) can answer the same secret
/// only by deriving it again; nobody without the server key can derive it. Scoped like the
/// store's op ids (planning, actor, op): two callers who pick the same op id get different
/// secrets, and one caller reusing an op id for another write is refused as `op_conflict`.
pub async fn derived_secret(
    app: &AppState,
    who: &Caller,
    op: &str,
    purpose: &str,
) -> Result<String, StoreError> {
    let (planning, actor) = (who.room.shared.id, who.participant);
    derived_for(app, planning, actor, op, purpose).await
}

/// [`derived_secret`] for `actor` in `planning`, who need not be a participant yet (the
/// creator of a planning being created).
pub async fn derived_for(
    app: &AppState,
    planning: PlanningId,
    actor: ParticipantId,
    op: &str,
    purpose: &str,
) -> Result<String, StoreError> {
    let key = server_key(app).await?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
        .expect("HMAC takes keys of any length");
    let (planning, actor) = (planning.0, actor.0);
    let parts = [planning.as_bytes(), actor.as_bytes()];
    for part in parts
        .iter()
        .map(|b| b.as_slice())
        .chain([op.as_bytes(), purpose.as_bytes()])
    {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// Writes refused, per code, since the process started.
#[derive(Debug, Default)]
pub struct Refusals(Mutex<BTreeMap<String, u64>>);

impl Refusals {
    /// Counts one refusal (refusals are rare next to commands: a lock is cheap enough).
    pub fn count(&self, code: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(code) {
            Some(n) => *n += 1,
            None => {
                map.insert(code.to_string(), 1);
            }
        }
    }

    /// How many refusals had `code`.
    pub fn get(&self, code: &str) -> u64 {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(code).copied().unwrap_or(0)
    }

    /// Every code counted so far, with its count (for `sprintlog_refusals_total`).
    pub fn counts(&self) -> Vec<(String, u64)> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(code, n)| (code.clone(), *n)).collect()
    }
}
