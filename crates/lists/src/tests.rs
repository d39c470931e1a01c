//! Tests of the index as a whole: building, matching, the file format.

use proptest::prelude::*;

use crate::*;

fn build(lists: &[(&str, ListFormat, &str)]) -> CategoryIndex {
    let mut builder = IndexBuilder::new();
    for (category, format, text) in lists {
        builder
            .add_text("test", category, *format, category, text.as_bytes(), false)
            .expect("valid category");
    }
    builder.finish().expect("index builds")
}

fn host_categories(index: &CategoryIndex, host: &str) -> Vec<String> {
    let host = Host::parse(host).expect("valid host");
    names(index, &index.classify_host(&host))
}

fn url_categories(index: &CategoryIndex, url: &str) -> Vec<String> {
    let url = CanonicalUrl::parse(url).expect("valid url");
    names(index, &index.classify_url(&url))
}

fn names(index: &CategoryIndex, classification: &Classification<'_>) -> Vec<String> {
    let mut names: Vec<String> = classification
        .matches
        .iter()
        .map(|m| index.category(m.category).name.clone())
        .collect();
    names.sort();
    names
}

fn sample_index() -> CategoryIndex {
    build(&[
        (
            "gambling",
            ListFormat::Domains,
            "casino.com\nbet.example.org\n10.9.8.7\n",
        ),
        ("games", ListFormat::Domains, "casino.com\nplay.net\n"),
        (
            "adult",
            ListFormat::Urls,
            "blogspot.com/adult\nwww.pics.net/nsfw/\n",
        ),
        ("ads", ListFormat::Expressions, "(/banner/|/sponsor/)\n"),
        (
            "trackers",
            ListFormat::Adblock,
            "||track.io^\n@@||ok.track.io^\n",
        ),
    ])
}

#[test]
fn domain_entries_match_subdomains_on_label_boundaries() {
    let index = sample_index();
    assert_eq!(host_categories(&index, "bet.example.org"), ["gambling"]);
    assert_eq!(host_categories(&index, "www.bet.example.org"), ["gambling"]);
    assert!(host_categories(&index, "example.org").is_empty());
    assert!(host_categories(&index, "notbet.example.org").is_empty());
    assert!(host_categories(&index, "notcasino.com").is_empty());
    assert!(host_categories(&index, "casino.com.evil.net").is_empty());
    assert_eq!(host_categories(&index, "10.9.8.7"), ["gambling"]);
    // More labels than the lookup's usual room: the parent domain is still found.
    let deep = format!("{}bet.example.org", "a.".repeat(100));
    assert_eq!(host_categories(&index, &deep), ["gambling"]);
    assert_eq!(
        url_categories(&index, &format!("http://{deep}/x")),
        ["gambling"]
    );
    assert_eq!(
        host_categories(&index, "0x0a090807"),
        ["gambling"],
        "IP written in hex"
    );
}

#[test]
fn every_category_of_a_host_is_reported() {
    let index = sample_index();
    assert_eq!(
        host_categories(&index, "m.casino.com"),
        ["gambling", "games"]
    );
}

#[test]
fn url_entries_match_by_prefix_and_need_a_path() {
    let index = sample_index();
    assert_eq!(
        url_categories(&index, "http://blogspot.com/adult/x"),
        ["adult"]
    );
    assert_eq!(
        url_categories(&index, "https://user.blogspot.com/adult"),
        ["adult"]
    );
    assert_eq!(
        url_categories(&index, "http://www.pics.net/nsfw/1.jpg"),
        ["adult"]
    );
    assert_eq!(url_categories(&index, "http://PICS.net//nsfw/"), ["adult"]);
    assert!(url_categories(&index, "http://blogspot.com/other").is_empty());
    assert!(host_categories(&index, "blogspot.com").is_empty());
}

#[test]
fn expressions_match_the_canonical_url() {
    let index = sample_index();
    assert_eq!(
        url_categories(&index, "http://news.com/img/BANNER/1.gif"),
        ["ads"]
    );
    assert_eq!(
        url_categories(&index, "http://news.com/img/%62anner/1.gif"),
        ["ads"]
    );
    assert!(url_categories(&index, "http://news.com/img/1.gif").is_empty());
}

#[test]
fn adblock_exceptions_remove_subdomains() {
    let index = sample_index();
    assert_eq!(host_categories(&index, "a.track.io"), ["trackers"]);
    assert!(host_categories(&index, "ok.track.io").is_empty());
    assert!(host_categories(&index, "x.ok.track.io").is_empty());
}

#[test]
fn matches_name_the_entry() {
    let index = sample_index();
    let url = CanonicalUrl::parse("http://www.pics.net/nsfw/a").expect("valid");
    let classification = index.classify_url(&url);
    assert_eq!(
        classification.matches[0].matched,
        Matched::UrlPrefix {
            host: "pics.net",
            path: "/nsfw/"
        }
    );
    let host = Host::parse("a.b.casino.com").expect("valid");
    let classification = index.classify_host(&host);
    assert_eq!(
        classification.matches[0].matched,
        Matched::Domain("casino.com")
    );
}

