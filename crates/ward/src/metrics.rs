//! The operations endpoint (issue 28): Prometheus metrics, `/healthz` and `/readyz`, on a
//! listener of its own (`metrics.listen`, off by default; keep it on loopback or the management
//! network). It starts before anything else, so that a monitor sees "not ready" while the
//! index and the policy load, and "ready" once Ward is filtering.
//!
//! Everything here is counts: no names, addresses or sites, so a scrape can be sent anywhere the
//! school's monitoring is. The counters are the front ends' own (atomics, read at scrape time);
//! the alert counts are read from the database, with a short time-out, and left out while it is
//! unavailable.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use ward_gateway::latency::LatencySnapshot;
use ward_store::WriterHealth;
use ward_store::{SchoolId, Store};

use crate::gateway::GatewayHooks;

/// How long a scrape waits for the database's alert counts.
const DATABASE_WAIT: Duration = Duration::from_secs(2);

/// What the endpoint reports on, filled in as Ward starts.
pub struct Health {
    ready: AtomicBool,
    started_at: Timestamp,
    gateway: OnceLock<Arc<GatewayHooks>>,
    writer: OnceLock<Arc<WriterHealth>>,
    store: OnceLock<(Store, SchoolId)>,
    /// Why Ward is not ready, while it is not.
    waiting_for: Mutex<&'static str>,
}

/// When and how the filtering state was last loaded (the first load and every reload of the
/// index or the policy).
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// The policy version in force (`None`: from the file or the snapshot, not the database).
    pub policy_version: Option<i64>,
    /// When it was loaded.
    pub at: Timestamp,
    /// How long reading the index and compiling the policy took.
    pub took: Duration,
    /// When the index file was built (its modification time).
    pub index_built: Option<Timestamp>,
    /// Distinct domains and URL hosts in the index.
    pub index_keys: u64,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            ready: AtomicBool::new(false),
            started_at: Timestamp::now(),
            gateway: OnceLock::new(),
            writer: OnceLock::new(),
            store: OnceLock::new(),
            waiting_for: Mutex::new("starting"),
        }
    }
}

impl Health {
    /// Says what start-up is waiting for (shown by `/readyz` until Ward is ready).
    pub fn waiting_for(&self, what: &'static str) {
        *self.waiting_for.lock().unwrap_or_else(|e| e.into_inner()) = what;
    }

    /// The database and the event writer, once they are open.
    pub fn set_store(&self, store: Store, school: SchoolId, writer: Arc<WriterHealth>) {
        let _ = self.store.set((store, school));
        let _ = self.writer.set(writer);
    }

    /// The DNS filter and the proxy, once they are filtering.
    pub fn set_gateway(&self, gateway: Arc<GatewayHooks>) {
        let _ = self.gateway.set(gateway);
    }

    /// Ward is filtering (or, with no filter configured, serving the console); `false` as it
    /// stops.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
        if !ready {
            self.waiting_for("stopping");
        }
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// The endpoint's routes.
pub fn router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health)
}

/// Starts the endpoint on `address` (already checked by the configuration); returns where it
/// listens.
pub async fn start(
    address: SocketAddr,
    health: Arc<Health>,
    stopping: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<SocketAddr> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (metrics.listen)"))?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() {
        tracing::warn!(%bound, "the metrics endpoint listens beyond this machine: allow only the monitoring server to reach it");
    }
    let limits = crate::web::Limits {
        slots: ward_gateway::slots::Slots::new(16, 8),
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(10),
        drain_timeout: Duration::from_secs(2),
    };
    tokio::spawn(crate::web::serve(
        listener,
        router(health),
        limits,
        stopping,
    ));
    Ok(bound)
}

async fn healthz() -> &'static str {
    "alive\n"
}

async fn readyz(State(health): State<Arc<Health>>) -> Response {
    if health.is_ready() {
        let version = health
            .gateway
            .get()
            .and_then(|g| g.last_load())
            .and_then(|load| load.policy_version);
        let text = match version {
            Some(version) => format!("ready: filtering with policy version {version}\n"),
            None => "ready\n".to_owned(),
        };
        (StatusCode::OK, text).into_response()
    } else {
        let why = *health.waiting_for.lock().unwrap_or_else(|e| e.into_inner());
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response()
    }
}

