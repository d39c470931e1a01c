//! Photo and video consent in the console (DESIGN.md A3, issue 27).
//!
//! - *Consent* (`/consent`): where each pupil of a class stands for each purpose, and for one
//!   purpose the pupils who may not appear: the list Amblecote's teachers keep on their area of
//!   the network. Teachers see where pupils stand now; the history is the DSL's and the
//!   headteacher's.
//! - A pupil's consent (`/consent/{id}`): the whole history, and recording a signed paper form
//!   (DSL, headteacher). Verbal consent has no form: Park End accepts it "under no
//!   circumstance".
//! - *Publish check* (`/consent/check`): names pasted or a photo's tag list uploaded, and a
//!   purpose: who may appear and who may not.
//! - *File-name check* (`/consent/file-names`): image files (only their names are read) or names
//!   pasted: any that hold a pupil's forename, surname or username.

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use ward_records::consent::{Named, Purpose, Standing, Written, names_in_file_name};
use ward_store::{NewConsent, PersonId, PupilConsent};

use crate::auth::CurrentUser;
use crate::layout::{Layout, local_time, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

/// Most lines (names, file names) one check reads.
const MOST_LINES: usize = 2000;

fn purposes() -> Vec<(&'static str, &'static str)> {
    Purpose::ALL
        .into_iter()
        .map(|purpose| (purpose.as_str(), purpose.title()))
        .collect()
}

fn unreadable(error: axum::extract::multipart::MultipartError) -> AppError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE || error.body_text().contains("too large") {
        AppError::TooLarge
    } else {
        AppError::BadRequest(format!(
            "The upload could not be read: {}",
            error.body_text()
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// The class list

struct ClassRow {
    id: i64,
    name: String,
    class_name: String,
    /// Per purpose, in `Purpose::ALL`'s order: (words, may appear).
    standing: Vec<(&'static str, bool)>,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    layout: Layout,
    classes: Vec<String>,
    class: String,
    purposes: Vec<(&'static str, &'static str)>,
    purpose: String,
    purpose_title: &'static str,
    rows: Vec<ClassRow>,
    history: bool,
    /// A teacher whose classes are not set.
    no_classes: bool,
}

/// The list's filters.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConsentQuery {
    class: String,
    /// One purpose: only the pupils who may not appear for it.
    purpose: String,
}

/// `GET /consent`: where each pupil stands, by class; for one purpose, who may not appear.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<ConsentQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::ViewConsent)?;
    let school = user.account.school;
    let mut all = state.store().pupil_consents(school, None).await?;
    // A teacher reads their own classes' consent, not other classes'.
    let own_classes = if user.can(Permission::RecordConsent) {
        None
    } else {
        Some(
            state
                .store()
                .account_classes(school, user.account.id)
                .await?,
        )
    };
    if let Some(own) = &own_classes {
        all.retain(|pupil| {
            pupil
                .class_name
                .as_ref()
                .is_some_and(|class| own.contains(class))
        });
    }
    let mut classes: Vec<String> = all.iter().filter_map(|p| p.class_name.clone()).collect();
    classes.sort();
    classes.dedup();
    let class = query.class.trim().to_owned();
    let purpose: Option<Purpose> = query.purpose.parse().ok();
    let rows = all
        .into_iter()
        .filter(|pupil| class.is_empty() || pupil.class_name.as_deref() == Some(class.as_str()))
        .filter(|pupil| purpose.is_none_or(|purpose| !pupil.for_purpose(purpose).may_appear()))
        .map(|pupil| ClassRow {
            id: pupil.person.0,
            class_name: pupil.class_name.clone().unwrap_or_default(),
            standing: Purpose::ALL
                .into_iter()
                .map(|purpose| {
                    let standing = pupil.for_purpose(purpose);
                    (standing.words(), standing.may_appear())
                })
                .collect(),
            name: pupil.name,
        })
        .collect();
    render(&ConsentPage {
        layout: Layout::for_user(&state, &user, "Photo and video consent").await,
        classes,
        class,
        purposes: purposes(),
        purpose: purpose.map(Purpose::as_str).unwrap_or_default().to_owned(),
        purpose_title: purpose.map(Purpose::title).unwrap_or_default(),
        rows,
        history: user.can(Permission::RecordConsent),
        no_classes: own_classes.is_some_and(|own| own.is_empty()),
    })
}

// ---------------------------------------------------------------------------------------------
// One pupil: the history, and a paper form recorded

struct HistoryLine {
    when: String,
    purpose: &'static str,
    answer: &'static str,
    how: String,
    note: String,
}

#[derive(Template)]
#[template(path = "consent_pupil.html")]
struct PupilPage {
    layout: Layout,
    id: i64,
    name: String,
    class_name: String,
    now: Vec<(&'static str, &'static str, &'static str)>,
    history: Vec<HistoryLine>,
    form: PaperForm,
    message: String,
    today: String,
}

/// An answer for each use of photographs, as a form sends it: `yes`, `no` or empty (not
/// answered).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PurposeAnswers {
    website: String,
    #[serde(rename = "social-media")]
    social_media: String,
    newsletter: String,
    press: String,
    displays: String,
    video: String,
}

impl PurposeAnswers {
    /// What was sent for `purpose`.
    pub(crate) fn answer(&self, purpose: Purpose) -> &str {
        match purpose {
            Purpose::Website => &self.website,
            Purpose::SocialMedia => &self.social_media,
            Purpose::Newsletter => &self.newsletter,
            Purpose::Press => &self.press,
            Purpose::Displays => &self.displays,
            Purpose::Video => &self.video,
        }
    }

    /// (purpose's name, title, what was sent) for a form.
    pub(crate) fn lines(&self) -> Vec<(&'static str, &'static str, String)> {
        Purpose::ALL
            .into_iter()
            .map(|purpose| {
                (
                    purpose.as_str(),
                    purpose.title(),
                    self.answer(purpose).to_owned(),
                )
            })
            .collect()
    }

    /// The uses answered, given (`yes`) or not (`no`); `Err` names an answer that is neither.
    pub(crate) fn given(&self) -> Result<Vec<(Purpose, bool)>, String> {
        let mut answers = Vec::new();
        for purpose in Purpose::ALL {
            match self.answer(purpose) {
                "yes" => answers.push((purpose, true)),
                "no" => answers.push((purpose, false)),
                "" => {}
                other => return Err(format!("{other:?} is not an answer (yes or no)")),
            }
        }
        Ok(answers)
    }
}

/// A paper form, as typed (a use left empty is not on the form).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PaperForm {
    parent_name: String,
    form_dated: String,
    note: String,
    #[serde(flatten)]
    answers: PurposeAnswers,
}

async fn pupil(state: &AppState, user: &CurrentUser, id: i64) -> Result<PupilConsent, AppError> {
    state
        .store()
        .pupil_consents(user.account.school, None)
        .await?
        .into_iter()
        .find(|pupil| pupil.person.0 == id)
        .ok_or(AppError::NotFound)
}

async fn pupil_page(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    form: PaperForm,
    message: String,
) -> Result<PupilPage, AppError> {
    let pupil = pupil(state, user, id).await?;
    let history = state
        .store()
        .consent_history(user.account.school, pupil.person)
        .await?
        .into_iter()
        .map(|record| HistoryLine {
            when: local_time(state, record.recorded_at),
            purpose: record.purpose.title(),
            answer: if record.given {
                "Given"
            } else {
                "Refused or withdrawn"
            },
            how: match (&record.written, &record.form_dated) {
                (Written::PaperForm, Some(dated)) => format!(
                    "{} dated {dated}, from {}, recorded by {}",
                    record.written.title(),
                    record.parent_name,
                    record.recorded_by
                ),
                _ => format!("{}, from {}", record.written.title(), record.parent_name),
            },
            note: record.note,
        })
        .collect();
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(state.config().time_zone.clone())
        .date()
        .to_string();
    Ok(PupilPage {
        layout: Layout::for_user(state, user, &format!("Consent: {}", pupil.name)).await,
        id,
        class_name: pupil.class_name.clone().unwrap_or_default(),
        now: Purpose::ALL
            .into_iter()
            .map(|purpose| {
                let standing = pupil.for_purpose(purpose);
                (
                    purpose.title(),
                    standing.words(),
                    if standing.may_appear() { "ok" } else { "bad" },
                )
            })
            .collect(),
        name: pupil.name,
        history,
        form,
        message,
        today,
    })
}

/// `GET /consent/{id}`: a pupil's consent now, its whole history, and the paper form.
pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Permission::RecordConsent)?;
    let page = pupil_page(&state, &user, id, PaperForm::default(), String::new()).await?;
    user.record(
        state.store(),
        "consent.view",
        &format!("person:{id}"),
        "consent history".into(),
        None,
    )
    .await?;
    render(&page)
}

