//! Lists kept current (issue 25 item 6): the category index rebuilt on a schedule (or when the
//! console asks) from the configured UT1 lists (a folder, or an archive downloaded over HTTPS
//! and checked against its published SHA-256 and, if a key is set, its Ed25519 signature) and
//! illegal-content lists, beside the one in force, and put in force only when it is whole and
//! safe: it reads back, it keeps every illegal-content list the old index had, it is not under
//! half the old one's size (a mirror cut short), and the policy in force compiles against it. A
//! failed update changes nothing and raises an alert. The school's own allow and block entries
//! live in the policy, so they survive every update.

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use sha2::{Digest, Sha256};
use ward_lists::{CategoryIndex, IndexBuilder, ListFormat};
use ward_policy::{PolicySnapshot, PolicySpec};

/// Where lists come from, when updates are configured.
#[derive(Debug, Clone)]
pub struct ListSource {
    /// The UT1 lists.
    pub ut1: Ut1Source,
    /// Illegal-content lists: (name, file).
    pub illegal: Vec<(String, PathBuf)>,
    /// Hours between rebuilds.
    pub hours: u64,
}

/// Where the UT1 lists come from.
#[derive(Debug, Clone)]
pub enum Ut1Source {
    /// A folder in UT1's layout (a mirror kept current by other means).
    Folder(PathBuf),
    /// An archive in UT1's layout, downloaded over HTTPS.
    Download(Download),
}

/// A `.tar.gz` archive in UT1's layout, at an HTTPS address, with its checks.
#[derive(Debug, Clone)]
pub struct Download {
    /// The archive's address.
    pub url: String,
    /// Where its SHA-256 is published.
    pub checksum_url: String,
    /// The Ed25519 key its signature (at `url` + `.sig`) must verify with, if required.
    pub public_key: Option<[u8; 32]>,
    /// The authorities trusted for the download instead of the public ones, if set.
    pub roots: Vec<ureq::tls::Certificate<'static>>,
    /// The most bytes the archive may have.
    pub max_bytes: u64,
    /// The folder it is unpacked in, for the rebuild (removed afterwards).
    pub unpack_in: PathBuf,
}

/// The most bytes an archive may unpack to, and the most entries: a hostile archive (a
/// "zip bomb") is refused, not unpacked until the disk is full. UT1's whole collection is about
/// 300 MB and 200 files unpacked.
const MOST_UNPACKED: u64 = 4 << 30;
const MOST_ENTRIES: usize = 100_000;

impl ListSource {
    /// The configured source (`None`: updates are off).
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Option<ListSource>> {
        let filter = &config.filter;
        let folder = filter.update_ut1.trim();
        let url = filter.update_url.trim();
        let ut1 = match (folder.is_empty(), url.is_empty()) {
            (true, true) => return Ok(None),
            (false, false) => anyhow::bail!(
                "filter.update_ut1 and filter.update_url are both set: choose the folder or the download"
            ),
            (false, true) => Ut1Source::Folder(PathBuf::from(folder)),
            (true, false) => Ut1Source::Download(Download::from_config(config, url)?),
        };
        let mut illegal = Vec::new();
        for item in filter
            .update_illegal
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let (name, file) = item
                .split_once('=')
                .with_context(|| format!("filter.update_illegal: {item:?} is not NAME=FILE"))?;
            illegal.push((name.trim().to_owned(), PathBuf::from(file.trim())));
        }
        Ok(Some(ListSource {
            ut1,
            illegal,
            hours: filter.update_hours.max(1),
        }))
    }

    /// Where the lists come from, and how often, as staff read it.
    pub fn describe(&self) -> String {
        let ut1 = match &self.ut1 {
            Ut1Source::Folder(folder) => format!("the UT1 folder {}", folder.display()),
            Ut1Source::Download(download) => format!(
                "{}, downloaded over HTTPS and checked against its SHA-256{}",
                download.url,
                if download.public_key.is_some() {
                    " and its signature"
                } else {
                    ""
                }
            ),
        };
        let illegal: Vec<&str> = self.illegal.iter().map(|(name, _)| name.as_str()).collect();
        format!(
            "{ut1}{}, every {} hours",
            if illegal.is_empty() {
                String::new()
            } else {
                format!(", with the illegal-content lists {}", illegal.join(", "))
            },
            self.hours
        )
    }
}

