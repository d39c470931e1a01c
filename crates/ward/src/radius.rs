//! The RADIUS accounting listener (issue 24): the school's 802.1X Wi-Fi and switches tell Ward
//! who holds which address, and the DNS filter and the proxy then know the person behind it.
//!
//! Each packet must come from a configured network device and carry its shared secret's
//! authenticator (`ward_gateway::radius`); anything else is dropped unanswered (and logged at
//! debug level). A
//! `Start` or `Interim-Update` gives the address to the user (the person with that user name,
//! browsing as their policy group; a user Ward does not know is named but keeps the address's
//! group); a `Stop` ends it; an access point's `Accounting-On`/`Off` ends all of its log-ins.
//! Log-ins lapse when the network stops updating them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use ward_gateway::misuse::LogIn;
use ward_gateway::network::NetworkLogin;
use ward_gateway::radius::{Accounting, Status, accounting_response, read_accounting};
use ward_gateway::{LiveState, canonical_ip};
use ward_store::IdentifiedBy;
use ward_store::{SchoolId, Store};

use crate::config::Config;

/// How long looking a user up in the database may take before the log-in is kept without the
/// person (the network must be answered).
const LOOKUP_TIME: Duration = Duration::from_secs(2);

/// Binds the listener and starts serving it; returns its address.
pub async fn start(
    config: &Config,
    store: &Store,
    school: SchoolId,
    live: &Arc<LiveState>,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<Option<SocketAddr>> {
    let Some(listen) = config.parsed.radius_listen else {
        return Ok(None);
    };
    let socket = UdpSocket::bind(listen).await.map_err(|error| {
        anyhow::anyhow!("cannot listen for RADIUS accounting on {listen}: {error}")
    })?;
    let address = socket.local_addr()?;
    let secrets: HashMap<IpAddr, Vec<u8>> = config
        .parsed
        .radius_clients
        .iter()
        .map(|(address, secret)| (*address, secret.expose().as_bytes().to_vec()))
        .collect();
    let listener = Listener {
        socket,
        secrets,
        store: store.clone(),
        school,
        live: live.clone(),
        lapse: SignedDuration::from_mins(
            i64::try_from(config.radius.session_minutes).unwrap_or(120),
        ),
        alert_window: SignedDuration::from_mins(
            i64::try_from(config.alerts.fold_minutes).unwrap_or(60),
        ),
    };
    tasks.spawn(listener.serve());
    let expiring = live.clone();
    tasks.spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            expiring.sessions().network().expire(Timestamp::now());
        }
    });
    Ok(Some(address))
}

struct Listener {
    socket: UdpSocket,
    secrets: HashMap<IpAddr, Vec<u8>>,
    store: Store,
    school: SchoolId,
    live: Arc<LiveState>,
    lapse: SignedDuration,
    alert_window: SignedDuration,
}

