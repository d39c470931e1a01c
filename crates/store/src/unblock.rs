//! Unblock requests (DESIGN.md F5): someone who met the block page asks for a site to be opened,
//! with a reason. The coordinator's decision, and the grant an approval becomes, belong to the
//! safeguarding workflow; this module records and lists the requests.

use std::net::IpAddr;

use jiff::Timestamp;
use sqlx::Row;

use crate::{DeviceId, PersonId, Result, SchoolId, Store, StoreError, dispatch, micros, timestamp};

/// Longest reason kept (a form field is not a document).
pub const MAX_REASON: usize = 2000;

/// A request to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUnblockRequest {
    /// Where it was made: `block-page` or `console`.
    pub origin: String,
    /// The address it came from.
    pub client_ip: IpAddr,
    /// The device, if registered.
    pub device: Option<DeviceId>,
    /// The person, if known.
    pub person: Option<PersonId>,
    /// The user name, if known.
    pub username: Option<String>,
    /// The policy group it is for.
    pub group: String,
    /// The page asked for.
    pub url: String,
    /// Its host.
    pub host: String,
    /// The categories it is in, comma-separated.
    pub categories: String,
    /// Why it was blocked (the decision's reason).
    pub blocked_because: String,
    /// Why the person wants it.
    pub reason: String,
}

/// A request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnblockRequest {
    /// Its id.
    pub id: i64,
    /// When it was made.
    pub created_at: Timestamp,
    /// `new`, or where the coordinator has taken it.
    pub status: String,
    /// What was recorded.
    pub request: NewUnblockRequest,
}

const COLUMNS: &str = "id, created_at, status, origin, client_ip, device_id, person_id, username, \
     group_id, url, host, categories, blocked_because, reason";

impl Store {
    /// Records a request; returns its id. The reason must not be empty.
    pub async fn create_unblock_request(
        &self,
        school: SchoolId,
        request: &NewUnblockRequest,
    ) -> Result<i64> {
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
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let row = sqlx::query(
                "INSERT INTO unblock_requests (school_id, created_at, updated_at, origin, client_ip,
                     device_id, person_id, username, group_id, url, host, categories, blocked_because, reason)
                 VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
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
            .fetch_one(pool)
            .await?;
            Ok(row.try_get(0)?)
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
            rows.iter()
                .map(|row| {
                    let ip: String = row.try_get("client_ip")?;
                    Ok(UnblockRequest {
                        id: row.try_get("id")?,
                        created_at: timestamp(row.try_get("created_at")?),
                        status: row.try_get("status")?,
                        request: NewUnblockRequest {
                            origin: row.try_get("origin")?,
                            client_ip: ip.parse().map_err(|_| {
                                StoreError::Invalid(format!("stored client address {ip:?}"))
                            })?,
                            device: row.try_get::<Option<i64>, _>("device_id")?.map(DeviceId),
                            person: row.try_get::<Option<i64>, _>("person_id")?.map(PersonId),
                            username: row.try_get("username")?,
                            group: row.try_get("group_id")?,
                            url: row.try_get("url")?,
                            host: row.try_get("host")?,
                            categories: row.try_get("categories")?,
                            blocked_because: row.try_get("blocked_because")?,
                            reason: row.try_get("reason")?,
                        },
                    })
                })
                .collect()
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
}
