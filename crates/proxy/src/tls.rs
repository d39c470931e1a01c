//! Transparent HTTPS: traffic to port 443 redirected to Ward (by the router or firewall) is
//! decided on the server name of the TLS ClientHello, then spliced to that server unchanged.
//! Ward does not decrypt anything here.
//!
//! Without a server name there is nothing to decide on by name. When the connection's own
//! address is not one of Ward's (a TPROXY-style redirect keeps the original destination), that
//! address is decided as an IP-address host; otherwise the destination is unknown and the
//! connection is refused.

use std::net::SocketAddr;
use std::sync::Arc;

use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ward_events::Disposition;
use ward_lists::Host;
use ward_policy::{Action as Verdict, Request as PolicyRequest, ServerNameMismatch, decide};

use crate::hello::{ClientHello, HelloError, MAX_HELLO, parse_client_hello};
use crate::io::splice;
use crate::proxy::{ConnectError, Proxy, Seen, Stats};
use crate::target::{Endpoint, server_name_endpoint};
use ward_gateway::Client;
use ward_gateway::slots::Slot;

/// TLS alert `access_denied` (fatal): what a blocked client sees instead of a handshake.
pub(crate) const ACCESS_DENIED: [u8; 7] = [21, 3, 3, 0, 2, 2, 49];

/// Why no ClientHello was read.
pub(crate) enum HelloRead {
    /// The client closed, failed or took too long.
    Ended,
    /// What it sent (the bytes read) is not a readable ClientHello.
    Unreadable(HelloError, Vec<u8>),
}

