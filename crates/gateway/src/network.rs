//! Network log-ins: who holds which address because the school's network said so (RADIUS
//! accounting from 802.1X Wi-Fi and switches, [`crate::radius`]). Read on every request and
//! query, so a lookup with nobody logged in is one atomic load, and with thousands it is one
//! shard's read lock (and `FilterState::client` keeps what it worked out per thread, keyed by
//! the table's [`NetworkLogins::version`], so that a busy client's queries do not all take the
//! same lock); written on every accounting packet, so a write touches one shard only.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use jiff::Timestamp;
use ward_events::PersonId;

use crate::canonical_ip;

/// Shards of the table (a power of two).
const SHARDS: usize = 16;

/// The next [`NetworkLogins::version`], shared by every table so that no two states of any
/// table ever have the same one.
static VERSION: AtomicU64 = AtomicU64::new(1);

/// A user the network logged in at an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkLogin {
    /// The user name the network sent.
    pub user: String,
    /// The person with that user name, if Ward knows them.
    pub person: Option<PersonId>,
    /// The policy group they browse as (`None`: the address's own group stays: a user Ward
    /// does not know is named in events, and never given a wider group).
    pub group: Option<String>,
    /// The network's session id, so that the session's `Stop` ends only this log-in.
    pub session_id: Option<String>,
    /// The access point or switch that sent it.
    pub nas: IpAddr,
    /// When it started.
    pub since: Timestamp,
    /// When it lapses without a word from the network.
    pub until: Timestamp,
}

/// A log-in as held: with the client worked out from it for one filter state (its generation).
#[derive(Debug)]
pub(crate) struct Held {
    pub(crate) login: Arc<NetworkLogin>,
    pub(crate) client: arc_swap::ArcSwapOption<(u64, Arc<crate::Client>)>,
}

/// Network log-ins by address.
#[derive(Debug)]
pub struct NetworkLogins {
    shards: Vec<RwLock<HashMap<IpAddr, Arc<Held>>>>,
    hasher: std::collections::hash_map::RandomState,
    open: AtomicUsize,
    version: AtomicU64,
}

impl Default for NetworkLogins {
    fn default() -> NetworkLogins {
        NetworkLogins {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            open: AtomicUsize::new(0),
            version: AtomicU64::new(VERSION.fetch_add(1, Ordering::Relaxed)),
        }
    }
}

