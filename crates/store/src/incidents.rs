//! Online-safety incidents (DESIGN.md S1–S4): the Appendix 1 record (account username, station,
//! approximate time, the evidence, who reported it), the alerts escalated into it and the blocked
//! requests behind them, and its entries: notes, the procedure's answers, actions taken, the
//! DSL's sign-off.
//!
//! Entries are append-only: a correction is a new entry naming the one it corrects, and the
//! database itself refuses to update or delete an entry (triggers in migration 6). The record
//! as first written is never changed either; only the child-protection mark and the status move,
//! and each move is an entry.
//!
//! Who may see an incident is part of every query ([`IncidentScope`]): the DSL and the
//! headteacher see all; anyone else only the pupil incidents they recorded themselves, and
//! never one marked child protection.

use crate::BeginWrite as _;
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use sqlx::Row;

use crate::alerts::AlertStatus;
use crate::events::{EVENT_FROM, EVENT_ROW_COLUMNS, event_row};
use crate::{
    AlertId, DeviceId, EventRow, IncidentId, PersonId, Result, SchoolId, Store, StoreError,
    dispatch, micros, timestamp,
};

/// The longest evidence description, note or answer note, in characters.
pub const MAX_INCIDENT_TEXT: usize = 4000;

/// The longest username, station or reporter, in characters.
const MAX_FIELD: usize = 200;

/// Whether an incident is still being dealt with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncidentStatus {
    /// Being dealt with.
    Open,
    /// Signed off by the DSL.
    Closed,
}

impl IncidentStatus {
    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Closed => "closed",
        }
    }

    /// The name shown.
    pub fn label(self) -> &'static str {
        match self {
            IncidentStatus::Open => "Open",
            IncidentStatus::Closed => "Signed off",
        }
    }
}

impl FromStr for IncidentStatus {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<IncidentStatus> {
        match text {
            "open" => Ok(IncidentStatus::Open),
            "closed" => Ok(IncidentStatus::Closed),
            other => Err(StoreError::Invalid(format!(
                "unknown incident status {other:?}"
            ))),
        }
    }
}

/// Which incidents a reader may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentScope<'a> {
    /// Every incident of the school (the DSL, the headteacher).
    All,
    /// Only the pupil incidents this account recorded, and none marked child protection.
    RecordedBy(&'a str),
}

impl<'a> IncidentScope<'a> {
    fn bind_values(self) -> (i64, &'static str, &'a str) {
        match self {
            IncidentScope::All => (1, "", ""),
            IncidentScope::RecordedBy(username) => (0, "pupil", username),
        }
    }
}

/// The visibility condition on `incidents i`, taking the scope's three values at `$n`, `$n+1`,
/// `$n+2` ([`IncidentScope::bind_values`]).
fn visible(first: usize) -> String {
    format!(
        "(${first} = 1 OR (i.created_by = ${} AND i.audience = ${} AND i.child_protection = 0))",
        first + 2,
        first + 1
    )
}

/// A new incident: the Appendix 1 record.
#[derive(Debug, Clone, Default)]
pub struct NewIncident {
    /// `pupil` or `staff`.
    pub audience: String,
    /// The kind: a row of that audience's sanctions table, or a welfare concern type.
    pub kind: String,
    /// Whether it is a concern about a pupil's welfare (`kind` is then a concern type).
    pub welfare: bool,
    /// The person it is about, when they are in the school's records.
    pub person: Option<PersonId>,
    /// Others it is about (pupils involved), each of whom finds it in their chronology.
    pub others: Vec<PersonId>,
    /// The device the station was resolved to, if any.
    pub device: Option<DeviceId>,
    /// The account username.
    pub username: String,
    /// The station (device) number or name.
    pub station: String,
    /// About when the material was accessed.
    pub occurred_at: Option<Timestamp>,
    /// A brief description of the evidence.
    pub evidence: String,
    /// Who reported it.
    pub reported_by: String,
    /// Alerts escalated into it (each must be new or triaged).
    pub alerts: Vec<AlertId>,
}

