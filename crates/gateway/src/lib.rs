//! What Ward's filtering front ends (the DNS filter and the proxy) share, so that both apply the
//! same policy to the same person:
//!
//! - [`FilterState`]: the policy snapshot and the device register, immutable, and [`LiveState`],
//!   which holds the one in force and swaps it whole on reload (a request loads it once and keeps
//!   it to the end, so a reload never drops one);
//! - [`ClientMap`]: client address → device, person and group (exact addresses, then the most
//!   specific subnet, else the policy's unknown-client group);
//! - [`Sessions`]: portal log-ins, client address → the person logged in there until the session
//!   ends; they outlive reloads and come before the device register's person and group;
//! - [`BrowsingCounts`]: allowed requests added up per (hour, client, device, person) and site, so
//!   that the event writer gets one event per subject, site and hour rather than one per request
//!   (DESIGN.md F10).
//!
//! - [`latency`]: latency histograms for the metrics endpoint;
//! - [`search`]: search engines' hosts, search terms and safe-search parameters.
//! - [`rate`]: how often one address may do something (the block page's concern reports);
//! - [`repeats`]: repeats of a blocked request folded into one event between flushes;
//! - [`slots`]: connection slots per listener (a limit in all and per client address, and the
//!   longest-waiting connection shed to make room), for every front end and the console.
//!
//! No policy logic lives here: the verdict comes from [`ward_policy::decide`].

pub mod latency;
pub mod misuse;
pub mod network;
pub mod radius;
pub mod rate;
pub mod repeats;
pub mod search;
pub mod slots;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use jiff::Timestamp;
use ward_events::{
    Device, DeviceId, Disposition, Event, EventAlert, EventSink, IdentifiedBy, Network, PersonId,
    SchoolId, Source,
};
use ward_policy::{Decision, Group, GroupKind, Identity, PolicySnapshot, YouTubeMode};

/// The alert a blocked decision raises, as the event writer takes it (DESIGN.md M4).
pub fn event_alert(decision: &Decision<'_>) -> Option<EventAlert> {
    decision.alert.map(|level| EventAlert {
        severity: level.severity,
        category: level.category.to_owned(),
        detection: None,
    })
}

/// Who made a request, identified once, and when: every event about the request says this,
/// and its decision is made at the same time (the clock is read once per request).
#[derive(Debug, Clone)]
pub struct Requester {
    /// The school whose network it came from.
    pub school: SchoolId,
    /// The front end that saw it.
    pub source: Source,
    /// When it came.
    pub at: Timestamp,
    /// The client's address, canonical (IPv4 for an IPv4-mapped address).
    pub client_ip: IpAddr,
    /// Who the client is.
    pub client: Arc<Client>,
}

impl Requester {
    /// `client` at `client_ip`, seen by `source` at `at`.
    pub fn new(
        school: SchoolId,
        source: Source,
        at: Timestamp,
        client_ip: IpAddr,
        client: Arc<Client>,
    ) -> Requester {
        Requester {
            school,
            source,
            at,
            client_ip: canonical_ip(client_ip),
            client,
        }
    }

    /// The policy's decision on `request` for this client, at the request's time.
    pub fn decide<'p>(
        &self,
        policy: &'p PolicySnapshot,
        request: &ward_policy::Request,
    ) -> Decision<'p> {
        ward_policy::decide(policy, request, &self.client.identity, self.at)
    }

    /// An event about this request for `host`, with `action` (the caller adds the URL,
    /// categories, reason and the rest that apply).
    pub fn event(&self, host: String, action: Disposition) -> Event {
        let mut event = Event::new(
            self.school,
            self.source,
            self.at,
            self.client_ip,
            host,
            action,
        );
        event.device = self.client.device;
        event.person = self.client.person;
        event.username = self.client.identity.user.clone();
        event.identified_by = Some(self.client.identified_by);
        event
    }

    /// The event of a request `decision` blocked: its categories, its reason, and the alert a
    /// serious category raises.
    pub fn blocked(&self, host: String, url: Option<String>, decision: &Decision<'_>) -> Event {
        let mut event = self.event(host, Disposition::Block);
        event.url = url;
        event.categories = decision.category_list();
        event.reason = decision.reason.to_string();
        event.alert = event_alert(decision);
        event
    }
}

