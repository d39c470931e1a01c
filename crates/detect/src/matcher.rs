//! Finding every occurrence of every listed part in normalised text.
//!
//! All the parts are compiled into one dense DFA of Ward's own, built from aho-corasick's
//! Aho-Corasick NFA. Its layout is chosen for normalised text, which is almost all lower-case
//! ASCII letters, digits and spaces:
//!
//! - **A small alphabet.** Each ASCII byte that some part uses is a class of its own; every other
//!   ASCII byte is one class, and every non-ASCII byte is one more. A state's row is one entry per
//!   class (about 40 with the default and e2guardian lists), where giving each non-ASCII byte of
//!   the lists a class of its own made rows of 128. Parts with non-ASCII bytes are therefore
//!   matched as if those bytes were any non-ASCII byte, and a match of one is checked against the
//!   text's bytes before it is reported.
//! - **Match states first.** The states where some part ends come first, so one comparison tells
//!   whether a step found anything; each group is numbered breadth first from the start, which
//!   keeps the short prefixes most of the text walks through near each other. (Numbering the
//!   states by how often the benchmark pages visited them instead made the walk only about a
//!   tenth faster, even with the pages' own counts: the walk waits on each step's load more than
//!   on the cache.)
//! - **Match details in the row.** Each row ends with one more entry: for a match state, where its
//!   list of parts is. A step that finds something reads it from the row it has just reached.
//!
//! Walking a DFA is a chain of dependent memory loads (each step needs the state the last one
//! produced), and with thousands of phrases much of the table is outside the processor's caches,
//! so a single walk spends its time waiting. A long text is therefore cut into [`STREAMS`] pieces
//! walked in lock step: the walks are independent, so the processor overlaps their waits.
//!
//! Each piece's walk starts as many bytes before the piece as the longest part has and reports
//! only the matches that end inside it. That is exact: the state of an Aho-Corasick automaton
//! after any text is the longest suffix of the text that begins some part, which is never longer
//! than the longest part, so a walk that has read that many bytes is in the state a walk from the
//! start of the text would be in.

use std::collections::HashMap;
use std::fmt;

use aho_corasick::automaton::Automaton;
use aho_corasick::nfa::noncontiguous::NFA;
use aho_corasick::{Anchored, MatchKind};

/// How many walks run in lock step over a long text (fewer than [`KEPT`]: a piece's number is a
/// `u8`).
/// Measured in one process on the benchmark pages' normalised text, the walks took 11.2 ms with
/// four, 10.0 with six, 9.7 with eight, 10.0 with ten, 9.8 with twelve and 14 with sixteen; in
/// the whole benchmark eight matched faster than twelve.
const STREAMS: usize = 8;
const _: () = assert!(STREAMS < KEPT as usize);

/// A pattern's note once [`Matcher::first_matches`] has kept its first start.
const KEPT: u8 = u8::MAX - 1;

/// The shortest piece worth a walk of its own, as a multiple of the longest pattern (each walk
/// reads that many bytes before its piece).
const MIN_PIECE_PATTERNS: usize = 8;

/// Set in a pattern's length when its bytes are to be checked on a match.
const CHECKED: u32 = 1 << 31;

/// The class of ASCII bytes no pattern uses.
const OTHER: u8 = 0;
/// The class of every non-ASCII byte.
const WIDE: u8 = 1;
/// The byte that stands for every non-ASCII byte in the patterns the automaton is built from.
const WIDE_BYTE: u8 = 0x80;

/// The byte the automaton reads for `byte`: every non-ASCII byte is read as one.
fn narrow(byte: u8) -> u8 {
    if byte.is_ascii() { byte } else { WIDE_BYTE }
}

/// Why the patterns could not be compiled.
#[derive(Debug)]
pub(crate) enum BuildError {
    /// aho-corasick could not build its automaton (a size limit).
    Automaton(aho_corasick::BuildError),
    /// The table would need offsets past `u32`.
    TooLarge,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Automaton(error) => error.fmt(f),
            BuildError::TooLarge => f.write_str("the phrase automaton is too large"),
        }
    }
}

/// What [`Matcher::first_matches`] found.
#[derive(Debug)]
pub(crate) struct Found {
    /// Each pattern found, with where it first starts, sorted by pattern.
    pub(crate) first: Vec<(usize, usize)>,
    /// Per pattern, [`KEPT`] if it was found, `u8::MAX` if not; empty if nothing was, or if
    /// the text was short (then `first` says).
    noted: Vec<u8>,
}

