//! Parents' e-endorsement (DESIGN.md A2, issue 27).
//!
//! The DSL or the headteacher makes each family a link of its own: emailed by Ward (a pasted
//! list of pupils and parents' addresses; *Send reminders* emails a new link to those who have
//! not answered), or printed as a letter with a short code for the parent to type at `/parent`.
//! A link needs no account; it is good for 30 days (by default) and for one answer, and the
//! store keeps only hashes of its token and code. On a phone-friendly page the parent reads the
//! child's agreement and the parents' agreement, endorses them, and answers each consent
//! question; everything is recorded with the time and the agreement's version. A change of mind
//! or a withdrawal is a new link.
//!
//! The parent's forms carry a double-submit token (the `ward_parent` cookie) besides the link's
//! own secret; bad links and codes from one address are limited.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use ward_records::Readers;
use ward_records::agreements::display_blocks;
use ward_records::consent::{Purpose, Written};
use ward_store::{
    NewAuditEntry, NewConsent, NewParentLink, ParentLink, Person, PersonId, SchoolId, Signer,
    Store, sha256_hex,
};

use crate::auth::{ClientAddress, CurrentUser};
use crate::layout::{Layout, local_time, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

/// The parent's double-submit cookie.
pub const PARENT_COOKIE: &str = "ward_parent";

/// How long a link is good for.
const LINK_DAYS: i64 = 30;

/// Bad links or codes one address may try in an hour.
const BAD_KEYS_PER_HOUR: usize = 20;

/// Letters: easy to read and type (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// What sends a parent's link by email (the binary's mail server settings).
pub trait Mailer: Send + Sync + std::fmt::Debug + 'static {
    /// Sends `body` to `to` with `subject`; `Err` says why not.
    fn send<'a>(
        &'a self,
        to: &'a str,
        subject: &'a str,
        body: String,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;
}

/// Bad keys tried per address.
#[derive(Default)]
pub struct BadKeys(Mutex<HashMap<IpAddr, Vec<Instant>>>);

impl BadKeys {
    /// Whether `address` may try another key.
    fn allowed(&self, address: Option<IpAddr>) -> bool {
        let Some(address) = address else { return true };
        let Ok(mut tried) = self.0.lock() else {
            return false;
        };
        let hour = Duration::from_secs(3600);
        let times = tried.entry(address).or_default();
        times.retain(|at| at.elapsed() < hour);
        times.len() < BAD_KEYS_PER_HOUR
    }

    fn note(&self, address: Option<IpAddr>) {
        if let (Some(address), Ok(mut tried)) = (address, self.0.lock()) {
            if tried.len() > 10_000 {
                tried.retain(|_, times| {
                    times
                        .iter()
                        .any(|at| at.elapsed() < Duration::from_secs(3600))
                });
            }
            tried.entry(address).or_default().push(Instant::now());
        }
    }
}

/// `length` characters drawn evenly from `alphabet` (bytes that would favour its first
/// characters are drawn again).
fn random_text(length: usize, alphabet: &[u8]) -> Result<String, AppError> {
    let even = 256 - 256 % alphabet.len();
    let mut text = String::with_capacity(length);
    let mut bytes = [0u8; 64];
    while text.len() < length {
        getrandom::fill(&mut bytes).map_err(|error| AppError::Internal(error.to_string()))?;
        for byte in bytes.iter().map(|byte| usize::from(*byte)) {
            if byte < even && text.len() < length {
                text.push(char::from(alphabet[byte % alphabet.len()]));
            }
        }
    }
    Ok(text)
}

/// The school's name, as pages and messages say it (empty if it cannot be read).
async fn school_name(state: &AppState, school: ward_store::SchoolId) -> String {
    state
        .store()
        .school(school)
        .await
        .map(|school| school.name)
        .unwrap_or_default()
}

/// A key as typed or linked: a token, or a letter's code (any case, spaces and dashes ignored).
fn key_hash(key: &str) -> String {
    let normal: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    sha256_hex(normal.as_bytes())
}

