//! What HTTPS inspection reads from clients once their TLS is up, on arbitrary bytes: requests
//! through hyper's HTTP/1.1 and HTTP/2 servers into the proxy's `https://` target parsing (origin
//! form with Host, absolute form as HTTP/2 sends it), and the small DER reader that loads the
//! school's CA. Nothing may panic; a target that parses is `https`, its canonical URL parses
//! again to itself, and its host is what the connection check compares.
#![no_main]

use std::convert::Infallible;

use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt;
use ward_lists::CanonicalUrl;
use ward_proxy::ca::der;
use ward_proxy::target;

async fn service(
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<String>, Infallible> {
    if let Ok(target) = target::http_target(
        request.uri(),
        request.headers().get(hyper::header::HOST).map(|v| v.as_bytes()),
        true,
    ) {
        assert!(target.https);
        let again = CanonicalUrl::parse(&target.url.to_string()).expect("canonical URL parses");
        assert_eq!(again, target.url);
        assert!(target.display_url().starts_with("https://"));
        let _ = target.host_header();
    }
    Ok(hyper::Response::new(String::new()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    match first % 3 {
        0 => {
            if let Ok(fields) = der::certificate_fields(rest) {
                assert!(!fields.public_key.is_empty());
            }
        }
        mode => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let (mut client, server) = tokio::io::duplex(64 * 1024);
                let mut bytes = Vec::new();
                if mode == 2 {
                    // The HTTP/2 preface, so that the fuzzer's bytes reach the frame parser.
                    bytes.extend_from_slice(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
                }
                bytes.extend_from_slice(rest);
                let _ = client.write_all(&bytes).await;
                let _ = client.shutdown().await;
                let io = hyper_util::rt::TokioIo::new(server);
                let service = hyper::service::service_fn(service);
                if mode == 1 {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                } else {
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_secs(1),
                        hyper::server::conn::http2::Builder::new(
                            hyper_util::rt::TokioExecutor::new(),
                        )
                        .serve_connection(io, service),
                    )
                    .await;
                }
            });
        }
    }
});
