//! `ward backup FILE` and `ward restore FILE` (issue 28), and the backups Ward takes by itself
//! (`[backup]`).
//!
//! A backup is one `.tar.gz` archive:
//! - `data/…`: the data folder's files (the category index, the audit log's key and signed
//!   checkpoints, the school's CA for HTTPS inspection, the gateway's snapshot, the journal's
//!   events not yet in the database);
//! - `database.sqlite`: a consistent copy of the SQLite database, taken while Ward runs
//!   (`VACUUM INTO`). A PostgreSQL database is backed up with `pg_dump` beside it
//!   (docs/operations.md);
//! - `index`, `audit.key`: the index and the audit key when they are kept outside the data
//!   folder;
//! - `manifest.json`, last: Ward's version, the schema version, and each file's size and
//!   SHA-256.
//!
//! The order matters while Ward runs. The audit checkpoints are copied before the database, so
//! that the database's audit chain is never shorter than a checkpoint (`ward audit verify`
//! would call that a cut). The journal's segments are opened before the database is copied and
//! read after it (with any segment begun meanwhile), so that every event journalled before the
//! copy is in the copied database or the copied journal: a segment the writer removes during
//! the copy stays readable through its handle. Only events still in the running Ward's memory
//! queue, not yet journalled, can be in neither.
//!
//! `ward restore` unpacks into an empty data folder only, checks every file against the
//! manifest before anything is put in place, and refuses an archive from a newer schema than
//! this Ward knows.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ward_store::{BackendKind, OpenOptions, Store};

use crate::config::Config;
use crate::output::say;
use crate::serve::ServeArgs;
use crate::{EXIT_OK, Failure};

/// The archive format this Ward writes and reads.
const FORMAT: u32 = 1;
/// The journal's folder inside the data folder (copied last).
const JOURNAL: &str = "journal";
/// How backups Ward takes by itself are named: `ward-backup-YYYYMMDD-HHMMSS.tar.gz`.
const SCHEDULED_PREFIX: &str = "ward-backup-";

/// Arguments of `ward backup` and `ward restore`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The archive (`.tar.gz`).
    pub file: PathBuf,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// What a backup holds, written last into the archive.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    ward_version: String,
    created_at: String,
    /// The database's schema version (0 when the database is not in the archive).
    schema_version: i64,
    /// "sqlite" (in the archive as `database.sqlite`) or "postgres" (backed up with pg_dump).
    database: String,
    files: Vec<FileEntry>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct FileEntry {
    name: String,
    bytes: u64,
    sha256: String,
}

/// What a backup wrote.
pub struct Written {
    /// Files in the archive (the manifest not counted).
    pub files: usize,
    /// The archive's size.
    pub bytes: u64,
    /// The database's schema version.
    pub schema_version: i64,
    /// Whether the database is in it (SQLite) or must be dumped separately (PostgreSQL).
    pub database_included: bool,
}

/// `ward backup FILE`.
pub fn backup_command(arguments: BackupArgs) -> Result<u8, Failure> {
    let config = crate::serve::load_config(&arguments.serve)?;
    let runtime = crate::serve::runtime()?;
    runtime.block_on(async {
        if let Some(path) = sqlite_path(&config.database_url())
            && !path.exists()
        {
            return Err(Failure::usage(anyhow::anyhow!(
                "there is no database at {} to back up (is this Ward's configuration?)",
                path.display()
            )));
        }
        let options = OpenOptions {
            max_connections: 2,
            acquire_timeout: std::time::Duration::from_secs(
                config.database.connect_timeout_seconds,
            ),
        };
        let url = config.database_url();
        let store = Store::open(&url, &options)
            .await
            .with_context(|| format!("database {}", ward_store::redact_url(&url)))
            ?;
        let written = take(&config, &store, &arguments.file)
            .await
            ?;
        store.close().await;
        say!(
            "Backed up {} files ({} bytes, schema version {}) to {}",
            written.files,
            written.bytes,
            written.schema_version,
            arguments.file.display()
        );
        if !written.database_included {
            say!(
                "The PostgreSQL database is not in the archive: back it up with pg_dump (docs/operations.md)."
            );
        }
        Ok(EXIT_OK)
    })
}