/// What makes parents' links and emails them: the console's pages, and the notifier's weekly
/// reminders.
pub struct LinkSender<'a> {
    /// The store.
    pub store: &'a Store,
    /// The mail server (`None`: links can be printed, not emailed).
    pub mailer: Option<&'a dyn Mailer>,
    /// How parents reach the console (`http(s)://host[:port]`).
    pub public_url: &'a str,
    /// The school.
    pub school: SchoolId,
    /// Who makes the links (an account's username, or `ward` for the reminders).
    pub by: &'a str,
}

/// The oldest an unanswered link may be before the weekly reminder sends a new one.
const REMIND_AFTER: SignedDuration = SignedDuration::from_hours(24 * 7);

/// Links sent to one address for one pupil after which the weekly reminders stop (the first
/// and three reminders).
const MOST_LINKS: usize = 4;

impl LinkSender<'_> {
    /// A new link for `person`: (token, code), kept as hashes.
    async fn make(
        &self,
        person: PersonId,
        email: Option<String>,
    ) -> Result<(String, String), String> {
        // 32 characters of 31: 158 bits.
        let token = random_text(32, CODE_ALPHABET).map_err(|error| format!("{error:?}"))?;
        let code = random_text(10, CODE_ALPHABET).map_err(|error| format!("{error:?}"))?;
        self.store
            .create_parent_link(
                self.school,
                &NewParentLink {
                    person,
                    token_hash: key_hash(&token),
                    code_hash: key_hash(&code),
                    email,
                    expires_at: Timestamp::now() + SignedDuration::from_hours(24 * LINK_DAYS),
                },
                self.by,
            )
            .await
            .map_err(|error| error.to_string())?;
        Ok((token, format!("{}-{}", &code[..5], &code[5..])))
    }

    fn address(&self, token: &str) -> String {
        format!(
            "{}/parent?key={token}",
            self.public_url.trim_end_matches('/')
        )
    }

    /// Makes a link for `pupil` and emails it to `address`.
    async fn email(&self, pupil: &Person, address: &str, reminder: bool) -> Result<(), String> {
        let Some(mailer) = self.mailer else {
            return Err("email is not set up".into());
        };
        let (token, code) = self.make(pupil.id, Some(address.to_owned())).await?;
        let school = self
            .store
            .school(self.school)
            .await
            .map(|school| school.name)
            .unwrap_or_default();
        let subject = format!(
            "{}{}: {}'s online safety agreement and photo consent",
            if reminder { "Reminder from " } else { "" },
            school,
            pupil.given_name
        );
        let body = format!(
            "Dear parent or carer of {given} {family},\n\n\
             Each year we ask every family to read their child's online safety agreement with them, \
             and to say whether the school may use photographs and videos of their child.\n\n\
             Please open this link (it is for your family only, works once, and for {days} days):\n\n\
             {link}\n\n\
             Or go to {base}/parent and type the code {code}.\n\n\
             You can change your answers at any time: ask the school office for a new link.\n\n\
             {school}\n",
            given = pupil.given_name,
            family = pupil.family_name,
            days = LINK_DAYS,
            link = self.address(&token),
            base = self.public_url.trim_end_matches('/'),
        );
        mailer.send(address, &subject, body).await
    }

    /// Emails a new link to each address whose latest link is unanswered: every one
    /// (`weekly` false: the staff's button), or (`weekly`) only those whose latest link is a
    /// week old and that have had fewer than four. The number sent, and what could not be.
    pub async fn remind(
        &self,
        weekly: bool,
    ) -> Result<(usize, Vec<String>), ward_store::StoreError> {
        let links = self.store.parent_links(self.school).await?;
        // Newest first: the first link seen per pupil and address is the latest.
        let mut latest: HashMap<(PersonId, String), (bool, Timestamp, usize)> = HashMap::new();
        for link in &links {
            if let Some(email) = &link.email {
                latest
                    .entry((link.person, email.clone()))
                    .and_modify(|(_, _, count)| *count += 1)
                    .or_insert((link.used_at.is_none(), link.created_at, 1));
            }
        }
        let now = Timestamp::now();
        let (mut sent, mut problems) = (0usize, Vec::new());
        for ((person, email), (unanswered, made, count)) in latest {
            if !unanswered || (weekly && (now - made < REMIND_AFTER || count >= MOST_LINKS)) {
                continue;
            }
            let Ok(pupil) = self.store.person(self.school, person).await else {
                continue;
            };
            if pupil.left_at.is_some() {
                continue;
            }
            match self.email(&pupil, &email, true).await {
                Ok(()) => sent += 1,
                Err(error) => problems.push(format!("{}: not sent: {error}", pupil.username)),
            }
        }
        Ok((sent, problems))
    }
}

