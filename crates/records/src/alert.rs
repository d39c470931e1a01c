//! An alert's status, and the moves triage may make between them (DESIGN.md M3).

use std::fmt;
use std::str::FromStr;

use crate::RecordsError;

/// Where triage has taken an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertStatus {
    /// Nobody has looked at it yet.
    New,
    /// Looked at; being followed up.
    Triaged,
    /// Not a real concern (the reason is in its history).
    FalsePositive,
    /// An incident was opened for it.
    Escalated,
    /// Dealt with.
    Closed,
}

impl AlertStatus {
    /// Every status, in the order the queue offers them.
    pub const ALL: [AlertStatus; 5] = [
        AlertStatus::New,
        AlertStatus::Triaged,
        AlertStatus::Escalated,
        AlertStatus::FalsePositive,
        AlertStatus::Closed,
    ];

    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::New => "new",
            AlertStatus::Triaged => "triaged",
            AlertStatus::FalsePositive => "false_positive",
            AlertStatus::Escalated => "escalated",
            AlertStatus::Closed => "closed",
        }
    }

    /// The name shown.
    pub fn label(self) -> &'static str {
        match self {
            AlertStatus::New => "New",
            AlertStatus::Triaged => "Triaged",
            AlertStatus::FalsePositive => "False positive",
            AlertStatus::Escalated => "Escalated to an incident",
            AlertStatus::Closed => "Closed",
        }
    }

    /// Whether an alert in this status may be moved to `next`. Nothing goes back to `new`; an
    /// alert marked false positive or closed can be reopened (to `triaged`), with a reason; one
    /// escalated stays with its incident until closed.
    pub fn can_become(self, next: AlertStatus) -> bool {
        use AlertStatus::*;
        matches!(
            (self, next),
            (New, Triaged | FalsePositive | Escalated | Closed)
                | (Triaged, FalsePositive | Escalated | Closed)
                | (Escalated, Closed)
                | (FalsePositive | Closed, Triaged)
        )
    }

    /// Whether a change to this status must say why.
    pub fn needs_note(self, from: AlertStatus) -> bool {
        matches!(self, AlertStatus::FalsePositive | AlertStatus::Closed)
            || matches!(from, AlertStatus::FalsePositive | AlertStatus::Closed)
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertStatus {
    type Err = RecordsError;
    fn from_str(text: &str) -> Result<AlertStatus, RecordsError> {
        AlertStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| RecordsError::UnknownStatus(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triage_moves_forward_and_only_dismissals_reopen() {
        use AlertStatus::*;
        assert!(New.can_become(Triaged) && New.can_become(Escalated));
        assert!(Triaged.can_become(Closed) && Escalated.can_become(Closed));
        assert!(FalsePositive.can_become(Triaged) && Closed.can_become(Triaged));
        assert!(!Triaged.can_become(New), "nothing goes back to new");
        assert!(
            !Escalated.can_become(Triaged),
            "an escalated alert stays with its incident"
        );
        assert!(FalsePositive.needs_note(New) && Triaged.needs_note(Closed));
        assert!(!Triaged.needs_note(New));
        for status in AlertStatus::ALL {
            assert_eq!(status.as_str().parse::<AlertStatus>(), Ok(status));
        }
        assert_eq!(
            "deleted".parse::<AlertStatus>(),
            Err(RecordsError::UnknownStatus("deleted".into()))
        );
    }
}
