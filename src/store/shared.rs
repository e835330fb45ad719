//! What the SQLite and PostgreSQL appends share: the append decision, the conflict-retry loop,
//! the rows an append hands back, and row decoding.
//!
//! Each backend keeps its own append transaction and error classification; the parts that must
//! behave identically on both (the order of the idempotency and `expected_seq` checks, how a
//! collision is retried, how a row becomes a [`StoredEvent`]) live here, so the two cannot
//! drift apart.

use super::{AppendRequest, Appended, EventLog, StoreError, StoreResult, StoredEvent};
use sqlx::{ColumnIndex, Decode, Row, Type};
use std::future::Future;
use uuid::Uuid;

/// Columns of `events` in the order [`decode_event`] reads them (same names on both backends).
pub(crate) const EVENT_COLUMNS: &str = "global_id, planning_id, seq, event_id, actor, \
     client_op_id, kind, version, payload, recorded_at, hash";

/// How many times an append is re-run after a unique violation before giving up with
/// [`StoreError::Conflict`]. A violation means another writer got in first in a way the head
/// lock did not catch (it should not happen); re-running re-checks idempotency and the head.
pub(crate) const MAX_COLLISION_RETRIES: usize = 3;

/// The idempotency row of a command already recorded under `(planning, actor, client_op_id)`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct CommandRow {
    pub command_hash: String,
    pub first_seq: i64,
    pub last_seq: i64,
}

/// The seqs one command's events occupy: `first_seq..=last_seq` (empty when it has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub first_seq: i64,
    pub last_seq: i64,
}

/// The idempotency rows recorded for a batch's commands, by `(actor as text, client_op_id)`.
pub(crate) type Existing = std::collections::HashMap<(String, String), CommandRow>;

/// What an append does once it holds the planning's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// A retry of a recorded command: answer with the first result, write nothing.
    Duplicate(Span),
    /// Write the events at this span and move the head to its `last_seq`.
    Write(Span),
}

/// What a batch append does once it holds the planning's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Planned {
    /// A batch of one that retries a recorded command: write nothing.
    Duplicate(Span),
    /// Write every request's events at its span, in order.
    Write(Vec<Span>),
}

/// Decides an append against the locked `head` and the command's idempotency row, if any.
///
/// The idempotency check comes first on purpose: a client retrying after a lost ack still
/// carries its old `expected_seq`, and must get its original result even though the head moved
/// (under its own command, or others since).
pub(crate) fn plan(
    req: &AppendRequest,
    existing: Option<CommandRow>,
    head: i64,
) -> StoreResult<Plan> {
    if let Some(cmd) = existing {
        if cmd.command_hash == req.command_hash {
            return Ok(Plan::Duplicate(Span {
                first_seq: cmd.first_seq,
                last_seq: cmd.last_seq,
            }));
        }
        return Err(StoreError::OpConflict(req.client_op_id.clone()));
    }
    if head != req.expected_seq {
        return Err(StoreError::Conflict {
            expected: req.expected_seq,
            head,
        });
    }
    // A Vec never holds more than isize::MAX elements, so this conversion cannot fail.
    let n = i64::try_from(req.events.len()).unwrap_or(i64::MAX);
    Ok(Plan::Write(Span {
        first_seq: head + 1,
        last_seq: head + n,
    }))
}

/// Plans a batch of appends (group commit) against the locked `head`: each request must expect
/// the head the one before it leaves. `existing` holds the idempotency rows found for them.
///
/// A batch of one behaves exactly like [`plan`] (a retry answers [`Planned::Duplicate`]). In a longer batch, a request that is a retry
/// of a recorded command, or that reuses another request's key, refuses the *whole* batch with
/// [`StoreError::Conflict`]: the requests after it were decided assuming its events, so the
/// caller must fall back to appending them one at a time.
pub(crate) fn plan_batch(
    reqs: &[AppendRequest],
    existing: &Existing,
    head: i64,
) -> StoreResult<Planned> {
    let existing = |r: &AppendRequest| {
        existing
            .get(&(uuid_text(r.actor), r.client_op_id.clone()))
            .cloned()
    };
    if let [req] = reqs {
        return Ok(match plan(req, existing(req), head)? {
            Plan::Duplicate(span) => Planned::Duplicate(span),
            Plan::Write(span) => Planned::Write(vec![span]),
        });
    }
    let mut spans = Vec::with_capacity(reqs.len());
    let mut keys = std::collections::HashSet::with_capacity(reqs.len());
    let mut at = head;
    for req in reqs {
        if req.planning_id != reqs[0].planning_id {
            return Err(StoreError::Unsupported(
                "a batch of appends must be for one planning".into(),
            ));
        }
        if !keys.insert((req.actor, req.client_op_id.as_str())) {
            return Err(StoreError::Conflict {
                expected: req.expected_seq,
                head: at,
            });
        }
        match plan(req, existing(req), at)? {
            Plan::Duplicate(_) => {
                return Err(StoreError::Conflict {
                    expected: req.expected_seq,
                    head: at,
                })
            }
            Plan::Write(span) => {
                at = span.last_seq;
                spans.push(span);
            }
        }
    }
    Ok(Planned::Write(spans))
}

