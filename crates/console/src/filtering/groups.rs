//! Groups: made (optionally starting as a copy of another's rules and settings) and removed
//! (their people and devices moved to another group first), each as a new version.

use super::*;

/// A new group as the form sends it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct GroupForm {
    #[serde(default)]
    pub(super) id: String,
    #[serde(default)]
    pub(super) title: String,
    /// `pupil`, `staff` or `guest`.
    #[serde(default)]
    pub(super) kind: String,
    /// Year groups, comma-separated (pupil groups only).
    #[serde(default)]
    pub(super) years: String,
    /// A group whose rows, settings and local lists the new group starts with (empty: the
    /// rows' usual verdicts and the built-in settings).
    #[serde(default)]
    pub(super) like: String,
    #[serde(default)]
    pub(super) reason: String,
}

/// The settings a group copied from another starts with.
const COPIED_SETTINGS: &[&str] = &[
    "uncategorised",
    "safe_search",
    "youtube",
    "ip_hosts",
    "private_networks",
];

/// Whether `id` may name a group: short, small letters, digits and `-`, and not `all` (which
/// the local lists use for everyone).
fn valid_group_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id != "all"
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The group ids a verdict written as text nominates, if it is "acceptable for nominated
/// users".
fn nominated(verdict: &toml_edit::Item) -> Option<(Vec<String>, Vec<String>)> {
    match verdict.as_str()?.parse::<VerdictSpec>().ok()? {
        VerdictSpec::ForNominatedUsers { groups, users } => Some((groups, users)),
        _ => None,
    }
}

/// Each row's verdict items (`verdict` and every `[rule.groups]` entry), mutably, with the
/// row's id.
fn each_verdict(
    document: &mut toml_edit::DocumentMut,
    mut visit: impl FnMut(&str, &mut toml_edit::Item) -> Result<(), String>,
) -> Result<(), String> {
    let Some(rules) = document
        .get_mut("rule")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
    else {
        return Ok(());
    };
    for row in rules.iter_mut() {
        let id = row
            .get("id")
            .and_then(toml_edit::Item::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(verdict) = row.get_mut("verdict") {
            visit(&id, verdict)?;
        }
        if let Some(groups) = row
            .get_mut("groups")
            .and_then(toml_edit::Item::as_table_like_mut)
        {
            for (_, verdict) in groups.iter_mut() {
                visit(&id, verdict)?;
            }
        }
    }
    Ok(())
}

/// Adds a group to the policy's text, after the last group. With `like`, it starts with that
/// group's settings, its verdict wherever a row gives that group its own, its nominations, its
/// local lists and whether its HTTPS is inspected; otherwise with the rows' usual verdicts.
pub fn add_group(text: &str, form: &GroupForm) -> Result<String, String> {
    let id = form.id.trim();
    if !valid_group_id(id) {
        return Err(
            "A group's id is short (up to 32), starts with a small letter, and has only small letters, digits and -, like year7. It cannot be all.".into(),
        );
    }
    let title = form.title.trim();
    if title.is_empty() || title.chars().count() > 100 || title.chars().any(char::is_control) {
        return Err("Give the group a name of up to 100 characters.".into());
    }
    let kind = form.kind.trim();
    if !["pupil", "staff", "guest"].contains(&kind) {
        return Err("Choose who is in the group: pupils, staff or guests.".into());
    }
    let years: Vec<String> = form
        .years
        .split(',')
        .map(|y| y.trim().to_uppercase())
        .filter(|y| !y.is_empty())
        .collect();
    if !years.is_empty() && kind != "pupil" {
        return Err("Only pupil groups have year groups.".into());
    }
    if let Some(bad) = years
        .iter()
        .find(|y| !(*y == "N" || *y == "R" || y.parse::<u8>().is_ok_and(|n| (1..=13).contains(&n))))
    {
        return Err(format!("{bad:?} is not a year group (N, R, 1 to 13)."));
    }
    let like = form.like.trim();
    let mut document = editable(text)?;
    let groups = document
        .get_mut("group")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
        .ok_or("the policy has no groups")?;
    let id_of = |table: &toml_edit::Table| {
        table
            .get("id")
            .and_then(toml_edit::Item::as_str)
            .map(str::to_owned)
    };
    if groups.iter().any(|g| id_of(g).as_deref() == Some(id)) {
        return Err(format!("There is a group {id:?} already."));
    }
    let model = if like.is_empty() {
        None
    } else {
        Some(
            groups
                .iter()
                .find(|g| id_of(g).as_deref() == Some(like))
                .cloned()
                .ok_or_else(|| format!("There is no group {like:?} to start from."))?,
        )
    };
    let mut table = toml_edit::Table::new();
    table["id"] = toml_edit::value(id);
    table["title"] = toml_edit::value(title);
    table["kind"] = toml_edit::value(kind);
    if !years.is_empty() {
        let mut list = toml_edit::Array::new();
        for year in &years {
            list.push(year.as_str());
        }
        table["years"] = toml_edit::value(list);
    }
    if let Some(model) = &model {
        for key in COPIED_SETTINGS {
            if let Some(value) = model.get(key) {
                table[*key] = value.clone();
            }
        }
    }
    // Written after the last group, not at the end of the file: a table the document has no
    // place for is written last, and tables with the same place keep their order.
    if let Some(position) = groups.iter().filter_map(toml_edit::Table::position).max() {
        table.set_position(Some(position));
    }
    groups.push(table);
    if model.is_none() {
        return Ok(document.to_string());
    }
    // The model's own verdicts, and its nominations.
    each_verdict(&mut document, |_, verdict| {
        if let Some((mut groups, users)) = nominated(verdict)
            && groups.iter().any(|g| g == like)
            && !groups.iter().any(|g| g == id)
        {
            groups.push(id.to_owned());
            *verdict =
                toml_edit::value(VerdictSpec::ForNominatedUsers { groups, users }.to_string());
        }
        Ok(())
    })?;
    if let Some(rules) = document
        .get_mut("rule")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
    {
        for row in rules.iter_mut() {
            if let Some(groups) = row
                .get_mut("groups")
                .and_then(toml_edit::Item::as_table_like_mut)
                && let Some(verdict) = groups.get(like).cloned()
            {
                groups.insert(id, verdict);
            }
        }
    }
    if let Some(lists) = document
        .get_mut("list")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
    {
        let copies: Vec<toml_edit::Table> = lists
            .iter()
            .filter(|l| l.get("group").and_then(toml_edit::Item::as_str) == Some(like))
            .map(|l| {
                let mut copy = l.clone();
                copy["group"] = toml_edit::value(id);
                copy
            })
            .collect();
        for copy in copies {
            lists.push(copy);
        }
    }
    if let Some(not_inspected) = document
        .get_mut("proxy")
        .and_then(|p| p.get_mut("groups_not_inspected"))
        .and_then(toml_edit::Item::as_array_mut)
        && not_inspected.iter().any(|g| g.as_str() == Some(like))
    {
        not_inspected.push(id);
    }
    Ok(document.to_string())
}

/// What removing a group takes with it, for the confirmation page and the change log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GroupRemoval {
    /// Rows that gave the group its own verdict.
    pub rows: Vec<String>,
    /// Rows whose nominations named it.
    pub nominations: Vec<String>,
    /// Its local allow and block entries.
    pub list_entries: usize,
}

