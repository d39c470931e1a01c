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
use ward_records::{Audience, CHILD_PROTECTION, Progress, SanctionTable};
use ward_store::{
    AlertFilter, AlertId, EntryKind, Incident, IncidentEntry, IncidentFilter, IncidentId,
    IncidentScope, IncidentStatus, NewEntry, NewIncident, PersonId, StoreError,
};

use crate::auth::CurrentUser;
use crate::layout::{Layout, form_time, local_time, parse_local, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

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

fn kind_title(state: &AppState, incident: &Incident) -> String {
    incident
        .audience
        .parse()
        .ok()
        .and_then(|audience| table(state, audience).incident(&incident.kind))
        .map_or_else(|| incident.kind.clone(), |kind| kind.title.clone())
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
    id: i64,
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
        audience: incident
            .audience
            .parse::<Audience>()
            .map_or("", Audience::label),
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

/// The record form's fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RecordForm {
    /// `pupil:KIND` or `staff:KIND`: the row of a sanctions table, which also says whom it is
    /// about.
    kind: String,
    username: String,
    station: String,
    occurred_at: String,
    evidence: String,
    reported_by: String,
    /// The alert escalated into it, if any.
    alert: Option<AlertId>,
}

/// One sanctions table's rows, as the type select's group.
pub struct KindGroup {
    audience: &'static str,
    title: String,
    options: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "incident_new.html")]
struct NewPage {
    layout: Layout,
    form: RecordForm,
    kinds: Vec<KindGroup>,
    alert_summary: String,
    message: String,
}

impl NewPage {
    async fn new(
        state: &AppState,
        user: &CurrentUser,
        form: RecordForm,
        message: String,
    ) -> Result<NewPage, AppError> {
        let alert_summary = match form.alert {
            Some(id) => {
                let alert = state.store().alert(user.account.school, id).await?;
                format!(
                    "Alert {id}: {} (severity {})",
                    alert.summary, alert.severity
                )
            }
            None => String::new(),
        };
        let kinds = [Audience::Pupil, Audience::Staff]
            .into_iter()
            .map(|audience| {
                let options = table(state, audience)
                    .incidents
                    .iter()
                    .map(|kind| (format!("{audience}:{}", kind.id), kind.title.clone()))
                    .collect();
                KindGroup {
                    audience: audience.label(),
                    title: table(state, audience).title.clone(),
                    options,
                }
            })
            .collect();
        Ok(NewPage {
            layout: Layout::for_user(state, user, "Record an incident").await,
            form,
            kinds,
            alert_summary,
            message,
        })
    }
}

/// What the record form starts from.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewQuery {
    alert: Option<AlertId>,
}

/// `GET /incidents/new[?alert=ID]`: the Appendix 1 record, filled in from the alert when one is
/// being escalated.
pub async fn new_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<NewQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::RecordIncident)?;
    let mut form = RecordForm {
        reported_by: user.account.display_name.clone(),
        ..RecordForm::default()
    };
    if let Some(id) = query.alert {
        user.require(Permission::TriageAlerts)?;
        let alert = state.store().alert(user.account.school, id).await?;
        let mut username = alert.username.clone().unwrap_or_default();
        let mut kind = String::new();
        if let Some(person) = alert.person {
            let person = state.store().person(user.account.school, person).await?;
            username = person.username;
            if person.kind == ward_store::PersonKind::Staff {
                kind = "staff:".into();
            }
        }
        form.kind = kind;
        form.username = username;
        form.station = alert
            .device_name
            .clone()
            .or(alert.client_ip.clone())
            .unwrap_or_default();
        form.occurred_at = form_time(&state, alert.created_at);
        form.evidence = format!("{} (alert {id}, {} time(s))", alert.summary, alert.repeats);
        form.reported_by = format!(
            "Ward alert {id}, escalated by {}",
            user.account.display_name
        );
        form.alert = Some(id);
    }
    render(&NewPage::new(&state, &user, form, String::new()).await?)
}

