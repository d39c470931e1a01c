//! The audit log (G5): append-only, one hash chain per school.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry's own fields, each
//! written with its length first so that no two different entries can produce the same input.
//! Changing, removing or re-ordering any entry breaks every link after it; `verify_audit` walks
//! the chain and names the first entry whose link does not hold. (Removing entries from the end
//! leaves a shorter chain that is still whole; the head hash shown on the audit page is what a
//! school writes down to catch that.)

use crate::BeginWrite as _;
use jiff::Timestamp;
use sqlx::Row;

use crate::{Result, SchoolId, Store, StoreError, dispatch, micros, sha256_hex, timestamp};

/// The hash the first entry of a chain links to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// Who did it: an account's username, or `system`.
    pub actor: String,
    /// What was done (`login`, `login.failed`, `people.import`, `activity.view`, …).
    pub action: String,
    /// What it was done to (an account, a person, a file).
    pub subject: String,
    /// Particulars.
    pub detail: String,
    /// The reason given, where one is required.
    pub reason: Option<String>,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its place in the school's chain, from 1.
    pub seq: i64,
    /// When.
    pub at: Timestamp,
    /// The fields as appended.
    pub entry: NewAuditEntry,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// The result of walking a school's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerification {
    /// Entries checked.
    pub entries: i64,
    /// The hash of the last entry (the chain's head), if there is one.
    pub head: Option<String>,
    /// The first entry that does not link, and why.
    pub first_broken: Option<(i64, String)>,
}

/// The hash of an entry given the previous hash.
pub fn entry_hash(
    prev_hash: &str,
    school: SchoolId,
    seq: i64,
    at: i64,
    entry: &NewAuditEntry,
) -> String {
    let mut input = Vec::with_capacity(256);
    let school = school.0.to_string();
    let seq = seq.to_string();
    let at = at.to_string();
    let fields: [&str; 9] = [
        prev_hash,
        &school,
        &seq,
        &at,
        &entry.actor,
        &entry.action,
        &entry.subject,
        &entry.detail,
        entry.reason.as_deref().unwrap_or("\u{0}none"),
    ];
    for field in fields {
        input.extend_from_slice(field.len().to_string().as_bytes());
        input.push(b':');
        input.extend_from_slice(field.as_bytes());
        input.push(b'\n');
    }
    sha256_hex(&input)
}

macro_rules! entry_from_row {
    ($row:expr) => {{
        let row = $row;
        AuditEntry {
            seq: row.try_get("seq")?,
            at: timestamp(row.try_get("at")?),
            entry: NewAuditEntry {
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                subject: row.try_get("subject")?,
                detail: row.try_get("detail")?,
                reason: row.try_get("reason")?,
            },
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        }
    }};
}