/// Writes a backup of Ward's data to `out` (atomically: `out` appears only when complete).
pub async fn take(config: &Config, store: &Store, out: &Path) -> anyhow::Result<Written> {
    let data_dir = config.data_dir.clone();
    let database_file = sqlite_path(&config.database_url());
    let index = config.index_path();
    let key = crate::anchor::key_path(&config.data_dir, &config.audit.key_file);
    let schema_version = store.schema_version_in_use().await?;
    let sqlite = store.backend() == BackendKind::Sqlite;

    let partial = with_suffix(out, ".partial");
    let copy = with_suffix(out, ".database.partial");
    let file = create_private(&partial)?;
    let mut archive = Archive::new(file);
    let skip: Vec<PathBuf> = [
        database_file.clone(),
        database_file.as_ref().map(|p| with_suffix(p, "-wal")),
        database_file.as_ref().map(|p| with_suffix(p, "-shm")),
        database_file.as_ref().map(|p| with_suffix(p, "-journal")),
        Some(partial.clone()),
        Some(copy.clone()),
        Some(out.to_path_buf()),
        backup_folder(config),
    ]
    .into_iter()
    .flatten()
    .filter_map(|p| std::path::absolute(p).ok())
    .collect();

    // 1. The data folder's files but the journal (the audit checkpoints among them: before
    //    the database, see the module's notes).
    let mut later = Vec::new();
    let files = tokio::task::spawn_blocking({
        let data_dir = data_dir.clone();
        move || files_under(&data_dir)
    })
    .await??;
    for (relative, path) in files {
        let absolute = std::path::absolute(&path)?;
        if skip
            .iter()
            .any(|s| absolute == *s || absolute.starts_with(s))
        {
            continue;
        }
        if relative.starts_with(JOURNAL) {
            later.push((relative, path));
            continue;
        }
        archive.add_file(&format!("data/{}", slashed(&relative)), &path)?;
    }
    if !index.starts_with(&data_dir) && index.exists() {
        archive.add_file("index", &index)?;
    }
    if !key.starts_with(&data_dir) && key.exists() {
        archive.add_file("audit.key", &key)?;
    }

    // The journal's files are opened before the database is copied: a segment the writer
    // removes meanwhile (because the database took it, after the copy began) stays readable
    // through its handle, and each is read to its length after the copy.
    let mut journal = Vec::new();
    for (relative, path) in later {
        if let Some(file) = open_if_there(&path)? {
            journal.push((relative, path, file));
        }
    }

    // 2. The database.
    if sqlite {
        let _ = std::fs::remove_file(&copy);
        store
            .copy_database_to(&copy)
            .await
            .context("cannot copy the database")?;
        let added = archive.add_file("database.sqlite", &copy);
        let _ = std::fs::remove_file(&copy);
        added?;
    }

    // 3. The journal: the files held, and any segment begun while the database was copied.
    for (relative, path) in files_under(&data_dir.join(JOURNAL))? {
        let relative = Path::new(JOURNAL).join(relative);
        if !journal.iter().any(|(held, _, _)| *held == relative)
            && let Some(file) = open_if_there(&path)?
        {
            journal.push((relative, path, file));
        }
    }
    for (relative, path, file) in journal {
        archive.add_open(&format!("data/{}", slashed(&relative)), file, &path)?;
    }

    let manifest = Manifest {
        format: FORMAT,
        ward_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: jiff::Timestamp::now().to_string(),
        schema_version,
        database: if sqlite { "sqlite" } else { "postgres" }.to_owned(),
        files: archive.entries,
    };
    let files = manifest.files.len();
    let text = serde_json::to_vec_pretty(&manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o600);
    header.set_cksum();
    archive
        .builder
        .append_data(&mut header, "manifest.json", text.as_slice())?;
    let encoder = archive.builder.into_inner()?;
    let file = encoder.finish()?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&partial, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(Written {
        files,
        bytes: std::fs::metadata(out)?.len(),
        schema_version,
        database_included: sqlite,
    })
}

