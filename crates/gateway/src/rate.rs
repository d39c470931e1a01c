//! How often one address may do something, over a sliding window: the block page's concern
//! reports, so that one computer cannot fill the alert queue (150 posts once made 150 alerts
//! in seven seconds). Kept in memory: a restart forgets it, which only ever lets more through.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most addresses remembered; beyond it, those with nothing in the window are forgotten, then
/// the oldest.
const MOST_ADDRESSES: usize = 10_000;

/// At most `limit` uses per address within `window`.
#[derive(Debug)]
pub struct RateLimit {
    limit: usize,
    window: Duration,
    uses: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl RateLimit {
    /// `limit` uses per address within `window`.
    pub fn new(limit: usize, window: Duration) -> RateLimit {
        RateLimit {
            limit: limit.max(1),
            window,
            uses: Mutex::default(),
        }
    }

    /// Counts a use by `address` at `now` if it is within the limit; `false` (and nothing
    /// counted) if it is not.
    pub fn allow(&self, address: IpAddr, now: Instant) -> bool {
        let mut uses = self.uses.lock().unwrap_or_else(|e| e.into_inner());
        if uses.len() >= MOST_ADDRESSES && !uses.contains_key(&address) {
            let window = self.window;
            uses.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|last| now.duration_since(*last) < window)
            });
            if uses.len() >= MOST_ADDRESSES {
                let oldest = uses
                    .iter()
                    .min_by_key(|(_, times)| times.back().copied())
                    .map(|(address, _)| *address);
                if let Some(oldest) = oldest {
                    uses.remove(&oldest);
                }
            }
        }
        let times = uses.entry(address).or_default();
        while times
            .front()
            .is_some_and(|first| now.duration_since(*first) >= self.window)
        {
            times.pop_front();
        }
        if times.len() >= self.limit {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_sliding_window() {
        let limit = RateLimit::new(3, Duration::from_secs(3600));
        let start = Instant::now();
        let one: IpAddr = "10.0.0.1".parse().expect("ip");
        let two: IpAddr = "10.0.0.2".parse().expect("ip");
        for _ in 0..3 {
            assert!(limit.allow(one, start));
        }
        assert!(!limit.allow(one, start + Duration::from_secs(10)));
        assert!(limit.allow(two, start), "another address is not held back");
        assert!(!limit.allow(one, start + Duration::from_secs(3599)));
        assert!(
            limit.allow(one, start + Duration::from_secs(3600)),
            "an hour on"
        );
    }

    #[test]
    fn many_addresses_are_bounded() {
        let limit = RateLimit::new(1, Duration::from_secs(60));
        let start = Instant::now();
        for n in 0..(MOST_ADDRESSES as u32 + 100) {
            assert!(limit.allow(IpAddr::from(n.to_be_bytes()), start));
        }
        assert!(limit.uses.lock().expect("lock").len() <= MOST_ADDRESSES);
    }
}