/// An incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// Its id.
    pub id: IncidentId,
    /// When it was recorded.
    pub created_at: Timestamp,
    /// Who recorded it.
    pub created_by: String,
    /// `pupil` or `staff`.
    pub audience: String,
    /// Its row of the sanctions table, or its welfare concern type.
    pub kind: String,
    /// Whether it is a concern about a pupil's welfare.
    pub welfare: bool,
    /// The person, if known.
    pub person: Option<PersonId>,
    /// "Given Family (username)", if the person is known.
    pub person_name: Option<String>,
    /// The account username, as recorded.
    pub username: String,
    /// The station, as recorded.
    pub station: String,
    /// The device the station was resolved to, if any.
    pub device: Option<DeviceId>,
    /// That device's name, while it exists.
    pub device_name: Option<String>,
    /// About when, as recorded.
    pub occurred_at: Option<Timestamp>,
    /// The evidence, as recorded.
    pub evidence: String,
    /// Who reported it.
    pub reported_by: String,
    /// Whether the procedure found a child protection concern.
    pub child_protection: bool,
    /// Open or signed off.
    pub status: IncidentStatus,
    /// When it was signed off.
    pub closed_at: Option<Timestamp>,
    /// Who signed it off.
    pub closed_by: Option<String>,
}

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A note.
    Note,
    /// An answer to a step of the procedure.
    Step,
    /// An action taken (a column of the sanctions table).
    Action,
    /// An alert escalated into the incident.
    Alert,
    /// The DSL's sign-off.
    SignOff,
}

impl EntryKind {
    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Note => "note",
            EntryKind::Step => "step",
            EntryKind::Action => "action",
            EntryKind::Alert => "alert",
            EntryKind::SignOff => "signoff",
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntryKind {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<EntryKind> {
        Ok(match text {
            "note" => EntryKind::Note,
            "step" => EntryKind::Step,
            "action" => EntryKind::Action,
            "alert" => EntryKind::Alert,
            "signoff" => EntryKind::SignOff,
            other => {
                return Err(StoreError::Invalid(format!(
                    "unknown incident entry {other:?}"
                )));
            }
        })
    }
}

/// A new entry: a note, an answer or an action taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// Note, step or action (alerts and sign-off have their own calls).
    pub kind: EntryKind,
    /// The step's id (steps) or the action's id (actions).
    pub step: String,
    /// The answer's id (steps).
    pub answer: String,
    /// What was written.
    pub note: String,
    /// The earlier entry of the same incident this one corrects.
    pub corrects: Option<i64>,
    /// Set the incident's child-protection mark (from the procedure's answer).
    pub child_protection: Option<bool>,
}

impl NewEntry {
    /// A note, correcting `corrects` if given.
    pub fn note(note: &str, corrects: Option<i64>) -> NewEntry {
        NewEntry {
            kind: EntryKind::Note,
            step: String::new(),
            answer: String::new(),
            note: note.to_owned(),
            corrects,
            child_protection: None,
        }
    }
}

/// An entry of an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentEntry {
    /// Its id.
    pub id: i64,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: String,
    /// What it records.
    pub kind: EntryKind,
    /// The step's or action's id (the alert's id for alerts).
    pub step: String,
    /// The answer's id (steps).
    pub answer: String,
    /// What was written.
    pub note: String,
    /// The entry it corrects.
    pub corrects: Option<i64>,
}

/// Which incidents to list.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Open or signed off; both when `None`.
    pub status: Option<IncidentStatus>,
    /// About this person (the person recorded or another added to it).
    pub person: Option<PersonId>,
    /// About this account username (case-insensitive), for people not in the records.
    pub username: Option<String>,
    /// Recorded before this time.
    pub before: Option<Timestamp>,
    /// At most this many (newest first).
    pub limit: i64,
}

const COLUMNS: &str = "i.id, i.created_at, i.created_by, i.audience, i.kind, i.person_id, \
     p.username AS person_username, p.given_name, p.family_name, i.username, i.station, \
     i.occurred_at, i.evidence, i.reported_by, i.child_protection, i.status, i.closed_at, \
     i.closed_by, i.welfare, i.device_id, d.name AS device_name";

const FROM: &str = "incidents i
     LEFT JOIN people p ON p.id = i.person_id AND p.school_id = i.school_id
     LEFT JOIN devices d ON d.id = i.device_id AND d.school_id = i.school_id";

