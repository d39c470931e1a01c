//! The safeguarding alert queue (DESIGN.md M3, M4): things the designated safeguarding lead or
//! the technician must see. Raised by Ward itself (a failed reload), by blocked attempts in
//! serious categories (folded in as events are written, see [`fold_blocked`]), by concerns
//! reported from the block page, and by risk detection.
//!
//! An alert's status moves only along [`AlertStatus::can_become`]; every change is a row in
//! `alert_changes` (who, when, why), which no route edits or deletes.

use crate::BeginWrite as _;
use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};
use sqlx::Row;
use ward_events::IdentifiedBy;

use crate::{
    AlertId, Bound, DeviceId, Event, IncidentId, PersonId, Result, SchoolId, Store, StoreError,
    dispatch, micros, timestamp,
};

/// Where an alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertSource {
    /// Ward itself (a reload that failed, a grant left out).
    System,
    /// A blocked attempt in a serious category.
    Blocked,
    /// Someone reported a concern (from the block page).
    Concern,
    /// Risk detection found phrases in a search, address or page.
    Detection,
    /// An account misused (in use from two addresses, on the other kind of device) or
    /// guessed at (repeated failed log-ins).
    Account,
}

impl AlertSource {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::System => "system",
            AlertSource::Blocked => "blocked",
            AlertSource::Concern => "concern",
            AlertSource::Detection => "detection",
            AlertSource::Account => "account",
        }
    }
}

impl FromStr for AlertSource {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<AlertSource> {
        Ok(match text {
            "system" => AlertSource::System,
            "blocked" => AlertSource::Blocked,
            "concern" => AlertSource::Concern,
            "detection" => AlertSource::Detection,
            "account" => AlertSource::Account,
            other => {
                return Err(StoreError::Invalid(format!(
                    "unknown alert source {other:?}"
                )));
            }
        })
    }
}

pub use ward_records::AlertStatus;

/// Longest note on a status change, in characters.
pub const MAX_ALERT_NOTE: usize = 4_000;

/// An alert to raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// 1 (lowest) to 5 (highest).
    pub severity: u8,
    /// What kind of alert: `system`, a rule or list id, a risk category.
    pub category: String,
    /// Where it came from.
    pub source: AlertSource,
    /// The person concerned, if any.
    pub person: Option<PersonId>,
    /// The device concerned, if any.
    pub device: Option<DeviceId>,
    /// The client's address, if it came from the network.
    pub client_ip: Option<IpAddr>,
    /// The user name the front end saw, if any.
    pub username: Option<String>,
    /// How the front end knew who it was, if it came from the network.
    pub identified_by: Option<IdentifiedBy>,
    /// One line saying what happened.
    pub summary: String,
    /// More: the address, the reason, matched phrases and the text around them.
    pub detail: String,
}

/// An account (or person) just locked by failed log-ins, for [`NewAlert::locked_out`].
#[derive(Debug, Clone, Copy)]
pub struct LockedOut<'a> {
    /// The log-in name.
    pub user: &'a str,
    /// The person, for a directory log-in.
    pub person: Option<PersonId>,
    /// Failures in a row.
    pub failed: i64,
    /// Where the last came from (an address, or "the proxy").
    pub from: &'a str,
    /// Locked until.
    pub until: Timestamp,
}

impl NewAlert {
    /// The alert for an account just locked by repeated failed log-ins: someone may be
    /// guessing its password (DESIGN.md A4).
    pub fn locked_out(locked: &LockedOut<'_>) -> NewAlert {
        NewAlert {
            severity: 2,
            category: "failed-log-ins".into(),
            source: AlertSource::Account,
            person: locked.person,
            device: None,
            client_ip: locked.from.parse().ok(),
            username: Some(locked.user.to_owned()),
            identified_by: None,
            summary: format!(
                "{} failed log-ins in a row for {}: locked until {}",
                locked.failed,
                locked.user,
                locked
                    .until
                    .round(jiff::Unit::Second)
                    .unwrap_or(locked.until)
            ),
            detail: format!(
                "The last from {}. Someone may be guessing the password, or its owner has \
                 forgotten it. The audit log has every attempt.",
                locked.from
            ),
        }
    }

    /// An alert raised by Ward itself, about no one.
    pub fn system(severity: u8, summary: String) -> NewAlert {
        NewAlert {
            severity,
            category: "system".into(),
            source: AlertSource::System,
            person: None,
            device: None,
            client_ip: None,
            username: None,
            identified_by: None,
            summary,
            detail: String::new(),
        }
    }

    /// Who it is about, as events count it: `person:ID`, `device:ID`, `ip:ADDRESS` or ``.
    pub(crate) fn subject(&self) -> String {
        crate::model::subject(self.person, self.device, self.client_ip)
    }
}

/// What waits for the school's staff, for the menu, the dashboard and the banner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waiting {
    /// New alerts by severity: `[0]` is severity 1, `[4]` severity 5.
    pub new_alerts: [i64; 5],
    /// Severity-5 alerts no one has opened yet, oldest first.
    pub unopened_urgent: Vec<UrgentAlert>,
    /// Unblock requests not yet decided.
    pub unblock_requests: i64,
    /// Incidents not yet signed off.
    pub open_incidents: i64,
}