/// What one successful append attempt did, before its rows are handed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Written {
    /// A batch of one that retried a recorded command: nothing was written now.
    Duplicate(Span),
    /// The batch was written.
    Rows(Rows),
}

/// What a written batch consists of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Rows {
    /// Each request's span, in request order.
    pub spans: Vec<Span>,
    /// Per written event, in seq order: its chain hash (see [`chain_all`]).
    pub hashes: Vec<String>,
    /// Per written event, in seq order: the global id the database gave it.
    pub global_ids: Vec<i64>,
}

impl Written {
    /// The appends' results. The rows are made of the requests' own fields, moved rather than
    /// copied (the op id, shared by a command's events, is copied per event).
    pub(crate) fn into_appended(self, reqs: Vec<AppendRequest>) -> Vec<Appended> {
        let rows = match self {
            Written::Duplicate(span) => {
                return vec![Appended {
                    first_seq: span.first_seq,
                    last_seq: span.last_seq,
                    duplicate: true,
                    events: Vec::new(),
                }]
            }
            Written::Rows(rows) => rows,
        };
        let mut hashes = rows.hashes.into_iter();
        let mut global_ids = rows.global_ids.into_iter();
        reqs.into_iter()
            .zip(rows.spans)
            .map(|(req, span)| {
                let events = (span.first_seq..)
                    .zip(req.events)
                    .map(|(seq, e)| StoredEvent {
                        global_id: global_ids.next().unwrap_or_default(),
                        planning_id: req.planning_id,
                        seq,
                        event_id: e.event_id,
                        actor: req.actor,
                        client_op_id: req.client_op_id.clone(),
                        kind: e.kind,
                        version: e.version,
                        payload: e.payload,
                        recorded_at: req.recorded_at,
                        hash: hashes.next().unwrap_or_default(),
                    })
                    .collect();
                Appended {
                    first_seq: span.first_seq,
                    last_seq: span.last_seq,
                    duplicate: false,
                    events,
                }
            })
            .collect()
    }
}

/// A backend's append transaction, as [`append_batch`] drives it.
pub(crate) trait AppendTx: EventLog {
    /// One attempt at appending a batch (often of one) in one transaction.
    fn try_append_all(
        &self,
        reqs: &[AppendRequest],
    ) -> impl Future<Output = StoreResult<Written>> + Send;

    /// Whether `err` says another writer took one of these seqs or command keys first: the
    /// attempt is worth running again (its checks then see the other writer's commit).
    fn is_collision(err: &StoreError) -> bool;
}

/// Appends a batch, re-running the attempt after a collision up to [`MAX_COLLISION_RETRIES`]
/// times, then answering [`StoreError::Conflict`] with the planning's current head.
pub(crate) async fn append_batch<B: AppendTx>(
    store: &B,
    reqs: Vec<AppendRequest>,
) -> StoreResult<Vec<Appended>> {
    for _ in 0..MAX_COLLISION_RETRIES {
        match store.try_append_all(&reqs).await {
            Err(e) if B::is_collision(&e) => continue,
            Err(e) => return Err(e),
            Ok(written) => return Ok(written.into_appended(reqs)),
        }
    }
    let Some(first) = reqs.first() else {
        return Ok(Vec::new());
    };
    Err(StoreError::Conflict {
        expected: first.expected_seq,
        head: store.head(first.planning_id).await?,
    })
}

/// [`append_batch`] for one request.
pub(crate) async fn append<B: AppendTx>(store: &B, req: AppendRequest) -> StoreResult<Appended> {
    append_batch(store, vec![req])
        .await?
        .pop()
        .ok_or_else(|| StoreError::Unsupported("an append returned no result".into()))
}

/// The chain hashes of a command's events, `first_seq` onwards, after `prev`.
fn chain(req: &AppendRequest, prev: &str, first_seq: i64) -> Vec<String> {
    let mut prev = prev.to_string();
    (first_seq..)
        .zip(&req.events)
        .map(|(seq, e)| {
            prev = super::chain_hash(
                &prev,
                req.planning_id,
                seq,
                e.event_id,
                req.actor,
                &req.client_op_id,
                &e.kind,
                e.version,
                req.recorded_at,
                &e.payload,
            );
            prev.clone()
        })
        .collect()
}

