//! Imports the real UT1 lists shipped in `shared/data/ut1` and checks what a school would see.

use std::path::PathBuf;

use ward_lists::{CanonicalUrl, CategoryIndex, Host, IndexBuilder};

fn ut1_folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ut1")
}

fn categories(index: &CategoryIndex, url: &str) -> Vec<String> {
    let url = CanonicalUrl::parse(url).expect("valid URL");
    let mut names: Vec<String> = index
        .classify_url(&url)
        .matches
        .iter()
        .map(|m| index.category(m.category).name.clone())
        .collect();
    names.sort();
    names
}

#[test]
fn imports_all_of_ut1() {
    let mut builder = IndexBuilder::new();
    let reports = builder
        .add_ut1("ut1", &ut1_folder())
        .expect("UT1 folder imports");
    let index = builder.finish().expect("index builds");

    // Every category folder with a list file is imported.
    let folders = std::fs::read_dir(ut1_folder())
        .expect("readable")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
        .count();
    let imported: std::collections::BTreeSet<&str> =
        reports.iter().map(|r| r.category.as_str()).collect();
    assert!(
        imported.len() >= folders,
        "{} of {folders} folders",
        imported.len()
    );

    let stats = index.stats();
    assert!(stats.keys > 300_000, "only {} keys", stats.keys);
    let bad: usize = reports.iter().map(|r| r.bad_lines.len()).sum();
    let entries: usize = reports.iter().map(|r| r.entries).sum();
    assert!(bad * 1000 < entries, "{bad} bad lines of {entries}");
    for report in &reports {
        for line in &report.bad_lines {
            assert!(
                line.line > 0 && !line.reason.is_empty(),
                "{}: {line:?}",
                report.path
            );
        }
    }

    // Real entries land where the lists put them, with subdomains.
    assert!(categories(&index, "http://0-casino.info/").contains(&"gambling".to_string()));
    assert!(categories(&index, "http://www.0-casino.info/x").contains(&"gambling".to_string()));
    assert!(categories(&index, "http://020sextoy.com/sk/page").contains(&"adult".to_string()));
    assert!(categories(&index, "http://a.com/img/banner/x.gif").contains(&"publicite".to_string()));
    let strict = categories(&index, "http://example.org/free-porn-videos");
    assert!(
        strict.contains(&"adult_very_restrictive".to_string()),
        "{strict:?}"
    );

    // It survives the file format.
    let loaded = CategoryIndex::from_bytes(&index.to_bytes(), "ut1.idx").expect("loads");
    let host = Host::parse("www.0-casino.info").expect("valid");
    assert_eq!(loaded.classify_host(&host), index.classify_host(&host));
    assert!(
        stats.memory_bytes / stats.keys <= 40,
        "{} bytes per key",
        stats.memory_bytes / stats.keys
    );
}
