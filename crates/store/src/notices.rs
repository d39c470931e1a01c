//! Telling staff (DESIGN.md M3, issue 26): "alert these staff" on an alert or an incident,
//! each message with its read receipt, and the claims by which the notifier tells the roles that
//! act on them about new incidents and new unblock requests exactly once across gateways.
//!
//! A notice says who sent what to whom about which record; the record itself stays behind the
//! recipient's log-in and role. Opening the record marks the recipient's notices about it read
//! (the receipt the sender sees).

use jiff::Timestamp;
use sqlx::Row;

use crate::incidents::MAX_INCIDENT_TEXT;
use crate::{
    AccountId, Incident, IncidentId, IncidentScope, RequestId, Result, SchoolId, Store, StoreError,
    dispatch, micros, timestamp,
};

/// A message to one member of staff about an alert or an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Its id.
    pub id: i64,
    /// When it was sent.
    pub created_at: Timestamp,
    /// The sender's username.
    pub sent_by: String,
    /// The recipient.
    pub recipient: AccountId,
    /// The recipient's name, as the console shows it.
    pub recipient_name: String,
    /// `alert:ID` or `incident:ID`.
    pub target: String,
    /// What the sender wrote (may be empty).
    pub message: String,
    /// When the recipient first opened the target after it was sent.
    pub read_at: Option<Timestamp>,
}

/// A notice claimed for email, with where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeEmail {
    /// The notice.
    pub notice: Notice,
    /// The recipient's address.
    pub email: String,
}

/// Whether `target` names an alert or an incident (`alert:ID`, `incident:ID`).
fn checked_target(target: &str) -> Result<()> {
    let valid = target.split_once(':').is_some_and(|(kind, id)| {
        matches!(kind, "alert" | "incident") && id.parse::<i64>().is_ok()
    });
    if valid {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{target:?} is not an alert or an incident"
        )))
    }
}

const NOTICE_COLUMNS: &str = "n.id, n.created_at, n.sent_by, n.recipient_id, a.display_name, \
     n.target, n.message, n.read_at, a.email";

macro_rules! notice_from_row {
    ($row:expr) => {{
        let row = $row;
        let read_at: Option<i64> = row.try_get("read_at")?;
        Notice {
            id: row.try_get("id")?,
            created_at: timestamp(row.try_get("created_at")?),
            sent_by: row.try_get("sent_by")?,
            recipient: AccountId(row.try_get("recipient_id")?),
            recipient_name: row.try_get("display_name")?,
            target: row.try_get("target")?,
            message: row.try_get("message")?,
            read_at: read_at.map(timestamp),
        }
    }};
}

