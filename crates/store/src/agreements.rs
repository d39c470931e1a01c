//! Acceptable-use agreements (DESIGN.md A1, issue 27): each readers' agreement in its published
//! versions, the answers people give (accepted or declined, for a school year, and where), and
//! who has and has not agreed. The rules (who reads which, the text, Ward's defaults, the
//! school year) are `ward_records::agreements`; nothing here is changed or removed once written.

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::Row;
use ward_records::Readers;
use ward_records::agreements::{check, default_agreement};

use crate::{
    AccountId, PersonId, Result, SchoolId, Store, StoreError, dispatch, micros, timestamp,
};

/// One published version of an agreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    /// Its id (answers name it).
    pub id: i64,
    /// Who it is for.
    pub readers: Readers,
    /// 1 for the first published, then one more each time.
    pub version: i64,
    /// Its title.
    pub title: String,
    /// Its text (`ward_records::agreements::parse_text`).
    pub body: String,
    /// When it was published.
    pub published_at: Timestamp,
    /// Who published it (`Ward` for Ward's default).
    pub published_by: String,
}

/// Who answered: a person (pupil, member of staff, guest) or a console account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signer {
    /// A person in the school's register.
    Person(PersonId),
    /// A console account.
    Account(AccountId),
}

/// An answer someone gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementAnswer {
    /// Accepted (or declined).
    pub accepted: bool,
    /// The version answered.
    pub version: i64,
    /// When.
    pub answered_at: Timestamp,
    /// Where: `portal`, `console`.
    pub place: String,
}

/// One line of the report of who has agreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementRow {
    /// Who.
    pub signer: Signer,
    /// Their name, as the console shows it.
    pub name: String,
    /// Their log-in name.
    pub username: String,
    /// Pupils: their year group.
    pub year_group: Option<String>,
    /// Pupils: their class.
    pub class_name: Option<String>,
    /// The policy group they browse as.
    pub group: Option<String>,
    /// Their latest answer this school year to any version of the readers' agreement.
    pub answer: Option<AgreementAnswer>,
}

impl AgreementRow {
    /// Whether they accepted `version` (the one in force) this school year.
    pub fn agreed_to(&self, version: i64) -> bool {
        self.answer
            .as_ref()
            .is_some_and(|answer| answer.accepted && answer.version == version)
    }
}

const COLUMNS: &str = "id, readers, version, title, body, published_at, published_by";

macro_rules! agreement_from_row {
    ($row:expr) => {{
        let row = $row;
        let readers: String = row.try_get("readers")?;
        Agreement {
            id: row.try_get("id")?,
            readers: readers
                .parse()
                .map_err(|error: ward_records::agreements::BadReaders| {
                    StoreError::Invalid(error.to_string())
                })?,
            version: row.try_get("version")?,
            title: row.try_get("title")?,
            body: row.try_get("body")?,
            published_at: timestamp(row.try_get("published_at")?),
            published_by: row.try_get("published_by")?,
        }
    }};
}

