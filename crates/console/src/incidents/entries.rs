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
    Path(id): Path<IncidentId>,
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
    let detail = format!(
        "{}: {}{}",
        step.id,
        answer.label,
        if corrects.is_some() { " (changed)" } else { "" }
    );
    append(&state, &user, id, &entry, "incident.step", |_| detail).await?;
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
    Path(id): Path<IncidentId>,
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
    let detail = action.title.clone();
    append(&state, &user, id, &entry, "incident.action", |_| detail).await?;
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