/// The archive being written, and what went into it.
struct Archive {
    builder: tar::Builder<flate2::write::GzEncoder<std::fs::File>>,
    entries: Vec<FileEntry>,
}

impl Archive {
    fn new(file: std::fs::File) -> Archive {
        let encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        Archive {
            builder: tar::Builder::new(encoder),
            entries: Vec::new(),
        }
    }

    /// Adds `path` as `name`: its size when opened (a file still growing, like the journal's
    /// newest segment, is taken up to there). A file removed meanwhile is left out.
    fn add_file(&mut self, name: &str, path: &Path) -> anyhow::Result<()> {
        match open_if_there(path)? {
            Some(file) => self.add_open(name, file, path),
            None => Ok(()),
        }
    }

    /// Adds the open `file` (from `path`) as `name`, up to its length now.
    fn add_open(&mut self, name: &str, file: std::fs::File, path: &Path) -> anyhow::Result<()> {
        let bytes = file.metadata()?.len();
        let mut reader = Hashing {
            inner: file.take(bytes),
            hasher: Sha256::new(),
            read: 0,
        };
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes);
        header.set_mode(0o600);
        header.set_cksum();
        self.builder
            .append_data(&mut header, name, &mut reader)
            .with_context(|| format!("cannot archive {}", path.display()))?;
        anyhow::ensure!(
            reader.read == bytes,
            "{} shrank while it was being backed up",
            path.display()
        );
        self.entries.push(FileEntry {
            name: name.to_owned(),
            bytes,
            sha256: hex::encode(reader.hasher.finalize()),
        });
        Ok(())
    }
}

