//! HTTPS inspection as clients meet it (issue 22): curl trusting the school's CA through Ward's
//! explicit and transparent proxies to a local HTTPS origin (its own test CA, which Ward trusts
//! as a school trusts an intranet's), over HTTP/2 and HTTP/1.1, and a raw TLS client for
//! WebSockets and garbage.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use support::{Options, Ward, curl};
use ward_events::Disposition;
use ward_proxy::inspect::Uninspected;

fn inspecting() -> Ward {
    Ward::start(Options {
        inspect: true,
        ..Options::default()
    })
}

fn via(ward: &Ward) -> String {
    format!("http://{}", ward.explicit)
}

fn ward_ca(ward: &Ward) -> String {
    ward.ward_ca
        .as_ref()
        .expect("the school CA")
        .display()
        .to_string()
}

/// curl through the explicit proxy trusting only the school's CA, plus `extra` arguments:
/// (the HTTP version curl used with Ward, the answer).
fn through(ward: &Ward, extra: &[&str], url: &str) -> (String, support::Answer) {
    let (proxy, ca) = (via(ward), ward_ca(ward));
    let mut arguments = vec!["--proxy", proxy.as_str(), "--cacert", ca.as_str()];
    arguments.extend_from_slice(extra);
    arguments.push(url);
    let answer = curl(&arguments);
    let version = answer
        .headers
        .lines()
        .rfind(|line| line.starts_with("HTTP/"))
        .and_then(|line| line.split_whitespace().next())
        .unwrap_or("")
        .to_owned();
    (version, answer)
}

#[test]
fn allowed_https_pages_are_read_and_fetched_over_http2_and_http1() {
    let ward = inspecting();
    let url = ward.https_url("www.allowed.test", "/lesson?page=2");

    let (version, answer) = through(&ward, &["--http2"], &url);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(version, "HTTP/2", "{}", answer.headers);
    let headers = answer.headers.to_ascii_lowercase();
    assert!(headers.contains("x-origin-protocol: http/2.0"), "{headers}");
    // HTTP/3 is not advertised: browsers stay on TCP, where Ward can see them.
    assert!(!headers.contains("alt-svc"), "{headers}");
    // The origin saw Ward's request: the path, and Ward's Via.
    assert!(answer.body.contains("/lesson?page=2"), "{}", answer.body);
    assert!(answer.body.contains("via: 1.1 ward-"), "{}", answer.body);

    let (version, answer) = through(&ward, &["--http1.1"], &url);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(version, "HTTP/1.1", "{}", answer.headers);
    assert!(
        answer.body.contains("GET /lesson?page=2"),
        "{}",
        answer.body
    );
    let headers = answer.headers.to_ascii_lowercase();
    assert!(!headers.contains("alt-svc"), "{headers}");
    // An HTTP/1.1 client's requests go to the origin over HTTP/1.1 too.
    assert!(headers.contains("x-origin-protocol: http/1.1"), "{headers}");

    let inspection = ward.proxy.settings().inspection.as_ref().expect("on");
    assert!(inspection.inspected() >= 2);
    // One leaf for the site, however many connections.
    assert_eq!(inspection.leaves().made(), 1);
}

#[test]
fn blocked_https_sites_get_the_block_page_and_urls_are_decided_one_by_one() {
    let ward = inspecting();
    let url = ward.https_url("casino.test", "/roulette");
    let (_, answer) = through(&ward, &[], &url);
    assert_eq!(answer.status, 403, "{}", answer.body);
    for expected in [
        "This page is blocked",
        "casino.test",
        "On-line gambling",
        "Ask for this to be unblocked",
        "Report a concern",
    ] {
        assert!(
            answer.body.contains(expected),
            "{expected:?} missing from\n{}",
            answer.body
        );
    }

    // An illegal-list URL on an allowed site is blocked alone, with the IWF's wording.
    let (_, answer) = through(
        &ward,
        &[],
        &ward.https_url("www.allowed.test", "/abuse/1.jpg"),
    );
    assert_eq!(answer.status, 403);
    assert!(
        answer.body.contains("Internet Watch Foundation"),
        "{}",
        answer.body
    );
    let (_, answer) = through(
        &ward,
        &[],
        &ward.https_url("www.allowed.test", "/chat/room"),
    );
    assert_eq!(answer.status, 403);
    assert!(answer.body.contains("Chat rooms"), "{}", answer.body);
    let (_, answer) = through(&ward, &[], &ward.https_url("www.allowed.test", "/about"));
    assert_eq!(answer.status, 200, "the rest of the site is fine");

    let events = ward.events();
    let blocked: Vec<_> = events
        .iter()
        .filter(|e| e.action == Disposition::Block)
        .collect();
    assert_eq!(blocked.len(), 3, "{events:?}");
    assert_eq!(blocked[0].url.as_deref(), Some(&*url), "the full https URL");
    assert_eq!(blocked[0].categories, "gambling");
    assert!(blocked[1].alert.is_some(), "the IWF hit alerts");
}

