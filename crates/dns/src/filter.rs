//! The DNS filter's per-query logic, between the sockets ([`crate::server`]) and the policy:
//! who is asking, what the policy says, and which answer that makes. No policy logic lives here;
//! the verdict comes from [`ward_policy::decide`].
//!
//! Order for every query:
//! 1. not a query / unreadable → dropped / FORMERR; other classes → REFUSED;
//! 2. bypass names (DoH canary, iCloud Private Relay) → NXDOMAIN, for everyone;
//! 3. the name's decision for the client's group → blocked answer if blocked (illegal-content
//!    lists first, as the policy's precedence says);
//! 4. safe-search names for the group → a CNAME to the safe host with its addresses;
//! 5. otherwise the upstream answer (from the cache when live); each name its CNAME chain leads
//!    to is decided too, and a blocked one blocks the answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use jiff::Timestamp;
use ward_events::{Disposition, EventAlert, EventSink, Network, SchoolId, Source};
use ward_gateway::repeats::BlockedRepeats;
use ward_gateway::{BrowsingCounts, LiveState, Requester, canonical_ip};
use ward_lists::Host;
use ward_policy::{Action as Verdict, BlockedAnswer, PolicySnapshot, Request};

use crate::cache::{Cache, Entry, MAX_KEY};
use crate::limit::{ClientRate, Verdict as RateVerdict};
use crate::reply;
use crate::rewrite::{self, SafeSearch};
use crate::upstream::Upstreams;
use crate::wire::{self, Answer, CLASS_IN, Query, QueryError, rcode, rtype};

/// Deployment settings of the DNS filter (the policy says the rest).
#[derive(Debug, Clone)]
pub struct FilterSettings {
    /// The school whose network this is (events are recorded under it).
    pub school: SchoolId,
    /// The block page's IPv4 address, for A queries of blocked names.
    pub block_page_ipv4: Option<Ipv4Addr>,
    /// The block page's IPv6 address, for AAAA queries of blocked names.
    pub block_page_ipv6: Option<Ipv6Addr>,
    /// Answers the cache holds.
    pub cache_entries: usize,
    /// Networks whose clients are answered, besides the device register's addresses and
    /// subnets; others get REFUSED, so the filter is no open resolver.
    pub allow_clients: Vec<Network>,
    /// Answers per second per client over UDP before response-rate limiting (0: off).
    pub client_qps: u32,
    /// HTTP/3 is removed from HTTPS and SVCB answers (HTTPS inspection is on: QUIC would
    /// go round it).
    pub remove_http3: bool,
}

/// Counters since start.
#[derive(Debug, Default)]
pub struct Stats {
    /// Queries answered.
    pub queries: AtomicU64,
    /// Queries refused because the client is not one of the school's.
    pub refused_clients: AtomicU64,
    /// UDP queries over a client's rate (slipped or dropped).
    pub rate_limited: AtomicU64,
    /// Answered from the cache.
    pub cache_hits: AtomicU64,
    /// Blocked (policy, CNAME chain or bypass name).
    pub blocked: AtomicU64,
    /// Rewritten for safe search.
    pub rewritten: AtomicU64,
    /// Answered SERVFAIL because no upstream answered usably.
    pub upstream_failures: AtomicU64,
    /// Packets that were not queries, and queries that could not be read.
    pub malformed: AtomicU64,
    /// Upstream answers that offered HTTP/3 (QUIC), which was removed (HTTPS inspection is
    /// on): how often devices were kept from trying QUIC round the proxy.
    pub http3_removed: AtomicU64,
    /// From a query's arrival to its answer being sent (UDP and TCP; not for dropped queries).
    pub latency: ward_gateway::latency::Latency,
}

impl Stats {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What to do after [`DnsFilter::answer`].
#[derive(Debug)]
pub enum Step {
    /// The answer is in the output buffer: send it.
    Reply,
    /// Send nothing (the packet was not a query).
    Drop,
    /// The upstream must be asked first: call [`DnsFilter::resolve`].
    Resolve(Pending),
}

/// A question for the upstream, and what the answer is for.
#[derive(Debug)]
pub struct Pending {
    key: Vec<u8>,
    name_wire: Vec<u8>,
    qtype: u16,
    rewrite: Option<SafeSearch>,
    asked: String,
}

/// The DNS filter: policy state, cache, upstreams and event output. Shared by every socket.
pub struct DnsFilter {
    live: Arc<LiveState>,
    settings: FilterSettings,
    cache: Cache,
    upstreams: Upstreams,
    events: Option<EventSink>,
    counts: BrowsingCounts,
    stats: Stats,
    rate: ClientRate,
    repeats: BlockedRepeats,
}

impl std::fmt::Debug for DnsFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsFilter")
            .field("settings", &self.settings)
            .field("upstreams", &self.upstreams)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// The context of one query once parsed.
struct Asked<'q> {
    query: Query<'q>,
    name: String,
    /// Who asked, and when: identified once, the time read once.
    requester: Requester,
    limit: usize,
}