/// Reads the client's first bytes until they hold a whole ClientHello (at most [`MAX_HELLO`]
/// bytes, within `timeout`): the hello, and every byte read (to be sent on to the server).
pub(crate) async fn read_hello<S>(
    stream: &mut S,
    timeout: std::time::Duration,
) -> Result<(ClientHello, Vec<u8>), HelloRead>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut first = Vec::with_capacity(2048);
    let read = tokio::time::timeout(timeout, async {
        loop {
            match parse_client_hello(&first) {
                Err(HelloError::Incomplete) if first.len() < MAX_HELLO => {}
                other => return Ok(other),
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            first.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    match read {
        Ok(Ok(Ok(hello))) => Ok((hello, first)),
        Ok(Ok(Err(error))) => Err(HelloRead::Unreadable(error, first)),
        Ok(Err(_)) | Err(_) => Err(HelloRead::Ended),
    }
}

/// Serves one redirected TLS connection. `listeners` are Ward's own addresses (to tell a
/// redirect that kept the destination from one that did not).
pub async fn serve_connection(
    proxy: Arc<Proxy>,
    mut stream: TcpStream,
    peer: SocketAddr,
    listeners: Arc<Vec<SocketAddr>>,
    slot: Arc<Slot>,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let (hello, first) = match read_hello(&mut stream, proxy.settings.header_timeout).await {
        Ok(read) => read,
        Err(HelloRead::Unreadable(error, _)) => {
            Stats::add(&proxy.stats.bad_requests);
            tracing::debug!(%peer, %error, "not a readable ClientHello");
            return;
        }
        Err(HelloRead::Ended) => return,
    };
    slot.busy();
    // The clock is read once for the connection's identity, decision and events.
    let now = Timestamp::now();
    let state = proxy.live.load();
    let client = state.client(peer.ip(), proxy.live.sessions(), now);
    let endpoint = match &hello.server_name {
        Some(name) => match server_name_endpoint(name, proxy.settings.tls_port) {
            Ok(endpoint) => endpoint,
            Err(error) => {
                Stats::add(&proxy.stats.bad_requests);
                tracing::debug!(%peer, %error, "unreadable server name");
                let _ = stream.write_all(&ACCESS_DENIED).await;
                return;
            }
        },
        None if !listeners.contains(&local) && !local.ip().is_unspecified() => Endpoint {
            host: Host::from_ip(local.ip()),
            port: local.port(),
        },
        None => {
            Stats::add(&proxy.stats.blocked);
            let seen = Seen {
                at: now,
                client_ip: peer.ip(),
                client: &client,
                host: &Host::from_ip(local.ip()),
                url: None,
                search_term: None,
            };
            proxy.record(
                &seen,
                Disposition::Block,
                String::new(),
                "TLS without a server name, to an unknown destination".into(),
                None,
            );
            let _ = stream.write_all(&ACCESS_DENIED).await;
            return;
        }
    };
    let seen = Seen {
        at: now,
        client_ip: peer.ip(),
        client: &client,
        host: &endpoint.host,
        url: None,
        search_term: None,
    };
    let decision = decide(
        &state.policy,
        &PolicyRequest::Host(endpoint.host.clone()),
        &client.identity,
        now,
    );
    let blocked = decision.action == Verdict::Block;
    // Inspected, a blocked site gets the block page and an allowed one is decided again on
    // every request's full URL.
    let allowed = match &proxy.settings.inspection {
        Some(inspection) => inspection.may_inspect(&endpoint.host, &state.policy, &decision),
        None => Ok(()),
    };
    if crate::inspect::choose(
        &proxy,
        &hello,
        &endpoint,
        &client,
        peer.ip(),
        !blocked,
        allowed,
    ) {
        let refusal = blocked.then(|| {
            (
                decision.category_list(),
                decision.reason.to_string(),
                ward_gateway::event_alert(&decision),
            )
        });
        drop(state);
        let host = endpoint.host.clone();
        let inspected_client = Client::clone(&client);
        let made = crate::inspect::serve(
            proxy.clone(),
            stream,
            first,
            endpoint,
            inspected_client,
            (peer, local),
            slot,
        )
        .await;
        if !made && let Some(refusal) = refusal {
            // The device never got to the block page (it does not trust the school's
            // certificate, say): the attempt is recorded all the same.
            record_block(&proxy, now, peer, &client, &host, refusal);
        }
        return;
    }
    if blocked {
        Stats::add(&proxy.stats.blocked);
        proxy.record(
            &seen,
            Disposition::Block,
            decision.category_list(),
            decision.reason.to_string(),
            ward_gateway::event_alert(&decision),
        );
        let _ = stream.write_all(&ACCESS_DENIED).await;
        return;
    }
    if hello.ech {
        tracing::debug!(%peer, host = %endpoint.host, "ClientHello offers ECH; decided on its outer name");
    }
    crate::detect::scan_tunnel_host(&proxy, &state, &client, peer.ip(), &endpoint.host);
    let mut server = match proxy.connect(&endpoint, client.private_networks).await {
        Ok(server) => server,
        Err(ConnectError::Refused(refusal)) => {
            proxy.refused(&seen, refusal);
            let _ = stream.write_all(&ACCESS_DENIED).await;
            return;
        }
        Err(error) => {
            Stats::add(&proxy.stats.upstream_errors);
            tracing::debug!(%peer, %endpoint, %error, "cannot reach the server");
            return;
        }
    };
    if server.write_all(&first).await.is_err() {
        return;
    }
    proxy.count(peer.ip(), &client, &endpoint.host);
    Stats::add(&proxy.stats.tunnels);
    drop(state);
    splice(stream, server, proxy.settings.idle_timeout).await;
}

/// A CONNECT tunnel once the client has been told it is open: the ClientHello inside it is
/// read and its server name decided too (a tunnel opened to an allowed host must not carry a
/// handshake for a blocked one: domain fronting), then the tunnel is spliced to `server`.
/// Plain HTTP in a tunnel is served as transparent HTTP, every request decided on its URL;
/// anything else is refused. `(peer, local)`: the client's address and the proxy's.
pub(crate) async fn serve_tunnel<C>(
    proxy: Arc<Proxy>,
    client_stream: C,
    server: TcpStream,
    endpoint: Endpoint,
    client: ward_gateway::Client,
    (peer, local): (SocketAddr, SocketAddr),
    slot: Arc<Slot>,
) where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Some((mut client_stream, hello, first)) = tunnel_hello(
        &proxy,
        client_stream,
        &endpoint,
        &client,
        (peer, local),
        &slot,
    )
    .await
    else {
        return;
    };
    let mut server = server;
    if !name_allowed(&proxy, &mut client_stream, &endpoint, &client, peer, &hello).await {
        return;
    }
    if server.write_all(&first).await.is_err() {
        return;
    }
    splice(client_stream, server, proxy.settings.idle_timeout).await;
    drop(slot);
}

/// A CONNECT tunnel that may be inspected, once the client has been told it is open (nothing
/// has been connected to yet). Inspected when its ClientHello names the host asked for and the
/// host may be inspected: a `blocked` host then gets the block page. Otherwise a blocked host
/// is refused, and an allowed one is reached and spliced as an ordinary tunnel.
pub(crate) async fn serve_inspectable_tunnel<C>(
    proxy: Arc<Proxy>,
    client_stream: C,
    endpoint: Endpoint,
    client: ward_gateway::Client,
    blocked: Option<(String, String, Option<ward_events::EventAlert>)>,
    (peer, local): (SocketAddr, SocketAddr),
    slot: Arc<Slot>,
) where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Some((mut client_stream, hello, first)) = tunnel_hello(
        &proxy,
        client_stream,
        &endpoint,
        &client,
        (peer, local),
        &slot,
    )
    .await
    else {
        return;
    };
    if crate::inspect::choose(
        &proxy,
        &hello,
        &endpoint,
        &client,
        peer.ip(),
        blocked.is_none(),
        // The CONNECT opened an inspectable tunnel only for a site that may be inspected.
        Ok(()),
    ) {
        let host = endpoint.host.clone();
        let made = crate::inspect::serve(
            proxy.clone(),
            client_stream,
            first,
            endpoint,
            client.clone(),
            (peer, local),
            slot,
        )
        .await;
        if !made && let Some(refusal) = blocked {
            // The device never got to the block page: the attempt is recorded all the same.
            record_block(&proxy, Timestamp::now(), peer, &client, &host, refusal);
        }
        return;
    }
    let seen = Seen {
        at: Timestamp::now(),
        client_ip: peer.ip(),
        client: &client,
        host: &endpoint.host,
        url: None,
        search_term: None,
    };
    if let Some((categories, reason, alert)) = blocked {
        Stats::add(&proxy.stats.blocked);
        proxy.record(&seen, Disposition::Block, categories, reason, alert);
        let _ = client_stream.write_all(&ACCESS_DENIED).await;
        return;
    }
    if !name_allowed(&proxy, &mut client_stream, &endpoint, &client, peer, &hello).await {
        return;
    }
    let mut server = match proxy.connect(&endpoint, client.private_networks).await {
        Ok(server) => server,
        Err(ConnectError::Refused(refusal)) => {
            proxy.refused(&seen, refusal);
            let _ = client_stream.write_all(&ACCESS_DENIED).await;
            return;
        }
        Err(error) => {
            Stats::add(&proxy.stats.upstream_errors);
            tracing::debug!(%peer, %endpoint, %error, "cannot reach the server");
            return;
        }
    };
    proxy.count(peer.ip(), &client, &endpoint.host);
    Stats::add(&proxy.stats.tunnels);
    if server.write_all(&first).await.is_err() {
        return;
    }
    splice(client_stream, server, proxy.settings.idle_timeout).await;
    drop(slot);
}

/// The first bytes of a CONNECT tunnel: the stream, its ClientHello and the bytes read; or
/// `None` when the tunnel has been dealt with already (it closed; it carried plain HTTP, which
/// is then served request by request; or something else, which is refused and recorded).
async fn tunnel_hello<C>(
    proxy: &Arc<Proxy>,
    mut client_stream: C,
    endpoint: &Endpoint,
    client: &ward_gateway::Client,
    (peer, local): (SocketAddr, SocketAddr),
    slot: &Arc<Slot>,
) -> Option<(C, ClientHello, Vec<u8>)>
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    match read_hello(&mut client_stream, proxy.settings.header_timeout).await {
        Ok((hello, first)) => Some((client_stream, hello, first)),
        Err(HelloRead::Ended) => None,
        Err(HelloRead::Unreadable(HelloError::NotTls, first)) if looks_like_http(&first) => {
            let stream = crate::io::Prefixed::new(first, client_stream);
            crate::http::serve_tunnelled(
                proxy.clone(),
                stream,
                peer,
                local,
                client.clone(),
                slot.clone(),
            )
            .await;
            None
        }
        Err(HelloRead::Unreadable(error, _)) => {
            let seen = Seen {
                at: Timestamp::now(),
                client_ip: peer.ip(),
                client,
                host: &endpoint.host,
                url: None,
                search_term: None,
            };
            tracing::debug!(%peer, %endpoint, %error, "a CONNECT tunnel without a readable ClientHello");
            Stats::add(&proxy.stats.blocked);
            proxy.record(
                &seen,
                Disposition::Block,
                String::new(),
                format!("a CONNECT tunnel that carries neither TLS nor HTTP ({error})"),
                None,
            );
            None
        }
    }
}

