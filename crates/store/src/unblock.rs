//! Unblock requests (DESIGN.md F5): someone who met the block page (or a member of staff in the
//! console) asks for a site to be opened, with a reason. The coordinator approves (possibly
//! narrowing the site, the group or the period) or refuses, once; an approval is a grant, which
//! the gateway puts into the live policy until its end. Nothing here is deleted: the requests
//! and their decisions are the printable log.

use std::net::IpAddr;

use jiff::Timestamp;
use sqlx::Row;

use crate::{
    DeviceId, PersonId, RequestId, Result, SchoolId, Store, StoreError, dispatch, micros, timestamp,
};

/// Longest reason kept (a form field is not a document).
pub const MAX_REASON: usize = 2000;

pub use ward_events::NewUnblockRequest;

/// What an approval opens: a site, for a group or one user, for a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnblockGrant {
    /// A domain (with its subdomains) or a URL prefix.
    pub site: String,
    /// The policy group it is for (one of `group` and `user`).
    pub group: Option<String>,
    /// The user it is for.
    pub user: Option<String>,
    /// From.
    pub start: Timestamp,
    /// Until (exclusive).
    pub end: Timestamp,
}

/// The coordinator's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnblockDecision {
    /// Who decided (account user name).
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// What they said.
    pub note: String,
    /// The grant, for an approval.
    pub grant: Option<UnblockGrant>,
}

/// A request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnblockRequest {
    /// Its id.
    pub id: RequestId,
    /// When it was made.
    pub created_at: Timestamp,
    /// `new`, `approved` or `refused`.
    pub status: String,
    /// What was recorded.
    pub request: NewUnblockRequest,
    /// The decision, once made.
    pub decision: Option<UnblockDecision>,
}

/// Longest decision note kept.
pub const MAX_NOTE: usize = 2000;

const COLUMNS: &str = "id, created_at, status, origin, client_ip, device_id, person_id, username, \
     group_id, url, host, categories, blocked_because, reason, decided_by, decided_at, \
     decision_note, grant_site, grant_group, grant_user, grant_start, grant_end, wanted_from, \
     wanted_until";

macro_rules! request_from_row {
    ($row:expr) => {{
        let row = $row;
        let ip: String = row.try_get("client_ip")?;
        let decided_by: Option<String> = row.try_get("decided_by")?;
        let grant_site: Option<String> = row.try_get("grant_site")?;
        let decision = match decided_by {
            None => None,
            Some(by) => Some(UnblockDecision {
                by,
                at: timestamp(row.try_get::<Option<i64>, _>("decided_at")?.unwrap_or(0)),
                note: row
                    .try_get::<Option<String>, _>("decision_note")?
                    .unwrap_or_default(),
                grant: match grant_site {
                    None => None,
                    Some(site) => Some(UnblockGrant {
                        site,
                        group: row.try_get("grant_group")?,
                        user: row.try_get("grant_user")?,
                        start: timestamp(
                            row.try_get::<Option<i64>, _>("grant_start")?.unwrap_or(0),
                        ),
                        end: timestamp(row.try_get::<Option<i64>, _>("grant_end")?.unwrap_or(0)),
                    }),
                },
            }),
        };
        UnblockRequest {
            id: RequestId(row.try_get("id")?),
            created_at: timestamp(row.try_get("created_at")?),
            status: row.try_get("status")?,
            request: NewUnblockRequest {
                origin: row.try_get("origin")?,
                client_ip: ip
                    .parse()
                    .map_err(|_| StoreError::Invalid(format!("stored client address {ip:?}")))?,
                device: row.try_get::<Option<i64>, _>("device_id")?.map(DeviceId),
                person: row.try_get::<Option<i64>, _>("person_id")?.map(PersonId),
                username: row.try_get("username")?,
                group: row.try_get("group_id")?,
                url: row.try_get("url")?,
                host: row.try_get("host")?,
                categories: row.try_get("categories")?,
                blocked_because: row.try_get("blocked_because")?,
                reason: row.try_get("reason")?,
                wanted: match (
                    row.try_get::<Option<i64>, _>("wanted_from")?,
                    row.try_get::<Option<i64>, _>("wanted_until")?,
                ) {
                    (Some(from), Some(until)) => Some((timestamp(from), timestamp(until))),
                    _ => None,
                },
            },
            decision,
        }
    }};
}