impl Found {
    /// Notes `pattern` found at `start` as well (from another automaton standing for it).
    pub(crate) fn add(&mut self, pattern: usize, start: usize) {
        if let Some(noted) = self.noted.get_mut(pattern) {
            *noted = KEPT;
        }
        match self.first.binary_search_by_key(&pattern, |(id, _)| *id) {
            Ok(at) => self.first[at].1 = self.first[at].1.min(start),
            Err(at) => self.first.insert(at, (pattern, start)),
        }
    }

    /// Whether `pattern` was found.
    pub(crate) fn has(&self, pattern: usize) -> bool {
        if self.noted.is_empty() {
            return self
                .first
                .binary_search_by_key(&pattern, |(id, _)| *id)
                .is_ok();
        }
        self.noted
            .get(pattern)
            .is_some_and(|piece| *piece != u8::MAX)
    }
}

/// Texts up to this long (a search, a message, a paragraph) are matched without a table per
/// pattern: setting one up would cost more than the walk.
const SHORT_TEXT: usize = 4096;

/// The compiled parts.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    /// The class of each byte.
    classes: [u8; 256],
    /// How many classes (the row's last entry, at this index, is the match details).
    alphabet: u32,
    /// One row of `alphabet + 1` entries per state: the next state (as its row's offset) for
    /// each class, then, for a match state, its index among the match states.
    trans: Box<[u32]>,
    /// The start state's offset.
    start: u32,
    /// States at offsets below this are match states.
    match_limit: u32,
    /// Per match state: its patterns are `state_patterns[bounds[i]..bounds[i + 1]]`.
    bounds: Box<[u32]>,
    state_patterns: Box<[u32]>,
    /// Per pattern: its length in bytes, with [`CHECKED`] set if it has non-ASCII bytes.
    lens: Box<[u32]>,
    /// Per pattern with non-ASCII bytes: its bytes, checked against the text on a match.
    wide: HashMap<u32, Box<[u8]>>,
    /// The longest pattern's length in bytes.
    max_len: usize,
}

