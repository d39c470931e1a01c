//! Ward's filtering self-test (issue 25 item 8): evidence for the annual review that the
//! filtering in force blocks what the law and the standards require, checked with the policy
//! engine for every group and by asking the running DNS filter and proxy over the network.

use std::net::SocketAddr;
use std::time::Duration;

use ward_policy::PolicySnapshot;

/// Sites the self-test expects pupils' filtering to block, with what they stand for.
const SELF_TEST_PROBES: &[(&str, &str)] = &[
    ("Adult content", "pornhub.com"),
    ("Gambling", "bet365.com"),
    ("Proxies and anonymisers", "hidemyass.com"),
    ("VPNs", "nordvpn.com"),
    ("Encrypted DNS (DNS over HTTPS)", "cloudflare-dns.com"),
];

/// Ward's filtering self-test (issue 25 item 8): with the policy in force, every group blocks
/// each illegal-content list's entries; every pupil group blocks adult content, gambling and
/// the ways round the filter, and has safe search on; and the running DNS filter and proxy,
/// asked over the network as the unknown-client group, answer as blocked for what that group
/// may not reach. A site the lists loaded do not know is "not tested", never passed. Sites whose
/// block raises a safeguarding alert are not asked over the network, so that a self-test never
/// puts an alert in the DSL's queue.
pub fn self_test(
    policy: &PolicySnapshot,
    dns: &[SocketAddr],
    proxy: Option<SocketAddr>,
    block_page: Option<std::net::Ipv4Addr>,
) -> ward_console::SelfTest {
    use ward_console::SelfTestLine;
    let now = jiff::Timestamp::now();
    let mut lines = Vec::new();
    let line = |check: &str, who: &str, outcome: &'static str, detail: String| SelfTestLine {
        check: check.to_owned(),
        who: who.to_owned(),
        outcome,
        detail,
    };
    let decide = |request: &ward_policy::Request, group: &ward_policy::Group| {
        let identity = ward_policy::Identity {
            group: group.id.clone(),
            user: None,
        };
        let decision = ward_policy::decide(policy, request, &identity, now);
        (
            decision.action == ward_policy::Action::Block,
            decision.reason.to_string(),
            decision.categories.is_empty(),
            decision.alert.is_some(),
        )
    };
    // Illegal content: each list's first entry, for every group.
    let index = policy.index();
    let mut lists_seen = Vec::new();
    for entry in index.illegal_entries() {
        if lists_seen.contains(&entry.category) {
            continue;
        }
        lists_seen.push(entry.category);
        let name = &index.category(entry.category).name;
        let text = format!("{}{}", entry.host, entry.path.as_deref().unwrap_or(""));
        let request = match ward_policy::Request::parse(&text) {
            Ok(request) => request,
            Err(error) => {
                lines.push(line(
                    &format!("Illegal content ({name})"),
                    "everyone",
                    "not tested",
                    format!("its entry {text} does not read: {error}"),
                ));
                continue;
            }
        };
        for group in policy.groups() {
            let (blocked, reason, _, _) = decide(&request, group);
            lines.push(line(
                &format!("Illegal content ({name})"),
                group.id.as_str(),
                if blocked { "passed" } else { "failed" },
                format!("{text}: {reason}"),
            ));
        }
    }
    if lists_seen.is_empty() {
        lines.push(line(
            "Illegal content",
            "everyone",
            "failed",
            "no illegal-content list (IWF, CTIRU) is loaded: import them with `ward lists import --illegal`".into(),
        ));
    }
    // Pupils: the sites the standards expect blocked, and safe search.
    for group in policy
        .groups()
        .iter()
        .filter(|g| g.kind == ward_policy::GroupKind::Pupil)
    {
        for (check, host) in SELF_TEST_PROBES {
            let Ok(request) = ward_policy::Request::parse(host) else {
                continue;
            };
            let (blocked, reason, unknown, _) = decide(&request, group);
            let (outcome, detail) = match (blocked, unknown) {
                (true, _) => ("passed", format!("{host}: {reason}")),
                (false, true) => (
                    "not tested",
                    format!("{host} is in no list loaded, so this cannot be tested"),
                ),
                (false, false) => ("failed", format!("{host} is allowed: {reason}")),
            };
            lines.push(line(check, group.id.as_str(), outcome, detail));
        }
        let safe = policy
            .spec()
            .groups
            .iter()
            .find(|g| g.id == group.id.as_str())
            .is_some_and(|g| g.safe_search);
        lines.push(line(
            "Safe search",
            group.id.as_str(),
            if safe { "passed" } else { "failed" },
            if safe {
                "Google, Bing and DuckDuckGo are rewritten to their safe modes".into()
            } else {
                "safe search is off for this group".into()
            },
        ));
    }
    // The running DNS filter and proxy, asked as the unknown-client group (Ward's own machine
    // is a client it does not know) for the sites that group may not reach.
    let unknown = policy.unknown_group();
    let probes: Vec<(&str, &str)> = SELF_TEST_PROBES
        .iter()
        .copied()
        .filter(|(_, host)| {
            ward_policy::Request::parse(host).is_ok_and(|request| {
                let (blocked, _, unknown_site, alerts) = decide(&request, unknown);
                blocked && !unknown_site && !alerts
            })
        })
        .collect();
    if let Some(address) = dns.first() {
        let at = loopback_if_unspecified(*address);
        let who = format!("the DNS filter at {at}");
        for (check, host) in &probes {
            let (outcome, detail) = match ask_dns(at, host, block_page) {
                Ok(true) => ("passed", format!("{host} answered as blocked")),
                Ok(false) => ("failed", format!("{host} was answered as allowed")),
                Err(error) => ("failed", format!("{host}: no answer ({error})")),
            };
            lines.push(line(check, &who, outcome, detail));
        }
    }
    if let Some(address) = proxy {
        let at = loopback_if_unspecified(address);
        let who = format!("the proxy at {at}");
        for (check, host) in &probes {
            let (outcome, detail) = match ask_proxy(at, host) {
                Ok(ProxyAnswer::Blocked) => ("passed", format!("http://{host}/ was blocked")),
                Ok(ProxyAnswer::LogInFirst) => (
                    "passed",
                    format!("http://{host}/ needs a log-in first: unknown clients reach nothing"),
                ),
                Ok(ProxyAnswer::Other(status)) => (
                    "failed",
                    format!("http://{host}/ was not blocked (the proxy answered {status})"),
                ),
                Err(error) => ("failed", format!("http://{host}/: no answer ({error})")),
            };
            lines.push(line(check, &who, outcome, detail));
        }
    }
    ward_console::SelfTest {
        version: None,
        lines,
    }
}

