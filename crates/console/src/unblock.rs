//! Unblock requests (DESIGN.md F5): the coordinator's queue, the decision (approve as asked,
//! narrow the site, the holder or the period, or refuse), ending a grant early, and the printable
//! log. An approval is checked against the live policy first (nothing on an illegal-content list
//! can be opened) and put in force at once through [`crate::FilterHooks`]; it ends by itself.
//! Every decision is audited.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::DateTime;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use ward_store::{UnblockGrant, UnblockRequest};

use crate::auth::CurrentUser;
use crate::pages::{Layout, local_time, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

/// Longest a grant may last: a period of study, not a permanent change (that is the policy's).
const LONGEST_GRANT: SignedDuration = SignedDuration::from_hours(24 * 92);

struct WaitingRow {
    id: i64,
    asked: String,
    host: String,
    group: String,
    who: String,
    reason: String,
}

struct OpenRow {
    id: i64,
    site: String,
    holder: String,
    until: String,
    by: String,
}

#[derive(Template)]
#[template(path = "unblock_list.html")]
struct ListPage {
    layout: Layout,
    waiting: Vec<WaitingRow>,
    open: Vec<OpenRow>,
}

fn who(request: &UnblockRequest) -> String {
    let r = &request.request;
    match &r.username {
        Some(user) => format!("{user} ({})", r.client_ip),
        None => format!("not logged in ({})", r.client_ip),
    }
}

fn holder(grant: &UnblockGrant) -> String {
    match (&grant.group, &grant.user) {
        (Some(group), _) => format!("group {group}"),
        (None, Some(user)) => format!("user {user}"),
        (None, None) => "nobody".into(),
    }
}

/// `GET /unblock`.
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::DecideUnblocks)?;
    let store = state.store();
    let school = user.account.school;
    let waiting = store
        .unblock_requests(school, "new", 200)
        .await?
        .into_iter()
        .map(|request| WaitingRow {
            id: request.id,
            asked: local_time(&state, request.created_at),
            who: who(&request),
            host: request.request.host,
            group: request.request.group,
            reason: request.request.reason,
        })
        .collect();
    let open = store
        .unblock_grants(school, Timestamp::now())
        .await?
        .into_iter()
        .filter_map(|request| {
            let decision = request.decision?;
            let grant = decision.grant?;
            Some(OpenRow {
                id: request.id,
                holder: holder(&grant),
                until: local_time(&state, grant.end),
                site: grant.site,
                by: decision.by,
            })
        })
        .collect();
    render(&ListPage {
        layout: Layout::for_user(&state, &user, "Unblock requests").await,
        waiting,
        open,
    })
}

struct GrantView {
    site: String,
    holder: String,
    from: String,
    until: String,
}

struct DecisionView {
    by: String,
    at: String,
    note: String,
    grant: Option<GrantView>,
}

#[derive(Template)]
#[template(path = "unblock_show.html")]
struct ShowPage {
    layout: Layout,
    id: i64,
    asked: String,
    origin: String,
    url: String,
    host: String,
    who: String,
    group: String,
    blocked_because: String,
    categories: String,
    reason: String,
    status: String,
    decision: Option<DecisionView>,
    can_end: bool,
    groups: Vec<(String, String)>,
    default_from: String,
    default_until: String,
}

fn form_time(state: &AppState, at: Timestamp) -> String {
    at.to_zoned_datetime(state.config().time_zone.clone())
        .strftime("%Y-%m-%dT%H:%M")
        .to_string()
}