macro_rules! incident_from_row {
    ($row:expr) => {{
        let row = $row;
        let given: Option<String> = row.try_get("given_name")?;
        let family: Option<String> = row.try_get("family_name")?;
        let person_username: Option<String> = row.try_get("person_username")?;
        let status: String = row.try_get("status")?;
        let occurred_at: Option<i64> = row.try_get("occurred_at")?;
        let closed_at: Option<i64> = row.try_get("closed_at")?;
        let child_protection: i64 = row.try_get("child_protection")?;
        let welfare: i64 = row.try_get("welfare")?;
        Incident {
            id: IncidentId(row.try_get("id")?),
            created_at: timestamp(row.try_get("created_at")?),
            created_by: row.try_get("created_by")?,
            audience: row.try_get("audience")?,
            kind: row.try_get("kind")?,
            welfare: welfare != 0,
            person: row.try_get::<Option<i64>, _>("person_id")?.map(PersonId),
            person_name: match (given, family, person_username) {
                (Some(given), Some(family), Some(username)) => {
                    Some(format!("{given} {family} ({username})"))
                }
                _ => None,
            },
            username: row.try_get("username")?,
            station: row.try_get("station")?,
            device: row.try_get::<Option<i64>, _>("device_id")?.map(DeviceId),
            device_name: row.try_get("device_name")?,
            occurred_at: occurred_at.map(timestamp),
            evidence: row.try_get("evidence")?,
            reported_by: row.try_get("reported_by")?,
            child_protection: child_protection != 0,
            status: status.parse()?,
            closed_at: closed_at.map(timestamp),
            closed_by: row.try_get("closed_by")?,
        }
    }};
}

