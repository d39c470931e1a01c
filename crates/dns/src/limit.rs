//! Response-rate limiting per client over UDP (issue 20, item 9). A UDP source address can be
//! forged, so a resolver that answers anyone as fast as they ask is an amplifier: a 37-byte
//! query can bring back more than a kilobyte, sent to whoever the forger names. Each client
//! address gets a token bucket of `per_second` answers (with a burst of twice that); beyond
//! it, every second query is answered with an empty truncated reply (TC set: a real client asks
//! again over TCP, which a forged address cannot complete) and the others get nothing.
//! Over TCP the connection limits apply instead.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Independent shards, so that workers on several cores rarely wait for each other.
const SHARDS: usize = 16;
/// Most clients remembered per shard; beyond it, the full buckets (idle clients) are dropped.
const MOST_PER_SHARD: usize = 8_192;

/// What to do with a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Answer it.
    Answer,
    /// Over the limit: send an empty truncated reply.
    Slip,
    /// Over the limit: send nothing.
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
    limited: u64,
}

/// Token buckets per client address.
#[derive(Debug)]
pub struct ClientRate {
    per_second: f64,
    burst: f64,
    shards: Vec<Mutex<HashMap<IpAddr, Bucket>>>,
}

impl ClientRate {
    /// `per_second` answers per client (0: no limit, [`ClientRate::check`] always answers).
    pub fn new(per_second: u32) -> ClientRate {
        ClientRate {
            per_second: f64::from(per_second),
            burst: f64::from(per_second) * 2.0,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// Whether the limit is on.
    pub fn is_on(&self) -> bool {
        self.per_second > 0.0
    }

    /// Takes a token for `client` at `now`.
    pub fn check(&self, client: IpAddr, now: Instant) -> Verdict {
        if !self.is_on() {
            return Verdict::Answer;
        }
        let shard = match client {
            IpAddr::V4(v4) => v4.octets()[3] as usize,
            IpAddr::V6(v6) => v6.octets()[15] as usize,
        } % SHARDS;
        let mut buckets = self.shards[shard].lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MOST_PER_SHARD && !buckets.contains_key(&client) {
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, bucket| {
                bucket.tokens + now.duration_since(bucket.last).as_secs_f64() * per_second < burst
            });
            if buckets.len() >= MOST_PER_SHARD {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            last: now,
            limited: 0,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Verdict::Answer;
        }
        bucket.limited += 1;
        if bucket.limited % 2 == 1 {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_client_beyond_its_rate_is_slipped_and_dropped_in_turn() {
        let rate = ClientRate::new(10);
        let start = Instant::now();
        let client: IpAddr = "192.0.2.7".parse().expect("ip");
        let other: IpAddr = "192.0.2.8".parse().expect("ip");
        for _ in 0..20 {
            assert_eq!(rate.check(client, start), Verdict::Answer, "the burst");
        }
        assert_eq!(rate.check(client, start), Verdict::Slip);
        assert_eq!(rate.check(client, start), Verdict::Drop);
        assert_eq!(rate.check(client, start), Verdict::Slip);
        assert_eq!(
            rate.check(other, start),
            Verdict::Answer,
            "others are not held back"
        );
        // A tenth of a second later, one more token.
        let later = start + Duration::from_millis(100);
        assert_eq!(rate.check(client, later), Verdict::Answer);
        assert_ne!(rate.check(client, later), Verdict::Answer);
    }

    #[test]
    fn zero_means_no_limit() {
        let rate = ClientRate::new(0);
        let client: IpAddr = "192.0.2.7".parse().expect("ip");
        for _ in 0..10_000 {
            assert_eq!(rate.check(client, Instant::now()), Verdict::Answer);
        }
    }
}
