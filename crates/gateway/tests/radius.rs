//! RADIUS accounting with a real client: FreeRADIUS's `radclient` (Debian `freeradius-utils`)
//! sends Accounting-Requests to a responder built on `ward_gateway::radius`; a packet with the
//! right shared secret gets an Accounting-Response radclient accepts (it checks the response
//! authenticator), one with the wrong secret or garbage gets nothing.

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ward_gateway::radius::{Accounting, Status, accounting_response, read_accounting};

const SECRET: &[u8] = b"school-wifi-secret";

/// A responder on a free port: what it accepted is kept.
fn responder() -> (u16, Arc<Mutex<Vec<Accounting>>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = socket.local_addr().expect("address").port();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let kept = accepted.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buffer) else {
                return;
            };
            let packet = &buffer[..n];
            if let Ok(accounting) = read_accounting(packet, SECRET)
                && let Ok(response) = accounting_response(packet, SECRET)
            {
                kept.lock().expect("kept").push(accounting);
                let _ = socket.send_to(&response, from);
            }
        }
    });
    (port, accepted)
}

/// radclient sending `attributes` with `secret` to the responder: (answered, what it printed).
fn radclient(port: u16, secret: &str, attributes: &str) -> (bool, String) {
    ward_testkit::radius::radclient(&format!("127.0.0.1:{port}"), secret, attributes)
}

#[test]
fn radclient_accounting_is_answered_only_with_the_right_secret() {
    let (port, accepted) = responder();
    let start = "User-Name = \"lwright10\", Acct-Status-Type = Start, \
                 Framed-IP-Address = 10.0.3.17, Acct-Session-Id = \"s-1\", \
                 NAS-IP-Address = 10.0.0.2, Acct-Interim-Interval = 300\n";
    let (ok, said) = radclient(port, "school-wifi-secret", start);
    assert!(ok, "{said}");
    assert!(said.contains("Received Accounting-Response"), "{said}");

    let update = "User-Name = \"lwright10\", Acct-Status-Type = Interim-Update, \
                  Framed-IP-Address = 10.0.3.17, Acct-Session-Id = \"s-1\"\n";
    assert!(radclient(port, "school-wifi-secret", update).0);
    let stop = "User-Name = \"lwright10\", Acct-Status-Type = Stop, \
                Framed-IPv6-Address = 2001:db8::17, Acct-Session-Id = \"s-1\"\n";
    assert!(radclient(port, "school-wifi-secret", stop).0);

    // The wrong secret: no answer, so radclient gives up.
    let (ok, said) = radclient(port, "not-the-secret", start);
    assert!(!ok, "{said}");
    // Garbage: nothing, and the responder goes on.
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sender
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    for garbage in [
        &b""[..],
        b"\x04",
        &[0x04; 19],
        &[0x04, 1, 0, 20, 0, 0],
        &[0x01; 64],
    ] {
        let _ = sender.send_to(garbage, ("127.0.0.1", port));
        let mut answer = [0u8; 64];
        assert!(
            sender.recv_from(&mut answer).is_err(),
            "{garbage:?} was answered"
        );
    }
    assert!(
        radclient(port, "school-wifi-secret", update).0,
        "still answering"
    );

    let accepted = accepted.lock().expect("accepted").clone();
    assert_eq!(accepted.len(), 4, "{accepted:?}");
    assert_eq!(accepted[0].status, Some(Status::Start));
    assert_eq!(accepted[0].user.as_deref(), Some("lwright10"));
    assert_eq!(
        accepted[0].address,
        Some("10.0.3.17".parse().expect("address"))
    );
    assert_eq!(accepted[0].interim_interval, Some(300));
    assert_eq!(accepted[1].status, Some(Status::InterimUpdate));
    assert_eq!(accepted[2].status, Some(Status::Stop));
    assert_eq!(
        accepted[2].address,
        Some("2001:db8::17".parse().expect("address"))
    );
}