#[test]
fn illegal_lists_are_flagged_and_kept_in_full() {
    let mut builder = IndexBuilder::new();
    builder
        .add_text(
            "iwf",
            "iwf",
            ListFormat::Illegal,
            "iwf.txt",
            b"abuse.example/img/1.jpg\nwhole.example\n",
            true,
        )
        .expect("imports");
    let error = builder
        .add_text(
            "ut1",
            "iwf",
            ListFormat::Domains,
            "x",
            b"other.example\n",
            false,
        )
        .expect_err("mixing illegal and ordinary lists is refused");
    assert!(matches!(error, ListError::MixedIllegal(_)));
    let index = builder.finish().expect("builds");
    assert!(index.categories()[0].illegal);
    assert_eq!(index.illegal_entries().len(), 2);
    assert_eq!(
        url_categories(&index, "http://abuse.example/img/1.jpg"),
        ["iwf"]
    );
    assert!(url_categories(&index, "http://abuse.example/img/2.jpg").is_empty());
}

#[test]
fn index_survives_a_round_trip() {
    let index = sample_index();
    let bytes = index.to_bytes();
    let loaded = CategoryIndex::from_bytes(&bytes, "mem").expect("loads");
    for host in ["m.casino.com", "a.track.io", "ok.track.io", "10.9.8.7"] {
        assert_eq!(
            host_categories(&index, host),
            host_categories(&loaded, host)
        );
    }
    assert_eq!(
        url_categories(&loaded, "http://x.com/banner/"),
        ["ads"],
        "expressions are recompiled on load"
    );
    assert_eq!(loaded.stats(), index.stats());
    assert_eq!(loaded.to_bytes(), bytes, "serialisation is deterministic");
}

#[test]
fn building_twice_gives_the_same_bytes() {
    assert_eq!(sample_index().to_bytes(), sample_index().to_bytes());
}

#[test]
fn damaged_files_are_refused_whole() {
    let bytes = sample_index().to_bytes();

    let error = CategoryIndex::from_bytes(b"hello", "f").expect_err("not an index");
    assert!(matches!(error, IndexFileError::NotAnIndex { .. }));

    let mut stale = bytes.clone();
    stale[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let error = CategoryIndex::from_bytes(&stale, "f").expect_err("stale");
    assert!(matches!(error, IndexFileError::Stale { .. }));
    assert!(error.to_string().contains("ward lists import"));

    let truncated = &bytes[..bytes.len() - 10];
    let error = CategoryIndex::from_bytes(truncated, "f").expect_err("truncated");
    assert!(matches!(error, IndexFileError::Corrupt { .. }));

    let mut flipped = bytes.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0x40;
    let error = CategoryIndex::from_bytes(&flipped, "f").expect_err("bit flip");
    assert!(error.to_string().contains("checksum"));
}

#[test]
fn every_single_byte_corruption_is_refused() {
    let bytes = sample_index().to_bytes();
    for position in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[position] ^= 0x01;
        assert!(
            CategoryIndex::from_bytes(&damaged, "f").is_err(),
            "byte {position} flipped and the index still loaded"
        );
    }
}

#[test]
fn files_are_written_atomically_and_read_back() {
    let folder = std::env::temp_dir().join(format!("ward-lists-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temp folder");
    let path = folder.join("test.idx");
    sample_index().write_file(&path).expect("writes");
    assert!(!folder.join("test.idx.tmp").exists());
    let loaded = CategoryIndex::read_file(&path).expect("reads");
    assert_eq!(host_categories(&loaded, "play.net"), ["games"]);
    let error = CategoryIndex::read_file(&folder.join("missing.idx")).expect_err("missing");
    assert!(error.to_string().contains("missing.idx"));
    std::fs::remove_dir_all(&folder).expect("cleanup");
}

#[test]
fn unreadable_files_name_their_path() {
    let mut builder = IndexBuilder::new();
    let error = builder
        .add_file(
            "s",
            "c",
            ListFormat::Domains,
            std::path::Path::new("/nonexistent/list.txt"),
            false,
        )
        .expect_err("missing file");
    assert!(error.to_string().contains("/nonexistent/list.txt"));
}

#[test]
fn category_names_are_checked() {
    let mut builder = IndexBuilder::new();
    for bad in ["", "Upper", "has space", "slash/name"] {
        assert!(matches!(
            builder.add_text("s", bad, ListFormat::Domains, "x", b"", false),
            Err(ListError::BadCategoryName(_))
        ));
    }
}

#[test]
fn empty_index_classifies_nothing() {
    let index = CategoryIndex::empty();
    assert!(host_categories(&index, "example.com").is_empty());
    let loaded = CategoryIndex::from_bytes(&index.to_bytes(), "e").expect("loads");
    assert!(url_categories(&loaded, "http://example.com/").is_empty());
}

/// A label of a host name, as the generator below builds them.
fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?".prop_filter("not all digits", |label| {
        !label.bytes().all(|b| b.is_ascii_digit())
    })
}

