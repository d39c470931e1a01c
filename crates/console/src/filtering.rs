//! Filtering in the console (issue 25): the policy in force as the *User Actions* table; a
//! row's verdicts changed with a written reason, checked against the category index in force
//! (an allow that would reach an illegal-content entry is refused with the rule named, and the
//! attempt audited), saved as a new version and put in force at once; the versions with who,
//! when and why, any two compared line by line, an old one restored (itself a new version); and
//! the filter-change log as CSV. The policy's text is edited in place (`toml_edit`), so a
//! change is one line in the diff and the school's comments stay.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use ward_policy::{PolicySpec, VerdictKind, VerdictSpec};
use ward_store::{PolicySource, PolicyVersion};

use crate::auth::CurrentUser;
use crate::layout::{Layout, local_time, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

/// The version in force, or a clear error when the school has none yet (a console started
/// before its first gateway).
async fn in_force(state: &AppState, user: &CurrentUser) -> Result<PolicyVersion, AppError> {
    state
        .store()
        .latest_policy_version(user.account.school)
        .await?
        .ok_or_else(|| {
            AppError::BadRequest(
                "No filtering policy has been saved yet: it is saved when the DNS filter or the proxy first starts.".into(),
            )
        })
}

fn parse(version: &PolicyVersion) -> Result<PolicySpec, AppError> {
    PolicySpec::from_toml(&version.text).map_err(|error| {
        AppError::Internal(format!(
            "policy version {} does not read: {error}",
            version.number
        ))
    })
}

/// Category ids as staff read them: `Gambling, Hate and aggression (agressif)`.
fn readable_categories<'a>(ids: impl IntoIterator<Item = &'a String>) -> String {
    ids.into_iter()
        .map(|id| {
            let name = ward_policy::readable(id);
            if name.eq_ignore_ascii_case(id) {
                name
            } else {
                format!("{name} ({id})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One row of the table as the page shows it.
pub struct RowLine {
    id: String,
    action: String,
    heading: Option<String>,
    categories: String,
    /// The verdict for each group, in the groups' order.
    cells: Vec<String>,
}

#[derive(Template)]
#[template(path = "filtering.html")]
struct FilteringPage {
    layout: Layout,
    version: PolicyVersion,
    when: String,
    /// (id, title) of each group.
    groups: Vec<(String, String)>,
    rows: Vec<RowLine>,
    can_edit: bool,
    saved: String,
}

/// Query of the overview (what was just saved).
#[derive(Debug, Default, Deserialize)]
pub struct SavedQuery {
    #[serde(default)]
    saved: String,
}

/// `GET /filtering`: the policy in force.
pub async fn overview(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<SavedQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    let version = in_force(&state, &user).await?;
    let spec = parse(&version)?;
    let groups: Vec<(String, String)> = spec
        .groups
        .iter()
        .map(|g| (g.id.clone(), g.title.clone()))
        .collect();
    // A heading is shown where it starts, as the policy document does.
    let mut heading: Option<&str> = None;
    let rows = spec
        .rules
        .iter()
        .map(|rule| RowLine {
            id: rule.id.clone(),
            action: rule.action.clone(),
            heading: {
                let starts = rule.heading.as_deref() != heading;
                heading = rule.heading.as_deref();
                starts.then(|| rule.heading.clone()).flatten()
            },
            categories: readable_categories(&rule.categories),
            cells: groups
                .iter()
                .map(|(id, _)| rule.groups.get(id).unwrap_or(&rule.verdict).to_string())
                .collect(),
        })
        .collect();
    let page = FilteringPage {
        layout: Layout::for_user(&state, &user, "Filtering").await,
        when: local_time(&state, version.created_at),
        version,
        groups,
        rows,
        can_edit: user.can(Permission::EditFiltering),
        saved: query.saved,
    };
    render(&page)
}

/// One group's cell on a row's page.
pub struct CellLine {
    group: String,
    title: String,
    /// The verdict's column (`acceptable`…), or empty when the row's default applies.
    kind: String,
    /// The windows or nominated users, for the two columns that have them.
    details: String,
}

#[derive(Template)]
#[template(path = "filtering_rule.html")]
struct RulePage {
    layout: Layout,
    id: String,
    action: String,
    categories: String,
    default_kind: String,
    default_details: String,
    cells: Vec<CellLine>,
    windows: Vec<(String, String)>,
    kinds: Vec<(&'static str, &'static str)>,
    problem: String,
    reason: String,
}

/// A verdict's column as the form names it, and its details.
fn form_parts(verdict: &VerdictSpec) -> (String, String) {
    let kind = kind_name(verdict.kind()).to_owned();
    let details = match verdict {
        VerdictSpec::AtCertainTimes(windows) => windows.join(", "),
        VerdictSpec::ForNominatedUsers { groups, users } => groups
            .iter()
            .map(|g| format!("group {g}"))
            .chain(users.iter().map(|u| format!("user {u}")))
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    };
    (kind, details)
}

fn kind_name(kind: VerdictKind) -> &'static str {
    match kind {
        VerdictKind::Acceptable => "acceptable",
        VerdictKind::AtCertainTimes => "times",
        VerdictKind::ForNominatedUsers => "nominated",
        VerdictKind::Unacceptable => "unacceptable",
        VerdictKind::UnacceptableAndIllegal => "illegal",
    }
}

const KINDS: [(&str, &str); 5] = [
    ("acceptable", "Acceptable"),
    ("times", "Acceptable at certain times"),
    ("nominated", "Acceptable for nominated users"),
    ("unacceptable", "Unacceptable"),
    ("illegal", "Unacceptable and illegal"),
];

/// The verdict a form's column and details say.
fn verdict_from_form(kind: &str, details: &str) -> Result<VerdictSpec, String> {
    let text = match kind {
        "acceptable" => "acceptable".to_owned(),
        "times" => format!("acceptable at certain times: {details}"),
        "nominated" => format!("acceptable for nominated users: {details}"),
        "unacceptable" => "unacceptable".to_owned(),
        "illegal" => "unacceptable and illegal".to_owned(),
        other => return Err(format!("{other:?} is not a verdict")),
    };
    text.parse()
}

fn rule_page(
    layout: Layout,
    spec: &PolicySpec,
    id: &str,
    problem: String,
    reason: String,
) -> Result<RulePage, AppError> {
    let rule = spec
        .rules
        .iter()
        .find(|rule| rule.id == id)
        .ok_or(AppError::NotFound)?;
    let (default_kind, default_details) = form_parts(&rule.verdict);
    Ok(RulePage {
        layout,
        id: rule.id.clone(),
        action: rule.action.clone(),
        categories: readable_categories(&rule.categories),
        default_kind,
        default_details,
        cells: spec
            .groups
            .iter()
            .map(|group| {
                let (kind, details) = rule
                    .groups
                    .get(&group.id)
                    .map(form_parts)
                    .unwrap_or_default();
                CellLine {
                    group: group.id.clone(),
                    title: group.title.clone(),
                    kind,
                    details,
                }
            })
            .collect(),
        windows: spec
            .windows
            .iter()
            .map(|w| (w.id.clone(), w.title.clone()))
            .collect(),
        kinds: KINDS.to_vec(),
        problem,
        reason,
    })
}

/// `GET /filtering/rules/{id}`: a row's verdicts, to change.
pub async fn rule(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    user.require(Permission::EditFiltering)?;
    let version = in_force(&state, &user).await?;
    let spec = parse(&version)?;
    let layout = Layout::for_user(&state, &user, "Change a row").await;
    render(&rule_page(
        layout,
        &spec,
        &id,
        String::new(),
        String::new(),
    )?)
}

/// `POST /filtering/rules/{id}`: the row's verdicts, with a reason.
pub async fn save_rule(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(Permission::EditFiltering)?;
    let version = in_force(&state, &user).await?;
    let spec = parse(&version)?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    };
    let reason = field("reason").trim().to_owned();
    let refuse = |problem: String| async {
        let layout = Layout::for_user(&state, &user, "Change a row").await;
        let page = rule_page(layout, &spec, &id, problem, reason.clone())?;
        Ok::<Response, AppError>(
            (
                StatusCode::BAD_REQUEST,
                axum::response::Html(page.render()?),
            )
                .into_response(),
        )
    };
    if !spec.rules.iter().any(|rule| rule.id == id) {
        return Err(AppError::NotFound);
    }
    let default = match verdict_from_form(field("default_kind"), field("default_details")) {
        Ok(verdict) => verdict,
        Err(problem) => return refuse(format!("Every group: {problem}")).await,
    };
    let mut cells = Vec::new();
    for group in &spec.groups {
        let kind = field(&format!("kind_{}", group.id));
        let verdict = if kind.is_empty() {
            None
        } else {
            match verdict_from_form(kind, field(&format!("details_{}", group.id))) {
                Ok(verdict) if verdict == default => None,
                Ok(verdict) => Some(verdict),
                Err(problem) => return refuse(format!("{}: {problem}", group.title)).await,
            }
        };
        cells.push((group.id.clone(), verdict));
    }
    let text = match set_row_verdicts(&version.text, &id, &default, &cells) {
        Ok(text) => text,
        Err(problem) => return refuse(problem).await,
    };
    if text == version.text {
        return refuse("Nothing was changed.".into()).await;
    }
    let what = format!("row {id}: {}", describe_row(&default, &cells));
    match save_version(&state, &user, &text, PolicySource::Console, &reason, &what).await? {
        Ok(number) => Ok(Redirect::to(&format!("/filtering?saved={number}")).into_response()),
        Err(problem) => refuse(problem).await,
    }
}

fn describe_row(default: &VerdictSpec, cells: &[(String, Option<VerdictSpec>)]) -> String {
    let mut parts = vec![format!("every group {default}")];
    for (group, verdict) in cells {
        if let Some(verdict) = verdict {
            parts.push(format!("{group} {verdict}"));
        }
    }
    parts.join("; ")
}

/// Sets a row's verdict and its groups' verdicts in the policy's text, changing nothing else
/// (the school's comments and layout stay).
pub fn set_row_verdicts(
    text: &str,
    id: &str,
    default: &VerdictSpec,
    cells: &[(String, Option<VerdictSpec>)],
) -> Result<String, String> {
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|error| format!("the policy does not read: {error}"))?;
    let rules = document
        .get_mut("rule")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
        .ok_or("the policy has no rules")?;
    let row = rules
        .iter_mut()
        .find(|row| row.get("id").and_then(toml_edit::Item::as_str) == Some(id))
        .ok_or_else(|| format!("the policy has no row {id:?}"))?;
    if row.get("verdict").and_then(toml_edit::Item::as_str) != Some(default.to_string().as_str()) {
        row["verdict"] = toml_edit::value(default.to_string());
    }
    let wanted: Vec<(&str, String)> = cells
        .iter()
        .filter_map(|(group, verdict)| verdict.as_ref().map(|v| (group.as_str(), v.to_string())))
        .collect();
    match row.get_mut("groups") {
        Some(toml_edit::Item::Table(groups)) => {
            let stale: Vec<String> = groups
                .iter()
                .map(|(key, _)| key.to_owned())
                .filter(|key| !wanted.iter().any(|(g, _)| g == key))
                .collect();
            for key in stale {
                groups.remove(&key);
            }
            for (group, verdict) in &wanted {
                if groups.get(group).and_then(toml_edit::Item::as_str) != Some(verdict.as_str()) {
                    groups[*group] = toml_edit::value(verdict.clone());
                }
            }
            if groups.is_empty() {
                row.remove("groups");
            }
        }
        Some(toml_edit::Item::Value(toml_edit::Value::InlineTable(groups))) => {
            let stale: Vec<String> = groups
                .iter()
                .map(|(key, _)| key.to_owned())
                .filter(|key| !wanted.iter().any(|(g, _)| g == key))
                .collect();
            for key in stale {
                groups.remove(&key);
            }
            for (group, verdict) in &wanted {
                if groups.get(group).and_then(toml_edit::Value::as_str) != Some(verdict.as_str()) {
                    groups.insert(*group, verdict.as_str().into());
                }
            }
            if groups.is_empty() {
                row.remove("groups");
            }
        }
        Some(_) => return Err(format!("row {id:?}: its groups are not a table")),
        None if wanted.is_empty() => {}
        None => {
            let mut groups = toml_edit::Table::new();
            for (group, verdict) in &wanted {
                groups[*group] = toml_edit::value(verdict.clone());
            }
            row.insert("groups", toml_edit::Item::Table(groups));
        }
    }
    Ok(document.to_string())
}

/// Checks `text` against the index in force and saves it as a new version: its number, or
/// why it was refused (in words for the member of staff; the refusal is audited).
pub(crate) async fn save_version(
    state: &AppState,
    user: &CurrentUser,
    text: &str,
    source: PolicySource,
    reason: &str,
    what: &str,
) -> Result<Result<i64, String>, AppError> {
    let reason = reason.trim();
    if reason.chars().count() < ward_store::POLICY_MIN_REASON {
        return Ok(Err(format!(
            "Write a reason of at least {} characters: what is blocked or allowed, and why.",
            ward_store::POLICY_MIN_REASON
        )));
    }
    if let Err(error) = PolicySpec::from_toml(text) {
        return Ok(Err(error.to_string()));
    }
    let store = state.store();
    let checked = match state.filter() {
        Some(filter) => filter.check_policy(text),
        None => Err(crate::Refused(
            "no filter runs with this console, so a policy change cannot be checked here".into(),
        )),
    };
    if let Err(crate::Refused(why)) = checked {
        user.record(
            store,
            "filtering.refused",
            "policy",
            format!("{what}: refused: {why}"),
            Some(reason.to_owned()),
        )
        .await?;
        return Ok(Err(format!("Not saved: {why}")));
    }
    let number = match store
        .add_policy_version(
            user.account.school,
            text,
            source,
            reason,
            &user.account.username,
            jiff::Timestamp::now(),
        )
        .await
    {
        Ok(number) => number,
        Err(ward_store::StoreError::Invalid(why)) => return Ok(Err(why)),
        Err(error) => return Err(error.into()),
    };
    user.record(
        store,
        "filtering.change",
        &format!("policy:{number}"),
        format!("version {number}: {what}"),
        Some(reason.to_owned()),
    )
    .await?;
    state.filter_changed(user.account.school).await;
    Ok(Ok(number))
}

/// A version as the list shows it.
pub struct VersionLine {
    number: i64,
    when: String,
    author: String,
    source: &'static str,
    reason: String,
    added: usize,
    removed: usize,
}

#[derive(Template)]
#[template(path = "filtering_versions.html")]
struct VersionsPage {
    layout: Layout,
    versions: Vec<VersionLine>,
    can_edit: bool,
    problem: String,
}

fn version_lines(state: &AppState, versions: &[PolicyVersion]) -> Vec<VersionLine> {
    versions
        .iter()
        .enumerate()
        .map(|(i, version)| {
            let (added, removed) = versions.get(i + 1).map_or((0, 0), |before| {
                let diff = diff_lines(&before.text, &version.text);
                (
                    diff.iter().filter(|l| l.change == '+').count(),
                    diff.iter().filter(|l| l.change == '-').count(),
                )
            });
            VersionLine {
                number: version.number,
                when: local_time(state, version.created_at),
                author: version.author.clone(),
                source: version.source.label(),
                reason: version.reason.clone(),
                added,
                removed,
            }
        })
        .collect()
}

/// `GET /filtering/versions`.
pub async fn versions(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    versions_page(&state, &user, StatusCode::OK, String::new()).await
}

async fn versions_page(
    state: &AppState,
    user: &CurrentUser,
    status: StatusCode,
    problem: String,
) -> Result<Response, AppError> {
    let versions = state.store().policy_versions(user.account.school).await?;
    let page = VersionsPage {
        layout: Layout::for_user(state, user, "Filtering versions").await,
        versions: version_lines(state, &versions),
        can_edit: user.can(Permission::EditFiltering),
        problem,
    };
    Ok((status, axum::response::Html(page.render()?)).into_response())
}

/// One line of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    /// `+` added, `-` removed, ` ` the same.
    pub change: char,
    /// The line.
    pub text: String,
}

/// The lines that differ between `before` and `after`, with a few the same around each
/// change (the longest common subsequence of what lies between the common start and end).
pub fn diff_lines(before: &str, after: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let start = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let end = a[start..]
        .iter()
        .rev()
        .zip(b[start..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (middle_a, middle_b) = (&a[start..a.len() - end], &b[start..b.len() - end]);
    let mut out: Vec<DiffLine> = Vec::new();
    let line = |change: char, text: &str| DiffLine {
        change,
        text: text.to_owned(),
    };
    for text in &a[start.saturating_sub(3)..start] {
        out.push(line(' ', text));
    }
    if middle_a.len().saturating_mul(middle_b.len()) > 4_000_000 {
        // Too large to compare line by line: all of one, then all of the other.
        out.extend(middle_a.iter().map(|t| line('-', t)));
        out.extend(middle_b.iter().map(|t| line('+', t)));
    } else {
        let (n, m) = (middle_a.len(), middle_b.len());
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * (m + 1) + j] = if middle_a[i] == middle_b[j] {
                    lcs[(i + 1) * (m + 1) + j + 1] + 1
                } else {
                    lcs[(i + 1) * (m + 1) + j].max(lcs[i * (m + 1) + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && middle_a[i] == middle_b[j] {
                out.push(line(' ', middle_a[i]));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]) {
                // What was removed is shown before what replaced it.
                out.push(line('-', middle_a[i]));
                i += 1;
            } else {
                out.push(line('+', middle_b[j]));
                j += 1;
            }
        }
    }
    for text in a[a.len() - end..].iter().take(3) {
        out.push(line(' ', text));
    }
    out
}

#[derive(Template)]
#[template(path = "filtering_compare.html")]
struct ComparePage {
    layout: Layout,
    before: PolicyVersion,
    after: PolicyVersion,
    lines: Vec<DiffLine>,
}

/// Query of a comparison.
#[derive(Debug, Deserialize)]
pub struct CompareQuery {
    a: i64,
    b: i64,
}

/// `GET /filtering/compare?a=N&b=M`: two versions, line by line.
pub async fn compare(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<CompareQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    let store = state.store();
    let (first, second) = (query.a.min(query.b), query.a.max(query.b));
    let before = store.policy_version(user.account.school, first).await?;
    let after = store.policy_version(user.account.school, second).await?;
    let page = ComparePage {
        layout: Layout::for_user(&state, &user, "Compare versions").await,
        lines: diff_lines(&before.text, &after.text),
        before,
        after,
    };
    render(&page)
}

/// The restore form.
#[derive(Debug, Deserialize)]
pub struct RestoreForm {
    #[serde(default)]
    reason: String,
}

/// `POST /filtering/versions/{n}/restore`: an old version, as a new one.
pub async fn restore(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(number): Path<i64>,
    axum::Form(form): axum::Form<RestoreForm>,
) -> Result<Response, AppError> {
    user.require(Permission::EditFiltering)?;
    let old = state
        .store()
        .policy_version(user.account.school, number)
        .await?;
    let what = format!("version {number} restored");
    match save_version(
        &state,
        &user,
        &old.text,
        PolicySource::Restore,
        &form.reason,
        &what,
    )
    .await?
    {
        Ok(saved) => Ok(Redirect::to(&format!("/filtering?saved={saved}")).into_response()),
        Err(problem) => versions_page(&state, &user, StatusCode::BAD_REQUEST, problem).await,
    }
}

/// `GET /filtering/log.csv`: the filter-change log (G2): every version with when, who, from
/// where, why, and how many lines it changed.
pub async fn log_csv(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    let versions = state.store().policy_versions(user.account.school).await?;
    let mut csv = String::from("version,date,by,from,reason,lines added,lines removed\r\n");
    for line in version_lines(&state, &versions) {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{}\r\n",
            line.number,
            csv_field(&line.when),
            csv_field(&line.author),
            csv_field(line.source),
            csv_field(&line.reason),
            line.added,
            line.removed
        ));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"filter-change-log.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

/// A CSV field: quoted, with quotes doubled; a field a spreadsheet would run as a formula
/// (`=`, `+`, `-`, `@` first) is written with a `'` before it.
fn csv_field(text: &str) -> String {
    let safe = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", safe.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"# Park End's policy
name = "Park End"
timezone = "Europe/London"
unknown_group = "ks2"

[[group]]
id = "ks2"
title = "KS2"
kind = "pupil"

[[group]]
id = "staff"
title = "Staff"
kind = "staff"

[[window]]
id = "lunchtime"
title = "Lunchtime"
days = ["mon-fri"]
from = "12:00"
to = "13:00"

# Gambling: never for pupils.
[[rule]]
id = "gambling"
action = "Gambling"
categories = ["gambling"]
verdict = "unacceptable"

[[rule]]
id = "games"
action = "Online gaming"
categories = ["games"]
verdict = "unacceptable"
groups = { staff = "acceptable" }
"#;

    #[test]
    fn a_row_is_changed_in_place_and_comments_stay() {
        let times: VerdictSpec = "acceptable at certain times: lunchtime"
            .parse()
            .expect("verdict");
        let text = set_row_verdicts(
            POLICY,
            "gambling",
            &VerdictSpec::Unacceptable,
            &[("ks2".into(), None), ("staff".into(), Some(times.clone()))],
        )
        .expect("changed");
        assert!(text.contains("# Gambling: never for pupils."));
        assert!(text.contains("# Park End's policy"));
        let spec = PolicySpec::from_toml(&text).expect("reads");
        let gambling = &spec.rules[0];
        assert_eq!(gambling.groups.get("staff"), Some(&times));
        assert_eq!(gambling.verdict, VerdictSpec::Unacceptable);
        let diff = diff_lines(POLICY, &text);
        let changed: Vec<&DiffLine> = diff.iter().filter(|l| l.change != ' ').collect();
        assert!(
            changed.iter().all(|l| l.change == '+'),
            "only added lines: {changed:?}"
        );
        assert!(
            changed
                .iter()
                .any(|l| l.text.contains("acceptable at certain times"))
        );

        // An inline table of groups is kept inline; a group set back to the row's verdict is
        // removed, and an empty table with it.
        let text = set_row_verdicts(
            POLICY,
            "games",
            &VerdictSpec::Unacceptable,
            &[("ks2".into(), None), ("staff".into(), None)],
        )
        .expect("changed");
        let spec = PolicySpec::from_toml(&text).expect("reads");
        assert!(spec.rules[1].groups.is_empty());
        assert!(!text.contains("groups = {"));
        let text = set_row_verdicts(
            POLICY,
            "games",
            &VerdictSpec::Acceptable,
            &[
                ("ks2".into(), Some(VerdictSpec::Unacceptable)),
                ("staff".into(), None),
            ],
        )
        .expect("changed");
        assert!(
            text.contains(r#"groups = { ks2 = "unacceptable" }"#),
            "{text}"
        );
        assert!(set_row_verdicts(POLICY, "no-such-row", &VerdictSpec::Acceptable, &[]).is_err());
    }

    #[test]
    fn list_entries_are_added_and_removed_in_place() {
        let text =
            set_list_entry(POLICY, "ks2", "allow", "bbc.co.uk/bitesize", true).expect("added");
        assert!(text.contains("# Gambling: never for pupils."));
        let spec = PolicySpec::from_toml(&text).expect("reads");
        assert_eq!(spec.lists.len(), 1);
        assert_eq!(spec.lists[0].allow, ["bbc.co.uk/bitesize"]);
        let again = set_list_entry(&text, "ks2", "block", "games.example", true).expect("added");
        let spec = PolicySpec::from_toml(&again).expect("reads");
        assert_eq!(spec.lists[0].block, ["games.example"]);
        assert!(set_list_entry(&again, "ks2", "allow", "BBC.co.uk/bitesize", true).is_err());
        let removed =
            set_list_entry(&again, "ks2", "allow", "bbc.co.uk/bitesize", false).expect("removed");
        let spec = PolicySpec::from_toml(&removed).expect("reads");
        assert!(spec.lists[0].allow.is_empty());
        for bad in ["", "two words", "tab\there", &"x".repeat(3000)] {
            assert!(
                set_list_entry(POLICY, "ks2", "allow", bad, true).is_err(),
                "{bad:?}"
            );
        }
        assert!(set_list_entry(POLICY, "ks2", "maybe", "a.example", true).is_err());
        assert!(set_list_entry(POLICY, "ks2", "allow", "a.example", false).is_err());
    }

    #[test]
    fn settings_are_set_in_place_and_defaults_stay_unwritten() {
        let keep = |group: &str| GroupSettings {
            group: group.into(),
            safe_search: true,
            youtube: "strict".into(),
            ip_hosts: String::new(),
            uncategorised: "allow".into(),
        };
        let same =
            set_settings(POLICY, "ks2", "block-page", &[keep("ks2"), keep("staff")]).expect("set");
        assert_eq!(same, POLICY, "nothing written for defaults");
        let staff = GroupSettings {
            safe_search: false,
            youtube: "off".into(),
            ip_hosts: "allow".into(),
            ..keep("staff")
        };
        let text = set_settings(POLICY, "staff", "nxdomain", &[keep("ks2"), staff]).expect("set");
        let spec = PolicySpec::from_toml(&text).expect("reads");
        assert_eq!(spec.unknown_group, "staff");
        assert_eq!(spec.dns.blocked, ward_policy::BlockedAnswer::Nxdomain);
        assert!(!spec.groups[1].safe_search && spec.groups[0].safe_search);
        assert_eq!(spec.groups[1].youtube, ward_policy::YouTubeMode::Off);
        assert_eq!(spec.groups[1].ip_hosts, Some(ward_policy::Fallback::Allow));
        assert!(text.contains("# Gambling: never for pupils."));
        let bad = GroupSettings {
            youtube: "<script>".into(),
            ..keep("ks2")
        };
        assert!(set_settings(POLICY, "ks2", "block-page", &[bad]).is_err());
        assert!(set_settings(POLICY, "ks2", "maybe", &[]).is_err());
        assert!(set_settings(POLICY, "ks2", "block-page", &[keep("nobody")]).is_err());
    }

    #[test]
    fn windows_are_added_and_removed() {
        let form = WindowForm {
            action: "add".into(),
            id: "after-school".into(),
            title: "After school".into(),
            days: "mon-fri".into(),
            from: "15:30".into(),
            to: "17:00".into(),
            reason: String::new(),
        };
        let text = set_window(POLICY, &form).expect("added");
        let spec = PolicySpec::from_toml(&text).expect("reads");
        assert_eq!(spec.windows.len(), 2);
        assert_eq!(spec.windows[1].from, "15:30");
        assert!(set_window(&text, &form).is_err(), "twice");
        for bad in ["After School", "", "a b", "<x>"] {
            let form = WindowForm {
                id: bad.into(),
                ..form.clone()
            };
            assert!(set_window(POLICY, &form).is_err(), "{bad:?}");
        }
        let remove = WindowForm {
            action: "remove".into(),
            id: "lunchtime".into(),
            ..WindowForm::default()
        };
        let text = set_window(POLICY, &remove).expect("removed");
        assert!(
            PolicySpec::from_toml(&text)
                .expect("reads")
                .windows
                .is_empty()
        );
    }

    #[test]
    fn year_groups_and_what_is_never_decrypted_are_set_in_place() {
        let same = set_group_details(POLICY, &[("ks2".into(), vec![])], &[], &["bank".into()])
            .expect("set");
        assert_eq!(same, POLICY, "defaults unwritten");
        let text = set_group_details(
            POLICY,
            &[("ks2".into(), vec!["3".into(), "4".into()])],
            &["staff".into()],
            &["bank".into(), "webmail".into()],
        )
        .expect("set");
        let spec = PolicySpec::from_toml(&text).expect("reads");
        assert_eq!(spec.groups[0].years, ["3", "4"]);
        assert_eq!(spec.proxy.groups_not_inspected, ["staff"]);
        assert_eq!(spec.proxy.never_inspect, ["bank", "webmail"]);
        assert!(
            set_group_details(POLICY, &[("ks2".into(), vec!["<3>".into()])], &[], &[]).is_err()
        );
        assert!(set_group_details(POLICY, &[], &[], &["bank; rm".into()]).is_err());
    }

    #[test]
    fn a_comparison_shows_what_changed_with_lines_around_it() {
        let before = "a\nb\nc\nd\ne\nf\ng\n";
        let after = "a\nb\nc\nD\ne\nf\ng\nh\n";
        let diff = diff_lines(before, after);
        let shown: Vec<String> = diff
            .iter()
            .map(|l| format!("{}{}", l.change, l.text))
            .collect();
        assert_eq!(
            shown,
            [" a", " b", " c", "-d", "+D", " e", " f", " g", "+h"]
        );
        assert!(diff_lines(before, before).iter().all(|l| l.change == ' '));
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "\"plain\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    }
}

/// Query of the URL tester.
#[derive(Debug, Default, Deserialize)]
pub struct TestQuery {
    #[serde(default)]
    site: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    at: String,
}

/// One step of the precedence as the tester shows it.
pub struct StepLine {
    title: &'static str,
    about: &'static str,
    /// `decided`, `passed` (considered, did not decide) or `not reached`.
    outcome: &'static str,
}

#[derive(Template)]
#[template(path = "filtering_test.html")]
struct TestPage {
    layout: Layout,
    query: TestQuery,
    groups: Vec<(String, String)>,
    answer: Option<crate::Explained>,
    /// The answer's categories as staff read them.
    categories: String,
    steps: Vec<StepLine>,
    when: String,
    who: String,
    problem: String,
}

/// `GET /filtering/test`: "would this be blocked, for whom, and why?" A site, a group or a
/// person, a time (now by default).
pub async fn test(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<TestQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    let version = in_force(&state, &user).await?;
    let spec = parse(&version)?;
    let groups: Vec<(String, String)> = spec
        .groups
        .iter()
        .map(|g| (g.id.clone(), g.title.clone()))
        .collect();
    let mut page = TestPage {
        layout: Layout::for_user(&state, &user, "URL tester").await,
        groups,
        answer: None,
        categories: String::new(),
        steps: Vec::new(),
        when: String::new(),
        who: String::new(),
        problem: String::new(),
        query,
    };
    if page.query.site.trim().is_empty() {
        return render(&page);
    }
    let zone = state.config().time_zone.clone();
    let at = match page.query.at.trim() {
        "" => jiff::Timestamp::now(),
        text => match text
            .parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|local| local.to_zoned_datetime(zone.clone()).ok())
        {
            Some(zoned) => zoned.timestamp(),
            None => {
                page.problem = format!("{text:?} is not a date and time.");
                return render(&page);
            }
        },
    };
    // A person: their group, and their name for nominated users and personal grants.
    let person = page.query.person.trim().to_owned();
    let (group, username) = if person.is_empty() {
        (page.query.group.trim().to_owned(), None)
    } else {
        match state
            .store()
            .person_by_username(user.account.school, &person)
            .await?
        {
            Some(found) => match found.group.clone() {
                Some(group) => {
                    page.who = format!("{} ({})", found.full_name(), found.username);
                    (group, Some(found.username))
                }
                None => {
                    page.problem = format!(
                        "{} is in no group: they browse as the unknown-client group.",
                        found.username
                    );
                    (spec.unknown_group.clone(), Some(found.username))
                }
            },
            None => {
                page.problem = format!("Nobody at the school has the username {person:?}.");
                return render(&page);
            }
        }
    };
    let Some(filter) = state.filter() else {
        page.problem = "No filter runs with this console, so nothing can be tested here.".into();
        return render(&page);
    };
    match filter.explain(&page.query.site, &group, username.as_deref(), at) {
        Ok(answer) => {
            page.steps = ward_policy::PRECEDENCE
                .iter()
                .enumerate()
                .map(|(i, (title, about))| StepLine {
                    title,
                    about,
                    outcome: match (i + 1).cmp(&answer.step) {
                        std::cmp::Ordering::Less => "passed",
                        std::cmp::Ordering::Equal => "decided",
                        std::cmp::Ordering::Greater => "not reached",
                    },
                })
                .collect();
            page.when = local_time(&state, at);
            page.categories = readable_categories(&answer.categories);
            page.answer = Some(answer);
        }
        Err(crate::Refused(why)) => page.problem = why,
    }
    render(&page)
}

/// A row of the policy document's *User Actions* table.
pub struct DocumentRow {
    heading: Option<String>,
    action: String,
    cells: Vec<String>,
    uksic: String,
    covers: String,
}

#[derive(Template)]
#[template(path = "policy_document.html")]
struct DocumentPage {
    layout: Layout,
    as_file: bool,
    school: String,
    version: PolicyVersion,
    when: String,
    headings: Vec<&'static str>,
    groups: Vec<(String, String, String)>,
    rows: Vec<DocumentRow>,
    windows: Vec<(String, String)>,
    lists: Vec<(String, String, String)>,
    sanctions: Vec<SanctionsTable>,
}

/// One of the *Actions / Sanctions* tables.
pub struct SanctionsTable {
    title: String,
    actions: Vec<String>,
    /// Each incident and an `X` (or nothing) per action.
    incidents: Vec<(String, Vec<bool>)>,
}

/// `GET /filtering/document`: the appendix of the school's online safety policy, exactly as
/// in force: the *User Actions* table, what each row covers, the time windows and local lists,
/// and the pupil and staff *Actions / Sanctions* tables, with the version and its date.
/// Printable (the menu and forms are not printed).
pub async fn document(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<DocumentQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ViewPolicyDocument)?;
    let version = in_force(&state, &user).await?;
    let spec = parse(&version)?;
    let rows = spec
        .user_actions()
        .into_iter()
        .zip(&spec.rules)
        .map(|(row, rule)| DocumentRow {
            heading: row.heading.map(str::to_owned),
            action: row.action.to_owned(),
            cells: row.cells.to_vec(),
            uksic: row.uksic.unwrap_or("—").to_owned(),
            covers: if rule.categories.is_empty() {
                row.covers
            } else {
                readable_categories(&rule.categories)
            },
        })
        .collect();
    let kind = |kind: ward_policy::GroupKind| match kind {
        ward_policy::GroupKind::Pupil => "pupils",
        ward_policy::GroupKind::Staff => "staff",
        ward_policy::GroupKind::Guest => "guests",
    };
    let sanctions = [
        &state.config().sanctions.pupil,
        &state.config().sanctions.staff,
    ]
    .into_iter()
    .map(|table| SanctionsTable {
        title: table.title.clone(),
        actions: table.actions.iter().map(|a| a.title.clone()).collect(),
        incidents: table
            .incidents
            .iter()
            .map(|incident| {
                (
                    incident.title.clone(),
                    table
                        .actions
                        .iter()
                        .map(|a| incident.actions.contains(&a.id))
                        .collect(),
                )
            })
            .collect(),
    })
    .collect();
    let as_file = query.file.is_some();
    let page = DocumentPage {
        // As a file: without the console's menu, to attach to the written policy.
        layout: if as_file {
            Layout::bare("Filtering policy")
        } else {
            Layout::for_user(&state, &user, "Filtering policy").await
        },
        as_file,
        school: spec.name.clone(),
        when: local_time(&state, version.created_at),
        headings: VerdictKind::ALL.iter().map(|k| k.heading()).collect(),
        groups: spec
            .groups
            .iter()
            .map(|g| {
                (
                    g.id.to_uppercase(),
                    g.title.clone(),
                    kind(g.kind).to_owned(),
                )
            })
            .collect(),
        rows,
        windows: spec
            .windows
            .iter()
            .map(|w| {
                (
                    w.title.clone(),
                    format!("{}, {} to {}", w.days.join(", "), w.from, w.to),
                )
            })
            .collect(),
        lists: spec
            .lists
            .iter()
            .map(|l| (l.group.clone(), l.allow.join(", "), l.block.join(", ")))
            .collect(),
        sanctions,
        version,
    };
    if as_file {
        let name = format!(
            "attachment; filename=\"filtering-policy-version-{}.html\"",
            page.version.number
        );
        return Ok((
            [(header::CONTENT_DISPOSITION, name)],
            axum::response::Html(page.render()?),
        )
            .into_response());
    }
    render(&page)
}

/// Query of the policy document.
#[derive(Debug, Deserialize)]
pub struct DocumentQuery {
    /// Present: as a file to save.
    file: Option<String>,
}

/// Adds `entry` to (`add`) or removes it from the `allow` or `block` list of `group` (`all`:
/// everyone) in the policy's text, changing nothing else.
pub fn set_list_entry(
    text: &str,
    group: &str,
    list: &str,
    entry: &str,
    add: bool,
) -> Result<String, String> {
    if list != "allow" && list != "block" {
        return Err("choose allow or block".into());
    }
    let entry = entry.trim();
    if entry.is_empty()
        || entry.len() > 2048
        || entry.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(
            "An entry is one domain or address, without spaces, at most 2,048 characters.".into(),
        );
    }
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|error| format!("the policy does not read: {error}"))?;
    if document.get("list").is_none() {
        if !add {
            return Err(format!("{group} has no local lists"));
        }
        document.insert(
            "list",
            toml_edit::Item::ArrayOfTables(toml_edit::ArrayOfTables::new()),
        );
    }
    let lists = document
        .get_mut("list")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
        .ok_or("the policy's local lists are not a list of tables")?;
    let position = lists
        .iter()
        .position(|table| table.get("group").and_then(toml_edit::Item::as_str) == Some(group));
    let table = match position {
        Some(position) => lists.get_mut(position).ok_or("the list went away")?,
        None if add => {
            let mut table = toml_edit::Table::new();
            table["group"] = toml_edit::value(group);
            lists.push(table);
            let last = lists.len() - 1;
            lists.get_mut(last).ok_or("the list went away")?
        }
        None => return Err(format!("{group} has no local lists")),
    };
    if table.get(list).is_none() {
        table[list] = toml_edit::value(toml_edit::Array::new());
    }
    let array = table
        .get_mut(list)
        .and_then(toml_edit::Item::as_array_mut)
        .ok_or_else(|| format!("{group}'s {list} list is not a list"))?;
    let existing = array.iter().position(|value| {
        value
            .as_str()
            .is_some_and(|v| v.eq_ignore_ascii_case(entry))
    });
    match (add, existing) {
        (true, Some(_)) => return Err(format!("{entry} is on {group}'s {list} list already.")),
        (true, None) => array.push(entry),
        (false, Some(position)) => {
            array.remove(position);
        }
        (false, None) => return Err(format!("{entry} is not on {group}'s {list} list.")),
    }
    Ok(document.to_string())
}

/// One of a group's lists: `allow` or `block`, and its entries.
type ListEntries = (&'static str, Vec<String>);

#[derive(Template)]
#[template(path = "filtering_lists.html")]
struct ListsPage {
    layout: Layout,
    /// (group id, title) of each group, with `all` first.
    groups: Vec<(String, String)>,
    /// Each group's lists.
    lists: Vec<(String, Vec<ListEntries>)>,
    can_edit: bool,
    problem: String,
    form: ListForm,
}

/// A local-list change.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListForm {
    #[serde(default)]
    group: String,
    #[serde(default)]
    list: String,
    #[serde(default)]
    entry: String,
    #[serde(default)]
    reason: String,
    /// `add` or `remove`.
    #[serde(default)]
    action: String,
}

async fn lists_page(
    state: &AppState,
    user: &CurrentUser,
    status: StatusCode,
    problem: String,
    form: ListForm,
) -> Result<Response, AppError> {
    let version = in_force(state, user).await?;
    let spec = parse(&version)?;
    let mut groups = vec![("all".to_owned(), "Everyone".to_owned())];
    groups.extend(spec.groups.iter().map(|g| (g.id.clone(), g.title.clone())));
    let page = ListsPage {
        layout: Layout::for_user(state, user, "Local lists").await,
        groups,
        lists: spec
            .lists
            .iter()
            .map(|l| {
                (
                    l.group.clone(),
                    vec![("allow", l.allow.clone()), ("block", l.block.clone())],
                )
            })
            .collect(),
        can_edit: user.can(Permission::EditFiltering),
        problem,
        form,
    };
    Ok((status, axum::response::Html(page.render()?)).into_response())
}

/// `GET /filtering/lists`: the school's own allow and block entries, per group.
pub async fn lists(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    lists_page(
        &state,
        &user,
        StatusCode::OK,
        String::new(),
        ListForm::default(),
    )
    .await
}

/// `POST /filtering/lists`: an entry added or removed, with a reason, as a new version.
pub async fn change_list(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<ListForm>,
) -> Result<Response, AppError> {
    user.require(Permission::EditFiltering)?;
    let version = in_force(&state, &user).await?;
    let spec = parse(&version)?;
    let group = form.group.trim();
    if group != "all" && !spec.groups.iter().any(|g| g.id == group) {
        return lists_page(
            &state,
            &user,
            StatusCode::BAD_REQUEST,
            format!("The policy has no group {group:?}."),
            form,
        )
        .await;
    }
    let add = form.action != "remove";
    let text = match set_list_entry(&version.text, group, form.list.trim(), &form.entry, add) {
        Ok(text) => text,
        Err(problem) => {
            return lists_page(&state, &user, StatusCode::BAD_REQUEST, problem, form).await;
        }
    };
    let what = format!(
        "{} {} {} {}'s {} list",
        if add { "added" } else { "removed" },
        form.entry.trim(),
        if add { "to" } else { "from" },
        group,
        form.list.trim()
    );
    match save_version(
        &state,
        &user,
        &text,
        PolicySource::Console,
        &form.reason,
        &what,
    )
    .await?
    {
        Ok(number) => Ok(Redirect::to(&format!("/filtering?saved={number}")).into_response()),
        Err(problem) => lists_page(&state, &user, StatusCode::BAD_REQUEST, problem, form).await,
    }
}

/// A group's settings as the settings form sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSettings {
    /// The group's id.
    pub group: String,
    /// Safe search forced on.
    pub safe_search: bool,
    /// `strict`, `moderate` or `off`.
    pub youtube: String,
    /// `allow`, `block`, or empty for the group kind's default.
    pub ip_hosts: String,
    /// `allow` (categorised filtering) or `block` (a walled garden).
    pub uncategorised: String,
}

