//! The alert queue (DESIGN.md M3, M4): what the DSL (and the headteacher) triage. The queue
//! lists alerts by status, most severe first; an alert's page shows what happened, its history
//! and the moves its status allows (false positive and closing need a reason); the person's
//! surrounding activity is shown only when a reason is given, which is audited before anything
//! is shown. Every change is audited too.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::SignedDuration;
use serde::Deserialize;
use ward_store::{
    ActivityQuery, Alert, AlertFilter, AlertId, AlertNarrowing, AlertSource, AlertStatus, EventRow,
    IncidentFilter, IncidentId, IncidentScope, IncidentStatus,
};

use crate::auth::CurrentUser;
use crate::layout::{Layout, local_time, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

/// How far either side of an alert its surrounding activity reaches.
const CONTEXT: SignedDuration = SignedDuration::from_mins(30);

/// Most alerts one tab lists.
const QUEUE_LIMIT: i64 = 500;

/// An alert as the queue and its page show it.
pub struct AlertLine {
    id: AlertId,
    severity: u8,
    raised: String,
    last_seen: String,
    repeats: i64,
    category: String,
    source: &'static str,
    who: String,
    summary: String,
    status: &'static str,
    /// The colleague's name it is assigned to (empty: no one).
    assigned: String,
}

fn who(alert: &Alert) -> String {
    let mut parts = Vec::new();
    match (&alert.person_name, &alert.username) {
        (Some(name), _) => parts.push(name.clone()),
        (None, Some(user)) => parts.push(format!("user {user}")),
        (None, None) => {}
    }
    if let Some(device) = &alert.device_name {
        parts.push(format!("on {device}"));
    }
    if let Some(ip) = &alert.client_ip {
        parts.push(format!("({ip})"));
    }
    if let Some(by) = alert.identified_by
        && (alert.person_name.is_some() || alert.username.is_some())
    {
        parts.push(format!("· {}", by.short()));
    }
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join(" ")
    }
}

fn line(state: &AppState, alert: &Alert) -> AlertLine {
    AlertLine {
        id: alert.id,
        severity: alert.severity,
        raised: local_time(state, alert.created_at),
        last_seen: local_time(state, alert.last_seen),
        repeats: alert.repeats,
        category: state.config().watched.category_name(&alert.category),
        source: alert.source.as_str(),
        who: who(alert),
        summary: alert.summary.clone(),
        status: alert.status.label(),
        assigned: alert.assigned_to.clone().unwrap_or_default(),
    }
}

/// A tab of the queue.
pub struct Tab {
    status: &'static str,
    label: &'static str,
    count: i64,
    current: bool,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct QueuePage {
    layout: Layout,
    tabs: Vec<Tab>,
    alerts: Vec<AlertLine>,
    status: &'static str,
    status_label: &'static str,
    limit: i64,
    query: QueueQuery,
    /// The filters as a query string (for the tabs and for coming back after a bulk change).
    filters: String,
    filtered: bool,
    categories: Vec<(String, String)>,
    colleagues: Vec<(String, String)>,
    /// What a bulk change did, or why the filters could not be used.
    message: String,
    /// The moves a bulk change may make from this tab: (status, label, needs a note).
    moves: Vec<(&'static str, &'static str, bool)>,
    /// After a refused bulk change: the alerts that were ticked, the action and the note.
    ticked: Vec<AlertId>,
    chosen: String,
    note: String,
}

/// The queue's tab and filters, and what the last bulk change did.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct QueueQuery {
    status: String,
    /// A pupil: username, UPN or name.
    person: String,
    class: String,
    year: String,
    /// Lowest severity, 1 to 5.
    severity: String,
    category: String,
    from: String,
    to: String,
    /// `me`, `none`, or empty for anyone.
    assigned: String,
    /// After a bulk change: how many changed, how many were refused.
    changed: Option<u64>,
    refused: Option<u64>,
}