/// `POST /incidents`: records the incident (escalating the alert, if any, in the same
/// transaction) and audits it.
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<RecordForm>,
) -> Result<Response, AppError> {
    user.require(Permission::RecordIncident)?;
    if form.alert.is_some() {
        user.require(Permission::TriageAlerts)?;
    }
    let store = state.store();
    let school = user.account.school;
    let problem = |message: String| async {
        let page = NewPage::new(&state, &user, form.clone(), message).await?;
        Ok::<Response, AppError>((StatusCode::BAD_REQUEST, render(&page)?).into_response())
    };
    let Some((audience, kind)) = form
        .kind
        .split_once(':')
        .and_then(|(audience, kind)| Some((audience.parse::<Audience>().ok()?, kind)))
        .filter(|(audience, kind)| table(&state, *audience).incident(kind).is_some())
    else {
        return problem("Choose the type of incident.".into()).await;
    };
    let occurred_at = match form.occurred_at.trim() {
        "" => None,
        text => match parse_local(&state, text, "Approximate time") {
            Ok(at) => Some(at),
            Err(AppError::BadRequest(message)) => return problem(message).await,
            Err(other) => return Err(other),
        },
    };
    let person = match form.alert {
        Some(alert) => store.alert(school, alert).await?.person,
        None => store
            .person_by_username(school, &form.username)
            .await?
            .map(|person| person.id),
    };
    let incident = NewIncident {
        audience: audience.as_str().into(),
        kind: kind.into(),
        person,
        username: form.username.clone(),
        station: form.station.clone(),
        occurred_at,
        evidence: form.evidence.clone(),
        reported_by: form.reported_by.clone(),
        alerts: form.alert.into_iter().collect(),
    };
    let id = match store
        .open_incident(school, &user.account.username, &incident)
        .await
    {
        Ok(id) => id,
        Err(StoreError::Invalid(message) | StoreError::Conflict(message)) => {
            return problem(format!("Not recorded: {message}.")).await;
        }
        Err(other) => return Err(other.into()),
    };
    user.record(
        store,
        "incident.create",
        &format!("incident:{id}"),
        format!(
            "{} ({}): {}",
            audience.label(),
            kind,
            if incident.username.is_empty() {
                "no username"
            } else {
                incident.username.as_str()
            }
        ),
        None,
    )
    .await?;
    if let Some(alert) = form.alert {
        user.record(
            store,
            "alert.escalate",
            &format!("alert:{alert}"),
            format!("escalated to incident {id}"),
            None,
        )
        .await?;
    }
    if store.incident(school, scope(&user), id).await.is_ok() {
        Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
    } else {
        Ok(Redirect::to(&format!("/incidents?recorded={id}")).into_response())
    }
}

/// The alert to add to an open incident.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinkForm {
    incident: i64,
}

/// `POST /alerts/{id}/incident`: escalates the alert into an open incident.
pub async fn link_alert(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(alert): Path<AlertId>,
    axum::Form(form): axum::Form<LinkForm>,
) -> Result<Response, AppError> {
    user.require(Permission::TriageAlerts)?;
    user.require(Permission::ManageIncidents)?;
    let store = state.store();
    store
        .link_alert_to_incident(
            user.account.school,
            form.incident,
            alert,
            &user.account.username,
        )
        .await
        .map_err(refused)?;
    user.record(
        store,
        "alert.escalate",
        &format!("alert:{alert}"),
        format!("added to incident {}", form.incident),
        None,
    )
    .await?;
    Ok(Redirect::to(&format!("/incidents/{}", form.incident)).into_response())
}

// ---------------------------------------------------------------------------------------------
// One incident

/// A step of the procedure as the page shows it.
pub struct StepView {
    id: &'static str,
    question: &'static str,
    guidance: &'static str,
    answers: Vec<(&'static str, &'static str)>,
    answered: bool,
    answer: &'static str,
    then: &'static str,
    by: String,
    at: String,
    note: String,
}

/// An action of the sanctions table, and whether it has been taken.
pub struct ActionView {
    title: String,
    taken: bool,
}

/// An action taken.
pub struct TakenView {
    title: String,
    note: String,
    by: String,
    at: String,
}

/// An entry of the incident's log.
pub struct EntryView {
    id: i64,
    at: String,
    actor: String,
    what: String,
    note: String,
    corrects: Option<i64>,
    corrected_by: Option<i64>,
    is_note: bool,
}

