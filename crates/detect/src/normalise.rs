//! Text normalisation for phrase matching (DESIGN.md M1, issue 7 part 2).
//!
//! [`normalise`] turns text into lower-case words separated by single spaces, with a space at
//! each end, so that a whole-word phrase `suicide` is the substring ` suicide ` and a phrase of
//! several words matches whatever separated them. On the way:
//!
//! 1. Unicode compatibility decomposition (NFKD): full-width and styled letters (`ｓｕｉｃｉｄｅ`,
//!    `𝐬𝐮𝐢𝐜𝐢𝐝𝐞`) and ligatures become plain letters; combining marks (accents) are dropped.
//! 2. Invisible characters (zero-width spaces and joiners, soft hyphens, byte-order marks,
//!    variation selectors, other format characters) are dropped, so they cannot split a word.
//! 3. Look-alike Cyrillic and Greek letters become the Latin letters they imitate (`ѕuісіdе`);
//!    then everything is lower-cased.
//! 4. Words are runs of letters, digits and the symbols leetspeak uses (`@ $ ! |`); in a word
//!    that has a letter, those digits and symbols are read as the letters they stand for
//!    (`5u1c1d3` → `suicide`); a word of digits alone stays as it is (`2026`).
//!    Apostrophes do not split a word (`don't` is `dont`, `i’m` is `im`).
//! 5. Letters spaced or dotted apart (`s u i c i d e`, `s.u.i.c.i.d.e`, `k-m-s`): three or more
//!    one-character words in a row, at least one of them a letter, are joined into one word,
//!    unless each is a word on its own in text-speak (`u r a`, `y r u`: a b c i n r u y).
//!    Emoji that carry a meaning in children's messages are read as a word each (💊 `pill`,
//!    🔪 `knife`, 🍃 `leaf`, ❄ `snowflake`); other emoji separate words.
//! 6. Double letters stay double (`noose` is not `nose`, `weed` is not `wed`). A run of three
//!    or more of one letter is a stretched letter (`diiiie`, `kiiiill`): it is read as one
//!    letter, and the text is read a second time with it as two, the second reading appended
//!    to the first, so `diiiie` matches `die` and `kiiiill` matches `kill`. A word of one letter
//!    alone (`www`, `zzzz`) reads the same either way and does not cause the second reading.
//!
//! 7. Text-speak is read as the plain words it stands for (`u` `you`, `ur` `your`, `r` `are`,
//!    `2` `to`, `ppl` `people`, `bc` `because`, `h8` `hate`, `dont` `do not`): a list writes
//!    its phrases in plain words and matches both.
//!
//! [`normalise_phrase`] is the one reading used for a list's phrases. It is idempotent:
//! `normalise_phrase(normalise_phrase(x)) == normalise_phrase(x)` (a property test checks it),
//! so a phrase list can be normalised once when it is loaded.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Normalises `text` for phrase matching (see the module's documentation): lower-case words,
/// single spaces between them, a space at each end (`" "` for text with no words).
pub fn normalise(text: &str) -> String {
    let (once, stretched) = render(text, 1);
    if !stretched {
        return once;
    }
    // Stretched letters could stand for one letter or two: the text is also read with them
    // as two (`noooose` → `nose`, and `noose` after it).
    once + &read_twice(text)[1..]
}

/// Texts up to this long are read a second time whole; in longer ones (pages), only the words
/// around each stretched letter are.
const READ_TWICE_WHOLE: usize = 4096;

/// How far either side of a stretched letter a long text is read again (then on to a space).
const READ_TWICE_AROUND: usize = 64;

/// The second reading of `text`, stretched letters read as two: the whole text if it is short,
/// else the stretch of text around each run of three or more of an ASCII letter (any case),
/// read apart (or the whole text, if its stretched letters are not ASCII).
fn read_twice(text: &str) -> String {
    if text.len() <= READ_TWICE_WHOLE {
        return render(text, 2).0;
    }
    let bytes = text.as_bytes();
    let mut windows: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while at + 2 < bytes.len() {
        // Eight places at a time: skip ahead while no byte equals the next two, case aside.
        if let (Some(x), Some(y), Some(z)) = (
            bytes[at..].first_chunk::<8>(),
            bytes.get(at + 1..).and_then(<[u8]>::first_chunk::<8>),
            bytes.get(at + 2..).and_then(<[u8]>::first_chunk::<8>),
        ) {
            let case = bytes_of(0x20);
            let [x, y, z] = [x, y, z].map(|b| u64::from_le_bytes(*b) | case);
            let differ = (x ^ y) | (y ^ z);
            // A byte of `differ` is zero where three in a row are alike.
            let zero = (differ.wrapping_sub(bytes_of(1))) & !differ & HIGH;
            if zero == 0 {
                at += 8;
                continue;
            }
            at += (zero.trailing_zeros() / 8) as usize;
        }
        let letter = bytes[at].to_ascii_lowercase();
        if !letter.is_ascii_lowercase()
            || bytes[at + 1].to_ascii_lowercase() != letter
            || bytes[at + 2].to_ascii_lowercase() != letter
        {
            at += 1;
            continue;
        }
        let mut end = at + 3;
        while end < bytes.len() && bytes[end].to_ascii_lowercase() == letter {
            end += 1;
        }
        // Out to the space before and after, so no word is cut.
        let before = at.saturating_sub(READ_TWICE_AROUND);
        let start = bytes[..before]
            .iter()
            .rposition(u8::is_ascii_whitespace)
            .map_or(0, |space| space + 1);
        let after = (end + READ_TWICE_AROUND).min(bytes.len());
        let stop = bytes[after..]
            .iter()
            .position(u8::is_ascii_whitespace)
            .map_or(bytes.len(), |space| after + space);
        match windows.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(stop),
            _ => windows.push((start, stop)),
        }
        at = end;
    }
    if windows.is_empty() {
        return render(text, 2).0;
    }
    let mut read = String::from(" ");
    for (start, stop) in windows {
        // Cut at ASCII whitespace or the ends: on character boundaries.
        read.push_str(&render(&text[start..stop], 2).0[1..]);
    }
    read
}

/// [`normalise`] for a list's phrase: one reading, with stretched letters as one.
pub fn normalise_phrase(text: &str) -> String {
    render(text, 1).0
}

