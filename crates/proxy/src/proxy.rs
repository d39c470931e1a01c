//! The proxy's shared part: settings, identity (device register, proxy log-ins), events and
//! counters. The per-connection code is in [`crate::http`] and [`crate::tls`].

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::header::HeaderValue;
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use ward_events::{Disposition, EventAlert, EventSink, PersonId, SchoolId, Source};
use ward_gateway::slots::Slots;
use ward_gateway::{BrowsingCounts, Client, FilterState, LiveState, Requester, canonical_ip};
use ward_lists::Host;

use crate::reach::{Reach, Refusal};
use crate::resolve::Resolver;
use crate::target::Endpoint;

/// How long a proxy log-in is remembered before the password is checked again.
const AUTH_CACHE_TIME: Duration = Duration::from_secs(300);
/// Most remembered log-ins.
const AUTH_CACHE_ENTRIES: usize = 10_000;

/// Who a proxy log-in named: the account or person Ward has for them, or (for a Kerberos
/// user Ward does not know) only their name; and how.
#[derive(Debug, Clone)]
pub(crate) struct Named {
    pub(crate) name: String,
    pub(crate) user: Option<AuthUser>,
    pub(crate) by: ward_events::IdentifiedBy,
}

/// How long an agreement found owed, and one found answered, is remembered.
const AGREEMENT_OWED_FOR: Duration = Duration::from_secs(30);
const AGREEMENT_KEPT_FOR: Duration = Duration::from_secs(600);

/// A log-in's answer (for a Kerberos user Ward does not know, `None`) and until when it is
/// remembered.
type Remembered = (Option<AuthUser>, Instant);

/// A person who logged in to the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    /// The log-in name.
    pub username: String,
    /// The person, if the account is linked to one.
    pub person: Option<PersonId>,
    /// The policy group they browse as (`None`: the policy's first staff group).
    pub group: Option<String>,
}

/// What the portal tells someone about their password when they log in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordAdvice {
    /// A starting password someone gave them: they choose their own before they browse.
    pub must_change: bool,
    /// Older than the school's rules allow: they are asked (not made) to choose a new one.
    pub due: bool,
    /// The school's rules for their password, in words a seven-year-old can follow.
    pub rules: Vec<String>,
}

/// Why a password was not changed, in words for the person, and the rules to show again
/// (empty when the log-in itself was refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRefusal {
    /// What went wrong.
    pub problem: String,
    /// Their rules.
    pub rules: Vec<String>,
}

