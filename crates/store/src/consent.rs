//! Photo and video consent (DESIGN.md A3, issue 27): each written answer for a pupil and a
//! purpose (migration 25), the history, and where each pupil stands now. The rules (purposes,
//! written only, the file-name check) are `ward_records::consent`.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use sqlx::Row;
use ward_records::consent::{Purpose, Standing, Written};

use crate::{
    AccountId, PersonId, Result, SchoolId, Store, StoreError, dispatch, micros, timestamp,
};

/// Longest parent's name and note kept.
pub const MAX_CONSENT_TEXT: usize = 2000;

/// A written answer to record: for one pupil, some purposes (a partial answer leaves the others
/// as they were).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConsent {
    /// The pupil.
    pub person: PersonId,
    /// Each purpose answered: given (true) or refused or withdrawn (false).
    pub answers: Vec<(Purpose, bool)>,
    /// How it was written.
    pub written: Written,
    /// The parent or carer who answered.
    pub parent_name: String,
    /// For a paper form: the date written on it (`YYYY-MM-DD`).
    pub form_dated: Option<String>,
    /// Anything the school notes with it.
    pub note: String,
}

/// One answer as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// Its id.
    pub id: i64,
    /// The purpose.
    pub purpose: Purpose,
    /// Given, or refused or withdrawn.
    pub given: bool,
    /// How it was written.
    pub written: Written,
    /// Who answered.
    pub parent_name: String,
    /// A paper form's date.
    pub form_dated: Option<String>,
    /// The school's note.
    pub note: String,
    /// Who recorded it (`parent` for the parent's own link).
    pub recorded_by: String,
    /// When.
    pub recorded_at: Timestamp,
}

/// Where a pupil stands now, for every purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PupilConsent {
    /// The pupil.
    pub person: PersonId,
    /// Their name.
    pub name: String,
    /// Forename.
    pub given_name: String,
    /// Surname.
    pub family_name: String,
    /// Their log-in name.
    pub username: String,
    /// Their year group.
    pub year_group: Option<String>,
    /// Their class.
    pub class_name: Option<String>,
    /// Per purpose.
    pub standing: BTreeMap<Purpose, Standing>,
}

impl PupilConsent {
    /// Where they stand for `purpose`.
    pub fn for_purpose(&self, purpose: Purpose) -> Standing {
        self.standing
            .get(&purpose)
            .copied()
            .unwrap_or(Standing::NotAsked)
    }
}

fn checked(consent: &NewConsent) -> Result<()> {
    let invalid = |message: &str| Err(StoreError::Invalid(message.to_owned()));
    if consent.answers.is_empty() {
        return invalid("answer at least one purpose");
    }
    let parent = consent.parent_name.trim();
    if parent.is_empty() || parent.chars().count() > 200 {
        return invalid(
            "write the name of the parent or carer who answered (up to 200 characters)",
        );
    }
    if consent.note.chars().count() > MAX_CONSENT_TEXT {
        return invalid("the note is too long");
    }
    if consent.written == Written::PaperForm {
        let dated = consent.form_dated.as_deref().unwrap_or("").trim();
        let date = dated.parse::<jiff::civil::Date>().map_err(|_| {
            StoreError::Invalid("write the date on the paper form (YYYY-MM-DD)".into())
        })?;
        // A day's grace: the school's day may be ahead of UTC's.
        let tomorrow = Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date()
            .tomorrow()
            .map_err(|error| StoreError::Invalid(error.to_string()))?;
        if date > tomorrow {
            return invalid("the form's date is in the future");
        }
    }
    Ok(())
}

