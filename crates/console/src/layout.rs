//! The frame every page shares (title, school, the menu the account may use, the CSRF token)
//! and the small helpers pages use to render and to read and show times in the school's zone.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use jiff::Timestamp;
use ward_store::Role;

use crate::auth::CurrentUser;
use crate::roles::Permission;
use crate::{AppError, AppState};

/// What every page's frame needs: title, school, the menu the account may use, and the CSRF
/// token for its forms.
pub struct Layout {
    /// The page's title.
    pub title: String,
    /// The school's name.
    pub school: String,
    /// The logged-in account, if any.
    pub user: Option<NavUser>,
    /// The token forms on this page carry.
    pub csrf: String,
    /// The menu entry this page belongs to (`alerts`, `filtering`…; empty: none), marked as the
    /// current page for screen readers and sighted users alike.
    pub section: &'static str,
}

/// The menu entry a path belongs to.
fn section_of(path: &str) -> &'static str {
    const SECTIONS: &[&str] = &[
        "people",
        "filtering",
        "devices",
        "activity",
        "alerts",
        "incidents",
        "unblock",
        "audit",
        "accounts",
        "agreements",
        "consent",
        "training",
        "loans",
        "licences",
    ];
    if path == "/" {
        return "dashboard";
    }
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    SECTIONS
        .iter()
        .find(|section| **section == first)
        .copied()
        .unwrap_or("")
}

/// The logged-in account as the menu shows it.
pub struct NavUser {
    /// Whether the log-in is complete (false while its sign-in code is still to come: no
    /// menu, as nothing else opens yet).
    pub signed_in: bool,
    /// Display name.
    pub name: String,
    /// Roles, as words.
    pub roles: String,
    /// Whether to show each menu entry.
    pub people: bool,
    /// Devices.
    pub devices: bool,
    /// Activity search.
    pub activity: bool,
    /// Audit log.
    pub audit: bool,
    /// Accounts.
    pub accounts: bool,
    /// Acceptable use agreements.
    pub agreements: bool,
    /// Photo and video consent.
    pub consent: bool,
    /// Training and induction.
    pub training: bool,
    /// Device loans and licences.
    pub loans: bool,
    /// Unblock requests.
    pub unblock: bool,
    /// The alert queue.
    pub alerts: bool,
    /// Asking for a site to be unblocked.
    pub ask_unblock: bool,
    /// Incidents.
    pub incidents: bool,
    /// Filtering.
    pub filtering: bool,
    /// The policy document only (teachers and governors).
    pub policy_document: bool,
    /// The school's password rules ask for a new password: it is older than they allow.
    pub password_due: bool,
    /// Whether the password is Ward's to change (not the directory's).
    pub own_password: bool,
    /// What waits for this account, by what its roles act on.
    pub waiting: WaitingLine,
}

/// What waits for an account, for the menu and the banner: only what its roles act on (zero
/// and empty otherwise).
#[derive(Default)]
pub struct WaitingLine {
    /// New alerts (those who triage them).
    pub alerts: i64,
    /// Of those, how many of each severity, gravest first: (severity, count), none with none.
    pub alerts_by_severity: Vec<(u8, i64)>,
    /// Unblock requests not yet decided (those who decide them).
    pub unblock: i64,
    /// Incidents not yet signed off (those who manage every incident).
    pub incidents: i64,
    /// Severity-5 alerts no one has opened: (id, category name, summary, raised).
    pub urgent: Vec<(ward_store::AlertId, String, String, String)>,
    /// What colleagues asked this account to look at and it has not opened yet: (link,
    /// "Alert 7", who asked, their message).
    pub asked: Vec<(String, String, String, String)>,
}

/// Most requests to look the banner lists.
const ASKED_SHOWN: i64 = 5;

/// What colleagues asked `user` to look at, unread.
async fn asked(state: &AppState, user: &CurrentUser) -> Vec<(String, String, String, String)> {
    let store = state.store();
    let notices = match store
        .unread_notices(user.account.school, user.account.id, ASKED_SHOWN)
        .await
    {
        Ok(notices) => notices,
        Err(error) => {
            tracing::warn!(%error, "cannot read what colleagues asked");
            return Vec::new();
        }
    };
    if notices.is_empty() {
        return Vec::new();
    }
    let accounts = store
        .accounts(user.account.school)
        .await
        .unwrap_or_default();
    notices
        .into_iter()
        .filter_map(|notice| {
            let (kind, id) = notice.target.split_once(':')?;
            let (link, what) = match kind {
                "alert" => (format!("/alerts/{id}"), format!("Alert {id}")),
                "incident" => (format!("/incidents/{id}"), format!("Incident {id}")),
                _ => return None,
            };
            let from = accounts
                .iter()
                .find(|account| account.username == notice.sent_by)
                .map_or(notice.sent_by.clone(), |a| a.display_name.clone());
            Some((link, what, from, notice.message))
        })
        .collect()
}

/// Most unopened severity-5 alerts the banner lists.
const URGENT_SHOWN: i64 = 5;

