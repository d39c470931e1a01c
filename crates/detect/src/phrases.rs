//! Weighted phrase lists (issue 7, part 1) and scanning text against them.
//!
//! Ward's own list format, one file per set of categories:
//!
//! ```text
//! # Comments start with #.
//! category self-harm "Self-harm and suicide"
//! about "Searches and pages about hurting oneself."   # shown on the public page
//! threshold 40
//! severity primary=5 secondary=4 staff=3
//!
//! 40 suicide              # whole words (the default)
//! 40 kill myself          # several words: whatever separates them in the text
//! 20 overdos*             # * at an end: the word may go on (overdose, overdosing)
//! 20 *cide                # ... or may start earlier
//! 30 pills & overdos*     # all of several phrases, anywhere in the text
//! -40 suicide prevention  # a negative weight: a harmless context
//! ```
//!
//! Every phrase goes through [`normalise`] when the list is loaded, as the text does when it is
//! scanned, so a phrase written once matches its evasions. A category fires when the weights of
//! the phrases found in a text add up to its threshold or more; each phrase counts once per text
//! (a long page repeating a word is not more worrying than a short one saying it once).

use std::collections::{HashMap, HashSet};
use std::fmt;

use std::sync::Arc;

use crate::context::SiteKind;
use crate::matcher::{Found, Matcher};
use crate::model::{MODEL_MAX_BYTES, Model};
use crate::{PageText, normalise};

/// The age bands a category's severity is given for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgeBand {
    /// Primary pupils (EYFS to Year 6).
    Primary,
    /// Secondary pupils.
    Secondary,
    /// Staff and adults.
    Staff,
}

impl AgeBand {
    fn index(self) -> usize {
        match self {
            AgeBand::Primary => 0,
            AgeBand::Secondary => 1,
            AgeBand::Staff => 2,
        }
    }
}

/// A list line that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListError {
    /// The file (or name) it came from.
    pub source: String,
    /// Its line number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.line, self.message)
    }
}

/// The fewest characters of a part matched inside words (`*abc*`, `abc*`, `*abc`).
pub const MIN_OPEN_PART: usize = 3;

/// Where a phrase may sit in the text's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Anchor {
    /// Whole words only.
    Words,
    /// The last word may go on (`overdos*`).
    Prefix,
    /// The first word may start earlier (`*cide`).
    Suffix,
    /// Anywhere, even inside words (`*cide*`).
    Anywhere,
}

/// One part of a listed phrase: normalised text and where it may sit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Part {
    /// The normalised words, without the padding spaces.
    pub text: String,
    /// Where it may sit.
    pub anchor: Anchor,
}

impl Part {
    /// Reads one part as written in a list (`kill myself`, `overdos*`, `*cide`).
    pub fn parse(written: &str) -> Option<Part> {
        let written = written.trim();
        let starts = written.starts_with('*');
        let ends = written.len() > 1 && written.ends_with('*');
        let inner = written.trim_matches('*');
        let text = crate::normalise::normalise_phrase(inner).trim().to_owned();
        if text.is_empty() {
            return None;
        }
        let anchor = match (starts, ends) {
            (false, false) => Anchor::Words,
            (false, true) => Anchor::Prefix,
            (true, false) => Anchor::Suffix,
            (true, true) => Anchor::Anywhere,
        };
        Some(Part { text, anchor })
    }

    /// Whether the part is too short to be matched inside words: one or two letters there
    /// would match almost any text (`*e*`). Whole words of any length are fine (`kms`).
    pub fn too_short(&self) -> bool {
        self.anchor != Anchor::Words && self.text.chars().count() < MIN_OPEN_PART
    }

    /// The pattern searched for in normalised text (which has a space before and after every
    /// word).
    fn pattern(&self) -> String {
        match self.anchor {
            Anchor::Words => format!(" {} ", self.text),
            Anchor::Prefix => format!(" {}", self.text),
            Anchor::Suffix => format!("{} ", self.text),
            Anchor::Anywhere => self.text.clone(),
        }
    }

    /// The part as a list would write it.
    pub fn written(&self) -> String {
        match self.anchor {
            Anchor::Words => self.text.clone(),
            Anchor::Prefix => format!("{}*", self.text),
            Anchor::Suffix => format!("*{}", self.text),
            Anchor::Anywhere => format!("*{}*", self.text),
        }
    }
}

/// A weighted phrase: one part, or several that must all appear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase {
    /// The parts (all must be found).
    pub parts: Vec<Part>,
    /// Its weight (negative for a harmless context).
    pub weight: i32,
    /// The language its list declared (`language pl`), if not English.
    pub language: Option<String>,
}

impl Phrase {
    /// The phrase as a list would write it.
    pub fn written(&self) -> String {
        self.parts
            .iter()
            .map(Part::written)
            .collect::<Vec<_>>()
            .join(" & ")
    }
}

/// A category of risk with its phrases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Its id (`self-harm`).
    pub id: String,
    /// Its name as shown (`Self-harm and suicide`).
    pub title: String,
    /// What it watches for, in a sentence for pupils and parents (may be empty).
    pub about: String,
    /// The score at which it fires.
    pub threshold: i32,
    /// Severity (1–5) for primary pupils, secondary pupils and staff.
    pub severity: [u8; 3],
    /// Its phrases.
    pub phrases: Vec<Phrase>,
}

impl Category {
    /// The severity of a finding for someone in `band`.
    pub fn severity(&self, band: AgeBand) -> u8 {
        self.severity[band.index()]
    }
}

/// Phrase lists read from Ward's format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhraseLists {
    /// The categories, in the order first seen.
    pub categories: Vec<Category>,
}