impl DnsFilter {
    /// A filter deciding with `live` (shared with the other front ends), with these settings,
    /// upstreams and event sink (`None`: events are not recorded, for tests and benchmarks of
    /// the filter alone).
    pub fn new(
        live: Arc<LiveState>,
        settings: FilterSettings,
        upstreams: Upstreams,
        events: Option<EventSink>,
    ) -> DnsFilter {
        DnsFilter {
            live,
            cache: Cache::new(settings.cache_entries),
            counts: BrowsingCounts::new(settings.school, Source::Dns),
            rate: ClientRate::new(settings.client_qps),
            repeats: BlockedRepeats::default(),
            settings,
            upstreams,
            events,
            stats: Stats::default(),
        }
    }

    /// The policy state it decides with.
    pub fn live(&self) -> &Arc<LiveState> {
        &self.live
    }

    /// Counters since start.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether a UDP query from `client` may be answered now, or is over its rate.
    pub fn rate(&self, client: IpAddr) -> RateVerdict {
        let verdict = self.rate.check(client, Instant::now());
        if verdict != RateVerdict::Answer {
            Stats::add(&self.stats.rate_limited);
        }
        verdict
    }

    /// The upstream resolvers.
    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    /// Answers `packet` from `client_ip` into `out` when it can without the upstream.
    /// `udp` is false for TCP (answers up to 65,535 bytes).
    pub fn answer(&self, packet: &[u8], client_ip: IpAddr, udp: bool, out: &mut Vec<u8>) -> Step {
        self.answer_with(packet, client_ip, udp, out, None)
    }

    /// Asks the upstream for what [`DnsFilter::answer`] could not answer, then answers. Never
    /// returns [`Step::Resolve`].
    pub async fn resolve(
        &self,
        pending: Pending,
        packet: &[u8],
        client_ip: IpAddr,
        udp: bool,
        out: &mut Vec<u8>,
    ) -> Step {
        let Some(entry) = self.fetch(&pending).await else {
            Stats::add(&self.stats.upstream_failures);
            return servfail(packet, out);
        };
        match self.answer_with(packet, client_ip, udp, out, Some((pending.key, entry))) {
            // After a reload while waiting, the answer may need another upstream question:
            // SERVFAIL, and the client asks again.
            Step::Resolve(_) => servfail(packet, out),
            step => step,
        }
    }

    async fn fetch(&self, pending: &Pending) -> Option<Arc<Entry>> {
        let reply = match self
            .upstreams
            .resolve(&pending.name_wire, pending.qtype)
            .await
        {
            Ok(reply) => reply,
            Err(error) => {
                tracing::warn!(name = %pending.asked, %error, "upstream failed");
                return None;
            }
        };
        let normalised = match reply::normalise(reply, self.settings.remove_http3) {
            Ok((normalised, removed)) => {
                if removed.http3 {
                    Stats::add(&self.stats.http3_removed);
                }
                normalised
            }
            Err(error) => {
                tracing::warn!(name = %pending.asked, %error, "upstream reply refused");
                return None;
            }
        };
        let message = match pending.rewrite {
            None => normalised,
            Some(rewrite) => {
                match reply::safe_search(&pending.asked, pending.qtype, rewrite.target, &normalised)
                {
                    Ok(message) => message,
                    Err(error) => {
                        tracing::warn!(name = %pending.asked, %error, "safe-search answer failed");
                        return None;
                    }
                }
            }
        };
        let now = Instant::now();
        let entry = Arc::new(Entry::new(message, now)?);
        self.cache.insert(&pending.key, entry.clone(), now);
        Some(entry)
    }

