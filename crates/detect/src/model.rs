//! The classifier layer (DESIGN.md M1, issue 23 part 5): a small linear model per category
//! over word and character n-grams of [`normalise`](crate::normalise)d text, trained from
//! Ward's own labelled cases (`crates/detect/eval/dev.tsv`) by `ward detect train`, and
//! shipped inside the binary.
//!
//! **Features.** Each word (`w:unalive`), each pair of neighbouring words (`b:tie a`) and each
//! run of three to five characters of a word with its edges marked (`c: unal`, `c:alive `),
//! hashed to 32 bits. A text's features each count `1/√n` (`n` features in all), so short and
//! long texts score alike.
//!
//! **Training** is logistic regression per category, one against the rest (a case may have
//! several labels), with AdaGrad steps, L2 regularisation and each class weighted to half the
//! total, over the cases in an order fixed by a seed: the same cases give the same model,
//! byte for byte, on any machine (the logistic function uses an exponential written here,
//! not the platform's, whose last bit may differ). Beside the labelled cases it learns from
//! the lists' phrases themselves: each plain phrase strong enough to fire alone as a text of
//! its category, each harmless context (a negative weight) as a harmless text.
//!
//! **Thresholds** come from five-fold cross-validation on the labelled cases (the phrases are
//! always learnt from, never held out): a model is trained on four fifths and scores the fifth
//! it did not see, and per category the threshold is the lowest probability at which no more
//! than one harmless case in a thousand fired (never under one half). The same out-of-fold
//! scores set how sure the model must be that a text is *not* in a category to overrule a list
//! hit there: of the levels tried, the one overruling most harmless list hits for the rightful
//! ones it overrules (each rightful one counting as two harmless ones).
//!
//! **Explaining.** A prediction lists the features that pushed it up most, as written
//! (`"unalive"`, `"tie a"`, `"…nalive…"`), so a DSL can see why it fired.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The model Ward ships (`crates/detect/model/ward.model`), trained on the dev cases.
const EMBEDDED: &[u8] = include_bytes!("../model/ward.model");

/// The first bytes of a model file (the version is the last).
const MAGIC: &[u8; 8] = b"WARDMDL1";

/// Texts longer than this (bytes of normalised text) are not read by the model: it is trained
/// on searches, messages, titles and paragraphs, and a whole page is scored by its lists.
pub const MODEL_MAX_BYTES: usize = 2_000;

/// How many features a prediction names.
const EXPLAIN: usize = 4;

/// The fewest of a text's features the model must know to read it ([`Model::read`]).
const MIN_KNOWN: usize = 3;
/// The least share of a text's features the model must know to read it.
const MIN_KNOWN_SHARE: f32 = 0.25;

/// A linear model per category.
#[derive(Clone)]
pub struct Model {
    categories: Vec<ModelCategory>,
    /// Feature hash → its weight in each category, in steps of the category's `scale`.
    table: FeatureTable,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("categories", &self.categories)
            .field("features", &self.table.len())
            .finish()
    }
}

/// One category of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelCategory {
    /// The category's id, as the lists name it.
    pub id: String,
    /// The weight every text starts with.
    pub bias: f32,
    /// What one step of a stored weight is worth.
    pub scale: f32,
    /// The probability at which the category fires.
    pub threshold: f32,
    /// Below this probability, a list hit in this category is overruled (0: never).
    pub overrule: f32,
}

/// What the model makes of a text in one category.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The category's index in [`Model::categories`].
    pub category: usize,
    /// How likely the text is to be in it, 0 to 1.
    pub probability: f32,
}

/// A known feature of a text: its key, as written, and its weight in each category.
type Known<'m, 't> = (u32, Written<'t>, &'m [i8]);

/// What the model made of one text: the probabilities, and the known features that could
/// explain them.
pub struct Reading<'m, 't> {
    model: &'m Model,
    /// The probability of each category, in the model's order.
    pub predictions: Vec<Prediction>,
    known: usize,
    count: usize,
    /// What each feature counts.
    value: f32,
    /// (key, as written, weights) for each known feature.
    kept: Vec<Known<'m, 't>>,
}

impl Reading<'_, '_> {
    /// The features that raised category `category` most, as written, with what each added
    /// (before the logistic function).
    pub fn explain(&self, category: usize) -> Vec<(String, f32)> {
        let scale = self.model.categories[category].scale;
        // (key, what it added, its index in `kept`): a repeated feature adds again. Indexes,
        // not the features as written, are sorted (an eighth of the bytes to move).
        let mut raised: Vec<(u32, f32, u32)> = Vec::with_capacity(self.kept.len());
        for (index, (key, written, weights)) in self.kept.iter().enumerate() {
            let step = weights[category];
            if step > 0 && explains(written) {
                raised.push((*key, f32::from(step) * scale * self.value, index as u32));
            }
        }
        // By key, each key's first in the text first; then each key's additions summed into
        // its first, in the text's order.
        raised.sort_unstable_by_key(|(key, _, index)| (*key, *index));
        raised.dedup_by(|later, first| {
            let same = later.0 == first.0;
            if same {
                first.1 += later.1;
            }
            same
        });
        // Keys are one each now: this order is total.
        raised.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        // Pieces of a feature already named say nothing more (`myself`, then `…mysel…`).
        let mut named: Vec<(String, f32)> = Vec::with_capacity(EXPLAIN);
        for (_, added, index) in raised {
            let feature = self.kept[index as usize].1.to_string();
            let core = feature.trim_matches('…');
            if !named.iter().any(|(n, _)| n.contains(core)) {
                named.push((feature, added));
                if named.len() == EXPLAIN {
                    break;
                }
            }
        }
        named
    }
}