impl Store {
    /// Records a request; returns its id. The reason must not be empty.
    pub async fn create_unblock_request(
        &self,
        school: SchoolId,
        request: &NewUnblockRequest,
    ) -> Result<RequestId> {
        let reason = request.reason.trim();
        if reason.is_empty() {
            return Err(StoreError::Invalid(
                "an unblock request needs a reason".into(),
            ));
        }
        if reason.chars().count() > MAX_REASON {
            return Err(StoreError::Invalid(format!(
                "the reason is longer than {MAX_REASON} characters"
            )));
        }
        if let Some((from, until)) = request.wanted
            && until <= from
        {
            return Err(StoreError::Invalid(
                "the period asked for must end after it starts".into(),
            ));
        }
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let row = sqlx::query(
                "INSERT INTO unblock_requests (school_id, created_at, updated_at, origin, client_ip,
                     device_id, person_id, username, group_id, url, host, categories, blocked_because, reason,
                     wanted_from, wanted_until)
                 VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
            )
            .bind(school.0)
            .bind(now)
            .bind(&request.origin)
            .bind(request.client_ip.to_string())
            .bind(request.device.map(|d| d.0))
            .bind(request.person.map(|p| p.0))
            .bind(&request.username)
            .bind(&request.group)
            .bind(&request.url)
            .bind(&request.host)
            .bind(&request.categories)
            .bind(&request.blocked_because)
            .bind(reason)
            .bind(request.wanted.map(|(from, _)| micros(from)))
            .bind(request.wanted.map(|(_, until)| micros(until)))
            .fetch_one(pool)
            .await?;
            Ok(RequestId(row.try_get(0)?))
        })
    }

    /// The school's requests with this status, newest first.
    pub async fn unblock_requests(
        &self,
        school: SchoolId,
        status: &str,
        limit: i64,
    ) -> Result<Vec<UnblockRequest>> {
        dispatch!(self, pool => {
            // Only constants are spliced into this statement.
            let sql = format!(
                "SELECT {COLUMNS} FROM unblock_requests WHERE school_id = $1 AND status = $2
                 ORDER BY created_at DESC, id DESC LIMIT $3"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(school.0)
            .bind(status)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| Ok(request_from_row!(row))).collect()
        })
    }

    /// The requests made by `username` (in the console, or from the block page logged in),
    /// newest first.
    pub async fn unblock_requests_by(
        &self,
        school: SchoolId,
        username: &str,
        limit: i64,
    ) -> Result<Vec<UnblockRequest>> {
        dispatch!(self, pool => {
            let sql = format!(
                "SELECT {COLUMNS} FROM unblock_requests WHERE school_id = $1 AND username = $2
                 ORDER BY created_at DESC, id DESC LIMIT $3"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(username)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|row| Ok(request_from_row!(row))).collect()
        })
    }

    /// Requests made from `client_ip` since `since` (to limit how many one client can make).
    pub async fn count_unblock_requests_since(
        &self,
        school: SchoolId,
        client_ip: IpAddr,
        since: Timestamp,
    ) -> Result<i64> {
        dispatch!(self, pool => {
            let row = sqlx::query(
                "SELECT COUNT(*) FROM unblock_requests WHERE school_id = $1 AND client_ip = $2 AND created_at >= $3",
            )
            .bind(school.0)
            .bind(client_ip.to_string())
            .bind(micros(since))
            .fetch_one(pool)
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    /// The request still waiting for a decision that `client_ip` made for `url`, if any: the same
    /// request again is not recorded twice.
    pub async fn waiting_unblock_request(
        &self,
        school: SchoolId,
        client_ip: IpAddr,
        url: &str,
    ) -> Result<Option<RequestId>> {
        dispatch!(self, pool => {
            let row = sqlx::query(
                "SELECT id FROM unblock_requests
                 WHERE school_id = $1 AND client_ip = $2 AND url = $3 AND status = 'new'
                 ORDER BY id DESC LIMIT 1",
            )
            .bind(school.0)
            .bind(client_ip.to_string())
            .bind(url)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(RequestId(row.try_get(0)?))),
                None => Ok(None),
            }
        })
    }

    /// One request.
    pub async fn unblock_request(&self, school: SchoolId, id: RequestId) -> Result<UnblockRequest> {
        dispatch!(self, pool => {
            let sql = format!("SELECT {COLUMNS} FROM unblock_requests WHERE school_id = $1 AND id = $2");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(id.0)
                .fetch_optional(pool)
                .await?
                .ok_or(StoreError::NotFound("unblock request"))?;
            Ok(request_from_row!(&row))
        })
    }

    /// Every request and decision made since `since`, oldest first (the printable log).
    pub async fn unblock_log(
        &self,
        school: SchoolId,
        since: Timestamp,
        limit: i64,
    ) -> Result<Vec<UnblockRequest>> {
        dispatch!(self, pool => {
            let sql = format!(
                "SELECT {COLUMNS} FROM unblock_requests WHERE school_id = $1 AND created_at >= $2
                 ORDER BY created_at, id LIMIT $3"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(micros(since))
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|row| Ok(request_from_row!(row))).collect()
        })
    }

    /// Approved requests whose grant has not ended at `now`: what the live policy opens.
    pub async fn unblock_grants(
        &self,
        school: SchoolId,
        now: Timestamp,
    ) -> Result<Vec<UnblockRequest>> {
        dispatch!(self, pool => {
            let sql = format!(
                "SELECT {COLUMNS} FROM unblock_requests
                 WHERE school_id = $1 AND status = 'approved' AND grant_end > $2 ORDER BY id"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(school.0)
                .bind(micros(now))
                .fetch_all(pool)
                .await?;
            rows.iter().map(|row| Ok(request_from_row!(row))).collect()
        })
    }

    /// Decides a new request: `Some(grant)` approves it as that grant, `None` refuses it. A
    /// request is decided once: deciding one already decided is a `Conflict`.
    pub async fn decide_unblock_request(
        &self,
        school: SchoolId,
        id: RequestId,
        by: &str,
        note: &str,
        grant: Option<&UnblockGrant>,
    ) -> Result<()> {
        let note = note.trim();
        if note.chars().count() > MAX_NOTE {
            return Err(StoreError::Invalid(format!(
                "the note is longer than {MAX_NOTE} characters"
            )));
        }
        if let Some(grant) = grant {
            if grant.site.trim().is_empty() {
                return Err(StoreError::Invalid("a grant needs a site".into()));
            }
            if grant.group.is_some() == grant.user.is_some() {
                return Err(StoreError::Invalid(
                    "a grant is for a group or for one user".into(),
                ));
            }
            if grant.end <= grant.start {
                return Err(StoreError::Invalid(
                    "a grant must end after it starts".into(),
                ));
            }
        }
        let now = micros(Timestamp::now());
        let status = if grant.is_some() {
            "approved"
        } else {
            "refused"
        };
        dispatch!(self, pool => {
            let done = sqlx::query(
                "UPDATE unblock_requests SET status = $1, updated_at = $2, decided_by = $3,
                     decided_at = $2, decision_note = $4, grant_site = $5, grant_group = $6,
                     grant_user = $7, grant_start = $8, grant_end = $9
                 WHERE school_id = $10 AND id = $11 AND status = 'new'",
            )
            .bind(status)
            .bind(now)
            .bind(by)
            .bind(note)
            .bind(grant.map(|g| g.site.trim().to_owned()))
            .bind(grant.and_then(|g| g.group.clone()))
            .bind(grant.and_then(|g| g.user.clone()))
            .bind(grant.map(|g| micros(g.start)))
            .bind(grant.map(|g| micros(g.end)))
            .bind(school.0)
            .bind(id.0)
            .execute(pool)
            .await?;
            if done.rows_affected() == 1 {
                return Ok(());
            }
        });
        // Nothing changed: say whether the request is missing or already decided.
        self.unblock_request(school, id).await?;
        Err(StoreError::Conflict(format!(
            "a decision on unblock request {id}"
        )))
    }

    /// Ends an approved request's grant at `at` (if it would end later). Returns whether it
    /// changed anything.
    pub async fn end_unblock_grant(
        &self,
        school: SchoolId,
        id: RequestId,
        at: Timestamp,
    ) -> Result<bool> {
        let at = micros(at);
        dispatch!(self, pool => {
            let done = sqlx::query(
                "UPDATE unblock_requests SET grant_end = $1, updated_at = $1
                 WHERE school_id = $2 AND id = $3 AND status = 'approved' AND grant_end > $1",
            )
            .bind(at)
            .bind(school.0)
            .bind(id.0)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}
