//! Telling systemd how Ward is doing (`Type=notify` in the service unit): `READY=1` once Ward
//! is filtering with a loaded policy, so that units ordered after Ward start only then, and
//! `STOPPING=1` when it begins to stop. The protocol is one datagram to the socket named by
//! `NOTIFY_SOCKET` (a path, or an abstract name starting with `@`); without the variable (not
//! started by systemd) nothing is sent.

use std::os::unix::net::UnixDatagram;

/// Sends `state` (e.g. `"READY=1"`) to systemd, if Ward runs under it. A failure is logged,
/// never fatal: the service manager will say that Ward did not become ready.
pub fn notify(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(error) = send(&socket, state) {
        tracing::warn!(%error, state, "cannot tell systemd");
    }
}

fn send(socket: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let sender = UnixDatagram::unbound()?;
    let name = socket.as_bytes();
    if let Some(abstract_name) = name.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt as _;
        let address = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)?;
        sender.send_to_addr(state.as_bytes(), &address)?;
    } else {
        sender.send_to(state.as_bytes(), socket)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_state_reaches_the_socket_named_by_path() {
        let folder = ward_testkit::temp_folder("notify");
        let path = folder.join("notify.sock");
        let receiver = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
        super::send(path.as_os_str(), "READY=1").expect("send");
        let mut buffer = [0u8; 64];
        let length = receiver.recv(&mut buffer).expect("receive");
        assert_eq!(&buffer[..length], b"READY=1");
    }
}