/// The chain hashes of every event a batch writes at `spans`, in seq order, after the
/// planning's `head_hash` (the genesis hash for a new planning).
pub(crate) fn chain_all(
    reqs: &[AppendRequest],
    spans: &[Span],
    head_hash: Option<&str>,
) -> Vec<String> {
    let base = head_hash.unwrap_or(super::GENESIS_HASH);
    let mut hashes: Vec<String> = Vec::with_capacity(reqs.iter().map(|r| r.events.len()).sum());
    for (req, span) in reqs.iter().zip(spans) {
        let prev = hashes.last().map_or(base, String::as_str);
        let chained = chain(req, prev, span.first_seq);
        hashes.extend(chained);
    }
    hashes
}

/// `LIMIT` for a read: a negative limit means "nothing" (SQLite would read it as "no limit").
pub(crate) fn clamp_limit(limit: i64) -> i64 {
    limit.max(0)
}

/// The canonical text form of a uuid in the database (lowercase, hyphenated) on both backends.
pub(crate) fn uuid_text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

fn decode_uuid(column: &str, text: &str) -> Result<Uuid, sqlx::Error> {
    Uuid::parse_str(text).map_err(|e| sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: Box::new(e),
    })
}

/// Reads one `events` row selected with [`EVENT_COLUMNS`].
pub(crate) fn decode_event<'r, R>(row: &'r R) -> Result<StoredEvent, sqlx::Error>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    i32: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database>,
{
    let planning_id: String = row.try_get("planning_id")?;
    let event_id: String = row.try_get("event_id")?;
    let actor: String = row.try_get("actor")?;
    Ok(StoredEvent {
        global_id: row.try_get("global_id")?,
        planning_id: decode_uuid("planning_id", &planning_id)?,
        seq: row.try_get("seq")?,
        event_id: decode_uuid("event_id", &event_id)?,
        actor: decode_uuid("actor", &actor)?,
        client_op_id: row.try_get("client_op_id")?,
        kind: row.try_get("kind")?,
        version: row.try_get("version")?,
        payload: row.try_get("payload")?,
        recorded_at: row.try_get("recorded_at")?,
        hash: row
            .try_get::<Option<String>, _>("hash")?
            .unwrap_or_default(),
    })
}

/// Reads `events` rows selected with [`EVENT_COLUMNS`].
pub(crate) fn decode_events<'r, R>(rows: &'r [R]) -> Result<Vec<StoredEvent>, sqlx::Error>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    i32: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database>,
{
    rows.iter().map(decode_event).collect()
}

/// Decodes a list of planning ids read as text.
pub(crate) fn decode_plannings(ids: Vec<String>) -> Result<Vec<Uuid>, sqlx::Error> {
    ids.iter()
        .map(|id| decode_uuid("planning_id", id))
        .collect()
}

/// Columns of `jobs` in the order [`decode_job`] reads them.
pub(crate) const JOB_COLUMNS: &str = "key, planning_id, kind, payload, due_at, attempts";

/// Reads one `jobs` row selected with [`JOB_COLUMNS`].
pub(crate) fn decode_job<'r, R>(row: &'r R) -> Result<super::Job, sqlx::Error>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    i32: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
{
    let planning_id: String = row.try_get("planning_id")?;
    Ok(super::Job {
        attempts: row.try_get("attempts")?,
        key: row.try_get("key")?,
        planning_id: decode_uuid("planning_id", &planning_id)?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        due_at: row.try_get("due_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(expected_seq: i64, n: usize) -> AppendRequest {
        AppendRequest {
            planning_id: Uuid::nil(),
            expected_seq,
            actor: Uuid::nil(),
            client_op_id: "op".into(),
            command_hash: "h".into(),
            recorded_at: 0,
            jobs: Vec::new(),
            events: (0..n)
                .map(|_| super::super::NewEvent {
                    event_id: Uuid::new_v4(),
                    kind: "K".into(),
                    version: 1,
                    payload: "{}".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn idempotency_is_checked_before_the_head() {
        let existing = CommandRow {
            command_hash: "h".into(),
            first_seq: 3,
            last_seq: 5,
        };
        let p = plan(&req(2, 3), Some(existing.clone()), 9).unwrap();
        assert_eq!(
            p,
            Plan::Duplicate(Span {
                first_seq: 3,
                last_seq: 5,
            })
        );
        let other = CommandRow {
            command_hash: "other".into(),
            ..existing
        };
        assert!(matches!(
            plan(&req(9, 1), Some(other), 9),
            Err(StoreError::OpConflict(_))
        ));
    }

    #[test]
    fn stale_head_and_empty_commands() {
        assert!(matches!(
            plan(&req(1, 1), None, 2),
            Err(StoreError::Conflict {
                expected: 1,
                head: 2
            })
        ));
        assert_eq!(
            plan(&req(4, 0), None, 4).unwrap(),
            Plan::Write(Span {
                first_seq: 5,
                last_seq: 4
            })
        );
        assert_eq!(
            plan(&req(4, 2), None, 4).unwrap(),
            Plan::Write(Span {
                first_seq: 5,
                last_seq: 6
            })
        );
    }
}
