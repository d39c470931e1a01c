//! Test fixtures: a local origin server (hyper, in this process), a TLS origin (`openssl
//! s_server`, Debian's openssl), Ward's proxy on ephemeral ports in this process with a small
//! policy and category index, and curl as the client.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ward_events::NewUnblockRequest;
use ward_events::{Device, DeviceId, Event, EventSink, SchoolId};
use ward_gateway::{FilterState, LiveState};
use ward_lists::ListFormat;
use ward_policy::PolicySnapshot;
use ward_proxy::{AuthUser, Authenticator, ListenerKind, Listeners, Proxy, ProxySettings};
use ward_proxy::{BlockPageActions, ConcernReport, NotRecorded, Outcome};

pub use ward_testkit::{free_port, temp_folder, webdriver};

pub const POLICY: &str = r#"
name = "Proxy Test School"
timezone = "Europe/London"
unknown_group = "pupils"

[[group]]
id = "pupils"
title = "Pupils"
kind = "pupil"
years = ["5", "6"]

[[group]]
id = "staff"
title = "Staff"
kind = "staff"

[[rule]]
id = "abuse"
action = "Child sexual abuse images"
categories = ["iwf"]
verdict = "unacceptable and illegal"

[[rule]]
id = "gambling"
action = "On-line gambling"
categories = ["gambling"]
verdict = "unacceptable"
[rule.groups]
staff = "acceptable"

[[rule]]
id = "chat"
action = "Chat rooms"
categories = ["chat"]
verdict = "unacceptable"
"#;

fn index() -> Arc<ward_lists::CategoryIndex> {
    ward_testkit::category_index(&[
        ("gambling", ListFormat::Domains, "casino.test\n", false),
        ("chat", ListFormat::Urls, "www.allowed.test/chat/\n", false),
        (
            "iwf",
            ListFormat::Illegal,
            "www.allowed.test/abuse/\n",
            true,
        ),
    ])
}

/// 127.0.0.2 is a staff laptop; everyone else is an unknown pupil.
pub fn state(policy: &str) -> FilterState {
    let policy = PolicySnapshot::from_toml(policy, index())
        .expect("test policy loads")
        .0;
    let devices = [Device {
        id: DeviceId(7),
        name: "STAFF-7".into(),
        network: "127.0.0.2".parse().expect("address"),
        group: Some("staff".into()),
        location: "Staff room".into(),
    }];
    let (state, warnings) = FilterState::new(Arc::new(policy), &devices);
    assert!(warnings.is_empty(), "{warnings:?}");
    state
}

