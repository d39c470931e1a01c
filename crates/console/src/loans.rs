//! Device loans and software licences (DESIGN.md D1, issue 27): devices lent (iPads, laptops)
//! on the guardianship form's terms, whether they may leave the school, their return and any
//! loss, theft or damage; software licences bought against installations counted, with over-use
//! flagged. For the technician and the headteacher (Amblecote's iPad policy; Park End's
//! business manager reconciles licences against installations).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::Date;
use serde::Deserialize;
use ward_store::{LOAN_EVENTS, NewLoan};

use crate::auth::CurrentUser;
use crate::layout::{Layout, local_time, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

/// The guardianship form's terms (Amblecote's tablet policy, in plain words), read and accepted
/// before a device is lent.
pub const TERMS: &[&str] = &[
    "The device stays the school's property, and the school may check it at any time.",
    "Keep it in its case, charged, safe and locked away when it is not used; know where it is at all times.",
    "Do not drop it, put heavy things on it, or leave it somewhere very hot or cold; clean the screen only with a soft cloth.",
    "Tell the school office at once if it is lost, stolen or damaged. Away from school, the school's insurance may not cover it.",
    "Use the camera only for school work, never to take unkind or inappropriate pictures, and only of people who have agreed.",
    "Do not jailbreak it or take its protections off; its use is monitored as at school.",
    "Bring it back when asked, or on the date agreed.",
];

struct LoanLine {
    id: i64,
    name: String,
    device: String,
    out_of_school: bool,
    lent: String,
    due_back: String,
    terms: String,
    state: String,
    overdue: bool,
    open: bool,
    history: Vec<String>,
}

#[derive(Template)]
#[template(path = "loans.html")]
struct LoansPage {
    layout: Layout,
    terms: &'static [&'static str],
    loans: Vec<LoanLine>,
    events: &'static [&'static str],
    form: LendForm,
    message: String,
    today: String,
}

/// The lend form, as typed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LendForm {
    person: String,
    device: String,
    out_of_school: String,
    terms_accepted_by: String,
    terms: String,
    lent_on: String,
    due_back: String,
}

fn today(state: &AppState) -> Date {
    jiff::Timestamp::now()
        .to_zoned_datetime(state.config().time_zone.clone())
        .date()
}

async fn loans_page(
    state: &AppState,
    user: &CurrentUser,
    form: LendForm,
    message: String,
) -> Result<LoansPage, AppError> {
    let today = today(state);
    let loans = state
        .store()
        .loans(user.account.school)
        .await?
        .into_iter()
        .map(|loan| {
            let open = !loan.returned();
            let state_words = match loan.events.last() {
                Some((kind, on, ..)) => format!("{} on {on}", capitalised(kind)),
                None => "Lent".into(),
            };
            LoanLine {
                id: loan.id,
                overdue: open && loan.due_back.is_some_and(|due| due < today),
                open,
                history: loan
                    .events
                    .iter()
                    .map(|(kind, on, note, by)| {
                        format!(
                            "{} on {on} (recorded by {by}){}",
                            capitalised(kind),
                            if note.is_empty() {
                                String::new()
                            } else {
                                format!(": {note}")
                            }
                        )
                    })
                    .collect(),
                name: loan.name,
                device: loan.device,
                out_of_school: loan.out_of_school,
                lent: format!(
                    "{} (recorded {} by {})",
                    loan.lent_on,
                    local_time(state, loan.recorded.1),
                    loan.recorded.0
                ),
                due_back: loan.due_back.map(|due| due.to_string()).unwrap_or_default(),
                terms: loan.terms_accepted_by,
                state: state_words,
            }
        })
        .collect();
    Ok(LoansPage {
        layout: Layout::for_user(state, user, "Device loans").await,
        terms: TERMS,
        loans,
        events: &LOAN_EVENTS,
        form,
        message,
        today: today.to_string(),
    })
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `GET /loans`: the devices lent and the form to lend one.
pub async fn page(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::ManageLoans)?;
    render(&loans_page(&state, &user, LendForm::default(), String::new()).await?)
}

