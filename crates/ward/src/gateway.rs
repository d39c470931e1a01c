//! The filtering gateway inside `ward serve`: loads the category index, the policy, the approved
//! unblock requests (as the policy's grants) and the device register into the state the DNS
//! filter and the proxy share, starts their sockets, and reloads the state on SIGHUP (index,
//! policy, grants and devices), at once when the console decides an unblock request, and every
//! half minute (grants and devices, so that changes made elsewhere, such as by another gateway's
//! console, take effect without a signal). A policy or index that fails to load leaves the old
//! state in force, is logged, and raises an alert for the school; grants that cannot go into the
//! policy (an illegal-content list covers them) are left out, with an alert.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jiff::SignedDuration;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use ward_console::Refused;
use ward_dns::{DnsFilter, FilterSettings, Listeners, Upstreams};
use ward_gateway::{FilterState, LiveState};
use ward_lists::CategoryIndex;
use ward_policy::{DEFAULT_POLICY, GrantSpec, PolicySnapshot, PolicySpec};
use ward_proxy::{Proxy, ProxySettings};
use ward_store::{Device, EventSink, NewAlert, SchoolId, Store, UnblockGrant};

use crate::config::Config;
use crate::snapshot::{ApprovedGrant, Snapshot};

/// How often the device register and the grants are read again.
const DEVICE_REFRESH: Duration = Duration::from_secs(30);

/// The running DNS filter and proxy.
pub struct Gateway {
    dns: Option<Arc<DnsFilter>>,
    proxy: Option<Arc<Proxy>>,
    tasks: JoinSet<()>,
    hooks: Arc<GatewayHooks>,
}

/// What the console asks of the gateway in the same process: whether a grant may go into the
/// policy, and to put the store's grants in force now.
pub struct GatewayHooks {
    live: Arc<LiveState>,
    /// The policy as loaded from its file, before the store's grants.
    base: std::sync::Mutex<Arc<PolicySpec>>,
    /// Wakes the reloader, which reads the grants and the device register again.
    records_changed: Notify,
    /// The proxy's risk detection, when it runs.
    detection: Option<Arc<ward_proxy::Detection>>,
    /// The proxy, when it runs (HTTPS inspection's state for the dashboard).
    proxy: Option<Arc<Proxy>>,
    /// The DNS filter, when it runs (the HTTP/3 offers it removed, for the dashboard).
    dns: Option<Arc<DnsFilter>>,
    /// Where the DNS filter listens (the self-test asks it).
    dns_addresses: Vec<SocketAddr>,
    /// Where the explicit proxy listens, if it does (the self-test asks it).
    proxy_address: Option<SocketAddr>,
    /// Wakes the reloader to read the index and policy again (an updated index).
    index_changed: Notify,
    /// Where lists are rebuilt from, when updates are configured, and the index file.
    list_source: Option<crate::list_update::ListSource>,
    index_path: std::path::PathBuf,
    /// Held while the lists are being rebuilt (one rebuild at a time).
    updating: std::sync::Mutex<()>,
    store: Store,
    school: SchoolId,
    /// The block page's address the DNS filter answers with, if set.
    block_page_ipv4: Option<std::net::Ipv4Addr>,
    /// The last successful load of the index and policy, for the metrics endpoint.
    last_load: std::sync::Mutex<Option<crate::metrics::Load>>,
    /// Reloads of the index or policy that failed since start.
    failed_reloads: std::sync::atomic::AtomicU64,
}