/// The test origin: `/big?mb=N` streams N MiB, `/upload` counts what it is sent, `/ws`
/// switches protocols and echoes, anything else echoes the request it saw.
pub async fn origin(
    request: Request<Incoming>,
) -> Result<Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>, Infallible> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    if path == "/big" {
        let mb: usize = query
            .strip_prefix("mb=")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let big = Big {
            chunk: Bytes::from(vec![b'w'; 64 * 1024]),
            left: mb * 16,
        };
        return Ok(Response::new(big.boxed()));
    }
    if path == "/diary" || path == "/long" {
        // A page for risk detection: the words come in small frames, split mid-word; `/long`
        // puts them after 200 KiB of harmless text (past the test proxy's 64 KiB limit).
        let padding = if path == "/long" {
            "<p>A long page about otters and their rivers.</p>".repeat(4200)
        } else {
            String::new()
        };
        let page = format!(
            "<html><head><title>My diary</title></head><body>{padding}<p>Nobody listens. \
             I want to k1ll mys<b></b>elf tonight.</p></body></html>"
        );
        let frames: Vec<Bytes> = page
            .as_bytes()
            .chunks(7)
            .map(Bytes::copy_from_slice)
            .collect();
        let stream = Frames {
            frames: frames.into_iter(),
        };
        return Ok(Response::builder()
            .header("content-type", "text/html; charset=utf-8")
            .body(stream.boxed())
            .expect("response"));
    }
    if path == "/upload" {
        let mut body = request.into_body();
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map(|f| f.into_data())
                && let Ok(data) = data
            {
                total += data.len();
            }
        }
        return Ok(Response::new(
            Full::new(Bytes::from(format!("received {total}"))).boxed(),
        ));
    }
    if path == "/ws" && request.headers().contains_key("upgrade") {
        let upgrade = hyper::upgrade::on(request);
        tokio::spawn(async move {
            if let Ok(upgraded) = upgrade.await {
                let mut io = TokioIo::new(upgraded);
                let mut buffer = [0u8; 1024];
                while let Ok(n) = io.read(&mut buffer).await {
                    if n == 0 || io.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        let response = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .body(Full::new(Bytes::new()).boxed())
            .expect("response");
        return Ok(response);
    }
    let mut seen = format!("{} {}\n", request.method(), request.uri());
    let mut names: Vec<_> = request
        .headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        for value in request.headers().get_all(&name) {
            seen.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
        }
    }
    let body = format!(
        "<html><head><title>Origin page</title></head><body><pre id=\"seen\">{seen}</pre></body></html>"
    );
    let response = Response::builder()
        .header("content-type", "text/html")
        .header("connection", "keep-alive, X-Hop")
        .header("x-hop", "should not reach the client")
        .body(Full::new(Bytes::from(body)).boxed())
        .expect("response");
    Ok(response)
}

/// `left` copies of `chunk`, one frame each: a large body that is never all in memory.
struct Big {
    chunk: Bytes,
    left: usize,
}

impl hyper::body::Body for Big {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= 1;
        std::task::Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }
}

/// A body sent as the given frames.
struct Frames {
    frames: std::vec::IntoIter<Bytes>,
}

impl hyper::body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(self.frames.next().map(|frame| Ok(Frame::data(frame))))
    }
}

type OriginBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// Serves [`origin`] on `listener` until the runtime stops.
async fn serve_origin(listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(origin))
                .with_upgrades()
                .await;
        });
    }
}

/// A certificate authority of the tests' own (not Ward's): it signs the TLS origin's
/// certificate, and Ward trusts it through `upstream_ca` as it would a school's intranet CA.
pub struct TestCa {
    pub pem: PathBuf,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new(folder: &std::path::Path) -> TestCa {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Test origin CA");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let certificate = params.self_signed(&key).expect("test CA");
        let pem = folder.join("origin-ca.pem");
        std::fs::write(&pem, certificate.pem()).expect("write the test CA");
        TestCa {
            pem,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A TLS server configuration for `names` (HTTP/2 and HTTP/1.1).
    pub fn server_config(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let key = rcgen::KeyPair::generate().expect("key");
        let params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params");
        let certificate = params
            .signed_by(&key, &self.issuer)
            .expect("origin certificate");
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("origin TLS config");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// Names the TLS origin has a certificate for (the test lists' names, and one never inspected).
pub const TLS_NAMES: &[&str] = &[
    "www.allowed.test",
    "casino.test",
    "www.google.com",
    "www.bing.com",
    "www.youtube.com",
    "duckduckgo.com",
    "never.test",
    "suicide-methods.test",
];

/// The HTTPS origin: the same pages as the plain one, over TLS with HTTP/2 or HTTP/1.1 (as
/// the client's ALPN asks). Every response says which protocol it was sent over
/// (`x-origin-protocol`) and offers HTTP/3 (`alt-svc`), which Ward must not pass on.
async fn serve_tls_origin(listener: tokio::net::TcpListener, config: Arc<rustls::ServerConfig>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            let service = hyper::service::service_fn(|request: Request<Incoming>| async move {
                let version = format!("{:?}", request.version());
                let mut response = origin(request).await?;
                let headers = response.headers_mut();
                headers.insert("x-origin-protocol", version.parse().expect("header value"));
                headers.insert(
                    "alt-svc",
                    "h3=\":443\"; ma=86400".parse().expect("header value"),
                );
                if h2 {
                    headers.remove("connection");
                    headers.remove("x-hop");
                    headers.remove("upgrade");
                }
                Ok::<_, Infallible>(response)
            });
            if h2 {
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
            } else {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .with_upgrades()
                    .await;
            }
        });
    }
}

/// The block page's forms as the proxy hands them on: recorded here for the tests to read.
#[derive(Debug, Default)]
pub struct Forms {
    pub asks: std::sync::Mutex<Vec<NewUnblockRequest>>,
    pub reports: std::sync::Mutex<Vec<ConcernReport>>,
}

impl BlockPageActions for Forms {
    fn ask_unblock(
        &self,
        ask: NewUnblockRequest,
    ) -> ward_proxy::actions::Pending<'_, Result<Outcome, NotRecorded>> {
        self.asks.lock().expect("asks").push(ask);
        Box::pin(std::future::ready(Ok(Outcome::Recorded)))
    }

