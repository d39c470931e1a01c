//! The school's certificate authority for HTTPS inspection (DESIGN.md F12).
//!
//! `ward ca init` makes it: an ECDSA P-256 key and a certificate named after the school, in the
//! data folder's `ca/` (the key readable only by Ward's user). Devices are told to trust the
//! certificate; Ward signs a short-lived certificate ("leaf") for each site it inspects, only
//! after it has decided on that site, and keeps the leaves in memory ([`Leaves`]). The key never
//! leaves the machine and is never shown anywhere.
//!
//! A planned change of CA keeps two trusted at once: `ward ca next` makes the next CA, which
//! devices are given beside the current one; once they have it, `ward ca rotate` makes it the
//! one that signs, and the old certificate is kept as `previous.pem` until it expires.
//!
//! Files in the CA folder: `ca.pem` + `ca.key` (signing now), `next.pem` + `next.key`
//! (prepared), `previous.pem` (signed until the last rotation).

pub mod der;

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use jiff::{SignedDuration, Timestamp};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use ward_lists::Host;

use der::CertificateFields;

/// The CA folder's name in the data folder.
pub const CA_FOLDER: &str = "ca";
/// How long a leaf certificate is valid (browsers accept at most 398 days; a short life means a
/// leaf copied off the machine is soon useless).
const LEAF_LIFE: SignedDuration = SignedDuration::from_hours(30 * 24);
/// A leaf is made afresh once it is this old, well inside its life.
const LEAF_REFRESH: SignedDuration = SignedDuration::from_hours(7 * 24);
/// Certificates are dated this far back, for devices whose clocks are a little slow.
const BACKDATE: SignedDuration = SignedDuration::from_hours(1);

/// Why the CA could not be made, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A file could not be read or written.
    #[error("{}: {error}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
    /// There is no CA yet.
    #[error(
        "Ward has no certificate authority in {}: run `ward ca init` to make one",
        .0.display()
    )]
    Missing(PathBuf),
    /// `init` or `next` found one already.
    #[error("{} already exists: {hint}", .path.display())]
    Exists {
        /// The file found.
        path: PathBuf,
        /// What to do instead.
        hint: &'static str,
    },
    /// `rotate` without a prepared next CA.
    #[error("there is no next certificate authority to change to: run `ward ca next` first")]
    NoNext,
    /// A file is there but is not what it should be.
    #[error("{}: {why}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// Making a certificate failed.
    #[error("a certificate could not be made: {0}")]
    Generate(String),
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |error| CaError::File {
        path: path.to_owned(),
        error,
    }
}

/// A CA certificate: what devices trust, and what `ward ca show` prints.
#[derive(Clone)]
pub struct CaCertificate {
    pem: String,
    der: CertificateDer<'static>,
    fields: CertificateFields,
    fingerprint: [u8; 32],
}

impl fmt::Debug for CaCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaCertificate")
            .field("name", &self.name())
            .field("not_after", &self.fields.not_after)
            .finish_non_exhaustive()
    }
}