/// An alert escalated into the incident.
pub struct AlertView {
    id: AlertId,
    severity: u8,
    summary: String,
    raised: String,
    repeats: i64,
}

/// A blocked request linked to the incident.
pub struct EventView {
    at: String,
    site: String,
    categories: String,
    device: String,
}

#[derive(Template)]
#[template(path = "incident_show.html")]
struct ShowPage {
    layout: Layout,
    id: i64,
    line: IncidentLine,
    username: String,
    station: String,
    occurred: String,
    evidence: String,
    reported_by: String,
    created_by: String,
    closed: String,
    open: bool,
    manage: bool,
    can_sign_off: bool,
    person: Option<i64>,
    steps: Vec<StepView>,
    complete: bool,
    suggested: Vec<ActionView>,
    escalation: Option<(String, Vec<ActionView>)>,
    actions: Vec<(String, String)>,
    taken: Vec<TakenView>,
    earlier: Vec<IncidentLine>,
    alerts: Vec<AlertView>,
    events: Vec<EventView>,
    entries: Vec<EntryView>,
}

/// The current answer to each step: the latest entry for it (a correction replaces what it
/// corrects), as `step → entry`.
fn answers(entries: &[IncidentEntry]) -> HashMap<&str, &IncidentEntry> {
    let mut current = HashMap::new();
    for entry in entries.iter().filter(|e| e.kind == EntryKind::Step) {
        current.insert(entry.step.as_str(), entry);
    }
    current
}

fn progress(audience: Audience, current: &HashMap<&str, &IncidentEntry>) -> Progress {
    Progress::of(audience, |step| {
        current.get(step).map(|entry| entry.answer.as_str())
    })
}

fn describe(state: &AppState, audience: Audience, entry: &IncidentEntry) -> String {
    match entry.kind {
        EntryKind::Note => "Note".into(),
        EntryKind::Step => {
            let step = audience.steps().iter().find(|s| s.id == entry.step);
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
            table(state, audience)
                .action(&entry.step)
                .map_or(entry.step.as_str(), |a| a.title.as_str())
        ),
        EntryKind::Alert => format!("Alert {} escalated into the incident", entry.step),
        EntryKind::SignOff => "Signed off by the designated safeguarding lead".into(),
    }
}

