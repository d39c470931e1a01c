//! Import of e2guardian's phrase lists (they ship in the Debian `e2guardian` package, under
//! `/etc/e2guardian/lists/phraselists`), so schools can reuse lists they already have.
//!
//! e2guardian writes a phrase as `<words>`: a space just inside a bracket is a word boundary
//! (`< bet >` whole word, `< bet>` a word starting so, `<bet>` anywhere); several groups joined
//! with commas must all appear; a weighted list ends each line with `<weight>` (negative for
//! "good" phrases). A banned list has no weights: any of its phrases blocks on its own, so it is
//! imported with [`BANNED_WEIGHT`]. `#listcategory: "Name"` names the list; `.Include<path>`
//! lines are returned for the caller to follow. Older lists are not in UTF-8: most are in
//! Latin-1, and those for other scripts in a legacy encoding their folder's name suggests
//! (`russian-1251`, `japanese`: [`decode_named`]).

use crate::DetectError;
use crate::phrases::{Anchor, ListError, Part, Phrase, PhraseLists};

/// The longest a word of an e2guardian phrase may read once squeezing its repeated letters has
/// shortened it, when every word of the phrase is so, before the phrase is refused: `butt`
/// would read as `but`, `xxx` as `x`, `teen ass` as `ten as`.
/// (e2guardian compares bytes as written, so its lists never had to avoid such words.)
pub const MAX_SQUEEZED_WORD: usize = 3;

/// The weight given to a banned phrase: more than any threshold, so it fires on its own.
pub const BANNED_WEIGHT: i32 = 1000;

/// What an e2guardian list held besides phrases.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct E2guardianImport {
    /// The phrases imported.
    pub phrases: usize,
    /// The name its `#listcategory:` line gave, if any.
    pub list_category: Option<String>,
    /// The paths of its `.Include<…>` lines, in order.
    pub includes: Vec<String>,
    /// Lines that could not be used (skipped).
    pub problems: Vec<ListError>,
}

/// Decodes a list file: UTF-8 if it is, else Latin-1 (every byte a character).
pub fn decode(bytes: &[u8]) -> String {
    decode_named(bytes, "")
}

