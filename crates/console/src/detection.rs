//! Risk detection in the console (DESIGN.md M1–M3, issue 7): the public page that tells pupils
//! and parents what Ward watches for, and the exclusions the DSL makes. An exclusion (a phrase,
//! a site, a person) needs a written reason; adding and ending one are audited, and the gateway
//! of this process puts the change in force at once (others within half a minute).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use ward_store::{Alert, Exclusion, ExclusionKind, MIN_EXCLUSION_REASON, NewExclusion, StoreError};

use crate::auth::CurrentUser;
use crate::error::url_encode;
use crate::layout::{Layout, local_time, render};
use crate::roles::Permission;
use crate::{AppError, AppState, Watched, WatchedCategory};

#[derive(Template)]
#[template(path = "watched.html")]
struct WatchedPage<'a> {
    layout: Layout,
    watched: &'a Watched,
    /// Categories with a sentence about them (Ward's own and a school's).
    described: Vec<&'a WatchedCategory>,
    /// Categories imported without one (e2guardian's lists).
    imported: Vec<&'a WatchedCategory>,
}

/// `GET /watched`: what risk detection watches for, open to anyone who can reach the console
/// (no log-in), so pupils and parents can know. It names categories, never phrases.
pub async fn watched(State(state): State<AppState>) -> Result<Response, AppError> {
    let watched: &Watched = &state.config().watched;
    let (described, imported) = watched
        .categories
        .iter()
        .partition(|category| !category.about.trim().is_empty());
    render(&WatchedPage {
        layout: Layout::bare("What Ward watches for"),
        watched,
        described,
        imported,
    })
}

struct ExclusionRow {
    id: i64,
    kind: &'static str,
    what: String,
    reason: String,
    added: String,
    ended: String,
}

impl ExclusionRow {
    fn new(state: &AppState, exclusion: Exclusion) -> ExclusionRow {
        let what = match exclusion.kind {
            ExclusionKind::Person => match (&exclusion.person_name, &exclusion.person_username) {
                (Some(name), Some(username)) => format!("{name} ({username})"),
                (Some(name), None) => name.clone(),
                _ => format!("person {}", exclusion.value),
            },
            _ => exclusion.value.clone(),
        };
        ExclusionRow {
            id: exclusion.id,
            kind: kind_label(exclusion.kind),
            what,
            reason: exclusion.reason,
            added: format!(
                "{} by {}",
                local_time(state, exclusion.created_at),
                exclusion.created_by
            ),
            ended: exclusion
                .ended
                .map(|(at, by)| format!("{} by {by}", local_time(state, at)))
                .unwrap_or_default(),
        }
    }
}

fn kind_label(kind: ExclusionKind) -> &'static str {
    match kind {
        ExclusionKind::Phrase => "Phrase",
        ExclusionKind::Site => "Site",
        ExclusionKind::Person => "Person",
    }
}

/// Links from a detection alert's page to the exclusion form, prefilled with its person and its
/// site: (address, label).
pub(crate) fn exclusion_links(alert: &Alert) -> Vec<(String, String)> {
    let mut links = Vec::new();
    if let Some(username) = alert.username.as_deref().filter(|u| !u.is_empty()) {
        links.push((
            format!(
                "/alerts/exclusions?kind=person&value={}",
                url_encode(username)
            ),
            format!("Stop watching {username}"),
        ));
    }
    // The detail's first line is the address the finding came from (see the store's alerts).
    let host = alert
        .detail
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("Address: "))
        .and_then(|address| ward_policy::Request::parse(address).ok())
        .map(|request| request.host().to_string());
    if let Some(host) = host {
        links.push((
            format!("/alerts/exclusions?kind=site&value={}", url_encode(&host)),
            format!("Stop reading {host}"),
        ));
    }
    links
}

/// The add form, as sent (and as shown again when it is refused).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExclusionForm {
    kind: String,
    value: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "exclusions.html")]
