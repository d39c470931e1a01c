//! Device loans and software licences (DESIGN.md D1, issue 27, migration 28).

use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::Row;

use crate::{PersonId, Result, SchoolId, Store, StoreError, dispatch, micros, timestamp};

/// A device to lend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLoan {
    /// Who borrows it (a pupil or a member of staff).
    pub person: PersonId,
    /// The device (e.g. "iPad 14, asset 00231").
    pub device: String,
    /// Whether it may be used out of school.
    pub out_of_school: bool,
    /// Who read and accepted the guardianship terms (the borrower, or a pupil's parent).
    pub terms_accepted_by: String,
    /// Lent on.
    pub lent_on: Date,
    /// Due back, if a date was agreed.
    pub due_back: Option<Date>,
}

/// A loan as kept, with what has happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loan {
    /// Its id.
    pub id: i64,
    /// The borrower.
    pub person: PersonId,
    /// Their name.
    pub name: String,
    /// The device.
    pub device: String,
    /// Out-of-school use.
    pub out_of_school: bool,
    /// Who accepted the terms.
    pub terms_accepted_by: String,
    /// Lent on.
    pub lent_on: Date,
    /// Due back.
    pub due_back: Option<Date>,
    /// Who recorded it, and when.
    pub recorded: (String, Timestamp),
    /// What happened since, oldest first: (kind, on, note, who).
    pub events: Vec<(String, Date, String, String)>,
}

impl Loan {
    /// Whether the device has come back.
    pub fn returned(&self) -> bool {
        self.events.iter().any(|(kind, ..)| kind == "returned")
    }
}

/// A software title's licences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Licence {
    /// Its id.
    pub id: i64,
    /// The software.
    pub software: String,
    /// Seats bought.
    pub purchased: i64,
    /// Installations counted.
    pub installed: i64,
    /// A note (where the licence is, when it renews).
    pub note: String,
    /// Who last changed it, and when.
    pub updated: (String, Timestamp),
}

impl Licence {
    /// Installations beyond the seats bought.
    pub fn over_use(&self) -> i64 {
        (self.installed - self.purchased).max(0)
    }
}

/// What can happen to a lent device.
pub const LOAN_EVENTS: [&str; 4] = ["returned", "lost", "stolen", "damaged"];

fn date(text: &str) -> Result<Date> {
    text.parse()
        .map_err(|_| StoreError::Invalid(format!("{text:?} is not a date")))
}

fn text_field(text: &str, what: &str, most: usize) -> Result<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > most || text.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "write {what} (up to {most} characters)"
        )));
    }
    Ok(text.to_owned())
}

