//! One HTTP/1.1 client connection (explicit proxy or transparent HTTP): every request on it is
//! identified, decided, and then forwarded, tunnelled, or answered by Ward itself.
//!
//! Order for every request:
//! 1. the target (absolute form, `Host`, or CONNECT's `host:port`), in canonical form, else 400;
//! 2. requests for Ward itself (PAC/WPAD file, the block page's forms);
//! 3. who: a `Proxy-Authorization` log-in, else the device register; unknown clients of an
//!    explicit proxy must log in when the policy says so (407);
//! 4. `decide` on the full URL (CONNECT: on the host) → block page (HTTP) or 403 (CONNECT);
//! 5. search terms recorded, safe search forced;
//! 6. forwarded on this connection's server connection (kept while the client uses the same
//!    server), or tunnelled (CONNECT, WebSocket upgrades).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use askama::Template;
use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use jiff::Timestamp;
use serde::Deserialize;
use tokio::net::TcpStream;
use ward_events::Disposition;
use ward_gateway::search::{self, Engine, YOUTUBE_RESTRICT};
use ward_gateway::slots::Slot;
use ward_gateway::{Client, FilterState, PortalSession};
use ward_lists::Host;
use ward_policy::{
    Action as Verdict, Request as PolicyRequest, UnknownClients, YouTubeMode, decide,
};

use crate::actions::{ConcernReport, Outcome};
use crate::detect::{self, PageScan, Place, ScanBody, Subject};
use crate::io::{IdleStream, splice};
use crate::page::{self, AgreementPage, BlockPage, Body, PasswordPage, PortalPage};
use crate::proxy::{ConnectError, Proxy, Seen, Stats};
use crate::target::{self, Endpoint, HttpTarget};

mod site;

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Explicit forward proxy: absolute-form requests and CONNECT.
    Explicit,
    /// Transparent HTTP: origin-form requests, decided by `Host`.
    Transparent,
}

/// A client connection's state.
struct Connection {
    proxy: Arc<Proxy>,
    peer: SocketAddr,
    local: SocketAddr,
    mode: Mode,
    /// For HTTP inside a CONNECT tunnel: who the tunnel was opened for.
    tunnel_client: Option<Client>,
    /// The connection's slot: busy from its first request; tunnels keep it while they last.
    slot: Arc<Slot>,
    /// For an inspected HTTPS connection: the site its TLS was made for. Every request on it
    /// must be for that site, and is fetched over TLS.
    inspected: Option<Endpoint>,
    /// Whether the client speaks HTTP/2 to Ward (an inspected connection only).
    client_h2: bool,
    /// The user a Kerberos log-in on this connection proved (later requests on it are theirs).
    negotiated: std::sync::OnceLock<crate::proxy::Named>,
    /// The server connection of the last request, kept for the next request to the same server.
    /// With whether it was made for a client that may reach private networks (a request from
    /// one who may not does not reuse it).
    server: Mutex<Option<(Endpoint, bool, Upstream)>>,
}

/// A connection to a server: HTTP/1.1 (one request at a time) or HTTP/2 (shared by requests).
enum Upstream {
    H1(SendRequest<Incoming>),
    H2(hyper::client::conn::http2::SendRequest<Incoming>),
}

impl Upstream {
    async fn ready(&mut self) -> hyper::Result<()> {
        match self {
            Upstream::H1(sender) => sender.ready().await,
            Upstream::H2(sender) => sender.ready().await,
        }
    }

    async fn send(&mut self, request: Request<Incoming>) -> hyper::Result<Response<Incoming>> {
        match self {
            Upstream::H1(sender) => sender.send_request(request).await,
            Upstream::H2(sender) => sender.send_request(request).await,
        }
    }
}

/// Serves one client connection until it closes; `slot` is marked busy at its first request.
pub async fn serve_connection(
    proxy: Arc<Proxy>,
    stream: TcpStream,
    peer: SocketAddr,
    mode: Mode,
    slot: Arc<Slot>,
) {
    let local = match stream.local_addr() {
        Ok(local) => local,
        Err(_) => return,
    };
    serve_http(proxy, stream, (peer, local), mode, None, None, slot).await
}

