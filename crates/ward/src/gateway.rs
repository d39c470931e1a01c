//! The filtering gateway inside `ward serve`: loads the category index, the policy and the
//! device register into the DNS filter's state, starts its sockets, and reloads the state on
//! SIGHUP (index, policy and devices) and every half minute (devices, so that a device added in
//! the console takes effect without a signal). A policy or index that fails to load leaves the
//! old state in force, is logged, and raises an alert for the school.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinSet;
use ward_dns::{DnsFilter, FilterSettings, Listeners, Upstreams};
use ward_gateway::{FilterState, LiveState};
use ward_lists::CategoryIndex;
use ward_policy::{DEFAULT_POLICY, PolicySnapshot};
use ward_store::{Device, EventSink, NewAlert, SchoolId, Store};

use crate::config::Config;

/// How often the device register is read again.
const DEVICE_REFRESH: Duration = Duration::from_secs(30);

/// A running DNS filter.
pub struct Gateway {
    filter: Arc<DnsFilter>,
    tasks: JoinSet<()>,
}

impl Gateway {
    /// Loads the filter's state and starts answering on the configured addresses. `None` when
    /// `dns.listen` is empty.
    pub async fn start(
        config: &Config,
        store: &Store,
        school: SchoolId,
        events: EventSink,
    ) -> anyhow::Result<Option<Gateway>> {
        let addresses = config.dns_listen()?;
        if addresses.is_empty() {
            return Ok(None);
        }
        let policy = load_policy(config).await?;
        let devices = store.devices(school).await?;
        let live = Arc::new(LiveState::new(state(Arc::new(policy), &devices)));
        let upstreams = without_self(config.dns_upstreams()?, &addresses);
        if upstreams.is_empty() {
            anyhow::bail!(
                "no upstream resolvers (other than Ward itself): set dns.upstream to the resolvers allowed queries go to"
            );
        }
        let (block_page_ipv4, block_page_ipv6) = config.block_page_addresses()?;
        let filter = Arc::new(DnsFilter::new(
            live.clone(),
            FilterSettings {
                school,
                block_page_ipv4,
                block_page_ipv6,
                cache_entries: config.dns.cache_entries,
            },
            Upstreams::new(
                upstreams.clone(),
                Duration::from_millis(config.dns.upstream_timeout_ms),
                config.dns.upstream_attempts,
            ),
            Some(events),
        ));
        let listeners = Listeners::bind(&addresses)
            .await
            .with_context(|| format!("cannot listen for DNS on {}", config.dns.listen))?;
        for address in listeners.local_addresses() {
            // Scripts and tests read this line to find the DNS filter.
            println!("Ward DNS filter listening on {address} (UDP and TCP)");
        }
        tracing::info!(upstreams = ?upstreams, "DNS filter started");
        let mut tasks = ward_dns::serve(filter.clone(), listeners, config.dns.workers);
        tasks.spawn(reloader(
            config.clone(),
            store.clone(),
            school,
            live,
            devices,
        ));
        Ok(Some(Gateway { filter, tasks }))
    }

    /// Stops answering and hands the last counts to the event writer.
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
        self.filter.flush_counts();
    }
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

/// Reads the index and compiles the policy against it (off the async threads: a large index
/// takes a few hundred milliseconds to verify).
async fn load_policy(config: &Config) -> anyhow::Result<PolicySnapshot> {
    let index_path = config.index_path();
    let policy_path = config.filter.policy.clone();
    tokio::task::spawn_blocking(move || {
        let index = CategoryIndex::read_file(&index_path).with_context(|| {
            format!(
                "cannot load the category index {} (build one with `ward lists import`)",
                index_path.display()
            )
        })?;
        let (text, label) = if policy_path.is_empty() {
            (
                DEFAULT_POLICY.to_owned(),
                "the built-in default policy".to_owned(),
            )
        } else {
            (
                std::fs::read_to_string(&policy_path)
                    .with_context(|| format!("cannot read the policy {policy_path}"))?,
                policy_path.clone(),
            )
        };
        let (snapshot, warnings) = PolicySnapshot::from_toml(&text, Arc::new(index))
            .with_context(|| format!("{label} does not load"))?;
        for warning in warnings {
            tracing::warn!(%warning, "policy");
        }
        Ok(snapshot)
    })
    .await?
}

fn state(policy: Arc<PolicySnapshot>, devices: &[Device]) -> FilterState {
    let (state, warnings) = FilterState::new(policy, devices);
    for warning in warnings {
        tracing::warn!(%warning, "device register");
    }
    state
}

async fn reloader(
    config: Config,
    store: Store,
    school: SchoolId,
    live: Arc<LiveState>,
    mut devices: Vec<Device>,
) {
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
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => None } } => true,
        };
        #[cfg(not(unix))]
        let full = {
            refresh.tick().await;
            false
        };
        match store.devices(school).await {
            Ok(now) => {
                if !full && now == devices {
                    continue;
                }
                devices = now;
            }
            // The database being down must not stop a SIGHUP reload: the last register read
            // stays. A periodic refresh has nothing else to do then.
            Err(error) => {
                tracing::warn!(%error, "cannot read the device register; keeping the last one read");
                if !full {
                    continue;
                }
            }
        }
        let policy = if full {
            tracing::info!("SIGHUP: reloading the category index and the policy");
            match load_policy(&config).await {
                Ok(policy) => Arc::new(policy),
                Err(error) => {
                    let summary = format!(
                        "the policy or category index failed to reload; the previous one stays in force: {error:#}"
                    );
                    tracing::error!("{summary}");
                    let alert = NewAlert {
                        severity: 4,
                        category: "system".into(),
                        person: None,
                        device: None,
                        summary,
                    };
                    if let Err(error) = store.raise_alert(school, &alert).await {
                        tracing::error!(%error, "cannot raise the alert for the failed reload");
                    }
                    continue;
                }
            }
        } else {
            live.load().policy.clone()
        };
        live.replace(state(policy, &devices));
        tracing::info!(devices = devices.len(), full, "filter state reloaded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().expect("address")).collect()
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