impl GatewayHooks {
    /// The last successful load of the index and the policy.
    pub fn last_load(&self) -> Option<crate::metrics::Load> {
        *self.last_load.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reloads of the index or the policy that failed since start.
    pub fn failed_reloads(&self) -> u64 {
        self.failed_reloads
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The DNS filter, when it runs.
    pub fn dns(&self) -> Option<&Arc<DnsFilter>> {
        self.dns.as_ref()
    }

    /// The proxy, when it runs.
    pub fn proxy(&self) -> Option<&Arc<Proxy>> {
        self.proxy.as_ref()
    }

    /// When the index file was built (its modification time).
    fn index_built(&self) -> Option<jiff::Timestamp> {
        std::fs::metadata(&self.index_path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|at| jiff::Timestamp::try_from(at).ok())
    }

    fn loaded(&self, policy: &LoadedPolicy, took: Duration) {
        let load = crate::metrics::Load {
            policy_version: policy.version,
            at: jiff::Timestamp::now(),
            took,
            index_built: self.index_built(),
            index_keys: policy.index.stats().keys,
        };
        *self.last_load.lock().unwrap_or_else(|e| e.into_inner()) = Some(load);
    }
}

impl ward_console::FilterHooks for GatewayHooks {
    fn https_status(&self) -> Option<ward_console::HttpsStatus> {
        let settings = self.proxy.as_ref()?.settings();
        let authorities = settings.certificates.as_ref();
        let inspection = settings.inspection.as_ref();
        if authorities.is_none() && inspection.is_none() {
            // No certificate made, inspection off: the dashboard says inspection is off.
            return Some(ward_console::HttpsStatus {
                inspecting: false,
                certificate: None,
                next: None,
                inspected: 0,
                uninspected: Vec::new(),
                http3_removed: 0,
            });
        }
        let named = |c: &ward_proxy::ca::CaCertificate| (c.name(), c.not_after());
        Some(ward_console::HttpsStatus {
            inspecting: inspection.is_some(),
            certificate: authorities.map(|a| named(a.current.certificate())),
            next: authorities.and_then(|a| a.next.as_ref().map(named)),
            inspected: inspection.map_or(0, |i| i.inspected()),
            uninspected: inspection
                .map(|i| {
                    i.uninspected()
                        .into_iter()
                        .map(|(key, count)| {
                            (key.host, key.device, key.why.describe().to_owned(), count)
                        })
                        .collect()
                })
                .unwrap_or_default(),
            http3_removed: self.dns.as_ref().map_or(0, |dns| {
                dns.stats()
                    .http3_removed
                    .load(std::sync::atomic::Ordering::Relaxed)
            }),
        })
    }

    fn check_grant(&self, id: ward_store::RequestId, grant: &UnblockGrant) -> Result<(), Refused> {
        let policy = self.live.load().policy.clone();
        let mut spec = PolicySpec::clone(&self.base.lock().unwrap_or_else(|e| e.into_inner()));
        // The reason and approver are the request's; only the site, holder and period matter
        // to whether it compiles.
        spec.grants
            .push(grant_spec(id, grant, "(being decided)", "(being decided)"));
        PolicySnapshot::compile(spec, policy.index().clone())
            .map(|_| ())
            .map_err(|error| Refused(error.to_string()))
    }

    fn records_changed(&self) {
        self.records_changed.notify_one();
    }

    fn explain(
        &self,
        site: &str,
        group: &str,
        user: Option<&str>,
        at: jiff::Timestamp,
    ) -> Result<ward_console::Explained, Refused> {
        let policy = self.live.load().policy.clone();
        let request =
            ward_policy::Request::parse(site.trim()).map_err(|error| Refused(error.to_string()))?;
        if policy.group(group).is_none() {
            return Err(Refused(format!("the policy has no group {group:?}")));
        }
        let identity = ward_policy::Identity {
            group: group
                .parse()
                .map_err(|_| Refused(format!("{group:?} is not a group")))?,
            user: user.map(str::to_owned),
        };
        let decision = ward_policy::decide(&policy, &request, &identity, at);
        let mut categories: Vec<String> = Vec::new();
        for found in &decision.categories {
            if !categories.iter().any(|c| c == found.category) {
                categories.push(found.category.to_owned());
            }
        }
        Ok(ward_console::Explained {
            url: request.to_string(),
            group: decision.group.to_string(),
            blocked: decision.action == ward_policy::Action::Block,
            reason: decision.reason.to_string(),
            step: decision.reason.step(),
            rule: decision.reason.rule().map(str::to_owned),
            categories,
        })
    }

    fn lists_status(&self) -> Option<ward_console::ListsStatus> {
        let policy = self.live.load().policy.clone();
        let index = policy.index();
        Some(ward_console::ListsStatus {
            built: self.index_built(),
            source: self
                .list_source
                .as_ref()
                .map(crate::list_update::ListSource::describe),
            categories: index
                .categories()
                .iter()
                .map(|c| (c.name.clone(), c.domains, c.urls, c.expressions, c.illegal))
                .collect(),
        })
    }

    fn update_lists(&self) -> Result<String, Refused> {
        let Some(source) = &self.list_source else {
            return Err(Refused(
                "no list source is configured (filter.update_ut1 or filter.update_url): rebuild with `ward lists import`".into(),
            ));
        };
        let Ok(_one) = self.updating.try_lock() else {
            return Err(Refused("the lists are being updated already".into()));
        };
        let policy = self.live.load().policy.clone();
        let base = PolicySpec::clone(&self.base.lock().unwrap_or_else(|e| e.into_inner()));
        match crate::list_update::rebuild(source, &self.index_path, policy.index(), &base) {
            Ok(updated) => {
                self.index_changed.notify_one();
                Ok(format!(
                    "the lists were rebuilt from {}: {} categories, {} entries, {} bad lines skipped; in force now",
                    updated.from, updated.categories, updated.keys, updated.bad_lines
                ))
            }
            Err(error) => Err(Refused(format!(
                "the lists were not updated, and the ones in force stay: {error:#}"
            ))),
        }
    }

    fn self_test(&self) -> Result<ward_console::SelfTest, Refused> {
        Ok(crate::self_test::self_test(
            &self.live.load().policy,
            &self.dns_addresses,
            self.proxy_address,
            self.block_page_ipv4,
        ))
    }

    fn check_policy(&self, text: &str) -> Result<Vec<String>, Refused> {
        let spec = PolicySpec::from_toml(text).map_err(|error| Refused(error.to_string()))?;
        let index = self.live.load().policy.index().clone();
        let (_, warnings) =
            PolicySnapshot::compile(spec, index).map_err(|error| Refused(error.to_string()))?;
        Ok(warnings.iter().map(ToString::to_string).collect())
    }

    fn classify(&self, site: &str, group: &str) -> Result<ward_console::Classified, Refused> {
        let policy = self.live.load().policy.clone();
        let request =
            ward_policy::Request::parse(site.trim()).map_err(|error| Refused(error.to_string()))?;
        let group_id: ward_policy::GroupId = group
            .parse()
            .map_err(|_| Refused(format!("{group:?} is not a group")))?;
        if policy.group(group).is_none() {
            return Err(Refused(format!("the policy has no group {group:?}")));
        }
        let identity = ward_policy::Identity {
            group: group_id,
            user: None,
        };
        let decision = ward_policy::decide(&policy, &request, &identity, jiff::Timestamp::now());
        Ok(ward_console::Classified {
            host: request.host().to_string(),
            url: match &request {
                ward_policy::Request::Url(url) => url.to_string(),
                ward_policy::Request::Host(host) => host.to_string(),
            },
            blocked: decision.action == ward_policy::Action::Block,
            categories: decision.category_list(),
            reason: decision.reason.to_string(),
        })
    }

    fn exclusions_changed(&self, in_force: &[ward_store::Exclusion]) {
        if let Some(detection) = &self.detection {
            detection.set_exclusions(crate::detect::proxy_exclusions(in_force));
        }
    }

    fn listed_phrase(&self, phrase: &str) -> Result<String, Refused> {
        let Some(detection) = &self.detection else {
            // Nothing to check against; saved as typed, normalised when put in force.
            return Ok(phrase.trim().to_owned());
        };
        detection.scanner().lists().listed(phrase).ok_or_else(|| {
            Refused(format!(
                "no detection list has the phrase {:?} (`ward detect lists` prints them)",
                phrase.trim()
            ))
        })
    }
}

impl Gateway {
    /// Loads the shared state and starts the DNS filter and the proxy on their configured
    /// addresses (the proxy's log-ins checking `directory`'s passwords, when there is one).
    /// `None` when both are off.
    pub async fn start(
        config: &Config,
        store: &Store,
        school: SchoolId,
        events: EventSink,
        console: SocketAddr,
        database: bool,
        directory: Option<&ward_directory::Directory>,
    ) -> anyhow::Result<Option<Gateway>> {
        let dns_addresses = config.parsed.dns_listen.clone();
        let proxy_addresses = config.parsed.proxy_listeners.clone();
        if dns_addresses.is_empty() && proxy_addresses.is_empty() {
            return Ok(None);
        }
        let loading = std::time::Instant::now();
        let loaded_policy = load_policy(config, database.then_some(store), school).await?;
        let load_took = loading.elapsed();
        let (base, index) = (loaded_policy.spec.clone(), loaded_policy.index.clone());
        let snapshot_path = Snapshot::path(&config.data_dir);
        let from_store = if database {
            read_from_store(store, school).await
        } else {
            Err(anyhow::anyhow!("Ward started without it"))
        };
        let (grants, devices) = match from_store {
            Ok((grants, devices)) => {
                save_snapshot(&snapshot_path, school, &devices, &grants);
                (grants, devices)
            }
            Err(error) => {
                // The database is unavailable: filter with what it last said.
                let snapshot = Snapshot::load(&snapshot_path).with_context(|| {
                    format!("the database is unavailable ({error:#}) and there is no snapshot to filter from")
                })?;
                anyhow::ensure!(
                    snapshot.school() == school,
                    "the snapshot {} is for another school",
                    snapshot_path.display()
                );
                tracing::warn!(
                    %error,
                    saved_at = %snapshot.saved_at,
                    "the database is unavailable: filtering with the device register and grants saved then"
                );
                (snapshot.grants.clone(), snapshot.devices())
            }
        };
        let policy = with_grants(&base, &index, &grants, store, school).await?;
        let live = Arc::new(LiveState::new(state(Arc::new(policy), &devices)));
        let mut tasks = JoinSet::new();

        // Ward's own listening addresses, which the proxy never connects to (its own are added
        // when it binds).
        let mut own = vec![console];
        let mut dns_bound: Vec<SocketAddr> = Vec::new();
        let dns = if dns_addresses.is_empty() {
            None
        } else {
            let (dns, bound) =
                start_dns(config, school, &live, &events, &dns_addresses, &mut tasks).await?;
            dns_bound.clone_from(&bound);
            own.extend(bound);
            Some(dns)
        };
        let (proxy, proxy_address) = if proxy_addresses.is_empty() {
            (None, None)
        } else {
            let (proxy, explicit) = start_proxy(
                config,
                store,
                school,
                &live,
                &events,
                ProxyListening {
                    addresses: &proxy_addresses,
                    directory,
                    others: own,
                },
                &mut tasks,
            )
            .await?;
            (Some(proxy), explicit)
        };
        if let Some(address) =
            crate::radius::start(config, store, school, &live, &mut tasks).await?
        {
            // Scripts and tests read this line to find the listener.
            crate::output::announce!("Ward RADIUS accounting listening on {address} (UDP)");
        }
        let detection = proxy.as_ref().and_then(|p| p.settings().detection.clone());
        let hooks = Arc::new(GatewayHooks {
            live: live.clone(),
            base: std::sync::Mutex::new(base.clone()),
            records_changed: Notify::new(),
            detection: detection.clone(),
            proxy: proxy.clone(),
            dns: dns.clone(),
            dns_addresses: dns_bound.clone(),
            proxy_address,
            index_changed: Notify::new(),
            list_source: crate::list_update::ListSource::from_config(config)?,
            index_path: config.index_path(),
            updating: std::sync::Mutex::new(()),
            store: store.clone(),
            school,
            block_page_ipv4: config.parsed.block_page_ipv4,
            last_load: std::sync::Mutex::new(None),
            failed_reloads: std::sync::atomic::AtomicU64::new(0),
        });
        hooks.loaded(&loaded_policy, load_took);
        tasks.spawn(listen_for_changes(store.clone(), school, hooks.clone()));
        tasks.spawn(crate::memory::give_back_every_period());
        if let Some(source) = &hooks.list_source {
            let period = Duration::from_secs(source.hours * 3600);
            tasks.spawn(update_lists_every(hooks.clone(), period));
        }
        tasks.spawn(reloader(
            config.clone(),
            store.clone(),
            school,
            hooks.clone(),
            detection,
            Loaded {
                base,
                index,
                version: loaded_policy.version,
                refused_version: None,
                grants,
                devices,
            },
        ));
        Ok(Some(Gateway {
            dns,
            proxy,
            tasks,
            hooks,
        }))
    }

    /// The proxy's risk detection, when it runs.
    pub fn detection(&self) -> Option<&Arc<ward_proxy::Detection>> {
        self.hooks.detection.as_ref()
    }

    /// The hooks the console calls when it decides unblock requests.
    pub fn hooks(&self) -> Arc<GatewayHooks> {
        self.hooks.clone()
    }

    /// Stops answering and hands the last counts to the event writer.
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
        if let Some(dns) = &self.dns {
            dns.flush_counts();
        }
        if let Some(proxy) = &self.proxy {
            proxy.flush_counts();
        }
    }
}

async fn start_dns(
    config: &Config,
    school: SchoolId,
    live: &Arc<LiveState>,
    events: &EventSink,
    addresses: &[SocketAddr],
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<(Arc<DnsFilter>, Vec<SocketAddr>)> {
    let upstreams = without_self(config.parsed.dns_upstreams.clone(), addresses);
    if upstreams.is_empty() {
        anyhow::bail!(
            "no upstream resolvers (other than Ward itself): set dns.upstream to the resolvers allowed queries go to"
        );
    }
    let (block_page_ipv4, block_page_ipv6) =
        (config.parsed.block_page_ipv4, config.parsed.block_page_ipv6);
    let filter = Arc::new(DnsFilter::new(
        live.clone(),
        FilterSettings {
            school,
            block_page_ipv4,
            block_page_ipv6,
            cache_entries: config.dns.cache_entries,
            allow_clients: config.parsed.dns_allow_clients.clone(),
            client_qps: config.dns.client_qps,
            remove_http3: config.proxy.inspect_https,
        },
        Upstreams::new(
            upstreams.clone(),
            Duration::from_millis(config.dns.upstream_timeout_ms),
            config.dns.upstream_attempts,
        ),
        Some(events.clone()),
    ));
    let listeners = Listeners::bind(addresses)
        .await
        .with_context(|| format!("cannot listen for DNS on {}", config.dns.listen))?;
    let bound = listeners.local_addresses();
    for address in &bound {
        // Scripts and tests read this line to find the DNS filter.
        crate::output::announce!("Ward DNS filter listening on {address} (UDP and TCP)");
    }
    tracing::info!(upstreams = ?upstreams, "DNS filter started");
    let dns_tasks = ward_dns::serve(filter.clone(), listeners, config.dns.workers);
    tasks.spawn(async move {
        let mut dns_tasks = dns_tasks;
        while dns_tasks.join_next().await.is_some() {}
    });
    Ok((filter, bound))
}

/// The school's CA (offered to devices whenever it exists) and HTTPS inspection (when on).
#[allow(clippy::type_complexity)]
fn inspection(
    config: &Config,
) -> anyhow::Result<(
    Option<Arc<ward_proxy::ca::Authorities>>,
    Option<Arc<ward_proxy::inspect::Inspection>>,
)> {
    let folder = ward_proxy::ca::CaFolder::in_data_dir(&config.data_dir);
    if !config.proxy.inspect_https {
        // Offered to devices ahead of inspection when it exists. A CA that does not load (a
        // key others can read, say) must not stop filtering when nothing uses it: it is said,
        // and not offered.
        if !folder.exists() {
            return Ok((None, None));
        }
        return Ok(match folder.load() {
            Ok(authorities) => (Some(Arc::new(authorities)), None),
            Err(error) => {
                tracing::warn!(%error, "the school's certificate authority does not load; it is not offered to devices");
                (None, None)
            }
        });
    }
    let authorities = Arc::new(
        folder
            .load()
            .context("HTTPS inspection's certificate authority")?,
    );
    let never = match config.proxy.never_inspect.trim() {
        "" => ward_proxy::inspect::NeverInspect::default(),
        path => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("proxy.never_inspect {path}"))?;
            ward_proxy::inspect::NeverInspect::parse(&text).map_err(|errors| {
                anyhow::anyhow!("proxy.never_inspect {path}: {}", errors.join("; "))
            })?
        }
    };
    let upstream_ca = config.proxy.upstream_ca.trim();
    let inspection = ward_proxy::inspect::Inspection::new(
        authorities.current.clone(),
        (!upstream_ca.is_empty()).then(|| std::path::Path::new(upstream_ca)),
        never,
    )?;
    let ca = authorities.current.certificate();
    tracing::info!(ca = %ca.name(), fingerprint = %ca.fingerprint(), "HTTPS inspection on");
    Ok((Some(authorities), Some(Arc::new(inspection))))
}

