//! `ward lists import` and `ward lists stats`.

use crate::output::say;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::Subcommand;
use ward_lists::{CategoryIndex, IndexBuilder, ListFormat};

use crate::{EXIT_OK, Failure};

#[derive(Debug, Subcommand)]
pub enum ListsCommand {
    /// Build the category index from list files.
    ///
    /// Each source is CATEGORY=FILE (UT1 folders: [SOURCE=]FOLDER, whose sub-folders name the
    /// categories). Bad lines are reported with file and line and skipped.
    Import(ImportArgs),
    /// Entries per category, memory, and where the data came from.
    Stats {
        /// The compiled category index.
        #[arg(long, env = "WARD_INDEX", default_value = "var/ward.idx")]
        index: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Where to write the index (replaced atomically).
    #[arg(long, env = "WARD_INDEX", default_value = "var/ward.idx")]
    out: PathBuf,
    /// UT1/squidGuard folder: one sub-folder per category. [SOURCE=]FOLDER; SOURCE defaults to
    /// "ut1".
    #[arg(long, value_name = "[SOURCE=]FOLDER")]
    ut1: Vec<String>,
    /// Plain list, one domain (or URL) per line.
    #[arg(long, value_name = "CATEGORY=FILE")]
    domains: Vec<String>,
    /// URL prefixes, one per line.
    #[arg(long, value_name = "CATEGORY=FILE")]
    urls: Vec<String>,
    /// Regular expressions over the URL, one per line.
    #[arg(long, value_name = "CATEGORY=FILE")]
    expressions: Vec<String>,
    /// Hosts file (`0.0.0.0 name`).
    #[arg(long, value_name = "CATEGORY=FILE")]
    hosts: Vec<String>,
    /// Adblock-style rules (`||domain^`, `@@||domain^`).
    #[arg(long, value_name = "CATEGORY=FILE")]
    adblock: Vec<String>,
    /// Illegal-content list (IWF, CTIRU): one URL or domain per line; can never be allowed.
    #[arg(long, value_name = "CATEGORY=FILE")]
    illegal: Vec<String>,
    /// Bad lines shown per file (all are counted).
    #[arg(long, default_value_t = 10)]
    show_bad: usize,
}

pub fn run(command: ListsCommand) -> Result<u8, Failure> {
    match command {
        ListsCommand::Import(arguments) => import(arguments),
        ListsCommand::Stats { index } => stats(&index),
    }
}

fn split_source(text: &str) -> Result<(String, PathBuf), Failure> {
    let (name, path) = text
        .split_once('=')
        .ok_or_else(|| Failure::usage(anyhow!("{text:?}: expected CATEGORY=FILE")))?;
    Ok((name.to_string(), PathBuf::from(path)))
}

fn import(arguments: ImportArgs) -> Result<u8, Failure> {
    let started = Instant::now();
    let mut builder = IndexBuilder::new();
    let mut reports = Vec::new();
    for folder in &arguments.ut1 {
        let (source, path) = match folder.split_once('=') {
            Some((source, path)) => (source.to_string(), PathBuf::from(path)),
            None => ("ut1".to_string(), PathBuf::from(folder)),
        };
        reports.extend(builder.add_ut1(&source, &path)?);
    }
    let single_files = [
        (&arguments.domains, ListFormat::Domains, false),
        (&arguments.urls, ListFormat::Urls, false),
        (&arguments.expressions, ListFormat::Expressions, false),
        (&arguments.hosts, ListFormat::Hosts, false),
        (&arguments.adblock, ListFormat::Adblock, false),
        (&arguments.illegal, ListFormat::Illegal, true),
    ];
    for (sources, format, illegal) in single_files {
        for text in sources {
            let (category, path) = split_source(text)?;
            let source = format!("{}:{}", format, path.display());
            reports.push(builder.add_file(&source, &category, format, &path, illegal)?);
        }
    }
    if reports.is_empty() {
        return Err(Failure::usage(anyhow!(
            "no lists given: use --ut1, --domains, --urls, --expressions, --hosts, --adblock or --illegal"
        )));
    }

    let mut bad_total = 0;
    for report in &reports {
        let bad = report.bad_lines.len();
        bad_total += bad;
        let unsupported = if report.unsupported > 0 {
            format!(", {} unsupported", report.unsupported)
        } else {
            String::new()
        };
        say!(
            "{:<12} {:<11} {:>8} entries, {bad} bad lines{unsupported}  {}",
            report.category,
            report.format,
            report.entries,
            report.path
        );
        for line in report.bad_lines.iter().take(arguments.show_bad) {
            eprintln!(
                "{}:{}: {}: {:?}",
                report.path, line.line, line.reason, line.text
            );
        }
        if bad > arguments.show_bad {
            eprintln!(
                "{}: … and {} more bad lines",
                report.path,
                bad - arguments.show_bad
            );
        }
    }

    let index = builder.finish()?;
    if let Some(parent) = arguments.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    index.write_file(&arguments.out)?;
    let stats = index.stats();
    say!(
        "wrote {}: {} categories, {} keys, {} bad lines skipped, {:.1} MB ({:.1} bytes/key) in {:.2}s",
        arguments.out.display(),
        index.categories().len(),
        stats.keys,
        bad_total,
        stats.memory_bytes as f64 / 1e6,
        stats.memory_bytes as f64 / stats.keys.max(1) as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(EXIT_OK)
}

fn stats(path: &std::path::Path) -> Result<u8, Failure> {
    let started = Instant::now();
    let index = CategoryIndex::read_file(path)?;
    let load_time = started.elapsed();
    say!(
        "{:<28} {:>9} {:>7} {:>5} {:>5}  sources",
        "category",
        "domains",
        "urls",
        "expr",
        "illegal"
    );
    for category in index.categories() {
        say!(
            "{:<28} {:>9} {:>7} {:>5} {:>5}  {}",
            category.name,
            category.domains,
            category.urls,
            category.expressions,
            if category.illegal { "yes" } else { "" },
            category.sources.join(", ")
        );
    }
    let stats = index.stats();
    say!(
        "\n{} categories; {} domain entries, {} URL entries, {} expressions; {} distinct keys",
        index.categories().len(),
        stats.domain_entries,
        stats.url_entries,
        stats.expressions,
        stats.keys
    );
    say!(
        "memory {:.1} MB, {:.1} bytes per key; loaded and verified in {:.0} ms",
        stats.memory_bytes as f64 / 1e6,
        stats.memory_bytes as f64 / stats.keys.max(1) as f64,
        load_time.as_secs_f64() * 1e3
    );
    Ok(EXIT_OK)
}