/// Checks a proxy log-in (Basic authentication) against Ward's accounts. Implemented by the
/// binary, which owns password hashing and the account store.
pub trait Authenticator: Send + Sync + 'static {
    /// The user, if `username` and `password` are right (and the account may log in).
    fn check<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> Pin<Box<dyn Future<Output = Option<AuthUser>> + Send + 'a>>;

    /// A portal session was opened (`opened`) or ended by logging out at `address`, for the
    /// audit log. By default nothing is written.
    fn portal_session<'a>(
        &'a self,
        user: &'a str,
        address: IpAddr,
        opened: bool,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        let _ = (user, address, opened);
        Box::pin(std::future::ready(()))
    }

    /// The account or person with log-in name `username`, for a user whose identity was
    /// proved otherwise (a Kerberos ticket): `None` when Ward does not know them (or they have
    /// left). By default nobody is known.
    fn named<'a>(
        &'a self,
        username: &'a str,
    ) -> Pin<Box<dyn Future<Output = Option<AuthUser>> + Send + 'a>> {
        let _ = username;
        Box::pin(std::future::ready(None))
    }

    /// What to tell `user` about their password at the portal: `None` for a password Ward
    /// does not keep (the directory's). By default nothing.
    fn password_advice<'a>(
        &'a self,
        user: &'a AuthUser,
    ) -> Pin<Box<dyn Future<Output = Option<PasswordAdvice>> + Send + 'a>> {
        let _ = user;
        Box::pin(std::future::ready(None))
    }

    /// Changes the Ward password of `username` from `current` to `new`, typed twice (`again`):
    /// the current one checked as a log-in, with its lock-out; the new one against the
    /// school's rules. Who they are. By default passwords cannot be changed.
    fn change_password<'a>(
        &'a self,
        username: &'a str,
        current: &'a str,
        new: &'a str,
        again: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<AuthUser, PasswordRefusal>> + Send + 'a>> {
        let _ = (username, current, new, again);
        Box::pin(std::future::ready(Err(PasswordRefusal {
            problem: "Passwords cannot be changed here.".into(),
            rules: Vec::new(),
        })))
    }

    /// The acceptable use agreement `user` must answer before a portal session opens (they
    /// have not accepted the version in force this school year), if any; `Err` when that
    /// cannot be found out (then nothing opens). By default none.
    fn agreement_due<'a>(
        &'a self,
        user: &'a AuthUser,
    ) -> Pin<Box<dyn Future<Output = Result<Option<crate::PortalAgreement>, String>> + Send + 'a>>
    {
        let _ = user;
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Records `user`'s answer to `agreement` given at `address`: `Err` says why it could not
    /// be recorded (then nothing opens). By default nothing is recorded.
    fn answer_agreement<'a>(
        &'a self,
        user: &'a AuthUser,
        agreement: &'a crate::PortalAgreement,
        accepted: bool,
        address: IpAddr,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        let _ = (user, agreement, accepted, address);
        Box::pin(std::future::ready(Ok(())))
    }

    /// An account was misused at a log-in (two addresses at once, the other kind of device),
    /// for the alert queue. By default nothing is raised.
    fn misuse<'a>(
        &'a self,
        report: ward_gateway::misuse::MisuseReport,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        let _ = report;
        Box::pin(std::future::ready(()))
    }
}

/// Deployment settings (the policy says the rest).
#[derive(Clone)]
pub struct ProxySettings {
    /// The school whose network this is.
    pub school: SchoolId,
    /// How clients reach the explicit proxy (`host:port`), written into the PAC file and the
    /// block page's forms. Empty: the address each connection arrived on.
    pub public_address: String,
    /// Most client connections at once; beyond it the one that has waited longest without
    /// sending a request is closed to make room, else the new one is refused.
    pub max_connections: usize,
    /// Most client connections from one address, likewise.
    pub max_connections_per_client: usize,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// How long a portal log-in lasts (ended sooner by logging out).
    pub portal_session: Duration,
    /// Time a client has to send a request's head, and the longest idle wait between requests.
    pub header_timeout: Duration,
    /// A body or tunnel with no bytes either way for this long is closed.
    pub idle_timeout: Duration,
    /// Time to connect to a server.
    pub connect_timeout: Duration,
    /// Ports CONNECT may reach (`None`: any).
    pub connect_ports: Option<Vec<u16>>,
    /// The port transparent HTTPS connections are spliced to (443).
    pub tls_port: u16,
    /// Names resolved from this table before the system resolver (like /etc/hosts; for test
    /// networks and benchmarks).
    pub hosts: HashMap<String, IpAddr>,
    /// Ward's other listening addresses (the console, the DNS filter), never connected to; the
    /// proxy's own are added when it starts serving.
    pub own_addresses: Vec<SocketAddr>,
    /// Servers reachable although their addresses are internal (loopback, the machine's own,
    /// private): an intranet server, or a test origin on loopback.
    pub internal_servers: Vec<crate::reach::InternalServer>,
    /// Proxy log-ins, if enabled.
    pub authenticator: Option<Arc<dyn Authenticator>>,
    /// Whether Basic log-ins (a typed user name and password) are offered and taken.
    pub offer_basic: bool,
    /// Single sign-on at the portal (with the school's Microsoft or Google accounts), if set;
    /// only with an authenticator (the portal's audit and misuse alerts are its).
    pub sign_on: Option<Arc<dyn crate::SignOn>>,
    /// Kerberos (`Negotiate`) for computers on the school's domain, with the proxy's keytab.
    pub kerberos: Option<Arc<ward_kerberos::Acceptor>>,
    /// Risk detection on searches, addresses and pages, if enabled.
    pub detection: Option<Arc<crate::Detection>>,
    /// What the block page's forms do (`None`: they say they cannot be sent).
    pub actions: Option<Arc<dyn crate::actions::BlockPageActions>>,
    /// HTTPS inspection, when on.
    pub inspection: Option<Arc<crate::inspect::Inspection>>,
    /// The school's CA certificates, offered to devices at `/ward/ca.crt` (whether or not
    /// inspection is on yet, so that devices can be given them first).
    pub certificates: Option<Arc<crate::ca::Authorities>>,
}