/// Who a client is, as the device register (or a log-in) says.
#[derive(Debug, Clone)]
pub struct Client {
    /// The registered device, if any.
    pub device: Option<DeviceId>,
    /// The person, when a log-in maps the client to one.
    pub person: Option<PersonId>,
    /// The group and user name the policy is applied to.
    pub identity: Identity,
    /// The group's kind (pupil, staff, guest).
    pub kind: GroupKind,
    /// Whether the address is in the device register (false: the unknown-client group).
    pub registered: bool,
    /// How the person (or the device) was known.
    pub identified_by: IdentifiedBy,
    /// The group's safe-search setting.
    pub safe_search: bool,
    /// The group's YouTube setting.
    pub youtube: YouTubeMode,
    /// Whether the group may reach private addresses through the proxy.
    pub private_networks: bool,
}

impl Client {
    /// A client of `group` (its settings copied from the policy).
    pub fn of_group(group: &Group, device: Option<DeviceId>, registered: bool) -> Client {
        Client {
            device,
            person: None,
            identity: Identity {
                group: group.id.clone(),
                user: None,
            },
            kind: group.kind,
            registered,
            identified_by: if registered {
                IdentifiedBy::Device
            } else {
                IdentifiedBy::Address
            },
            safe_search: group.safe_search,
            youtube: group.youtube,
            private_networks: group.private_networks == ward_policy::Fallback::Allow,
        }
    }

    /// The same client once a log-in (`by`) says who they are: the person and user name, and
    /// the group the policy gives them (`None`: the client's group stays).
    pub fn logged_in(
        &self,
        person: Option<PersonId>,
        user: &str,
        group: Option<&Group>,
        by: IdentifiedBy,
    ) -> Client {
        let mut client = match group {
            Some(group) => Client::of_group(group, self.device, self.registered),
            None => self.clone(),
        };
        client.person = person;
        client.identity.user = Some(user.to_owned());
        client.identified_by = by;
        client
    }
}

/// Client address → who, from the device register (exact addresses, then the most specific
/// subnet), and the unknown-client group for everything else.
#[derive(Debug)]
pub struct ClientMap {
    exact: HashMap<IpAddr, Arc<Client>>,
    /// Most specific first.
    subnets: Vec<(Network, Arc<Client>)>,
    unknown: Arc<Client>,
}

impl ClientMap {
    /// Builds the map for a policy. Devices whose group the policy does not have get the
    /// unknown-client group (and are reported in the returned warnings).
    pub fn new(devices: &[Device], policy: &PolicySnapshot) -> (ClientMap, Vec<String>) {
        let mut warnings = Vec::new();
        let mut exact = HashMap::new();
        let mut subnets = Vec::new();
        for device in devices {
            let group = match device.group.as_deref() {
                None => policy.unknown_group(),
                Some(name) => policy.group(name).unwrap_or_else(|| {
                    warnings.push(format!(
                        "device {}: group {name:?} is not in the policy; it gets the unknown-client group",
                        device.id
                    ));
                    policy.unknown_group()
                }),
            };
            let entry = Arc::new(Client::of_group(group, Some(device.id), true));
            let network = device.network;
            let full = if network.address().is_ipv4() { 32 } else { 128 };
            if network.prefix() == full {
                exact.insert(network.address(), entry);
            } else {
                subnets.push((network, entry));
            }
        }
        subnets.sort_by_key(|(network, _)| std::cmp::Reverse(network.prefix()));
        let unknown = Arc::new(Client::of_group(policy.unknown_group(), None, false));
        (
            ClientMap {
                exact,
                subnets,
                unknown,
            },
            warnings,
        )
    }

