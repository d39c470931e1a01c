//! The DNS filter as clients meet it: `dig` against Ward on an ephemeral port, Ward forwarding
//! to a real unbound serving test zones. Allowed, blocked (block page and NXDOMAIN), CNAME
//! chains, per-client policy, safe search, bypass names, ECH removal, truncation and TCP,
//! upstream failure and failover, malformed packets, events, and reloads under load.

mod support;

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::{Unbound, Ward, answers, dig, free_udp_port, state, status};
use ward_dns::wire::{self, rtype};

#[test]
fn allowed_names_get_exactly_what_the_upstream_says() {
    let unbound = Unbound::start("allowed");
    let ward = Ward::start(vec![unbound.address], "block-page", None);
    for (name, qtype) in [
        ("allowed.test", "A"),
        ("allowed.test", "AAAA"),
        ("friendly.test", "A"),
        ("ALLOWED.Test", "A"),
        ("nothere.test", "A"),
        ("allowed.test", "MX"),
    ] {
        let from_ward = ward.dig(&[name, qtype, "+noall", "+answer", "+comments"]);
        let from_upstream = dig(
            unbound.address,
            &[name, qtype, "+noall", "+answer", "+comments"],
        );
        assert_eq!(status(&from_ward), status(&from_upstream), "{name} {qtype}");
        assert_eq!(
            answers(&from_ward),
            answers(&from_upstream),
            "{name} {qtype}"
        );
    }
    // Case is echoed as asked.
    assert!(
        ward.dig(&["ALLOWED.Test", "+noall", "+answer"])
            .contains("ALLOWED.Test.")
    );
    // The second time comes from the cache, with the TTL counting down from the upstream's.
    let hits = ward.filter.stats().cache_hits.load(Ordering::Relaxed);
    let again = ward.dig(&["allowed.test", "+noall", "+answer"]);
    assert!(ward.filter.stats().cache_hits.load(Ordering::Relaxed) > hits);
    let ttl: u32 = again
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.parse().ok())
        .expect("a TTL");
    assert!(ttl <= 300 && ttl > 250, "{again}");
    // The negative answer is cached too, for the SOA's 30 s.
    let hits = ward.filter.stats().cache_hits.load(Ordering::Relaxed);
    assert_eq!(status(&ward.dig(&["nothere.test"])), "NXDOMAIN");
    assert!(ward.filter.stats().cache_hits.load(Ordering::Relaxed) > hits);
}

#[test]
fn blocked_names_get_the_block_page_with_a_short_ttl() {
    let unbound = Unbound::start("blocked");
    let ward = Ward::start(vec![unbound.address], "block-page", None);
    let a = ward.dig(&["casino.test", "A", "+noall", "+answer"]);
    assert_eq!(answers(&a), ["casino.test. A 192.0.2.250"], "{a}");
    assert!(
        a.contains("\t30\t") || a.contains(" 30 "),
        "blocked TTL: {a}"
    );
    let aaaa = ward.dig(&["www.casino.test", "AAAA", "+noall", "+answer"]);
    assert_eq!(answers(&aaaa), ["www.casino.test. AAAA 2001:db8::250"]);
    // Other types: no data (so browsers use the block page's A record), with a SOA for 30 s.
    let txt = ward.dig(&["casino.test", "TXT"]);
    assert_eq!(status(&txt), "NOERROR");
    assert!(txt.contains("ANSWER: 0") && txt.contains("SOA"), "{txt}");
    // Not a label-boundary match: allowed.
    assert_eq!(status(&ward.dig(&["notcasino.test"])), "NXDOMAIN");
    assert_eq!(ward.filter.stats().blocked.load(Ordering::Relaxed), 3);
}

#[test]
fn nxdomain_mode_and_illegal_lists_for_everyone() {
    let unbound = Unbound::start("nxdomain");
    let ward = Ward::start(vec![unbound.address], "nxdomain", None);
    let answer = ward.dig(&["casino.test"]);
    assert_eq!(status(&answer), "NXDOMAIN");
    assert!(
        answer.contains("SOA"),
        "negative answer carries a SOA: {answer}"
    );
    // The illegal list is blocked for staff too, although no rule names it.
    assert_eq!(status(&ward.dig_as_staff(&["abuse.test"])), "NXDOMAIN");
    assert_eq!(status(&ward.dig_as_staff(&["img.abuse.test"])), "NXDOMAIN");
}