/// Where the proxy listens, Ward's other listening addresses (which it never connects to), and
/// the school's directory for its log-ins (made once by `serve`, shared with the sync).
struct ProxyListening<'a> {
    addresses: &'a [(ward_proxy::ListenerKind, SocketAddr)],
    directory: Option<&'a ward_directory::Directory>,
    others: Vec<SocketAddr>,
}

/// Starts the proxy; with its explicit listener's address, if it has one (the self-test asks it).
async fn start_proxy(
    config: &Config,
    store: &Store,
    school: SchoolId,
    live: &Arc<LiveState>,
    events: &EventSink,
    listening: ProxyListening<'_>,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<(Arc<Proxy>, Option<SocketAddr>)> {
    let addresses = listening.addresses;
    let proxy_config = &config.proxy;
    let mut settings = ProxySettings::new(school);
    settings.public_address = proxy_config.public_address.trim().to_owned();
    settings.max_connections = proxy_config.max_connections;
    settings.max_connections_per_client = proxy_config.max_connections_per_client;
    settings.max_header_bytes = proxy_config.max_header_kb.saturating_mul(1024);
    settings.header_timeout = Duration::from_secs(proxy_config.header_timeout_seconds);
    settings.idle_timeout = Duration::from_secs(proxy_config.idle_timeout_seconds);
    settings.connect_timeout = Duration::from_secs(proxy_config.connect_timeout_seconds);
    settings.connect_ports = config.parsed.proxy_connect_ports.clone();
    settings.hosts = config.parsed.proxy_hosts.clone();
    settings.internal_servers = config.parsed.proxy_internal_servers.clone();
    settings.detection = crate::detect::build(&config.detection)?;
    settings.actions = Some(crate::block_page::StoreActions::new(
        store.clone(),
        school,
        SignedDuration::from_mins(i64::try_from(config.alerts.fold_minutes).unwrap_or(60)),
        settings.detection.as_ref(),
    ));
    settings.own_addresses = listening.others;
    settings.portal_session = Duration::from_secs(proxy_config.portal_minutes.saturating_mul(60));
    (settings.certificates, settings.inspection) = inspection(config)?;
    if let Some(detection) = &settings.detection {
        // Not waited on for long: the database may be unavailable, and the proxy must start.
        let read = tokio::time::timeout(
            Duration::from_secs(3),
            crate::detect::exclusions(store, school),
        )
        .await
        .unwrap_or(Err(ward_store::StoreError::Timeout(Duration::from_secs(3))));
        match read {
            Ok(exclusions) => detection.set_exclusions(exclusions),
            Err(error) => {
                tracing::warn!(%error, "cannot read the detection exclusions; none in force until the next refresh")
            }
        }
    }
    if proxy_config.authentication {
        let mut logins = crate::proxy_auth::AccountLogins::new(store.clone(), school, config);
        if let Some(directory) = listening.directory {
            logins = logins.with_directory(crate::directory::DirectoryLogins::new(
                store.clone(),
                school,
                directory.clone(),
                config,
            ));
        }
        settings.authenticator = Some(Arc::new(logins));
        settings.sign_on = config.sso.settings().map(|provider| {
            Arc::new(crate::sign_on::PortalSignOn::new(
                provider,
                store.clone(),
                school,
            )) as Arc<dyn ward_proxy::SignOn>
        });
        settings.offer_basic = proxy_config.basic_login;
        settings.kerberos = kerberos(&proxy_config.kerberos_keytab)?;
    } else if live.load().policy.spec().proxy.unknown_clients
        == ward_policy::UnknownClients::Authenticate
    {
        tracing::warn!(
            "the policy asks unknown clients to log in to the proxy, but proxy.authentication is off: they get the unknown-client group"
        );
    }
    let proxy = Arc::new(Proxy::new(live.clone(), settings, Some(events.clone())));
    let listeners = ward_proxy::Listeners::bind(addresses)
        .await
        .with_context(|| format!("cannot listen for the proxy on {}", config.proxy.listen))?;
    let mut explicit = None;
    for (kind, address) in listeners.local_addresses() {
        if kind == ward_proxy::ListenerKind::Explicit && explicit.is_none() {
            explicit = Some(address);
        }
        // Scripts and tests read these lines to find the proxy.
        let what = match kind {
            ward_proxy::ListenerKind::Explicit => "proxy",
            ward_proxy::ListenerKind::TransparentHttp => "transparent HTTP proxy",
            ward_proxy::ListenerKind::TransparentHttps => "transparent HTTPS proxy",
        };
        crate::output::announce!("Ward {what} listening on {address}");
    }
    let proxy_tasks = ward_proxy::serve(proxy.clone(), listeners);
    tasks.spawn(async move {
        let mut proxy_tasks = proxy_tasks;
        while proxy_tasks.join_next().await.is_some() {}
    });
    Ok((proxy, explicit))
}