/// Sets the policy-wide settings (the unknown-client group, the DNS filter's answer for a
/// blocked name) and each group's, in the policy's text in place. A setting equal to the
/// built-in default is written only when the text already had it.
pub fn set_settings(
    text: &str,
    unknown_group: &str,
    dns_blocked: &str,
    groups: &[GroupSettings],
) -> Result<String, String> {
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|error| format!("the policy does not read: {error}"))?;
    let choose = |value: &str, allowed: &[&str], what: &str| {
        if allowed.contains(&value) {
            Ok(())
        } else {
            Err(format!("{value:?} is not a choice for {what}"))
        }
    };
    choose(dns_blocked, &["block-page", "nxdomain"], "the DNS answer")?;
    if document
        .get("unknown_group")
        .and_then(toml_edit::Item::as_str)
        != Some(unknown_group)
    {
        document["unknown_group"] = toml_edit::value(unknown_group);
    }
    let current_dns = document
        .get("dns")
        .and_then(|dns| dns.get("blocked"))
        .and_then(toml_edit::Item::as_str)
        .unwrap_or("block-page");
    if current_dns != dns_blocked {
        if document.get("dns").is_none() {
            document["dns"] = toml_edit::Item::Table(toml_edit::Table::new());
        }
        document["dns"]["blocked"] = toml_edit::value(dns_blocked);
    }
    let tables = document
        .get_mut("group")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
        .ok_or("the policy has no groups")?;
    for settings in groups {
        choose(&settings.youtube, &["strict", "moderate", "off"], "YouTube")?;
        choose(&settings.ip_hosts, &["", "allow", "block"], "addresses")?;
        choose(
            &settings.uncategorised,
            &["allow", "block"],
            "uncategorised sites",
        )?;
        let table = tables
            .iter_mut()
            .find(|t| {
                t.get("id").and_then(toml_edit::Item::as_str) == Some(settings.group.as_str())
            })
            .ok_or_else(|| format!("the policy has no group {:?}", settings.group))?;
        let set_bool = |table: &mut toml_edit::Table, key: &str, value: bool, default: bool| {
            let now = table
                .get(key)
                .and_then(toml_edit::Item::as_bool)
                .unwrap_or(default);
            if now != value {
                table[key] = toml_edit::value(value);
            }
        };
        let set_text = |table: &mut toml_edit::Table, key: &str, value: &str, default: &str| {
            let now = table
                .get(key)
                .and_then(toml_edit::Item::as_str)
                .unwrap_or(default)
                .to_owned();
            if value.is_empty() {
                table.remove(key);
            } else if now != value {
                table[key] = toml_edit::value(value);
            }
        };
        set_bool(table, "safe_search", settings.safe_search, true);
        set_text(table, "youtube", &settings.youtube, "strict");
        set_text(table, "ip_hosts", &settings.ip_hosts, "");
        set_text(table, "uncategorised", &settings.uncategorised, "allow");
    }
    Ok(document.to_string())
}

