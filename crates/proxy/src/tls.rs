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
use ward_lists::Host;
use ward_policy::{Action as Verdict, Request as PolicyRequest, decide};
use ward_store::Action;

use crate::hello::{HelloError, MAX_HELLO, parse_client_hello};
use crate::http::splice;
use crate::proxy::{ConnectError, Proxy, Seen, Stats};
use crate::target::{Endpoint, server_name_endpoint};

/// TLS alert `access_denied` (fatal): what a blocked client sees instead of a handshake.
const ACCESS_DENIED: [u8; 7] = [21, 3, 3, 0, 2, 2, 49];

/// Serves one redirected TLS connection. `listeners` are Ward's own addresses (to tell a
/// redirect that kept the destination from one that did not).
pub async fn serve_connection(
    proxy: Arc<Proxy>,
    mut stream: TcpStream,
    peer: SocketAddr,
    listeners: Arc<Vec<SocketAddr>>,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let mut first = Vec::with_capacity(2048);
    let read = tokio::time::timeout(proxy.settings.header_timeout, async {
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
    let hello = match read {
        Ok(Ok(Ok(hello))) => hello,
        Ok(Ok(Err(error))) => {
            Stats::add(&proxy.stats.bad_requests);
            tracing::debug!(%peer, %error, "not a readable ClientHello");
            return;
        }
        Ok(Err(_)) | Err(_) => return,
    };
    let state = proxy.live.load();
    let client = state.client(peer.ip(), proxy.live.sessions(), Timestamp::now());
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
                client_ip: peer.ip(),
                client: &client,
                host: &Host::from_ip(local.ip()),
                url: None,
                search_term: None,
            };
            proxy.record(
                &seen,
                Action::Block,
                String::new(),
                "TLS without a server name, to an unknown destination".into(),
                None,
            );
            let _ = stream.write_all(&ACCESS_DENIED).await;
            return;
        }
    };
    let seen = Seen {
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
        Timestamp::now(),
    );
    if decision.action == Verdict::Block {
        Stats::add(&proxy.stats.blocked);
        proxy.record(
            &seen,
            Action::Block,
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