    fn report_concern(
        &self,
        report: ConcernReport,
    ) -> ward_proxy::actions::Pending<'_, Result<Outcome, NotRecorded>> {
        self.reports.lock().expect("reports").push(report);
        Box::pin(std::future::ready(Ok(Outcome::Recorded)))
    }
}

/// Accepts `teacher` / `secret` as staff, and notes portal sessions opened and ended.
pub struct TestLogins {
    pub portal: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Authenticator for TestLogins {
    fn check<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<AuthUser>> + Send + 'a>> {
        Box::pin(async move {
            (matches!(username, "teacher" | "newcomer") && password == "secret").then(|| AuthUser {
                username: username.into(),
                person: None,
                group: Some("staff".into()),
            })
        })
    }

    /// `newcomer` owes the agreement until they accept it at the portal.
    fn agreement_due<'a>(
        &'a self,
        user: &'a AuthUser,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Option<ward_proxy::PortalAgreement>, String>>
                + Send
                + 'a,
        >,
    > {
        let accepted = self
            .portal
            .lock()
            .expect("portal log")
            .iter()
            .any(|line| line == &format!("{} accepted", user.username));
        Box::pin(std::future::ready(Ok((user.username == "newcomer"
            && !accepted)
            .then(|| ward_proxy::PortalAgreement {
                id: 7,
                version: 2,
                title: "Our rules".into(),
                body: "- [kind] I am kind online.".into(),
                pictured: false,
            }))))
    }

    fn answer_agreement<'a>(
        &'a self,
        user: &'a AuthUser,
        agreement: &'a ward_proxy::PortalAgreement,
        accepted: bool,
        _address: IpAddr,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        assert_eq!(agreement.id, 7);
        let what = if accepted { "accepted" } else { "declined" };
        self.portal
            .lock()
            .expect("portal log")
            .push(format!("{} {what}", user.username));
        Box::pin(std::future::ready(Ok(())))
    }

    fn portal_session<'a>(
        &'a self,
        user: &'a str,
        address: IpAddr,
        opened: bool,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        let what = if opened { "opened" } else { "ended" };
        self.portal
            .lock()
            .expect("portal log")
            .push(format!("{user} {what} at {address}"));
        Box::pin(std::future::ready(()))
    }
}

/// An HTTPS origin: `openssl s_server -www` with a throwaway self-signed certificate.
pub struct TlsOrigin {
    pub port: u16,
    child: Child,
    _folder: PathBuf,
}

