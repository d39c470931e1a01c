//! The policy document (G4).

use super::*;

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