/// One reading of `text`, runs of three or more of a letter read as `stretched_to` letters,
/// and whether there were any.
fn render(text: &str, stretched_to: usize) -> (String, bool) {
    let mut normaliser = Normaliser::new(text.len() + 2, stretched_to);
    normaliser.push_str(text);
    normaliser.finish()
}

/// [`normalise`] for bytes meant to be UTF-8, such as a page's text: invalid sequences read as
/// U+FFFD, as `String::from_utf8_lossy` writes them, without making that copy first.
pub(crate) fn normalise_lossy(bytes: &[u8]) -> String {
    // Valid text (the usual case) is checked much faster whole than chunk by chunk.
    if let Ok(text) = std::str::from_utf8(bytes) {
        return normalise(text);
    }
    let lossy = |stretched_to| {
        let mut normaliser = Normaliser::new(bytes.len() + 2, stretched_to);
        for chunk in bytes.utf8_chunks() {
            // Each valid stretch ends where the text or an invalid sequence does, so no word
            // runs on from one stretch into the next.
            normaliser.push_str(chunk.valid());
            if !chunk.invalid().is_empty() {
                normaliser.push_str(char::REPLACEMENT_CHARACTER.encode_utf8(&mut [0; 4]));
            }
        }
        normaliser.finish()
    };
    let (once, stretched) = lossy(1);
    if !stretched {
        return once;
    }
    // Invalid UTF-8 is rare: read again whole.
    once + &lossy(2).0[1..]
}

/// Builds normalised text a word at a time, without allocating per word: ASCII is read a byte
/// at a time through a table (words of letters eight bytes at a time), other characters through
/// their compatibility decomposition.
struct Normaliser {
    /// The normalised text so far (starts with a space; each finished word ends with one). UTF-8:
    /// it is written from `char`s and ASCII bytes only.
    out: Vec<u8>,
    /// The word being read.
    word: String,
    /// The word being finished.
    finished: Vec<u8>,
    /// Where the current run of one-character words starts in `out`.
    run_start: usize,
    /// How many one-character words the run has.
    run_words: usize,
    /// Whether one of them is a letter.
    run_letter: bool,
    /// Whether each of them is a word on its own in text-speak (`u r a`).
    run_words_only: bool,
    /// How runs of three or more of one letter are read.
    squeeze: Squeeze,
    /// Where one-letter text-speak words (`u`, `r`) stand in `out`, to be read as plain
    /// words at the end unless a run they are in is joined.
    singles: Vec<usize>,
}

/// Every byte of a `u64` with only its top bit set.
const HIGH: u64 = 0x8080_8080_8080_8080;
/// Every byte of a `u64` with all bits but the top one set.
const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
/// Each byte of a `u64` the same `byte`.
const fn bytes_of(byte: u8) -> u64 {
    u64::from_le_bytes([byte; 8])
}

impl Normaliser {
    fn new(capacity: usize, stretched_to: usize) -> Normaliser {
        let mut out = Vec::with_capacity(capacity);
        out.push(b' ');
        Normaliser {
            out,
            word: String::with_capacity(32),
            finished: Vec::with_capacity(32),
            run_start: 1,
            run_words: 0,
            run_letter: false,
            run_words_only: true,
            singles: Vec::new(),
            squeeze: Squeeze {
                stretched_to,
                in_word: false,
                stretched: false,
            },
        }
    }

