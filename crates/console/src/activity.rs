//! The activity search: blocked requests and browsing counts by person, device, dates, site and
//! category; naming a person needs a reason, audited before any result is shown.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use ward_store::{ActivityQuery, BrowsingRow, DeviceId, EventRow, Store};

use crate::auth::CurrentUser;
use crate::layout::{Layout, local_time, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

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
    /// The next page: results older than this event (its time in microseconds, and its id).
    #[serde(default)]
    before_at: String,
    #[serde(default)]
    before_id: String,
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
    /// Where the next page starts (the last result's time in microseconds, and its id), when
    /// there may be more.
    older: Option<(i64, i64)>,
}

/// Most result rows one page of a search shows (the next page follows on from the last).
const ACTIVITY_LIMIT: i64 = 200;

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
            older: None,
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
    let from = crate::layout::parse_day(state, &form.from, "from")?;
    let to = crate::layout::parse_day(state, &form.to, "to")?.map(|day| {
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
        before: match (form.before_at.trim(), form.before_id.trim()) {
            ("", _) | (_, "") => None,
            (at, id) => Some((
                at.parse::<i64>()
                    .ok()
                    .and_then(|at| Timestamp::from_microsecond(at).ok())
                    .ok_or("The page of results asked for is not one Ward gave.")?,
                id.parse::<i64>()
                    .map_err(|_| "The page of results asked for is not one Ward gave.")?,
            )),
        },
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
    page.older = (results.len() as i64 == page.limit)
        .then(|| {
            results
                .last()
                .map(|last| (last.at.as_microsecond(), last.id))
        })
        .flatten();
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