/// An inspected HTTPS connection once its TLS is up: served as transparent HTTP (HTTP/2 when
/// `h2`), every request decided on its full `https://` URL for the `client` the connection was
/// decided for, and fetched from `endpoint` over TLS.
///
/// Boxed, as [`serve_tunnelled`] is: a request on it can open a tunnel that is inspected in turn.
pub(crate) fn serve_inspected<S>(
    proxy: Arc<Proxy>,
    stream: S,
    endpoint: Endpoint,
    h2: bool,
    client: Client,
    addresses: (SocketAddr, SocketAddr),
    slot: Arc<Slot>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    Box::pin(serve_inspected_now(
        proxy, stream, endpoint, h2, client, addresses, slot,
    ))
}

async fn serve_inspected_now<S>(
    proxy: Arc<Proxy>,
    stream: S,
    endpoint: Endpoint,
    h2: bool,
    client: Client,
    (peer, local): (SocketAddr, SocketAddr),
    slot: Arc<Slot>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if !h2 {
        return serve_http(
            proxy,
            stream,
            (peer, local),
            Mode::Transparent,
            Some(client),
            Some(endpoint),
            slot,
        )
        .await;
    }
    let settings = &proxy.settings;
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(100)
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX));
    let io = TokioIo::new(IdleStream::new(stream, settings.idle_timeout));
    let connection = Arc::new(Connection {
        proxy: proxy.clone(),
        peer,
        local,
        mode: Mode::Transparent,
        tunnel_client: Some(client),
        slot,
        inspected: Some(endpoint),
        client_h2: true,
        negotiated: std::sync::OnceLock::new(),
        server: Mutex::new(None),
    });
    let service = service_fn(move |request| {
        let connection = connection.clone();
        async move { Ok::<_, Infallible>(connection.timed(request).await) }
    });
    if let Err(error) = builder.serve_connection(io, service).await {
        tracing::debug!(%peer, %error, "inspected HTTP/2 connection ended");
    }
}

/// Plain HTTP sent inside a CONNECT tunnel (some clients tunnel every request): served as
/// transparent HTTP, so that every request in it is decided on its own URL, for the `client`
/// the CONNECT was decided for.
///
/// Boxed: a tunnel is opened while a request is served, and serving it serves requests, so the
/// future's type would otherwise contain itself.
pub(crate) fn serve_tunnelled<S>(
    proxy: Arc<Proxy>,
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    client: Client,
    slot: Arc<Slot>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    Box::pin(serve_http(
        proxy,
        stream,
        (peer, local),
        Mode::Transparent,
        Some(client),
        None,
        slot,
    ))
}

async fn serve_http<S>(
    proxy: Arc<Proxy>,
    stream: S,
    (peer, local): (SocketAddr, SocketAddr),
    mode: Mode,
    tunnel_client: Option<Client>,
    inspected: Option<Endpoint>,
    slot: Arc<Slot>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let settings = &proxy.settings;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .max_buf_size(settings.max_header_bytes.max(8192));
    let io = TokioIo::new(IdleStream::new(stream, settings.idle_timeout));
    let connection = Arc::new(Connection {
        proxy: proxy.clone(),
        peer,
        local,
        mode,
        tunnel_client,
        slot,
        inspected,
        client_h2: false,
        negotiated: std::sync::OnceLock::new(),
        server: Mutex::new(None),
    });
    let service = service_fn(move |request| {
        let connection = connection.clone();
        async move { Ok::<_, Infallible>(connection.timed(request).await) }
    });
    if let Err(error) = builder.serve_connection(io, service).with_upgrades().await {
        tracing::debug!(%peer, %error, "client connection ended");
    }
}