/// Why the model could not be read.
#[derive(Debug, thiserror::Error)]
#[error("not a Ward model: {0}")]
pub struct ModelError(&'static str);

impl Model {
    /// The model shipped in the binary, read once.
    pub fn embedded() -> &'static Model {
        Model::shared_static()
    }

    /// The model shipped in the binary, to give a [`Scanner`](crate::Scanner): every scanner
    /// shares the one copy.
    pub fn shared() -> std::sync::Arc<Model> {
        std::sync::Arc::clone(Model::shared_static())
    }

    fn shared_static() -> &'static std::sync::Arc<Model> {
        static MODEL: std::sync::OnceLock<std::sync::Arc<Model>> = std::sync::OnceLock::new();
        MODEL.get_or_init(|| {
            // A test reads the shipped file, so this cannot fail in a released binary.
            std::sync::Arc::new(
                Model::from_bytes(EMBEDDED)
                    .unwrap_or_else(|error| panic!("the embedded model: {error}")),
            )
        })
    }

    /// Its categories, in order.
    pub fn categories(&self) -> &[ModelCategory] {
        &self.categories
    }

    /// How many features have weights.
    pub fn feature_count(&self) -> usize {
        self.table.len()
    }

    /// The probability of each category for normalised `text`, in the categories' order.
    pub fn predict(&self, text: &str) -> Vec<Prediction> {
        self.predict_known(text, false).predictions
    }

    /// What the model makes of normalised `text`, or `None` when it knows too little of it to
    /// say: fewer than [`MIN_KNOWN`] of its features, or under [`MIN_KNOWN_SHARE`] of them,
    /// have weights (another language or script, or nonsense). Then only a category's bias
    /// would speak, which says nothing about the text.
    pub fn read(&self, text: &str) -> Option<Vec<Prediction>> {
        self.read_explained(text).map(|reading| reading.predictions)
    }

    /// [`Model::read`], keeping the features that could explain what it found
    /// ([`Reading::explain`]), so that explaining does not read the text again.
    pub fn read_explained<'m, 't>(&'m self, text: &'t str) -> Option<Reading<'m, 't>> {
        let reading = self.predict_known(text, true);
        (reading.known >= MIN_KNOWN
            && reading.known as f32 >= reading.count as f32 * MIN_KNOWN_SHARE)
            .then_some(reading)
    }

    /// [`Model::predict`], with how many of the text's features have weights, of how many,
    /// and (with `keep`) those that could explain a finding.
    fn predict_known<'m, 't>(&'m self, text: &'t str, keep: bool) -> Reading<'m, 't> {
        // Steps summed in whole numbers, then scaled once by what each feature counts.
        let mut steps = vec![0i32; self.categories.len()];
        let mut known = 0usize;
        let mut kept: Vec<Known<'m, 't>> = Vec::with_capacity(if keep { 128 } else { 0 });
        // Every feature first, then every lookup: the lookups, each a likely cache miss, do
        // not wait on one another or on the hashing.
        let mut all: Vec<(u32, Written<'t>)> = Vec::with_capacity(4 * text.len() + 16);
        features(text, |key, written| all.push((key, written)));
        let count = all.len();
        for (key, written) in all {
            if let Some(weights) = self.table.get(key) {
                known += 1;
                for (sum, &step) in steps.iter_mut().zip(weights) {
                    *sum += i32::from(step);
                }
                if keep {
                    kept.push((key, written, weights));
                }
            }
        }
        let value = if count == 0 {
            0.0
        } else {
            1.0 / (count as f32).sqrt()
        };
        let sums = steps.into_iter().map(|step| step as f32 * value);
        let predictions = self
            .categories
            .iter()
            .zip(sums)
            .enumerate()
            .map(|(index, (category, sum))| Prediction {
                category: index,
                probability: sigmoid(category.bias + category.scale * sum),
            })
            .collect();
        Reading {
            model: self,
            predictions,
            known,
            count,
            value,
            kept,
        }
    }

    /// The features of normalised `text` that raised category `category` most, as written,
    /// with what each added (before the logistic function).
    pub fn explain(&self, text: &str, category: usize) -> Vec<(String, f32)> {
        self.predict_known(text, true).explain(category)
    }

    /// The model as a file: `WARDMDL1`, then little-endian counts and values (see
    /// [`Model::from_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.table.len() * (5 + 2 * self.categories.len()));
        out.extend_from_slice(MAGIC);
        out.push(u8::try_from(self.categories.len()).unwrap_or(u8::MAX));
        for category in &self.categories {
            let id = category.id.as_bytes();
            out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(&id[..id.len().min(255)]);
            for value in [
                category.bias,
                category.scale,
                category.threshold,
                category.overrule,
            ] {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        // Features in key order, so the same model is the same file.
        let mut features: Vec<(u32, &[i8])> = self.table.iter().collect();
        features.sort_unstable_by_key(|(key, _)| *key);
        out.extend_from_slice(
            &u32::try_from(features.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        for (key, weights) in features {
            out.extend_from_slice(&key.to_le_bytes());
            let count = weights.iter().filter(|step| **step != 0).count();
            out.push(u8::try_from(count).unwrap_or(u8::MAX));
            for (category, &step) in weights.iter().enumerate() {
                if step != 0 {
                    out.push(u8::try_from(category).unwrap_or(u8::MAX));
                    out.push(step.to_le_bytes()[0]);
                }
            }
        }
        out
    }

    /// Reads a model file: the magic bytes; the number of categories, and each one's id
    /// (length, UTF-8), bias, scale, threshold and overrule (f32 each); the number of
    /// features, and each one's key (u32), number of weights and (category, weight) pairs.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        let mut reader = Reader { bytes, at: 0 };
        if reader.take(MAGIC.len())? != MAGIC {
            return Err(ModelError("it does not start with WARDMDL1"));
        }
        let count = reader.byte()?;
        let mut categories = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let length = reader.byte()?;
            let id = std::str::from_utf8(reader.take(usize::from(length))?)
                .map_err(|_| ModelError("a category's id is not UTF-8"))?
                .to_owned();
            let bias = reader.float()?;
            let scale = reader.float()?;
            let threshold = reader.float()?;
            let overrule = reader.float()?;
            categories.push(ModelCategory {
                id,
                bias,
                scale,
                threshold,
                overrule,
            });
        }
        let features = reader.u32()?;
        let mut table =
            FeatureTable::new(categories.len(), (features as usize).min(bytes.len() / 5));
        let mut weights = vec![0i8; categories.len()];
        for _ in 0..features {
            let key = reader.u32()?;
            let count = reader.byte()?;
            weights.fill(0);
            for _ in 0..count {
                let category = usize::from(reader.byte()?);
                let step = i8::from_le_bytes([reader.byte()?]);
                match weights.get_mut(category) {
                    None => return Err(ModelError("a weight names a category the model lacks")),
                    Some(weight) if *weight != 0 => {
                        return Err(ModelError("a feature names a category twice"));
                    }
                    Some(weight) => *weight = step,
                }
            }
            if step_free(&weights) {
                return Err(ModelError("a feature has no weight"));
            }
            if !table.insert(key, &weights) {
                return Err(ModelError("a feature is listed twice"));
            }
        }
        if reader.at != bytes.len() {
            return Err(ModelError("bytes left over at the end"));
        }
        Ok(Model { categories, table })
    }
}

/// Reads a model file's fields in turn.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, length: usize) -> Result<&'a [u8], ModelError> {
        let end = self
            .at
            .checked_add(length)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(ModelError("it ends too soon"))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, ModelError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, ModelError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn float(&mut self) -> Result<f32, ModelError> {
        let value = f32::from_bits(self.u32()?);
        if value.is_finite() {
            Ok(value)
        } else {
            Err(ModelError("a value is not a finite number"))
        }
    }
}

