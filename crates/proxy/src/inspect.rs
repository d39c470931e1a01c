//! HTTPS inspection (DESIGN.md F12): Ward ends the device's TLS with a certificate of its own
//! for the site (signed by the school's CA, [`crate::ca`]), reads and decides every request as it
//! does plain HTTP, and fetches what is allowed over a TLS connection of its own to the site,
//! checked against the system's trusted roots.
//!
//! What is never decrypted is spliced unchanged and decided by name, as without inspection:
//! sites on the do-not-inspect list ([`NeverInspect`]: apps that pin their certificates or break,
//! sign-in and updates), connections without a server name, and addresses typed as hosts. Each
//! is counted with why ([`Uninspected`]), so that what Ward cannot see is shown, not hidden.
//!
//! Safety: a leaf is made only for a name that Ward has decided on and that the device's own
//! ClientHello names (checked again on the ClientHello rustls reads); the CA key stays in
//! memory and in its private file; inspected traffic is never written anywhere beyond the
//! event fields Ward records for plain HTTP.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use ward_gateway::Client;
use ward_gateway::slots::Slot;
use ward_lists::Host;

use crate::ca::{Authority, Leaves};
use crate::io::Prefixed;
use crate::proxy::{Proxy, Stats};
use crate::target::Endpoint;

/// Most leaf certificates kept in memory.
pub const LEAF_CACHE: usize = 20_000;
/// Most sites and devices whose uninspected connections are counted one by one.
const UNINSPECTED_KEYS: usize = 20_000;

/// Hosts Ward never decrypts, whatever the policy says: apps that pin their certificates (they
/// fail under inspection), operating-system updates and sign-in, and connectivity checks.
pub const NEVER_INSPECT: &str = include_str!("../never-inspect.list");
/// Health and help services Ward never decrypts: what a child tells them is theirs (the site
/// is still decided by name, and a visit is still seen).
pub const NEVER_INSPECT_HEALTH: &str = include_str!("../never-inspect-health.list");

/// Why an HTTPS connection was not inspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Uninspected {
    /// On the do-not-inspect list (Ward's, for sign-in, updates, pinned apps, health and
    /// help services, and the school's).
    DoNotInspect,
    /// In a category the policy never decrypts (banking by default).
    Category,
    /// The policy never decrypts this group's HTTPS.
    Group,
    /// The device did not finish the handshake with Ward's certificate: it does not trust the
    /// school's CA, or the app pins its certificates.
    HandshakeFailed,
    /// The ClientHello named no server (or an address), so there is no name to sign for.
    NoServerName,
}

impl Uninspected {
    /// In words, for the dashboard and logs.
    pub fn describe(self) -> &'static str {
        match self {
            Uninspected::DoNotInspect => "on the do-not-inspect list",
            Uninspected::Category => "in a category the policy never decrypts",
            Uninspected::Group => "the policy does not inspect this group",
            Uninspected::HandshakeFailed => {
                "the device does not trust the school's certificate, or the app pins its own"
            }
            Uninspected::NoServerName => "no server name (an address, or an old client)",
        }
    }
}

/// A count of uninspected connections: which site, from which device (or address), and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UninspectedKey {
    /// The site.
    pub host: String,
    /// The registered device and its address, else the address.
    pub device: String,
    /// Why.
    pub why: Uninspected,
}

/// The do-not-inspect hosts: each matches itself and every name under it.
#[derive(Debug, Clone, Default)]
pub struct NeverInspect {
    names: std::collections::HashSet<String>,
}