    /// Who `address` is.
    pub fn lookup(&self, address: IpAddr) -> &Arc<Client> {
        let address = canonical_ip(address);
        if let Some(client) = self.exact.get(&address) {
            return client;
        }
        self.subnets
            .iter()
            .find(|(network, _)| network.contains(address))
            .map_or(&self.unknown, |(_, client)| client)
    }
}

/// IPv4-mapped IPv6 addresses (from a dual-stack socket) as the IPv4 address they are.
pub fn canonical_ip(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

/// A portal log-in: the person using a client address until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSession {
    /// The person, if the account is linked to one.
    pub person: Option<PersonId>,
    /// The log-in name.
    pub user: String,
    /// The policy group they browse as (`None`: the policy's first staff group).
    pub group: Option<String>,
    /// When it started.
    pub since: Timestamp,
    /// When it ends by itself.
    pub until: Timestamp,
}

/// Portal sessions by client address. Read on every request and query (one atomic load when
/// nobody is logged in), written on log-in and log-out.
#[derive(Debug, Default)]
pub struct Sessions {
    by_address: ArcSwap<HashMap<IpAddr, Arc<PortalSession>>>,
    writer: Mutex<()>,
    /// Log-ins the network reported (RADIUS accounting), after portal sessions in precedence.
    network: network::NetworkLogins,
    /// Who is logged in where, for spotting account misuse.
    misuse: misuse::MisuseWatch,
}

impl Sessions {
    /// The network's log-ins (RADIUS accounting).
    pub fn network(&self) -> &network::NetworkLogins {
        &self.network
    }

    /// Log-ins as the misuse watch sees them.
    pub fn misuse(&self) -> &misuse::MisuseWatch {
        &self.misuse
    }

    /// The session at `address`, if one is open at `now`.
    pub fn get(&self, address: IpAddr, now: Timestamp) -> Option<Arc<PortalSession>> {
        let sessions = self.by_address.load();
        if sessions.is_empty() {
            return None;
        }
        sessions
            .get(&canonical_ip(address))
            .filter(|session| session.until > now)
            .cloned()
    }

    /// Opens a session at `address` (replacing any there), and drops sessions that have ended.
    pub fn start(&self, address: IpAddr, session: PortalSession) {
        self.change(|sessions| {
            let now = session.since;
            sessions.retain(|_, open| open.until > now);
            sessions.insert(canonical_ip(address), Arc::new(session));
        });
    }

    /// Ends the session at `address`; it is returned if there was one.
    pub fn end(&self, address: IpAddr) -> Option<Arc<PortalSession>> {
        let mut ended = None;
        self.change(|sessions| ended = sessions.remove(&canonical_ip(address)));
        ended
    }

    /// Sessions open at `now`.
    pub fn open(&self, now: Timestamp) -> usize {
        self.by_address
            .load()
            .values()
            .filter(|session| session.until > now)
            .count()
    }

    fn change(&self, edit: impl FnOnce(&mut HashMap<IpAddr, Arc<PortalSession>>)) {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut sessions = HashMap::clone(&self.by_address.load());
        edit(&mut sessions);
        self.by_address.store(Arc::new(sessions));
    }
}

/// The group a logged-in account browses as: the one named, else the policy's first staff
/// group (accounts are staff: pupils do not have them).
pub fn account_group<'a>(policy: &'a PolicySnapshot, named: Option<&str>) -> Option<&'a Group> {
    match named {
        Some(name) => policy.group(name),
        None => policy.groups().iter().find(|g| g.kind == GroupKind::Staff),
    }
}

/// What the front ends decide with: swapped whole on reload.
#[derive(Debug)]
pub struct FilterState {
    /// The policy, with its category index.
    pub policy: Arc<PolicySnapshot>,
    /// The device register.
    pub clients: ClientMap,
    /// Which state this is: every one made has its own, so that what was worked out from one
    /// (a network log-in's client) is never used with another.
    generation: u64,
}

