//! The proxy as clients use it: curl, a Rust HTTP client (ureq) and headless Chromium through
//! Ward's proxy to a local origin server, and openssl's TLS server behind CONNECT and
//! transparent HTTPS.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::{Options, TlsOrigin, Ward, curl, form_value, webdriver::Browser};
use ward_events::Disposition;

fn via(ward: &Ward) -> String {
    format!("http://{}", ward.explicit)
}

#[test]
fn allowed_pages_pass_with_hop_by_hop_headers_removed() {
    let ward = Ward::start(Options::default());
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        "-H",
        "Proxy-Connection: keep-alive",
        &ward.url("www.allowed.test", "/hello?x=1"),
    ]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains("GET /hello?x=1\n"),
        "origin form upstream: {}",
        answer.body
    );
    assert!(
        answer
            .body
            .contains(&format!("host: www.allowed.test:{}\n", ward.origin.port())),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("via: 1.1 ward-"), "{}", answer.body);
    assert!(!answer.body.contains("proxy-connection"), "{}", answer.body);
    assert!(
        !answer.headers.to_ascii_lowercase().contains("x-hop"),
        "{}",
        answer.headers
    );

    // Several requests on one client connection (keep-alive), to two servers.
    let urls = [
        ward.url("www.allowed.test", "/one"),
        ward.url("casino.test", "/two"),
        ward.url("www.allowed.test", "/three"),
    ];
    let answer = curl(&["--proxy", &via(&ward), &urls[0], &urls[1], &urls[2]]);
    assert!(answer.body.contains("GET /one"), "{}", answer.body);
    assert!(answer.body.contains("GET /three"), "{}", answer.body);
    assert!(
        answer.body.contains("This page is blocked"),
        "{}",
        answer.body
    );
    assert_eq!(
        ward.proxy
            .stats()
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        2,
        "curl kept its one connection for the three URLs"
    );

    // Allowed browsing is counted per site and hour, not recorded request by request.
    let events = ward.events();
    let allowed: u32 = events
        .iter()
        .filter(|e| e.action == Disposition::Allow && e.host == "www.allowed.test")
        .map(|e| e.count)
        .sum();
    assert_eq!(allowed, 3, "{events:?}");
}

#[test]
fn blocked_pages_get_the_block_page_and_an_event() {
    let ward = Ward::start(Options::default());
    let url = ward.url("casino.test", "/roulette");
    let answer = curl(&["--proxy", &via(&ward), &url]);
    assert_eq!(answer.status, 403);
    let page = &answer.body;
    for expected in [
        "This page is blocked",
        "casino.test",
        "On-line gambling",
        "monitored",
        "Ask for this to be unblocked",
        "Report a concern",
        "rule gambling (unacceptable): category gambling, domain casino.test",
        &format!("action=\"http://{}/ward/unblock\"", ward.explicit),
    ] {
        assert!(page.contains(expected), "{expected:?} missing from\n{page}");
    }
    assert!(answer.headers.contains("no-store"), "{}", answer.headers);
    // Issue 20, item 14: the block page cannot be framed by another site, as the console.
    let headers = answer.headers.to_ascii_lowercase();
    for expected in [
        "x-frame-options: deny",
        "x-content-type-options: nosniff",
        "frame-ancestors 'none'",
        &format!("form-action 'self' http://{}", ward.explicit),
    ] {
        assert!(
            headers.contains(expected),
            "{expected:?} missing from {headers}"
        );
    }

    // The same site, by an encoded address form, is the same site.
    let sneaky = format!("http://CASINO.test.:{}/roulette", ward.origin.port());
    assert_eq!(curl(&["--proxy", &via(&ward), &sneaky]).status, 403);

    // URL entries block per URL.
    let chat = ward.url("www.allowed.test", "/chat/room1");
    let answer = curl(&["--proxy", &via(&ward), &chat]);
    assert_eq!(answer.status, 403);
    assert!(answer.body.contains("Chat rooms"), "{}", answer.body);

    // Staff (the staff laptop at 127.0.0.2) may visit the gambling site.
    let answer = curl(&["--interface", "127.0.0.2", "--proxy", &via(&ward), &url]);
    assert_eq!(answer.status, 200, "{}", answer.body);

    let events = ward.events();
    let blocked: Vec<_> = events
        .iter()
        .filter(|e| e.action == Disposition::Block)
        .collect();
    assert_eq!(blocked.len(), 3, "{events:?}");
    assert_eq!(blocked[0].url.as_deref(), Some(&*url));
    assert_eq!(blocked[0].categories, "gambling");
    assert_eq!(blocked[0].client_ip.to_string(), "127.0.0.1");
    assert!(
        blocked[0].reason.contains("rule gambling"),
        "{:?}",
        blocked[0]
    );
}

#[test]
fn illegal_list_urls_get_the_iwf_wording_and_no_unblock_request() {
    let ward = Ward::start(Options::default());
    let answer = curl(&[
        "--interface",
        "127.0.0.2",
        "--proxy",
        &via(&ward),
        &ward.url("www.allowed.test", "/abuse/1.jpg"),
    ]);
    assert_eq!(answer.status, 403, "staff too");
    assert!(
        answer.body.contains("Internet Watch Foundation"),
        "{}",
        answer.body
    );
    assert!(
        !answer.body.contains("Ask for this to be unblocked"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("Report a concern"), "{}", answer.body);
    // Another path of the same site is fine: the list is per URL.
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        &ward.url("www.allowed.test", "/about"),
    ]);
    assert_eq!(answer.status, 200);
}