/// `path` opened for reading; `None` if it has gone (a journal segment the database took).
fn open_if_there(path: &Path) -> anyhow::Result<Option<std::fs::File>> {
    match std::fs::File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.hasher.update(&buffer[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// `ward restore FILE`: into an empty data folder only.
pub fn restore_command(arguments: BackupArgs) -> Result<u8, Failure> {
    let config = crate::serve::load_config(&arguments.serve)?;
    let restored = restore(&config, &arguments.file)?;
    say!(
        "Restored {} files (schema version {}, backed up {} by Ward {}) into {}",
        restored.files.len(),
        restored.schema_version,
        restored.created_at,
        restored.ward_version,
        config.data_dir.display()
    );
    if restored.database == "postgres" {
        say!(
            "The archive has no database (it was PostgreSQL): load your pg_dump of the same time with pg_restore before starting Ward."
        );
    }
    say!("Start Ward, then check the audit log with `ward audit verify`.");
    Ok(EXIT_OK)
}

fn restore(config: &Config, archive: &Path) -> anyhow::Result<Manifest> {
    let data_dir = &config.data_dir;
    if let Ok(mut entries) = std::fs::read_dir(data_dir)
        && entries.next().is_some()
    {
        bail!(
            "the data folder {} is not empty: restore into an empty one (move the current folder aside first, or set data_dir)",
            data_dir.display()
        );
    }
    let database_file = sqlite_path(&config.database_url());
    if let Some(path) = &database_file
        && path.exists()
    {
        bail!(
            "there is already a database at {}: restore only where there is none",
            path.display()
        );
    }
    let staging = with_suffix(data_dir, ".restoring");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot clear {}", staging.display()))?;
    }
    std::fs::create_dir_all(&staging)?;
    let unpacked = unpack(archive, &staging);
    let manifest = match unpacked.and_then(|found| check(found, &staging)) {
        Ok(manifest) => manifest,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(error.context(format!(
                "{} cannot be restored; nothing was changed",
                archive.display()
            )));
        }
    };
    let placed = place(config, &staging, &manifest, database_file.as_deref());
    let _ = std::fs::remove_dir_all(&staging);
    placed?;
    Ok(manifest)
}

/// Unpacks every entry into `staging`, hashing as it goes; returns the manifest and what was
/// found. Names are checked: no absolute paths, no `..`, nothing but plain files.
fn unpack(archive: &Path, staging: &Path) -> anyhow::Result<(Manifest, Vec<FileEntry>)> {
    let file = std::fs::File::open(archive)
        .with_context(|| format!("cannot open {}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut found = Vec::new();
    let mut manifest = None;
    for entry in tar.entries().context("the archive is damaged")? {
        let mut entry = entry.context("the archive is damaged")?;
        let name = entry
            .path()
            .context("the archive is damaged")?
            .to_string_lossy()
            .into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular || !safe_name(&name) {
            bail!("the archive has an entry Ward does not write: {name:?}");
        }
        if name == "manifest.json" {
            let mut text = Vec::new();
            entry
                .read_to_end(&mut text)
                .context("the archive is damaged")?;
            manifest = Some(
                serde_json::from_slice::<Manifest>(&text)
                    .context("the archive's manifest is damaged")?,
            );
            continue;
        }
        if manifest.is_some() {
            bail!("the archive has {name:?} after its manifest: it is not one Ward wrote");
        }
        let target = staging.join(&name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = create_private(&target)?;
        let mut reader = Hashing {
            inner: &mut entry,
            hasher: Sha256::new(),
            read: 0,
        };
        std::io::copy(&mut reader, &mut out).context("the archive is damaged")?;
        out.flush()?;
        found.push(FileEntry {
            name,
            bytes: reader.read,
            sha256: hex::encode(reader.hasher.finalize()),
        });
    }
    let manifest = manifest.context("the archive has no manifest: it is cut short or damaged")?;
    Ok((manifest, found))
}

/// Checks the unpacked files against the manifest, and the manifest against this Ward.
fn check(
    (manifest, mut found): (Manifest, Vec<FileEntry>),
    staging: &Path,
) -> anyhow::Result<Manifest> {
    if manifest.format != FORMAT {
        bail!(
            "the archive is in format {}, which this Ward cannot read",
            manifest.format
        );
    }
    let mut listed: Vec<&FileEntry> = manifest.files.iter().collect();
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    found.sort_by(|a, b| a.name.cmp(&b.name));
    if listed.len() != found.len() || listed.iter().zip(&found).any(|(a, b)| *a != b) {
        let damaged: Vec<&str> = listed
            .iter()
            .filter(|entry| !found.contains(entry))
            .map(|entry| entry.name.as_str())
            .collect();
        bail!(
            "the archive is damaged: {} do not match their checksums or are missing",
            if damaged.is_empty() {
                "files it was not written with are in it, or some".to_owned()
            } else {
                damaged.join(", ")
            }
        );
    }
    let known = ward_store::schema_version();
    if manifest.schema_version > known {
        bail!(
            "the backup is from a newer Ward ({}, schema version {}) than this one ({}, schema version {known}): install that version or newer to restore it",
            manifest.ward_version,
            manifest.schema_version,
            env!("CARGO_PKG_VERSION")
        );
    }
    match manifest.database.as_str() {
        "sqlite" if staging.join("database.sqlite").is_file() => {}
        "sqlite" => bail!("the archive's database is missing"),
        "postgres" => {}
        other => bail!("the archive's database kind {other:?} is unknown"),
    }
    Ok(manifest)
}

/// Moves the checked files into place.
fn place(
    config: &Config,
    staging: &Path,
    manifest: &Manifest,
    database_file: Option<&Path>,
) -> anyhow::Result<()> {
    if manifest.database == "sqlite" {
        let Some(database_file) = database_file else {
            bail!(
                "the backup holds an SQLite database, and database.url is PostgreSQL: restore it with database.url empty (or sqlite://…), or load it with pgloader"
            );
        };
        if let Some(parent) = database_file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        move_file(&staging.join("database.sqlite"), database_file)?;
    }
    let data = staging.join("data");
    std::fs::create_dir_all(&config.data_dir)?;
    if data.is_dir() {
        for (relative, path) in files_under(&data)? {
            let target = config.data_dir.join(&relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            move_file(&path, &target)?;
        }
    }
    for (name, target) in [
        ("index", config.index_path()),
        (
            "audit.key",
            crate::anchor::key_path(&config.data_dir, &config.audit.key_file),
        ),
    ] {
        let from = staging.join(name);
        if from.is_file() {
            if target.exists() {
                bail!(
                    "{} exists already; the backup's copy is left out (compare them by hand)",
                    target.display()
                );
            }
            move_file(&from, &target)?;
        }
    }
    Ok(())
}

fn move_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    if std::fs::rename(from, to).is_err() {
        // Another file system: copy, keeping the file private.
        let mut source = std::fs::File::open(from)?;
        let mut target = create_private(to)?;
        std::io::copy(&mut source, &mut target)?;
        target.sync_all()?;
    }
    Ok(())
}

/// Starts the scheduled backups, if `[backup] folder` is set. The next one is due
/// `every_hours` after the newest in the folder (at once if there is none, or it is older), so
/// that restarts neither skip backups nor take extra ones.
pub fn schedule(config: &Config, store: Store) -> Option<tokio::task::JoinHandle<()>> {
    let folder = backup_folder(config)?;
    let config = config.clone();
    Some(tokio::spawn(async move {
        let period = std::time::Duration::from_secs(config.backup.every_hours * 3600);
        loop {
            let since = scheduled_backups(&folder)
                .last()
                .and_then(|newest| std::fs::metadata(newest).ok())
                .and_then(|m| m.modified().ok())
                .and_then(|at| at.elapsed().ok());
            if let Some(since) = since
                && since < period
            {
                tokio::time::sleep(period - since).await;
            }
            if let Err(error) = scheduled(&config, &store, &folder).await {
                tracing::error!(error = %format!("{error:#}"), folder = %folder.display(), "the scheduled backup failed; trying again in an hour");
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            }
        }
    }))
}

/// The backups Ward took by itself in `folder`, oldest first (their names sort by time).
fn scheduled_backups(folder: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut taken: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(SCHEDULED_PREFIX) && n.ends_with(".tar.gz"))
        })
        .collect();
    taken.sort();
    taken
}

async fn scheduled(config: &Config, store: &Store, folder: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let name = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();
    let out = folder.join(format!("{SCHEDULED_PREFIX}{name}.tar.gz"));
    let written = take(config, store, &out).await?;
    tracing::info!(
        file = %out.display(),
        bytes = written.bytes,
        files = written.files,
        "backup taken"
    );
    // The oldest beyond `keep` go.
    let taken = scheduled_backups(folder);
    let excess = taken.len().saturating_sub(config.backup.keep);
    for old in &taken[..excess] {
        if let Err(error) = std::fs::remove_file(old) {
            tracing::warn!(%error, file = %old.display(), "cannot delete an old backup");
        }
    }
    Ok(())
}

fn backup_folder(config: &Config) -> Option<PathBuf> {
    match config.backup.folder.trim() {
        "" => None,
        folder => Some(PathBuf::from(folder)),
    }
}

/// The file of an `sqlite://PATH` URL (`None`: PostgreSQL, or an in-memory database).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// Every plain file under `folder`, with its path relative to it.
fn files_under(folder: &Path) -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
    let mut found = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", current.display()));
            }
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let relative = path.strip_prefix(folder)?.to_path_buf();
                found.push((relative, path));
            }
        }
    }
    found.sort();
    Ok(found)
}

fn slashed(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A name Ward writes: relative, plain components only, in one of the archive's places.
fn safe_name(name: &str) -> bool {
    let path = Path::new(name);
    let plain = path
        .components()
        .all(|component| matches!(component, Component::Normal(_)));
    plain
        && (name.starts_with("data/")
            || matches!(
                name,
                "database.sqlite" | "index" | "audit.key" | "manifest.json"
            ))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut text = path.as_os_str().to_owned();
    text.push(suffix);
    PathBuf::from(text)
}

/// A new file only its owner can read: backups hold the audit key and the CA's key.
fn create_private(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_names_ward_writes_are_unpacked() {
        assert!(safe_name("data/journal/events-0000000001.journal"));
        assert!(safe_name("database.sqlite"));
        assert!(safe_name("manifest.json"));
        assert!(!safe_name("../etc/passwd"));
        assert!(!safe_name("data/../../etc/passwd"));
        assert!(!safe_name("/etc/passwd"));
        assert!(!safe_name("other/file"));
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://var/ward.db"),
            Some(PathBuf::from("var/ward.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/ward/ward.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/ward/ward.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://ward@db/ward"), None);
    }
}