impl QueueQuery {
    /// The filters (not the tab) as a query string.
    fn filters(&self) -> String {
        let pairs = [
            ("person", &self.person),
            ("class", &self.class),
            ("year", &self.year),
            ("severity", &self.severity),
            ("category", &self.category),
            ("from", &self.from),
            ("to", &self.to),
            ("assigned", &self.assigned),
        ];
        serde_urlencoded::to_string(
            pairs
                .iter()
                .filter(|(_, value)| !value.trim().is_empty())
                .map(|(key, value)| (*key, value.trim()))
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default()
    }

    /// The store's narrowing, or what is wrong with a filter (the pupil is looked up first:
    /// the database failing is an error, not a message).
    async fn narrowing(
        &self,
        state: &AppState,
        user: &CurrentUser,
    ) -> Result<Result<AlertNarrowing, String>, AppError> {
        let person = match self.person.trim() {
            "" => None,
            text => match crate::people::one_person(state, user.account.school, text).await? {
                Ok(person) => Some(person.id),
                Err(why) => return Ok(Err(why)),
            },
        };
        Ok(self.narrowing_for(state, user, person))
    }

    /// [`QueueQuery::narrowing`], the pupil found.
    fn narrowing_for(
        &self,
        state: &AppState,
        user: &CurrentUser,
        person: Option<ward_store::PersonId>,
    ) -> Result<AlertNarrowing, String> {
        let given = |text: &str| Some(text.trim().to_owned()).filter(|text| !text.is_empty());
        let min_severity = match given(&self.severity) {
            None => None,
            Some(text) => Some(
                text.parse::<u8>()
                    .ok()
                    .filter(|severity| (1..=5).contains(severity))
                    .ok_or_else(|| format!("Severity {text:?} is not 1 to 5."))?,
            ),
        };
        let to = crate::layout::parse_day(state, &self.to, "to")?
            .map(|day| day + SignedDuration::from_hours(24));
        Ok(AlertNarrowing {
            person,
            class: given(&self.class),
            year: given(&self.year),
            min_severity,
            category: given(&self.category),
            from: crate::layout::parse_day(state, &self.from, "from")?,
            to,
            assigned_to: match self.assigned.as_str() {
                "me" => Some(user.account.username.clone()),
                "none" => Some(String::new()),
                _ => None,
            },
        })
    }
}

/// Colleagues who triage alerts, as (username, name), for assigning.
async fn colleagues(
    state: &AppState,
    user: &CurrentUser,
) -> Result<Vec<(String, String)>, AppError> {
    Ok(state
        .store()
        .accounts(user.account.school)
        .await?
        .into_iter()
        .filter(|account| {
            !account.disabled && crate::roles::allows(&account.roles, Permission::TriageAlerts)
        })
        .map(|account| (account.username, account.display_name))
        .collect())
}

/// `GET /alerts?status=new&person=…&class=…&year=…&severity=…&category=…&from=…&to=…&assigned=…`.
pub async fn queue(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<QueueQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::TriageAlerts)?;
    queue_page(&state, &user, query, None).await
}

/// What a refused bulk change sent, shown again: the message, the alerts ticked, the action
/// chosen and the note typed.
struct Refused {
    message: String,
    ticked: Vec<AlertId>,
    action: String,
    note: String,
}

