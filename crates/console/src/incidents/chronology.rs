//! A person's chronology: their incidents (those recorded about them and those they were added
//! to), everything recorded on them, their alerts and their blocked attempts, in time order;
//! printable for a case conference.

use super::*;

/// Most blocked attempts a chronology lists (the most recent).
const BLOCKED_LIMIT: i64 = 200;

/// A line of a chronology.
pub struct ChronologyLine {
    at: String,
    kind: &'static str,
    what: String,
    link: String,
    note: String,
}

#[derive(Template)]
#[template(path = "chronology.html")]
pub(super) struct ChronologyPage {
    layout: Layout,
    name: String,
    detail: String,
    printed: String,
    lines: Vec<ChronologyLine>,
    blocked_limit: i64,
    blocked_capped: bool,
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
                kind: if incident.welfare {
                    "Welfare concern"
                } else {
                    "Incident"
                },
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
        for entry in store
            .incident_entries(school, IncidentScope::All, incident.id)
            .await?
        {
            lines.push((
                entry.at,
                ChronologyLine {
                    at: local_time(&state, entry.at),
                    kind: "Record",
                    what: format!(
                        "Incident {}: {} ({})",
                        incident.id,
                        describe(&state, incident, &entry),
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
                ..AlertFilter::default()
            },
        )
        .await?;
    for alert in alerts {
        lines.push((
            alert.created_at,
            ChronologyLine {
                at: local_time(&state, alert.created_at),
                kind: "Alert",
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
    let blocked = store
        .search_events(
            school,
            &ward_store::ActivityQuery {
                person: Some(person.id),
                limit: BLOCKED_LIMIT,
                ..ward_store::ActivityQuery::default()
            },
        )
        .await?;
    let blocked_capped = blocked.len() as i64 >= BLOCKED_LIMIT;
    for event in blocked {
        let site = event.url.clone().unwrap_or_else(|| event.host.clone());
        lines.push((
            event.at,
            ChronologyLine {
                at: local_time(&state, event.at),
                kind: "Blocked",
                what: format!(
                    "Blocked: {site} ({})",
                    ward_policy::readable_list(&event.categories)
                ),
                link: String::new(),
                note: event.device.clone().unwrap_or_default(),
            },
        ));
    }
    lines.sort_by_key(|(at, _)| *at);
    let mut detail = vec![person.kind.as_str().to_owned()];
    detail.extend(
        person
            .year_group
            .as_ref()
            .map(|year| format!("year {year}")),
    );
    detail.extend(person.class_name.clone());
    detail.extend(
        person
            .left_at
            .map(|at| format!("left {}", local_time(&state, at))),
    );
    render(&ChronologyPage {
        layout: Layout::for_user(&state, &user, "Chronology").await,
        name: format!(
            "{} {} ({})",
            person.given_name, person.family_name, person.username
        ),
        detail: detail.join(", "),
        printed: format!(
            "{} by {}",
            local_time(&state, jiff::Timestamp::now()),
            user.account.display_name
        ),
        lines: lines.into_iter().map(|(_, line)| line).collect(),
        blocked_limit: BLOCKED_LIMIT,
        blocked_capped,
    })
}