#[test]
fn connect_tunnels_are_decided_on_the_host() {
    let ward = Ward::start(Options::default());
    let tls = TlsOrigin::start();
    // Allowed: a real TLS exchange through the tunnel.
    let allowed = format!("https://www.allowed.test:{}/", tls.port);
    let resolve = format!("www.allowed.test:{}:127.0.0.1", tls.port);
    let answer = curl(&[
        "-k",
        "--proxy",
        &via(&ward),
        "--resolve",
        &resolve,
        &allowed,
    ]);
    assert_eq!(answer.status, 200, "{} {}", answer.exit, answer.body);
    assert!(answer.body.contains("s_server"), "{}", answer.body);

    // Blocked: 403 with the reason, and the TLS exchange never starts.
    let blocked = format!("https://casino.test:{}/", tls.port);
    let answer = curl(&["-k", "-v", "--proxy", &via(&ward), &blocked]);
    assert_ne!(answer.exit, 0);
    let answer_head = curl(&[
        "-s",
        "--proxy",
        &via(&ward),
        "-p",
        "-k",
        &format!("https://casino.test:{}/", tls.port),
    ]);
    assert!(
        answer_head.headers.contains("403"),
        "CONNECT answered 403: {}",
        answer_head.headers
    );

    // A bare IP address: pupils may not (a common way round name filtering); staff may.
    let by_ip = format!("https://127.0.0.1:{}/", tls.port);
    let answer = curl(&["-k", "--proxy", &via(&ward), "-p", &by_ip]);
    assert!(answer.headers.contains("403"), "{}", answer.headers);
    let answer = curl(&[
        "-k",
        "--interface",
        "127.0.0.2",
        "--proxy",
        &via(&ward),
        "-p",
        &by_ip,
    ]);
    assert_eq!(answer.status, 200, "{}", answer.headers);
    let events = ward.events();
    assert!(
        events.iter().any(|e| e.action == Disposition::Block
            && e.host == "127.0.0.1"
            && e.reason.contains("IP address")),
        "{events:?}"
    );
}

#[test]
fn transparent_http_and_https() {
    let tls = TlsOrigin::start();
    let ward = Ward::start(Options {
        tls_port: tls.port,
        ..Options::default()
    });
    // HTTP, decided by Host: the client talks to Ward as if it were the server.
    let answer = curl(&[
        "-H",
        &format!("Host: www.allowed.test:{}", ward.origin.port()),
        &format!("http://{}/page", ward.transparent_http),
    ]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("GET /page"), "{}", answer.body);
    let answer = curl(&[
        "-H",
        "Host: casino.test",
        &format!("http://{}/page", ward.transparent_http),
    ]);
    assert_eq!(answer.status, 403);
    assert!(
        answer.body.contains("This page is blocked"),
        "{}",
        answer.body
    );

    // HTTPS, decided by the TLS server name and spliced to it unchanged.
    let https = ward.transparent_https.port();
    let answer = curl(&[
        "-k",
        "--resolve",
        &format!("www.allowed.test:{https}:127.0.0.1"),
        &format!("https://www.allowed.test:{https}/"),
    ]);
    assert_eq!(answer.status, 200, "exit {}: {}", answer.exit, answer.body);
    assert!(answer.body.contains("s_server"), "{}", answer.body);
    let answer = curl(&[
        "-k",
        "--resolve",
        &format!("casino.test:{https}:127.0.0.1"),
        &format!("https://casino.test:{https}/"),
    ]);
    assert_eq!(answer.status, 0, "blocked: the handshake is refused");
    assert_eq!(answer.exit, 35, "curl's TLS handshake error");
    // No server name (an address), and Ward cannot tell the destination: refused.
    let answer = curl(&["-k", &format!("https://127.0.0.1:{https}/")]);
    assert_eq!(answer.status, 0);
    // Not TLS at all on the HTTPS port: closed, and the proxy keeps going.
    let mut stream = TcpStream::connect(ward.transparent_https).expect("connect");
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty());
    let events = ward.events();
    assert!(
        events
            .iter()
            .any(|e| e.action == Disposition::Block && e.host == "casino.test" && e.url.is_none()),
        "{events:?}"
    );
}

#[test]
fn search_terms_are_recorded_and_safe_search_forced() {
    let ward = Ward::start(Options::default());
    let port = ward.origin.port();
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        &format!("http://www.google.com:{port}/search?q=how+to+make+slime&safe=off"),
    ]);
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .body
            .contains("GET /search?q=how+to+make+slime&safe=active\n"),
        "the server saw safe=active, not the pupil's safe=off: {}",
        answer.body
    );
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        &format!("http://www.youtube.com:{port}/results?search_query=minecraft"),
    ]);
    assert!(
        answer.body.contains("youtube-restrict: Strict\n"),
        "{}",
        answer.body
    );
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        &format!("http://duckduckgo.com:{port}/?q=otters&kp=-2"),
    ]);
    assert!(
        answer.body.contains("GET /?q=otters&kp=1\n"),
        "{}",
        answer.body
    );
    // Staff's group has safe search too (the default); the term is recorded with their device.
    let answer = curl(&[
        "--interface",
        "127.0.0.2",
        "--proxy",
        &via(&ward),
        &format!("http://www.bing.com:{port}/search?q=exam+timetable"),
    ]);
    assert!(answer.body.contains("adlt=strict"), "{}", answer.body);

    let events = ward.events();
    let terms: Vec<(&str, Option<&str>, Disposition)> = events
        .iter()
        .filter_map(|e| {
            e.search_term
                .as_deref()
                .map(|t| (t, e.device.map(|_| "staff laptop"), e.action))
        })
        .collect();
    assert_eq!(
        terms,
        [
            ("how to make slime", None, Disposition::Rewrite),
            ("minecraft", None, Disposition::Rewrite),
            ("otters", None, Disposition::Rewrite),
            ("exam timetable", Some("staff laptop"), Disposition::Rewrite),
        ]
    );
}