/// Decodes a list file found at `path`: UTF-8 if it is (a byte-order mark dropped), else in the
/// legacy encodings the path suggests, as e2guardian's own folders name them, whichever reads
/// the bytes best (the fewest bytes that are no character or half-width katakana, then the
/// fewest capital letters outside ASCII: a list is mostly in small letters), else Latin-1:
/// - `russian`, `koi8`, `1251`: windows-1251 or KOI8-R (Debian's `russian-koi8-r` list is in
///   fact in windows-1251);
/// - `japanese`, `shift_jis`, `sjis`, `euc-jp`: Shift_JIS or EUC-JP;
/// - `chinese`, `big5`, `gb2312`, `gbk`: GBK or Big5;
/// - `korean`, `euc-kr`: EUC-KR;
/// - `polish`, `czech`, `1250`, `8859-2`: windows-1250 or ISO-8859-2.
pub fn decode_named(bytes: &[u8], path: &str) -> String {
    use encoding_rs::Encoding;
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.strip_prefix('\u{FEFF}').unwrap_or(text).to_owned();
    }
    let path = path.to_ascii_lowercase();
    let families: [(&[&str], &[&str]); 5] = [
        (&["russian", "koi8", "1251"], &["windows-1251", "KOI8-R"]),
        (
            &["japanese", "shift_jis", "sjis", "euc-jp"],
            &["Shift_JIS", "EUC-JP"],
        ),
        (&["chinese", "big5", "gb2312", "gbk"], &["GBK", "Big5"]),
        (&["korean", "euc-kr"], &["EUC-KR"]),
        (
            &["polish", "czech", "1250", "8859-2"],
            &["windows-1250", "ISO-8859-2"],
        ),
    ];
    let candidates = families
        .iter()
        .find(|(hints, _)| hints.iter().any(|hint| path.contains(hint)))
        .map_or(&[][..], |(_, labels)| labels);
    let best = candidates
        .iter()
        .filter_map(|label| Encoding::for_label(label.as_bytes()))
        .map(|encoding| encoding.decode_without_bom_handling(bytes).0)
        .min_by_key(|text| {
            // Half-width katakana are rare in real text, but are what EUC-JP bytes read as in
            // Shift_JIS.
            let odd = text
                .chars()
                .filter(|c| {
                    *c == char::REPLACEMENT_CHARACTER || ('\u{FF61}'..='\u{FF9F}').contains(c)
                })
                .count();
            let capitals = text
                .chars()
                .filter(|c| !c.is_ascii() && c.is_uppercase())
                .count();
            (odd, capitals)
        });
    match best {
        Some(text) => text.into_owned(),
        None => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

impl PhraseLists {
    /// Adds the phrases of one e2guardian list (`banned` for a banned list, which has no
    /// weights) to the category `id` (created with `title` if new).
    pub fn import_e2guardian(
        &mut self,
        id: &str,
        title: &str,
        source: &str,
        text: &str,
        banned: bool,
    ) -> E2guardianImport {
        let mut report = E2guardianImport::default();
        let index = self.category_index(id, title);
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            let problem = |message: String| ListError {
                source: source.to_owned(),
                line: number + 1,
                message,
            };
            if let Some(name) = line.strip_prefix("#listcategory:") {
                report.list_category = Some(name.trim().trim_matches('"').to_owned());
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(path) = line.strip_prefix(".Include<") {
                report
                    .includes
                    .push(path.trim_end_matches('>').trim().to_owned());
                continue;
            }
            match parse_line(line, banned) {
                Ok(phrase) => {
                    self.categories[index].phrases.push(phrase);
                    report.phrases += 1;
                }
                Err(message) => report.problems.push(problem(message)),
            }
        }
        report
    }
}

/// One line: `<a>,<b><30>` (weighted) or `<a>,<b>` (banned).
fn parse_line(line: &str, banned: bool) -> Result<Phrase, String> {
    let mut groups = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find('<') {
        let between = rest[..open].trim();
        if !between.is_empty() && between != "," {
            return Err(format!("unexpected {between:?} between phrases"));
        }
        let close = rest[open..]
            .find('>')
            .ok_or_else(|| "a < without its >".to_owned())?;
        groups.push(&rest[open + 1..open + close]);
        rest = &rest[open + close + 1..];
    }
    let tail = rest.trim();
    if !tail.is_empty() && !tail.starts_with('#') {
        return Err(format!("unexpected {tail:?} after the phrases"));
    }
    let weight = if banned {
        BANNED_WEIGHT
    } else {
        let last = groups
            .pop()
            .ok_or_else(|| "no phrase on the line".to_owned())?;
        last.trim()
            .parse::<i32>()
            .map_err(|_| format!("the last group should be the weight, not <{last}>"))?
    };
    if weight == 0 {
        return Err("a weight of 0 would do nothing".into());
    }
    if groups.is_empty() {
        return Err("no phrase on the line".into());
    }
    let parts = groups
        .iter()
        .map(|group| part(group))
        .collect::<Option<Vec<Part>>>()
        .ok_or_else(|| "a phrase with no letters or digits".to_owned())?;
    if let Some(short) = parts.iter().find(|part| part.too_short()) {
        return Err(format!(
            "<{}> is too short to match inside words: it would match almost any text",
            short.text
        ));
    }
    // Text is matched with stretched letters (three or more in a row) squeezed (`diiiie` is
    // `die`), so a word that squeezes into a short one matches that word: `< xxx >` every "x".
    // So does a phrase each of whose words squeezes into such a short one (`<xxx zzz>`); one
    // with a word left as written (`<xxx videos>`) is kept. Double letters stay double
    // (`< butt >` is not "but").
    for (group, part) in groups.iter().zip(&parts) {
        let written: Vec<String> = group.split_whitespace().map(str::to_lowercase).collect();
        let read: Vec<&str> = part.text.split(' ').collect();
        let squeezed = |(written, read): (&String, &&str)| {
            let chars: Vec<char> = written.chars().collect();
            let stretched = chars.windows(3).any(|three| {
                three[0] == three[1] && three[1] == three[2] && three[0].is_alphabetic()
            });
            stretched && read.chars().count() <= MAX_SQUEEZED_WORD
        };
        if written.len() == read.len() && written.iter().zip(&read).all(squeezed) {
            return Err(format!(
                "<{}> reads as {:?} once repeated letters are squeezed: it would match every {:?}",
                group.trim(),
                part.text,
                part.text
            ));
        }
    }
    Ok(Phrase {
        parts,
        weight,
        language: None,
    })
}

/// What importing a folder of e2guardian phrase lists did.
#[derive(Debug, Default)]
pub struct E2guardianTree {
    /// Files read.
    pub files: usize,
    /// Phrases imported.
    pub phrases: usize,
    /// Lines that could not be used.
    pub problems: Vec<ListError>,
}

impl PhraseLists {
    /// Imports every `weighted*` and `banned*` list under `root` (e2guardian's `phraselists`
    /// folder, any depth). Each file's phrases go to the category `e2g-FOLDER`, after the folder
    /// holding it (`pornography/weighted_french` → `e2g-pornography`). An unreadable folder or
    /// file is an error naming it.
    pub fn import_e2guardian_tree(
        &mut self,
        root: &std::path::Path,
    ) -> Result<E2guardianTree, DetectError> {
        let mut report = E2guardianTree::default();
        let mut folders = vec![root.to_path_buf()];
        while let Some(folder) = folders.pop() {
            let mut entries = std::fs::read_dir(&folder)
                .and_then(|entries| entries.collect::<std::io::Result<Vec<_>>>())
                .map_err(|source| DetectError::Read {
                    path: folder.clone(),
                    source,
                })?;
            entries.sort_by_key(|entry| entry.file_name());
            for entry in entries {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                let banned = name.starts_with("banned");
                if !banned && !name.starts_with("weighted") {
                    continue;
                }
                let bytes = std::fs::read(&path).map_err(|source| DetectError::Read {
                    path: path.clone(),
                    source,
                })?;
                let topic: String = folder
                    .file_name()
                    .map(|n| n.to_string_lossy().to_ascii_lowercase())
                    .unwrap_or_default()
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .collect();
                let id = format!("e2g-{topic}");
                let imported = self.import_e2guardian(
                    &id,
                    &id,
                    &path.to_string_lossy(),
                    &decode_named(
                        &bytes,
                        &path.strip_prefix(root).unwrap_or(&path).to_string_lossy(),
                    ),
                    banned,
                );
                report.files += 1;
                report.phrases += imported.phrases;
                report.problems.extend(imported.problems);
            }
        }
        Ok(report)
    }
}

/// One `<…>` group: spaces just inside the brackets are word boundaries.
fn part(group: &str) -> Option<Part> {
    let start = group.starts_with(' ');
    let end = group.ends_with(' ');
    let mut part = Part::parse(group.trim())?;
    // Part::parse reads `*` marks; e2guardian has none, so the anchor comes from the spaces.
    part.anchor = match (start, end) {
        (true, true) => Anchor::Words,
        (true, false) => Anchor::Prefix,
        (false, true) => Anchor::Suffix,
        (false, false) => Anchor::Anywhere,
    };
    Some(part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scanner;

    #[test]
    fn e2guardian_lines_become_phrases() {
        let mut lists = PhraseLists::default();
        let report = lists.import_e2guardian(
            "gambling",
            "Gambling",
            "gambling/weighted",
            "#\n#listcategory: \"Gambling\"\n\n< bet >,<poker><40>\n< casino ><30>\n<kasino><30>\n\
             < online betting ><-10>\n.Include</etc/e2guardian/lists/phraselists/x/weighted>\n\
             <broken\n< no weight >\n",
            false,
        );
        assert_eq!(report.phrases, 4);
        assert_eq!(report.list_category.as_deref(), Some("Gambling"));
        assert_eq!(
            report.includes,
            ["/etc/e2guardian/lists/phraselists/x/weighted"]
        );
        let lines: Vec<usize> = report.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [9, 10], "{:?}", report.problems);
        let written: Vec<(String, i32)> = lists.categories[0]
            .phrases
            .iter()
            .map(|p| (p.written(), p.weight))
            .collect();
        assert_eq!(
            written,
            [
                ("bet & *poker*".to_owned(), 40),
                ("casino".to_owned(), 30),
                ("*kasino*".to_owned(), 30),
                ("online betting".to_owned(), -10),
            ]
        );
    }

    #[test]
    fn banned_phrases_fire_on_their_own() {
        let mut lists = PhraseLists::default();
        lists.import_e2guardian("porn", "Pornography", "banned", "< xvideos >\n", true);
        let scanner = Scanner::new(lists);
        assert_eq!(scanner.scan("free XVIDEOS clips")[0].score, BANNED_WEIGHT);
    }

    #[test]
    fn latin_1_files_are_read() {
        assert_eq!(decode(b"<caf\xe9><30>"), "<café><30>");
        assert_eq!(decode("<café><30>".as_bytes()), "<café><30>");
        assert_eq!(decode("\u{FEFF}<café><30>".as_bytes()), "<café><30>");
    }

    #[test]
    fn words_that_squeeze_into_short_ones_are_refused() {
        // Matched with stretched letters squeezed, `< xxx >` would fire on every "x"; a
        // longer word, or one with only double letters (`< butt >`, `< teen >`), is kept.
        let mut lists = PhraseLists::default();
        let report = lists.import_e2guardian(
            "x",
            "x",
            "x/weighted",
            "< butt ><40>\n< xxx ><60>\n< teen >,< sex ><30>\n< boobs ><40>\n< sex ><20>\n\
             < h.i.v ><10>\n<teen ass><70>\n< kill yourself ><50>\n< free sex ><50>\n",
            false,
        );
        let refused: Vec<(usize, &str)> = report
            .problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(
            refused,
            [(
                2,
                "<xxx> reads as \"x\" once repeated letters are squeezed: it would match every \
                 \"x\""
            )]
        );
        assert_eq!(report.phrases, 8);
        let scanner = Scanner::new(lists);
        assert!(
            scanner
                .scan("but x marks ten, written as ten as before")
                .is_empty()
        );
        assert_eq!(scanner.scan("kiiill yourself")[0].score, 50);
        assert_eq!(scanner.scan("boooobs and sex")[0].score, 60);
    }

    #[test]
    fn other_scripts_are_read_in_the_encoding_their_folder_suggests() {
        // "секс" in windows-1251 and in KOI8-R: the folder says Russian, the small letters say
        // which (Debian's `russian-koi8-r` list is in windows-1251).
        let cp1251 = b"<\xf1\xe5\xea\xf1><50>";
        let koi8 = b"<\xd3\xc5\xcb\xd3><50>";
        for path in [
            "russian-koi8-r/pornography/weighted",
            "russian-1251/x/weighted",
        ] {
            assert_eq!(decode_named(cp1251, path), "<секс><50>");
            assert_eq!(decode_named(koi8, path), "<секс><50>");
        }
        // "エロ動画" in Shift_JIS and in EUC-JP.
        let sjis = b"<\x83G\x83\x8d\x93\xae\x89\xe6><50>";
        let euc = b"<\xa5\xa8\xa5\xed\xc6\xb0\xb2\xe8><50>";
        assert_eq!(
            decode_named(sjis, "japanese/pornography/weighted"),
            "<エロ動画><50>"
        );
        assert_eq!(
            decode_named(euc, "japanese/pornography/weighted"),
            "<エロ動画><50>"
        );
        // No hint: Latin-1, as before.
        assert_eq!(decode_named(cp1251, "pornography/weighted"), "<ñåêñ><50>");
    }

    /// The lists Debian's e2guardian ships (`scripts/test` installs the package): every English
    /// weighted list imports with fewer than one line in twenty unusable.
    #[test]
    fn debians_e2guardian_lists_import() {
        let root = std::path::Path::new("/etc/e2guardian/lists/phraselists");
        assert!(
            root.is_dir(),
            "e2guardian's lists are missing: run scripts/test, which installs the Debian package"
        );
        let mut lists = PhraseLists::default();
        let mut phrases = 0;
        let mut problems = 0;
        for entry in std::fs::read_dir(root).expect("read the phrase lists") {
            let folder = entry.expect("an entry").path();
            let file = folder.join("weighted");
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            let name = folder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let report = lists.import_e2guardian(
                &name,
                &name,
                &file.to_string_lossy(),
                &decode_named(&bytes, &name),
                false,
            );
            phrases += report.phrases;
            problems += report.problems.len();
        }
        // The lists for other scripts read as those scripts: Russian's "prostitutes",
        // Japanese's "beauty" (美).
        for (file, phrase) in [
            ("russian-1251/pornography/weighted", "проститутки"),
            ("russian-koi8-r/pornography/weighted", "проститутки"),
            ("japanese/pornography/weighted", "美"),
        ] {
            let bytes = std::fs::read(root.join(file)).expect("read the list");
            let mut these = PhraseLists::default();
            let report =
                these.import_e2guardian(file, file, file, &decode_named(&bytes, file), false);
            let expected = crate::normalise(phrase).trim().to_owned();
            assert!(
                these.categories[0]
                    .phrases
                    .iter()
                    .any(|p| p.written().contains(&expected)),
                "{file}: no {phrase:?} ({expected:?}) among {} phrases",
                report.phrases
            );
        }
        assert!(phrases > 5_000, "only {phrases} phrases imported");
        // Unusable: mostly parts too short to match inside words, and words that squeeze into
        // short ones (`butt`, `xxx`, `teen`).
        assert!(
            problems * 20 < phrases,
            "{problems} unusable lines of {phrases}"
        );
        let scanner = Scanner::new(lists);
        let findings = scanner.scan("Online casino: play poker and blackjack, bet now, jackpot!");
        assert!(
            findings.iter().any(|f| f.category == "gambling"),
            "{findings:?}"
        );
    }
}
