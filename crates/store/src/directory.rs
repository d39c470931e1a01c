//! People from the school's directory: a synchronisation writes who the directory has (beside
//! the MIS import: what the MIS alone knows, a class or a job role, is kept) and marks as
//! leavers those it no longer has, never deleting anyone; a first log-in by someone not yet
//! synchronised adds them at once.

use crate::BeginWrite as _;
use std::collections::HashSet;

use jiff::Timestamp;
use sqlx::Row;

use crate::{
    Group, NewPerson, Person, PersonKind, Result, SchoolId, Store, StoreError, dispatch, micros,
};

/// One person as the directory places them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// Their log-in name.
    pub username: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Email address, if any.
    pub email: Option<String>,
    /// Pupil, staff or guest.
    pub kind: PersonKind,
    /// A pupil's year group as the directory's rule says (`4`, `Year 4`, `R`).
    pub year: Option<String>,
    /// The policy group the rule names (else the group for the kind and year).
    pub group: Option<String>,
}

/// What a synchronisation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectorySync {
    /// People added.
    pub created: usize,
    /// People updated (including leavers who came back).
    pub updated: usize,
    /// Leavers who are in the directory again.
    pub returned: Vec<String>,
    /// People marked as leavers by this run.
    pub left: Vec<String>,
    /// Entries not written, and why (their people are not marked as leavers either).
    pub problems: Vec<(String, String)>,
}

/// The person to write for `entry`: its year group and key stage worked out, and its policy
/// group (the one the rule names, else the school's group for its kind and year).
fn placed(entry: &DirectoryEntry, groups: &[Group]) -> std::result::Result<NewPerson, String> {
    let username = entry.username.trim().to_lowercase();
    let mut person = NewPerson {
        kind: entry.kind,
        username,
        given_name: entry.given_name.trim().to_owned(),
        family_name: entry.family_name.trim().to_owned(),
        external_id: None,
        year_group: None,
        key_stage: None,
        class_name: None,
        job_role: None,
        group: None,
    };
    if let Some(year) = &entry.year {
        let year = crate::import::year_group(year)
            .ok_or_else(|| format!("year group {year:?} is not N, R or 1 to 13"))?;
        person.key_stage = Some(crate::import::key_stage(&year).to_owned());
        person.year_group = Some(year);
    }
    let group = match &entry.group {
        Some(name) => groups
            .iter()
            .find(|group| group.name == *name)
            .ok_or_else(|| format!("the school has no group {name:?}"))?,
        None => match (entry.kind, &person.year_group) {
            (PersonKind::Pupil, Some(year)) => groups
                .iter()
                .find(|group| group.kind == PersonKind::Pupil && group.year_groups.contains(year))
                .ok_or_else(|| format!("no pupil group includes year {year}"))?,
            (PersonKind::Pupil, None) => {
                return Err("a pupil needs a year group or a group in the rule".into());
            }
            (kind, _) => groups
                .iter()
                .find(|group| group.kind == kind)
                .ok_or_else(|| format!("the school has no {kind} group"))?,
        },
    };
    person.group = Some(group.id);
    crate::people::check_person(&person).map_err(|error| error.to_string())?;
    if let Some(email) = &entry.email {
        crate::check_name("email", email).map_err(|error| error.to_string())?;
    }
    Ok(person)
}

/// Writes one directory person (matched on the username whatever its case), marking them
/// as from the directory and not a leaver. Returns whether they were new, and whether they had
/// left.
macro_rules! write_directory_person {
    ($transaction:expr, $school:expr, $person:expr, $email:expr, $now:expr) => {{
        let person: &NewPerson = $person;
        let existing = sqlx::query(
            "SELECT id, left_at FROM people WHERE school_id = $1 AND lower(username) = $2",
        )
        .bind($school.0)
        .bind(&person.username)
        .fetch_optional(&mut *$transaction)
        .await?;
        match existing {
            Some(row) => {
                let id: i64 = row.try_get("id")?;
                let left: Option<i64> = row.try_get("left_at")?;
                // What only the MIS knows (class, job role, MIS id) is kept.
                sqlx::query(
                    "UPDATE people SET kind = $2, given_name = $3, family_name = $4,
                       year_group = COALESCE($5, year_group), key_stage = COALESCE($6, key_stage),
                       group_id = $7, email = $8, source = 'directory', left_at = NULL, updated_at = $9
                     WHERE id = $1",
                )
                .bind(id)
                .bind(person.kind.as_str())
                .bind(&person.given_name)
                .bind(&person.family_name)
                .bind(&person.year_group)
                .bind(&person.key_stage)
                .bind(person.group.map(|group| group.0))
                .bind($email)
                .bind($now)
                .execute(&mut *$transaction)
                .await?;
                (false, left.is_some())
            }
            None => {
                sqlx::query(
                    "INSERT INTO people (school_id, username, kind, given_name, family_name,
                       year_group, key_stage, group_id, email, source, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'directory', $10, $10)",
                )
                .bind($school.0)
                .bind(&person.username)
                .bind(person.kind.as_str())
                .bind(&person.given_name)
                .bind(&person.family_name)
                .bind(&person.year_group)
                .bind(&person.key_stage)
                .bind(person.group.map(|group| group.0))
                .bind($email)
                .bind($now)
                .execute(&mut *$transaction)
                .await?;
                (true, false)
            }
        }
    }};
}