    fn answer_with(
        &self,
        packet: &[u8],
        client_ip: IpAddr,
        udp: bool,
        out: &mut Vec<u8>,
        fetched: Option<(Vec<u8>, Arc<Entry>)>,
    ) -> Step {
        let query = match wire::parse_query(packet) {
            Ok(query) => query,
            Err(QueryError::Ignore) => {
                Stats::add(&self.stats.malformed);
                return Step::Drop;
            }
            Err(QueryError::Malformed { id, flags }) => {
                Stats::add(&self.stats.malformed);
                Answer::headers_only(out, id, flags, rcode::FORMERR);
                return Step::Reply;
            }
            Err(QueryError::NotImplemented { id, flags }) => {
                Answer::headers_only(out, id, flags, rcode::NOTIMP);
                return Step::Reply;
            }
            Err(QueryError::BadVersion { id, flags }) => {
                // BADVERS is extended rcode 16: 1 in the OPT record's upper bits, 0 in the header.
                Answer::headers_only(out, id, flags, rcode::NOERROR).edns(None, 1);
                return Step::Reply;
            }
        };
        Stats::add(&self.stats.queries);
        if query.qclass != CLASS_IN {
            Answer::start(out, &query, rcode::REFUSED).edns(query.edns, 0);
            return Step::Reply;
        }
        let Some(name) = query.name() else {
            // A label with a dot, a space or a control byte in it: no host is named like this,
            // and it cannot be classified, so it is not forwarded.
            Answer::start(out, &query, rcode::REFUSED).edns(query.edns, 0);
            return Step::Reply;
        };
        let state = self.live.guard();
        let now = Timestamp::now();
        let client = state.client(client_ip, self.live.sessions(), now);
        if !client.registered
            && !self
                .settings
                .allow_clients
                .iter()
                .any(|network| network.contains(canonical_ip(client_ip)))
        {
            // Not one of the school's clients: no answer from this resolver.
            Stats::add(&self.stats.refused_clients);
            Answer::start(out, &query, rcode::REFUSED).edns(query.edns, 0);
            return Step::Reply;
        }
        let asked = Asked {
            limit: if udp {
                query.udp_limit()
            } else {
                usize::from(u16::MAX)
            },
            requester: Requester::new(self.settings.school, Source::Dns, now, client_ip, client),
            name,
            query,
        };

        if let Some(why) = rewrite::bypass(&asked.name) {
            Stats::add(&self.stats.blocked);
            Answer::start(out, &asked.query, rcode::NXDOMAIN)
                .negative_soa(state.policy.spec().dns.blocked_ttl)
                .edns(asked.query.edns, 0);
            // Not an alert: browsers ask for some of these names by themselves.
            self.record(
                &asked,
                Disposition::Block,
                "bypass".into(),
                why.into(),
                None,
            );
            return Step::Reply;
        }

        // The root has no host to decide on (resolvers ask for its NS records).
        let host = if asked.name.is_empty() {
            None
        } else {
            match Host::parse(&asked.name) {
                Ok(host) => Some(host),
                Err(_) => {
                    Answer::start(out, &asked.query, rcode::REFUSED).edns(asked.query.edns, 0);
                    return Step::Reply;
                }
            }
        };
        if let Some(host) = host
            && self.block_if_decided(&state.policy, &asked, host, None, out)
        {
            return Step::Reply;
        }

        let rewrite = rewrite::safe_search(
            &asked.name,
            asked.requester.client.safe_search,
            asked.requester.client.youtube,
        );
        let mut key = [0u8; MAX_KEY];
        let length = asked.query.cache_key(&mut key);
        key[length] = rewrite.map_or(0, |r| r.variant);
        let key = &key[..=length];

        let instant = Instant::now();
        let entry = match fetched {
            Some((fetched_key, entry)) if fetched_key == key => Some(entry),
            _ => {
                let hit = self.cache.get(key, instant);
                if hit.is_some() {
                    Stats::add(&self.stats.cache_hits);
                }
                hit
            }
        };
        let Some(entry) = entry else {
            // The safe host's name for a rewrite, else the asked name (lower-cased, from the key).
            let name_wire = match rewrite {
                Some(rewrite) => match wire::name_wire(rewrite.target) {
                    Some(wire) => wire,
                    None => return Step::Drop,
                },
                None => key[..length - 2].to_vec(),
            };
            return Step::Resolve(Pending {
                key: key.to_vec(),
                name_wire,
                qtype: asked.query.qtype,
                rewrite,
                asked: asked.name,
            });
        };

        // Every name the answer's CNAME chain leads to is decided for this client too.
        for target in entry.chain() {
            let blocked = match Host::parse(target) {
                Ok(host) => self.block_if_decided(&state.policy, &asked, host, Some(target), out),
                // A name that cannot be put in canonical form cannot be classified: the
                // answer is not given rather than given unchecked.
                Err(error) => {
                    self.blocked(&state.policy, &asked, out);
                    let reason = format!("CNAME to {target:?}, which cannot be checked: {error}");
                    self.record(&asked, Disposition::Block, String::new(), reason, None);
                    true
                }
            };
            if blocked {
                return Step::Reply;
            }
        }

        if !entry.write_reply(&asked.query, instant, out) {
            Answer::start(out, &asked.query, rcode::SERVFAIL).edns(asked.query.edns, 0);
            return Step::Reply;
        }
        if out.len() > asked.limit {
            Answer::start(out, &asked.query, entry.rcode())
                .truncated()
                .edns(asked.query.edns, 0);
        }
        match rewrite {
            Some(rewrite) => {
                Stats::add(&self.stats.rewritten);
                self.record(
                    &asked,
                    Disposition::Rewrite,
                    "search-engines".into(),
                    format!("safe search: {} ({})", rewrite.engine, rewrite.target),
                    None,
                );
            }
            None => {
                // Reverse lookups and the root are not browsing.
                if !asked.name.is_empty() && !asked.name.ends_with(".arpa") {
                    self.count_allowed(&asked);
                }
            }
        }
        Step::Reply
    }