/// The next [`FilterState::generation`].
static GENERATION: AtomicU64 = AtomicU64::new(1);

impl FilterState {
    /// The state for a policy and device register; the warnings name devices whose group the
    /// policy does not have.
    pub fn new(policy: Arc<PolicySnapshot>, devices: &[Device]) -> (FilterState, Vec<String>) {
        let (clients, warnings) = ClientMap::new(devices, &policy);
        let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
        (
            FilterState {
                policy,
                clients,
                generation,
            },
            warnings,
        )
    }

    /// Who `address` is at `now`: the person of an open portal session there, else of a
    /// network log-in (RADIUS accounting), else the device register's entry (or the
    /// unknown-client group). A network log-in of a user Ward does not know names them but
    /// keeps the address's own group.
    pub fn client(&self, address: IpAddr, sessions: &Sessions, now: Timestamp) -> Arc<Client> {
        let base = self.clients.lookup(address);
        if let Some(session) = sessions.get(address, now) {
            return Arc::new(base.logged_in(
                session.person,
                &session.user,
                account_group(&self.policy, session.group.as_deref()),
                IdentifiedBy::Portal,
            ));
        }
        if sessions.network.is_empty() {
            return base.clone();
        }
        // What this thread worked out for the address at this version of the log-ins and of
        // the state, if it still holds: no lock taken.
        let version = sessions.network.version();
        if let Some(client) = client_cache::get(address, version, self.generation, now) {
            return client;
        }
        let held = match sessions.network.held_at_any_time(address) {
            // Nobody at this version: kept until the log-ins change.
            None => {
                client_cache::put(address, version, self.generation, None, base.clone());
                return base.clone();
            }
            // Lapsed (and waiting to be dropped): not kept, as a clock set back would revive it.
            Some(held) if held.login.until <= now => return base.clone(),
            Some(held) => held,
        };
        // Worked out once per log-in and state, not per query.
        let until = Some(held.login.until);
        if let Some(cached) = held.client.load().as_ref()
            && cached.0 == self.generation
        {
            client_cache::put(address, version, self.generation, until, cached.1.clone());
            return cached.1.clone();
        }
        let login = &held.login;
        let client = Arc::new(
            base.logged_in(
                login.person,
                &login.user,
                login
                    .group
                    .as_deref()
                    .and_then(|group| self.policy.group(group)),
                IdentifiedBy::Network,
            ),
        );
        held.client
            .store(Some(Arc::new((self.generation, client.clone()))));
        client_cache::put(address, version, self.generation, until, client.clone());
        client
    }
}

/// Per thread, the client last worked out for an address (a small direct-mapped table): valid
/// only for the same version of the network log-ins, the same filter state and, for a log-in,
/// until it lapses. A DNS filter answering one busy client otherwise takes the same shard lock
/// on every query from every thread, and the lock's cache line moves between cores each time
/// (measured: 11% fewer queries a second with 10,000 log-ins).
mod client_cache {
    use std::cell::RefCell;
    use std::net::IpAddr;
    use std::sync::Arc;

    use jiff::Timestamp;

    use crate::Client;

    const SLOTS: usize = 1024;

    struct Entry {
        address: IpAddr,
        version: u64,
        generation: u64,
        until: Option<Timestamp>,
        client: Arc<Client>,
    }

    thread_local! {
        static TABLE: RefCell<Vec<Option<Entry>>> = RefCell::new((0..SLOTS).map(|_| None).collect());
    }

    fn slot(address: IpAddr) -> usize {
        let bits: u64 = match address {
            IpAddr::V4(v4) => u64::from(u32::from(v4)),
            IpAddr::V6(v6) => {
                let value = u128::from(v6);
                (value as u64) ^ ((value >> 64) as u64)
            }
        };
        (bits.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54) as usize & (SLOTS - 1)
    }