    fn push_str(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            let byte = bytes[at];
            if byte == b'\'' {
                // An apostrophe shows where letters were left out, and the word goes on:
                // `don't` is `dont`, `i'm` is `im`.
                at += 1;
                continue;
            }
            if byte == PARAGRAPH {
                self.end_paragraph();
                at += 1;
                continue;
            }
            if self.word.is_empty() {
                // The common cases between words: separators (which end no word, so are only
                // skipped) and words of ASCII letters.
                if SEPARATOR[usize::from(byte)] {
                    at = separators_end(bytes, at);
                    continue;
                }
                if byte.is_ascii_alphabetic()
                    && let Some(end) = self.letters_word(bytes, at)
                {
                    at = end;
                    continue;
                }
            }
            if byte.is_ascii() {
                // A run of ASCII word characters goes into the word in one copy.
                let run = bytes[at..]
                    .iter()
                    .position(|b| !ASCII_WORD[usize::from(*b)])
                    .unwrap_or(bytes.len() - at);
                let whole = at + run == bytes.len()
                    || (bytes[at + run].is_ascii() && bytes[at + run] != b'\'');
                if run > 0 && whole && self.word.is_empty() {
                    // A whole ASCII word (the common case): finished straight from the bytes.
                    self.ascii_word(&bytes[at..at + run]);
                    at += run;
                } else if run > 0 {
                    for b in &bytes[at..at + run] {
                        self.word.push(char::from(b.to_ascii_lowercase()));
                    }
                    at += run;
                } else {
                    self.end_word();
                    at += 1;
                }
            } else {
                let c = text[at..]
                    .chars()
                    .next()
                    .unwrap_or(char::REPLACEMENT_CHARACTER);
                at += c.len_utf8();
                self.push_unicode(c);
            }
        }
    }

    /// The most common word: ASCII letters only, ended by an ASCII character that is not a
    /// word character (or by the end of the text). It is lower-cased and squeezed straight into
    /// the output as it is read, eight bytes at a time where it can be, and `Some(end)`
    /// returned, past the separators that follow it. A word that turns out to hold a digit, a
    /// symbol or a non-ASCII character is taken back out (`None`) for the general path.
    fn letters_word(&mut self, bytes: &[u8], at: usize) -> Option<usize> {
        let start = self.out.len();
        let mut last = 0u8;
        let mut run = 0usize;
        let mut end = at;
        while let Some(chunk) = bytes[end..].first_chunk::<8>() {
            let block = u64::from_le_bytes(*chunk);
            let lower = block | bytes_of(0x20);
            // A byte is a letter if it is ASCII and, lower-cased, from `a` to `z`: adding to
            // its low seven bits sets the top bit from `a` on, and from past `z` on.
            let seven = lower & LOW7;
            let letters = (seven + bytes_of(0x80 - b'a'))
                & !(seven + bytes_of(0x80 - b'z' - 1))
                & !block
                & HIGH;
            let count = ((!letters & HIGH).trailing_zeros() / 8) as usize;
            if count == 0 {
                break;
            }
            // A byte equal to the one before it (the first to the last letter written) is a
            // double or stretched letter, counted; a block without one is written whole.
            let same = lower ^ ((lower << 8) | u64::from(last));
            let repeated = !(((same & LOW7) + LOW7) | same) & HIGH;
            let counted = if count == 8 {
                HIGH
            } else {
                HIGH & ((1 << (8 * count)) - 1)
            };
            let lower = lower.to_le_bytes();
            if repeated & counted == 0 {
                self.out.extend_from_slice(&lower);
                self.out.truncate(self.out.len() - (8 - count));
                last = lower[count - 1];
                run = 1;
            } else {
                for &byte in &lower[..count] {
                    self.squeeze
                        .letter(&mut self.out, byte, &mut last, &mut run);
                }
            }
            end += count;
            if count < 8 {
                break;
            }
        }
        // What is left (under eight bytes), and the byte that ends the word.
        while let Some(&byte) = bytes.get(end) {
            if byte == b'\'' {
                end += 1;
                continue;
            }
            if !byte.is_ascii_alphabetic() {
                if !byte.is_ascii() || ASCII_WORD[usize::from(byte)] {
                    self.out.truncate(start);
                    self.squeeze.in_word = false;
                    return None;
                }
                break;
            }
            let lower = byte.to_ascii_lowercase();
            self.squeeze
                .letter(&mut self.out, lower, &mut last, &mut run);
            end += 1;
        }
        let single = (self.out.len() - start == 1).then_some(true);
        self.word_written(start, single);
        // The separators after the word go with it.
        Some(separators_end(bytes, end))
    }

    /// One non-ASCII character: decomposed, lower-cased, marks and invisible characters
    /// dropped, look-alikes mapped.
    fn push_unicode(&mut self, c: char) {
        decompose_compatible(c, |part| {
            for c in part.to_lowercase() {
                if is_combining_mark(c) || is_invisible(c) {
                    continue;
                }
                let c = latin_look_alike(c);
                if let Some(word) = emoji_word(c) {
                    self.end_word();
                    self.word.push_str(word);
                    self.end_word();
                } else if is_word_char(c) {
                    self.word.push(c);
                } else {
                    self.end_word();
                }
            }
        });
    }

    /// A whole word of ASCII word characters, finished and written out.
    fn ascii_word(&mut self, word: &[u8]) {
        let start = self.out.len();
        finish_ascii_word_into(word, &mut self.out, &mut self.squeeze);
        let single = match self.out.len() - start {
            0 => return,
            1 => Some(self.out[start].is_ascii_alphabetic()),
            _ => None,
        };
        self.word_written(start, single);
    }

    /// The end of a paragraph: its last word and run finished, and the mark written once.
    fn end_paragraph(&mut self) {
        self.end_word();
        self.close_run();
        if !self.out.ends_with(&[PARAGRAPH, b' ']) {
            self.out.extend_from_slice(&[PARAGRAPH, b' ']);
        }
        // A new run of one-character words starts after the mark.
        self.run_words = 0;
    }

    /// The end of a word: finished and written out, or held in a run of one-character words.
    fn end_word(&mut self) {
        if self.word.is_empty() {
            return;
        }
        self.finished.clear();
        finish_word_into(&self.word, &mut self.finished, &mut self.squeeze);
        self.word.clear();
        if self.finished.is_empty() {
            return;
        }
        let start = self.out.len();
        self.out.extend_from_slice(&self.finished);
        let single = single_char(&self.finished).map(char::is_alphabetic);
        self.word_written(start, single);
    }

    /// After a finished word has been written at `out[start..]` (`single`: it is one
    /// character, and whether that is a letter): the word joins the run of one-character words
    /// before it, or ends that run (joined, if it is long enough) and is followed by a space.
    #[inline]
    fn word_written(&mut self, start: usize, single: Option<bool>) {
        self.squeeze.settle(&self.out[start..]);
        match single {
            Some(letter) => {
                if self.run_words == 0 {
                    self.run_start = start;
                    self.run_letter = false;
                    self.run_words_only = true;
                }
                self.run_words += 1;
                self.run_letter |= letter;
                self.run_words_only &= is_single_letter_word(self.out[start]);
                // Read as text-speak at the end, unless the run is joined.
                if text_speak(&self.out[start..]).is_some() {
                    self.singles.push(start);
                }
            }
            None => {
                let mut start = start;
                if self.joins_run() {
                    // The run ends before this word: taken out while the run is joined.
                    let word = self.out.split_off(start);
                    self.close_run();
                    start = self.out.len();
                    self.out.extend_from_slice(&word);
                } else {
                    self.run_words = 0;
                }
                self.read_text_speak(start);
            }
        }
        self.out.push(b' ');
    }

    /// The word written at `out[start..]` read as the plain words it stands for, if it is
    /// text-speak ([`text_speak`]).
    fn read_text_speak(&mut self, start: usize) {
        let length = self.out.len() - start;
        if length == 0 || length > 8 {
            return;
        }
        // Most words cannot be text-speak by their length and first letter: no lookup.
        if TEXT_SPEAK_STARTS[length - 1] & (1u64 << (self.out[start] & 63)) == 0 {
            return;
        }
        // The word is the last thing written: its key is the last eight bytes, shifted.
        let key = match self.out.last_chunk::<8>() {
            Some(last) => u64::from_le_bytes(*last) >> (8 * (8 - length)),
            None => word_key(&self.out[start..]),
        };
        if let Some(plain) = text_speak_key(key) {
            self.out.truncate(start);
            self.out.extend_from_slice(plain.as_bytes());
        }
    }

    /// Whether the run of one-character words is a word spelt out: three or more, one a
    /// letter, and not only letters that are words themselves (`u r a`, `i c u`).
    fn joins_run(&self) -> bool {
        self.run_words >= 3 && self.run_letter && !self.run_words_only
    }

    /// Joins the run of one-character words just written, if it is three or more with a
    /// letter (`s u i c i d e`).
    fn close_run(&mut self) {
        if self.joins_run() {
            let joined: Vec<u8> = self.out[self.run_start..]
                .iter()
                .copied()
                .filter(|b| *b != b' ')
                .collect();
            self.out.truncate(self.run_start);
            // Characters with their spaces taken out: still UTF-8.
            finish_word_into(
                &String::from_utf8_lossy(&joined),
                &mut self.out,
                &mut self.squeeze,
            );
            self.squeeze.settle(&self.out[self.run_start..]);
            let run_start = self.run_start;
            self.singles.retain(|at| *at < run_start);
            self.read_text_speak(run_start);
            self.out.push(b' ');
        }
        self.run_words = 0;
    }

    /// The text, and whether it had stretched letters.
    fn finish(mut self) -> (String, bool) {
        self.end_word();
        self.close_run();
        // Written from chars and ASCII bytes only, so always UTF-8; were it not, the text would
        // still be returned rather than lost.
        let out = if self.singles.is_empty() {
            self.out
        } else {
            // The one-letter text-speak words left standing (`u r`), each one byte.
            let mut read = Vec::with_capacity(self.out.len() + 4 * self.singles.len());
            let mut copied = 0;
            for &at in &self.singles {
                read.extend_from_slice(&self.out[copied..at]);
                let plain = text_speak(&self.out[at..at + 1]).unwrap_or("");
                read.extend_from_slice(plain.as_bytes());
                copied = at + 1;
            }
            read.extend_from_slice(&self.out[copied..]);
            read
        };
        let text = String::from_utf8(out)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned());
        (text, self.squeeze.stretched)
    }
}