impl TlsOrigin {
    pub fn start() -> TlsOrigin {
        let folder = temp_folder("tls");
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=www.allowed.test",
            ])
            .arg("-keyout")
            .arg(folder.join("key.pem"))
            .arg("-out")
            .arg(folder.join("cert.pem"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl (Debian package openssl) makes a certificate");
        assert!(status.success());
        let port = free_port();
        let child = Command::new("openssl")
            .args(["s_server", "-www", "-quiet", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(folder.join("cert.pem"))
            .arg("-key")
            .arg(folder.join("key.pem"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "openssl s_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsOrigin {
            port,
            child,
            _folder: folder,
        }
    }
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the test can change about the proxy.
pub struct Options {
    pub policy: String,
    pub authenticate: bool,
    /// The block page's forms are recorded (else they say they cannot be sent).
    pub forms: bool,
    pub tls_port: u16,
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub detection: bool,
    /// Servers the proxy may reach on loopback (`proxy.internal_servers`); `None`: all of
    /// 127.0.0.1 (the origin and the TLS origins), Ward's own listeners still excepted.
    pub internal_servers: Option<Vec<String>>,
    /// HTTPS inspection on, with a school CA made for the test; the HTTPS origin runs, and
    /// transparent HTTPS is sent on to it.
    pub inspect: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            policy: POLICY.into(),
            authenticate: false,
            forms: false,
            tls_port: 443,
            header_timeout: Duration::from_secs(5),
            max_connections: 1000,
            max_connections_per_client: 1000,
            detection: false,
            internal_servers: None,
            inspect: false,
        }
    }
}

/// Ward's proxy in this process, with the origin; names of the test lists resolve to the origin.
pub struct Ward {
    pub explicit: SocketAddr,
    pub transparent_http: SocketAddr,
    pub transparent_https: SocketAddr,
    pub origin: SocketAddr,
    pub proxy: Arc<Proxy>,
    /// What the block page's forms sent, when they are on.
    pub forms: Option<Arc<Forms>>,
    pub events: tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Event>>,
    /// Portal sessions opened and ended, as the authenticator heard of them.
    pub portal: Arc<std::sync::Mutex<Vec<String>>>,
    _tasks: tokio::task::JoinSet<()>,
    pub runtime: tokio::runtime::Runtime,
    /// With `inspect`: the HTTPS origin, and the school CA's certificate (PEM file) that
    /// clients are given.
    pub tls_origin: Option<SocketAddr>,
    pub ward_ca: Option<PathBuf>,
    pub origin_ca: Option<PathBuf>,
    _folder: PathBuf,
}

impl Ward {
    pub fn start(options: Options) -> Ward {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let folder = temp_folder("ward");
        let (sink, receiver) = EventSink::channel(100_000);
        let portal = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tls_origin = None;
        let mut ward_ca = None;
        let mut origin_ca = None;
        let (explicit, transparent_http, transparent_https, origin, proxy, forms, tasks) = runtime
            .block_on(async {
                let origin_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("origin");
                let origin = origin_listener.local_addr().expect("origin address");
                tokio::spawn(serve_origin(origin_listener));
                let forms = options.forms.then(|| Arc::new(Forms::default()));
                let mut settings = ProxySettings::new(SchoolId(1));
                if options.inspect {
                    let test_ca = TestCa::new(&folder);
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("TLS origin");
                    tls_origin = Some(listener.local_addr().expect("TLS origin address"));
                    tokio::spawn(serve_tls_origin(listener, test_ca.server_config(TLS_NAMES)));
                    let ca = ward_proxy::ca::CaFolder::in_data_dir(&folder);
                    ca.init("Proxy Test School", 1, jiff::Timestamp::now())
                        .expect("the school CA is made");
                    let authorities = Arc::new(ca.load().expect("the school CA loads"));
                    ward_ca = Some(ca.path().join("ca.pem"));
                    let never = ward_proxy::inspect::NeverInspect::parse("never.test\n")
                        .expect("never list");
                    settings.inspection = Some(Arc::new(
                        ward_proxy::inspect::Inspection::new(
                            authorities.current.clone(),
                            Some(&test_ca.pem),
                            never,
                        )
                        .expect("inspection starts"),
                    ));
                    settings.certificates = Some(authorities);
                    origin_ca = Some(test_ca.pem.clone());
                }
                let hosts: HashMap<String, IpAddr> = [
                    "www.allowed.test",
                    "casino.test",
                    "www.google.com",
                    "www.bing.com",
                    "www.youtube.com",
                    "duckduckgo.com",
                    // A name risk detection fires on (for tunnels, the name is all it reads).
                    "suicide-methods.test",
                    // HTTPS inspection: a site never inspected, and one whose certificate is
                    // not for its name.
                    "never.test",
                    "wrong.test",
                ]
                .into_iter()
                .map(|name| (name.to_owned(), origin.ip()))
                .collect();
                settings.hosts = hosts;
                settings.internal_servers = options
                    .internal_servers
                    .clone()
                    .unwrap_or_else(|| vec!["127.0.0.1".into()])
                    .iter()
                    .map(|server| server.parse().expect("internal server"))
                    .collect();
                settings.connect_ports = None;
                settings.tls_port = match tls_origin {
                    Some(address) => address.port(),
                    None => options.tls_port,
                };
                settings.header_timeout = options.header_timeout;
                settings.max_connections = options.max_connections;
                settings.max_connections_per_client = options.max_connections_per_client;
                if options.detection {
                    settings.detection = Some(Arc::new(ward_proxy::Detection::new(
                        ward_detect::Scanner::new(ward_detect::default_lists()),
                        64 * 1024,
                    )));
                }
                if options.authenticate {
                    settings.authenticator = Some(Arc::new(TestLogins {
                        portal: portal.clone(),
                    }));
                }
                let live = Arc::new(LiveState::new(state(&options.policy)));
                if let Some(forms) = &forms {
                    settings.actions = Some(forms.clone());
                }
                let proxy = Arc::new(Proxy::new(live, settings, Some(sink)));
                let listeners = Listeners::bind(&[
                    (
                        ListenerKind::Explicit,
                        "127.0.0.1:0".parse().expect("address"),
                    ),
                    (
                        ListenerKind::TransparentHttp,
                        "127.0.0.1:0".parse().expect("address"),
                    ),
                    (
                        ListenerKind::TransparentHttps,
                        "127.0.0.1:0".parse().expect("address"),
                    ),
                ])
                .await
                .expect("bind");
                let addresses = listeners.local_addresses();
                let tasks = ward_proxy::serve(proxy.clone(), listeners);
                (
                    addresses[0].1,
                    addresses[1].1,
                    addresses[2].1,
                    origin,
                    proxy,
                    forms,
                    tasks,
                )
            });
        Ward {
            explicit,
            transparent_http,
            transparent_https,
            origin,
            proxy,
            forms,
            events: tokio::sync::Mutex::new(receiver),
            portal,
            _tasks: tasks,
            runtime,
            tls_origin,
            ward_ca,
            origin_ca,
            _folder: folder,
        }
    }

    /// The origin's port: test URLs name it, since the names resolve to the origin's address.
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.origin.port())
    }

    /// An `https://` URL on the HTTPS origin (with `inspect`).
    pub fn https_url(&self, host: &str, path: &str) -> String {
        let port = self
            .tls_origin
            .expect("the HTTPS origin runs with inspect")
            .port();
        format!("https://{host}:{port}{path}")
    }

    /// Events recorded so far (blocked, rewritten, searches; allowed counts after a flush).
    pub fn events(&self) -> Vec<Event> {
        self.proxy.flush_counts();
        let mut receiver = self.events.blocking_lock();
        let mut events = Vec::new();
        while let Ok(event) = receiver.try_recv() {
            events.push(event);
        }
        events
    }
}

/// curl's answer: status, headers and body.
pub struct Answer {
    pub status: u16,
    pub headers: String,
    pub body: String,
    pub exit: i32,
}

/// Runs curl with `arguments`, reporting the status, the response headers and the body.
pub fn curl(arguments: &[&str]) -> Answer {
    let folder = temp_folder("curl");
    let headers = folder.join("headers");
    let output = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "20",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-D",
        ])
        .arg(&headers)
        .args(arguments)
        .output()
        .expect("curl (Debian package curl) runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let answer = Answer {
        status: status.trim().parse().unwrap_or(0),
        headers: std::fs::read_to_string(&headers).unwrap_or_default(),
        body: body.to_owned(),
        exit: output.status.code().unwrap_or(-1),
    };
    let _ = std::fs::remove_dir_all(&folder);
    answer
}

/// `name="NAME" value="..."` from a page.
pub fn form_value(html: &str, name: &str) -> String {
    html.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        .to_owned()
}
