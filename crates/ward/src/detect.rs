//! Risk detection in the running gateway (its lists and the school's exclusions), and
//! `ward detect`, for trying lists before a school relies on them.

use crate::output::say;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use ward_detect::{AgeBand, Model, PhraseLists, Scanner, default_lists, eval, model};
use ward_proxy::{Detection, Exclusions};
use ward_store::{Exclusion, ExclusionKind, SchoolId, Store};

use crate::config::DetectionSection;
use crate::{EXIT_BLOCKED, EXIT_OK, Failure};

/// The built-in list plus a school's own lists and any e2guardian folder. Unusable lines are
/// reported (`warn`) and skipped; a file that cannot be read is an error naming it.
pub fn load_lists(
    lists: &[PathBuf],
    e2guardian: Option<&Path>,
    warn: &mut dyn FnMut(String),
) -> anyhow::Result<PhraseLists> {
    let mut phrases = default_lists();
    for path in lists {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the phrase list {}", path.display()))?;
        for problem in phrases.parse(&path.to_string_lossy(), &text) {
            warn(problem.to_string());
        }
    }
    if let Some(folder) = e2guardian {
        let report = phrases
            .import_e2guardian_tree(folder)
            .with_context(|| format!("cannot read the e2guardian lists in {}", folder.display()))?;
        for problem in report.problems {
            warn(problem.to_string());
        }
    }
    Ok(phrases)
}

/// The proxy's detection as configured, or `None` when it is off.
pub fn build(settings: &DetectionSection) -> anyhow::Result<Option<Arc<Detection>>> {
    if !settings.enabled {
        return Ok(None);
    }
    let lists: Vec<PathBuf> = settings
        .lists
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect();
    let e2guardian = Some(settings.e2guardian.trim())
        .filter(|f| !f.is_empty())
        .map(PathBuf::from);
    let mut skipped = 0usize;
    let phrases = load_lists(&lists, e2guardian.as_deref(), &mut |problem| {
        skipped += 1;
        tracing::debug!(%problem, "phrase list line skipped");
    })?;
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "phrase list lines could not be used and were skipped (`ward detect lists` shows them)"
        );
    }
    let count = phrases.phrase_count();
    let mut scanner = Scanner::new(phrases);
    if settings.model {
        scanner = scanner.with_model(Model::shared());
    }
    let detection = Detection::new(scanner, settings.page_limit_kb.max(1).saturating_mul(1024));
    tracing::info!(
        phrases = count,
        classifier = settings.model,
        "risk detection on"
    );
    Ok(Some(Arc::new(detection)))
}

/// What the console's public page says detection watches for: the running proxy's categories,
/// or that it is off.
pub fn watched(
    settings: &DetectionSection,
    detection: Option<&Arc<Detection>>,
    https: bool,
) -> ward_console::Watched {
    let Some(detection) = detection else {
        return ward_console::Watched::default();
    };
    ward_console::Watched {
        enabled: true,
        page_limit_kb: settings.page_limit_kb.max(1),
        https,
        categories: detection
            .scanner()
            .lists()
            .categories
            .iter()
            .filter(|category| category.phrases.iter().any(|phrase| phrase.weight > 0))
            .map(|category| ward_console::WatchedCategory {
                id: category.id.clone(),
                title: category.title.clone(),
                about: category.about.clone(),
                phrases: category.phrases.len(),
            })
            .collect(),
    }
}

/// The school's exclusions in force, as the proxy applies them.
pub async fn exclusions(store: &Store, school: SchoolId) -> ward_store::Result<Exclusions> {
    Ok(proxy_exclusions(&store.exclusions(school, false).await?))
}

/// Exclusions as the store keeps them, as the proxy applies them.
pub fn proxy_exclusions(in_force: &[Exclusion]) -> Exclusions {
    let mut exclusions = Exclusions::default();
    for exclusion in in_force.iter().filter(|e| e.ended.is_none()) {
        match exclusion.kind {
            ExclusionKind::Phrase => exclusions.phrases.push(
                // As the lists write their phrases: normalised, each part.
                exclusion
                    .value
                    .split('&')
                    .filter_map(ward_detect::Part::parse)
                    .map(|part| part.written())
                    .collect::<Vec<_>>()
                    .join(" & "),
            ),
            ExclusionKind::Site => exclusions.sites.push(exclusion.value.clone()),
            ExclusionKind::Person => {
                if let Ok(id) = exclusion.value.parse() {
                    exclusions.people.insert(id);
                }
                if let Some(username) = &exclusion.person_username {
                    exclusions.usernames.insert(username.to_lowercase());
                }
            }
        }
    }
    exclusions
}