/// The character `bytes` holds, if it is exactly one.
/// Whether a one-letter word (its first byte) is a word on its own in English or text-speak,
/// so that a row of them is words (`u r a`), not a word spelt out (`k y s`).
fn is_single_letter_word(byte: u8) -> bool {
    matches!(byte, b'a' | b'b' | b'c' | b'i' | b'n' | b'r' | b'u' | b'y')
}

/// Text-speak words (after leetspeak is read: `h8` is `hb`, `no1` is `noi`; none longer than
/// eight bytes) and the plain words they stand for. No plain word is itself text-speak, and
/// none is or starts with a one-letter word, so reading it again changes nothing (`im` stays:
/// `i am` would join a row of one-letter words before it).
const TEXT_SPEAK: &[(&str, &str)] = &[
    ("u", "you"),
    ("yu", "you"),
    ("r", "are"),
    ("y", "why"),
    ("n", "and"),
    ("b", "be"),
    ("c", "see"),
    ("2", "to"),
    ("4", "for"),
    ("ur", "your"),
    ("yr", "your"),
    ("youre", "your"),
    ("yor", "your"),
    ("urself", "yourself"),
    ("yourslf", "yourself"),
    ("urselves", "yourselves"),
    ("ppl", "people"),
    ("ppls", "people"),
    ("bc", "because"),
    ("bcos", "because"),
    ("bcoz", "because"),
    ("bcuz", "because"),
    ("cos", "because"),
    ("coz", "because"),
    ("cuz", "because"),
    ("becuz", "because"),
    ("becos", "because"),
    ("bcause", "because"),
    ("cause", "because"),
    ("pls", "please"),
    ("plz", "please"),
    ("pleas", "please"),
    ("wanna", "want to"),
    ("wana", "want to"),
    ("gonna", "going to"),
    ("gona", "going to"),
    ("gotta", "got to"),
    ("abt", "about"),
    ("bout", "about"),
    ("luv", "love"),
    ("wat", "what"),
    ("wot", "what"),
    ("wut", "what"),
    ("bf", "boyfriend"),
    ("gf", "girlfriend"),
    ("hb", "hate"),
    ("hbs", "hates"),
    ("tho", "though"),
    ("msg", "message"),
    ("msgs", "message"),
    ("noi", "no one"),
    ("noone", "no one"),
    ("somei", "someone"),
    ("sumi", "someone"),
    ("anyi", "anyone"),
    ("everyi", "everyone"),
    ("evryi", "everyone"),
    ("nobdy", "nobody"),
    ("nobdoy", "nobody"),
    ("sumthing", "something"),
    ("somethin", "something"),
    ("nuthing", "nothing"),
    ("nothin", "nothing"),
    ("rn", "right now"),
    ("dont", "do not"),
    ("cant", "can not"),
    ("cannot", "can not"),
    ("wont", "will not"),
    ("didnt", "did not"),
    ("doesnt", "does not"),
    ("isnt", "is not"),
    ("wasnt", "was not"),
];

/// A word of up to eight bytes as a number (its bytes, little-endian, zeros after): words have
/// no zero bytes, so different words are different numbers.
const fn word_key(word: &[u8]) -> u64 {
    let mut key = 0u64;
    let mut at = 0;
    while at < word.len() {
        key |= (word[at] as u64) << (8 * at);
        at += 1;
    }
    key
}

/// Per length (1 to 8), the first bytes of [`TEXT_SPEAK`]'s words of that length, as bits
/// `byte & 63` (a filter: a bit set says a lookup is needed, not that the word is there).
static TEXT_SPEAK_STARTS: [u64; 8] = {
    let mut starts = [0u64; 8];
    let mut entry = 0;
    while entry < TEXT_SPEAK.len() {
        let word = TEXT_SPEAK[entry].0.as_bytes();
        starts[word.len() - 1] |= 1u64 << (word[0] & 63);
        entry += 1;
    }
    starts
};

/// Slots in [`TEXT_SPEAK_TABLE`] (a power of two, well over the entries).
const TEXT_SPEAK_SLOTS: usize = 256;

/// The slot a key starts looking at.
const fn text_speak_slot(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % TEXT_SPEAK_SLOTS
}

/// [`TEXT_SPEAK`] as an open-addressed table of (key, index + 1; 0 for an empty slot), so that
/// the words of a page are looked up in a few nanoseconds each.
static TEXT_SPEAK_TABLE: [(u64, u16); TEXT_SPEAK_SLOTS] = {
    let mut table = [(0u64, 0u16); TEXT_SPEAK_SLOTS];
    let mut entry = 0;
    while entry < TEXT_SPEAK.len() {
        let key = word_key(TEXT_SPEAK[entry].0.as_bytes());
        let mut slot = text_speak_slot(key);
        while table[slot].1 != 0 {
            slot = (slot + 1) % TEXT_SPEAK_SLOTS;
        }
        table[slot] = (key, entry as u16 + 1);
        entry += 1;
    }
    table
};

/// The plain words a text-speak word stands for ([`TEXT_SPEAK`]), or `None`.
fn text_speak(word: &[u8]) -> Option<&'static str> {
    if word.is_empty() || word.len() > 8 {
        return None;
    }
    text_speak_key(word_key(word))
}

