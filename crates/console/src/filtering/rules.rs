//! The User Actions table and a row's verdicts changed.

use super::*;

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
    let groups = group_titles(&spec);
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
    let mut document = editable(text)?;
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
    // `[rule.groups]` or `groups = { … }`: edited as the school wrote it.
    match row
        .get_mut("groups")
        .map(toml_edit::Item::as_table_like_mut)
    {
        Some(Some(groups)) => {
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
                    groups.insert(group, toml_edit::value(verdict.clone()));
                }
            }
            if groups.is_empty() {
                row.remove("groups");
            }
        }
        Some(None) => return Err(format!("row {id:?}: its groups are not a table")),
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