impl NeverInspect {
    /// Reads one host per line (`#` comments and blank lines ignored). Lines that are not host
    /// names are returned as errors with their line numbers.
    pub fn parse(text: &str) -> Result<NeverInspect, Vec<String>> {
        let mut names = std::collections::HashSet::new();
        let mut errors = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            match Host::parse(line.trim_start_matches("*.")) {
                Ok(Host::Domain(name)) => {
                    names.insert(name.as_str().to_owned());
                }
                _ => errors.push(format!("line {}: {line:?} is not a host name", number + 1)),
            }
        }
        if errors.is_empty() {
            Ok(NeverInspect { names })
        } else {
            Err(errors)
        }
    }

    /// Adds another list's names.
    pub fn extend(&mut self, other: NeverInspect) {
        self.names.extend(other.names);
    }

    /// Whether `host` or a domain above it is listed.
    pub fn contains(&self, host: &Host) -> bool {
        let Host::Domain(name) = host else {
            return false;
        };
        let mut rest = name.as_str();
        loop {
            if self.names.contains(rest) {
                return true;
            }
            match rest.split_once('.') {
                Some((_, parent)) => rest = parent,
                None => return false,
            }
        }
    }

    /// How many names are listed.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Why inspection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The extra trust file could not be read.
    #[error("{}: {why}", .path.display())]
    TrustFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        why: String,
    },
    /// No trusted roots at all: Ward could check no site.
    #[error(
        "no trusted root certificates were found on this system (install the ca-certificates \
         package) or in proxy.upstream_ca"
    )]
    NoRoots,
    /// TLS set-up failed.
    #[error("TLS set-up: {0}")]
    Tls(String),
}

/// HTTPS inspection's state: the leaves, the TLS configurations, the do-not-inspect list and
/// the counts of what was not inspected.
pub struct Inspection {
    leaves: Arc<Leaves>,
    server: Arc<ServerConfig>,
    origin: Arc<ClientConfig>,
    origin_h1: Arc<ClientConfig>,
    never: NeverInspect,
    inspected: AtomicU64,
    uninspected: Mutex<HashMap<UninspectedKey, u64>>,
}

impl std::fmt::Debug for Inspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspection")
            .field("leaves", &self.leaves)
            .field("never_inspect", &self.never.len())
            .finish_non_exhaustive()
    }
}

/// The leaf for the name in the ClientHello. The handshake only starts after Ward has decided on
/// that name and checked that it is the one the ClientHello rustls read names.
#[derive(Debug)]
struct LeafResolver(Arc<Leaves>);

impl ResolvesServerCert for LeafResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let host = Host::parse(hello.server_name()?).ok()?;
        match self.0.for_host(&host, Timestamp::now()) {
            Ok(leaf) => Some(leaf),
            Err(error) => {
                tracing::warn!(%host, %error, "no certificate for an inspected site");
                None
            }
        }
    }
}