#[derive(Debug, Subcommand)]
pub enum DetectCommand {
    /// Scan text (the arguments, or standard input) and print what each category found.
    ///
    /// Exit code 1 when a category fired, 0 when none did.
    Scan(ScanArgs),
    /// Read the lists and print their categories, thresholds, severities and phrase counts,
    /// with every line that could not be used.
    Lists(ListArgs),
    /// Measure detection on labelled cases (crates/detect/eval/): recall, precision and false
    /// alarms per category and overall, then every miss and false alarm with why.
    Eval(EvalArgs),
    /// Train the classifier on labelled cases and write the model (scripts/train-detect-model
    /// retrains the one Ward ships, from crates/detect/eval/dev.tsv).
    Train(TrainArgs),
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    lists: ListArgs,
    /// Where to write the model.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Files of labelled cases: a line each, `kind<TAB>labels<TAB>text`.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Use this model file instead of the one Ward ships.
    #[arg(long, value_name = "FILE", conflicts_with = "no_model")]
    model: Option<PathBuf>,
    /// Phrase lists alone, without the classifier.
    #[arg(long)]
    no_model: bool,
}

impl ListArgs {
    /// The built-in lists with these added; a line that cannot be used is reported on standard
    /// error and skipped.
    fn load(&self) -> anyhow::Result<PhraseLists> {
        load_lists(&self.lists, self.e2guardian.as_deref(), &mut |p| {
            eprintln!("skipped: {p}")
        })
    }
}

impl ModelArgs {
    /// The scanner for `lists` with the chosen model.
    fn scanner(&self, lists: PhraseLists) -> anyhow::Result<Scanner> {
        let scanner = Scanner::new(lists);
        if self.no_model {
            return Ok(scanner);
        }
        let model = match &self.model {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("cannot read the model {}", path.display()))?;
                Arc::new(Model::from_bytes(&bytes).with_context(|| path.display().to_string())?)
            }
            None => Model::shared(),
        };
        Ok(scanner.with_model(model))
    }
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    lists: ListArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Print the figures only, not each miss and false alarm (for a held-out part, whose
    /// cases no one tuning the lists should read).
    #[arg(long)]
    summary: bool,
    /// Files of cases: a line each, `kind<TAB>labels<TAB>text`.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// More phrase lists in Ward's format, added to the built-in one.
    #[arg(long = "list", value_name = "FILE")]
    lists: Vec<PathBuf>,
    /// A folder of e2guardian phrase lists to import too.
    #[arg(long, value_name = "FOLDER")]
    e2guardian: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    #[command(flatten)]
    lists: ListArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// The age band whose severity is shown: primary, secondary or staff.
    #[arg(long, default_value = "secondary")]
    band: String,
    /// The text to scan; without it, standard input (HTML is read as a page's text).
    text: Vec<String>,
}