/// Sets each pupil group's year groups, which groups' HTTPS is never decrypted, and the
/// categories never decrypted, in the policy's text in place (unchanged values unwritten).
pub fn set_group_details(
    text: &str,
    years: &[(String, Vec<String>)],
    not_inspected: &[String],
    never_inspect: &[String],
) -> Result<String, String> {
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|error| format!("the policy does not read: {error}"))?;
    let word = |w: &String| {
        !w.is_empty()
            && w.len() <= 40
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    let array = |items: &[String]| {
        let mut array = toml_edit::Array::new();
        for item in items {
            array.push(item.as_str());
        }
        toml_edit::value(array)
    };
    let current = |item: Option<&toml_edit::Item>| -> Option<Vec<String>> {
        item.and_then(toml_edit::Item::as_array).map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
    };
    {
        let tables = document
            .get_mut("group")
            .and_then(toml_edit::Item::as_array_of_tables_mut)
            .ok_or("the policy has no groups")?;
        for (group, wanted) in years {
            if let Some(bad) = wanted.iter().find(|y| !word(y)) {
                return Err(format!("{bad:?} is not a year group (N, R, 1 to 13)"));
            }
            let table = tables
                .iter_mut()
                .find(|t| t.get("id").and_then(toml_edit::Item::as_str) == Some(group.as_str()))
                .ok_or_else(|| format!("the policy has no group {group:?}"))?;
            if current(table.get("years")).unwrap_or_default() != *wanted {
                if wanted.is_empty() {
                    table.remove("years");
                } else {
                    table["years"] = array(wanted);
                }
            }
        }
    }
    for list in [not_inspected, never_inspect] {
        if let Some(bad) = list.iter().find(|w| !word(w)) {
            return Err(format!("{bad:?} is not a group or category id"));
        }
    }
    let proxy_now = document.get("proxy");
    let never_now = current(proxy_now.and_then(|p| p.get("never_inspect")))
        .unwrap_or_else(|| vec!["bank".to_owned()]);
    let groups_now =
        current(proxy_now.and_then(|p| p.get("groups_not_inspected"))).unwrap_or_default();
    if never_now != never_inspect || groups_now != not_inspected {
        if document.get("proxy").is_none() {
            document["proxy"] = toml_edit::Item::Table(toml_edit::Table::new());
        }
        if never_now != never_inspect {
            document["proxy"]["never_inspect"] = array(never_inspect);
        }
        if groups_now != not_inspected {
            document["proxy"]["groups_not_inspected"] = array(not_inspected);
        }
    }
    Ok(document.to_string())
}