impl Download {
    fn from_config(config: &crate::config::Config, url: &str) -> anyhow::Result<Download> {
        let filter = &config.filter;
        let https = |setting: &str, address: &str| {
            anyhow::ensure!(
                address.starts_with("https://") && address.len() > "https://".len(),
                "{setting} {address:?} is not an https:// address: lists are downloaded only over HTTPS"
            );
            Ok(())
        };
        https("filter.update_url", url)?;
        let checksum_url = match filter.update_checksum_url.trim() {
            "" => format!("{url}.sha256"),
            other => other.to_owned(),
        };
        https("filter.update_checksum_url", &checksum_url)?;
        let public_key = match filter.update_public_key.trim() {
            "" => None,
            text => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .context("filter.update_public_key is not an Ed25519 public key (32 bytes in base64)")?;
                Some(bytes)
            }
        };
        let roots = match filter.update_ca.trim() {
            "" => Vec::new(),
            file => {
                let pem = std::fs::read(file)
                    .with_context(|| format!("filter.update_ca: cannot read {file}"))?;
                let roots: Vec<_> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(certificate)) => Some(certificate),
                        _ => None,
                    })
                    .collect();
                anyhow::ensure!(
                    !roots.is_empty(),
                    "filter.update_ca: {file} has no certificate"
                );
                roots
            }
        };
        Ok(Download {
            url: url.to_owned(),
            checksum_url,
            public_key,
            roots,
            max_bytes: filter.update_max_mb.max(1) << 20,
            unpack_in: config.data_dir.join("lists-download"),
        })
    }

    fn agent(&self) -> ureq::Agent {
        let mut tls = ureq::tls::TlsConfig::builder();
        if !self.roots.is_empty() {
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&self.roots));
        }
        ureq::Agent::config_builder()
            .tls_config(tls.build())
            .https_only(true)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_global(Some(Duration::from_secs(30 * 60)))
            .build()
            .into()
    }

    /// Downloads the archive, checks it, and unpacks it in a fresh folder.
    fn fetch(&self) -> anyhow::Result<Unpacked> {
        let agent = self.agent();
        let archive = get(&agent, &self.url, self.max_bytes)?;
        let digest = Sha256::digest(&archive);
        let published = get(&agent, &self.checksum_url, 4096)?;
        let published = String::from_utf8_lossy(&published);
        let expected = published
            .split_whitespace()
            .next()
            .and_then(|word| hex::decode(word).ok())
            .filter(|bytes| bytes.len() == 32)
            .with_context(|| format!("{} does not hold a SHA-256", self.checksum_url))?;
        anyhow::ensure!(
            digest[..] == expected[..],
            "the archive's SHA-256 is {}, but {} says {}: the download is damaged or not the one published",
            hex::encode(digest),
            self.checksum_url,
            hex::encode(&expected)
        );
        let mut checked = format!("{} (SHA-256 {})", self.url, hex::encode(digest));
        if let Some(key) = &self.public_key {
            let signature_url = format!("{}.sig", self.url);
            let signature = get(&agent, &signature_url, 4096)?;
            let signature = if signature.len() == 64 {
                signature
            } else {
                base64::engine::general_purpose::STANDARD
                    .decode(String::from_utf8_lossy(&signature).trim())
                    .with_context(|| format!("{signature_url} is not a signature"))?
            };
            ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
                .verify(&archive, &signature)
                .map_err(|_| {
                    anyhow::anyhow!(
                        "the archive's signature ({signature_url}) does not verify with filter.update_public_key"
                    )
                })?;
            checked.push_str(", signature checked");
        }
        let folder = unpack(&archive, &self.unpack_in)?;
        Ok(Unpacked {
            folder,
            remove: self.unpack_in.clone(),
            checked,
        })
    }
}

