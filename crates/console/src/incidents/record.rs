//! Recording an incident as Appendix 1 asks (from an alert or not), and escalating an alert
//! into an open incident.

use super::*;

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
pub(super) struct NewPage {
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
    incident: Option<IncidentId>,
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
    let incident = form
        .incident
        .ok_or_else(|| AppError::BadRequest("Choose the incident to add the alert to.".into()))?;
    let store = state.store();
    store
        .link_alert_to_incident(user.account.school, incident, alert, &user.account.username)
        .await
        .map_err(refused)?;
    user.record(
        store,
        "alert.escalate",
        &format!("alert:{alert}"),
        format!("added to incident {incident}"),
        None,
    )
    .await?;
    Ok(Redirect::to(&format!("/incidents/{incident}")).into_response())
}

// ---------------------------------------------------------------------------------------------
// One incident