/// `POST /loans`: lends a device on the guardianship terms; refused, back as typed with why.
pub async fn lend(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<LendForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageLoans)?;
    let school = user.account.school;
    let refused = |form: LendForm, message: String| async {
        let page = loans_page(&state, &user, form, message).await?;
        Ok::<_, AppError>((StatusCode::BAD_REQUEST, render(&page)?).into_response())
    };
    if form.terms != "accepted" {
        return refused(
            form,
            "The guardianship terms must be read and accepted first.".into(),
        )
        .await;
    }
    let person = match crate::people::one_person(&state, school, &form.person).await? {
        Ok(person) => person,
        Err(problem) => return refused(form, problem).await,
    };
    let Ok(lent_on) = form.lent_on.trim().parse::<Date>() else {
        return refused(form, "Write the date it is lent.".into()).await;
    };
    let due_back = match form.due_back.trim() {
        "" => None,
        text => match text.parse::<Date>() {
            Ok(date) => Some(date),
            Err(_) => return refused(form, "The date it is due back is not a date.".into()).await,
        },
    };
    let loan = NewLoan {
        person: person.id,
        device: form.device.clone(),
        out_of_school: form.out_of_school == "yes",
        terms_accepted_by: form.terms_accepted_by.clone(),
        lent_on,
        due_back,
    };
    let id = match state
        .store()
        .lend(school, &loan, &user.account.username)
        .await
    {
        Ok(id) => id,
        Err(ward_store::StoreError::Invalid(problem)) => return refused(form, problem).await,
        Err(error) => return Err(error.into()),
    };
    user.record(
        state.store(),
        "loan.lend",
        &format!("loan:{id}"),
        format!(
            "{} to {}{}; terms accepted by {}",
            loan.device.trim(),
            person.username,
            if loan.out_of_school {
                ", out of school"
            } else {
                ""
            },
            loan.terms_accepted_by.trim()
        ),
        None,
    )
    .await?;
    Ok(Redirect::to("/loans").into_response())
}

/// What happened to a loan.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EventForm {
    kind: String,
    on: String,
    note: String,
}

/// `POST /loans/{id}`: returned, lost, stolen or damaged.
pub async fn event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<EventForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageLoans)?;
    let on = form
        .on
        .trim()
        .parse::<Date>()
        .map_err(|_| AppError::BadRequest("Write the date it happened.".into()))?;
    state
        .store()
        .loan_event(
            user.account.school,
            id,
            &form.kind,
            on,
            &form.note,
            &user.account.username,
        )
        .await?;
    user.record(
        state.store(),
        "loan.event",
        &format!("loan:{id}"),
        format!("{} on {on}: {}", form.kind, form.note.trim()),
        None,
    )
    .await?;
    Ok(Redirect::to("/loans").into_response())
}

struct LicenceLine {
    software: String,
    purchased: i64,
    installed: i64,
    over: i64,
    note: String,
    updated: String,
}

#[derive(Template)]
#[template(path = "licences.html")]
struct LicencesPage {
    layout: Layout,
    licences: Vec<LicenceLine>,
    over_used: usize,
    message: String,
}

/// The licence form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LicenceForm {
    software: String,
    purchased: String,
    installed: String,
    note: String,
}

async fn licences_page(
    state: &AppState,
    user: &CurrentUser,
    message: String,
) -> Result<LicencesPage, AppError> {
    let licences: Vec<LicenceLine> = state
        .store()
        .licences(user.account.school)
        .await?
        .into_iter()
        .map(|licence| LicenceLine {
            over: licence.over_use(),
            software: licence.software,
            purchased: licence.purchased,
            installed: licence.installed,
            note: licence.note,
            updated: format!(
                "{} by {}",
                local_time(state, licence.updated.1),
                licence.updated.0
            ),
        })
        .collect();
    Ok(LicencesPage {
        layout: Layout::for_user(state, user, "Software licences").await,
        over_used: licences.iter().filter(|line| line.over > 0).count(),
        licences,
        message,
    })
}

/// `GET /licences`: the reconciliation: seats bought against installations, over-use first.
pub async fn licences(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ManageLoans)?;
    render(&licences_page(&state, &user, String::new()).await?)
}

/// `POST /licences`: a title's counts, added or changed.
pub async fn set_licence(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<LicenceForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageLoans)?;
    let count = |text: &str| text.trim().parse::<i64>().ok().filter(|n| *n >= 0);
    let (Some(purchased), Some(installed)) = (count(&form.purchased), count(&form.installed))
    else {
        let page = licences_page(
            &state,
            &user,
            "Write the seats bought and the installations as whole numbers.".into(),
        )
        .await?;
        return Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response());
    };
    match state
        .store()
        .set_licence(
            user.account.school,
            &form.software,
            purchased,
            installed,
            &form.note,
            &user.account.username,
        )
        .await
    {
        Ok(()) => {}
        Err(ward_store::StoreError::Invalid(problem)) => {
            let page = licences_page(&state, &user, problem).await?;
            return Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response());
        }
        Err(error) => return Err(error.into()),
    }
    user.record(
        state.store(),
        "licence.set",
        &format!("software:{}", form.software.trim()),
        format!("{purchased} bought, {installed} installed"),
        None,
    )
    .await?;
    Ok(Redirect::to("/licences").into_response())
}
