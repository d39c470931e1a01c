//! The filtering policy's versions (issue 25): each a whole policy document (TOML) with who,
//! when, why and where it came from; the newest is in force. Never changed or deleted.

use crate::BeginWrite as _;
use jiff::Timestamp;
use sqlx::Row;

use crate::{Backend, Result, SchoolId, Store, StoreError, dispatch, micros, timestamp};

/// The longest policy document kept (a school's policy is a few kilobytes; local lists can
/// make it longer).
pub const MOST_POLICY_BYTES: usize = 4 << 20;

/// The shortest reason a change is saved with.
pub const MIN_REASON: usize = 10;
/// The longest.
pub const MAX_REASON: usize = 2000;

/// Where a version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    /// Ward's built-in default policy, at first start.
    Builtin,
    /// The policy file (`filter.policy`), at start or on SIGHUP when it changed.
    File,
    /// An edit in the console.
    Console,
    /// `ward policy import`.
    Import,
    /// An old version restored in the console.
    Restore,
}

impl PolicySource {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicySource::Builtin => "builtin",
            PolicySource::File => "file",
            PolicySource::Console => "console",
            PolicySource::Import => "import",
            PolicySource::Restore => "restore",
        }
    }

    /// In words, for the versions list.
    pub fn label(self) -> &'static str {
        match self {
            PolicySource::Builtin => "Ward's default policy",
            PolicySource::File => "the policy file",
            PolicySource::Console => "the console",
            PolicySource::Import => "an import",
            PolicySource::Restore => "a restore",
        }
    }

    fn parse(text: &str) -> Result<PolicySource> {
        Ok(match text {
            "builtin" => PolicySource::Builtin,
            "file" => PolicySource::File,
            "console" => PolicySource::Console,
            "import" => PolicySource::Import,
            "restore" => PolicySource::Restore,
            other => {
                return Err(StoreError::Invalid(format!(
                    "unknown policy source {other:?}"
                )));
            }
        })
    }
}

/// One version of a school's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    /// 1, 2, 3… within the school.
    pub number: i64,
    /// The policy document.
    pub text: String,
    /// Where it came from.
    pub source: PolicySource,
    /// Why (what is blocked or allowed and why).
    pub reason: String,
    /// Who (an account's username, or `ward`).
    pub author: String,
    /// When.
    pub created_at: Timestamp,
}

macro_rules! version_from_row {
    ($row:expr) => {{
        let row = $row;
        PolicyVersion {
            number: row.try_get("number")?,
            text: row.try_get("text")?,
            source: PolicySource::parse(&row.try_get::<String, _>("source")?)?,
            reason: row.try_get("reason")?,
            author: row.try_get("author")?,
            created_at: timestamp(row.try_get("created_at")?),
        }
    }};
}