/// Escalates alert `$alert` into incident `$incident` within transaction `$tx`: the alert must
/// be new or triaged; it becomes escalated (with its history row), the incident gets an `alert`
/// entry, and the blocked requests behind the alert (its subject's, from its first to its last
/// repeat) are linked to the incident.
macro_rules! escalate_into {
    ($tx:expr, $school:expr, $incident:expr, $alert:expr, $actor:expr, $now:expr) => {{
        let row = sqlx::query(
            "SELECT status, summary, created_at, last_seen, person_id, device_id, client_ip
             FROM alerts WHERE school_id = $1 AND id = $2",
        )
        .bind($school)
        .bind($alert)
        .fetch_optional(&mut *$tx)
        .await?
        .ok_or(StoreError::NotFound("alert"))?;
        let status: AlertStatus = row.try_get::<String, _>("status")?.parse()?;
        if !status.can_become(AlertStatus::Escalated) {
            return Err(StoreError::Conflict(format!(
                "alert {} is {} and cannot be escalated",
                $alert,
                status.label().to_lowercase()
            )));
        }
        let summary: String = row.try_get("summary")?;
        let first: i64 = row.try_get("created_at")?;
        let last: Option<i64> = row.try_get("last_seen")?;
        let person: Option<i64> = row.try_get("person_id")?;
        let device: Option<i64> = row.try_get("device_id")?;
        let client_ip: Option<String> = row.try_get("client_ip")?;
        let changed = sqlx::query(
            "UPDATE alerts SET status = 'escalated', incident_id = $1, updated_at = $2
             WHERE school_id = $3 AND id = $4 AND status = $5",
        )
        .bind($incident)
        .bind($now)
        .bind($school)
        .bind($alert)
        .bind(status.as_str())
        .execute(&mut *$tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Err(StoreError::Conflict(format!(
                "alert {} was changed by someone else just now",
                $alert
            )));
        }
        sqlx::query(
            "INSERT INTO alert_changes (school_id, alert_id, at, actor, status, note)
             VALUES ($1, $2, $3, $4, 'escalated', $5)",
        )
        .bind($school)
        .bind($alert)
        .bind($now)
        .bind($actor)
        .bind(format!("escalated to incident {}", $incident))
        .execute(&mut *$tx)
        .await?;
        sqlx::query(
            "INSERT INTO incident_entries (school_id, incident_id, at, actor, kind, step, note)
             VALUES ($1, $2, $3, $4, 'alert', $5, $6)",
        )
        .bind($school)
        .bind($incident)
        .bind($now)
        .bind($actor)
        .bind($alert.to_string())
        .bind(&summary)
        .execute(&mut *$tx)
        .await?;
        if person.is_some() || device.is_some() || client_ip.is_some() {
            sqlx::query(
                "INSERT INTO incident_events (school_id, incident_id, event_id)
                 SELECT $1, $2, e.id FROM events e
                 WHERE e.school_id = $1 AND e.at >= $3 AND e.at <= $4
                   AND (CASE WHEN $5 <> 0 THEN e.person_id = $5
                             WHEN $6 <> 0 THEN e.device_id = $6
                             ELSE e.client_ip = $7 END)
                 ORDER BY e.at LIMIT 500
                 ON CONFLICT DO NOTHING",
            )
            .bind($school)
            .bind($incident)
            .bind(first)
            .bind(last.unwrap_or(first))
            .bind(person.unwrap_or(0))
            .bind(device.unwrap_or(0))
            .bind(client_ip.unwrap_or_default())
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

fn checked_text<'a>(what: &str, text: &'a str, max: usize) -> Result<&'a str> {
    let text = text.trim();
    if text.chars().count() > max {
        return Err(StoreError::Invalid(format!(
            "{what} is longer than {max} characters"
        )));
    }
    // PostgreSQL refuses NUL in text; other control characters (but line breaks) have no place
    // in a record either.
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(StoreError::Invalid(format!(
            "{what} contains control characters"
        )));
    }
    Ok(text)
}

impl Store {
    /// Records an incident, escalating `incident.alerts` into it, all in one transaction.
    /// Appendix 1 asks for the account username, the station or the approximate time (at least
    /// one), a description of the evidence and who reported it.
    pub async fn open_incident(
        &self,
        school: SchoolId,
        actor: &str,
        incident: &NewIncident,
    ) -> Result<IncidentId> {
        if !matches!(incident.audience.as_str(), "pupil" | "staff") {
            return Err(StoreError::Invalid(
                "say whether the incident is about a pupil or a member of staff".into(),
            ));
        }
        let kind = checked_text("the incident type", &incident.kind, MAX_FIELD)?;
        let username = checked_text("the username", &incident.username, MAX_FIELD)?;
        let station = checked_text("the station", &incident.station, MAX_FIELD)?;
        let evidence = checked_text("the evidence", &incident.evidence, MAX_INCIDENT_TEXT)?;
        let reported_by = checked_text("who reported it", &incident.reported_by, MAX_FIELD)?;
        if kind.is_empty() {
            return Err(StoreError::Invalid("choose the type of incident".into()));
        }
        if username.is_empty() && station.is_empty() && incident.occurred_at.is_none() {
            return Err(StoreError::Invalid(
                "record the account username, the station or the approximate time".into(),
            ));
        }
        if evidence.is_empty() {
            return Err(StoreError::Invalid(
                "describe the evidence briefly (what was seen, where)".into(),
            ));
        }
        if reported_by.is_empty() {
            return Err(StoreError::Invalid("say who reported it".into()));
        }
        if incident.welfare && incident.audience != "pupil" {
            return Err(StoreError::Invalid(
                "a welfare concern is about a pupil: a concern about a member of staff is an \
                 allegation, recorded as a staff incident"
                    .into(),
            ));
        }
        let mut people: Vec<PersonId> = incident.person.into_iter().collect();
        for other in &incident.others {
            if !people.contains(other) {
                people.push(*other);
            }
        }
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            for person in &people {
                sqlx::query("SELECT id FROM people WHERE school_id = $1 AND id = $2")
                    .bind(school.0)
                    .bind(person.0)
                    .fetch_optional(&mut *transaction)
                    .await?
                    .ok_or(StoreError::NotFound("person"))?;
            }
            if let Some(device) = incident.device {
                sqlx::query("SELECT id FROM devices WHERE school_id = $1 AND id = $2")
                    .bind(school.0)
                    .bind(device.0)
                    .fetch_optional(&mut *transaction)
                    .await?
                    .ok_or(StoreError::NotFound("device"))?;
            }
            let row = sqlx::query(
                "INSERT INTO incidents (school_id, created_at, created_by, audience, kind, person_id,
                   username, station, occurred_at, evidence, reported_by, welfare, device_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
            )
            .bind(school.0)
            .bind(now)
            .bind(actor)
            .bind(&incident.audience)
            .bind(kind)
            .bind(incident.person.map(|p| p.0))
            .bind(username)
            .bind(station)
            .bind(incident.occurred_at.map(micros))
            .bind(evidence)
            .bind(reported_by)
            .bind(i64::from(incident.welfare))
            .bind(incident.device.map(|d| d.0))
            .fetch_one(&mut *transaction)
            .await?;
            let id: i64 = row.try_get(0)?;
            for person in &people {
                sqlx::query(
                    "INSERT INTO incident_people (school_id, incident_id, person_id, added_at, added_by)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(school.0)
                .bind(id)
                .bind(person.0)
                .bind(now)
                .bind(actor)
                .execute(&mut *transaction)
                .await?;
            }
            for alert in &incident.alerts {
                escalate_into!(transaction, school.0, id, alert.0, actor, now);
            }
            transaction.commit().await?;
            Ok(IncidentId(id))
        })
    }

    /// Escalates one more alert into an open incident (with the blocked requests behind it).
    pub async fn link_alert_to_incident(
        &self,
        school: SchoolId,
        incident: IncidentId,
        alert: AlertId,
        actor: &str,
    ) -> Result<()> {
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            let status: String = sqlx::query(
                "SELECT status FROM incidents WHERE school_id = $1 AND id = $2",
            )
            .bind(school.0)
            .bind(incident.0)
            .fetch_optional(&mut *transaction)
            .await?
            .ok_or(StoreError::NotFound("incident"))?
            .try_get(0)?;
            if status != IncidentStatus::Open.as_str() {
                return Err(StoreError::Conflict(format!(
                    "incident {incident} is signed off"
                )));
            }
            escalate_into!(transaction, school.0, incident.0, alert.0, actor, now);
            transaction.commit().await?;
        });
        Ok(())
    }

    /// Everyone an incident `scope` may see is about: "Given Family (username)" by id, in the
    /// order they were added.
    pub async fn incident_people(
        &self,
        school: SchoolId,
        scope: IncidentScope<'_>,
        id: IncidentId,
    ) -> Result<Vec<(PersonId, String)>> {
        let (all, audience, recorder) = scope.bind_values();
        let sql = format!(
            "SELECT p.id, p.given_name, p.family_name, p.username
             FROM incident_people ip
             JOIN incidents i ON i.id = ip.incident_id AND i.school_id = ip.school_id
             JOIN people p ON p.id = ip.person_id AND p.school_id = ip.school_id
             WHERE ip.school_id = $1 AND ip.incident_id = $5 AND {}
             ORDER BY CASE WHEN ip.person_id = i.person_id THEN 0 ELSE 1 END, ip.added_at,
                      p.family_name, p.given_name",
            visible(2)
        );
        dispatch!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(all)
                .bind(audience)
                .bind(recorder)
                .bind(id.0)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    let given: String = row.try_get(1)?;
                    let family: String = row.try_get(2)?;
                    let username: String = row.try_get(3)?;
                    Ok((PersonId(row.try_get(0)?), format!("{given} {family} ({username})")))
                })
                .collect()
        })
    }

    /// Adds a person to an open incident `scope` may see, with a note entry saying who was
    /// added; `false` (and nothing written) when they are on it already.
    pub async fn add_person_to_incident(
        &self,
        school: SchoolId,
        scope: IncidentScope<'_>,
        id: IncidentId,
        person: PersonId,
        actor: &str,
    ) -> Result<bool> {
        let incident = self.incident(school, scope, id).await?;
        if incident.status == IncidentStatus::Closed {
            return Err(StoreError::Conflict(format!("incident {id} is signed off")));
        }
        let person = self.person(school, person).await?;
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            let added = sqlx::query(
                "INSERT INTO incident_people (school_id, incident_id, person_id, added_at, added_by)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(school.0)
            .bind(id.0)
            .bind(person.id.0)
            .bind(now)
            .bind(actor)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
            if added == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO incident_entries (school_id, incident_id, at, actor, kind, note)
                 VALUES ($1, $2, $3, $4, 'note', $5)",
            )
            .bind(school.0)
            .bind(id.0)
            .bind(now)
            .bind(actor)
            .bind(format!(
                "Added {} {} ({}) to this record",
                person.given_name, person.family_name, person.username
            ))
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await?;
            Ok(true)
        })
    }

    /// Incidents `scope` may see, newest first.
    pub async fn incidents(
        &self,
        school: SchoolId,
        scope: IncidentScope<'_>,
        filter: &IncidentFilter,
    ) -> Result<Vec<Incident>> {
        let (all, audience, recorder) = scope.bind_values();
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM}
             WHERE i.school_id = $1 AND {}
               AND ($5 = '' OR i.status = $5)
               AND ($6 = 0 OR EXISTS (SELECT 1 FROM incident_people ip
                    WHERE ip.school_id = i.school_id AND ip.incident_id = i.id
                      AND ip.person_id = $6))
               AND ($7 = '' OR lower(i.username) = lower($7))
               AND i.created_at < $8
             ORDER BY i.created_at DESC, i.id DESC LIMIT $9",
            visible(2)
        );
        dispatch!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(all)
                .bind(audience)
                .bind(recorder)
                .bind(filter.status.map_or("", IncidentStatus::as_str))
                .bind(filter.person.map_or(0, |p| p.0))
                .bind(filter.username.as_deref().unwrap_or("").trim())
                .bind(filter.before.map_or(i64::MAX, micros))
                .bind(filter.limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|row| Ok(incident_from_row!(row))).collect()
        })
    }

    /// One incident, if `scope` may see it (`NotFound` otherwise: a reader is not told that an
    /// incident they may not see exists).
    pub async fn incident(
        &self,
        school: SchoolId,
        scope: IncidentScope<'_>,
        id: IncidentId,
    ) -> Result<Incident> {
        let (all, audience, recorder) = scope.bind_values();
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE i.school_id = $1 AND i.id = $5 AND {}",
            visible(2)
        );
        dispatch!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(all)
                .bind(audience)
                .bind(recorder)
                .bind(id.0)
                .fetch_optional(pool)
                .await?
                .ok_or(StoreError::NotFound("incident"))?;
            Ok(incident_from_row!(&row))
        })
    }

    /// An incident's entries, oldest first (empty if `scope` may not see it).
    pub async fn incident_entries(
        &self,
        school: SchoolId,
        scope: IncidentScope<'_>,
        id: IncidentId,
    ) -> Result<Vec<IncidentEntry>> {
        let (all, audience, recorder) = scope.bind_values();
        let sql = format!(
            "SELECT n.id, n.at, n.actor, n.kind, n.step, n.answer, n.note, n.corrects
             FROM incident_entries n
             JOIN incidents i ON i.id = n.incident_id AND i.school_id = n.school_id
             WHERE n.school_id = $1 AND n.incident_id = $5 AND {}
             ORDER BY n.id",
            visible(2)
        );
        dispatch!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(all)
                .bind(audience)
                .bind(recorder)
                .bind(id.0)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    let kind: String = row.try_get("kind")?;
                    Ok(IncidentEntry {
                        id: row.try_get("id")?,
                        at: timestamp(row.try_get("at")?),
                        actor: row.try_get("actor")?,
                        kind: kind.parse()?,
                        step: row.try_get("step")?,
                        answer: row.try_get("answer")?,
                        note: row.try_get("note")?,
                        corrects: row.try_get("corrects")?,
                    })
                })
                .collect()
        })
    }

    /// Adds a note, an answer or an action taken to an incident `scope` may see. A signed-off
    /// incident takes notes only. `corrects` must name an earlier entry of the same incident and
    /// kind.
    pub async fn add_incident_entry(
        &self,
        school: SchoolId,
        scope: IncidentScope<'_>,
        id: IncidentId,
        actor: &str,
        entry: &NewEntry,
    ) -> Result<i64> {
        if !matches!(
            entry.kind,
            EntryKind::Note | EntryKind::Step | EntryKind::Action
        ) {
            return Err(StoreError::Invalid(format!(
                "a {} entry cannot be added directly",
                entry.kind
            )));
        }
        let note = checked_text("the note", &entry.note, MAX_INCIDENT_TEXT)?;
        let step = checked_text("the step", &entry.step, MAX_FIELD)?;
        let answer = checked_text("the answer", &entry.answer, MAX_FIELD)?;
        if entry.kind == EntryKind::Note && note.is_empty() {
            return Err(StoreError::Invalid("write the note".into()));
        }
        if entry.kind != EntryKind::Note && step.is_empty() {
            return Err(StoreError::Invalid("say which step or action".into()));
        }
        let incident = self.incident(school, scope, id).await?;
        if incident.status == IncidentStatus::Closed && entry.kind != EntryKind::Note {
            return Err(StoreError::Conflict(format!(
                "incident {id} is signed off: only notes can be added"
            )));
        }
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            if let Some(corrects) = entry.corrects {
                let kind: String = sqlx::query(
                    "SELECT kind FROM incident_entries WHERE school_id = $1 AND incident_id = $2 AND id = $3",
                )
                .bind(school.0)
                .bind(id.0)
                .bind(corrects)
                .fetch_optional(&mut *transaction)
                .await?
                .ok_or(StoreError::NotFound("entry to correct"))?
                .try_get(0)?;
                if kind != entry.kind.as_str() {
                    return Err(StoreError::Invalid(format!(
                        "entry {corrects} is a {kind}, not a {}",
                        entry.kind
                    )));
                }
            }
            if let Some(mark) = entry.child_protection {
                sqlx::query("UPDATE incidents SET child_protection = $1 WHERE school_id = $2 AND id = $3")
                    .bind(i64::from(mark))
                    .bind(school.0)
                    .bind(id.0)
                    .execute(&mut *transaction)
                    .await?;
            }
            let row = sqlx::query(
                "INSERT INTO incident_entries (school_id, incident_id, at, actor, kind, step, answer, note, corrects)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(school.0)
            .bind(id.0)
            .bind(now)
            .bind(actor)
            .bind(entry.kind.as_str())
            .bind(step)
            .bind(answer)
            .bind(note)
            .bind(entry.corrects)
            .fetch_one(&mut *transaction)
            .await?;
            let entry_id: i64 = row.try_get(0)?;
            transaction.commit().await?;
            Ok(entry_id)
        })
    }

    /// Signs an open incident off (closes it), closing its escalated alerts with it.
    pub async fn sign_off_incident(
        &self,
        school: SchoolId,
        id: IncidentId,
        actor: &str,
        note: &str,
    ) -> Result<()> {
        let note = checked_text("the note", note, MAX_INCIDENT_TEXT)?;
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE incidents SET status = 'closed', closed_at = $1, closed_by = $2
                 WHERE school_id = $3 AND id = $4 AND status = 'open'",
            )
            .bind(now)
            .bind(actor)
            .bind(school.0)
            .bind(id.0)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
            if changed != 1 {
                return Err(StoreError::Conflict(format!(
                    "incident {id} is not open (already signed off, or not found)"
                )));
            }
            sqlx::query(
                "INSERT INTO incident_entries (school_id, incident_id, at, actor, kind, note)
                 VALUES ($1, $2, $3, $4, 'signoff', $5)",
            )
            .bind(school.0)
            .bind(id.0)
            .bind(now)
            .bind(actor)
            .bind(note)
            .execute(&mut *transaction)
            .await?;
            sqlx::query(
                "INSERT INTO alert_changes (school_id, alert_id, at, actor, status, note)
                 SELECT school_id, id, $1, $2, 'closed', $3 FROM alerts
                 WHERE school_id = $4 AND incident_id = $5 AND status = 'escalated'",
            )
            .bind(now)
            .bind(actor)
            .bind(format!("incident {id} signed off"))
            .bind(school.0)
            .bind(id.0)
            .execute(&mut *transaction)
            .await?;
            sqlx::query(
                "UPDATE alerts SET status = 'closed', updated_at = $1
                 WHERE school_id = $2 AND incident_id = $3 AND status = 'escalated'",
            )
            .bind(now)
            .bind(school.0)
            .bind(id.0)
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await?;
        });
        Ok(())
    }

    /// The blocked requests linked to an incident `scope` may see, oldest first.
    pub async fn incident_events(
        &self,
        school: SchoolId,
        scope: IncidentScope<'_>,
        id: IncidentId,
    ) -> Result<Vec<EventRow>> {
        let (all, audience, recorder) = scope.bind_values();
        let sql = format!(
            "SELECT {EVENT_ROW_COLUMNS} FROM {EVENT_FROM}
             JOIN incident_events l ON l.event_id = e.id AND l.school_id = e.school_id
             JOIN incidents i ON i.id = l.incident_id AND i.school_id = l.school_id
             WHERE e.school_id = $1 AND l.incident_id = $5 AND {}
             ORDER BY e.at, e.id",
            visible(2)
        );
        dispatch!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(all)
                .bind(audience)
                .bind(recorder)
                .bind(id.0)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|row| Ok(event_row!(row))).collect()
        })
    }
}

