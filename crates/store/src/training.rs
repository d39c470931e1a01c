//! Staff training and induction (DESIGN.md A5, issue 27, migration 27): the courses each
//! member of staff completed, with evidence and renewal dates, and who has acknowledged reading
//! the online safety policy in force.

use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::Row;

use crate::{
    AccountId, PersonId, Result, SchoolId, Store, StoreError, dispatch, micros, timestamp,
};

/// A course completed, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTraining {
    /// The member of staff.
    pub person: PersonId,
    /// The course (e.g. "Online safety induction", "CEOP Thinkuknow").
    pub course: String,
    /// When it was completed.
    pub completed_on: Date,
    /// When it is due again, if it is renewed.
    pub renewal_due: Option<Date>,
    /// The evidence (a certificate's number, where it is kept).
    pub evidence: String,
}

/// A course completed, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingRecord {
    /// Its id.
    pub id: i64,
    /// The member of staff.
    pub person: PersonId,
    /// Their name.
    pub name: String,
    /// The course.
    pub course: String,
    /// When it was completed.
    pub completed_on: Date,
    /// When it is due again.
    pub renewal_due: Option<Date>,
    /// The evidence.
    pub evidence: String,
    /// Who recorded it.
    pub recorded_by: String,
    /// When.
    pub recorded_at: Timestamp,
}

fn date(text: &str) -> Result<Date> {
    text.parse()
        .map_err(|_| StoreError::Invalid(format!("{text:?} is not a date")))
}

impl Store {
    /// Records a course a member of staff of `school` completed.
    pub async fn add_training(
        &self,
        school: SchoolId,
        training: &NewTraining,
        recorded_by: &str,
    ) -> Result<i64> {
        let course = training.course.trim();
        if course.is_empty() || course.chars().count() > 200 {
            return Err(StoreError::Invalid(
                "write the course's name (up to 200 characters)".into(),
            ));
        }
        if training.evidence.chars().count() > 2000 {
            return Err(StoreError::Invalid("the evidence is too long".into()));
        }
        if training
            .renewal_due
            .is_some_and(|due| due <= training.completed_on)
        {
            return Err(StoreError::Invalid(
                "the renewal date must come after the course".into(),
            ));
        }
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let staff = sqlx::query(
                "SELECT 1 FROM people WHERE school_id = $1 AND id = $2 AND kind = 'staff'",
            )
            .bind(school.0)
            .bind(training.person.0)
            .fetch_optional(pool)
            .await?;
            if staff.is_none() {
                return Err(StoreError::NotFound("member of staff"));
            }
            let row = sqlx::query(
                "INSERT INTO training_records (school_id, person_id, course, completed_on, renewal_due, evidence, recorded_by, recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(school.0)
            .bind(training.person.0)
            .bind(course)
            .bind(training.completed_on.to_string())
            .bind(training.renewal_due.map(|due| due.to_string()))
            .bind(training.evidence.trim())
            .bind(recorded_by)
            .bind(now)
            .fetch_one(pool)
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    /// Every course recorded at `school`, by staff name and newest first.
    pub async fn training_records(&self, school: SchoolId) -> Result<Vec<TrainingRecord>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT t.id, t.person_id, p.given_name, p.family_name, t.course, t.completed_on,
                        t.renewal_due, t.evidence, t.recorded_by, t.recorded_at
                 FROM training_records t JOIN people p ON p.id = t.person_id
                 WHERE t.school_id = $1
                 ORDER BY p.family_name, p.given_name, t.completed_on DESC, t.id DESC",
            )
            .bind(school.0)
            .fetch_all(pool)
            .await?;
            let mut records = Vec::with_capacity(rows.len());
            for row in &rows {
                let given: String = row.try_get(2)?;
                let family: String = row.try_get(3)?;
                let completed: String = row.try_get(5)?;
                let due: Option<String> = row.try_get(6)?;
                records.push(TrainingRecord {
                    id: row.try_get(0)?,
                    person: PersonId(row.try_get(1)?),
                    name: format!("{given} {family}").trim().to_owned(),
                    course: row.try_get(4)?,
                    completed_on: date(&completed)?,
                    renewal_due: due.as_deref().map(date).transpose()?,
                    evidence: row.try_get(7)?,
                    recorded_by: row.try_get(8)?,
                    recorded_at: timestamp(row.try_get(9)?),
                });
            }
            Ok(records)
        })
    }

    /// Claims, once across gateways, up to `limit` courses of `school` due again by `due_by`
    /// whose renewal nobody has been told of (each person's latest record of each course only:
    /// the newest course, then the newest recorded, as the Training page reads them).
    pub async fn claim_training_due(
        &self,
        school: SchoolId,
        due_by: Date,
        limit: i64,
    ) -> Result<Vec<TrainingRecord>> {
        let now = micros(Timestamp::now());
        let claimed: Vec<i64> = dispatch!(self, pool => {
            let rows = sqlx::query(
                "UPDATE training_records SET reminded_at = $3
                 WHERE id IN (
                   SELECT t.id FROM training_records t
                   WHERE t.school_id = $1 AND t.reminded_at IS NULL
                     AND t.renewal_due IS NOT NULL AND t.renewal_due <= $2
                     AND NOT EXISTS (SELECT 1 FROM training_records later
                                     WHERE later.school_id = t.school_id AND later.person_id = t.person_id
                                       AND later.course = t.course
                                       AND (later.completed_on > t.completed_on
                                            OR (later.completed_on = t.completed_on AND later.id > t.id)))
                   ORDER BY t.id LIMIT $4)
                   AND reminded_at IS NULL
                 RETURNING id",
            )
            .bind(school.0)
            .bind(due_by.to_string())
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| row.try_get(0)).collect::<std::result::Result<_, _>>()?
        });
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .training_records(school)
            .await?
            .into_iter()
            .filter(|record| claimed.contains(&record.id))
            .collect())
    }

    /// Gives claimed reminders back (their message could not be sent), to be tried again.
    pub async fn unclaim_training(&self, school: SchoolId, ids: &[i64]) -> Result<()> {
        dispatch!(self, pool => {
            for id in ids {
                sqlx::query("UPDATE training_records SET reminded_at = NULL WHERE school_id = $1 AND id = $2")
                    .bind(school.0)
                    .bind(*id)
                    .execute(pool)
                    .await?;
            }
        });
        Ok(())
    }

    /// `account` read policy version `version` (once is enough; again changes nothing).
    pub async fn record_policy_reading(
        &self,
        school: SchoolId,
        account: AccountId,
        version: i64,
    ) -> Result<()> {
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO policy_readings (school_id, account_id, policy_version, read_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (school_id, account_id, policy_version) DO NOTHING",
            )
            .bind(school.0)
            .bind(account.0)
            .bind(version)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The accounts of `school` that acknowledged reading policy version `version`, with when.
    pub async fn policy_readers(
        &self,
        school: SchoolId,
        version: i64,
    ) -> Result<Vec<(AccountId, Timestamp)>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT account_id, read_at FROM policy_readings
                 WHERE school_id = $1 AND policy_version = $2 ORDER BY read_at",
            )
            .bind(school.0)
            .bind(version)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| Ok((AccountId(row.try_get(0)?), timestamp(row.try_get(1)?))))
                .collect()
        })
    }
}