fn sender<'a>(state: &'a AppState, user: &'a CurrentUser) -> LinkSender<'a> {
    LinkSender {
        store: state.store(),
        mailer: state.config().mailer.as_deref(),
        public_url: &state.config().public_url,
        school: user.account.school,
        by: &user.account.username,
    }
}

// ---------------------------------------------------------------------------------------------
// The staff's page

struct LinkLine {
    pupil: String,
    email: String,
    made: String,
    expires: String,
    answered: String,
}

#[derive(Template)]
#[template(path = "parents.html")]
struct ParentsPage {
    layout: Layout,
    classes: Vec<String>,
    lines: Vec<LinkLine>,
    mail: bool,
    message: String,
    problems: Vec<String>,
    pairs: String,
}

async fn parents_page(
    state: &AppState,
    user: &CurrentUser,
    message: String,
    problems: Vec<String>,
    pairs: String,
) -> Result<ParentsPage, AppError> {
    let school = user.account.school;
    let pupils = state.store().pupil_consents(school, None).await?;
    let mut classes: Vec<String> = pupils.iter().filter_map(|p| p.class_name.clone()).collect();
    classes.sort();
    classes.dedup();
    let names: HashMap<PersonId, String> = pupils.into_iter().map(|p| (p.person, p.name)).collect();
    let lines = state
        .store()
        .parent_links(school)
        .await?
        .into_iter()
        .take(500)
        .map(|link| LinkLine {
            pupil: names.get(&link.person).cloned().unwrap_or_default(),
            email: link.email.unwrap_or_else(|| "letter".into()),
            made: format!(
                "{} by {}",
                local_time(state, link.created_at),
                link.created_by
            ),
            expires: local_time(state, link.expires_at),
            answered: link
                .used_at
                .map(|at| local_time(state, at))
                .unwrap_or_default(),
        })
        .collect();
    Ok(ParentsPage {
        layout: Layout::for_user(state, user, "Parents' links").await,
        classes,
        lines,
        mail: state.config().mailer.is_some(),
        message,
        problems,
        pairs,
    })
}

/// `GET /parents`: the links made, and the forms to email or print more.
pub async fn page(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::ManageAgreements)?;
    render(&parents_page(&state, &user, String::new(), Vec::new(), String::new()).await?)
}

/// The email form: one pupil and address a line.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EmailForm {
    pairs: String,
}

fn email_problem(address: &str) -> Option<&'static str> {
    let ok = address.len() <= 254
        && address
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '<');
    (!ok).then_some("is not an email address")
}

/// `POST /parents/email`: a link emailed to each parent in the list (`username or UPN,
/// address` a line); the lines that could not be sent say why.
pub async fn email(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<EmailForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAgreements)?;
    let school = user.account.school;
    let (mut sent, mut problems) = (0usize, Vec::new());
    for (number, line) in form.pairs.lines().enumerate().take(2000) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((who, address)) = line
            .split_once([',', '\t', ';'])
            .map(|(who, address)| (who.trim(), address.trim()))
        else {
            problems.push(format!(
                "line {}: write the pupil, a comma, then the address",
                number + 1
            ));
            continue;
        };
        if let Some(problem) = email_problem(address) {
            problems.push(format!("line {}: {address:?} {problem}", number + 1));
            continue;
        }
        let pupil = match state.store().person_by_username(school, who).await? {
            Some(person) => Some(person),
            None => state.store().person_by_external_id(school, who).await?,
        };
        let Some(pupil) =
            pupil.filter(|p| p.kind == ward_store::PersonKind::Pupil && p.left_at.is_none())
        else {
            problems.push(format!(
                "line {}: no pupil has the username or UPN {who:?}",
                number + 1
            ));
            continue;
        };
        match sender(&state, &user).email(&pupil, address, false).await {
            Ok(()) => sent += 1,
            Err(error) => problems.push(format!("line {}: not sent: {error}", number + 1)),
        }
    }
    user.record(
        state.store(),
        "parents.email",
        "parents",
        format!("{sent} links emailed, {} lines not sent", problems.len()),
        None,
    )
    .await?;
    let message = format!("{sent} links emailed.");
    let pairs = if problems.is_empty() {
        String::new()
    } else {
        form.pairs
    };
    let page = parents_page(&state, &user, message, problems, pairs).await?;
    render(&page)
}

