//! Unblock requests (DESIGN.md F5): the coordinator's queue, the decision (approve as asked,
//! narrow the site, the holder or the period, or refuse), ending a grant early, and the printable
//! log. An approval is checked against the live policy first (nothing on an illegal-content list
//! can be opened) and put in force at once through [`crate::FilterHooks`]; it ends by itself.
//! Every decision is audited.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use ward_store::{NewUnblockRequest, RequestId, UnblockGrant, UnblockRequest};

use crate::auth::CurrentUser;
use crate::layout::{Layout, form_time, local_time, parse_local, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

/// Longest a grant may last: a period of study, not a permanent change (that is the policy's).
const LONGEST_GRANT: SignedDuration = SignedDuration::from_hours(24 * 92);

struct WaitingRow {
    id: RequestId,
    asked: String,
    host: String,
    group: String,
    who: String,
    reason: String,
}

struct OpenRow {
    id: RequestId,
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
    match (&r.username, r.origin.as_str()) {
        (Some(user), "console") => format!("{user} (in the console)"),
        (Some(user), _) => format!("{user} ({})", r.client_ip),
        (None, _) => format!("not logged in ({})", r.client_ip),
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
    id: RequestId,
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
    wanted: Option<String>,
    default_from: String,
    default_until: String,
}

/// `GET /unblock/{id}`.
pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<RequestId>,
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
        wanted: request.request.wanted.map(|(from, until)| {
            format!(
                "{} to {}",
                local_time(&state, from),
                local_time(&state, until)
            )
        }),
        default_from: form_time(
            &state,
            request
                .request
                .wanted
                .map_or(now, |(from, _)| from.max(now)),
        ),
        default_until: form_time(
            &state,
            request
                .request
                .wanted
                .map_or(now + SignedDuration::from_hours(24), |(_, until)| until),
        ),
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

/// `POST /unblock/{id}`: approve (as the form's grant) or refuse.
pub async fn decide(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<RequestId>,
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
            // Never wider than asked, never a public suffix.
            let user_in_group = match &grant.user {
                Some(username) => store
                    .person_by_username(school, username)
                    .await?
                    .is_some_and(|person| {
                        person.group.as_deref() == Some(request.request.group.as_str())
                    }),
                None => false,
            };
            let narrowing = ward_policy::check_within(
                &ward_policy::Asked {
                    host: &request.request.host,
                    group: &request.request.group,
                    username: request.request.username.as_deref(),
                    period: request.request.wanted,
                },
                &ward_policy::Offered {
                    site: &grant.site,
                    group: grant.group.as_deref(),
                    user: grant.user.as_deref(),
                    user_in_group,
                    start: grant.start,
                    end: grant.end,
                },
            )
            .map_err(|why| AppError::BadRequest(format!("This cannot be approved: {why}.")))?;
            if let Some(filter) = state.filter() {
                filter
                    .check_grant(id, &grant)
                    .map_err(|why| AppError::BadRequest(format!("This cannot be opened: {why}")))?;
            }
            store
                .decide_unblock_request(school, id, &by, note, Some(&grant))
                .await
                .map_err(decided_twice)?;
            let narrowed: Vec<String> = narrowing.iter().map(ToString::to_string).collect();
            user.record(
                store,
                if narrowed.is_empty() {
                    "unblock.approve"
                } else {
                    "unblock.approve-narrowed"
                },
                &format!("unblock-request:{id}"),
                format!(
                    "granted {} for {} from {} to {} (asked: {} for {}){}",
                    grant.site,
                    holder(&grant),
                    grant.start,
                    grant.end,
                    request.request.host,
                    request.request.group,
                    if narrowed.is_empty() {
                        String::new()
                    } else {
                        format!("; narrowed to {}", narrowed.join(", "))
                    }
                ),
                (!note.is_empty()).then(|| note.to_owned()),
            )
            .await?;
            state.filter_changed(user.account.school).await;
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
    Path(id): Path<RequestId>,
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
        state.filter_changed(user.account.school).await;
    }
    Ok(Redirect::to(&format!("/unblock/{id}")).into_response())
}

struct LogRow {
    id: RequestId,
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

#[derive(Template)]
#[template(path = "unblock_new.html")]
struct NewPage {
    layout: Layout,
    groups: Vec<(String, String)>,
    form: NewRequestForm,
    message: String,
}

/// The form for a request made in the console.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewRequestForm {
    site: String,
    group: String,
    reason: String,
    from: String,
    until: String,
}

async fn new_page(
    state: &AppState,
    user: &CurrentUser,
    form: NewRequestForm,
    message: String,
) -> Result<NewPage, AppError> {
    let groups = state
        .store()
        .groups(user.account.school)
        .await?
        .into_iter()
        .map(|group| (group.name, group.label))
        .collect();
    Ok(NewPage {
        layout: Layout::for_user(state, user, "Ask for a site to be unblocked").await,
        groups,
        form,
        message,
    })
}

/// `GET /unblock/new`: the form a member of staff asks with, for a class or group.
pub async fn new_form(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::RequestUnblock)?;
    let now = Timestamp::now();
    let form = NewRequestForm {
        from: form_time(&state, now),
        until: form_time(&state, now + SignedDuration::from_hours(24)),
        ..NewRequestForm::default()
    };
    render(&new_page(&state, &user, form, String::new()).await?)
}

