//! `dig` (Debian's bind9-dnsutils) as the DNS client of the tests, and readers of what it prints.

use std::net::SocketAddr;
use std::process::Command;

/// Runs dig against `server` with `arguments`; returns what it printed.
pub fn dig(server: SocketAddr, arguments: &[&str]) -> String {
    let output = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string()])
        .args(arguments)
        .output()
        .expect(
            "dig is not installed: run scripts/test, which installs it (Debian package \
             bind9-dnsutils)",
        );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `status:` dig printed (NOERROR, NXDOMAIN, REFUSED…), or "(no answer)".
pub fn status(output: &str) -> &str {
    output
        .split("status: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("(no answer)")
}

/// The answer section's lines (name, type and data; no TTL) of a `+noall +answer` dig.
pub fn answers(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|line| !line.starts_with(';') && !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // name ttl class type data… → name type data…
            let mut kept = vec![fields[0]];
            kept.extend_from_slice(&fields[3..]);
            kept.join(" ")
        })
        .collect()
}