/// The upstreams, less any that is Ward's own listening address (as when /etc/resolv.conf on
/// Ward's machine points at Ward): forwarding to itself would loop.
fn without_self(upstreams: Vec<SocketAddr>, listen: &[SocketAddr]) -> Vec<SocketAddr> {
    upstreams
        .into_iter()
        .filter(|upstream| {
            let looping = listen.iter().any(|own| {
                own.port() == upstream.port()
                    && (own.ip() == upstream.ip()
                        || (own.ip().is_unspecified()
                            && (upstream.ip().is_loopback() || upstream.ip().is_unspecified())))
            });
            if looping {
                tracing::warn!(%upstream, "not forwarding to Ward's own address");
            }
            !looping
        })
        .collect()
}

/// The policy in force and what it was compiled against.
struct LoadedPolicy {
    spec: Arc<PolicySpec>,
    index: Arc<CategoryIndex>,
    /// Its version in the database (`None`: read from the file or the built-in default,
    /// because the database could not be asked).
    version: Option<i64>,
}

/// Compiles `text` against `index` off the async threads (a large index takes a few hundred
/// milliseconds to verify); the warnings are logged.
async fn compile_text(
    text: String,
    index: Arc<CategoryIndex>,
    label: String,
) -> anyhow::Result<PolicySpec> {
    tokio::task::spawn_blocking(move || {
        let spec =
            PolicySpec::from_toml(&text).with_context(|| format!("{label} does not load"))?;
        let (_, warnings) = PolicySnapshot::compile(spec.clone(), index)
            .with_context(|| format!("{label} does not load"))?;
        for warning in warnings {
            tracing::warn!(%warning, "policy");
        }
        Ok(spec)
    })
    .await?
}