impl ShowPage {
    async fn new(
        state: &AppState,
        user: &CurrentUser,
        incident: &Incident,
    ) -> Result<ShowPage, AppError> {
        let store = state.store();
        let school = user.account.school;
        let scope = scope(user);
        let audience = audience(incident)?;
        let entries = store.incident_entries(school, scope, incident.id).await?;
        let manage = user.can(Permission::ManageIncidents);
        let current = answers(&entries);
        let progress = progress(audience, &current);
        let steps = progress
            .steps
            .iter()
            .map(|(step, answer)| {
                let entry = current.get(step.id);
                StepView {
                    id: step.id,
                    question: step.question,
                    guidance: step.guidance,
                    answers: step.answers.iter().map(|a| (a.id, a.label)).collect(),
                    answered: answer.is_some(),
                    answer: answer.map_or("", |a| a.label),
                    then: answer.map_or("", |a| a.then),
                    by: entry.map(|e| e.actor.clone()).unwrap_or_default(),
                    at: entry.map(|e| local_time(state, e.at)).unwrap_or_default(),
                    note: entry.map(|e| e.note.clone()).unwrap_or_default(),
                }
            })
            .collect();
        let table = table(state, audience);
        let taken_ids: Vec<&str> = entries
            .iter()
            .filter(|e| e.kind == EntryKind::Action)
            .map(|e| e.step.as_str())
            .collect();
        let action_views = |ids: &[String]| {
            ids.iter()
                .map(|id| ActionView {
                    title: table.action(id).map_or(id.clone(), |a| a.title.clone()),
                    taken: taken_ids.contains(&id.as_str()),
                })
                .collect::<Vec<_>>()
        };
        let suggested = table
            .incident(&incident.kind)
            .map(|kind| action_views(&kind.actions))
            .unwrap_or_default();
        let earlier = if manage {
            let filter = IncidentFilter {
                person: incident.person,
                username: incident
                    .person
                    .is_none()
                    .then(|| incident.username.clone())
                    .filter(|name| !name.is_empty()),
                before: Some(incident.created_at),
                limit: 50,
                ..IncidentFilter::default()
            };
            if filter.person.is_some() || filter.username.is_some() {
                store
                    .incidents(school, scope, &filter)
                    .await?
                    .iter()
                    .filter(|earlier| earlier.id != incident.id)
                    .map(|earlier| line(state, earlier))
                    .collect()
            } else {
                Vec::new()
            }
        } else {
            Vec::new()
        };
        let escalation = match table.escalation() {
            Some(kind) if !earlier.is_empty() && kind.id != incident.kind => {
                Some((kind.title.clone(), action_views(&kind.actions)))
            }
            _ => None,
        };
        let taken = entries
            .iter()
            .filter(|e| e.kind == EntryKind::Action)
            .map(|e| TakenView {
                title: table
                    .action(&e.step)
                    .map_or(e.step.clone(), |a| a.title.clone()),
                note: e.note.clone(),
                by: e.actor.clone(),
                at: local_time(state, e.at),
            })
            .collect();
        let (alerts, events) = if manage {
            let alerts = store
                .alerts(
                    school,
                    &AlertFilter {
                        status: None,
                        subject: None,
                        incident: Some(IncidentId(incident.id)),
                        limit: 100,
                    },
                )
                .await?
                .into_iter()
                .map(|alert| AlertView {
                    id: alert.id,
                    severity: alert.severity,
                    summary: alert.summary,
                    raised: local_time(state, alert.created_at),
                    repeats: alert.repeats,
                })
                .collect();
            let events = store
                .incident_events(school, scope, incident.id)
                .await?
                .into_iter()
                .map(|event| EventView {
                    at: local_time(state, event.at),
                    site: event.url.unwrap_or(event.host),
                    categories: event.categories,
                    device: event.device.unwrap_or(event.client_ip),
                })
                .collect();
            (alerts, events)
        } else {
            (Vec::new(), Vec::new())
        };
        let mut corrected_by: HashMap<i64, i64> = HashMap::new();
        for entry in &entries {
            if let Some(old) = entry.corrects {
                corrected_by.insert(old, entry.id);
            }
        }
        let entries = entries
            .iter()
            .filter(|entry| manage || entry.kind == EntryKind::Note)
            .map(|entry| EntryView {
                id: entry.id,
                at: local_time(state, entry.at),
                actor: entry.actor.clone(),
                what: describe(state, audience, entry),
                note: entry.note.clone(),
                corrects: entry.corrects,
                corrected_by: corrected_by.get(&entry.id).copied(),
                is_note: entry.kind == EntryKind::Note,
            })
            .collect();
        let open = incident.status == IncidentStatus::Open;
        Ok(ShowPage {
            layout: Layout::for_user(state, user, &format!("Incident {}", incident.id)).await,
            id: incident.id,
            line: line(state, incident),
            username: incident.username.clone(),
            station: incident.station.clone(),
            occurred: incident
                .occurred_at
                .map(|at| local_time(state, at))
                .unwrap_or_default(),
            evidence: incident.evidence.clone(),
            reported_by: incident.reported_by.clone(),
            created_by: incident.created_by.clone(),
            closed: match (&incident.closed_by, incident.closed_at) {
                (Some(by), Some(at)) => format!("{} by {by}", local_time(state, at)),
                _ => String::new(),
            },
            open,
            manage,
            can_sign_off: open && progress.complete() && user.can(Permission::SignOffIncidents),
            person: incident.person.filter(|_| manage).map(|p| p.0),
            steps,
            complete: progress.complete(),
            suggested,
            escalation,
            actions: table
                .actions
                .iter()
                .map(|a| (a.id.clone(), a.title.clone()))
                .collect(),
            taken,
            earlier,
            alerts,
            events,
            entries,
        })
    }
}

/// `GET /incidents/{id}`.
pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Permission::RecordIncident)?;
    let incident = state
        .store()
        .incident(user.account.school, scope(&user), id)
        .await?;
    render(&ShowPage::new(&state, &user, &incident).await?)
}