impl Store {
    /// Synchronises the school's people with what the directory has, in one transaction:
    /// everyone in `entries` is added or updated, and everyone earlier synchronised from the
    /// directory who is not in it now is marked as a leaver (never deleted). A run that would
    /// mark more than half of the directory's people as leavers (an empty answer, a base DN
    /// mistyped) is refused whole unless `allow_many_leavers`.
    pub async fn sync_directory(
        &self,
        school: SchoolId,
        entries: &[DirectoryEntry],
        allow_many_leavers: bool,
    ) -> Result<DirectorySync> {
        let groups = self.groups(school).await?;
        let mut report = DirectorySync::default();
        let mut people = Vec::new();
        // Names seen, whether written or not: a bad entry never makes a leaver of its person.
        let mut seen = HashSet::new();
        for entry in entries {
            let name = entry.username.trim().to_lowercase();
            if !seen.insert(name.clone()) {
                report
                    .problems
                    .push((name, "two directory entries have this log-in name".into()));
                continue;
            }
            match placed(entry, &groups) {
                Ok(person) => people.push((person, entry.email.clone())),
                Err(why) => report.problems.push((name, why)),
            }
        }
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            for (person, email) in &people {
                let (new, returned) =
                    write_directory_person!(transaction, school, person, email.as_deref(), now);
                if new {
                    report.created += 1;
                } else {
                    report.updated += 1;
                }
                if returned {
                    report.returned.push(person.username.clone());
                }
            }
            let current = sqlx::query(
                "SELECT id, username FROM people
                 WHERE school_id = $1 AND source = 'directory' AND left_at IS NULL",
            )
            .bind(school.0)
            .fetch_all(&mut *transaction)
            .await?;
            let mut leaving = Vec::new();
            for row in &current {
                let username: String = row.try_get("username")?;
                if !seen.contains(&username.to_lowercase()) {
                    leaving.push((row.try_get::<i64, _>("id")?, username));
                }
            }
            if !leaving.is_empty() && leaving.len() * 2 > current.len() && !allow_many_leavers {
                return Err(StoreError::Invalid(format!(
                    "the directory no longer has {} of the {} people synchronised from it: \
                     nothing was changed. If they really have all left, synchronise again \
                     allowing many leavers",
                    leaving.len(),
                    current.len()
                )));
            }
            for (id, username) in leaving {
                sqlx::query("UPDATE people SET left_at = $2, updated_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *transaction)
                    .await?;
                report.left.push(username);
            }
            transaction.commit().await?;
        });
        report.left.sort();
        Ok(report)
    }

    /// Adds or updates one person the directory has, at their first log-in before a
    /// synchronisation has brought them in (a leaver who is in the directory again comes back).
    /// Nobody is marked as a leaver.
    pub async fn add_directory_person(
        &self,
        school: SchoolId,
        entry: &DirectoryEntry,
    ) -> Result<Person> {
        let groups = self.groups(school).await?;
        let person = placed(entry, &groups).map_err(StoreError::Invalid)?;
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            let _ = write_directory_person!(transaction, school, &person, entry.email.as_deref(), now);
            transaction.commit().await?;
        });
        self.person_by_username(school, &person.username)
            .await?
            .ok_or(StoreError::NotFound("person"))
    }
}

/// What [`Store::sync_directory_accounts`] hashes no password to: an account whose password
/// is the directory's.
pub const DIRECTORY_PASSWORD: &str = "!directory";

/// A console account as the directory's groups give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryAccount {
    /// Their log-in name.
    pub username: String,
    /// Their name as shown.
    pub display_name: String,
    /// Their email address (single sign-on finds the account by it).
    pub email: Option<String>,
    /// The roles their groups give.
    pub roles: crate::Roles,
}

/// What a synchronisation of directory accounts did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountsSync {
    /// Accounts made, by username.
    pub created: Vec<String>,
    /// Accounts whose roles changed: username, the roles before and now.
    pub changed: Vec<(String, String, String)>,
    /// Accounts disabled (their groups no longer give a role, or they left): never deleted.
    pub disabled: Vec<String>,
    /// Entries not written, and why.
    pub problems: Vec<(String, String)>,
}

