//! Load for `bench/https.sh`: HTTPS through an explicit proxy, as browsers send it (CONNECT, then
//! TLS inside the tunnel), which wrk and h2load cannot do. The same client measures Ward, squid
//! with `ssl_bump` and e2guardian with MITM.
//!
//! ```text
//! https_load --proxy 127.0.0.1:3128 --target localhost:8443 --path /index.html \
//!            --connections 100 --seconds 15 --mode keep-alive|handshake [--http2]
//! ```
//!
//! - `keep-alive`: each connection opens one tunnel and sends requests one after another on it
//!   (HTTP/1.1, or HTTP/2 with `--http2`, one request at a time per connection);
//! - `handshake`: every request is a new connection, a new CONNECT and a full TLS handshake.
//!
//! It prints requests per second, the 50th and 99th percentile latency, errors, and how often a
//! kept connection had been closed by the proxy and was opened again. Certificates
//! are not verified (each proxy signs with its own CA; the proxies verify the origin), as wrk
//! does not verify either.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

struct Settings {
    proxy: String,
    target: String,
    path: String,
    connections: usize,
    seconds: u64,
    handshake: bool,
    http2: bool,
}

fn settings() -> Settings {
    let mut settings = Settings {
        proxy: "127.0.0.1:3128".into(),
        target: "localhost:443".into(),
        path: "/".into(),
        connections: 100,
        seconds: 10,
        handshake: false,
        http2: false,
    };
    let mut arguments = std::env::args().skip(1);
    while let Some(flag) = arguments.next() {
        let mut value = || arguments.next().unwrap_or_else(|| usage(&flag));
        match flag.as_str() {
            "--proxy" => settings.proxy = value(),
            "--target" => settings.target = value(),
            "--path" => settings.path = value(),
            "--connections" => {
                settings.connections = value().parse().unwrap_or_else(|_| usage("--connections"))
            }
            "--seconds" => {
                settings.seconds = value().parse().unwrap_or_else(|_| usage("--seconds"))
            }
            "--mode" => {
                settings.handshake = match value().as_str() {
                    "keep-alive" => false,
                    "handshake" => true,
                    _ => usage("--mode"),
                }
            }
            "--http2" => settings.http2 = true,
            other => usage(other),
        }
    }
    settings
}