impl Store {
    /// Sends `message` about `target` from `sent_by` to each of `recipients` (accounts of the
    /// school that are not disabled; anyone else is refused, and nothing is sent). Returns how
    /// many were sent.
    pub async fn send_notices(
        &self,
        school: SchoolId,
        sent_by: &str,
        recipients: &[AccountId],
        target: &str,
        message: &str,
    ) -> Result<usize> {
        checked_target(target)?;
        let message = message.trim();
        if message.chars().count() > MAX_INCIDENT_TEXT {
            return Err(StoreError::Invalid(format!(
                "the message is longer than {MAX_INCIDENT_TEXT} characters"
            )));
        }
        if message
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            return Err(StoreError::Invalid(
                "the message contains control characters".into(),
            ));
        }
        if recipients.is_empty() {
            return Err(StoreError::Invalid("choose whom to tell".into()));
        }
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let mut transaction = crate::BeginWrite::begin_write(pool).await?;
            for recipient in recipients {
                let found = sqlx::query(
                    "SELECT id FROM accounts WHERE school_id = $1 AND id = $2 AND NOT disabled",
                )
                .bind(school.0)
                .bind(recipient.0)
                .fetch_optional(&mut *transaction)
                .await?;
                if found.is_none() {
                    return Err(StoreError::NotFound("account"));
                }
                sqlx::query(
                    "INSERT INTO notices (school_id, created_at, sent_by, recipient_id, target, message)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(school.0)
                .bind(now)
                .bind(sent_by)
                .bind(recipient.0)
                .bind(target)
                .bind(message)
                .execute(&mut *transaction)
                .await?;
            }
            transaction.commit().await?;
        });
        Ok(recipients.len())
    }

    /// The notices sent about `target`, oldest first, with their receipts.
    pub async fn notices_about(&self, school: SchoolId, target: &str) -> Result<Vec<Notice>> {
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM notices n JOIN accounts a ON a.id = n.recipient_id
             WHERE n.school_id = $1 AND n.target = $2 ORDER BY n.id"
        );
        dispatch!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(target)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|row| Ok(notice_from_row!(row))).collect()
        })
    }

    /// The notices `account` has not read yet, newest first, at most `limit`.
    pub async fn unread_notices(
        &self,
        school: SchoolId,
        account: AccountId,
        limit: i64,
    ) -> Result<Vec<Notice>> {
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM notices n JOIN accounts a ON a.id = n.recipient_id
             WHERE n.school_id = $1 AND n.recipient_id = $2 AND n.read_at IS NULL
             ORDER BY n.id DESC LIMIT $3"
        );
        dispatch!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(account.0)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|row| Ok(notice_from_row!(row))).collect()
        })
    }

    /// Marks `account`'s notices about `target` read (the first opening is kept).
    pub async fn mark_notices_read(
        &self,
        school: SchoolId,
        account: AccountId,
        target: &str,
    ) -> Result<u64> {
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            Ok(sqlx::query(
                "UPDATE notices SET read_at = $1
                 WHERE school_id = $2 AND recipient_id = $3 AND target = $4 AND read_at IS NULL",
            )
            .bind(now)
            .bind(school.0)
            .bind(account.0)
            .bind(target)
            .execute(pool)
            .await?
            .rows_affected())
        })
    }

    /// Claims notices sent since `since` to recipients with an email address, for the notifier
    /// to email (each once, across gateways).
    pub async fn claim_notices_to_email(
        &self,
        school: SchoolId,
        since: Timestamp,
        limit: i64,
    ) -> Result<Vec<NoticeEmail>> {
        let now = micros(Timestamp::now());
        let claimed: Vec<i64> = dispatch!(self, pool => {
            let rows = sqlx::query(
                "UPDATE notices SET emailed_at = $1
                 WHERE id IN (SELECT n.id FROM notices n JOIN accounts a ON a.id = n.recipient_id
                              WHERE n.school_id = $2 AND n.emailed_at IS NULL AND n.created_at >= $3
                                AND a.email IS NOT NULL AND a.email <> '' AND NOT a.disabled
                              ORDER BY n.id LIMIT $4)
                   AND emailed_at IS NULL
                 RETURNING id",
            )
            .bind(now)
            .bind(school.0)
            .bind(micros(since))
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| Ok(row.try_get(0)?)).collect::<Result<_>>()?
        });
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM notices n JOIN accounts a ON a.id = n.recipient_id
             WHERE n.school_id = $1 AND n.id = $2"
        );
        let mut notices = Vec::with_capacity(claimed.len());
        for id in claimed {
            let notice = dispatch!(self, pool => {
                let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(school.0)
                    .bind(id)
                    .fetch_one(pool)
                    .await?;
                NoticeEmail {
                    email: row.try_get::<Option<String>, _>("email")?.unwrap_or_default(),
                    notice: notice_from_row!(&row),
                }
            });
            notices.push(notice);
        }
        notices.sort_by_key(|notice| notice.notice.id);
        Ok(notices)
    }

    /// Gives a notice's email claim back, to be tried again.
    pub async fn unclaim_notice(&self, school: SchoolId, id: i64) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query("UPDATE notices SET emailed_at = NULL WHERE school_id = $1 AND id = $2")
                .bind(school.0)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Claims the school's incidents recorded since `since` that nobody has been told about
    /// yet, oldest first, for the notifier.
    pub async fn claim_new_incidents(
        &self,
        school: SchoolId,
        since: Timestamp,
        limit: i64,
    ) -> Result<Vec<Incident>> {
        let claimed = self
            .claim_new(school, NewRecords::Incidents, since, limit)
            .await?;
        let mut incidents = Vec::with_capacity(claimed.len());
        for id in claimed {
            incidents.push(
                self.incident(school, IncidentScope::All, IncidentId(id))
                    .await?,
            );
        }
        Ok(incidents)
    }

    /// Claims the school's unblock requests made since `since` that nobody has been told
    /// about yet, oldest first, for the notifier.
    pub async fn claim_new_unblock_requests(
        &self,
        school: SchoolId,
        since: Timestamp,
        limit: i64,
    ) -> Result<Vec<RequestId>> {
        Ok(self
            .claim_new(school, NewRecords::UnblockRequests, since, limit)
            .await?
            .into_iter()
            .map(RequestId)
            .collect())
    }

    /// Gives back the claim on a new incident or unblock request whose message could not be
    /// sent.
    pub async fn unclaim_new(&self, school: SchoolId, table: NewRecords, id: i64) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET notified_at = NULL WHERE school_id = $1 AND id = $2",
            table.table()
        );
        dispatch!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn claim_new(
        &self,
        school: SchoolId,
        table: NewRecords,
        since: Timestamp,
        limit: i64,
    ) -> Result<Vec<i64>> {
        let now = micros(Timestamp::now());
        let table = table.table();
        let sql = format!(
            "UPDATE {table} SET notified_at = $1
             WHERE id IN (SELECT id FROM {table} WHERE school_id = $2 AND notified_at IS NULL
                            AND created_at >= $3 ORDER BY id LIMIT $4)
               AND notified_at IS NULL
             RETURNING id"
        );
        let mut ids: Vec<i64> = dispatch!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(now)
                .bind(school.0)
                .bind(micros(since))
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|row| Ok(row.try_get(0)?)).collect::<Result<_>>()?
        });
        ids.sort_unstable();
        Ok(ids)
    }
}

/// The records whose news the notifier claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewRecords {
    /// Incidents.
    Incidents,
    /// Unblock requests.
    UnblockRequests,
}

impl NewRecords {
    fn table(self) -> &'static str {
        match self {
            NewRecords::Incidents => "incidents",
            NewRecords::UnblockRequests => "unblock_requests",
        }
    }
}
