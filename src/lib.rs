//! sprintlog: async-first sprint planning on an append-only event log.
//!
//! A tour of the modules, from the inside out:
//! - [`domain`]: the pure planning model. Commands are *decided* against a state into events,
//!   events are *applied* to a state. No I/O, no clock reads: time and randomness come in
//!   through a context, so every rule is a plain function under test.
//! - [`store`]: the append-only log on sqlx (SQLite by default, PostgreSQL to scale out). It
//!   stores encoded events with a gapless per-planning `seq` and knows nothing of the domain.
//! - [`replay`]: rebuilding a projection now or at any seq, from snapshots plus the log.
//! - [`server`]: the realtime core (rooms, registry, per-viewer views) and its HTTP and
//!   websocket transport.
//! - [`audit`]: how each item and the scope were decided, as JSON, Markdown and CSV.
//! - [`digest`]: "since you last looked", grouped by item.
//! - [`time_spent`]: the live session against its plan, async vs live settlements (audit, digest).
//! - [`timeline`]: one-line summaries of events for a scrub bar (never showing sealed votes).
//! - [`import`]: backlog import (CSV, Jira JSON) into item drafts, pure.
//! - [`export`]: agreed estimates for a tracker (CSV, JSON), pure.
//! - [`team`]: teams (roster, linked plannings) as their own event streams, pure.
//! - [`transfer`]: a planning's log as JSON Lines, to move it between databases.
//! - [`config`]: command line and environment.

pub mod audit;
pub mod config;
pub mod digest;
pub mod domain;
pub mod export;
pub mod import;
pub mod replay;
pub mod server;
pub mod store;
pub mod team;
pub mod time_spent;
pub mod timeline;
pub mod transfer;
