//! The compiled category index: which categories a host or URL belongs to, and by which entry.
//!
//! Layout (chosen for ≤ 40 bytes per domain and a load that is little more than reading a file):
//! - `blob`: every key (a domain, or the host of URL entries) once, as a packed record;
//! - `slots`: an open-addressing table (linear probing, load ≤ 0.7) of `tag << 32 | offset + 1`,
//!   where `tag` is the low half of the key's hash and `offset` is where its record starts;
//! - `sets`: the distinct sets of categories that records point to (a record stores a set id).
//!
//! A record is `flags: u8, set: u16, [exclude_set: u16], key_len: u8, key,
//! [url_count: u16, (set: u16, path_len: u16, path)*]`; flag bit 0 marks an exclude set (adblock
//! `@@` exceptions), bit 1 marks URL entries. Lookups of a domain probe the table once per
//! parent domain, most specific first; one pass over the name hashes all of them.

use std::fmt;

use regex::RegexSet;

use crate::hash::{key_hash, suffix_hashes};
use crate::host::Host;
use crate::url::CanonicalUrl;

/// Labels most names have at most; longer names are looked up through a heap buffer.
const USUAL_LABELS: usize = 16;

/// Record flag: an exclude set follows the category set.
pub(crate) const FLAG_EXCLUDES: u8 = 1;
/// Record flag: URL entries follow the key.
pub(crate) const FLAG_URLS: u8 = 2;

/// A category's number within one index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CategoryId(pub(crate) u16);

impl CategoryId {
    /// Position in [`CategoryIndex::categories`].
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// What the index knows about one category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Name, e.g. `gambling` (from the UT1 folder, or given on import).
    pub name: String,
    /// Names of the sources that contributed entries, e.g. `ut1`.
    pub sources: Vec<String>,
    /// Entries come from an illegal-content list (IWF, CTIRU): no policy may allow them.
    pub illegal: bool,
    /// Domain entries.
    pub domains: u64,
    /// URL-prefix entries.
    pub urls: u64,
    /// Regular expressions.
    pub expressions: u64,
    /// Adblock `@@` exceptions.
    pub exceptions: u64,
}

/// One entry of an illegal-content list, kept in full so that a policy can be checked against
/// every one of them when it loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IllegalEntry {
    /// The list's category.
    pub category: CategoryId,
    /// Canonical host.
    pub host: Host,
    /// Canonical path prefix, or `None` for a whole-domain entry.
    pub path: Option<String>,
}

/// Summary of one imported file, kept in the index so that `ward lists stats` can say where the
/// data came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSummary {
    /// Source name, e.g. `ut1`.
    pub source: String,
    /// Category the file fed.
    pub category: String,
    /// List format name.
    pub format: String,
    /// Path as given at import.
    pub path: String,
    /// Entries taken.
    pub entries: u64,
    /// Lines reported as bad.
    pub bad_lines: u64,
}

/// How a category matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched<'a> {
    /// A domain entry (the host itself or a parent domain).
    Domain(&'a str),
    /// A URL-prefix entry.
    UrlPrefix {
        /// The entry's host.
        host: &'a str,
        /// The entry's path prefix.
        path: &'a str,
    },
    /// A regular expression.
    Expression(&'a str),
}

impl fmt::Display for Matched<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matched::Domain(domain) => write!(f, "domain {domain}"),
            Matched::UrlPrefix { host, path } => write!(f, "url {host}{path}"),
            Matched::Expression(pattern) => write!(f, "expression {pattern}"),
        }
    }
}

/// One category a request belongs to, and the entry that put it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match<'a> {
    /// The category.
    pub category: CategoryId,
    /// The entry (the most specific one, when several match).
    pub matched: Matched<'a>,
}

/// Every category a request belongs to, each once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classification<'a> {
    /// Matches, most specific entry first; expressions last.
    pub matches: Vec<Match<'a>>,
}

impl Classification<'_> {
    /// True if the category is among the matches.
    pub fn contains(&self, category: CategoryId) -> bool {
        self.matches.iter().any(|m| m.category == category)
    }
}

