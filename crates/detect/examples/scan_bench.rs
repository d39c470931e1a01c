//! Scanning throughput on real HTML: `scan_bench E2GUARDIAN_LISTS PAGE…`.
//!
//! Loads Ward's default lists plus every e2guardian list under `E2GUARDIAN_LISTS`, reads the
//! pages into memory, then scans each on one thread as the proxy does a page (HTML to text, then
//! `Scanner::scan_page`: the whole text normalised and matched, and where a phrase was found,
//! each paragraph normalised, matched and read by the classifier). Prints phrases loaded, bytes,
//! pages, seconds and MB/s: of the pages' HTML through it all (with the classifier, and with
//! the lists alone), and of their normalised text through matching alone (DESIGN.md's measure:
//! "on normalised text"). Then the time to score each search and chat line of the dev cases
//! (`crates/detect/eval/dev.tsv`) with the lists and the classifier: median and 99th
//! percentile. `bench/detect.sh` runs it.

use std::time::Instant;

use ward_detect::{Model, PageText, Scanner, SiteKind, default_lists, eval};

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
    let lists_only = Scanner::new(lists);
    let compile = started.elapsed();
    let scanner = lists_only.clone().with_model(Model::shared());
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
    // The whole scan, with the classifier and with the lists alone, alternating rounds.
    let mut seconds = [0f64; 2];
    let mut findings = [0usize; 2];
    for _ in 0..rounds {
        for (which, scanner) in [&scanner, &lists_only].into_iter().enumerate() {
            let started = Instant::now();
            for page in &pages {
                let mut text = PageText::new(usize::MAX);
                text.feed(page);
                findings[which] += scanner.scan_page(&text, &[], SiteKind::Ordinary).len();
            }
            seconds[which] += started.elapsed().as_secs_f64();
        }
    }
    let scanned = (bytes * rounds) as f64;
    println!(
        "phrases {} (e2guardian {} from {} files, {} unusable lines)\npages {} bytes {} rounds {}\ncompile_s {:.3}\nautomaton_bytes {}\nscan_s {:.3}\nmb_per_s {:.1}\nfindings {}\nlists_alone_mb_per_s {:.1}\nlists_alone_findings {}",
        scanner.lists().phrase_count(),
        tree.phrases,
        tree.files,
        tree.problems.len(),
        pages.len(),
        bytes,
        rounds,
        compile.as_secs_f64(),
        scanner.memory_usage(),
        seconds[0],
        scanned / seconds[0] / 1e6,
        findings[0] / rounds,
        scanned / seconds[1] / 1e6,
        findings[1] / rounds,
    );
    // Short texts: every search and chat line of the dev cases, each scored alone.
    let (cases, _) = eval::parse_cases("dev.tsv", include_str!("../eval/dev.tsv"));
    let short: Vec<&str> = cases
        .iter()
        .filter(|c| matches!(c.kind, eval::TextKind::Search | eval::TextKind::Chat))
        .map(|c| c.text.as_str())
        .collect();
    let mut times: Vec<f64> = Vec::with_capacity(short.len() * 20);
    for _ in 0..20 {
        for text in &short {
            let started = Instant::now();
            std::hint::black_box(scanner.scan(text));
            times.push(started.elapsed().as_secs_f64() * 1e6);
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |share: f64| times[((times.len() - 1) as f64 * share) as usize];
    println!(
        "short_texts {} short_us_p50 {:.1} short_us_p99 {:.1} short_us_max {:.1}",
        short.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