/// `POST /consent/{id}`: records a signed paper form (the purposes it answers; the others stay
/// as they were). A form that cannot be recorded comes back as typed, with why.
pub async fn record(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<PaperForm>,
) -> Result<Response, AppError> {
    user.require(Permission::RecordConsent)?;
    let answers = form.answers.given().map_err(AppError::BadRequest)?;
    let consent = NewConsent {
        person: PersonId(id),
        answers: answers.clone(),
        written: Written::PaperForm,
        parent_name: form.parent_name.clone(),
        form_dated: Some(form.form_dated.clone()),
        note: form.note.clone(),
    };
    match state
        .store()
        .record_consent(user.account.school, &consent, &user.account.username)
        .await
    {
        Ok(()) => {}
        Err(ward_store::StoreError::Invalid(problem)) => {
            let page =
                pupil_page(&state, &user, id, form, format!("Not recorded: {problem}.")).await?;
            return Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response());
        }
        Err(error) => return Err(error.into()),
    }
    let said: Vec<String> = answers
        .iter()
        .map(|(purpose, given)| {
            format!(
                "{}: {}",
                purpose.as_str(),
                if *given { "given" } else { "refused" }
            )
        })
        .collect();
    user.record(
        state.store(),
        "consent.record",
        &format!("person:{id}"),
        format!(
            "paper form dated {} from {}: {}",
            form.form_dated.trim(),
            form.parent_name.trim(),
            said.join(", ")
        ),
        None,
    )
    .await?;
    Ok(Redirect::to(&format!("/consent/{id}")).into_response())
}

