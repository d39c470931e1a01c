//! Ward's risk detection (DESIGN.md M1–M3): noticing that a child may be at risk from what they
//! search for and read.
//!
//! Everything is matched on [`normalise`]d text: one function turns a page, a search or a list's
//! phrase into the same canonical words, so that writing a phrase differently (accents, look-alike
//! letters, leetspeak, letters spaced apart, invisible characters) does not get it past the lists.

mod e2guardian;
pub mod eval;
mod html;
mod matcher;
mod normalise;
mod phrases;

/// What can go wrong in risk detection's own I/O: reading lists from disk. (A list line that
/// cannot be used is not an error but a [`ListError`], reported and skipped.)
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A list file or folder could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file or folder.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

pub use e2guardian::{BANNED_WEIGHT, E2guardianImport, E2guardianTree, decode, decode_named};
pub use html::PageText;
pub use normalise::{normalise, normalise_phrase};
/// Ward's default phrase list (`crates/detect/lists/ward.list`): the categories of DESIGN.md M2.
pub const DEFAULT_LIST: &str = include_str!("../lists/ward.list");

/// Ward's default phrase list, read. (A test checks that every line of it is usable.)
pub fn default_lists() -> PhraseLists {
    let mut lists = PhraseLists::default();
    let problems = lists.parse("ward.list", DEFAULT_LIST);
    debug_assert!(problems.is_empty(), "{problems:?}");
    lists
}

pub use phrases::{
    AgeBand, Anchor, Category, Finding, ListError, Part, Phrase, PhraseLists, Scanner,
};