/// Sizes for `ward lists stats` and the benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    /// Distinct keys (domains and URL hosts).
    pub keys: u64,
    /// Domain entries over all categories.
    pub domain_entries: u64,
    /// URL-prefix entries over all categories.
    pub url_entries: u64,
    /// Expressions.
    pub expressions: u64,
    /// Bytes of the hash table, record blob and category sets.
    pub memory_bytes: u64,
}

/// The compiled, immutable category database. Build one with
/// [`IndexBuilder`](crate::IndexBuilder), or load one with [`CategoryIndex::read_file`].
#[derive(Debug)]
pub struct CategoryIndex {
    pub(crate) categories: Vec<Category>,
    pub(crate) sets: Vec<Vec<CategoryId>>,
    pub(crate) slots: Vec<u64>,
    pub(crate) blob: Vec<u8>,
    pub(crate) expressions: Vec<(CategoryId, String)>,
    pub(crate) expression_set: Option<RegexSet>,
    pub(crate) illegal_entries: Vec<IllegalEntry>,
    pub(crate) sources: Vec<SourceSummary>,
    pub(crate) key_count: u64,
    /// Fewest labels of any domain key: shorter parent domains need no probe.
    pub(crate) min_labels: u8,
}

/// A decoded record.
struct Record<'a> {
    set: u16,
    exclude_set: u16,
    key: &'a [u8],
    /// Bytes after the key: URL entries when `has_urls`.
    rest: &'a [u8],
    has_urls: bool,
}

impl CategoryIndex {
    /// An index with no entries: everything is unclassified.
    pub fn empty() -> CategoryIndex {
        CategoryIndex {
            categories: Vec::new(),
            sets: vec![Vec::new()],
            slots: Vec::new(),
            blob: Vec::new(),
            expressions: Vec::new(),
            expression_set: None,
            illegal_entries: Vec::new(),
            sources: Vec::new(),
            key_count: 0,
            min_labels: 1,
        }
    }

    /// All categories, indexed by [`CategoryId::index`].
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    /// The category with this id.
    pub fn category(&self, id: CategoryId) -> &Category {
        // CategoryIds are only made by this index (or checked against it on load).
        &self.categories[id.index()]
    }

    /// The id of the category with this name.
    pub fn category_id(&self, name: &str) -> Option<CategoryId> {
        self.categories
            .iter()
            .position(|c| c.name == name)
            .and_then(|i| u16::try_from(i).ok())
            .map(CategoryId)
    }

    /// Every entry of every illegal-content list.
    pub fn illegal_entries(&self) -> &[IllegalEntry] {
        &self.illegal_entries
    }

    /// The files the index was built from.
    pub fn sources(&self) -> &[SourceSummary] {
        &self.sources
    }

    /// Sizes, for reports.
    pub fn stats(&self) -> IndexStats {
        let sum = |f: fn(&Category) -> u64| self.categories.iter().map(f).sum();
        let set_bytes: usize = self.sets.iter().map(|s| s.len() * 2 + 24).sum();
        IndexStats {
            keys: self.key_count,
            domain_entries: sum(|c| c.domains),
            url_entries: sum(|c| c.urls),
            expressions: sum(|c| c.expressions),
            memory_bytes: (self.slots.len() * 8 + self.blob.len() + set_bytes) as u64,
        }
    }