/// Removes a group from the policy's text, with its own verdicts, its nominations, its local
/// lists and its HTTPS setting. Refused for the unknown-client group, the last group, a group
/// a temporary grant is for, and a group that is a row's only nomination (that row is changed
/// first).
pub fn remove_group(text: &str, id: &str) -> Result<(String, GroupRemoval), String> {
    let mut document = editable(text)?;
    if document
        .get("unknown_group")
        .and_then(toml_edit::Item::as_str)
        == Some(id)
    {
        return Err(format!(
            "{id} is the group for devices and people Ward cannot identify: choose another in the settings first."
        ));
    }
    let groups = document
        .get_mut("group")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
        .ok_or("the policy has no groups")?;
    let position = groups
        .iter()
        .position(|g| g.get("id").and_then(toml_edit::Item::as_str) == Some(id))
        .ok_or_else(|| format!("There is no group {id:?}."))?;
    if groups.len() == 1 {
        return Err("The policy needs at least one group.".into());
    }
    groups.remove(position);
    if let Some(grant) = document
        .get("grant")
        .and_then(toml_edit::Item::as_array_of_tables)
        .and_then(|grants| {
            grants
                .iter()
                .find(|g| g.get("group").and_then(toml_edit::Item::as_str) == Some(id))
        })
    {
        return Err(format!(
            "The policy's grant {} is for {id}: remove it first.",
            grant
                .get("id")
                .and_then(toml_edit::Item::as_str)
                .unwrap_or("?")
        ));
    }
    let mut removal = GroupRemoval::default();
    each_verdict(&mut document, |row, verdict| {
        if let Some((mut groups, users)) = nominated(verdict)
            && groups.iter().any(|g| g == id)
        {
            groups.retain(|g| g != id);
            if groups.is_empty() && users.is_empty() {
                return Err(format!(
                    "Row {row} nominates only {id}: change that row first."
                ));
            }
            *verdict =
                toml_edit::value(VerdictSpec::ForNominatedUsers { groups, users }.to_string());
            removal.nominations.push(row.to_owned());
        }
        Ok(())
    })?;
    if let Some(rules) = document
        .get_mut("rule")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
    {
        for row in rules.iter_mut() {
            let name = row
                .get("id")
                .and_then(toml_edit::Item::as_str)
                .unwrap_or_default()
                .to_owned();
            let Some(groups) = row
                .get_mut("groups")
                .and_then(toml_edit::Item::as_table_like_mut)
            else {
                continue;
            };
            if groups.remove(id).is_some() {
                removal.rows.push(name);
            }
            if groups.is_empty() {
                row.remove("groups");
            }
        }
    }
    if let Some(lists) = document
        .get_mut("list")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
    {
        let count = |l: &toml_edit::Table, key: &str| {
            l.get(key)
                .and_then(toml_edit::Item::as_array)
                .map_or(0, toml_edit::Array::len)
        };
        loop {
            let found = lists
                .iter()
                .enumerate()
                .find(|(_, l)| l.get("group").and_then(toml_edit::Item::as_str) == Some(id))
                .map(|(at, l)| (at, count(l, "allow") + count(l, "block")));
            let Some((at, entries)) = found else { break };
            removal.list_entries += entries;
            lists.remove(at);
        }
    }
    if let Some(not_inspected) = document
        .get_mut("proxy")
        .and_then(|p| p.get_mut("groups_not_inspected"))
        .and_then(toml_edit::Item::as_array_mut)
    {
        not_inspected.retain(|g| g.as_str() != Some(id));
    }
    Ok((document.to_string(), removal))
}

