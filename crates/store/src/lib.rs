//! Ward's store: the schema (one migrations folder per backend), every query Ward runs, the
//! tamper-evident audit log and the event writer.
//!
//! One API, two backends: SQLite (the default: one file, nothing to install) and PostgreSQL (for
//! a local authority running many schools and several gateways). Queries are written once with
//! `$1`-style parameters, which both backends accept, and [`dispatch!`] expands each body once per
//! backend so that rows decode with each driver's own types. Times are stored as microseconds
//! since the Unix epoch in `BIGINT` columns, so both backends sort and compare them alike.
//!
//! Tenancy: every record about a school's people or activity carries its `school_id`, and every
//! query that reads them takes a [`SchoolId`]. Only this crate knows SQL.

mod accounts;
mod agreements;
mod alerts;
mod audit;
mod consent;
mod detection;
mod directory;
mod events;
mod import;
mod incidents;
mod journal;
mod loans;
mod migrate;
pub use migrate::latest_version as schema_version;
mod model;
mod notices;
mod parents;
mod people;
mod policy;
mod schools;
mod training;
mod unblock;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use accounts::{LoginAttempt, LoginFailure, NewAccount};
pub use agreements::{Agreement, AgreementAnswer, AgreementRow, Signer};
pub use alerts::{
    Alert, AlertChange, AlertFilter, AlertNarrowing, AlertSource, AlertStatus, AlertTally,
    LockedOut, MAX_ALERT_NOTE, NewAlert, UrgentAlert, Waiting,
};
pub use audit::{AuditEntry, AuditVerification, NewAuditEntry, entry_hash};
pub use consent::{ConsentRecord, MAX_CONSENT_TEXT, NewConsent, PupilConsent};
pub use detection::{Exclusion, ExclusionKind, MIN_EXCLUSION_REASON, NewExclusion};
pub use directory::{
    AccountsSync, DIRECTORY_PASSWORD, DirectoryAccount, DirectoryEntry, DirectorySync,
};
pub use events::{ActivityQuery, BrowsingRow, CategoryCount, DEFAULT_ALERT_WINDOW, EventRow};
pub use import::{ImportReport, PeopleCsv, RowProblem, place_in_group, year_group};
pub use incidents::{
    EntryKind, Incident, IncidentEntry, IncidentFile, IncidentFilter, IncidentScope,
    IncidentStatus, MAX_INCIDENT_TEXT, NewEntry, NewIncident, NewIncidentFile,
};
pub use journal::JournalError;
pub use loans::{LOAN_EVENTS, Licence, Loan, NewLoan};
pub use model::{
    Account, AccountId, AlertId, BadIdentifier, Device, DeviceId, Disposition, Event, EventAlert,
    Group, GroupRowId, IncidentId, MAX_DEVICE_NAME, MAX_NAME, MAX_USERNAME, Network, NewDevice,
    NewGroup, NewPerson, Person, PersonId, PersonKind, RequestId, Role, Roles, School, SchoolId,
    SecondFactor, Session, Source, check_device_name, check_name, check_username,
    is_hidden_character, micros, timestamp,
};
pub use notices::{NewRecords, Notice, NoticeEmail};
pub use parents::{NewParentLink, ParentLink};
pub use policy::{
    FilterChanges, MAX_REASON as POLICY_MAX_REASON, MIN_REASON as POLICY_MIN_REASON,
    MOST_POLICY_BYTES, PolicySource, PolicyVersion,
};
pub use training::{NewTraining, TrainingRecord};
pub use unblock::{
    MAX_NOTE as MAX_UNBLOCK_NOTE, MAX_REASON as MAX_UNBLOCK_REASON, NewUnblockRequest,
    UnblockDecision, UnblockGrant, UnblockRequest,
};
pub use ward_events::{BadNetwork, EventSink, IdentifiedBy, WriterHealth};
pub use writer::{EventWriter, WriterConfig};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a query, or could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The database URL is not one Ward understands.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// A migration already applied to this database differs from the one built into Ward: the
    /// database was made by another version of Ward and must not be touched by this one.
    #[error("migration {version} in the database differs from the one built into this Ward")]
    MigrationChanged {
        /// The migration's number.
        version: i64,
    },
    /// The database has migrations this Ward does not know: it was upgraded by a newer Ward.
    #[error(
        "the database is at schema version {found}, written by a newer Ward than this one (which knows up to {known}): Ward is never downgraded over newer data. Install the newer Ward again, or restore a backup taken before the upgrade into an empty data folder (`ward restore FILE`)"
    )]
    SchemaTooNew {
        /// The highest version recorded in the database.
        found: i64,
        /// The highest version this Ward knows.
        known: i64,
    },
    /// Upgrading the schema failed; nothing of the upgrade was kept.
    #[error(
        "upgrading the database's schema failed at migration {version}: {error}. Nothing was changed: the database is still at schema version {from}. Ward has not started; install the previous Ward again to keep filtering, and report this message"
    )]
    MigrationFailed {
        /// The migration that failed.
        version: i64,
        /// The schema version the database stays at.
        from: i64,
        /// What the database said.
        error: String,
    },
    /// A record the caller named does not exist (in this school).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A record with the same unique name already exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// A value the caller passed is not acceptable (a bad network address, an empty name…).
    #[error("{0}")]
    Invalid(String),
    /// The database did not answer within the time allowed (the event writer's timeout).
    #[error("the database did not answer within {0:?}")]
    Timeout(Duration),
    /// A stored value the safeguarding rules do not know (an alert status, say).
    #[error(transparent)]
    Records(#[from] ward_records::RecordsError),
    /// Text that should be an IP address or subnet is not.
    #[error(transparent)]
    BadNetwork(#[from] ward_events::BadNetwork),
    /// The event journal could not be read or written.
    #[error("event journal: {0}")]
    Journal(#[from] JournalError),
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A connection pool to one of the two backends.
#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's concrete pool. The body is written once and
/// compiled once per backend, so rows decode with each driver's own types.
macro_rules! dispatch {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use dispatch;

/// A value bound to a query whose conditions are built at run time (from the filters given).
pub(crate) enum Bound {
    Int(i64),
    Text(String),
}

/// Binds each of `$values` (`&[Bound]`), in order, to `$query`.
macro_rules! bind_all {
    ($query:expr, $values:expr) => {{
        let mut query = $query;
        for value in $values {
            query = match value {
                $crate::Bound::Int(number) => query.bind(*number),
                $crate::Bound::Text(text) => query.bind(text.as_str()),
            };
        }
        query
    }};
}
pub(crate) use bind_all;

/// Opening a transaction that will write. On SQLite it starts `BEGIN IMMEDIATE`, taking the write
/// lock at once (waiting for it under the busy timeout): a plain `BEGIN` that reads first and
/// writes later fails at once with "database is locked" when another connection wrote in
/// between, and the busy timeout cannot help it. That turned concurrent log-ins into 500s and
/// lost audit entries.
pub(crate) trait BeginWrite {
    /// The database.
    type Database: sqlx::Database;
    /// A transaction that will write.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Database>>;
}

impl BeginWrite for sqlx::SqlitePool {
    type Database = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.begin_with("BEGIN IMMEDIATE").await?)
    }
}

impl BeginWrite for sqlx::PgPool {
    type Database = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.begin().await?)
    }
}

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// An SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// How long a query waits for a free connection (or for PostgreSQL to answer a connect)
    /// before failing; the event writer relies on this to notice a database that has gone away.
    pub acquire_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Ward's store: cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// Serialises audit appends within this process, so that two entries never race for the
    /// same place in a school's chain (another process is caught by the unique `seq`).
    audit_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Store {
    /// Opens the database at `url` (`sqlite://var/ward.db`, `sqlite::memory:`,
    /// `postgres://user@host/db`), creating an SQLite file if it is missing. Does not migrate.
    pub async fn open(url: &str, options: &OpenOptions) -> Result<Store> {
        Store::open_with(url, options, false).await
    }

    /// Like [`Store::open`], but connecting only when a query first needs it: for a gateway that
    /// starts while its database is unavailable and must go on filtering.
    pub async fn open_lazy(url: &str, options: &OpenOptions) -> Result<Store> {
        Store::open_with(url, options, true).await
    }

    async fn open_with(url: &str, options: &OpenOptions, lazy: bool) -> Result<Store> {
        let backend = if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                // 32 MiB of page cache a connection (SQLite's default is 2 MiB): the events'
                // indexes by person and by site take rows all over their pages, and at a
                // term's size those pages no longer fit the default cache.
                .pragma("cache_size", "-32768")
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let pool = SqlitePoolOptions::new()
                // An in-memory database lives only as long as its one connection.
                .max_connections(if in_memory {
                    1
                } else {
                    options.max_connections
                })
                .min_connections(if in_memory { 1 } else { 0 })
                .idle_timeout(if in_memory {
                    None
                } else {
                    Some(Duration::from_secs(600))
                })
                .max_lifetime(if in_memory {
                    None
                } else {
                    Some(Duration::from_secs(3600))
                })
                .acquire_timeout(options.acquire_timeout);
            let pool = if lazy {
                pool.connect_lazy_with(connect)
            } else {
                pool.connect_with(connect).await?
            };
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let connect = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_lazy_with(connect);
            Backend::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        Ok(Store {
            backend,
            audit_lock: Default::default(),
        })
    }

    /// Opens and brings the schema up to date.
    pub async fn open_and_migrate(url: &str, options: &OpenOptions) -> Result<Store> {
        let store = Store::open(url, options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations this database has not had yet (see `migrate.rs`).
    pub async fn migrate(&self) -> Result<()> {
        migrate::run(self).await
    }

    /// The newest schema version recorded in the database (0: none yet).
    pub async fn schema_version_in_use(&self) -> Result<i64> {
        let version: Option<i64> = dispatch!(self, pool => {
            sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
                .fetch_one(pool)
                .await?
        });
        Ok(version.unwrap_or(0))
    }

    /// SQLite only: a consistent copy of the whole database written to `path` (which must not
    /// exist), taken while Ward runs: readers and the event writer carry on meanwhile.
    pub async fn copy_database_to(&self, path: &std::path::Path) -> Result<()> {
        let Backend::Sqlite(pool) = &self.backend else {
            return Err(StoreError::Invalid(
                "a PostgreSQL database is backed up with pg_dump".into(),
            ));
        };
        let path = path
            .to_str()
            .ok_or_else(|| StoreError::Invalid("the backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Which backend this is.
    pub fn backend(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes every connection (waiting for queries in flight).
    pub async fn close(&self) {
        dispatch!(self, pool => pool.close().await)
    }
}

/// A database URL fit for messages and logs: any password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &url[..scheme_end + 3],
                &authority[..colon],
                &rest[at..]
            ),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// A random token of `bytes` bytes, as lower-case hex.
pub fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    // The operating system's random source failing is not something Ward can work around, and
    // carrying on with a predictable token would be worse than stopping.
    getrandom::fill(&mut buffer).expect("the operating system's random number source failed");
    hex(&buffer)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// SHA-256 of `text`, as lower-case hex.
pub fn sha256_hex(text: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_database_urls() {
        assert_eq!(
            redact_url("postgres://ward:s3cret@db.example/ward"),
            "postgres://ward:***@db.example/ward"
        );
        assert_eq!(
            redact_url("postgres://ward@db.example/ward"),
            "postgres://ward@db.example/ward"
        );
        assert_eq!(redact_url("sqlite://var/ward.db"), "sqlite://var/ward.db");
    }

    #[test]
    fn tokens_are_random_hex() {
        let first = random_token(16);
        assert_eq!(first.len(), 32);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(first, random_token(16));
    }
}
