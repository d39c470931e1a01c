//! Measuring detection (DESIGN.md M5, issue 23): labelled cases, what the scanner makes of each,
//! and recall, precision and false alarms per category.
//!
//! A file of cases has one case a line, three fields separated by tabs:
//!
//! ```text
//! # kind    labels           text
//! search    self-harm        how many paracetamol does it take to die
//! chat      abuse,help-seeking   my step dad hits me who can i tell
//! search    none             faggots and mash recipe
//! ```
//!
//! The kind says where the text was seen (`search`, `url`, `chat`, `title`, `page`, `report`);
//! the labels are the categories that should fire, any one of which catches the case (the first
//! is the one its figures count under), or `none` for a harmless case, on which nothing should
//! fire. Lines starting with `#` and blank lines are skipped.

use std::collections::BTreeMap;
use std::fmt;

use crate::{Finding, ListError, Scanner};

/// The label of a harmless case.
pub const HARMLESS: &str = "none";

/// Where a text was seen: the context detection reads it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TextKind {
    /// A search engine's query.
    Search,
    /// An address.
    Url,
    /// A chat message or post.
    Chat,
    /// A page's title.
    Title,
    /// A paragraph of a page.
    Page,
    /// What a pupil wrote to Ward (the block page's *Report a concern*).
    Report,
}

impl TextKind {
    /// Every kind, in order.
    pub const ALL: [TextKind; 6] = [
        TextKind::Search,
        TextKind::Url,
        TextKind::Chat,
        TextKind::Title,
        TextKind::Page,
        TextKind::Report,
    ];

    /// Its name in a case file.
    pub fn as_str(self) -> &'static str {
        match self {
            TextKind::Search => "search",
            TextKind::Url => "url",
            TextKind::Chat => "chat",
            TextKind::Title => "title",
            TextKind::Page => "page",
            TextKind::Report => "report",
        }
    }
}

impl fmt::Display for TextKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TextKind {
    type Err = ();
    fn from_str(name: &str) -> Result<TextKind, ()> {
        TextKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or(())
    }
}

/// One labelled case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The file (or name) it came from.
    pub source: String,
    /// Its line there, from 1.
    pub line: usize,
    /// Where the text was seen.
    pub kind: TextKind,
    /// The categories that should fire (any one catches it); empty for a harmless case.
    pub labels: Vec<String>,
    /// The text.
    pub text: String,
}

impl Case {
    /// Whether nothing should fire on it.
    pub fn harmless(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Reads a file of cases. Lines that cannot be used are returned with their line numbers and
/// skipped; the rest is kept.
pub fn parse_cases(source: &str, text: &str) -> (Vec<Case>, Vec<ListError>) {
    let mut cases = Vec::new();
    let mut problems = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let error = |message: String| ListError {
            source: source.to_owned(),
            line: number + 1,
            message,
        };
        let mut fields = line.splitn(3, '\t');
        let (Some(kind), Some(labels), Some(case_text)) =
            (fields.next(), fields.next(), fields.next())
        else {
            problems.push(error(
                "a case is three fields separated by tabs: kind, labels, text".into(),
            ));
            continue;
        };
        let Ok(kind) = kind.trim().parse::<TextKind>() else {
            problems.push(error(format!(
                "the kind is one of search, url, chat, title, page or report, not {kind:?}"
            )));
            continue;
        };
        let labels: Vec<String> = labels
            .split(',')
            .map(|label| label.trim().to_owned())
            .filter(|label| !label.is_empty())
            .collect();
        let valid = |label: &String| {
            label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if labels.is_empty() || !labels.iter().all(valid) {
            problems.push(error(
                "the labels are category ids separated by commas, or none".into(),
            ));
            continue;
        }
        let harmless = labels.iter().any(|label| label == HARMLESS);
        if harmless && labels.len() > 1 {
            problems.push(error("a case labelled none has no other label".into()));
            continue;
        }
        if case_text.trim().is_empty() {
            problems.push(error("the case has no text".into()));
            continue;
        }
        cases.push(Case {
            source: source.to_owned(),
            line: number + 1,
            kind,
            labels: if harmless { Vec::new() } else { labels },
            text: case_text.trim().to_owned(),
        });
    }
    (cases, problems)
}

/// The figures of one category.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryFigures {
    /// Cases whose first label it is.
    pub cases: usize,
    /// Of those, the ones caught (one of their labels fired).
    pub caught: usize,
    /// Times it fired on a case that lists it.
    pub right: usize,
    /// Times it fired on a case that does not list it (harmless or another category's).
    pub wrong: usize,
    /// Harmless cases it fired on.
    pub harmless_fired: usize,
}

impl CategoryFigures {
    /// Caught / cases, or `None` with no cases.
    pub fn recall(&self) -> Option<f64> {
        ratio(self.caught, self.cases)
    }