/// Runs `ward detect …`.
pub fn run(command: DetectCommand) -> Result<u8, Failure> {
    match command {
        DetectCommand::Lists(arguments) => {
            let mut problems = Vec::new();
            let lists = load_lists(
                &arguments.lists,
                arguments.e2guardian.as_deref(),
                &mut |p| problems.push(p),
            )?;
            say!(
                "{:<22} {:>9} {:>7}  {:<28} title",
                "category",
                "threshold",
                "phrases",
                "severity (prim/sec/staff)"
            );
            for category in &lists.categories {
                say!(
                    "{:<22} {:>9} {:>7}  {:<28} {}",
                    category.id,
                    category.threshold,
                    category.phrases.len(),
                    format!(
                        "{}/{}/{}",
                        category.severity[0], category.severity[1], category.severity[2]
                    ),
                    category.title
                );
            }
            say!("{} phrases", lists.phrase_count());
            for problem in &problems {
                eprintln!("skipped: {problem}");
            }
            Ok(EXIT_OK)
        }
        DetectCommand::Eval(arguments) => evaluate(&arguments),
        DetectCommand::Train(arguments) => train(&arguments),
        DetectCommand::Scan(arguments) => {
            let band = match arguments.band.as_str() {
                "primary" => AgeBand::Primary,
                "secondary" => AgeBand::Secondary,
                "staff" => AgeBand::Staff,
                other => {
                    return Err(Failure::usage(anyhow::anyhow!(
                        "--band is primary, secondary or staff, not {other:?}"
                    )));
                }
            };
            let lists = arguments.lists.load()?;
            let text = if arguments.text.is_empty() {
                let mut bytes = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut bytes)
                    .context("cannot read standard input")?;
                let looks_html = bytes.iter().take(1024).any(|b| *b == b'<');
                if looks_html {
                    let mut page = ward_detect::PageText::new(bytes.len());
                    page.feed(&bytes);
                    page.text()
                } else {
                    String::from_utf8_lossy(&bytes).into_owned()
                }
            } else {
                arguments.text.join(" ")
            };
            let scanner = arguments.model.scanner(lists)?;
            let findings = scanner.scan(&text);
            if findings.is_empty() {
                say!("nothing found");
                return Ok(EXIT_OK);
            }
            for finding in &findings {
                let category = scanner
                    .lists()
                    .categories
                    .iter()
                    .find(|c| c.id == finding.category);
                let (title, threshold, severity) = category
                    .map(|c| (c.title.as_str(), c.threshold, c.severity(band)))
                    .unwrap_or_default();
                say!(
                    "{} ({title}): found by the {}; lists' score {} of {threshold}, severity {severity}",
                    finding.category,
                    finding.layer.describe(),
                    finding.score
                );
                for (phrase, weight) in &finding.phrases {
                    say!("  {weight:+5}  {phrase}");
                }
                if let Some(view) = &finding.model {
                    say!("  classifier: {view}");
                }
                say!("  text: … {} …", finding.context);
            }
            Ok(EXIT_BLOCKED)
        }
    }
}

/// A share as a percentage with one decimal, or `-` when there is nothing to divide by.
fn percent(value: Option<f64>) -> String {
    match value {
        Some(value) => format!("{:.1}%", value * 100.0),
        None => "-".to_owned(),
    }
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Runs `ward detect train`.
fn train(arguments: &TrainArgs) -> Result<u8, Failure> {
    let lists = arguments.lists.load()?;
    let cases = read_cases(&arguments.files)?;
    let scanner = Scanner::new(lists);
    let (model, checked) = model::train_on_cases(&scanner, &cases).map_err(anyhow::Error::from)?;
    let bytes = model.to_bytes();
    std::fs::write(&arguments.out, &bytes)
        .with_context(|| format!("cannot write {}", arguments.out.display()))?;
    say!(
        "trained on {} cases: {} features, {} bytes, written to {}",
        cases.len(),
        model.feature_count(),
        bytes.len(),
        arguments.out.display()
    );
    say!(
        "Cross-validated on these cases (each scored by a model trained without it), lists and \
         classifier together:"
    );
    say!(
        "{:<16} {:>9} {:>9} {:>7} {:>7}",
        "category",
        "fires at",
        "overrules",
        "cases",
        "recall"
    );
    for (category, (_, cases, caught)) in model.categories().iter().zip(&checked.categories) {
        say!(
            "{:<16} {:>8.1}% {:>8.1}% {:>7} {:>7}",
            category.id,
            category.threshold * 100.0,
            category.overrule * 100.0,
            cases,
            percent(ratio(*caught, *cases))
        );
    }
    let (risky, listed) = checked.lists_alone;
    let caught: usize = checked.categories.iter().map(|c| c.2).sum();
    say!(
        "overall recall {} (lists alone {}); false alarms on {} of {} harmless cases ({})",
        percent(ratio(caught, risky)),
        percent(ratio(listed, risky)),
        checked.harmless.1,
        checked.harmless.0,
        percent(ratio(checked.harmless.1, checked.harmless.0))
    );
    say!(
        "the classifier alone: recall {}, false alarms on {} harmless cases ({})",
        percent(ratio(checked.model_alone.0, risky)),
        checked.model_alone.1,
        percent(ratio(checked.model_alone.1, checked.harmless.0))
    );
    Ok(EXIT_OK)
}

/// Reads case files; a line that cannot be used is reported and skipped.
fn read_cases(files: &[PathBuf]) -> anyhow::Result<Vec<eval::Case>> {
    let mut cases = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the cases in {}", path.display()))?;
        let (read, problems) = eval::parse_cases(&path.to_string_lossy(), &text);
        for problem in problems {
            eprintln!("skipped: {problem}");
        }
        cases.extend(read);
    }
    Ok(cases)
}