// ---------------------------------------------------------------------------------------------
// The publish check

struct CheckLine {
    asked: String,
    name: String,
    class_name: String,
    why: String,
}

#[derive(Template)]
#[template(path = "consent_check.html")]
struct CheckPage {
    layout: Layout,
    purposes: Vec<(&'static str, &'static str)>,
    purpose: String,
    names: String,
    checked: bool,
    purpose_title: &'static str,
    may: Vec<CheckLine>,
    may_not: Vec<CheckLine>,
    unknown: Vec<CheckLine>,
}

/// `GET /consent/check`: the form.
pub async fn check_page(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewConsent)?;
    render(&CheckPage {
        layout: Layout::for_user(&state, &user, "May these pupils appear?").await,
        purposes: purposes(),
        purpose: String::new(),
        names: String::new(),
        checked: false,
        purpose_title: "",
        may: Vec::new(),
        may_not: Vec::new(),
        unknown: Vec::new(),
    })
}

/// The pupil a line names: by username, or by full name ("Lily Wright", "Wright, Lily"); the
/// pupils it could be when several have that name.
fn pupils_named<'a>(line: &str, pupils: &'a [PupilConsent]) -> Vec<&'a PupilConsent> {
    let words = |text: &str| -> Vec<String> {
        text.split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let wanted = words(line);
    if wanted.is_empty() {
        return Vec::new();
    }
    if let [one] = wanted.as_slice()
        && let Some(pupil) = pupils.iter().find(|p| p.username.eq_ignore_ascii_case(one))
    {
        return vec![pupil];
    }
    let mut sorted = wanted.clone();
    sorted.sort();
    pupils
        .iter()
        .filter(|pupil| {
            let mut name = words(&pupil.name);
            name.sort();
            name == sorted
        })
        .collect()
}

