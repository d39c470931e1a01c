//! Building a [`CategoryIndex`] from list files.

use std::collections::HashMap;
use std::path::Path;

use regex::RegexSetBuilder;

use crate::ListError;
use crate::hash::key_hash;
use crate::host::Host;
use crate::index::{
    Category, CategoryId, CategoryIndex, FLAG_EXCLUDES, FLAG_URLS, IllegalEntry, SourceSummary,
    slot_index,
};
use crate::source::{BadLine, EXPRESSION_SIZE_LIMIT, Entry, ListFormat, parse_list};

/// Load factor of the hash table: low enough that a miss (the common case for parent domains)
/// ends within a cache line or two, high enough to stay within 40 bytes per domain.
const MAX_LOAD: f64 = 0.7;

/// Most categories one index can hold (ids are 16-bit).
pub const MAX_CATEGORIES: usize = u16::MAX as usize;

/// What importing one file did.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// Source name.
    pub source: String,
    /// Category fed.
    pub category: String,
    /// Format the file was read as.
    pub format: ListFormat,
    /// Path (or label) of the file.
    pub path: String,
    /// Entries taken.
    pub entries: usize,
    /// Lines skipped as invalid, with why.
    pub bad_lines: Vec<BadLine>,
    /// Valid lines of a kind Ward does not use.
    pub unsupported: usize,
}

#[derive(Default)]
struct KeyEntry {
    categories: Vec<u16>,
    excludes: Vec<u16>,
    urls: Vec<(Box<str>, u16)>,
}

/// Collects list files and compiles them into a [`CategoryIndex`].
#[derive(Default)]
pub struct IndexBuilder {
    categories: Vec<Category>,
    by_name: HashMap<String, u16>,
    keys: HashMap<Box<str>, KeyEntry>,
    expressions: Vec<(u16, String)>,
    illegal: Vec<IllegalEntry>,
    sources: Vec<SourceSummary>,
}

impl IndexBuilder {
    /// An empty builder.
    pub fn new() -> IndexBuilder {
        IndexBuilder::default()
    }

    /// Imports a UT1/squidGuard folder: one sub-folder per category, each with any of `domains`,
    /// `urls`, `expressions` and `very_restrictive_expression` (the last becomes the category
    /// `NAME_very_restrictive`, so a policy can choose whether to use it). Other files (`usage`,
    /// READMEs) are ignored.
    pub fn add_ut1(&mut self, source: &str, folder: &Path) -> Result<Vec<FileReport>, ListError> {
        let read_error = |error| ListError::Read {
            path: folder.display().to_string(),
            source: error,
        };
        let mut category_folders = Vec::new();
        for item in std::fs::read_dir(folder).map_err(read_error)? {
            let item = item.map_err(read_error)?;
            if item.file_type().map_err(read_error)?.is_dir() {
                category_folders.push(item.path());
            }
        }
        category_folders.sort();
        let mut reports = Vec::new();
        for category_folder in category_folders {
            let Some(name) = category_folder.file_name().and_then(|n| n.to_str()) else {
                return Err(ListError::BadCategoryName(
                    category_folder.display().to_string(),
                ));
            };
            let name = name.to_string();
            for (file, format, category) in [
                ("domains", ListFormat::Domains, name.clone()),
                ("urls", ListFormat::Urls, name.clone()),
                ("expressions", ListFormat::Expressions, name.clone()),
                (
                    "very_restrictive_expression",
                    ListFormat::Expressions,
                    format!("{name}_very_restrictive"),
                ),
            ] {
                let path = category_folder.join(file);
                if path.is_file() {
                    reports.push(self.add_file(source, &category, format, &path, false)?);
                }
            }
        }
        if reports.is_empty() {
            return Err(ListError::NoCategories(folder.display().to_string()));
        }
        Ok(reports)
    }

    /// Imports one list file into `category`. `illegal` marks an illegal-content list (IWF,
    /// CTIRU), whose entries no policy may allow.
    pub fn add_file(
        &mut self,
        source: &str,
        category: &str,
        format: ListFormat,
        path: &Path,
        illegal: bool,
    ) -> Result<FileReport, ListError> {
        let text = std::fs::read(path).map_err(|error| ListError::Read {
            path: path.display().to_string(),
            source: error,
        })?;
        self.add_text(
            source,
            category,
            format,
            &path.display().to_string(),
            &text,
            illegal,
        )
    }