    /// Decides `host` (the name asked, or `via` a CNAME target) for the client; if the policy
    /// blocks it, writes the blocked answer, records the event and returns true.
    fn block_if_decided(
        &self,
        policy: &PolicySnapshot,
        asked: &Asked<'_>,
        host: Host,
        via: Option<&str>,
        out: &mut Vec<u8>,
    ) -> bool {
        let decision = asked.requester.decide(policy, &Request::Host(host));
        if decision.action != Verdict::Block {
            return false;
        }
        self.blocked(policy, asked, out);
        if let Some(events) = &self.events {
            let mut event = asked.requester.blocked(asked.name.clone(), None, &decision);
            if let Some(target) = via {
                event.reason = format!("CNAME to {target}: {}", event.reason);
            }
            self.repeats.record(event, events);
        }
        true
    }

    /// The blocked answer the policy asks for.
    fn blocked(&self, policy: &PolicySnapshot, asked: &Asked<'_>, out: &mut Vec<u8>) {
        Stats::add(&self.stats.blocked);
        let dns = &policy.spec().dns;
        let query = &asked.query;
        let ttl = dns.blocked_ttl;
        match dns.blocked {
            BlockedAnswer::Nxdomain => {
                Answer::start(out, query, rcode::NXDOMAIN)
                    .negative_soa(ttl)
                    .edns(query.edns, 0);
            }
            BlockedAnswer::BlockPage => {
                let address = match query.qtype {
                    rtype::A => self
                        .settings
                        .block_page_ipv4
                        .map(|v4| (v4, Ipv6Addr::UNSPECIFIED)),
                    rtype::AAAA => self
                        .settings
                        .block_page_ipv6
                        .map(|v6| (Ipv4Addr::UNSPECIFIED, v6)),
                    _ => None,
                };
                let mut answer = Answer::start(out, query, rcode::NOERROR);
                match address {
                    Some((v4, v6)) => answer.address(query.qtype, ttl, v4, v6),
                    // No block page for this type: "no data", so the client tries A.
                    None => answer.negative_soa(ttl),
                };
                answer.edns(query.edns, 0);
            }
        }
    }

    /// Records an event about the query: what was done, why, and the alert it raises.
    fn record(
        &self,
        asked: &Asked<'_>,
        action: Disposition,
        categories: String,
        reason: String,
        alert: Option<EventAlert>,
    ) {
        let Some(events) = &self.events else {
            return;
        };
        let mut event = asked.requester.event(asked.name.clone(), action);
        event.categories = categories;
        event.reason = reason;
        event.alert = alert;
        self.repeats.record(event, events);
    }

    fn count_allowed(&self, asked: &Asked<'_>) {
        if self.events.is_some() {
            let requester = &asked.requester;
            self.counts.add(
                requester.at,
                requester.client_ip,
                &requester.client,
                &asked.name,
            );
        }
    }

    /// Hands the allowed-query counts, and the repeats of blocked queries, gathered since the
    /// last call to the event writer.
    pub fn flush_counts(&self) {
        if let Some(events) = &self.events {
            self.counts.flush(events);
            self.repeats.flush(events);
        }
    }
}

fn servfail(packet: &[u8], out: &mut Vec<u8>) -> Step {
    match wire::parse_query(packet) {
        Ok(query) => {
            Answer::start(out, &query, rcode::SERVFAIL).edns(query.edns, 0);
            Step::Reply
        }
        Err(_) => Step::Drop,
    }
}
