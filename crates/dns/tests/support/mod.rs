//! Test fixtures: a real upstream (unbound from Debian's packages, serving test zones
//! authoritatively), Ward's DNS filter on an ephemeral port in this process, and `dig` as the
//! client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ward_dns::{DnsFilter, FilterSettings, Listeners, Upstreams};
use ward_events::{Device, DeviceId, EventSink, SchoolId};
use ward_gateway::{FilterState, LiveState};
use ward_lists::ListFormat;
use ward_policy::PolicySnapshot;

pub use ward_testkit::dig::{answers, dig, status};
pub use ward_testkit::{free_udp_port, temp_folder};

/// The zones every test's upstream serves.
pub const TEST_ZONE: &str = r#"$ORIGIN test.
$TTL 300
@        IN SOA ns.test. admin.test. 1 3600 600 86400 30
@        IN NS  ns.test.
ns       IN A   127.0.0.1
allowed  IN A   192.0.2.10
allowed  IN AAAA 2001:db8::10
casino   IN A   192.0.2.66
chat     IN A   192.0.2.20
alias    IN CNAME hop.test.
hop      IN CNAME casino.test.
friendly IN CNAME allowed.test.
ech      IN HTTPS 1 . alpn=h3,h2 ech=AEX+DQBBpAAgACCYdhBwwDQrDJ/BMh2Nk7ljMnH0VNaaozvrM8DQtKdpKAAEAAEAAQASY2xvdWRmbGFyZS1lY2guY29tAAA=
"#;

/// Search engines, as far as the safe-search tests need them.
pub const GOOGLE_ZONE: &str = r#"$ORIGIN google.com.
$TTL 300
@               IN SOA ns.google.com. admin.google.com. 1 3600 600 86400 30
@               IN NS  ns.google.com.
ns              IN A   127.0.0.1
www             IN A   142.250.0.1
forcesafesearch IN A   216.239.38.120
"#;

/// A big answer: over 512 bytes, over 1232 bytes.
pub fn big_zone() -> String {
    let mut zone = String::from(
        "$ORIGIN big.\n$TTL 300\n@ IN SOA ns.big. admin.big. 1 3600 600 86400 30\n@ IN NS ns.big.\nns IN A 127.0.0.1\n",
    );
    for i in 0..40 {
        zone.push_str(&format!(
            "txt IN TXT \"record {i:02} {}\"\n",
            "x".repeat(40)
        ));
    }
    zone
}

/// unbound, answering the test zones authoritatively on 127.0.0.1.
pub struct Unbound {
    child: Child,
    pub address: SocketAddr,
    folder: PathBuf,
}

