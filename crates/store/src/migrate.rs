//! Schema migrations: one folder per backend (`migrations/sqlite`, `migrations/postgres`),
//! embedded in the binary, applied in order, each in its own transaction.
//!
//! The `schema_migrations` table records each applied migration with a checksum of its text.
//! A database whose recorded checksum differs from the built-in one, or which has migrations this
//! Ward does not know, is refused rather than guessed at.

use sqlx::Row;

use crate::{Result, Store, StoreError, dispatch, sha256_hex};

/// One migration: its number and its SQL for each backend.
struct Migration {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sqlite: include_str!("../migrations/sqlite/0001_schema.sql"),
        postgres: include_str!("../migrations/postgres/0001_schema.sql"),
    },
    Migration {
        version: 2,
        sqlite: include_str!("../migrations/sqlite/0002_unblock_requests.sql"),
        postgres: include_str!("../migrations/postgres/0002_unblock_requests.sql"),
    },
    Migration {
        version: 3,
        sqlite: include_str!("../migrations/sqlite/0003_unblock_decisions.sql"),
        postgres: include_str!("../migrations/postgres/0003_unblock_decisions.sql"),
    },
    Migration {
        version: 4,
        sqlite: include_str!("../migrations/sqlite/0004_alert_queue.sql"),
        postgres: include_str!("../migrations/postgres/0004_alert_queue.sql"),
    },
    Migration {
        version: 5,
        sqlite: include_str!("../migrations/sqlite/0005_unblock_periods.sql"),
        postgres: include_str!("../migrations/postgres/0005_unblock_periods.sql"),
    },
    Migration {
        version: 6,
        sqlite: include_str!("../migrations/sqlite/0006_incidents.sql"),
        postgres: include_str!("../migrations/postgres/0006_incidents.sql"),
    },
    Migration {
        version: 7,
        sqlite: include_str!("../migrations/sqlite/0007_detection_exclusions.sql"),
        postgres: include_str!("../migrations/postgres/0007_detection_exclusions.sql"),
    },
    Migration {
        version: 8,
        sqlite: include_str!("../migrations/sqlite/0008_writer_drop_runs.sql"),
        postgres: include_str!("../migrations/postgres/0008_writer_drop_runs.sql"),
    },
    Migration {
        version: 9,
        sqlite: include_str!("../migrations/sqlite/0009_event_requests.sql"),
        postgres: include_str!("../migrations/postgres/0009_event_requests.sql"),
    },
    Migration {
        version: 10,
        sqlite: include_str!("../migrations/sqlite/0010_identified_by.sql"),
        postgres: include_str!("../migrations/postgres/0010_identified_by.sql"),
    },
    Migration {
        version: 11,
        sqlite: include_str!("../migrations/sqlite/0011_directory_people.sql"),
        postgres: include_str!("../migrations/postgres/0011_directory_people.sql"),
    },
    Migration {
        version: 12,
        sqlite: include_str!("../migrations/sqlite/0012_second_factor.sql"),
        postgres: include_str!("../migrations/postgres/0012_second_factor.sql"),
    },
    Migration {
        version: 13,
        sqlite: include_str!("../migrations/sqlite/0013_single_sign_on.sql"),
        postgres: include_str!("../migrations/postgres/0013_single_sign_on.sql"),
    },
    Migration {
        version: 14,
        sqlite: include_str!("../migrations/sqlite/0014_ward_passwords.sql"),
        postgres: include_str!("../migrations/postgres/0014_ward_passwords.sql"),
    },
    Migration {
        version: 15,
        sqlite: include_str!("../migrations/sqlite/0015_directory_accounts.sql"),
        postgres: include_str!("../migrations/postgres/0015_directory_accounts.sql"),
    },
    Migration {
        version: 16,
        sqlite: include_str!("../migrations/sqlite/0016_policy_versions.sql"),
        postgres: include_str!("../migrations/postgres/0016_policy_versions.sql"),
    },
    Migration {
        version: 17,
        sqlite: include_str!("../migrations/sqlite/0017_alert_opened.sql"),
        postgres: include_str!("../migrations/postgres/0017_alert_opened.sql"),
    },
    Migration {
        version: 18,
        sqlite: include_str!("../migrations/sqlite/0018_welfare_concerns.sql"),
        postgres: include_str!("../migrations/postgres/0018_welfare_concerns.sql"),
    },
    Migration {
        version: 19,
        sqlite: include_str!("../migrations/sqlite/0019_notices.sql"),
        postgres: include_str!("../migrations/postgres/0019_notices.sql"),
    },
    Migration {
        version: 20,
        sqlite: include_str!("../migrations/sqlite/0020_alert_assignment.sql"),
        postgres: include_str!("../migrations/postgres/0020_alert_assignment.sql"),
    },
    Migration {
        version: 21,
        sqlite: include_str!("../migrations/sqlite/0021_incident_files.sql"),
        postgres: include_str!("../migrations/postgres/0021_incident_files.sql"),
    },
    Migration {
        version: 22,
        sqlite: include_str!("../migrations/sqlite/0022_traffic_hours.sql"),
        postgres: include_str!("../migrations/postgres/0022_traffic_hours.sql"),
    },
    Migration {
        version: 23,
        sqlite: include_str!("../migrations/sqlite/0023_event_hosts.sql"),
        postgres: include_str!("../migrations/postgres/0023_event_hosts.sql"),
    },
    Migration {
        version: 24,
        sqlite: include_str!("../migrations/sqlite/0024_agreements.sql"),
        postgres: include_str!("../migrations/postgres/0024_agreements.sql"),
    },
    Migration {
        version: 25,
        sqlite: include_str!("../migrations/sqlite/0025_photo_consent.sql"),
        postgres: include_str!("../migrations/postgres/0025_photo_consent.sql"),
    },
    Migration {
        version: 26,
        sqlite: include_str!("../migrations/sqlite/0026_parent_links.sql"),
        postgres: include_str!("../migrations/postgres/0026_parent_links.sql"),
    },
    Migration {
        version: 27,
        sqlite: include_str!("../migrations/sqlite/0027_training.sql"),
        postgres: include_str!("../migrations/postgres/0027_training.sql"),
    },
    Migration {
        version: 28,
        sqlite: include_str!("../migrations/sqlite/0028_loans_and_licences.sql"),
        postgres: include_str!("../migrations/postgres/0028_loans_and_licences.sql"),
    },
    Migration {
        version: 29,
        sqlite: include_str!("../migrations/sqlite/0029_account_classes.sql"),
        postgres: include_str!("../migrations/postgres/0029_account_classes.sql"),
    },
    Migration {
        version: 30,
        sqlite: include_str!("../migrations/sqlite/0030_training_reminders.sql"),
        postgres: include_str!("../migrations/postgres/0030_training_reminders.sql"),
    },
];

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    checksum TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// The newest schema version this Ward knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |migration| migration.version)
}

