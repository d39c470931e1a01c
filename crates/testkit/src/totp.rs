//! Sign-in codes as an authenticator app makes them (RFC 6238: HMAC-SHA1, 30-second steps, six
//! digits), written here apart from the console's own, so that the tests check the console
//! against the standard rather than against itself.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// RFC 4648 base32 (spaces ignored), as a set-up page shows a secret.
pub fn from_base32(text: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    let (mut buffer, mut bits) = (0u64, 0);
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        let value = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
            .find(c.to_ascii_uppercase())
            .expect("a base32 letter") as u64;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bytes.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    bytes
}

/// The six-digit code of `secret` for time step `step`.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret).expect("any key");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", value % 1_000_000)
}

/// The current time step.
pub fn step_now() -> i64 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    i64::try_from(seconds / 30).expect("in range")
}

/// Codes for accounts, each step used once (a server takes a code once, and one step either
/// side of now): waits for the next step when an account has used the three a moment offers.
#[derive(Default)]
pub struct Codes {
    last: Mutex<HashMap<String, i64>>,
}

impl Codes {
    /// An unused code of `secret` for `account`.
    pub fn next(&self, account: &str, secret: &[u8]) -> String {
        loop {
            let seconds = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_secs();
            let now = i64::try_from(seconds / 30).expect("in range");
            // The previous step's code is good only until this step ends: used only with time
            // to spare, so that a slow browser typing it does not carry it past the server's
            // window (one step either side).
            let earliest = if seconds % 30 < 20 { now - 1 } else { now };
            let mut last = self.last.lock().expect("codes");
            let step = earliest.max(last.get(account).map_or(i64::MIN, |last| last + 1));
            if step <= now + 1 {
                last.insert(account.to_owned(), step);
                return code_at(secret, step);
            }
            drop(last);
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors() {
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59 / 30), "287082");
        assert_eq!(code_at(secret, 1_111_111_109 / 30), "081804");
        assert_eq!(from_base32("GEZDGNBVGY3TQOJQ GEZDGNBVGY3TQOJQ"), secret);
    }
}
