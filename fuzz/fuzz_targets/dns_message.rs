//! Arbitrary bytes as a client's query through the DNS filter's whole synchronous path (parse,
//! identity, policy, bypass, safe search, cache), and as an upstream's reply through the code
//! that reads, rewrites and caches replies. Nothing may panic; an answer must be a message with
//! the query's id.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use ward_dns::cache::Entry;
use ward_dns::{DnsFilter, FilterSettings, Step, Upstreams, reply, wire};
use ward_events::SchoolId;
use ward_gateway::{FilterState, LiveState};
use ward_lists::{IndexBuilder, ListFormat};
use ward_policy::PolicySnapshot;

const POLICY: &str = r#"
name = "fuzz"
timezone = "Europe/London"
unknown_group = "pupils"
[[group]]
id = "pupils"
title = "Pupils"
kind = "pupil"
[[rule]]
id = "gambling"
action = "Gambling"
categories = ["gambling"]
verdict = "unacceptable"
"#;

fn filter() -> &'static DnsFilter {
    static FILTER: OnceLock<DnsFilter> = OnceLock::new();
    FILTER.get_or_init(|| {
        let mut builder = IndexBuilder::new();
        builder
            .add_text("fuzz", "gambling", ListFormat::Domains, "gambling", b"casino.test\n", false)
            .expect("list");
        let index = Arc::new(builder.finish().expect("index"));
        let (policy, _) = PolicySnapshot::from_toml(POLICY, index).expect("policy");
        let (state, _) = FilterState::new(Arc::new(policy), &[]);
        DnsFilter::new(
            Arc::new(LiveState::new(state)),
            FilterSettings {
                school: SchoolId(1),
                block_page_ipv4: Some([192, 0, 2, 1].into()),
                block_page_ipv6: None,
                cache_entries: 1_000,
                allow_clients: vec!["127.0.0.0/8".parse().expect("network"), "::1/128".parse().expect("network")],
                client_qps: 0,
                remove_http3: true,
            },
            Upstreams::new(Vec::new(), Duration::from_millis(1), 1),
            None,
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    for udp in [true, false] {
        if let Step::Reply = filter().answer(data, [127, 0, 0, 1].into(), udp, &mut out) {
            assert!(out.len() >= wire::HEADER_LEN, "answer shorter than a header");
            assert_eq!(out[..2], data[..2], "answer with another id");
            if udp {
                assert!(out.len() <= 1232, "UDP answer over the limit");
            }
        }
    }

    // The same bytes as an upstream reply.
    let _ = wire::read_sections(data);
    if let Ok((normalised, _)) = reply::normalise(data.to_vec(), true) {
        if let Some(entry) = Entry::new(normalised, Instant::now()) {
            let mut query = Vec::new();
            wire::build_query(&mut query, 7, b"\x07example\x03com\x00", wire::rtype::A);
            let parsed = wire::parse_query(&query).expect("a query we built");
            let _ = entry.write_reply(&parsed, Instant::now(), &mut out);
            let _ = entry.chain();
        }
    }
});