/// The queue page for `query`; after a refused bulk change, with what was sent still in the form.
async fn queue_page(
    state: &AppState,
    user: &CurrentUser,
    query: QueueQuery,
    refused: Option<Refused>,
) -> Result<Response, AppError> {
    let store = state.store();
    let school = user.account.school;
    let status = match query.status.as_str() {
        "" => AlertStatus::New,
        text => text
            .parse()
            .map_err(|_| AppError::BadRequest(format!("{text:?} is not an alert status")))?,
    };
    let tabs = store
        .alert_counts(school)
        .await?
        .into_iter()
        .map(|(tab, count)| Tab {
            status: tab.as_str(),
            label: tab.label(),
            count,
            current: tab == status,
        })
        .collect();
    let mut message = match (query.changed, query.refused) {
        (Some(changed), Some(refused)) if refused > 0 => format!(
            "{changed} alert(s) changed; {refused} could not be (someone else moved them, or \
             they cannot make that move)."
        ),
        (Some(changed), _) => format!("{changed} alert(s) changed."),
        _ => String::new(),
    };
    let colleagues = colleagues(state, user).await?;
    let named = |mut line: AlertLine| {
        if let Some((_, name)) = colleagues
            .iter()
            .find(|(username, _)| *username == line.assigned)
        {
            line.assigned.clone_from(name);
        }
        line
    };
    let alerts = match query.narrowing(state, user).await? {
        Ok(narrow) => store
            .alerts(
                school,
                &AlertFilter {
                    narrow,
                    ..AlertFilter::status(status, QUEUE_LIMIT)
                },
            )
            .await?
            .iter()
            .map(|alert| named(line(state, alert)))
            .collect(),
        Err(problem) => {
            message = problem;
            Vec::new()
        }
    };
    let watched = &state.config().watched;
    let categories = store
        .alert_categories(school)
        .await?
        .into_iter()
        .map(|id| {
            let name = watched.category_name(&id);
            (id, name)
        })
        .collect();
    let mut layout = Layout::for_user(state, user, "Alerts").await;
    // The queue lists the unopened severity-5 alerts itself, gravest first: no banner here.
    if let Some(nav) = &mut layout.user {
        nav.waiting.urgent.clear();
    }
    let filters = query.filters();
    let status_code = if refused.is_some() {
        axum::http::StatusCode::BAD_REQUEST
    } else {
        axum::http::StatusCode::OK
    };
    let (ticked, chosen, note) = match refused {
        Some(refused) => {
            message = refused.message;
            (refused.ticked, refused.action, refused.note)
        }
        None => (Vec::new(), String::new(), String::new()),
    };
    let page = QueuePage {
        layout,
        tabs,
        alerts,
        status: status.as_str(),
        status_label: status.label(),
        limit: QUEUE_LIMIT,
        filtered: !filters.is_empty(),
        filters,
        query,
        categories,
        colleagues,
        message,
        moves: AlertStatus::ALL
            .into_iter()
            .filter(|next| status.can_become(*next) && *next != AlertStatus::Escalated)
            .map(|next| {
                (
                    next.as_str(),
                    move_names(status, next).0,
                    next.needs_note(status),
                )
            })
            .collect(),
        ticked,
        chosen,
        note,
    };
    Ok((status_code, render(&page)?).into_response())
}