/// A group's settings as the page shows them.
pub struct SettingsLine {
    id: String,
    title: String,
    pupils: bool,
    years: String,
    decrypted: bool,
    safe_search: bool,
    youtube: String,
    ip_hosts: String,
    uncategorised: String,
}

#[derive(Template)]
#[template(path = "filtering_settings.html")]
struct SettingsPage {
    layout: Layout,
    never_inspect: String,
    unknown_group: String,
    dns_blocked: String,
    groups: Vec<SettingsLine>,
    can_edit: bool,
    problem: String,
}

fn settings_lines(spec: &PolicySpec) -> Vec<SettingsLine> {
    spec.groups
        .iter()
        .map(|g| SettingsLine {
            id: g.id.clone(),
            title: g.title.clone(),
            pupils: g.kind == ward_policy::GroupKind::Pupil,
            years: g.years.join(", "),
            decrypted: !spec.proxy.groups_not_inspected.contains(&g.id),
            safe_search: g.safe_search,
            youtube: match g.youtube {
                ward_policy::YouTubeMode::Strict => "strict",
                ward_policy::YouTubeMode::Moderate => "moderate",
                ward_policy::YouTubeMode::Off => "off",
            }
            .to_owned(),
            ip_hosts: match g.ip_hosts {
                None => "",
                Some(ward_policy::Fallback::Allow) => "allow",
                Some(ward_policy::Fallback::Block) => "block",
            }
            .to_owned(),
            uncategorised: match g.uncategorised {
                ward_policy::Fallback::Allow => "allow",
                ward_policy::Fallback::Block => "block",
            }
            .to_owned(),
        })
        .collect()
}