impl std::fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxySettings")
            .field("school", &self.school)
            .field("public_address", &self.public_address)
            .field("max_connections", &self.max_connections)
            .field(
                "max_connections_per_client",
                &self.max_connections_per_client,
            )
            .field("max_header_bytes", &self.max_header_bytes)
            .field("header_timeout", &self.header_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("connect_ports", &self.connect_ports)
            .field("own_addresses", &self.own_addresses)
            .field("internal_servers", &self.internal_servers)
            .field("authentication", &self.authenticator.is_some())
            .field("offer_basic", &self.offer_basic)
            .field(
                "sign_on",
                &self.sign_on.as_ref().map(|s| s.label().to_owned()),
            )
            .field("kerberos", &self.kerberos)
            .field("detection", &self.detection)
            .field("inspection", &self.inspection)
            .finish_non_exhaustive()
    }
}

impl ProxySettings {
    /// Sensible defaults for `school`.
    pub fn new(school: SchoolId) -> ProxySettings {
        ProxySettings {
            school,
            public_address: String::new(),
            max_connections: 4096,
            max_connections_per_client: 256,
            max_header_bytes: 64 * 1024,
            portal_session: Duration::from_secs(60 * 60),
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            connect_ports: Some(vec![443, 8443]),
            tls_port: 443,
            hosts: HashMap::new(),
            own_addresses: Vec::new(),
            internal_servers: Vec::new(),
            authenticator: None,
            offer_basic: true,
            sign_on: None,
            kerberos: None,
            detection: None,
            actions: None,
            inspection: None,
            certificates: None,
        }
    }
}