#[test]
fn a_cname_chain_into_a_blocked_name_is_blocked() {
    let unbound = Unbound::start("cname");
    let ward = Ward::start(vec![unbound.address], "block-page", None);
    // alias.test → hop.test → casino.test (gambling).
    let upstream = dig(unbound.address, &["alias.test", "+noall", "+answer"]);
    assert!(upstream.contains("casino.test"), "{upstream}");
    let answer = ward.dig(&["alias.test", "+noall", "+answer"]);
    assert_eq!(answers(&answer), ["alias.test. A 192.0.2.250"], "{answer}");
    // Served again from the cache, the chain is decided again.
    let again = ward.dig(&["alias.test", "+noall", "+answer"]);
    assert_eq!(answers(&again), ["alias.test. A 192.0.2.250"]);
}

#[test]
fn policy_follows_the_client_device_register_and_unknown_clients() {
    let unbound = Unbound::start("clients");
    let ward = Ward::start(vec![unbound.address], "block-page", None);
    // Staff may use social networks; unknown clients get the pupils' policy.
    let staff = ward.dig_as_staff(&["chat.test", "+short"]);
    assert_eq!(staff.trim(), "192.0.2.20");
    let unknown = ward.dig(&["chat.test", "+short"]);
    assert_eq!(unknown.trim(), "192.0.2.250");
    let other = ward.dig(&["-b", "127.0.0.3", "chat.test", "+short"]);
    assert_eq!(other.trim(), "192.0.2.250");
}

#[test]
fn safe_search_is_enforced_per_group() {
    let unbound = Unbound::start("safesearch");
    let ward = Ward::start(vec![unbound.address], "block-page", None);
    let pupil = ward.dig(&["www.google.com", "+noall", "+answer"]);
    assert_eq!(
        answers(&pupil),
        [
            "www.google.com. CNAME forcesafesearch.google.com.",
            "forcesafesearch.google.com. A 216.239.38.120"
        ],
        "{pupil}"
    );
    assert_eq!(ward.filter.stats().rewritten.load(Ordering::Relaxed), 1);
    // Staff have safe search off in this policy.
    let staff = ward.dig_as_staff(&["www.google.com", "+short"]);
    assert_eq!(staff.trim(), "142.250.0.1");
    // The rewrite is cached apart from the plain answer.
    let pupil_again = ward.dig(&["WWW.GOOGLE.COM", "+short"]);
    assert!(pupil_again.contains("216.239.38.120"), "{pupil_again}");
}

#[test]
fn bypass_names_and_ech_are_taken_away() {
    let unbound = Unbound::start("bypass");
    let ward = Ward::start(vec![unbound.address], "block-page", None);
    for name in [
        "use-application-dns.net",
        "mask.icloud.com",
        "mask-h2.icloud.com",
    ] {
        assert_eq!(status(&ward.dig_as_staff(&[name])), "NXDOMAIN", "{name}");
    }
    // A DNS-over-HTTPS provider in the policy's bypass category.
    assert_eq!(
        ward.dig(&["dns.provider.test", "+short"]).trim(),
        "192.0.2.250"
    );

    let upstream = dig(unbound.address, &["ech.test", "HTTPS", "+noall", "+answer"]);
    assert!(upstream.contains("ech="), "{upstream}");
    assert!(upstream.contains("h3"), "{upstream}");
    // No ECH (the server name stays readable), and, as HTTPS inspection is on in these tests, no
    // HTTP/3 (QUIC would go round the proxy).
    let answer = ward.dig(&["ech.test", "HTTPS", "+noall", "+answer"]);
    assert!(answer.contains("alpn=\"h2\""), "{answer}");
    assert!(!answer.contains("ech="), "{answer}");
    assert!(!answer.contains("h3"), "{answer}");
    assert_eq!(
        ward.filter
            .stats()
            .http3_removed
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "counted once, for the dashboard"
    );
}

