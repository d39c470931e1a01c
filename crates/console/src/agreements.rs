//! Acceptable-use agreements in the console (DESIGN.md A1, issue 27).
//!
//! - Everyone with a console account accepts the staff agreement in force once a school year
//!   (and again when a new version is published), at their first log-in: until they do, every
//!   page but the agreement itself, the sign-in code and the password page leads to it. Declining
//!   is recorded and ends the log-in.
//! - The DSL and the headteacher read each readers' agreement, publish new versions (Ward's
//!   defaults are version 1), and see who has and has not agreed this school year, per class,
//!   as a table or a CSV file.
//!
//! Every publication and every answer is in the audit log as well as kept in the store.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use serde::Deserialize;
use ward_records::Readers;
use ward_records::agreements::{Picture, display_blocks};
use ward_store::{Account, AccountId, Agreement, AgreementRow, SchoolId, Signer};

use crate::auth::CurrentUser;
use crate::error::url_encode;
use crate::layout::{Layout, local_time, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

/// How long the agreement in force is remembered before it is read again (a version published
/// in another console counts within this long; one published here counts at once).
const IN_FORCE_FOR: Duration = Duration::from_secs(30);

/// What the console remembers so that the staff agreement is not read on every page: the
/// agreement in force per school, and the accounts that accepted it.
#[derive(Default)]
pub struct Agreed {
    in_force: Mutex<HashMap<SchoolId, (Agreement, Instant)>>,
    accepted: Mutex<HashSet<(AccountId, i64, i16)>>,
}

impl Agreed {
    fn forget_in_force(&self, school: SchoolId) {
        if let Ok(mut in_force) = self.in_force.lock() {
            in_force.remove(&school);
        }
    }
}

/// The school year today falls in, in the school's time zone.
pub(crate) fn this_school_year(state: &AppState) -> i16 {
    let config = state.config();
    let today = Timestamp::now()
        .to_zoned_datetime(config.time_zone.clone())
        .date();
    ward_records::school_year(today.year(), today.month(), today.day(), config.year_starts)
}

/// The staff agreement in force for `school`.
async fn staff_agreement(state: &AppState, school: SchoolId) -> Result<Agreement, AppError> {
    let agreed = state.agreed();
    if let Ok(in_force) = agreed.in_force.lock()
        && let Some((agreement, read)) = in_force.get(&school)
        && read.elapsed() < IN_FORCE_FOR
    {
        return Ok(agreement.clone());
    }
    let agreement = state
        .store()
        .agreement_in_force(school, Readers::Staff)
        .await?;
    if let Ok(mut in_force) = agreed.in_force.lock() {
        in_force.insert(school, (agreement.clone(), Instant::now()));
    }
    Ok(agreement)
}

/// Whether `account` still has to accept the staff agreement in force this school year.
pub(crate) async fn must_agree(state: &AppState, account: &Account) -> Result<bool, AppError> {
    let agreement = staff_agreement(state, account.school).await?;
    let year = this_school_year(state);
    let key = (account.id, agreement.id, year);
    if state
        .agreed()
        .accepted
        .lock()
        .is_ok_and(|accepted| accepted.contains(&key))
    {
        return Ok(false);
    }
    let answer = state
        .store()
        .agreement_answer(
            account.school,
            &agreement,
            Signer::Account(account.id),
            year,
        )
        .await?;
    if answer == Some(true) {
        if let Ok(mut accepted) = state.agreed().accepted.lock() {
            accepted.insert(key);
        }
        return Ok(false);
    }
    Ok(true)
}

/// An agreement's text as the page shows it.
pub struct Shown {
    blocks: Vec<ShownBlock>,
    pictured: bool,
    /// The level of its headings (2 on a page of its own, 3 under the page's own headings).
    level: u8,
}

/// One block of it.
pub struct ShownBlock {
    kind: &'static str,
    text: String,
    /// The picture's drawing (Ward's own SVG, not user input).
    picture: String,
}

impl Shown {
    fn new(agreement: &Agreement, level: u8) -> Shown {
        Shown {
            level,
            pictured: agreement.readers.pictured(),
            blocks: display_blocks(&agreement.body)
                .into_iter()
                .map(|(kind, text, picture)| ShownBlock {
                    kind,
                    text,
                    picture,
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The staff agreement at log-in

#[derive(Template)]
#[template(path = "agreement_accept.html")]
struct AcceptPage {
    layout: Layout,
    agreement: Agreement,
    shown: Shown,
    year: String,
    next: String,
}

/// The page's query and form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AcceptForm {
    next: String,
    answer: String,
}

/// `GET /agreement`: the staff agreement in force, to accept or decline.
pub async fn accept_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<AcceptForm>,
) -> Result<Response, AppError> {
    let agreement = staff_agreement(&state, user.account.school).await?;
    let mut layout = Layout::for_user(&state, &user, "Staff acceptable use agreement").await;
    if let Some(nav) = layout.user.as_mut() {
        // Nothing else opens until it is answered: no menu.
        nav.signed_in = false;
    }
    render(&AcceptPage {
        layout,
        shown: Shown::new(&agreement, 2),
        agreement,
        year: ward_records::school_year_name(this_school_year(&state)),
        next: crate::auth::local_path(&query.next),
    })
}

/// `POST /agreement`: accepted (on to the page asked for) or declined (recorded, logged out).
pub async fn answer(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<AcceptForm>,
) -> Result<Response, AppError> {
    let accepted = match form.answer.as_str() {
        "accept" => true,
        "decline" => false,
        _ => {
            return Err(AppError::BadRequest(
                "choose I agree or I do not agree".into(),
            ));
        }
    };
    let school = user.account.school;
    let agreement = staff_agreement(&state, school).await?;
    let year = this_school_year(&state);
    state
        .store()
        .answer_agreement(
            school,
            &agreement,
            Signer::Account(user.account.id),
            &user.account.username,
            accepted,
            year,
            "console",
        )
        .await?;
    user.record(
        state.store(),
        if accepted {
            "agreement.accept"
        } else {
            "agreement.decline"
        },
        &format!("agreement:{}", agreement.id),
        format!(
            "{} version {} for {}",
            agreement.readers.title(),
            agreement.version,
            ward_records::school_year_name(year)
        ),
        None,
    )
    .await?;
    if accepted {
        if let Ok(mut accepted) = state.agreed().accepted.lock() {
            accepted.insert((user.account.id, agreement.id, year));
        }
        return Ok(Redirect::to(&crate::auth::local_path(&form.next)).into_response());
    }
    crate::auth::end_session(
        &state,
        &user,
        "You did not agree to the staff acceptable use agreement, so the console is closed to you. Your answer is recorded. If you have a question about the agreement, ask the headteacher; you can agree the next time you log in.",
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// The DSL's and headteacher's pages

struct ReadersLine {
    readers: &'static str,
    title: &'static str,
    agreement: String,
    version: i64,
    published: String,
    agreed: usize,
    declined: usize,
    not_yet: usize,
}

#[derive(Template)]
#[template(path = "agreements.html")]
struct OverviewPage {
    layout: Layout,
    lines: Vec<ReadersLine>,
    year: String,
}

/// Counts of a report: agreed to the version in force, declined, not (yet) agreed.
fn counts(rows: &[AgreementRow], version: i64) -> (usize, usize, usize) {
    let agreed = rows.iter().filter(|row| row.agreed_to(version)).count();
    let declined = rows
        .iter()
        .filter(|row| row.answer.as_ref().is_some_and(|answer| !answer.accepted))
        .count();
    (agreed, declined, rows.len() - agreed - declined)
}

/// `GET /agreements`: each readers' agreement in force, and how many have agreed this year.
pub async fn overview(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAgreements)?;
    let school = user.account.school;
    let year = this_school_year(&state);
    let mut lines = Vec::new();
    for readers in Readers::ALL {
        let agreement = state.store().agreement_in_force(school, readers).await?;
        let rows = state
            .store()
            .agreement_report(school, readers, year)
            .await?;
        let (agreed, declined, not_yet) = counts(&rows, agreement.version);
        lines.push(ReadersLine {
            readers: readers.as_str(),
            title: readers.title(),
            agreement: agreement.title.clone(),
            version: agreement.version,
            published: format!(
                "{} by {}",
                local_time(&state, agreement.published_at),
                agreement.published_by
            ),
            agreed,
            declined,
            not_yet,
        });
    }
    render(&OverviewPage {
        layout: Layout::for_user(&state, &user, "Acceptable use agreements").await,
        lines,
        year: ward_records::school_year_name(year),
    })
}

struct VersionLine {
    version: i64,
    title: String,
    published: String,
}

#[derive(Template)]
#[template(path = "agreement_edit.html")]
struct EditPage {
    layout: Layout,
    readers: &'static str,
    readers_title: &'static str,
    agreement: Agreement,
    shown: Shown,
    versions: Vec<VersionLine>,
    title: String,
    body: String,
    message: String,
    pictures: String,
}

fn readers_of(name: &str) -> Result<Readers, AppError> {
    name.parse().map_err(|_| AppError::NotFound)
}

async fn edit_page(
    state: &AppState,
    user: &CurrentUser,
    readers: Readers,
    title: String,
    body: String,
    message: String,
) -> Result<EditPage, AppError> {
    let school = user.account.school;
    let agreement = state.store().agreement_in_force(school, readers).await?;
    let versions = state
        .store()
        .agreement_versions(school, readers)
        .await?
        .into_iter()
        .map(|version| VersionLine {
            version: version.version,
            published: format!(
                "{} by {}",
                local_time(state, version.published_at),
                version.published_by
            ),
            title: version.title,
        })
        .collect();
    let (title, body) = if title.is_empty() && body.is_empty() {
        (agreement.title.clone(), agreement.body.clone())
    } else {
        (title, body)
    };
    Ok(EditPage {
        layout: Layout::for_user(state, user, readers.title()).await,
        readers: readers.as_str(),
        readers_title: readers.title(),
        shown: Shown::new(&agreement, 3),
        agreement,
        versions,
        title,
        body,
        message,
        pictures: Picture::names().collect::<Vec<_>>().join(", "),
    })
}

/// `GET /agreements/{readers}`: the agreement in force as its readers see it, its versions,
/// and the form to publish a new one.
pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(readers): Path<String>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAgreements)?;
    let readers = readers_of(&readers)?;
    render(
        &edit_page(
            &state,
            &user,
            readers,
            String::new(),
            String::new(),
            String::new(),
        )
        .await?,
    )
}

/// The publish form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PublishForm {
    title: String,
    body: String,
}

/// `POST /agreements/{readers}`: publishes a new version (everyone who reads it is asked to
/// agree again). A text that cannot be published comes back as typed, with why.
pub async fn publish(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(readers): Path<String>,
    axum::Form(form): axum::Form<PublishForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAgreements)?;
    let readers = readers_of(&readers)?;
    let school = user.account.school;
    if let Err(problem) = ward_records::agreements::check(&form.title, &form.body) {
        let page = edit_page(
            &state,
            &user,
            readers,
            form.title,
            form.body,
            format!("Not published: {problem}."),
        )
        .await?;
        return Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response());
    }
    let agreement = state
        .store()
        .publish_agreement(
            school,
            readers,
            &form.title,
            &form.body,
            &user.account.username,
        )
        .await?;
    user.record(
        state.store(),
        "agreement.publish",
        &format!("agreement:{}", agreement.id),
        format!(
            "{}: version {}, \"{}\"",
            readers.title(),
            agreement.version,
            agreement.title
        ),
        None,
    )
    .await?;
    if readers == Readers::Staff {
        state.agreed().forget_in_force(school);
    }
    Ok(Redirect::to(&format!(
        "/agreements/{}?published={}",
        readers.as_str(),
        agreement.version
    ))
    .into_response())
}

