//! The vocabulary of what happened, shared by the front ends, the event writer and the console
//! without a database: the id newtypes, the device register's entries and networks, an
//! [`Event`] with its alert and disposition, and the [`EventSink`] front ends hand events to
//! (a bounded queue that never waits; the writer in `ward-store` takes them off).
//!
//! Nothing here knows SQL, HTTP or DNS.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(text: &str) -> Result<$name, Self::Err> {
                text.parse().map($name)
            }
        }
    };
}

id_type!(
    /// A school (tenant).
    SchoolId
);
id_type!(
    /// A school's group as the database numbers it (the policy names its groups with
    /// `ward_policy::GroupId`).
    GroupRowId
);
id_type!(
    /// A pupil, member of staff or guest.
    PersonId
);
id_type!(
    /// A station or network in the device register.
    DeviceId
);
id_type!(
    /// A console account.
    AccountId
);
id_type!(
    /// An alert in the queue.
    AlertId
);
id_type!(
    /// An incident record.
    IncidentId
);
id_type!(
    /// An unblock request.
    RequestId
);

/// An IP address or subnet, stored in canonical form (`10.0.4.0/24`, host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// The network's address (host bits cleared).
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The prefix length: longer is more specific.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

/// Text that is not an IP address or subnet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or subnet")]
pub struct BadNetwork(pub String);

impl FromStr for Network {
    type Err = BadNetwork;
    fn from_str(text: &str) -> Result<Network, BadNetwork> {
        let text = text.trim();
        let invalid = || BadNetwork(text.to_owned());
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| invalid())?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(invalid)?,
        };
        let address = match address {
            IpAddr::V4(v4) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        };
        Ok(Network { address, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// A device or network in the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Its id.
    pub id: DeviceId,
    /// Station number or name (`ICT-07`, `Library iPads`).
    pub name: String,
    /// Its address or subnet.
    pub network: Network,
    /// For a shared device, the group everyone using it browses as.
    pub group: Option<String>,
    /// Where it is.
    pub location: String,
}

/// Which front end saw a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The DNS filter.
    Dns,
    /// The HTTP/HTTPS proxy.
    Proxy,
}

impl Source {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Dns => "dns",
            Source::Proxy => "proxy",
        }
    }
}

/// How a front end knows who is behind an address, from the surest to the least sure, so that
/// a DSL reading an event or alert knows how far to trust the name on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentifiedBy {
    /// The request carried the user's own log-in (the proxy's `Proxy-Authorization`).
    ProxyLogin,
    /// The user's computer proved its logged-in domain user (Kerberos, `Negotiate`).
    DomainLogin,
    /// The user logged in at Ward's portal from this address.
    Portal,
    /// The school's Wi-Fi or network said (RADIUS accounting) that the user holds the address.
    Network,
    /// The device register names the device at this address; no person is known.
    Device,
    /// Nothing is known but the address (the unknown-client group).
    Address,
}

impl IdentifiedBy {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifiedBy::ProxyLogin => "proxy-login",
            IdentifiedBy::DomainLogin => "domain-login",
            IdentifiedBy::Portal => "portal",
            IdentifiedBy::Network => "network",
            IdentifiedBy::Device => "device",
            IdentifiedBy::Address => "address",
        }
    }

    /// The stored name read back; `None` for a name this version does not know.
    pub fn parse(text: &str) -> Option<IdentifiedBy> {
        [
            IdentifiedBy::ProxyLogin,
            IdentifiedBy::DomainLogin,
            IdentifiedBy::Portal,
            IdentifiedBy::Network,
            IdentifiedBy::Device,
            IdentifiedBy::Address,
        ]
        .into_iter()
        .find(|source| source.as_str() == text)
    }

    /// A few words for a table: "Wi-Fi log-in".
    pub fn short(self) -> &'static str {
        match self {
            IdentifiedBy::ProxyLogin => "proxy log-in",
            IdentifiedBy::DomainLogin => "domain log-in",
            IdentifiedBy::Portal => "portal log-in",
            IdentifiedBy::Network => "Wi-Fi log-in",
            IdentifiedBy::Device => "device register",
            IdentifiedBy::Address => "address only",
        }
    }

    /// How staff are told where the name came from.
    pub fn label(self) -> &'static str {
        match self {
            IdentifiedBy::ProxyLogin => "named by their proxy log-in",
            IdentifiedBy::DomainLogin => "named by their computer's domain log-in (Kerberos)",
            IdentifiedBy::Portal => "named by their portal log-in",
            IdentifiedBy::Network => "named by the Wi-Fi log-in at that address",
            IdentifiedBy::Device => "the device register's entry for that address",
            IdentifiedBy::Address => "address only: nobody is known there",
        }
    }
}