/// Events with a detection alert, waiting up to 5 s for page scans (they finish after the
/// page has gone to the client) until `enough` have arrived.
fn detections(ward: &Ward, enough: usize) -> Vec<ward_events::Event> {
    let mut found = Vec::new();
    for _ in 0..50 {
        found.extend(
            ward.events()
                .into_iter()
                .filter(|e| e.alert.as_ref().is_some_and(|a| a.detection.is_some())),
        );
        if found.len() >= enough {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    found
}

/// The detections about `path` seen within five seconds (a detection about an earlier request
/// that arrives late is not counted against this one).
fn detections_about(ward: &Ward, path: &str) -> Vec<ward_events::Event> {
    let mut found = Vec::new();
    for _ in 0..50 {
        found.extend(ward.events().into_iter().filter(|e| {
            e.alert.as_ref().is_some_and(|a| a.detection.is_some())
                && e.url.as_deref().is_some_and(|url| url.contains(path))
        }));
        if !found.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    found
}

#[test]
fn risk_detection_reads_searches_addresses_and_streamed_pages() {
    let ward = Ward::start(Options {
        detection: true,
        ..Options::default()
    });
    // A page whose words arrive in 7-byte frames, split mid-word and by an inline tag: it
    // reaches the client unchanged, and its text raises a self-harm alert with its title.
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        &ward.url("www.allowed.test", "/diary"),
    ]);
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .body
            .contains("I want to k1ll mys<b></b>elf tonight."),
        "{}",
        answer.body
    );
    let found = detections(&ward, 1);
    assert_eq!(found.len(), 1, "{found:?}");
    let event = &found[0];
    let alert = event.alert.as_ref().expect("alert");
    assert_eq!(alert.category, "self-harm");
    // Unknown clients are the pupils group, years 5 and 6: the primary severity.
    assert_eq!(alert.severity, 5);
    let detail = alert.detection.as_deref().expect("detail");
    assert!(
        detail.contains("Found in a page's text by the phrase lists: Self-harm and suicide")
            && detail.contains("kill myself (+60)")
            && detail.contains("Page title: My diary")
            && detail.contains("i want to kill myself tonight"),
        "{detail}"
    );
    assert_eq!(
        event.url.as_deref(),
        Some(ward.url("www.allowed.test", "/diary").as_str())
    );

    // A search: found in the term (and again in the echoing page, which shows the query).
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        &ward.url("www.google.com", "/search?q=painless+5u1c1d3+methods"),
    ]);
    assert!(
        answer.body.contains("accept-encoding: identity"),
        "pages are asked for uncompressed: {}",
        answer.body
    );
    let found = detections(&ward, 2);
    let places: Vec<(&str, Option<&str>)> = found
        .iter()
        .map(|e| (e.reason.as_str(), e.search_term.as_deref()))
        .collect();
    assert!(
        places.contains(&(
            "Self-harm and suicide found in a search",
            Some("painless 5u1c1d3 methods")
        )),
        "{places:?}"
    );

    // An address on its own (no search engine): `/how-to-kill-myself` in the path.
    curl(&[
        "--proxy",
        &via(&ward),
        &ward.url("www.allowed.test", "/how%20to-kill_myself"),
    ]);
    let found = detections(&ward, 1);
    assert!(
        found
            .iter()
            .any(|e| e.reason == "Self-harm and suicide found in a web address"),
        "{found:?}"
    );

    // A page over the limit is scanned up to it: the words past 64 KiB are not seen.
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        &ward.url("www.allowed.test", "/long"),
    ]);
    assert!(
        answer.body.len() > 200_000,
        "the whole page still reaches the client"
    );
    assert_eq!(detections_about(&ward, "/long"), []);

    // Exclusions: the site, then the phrase; harmless text raises nothing.
    let exclude = |exclusions| {
        ward.proxy
            .settings()
            .detection
            .as_ref()
            .expect("detection")
            .set_exclusions(exclusions)
    };
    exclude(ward_proxy::Exclusions {
        sites: vec!["allowed.test".into()],
        ..Default::default()
    });
    curl(&[
        "--proxy",
        &via(&ward),
        &ward.url("www.allowed.test", "/diary"),
    ]);
    assert_eq!(detections_about(&ward, "/diary"), [], "a site excluded");
    exclude(ward_proxy::Exclusions {
        phrases: vec!["kill myself".into()],
        ..Default::default()
    });
    curl(&[
        "--proxy",
        &via(&ward),
        &ward.url("www.allowed.test", "/diary"),
    ]);
    assert_eq!(detections_about(&ward, "/diary"), [], "a phrase excluded");
    curl(&[
        "--proxy",
        &via(&ward),
        &ward.url("www.allowed.test", "/otters"),
    ]);
    assert_eq!(detections_about(&ward, "/otters"), []);
}