/// Counters since start.
#[derive(Debug, Default)]
pub struct Stats {
    /// Client connections accepted.
    pub connections: AtomicU64,
    /// Client connections refused at the limit (in all, or from one address).
    pub refused: AtomicU64,
    /// HTTP requests handled (CONNECT included).
    pub requests: AtomicU64,
    /// Requests, tunnels and TLS connections blocked.
    pub blocked: AtomicU64,
    /// Tunnels opened (CONNECT and transparent HTTPS).
    pub tunnels: AtomicU64,
    /// Requests refused as malformed (400).
    pub bad_requests: AtomicU64,
    /// Requests that failed at the server's end (502/504).
    pub upstream_errors: AtomicU64,
    /// Failed proxy log-ins.
    pub failed_logins: AtomicU64,
    /// HTTPS connections inspected.
    pub inspected: AtomicU64,
    /// Inspected handshakes the device did not finish (it lacks the school's CA, or pins).
    pub handshake_failures: AtomicU64,
    /// From a request's head arriving to the response's head being ready (for CONNECT, to the
    /// tunnel being open or refused).
    pub latency: ward_gateway::latency::Latency,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The proxy: policy state (shared with the DNS filter), settings, and where events go.
pub struct Proxy {
    pub(crate) live: Arc<LiveState>,
    pub(crate) settings: ProxySettings,
    pub(crate) events: Option<EventSink>,
    pub(crate) counts: BrowsingCounts,
    pub(crate) stats: Stats,
    pub(crate) connections: Arc<Slots>,
    pub(crate) resolver: Resolver,
    pub(crate) reach: Reach,
    /// This proxy's `Via` entry (`1.1 ward-` and a random id): a request that already carries
    /// it has come round in a loop.
    pub(crate) via: HeaderValue,
    secret: [u8; 32],
    logins: Mutex<HashMap<[u8; 32], Remembered>>,
    pub(crate) sign_ons: crate::sign_on::PendingSignOns,
    pub(crate) agreements: crate::agreement::PendingAgreements,
    /// Per user name: whether they still owe the agreement, and when that was found out.
    owed: Mutex<HashMap<String, (bool, Instant)>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("settings", &self.settings)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// What a request is, for its event.
pub(crate) struct Seen<'a> {
    /// When the request came: read once, for identity, decision and event alike.
    pub at: Timestamp,
    pub client_ip: IpAddr,
    pub client: &'a Client,
    pub host: &'a Host,
    pub url: Option<&'a str>,
    pub search_term: Option<String>,
}

impl Proxy {
    /// A proxy deciding with `live`; `events` receives the events (`None`: not recorded).
    pub fn new(live: Arc<LiveState>, settings: ProxySettings, events: Option<EventSink>) -> Proxy {
        let mut secret = [0u8; 32];
        if getrandom::fill(&mut secret).is_err() {
            // Without randomness the form tokens are predictable, which only lets another page
            // post a form for the user: keep going, and say so.
            tracing::warn!("no randomness for the block page's form tokens");
        }
        let via = format!("1.1 ward-{}", hex(&secret[..4]));
        Proxy {
            via: HeaderValue::from_str(&via).unwrap_or(HeaderValue::from_static("1.1 ward")),
            live,
            connections: Slots::new(
                settings.max_connections,
                settings.max_connections_per_client,
            ),
            resolver: Resolver::new(settings.connect_timeout),
            reach: Reach::new(
                settings.own_addresses.clone(),
                settings.internal_servers.clone(),
            ),
            counts: BrowsingCounts::new(settings.school, Source::Proxy),
            settings,
            events,
            stats: Stats::default(),
            secret,
            logins: Mutex::default(),
            sign_ons: crate::sign_on::PendingSignOns::default(),
            agreements: crate::agreement::PendingAgreements::default(),
            owed: Mutex::new(HashMap::new()),
        }
    }

    /// Counters since start.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Its client connection slots (limits, open connections, shed and refused counts).
    pub fn connection_slots(&self) -> &Arc<Slots> {
        &self.connections
    }

    /// Its settings.
    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    /// The policy state it decides with.
    pub fn live(&self) -> &Arc<LiveState> {
        &self.live
    }

    /// Hands the allowed-request counts gathered since the last call to the event writer.
    pub fn flush_counts(&self) {
        if let Some(events) = &self.events {
            self.counts.flush(events);
        }
    }

    /// The token that ties a block page's forms to the client and address.
    pub(crate) fn form_token(&self, client_ip: IpAddr, url: &str) -> String {
        let mut hash = Sha256::new();
        hash.update(self.secret);
        hash.update(canonical_ip(client_ip).to_string());
        hash.update([0]);
        hash.update(url);
        hex(&hash.finalize()[..16])
    }

    /// Whether a request's `Via` headers already name this proxy.
    pub(crate) fn looped(&self, headers: &hyper::HeaderMap) -> bool {
        let own = self.via.as_bytes();
        // `1.1 ward-…` is the last part of the entry this proxy adds.
        let own_name = &own[4..];
        headers.get_all(hyper::header::VIA).iter().any(|value| {
            value.as_bytes().split(|&b| b == b',').any(|entry| {
                entry
                    .split(|b| b.is_ascii_whitespace())
                    .filter(|part| !part.is_empty())
                    .nth(1)
                    .is_some_and(|received_by| received_by.eq_ignore_ascii_case(own_name))
            })
        })
    }

