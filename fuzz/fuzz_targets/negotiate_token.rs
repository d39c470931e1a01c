//! Kerberos Negotiate tokens and keytabs on arbitrary bytes: nothing panics, and nothing but a
//! ticket sealed with the service's key is accepted (the fuzzer cannot forge the HMAC).
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use ward_kerberos::{Acceptor, read_keytab};

fuzz_target!(|data: &[u8]| {
    let _ = read_keytab(data);
    let keys = read_keytab(include_bytes!("../../crates/kerberos/tests/data/http-localhost.keytab"))
        .expect("the test keytab");
    let acceptor = Acceptor::new(keys);
    let now = jiff::Timestamp::from_second(1_796_189_160).expect("time");
    let token = base64::engine::general_purpose::STANDARD.encode(data);
    assert!(acceptor.accept(&token, now).is_err(), "a forged token was accepted");
    // And as text, in case it is base64 already.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = acceptor.accept(text, now);
    }
});