#[test]
fn big_answers_are_truncated_over_udp_and_whole_over_tcp() {
    let unbound = Unbound::start("truncation");
    let ward = Ward::start(vec![unbound.address], "block-page", None);
    // Without EDNS a client takes 512 bytes: truncated, and dig's retry over TCP gets all.
    let truncated = ward.dig(&["txt.big", "TXT", "+noedns", "+ignore"]);
    assert!(truncated.contains(" tc"), "{truncated}");
    assert!(truncated.contains("ANSWER: 0"), "{truncated}");
    let whole = ward.dig(&["txt.big", "TXT", "+noedns", "+noall", "+answer"]);
    assert_eq!(answers(&whole).len(), 40, "{whole}");
    // Over 1,232 bytes even with EDNS: Ward fetched it from unbound over TCP too.
    let edns = ward.dig(&["txt.big", "TXT", "+bufsize=4096", "+ignore"]);
    assert!(edns.contains(" tc"), "{edns}");
    let tcp = ward.dig(&["txt.big", "TXT", "+tcp", "+noall", "+answer"]);
    assert_eq!(answers(&tcp).len(), 40);
}

#[test]
fn a_dead_upstream_fails_over_and_none_at_all_is_servfail() {
    let unbound = Unbound::start("failover");
    let dead = ([127, 0, 0, 1], free_udp_port()).into();
    let ward = Ward::start(vec![dead, unbound.address], "block-page", None);
    assert_eq!(ward.dig(&["allowed.test", "+short"]).trim(), "192.0.2.10");

    let alone = Ward::start(vec![dead], "block-page", None);
    let started = Instant::now();
    let answer = alone.dig(&["allowed.test", "+tries=1", "+time=5"]);
    assert_eq!(status(&answer), "SERVFAIL");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        alone
            .filter
            .stats()
            .upstream_failures
            .load(Ordering::Relaxed),
        1
    );
    // Blocking does not need the upstream.
    assert_eq!(alone.dig(&["casino.test", "+short"]).trim(), "192.0.2.250");
}

#[test]
fn malformed_packets_never_stop_the_server() {
    let unbound = Unbound::start("malformed");
    let ward = Ward::start(vec![unbound.address], "block-page", None);
    let socket = UdpSocket::bind("127.0.0.1:0").expect("socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut query = Vec::new();
    wire::build_query(
        &mut query,
        0x5151,
        &wire::name_wire("allowed.test").expect("name"),
        rtype::A,
    );
    let mut junk: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 3],
        vec![0; 12],
        query[..query.len() - 5].to_vec(),
        vec![0xab; 600],
    ];
    let mut looping = query.clone();
    looping[12] = 0xc0;
    looping[13] = 12;
    junk.push(looping);
    // A deterministic spread of random-looking packets.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for length in 0..200 {
        let mut packet = Vec::with_capacity(length);
        for _ in 0..length {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            packet.push(seed as u8);
        }
        if let Some(flags) = packet.get_mut(2) {
            *flags &= 0x7f; // not all responses
        }
        junk.push(packet);
    }
    for packet in &junk {
        socket.send_to(packet, ward.address).expect("send");
    }
    // A truncated question gets FORMERR with its id.
    socket.send_to(&query[..20], ward.address).expect("send");
    let mut buffer = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut formerr = false;
    while Instant::now() < deadline && !formerr {
        if let Ok(length) = socket.recv(&mut buffer) {
            formerr = length >= 12 && buffer[..2] == [0x51, 0x51] && buffer[3] & 0xf == 1;
        }
    }
    assert!(formerr, "no FORMERR for a truncated query");
    assert!(ward.filter.stats().malformed.load(Ordering::Relaxed) > 0);
    assert_eq!(ward.dig(&["allowed.test", "+short"]).trim(), "192.0.2.10");
}

