//! Every list format parser on arbitrary bytes: must never panic, and every line must come back
//! as an entry, a bad line, a comment or an unsupported rule, never silently vanish into a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_lists::{IndexBuilder, ListFormat, parse_list};

const FORMATS: [ListFormat; 6] = [
    ListFormat::Domains,
    ListFormat::Urls,
    ListFormat::Expressions,
    ListFormat::Hosts,
    ListFormat::Adblock,
    ListFormat::Illegal,
];

fuzz_target!(|data: &[u8]| {
    for format in FORMATS {
        let parsed = parse_list(format, data);
        let lines = data.split(|&b| b == b'\n').count();
        assert!(parsed.bad_lines.iter().all(|b| b.line >= 1 && b.line <= lines));
    }
    // Whatever parses must also build into an index that survives its own file format.
    let mut builder = IndexBuilder::new();
    if builder.add_text("fuzz", "c", ListFormat::Domains, "fuzz", data, false).is_ok()
        && let Ok(index) = builder.finish()
    {
        let bytes = index.to_bytes();
        assert!(ward_lists::CategoryIndex::from_bytes(&bytes, "fuzz").is_ok());
    }
});
