//! People: the list with search, the MIS CSV import (each bad row listed with its line), and
//! one person's page: added by hand, changed, marked as a leaver (or back).

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use ward_store::{NewPerson, Person, PersonId, PersonKind};

use crate::auth::CurrentUser;
use crate::layout::{Layout, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    layout: Layout,
    /// Each person, and when they left as staff read it (empty: still here).
    people: Vec<(Person, String)>,
    kind: String,
    search: String,
    can_import: bool,
    can_chronology: bool,
    can_set_passwords: bool,
    limit: i64,
}

/// Query of the people list.
#[derive(Debug, Deserialize)]
pub struct PeopleQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    q: String,
}

fn parse_kind(text: &str) -> Result<Option<PersonKind>, AppError> {
    match text.trim() {
        "" => Ok(None),
        other => other
            .parse()
            .map(Some)
            .map_err(|error: ward_store::StoreError| AppError::BadRequest(error.to_string())),
    }
}

/// `GET /people`.
pub async fn people(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<PeopleQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ViewPeople)?;
    let limit = 500;
    let kind = parse_kind(&query.kind)?;
    let people = state
        .store()
        .people(user.account.school, kind, &query.q, limit)
        .await?;
    let people = people
        .into_iter()
        .map(|person| {
            let left = person
                .left_at
                .map(|at| crate::layout::local_time(&state, at))
                .unwrap_or_default();
            (person, left)
        })
        .collect();
    let page = PeoplePage {
        layout: Layout::for_user(&state, &user, "People").await,
        people,
        kind: query.kind,
        search: query.q,
        can_import: user.can(Permission::ImportPeople),
        can_chronology: user.can(Permission::ManageIncidents),
        can_set_passwords: user.can(Permission::SetPasswords),
        limit,
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    layout: Layout,
    report: Option<ImportSummary>,
}

/// An import's outcome, for the page.
pub struct ImportSummary {
    file: String,
    rows: usize,
    created: usize,
    updated: usize,
    problems: Vec<(u64, String)>,
    /// The file's columns Ward did not use, comma-separated (empty: none).
    unused_columns: String,
}

/// `GET /people/import`.
pub async fn import_page(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ImportPeople)?;
    let page = ImportPage {
        layout: Layout::for_user(&state, &user, "Import people").await,
        report: None,
    };
    render(&page)
}

/// `POST /people/import` (multipart: `kind`, `file`).
pub async fn import(
    State(state): State<AppState>,
    user: CurrentUser,
    mut multipart: Multipart,
) -> Result<Response, AppError> {
    user.require(Permission::ImportPeople)?;
    let unreadable = |error: axum::extract::multipart::MultipartError| {
        // axum reports the body limit as 413, or (when the limit trips inside a field) only in
        // the error's text.
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE
            || error.body_text().contains("too large")
        {
            AppError::TooLarge
        } else {
            AppError::BadRequest(format!(
                "The upload could not be read: {}",
                error.body_text()
            ))
        }
    };
    let mut kind = PersonKind::Pupil;
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some("kind") => {
                let text = field.text().await.map_err(unreadable)?;
                kind = parse_kind(&text)?.unwrap_or(PersonKind::Pupil);
            }
            Some("file") => {
                let name = field.file_name().unwrap_or("upload.csv").to_owned();
                let bytes = field.bytes().await.map_err(unreadable)?;
                file = Some((name, bytes.to_vec()));
            }
            _ => {}
        }
    }
    let Some((name, bytes)) = file.filter(|(_, bytes)| !bytes.is_empty()) else {
        return Err(AppError::BadRequest("Choose a CSV file to import.".into()));
    };
    let store = state.store();
    let report = store
        .import_people(user.account.school, &bytes, kind)
        .await?;
    let name: String = name.chars().filter(|c| !c.is_control()).take(100).collect();
    user.record(
        store,
        "people.import",
        &format!("file:{name}"),
        format!(
            "{kind}s: {} rows, {} created, {} updated, {} not imported",
            report.rows,
            report.created,
            report.updated,
            report.problems.len()
        ),
        None,
    )
    .await?;
    let page = ImportPage {
        layout: Layout::for_user(&state, &user, "Import people").await,
        report: Some(ImportSummary {
            file: name,
            rows: report.rows,
            created: report.created,
            updated: report.updated,
            problems: report
                .problems
                .into_iter()
                .map(|problem| (problem.line, problem.message))
                .collect(),
            unused_columns: report.unused_columns.join(", "),
        }),
    };
    render(&page)
}

