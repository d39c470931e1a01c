//! RADIUS accounting packets on arbitrary bytes: nothing panics, and no packet without the
//! right authenticator is ever accepted (the fuzzer cannot forge MD5 by chance; a packet it
//! builds with the authenticator computed is read, and its response is well-formed).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_gateway::radius::{accounting_response, read_accounting};

fuzz_target!(|data: &[u8]| {
    let secret = b"fuzz-secret";
    if read_accounting(data, secret).is_ok() {
        let response = accounting_response(data, secret).expect("a read packet has a response");
        assert_eq!(response[0], 5);
        assert_eq!(response[1], data[1]);
    }
    // The same bytes with a correct authenticator: framing and attributes are what decide.
    if data.len() >= 20 {
        let mut packet = data.to_vec();
        packet[0] = 4;
        let length = u16::try_from(packet.len().min(4096)).unwrap_or(4096);
        packet[2..4].copy_from_slice(&length.to_be_bytes());
        let end = usize::from(length);
        use md5::Digest as _;
        let mut md5 = md5::Md5::new();
        md5.update(&packet[..4]);
        md5.update([0u8; 16]);
        md5.update(&packet[20..end]);
        md5.update(secret);
        let authenticator: [u8; 16] = md5.finalize().into();
        packet[4..20].copy_from_slice(&authenticator);
        if let Ok(read) = read_accounting(&packet, secret) {
            assert_eq!(read.identifier, packet[1]);
            if let Some(user) = &read.user {
                assert!(!user.is_empty() && !user.chars().any(char::is_control));
            }
        }
    }
});
