//! What Ward's tests share, in one dev-only crate instead of files included by `#[path]` from
//! one crate's tests into another's: the WebDriver client that drives Debian's headless
//! Chromium (the console's, the proxy's and `ward serve`'s browser tests use it).

pub mod webdriver;

use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty folder of its own under the system's temporary folder, named after `name`.
pub fn temp_folder(name: &str) -> std::path::PathBuf {
    let folder = std::env::temp_dir().join(format!(
        "ward-test-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("create a temporary folder");
    folder
}