impl PhraseLists {
    /// Reads a list in Ward's format. Lines that cannot be used are returned with their line
    /// numbers and skipped; the rest is kept. A category seen again (in this or another file)
    /// gets the new phrases added.
    pub fn parse(&mut self, source: &str, text: &str) -> Vec<ListError> {
        let mut problems = Vec::new();
        let mut current: Option<usize> = None;
        // The language of the phrases from here on (a `language` line), if not English.
        let mut language: Option<String> = None;
        for (number, line) in text.lines().enumerate() {
            let error = |message: String| ListError {
                source: source.to_owned(),
                line: number + 1,
                message,
            };
            let line = match line.find(" #") {
                Some(at) => &line[..at],
                None => line,
            }
            .trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            match keyword {
                "category" => {
                    let (id, title) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                    if id.is_empty()
                        || !id
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    {
                        problems.push(error(format!(
                            "a category needs an id of lower-case letters, digits and -: {rest:?}"
                        )));
                        current = None;
                        continue;
                    }
                    let title = title.trim().trim_matches('"');
                    current = Some(self.category_index(id, title));
                }
                "language" => {
                    if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_lowercase()) {
                        problems.push(error(format!(
                            "a language is a code of lower-case letters (pl, ar): {rest:?}"
                        )));
                        continue;
                    }
                    language = (rest != "en").then(|| rest.to_owned());
                }
                "about" => {
                    let Some(index) = current else {
                        problems.push(error("about before any category".into()));
                        continue;
                    };
                    self.categories[index].about = rest.trim_matches('"').to_owned();
                }
                "threshold" | "severity" => {
                    let Some(index) = current else {
                        problems.push(error(format!("{keyword} before any category")));
                        continue;
                    };
                    let category = &mut self.categories[index];
                    if keyword == "threshold" {
                        match rest.parse::<i32>() {
                            Ok(threshold) if threshold > 0 => category.threshold = threshold,
                            _ => problems.push(error(format!(
                                "the threshold must be a whole number above 0, not {rest:?}"
                            ))),
                        }
                    } else if let Err(message) = parse_severity(rest, &mut category.severity) {
                        problems.push(error(message));
                    }
                }
                weight => {
                    let Some(index) = current else {
                        problems.push(error("a phrase before any category".into()));
                        continue;
                    };
                    let Ok(weight) = weight.parse::<i32>() else {
                        problems.push(error(format!(
                            "expected a weight (a whole number) then a phrase, or category, \
                             threshold or severity; found {keyword:?}"
                        )));
                        continue;
                    };
                    let parts: Option<Vec<Part>> = rest.split('&').map(Part::parse).collect();
                    match parts {
                        Some(parts) if parts.iter().any(Part::too_short) => {
                            problems.push(error(format!(
                                "{rest:?}: a part matched inside words needs at least \
                                 {MIN_OPEN_PART} letters (it would match almost any text)"
                            )))
                        }
                        Some(parts) if !parts.is_empty() && weight != 0 => {
                            // A phrase that reads the same as one the category has already
                            // (`don't tell` and `dont tell`, `a & b` and `b & a`) counts once:
                            // the later line sets its weight, so a school's own list can
                            // change a built-in one.
                            let phrases = &mut self.categories[index].phrases;
                            let same_parts = |p: &&mut Phrase| {
                                p.parts.len() == parts.len()
                                    && p.parts.iter().all(|part| parts.contains(part))
                            };
                            match phrases.iter_mut().find(same_parts) {
                                Some(same) => same.weight = weight,
                                None => phrases.push(Phrase {
                                    parts,
                                    weight,
                                    language: language.clone(),
                                }),
                            }
                        }
                        Some(_) if weight == 0 => {
                            problems.push(error("a weight of 0 would do nothing".into()))
                        }
                        _ => problems.push(error(format!("no words in the phrase {rest:?}"))),
                    }
                }
            }
        }
        problems
    }

    /// The index of category `id`, created with `title` if new.
    pub(crate) fn category_index(&mut self, id: &str, title: &str) -> usize {
        if let Some(index) = self.categories.iter().position(|c| c.id == id) {
            if !title.is_empty() {
                self.categories[index].title = title.to_owned();
            }
            return index;
        }
        self.categories.push(Category {
            id: id.to_owned(),
            title: if title.is_empty() { id } else { title }.to_owned(),
            about: String::new(),
            threshold: 50,
            severity: [3, 3, 2],
            phrases: Vec::new(),
        });
        self.categories.len() - 1
    }

    /// How many phrases all categories hold.
    pub fn phrase_count(&self) -> usize {
        self.categories.iter().map(|c| c.phrases.len()).sum()
    }

    /// A phrase of the lists, as they write it, given as someone typed it (`Kill  Myself`,
    /// `overdose` for `overdos*`, parts joined by `&` in any order): normalised, and the
    /// wildcards (`*`) may be left out. `None` when no list has it.
    pub fn listed(&self, typed: &str) -> Option<String> {
        let mut wanted: Vec<String> = typed
            .split('&')
            .filter_map(Part::parse)
            .map(|part| part.text)
            .collect();
        if wanted.is_empty() {
            return None;
        }
        wanted.sort();
        let exact: Vec<Part> = typed.split('&').filter_map(Part::parse).collect();
        let mut loose = None;
        for phrase in self.categories.iter().flat_map(|c| &c.phrases) {
            if phrase.parts.len() != wanted.len() {
                continue;
            }
            let mut texts: Vec<&str> = phrase.parts.iter().map(|p| p.text.as_str()).collect();
            texts.sort_unstable();
            if texts != wanted {
                continue;
            }
            if exact.iter().all(|part| phrase.parts.contains(part)) {
                return Some(phrase.written());
            }
            loose.get_or_insert_with(|| phrase.written());
        }
        loose
    }
}

