//! `ward serve`: one process that runs the console, the event writer and the DNS filter (and the
//! proxy when it arrives), and `ward audit verify`.
//!
//! First start on an empty database creates the school, its groups (from the policy) and an
//! administrator account, and prints the administrator's one-time password once (or takes a
//! password from `WARD_ADMIN_PASSWORD`). SIGTERM or SIGINT stops it gracefully: the console stops
//! accepting, requests in flight finish, queued events go to the journal and, if the database
//! answers, to the database.

use crate::output::{announce, say};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use jiff::SignedDuration;
use tokio::net::TcpListener;
use ward_console::{AppState, ConsoleConfig};
use ward_policy::{DEFAULT_POLICY, PolicySpec};
use ward_store::{
    EventWriter, NewAccount, NewAuditEntry, NewGroup, OpenOptions, Role, Roles, SchoolId, Store,
    WriterConfig,
};

use crate::config::Config;
use crate::gateway::Gateway;
use crate::snapshot::Snapshot;
use crate::{EXIT_BLOCKED, EXIT_OK, Failure};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Arguments of `ward serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); see ward.example.toml. Environment variables override it.
    #[arg(long, env = "WARD_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `ward audit …`.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Walk every school's audit chain and report the first broken link.
    Verify(ServeArgs),
}

pub(crate) fn load_config(arguments: &ServeArgs) -> Result<Config, Failure> {
    Config::load(arguments.config.as_deref(), std::env::vars()).map_err(Failure::usage)
}

pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data folder {}",
            config.data_dir.display()
        )
    })?;
    let options = OpenOptions {
        max_connections: config.database.max_connections,
        acquire_timeout: Duration::from_secs(config.database.connect_timeout_seconds),
    };
    let url = config.database_url();
    Store::open_and_migrate(&url, &options)
        .await
        .with_context(|| format!("database {}", ward_store::redact_url(&url)))
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `ward serve`.
pub fn run(arguments: ServeArgs) -> Result<u8, Failure> {
    let config = load_config(&arguments)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to standard error; standard output has only the lines people and scripts read
    // (the first administrator's password, the console's address).
    let logger = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    if config.parsed.log_json {
        // One object per line: time, level, message and fields, for syslog and collectors.
        logger.json().flatten_event(true).init();
    } else {
        logger.init();
    }
    runtime()?.block_on(async {
        let listener = TcpListener::bind(config.parsed.console_listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.console.listen))?;
        let shutdown = shutdown_signal();
        serve(config, listener, shutdown).await
    })?;
    Ok(EXIT_OK)
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed now, before Ward says it has
/// started (an `async fn` would install them only when first polled, and a SIGTERM in between,
/// from a service manager or a test, would kill Ward without its orderly stop).
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let watched = signal(SignalKind::terminate()).and_then(|terminate| {
            signal(SignalKind::interrupt()).map(|interrupt| (terminate, interrupt))
        });
        async move {
            match watched {
                Ok((mut terminate, mut interrupt)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "cannot watch for SIGTERM; stop Ward with SIGINT");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs Ward on `listener` until `shutdown` resolves.
pub async fn serve(
    mut config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    share_descriptors(&mut config);
    // The operations endpoint comes first: a monitor sees "not ready" while Ward starts.
    let health = Arc::new(crate::metrics::Health::default());
    let (stop_metrics, metrics_stopped) = tokio::sync::watch::channel(false);
    if let Some(address) = config.parsed.metrics_listen {
        let mut stopped = metrics_stopped.clone();
        let bound = crate::metrics::start(address, health.clone(), async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        })
        .await?;
        // Scripts and tests read this line to find the endpoint.
        announce!("Ward metrics listening on http://{bound}/");
    }
    health.waiting_for("opening the database");
    let database_ready = Arc::new(AtomicBool::new(true));
    let (store, school) = match open_store(&config).await {
        Ok(store) => {
            let school = first_start(&config, &store).await?;
            (store, school)
        }
        Err(error) => {
            // Without the database, filter with what it last said (a snapshot beside the
            // journal); with no snapshot there is nothing safe to filter with.
            let path = Snapshot::path(&config.data_dir);
            let snapshot = match Snapshot::load(&path) {
                Ok(snapshot) => snapshot,
                Err(missing) => {
                    return Err(error.context(format!(
                        "and Ward cannot filter without it: {missing:#} (it is written once Ward has run with its database)"
                    )));
                }
            };
            tracing::error!(
                error = %format!("{error:#}"),
                "the database is unavailable: filtering with the snapshot saved at {}; events wait in the journal; trying the database every {}s",
                snapshot.saved_at,
                DATABASE_RETRY.as_secs()
            );
            database_ready.store(false, Ordering::Relaxed);
            (lazy_store(&config).await?, snapshot.school())
        }
    };

    let mut writer_config =
        WriterConfig::new(&config.events.gateway, config.data_dir.join("journal"));
    writer_config.queue_capacity = config.events.queue_capacity;
    writer_config.batch_size = config.events.batch_size;
    writer_config.database_timeout = Duration::from_secs(config.events.database_timeout_seconds);
    writer_config.journal_limit = config.events.journal_limit_mb << 20;
    // At most a week (checked with the configuration), so the conversion cannot fail.
    writer_config.alert_window =
        SignedDuration::from_mins(i64::try_from(config.alerts.fold_minutes).unwrap_or(60));
    let (events, writer) = EventWriter::start(store.clone(), writer_config)?;
    health.set_store(store.clone(), school, events.health().clone());
    health.waiting_for("loading the category index and the policy");
    // Made once (its TLS settings read the system's certificates): synchronised here, and
    // asked by the proxy's log-ins.
    let directory = crate::directory::from_config(&config)?;
    if let Some(directory) = &directory
        && config.directory.sync_minutes > 0
    {
        crate::directory::spawn_sync(
            store.clone(),
            school,
            directory.clone(),
            crate::directory::role_rules(&config)?,
            config.directory.sync_minutes,
        );
    }
    let gateway = Gateway::start(
        &config,
        &store,
        school,
        events.clone(),
        listener.local_addr()?,
        database_ready.load(Ordering::Relaxed),
        directory.as_ref(),
    )
    .await?;
    if let Some(gateway) = &gateway {
        health.set_gateway(gateway.hooks());
    }
    health.waiting_for("starting the console");

    let watched = std::sync::Arc::new(crate::detect::watched(
        &config.detection,
        gateway
            .as_ref()
            .and_then(crate::gateway::Gateway::detection),
        config.proxy.inspect_https,
    ));
    let console = ConsoleConfig {
        secure_cookies: config.console.secure_cookies,
        session_lifetime: SignedDuration::from_hours(config.console.session_hours),
        free_login_attempts: config.console.free_login_attempts,
        max_lockout: SignedDuration::from_mins(config.console.max_lockout_minutes),
        // Checked when the configuration was loaded.
        second_factor_roles: config
            .console
            .second_factor_roles
            .parse()
            .unwrap_or_default(),
        sso: config.sso.settings().map(ward_console::sso::Sso::new),
        passwords: std::sync::Arc::new(config.passwords.policy()?),
        directory: directory.clone().map(|directory| {
            std::sync::Arc::new(crate::directory::DirectoryPasswords(directory))
                as std::sync::Arc<dyn ward_console::auth::DirectoryPasswords>
        }),
        time_zone: jiff::tz::TimeZone::get(&config.school.time_zone)?,
        upload_limit: config.console.upload_limit_mb << 20,
        sanctions: std::sync::Arc::new(ward_records::Sanctions::default_tables()),
        watched: watched.clone(),
        year_starts: config.parsed.year_starts,
        mailer: crate::notify::ParentMail::from_config(&config)?.map(|mail| {
            std::sync::Arc::new(mail) as std::sync::Arc<dyn ward_console::parents::Mailer>
        }),
        public_url: config.console_url(),
    };
    let app_state = match &gateway {
        Some(gateway) => AppState::with_filter(
            store.clone(),
            console,
            Some(events.clone()),
            gateway.hooks(),
        ),
        None => AppState::new(store.clone(), console, Some(events.clone())),
    };
    let app_state = app_state.with_database_ready(database_ready.clone());
    let app = ward_console::router(app_state);
    let reconnect = (!database_ready.load(Ordering::Relaxed)).then(|| {
        tokio::spawn(reconnect(
            config.clone(),
            store.clone(),
            database_ready.clone(),
            gateway.as_ref().map(crate::gateway::Gateway::hooks),
        ))
    });
    let address = listener.local_addr()?;
    // Scripts and tests read this line to find the console (the port may have been chosen by
    // the system).
    announce!("Ward console listening on http://{address}/");
    tracing::info!(%address, database = %ward_store::redact_url(&config.database_url()), "Ward started");

    let anchor = match crate::anchor::Anchor::open(
        &crate::anchor::key_path(&config.data_dir, &config.audit.key_file),
        crate::anchor::checkpoint_file(&config.data_dir),
        true,
    ) {
        Ok(anchor) => Some(Arc::new(anchor)),
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "the audit log cannot be checkpointed");
            None
        }
    };
    let checkpoints = anchor.clone().map(|anchor| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(crate::anchor::EVERY);
            loop {
                every.tick().await;
                if let Err(error) = anchor.checkpoint(&store).await {
                    tracing::warn!(error = %format!("{error:#}"), "cannot checkpoint the audit log");
                }
            }
        })
    });
    let sweeper = tokio::spawn({
        let store = store.clone();
        async move {
            let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
            loop {
                every_hour.tick().await;
                if let Err(error) = store.delete_expired_sessions(jiff::Timestamp::now()).await {
                    tracing::warn!(%error, "could not delete expired sessions");
                }
            }
        }
    });
    let school_name = match store.school(school).await {
        Ok(school) => school.name,
        Err(_) => config.school.name.clone(),
    };
    let notifier =
        crate::notify::Notifier::from_config(&config, store.clone(), school, school_name, watched)?
            .map(|notifier| tokio::spawn(notifier.run()));
    let limits = crate::web::Limits {
        slots: ward_gateway::slots::Slots::new(
            config.console.max_connections,
            config.console.max_connections_per_client,
        ),
        header_timeout: Duration::from_secs(config.console.header_timeout_seconds),
        idle_timeout: Duration::from_secs(config.console.idle_timeout_seconds),
        drain_timeout: Duration::from_secs(10),
    };
    let backups = crate::backup::schedule(&config, store.clone());
    // Filtering with a loaded policy (or, with no filter configured, serving the console).
    health.set_ready(true);
    crate::systemd::notify("READY=1");
    let shutdown = {
        let health = health.clone();
        async move {
            shutdown.await;
            health.set_ready(false);
            crate::systemd::notify("STOPPING=1");
        }
    };
    crate::web::serve(listener, app, limits, shutdown).await;
    tracing::info!("stopping: writing queued events");
    if let Some(backups) = backups {
        backups.abort();
    }
    sweeper.abort();
    if let Some(reconnect) = reconnect {
        reconnect.abort();
    }
    if let Some(notifier) = notifier {
        notifier.abort();
    }
    if let Some(gateway) = gateway {
        gateway.stop().await;
    }
    if let Some(checkpoints) = checkpoints {
        checkpoints.abort();
    }
    if let Some(anchor) = &anchor
        && let Err(error) = anchor.checkpoint(&store).await
    {
        tracing::warn!(error = %format!("{error:#}"), "cannot checkpoint the audit log");
    }
    drop(events);
    writer.shutdown().await;
    store.close().await;
    let _ = stop_metrics.send(true);
    tracing::info!("stopped");
    Ok(())
}

/// File descriptors kept back from the listeners: the database's connections, the journal, the
/// log, upstream DNS sockets, the listening sockets themselves.
const DESCRIPTOR_RESERVE: u64 = 256;

/// Gives each listener its share of the process's file descriptors (issue 20, item 6): the
/// soft limit is raised towards what the limits need (the console's connections, two per proxy
/// connection, the DNS filter's TCP connections and upstream sockets, and a reserve), and if the
/// system allows less,
/// the console's and the proxy's limits are cut to fit, with a warning. So no front end can
/// take the descriptors another needs.
fn share_descriptors(config: &mut Config) {
    // The DNS filter's TCP connections, and a socket for each upstream question in flight.
    let dns_tcp = if config.dns.listen.trim().is_empty() {
        0
    } else {
        (ward_dns::server::MAX_TCP_CONNECTIONS + ward_dns::server::MAX_PENDING) as u64
    };
    let proxy = if config.proxy.listen.trim().is_empty()
        && config.proxy.transparent_http.trim().is_empty()
        && config.proxy.transparent_https.trim().is_empty()
    {
        0
    } else {
        2 * config.proxy.max_connections as u64
    };
    let console = config.console.max_connections as u64;
    let wanted = console + proxy + dns_tcp + DESCRIPTOR_RESERVE;
    let have = match rlimit::increase_nofile_limit(wanted) {
        Ok(have) => have,
        Err(error) => {
            tracing::warn!(%error, "cannot read the file descriptor limit");
            return;
        }
    };
    if have >= wanted {
        return;
    }
    // What is left after the reserve and the DNS filter's fixed share, split in proportion.
    let left = have.saturating_sub(DESCRIPTOR_RESERVE + dns_tcp);
    let scale = |limit: usize, per: u64| -> usize {
        let share = (limit as u64 * per).saturating_mul(left) / (console + proxy).max(1);
        usize::try_from((share / per).max(16)).unwrap_or(16)
    };
    let (old_console, old_proxy) = (config.console.max_connections, config.proxy.max_connections);
    config.console.max_connections = scale(old_console, 1);
    config.proxy.max_connections = scale(old_proxy, 2);
    config.console.max_connections_per_client = config
        .console
        .max_connections_per_client
        .min(config.console.max_connections);
    config.proxy.max_connections_per_client = config
        .proxy
        .max_connections_per_client
        .min(config.proxy.max_connections);
    tracing::warn!(
        descriptors = have,
        wanted,
        console = config.console.max_connections,
        proxy = config.proxy.max_connections,
        "the system allows fewer file descriptors than the connection limits need: the console's and the proxy's limits are cut (console.max_connections {old_console}, proxy.max_connections {old_proxy}); raise LimitNOFILE"
    );
}

/// The groups of the configured policy, as the store keeps them.
fn policy_groups(config: &Config) -> anyhow::Result<Vec<NewGroup>> {
    let text = if config.filter.policy.is_empty() {
        DEFAULT_POLICY.to_owned()
    } else {
        std::fs::read_to_string(&config.filter.policy)
            .with_context(|| format!("cannot read the policy {}", config.filter.policy))?
    };
    let spec = PolicySpec::from_toml(&text).context("policy")?;
    Ok(ward_console::filtering::store_groups(&spec))
}

/// On an empty database: the school, its groups and the first administrator. On every start:
/// groups the policy has gained.
async fn first_start(config: &Config, store: &Store) -> anyhow::Result<SchoolId> {
    let groups = policy_groups(config)?;
    let schools = store.schools().await?;
    let school = match schools.first() {
        Some(school) => school.id,
        None => {
            store
                .create_school(&config.school.name, &config.school.slug)
                .await?
        }
    };
    store.ensure_groups(school, &groups).await?;
    if store.count_accounts().await? > 0 {
        return Ok(school);
    }
    let (password, chosen) = match std::env::var("WARD_ADMIN_PASSWORD") {
        Ok(password) if !password.is_empty() => {
            let rules = config.passwords.policy()?.accounts;
            if let Some(problem) = rules.problem(&password, "admin", &[]) {
                anyhow::bail!("WARD_ADMIN_PASSWORD: {problem}");
            }
            (password, true)
        }
        _ => (ward_console::auth::one_time_password(), false),
    };
    let hash = tokio::task::spawn_blocking({
        let password = password.clone();
        move || ward_console::auth::hash_password(&password)
    })
    .await?
    .map_err(|error| anyhow::anyhow!("{error:?}"))?;
    store
        .create_account(
            school,
            &NewAccount {
                username: "admin".into(),
                display_name: "Administrator".into(),
                roles: Roles::new([Role::Headteacher, Role::Dsl, Role::Technician]),
                password_hash: hash,
                must_change_password: !chosen,
            },
        )
        .await?;
    store
        .append_audit(
            school,
            &NewAuditEntry {
                actor: "system".into(),
                action: "setup".into(),
                subject: "account:admin".into(),
                detail: format!(
                    "first start: school {:?}, {} groups, administrator account created",
                    config.school.name,
                    groups.len()
                ),
                reason: None,
            },
        )
        .await?;
    announce!("Ward is set up for {}.", config.school.name);
    announce!("  Console:  http://{}/", config.console.listen);
    announce!("  Username: admin");
    if chosen {
        announce!("  Password: the one in WARD_ADMIN_PASSWORD");
    } else {
        announce!("  One-time password: {password}");
        announce!("  (Shown only now. You choose your own password when you first log in.)");
    }
    Ok(school)
}

/// How often a Ward that started without its database tries it again.
const DATABASE_RETRY: Duration = Duration::from_secs(5);

/// The store, connecting only when a query needs it (the database is unavailable now).
async fn lazy_store(config: &Config) -> anyhow::Result<Store> {
    let options = OpenOptions {
        max_connections: config.database.max_connections,
        acquire_timeout: Duration::from_secs(config.database.connect_timeout_seconds),
    };
    let url = config.database_url();
    Store::open_lazy(&url, &options)
        .await
        .with_context(|| format!("database {}", ward_store::redact_url(&url)))
}

/// Tries the database until it answers and is migrated, then opens the console and has the
/// gateway read the device register and grants from it (the event writer catches up from the
/// journal by itself).
async fn reconnect(
    config: Config,
    store: Store,
    ready: Arc<AtomicBool>,
    hooks: Option<Arc<crate::gateway::GatewayHooks>>,
) {
    loop {
        tokio::time::sleep(DATABASE_RETRY).await;
        let attempt = async {
            store.migrate().await?;
            first_start(&config, &store).await
        };
        match tokio::time::timeout(Duration::from_secs(30), attempt).await {
            Ok(Ok(_)) => {
                tracing::info!("the database is back: the console is open again");
                ready.store(true, Ordering::Relaxed);
                if let Some(hooks) = &hooks {
                    ward_console::FilterHooks::records_changed(hooks.as_ref());
                }
                return;
            }
            Ok(Err(error)) => {
                tracing::warn!(error = %format!("{error:#}"), "the database is still unavailable")
            }
            Err(_) => tracing::warn!("the database is still unavailable (no answer in 30 s)"),
        }
    }
}

/// `ward audit verify`: exit 0 when every chain holds, 1 when one is broken.
pub fn audit(command: AuditCommand) -> Result<u8, Failure> {
    let AuditCommand::Verify(arguments) = command;
    let config = load_config(&arguments)?;
    runtime()?.block_on(async {
        let store = open_store(&config).await?;
        let key = crate::anchor::key_path(&config.data_dir, &config.audit.key_file);
        let checkpoints = crate::anchor::checkpoint_file(&config.data_dir);
        // Without the key there is nothing to check the chain against; with checkpoints on
        // disk that is itself a problem.
        let anchor = match crate::anchor::Anchor::open(&key, checkpoints.clone(), false) {
            Ok(anchor) => Some(anchor),
            Err(error) if checkpoints.exists() => {
                say!("cannot check the checkpoints: {error:#}");
                store.close().await;
                return Ok(EXIT_BLOCKED);
            }
            Err(_) => None,
        };
        let mut broken = false;
        for school in store.schools().await? {
            let result = store.verify_audit(school.id).await?;
            match result.first_broken {
                Some((seq, why)) => {
                    broken = true;
                    say!("{}: BROKEN at entry {seq}: {why}", school.name);
                    continue;
                }
                None => say!(
                    "{}: {} entries, chain intact, head {}",
                    school.name,
                    result.entries,
                    result.head.as_deref().unwrap_or("(empty)")
                ),
            }
            match &anchor {
                None => say!(
                    "{}: no checkpoint key ({}): the chain is not checked against anything outside the database",
                    school.name,
                    key.display()
                ),
                Some(anchor) => match anchor.verify(&store, school.id, result.entries).await {
                    Ok((count, None)) => say!(
                        "{}: {count} checkpoints match",
                        school.name
                    ),
                    Ok((_, Some(why))) => {
                        broken = true;
                        say!("{}: BROKEN: {why}", school.name);
                    }
                    Err(error) => {
                        broken = true;
                        say!("{}: BROKEN: {error:#}", school.name);
                    }
                },
            }
        }
        store.close().await;
        Ok::<_, Failure>(if broken { EXIT_BLOCKED } else { EXIT_OK })
    })
}
