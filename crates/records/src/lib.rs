//! The school's safeguarding rules, pure (no I/O, no clock): what an incident's procedure asks
//! and in what order (Appendix 1), the actions and sanctions tables (Park End's), and the moves
//! an alert may make through triage. The store keeps what was done; the console shows it; the
//! rules live here.
//!
//! - [`procedure`]: Appendix 1's steps, with the flowchart's branches ([`Progress`]);
//! - [`sanctions`]: the pupil and staff actions and sanctions tables ([`Sanctions`]);
//! - [`welfare`]: the kinds of welfare concern and what is done about them;
//! - [`alert`]: [`AlertStatus`] and its moves;
//! - [`consent`]: photo and video consent per purpose, and names in images' file names;
//! - [`agreements`]: acceptable-use agreements: who reads which, their text, Ward's defaults and
//!   the school year an acceptance counts for.

pub mod agreements;
pub mod alert;
pub mod consent;
pub mod procedure;
pub mod sanctions;
pub mod welfare;

pub use agreements::{Readers, school_year, school_year_name};
pub use alert::AlertStatus;
pub use procedure::{Answer, Audience, BadAudience, CHILD_PROTECTION, Procedure, Progress, Step};
pub use sanctions::{DEFAULT_SANCTIONS, IncidentKind, SanctionAction, SanctionTable, Sanctions};
pub use welfare::{
    CONCERN_TYPES, ConcernType, WELFARE_ACTIONS, WelfareAction, concern_for_alert, concern_type,
    welfare_action,
};

/// What can be wrong with the records' rules or values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordsError {
    /// The actions and sanctions tables are malformed or inconsistent.
    #[error("sanctions tables: {0}")]
    BadSanctions(String),
    /// A stored alert status Ward does not know.
    #[error("unknown alert status {0:?}")]
    UnknownStatus(String),
}