/// `POST /unblock/new`: records the request (after checking the live policy blocks the site for
/// that group) and audits it.
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<NewRequestForm>,
) -> Result<Response, AppError> {
    user.require(Permission::RequestUnblock)?;
    match make_request(&state, &user, &form).await {
        Ok(id) => {
            let to = if user.can(Permission::DecideUnblocks) {
                format!("/unblock/{id}")
            } else {
                "/unblock/mine".to_owned()
            };
            Ok(Redirect::to(&to).into_response())
        }
        Err(AppError::BadRequest(message)) => {
            let page = new_page(&state, &user, form, message).await?;
            Ok((axum::http::StatusCode::BAD_REQUEST, render(&page)?).into_response())
        }
        Err(other) => Err(other),
    }
}

async fn make_request(
    state: &AppState,
    user: &CurrentUser,
    form: &NewRequestForm,
) -> Result<RequestId, AppError> {
    let bad = |message: &str| AppError::BadRequest(message.to_owned());
    let site = form.site.trim();
    let group = form.group.trim();
    let reason = form.reason.trim();
    if site.is_empty() || group.is_empty() {
        return Err(bad("Say which site and which group."));
    }
    if reason.chars().count() < 5 {
        return Err(bad(
            "Say why the class needs it (the coordinator decides on the reason).",
        ));
    }
    if reason.chars().count() > ward_store::MAX_UNBLOCK_REASON {
        return Err(bad("The reason is too long."));
    }
    let from = parse_local(state, &form.from, "From")?;
    let until = parse_local(state, &form.until, "Until")?;
    if until <= from {
        return Err(bad("The period must end after it starts."));
    }
    if until.duration_since(from) > LONGEST_GRANT {
        return Err(bad(
            "At most three months; a lasting change belongs in the policy.",
        ));
    }
    let store = state.store();
    let school = user.account.school;
    if !store.groups(school).await?.iter().any(|g| g.name == group) {
        return Err(bad("Choose a group from the list."));
    }
    let (host, url, categories, blocked_because) = match state.filter() {
        Some(filter) => {
            let classified = filter
                .classify(site, group)
                .map_err(|why| AppError::BadRequest(format!("Ward cannot read that: {why}")))?;
            if !classified.blocked {
                return Err(AppError::BadRequest(format!(
                    "{} is not blocked for that group now ({}): there is nothing to ask.",
                    classified.url, classified.reason
                )));
            }
            (
                classified.host,
                classified.url,
                classified.categories,
                classified.reason,
            )
        }
        // No filter in this process: recorded as asked, checked when it is decided.
        None => (
            site.to_owned(),
            site.to_owned(),
            String::new(),
            "not checked: no filter runs in the console's process".to_owned(),
        ),
    };
    if ward_policy::is_public_suffix(&host) {
        return Err(AppError::BadRequest(format!(
            "{host} is a public suffix: it would open every site that ends in .{host}. Name the site itself."
        )));
    }
    let request = NewUnblockRequest {
        origin: "console".into(),
        client_ip: std::net::IpAddr::from([0, 0, 0, 0]),
        device: None,
        person: None,
        username: Some(user.account.username.clone()),
        group: group.to_owned(),
        url,
        host,
        categories,
        blocked_because,
        reason: reason.to_owned(),
        wanted: Some((from, until)),
    };
    let id = store.create_unblock_request(school, &request).await?;
    user.record(
        store,
        "unblock.request",
        &format!("unblock-request:{id}"),
        format!(
            "{} for {} from {} to {}",
            request.url,
            request.group,
            local_time(state, from),
            local_time(state, until)
        ),
        Some(reason.to_owned()),
    )
    .await?;
    Ok(id)
}

struct MineRow {
    id: RequestId,
    asked: String,
    url: String,
    group: String,
    wanted: String,
    status: String,
    decision: String,
}

#[derive(Template)]
#[template(path = "unblock_mine.html")]
struct MinePage {
    layout: Layout,
    rows: Vec<MineRow>,
}

/// `GET /unblock/mine`: the requests this account made, and what became of them.
pub async fn mine(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(Permission::RequestUnblock)?;
    let rows = state
        .store()
        .unblock_requests_by(user.account.school, &user.account.username, 200)
        .await?
        .into_iter()
        .map(|request| MineRow {
            id: request.id,
            asked: local_time(&state, request.created_at),
            wanted: request
                .request
                .wanted
                .map(|(from, until)| {
                    format!(
                        "{} to {}",
                        local_time(&state, from),
                        local_time(&state, until)
                    )
                })
                .unwrap_or_default(),
            url: request.request.url.clone(),
            group: request.request.group.clone(),
            status: request.status.clone(),
            decision: match &request.decision {
                None => String::new(),
                Some(decision) => match &decision.grant {
                    Some(grant) => format!(
                        "{} for {}, {} to {}",
                        grant.site,
                        holder(grant),
                        local_time(&state, grant.start),
                        local_time(&state, grant.end)
                    ),
                    None => decision.note.clone(),
                },
            },
        })
        .collect();
    render(&MinePage {
        layout: Layout::for_user(&state, &user, "My unblock requests").await,
        rows,
    })
}
