//! A person's chronology: their incidents, everything recorded on them, and their alerts.

use super::*;

/// A line of a chronology.
pub struct ChronologyLine {
    at: String,
    what: String,
    link: String,
    note: String,
}

#[derive(Template)]
#[template(path = "chronology.html")]
pub(super) struct ChronologyPage {
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