/// `POST /parents/remind`: a new link emailed to each address whose latest link is unanswered.
pub async fn remind(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAgreements)?;
    let (sent, problems) = sender(&state, &user).remind(false).await?;
    user.record(
        state.store(),
        "parents.remind",
        "parents",
        format!("{sent} reminders emailed"),
        None,
    )
    .await?;
    let page = parents_page(
        &state,
        &user,
        format!("{sent} reminders emailed."),
        problems,
        String::new(),
    )
    .await?;
    render(&page)
}

struct Letter {
    name: String,
    class_name: String,
    code: String,
    link: String,
}

#[derive(Template)]
#[template(path = "parent_letters.html")]
struct LettersPage {
    school: String,
    base: String,
    letters: Vec<Letter>,
    days: i64,
}

/// The letters form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LettersForm {
    class: String,
}

/// `POST /parents/letters`: a letter with a link and a short code for each pupil of a class,
/// to print (the codes are shown this once).
pub async fn letters(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<LettersForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageAgreements)?;
    let school = user.account.school;
    let class = form.class.trim();
    if class.is_empty() {
        return Err(AppError::BadRequest("Choose a class.".into()));
    }
    let pupils = state.store().pupil_consents(school, Some(class)).await?;
    let mut letters = Vec::with_capacity(pupils.len());
    for pupil in &pupils {
        let links = sender(&state, &user);
        let (token, code) = links
            .make(pupil.person, None)
            .await
            .map_err(AppError::Internal)?;
        letters.push(Letter {
            name: pupil.name.clone(),
            class_name: class.to_owned(),
            code,
            link: links.address(&token),
        });
    }
    user.record(
        state.store(),
        "parents.letters",
        &format!("class:{class}"),
        format!("{} letters", letters.len()),
        None,
    )
    .await?;
    let school_name = school_name(&state, school).await;
    let page = LettersPage {
        school: school_name,
        base: state.config().public_url.trim_end_matches('/').to_owned(),
        letters,
        days: LINK_DAYS,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(page.render()?)).into_response())
}

// ---------------------------------------------------------------------------------------------
// The parent's pages

