//! Repeats of a blocked or rewritten request, folded at the gate. A browser asks a blocked name
//! again and again (A and AAAA, retries, every page that links to it): one event a query made
//! the DNS filter write a row per packet (1.5 million in a ten-second benchmark) and hold
//! hundreds of megabytes in its queue. Here the first request of a kind (same client, name,
//! disposition and reason) is recorded at once, so its alert is raised at once with its
//! detail; its repeats until the next [`BlockedRepeats::flush`] (every few seconds) are counted
//! and handed over as one event standing for all of them, with the first one's detail. The
//! alert queue folds that event's count into the alert's repeats, so they stay exact.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use jiff::Timestamp;
use ward_events::{Event, EventSink};

/// Independent shards, so that receive loops on several cores rarely wait for each other.
const SHARDS: usize = 16;
/// Most kinds of request remembered per shard between flushes; beyond it, requests are
/// recorded one by one (a flood of distinct names cannot grow memory without bound).
const MOST_PER_SHARD: usize = 4_096;

struct Pending {
    /// The first request, as recorded.
    first: Event,
    /// Repeats since, and when the first of them came.
    repeats: u32,
    first_repeat: Option<Timestamp>,
}

/// Whether two events are the same kind of request.
fn same_kind(a: &Event, b: &Event) -> bool {
    a.school == b.school
        && a.client_ip == b.client_ip
        && a.device == b.device
        && a.person == b.person
        && a.username == b.username
        && a.identified_by == b.identified_by
        && a.host == b.host
        && a.url == b.url
        && a.action == b.action
        && a.reason == b.reason
        && a.categories == b.categories
        && a.search_term == b.search_term
}

fn kind_hash(event: &Event) -> u64 {
    let mut hasher = DefaultHasher::new();
    event.school.hash(&mut hasher);
    event.client_ip.hash(&mut hasher);
    event.device.hash(&mut hasher);
    event.person.hash(&mut hasher);
    event.username.hash(&mut hasher);
    event.identified_by.hash(&mut hasher);
    event.host.hash(&mut hasher);
    event.url.hash(&mut hasher);
    event.action.as_str().hash(&mut hasher);
    event.reason.hash(&mut hasher);
    event.categories.hash(&mut hasher);
    event.search_term.hash(&mut hasher);
    hasher.finish()
}

/// Blocked and rewritten requests seen since the last flush, per kind.
pub struct BlockedRepeats {
    shards: Vec<Mutex<HashMap<u64, Pending>>>,
}

impl std::fmt::Debug for BlockedRepeats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockedRepeats").finish_non_exhaustive()
    }
}

impl Default for BlockedRepeats {
    fn default() -> BlockedRepeats {
        BlockedRepeats {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl BlockedRepeats {
    /// Hands `event` to `sink` if it is the first of its kind since the last flush; otherwise
    /// counts it.
    pub fn record(&self, event: Event, sink: &EventSink) {
        let hash = kind_hash(&event);
        {
            let mut shard = self.shards[(hash as usize) % SHARDS]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let room = shard.len() < MOST_PER_SHARD;
            match shard.get_mut(&hash) {
                Some(pending) if same_kind(&pending.first, &event) => {
                    pending.repeats = pending.repeats.saturating_add(event.count);
                    pending.first_repeat.get_or_insert(event.at);
                    // Counted as handed over now: a hard stop before the flush counts it lost.
                    sink.hold(event.count);
                    return;
                }
                // Another kind with the same hash: recorded one by one.
                Some(_) => {}
                None if room => {
                    let mut first = event.clone();
                    first.count = 0;
                    shard.insert(
                        hash,
                        Pending {
                            first,
                            repeats: 0,
                            first_repeat: None,
                        },
                    );
                }
                None => {}
            }
        }
        sink.record(event);
    }

    /// Hands over one event per kind that had repeats, standing for all of them, and forgets
    /// every kind (its next request is recorded at once again).
    pub fn flush(&self, sink: &EventSink) {
        for shard in &self.shards {
            let taken = std::mem::take(&mut *shard.lock().unwrap_or_else(|e| e.into_inner()));
            for pending in taken.into_values() {
                if pending.repeats == 0 {
                    continue;
                }
                let mut event = pending.first;
                event.count = pending.repeats;
                if let Some(at) = pending.first_repeat {
                    event.at = at;
                }
                sink.record_held(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_events::{Disposition, SchoolId, Source};

    fn blocked(host: &str, client: &str, second: i64) -> Event {
        let mut event = Event::new(
            SchoolId(1),
            Source::Dns,
            Timestamp::from_second(1_800_000_000 + second).expect("time"),
            client.parse().expect("ip"),
            host.into(),
            Disposition::Block,
        );
        event.categories = "gambling".into();
        event.reason = "rule gambling".into();
        event
    }

    #[tokio::test]
    async fn the_first_is_recorded_at_once_and_its_repeats_as_one_event() {
        let (sink, mut receiver) = EventSink::channel(100);
        let repeats = BlockedRepeats::default();
        for second in 0..5 {
            repeats.record(blocked("casino.test", "10.0.0.1", second), &sink);
        }
        repeats.record(blocked("casino.test", "10.0.0.2", 1), &sink);
        repeats.record(blocked("bets.test", "10.0.0.1", 2), &sink);
        let mut now = Vec::new();
        while let Ok(event) = receiver.try_recv() {
            now.push(event);
        }
        assert_eq!(now.len(), 3, "one of each kind at once");
        assert!(now.iter().all(|event| event.count == 1));
        repeats.flush(&sink);
        let mut later = Vec::new();
        while let Ok(event) = receiver.try_recv() {
            later.push(event);
        }
        assert_eq!(later.len(), 1, "{later:?}");
        assert_eq!(later[0].count, 4);
        assert_eq!(later[0].host, "casino.test");
        assert_eq!(later[0].at, blocked("x", "10.0.0.1", 1).at);
        // After a flush the next one is recorded at once again.
        repeats.record(blocked("casino.test", "10.0.0.1", 9), &sink);
        assert_eq!(receiver.try_recv().expect("at once").count, 1);
        repeats.flush(&sink);
        assert!(receiver.try_recv().is_err(), "no repeats, nothing more");
    }
}
