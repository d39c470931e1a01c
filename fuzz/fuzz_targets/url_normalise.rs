//! URL and host normalisation on arbitrary text: never panics, and the canonical form is a fixed
//! point (normalising it again changes nothing), so no two spellings can drift apart.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_lists::{CanonicalUrl, Host};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(url) = CanonicalUrl::parse(text) {
        let again = CanonicalUrl::parse(&url.to_string()).expect("canonical URL parses");
        assert_eq!(again, url, "not idempotent for {text:?}");
    }
    if let Ok(host) = Host::parse(text) {
        let again = Host::parse(&host.to_string()).expect("canonical host parses");
        assert_eq!(again, host, "not idempotent for {text:?}");
    }
});