impl Waiting {
    /// New alerts of every severity.
    pub fn new_alert_total(&self) -> i64 {
        self.new_alerts.iter().sum()
    }
}

/// A severity-5 alert no one has opened yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrgentAlert {
    /// Its id.
    pub id: AlertId,
    /// Its category (as stored: an id).
    pub category: String,
    /// What happened (the alert's summary).
    pub summary: String,
    /// When it was raised.
    pub raised: Timestamp,
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Its id.
    pub id: AlertId,
    /// When it was raised (the first of its repeats).
    pub created_at: Timestamp,
    /// The latest of its repeats.
    pub last_seen: Timestamp,
    /// 1 to 5.
    pub severity: u8,
    /// Its category.
    pub category: String,
    /// Where it came from.
    pub source: AlertSource,
    /// Where triage has taken it.
    pub status: AlertStatus,
    /// The person, if known.
    pub person: Option<PersonId>,
    /// The person's name and username, if known.
    pub person_name: Option<String>,
    /// The device, if known.
    pub device: Option<DeviceId>,
    /// The device's name, if known.
    pub device_name: Option<String>,
    /// The client's address.
    pub client_ip: Option<String>,
    /// The user name the front end saw.
    pub username: Option<String>,
    /// How the front end knew who it was (`None`: not from the network, or raised before it
    /// was recorded).
    pub identified_by: Option<IdentifiedBy>,
    /// `person:ID`, `device:ID`, `ip:ADDRESS` or empty.
    pub subject: String,
    /// What happened.
    pub summary: String,
    /// More about it.
    pub detail: String,
    /// How many times it happened within the alert window (1 if once).
    pub repeats: i64,
    /// When the immediate notification went, if it did.
    pub notified_at: Option<Timestamp>,
    /// The incident it was escalated to.
    pub incident: Option<IncidentId>,
    /// When it was first opened, and by whom (username).
    pub opened: Option<(Timestamp, String)>,
    /// The colleague (username) it is assigned to, if any.
    pub assigned_to: Option<String>,
}

/// One change of an alert's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertChange {
    /// When.
    pub at: Timestamp,
    /// Who (console username).
    pub actor: String,
    /// The status it moved to.
    pub status: AlertStatus,
    /// Why.
    pub note: String,
}

/// What the queue shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// One status, or every status.
    pub status: Option<AlertStatus>,
    /// Only alerts about this subject (`person:ID`…).
    pub subject: Option<String>,
    /// Only alerts escalated to this incident.
    pub incident: Option<IncidentId>,
    /// At most this many.
    pub limit: i64,
    /// The queue's filters: nothing given, nothing filtered.
    pub narrow: AlertNarrowing,
}

/// The alert queue's filters (issue 26): each given one narrows the list; the query is built
/// from those given only, so that the database can use its indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertNarrowing {
    /// About this person.
    pub person: Option<PersonId>,
    /// About pupils of this registration class (case-insensitive).
    pub class: Option<String>,
    /// About pupils of this year group.
    pub year: Option<String>,
    /// At least this severity.
    pub min_severity: Option<u8>,
    /// Of this category.
    pub category: Option<String>,
    /// Raised at or after.
    pub from: Option<Timestamp>,
    /// Raised before.
    pub to: Option<Timestamp>,
    /// Assigned to this username; `Some("")`: assigned to no one.
    pub assigned_to: Option<String>,
}

impl AlertFilter {
    /// Alerts in `status`, every severity.
    pub fn status(status: AlertStatus, limit: i64) -> AlertFilter {
        AlertFilter {
            status: Some(status),
            limit,
            ..AlertFilter::default()
        }
    }
}

/// Alerts raised in a period, by category and severity (the weekly summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertTally {
    /// The category.
    pub category: String,
    /// The severity.
    pub severity: u8,
    /// Alerts raised.
    pub alerts: i64,
    /// Their repeats added up.
    pub occurrences: i64,
    /// Of those, how many are still new.
    pub still_new: i64,
}

/// Blocked attempts of one subject in one category within one alert window: one alert (or one
/// more repeat of an open one).
#[derive(Debug)]
pub(crate) struct BlockedFold<'a> {
    pub(crate) first: &'a Event,
    pub(crate) source: AlertSource,
    pub(crate) subject: String,
    pub(crate) category: &'a str,
    pub(crate) severity: u8,
    pub(crate) count: i64,
    pub(crate) last_at: Timestamp,
    /// For detection, the findings after the first (at most [`LATER_FINDINGS`]): their phrases
    /// and text go into the alert's detail too.
    pub(crate) later: Vec<&'a Event>,
}

/// The most later findings one batch adds to a detection alert's detail.
const LATER_FINDINGS: usize = 20;

/// The longest a detection alert's detail grows with later findings, in characters; past it,
/// only the alert's repeats count them.
pub(crate) const MAX_DETECTION_DETAIL: i64 = 16_000;

