//! FreeRADIUS's `radclient` (Debian `freeradius-utils`), the real RADIUS client the accounting
//! tests send with.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// Sends one accounting request with `attributes` (radclient's text form) to `server`
/// (`ADDRESS:PORT`) with `secret`, one try, two seconds: whether it was answered, and what
/// radclient printed.
pub fn radclient(server: &str, secret: &str, attributes: &str) -> (bool, String) {
    let mut child = Command::new("radclient")
        .args(["-r", "1", "-t", "2", "-x", server, "acct", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("radclient (Debian package freeradius-utils; scripts/test installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(attributes.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("radclient ends");
    let mut said = String::from_utf8_lossy(&output.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), said)
}
