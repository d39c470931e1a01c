//! Ward's risk detection (DESIGN.md M1–M3): noticing that a child may be at risk from what they
//! search for and read.
//!
//! Everything is matched on [`normalise`]d text: one function turns a page, a search or a list's
//! phrase into the same canonical words, so that writing a phrase differently (accents, look-alike
//! letters, leetspeak, letters spaced apart, invisible characters) does not get it past the lists.

pub mod concepts;
pub mod context;
mod e2guardian;
pub mod eval;
mod html;
mod matcher;
pub mod model;
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
/// Ward's default phrase lists (`crates/detect/lists/`, one file per category of DESIGN.md
/// M2, then one per language with phrases in those categories), as (file name, text).
pub const DEFAULT_LISTS: &[(&str, &str)] = &[
    ("self-harm.list", include_str!("../lists/self-harm.list")),
    (
        "help-seeking.list",
        include_str!("../lists/help-seeking.list"),
    ),
    ("abuse.list", include_str!("../lists/abuse.list")),
    ("bullying.list", include_str!("../lists/bullying.list")),
    ("grooming.list", include_str!("../lists/grooming.list")),
    ("extremism.list", include_str!("../lists/extremism.list")),
    ("hate.list", include_str!("../lists/hate.list")),
    ("sexual.list", include_str!("../lists/sexual.list")),
    ("drugs.list", include_str!("../lists/drugs.list")),
    ("violence.list", include_str!("../lists/violence.list")),
    ("gambling.list", include_str!("../lists/gambling.list")),
    // The same categories in five of the languages most spoken by pupils with English as an
    // additional language in England.
    ("pl.list", include_str!("../lists/pl.list")),
    ("ro.list", include_str!("../lists/ro.list")),
    ("pt.list", include_str!("../lists/pt.list")),
    ("ur.list", include_str!("../lists/ur.list")),
    ("ar.list", include_str!("../lists/ar.list")),
];

/// Ward's default phrase lists, read. (A test checks that every line of them is usable.)
pub fn default_lists() -> PhraseLists {
    let mut lists = PhraseLists::default();
    for (name, text) in DEFAULT_LISTS {
        let problems = lists.parse(name, text);
        debug_assert!(problems.is_empty(), "{problems:?}");
    }
    lists
}

pub use context::SiteKind;
pub use model::Model;
pub use phrases::{
    AgeBand, Anchor, Category, Finding, Layer, ListError, ModelView, Part, Phrase, PhraseLists,
    Scanner,
};