async fn metrics(State(health): State<Arc<Health>>) -> Response {
    let alerts = match health.store.get() {
        Some((store, school)) => {
            match tokio::time::timeout(DATABASE_WAIT, store.alert_counts(*school)).await {
                Ok(Ok(counts)) => Some(counts),
                _ => None,
            }
        }
        None => None,
    };
    let text = render(&health, alerts.as_deref());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The exposition text.
fn render(health: &Health, alerts: Option<&[(ward_store::AlertStatus, i64)]>) -> String {
    let mut out = Exposition::default();
    out.gauge(
        "ward_build_info",
        "Ward's version (the value is always 1).",
        &[(&[("version", env!("CARGO_PKG_VERSION"))], 1.0)],
    );
    out.gauge(
        "ward_start_time_seconds",
        "When this Ward process started (Unix time).",
        &[(&[], health.started_at.as_second() as f64)],
    );
    out.gauge(
        "ward_ready",
        "1 when Ward is filtering with a loaded policy (as /readyz says).",
        &[(&[], f64::from(u8::from(health.is_ready())))],
    );

    if let Some(gateway) = health.gateway.get() {
        if let Some(load) = gateway.last_load() {
            out.gauge(
                "ward_policy_version",
                "The policy version in force (0: from the policy file or the snapshot).",
                &[(&[], load.policy_version.unwrap_or(0) as f64)],
            );
            out.gauge(
                "ward_policy_loaded_time_seconds",
                "When the index and policy in force were loaded (Unix time).",
                &[(&[], load.at.as_second() as f64)],
            );
            out.gauge(
                "ward_policy_load_seconds",
                "How long loading the index and compiling the policy took.",
                &[(&[], load.took.as_secs_f64())],
            );
            if let Some(built) = load.index_built {
                out.gauge(
                    "ward_index_built_time_seconds",
                    "When the category index in force was built (Unix time).",
                    &[(&[], built.as_second() as f64)],
                );
            }
            out.gauge(
                "ward_index_keys",
                "Domains and URL hosts in the category index in force.",
                &[(&[], load.index_keys as f64)],
            );
        }
        out.counter(
            "ward_policy_reload_failures_total",
            "Reloads of the index or the policy that failed (the previous one stayed).",
            &[(&[], gateway.failed_reloads() as f64)],
        );
        if let Some(dns) = gateway.dns() {
            dns_metrics(&mut out, dns.stats());
        }
        if let Some(proxy) = gateway.proxy() {
            proxy_metrics(&mut out, proxy);
        }
    }

    if let Some(writer) = health.writer.get() {
        let accepted = writer.accepted();
        let written = writer.written();
        let dropped = writer.dropped();
        out.counter(
            "ward_events_accepted_total",
            "Requests handed to the event writer (an event counts as many requests as it stands for).",
            &[(&[], accepted as f64)],
        );
        out.counter(
            "ward_events_written_total",
            "Requests written to the database.",
            &[(&[], written as f64)],
        );
        out.counter(
            "ward_events_dropped_total",
            "Requests dropped because the queue or the journal was full.",
            &[(&[], dropped as f64)],
        );
        out.gauge(
            "ward_events_waiting",
            "Requests handed over and not yet in the database (queue and journal).",
            &[(&[], accepted.saturating_sub(written + dropped) as f64)],
        );
        out.gauge(
            "ward_journal_backlog_bytes",
            "Journal bytes the database has not taken yet.",
            &[(&[], writer.backlog_bytes() as f64)],
        );
        out.gauge(
            "ward_database_up",
            "1 when the event writer's last database write succeeded.",
            &[(&[], f64::from(u8::from(writer.database_up())))],
        );
        if let Some(at) = writer.last_write() {
            out.gauge(
                "ward_database_last_write_time_seconds",
                "When events were last written to the database (Unix time).",
                &[(&[], at.as_second() as f64)],
            );
        }
    }

    if let Some(alerts) = alerts {
        let samples: Vec<(Vec<(&str, &str)>, f64)> = alerts
            .iter()
            .map(|(status, count)| (vec![("status", status.as_str())], *count as f64))
            .collect();
        let samples: Vec<(&[(&str, &str)], f64)> = samples
            .iter()
            .map(|(labels, value)| (labels.as_slice(), *value))
            .collect();
        out.gauge(
            "ward_alerts",
            "Alerts in the school's queue by status (their sum grows by one per alert raised).",
            &samples,
        );
    }
    out.text
}

fn dns_metrics(out: &mut Exposition, stats: &ward_dns::Stats) {
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let queries = load(&stats.queries);
    let blocked = load(&stats.blocked);
    let rewritten = load(&stats.rewritten);
    let refused = load(&stats.refused_clients);
    let failed = load(&stats.upstream_failures);
    let allowed = queries.saturating_sub(blocked + rewritten + refused + failed);
    out.counter(
        "ward_dns_queries_total",
        "DNS queries answered, by verdict: allowed, blocked, rewritten (safe search), refused (not a school client), failed (no resolver answered: SERVFAIL).",
        &[
            (&[("verdict", "allowed")], allowed as f64),
            (&[("verdict", "blocked")], blocked as f64),
            (&[("verdict", "rewritten")], rewritten as f64),
            (&[("verdict", "refused")], refused as f64),
            (&[("verdict", "failed")], failed as f64),
        ],
    );
    out.counter(
        "ward_dns_cache_hits_total",
        "DNS queries answered from the cache.",
        &[(&[], load(&stats.cache_hits) as f64)],
    );
    out.counter(
        "ward_dns_rate_limited_total",
        "UDP queries over a client's rate (answered truncated or dropped).",
        &[(&[], load(&stats.rate_limited) as f64)],
    );
    out.counter(
        "ward_dns_malformed_total",
        "Packets that were not queries or could not be read.",
        &[(&[], load(&stats.malformed) as f64)],
    );
    out.counter(
        "ward_dns_http3_removed_total",
        "Upstream answers whose HTTP/3 (QUIC) offer was removed.",
        &[(&[], load(&stats.http3_removed) as f64)],
    );
    out.histogram(
        "ward_dns_latency_seconds",
        "From a DNS query's arrival to its answer being sent.",
        &stats.latency.snapshot(),
    );
}

fn proxy_metrics(out: &mut Exposition, proxy: &ward_proxy::Proxy) {
    let stats = proxy.stats();
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let requests = load(&stats.requests);
    let blocked = load(&stats.blocked);
    let malformed = load(&stats.bad_requests);
    let failed = load(&stats.upstream_errors);
    out.counter(
        "ward_proxy_requests_total",
        "Proxy requests (CONNECT included), by verdict: allowed, blocked, malformed (400), failed (the server's end: 502/504). Transparent HTTPS connections blocked by name count as blocked.",
        &[
            (
                &[("verdict", "allowed")],
                requests.saturating_sub(blocked + malformed + failed) as f64,
            ),
            (&[("verdict", "blocked")], blocked as f64),
            (&[("verdict", "malformed")], malformed as f64),
            (&[("verdict", "failed")], failed as f64),
        ],
    );
    out.counter(
        "ward_proxy_connections_total",
        "Client connections accepted.",
        &[(&[], load(&stats.connections) as f64)],
    );
    out.counter(
        "ward_proxy_connections_refused_total",
        "Client connections refused at the limit.",
        &[(&[], load(&stats.refused) as f64)],
    );
    out.counter(
        "ward_proxy_tunnels_total",
        "Tunnels opened (CONNECT and transparent HTTPS).",
        &[(&[], load(&stats.tunnels) as f64)],
    );
    out.counter(
        "ward_proxy_failed_logins_total",
        "Failed proxy log-ins.",
        &[(&[], load(&stats.failed_logins) as f64)],
    );
    out.counter(
        "ward_proxy_inspected_total",
        "HTTPS connections inspected.",
        &[(&[], load(&stats.inspected) as f64)],
    );
    if let Some(inspection) = proxy.settings().inspection.as_ref() {
        let mut by_reason: Vec<(&'static str, u64)> = Vec::new();
        for (key, count) in inspection.uninspected() {
            let reason = reason_label(key.why);
            match by_reason.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, total)) => *total += count,
                None => by_reason.push((reason, count)),
            }
        }
        by_reason.sort_unstable();
        let labels: Vec<[(&str, &str); 1]> =
            by_reason.iter().map(|(r, _)| [("reason", *r)]).collect();
        let samples: Vec<(&[(&str, &str)], f64)> = labels
            .iter()
            .zip(&by_reason)
            .map(|(labels, (_, count))| (labels.as_slice(), *count as f64))
            .collect();
        out.counter(
            "ward_proxy_uninspected_total",
            "HTTPS connections not inspected while inspection is on, by reason.",
            &samples,
        );
    }
    out.histogram(
        "ward_proxy_latency_seconds",
        "From a proxy request's head arriving to its response's head (for CONNECT, the tunnel open or refused).",
        &stats.latency.snapshot(),
    );
}

