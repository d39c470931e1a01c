//! Forwarding to the upstream resolvers: UDP from a fresh random port with a random id, the
//! reply checked against the question; TCP when the reply is truncated; a timeout per try,
//! several tries, and failover to the next resolver. The resolver that last answered is tried
//! first.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::wire::{self, rcode};

/// Why no upstream answered.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No upstream resolvers are configured.
    #[error("no upstream resolvers configured")]
    NoneConfigured,
    /// Every try timed out or failed; the last error.
    #[error("no upstream resolver answered: {0}")]
    Unanswered(String),
}

/// The upstream resolvers.
#[derive(Debug)]
pub struct Upstreams {
    servers: Vec<SocketAddr>,
    timeout: Duration,
    attempts: usize,
    preferred: AtomicUsize,
}

impl Upstreams {
    /// Resolvers tried in order, each try waiting `timeout`, the whole list gone through
    /// `attempts` times.
    pub fn new(servers: Vec<SocketAddr>, timeout: Duration, attempts: usize) -> Upstreams {
        Upstreams {
            servers,
            timeout,
            attempts: attempts.max(1),
            preferred: AtomicUsize::new(0),
        }
    }

    /// The resolvers.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// Asks for `name_wire` (lower-cased wire form) and `qtype`. Returns the reply as the
    /// resolver sent it. A SERVFAIL or REFUSED moves on to the next resolver; if all say so,
    /// the last such reply is returned.
    pub async fn resolve(&self, name_wire: &[u8], qtype: u16) -> Result<Vec<u8>, UpstreamError> {
        if self.servers.is_empty() {
            return Err(UpstreamError::NoneConfigured);
        }
        let mut query = Vec::with_capacity(name_wire.len() + 32);
        let mut last_error = String::new();
        let mut last_failure_reply = None;
        let count = self.servers.len();
        let first = self.preferred.load(Ordering::Relaxed) % count;
        for attempt in 0..self.attempts * count {
            let position = (first + attempt) % count;
            let server = self.servers[position];
            let id = random_id();
            wire::build_query(&mut query, id, name_wire, qtype);
            match self.exchange(server, &query, id).await {
                Ok(reply) => match wire::message_rcode(&reply) {
                    Some(rcode::SERVFAIL | rcode::REFUSED) => {
                        last_error = format!("{server} answered {}", rcode_name(&reply));
                        last_failure_reply = Some(reply);
                    }
                    _ => {
                        self.preferred.store(position, Ordering::Relaxed);
                        return Ok(reply);
                    }
                },
                Err(error) => {
                    tracing::debug!(%server, %error, "upstream try failed");
                    last_error = format!("{server}: {error}");
                }
            }
        }
        match last_failure_reply {
            Some(reply) => Ok(reply),
            None => Err(UpstreamError::Unanswered(last_error)),
        }
    }

    async fn exchange(
        &self,
        server: SocketAddr,
        query: &[u8],
        id: u16,
    ) -> std::io::Result<Vec<u8>> {
        let reply = tokio::time::timeout(self.timeout, udp_exchange(server, query, id))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"))??;
        if !wire::is_truncated(&reply) {
            return Ok(reply);
        }
        tokio::time::timeout(self.timeout, tcp_exchange(server, query, id))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TCP timed out"))?
    }
}

fn rcode_name(reply: &[u8]) -> &'static str {
    match wire::message_rcode(reply) {
        Some(rcode::SERVFAIL) => "SERVFAIL",
        Some(rcode::REFUSED) => "REFUSED",
        _ => "an error",
    }
}

/// A random message id (with the random source port, what makes a forged reply hard to land).
fn random_id() -> u16 {
    let mut bytes = [0u8; 2];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS random source failing is not a reason to stop resolving; fall back to the
        // clock's low bits.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        return (nanos ^ (nanos >> 16)) as u16;
    }
    u16::from_ne_bytes(bytes)
}

/// True if `reply` answers `query`: same id, same question (ignoring case).
fn answers(query: &[u8], reply: &[u8], id: u16) -> bool {
    wire::message_id(reply) == Some(id)
        && match (wire::message_question(query), wire::message_question(reply)) {
            (Some(asked), Some(answered)) => asked.eq_ignore_ascii_case(answered),
            _ => false,
        }
}

async fn udp_exchange(server: SocketAddr, query: &[u8], id: u16) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    socket.send(query).await?;
    let mut buffer = vec![0u8; 65_535];
    loop {
        let length = socket.recv(&mut buffer).await?;
        let reply = &buffer[..length];
        // Anything else (a late reply to an earlier try, a forgery) is ignored; the timeout
        // around this ends the wait.
        if answers(query, reply, id) {
            buffer.truncate(length);
            return Ok(buffer);
        }
    }
}

async fn tcp_exchange(server: SocketAddr, query: &[u8], id: u16) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(server).await?;
    let length = u16::try_from(query.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "query too long"))?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    let length = usize::from(stream.read_u16().await?);
    let mut reply = vec![0u8; length];
    stream.read_exact(&mut reply).await?;
    if answers(query, &reply, id) {
        Ok(reply)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "TCP reply does not match the question",
        ))
    }
}