/// Whether a tunnel's ClientHello may go on to `endpoint`: a server name other than the host
/// the tunnel was opened to (domain fronting) is refused or decided, as the policy says. A
/// refusal is recorded and the client told.
async fn name_allowed<C>(
    proxy: &Arc<Proxy>,
    client_stream: &mut C,
    endpoint: &Endpoint,
    client: &ward_gateway::Client,
    peer: SocketAddr,
    hello: &ClientHello,
) -> bool
where
    C: tokio::io::AsyncWrite + Unpin,
{
    let Some(name) = &hello.server_name else {
        return true;
    };
    let named = match server_name_endpoint(name, endpoint.port) {
        Ok(named) => named,
        Err(error) => {
            Stats::add(&proxy.stats.bad_requests);
            tracing::debug!(%peer, %error, "unreadable server name in a tunnel");
            let _ = client_stream.write_all(&ACCESS_DENIED).await;
            return false;
        }
    };
    if named.host == endpoint.host {
        return true;
    }
    let state = proxy.live.load();
    // The server name is decided when the ClientHello arrives.
    let now = Timestamp::now();
    let seen = Seen {
        at: now,
        client_ip: peer.ip(),
        client,
        host: &named.host,
        url: None,
        search_term: None,
    };
    let refusal = match state.policy.spec().proxy.server_name_mismatch {
        ServerNameMismatch::Block => Some((
            String::new(),
            format!(
                "the TLS server name is not the host the tunnel was opened to ({})",
                endpoint.host
            ),
            None,
        )),
        ServerNameMismatch::Decide => {
            let decision = decide(
                &state.policy,
                &PolicyRequest::Host(named.host.clone()),
                &client.identity,
                now,
            );
            (decision.action == Verdict::Block).then(|| {
                (
                    decision.category_list(),
                    format!(
                        "{} (the TLS server name in a tunnel opened to {})",
                        decision.reason, endpoint.host
                    ),
                    ward_gateway::event_alert(&decision),
                )
            })
        }
    };
    if let Some((categories, reason, alert)) = refusal {
        Stats::add(&proxy.stats.blocked);
        proxy.record(&seen, Disposition::Block, categories, reason, alert);
        let _ = client_stream.write_all(&ACCESS_DENIED).await;
        return false;
    }
    crate::detect::scan_tunnel_host(proxy, &state, client, peer.ip(), &named.host);
    true
}

/// Records a blocked attempt on `host` that got no block page.
fn record_block(
    proxy: &Proxy,
    at: Timestamp,
    peer: SocketAddr,
    client: &Client,
    host: &Host,
    (categories, reason, alert): (String, String, Option<ward_events::EventAlert>),
) {
    let seen = Seen {
        at,
        client_ip: peer.ip(),
        client,
        host,
        url: None,
        search_term: None,
    };
    Stats::add(&proxy.stats.blocked);
    proxy.record(&seen, Disposition::Block, categories, reason, alert);
}

/// Whether the first bytes of a tunnel are an HTTP request line's start (`METHOD `).
fn looks_like_http(first: &[u8]) -> bool {
    let method = first.iter().take_while(|b| b.is_ascii_uppercase()).count();
    (3..=16).contains(&method) && first.get(method) == Some(&b' ')
}