/// A note, or a correction of one.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NoteForm {
    note: String,
    corrects: Option<i64>,
}

/// `POST /incidents/{id}/notes`: appends a note (a correction names the note it corrects).
pub async fn note(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<NoteForm>,
) -> Result<Response, AppError> {
    user.require(Permission::RecordIncident)?;
    let store = state.store();
    let entry = NewEntry::note(&form.note, form.corrects);
    let entry_id = store
        .add_incident_entry(
            user.account.school,
            scope(&user),
            id,
            &user.account.username,
            &entry,
        )
        .await
        .map_err(refused)?;
    let (action, detail) = match form.corrects {
        Some(old) => (
            "incident.correct",
            format!("entry {entry_id} corrects entry {old}"),
        ),
        None => ("incident.note", format!("entry {entry_id}")),
    };
    user.record(store, action, &format!("incident:{id}"), detail, None)
        .await?;
    Ok(Redirect::to(&format!("/incidents/{id}#entries")).into_response())
}

/// An answer to a step of the procedure.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StepForm {
    step: String,
    answer: String,
    note: String,
}

/// `POST /incidents/{id}/steps`: answers a step of the procedure, or changes an answer (a new
/// entry correcting the earlier one). A child-protection answer changes who can see it.
pub async fn step(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<StepForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageIncidents)?;
    let store = state.store();
    let school = user.account.school;
    let incident = store.incident(school, IncidentScope::All, id).await?;
    let audience = audience(&incident)?;
    let entries = store
        .incident_entries(school, IncidentScope::All, id)
        .await?;
    let current = answers(&entries);
    let progress = progress(audience, &current);
    let Some((step, _)) = progress.steps.iter().find(|(s, _)| s.id == form.step) else {
        return Err(AppError::BadRequest(
            "That step does not apply to this incident (yet).".into(),
        ));
    };
    let Some(answer) = step.answer(&form.answer) else {
        return Err(AppError::BadRequest("Choose one of the answers.".into()));
    };
    let corrects = current.get(step.id).map(|entry| entry.id);
    let entry = NewEntry {
        kind: EntryKind::Step,
        step: step.id.into(),
        answer: answer.id.into(),
        note: form.note,
        corrects,
        child_protection: (step.id == CHILD_PROTECTION.0)
            .then_some(answer.id == CHILD_PROTECTION.1),
    };
    store
        .add_incident_entry(
            school,
            IncidentScope::All,
            id,
            &user.account.username,
            &entry,
        )
        .await
        .map_err(refused)?;
    user.record(
        store,
        "incident.step",
        &format!("incident:{id}"),
        format!(
            "{}: {}{}",
            step.id,
            answer.label,
            if corrects.is_some() { " (changed)" } else { "" }
        ),
        None,
    )
    .await?;
    Ok(Redirect::to(&format!("/incidents/{id}#procedure")).into_response())
}

/// An action taken.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActionForm {
    action: String,
    note: String,
}

/// `POST /incidents/{id}/actions`: records an action of the sanctions table as taken (who and
/// when are the entry's; the note says to whom, or what).
pub async fn action(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<ActionForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageIncidents)?;
    let store = state.store();
    let school = user.account.school;
    let incident = store.incident(school, IncidentScope::All, id).await?;
    let Some(action) = table(&state, audience(&incident)?).action(&form.action) else {
        return Err(AppError::BadRequest("Choose the action taken.".into()));
    };
    let entry = NewEntry {
        kind: EntryKind::Action,
        step: action.id.clone(),
        answer: String::new(),
        note: form.note,
        corrects: None,
        child_protection: None,
    };
    store
        .add_incident_entry(
            school,
            IncidentScope::All,
            id,
            &user.account.username,
            &entry,
        )
        .await
        .map_err(refused)?;
    user.record(
        store,
        "incident.action",
        &format!("incident:{id}"),
        action.title.clone(),
        None,
    )
    .await?;
    Ok(Redirect::to(&format!("/incidents/{id}#sanctions")).into_response())
}

/// The sign-off's note.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignOffForm {
    note: String,
}

