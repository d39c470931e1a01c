//! Ward's policy engine: groups, the User Actions matrix, time windows, local lists and
//! temporary grants, compiled into an immutable [`PolicySnapshot`], and [`decide`], a pure
//! function of (snapshot, request, identity, time) that returns a verdict with its reason.
//!
//! This crate never reads the clock, logs, or touches a database: time is an argument, and the
//! reason travels with the verdict so that block pages, logs and audits can say why.
//!
//! # Precedence
//!
//! [`decide`] applies these steps in order; the first that decides wins.
//!
//! 1. **Illegal-content lists** (IWF, CTIRU; index categories marked illegal): block. Nothing
//!    overrides this, and a policy whose allow entry or grant would cover an entry of such a
//!    list does not load at all.
//! 2. **Rules whose verdict for the group is "unacceptable and illegal"**: block. Grants and
//!    local lists cannot override them either (a grant of such a category is refused on load).
//! 3. **Temporary grants** active at this time, for the user or the group: allow.
//! 4. **Local lists** of the group and of `all`: the most specific entry wins (longest matching
//!    domain, then longest path, then the group's own list over `all`); between an allow and a
//!    block entry equally specific, block.
//! 5. **Hosts given as an IP address** (`http://93.184.216.34/`, a CONNECT to an address, a TLS
//!    connection without a server name): the group's `ip_hosts` setting (block by default for
//!    pupil groups, which otherwise could reach any site by its address).
//! 6. **The User Actions rules** of every category the request is in: each gives allow or block
//!    for this group, user and time ("acceptable at certain times" allows inside its windows,
//!    "acceptable for nominated users" allows the users and groups it names). If any blocks,
//!    the request is blocked, and the reason is the strongest blocking rule (unacceptable, then
//!    outside its times, then not nominated); otherwise it is allowed by the first rule.
//! 7. **The group's fallback** for requests no rule covers (allow, or block for a walled garden).
//!
//! An identity whose group the policy does not know is treated as the policy's unknown-client
//! group: never unfiltered.

mod compile;
mod decide;
mod grant;
mod names;
mod render;
mod spec;
mod time;

pub use compile::{Group, GroupId, NotInspected, PolicySnapshot, Stage, Warning};
pub use decide::{
    Action, AlertLevel, CategoryMatch, Decision, Identity, PRECEDENCE, Reason, Request, RuleDetail,
    decide,
};
pub use grant::{Asked, GrantError, Narrowing, Offered, check_within, is_public_suffix};
pub use names::{CategoryName, category_name, readable, readable_list, readable_with_ids};
pub use spec::{
    BlockedAnswer, CategoryWords, DnsSpec, Fallback, GrantSpec, GroupKind, GroupSpec,
    LocalListSpec, PolicySpec, ProxySpec, RuleSpec, ServerNameMismatch, UnknownClients,
    VerdictKind, VerdictSpec, WindowSpec, YouTubeMode,
};
pub use time::{BadTime, parse_time};

/// The shipped default policy: Park End Primary School's User Actions table, mapped onto the UT1
/// categories (see the file's comments).
pub const DEFAULT_POLICY: &str = include_str!("../default-policy.toml");

/// Why a policy could not be loaded. A caller that fails to load a new policy keeps the old one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The TOML is malformed or has unknown or missing fields.
    #[error("policy syntax: {0}")]
    Syntax(String),
    /// The time zone is not in the time-zone database.
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    /// Two groups, windows, rules or grants share an id.
    #[error("duplicate {kind} id {id:?}")]
    Duplicate {
        /// "group", "window", "rule" or "grant".
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// A group's year groups are wrong (not a year, on a non-pupil group, or in two groups).
    #[error("group {group:?}: {problem}")]
    BadGroup {
        /// The group's id.
        group: String,
        /// What is wrong.
        problem: String,
    },
    /// A name that should be a group's id is not one.
    #[error("{context}: unknown group {group:?}")]
    UnknownGroup {
        /// Where the reference is.
        context: String,
        /// The group id.
        group: String,
    },
    /// A verdict names a time window that is not defined.
    #[error("rule {rule:?}: unknown time window {window:?}")]
    UnknownWindow {
        /// The rule.
        rule: String,
        /// The window id.
        window: String,
    },
    /// A time window is malformed.
    #[error("window {window:?}: {problem}")]
    BadWindow {
        /// The window.
        window: String,
        /// What is wrong.
        problem: String,
    },
    /// A verdict string is malformed.
    #[error("rule {rule:?}: {problem}")]
    BadVerdict {
        /// The rule.
        rule: String,
        /// What is wrong.
        problem: String,
    },
    /// A local-list entry is neither a domain nor a URL.
    #[error("list for {group:?}: {entry:?} is not a domain or URL: {problem}")]
    BadListEntry {
        /// The list's group.
        group: String,
        /// The entry.
        entry: String,
        /// Why.
        problem: String,
    },
    /// A grant is malformed (times, or not exactly one of site/category and group/user).
    #[error("grant {grant:?}: {problem}")]
    BadGrant {
        /// The grant.
        grant: String,
        /// What is wrong.
        problem: String,
    },
    /// An allow entry or grant would reach content on an illegal-content list. The caller must
    /// audit the attempt.
    #[error("{rule} would allow {entry}, which is on the illegal-content list {list:?}")]
    AllowsIllegal {
        /// The offending allow entry or grant, e.g. `list "all" allow "example.com"`.
        rule: String,
        /// The illegal entry it covers.
        entry: String,
        /// The illegal list's category.
        list: String,
    },
    /// A rule, or a grant, tries to make an illegal category acceptable.
    #[error(
        "{rule}: category {category:?} is illegal content and can only be \"unacceptable and illegal\""
    )]
    IllegalCategoryAllowed {
        /// The rule or grant.
        rule: String,
        /// The category.
        category: String,
    },
    /// A rule's alert severity is outside 1 to 5.
    #[error("rule {rule:?}: alert severity {severity} is not between 1 and 5")]
    BadAlert {
        /// The rule.
        rule: String,
        /// The severity given.
        severity: u8,
    },
}

#[cfg(test)]
mod tests;
