//! In-process classification throughput, for `bench/classify.sh`.
//!
//! ```sh
//! cargo run --release -p ward-lists --example classify_bench -- INDEX URLS_FILE
//! ```
//!
//! Loads the index (timed), reads the URLs, then on one thread: normalises and classifies every
//! URL (the whole path a request takes), and classifies the hosts alone (what DNS does). Prints
//! one `key=value` line per figure.

use std::time::Instant;

use ward_lists::{CanonicalUrl, CategoryIndex};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().collect();
    let [_, index_path, urls_path] = arguments.as_slice() else {
        return Err("usage: classify_bench INDEX URLS_FILE".into());
    };

    let started = Instant::now();
    let index = CategoryIndex::read_file(std::path::Path::new(index_path))?;
    let load_seconds = started.elapsed().as_secs_f64();
    let stats = index.stats();
    println!("index_load_ms={:.1}", load_seconds * 1e3);
    println!("index_keys={}", stats.keys);
    println!("index_domain_entries={}", stats.domain_entries);
    println!("index_memory_bytes={}", stats.memory_bytes);
    println!(
        "bytes_per_key={:.1}",
        stats.memory_bytes as f64 / stats.keys.max(1) as f64
    );

    let text = std::fs::read_to_string(urls_path)?;
    let raw: Vec<&str> = text.lines().collect();

    // Normalisation alone.
    let started = Instant::now();
    let parsed: Vec<CanonicalUrl> = raw
        .iter()
        .filter_map(|line| CanonicalUrl::parse(line).ok())
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "url_parses_per_second_one_core={:.0}",
        raw.len() as f64 / seconds
    );

    // Classification of URLs already canonical.
    let started = Instant::now();
    let mut categorised = 0usize;
    for url in &parsed {
        if !index.classify_url(url).matches.is_empty() {
            categorised += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "canonical_url_lookups_per_second_one_core={:.0} ({categorised})",
        parsed.len() as f64 / seconds
    );
    drop(parsed);

    // Normalise and classify, as the proxy does for every request.
    let started = Instant::now();
    let mut categorised = 0usize;
    let mut hosts = Vec::with_capacity(raw.len());
    for line in &raw {
        if let Ok(url) = CanonicalUrl::parse(line) {
            if !index.classify_url(&url).matches.is_empty() {
                categorised += 1;
            }
            hosts.push(url.host().clone());
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("urls={}", raw.len());
    println!("urls_categorised={categorised}");
    println!(
        "url_lookups_per_second_one_core={:.0}",
        raw.len() as f64 / seconds
    );

    // Hosts alone, already canonical, as the DNS filter classifies a question name.
    let started = Instant::now();
    let mut categorised = 0usize;
    for _ in 0..3 {
        for host in &hosts {
            if !index.classify_host(host).matches.is_empty() {
                categorised += 1;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("hosts_categorised={}", categorised / 3);
    println!(
        "host_lookups_per_second_one_core={:.0}",
        (hosts.len() * 3) as f64 / seconds
    );
    Ok(())
}