impl Inspection {
    /// Inspection signing with `authority`, trusting the system's roots and those in
    /// `upstream_ca` (a PEM file) for sites, never decrypting `never` (added to Ward's own list).
    pub fn new(
        authority: Arc<Authority>,
        upstream_ca: Option<&Path>,
        never: NeverInspect,
    ) -> Result<Inspection, InspectError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let leaves = Arc::new(
            Leaves::new(authority, LEAF_CACHE).map_err(|e| InspectError::Tls(e.to_string()))?,
        );
        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| InspectError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(LeafResolver(leaves.clone())));
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        server.ticketer =
            rustls::crypto::ring::Ticketer::new().map_err(|e| InspectError::Tls(e.to_string()))?;

        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for error in &native.errors {
            tracing::warn!(%error, "reading the system's trusted certificates");
        }
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        tracing::debug!(added, "system root certificates");
        if let Some(path) = upstream_ca {
            let trust_error = |why: String| InspectError::TrustFile {
                path: path.to_owned(),
                why,
            };
            let pem = std::fs::read(path).map_err(|e| trust_error(e.to_string()))?;
            let mut count = 0;
            for certificate in CertificateDer::pem_slice_iter(&pem) {
                let certificate = certificate.map_err(|e| trust_error(e.to_string()))?;
                roots
                    .add(certificate)
                    .map_err(|e| trust_error(e.to_string()))?;
                count += 1;
            }
            if count == 0 {
                return Err(trust_error("it holds no PEM certificate".into()));
            }
        }
        if roots.is_empty() {
            return Err(InspectError::NoRoots);
        }
        let roots = Arc::new(roots);
        let origin_config = |alpn: Vec<Vec<u8>>| -> Result<Arc<ClientConfig>, InspectError> {
            let mut config = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| InspectError::Tls(e.to_string()))?
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            config.alpn_protocols = alpn;
            Ok(Arc::new(config))
        };
        let built_in = |text: &str| {
            NeverInspect::parse(text).map_err(|errors| {
                InspectError::Tls(format!(
                    "the built-in do-not-inspect list: {}",
                    errors.join("; ")
                ))
            })
        };
        let mut all_never = built_in(NEVER_INSPECT)?;
        all_never.extend(built_in(NEVER_INSPECT_HEALTH)?);
        all_never.extend(never);
        Ok(Inspection {
            leaves,
            server: Arc::new(server),
            origin: origin_config(vec![b"h2".to_vec(), b"http/1.1".to_vec()])?,
            origin_h1: origin_config(vec![b"http/1.1".to_vec()])?,
            never: all_never,
            inspected: AtomicU64::new(0),
            uninspected: Mutex::default(),
        })
    }

    /// The leaves made so far.
    pub fn leaves(&self) -> &Leaves {
        &self.leaves
    }

    /// Connections inspected since start.
    pub fn inspected(&self) -> u64 {
        self.inspected.load(Ordering::Relaxed)
    }

    /// The uninspected connections counted since start, most first.
    pub fn uninspected(&self) -> Vec<(UninspectedKey, u64)> {
        let counts = self.uninspected.lock().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<_> = counts.iter().map(|(k, n)| (k.clone(), *n)).collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        list
    }

    /// Whether a connection to `host`, decided as `decision`, may be decrypted (else why not):
    /// never an address, a host on the do-not-inspect lists, or what the policy keeps out.
    pub(crate) fn may_inspect(
        &self,
        host: &Host,
        policy: &ward_policy::PolicySnapshot,
        decision: &ward_policy::Decision<'_>,
    ) -> Result<(), Uninspected> {
        match host {
            Host::Domain(_) if self.never.contains(host) => Err(Uninspected::DoNotInspect),
            Host::Domain(_) => policy
                .inspection_allowed(decision)
                .map_err(|why| match why {
                    ward_policy::NotInspected::Category(_) => Uninspected::Category,
                    ward_policy::NotInspected::Group(_) => Uninspected::Group,
                }),
            _ => Err(Uninspected::NoServerName),
        }
    }

    /// Counts a connection that was not inspected.
    pub(crate) fn count_uninspected(
        &self,
        host: &Host,
        client: &Client,
        ip: IpAddr,
        why: Uninspected,
    ) {
        let ip = ward_gateway::canonical_ip(ip);
        let device = match client.device {
            Some(device) => format!("device {device} ({ip})"),
            None => ip.to_string(),
        };
        let key = UninspectedKey {
            host: host.to_string(),
            device,
            why,
        };
        let mut counts = self.uninspected.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= UNINSPECTED_KEYS && !counts.contains_key(&key) {
            // Bounded: the fewest are dropped for the newest.
            counts.retain(|_, n| *n > 1);
            if counts.len() >= UNINSPECTED_KEYS {
                counts.clear();
            }
        }
        *counts.entry(key).or_insert(0) += 1;
    }

    /// The TLS configuration for connecting to sites: `h1_only` for a connection that is to
    /// speak HTTP/1.1 (a WebSocket upgrade, or one for an HTTP/1.1 client).
    pub(crate) fn origin_config(&self, h1_only: bool) -> Arc<ClientConfig> {
        if h1_only {
            self.origin_h1.clone()
        } else {
            self.origin.clone()
        }
    }
}

/// Whether to inspect a TLS connection to `endpoint` whose ClientHello is `hello`, given
/// whether the site may be inspected at all (`allowed`, from [`Inspection::may_inspect`]); if
/// not, and inspection is on, it is counted with why when `count` (a connection that will be
/// spliced; one about to be refused is not counted).
pub(crate) fn choose(
    proxy: &Proxy,
    hello: &crate::hello::ClientHello,
    endpoint: &Endpoint,
    client: &Client,
    ip: IpAddr,
    count: bool,
    allowed: Result<(), Uninspected>,
) -> bool {
    let Some(inspection) = proxy.settings.inspection.as_ref() else {
        return false;
    };
    let named = hello
        .server_name
        .as_deref()
        .and_then(|name| Host::parse(name).ok());
    // A ClientHello offering Encrypted Client Hello is inspected like any other: Chromium
    // offers it to every site (as "GREASE", with the real name outside), and a real one names
    // only the provider's public name, which Ward answers for without accepting ECH, so the
    // browser tries again without it (as the ECH specification provides for filtering proxies).
    let why = if named.as_ref() != Some(&endpoint.host) {
        // No name, or (in a CONNECT tunnel) another name than the one asked for: decided by
        // name, never signed for.
        Uninspected::NoServerName
    } else {
        match allowed {
            Ok(()) => return true,
            Err(why) => why,
        }
    };
    if count {
        inspection.count_uninspected(&endpoint.host, client, ip, why);
    }
    false
}

