//! Scanning throughput on real HTML: `scan_bench E2GUARDIAN_LISTS PAGE…`.
//!
//! Loads Ward's default list plus every e2guardian list under `E2GUARDIAN_LISTS`, reads the
//! pages into memory, then scans each (HTML to text, normalisation, phrase matching) on one
//! thread, as the proxy does a page. Prints phrases loaded, bytes, pages, seconds and MB/s: of
//! the pages' HTML through all three stages, and of their normalised text through matching
//! alone (DESIGN.md's measure: "on normalised text").
//! `bench/detect.sh` runs it.

use std::time::Instant;

use ward_detect::{PageText, Scanner, default_lists};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(root) = args.next() else {
        eprintln!("usage: scan_bench E2GUARDIAN_LISTS PAGE…");
        std::process::exit(2);
    };
    let mut lists = default_lists();
    let tree = lists
        .import_e2guardian_tree(std::path::Path::new(&root))
        .unwrap_or_else(|error| panic!("{error}"));
    let pages: Vec<Vec<u8>> = args
        .map(|path| std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}")))
        .collect();
    let bytes: usize = pages.iter().map(Vec::len).sum();
    let started = Instant::now();
    let scanner = Scanner::new(lists);
    let compile = started.elapsed();
    let rounds = (200_000_000 / bytes.max(1)).clamp(1, 50);
    // Each stage on its own, for where the time goes (seconds per pass over every page, the
    // mean of `rounds` passes), then all three together.
    let per_pass = |stage: &mut dyn FnMut()| {
        let started = Instant::now();
        for _ in 0..rounds {
            stage();
        }
        started.elapsed().as_secs_f64() / rounds as f64
    };
    let read = |page: &Vec<u8>| {
        let mut text = PageText::new(usize::MAX);
        text.feed(page);
        text
    };
    let texts: Vec<PageText> = pages.iter().map(read).collect();
    let extract = per_pass(&mut || {
        for page in &pages {
            std::hint::black_box(read(page));
        }
    });
    let normalised: Vec<String> = texts.iter().map(PageText::normalised).collect();
    let normalising = per_pass(&mut || {
        for text in &texts {
            std::hint::black_box(text.normalised());
        }
    });
    let matching = per_pass(&mut || {
        for text in &normalised {
            std::hint::black_box(scanner.scan_normalised(text));
        }
    });
    let text_bytes: usize = texts.iter().map(|text| text.text().len()).sum();
    let normalised_bytes: usize = normalised.iter().map(String::len).sum();
    println!(
        "stages_s extract {extract:.4} normalise {normalising:.4} match {matching:.4} (text {text_bytes} bytes, normalised {normalised_bytes} bytes)"
    );
    println!(
        "normalised_mb_per_s {:.1}",
        normalised_bytes as f64 / matching / 1e6
    );
    let started = Instant::now();
    let mut findings = 0usize;
    for _ in 0..rounds {
        for page in &pages {
            let mut text = PageText::new(usize::MAX);
            text.feed(page);
            let title = text.title();
            findings += scanner.scan_normalised(&text.normalised()).len();
            findings += scanner.scan(&title).len();
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let scanned = (bytes * rounds) as f64;
    println!(
        "phrases {} (e2guardian {} from {} files, {} unusable lines)\npages {} bytes {} rounds {}\ncompile_s {:.3}\nautomaton_bytes {}\nscan_s {:.3}\nmb_per_s {:.1}\nfindings {}",
        scanner.lists().phrase_count(),
        tree.phrases,
        tree.files,
        tree.problems.len(),
        pages.len(),
        bytes,
        rounds,
        compile.as_secs_f64(),
        scanner.memory_usage(),
        seconds,
        scanned / seconds / 1e6,
        findings / rounds,
    );
}