/// `POST /alerts/bulk`: the alerts ticked (`alert`, once or more) are moved to `status` (with
/// `note` where the move needs a reason) or assigned to `assignee` (`action` = `assign`; an
/// empty assignee removes the assignment). Each alert moves on its own: one someone else moved
/// meanwhile is counted as refused, not an error for the rest. Audited per alert. Back to the
/// queue as it was (`back`: its tab and filters).
pub async fn bulk(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(Permission::TriageAlerts)?;
    let store = state.store();
    let school = user.account.school;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    };
    let ids: Vec<AlertId> = fields
        .iter()
        .filter(|(key, _)| key == "alert")
        .map(|(_, value)| {
            value
                .parse::<i64>()
                .map(AlertId)
                .map_err(|_| AppError::BadRequest(format!("{value:?} is not an alert")))
        })
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Err(AppError::BadRequest("Tick the alerts to change.".into()));
    }
    // Back to the same tab and filters: only the queue's own parameters pass.
    let back: QueueQuery = serde_urlencoded::from_str(field("back")).unwrap_or_default();
    let back_to = {
        let filters = back.filters();
        match back.status.as_str() {
            "" => filters,
            status => {
                let status = serde_urlencoded::to_string([("status", status)]).unwrap_or_default();
                if filters.is_empty() {
                    status
                } else {
                    format!("{status}&{filters}")
                }
            }
        }
    };
    let (mut changed, mut refused) = (0u64, 0u64);
    match field("action") {
        "assign" => {
            let assignee = field("assignee").trim();
            let names = colleagues(&state, &user).await?;
            let assignee = match assignee {
                "" => None,
                username => Some(
                    names
                        .iter()
                        .find(|(name, _)| name == username)
                        .map(|(name, _)| name.as_str())
                        .ok_or_else(|| {
                            AppError::BadRequest("Choose a colleague who triages alerts.".into())
                        })?,
                ),
            };
            for id in &ids {
                store.alert(school, *id).await?;
            }
            changed = store
                .assign_alerts(school, &ids, assignee, &user.account.username)
                .await?;
            refused = ids.len() as u64 - changed;
            for id in &ids {
                user.record(
                    store,
                    "alert.assign",
                    &format!("alert:{id}"),
                    assignee.map_or_else(
                        || "unassigned".to_owned(),
                        |name| format!("assigned to {name}"),
                    ),
                    None,
                )
                .await?;
            }
            // The colleague is told, as with "alert these staff".
            if let Some(name) = assignee.filter(|name| *name != user.account.username) {
                let account = store
                    .account_by_username(name)
                    .await?
                    .filter(|account| account.school == school);
                if let Some(account) = account {
                    for id in &ids {
                        store
                            .send_notices(
                                school,
                                &user.account.username,
                                &[account.id],
                                &format!("alert:{id}"),
                                "Assigned to you",
                            )
                            .await?;
                    }
                }
            }
        }
        status => {
            let status: AlertStatus = status
                .parse()
                .map_err(|_| AppError::BadRequest("Choose what to do with them.".into()))?;
            if status == AlertStatus::Escalated {
                return Err(AppError::BadRequest(
                    "Escalating needs an incident's record: open the alert to escalate it.".into(),
                ));
            }
            let note = field("note").trim();
            // A move that needs a reason is refused before anything changes, and the queue
            // comes back with the alerts still ticked.
            let mut needing = 0;
            for id in &ids {
                let alert = store.alert(school, *id).await?;
                if status.needs_note(alert.status) && note.chars().count() < 5 {
                    needing += 1;
                }
            }
            if needing > 0 {
                let refused = Refused {
                    message: format!(
                        "Nothing was changed: \u{201c}{}\u{201d} needs a reason (a few words at least), kept with each alert.",
                        move_names(AlertStatus::New, status).0
                    ),
                    ticked: ids.clone(),
                    action: status.as_str().to_owned(),
                    note: note.to_owned(),
                };
                return queue_page(&state, &user, back, Some(refused)).await;
            }
            for id in &ids {
                let alert = store.alert(school, *id).await?;
                match store
                    .change_alert(school, *id, &user.account.username, status, note, None)
                    .await
                {
                    Ok(()) => {
                        changed += 1;
                        user.record(
                            store,
                            move_names(alert.status, status).1,
                            &format!("alert:{id}"),
                            format!("{} (several at once)", status.label().to_lowercase()),
                            (!note.is_empty()).then(|| note.to_owned()),
                        )
                        .await?;
                    }
                    Err(ward_store::StoreError::Invalid(message)) => {
                        return Err(AppError::BadRequest(format!(
                            "Nothing more was changed: {message}."
                        )));
                    }
                    Err(ward_store::StoreError::Conflict(_)) => refused += 1,
                    Err(other) => return Err(other.into()),
                }
            }
        }
    }
    let separator = if back_to.is_empty() { "" } else { "&" };
    Ok(Redirect::to(&format!(
        "/alerts?{back_to}{separator}changed={changed}&refused={refused}"
    ))
    .into_response())
}

/// A move's button label and audit action.
fn move_names(from: AlertStatus, to: AlertStatus) -> (&'static str, &'static str) {
    match (from, to) {
        (AlertStatus::FalsePositive | AlertStatus::Closed, AlertStatus::Triaged) => {
            ("Reopen", "alert.reopen")
        }
        (_, AlertStatus::Triaged) => ("Mark triaged", "alert.triage"),
        (_, AlertStatus::FalsePositive) => ("False positive", "alert.false-positive"),
        (_, AlertStatus::Escalated) => ("Escalate to an incident", "alert.escalate"),
        (_, AlertStatus::Closed) => ("Close", "alert.close"),
        (_, AlertStatus::New) => ("New", "alert.new"),
    }
}

/// A status an alert may move to, as a button.
pub struct Move {
    status: &'static str,
    label: &'static str,
    needs_note: bool,
}

/// A change in the alert's history.
pub struct ChangeLine {
    at: String,
    actor: String,
    status: &'static str,
    note: String,
}