/// Reads the category index and the policy in force: the newest version in the database,
/// after bringing in the policy file as a new version when its text changed (at first start,
/// the file, or else Ward's default policy, is version 1). Without the database (`store`
/// `None`, or it fails), the version last read (saved in the data folder), else the file.
/// Whatever is used is checked to compile against the index first.
async fn load_policy(
    config: &Config,
    store: Option<&Store>,
    school: SchoolId,
) -> anyhow::Result<LoadedPolicy> {
    let index_path = config.index_path();
    let index = tokio::task::spawn_blocking(move || {
        CategoryIndex::read_file(&index_path).with_context(|| {
            format!(
                "cannot load the category index {} (build one with `ward lists import`)",
                index_path.display()
            )
        })
    })
    .await??;
    let index = Arc::new(index);
    let policy_path = config.filter.policy.clone();
    let file = if policy_path.is_empty() {
        None
    } else {
        Some(
            std::fs::read_to_string(&policy_path)
                .with_context(|| format!("cannot read the policy {policy_path}"))?,
        )
    };
    let saved_path = crate::snapshot::SavedPolicy::path(&config.data_dir);
    if let Some(store) = store {
        match in_force(store, school, file.as_deref(), &policy_path, &index).await {
            Ok((number, text)) => {
                let spec = compile_text(
                    text.clone(),
                    index.clone(),
                    format!("policy version {number}"),
                )
                .await?;
                let saved = crate::snapshot::SavedPolicy {
                    school: school.0,
                    number,
                    text,
                };
                if let Err(error) = saved.save(&saved_path) {
                    tracing::warn!(error = %format!("{error:#}"), "cannot save the policy in force");
                }
                return Ok(LoadedPolicy {
                    spec: Arc::new(spec),
                    index,
                    version: Some(number),
                });
            }
            Err(InForceError::Policy(error)) => return Err(error),
            Err(InForceError::Database(error)) => {
                tracing::warn!(%error, "cannot read the policy's versions; using the one last read");
            }
        }
    }
    if let Ok(saved) = crate::snapshot::SavedPolicy::load(&saved_path)
        && saved.school == school.0
    {
        let spec = compile_text(
            saved.text,
            index.clone(),
            format!("policy version {} (saved)", saved.number),
        )
        .await?;
        return Ok(LoadedPolicy {
            spec: Arc::new(spec),
            index,
            version: Some(saved.number),
        });
    }
    let (text, label) = match file {
        Some(text) => (text, policy_path),
        None => (
            DEFAULT_POLICY.to_owned(),
            "the built-in default policy".to_owned(),
        ),
    };
    let spec = compile_text(text, index.clone(), label).await?;
    Ok(LoadedPolicy {
        spec: Arc::new(spec),
        index,
        version: None,
    })
}

