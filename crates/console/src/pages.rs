//! The console's pages: dashboard, people and import, devices, activity search, audit log,
//! accounts. Each handler checks the account's permission first, asks the store, writes an audit
//! entry for anything privileged, and renders a template.

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;
use ward_store::{
    AccountId, ActivityQuery, BrowsingRow, DeviceId, EventRow, NewAccount, NewDevice, Person,
    PersonKind, Role, Roles, Store,
};

use crate::auth::{CurrentUser, hash_blocking, one_time_password};
use crate::roles::{Permission, may_grant};
use crate::{AppError, AppState};

/// What every page's frame needs: title, school, the menu the account may use, and the CSRF
/// token for its forms.
pub struct Layout {
    /// The page's title.
    pub title: String,
    /// The school's name.
    pub school: String,
    /// The logged-in account, if any.
    pub user: Option<NavUser>,
    /// The token forms on this page carry.
    pub csrf: String,
}

/// The logged-in account as the menu shows it.
pub struct NavUser {
    /// Display name.
    pub name: String,
    /// Roles, as words.
    pub roles: String,
    /// Whether to show each menu entry.
    pub people: bool,
    /// Devices.
    pub devices: bool,
    /// Activity search.
    pub activity: bool,
    /// Audit log.
    pub audit: bool,
    /// Accounts.
    pub accounts: bool,
    /// Unblock requests.
    pub unblock: bool,
    /// The alert queue.
    pub alerts: bool,
    /// Asking for a site to be unblocked.
    pub ask_unblock: bool,
    /// Incidents.
    pub incidents: bool,
}

impl Layout {
    /// A frame without menu (log-in and error pages).
    pub fn bare(title: &str) -> Layout {
        Layout {
            title: title.to_owned(),
            school: String::new(),
            user: None,
            csrf: String::new(),
        }
    }

    /// A frame for a logged-in account.
    pub async fn for_user(state: &AppState, user: &CurrentUser, title: &str) -> Layout {
        let school = state
            .store()
            .school(user.account.school)
            .await
            .map(|school| school.name)
            .unwrap_or_default();
        Layout {
            title: title.to_owned(),
            school,
            user: Some(NavUser {
                name: user.account.display_name.clone(),
                roles: user
                    .account
                    .roles
                    .iter()
                    .map(Role::label)
                    .collect::<Vec<_>>()
                    .join(", "),
                people: user.can(Permission::ViewPeople),
                devices: user.can(Permission::ManageDevices),
                activity: user.can(Permission::SearchActivity),
                audit: user.can(Permission::ViewAudit),
                accounts: user.can(Permission::ManageAccounts),
                unblock: user.can(Permission::DecideUnblocks),
                alerts: user.can(Permission::TriageAlerts),
                ask_unblock: user.can(Permission::RequestUnblock),
                incidents: user.can(Permission::RecordIncident),
            }),
            csrf: user.session.csrf_token.clone(),
        }
    }
}

pub(crate) fn render(page: &impl Template) -> Result<Response, AppError> {
    Ok(Html(page.render()?).into_response())
}