fn usage(flag: &str) -> ! {
    eprintln!(
        "https_load: bad or missing {flag}\nusage: https_load --proxy HOST:PORT --target HOST:PORT \
         --path PATH --connections N --seconds S --mode keep-alive|handshake [--http2]"
    );
    std::process::exit(2)
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// A tunnel through the proxy to the target, with TLS inside.
async fn tunnel(settings: &Settings, config: &Arc<rustls::ClientConfig>) -> std::io::Result<Tls> {
    let mut stream = TcpStream::connect(&settings.proxy).await?;
    stream.set_nodelay(true)?;
    let connect = format!("CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n\r\n", settings.target);
    stream.write_all(connect.as_bytes()).await?;
    // Read the proxy's answer up to the blank line, a byte at a time (it is short, and nothing
    // after it may be read here).
    let mut head = Vec::with_capacity(128);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 || head.len() > 8192 {
            return Err(std::io::Error::other("the proxy closed the CONNECT"));
        }
        head.push(byte[0]);
    }
    if !head.starts_with(b"HTTP/1.1 200") && !head.starts_with(b"HTTP/1.0 200") {
        return Err(std::io::Error::other(format!(
            "CONNECT refused: {}",
            String::from_utf8_lossy(&head).lines().next().unwrap_or("")
        )));
    }
    let host = settings
        .target
        .rsplit_once(':')
        .map_or(&*settings.target, |(h, _)| h);
    let name = ServerName::try_from(host.to_owned()).map_err(std::io::Error::other)?;
    tokio_rustls::TlsConnector::from(config.clone())
        .connect(name, stream)
        .await
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

async fn open(settings: &Settings, config: &Arc<rustls::ClientConfig>) -> std::io::Result<Sender> {
    let tls = tunnel(settings, config).await?;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let io = TokioIo::new(tls);
    if h2 {
        let (sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Ok(Sender::H2(sender))
    } else {
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Ok(Sender::H1(sender))
    }
}

async fn get(settings: &Settings, sender: &mut Sender, close: bool) -> std::io::Result<()> {
    let uri = match sender {
        Sender::H1(_) => settings.path.clone(),
        Sender::H2(_) => format!("https://{}{}", settings.target, settings.path),
    };
    let mut request = Request::get(uri);
    if let Sender::H1(_) = sender {
        request = request.header(hyper::header::HOST, &settings.target);
        if close {
            request = request.header(hyper::header::CONNECTION, "close");
        }
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(std::io::Error::other)?;
    let response = match sender {
        Sender::H1(sender) => sender.send_request(request).await,
        Sender::H2(sender) => sender.send_request(request).await,
    }
    .map_err(std::io::Error::other)?;
    if !response.status().is_success() {
        return Err(std::io::Error::other(format!(
            "status {}",
            response.status()
        )));
    }
    response
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?;
    Ok(())
}

async fn worker(
    settings: Arc<Settings>,
    config: Arc<rustls::ClientConfig>,
    stop: Arc<AtomicBool>,
    (errors, reconnects): (Arc<AtomicU64>, Arc<AtomicU64>),
) -> Vec<u32> {
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut sender = None;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let result = async {
            // A connection the proxy closed after its last answer (`Connection: close`) is
            // opened again, as a browser would; its time counts in this request's latency.
            let closed = match sender.as_mut() {
                Some(Sender::H1(current)) => current.ready().await.is_err(),
                Some(Sender::H2(current)) => current.ready().await.is_err(),
                None => true,
            };
            if settings.handshake || closed {
                if sender.is_some() && !settings.handshake {
                    reconnects.fetch_add(1, Ordering::Relaxed);
                }
                sender = Some(open(&settings, &config).await?);
            }
            let Some(current) = sender.as_mut() else {
                return Err(std::io::Error::other("no connection"));
            };
            get(&settings, current, settings.handshake).await
        }
        .await;
        match result {
            // Only requests that finished within the measured time count.
            Ok(()) if stop.load(Ordering::Relaxed) => break,
            Ok(()) => {
                latencies.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32)
            }
            Err(_) => {
                errors.fetch_add(1, Ordering::Relaxed);
                sender = None;
                // A refused or dropped connection: do not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if settings.handshake {
            sender = None;
        }
    }
    latencies
}

fn main() {
    let settings = Arc::new(settings());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = if settings.http2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    // Handshakes are measured whole: no session resumption.
    config.resumption = rustls::client::Resumption::disabled();
    let config = Arc::new(config);
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let reconnects = Arc::new(AtomicU64::new(0));
    let measured = AtomicU64::new(0);
    let started = Instant::now();
    let mut latencies: Vec<u32> = runtime.block_on(async {
        let tasks: Vec<_> = (0..settings.connections)
            .map(|_| {
                tokio::spawn(worker(
                    settings.clone(),
                    config.clone(),
                    stop.clone(),
                    (errors.clone(), reconnects.clone()),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(settings.seconds)).await;
        stop.store(true, Ordering::Relaxed);
        measured.store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let mut all = Vec::new();
        for task in tasks {
            if let Ok(mut some) = tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .unwrap_or(Ok(Vec::new()))
            {
                all.append(&mut some);
            }
        }
        all
    });
    let elapsed = measured.load(Ordering::Relaxed) as f64 / 1e6;
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let at = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        f64::from(latencies[at]) / 1000.0
    };
    println!(
        "requests {} rps {:.0} p50 {:.2} ms p99 {:.2} ms errors {} reconnects {}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
        errors.load(Ordering::Relaxed),
        reconnects.load(Ordering::Relaxed)
    );
    runtime.shutdown_timeout(Duration::from_secs(1));
}
