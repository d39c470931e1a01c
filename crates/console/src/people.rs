//! People: the list with search, and the MIS CSV import (each bad row listed with its line).

use askama::Template;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use ward_store::{Person, PersonKind};

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