impl Store {
    /// Appends an entry to the school's chain.
    pub async fn append_audit(
        &self,
        school: SchoolId,
        entry: &NewAuditEntry,
    ) -> Result<AuditEntry> {
        let _serialised = self.audit_lock.lock().await;
        // Another process (a second gateway on PostgreSQL) may take the same place first; the
        // unique (school_id, seq) refuses the second, which then tries again on the new head.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.try_append_audit(school, entry).await {
                Err(StoreError::Database(error)) if attempts < 5 && is_unique_violation(&error) => {
                    continue;
                }
                result => return result,
            }
        }
    }

    async fn try_append_audit(
        &self,
        school: SchoolId,
        entry: &NewAuditEntry,
    ) -> Result<AuditEntry> {
        let at = micros(Timestamp::now());
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            let last = sqlx::query("SELECT seq, hash FROM audit_log WHERE school_id = $1 ORDER BY seq DESC LIMIT 1")
                .bind(school.0)
                .fetch_optional(&mut *transaction)
                .await?;
            let (seq, prev_hash) = match last {
                Some(row) => (row.try_get::<i64, _>("seq")? + 1, row.try_get::<String, _>("hash")?),
                None => (1, GENESIS_HASH.to_owned()),
            };
            let hash = entry_hash(&prev_hash, school, seq, at, entry);
            sqlx::query(
                "INSERT INTO audit_log (school_id, seq, at, actor, action, subject, detail, reason, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(school.0)
            .bind(seq)
            .bind(at)
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.subject)
            .bind(&entry.detail)
            .bind(&entry.reason)
            .bind(&prev_hash)
            .bind(&hash)
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await?;
            Ok(AuditEntry { seq, at: timestamp(at), entry: entry.clone(), prev_hash, hash })
        })
    }

    /// The school's audit entries, newest first, at most `limit`, before `before_seq` if given;
    /// optionally only those whose action starts with `action_prefix`.
    pub async fn audit_entries(
        &self,
        school: SchoolId,
        limit: i64,
        before_seq: Option<i64>,
        action_prefix: &str,
    ) -> Result<Vec<AuditEntry>> {
        if action_prefix.chars().any(char::is_control) {
            return Ok(Vec::new());
        }
        let pattern = format!("{}%", crate::people::like_escape(action_prefix));
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT seq, at, actor, action, subject, detail, reason, prev_hash, hash FROM audit_log
                 WHERE school_id = $1 AND seq < $2 AND action LIKE $3 ESCAPE '\\'
                 ORDER BY seq DESC LIMIT $4",
            )
            .bind(school.0)
            .bind(before_seq.unwrap_or(i64::MAX))
            .bind(&pattern)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| Ok(entry_from_row!(row))).collect()
        })
    }

    /// The school's chain head: the last entry's number and hash, if there is one.
    pub async fn audit_head(&self, school: SchoolId) -> Result<Option<(i64, String)>> {
        dispatch!(self, pool => {
            let row = sqlx::query(
                "SELECT seq, hash FROM audit_log WHERE school_id = $1 ORDER BY seq DESC LIMIT 1",
            )
            .bind(school.0)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some((row.try_get(0)?, row.try_get(1)?))),
                None => Ok(None),
            }
        })
    }

    /// The hash of entry `seq` of the school's chain, if there is one.
    pub async fn audit_hash_at(&self, school: SchoolId, seq: i64) -> Result<Option<String>> {
        dispatch!(self, pool => {
            let row = sqlx::query("SELECT hash FROM audit_log WHERE school_id = $1 AND seq = $2")
                .bind(school.0)
                .bind(seq)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Ok(Some(row.try_get(0)?)),
                None => Ok(None),
            }
        })
    }

    /// Walks the school's whole chain, a page at a time, and reports the first broken link.
    pub async fn verify_audit(&self, school: SchoolId) -> Result<AuditVerification> {
        const PAGE: i64 = 5_000;
        let mut expected_prev = GENESIS_HASH.to_owned();
        let mut expected_seq = 1;
        let mut entries = 0;
        loop {
            let page: Vec<(AuditEntry, i64)> = dispatch!(self, pool => {
                let rows = sqlx::query(
                    "SELECT seq, at, actor, action, subject, detail, reason, prev_hash, hash FROM audit_log
                     WHERE school_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
                )
                .bind(school.0)
                .bind(expected_seq)
                .bind(PAGE)
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|row| Ok((entry_from_row!(row), row.try_get::<i64, _>("at")?)))
                    .collect::<Result<_>>()?
            });
            let done = (page.len() as i64) < PAGE;
            for (entry, at) in page {
                entries += 1;
                let broken = if entry.seq != expected_seq {
                    Some(format!(
                        "entry {expected_seq} is missing (next is {})",
                        entry.seq
                    ))
                } else if entry.prev_hash != expected_prev {
                    Some(
                        "its link to the previous entry does not match that entry's hash"
                            .to_owned(),
                    )
                } else if entry_hash(&entry.prev_hash, school, entry.seq, at, &entry.entry)
                    != entry.hash
                {
                    Some("its contents do not match its hash (the entry was changed)".to_owned())
                } else {
                    None
                };
                if let Some(why) = broken {
                    return Ok(AuditVerification {
                        entries,
                        head: None,
                        first_broken: Some((expected_seq, why)),
                    });
                }
                expected_prev = entry.hash;
                expected_seq += 1;
            }
            if done {
                break;
            }
        }
        Ok(AuditVerification {
            entries,
            head: (entries > 0).then_some(expected_prev),
            first_broken: None,
        })
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|database| database.is_unique_violation())
}