#[test]
fn https_searches_are_recorded_and_safe_search_forced() {
    let ward = inspecting();
    let url = ward.https_url("www.google.com", "/search?q=volcano+facts");
    let (_, answer) = through(&ward, &["--http2"], &url);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("safe=active"), "{}", answer.body);
    let (_, answer) = through(&ward, &[], &ward.https_url("www.youtube.com", "/watch?v=x"));
    assert!(
        answer.body.contains("youtube-restrict: Strict"),
        "{}",
        answer.body
    );
    let events = ward.events();
    let search = events
        .iter()
        .find(|e| e.search_term.is_some())
        .expect("the search is recorded");
    assert_eq!(search.search_term.as_deref(), Some("volcano facts"));
    assert_eq!(search.action, Disposition::Rewrite);
    assert!(
        search
            .url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://www.google.com"))
    );
}

#[test]
fn risk_in_an_https_page_raises_an_alert() {
    let ward = Ward::start(Options {
        inspect: true,
        detection: true,
        ..Options::default()
    });
    let (_, answer) = through(
        &ward,
        &["--http2"],
        &ward.https_url("www.allowed.test", "/diary"),
    );
    assert_eq!(answer.status, 200);
    assert!(
        answer.body.contains("Nobody listens"),
        "the page is passed on whole"
    );
    let mut found = Vec::new();
    for _ in 0..50 {
        found.extend(ward.events().into_iter().filter(|e| {
            e.alert.as_ref().is_some_and(|a| a.detection.is_some())
                && e.url.as_deref().is_some_and(|u| u.contains("/diary"))
        }));
        if !found.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let event = found.first().expect("a detection alert for the HTTPS page");
    assert!(
        event
            .url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    );
    assert!(event.categories.contains("self-harm"), "{event:?}");
}

#[test]
fn sites_never_inspected_are_spliced_with_their_own_certificate() {
    let ward = inspecting();
    let url = ward.https_url("never.test", "/");
    let origin_ca = ward
        .origin_ca
        .as_ref()
        .expect("origin CA")
        .display()
        .to_string();
    // The client sees the origin's own certificate: trusting only the origin's CA works...
    let answer = curl(&["--proxy", &via(&ward), "--cacert", &origin_ca, &url]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    // ...and trusting only the school's does not.
    let (_, answer) = through(&ward, &[], &url);
    assert_eq!(answer.status, 0);
    let inspection = ward.proxy.settings().inspection.as_ref().expect("on");
    let uninspected = inspection.uninspected();
    assert!(
        uninspected.iter().any(|(key, n)| key.host == "never.test"
            && key.why == Uninspected::DoNotInspect
            && *n >= 2),
        "{uninspected:?}"
    );
}

#[test]
fn a_site_whose_certificate_fails_gets_wards_page_not_a_silent_connection() {
    let ward = inspecting();
    // The origin has no certificate for wrong.test.
    let (_, answer) = through(&ward, &[], &ward.https_url("wrong.test", "/"));
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(
        answer.body.contains("could not be checked"),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("issued for another site"),
        "{}",
        answer.body
    );
    let events = ward.events();
    assert!(
        events
            .iter()
            .any(|e| e.action == Disposition::Block && e.reason.contains("certificate")),
        "{events:?}"
    );
}

#[test]
fn a_device_without_the_schools_certificate_fails_and_is_counted() {
    let ward = inspecting();
    // curl trusting only the system's roots: the handshake with Ward's certificate fails.
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        &ward.https_url("www.allowed.test", "/"),
    ]);
    assert_eq!(answer.status, 0);
    let inspection = ward.proxy.settings().inspection.as_ref().expect("on");
    let mut counted = false;
    for _ in 0..50 {
        counted = inspection.uninspected().iter().any(|(key, _)| {
            key.host == "www.allowed.test" && key.why == Uninspected::HandshakeFailed
        });
        if counted {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(counted, "{:?}", inspection.uninspected());
    // A blocked site such a device tries is recorded, though it never saw the block page.
    let answer = curl(&["--proxy", &via(&ward), &ward.https_url("casino.test", "/")]);
    assert_eq!(answer.status, 0);
    let mut recorded = false;
    for _ in 0..50 {
        recorded = ward
            .events()
            .iter()
            .any(|e| e.action == Disposition::Block && e.host == "casino.test");
        if recorded {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(recorded, "the blocked attempt is recorded");
}

#[test]
fn transparent_https_is_inspected_too() {
    let ward = inspecting();
    let ca = ward_ca(&ward);
    let connect_to = format!("www.allowed.test:443:{}", ward.transparent_https);
    let answer = curl(&[
        "--connect-to",
        &connect_to,
        "--cacert",
        &ca,
        "https://www.allowed.test/science?topic=volcanoes",
    ]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains("/science?topic=volcanoes"),
        "{}",
        answer.body
    );
    let connect_to = format!("casino.test:443:{}", ward.transparent_https);
    let answer = curl(&[
        "--connect-to",
        &connect_to,
        "--cacert",
        &ca,
        "https://casino.test/",
    ]);
    assert_eq!(answer.status, 403);
    assert!(
        answer.body.contains("This page is blocked"),
        "{}",
        answer.body
    );
}

/// A TLS client trusting the school's CA, through a CONNECT tunnel to `host` on the HTTPS
/// origin.
fn tls_through_connect(
    ward: &Ward,
    host: &str,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let port = ward.tls_origin.expect("origin").port();
    let mut stream = TcpStream::connect(ward.explicit).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        stream,
        "CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
    )
    .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("CONNECT answer");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ward.ward_ca.as_ref().expect("CA")).expect("CA file");
    use rustls::pki_types::pem::PemObject as _;
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(&pem).expect("pem"))
        .expect("root");
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).expect("name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("TLS client");
    rustls::StreamOwned::new(connection, stream)
}

#[test]
fn websockets_work_through_an_inspected_connection() {
    let ward = inspecting();
    let port = ward.tls_origin.expect("origin").port();
    let mut tls = tls_through_connect(&ward, "www.allowed.test");
    write!(
        tls,
        "GET /ws HTTP/1.1\r\nHost: www.allowed.test:{port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tls.read_exact(&mut byte).expect("read the response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    for message in [&b"hello"[..], b"second frame"] {
        tls.write_all(message).expect("send");
        let mut echoed = vec![0u8; message.len()];
        tls.read_exact(&mut echoed).expect("echo");
        assert_eq!(echoed, message);
    }
}

#[test]
fn a_request_for_another_site_on_an_inspected_connection_is_refused() {
    let ward = inspecting();
    let port = ward.tls_origin.expect("origin").port();
    let mut tls = tls_through_connect(&ward, "www.allowed.test");
    write!(
        tls,
        "GET / HTTP/1.1\r\nHost: casino.test:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 421"), "{answer}");
}

#[test]
fn garbage_instead_of_a_handshake_never_stops_the_proxy() {
    let ward = inspecting();
    let port = ward.tls_origin.expect("origin").port();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..40 {
        let mut stream = TcpStream::connect(ward.explicit).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(
            stream,
            "CONNECT www.allowed.test:{port} HTTP/1.1\r\nHost: www.allowed.test:{port}\r\n\r\n"
        )
        .expect("write");
        let mut junk: Vec<u8> = (0..(round * 37 % 700 + 5))
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 32) as u8
            })
            .collect();
        if round % 2 == 0 {
            // A TLS record header in front, so that the garbage reaches the handshake parser.
            let length = u16::try_from(junk.len()).expect("short");
            let mut record = vec![22, 3, 1];
            record.extend_from_slice(&length.to_be_bytes());
            record.extend_from_slice(&[1, 0]);
            record.append(&mut junk);
            junk = record;
        }
        let _ = stream.write_all(&junk);
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    let (_, answer) = through(
        &ward,
        &[],
        &ward.https_url("www.allowed.test", "/still-here"),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[test]
fn the_schools_certificate_is_offered_to_devices() {
    let ward = inspecting();
    let ca_pem = std::fs::read_to_string(ward.ward_ca.as_ref().expect("CA")).expect("CA file");
    let answer = curl(&[&format!("http://{}/ward/ca.crt", ward.explicit)]);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body.trim(), ca_pem.trim());
    assert!(
        answer
            .headers
            .to_ascii_lowercase()
            .contains("application/x-x509-ca-cert"),
        "{}",
        answer.headers
    );
    // DER, as openssl reads it, is the same certificate.
    let folder = support::temp_folder("ca-der");
    let der = folder.join("ca.der");
    let status = Command::new("curl")
        .args(["-s", "-o"])
        .arg(&der)
        .arg(format!("http://{}/ward/ca.der", ward.explicit))
        .status()
        .expect("curl");
    assert!(status.success());
    let output = Command::new("openssl")
        .args(["x509", "-inform", "DER", "-noout", "-subject", "-in"])
        .arg(&der)
        .output()
        .expect("openssl");
    let subject = String::from_utf8_lossy(&output.stdout);
    assert!(
        subject.contains("Ward inspection CA, Proxy Test School"),
        "{subject}"
    );

    let answer = curl(&[&format!("http://{}/ward/ca.mobileconfig", ward.explicit)]);
    assert_eq!(answer.status, 200);
    assert!(
        answer.body.contains("com.apple.security.root"),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains("PRIVATE"), "never the key");
    let page = curl(&[&format!("http://{}/ward/ca", ward.explicit)]);
    assert_eq!(page.status, 200);
    let authorities = ward.proxy.settings().certificates.as_ref().expect("CA");
    assert!(
        page.body
            .contains(&authorities.current.certificate().fingerprint()),
        "{}",
        page.body
    );
    let _ = std::fs::remove_dir_all(folder);
}