    /// The categories of a host, as a DNS query or a CONNECT request shows it. URL entries need a
    /// path and so do not apply; expressions are matched against the host name alone (as
    /// squidGuard does for CONNECT).
    pub fn classify_host(&self, host: &Host) -> Classification<'_> {
        let key = host.key();
        let mut result = Classification::default();
        self.match_keys(&key, host.is_ip(), None, &mut result);
        self.match_expressions(&key, &mut result);
        result
    }

    /// The categories of a full URL.
    pub fn classify_url(&self, url: &CanonicalUrl) -> Classification<'_> {
        let key = url.match_key();
        let host_len = key.len() - url.path_and_query().len();
        let mut result = Classification::default();
        self.match_keys(
            &key[..host_len],
            url.host().is_ip(),
            Some(url.path_and_query()),
            &mut result,
        );
        self.match_expressions(key, &mut result);
        result
    }

    fn match_keys<'a>(
        &'a self,
        host_key: &str,
        is_ip: bool,
        path: Option<&str>,
        result: &mut Classification<'a>,
    ) {
        if self.slots.is_empty() {
            return;
        }
        let bytes = host_key.as_bytes();
        // Names have a few labels; a long one gets room for all it can have.
        let mut usual = [(0u64, 0usize); USUAL_LABELS];
        let many: Vec<(u64, usize)>;
        let hashes: &[(u64, usize)] = if is_ip {
            usual[0] = (key_hash(bytes), 0);
            &usual[..1]
        } else if let Some(count) = suffix_hashes(bytes, &mut usual) {
            &usual[..count]
        } else {
            let mut all = vec![(0, 0); bytes.len() + 1];
            let count = suffix_hashes(bytes, &mut all).unwrap_or(0);
            all.truncate(count);
            many = all;
            &many
        };
        // Parent domains shorter than the shortest key need no probe.
        let probes = if is_ip {
            1
        } else {
            hashes
                .len()
                .saturating_sub(usize::from(self.min_labels).saturating_sub(1))
        };
        // Load the first slot of every probe before examining any: the loads are independent, so
        // the processor overlaps their cache misses instead of waiting for each in turn.
        let mut first_slots = [0u64; USUAL_LABELS];
        for (slot, &(hash, _)) in first_slots.iter_mut().zip(&hashes[..probes]) {
            *slot = self.slots[slot_index(hash, self.slots.len())];
        }
        let mut excluded: Vec<u16> = Vec::new();
        for (position, &(hash, start)) in hashes[..probes].iter().enumerate() {
            if first_slots.get(position) == Some(&0) {
                continue;
            }
            let Some(record) = self.find(hash, &bytes[start..]) else {
                continue;
            };
            if record.exclude_set != 0 {
                for &category in self.set(record.exclude_set) {
                    excluded.push(category.0);
                }
            }
            let key_text = std::str::from_utf8(record.key).unwrap_or("?");
            if record.has_urls
                && let Some(path) = path
            {
                self.match_urls(record.rest, key_text, path, &excluded, result);
            }
            for &category in self.set(record.set) {
                if !excluded.contains(&category.0) && !result.contains(category) {
                    result.matches.push(Match {
                        category,
                        matched: Matched::Domain(key_text),
                    });
                }
            }
        }
    }

    fn match_urls<'a>(
        &'a self,
        mut rest: &'a [u8],
        host: &'a str,
        path: &str,
        excluded: &[u16],
        result: &mut Classification<'a>,
    ) {
        let Some(count) = take_u16(&mut rest) else {
            return;
        };
        for _ in 0..count {
            let (Some(set), Some(length)) = (take_u16(&mut rest), take_u16(&mut rest)) else {
                return;
            };
            let Some(prefix) = take_bytes(&mut rest, usize::from(length)) else {
                return;
            };
            if !path.as_bytes().starts_with(prefix) {
                continue;
            }
            let prefix = std::str::from_utf8(prefix).unwrap_or("?");
            for &category in self.set(set) {
                if !excluded.contains(&category.0) && !result.contains(category) {
                    result.matches.push(Match {
                        category,
                        matched: Matched::UrlPrefix { host, path: prefix },
                    });
                }
            }
        }
    }

    fn match_expressions<'a>(&'a self, text: &str, result: &mut Classification<'a>) {
        let Some(set) = &self.expression_set else {
            return;
        };
        // Most URLs match no expression, and a yes/no search stops earlier than finding every
        // match.
        if !set.is_match(text) {
            return;
        }
        for pattern in set.matches(text).iter() {
            let (category, expression) = &self.expressions[pattern];
            if !result.contains(*category) {
                result.matches.push(Match {
                    category: *category,
                    matched: Matched::Expression(expression),
                });
            }
        }
    }

    fn set(&self, id: u16) -> &[CategoryId] {
        self.sets.get(usize::from(id)).map_or(&[], Vec::as_slice)
    }

    /// Finds the record for `key`, whose hash is `hash`.
    fn find(&self, hash: u64, key: &[u8]) -> Option<Record<'_>> {
        let slot_count = self.slots.len();
        let tag = hash as u32;
        let mut index = slot_index(hash, slot_count);
        // Bounded so that even a damaged table cannot loop forever.
        for _ in 0..slot_count {
            let slot = self.slots[index];
            if slot == 0 {
                return None;
            }
            if (slot >> 32) as u32 == tag {
                let offset = (slot as u32).wrapping_sub(1) as usize;
                if let Some(record) = self.record_at(offset)
                    && record.key == key
                {
                    return Some(record);
                }
            }
            index += 1;
            if index == slot_count {
                index = 0;
            }
        }
        None
    }

    fn record_at(&self, offset: usize) -> Option<Record<'_>> {
        let mut rest = self.blob.get(offset..)?;
        let flags = take_u8(&mut rest)?;
        let set = take_u16(&mut rest)?;
        let exclude_set = if flags & FLAG_EXCLUDES != 0 {
            take_u16(&mut rest)?
        } else {
            0
        };
        let key_len = take_u8(&mut rest)?;
        let key = take_bytes(&mut rest, usize::from(key_len))?;
        Some(Record {
            set,
            exclude_set,
            key,
            rest,
            has_urls: flags & FLAG_URLS != 0,
        })
    }

    /// Checks every slot and record, so that a loaded index is whole or refused. Returns a
    /// description of the first problem.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let set_count = self.sets.len();
        for set in &self.sets {
            if set.iter().any(|c| c.index() >= self.categories.len()) {
                return Err("category set names an unknown category".into());
            }
        }
        let mut records = 0u64;
        for &slot in &self.slots {
            if slot == 0 {
                continue;
            }
            records += 1;
            let offset = (slot as u32).wrapping_sub(1) as usize;
            let record = self
                .record_at(offset)
                .ok_or_else(|| format!("record at offset {offset} is cut short"))?;
            if usize::from(record.set) >= set_count || usize::from(record.exclude_set) >= set_count
            {
                return Err(format!("record at offset {offset} names an unknown set"));
            }
            if key_hash(record.key) as u32 != (slot >> 32) as u32 {
                return Err(format!("record at offset {offset} is in the wrong slot"));
            }
            if record.has_urls {
                let mut rest = record.rest;
                let count = take_u16(&mut rest).ok_or("URL entries cut short")?;
                for _ in 0..count {
                    let set = take_u16(&mut rest).ok_or("URL entry cut short")?;
                    let length = take_u16(&mut rest).ok_or("URL entry cut short")?;
                    take_bytes(&mut rest, usize::from(length)).ok_or("URL entry cut short")?;
                    if usize::from(set) >= set_count {
                        return Err("URL entry names an unknown set".into());
                    }
                }
            }
        }
        if records != self.key_count {
            return Err(format!(
                "table holds {records} records, header says {}",
                self.key_count
            ));
        }
        if self.slots.len() as u64 <= self.key_count && self.key_count > 0 {
            return Err("hash table has no free slot".into());
        }
        for (category, _) in &self.expressions {
            if category.index() >= self.categories.len() {
                return Err("expression names an unknown category".into());
            }
        }
        for entry in &self.illegal_entries {
            if !self
                .categories
                .get(entry.category.index())
                .is_some_and(|c| c.illegal)
            {
                return Err("illegal-list entry in a category not marked illegal".into());
            }
        }
        Ok(())
    }
}

/// Maps a hash onto `0..slot_count` (multiply-shift: no power-of-two table size needed).
pub(crate) fn slot_index(hash: u64, slot_count: usize) -> usize {
    ((u128::from(hash) * slot_count as u128) >> 64) as usize
}

fn take_u8(rest: &mut &[u8]) -> Option<u8> {
    let (&first, tail) = rest.split_first()?;
    *rest = tail;
    Some(first)
}

fn take_u16(rest: &mut &[u8]) -> Option<u16> {
    let bytes = take_bytes(rest, 2)?;
    Some(u16::from_le_bytes([bytes[0], bytes[1]]))
}

fn take_bytes<'a>(rest: &mut &'a [u8], length: usize) -> Option<&'a [u8]> {
    if rest.len() < length {
        return None;
    }
    let (head, tail) = rest.split_at(length);
    *rest = tail;
    Some(head)
}