/// A listener bound to every address, asked on loopback.
fn loopback_if_unspecified(address: SocketAddr) -> SocketAddr {
    if address.ip().is_unspecified() {
        let loopback: std::net::IpAddr = if address.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        SocketAddr::new(loopback, address.port())
    } else {
        address
    }
}

/// What the proxy said to a plain HTTP request.
#[derive(Debug, PartialEq, Eq)]
enum ProxyAnswer {
    /// Ward's block page.
    Blocked,
    /// 407: the proxy asks unknown clients to log in before anything.
    LogInFirst,
    /// Any other status line.
    Other(String),
}

/// Asks the explicit proxy at `at` for `http://host/`, as a browser configured to use it would.
fn ask_proxy(at: SocketAddr, host: &str) -> std::io::Result<ProxyAnswer> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&at, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(
        stream,
        "GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Ward self-test\r\nConnection: close\r\n\r\n"
    )?;
    // The status line and the start of the page are enough: Ward's block page is a 403 whose
    // title says the page is blocked (a site's own 403 would not be Ward blocking it).
    let mut answer = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.lines().next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    Ok(match code {
        "403" if blocked_title(&text) => ProxyAnswer::Blocked,
        "407" => ProxyAnswer::LogInFirst,
        _ if status.is_empty() => ProxyAnswer::Other("nothing".into()),
        _ => ProxyAnswer::Other(status.to_owned()),
    })
}

/// Whether a page's title is the block page's ("Page blocked", "This page is blocked").
fn blocked_title(page: &str) -> bool {
    page.split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .is_some_and(|(title, _)| title.to_ascii_lowercase().contains("blocked"))
}

/// Asks the DNS filter at `at` for `host`'s address; whether the answer is a blocked one
/// ("no such name", the block page's address, or no address at all).
fn ask_dns(
    at: SocketAddr,
    host: &str,
    block_page: Option<std::net::Ipv4Addr>,
) -> std::io::Result<bool> {
    let socket = std::net::UdpSocket::bind(if at.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    })?;
    socket.set_read_timeout(Some(Duration::from_secs(2)))?;
    let name =
        ward_dns::wire::name_wire(host).ok_or_else(|| std::io::Error::other("not a DNS name"))?;
    let mut query = Vec::new();
    let id = 0x5e1f;
    ward_dns::wire::build_query(&mut query, id, &name, 1);
    socket.send_to(&query, at)?;
    let mut answer = [0u8; 1500];
    let (length, _) = socket.recv_from(&mut answer)?;
    let answer = &answer[..length];
    if ward_dns::wire::message_id(answer) != Some(id) {
        return Err(std::io::Error::other("an answer to another question"));
    }
    match ward_dns::wire::message_rcode(answer) {
        Some(3) => return Ok(true),
        Some(0) => {}
        _ => return Ok(false),
    }
    let sections = ward_dns::wire::read_sections(answer)
        .ok_or_else(|| std::io::Error::other("a malformed answer"))?;
    let addresses: Vec<std::net::Ipv4Addr> = sections
        .records
        .iter()
        .take(usize::from(sections.counts[0]))
        .filter(|record| record.rtype == 1 && record.end == record.data_at + 4)
        .filter_map(|record| {
            let data = answer.get(record.data_at..record.end)?;
            Some(std::net::Ipv4Addr::new(data[0], data[1], data[2], data[3]))
        })
        .collect();
    Ok(addresses.is_empty() || block_page.is_some_and(|page| addresses.contains(&page)))
}