    /// Checks a `Proxy-Authorization` header (Basic, or Negotiate with Kerberos). `Err(())`
    /// when it is present but wrong, or a scheme not offered.
    /// Whether `user`, logged in by a typed log-in or Kerberos, still has the acceptable use
    /// agreement to answer (at the portal) before browsing. Remembered for ten minutes once
    /// agreed, thirty seconds while owed; when it cannot be found out, it is owed (closed).
    pub(crate) async fn agreement_owed(&self, user: &AuthUser) -> bool {
        let Some(authenticator) = &self.settings.authenticator else {
            return false;
        };
        let remembered = self
            .owed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&user.username)
            .filter(|(owed, at)| {
                at.elapsed()
                    < if *owed {
                        AGREEMENT_OWED_FOR
                    } else {
                        AGREEMENT_KEPT_FOR
                    }
            })
            .map(|(owed, _)| *owed);
        if let Some(owed) = remembered {
            return owed;
        }
        let owed = match authenticator.agreement_due(user).await {
            Ok(due) => due.is_some(),
            Err(error) => {
                tracing::warn!(%error, user = %user.username, "cannot tell whether the agreement is owed; treated as owed");
                true
            }
        };
        let mut cache = self.owed.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= AUTH_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(user.username.clone(), (owed, Instant::now()));
        owed
    }

    /// `username` answered the agreement at the portal: asked again next time.
    pub(crate) fn agreement_answered(&self, username: &str) {
        self.owed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(username);
    }

    pub(crate) async fn login(
        &self,
        header: &[u8],
        base: &Client,
        state: &FilterState,
        address: std::net::IpAddr,
        now: Timestamp,
    ) -> Result<(Client, Named), ()> {
        let authenticator = self.settings.authenticator.as_ref().ok_or(())?;
        let text = std::str::from_utf8(header).map_err(|_| ())?.trim();
        let (scheme, credentials) = text.split_once(' ').ok_or(())?;
        let named = if scheme.eq_ignore_ascii_case("negotiate") {
            let kerberos = self.settings.kerberos.as_ref().ok_or(())?;
            let principal = match kerberos.accept(credentials, now) {
                Ok(principal) => principal,
                Err(error) => {
                    Stats::add(&self.stats.failed_logins);
                    tracing::info!(%error, client = %address, "a Kerberos log-in was refused");
                    return Err(());
                }
            };
            let user = self
                .remembered(authenticator, "negotiate", &principal.name, "", |a| {
                    a.named(&principal.name)
                })
                .await;
            Named {
                name: principal.name,
                user,
                by: ward_events::IdentifiedBy::DomainLogin,
            }
        } else if scheme.eq_ignore_ascii_case("basic") && self.settings.offer_basic {
            let (username, password) = basic_credentials(header).ok_or(())?;
            let Some(user) = self
                .remembered(authenticator, "basic", &username, &password, |a| {
                    Box::pin(async {
                        let user = a.check(&username, &password).await?;
                        // A starting password is changed at the portal before it browses.
                        let starting = a
                            .password_advice(&user)
                            .await
                            .is_some_and(|advice| advice.must_change);
                        (!starting).then_some(user)
                    })
                })
                .await
            else {
                Stats::add(&self.stats.failed_logins);
                return Err(());
            };
            Named {
                name: user.username.clone(),
                user: Some(user),
                by: ward_events::IdentifiedBy::ProxyLogin,
            }
        } else {
            return Err(());
        };
        let client = self.client_for(&named, base, state);
        // A proxy log-in holds the address for as long as it is remembered.
        let until = now + jiff::SignedDuration::try_from(AUTH_CACHE_TIME).unwrap_or_default();
        self.watch_log_in(&client, address, until, base, now);
        Ok((client, named))
    }

    /// The client a log-in makes of `base`: the account's or person's group; a Kerberos user
    /// Ward does not know is named but keeps the address's own group.
    pub(crate) fn client_for(&self, named: &Named, base: &Client, state: &FilterState) -> Client {
        match &named.user {
            Some(user) => base.logged_in(
                user.person,
                &user.username,
                ward_gateway::account_group(&state.policy, user.group.as_deref()),
                named.by,
            ),
            None => base.logged_in(None, &named.name, None, named.by),
        }
    }

