//! Time in tests: the manual clock a server can run on, and waiting for a condition with a
//! bound instead of sleeping a fixed time.

use std::future::Future;
use std::time::Duration;

#[allow(unused_imports)]
pub use sprintlog::engine::clock::{now_micros, Clock};

/// How often [`eventually`] looks again.
const POLL: Duration = Duration::from_millis(10);

/// A manual clock reading the system time now: give it to a server, then move it with
/// [`Clock::advance`].
pub fn manual_clock() -> Clock {
    Clock::manual_at_now()
}

/// Polls `check` until it returns `Some`, panicking with `what` after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}
