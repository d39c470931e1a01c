//! URL and host normalisation on arbitrary text: never panics, and the canonical form is a fixed
//! point (normalising it again changes nothing), so no two spellings can drift apart. A trailing
//! space sends any URL down the general path (which trims it), so comparing the two results holds
//! the one-pass shortcut for plain URLs to the general path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_lists::{CanonicalUrl, Host};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = CanonicalUrl::parse(text);
    assert_eq!(
        parsed,
        CanonicalUrl::parse(&format!("{text} ")),
        "the shortcut disagrees for {text:?}"
    );
    if let Ok(url) = parsed {
        let again = CanonicalUrl::parse(&url.to_string()).expect("canonical URL parses");
        assert_eq!(again, url, "not idempotent for {text:?}");
    }
    if let Ok(host) = Host::parse(text) {
        let again = Host::parse(&host.to_string()).expect("canonical host parses");
        assert_eq!(again, host, "not idempotent for {text:?}");
    }
});