#[derive(Template)]
#[template(path = "alert_show.html")]
struct ShowPage {
    layout: Layout,
    alert: AlertLine,
    /// How the front end knew who it was.
    identified_by: Option<ward_store::IdentifiedBy>,
    detail: String,
    notified: String,
    /// When it was first opened, and by whom.
    opened: String,
    incident: Option<IncidentId>,
    has_subject: bool,
    can_escalate: bool,
    /// For a detection alert, links to the exclusion form prefilled (the DSL's).
    exclusions: Vec<(String, String)>,
    open_incidents: Vec<(IncidentId, String)>,
    history: Vec<ChangeLine>,
    moves: Vec<Move>,
    message: String,
    note: String,
    reason: String,
    context: Option<Vec<ContextLine>>,
    /// Colleagues told about it, and whom one may tell.
    tell: crate::tell::TellBox,
}

/// A blocked request near the alert.
pub struct ContextLine {
    at: String,
    event: EventRow,
}

impl ShowPage {
    async fn new(
        state: &AppState,
        user: &CurrentUser,
        alert: &Alert,
    ) -> Result<ShowPage, AppError> {
        let store = state.store();
        let history = store
            .alert_changes(user.account.school, alert.id)
            .await?
            .into_iter()
            .map(|change| ChangeLine {
                at: local_time(state, change.at),
                actor: change.actor,
                status: change.status.label(),
                note: change.note,
            })
            .collect();
        // Escalating records an incident (its own form), so it is not one of the buttons.
        let can_escalate = alert.status.can_become(AlertStatus::Escalated)
            && user.can(Permission::ManageIncidents);
        let open_incidents = match alert.person {
            Some(person) if can_escalate => store
                .incidents(
                    user.account.school,
                    IncidentScope::All,
                    &IncidentFilter {
                        status: Some(IncidentStatus::Open),
                        person: Some(person),
                        limit: 20,
                        ..IncidentFilter::default()
                    },
                )
                .await?
                .into_iter()
                .map(|incident| (incident.id, local_time(state, incident.created_at)))
                .collect(),
            _ => Vec::new(),
        };
        let moves = AlertStatus::ALL
            .into_iter()
            .filter(|next| alert.status.can_become(*next) && *next != AlertStatus::Escalated)
            .map(|next| Move {
                status: next.as_str(),
                label: move_names(alert.status, next).0,
                needs_note: next.needs_note(alert.status),
            })
            .collect();
        let exclusions = if alert.source == AlertSource::Detection
            && user.can(Permission::ExcludeFromDetection)
        {
            crate::detection::exclusion_links(alert)
        } else {
            Vec::new()
        };
        // Before the frame: opening the alert reads what was sent about it, so the banner
        // no longer lists it.
        let tell = crate::tell::TellBox::for_target(
            state,
            user,
            &format!("alert:{}", alert.id),
            format!("/alerts/{}/tell", alert.id),
        )
        .await?;
        let mut shown = line(state, alert);
        if let Some(username) = &alert.assigned_to
            && let Some(account) = store.account_by_username(username).await?
        {
            shown.assigned = account.display_name;
        }
        Ok(ShowPage {
            layout: Layout::for_user(state, user, &format!("Alert {}", alert.id)).await,
            alert: shown,
            identified_by: alert.identified_by,
            detail: alert.detail.clone(),
            notified: alert
                .notified_at
                .map(|at| local_time(state, at))
                .unwrap_or_default(),
            opened: alert
                .opened
                .as_ref()
                .map(|(at, by)| format!("{}, by {by}", local_time(state, *at)))
                .unwrap_or_default(),
            incident: alert.incident,
            has_subject: !alert.subject.is_empty(),
            can_escalate,
            exclusions,
            open_incidents,
            history,
            moves,
            message: String::new(),
            note: String::new(),
            reason: String::new(),
            context: None,
            tell,
        })
    }
}

/// `GET /alerts/{id}`.
pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<AlertId>,
) -> Result<Response, AppError> {
    user.require(Permission::TriageAlerts)?;
    let store = state.store();
    let mut alert = store.alert(user.account.school, id).await?;
    // The first opening is kept: a severity-5 alert stops waiting at the top of every page,
    // and the page says who first read it.
    if alert.opened.is_none() {
        let now = jiff::Timestamp::now();
        if store
            .mark_alert_opened(user.account.school, id, &user.account.username, now)
            .await?
        {
            alert.opened = Some((now, user.account.username.clone()));
        } else {
            alert = store.alert(user.account.school, id).await?;
        }
    }
    render(&ShowPage::new(&state, &user, &alert).await?)
}

