//! Local allow and block lists.

use super::*;

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
    let mut document = editable(text)?;
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