#[test]
fn risk_detection_reads_the_server_name_of_encrypted_connections() {
    let tls = TlsOrigin::start();
    let ward = Ward::start(Options {
        tls_port: tls.port,
        detection: true,
        ..Options::default()
    });
    // Transparent HTTPS: the ClientHello's server name is all there is to read.
    let https = ward.transparent_https.port();
    let answer = curl(&[
        "-k",
        "--resolve",
        &format!("suicide-methods.test:{https}:127.0.0.1"),
        &format!("https://suicide-methods.test:{https}/"),
    ]);
    assert_eq!(answer.status, 200, "allowed, and spliced: {}", answer.body);
    let found = detections(&ward, 1);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].host, "suicide-methods.test");
    assert_eq!(
        found[0].reason,
        "Self-harm and suicide found in a web address"
    );
    assert_eq!(
        found[0].alert.as_ref().map(|a| a.category.as_str()),
        Some("self-harm")
    );

    // A CONNECT tunnel, likewise by its host name.
    curl(&[
        "-k",
        "--proxy",
        &via(&ward),
        &format!("https://suicide-methods.test:{}/", tls.port),
    ]);
    let found = detections(&ward, 1);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].host, "suicide-methods.test");

    // A harmless name raises nothing.
    curl(&[
        "-k",
        "--resolve",
        &format!("www.allowed.test:{https}:127.0.0.1"),
        &format!("https://www.allowed.test:{https}/"),
    ]);
    assert!(detections(&ward, 1).is_empty());
}

#[test]
fn large_bodies_stream_both_ways() {
    let ward = Ward::start(Options::default());
    // 256 MiB down: streamed (the proxy never holds it).
    let folder = support::temp_folder("download");
    let file = folder.join("big");
    let status = std::process::Command::new("curl")
        .args(["-s", "--max-time", "120", "-o"])
        .arg(&file)
        .args([
            "-w",
            "%{http_code}",
            "--proxy",
            &via(&ward),
            &ward.url("www.allowed.test", "/big?mb=256"),
        ])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&status.stdout), "200");
    assert_eq!(std::fs::metadata(&file).expect("file").len(), 256 << 20);
    // 64 MiB up, chunked.
    let upload = folder.join("up");
    std::fs::write(&upload, vec![b'u'; 64 << 20]).expect("write");
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &format!("@{}", upload.display()),
        &ward.url("www.allowed.test", "/upload"),
    ]);
    assert_eq!(answer.body, format!("received {}", 64 << 20));
    std::fs::remove_dir_all(&folder).expect("clean up");
}

#[test]
fn websocket_upgrades_are_tunnelled() {
    let ward = Ward::start(Options::default());
    let mut stream = TcpStream::connect(ward.explicit).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        stream,
        "GET {} HTTP/1.1\r\nHost: www.allowed.test:{}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        ward.url("www.allowed.test", "/ws"),
        ward.origin.port()
    )
    .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream
            .read_exact(&mut byte)
            .expect("read the response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    for message in [&b"hello"[..], b"second frame"] {
        stream.write_all(message).expect("send");
        let mut echoed = vec![0u8; message.len()];
        stream.read_exact(&mut echoed).expect("echo");
        assert_eq!(echoed, message);
    }
}

#[test]
fn proxy_log_ins_when_the_policy_asks_for_them() {
    let policy = format!(
        "{}\n[proxy]\nunknown_clients = \"authenticate\"\n",
        support::POLICY
    );
    let ward = Ward::start(Options {
        policy,
        authenticate: true,
        ..Options::default()
    });
    let url = ward.url("casino.test", "/");
    let answer = curl(&["--proxy", &via(&ward), &url]);
    assert_eq!(answer.status, 407);
    assert!(
        answer
            .headers
            .to_ascii_lowercase()
            .contains("proxy-authenticate: basic realm=\"ward\""),
        "{}",
        answer.headers
    );
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        "--proxy-user",
        "teacher:wrong",
        &url,
    ]);
    assert_eq!(answer.status, 407);
    // The teacher browses as staff: gambling is acceptable for staff in this policy.
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        "--proxy-user",
        "teacher:secret",
        &url,
    ]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        !answer.body.contains("proxy-authorization"),
        "credentials are not forwarded: {}",
        answer.body
    );
    // A registered device needs no log-in.
    let answer = curl(&["--interface", "127.0.0.2", "--proxy", &via(&ward), &url]);
    assert_eq!(answer.status, 200);
    assert_eq!(
        ward.proxy
            .stats()
            .failed_logins
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn a_portal_log_in_browses_as_the_person_until_log_out() {
    let ward = Ward::start(Options {
        authenticate: true,
        ..Options::default()
    });
    let casino = ward.url("casino.test", "/");
    let portal = format!("http://{}/ward/login", ward.explicit);
    let logout = format!("http://{}/ward/logout", ward.explicit);
    // Not logged in: this address is an unknown client, and gambling is blocked.
    assert_eq!(curl(&["--proxy", &via(&ward), &casino]).status, 403);

    let page = curl(&[
        "--proxy",
        &via(&ward),
        &format!("{portal}?then=javascript:alert(1)"),
    ]);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Log in to the internet"),
        "{}",
        page.body
    );
    assert!(page.body.contains("60 minutes"), "{}", page.body);
    assert!(
        !page.body.contains("javascript:"),
        "no script address: {}",
        page.body
    );
    let token = form_value(&page.body, "token");

    // A wrong password, then a forged form, change nothing.
    let wrong = curl(&[
        "--proxy",
        &via(&ward),
        "-d",
        &format!("username=teacher&password=wrong&token={token}"),
        &portal,
    ]);
    assert_eq!(wrong.status, 403);
    assert!(wrong.body.contains("did not work"), "{}", wrong.body);
    let forged = curl(&[
        "--proxy",
        &via(&ward),
        "-d",
        "username=teacher&password=secret&token=0000",
        &portal,
    ]);
    assert_eq!(forged.status, 403);
    assert_eq!(curl(&["--proxy", &via(&ward), &casino]).status, 403);

    // Logged in: the address browses as the teacher (staff may visit the gambling site),
    // without sending credentials with each request, and the block page knows who it is.
    let then = ward.url("casino.test", "/roulette");
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        "--data-urlencode",
        "username=teacher",
        "--data-urlencode",
        "password=secret",
        "--data-urlencode",
        &format!("token={token}"),
        "--data-urlencode",
        &format!("then={then}"),
        &portal,
    ]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer
            .body
            .contains("using the internet as <strong>teacher</strong>"),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains(&format!("href=\"{then}\"")),
        "{}",
        answer.body
    );
    assert_eq!(curl(&["--proxy", &via(&ward), &casino]).status, 200);
    let chat = curl(&[
        "--proxy",
        &via(&ward),
        &ward.url("www.allowed.test", "/chat/room1"),
    ]);
    assert_eq!(chat.status, 403, "chat rooms stay blocked for staff too");
    assert!(chat.body.contains("teacher"), "{}", chat.body);
    // Another address is not logged in.
    let other = curl(&["--interface", "127.0.0.3", "--proxy", &via(&ward), &casino]);
    assert_eq!(other.status, 403);

    // Logged out: back to the unknown-client group.
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        "-d",
        &format!("token={token}"),
        &logout,
    ]);
    assert_eq!(answer.status, 200);
    assert!(answer.body.contains("logged out"), "{}", answer.body);
    assert_eq!(curl(&["--proxy", &via(&ward), &casino]).status, 403);

    assert_eq!(
        *ward.portal.lock().expect("portal log"),
        ["teacher opened at 127.0.0.1", "teacher ended at 127.0.0.1"]
    );
    let events = ward.events();
    let blocked_chat = events
        .iter()
        .find(|e| {
            e.action == Disposition::Block && e.url.as_deref().is_some_and(|u| u.contains("/chat/"))
        })
        .expect("the blocked chat room is recorded");
    assert_eq!(blocked_chat.username.as_deref(), Some("teacher"));
}