impl CaCertificate {
    fn from_pem(pem: &str, path: &Path) -> Result<CaCertificate, CaError> {
        let invalid = |why: String| CaError::Invalid {
            path: path.to_owned(),
            why,
        };
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| invalid(format!("not a PEM certificate ({e})")))?;
        let fields = der::certificate_fields(&der).map_err(|e| invalid(e.to_string()))?;
        Ok(CaCertificate {
            pem: pem.to_owned(),
            fingerprint: Sha256::digest(&der).into(),
            der,
            fields,
        })
    }

    /// The certificate in PEM form.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The certificate in DER form.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// Its common name (else its whole subject).
    pub fn name(&self) -> String {
        let common = self
            .fields
            .subject
            .iter()
            .find(|a| a.oid == [2, 5, 4, 3])
            .map(|a| a.value.clone());
        common.unwrap_or_else(|| {
            self.fields
                .subject
                .iter()
                .map(|a| a.value.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    /// Valid from.
    pub fn not_before(&self) -> Timestamp {
        self.fields.not_before
    }

    /// Valid until.
    pub fn not_after(&self) -> Timestamp {
        self.fields.not_after
    }

    /// The SHA-256 fingerprint as devices show it: `AB:CD:…`.
    pub fn fingerprint(&self) -> String {
        self.fingerprint
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// The CA that signs leaves: its certificate and key.
pub struct Authority {
    certificate: CaCertificate,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("Authority")
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// Its certificate.
    pub fn certificate(&self) -> &CaCertificate {
        &self.certificate
    }

    /// A leaf certificate for `host`, for `key`, valid from a little before `now` for
    /// [`LEAF_LIFE`] (never beyond the CA's own expiry).
    pub fn issue(&self, host: &Host, key: &KeyPair, now: Timestamp) -> Result<Vec<u8>, CaError> {
        let mut params = CertificateParams::default();
        let name = host.to_string();
        let mut subject = DistinguishedName::new();
        if name.len() <= 64 {
            subject.push(DnType::CommonName, name.clone());
        }
        params.distinguished_name = subject;
        params.subject_alt_names = vec![match host {
            Host::Ipv4(v4) => SanType::IpAddress((*v4).into()),
            Host::Ipv6(v6) => SanType::IpAddress((*v6).into()),
            Host::Domain(domain) => SanType::DnsName(
                domain
                    .as_str()
                    .to_owned()
                    .try_into()
                    .map_err(|e: rcgen::Error| CaError::Generate(e.to_string()))?,
            ),
        }];
        let until = (now + LEAF_LIFE).min(self.certificate.not_after());
        params.not_before = offset(now - BACKDATE)?;
        params.not_after = offset(until)?;
        params.serial_number = Some(serial()?);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let leaf = params
            .signed_by(key, &self.issuer)
            .map_err(|e| CaError::Generate(e.to_string()))?;
        Ok(leaf.der().to_vec())
    }
}

/// A random positive serial number of 16 bytes.
fn serial() -> Result<SerialNumber, CaError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| CaError::Generate(e.to_string()))?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

fn offset(at: Timestamp) -> Result<time::OffsetDateTime, CaError> {
    time::OffsetDateTime::from_unix_timestamp(at.as_second())
        .map_err(|e| CaError::Generate(e.to_string()))
}

/// The school's CAs as loaded: the one that signs, and the others devices should trust.
#[derive(Debug, Clone)]
pub struct Authorities {
    /// The CA that signs leaves.
    pub current: Arc<Authority>,
    /// Prepared by `ward ca next`, not yet signing.
    pub next: Option<CaCertificate>,
    /// Signed until the last rotation.
    pub previous: Option<CaCertificate>,
}

impl Authorities {
    /// The certificates devices should trust at `now`: the current one, the next one, and the
    /// previous one until it expires.
    pub fn trusted(&self, now: Timestamp) -> Vec<&CaCertificate> {
        let mut trusted = vec![self.current.certificate()];
        trusted.extend(self.next.as_ref());
        trusted.extend(self.previous.as_ref().filter(|p| p.not_after() > now));
        trusted
    }
}

/// The CA folder.
#[derive(Debug, Clone)]
pub struct CaFolder {
    dir: PathBuf,
}

impl CaFolder {
    /// The CA folder inside the data folder `data_dir`.
    pub fn in_data_dir(data_dir: &Path) -> CaFolder {
        CaFolder {
            dir: data_dir.join(CA_FOLDER),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Whether a CA has been made.
    pub fn exists(&self) -> bool {
        self.file("ca.pem").exists() || self.file("ca.key").exists()
    }

    /// Makes the school's CA, valid for `years` from `now`. Refuses if one exists.
    pub fn init(&self, school: &str, years: u16, now: Timestamp) -> Result<CaCertificate, CaError> {
        if self.exists() {
            return Err(CaError::Exists {
                path: self.file("ca.pem"),
                hint: "use `ward ca next` and `ward ca rotate` to change to a new one",
            });
        }
        self.make("ca", school, years, now)
    }

    /// Makes the next CA, for devices to trust before it signs. Refuses without a current CA,
    /// or when a next one is already prepared.
    pub fn next(&self, school: &str, years: u16, now: Timestamp) -> Result<CaCertificate, CaError> {
        if !self.file("ca.pem").exists() {
            return Err(CaError::Missing(self.dir.clone()));
        }
        if self.file("next.pem").exists() || self.file("next.key").exists() {
            return Err(CaError::Exists {
                path: self.file("next.pem"),
                hint: "`ward ca rotate` changes to it",
            });
        }
        self.make("next", school, years, now)
    }

    /// Changes to the next CA: it signs from now on, and the current one becomes the previous.
    pub fn rotate(&self) -> Result<CaCertificate, CaError> {
        if !self.file("next.pem").exists() {
            return Err(CaError::NoNext);
        }
        // Both halves of the next CA must load before anything moves.
        let next = self.load_authority("next")?;
        let rename = |from: &str, to: &str| {
            std::fs::rename(self.file(from), self.file(to)).map_err(file_error(&self.file(to)))
        };
        rename("ca.pem", "previous.pem")?;
        rename("next.key", "ca.key")?;
        rename("next.pem", "ca.pem")?;
        Ok(next.certificate)
    }

    /// Loads the CAs (the current one with its key).
    pub fn load(&self) -> Result<Authorities, CaError> {
        if !self.file("ca.pem").exists() {
            return Err(CaError::Missing(self.dir.clone()));
        }
        Ok(Authorities {
            current: Arc::new(self.load_authority("ca")?),
            next: self.load_certificate("next.pem")?,
            previous: self.load_certificate("previous.pem")?,
        })
    }

    fn load_certificate(&self, name: &str) -> Result<Option<CaCertificate>, CaError> {
        let path = self.file(name);
        match std::fs::read_to_string(&path) {
            Ok(pem) => CaCertificate::from_pem(&pem, &path).map(Some),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(CaError::File { path, error }),
        }
    }

    fn load_authority(&self, stem: &str) -> Result<Authority, CaError> {
        let cert_path = self.file(&format!("{stem}.pem"));
        let key_path = self.file(&format!("{stem}.key"));
        let certificate = self
            .load_certificate(&format!("{stem}.pem"))?
            .ok_or_else(|| CaError::Missing(self.dir.clone()))?;
        check_private(&key_path)?;
        let key_pem = std::fs::read_to_string(&key_path).map_err(file_error(&key_path))?;
        let invalid = |why: String| CaError::Invalid {
            path: key_path.clone(),
            why,
        };
        let key = KeyPair::from_pem(&key_pem).map_err(|e| invalid(format!("not a key ({e})")))?;
        use rcgen::PublicKeyData as _;
        if key.subject_public_key_info() != certificate.fields.public_key {
            return Err(invalid(format!(
                "this key does not belong to the certificate {}",
                cert_path.display()
            )));
        }
        let issuer = Issuer::new(ca_params(&certificate.fields.subject)?, key);
        Ok(Authority {
            certificate,
            issuer,
        })
    }

    /// Makes a CA as `STEM.pem` and `STEM.key`.
    fn make(
        &self,
        stem: &str,
        school: &str,
        years: u16,
        now: Timestamp,
    ) -> Result<CaCertificate, CaError> {
        if years == 0 || years > 20 {
            return Err(CaError::Generate(
                "a CA is made for 1 to 20 years".to_owned(),
            ));
        }
        create_private_dir(&self.dir)?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(|e| CaError::Generate(e.to_string()))?;
        let school = school.trim();
        let school = if school.is_empty() { "School" } else { school };
        // When it was made goes in the name, so the next CA is told apart from the current one
        // on a device's list of trusted certificates.
        let month = now
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .strftime("%B %Y")
            .to_string();
        let common = truncate(&format!("Ward inspection CA, {school} ({month})"), 64);
        let attributes = vec![
            der::NameAttribute {
                oid: vec![2, 5, 4, 3],
                tag: 12,
                value: common,
            },
            der::NameAttribute {
                oid: vec![2, 5, 4, 10],
                tag: 12,
                value: truncate(school, 64),
            },
        ];
        let mut params = ca_params(&attributes)?;
        params.not_before = offset(now - BACKDATE)?;
        let until = now
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .checked_add(jiff::Span::new().years(i64::from(years)))
            .map_err(|e| CaError::Generate(e.to_string()))?
            .timestamp();
        params.not_after = offset(until)?;
        params.serial_number = Some(serial()?);
        let certificate = params
            .self_signed(&key)
            .map_err(|e| CaError::Generate(e.to_string()))?;
        let key_path = self.file(&format!("{stem}.key"));
        let cert_path = self.file(&format!("{stem}.pem"));
        write_new(&key_path, key.serialize_pem().as_bytes(), true)?;
        write_new(&cert_path, certificate.pem().as_bytes(), false)?;
        CaCertificate::from_pem(&certificate.pem(), &cert_path)
    }
}

/// The parameters of a CA named `subject`: what it is allowed to sign.
fn ca_params(subject: &[der::NameAttribute]) -> Result<CertificateParams, CaError> {
    let mut name = DistinguishedName::new();
    for attribute in subject {
        let value = match attribute.tag {
            12 => DnValue::Utf8String(attribute.value.clone()),
            19 => DnValue::PrintableString(
                attribute
                    .value
                    .clone()
                    .try_into()
                    .map_err(|e: rcgen::Error| CaError::Generate(e.to_string()))?,
            ),
            _ => DnValue::Ia5String(
                attribute
                    .value
                    .clone()
                    .try_into()
                    .map_err(|e: rcgen::Error| CaError::Generate(e.to_string()))?,
            ),
        };
        name.push(DnType::from_oid(&attribute.oid), value);
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

fn truncate(text: &str, bytes: usize) -> String {
    let mut end = text.len().min(bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Creates the CA folder, readable only by Ward's user.
fn create_private_dir(dir: &Path) -> Result<(), CaError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(file_error(dir))
}

/// Writes a file that must not exist yet; `private`: readable only by Ward's user.
fn write_new(path: &Path, contents: &[u8], private: bool) -> Result<(), CaError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(file_error(path))?;
    file.write_all(contents).map_err(file_error(path))?;
    file.sync_all().map_err(file_error(path))
}

/// Refuses a key file that other users can read or write.
fn check_private(path: &Path) -> Result<(), CaError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let metadata = std::fs::metadata(path).map_err(file_error(path))?;
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(CaError::Invalid {
                path: path.to_owned(),
                why: format!(
                    "the key can be read by other users (mode {:o}): `chmod 600` it",
                    mode & 0o777
                ),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// A leaf being made or made: every connection that asks for the same name while it is being
/// made waits for the one being made.
type Pending = Arc<OnceLock<Result<Arc<CertifiedKey>, String>>>;

/// Leaf certificates for inspected sites, made on first use and kept (bounded) in memory.
/// Every leaf has the same key, made when Ward starts and never written anywhere.
pub struct Leaves {
    authority: Arc<Authority>,
    key: KeyPair,
    signing: Arc<dyn rustls::sign::SigningKey>,
    capacity: usize,
    cache: Mutex<HashMap<String, (Timestamp, Pending)>>,
    made: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for Leaves {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leaves")
            .field("authority", &self.authority)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Leaves {
    /// Leaves signed by `authority`, at most `capacity` kept.
    pub fn new(authority: Arc<Authority>, capacity: usize) -> Result<Leaves, CaError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(|e| CaError::Generate(e.to_string()))?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = rustls::crypto::ring::sign::any_ecdsa_type(&der)
            .map_err(|e| CaError::Generate(e.to_string()))?;
        Ok(Leaves {
            authority,
            key,
            signing,
            capacity: capacity.max(1),
            cache: Mutex::default(),
            made: Default::default(),
        })
    }

    /// The CA that signs them.
    pub fn authority(&self) -> &Arc<Authority> {
        &self.authority
    }

    /// How many leaves have been made since start.
    pub fn made(&self) -> u64 {
        self.made.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many are kept now.
    pub fn kept(&self) -> usize {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The leaf for `host`: kept, else made now (once, however many connections ask at the
    /// same time). Call only for a host Ward has decided to inspect.
    pub fn for_host(&self, host: &Host, now: Timestamp) -> Result<Arc<CertifiedKey>, CaError> {
        let name = host.to_string();
        let pending = {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            match cache.get(&name) {
                Some((made, pending)) if now.duration_since(*made) < LEAF_REFRESH => {
                    pending.clone()
                }
                _ => {
                    if cache.len() >= self.capacity {
                        evict_oldest(&mut cache);
                    }
                    let pending = Pending::default();
                    cache.insert(name.clone(), (now, pending.clone()));
                    pending
                }
            }
        };
        let result = pending.get_or_init(|| {
            self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.authority
                .issue(host, &self.key, now)
                .map(|der| {
                    Arc::new(CertifiedKey::new(
                        vec![CertificateDer::from(der)],
                        self.signing.clone(),
                    ))
                })
                .map_err(|e| e.to_string())
        });
        match result {
            Ok(leaf) => Ok(leaf.clone()),
            Err(why) => {
                // Not kept: the next connection tries again.
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache
                    .get(&name)
                    .is_some_and(|(_, kept)| Arc::ptr_eq(kept, &pending))
                {
                    cache.remove(&name);
                }
                Err(CaError::Generate(why.clone()))
            }
        }
    }
}

/// Drops the oldest eighth of the kept leaves.
fn evict_oldest(cache: &mut HashMap<String, (Timestamp, Pending)>) {
    let mut ages: Vec<Timestamp> = cache.values().map(|(made, _)| *made).collect();
    let cut = (ages.len() / 8).max(1).min(ages.len() - 1);
    let (_, &mut limit, _) = ages.select_nth_unstable(cut);
    cache.retain(|_, (made, _)| *made > limit);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> (tempdir::Dir, CaFolder) {
        let dir = tempdir::Dir::new();
        let folder = CaFolder::in_data_dir(dir.path());
        (dir, folder)
    }

    /// A temporary folder removed when dropped (no extra crate for it).
    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                let mut random = [0u8; 8];
                getrandom::fill(&mut random).expect("randomness");
                let path = std::env::temp_dir().join(format!("ward-ca-{}", hex::encode(random)));
                std::fs::create_dir_all(&path).expect("temporary folder");
                Dir(path)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn now() -> Timestamp {
        "2026-12-02T09:00:00Z".parse().expect("time")
    }

    #[test]
    fn a_ca_is_made_once_with_a_private_key_and_reads_back() {
        let (_dir, folder) = folder();
        let made = folder
            .init("Park End Primary School", 3, now())
            .expect("init");
        assert!(
            made.name()
                .starts_with("Ward inspection CA, Park End Primary School")
        );
        assert_eq!(made.not_after().to_string(), "2029-12-02T09:00:00Z");
        assert_eq!(made.fingerprint().len(), 32 * 3 - 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |name: &str| {
                std::fs::metadata(folder.path().join(name))
                    .expect("file")
                    .permissions()
                    .mode()
                    & 0o777
            };
            assert_eq!(mode("ca.key"), 0o600);
            assert_eq!(
                std::fs::metadata(folder.path())
                    .expect("dir")
                    .permissions()
                    .mode()
                    & 0o777,
                0o700
            );
        }
        assert!(matches!(
            folder.init("Park End", 3, now()),
            Err(CaError::Exists { .. })
        ));
        let loaded = folder.load().expect("load");
        assert_eq!(
            loaded.current.certificate().fingerprint(),
            made.fingerprint()
        );
        assert_eq!(loaded.trusted(now()).len(), 1);
        // The key never appears in Debug.
        let shown = format!("{loaded:?}");
        assert!(!shown.contains("PRIVATE"), "{shown}");
    }

    #[test]
    fn a_readable_key_or_a_key_from_another_ca_is_refused() {
        let (_dir, folder) = folder();
        folder.init("A", 1, now()).expect("init");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let key = folder.path().join("ca.key");
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let error = folder.load().expect_err("world-readable key");
            assert!(error.to_string().contains("chmod 600"), "{error}");
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let (_other_dir, other) = self::folder();
        other.init("B", 1, now()).expect("init");
        std::fs::remove_file(folder.path().join("ca.key")).expect("remove");
        std::fs::copy(other.path().join("ca.key"), folder.path().join("ca.key")).expect("copy");
        let error = folder.load().expect_err("mismatched key");
        assert!(error.to_string().contains("does not belong"), "{error}");
    }

    #[test]
    fn leaves_are_signed_by_the_ca_and_verify_for_their_name_only() {
        let (_dir, folder) = folder();
        folder.init("Park End", 2, now()).expect("init");
        let authorities = folder.load().expect("load");
        let leaves = Leaves::new(authorities.current.clone(), 100).expect("leaves");
        let at = Timestamp::now();
        let host = Host::parse("www.bbc.co.uk").expect("host");
        let leaf = leaves.for_host(&host, at).expect("leaf");
        let again = leaves.for_host(&host, at).expect("leaf");
        assert!(Arc::ptr_eq(&leaf, &again), "kept, not made again");
        assert_eq!(leaves.made(), 1);

        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(authorities.current.certificate().der().clone())
            .expect("root");
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .expect("verifier");
        use rustls::client::danger::ServerCertVerifier as _;
        let unix = rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            at.as_second().unsigned_abs(),
        ));
        let name = rustls::pki_types::ServerName::try_from("www.bbc.co.uk").expect("name");
        verifier
            .verify_server_cert(&leaf.cert[0], &[], &name, &[], unix)
            .expect("the leaf verifies against the CA");
        let other = rustls::pki_types::ServerName::try_from("bbc.co.uk").expect("name");
        assert!(
            verifier
                .verify_server_cert(&leaf.cert[0], &[], &other, &[], unix)
                .is_err()
        );

        let address = Host::parse("192.0.2.7").expect("host");
        let leaf = leaves.for_host(&address, at).expect("leaf");
        let ip = rustls::pki_types::ServerName::try_from("192.0.2.7").expect("ip");
        verifier
            .verify_server_cert(&leaf.cert[0], &[], &ip, &[], unix)
            .expect("an address leaf verifies");
    }

    #[test]
    fn the_cache_is_bounded_and_one_name_is_made_once_under_contention() {
        let (_dir, folder) = folder();
        folder.init("Park End", 2, now()).expect("init");
        let authority = folder.load().expect("load").current;
        let leaves = Arc::new(Leaves::new(authority, 16).expect("leaves"));
        let at = Timestamp::now();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let leaves = leaves.clone();
                std::thread::spawn(move || {
                    let host = Host::parse("example.org").expect("host");
                    leaves.for_host(&host, at).expect("leaf")
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        assert_eq!(leaves.made(), 1);
        for i in 0..100 {
            let host = Host::parse(&format!("site{i}.example")).expect("host");
            leaves
                .for_host(&host, at + SignedDuration::from_secs(i))
                .expect("leaf");
        }
        assert!(leaves.kept() <= 16, "{}", leaves.kept());
        assert_eq!(leaves.made(), 101);
    }

    #[test]
    fn a_planned_rotation_keeps_both_trusted() {
        let (_dir, folder) = folder();
        let first = folder.init("Park End", 1, now()).expect("init");
        assert!(matches!(folder.rotate(), Err(CaError::NoNext)));
        let later = now() + SignedDuration::from_hours(24 * 300);
        let second = folder.next("Park End", 3, later).expect("next");
        assert_ne!(first.fingerprint(), second.fingerprint());
        assert_ne!(first.name(), second.name(), "told apart on a device");
        let before = folder.load().expect("load");
        let trusted: Vec<String> = before
            .trusted(later)
            .iter()
            .map(|c| c.fingerprint())
            .collect();
        assert_eq!(trusted, [first.fingerprint(), second.fingerprint()]);
        assert!(matches!(
            folder.next("Park End", 3, later),
            Err(CaError::Exists { .. })
        ));

        let now_signing = folder.rotate().expect("rotate");
        assert_eq!(now_signing.fingerprint(), second.fingerprint());
        let after = folder.load().expect("load");
        assert_eq!(
            after.current.certificate().fingerprint(),
            second.fingerprint()
        );
        assert_eq!(
            after.previous.as_ref().map(CaCertificate::fingerprint),
            Some(first.fingerprint())
        );
        // The previous one is offered until it expires.
        assert_eq!(after.trusted(later).len(), 2);
        let expired = first.not_after() + SignedDuration::from_secs(1);
        assert_eq!(after.trusted(expired).len(), 1);
    }
}