    /// Imports the text of one list; `label` names it in reports (usually its path).
    pub fn add_text(
        &mut self,
        source: &str,
        category: &str,
        format: ListFormat,
        label: &str,
        text: &[u8],
        illegal: bool,
    ) -> Result<FileReport, ListError> {
        let id = self.category(category, source, illegal)?;
        let parsed = parse_list(format, text);
        let entries = parsed.entries.len();
        for (_, entry) in parsed.entries {
            self.add_entry(id, entry, illegal);
        }
        self.sources.push(SourceSummary {
            source: source.to_string(),
            category: category.to_string(),
            format: format.as_str().to_string(),
            path: label.to_string(),
            entries: entries as u64,
            bad_lines: parsed.bad_lines.len() as u64,
        });
        Ok(FileReport {
            source: source.to_string(),
            category: category.to_string(),
            format,
            path: label.to_string(),
            entries,
            bad_lines: parsed.bad_lines,
            unsupported: parsed.unsupported,
        })
    }

    fn category(&mut self, name: &str, source: &str, illegal: bool) -> Result<u16, ListError> {
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
        if !valid_name {
            return Err(ListError::BadCategoryName(name.to_string()));
        }
        if let Some(&id) = self.by_name.get(name) {
            let category = &mut self.categories[usize::from(id)];
            if category.illegal != illegal {
                return Err(ListError::MixedIllegal(name.to_string()));
            }
            if !category.sources.iter().any(|s| s == source) {
                category.sources.push(source.to_string());
            }
            return Ok(id);
        }
        if self.categories.len() >= MAX_CATEGORIES {
            return Err(ListError::TooManyCategories);
        }
        let id = self.categories.len() as u16;
        self.categories.push(Category {
            name: name.to_string(),
            sources: vec![source.to_string()],
            illegal,
            domains: 0,
            urls: 0,
            expressions: 0,
            exceptions: 0,
        });
        self.by_name.insert(name.to_string(), id);
        Ok(id)
    }

    fn add_entry(&mut self, id: u16, entry: Entry, illegal: bool) {
        let category = &mut self.categories[usize::from(id)];
        match entry {
            Entry::Domain(host) => {
                category.domains += 1;
                if illegal {
                    self.illegal.push(IllegalEntry {
                        category: CategoryId(id),
                        host: host.clone(),
                        path: None,
                    });
                }
                push_unique(&mut self.key_entry(&host).categories, id);
            }
            Entry::Exception(host) => {
                category.exceptions += 1;
                push_unique(&mut self.key_entry(&host).excludes, id);
            }
            Entry::Url { host, path } => {
                category.urls += 1;
                if illegal {
                    self.illegal.push(IllegalEntry {
                        category: CategoryId(id),
                        host: host.clone(),
                        path: Some(path.clone()),
                    });
                }
                let urls = &mut self.key_entry(&host).urls;
                if !urls.iter().any(|(p, c)| **p == *path && *c == id) {
                    urls.push((path.into_boxed_str(), id));
                }
            }
            Entry::Expression(pattern) => {
                category.expressions += 1;
                self.expressions.push((id, pattern));
            }
        }
    }

    fn key_entry(&mut self, host: &Host) -> &mut KeyEntry {
        self.keys.entry(host.key().into_boxed_str()).or_default()
    }

