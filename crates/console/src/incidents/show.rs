//! An incident's page: the procedure's steps, the sanctions table's suggestions, continued
//! infringement, linked alerts and blocked requests, the log with its corrections.

use super::*;

/// A step of the procedure as the page shows it.
pub struct StepView {
    id: &'static str,
    question: &'static str,
    guidance: &'static str,
    answers: Vec<(&'static str, &'static str)>,
    /// What the note must say for the answers that need one.
    reason: String,
    /// The answer and note sent with a form the server refused, shown again.
    chosen: String,
    typed: String,
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

/// An action that can be recorded, with whether the incident's type suggests it.
pub struct ActionChoice {
    id: String,
    title: String,
    suggested: bool,
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
pub(super) struct ShowPage {
    layout: Layout,
    id: IncidentId,
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
    people: Vec<(i64, String)>,
    device: String,
    procedure_title: &'static str,
    guidance: &'static str,
    pending: Vec<StepView>,
    done: Vec<StepView>,
    complete: bool,
    suggested_from: &'static str,
    suggested: Vec<ActionView>,
    escalation: Option<(String, Vec<ActionView>)>,
    actions: Vec<ActionChoice>,
    taken: Vec<TakenView>,
    earlier: Vec<IncidentLine>,
    alerts: Vec<AlertView>,
    events: Vec<EventView>,
    entries: Vec<EntryView>,
    /// Why the form just sent was refused.
    message: String,
    /// Colleagues told about it, and whom one may tell (those who manage incidents).
    tell: crate::tell::TellBox,
    /// Files attached.
    files: Vec<super::files::FileView>,
    /// The largest file the console takes, as words.
    upload_limit: String,
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
        let procedure = procedure(incident)?;
        let entries = store.incident_entries(school, scope, incident.id).await?;
        let manage = user.can(Permission::ManageIncidents);
        let current = answers(&entries);
        let progress = progress(procedure, &current);
        let steps: Vec<StepView> = progress
            .steps
            .iter()
            .map(|(step, answer)| {
                let entry = current.get(step.id);
                StepView {
                    id: step.id,
                    question: step.question,
                    guidance: step.guidance,
                    answers: step.answers.iter().map(|a| (a.id, a.label)).collect(),
                    reason: step
                        .answers
                        .iter()
                        .filter(|a| !a.reason.is_empty())
                        .map(|a| {
                            format!(
                                "if \u{201c}{}\u{201d}: {}",
                                a.label,
                                a.reason.to_lowercase()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                    chosen: String::new(),
                    typed: String::new(),
                    answered: answer.is_some(),
                    answer: answer.map_or("", |a| a.label),
                    then: answer.map_or("", |a| a.then),
                    by: entry.map(|e| e.actor.clone()).unwrap_or_default(),
                    at: entry.map(|e| local_time(state, e.at)).unwrap_or_default(),
                    note: entry.map(|e| e.note.clone()).unwrap_or_default(),
                }
            })
            .collect();
        let (pending, done): (Vec<StepView>, Vec<StepView>) =
            steps.into_iter().partition(|step| !step.answered);
        let audience = audience(incident)?;
        let table = table(state, audience);
        let taken_ids: Vec<&str> = entries
            .iter()
            .filter(|e| e.kind == EntryKind::Action)
            .map(|e| e.step.as_str())
            .collect();
        let action_views = |ids: &[String]| {
            ids.iter()
                .map(|id| ActionView {
                    title: action_title(state, incident, id),
                    taken: taken_ids.contains(&id.as_str()),
                })
                .collect::<Vec<_>>()
        };
        let concern = incident
            .welfare
            .then(|| ward_records::concern_type(&incident.kind))
            .flatten();
        let suggested_ids: Vec<String> = match concern {
            Some(concern) => concern.actions.iter().map(|&id| id.to_owned()).collect(),
            None => table
                .incident(&incident.kind)
                .map(|kind| kind.actions.clone())
                .unwrap_or_default(),
        };
        let suggested = action_views(&suggested_ids);
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
            Some(kind) if !incident.welfare && !earlier.is_empty() && kind.id != incident.kind => {
                Some((kind.title.clone(), action_views(&kind.actions)))
            }
            _ => None,
        };
        let taken = entries
            .iter()
            .filter(|e| e.kind == EntryKind::Action)
            .map(|e| TakenView {
                title: action_title(state, incident, &e.step),
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
                        incident: Some(incident.id),
                        limit: 100,
                        ..AlertFilter::default()
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
                what: describe(state, incident, entry),
                note: entry.note.clone(),
                corrects: entry.corrects,
                corrected_by: corrected_by.get(&entry.id).copied(),
                is_note: entry.kind == EntryKind::Note,
            })
            .collect();
        let open = incident.status == IncidentStatus::Open;
        // Before the frame: opening the incident reads what was sent about it.
        let tell = if manage {
            crate::tell::TellBox::for_target(
                state,
                user,
                &format!("incident:{}", incident.id),
                format!("/incidents/{}/tell", incident.id),
            )
            .await?
        } else {
            crate::tell::TellBox::default()
        };
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
            people: if manage {
                store
                    .incident_people(school, scope, incident.id)
                    .await?
                    .into_iter()
                    .map(|(id, name)| (id.0, name))
                    .collect()
            } else {
                Vec::new()
            },
            device: incident.device_name.clone().unwrap_or_default(),
            procedure_title: if incident.welfare {
                "What to do (welfare concern)"
            } else {
                "Procedure (Appendix 1)"
            },
            guidance: concern.map_or("", |concern| concern.guidance),
            pending,
            done,
            complete: progress.complete(),
            suggested_from: if incident.welfare {
                "Usually done for this kind of concern:"
            } else {
                "Suggested for this type of incident by the school's sanctions table:"
            },
            suggested,
            escalation,
            actions: {
                let mut choices: Vec<ActionChoice> = actions(state, incident)?
                    .into_iter()
                    .map(|(id, title)| ActionChoice {
                        suggested: suggested_ids.contains(&id),
                        id,
                        title,
                    })
                    .collect();
                choices.sort_by_key(|choice| !choice.suggested);
                choices
            },
            taken,
            earlier,
            alerts,
            events,
            entries,
            message: String::new(),
            tell,
            files: super::files::views(state, user, incident.id).await?,
            upload_limit: format!("{} MB", state.config().upload_limit >> 20),
        })
    }

    /// The page again after the procedure's form was refused: why, with the answers and notes
    /// sent (`step → (answer, note)`) still in the form.
    pub(super) async fn refused_steps(
        state: &AppState,
        user: &CurrentUser,
        incident: &Incident,
        message: String,
        sent: &HashMap<&str, (String, String)>,
    ) -> Result<Response, AppError> {
        let mut page = ShowPage::new(state, user, incident).await?;
        for step in &mut page.pending {
            if let Some((answer, note)) = sent.get(step.id) {
                step.chosen.clone_from(answer);
                step.typed.clone_from(note);
            }
        }
        page.message = message;
        Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response())
    }
}

/// `GET /incidents/{id}`.
pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<IncidentId>,
) -> Result<Response, AppError> {
    user.require(Permission::RecordIncident)?;
    let incident = state
        .store()
        .incident(user.account.school, scope(&user), id)
        .await?;
    render(&ShowPage::new(&state, &user, &incident).await?)
}