/// `url`'s body, at most `limit` bytes.
fn get(agent: &ureq::Agent, url: &str, limit: u64) -> anyhow::Result<Vec<u8>> {
    let mut response = agent
        .get(url)
        .call()
        .with_context(|| format!("cannot download {url}"))?;
    response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .with_context(|| format!("{url}: over {limit} bytes, or cut short"))
}

/// Lists unpacked for a rebuild; the folder is removed when done.
struct Unpacked {
    /// The UT1 folder (the one with a folder per category).
    folder: PathBuf,
    remove: PathBuf,
    /// What was downloaded and how it was checked.
    checked: String,
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.remove);
    }
}

/// Unpacks a `.tar.gz` in `into` (emptied first): regular files and folders only, each inside
/// `into` (no absolute paths, no `..`, no links), within the size and entry limits. Returns the
/// UT1 folder: `into`, or the one folder the archive holds (UT1's own archive is `blacklists/`).
fn unpack(archive: &[u8], into: &Path) -> anyhow::Result<PathBuf> {
    let _ = std::fs::remove_dir_all(into);
    std::fs::create_dir_all(into).with_context(|| format!("cannot make {}", into.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut total = 0u64;
    let entries = tar.entries().context("the archive is not a .tar.gz")?;
    for (count, entry) in entries.enumerate() {
        anyhow::ensure!(
            count < MOST_ENTRIES,
            "the archive has over {MOST_ENTRIES} files"
        );
        let mut entry = entry.context("the archive is damaged")?;
        let path = entry
            .path()
            .context("a name in the archive does not read")?
            .into_owned();
        let safe = path
            .components()
            .all(|part| matches!(part, Component::Normal(_) | Component::CurDir));
        anyhow::ensure!(
            safe,
            "the archive names {} outside its own folder",
            path.display()
        );
        let target = into.join(&path);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target)?;
            }
            tar::EntryType::Regular => {
                let size = entry.header().size()?;
                total += size;
                anyhow::ensure!(
                    total <= MOST_UNPACKED,
                    "the archive unpacks to over {} MB",
                    MOST_UNPACKED >> 20
                );
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut file = std::fs::File::create(&target)
                    .with_context(|| format!("cannot write {}", target.display()))?;
                let copied = std::io::copy(&mut (&mut entry).take(size), &mut file)?;
                anyhow::ensure!(copied == size, "{} is cut short", path.display());
            }
            // Links and devices are not lists: skipped, never followed.
            _ => {}
        }
    }
    let inside: Vec<PathBuf> = std::fs::read_dir(into)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    Ok(match inside.as_slice() {
        [one] if one.is_dir() && !one.join("domains").exists() => one.clone(),
        _ => into.to_path_buf(),
    })
}

/// What an update did.
#[derive(Debug, Clone)]
pub struct Updated {
    /// Categories in the new index.
    pub categories: usize,
    /// Keys in it.
    pub keys: u64,
    /// Lines skipped as bad.
    pub bad_lines: u64,
    /// Where the UT1 lists came from, and how a download was checked.
    pub from: String,
}