struct ExclusionsPage {
    layout: Layout,
    can_change: bool,
    detection_on: bool,
    in_force: Vec<ExclusionRow>,
    ended: Vec<ExclusionRow>,
    kinds: Vec<(&'static str, &'static str)>,
    form: ExclusionForm,
    message: String,
    min_reason: usize,
}

impl ExclusionsPage {
    async fn new(
        state: &AppState,
        user: &CurrentUser,
        form: ExclusionForm,
    ) -> Result<ExclusionsPage, AppError> {
        let all = state.store().exclusions(user.account.school, true).await?;
        let (ended, in_force): (Vec<_>, Vec<_>) = all
            .into_iter()
            .partition(|exclusion| exclusion.ended.is_some());
        Ok(ExclusionsPage {
            layout: Layout::for_user(state, user, "Detection exclusions").await,
            can_change: user.can(Permission::ExcludeFromDetection),
            detection_on: state.config().watched.enabled,
            in_force: in_force
                .into_iter()
                .map(|e| ExclusionRow::new(state, e))
                .collect(),
            ended: ended
                .into_iter()
                .map(|e| ExclusionRow::new(state, e))
                .collect(),
            kinds: ExclusionKind::ALL
                .into_iter()
                .map(|kind| (kind.as_str(), kind_label(kind)))
                .collect(),
            form,
            message: String::new(),
            min_reason: MIN_EXCLUSION_REASON,
        })
    }
}

/// `GET /alerts/exclusions`: the exclusions in force and ended, with their reasons; the add
/// form (prefilled from `?kind=…&value=…`, as an alert's page links to it) for the DSL.
pub async fn exclusions(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(prefill): Query<ExclusionForm>,
) -> Result<Response, AppError> {
    user.require(Permission::TriageAlerts)?;
    let form = ExclusionForm {
        reason: String::new(),
        ..prefill
    };
    render(&ExclusionsPage::new(&state, &user, form).await?)
}

/// What an exclusion leaves out, checked and written as the store keeps it: a phrase as the
/// lists write it (when this process runs the gateway, which knows them), a person by id.
async fn checked(
    state: &AppState,
    user: &CurrentUser,
    form: &ExclusionForm,
) -> Result<NewExclusion, String> {
    let kind: ExclusionKind = form
        .kind
        .parse()
        .map_err(|_| "choose what to leave out: a phrase, a site or a person".to_owned())?;
    let value = form.value.trim();
    if value.is_empty() {
        return Err(match kind {
            ExclusionKind::Phrase => "write the phrase".into(),
            ExclusionKind::Site => "write the site's address".into(),
            ExclusionKind::Person => "write the person's username".into(),
        });
    }
    let value = match kind {
        ExclusionKind::Phrase => match state.filter() {
            Some(filter) => filter.listed_phrase(value).map_err(|refused| refused.0)?,
            None => value.to_owned(),
        },
        ExclusionKind::Site => value.to_owned(),
        ExclusionKind::Person => {
            let person = state
                .store()
                .person_by_username(user.account.school, value)
                .await
                .map_err(|error| format!("cannot look the person up: {error}"))?
                .ok_or_else(|| {
                    format!("no pupil, member of staff or guest has the username {value:?}")
                })?;
            person.id.0.to_string()
        }
    };
    Ok(NewExclusion {
        kind,
        value,
        reason: form.reason.trim().to_owned(),
    })
}

/// `POST /alerts/exclusions`: adds an exclusion (DSL only), audited with its reason.
pub async fn add_exclusion(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<ExclusionForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ExcludeFromDetection)?;
    let store = state.store();
    let school = user.account.school;
    let exclusion = match checked(&state, &user, &form).await {
        Ok(exclusion) => exclusion,
        Err(message) => return refused(&state, &user, form, &message).await,
    };
    let id = match store
        .add_exclusion(school, &exclusion, &user.account.username)
        .await
    {
        Ok(id) => id,
        Err(StoreError::Invalid(message)) => {
            return refused(&state, &user, form, &message).await;
        }
        Err(StoreError::NotFound(_)) => {
            return refused(&state, &user, form, "no such person in this school").await;
        }
        Err(error) => return Err(error.into()),
    };
    let shown = match exclusion.kind {
        ExclusionKind::Person => format!("person {} ({})", exclusion.value, form.value.trim()),
        kind => format!("{kind} {}", exclusion.value),
    };
    user.record(
        store,
        "detection.exclude",
        &format!("exclusion:{id}"),
        format!("left out of risk detection: {shown}"),
        Some(exclusion.reason.clone()),
    )
    .await?;
    put_in_force(&state, &user).await?;
    Ok(Redirect::to("/alerts/exclusions").into_response())
}