/// The triage form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MoveForm {
    status: String,
    note: String,
}

/// `POST /alerts/{id}`: moves the alert to the form's status.
pub async fn change(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<AlertId>,
    axum::Form(form): axum::Form<MoveForm>,
) -> Result<Response, AppError> {
    user.require(Permission::TriageAlerts)?;
    let store = state.store();
    let school = user.account.school;
    let alert = store.alert(school, id).await?;
    let status: AlertStatus = form
        .status
        .parse()
        .map_err(|_| AppError::BadRequest("Choose what to do with the alert.".into()))?;
    if status == AlertStatus::Escalated {
        // An escalation is an incident: its record comes first.
        return Ok(Redirect::to(&format!("/incidents/new?alert={id}")).into_response());
    }
    let note = form.note.trim();
    let changed = store
        .change_alert(school, id, &user.account.username, status, note, None)
        .await;
    if let Err(error) = changed {
        let message = match error {
            ward_store::StoreError::Conflict(message)
            | ward_store::StoreError::Invalid(message) => message,
            other => return Err(other.into()),
        };
        let mut page = ShowPage::new(&state, &user, &store.alert(school, id).await?).await?;
        page.message = format!("Not changed: {message}.");
        page.note = note.to_owned();
        return Ok((axum::http::StatusCode::BAD_REQUEST, render(&page)?).into_response());
    }
    user.record(
        store,
        move_names(alert.status, status).1,
        &format!("alert:{id}"),
        format!(
            "{} → {}: {} ({}, severity {})",
            alert.status.label(),
            status.label(),
            alert.summary,
            alert.category,
            alert.severity
        ),
        (!note.is_empty()).then(|| note.to_owned()),
    )
    .await?;
    Ok(Redirect::to(&format!("/alerts/{id}")).into_response())
}

/// The surrounding-activity form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ContextForm {
    reason: String,
}

/// `POST /alerts/{id}/activity`: the blocked requests of the alert's person (or device, or
/// address) from half an hour before it was raised to half an hour after its last repeat. The
/// reason is audited before anything is shown.
pub async fn context(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<AlertId>,
    axum::Form(form): axum::Form<ContextForm>,
) -> Result<Response, AppError> {
    user.require(Permission::TriageAlerts)?;
    user.require(Permission::SearchActivity)?;
    let store = state.store();
    let school = user.account.school;
    let alert = store.alert(school, id).await?;
    let mut page = ShowPage::new(&state, &user, &alert).await?;
    let reason = form.reason.trim();
    page.reason = reason.to_owned();
    if reason.chars().count() < 5 {
        page.message =
            "Looking at someone's activity needs a reason, which is kept in the audit log.".into();
        return Ok((axum::http::StatusCode::BAD_REQUEST, render(&page)?).into_response());
    }
    let mut query = ActivityQuery {
        from: Some(alert.created_at - CONTEXT),
        to: Some(alert.last_seen + CONTEXT),
        limit: 200,
        ..ActivityQuery::default()
    };
    match (alert.person, alert.device, &alert.client_ip) {
        (Some(person), _, _) => query.person = Some(person),
        (None, Some(device), _) => query.device = Some(device),
        (None, None, Some(ip)) => query.client_ip = ip.clone(),
        (None, None, None) => {
            page.message = "This alert is about no one: there is no activity to show.".into();
            return Ok((axum::http::StatusCode::BAD_REQUEST, render(&page)?).into_response());
        }
    }
    user.record(
        store,
        "alert.context",
        &format!("alert:{id}"),
        format!(
            "activity of {} from {} to {}",
            alert.subject,
            local_time(&state, alert.created_at - CONTEXT),
            local_time(&state, alert.last_seen + CONTEXT)
        ),
        Some(reason.to_owned()),
    )
    .await?;
    page.context = Some(
        store
            .search_events(school, &query)
            .await?
            .into_iter()
            .map(|event| ContextLine {
                at: local_time(&state, event.at),
                event,
            })
            .collect(),
    );
    render(&page)
}