impl Connection {
    /// [`Connection::handle`], its time counted in the proxy's latency histogram.
    async fn timed(&self, request: Request<Incoming>) -> Response<Body> {
        let started = std::time::Instant::now();
        let response = self.handle(request).await;
        self.proxy.stats.latency.observe(started.elapsed());
        response
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        self.slot.busy();
        // The clock is read once: the client is identified, the request decided and its event
        // recorded at the same time.
        let now = Timestamp::now();
        let proxy = &self.proxy;
        Stats::add(&proxy.stats.requests);
        let state = proxy.live.load();
        let school = state.policy.spec().name.as_str();
        if proxy.looped(request.headers()) {
            // Covered by the reach rule (the proxy never connects to itself) too: a request
            // that comes back through another proxy is refused here.
            Stats::add(&proxy.stats.bad_requests);
            return page::message(
                school,
                StatusCode::LOOP_DETECTED,
                "Loop",
                "This request has already been through Ward once.",
            );
        }
        if request.method() == Method::CONNECT {
            if self.inspected.is_some() {
                // A tunnel inside an inspected connection would carry what Ward cannot read.
                Stats::add(&proxy.stats.bad_requests);
                return page::text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "CONNECT is not allowed inside an inspected connection.\n".into(),
                );
            }
            return self.connect(request, &state, now).await;
        }
        let mut target = match target::http_target(
            request.uri(),
            request
                .headers()
                .get(header::HOST)
                .map(HeaderValue::as_bytes),
            self.inspected.is_some(),
        ) {
            Ok(target) => target,
            Err(error) => {
                Stats::add(&proxy.stats.bad_requests);
                return page::message(
                    school,
                    StatusCode::BAD_REQUEST,
                    "Bad request",
                    &error.to_string(),
                );
            }
        };
        if let Some(inspected) = &self.inspected {
            // The connection's certificate was made for one site: a request for another on it
            // (domain fronting, or a browser reusing the connection) is sent back to ask anew.
            if target.endpoint.host != inspected.host {
                Stats::add(&proxy.stats.bad_requests);
                return page::message(
                    school,
                    StatusCode::MISDIRECTED_REQUEST,
                    "Wrong site",
                    "This connection was made for another site.",
                );
            }
            // Sent where the connection was made for: transparent HTTPS reaches the server on
            // Ward's configured port whatever port the device thinks it used.
            target.endpoint.port = inspected.port;
        } else if self.is_ward(&target) {
            return self.ward(request, &target, &state).await;
        }
        let client = match self.identify(&request, &state, now).await {
            Ok(client) => client,
            Err(response) => return response,
        };
        let policy_request = PolicyRequest::Url(target.url.clone());
        let decision = decide(&state.policy, &policy_request, &client.identity, now);
        let engine = target
            .endpoint
            .host
            .domain()
            .and_then(|name| search::engine_of(name.as_str()));
        let search_term = engine.and_then(|e| search::search_term(e, &target.path_and_query));
        // The URL is written out only for what is recorded one by one (blocks and searches);
        // other allowed requests are only counted per site.
        let url = (decision.action == Verdict::Block || search_term.is_some())
            .then(|| target.display_url());
        let seen = Seen {
            at: now,
            client_ip: self.peer.ip(),
            client: &client,
            host: &target.endpoint.host,
            url: url.as_deref(),
            search_term,
        };
        if decision.action == Verdict::Block {
            Stats::add(&proxy.stats.blocked);
            let categories = decision.category_list();
            let reason = decision.reason.to_string();
            proxy.record(
                &seen,
                Disposition::Block,
                categories.clone(),
                reason.clone(),
                ward_gateway::event_alert(&decision),
            );
            let illegal = matches!(decision.reason, ward_policy::Reason::IllegalList { .. });
            let url = url.as_deref().unwrap_or_default();
            let public = self.public_address();
            let zone = state.policy.time_zone().clone();
            let block = BlockPage {
                school,
                host: &target.endpoint.host.to_string(),
                url,
                topic: page::topic(&state.policy, &decision),
                rule_words: page::rule_words(&state.policy, &decision),
                categories: ward_policy::readable_with_ids(categories.split(',')),
                reason,
                group: decision.group.as_str(),
                user: client.identity.user.as_deref().unwrap_or("not logged in"),
                client: match client.device {
                    Some(device) => format!("device {device} ({})", self.peer.ip()),
                    None => self.peer.ip().to_string(),
                },
                time: now
                    .to_zoned_datetime(zone)
                    .strftime("%A %-d %B %Y, %H:%M")
                    .to_string(),
                illegal,
                unblock_action: format!("http://{public}/ward/unblock"),
                concern_action: format!("http://{public}/ward/concern"),
                token: proxy.form_token(self.peer.ip(), url),
            };
            return match block.render() {
                Ok(html) => page::html_posting_to(
                    StatusCode::FORBIDDEN,
                    html,
                    Some(&format!("http://{public}")),
                ),
                Err(error) => {
                    tracing::error!(%error, "block page did not render");
                    page::text(
                        StatusCode::FORBIDDEN,
                        format!("Blocked by Ward: {}\n", block.reason),
                    )
                }
            };
        }