    /// What `ask` says for `name` (and `secret`, a password), remembered for a few minutes so
    /// that every request does not ask again. Keyed by a hash with this process's secret.
    async fn remembered<'a, F>(
        &self,
        authenticator: &'a Arc<dyn Authenticator>,
        scheme: &str,
        name: &str,
        secret: &str,
        ask: F,
    ) -> Option<AuthUser>
    where
        F: FnOnce(
            &'a Arc<dyn Authenticator>,
        ) -> Pin<Box<dyn Future<Output = Option<AuthUser>> + Send + 'a>>,
    {
        let key: [u8; 32] = {
            let mut hash = Sha256::new();
            hash.update(self.secret);
            hash.update(scheme.as_bytes());
            hash.update([0]);
            hash.update(name.as_bytes());
            hash.update([0]);
            hash.update(secret.as_bytes());
            hash.finalize().into()
        };
        let remembered = {
            let logins = self.logins.lock().unwrap_or_else(|e| e.into_inner());
            logins
                .get(&key)
                .filter(|(_, until)| *until > Instant::now())
                .map(|(user, _)| user.clone())
        };
        if let Some(user) = remembered {
            return user;
        }
        let user = ask(authenticator).await;
        // A wrong password is never remembered (the lock-out must count every try); a
        // Kerberos user Ward does not know is (the ticket proved who they are).
        if user.is_none() && scheme == "basic" {
            return None;
        }
        let mut logins = self.logins.lock().unwrap_or_else(|e| e.into_inner());
        if logins.len() >= AUTH_CACHE_ENTRIES {
            let now = Instant::now();
            logins.retain(|_, (_, until)| *until > now);
            if logins.len() >= AUTH_CACHE_ENTRIES {
                logins.clear();
            }
        }
        logins.insert(key, (user.clone(), Instant::now() + AUTH_CACHE_TIME));
        user
    }

    /// Tells the misuse watch that `client` (logged in) is at `address` until `until`, and
    /// hands what it finds to the authenticator to raise, without waiting for it.
    pub(crate) fn watch_log_in(
        &self,
        client: &Client,
        address: std::net::IpAddr,
        until: Timestamp,
        base: &Client,
        now: Timestamp,
    ) {
        let Some(user) = client.identity.user.as_deref() else {
            return;
        };
        let login = ward_gateway::misuse::LogIn {
            user,
            address,
            until,
            device: base,
            kind: client.kind,
        };
        let reports =
            self.live
                .sessions()
                .misuse()
                .reports(login, client.person, client.identified_by, now);
        if reports.is_empty() {
            return;
        }
        let Some(authenticator) = self.settings.authenticator.clone() else {
            return;
        };
        tokio::spawn(async move {
            for report in reports {
                authenticator.misuse(report).await;
            }
        });
    }

    /// Records an event for a blocked, rewritten or searched request; `alert` for a blocked
    /// attempt in a serious category.
    pub(crate) fn record(
        &self,
        seen: &Seen<'_>,
        action: Disposition,
        categories: String,
        reason: String,
        alert: Option<EventAlert>,
    ) {
        let Some(events) = &self.events else {
            return;
        };
        let requester = Requester::new(
            self.settings.school,
            Source::Proxy,
            seen.at,
            seen.client_ip,
            Arc::new(seen.client.clone()),
        );
        let mut event = requester.event(seen.host.to_string(), action);
        event.url = seen.url.map(str::to_owned);
        event.categories = categories;
        event.reason = reason;
        event.search_term = seen.search_term.clone();
        event.alert = alert;
        events.record(event);
    }

    /// Counts and records a connection refused because of where it would go ([`Reach`]).
    pub(crate) fn refused(&self, seen: &Seen<'_>, refusal: Refusal) {
        Stats::add(&self.stats.blocked);
        self.record(
            seen,
            Disposition::Block,
            String::new(),
            format!("the server is at {refusal}"),
            None,
        );
    }

    /// Counts an allowed request for the browsing history.
    pub(crate) fn count(&self, client_ip: IpAddr, client: &Client, host: &Host) {
        if self.events.is_some() {
            let now = Timestamp::now();
            match host {
                Host::Domain(name) => self.counts.add(now, client_ip, client, name.as_str()),
                address => self
                    .counts
                    .add(now, client_ip, client, &address.to_string()),
            }
        }
    }

    /// Connects to a server: the address itself, or the name's addresses in turn, skipping
    /// those the client may not reach ([`Reach`]). `private_networks`: whether the client's group
    /// may reach private addresses.
    pub(crate) async fn connect(
        &self,
        endpoint: &Endpoint,
        private_networks: bool,
    ) -> Result<TcpStream, ConnectError> {
        let addresses: Vec<SocketAddr> = match &endpoint.host {
            Host::Ipv4(v4) => vec![SocketAddr::new(IpAddr::V4(*v4), endpoint.port)],
            Host::Ipv6(v6) => vec![SocketAddr::new(IpAddr::V6(*v6), endpoint.port)],
            Host::Domain(name) => match self.settings.hosts.get(name.as_str()) {
                Some(ip) => vec![SocketAddr::new(*ip, endpoint.port)],
                None => self
                    .resolver
                    .resolve(name.as_str())
                    .await
                    .map_err(ConnectError::Failed)?
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, endpoint.port))
                    .collect(),
            },
        };
        let mut last = ConnectError::Failed(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} has no address", endpoint.host),
        ));
        for address in addresses {
            // Decided on the address connected to, not the name: a name that resolves to
            // loopback, or changes its answer after the decision, gets no further.
            if let Err(refusal) = self.reach.check(address, private_networks) {
                tracing::debug!(%address, %refusal, "not connecting");
                last = ConnectError::Refused(refusal);
                continue;
            }
            match tokio::time::timeout(self.settings.connect_timeout, TcpStream::connect(address))
                .await
            {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Ok(Err(error)) => last = ConnectError::Failed(error),
                Err(_) => last = ConnectError::Failed(timed_out("connect")),
            }
        }
        Err(last)
    }
}

