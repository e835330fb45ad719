//! Helpers shared by the integration tests: a fresh database per test on either backend.
//!
//! PostgreSQL tests run only when `SPRINTLOG_TEST_PG` names a server (each test gets its own
//! throwaway database on it); without it they print a SKIPPED line and pass, except under
//! `CI=true`, where a missing server must not turn into a silently green run.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use sqlx::Connection;
use std::io::Write;
use std::time::Duration;

/// Environment variable naming the PostgreSQL server tests may create databases on.
pub const PG_ENV: &str = "SPRINTLOG_TEST_PG";

/// A fresh SQLite database: a file (not created yet) in a temporary directory that is removed
/// when this value is dropped.
pub struct SqliteDb {
    /// `sqlite://…/log.db`, without `?mode=rwc`: opening must create the file.
    pub url: String,
    _dir: tempfile::TempDir,
}

/// Creates a fresh SQLite database location.
pub fn fresh_sqlite() -> SqliteDb {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    SqliteDb { url, _dir: dir }
}

/// The base PostgreSQL URL from [`PG_ENV`], or `None` after printing why `test` is skipped.
///
/// # Panics
/// When `CI=true` and [`PG_ENV`] is not set.
pub fn pg_base_url(test: &str) -> Option<String> {
    match std::env::var(PG_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("postgres test {test}: {PG_ENV} must be set when CI=true");
            }
            // Not `eprintln!`: libtest captures that for passing tests, and a skip must be
            // seen in a plain `cargo test`. Writes to the stderr handle are not captured.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: postgres test {test} — set {PG_ENV}=postgres://… to run it \
                 (e.g. {PG_ENV}=postgres://postgres@127.0.0.1:5432/test)"
            );
            None
        }
    }
}

/// A throwaway PostgreSQL database, dropped (best effort, `WITH (FORCE)`) with this value.
pub struct PgDb {
    /// URL of the fresh database.
    pub url: String,
    name: String,
    base_url: String,
}

/// Creates a fresh database for `test` on the server named by [`PG_ENV`], or returns `None`
/// (after printing the skip line) when it is not set. See [`pg_base_url`] for `CI=true`.
pub async fn fresh_pg(test: &str) -> Option<PgDb> {
    let base_url = pg_base_url(test)?;
    let name = format!("sprintlog_t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&base_url)
        .await
        .unwrap_or_else(|e| panic!("connect to {PG_ENV}={base_url}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("create database {name}: {e}"));
    let _ = admin.close().await;
    Some(PgDb {
        url: with_database(&base_url, &name),
        name,
        base_url,
    })
}

/// Fresh database URL only, for tests that manage its lifetime themselves: keep the guard.
pub async fn fresh_pg_url(test: &str) -> Option<(String, PgDb)> {
    let db = fresh_pg(test).await?;
    Some((db.url.clone(), db))
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // Drop is synchronous and may run inside a runtime (even a current-thread one, which
        // must not block on itself): drop the database from a thread with its own runtime.
        let base_url = self.base_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let work = async {
                    let mut admin = sqlx::PgConnection::connect(&base_url).await?;
                    sqlx::query(&sql).execute(&mut admin).await?;
                    admin.close().await
                };
                match tokio::time::timeout(Duration::from_secs(10), work).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("warning: {sql}: {e}"),
                    Err(_) => eprintln!("warning: {sql}: timed out"),
                }
            });
        });
        let _ = handle.join();
    }
}

/// `base` with its database name replaced by `name` (query parameters kept).
pub fn with_database(base: &str, name: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let after_scheme = head.find("://").map_or(0, |i| i + 3);
    let authority_end = head[after_scheme..]
        .find('/')
        .map_or(head.len(), |i| after_scheme + i);
    let mut url = format!("{}/{}", &head[..authority_end], name);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

#[test]
fn with_database_replaces_only_the_path() {
    assert_eq!(
        with_database("postgres://u@h:5432/test", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(
        with_database("postgres://u@h/test?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}

/// Runs a scenario once on SQLite and once on PostgreSQL (skipped without [`PG_ENV`]).
///
/// - `on_both_backends!(scenario)` / `on_both_backends!(scenario, limits)`: `async fn
///   scenario(&TestServer)` on a fresh server started with `limits` (default limits), stopped
///   after it; the tests are `scenario::sqlite` and `scenario::postgres`.
/// - `on_both_backends!(backend: a, b, …)`: `async fn a(Backend)` gets a fresh database and
///   starts its servers itself (restarts, two nodes, a clock of its own); the tests are
///   `sqlite::a` and `postgres::a`.
#[allow(unused_macros)]
macro_rules! on_both_backends {
    (backend: $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::server::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let name = concat!(module_path!(), "::", stringify!($name));
                    let Some(backend) = $crate::common::server::postgres(name).await else {
                        return;
                    };
                    super::$name(backend).await;
                }
            )*
        }
    };
    ($scenario:ident) => {
        on_both_backends!($scenario, sprintlog::config::Limits::default());
    };
    ($scenario:ident, $limits:expr) => {
        mod $scenario {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let backend = $crate::common::server::sqlite();
                let mut t = $crate::common::server::TestServer::start_with(backend, $limits).await;
                super::$scenario(&t).await;
                t.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let name = module_path!();
                let Some(backend) = $crate::common::server::postgres(name).await else {
                    return;
                };
                let mut t = $crate::common::server::TestServer::start_with(backend, $limits).await;
                super::$scenario(&t).await;
                t.stop().await;
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_backends;

pub mod domain;
pub mod proxy;
pub mod server;
pub mod time;