/// Runs `ward detect eval`.
fn evaluate(arguments: &EvalArgs) -> Result<u8, Failure> {
    let lists = arguments.lists.load()?;
    let cases = read_cases(&arguments.files)?;
    let scanner = arguments.model.scanner(lists)?;
    let started = std::time::Instant::now();
    let evaluation = eval::evaluate(&scanner, &cases);
    let took = started.elapsed();
    let names: Vec<String> = arguments
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let layers = match scanner.model() {
        Some(model) => format!("lists and classifier ({} features)", model.feature_count()),
        None => "lists alone".to_owned(),
    };
    say!(
        "{}: {} cases ({} risky, {} harmless), {layers}, scanned in {:.0} ms",
        names.join(", "),
        cases.len(),
        evaluation.risky,
        evaluation.harmless,
        took.as_secs_f64() * 1000.0
    );
    say!("");
    say!(
        "{:<16} {:>6} {:>7} {:>8} {:>10}  {}",
        "category",
        "cases",
        "caught",
        "recall",
        "precision",
        "false alarms on harmless cases (rate)"
    );

    for (id, figures) in &evaluation.categories {
        say!(
            "{:<16} {:>6} {:>7} {:>8} {:>10}  {} ({})",
            id,
            figures.cases,
            figures.caught,
            percent(figures.recall()),
            percent(figures.precision()),
            figures.harmless_fired,
            percent(evaluation.category_false_positive_rate(figures))
        );
    }
    say!(
        "{:<16} {:>6} {:>7} {:>8} {:>10}  {} of {} ({})",
        "overall",
        evaluation.risky,
        evaluation.risky_caught,
        percent(evaluation.recall()),
        percent(evaluation.precision()),
        evaluation.harmless_fired,
        evaluation.harmless,
        percent(evaluation.false_positive_rate())
    );
    if arguments.summary {
        return Ok(EXIT_OK);
    }
    let place = |case: &eval::Case| format!("{}:{}", case.source, case.line);
    let found = |finding: &ward_detect::Finding| {
        let phrases: Vec<String> = finding
            .phrases
            .iter()
            .map(|(phrase, weight)| format!("{phrase} {weight:+}"))
            .collect();
        let mut said = format!(
            "{} {} ({})",
            finding.category,
            finding.score,
            phrases.join(", ")
        );
        if let Some(view) = &finding.model {
            said.push_str(&format!("; classifier {view}"));
        }
        said
    };
    say!("");
    say!("Missed ({}):", evaluation.misses.len());
    for miss in &evaluation.misses {
        say!(
            "  {} [{} {}] {}",
            place(&miss.case),
            miss.case.kind,
            miss.case.labels.join(","),
            miss.case.text
        );
        if miss.below.is_empty() {
            say!("      no phrase of its categories matched");
        }
        for finding in &miss.below {
            say!("      below the threshold: {}", found(finding));
        }
        for finding in &miss.fired {
            say!("      fired instead: {}", found(finding));
        }
    }
    say!("");
    say!("False alarms ({}):", evaluation.false_alarms.len());
    for alarm in &evaluation.false_alarms {
        let labels = if alarm.case.harmless() {
            eval::HARMLESS.to_owned()
        } else {
            alarm.case.labels.join(",")
        };
        say!(
            "  {} [{} {}] {}",
            place(&alarm.case),
            alarm.case.kind,
            labels,
            alarm.case.text
        );
        say!("      fired: {}", found(&alarm.finding));
    }
    Ok(EXIT_OK)
}