/// Keys are hashes already: a hasher that keeps them.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8) | u64::from(byte);
        }
    }

    fn write_u32(&mut self, value: u32) {
        // Spread over the high bits too, which the table uses for its control bytes.
        self.0 = u64::from(value).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A feature as it was written in the text, for explaining.
#[derive(Debug, Clone, Copy)]
pub enum Written<'a> {
    /// A word.
    Word(&'a str),
    /// Two neighbouring words.
    Pair(&'a str, &'a str),
    /// Characters of a word; a space marks its start or end.
    Chars(&'a str),
    /// A word of a family ([`crate::concepts`]): the word, and its family.
    Family(&'a str, &'static str),
    /// Words of two families near each other in the text (within [`FAMILY_WINDOW`] words),
    /// in the text's order, with their families.
    Families((&'a str, &'static str), (&'a str, &'static str)),
}

impl std::fmt::Display for Written<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Written::Word(word) => write!(f, "{word}"),
            Written::Pair(a, b) => write!(f, "{a} {b}"),
            Written::Chars(chars) => {
                let start = if chars.starts_with(' ') { "" } else { "…" };
                let end = if chars.ends_with(' ') { "" } else { "…" };
                write!(f, "{start}{}{end}", chars.trim())
            }
            // What the family carries over from: "words like hits".
            Written::Family(word, _) => write!(f, "words like {word}"),
            Written::Families((a, _), (b, _)) => write!(f, "{a} … {b}"),
        }
    }
}

/// Whether a feature says something to a reader: words and pairs that are not only little
/// words (`i`, `to`, `my`), and characters four or more long. (All features count in scoring.)
fn explains(written: &Written<'_>) -> bool {
    // A `match` on the words (compared by length first), not a search of a list: this runs
    // on every feature that raised a category a finding reports.
    fn little(word: &str) -> bool {
        matches!(
            word,
            "a" | "an"
                | "and"
                | "are"
                | "at"
                | "be"
                | "but"
                | "can"
                | "do"
                | "for"
                | "from"
                | "have"
                | "how"
                | "i"
                | "im"
                | "in"
                | "is"
                | "it"
                | "me"
                | "my"
                | "not"
                | "of"
                | "on"
                | "or"
                | "so"
                | "that"
                | "the"
                | "this"
                | "to"
                | "was"
                | "what"
                | "when"
                | "who"
                | "why"
                | "with"
                | "you"
                | "your"
        )
    }
    match written {
        Written::Word(word) => !little(word),
        Written::Pair(a, b) => !(little(a) && little(b)),
        Written::Chars(chars) => {
            let chars = chars.trim();
            // Four bytes are fewer than four characters only outside ASCII.
            chars.len() >= 4 && (chars.is_ascii() || chars.chars().count() >= 4)
        }
        Written::Family(_, family) => !plain_family(family),
        Written::Families((_, a), (_, b)) => !(plain_family(a) && plain_family(b)),
    }
}

/// Whether `family` is one of everyday words (who is speaking or spoken to): they count in
/// scoring, but do not explain a finding on their own.
fn plain_family(family: &str) -> bool {
    matches!(family, "self" | "you" | "people" | "everyone" | "app")
}

/// How near (in words) two word families must be to count as a pair.
pub const FAMILY_WINDOW: usize = 6;

/// The word families seen so far in a text, to pair each new one with those near it.
#[derive(Default)]
struct Families<'t> {
    /// (word position, the word, its family), in order.
    seen: Vec<(usize, &'t str, &'static str)>,
    /// The pairs given already: each counts once a text, however often it recurs (a page's
    /// paragraph says "i" and "you" many times).
    paired: Vec<u32>,
}

impl<'t> Families<'t> {
    /// `word`, at `position`, is of `family`: its feature (not for everyday families such as
    /// `self`), and its pairs with the families within [`FAMILY_WINDOW`] words before it (at
    /// least one of the two not an everyday family).
    fn note(
        &mut self,
        position: usize,
        word: &'t str,
        family: &'static str,
        found: &mut impl FnMut(u32, Written<'t>),
    ) {
        let plain = plain_family(family);
        if !plain {
            found(
                hash(b'k', &[family.as_bytes()]),
                Written::Family(word, family),
            );
        }
        for &(at, earlier, other) in self.seen.iter().rev() {
            if position - at > FAMILY_WINDOW {
                break;
            }
            if other == family || (plain && plain_family(other)) {
                continue;
            }
            // The key does not depend on the order the words came in.
            let (a, b) = if other < family {
                (other, family)
            } else {
                (family, other)
            };
            let key = hash(b'p', &[a.as_bytes(), b"+", b.as_bytes()]);
            if !self.paired.contains(&key) {
                self.paired.push(key);
                found(key, Written::Families((earlier, other), (word, family)));
            }
        }
        self.seen.push((position, word, family));
    }
}

/// The family of `word`, whose word feature's key is `key`: looked up by the key already
/// computed (a table of a few hundred entries), the word compared to rule out a collision.
fn family_of(key: u32, word: &str) -> Option<&'static str> {
    type Table = HashMap<u32, (&'static str, &'static str), BuildHasherDefault<KeyHasher>>;
    static TABLE: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        crate::concepts::all()
            .map(|(word, family)| (hash(b'w', &[word.as_bytes()]), (word, family)))
            .collect()
    });
    table
        .get(&key)
        .filter(|(known, _)| *known == word)
        .map(|(_, family)| *family)
}