async fn settings_page(
    state: &AppState,
    user: &CurrentUser,
    status: StatusCode,
    problem: String,
) -> Result<Response, AppError> {
    let version = in_force(state, user).await?;
    let spec = parse(&version)?;
    let page = SettingsPage {
        layout: Layout::for_user(state, user, "Filtering settings").await,
        never_inspect: spec.proxy.never_inspect.join(", "),
        unknown_group: spec.unknown_group.clone(),
        dns_blocked: match spec.dns.blocked {
            ward_policy::BlockedAnswer::BlockPage => "block-page",
            ward_policy::BlockedAnswer::Nxdomain => "nxdomain",
        }
        .to_owned(),
        groups: settings_lines(&spec),
        can_edit: user.can(Permission::EditFiltering),
        problem,
    };
    Ok((status, axum::response::Html(page.render()?)).into_response())
}

/// `GET /filtering/settings`: each group's safe search, YouTube, addresses and uncategorised
/// sites; the unknown-client group; the DNS filter's answer for blocked names.
pub async fn settings(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    settings_page(&state, &user, StatusCode::OK, String::new()).await
}

/// `POST /filtering/settings`: the settings, with a reason, as a new version.
pub async fn save_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(Permission::EditFiltering)?;
    let version = in_force(&state, &user).await?;
    let spec = parse(&version)?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    };
    let unknown = field("unknown_group");
    if !spec.groups.iter().any(|g| g.id == unknown) {
        return settings_page(
            &state,
            &user,
            StatusCode::BAD_REQUEST,
            format!("The policy has no group {unknown:?}."),
        )
        .await;
    }
    let groups: Vec<GroupSettings> = spec
        .groups
        .iter()
        .map(|g| GroupSettings {
            group: g.id.clone(),
            safe_search: field(&format!("safe_search_{}", g.id)) == "on",
            youtube: field(&format!("youtube_{}", g.id)).to_owned(),
            ip_hosts: field(&format!("ip_hosts_{}", g.id)).to_owned(),
            uncategorised: field(&format!("uncategorised_{}", g.id)).to_owned(),
        })
        .collect();
    let list = |text: &str| -> Vec<String> {
        text.split(',')
            .map(|item| item.trim().to_owned())
            .filter(|item| !item.is_empty())
            .collect()
    };
    let years: Vec<(String, Vec<String>)> = spec
        .groups
        .iter()
        .filter(|g| g.kind == ward_policy::GroupKind::Pupil)
        .map(|g| (g.id.clone(), list(field(&format!("years_{}", g.id)))))
        .collect();
    let not_inspected: Vec<String> = spec
        .groups
        .iter()
        .filter(|g| field(&format!("decrypt_{}", g.id)) != "on")
        .map(|g| g.id.clone())
        .collect();
    let text =
        match set_settings(&version.text, unknown, field("dns_blocked"), &groups).and_then(|text| {
            set_group_details(&text, &years, &not_inspected, &list(field("never_inspect")))
        }) {
            Ok(text) => text,
            Err(problem) => {
                return settings_page(&state, &user, StatusCode::BAD_REQUEST, problem).await;
            }
        };
    if text == version.text {
        return settings_page(
            &state,
            &user,
            StatusCode::BAD_REQUEST,
            "Nothing was changed.".into(),
        )
        .await;
    }
    let before = settings_lines(&spec);
    let after = settings_lines(
        &PolicySpec::from_toml(&text).map_err(|e| AppError::Internal(e.to_string()))?,
    );
    let mut what: Vec<String> = Vec::new();
    if unknown != spec.unknown_group {
        what.push(format!("unknown clients: {unknown}"));
    }
    for (b, a) in before.iter().zip(&after) {
        if b.safe_search != a.safe_search {
            what.push(format!(
                "{} safe search {}",
                a.id,
                if a.safe_search { "on" } else { "off" }
            ));
        }
        if b.youtube != a.youtube {
            what.push(format!("{} YouTube {}", a.id, a.youtube));
        }
        if b.ip_hosts != a.ip_hosts {
            what.push(format!(
                "{} addresses {}",
                a.id,
                if a.ip_hosts.is_empty() {
                    "default"
                } else {
                    &a.ip_hosts
                }
            ));
        }
        if b.uncategorised != a.uncategorised {
            what.push(format!("{} uncategorised {}", a.id, a.uncategorised));
        }
        if b.years != a.years {
            what.push(format!("{} years {}", a.id, a.years));
        }
        if b.decrypted != a.decrypted {
            what.push(format!(
                "{} HTTPS {}",
                a.id,
                if a.decrypted {
                    "inspected"
                } else {
                    "never decrypted"
                }
            ));
        }
    }
    if what.is_empty() {
        what.push(format!(
            "DNS answer {}; categories never decrypted {}",
            field("dns_blocked"),
            field("never_inspect")
        ));
    }
    match save_version(
        &state,
        &user,
        &text,
        PolicySource::Console,
        field("reason"),
        &format!("settings: {}", what.join("; ")),
    )
    .await?
    {
        Ok(number) => Ok(Redirect::to(&format!("/filtering?saved={number}")).into_response()),
        Err(problem) => settings_page(&state, &user, StatusCode::BAD_REQUEST, problem).await,
    }
}