// ---------------------------------------------------------------------------------------------
// Devices

#[derive(Template)]
#[template(path = "person_password.html")]
struct PersonPasswordPage {
    layout: Layout,
    person: Person,
    /// The rules for their group, in the words the portal shows them.
    rules: Vec<String>,
    /// When their Ward password was set, as staff read it (empty: never).
    set_at: String,
    /// A starting password just given, shown this once.
    starting: Option<String>,
    /// What was done, or why not.
    message: String,
}

async fn person_password_page(
    state: &AppState,
    user: &CurrentUser,
    person: Person,
    starting: Option<String>,
    message: String,
) -> Result<Response, AppError> {
    let rules = state
        .config()
        .passwords
        .for_group(person.group.as_deref())
        .described();
    let set_at = person
        .password_changed_at
        .map(|at| crate::layout::local_time(state, at))
        .unwrap_or_default();
    let page = PersonPasswordPage {
        layout: Layout::for_user(state, user, "Ward password").await,
        rules,
        set_at,
        starting,
        message,
        person,
    };
    render(&page)
}

/// `GET /people/{id}/password`: a person's Ward password (for pupils without a directory
/// account): whether they have one, and the rules for their group.
pub async fn person_password(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Response, AppError> {
    user.require(Permission::SetPasswords)?;
    let person = state
        .store()
        .person(user.account.school, ward_store::PersonId(id))
        .await?;
    person_password_page(&state, &user, person, None, String::new()).await
}

/// The Ward password form.
#[derive(Debug, Deserialize)]
pub struct PersonPasswordForm {
    #[serde(default)]
    action: String,
}

/// `POST /people/{id}/password`: a new starting password (shown once; they choose their own
/// at their first log-in at the portal), or the Ward password removed. Audited, never with
/// the password.
pub async fn set_person_password(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::extract::Path(id): axum::extract::Path<i64>,
    axum::Form(form): axum::Form<PersonPasswordForm>,
) -> Result<Response, AppError> {
    user.require(Permission::SetPasswords)?;
    let store = state.store();
    let school = user.account.school;
    let person = store.person(school, ward_store::PersonId(id)).await?;
    if person.left_at.is_some() {
        return person_password_page(
            &state,
            &user,
            person,
            None,
            "They have left the school: nothing was changed.".into(),
        )
        .await;
    }
    let subject = format!("person:{}", person.id);
    match form.action.as_str() {
        "start" => {
            let rules = state
                .config()
                .passwords
                .for_group(person.group.as_deref())
                .clone();
            let names = [person.given_name.as_str(), person.family_name.as_str()];
            let mut password = String::new();
            for _ in 0..20 {
                let mut random = [0u8; 32];
                getrandom::fill(&mut random)
                    .map_err(|error| AppError::Internal(format!("randomness: {error}")))?;
                password = crate::passwords::starting_password(&rules, &random);
                if rules.problem(&password, &person.username, &names).is_none() {
                    break;
                }
            }
            let hash = crate::auth::hash_blocking(password.clone()).await?;
            store
                .set_person_password(school, person.id, Some(&hash), true, jiff::Timestamp::now())
                .await?;
            user.record(
                store,
                "person.password",
                &subject,
                format!(
                    "starting password given to {}; they choose their own at their next log-in",
                    person.username
                ),
                None,
            )
            .await?;
            let person = store.person(school, person.id).await?;
            person_password_page(&state, &user, person, Some(password), String::new()).await
        }
        "remove" => {
            store
                .set_person_password(school, person.id, None, false, jiff::Timestamp::now())
                .await?;
            user.record(
                store,
                "person.password",
                &subject,
                format!("Ward password of {} removed", person.username),
                None,
            )
            .await?;
            let person = store.person(school, person.id).await?;
            person_password_page(
                &state,
                &user,
                person,
                None,
                "Their Ward password is removed.".into(),
            )
            .await
        }
        _ => Err(AppError::BadRequest("choose what to do".into())),
    }
}

/// The one person `text` names (a username, email, UPN or admission number, or a name), or why
/// not: nobody matches, or several do (named, so that the right username can be typed).
pub(crate) async fn one_person(
    state: &AppState,
    school: ward_store::SchoolId,
    text: &str,
) -> Result<Result<Person, String>, AppError> {
    let mut found = state.store().people_matching(school, text, 10).await?;
    let text = text.trim();
    Ok(match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!(
            "Nobody in the school's records matches \"{text}\"."
        )),
        _ => Err(format!(
            "Several people match \"{text}\": type the username of the one you mean ({}).",
            found
                .iter()
                .map(|p| format!("{} {} ({})", p.given_name, p.family_name, p.username))
                .collect::<Vec<_>>()
                .join("; ")
        )),
    })
}