/// Serves an inspected connection: `first` (the ClientHello, already read and decided on) and
/// the rest of `stream`. `endpoint`: the site the ClientHello names, which Ward decided on for
/// `client`. Every request inside is decided again on its full URL. Returns whether the TLS
/// session was made (if not, nothing inside it was decided: a blocked site's attempt is for the
/// caller to record).
pub(crate) async fn serve<S>(
    proxy: Arc<Proxy>,
    stream: S,
    first: Vec<u8>,
    endpoint: Endpoint,
    client: Client,
    (peer, local): (SocketAddr, SocketAddr),
    slot: Arc<Slot>,
) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(inspection) = proxy.settings.inspection.clone() else {
        return false;
    };
    let timeout = proxy.settings.header_timeout;
    let acceptor = tokio_rustls::LazyConfigAcceptor::new(
        rustls::server::Acceptor::default(),
        Prefixed::new(first, stream),
    );
    let start = match tokio::time::timeout(timeout, acceptor).await {
        Ok(Ok(start)) => start,
        Ok(Err(error)) => {
            Stats::add(&proxy.stats.bad_requests);
            tracing::debug!(%peer, %error, "unreadable ClientHello for inspection");
            return false;
        }
        Err(_) => return false,
    };
    // The ClientHello as rustls reads it must name the site Ward decided on.
    let named = start
        .client_hello()
        .server_name()
        .and_then(|name| Host::parse(name).ok());
    if named.as_ref() != Some(&endpoint.host) {
        Stats::add(&proxy.stats.bad_requests);
        tracing::debug!(%peer, host = %endpoint.host, "the ClientHello read for inspection names another site");
        return false;
    }
    let handshake = start.into_stream(inspection.server.clone());
    let tls = match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            Stats::add(&proxy.stats.handshake_failures);
            tracing::debug!(%peer, host = %endpoint.host, %error, "inspected handshake failed");
            inspection.count_uninspected(
                &endpoint.host,
                &client,
                peer.ip(),
                Uninspected::HandshakeFailed,
            );
            return false;
        }
        Err(_) => return false,
    };
    inspection.inspected.fetch_add(1, Ordering::Relaxed);
    Stats::add(&proxy.stats.inspected);
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    crate::http::serve_inspected(proxy, tls, endpoint, h2, client, (peer, local), slot).await;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_do_not_inspect_list_reads_and_matches_names_below() {
        let never = NeverInspect::parse(NEVER_INSPECT).expect("the shipped list reads");
        assert!(never.len() > 20);
        for host in [
            "swcdn.apple.com",
            "login.microsoftonline.com",
            "accounts.google.com",
            "connectivitycheck.gstatic.com",
        ] {
            assert!(never.contains(&Host::parse(host).expect("host")), "{host}");
        }
        for host in [
            "www.bbc.co.uk",
            "google.com",
            "apple.com.evil.example",
            "192.0.2.1",
        ] {
            assert!(!never.contains(&Host::parse(host).expect("host")), "{host}");
        }
        let health = NeverInspect::parse(NEVER_INSPECT_HEALTH).expect("the health list reads");
        for host in ["www.childline.org.uk", "www.nhs.uk", "kooth.com"] {
            assert!(health.contains(&Host::parse(host).expect("host")), "{host}");
        }
        let errors =
            NeverInspect::parse("ok.example\nnot a host\n\n# note\n").expect_err("bad line");
        assert_eq!(errors, ["line 2: \"not a host\" is not a host name"]);
    }
}