fn parse_severity(text: &str, severity: &mut [u8; 3]) -> Result<(), String> {
    for item in text.split_whitespace() {
        let (band, value) = item
            .split_once('=')
            .ok_or_else(|| format!("write severities as band=N (primary=5), not {item:?}"))?;
        let value: u8 = value
            .parse()
            .ok()
            .filter(|v| (1..=5).contains(v))
            .ok_or_else(|| format!("a severity is 1 to 5, not {value:?}"))?;
        let index = match band {
            "primary" => 0,
            "secondary" => 1,
            "staff" => 2,
            other => {
                return Err(format!(
                    "the age bands are primary, secondary and staff, not {other:?}"
                ));
            }
        };
        severity[index] = value;
    }
    Ok(())
}

/// What a scan found in one category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The category's id.
    pub category: String,
    /// The sum of the weights of the phrases found.
    pub score: i32,
    /// The phrases found, as written, with their weights.
    pub phrases: Vec<(String, i32)>,
    /// Normalised text around the first phrase found.
    pub context: String,
    /// Which layer fired: the lists, the model, or both.
    pub layer: Layer,
    /// What the model made of the text in this category, when it read it.
    pub model: Option<ModelView>,
}

impl fmt::Display for ModelView {
    /// `87.0% sure (fires at 98.7%); most because of "unalive", "…nalive…"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.1}% sure (fires at {:.1}%)",
            f64::from(self.per_mille) / 10.0,
            f64::from(self.threshold_per_mille) / 10.0
        )?;
        if self.overruled {
            f.write_str(", sure enough that it is harmless to overrule the lists")?;
        }
        for (index, feature) in self.because.iter().enumerate() {
            let lead = if index == 0 {
                "; most because of "
            } else {
                ", "
            };
            write!(f, "{lead}\"{feature}\"")?;
        }
        Ok(())
    }
}

/// Which of detection's layers found something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// The phrase lists reached the category's threshold.
    Lists,
    /// The classifier was sure enough; the lists were not.
    Model,
    /// Both.
    Both,
    /// Neither (a finding that did not fire, kept to explain a miss).
    Neither,
}

impl Layer {
    /// How a DSL reads it.
    pub fn describe(self) -> &'static str {
        match self {
            Layer::Lists => "phrase lists",
            Layer::Model => "classifier",
            Layer::Both => "phrase lists and classifier",
            Layer::Neither => "neither layer",
        }
    }
}

/// The classifier's view of a text in one category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelView {
    /// How sure it is that the text is in the category, in thousandths.
    pub per_mille: u16,
    /// The level at which it fires, in thousandths.
    pub threshold_per_mille: u16,
    /// Whether it was sure enough that the text is *not* in the category to overrule the
    /// lists' hit.
    pub overruled: bool,
    /// The features that raised it most, as written.
    pub because: Vec<String>,
}

/// Phrase lists compiled for scanning: one automaton over every distinct part.
#[derive(Debug, Clone)]
pub struct Scanner {
    lists: PhraseLists,
    matcher: Matcher,
    /// Per pattern: the phrases it is the key part of, by number, in order (phrases are
    /// numbered through the categories in order, so numbers in order are grouped by category).
    /// A phrase's key part is the one fewest phrases share: a phrase is found only if all its
    /// parts are, so it need be looked at only when its key part is found, and a common word
    /// (`adult`, in thousands of e2guardian's combinations) no longer brings every phrase it
    /// is in to be checked.
    keyed: Vec<Vec<u32>>,
    /// Per phrase number: its category and its index there.
    numbered: Vec<(usize, usize)>,
    /// Per category and phrase: the patterns that make it up.
    parts: Vec<Vec<Vec<usize>>>,
    /// Parts of several words run together (`everyonehatesyou`), matched in short texts.
    alias_matcher: Matcher,
    /// Per pattern of `alias_matcher`: the part it stands for.
    alias_of: Vec<usize>,
    /// Per category: its phrases, as written, that only another language's list gives (the
    /// classifier, which knows English, does not overrule a hit they alone made).
    foreign: Vec<HashSet<String>>,
    /// The classifier, if one is used, and per list category its category there.
    model: Option<(Arc<Model>, Vec<Option<usize>>)>,
}

/// How many characters of context either side of the first phrase found.
const CONTEXT: usize = 60;