// ---------------------------------------------------------------------------------------------
// One person: add, change, mark as a leaver

/// The person form's fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PersonForm {
    kind: String,
    username: String,
    given_name: String,
    family_name: String,
    external_id: String,
    year_group: String,
    class_name: String,
    job_role: String,
}

impl PersonForm {
    fn from_person(person: &Person) -> PersonForm {
        PersonForm {
            kind: person.kind.as_str().to_owned(),
            username: person.username.clone(),
            given_name: person.given_name.clone(),
            family_name: person.family_name.clone(),
            external_id: person.external_id.clone().unwrap_or_default(),
            year_group: person.year_group.clone().unwrap_or_default(),
            class_name: person.class_name.clone().unwrap_or_default(),
            job_role: person.job_role.clone().unwrap_or_default(),
        }
    }

    /// The person as the store takes them, placed in their group; or what is wrong.
    async fn person(&self, state: &AppState, user: &CurrentUser) -> Result<NewPerson, String> {
        let kind = match self.kind.trim() {
            "" => return Err("Say whether they are a pupil, staff or a guest.".into()),
            text => text
                .parse::<PersonKind>()
                .map_err(|error| error.to_string())?,
        };
        let given = |text: &str| Some(text.trim().to_owned()).filter(|text| !text.is_empty());
        let mut person = NewPerson {
            kind,
            username: self.username.trim().to_lowercase(),
            given_name: self.given_name.trim().to_owned(),
            family_name: self.family_name.trim().to_owned(),
            external_id: given(&self.external_id),
            year_group: None,
            key_stage: None,
            class_name: None,
            job_role: None,
            group: None,
        };
        if person.given_name.is_empty() || person.family_name.is_empty() {
            return Err("Give their first and last names.".into());
        }
        if kind == PersonKind::Pupil {
            let written = self.year_group.trim();
            person.year_group = Some(ward_store::year_group(written).ok_or_else(|| {
                format!("A pupil needs a year group: N, R or 1 to 13 (not {written:?}).")
            })?);
            person.class_name = given(&self.class_name);
        } else {
            person.job_role = given(&self.job_role);
        }
        let groups = state
            .store()
            .groups(user.account.school)
            .await
            .map_err(|error| error.to_string())?;
        ward_store::place_in_group(&mut person, &groups)?;
        Ok(person)
    }
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    layout: Layout,
    /// `None`: a new person.
    person: Option<Person>,
    form: PersonForm,
    message: String,
    can_edit: bool,
    can_chronology: bool,
    can_set_passwords: bool,
    left: String,
}

impl PersonPage {
    async fn new(
        state: &AppState,
        user: &CurrentUser,
        person: Option<Person>,
        form: PersonForm,
        message: String,
    ) -> PersonPage {
        let title = match &person {
            Some(person) => format!("{} {}", person.given_name, person.family_name),
            None => "Add a person".to_owned(),
        };
        PersonPage {
            layout: Layout::for_user(state, user, &title).await,
            left: person
                .as_ref()
                .and_then(|person| person.left_at)
                .map(|at| crate::layout::local_time(state, at))
                .unwrap_or_default(),
            can_edit: user.can(Permission::ImportPeople)
                && person.as_ref().is_none_or(|person| !person.from_directory),
            can_chronology: user.can(Permission::ManageIncidents),
            can_set_passwords: user.can(Permission::SetPasswords),
            person,
            form,
            message,
        }
    }
}

