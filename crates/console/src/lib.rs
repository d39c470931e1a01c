//! Ward's console: the web app staff use, server-rendered (askama) and usable without
//! JavaScript.
//!
//! [`router`] builds the whole app from an [`AppState`]; `ward serve` runs it on a listener and
//! tests drive it the same way. Every route checks the logged-in account's roles on the server
//! ([`roles`]); every state-changing request is refused without the session's CSRF token (the
//! [`csrf`] middleware, which runs before any handler); every privileged action writes an audit
//! entry. The console holds no SQL: it asks `ward-store`.

mod accounts;
mod activity;
mod agreements;
mod alerts;
mod audit;
pub mod auth;
mod charts;
mod consent;
pub mod csrf;
mod csv;
mod dashboard;
mod detection;
mod devices;
mod error;
pub mod filtering;
mod incidents;
pub(crate) mod layout;
mod loans;
pub mod parents;
pub mod passwords;
mod people;
pub mod roles;
pub mod sso;
mod tell;
pub mod totp;
mod training;
mod unblock;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use jiff::SignedDuration;
use jiff::tz::TimeZone;
use ward_records::Sanctions;
use ward_store::{EventSink, Exclusion, Store, UnblockGrant};

pub use error::AppError;

/// How the console behaves; `ward serve` fills it from Ward's configuration.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// Mark cookies `Secure` (set when the console is served over HTTPS, directly or behind a
    /// TLS-terminating proxy).
    pub secure_cookies: bool,
    /// How long a log-in lasts.
    pub session_lifetime: SignedDuration,
    /// Failed log-ins allowed before each further one locks the account for a doubling time.
    pub free_login_attempts: i64,
    /// The longest such lock.
    pub max_lockout: SignedDuration,
    /// The school's time zone, for "today" and for the times shown.
    pub time_zone: TimeZone,
    /// Largest upload (CSV import), in bytes.
    pub upload_limit: usize,
    /// The school's actions and sanctions tables, which incidents are recorded against.
    pub sanctions: Arc<Sanctions>,
    /// What risk detection watches for, for the public page that tells pupils and parents.
    pub watched: Arc<Watched>,
    /// Roles whose accounts sign in with a code from an authenticator app as well as the
    /// password (the DSL and the headteacher: they see pupils' data).
    pub second_factor_roles: ward_store::Roles,
    /// "Sign in with Microsoft / Google", when set up.
    pub sso: Option<Arc<sso::Sso>>,
    /// Password rules for staff accounts and pupils' Ward passwords.
    pub passwords: Arc<passwords::PasswordPolicy>,
    /// The school's directory, for the accounts it made (`None`: they cannot log in with a
    /// password; single sign-on still works).
    pub directory: Option<Arc<dyn auth::DirectoryPasswords>>,
    /// The month and day the school year starts (agreements are accepted once a school year).
    pub year_starts: (i8, i8),
    /// Sends parents their links (`None`: no mail server; letters still work).
    pub mailer: Option<Arc<dyn parents::Mailer>>,
    /// How parents (and staff, in messages) reach the console: `http(s)://host[:port]`.
    pub public_url: String,
}

/// What risk detection watches for, as the public page `/watched` lists it. The phrases
/// themselves are not published: a list of them would be a guide to evading them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watched {
    /// Whether the proxy scans at all (off when detection or the proxy is off).
    pub enabled: bool,
    /// How much of each page is read, in KiB.
    pub page_limit_kb: usize,
    /// Whether secure (HTTPS) sites are read too (HTTPS inspection is on).
    pub https: bool,
    /// The categories, in the lists' order.
    pub categories: Vec<WatchedCategory>,
}

impl Watched {
    /// An alert's category as staff read it: a risk category's title (`Self-harm and
    /// suicide`), one of Ward's own kinds of alert, or a list's readable name (`Hate and
    /// aggression` for UT1's `agressif`). An id nothing names is shown with a capital letter.
    pub fn category_name(&self, id: &str) -> String {
        if let Some(category) = self.categories.iter().find(|c| c.id == id) {
            return category.title.clone();
        }
        let own = match id {
            "concern" => "Concern reported by a pupil",
            "system" => "Ward itself",
            "failed-log-ins" => "Repeated failed log-ins",
            "account-in-use-twice" => "Account in use at two places at once",
            "pupil-account-on-staff-device" => "Pupil's account on a staff computer",
            "staff-account-on-pupil-device" => "Staff account on a pupils' computer",
            _ => match ward_policy::category_name(id) {
                Some(named) => named.name.as_str(),
                // A risk category of lists this console does not run: its id, as a word.
                None => {
                    let mut letters = id.chars();
                    return letters.next().map_or_else(String::new, |first| {
                        first.to_uppercase().chain(letters).collect()
                    });
                }
            },
        };
        own.to_owned()
    }
}

