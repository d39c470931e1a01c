//! The audit log's anchor outside the database (issue 20, item 12). The log is a hash chain
//! in the database, so whoever can write the database can rewrite an entry and re-hash every
//! later one, delete and renumber, or cut the last entries off, and the chain still links.
//! Checkpoints stop that: now and then (every minute while Ward runs, and as it stops) the head
//! of each school's chain (entry number and hash) is appended to a file beside the database,
//! `DATA_DIR/audit-checkpoints`, each line signed (HMAC-SHA-256) with a key the database does
//! not hold (`DATA_DIR/audit.key`, readable by Ward's user only, or the file `audit.key_file`
//! names), and written to the log. `ward audit verify` checks every checkpoint's signature, and
//! that the chain still has each checkpointed entry with the same hash: a rewrite, a
//! renumbering or a truncation up to the last checkpoint is found. Entries since the last
//! checkpoint (at most a minute's) are covered by the chain alone.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use sha2::Sha256;
use ward_store::{SchoolId, Store};

/// The signature key's length, in bytes.
const KEY_BYTES: usize = 32;
/// How often checkpoints are written while Ward runs.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// One checkpoint: a school's chain head at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The school.
    pub school: i64,
    /// The last entry's number.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
    /// When it was taken.
    pub at: Timestamp,
}

impl Checkpoint {
    fn signed_text(&self) -> String {
        format!("v1 {} {} {} {}", self.school, self.seq, self.hash, self.at)
    }
}

/// The key and the checkpoint file.
pub struct Anchor {
    key: [u8; KEY_BYTES],
    file: PathBuf,
}

impl std::fmt::Debug for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anchor")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// Where the checkpoints of a data folder are.
pub fn checkpoint_file(data_dir: &Path) -> PathBuf {
    data_dir.join("audit-checkpoints")
}

/// Where the key is: `key_file` if set, else in the data folder.
pub fn key_path(data_dir: &Path, key_file: &str) -> PathBuf {
    if key_file.trim().is_empty() {
        data_dir.join("audit.key")
    } else {
        PathBuf::from(key_file.trim())
    }
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok()
}