pub(crate) fn local_time(state: &AppState, at: Timestamp) -> String {
    at.to_zoned_datetime(state.config().time_zone.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// A time as a `datetime-local` input's value, in the school's time zone.
pub(crate) fn form_time(state: &AppState, at: Timestamp) -> String {
    at.to_zoned_datetime(state.config().time_zone.clone())
        .strftime("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// A `datetime-local` input's value, read in the school's time zone.
pub(crate) fn parse_local(
    state: &AppState,
    value: &str,
    what: &str,
) -> Result<Timestamp, AppError> {
    let civil: jiff::civil::DateTime = value
        .trim()
        .parse()
        .map_err(|_| AppError::BadRequest(format!("{what}: {value:?} is not a date and time")))?;
    civil
        .to_zoned_datetime(state.config().time_zone.clone())
        .map(|zoned| zoned.timestamp())
        .map_err(|_| AppError::BadRequest(format!("{what}: {value:?} is not a time that exists")))
}

// ---------------------------------------------------------------------------------------------
// Dashboard

/// Blocked attempts in one category today.
pub struct CategoryLine {
    category: String,
    count: i64,
}

/// The event writer's state, as words and numbers.
#[derive(Default)]
pub struct WriterLine {
    running: bool,
    database_up: bool,
    queued: usize,
    accepted: u64,
    written: u64,
    dropped_here: u64,
    dropped_ever: i64,
    backlog_bytes: u64,
    last_write: String,
    last_error: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    day: String,
    categories: Vec<CategoryLine>,
    total_blocked: i64,
    pupils: i64,
    staff: i64,
    guests: i64,
    writer: WriterLine,
}

/// `GET /`: today's blocked attempts by category, people counts, the event writer's health.
/// Aggregates only: every role may see it.
pub async fn dashboard(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewDashboard)?;
    let store = state.store();
    let school = user.account.school;
    let today = Timestamp::now()
        .to_zoned_datetime(state.config().time_zone.clone())
        .start_of_day()
        .map_err(|error| AppError::Internal(error.to_string()))?;
    let tomorrow = today
        .checked_add(1.day())
        .map_err(|error| AppError::Internal(error.to_string()))?;
    let counts = store
        .blocked_by_category(school, today.timestamp(), tomorrow.timestamp())
        .await?;
    let (pupils, staff, guests) = store.count_people(school).await?;
    let dropped_ever = store.dropped_events().await?;
    let writer = match state.events() {
        Some(sink) => {
            let health = sink.health();
            WriterLine {
                running: true,
                database_up: health.database_up(),
                queued: sink.queued(),
                accepted: health.accepted(),
                written: health.written(),
                dropped_here: health.dropped(),
                dropped_ever,
                backlog_bytes: health.backlog_bytes(),
                last_write: health
                    .last_write()
                    .map_or("never".to_owned(), |at| local_time(&state, at)),
                last_error: health.last_error().unwrap_or_default(),
            }
        }
        None => WriterLine {
            dropped_ever,
            ..WriterLine::default()
        },
    };
    let page = DashboardPage {
        layout: Layout::for_user(&state, &user, "Dashboard").await,
        day: today.strftime("%A %-d %B %Y").to_string(),
        total_blocked: counts.iter().map(|line| line.count).sum(),
        categories: counts
            .into_iter()
            .map(|line| CategoryLine {
                category: line.category,
                count: line.count,
            })
            .collect(),
        pupils,
        staff,
        guests,
        writer,
    };
    render(&page)
}

// ---------------------------------------------------------------------------------------------
// People and import

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    layout: Layout,
    people: Vec<Person>,
    kind: String,
    search: String,
    can_import: bool,
    can_chronology: bool,
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
    let page = PeoplePage {
        layout: Layout::for_user(&state, &user, "People").await,
        people,
        kind: query.kind,
        search: query.q,
        can_import: user.can(Permission::ImportPeople),
        can_chronology: user.can(Permission::ManageIncidents),
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
        }),
    };
    render(&page)
}

// ---------------------------------------------------------------------------------------------
// Devices

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesPage {
    layout: Layout,
    devices: Vec<ward_store::Device>,
    groups: Vec<ward_store::Group>,
}

/// `GET /devices`.
pub async fn devices(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ManageDevices)?;
    let store = state.store();
    let page = DevicesPage {
        layout: Layout::for_user(&state, &user, "Devices").await,
        devices: store.devices(user.account.school).await?,
        groups: store.groups(user.account.school).await?,
    };
    render(&page)
}

/// The add-device form.
#[derive(Debug, Deserialize)]
pub struct DeviceForm {
    name: String,
    network: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    location: String,
}

/// `POST /devices`.
pub async fn add_device(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<DeviceForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageDevices)?;
    let store = state.store();
    let school = user.account.school;
    let network = form.network.parse()?;
    let group = match form.group.trim() {
        "" => None,
        name => Some(
            store
                .groups(school)
                .await?
                .into_iter()
                .find(|group| group.name == name)
                .ok_or_else(|| AppError::BadRequest(format!("There is no group {name:?}.")))?
                .id,
        ),
    };
    let device = NewDevice {
        name: form.name.trim().to_owned(),
        network,
        group,
        location: form.location.trim().to_owned(),
    };
    store.add_device(school, &device).await?;
    user.record(
        store,
        "device.add",
        &format!("device:{}", device.name),
        format!("{} group {}", device.network, form.group.trim()),
        None,
    )
    .await?;
    Ok(Redirect::to("/devices").into_response())
}