/// One category of risk detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedCategory {
    /// Its id (`self-harm`).
    pub id: String,
    /// Its name (`Self-harm and suicide`).
    pub title: String,
    /// What it watches for, in a sentence (may be empty for imported lists).
    pub about: String,
    /// How many phrases it has.
    pub phrases: usize,
}

impl Default for ConsoleConfig {
    fn default() -> ConsoleConfig {
        ConsoleConfig {
            secure_cookies: false,
            session_lifetime: SignedDuration::from_hours(8),
            free_login_attempts: 5,
            max_lockout: SignedDuration::from_mins(15),
            time_zone: TimeZone::get("Europe/London").unwrap_or(TimeZone::UTC),
            upload_limit: 10 << 20,
            sanctions: Arc::new(Sanctions::default_tables()),
            watched: Arc::new(Watched::default()),
            second_factor_roles: ward_store::Roles::new([
                ward_store::Role::Dsl,
                ward_store::Role::Headteacher,
            ]),
            sso: None,
            passwords: Arc::new(passwords::PasswordPolicy::default()),
            directory: None,
            year_starts: (9, 1),
            mailer: None,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// Why the live filter refuses what the console asked, in words for the member of staff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// What the console asks of the filtering gateway running in the same process.
pub trait FilterHooks: Send + Sync + 'static {
    /// Whether approving request `id` as `grant` could go into the live policy: `Err` says why
    /// not (an illegal-content list covers the site, the group is not in the policy).
    fn check_grant(&self, id: ward_store::RequestId, grant: &UnblockGrant) -> Result<(), Refused>;
    /// The store's grants or device register have changed: put them in force now.
    fn records_changed(&self);
    /// What the live policy decides for `site` (a host or URL) for `group` now: `Err` when the
    /// site cannot be read or the group is not in the policy.
    fn classify(&self, site: &str, group: &str) -> Result<Classified, Refused>;
    /// The school's risk-detection exclusions have changed: put `in_force` (as the store has
    /// them now) in force at once.
    fn exclusions_changed(&self, in_force: &[Exclusion]);
    /// `phrase` as the detection lists write it (normalised), if one of them has it: `Err` says
    /// why not. An exclusion of a phrase no list has would leave out nothing.
    fn listed_phrase(&self, phrase: &str) -> Result<String, Refused>;
    /// HTTPS inspection and the school's certificate, for the dashboard (`None`: no proxy runs
    /// here, and no certificate has been made).
    fn https_status(&self) -> Option<HttpsStatus> {
        None
    }
    /// What the live policy decides for `site` (a host or URL) for `group` (and the user
    /// `user`, for nominated users and personal grants) at `at`, with why: `Err` when the site
    /// cannot be read or the group is not in the policy. By default nothing can be asked.
    fn explain(
        &self,
        site: &str,
        group: &str,
        user: Option<&str>,
        at: jiff::Timestamp,
    ) -> Result<Explained, Refused> {
        let _ = (site, group, user, at);
        Err(Refused(
            "no filter runs with this console, so nothing can be tested here".into(),
        ))
    }
    /// The category lists in force: when the index was built, and each category's size.
    fn lists_status(&self) -> Option<ListsStatus> {
        None
    }
    /// Rebuilds the lists from their configured source now (blocking: call it off the async
    /// threads): what was done, or why not (the lists in force stay).
    fn update_lists(&self) -> Result<String, Refused> {
        Err(Refused(
            "no filter runs with this console, so its lists cannot be updated here".into(),
        ))
    }
    /// Ward's own filtering self-test: that each group's filtering blocks what the law and the
    /// standards require. Blocking (it asks the running DNS filter too): call it off the async
    /// threads. By default nothing can be tested.
    fn self_test(&self) -> Result<SelfTest, Refused> {
        Err(Refused(
            "no filter runs with this console, so nothing can be tested here".into(),
        ))
    }
    /// Whether `text`, a whole policy document, compiles against the category index in force
    /// (an allow that reaches an illegal-content entry is refused, with the rule named): its
    /// warnings, or why not. By default nothing can be checked, so nothing is saved.
    fn check_policy(&self, text: &str) -> Result<Vec<String>, Refused> {
        let _ = text;
        Err(Refused(
            "no filter runs with this console, so a policy change cannot be checked here".into(),
        ))
    }
}

/// HTTPS inspection as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsStatus {
    /// Whether the proxy inspects HTTPS.
    pub inspecting: bool,
    /// The school's certificate that signs now: (name, expiry), if one has been made.
    pub certificate: Option<(String, jiff::Timestamp)>,
    /// The next certificate, prepared for a planned change: (name, expiry).
    pub next: Option<(String, jiff::Timestamp)>,
    /// Connections inspected since start.
    pub inspected: u64,
    /// Connections not inspected since start: (site, device, why in words, count), most first.
    pub uninspected: Vec<(String, String, String, u64)>,
    /// Answers in which the DNS filter removed an offer of HTTP/3 (QUIC) since start.
    pub http3_removed: u64,
}

/// The live policy's decision on a site, for a request made in the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The site's host, normalised.
    pub host: String,
    /// The address as written, normalised.
    pub url: String,
    /// Whether the group is blocked from it now.
    pub blocked: bool,
    /// Its categories, comma-separated.
    pub categories: String,
    /// Why it is blocked (or allowed).
    pub reason: String,
}

