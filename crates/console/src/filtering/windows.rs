//! Time windows.

use super::*;

/// A time window as the windows form sends it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct WindowForm {
    /// `add` or `remove`.
    #[serde(default)]
    pub(super) action: String,
    #[serde(default)]
    pub(super) id: String,
    #[serde(default)]
    pub(super) title: String,
    /// Days, comma-separated (`mon-fri`, `sat, sun`).
    #[serde(default)]
    pub(super) days: String,
    #[serde(default)]
    pub(super) from: String,
    #[serde(default)]
    pub(super) to: String,
    #[serde(default)]
    pub(super) reason: String,
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
    let mut document = editable(text)?;
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