    /// Right / all its firings, or `None` when it never fired.
    pub fn precision(&self) -> Option<f64> {
        ratio(self.right, self.right + self.wrong)
    }
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// A risky case nothing caught, with what the scan saw below the thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    /// The case.
    pub case: Case,
    /// What fired (in categories it does not list).
    pub fired: Vec<Finding>,
    /// The scores of its own categories, below their thresholds (empty: no listed phrase at
    /// all).
    pub below: Vec<Finding>,
}

/// A category that fired on a case that does not list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FalseAlarm {
    /// The case.
    pub case: Case,
    /// What fired, with the phrases that made it.
    pub finding: Finding,
}

/// What `evaluate` found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// Per category (the lists' and the labels'), by id.
    pub categories: BTreeMap<String, CategoryFigures>,
    /// Risky cases.
    pub risky: usize,
    /// Of those, the ones caught.
    pub risky_caught: usize,
    /// Harmless cases.
    pub harmless: usize,
    /// Of those, the ones anything fired on.
    pub harmless_fired: usize,
    /// Risky cases nothing caught.
    pub misses: Vec<Miss>,
    /// Firings in categories the case does not list.
    pub false_alarms: Vec<FalseAlarm>,
}

impl Evaluation {
    /// Risky cases caught / risky cases.
    pub fn recall(&self) -> Option<f64> {
        ratio(self.risky_caught, self.risky)
    }

    /// Harmless cases anything fired on / harmless cases.
    pub fn false_positive_rate(&self) -> Option<f64> {
        ratio(self.harmless_fired, self.harmless)
    }

    /// A category's firings on harmless cases / harmless cases.
    pub fn category_false_positive_rate(&self, figures: &CategoryFigures) -> Option<f64> {
        ratio(figures.harmless_fired, self.harmless)
    }

    /// Right firings / all firings, over every category.
    pub fn precision(&self) -> Option<f64> {
        let right: usize = self.categories.values().map(|c| c.right).sum();
        let wrong: usize = self.categories.values().map(|c| c.wrong).sum();
        ratio(right, right + wrong)
    }
}

