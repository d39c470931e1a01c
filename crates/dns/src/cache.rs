//! The answer cache: upstream replies kept for as long as their TTLs allow (negative answers for
//! as long as their SOA says, RFC 2308), keyed by lower-cased name, type and variant (plain or a
//! safe-search rewrite). An entry is the reply in wire form with where each TTL is, so serving it
//! is a copy and a few patched bytes. Policy is never cached: every query is decided for its own
//! client, including the names in a cached CNAME chain.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::wire::{self, HEADER_LEN, Query, rcode, rtype};

/// Longest a positive answer is kept, whatever its TTL.
pub const MAX_TTL: u32 = 86_400;
/// Longest a negative answer is kept.
pub const MAX_NEGATIVE_TTL: u32 = 3_600;

/// Longest cache key: a name, its type and the variant byte.
pub const MAX_KEY: usize = wire::MAX_NAME_WIRE + 3;

/// A cached reply.
#[derive(Debug)]
pub struct Entry {
    /// The reply with id 0 and no OPT record.
    message: Box<[u8]>,
    /// Where each record's TTL is, and the TTL it had when stored.
    ttls: Box<[(u32, u32)]>,
    stored: Instant,
    expires: Instant,
    /// The names CNAME records in the answer point to, in order.
    chain: Box<[String]>,
}

impl Entry {
    /// Reads a normalised reply (id 0, no OPT); `None` if it cannot be read. A reply that must
    /// not be cached (a failure, a zero TTL, a negative answer without SOA) gets a zero TTL:
    /// it can be served once but [`Cache::insert`] does not keep it.
    pub fn new(message: Vec<u8>, now: Instant) -> Option<Entry> {
        let sections = wire::read_sections(&message)?;
        let answers = usize::from(sections.counts[0]);
        let authorities = usize::from(sections.counts[1]);
        let ttl = match sections.rcode {
            rcode::NOERROR if answers > 0 => sections.records[..answers]
                .iter()
                .map(|r| r.ttl)
                .min()
                .unwrap_or(0)
                .min(MAX_TTL),
            rcode::NOERROR | rcode::NXDOMAIN => sections.records[answers..answers + authorities]
                .iter()
                .find(|r| r.rtype == rtype::SOA)
                // The negative TTL is the lesser of the SOA's own TTL and its MINIMUM field.
                .and_then(|soa| Some(soa.ttl.min(soa_minimum(&message, soa)?)))
                .unwrap_or(0)
                .min(MAX_NEGATIVE_TTL),
            _ => 0,
        };
        let chain = sections.records[..answers]
            .iter()
            .filter(|r| r.rtype == rtype::CNAME)
            .map(|r| wire::read_name(&message, r.data_at))
            .collect::<Option<Vec<_>>>()?;
        let ttls = sections
            .records
            .iter()
            .filter(|r| r.rtype != rtype::OPT)
            .map(|r| (u32::try_from(r.ttl_at).unwrap_or(0), r.ttl))
            .collect();
        Some(Entry {
            message: message.into_boxed_slice(),
            ttls,
            stored: now,
            expires: now + Duration::from_secs(u64::from(ttl)),
            chain: chain.into_boxed_slice(),
        })
    }

    /// The names the answer's CNAME records point to.
    pub fn chain(&self) -> &[String] {
        &self.chain
    }

    /// Whether the cache may keep it.
    pub fn cacheable(&self) -> bool {
        self.expires > self.stored
    }

    /// The reply's response code.
    pub fn rcode(&self) -> u8 {
        wire::message_rcode(&self.message).unwrap_or(rcode::SERVFAIL)
    }

    /// Writes the reply to `query` into `out`: its id and flags, its question as the client
    /// wrote it (case included), TTLs reduced by the time spent in the cache, and an OPT record
    /// if the client sent one. Returns false if the client's question does not fit the entry
    /// (never the case for an entry found under the query's own key).
    pub fn write_reply(&self, query: &Query<'_>, now: Instant, out: &mut Vec<u8>) -> bool {
        let question_end = HEADER_LEN + query.question.len();
        if self.message.len() < question_end {
            return false;
        }
        out.clear();
        out.extend_from_slice(&self.message);
        out[HEADER_LEN..question_end].copy_from_slice(query.question);
        wire::set_reply_header(out, query);
        let elapsed =
            u32::try_from(now.saturating_duration_since(self.stored).as_secs()).unwrap_or(u32::MAX);
        for &(at, ttl) in self.ttls.iter() {
            let at = at as usize;
            if let Some(slot) = out.get_mut(at..at + 4) {
                slot.copy_from_slice(&ttl.saturating_sub(elapsed).to_be_bytes());
            }
        }
        if query.edns.is_some() {
            wire::append_opt(out);
        }
        true
    }
}

