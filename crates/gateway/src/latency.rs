//! Latency histograms the front ends keep for the metrics endpoint: how long a DNS query or a
//! proxy request took, counted into fixed buckets with atomics (no lock on the hot path, no
//! allocation), read whole by a scrape.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket upper bounds in microseconds: from a cached DNS answer (tens of microseconds) to a
/// slow origin server (seconds). The last bucket (+Inf) is implicit.
pub const BOUNDS_MICROS: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
];

/// A histogram of durations, in [`BOUNDS_MICROS`] buckets.
#[derive(Debug, Default)]
pub struct Latency {
    /// Observations per bucket (not cumulative); the last is over the largest bound.
    buckets: [AtomicU64; BOUNDS_MICROS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// A copy of a [`Latency`] at one moment, in the cumulative form Prometheus expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencySnapshot {
    /// (upper bound in microseconds, observations at or under it), cumulative.
    pub buckets: Vec<(u64, u64)>,
    /// Every observation (the +Inf bucket).
    pub count: u64,
    /// The sum of every observation, in microseconds.
    pub sum_micros: u64,
}

impl Latency {
    /// Counts one observation.
    pub fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_MICROS.partition_point(|&bound| bound < micros);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counts now, cumulative per bound.
    pub fn snapshot(&self) -> LatencySnapshot {
        let mut running = 0;
        let buckets = BOUNDS_MICROS
            .iter()
            .zip(&self.buckets)
            .map(|(&bound, counter)| {
                running += counter.load(Ordering::Relaxed);
                (bound, running)
            })
            .collect();
        let over = self.buckets[BOUNDS_MICROS.len()].load(Ordering::Relaxed);
        LatencySnapshot {
            buckets,
            // Read from the buckets, so that +Inf is never below the last bound's count even
            // while observations are being added.
            count: running + over,
            sum_micros: self.sum_micros.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them_and_add_up() {
        let latency = Latency::default();
        latency.observe(Duration::from_micros(50)); // on a bound: that bucket
        latency.observe(Duration::from_micros(51));
        latency.observe(Duration::from_millis(3));
        latency.observe(Duration::from_secs(60)); // over every bound
        let snapshot = latency.snapshot();
        assert_eq!(snapshot.count, 4);
        assert_eq!(snapshot.sum_micros, 50 + 51 + 3_000 + 60_000_000);
        let at = |bound: u64| {
            snapshot
                .buckets
                .iter()
                .find(|(b, _)| *b == bound)
                .map(|(_, n)| *n)
        };
        assert_eq!(at(50), Some(1));
        assert_eq!(at(100), Some(2));
        assert_eq!(at(2_500), Some(2));
        assert_eq!(at(5_000), Some(3));
        assert_eq!(at(10_000_000), Some(3));
        assert!(snapshot.buckets.windows(2).all(|w| w[0].1 <= w[1].1));
    }
}
