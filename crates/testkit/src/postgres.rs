//! PostgreSQL for the tests: the server the test command started (`WARD_TEST_POSTGRES`), a new
//! empty database on it per test, and clusters of a test's own for tests that stop and start the
//! server (Debian's `postgresql` package).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::temp_folder;

static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// The PostgreSQL server the test command started (`WARD_TEST_POSTGRES`, a URL to its
/// `postgres` database).
pub fn server() -> String {
    std::env::var("WARD_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "WARD_TEST_POSTGRES is not set: run the tests with scripts/test, which starts a \
             throwaway PostgreSQL cluster, or set it to postgres://USER@HOST:PORT/postgres"
        )
    })
}

/// A new, empty database on `server` (a URL to a maintenance database), named after `prefix`,
/// the process and a counter; returns its URL.
pub async fn create_database(server: &str, prefix: &str) -> String {
    use sqlx::Connection;
    let name = format!(
        "{prefix}_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    let mut connection = sqlx::PgConnection::connect(server)
        .await
        .expect("connect to the test PostgreSQL server");
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut connection)
            .await
            .expect("create a test database");
    }
    let base = server.rsplit_once('/').map_or(server, |(base, _)| base);
    format!("{base}/{name}")
}

/// [`create_database`] for a test without a runtime of its own.
pub fn create_database_blocking(server: &str, prefix: &str) -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(create_database(server, prefix))
}

/// A PostgreSQL cluster of the test's own, from Debian's `postgresql` package: initdb into a
/// temporary folder, started on a free port, stopped (immediately) and deleted when dropped.
pub struct PgCluster {
    folder: PathBuf,
    bin: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

fn postgres_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("WARD_PG_BIN") {
        return PathBuf::from(bin);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (/usr/lib/postgresql): run scripts/test, which installs it")
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(|version| version.file_name())
            .and_then(|name| name.to_str())
            .and_then(|name| name.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions
        .pop()
        .expect("no PostgreSQL server binaries under /usr/lib/postgresql")
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL tool, as the `postgres` user when the tests run as root (PostgreSQL
/// refuses to run as root).
fn run_postgres_tool(bin: &Path, tool: &str, arguments: &[&str]) {
    let program = bin.join(tool);
    let status = if running_as_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&program)
            .args(arguments)
            .status()
    } else {
        Command::new(&program).args(arguments).status()
    }
    .unwrap_or_else(|error| panic!("run {}: {error}", program.display()));
    assert!(status.success(), "{tool} {arguments:?} failed: {status}");
}

impl PgCluster {
    /// Creates and starts a cluster.
    pub fn start() -> PgCluster {
        let bin = postgres_bin();
        let folder = temp_folder("pgcluster");
        if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&folder)
                .status()
                .expect("chown the cluster folder");
            assert!(status.success());
        }
        let data = folder.join("data");
        run_postgres_tool(
            &bin,
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("find a free port")
            .port();
        let cluster = PgCluster { folder, bin, port };
        cluster.resume();
        cluster
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once, as a crash or a pulled cable would.
    pub fn kill(&self) {
        let data = self.folder.join("data");
        run_postgres_tool(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    /// Starts the server (again) on the same port and data.
    pub fn resume(&self) {
        let data = self.folder.join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.folder.display()
        );
        let log = self.folder.join("server.log");
        run_postgres_tool(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-o",
                &options,
                "-l",
                &log.to_string_lossy(),
                "-w",
                "start",
            ],
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.folder.join("data");
        let pg_ctl = self.bin.join("pg_ctl");
        let mut command = if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            command
        } else {
            Command::new(&pg_ctl)
        };
        let _ = command
            .args(["-D", &data.to_string_lossy(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}