#[test]
fn events_record_blocks_and_count_allowed_queries() {
    let unbound = Unbound::start("events");
    let folder = support::temp_folder("events");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let url = format!("sqlite://{}", folder.join("ward.db").display());
    let (store, sink, writer) = runtime.block_on(async {
        let store = ward_store::Store::open_and_migrate(&url, &ward_store::OpenOptions::default())
            .await
            .expect("store");
        let school = store
            .create_school("DNS test school", "dns")
            .await
            .expect("school");
        assert_eq!(school, ward_store::SchoolId(1));
        let config = ward_store::WriterConfig::new("test", folder.join("journal"));
        let (sink, writer) = ward_store::EventWriter::start(store.clone(), config).expect("writer");
        (store, sink, writer)
    });
    let ward = Ward::start_with(
        vec![unbound.address],
        state("block-page"),
        Some(sink),
        Some(runtime),
    );
    ward.dig_as_staff(&["abuse.test"]);
    ward.dig(&["casino.test"]);
    ward.dig(&["www.google.com"]);
    for _ in 0..3 {
        ward.dig_as_staff(&["allowed.test"]);
    }
    ward.filter.flush_counts();
    // Stopping the writer writes everything queued, so what follows reads it all at once.
    ward.runtime().block_on(writer.shutdown());
    let school = ward_store::SchoolId(1);
    let rows = ward
        .runtime()
        .block_on(store.search_events(
            school,
            &ward_store::ActivityQuery {
                limit: 10,
                ..Default::default()
            },
        ))
        .expect("events");
    let abuse = rows
        .iter()
        .find(|r| r.host == "abuse.test")
        .expect("illegal-list event");
    assert_eq!(abuse.action, "block");
    assert_eq!(abuse.source, "dns");
    assert_eq!(abuse.client_ip, "127.0.0.2");
    assert!(abuse.categories.contains("iwf"), "{abuse:?}");
    assert!(abuse.reason.contains("illegal-content list"), "{abuse:?}");
    let casino = rows
        .iter()
        .find(|r| r.host == "casino.test")
        .expect("gambling event");
    assert_eq!(casino.categories, "gambling");
    assert!(casino.reason.contains("rule gambling"), "{casino:?}");
    let google = rows
        .iter()
        .find(|r| r.host == "www.google.com")
        .expect("rewrite event");
    assert_eq!(google.action, "rewrite");

    let browsing = ward
        .runtime()
        .block_on(store.browsing(
            school,
            "device:7",
            jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2),
            jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2),
            10,
        ))
        .expect("browsing");
    assert_eq!(browsing.len(), 1, "{browsing:?}");
    assert_eq!(browsing[0].site, "allowed.test");
    assert_eq!(browsing[0].requests, 3);
    drop(ward);
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn reloading_under_load_drops_no_query() {
    let unbound = Unbound::start("reload");
    let ward = Arc::new(Ward::start(vec![unbound.address], "block-page", None));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|client| {
            let address = ward.address;
            let stop = stop.clone();
            std::thread::spawn(move || {
                let socket = UdpSocket::bind("127.0.0.1:0").expect("socket");
                socket
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .expect("timeout");
                let names = ["casino.test", "allowed.test"];
                let (mut sent, mut answered, mut blocked_kinds) = (0u32, 0u32, [0u32; 2]);
                let mut query = Vec::new();
                let mut buffer = [0u8; 1500];
                while !stop.load(Ordering::Relaxed) {
                    let id = (sent as u16).wrapping_add(client * 30_000);
                    let name = names[sent as usize % 2];
                    wire::build_query(
                        &mut query,
                        id,
                        &wire::name_wire(name).expect("name"),
                        rtype::A,
                    );
                    socket.send_to(&query, address).expect("send");
                    sent += 1;
                    if let Ok(length) = socket.recv(&mut buffer)
                        && length >= 12
                        && u16::from_be_bytes([buffer[0], buffer[1]]) == id
                    {
                        answered += 1;
                        if name == "casino.test" {
                            // Block page (NOERROR) or NXDOMAIN, per the policy in force.
                            blocked_kinds[usize::from(buffer[3] & 0xf == 3)] += 1;
                        }
                    }
                }
                (sent, answered, blocked_kinds)
            })
        })
        .collect();
    for round in 0..60 {
        std::thread::sleep(Duration::from_millis(20));
        let blocked = if round % 2 == 0 {
            "nxdomain"
        } else {
            "block-page"
        };
        ward.filter.live().replace(state(blocked));
    }
    stop.store(true, Ordering::Relaxed);
    let mut kinds = [0u32; 2];
    for client in clients {
        let (sent, answered, blocked_kinds) = client.join().expect("client thread");
        assert!(sent > 50, "only {sent} queries sent");
        assert_eq!(answered, sent, "queries lost during reloads");
        kinds[0] += blocked_kinds[0];
        kinds[1] += blocked_kinds[1];
    }
    assert!(
        kinds[0] > 0 && kinds[1] > 0,
        "both policies were seen in force: {kinds:?}"
    );
    assert_eq!(ward.filter.live().reloads(), 60);
    // After the last reload (block-page), the block page is what clients get.
    assert_eq!(ward.dig(&["casino.test", "+short"]).trim(), "192.0.2.250");
}