/// A time window as the windows form sends it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct WindowForm {
    /// `add` or `remove`.
    #[serde(default)]
    action: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    title: String,
    /// Days, comma-separated (`mon-fri`, `sat, sun`).
    #[serde(default)]
    days: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
}

/// Adds a time window to the policy's text (or removes one: refused later, when compiled, if
/// a row still uses it).
pub fn set_window(text: &str, form: &WindowForm) -> Result<String, String> {
    let id = form.id.trim();
    let valid_id = !id.is_empty()
        && id.len() <= 40
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid_id {
        return Err(
            "A window's id is short, in small letters, digits and -, like after-school.".into(),
        );
    }
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|error| format!("the policy does not read: {error}"))?;
    if document.get("window").is_none() {
        document.insert(
            "window",
            toml_edit::Item::ArrayOfTables(toml_edit::ArrayOfTables::new()),
        );
    }
    let windows = document
        .get_mut("window")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
        .ok_or("the policy's windows are not a list of tables")?;
    let position = windows
        .iter()
        .position(|w| w.get("id").and_then(toml_edit::Item::as_str) == Some(id));
    if form.action == "remove" {
        let position = position.ok_or_else(|| format!("There is no window {id:?}."))?;
        windows.remove(position);
        return Ok(document.to_string());
    }
    if position.is_some() {
        return Err(format!("There is a window {id:?} already."));
    }
    let title = form.title.trim();
    if title.is_empty() || title.chars().count() > 100 || title.chars().any(char::is_control) {
        return Err("Give the window a name of up to 100 characters.".into());
    }
    let days: Vec<String> = form
        .days
        .split(',')
        .map(|d| d.trim().to_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    if days.is_empty() {
        return Err("Name the days, like mon-fri.".into());
    }
    let mut table = toml_edit::Table::new();
    table["id"] = toml_edit::value(id);
    table["title"] = toml_edit::value(title);
    let mut list = toml_edit::Array::new();
    for day in days {
        list.push(day);
    }
    table["days"] = toml_edit::value(list);
    table["from"] = toml_edit::value(form.from.trim());
    table["to"] = toml_edit::value(form.to.trim());
    windows.push(table);
    Ok(document.to_string())
}

