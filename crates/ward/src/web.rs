//! The console's HTTP server: the accept loop around `ward_console::router`, with the limits
//! every listener of Ward's has (issue 20, item 6). `axum::serve` has none: 20,000 idle
//! connections once took every file descriptor the process had, and with them the proxy and
//! the DNS filter. Here a connection has [`Slots`] (a limit in all and per client address; the
//! connection that has waited longest without a request gives way to a new one), a time-out
//! for each request head and between requests, and an idle time-out for bodies.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt as _;
use ward_gateway::slots::Slots;
use ward_proxy::io::IdleStream;

/// The console's connection limits and time-outs.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections at once, in all and per client.
    pub slots: Arc<Slots>,
    /// To send a request head, and between requests.
    pub header_timeout: Duration,
    /// A body or response with no byte moving.
    pub idle_timeout: Duration,
    /// Longest a connection may take to finish after shutdown begins.
    pub drain_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in flight finish
/// (for at most `limits.drain_timeout`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, say: wait a little rather than spin.
                tracing::warn!(%error, "console: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match limits.slots.admit(peer.ip(), Instant::now()) {
            Ok(slot) => slot,
            Err(why) => {
                tracing::debug!(%peer, %why, "console: connection refused");
                refuse(stream);
                continue;
            }
        };
        let app = app.clone();
        let limits = limits.clone();
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _ = stream.set_nodelay(true);
            let io = TokioIo::new(IdleStream::new(stream, limits.idle_timeout));
            let state = slot.state();
            let service = hyper::service::service_fn(move |mut request| {
                state.busy();
                request.extensions_mut().insert(ConnectInfo(peer));
                let app = app.clone();
                async move {
                    let response = app.oneshot(request.map(axum::body::Body::new)).await;
                    Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
                }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(64 * 1024);
            let connection = builder.serve_connection(io, service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "console connection ended");
                    }
                }
                () = slot.shed() => tracing::debug!(%peer, "console: connection shed to make room"),
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(limits.drain_timeout, connection).await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let _ = tokio::time::timeout(limits.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

/// At the limit: a 503 if the socket takes it at once, then close.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n",
    );
    tokio::spawn(async move {
        let mut stream = stream;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
    });
}
