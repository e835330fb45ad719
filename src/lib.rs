//! sprintlog: async-first sprint planning on an append-only event log.
//!
//! The crate is laid in layers that point one way; a module only imports from layers below it
//! (`tests/layers.rs` checks this):
//!
//! 1. [`domain`]: the pure planning model. Commands are *decided* against a state into events,
//!    events are *applied* to a state. No I/O, no clock reads: time and randomness come in
//!    through a context, so every rule is a plain function under test. A planning and a team
//!    ([`domain::team`]) are both a [`domain::aggregate::Aggregate`].
//! 2. [`read`]: pure read models over the domain — per-viewer views and redaction, audit,
//!    digest, timeline, time well spent, comment paging, backlog import and estimate export.
//!    They read events as a [`read::Envelope`] (seq, time, actor, event), never a stored row.
//! 3. [`store`]: the append-only log on sqlx (SQLite by default, PostgreSQL to scale out). It
//!    stores encoded events with a gapless per-planning `seq` and knows nothing of the domain.
//! 4. [`engine`]: the realtime core — live rooms and their writer, the registry, presence, the
//!    scheduler and its reactions, the cluster feed, webhook delivery, replay from the log and
//!    moving a log between databases. It knows no HTTP or websocket type.
//! 5. [`http`], then [`ws`]: transport only — REST routes, and the websocket connection (whose
//!    upgrade is an HTTP request authenticated like every route).
//! 6. [`server`]: wires the layers into a running server (used by `main` and the tests).
//!
//! [`config`] (command line and environment) is read by every layer above the store.
//!
//! Where a change goes:
//!
//! | change | where |
//! |---|---|
//! | a new command | `domain::command` (its struct), `domain::decide::<section>` (its rule, routed in `decide::route`), `domain::event` (what it records, in the one kind list) |
//! | a new route | the `http` module of its concern, in its `router()`; a write goes through `engine::commands` (rate limit, room, refusal count) |
//! | a new websocket frame | `ws::protocol` |
//! | what a joining client is sent (the snapshot, a kept view's first frames), and what the room keeps of it per head | `engine::joins` (who shares the frame: `read::pushed::has_own_part`) |
//! | a redaction rule, a new `State` field, a new event kind or event field | `read::view` (every field of `State` and of every event is classified there, or it does not compile; an event's in `read::view::events`) |
//! | a scheduled reaction | `engine::scheduler` |
//! | how commands are written (batching, retries, idempotency) | `engine::writer`, the one write path for plannings and teams |
//! | reading the time (engine and above) | the app's `engine::clock::Clock`, never the system clock: tests run on a manual one |
//! | waiting, or timing an interval that is not a recorded time (rate buckets, idle rooms, retry pauses) | `tokio::time`, never `std::time`: tests pause and advance it |
//! | a storage backend | a new module under `store`, starting from the event log trait |

pub mod config;
pub mod domain;
pub mod engine;
pub mod http;
pub mod read;
pub mod server;
pub mod store;
pub mod ws;