fn reason_label(why: ward_proxy::inspect::Uninspected) -> &'static str {
    use ward_proxy::inspect::Uninspected;
    match why {
        Uninspected::DoNotInspect => "do_not_inspect",
        Uninspected::Category => "category",
        Uninspected::Group => "group",
        Uninspected::HandshakeFailed => "handshake_failed",
        Uninspected::NoServerName => "no_server_name",
    }
}

/// Prometheus's text format, written as it goes.
#[derive(Default)]
struct Exposition {
    text: String,
}

type Sample<'a> = (&'a [(&'a str, &'a str)], f64);

impl Exposition {
    fn family(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn samples(&mut self, name: &str, samples: &[Sample<'_>]) {
        for (labels, value) in samples {
            self.text.push_str(name);
            write_labels(&mut self.text, labels);
            let _ = writeln!(self.text, " {value}");
        }
    }

    fn counter(&mut self, name: &str, help: &str, samples: &[Sample<'_>]) {
        self.family(name, help, "counter");
        self.samples(name, samples);
    }

    fn gauge(&mut self, name: &str, help: &str, samples: &[Sample<'_>]) {
        self.family(name, help, "gauge");
        self.samples(name, samples);
    }

    fn histogram(&mut self, name: &str, help: &str, snapshot: &LatencySnapshot) {
        self.family(name, help, "histogram");
        for (bound, count) in &snapshot.buckets {
            let le = format!("{}", *bound as f64 / 1e6);
            let _ = writeln!(self.text, "{name}_bucket{{le=\"{le}\"}} {count}");
        }
        let _ = writeln!(self.text, "{name}_bucket{{le=\"+Inf\"}} {}", snapshot.count);
        let _ = writeln!(self.text, "{name}_sum {}", snapshot.sum_micros as f64 / 1e6);
        let _ = writeln!(self.text, "{name}_count {}", snapshot.count);
    }
}

fn write_labels(out: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_start_up_ends_only_the_process_figures_are_given_and_ready_is_zero() {
        let health = Health::default();
        let text = render(&health, None);
        assert!(text.contains("\nward_ready 0\n"), "{text}");
        assert!(text.contains("# TYPE ward_start_time_seconds gauge"));
        assert!(!text.contains("ward_dns_queries_total"));
        health.set_ready(true);
        assert!(render(&health, None).contains("\nward_ready 1\n"));
    }

    #[test]
    fn histograms_and_labels_are_in_prometheus_text_format() {
        let latency = ward_gateway::latency::Latency::default();
        latency.observe(Duration::from_micros(700));
        latency.observe(Duration::from_secs(20));
        let mut out = Exposition::default();
        out.histogram("x_seconds", "X.", &latency.snapshot());
        out.counter("y_total", "Y.", &[(&[("why", "a\"b\\c\nd")], 3.0)]);
        let text = out.text;
        assert!(
            text.contains("x_seconds_bucket{le=\"0.0005\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_bucket{le=\"0.001\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("x_seconds_bucket{le=\"10\"} 1\n"), "{text}");
        assert!(text.contains("x_seconds_bucket{le=\"+Inf\"} 2\n"), "{text}");
        assert!(text.contains("x_seconds_sum 20.0007\n"), "{text}");
        assert!(text.contains("x_seconds_count 2\n"), "{text}");
        assert!(
            text.contains("y_total{why=\"a\\\"b\\\\c\\nd\"} 3\n"),
            "{text}"
        );
    }
}