impl Store {
    /// Synchronises the school's directory accounts in one transaction: everyone in
    /// `accounts` gets a console account with the roles their groups give (made, updated, or
    /// enabled again); directory accounts not in it are disabled and their sessions ended. A
    /// Ward account of the same name (`local`) is never touched: reported as a problem. As
    /// for people, a run that would disable more than half of them is refused unless
    /// `allow_many_leavers`.
    pub async fn sync_directory_accounts(
        &self,
        school: SchoolId,
        accounts: &[DirectoryAccount],
        allow_many_leavers: bool,
    ) -> Result<AccountsSync> {
        let mut report = AccountsSync::default();
        let mut wanted = Vec::new();
        let mut seen = HashSet::new();
        for account in accounts {
            let username = account.username.trim().to_lowercase();
            if !seen.insert(username.clone()) {
                report.problems.push((
                    username,
                    "two directory entries have this log-in name".into(),
                ));
                continue;
            }
            if account.roles.is_empty() {
                continue;
            }
            let checked = crate::check_username("username", &username)
                .and_then(|()| crate::check_name("display name", account.display_name.trim()));
            match checked {
                Ok(()) => wanted.push((username, account)),
                Err(error) => report.problems.push((username, error.to_string())),
            }
        }
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            let mut kept = HashSet::new();
            for (username, account) in &wanted {
                let existing = sqlx::query(
                    "SELECT id, school_id, source, roles, disabled FROM accounts WHERE username = $1",
                )
                .bind(username)
                .fetch_optional(&mut *transaction)
                .await?;
                let roles = account.roles.to_string();
                match existing {
                    Some(row) => {
                        let source: String = row.try_get("source")?;
                        let owner: i64 = row.try_get("school_id")?;
                        if source != "directory" || owner != school.0 {
                            report.problems.push((
                                username.clone(),
                                "a Ward account has this name: the directory does not change it".into(),
                            ));
                            continue;
                        }
                        let id: i64 = row.try_get("id")?;
                        let before: String = row.try_get("roles")?;
                        let disabled: bool = row.try_get("disabled")?;
                        sqlx::query(
                            "UPDATE accounts SET display_name = $2, roles = $3, email = $4,
                               disabled = FALSE
                             WHERE id = $1",
                        )
                        .bind(id)
                        .bind(account.display_name.trim())
                        .bind(&roles)
                        .bind(account.email.as_deref().map(str::to_lowercase))
                        .execute(&mut *transaction)
                        .await?;
                        if before != roles || disabled {
                            let before = if disabled { "disabled".to_owned() } else { before };
                            report.changed.push((username.clone(), before, roles.clone()));
                        }
                    }
                    None => {
                        sqlx::query(
                            "INSERT INTO accounts (school_id, username, display_name, roles,
                               password_hash, must_change_password, created_at, source, email)
                             VALUES ($1, $2, $3, $4, $5, FALSE, $6, 'directory', $7)",
                        )
                        .bind(school.0)
                        .bind(username)
                        .bind(account.display_name.trim())
                        .bind(&roles)
                        .bind(DIRECTORY_PASSWORD)
                        .bind(now)
                        .bind(account.email.as_deref().map(str::to_lowercase))
                        .execute(&mut *transaction)
                        .await?;
                        report.created.push(username.clone());
                    }
                }
                kept.insert(username.clone());
            }
            let current = sqlx::query(
                "SELECT id, username FROM accounts
                 WHERE school_id = $1 AND source = 'directory' AND NOT disabled",
            )
            .bind(school.0)
            .fetch_all(&mut *transaction)
            .await?;
            let mut leaving = Vec::new();
            for row in &current {
                let username: String = row.try_get("username")?;
                // Someone whose entry could not be written keeps what they had.
                let unwritten = report.problems.iter().any(|(name, _)| *name == username);
                if !kept.contains(&username) && !unwritten {
                    leaving.push((row.try_get::<i64, _>("id")?, username));
                }
            }
            if !leaving.is_empty() && leaving.len() * 2 > current.len() && !allow_many_leavers {
                return Err(StoreError::Invalid(format!(
                    "the directory's groups no longer give a role to {} of the {} accounts \
                     made from them: nothing was changed. If that is right, synchronise again \
                     allowing many leavers",
                    leaving.len(),
                    current.len()
                )));
            }
            for (id, username) in leaving {
                sqlx::query("UPDATE accounts SET disabled = TRUE WHERE id = $1")
                    .bind(id)
                    .execute(&mut *transaction)
                    .await?;
                sqlx::query("DELETE FROM sessions WHERE account_id = $1")
                    .bind(id)
                    .execute(&mut *transaction)
                    .await?;
                report.disabled.push(username);
            }
            transaction.commit().await?;
        });
        report.created.sort();
        report.disabled.sort();
        Ok(report)
    }
}
