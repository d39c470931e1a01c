//! Account misuse and guessing as alerts in the queue (issue 24, DESIGN.md A4): what the
//! misuse watch finds at log-ins (`ward_gateway::misuse`), and an account locked by repeated
//! failed log-ins. The alert names the account and where; the DSL or technician decides.

use jiff::SignedDuration;
use ward_gateway::misuse::{Misuse, MisuseReport};
use ward_policy::GroupKind;
use ward_store::{AlertSource, NewAlert, SchoolId, Store};

/// The alert for a misuse report.
pub fn alert(report: &MisuseReport) -> NewAlert {
    let user = &report.user;
    let address = report.address;
    let how = report.by.short();
    let (severity, category, summary) = match &report.misuse {
        Misuse::TwoAddresses { other } => (
            // A pupil's account at two computers at once is most likely shared; staff may
            // have a laptop and a phone.
            if report.kind == GroupKind::Pupil {
                3
            } else {
                2
            },
            "account-in-use-twice",
            format!("{user}'s account is in use at two places at once: {address} and {other}"),
        ),
        Misuse::PupilOnStaffDevice => (
            3,
            "pupil-account-on-staff-device",
            format!("A pupil's account ({user}) was used on a staff-only computer at {address}"),
        ),
        Misuse::StaffOnPupilDevice => (
            3,
            "staff-account-on-pupil-device",
            format!(
                "A staff account ({user}) was used on a pupils' computer or network at {address}"
            ),
        ),
    };
    NewAlert {
        severity,
        category: category.into(),
        source: AlertSource::Account,
        person: report.person,
        device: report.device,
        client_ip: Some(address),
        username: Some(user.clone()),
        identified_by: Some(report.by),
        summary,
        detail: format!(
            "Seen at a {how}. The school's sanctions treat using another pupil's account and using \
             a member of staff's account as incidents: check who was at the computer before acting."
        ),
    }
}

/// Raises (or folds into the account's open alert) the alert for `report`.
pub async fn raise(store: &Store, school: SchoolId, report: &MisuseReport, window: SignedDuration) {
    let alert = alert(report);
    tracing::info!(user = %report.user, address = %report.address, category = %alert.category, "account misuse");
    if let Err(error) = store.raise_or_fold(school, &alert, window).await {
        tracing::error!(%error, "cannot raise an account misuse alert");
    }
}

/// Raises the alert for an account just locked by failed log-ins.
pub async fn raise_locked(
    store: &Store,
    school: SchoolId,
    locked: &ward_store::LockedOut<'_>,
    window: SignedDuration,
) {
    if let Err(error) = store
        .raise_or_fold(school, &NewAlert::locked_out(locked), window)
        .await
    {
        tracing::error!(%error, "cannot raise a failed log-ins alert");
    }
}
