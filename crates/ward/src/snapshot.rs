//! The gateway's last known good state from the database, kept on disk beside the journal
//! (`DATA_DIR/gateway-snapshot.json`), so that Ward filters even when it starts while the
//! database is unavailable (issue 20, item 15): the school, the device register and the
//! approved unblock requests' grants. The policy and the category index are files of their own
//! already. Written atomically (a temporary file, then a rename) each time the gateway has read
//! a changed register or changed grants from the database.

use std::path::{Path, PathBuf};

use anyhow::Context;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use ward_store::{Device, DeviceId, RequestId, SchoolId, UnblockGrant, UnblockRequest};

/// The snapshot's format; a file of another is not read.
const FORMAT: u32 = 1;

/// An approved unblock request as the policy takes it: what [`crate::gateway`] turns into a
/// grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedGrant {
    /// The request's number.
    pub request: RequestId,
    /// A domain (with its subdomains) or a URL prefix.
    pub site: String,
    /// The group it is for (one of `group` and `user`).
    pub group: Option<String>,
    /// The user it is for.
    pub user: Option<String>,
    /// From.
    pub start: Timestamp,
    /// Until (exclusive).
    pub end: Timestamp,
    /// Why it was asked for.
    pub reason: String,
    /// Who approved it.
    pub approved_by: String,
}

impl ApprovedGrant {
    /// The grants of the approved requests among `requests`.
    pub fn of(requests: &[UnblockRequest]) -> Vec<ApprovedGrant> {
        requests
            .iter()
            .filter_map(|request| {
                let decision = request.decision.as_ref()?;
                let grant = decision.grant.as_ref()?;
                Some(ApprovedGrant {
                    request: request.id,
                    site: grant.site.clone(),
                    group: grant.group.clone(),
                    user: grant.user.clone(),
                    start: grant.start,
                    end: grant.end,
                    reason: request.request.reason.clone(),
                    approved_by: decision.by.clone(),
                })
            })
            .collect()
    }

    /// The grant itself.
    pub fn grant(&self) -> UnblockGrant {
        UnblockGrant {
            site: self.site.clone(),
            group: self.group.clone(),
            user: self.user.clone(),
            start: self.start,
            end: self.end,
        }
    }
}

/// A registered device, as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SavedDevice {
    id: i64,
    name: String,
    network: String,
    group: Option<String>,
    location: String,
}

/// What the gateway had from the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    format: u32,
    /// When it was saved.
    pub saved_at: Timestamp,
    /// The school the gateway filters for.
    pub school: i64,
    devices: Vec<SavedDevice>,
    /// The grants in force or to come.
    pub grants: Vec<ApprovedGrant>,
}

impl Snapshot {
    /// A snapshot of `school`'s register and grants now.
    pub fn new(school: SchoolId, devices: &[Device], grants: &[ApprovedGrant]) -> Snapshot {
        Snapshot {
            format: FORMAT,
            saved_at: Timestamp::now(),
            school: school.0,
            devices: devices
                .iter()
                .map(|device| SavedDevice {
                    id: device.id.0,
                    name: device.name.clone(),
                    network: device.network.to_string(),
                    group: device.group.clone(),
                    location: device.location.clone(),
                })
                .collect(),
            grants: grants.to_vec(),
        }
    }

    /// The school.
    pub fn school(&self) -> SchoolId {
        SchoolId(self.school)
    }

    /// The device register (entries whose network no longer reads are left out, with a warning).
    pub fn devices(&self) -> Vec<Device> {
        self.devices
            .iter()
            .filter_map(|device| match device.network.parse() {
                Ok(network) => Some(Device {
                    id: DeviceId(device.id),
                    name: device.name.clone(),
                    network,
                    group: device.group.clone(),
                    location: device.location.clone(),
                }),
                Err(error) => {
                    tracing::warn!(%error, device = %device.name, "snapshot: device left out");
                    None
                }
            })
            .collect()
    }

    /// Where the snapshot of a data folder is.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("gateway-snapshot.json")
    }

    /// Writes it to `path` atomically.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        write_atomically(path, &serde_json::to_vec_pretty(self)?)
    }

    /// Reads the snapshot at `path`, if there is a readable one of this format.
    pub fn load(path: &Path) -> anyhow::Result<Snapshot> {
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let snapshot: Snapshot = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a gateway snapshot", path.display()))?;
        anyhow::ensure!(
            snapshot.format == FORMAT,
            "{} is in format {}, not {FORMAT}",
            path.display(),
            snapshot.format
        );
        Ok(snapshot)
    }
}

/// Writes `bytes` to `path` atomically (a temporary file, synced, then a rename).
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = path.with_extension("new");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&temporary)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// The policy version last read from the database (`DATA_DIR/policy-in-force.json`), so that a
/// gateway started while the database is down filters with it rather than the policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPolicy {
    /// The school.
    pub school: i64,
    /// Its version number.
    pub number: i64,
    /// The policy document.
    pub text: String,
}

impl SavedPolicy {
    /// Where it is kept in a data folder.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("policy-in-force.json")
    }

    /// Writes it atomically.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        write_atomically(path, &serde_json::to_vec(self)?)
    }

    /// Reads it, if there is one.
    pub fn load(path: &Path) -> anyhow::Result<SavedPolicy> {
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a saved policy", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_reads_back_as_written() {
        let folder = std::env::temp_dir().join(format!("ward-snapshot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).expect("folder");
        let devices = [Device {
            id: DeviceId(7),
            name: "OWL-LAP-03".into(),
            network: "10.0.3.0/24".parse().expect("network"),
            group: Some("ks2".into()),
            location: "Owl class".into(),
        }];
        let start = Timestamp::now();
        let grants = [ApprovedGrant {
            request: RequestId(4),
            site: "learn.example".into(),
            group: Some("ks2".into()),
            user: None,
            start,
            end: start + jiff::SignedDuration::from_hours(2),
            reason: "a lesson".into(),
            approved_by: "dsl".into(),
        }];
        let snapshot = Snapshot::new(SchoolId(3), &devices, &grants);
        let path = Snapshot::path(&folder);
        snapshot.save(&path).expect("save");
        let read = Snapshot::load(&path).expect("load");
        assert_eq!(read, snapshot);
        assert_eq!(read.devices(), devices);
        assert_eq!(read.school(), SchoolId(3));
        std::fs::write(&path, b"{not json").expect("write");
        assert!(Snapshot::load(&path).is_err());
        let _ = std::fs::remove_dir_all(&folder);
    }
}