/// Scans every case and counts what fired against its labels.
pub fn evaluate(scanner: &Scanner, cases: &[Case]) -> Evaluation {
    let mut evaluation = Evaluation::default();
    for category in &scanner.lists().categories {
        if category.phrases.iter().any(|phrase| phrase.weight > 0) {
            evaluation
                .categories
                .entry(category.id.clone())
                .or_default();
        }
    }
    for case in cases {
        let fired = scanner.scan(&case.text);
        if let Some(first) = case.labels.first() {
            evaluation.risky += 1;
            let figures = evaluation.categories.entry(first.clone()).or_default();
            figures.cases += 1;
            let caught = fired.iter().any(|f| case.labels.contains(&f.category));
            if caught {
                figures.caught += 1;
                evaluation.risky_caught += 1;
            } else {
                let below = scanner
                    .scores(&case.text)
                    .into_iter()
                    .filter(|f| case.labels.contains(&f.category))
                    .collect();
                evaluation.misses.push(Miss {
                    case: case.clone(),
                    fired: fired.clone(),
                    below,
                });
            }
        } else {
            evaluation.harmless += 1;
            if !fired.is_empty() {
                evaluation.harmless_fired += 1;
            }
        }
        for finding in fired {
            let figures = evaluation
                .categories
                .entry(finding.category.clone())
                .or_default();
            if case.labels.contains(&finding.category) {
                figures.right += 1;
            } else {
                figures.wrong += 1;
                if case.harmless() {
                    figures.harmless_fired += 1;
                }
                evaluation.false_alarms.push(FalseAlarm {
                    case: case.clone(),
                    finding,
                });
            }
        }
    }
    evaluation
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PhraseLists;

    const LIST: &str = "\
category self-harm Self-harm
threshold 50
60 kill myself
30 overdos*

category violence Violence
threshold 50
60 stab him
30 knife
";

    const CASES: &str = "\
# kind\tlabels\ttext
search\tself-harm\thow to kill myself
search\tself-harm\tpainless overdose
chat\tself-harm,violence\ti will stab him then kill myself
search\tnone\tknife and fork
chat\tnone\tstab him with a knife in the game
page\tviolence\tthey will stab him
";

    fn scanner() -> Scanner {
        let mut lists = PhraseLists::default();
        assert!(lists.parse("test", LIST).is_empty());
        Scanner::new(lists)
    }

    #[test]
    fn cases_are_read_and_bad_lines_named() {
        let (cases, problems) = parse_cases(
            "cases.tsv",
            "search\tnone\tok\r\nwhat\tnone\tx\nchat\tnone,bullying\tx\nchat\t\tx\nurl\tdrugs\t  \nchat only two\n",
        );
        assert_eq!(cases.len(), 1);
        assert!(cases[0].harmless());
        assert_eq!(cases[0].text, "ok");
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6], "{problems:?}");
        assert!(problems[0].message.contains("search, url"));
    }

    #[test]
    fn recall_precision_and_false_alarms_are_counted_against_the_labels() {
        let (cases, problems) = parse_cases("cases", CASES);
        assert!(problems.is_empty(), "{problems:?}");
        let evaluation = evaluate(&scanner(), &cases);
        assert_eq!((evaluation.risky, evaluation.risky_caught), (4, 3));
        assert_eq!((evaluation.harmless, evaluation.harmless_fired), (2, 1));
        let harm = &evaluation.categories["self-harm"];
        // Three cases count under self-harm; the overdose one scores 30 of 50.
        assert_eq!(
            (harm.cases, harm.caught, harm.right, harm.wrong),
            (3, 2, 2, 0)
        );
        let violence = &evaluation.categories["violence"];
        // One case of its own, caught; it fired rightly there and on the case listing it
        // second, and wrongly on the game.
        assert_eq!(
            (
                violence.cases,
                violence.caught,
                violence.right,
                violence.wrong
            ),
            (1, 1, 2, 1)
        );
        assert_eq!(violence.harmless_fired, 1);
        assert_eq!(evaluation.misses.len(), 1);
        let miss = &evaluation.misses[0];
        assert_eq!(miss.case.text, "painless overdose");
        assert_eq!(miss.below.len(), 1);
        assert_eq!(miss.below[0].score, 30);
        assert_eq!(evaluation.false_alarms.len(), 1);
        assert_eq!(evaluation.false_alarms[0].finding.category, "violence");
        assert_eq!(evaluation.recall(), Some(0.75));
        assert_eq!(evaluation.false_positive_rate(), Some(0.5));
        assert_eq!(evaluation.precision(), Some(4.0 / 5.0));
    }

    #[test]
    fn a_label_no_list_has_is_measured_as_missed() {
        let (cases, _) = parse_cases("cases", "chat\tabuse\tmy dad hits me\n");
        let evaluation = evaluate(&scanner(), &cases);
        let abuse = &evaluation.categories["abuse"];
        assert_eq!((abuse.cases, abuse.caught), (1, 0));
        assert_eq!(abuse.recall(), Some(0.0));
        assert!(evaluation.misses[0].below.is_empty());
    }
}