impl Matcher {
    /// Compiles `patterns` (pattern `i` is reported as `i`).
    pub(crate) fn new(patterns: &[String]) -> Result<Matcher, BuildError> {
        let mut classes = [OTHER; 256];
        classes[usize::from(WIDE_BYTE)..].fill(WIDE);
        let mut alphabet = 2u8;
        for pattern in patterns {
            for &byte in pattern.as_bytes() {
                if byte.is_ascii() && classes[usize::from(byte)] == OTHER {
                    classes[usize::from(byte)] = alphabet;
                    alphabet += 1;
                }
            }
        }
        // One byte standing for each class, to ask the NFA about (none for OTHER when every
        // ASCII byte is in a pattern: its column is then never read, and gets the start).
        let mut representatives: Vec<Option<u8>> = vec![None; usize::from(alphabet)];
        for byte in (0..=u8::MAX).rev() {
            representatives[usize::from(classes[usize::from(byte)])] = Some(byte);
        }
        representatives[usize::from(WIDE)] = Some(WIDE_BYTE);
        let narrowed: Vec<Vec<u8>> = patterns
            .iter()
            .map(|pattern| pattern.bytes().map(narrow).collect())
            .collect();
        let nfa = NFA::builder()
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(&narrowed)
            .map_err(BuildError::Automaton)?;
        let start = nfa
            .start_state(Anchored::No)
            .unwrap_or_else(|error| panic!("the phrase automaton has no start state: {error}"));

        // Breadth first from the start (each state's next states, as indexes into `order`, go
        // into `targets`), then the match states moved to the front.
        let mut order = vec![start];
        let mut index_of: Vec<u32> = Vec::new();
        let mut targets: Vec<u32> = Vec::new();
        let mut next = 0;
        while next < order.len() {
            let state = order[next];
            next += 1;
            for byte in &representatives {
                let Some(byte) = byte else {
                    targets.push(0);
                    continue;
                };
                let to = nfa.next_state(Anchored::No, state, *byte);
                let id = to.as_usize();
                if id >= index_of.len() {
                    index_of.resize(id + 1, u32::MAX);
                }
                if index_of[id] == u32::MAX && to != start {
                    index_of[id] = u32::try_from(order.len()).map_err(|_| BuildError::TooLarge)?;
                    order.push(to);
                }
                targets.push(if to == start { 0 } else { index_of[id] });
            }
        }
        let (matching, plain): (Vec<usize>, Vec<usize>) =
            (0..order.len()).partition(|&at| nfa.is_match(order[at]));
        let row = u32::from(alphabet) + 1;
        let size = u32::try_from(order.len() * row as usize).map_err(|_| BuildError::TooLarge)?;
        // Each state's number is the offset of its row.
        let mut number = vec![0u32; order.len()];
        for (n, &at) in matching.iter().chain(&plain).enumerate() {
            number[at] = n as u32 * row;
        }
        let mut trans = vec![0u32; size as usize].into_boxed_slice();
        let classes_len = usize::from(alphabet);
        for (at, targets) in targets.chunks_exact(classes_len).enumerate() {
            let offset = number[at] as usize;
            for (entry, &target) in trans[offset..offset + classes_len].iter_mut().zip(targets) {
                *entry = number[target as usize];
            }
        }
        let mut bounds = vec![0u32];
        let mut state_patterns = Vec::new();
        for (n, &at) in matching.iter().enumerate() {
            let state = order[at];
            trans[number[at] as usize + classes_len] = n as u32;
            state_patterns
                .extend((0..nfa.match_len(state)).map(|i| nfa.match_pattern(state, i).as_u32()));
            bounds.push(state_patterns.len() as u32);
        }
        let mut wide = HashMap::new();
        let mut lens = Vec::with_capacity(patterns.len());
        for (id, (pattern, narrowed)) in patterns.iter().zip(&narrowed).enumerate() {
            let mut len = u32::try_from(pattern.len()).map_err(|_| BuildError::TooLarge)?;
            if pattern.as_bytes() != narrowed.as_slice() {
                wide.insert(id as u32, pattern.as_bytes().into());
                len |= CHECKED;
            }
            lens.push(len);
        }
        Ok(Matcher {
            classes,
            alphabet: u32::from(alphabet),
            trans,
            start: number[0],
            match_limit: matching.len() as u32 * row,
            bounds: bounds.into_boxed_slice(),
            state_patterns: state_patterns.into_boxed_slice(),
            lens: lens.into_boxed_slice(),
            wide,
            max_len: nfa.max_pattern_len(),
        })
    }

    /// Heap bytes used (for the checked patterns' map, an estimate: each entry's bytes plus its
    /// key, boxed-slice pointer and length, and table slot).
    pub(crate) fn memory_usage(&self) -> usize {
        let per_entry = size_of::<u32>() + size_of::<Box<[u8]>>() + size_of::<u64>();
        (self.trans.len() + self.bounds.len() + self.state_patterns.len() + self.lens.len())
            * size_of::<u32>()
            + self
                .wide
                .values()
                .map(|bytes| bytes.len() + per_entry)
                .sum::<usize>()
    }

    /// The patterns of the match state numbered `matched`.
    fn patterns_of(&self, matched: usize) -> &[u32] {
        &self.state_patterns[self.bounds[matched] as usize..self.bounds[matched + 1] as usize]
    }

    /// Where `pattern` starts if it ends at `end` in `text`, given that the automaton matched
    /// it there: always, unless it has non-ASCII bytes and the text's are others.
    fn start_if_found(&self, pattern: u32, text: &[u8], end: usize) -> Option<usize> {
        let len = self.lens[pattern as usize];
        let start = end - (len & !CHECKED) as usize;
        if len & CHECKED != 0
            && self
                .wide
                .get(&pattern)
                .is_some_and(|bytes| text[start..end] != **bytes)
        {
            return None;
        }
        Some(start)
    }

    /// Calls `found(pattern, start)` for every place a pattern is found in `text` (a place may
    /// be reported twice where the text's pieces overlap).
    pub(crate) fn all_matches(&self, text: &[u8], mut found: impl FnMut(usize, usize)) {
        self.each_match(text, |_, matched, end| {
            for &pattern in self.patterns_of(matched) {
                if let Some(start) = self.start_if_found(pattern, text, end) {
                    found(pattern as usize, start);
                }
            }
        });
    }