impl NetworkLogins {
    /// Which state the table is in: changes with every log-in added, replaced or removed (never
    /// to a number any table had before), so that what was read at one version can be reused
    /// while it lasts. Read before the table (`Acquire`), written after a change (`Release`).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.version
            .store(VERSION.fetch_add(1, Ordering::Relaxed), Ordering::Release);
    }

    fn shard(&self, address: &IpAddr) -> &RwLock<HashMap<IpAddr, Arc<Held>>> {
        &self.shards[(self.hasher.hash_one(address) as usize) & (SHARDS - 1)]
    }

    /// The log-in at `address`, if one is open at `now`.
    pub fn get(&self, address: IpAddr, now: Timestamp) -> Option<Arc<NetworkLogin>> {
        self.held(address, now).map(|held| held.login.clone())
    }

    /// The log-in at `address` as held, if one is open at `now`.
    pub(crate) fn held(&self, address: IpAddr, now: Timestamp) -> Option<Arc<Held>> {
        self.held_at_any_time(address)
            .filter(|held| held.login.until > now)
    }

    /// The log-in at `address` as held, lapsed or not.
    pub(crate) fn held_at_any_time(&self, address: IpAddr) -> Option<Arc<Held>> {
        if self.open.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let address = canonical_ip(address);
        let shard = self
            .shard(&address)
            .read()
            .unwrap_or_else(|e| e.into_inner());
        shard.get(&address).cloned()
    }

    /// A session started or goes on at `address`: it replaces whatever was there (an address
    /// given to someone else never keeps the old person).
    pub fn start(&self, address: IpAddr, login: NetworkLogin) {
        let address = canonical_ip(address);
        let mut shard = self
            .shard(&address)
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let held = Arc::new(Held {
            login: Arc::new(login),
            client: arc_swap::ArcSwapOption::empty(),
        });
        if shard.insert(address, held).is_none() {
            self.open.fetch_add(1, Ordering::Relaxed);
        }
        drop(shard);
        self.changed();
    }

    /// A session at `address` ended: the log-in there goes if it is that session (or the packet
    /// names none). Returns whether one went.
    pub fn stop(&self, address: IpAddr, session_id: Option<&str>) -> bool {
        let address = canonical_ip(address);
        let mut shard = self
            .shard(&address)
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let same = shard.get(&address).is_some_and(|held| {
            session_id.is_none() || held.login.session_id.as_deref() == session_id
        });
        if same {
            shard.remove(&address);
            self.open.fetch_sub(1, Ordering::Relaxed);
            drop(shard);
            self.changed();
        }
        same
    }

    /// The access point or switch `nas` started or stopped: its log-ins are over. Returns how
    /// many went.
    pub fn stop_all_from(&self, nas: IpAddr) -> usize {
        self.retain(|login| login.nas != nas)
    }

    /// Drops the log-ins that lapsed before `now`; returns how many went.
    pub fn expire(&self, now: Timestamp) -> usize {
        self.retain(|login| login.until > now)
    }

    fn retain(&self, keep: impl Fn(&NetworkLogin) -> bool) -> usize {
        let mut removed = 0;
        for shard in &self.shards {
            let mut shard = shard.write().unwrap_or_else(|e| e.into_inner());
            let before = shard.len();
            shard.retain(|_, held| keep(&held.login));
            removed += before - shard.len();
        }
        self.open.fetch_sub(removed, Ordering::Relaxed);
        if removed > 0 {
            self.changed();
        }
        removed
    }

    /// Log-ins held (some may have lapsed and wait for [`NetworkLogins::expire`]).
    pub fn len(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).expect("time")
    }

    fn login(user: &str, session: &str, nas: &str) -> NetworkLogin {
        NetworkLogin {
            user: user.into(),
            person: None,
            group: None,
            session_id: Some(session.into()),
            nas: nas.parse().expect("address"),
            since: at(0),
            until: at(600),
        }
    }

    #[test]
    fn a_session_holds_its_address_until_it_stops_or_lapses() {
        let logins = NetworkLogins::default();
        let address: IpAddr = "10.0.3.17".parse().expect("address");
        assert!(logins.get(address, at(1)).is_none());
        logins.start(address, login("lwright10", "s1", "10.0.0.2"));
        assert_eq!(
            logins
                .get(address, at(1))
                .map(|l| l.user.clone())
                .as_deref(),
            Some("lwright10")
        );
        // The IPv4-mapped form is the same address.
        let mapped: IpAddr = "::ffff:10.0.3.17".parse().expect("address");
        assert!(logins.get(mapped, at(1)).is_some());
        // Lapsed: not returned, then dropped.
        assert!(logins.get(address, at(601)).is_none());
        assert_eq!(logins.expire(at(601)), 1);
        assert!(logins.is_empty());

        // Another session's Stop does not end this one; its own does.
        logins.start(address, login("lwright10", "s2", "10.0.0.2"));
        assert!(!logins.stop(address, Some("s1")));
        assert!(logins.get(address, at(1)).is_some());
        assert!(logins.stop(address, Some("s2")));
        assert!(logins.get(address, at(1)).is_none());
        assert_eq!(logins.len(), 0);
    }

    #[test]
    fn a_reused_address_never_keeps_the_old_person_and_a_restarted_access_point_ends_its_own() {
        let logins = NetworkLogins::default();
        let address: IpAddr = "10.0.3.17".parse().expect("address");
        logins.start(address, login("lwright10", "s1", "10.0.0.2"));
        logins.start(address, login("asmith", "s9", "10.0.0.2"));
        assert_eq!(logins.len(), 1);
        assert_eq!(
            logins
                .get(address, at(1))
                .map(|l| l.user.clone())
                .as_deref(),
            Some("asmith")
        );
        let other: IpAddr = "10.0.4.2".parse().expect("address");
        logins.start(other, login("bjones", "s3", "10.0.0.3"));
        assert_eq!(logins.stop_all_from("10.0.0.2".parse().expect("nas")), 1);
        assert!(logins.get(address, at(1)).is_none());
        assert!(logins.get(other, at(1)).is_some());
    }
}