/// A group as the groups page shows it.
pub struct GroupLine {
    id: String,
    title: String,
    kind: &'static str,
    years: String,
    people: i64,
    devices: i64,
    unknown: bool,
}

#[derive(Template)]
#[template(path = "filtering_groups.html")]
struct GroupsPage {
    layout: Layout,
    groups: Vec<GroupLine>,
    can_edit: bool,
    problem: String,
    form: GroupForm,
}

async fn group_lines(
    state: &AppState,
    user: &CurrentUser,
    spec: &PolicySpec,
) -> Result<Vec<GroupLine>, AppError> {
    let members = state.store().group_members(user.account.school).await?;
    Ok(spec
        .groups
        .iter()
        .map(|g| {
            let (people, devices) = members
                .iter()
                .find(|(name, _, _)| *name == g.id)
                .map_or((0, 0), |(_, p, d)| (*p, *d));
            GroupLine {
                id: g.id.clone(),
                title: g.title.clone(),
                kind: match g.kind {
                    ward_policy::GroupKind::Pupil => "Pupils",
                    ward_policy::GroupKind::Staff => "Staff",
                    ward_policy::GroupKind::Guest => "Guests",
                },
                years: g.years.join(", "),
                people,
                devices,
                unknown: g.id == spec.unknown_group,
            }
        })
        .collect())
}

async fn groups_page(
    state: &AppState,
    user: &CurrentUser,
    status: StatusCode,
    problem: String,
    form: GroupForm,
) -> Result<Response, AppError> {
    let version = in_force(state, user).await?;
    let spec = parse(&version)?;
    let page = GroupsPage {
        layout: Layout::for_user(state, user, "Groups").await,
        groups: group_lines(state, user, &spec).await?,
        can_edit: user.can(Permission::EditFiltering),
        problem,
        form,
    };
    Ok((status, axum::response::Html(page.render()?)).into_response())
}

/// `GET /filtering/groups`: the groups the policy decides for, with how many people and
/// devices each has.
pub async fn groups(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewFiltering)?;
    groups_page(
        &state,
        &user,
        StatusCode::OK,
        String::new(),
        GroupForm::default(),
    )
    .await
}

/// `POST /filtering/groups`: a group added, with a reason, as a new version.
pub async fn add_group_now(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<GroupForm>,
) -> Result<Response, AppError> {
    user.require(Permission::EditFiltering)?;
    let version = in_force(&state, &user).await?;
    let text = match add_group(&version.text, &form) {
        Ok(text) => text,
        Err(problem) => {
            return groups_page(&state, &user, StatusCode::BAD_REQUEST, problem, form).await;
        }
    };
    let like = form.like.trim();
    let what = format!(
        "group {} ({}) added{}",
        form.id.trim(),
        form.title.trim(),
        if like.is_empty() {
            String::new()
        } else {
            format!(", starting as {like}")
        }
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
        Err(problem) => groups_page(&state, &user, StatusCode::BAD_REQUEST, problem, form).await,
    }
}

