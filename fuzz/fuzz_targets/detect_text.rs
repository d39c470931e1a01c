//! Risk detection's text handling on arbitrary bytes: a page read in two chunks (split where the
//! input says) gives the same text as read whole and never more than the limit; normalisation is
//! idempotent; scanning with the default lists and the classifier never panics, for short texts
//! and pages on every kind of site, and the classifier's probabilities are probabilities.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ward_detect::{
    Model, PageText, Scanner, SiteKind, default_lists, normalise, normalise_phrase,
};

fn scanner() -> &'static Scanner {
    static SCANNER: OnceLock<Scanner> = OnceLock::new();
    SCANNER.get_or_init(|| {
        Scanner::new(default_lists()).with_model(Model::shared())
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, page)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(page.len());
    let limit = page.len() / 2 + 1;
    let mut whole = PageText::new(limit);
    whole.feed(page);
    let mut split = PageText::new(limit);
    split.feed(&page[..cut]);
    split.feed(&page[cut..]);
    assert_eq!(whole.text(), split.text());
    assert_eq!(whole.title(), split.title());
    let text = String::from_utf8_lossy(page);
    // One reading (a phrase's) is idempotent; text with stretched letters is read twice over.
    let once = normalise_phrase(&text);
    assert_eq!(normalise_phrase(&once), once);
    assert_eq!(normalise(&once), once);
    let _ = scanner().scan_normalised(&normalise(&text));
    let _ = scanner().scan(&whole.text());
    for site in [SiteKind::Ordinary, SiteKind::Informational, SiteKind::HelpService] {
        let _ = scanner().scan_page(&whole, &[], site);
    }
    for prediction in Model::embedded().predict(&once) {
        assert!((0.0..=1.0).contains(&prediction.probability));
    }
});