/// Why the policy in force could not be read from the database.
enum InForceError {
    /// The database failed: fall back to what was read last.
    Database(ward_store::StoreError),
    /// The policy file does not compile: nothing is saved, the old state stays.
    Policy(anyhow::Error),
}

/// The version in force, after bringing in a changed policy file (or, at first start with no
/// file, Ward's default policy) as a new version.
async fn in_force(
    store: &Store,
    school: SchoolId,
    file: Option<&str>,
    path: &str,
    index: &Arc<CategoryIndex>,
) -> Result<(i64, String), InForceError> {
    let latest = store
        .latest_policy_version(school)
        .await
        .map_err(InForceError::Database)?;
    let new = match file {
        Some(text) => {
            let last_file = store
                .latest_file_policy(school)
                .await
                .map_err(InForceError::Database)?;
            (last_file.as_ref().map(|v| v.text.as_str()) != Some(text)).then(|| {
                let reason = if last_file.is_none() {
                    format!("imported from the policy file {path}")
                } else {
                    format!("the policy file {path} changed")
                };
                (text.to_owned(), ward_store::PolicySource::File, reason)
            })
        }
        None => latest.is_none().then(|| {
            (
                DEFAULT_POLICY.to_owned(),
                ward_store::PolicySource::Builtin,
                "Ward's default policy, at first start".to_owned(),
            )
        }),
    };
    if let Some((text, source, reason)) = new {
        compile_text(
            text.clone(),
            index.clone(),
            format!("the policy file {path}"),
        )
        .await
        .map_err(InForceError::Policy)?;
        let number = store
            .add_policy_version(
                school,
                &text,
                source,
                &reason,
                "ward",
                jiff::Timestamp::now(),
            )
            .await
            .map_err(InForceError::Database)?;
        tracing::info!(number, %reason, "policy version saved");
        if let Ok(spec) = PolicySpec::from_toml(&text)
            && let Err(error) = store
                .sync_groups(school, &ward_console::filtering::store_groups(&spec))
                .await
        {
            tracing::warn!(%error, "cannot bring the school's groups in line with the policy");
        }
        return Ok((number, text));
    }
    match latest {
        Some(version) => Ok((version.number, version.text)),
        None => Err(InForceError::Policy(anyhow::anyhow!(
            "the school has no policy version"
        ))),
    }
}

/// An approved unblock request as a policy grant.
fn grant_spec(
    id: ward_store::RequestId,
    grant: &UnblockGrant,
    reason: &str,
    approved_by: &str,
) -> GrantSpec {
    GrantSpec {
        id: format!("unblock-request-{id}"),
        site: Some(grant.site.clone()),
        category: None,
        group: grant.group.clone(),
        user: grant.user.clone(),
        start: grant.start.to_string(),
        end: grant.end.to_string(),
        reason: reason.to_owned(),
        requested_by: None,
        approved_by: approved_by.to_owned(),
    }
}

/// The policy with the approved requests' grants. Grants that cannot go in (an illegal-content
/// list covers them, their group has gone) are left out, one by one, with an alert: the rest of
/// the policy still takes effect, and nothing is opened that should not be.
async fn with_grants(
    base: &PolicySpec,
    index: &Arc<CategoryIndex>,
    grants: &[ApprovedGrant],
    store: &Store,
    school: SchoolId,
) -> anyhow::Result<PolicySnapshot> {
    let candidates: Vec<(&ApprovedGrant, GrantSpec)> = grants
        .iter()
        .map(|approved| {
            let spec = grant_spec(
                approved.request,
                &approved.grant(),
                &approved.reason,
                &approved.approved_by,
            );
            (approved, spec)
        })
        .collect();
    // The usual case: every grant goes in, one compile.
    let mut spec = base.clone();
    spec.grants
        .extend(candidates.iter().map(|(_, grant)| grant.clone()));
    if let Ok((snapshot, _)) = PolicySnapshot::compile(spec, index.clone()) {
        return Ok(snapshot);
    }
    // Some grant cannot go in: find which, one at a time, and leave those out.
    let mut spec = base.clone();
    for (approved, candidate) in candidates {
        let mut trial = spec.clone();
        trial.grants.push(candidate.clone());
        match PolicySnapshot::compile(trial, index.clone()) {
            Ok(_) => spec.grants.push(candidate),
            Err(error) => {
                let summary = format!(
                    "unblock request {} ({}) cannot be put into the policy and stays closed: {error}",
                    approved.request, approved.site
                );
                system_alert(store, school, summary).await;
            }
        }
    }
    let (snapshot, _) = PolicySnapshot::compile(spec, index.clone())?;
    Ok(snapshot)
}

/// Logs `summary` as an error and raises it as a severity-4 system alert for the school.
async fn system_alert(store: &Store, school: SchoolId, summary: String) {
    tracing::error!("{summary}");
    let alert = NewAlert::system(4, summary);
    if let Err(error) = store.raise_alert(school, &alert).await {
        tracing::error!(%error, "cannot raise a system alert");
    }
}

/// What the state in force was built from.
struct Loaded {
    base: Arc<PolicySpec>,
    index: Arc<CategoryIndex>,
    /// The policy version in force (`None`: not from the database).
    version: Option<i64>,
    /// A newer version that failed to load (not tried again until it changes or a SIGHUP).
    refused_version: Option<i64>,
    grants: Vec<ApprovedGrant>,
    devices: Vec<Device>,
}