#[derive(Template)]
#[template(path = "parent.html")]
struct ParentPage {
    school: String,
    /// Empty: the page to type a code.
    key: String,
    child: String,
    child_agreement: Vec<(&'static str, String, String)>,
    child_title: String,
    parents_agreement: Vec<(&'static str, String, String)>,
    parents_title: String,
    purposes: Vec<(&'static str, &'static str, String)>,
    parent_name: String,
    problem: String,
    csrf: String,
}

#[derive(Template)]
#[template(path = "parent_message.html")]
struct ParentMessage {
    school: String,
    title: String,
    message: String,
    lines: Vec<String>,
}

fn message(
    status: StatusCode,
    school: String,
    title: &str,
    text: &str,
) -> Result<Response, AppError> {
    let page = ParentMessage {
        school,
        title: title.to_owned(),
        message: text.to_owned(),
        lines: Vec::new(),
    };
    Ok((
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Html(page.render()?),
    )
        .into_response())
}

fn with_cookie(state: &AppState, mut response: Response, token: &str) -> Response {
    response.headers_mut().append(
        header::SET_COOKIE,
        crate::auth::set_cookie(state, PARENT_COOKIE, token, 3600),
    );
    response
}

/// What a key found: the link, its pupil, or the page that says why not.
async fn usable(
    state: &AppState,
    key: &str,
    address: Option<IpAddr>,
) -> Result<Result<(ParentLink, Person), Response>, AppError> {
    let refused = |status, title: &str, text: &str| message(status, String::new(), title, text);
    if !state.bad_keys().allowed(address) {
        return Ok(Err(refused(
            StatusCode::TOO_MANY_REQUESTS,
            "Please wait",
            "Too many links or codes that were not right came from here. Please try again in an hour, or ask the school for help.",
        )?));
    }
    let link = state.store().parent_link(&key_hash(key)).await?;
    let Some(link) = link else {
        state.bad_keys().note(address);
        return Ok(Err(refused(
            StatusCode::NOT_FOUND,
            "This link or code is not right",
            "Please check it, or copy the whole link from the email. If it still does not work, ask the school for a new one.",
        )?));
    };
    let school = school_name(state, link.school).await;
    if link.used_at.is_some() {
        return Ok(Err(message(
            StatusCode::GONE,
            school,
            "This link has been used",
            "Your answers were saved. Each link works once: to change them, ask the school for a new link.",
        )?));
    }
    if link.expires_at <= Timestamp::now() {
        return Ok(Err(message(
            StatusCode::GONE,
            school,
            "This link has expired",
            "Please ask the school for a new one.",
        )?));
    }
    let person = state.store().person(link.school, link.person).await?;
    if person.left_at.is_some() {
        return Ok(Err(message(
            StatusCode::GONE,
            school,
            "This link is no longer needed",
            "The school's records say your child has left.",
        )?));
    }
    Ok(Ok((link, person)))
}

/// The parent's query and form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ParentForm {
    key: String,
    csrf: String,
    parent_name: String,
    endorse: String,
    #[serde(flatten)]
    answers: crate::consent::PurposeAnswers,
}

async fn parent_form(
    state: &AppState,
    link: &ParentLink,
    person: &Person,
    key: &str,
    form: &ParentForm,
    problem: &str,
    status: StatusCode,
) -> Result<Response, AppError> {
    let readers = Readers::for_person("pupil", person.year_group.as_deref());
    let child = state
        .store()
        .agreement_in_force(link.school, readers)
        .await?;
    let parents = state
        .store()
        .agreement_in_force(link.school, Readers::Parents)
        .await?;
    let csrf = random_text(32, CODE_ALPHABET)?;
    let school = school_name(state, link.school).await;
    let page = ParentPage {
        school,
        key: key.to_owned(),
        child: format!("{} {}", person.given_name, person.family_name),
        child_title: child.title.clone(),
        child_agreement: display_blocks(&child.body),
        parents_title: parents.title.clone(),
        parents_agreement: display_blocks(&parents.body),
        purposes: form.answers.lines(),
        parent_name: form.parent_name.clone(),
        problem: problem.to_owned(),
        csrf: csrf.clone(),
    };
    let response = (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Html(page.render()?),
    )
        .into_response();
    Ok(with_cookie(state, response, &csrf))
}

/// `GET /parent?key=…`: the parent's page for the link or code (without one: the page to type
/// the letter's code).
pub async fn parent_page(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Query(query): Query<ParentForm>,
) -> Result<Response, AppError> {
    let key = query.key.trim();
    if key.is_empty() {
        let page = ParentPage {
            school: String::new(),
            key: String::new(),
            child: String::new(),
            child_agreement: Vec::new(),
            child_title: String::new(),
            parents_agreement: Vec::new(),
            parents_title: String::new(),
            purposes: Vec::new(),
            parent_name: String::new(),
            problem: String::new(),
            csrf: String::new(),
        };
        return Ok(Html(page.render()?).into_response());
    }
    match usable(&state, key, address).await? {
        Ok((link, person)) => {
            parent_form(
                &state,
                &link,
                &person,
                key,
                &ParentForm::default(),
                "",
                StatusCode::OK,
            )
            .await
        }
        Err(refused) => Ok(refused),
    }
}

/// `POST /parent`: the parent's answers: the endorsement and each consent question, recorded
/// with the time and the agreements' versions; the link is spent.
pub async fn parent_answer(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    axum::Form(form): axum::Form<ParentForm>,
) -> Result<Response, AppError> {
    let key = form.key.trim().to_owned();
    let (link, person) = match usable(&state, &key, address).await? {
        Ok(found) => found,
        Err(refused) => return Ok(refused),
    };
    let answers = form.answers.given().unwrap_or_default();
    let problem = if form.endorse != "yes" {
        "Please tick the box to say you have read the agreements with your child."
    } else if answers.len() != Purpose::ALL.len() {
        "Please answer Yes or No for each use of photographs and videos."
    } else if form.parent_name.trim().is_empty() || form.parent_name.chars().count() > 200 {
        "Please write your name."
    } else {
        ""
    };
    if !problem.is_empty() {
        return parent_form(
            &state,
            &link,
            &person,
            &key,
            &form,
            problem,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    // Recorded first, then the link spent: a failure on the way loses no answer (the parent
    // can send again), and two tabs sending at once record the same answers twice, harmlessly.
    let school = link.school;
    let parent = form.parent_name.trim().to_owned();
    let readers = Readers::for_person("pupil", person.year_group.as_deref());
    let store = state.store();
    let year = crate::agreements::this_school_year(&state);
    let mut versions = Vec::new();
    for readers in [readers, Readers::Parents] {
        let agreement = store.agreement_in_force(school, readers).await?;
        store
            .answer_agreement(
                school,
                &agreement,
                Signer::Person(person.id),
                &parent,
                true,
                year,
                if readers == Readers::Parents {
                    "parent-link"
                } else {
                    "parent-link (child's)"
                },
            )
            .await?;
        versions.push(format!("{} version {}", agreement.title, agreement.version));
    }
    store
        .record_consent(
            school,
            &NewConsent {
                person: person.id,
                answers: answers.clone(),
                written: Written::ParentLink,
                parent_name: parent.clone(),
                form_dated: None,
                note: String::new(),
            },
            "parent",
        )
        .await?;
    let said: Vec<String> = answers
        .iter()
        .map(|(purpose, given)| {
            format!("{}: {}", purpose.title(), if *given { "yes" } else { "no" })
        })
        .collect();
    store
        .append_audit(
            school,
            &NewAuditEntry {
                actor: format!("parent of {}", person.username),
                action: "parents.answer".into(),
                subject: format!("person:{}", person.id.0),
                detail: format!(
                    "{parent} endorsed {}; {}",
                    versions.join(" and "),
                    said.join(", ")
                ),
                reason: None,
            },
        )
        .await?;
    state.store().spend_parent_link(link.id).await?;
    let page = ParentMessage {
        school: school_name(&state, school).await,
        title: "Thank you".into(),
        message: format!(
            "Your answers for {} are saved. To change them later, ask the school for a new link.",
            person.given_name
        ),
        lines: said,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(page.render()?)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_text_is_as_long_as_asked_and_only_from_the_alphabet() {
        for length in [0, 1, 10, 32, 1000] {
            let text = random_text(length, CODE_ALPHABET).expect("random");
            assert_eq!(text.len(), length);
            assert!(
                text.bytes().all(|byte| CODE_ALPHABET.contains(&byte)),
                "{text}"
            );
        }
        // Every letter of the alphabet turns up in a long enough text.
        let text = random_text(5000, CODE_ALPHABET).expect("random");
        assert!(
            CODE_ALPHABET
                .iter()
                .all(|letter| text.as_bytes().contains(letter))
        );
    }

    #[test]
    fn keys_match_however_they_are_typed() {
        assert_eq!(key_hash("K7PQM-3XDRA"), key_hash("k7pqm 3xdra"));
        assert_ne!(key_hash("K7PQM-3XDRA"), key_hash("K7PQM-3XDRB"));
    }
}