        // Safe search: the engine's parameter on search URLs, YouTube's header everywhere on
        // YouTube.
        let mut path = None;
        let mut youtube = None;
        if let Some(engine) = engine {
            if client.safe_search {
                path = search::force_safe_search(engine, &target.path_and_query);
            }
            if engine == Engine::YouTube {
                youtube = match client.youtube {
                    YouTubeMode::Strict => Some("Strict"),
                    YouTubeMode::Moderate => Some("Moderate"),
                    YouTubeMode::Off => None,
                };
            }
        }
        if seen.search_term.is_some() {
            let engine = engine.map_or("", Engine::name);
            let (action, reason) = if path.is_some() || youtube.is_some() {
                (
                    Disposition::Rewrite,
                    format!("search; safe search forced ({engine})"),
                )
            } else {
                (Disposition::Allow, format!("search ({engine})"))
            };
            proxy.record(&seen, action, decision.category_list(), reason, None);
        } else {
            proxy.count(self.peer.ip(), &client, &target.endpoint.host);
        }
        // Risk detection: the search term, else the address; the page as it streams back.
        let mut scan = None;
        if let (Some(detection), Some(events)) = (&proxy.settings.detection, &proxy.events)
            && detection.watches(&client, &target.endpoint.host)
        {
            let subject = self.detection_subject(
                &state,
                &client,
                target.endpoint.host.to_string(),
                url.clone().unwrap_or_else(|| target.display_url()),
            );
            let (place, text) = match &seen.search_term {
                Some(term) => (Place::Search, term.clone()),
                None => (Place::Address, search::decoded(&subject.url)),
            };
            // On a help service's site even a search is help-seeking; an address on an
            // informational site is tempered as its pages are, a search (the child's own words)
            // is not.
            let site = match (place, subject.site) {
                (Place::Search, ward_detect::SiteKind::Informational) => {
                    ward_detect::SiteKind::Ordinary
                }
                (_, site) => site,
            };
            let findings =
                ward_detect::context::temper(detection.scanner(), detection.scan(&text), site);
            detect::record(
                detection,
                events,
                &subject,
                place,
                &findings,
                seen.search_term.as_deref(),
                None,
            );
            scan = Some(PageScan {
                detection: detection.clone(),
                events: events.clone(),
                subject,
                text: ward_detect::PageText::new(detection.page_limit),
            });
        }
        let path = path.unwrap_or_else(|| target.path_and_query.clone());
        self.forward(request, &target.endpoint, &path, youtube, scan, &seen)
            .await
    }

    /// Who and what a detection finding on this connection is about.
    fn detection_subject(
        &self,
        state: &FilterState,
        client: &Client,
        host: String,
        url: String,
    ) -> Subject {
        Subject::new(
            self.proxy.settings.school,
            state,
            client,
            self.peer.ip(),
            host,
            url,
        )
    }

    /// Who is asking. `Err` is the response to send instead: 407 on the explicit proxy, a
    /// redirect to the portal for transparent HTTP, when the policy wants unknown clients to log
    /// in.
    async fn identify(
        &self,
        request: &Request<Incoming>,
        state: &FilterState,
        now: Timestamp,
    ) -> Result<Client, Response<Body>> {
        let proxy = &self.proxy;
        if let Some(client) = &self.tunnel_client {
            return Ok(Client::clone(client));
        }
        let base = state.client(self.peer.ip(), proxy.live.sessions(), now);
        let school = state.policy.spec().name.as_str();
        if let Some(header) = request.headers().get(header::PROXY_AUTHORIZATION) {
            let (client, named) = proxy
                .login(header.as_bytes(), &base, state, self.peer.ip(), now)
                .await
                .map_err(|()| page::authentication_required(school, &proxy.settings))?;
            // The acceptable use agreement comes first, however they logged in: it is
            // answered at the portal.
            if let Some(user) = &named.user
                && proxy.agreement_owed(user).await
            {
                return Err(page::message(
                    school,
                    StatusCode::FORBIDDEN,
                    "Please agree to the rules first",
                    &format!(
                        "Before you use the internet, open http://{}/ward/login and log in there: you will be asked to read the school's rules and say if you agree.",
                        self.public_address()
                    ),
                ));
            }
            // Kerberos is connection-based for browsers: the connection is the user's from
            // now on (as squid does), so later requests on it need no new ticket.
            if named.by == ward_events::IdentifiedBy::DomainLogin {
                let _ = self.negotiated.set(named);
            }
            return Ok(client);
        }
        if let Some(named) = self.negotiated.get() {
            return Ok(proxy.client_for(named, &base, state));
        }
        let must_log_in = !base.registered
            && base.identity.user.is_none()
            && proxy.settings.authenticator.is_some()
            && state.policy.spec().proxy.unknown_clients == UnknownClients::Authenticate;
        if must_log_in {
            return Err(match self.mode {
                Mode::Explicit => page::authentication_required(school, &proxy.settings),
                // A transparent proxy cannot ask for a proxy log-in: the browser is sent to the
                // portal, and back to the page once logged in.
                _ => {
                    let then = request.uri().to_string();
                    let then = if then.starts_with('/') {
                        let host = request
                            .headers()
                            .get(header::HOST)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        format!("http://{host}{then}")
                    } else {
                        then
                    };
                    let location = format!(
                        "http://{}/ward/login?{}",
                        self.public_address(),
                        serde_urlencoded::to_string([("then", then.as_str())]).unwrap_or_default()
                    );
                    page::redirect(&location)
                }
            });
        }
        Ok(Client::clone(&base))
    }

    /// A CONNECT tunnel: decided on the host, then spliced.
    async fn connect(
        &self,
        request: Request<Incoming>,
        state: &FilterState,
        now: Timestamp,
    ) -> Response<Body> {
        let proxy = &self.proxy;
        let endpoint = match target::connect_target(request.method(), request.uri()) {
            Ok(endpoint) => endpoint,
            Err(error) => {
                Stats::add(&proxy.stats.bad_requests);
                return page::text(StatusCode::BAD_REQUEST, format!("{error}\n"));
            }
        };
        let client = match self.identify(&request, state, now).await {
            Ok(client) => client,
            Err(response) => return response,
        };
        let seen = Seen {
            at: now,
            client_ip: self.peer.ip(),
            client: &client,
            host: &endpoint.host,
            url: None,
            search_term: None,
        };
        if let Some(ports) = &proxy.settings.connect_ports
            && !ports.contains(&endpoint.port)
        {
            Stats::add(&proxy.stats.blocked);
            let reason = format!(
                "CONNECT to port {}, which the proxy does not open",
                endpoint.port
            );
            proxy.record(
                &seen,
                Disposition::Block,
                String::new(),
                reason.clone(),
                None,
            );
            return page::text(
                StatusCode::FORBIDDEN,
                format!("Blocked by Ward: {reason}.\n"),
            );
        }
        let decision = decide(
            &state.policy,
            &PolicyRequest::Host(endpoint.host.clone()),
            &client.identity,
            now,
        );
        let blocked = decision.action == Verdict::Block;
        if let Some(inspection) = &proxy.settings.inspection {
            match inspection.may_inspect(&endpoint.host, &state.policy, &decision) {
                // Opened without connecting yet: the ClientHello says whether it is inspected
                // (a blocked site then gets the block page) or spliced.
                Ok(()) => {
                    let blocked = blocked.then(|| {
                        (
                            decision.category_list(),
                            decision.reason.to_string(),
                            ward_gateway::event_alert(&decision),
                        )
                    });
                    let proxy = proxy.clone();
                    let client = Client::clone(&client);
                    let addresses = (self.peer, self.local);
                    let slot = self.slot.clone();
                    tokio::spawn(async move {
                        match hyper::upgrade::on(request).await {
                            Ok(upgraded) => {
                                crate::tls::serve_inspectable_tunnel(
                                    proxy,
                                    TokioIo::new(upgraded),
                                    endpoint,
                                    client,
                                    blocked,
                                    addresses,
                                    slot,
                                )
                                .await
                            }
                            Err(error) => tracing::debug!(%error, "CONNECT upgrade failed"),
                        }
                    });
                    return Response::new(Either::Right(Full::new(Bytes::new())));
                }
                Err(why) if !blocked => {
                    inspection.count_uninspected(&endpoint.host, &client, self.peer.ip(), why)
                }
                Err(_) => {}
            }
        }
        if blocked {
            Stats::add(&proxy.stats.blocked);
            let categories = decision.category_list();
            let reason = decision.reason.to_string();
            proxy.record(
                &seen,
                Disposition::Block,
                categories.clone(),
                reason.clone(),
                ward_gateway::event_alert(&decision),
            );
            return page::text(
                StatusCode::FORBIDDEN,
                format!(
                    "Blocked by Ward: {} is not allowed for {} ({}): {reason}.\n",
                    endpoint.host,
                    decision.group,
                    if categories.is_empty() {
                        "no category"
                    } else {
                        categories.as_str()
                    }
                ),
            );
        }
        detect::scan_tunnel_host(proxy, state, &client, self.peer.ip(), &endpoint.host);
        let server = match proxy.connect(&endpoint, client.private_networks).await {
            Ok(server) => server,
            Err(ConnectError::Refused(refusal)) => {
                proxy.refused(&seen, refusal);
                return page::text(
                    StatusCode::FORBIDDEN,
                    format!(
                        "Blocked by Ward: {endpoint} is {refusal}, which Ward does not connect to.\n"
                    ),
                );
            }
            Err(error) => {
                Stats::add(&proxy.stats.upstream_errors);
                return page::text(
                    StatusCode::BAD_GATEWAY,
                    format!("Ward could not reach {endpoint}: {error}\n"),
                );
            }
        };
        proxy.count(self.peer.ip(), &client, &endpoint.host);
        Stats::add(&proxy.stats.tunnels);
        let proxy = proxy.clone();
        let client = Client::clone(&client);
        let peer = self.peer;
        let local = self.local;
        let slot = self.slot.clone();
        tokio::spawn(async move {
            match hyper::upgrade::on(request).await {
                Ok(upgraded) => {
                    crate::tls::serve_tunnel(
                        proxy,
                        TokioIo::new(upgraded),
                        server,
                        endpoint,
                        client,
                        (peer, local),
                        slot,
                    )
                    .await
                }
                Err(error) => tracing::debug!(%error, "CONNECT upgrade failed"),
            }
        });
        Response::new(Either::Right(Full::new(Bytes::new())))
    }

    /// Forwards a request to `endpoint` with `path` (origin form): over TLS on an inspected
    /// connection, else plain HTTP.
    async fn forward(
        &self,
        mut request: Request<Incoming>,
        endpoint: &Endpoint,
        path: &str,
        youtube: Option<&'static str>,
        scan: Option<PageScan>,
        seen: &Seen<'_>,
    ) -> Response<Body> {
        let proxy = &self.proxy;
        let https = self.inspected.is_some();
        let upgrade = wants_upgrade(request.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
        let host = endpoint.host_header_for(https);
        let headers = request.headers_mut();
        strip_hop_by_hop(headers, upgrade);
        headers.append(header::VIA, proxy.via.clone());
        if scan.is_some() {
            // Pages are scanned as they pass, so they are asked for uncompressed.
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
        }
        if let Some(mode) = youtube {
            headers.insert(
                HeaderName::from_static(YOUTUBE_RESTRICT),
                HeaderValue::from_static(mode),
            );
        }

        let private_networks = seen.client.private_networks;
        let mut sender = match self.server_for(endpoint, private_networks, upgrade).await {
            Ok(sender) => sender,
            Err(ConnectError::Refused(refusal)) => {
                proxy.refused(seen, refusal);
                return page::message(
                    &proxy.live.load().policy.spec().name,
                    StatusCode::FORBIDDEN,
                    "Blocked",
                    &format!("Ward does not open {host}: it is {refusal}."),
                );
            }
            Err(ConnectError::Untrusted(why)) => {
                Stats::add(&proxy.stats.blocked);
                proxy.record(
                    seen,
                    Disposition::Block,
                    String::new(),
                    format!("the site's certificate could not be checked: {why}"),
                    None,
                );
                return page::message(
                    &proxy.live.load().policy.spec().name,
                    StatusCode::BAD_GATEWAY,
                    "This site could not be checked",
                    &format!(
                        "Ward could not make sure that this really is {host}: its certificate \
                         {why}. Ward does not open a site it cannot check. If you need this \
                         site, tell a member of staff."
                    ),
                );
            }
            Err(error) => {
                Stats::add(&proxy.stats.upstream_errors);
                return page::text(
                    StatusCode::BAD_GATEWAY,
                    format!("Ward could not reach {endpoint}: {error}\n"),
                );
            }
        };
        // The request line and Host for this server: origin form and `Host` for HTTP/1.1, the
        // whole URL (its `:authority`) for HTTP/2.
        let h2 = matches!(sender, Upstream::H2(_));
        let uri = if h2 {
            format!("https://{host}{path}")
        } else {
            path.to_owned()
        };
        match uri.parse::<Uri>() {
            Ok(uri) => *request.uri_mut() = uri,
            Err(_) => {
                Stats::add(&proxy.stats.bad_requests);
                return page::text(
                    StatusCode::BAD_REQUEST,
                    "The request path cannot be sent.\n".into(),
                );
            }
        }
        let headers = request.headers_mut();
        if h2 {
            *request.version_mut() = hyper::Version::HTTP_2;
            request.headers_mut().remove(header::HOST);
        } else {
            if let Ok(host) = HeaderValue::from_str(&host) {
                headers.insert(header::HOST, host);
            }
            join_cookies(headers);
            *request.version_mut() = hyper::Version::HTTP_11;
        }
        let result = sender.send(request).await;
        if !upgrade {
            *self.server.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((endpoint.clone(), private_networks, sender));
        }
        let mut response = match result {
            Ok(response) => response,
            Err(error) => {
                Stats::add(&proxy.stats.upstream_errors);
                return page::text(
                    StatusCode::BAD_GATEWAY,
                    format!("{endpoint} did not answer properly: {error}\n"),
                );
            }
        };
        if upgrade && response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let server_upgrade = hyper::upgrade::on(&mut response);
            if let Some(client_upgrade) = client_upgrade {
                let idle = proxy.settings.idle_timeout;
                tokio::spawn(async move {
                    match tokio::try_join!(client_upgrade, server_upgrade) {
                        Ok((client, server)) => {
                            splice(TokioIo::new(client), TokioIo::new(server), idle).await
                        }
                        Err(error) => tracing::debug!(%error, "upgrade failed"),
                    }
                });
            }
        } else {
            strip_hop_by_hop(response.headers_mut(), false);
        }
        // HTTP/3 runs over QUIC, which Ward cannot see: browsers are not told about it, so
        // they stay on TCP.
        response.headers_mut().remove(header::ALT_SVC);
        let scan = scan.filter(|_| is_plain_html(response.headers()));
        response.map(|body| Either::Left(ScanBody::new(body, scan)))
    }

    /// This connection's server connection to `endpoint` if it has one that is still open,
    /// else a new one (over TLS for an inspected connection, HTTP/2 when the server offers
    /// it). An upgrade always gets an HTTP/1.1 connection of its own.
    async fn server_for(
        &self,
        endpoint: &Endpoint,
        private_networks: bool,
        upgrade: bool,
    ) -> Result<Upstream, ConnectError> {
        if !upgrade {
            // An HTTP/2 connection stays for the requests beside this one; an HTTP/1.1 one is
            // taken while this request uses it.
            let kept = {
                let mut kept = self.server.lock().unwrap_or_else(|e| e.into_inner());
                match kept.as_ref() {
                    Some((kept_endpoint, kept_private, Upstream::H2(sender))) => Some((
                        kept_endpoint.clone(),
                        *kept_private,
                        Upstream::H2(sender.clone()),
                    )),
                    _ => kept.take(),
                }
            };
            if let Some((kept_endpoint, kept_private, mut sender)) = kept
                && kept_endpoint == *endpoint
                && (kept_private == private_networks || !kept_private)
                && sender.ready().await.is_ok()
            {
                return Ok(sender);
            }
        }
        let stream = self.proxy.connect(endpoint, private_networks).await?;
        let timeout = self.proxy.settings.connect_timeout;
        let idle = self.proxy.settings.idle_timeout;
        let Some(inspection) = self
            .inspected
            .as_ref()
            .and(self.proxy.settings.inspection.as_ref())
        else {
            let io = TokioIo::new(IdleStream::new(stream, idle));
            return http1_handshake(io).await;
        };
        let name = match &endpoint.host {
            Host::Domain(name) => rustls::pki_types::ServerName::try_from(name.as_str().to_owned())
                .map_err(|e| ConnectError::Failed(std::io::Error::other(e)))?,
            Host::Ipv4(v4) => {
                rustls::pki_types::ServerName::IpAddress(std::net::IpAddr::V4(*v4).into())
            }
            Host::Ipv6(v6) => {
                rustls::pki_types::ServerName::IpAddress(std::net::IpAddr::V6(*v6).into())
            }
        };
        // The origin is offered HTTP/2 only when the client speaks it: an HTTP/1.1 client sends
        // one request at a time, which HTTP/1.1 to the origin carries with less work and memory.
        let h1_only = upgrade || !self.client_h2;
        let connector = tokio_rustls::TlsConnector::from(inspection.origin_config(h1_only));
        let tls = match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => return Err(tls_error(error)),
            Err(_) => {
                return Err(ConnectError::Failed(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the TLS handshake timed out",
                )));
            }
        };
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(IdleStream::new(tls, idle));
        if !h2 {
            return http1_handshake(io).await;
        }
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(io)
            .await
            .map_err(|error| ConnectError::Failed(std::io::Error::other(error)))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "HTTP/2 server connection ended");
            }
        });
        Ok(Upstream::H2(sender))
    }
}