/// A file attached to an incident, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentFile {
    /// Its id.
    pub id: i64,
    /// When it was attached.
    pub uploaded_at: Timestamp,
    /// Who attached it.
    pub uploaded_by: String,
    /// Its name as uploaded, cleaned.
    pub name: String,
    /// What Ward found the bytes to be (`application/pdf`, `image/png`…).
    pub content_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// Its SHA-256, in hex.
    pub sha256: String,
}

/// A file to attach: the caller has checked what the bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIncidentFile<'a> {
    /// Its name as uploaded.
    pub name: &'a str,
    /// What the bytes were found to be.
    pub content_type: &'a str,
    /// The bytes.
    pub data: &'a [u8],
}

const FILE_COLUMNS: &str =
    "f.id, f.uploaded_at, f.uploaded_by, f.name, f.content_type, f.size, f.sha256";

macro_rules! file_from_row {
    ($row:expr) => {{
        let row = $row;
        IncidentFile {
            id: row.try_get("id")?,
            uploaded_at: timestamp(row.try_get("uploaded_at")?),
            uploaded_by: row.try_get("uploaded_by")?,
            name: row.try_get("name")?,
            content_type: row.try_get("content_type")?,
            size: row.try_get("size")?,
            sha256: row.try_get("sha256")?,
        }
    }};
}