fn refused(page: PersonPage) -> Result<Response, AppError> {
    Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response())
}

/// `GET /people/new`.
pub async fn new_person(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ImportPeople)?;
    let form = PersonForm {
        kind: "pupil".into(),
        ..PersonForm::default()
    };
    render(&PersonPage::new(&state, &user, None, form, String::new()).await)
}

/// `POST /people`: adds a person by hand (a new pupil mid-term, a supply teacher, a guest).
pub async fn add_person(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<PersonForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ImportPeople)?;
    let new = match form.person(&state, &user).await {
        Ok(new) => new,
        Err(message) => {
            return refused(PersonPage::new(&state, &user, None, form, message).await);
        }
    };
    let store = state.store();
    let id = match store.add_person(user.account.school, &new).await {
        Ok(id) => id,
        Err(
            ward_store::StoreError::Invalid(message) | ward_store::StoreError::Conflict(message),
        ) => {
            let message = format!("Not added: {message}.");
            return refused(PersonPage::new(&state, &user, None, form, message).await);
        }
        Err(other) => return Err(other.into()),
    };
    user.record(
        store,
        "person.add",
        &format!("person:{id}"),
        format!(
            "{} {} ({}), {}",
            new.given_name, new.family_name, new.username, new.kind
        ),
        None,
    )
    .await?;
    Ok(Redirect::to(&format!("/people/{id}")).into_response())
}

/// `GET /people/{id}`.
pub async fn person(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Permission::ViewPeople)?;
    let person = state
        .store()
        .person(user.account.school, PersonId(id))
        .await?;
    let form = PersonForm::from_person(&person);
    render(&PersonPage::new(&state, &user, Some(person), form, String::new()).await)
}

/// `POST /people/{id}`: changes their details (not their username).
pub async fn update_person(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<PersonForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ImportPeople)?;
    let store = state.store();
    let school = user.account.school;
    let current = store.person(school, PersonId(id)).await?;
    let mut form = form;
    form.username.clone_from(&current.username);
    let changed = match form.person(&state, &user).await {
        Ok(changed) => changed,
        Err(message) => {
            return refused(PersonPage::new(&state, &user, Some(current), form, message).await);
        }
    };
    match store.update_person(school, current.id, &changed).await {
        Ok(()) => {}
        Err(
            ward_store::StoreError::Invalid(message) | ward_store::StoreError::Conflict(message),
        ) => {
            let message = format!("Not saved: {message}.");
            return refused(PersonPage::new(&state, &user, Some(current), form, message).await);
        }
        Err(other) => return Err(other.into()),
    }
    user.record(
        store,
        "person.update",
        &format!("person:{id}"),
        format!("{} {}", changed.given_name, changed.family_name),
        None,
    )
    .await?;
    Ok(Redirect::to(&format!("/people/{id}")).into_response())
}

/// What to do about leaving.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LeaverForm {
    /// `left` or `returned`.
    action: String,
}

/// `POST /people/{id}/leaver`: marks them as a leaver now (access ends; records are kept for
/// the retention period), or as back at the school.
pub async fn leaver(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<LeaverForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ImportPeople)?;
    let store = state.store();
    let school = user.account.school;
    let person = store.person(school, PersonId(id)).await?;
    if person.from_directory {
        return Err(AppError::BadRequest(
            "They come from the school's directory: when they leave, the directory says so.".into(),
        ));
    }
    let (at, action) = match form.action.as_str() {
        "left" => (Some(jiff::Timestamp::now()), "person.leaver"),
        "returned" => (None, "person.returned"),
        _ => return Err(AppError::BadRequest("Choose left or returned.".into())),
    };
    store.set_person_left(school, person.id, at).await?;
    user.record(
        store,
        action,
        &format!("person:{id}"),
        person.username.clone(),
        None,
    )
    .await?;
    Ok(Redirect::to(&format!("/people/{id}")).into_response())
}