/// A domain ending in a real top-level domain: a last label such as `0xa` would make browsers (and
/// Ward) read the name as a malformed IPv4 address and refuse it.
fn domain() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(label(), 1..4),
        prop::sample::select(vec!["com", "org", "uk", "net", "example", "xn--p1ai"]),
    )
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
}

/// Writes `host` the way someone trying to get past a filter might.
fn disguise(host: &str, choice: &[u8]) -> String {
    let mut written = String::new();
    for (index, c) in host.chars().enumerate() {
        match choice.get(index).copied().unwrap_or(0) % 3 {
            0 => written.push(c),
            1 => written.push(c.to_ascii_uppercase()),
            _ => written.push_str(&format!("%{:02X}", c as u32)),
        }
    }
    written
}

proptest! {
    #[test]
    fn url_normalisation_is_idempotent(raw in "[ -~]{0,60}") {
        if let Ok(url) = CanonicalUrl::parse(&raw) {
            let again = CanonicalUrl::parse(&url.to_string()).expect("canonical form parses");
            prop_assert_eq!(again, url);
        }
    }

    #[test]
    fn host_normalisation_is_idempotent(raw in "[a-zA-Z0-9.%_\\-\u{e0}-\u{ff}]{1,40}") {
        if let Ok(host) = Host::parse(&raw) {
            prop_assert_eq!(Host::parse(&host.to_string()).expect("canonical form parses"), host);
        }
    }

    #[test]
    fn no_encoding_of_a_listed_host_escapes_its_entry(
        listed in domain(),
        subdomain in prop::option::of(label()),
        choice in prop::collection::vec(any::<u8>(), 64),
        userinfo in prop::option::of("[a-z]{1,8}(:[a-z]{1,8})?"),
        port in prop::option::of(Just(80u16)),
        trailing_dot in any::<bool>(),
        path in "(/[a-zA-Z0-9._~-]{0,8}){0,3}",
    ) {
        let index = build(&[("blocked", ListFormat::Domains, &listed)]);
        let host = match &subdomain {
            Some(label) => format!("{label}.{listed}"),
            None => listed.clone(),
        };
        let mut raw = String::from("http://");
        if let Some(userinfo) = &userinfo {
            raw.push_str(userinfo);
            raw.push('@');
        }
        raw.push_str(&disguise(&host, &choice));
        if trailing_dot {
            raw.push('.');
        }
        if let Some(port) = port {
            raw.push_str(&format!(":{port}"));
        }
        raw.push_str(&path);
        let url = CanonicalUrl::parse(&raw).expect("disguised URL still parses");
        prop_assert_eq!(url_categories(&index, &url.to_string()), vec!["blocked".to_string()], "{}", raw);
        prop_assert_eq!(host_categories(&index, &url.host().to_string()), vec!["blocked".to_string()]);
    }

    #[test]
    fn ipv4_forms_reach_the_listed_address(address in any::<u32>(), form in 0u8..4) {
        let dotted = std::net::Ipv4Addr::from(address).to_string();
        let index = build(&[("blocked", ListFormat::Domains, &dotted)]);
        let octets = address.to_be_bytes();
        let written = match form {
            0 => address.to_string(),
            1 => format!("0x{address:x}"),
            2 => octets.iter().map(|o| format!("0{o:o}")).collect::<Vec<_>>().join("."),
            _ => format!("{}.{}", octets[0], u32::from_be_bytes([0, octets[1], octets[2], octets[3]])),
        };
        prop_assert_eq!(host_categories(&index, &written), vec!["blocked".to_string()], "{}", written);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_parsers(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for format in [ListFormat::Domains, ListFormat::Urls, ListFormat::Expressions,
                       ListFormat::Hosts, ListFormat::Adblock, ListFormat::Illegal] {
            let _ = parse_list(format, &bytes);
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = CanonicalUrl::parse(&text);
        let _ = Host::parse(&text);
        let _ = CategoryIndex::from_bytes(&bytes, "fuzz");
    }

    #[test]
    fn arbitrary_payloads_behind_a_valid_header_never_panic(
        payload in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        // A valid header and checksum around random bytes reaches the payload parser and the
        // record checks, which random whole files almost never do.
        let file = crate::file::frame(&payload);
        if let Ok(index) = CategoryIndex::from_bytes(&file, "fuzz") {
            let _ = host_categories(&index, "a.example.com");
            let _ = url_categories(&index, "http://a.example.com/x");
        }
    }

    #[test]
    fn damaged_real_indexes_never_panic(position in any::<prop::sample::Index>(), value in any::<u8>()) {
        // Change one payload byte of a real index and fix the checksum up, so that the damage
        // reaches the structural checks.
        let mut file = sample_index().to_bytes();
        let payload_start = 32;
        let at = payload_start + position.index(file.len() - payload_start);
        file[at] = value;
        let checksum = crc32fast::hash(&file[payload_start..]);
        file[24..28].copy_from_slice(&checksum.to_le_bytes());
        if let Ok(index) = CategoryIndex::from_bytes(&file, "fuzz") {
            let _ = host_categories(&index, "m.casino.com");
            let _ = url_categories(&index, "http://www.pics.net/nsfw/x");
        }
    }
}