/// The one-letter text-speak a plain word is written as (`you` as `u`, `are` as `r`), if any:
/// how a child spells it out letter by letter.
pub(crate) fn text_speak_for(word: &str) -> Option<&'static str> {
    TEXT_SPEAK
        .iter()
        .find(|(short, plain)| {
            short.len() == 1 && *plain == word && short.chars().all(|c| c.is_ascii_lowercase())
        })
        .map(|(short, _)| *short)
}

/// [`text_speak`] for a word's key ([`word_key`]).
#[inline]
fn text_speak_key(key: u64) -> Option<&'static str> {
    let mut slot = text_speak_slot(key);
    loop {
        match TEXT_SPEAK_TABLE[slot] {
            (_, 0) => return None,
            (found, entry) if found == key => return Some(TEXT_SPEAK[usize::from(entry) - 1].1),
            _ => slot = (slot + 1) % TEXT_SPEAK_SLOTS,
        }
    }
}

/// The word an emoji that carries a meaning in children's messages is read as: drugs (💊 🍃
/// ❄ 🔌), weapons (🔪 🔫), sex (🍆 🍑 💦), death (💀 ⚰ 🪦), racist abuse (🐒 🦍 🍌).
fn emoji_word(c: char) -> Option<&'static str> {
    Some(match c {
        '💊' => "pill",
        '💉' => "syringe",
        '🔪' | '🗡' => "knife",
        '🔫' => "gun",
        '💣' => "bomb",
        '🍃' | '🌿' | '🍁' => "leaf",
        '❄' => "snowflake",
        '⛄' | '☃' => "snowman",
        '🍄' => "mushroom",
        '🔌' => "plug",
        '💰' | '💸' | '💵' | '💷' => "money",
        '🎰' => "slots",
        '🍆' => "aubergine",
        '🍑' => "peach",
        '💦' => "splash",
        '👅' => "tongue",
        '🔞' => "adultsonly",
        '💀' | '☠' => "skull",
        '⚰' | '🪦' => "coffin",
        '🩸' => "blood",
        '🪢' => "rope",
        '🤮' => "vomit",
        '🐷' | '🐖' => "pig",
        '🐒' | '🐵' => "monkey",
        '🦍' => "gorilla",
        '🍌' => "banana",
        '🤡' => "clown",
        '卐' | '卍' => "swastika",
        _ => return None,
    })
}

fn single_char(bytes: &[u8]) -> Option<char> {
    let mut chars = std::str::from_utf8(bytes).ok()?.chars();
    let first = chars.next()?;
    chars.next().is_none().then_some(first)
}

/// Where the run of separators (see [`SEPARATOR`]) from `at` ends.
fn separators_end(bytes: &[u8], at: usize) -> usize {
    bytes[at..]
        .iter()
        .position(|b| !SEPARATOR[usize::from(*b)])
        .map_or(bytes.len(), |run| at + run)
}

/// Which bytes are ASCII and not word characters: they only separate words.
static SEPARATOR: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 128 {
        table[byte] = !ASCII_WORD[byte] && byte != b'\'' as usize && byte != PARAGRAPH as usize;
        byte += 1;
    }
    table
};

/// The mark between paragraphs: [`PageText`](crate::PageText) writes it where a block ends, and
/// normalised text keeps it (followed by a space) so that a page can be read a paragraph at a
/// time without normalising it again. (ASCII's record separator: no text shows it.)
pub(crate) const PARAGRAPH: u8 = 0x1E;

/// Which ASCII bytes are word characters.
static ASCII_WORD: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 128 {
        let c = byte as u8;
        table[byte] = c.is_ascii_alphanumeric() || matches!(c, b'!' | b'|' | b'@' | b'$');
        byte += 1;
    }
    table
};

/// Letters, digits and the symbols leetspeak writes letters with.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || leet(c).is_some()
}

/// The letter a digit or symbol stands for in leetspeak.
const fn leet(c: char) -> Option<char> {
    Some(match c {
        '0' => 'o',
        '1' | '!' | '|' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        '8' => 'b',
        '9' => 'g',
        _ => return None,
    })
}

/// Characters that show nothing and can be slipped into a word to split it for a filter.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\'' | '\u{2018}' | '\u{2019}' // apostrophes: `don't` is one word
        | '\u{00AD}' // soft hyphen
        | '\u{034F}' // combining grapheme joiner
        | '\u{061C}' // Arabic letter mark
        | '\u{115F}' | '\u{1160}' // Hangul fillers
        | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' // Mongolian variation selectors and vowel separator
        | '\u{200B}'..='\u{200F}' // zero-width space, joiners, direction marks
        | '\u{202A}'..='\u{202E}' // direction embeddings and overrides
        | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, deprecated formats
        | '\u{3164}' // Hangul filler
        | '\u{FE00}'..='\u{FE0F}' // variation selectors
        | '\u{FEFF}' // byte-order mark, zero-width no-break space
        | '\u{FFA0}' // half-width Hangul filler
        | '\u{E0000}'..='\u{E007F}' // tags
        | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
    )
}

/// The Latin letter a lower-case Cyrillic or Greek letter is written to look like (or a Latin
/// letter with a stroke, without it), or the character itself.
fn latin_look_alike(c: char) -> char {
    match c {
        'а' | 'α' => 'a',
        'в' | 'β' | 'ь' => 'b',
        'с' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'ε' => 'e',
        'һ' | 'н' => 'h',
        'і' | 'ι' | 'ӏ' => 'i',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'п' | 'η' => 'n',
        'о' | 'ο' | 'σ' | 'ө' => 'o',
        'р' | 'ρ' => 'p',
        'ԛ' => 'q',
        'г' => 'r',
        // Letters with a stroke, which compatibility decomposition keeps: children type them
        // without it (Polish `źle` as `zle`, `łatwo` as `latwo`).
        'ł' => 'l',
        'đ' => 'd',
        'ø' => 'o',
        'ı' => 'i',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'υ' | 'μ' => 'u',
        'ν' | 'ѵ' => 'v',
        'ԝ' | 'ω' => 'w',
        'х' | 'χ' => 'x',
        'у' | 'γ' | 'ү' => 'y',
        other => other,
    }
}

