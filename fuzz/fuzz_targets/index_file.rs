//! The index file reader on arbitrary bytes: refuses or loads, never panics, and a loaded index
//! answers lookups without panicking. The input is tried as a whole file, and as a payload inside
//! a header with the right magic, version, length and checksum, so that the fuzzer reaches the
//! payload parser and the record checks behind the checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_lists::{CanonicalUrl, CategoryIndex, FORMAT_VERSION, Host, MAGIC};

fn exercise(bytes: &[u8]) {
    if let Ok(index) = CategoryIndex::from_bytes(bytes, "fuzz") {
        for host in ["example.com", "a.b.c.d.example.org", "10.0.0.1", "[::1]"] {
            let host = Host::parse(host).expect("valid host");
            let _ = index.classify_host(&host);
        }
        let url = CanonicalUrl::parse("http://example.com/path?q=1").expect("valid URL");
        let _ = index.classify_url(&url);
        let _ = index.stats();
    }
}

fuzz_target!(|data: &[u8]| {
    exercise(data);
    let mut file = Vec::with_capacity(32 + data.len());
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    file.extend_from_slice(&0u32.to_le_bytes());
    file.extend_from_slice(&(data.len() as u64).to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    file.extend_from_slice(&0u32.to_le_bytes());
    file.extend_from_slice(data);
    exercise(&file);
});