/// Why a server connection was not made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The address is one the client may not reach.
    #[error("Ward does not connect to {0}")]
    Refused(Refusal),
    /// The name did not resolve, or the server did not answer.
    #[error(transparent)]
    Failed(#[from] std::io::Error),
    /// An inspected site's certificate failed verification.
    #[error("its certificate could not be checked: {0}")]
    Untrusted(String),
}

/// Bytes as lower-case hexadecimal.
fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn timed_out(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, format!("{what} timed out"))
}

/// `Basic base64(user:password)` → (user, password).
fn basic_credentials(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(encoded.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    (!user.is_empty()).then(|| (user.to_owned(), password.to_owned()))
}

/// Standard base64 with padding (RFC 4648 §4), as Basic authentication uses; at most 4 KiB.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    if text.len() > 4096 {
        return None;
    }
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_read() {
        // "j.smith:pa:ss w0rd"
        assert_eq!(
            basic_credentials(b"Basic ai5zbWl0aDpwYTpzcyB3MHJk"),
            Some(("j.smith".into(), "pa:ss w0rd".into()))
        );
        assert_eq!(
            basic_credentials(b"basic YTpi"),
            Some(("a".into(), "b".into()))
        );
        // "ab:" and "a:bc" (padding).
        assert_eq!(
            basic_credentials(b"Basic YWI6"),
            Some(("ab".into(), String::new()))
        );
        assert_eq!(
            basic_credentials(b"Basic YTpiYw=="),
            Some(("a".into(), "bc".into()))
        );
        for bad in [
            &b"Bearer YTpi"[..],
            b"Basic YTpi=",
            b"Basic Y=pi",
            b"Basic !!!!",
            b"Basic OmI=",
            b"Basic",
            b"\xff",
        ] {
            assert_eq!(basic_credentials(bad), None, "{bad:?}");
        }
    }
}