impl Store {
    /// Lends a device to a person of `school`.
    pub async fn lend(&self, school: SchoolId, loan: &NewLoan, recorded_by: &str) -> Result<i64> {
        let device = text_field(&loan.device, "the device", 200)?;
        let accepted = text_field(&loan.terms_accepted_by, "who accepted the terms", 200)?;
        if loan.due_back.is_some_and(|due| due < loan.lent_on) {
            return Err(StoreError::Invalid(
                "the device cannot be due back before it is lent".into(),
            ));
        }
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let person = sqlx::query(
                "SELECT 1 FROM people WHERE school_id = $1 AND id = $2 AND left_at IS NULL",
            )
            .bind(school.0)
            .bind(loan.person.0)
            .fetch_optional(pool)
            .await?;
            if person.is_none() {
                return Err(StoreError::NotFound("person"));
            }
            let row = sqlx::query(
                "INSERT INTO loans (school_id, person_id, device, out_of_school, terms_accepted_by, lent_on, due_back, recorded_by, recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(school.0)
            .bind(loan.person.0)
            .bind(device)
            .bind(loan.out_of_school)
            .bind(accepted)
            .bind(loan.lent_on.to_string())
            .bind(loan.due_back.map(|due| due.to_string()))
            .bind(recorded_by)
            .bind(now)
            .fetch_one(pool)
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    /// Records what happened to loan `loan` of `school`: `returned`, `lost`, `stolen` or
    /// `damaged`, on `on`. A returned device takes nothing more.
    pub async fn loan_event(
        &self,
        school: SchoolId,
        loan: i64,
        kind: &str,
        on: Date,
        note: &str,
        recorded_by: &str,
    ) -> Result<()> {
        if !LOAN_EVENTS.contains(&kind) {
            return Err(StoreError::Invalid(format!(
                "{kind:?} is not something that happens to a loan"
            )));
        }
        if note.chars().count() > 2000 {
            return Err(StoreError::Invalid("the note is too long".into()));
        }
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let mut transaction = pool.begin().await?;
            let found = sqlx::query("SELECT 1 FROM loans WHERE school_id = $1 AND id = $2")
                .bind(school.0)
                .bind(loan)
                .fetch_optional(&mut *transaction)
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound("loan"));
            }
            let returned = sqlx::query(
                "SELECT 1 FROM loan_events WHERE school_id = $1 AND loan_id = $2 AND kind = 'returned'",
            )
            .bind(school.0)
            .bind(loan)
            .fetch_optional(&mut *transaction)
            .await?;
            if returned.is_some() {
                return Err(StoreError::Invalid("the device has been returned".into()));
            }
            sqlx::query(
                "INSERT INTO loan_events (school_id, loan_id, kind, on_date, note, recorded_by, recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(school.0)
            .bind(loan)
            .bind(kind)
            .bind(on.to_string())
            .bind(note.trim())
            .bind(recorded_by)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await?;
        });
        Ok(())
    }

    /// Every loan of `school`, newest first, with its events.
    pub async fn loans(&self, school: SchoolId) -> Result<Vec<Loan>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT l.id, l.person_id, p.given_name, p.family_name, l.device, l.out_of_school,
                        l.terms_accepted_by, l.lent_on, l.due_back, l.recorded_by, l.recorded_at
                 FROM loans l JOIN people p ON p.id = l.person_id
                 WHERE l.school_id = $1 ORDER BY l.id DESC",
            )
            .bind(school.0)
            .fetch_all(pool)
            .await?;
            let events = sqlx::query(
                "SELECT loan_id, kind, on_date, note, recorded_by FROM loan_events
                 WHERE school_id = $1 ORDER BY id",
            )
            .bind(school.0)
            .fetch_all(pool)
            .await?;
            let mut loans = Vec::with_capacity(rows.len());
            for row in &rows {
                let id: i64 = row.try_get(0)?;
                let given: String = row.try_get(2)?;
                let family: String = row.try_get(3)?;
                let lent: String = row.try_get(7)?;
                let due: Option<String> = row.try_get(8)?;
                let mut happened = Vec::new();
                for event in &events {
                    if event.try_get::<i64, _>(0)? == id {
                        let on: String = event.try_get(2)?;
                        happened.push((event.try_get(1)?, date(&on)?, event.try_get(3)?, event.try_get(4)?));
                    }
                }
                loans.push(Loan {
                    id,
                    person: PersonId(row.try_get(1)?),
                    name: format!("{given} {family}").trim().to_owned(),
                    device: row.try_get(4)?,
                    out_of_school: row.try_get(5)?,
                    terms_accepted_by: row.try_get(6)?,
                    lent_on: date(&lent)?,
                    due_back: due.as_deref().map(date).transpose()?,
                    recorded: (row.try_get(9)?, timestamp(row.try_get(10)?)),
                    events: happened,
                });
            }
            Ok(loans)
        })
    }

    /// Sets a software title's counts (adding it the first time).
    pub async fn set_licence(
        &self,
        school: SchoolId,
        software: &str,
        purchased: i64,
        installed: i64,
        note: &str,
        by: &str,
    ) -> Result<()> {
        let software = text_field(software, "the software's name", 200)?;
        if purchased < 0 || installed < 0 {
            return Err(StoreError::Invalid("counts cannot be below 0".into()));
        }
        if note.chars().count() > 2000 {
            return Err(StoreError::Invalid("the note is too long".into()));
        }
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO licences (school_id, software, purchased, installed, note, updated_by, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (school_id, software) DO UPDATE SET purchased = excluded.purchased,
                   installed = excluded.installed, note = excluded.note,
                   updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            )
            .bind(school.0)
            .bind(software)
            .bind(purchased)
            .bind(installed)
            .bind(note.trim())
            .bind(by)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The school's licences: those over-used first, then by name.
    pub async fn licences(&self, school: SchoolId) -> Result<Vec<Licence>> {
        let mut licences = Vec::new();
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, software, purchased, installed, note, updated_by, updated_at
                 FROM licences WHERE school_id = $1 ORDER BY software",
            )
            .bind(school.0)
            .fetch_all(pool)
            .await?;
            for row in &rows {
                licences.push(Licence {
                    id: row.try_get(0)?,
                    software: row.try_get(1)?,
                    purchased: row.try_get(2)?,
                    installed: row.try_get(3)?,
                    note: row.try_get(4)?,
                    updated: (row.try_get(5)?, timestamp(row.try_get(6)?)),
                });
            }
        });
        licences.sort_by_key(|licence| (licence.over_use() == 0, licence.software.to_lowercase()));
        Ok(licences)
    }
}