/// The later findings of a detection alert, as its detail lists them.
fn later_findings<'e>(events: impl IntoIterator<Item = &'e Event>) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    for event in events {
        let Some(found) = event.alert.as_ref().and_then(|a| a.detection.as_ref()) else {
            continue;
        };
        let target = event.url.as_deref().unwrap_or(&event.host);
        let _ = write!(
            text,
            "\n\nAgain at {}: Address: {target}\n{found}",
            event.at
        );
    }
    text
}

/// Groups a batch's alerting events: per school, subject and category, a new group each time
/// an event falls outside the window that began with the group's first event.
pub(crate) fn fold_blocked(events: &[Event], window: SignedDuration) -> Vec<BlockedFold<'_>> {
    let mut open: HashMap<(i64, String, &str, AlertSource), usize> = HashMap::new();
    let mut folds: Vec<BlockedFold<'_>> = Vec::new();
    for event in events {
        let Some(alert) = &event.alert else { continue };
        let source = if alert.detection.is_some() {
            AlertSource::Detection
        } else {
            AlertSource::Blocked
        };
        let key = (
            event.school.0,
            event.subject(),
            alert.category.as_str(),
            source,
        );
        if let Some(&position) = open.get(&key) {
            let fold = &mut folds[position];
            if event.at < fold.first.at + window {
                // An event may stand for several requests (repeats folded at the gate).
                fold.count += i64::from(event.count);
                fold.last_at = fold.last_at.max(event.at);
                fold.severity = fold.severity.max(alert.severity);
                if source == AlertSource::Detection && fold.later.len() < LATER_FINDINGS {
                    fold.later.push(event);
                }
                continue;
            }
        }
        open.insert(key.clone(), folds.len());
        folds.push(BlockedFold {
            first: event,
            source,
            subject: key.1,
            category: key.2,
            severity: alert.severity,
            count: i64::from(event.count),
            last_at: event.at,
            later: Vec::new(),
        });
    }
    folds
}

/// A blocked attempt, or risk found by detection, as an alert.
pub(crate) fn blocked_alert(fold: &BlockedFold<'_>) -> NewAlert {
    let event = fold.first;
    let target = event.url.as_deref().unwrap_or(&event.host);
    if let Some(found) = event.alert.as_ref().and_then(|a| a.detection.as_ref()) {
        return NewAlert {
            severity: fold.severity.clamp(1, 5),
            category: fold.category.to_owned(),
            source: AlertSource::Detection,
            person: event.person,
            device: event.device,
            client_ip: Some(event.client_ip),
            username: event.username.clone(),
            identified_by: event.identified_by,
            summary: format!("Risk detected ({}): {}", fold.category, event.reason),
            detail: format!(
                "Address: {target}\n{found}{}",
                later_findings(fold.later.iter().copied())
            ),
        };
    }
    NewAlert {
        severity: fold.severity.clamp(1, 5),
        category: fold.category.to_owned(),
        source: AlertSource::Blocked,
        person: event.person,
        device: event.device,
        client_ip: Some(event.client_ip),
        username: event.username.clone(),
        identified_by: event.identified_by,
        summary: format!("Blocked attempt to reach {target} ({})", fold.category),
        detail: format!(
            "{} request; categories: {}; why: {}",
            event.source.as_str(),
            event.categories,
            event.reason
        ),
    }
}

const COLUMNS: &str = "a.id, a.created_at, a.last_seen, a.severity, a.category, a.source, a.status, \
     a.person_id, p.username AS person_username, p.given_name, p.family_name, a.device_id, \
     d.name AS device_name, a.client_ip, a.username, a.identified_by, a.subject, a.summary, a.detail, a.repeats, \
     a.notified_at, a.incident_id, a.opened_at, a.opened_by, a.assigned_to";

const FROM: &str = "alerts a
     LEFT JOIN people p ON p.id = a.person_id AND p.school_id = a.school_id
     LEFT JOIN devices d ON d.id = a.device_id AND d.school_id = a.school_id";

macro_rules! alert_from_row {
    ($row:expr) => {{
        let row = $row;
        let severity: i64 = row.try_get("severity")?;
        let created_at: i64 = row.try_get("created_at")?;
        let last_seen: Option<i64> = row.try_get("last_seen")?;
        let given: Option<String> = row.try_get("given_name")?;
        let family: Option<String> = row.try_get("family_name")?;
        let person_username: Option<String> = row.try_get("person_username")?;
        let person_name = match (given, family, person_username) {
            (Some(given), Some(family), Some(username)) => {
                Some(format!("{given} {family} ({username})"))
            }
            _ => None,
        };
        let source: String = row.try_get("source")?;
        let status: String = row.try_get("status")?;
        let notified_at: Option<i64> = row.try_get("notified_at")?;
        Alert {
            id: AlertId(row.try_get("id")?),
            created_at: timestamp(created_at),
            last_seen: timestamp(last_seen.unwrap_or(created_at)),
            severity: u8::try_from(severity).unwrap_or(5),
            category: row.try_get("category")?,
            source: source.parse()?,
            status: status.parse()?,
            person: row.try_get::<Option<i64>, _>("person_id")?.map(PersonId),
            person_name,
            device: row.try_get::<Option<i64>, _>("device_id")?.map(DeviceId),
            device_name: row.try_get("device_name")?,
            client_ip: row.try_get("client_ip")?,
            username: row.try_get("username")?,
            identified_by: row
                .try_get::<Option<String>, _>("identified_by")?
                .as_deref()
                .and_then(IdentifiedBy::parse),
            subject: row.try_get("subject")?,
            summary: row.try_get("summary")?,
            detail: row.try_get("detail")?,
            repeats: row.try_get("repeats")?,
            notified_at: notified_at.map(timestamp),
            incident: row
                .try_get::<Option<i64>, _>("incident_id")?
                .map(IncidentId),
            opened: match (
                row.try_get::<Option<i64>, _>("opened_at")?,
                row.try_get::<Option<String>, _>("opened_by")?,
            ) {
                (Some(at), Some(by)) => Some((timestamp(at), by)),
                _ => None,
            },
            assigned_to: row.try_get("assigned_to")?,
        }
    }};
}

