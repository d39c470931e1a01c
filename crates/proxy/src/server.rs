//! The proxy's sockets: accept loops per listener, the connection limit, and the periodic
//! hand-over of browsing counts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::http::{self, Mode};
use crate::proxy::{Proxy, Stats};
use crate::tls;

/// How often allowed-request counts go to the event writer.
const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Explicit forward proxy (browsers configured, by hand, PAC or WPAD).
    Explicit,
    /// Transparent HTTP (port 80 redirected to Ward).
    TransparentHttp,
    /// Transparent HTTPS (port 443 redirected to Ward): decided by the TLS server name.
    TransparentHttps,
}

/// Bound listening sockets.
#[derive(Debug)]
pub struct Listeners {
    sockets: Vec<(ListenerKind, TcpListener)>,
}

impl Listeners {
    /// Binds every address of every kind.
    pub async fn bind(addresses: &[(ListenerKind, SocketAddr)]) -> std::io::Result<Listeners> {
        let mut sockets = Vec::with_capacity(addresses.len());
        for &(kind, address) in addresses {
            let listener = listen(address).map_err(|error| {
                std::io::Error::new(error.kind(), format!("{address}: {error}"))
            })?;
            sockets.push((kind, listener));
        }
        Ok(Listeners { sockets })
    }

    /// The addresses actually bound (ephemeral ports resolved), with their kinds.
    pub fn local_addresses(&self) -> Vec<(ListenerKind, SocketAddr)> {
        self.sockets
            .iter()
            .filter_map(|(kind, socket)| socket.local_addr().ok().map(|a| (*kind, a)))
            .collect()
    }
}

/// Connections the kernel may hold waiting to be accepted (capped by `net.core.somaxconn`):
/// a thousand devices connecting at once (the start of a lesson) must not have their SYNs
/// dropped and retried a second later, as with the usual 1,024 under load.
const BACKLOG: u32 = 8192;

/// A listening socket on `address` with [`BACKLOG`].
fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restarted Ward can listen at once.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG)
}

/// Starts serving every listener; the tasks end when the set is dropped or shut down. The last
/// counts are handed over by [`Proxy::flush_counts`] after shutdown.
pub fn serve(proxy: Arc<Proxy>, listeners: Listeners) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    let own: Arc<Vec<SocketAddr>> = Arc::new(
        listeners
            .local_addresses()
            .into_iter()
            .map(|(_, address)| address)
            .collect(),
    );
    proxy.reach.add_own(&own);
    for (kind, listener) in listeners.sockets {
        tasks.spawn(accept(proxy.clone(), listener, kind, own.clone()));
    }
    let flusher = proxy.clone();
    tasks.spawn(async move {
        let mut every = tokio::time::interval(FLUSH_EVERY);
        loop {
            every.tick().await;
            flusher.flush_counts();
        }
    });
    tasks
}

async fn accept(
    proxy: Arc<Proxy>,
    listener: TcpListener,
    kind: ListenerKind,
    own: Arc<Vec<SocketAddr>>,
) {
    // Connections are tracked so that stopping the proxy stops them too.
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, say: wait a little rather than spin.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match proxy
            .connections
            .admit(peer.ip(), std::time::Instant::now())
        {
            Ok(slot) => Arc::new(slot),
            Err(why) => {
                Stats::add(&proxy.stats.refused);
                tracing::debug!(%peer, %why, "connection refused");
                refuse(stream, kind);
                continue;
            }
        };
        Stats::add(&proxy.stats.connections);
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        let own = own.clone();
        connections.spawn(async move {
            let serve = async {
                match kind {
                    ListenerKind::Explicit => {
                        http::serve_connection(proxy, stream, peer, Mode::Explicit, slot.clone())
                            .await
                    }
                    ListenerKind::TransparentHttp => {
                        http::serve_connection(proxy, stream, peer, Mode::Transparent, slot.clone())
                            .await
                    }
                    ListenerKind::TransparentHttps => {
                        tls::serve_connection(proxy, stream, peer, own, slot.clone()).await
                    }
                }
            };
            // A connection that has sent no request yet gives way to a newer one when the
            // listener, or its client, is at the limit.
            tokio::select! {
                () = serve => {}
                () = slot.shed() => tracing::debug!(%peer, "connection shed to make room"),
            }
        });
    }
}

/// At the connection limit: a 503 for HTTP clients (if the socket takes it at once), then close.
fn refuse(stream: TcpStream, kind: ListenerKind) {
    if kind != ListenerKind::TransparentHttps {
        let _ = stream.try_write(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n",
        );
    }
    tokio::spawn(async move {
        let mut stream = stream;
        let _ = stream.shutdown().await;
    });
}
