//! Parents' own links (DESIGN.md A2, issue 27, migration 26): one per pupil and letter or email,
//! by which a parent endorses the child's acceptable use agreement and answers the consent
//! questions without an account. The store keeps only hashes of the link's token and of the
//! letter's short code; a link is good until it expires, and for one answer.

use jiff::Timestamp;
use sqlx::Row;

use crate::{PersonId, Result, SchoolId, Store, StoreError, dispatch, micros, timestamp};

/// A link as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentLink {
    /// Its id.
    pub id: i64,
    /// The school.
    pub school: SchoolId,
    /// The pupil it is for.
    pub person: PersonId,
    /// Where it was emailed, if it was.
    pub email: Option<String>,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
    /// Good until.
    pub expires_at: Timestamp,
    /// When it was answered (then it is spent).
    pub used_at: Option<Timestamp>,
}

/// A new link: the hashes of its token and code (the caller keeps the token and code to send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewParentLink {
    /// The pupil.
    pub person: PersonId,
    /// SHA-256 (hex) of the token in the link.
    pub token_hash: String,
    /// SHA-256 (hex) of the letter's short code.
    pub code_hash: String,
    /// Where it is emailed, if it is.
    pub email: Option<String>,
    /// Good until.
    pub expires_at: Timestamp,
}

const COLUMNS: &str =
    "id, school_id, person_id, email, created_by, created_at, expires_at, used_at";

macro_rules! link_from_row {
    ($row:expr) => {{
        let row = $row;
        let used: Option<i64> = row.try_get("used_at")?;
        ParentLink {
            id: row.try_get("id")?,
            school: SchoolId(row.try_get("school_id")?),
            person: PersonId(row.try_get("person_id")?),
            email: row.try_get("email")?,
            created_by: row.try_get("created_by")?,
            created_at: timestamp(row.try_get("created_at")?),
            expires_at: timestamp(row.try_get("expires_at")?),
            used_at: used.map(timestamp),
        }
    }};
}

impl Store {
    /// Makes a link for a pupil of `school`.
    pub async fn create_parent_link(
        &self,
        school: SchoolId,
        link: &NewParentLink,
        created_by: &str,
    ) -> Result<i64> {
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let pupil = sqlx::query(
                "SELECT 1 FROM people WHERE school_id = $1 AND id = $2 AND kind = 'pupil' AND left_at IS NULL",
            )
            .bind(school.0)
            .bind(link.person.0)
            .fetch_optional(pool)
            .await?;
            if pupil.is_none() {
                return Err(StoreError::NotFound("pupil"));
            }
            let row = sqlx::query(
                "INSERT INTO parent_links (school_id, person_id, token_hash, code_hash, email, created_by, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(school.0)
            .bind(link.person.0)
            .bind(&link.token_hash)
            .bind(&link.code_hash)
            .bind(link.email.as_deref())
            .bind(created_by)
            .bind(now)
            .bind(micros(link.expires_at))
            .fetch_one(pool)
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    /// The link whose token or letter code hashes to `hash` (any school: the link says which).
    pub async fn parent_link(&self, hash: &str) -> Result<Option<ParentLink>> {
        dispatch!(self, pool => {
            let sql = format!(
                "SELECT {COLUMNS} FROM parent_links WHERE token_hash = $1 OR code_hash = $1"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(hash)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Ok(Some(link_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    /// Spends link `id` for its answer: false when it was spent already (two tabs, a replay).
    pub async fn spend_parent_link(&self, id: i64) -> Result<bool> {
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let done = sqlx::query(
                "UPDATE parent_links SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
            )
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Every link of `school`, newest first.
    pub async fn parent_links(&self, school: SchoolId) -> Result<Vec<ParentLink>> {
        dispatch!(self, pool => {
            let sql = format!(
                "SELECT {COLUMNS} FROM parent_links WHERE school_id = $1 ORDER BY id DESC"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(school.0)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|row| Ok(link_from_row!(row))).collect()
        })
    }
}