/// Inserts an alert (within a transaction or on a pool); evaluates to its id.
macro_rules! insert_alert {
    ($executor:expr, $school:expr, $alert:expr, $at:expr, $last:expr, $repeats:expr) => {{
        let alert: &$crate::NewAlert = $alert;
        let row = sqlx::query(
            "INSERT INTO alerts (school_id, created_at, updated_at, last_seen, severity, category, source,
               person_id, device_id, client_ip, username, identified_by, subject, summary, detail, repeats)
             VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        )
        .bind($school)
        .bind($at)
        .bind($last)
        .bind(i64::from(alert.severity))
        .bind(&alert.category)
        .bind(alert.source.as_str())
        .bind(alert.person.map(|p| p.0))
        .bind(alert.device.map(|d| d.0))
        .bind(alert.client_ip.map(|ip| ip.to_string()))
        .bind(alert.username.as_deref())
        .bind(alert.identified_by.map(IdentifiedBy::as_str))
        .bind(alert.subject())
        .bind(&alert.summary)
        .bind(&alert.detail)
        .bind($repeats)
        .fetch_one($executor)
        .await?;
        let id: i64 = row.try_get(0)?;
        id
    }};
}
pub(crate) use insert_alert;

/// More repeats for an open alert, from one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Repeats {
    pub(crate) count: i64,
    pub(crate) last: i64,
    pub(crate) severity: i64,
    /// For detection, the findings to add to its detail.
    pub(crate) detail: String,
}

/// Open (still new) blocked-attempt and detection alerts as `(subject, category, source) →
/// [(created_at, id)]`, newest first.
pub(crate) type OpenAlerts = HashMap<(String, String, String), Vec<(i64, i64)>>;

/// Splits a batch's folds into more repeats of open alerts (by id) and new alerts: a fold joins
/// the newest open alert of its subject and category raised within the window before its
/// first attempt.
pub(crate) fn plan_folds<'a, 'b>(
    folds: impl IntoIterator<Item = &'b BlockedFold<'a>>,
    open: &OpenAlerts,
    window: SignedDuration,
) -> (HashMap<i64, Repeats>, Vec<&'b BlockedFold<'a>>)
where
    'a: 'b,
{
    let window = window.as_micros() as i64;
    let mut repeats: HashMap<i64, Repeats> = HashMap::new();
    let mut new = Vec::new();
    for fold in folds {
        let first = micros(fold.first.at);
        let joins = open
            .get(&(
                fold.subject.clone(),
                fold.category.to_owned(),
                fold.source.as_str().to_owned(),
            ))
            .and_then(|alerts| {
                alerts
                    .iter()
                    .find(|(created, _)| *created <= first && *created > first - window)
            });
        match joins {
            Some(&(_, id)) => {
                let entry = repeats.entry(id).or_insert(Repeats {
                    count: 0,
                    last: i64::MIN,
                    severity: 0,
                    detail: String::new(),
                });
                entry.count += fold.count;
                if fold.source == AlertSource::Detection {
                    entry.detail.push_str(&later_findings(
                        std::iter::once(fold.first).chain(fold.later.iter().copied()),
                    ));
                }
                entry.last = entry.last.max(micros(fold.last_at));
                entry.severity = entry.severity.max(i64::from(fold.severity));
            }
            None => new.push(fold),
        }
    }
    (repeats, new)
}

/// Rows per `UPDATE … FROM (VALUES …)` of repeats (5 parameters each).
pub(crate) const REPEAT_ROWS: usize = 200;