/// `POST /devices/{id}/delete`.
pub async fn delete_device(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageDevices)?;
    let store = state.store();
    store
        .remove_device(user.account.school, DeviceId(id))
        .await?;
    user.record(
        store,
        "device.remove",
        &format!("device:{id}"),
        String::new(),
        None,
    )
    .await?;
    Ok(Redirect::to("/devices").into_response())
}

// ---------------------------------------------------------------------------------------------
// Activity

/// The activity search form's values, echoed back.
#[derive(Debug, Default, Deserialize)]
pub struct ActivityForm {
    #[serde(default)]
    person: String,
    #[serde(default)]
    device: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    reason: String,
}

/// One row of results, formatted.
pub struct ActivityLine {
    at: String,
    event: EventRow,
}

/// One line of allowed browsing, formatted.
pub struct BrowsingLine {
    hour: String,
    row: BrowsingRow,
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage {
    layout: Layout,
    form: ActivityForm,
    devices: Vec<ward_store::Device>,
    message: String,
    searched: bool,
    subject: String,
    results: Vec<ActivityLine>,
    browsing: Vec<BrowsingLine>,
    limit: i64,
}

/// Most result rows one search shows.
const ACTIVITY_LIMIT: i64 = 500;

impl ActivityPage {
    /// The search form with `form`'s values and no results yet.
    async fn new(
        state: &AppState,
        user: &CurrentUser,
        form: ActivityForm,
    ) -> Result<ActivityPage, AppError> {
        Ok(ActivityPage {
            layout: Layout::for_user(state, user, "Activity").await,
            devices: state.store().devices(user.account.school).await?,
            form,
            message: String::new(),
            searched: false,
            subject: String::new(),
            results: Vec::new(),
            browsing: Vec::new(),
            limit: ACTIVITY_LIMIT,
        })
    }
}

/// `GET /activity`: the search form.
pub async fn activity_page(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::SearchActivity)?;
    let page = ActivityPage::new(&state, &user, ActivityForm::default()).await?;
    render(&page)
}

fn parse_day(state: &AppState, text: &str, field: &str) -> Result<Option<Timestamp>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let date: Date = text
        .parse()
        .map_err(|_| format!("The {field} date {text:?} is not a date like 2026-11-23."))?;
    date.to_zoned_datetime(state.config().time_zone.clone())
        .map(|zoned| Some(zoned.timestamp()))
        .map_err(|error| error.to_string())
}

/// `POST /activity`: runs a search. Naming a person needs a reason; every search is audited.
pub async fn activity_search(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<ActivityForm>,
) -> Result<Response, AppError> {
    user.require(Permission::SearchActivity)?;
    let mut page = ActivityPage::new(&state, &user, form).await?;
    match run_activity_search(&state, &user, &mut page).await {
        Ok(()) => render(&page),
        Err(message) => {
            page.message = message;
            Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response())
        }
    }
}