impl Scanner {
    /// Compiles `lists`.
    pub fn new(lists: PhraseLists) -> Scanner {
        let mut patterns: Vec<String> = Vec::new();
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut uses: Vec<Vec<u32>> = Vec::new();
        let mut numbered = Vec::new();
        let mut parts = Vec::with_capacity(lists.categories.len());
        for (c, category) in lists.categories.iter().enumerate() {
            let mut category_parts = Vec::with_capacity(category.phrases.len());
            for (p, phrase) in category.phrases.iter().enumerate() {
                let number = u32::try_from(numbered.len())
                    .unwrap_or_else(|_| panic!("more than {} phrases", u32::MAX));
                numbered.push((c, p));
                let mut phrase_parts = Vec::with_capacity(phrase.parts.len());
                for part in &phrase.parts {
                    let pattern = part.pattern();
                    let id = *ids.entry(pattern.clone()).or_insert_with(|| {
                        patterns.push(pattern);
                        uses.push(Vec::new());
                        patterns.len() - 1
                    });
                    // A phrase's parts are added together, so a repeat is the last one.
                    if uses[id].last() != Some(&number) {
                        uses[id].push(number);
                    }
                    phrase_parts.push(id);
                }
                category_parts.push(phrase_parts);
            }
            parts.push(category_parts);
        }
        // A phrase of several words spelt out letter by letter (`e v e r y o n e h a t e s u`)
        // is read as one word: each such part of Ward's own lists (not an imported e2guardian
        // list's) is also looked for as its words run together, in plain words and in
        // text-speak (`everyonehatesyou`, `everyonehatesu`), by a second automaton that reads
        // short texts only, so that pages pay nothing for this rare evasion.
        let mut alias_patterns: Vec<String> = Vec::new();
        let mut alias_of: Vec<usize> = Vec::new();
        for id in 0..patterns.len() {
            let imported = uses[id].iter().all(|&number| {
                let (category, _) = numbered[number as usize];
                lists.categories[category].id.starts_with("e2g-")
            });
            if imported {
                continue;
            }
            for alias in run_together(&patterns[id]) {
                if ids.contains_key(&alias) || alias_patterns.contains(&alias) {
                    continue;
                }
                alias_patterns.push(alias);
                alias_of.push(id);
            }
        }
        let mut keyed: Vec<Vec<u32>> = vec![Vec::new(); patterns.len()];
        for (number, &(category, phrase)) in numbered.iter().enumerate() {
            let phrase_parts: &Vec<usize> = &parts[category][phrase];
            let key = phrase_parts
                .iter()
                .copied()
                .min_by_key(|&id| (uses[id].len(), std::cmp::Reverse(patterns[id].len())));
            if let Some(key) = key {
                keyed[key].push(u32::try_from(number).unwrap_or(u32::MAX));
            }
        }
        let alias_matcher = Matcher::new(&alias_patterns)
            .unwrap_or_else(|error| panic!("building the run-together automaton: {error}"));
        // Every pattern is valid for the builder (plain strings); an error here would be a
        // size limit, which the defaults do not impose.
        let matcher = Matcher::new(&patterns)
            .unwrap_or_else(|error| panic!("building the phrase automaton: {error}"));
        let foreign = lists
            .categories
            .iter()
            .map(|category| {
                // Most categories (every imported e2guardian one) have no other language's
                // phrase: nothing to write out for them.
                if category.phrases.iter().all(|p| p.language.is_none()) {
                    return HashSet::new();
                }
                let english: HashSet<String> = category
                    .phrases
                    .iter()
                    .filter(|p| p.language.is_none())
                    .map(Phrase::written)
                    .collect();
                category
                    .phrases
                    .iter()
                    .filter(|p| p.language.is_some())
                    .map(Phrase::written)
                    .filter(|written| !english.contains(written))
                    .collect()
            })
            .collect();
        Scanner {
            lists,
            matcher,
            keyed,
            numbered,
            parts,
            alias_matcher,
            alias_of,
            foreign,
            model: None,
        }
    }

    /// The same lists with `model` as the second layer: it reads texts up to
    /// [`MODEL_MAX_BYTES`] (searches, addresses, messages, titles, paragraphs) in the lists'
    /// categories it knows, fires where it is sure enough, and overrules a list hit it is sure
    /// is harmless.
    pub fn with_model(mut self, model: Arc<Model>) -> Scanner {
        let index = self
            .lists
            .categories
            .iter()
            .map(|category| {
                model
                    .categories()
                    .iter()
                    .position(|known| known.id == category.id)
            })
            .collect();
        self.model = Some((model, index));
        self
    }

    /// The classifier, if there is one.
    pub fn model(&self) -> Option<&Model> {
        self.model.as_ref().map(|(model, _)| &**model)
    }

    /// Heap bytes the compiled automaton uses.
    pub fn memory_usage(&self) -> usize {
        self.matcher.memory_usage()
    }

    /// The lists it scans for.
    pub fn lists(&self) -> &PhraseLists {
        &self.lists
    }