/// An HTTP/1.1 client connection over `io`, driven by a task of its own.
async fn http1_handshake<I>(io: I) -> Result<Upstream, ConnectError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake(io)
        .await
        .map_err(|error| ConnectError::Failed(std::io::Error::other(error)))?;
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, "server connection ended");
        }
    });
    Ok(Upstream::H1(sender))
}

/// A failed TLS handshake with a site: a certificate that does not verify is `Untrusted` (with
/// why, in words), anything else a connection failure.
fn tls_error(error: std::io::Error) -> ConnectError {
    let reason = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|tls| match tls {
            rustls::Error::InvalidCertificate(why) => Some(certificate_problem(why)),
            _ => None,
        });
    match reason {
        Some(why) => ConnectError::Untrusted(why),
        None => ConnectError::Failed(error),
    }
}

/// A certificate problem in words.
fn certificate_problem(error: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    match error {
        E::Expired | E::ExpiredContext { .. } => "has expired".into(),
        E::NotValidYet | E::NotValidYetContext { .. } => "is not valid yet".into(),
        E::UnknownIssuer => "was not issued by an authority Ward trusts".into(),
        E::NotValidForName | E::NotValidForNameContext { .. } => {
            "was issued for another site".into()
        }
        E::Revoked => "has been revoked".into(),
        E::BadSignature => "has a bad signature".into(),
        E::BadEncoding => "cannot be read".into(),
        other => format!("was refused ({other:?})"),
    }
}

