//! What the block page's forms do, over the store: the school's rules for them. An unblock
//! request is recorded for the coordinator, at most 20 an hour from one computer and once while
//! the same one waits; a concern becomes an alert (category `concern`) for the safeguarding
//! lead, at most 20 an hour from one computer, and one person's (or computer's) concerns within
//! `alerts.fold_minutes` are folded into one alert that keeps what each said.
//!
//! What a pupil writes is read by risk detection (the default lists and the classifier, whether
//! or not the proxy scans pages): a disclosure of self-harm, abuse or grooming is severity 5,
//! so it is emailed at once; another risk found is severity 4; anything else is severity 3.
//! When the proxy's detection has the classifier, its scanner (the default lists and the
//! school's own) reads the forms too; otherwise the forms build their own on the first concern,
//! so that a gateway never holds two copies of the phrase automaton (about 10 MB each).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use ward_detect::{Model, Scanner, default_lists};
use ward_gateway::rate::RateLimit;
use ward_proxy::actions::Pending;
use ward_proxy::{BlockPageActions, ConcernReport, Detection, NotRecorded, Outcome};
use ward_store::{AlertSource, NewAlert, NewUnblockRequest, SchoolId, Store};

/// What a child may disclose that must reach the safeguarding lead at once.
const DISCLOSURES: &[&str] = &["self-harm", "abuse", "grooming"];

/// Most unblock requests, and most concern reports, from one computer in an hour.
const PER_HOUR: usize = 20;

/// The block page's forms, carried out on the store.
pub struct StoreActions {
    store: Store,
    school: SchoolId,
    concerns: RateLimit,
    concern_window: SignedDuration,
    /// Reads what a pupil wrote.
    reader: Reader,
}

/// What reads the forms: the proxy's own detection, or a scanner built when first needed.
enum Reader {
    Proxy(Arc<Detection>),
    Own(Box<OnceLock<Scanner>>),
}

impl Reader {
    fn scanner(&self) -> &Scanner {
        match self {
            Reader::Proxy(detection) => detection.scanner(),
            Reader::Own(scanner) => {
                scanner.get_or_init(|| Scanner::new(default_lists()).with_model(Model::shared()))
            }
        }
    }
}

impl StoreActions {
    /// Forms for `school`; concerns fold within `concern_window`. `detection` is the proxy's,
    /// shared when it reads with the classifier.
    pub fn new(
        store: Store,
        school: SchoolId,
        concern_window: SignedDuration,
        detection: Option<&Arc<Detection>>,
    ) -> Arc<StoreActions> {
        let reader = match detection {
            Some(detection) if detection.scanner().model().is_some() => {
                Reader::Proxy(Arc::clone(detection))
            }
            _ => Reader::Own(Box::default()),
        };
        Arc::new(StoreActions {
            store,
            school,
            concerns: RateLimit::new(PER_HOUR, Duration::from_secs(3600)),
            concern_window,
            reader,
        })
    }

    /// How grave what a pupil wrote is: severity, and what detection found, if anything (the
    /// category's title, and a line for the alert's detail).
    fn assess(&self, message: &str) -> (u8, Option<(String, String)>) {
        let scanner = self.reader.scanner();
        let findings = scanner.scan(message);
        let Some(first) = findings.first() else {
            return (3, None);
        };
        let disclosure = findings
            .iter()
            .find(|f| DISCLOSURES.contains(&f.category.as_str()));
        let found = disclosure.unwrap_or(first);
        let title = scanner
            .lists()
            .categories
            .iter()
            .find(|c| c.id == found.category)
            .map_or(found.category.as_str(), |c| c.title.as_str());
        let mut said = format!("{title}, found by the {}", found.layer.describe());
        let title = title.to_owned();
        if !found.phrases.is_empty() {
            let phrases: Vec<&str> = found
                .phrases
                .iter()
                .filter(|(_, weight)| *weight > 0)
                .map(|(phrase, _)| phrase.as_str())
                .collect();
            said.push_str(&format!(" ({})", phrases.join(", ")));
        }
        // As the proxy's detection alerts say it: how sure the classifier was, and why.
        if let Some(view) = &found.model {
            said.push_str(&format!("; classifier: {view}"));
        }
        (
            if disclosure.is_some() { 5 } else { 4 },
            Some((title, said)),
        )
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
        let (severity, found) = self.assess(&report.message);
        let mut detail = format!("Page: {}\nWhat they wrote: {}", report.url, report.message);
        let summary = match &found {
            // The summary travels by email: the category, never what was written.
            Some((title, found)) => {
                detail.push_str(&format!("\nRisk detection: {found}"));
                let kind = if severity == 5 {
                    "Disclosure"
                } else {
                    "Concern"
                };
                format!(
                    "{kind} from the block page by {who} ({}): {title}",
                    report.group
                )
            }
            None => format!(
                "Concern reported from the block page by {who} ({})",
                report.group
            ),
        };
        let alert = NewAlert {
            severity,
            category: "concern".into(),
            source: AlertSource::Concern,
            person: report.person,
            device: report.device,
            client_ip: Some(report.client_ip),
            username: report.username.clone(),
            identified_by: Some(report.identified_by),
            summary,
            detail,
        };
        self.store
            .raise_or_fold(self.school, &alert, self.concern_window)
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