#[test]
fn chromium_trusting_the_school_ca_browses_https_and_sees_the_block_page() {
    let ward = Ward::start(Options {
        inspect: true,
        forms: true,
        ..Options::default()
    });
    let browser = support::webdriver::Browser::start_trusting(
        &[
            format!("--proxy-server=http://{}", ward.explicit),
            "--proxy-bypass-list=<-loopback>".into(),
            "--window-size=1280,900".into(),
        ],
        ward.ward_ca.as_ref().expect("CA"),
    );
    browser.open(&ward.https_url("www.allowed.test", "/hello"));
    browser.wait_for_text("/hello");
    let source = browser.source();
    assert!(source.contains("via: 1.1 ward"), "{source}");
    // Chromium speaks HTTP/2 to Ward, and Ward to the origin.
    let protocol =
        browser.run("return performance.getEntriesByType('navigation')[0].nextHopProtocol;");
    assert_eq!(protocol.as_str(), Some("h2"), "{protocol}");

    let blocked = ward.https_url("casino.test", "/roulette");
    browser.open(&blocked);
    browser.wait_for_text("This page is blocked");
    let text = browser.text();
    // In a child's words; the school's row is in the details for staff.
    assert!(
        text.contains("because it is about gambling, which means betting money"),
        "{text}"
    );
    let screenshot = browser.screenshot();
    assert!(screenshot.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        screenshot.len() > 10_000,
        "a page was drawn, not a blank window"
    );
    if let Ok(folder) = std::env::var("WARD_SCREENSHOTS") {
        std::fs::write(format!("{folder}/https-block-page.png"), &screenshot).expect("save");
    }

    // The block page's unblock request works from an HTTPS page too.
    browser.type_into("#reason", "We are learning about probability in maths");
    browser.click("#unblock button");
    browser.wait_for_text("Request sent");
    let forms = ward.forms.as_ref().expect("forms");
    let asks = forms.asks.lock().expect("asks").clone();
    assert_eq!(asks.len(), 1);
    assert_eq!(asks[0].url, blocked);
}