/// HTTP/2 may send cookies as several `cookie` fields; HTTP/1.1 servers expect one line, joined
/// with `; ` (RFC 9113 §8.2.3).
fn join_cookies(headers: &mut HeaderMap) {
    if headers.get_all(header::COOKIE).iter().nth(1).is_none() {
        return;
    }
    let joined: Vec<u8> = headers
        .get_all(header::COOKIE)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect::<Vec<_>>()
        .join(&b"; "[..]);
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, value);
    }
}

/// Whether a response is an HTML page Ward can read (not compressed: a server that compresses
/// although asked not to is passed unscanned).
fn is_plain_html(headers: &HeaderMap) -> bool {
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.trim_start().to_ascii_lowercase();
            v.starts_with("text/html") || v.starts_with("application/xhtml")
        });
    let encoded = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"));
    html && !encoded
}

/// Whether the client asks to switch protocols (WebSocket).
fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes the headers that belong to one connection (RFC 9110 §7.6.1), and those `Connection`
/// names; keeps `Connection: upgrade` and `Upgrade` for an upgrade.
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .filter(|name| !(upgrade && name == header::UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
    ] {
        headers.remove(name);
    }
    headers.remove("proxy-connection");
    headers.remove("keep-alive");
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        headers.insert(
            header::PROXY_AUTHORIZATION,
            HeaderValue::from_static("Basic YTpi"),
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut headers, false);
        let names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["accept"]);

        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(wants_upgrade(&headers));
        strip_hop_by_hop(&mut headers, true);
        assert_eq!(
            headers.get(header::UPGRADE).map(|v| v.as_bytes()),
            Some(&b"websocket"[..])
        );
        assert_eq!(
            headers.get(header::CONNECTION).map(|v| v.as_bytes()),
            Some(&b"upgrade"[..])
        );
    }
}