impl WaitingLine {
    async fn for_user(state: &AppState, user: &CurrentUser) -> WaitingLine {
        let alerts = user.can(Permission::TriageAlerts);
        let unblock = user.can(Permission::DecideUnblocks);
        let incidents = user.can(Permission::ManageIncidents);
        if !(alerts || unblock || incidents) {
            return WaitingLine::default();
        }
        let asked = asked(state, user).await;
        let waiting = match state
            .store()
            .waiting(user.account.school, URGENT_SHOWN)
            .await
        {
            Ok(waiting) => waiting,
            Err(error) => {
                // The page still opens; the counts are missing, and the log says why.
                tracing::warn!(%error, "cannot count what waits");
                return WaitingLine {
                    asked,
                    ..WaitingLine::default()
                };
            }
        };
        WaitingLine {
            alerts: if alerts { waiting.new_alert_total() } else { 0 },
            alerts_by_severity: if alerts {
                (1..=5u8)
                    .rev()
                    .zip(waiting.new_alerts.iter().rev())
                    .filter(|(_, count)| **count > 0)
                    .map(|(severity, count)| (severity, *count))
                    .collect()
            } else {
                Vec::new()
            },
            unblock: if unblock { waiting.unblock_requests } else { 0 },
            incidents: if incidents { waiting.open_incidents } else { 0 },
            urgent: if alerts {
                waiting
                    .unopened_urgent
                    .into_iter()
                    .map(|urgent| {
                        (
                            urgent.id,
                            state.config().watched.category_name(&urgent.category),
                            urgent.summary,
                            local_time(state, urgent.raised),
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            },
            asked,
        }
    }
}

impl Layout {
    /// A frame without menu (log-in and error pages).
    pub fn bare(title: &str) -> Layout {
        Layout {
            title: title.to_owned(),
            school: String::new(),
            user: None,
            csrf: String::new(),
            section: "",
        }
    }

    /// A frame for a logged-in account.
    pub async fn for_user(state: &AppState, user: &CurrentUser, title: &str) -> Layout {
        let school = state
            .store()
            .school(user.account.school)
            .await
            .map(|school| school.name)
            .unwrap_or_default();
        let signed_in = user.session.second_factor == ward_store::SecondFactor::Done;
        let waiting = if signed_in {
            WaitingLine::for_user(state, user).await
        } else {
            WaitingLine::default()
        };
        Layout {
            title: title.to_owned(),
            school,
            user: Some(NavUser {
                signed_in,
                waiting,
                name: user.account.display_name.clone(),
                roles: user
                    .account
                    .roles
                    .iter()
                    .map(Role::label)
                    .collect::<Vec<_>>()
                    .join(", "),
                people: user.can(Permission::ViewPeople),
                devices: user.can(Permission::ManageDevices),
                activity: user.can(Permission::SearchActivity),
                audit: user.can(Permission::ViewAudit),
                accounts: user.can(Permission::ManageAccounts),
                agreements: user.can(Permission::ManageAgreements),
                consent: user.can(Permission::ViewConsent),
                training: user.can(Permission::ViewTraining),
                loans: user.can(Permission::ManageLoans),
                unblock: user.can(Permission::DecideUnblocks),
                alerts: user.can(Permission::TriageAlerts),
                ask_unblock: user.can(Permission::RequestUnblock),
                incidents: user.can(Permission::RecordIncident),
                filtering: user.can(Permission::ViewFiltering),
                policy_document: user.can(Permission::ViewPolicyDocument),
                own_password: !user.account.from_directory,
                password_due: !user.account.from_directory
                    && state
                        .config()
                        .passwords
                        .accounts
                        .due(user.account.password_changed_at, Timestamp::now()),
            }),
            csrf: user.session.csrf_token.clone(),
            section: section_of(&user.path),
        }
    }
}

pub(crate) fn render(page: &impl Template) -> Result<Response, AppError> {
    Ok(Html(page.render()?).into_response())
}

pub(crate) fn local_time(state: &AppState, at: Timestamp) -> String {
    at.to_zoned_datetime(state.config().time_zone.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// A time as a `datetime-local` input's value, in the school's time zone.
pub(crate) fn form_time(state: &AppState, at: Timestamp) -> String {
    at.to_zoned_datetime(state.config().time_zone.clone())
        .strftime("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// A `datetime-local` input's value, read in the school's time zone.
pub(crate) fn parse_local(
    state: &AppState,
    value: &str,
    what: &str,
) -> Result<Timestamp, AppError> {
    let civil: jiff::civil::DateTime = value
        .trim()
        .parse()
        .map_err(|_| AppError::BadRequest(format!("{what}: {value:?} is not a date and time")))?;
    civil
        .to_zoned_datetime(state.config().time_zone.clone())
        .map(|zoned| zoned.timestamp())
        .map_err(|_| AppError::BadRequest(format!("{what}: {value:?} is not a time that exists")))
}

// ---------------------------------------------------------------------------------------------
// Dashboard

/// A day typed in a form (`2026-11-23`), as the start of that day in the school's zone; `None`
/// when nothing was typed. The error names `field`.
pub fn parse_day(state: &AppState, text: &str, field: &str) -> Result<Option<Timestamp>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let date: jiff::civil::Date = text
        .parse()
        .map_err(|_| format!("The {field} date {text:?} is not a date like 2026-11-23."))?;
    date.to_zoned_datetime(state.config().time_zone.clone())
        .map(|zoned| Some(zoned.timestamp()))
        .map_err(|error| error.to_string())
}