/// What was done with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Disposition {
    /// Let through: only counted (per subject, site and hour).
    Allow,
    /// Blocked: stored as an event.
    Block,
    /// Rewritten (safe search): stored as an event.
    Rewrite,
}

impl Disposition {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Allow => "allow",
            Disposition::Block => "block",
            Disposition::Rewrite => "rewrite",
        }
    }
}

/// One request as a front end reports it to the event writer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The school whose network it came from.
    pub school: SchoolId,
    /// When.
    pub at: Timestamp,
    /// DNS or proxy.
    pub source: Source,
    /// The client's address.
    pub client_ip: IpAddr,
    /// The device, if the register knows the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceId>,
    /// The person, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<PersonId>,
    /// The user name as the front end saw it (proxy authentication, portal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// How the front end knew who it was (`None` in journals written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identified_by: Option<IdentifiedBy>,
    /// The host name.
    pub host: String,
    /// The full URL, where the front end saw one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Allowed, blocked or rewritten.
    pub action: Disposition,
    /// The categories, comma-separated.
    pub categories: String,
    /// Why (the decision's reason, as text).
    pub reason: String,
    /// The search term, for search-engine URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_term: Option<String>,
    /// How many requests this event stands for: 1 for a blocked or rewritten one; a front end
    /// may add up allowed requests of one subject, site and hour into one event.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub count: u32,
    /// For a blocked attempt in a serious category: the alert it raises (folded with the same
    /// person's repeats as it is written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<EventAlert>,
}

/// The alert an event raises: a blocked attempt in a serious category, or risk found by
/// detection. Its severity and category, and for detection what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventAlert {
    /// 1 to 5.
    pub severity: u8,
    /// The rule or list id; for risk detection, the phrase list's category.
    pub category: String,
    /// For risk detection: the phrases found and the text around them (the alert's detail).
    /// `None`: a blocked attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<String>,
}

fn one() -> u32 {
    1
}

fn is_one(count: &u32) -> bool {
    *count == 1
}

impl Event {
    /// A request `source` saw from `client_ip` at `at`, for `host`, and what was done with it:
    /// one request, nothing else known yet (the caller sets the device, person, URL,
    /// categories, reason, search term, count or alert that apply). The one place an event is
    /// made, so every front end's events say the same things the same way.
    pub fn new(
        school: SchoolId,
        source: Source,
        at: Timestamp,
        client_ip: IpAddr,
        host: String,
        action: Disposition,
    ) -> Event {
        Event {
            school,
            at,
            source,
            client_ip,
            device: None,
            person: None,
            username: None,
            identified_by: None,
            host,
            url: None,
            action,
            categories: String::new(),
            reason: String::new(),
            search_term: None,
            count: 1,
            alert: None,
        }
    }

    /// Who allowed browsing is counted against, and whose alerts repeats are folded into: the
    /// person if known, else the device, else the address.
    pub fn subject(&self) -> String {
        subject(self.person, self.device, Some(self.client_ip))
    }
}

/// `person:ID`, else `device:ID`, else `ip:ADDRESS`, else empty: the one spelling events,
/// browsing counts and alerts use, so that an alert and its events name the same subject.
pub fn subject(
    person: Option<PersonId>,
    device: Option<DeviceId>,
    client_ip: Option<IpAddr>,
) -> String {
    match (person, device, client_ip) {
        (Some(person), _, _) => format!("person:{person}"),
        (None, Some(device), _) => format!("device:{device}"),
        (None, None, Some(ip)) => format!("ip:{ip}"),
        (None, None, None) => String::new(),
    }
}

/// What the dashboard shows about the event writer; shared by the writer, its sinks and the
/// console.
#[derive(Debug, Default)]
pub struct WriterHealth {
    accepted: AtomicU64,
    written: AtomicU64,
    dropped: AtomicU64,
    backlog_bytes: AtomicU64,
    database_up: AtomicBool,
    last_write: AtomicI64,
    last_error: Mutex<Option<String>>,
}

impl WriterHealth {
    /// Requests front ends have handed over (an event counts as many as it stands for).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
    /// Requests in the database.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
    /// Requests dropped since this gateway started.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    /// Journal bytes not yet in the database.
    pub fn backlog_bytes(&self) -> u64 {
        self.backlog_bytes.load(Ordering::Relaxed)
    }
    /// Whether the last database write succeeded.
    pub fn database_up(&self) -> bool {
        self.database_up.load(Ordering::Relaxed)
    }
    /// When the database last took a batch.
    pub fn last_write(&self) -> Option<Timestamp> {
        match self.last_write.load(Ordering::Relaxed) {
            0 => None,
            micros => Timestamp::from_microsecond(micros).ok(),
        }
    }
    /// The last error, if the writer is not healthy.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .map(|error| error.clone())
            .unwrap_or(None)
    }

    /// The writer: `count` more events dropped.
    pub fn add_dropped(&self, count: u64) {
        self.dropped.fetch_add(count, Ordering::Relaxed);
    }
    /// The writer: `count` more events in the database, `at` the time of the write.
    pub fn add_written(&self, count: u64, at: Timestamp) {
        self.written.fetch_add(count, Ordering::Relaxed);
        if count > 0 {
            self.last_write
                .store(at.as_microsecond(), Ordering::Relaxed);
        }
    }
    /// The writer: the journal's bytes the database has not taken.
    pub fn set_backlog_bytes(&self, bytes: u64) {
        self.backlog_bytes.store(bytes, Ordering::Relaxed);
    }
    /// The writer: whether the database answered; returns what it was before.
    pub fn set_database_up(&self, up: bool) -> bool {
        self.database_up.swap(up, Ordering::Relaxed)
    }
    /// The writer: its last error, or none when it is healthy.
    pub fn set_error(&self, error: Option<String>) {
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = error;
        }
    }
}

