//! What the block page's forms ask of the rest of Ward. The proxy reads the form, checks its
//! token and decides whether the page can be asked for at all (nothing on an illegal-content
//! list); what happens then (recording the request, limits per computer, folding repeats,
//! the concern's severity and who is told) is the school's workflow, not the proxy's: the
//! wiring layer implements [`BlockPageActions`] over the store.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use ward_events::{DeviceId, NewUnblockRequest, PersonId};

/// A concern reported from the block page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcernReport {
    /// The address it came from.
    pub client_ip: IpAddr,
    /// The device, if registered.
    pub device: Option<DeviceId>,
    /// The person, if known.
    pub person: Option<PersonId>,
    /// The user name, if known.
    pub username: Option<String>,
    /// How the proxy knew who it was.
    pub identified_by: ward_events::IdentifiedBy,
    /// Their policy group.
    pub group: String,
    /// The page they were on.
    pub url: String,
    /// What they wrote.
    pub message: String,
}

/// What became of a request or a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded (a report may have been folded into an earlier one).
    Recorded,
    /// The same request is already waiting.
    AlreadyWaiting,
    /// This computer has sent too many lately.
    TooMany,
}

/// Why a request or report could not be recorded just now (the database is unavailable, say).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotRecorded(pub String);

/// A boxed future, as trait objects return them.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The block page's forms, carried out by the rest of Ward.
pub trait BlockPageActions: Send + Sync + 'static {
    /// Records an unblock request for the coordinator.
    fn ask_unblock(&self, ask: NewUnblockRequest) -> Pending<'_, Result<Outcome, NotRecorded>>;

    /// Records a concern for the safeguarding lead.
    fn report_concern(&self, report: ConcernReport) -> Pending<'_, Result<Outcome, NotRecorded>>;
}