pub(crate) async fn run(store: &Store) -> Result<()> {
    let now = crate::micros(jiff::Timestamp::now());
    dispatch!(store, pool => {
        sqlx::query(CREATE_TABLE).execute(pool).await?;
        let applied: Vec<(i64, String)> = sqlx::query("SELECT version, checksum FROM schema_migrations ORDER BY version")
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        if let Some(&(found, _)) = applied.last()
            && found > latest_version()
        {
            return Err(StoreError::SchemaTooNew { found, known: latest_version() });
        }
        // Every pending migration in one transaction: an upgrade that fails part way leaves the
        // schema exactly as the previous Ward left it (both backends have transactional DDL),
        // so the previous version can be installed again and run.
        let mut pending = Vec::new();
        for migration in MIGRATIONS {
            let text = match store.backend() {
                crate::BackendKind::Sqlite => migration.sqlite,
                crate::BackendKind::Postgres => migration.postgres,
            };
            let checksum = sha256_hex(text.as_bytes());
            if let Some((_, recorded)) = applied.iter().find(|(version, _)| *version == migration.version) {
                if *recorded != checksum {
                    return Err(StoreError::MigrationChanged { version: migration.version });
                }
                continue;
            }
            pending.push((migration.version, text, checksum));
        }
        if pending.is_empty() {
            return Ok(());
        }
        let from = applied.last().map_or(0, |(version, _)| *version);
        let mut transaction = pool.begin().await?;
        for (version, text, checksum) in &pending {
            let failed = |error: sqlx::Error| StoreError::MigrationFailed {
                version: *version,
                from,
                error: error.to_string(),
            };
            sqlx::raw_sql(*text).execute(&mut *transaction).await.map_err(failed)?;
            sqlx::query("INSERT INTO schema_migrations (version, checksum, applied_at) VALUES ($1, $2, $3)")
                .bind(*version)
                .bind(checksum)
                .bind(now)
                .execute(&mut *transaction)
                .await
                .map_err(failed)?;
        }
        transaction.commit().await.map_err(|error| StoreError::MigrationFailed {
            version: latest_version(),
            from,
            error: error.to_string(),
        })?;
        tracing::info!(from, to = latest_version(), "database schema upgraded");
    });
    Ok(())
}