    /// Every pattern found in `text`, with where it first starts.
    pub(crate) fn first_matches(&self, text: &[u8]) -> Found {
        if text.len() <= SHORT_TEXT {
            let mut found = Vec::new();
            self.each_match(text, |_, matched, end| {
                for &pattern in self.patterns_of(matched) {
                    if let Some(start) = self.start_if_found(pattern, text, end) {
                        found.push((pattern as usize, start));
                    }
                }
            });
            // By pattern, then start: the first of each pattern is where it first starts.
            found.sort_unstable();
            found.dedup_by_key(|(pattern, _)| *pattern);
            return Found {
                first: found,
                noted: Vec::new(),
            };
        }
        // Within one piece matches come in order, and the walks step in lock step, so a match
        // reported by a lower piece than any before it is earlier in the text than those (its
        // piece starts at least a piece's length before theirs, and it is no further into it).
        // So each pattern is noted again only when a lower piece finds it, and a match state
        // all of whose patterns a piece has noted has nothing more to report from that piece or
        // a higher one (unless one of its patterns was turned down on its bytes). The earliest
        // of each pattern's notes is kept at the end.
        let mut state_piece: Vec<u8> = Vec::new();
        let mut pattern_piece: Vec<u8> = Vec::new();
        let mut found = Vec::new();
        self.each_match(text, |piece, matched, end| {
            if state_piece.is_empty() {
                state_piece.resize(self.bounds.len() - 1, u8::MAX);
                pattern_piece.resize(self.lens.len(), u8::MAX);
            }
            let piece = piece as u8;
            if state_piece[matched] <= piece {
                return;
            }
            let mut all = true;
            for &pattern in self.patterns_of(matched) {
                let noted = &mut pattern_piece[pattern as usize];
                if *noted <= piece {
                    continue;
                }
                match self.start_if_found(pattern, text, end) {
                    Some(start) => {
                        *noted = piece;
                        found.push((pattern as usize, start));
                    }
                    None => all = false,
                }
            }
            if all {
                state_piece[matched] = piece;
            }
        });
        // A pattern noted more than once was noted last by the lowest piece: that note is kept.
        let mut first = Vec::new();
        for &(pattern, start) in found.iter().rev() {
            let noted = &mut pattern_piece[pattern];
            if *noted != KEPT {
                *noted = KEPT;
                first.push((pattern, start));
            }
        }
        first.sort_unstable();
        Found {
            first,
            noted: pattern_piece,
        }
    }

    /// Calls `found(piece, matched, end)` for every match state reached in `text` (its number
    /// among the match states, and where the match ends): in order within each piece (see the
    /// module's documentation), pieces interleaved.
    fn each_match(&self, text: &[u8], found: impl FnMut(usize, usize, usize)) {
        let min_piece = self.max_len.max(1) * MIN_PIECE_PATTERNS;
        self.each_match_in_pieces(text, min_piece, found);
    }