/// Issue 20, item 9: the filter answers the school's clients only (its networks and the device
/// register), REFUSED for anyone else, and limits each client's rate over UDP.
#[test]
fn only_the_schools_clients_are_answered_and_each_at_a_bounded_rate() {
    let unbound = Unbound::start("clients");
    // Only 127.0.0.1 is the school's network here; 127.0.0.2 is in the device register.
    let ward = Ward::start_limited(
        vec![unbound.address],
        state("block-page"),
        None,
        None,
        &["127.0.0.1/32"],
        0,
    );
    assert_eq!(status(&ward.dig(&["allowed.test", "A"])), "NOERROR");
    assert_eq!(
        status(&ward.dig(&["-b", "127.0.0.2", "allowed.test", "A"])),
        "NOERROR",
        "the device register's addresses are answered"
    );
    let outsider = ward.dig(&[
        "-b",
        "127.0.0.3",
        "allowed.test",
        "ANY",
        "+noall",
        "+answer",
        "+comments",
    ]);
    assert_eq!(status(&outsider), "REFUSED", "{outsider}");
    assert!(answers(&outsider).is_empty(), "{outsider}");
    assert!(ward.filter.stats().refused_clients.load(Ordering::Relaxed) >= 1);

    // Over its rate, a client gets empty truncated replies or nothing, a well-behaved one
    // goes on being answered.
    let ward = Ward::start_limited(
        vec![unbound.address],
        state("block-page"),
        None,
        None,
        &["127.0.0.0/8"],
        20,
    );
    let flood = UdpSocket::bind("127.0.0.5:0").expect("bind");
    flood
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut query = Vec::new();
    let name = wire::name_wire("allowed.test").expect("name");
    let (mut answered, mut truncated) = (0, 0);
    for id in 0..200u16 {
        query.clear();
        wire::build_query(&mut query, id, &name, rtype::A);
        flood.send_to(&query, ward.address).expect("send");
    }
    let mut reply = [0u8; 4096];
    while let Ok((length, _)) = flood.recv_from(&mut reply) {
        if wire::is_truncated(&reply[..length]) {
            truncated += 1;
        } else {
            answered += 1;
        }
    }
    assert!(answered <= 45, "about the burst of 40 answered: {answered}");
    assert!(
        truncated >= 50,
        "every second query over the rate slipped: {truncated}"
    );
    assert!(answered + truncated < 200, "the rest dropped");
    // Another client is not held back.
    assert_eq!(
        status(&ward.dig(&["-b", "127.0.0.6", "allowed.test", "A"])),
        "NOERROR"
    );
    // And the flooding client gets through over TCP.
    assert_eq!(
        status(&ward.dig(&["-b", "127.0.0.5", "+tcp", "allowed.test", "A"])),
        "NOERROR"
    );
}

/// Issue 20, items 6 and 7: slow DNS-over-TCP connections from one address, or from many,
/// lock nobody out; the oldest waiting give way, and UDP keeps answering throughout.
#[test]
fn slow_tcp_clients_cannot_lock_others_out() {
    let unbound = Unbound::start("slow-tcp");
    let ward = Ward::start(vec![unbound.address], "block-page", None);
    let connect_from = |from: [u8; 4]| ward_testkit::connect_from(from, ward.address);
    // One address: many connections that send half a length prefix and stop.
    let mut held = Vec::new();
    for _ in 0..100 {
        if let Some(mut stream) = connect_from([127, 0, 0, 9]) {
            use std::io::Write;
            let _ = stream.write_all(&[0]);
            held.push(stream);
        }
    }
    assert!(held.len() >= 90, "{}", held.len());
    assert_eq!(status(&ward.dig(&["+tcp", "allowed.test", "A"])), "NOERROR");
    assert_eq!(
        status(&ward.dig(&["-b", "127.0.0.9", "+tcp", "allowed.test", "A"])),
        "NOERROR",
        "the flooding address's own real query is answered too"
    );
    // Many addresses, past the listener's 512.
    for n in 0..600u16 {
        let from = [127, 0, 2 + (n / 200) as u8, (n % 200) as u8 + 1];
        if let Some(stream) = connect_from(from) {
            held.push(stream);
        }
    }
    assert_eq!(status(&ward.dig(&["+tcp", "allowed.test", "A"])), "NOERROR");
    assert_eq!(
        status(&ward.dig(&["allowed.test", "A"])),
        "NOERROR",
        "UDP answers"
    );
}
