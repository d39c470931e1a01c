//! Ward's category database: turns list files (UT1/squidGuard folders, hosts files, adblock
//! rules, plain lists, illegal-content lists) into a compiled [`CategoryIndex`], and answers
//! "which categories is this host or URL in, and by which entry?".
//!
//! Everything that matches starts from [`Host::parse`] or [`CanonicalUrl::parse`]: there is one
//! normalisation, so a name cannot be written in a way that one part of Ward sees and another
//! does not. This crate does no I/O beyond reading the list files and index files it is given.

mod build;
mod file;
mod hash;
mod host;
mod index;
mod source;
mod url;

pub use build::{FileReport, IndexBuilder, MAX_CATEGORIES};
pub use file::{FORMAT_VERSION, IndexFileError, MAGIC};
pub use host::{DomainName, Host, HostError, MAX_DOMAIN_LEN, MAX_LABEL_LEN};
pub use index::{
    Category, CategoryId, CategoryIndex, Classification, IllegalEntry, IndexStats, Match, Matched,
    SourceSummary,
};
pub use source::{BadLine, Entry, ListFormat, ParsedList, parse_list};
pub use url::{CanonicalUrl, Scheme, UrlError};

/// Why a list import failed as a whole (bad lines are reported, not errors).
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// A list file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or folder.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A UT1 folder holds no category folders with list files.
    #[error("{0}: no category folders with domains, urls or expressions files")]
    NoCategories(String),
    /// Category names are lower-case ASCII letters, digits, `_`, `-` and `.`, up to 64 bytes.
    #[error("invalid category name {0:?}: use lower-case letters, digits, '_', '-' or '.'")]
    BadCategoryName(String),
    /// One category cannot hold both illegal-content and ordinary lists: an illegal category can
    /// never be allowed, an ordinary one can.
    #[error("category {0:?} mixes illegal-content lists with ordinary lists")]
    MixedIllegal(String),
    /// More than 65,535 categories.
    #[error("more than {MAX_CATEGORIES} categories")]
    TooManyCategories,
    /// More than 65,535 distinct combinations of categories.
    #[error("more than 65535 distinct combinations of categories")]
    TooManyCategorySets,
    /// One host has more than 65,535 URL entries, or one path is over 64 KiB.
    #[error("too many or too long URL entries for host {host}")]
    TooManyUrls {
        /// The host.
        host: String,
    },
    /// The record blob would exceed 4 GiB.
    #[error("index would exceed 4 GiB")]
    IndexTooLarge,
    /// The expressions together could not be compiled.
    #[error("expressions could not be compiled together: {0}")]
    Expressions(String),
}

#[cfg(test)]
mod tests;