impl Store {
    /// Saves `text` as the school's next policy version (checked by the caller: it compiles
    /// against the index in force); its number.
    pub async fn add_policy_version(
        &self,
        school: SchoolId,
        text: &str,
        source: PolicySource,
        reason: &str,
        author: &str,
        now: Timestamp,
    ) -> Result<i64> {
        if text.len() > MOST_POLICY_BYTES {
            return Err(StoreError::Invalid(format!(
                "the policy is {} bytes; at most {MOST_POLICY_BYTES} are kept",
                text.len()
            )));
        }
        let reason_length = reason.trim().chars().count();
        if reason_length < MIN_REASON {
            return Err(StoreError::Invalid(format!(
                "a policy change needs a reason of at least {MIN_REASON} characters: what is blocked or allowed, and why"
            )));
        }
        if reason_length > MAX_REASON || reason.chars().any(|c| c.is_control() && c != '\n') {
            return Err(StoreError::Invalid(format!(
                "the reason is longer than {MAX_REASON} characters or has control characters"
            )));
        }
        dispatch!(self, pool => {
            let mut transaction = pool.begin_write().await?;
            let last: Option<i64> = sqlx::query(
                "SELECT MAX(number) FROM policy_versions WHERE school_id = $1",
            )
            .bind(school.0)
            .fetch_one(&mut *transaction)
            .await?
            .try_get(0)?;
            let number = last.unwrap_or(0) + 1;
            sqlx::query(
                "INSERT INTO policy_versions (school_id, number, text, source, reason, author,
                   created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(school.0)
            .bind(number)
            .bind(text)
            .bind(source.as_str())
            .bind(reason.trim())
            .bind(author)
            .bind(micros(now))
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await?;
            Ok(number)
        })
    }

    /// The version in force (the newest), if the school has any.
    pub async fn latest_policy_version(&self, school: SchoolId) -> Result<Option<PolicyVersion>> {
        dispatch!(self, pool => {
            let row = sqlx::query(
                "SELECT number, text, source, reason, author, created_at FROM policy_versions
                 WHERE school_id = $1 ORDER BY number DESC LIMIT 1",
            )
            .bind(school.0)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(version_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    /// The number of the version in force (a cheap question for a gateway's poll).
    pub async fn latest_policy_number(&self, school: SchoolId) -> Result<Option<i64>> {
        dispatch!(self, pool => {
            Ok(sqlx::query("SELECT MAX(number) FROM policy_versions WHERE school_id = $1")
                .bind(school.0)
                .fetch_one(pool)
                .await?
                .try_get(0)?)
        })
    }

    /// One version.
    pub async fn policy_version(&self, school: SchoolId, number: i64) -> Result<PolicyVersion> {
        dispatch!(self, pool => {
            let row = sqlx::query(
                "SELECT number, text, source, reason, author, created_at FROM policy_versions
                 WHERE school_id = $1 AND number = $2",
            )
            .bind(school.0)
            .bind(number)
            .fetch_optional(pool)
            .await?
            .ok_or(StoreError::NotFound("policy version"))?;
            Ok(version_from_row!(&row))
        })
    }

    /// Every version, newest first (their texts included: a school has tens to hundreds).
    pub async fn policy_versions(&self, school: SchoolId) -> Result<Vec<PolicyVersion>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT number, text, source, reason, author, created_at FROM policy_versions
                 WHERE school_id = $1 ORDER BY number DESC",
            )
            .bind(school.0)
            .fetch_all(pool)
            .await?;
            let mut versions = Vec::with_capacity(rows.len());
            for row in &rows {
                versions.push(version_from_row!(row));
            }
            Ok(versions)
        })
    }

    /// The newest version that came from the policy file (to tell whether the file changed).
    pub async fn latest_file_policy(&self, school: SchoolId) -> Result<Option<PolicyVersion>> {
        dispatch!(self, pool => {
            let row = sqlx::query(
                "SELECT number, text, source, reason, author, created_at FROM policy_versions
                 WHERE school_id = $1 AND source = 'file' ORDER BY number DESC LIMIT 1",
            )
            .bind(school.0)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(version_from_row!(&row))),
                None => Ok(None),
            }
        })
    }
}

/// The PostgreSQL channel on which a change to what filtering reads (the policy, the device
/// register, unblock grants, detection exclusions) is announced to every gateway, with the
/// school's id as the payload.
const CHANGES_CHANNEL: &str = "ward_filter_changes";

/// Changes announced by other processes (PostgreSQL `LISTEN`).
pub struct FilterChanges {
    listener: sqlx::postgres::PgListener,
}

impl std::fmt::Debug for FilterChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilterChanges").finish_non_exhaustive()
    }
}

impl FilterChanges {
    /// The next school whose filtering records changed. A lost connection is made again here
    /// (changes announced meanwhile are missed: gateways also read every half minute).
    pub async fn next(&mut self) -> Result<SchoolId> {
        loop {
            let notification = self.listener.recv().await?;
            if let Ok(id) = notification.payload().parse::<i64>() {
                return Ok(SchoolId(id));
            }
        }
    }
}

impl Store {
    /// Announces that `school`'s filtering records changed, so that every gateway on the same
    /// PostgreSQL database reads them at once. Nothing on SQLite (one process: the console
    /// tells its own gateway directly). A failure is logged, not returned: the change is saved,
    /// and the gateways' half-minute read brings it in.
    pub async fn notify_filter_changed(&self, school: SchoolId) {
        if let Backend::Postgres(pool) = &self.backend {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANGES_CHANNEL)
                .bind(school.0.to_string())
                .execute(pool)
                .await;
            if let Err(error) = sent {
                tracing::warn!(%error, "cannot announce a filtering change to other gateways");
            }
        }
    }

    /// Changes announced by other processes (`None` on SQLite).
    pub async fn filter_changes(&self) -> Result<Option<FilterChanges>> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(pool) => {
                let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
                listener.listen(CHANGES_CHANNEL).await?;
                Ok(Some(FilterChanges { listener }))
            }
        }
    }
}