/// The live policy's decision on a site, with every step of its precedence, for the URL
/// tester.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    /// The address as read, normalised.
    pub url: String,
    /// The group whose policy applied.
    pub group: String,
    /// Whether it is blocked.
    pub blocked: bool,
    /// Why, as the block page and the log say it.
    pub reason: String,
    /// The step of the precedence that decided (1 to 7).
    pub step: usize,
    /// The User Actions row that decided, if one did.
    pub rule: Option<String>,
    /// Every category the site is in.
    pub categories: Vec<String>,
}

/// The category lists in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListsStatus {
    /// When the index file was written.
    pub built: Option<jiff::Timestamp>,
    /// Where updates come from and how often, as staff read it (`None`: updates are not
    /// configured).
    pub source: Option<String>,
    /// Each category: (id, domains, URL prefixes, expressions, illegal).
    pub categories: Vec<(String, u64, u64, u64, bool)>,
}

/// A filtering self-test's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfTest {
    /// The policy version tested.
    pub version: Option<i64>,
    /// Each check.
    pub lines: Vec<SelfTestLine>,
}

/// One check of a self-test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfTestLine {
    /// What was checked (`Gambling`, `Illegal content (iwf)`, `Safe search`).
    pub check: String,
    /// For whom, or through what (`ks2`, `the DNS filter at 127.0.0.1:53`).
    pub who: String,
    /// `passed`, `failed` or `not tested`.
    pub outcome: &'static str,
    /// What was seen.
    pub detail: String,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: ConsoleConfig,
    events: Option<EventSink>,
    filter: Option<Arc<dyn FilterHooks>>,
    /// Whether the database is there: while it is not (Ward started without it), every page
    /// says so instead of failing one query at a time.
    database_ready: Arc<std::sync::atomic::AtomicBool>,
    /// Who has accepted the staff agreement in force (so that it is not read on every page).
    agreed: Arc<agreements::Agreed>,
    /// Parents' links and codes that were not right, per address.
    bad_keys: Arc<parents::BadKeys>,
}