/// `POST /consent/check?csrf=…` (multipart: `purpose`, `names`, `file`): who of the names
/// pasted (and the tag list uploaded) may appear for the purpose, who may not, and the names
/// that are no pupil or several.
pub async fn check(
    State(state): State<AppState>,
    user: CurrentUser,
    mut multipart: Multipart,
) -> Result<Response, AppError> {
    user.require(Permission::ViewConsent)?;
    let (mut purpose_name, mut names) = (String::new(), String::new());
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some("purpose") => purpose_name = field.text().await.map_err(unreadable)?,
            Some("names") => names.push_str(&field.text().await.map_err(unreadable)?),
            Some("file") => {
                let bytes = field.bytes().await.map_err(unreadable)?;
                if !bytes.is_empty() {
                    let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                        AppError::BadRequest(
                            "The tag list is not text: save it as a .txt or .csv file.".into(),
                        )
                    })?;
                    names.push('\n');
                    names.push_str(&text);
                }
            }
            _ => {}
        }
    }
    let purpose: Purpose = purpose_name
        .parse()
        .map_err(|_| AppError::BadRequest("Choose what the pictures are for.".into()))?;
    let pupils = state
        .store()
        .pupil_consents(user.account.school, None)
        .await?;
    let (mut may, mut may_not, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    // A tag list's line may be "Name, other columns": the name is what comes before a tab.
    let lines: Vec<&str> = names
        .lines()
        .map(|line| line.split('\t').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .take(MOST_LINES)
        .collect();
    for line in &lines {
        let found = pupils_named(line, &pupils);
        match found.as_slice() {
            [pupil] => {
                let standing = pupil.for_purpose(purpose);
                let entry = CheckLine {
                    asked: (*line).to_owned(),
                    name: pupil.name.clone(),
                    class_name: pupil.class_name.clone().unwrap_or_default(),
                    why: match standing {
                        Standing::Given => "Written consent".into(),
                        Standing::Refused => "Refused or withdrawn".into(),
                        Standing::NotAsked => "No written consent yet".into(),
                    },
                };
                if standing.may_appear() {
                    may.push(entry);
                } else {
                    may_not.push(entry);
                }
            }
            [] => unknown.push(CheckLine {
                asked: (*line).to_owned(),
                name: String::new(),
                class_name: String::new(),
                why: "No pupil has this name: check the spelling, or use the username".into(),
            }),
            several => unknown.push(CheckLine {
                asked: (*line).to_owned(),
                name: String::new(),
                class_name: String::new(),
                why: format!(
                    "{} pupils have this name: use the username ({})",
                    several.len(),
                    several
                        .iter()
                        .map(|p| p.username.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }
    user.record(
        state.store(),
        "consent.check",
        &format!("purpose:{}", purpose.as_str()),
        format!(
            "{} names: {} may appear, {} may not, {} not found",
            lines.len(),
            may.len(),
            may_not.len(),
            unknown.len()
        ),
        None,
    )
    .await?;
    render(&CheckPage {
        layout: Layout::for_user(&state, &user, "May these pupils appear?").await,
        purposes: purposes(),
        purpose: purpose.as_str().to_owned(),
        names,
        checked: true,
        purpose_title: purpose.title(),
        may,
        may_not,
        unknown,
    })
}

// ---------------------------------------------------------------------------------------------
// The file-name check

struct FlaggedFile {
    file: String,
    who: String,
}

#[derive(Template)]
#[template(path = "consent_file_names.html")]
struct FileNamesPage {
    layout: Layout,
    names: String,
    checked: usize,
    flagged: Vec<FlaggedFile>,
}

/// `GET /consent/file-names`: the form.
pub async fn file_names_page(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ViewConsent)?;
    render(&FileNamesPage {
        layout: Layout::for_user(&state, &user, "Names in file names").await,
        names: String::new(),
        checked: 0,
        flagged: Vec::new(),
    })
}

/// `POST /consent/file-names?csrf=…` (multipart: `files`, `names`): the file names (of the
/// images uploaded; their contents are not read or kept, and of the names pasted) that hold a
/// pupil's forename, surname or username (Park End: pupils must not be identifiable from an
/// image's file name).
pub async fn file_names(
    State(state): State<AppState>,
    user: CurrentUser,
    mut multipart: Multipart,
) -> Result<Response, AppError> {
    user.require(Permission::ViewConsent)?;
    let mut files: Vec<String> = Vec::new();
    let mut names = String::new();
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some("files") => {
                if let Some(name) = field.file_name().filter(|name| !name.is_empty()) {
                    files.push(name.chars().filter(|c| !c.is_control()).take(300).collect());
                }
                // The image itself is never read: the next field skips it.
            }
            Some("names") => names = field.text().await.map_err(unreadable)?,
            _ => {}
        }
    }
    files.extend(
        names
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned),
    );
    files.truncate(MOST_LINES);
    let pupils = state
        .store()
        .pupil_consents(user.account.school, None)
        .await?;
    let named: Vec<Named<'_>> = pupils
        .iter()
        .map(|pupil| Named {
            given: &pupil.given_name,
            family: &pupil.family_name,
            username: &pupil.username,
        })
        .collect();
    let flagged: Vec<FlaggedFile> = files
        .iter()
        .filter_map(|file| {
            let found = names_in_file_name(file, &named);
            (!found.is_empty()).then(|| FlaggedFile {
                file: file.clone(),
                who: found
                    .iter()
                    .map(|found| {
                        let pupil = &pupils[found.index];
                        format!("{} ({})", pupil.name, found.parts.join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            })
        })
        .collect();
    user.record(
        state.store(),
        "consent.file_names",
        "files",
        format!(
            "{} file names checked, {} flagged",
            files.len(),
            flagged.len()
        ),
        None,
    )
    .await?;
    render(&FileNamesPage {
        layout: Layout::for_user(&state, &user, "Names in file names").await,
        names,
        checked: files.len(),
        flagged,
    })
}
