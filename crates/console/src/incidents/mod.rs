//! Online-safety incidents (DESIGN.md S1–S4): recording one as Appendix 1 asks (by anyone on the
//! staff who finds or suspects one, or by the DSL escalating an alert), the procedure as guided
//! steps (pupil or staff), the sanctions table's suggested actions and the actions taken, the
//! person's earlier incidents (continued infringement) and chronology, append-only notes with
//! corrections, and the DSL's sign-off.
//!
//! Nothing here edits or deletes an entry: there is no route for it, and the database refuses it.
//! Every change is audited. Who sees what is decided in the store's queries
//! ([`IncidentScope`]): the DSL and headteacher see every incident; anyone else sees only the
//! pupil incidents they recorded, never a child-protection or staff one.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use ward_records::{Audience, CHILD_PROTECTION, Procedure, Progress, SanctionTable};
use ward_store::{
    AlertFilter, AlertId, EntryKind, Incident, IncidentEntry, IncidentFilter, IncidentId,
    IncidentScope, IncidentStatus, NewEntry, NewIncident, PersonId, StoreError,
};

use crate::auth::CurrentUser;
use crate::layout::{Layout, form_time, local_time, parse_local, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

mod chronology;
mod entries;
mod files;
mod record;
mod show;

pub use chronology::chronology;
pub use entries::{action, add_person, note, sign_off, step};
pub use files::{download, upload};
pub use record::{create, link_alert, new_form};
pub use show::show;

/// Most incidents a list shows.
const LIST_LIMIT: i64 = 500;

/// The incidents this account may see.
fn scope(user: &CurrentUser) -> IncidentScope<'_> {
    if user.can(Permission::ManageIncidents) {
        IncidentScope::All
    } else {
        IncidentScope::RecordedBy(&user.account.username)
    }
}

/// A refusal from the store as a message for the form (a conflict is not "already exists"
/// here: it is a signed-off incident, or an alert someone else moved).
fn refused(error: StoreError) -> AppError {
    match error {
        StoreError::Conflict(message) | StoreError::Invalid(message) => {
            AppError::BadRequest(message)
        }
        other => other.into(),
    }
}

fn audience(incident: &Incident) -> Result<Audience, AppError> {
    incident
        .audience
        .parse()
        .map_err(|error: ward_records::BadAudience| AppError::Internal(error.to_string()))
}

fn table(state: &AppState, audience: Audience) -> &SanctionTable {
    state.config().sanctions.table(audience)
}

/// The procedure the incident follows.
fn procedure(incident: &Incident) -> Result<Procedure, AppError> {
    Ok(Procedure::of(audience(incident)?, incident.welfare))
}

fn kind_title(state: &AppState, incident: &Incident) -> String {
    if incident.welfare {
        return ward_records::concern_type(&incident.kind)
            .map_or_else(|| incident.kind.clone(), |kind| kind.title.to_owned());
    }
    incident
        .audience
        .parse()
        .ok()
        .and_then(|audience| table(state, audience).incident(&incident.kind))
        .map_or_else(|| incident.kind.clone(), |kind| kind.title.clone())
}

/// What can be recorded as done for this incident, `(id, title)`: the welfare actions for a
/// welfare concern, else the columns of its audience's sanctions table.
fn actions(state: &AppState, incident: &Incident) -> Result<Vec<(String, String)>, AppError> {
    Ok(if incident.welfare {
        ward_records::WELFARE_ACTIONS
            .iter()
            .map(|action| (action.id.to_owned(), action.title.to_owned()))
            .collect()
    } else {
        table(state, audience(incident)?)
            .actions
            .iter()
            .map(|action| (action.id.clone(), action.title.clone()))
            .collect()
    })
}

/// The name of action `id` for this incident (the id itself if neither list has it).
fn action_title(state: &AppState, incident: &Incident, id: &str) -> String {
    if incident.welfare {
        return ward_records::welfare_action(id).map_or_else(|| id.to_owned(), |a| a.title.into());
    }
    incident
        .audience
        .parse()
        .ok()
        .and_then(|audience| table(state, audience).action(id))
        .map_or_else(|| id.to_owned(), |action| action.title.clone())
}