#[derive(Template)]
#[template(path = "filtering_windows.html")]
struct WindowsPage {
    layout: Layout,
    /// (id, title, days, from, to).
    windows: Vec<(String, String, String, String, String)>,
    can_edit: bool,
    problem: String,
    form: WindowForm,
}

async fn windows_page(
    state: &AppState,
    user: &CurrentUser,
    status: StatusCode,
    problem: String,
    form: WindowForm,
) -> Result<Response, AppError> {
    let version = in_force(state, user).await?;
    let spec = parse(&version)?;
    let page = WindowsPage {
        layout: Layout::for_user(state, user, "Time windows").await,
        windows: spec
            .windows
            .iter()
            .map(|w| {
                (
                    w.id.clone(),
                    w.title.clone(),
                    w.days.join(", "),
                    w.from.clone(),
                    w.to.clone(),
                )
            })
            .collect(),
        can_edit: user.can(Permission::EditFiltering),
        problem,
        form,
    };
    Ok((status, axum::response::Html(page.render()?)).into_response())
}

/// `GET /filtering/windows`: the named times "acceptable at certain times" refers to.
pub async fn windows(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    windows_page(
        &state,
        &user,
        StatusCode::OK,
        String::new(),
        WindowForm::default(),
    )
    .await
}

/// `POST /filtering/windows`: a window added or removed, with a reason, as a new version.
pub async fn change_window(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<WindowForm>,
) -> Result<Response, AppError> {
    user.require(Permission::EditFiltering)?;
    let version = in_force(&state, &user).await?;
    let text = match set_window(&version.text, &form) {
        Ok(text) => text,
        Err(problem) => {
            return windows_page(&state, &user, StatusCode::BAD_REQUEST, problem, form).await;
        }
    };
    let what = if form.action == "remove" {
        format!("window {} removed", form.id.trim())
    } else {
        format!(
            "window {} added: {}, {} to {}",
            form.id.trim(),
            form.days.trim(),
            form.from.trim(),
            form.to.trim()
        )
    };
    match save_version(
        &state,
        &user,
        &text,
        PolicySource::Console,
        &form.reason,
        &what,
    )
    .await?
    {
        Ok(number) => Ok(Redirect::to(&format!("/filtering?saved={number}")).into_response()),
        Err(problem) => windows_page(&state, &user, StatusCode::BAD_REQUEST, problem, form).await,
    }
}