/// Builds a new index from `source` beside `index_path`, checks it against the index in force
/// (`old`) and `policy`, and moves it into place. Blocking (reading lists takes seconds).
pub fn rebuild(
    source: &ListSource,
    index_path: &Path,
    old: &CategoryIndex,
    policy: &PolicySpec,
) -> anyhow::Result<Updated> {
    let unpacked = match &source.ut1 {
        Ut1Source::Folder(_) => None,
        Ut1Source::Download(download) => Some(download.fetch()?),
    };
    let (folder, from) = match (&source.ut1, &unpacked) {
        (_, Some(unpacked)) => (unpacked.folder.clone(), unpacked.checked.clone()),
        (Ut1Source::Folder(folder), None) => (folder.clone(), folder.display().to_string()),
        (Ut1Source::Download(_), None) => anyhow::bail!("the download was not unpacked"),
    };
    let mut builder = IndexBuilder::new();
    let mut bad_lines = 0u64;
    let reports = builder
        .add_ut1("ut1", &folder)
        .with_context(|| format!("cannot read the lists in {}", folder.display()))?;
    for report in &reports {
        bad_lines += report.bad_lines.len() as u64;
    }
    for (name, file) in &source.illegal {
        let report = builder
            .add_file(
                &format!("illegal:{}", file.display()),
                name,
                ListFormat::Illegal,
                file,
                true,
            )
            .with_context(|| format!("cannot read the illegal-content list {}", file.display()))?;
        bad_lines += report.bad_lines.len() as u64;
    }
    let index = builder.finish()?;
    let mut beside = index_path.as_os_str().to_owned();
    beside.push(".new");
    let beside = PathBuf::from(beside);
    index.write_file(&beside)?;
    let checked = check(&beside, old, policy);
    if let Err(error) = checked {
        let _ = std::fs::remove_file(&beside);
        return Err(error);
    }
    std::fs::rename(&beside, index_path)
        .with_context(|| format!("cannot replace {}", index_path.display()))?;
    let stats = index.stats();
    Ok(Updated {
        categories: index.categories().len(),
        keys: stats.keys,
        bad_lines,
        from,
    })
}