    pub(super) fn get(
        address: IpAddr,
        version: u64,
        generation: u64,
        now: Timestamp,
    ) -> Option<Arc<Client>> {
        let address = crate::canonical_ip(address);
        TABLE.with(|table| {
            let table = table.borrow();
            let entry = table[slot(address)].as_ref()?;
            (entry.address == address
                && entry.version == version
                && entry.generation == generation
                && entry.until.is_none_or(|until| until > now))
            .then(|| entry.client.clone())
        })
    }

    pub(super) fn put(
        address: IpAddr,
        version: u64,
        generation: u64,
        until: Option<Timestamp>,
        client: Arc<Client>,
    ) {
        let address = crate::canonical_ip(address);
        TABLE.with(|table| {
            table.borrow_mut()[slot(address)] = Some(Entry {
                address,
                version,
                generation,
                until,
                client,
            });
        });
    }
}

/// The state in force, shared by every front end.
#[derive(Debug)]
pub struct LiveState {
    state: ArcSwap<FilterState>,
    reloads: AtomicU64,
    sessions: Sessions,
}

impl LiveState {
    /// Starts with `state`.
    pub fn new(state: FilterState) -> LiveState {
        LiveState {
            state: ArcSwap::from_pointee(state),
            reloads: AtomicU64::new(0),
            sessions: Sessions::default(),
        }
    }

    /// Portal sessions (kept across reloads).
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The state in force. Keep it for the whole request.
    pub fn load(&self) -> Arc<FilterState> {
        self.state.load_full()
    }

    /// A cheap guard on the state in force, for one short decision.
    pub fn guard(&self) -> arc_swap::Guard<Arc<FilterState>> {
        self.state.load()
    }

    /// Puts a new policy and device register in force. Requests being handled finish with the
    /// state they started with; the next ones use the new one.
    pub fn replace(&self, state: FilterState) {
        self.state.store(Arc::new(state));
        self.reloads.fetch_add(1, Ordering::Relaxed);
    }

    /// Replacements since start.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }
}

/// Allowed requests added up per subject, site and hour until the next flush.
#[derive(Debug)]
pub struct BrowsingCounts {
    school: SchoolId,
    source: Source,
    by_subject: Mutex<HashMap<Subject, HashMap<Box<str>, u32>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Subject {
    hour: i64,
    client: IpAddr,
    device: Option<DeviceId>,
    person: Option<PersonId>,
    user: Option<Box<str>>,
}

impl BrowsingCounts {
    /// Counts for `school`'s events from `source`.
    pub fn new(school: SchoolId, source: Source) -> BrowsingCounts {
        BrowsingCounts {
            school,
            source,
            by_subject: Mutex::default(),
        }
    }

    /// Counts one allowed request for `site` by `client` at `client_ip`.
    pub fn add(&self, now: Timestamp, client_ip: IpAddr, client: &Client, site: &str) {
        let subject = Subject {
            hour: now.as_second().div_euclid(3600),
            client: canonical_ip(client_ip),
            device: client.device,
            person: client.person,
            user: client.identity.user.as_deref().map(Box::from),
        };
        let mut counts = self.by_subject.lock().unwrap_or_else(|e| e.into_inner());
        let sites = counts.entry(subject).or_default();
        match sites.get_mut(site) {
            Some(count) => *count = count.saturating_add(1),
            None => {
                sites.insert(site.into(), 1);
            }
        }
    }