impl Store {
    /// The version of `readers`' agreement in force: the latest published, or Ward's default
    /// (published as version 1 the first time it is asked for).
    pub async fn agreement_in_force(
        &self,
        school: SchoolId,
        readers: Readers,
    ) -> Result<Agreement> {
        let sql = format!(
            "SELECT {COLUMNS} FROM agreements WHERE school_id = $1 AND readers = $2
             ORDER BY version DESC LIMIT 1"
        );
        // Read first: asked on every log-in, it writes (Ward's default, once) only when the
        // school has no version yet, so the read path takes no write lock.
        dispatch!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(readers.as_str())
                .fetch_optional(pool)
                .await?;
            if let Some(row) = row {
                return Ok(agreement_from_row!(&row));
            }
            let (title, body) = default_agreement(readers);
            sqlx::query(
                "INSERT INTO agreements (school_id, readers, version, title, body, published_at, published_by)
                 VALUES ($1, $2, 1, $3, $4, $5, 'Ward')
                 ON CONFLICT (school_id, readers, version) DO NOTHING",
            )
            .bind(school.0)
            .bind(readers.as_str())
            .bind(title)
            .bind(body)
            .bind(micros(Timestamp::now()))
            .execute(pool)
            .await?;
            // Ours, or the one another gateway inserted at the same moment.
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(readers.as_str())
                .fetch_one(pool)
                .await?;
            Ok(agreement_from_row!(&row))
        })
    }

    /// Every published version of `readers`' agreement, newest first.
    pub async fn agreement_versions(
        &self,
        school: SchoolId,
        readers: Readers,
    ) -> Result<Vec<Agreement>> {
        dispatch!(self, pool => {
            let sql = format!(
                "SELECT {COLUMNS} FROM agreements WHERE school_id = $1 AND readers = $2
                 ORDER BY version DESC"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(school.0)
                .bind(readers.as_str())
                .fetch_all(pool)
                .await?;
            rows.iter().map(|row| Ok(agreement_from_row!(row))).collect()
        })
    }

    /// One published version, by id, if it is the school's.
    pub async fn agreement(&self, school: SchoolId, id: i64) -> Result<Option<Agreement>> {
        dispatch!(self, pool => {
            let sql = format!("SELECT {COLUMNS} FROM agreements WHERE school_id = $1 AND id = $2");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(school.0)
                .bind(id)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Ok(Some(agreement_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    /// Publishes a new version of `readers`' agreement (checked first): from now on everyone
    /// who reads it is asked to accept it again.
    pub async fn publish_agreement(
        &self,
        school: SchoolId,
        readers: Readers,
        title: &str,
        body: &str,
        by: &str,
    ) -> Result<Agreement> {
        check(title, body).map_err(|error| StoreError::Invalid(error.to_string()))?;
        // The one in force first, so that Ward's default is version 1 and this one follows it.
        let current = self.agreement_in_force(school, readers).await?;
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO agreements (school_id, readers, version, title, body, published_at, published_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(school.0)
            .bind(readers.as_str())
            .bind(current.version + 1)
            .bind(title.trim())
            .bind(body)
            .bind(now)
            .bind(by)
            .execute(pool)
            .await?;
        });
        self.agreement_in_force(school, readers).await
    }

    /// Records `signer`'s answer to `agreement` for `school_year`, given at `place`.
    #[allow(clippy::too_many_arguments)]
    pub async fn answer_agreement(
        &self,
        school: SchoolId,
        agreement: &Agreement,
        signer: Signer,
        username: &str,
        accepted: bool,
        school_year: i16,
        place: &str,
    ) -> Result<()> {
        let (person, account) = match signer {
            Signer::Person(person) => (Some(person.0), None),
            Signer::Account(account) => (None, Some(account.0)),
        };
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO agreement_answers
                   (school_id, agreement_id, person_id, account_id, username, accepted, school_year, answered_at, place)
                 SELECT $1, id, $3, $4, $5, $6, $7, $8, $9 FROM agreements WHERE school_id = $1 AND id = $2",
            )
            .bind(school.0)
            .bind(agreement.id)
            .bind(person)
            .bind(account)
            .bind(username)
            .bind(accepted)
            .bind(i64::from(school_year))
            .bind(now)
            .bind(place)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// `signer`'s latest answer to `agreement` in `school_year`: accepted, declined, or none.
    pub async fn agreement_answer(
        &self,
        school: SchoolId,
        agreement: &Agreement,
        signer: Signer,
        school_year: i16,
    ) -> Result<Option<bool>> {
        let (column, id) = match signer {
            Signer::Person(person) => ("person_id", person.0),
            Signer::Account(account) => ("account_id", account.0),
        };
        dispatch!(self, pool => {
            let sql = format!(
                "SELECT accepted FROM agreement_answers
                 WHERE school_id = $1 AND {column} = $2 AND school_year = $3 AND agreement_id = $4
                 ORDER BY id DESC LIMIT 1"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(school.0)
                .bind(id)
                .bind(i64::from(school_year))
                .bind(agreement.id)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Ok(Some(row.try_get::<bool, _>(0)?)),
                None => Ok(None),
            }
        })
    }

    /// Everyone who reads `readers`' agreement (current people; for staff, console accounts
    /// too; for parents, every pupil, whose parents answer for them), each with their latest
    /// answer this school year, by name.
    pub async fn agreement_report(
        &self,
        school: SchoolId,
        readers: Readers,
        school_year: i16,
    ) -> Result<Vec<AgreementRow>> {
        let who = match readers {
            Readers::EarlyYears => "kind = 'pupil' AND p.year_group IN ('N', 'R', '1', '2')",
            Readers::Pupils => {
                "kind = 'pupil' AND (p.year_group IS NULL OR p.year_group NOT IN ('N', 'R', '1', '2'))"
            }
            Readers::Staff => "kind = 'staff'",
            Readers::Community => "kind = 'guest'",
            // Parents endorse for each child: the pupils, with their parents' answers.
            Readers::Parents => "kind = 'pupil'",
        };
        let mut answers: HashMap<Signer, AgreementAnswer> = HashMap::new();
        let mut rows = Vec::new();
        dispatch!(self, pool => {
            let found = sqlx::query(
                "SELECT a.person_id, a.account_id, a.accepted, g.version, a.answered_at, a.place
                 FROM agreement_answers a JOIN agreements g ON g.id = a.agreement_id
                 WHERE a.school_id = $1 AND a.school_year = $2 AND g.readers = $3
                 ORDER BY a.id",
            )
            .bind(school.0)
            .bind(i64::from(school_year))
            .bind(readers.as_str())
            .fetch_all(pool)
            .await?;
            for row in &found {
                let person: Option<i64> = row.try_get(0)?;
                let account: Option<i64> = row.try_get(1)?;
                let signer = match (person, account) {
                    (Some(person), _) => Signer::Person(PersonId(person)),
                    (None, Some(account)) => Signer::Account(AccountId(account)),
                    (None, None) => continue,
                };
                // In id order: the last one written is the answer that stands.
                answers.insert(
                    signer,
                    AgreementAnswer {
                        accepted: row.try_get(2)?,
                        version: row.try_get(3)?,
                        answered_at: timestamp(row.try_get(4)?),
                        place: row.try_get(5)?,
                    },
                );
            }
            let sql = format!(
                "SELECT p.id, p.username, p.given_name, p.family_name, p.year_group, p.class_name, g.name
                 FROM people p LEFT JOIN groups g ON g.id = p.group_id
                 WHERE p.school_id = $1 AND p.left_at IS NULL AND p.{who}
                 ORDER BY p.family_name, p.given_name, p.id"
            );
            let people = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(school.0)
                .fetch_all(pool)
                .await?;
            for row in &people {
                let signer = Signer::Person(PersonId(row.try_get(0)?));
                let given: String = row.try_get(2)?;
                let family: String = row.try_get(3)?;
                rows.push(AgreementRow {
                    signer,
                    username: row.try_get(1)?,
                    name: format!("{given} {family}").trim().to_owned(),
                    year_group: row.try_get(4)?,
                    class_name: row.try_get(5)?,
                    group: row.try_get(6)?,
                    answer: answers.get(&signer).cloned(),
                });
            }
            if readers == Readers::Staff {
                let accounts = sqlx::query(
                    "SELECT id, username, display_name FROM accounts
                     WHERE school_id = $1 AND NOT disabled ORDER BY display_name, id",
                )
                .bind(school.0)
                .fetch_all(pool)
                .await?;
                for row in &accounts {
                    let signer = Signer::Account(AccountId(row.try_get(0)?));
                    rows.push(AgreementRow {
                        signer,
                        username: row.try_get(1)?,
                        name: row.try_get(2)?,
                        year_group: None,
                        class_name: None,
                        group: None,
                        answer: answers.get(&signer).cloned(),
                    });
                }
            }
        });
        Ok(rows)
    }
}