#[test]
fn the_policys_never_inspected_categories_and_groups_are_spliced() {
    let ward = Ward::start(Options {
        inspect: true,
        policy: format!(
            "{}\n[proxy]\nnever_inspect = [\"gambling\"]\ngroups_not_inspected = [\"staff\"]\n",
            support::POLICY
        ),
        ..Options::default()
    });
    let origin_ca = ward
        .origin_ca
        .as_ref()
        .expect("origin CA")
        .display()
        .to_string();
    // Staff (the laptop at 127.0.0.2) are not inspected: they see the origin's own certificate.
    let staff = |url: &str| {
        curl(&[
            "--interface",
            "127.0.0.2",
            "--proxy",
            &via(&ward),
            "--cacert",
            &origin_ca,
            url,
        ])
    };
    assert_eq!(staff(&ward.https_url("www.allowed.test", "/")).status, 200);
    // Gambling is never decrypted: allowed for staff, spliced...
    assert_eq!(staff(&ward.https_url("casino.test", "/")).status, 200);
    // ...and blocked for pupils by name, without a block page (nothing is decrypted).
    let (_, answer) = through(&ward, &[], &ward.https_url("casino.test", "/"));
    assert_ne!(answer.status, 200);
    assert!(!answer.body.contains("This page is blocked"));
    // Pupils' other sites are inspected as ever.
    let (_, answer) = through(&ward, &[], &ward.https_url("www.allowed.test", "/"));
    assert_eq!(answer.status, 200, "{}", answer.body);

    let inspection = ward.proxy.settings().inspection.as_ref().expect("on");
    let reasons: Vec<(String, Uninspected)> = inspection
        .uninspected()
        .into_iter()
        .map(|(key, _)| (key.host, key.why))
        .collect();
    assert!(
        reasons.contains(&("www.allowed.test".into(), Uninspected::Group)),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("casino.test".into(), Uninspected::Group))
            || reasons.contains(&("casino.test".into(), Uninspected::Category)),
        "{reasons:?}"
    );
    assert!(
        ward.events()
            .iter()
            .any(|e| e.action == Disposition::Block && e.host == "casino.test"),
        "the pupil's attempt is recorded"
    );
}