/// `UPDATE alerts … FROM (VALUES ($1, $2, $3, $4, $5), …)` for `rows` rows of (id, count, last
/// seen, severity, detail to add). Both backends name a VALUES list's columns column1, column2,
/// … A detail already [`MAX_DETECTION_DETAIL`] long gets nothing more.
pub(crate) fn repeats_sql(rows: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = format!(
        "UPDATE alerts SET repeats = alerts.repeats + v.column2,
           last_seen = CASE WHEN alerts.last_seen IS NULL OR alerts.last_seen < v.column3
                            THEN v.column3 ELSE alerts.last_seen END,
           severity = CASE WHEN alerts.severity < v.column4 THEN v.column4 ELSE alerts.severity END,
           detail = CASE WHEN length(alerts.detail) < {MAX_DETECTION_DETAIL}
                         THEN alerts.detail || v.column5 ELSE alerts.detail END
         FROM (VALUES "
    );
    for row in 0..rows {
        let n = row * 5;
        let _ = write!(
            sql,
            "{}(${}, ${}, ${}, ${}, ${})",
            if row == 0 { "" } else { ", " },
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5
        );
    }
    sql.push_str(") AS v WHERE alerts.id = v.column1");
    sql
}

/// Folds a batch's blocked attempts into the alert queue within `$transaction`: one query for
/// the school's open blocked-attempt alerts in the window, one `UPDATE` per 200 alerts that
/// get more repeats, one `INSERT` per new alert (one per person and category per window).
macro_rules! write_blocked_folds {
    ($transaction:expr, $folds:expr, $window:expr) => {{
        let folds: &[$crate::alerts::BlockedFold<'_>] = $folds;
        let window: jiff::SignedDuration = $window;
        let mut schools: Vec<i64> = folds.iter().map(|fold| fold.first.school.0).collect();
        schools.sort_unstable();
        schools.dedup();
        for school in schools {
            let these = || folds.iter().filter(|fold| fold.first.school.0 == school);
            let earliest = these()
                .map(|fold| $crate::micros(fold.first.at))
                .min()
                .unwrap_or(i64::MAX);
            let rows = sqlx::query(
                "SELECT subject, category, source, created_at, id FROM alerts
                 WHERE school_id = $1 AND source IN ('blocked', 'detection') AND status = 'new'
                   AND created_at > $2
                 ORDER BY created_at DESC",
            )
            .bind(school)
            .bind(earliest.saturating_sub(window.as_micros() as i64))
            .fetch_all(&mut *$transaction)
            .await?;
            let mut open: $crate::alerts::OpenAlerts = std::collections::HashMap::new();
            for row in &rows {
                open.entry((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
                    .or_default()
                    .push((row.try_get(3)?, row.try_get(4)?));
            }
            let (repeats, new) = $crate::alerts::plan_folds(these(), &open, window);
            let repeats: Vec<(i64, $crate::alerts::Repeats)> = repeats.into_iter().collect();
            for chunk in repeats.chunks($crate::alerts::REPEAT_ROWS) {
                let sql = $crate::alerts::repeats_sql(chunk.len());
                // Kept prepared only at full length (see the events' insert).
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .persistent(chunk.len() == $crate::alerts::REPEAT_ROWS);
                for (id, more) in chunk {
                    query = query
                        .bind(*id)
                        .bind(more.count)
                        .bind(more.last)
                        .bind(more.severity)
                        .bind(more.detail.as_str());
                }
                query.execute(&mut *$transaction).await?;
            }
            for fold in new {
                let alert = $crate::alerts::blocked_alert(fold);
                $crate::alerts::insert_alert!(
                    &mut *$transaction,
                    school,
                    &alert,
                    $crate::micros(fold.first.at),
                    $crate::micros(fold.last_at),
                    fold.count
                );
            }
        }
    }};
}
pub(crate) use write_blocked_folds;

/// Checks a note's length; returns it trimmed.
fn checked_note(note: &str) -> Result<&str> {
    let note = note.trim();
    if note.chars().count() > MAX_ALERT_NOTE {
        return Err(StoreError::Invalid(format!(
            "the note is longer than {MAX_ALERT_NOTE} characters"
        )));
    }
    Ok(note)
}

impl Store {
    /// Raises an alert.
    pub async fn raise_alert(&self, school: SchoolId, alert: &NewAlert) -> Result<AlertId> {
        if !(1..=5).contains(&alert.severity) {
            return Err(StoreError::Invalid(format!(
                "alert severity {} is not between 1 and 5",
                alert.severity
            )));
        }
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            Ok(AlertId(insert_alert!(pool, school.0, alert, now, now, 1_i64)))
        })
    }

    /// Raises an alert (a concern reported from the block page, an account's misuse), or folds
    /// it into the alert of the same source and category about the same person (or device, or
    /// address) still new and raised within `window`: its count grows and
    /// what they wrote is added to its detail (up to [`MAX_DETECTION_DETAIL`] characters, then
    /// only the count), and a graver report raises its severity and summary. Returns the alert and whether it was folded into one already open.
    pub async fn raise_or_fold(
        &self,
        school: SchoolId,
        alert: &NewAlert,
        window: SignedDuration,
    ) -> Result<(AlertId, bool)> {
        if !(1..=5).contains(&alert.severity) {
            return Err(StoreError::Invalid(format!(
                "alert severity {} is not between 1 and 5",
                alert.severity
            )));
        }
        let now = Timestamp::now();
        let at = micros(now);
        let subject = alert.subject();
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            let open = sqlx::query(
                "SELECT id FROM alerts
                 WHERE school_id = $1 AND source = $2 AND subject = $3 AND status = 'new'
                   AND created_at > $4 AND category = $5
                 ORDER BY created_at DESC LIMIT 1",
            )
            .bind(school.0)
            .bind(alert.source.as_str())
            .bind(&subject)
            .bind(micros(now - window))
            .bind(&alert.category)
            .fetch_optional(&mut *transaction)
            .await?;
            let result = match open {
                Some(row) => {
                    let id: i64 = row.try_get(0)?;
                    // A graver report (a disclosure after a question) raises the alert to
                    // its severity and summary, so that it is told as the graver one is.
                    let sql = format!(
                        "UPDATE alerts SET repeats = repeats + 1, last_seen = $2, updated_at = $2,
                           detail = CASE WHEN length(detail) < {MAX_DETECTION_DETAIL}
                                         THEN detail || $3 ELSE detail END,
                           summary = CASE WHEN $4 > severity THEN $5 ELSE summary END,
                           severity = CASE WHEN $4 > severity THEN $4 ELSE severity END
                         WHERE id = $1"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id)
                        .bind(at)
                        .bind(format!("\n\nAgain at {now}:\n{}", alert.detail))
                        .bind(i64::from(alert.severity))
                        .bind(&alert.summary)
                        .execute(&mut *transaction)
                        .await?;
                    (AlertId(id), true)
                }
                None => (
                    AlertId(insert_alert!(&mut *transaction, school.0, alert, at, at, 1_i64)),
                    false,
                ),
            };
            transaction.commit().await?;
            Ok(result)
        })
    }

    /// The school's alerts matching `filter`: highest severity first, then newest.
    pub async fn alerts(&self, school: SchoolId, filter: &AlertFilter) -> Result<Vec<Alert>> {
        let mut bound = vec![Bound::Int(school.0)];
        let mut conditions = vec!["a.school_id = $1".to_owned()];
        let mut add = |condition: &str, value: Bound| {
            bound.push(value);
            conditions.push(condition.replace('?', &format!("${}", bound.len())));
        };
        if let Some(status) = filter.status {
            add("a.status = ?", Bound::Text(status.as_str().into()));
        }
        if let Some(subject) = &filter.subject {
            add("a.subject = ?", Bound::Text(subject.clone()));
        }
        if let Some(incident) = filter.incident {
            add("a.incident_id = ?", Bound::Int(incident.0));
        }
        let narrow = &filter.narrow;
        if let Some(person) = narrow.person {
            add("a.person_id = ?", Bound::Int(person.0));
        }
        if let Some(class) = &narrow.class {
            add(
                "lower(p.class_name) = lower(?)",
                Bound::Text(class.trim().into()),
            );
        }
        if let Some(year) = &narrow.year {
            add("p.year_group = ?", Bound::Text(year.trim().into()));
        }
        if let Some(severity) = narrow.min_severity {
            add("a.severity >= ?", Bound::Int(i64::from(severity)));
        }
        if let Some(category) = &narrow.category {
            add("a.category = ?", Bound::Text(category.clone()));
        }
        if let Some(from) = narrow.from {
            add("a.created_at >= ?", Bound::Int(micros(from)));
        }
        if let Some(to) = narrow.to {
            add("a.created_at < ?", Bound::Int(micros(to)));
        }
        match narrow.assigned_to.as_deref() {
            None => {}
            Some("") => conditions.push("a.assigned_to IS NULL".into()),
            Some(username) => add("a.assigned_to = ?", Bound::Text(username.into())),
        }
        bound.push(Bound::Int(filter.limit));
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE {}
             ORDER BY a.severity DESC, a.created_at DESC, a.id DESC LIMIT ${}",
            conditions.join(" AND "),
            bound.len()
        );
        dispatch!(self, pool => {
            let query = crate::bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql.as_str())), &bound);
            let rows = query.fetch_all(pool).await?;
            rows.iter().map(|row| Ok(alert_from_row!(row))).collect()
        })
    }

    /// Assigns alerts to a colleague (`None`: to no one), each with a line in its history;
    /// returns how many changed (an alert assigned so already is left as it is).
    pub async fn assign_alerts(
        &self,
        school: SchoolId,
        ids: &[AlertId],
        assignee: Option<&str>,
        actor: &str,
    ) -> Result<u64> {
        let now = micros(Timestamp::now());
        let note = match assignee {
            Some(username) => format!("assigned to {username}"),
            None => "assignment removed".to_owned(),
        };
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            let mut changed = 0;
            for id in ids {
                let row = sqlx::query(
                    "UPDATE alerts SET assigned_to = $1, updated_at = $2
                     WHERE school_id = $3 AND id = $4
                       AND COALESCE(assigned_to, '') <> COALESCE($1, '')
                     RETURNING status",
                )
                .bind(assignee)
                .bind(now)
                .bind(school.0)
                .bind(id.0)
                .fetch_optional(&mut *transaction)
                .await?;
                let Some(row) = row else { continue };
                let status: String = row.try_get(0)?;
                sqlx::query(
                    "INSERT INTO alert_changes (school_id, alert_id, at, actor, status, note)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(school.0)
                .bind(id.0)
                .bind(now)
                .bind(actor)
                .bind(status)
                .bind(&note)
                .execute(&mut *transaction)
                .await?;
                changed += 1;
            }
            transaction.commit().await?;
            Ok(changed)
        })
    }

    /// The categories the school's alerts are in, for the queue's filter.
    pub async fn alert_categories(&self, school: SchoolId) -> Result<Vec<String>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT DISTINCT category FROM alerts WHERE school_id = $1 ORDER BY category",
            )
            .bind(school.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
        })
    }

    /// Alerts per status, for the queue's tabs.
    pub async fn alert_counts(&self, school: SchoolId) -> Result<Vec<(AlertStatus, i64)>> {
        let rows: Vec<(String, i64)> = dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT status, COUNT(*) FROM alerts WHERE school_id = $1 GROUP BY status",
            )
            .bind(school.0)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect::<Result<_>>()?
        });
        let mut counts = Vec::new();
        for status in AlertStatus::ALL {
            let count = rows
                .iter()
                .find(|(name, _)| name == status.as_str())
                .map_or(0, |(_, count)| *count);
            counts.push((status, count));
        }
        Ok(counts)
    }

    /// Records that `by` (a username) opened an alert, if no one had before. Returns whether
    /// this was the first opening.
    pub async fn mark_alert_opened(
        &self,
        school: SchoolId,
        id: AlertId,
        by: &str,
        at: Timestamp,
    ) -> Result<bool> {
        dispatch!(self, pool => {
            let done = sqlx::query(
                "UPDATE alerts SET opened_at = $3, opened_by = $4
                 WHERE school_id = $1 AND id = $2 AND opened_at IS NULL",
            )
            .bind(school.0)
            .bind(id.0)
            .bind(micros(at))
            .bind(by)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// What waits for the school's staff: new alerts by severity, the severity-5 alerts no one
    /// has opened yet (oldest first, at most `urgent_limit`), unblock requests not yet decided,
    /// and incidents not yet signed off.
    pub async fn waiting(&self, school: SchoolId, urgent_limit: i64) -> Result<Waiting> {
        let mut waiting = Waiting::default();
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT severity, COUNT(*) FROM alerts
                 WHERE school_id = $1 AND status = 'new' GROUP BY severity",
            )
            .bind(school.0)
            .fetch_all(pool)
            .await?;
            for row in &rows {
                let severity: i64 = row.try_get(0)?;
                if let Some(slot) = usize::try_from(severity - 1)
                    .ok()
                    .and_then(|at| waiting.new_alerts.get_mut(at))
                {
                    *slot = row.try_get(1)?;
                }
            }
            let rows = sqlx::query(
                "SELECT id, category, summary, created_at FROM alerts
                 WHERE school_id = $1 AND status = 'new' AND severity = 5 AND opened_at IS NULL
                 ORDER BY created_at, id LIMIT $2",
            )
            .bind(school.0)
            .bind(urgent_limit)
            .fetch_all(pool)
            .await?;
            for row in &rows {
                waiting.unopened_urgent.push(UrgentAlert {
                    id: AlertId(row.try_get(0)?),
                    category: row.try_get(1)?,
                    summary: row.try_get(2)?,
                    raised: timestamp(row.try_get(3)?),
                });
            }
            let row = sqlx::query(
                "SELECT
                   (SELECT COUNT(*) FROM unblock_requests WHERE school_id = $1 AND status = 'new'),
                   (SELECT COUNT(*) FROM incidents WHERE school_id = $1 AND status = 'open')",
            )
            .bind(school.0)
            .fetch_one(pool)
            .await?;
            waiting.unblock_requests = row.try_get(0)?;
            waiting.open_incidents = row.try_get(1)?;
        });
        Ok(waiting)
    }

    /// One alert.
    pub async fn alert(&self, school: SchoolId, id: AlertId) -> Result<Alert> {
        dispatch!(self, pool => {
            let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE a.school_id = $1 AND a.id = $2");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(id.0)
                .fetch_optional(pool)
                .await?
                .ok_or(StoreError::NotFound("alert"))?;
            Ok(alert_from_row!(&row))
        })
    }

    /// An alert's status changes, oldest first.
    pub async fn alert_changes(&self, school: SchoolId, id: AlertId) -> Result<Vec<AlertChange>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT at, actor, status, note FROM alert_changes
                 WHERE school_id = $1 AND alert_id = $2 ORDER BY at, id",
            )
            .bind(school.0)
            .bind(id.0)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let status: String = row.try_get("status")?;
                    Ok(AlertChange {
                        at: timestamp(row.try_get("at")?),
                        actor: row.try_get("actor")?,
                        status: status.parse()?,
                        note: row.try_get("note")?,
                    })
                })
                .collect()
        })
    }

    /// Moves an alert to `status`, recording who, when and why. A move its current status does
    /// not allow ([`AlertStatus::can_become`]), or a concurrent change got there first, is a
    /// `Conflict`; a false positive, a closure and a reopening need a note. `incident` links an
    /// escalated alert to its incident.
    pub async fn change_alert(
        &self,
        school: SchoolId,
        id: AlertId,
        actor: &str,
        status: AlertStatus,
        note: &str,
        incident: Option<IncidentId>,
    ) -> Result<()> {
        let note = checked_note(note)?;
        let current = self.alert(school, id).await?.status;
        if !current.can_become(status) {
            return Err(StoreError::Conflict(format!(
                "alert {id} is {} and cannot become {}",
                current.label().to_lowercase(),
                status.label().to_lowercase()
            )));
        }
        if status.needs_note(current) && note.chars().count() < 5 {
            return Err(StoreError::Invalid(
                "say why (at least a few words): it is kept with the alert".into(),
            ));
        }
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE alerts SET status = $1, updated_at = $2, incident_id = COALESCE($3, incident_id)
                 WHERE school_id = $4 AND id = $5 AND status = $6",
            )
            .bind(status.as_str())
            .bind(now)
            .bind(incident.map(|incident| incident.0))
            .bind(school.0)
            .bind(id.0)
            .bind(current.as_str())
            .execute(&mut *transaction)
            .await?
            .rows_affected();
            if changed != 1 {
                return Err(StoreError::Conflict(format!(
                    "alert {id} was changed by someone else just now"
                )));
            }
            sqlx::query(
                "INSERT INTO alert_changes (school_id, alert_id, at, actor, status, note)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(school.0)
            .bind(id.0)
            .bind(now)
            .bind(actor)
            .bind(status.as_str())
            .bind(note)
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await?;
        });
        Ok(())
    }

    /// Claims the school's alerts at least `min_severity` raised since `since` that no one has
    /// been told of yet, marking them told: each is returned to exactly one caller, even with
    /// several gateways asking at once.
    pub async fn claim_alerts_to_notify(
        &self,
        school: SchoolId,
        min_severity: u8,
        since: Timestamp,
        limit: i64,
    ) -> Result<Vec<Alert>> {
        let now = micros(Timestamp::now());
        let claimed: Vec<i64> = dispatch!(self, pool => {
            let rows = sqlx::query(
                "UPDATE alerts SET notified_at = $1
                 WHERE id IN (SELECT id FROM alerts WHERE school_id = $2 AND notified_at IS NULL
                                AND severity >= $3 AND created_at >= $4 ORDER BY id LIMIT $5)
                   AND notified_at IS NULL
                 RETURNING id",
            )
            .bind(now)
            .bind(school.0)
            .bind(i64::from(min_severity))
            .bind(micros(since))
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| Ok(row.try_get(0)?)).collect::<Result<_>>()?
        });
        let mut alerts = Vec::with_capacity(claimed.len());
        for id in claimed {
            alerts.push(self.alert(school, AlertId(id)).await?);
        }
        alerts.sort_by_key(|alert| alert.id);
        Ok(alerts)
    }

    /// Claims the sending of the school's summary of `kind` for the period starting at
    /// `period_start`: true for exactly one caller, false if it was sent (or is being sent).
    pub async fn claim_summary(
        &self,
        school: SchoolId,
        kind: &str,
        period_start: Timestamp,
    ) -> Result<bool> {
        dispatch!(self, pool => {
            let inserted = sqlx::query(
                "INSERT INTO summaries_sent (school_id, kind, period_start, sent_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (school_id, kind, period_start) DO NOTHING",
            )
            .bind(school.0)
            .bind(kind)
            .bind(micros(period_start))
            .bind(micros(Timestamp::now()))
            .execute(pool)
            .await?
            .rows_affected();
            Ok(inserted == 1)
        })
    }

    /// Gives back a summary claim whose sending failed, so a later attempt sends it.
    pub async fn unclaim_summary(
        &self,
        school: SchoolId,
        kind: &str,
        period_start: Timestamp,
    ) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query(
                "DELETE FROM summaries_sent WHERE school_id = $1 AND kind = $2 AND period_start = $3",
            )
            .bind(school.0)
            .bind(kind)
            .bind(micros(period_start))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Gives back a claim whose notification could not be sent, so a later attempt sends it.
    pub async fn unclaim_alert(&self, school: SchoolId, id: AlertId) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query("UPDATE alerts SET notified_at = NULL WHERE school_id = $1 AND id = $2")
                .bind(school.0)
                .bind(id.0)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Alerts raised between `from` and `to`, per category and severity, most severe first.
    pub async fn alert_tally(
        &self,
        school: SchoolId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<AlertTally>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT category, severity, COUNT(*) AS alerts, CAST(SUM(repeats) AS BIGINT) AS occurrences,
                   CAST(SUM(CASE WHEN status = 'new' THEN 1 ELSE 0 END) AS BIGINT) AS still_new
                 FROM alerts WHERE school_id = $1 AND created_at >= $2 AND created_at < $3
                 GROUP BY category, severity ORDER BY severity DESC, alerts DESC, category",
            )
            .bind(school.0)
            .bind(micros(from))
            .bind(micros(to))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let severity: i64 = row.try_get("severity")?;
                    Ok(AlertTally {
                        category: row.try_get("category")?,
                        severity: u8::try_from(severity).unwrap_or(5),
                        alerts: row.try_get("alerts")?,
                        occurrences: row.try_get("occurrences")?,
                        still_new: row.try_get("still_new")?,
                    })
                })
                .collect()
        })
    }
}