/// The approved grants and the device register, from the database.
async fn read_from_store(
    store: &Store,
    school: SchoolId,
) -> anyhow::Result<(Vec<ApprovedGrant>, Vec<Device>)> {
    let requests = store.unblock_grants(school, jiff::Timestamp::now()).await?;
    let devices = store.devices(school).await?;
    Ok((ApprovedGrant::of(&requests), devices))
}

/// Keeps what the database said, for a start while it is unavailable.
fn save_snapshot(
    path: &std::path::Path,
    school: SchoolId,
    devices: &[Device],
    grants: &[ApprovedGrant],
) {
    if let Err(error) = Snapshot::new(school, devices, grants).save(path) {
        tracing::warn!(error = %format!("{error:#}"), "cannot save the gateway snapshot");
    }
}

fn state(policy: Arc<PolicySnapshot>, devices: &[Device]) -> FilterState {
    let (state, warnings) = FilterState::new(policy, devices);
    for warning in warnings {
        tracing::warn!(%warning, "device register");
    }
    state
}

/// Rebuilds the lists every `period`; a failed update raises an alert (the lists in force stay).
async fn update_lists_every(hooks: Arc<GatewayHooks>, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let worker = hooks.clone();
        let outcome =
            tokio::task::spawn_blocking(move || ward_console::FilterHooks::update_lists(&*worker))
                .await;
        let (message, failed) = match outcome {
            Ok(Ok(message)) => (message, false),
            Ok(Err(Refused(why))) => (why, true),
            Err(error) => (format!("the list update stopped: {error}"), true),
        };
        let entry = ward_store::NewAuditEntry {
            actor: "ward".into(),
            action: "filtering.lists-update".into(),
            subject: "lists".into(),
            detail: message.clone(),
            reason: None,
        };
        if let Err(error) = hooks.store.append_audit(hooks.school, &entry).await {
            tracing::error!(%error, "cannot audit a list update");
        }
        if failed {
            tracing::warn!(%message, "scheduled list update");
            system_alert(&hooks.store, hooks.school, message).await;
        } else {
            tracing::info!(%message, "scheduled list update");
        }
    }
}

/// Wakes the reloader when another process announces a change to the school's filtering
/// records (PostgreSQL `LISTEN`; nothing to do on SQLite, where the console is in this process).
async fn listen_for_changes(store: Store, school: SchoolId, hooks: Arc<GatewayHooks>) {
    loop {
        match store.filter_changes().await {
            Ok(None) => return,
            Ok(Some(mut changes)) => loop {
                match changes.next().await {
                    Ok(changed) if changed == school => hooks.records_changed.notify_one(),
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "lost the database's change announcements; listening again");
                        break;
                    }
                }
            },
            Err(error) => {
                tracing::warn!(%error, "cannot listen for the database's change announcements; reading every half minute");
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

async fn reloader(
    config: Config,
    store: Store,
    school: SchoolId,
    hooks: Arc<GatewayHooks>,
    detection: Option<Arc<ward_proxy::Detection>>,
    mut loaded: Loaded,
) {
    let live = hooks.live.clone();
    let snapshot_path = Snapshot::path(&config.data_dir);
    let mut refresh = tokio::time::interval(DEVICE_REFRESH);
    refresh.tick().await;
    #[cfg(unix)]
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(error) => {
            tracing::error!(%error, "cannot watch for SIGHUP; reload by restarting");
            None
        }
    };
    loop {
        #[cfg(unix)]
        let full = tokio::select! {
            _ = refresh.tick() => false,
            () = hooks.records_changed.notified() => false,
            () = hooks.index_changed.notified() => true,
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => None } } => true,
        };
        #[cfg(not(unix))]
        let full = tokio::select! {
            _ = refresh.tick() => false,
            () = hooks.records_changed.notified() => false,
            () = hooks.index_changed.notified() => true,
        };
        let mut changed = full;
        if let Some(detection) = &detection {
            match crate::detect::exclusions(&store, school).await {
                Ok(exclusions) => detection.set_exclusions(exclusions),
                Err(error) => {
                    tracing::warn!(%error, "cannot read the detection exclusions; keeping the last ones read");
                }
            }
        }
        // The database being down must not stop a SIGHUP reload: the last register and grants
        // read stay. A periodic refresh has nothing else to do then.
        let mut device_error = false;
        match store.devices(school).await {
            Ok(now) if now != loaded.devices => {
                loaded.devices = now;
                changed = true;
            }
            Ok(_) => {}
            Err(error) => {
                device_error = true;
                tracing::warn!(%error, "cannot read the device register; keeping the last one read");
            }
        }
        // A new policy version (saved by this console, another gateway's, or an import) is
        // loaded like a SIGHUP's, without the index.
        let mut new_policy = None;
        match store.latest_policy_number(school).await {
            Ok(Some(number))
                if Some(number) != loaded.version && Some(number) != loaded.refused_version =>
            {
                new_policy = Some(number);
                changed = true;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "cannot read the policy's version; keeping the one in force");
            }
        }
        let mut read = !device_error;
        match store.unblock_grants(school, jiff::Timestamp::now()).await {
            Ok(now) if ApprovedGrant::of(&now) != loaded.grants => {
                loaded.grants = ApprovedGrant::of(&now);
                changed = true;
            }
            Ok(_) => {}
            Err(error) => {
                read = false;
                tracing::warn!(%error, "cannot read the unblock grants; keeping the last ones read");
            }
        }
        if !changed {
            continue;
        }
        if read {
            save_snapshot(&snapshot_path, school, &loaded.devices, &loaded.grants);
        }
        if full || new_policy.is_some() {
            if full {
                tracing::info!("SIGHUP: reloading the category index and the policy");
            }
            let loading = std::time::Instant::now();
            match load_policy(&config, Some(&store), school).await {
                Ok(policy) => {
                    hooks.loaded(&policy, loading.elapsed());
                    *hooks.base.lock().unwrap_or_else(|e| e.into_inner()) = policy.spec.clone();
                    if let Some(number) = policy.version {
                        tracing::info!(version = number, "policy version in force");
                    }
                    loaded.base = policy.spec;
                    loaded.index = policy.index;
                    loaded.version = policy.version;
                }
                Err(error) => {
                    hooks
                        .failed_reloads
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // Told once per version (a SIGHUP tries again).
                    loaded.refused_version = new_policy;
                    let summary = format!(
                        "the policy or category index failed to reload; the previous one stays in force: {error:#}"
                    );
                    system_alert(&store, school, summary).await;
                    continue;
                }
            }
        }
        let policy = match with_grants(&loaded.base, &loaded.index, &loaded.grants, &store, school)
            .await
        {
            Ok(policy) => Arc::new(policy),
            Err(error) => {
                tracing::error!(%error, "the policy with its grants does not compile; the previous state stays");
                continue;
            }
        };
        live.replace(state(policy, &loaded.devices));
        tracing::info!(
            devices = loaded.devices.len(),
            grants = loaded.grants.len(),
            full,
            "filter state reloaded"
        );
    }
}