/// `GET /unblock/{id}`.
pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Permission::DecideUnblocks)?;
    let store = state.store();
    let school = user.account.school;
    let request = store.unblock_request(school, id).await?;
    let now = Timestamp::now();
    let decision = request.decision.as_ref().map(|decision| DecisionView {
        by: decision.by.clone(),
        at: local_time(&state, decision.at),
        note: decision.note.clone(),
        grant: decision.grant.as_ref().map(|grant| GrantView {
            site: grant.site.clone(),
            holder: holder(grant),
            from: local_time(&state, grant.start),
            until: local_time(&state, grant.end),
        }),
    });
    let can_end = request
        .decision
        .as_ref()
        .and_then(|d| d.grant.as_ref())
        .is_some_and(|grant| grant.end > now);
    let groups = store
        .groups(school)
        .await?
        .into_iter()
        .map(|group| (group.name, group.label))
        .collect();
    let page = ShowPage {
        layout: Layout::for_user(&state, &user, &format!("Unblock request {id}")).await,
        id,
        asked: local_time(&state, request.created_at),
        origin: request.request.origin.replace('-', " "),
        who: who(&request),
        url: request.request.url,
        host: request.request.host,
        group: request.request.group,
        blocked_because: request.request.blocked_because,
        categories: request.request.categories,
        reason: request.request.reason,
        status: request.status,
        decision,
        can_end,
        groups,
        default_from: form_time(&state, now),
        default_until: form_time(&state, now + SignedDuration::from_hours(24)),
    };
    render(&page)
}

/// The decision form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DecisionForm {
    decision: String,
    site: String,
    group: String,
    user: String,
    from: String,
    until: String,
    note: String,
}

fn parse_local(state: &AppState, value: &str, what: &str) -> Result<Timestamp, AppError> {
    let civil: DateTime = value
        .trim()
        .parse()
        .map_err(|_| AppError::BadRequest(format!("{what}: {value:?} is not a date and time")))?;
    civil
        .to_zoned_datetime(state.config().time_zone.clone())
        .map(|zoned| zoned.timestamp())
        .map_err(|_| AppError::BadRequest(format!("{what}: {value:?} is not a time that exists")))
}

/// `POST /unblock/{id}`: approve (as the form's grant) or refuse.
pub async fn decide(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<DecisionForm>,
) -> Result<Response, AppError> {
    user.require(Permission::DecideUnblocks)?;
    let store = state.store();
    let school = user.account.school;
    let request = store.unblock_request(school, id).await?;
    let by = user.account.username.clone();
    let note = form.note.trim();
    match form.decision.as_str() {
        "refuse" => {
            store
                .decide_unblock_request(school, id, &by, note, None)
                .await
                .map_err(decided_twice)?;
            user.record(
                store,
                "unblock.refuse",
                &format!("unblock-request:{id}"),
                format!("{} for {}", request.request.url, request.request.group),
                (!note.is_empty()).then(|| note.to_owned()),
            )
            .await?;
        }
        "approve" => {
            let site = form.site.trim().to_owned();
            let (group, holder_user) = match (form.group.trim(), form.user.trim()) {
                ("", "") => {
                    return Err(AppError::BadRequest(
                        "Choose the group or name the user it is for.".into(),
                    ));
                }
                (group, "") => (Some(group.to_owned()), None),
                ("", user) => (None, Some(user.to_owned())),
                _ => {
                    return Err(AppError::BadRequest(
                        "A grant is for a group or for one user, not both.".into(),
                    ));
                }
            };
            let start = parse_local(&state, &form.from, "From")?;
            let end = parse_local(&state, &form.until, "Until")?;
            if end <= start {
                return Err(AppError::BadRequest("It must end after it starts.".into()));
            }
            if end.duration_since(start) > LONGEST_GRANT {
                return Err(AppError::BadRequest(
                    "A grant lasts at most three months; a lasting change belongs in the policy."
                        .into(),
                ));
            }
            let grant = UnblockGrant {
                site,
                group,
                user: holder_user,
                start,
                end,
            };
            if let Some(filter) = state.filter() {
                filter
                    .check_grant(id, &grant)
                    .map_err(|why| AppError::BadRequest(format!("This cannot be opened: {why}")))?;
            }
            store
                .decide_unblock_request(school, id, &by, note, Some(&grant))
                .await
                .map_err(decided_twice)?;
            let narrowed = grant.site != request.request.host
                || grant.group.as_deref() != Some(request.request.group.as_str());
            user.record(
                store,
                if narrowed {
                    "unblock.approve-narrowed"
                } else {
                    "unblock.approve"
                },
                &format!("unblock-request:{id}"),
                format!(
                    "{} for {} from {} to {} (asked: {} for {})",
                    grant.site,
                    holder(&grant),
                    grant.start,
                    grant.end,
                    request.request.host,
                    request.request.group
                ),
                (!note.is_empty()).then(|| note.to_owned()),
            )
            .await?;
            if let Some(filter) = state.filter() {
                filter.grants_changed();
            }
        }
        _ => return Err(AppError::BadRequest("Approve or refuse.".into())),
    }
    Ok(Redirect::to(&format!("/unblock/{id}")).into_response())
}