/// Calls `found` with each feature of normalised `text`: its key and how it was written.
pub fn features<'t>(text: &'t str, mut found: impl FnMut(u32, Written<'t>)) {
    let mut families = Families::default();
    let mut position = 0;
    let mut previous: Option<&str> = None;
    let mut starts: Vec<usize> = Vec::with_capacity(32);
    // A word of text that does not stand between spaces (normalised text always does) is
    // framed in this buffer; its characters are then explained as the word.
    let mut own = String::new();
    let mut at = 0;
    for word in text.split(' ') {
        let (start, end) = (at, at + word.len());
        at = end + 1;
        if word.is_empty() {
            continue;
        }
        let key = hash(b'w', &[word.as_bytes()]);
        found(key, Written::Word(word));
        if let Some(family) = family_of(key, word) {
            families.note(position, word, family, &mut found);
        }
        position += 1;
        if let Some(previous) = previous {
            found(
                hash(b'b', &[previous.as_bytes(), b" ", word.as_bytes()]),
                Written::Pair(previous, word),
            );
        }
        previous = Some(word);
        // The word with a space either side, the character n-grams' frame.
        let framed: Option<&'t str> =
            (start > 0 && end < text.len()).then(|| &text[start - 1..end + 1]);
        let frame: &str = match framed {
            Some(framed) => framed,
            None => {
                own.clear();
                own.push(' ');
                own.push_str(word);
                own.push(' ');
                &own
            }
        };
        // Where each character starts (for ASCII, every byte: no table needed).
        let ascii = frame.is_ascii();
        if !ascii {
            starts.clear();
            starts.extend(frame.char_indices().map(|(at, _)| at));
            starts.push(frame.len());
        }
        let chars = if ascii { frame.len() } else { starts.len() - 1 };
        let start_of = |index: usize| if ascii { index } else { starts[index] };
        for n in 3..=5 {
            // The whole framed word is the word feature already.
            if chars <= n {
                break;
            }
            for first in 0..=chars - n {
                let (from, to) = (start_of(first), start_of(first + n));
                let key = hash(b'c', &[&frame.as_bytes()[from..to]]);
                let written = match framed {
                    Some(framed) => Written::Chars(&framed[from..to]),
                    None => Written::Word(word),
                };
                found(key, written);
            }
        }
    }
}

/// FNV-1a over a kind byte and `parts`, folded to 32 bits.
fn hash(kind: u8, parts: &[&[u8]]) -> u32 {
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |byte: u8| {
        state ^= u64::from(byte);
        state = state.wrapping_mul(0x0000_0100_0000_01b3);
    };
    eat(kind);
    for part in parts {
        for &byte in *part {
            eat(byte);
        }
    }
    (state ^ (state >> 32)) as u32
}

/// The logistic function, with an exponential computed here so that training gives the same
/// weights everywhere.
pub fn sigmoid(z: f32) -> f32 {
    let z = z.clamp(-30.0, 30.0);
    1.0 / (1.0 + exp(-z))
}

/// e^x for x in [-30, 30]: 2^(x·log₂e), the power of two split into an integer (set in the
/// exponent's bits) and a fraction (a polynomial, good to about 1e-7).
fn exp(x: f32) -> f32 {
    let y = x * std::f32::consts::LOG2_E;
    let whole = y.floor();
    let fraction = y - whole;
    // 2^f on [0, 1): a degree-6 Taylor polynomial of e^(f·ln 2).
    let t = fraction * std::f32::consts::LN_2;
    let poly = 1.0
        + t * (1.0
            + t * (0.5
                + t * (1.0 / 6.0 + t * (1.0 / 24.0 + t * (1.0 / 120.0 + t * (1.0 / 720.0))))));
    let exponent = (whole as i32 + 127).clamp(1, 254) as u32;
    poly * f32::from_bits(exponent << 23)
}

/// A case to learn from: its normalised text, its labels, and the categories the lists fired
/// on it (to learn when to overrule them).
#[derive(Debug, Clone)]
pub struct Example {
    /// Normalised text.
    pub text: String,
    /// The categories it is in (none: harmless).
    pub labels: Vec<String>,
    /// The categories the lists fired on.
    pub listed: Vec<String>,
    /// Whether it is a list's phrase rather than a labelled case: always learnt from, never
    /// held out or counted in the cross-validation.
    pub from_lists: bool,
}

/// How a model is trained.
#[derive(Debug, Clone)]
pub struct Training {
    /// Passes over the cases.
    pub epochs: usize,
    /// The AdaGrad step size.
    pub rate: f32,
    /// L2 regularisation.
    pub l2: f32,
    /// The seed of each pass's order.
    pub seed: u64,
    /// The share of harmless cases a category's threshold may let fire (out of fold).
    pub harmless_allowed: f32,
}

impl Default for Training {
    fn default() -> Training {
        Training {
            epochs: 20,
            rate: 0.5,
            l2: 0.001,
            seed: 23,
            harmless_allowed: 0.001,
        }
    }
}

/// The levels of "sure it is not this category" at which a list hit may be overruled.
const OVERRULE_LEVELS: [f32; 9] = [0.30, 0.20, 0.15, 0.10, 0.07, 0.05, 0.03, 0.02, 0.01];

/// The folds of the cross-validation.
const FOLDS: usize = 5;

/// A model's file numbers its categories in one byte.
pub const MAX_CATEGORIES: usize = u8::MAX as usize;

/// Why a model could not be trained.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The cases are labelled with more categories than a model can hold.
    #[error("the cases are labelled with {0} categories; a model holds at most {MAX_CATEGORIES}")]
    TooManyCategories(usize),
}

/// Trains a model on labelled `cases` for the categories of `scanner`'s lists that have cases
/// (the lists say, per case, what they fired on), with the default [`Training`]: what
/// `ward detect train` and `scripts/train-detect-model` do.
pub fn train_on_cases(
    scanner: &crate::Scanner,
    cases: &[crate::eval::Case],
) -> Result<(Model, CrossValidated), TrainError> {
    let categories: Vec<String> = scanner
        .lists()
        .categories
        .iter()
        .filter(|category| cases.iter().any(|case| case.labels.contains(&category.id)))
        .map(|category| category.id.clone())
        .collect();
    if categories.len() > MAX_CATEGORIES {
        return Err(TrainError::TooManyCategories(categories.len()));
    }
    let examples: Vec<Example> = cases
        .iter()
        .map(|case| {
            let text = crate::normalise(&case.text);
            let listed = scanner
                .scan_normalised(&text)
                .into_iter()
                .map(|finding| finding.category)
                .collect();
            Example {
                text,
                labels: case.labels.clone(),
                listed,
                from_lists: false,
            }
        })
        .chain(phrase_examples(scanner.lists(), &categories))
        .collect();
    Ok(train_and_check(
        &categories,
        &examples,
        &Training::default(),
    ))
}

