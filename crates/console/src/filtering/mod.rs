//! Filtering in the console (issue 25): the policy in force as the *User Actions* table; a
//! row's verdicts changed with a written reason, checked against the category index in force
//! (an allow that would reach an illegal-content entry is refused with the rule named, and the
//! attempt audited), saved as a new version and put in force at once; the versions with who,
//! when and why, any two compared line by line, an old one restored (itself a new version); and
//! the filter-change log as CSV. The policy's text is edited in place (`toml_edit`), so a
//! change is one line in the diff and the school's comments stay.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use ward_policy::{PolicySpec, VerdictKind, VerdictSpec};
use ward_store::{PolicySource, PolicyVersion};

use crate::auth::CurrentUser;
use crate::layout::{Layout, local_time, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

/// The version in force, or a clear error when the school has none yet (a console started
/// before its first gateway).
async fn in_force(state: &AppState, user: &CurrentUser) -> Result<PolicyVersion, AppError> {
    state
        .store()
        .latest_policy_version(user.account.school)
        .await?
        .ok_or_else(|| {
            AppError::BadRequest(
                "No filtering policy has been saved yet: it is saved when the DNS filter or the proxy first starts.".into(),
            )
        })
}

fn parse(version: &PolicyVersion) -> Result<PolicySpec, AppError> {
    PolicySpec::from_toml(&version.text).map_err(|error| {
        AppError::Internal(format!(
            "policy version {} does not read: {error}",
            version.number
        ))
    })
}

/// A policy's text as a document to edit in place (comments and layout kept).
fn editable(text: &str) -> Result<toml_edit::DocumentMut, String> {
    text.parse()
        .map_err(|error| format!("the policy does not read: {error}"))
}

/// Category ids as staff read them, with the ids beside the names.
fn readable_categories(ids: &[String]) -> String {
    ward_policy::readable_with_ids(ids.iter().map(String::as_str))
}

/// Each group's id and title, in the policy's order.
fn group_titles(spec: &PolicySpec) -> Vec<(String, String)> {
    spec.groups
        .iter()
        .map(|g| (g.id.clone(), g.title.clone()))
        .collect()
}

/// An earlier run of something recorded in the audit log (a self-test, a list update).
pub struct AuditRun {
    pub(super) when: String,
    pub(super) by: String,
    pub(super) detail: String,
}

/// The school's last `limit` audit entries with `action`, newest first.
async fn audit_runs(
    state: &AppState,
    user: &CurrentUser,
    action: &str,
    limit: i64,
) -> Result<Vec<AuditRun>, AppError> {
    Ok(state
        .store()
        .audit_entries(user.account.school, limit, None, action)
        .await?
        .into_iter()
        .map(|entry| AuditRun {
            when: local_time(state, entry.at),
            by: entry.entry.actor,
            detail: entry.entry.detail,
        })
        .collect())
}

/// Checks `text` against the index in force and saves it as a new version: its number, or
/// why it was refused (in words for the member of staff; the refusal is audited).
pub(crate) async fn save_version(
    state: &AppState,
    user: &CurrentUser,
    text: &str,
    source: PolicySource,
    reason: &str,
    what: &str,
) -> Result<Result<i64, String>, AppError> {
    let reason = reason.trim();
    if reason.chars().count() < ward_store::POLICY_MIN_REASON {
        return Ok(Err(format!(
            "Write a reason of at least {} characters: what is blocked or allowed, and why.",
            ward_store::POLICY_MIN_REASON
        )));
    }
    if let Err(error) = PolicySpec::from_toml(text) {
        return Ok(Err(error.to_string()));
    }
    let store = state.store();
    let checked = match state.filter() {
        Some(filter) => filter.check_policy(text),
        None => Err(crate::Refused(
            "no filter runs with this console, so a policy change cannot be checked here".into(),
        )),
    };
    if let Err(crate::Refused(why)) = checked {
        user.record(
            store,
            "filtering.refused",
            "policy",
            format!("{what}: refused: {why}"),
            Some(reason.to_owned()),
        )
        .await?;
        return Ok(Err(format!("Not saved: {why}")));
    }
    let number = match store
        .add_policy_version(
            user.account.school,
            text,
            source,
            reason,
            &user.account.username,
            jiff::Timestamp::now(),
        )
        .await
    {
        Ok(number) => number,
        Err(ward_store::StoreError::Invalid(why)) => return Ok(Err(why)),
        Err(error) => return Err(error.into()),
    };
    // The groups people are placed in follow the policy (a year group moved, a title changed).
    if let Ok(spec) = PolicySpec::from_toml(text) {
        store
            .sync_groups(user.account.school, &store_groups(&spec))
            .await?;
    }
    user.record(
        store,
        "filtering.change",
        &format!("policy:{number}"),
        format!("version {number}: {what}"),
        Some(reason.to_owned()),
    )
    .await?;
    state.filter_changed(user.account.school).await;
    Ok(Ok(number))
}

/// The school's groups as the store keeps them (for placing people by year), from a policy.
pub fn store_groups(spec: &PolicySpec) -> Vec<ward_store::NewGroup> {
    spec.groups
        .iter()
        .map(|group| ward_store::NewGroup {
            name: group.id.clone(),
            label: group.title.clone(),
            kind: match group.kind {
                ward_policy::GroupKind::Pupil => ward_store::PersonKind::Pupil,
                ward_policy::GroupKind::Staff => ward_store::PersonKind::Staff,
                ward_policy::GroupKind::Guest => ward_store::PersonKind::Guest,
            },
            year_groups: group.years.clone(),
        })
        .collect()
}

mod document;
mod groups;
mod lists;
mod rules;
mod self_test;
mod settings;
mod sources;
mod tester;
#[cfg(test)]
mod tests;
mod versions;
mod windows;

pub use document::*;
pub use groups::*;
pub use lists::*;
pub use rules::*;
pub use self_test::*;
pub use settings::*;
pub use sources::*;
pub use tester::*;
pub use versions::*;
pub use windows::*;