fn about(incident: &Incident) -> String {
    match &incident.person_name {
        Some(name) => name.clone(),
        None if !incident.username.is_empty() => format!("user {}", incident.username),
        None => "—".into(),
    }
}

/// An incident in a list.
pub struct IncidentLine {
    id: IncidentId,
    recorded: String,
    about: String,
    audience: &'static str,
    kind: String,
    status: &'static str,
    child_protection: bool,
}

fn line(state: &AppState, incident: &Incident) -> IncidentLine {
    IncidentLine {
        id: incident.id,
        recorded: local_time(state, incident.created_at),
        about: about(incident),
        audience: if incident.welfare {
            "Welfare concern"
        } else {
            incident
                .audience
                .parse::<Audience>()
                .map_or("", Audience::label)
        },
        kind: kind_title(state, incident),
        status: incident.status.label(),
        child_protection: incident.child_protection,
    }
}

// ---------------------------------------------------------------------------------------------
// The list

#[derive(Template)]
#[template(path = "incidents.html")]
struct ListPage {
    layout: Layout,
    incidents: Vec<IncidentLine>,
    open: bool,
    manage: bool,
    recorded: Option<i64>,
    limit: i64,
}

/// The list's tab, and the incident just recorded.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    status: String,
    recorded: Option<i64>,
}

/// `GET /incidents?status=open|closed`.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<ListQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::RecordIncident)?;
    let status = match query.status.as_str() {
        "" | "open" => IncidentStatus::Open,
        "closed" => IncidentStatus::Closed,
        other => return Err(AppError::BadRequest(format!("{other:?} is not a status"))),
    };
    let incidents = state
        .store()
        .incidents(
            user.account.school,
            scope(&user),
            &IncidentFilter {
                status: Some(status),
                limit: LIST_LIMIT,
                ..IncidentFilter::default()
            },
        )
        .await?
        .iter()
        .map(|incident| line(&state, incident))
        .collect();
    render(&ListPage {
        layout: Layout::for_user(&state, &user, "Incidents").await,
        incidents,
        open: status == IncidentStatus::Open,
        manage: user.can(Permission::ManageIncidents),
        recorded: query.recorded,
        limit: LIST_LIMIT,
    })
}

// ---------------------------------------------------------------------------------------------
// Recording one

/// The current answer to each step: the latest entry for it (a correction replaces what it
/// corrects), as `step → entry`.
fn answers(entries: &[IncidentEntry]) -> HashMap<&str, &IncidentEntry> {
    let mut current = HashMap::new();
    for entry in entries.iter().filter(|e| e.kind == EntryKind::Step) {
        current.insert(entry.step.as_str(), entry);
    }
    current
}

fn progress(procedure: Procedure, current: &HashMap<&str, &IncidentEntry>) -> Progress {
    Progress::of(procedure, |step| {
        current.get(step).map(|entry| entry.answer.as_str())
    })
}

fn describe(state: &AppState, incident: &Incident, entry: &IncidentEntry) -> String {
    match entry.kind {
        EntryKind::Note => "Note".into(),
        EntryKind::Step => {
            let step = procedure(incident)
                .ok()
                .and_then(|procedure| procedure.step(&entry.step));
            match step {
                Some(step) => format!(
                    "Procedure: {} — {}",
                    step.question,
                    step.answer(&entry.answer)
                        .map_or(entry.answer.as_str(), |a| a.label)
                ),
                None => format!("Procedure: {} — {}", entry.step, entry.answer),
            }
        }
        EntryKind::Action => format!(
            "Action taken: {}",
            action_title(state, incident, &entry.step)
        ),
        EntryKind::Alert => format!("Alert {} escalated into the incident", entry.step),
        EntryKind::SignOff => "Signed off by the designated safeguarding lead".into(),
    }
}
