//! Recording an incident as Appendix 1 asks (from an alert or not), and escalating an alert
//! into an open incident.

use super::*;

/// The record form's fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RecordForm {
    /// `pupil:KIND` or `staff:KIND` (a row of a sanctions table, which also says whom it is
    /// about) or `welfare:TYPE` (a concern about a pupil's welfare).
    kind: String,
    username: String,
    /// The person chosen (an id) when the username or name typed matched several; empty if
    /// none was.
    person: String,
    /// Other pupils involved: usernames or names, separated by commas or lines.
    others: String,
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
    /// The people the name typed may mean, `(id, "Given Family (username), class")`, when it
    /// matched several.
    choices: Vec<(i64, String)>,
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
            });
        let welfare = KindGroup {
            audience: "Welfare concern",
            title: "about a pupil's safety or wellbeing".into(),
            options: ward_records::CONCERN_TYPES
                .iter()
                .map(|kind| (format!("welfare:{}", kind.id), kind.title.to_owned()))
                .collect(),
        };
        let kinds = std::iter::once(welfare).chain(kinds).collect();
        Ok(NewPage {
            layout: Layout::for_user(state, user, "Record an incident").await,
            form,
            kinds,
            alert_summary,
            message,
            choices: Vec::new(),
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
        // What the alert found about a pupil's own searches or words is a welfare concern
        // (a suicidal search is not misuse); the DSL can choose otherwise.
        let mut kind = ward_records::concern_for_alert(&alert.category)
            .map(|concern| format!("welfare:{}", concern.id))
            .unwrap_or_default();
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
    let Some((audience, welfare, kind)) = form.kind.split_once(':').and_then(|(group, kind)| {
        if group == "welfare" {
            ward_records::concern_type(kind).map(|_| (Audience::Pupil, true, kind))
        } else {
            let audience = group.parse::<Audience>().ok()?;
            table(&state, audience)
                .incident(kind)
                .map(|_| (audience, false, kind))
        }
    }) else {
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
    let alert = match form.alert {
        Some(alert) => Some(store.alert(school, alert).await?),
        None => None,
    };
    // Whom it is about: the person chosen, else the alert's, else whom the name typed means.
    let chosen = match form.person.trim() {
        "" => None,
        id => Some(
            id.parse::<i64>()
                .map_err(|_| AppError::BadRequest("Choose who it is about.".into()))?,
        ),
    };
    let person = match (chosen, alert.as_ref().and_then(|a| a.person)) {
        (Some(chosen), _) => Some(store.person(school, PersonId(chosen)).await?.id),
        (None, Some(person)) => Some(person),
        (None, None) => {
            let found = store.people_matching(school, &form.username, 10).await?;
            match found.as_slice() {
                [] => None,
                [one] => Some(one.id),
                several => {
                    let mut page = NewPage::new(
                        &state,
                        &user,
                        form.clone(),
                        format!(
                            "Several people match \"{}\": choose who it is about.",
                            form.username.trim()
                        ),
                    )
                    .await?;
                    page.choices = several.iter().map(choice).collect();
                    return Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response());
                }
            }
        }
    };
    let mut others = Vec::new();
    for name in form
        .others
        .split([',', ';', '\n'])
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        match crate::people::one_person(&state, school, name).await? {
            Ok(one) => others.push(one.id),
            Err(why) => return problem(format!("Other pupils involved: {why}")).await,
        }
    }
    let device = match alert.as_ref().and_then(|a| a.device) {
        Some(device) => Some(device),
        None => device_for_station(&state, school, &form.station).await?,
    };
    let incident = NewIncident {
        audience: audience.as_str().into(),
        kind: kind.into(),
        welfare,
        person,
        others,
        device,
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
            if welfare {
                "Welfare concern"
            } else {
                audience.label()
            },
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

/// A person as a choice: their id, and "Given Family (username), class or role".
fn choice(person: &ward_store::Person) -> (i64, String) {
    let mut words = format!(
        "{} {} ({})",
        person.given_name, person.family_name, person.username
    );
    if let Some(detail) = person.class_name.as_ref().or(person.job_role.as_ref()) {
        words.push_str(&format!(", {detail}"));
    }
    if person.left_at.is_some() {
        words.push_str(", left");
    }
    (person.id.0, words)
}

/// The device a station typed names: one whose name it is (case does not matter), or whose
/// network holds the address typed.
async fn device_for_station(
    state: &AppState,
    school: ward_store::SchoolId,
    station: &str,
) -> Result<Option<ward_store::DeviceId>, AppError> {
    let station = station.trim();
    if station.is_empty() {
        return Ok(None);
    }
    let address = station.parse::<std::net::IpAddr>().ok();
    let devices = state.store().devices(school).await?;
    let named = devices
        .iter()
        .find(|device| device.name.eq_ignore_ascii_case(station));
    let holding = || {
        address.and_then(|ip| {
            devices
                .iter()
                .filter(|device| device.network.contains(ip))
                .max_by_key(|device| device.network.prefix())
        })
    };
    Ok(named.or_else(holding).map(|device| device.id))
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