#[test]
fn transparent_clients_are_sent_to_the_portal_when_the_policy_asks_for_log_ins() {
    let policy = format!(
        "{}\n[proxy]\nunknown_clients = \"authenticate\"\n",
        support::POLICY
    );
    let ward = Ward::start(Options {
        policy,
        authenticate: true,
        ..Options::default()
    });
    let host = format!("www.allowed.test:{}", ward.origin.port());
    let answer = curl(&[
        "-H",
        &format!("Host: {host}"),
        &format!("http://{}/page?x=1", ward.transparent_http),
    ]);
    assert_eq!(answer.status, 302, "{}", answer.body);
    let location = answer
        .headers
        .lines()
        .find_map(|line| {
            line.strip_prefix("location: ")
                .or_else(|| line.strip_prefix("Location: "))
        })
        .expect("a Location header")
        .trim()
        .to_owned();
    let expected = format!(
        "http://{}/ward/login?then=http%3A%2F%2Fwww.allowed.test%3A{}%2Fpage%3Fx%3D1",
        ward.transparent_http,
        ward.origin.port()
    );
    assert_eq!(location, expected);
    // A registered device is not sent anywhere.
    let answer = curl(&[
        "--interface",
        "127.0.0.2",
        "-H",
        &format!("Host: {host}"),
        &format!("http://{}/page", ward.transparent_http),
    ]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    // Logged in at the portal (reached through the same transparent listener), the page opens.
    let page = curl(&[&location]);
    assert_eq!(page.status, 200, "{}", page.body);
    let token = form_value(&page.body, "token");
    let answer = curl(&[
        "-d",
        &format!("username=teacher&password=secret&token={token}"),
        &format!("http://{}/ward/login", ward.transparent_http),
    ]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = curl(&[
        "-H",
        &format!("Host: {host}"),
        &format!("http://{}/page", ward.transparent_http),
    ]);
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[test]
fn malformed_requests_get_400_and_slow_clients_are_cut_off() {
    let ward = Ward::start(Options {
        header_timeout: Duration::from_secs(1),
        ..Options::default()
    });
    let send = |bytes: &[u8]| -> String {
        let mut stream = TcpStream::connect(ward.explicit).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream.write_all(bytes).expect("write");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET http://exa mple.com/ HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET https://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: bad_host..name\r\nConnection: close\r\n\r\n",
        b"CONNECT example.com HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    ] {
        let answer = send(bad);
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{:?} → {answer:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // A head larger than the limit.
    let mut huge = b"GET http://www.allowed.test/ HTTP/1.1\r\n".to_vec();
    for i in 0..2000 {
        huge.extend_from_slice(format!("X-Padding-{i}: {}\r\n", "p".repeat(40)).as_bytes());
    }
    huge.extend_from_slice(b"\r\n");
    let answer = send(&huge);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");

    // A client that sends half a request and stops is disconnected after the header timeout.
    let mut slow = TcpStream::connect(ward.explicit).expect("connect");
    slow.write_all(b"GET http://www.allowed.test/ HTTP/1.1\r\nHost: w")
        .expect("write");
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut off after about a second"
    );

    // And the proxy still works.
    let answer = curl(&["--proxy", &via(&ward), &ward.url("www.allowed.test", "/ok")]);
    assert_eq!(answer.status, 200);
}

#[test]
fn connections_beyond_the_limit_are_refused_with_503() {
    let ward = Ward::start(Options {
        max_connections: 2,
        ..Options::default()
    });
    // Two clients in the middle of a download hold both places (a client that has sent no
    // request would be closed to make room instead).
    let held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(ward.explicit).expect("connect");
            let head = format!(
                "GET {} HTTP/1.1\r\nHost: www.allowed.test\r\n\r\n",
                ward.url("www.allowed.test", "/big?mb=500")
            );
            stream.write_all(head.as_bytes()).expect("write");
            let mut first = [0u8; 12];
            stream.read_exact(&mut first).expect("the download starts");
            stream
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while ward
        .proxy
        .stats()
        .connections
        .load(std::sync::atomic::Ordering::Relaxed)
        < 2
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the two connections were not accepted"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        &ward.url("www.allowed.test", "/third"),
    ]);
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(
        ward.proxy
            .stats()
            .refused
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // Once one leaves, the next client is served.
    drop(held);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let answer = curl(&[
            "--proxy",
            &via(&ward),
            &ward.url("www.allowed.test", "/fourth"),
        ]);
        if answer.status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never served again: {}",
            answer.status
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_rust_http_client_through_the_proxy() {
    let ward = Ward::start(Options::default());
    let proxy = ureq::Proxy::new(&via(&ward)).expect("proxy");
    let agent = ureq::Agent::config_builder()
        .proxy(Some(proxy))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut response = agent
        .get(ward.url("www.allowed.test", "/from-ureq"))
        .call()
        .expect("allowed");
    assert_eq!(response.status(), 200);
    assert!(
        response
            .body_mut()
            .read_to_string()
            .expect("body")
            .contains("GET /from-ureq")
    );
    // ureq tunnels every proxied request through CONNECT, which is decided on the host.
    match agent.get(ward.url("casino.test", "/")).call() {
        Err(ureq::Error::ConnectProxyFailed(message)) => {
            assert!(message.contains("403"), "{message}")
        }
        other => panic!("expected the CONNECT to be refused with 403: {other:?}"),
    }
}

#[test]
fn the_pac_file_points_browsers_at_the_proxy() {
    let ward = Ward::start(Options::default());
    let answer = curl(&[&format!("http://{}/proxy.pac", ward.explicit)]);
    assert_eq!(answer.status, 200);
    assert!(
        answer.headers.contains("application/x-ns-proxy-autoconfig"),
        "{}",
        answer.headers
    );
    assert!(
        answer
            .body
            .contains(&format!("return \"PROXY {}\";", ward.explicit)),
        "{}",
        answer.body
    );
    assert!(
        !answer.body.contains("; DIRECT"),
        "no unfiltered fallback: {}",
        answer.body
    );
    // WPAD: a DNS name "wpad" pointed at Ward.
    let answer = curl(&[
        "-H",
        "Host: wpad.school.internal",
        &format!("http://{}/wpad.dat", ward.transparent_http),
    ]);
    assert!(answer.body.contains("FindProxyForURL"), "{}", answer.body);
}

#[test]
fn the_block_page_in_chromium_sends_an_unblock_request_and_a_concern() {
    let ward = Ward::start(Options {
        forms: true,
        ..Options::default()
    });
    let browser = Browser::start_with(&[
        format!("--proxy-server=http://{}", ward.explicit),
        // Chromium sends loopback addresses direct unless told otherwise.
        "--proxy-bypass-list=<-loopback>".into(),
    ]);
    browser.open(&ward.url("www.allowed.test", "/hello"));
    browser.wait_for_text("GET /hello");
    assert!(browser.source().contains("via: 1.1 ward"));

    let blocked = ward.url("casino.test", "/roulette");
    browser.open(&blocked);
    browser.wait_for_text("This page is blocked");
    let text = browser.text();
    // In a child's words; the school's row is in the details for staff.
    assert!(
        text.contains("because it is about gambling, which means betting money"),
        "{text}"
    );
    assert!(text.contains("monitored"), "{text}");
    browser.type_into("#reason", "We are learning about probability in maths");
    browser.click("#unblock button");
    browser.wait_for_text("Request sent");

    let forms = ward.forms.as_ref().expect("forms");
    let asks = forms.asks.lock().expect("asks").clone();
    assert_eq!(asks.len(), 1);
    let request = &asks[0];
    assert_eq!(request.url, blocked);
    assert_eq!(request.host, "casino.test");
    assert_eq!(request.group, "pupils");
    assert_eq!(request.categories, "gambling");
    assert_eq!(request.reason, "We are learning about probability in maths");
    assert_eq!(request.client_ip.to_string(), "127.0.0.1");

    browser.open(&blocked);
    browser.wait_for_text("This page is blocked");
    browser.type_into("#message", "Someone keeps sending me links to this");
    browser.click("#concern button");
    browser.wait_for_text("Thank you for telling us");
    let reports = forms.reports.lock().expect("reports").clone();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].message, "Someone keeps sending me links to this");
    assert_eq!(reports[0].url, blocked);
    assert_eq!(reports[0].group, "pupils");

    // A form posted from elsewhere (no valid token) is refused.
    let page = curl(&["--proxy", &via(&ward), &blocked]).body;
    let token = form_value(&page, "token");
    let forged = curl(&[
        "--proxy",
        &via(&ward),
        "--data-urlencode",
        "url=http://www.other.test/",
        "--data-urlencode",
        &format!("token={token}"),
        "--data-urlencode",
        "reason=spam",
        &format!("http://{}/ward/unblock", ward.explicit),
    ]);
    assert_eq!(forged.status, 403, "{}", forged.body);
}

/// Issue 20, items 1 and 2: a pupil (or a member of staff) cannot reach Ward's console, the
/// proxy itself or anything else on the machine through the proxy, however the address is
/// written and whatever a name resolves to.
#[test]
fn nothing_reaches_loopback_or_ward_itself() {
    // Nothing on loopback is named as an internal server here.
    let ward = Ward::start(Options {
        internal_servers: Some(Vec::new()),
        ..Options::default()
    });
    let tls = TlsOrigin::start();
    let port = ward.origin.port();
    let proxy = via(&ward);
    let mut urls: Vec<String> = [
        "localhost",
        "LOCALHOST",
        "localhost.",
        "127.0.0.1",
        "127.1.2.3",
        "0x7f.1",
        "2130706433",
        "0177.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",
        // A name that resolves to loopback (the test's name table says 127.0.0.1).
        "www.allowed.test",
    ]
    .iter()
    .map(|host| format!("http://{host}:{port}/login"))
    .collect();
    // The proxy's own port, by name: before, this looped ~100 times through the proxy.
    urls.push(format!("http://localhost:{}/x", ward.explicit.port()));
    for interface in ["127.0.0.1", "127.0.0.2"] {
        for url in &urls {
            let answer = curl(&["--interface", interface, "--proxy", &proxy, url]);
            assert_eq!(answer.status, 403, "{interface} {url}: {}", answer.body);
            assert!(
                !answer.body.contains("Origin page"),
                "{url} reached the origin: {}",
                answer.body
            );
        }
        // CONNECT to loopback by name and by address.
        for target in [
            format!("https://localhost:{}/", tls.port),
            format!("https://127.0.0.1:{}/", tls.port),
        ] {
            let answer = curl(&[
                "-k",
                "--interface",
                interface,
                "--proxy",
                &proxy,
                "-p",
                &target,
            ]);
            assert!(
                answer.headers.contains("403"),
                "{interface} {target}: {}",
                answer.headers
            );
            assert!(!answer.body.contains("s_server"), "{}", answer.body);
        }
    }
    let requests = ward
        .proxy
        .stats()
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        requests <= (urls.len() as u64 + 2) * 2,
        "no request went round the proxy again ({requests} requests)"
    );
    let events = ward.events();
    assert!(
        events
            .iter()
            .any(|e| e.action == Disposition::Block && e.reason.contains("loopback")),
        "refusals are recorded: {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.action == Disposition::Block && e.reason.contains("Ward's own address")),
        "{events:?}"
    );

    // Transparent HTTPS to a name that resolves to loopback.
    let answer = curl(&[
        "-k",
        "--resolve",
        &format!(
            "www.allowed.test:{}:127.0.0.1",
            ward.transparent_https.port()
        ),
        &format!(
            "https://www.allowed.test:{}/",
            ward.transparent_https.port()
        ),
    ]);
    assert_ne!(answer.exit, 0, "the handshake is refused");
}

/// Issue 20, item 2: a request that comes back to the proxy that sent it (through another
/// proxy, or a name the reach rule does not know) is refused at once.
#[test]
fn a_request_that_went_round_the_proxy_is_refused() {
    let ward = Ward::start(Options::default());
    let answer = curl(&["--proxy", &via(&ward), &ward.url("www.allowed.test", "/")]);
    let own = answer
        .body
        .lines()
        .find_map(|line| line.strip_prefix("via: "))
        .expect("the origin saw Ward's Via")
        .to_owned();
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        "-H",
        &format!("Via: 1.0 school-cache, {own}"),
        &ward.url("www.allowed.test", "/"),
    ]);
    assert_eq!(answer.status, 508, "{}", answer.body);
    // Another Ward's entry is not this one's.
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        "-H",
        "Via: 1.1 ward-00000000",
        &ward.url("www.allowed.test", "/"),
    ]);
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// `openssl s_client` through the proxy's CONNECT to `connect`, sending `server_name` in its
/// ClientHello: whether the TLS handshake completed.
fn s_client_through(ward: &Ward, connect: &str, server_name: &str) -> bool {
    let output = std::process::Command::new("openssl")
        .args(["s_client", "-brief", "-proxy"])
        .arg(ward.explicit.to_string())
        .args(["-connect", connect, "-servername", server_name])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl (Debian package openssl) runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    said.contains("CONNECTION ESTABLISHED")
}