impl AppState {
    /// State for a console on `store`; `events` is the event writer's sink, whose health the
    /// dashboard shows (absent when no gateway runs in this process).
    pub fn new(store: Store, config: ConsoleConfig, events: Option<EventSink>) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                store,
                config,
                events,
                filter: None,
                database_ready: Arc::new(std::sync::atomic::AtomicBool::new(true)),
                agreed: Arc::default(),
                bad_keys: Arc::default(),
            }),
        }
    }

    /// The same state, with the gateway of this process to check and apply grants. Without
    /// one, decisions are still saved, and gateways pick them up within half a minute.
    pub fn with_filter(
        store: Store,
        config: ConsoleConfig,
        events: Option<EventSink>,
        filter: Arc<dyn FilterHooks>,
    ) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                store,
                config,
                events,
                filter: Some(filter),
                database_ready: Arc::new(std::sync::atomic::AtomicBool::new(true)),
                agreed: Arc::default(),
                bad_keys: Arc::default(),
            }),
        }
    }

    /// The same state, with `ready` saying whether the database is there (set by whoever
    /// reconnects to it).
    pub fn with_database_ready(self, ready: Arc<std::sync::atomic::AtomicBool>) -> AppState {
        let inner = Inner {
            store: self.inner.store.clone(),
            config: self.inner.config.clone(),
            events: self.inner.events.clone(),
            filter: self.inner.filter.clone(),
            database_ready: ready,
            agreed: self.inner.agreed.clone(),
            bad_keys: self.inner.bad_keys.clone(),
        };
        AppState {
            inner: Arc::new(inner),
        }
    }

    /// The filtering gateway of this process, if it runs one.
    pub fn filter(&self) -> Option<&Arc<dyn FilterHooks>> {
        self.inner.filter.as_ref()
    }

    /// `school`'s filtering records (policy, devices, grants, exclusions) changed: this
    /// process's filters read them now, and other gateways on the same PostgreSQL database are
    /// told (`NOTIFY`).
    pub async fn filter_changed(&self, school: ward_store::SchoolId) {
        if let Some(filter) = self.filter() {
            filter.records_changed();
        }
        self.store().notify_filter_changed(school).await;
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &ConsoleConfig {
        &self.inner.config
    }

    /// Who has accepted the staff agreement in force.
    pub(crate) fn agreed(&self) -> &agreements::Agreed {
        &self.inner.agreed
    }

    /// Parents' links and codes that were not right, per address.
    pub(crate) fn bad_keys(&self) -> &parents::BadKeys {
        &self.inner.bad_keys
    }

    /// The event writer's sink, if this process runs one.
    pub fn events(&self) -> Option<&EventSink> {
        self.inner.events.as_ref()
    }
}

const STYLE: &str = include_str!("../static/style.css");

