//! The server's one clock: the time of every decision, record, job and delivery.
//!
//! Production reads the system clock. Tests start a server on a [`Clock::manual`] clock and
//! move it with [`Clock::advance`], so a deadline a minute out passes at once and a test can
//! say exactly when it passes. Waits measured against the clock (the scheduler's sleep until
//! the next due job) go through [`Clock::sleep_until`], which is tokio's timer for the system
//! clock and also wakes the moment a manual clock is advanced.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Microseconds since the Unix epoch on the system clock.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A cheap handle on one time source; clones read the same time.
#[derive(Clone)]
pub struct Clock(Arc<Source>);

enum Source {
    System,
    /// The time, in microseconds since the epoch; waiters subscribe to hear it move.
    Manual(watch::Sender<i64>),
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Source::System => f.write_str("Clock::system"),
            Source::Manual(t) => write!(f, "Clock::manual({})", *t.borrow()),
        }
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(Source::System))
    }

    /// A clock that reads `start` (microseconds since the epoch) until it is advanced.
    pub fn manual(start: i64) -> Clock {
        Clock(Arc::new(Source::Manual(watch::Sender::new(start))))
    }

    /// A manual clock starting at the system clock's time, so records still look current.
    pub fn manual_at_now() -> Clock {
        Clock::manual(now_micros())
    }

    /// Microseconds since the Unix epoch.
    pub fn now_micros(&self) -> i64 {
        match &*self.0 {
            Source::System => now_micros(),
            Source::Manual(t) => *t.borrow(),
        }
    }

    /// Moves a manual clock forward by `by` and wakes whoever sleeps on it.
    ///
    /// # Panics
    /// On the system clock, which only time moves.
    pub fn advance(&self, by: Duration) {
        let Source::Manual(t) = &*self.0 else {
            panic!("Clock::advance on the system clock");
        };
        let by = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        t.send_modify(|now| *now = now.saturating_add(by));
    }

    /// Waits until the clock reads `at` or later, but at most `limit` of tokio time (waits
    /// are bounded so the caller also looks again on its own; `i64::MAX` waits `limit`).
    pub async fn sleep_until(&self, at: i64, limit: Duration) {
        let give_up = tokio::time::Instant::now() + limit;
        match &*self.0 {
            Source::System => {
                let left = u64::try_from(at.saturating_sub(now_micros())).unwrap_or(0);
                let wake = give_up.min(tokio::time::Instant::now() + Duration::from_micros(left));
                tokio::time::sleep_until(wake).await;
            }
            Source::Manual(t) => {
                // Subscribed before the time is read: an advance in between is not missed.
                let mut moved = t.subscribe();
                let reached = moved.wait_for(|now| *now >= at);
                let _ = tokio::time::timeout_at(give_up, reached).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_sleep_ends_when_the_clock_is_advanced_past_it() {
        let clock = Clock::manual(1_000);
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep_until(3_000, Duration::from_secs(3600)).await })
        };
        tokio::task::yield_now().await;
        clock.advance(Duration::from_micros(1_000));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woke before its time");
        clock.advance(Duration::from_micros(1_000));
        sleeper.await.expect("sleeper");
        assert_eq!(clock.now_micros(), 3_000);
    }

    #[tokio::test]
    async fn a_manual_sleep_is_bounded_by_its_limit() {
        let clock = Clock::manual(0);
        let started = tokio::time::Instant::now();
        clock.sleep_until(i64::MAX, Duration::from_millis(20)).await;
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(
            clock.now_micros(),
            0,
            "waiting does not move a manual clock"
        );
    }

    #[tokio::test]
    async fn the_system_clock_sleeps_until_the_time_or_the_limit() {
        let clock = Clock::system();
        let started = tokio::time::Instant::now();
        let at = clock.now_micros() + 20_000;
        clock.sleep_until(at, Duration::from_secs(60)).await;
        assert!(clock.now_micros() >= at);
        clock
            .sleep_until(clock.now_micros() + 60_000_000, Duration::from_millis(20))
            .await;
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    #[should_panic(expected = "system clock")]
    fn the_system_clock_cannot_be_advanced() {
        Clock::system().advance(Duration::from_secs(1));
    }
}
