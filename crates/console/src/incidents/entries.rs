//! What is added to an incident: notes and corrections, procedure answers, actions taken, and
//! the DSL's sign-off. Nothing is edited or deleted.

use super::*;

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
    Path(id): Path<IncidentId>,
    axum::Form(form): axum::Form<NoteForm>,
) -> Result<Response, AppError> {
    user.require(Permission::RecordIncident)?;
    let entry = NewEntry::note(&form.note, form.corrects);
    let (action, old) = match form.corrects {
        Some(old) => ("incident.correct", Some(old)),
        None => ("incident.note", None),
    };
    append(&state, &user, id, &entry, action, |entry_id| match old {
        Some(old) => format!("entry {entry_id} corrects entry {old}"),
        None => format!("entry {entry_id}"),
    })
    .await?;
    Ok(Redirect::to(&format!("/incidents/{id}#entries")).into_response())
}

/// Adds `entry` to the incident as the user may see it, and audits it as `action` with the
/// detail `detail` writes from the new entry's number.
async fn append(
    state: &AppState,
    user: &CurrentUser,
    id: IncidentId,
    entry: &NewEntry,
    action: &str,
    detail: impl FnOnce(i64) -> String,
) -> Result<(), AppError> {
    let store = state.store();
    let entry_id = store
        .add_incident_entry(
            user.account.school,
            scope(user),
            id,
            &user.account.username,
            entry,
        )
        .await
        .map_err(refused)?;
    user.record(
        store,
        action,
        &format!("incident:{id}"),
        detail(entry_id),
        None,
    )
    .await?;
    Ok(())
}

/// `POST /incidents/{id}/steps`: answers the steps of the procedure given in the form
/// (`answer:STEP` with `note:STEP`, several at once; or one as `step`, `answer`, `note`), or
/// changes an answer (a new entry correcting the earlier one). Each answer must apply given the
/// others; an answer that needs its reason (a decision not to refer, say) needs the note.
/// Nothing is recorded unless every answer given is acceptable. A child-protection answer
/// changes who can see the incident.
pub async fn step(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<IncidentId>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageIncidents)?;
    let store = state.store();
    let school = user.account.school;
    let incident = store.incident(school, IncidentScope::All, id).await?;
    let procedure = procedure(&incident)?;
    let entries = store
        .incident_entries(school, IncidentScope::All, id)
        .await?;
    let current = answers(&entries);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    // What was answered, as (step, answer id, note), in the procedure's order.
    let mut given: Vec<(&'static ward_records::Step, String, String)> = Vec::new();
    for step in procedure.steps() {
        let (answer, note) = match (field("step"), field(&format!("answer:{}", step.id))) {
            (_, Some(answer)) => (answer, field(&format!("note:{}", step.id))),
            (Some(single), None) if single == step.id => {
                (field("answer").unwrap_or(""), field("note"))
            }
            _ => continue,
        };
        given.push((
            step,
            answer.to_owned(),
            note.unwrap_or("").trim().to_owned(),
        ));
    }
    let sent: HashMap<&str, (String, String)> = given
        .iter()
        .map(|(step, answer, note)| (step.id, (answer.clone(), note.clone())))
        .collect();
    let refuse = |message: String| async {
        show::ShowPage::refused_steps(&state, &user, &incident, message, &sent).await
    };
    if given.is_empty() {
        return refuse("Choose an answer for at least one step.".into()).await;
    }
    let mut after: HashMap<&str, &str> = current
        .iter()
        .map(|(step, entry)| (*step, entry.answer.as_str()))
        .collect();
    let mut chosen = Vec::new();
    for (step, answer, note) in &given {
        let Some(answer) = step.answer(answer) else {
            return refuse(format!(
                "Choose one of the answers to \"{}\".",
                step.question
            ))
            .await;
        };
        if !answer.reason.is_empty() && note.is_empty() {
            return refuse(format!(
                "Not recorded: \"{}\" needs a note: {}.",
                answer.label,
                answer.reason.to_lowercase()
            ))
            .await;
        }
        after.insert(step.id, answer.id);
        chosen.push((*step, answer, note.as_str()));
    }
    let applying = Progress::of(procedure, |step| after.get(step).copied());
    for (step, _, _) in &chosen {
        if !applying.steps.iter().any(|(s, _)| s.id == step.id) {
            return refuse(format!(
                "Not recorded: \"{}\" does not apply to this incident (yet).",
                step.question
            ))
            .await;
        }
    }
    for (step, answer, note) in chosen {
        let corrects = current.get(step.id).map(|entry| entry.id);
        let entry = NewEntry {
            kind: EntryKind::Step,
            step: step.id.into(),
            answer: answer.id.into(),
            note: note.to_owned(),
            corrects,
            child_protection: (step.id == CHILD_PROTECTION.0)
                .then_some(answer.id == CHILD_PROTECTION.1),
        };
        let detail = format!(
            "{}: {}{}",
            step.id,
            answer.label,
            if corrects.is_some() { " (changed)" } else { "" }
        );
        append(&state, &user, id, &entry, "incident.step", |_| detail).await?;
    }
    Ok(Redirect::to(&format!("/incidents/{id}#procedure")).into_response())
}

