//! The sockets: UDP and TCP on each configured address, answering through one shared
//! [`DnsFilter`]. UDP queries the cache or the policy can answer are answered in the receive
//! loop; those that need the upstream get a task of their own, at most
//! [`MAX_PENDING`] at once (beyond that, SERVFAIL at once, so a flood of unknown names cannot
//! exhaust memory). TCP connections are limited in number, in all and per client address (the
//! one that has waited longest for a query gives way to a new one), and closed when idle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use ward_gateway::slots::{Slot, Slots};

use crate::filter::{DnsFilter, Step};
use crate::limit::Verdict as RateVerdict;
use crate::wire::{self, Answer, rcode};

/// Upstream questions in flight at once, over all UDP sockets.
pub const MAX_PENDING: usize = 4_096;
/// TCP connections open at once.
pub const MAX_TCP_CONNECTIONS: usize = 512;
/// TCP connections open at once from one client address. At either limit the connection that
/// has waited longest for a query is closed to make room.
pub const MAX_TCP_PER_CLIENT: usize = 16;
/// A TCP connection with no query for this long is closed.
pub const TCP_IDLE: Duration = Duration::from_secs(10);

/// Bound sockets, before serving.
#[derive(Debug)]
pub struct Listeners {
    udp: Vec<Arc<UdpSocket>>,
    tcp: Vec<TcpListener>,
}

impl Listeners {
    /// Binds UDP and TCP on every address. Port 0 picks one free port for both protocols of
    /// an address.
    pub async fn bind(addresses: &[SocketAddr]) -> std::io::Result<Listeners> {
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        for &address in addresses {
            let (u, t) = bind_pair(address).await?;
            udp.push(Arc::new(u));
            tcp.push(t);
        }
        Ok(Listeners { udp, tcp })
    }

    /// The addresses bound (UDP and TCP share each).
    pub fn local_addresses(&self) -> Vec<SocketAddr> {
        self.udp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }
}

async fn bind_pair(address: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    if address.port() != 0 {
        return Ok((
            UdpSocket::bind(address).await?,
            TcpListener::bind(address).await?,
        ));
    }
    // Find a port free for both.
    let mut last_error = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind(address).await?;
        let chosen = udp.local_addr()?;
        match TcpListener::bind(chosen).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no free port")))
}

/// Serves until the returned set is dropped or aborted.
pub fn serve(
    filter: Arc<DnsFilter>,
    listeners: Listeners,
    workers_per_socket: usize,
) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    let pending = Arc::new(Semaphore::new(MAX_PENDING));
    for socket in listeners.udp {
        for _ in 0..workers_per_socket.max(1) {
            tasks.spawn(udp_worker(filter.clone(), socket.clone(), pending.clone()));
        }
    }
    let connections = Slots::new(MAX_TCP_CONNECTIONS, MAX_TCP_PER_CLIENT);
    for listener in listeners.tcp {
        tasks.spawn(tcp_acceptor(filter.clone(), listener, connections.clone()));
    }
    tasks.spawn({
        let filter = filter.clone();
        async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                filter.flush_counts();
            }
        }
    });
    tasks
}

async fn udp_worker(filter: Arc<DnsFilter>, socket: Arc<UdpSocket>, pending: Arc<Semaphore>) {
    let mut buffer = vec![0u8; 4_096];
    let mut out = Vec::with_capacity(1_232);
    loop {
        let (length, peer) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                // ICMP errors from earlier sends surface here on some systems; keep serving.
                tracing::debug!(%error, "UDP receive");
                continue;
            }
        };
        let packet = &buffer[..length];
        let arrived = std::time::Instant::now();
        match filter.rate(peer.ip()) {
            RateVerdict::Answer => {}
            RateVerdict::Drop => continue,
            RateVerdict::Slip => {
                // An empty truncated reply: a real client asks again over TCP.
                if let Ok(query) = wire::parse_query(packet) {
                    Answer::start(&mut out, &query, rcode::NOERROR)
                        .truncated()
                        .edns(query.edns, 0);
                    send(&socket, &out, peer).await;
                }
                continue;
            }
        }
        match filter.answer(packet, peer.ip(), true, &mut out) {
            Step::Reply => {
                send(&socket, &out, peer).await;
                filter.stats().latency.observe(arrived.elapsed());
            }
            Step::Drop => {}
            Step::Resolve(question) => match pending.clone().try_acquire_owned() {
                Ok(permit) => {
                    let filter = filter.clone();
                    let socket = socket.clone();
                    let packet = packet.to_vec();
                    tokio::spawn(async move {
                        let mut out = Vec::new();
                        if let Step::Reply = filter
                            .resolve(question, &packet, peer.ip(), true, &mut out)
                            .await
                        {
                            send(&socket, &out, peer).await;
                            filter.stats().latency.observe(arrived.elapsed());
                        }
                        drop(permit);
                    });
                }
                Err(_) => {
                    if let Ok(query) = wire::parse_query(packet) {
                        Answer::start(&mut out, &query, rcode::SERVFAIL).edns(query.edns, 0);
                        send(&socket, &out, peer).await;
                    }
                }
            },
        }
    }
}

async fn send(socket: &UdpSocket, out: &[u8], peer: SocketAddr) {
    if let Err(error) = socket.send_to(out, peer).await {
        tracing::debug!(%error, %peer, "UDP send");
    }
}

async fn tcp_acceptor(filter: Arc<DnsFilter>, listener: TcpListener, connections: Arc<Slots>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "TCP accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match connections.admit(peer.ip(), std::time::Instant::now()) {
            Ok(slot) => slot,
            Err(why) => {
                // Every connection is busy answering: close at once.
                tracing::debug!(%peer, %why, "TCP connection refused");
                drop(stream);
                continue;
            }
        };
        let filter = filter.clone();
        tokio::spawn(async move {
            tokio::select! {
                result = tcp_connection(&filter, stream, peer, &slot) => {
                    if let Err(error) = result {
                        tracing::debug!(%error, %peer, "TCP connection");
                    }
                }
                // Waiting longest for a query when another client needed the place.
                () = slot.shed() => tracing::debug!(%peer, "TCP connection shed to make room"),
            }
        });
    }
}

async fn tcp_connection(
    filter: &DnsFilter,
    mut stream: TcpStream,
    peer: SocketAddr,
    slot: &Slot,
) -> std::io::Result<()> {
    let mut packet = Vec::new();
    let mut out = Vec::new();
    loop {
        slot.waiting();
        let length = match tokio::time::timeout(TCP_IDLE, stream.read_u16()).await {
            Ok(Ok(length)) => usize::from(length),
            // Idle, closed or broken: end the connection quietly.
            Ok(Err(_)) | Err(_) => return Ok(()),
        };
        packet.resize(length, 0);
        tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut packet))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "slow query"))??;
        slot.busy();
        let arrived = std::time::Instant::now();
        let step = match filter.answer(&packet, peer.ip(), false, &mut out) {
            Step::Resolve(question) => {
                filter
                    .resolve(question, &packet, peer.ip(), false, &mut out)
                    .await
            }
            step => step,
        };
        match step {
            Step::Reply => {
                let length = u16::try_from(out.len()).unwrap_or(u16::MAX);
                let mut framed = Vec::with_capacity(out.len() + 2);
                framed.extend_from_slice(&length.to_be_bytes());
                framed.extend_from_slice(&out[..usize::from(length)]);
                stream.write_all(&framed).await?;
                filter.stats().latency.observe(arrived.elapsed());
            }
            // `resolve` never asks to resolve again; treat it as nothing to send.
            Step::Drop | Step::Resolve(_) => return Ok(()),
        }
    }
}