impl Listener {
    async fn serve(self) {
        let mut buffer = vec![0u8; 4096];
        loop {
            let (n, from) = match self.socket.recv_from(&mut buffer).await {
                Ok(received) => received,
                Err(error) => {
                    tracing::warn!(%error, "RADIUS receive failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let packet = &buffer[..n];
            let Some(secret) = self.secrets.get(&canonical_ip(from.ip())) else {
                tracing::debug!(%from, "RADIUS packet from an address that is not a configured network device");
                continue;
            };
            let accounting = match read_accounting(packet, secret) {
                Ok(accounting) => accounting,
                Err(error) => {
                    tracing::debug!(%from, %error, "RADIUS packet refused");
                    continue;
                }
            };
            self.apply(&accounting, from.ip()).await;
            if let Ok(response) = accounting_response(packet, secret) {
                let _ = self.socket.send_to(&response, from).await;
            }
        }
    }

    /// What the packet says, applied to the network log-ins.
    async fn apply(&self, accounting: &Accounting, sender: IpAddr) {
        let logins = self.live.sessions().network();
        let nas = accounting.nas.unwrap_or(sender);
        let now = Timestamp::now();
        match accounting.status {
            Some(Status::Start | Status::InterimUpdate) => {
                let (Some(user), Some(address)) = (&accounting.user, accounting.address) else {
                    return;
                };
                let lapse = match accounting.interim_interval {
                    // Two missed updates and a minute's grace.
                    Some(seconds) if seconds > 0 => {
                        SignedDuration::from_secs(i64::from(seconds) * 2 + 60)
                    }
                    _ => self.lapse,
                };
                let until = match accounting.session_timeout {
                    Some(seconds) if seconds > 0 => {
                        now + lapse.min(SignedDuration::from_secs(i64::from(seconds)))
                    }
                    _ => now + lapse,
                };
                let kept = logins.get(address, now).filter(|login| {
                    login.user == *user && login.session_id == accounting.session_id
                });
                let login = match kept {
                    // The same session goes on: only its time is extended (and its hold on the
                    // address, for the misuse watch, which looked at it when it started).
                    Some(login) => {
                        self.live.sessions().misuse().extend(user, address, until);
                        logins.start(
                            address,
                            NetworkLogin {
                                until,
                                ..NetworkLogin::clone(&login)
                            },
                        );
                        return;
                    }
                    None => {
                        let (person, group) = self.person(user).await;
                        NetworkLogin {
                            user: user.clone(),
                            person,
                            group,
                            session_id: accounting.session_id.clone(),
                            nas,
                            since: now,
                            until,
                        }
                    }
                };
                self.watch(&login, address, now);
                logins.start(address, login);
            }
            Some(Status::Stop) => {
                if let Some(address) = accounting.address {
                    logins.stop(address, accounting.session_id.as_deref());
                    if let Some(user) = &accounting.user {
                        self.live.sessions().misuse().log_out(user, address);
                    }
                }
            }
            Some(Status::AccountingOn | Status::AccountingOff) => {
                let ended = logins.stop_all_from(nas);
                tracing::info!(%nas, ended, "a network device restarted: its log-ins are over");
            }
            Some(Status::Other(_)) | None => {}
        }
    }

    /// Tells the misuse watch about a network log-in, and raises what it finds (without
    /// holding up the packets).
    fn watch(&self, login: &NetworkLogin, address: IpAddr, now: Timestamp) {
        let state = self.live.load();
        let base = state.clients.lookup(address);
        let kind = login
            .group
            .as_deref()
            .and_then(|group| state.policy.group(group))
            .map_or(base.kind, |group| group.kind);
        let reports = self.live.sessions().misuse().reports(
            LogIn {
                user: &login.user,
                address,
                until: login.until,
                device: base,
                kind,
            },
            login.person,
            IdentifiedBy::Network,
            now,
        );
        if reports.is_empty() {
            return;
        }
        let (store, school, window) = (self.store.clone(), self.school, self.alert_window);
        tokio::spawn(async move {
            for report in &reports {
                crate::misuse::raise(&store, school, report, window).await;
            }
        });
    }

    /// The person with this user name and their policy group, if Ward knows them (not waited
    /// on for long: the database may be unavailable, and the network must be answered).
    async fn person(&self, user: &str) -> (Option<ward_store::PersonId>, Option<String>) {
        let lookup = self.store.person_by_username(self.school, user);
        match tokio::time::timeout(LOOKUP_TIME, lookup).await {
            // A leaver is named, never given their old group.
            Ok(Ok(Some(person))) if person.left_at.is_some() => (Some(person.id), None),
            Ok(Ok(Some(person))) => (Some(person.id), person.group),
            Ok(Ok(None)) => (None, None),
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot look up a network user; named without their group");
                (None, None)
            }
            Err(_) => {
                tracing::warn!("looking up a network user timed out; named without their group");
                (None, None)
            }
        }
    }
}