fn soa_minimum(message: &[u8], soa: &wire::RecordAt) -> Option<u32> {
    let after_mname = wire::skip_name(message, soa.data_at)?;
    let after_rname = wire::skip_name(message, after_mname)?;
    let minimum_at = after_rname + 16;
    let bytes = message.get(minimum_at..minimum_at + 4)?;
    (minimum_at + 4 <= soa.end)
        .then(|| u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

type Shard = Mutex<HashMap<Box<[u8]>, Arc<Entry>>>;

/// The cache, in shards so that workers rarely wait for each other.
#[derive(Debug)]
pub struct Cache {
    shards: Box<[Shard]>,
    per_shard: usize,
}

const SHARDS: usize = 16;

impl Cache {
    /// A cache holding up to about `capacity` answers.
    pub fn new(capacity: usize) -> Cache {
        Cache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: &[u8]) -> &Shard {
        // The key's name bytes are attacker-chosen, but the shard only spreads lock contention;
        // the map inside uses a keyed hash.
        let spread = key
            .iter()
            .fold(0u32, |h, &b| h.rotate_left(5) ^ u32::from(b))
            .wrapping_mul(0x9e37_79b9);
        &self.shards[(spread >> 28) as usize % SHARDS]
    }

    /// The live entry for `key`, if any.
    pub fn get(&self, key: &[u8], now: Instant) -> Option<Arc<Entry>> {
        let shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        shard.get(key).filter(|entry| entry.expires > now).cloned()
    }

    /// Stores an entry. A full shard first loses its expired entries, then an arbitrary eighth.
    pub fn insert(&self, key: &[u8], entry: Arc<Entry>, now: Instant) {
        if !entry.cacheable() {
            return;
        }
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= self.per_shard && !shard.contains_key(key) {
            shard.retain(|_, entry| entry.expires > now);
            if shard.len() >= self.per_shard {
                let drop = (self.per_shard / 8).max(1);
                let victims: Vec<Box<[u8]>> = shard.keys().take(drop).cloned().collect();
                for victim in victims {
                    shard.remove(&victim);
                }
            }
        }
        shard.insert(key.into(), entry);
    }

    /// Answers held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Answer, build_query, name_wire, parse_query};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn reply(name: &str, ttl: u32) -> (Vec<u8>, Vec<u8>) {
        let mut query = Vec::new();
        build_query(
            &mut query,
            0,
            &name_wire(name).expect("well-formed test message"),
            rtype::A,
        );
        let parsed = parse_query(&query).expect("well-formed test message");
        let mut out = Vec::new();
        Answer::start(&mut out, &parsed, rcode::NOERROR).address(
            rtype::A,
            ttl,
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv6Addr::LOCALHOST,
        );
        (query, out)
    }

    #[test]
    fn ttls_count_down_and_entries_expire() {
        let (query_bytes, message) = reply("example.com", 100);
        let start = Instant::now();
        let entry = Entry::new(message, start).expect("well-formed test message");
        let mut client = query_bytes.clone();
        client[0] = 0xab;
        client[13] = b'E'; // the client's case is kept
        let query = parse_query(&client).expect("well-formed test message");
        let mut out = Vec::new();
        assert!(entry.write_reply(&query, start + Duration::from_secs(30), &mut out));
        assert_eq!(out[0], 0xab);
        assert_eq!(out[13], b'E');
        let sections = wire::read_sections(&out).expect("well-formed test message");
        assert_eq!(sections.records[0].ttl, 70);
        assert_eq!(sections.counts[2], 1, "OPT added for an EDNS client");

        let cache = Cache::new(100);
        cache.insert(b"key", Arc::new(entry), start);
        assert!(cache.get(b"key", start + Duration::from_secs(99)).is_some());
        assert!(
            cache
                .get(b"key", start + Duration::from_secs(100))
                .is_none()
        );
    }

    #[test]
    fn negative_answers_use_the_soa_and_failures_are_not_kept() {
        let (query_bytes, _) = reply("gone.example", 100);
        let query = parse_query(&query_bytes).expect("well-formed test message");
        let mut out = Vec::new();
        Answer::start(&mut out, &query, rcode::NXDOMAIN).negative_soa(45);
        let entry = Entry::new(out.clone(), Instant::now()).expect("well-formed test message");
        assert_eq!(entry.rcode(), rcode::NXDOMAIN);
        assert_eq!((entry.expires - entry.stored).as_secs(), 45);

        Answer::start(&mut out, &query, rcode::NXDOMAIN);
        let no_soa = Entry::new(out.clone(), Instant::now()).expect("well-formed test message");
        assert!(!no_soa.cacheable(), "no SOA: not cached");
        Answer::start(&mut out, &query, rcode::SERVFAIL);
        assert!(
            !Entry::new(out.clone(), Instant::now())
                .expect("well-formed test message")
                .cacheable()
        );
        let (_, zero) = reply("now.example", 0);
        let zero = Arc::new(Entry::new(zero, Instant::now()).expect("well-formed test message"));
        assert!(!zero.cacheable());
        let cache = Cache::new(10);
        cache.insert(b"zero", zero, Instant::now());
        assert!(cache.is_empty());
    }

    #[test]
    fn a_full_cache_stays_bounded() {
        let cache = Cache::new(64);
        let now = Instant::now();
        for i in 0..1_000 {
            let (_, message) = reply(&format!("n{i}.example"), 300);
            let entry = Arc::new(Entry::new(message, now).expect("well-formed test message"));
            cache.insert(format!("n{i}").as_bytes(), entry, now);
        }
        assert!(cache.len() <= 64 + SHARDS, "{} entries", cache.len());
    }
}