/// `POST /incidents/{id}/actions`: records the actions chosen (`action`, once or more) as
/// taken: a column of the sanctions table, or a welfare action for a welfare concern. Who and
/// when are the entries'; the note says to whom, or what.
pub async fn action(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<IncidentId>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageIncidents)?;
    let store = state.store();
    let school = user.account.school;
    let incident = store.incident(school, IncidentScope::All, id).await?;
    let known = actions(&state, &incident)?;
    let note = fields
        .iter()
        .find(|(key, _)| key == "note")
        .map_or("", |(_, value)| value.as_str());
    let mut chosen = Vec::new();
    for (_, value) in fields.iter().filter(|(key, _)| key == "action") {
        if value.is_empty() {
            continue;
        }
        let Some((action, title)) = known.iter().find(|(known, _)| known == value) else {
            return Err(AppError::BadRequest("Choose the action taken.".into()));
        };
        if !chosen.iter().any(|(a, _)| a == &action) {
            chosen.push((action, title));
        }
    }
    if chosen.is_empty() {
        return Err(AppError::BadRequest("Choose the action taken.".into()));
    }
    for (action, title) in chosen {
        let entry = NewEntry {
            kind: EntryKind::Action,
            step: action.clone(),
            answer: String::new(),
            note: note.to_owned(),
            corrects: None,
            child_protection: None,
        };
        let detail = title.clone();
        append(&state, &user, id, &entry, "incident.action", |_| detail).await?;
    }
    Ok(Redirect::to(&format!("/incidents/{id}#sanctions")).into_response())
}

/// Whom to add to an incident.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PersonForm {
    /// A username, email, MIS id or name.
    name: String,
}

/// `POST /incidents/{id}/people`: adds a pupil (or anyone in the school's records) to an open
/// incident, so that it appears in their chronology too. A name that matches several people
/// is refused with the choices named.
pub async fn add_person(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<IncidentId>,
    axum::Form(form): axum::Form<PersonForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageIncidents)?;
    let store = state.store();
    let school = user.account.school;
    let person = crate::people::one_person(&state, school, &form.name)
        .await?
        .map_err(AppError::BadRequest)?;
    let added = store
        .add_person_to_incident(
            school,
            IncidentScope::All,
            id,
            person.id,
            &user.account.username,
        )
        .await
        .map_err(refused)?;
    if added {
        user.record(
            store,
            "incident.person",
            &format!("incident:{id}"),
            format!("added {} ({})", person.username, person.id),
            None,
        )
        .await?;
    }
    Ok(Redirect::to(&format!("/incidents/{id}#people")).into_response())
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
    Path(id): Path<IncidentId>,
    axum::Form(form): axum::Form<SignOffForm>,
) -> Result<Response, AppError> {
    user.require(Permission::SignOffIncidents)?;
    let store = state.store();
    let school = user.account.school;
    let incident = store.incident(school, IncidentScope::All, id).await?;
    let entries = store
        .incident_entries(school, IncidentScope::All, id)
        .await?;
    if let Some(next) = progress(procedure(&incident)?, &answers(&entries)).next() {
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