    /// [`Matcher::each_match`], cutting `text` into pieces when each would be at least
    /// `min_piece` bytes (and at least as long as the longest pattern).
    fn each_match_in_pieces(
        &self,
        text: &[u8],
        min_piece: usize,
        mut found: impl FnMut(usize, usize, usize),
    ) {
        let trans = &*self.trans;
        let classes = &self.classes;
        let (alphabet, match_limit) = (self.alphabet as usize, self.match_limit);
        let step =
            |state: u32, byte: u8| trans[state as usize + usize::from(classes[usize::from(byte)])];
        let mut report = |piece: usize, state: u32, end: usize| {
            found(piece, trans[state as usize + alphabet] as usize, end);
        };
        let lead = self.max_len;
        let piece = text.len() / STREAMS;
        if piece < min_piece.max(lead).max(1) {
            let mut state = self.start;
            for (at, &byte) in text.iter().enumerate() {
                state = step(state, byte);
                if state < match_limit {
                    report(0, state, at + 1);
                }
            }
            return;
        }
        // Walk k reports the matches ending in piece k, text[k * piece .. (k + 1) * piece]; the
        // last walk goes on to the end of the text (fewer than STREAMS bytes more).
        let mut states = [self.start; STREAMS];
        // Lead-in: walks 1.. read the `lead` bytes before their piece, reporting nothing.
        for offset in 0..lead {
            for (k, state) in states.iter_mut().enumerate().skip(1) {
                *state = step(*state, text[k * piece - lead + offset]);
            }
        }
        let pieces: [&[u8]; STREAMS] = std::array::from_fn(|k| &text[k * piece..(k + 1) * piece]);
        #[expect(
            clippy::needless_range_loop,
            reason = "the walks step through their pieces together, by offset"
        )]
        for offset in 0..piece {
            for k in 0..STREAMS {
                let state = step(states[k], pieces[k][offset]);
                states[k] = state;
                if state < match_limit {
                    report(k, state, k * piece + offset + 1);
                }
            }
        }
        let mut state = states[STREAMS - 1];
        for (at, &byte) in text.iter().enumerate().skip(STREAMS * piece) {
            state = step(state, byte);
            if state < match_limit {
                report(STREAMS - 1, state, at + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every (pattern, start) the matcher finds, cutting the text into pieces of at least
    /// `min_piece` bytes.
    fn all_matches(matcher: &Matcher, text: &[u8], min_piece: usize) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        matcher.each_match_in_pieces(text, min_piece, |_, matched, end| {
            for &pattern in matcher.patterns_of(matched) {
                if let Some(start) = matcher.start_if_found(pattern, text, end) {
                    found.push((pattern as usize, start));
                }
            }
        });
        found.sort_unstable();
        found
    }

    /// Every (pattern, start), found by comparing each pattern at each place.
    fn naive(patterns: &[String], text: &[u8]) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        for (id, pattern) in patterns.iter().enumerate() {
            for start in 0..text.len() {
                if text[start..].starts_with(pattern.as_bytes()) {
                    found.push((id, start));
                }
            }
        }
        found.sort_unstable();
        found
    }

    #[test]
    fn finds_overlapping_matches_with_their_starts() {
        let patterns = [" ab ", "b", "abc"].map(String::from);
        let matcher = Matcher::new(&patterns).expect("builds");
        assert_eq!(
            all_matches(&matcher, b" ab abc ", usize::MAX),
            [(0, 0), (1, 2), (1, 5), (2, 4)]
        );
        assert_eq!(
            matcher.first_matches(b" ab abc ").first,
            [(0, 0), (1, 2), (2, 4)]
        );
    }

    #[test]
    fn non_ascii_parts_match_only_their_own_bytes() {
        // The automaton reads every non-ASCII byte as one: the text's bytes decide.
        let patterns = [" \u{4e2d}\u{6587} ", "\u{3b1}\u{3b2}", " \u{4e2d}"].map(String::from);
        let matcher = Matcher::new(&patterns).expect("builds");
        let text = " \u{4e2d}\u{6587} \u{6587}\u{4e2d} \u{3b2}\u{3b1}\u{3b1}\u{3b2} ";
        assert_eq!(
            matcher.first_matches(text.as_bytes()).first,
            naive(&patterns, text.as_bytes())
        );
        assert_eq!(
            matcher
                .first_matches(" \u{6587}\u{6587} \u{3b3}\u{3b2} ".as_bytes())
                .first,
            []
        );
    }

    proptest! {
        #[test]
        fn finds_what_comparing_everywhere_finds(
            patterns in prop::collection::vec("[ab \u{e9}\u{4e2d}]{1,5}", 1..8),
            text in "[ab c\u{e9}\u{e8}\u{4e2d}\u{6587}]{0,200}",
            min_piece in 1usize..40,
        ) {
            let matcher = Matcher::new(&patterns).expect("builds");
            let mut expected = naive(&patterns, text.as_bytes());
            // A pattern listed twice is found as each of its ids.
            prop_assert_eq!(all_matches(&matcher, text.as_bytes(), min_piece), expected.clone());
            expected.dedup_by_key(|(pattern, _)| *pattern);
            let found = matcher.first_matches(text.as_bytes());
            for id in 0..patterns.len() {
                prop_assert_eq!(found.has(id), expected.iter().any(|(pattern, _)| *pattern == id));
            }
            prop_assert_eq!(found.first, expected);
        }

        #[test]
        fn pieces_find_what_one_walk_finds(
            patterns in prop::collection::vec("[ab ]{1,5}", 1..8),
            text in "[ab c]{0,400}",
            min_piece in 1usize..40,
        ) {
            let matcher = Matcher::new(&patterns).expect("builds");
            let whole = all_matches(&matcher, text.as_bytes(), usize::MAX);
            let pieces = all_matches(&matcher, text.as_bytes(), min_piece);
            prop_assert_eq!(&pieces, &whole);
            // The first start of each pattern, as one walk would see it.
            let mut first = whole;
            first.dedup_by_key(|(pattern, _)| *pattern);
            prop_assert_eq!(matcher.first_matches(text.as_bytes()).first, first);
        }
    }
}