/// A self-test run as the page lists it: when, by whom, and its summary and lines.
pub struct SelfTestRun {
    when: String,
    by: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "filtering_self_test.html")]
struct SelfTestPage {
    layout: Layout,
    result: Option<crate::SelfTest>,
    summary: String,
    runs: Vec<SelfTestRun>,
    can_run: bool,
    problem: String,
}

async fn self_test_page(
    state: &AppState,
    user: &CurrentUser,
    result: Option<crate::SelfTest>,
    summary: String,
    problem: String,
) -> Result<Response, AppError> {
    let runs = state
        .store()
        .audit_entries(user.account.school, 20, None, "filtering.self-test")
        .await?
        .into_iter()
        .map(|entry| SelfTestRun {
            when: local_time(state, entry.at),
            by: entry.entry.actor,
            detail: entry.entry.detail,
        })
        .collect();
    let page = SelfTestPage {
        layout: Layout::for_user(state, user, "Filtering self-test").await,
        result,
        summary,
        runs,
        can_run: user.can(Permission::EditFiltering),
        problem,
    };
    render(&page)
}

/// `GET /filtering/self-test`: the self-test's earlier runs (kept in the audit log: evidence
/// for the annual review).
pub async fn self_test(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    self_test_page(&state, &user, None, String::new(), String::new()).await
}

/// `POST /filtering/self-test`: runs it now, and records the result with the date.
pub async fn run_self_test(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::EditFiltering)?;
    let Some(filter) = state.filter().cloned() else {
        return self_test_page(
            &state,
            &user,
            None,
            String::new(),
            "No filter runs with this console, so nothing can be tested here.".into(),
        )
        .await;
    };
    let outcome = tokio::task::spawn_blocking(move || filter.self_test())
        .await
        .map_err(|error| AppError::Internal(format!("self-test: {error}")))?;
    let mut result = match outcome {
        Ok(result) => result,
        Err(crate::Refused(why)) => {
            return self_test_page(&state, &user, None, String::new(), why).await;
        }
    };
    result.version = state
        .store()
        .latest_policy_number(user.account.school)
        .await?;
    let count = |outcome: &str| result.lines.iter().filter(|l| l.outcome == outcome).count();
    let summary = format!(
        "policy version {}: {} passed, {} failed, {} not tested",
        result.version.map_or("?".to_owned(), |n| n.to_string()),
        count("passed"),
        count("failed"),
        count("not tested")
    );
    let mut detail = summary.clone();
    for line in result.lines.iter().filter(|l| l.outcome != "passed") {
        detail.push_str(&format!(
            "\n{}: {} for {}: {}",
            line.outcome, line.check, line.who, line.detail
        ));
    }
    user.record(state.store(), "filtering.self-test", "policy", detail, None)
        .await?;
    self_test_page(&state, &user, Some(result), summary, String::new()).await
}

#[derive(Template)]
#[template(path = "filtering_sources.html")]
struct SourcesPage {
    layout: Layout,
    status: Option<crate::ListsStatus>,
    built: String,
    /// (name, readable name, domains, URL prefixes, expressions, illegal).
    categories: Vec<(String, String, u64, u64, u64, bool)>,
    runs: Vec<SelfTestRun>,
    can_update: bool,
    message: String,
    problem: String,
}

async fn sources_page(
    state: &AppState,
    user: &CurrentUser,
    status_code: StatusCode,
    message: String,
    problem: String,
) -> Result<Response, AppError> {
    let status = state.filter().and_then(|filter| filter.lists_status());
    let runs = state
        .store()
        .audit_entries(user.account.school, 10, None, "filtering.lists-update")
        .await?
        .into_iter()
        .map(|entry| SelfTestRun {
            when: local_time(state, entry.at),
            by: entry.entry.actor,
            detail: entry.entry.detail,
        })
        .collect();
    let page = SourcesPage {
        layout: Layout::for_user(state, user, "Category lists").await,
        built: status
            .as_ref()
            .and_then(|s| s.built)
            .map(|at| local_time(state, at))
            .unwrap_or_default(),
        categories: status
            .as_ref()
            .map(|s| {
                s.categories
                    .iter()
                    .map(|(id, domains, urls, expressions, illegal)| {
                        (
                            id.clone(),
                            ward_policy::readable(id),
                            *domains,
                            *urls,
                            *expressions,
                            *illegal,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        status,
        runs,
        can_update: user.can(Permission::EditFiltering),
        message,
        problem,
    };
    Ok((status_code, axum::response::Html(page.render()?)).into_response())
}

/// `GET /filtering/sources`: the category lists in force, their sizes and when they were built,
/// and the updates.
pub async fn sources(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    sources_page(&state, &user, StatusCode::OK, String::new(), String::new()).await
}

/// `POST /filtering/sources`: rebuilds the lists from their source now (audited).
pub async fn update_sources(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::EditFiltering)?;
    let Some(filter) = state.filter().cloned() else {
        return sources_page(
            &state,
            &user,
            StatusCode::BAD_REQUEST,
            String::new(),
            "No filter runs with this console.".into(),
        )
        .await;
    };
    let outcome = tokio::task::spawn_blocking(move || filter.update_lists())
        .await
        .map_err(|error| AppError::Internal(format!("list update: {error}")))?;
    let (message, problem) = match outcome {
        Ok(message) => (message, String::new()),
        Err(crate::Refused(why)) => (String::new(), why),
    };
    user.record(
        state.store(),
        "filtering.lists-update",
        "lists",
        if problem.is_empty() {
            message.clone()
        } else {
            problem.clone()
        },
        None,
    )
    .await?;
    let code = if problem.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    sources_page(&state, &user, code, message, problem).await
}
