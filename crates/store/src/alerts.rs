//! Alerts: things the safeguarding lead or the technician must see. For now raised by Ward
//! itself (a policy or list reload that failed); the alert queue of the safeguarding workflow
//! builds on the same table.

use jiff::Timestamp;
use sqlx::Row;

use crate::{DeviceId, PersonId, Result, SchoolId, Store, StoreError, dispatch, micros, timestamp};

/// An alert to raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// 1 (lowest) to 5 (highest).
    pub severity: u8,
    /// What kind of alert, e.g. `system` or a risk category.
    pub category: String,
    /// The person concerned, if any.
    pub person: Option<PersonId>,
    /// The device concerned, if any.
    pub device: Option<DeviceId>,
    /// One line saying what happened.
    pub summary: String,
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Its id.
    pub id: i64,
    /// When it was raised.
    pub created_at: Timestamp,
    /// 1 to 5.
    pub severity: u8,
    /// Its category.
    pub category: String,
    /// `new`, or where triage has taken it.
    pub status: String,
    /// What happened.
    pub summary: String,
}

impl Store {
    /// Raises an alert.
    pub async fn raise_alert(&self, school: SchoolId, alert: &NewAlert) -> Result<i64> {
        if !(1..=5).contains(&alert.severity) {
            return Err(StoreError::Invalid(format!(
                "alert severity {} is not between 1 and 5",
                alert.severity
            )));
        }
        let now = micros(Timestamp::now());
        dispatch!(self, pool => {
            let row = sqlx::query(
                "INSERT INTO alerts (school_id, created_at, updated_at, severity, category, person_id, device_id, summary)
                 VALUES ($1, $2, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(school.0)
            .bind(now)
            .bind(i64::from(alert.severity))
            .bind(&alert.category)
            .bind(alert.person.map(|p| p.0))
            .bind(alert.device.map(|d| d.0))
            .bind(&alert.summary)
            .fetch_one(pool)
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    /// The school's alerts with this status, highest severity and newest first.
    pub async fn alerts(&self, school: SchoolId, status: &str, limit: i64) -> Result<Vec<Alert>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, created_at, severity, category, status, summary FROM alerts
                 WHERE school_id = $1 AND status = $2 ORDER BY severity DESC, created_at DESC LIMIT $3",
            )
            .bind(school.0)
            .bind(status)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let severity: i64 = row.try_get(2)?;
                    Ok(Alert {
                        id: row.try_get(0)?,
                        created_at: timestamp(row.try_get(1)?),
                        severity: u8::try_from(severity).unwrap_or(5),
                        category: row.try_get(3)?,
                        status: row.try_get(4)?,
                        summary: row.try_get(5)?,
                    })
                })
                .collect()
        })
    }
}