async fn run_activity_search(
    state: &AppState,
    user: &CurrentUser,
    page: &mut ActivityPage,
) -> Result<(), String> {
    let store: &Store = state.store();
    let school = user.account.school;
    let form = &page.form;
    let internal = |error: ward_store::StoreError| error.to_string();
    let person = match form.person.trim() {
        "" => None,
        username => Some(
            store
                .person_by_username(school, username)
                .await
                .map_err(internal)?
                .ok_or_else(|| format!("There is nobody with the username {username:?}."))?,
        ),
    };
    let reason = form.reason.trim();
    if person.is_some() && reason.chars().count() < 5 {
        return Err(
            "Looking at a named person's activity needs a reason, which is kept in the audit log."
                .into(),
        );
    }
    let device = match form.device.trim() {
        "" => None,
        id => Some(DeviceId(
            id.parse()
                .map_err(|_| "Choose a device from the list.".to_owned())?,
        )),
    };
    let from = parse_day(state, &form.from, "from")?;
    let to = parse_day(state, &form.to, "to")?.map(|day| {
        day.checked_add(jiff::SignedDuration::from_hours(24))
            .unwrap_or(day)
    });
    let query = ActivityQuery {
        person: person.as_ref().map(|person| person.id),
        device,
        from,
        to,
        site: form.site.clone(),
        category: form.category.clone(),
        limit: page.limit,
        client_ip: String::new(),
    };
    let (action, subject) = match (&person, device) {
        (Some(person), _) => ("activity.view", format!("person:{}", person.username)),
        (None, Some(device)) => ("activity.search", format!("device:{device}")),
        (None, None) => ("activity.search", "all".to_owned()),
    };
    let detail = format!(
        "from {:?} to {:?} site {:?} category {:?}",
        form.from.trim(),
        form.to.trim(),
        form.site.trim(),
        form.category.trim()
    );
    // The audit entry is written before any result is shown: no record, no look.
    user.record(
        store,
        action,
        &subject,
        detail,
        (!reason.is_empty()).then(|| reason.to_owned()),
    )
    .await
    .map_err(internal)?;
    let results = store
        .search_events(school, &query)
        .await
        .map_err(internal)?;
    page.results = results
        .into_iter()
        .map(|event| ActivityLine {
            at: local_time(state, event.at),
            event,
        })
        .collect();
    let browsing_subject = match (&person, device) {
        (Some(person), _) => Some(format!("person:{}", person.id)),
        (None, Some(device)) => Some(format!("device:{device}")),
        _ => None,
    };
    if let Some(subject) = browsing_subject {
        let now = Timestamp::now();
        let from = query
            .from
            .unwrap_or(now - jiff::SignedDuration::from_hours(24 * 7));
        let to = query
            .to
            .unwrap_or(now + jiff::SignedDuration::from_hours(1));
        page.browsing = store
            .browsing(school, &subject, from, to, page.limit)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|row| BrowsingLine {
                hour: local_time(state, row.hour),
                row,
            })
            .collect();
    }
    page.subject = match &person {
        Some(person) => format!("{} ({})", person.full_name(), person.username),
        None => subject,
    };
    page.searched = true;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Audit log

/// One audit entry, formatted.
pub struct AuditLine {
    at: String,
    entry: ward_store::AuditEntry,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    entries: Vec<AuditLine>,
    action: String,
    older: Option<i64>,
    verification: Option<ward_store::AuditVerification>,
}

/// Query of the audit page.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    verify: Option<String>,
}

/// `GET /audit`.
pub async fn audit(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<AuditQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ViewAudit)?;
    let store = state.store();
    let school = user.account.school;
    let page_size = 100;
    let entries = store
        .audit_entries(school, page_size, query.before, query.action.trim())
        .await?;
    let older = (entries.len() as i64 == page_size)
        .then(|| entries.last().map(|entry| entry.seq))
        .flatten();
    let verification = match query.verify {
        Some(_) => Some(store.verify_audit(school).await?),
        None => None,
    };
    let page = AuditPage {
        layout: Layout::for_user(&state, &user, "Audit log").await,
        entries: entries
            .into_iter()
            .map(|entry| AuditLine {
                at: local_time(&state, entry.at),
                entry,
            })
            .collect(),
        action: query.action,
        older,
        verification,
    };
    render(&page)
}

// ---------------------------------------------------------------------------------------------
// Accounts

/// An account as the list shows it.
pub struct AccountLine {
    id: AccountId,
    username: String,
    display_name: String,
    roles: Vec<(Role, bool)>,
    locked: bool,
    must_change: bool,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    layout: Layout,
    accounts: Vec<AccountLine>,
    grantable: Vec<Role>,
    created: Option<(String, String)>,
}