fn decided_twice(error: ward_store::StoreError) -> AppError {
    match error {
        ward_store::StoreError::Conflict(_) => {
            AppError::BadRequest("This request has already been decided.".into())
        }
        other => other.into(),
    }
}

/// `POST /unblock/{id}/end`: closes an approved request's site now.
pub async fn end(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Permission::DecideUnblocks)?;
    let store = state.store();
    let school = user.account.school;
    store.unblock_request(school, id).await?;
    if store
        .end_unblock_grant(school, id, Timestamp::now())
        .await?
    {
        user.record(
            store,
            "unblock.end",
            &format!("unblock-request:{id}"),
            "ended early".into(),
            None,
        )
        .await?;
        if let Some(filter) = state.filter() {
            filter.grants_changed();
        }
    }
    Ok(Redirect::to(&format!("/unblock/{id}")).into_response())
}

struct LogRow {
    id: i64,
    asked: String,
    who: String,
    group: String,
    url: String,
    reason: String,
    decision: String,
}

#[derive(Template)]
#[template(path = "unblock_log.html")]
struct LogPage {
    layout: Layout,
    school: String,
    since: String,
    printed: String,
    rows: Vec<LogRow>,
}

/// The log's period.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogQuery {
    since: String,
}

/// `GET /unblock/log`: every request since a date (a year back by default), with decisions.
pub async fn log(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<LogQuery>,
) -> Result<Response, AppError> {
    user.require(Permission::DecideUnblocks)?;
    let store = state.store();
    let zone = state.config().time_zone.clone();
    let now = Timestamp::now();
    let since = match query.since.trim() {
        "" => now
            .to_zoned_datetime(zone.clone())
            .date()
            .saturating_sub(jiff::Span::new().years(1)),
        text => text
            .parse::<jiff::civil::Date>()
            .map_err(|_| AppError::BadRequest(format!("{text:?} is not a date")))?,
    };
    let from = since
        .to_zoned_datetime(zone)
        .map_err(|_| AppError::BadRequest("That date does not exist here.".into()))?
        .timestamp();
    let rows = store
        .unblock_log(user.account.school, from, 10_000)
        .await?
        .into_iter()
        .map(|request| {
            let decision = match &request.decision {
                None => "waiting".to_owned(),
                Some(decision) => {
                    let what = match &decision.grant {
                        Some(grant) => format!(
                            "approved by {}: {} for {}, {} to {}",
                            decision.by,
                            grant.site,
                            holder(grant),
                            local_time(&state, grant.start),
                            local_time(&state, grant.end)
                        ),
                        None => format!("refused by {}", decision.by),
                    };
                    if decision.note.is_empty() {
                        what
                    } else {
                        format!("{what} ({})", decision.note)
                    }
                }
            };
            LogRow {
                id: request.id,
                asked: local_time(&state, request.created_at),
                who: who(&request),
                group: request.request.group.clone(),
                url: request.request.url.clone(),
                reason: request.request.reason.clone(),
                decision,
            }
        })
        .collect();
    let layout = Layout::for_user(&state, &user, "Unblock log").await;
    render(&LogPage {
        school: layout.school.clone(),
        layout,
        since: since.to_string(),
        printed: local_time(&state, now),
        rows,
    })
}