impl Unbound {
    pub fn start(name: &str) -> Unbound {
        let unbound = ["/usr/sbin/unbound", "/usr/bin/unbound"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .expect("unbound is not installed: run scripts/test, which installs it (Debian package unbound)");
        let folder = temp_folder(&format!("unbound-{name}"));
        let zones = [
            ("test.", TEST_ZONE.to_string()),
            ("google.com.", GOOGLE_ZONE.to_string()),
            ("big.", big_zone()),
        ];
        let mut config = String::new();
        for _ in 0..20 {
            let port = free_udp_port();
            config.clear();
            config.push_str(&format!(
                "server:\n  interface: 127.0.0.1\n  port: {port}\n  do-daemonize: no\n  use-syslog: no\n  logfile: \"\"\n  username: \"\"\n  chroot: \"\"\n  directory: \"{dir}\"\n  pidfile: \"\"\n  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n  module-config: \"iterator\"\n  local-zone: \"test.\" nodefault\n",
                dir = folder.display()
            ));
            for (zone, text) in &zones {
                let file = folder.join(format!("{}zone", zone));
                std::fs::write(&file, text).expect("write a zone file");
                config.push_str(&format!(
                    "auth-zone:\n  name: \"{zone}\"\n  zonefile: \"{}\"\n  for-upstream: yes\n  for-downstream: yes\n",
                    file.display()
                ));
            }
            config.push_str("remote-control:\n  control-enable: no\n");
            let config_file = folder.join("unbound.conf");
            std::fs::write(&config_file, &config).expect("write unbound.conf");
            let mut child = Command::new(unbound)
                .args(["-d", "-c"])
                .arg(&config_file)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("unbound starts");
            let address: SocketAddr = ([127, 0, 0, 1], port).into();
            if wait_ready(&mut child, address) {
                return Unbound {
                    child,
                    address,
                    folder,
                };
            }
            // Not an `Unbound` yet: dropping one would delete the folder
            // the next attempt writes its zones into.
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&folder);
        panic!("unbound did not start");
    }
}

/// Whether unbound, started as `child`, answers on `address` within 10 s.
fn wait_ready(child: &mut Child, address: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let answer = dig(address, &["allowed.test", "+short", "+tries=1", "+time=1"]);
        if answer.trim() == "192.0.2.10" {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// The category index of the tests: gambling has casino.test, social has chat.test, and the
/// illegal list has abuse.test.
pub fn index() -> Arc<ward_lists::CategoryIndex> {
    ward_testkit::category_index(&[
        ("gambling", ListFormat::Domains, "casino.test\n", false),
        ("social", ListFormat::Domains, "chat.test\n", false),
        ("doh", ListFormat::Domains, "dns.provider.test\n", false),
        ("iwf", ListFormat::Illegal, "abuse.test\n", true),
    ])
}

/// The tests' policy: pupils (the unknown-client group) may not gamble or chat; staff may chat;
/// staff have no safe search. `blocked` is the [dns] answer.
pub fn policy_toml(blocked: &str) -> String {
    format!(
        r#"
name = "DNS test school"
timezone = "Europe/London"
unknown_group = "pupils"

[dns]
blocked = "{blocked}"
blocked_ttl = 30

[[group]]
id = "pupils"
title = "Pupils"
kind = "pupil"

[[group]]
id = "staff"
title = "Staff"
kind = "staff"
safe_search = false
youtube = "off"

[[rule]]
id = "gambling"
action = "Gambling"
categories = ["gambling"]
verdict = "unacceptable"

[[rule]]
id = "social"
action = "Social networking"
categories = ["social"]
verdict = "unacceptable"
groups = {{ staff = "acceptable" }}

[[rule]]
id = "bypass"
action = "Bypassing the filter"
categories = ["doh"]
verdict = "unacceptable"
"#
    )
}

pub fn policy(blocked: &str) -> PolicySnapshot {
    PolicySnapshot::from_toml(&policy_toml(blocked), index())
        .expect("test policy loads")
        .0
}

/// 127.0.0.2 is a staff laptop; every other address is unknown.
pub fn devices() -> Vec<Device> {
    vec![Device {
        id: DeviceId(7),
        name: "STAFF-LAPTOP-7".into(),
        network: "127.0.0.2".parse().expect("address"),
        group: Some("staff".into()),
        location: "Staff room".into(),
    }]
}

pub fn state(blocked: &str) -> FilterState {
    let (state, warnings) = FilterState::new(Arc::new(policy(blocked)), &devices());
    assert!(warnings.is_empty(), "{warnings:?}");
    state
}

/// Ward's DNS filter running in this process on an ephemeral port.
pub struct Ward {
    pub address: SocketAddr,
    pub filter: Arc<DnsFilter>,
    runtime: tokio::runtime::Runtime,
    tasks: Option<tokio::task::JoinSet<()>>,
}

impl Ward {
    pub fn start(upstreams: Vec<SocketAddr>, blocked: &str, events: Option<EventSink>) -> Ward {
        Ward::start_with(upstreams, state(blocked), events, None)
    }

    pub fn start_with(
        upstreams: Vec<SocketAddr>,
        state: FilterState,
        events: Option<EventSink>,
        runtime: Option<tokio::runtime::Runtime>,
    ) -> Ward {
        Ward::start_limited(
            upstreams,
            state,
            events,
            runtime,
            &["127.0.0.0/8", "::1/128"],
            0,
        )
    }

    /// With the clients answered (`allow_clients`, besides the device register) and the
    /// response-rate limit per client (`client_qps`, 0: off) given.
    pub fn start_limited(
        upstreams: Vec<SocketAddr>,
        state: FilterState,
        events: Option<EventSink>,
        runtime: Option<tokio::runtime::Runtime>,
        allow_clients: &[&str],
        client_qps: u32,
    ) -> Ward {
        let runtime = runtime.unwrap_or_else(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime")
        });
        let filter = Arc::new(DnsFilter::new(
            Arc::new(LiveState::new(state)),
            FilterSettings {
                school: SchoolId(1),
                block_page_ipv4: Some([192, 0, 2, 250].into()),
                block_page_ipv6: Some("2001:db8::250".parse().expect("address")),
                cache_entries: 10_000,
                allow_clients: allow_clients
                    .iter()
                    .map(|network| network.parse().expect("network"))
                    .collect(),
                client_qps,
                remove_http3: true,
            },
            Upstreams::new(upstreams, Duration::from_millis(400), 2),
            events,
        ));
        let (address, tasks) = runtime.block_on(async {
            let listeners = Listeners::bind(&["127.0.0.1:0".parse().expect("address")])
                .await
                .expect("bind");
            let address = listeners.local_addresses()[0];
            (address, ward_dns::serve(filter.clone(), listeners, 2))
        });
        Ward {
            address,
            filter,
            runtime,
            tasks: Some(tasks),
        }
    }

    /// dig from 127.0.0.1 (an unknown client).
    pub fn dig(&self, arguments: &[&str]) -> String {
        dig(self.address, arguments)
    }

    /// dig from the staff laptop's address.
    pub fn dig_as_staff(&self, arguments: &[&str]) -> String {
        let mut all = vec!["-b", "127.0.0.2"];
        all.extend_from_slice(arguments);
        dig(self.address, &all)
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }
}

impl Drop for Ward {
    fn drop(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            self.runtime.block_on(tasks.shutdown());
        }
    }
}