    /// Scans `text` (any text: it is normalised here) and returns the categories whose score
    /// reached their threshold, highest score first.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        self.scan_normalised(&normalise(text))
    }

    /// Scans text already [`normalise`]d.
    pub fn scan_normalised(&self, text: &str) -> Vec<Finding> {
        self.scan_normalised_excluding(text, &[])
    }

    /// Scans text already [`normalise`]d, leaving out phrases the school has excluded (as
    /// [`Phrase::written`] writes them): a category's score is what the other phrases add up to.
    pub fn scan_normalised_excluding(&self, text: &str, excluded: &[String]) -> Vec<Finding> {
        self.score(text, excluded, true)
    }

    /// Scans a page a paragraph at a time (see the module `context`'s documentation): a
    /// category fires if it fires in one paragraph, the model reads the paragraphs in which a
    /// phrase was found, and the site's kind tempers what fired. `excluded` phrases are left
    /// out as in [`Scanner::scan_normalised_excluding`].
    pub fn scan_page(&self, page: &PageText, excluded: &[String], site: SiteKind) -> Vec<Finding> {
        // Most pages fire nothing: one pass over the whole text says so. Those that do are read
        // again a paragraph at a time, in Ward's categories that fired. (So a paragraph that
        // would fire alone is missed when harmless contexts elsewhere on the page outweigh it.)
        let normalised = page.normalised();
        let mut whole_page: Vec<Finding> = Vec::new();
        let mut fired: Vec<String> = Vec::new();
        for finding in self.list_findings(&normalised, excluded) {
            if finding.layer != Layer::Lists {
                continue;
            }
            // An imported e2guardian list is weighed over the whole page, as e2guardian
            // weighs it; Ward's own lists are written for one text, a paragraph.
            if finding.category.starts_with("e2g-") {
                whole_page.push(finding);
            } else {
                fired.push(finding.category);
            }
        }
        if fired.is_empty() {
            return crate::context::temper(self, whole_page, site);
        }
        // One more pass over the whole text finds the paragraphs in which a phrase of those
        // categories is: only they are read again.
        let fired_index: Vec<usize> = self
            .lists
            .categories
            .iter()
            .enumerate()
            .filter(|(_, c)| fired.contains(&c.id))
            .map(|(index, _)| index)
            .collect();
        let mark = crate::normalise::PARAGRAPH;
        let marks: Vec<usize> = memchr::memchr_iter(mark, normalised.as_bytes()).collect();
        // (paragraph, pattern) for each pattern of those categories found.
        let mut relevant = vec![false; self.keyed.len()];
        for &category in &fired_index {
            for parts in &self.parts[category] {
                for &part in parts {
                    relevant[part] = true;
                }
            }
        }
        let mut seen: Vec<(usize, usize)> = Vec::new();
        self.matcher
            .all_matches(normalised.as_bytes(), |pattern, start| {
                if relevant[pattern] {
                    seen.push((marks.partition_point(|at| *at < start), pattern));
                }
            });
        seen.sort_unstable();
        seen.dedup();
        // The paragraphs in which one of those categories reaches its threshold (the school's
        // excluded phrases are weighed when a paragraph is read again).
        let mut wanted: Vec<usize> = Vec::new();
        for per_paragraph in seen.chunk_by(|a, b| a.0 == b.0) {
            if !excluded.is_empty() || self.paragraph_fires(per_paragraph, &fired_index) {
                wanted.push(per_paragraph[0].0);
            }
        }
        let mut findings: Vec<Finding> = Vec::new();
        // The normalised page keeps the marks between paragraphs: each is read as it is.
        for (index, paragraph) in normalised.split(char::from(mark)).enumerate() {
            if paragraph.len() <= 1 || wanted.binary_search(&index).is_err() {
                continue;
            }
            // A paragraph after a mark starts with its space already; one before ends with it.
            let text = if paragraph.starts_with(' ') {
                std::borrow::Cow::Borrowed(paragraph)
            } else {
                std::borrow::Cow::Owned(format!(" {paragraph}"))
            };
            for finding in self.score_text(&text, excluded, true, Some(&fired)) {
                match findings.iter_mut().find(|f| f.category == finding.category) {
                    Some(kept) if rank(&finding) > rank(kept) => *kept = finding,
                    Some(_) => {}
                    None => findings.push(finding),
                }
            }
        }
        findings.extend(whole_page);
        crate::context::temper(self, findings, site)
    }

    /// Every category any phrase of which was found in `text` (any text: it is normalised
    /// here), whether or not its score reached the threshold, highest score first: what a
    /// scan saw, for explaining a miss.
    pub fn scores(&self, text: &str) -> Vec<Finding> {
        self.score(&normalise(text), &[], false)
    }

    /// The findings of normalised `text`, without `excluded` phrases; only those at their
    /// category's threshold when `firing`.
    fn score(&self, text: &str, excluded: &[String], firing: bool) -> Vec<Finding> {
        self.score_text(text, excluded, firing, None)
    }

    /// [`Scanner::score`]; with `only` (a page's paragraph: the categories that fired on the
    /// whole page), only those categories, and the model only confirms or overrules what the
    /// lists found there: a paragraph of a page is longer and less like what it was trained on
    /// than a search or a message, and pages must be scanned fast.
    fn score_text(
        &self,
        text: &str,
        excluded: &[String],
        firing: bool,
        only: Option<&[String]>,
    ) -> Vec<Finding> {
        let phrases_first = only.is_some();
        // The text is walked once; its findings are written out from what the walk found.
        let parts = self.parts_found(text);
        let mut findings = match only {
            // A paragraph: only what fired on the whole page, and only where it fires here
            // (the model does not fire alone in a paragraph).
            Some(only) => self.findings_of(&parts, text, excluded, |category, score| {
                score >= category.threshold && only.contains(&category.id)
            }),
            // Scanning for what fires: only what the lists fire on is written out now (a
            // category the model fires on gets its weaker phrases below).
            None if firing => self.findings_of(&parts, text, excluded, |category, score| {
                score >= category.threshold
            }),
            None => self.findings_of(&parts, text, excluded, |_, _| true),
        };
        if only.is_some() {
            let known = |f: &Finding| {
                self.model.as_ref().is_some_and(|(_, index)| {
                    self.lists
                        .categories
                        .iter()
                        .position(|c| c.id == f.category)
                        .is_some_and(|at| index[at].is_some())
                })
            };
            if !findings.iter().any(known) {
                if firing {
                    findings.retain(|f| f.layer == Layer::Lists);
                }
                return findings;
            }
        }
        let Some((model, index)) = &self.model else {
            if firing {
                findings.retain(|f| f.layer == Layer::Lists);
            }
            return findings;
        };
        if text.len() > MODEL_MAX_BYTES {
            if firing {
                findings.retain(|f| f.layer == Layer::Lists);
            }
            return findings;
        }
        // The model says nothing of a text it knows too little of (another language).
        let Some(reading) = model.read_explained(text) else {
            if firing {
                findings.retain(|f| f.layer == Layer::Lists);
            }
            return findings;
        };
        // The categories in which a phrase the school has left out is in this text: the
        // classifier, which learnt the lists' phrases too, does not fire alone there, or
        // leaving a phrase out would not stop its alerts. Written out (with every phrase) only
        // when the classifier would fire and something is left out.
        let mut left_out: Option<Vec<String>> = None;
        let mut left_out_of = |category: &str| -> bool {
            !excluded.is_empty()
                && left_out
                    .get_or_insert_with(|| {
                        self.findings_of(&parts, text, &[], |_, _| true)
                            .into_iter()
                            .filter(|f| {
                                f.phrases
                                    .iter()
                                    .any(|(written, _)| excluded.contains(written))
                            })
                            .map(|f| f.category)
                            .collect()
                    })
                    .iter()
                    .any(|id| id == category)
        };
        for (list_index, category) in self.lists.categories.iter().enumerate() {
            let Some(m) = index[list_index] else {
                continue;
            };
            let known = &model.categories()[m];
            let probability = reading.predictions[m].probability;
            let sure = probability >= known.threshold && !left_out_of(&category.id);
            let found = findings.iter().position(|f| f.category == category.id);
            if found.is_none() && (phrases_first || (!sure && (firing || probability < 0.1))) {
                continue;
            }
            let finding = match found {
                Some(at) => &mut findings[at],
                None => {
                    let weaker = if firing {
                        self.findings_of(&parts, text, excluded, |c, _| c.id == category.id)
                            .pop()
                    } else {
                        None
                    };
                    findings.push(weaker.unwrap_or_else(|| Finding {
                        category: category.id.clone(),
                        score: 0,
                        phrases: Vec::new(),
                        context: context(text, 0),
                        layer: Layer::Neither,
                        model: None,
                    }));
                    findings
                        .last_mut()
                        .unwrap_or_else(|| unreachable!("just pushed"))
                }
            };
            let listed = finding.layer == Layer::Lists;
            // The classifier knows English: it overrules a list hit only if an English phrase
            // made it (looked up only when it would overrule, which is rare).
            let overruled = listed
                && probability < known.overrule
                && finding.phrases.iter().any(|(written, weight)| {
                    *weight > 0 && !self.foreign[list_index].contains(written)
                });
            finding.layer = match (listed && !overruled, sure) {
                (true, true) => Layer::Both,
                (true, false) => Layer::Lists,
                (false, true) => Layer::Model,
                (false, false) => Layer::Neither,
            };
            let per_mille = |p: f32| (p * 1000.0).round().clamp(0.0, 1000.0) as u16;
            // Explaining reads the text again: only for what is reported.
            let reported = !firing || finding.layer != Layer::Neither;
            finding.model = Some(ModelView {
                per_mille: per_mille(probability),
                threshold_per_mille: per_mille(known.threshold),
                overruled,
                because: if reported {
                    reading
                        .explain(m)
                        .into_iter()
                        .map(|(feature, _)| feature)
                        .collect()
                } else {
                    Vec::new()
                },
            });
        }
        if firing {
            findings.retain(|f| f.layer != Layer::Neither);
        }
        findings.sort_by(|a, b| {
            let fired = |f: &Finding| f.layer != Layer::Neither;
            fired(b)
                .cmp(&fired(a))
                .then(b.score.cmp(&a.score))
                .then(a.category.cmp(&b.category))
        });
        findings
    }

    /// Every category a phrase of which was found in normalised `text`, without `excluded`
    /// phrases, as [`Layer::Lists`] if it reached its threshold and [`Layer::Neither`] if not.
    fn list_findings(&self, text: &str, excluded: &[String]) -> Vec<Finding> {
        self.findings_of(&self.parts_found(text), text, excluded, |_, _| true)
    }

    /// Every part found in normalised `text` (pattern, where it first starts), parts run
    /// together found as the parts they stand for.
    fn parts_found(&self, text: &str) -> Found {
        let mut found = self.matcher.first_matches(text.as_bytes());
        if text.len() <= MODEL_MAX_BYTES {
            self.alias_matcher
                .all_matches(text.as_bytes(), |alias, start| {
                    found.add(self.alias_of[alias], start);
                });
        }
        found
    }

    /// [`Scanner::list_findings`] for the categories `wanted` (given the category and its
    /// score) only, the others not written out, from the parts of `text` found already: a
    /// text is walked once however often its findings are written out.
    fn findings_of(
        &self,
        found: &Found,
        text: &str,
        excluded: &[String],
        wanted: impl Fn(&Category, i32) -> bool,
    ) -> Vec<Finding> {
        if found.first.is_empty() {
            return Vec::new();
        }
        let first_at = |pattern: usize| {
            found
                .first
                .binary_search_by_key(&pattern, |(id, _)| *id)
                .ok()
                .map(|index| found.first[index].1)
        };
        // The phrases whose parts were all found, by number: in order, so grouped by category.
        let mut candidates: Vec<u32> = found
            .first
            .iter()
            .flat_map(|&(id, _)| self.keyed[id].iter().copied())
            .collect();
        candidates.sort_unstable();
        candidates.retain(|&number| {
            let (category, phrase) = self.numbered[number as usize];
            // A phrase of one part was found with it.
            let parts = &self.parts[category][phrase];
            parts.len() == 1 || parts.iter().all(|part| found.has(*part))
        });
        let mut findings = Vec::new();
        for per_category in
            candidates.chunk_by(|a, b| self.numbered[*a as usize].0 == self.numbered[*b as usize].0)
        {
            let category_index = self.numbered[per_category[0] as usize].0;
            let mut phrases: Vec<usize> = per_category
                .iter()
                .map(|&number| self.numbered[number as usize].1)
                .collect();
            let category = &self.lists.categories[category_index];
            if !excluded.is_empty() {
                phrases.retain(|p| {
                    let written = category.phrases[*p].written();
                    !excluded.contains(&written)
                });
            }
            let score: i32 = phrases.iter().map(|p| category.phrases[*p].weight).sum();
            if !wanted(category, score) {
                continue;
            }
            let at = phrases
                .iter()
                .filter(|p| category.phrases[**p].weight > 0)
                .flat_map(|p| self.parts[category_index][*p].iter())
                .filter_map(|part| first_at(*part))
                .min()
                .unwrap_or(0);
            findings.push(Finding {
                category: category.id.clone(),
                score,
                phrases: phrases
                    .iter()
                    .map(|p| {
                        let phrase = &category.phrases[*p];
                        (phrase.written(), phrase.weight)
                    })
                    .collect(),
                context: context(text, at),
                layer: if score >= category.threshold {
                    Layer::Lists
                } else {
                    Layer::Neither
                },
                model: None,
            });
        }
        findings.sort_by(|a, b| b.score.cmp(&a.score).then(a.category.cmp(&b.category)));
        findings
    }
}

