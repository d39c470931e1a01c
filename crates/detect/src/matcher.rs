//! Finding every occurrence of every listed part in normalised text.
//!
//! One Aho-Corasick DFA holds all the parts. Walking a DFA is a chain of dependent memory loads
//! (each step needs the state the last one produced), and with thousands of phrases most of the
//! table is outside the processor's caches, so a single walk spends its time waiting. A long
//! text is therefore cut into [`STREAMS`] pieces walked in lock step: the walks are independent,
//! so the processor overlaps their waits (on the benchmark pages this matched 2.2 times faster
//! than one walk).
//!
//! Each piece's walk starts [`DFA::max_pattern_len`] bytes before the piece and reports only the
//! matches that end inside it. That is exact: the state of an Aho-Corasick automaton after any
//! text is the longest suffix of the text that begins some pattern, which is never longer than
//! the longest pattern, so a walk that has read that many bytes is in the state a walk from the
//! start of the text would be in.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, BuildError, MatchKind};

/// How many walks run in lock step over a long text. Four was fastest on the benchmark machine
/// (two: 1.6 times one walk, three: 2.0, four: 2.2, six: 1.8).
const STREAMS: usize = 4;

/// The shortest piece worth a walk of its own, as a multiple of the longest pattern (each walk
/// reads that many bytes before its piece).
const MIN_PIECE_PATTERNS: usize = 8;

/// The compiled parts.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    dfa: DFA,
    start: StateID,
}

impl Matcher {
    /// Compiles `patterns` (pattern `i` is reported as `i`).
    pub(crate) fn new(patterns: &[String]) -> Result<Matcher, BuildError> {
        let dfa = DFA::builder()
            .match_kind(MatchKind::Standard)
            .build(patterns)?;
        // Unanchored searches are the builder's default, so this start state always exists.
        let start = dfa
            .start_state(Anchored::No)
            .unwrap_or_else(|error| panic!("the phrase automaton has no start state: {error}"));
        Ok(Matcher { dfa, start })
    }

    /// Heap bytes used.
    pub(crate) fn memory_usage(&self) -> usize {
        self.dfa.memory_usage()
    }

    /// Every pattern found in `text`, with where it first starts, sorted by pattern.
    pub(crate) fn first_matches(&self, text: &[u8]) -> Vec<(usize, usize)> {
        // Within one piece matches come in order, so a piece's first match of a pattern is its
        // earliest there; the earliest over all pieces is kept at the end.
        let words = self.dfa.patterns_len().div_ceil(64);
        let mut seen: [Vec<u64>; STREAMS] = std::array::from_fn(|_| Vec::new());
        let mut found = Vec::new();
        self.each_match(text, |piece, pattern, start| {
            let seen = &mut seen[piece];
            if seen.is_empty() {
                seen.resize(words, 0);
            }
            let (word, bit) = (pattern / 64, 1u64 << (pattern % 64));
            if seen[word] & bit == 0 {
                seen[word] |= bit;
                found.push((pattern, start));
            }
        });
        found.sort_unstable();
        found.dedup_by_key(|(pattern, _)| *pattern);
        found
    }

    /// Calls `found(piece, pattern, start)` for every occurrence of every pattern in `text`,
    /// overlapping ones included: in order within each piece (see the module's documentation),
    /// pieces interleaved.
    fn each_match(&self, text: &[u8], found: impl FnMut(usize, usize, usize)) {
        let min_piece = self.dfa.max_pattern_len().max(1) * MIN_PIECE_PATTERNS;
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
        let dfa = &self.dfa;
        let lead = dfa.max_pattern_len();
        let mut report = |piece: usize, state: StateID, end: usize| {
            if dfa.is_match(state) {
                for index in 0..dfa.match_len(state) {
                    let pattern = dfa.match_pattern(state, index);
                    found(piece, pattern.as_usize(), end - dfa.pattern_len(pattern));
                }
            }
        };
        let piece = text.len() / STREAMS;
        if piece < min_piece.max(lead).max(1) {
            let mut state = self.start;
            for (at, &byte) in text.iter().enumerate() {
                state = dfa.next_state(Anchored::No, state, byte);
                if dfa.is_special(state) {
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
                let byte = text[k * piece - lead + offset];
                *state = dfa.next_state(Anchored::No, *state, byte);
            }
        }
        let pieces: [&[u8]; STREAMS] = std::array::from_fn(|k| &text[k * piece..(k + 1) * piece]);
        #[expect(
            clippy::needless_range_loop,
            reason = "the walks step through their pieces together, by offset"
        )]
        for offset in 0..piece {
            for k in 0..STREAMS {
                let state = dfa.next_state(Anchored::No, states[k], pieces[k][offset]);
                states[k] = state;
                if dfa.is_special(state) {
                    report(k, state, k * piece + offset + 1);
                }
            }
        }
        let mut state = states[STREAMS - 1];
        for (at, &byte) in text.iter().enumerate().skip(STREAMS * piece) {
            state = dfa.next_state(Anchored::No, state, byte);
            if dfa.is_special(state) {
                report(STREAMS - 1, state, at + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn all_matches(matcher: &Matcher, text: &[u8], min_piece: usize) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        matcher.each_match_in_pieces(text, min_piece, |_, pattern, start| {
            found.push((pattern, start))
        });
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
        assert_eq!(matcher.first_matches(b" ab abc "), [(0, 0), (1, 2), (2, 4)]);
    }

    proptest! {
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
            prop_assert_eq!(matcher.first_matches(text.as_bytes()), first);
        }
    }
}