/// Hands the school's exclusions to the gateway of this process, so they are in force before
/// the page answers (other gateways read them within half a minute).
async fn put_in_force(state: &AppState, user: &CurrentUser) -> Result<(), AppError> {
    if let Some(filter) = state.filter() {
        let in_force = state.store().exclusions(user.account.school, false).await?;
        filter.exclusions_changed(&in_force);
    }
    state
        .store()
        .notify_filter_changed(user.account.school)
        .await;
    Ok(())
}

/// The page again, with the form as sent and why it was not added.
async fn refused(
    state: &AppState,
    user: &CurrentUser,
    form: ExclusionForm,
    message: &str,
) -> Result<Response, AppError> {
    let mut page = ExclusionsPage::new(state, user, form).await?;
    page.message = format!("Not added: {message}.");
    Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response())
}

/// `POST /alerts/exclusions/{id}/end`: ends an exclusion (DSL only): detection covers it
/// again. Audited.
pub async fn end_exclusion(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Permission::ExcludeFromDetection)?;
    let store = state.store();
    let ended = match store
        .end_exclusion(user.account.school, id, &user.account.username)
        .await
    {
        Ok(ended) => ended,
        // Ended already (twice-clicked, or by someone else): nothing to do.
        Err(StoreError::Conflict(_)) => {
            return Ok(Redirect::to("/alerts/exclusions").into_response());
        }
        Err(error) => return Err(error.into()),
    };
    user.record(
        store,
        "detection.include",
        &format!("exclusion:{id}"),
        format!(
            "watched again: {} {}",
            ended.kind,
            ended
                .person_username
                .as_deref()
                .unwrap_or(ended.value.as_str())
        ),
        None,
    )
    .await?;
    put_in_force(&state, &user).await?;
    Ok(Redirect::to("/alerts/exclusions").into_response())
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use ward_store::{Alert, AlertSource, AlertStatus};

    use super::exclusion_links;

    fn alert(username: Option<&str>, detail: &str) -> Alert {
        Alert {
            id: ward_store::AlertId(1),
            created_at: Timestamp::UNIX_EPOCH,
            last_seen: Timestamp::UNIX_EPOCH,
            severity: 5,
            category: "self-harm".into(),
            source: AlertSource::Detection,
            status: AlertStatus::New,
            person: None,
            person_name: None,
            device: None,
            device_name: None,
            client_ip: None,
            username: username.map(str::to_owned),
            identified_by: None,
            subject: String::new(),
            summary: String::new(),
            detail: detail.into(),
            repeats: 1,
            notified_at: None,
            incident: None,
            opened: None,
            assigned_to: None,
        }
    }

    #[test]
    fn a_detection_alert_links_to_excluding_its_person_and_its_site() {
        let links = exclusion_links(&alert(
            Some("s.ng"),
            "Address: http://user@WWW.Example.org:8080/x?y#z\nFound in a web address: …",
        ));
        let hrefs: Vec<&str> = links.iter().map(|(href, _)| href.as_str()).collect();
        assert_eq!(
            hrefs,
            [
                "/alerts/exclusions?kind=person&value=s.ng",
                "/alerts/exclusions?kind=site&value=www.example.org",
            ]
        );
        assert!(exclusion_links(&alert(None, "Address: http:///\nFound")).is_empty());
        assert!(exclusion_links(&alert(None, "no address line")).is_empty());
    }
}