/// The lists' English phrases as examples to learn from: each plain phrase (no `*`) strong enough to
/// fire its category alone, as a text in that category, and each harmless context (a negative
/// weight) as a harmless text, so that the model knows the lists' words too and can carry them
/// to misspellings and to wordings the lists do not have.
fn phrase_examples(lists: &crate::PhraseLists, categories: &[String]) -> Vec<Example> {
    let mut examples = Vec::new();
    for category in &lists.categories {
        if !categories.contains(&category.id) {
            continue;
        }
        for phrase in &category.phrases {
            let plain = phrase
                .parts
                .iter()
                .all(|part| part.anchor == crate::phrases::Anchor::Words);
            // The classifier is trained on English: another language's phrases would teach it
            // to read that language's texts with nothing to tell it what is harmless there.
            if !plain
                || phrase.language.is_some()
                || (phrase.weight > 0 && phrase.weight < category.threshold)
            {
                continue;
            }
            let text: Vec<&str> = phrase.parts.iter().map(|p| p.text.as_str()).collect();
            examples.push(Example {
                text: text.join(" "),
                labels: if phrase.weight > 0 {
                    vec![category.id.clone()]
                } else {
                    Vec::new()
                },
                listed: Vec::new(),
                from_lists: true,
            });
        }
    }
    examples
}

/// How the lists and the model did together on the training cases, each scored by a model
/// that did not see it (five-fold cross-validation).
#[derive(Debug, Clone, Default)]
pub struct CrossValidated {
    /// Per category: (risky cases whose first label it is, of them caught).
    pub categories: Vec<(String, usize, usize)>,
    /// Harmless cases, and those on which anything fired.
    pub harmless: (usize, usize),
    /// Risky cases whose first label the model knows, and those caught by the lists alone.
    pub lists_alone: (usize, usize),
    /// The classifier alone, out of fold at its thresholds: risky cases it caught, and
    /// harmless cases it fired on. What it does on text it has not seen, without the lists
    /// (which were written from these same cases).
    pub model_alone: (usize, usize),
}

/// Trains a model for `categories` (at most [`MAX_CATEGORIES`]) on `examples` (see the
/// module's documentation).
pub fn train(categories: &[String], examples: &[Example], training: &Training) -> Model {
    train_and_check(categories, examples, training).0
}

/// [`train`], and how the model and the lists do on cases the model did not see.
pub fn train_and_check(
    categories: &[String],
    examples: &[Example],
    training: &Training,
) -> (Model, CrossValidated) {
    assert!(
        categories.len() <= MAX_CATEGORIES,
        "a model holds at most {MAX_CATEGORIES} categories"
    );
    let encoded = Encoded::new(examples);
    // Out-of-fold probabilities, per example and category.
    let mut held_out = vec![Vec::new(); examples.len()];
    for fold in 0..FOLDS {
        let (inside, outside): (Vec<usize>, Vec<usize>) = (0..examples.len())
            .partition(|i| examples[*i].from_lists || fold_of(&examples[*i].text) != fold);
        let model = fit(categories, &encoded, examples, &inside, training);
        for i in outside {
            // A text the model cannot read counts as nothing found (and nothing overruled).
            held_out[i] = match model.read(&examples[i].text) {
                Some(predictions) => predictions.into_iter().map(|p| p.probability).collect(),
                None => Vec::new(),
            };
        }
    }
    let all: Vec<usize> = (0..examples.len()).collect();
    let mut model = fit(categories, &encoded, examples, &all, training);
    for (c, category) in model.categories.iter_mut().enumerate() {
        let out_of_fold = |i: usize| held_out[i].get(c).copied().unwrap_or(0.0);
        // The lowest threshold at which no more than the allowed share of harmless cases
        // fired, never under one half.
        let mut harmless: Vec<f32> = (0..examples.len())
            .filter(|i| examples[*i].labels.is_empty() && !examples[*i].from_lists)
            .map(out_of_fold)
            .collect();
        harmless.sort_by(|a, b| b.total_cmp(a));
        let allowed = (harmless.len() as f32 * training.harmless_allowed) as usize;
        let highest_harmless = harmless.get(allowed).copied().unwrap_or(0.0);
        category.threshold = next_step(highest_harmless.max(0.499));
        // How sure "not this category" must be to overrule a list hit: of the levels tried,
        // the one that overrules most harmless list hits for the rightful ones it overrules
        // (each rightful one lost counting as two harmless ones saved); at the least, the
        // highest that overrules no rightful hit.
        let listed = |i: &usize| {
            // (A text the model could not read overrules nothing.)
            !held_out[*i].is_empty() && examples[*i].listed.contains(&category.id)
        };
        let rightful: Vec<f32> = (0..examples.len())
            .filter(|i| listed(i) && examples[*i].labels.contains(&category.id))
            .map(out_of_fold)
            .collect();
        let harmless_listed: Vec<f32> = (0..examples.len())
            .filter(|i| listed(i) && examples[*i].labels.is_empty())
            .map(out_of_fold)
            .collect();
        let gain = |level: f32| {
            let saved = harmless_listed.iter().filter(|p| **p < level).count() as i64;
            let lost = rightful.iter().filter(|p| **p < level).count() as i64;
            saved - 2 * lost
        };
        category.overrule = OVERRULE_LEVELS
            .into_iter()
            .filter(|level| gain(*level) > 0 || rightful.iter().all(|p| p >= level))
            .max_by_key(|level| (gain(*level), (level * 1000.0) as i64))
            .unwrap_or(0.0);
    }
    let checked = check(&model, examples, &held_out);
    (model, checked)
}

/// The lists and the model together on each example, with its out-of-fold probabilities.
fn check(model: &Model, examples: &[Example], held_out: &[Vec<f32>]) -> CrossValidated {
    let mut checked = CrossValidated {
        categories: model
            .categories
            .iter()
            .map(|c| (c.id.clone(), 0, 0))
            .collect(),
        ..CrossValidated::default()
    };
    for (example, probabilities) in examples.iter().zip(held_out) {
        if example.from_lists {
            continue;
        }
        let fired = |c: usize, category: &ModelCategory| {
            let listed = example.listed.contains(&category.id);
            // A text the model could not read is what the lists say.
            let Some(&p) = probabilities.get(c) else {
                return listed;
            };
            (listed && p >= category.overrule) || p >= category.threshold
        };
        let any = model
            .categories
            .iter()
            .enumerate()
            .any(|(c, category)| fired(c, category));
        // Categories the model does not know fire as the lists say.
        let any = any
            || example
                .listed
                .iter()
                .any(|id| !model.categories.iter().any(|c| c.id == *id));
        let model_fired = |c: usize, category: &ModelCategory| {
            probabilities
                .get(c)
                .is_some_and(|&p| p >= category.threshold)
        };
        match example.labels.first() {
            None => {
                checked.harmless.0 += 1;
                checked.harmless.1 += usize::from(any);
                checked.model_alone.1 += usize::from(
                    model
                        .categories
                        .iter()
                        .enumerate()
                        .any(|(c, category)| model_fired(c, category)),
                );
            }
            Some(first) => {
                let Some(index) = model.categories.iter().position(|c| c.id == *first) else {
                    continue;
                };
                let caught = model.categories.iter().enumerate().any(|(c, category)| {
                    example.labels.contains(&category.id) && fired(c, category)
                });
                checked.categories[index].1 += 1;
                checked.categories[index].2 += usize::from(caught);
                checked.model_alone.0 +=
                    usize::from(model.categories.iter().enumerate().any(|(c, category)| {
                        example.labels.contains(&category.id) && model_fired(c, category)
                    }));
                checked.lists_alone.0 += 1;
                checked.lists_alone.1 += usize::from(
                    example
                        .labels
                        .iter()
                        .any(|label| example.listed.contains(label)),
                );
            }
        }
    }
    checked
}

