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

/// Ward's lock-out on a person who logs in at the proxy or the portal with a password Ward
/// does not hash for an account (their own Ward password, or the directory's): the attempt
/// counted before the password is checked, every failure audited as `action` with where it
/// came from, and an alert when the lock first closes.
pub struct PersonLockout<'a> {
    /// Where it is counted and audited.
    pub store: &'a Store,
    /// The person's school.
    pub school: SchoolId,
    /// Failures allowed before the first lock.
    pub free_attempts: i64,
    /// The longest lock.
    pub max_lock: SignedDuration,
    /// The audit action of a failure (`person.login.failed`, `directory.login.failed`).
    pub action: &'static str,
}

impl PersonLockout<'_> {
    /// Whether `person` may in: not locked, and `check` (run only then) says the password is
    /// right.
    pub async fn attempt(
        &self,
        person: &ward_store::Person,
        from: &str,
        check: impl std::future::Future<Output = anyhow::Result<bool>>,
    ) -> anyhow::Result<bool> {
        let audit = |detail: String| ward_store::NewAuditEntry {
            actor: person.username.clone(),
            action: self.action.into(),
            subject: format!("person:{}", person.id),
            detail,
            reason: None,
        };
        let attempt = self
            .store
            .claim_person_login_attempt(
                person.id,
                jiff::Timestamp::now(),
                self.free_attempts,
                self.max_lock,
            )
            .await?;
        let failure = match attempt {
            ward_store::LoginAttempt::Locked(until) => {
                self.store
                    .append_audit(
                        self.school,
                        &audit(format!("from {from}; refused: locked until {until}")),
                    )
                    .await?;
                return Ok(false);
            }
            ward_store::LoginAttempt::Counted(failure) => failure,
        };
        if check.await? {
            self.store.record_person_login_success(person.id).await?;
            return Ok(true);
        }
        let detail = format!(
            "from {from}; {} failed in a row{}",
            failure.failed_logins,
            failure
                .locked_until
                .map_or(String::new(), |until| format!("; locked until {until}"))
        );
        self.store.append_audit(self.school, &audit(detail)).await?;
        if let Some(until) = failure.locked_until
            && failure.failed_logins == self.free_attempts + 1
        {
            let locked = ward_store::LockedOut {
                user: &person.username,
                person: Some(person.id),
                failed: failure.failed_logins,
                from,
                until,
            };
            raise_locked(
                self.store,
                self.school,
                &locked,
                ward_store::DEFAULT_ALERT_WINDOW,
            )
            .await;
        }
        Ok(false)
    }
}
