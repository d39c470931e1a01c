//! Staff training and induction (DESIGN.md A5, issue 27): the courses each member of staff
//! completed, with evidence and renewal dates; who has acknowledged reading the online safety
//! policy in force (its appendix, `/filtering/document`, which everyone may read); and a summary
//! for the headteacher and governors (counts only for governors).

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::Date;
use serde::Deserialize;
use ward_store::NewTraining;

use crate::auth::CurrentUser;
use crate::layout::{Layout, local_time, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

/// How soon before its renewal date a course is shown as due.
const DUE_WITHIN_DAYS: i64 = 30;

struct CourseLine {
    course: String,
    current: usize,
    due_soon: usize,
    overdue: usize,
}

struct RecordLine {
    name: String,
    course: String,
    completed_on: String,
    renewal_due: String,
    state: &'static str,
    evidence: String,
    recorded: String,
}

#[derive(Template)]
#[template(path = "training.html")]
struct TrainingPage {
    layout: Layout,
    names: bool,
    courses: Vec<CourseLine>,
    records: Vec<RecordLine>,
    policy_version: Option<i64>,
    read_count: usize,
    readers: Vec<(String, String)>,
    not_read: Vec<String>,
    accounts: usize,
    form: TrainingForm,
    message: String,
}

/// The add form, as typed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TrainingForm {
    person: String,
    course: String,
    completed_on: String,
    renewal_due: String,
    evidence: String,
}

fn today(state: &AppState) -> Date {
    jiff::Timestamp::now()
        .to_zoned_datetime(state.config().time_zone.clone())
        .date()
}

async fn training_page(
    state: &AppState,
    user: &CurrentUser,
    form: TrainingForm,
    message: String,
) -> Result<TrainingPage, AppError> {
    let school = user.account.school;
    let names = user.can(Permission::ManageTraining);
    let records = state.store().training_records(school).await?;
    let today = today(state);
    let soon = today
        .checked_add(jiff::Span::new().days(DUE_WITHIN_DAYS))
        .unwrap_or(today);
    let state_of = |due: Option<Date>| match due {
        Some(due) if due < today => "Overdue",
        Some(due) if due <= soon => "Due soon",
        _ => "Current",
    };
    // The latest record per person and course decides where they stand (the store lists them
    // newest course first, then newest recorded first).
    let mut latest: BTreeMap<(String, i64), Option<Date>> = BTreeMap::new();
    for record in &records {
        latest
            .entry((record.course.clone(), record.person.0))
            .or_insert(record.renewal_due);
    }
    let mut courses: BTreeMap<String, CourseLine> = BTreeMap::new();
    for ((course, _), due) in &latest {
        let line = courses.entry(course.clone()).or_insert_with(|| CourseLine {
            course: course.clone(),
            current: 0,
            due_soon: 0,
            overdue: 0,
        });
        match state_of(*due) {
            "Overdue" => line.overdue += 1,
            "Due soon" => line.due_soon += 1,
            _ => line.current += 1,
        }
    }
    let version = state.store().latest_policy_number(school).await?;
    let accounts = state.store().accounts(school).await?;
    let accounts: Vec<_> = accounts.into_iter().filter(|a| !a.disabled).collect();
    let read = match version {
        Some(version) => state.store().policy_readers(school, version).await?,
        None => Vec::new(),
    };
    let readers = accounts
        .iter()
        .filter_map(|account| {
            read.iter()
                .find(|(id, _)| *id == account.id)
                .map(|(_, at)| (account.display_name.clone(), local_time(state, *at)))
        })
        .collect::<Vec<_>>();
    let not_read = accounts
        .iter()
        .filter(|account| !read.iter().any(|(id, _)| *id == account.id))
        .map(|account| account.display_name.clone())
        .collect();
    Ok(TrainingPage {
        layout: Layout::for_user(state, user, "Training and induction").await,
        names,
        courses: courses.into_values().collect(),
        records: if names {
            records
                .into_iter()
                .map(|record| RecordLine {
                    state: state_of(record.renewal_due),
                    name: record.name,
                    course: record.course,
                    completed_on: record.completed_on.to_string(),
                    renewal_due: record
                        .renewal_due
                        .map(|due| due.to_string())
                        .unwrap_or_default(),
                    evidence: record.evidence,
                    recorded: format!(
                        "{} by {}",
                        local_time(state, record.recorded_at),
                        record.recorded_by
                    ),
                })
                .collect()
        } else {
            Vec::new()
        },
        policy_version: version,
        read_count: readers.len(),
        accounts: accounts.len(),
        readers: if names { readers } else { Vec::new() },
        not_read: if names { not_read } else { Vec::new() },
        form,
        message,
    })
}

/// `GET /training`: the courses completed, what is due, who has read the policy.
pub async fn page(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::ViewTraining)?;
    render(&training_page(&state, &user, TrainingForm::default(), String::new()).await?)
}

/// `POST /training`: records a course a member of staff completed; refused, the form comes
/// back as typed, with why.
pub async fn add(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<TrainingForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageTraining)?;
    let school = user.account.school;
    let refused = |form: TrainingForm, message: String| async {
        let page = training_page(&state, &user, form, message).await?;
        Ok::<_, AppError>((StatusCode::BAD_REQUEST, render(&page)?).into_response())
    };
    let person = match crate::people::one_person(&state, school, &form.person).await? {
        Ok(person) if person.kind == ward_store::PersonKind::Staff => person,
        Ok(_) => return refused(form, "Only staff have training records here.".into()).await,
        Err(problem) => return refused(form, problem).await,
    };
    let Ok(completed_on) = form.completed_on.trim().parse::<Date>() else {
        return refused(form, "Write the date the course was completed.".into()).await;
    };
    if completed_on > today(&state) {
        return refused(form, "The course's date is in the future.".into()).await;
    }
    let renewal_due = match form.renewal_due.trim() {
        "" => None,
        text => match text.parse::<Date>() {
            Ok(date) => Some(date),
            Err(_) => return refused(form, "The renewal date is not a date.".into()).await,
        },
    };
    let training = NewTraining {
        person: person.id,
        course: form.course.clone(),
        completed_on,
        renewal_due,
        evidence: form.evidence.clone(),
    };
    match state
        .store()
        .add_training(school, &training, &user.account.username)
        .await
    {
        Ok(_) => {}
        Err(ward_store::StoreError::Invalid(problem)) => return refused(form, problem).await,
        Err(error) => return Err(error.into()),
    }
    user.record(
        state.store(),
        "training.add",
        &format!("person:{}", person.id.0),
        format!(
            "{}: {} on {completed_on}{}",
            person.username,
            training.course.trim(),
            renewal_due
                .map(|due| format!(", due again {due}"))
                .unwrap_or_default()
        ),
        None,
    )
    .await?;
    Ok(Redirect::to("/training").into_response())
}

/// `POST /filtering/document/read`: the account has read the policy in force.
pub async fn read_policy(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewPolicyDocument)?;
    let school = user.account.school;
    let Some(version) = state.store().latest_policy_number(school).await? else {
        return Err(AppError::BadRequest(
            "There is no policy to read yet.".into(),
        ));
    };
    state
        .store()
        .record_policy_reading(school, user.account.id, version)
        .await?;
    user.record(
        state.store(),
        "policy.read",
        &format!("policy:{version}"),
        format!("read policy version {version}"),
        None,
    )
    .await?;
    Ok(Redirect::to("/filtering/document?read=1").into_response())
}
