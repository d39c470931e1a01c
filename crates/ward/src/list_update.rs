//! Lists kept current (issue 25 item 6): the category index rebuilt on a schedule (or when the
//! console asks) from the configured UT1 folder and illegal-content lists, beside the one in
//! force, and put in force only when it is whole and safe: it reads back, it keeps every
//! illegal-content list the old index had, it is not under half the old one's size (a mirror
//! cut short), and the policy in force compiles against it. A failed update changes nothing
//! and raises an alert. The school's own allow and block entries live in the policy, so they
//! survive every update.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ward_lists::{CategoryIndex, IndexBuilder, ListFormat};
use ward_policy::{PolicySnapshot, PolicySpec};

/// Where lists come from, when updates are configured.
#[derive(Debug, Clone)]
pub struct ListSource {
    /// A folder in UT1's layout.
    pub ut1: PathBuf,
    /// Illegal-content lists: (name, file).
    pub illegal: Vec<(String, PathBuf)>,
}

impl ListSource {
    /// The configured source (`None`: updates are off).
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Option<ListSource>> {
        let ut1 = config.filter.update_ut1.trim();
        if ut1.is_empty() {
            return Ok(None);
        }
        let mut illegal = Vec::new();
        for item in config
            .filter
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
            ut1: PathBuf::from(ut1),
            illegal,
        }))
    }
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
}

/// Builds a new index from `source` beside `index_path`, checks it against the index in force
/// (`old`) and `policy`, and moves it into place. Blocking (reading lists takes seconds).
pub fn rebuild(
    source: &ListSource,
    index_path: &Path,
    old: &CategoryIndex,
    policy: &PolicySpec,
) -> anyhow::Result<Updated> {
    let mut builder = IndexBuilder::new();
    let mut bad_lines = 0u64;
    let reports = builder
        .add_ut1("ut1", &source.ut1)
        .with_context(|| format!("cannot read the lists in {}", source.ut1.display()))?;
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
            ut1: folder.join("ut1"),
            illegal,
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
            ut1: folder.join("nowhere"),
            illegal: Vec::new(),
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
}