/// Issue 20, item 3: the ClientHello inside a CONNECT tunnel is read, and its server name is
/// decided too, so a tunnel to an allowed host cannot carry a handshake for a blocked one.
#[test]
fn the_server_name_inside_a_connect_tunnel_is_decided_too() {
    let ward = Ward::start(Options::default());
    let tls = TlsOrigin::start();
    let allowed = format!("www.allowed.test:{}", tls.port);
    assert!(s_client_through(&ward, &allowed, "www.allowed.test"));
    // Another allowed name: passes when the policy decides on both names.
    assert!(s_client_through(&ward, &allowed, "www.bing.com"));
    // Domain fronting onto an allowed host.
    assert!(!s_client_through(&ward, &allowed, "casino.test"));
    let events = ward.events();
    assert!(
        events.iter().any(|e| e.action == Disposition::Block
            && e.host == "casino.test"
            && e.categories.contains("gambling")
            && e.reason.contains("tunnel opened to www.allowed.test")),
        "{events:?}"
    );

    // Plain HTTP inside a CONNECT tunnel (curl's --proxytunnel; ureq does this for every
    // request) is decided request by request, on its own URL.
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        "-p",
        &ward.url("www.allowed.test", "/inside"),
    ]);
    assert!(answer.body.contains("GET /inside"), "{}", answer.body);
    let answer = curl(&[
        "--proxy",
        &via(&ward),
        "-p",
        "-H",
        "Host: casino.test",
        &ward.url("www.allowed.test", "/inside"),
    ]);
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("casino.test"), "{}", answer.body);
    // Anything else is refused.
    let mut stream = TcpStream::connect(ward.explicit).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let connect = format!(
        "CONNECT www.allowed.test:{0} HTTP/1.1\r\nHost: www.allowed.test:{0}\r\n\r\n",
        tls.port
    );
    stream.write_all(connect.as_bytes()).expect("write");
    let mut head = [0u8; 512];
    let n = stream.read(&mut head).expect("read");
    assert!(head[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &head[..n]);
    stream.write_all(b"\x00\x01binary\r\n").expect("write");
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{rest:?}");
    let events = ward.events();
    assert!(
        events
            .iter()
            .any(|e| e.action == Disposition::Block && e.reason.contains("neither TLS nor HTTP")),
        "{events:?}"
    );

    // A policy that forbids any mismatch.
    let ward = Ward::start(Options {
        policy: format!(
            "{}\n[proxy]\nserver_name_mismatch = \"block\"\n",
            support::POLICY
        ),
        ..Options::default()
    });
    assert!(s_client_through(&ward, &allowed, "www.allowed.test"));
    assert!(!s_client_through(&ward, &allowed, "www.bing.com"));
}

