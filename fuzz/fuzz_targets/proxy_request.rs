//! What the proxy reads from clients, on arbitrary bytes: the TLS ClientHello parser, and HTTP
//! requests through hyper's HTTP/1.1 server into the proxy's target parsing (absolute form,
//! origin form with Host, CONNECT). Nothing may panic, and a target that parses must have a
//! canonical URL that parses again to itself.
#![no_main]

use std::convert::Infallible;

use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt;
use ward_lists::CanonicalUrl;
use ward_proxy::{hello, target};

fuzz_target!(|data: &[u8]| {
    if let Some((&first, rest)) = data.split_first() {
        if first % 2 == 0 {
            let _ = hello::parse_client_hello(rest);
            return;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let (mut client, server) = tokio::io::duplex(64 * 1024);
            let service = hyper::service::service_fn(|request: hyper::Request<hyper::body::Incoming>| async move {
                if request.method() == hyper::Method::CONNECT {
                    let _ = target::connect_target(request.method(), request.uri());
                } else if let Ok(target) = target::http_target(
                    request.uri(),
                    request.headers().get(hyper::header::HOST).map(|v| v.as_bytes()),
                    false,
                ) {
                    let again = CanonicalUrl::parse(&target.url.to_string()).expect("canonical URL parses");
                    assert_eq!(again, target.url);
                    let _ = target.display_url();
                }
                Ok::<_, Infallible>(hyper::Response::new(String::new()))
            });
            let _ = client.write_all(rest).await;
            let _ = client.shutdown().await;
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(server), service)
                .await;
        });
    }
});