    /// Compiles everything added into an index. The result is the same for the same input,
    /// whatever order hash maps happened to use.
    pub fn finish(self) -> Result<CategoryIndex, ListError> {
        let mut sets: Vec<Vec<CategoryId>> = vec![Vec::new()];
        let mut set_ids: HashMap<Vec<u16>, u16> = HashMap::new();
        set_ids.insert(Vec::new(), 0);
        let mut intern = |mut categories: Vec<u16>| -> Result<u16, ListError> {
            categories.sort_unstable();
            categories.dedup();
            if let Some(&id) = set_ids.get(&categories) {
                return Ok(id);
            }
            let id = u16::try_from(sets.len()).map_err(|_| ListError::TooManyCategorySets)?;
            sets.push(categories.iter().map(|&c| CategoryId(c)).collect());
            set_ids.insert(categories, id);
            Ok(id)
        };

        let mut keys: Vec<(Box<str>, KeyEntry)> = self.keys.into_iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));

        let slot_count = ((keys.len() as f64 / MAX_LOAD).ceil() as usize).max(keys.len() + 1);
        let mut slots = vec![0u64; slot_count];
        let mut blob: Vec<u8> = Vec::new();
        let mut min_labels = u8::MAX;
        for (key, entry) in keys.iter_mut() {
            let offset = u32::try_from(blob.len())
                .ok()
                .filter(|&o| o < u32::MAX)
                .ok_or(ListError::IndexTooLarge)?;
            let set = intern(std::mem::take(&mut entry.categories))?;
            let exclude_set = intern(std::mem::take(&mut entry.excludes))?;
            let mut flags = 0;
            if exclude_set != 0 {
                flags |= FLAG_EXCLUDES;
            }
            if !entry.urls.is_empty() {
                flags |= FLAG_URLS;
            }
            blob.push(flags);
            blob.extend_from_slice(&set.to_le_bytes());
            if exclude_set != 0 {
                blob.extend_from_slice(&exclude_set.to_le_bytes());
            }
            // Keys are canonical hosts: at most 253 bytes, or a bracketed IPv6 address.
            blob.push(key.len() as u8);
            blob.extend_from_slice(key.as_bytes());
            if !entry.urls.is_empty() {
                // Group URL entries by path so each path is stored once with its category set.
                entry.urls.sort_unstable();
                let mut by_path: Vec<(&str, Vec<u16>)> = Vec::new();
                for (path, category) in &entry.urls {
                    match by_path.last_mut() {
                        Some((last, categories)) if *last == &**path => categories.push(*category),
                        _ => by_path.push((path, vec![*category])),
                    }
                }
                let count = u16::try_from(by_path.len()).map_err(|_| ListError::TooManyUrls {
                    host: key.to_string(),
                })?;
                blob.extend_from_slice(&count.to_le_bytes());
                for (path, categories) in by_path {
                    let set = intern(categories)?;
                    let length = u16::try_from(path.len()).map_err(|_| ListError::TooManyUrls {
                        host: key.to_string(),
                    })?;
                    blob.extend_from_slice(&set.to_le_bytes());
                    blob.extend_from_slice(&length.to_le_bytes());
                    blob.extend_from_slice(path.as_bytes());
                }
            }
            if !key.starts_with('[') && key.parse::<std::net::Ipv4Addr>().is_err() {
                let labels = key.bytes().filter(|&b| b == b'.').count() + 1;
                min_labels = min_labels.min(labels.min(255) as u8);
            }
            let hash = key_hash(key.as_bytes());
            let mut index = slot_index(hash, slot_count);
            while slots[index] != 0 {
                index += 1;
                if index == slot_count {
                    index = 0;
                }
            }
            slots[index] = (hash & 0xffff_ffff) << 32 | u64::from(offset + 1);
        }

        let expression_set = compile_expressions(&self.expressions)?;
        let index = CategoryIndex {
            categories: self.categories,
            sets,
            slots,
            blob,
            expressions: self
                .expressions
                .into_iter()
                .map(|(c, p)| (CategoryId(c), p))
                .collect(),
            expression_set,
            illegal_entries: self.illegal,
            sources: self.sources,
            key_count: keys.len() as u64,
            min_labels: if min_labels == u8::MAX { 1 } else { min_labels },
        };
        Ok(index)
    }
}

/// Compiles the expressions into one set, matched in a single pass over the URL.
pub(crate) fn compile_expressions(
    expressions: &[(u16, String)],
) -> Result<Option<regex::RegexSet>, ListError> {
    if expressions.is_empty() {
        return Ok(None);
    }
    RegexSetBuilder::new(expressions.iter().map(|(_, p)| p.as_str()))
        .case_insensitive(true)
        .size_limit(EXPRESSION_SIZE_LIMIT * expressions.len().max(1))
        .build()
        .map(Some)
        .map_err(|e| ListError::Expressions(e.to_string()))
}

fn push_unique(items: &mut Vec<u16>, item: u16) {
    if !items.contains(&item) {
        items.push(item);
    }
}