impl Store {
    /// Records a written answer for a pupil of `school`, by `recorded_by`, in one transaction.
    pub async fn record_consent(
        &self,
        school: SchoolId,
        consent: &NewConsent,
        recorded_by: &str,
    ) -> Result<()> {
        checked(consent)?;
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let mut transaction = pool.begin().await?;
            let pupil = sqlx::query(
                "SELECT 1 FROM people WHERE school_id = $1 AND id = $2 AND kind = 'pupil'",
            )
            .bind(school.0)
            .bind(consent.person.0)
            .fetch_optional(&mut *transaction)
            .await?;
            if pupil.is_none() {
                return Err(StoreError::NotFound("pupil"));
            }
            for (purpose, given) in &consent.answers {
                sqlx::query(
                    "INSERT INTO consents (school_id, person_id, purpose, given, written, parent_name,
                       form_dated, note, recorded_by, recorded_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(school.0)
                .bind(consent.person.0)
                .bind(purpose.as_str())
                .bind(*given)
                .bind(consent.written.as_str())
                .bind(consent.parent_name.trim())
                .bind(consent.form_dated.as_deref().map(str::trim))
                .bind(consent.note.trim())
                .bind(recorded_by)
                .bind(now)
                .execute(&mut *transaction)
                .await?;
            }
            transaction.commit().await?;
        });
        Ok(())
    }

    /// Every answer recorded for a pupil of `school`, newest first.
    pub async fn consent_history(
        &self,
        school: SchoolId,
        person: PersonId,
    ) -> Result<Vec<ConsentRecord>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, purpose, given, written, parent_name, form_dated, note, recorded_by, recorded_at
                 FROM consents WHERE school_id = $1 AND person_id = $2 ORDER BY id DESC",
            )
            .bind(school.0)
            .bind(person.0)
            .fetch_all(pool)
            .await?;
            let mut records = Vec::with_capacity(rows.len());
            for row in &rows {
                let purpose: String = row.try_get(1)?;
                let written: String = row.try_get(3)?;
                records.push(ConsentRecord {
                    id: row.try_get(0)?,
                    purpose: purpose
                        .parse()
                        .map_err(|error: ward_records::consent::BadPurpose| {
                            StoreError::Invalid(error.to_string())
                        })?,
                    given: row.try_get(2)?,
                    written: Written::named(&written).ok_or_else(|| {
                        StoreError::Invalid(format!("unknown written source {written:?}"))
                    })?,
                    parent_name: row.try_get(4)?,
                    form_dated: row.try_get(5)?,
                    note: row.try_get(6)?,
                    recorded_by: row.try_get(7)?,
                    recorded_at: timestamp(row.try_get(8)?),
                });
            }
            Ok(records)
        })
    }

    /// Where each current pupil of `school` (of one class, if given) stands for every purpose,
    /// by class and name.
    pub async fn pupil_consents(
        &self,
        school: SchoolId,
        class: Option<&str>,
    ) -> Result<Vec<PupilConsent>> {
        let mut latest: HashMap<(i64, Purpose), bool> = HashMap::new();
        let mut pupils = Vec::new();
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT person_id, purpose, given FROM consents WHERE school_id = $1 ORDER BY id",
            )
            .bind(school.0)
            .fetch_all(pool)
            .await?;
            for row in &rows {
                let purpose: String = row.try_get(1)?;
                if let Ok(purpose) = purpose.parse::<Purpose>() {
                    // In id order: the last answer stands.
                    latest.insert((row.try_get(0)?, purpose), row.try_get(2)?);
                }
            }
            let people = sqlx::query(
                "SELECT id, username, given_name, family_name, year_group, class_name FROM people
                 WHERE school_id = $1 AND kind = 'pupil' AND left_at IS NULL
                   AND ($2 = '' OR class_name = $2)
                 ORDER BY class_name, family_name, given_name, id",
            )
            .bind(school.0)
            .bind(class.unwrap_or(""))
            .fetch_all(pool)
            .await?;
            for row in &people {
                let id: i64 = row.try_get(0)?;
                let given: String = row.try_get(2)?;
                let family: String = row.try_get(3)?;
                let standing = Purpose::ALL
                    .into_iter()
                    .map(|purpose| {
                        let standing = match latest.get(&(id, purpose)) {
                            Some(true) => Standing::Given,
                            Some(false) => Standing::Refused,
                            None => Standing::NotAsked,
                        };
                        (purpose, standing)
                    })
                    .collect();
                pupils.push(PupilConsent {
                    person: PersonId(id),
                    name: format!("{given} {family}").trim().to_owned(),
                    given_name: given,
                    family_name: family,
                    username: row.try_get(1)?,
                    year_group: row.try_get(4)?,
                    class_name: row.try_get(5)?,
                    standing,
                });
            }
        });
        Ok(pupils)
    }
}

impl Store {
    /// The classes `account` teaches (its own school's), by name.
    pub async fn account_classes(
        &self,
        school: SchoolId,
        account: AccountId,
    ) -> Result<Vec<String>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT class_name FROM account_classes WHERE school_id = $1 AND account_id = $2
                 ORDER BY class_name",
            )
            .bind(school.0)
            .bind(account.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
        })
    }

    /// Sets the classes `account` of `school` teaches.
    pub async fn set_account_classes(
        &self,
        school: SchoolId,
        account: AccountId,
        classes: &[String],
    ) -> Result<()> {
        for class in classes {
            if class.trim().is_empty()
                || class.chars().count() > 50
                || class.chars().any(char::is_control)
            {
                return Err(StoreError::Invalid(format!(
                    "{class:?} is not a class name"
                )));
            }
        }
        dispatch!(self, pool => {
            let mut transaction = pool.begin().await?;
            let found = sqlx::query("SELECT 1 FROM accounts WHERE school_id = $1 AND id = $2")
                .bind(school.0)
                .bind(account.0)
                .fetch_optional(&mut *transaction)
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound("account"));
            }
            sqlx::query("DELETE FROM account_classes WHERE school_id = $1 AND account_id = $2")
                .bind(school.0)
                .bind(account.0)
                .execute(&mut *transaction)
                .await?;
            let mut seen = std::collections::BTreeSet::new();
            for class in classes {
                if !seen.insert(class.trim().to_owned()) {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO account_classes (school_id, account_id, class_name) VALUES ($1, $2, $3)",
                )
                .bind(school.0)
                .bind(account.0)
                .bind(class.trim())
                .execute(&mut *transaction)
                .await?;
            }
            transaction.commit().await?;
        });
        Ok(())
    }
}