impl Anchor {
    /// Reads the key at `key`, creating it (random, readable by this user only) if it is
    /// missing and `create` is set.
    pub fn open(key: &Path, file: PathBuf, create: bool) -> anyhow::Result<Anchor> {
        let text = match std::fs::read_to_string(key) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && create => {
                let mut bytes = [0u8; KEY_BYTES];
                getrandom::fill(&mut bytes)
                    .map_err(|error| anyhow::anyhow!("no randomness for the audit key: {error}"))?;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut out = options
                    .open(key)
                    .with_context(|| format!("cannot create the audit key {}", key.display()))?;
                out.write_all(format!("{}\n", hex(&bytes)).as_bytes())?;
                out.sync_all()?;
                tracing::info!(key = %key.display(), "created the audit log's checkpoint key");
                hex(&bytes)
            }
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("cannot read the audit key {}", key.display()));
            }
        };
        let bytes = unhex(text.trim())
            .filter(|bytes| bytes.len() == KEY_BYTES)
            .with_context(|| format!("{} is not an audit key", key.display()))?;
        let mut key = [0u8; KEY_BYTES];
        key.copy_from_slice(&bytes);
        Ok(Anchor { key, file })
    }

    fn mac(&self) -> Hmac<Sha256> {
        // An HMAC takes a key of any length.
        match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts every key length"),
        }
    }

    fn sign(&self, checkpoint: &Checkpoint) -> String {
        let mut mac = self.mac();
        mac.update(checkpoint.signed_text().as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// The checkpoints in the file, each checked against its signature; a line that does not
    /// read or whose signature is wrong is an error naming it.
    pub fn checkpoints(&self) -> anyhow::Result<Vec<Checkpoint>> {
        let text = match std::fs::read_to_string(&self.file) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", self.file.display()));
            }
        };
        let mut checkpoints = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let bad = || {
                anyhow::anyhow!(
                    "{} line {}: not a checkpoint signed with this key (the file was changed)",
                    self.file.display(),
                    number + 1
                )
            };
            let parts: Vec<&str> = line.split(' ').collect();
            let [version, school, seq, hash, at, signature] = parts.as_slice() else {
                return Err(bad());
            };
            if *version != "v1" {
                return Err(bad());
            }
            let checkpoint = Checkpoint {
                school: school.parse().map_err(|_| bad())?,
                seq: seq.parse().map_err(|_| bad())?,
                hash: (*hash).to_owned(),
                at: at.parse().map_err(|_| bad())?,
            };
            let signature = unhex(signature).ok_or_else(bad)?;
            let mut mac = self.mac();
            mac.update(checkpoint.signed_text().as_bytes());
            mac.verify_slice(&signature).map_err(|_| bad())?;
            checkpoints.push(checkpoint);
        }
        Ok(checkpoints)
    }

    /// Appends a checkpoint of each school's head that has moved since its last one, and logs
    /// it. Returns the checkpoints written.
    pub async fn checkpoint(&self, store: &Store) -> anyhow::Result<Vec<Checkpoint>> {
        let existing = self.checkpoints()?;
        let mut written = Vec::new();
        for school in store.schools().await? {
            let Some((seq, hash)) = store.audit_head(school.id).await? else {
                continue;
            };
            let last = existing
                .iter()
                .rev()
                .find(|checkpoint| checkpoint.school == school.id.0);
            if last.is_some_and(|last| last.seq == seq && last.hash == hash) {
                continue;
            }
            let checkpoint = Checkpoint {
                school: school.id.0,
                seq,
                hash,
                at: Timestamp::now(),
            };
            let line = format!("{} {}\n", checkpoint.signed_text(), self.sign(&checkpoint));
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.file)
                .with_context(|| format!("cannot write {}", self.file.display()))?;
            file.write_all(line.as_bytes())?;
            file.sync_data()?;
            tracing::info!(
                school = %school.name,
                entry = checkpoint.seq,
                head = %checkpoint.hash,
                "audit log checkpoint"
            );
            written.push(checkpoint);
        }
        Ok(written)
    }

    /// Checks `school`'s chain against its checkpoints: `Ok(None)` when every checkpointed
    /// entry is there with the same hash (and how many were checked), `Ok(Some(why))` when not.
    pub async fn verify(
        &self,
        store: &Store,
        school: SchoolId,
        entries: i64,
    ) -> anyhow::Result<(usize, Option<String>)> {
        let checkpoints: Vec<Checkpoint> = self
            .checkpoints()?
            .into_iter()
            .filter(|checkpoint| checkpoint.school == school.0)
            .collect();
        for checkpoint in &checkpoints {
            if checkpoint.seq > entries {
                return Ok((
                    checkpoints.len(),
                    Some(format!(
                        "the log has {entries} entries, but a checkpoint of {} saw entry {}: entries were deleted",
                        checkpoint.at, checkpoint.seq
                    )),
                ));
            }
            let hash = store.audit_hash_at(school, checkpoint.seq).await?;
            if hash.as_deref() != Some(checkpoint.hash.as_str()) {
                return Ok((
                    checkpoints.len(),
                    Some(format!(
                        "entry {} is not the one checkpointed at {}: the log was rewritten",
                        checkpoint.seq, checkpoint.at
                    )),
                ));
            }
        }
        Ok((checkpoints.len(), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_read_back_and_a_changed_line_is_found() {
        let folder = std::env::temp_dir().join(format!("ward-anchor-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).expect("folder");
        let key = folder.join("audit.key");
        let anchor = Anchor::open(&key, checkpoint_file(&folder), true).expect("created");
        let again = Anchor::open(&key, checkpoint_file(&folder), false).expect("read");
        assert_eq!(anchor.key, again.key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).expect("key").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let checkpoint = Checkpoint {
            school: 1,
            seq: 4,
            hash: "ab".repeat(32),
            at: Timestamp::now(),
        };
        let line = format!(
            "{} {}\n",
            checkpoint.signed_text(),
            anchor.sign(&checkpoint)
        );
        std::fs::write(checkpoint_file(&folder), &line).expect("write");
        assert_eq!(anchor.checkpoints().expect("reads"), [checkpoint]);
        std::fs::write(checkpoint_file(&folder), line.replace(" 4 ", " 3 ")).expect("write");
        assert!(anchor.checkpoints().is_err(), "a changed number is found");
        let other = Anchor::open(&folder.join("other.key"), checkpoint_file(&folder), true)
            .expect("another key");
        std::fs::write(checkpoint_file(&folder), &line).expect("write");
        assert!(
            other.checkpoints().is_err(),
            "another key does not verify it"
        );
        let _ = std::fs::remove_dir_all(&folder);
    }
}