/// Writes a word as matched: `!` and `|` at its ends are punctuation, not letters (`help!`);
/// leetspeak is read as letters if it has a letter; repeated letters are squeezed.
fn finish_word_into(word: &str, out: &mut Vec<u8>, squeeze: &mut Squeeze) {
    if word.is_ascii() {
        finish_ascii_word_into(word.as_bytes(), out, squeeze);
        return;
    }
    let word = word.trim_matches(['!', '|']);
    let has_letter = word.chars().any(char::is_alphabetic);
    let mut last = None;
    let mut run = 0;
    for c in word.chars() {
        let c = if has_letter { leet(c).unwrap_or(c) } else { c };
        if has_letter && Some(c) == last && c.is_alphabetic() {
            run += 1;
            squeeze.repeat(out, run, c.len_utf8(), |out| {
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes())
            });
            continue;
        }
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        last = Some(c);
        run = 1;
    }
}

/// How runs of one letter are read: two stay two (`noose`, `weed`); three or more are a
/// stretched letter (`diiiie`), read as `stretched_to` letters.
struct Squeeze {
    /// 1 or 2.
    stretched_to: usize,
    /// Whether the word being written has a stretched letter.
    in_word: bool,
    /// Whether a word with a stretched letter and another letter was seen: a word of one
    /// letter alone (`www`, `zzzz`) reads the same either way, and pages are full of `www`.
    stretched: bool,
}

impl Squeeze {
    /// The `run`th letter in a row of one letter (2 or more), `width` bytes long, whose first
    /// `run - 1` are written already; `push` writes one more.
    #[inline]
    fn repeat(
        &mut self,
        out: &mut Vec<u8>,
        run: usize,
        width: usize,
        push: impl FnOnce(&mut Vec<u8>),
    ) {
        match run {
            2 => push(out),
            3 => {
                self.in_word = true;
                if self.stretched_to == 1 {
                    out.truncate(out.len() - width);
                }
            }
            _ => {}
        }
    }

    /// After a word was written as `word`: whether its stretched letter (if any) counts.
    #[inline]
    fn settle(&mut self, word: &[u8]) {
        if std::mem::take(&mut self.in_word) {
            // A word is written from whole characters, so it is UTF-8.
            let mut chars = std::str::from_utf8(word).unwrap_or("").chars();
            let first = chars.next();
            self.stretched |= chars.any(|c| Some(c) != first);
        }
    }

    /// An ASCII letter `byte` of a word, after `last` (the letter before it, repeated `run`
    /// times so far).
    #[inline]
    fn letter(&mut self, out: &mut Vec<u8>, byte: u8, last: &mut u8, run: &mut usize) {
        if byte == *last {
            *run += 1;
            self.repeat(out, *run, 1, |out| out.push(byte));
        } else {
            out.push(byte);
            *last = byte;
            *run = 1;
        }
    }
}

/// [`finish_word_into`] for a word of ASCII word characters (any case; `!` and `|` at its ends
/// are dropped here).
fn finish_ascii_word_into(word: &[u8], out: &mut Vec<u8>, squeeze: &mut Squeeze) {
    let start = word.iter().position(|b| !matches!(b, b'!' | b'|'));
    let Some(start) = start else {
        return;
    };
    let end = word
        .iter()
        .rposition(|b| !matches!(b, b'!' | b'|'))
        .unwrap_or(start)
        + 1;
    let word = &word[start..end];
    let has_letter = word.iter().any(u8::is_ascii_alphabetic);
    if !has_letter {
        // Digits (and symbols) alone stay as written: `2026`.
        out.extend_from_slice(word);
        return;
    }
    let mut last = 0u8;
    let mut run = 0;
    for &byte in word {
        let byte = AS_LETTER[usize::from(byte)];
        // Letters only are squeezed: `a222` keeps its `222`.
        if byte.is_ascii_alphabetic() {
            squeeze.letter(out, byte, &mut last, &mut run);
        } else {
            out.push(byte);
            last = byte;
            run = 1;
        }
    }
}