/// Whether the index written at `path` may replace `old` under `policy`.
fn check(path: &Path, old: &CategoryIndex, policy: &PolicySpec) -> anyhow::Result<()> {
    let new = CategoryIndex::read_file(path).context("the new index does not read back")?;
    let size = |c: &ward_lists::Category| c.domains + c.urls + c.expressions;
    for category in old.categories().iter().filter(|c| c.illegal) {
        let kept = new
            .category_id(&category.name)
            .map(|id| new.category(id))
            .filter(|c| c.illegal);
        let Some(kept) = kept else {
            anyhow::bail!(
                "the new lists have no illegal-content list {:?}, which the lists in force have",
                category.name
            );
        };
        anyhow::ensure!(
            size(kept) > 0 || size(category) == 0,
            "the illegal-content list {:?} is empty in the new lists (it has {} entries in force)",
            category.name,
            size(category)
        );
    }
    let (old_keys, new_keys) = (old.stats().keys, new.stats().keys);
    anyhow::ensure!(
        new_keys * 2 >= old_keys,
        "the new lists have {new_keys} entries, under half of the {old_keys} in force: a list may have been cut short"
    );
    PolicySnapshot::compile(policy.clone(), Arc::new(new))
        .context("the policy in force does not load with the new lists")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let folder = std::env::temp_dir().join(format!("ward-lists-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(folder.join("ut1/gambling")).expect("folder");
        folder
    }

    fn build(folder: &Path, gambling: &str, iwf: Option<&str>) -> ListSource {
        std::fs::write(folder.join("ut1/gambling/domains"), gambling).expect("list");
        let mut illegal = Vec::new();
        if let Some(iwf) = iwf {
            std::fs::write(folder.join("iwf.txt"), iwf).expect("list");
            illegal.push(("iwf".to_owned(), folder.join("iwf.txt")));
        }
        ListSource {
            ut1: Ut1Source::Folder(folder.join("ut1")),
            illegal,
            hours: 24,
        }
    }

    const POLICY: &str = "name = \"T\"\ntimezone = \"Europe/London\"\nunknown_group = \"p\"\n\
        [[group]]\nid = \"p\"\ntitle = \"P\"\nkind = \"pupil\"\n\
        [[rule]]\nid = \"g\"\naction = \"Gambling\"\ncategories = [\"gambling\"]\nverdict = \"unacceptable\"\n";

    #[test]
    fn an_update_replaces_the_index_only_when_it_is_whole_and_safe() {
        let folder = folder("update");
        let index_path = folder.join("ward.idx");
        let policy = PolicySpec::from_toml(POLICY).expect("policy");
        // The lists in force: two gambling sites and the IWF list.
        let source = build(
            &folder,
            "casino.test\nbet.test\n",
            Some("abuse.test/img/\n"),
        );
        rebuild(&source, &index_path, &CategoryIndex::empty(), &policy).expect("first build");
        let old = CategoryIndex::read_file(&index_path).expect("index");
        // New sites: in.
        let many = "casino.test\nbet.test\npoker.test\nslots.test\ndice.test\nodds.test\n";
        let source = build(&folder, many, Some("abuse.test/img/\n"));
        let updated = rebuild(&source, &index_path, &old, &policy).expect("updated");
        assert_eq!(updated.categories, 2);
        let old = CategoryIndex::read_file(&index_path).expect("index");
        // The IWF list missing: refused, nothing changed.
        let source = build(&folder, many, None);
        let error = rebuild(&source, &index_path, &old, &policy).expect_err("refused");
        assert!(error.to_string().contains("iwf"), "{error:#}");
        // The IWF file arriving empty: refused.
        let source = build(&folder, many, Some(""));
        let error = rebuild(&source, &index_path, &old, &policy).expect_err("refused");
        assert!(error.to_string().contains("empty"), "{error:#}");
        // A list cut short: refused.
        let source = build(&folder, "casino.test\n", Some("abuse.test/img/\n"));
        let error = rebuild(&source, &index_path, &old, &policy).expect_err("refused");
        assert!(error.to_string().contains("under half"), "{error:#}");
        // A folder that is not there: refused.
        let gone = ListSource {
            ut1: Ut1Source::Folder(folder.join("nowhere")),
            illegal: Vec::new(),
            hours: 24,
        };
        assert!(rebuild(&gone, &index_path, &old, &policy).is_err());
        let now = CategoryIndex::read_file(&index_path).expect("index");
        assert_eq!(
            now.stats().keys,
            old.stats().keys,
            "the index in force is unchanged"
        );
        assert!(
            !folder.join("ward.idx.new").exists(),
            "nothing left beside it"
        );
        let _ = std::fs::remove_dir_all(&folder);
    }

    /// A `.tar.gz` of `files` (name, contents); a name is written into the header as it is,
    /// as a hostile archive would.
    fn archive(files: &[(&str, &[u8])], link: Option<(&str, &str)>) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (name, data) in files {
            let mut header = tar::Header::new_old();
            let field = &mut header.as_old_mut().name;
            field[..name.len()].copy_from_slice(name.as_bytes());
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_cksum();
            builder.append(&header, *data).expect("append");
        }
        if let Some((name, target)) = link {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder
                .append_link(&mut header, name, target)
                .expect("link");
        }
        builder.into_inner().expect("tar").finish().expect("gzip")
    }

    #[test]
    fn an_archive_is_unpacked_inside_its_folder_or_refused() {
        let folder = folder("unpack");
        let into = folder.join("download");
        // UT1's own archive: one folder, `blacklists/`, with a folder per category; a link
        // in it is skipped, never followed.
        let good = archive(
            &[
                ("blacklists/gambling/domains", b"casino.test\n"),
                ("blacklists/adult/urls", b"adult.test/x\n"),
            ],
            Some(("blacklists/adult/domains", "/etc/passwd")),
        );
        let root = unpack(&good, &into).expect("unpacked");
        assert_eq!(root, into.join("blacklists"));
        assert_eq!(
            std::fs::read_to_string(root.join("gambling/domains")).expect("list"),
            "casino.test\n"
        );
        assert!(!root.join("adult/domains").exists(), "the link is skipped");
        // A name reaching outside the folder: refused, and nothing is written there.
        let hostile = archive(&[("../escaped", b"x")], None);
        let error = unpack(&hostile, &into).expect_err("refused");
        assert!(error.to_string().contains("outside"), "{error:#}");
        assert!(!folder.join("escaped").exists());
        let hostile = archive(&[("/tmp/ward-absolute-escape", b"x")], None);
        assert!(unpack(&hostile, &into).is_err());
        // Not an archive at all.
        assert!(unpack(b"<html>Not found</html>", &into).is_err());
        let _ = std::fs::remove_dir_all(&folder);
    }
}