    /// Hands the counts gathered since the last call to the event writer, one event per
    /// subject, site and hour (timed at the start of the hour).
    pub fn flush(&self, events: &EventSink) {
        let taken = std::mem::take(&mut *self.by_subject.lock().unwrap_or_else(|e| e.into_inner()));
        for (subject, sites) in taken {
            let at =
                Timestamp::from_second(subject.hour * 3600).unwrap_or_else(|_| Timestamp::now());
            for (site, count) in sites {
                let mut event = Event::new(
                    self.school,
                    self.source,
                    at,
                    subject.client,
                    site.into(),
                    Disposition::Allow,
                );
                event.device = subject.device;
                event.person = subject.person;
                event.username = subject.user.as_deref().map(str::to_owned);
                event.count = count;
                events.record(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PolicySnapshot {
        let index = ward_lists::IndexBuilder::new()
            .finish()
            .expect("empty index");
        PolicySnapshot::from_toml(ward_policy::DEFAULT_POLICY, Arc::new(index))
            .expect("default policy loads")
            .0
    }

    fn device(id: i64, network: &str, group: Option<&str>) -> Device {
        Device {
            id: DeviceId(id),
            name: format!("D{id}"),
            network: network.parse().expect("network"),
            group: group.map(str::to_owned),
            location: String::new(),
        }
    }

    #[test]
    fn exact_address_then_most_specific_subnet_then_unknown() {
        let policy = policy();
        let devices = [
            device(1, "10.0.0.0/8", Some("ks2")),
            device(2, "10.1.0.0/16", Some("staff")),
            device(3, "10.1.2.3", Some("guests")),
            device(4, "10.2.0.0/16", Some("no-such-group")),
        ];
        let (map, warnings) = ClientMap::new(&devices, &policy);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("no-such-group"));
        let group = |ip: &str| {
            let client = map.lookup(ip.parse().expect("ip"));
            (
                client.identity.group.to_string(),
                client.device,
                client.registered,
            )
        };
        let unknown = policy.unknown_group().id.to_string();
        assert_eq!(
            group("10.1.2.3"),
            ("guests".into(), Some(DeviceId(3)), true)
        );
        assert_eq!(
            group("::ffff:10.1.2.3"),
            ("guests".into(), Some(DeviceId(3)), true)
        );
        assert_eq!(group("10.1.9.9"), ("staff".into(), Some(DeviceId(2)), true));
        assert_eq!(group("10.9.9.9"), ("ks2".into(), Some(DeviceId(1)), true));
        assert_eq!(
            group("10.2.0.1"),
            (unknown.clone(), Some(DeviceId(4)), true)
        );
        assert_eq!(group("192.168.1.1"), (unknown, None, false));
    }

    #[test]
    fn a_portal_session_names_the_person_until_it_ends_or_is_ended() {
        let devices = [device(1, "10.0.0.0/8", Some("ks2"))];
        let (state, _) = FilterState::new(Arc::new(policy()), &devices);
        let sessions = Sessions::default();
        let at = |s: &str| s.parse::<Timestamp>().expect("time");
        let here: IpAddr = "10.0.0.7".parse().expect("ip");
        let before = state.client(here, &sessions, at("2026-11-23T09:00:00Z"));
        assert_eq!(before.identity.group.as_str(), "ks2");
        assert_eq!(before.identity.user, None);

        sessions.start(
            here,
            PortalSession {
                person: Some(PersonId(4)),
                user: "jsmith".into(),
                group: None,
                since: at("2026-11-23T09:00:00Z"),
                until: at("2026-11-23T10:00:00Z"),
            },
        );
        let during = state.client(here, &sessions, at("2026-11-23T09:30:00Z"));
        assert_eq!(during.identity.group.as_str(), "staff");
        assert_eq!(during.identity.user.as_deref(), Some("jsmith"));
        assert_eq!(during.person, Some(PersonId(4)));
        assert_eq!(during.device, Some(DeviceId(1)), "still the same device");
        // The same address written as IPv4-mapped IPv6 (a dual-stack socket) is the same client.
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().expect("ip");
        assert_eq!(
            state
                .client(mapped, &sessions, at("2026-11-23T09:30:00Z"))
                .identity
                .user
                .as_deref(),
            Some("jsmith")
        );
        // Another address on the same subnet is not logged in.
        let neighbour = state.client(
            "10.0.0.8".parse().expect("ip"),
            &sessions,
            at("2026-11-23T09:30:00Z"),
        );
        assert_eq!(neighbour.identity.user, None);
        // It ends by itself...
        let after = state.client(here, &sessions, at("2026-11-23T10:00:00Z"));
        assert_eq!(after.identity.group.as_str(), "ks2");
        assert_eq!(sessions.open(at("2026-11-23T10:00:00Z")), 0);
        // ...or when ended.
        sessions.start(
            here,
            PortalSession {
                person: None,
                user: "head".into(),
                group: Some("guests".into()),
                since: at("2026-11-23T11:00:00Z"),
                until: at("2026-11-23T12:00:00Z"),
            },
        );
        let named_group = state.client(here, &sessions, at("2026-11-23T11:00:01Z"));
        assert_eq!(named_group.identity.group.as_str(), "guests");
        assert_eq!(
            sessions.end(here).map(|s| s.user.clone()).as_deref(),
            Some("head")
        );
        assert!(sessions.end(here).is_none());
        assert_eq!(
            state
                .client(here, &sessions, at("2026-11-23T11:00:02Z"))
                .identity
                .user,
            None
        );
    }

    #[test]
    fn counts_add_up_per_subject_site_and_hour() {
        let policy = policy();
        let (map, _) = ClientMap::new(&[], &policy);
        let client = map.lookup("10.0.0.1".parse().expect("ip")).clone();
        let named = client.logged_in(Some(PersonId(9)), "jsmith", None, IdentifiedBy::ProxyLogin);
        let counts = BrowsingCounts::new(SchoolId(1), Source::Proxy);
        let at = |s: &str| s.parse::<Timestamp>().expect("time");
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        counts.add(at("2026-11-23T10:05:00Z"), ip, &client, "example.com");
        counts.add(at("2026-11-23T10:55:00Z"), ip, &client, "example.com");
        counts.add(at("2026-11-23T11:00:00Z"), ip, &client, "example.com");
        counts.add(at("2026-11-23T10:10:00Z"), ip, &named, "example.com");
        let (sink, mut receiver) = EventSink::channel(16);
        counts.flush(&sink);
        let mut events = Vec::new();
        while let Ok(event) = receiver.try_recv() {
            events.push((event.at.to_string(), event.username, event.count));
        }
        events.sort();
        assert_eq!(
            events,
            [
                ("2026-11-23T10:00:00Z".into(), None, 2),
                ("2026-11-23T10:00:00Z".into(), Some("jsmith".into()), 1),
                ("2026-11-23T11:00:00Z".into(), None, 1),
            ]
        );
        counts.flush(&sink);
        assert!(
            receiver.try_recv().is_err(),
            "a flush hands each count over once"
        );
    }

    #[test]
    fn a_network_log_in_is_worked_out_once_per_state_and_again_after_a_reload() {
        let sessions = Sessions::default();
        let now = Timestamp::from_second(1_800_000_000).expect("time");
        let address: IpAddr = "10.0.3.17".parse().expect("address");
        let (first, _) = FilterState::new(Arc::new(policy()), &[]);
        let staff = first
            .policy
            .groups()
            .iter()
            .find(|g| g.kind == GroupKind::Staff)
            .expect("a staff group")
            .id
            .as_str()
            .to_owned();
        sessions.network().start(
            address,
            network::NetworkLogin {
                user: "mrs.jones".into(),
                person: None,
                group: Some(staff.clone()),
                session_id: None,
                nas: "10.0.0.2".parse().expect("address"),
                since: now,
                until: now + jiff::SignedDuration::from_mins(10),
            },
        );
        let once = first.client(address, &sessions, now);
        let again = first.client(address, &sessions, now);
        assert!(
            Arc::ptr_eq(&once, &again),
            "the same state reuses what it worked out"
        );
        assert_eq!(once.identity.group.as_str(), staff);
        assert_eq!(once.identity.user.as_deref(), Some("mrs.jones"));
        // A reload makes a new state: the client is worked out again, never taken from the old.
        let (second, _) = FilterState::new(Arc::new(policy()), &[]);
        let reloaded = second.client(address, &sessions, now);
        assert!(!Arc::ptr_eq(&once, &reloaded));
        assert_eq!(reloaded.identity.group.as_str(), staff);
        // Someone else gets the address: their own client, at once.
        sessions.network().start(
            address,
            network::NetworkLogin {
                user: "visitor".into(),
                person: None,
                group: None,
                session_id: None,
                nas: "10.0.0.2".parse().expect("address"),
                since: now,
                until: now + jiff::SignedDuration::from_mins(10),
            },
        );
        let visitor = second.client(address, &sessions, now);
        assert_eq!(visitor.identity.user.as_deref(), Some("visitor"));
        assert_ne!(
            visitor.identity.group.as_str(),
            staff,
            "no wider group for a stranger"
        );
    }

    #[test]
    fn one_order_decides_who_is_at_an_address_and_says_how_it_knows() {
        let devices = [device(1, "10.0.0.0/8", Some("ks2"))];
        let (state, _) = FilterState::new(Arc::new(policy()), &devices);
        let sessions = Sessions::default();
        let now = Timestamp::from_second(1_800_000_000).expect("time");
        let until = now + jiff::SignedDuration::from_mins(10);
        let here: IpAddr = "10.0.0.7".parse().expect("ip");
        let who = |address: IpAddr| {
            let client = state.client(address, &sessions, now);
            (client.identity.user.clone(), client.identified_by)
        };
        assert_eq!(
            who("192.168.1.1".parse().expect("ip")),
            (None, IdentifiedBy::Address)
        );
        assert_eq!(who(here), (None, IdentifiedBy::Device));
        sessions.network().start(
            here,
            network::NetworkLogin {
                user: "wifi.user".into(),
                person: None,
                group: None,
                session_id: None,
                nas: "10.0.0.2".parse().expect("address"),
                since: now,
                until,
            },
        );
        assert_eq!(
            who(here),
            (Some("wifi.user".into()), IdentifiedBy::Network),
            "the Wi-Fi log-in comes before the device register"
        );
        sessions.start(
            here,
            PortalSession {
                person: Some(PersonId(4)),
                user: "portal.user".into(),
                group: None,
                since: now,
                until,
            },
        );
        assert_eq!(
            who(here),
            (Some("portal.user".into()), IdentifiedBy::Portal),
            "a portal log-in comes before the Wi-Fi's"
        );
        sessions.end(here);
        assert_eq!(who(here), (Some("wifi.user".into()), IdentifiedBy::Network));
        // What a thread keeps is never used once it is wrong: after the log-in lapses...
        let later = |address: IpAddr| {
            state
                .client(
                    address,
                    &sessions,
                    until + jiff::SignedDuration::from_secs(1),
                )
                .identified_by
        };
        assert_eq!(later(here), IdentifiedBy::Device);
        assert_eq!(who(here).1, IdentifiedBy::Network, "and before it, still");
        // ...or ends, or another address's changes.
        let other: IpAddr = "10.0.0.9".parse().expect("ip");
        assert_eq!(who(other).1, IdentifiedBy::Device);
        sessions.network().start(
            other,
            network::NetworkLogin {
                user: "second.user".into(),
                person: None,
                group: None,
                session_id: None,
                nas: "10.0.0.2".parse().expect("address"),
                since: now,
                until,
            },
        );
        assert_eq!(
            who(other),
            (Some("second.user".into()), IdentifiedBy::Network)
        );
        sessions.network().stop(here, None);
        assert_eq!(who(here), (None, IdentifiedBy::Device));
        // A request's own log-in comes first of all (the proxy applies it over this).
        let base = state.client(here, &sessions, now);
        let proxy = base.logged_in(None, "proxy.user", None, IdentifiedBy::ProxyLogin);
        assert_eq!(proxy.identified_by, IdentifiedBy::ProxyLogin);
        assert_eq!(proxy.identity.user.as_deref(), Some("proxy.user"));
    }
}