/// Per ASCII word byte in a word with a letter: the lower-case letter it is read as ([`leet`]
/// for digits and symbols).
static AS_LETTER: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 128 {
        let c = (byte as u8).to_ascii_lowercase();
        table[byte] = match leet(c as char) {
            Some(letter) => letter as u8,
            None => c,
        };
        byte += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The first, plainer implementation (a `Vec` of words, NFKD over the whole text), kept as
    /// the model the faster one must agree with.
    mod model {
        use unicode_normalization::UnicodeNormalization;
        use unicode_normalization::char::is_combining_mark;

        use super::super::{
            emoji_word, is_invisible, is_single_letter_word, is_word_char, latin_look_alike, leet,
            text_speak,
        };

        pub fn normalise(text: &str) -> String {
            let (once, stretched) = paragraphs(text, 1);
            if stretched {
                once + &paragraphs(text, 2).0[1..]
            } else {
                once
            }
        }

        /// Each paragraph (between marks) read alone, a mark and a space between them.
        fn paragraphs(text: &str, to: usize) -> (String, bool) {
            let mut out = String::from(" ");
            let mut any_stretched = false;
            for (index, part) in text.split('\u{1e}').enumerate() {
                if index > 0 && !out.ends_with("\u{1e} ") {
                    out.push_str("\u{1e} ");
                }
                let (read, stretched) = render(part, to);
                out.push_str(&read[1..]);
                any_stretched |= stretched;
            }
            (out, any_stretched)
        }

        /// Whether `word` has a stretched letter and another letter besides.
        fn stretched(word: &str) -> bool {
            let once = finish_word(word, 1);
            let mut chars = once.chars();
            let first = chars.next();
            once != finish_word(word, 2) && chars.any(|c| Some(c) != first)
        }

        /// One reading, and whether a word in it was stretched.
        fn render(text: &str, to: usize) -> (String, bool) {
            let mut any_stretched = false;
            let mut words: Vec<String> = Vec::new();
            let mut word = String::new();
            let mut push = |word: &mut String, words: &mut Vec<String>| {
                if !word.is_empty() {
                    any_stretched |= stretched(word);
                    let finished = finish_word(word, to);
                    if !finished.is_empty() {
                        words.push(finished);
                    }
                    word.clear();
                }
            };
            for c in text.nfkd() {
                for c in c.to_lowercase() {
                    if is_combining_mark(c) || is_invisible(c) {
                        continue;
                    }
                    let c = latin_look_alike(c);
                    if let Some(emoji) = emoji_word(c) {
                        push(&mut word, &mut words);
                        word.push_str(emoji);
                        push(&mut word, &mut words);
                    } else if is_word_char(c) {
                        word.push(c);
                    } else {
                        push(&mut word, &mut words);
                    }
                }
            }
            push(&mut word, &mut words);
            let single = |word: &String| word.chars().count() == 1;
            let mut out = String::from(" ");
            let mut index = 0;
            while index < words.len() {
                let mut end = index;
                while end < words.len() && single(&words[end]) {
                    end += 1;
                }
                let run = &words[index..end];
                let words_only = run.iter().all(|w| is_single_letter_word(w.as_bytes()[0]));
                if run.len() >= 3
                    && run.iter().any(|w| w.chars().any(char::is_alphabetic))
                    && !words_only
                {
                    any_stretched |= stretched(&run.concat());
                    out.push_str(&finish_word(&run.concat(), to));
                    out.push(' ');
                    index = end;
                } else {
                    out.push_str(&words[index]);
                    out.push(' ');
                    index += 1;
                }
            }
            let read: Vec<&str> = out
                .split(' ')
                .map(|word| text_speak(word.as_bytes()).unwrap_or(word))
                .collect();
            (read.join(" "), any_stretched)
        }

        /// A word read as letters, each run of one letter as itself if one or two long, else
        /// as `to` letters.
        fn finish_word(word: &str, to: usize) -> String {
            let word = word.trim_matches(['!', '|']);
            let has_letter = word.chars().any(char::is_alphabetic);
            let chars: Vec<char> = word
                .chars()
                .map(|c| if has_letter { leet(c).unwrap_or(c) } else { c })
                .collect();
            let mut out = String::new();
            for run in chars.chunk_by(|a, b| a == b) {
                let keep = if has_letter && run[0].is_alphabetic() && run.len() >= 3 {
                    to
                } else {
                    run.len()
                };
                out.extend(std::iter::repeat_n(run[0], keep));
            }
            out
        }
    }

    #[test]
    fn evasions_read_as_the_plain_word() {
        for (written, plain) in [
            ("Suicide", " suicide "),
            ("SUICIDE!", " suicide "),
            ("5u1c1d3", " suicide "),
            ("s u i c i d e", " suicide "),
            ("s.u.i.c.i.d.e", " suicide "),
            ("s-u-i-c-i-d-e", " suicide "),
            ("sui\u{200B}cide", " suicide "),
            ("sui\u{00AD}ci\u{2060}de", " suicide "),
            ("ѕuісіdе", " suicide "),        // Cyrillic look-alikes
            ("ｓｕｉｃｉｄｅ", " suicide "), // full-width
            ("𝐬𝐮𝐢𝐜𝐢𝐝𝐞", " suicide "),        // mathematical bold
            ("suïcîdé", " suicide "),
            // Stretched: read as one letter, then as two.
            ("diiiiie", " die diie "),
            ("noooose", " nose noose "),
            // A word of one letter alone reads the same either way: read once.
            ("see www.example.com", " see w example com "),
            ("zzzz diiie", " z die zz diie "),
            ("k m s", " kms "),
            ("k.m.s", " kms "),
            ("@norexi@", " anorexia "),
        ] {
            assert_eq!(normalise(written), plain, "{written:?}");
        }
    }

    #[test]
    fn a_long_text_is_read_again_only_around_its_stretched_letters() {
        let filler = "the quick brown fox jumps over the lazy dog ".repeat(200);
        let text = format!("{filler}i want to sleeeep now {filler}");
        let read = normalise(&text);
        assert!(read.contains(" i want to slep now "), "first reading");
        assert!(
            read.contains(" want to sleep now "),
            "second reading, around it"
        );
        assert!(
            read.len() < normalise(&filler).len() * 2 + 400,
            "not the whole text again"
        );
        // Short text is read again whole, as before.
        assert_eq!(normalise("tie a noooose"), " tie a nose tie a noose ");
    }

    #[test]
    fn words_are_separated_by_single_spaces() {
        assert_eq!(
            normalise("  How do I\tkill\n the PROCESS?? "),
            " how do i kill the process "
        );
        assert_eq!(normalise(""), " ");
        assert_eq!(normalise("?!… ,"), " ");
        assert_eq!(normalise("help me!!"), " help me ");
        assert_eq!(normalise("k!ll"), " kill ");
        assert_eq!(normalise("don't"), " do not ");
    }

    #[test]
    fn numbers_stay_numbers() {
        assert_eq!(normalise("in 2026 at 10:30"), " in 2026 at 10 30 ");
        assert_eq!(
            normalise("1 5 3"),
            " 1 5 3 ",
            "no letter: not spaced-out leetspeak"
        );
        assert_eq!(normalise("5 u 1 c 1 d 3"), " suicide ");
    }

    #[test]
    fn two_single_letters_stay_apart() {
        assert_eq!(normalise("I am a k"), " i am a k ");
        assert_eq!(normalise("x y z"), " xyz ");
    }

    #[test]
    fn every_text_speak_word_is_found_and_no_plain_word_is_one() {
        for (word, plain) in TEXT_SPEAK {
            assert_eq!(text_speak(word.as_bytes()), Some(*plain), "{word}");
            for part in plain.split(' ') {
                assert_eq!(text_speak(part.as_bytes()), None, "{plain}");
            }
        }
        assert_eq!(text_speak(b"hello"), None);
        assert_eq!(text_speak(b""), None);
        assert_eq!(text_speak(b"urselvess"), None);
    }

    #[test]
    fn text_speak_reads_as_plain_words() {
        for (written, plain) in [
            (
                "ur so fat no wonder no1 likes u",
                " your so fat no wonder no one likes you ",
            ),
            ("u r a loser", " you are a loser "),
            ("y r u so ugly", " why are you so ugly "),
            ("how to unalive urself", " how to unalive yourself "),
            ("i h8 u", " i hate you "),
            ("i want 2 die", " i want to die "),
            ("ppl r mean bc im fat", " people are mean because im fat "),
            ("wanna die", " want to die "),
            ("I don’t want to be here", " i do not want to be here "),
            ("you're", " your "),
            // Letters spelt out are still joined when they are not all words themselves.
            ("k y s", " kys "),
            ("s u i c i d e", " suicide "),
        ] {
            assert_eq!(normalise(written), plain, "{written:?}");
        }
    }

    #[test]
    fn emoji_that_carry_a_meaning_read_as_words() {
        assert_eq!(normalise("🍃❄️💊 dm me"), " leaf snowflake pill dm me ");
        assert_eq!(normalise("got the 🔪"), " got the knife ");
        assert_eq!(
            normalise("😀 hi"),
            " hi ",
            "an emoji with no meaning here is dropped"
        );
    }

    #[test]
    fn double_letters_no_longer_collide() {
        for (a, b) in [
            ("noose", "nose"),
            ("weed", "wed"),
            ("odds", "ods"),
            ("kill", "kil"),
        ] {
            assert_ne!(normalise(a), normalise(b), "{a} and {b}");
        }
    }

    #[test]
    fn other_scripts_keep_their_letters() {
        assert_eq!(normalise("Привет МИР"), normalise("привет мир"));
        assert_eq!(normalise("東京"), " 東京 ");
    }

    fn listed() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "suicide".to_owned(),
            "self harm".to_owned(),
            "kill myself".to_owned(),
            "anorexia".to_owned(),
            "groomer".to_owned(),
        ])
    }

    proptest! {
        #[test]
        fn agrees_with_the_model(text in "\\PC{0,80}") {
            prop_assert_eq!(normalise(&text), model::normalise(&text));
        }

        #[test]
        fn agrees_with_the_model_on_mixed_scripts(
            text in "[a-z0-9 .!|@$\u{0300}-\u{036F}\u{0400}-\u{04FF}\u{0370}-\u{03FF}\u{FF01}-\u{FF5E}\u{200B}-\u{200F}\u{1D400}-\u{1D433}\u{AC00}-\u{AC20}\u{00C0}-\u{017F}]{0,60}"
        ) {
            prop_assert_eq!(normalise(&text), model::normalise(&text));
        }

        #[test]
        fn agrees_with_the_model_on_paragraphs(text in "[a-cA-C1 .'\u{1e}\u{e9}]{0,60}") {
            prop_assert_eq!(normalise(&text), model::normalise(&text));
        }

        #[test]
        fn agrees_with_the_model_on_ascii_words(text in "[a-dA-D0-9!|@$ .]{0,60}") {
            // Few letters and digits, so repeats (which are squeezed, or not) are common.
            prop_assert_eq!(normalise(&text), model::normalise(&text));
        }

        #[test]
        fn agrees_with_the_model_on_words_of_letters(
            text in "([a-cA-C]{1,20}|[xyz]|[ .,]{1,3}|[1@\u{e9}\u{200B}]){0,24}"
        ) {
            // Words of letters long and short (read eight bytes at a time, repeats across the
            // eight), runs of one-letter words, and words that turn out not to be letters only.
            prop_assert_eq!(normalise(&text), model::normalise(&text));
        }

        #[test]
        fn bytes_read_lossily_normalise_as_their_lossy_text(
            bytes in prop::collection::vec(prop::sample::select(b"ab1 .\xc3\xa9\xff\xe2\x80\x8b".to_vec()), 0..60)
        ) {
            prop_assert_eq!(normalise_lossy(&bytes), normalise(&String::from_utf8_lossy(&bytes)));
        }

        #[test]
        fn normalising_a_phrase_is_idempotent(text in "\\PC{0,60}") {
            // (Text with stretched letters is read twice over, one reading after the other;
            // a list's phrase is read once, and reading it again changes nothing.)
            let once = normalise_phrase(&text);
            prop_assert_eq!(normalise_phrase(&once), once.clone());
            prop_assert_eq!(normalise(&once), once);
        }

        #[test]
        fn stretched_text_is_read_with_one_letter_then_two(
            // Words of two letters or more (one-letter words beside the run could be joined
            // with it into another word), the last of the head and the first of the tail
            // touching the run.
            head in "([a-z]{2,4} ){0,3}[a-z]{0,4}", letter in "[a-z]", times in 3usize..8,
            tail in "[a-z]{0,4}( [a-z]{2,4}){0,3}"
        ) {
            // The stretched run is the letters given: it does not go on into head or tail.
            prop_assume!(!head.ends_with(&letter) && !tail.starts_with(&letter));
            let stretched = |text: &str| text.as_bytes().windows(3).any(|w| w[0] == w[1] && w[1] == w[2]);
            prop_assume!(!stretched(&head) && !stretched(&tail));
            let text = format!("{head}{}{tail}", letter.repeat(times));
            let one = normalise_phrase(&format!("{head}{letter}{tail}"));
            let two = normalise_phrase(&format!("{head}{letter}{letter}{tail}"));
            let read = normalise(&text);
            let alone = (head.is_empty() || head.ends_with(' ')) && (tail.is_empty() || tail.starts_with(' '));
            if alone {
                // A word of one letter alone is read once, as one letter.
                prop_assert_eq!(read, one);
            } else {
                prop_assert!(read.starts_with(&one) && read.ends_with(&two[1..]), "{read:?}: {one:?} {two:?}");
            }
        }

        #[test]
        fn ascii_and_unicode_paths_agree(text in "[ -~]{0,60}") {
            // The same ASCII text through the general path (made non-ASCII by an invisible
            // character at the end, which is dropped).
            prop_assert_eq!(normalise(&text), normalise(&format!("{text}\u{200B}")));
        }

        #[test]
        fn invisible_characters_inside_a_phrase_do_not_hide_it(
            phrase in listed(),
            at in any::<prop::sample::Index>(),
            invisible in prop::sample::select(vec!['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{00AD}', '\u{FEFF}']),
        ) {
            let mut chars: Vec<char> = phrase.chars().collect();
            chars.insert(at.index(chars.len() + 1), invisible);
            let hidden: String = chars.into_iter().collect();
            let text = normalise(&format!("I want {hidden} now"));
            prop_assert!(text.contains(&normalise(&phrase)), "{text:?}");
        }

        #[test]
        fn separators_between_every_letter_do_not_hide_a_word(
            phrase in listed(),
            separator in prop::sample::select(vec![" ", ".", "-", "_", " . ", "*"]),
        ) {
            // Each word of the phrase spelt out letter by letter.
            let spelt: Vec<String> = phrase
                .split(' ')
                .map(|word| word.chars().map(String::from).collect::<Vec<_>>().join(separator))
                .collect();
            let text = normalise(&format!("so {} ok", spelt.join("   ")));
            let squeezed = normalise(&phrase).replace(' ', "");
            prop_assert!(text.contains(&squeezed), "{text:?} lacks {squeezed:?}");
        }
    }
}