async fn accounts_page(
    state: &AppState,
    user: &CurrentUser,
    created: Option<(String, String)>,
) -> Result<Response, AppError> {
    let now = Timestamp::now();
    let accounts = state.store().accounts(user.account.school).await?;
    let page = AccountsPage {
        layout: Layout::for_user(state, user, "Accounts").await,
        accounts: accounts
            .into_iter()
            .map(|account| AccountLine {
                id: account.id,
                roles: Role::ALL
                    .into_iter()
                    .map(|role| (role, account.roles.has(role)))
                    .collect(),
                username: account.username,
                display_name: account.display_name,
                locked: account.locked_until.is_some_and(|until| until > now),
                must_change: account.must_change_password,
            })
            .collect(),
        grantable: Role::ALL
            .into_iter()
            .filter(|role| may_grant(&user.account.roles, *role))
            .collect(),
        created,
    };
    render(&page)
}

/// `GET /accounts`.
pub async fn accounts(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAccounts)?;
    accounts_page(&state, &user, None).await
}

fn roles_from_form(fields: &[(String, String)]) -> Result<Roles, AppError> {
    fields
        .iter()
        .filter(|(key, _)| key == "roles")
        .map(|(_, value)| value.parse::<Role>().map_err(AppError::from))
        .collect::<Result<Vec<_>, _>>()
        .map(Roles::new)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.trim())
}

/// `POST /accounts`: creates an account with a one-time password, shown once.
pub async fn create_account(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAccounts)?;
    let roles = roles_from_form(&fields)?;
    if let Some(role) = roles
        .iter()
        .find(|role| !may_grant(&user.account.roles, *role))
    {
        return Err(AppError::BadRequest(format!(
            "Your roles do not allow giving the {} role.",
            role.label()
        )));
    }
    let username = field(&fields, "username").to_owned();
    let display_name = match field(&fields, "display_name") {
        "" => username.clone(),
        name => name.to_owned(),
    };
    let password = one_time_password();
    let hash = hash_blocking(password.clone()).await?;
    let store = state.store();
    store
        .create_account(
            user.account.school,
            &NewAccount {
                username: username.clone(),
                display_name,
                roles: roles.clone(),
                password_hash: hash,
                must_change_password: true,
            },
        )
        .await?;
    user.record(
        store,
        "account.create",
        &format!("account:{}", username.to_lowercase()),
        format!("roles {roles}"),
        None,
    )
    .await?;
    accounts_page(&state, &user, Some((username.to_lowercase(), password))).await
}

/// `POST /accounts/{id}/roles`.
pub async fn set_roles(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAccounts)?;
    let store = state.store();
    let account = store.account(user.account.school, AccountId(id)).await?;
    let roles = roles_from_form(&fields)?;
    // Adding or removing a role both need the right to give it.
    let changed = Role::ALL
        .into_iter()
        .filter(|role| roles.has(*role) != account.roles.has(*role));
    for role in changed {
        if !may_grant(&user.account.roles, role) {
            return Err(AppError::BadRequest(format!(
                "Your roles do not allow giving or removing the {} role.",
                role.label()
            )));
        }
    }
    store
        .set_roles(user.account.school, account.id, &roles)
        .await?;
    user.record(
        store,
        "account.roles",
        &format!("account:{}", account.username),
        format!("from {} to {roles}", account.roles),
        None,
    )
    .await?;
    Ok(Redirect::to("/accounts").into_response())
}

/// `POST /accounts/{id}/reset-password`: a new one-time password, shown once; also unlocks.
pub async fn reset_password(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAccounts)?;
    let store = state.store();
    let account = store.account(user.account.school, AccountId(id)).await?;
    if let Some(role) = account
        .roles
        .iter()
        .find(|role| !may_grant(&user.account.roles, *role))
    {
        return Err(AppError::BadRequest(format!(
            "Your roles do not allow resetting the password of a {} account.",
            role.label()
        )));
    }
    let password = one_time_password();
    let hash = hash_blocking(password.clone()).await?;
    store
        .set_password(user.account.school, account.id, &hash, true)
        .await?;
    store.delete_other_sessions(account.id, "").await?;
    user.record(
        store,
        "account.reset_password",
        &format!("account:{}", account.username),
        "one-time password issued; sessions ended".into(),
        None,
    )
    .await?;
    accounts_page(&state, &user, Some((account.username, password))).await
}
