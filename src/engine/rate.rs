//! Rate limits: a token bucket (`rate` commands per second with bursts up to `burst`), and
//! the buckets per key (a token's hash) that [`crate::engine::commands::admit`] takes from.
//!
//! Buckets refill on tokio's clock (the system's monotonic clock in production), so a test
//! pauses it and advances it instead of waiting for a refill.

use dashmap::DashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: u32, burst: u32) -> Self {
        let burst = burst.max(1) as f64;
        TokenBucket {
            rate: rate.max(1) as f64,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl TokenBucket {
    /// Whether the bucket has refilled by `now`: it is then the same as a new one.
    fn is_full_at(&self, now: Instant) -> bool {
        self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate >= self.burst
    }
}

/// One bucket per key (a token's hash), created on first use. Buckets that have refilled are
/// dropped whenever the map has doubled since the last sweep: a fresh bucket is the same, and
/// without the sweep every token ever seen would keep its entry for the life of the process.
/// The sweep is amortised over the insertions that grew the map.
#[derive(Debug)]
pub struct Buckets {
    rate: u32,
    burst: u32,
    map: DashMap<String, TokenBucket>,
    sweep_at: AtomicUsize,
}

/// The smallest map size at which refilled buckets are swept.
const SWEEP_FLOOR: usize = 1024;

impl Buckets {
    pub fn new(rate: u32, burst: u32) -> Self {
        Buckets {
            rate,
            burst,
            map: DashMap::new(),
            sweep_at: AtomicUsize::new(SWEEP_FLOOR),
        }
    }

    /// Takes one command from `key`'s bucket.
    pub fn try_take(&self, key: &str) -> bool {
        let ok = match self.map.get_mut(key) {
            Some(mut b) => b.try_take(),
            None => self
                .map
                .entry(key.to_string())
                .or_insert_with(|| TokenBucket::new(self.rate, self.burst))
                .try_take(),
        };
        if self.map.len() >= self.sweep_at.load(Ordering::Relaxed) {
            let now = Instant::now();
            self.map.retain(|_, b| !b.is_full_at(now));
            self.sweep_at
                .store((self.map.len() * 2).max(SWEEP_FLOOR), Ordering::Relaxed);
        }
        ok
    }

    /// How many keys have a bucket (for tests and metrics).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key has a bucket.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refilled_buckets_are_swept_and_busy_ones_kept() {
        // Rate 1/s: a bucket that gave a command just now is not full; one never used is.
        let b = Buckets::new(1, 2);
        assert!(b.try_take("busy") && b.try_take("busy"));
        assert!(!b.try_take("busy"), "burst spent");
        for i in 0..SWEEP_FLOOR - 2 {
            assert!(b.try_take(&format!("k{i}")));
        }
        // Each of those took one of two tokens, so none is full yet: nothing to sweep.
        assert_eq!(b.len(), SWEEP_FLOOR - 1);
        assert!(b.try_take("last"));
        assert_eq!(b.len(), SWEEP_FLOOR, "nothing refilled within the test");
        // The next sweep is when the map doubles; the spent bucket keeps refusing meanwhile.
        assert!(!b.try_take("busy"));
    }

    #[test]
    fn full_buckets_are_dropped_at_the_sweep() {
        // Burst 1 at a huge rate: every bucket is full again at once, so the sweep at the
        // floor empties the map; a swept key starts again with a full burst.
        let b = Buckets::new(u32::MAX, 1);
        for i in 0..SWEEP_FLOOR {
            assert!(b.try_take(&format!("k{i}")));
        }
        assert!(b.len() < SWEEP_FLOOR, "{} buckets kept", b.len());
        assert!(b.try_take("k0"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_refills_as_tokio_time_passes_and_not_before() {
        use std::time::Duration;
        // Two commands per second, bursts of one: a token every 500 ms.
        let b = Buckets::new(2, 1);
        assert!(b.try_take("k"));
        assert!(!b.try_take("k"), "burst spent");
        tokio::time::advance(Duration::from_millis(400)).await;
        assert!(!b.try_take("k"), "four fifths of a token after 400 ms");
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(b.try_take("k"), "a whole token after 500 ms");
        assert!(!b.try_take("k"));
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(
            b.try_take("k") && !b.try_take("k"),
            "refilled up to the burst only"
        );
    }

    #[test]
    fn a_burst_is_allowed_then_refused() {
        let mut b = TokenBucket::new(1, 3);
        assert!(b.try_take() && b.try_take() && b.try_take());
        assert!(!b.try_take());
    }
}