/// A file's name as kept: no path, no control characters, at most 120 characters, never empty.
fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | '`'))
        .take(120)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        "attachment".to_owned()
    } else {
        cleaned
    }
}

impl Store {
    /// Attaches a file to an incident `scope` may see (signed-off ones too: evidence can come
    /// later), with a note entry naming it and its SHA-256. Returns the file as kept (without
    /// its bytes).
    pub async fn attach_incident_file(
        &self,
        school: SchoolId,
        scope: IncidentScope<'_>,
        id: IncidentId,
        actor: &str,
        file: &NewIncidentFile<'_>,
    ) -> Result<IncidentFile> {
        use sha2::Digest as _;
        self.incident(school, scope, id).await?;
        if file.data.is_empty() {
            return Err(StoreError::Invalid("the file is empty".into()));
        }
        let name = clean_file_name(file.name);
        let sha256 = hex::encode(sha2::Sha256::digest(file.data));
        let size = i64::try_from(file.data.len())
            .map_err(|_| StoreError::Invalid("the file is too large".into()))?;
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            let row = sqlx::query(
                "INSERT INTO incident_files (school_id, incident_id, uploaded_at, uploaded_by, name,
                   content_type, size, sha256, data)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(school.0)
            .bind(id.0)
            .bind(now)
            .bind(actor)
            .bind(&name)
            .bind(file.content_type)
            .bind(size)
            .bind(&sha256)
            .bind(file.data)
            .fetch_one(&mut *transaction)
            .await?;
            let file_id: i64 = row.try_get(0)?;
            let kept = IncidentFile {
                id: file_id,
                uploaded_at: timestamp(now),
                uploaded_by: actor.to_owned(),
                name: name.clone(),
                content_type: file.content_type.to_owned(),
                size,
                sha256: sha256.clone(),
            };
            sqlx::query(
                "INSERT INTO incident_entries (school_id, incident_id, at, actor, kind, note)
                 VALUES ($1, $2, $3, $4, 'note', $5)",
            )
            .bind(school.0)
            .bind(id.0)
            .bind(now)
            .bind(actor)
            .bind(format!(
                "Attached {name} ({size} bytes, SHA-256 {sha256})"
            ))
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await?;
            Ok(kept)
        })
    }

    /// The files attached to an incident `scope` may see, oldest first.
    pub async fn incident_files(
        &self,
        school: SchoolId,
        scope: IncidentScope<'_>,
        id: IncidentId,
    ) -> Result<Vec<IncidentFile>> {
        let (all, audience, recorder) = scope.bind_values();
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM incident_files f
             JOIN incidents i ON i.id = f.incident_id AND i.school_id = f.school_id
             WHERE f.school_id = $1 AND f.incident_id = $5 AND {}
             ORDER BY f.id",
            visible(2)
        );
        dispatch!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(all)
                .bind(audience)
                .bind(recorder)
                .bind(id.0)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|row| Ok(file_from_row!(row))).collect()
        })
    }

    /// One attached file with its bytes, if `scope` may see its incident.
    pub async fn incident_file(
        &self,
        school: SchoolId,
        scope: IncidentScope<'_>,
        id: IncidentId,
        file: i64,
    ) -> Result<(IncidentFile, Vec<u8>)> {
        let (all, audience, recorder) = scope.bind_values();
        let sql = format!(
            "SELECT {FILE_COLUMNS}, f.data FROM incident_files f
             JOIN incidents i ON i.id = f.incident_id AND i.school_id = f.school_id
             WHERE f.school_id = $1 AND f.incident_id = $5 AND f.id = $6 AND {}",
            visible(2)
        );
        dispatch!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(all)
                .bind(audience)
                .bind(recorder)
                .bind(id.0)
                .bind(file)
                .fetch_optional(pool)
                .await?
                .ok_or(StoreError::NotFound("file"))?;
            let data: Vec<u8> = row.try_get("data")?;
            Ok((file_from_row!(&row), data))
        })
    }
}