/// The front ends' end of the event queue: cheap to clone, never waits.
#[derive(Debug, Clone)]
pub struct EventSink {
    queue: mpsc::Sender<Event>,
    health: Arc<WriterHealth>,
}

impl EventSink {
    /// Hands an event to the writer. Never waits: if the queue is full the event is dropped and
    /// counted. The writer's counts are of requests: an event counts as many as it stands for.
    pub fn record(&self, event: Event) {
        self.health
            .accepted
            .fetch_add(u64::from(event.count), Ordering::Relaxed);
        self.queue_or_drop(event);
    }

    /// Counts `requests` handed over now that a later event will stand for ([`record_held`]):
    /// repeats folded at the gate are counted as they come, so a hard stop before that event
    /// is written still counts them as lost.
    ///
    /// [`record_held`]: EventSink::record_held
    pub fn hold(&self, requests: u32) {
        self.health
            .accepted
            .fetch_add(u64::from(requests), Ordering::Relaxed);
    }

    /// Hands over an event whose requests were counted by [`EventSink::hold`] as they came.
    pub fn record_held(&self, event: Event) {
        self.queue_or_drop(event);
    }

    fn queue_or_drop(&self, event: Event) {
        let count = u64::from(event.count);
        if self.queue.try_send(event).is_err() {
            self.health.dropped.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// A sink whose events go to the returned receiver, holding at most `capacity`: the event
    /// writer's queue, and for tests of front ends and tools that read events themselves.
    pub fn channel(capacity: usize) -> (EventSink, mpsc::Receiver<Event>) {
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        (
            EventSink {
                queue,
                health: Arc::new(WriterHealth::default()),
            },
            receiver,
        )
    }

    /// Events waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// The writer's health, as the dashboard shows it.
    pub fn health(&self) -> &Arc<WriterHealth> {
        &self.health
    }
}

/// An unblock request as made, to record: from the block page (`origin` `block-page`, no
/// period) or the console (`console`, a period).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUnblockRequest {
    /// Where it was made: `block-page` or `console`.
    pub origin: String,
    /// The address it came from.
    pub client_ip: IpAddr,
    /// The device, if registered.
    pub device: Option<DeviceId>,
    /// The person, if known.
    pub person: Option<PersonId>,
    /// The user name, if known.
    pub username: Option<String>,
    /// The policy group it is for.
    pub group: String,
    /// The page asked for.
    pub url: String,
    /// Its host.
    pub host: String,
    /// The categories it is in, comma-separated.
    pub categories: String,
    /// Why it was blocked (the decision's reason).
    pub blocked_because: String,
    /// Why the person wants it.
    pub reason: String,
    /// The period asked for, if the request says (requests made in the console do).
    pub wanted: Option<(Timestamp, Timestamp)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_canonical_and_contain_their_addresses() {
        let subnet: Network = "10.0.4.77/24".parse().expect("valid subnet");
        assert_eq!(subnet.to_string(), "10.0.4.0/24");
        assert!(subnet.contains("10.0.4.200".parse().expect("ip")));
        assert!(!subnet.contains("10.0.5.1".parse().expect("ip")));
        let host: Network = "10.0.3.17".parse().expect("valid address");
        assert_eq!(host.to_string(), "10.0.3.17/32");
        assert!(host.contains("10.0.3.17".parse().expect("ip")));
        let everything: Network = "0.0.0.0/0".parse().expect("valid");
        assert!(everything.contains("192.0.2.1".parse().expect("ip")));
        let v6: Network = "2001:db8::1/64".parse().expect("valid v6");
        assert_eq!(v6.to_string(), "2001:db8::/64");
        assert!(!v6.contains("10.0.0.1".parse().expect("ip")));
        for bad in ["10.0.0.0/33", "10.0.0", "", "fe80::/129", "10.0.0.1/x"] {
            assert!(bad.parse::<Network>().is_err(), "{bad:?} accepted");
        }
    }
}