/// Issue 20, items 6 and 7: one address holding its per-client maximum of half-sent requests
/// locks nobody else out, and its own oldest waiting connections give way to new ones; a
/// listener full of half-sent requests from many addresses makes room the same way.
#[test]
fn half_sent_requests_cannot_lock_others_out() {
    let ward = Ward::start(Options {
        max_connections: 48,
        max_connections_per_client: 16,
        ..Options::default()
    });
    let half_sent = |from: [u8; 4]| -> Option<TcpStream> {
        let mut stream = ward_testkit::connect_from(from, ward.explicit)?;
        stream
            .write_all(b"GET http://www.allowed.test/ HTTP/1.1\r\nHost: w")
            .ok()?;
        Some(stream)
    };
    // One address opens twice its share and sends half a request on each.
    let flood: Vec<TcpStream> = (0..32).filter_map(|_| half_sent([127, 0, 0, 9])).collect();
    assert_eq!(flood.len(), 32);
    std::thread::sleep(Duration::from_millis(300));
    let closed = flood
        .iter()
        .filter(|stream| {
            let mut stream = *stream;
            stream
                .set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            let mut byte = [0u8; 1];
            match stream.read(&mut byte) {
                Ok(0) => true,
                Ok(_) => false,
                Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
            }
        })
        .count();
    assert!(
        closed >= 16,
        "the oldest gave way to the newest: {closed} closed"
    );
    // Others are served; so is the flooding address's next real request.
    for interface in ["127.0.0.2", "127.0.0.1", "127.0.0.9"] {
        let answer = curl(&[
            "--interface",
            interface,
            "--proxy",
            &via(&ward),
            &ward.url("www.allowed.test", "/served"),
        ]);
        assert_eq!(answer.status, 200, "{interface}: {}", answer.body);
    }
    // Many addresses, one half-sent request each, fill the listener: a new client still gets in.
    let many: Vec<TcpStream> = (10..70u8)
        .filter_map(|n| half_sent([127, 0, 1, n]))
        .collect();
    assert_eq!(many.len(), 60);
    std::thread::sleep(Duration::from_millis(300));
    let answer = curl(&[
        "--interface",
        "127.0.0.2",
        "--proxy",
        &via(&ward),
        &ward.url("www.allowed.test", "/still"),
    ]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(ward.proxy.connection_slots().shed_count() >= 16 + 12);
}

#[test]
fn someone_who_owes_the_agreement_answers_it_at_the_portal_before_any_log_in_browses() {
    let ward = Ward::start(Options {
        authenticate: true,
        ..Options::default()
    });
    let casino = ward.url("casino.test", "/");
    let portal = format!("http://{}/ward/login", ward.explicit);
    let agree = format!("http://{}/ward/agree", ward.explicit);
    // A typed proxy log-in is refused until the agreement is answered at the portal.
    let typed = || {
        curl(&[
            "--proxy",
            &via(&ward),
            "--proxy-user",
            "newcomer:secret",
            &casino,
        ])
    };
    let answer = typed();
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(
        answer.body.contains("Please agree to the rules first"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("/ward/login"));
    // At the portal the right password opens the agreement, not a session.
    let page = curl(&["--proxy", &via(&ward), &portal]);
    let token = form_value(&page.body, "token");
    let page = curl(&[
        "--proxy",
        &via(&ward),
        "-d",
        &format!("username=newcomer&password=secret&token={token}"),
        &portal,
    ]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Our rules"), "{}", page.body);
    assert!(page.body.contains("I am kind online."));
    let pending = form_value(&page.body, "pending");
    assert_eq!(
        curl(&["--proxy", &via(&ward), &casino]).status,
        403,
        "no session yet"
    );
    // Declined: nothing opens; the typed log-in is still refused.
    let page = curl(&[
        "--proxy",
        &via(&ward),
        "-d",
        &format!("answer=decline&pending={pending}&token={token}"),
        &agree,
    ]);
    assert_eq!(page.status, 403);
    assert!(page.body.contains("You said no"), "{}", page.body);
    assert_eq!(typed().status, 403);
    // Again, and accepted: the session opens, and the typed log-in browses.
    let page = curl(&[
        "--proxy",
        &via(&ward),
        "-d",
        &format!("username=newcomer&password=secret&token={token}"),
        &portal,
    ]);
    let pending = form_value(&page.body, "pending");
    let page = curl(&[
        "--proxy",
        &via(&ward),
        "-d",
        &format!("answer=accept&pending={pending}&token={token}"),
        &agree,
    ]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("newcomer"), "{}", page.body);
    assert_eq!(typed().status, 200, "staff may visit the gambling site");
    let log = ward.portal.lock().expect("portal log").clone();
    assert!(log.contains(&"newcomer declined".to_owned()), "{log:?}");
    assert!(log.contains(&"newcomer accepted".to_owned()), "{log:?}");
}
