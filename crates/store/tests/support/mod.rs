//! Test fixtures: a fresh SQLite file or PostgreSQL database per test, and throwaway PostgreSQL
//! clusters for tests that stop and start the server.

#![allow(dead_code)]

use ward_store::{OpenOptions, Store};

#[allow(unused_imports)] // the suite uses `postgres`, the outage test `PgCluster`
pub use ward_testkit::postgres::{self, PgCluster};
pub use ward_testkit::temp_folder;

/// A migrated store, and its URL (for tests that go behind the store's back).
pub struct Fixture {
    pub store: Store,
    pub url: String,
}

/// A migrated store on a new SQLite file.
pub async fn sqlite_store() -> Fixture {
    let folder = temp_folder("sqlite");
    let url = format!("sqlite://{}", folder.join("ward.db").display());
    let store = Store::open_and_migrate(&url, &OpenOptions::default())
        .await
        .expect("open and migrate SQLite");
    Fixture { store, url }
}

/// Runs SQL on the database at `url` directly, as someone tampering with it would.
pub async fn execute_behind_the_stores_back(url: &str, sql: &str) {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::raw_sql(sql)
            .execute(&mut connection)
            .await
            .expect("run SQL");
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::raw_sql(sql)
            .execute(&mut connection)
            .await
            .expect("run SQL");
    }
}

/// Runs SQL on the database at `url` directly and reports the database's refusal, if any.
pub async fn try_behind_the_stores_back(url: &str, sql: &str) -> Result<(), String> {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    let outcome = if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::raw_sql(sql)
            .execute(&mut connection)
            .await
            .map(|_| ())
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::raw_sql(sql)
            .execute(&mut connection)
            .await
            .map(|_| ())
    };
    outcome.map_err(|error| error.to_string())
}

/// A new, empty database on `server` (a URL to a maintenance database); returns its URL.
pub async fn create_database(server: &str) -> String {
    postgres::create_database(server, "ward_test").await
}

/// A migrated store on a new database of the test PostgreSQL server.
pub async fn postgres_store() -> Fixture {
    let url = create_database(&postgres::server()).await;
    let store = Store::open_and_migrate(&url, &OpenOptions::default())
        .await
        .expect("open and migrate PostgreSQL");
    Fixture { store, url }
}