/// The threshold just above `probability`, rounded up to a thousandth.
fn next_step(probability: f32) -> f32 {
    (((probability * 1000.0).floor() + 1.0) / 1000.0).min(0.999)
}

/// Which fold a case is in: by a hash of its text, so that adding cases does not move others.
fn fold_of(text: &str) -> usize {
    hash(b'f', &[text.as_bytes()]) as usize % FOLDS
}

/// The examples' features, numbered densely.
struct Encoded {
    /// Per example: its features' numbers (repeats kept: a repeated feature counts again).
    features: Vec<Vec<u32>>,
    /// Per example: what each feature counts.
    values: Vec<f32>,
    /// Per number: the feature's key.
    keys: Vec<u32>,
}

impl Encoded {
    fn new(examples: &[Example]) -> Encoded {
        let mut numbers: HashMap<u32, u32> = HashMap::new();
        let mut keys = Vec::new();
        let mut per_example = Vec::with_capacity(examples.len());
        let mut values = Vec::with_capacity(examples.len());
        for example in examples {
            let mut own = Vec::new();
            features(&example.text, |key, _| {
                let number = *numbers.entry(key).or_insert_with(|| {
                    keys.push(key);
                    (keys.len() - 1) as u32
                });
                own.push(number);
            });
            values.push(if own.is_empty() {
                0.0
            } else {
                1.0 / (own.len() as f32).sqrt()
            });
            per_example.push(own);
        }
        Encoded {
            features: per_example,
            values,
            keys,
        }
    }
}

/// Trains on the examples numbered in `inside` and quantises the weights.
fn fit(
    categories: &[String],
    encoded: &Encoded,
    examples: &[Example],
    inside: &[usize],
    training: &Training,
) -> Model {
    let width = categories.len();
    let features = encoded.keys.len();
    let mut weights = vec![0f32; features * width];
    let mut squares = vec![0f32; features * width];
    let mut bias = vec![0f32; width];
    let mut bias_squares = vec![0f32; width];
    // Labels per example as a bit per category, and each class weighted to half the total.
    let labels: Vec<Vec<bool>> = examples
        .iter()
        .map(|e| categories.iter().map(|c| e.labels.contains(c)).collect())
        .collect();
    let class_weight: Vec<(f32, f32)> = (0..width)
        .map(|c| {
            let positive = inside.iter().filter(|i| labels[**i][c]).count().max(1) as f32;
            let negative = (inside.len() as f32 - positive).max(1.0);
            let total = inside.len() as f32;
            (total / (2.0 * positive), total / (2.0 * negative))
        })
        .collect();
    let mut order: Vec<usize> = inside.to_vec();
    let mut random = training.seed | 1;
    let mut sums = vec![0f32; width];
    for _ in 0..training.epochs {
        // Fisher–Yates with xorshift: the same seed, the same order.
        for i in (1..order.len()).rev() {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            order.swap(i, (random % (i as u64 + 1)) as usize);
        }
        for &example in &order {
            let value = encoded.values[example];
            let own = &encoded.features[example];
            sums.copy_from_slice(&bias);
            for &feature in own {
                let row = &weights[feature as usize * width..][..width];
                for (sum, weight) in sums.iter_mut().zip(row) {
                    *sum += weight * value;
                }
            }
            for c in 0..width {
                let (positive, negative) = class_weight[c];
                let (target, weight) = if labels[example][c] {
                    (1.0, positive)
                } else {
                    (0.0, negative)
                };
                let error = (sigmoid(sums[c]) - target) * weight;
                bias_squares[c] += error * error;
                bias[c] -= training.rate * error / (bias_squares[c].sqrt() + 1e-6);
                for &feature in own {
                    let at = feature as usize * width + c;
                    let gradient = error * value + training.l2 * weights[at];
                    squares[at] += gradient * gradient;
                    weights[at] -= training.rate * gradient / (squares[at].sqrt() + 1e-6);
                }
            }
        }
    }
    quantise(categories, &encoded.keys, &weights, &bias)
}

/// Weights as steps of a per-category scale (the largest weight is 127 steps); features whose
/// every weight rounds to nothing are dropped.
fn quantise(categories: &[String], keys: &[u32], weights: &[f32], bias: &[f32]) -> Model {
    let width = categories.len();
    let scales: Vec<f32> = (0..width)
        .map(|c| {
            let largest = (0..keys.len())
                .map(|f| weights[f * width + c].abs())
                .fold(0.0f32, f32::max);
            if largest > 0.0 { largest / 127.0 } else { 1.0 }
        })
        .collect();
    let mut table = FeatureTable::new(width, keys.len());
    let mut steps = vec![0i8; width];
    for (f, &key) in keys.iter().enumerate() {
        for (c, step) in steps.iter_mut().enumerate() {
            *step = (weights[f * width + c] / scales[c])
                .round()
                .clamp(-127.0, 127.0) as i8;
        }
        if !step_free(&steps) {
            table.insert(key, &steps);
        }
    }
    Model {
        categories: categories
            .iter()
            .zip(bias)
            .zip(scales)
            .map(|((id, &bias), scale)| ModelCategory {
                id: id.clone(),
                bias,
                scale,
                threshold: 0.5,
                overrule: 0.0,
            })
            .collect(),
        table,
    }
}

/// Whether every weight is nothing.
fn step_free(weights: &[i8]) -> bool {
    weights.iter().all(|step| *step == 0)
}

/// Each feature's weights, dense (one per category), in an open-addressed table whose slot
/// holds the key, a mark that it is taken, and the weights side by side: looking a feature up
/// reads one cache line, where a map to a list of (category, weight) pairs read three. A short
/// text's score is mostly these lookups, and beside the phrase automaton they miss the cache.
#[derive(Clone)]
struct FeatureTable {
    /// Values per slot: the key's four bytes, the mark, the weights; rounded up to 4.
    stride: usize,
    width: usize,
    /// Slots less one; the number of slots is a power of two.
    mask: usize,
    slots: Vec<i8>,
    len: usize,
}