/// `POST /incidents/{id}/signoff`: the DSL closes an incident whose procedure is complete.
pub async fn sign_off(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<SignOffForm>,
) -> Result<Response, AppError> {
    user.require(Permission::SignOffIncidents)?;
    let store = state.store();
    let school = user.account.school;
    let incident = store.incident(school, IncidentScope::All, id).await?;
    let entries = store
        .incident_entries(school, IncidentScope::All, id)
        .await?;
    if let Some(next) = progress(audience(&incident)?, &answers(&entries)).next() {
        return Err(AppError::BadRequest(format!(
            "The procedure is not complete: \"{}\" has no answer yet.",
            next.question
        )));
    }
    store
        .sign_off_incident(school, id, &user.account.username, &form.note)
        .await
        .map_err(refused)?;
    user.record(
        store,
        "incident.signoff",
        &format!("incident:{id}"),
        format!("{} signed off", kind_title(&state, &incident)),
        (!form.note.trim().is_empty()).then(|| form.note.trim().to_owned()),
    )
    .await?;
    Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
}

// ---------------------------------------------------------------------------------------------
// A person's chronology

/// A line of a chronology.
pub struct ChronologyLine {
    at: String,
    what: String,
    link: String,
    note: String,
}

#[derive(Template)]
#[template(path = "chronology.html")]
struct ChronologyPage {
    layout: Layout,
    name: String,
    lines: Vec<ChronologyLine>,
}

/// `GET /people/{id}/chronology`: the person's incidents, everything recorded on them, and the
/// alerts about them, in time order. Audited: it is a named child's safeguarding record.
pub async fn chronology(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageIncidents)?;
    let store = state.store();
    let school = user.account.school;
    let person = store.person(school, PersonId(id)).await?;
    user.record(
        store,
        "person.chronology",
        &format!("person:{id}"),
        format!("chronology of {}", person.username),
        None,
    )
    .await?;
    let mut lines: Vec<(jiff::Timestamp, ChronologyLine)> = Vec::new();
    let incidents = store
        .incidents(
            school,
            IncidentScope::All,
            &IncidentFilter {
                person: Some(person.id),
                limit: LIST_LIMIT,
                ..IncidentFilter::default()
            },
        )
        .await?;
    for incident in &incidents {
        let link = format!("/incidents/{}", incident.id);
        lines.push((
            incident.created_at,
            ChronologyLine {
                at: local_time(&state, incident.created_at),
                what: format!(
                    "Incident {} recorded by {}: {}",
                    incident.id,
                    incident.created_by,
                    kind_title(&state, incident)
                ),
                link: link.clone(),
                note: incident.evidence.clone(),
            },
        ));
        let audience = audience(incident)?;
        for entry in store
            .incident_entries(school, IncidentScope::All, incident.id)
            .await?
        {
            lines.push((
                entry.at,
                ChronologyLine {
                    at: local_time(&state, entry.at),
                    what: format!(
                        "Incident {}: {} ({})",
                        incident.id,
                        describe(&state, audience, &entry),
                        entry.actor
                    ),
                    link: link.clone(),
                    note: entry.note,
                },
            ));
        }
    }
    let alerts = store
        .alerts(
            school,
            &AlertFilter {
                status: None,
                subject: Some(format!("person:{id}")),
                incident: None,
                limit: LIST_LIMIT,
            },
        )
        .await?;
    for alert in alerts {
        lines.push((
            alert.created_at,
            ChronologyLine {
                at: local_time(&state, alert.created_at),
                what: format!(
                    "Alert {} (severity {}, {}): {}",
                    alert.id,
                    alert.severity,
                    alert.status.label().to_lowercase(),
                    alert.summary
                ),
                link: format!("/alerts/{}", alert.id),
                note: String::new(),
            },
        ));
    }
    lines.sort_by_key(|(at, _)| *at);
    render(&ChronologyPage {
        layout: Layout::for_user(&state, &user, "Chronology").await,
        name: format!(
            "{} {} ({})",
            person.given_name, person.family_name, person.username
        ),
        lines: lines.into_iter().map(|(_, line)| line).collect(),
    })
}
