//! Risk-detection exclusions (issue 7): a phrase, a site or a person the school has decided not
//! to watch, each with a written reason. Ended, never deleted, so what was left out, when, by
//! whom and why stays on record.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use sqlx::Row;

use crate::{PersonId, Result, SchoolId, Store, StoreError, dispatch, micros, timestamp};

/// What an exclusion leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExclusionKind {
    /// A listed phrase (as the list writes it, normalised): it no longer counts anywhere.
    Phrase,
    /// A site and its subdomains: its addresses and pages are not scanned.
    Site,
    /// A person: nothing they search for or read is scanned.
    Person,
}

impl ExclusionKind {
    /// Every kind, in the order the console offers them.
    pub const ALL: [ExclusionKind; 3] = [
        ExclusionKind::Phrase,
        ExclusionKind::Site,
        ExclusionKind::Person,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExclusionKind::Phrase => "phrase",
            ExclusionKind::Site => "site",
            ExclusionKind::Person => "person",
        }
    }
}

impl fmt::Display for ExclusionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExclusionKind {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<ExclusionKind> {
        ExclusionKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| StoreError::Invalid(format!("unknown exclusion kind {text:?}")))
    }
}

/// The fewest characters an exclusion's reason may have: a word or two is not a reason.
pub const MIN_EXCLUSION_REASON: usize = 10;
/// The most characters of an exclusion's value or reason.
const MAX_EXCLUSION_TEXT: usize = 2_000;

/// An exclusion to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExclusion {
    /// What it leaves out.
    pub kind: ExclusionKind,
    /// The phrase, the site's domain, or the person's id.
    pub value: String,
    /// Why (required).
    pub reason: String,
}

/// An exclusion as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// Its id.
    pub id: i64,
    /// What it leaves out.
    pub kind: ExclusionKind,
    /// The phrase, the domain, or the person's id.
    pub value: String,
    /// For a person: their name and username.
    pub person_name: Option<String>,
    /// For a person: their username (what the proxy sees when they log in).
    pub person_username: Option<String>,
    /// Why.
    pub reason: String,
    /// When it was added, and by whom.
    pub created_at: Timestamp,
    /// The console account that added it.
    pub created_by: String,
    /// When it was ended, and by whom, if it was.
    pub ended: Option<(Timestamp, String)>,
}

impl Store {
    /// Adds an exclusion for `school`, by the console account `actor`. The reason must say
    /// something; a person must be one of the school's; a site is written as its domain.
    pub async fn add_exclusion(
        &self,
        school: SchoolId,
        exclusion: &NewExclusion,
        actor: &str,
    ) -> Result<i64> {
        let reason = exclusion.reason.trim();
        if reason.chars().count() < MIN_EXCLUSION_REASON {
            return Err(StoreError::Invalid(format!(
                "write the reason for the exclusion (at least {MIN_EXCLUSION_REASON} characters): it is kept with it and in the audit log"
            )));
        }
        if reason.chars().count() > MAX_EXCLUSION_TEXT
            || exclusion.value.chars().count() > MAX_EXCLUSION_TEXT
        {
            return Err(StoreError::Invalid(format!(
                "the reason and the value are at most {MAX_EXCLUSION_TEXT} characters"
            )));
        }
        let value = match exclusion.kind {
            ExclusionKind::Phrase => {
                let phrase = exclusion.value.trim();
                if phrase.is_empty() {
                    return Err(StoreError::Invalid("which phrase?".into()));
                }
                phrase.to_owned()
            }
            ExclusionKind::Site => site_domain(&exclusion.value)?,
            ExclusionKind::Person => {
                let id: i64 = exclusion.value.trim().parse().map_err(|_| {
                    StoreError::Invalid(format!("not a person: {:?}", exclusion.value))
                })?;
                // Refuses a person of another school, or none, as not found.
                self.person(school, PersonId(id)).await?;
                id.to_string()
            }
        };
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let row = sqlx::query(
                "INSERT INTO detection_exclusions (school_id, kind, value, reason, created_at, created_by)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(school.0)
            .bind(exclusion.kind.as_str())
            .bind(&value)
            .bind(reason)
            .bind(now)
            .bind(actor)
            .fetch_one(pool)
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    /// Ends an exclusion: detection covers it again. Ending one already ended is a conflict.
    pub async fn end_exclusion(&self, school: SchoolId, id: i64, actor: &str) -> Result<Exclusion> {
        let now = micros(Timestamp::now());
        let changed = dispatch!(self, pool => {
            sqlx::query(
                "UPDATE detection_exclusions SET ended_at = $3, ended_by = $4
                 WHERE school_id = $1 AND id = $2 AND ended_at IS NULL",
            )
            .bind(school.0)
            .bind(id)
            .bind(now)
            .bind(actor)
            .execute(pool)
            .await?
            .rows_affected()
        });
        let exclusion = self
            .exclusions(school, true)
            .await?
            .into_iter()
            .find(|e| e.id == id)
            .ok_or(StoreError::NotFound("exclusion"))?;
        if changed == 0 {
            return Err(StoreError::Conflict(
                "that exclusion has already ended".into(),
            ));
        }
        Ok(exclusion)
    }

    /// The school's exclusions, newest first: those in force, or every one ever made.
    pub async fn exclusions(&self, school: SchoolId, with_ended: bool) -> Result<Vec<Exclusion>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT e.id, e.kind, e.value, e.reason, e.created_at, e.created_by, e.ended_at,
                        e.ended_by, p.given_name, p.family_name, p.username
                 FROM detection_exclusions e
                 LEFT JOIN people p ON e.kind = 'person' AND p.school_id = e.school_id
                      AND CAST(p.id AS TEXT) = e.value
                 WHERE e.school_id = $1 AND ($2 OR e.ended_at IS NULL)
                 ORDER BY e.created_at DESC, e.id DESC",
            )
            .bind(school.0)
            .bind(with_ended)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let kind: String = row.try_get("kind")?;
                    let ended_at: Option<i64> = row.try_get("ended_at")?;
                    let ended_by: Option<String> = row.try_get("ended_by")?;
                    let given: Option<String> = row.try_get("given_name")?;
                    let family: Option<String> = row.try_get("family_name")?;
                    let username: Option<String> = row.try_get("username")?;
                    Ok(Exclusion {
                        id: row.try_get("id")?,
                        kind: kind.parse()?,
                        value: row.try_get("value")?,
                        person_name: match (&given, &family, &username) {
                            (Some(g), Some(f), Some(u)) => Some(format!("{g} {f} ({u})")),
                            _ => None,
                        },
                        person_username: username,
                        reason: row.try_get("reason")?,
                        created_at: timestamp(row.try_get("created_at")?),
                        created_by: row.try_get("created_by")?,
                        ended: ended_at.map(|at| (timestamp(at), ended_by.unwrap_or_default())),
                    })
                })
                .collect()
        })
    }
}

/// A site exclusion's domain: `https://www.Example.org/page` → `www.example.org`.
fn site_domain(written: &str) -> Result<String> {
    let written = written.trim().to_ascii_lowercase();
    let rest = written
        .split_once("://")
        .map_or(written.as_str(), |(_, rest)| rest);
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default();
    let host = host
        .split(':')
        .next()
        .unwrap_or_default()
        .trim_end_matches('.');
    let valid = !host.is_empty()
        && host.contains('.')
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !valid {
        return Err(StoreError::Invalid(format!(
            "a site is written as its domain (example.org), not {:?}",
            written
        )));
    }
    Ok(host.to_owned())
}