/// The whole console.
pub fn router(state: AppState) -> Router {
    let upload_limit = state.config().upload_limit;
    Router::new()
        .route("/", get(dashboard::dashboard))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/login/code", get(totp::code_page).post(totp::check_code))
        .route("/login/sso", get(sso::start))
        .route("/login/sso/callback", get(sso::callback))
        .route(
            "/account/password",
            get(auth::password_page).post(auth::change_password),
        )
        .route("/filtering", get(filtering::overview))
        .route(
            "/filtering/rules/{id}",
            get(filtering::rule).post(filtering::save_rule),
        )
        .route("/filtering/versions", get(filtering::versions))
        .route("/filtering/compare", get(filtering::compare))
        .route(
            "/filtering/versions/{number}/restore",
            post(filtering::restore),
        )
        .route("/filtering/log.csv", get(filtering::log_csv))
        .route("/filtering/test", get(filtering::test))
        .route(
            "/filtering/sources",
            get(filtering::sources).post(filtering::update_sources),
        )
        .route(
            "/filtering/self-test",
            get(filtering::self_test).post(filtering::run_self_test),
        )
        .route(
            "/filtering/windows",
            get(filtering::windows).post(filtering::change_window),
        )
        .route(
            "/filtering/settings",
            get(filtering::settings).post(filtering::save_settings),
        )
        .route(
            "/filtering/lists",
            get(filtering::lists).post(filtering::change_list),
        )
        .route(
            "/filtering/groups",
            get(filtering::groups).post(filtering::add_group_now),
        )
        .route(
            "/filtering/groups/{id}/remove",
            get(filtering::group_removal).post(filtering::remove_group_now),
        )
        .route("/filtering/document", get(filtering::document))
        .route("/people", get(people::people).post(people::add_person))
        .route("/people/new", get(people::new_person))
        .route(
            "/people/{id}",
            get(people::person).post(people::update_person),
        )
        .route("/people/{id}/leaver", post(people::leaver))
        .route(
            "/people/{id}/password",
            get(people::person_password).post(people::set_person_password),
        )
        .route(
            "/people/import",
            get(people::import_page)
                .post(people::import)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/devices", get(devices::devices).post(devices::add_device))
        .route("/devices/{id}/delete", post(devices::delete_device))
        .route(
            "/activity",
            get(activity::activity_page).post(activity::activity_search),
        )
        .route("/audit", get(audit::audit))
        .route(
            "/accounts",
            get(accounts::accounts).post(accounts::create_account),
        )
        .route("/accounts/{id}/roles", post(accounts::set_roles))
        .route("/alerts", get(alerts::queue))
        .route("/alerts/bulk", post(alerts::bulk))
        .route(
            "/alerts/exclusions",
            get(detection::exclusions).post(detection::add_exclusion),
        )
        .route(
            "/alerts/exclusions/{id}/end",
            post(detection::end_exclusion),
        )
        .route("/watched", get(detection::watched))
        .route("/alerts/{id}", get(alerts::show).post(alerts::change))
        .route("/alerts/{id}/activity", post(alerts::context))
        .route("/alerts/{id}/incident", post(incidents::link_alert))
        .route("/incidents", get(incidents::list).post(incidents::create))
        .route("/incidents/new", get(incidents::new_form))
        .route("/incidents/{id}", get(incidents::show))
        .route("/incidents/{id}/notes", post(incidents::note))
        .route("/incidents/{id}/steps", post(incidents::step))
        .route("/incidents/{id}/actions", post(incidents::action))
        .route("/incidents/{id}/people", post(incidents::add_person))
        .route(
            "/incidents/{id}/files",
            post(incidents::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/incidents/{id}/files/{file}", get(incidents::download))
        .route("/incidents/{id}/tell", post(tell::incident))
        .route("/alerts/{id}/tell", post(tell::alert))
        .route("/incidents/{id}/signoff", post(incidents::sign_off))
        .route("/people/{id}/chronology", get(incidents::chronology))
        .route("/unblock", get(unblock::list))
        .route("/unblock/new", get(unblock::new_form).post(unblock::create))
        .route("/unblock/mine", get(unblock::mine))
        .route("/unblock/log", get(unblock::log))
        .route("/unblock/{id}", get(unblock::show).post(unblock::decide))
        .route("/unblock/{id}/end", post(unblock::end))
        .route(
            "/accounts/{id}/reset-password",
            post(accounts::reset_password),
        )
        .route("/accounts/{id}/reset-code", post(accounts::reset_code))
        .route("/accounts/{id}/email", post(accounts::set_email))
        .route("/accounts/{id}/classes", post(accounts::set_classes))
        .route(
            "/agreement",
            get(agreements::accept_page).post(agreements::answer),
        )
        .route("/agreements", get(agreements::overview))
        .route(
            "/agreements/{readers}",
            get(agreements::show).post(agreements::publish),
        )
        .route("/agreements/{readers}/report", get(agreements::report))
        .route("/parents", get(parents::page))
        .route("/parents/email", post(parents::email))
        .route("/parents/remind", post(parents::remind))
        .route("/parents/letters", post(parents::letters))
        .route(
            "/parent",
            get(parents::parent_page).post(parents::parent_answer),
        )
        .route("/training", get(training::page).post(training::add))
        .route("/loans", get(loans::page).post(loans::lend))
        .route("/loans/{id}", post(loans::event))
        .route("/licences", get(loans::licences).post(loans::set_licence))
        .route("/filtering/document/read", post(training::read_policy))
        .route("/consent", get(consent::list))
        .route(
            "/consent/check",
            get(consent::check_page).post(consent::check),
        )
        .route(
            "/consent/file-names",
            get(consent::file_names_page).post(consent::file_names),
        )
        .route("/consent/{id}", get(consent::show).post(consent::record))
        .route("/static/style.css", get(style))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            database_guard,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// While the database is unavailable, every page but the stylesheet says so (503).
async fn database_guard(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let ready = state
        .inner
        .database_ready
        .load(std::sync::atomic::Ordering::Relaxed);
    if ready || request.uri().path() == "/static/style.css" {
        next.run(request).await
    } else {
        AppError::DatabaseUnavailable.into_response()
    }
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

async fn not_found() -> AppError {
    AppError::NotFound
}

/// Headers on every response: no framing, no sniffing, no caching of pages that may hold
/// children's data, and scripts only from the console itself (it has none today).
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    // A response that sets a stricter policy of its own (a file served as a download: sandbox)
    // keeps it.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            ),
        );
    }
    let static_headers = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in static_headers {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
