//! What Ward's tests share, in one dev-only crate instead of files included by `#[path]` from
//! one crate's tests into another's or copied between them: the WebDriver client that drives
//! Debian's headless Chromium (the console's, the proxy's and `ward serve`'s browser tests use
//! it), a fresh temporary folder, free ports, connections from another loopback address (the
//! flood tests), `dig` as the DNS client, a category index built from a few lines of list, and
//! PostgreSQL databases and clusters.

pub mod axe;
pub mod dig;
pub mod kdc;
pub mod oidc;
pub mod postgres;
pub mod radius;
pub mod slapd;
pub mod totp;
pub mod webdriver;

use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty folder of its own under the system's temporary folder, named after `name`.
pub fn temp_folder(name: &str) -> std::path::PathBuf {
    let folder = std::env::temp_dir().join(format!(
        "ward-test-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("create a temporary folder");
    folder
}

/// A TCP connection to `to` from the loopback address `from` (127.0.0.9, say: a client other
/// than the test itself), as a blocking stream, or `None` if it cannot be made. The standard
/// library cannot bind before it connects, so tokio's socket does it on a small runtime.
pub fn connect_from(from: [u8; 4], to: std::net::SocketAddr) -> Option<std::net::TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let stream = runtime
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(std::net::SocketAddr::from((from, 0)))?;
            socket.connect(to).await
        })
        .ok()?;
    let stream = stream.into_std().ok()?;
    stream.set_nonblocking(false).ok()?;
    Some(stream)
}

/// A free TCP port on 127.0.0.1 (bound, then released for the server under test to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free TCP port")
        .port()
}

/// A free UDP port on 127.0.0.1 (free when asked; the caller binds it at once).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("a free UDP port")
        .port()
}

/// One list of a test's category index: its category, its format, its lines, and whether it
/// is an illegal-content list.
pub type TestList<'a> = (&'a str, ward_lists::ListFormat, &'a str, bool);

/// A category index built from `lists`, each from source "test" and named after its category.
pub fn category_index(lists: &[TestList<'_>]) -> std::sync::Arc<ward_lists::CategoryIndex> {
    let mut builder = ward_lists::IndexBuilder::new();
    for (category, format, text, illegal) in lists {
        builder
            .add_text(
                "test",
                category,
                *format,
                category,
                text.as_bytes(),
                *illegal,
            )
            .expect("a test list is valid");
    }
    std::sync::Arc::new(builder.finish().expect("the test index builds"))
}

/// A test certificate authority named `name` and a server certificate for 127.0.0.1 and
/// localhost signed by it, made by `openssl` in `folder`: `ca.pem` (to trust), `ca.key`,
/// `server.pem` and `server.key` (for the server).
pub fn certificates(folder: &std::path::Path, name: &str) {
    let path = |name: &str| folder.join(name);
    run_openssl(
        std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args([
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
            ])
            .arg(path("ca.key"))
            .arg("-out")
            .arg(path("ca.pem")),
    );
    run_openssl(
        std::process::Command::new("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-subj", "/CN=localhost", "-keyout"])
            .arg(path("server.key"))
            .arg("-out")
            .arg(path("server.csr")),
    );
    std::fs::write(
        path("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write the extensions");
    run_openssl(
        std::process::Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-in"])
            .arg(path("server.csr"))
            .arg("-CA")
            .arg(path("ca.pem"))
            .arg("-CAkey")
            .arg(path("ca.key"))
            .args(["-CAcreateserial", "-extfile"])
            .arg(path("server.ext"))
            .arg("-out")
            .arg(path("server.pem")),
    );
}

fn run_openssl(command: &mut std::process::Command) {
    let output = command
        .output()
        .expect("openssl (Debian package openssl) runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
