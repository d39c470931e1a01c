//! What the block page's forms do, over the store: the school's rules for them. An unblock
//! request is recorded for the coordinator, at most 20 an hour from one computer and once while
//! the same one waits; a concern becomes an alert (severity 3, category `concern`) for the
//! safeguarding lead, at most 20 an hour from one computer, and one person's (or computer's)
//! concerns within `alerts.fold_minutes` are folded into one alert that keeps what each said.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use ward_gateway::rate::RateLimit;
use ward_proxy::actions::Pending;
use ward_proxy::{BlockPageActions, ConcernReport, NotRecorded, Outcome};
use ward_store::{AlertSource, NewAlert, NewUnblockRequest, SchoolId, Store};

/// Most unblock requests, and most concern reports, from one computer in an hour.
const PER_HOUR: usize = 20;

/// The block page's forms, carried out on the store.
pub struct StoreActions {
    store: Store,
    school: SchoolId,
    concerns: RateLimit,
    concern_window: SignedDuration,
}

impl StoreActions {
    /// Forms for `school`; concerns fold within `concern_window`.
    pub fn new(
        store: Store,
        school: SchoolId,
        concern_window: SignedDuration,
    ) -> Arc<StoreActions> {
        Arc::new(StoreActions {
            store,
            school,
            concerns: RateLimit::new(PER_HOUR, Duration::from_secs(3600)),
            concern_window,
        })
    }

    async fn ask(&self, ask: NewUnblockRequest) -> Result<Outcome, NotRecorded> {
        let failed = |error: ward_store::StoreError| NotRecorded(error.to_string());
        let since = Timestamp::now() - SignedDuration::from_hours(1);
        let recent = self
            .store
            .count_unblock_requests_since(self.school, ask.client_ip, since)
            .await
            .map_err(failed)?;
        if recent >= PER_HOUR as i64 {
            return Ok(Outcome::TooMany);
        }
        // The same request again, while the first waits, is the same request.
        if self
            .store
            .waiting_unblock_request(self.school, ask.client_ip, &ask.url)
            .await
            .map_err(failed)?
            .is_some()
        {
            return Ok(Outcome::AlreadyWaiting);
        }
        // Whatever the proxy sent: a block-page request, with no period and the reason cut to
        // the length the store keeps.
        let request = NewUnblockRequest {
            origin: "block-page".into(),
            reason: ask
                .reason
                .chars()
                .take(ward_store::MAX_UNBLOCK_REASON)
                .collect(),
            wanted: None,
            ..ask
        };
        let id = self
            .store
            .create_unblock_request(self.school, &request)
            .await
            .map_err(failed)?;
        tracing::info!(%id, url = %request.url, "unblock request from the block page");
        Ok(Outcome::Recorded)
    }

    async fn report(&self, report: ConcernReport) -> Result<Outcome, NotRecorded> {
        if !self.concerns.allow(report.client_ip, Instant::now()) {
            return Ok(Outcome::TooMany);
        }
        let who = match (&report.username, report.device) {
            (Some(user), _) => format!("user {user}"),
            (None, Some(device)) => format!("device {device} ({})", report.client_ip),
            (None, None) => format!("address {}", report.client_ip),
        };
        let alert = NewAlert {
            severity: 3,
            category: "concern".into(),
            source: AlertSource::Concern,
            person: report.person,
            device: report.device,
            client_ip: Some(report.client_ip),
            username: report.username.clone(),
            summary: format!(
                "Concern reported from the block page by {who} ({})",
                report.group
            ),
            detail: format!("Page: {}\nWhat they wrote: {}", report.url, report.message),
        };
        self.store
            .raise_concern(self.school, &alert, self.concern_window)
            .await
            .map_err(|error| NotRecorded(error.to_string()))?;
        Ok(Outcome::Recorded)
    }
}

impl BlockPageActions for StoreActions {
    fn ask_unblock(&self, ask: NewUnblockRequest) -> Pending<'_, Result<Outcome, NotRecorded>> {
        Box::pin(self.ask(ask))
    }

    fn report_concern(&self, report: ConcernReport) -> Pending<'_, Result<Outcome, NotRecorded>> {
        Box::pin(self.report(report))
    }
}