impl Scanner {
    /// Whether, with the patterns found in a paragraph (`(paragraph, pattern)`, sorted), one
    /// of the categories numbered `categories` reaches its threshold.
    fn paragraph_fires(&self, found: &[(usize, usize)], categories: &[usize]) -> bool {
        let has = |pattern: usize| found.binary_search_by_key(&pattern, |(_, p)| *p).is_ok();
        let mut phrases: Vec<u32> = found
            .iter()
            .flat_map(|&(_, pattern)| self.keyed[pattern].iter().copied())
            .filter(|&number| categories.contains(&self.numbered[number as usize].0))
            .collect();
        phrases.sort_unstable();
        let mut scores = vec![0i32; self.lists.categories.len()];
        for number in phrases {
            let (category, phrase) = self.numbered[number as usize];
            if self.parts[category][phrase].iter().all(|part| has(*part)) {
                scores[category] += self.lists.categories[category].phrases[phrase].weight;
            }
        }
        categories
            .iter()
            .any(|&category| scores[category] >= self.lists.categories[category].threshold)
    }
}

/// The other ways a whole-word pattern of several words (` tie a noose `) is written when it is
/// spelt out and joined (` tieanoose `): its words run together, and run together with
/// text-speak for the words that have it (` everyonehatesu `). Normalised as a phrase is.
fn run_together(pattern: &str) -> Vec<String> {
    let Some(words) = pattern.strip_prefix(' ').and_then(|p| p.strip_suffix(' ')) else {
        return Vec::new();
    };
    if !words.contains(' ') {
        return Vec::new();
    }
    let long: String = words.split(' ').collect();
    let short: String = words
        .split(' ')
        .map(|word| crate::normalise::text_speak_for(word).unwrap_or(word))
        .collect();
    let mut forms = Vec::with_capacity(2);
    for joined in [long, short] {
        let form = normalise::normalise_phrase(&joined);
        // Short joined forms would be ordinary words (`p i` is `pi`).
        if form.trim().len() >= 6 && !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms
}

/// How strongly a finding fired: both layers first, then the lists' score.
fn rank(finding: &Finding) -> (bool, i32) {
    (finding.layer == Layer::Both, finding.score)
}

/// The text around byte `at`, cut on character boundaries.
fn context(text: &str, at: usize) -> String {
    let mut start = at.saturating_sub(CONTEXT);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + CONTEXT * 2).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    text[start..end].trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "\
# A small list for the tests.
category self-harm \"Self-harm and suicide\"
threshold 40
severity primary=5 secondary=4 staff=3
40 suicide
40 kill myself
20 overdos*
20 pills & overdos*
-40 suicide prevention
-40 suicide squad

category gambling Gambling
threshold 30
30 casino
10 *bet*
";

    fn scanner() -> Scanner {
        let mut lists = PhraseLists::default();
        let problems = lists.parse("test", LIST);
        assert!(problems.is_empty(), "{problems:?}");
        Scanner::new(lists)
    }

    #[test]
    fn a_typed_phrase_is_found_as_the_list_writes_it() {
        let mut lists = PhraseLists::default();
        let problems = lists.parse(
            "test",
            "category self-harm \"Self-harm\"\nthreshold 50\n60 kill myself\n40 overdos*\n30 pills & *cide*\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        // Written normalised, as the scanner reads text.
        assert_eq!(lists.listed("  Kill   MYSELF "), Some("kill myself".into()));
        assert_eq!(lists.listed("k1ll myself"), Some("kill myself".into()));
        assert_eq!(lists.listed("overdos"), Some("overdos*".into()));
        assert_eq!(lists.listed("overdos*"), Some("overdos*".into()));
        assert_eq!(
            lists.listed("*cide* & pills"),
            Some("pills & *cide*".into())
        );
        assert_eq!(lists.listed("cide & pills"), Some("pills & *cide*".into()));
        assert_eq!(lists.listed("pills"), None);
        assert_eq!(lists.listed("kill yourself"), None);
        assert_eq!(lists.listed(" & "), None);
    }

    #[test]
    fn the_list_format_reads_categories_thresholds_severities_and_phrases() {
        let lists = scanner().lists().clone();
        assert_eq!(lists.categories.len(), 2);
        let harm = &lists.categories[0];
        assert_eq!(
            (harm.id.as_str(), harm.title.as_str(), harm.threshold),
            ("self-harm", "Self-harm and suicide", 40)
        );
        assert_eq!(harm.severity(AgeBand::Primary), 5);
        assert_eq!(harm.severity(AgeBand::Staff), 3);
        assert_eq!(harm.phrases[3].written(), "pills & overdos*");
        assert_eq!(lists.phrase_count(), 8);
    }

    #[test]
    fn a_language_line_marks_the_phrases_after_it_to_the_end_of_the_file() {
        let mut lists = PhraseLists::default();
        let problems = lists.parse("en.list", "category self-harm\n60 want to die\n");
        assert!(problems.is_empty(), "{problems:?}");
        let problems = lists.parse(
            "pl.list",
            "language pl\ncategory self-harm\n60 chce umrzec\nlanguage Polish\n",
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].line, 4);
        let problems = lists.parse("more.list", "category self-harm\n60 end it all\n");
        assert!(problems.is_empty(), "{problems:?}");
        let languages: Vec<(String, Option<&str>)> = lists.categories[0]
            .phrases
            .iter()
            .map(|p| (p.written(), p.language.as_deref()))
            .collect();
        assert_eq!(
            languages,
            [
                ("want to die".to_owned(), None),
                ("chce umrzec".to_owned(), Some("pl")),
                ("end it all".to_owned(), None),
            ]
        );
    }

    #[test]
    fn a_phrase_reading_the_same_is_one_phrase_whose_weight_the_later_line_sets() {
        let mut lists = PhraseLists::default();
        let problems = lists.parse(
            "same.list",
            "category drugs\n20 pills & party\n40 party & pills\n30 don't tell\n50 dont tell\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let phrases: Vec<(String, i32)> = lists.categories[0]
            .phrases
            .iter()
            .map(|p| (p.written(), p.weight))
            .collect();
        assert_eq!(
            phrases,
            [
                ("pills & party".to_owned(), 40),
                ("do not tell".to_owned(), 50)
            ]
        );
    }

    #[test]
    fn bad_lines_are_reported_with_their_line_and_skipped() {
        let mut lists = PhraseLists::default();
        let problems = lists.parse(
            "bad.list",
            "40 before any category\ncategory Bad Id\ncategory ok\nthreshold -3\nseverity primary=9\n\
             severity infants=2\nloud suicide\n0 nothing\n30 ???\n30 *e*\n30 fine # a comment\n",
        );
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [1, 2, 4, 5, 6, 7, 8, 9, 10], "{problems:?}");
        assert!(problems[0].to_string().starts_with("bad.list:1: "));
        assert_eq!(
            lists.categories[0].phrases.len(),
            1,
            "the good line is kept"
        );
    }

    #[test]
    fn a_category_fires_at_its_threshold_and_evasions_count() {
        let scanner = scanner();
        for text in [
            "I want to kill myself",
            "how much paracetamol for an overdose pills",
            "5u1c1d3",
            "thinking about s.u.i.c.i.d.e tonight",
            "KILL   MY\u{200B}SELF",
        ] {
            let findings = scanner.scan(text);
            assert_eq!(
                findings.first().map(|f| f.category.as_str()),
                Some("self-harm"),
                "{text:?}: {findings:?}"
            );
        }
        let finding = &scanner.scan("He said: I want to kill myself, today.")[0];
        assert_eq!(finding.phrases, [("kill myself".to_owned(), 40)]);
        assert!(finding.context.contains("kill myself"), "{finding:?}");
    }

    #[test]
    fn harmless_contexts_and_partial_scores_do_not_fire() {
        let scanner = scanner();
        for text in [
            "suicide prevention week assembly",
            "the suicide squad film review",
            "an overdose of homework",  // 20 < 40
            "skill myself up in maths", // not the whole word kill
            "alphabet soup",            // *bet* alone is 10 < 30
        ] {
            assert!(
                scanner.scan(text).is_empty(),
                "{text:?}: {:?}",
                scanner.scan(text)
            );
        }
    }

    #[test]
    fn a_phrase_left_out_stops_the_classifier_too() {
        let scanner = Scanner::new(crate::default_lists()).with_model(Model::shared());
        let text = normalise("i am going to kill myself tonight");
        let fired = |excluded: &[String]| -> Vec<String> {
            scanner
                .scan_normalised_excluding(&text, excluded)
                .into_iter()
                .map(|f| f.category)
                .collect()
        };
        assert!(fired(&[]).contains(&"self-harm".to_owned()));
        let model_alone = scanner
            .scores(&text)
            .into_iter()
            .find(|f| f.category == "self-harm")
            .and_then(|f| f.model)
            .expect("the classifier read it");
        assert!(
            model_alone.per_mille >= model_alone.threshold_per_mille,
            "the classifier alone would fire: {model_alone:?}"
        );
        assert!(
            !fired(&["kill myself".to_owned()]).contains(&"self-harm".to_owned()),
            "{:?}",
            scanner.scan_normalised_excluding(&text, &["kill myself".to_owned()])
        );
    }

    #[test]
    fn excluded_phrases_do_not_count() {
        let scanner = scanner();
        let text = normalise("casino and a bet");
        assert_eq!(scanner.scan_normalised(&text)[0].score, 40);
        assert!(
            scanner
                .scan_normalised_excluding(&text, &["casino".to_owned()])
                .is_empty(),
            "10 left, under the threshold"
        );
    }

    #[test]
    fn a_phrase_of_several_words_spelt_out_is_found() {
        let mut lists = PhraseLists::default();
        let problems = lists.parse(
            "test",
            "category bullying Bullying\nthreshold 50\n60 everyone hates you\n\n\
             category hate Hate\nthreshold 50\n60 p i\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let scanner = Scanner::new(lists);
        for spelt in [
            "e v e r y o n e h a t e s u",
            "e.v.e.r.y.o.n.e.h.a.t.e.s.y.o.u",
            "#everyonehatesyou",
        ] {
            let found = scanner.scan(spelt);
            assert_eq!(found.len(), 1, "{spelt}: {found:?}");
            assert_eq!(
                found[0].phrases[0].0, "everyone hates you",
                "named as written"
            );
        }
        // A short joined form would be an ordinary word: `p i` is not looked for as `pi`.
        assert!(scanner.scan("raspberry pi projects").is_empty());
    }

    #[test]
    fn each_phrase_counts_once_per_text() {
        let scanner = scanner();
        let text = "bet ".repeat(50);
        assert!(
            scanner.scan(&text).is_empty(),
            "50 × 10 would pass 30; once is 10"
        );
        let findings = scanner.scan("casino and a bet");
        assert_eq!(findings[0].score, 40);
    }
}