/// The proxy's Kerberos acceptor from its keytab (`None`: no keytab set). A keytab other
/// users can read is refused: it holds the service's keys.
fn kerberos(path: &str) -> anyhow::Result<Option<Arc<ward_kerberos::Acceptor>>> {
    let path = path.trim();
    if path.is_empty() {
        return Ok(None);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("proxy.kerberos_keytab {path}"))?
            .permissions()
            .mode();
        anyhow::ensure!(
            mode & 0o077 == 0,
            "proxy.kerberos_keytab {path} can be read by other users (mode {:o}): `chmod 600` it",
            mode & 0o777
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("proxy.kerberos_keytab {path}"))?;
    let keys = ward_kerberos::read_keytab(&bytes)
        .with_context(|| format!("proxy.kerberos_keytab {path}"))?;
    let acceptor = ward_kerberos::Acceptor::new(keys);
    tracing::info!(services = ?acceptor.services(), "Kerberos sign-on at the proxy");
    Ok(Some(Arc::new(acceptor)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().expect("address")).collect()
    }

    fn approved(id: i64, site: &str) -> ApprovedGrant {
        ApprovedGrant::of(&[approved_request(id, site)]).remove(0)
    }

    fn approved_request(id: i64, site: &str) -> ward_store::UnblockRequest {
        let start = jiff::Timestamp::now();
        ward_store::UnblockRequest {
            id: ward_store::RequestId(id),
            created_at: start,
            status: "approved".into(),
            request: ward_store::NewUnblockRequest {
                origin: "block-page".into(),
                client_ip: "10.0.0.1".parse().expect("ip"),
                device: None,
                person: None,
                username: None,
                group: "pupils".into(),
                url: format!("http://{site}/"),
                host: site.into(),
                categories: "gambling".into(),
                blocked_because: "rule gambling".into(),
                reason: "a lesson".into(),
                wanted: None,
            },
            decision: Some(ward_store::UnblockDecision {
                by: "dsl".into(),
                at: start,
                note: String::new(),
                grant: Some(UnblockGrant {
                    site: site.into(),
                    group: Some("pupils".into()),
                    user: None,
                    start,
                    end: start + jiff::SignedDuration::from_hours(1),
                }),
            }),
        }
    }

    #[tokio::test]
    async fn a_grant_that_cannot_go_in_is_left_out_with_an_alert_and_the_rest_stay() {
        let index = ward_testkit::category_index(&[
            (
                "gambling",
                ward_lists::ListFormat::Domains,
                "casino.test\nbets.test\n",
                false,
            ),
            (
                "iwf",
                ward_lists::ListFormat::Illegal,
                "bets.test/bad/\n",
                true,
            ),
        ]);
        let base = PolicySpec::from_toml(
            r#"
name = "Grant school"
timezone = "Europe/London"
unknown_group = "pupils"

[[group]]
id = "pupils"
title = "Pupils"
kind = "pupil"

[[rule]]
id = "abuse"
action = "Child sexual abuse images"
categories = ["iwf"]
verdict = "unacceptable and illegal"

[[rule]]
id = "gambling"
action = "Gambling"
categories = ["gambling"]
verdict = "unacceptable"
"#,
        )
        .expect("policy");
        let folder = ward_testkit::temp_folder("grants");
        let url = format!("sqlite://{}", folder.join("ward.db").display());
        let store = Store::open_and_migrate(&url, &ward_store::OpenOptions::default())
            .await
            .expect("store");
        let school = store
            .create_school("Grant school", "grants")
            .await
            .expect("school");

        // Both fine: both go in.
        let grants = [approved(1, "casino.test")];
        let policy = with_grants(&base, &index, &grants, &store, school)
            .await
            .expect("compiles");
        assert_eq!(policy.spec().grants.len(), 1);
        // One covers an illegal-list entry (bets.test/bad/): it alone is left out, with an alert.
        let grants = [approved(1, "casino.test"), approved(2, "bets.test")];
        let policy = with_grants(&base, &index, &grants, &store, school)
            .await
            .expect("compiles");
        let ids: Vec<_> = policy.spec().grants.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["unblock-request-1"]);
        let alerts = store
            .alerts(
                school,
                &ward_store::AlertFilter::status(ward_store::AlertStatus::New, 10),
            )
            .await
            .expect("alerts");
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(
            alerts[0].summary.contains("unblock request 2 (bets.test)"),
            "{alerts:?}"
        );
        store.close().await;
        let _ = std::fs::remove_dir_all(&folder);
    }

    #[test]
    fn ward_never_forwards_to_itself() {
        let kept = without_self(
            addresses(&[
                "127.0.0.1:53",
                "127.0.0.53:53",
                "10.0.0.1:53",
                "127.0.0.1:5353",
            ]),
            &addresses(&["0.0.0.0:53"]),
        );
        assert_eq!(kept, addresses(&["10.0.0.1:53", "127.0.0.1:5353"]));
        let kept = without_self(addresses(&["10.0.0.2:53"]), &addresses(&["10.0.0.2:53"]));
        assert!(kept.is_empty());
    }
}