struct ReportLine {
    name: String,
    username: String,
    year_group: String,
    class_name: String,
    answer: &'static str,
    when: String,
}

#[derive(Template)]
#[template(path = "agreement_report.html")]
struct ReportPage {
    layout: Layout,
    readers: &'static str,
    readers_title: &'static str,
    version: i64,
    year: String,
    lines: Vec<ReportLine>,
    classes: Vec<String>,
    class: String,
    groups: Vec<String>,
    group: String,
    show: String,
    csv: String,
    agreed: usize,
    declined: usize,
    not_yet: usize,
}

/// The report's filters.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReportQuery {
    /// One class only.
    class: String,
    /// One policy group only.
    group: String,
    /// `not-agreed` for those who have not agreed (declined or not answered).
    show: String,
    /// `csv` for a file.
    format: String,
}

fn answer_words(row: &AgreementRow, version: i64) -> &'static str {
    match &row.answer {
        Some(answer) if answer.accepted && answer.version == version => "Agreed",
        Some(answer) if answer.accepted => "Agreed to an earlier version",
        Some(_) => "Declined",
        None => "Not yet",
    }
}

/// `GET /agreements/{readers}/report`: who has and has not agreed this school year, per class,
/// as a page or (`?format=csv`) a CSV file.
pub async fn report(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(readers): Path<String>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAgreements)?;
    let readers = readers_of(&readers)?;
    let school = user.account.school;
    let year = this_school_year(&state);
    let agreement = state.store().agreement_in_force(school, readers).await?;
    let rows = state
        .store()
        .agreement_report(school, readers, year)
        .await?;
    let classes: Vec<String> = rows
        .iter()
        .filter_map(|row| row.class_name.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let groups: Vec<String> = rows
        .iter()
        .filter_map(|row| row.group.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let class = query.class.trim().to_owned();
    let group = query.group.trim().to_owned();
    let rows: Vec<AgreementRow> = rows
        .into_iter()
        .filter(|row| class.is_empty() || row.class_name.as_deref() == Some(class.as_str()))
        .filter(|row| group.is_empty() || row.group.as_deref() == Some(group.as_str()))
        .filter(|row| query.show != "not-agreed" || !row.agreed_to(agreement.version))
        .collect();
    let (agreed, declined, not_yet) = counts(&rows, agreement.version);
    let lines: Vec<ReportLine> = rows
        .iter()
        .map(|row| ReportLine {
            name: row.name.clone(),
            username: row.username.clone(),
            year_group: row.year_group.clone().unwrap_or_default(),
            class_name: match row.signer {
                Signer::Account(_) => "Console account".to_owned(),
                Signer::Person(_) => row.class_name.clone().unwrap_or_default(),
            },
            answer: answer_words(row, agreement.version),
            when: row
                .answer
                .as_ref()
                .map(|answer| {
                    format!(
                        "{} (version {}, {})",
                        local_time(&state, answer.answered_at),
                        answer.version,
                        answer.place
                    )
                })
                .unwrap_or_default(),
        })
        .collect();
    user.record(
        state.store(),
        "agreement.report",
        &format!("agreements:{}", readers.as_str()),
        format!(
            "{} for {}{}",
            readers.title(),
            ward_records::school_year_name(year),
            if class.is_empty() {
                String::new()
            } else {
                format!(", class {class}")
            }
        ),
        None,
    )
    .await?;
    if query.format == "csv" {
        let mut csv = String::from("Name,Username,Year,Class,Answer,When\r\n");
        for line in &lines {
            let fields = [
                &line.name,
                &line.username,
                &line.year_group,
                &line.class_name,
                line.answer,
                &line.when,
            ];
            let fields: Vec<String> = fields
                .iter()
                .map(|field| crate::csv::field(field))
                .collect();
            csv.push_str(&fields.join(","));
            csv.push_str("\r\n");
        }
        let name = format!(
            "attachment; filename=\"agreements-{}-{year}.csv\"",
            readers.as_str()
        );
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, name),
            ],
            csv,
        )
            .into_response());
    }
    let csv = format!(
        "/agreements/{}/report?class={}&group={}&show={}&format=csv",
        readers.as_str(),
        url_encode(&class),
        url_encode(&group),
        url_encode(&query.show)
    );
    render(&ReportPage {
        layout: Layout::for_user(
            &state,
            &user,
            &format!("Who has agreed: {}", readers.title()),
        )
        .await,
        readers: readers.as_str(),
        readers_title: readers.title(),
        version: agreement.version,
        year: ward_records::school_year_name(year),
        lines,
        classes,
        class,
        groups,
        group,
        show: query.show,
        csv,
        agreed,
        declined,
        not_yet,
    })
}