/// A key as a slot holds it.
fn key_bytes(key: u32) -> [i8; 4] {
    key.to_le_bytes().map(|byte| i8::from_le_bytes([byte]))
}

impl FeatureTable {
    /// Room for `features` features of `width` weights each, at most four fifths full: the
    /// table is read at random, so the smaller it is the more of it stays in the cache.
    fn new(width: usize, features: usize) -> FeatureTable {
        let stride = (5 + width).div_ceil(4) * 4;
        let count = (features + features / 4 + 1).next_power_of_two();
        FeatureTable {
            stride,
            width,
            mask: count - 1,
            slots: vec![0; count * stride],
            len: 0,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn home(&self, key: u32) -> usize {
        // Keys are hashes already; the multiply mixes their high bits into the low.
        (key.wrapping_mul(0x9E37_79B1) >> 7) as usize & self.mask
    }

    /// The key's weights, one per category.
    fn get(&self, key: u32) -> Option<&[i8]> {
        let wanted = key_bytes(key);
        let mut at = self.home(key);
        loop {
            let slot = &self.slots[at * self.stride..][..self.stride];
            if slot[4] == 0 {
                return None;
            }
            if slot[..4] == wanted {
                return Some(&slot[5..5 + self.width]);
            }
            at = (at + 1) & self.mask;
        }
    }

    /// Adds a feature; false if the key is there already. Grows when four fifths full.
    fn insert(&mut self, key: u32, weights: &[i8]) -> bool {
        debug_assert_eq!(weights.len(), self.width);
        if (self.len + 1) * 5 > (self.mask + 1) * 4 {
            let mut grown = FeatureTable::new(self.width, self.mask + 1);
            for (key, weights) in self.iter() {
                grown.insert(key, weights);
            }
            *self = grown;
        }
        let wanted = key_bytes(key);
        let mut at = self.home(key);
        loop {
            let slot = &mut self.slots[at * self.stride..][..self.stride];
            if slot[4] == 0 {
                slot[..4].copy_from_slice(&wanted);
                slot[4] = 1;
                slot[5..5 + self.width].copy_from_slice(weights);
                self.len += 1;
                return true;
            }
            if slot[..4] == wanted {
                return false;
            }
            at = (at + 1) & self.mask;
        }
    }

    /// Every feature and its weights, in slot order.
    fn iter(&self) -> impl Iterator<Item = (u32, &[i8])> {
        self.slots
            .chunks_exact(self.stride)
            .filter(|slot| slot[4] != 0)
            .map(|slot| {
                let key = [slot[0], slot[1], slot[2], slot[3]].map(|byte| byte.to_le_bytes()[0]);
                (u32::from_le_bytes(key), &slot[5..5 + self.width])
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise_phrase;

    fn example(text: &str, labels: &[&str]) -> Example {
        Example {
            text: normalise_phrase(text),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            listed: Vec::new(),
            from_lists: false,
        }
    }

    fn examples() -> Vec<Example> {
        let mut all = Vec::new();
        for (text, labels) in [
            ("i want to die", &["self-harm"][..]),
            ("i want to end it all", &["self-harm"]),
            ("nobody would miss me if i died", &["self-harm"]),
            ("how to die painlessly", &["self-harm"]),
            ("i wish i could die", &["self-harm"]),
            ("where to buy weed", &["drugs"]),
            ("selling weed and pills", &["drugs"]),
            ("buy pills online", &["drugs"]),
            ("who sells weed near me", &["drugs"]),
            ("weed delivery", &["drugs"]),
            ("what time is lunch", &[]),
            ("i want to go to the park", &[]),
            ("how to kill weeds in the garden", &[]),
            ("the dog died in the film", &[]),
            ("homework is due on friday", &[]),
            ("i want a new bike", &[]),
            ("where is the library", &[]),
            ("how to draw a horse", &[]),
        ] {
            all.push(example(text, labels));
        }
        all
    }

    fn categories() -> Vec<String> {
        vec!["self-harm".to_owned(), "drugs".to_owned()]
    }

    #[test]
    fn learns_its_cases_and_says_why() {
        let model = train(&categories(), &examples(), &Training::default());
        let fired = |text: &str| -> Vec<String> {
            model
                .predict(&normalise_phrase(text))
                .into_iter()
                .filter(|p| p.probability >= model.categories[p.category].threshold)
                .map(|p| model.categories[p.category].id.clone())
                .collect()
        };
        assert_eq!(fired("i want to die"), ["self-harm"]);
        assert_eq!(fired("buy weed"), ["drugs"]);
        assert!(fired("what time is the library open").is_empty());
        let why = model.explain(&normalise_phrase("i want to die"), 0);
        assert!(
            why.iter().any(|(feature, _)| feature.contains("die")),
            "{why:?}"
        );
        for category in model.categories() {
            assert!(category.threshold >= 0.5 && category.threshold < 1.0);
        }
    }

    #[test]
    fn a_text_it_knows_nothing_of_is_not_read() {
        let model = train(&categories(), &examples(), &Training::default());
        assert!(model.read(&normalise_phrase("i want to die")).is_some());
        assert!(model.read(&normalise_phrase("أمي تطبخ العشاء")).is_none());
        assert!(model.read(&normalise_phrase("zxqv")).is_none());
    }

    #[test]
    fn the_same_cases_train_the_same_model_and_it_reads_back() {
        let first = train(&categories(), &examples(), &Training::default());
        let second = train(&categories(), &examples(), &Training::default());
        assert_eq!(first.to_bytes(), second.to_bytes());
        let read = Model::from_bytes(&first.to_bytes()).expect("reads back");
        assert_eq!(read.to_bytes(), first.to_bytes());
        assert_eq!(read.categories(), first.categories());
    }

    #[test]
    fn the_lists_phrases_are_learnt_from_but_never_counted_as_cases() {
        let cases_file: String = examples()
            .iter()
            .map(|e| {
                let labels = if e.labels.is_empty() {
                    "none".to_owned()
                } else {
                    e.labels.join(",")
                };
                format!("chat\t{labels}\t{}\n", e.text)
            })
            .collect();
        let (cases, problems) = crate::eval::parse_cases("cases", &cases_file);
        assert!(problems.is_empty(), "{problems:?}");
        let harmless = cases.iter().filter(|c| c.labels.is_empty()).count();
        let lists = |extra: &str| {
            let mut lists = crate::PhraseLists::default();
            let problems = lists.parse(
                "test",
                &format!(
                    "category self-harm \"Self-harm\"\nthreshold 50\n60 want to die\n{extra}\
                     category drugs \"Drugs\"\nthreshold 50\n60 buy weed\n"
                ),
            );
            assert!(problems.is_empty(), "{problems:?}");
            crate::Scanner::new(lists)
        };
        let plain = lists("");
        let taught = lists("60 sewer slide\n60 end it tonight\n-40 water slide\n");
        let (without, checked_without) = train_on_cases(&plain, &cases).expect("trains");
        let (with, checked_with) = train_on_cases(&taught, &cases).expect("trains");
        // The phrases are not cases: the cross-validation counts the same cases either way.
        assert_eq!(checked_without.harmless.0, harmless);
        assert_eq!(checked_with.harmless.0, harmless);
        assert_eq!(checked_without.lists_alone.0, checked_with.lists_alone.0);
        // What the model makes of a phrase no case has, in self-harm (category 0).
        let sure =
            |model: &Model, text: &str| model.predict(&normalise_phrase(text))[0].probability;
        for text in ["sewer slide", "end it tonight"] {
            assert!(
                sure(&with, text) > sure(&without, text) + 0.1,
                "{text}: {} against {}",
                sure(&with, text),
                sure(&without, text)
            );
        }
        assert!(sure(&with, "water slide") < 0.5);
    }

    #[test]
    fn a_broken_file_is_refused_not_read() {
        let bytes = train(&categories(), &examples(), &Training::default()).to_bytes();
        for end in [0, 4, 8, 9, 20, bytes.len() - 1] {
            assert!(Model::from_bytes(&bytes[..end]).is_err(), "cut at {end}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Model::from_bytes(&longer).is_err());
        let mut wrong = bytes;
        wrong[0] = b'X';
        assert!(Model::from_bytes(&wrong).is_err());
    }

    #[test]
    fn a_file_naming_a_feature_badly_is_refused() {
        // One category, then features as (key, [(category, step)]).
        let file = |features: &[(u32, &[(u8, i8)])]| {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&[1, 1, b'x']);
            for value in [0.0f32, 1.0, 0.5, 0.0] {
                bytes.extend_from_slice(&value.to_le_bytes());
            }
            bytes.extend_from_slice(&(features.len() as u32).to_le_bytes());
            for (key, weights) in features {
                bytes.extend_from_slice(&key.to_le_bytes());
                bytes.push(weights.len() as u8);
                for &(category, step) in *weights {
                    bytes.push(category);
                    bytes.push(step.to_le_bytes()[0]);
                }
            }
            bytes
        };
        let good = file(&[(7, &[(0, 3)]), (9, &[(0, -2)])]);
        let model = Model::from_bytes(&good).expect("reads");
        assert_eq!(model.to_bytes(), good);
        for bad in [
            file(&[(7, &[(0, 3)]), (7, &[(0, 1)])]),
            file(&[(7, &[(0, 3), (0, 1)])]),
            file(&[(7, &[(1, 3)])]),
            file(&[(7, &[])]),
            file(&[(7, &[(0, 0)])]),
        ] {
            assert!(Model::from_bytes(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_feature_table_finds_what_it_holds_and_nothing_else() {
        let mut table = FeatureTable::new(3, 0);
        let weights = |key: u32| [key as i8, (key as i8).wrapping_neg(), 1];
        // Keys that share their low bits, and enough of them to grow the table many times.
        let keys: Vec<u32> = (0..5_000u32).map(|n| n.wrapping_mul(1 << 20) ^ n).collect();
        for &key in &keys {
            assert!(table.insert(key, &weights(key)));
        }
        assert!(!table.insert(keys[10], &weights(1)));
        assert_eq!(table.len(), keys.len());
        for &key in &keys {
            assert_eq!(table.get(key), Some(&weights(key)[..]));
        }
        for absent in [1u32, 3 << 20, u32::MAX] {
            assert!(!keys.contains(&absent));
            assert_eq!(table.get(absent), None);
        }
        let mut listed: Vec<u32> = table.iter().map(|(key, _)| key).collect();
        listed.sort_unstable();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(listed, sorted);
    }

    #[test]
    fn the_shipped_model_reads() {
        let model = Model::embedded();
        assert!(model.feature_count() > 0);
        assert!(model.categories().iter().any(|c| c.id == "self-harm"));
    }

    #[test]
    fn the_exponential_is_close_to_the_platform_one() {
        for step in -300..=300 {
            let x = step as f32 / 10.0;
            let ours = exp(x);
            let theirs = x.exp();
            assert!(
                ((ours - theirs) / theirs).abs() < 1e-5,
                "{x}: {ours} {theirs}"
            );
        }
    }

    #[test]
    fn features_name_words_pairs_and_characters() {
        let mut written = Vec::new();
        features(" tie a noose ", |_, w| written.push(w.to_string()));
        for expected in [
            "tie",
            "a",
            "noose",
            "tie a",
            "a noose",
            "noo…",
            "…oose",
            "…oos…",
        ] {
            assert!(
                written.iter().any(|w| w == expected),
                "{expected}: {written:?}"
            );
        }
    }

    #[test]
    fn word_families_and_their_pairs_are_features_once_a_text() {
        let mut written = Vec::new();
        let mut keys = Vec::new();
        features(
            " nobody would care if i died nobody at all i died ",
            |key, w| {
                if matches!(w, Written::Family(..) | Written::Families(..)) {
                    written.push(w.to_string());
                    keys.push(key);
                }
            },
        );
        // "died" is of the family `death`, "nobody" of `nobody`; "i" (`self`) is everyday:
        // no feature alone, only in pairs.
        assert!(
            written.contains(&"words like died".to_owned()),
            "{written:?}"
        );
        assert!(written.contains(&"nobody … died".to_owned()), "{written:?}");
        assert!(written.contains(&"i … died".to_owned()), "{written:?}");
        assert!(!written.iter().any(|w| w == "words like i"), "{written:?}");
        // The same pair of families again later in the text is not counted again.
        let pairs: Vec<&String> = written.iter().filter(|w| w.contains('…')).collect();
        let mut distinct: Vec<u32> = keys
            .iter()
            .zip(&written)
            .filter(|(_, w)| w.contains('…'))
            .map(|(k, _)| *k)
            .collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), pairs.len(), "{written:?}");
        // The order the words came in does not change the pair's key.
        let key_of = |text: &str| {
            let mut found = None;
            features(text, |key, w| {
                if matches!(w, Written::Families(..)) {
                    found = Some(key);
                }
            });
            found.expect("a pair")
        };
        assert_eq!(key_of(" nobody died "), key_of(" died nobody "));
    }
}
