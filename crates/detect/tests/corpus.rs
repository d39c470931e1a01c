//! The dev part of the evaluation corpus as table tests (issue 23): the lists, tuned on it,
//! must keep catching it. A change to the lists or the normaliser that loses more than a
//! little of what they catch, in any category, or that raises false alarms on its harmless
//! cases, fails here and says which cases it lost. (The figures to quote are the held-out
//! part's, in BENCHMARKS.md: these are a floor against regressions, not a measure.)

use ward_detect::eval::{evaluate, parse_cases};
use ward_detect::{Model, Scanner, default_lists};

/// The least share of a category's dev cases the lists must catch.
const FLOOR: f64 = 0.80;
/// The most harmless dev cases anything may fire on.
const MOST_FALSE_ALARMS: f64 = 0.01;

#[test]
fn the_lists_keep_catching_the_dev_cases_per_category() {
    let (cases, problems) = parse_cases("dev.tsv", include_str!("../eval/dev.tsv"));
    assert!(problems.is_empty(), "{problems:?}");
    let lists = Scanner::new(default_lists());
    let evaluation = evaluate(&lists, &cases);
    let mut failures = Vec::new();
    for (category, figures) in &evaluation.categories {
        if figures.cases == 0 {
            continue;
        }
        let recall = figures.recall().unwrap_or(0.0);
        if recall < FLOOR {
            let missed: Vec<&str> = evaluation
                .misses
                .iter()
                .filter(|miss| miss.case.labels.first() == Some(category))
                .map(|miss| miss.case.text.as_str())
                .collect();
            failures.push(format!(
                "{category}: {:.1}% of {} (floor {:.0}%); missed: {missed:?}",
                recall * 100.0,
                figures.cases,
                FLOOR * 100.0
            ));
        }
    }
    let false_alarms = evaluation.false_positive_rate().unwrap_or(0.0);
    if false_alarms > MOST_FALSE_ALARMS {
        let fired: Vec<&str> = evaluation
            .false_alarms
            .iter()
            .filter(|alarm| alarm.case.harmless())
            .map(|alarm| alarm.case.text.as_str())
            .collect();
        failures.push(format!(
            "false alarms on {:.1}% of harmless cases: {fired:?}",
            false_alarms * 100.0
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The classifier, trained on these cases, only adds to what the lists catch here.
    let both = Scanner::new(default_lists()).with_model(Model::shared());
    let with_model = evaluate(&both, &cases);
    assert!(
        with_model.risky_caught >= evaluation.risky_caught,
        "the classifier lost dev cases: {} against {}",
        with_model.risky_caught,
        evaluation.risky_caught
    );
}

/// Each of the five languages' dev cases (`eval/LANG/dev.tsv`): their lists catch most of the
/// risky ones, and nothing fires on the harmless ones. (Tiny sets: a floor, not a measure.)
#[test]
fn the_lists_in_other_languages_keep_catching_their_dev_cases() {
    let languages = [
        ("pl", include_str!("../eval/pl/dev.tsv")),
        ("ro", include_str!("../eval/ro/dev.tsv")),
        ("pt", include_str!("../eval/pt/dev.tsv")),
        ("ur", include_str!("../eval/ur/dev.tsv")),
        ("ar", include_str!("../eval/ar/dev.tsv")),
    ];
    let scanner = Scanner::new(default_lists()).with_model(Model::shared());
    let mut failures = Vec::new();
    for (language, text) in languages {
        let (cases, problems) = parse_cases(language, text);
        assert!(problems.is_empty(), "{problems:?}");
        let evaluation = evaluate(&scanner, &cases);
        let recall = evaluation.recall().unwrap_or(0.0);
        if recall < 0.6 || evaluation.harmless_fired > 0 {
            failures.push(format!(
                "{language}: {:.1}% of {} risky caught, {} harmless fired; missed {:?}; false alarms {:?}",
                recall * 100.0,
                evaluation.risky,
                evaluation.harmless_fired,
                evaluation.misses.iter().map(|m| &m.case.text).collect::<Vec<_>>(),
                evaluation
                    .false_alarms
                    .iter()
                    .filter(|a| a.case.harmless())
                    .map(|a| &a.case.text)
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