#[derive(Template)]
#[template(path = "filtering_group_remove.html")]
struct RemovePage {
    layout: Layout,
    group: GroupLine,
    /// The rows that gave it its own verdict, and the rows that nominated it, by their words.
    rows: Vec<String>,
    nominations: Vec<String>,
    list_entries: usize,
    /// Where its people and devices can go: (id, title).
    others: Vec<(String, String)>,
    /// The removal is refused (`problem` says why): nothing to confirm.
    refused: bool,
    can_edit: bool,
    problem: String,
}

/// The form that removes a group.
#[derive(Debug, Default, Deserialize)]
pub struct RemoveGroupForm {
    /// The group its people and devices move to.
    #[serde(default)]
    move_to: String,
    #[serde(default)]
    reason: String,
}

async fn remove_page(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    status: StatusCode,
    problem: String,
) -> Result<Response, AppError> {
    let version = in_force(state, user).await?;
    let spec = parse(&version)?;
    let group = group_lines(state, user, &spec)
        .await?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or(AppError::NotFound)?;
    // What would go; a removal that is refused says why at once.
    let (removal, refused) = match remove_group(&version.text, id) {
        Ok((_, removal)) => (removal, String::new()),
        Err(why) => (GroupRemoval::default(), why),
    };
    let words = |rows: &[String]| -> Vec<String> {
        rows.iter()
            .map(|row| {
                spec.rules
                    .iter()
                    .find(|rule| rule.id == *row)
                    .map_or_else(|| row.clone(), |rule| rule.action.clone())
            })
            .collect()
    };
    let page = RemovePage {
        layout: Layout::for_user(state, user, "Remove a group").await,
        others: group_titles(&spec)
            .into_iter()
            .filter(|(other, _)| other != id)
            .collect(),
        group,
        rows: words(&removal.rows),
        nominations: words(&removal.nominations),
        list_entries: removal.list_entries,
        refused: !refused.is_empty(),
        can_edit: refused.is_empty(),
        problem: if problem.is_empty() { refused } else { problem },
    };
    Ok((status, axum::response::Html(page.render()?)).into_response())
}

/// `GET /filtering/groups/{id}/remove`: what removing the group would take with it.
pub async fn group_removal(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    user.require(Permission::EditFiltering)?;
    remove_page(&state, &user, &id, StatusCode::OK, String::new()).await
}

/// `POST /filtering/groups/{id}/remove`: the group removed, with a reason, as a new version;
/// then its people and devices moved to the group chosen.
pub async fn remove_group_now(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<RemoveGroupForm>,
) -> Result<Response, AppError> {
    user.require(Permission::EditFiltering)?;
    let version = in_force(&state, &user).await?;
    let spec = parse(&version)?;
    let (text, removal) = match remove_group(&version.text, &id) {
        Ok(done) => done,
        Err(problem) => {
            return remove_page(&state, &user, &id, StatusCode::BAD_REQUEST, problem).await;
        }
    };
    let school = user.account.school;
    let members = state.store().group_members(school).await?;
    let (people, devices) = members
        .iter()
        .find(|(name, _, _)| *name == id)
        .map_or((0, 0), |(_, p, d)| (*p, *d));
    let move_to = form.move_to.trim();
    let has_members = people + devices > 0;
    if has_members && !spec.groups.iter().any(|g| g.id == move_to && g.id != id) {
        return remove_page(
            &state,
            &user,
            &id,
            StatusCode::BAD_REQUEST,
            format!(
                "{people} people and {devices} devices are in {id}: choose the group they move to."
            ),
        )
        .await;
    }
    let mut what = format!("group {id} removed");
    if !removal.rows.is_empty() {
        what.push_str(&format!(
            "; its own verdicts on {}",
            removal.rows.join(", ")
        ));
    }
    if !removal.nominations.is_empty() {
        what.push_str(&format!(
            "; no longer nominated on {}",
            removal.nominations.join(", ")
        ));
    }
    if removal.list_entries > 0 {
        what.push_str(&format!("; {} local list entries", removal.list_entries));
    }
    if has_members {
        what.push_str(&format!(
            "; {people} people and {devices} devices moved to {move_to}"
        ));
    }
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
        Ok(number) => {
            if has_members {
                state
                    .store()
                    .move_group_members(school, &id, move_to)
                    .await?;
                // The gateways read the device register again.
                state.filter_changed(school).await;
            }
            Ok(Redirect::to(&format!("/filtering?saved={number}")).into_response())
        }
        Err(problem) => remove_page(&state, &user, &id, StatusCode::BAD_REQUEST, problem).await,
    }
}
